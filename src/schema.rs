//! The tables the loader writes: names, databases and column order, and the migrations that
//! create them. Column lists here must match `migrations/` exactly (a test checks it).

use sqlx::migrate::Migrator;

/// Migrations of the course database (MOOCdb, intermediary and bookkeeping tables).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
/// Migrations of the private database (`Account`, `EventIp`).
pub static PRIVATE_MIGRATOR: Migrator = sqlx::migrate!("./migrations_private");

/// Every table a load writes rows to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    // MOOCdb (moocdb.sql)
    /// `os`
    Os,
    /// `agent`
    Agent,
    /// `urls`
    Urls,
    /// `resource_types`
    ResourceTypes,
    /// `resources`
    Resources,
    /// `resources_urls`
    ResourcesUrls,
    /// `observed_events`
    ObservedEvents,
    /// `problem_types`
    ProblemTypes,
    /// `problems`
    Problems,
    /// `submissions`
    Submissions,
    /// `assessments`
    Assessments,
    /// `users`
    Users,
    /// `collaborations` (MOOCdb's collaborating mode, EDUlib's `create_MOOCdb.sql`)
    Collaborations,
    // json_to_relation
    /// `LoadInfo`
    LoadInfo,
    /// `Answer`
    Answer,
    /// `CorrectMap`
    CorrectMap,
    /// `InputState`
    InputState,
    /// `State`
    State,
    /// `ABExperiment`
    AbExperiment,
    /// `OpenAssessment`
    OpenAssessment,
    /// `EdxTrackEvent`
    EdxTrackEvent,
    // private
    /// `Account` (private database)
    Account,
    /// `EventIp` (private database)
    EventIp,
    // the loader's own
    /// `moocdb_loader_lines`: the hash of every accepted line
    Lines,
}

impl Table {
    /// All tables, in the order summaries list them.
    pub const ALL: [Table; 24] = [
        Table::EdxTrackEvent,
        Table::Answer,
        Table::CorrectMap,
        Table::InputState,
        Table::State,
        Table::AbExperiment,
        Table::OpenAssessment,
        Table::LoadInfo,
        Table::Account,
        Table::EventIp,
        Table::Os,
        Table::Agent,
        Table::Urls,
        Table::ResourceTypes,
        Table::Resources,
        Table::ResourcesUrls,
        Table::ObservedEvents,
        Table::ProblemTypes,
        Table::Problems,
        Table::Submissions,
        Table::Assessments,
        Table::Users,
        Table::Collaborations,
        Table::Lines,
    ];

    /// The MOOCdb tables: `moocdb.sql`'s twelve in its order, then `collaborations`.
    pub const MOOCDB: [Table; 13] = [
        Table::Os,
        Table::Agent,
        Table::Urls,
        Table::ResourceTypes,
        Table::Resources,
        Table::ResourcesUrls,
        Table::ObservedEvents,
        Table::ProblemTypes,
        Table::Problems,
        Table::Submissions,
        Table::Assessments,
        Table::Users,
        Table::Collaborations,
    ];

