//! json_to_relation's per-event-type handlers (`shared/spec/legacy-pipeline.md` §3.9, 2014
//! semantics, with the 2018 names and the newer Open edX events that have an obvious column):
//! the columns each event type fills and how one line fans out into several rows.
//!
//! A handler fills the row's event-specific columns and the side tables (`Answer`, `CorrectMap`,
//! `InputState`, `State`, `ABExperiment`, `OpenAssessment`, private `Account`), and returns the
//! `EdxTrackEvent` rows to write: usually the one row it was given, one per answer for problem
//! checks.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::LoadError;
use crate::identity::{LineIdentity, RowId, RowKind, anon_screen_name};
use crate::parse::{EventPayload, TrackingEvent};
use crate::schema::{
    AbExperimentRow, AccountRow, AnswerRow, CorrectMapRow, InputStateRow, OpenAssessmentRow,
    StateRow,
};
use crate::sink::Rows;

use super::edx_track_event::{Cell, EdxTrackEventRow, col};

/// Python's `str()` of a JSON value, as the legacy code wrote values it did not escape:
/// strings as they are, `True`/`False`, `None`, numbers as written, containers as JSON.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A list or object as compact JSON, exactly as `Value`'s `Display` writes it (objects with
/// sorted keys), without copying it into a `Value` first.
fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A value as text for a column: like [`py_str`] but `null`/absent give the empty string (the
/// legacy wrote the literal `None` here; see docs/deviations.md).
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(v) => py_str(v),
    }
}

/// A value as a column's cell, as [`text`] gives it, with strings borrowed from the event.
fn cell(v: Option<&Value>) -> Cell<'_> {
    match v {
        Some(Value::String(s)) => Cell::Text(s),
        v => Cell::Owned(text(v)),
    }
}

