//! The tables the loader writes, each declared once: its SQL name, the database and model it
//! belongs to, its columns in `moocdb.sql` / json_to_relation order, and the row type that the
//! stage mapping it fills by name. The row type's fields are the columns, in order: the encoder
//! writes them as declared ([`TableRow`]). Column lists here must match `migrations/` exactly (a
//! test checks it).
//!
//! Adding a column is one edit here (a field, where the column is in the table) plus its value
//! where the row is built; `grep` for the row type (`SubmissionRow`, …) finds that place.

mod cells;

use sqlx::migrate::Migrator;

pub use cells::{Cell, CellWriter, TableRow, Token};

use chrono::NaiveDateTime;

use crate::identity::{AnonName, AnonText, RowId};

/// Migrations of the course database (MOOCdb, intermediary and bookkeeping tables).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
/// Migrations of the private database (`Account`, `EventIp`).
pub static PRIVATE_MIGRATOR: Migrator = sqlx::migrate!("./migrations_private");

/// The model, and so the database, a table belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// json_to_relation's intermediary relations, in the course database.
    Relations,
    /// The private database: names, e-mails and IPs.
    Private,
    /// MOOCdb (`moocdb.sql`), in the course database.
    Moocdb,
    /// The loader's own bookkeeping rows, in the course database.
    Loader,
}