    /// The SQL table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Os => "os",
            Table::Agent => "agent",
            Table::Urls => "urls",
            Table::ResourceTypes => "resource_types",
            Table::Resources => "resources",
            Table::ResourcesUrls => "resources_urls",
            Table::ObservedEvents => "observed_events",
            Table::ProblemTypes => "problem_types",
            Table::Problems => "problems",
            Table::Submissions => "submissions",
            Table::Assessments => "assessments",
            Table::Users => "users",
            Table::Collaborations => "collaborations",
            Table::LoadInfo => "LoadInfo",
            Table::Answer => "Answer",
            Table::CorrectMap => "CorrectMap",
            Table::InputState => "InputState",
            Table::State => "State",
            Table::AbExperiment => "ABExperiment",
            Table::OpenAssessment => "OpenAssessment",
            Table::EdxTrackEvent => "EdxTrackEvent",
            Table::Account => "Account",
            Table::EventIp => "EventIp",
            Table::Lines => "moocdb_loader_lines",
        }
    }

    /// Whether a row replaces an existing row with the same key rather than being skipped.
    /// MOOCdb rows that reference dictionary ids or carry a duration are rewritten when a load
    /// is redone or a duration becomes known; every other row's content is fixed by its key.
    pub fn replaces(self) -> bool {
        matches!(
            self,
            Table::ObservedEvents | Table::Submissions | Table::Assessments
        )
    }

    /// Whether the table lives in the private database.
    pub fn is_private(self) -> bool {
        matches!(self, Table::Account | Table::EventIp)
    }

    /// Column names in table order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Os => &["os_id", "os_name"],
            Table::Agent => &["agent_id", "agent_name"],
            Table::Urls => &["url_id", "url"],
            Table::ResourceTypes => &[
                "resource_type_id",
                "resource_type_content",
                "resource_type_medium",
            ],
            Table::Resources => &[
                "resource_id",
                "resource_name",
                "resource_uri",
                "resource_type_id",
                "resource_parent_id",
                "resource_child_number",
                "resource_relevant_week",
                "resource_release_date",
            ],
            Table::ResourcesUrls => &["resources_urls_id", "resource_id", "url_id"],
            Table::ObservedEvents => &[
                "observed_event_id",
                "user_id",
                "url_id",
                "observed_event_timestamp",
                "observed_event_duration",
                "observed_event_ip",
                "observed_event_os",
                "observed_event_agent",
                "observed_event_type_id",
            ],
            Table::ProblemTypes => &["problem_type_id", "problem_type_name"],
            Table::Problems => &[
                "problem_id",
                "problem_name",
                "problem_parent_id",
                "problem_child_number",
                "problem_type_id",
                "problem_release_timestamp",
                "problem_soft_deadline",
                "problem_hard_deadline",
                "problem_max_submission",
                "problem_max_duration",
                "problem_weight",
                "resource_id",
            ],
            Table::Submissions => &[
                "submission_id",
                "user_id",
                "problem_id",
                "submission_timestamp",
                "submission_attempt_number",
                "submission_answer",
                "submission_is_submitted",
                "submission_ip",
                "submission_os",
                "submission_agent",
            ],
            Table::Assessments => &[
                "assessment_id",
                "submission_id",
                "assessment_feedback",
                "assessment_grade",
                "assessment_grade_with_penalty",
                "assessment_grader_id",
                "assessment_timestamp",
            ],
            Table::Users => &["user_id"],
            Table::Collaborations => &[
                "collaboration_id",
                "user_id",
                "collaboration_type_id",
                "collaboration_content",
                "collaboration_timestamp",
                "collaboration_parent_id",
                "collaboration_child_number",
                "collaborations_ip",
                "collaborations_os",
                "collaborations_agent",
                "resource_id",
                "collaboration_forum_id",
                "collaboration_parent_forum_id",
                "collaboration_content_truncated",
            ],
            Table::LoadInfo => &["load_info_id", "load_date_time", "load_file"],
            Table::Answer => &["answer_id", "problem_id", "answer", "course_id"],
            Table::CorrectMap => &[
                "correct_map_id",
                "answer_identifier",
                "correctness",
                "npoints",
                "msg",
                "hint",
                "hintmode",
                "queuestate",
            ],
            Table::InputState => &["input_state_id", "problem_id", "state"],
            Table::State => &[
                "state_id",
                "seed",
                "done",
                "problem_id",
                "student_answer",
                "correct_map",
                "input_state",
            ],
            Table::AbExperiment => &[
                "event_table_id",
                "event_type",
                "anon_screen_name",
                "group_id",
                "group_name",
                "partition_id",
                "partition_name",
                "child_module_id",
                "resource_display_name",
                "cohort_id",
                "cohort_name",
                "course_display_name",
            ],
            Table::OpenAssessment => &[
                "event_table_id",
                "event_type",
                "anon_screen_name",
                "score_type",
                "submission_uuid",
                "edx_anon_id",
                "time",
                "time_aux",
                "course_display_name",
                "resource_display_name",
                "resource_id",
                "submission_text",
                "feedback_text",
                "comment_text",
                "attempt_num",
                "options",
                "corrections",
                "points",
            ],
            Table::EdxTrackEvent => &EDX_TRACK_EVENT_COLUMNS,
            Table::Account => &[
                "account_id",
                "screen_name",
                "name",
                "anon_screen_name",
                "mailing_address",
                "zipcode",
                "country",
                "gender",
                "year_of_birth",
                "level_of_education",
                "goals",
                "honor_code",
                "terms_of_service",
                "course_id",
                "enrollment_action",
                "email",
                "receive_emails",
            ],
            Table::EventIp => &["event_table_id", "event_ip"],
            Table::Lines => &["line_hash", "file_id"],
        }
    }
}

/// `EdxTrackEvent` columns in table order.
pub const EDX_TRACK_EVENT_COLUMNS: [&str; 65] = [
    "_id",
    "event_id",
    "agent",
    "event_source",
    "event_type",
    "ip_country",
    "page",
    "session",
    "time",
    "quarter",
    "anon_screen_name",
    "downtime_for",
    "student_id",
    "instructor_id",
    "course_id",
    "course_display_name",
    "resource_display_name",
    "organization",
    "sequence_id",
    "goto_from",
    "goto_dest",
    "problem_id",
    "problem_choice",
    "question_location",
    "submission_id",
    "attempts",
    "long_answer",
    "student_file",
    "can_upload_file",
    "feedback",
    "feedback_response_selected",
    "transcript_id",
    "transcript_code",
    "rubric_selection",
    "rubric_category",
    "video_id",
    "video_code",
    "video_current_time",
    "video_speed",
    "video_old_time",
    "video_new_time",
    "video_seek_type",
    "video_new_speed",
    "video_old_speed",
    "book_interaction_type",
    "success",
    "answer_id",
    "hint",
    "mode",
    "msg",
    "npoints",
    "queuestate",
    "orig_score",
    "new_score",
    "orig_total",
    "new_total",
    "event_name",
    "group_user",
    "group_action",
    "position",
    "badly_formatted",
    "correctMap_fk",
    "answer_fk",
    "state_fk",
    "load_info_fk",
];