/// A username an instructor's action names (the learner acted on, the instructor, a forum
/// moderator added) as the `anon_screen_name` of that user: json_to_relation copied the username
/// into the public row. Empty stays empty.
fn anon_cell(v: Option<&Value>) -> Cell<'static> {
    let username = text(v);
    Cell::Owned(match username.is_empty() {
        true => username,
        false => crate::identity::anon_screen_name(&username),
    })
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A value given as a one-element list (Django's `POST`/`GET` dicts) or as itself.
fn first(v: Option<&Value>) -> Option<&Value> {
    match v? {
        Value::Array(a) => a.first(),
        other => Some(other),
    }
}

/// The handler family of an event type.
fn family(event_type: &str) -> Family {
    use Family::*;
    match event_type {
        "seq_goto" | "seq_next" | "seq_prev" => Sequence,
        "problem_check" | "save_problem_check" => ProblemCheck,
        "problem_reset" => ProblemReset,
        "problem_show" => ProblemShow,
        "problem_save" => ProblemSave,
        "oe_hide_question"
        | "oe_show_question"
        | "oe_hide_problem"
        | "oe_show_problem"
        | "peer_grading_hide_question"
        | "peer_grading_show_question"
        | "peer_grading_hide_problem"
        | "peer_grading_show_problem"
        | "staff_grading_hide_question"
        | "staff_grading_show_question"
        | "staff_grading_hide_problem"
        | "staff_grading_show_problem" => QuestionLocation,
        "rubric_select" => RubricSelect,
        "oe_show_full_feedback" | "oe_show_respond_to_feedback" => Feedback,
        "oe_feedback_response_selected" => FeedbackResponse,
        "show_transcript"
        | "hide_transcript"
        | "edx.video.transcript.shown"
        | "edx.video.transcript.hidden"
        | "video_show_cc_menu"
        | "video_hide_cc_menu"
        | "edx.video.closed_captions.shown"
        | "edx.video.closed_captions.hidden"
        | "edx.video.language_menu.shown"
        | "edx.video.language_menu.hidden" => Transcript,
        "play_video"
        | "pause_video"
        | "load_video"
        | "stop_video"
        | "edx.video.played"
        | "edx.video.paused"
        | "edx.video.loaded"
        | "edx.video.stopped"
        | "complete_video"
        | "edx.video.completed" => Video,
        "seek_video" | "edx.video.position.changed" => SeekVideo,
        "speed_change_video" | "edx.video.speed.changed" => SpeedChangeVideo,
        "fullscreen" | "not_fullscreen" => Fullscreen,
        "book" => Book,
        t if t.starts_with("textbook.pdf") => Book,
        "showanswer" | "show_answer" | "edx.problem.hint.demandhint_displayed" => ShowAnswer,
        "problem_check_fail" | "save_problem_check_fail" => ProblemCheckFail,
        "problem_rescore_fail" => ProblemRescoreFail,
        "problem_rescore" => ProblemRescore,
        "save_problem_fail" | "save_problem_success" | "reset_problem_fail" => SaveProblem,
        "reset_problem" => ResetProblem,
        "rescore-all-submissions" | "reset-all-attempts" => CourseProblem,
        "delete-student-module-state" | "rescore-student-submission" => CourseProblemStudent,
        "reset-student-attempts" => ResetStudentAttempts,
        "get-student-progress-page" => StudentProgress,
        "add-instructor" | "remove-instructor" => Instructor,
        "psychometrics-histogram-generation" => ProblemOnly,
        "add-or-remove-user-group" => UserGroup,
        "/create_account" => CreateAccount,
        "problem_graded" => ProblemGraded,
        "change-email-settings" => EmailSettings,
        "assigned_user_to_partition"
        | "child_render"
        | "xmodule.partitions.assigned_user_to_partition"
        | "xblock.split_test.child_render"
        | "edx.cohort.user_created"
        | "edx.cohort.user_added"
        | "edx.cohort.user_removed" => AbExperiment,
        t if t.starts_with("openassessmentblock.") || t.starts_with("openassessment.") => {
            OpenAssessment
        }
        "edx.course.enrollment.activated"
        | "edx.course.enrollment.deactivated"
        | "edx.course.enrollment.mode_changed" => Enrollment,
        "edx.forum.searched" => ForumSearch,
        t if t.starts_with("edx.grades.") => Grades,
        t if t.starts_with("edx.bookmark.") => Bookmark,
        t if t.starts_with("edx.special_exam.") => SpecialExam,
        t if t.starts_with("edx.ui.lms.") => UiLms,
        t if t.starts_with('/') => PathStyle,
        _ => CommonOnly,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Sequence,
    ProblemCheck,
    ProblemReset,
    ProblemShow,
    ProblemSave,
    QuestionLocation,
    RubricSelect,
    Feedback,
    FeedbackResponse,
    Transcript,
    Video,
    SeekVideo,
    SpeedChangeVideo,
    Fullscreen,
    Book,
    ShowAnswer,
    ProblemCheckFail,
    ProblemRescoreFail,
    ProblemRescore,
    SaveProblem,
    ResetProblem,
    CourseProblem,
    CourseProblemStudent,
    ResetStudentAttempts,
    StudentProgress,
    Instructor,
    ProblemOnly,
    UserGroup,
    CreateAccount,
    ProblemGraded,
    EmailSettings,
    AbExperiment,
    OpenAssessment,
    Enrollment,
    ForumSearch,
    Grades,
    Bookmark,
    SpecialExam,
    UiLms,
    PathStyle,
    CommonOnly,
}

/// Writes side-table rows of one line with deterministic ids.
pub struct SideRows<'r> {
    rows: &'r mut Rows,
    identity: LineIdentity,
    answers: u32,
    correct_maps: u32,
    input_states: u32,
    states: u32,
    accounts: u32,
    /// Answer text by Answer id, for the MOOCdb stage's join (qpipe joined Answer by answer_fk).
    pub answer_texts: Vec<(RowId, String)>,
    /// (answer_identifier, correctness) by CorrectMap id (qpipe joined CorrectMap by its fk).
    pub correctness: Vec<(RowId, String, String)>,
}

impl<'r> SideRows<'r> {
    /// Side rows of the line with `identity`.
    pub fn new(rows: &'r mut Rows, identity: LineIdentity) -> Self {
        SideRows {
            rows,
            identity,
            answers: 0,
            correct_maps: 0,
            input_states: 0,
            states: 0,
            accounts: 0,
            answer_texts: Vec::new(),
            correctness: Vec::new(),
        }
    }

    /// The underlying row buffers.
    pub fn rows(&mut self) -> &mut Rows {
        self.rows
    }

    fn answer(
        &mut self,
        problem_id: &str,
        answer: &str,
        course_id: &str,
    ) -> Result<RowId, LoadError> {
        let id = self.identity.id(RowKind::Answer, self.answers);
        self.answers += 1;
        self.rows.push(&AnswerRow {
            answer_id: &id,
            problem_id,
            answer,
            course_id,
        })?;
        self.answer_texts.push((id, answer.to_string()));
        Ok(id)
    }

    fn correct_map(&mut self, answer_identifier: &str, entry: &Value) -> Result<RowId, LoadError> {
        let id = self.identity.id(RowKind::CorrectMap, self.correct_maps);
        self.correct_maps += 1;
        let get = |k: &str| entry.get(k);
        let queuestate = match get("queuestate") {
            Some(Value::Object(q)) => format!("{}:{}", text(q.get("key")), text(q.get("time"))),
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let correctness = text(get("correctness"));
        self.correctness
            .push((id, answer_identifier.to_string(), correctness.clone()));
        self.rows.push(&CorrectMapRow {
            correct_map_id: &id,
            answer_identifier,
            correctness: &correctness,
            npoints: int(get("npoints")).unwrap_or(-1),
            msg: &text(get("msg")),
            hint: &text(get("hint")),
            hintmode: &text(get("hintmode")),
            queuestate: &queuestate,
        })?;
        Ok(id)
    }

    fn input_state(&mut self, problem_id: &str, state: &Value) -> Result<RowId, LoadError> {
        let id = self.identity.id(RowKind::InputState, self.input_states);
        self.input_states += 1;
        let state = match state {
            Value::Object(m) if m.is_empty() => String::new(),
            Value::Null => String::new(),
            other => py_str(other),
        };
        self.rows.push(&InputStateRow {
            input_state_id: &id,
            problem_id,
            state: &state,
        })?;
        Ok(id)
    }

    /// json_to_relation's `pushState`: Answer, CorrectMap and InputState rows from a problem
    /// state, then one State row per entry of the longest of the three.
    fn state(&mut self, state: &Value, course_id: &str) -> Result<Vec<RowId>, LoadError> {
        let Value::Object(state) = state else {
            return Ok(Vec::new());
        };
        let problem_id = text(state.get("problem_id"));
        let mut answers = Vec::new();
        if let Some(Value::Object(a)) = state.get("student_answers") {
            for (k, v) in a {
                answers.push(self.answer(k, &answer_text(v), course_id)?);
            }
        }
        let mut maps = Vec::new();
        if let Some(Value::Object(m)) = state.get("correct_map") {
            for (k, v) in m {
                maps.push(self.correct_map(k, v)?);
            }
        }
        let mut inputs = Vec::new();
        if let Some(Value::Object(m)) = state.get("input_state") {
            for (k, v) in m {
                inputs.push(self.input_state(k, v)?);
            }
        }
        let n = answers.len().max(maps.len()).max(inputs.len());
        let seed = int(state.get("seed")).unwrap_or(-1);
        let done = text(state.get("done"));
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let id = self.identity.id(RowKind::State, self.states);
            self.states += 1;
            let fk = |v: &Vec<RowId>| v.get(i).map(|x| x.to_string()).unwrap_or_default();
            let (a, m, s) = (fk(&answers), fk(&maps), fk(&inputs));
            self.rows.push(&StateRow {
                state_id: &id,
                seed,
                done: &done,
                problem_id: &problem_id,
                student_answer: &a,
                correct_map: &m,
                input_state: &s,
            })?;
            ids.push(id);
        }
        Ok(ids)
    }
}

/// An answer value as json_to_relation stored it: lists joined with `,`.
fn answer_text(v: &Value) -> String {
    match v {
        Value::Array(items) => items.iter().map(py_str).collect::<Vec<_>>().join(","),
        other => text(Some(other)),
    }
}

/// `k=v&k=v` pairs of a GET-style answer string (values are kept as written, not URL-decoded,
/// as the legacy did).
fn query_pairs(s: &str) -> Vec<(String, String)> {
    let s = s.trim().trim_matches('"');
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

static GRADED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"aria-describedby=["\\]*(input[^"\\>]*)["\\]*[>nStatus:\s"\\]*([iIn]{0,2}correct)"#,
    )
    .expect("problem_graded regex")
});