/// Declares every table: the [`Table`] enum and its properties, each row type, and for a table
/// filled by position its column positions.
macro_rules! tables {
    (
        positional {
            $(
                $(#[doc = $pdoc:literal])*
                $pvariant:ident = $pname:literal, $pfamily:ident, $positions:ident [
                    $($pcol:ident : $pkind:ident),* $(,)?
                ];
            )*
        }
        rows {
            $(
                $(#[doc = $doc:literal])*
                $variant:ident = $name:literal, $family:ident $(+ $replaces:ident)?,
                $row:ident $(<$lt:lifetime>)? {
                    $($col:ident : $ty:ty),* $(,)?
                };
            )*
        }
    ) => {
        /// Every table a load writes rows to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Table {
            $($(#[doc = $pdoc])* $pvariant,)*
            $($(#[doc = $doc])* $variant,)*
        }

        impl Table {
            /// All tables, in the order they are declared (the order summaries list them).
            pub const ALL: [Table; tables!(@count $($pvariant)* $($variant)*)] =
                [$(Table::$pvariant,)* $(Table::$variant,)*];

            /// The table's place in [`Table::ALL`].
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The SQL table name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Table::$pvariant => $pname,)*
                    $(Table::$variant => $name,)*
                }
            }

            /// The model and database the table belongs to.
            pub const fn family(self) -> Family {
                match self {
                    $(Table::$pvariant => Family::$pfamily,)*
                    $(Table::$variant => Family::$family,)*
                }
            }

            /// Column names in table order.
            pub fn columns(self) -> &'static [&'static str] {
                match self {
                    $(Table::$pvariant => $positions::COLUMNS,)*
                    $(Table::$variant => &[$(stringify!($col)),*],)*
                }
            }

            /// Whether a row replaces an existing row with the same key rather than being
            /// skipped. MOOCdb rows that reference dictionary ids or carry a duration are
            /// rewritten when a load is redone or a duration becomes known; every other row's
            /// content is fixed by its key.
            pub fn replaces(self) -> bool {
                match self {
                    $(Table::$pvariant => false,)*
                    $(Table::$variant => tables!(@replaces $($replaces)?),)*
                }
            }

            /// Whether column `column` (by position) holds an integer, whose legacy default
            /// is `-1` (every other column's is `''`). Only tables filled by position have
            /// legacy defaults.
            pub fn is_int_column(self, column: usize) -> bool {
                match self {
                    $(Table::$pvariant => $positions::IS_INT[column],)*
                    $(Table::$variant => false,)*
                }
            }
        }

        $(
            #[doc = concat!("Column positions of `", $pname, "`, named as its columns.")]
            pub mod $positions {
                #[allow(non_camel_case_types)]
                #[repr(usize)]
                enum Position {
                    $($pcol,)*
                }
                $(
                    #[doc = concat!("`", stringify!($pcol), "`")]
                    #[allow(non_upper_case_globals)]
                    pub const $pcol: usize = Position::$pcol as usize;
                )*
                /// Column names in table order.
                pub const COLUMNS: &[&str] = &[$(stringify!($pcol)),*];
                /// Whether each column holds an integer.
                pub const IS_INT: &[bool] = &[$(tables!(@is_int $pkind)),*];
            }
        )*

        $(
            #[doc = concat!("A row of `", $name, "`: its columns, in order.")]
            #[derive(Debug, Clone)]
            pub struct $row $(<$lt>)? {
                $(
                    #[doc = concat!("`", stringify!($col), "`")]
                    pub $col: $ty,
                )*
            }

            impl $(<$lt>)? TableRow for $row $(<$lt>)? {
                const TABLE: Table = Table::$variant;
                fn write_cells<W: CellWriter + ?Sized>(&self, w: &mut W) {
                    $(Cell::write_to(&self.$col, w);)*
                }
            }
        )*
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + tables!(@count $($tail)*) };
    (@replaces replaces) => { true };
    (@replaces) => { false };
    (@is_int int) => { true };
    (@is_int text) => { false };
}

tables! {
    positional {
        /// `EdxTrackEvent`: json_to_relation's 65 columns (2018 layout, with `quarter`), one row
        /// per stored event. Built by position (`relations::EdxTrackEventRow`, columns named by
        /// [`edx_track_event_column`]): most columns of an event stay at their legacy default,
        /// and a run of them is written as one copy.
        EdxTrackEvent = "EdxTrackEvent", Relations, edx_track_event_column [
            _id: text,
            event_id: text,
            agent: text,
            event_source: text,
            event_type: text,
            ip_country: text,
            page: text,
            session: text,
            time: text,
            quarter: text,
            anon_screen_name: text,
            downtime_for: text,
            student_id: text,
            instructor_id: text,
            course_id: text,
            course_display_name: text,
            resource_display_name: text,
            organization: text,
            sequence_id: text,
            goto_from: int,
            goto_dest: int,
            problem_id: text,
            problem_choice: text,
            question_location: text,
            submission_id: text,
            attempts: int,
            long_answer: text,
            student_file: text,
            can_upload_file: text,
            feedback: text,
            feedback_response_selected: int,
            transcript_id: text,
            transcript_code: text,
            rubric_selection: int,
            rubric_category: int,
            video_id: text,
            video_code: text,
            video_current_time: text,
            video_speed: text,
            video_old_time: text,
            video_new_time: text,
            video_seek_type: text,
            video_new_speed: text,
            video_old_speed: text,
            book_interaction_type: text,
            success: text,
            answer_id: text,
            hint: text,
            mode: text,
            msg: text,
            npoints: int,
            queuestate: text,
            orig_score: int,
            new_score: int,
            orig_total: int,
            new_total: int,
            event_name: text,
            group_user: text,
            group_action: text,
            position: int,
            badly_formatted: text,
            correctMap_fk: text,
            answer_fk: text,
            state_fk: text,
            load_info_fk: text,
        ];
    }
    rows {
        /// `Answer`: one row per answer of a problem event.
        Answer = "Answer", Relations, AnswerRow<'a> {
            answer_id: &'a RowId,
            problem_id: &'a str,
            answer: &'a str,
            course_id: &'a str,
        };
        /// `CorrectMap`: one row per graded input of a problem event.
        CorrectMap = "CorrectMap", Relations, CorrectMapRow<'a> {
            correct_map_id: &'a RowId,
            answer_identifier: &'a str,
            correctness: &'a str,
            npoints: i64,
            msg: &'a str,
            hint: &'a str,
            hintmode: &'a str,
            queuestate: &'a str,
        };
        /// `InputState`: one row per input state of a problem event.
        InputState = "InputState", Relations, InputStateRow<'a> {
            input_state_id: &'a RowId,
            problem_id: &'a str,
            state: &'a str,
        };
        /// `State`: a problem's state, tying its answers, correct maps and input states.
        State = "State", Relations, StateRow<'a> {
            state_id: &'a RowId,
            seed: i64,
            done: &'a str,
            problem_id: &'a str,
            student_answer: &'a str,
            correct_map: &'a str,
            input_state: &'a str,
        };
        /// `ABExperiment`: experiment and cohort assignments.
        AbExperiment = "ABExperiment", Relations, AbExperimentRow<'a> {
            event_table_id: &'a str,
            event_type: &'a str,
            anon_screen_name: &'a str,
            group_id: i64,
            group_name: &'a str,
            partition_id: i64,
            partition_name: &'a str,
            child_module_id: &'a str,
            resource_display_name: &'a str,
            cohort_id: i64,
            cohort_name: &'a str,
            course_display_name: &'a str,
        };
        /// `OpenAssessment`: Open Response Assessment events.
        OpenAssessment = "OpenAssessment", Relations, OpenAssessmentRow<'a> {
            event_table_id: &'a str,
            event_type: &'a str,
            anon_screen_name: &'a str,
            score_type: &'a str,
            submission_uuid: &'a str,
            edx_anon_id: &'a str,
            time: &'a NaiveDateTime,
            time_aux: &'a NaiveDateTime,
            course_display_name: &'a str,
            resource_display_name: &'a str,
            resource_id: &'a str,
            submission_text: &'a str,
            feedback_text: &'a str,
            comment_text: &'a str,
            attempt_num: i64,
            options: &'a str,
            corrections: &'a str,
            points: &'a str,
        };
        /// `LoadInfo`: one row per loaded file.
        LoadInfo = "LoadInfo", Relations, LoadInfoRow<'a> {
            load_info_id: &'a str,
            load_date_time: &'a NaiveDateTime,
            load_file: &'a str,
        };
        /// `Account` (private database): account creations and enrollments.
        Account = "Account", Private, AccountRow<'a> {
            account_id: &'a RowId,
            screen_name: &'a str,
            name: &'a str,
            anon_screen_name: &'a str,
            mailing_address: &'a str,
            zipcode: &'a str,
            country: &'a str,
            gender: &'a str,
            year_of_birth: i64,
            level_of_education: &'a str,
            goals: &'a str,
            honor_code: i64,
            terms_of_service: i64,
            course_id: &'a str,
            enrollment_action: &'a str,
            email: &'a str,
            receive_emails: &'a str,
        };
        /// `EventIp` (private database): each event's IP.
        EventIp = "EventIp", Private, EventIpRow<'a> {
            event_table_id: &'a RowId,
            event_ip: &'a str,
        };
        /// `os`: operating systems, from user agents.
        Os = "os", Moocdb, OsRow<'a> {
            os_id: i64,
            os_name: &'a str,
        };
        /// `agent`: browsers, from user agents.
        Agent = "agent", Moocdb, AgentRow<'a> {
            agent_id: i64,
            agent_name: &'a str,
        };
        /// `urls`: the pages events were observed on.
        Urls = "urls", Moocdb, UrlRow<'a> {
            url_id: i64,
            url: &'a str,
        };
        /// `resource_types`: content and medium of resources.
        ResourceTypes = "resource_types", Moocdb, ResourceTypeRow<'a> {
            resource_type_id: i64,
            resource_type_content: &'a str,
            resource_type_medium: &'a str,
        };
        /// `resources`: the course's resource tree.
        Resources = "resources", Moocdb, ResourceRow<'a> {
            resource_id: i64,
            resource_name: Option<&'a str>,
            resource_uri: &'a str,
            resource_type_id: i64,
            resource_parent_id: Option<i64>,
            resource_child_number: Option<i64>,
            resource_relevant_week: Option<i64>,
            resource_release_date: Option<&'a NaiveDateTime>,
        };
        /// `resources_urls`: which urls show which resources.
        ResourcesUrls = "resources_urls", Moocdb, ResourceUrlRow {
            resources_urls_id: i64,
            resource_id: i64,
            url_id: i64,
        };
        /// `observed_events`: one row per observed event, with its duration.
        ObservedEvents = "observed_events", Moocdb + replaces, ObservedEventRow<'a> {
            observed_event_id: &'a RowId,
            user_id: &'a AnonText<'a>,
            url_id: i64,
            observed_event_timestamp: &'a NaiveDateTime,
            observed_event_duration: Option<i64>,
            observed_event_ip: Option<&'a str>,
            observed_event_os: i64,
            observed_event_agent: i64,
            observed_event_type_id: &'a str,
        };
        /// `problem_types`: problem categories and hierarchy levels.
        ProblemTypes = "problem_types", Moocdb, ProblemTypeRow<'a> {
            problem_type_id: i64,
            problem_type_name: &'a str,
        };
        /// `problems`: the problem hierarchy.
        Problems = "problems", Moocdb, ProblemRow<'a> {
            problem_id: i64,
            problem_name: &'a str,
            problem_parent_id: Option<i64>,
            problem_child_number: Option<i64>,
            problem_type_id: i64,
            problem_release_timestamp: Option<&'a NaiveDateTime>,
            problem_soft_deadline: Option<&'a NaiveDateTime>,
            problem_hard_deadline: Option<&'a NaiveDateTime>,
            problem_max_submission: Option<i64>,
            problem_max_duration: Option<i64>,
            problem_weight: Option<f64>,
            resource_id: Option<i64>,
        };
        /// `submissions`: one row per answer submitted.
        Submissions = "submissions", Moocdb + replaces, SubmissionRow<'a> {
            submission_id: Token<'a>,
            user_id: &'a AnonName,
            problem_id: i64,
            submission_timestamp: &'a NaiveDateTime,
            submission_attempt_number: i64,
            submission_answer: &'a str,
            submission_is_submitted: i64,
            submission_ip: Option<&'a str>,
            submission_os: i64,
            submission_agent: i64,
        };
        /// `assessments`: the grades of submissions.
        Assessments = "assessments", Moocdb + replaces, AssessmentRow<'a> {
            assessment_id: Token<'a>,
            submission_id: Token<'a>,
            assessment_feedback: Option<&'a str>,
            assessment_grade: Option<f64>,
            assessment_grade_with_penalty: Option<f64>,
            assessment_grader_id: &'a str,
            assessment_timestamp: &'a NaiveDateTime,
        };
        /// `users`: one row per user.
        Users = "users", Moocdb, UserRow<'a> {
            user_id: &'a str,
        };
        /// `collaborations`: forum and wiki contributions (MOOCdb's collaborating mode,
        /// EDUlib's `create_MOOCdb.sql`).
        Collaborations = "collaborations", Moocdb, CollaborationRow<'a> {
            collaboration_id: Token<'a>,
            user_id: &'a AnonName,
            collaboration_type_id: i64,
            collaboration_content: &'a str,
            collaboration_timestamp: &'a NaiveDateTime,
            collaboration_parent_id: Option<&'a str>,
            collaboration_child_number: Option<i64>,
            collaborations_ip: Option<&'a str>,
            collaborations_os: i64,
            collaborations_agent: i64,
            resource_id: i64,
            collaboration_forum_id: Option<&'a str>,
            collaboration_parent_forum_id: Option<&'a str>,
            collaboration_content_truncated: Option<i64>,
        };
        /// `moocdb_loader_lines`: the hash of every accepted line.
        Lines = "moocdb_loader_lines", Loader, LineRow<'a> {
            line_hash: Token<'a>,
            file_id: i64,
        };
    }
}

// `Table::index` is the place in `Table::ALL`: both follow the declaration.
const _: () = {
    let mut i = 0;
    while i < Table::ALL.len() {
        assert!(Table::ALL[i].index() == i);
        i += 1;
    }
};

impl Table {
    /// The MOOCdb tables: `moocdb.sql`'s twelve in its order, then `collaborations`.
    pub const MOOCDB: [Table; 13] = {
        let mut out = [Table::Os; 13];
        let (mut n, mut i) = (0, 0);
        while i < Table::ALL.len() {
            if matches!(Table::ALL[i].family(), Family::Moocdb) {
                out[n] = Table::ALL[i];
                n += 1;
            }
            i += 1;
        }
        assert!(n == out.len(), "13 MOOCdb tables");
        out
    };

    /// Whether the table lives in the private database.
    pub fn is_private(self) -> bool {
        self.family() == Family::Private
    }
}