static PROBLEM_COURSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"i4x(?:-|://)([^-/]+)[-/]([^-/]+)[-/]problem").expect("problem course regex")
});

/// json_to_relation's `extractCourseIDFromProblemXEvent`: `Org-Course` from the problem ids
/// in a server problem event.
pub fn course_from_problem_event(event: &EventPayload) -> String {
    // The usual places first: serialising the whole event is the slow path.
    if let EventPayload::Object(m) = event {
        let mut candidates = vec![m.get("problem_id").and_then(Value::as_str).unwrap_or("")];
        for key in ["answers", "correct_map"] {
            if let Some(Value::Object(inner)) = m.get(key) {
                candidates.extend(inner.keys().map(String::as_str));
            }
        }
        for c in candidates {
            if let Some(c) = PROBLEM_COURSE.captures(c) {
                return format!("{}-{}", &c[1], &c[2]);
            }
        }
    }
    let text = match event {
        EventPayload::Object(m) => json_text(m.as_ref()),
        EventPayload::Text(s) => s.clone(),
        EventPayload::List(l) => json_text(l),
        _ => return String::new(),
    };
    PROBLEM_COURSE
        .captures(&text)
        .map(|c| format!("{}-{}", &c[1], &c[2]))
        .unwrap_or_default()
}

/// Applies the event type's handler. `row` has the common fields; the returned rows are written.
pub fn apply<'e>(
    event: &'e TrackingEvent,
    event_type: &str,
    anon: &str,
    mut row: EdxTrackEventRow<'e>,
    side: &mut SideRows<'_>,
) -> Result<Vec<EdxTrackEventRow<'e>>, LoadError> {
    let obj: Option<&Map<String, Value>> = event.event.as_object();
    let get = |k: &str| obj.and_then(|m| m.get(k));
    // Borrowed from the event when the row's course id is (a browser event's page).
    let course_id: std::borrow::Cow<'e, str> = match row.get(col::course_id) {
        Cell::Text(s) => std::borrow::Cow::Borrowed(*s),
        _ => std::borrow::Cow::Owned(row.str_of(col::course_id).to_owned()),
    };
    let set_int = |row: &mut EdxTrackEventRow<'e>, c: usize, v: Option<i64>| {
        if let Some(v) = v {
            row.set(c, Cell::Int(v));
        }
    };
    // Browser video events say currentTime, newer ones current_time.
    let current_time = || cell(get("currentTime").or(get("current_time")));
    use Family::*;
    match family(event_type) {
        Sequence => {
            row.set(col::sequence_id, cell(get("id")));
            set_int(&mut row, col::goto_from, Some(int(get("old")).unwrap_or(0)));
            set_int(&mut row, col::goto_dest, Some(int(get("new")).unwrap_or(0)));
        }
        ProblemCheck | ProblemSave => match &event.event {
            EventPayload::Object(m) => return problem_check_object(m, row, side, &course_id),
            EventPayload::Text(s) => return answers_rows(&query_pairs(s), row, side, &course_id),
            _ => {}
        },
        ProblemReset => {
            let id = match &event.event {
                EventPayload::Text(s) => s.trim_matches('"').to_string(),
                EventPayload::Object(m) => text(first(m.get("POST").and_then(|p| p.get("id")))),
                _ => String::new(),
            };
            row.set(col::problem_id, Cell::Owned(id));
        }
        ProblemShow => row.set(col::problem_id, cell(get("problem"))),
        QuestionLocation => row.set(col::question_location, cell(get("location"))),
        RubricSelect => {
            row.set(col::question_location, cell(get("location")));
            set_int(&mut row, col::rubric_selection, int(get("selection")));
            set_int(&mut row, col::rubric_category, int(get("category")));
        }
        Feedback => {
            let v = match &event.event {
                EventPayload::Object(m) => json_text(m.as_ref()),
                EventPayload::Text(s) => s.clone(),
                _ => String::new(),
            };
            row.set(col::feedback, Cell::Owned(v));
        }
        FeedbackResponse => set_int(&mut row, col::feedback_response_selected, int(get("value"))),
        Transcript => {
            row.set(col::transcript_id, cell(get("id")));
            row.set(col::transcript_code, cell(get("code")));
        }
        Video => {
            video_ids(&mut row, obj);
            row.set(col::video_current_time, current_time());
            row.set(col::video_speed, cell(get("speed")));
        }
        SeekVideo => {
            video_ids(&mut row, obj);
            row.set(col::video_old_time, cell(get("old_time")));
            row.set(col::video_new_time, cell(get("new_time")));
            row.set(col::video_seek_type, cell(get("type")));
        }
        SpeedChangeVideo => {
            video_ids(&mut row, obj);
            row.set(col::video_current_time, current_time());
            row.set(col::video_old_speed, cell(get("old_speed")));
            row.set(col::video_new_speed, cell(get("new_speed")));
        }
        Fullscreen => {
            video_ids(&mut row, obj);
            row.set(col::video_current_time, current_time());
        }
        Book => {
            row.set(
                col::book_interaction_type,
                cell(get("type").or(get("name"))),
            );
            set_int(&mut row, col::goto_from, int(get("old").or(get("page"))));
            set_int(&mut row, col::goto_dest, int(get("new").or(get("page"))));
        }
        ShowAnswer => row.set(col::problem_id, cell(get("problem_id").or(get("problem")))),
        ProblemCheckFail | SaveProblem => {
            row.set(col::problem_id, cell(get("problem_id")));
            row.set(col::success, cell(get("failure").or(get("success"))));
            let mut answers = Vec::new();
            if let Some(Value::Object(a)) = get("answers") {
                for (k, v) in a {
                    answers.push((k.clone(), side.answer(k, &answer_text(v), &course_id)?));
                }
            }
            let states = match get("state") {
                Some(s) => side.state(s, &course_id)?,
                None => Vec::new(),
            };
            return Ok(fan_out(row, &answers, &[], &states));
        }
        ProblemRescoreFail => {
            row.set(col::problem_id, cell(get("problem_id")));
            let states = match get("state") {
                Some(s) => side.state(s, &course_id)?,
                None => Vec::new(),
            };
            return Ok(fan_out(row, &[], &[], &states));
        }
        ProblemRescore => {
            row.set(col::problem_id, cell(get("problem_id")));
            row.set(col::success, cell(get("success")));
            set_int(&mut row, col::attempts, int(get("attempts")));
            set_int(&mut row, col::orig_score, int(get("orig_score")));
            set_int(&mut row, col::orig_total, int(get("orig_total")));
            set_int(&mut row, col::new_score, int(get("new_score")));
            set_int(&mut row, col::new_total, int(get("new_total")));
            let mut maps = Vec::new();
            if let Some(Value::Object(m)) = get("correct_map") {
                for (k, v) in m {
                    maps.push((k.clone(), side.correct_map(k, v)?));
                }
            }
            return Ok(fan_out(row, &[], &maps, &[]));
        }
        ResetProblem => {
            row.set(col::problem_id, cell(get("problem_id")));
            let mut states = Vec::new();
            for key in ["old_state", "new_state"] {
                if let Some(s) = get(key) {
                    states.extend(side.state(s, &course_id)?);
                }
            }
            return Ok(fan_out(row, &[], &[], &states));
        }
        CourseProblem => {
            row.set(col::course_id, cell(get("course")));
            row.set(col::problem_id, cell(get("problem")));
        }
        CourseProblemStudent => {
            row.set(col::course_id, cell(get("course")));
            row.set(col::problem_id, cell(get("problem")));
            row.set(col::student_id, anon_cell(get("student")));
        }
        ResetStudentAttempts => {
            row.set(col::problem_id, cell(get("problem")));
            row.set(col::student_id, anon_cell(get("student")));
            row.set(col::instructor_id, anon_cell(get("instructor_id")));
            set_int(&mut row, col::attempts, int(get("old_attempts")));
        }
        StudentProgress => {
            row.set(col::student_id, anon_cell(get("student")));
            row.set(col::instructor_id, anon_cell(get("instructor_id")));
        }
        Instructor => row.set(col::instructor_id, anon_cell(get("instructor"))),
        ProblemOnly => row.set(col::problem_id, cell(get("problem"))),
        UserGroup => {
            row.set(col::event_name, cell(get("event_name")));
            row.set(col::group_user, anon_cell(get("user")));
            row.set(col::group_action, cell(get("event")));
        }
        CreateAccount => create_account(event, side)?,
        ProblemGraded => return problem_graded(event, row, side, &course_id),
        EmailSettings => {
            let course = text(get("course"));
            let receive = text(get("receive_emails"));
            let id = next_account_id(side);
            side.rows.push(&AccountRow {
                account_id: &id,
                screen_name: "",
                name: "",
                anon_screen_name: anon,
                mailing_address: "",
                zipcode: "",
                country: "",
                gender: "",
                year_of_birth: 0,
                level_of_education: "",
                goals: "",
                honor_code: 0,
                terms_of_service: 0,
                course_id: &course,
                enrollment_action: "",
                email: "",
                receive_emails: &receive,
            })?;
        }
        AbExperiment => ab_experiment(event, event_type, anon, &row, side)?,
        OpenAssessment => open_assessment(event, event_type, anon, &row, side)?,
        Enrollment => {
            row.set(col::mode, cell(get("mode")));
            if let Some(s) = get("session").filter(|v| !v.is_null()) {
                row.set(col::session, cell(Some(s)));
            }
            if let Some(c) = get("course_id").filter(|v| !v.is_null()) {
                row.set(col::course_display_name, cell(Some(c)));
            }
        }
        ForumSearch => {
            row.set(col::submission_id, cell(get("query")));
            row.set(col::page, cell(get("page")));
            row.set(col::success, cell(get("total_results")));
        }
        Grades => {
            row.set(
                col::problem_id,
                cell(get("problem_id").or(get("subsection_id"))),
            );
            if let Some(c) = get("course_id").filter(|v| !v.is_null()) {
                row.set(col::course_display_name, cell(Some(c)));
            }
        }
        Bookmark => {
            row.set(col::problem_id, cell(get("component_usage_id")));
            if let Some(c) = get("course_id").filter(|v| !v.is_null()) {
                row.set(col::course_display_name, cell(Some(c)));
            }
        }
        SpecialExam => {
            row.set(col::problem_id, cell(get("exam_content_id")));
            set_int(&mut row, col::attempts, int(get("attempt_id")));
        }
        UiLms => {
            row.set(col::sequence_id, cell(get("id").or(get("target_url"))));
            set_int(&mut row, col::goto_from, int(get("old")));
            set_int(&mut row, col::goto_dest, int(get("new")));
        }
        PathStyle => return path_style(event, event_type, row, side, &course_id),
        CommonOnly => {}
    }
    // A context's partition tags add an ABExperiment row to any event (2014 behaviour).
    if let Some(tags) = event
        .context
        .as_ref()
        .and_then(|c| c.get("course_user_tags"))
        .and_then(Value::as_object)
        && family(event_type) != AbExperiment
        && (tags.contains_key("partition_id") || tags.contains_key("group_id"))
    {
        ab_row(side, &row, event_type, anon, tags)?;
    }
    Ok(vec![row])
}

fn video_ids<'e>(row: &mut EdxTrackEventRow<'e>, obj: Option<&'e Map<String, Value>>) {
    let get = |k: &str| obj.and_then(|m| m.get(k));
    row.set(col::video_id, cell(get("id")));
    row.set(col::video_code, cell(get("code")));
}

/// One row per answer, carrying the answer's id and problem id.
fn answers_rows<'e>(
    pairs: &[(String, String)],
    row: EdxTrackEventRow<'e>,
    side: &mut SideRows<'_>,
    course_id: &str,
) -> Result<Vec<EdxTrackEventRow<'e>>, LoadError> {
    let mut answers = Vec::with_capacity(pairs.len());
    for (problem, answer) in pairs {
        answers.push((problem.clone(), side.answer(problem, answer, course_id)?));
    }
    Ok(fan_out(row, &answers, &[], &[]))
}

/// The next of an event's fanned-out rows: a copy of `template`, or for the last row the
/// template itself (a row is 65 cells: one copy fewer per event).
fn next_of<'e>(template: &mut Option<EdxTrackEventRow<'e>>, last: bool) -> EdxTrackEventRow<'e> {
    let row = if last {
        template.take()
    } else {
        template.clone()
    };
    row.expect("rows are taken until the last")
}

/// N = max(#answers, #correct maps, #states) rows; row i carries the i-th of each (and the
/// problem id of its answer or correct map). No list → the row as it is.
fn fan_out<'e>(
    row: EdxTrackEventRow<'e>,
    answers: &[(String, RowId)],
    maps: &[(String, RowId)],
    states: &[RowId],
) -> Vec<EdxTrackEventRow<'e>> {
    let n = answers.len().max(maps.len()).max(states.len());
    if n == 0 {
        return vec![row];
    }
    let mut template = Some(row);
    (0..n)
        .map(|i| {
            let mut r = next_of(&mut template, i + 1 == n);
            if let Some((problem, id)) = answers.get(i) {
                r.set(col::answer_fk, Cell::Id(*id));
                r.set(col::problem_id, Cell::Owned(problem.clone()));
            }
            if let Some((problem, id)) = maps.get(i) {
                r.set(col::correctMap_fk, Cell::Id(*id));
                if answers.get(i).is_none() {
                    r.set(col::problem_id, Cell::Owned(problem.clone()));
                }
            }
            if let Some(id) = states.get(i) {
                r.set(col::state_fk, Cell::Id(*id));
            }
            r
        })
        .collect()
}

fn problem_check_object<'e>(
    m: &'e Map<String, Value>,
    mut row: EdxTrackEventRow<'e>,
    side: &mut SideRows<'_>,
    course_id: &str,
) -> Result<Vec<EdxTrackEventRow<'e>>, LoadError> {
    row.set(col::success, cell(m.get("success")));
    if let Some(a) = int(m.get("attempts")) {
        row.set(col::attempts, Cell::Int(a));
    }
    row.set(col::problem_id, cell(m.get("problem_id")));
    let mut maps = Vec::new();
    if let Some(Value::Object(cm)) = m.get("correct_map") {
        for (k, v) in cm {
            maps.push((k.clone(), side.correct_map(k, v)?));
        }
    }
    let mut answers = Vec::new();
    match m.get("answers") {
        Some(Value::Object(a)) => {
            for (k, v) in a {
                answers.push((k.clone(), side.answer(k, &answer_text(v), course_id)?));
            }
        }
        Some(Value::String(s)) => {
            for (k, v) in query_pairs(s) {
                answers.push((k.clone(), side.answer(&k, &v, course_id)?));
            }
        }
        _ => {}
    }
    let states = match m.get("state") {
        Some(s) => side.state(s, course_id)?,
        None => Vec::new(),
    };
    // Row i pairs the answer and the correct map of the same input (json_to_relation paired them
    // by position in two independently ordered dicts, mixing up answers and grades).
    let mut keys: Vec<&str> = maps.iter().map(|(k, _)| k.as_str()).collect();
    for (k, _) in &answers {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    let n = keys.len().max(states.len());
    if n == 0 {
        return Ok(vec![row]);
    }
    let mut template = Some(row);
    Ok((0..n)
        .map(|i| {
            let mut r = next_of(&mut template, i + 1 == n);
            if let Some(key) = keys.get(i) {
                r.set(col::problem_id, Cell::Owned(key.to_string()));
                if let Some((_, id)) = answers.iter().find(|(k, _)| k == key) {
                    r.set(col::answer_fk, Cell::Id(*id));
                }
                if let Some((_, id)) = maps.iter().find(|(k, _)| k == key) {
                    r.set(col::correctMap_fk, Cell::Id(*id));
                }
            }
            if let Some(id) = states.get(i) {
                r.set(col::state_fk, Cell::Id(*id));
            }
            r
        })
        .collect())
}

fn problem_graded<'e>(
    event: &'e TrackingEvent,
    mut row: EdxTrackEventRow<'e>,
    side: &mut SideRows<'_>,
    course_id: &str,
) -> Result<Vec<EdxTrackEventRow<'e>>, LoadError> {
    let html = match &event.event {
        EventPayload::List(items) => items.iter().map(py_str).collect::<Vec<_>>().join(","),
        EventPayload::Text(s) => s.clone(),
        EventPayload::Object(m) => json_text(m.as_ref()),
        _ => String::new(),
    };
    let pairs: Vec<(String, String)> = GRADED
        .captures_iter(&html)
        .map(|c| (c[1].to_string(), c[2].to_lowercase()))
        .collect();
    if !pairs.is_empty() {
        return answers_rows(&pairs, row, side, course_id);
    }
    // Since about 2015 the HTML names inputs in `status_…` and `…_choice_…` ids only: the answers
    // are the event's first item, and each input's correctness is read from its part of the HTML.
    if let EventPayload::List(items) = &event.event
        && let [Value::String(query), Value::String(html), ..] = items.as_slice()
    {
        let graded = graded_answers(query, html);
        if !graded.is_empty() {
            let mut answers = Vec::with_capacity(graded.len());
            let mut maps = Vec::new();
            for (input, answer, correctness) in graded {
                answers.push((input.clone(), side.answer(&input, &answer, course_id)?));
                if let Some(c) = correctness {
                    let entry = serde_json::json!({ "correctness": c });
                    maps.push((input.clone(), side.correct_map(&input, &entry)?));
                }
            }
            // Row i pairs an input's answer with its own correctness.
            let mut template = Some(row);
            let n = answers.len();
            return Ok((0..n)
                .map(|i| {
                    let mut r = next_of(&mut template, i + 1 == n);
                    let (input, id) = &answers[i];
                    r.set(col::answer_fk, Cell::Id(*id));
                    r.set(col::problem_id, Cell::Owned(input.clone()));
                    if let Some((_, map)) = maps.iter().find(|(k, _)| k == input) {
                        r.set(col::correctMap_fk, Cell::Id(*map));
                    }
                    r
                })
                .collect());
        }
    }
    row.set(col::badly_formatted, Cell::Owned(html));
    Ok(vec![row])
}

static GRADED_CLASS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"class="[^"]*?(?:\b|_)(correct|incorrect|partially-correct)\b"#)
        .expect("graded class regex")
});

/// The answers of a `problem_graded` event in its modern form: `(input id, answer, correctness)`
/// per input of the query string `input_<id>=<value>&…` (a checkbox's values joined with `,`, as
/// a server `problem_check`'s are), with the correctness the HTML shows for that input: the
/// first `correct`, `incorrect` or `partially-correct` class from the input's first mention to
/// the next input's.
fn graded_answers(query: &str, html: &str) -> Vec<(String, String, Option<String>)> {
    let mut inputs: Vec<(String, String)> = Vec::new();
    for (key, value) in query_pairs(query) {
        if !key.starts_with("input_") {
            continue;
        }
        let input = key
            .trim_end_matches("%5B%5D")
            .trim_end_matches("[]")
            .to_string();
        match inputs.iter_mut().find(|(k, _)| *k == input) {
            Some((_, answer)) => {
                answer.push(',');
                answer.push_str(&value);
            }
            None => inputs.push((input, value)),
        }
    }
    let ids: Vec<&str> = inputs
        .iter()
        .map(|(k, _)| k.strip_prefix("input_").unwrap_or(k))
        .collect();
    let starts: Vec<Option<usize>> = ids.iter().map(|id| html.find(id)).collect();
    inputs
        .iter()
        .enumerate()
        .map(|(i, (input, answer))| {
            let correctness = starts[i].and_then(|start| {
                let end = (starts.iter().flatten())
                    .filter(|&&s| s > start)
                    .min()
                    .copied()
                    .unwrap_or(html.len());
                GRADED_CLASS
                    .captures(&html[start..end])
                    .map(|c| c[1].to_string())
            });
            (input.clone(), answer.clone(), correctness)
        })
        .collect()
}

/// Path-style (implicit) events: `/courses/…/modx/i4x://…/<verb>`.
fn path_style<'e>(
    event: &'e TrackingEvent,
    event_type: &str,
    mut row: EdxTrackEventRow<'e>,
    side: &mut SideRows<'_>,
    course_id: &str,
) -> Result<Vec<EdxTrackEventRow<'e>>, LoadError> {
    let verb = event_type
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let post = event
        .event
        .as_object()
        .and_then(|m| m.get("POST"))
        .and_then(Value::as_object);
    let p = |k: &str| post.and_then(|m| first(m.get(k)));
    match verb {
        "is_student_calibrated" | "problem" => {
            row.set(col::question_location, cell(p("location")));
        }
        "goto_position" => {
            if let Some(pos) = int(p("position")) {
                row.set(col::position, Cell::Int(pos));
            }
        }
        "save_answer" => {
            row.set(col::student_file, cell(p("student_file")));
            row.set(col::long_answer, cell(p("student_answer")));
            row.set(col::can_upload_file, cell(p("can_upload_files")));
        }
        "save_grade" => {
            row.set(col::submission_id, cell(p("submission_id")));
            row.set(col::long_answer, cell(p("feedback")));
        }
        "problem_check" => {
            let pairs: Vec<(String, String)> = post
                .map(|m| m.iter().map(|(k, v)| (k.clone(), answer_text(v))).collect())
                .unwrap_or_default();
            return answers_rows(&pairs, row, side, course_id);
        }
        _ => {}
    }
    Ok(vec![row])
}

/// The id of the event's next `Account` row.
fn next_account_id(side: &mut SideRows<'_>) -> RowId {
    let id = side
        .identity
        .id(RowKind::TrackEventRow, 0)
        .account_id(side.accounts);
    side.accounts += 1;
    id
}

static ZIP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d{5}\b").expect("zip regex"));

/// `/create_account`: the private `Account` row (§3.10).
fn create_account(event: &TrackingEvent, side: &mut SideRows<'_>) -> Result<(), LoadError> {
    let post = event
        .event
        .as_object()
        .and_then(|m| m.get("POST"))
        .and_then(Value::as_object);
    let p = |k: &str| text(post.and_then(|m| first(m.get(k))));
    let screen_name = p("username");
    let address = p("mailing_address");
    let zip = ZIP
        .find_iter(&address)
        .last()
        .map(|m| m.as_str().to_string());
    let mut country = super::countries::find_country(&address).unwrap_or_default();
    if country.is_empty() && zip.is_some() {
        country = "USA".into();
    }
    let zipcode = if country == "USA" {
        zip.unwrap_or_default()
    } else {
        String::new()
    };
    let id = next_account_id(side);
    side.rows.push(&AccountRow {
        account_id: &id,
        screen_name: &screen_name,
        name: &p("name"),
        anon_screen_name: &anon_screen_name(&screen_name),
        mailing_address: &address,
        zipcode: &zipcode,
        country: &country,
        gender: &p("gender"),
        year_of_birth: p("year_of_birth").trim().parse().unwrap_or(0),
        level_of_education: &p("level_of_education"),
        goals: &p("goals"),
        honor_code: i64::from(p("honor_code") == "true"),
        terms_of_service: i64::from(p("terms_of_service") == "true"),
        course_id: &p("course_id"),
        enrollment_action: &p("enrollment_action"),
        email: &p("email"),
        receive_emails: &p("receive_emails"),
    })
}

fn ab_row(
    side: &mut SideRows<'_>,
    row: &EdxTrackEventRow<'_>,
    event_type: &str,
    anon: &str,
    fields: &Map<String, Value>,
) -> Result<(), LoadError> {
    let id = row.text_of(col::_id);
    let get = |k: &str| fields.get(k);
    let course = row.text_of(col::course_display_name);
    let resource = row.text_of(col::resource_display_name);
    side.rows.push(&AbExperimentRow {
        event_table_id: &id,
        event_type,
        anon_screen_name: anon,
        group_id: int(get("group_id")).unwrap_or(-1),
        group_name: &text(get("group_name")),
        partition_id: int(get("partition_id")).unwrap_or(-1),
        partition_name: &text(get("partition_name")),
        child_module_id: &text(get("child_id").or(get("child-id"))),
        resource_display_name: &resource,
        cohort_id: int(get("cohort_id")).unwrap_or(-1),
        cohort_name: &text(get("cohort_name")),
        course_display_name: &course,
    })
}

fn ab_experiment(
    event: &TrackingEvent,
    event_type: &str,
    anon: &str,
    row: &EdxTrackEventRow<'_>,
    side: &mut SideRows<'_>,
) -> Result<(), LoadError> {
    let empty = Map::new();
    let fields = event.event.as_object().unwrap_or(&empty);
    ab_row(side, row, event_type, anon, fields)
}

/// `openassessment*` events → `OpenAssessment` (json_to_relation 2018's intended mapping; its
/// own code dropped them all, §3.2).
fn open_assessment(
    event: &TrackingEvent,
    event_type: &str,
    anon: &str,
    row: &EdxTrackEventRow<'_>,
    side: &mut SideRows<'_>,
) -> Result<(), LoadError> {
    let empty = Map::new();
    let m = event.event.as_object().unwrap_or(&empty);
    let get = |k: &str| m.get(k);
    let id = row.text_of(col::_id);
    let mut feedback = String::new();
    if let Some(Value::Array(parts)) = get("parts") {
        for part in parts {
            let criterion = part.get("criterion").and_then(|c| c.get("name"));
            let option = part.get("option");
            feedback.push_str(&format!(
                "Criterion {} option {}: {}. Feedback: {}; ",
                text(criterion),
                text(option.and_then(|o| o.get("name"))),
                text(option.and_then(|o| o.get("points"))),
                text(part.get("feedback")),
            ));
        }
    }
    let answer_text = get("answer")
        .and_then(|a| a.get("text").or(a.get("parts")))
        .map(|v| text(Some(v)))
        .unwrap_or_default();
    let time_of = |k: &str| {
        get(k)
            .and_then(|v| crate::parse::parse_time(v).ok())
            .unwrap_or(event.time)
    };
    let (time, time_aux) = if event_type.ends_with("create_submission") {
        (time_of("created_at"), time_of("submitted_at"))
    } else {
        (time_of("scored_at"), event.time)
    };
    let resource = if event_type.ends_with("upload_file") {
        format!(
            "File name: {} ({})",
            text(get("fileName")),
            text(get("fileType"))
        ) + &format!(" ({})", text(get("fileSize")))
    } else {
        row.text_of(col::resource_display_name)
    };
    let points = get("parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .map(|p| text(p.get("option").and_then(|o| o.get("points"))))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    side.rows.push(&OpenAssessmentRow {
        event_table_id: &id,
        event_type,
        anon_screen_name: anon,
        score_type: &text(get("score_type")),
        submission_uuid: &text(get("submission_uuid")),
        edx_anon_id: &text(get("scorer_id").or(get("student_id"))),
        time: &time,
        time_aux: &time_aux,
        course_display_name: &row.text_of(col::course_display_name),
        resource_display_name: &resource,
        resource_id: &text(get("item_id").or(get("rubric").and_then(|r| r.get("content_hash")))),
        submission_text: &answer_text,
        feedback_text: &feedback,
        comment_text: &text(get("feedback")),
        attempt_num: int(get("attempt_number")).unwrap_or(-1),
        options: &text(get("rubric").and_then(|r| r.get("content_hash"))),
        corrections: &text(get("corrections")),
        points: &points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_split_into_answers() {
        assert_eq!(
            query_pairs("\"input_a_2_1=choice_2&input_a_3_1=13.4+x&input_b=\""),
            vec![
                ("input_a_2_1".into(), "choice_2".into()),
                ("input_a_3_1".into(), "13.4+x".into()),
                ("input_b".into(), "".into())
            ]
        );
    }

    #[test]
    fn graded_html_yields_answers() {
        let html =
            r#"<input aria-describedby="input_i4x-M-H-problem-abc_2_1_choice_0"> nStatus: correct"#;
        let found: Vec<_> = GRADED
            .captures_iter(html)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
        assert_eq!(
            found,
            vec![(
                "input_i4x-M-H-problem-abc_2_1_choice_0".into(),
                "correct".into()
            )]
        );
    }

    #[test]
    fn modern_graded_html_yields_answers_and_their_correctness() {
        let query = "input_aa_2_1=choice_germany&input_bb_2_1%5B%5D=choice_0&input_bb_2_1%5B%5D=choice_3&input_cc_2_1=x";
        let html = r#"<form id="inputtype_aa_2_1"><label for="input_aa_2_1_choice_germany" class="choicegroup_incorrect">
            <div class="feedback-hint-multi"></div></form>
            <div id="inputtype_bb_2_1"><span class="status correct" id="status_bb_2_1"></span></div>
            <div id="inputtype_cc_2_1"><span class="status unanswered"></span></div>"#;
        assert_eq!(
            graded_answers(query, html),
            vec![
                (
                    "input_aa_2_1".into(),
                    "choice_germany".into(),
                    Some("incorrect".into())
                ),
                (
                    "input_bb_2_1".into(),
                    "choice_0,choice_3".into(),
                    Some("correct".into())
                ),
                ("input_cc_2_1".into(), "x".into(), None),
            ]
        );
    }

    #[test]
    fn problem_events_name_their_course() {
        let e = EventPayload::Text("input_i4x-Medicine-HRP258-problem-44c1_2_1=1".into());
        assert_eq!(course_from_problem_event(&e), "Medicine-HRP258");
    }

    #[test]
    fn python_str_of_values() {
        assert_eq!(py_str(&Value::Bool(true)), "True");
        assert_eq!(py_str(&Value::Null), "None");
        assert_eq!(py_str(&serde_json::json!(1.5)), "1.5");
    }

    #[test]
    fn json_text_writes_what_the_value_displays() {
        let v = serde_json::json!({
            "z": [1, 2.5, -3, null, true, "é\"\\\n\t<p>"],
            "a": {"nested": {"b": 1e300, "a": ""}},
            "M": "\u{1F600}"
        });
        assert_eq!(json_text(v.as_object().unwrap()), v.to_string());
        assert_eq!(json_text(v["z"].as_array().unwrap()), v["z"].to_string());
        assert!(json_text(v.as_object().unwrap()).starts_with(r#"{"M":"#));
    }
}
