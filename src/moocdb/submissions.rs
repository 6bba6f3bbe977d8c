//! Step 9: the problem hierarchy (`problems`, typed in `problem_types`), the `submissions` of
//! answers and the `assessments` that grade them (what a grading event is: `grading.rs`).

use chrono::NaiveDateTime;

use crate::error::LoadError;
use crate::fingerprint::Fingerprint;
use crate::identity::{AnonName, RowId, StoredRowId};
use crate::parse::TrackingEvent;
use crate::schema::{AssessmentRow, ProblemRow, SubmissionRow, Token};
use crate::sink::Rows;

use super::course_key;
use super::grading::{self, AUTOMATIC, Grading, submission_code};
use super::module_uri::ModuleUri;
use super::observed_events::EventClass;
use super::{FormattedRow, MoocdbBuilder};

/// The latest graded submission of a learner and problem, as the builder keeps one for each
/// pair (what a `problem_rescore` assesses again), in 24 bytes: the time and the id as a string
/// took 32, and 48 more on the heap. At 5M events of the bench's log that map had been 53 MiB
/// of the dry run's 150 MiB heap peak (`heaptrack`).
#[derive(Debug, Clone, Copy)]
pub(super) struct GradedSubmission {
    /// Its time, in microseconds since 1970 (the database keeps microseconds).
    micros: i64,
    /// Its row id's bits.
    bits: [u64; 2],
}

impl GradedSubmission {
    /// The submission `id` at `time`; `None` for an id not in the form this loader writes.
    pub(super) fn new(time: &NaiveDateTime, id: &RowId) -> Option<GradedSubmission> {
        match StoredRowId::new(id) {
            StoredRowId::Bits(bits) => Some(GradedSubmission {
                micros: time.and_utc().timestamp_micros(),
                bits,
            }),
            StoredRowId::Other(_) => None,
        }
    }

    /// Its row id.
    pub(super) fn id(&self) -> RowId {
        StoredRowId::Bits(self.bits).id()
    }

    /// What stands where a submission was forgotten (its rows removed, `--reload`): older than
    /// any, so the learner's next graded submission of the problem takes its place.
    pub(super) const FORGOTTEN: GradedSubmission = GradedSubmission {
        micros: i64::MIN,
        bits: [0; 2],
    };

    /// Whether this is [`GradedSubmission::FORGOTTEN`].
    pub(super) fn is_forgotten(&self) -> bool {
        self.micros == i64::MIN
    }
}

/// Who submits, where and when: the columns a submission shares with its event.
struct Submitting<'a> {
    user: &'a AnonName,
    user_key: Fingerprint,
    problem_id: i64,
    time: &'a NaiveDateTime,
    ip: &'a str,
    os_id: i64,
    agent_id: i64,
}

/// Writes an `assessments` row: `(id, grade, grader, feedback)` of `submission` at `time`.
fn write_assessment(
    rows: &mut Rows,
    (id, grade, grader, feedback): (&str, Option<f64>, &str, Option<&str>),
    submission: &str,
    time: &NaiveDateTime,
) -> Result<(), LoadError> {
    rows.push(&AssessmentRow {
        assessment_id: Token(id.as_bytes()),
        submission_id: Token(submission.as_bytes()),
        assessment_feedback: feedback.filter(|f| !f.is_empty()),
        assessment_grade: grade,
        assessment_grade_with_penalty: None,
        assessment_grader_id: grader,
        assessment_timestamp: time,
    })
}

/// The block an event's context names: `context.module.usage_key`, else the XBlock handler of
/// `context.path` (`…/xblock/<usage>/handler/…`, in 2014 logs with `;_` for `/`).
fn context_module(event: &TrackingEvent) -> Option<ModuleUri> {
    let context = event.context.as_ref()?;
    let usage = context
        .get("module")
        .and_then(|m| m.get("usage_key"))
        .and_then(serde_json::Value::as_str);
    if let Some(m) = usage.and_then(ModuleUri::parse) {
        return Some(m);
    }
    let path = context.get("path").and_then(serde_json::Value::as_str)?;
    let path = path.replace(";_", "/");
    ModuleUri::parse(&course_key::legacy_spelling(&path))
}

impl MoocdbBuilder {
    /// Step 9: the problem of a problem or grading event, on `resource_id`, and the submission
    /// and assessments the event records.
    pub(super) fn grade(
        &mut self,
        rows: &mut Rows,
        f: &FormattedRow<'_>,
        module: Option<&ModuleUri>,
        class: EventClass,
        resource_id: i64,
    ) -> Result<(), LoadError> {
        let (event, relations, row) = (f.event, f.relations, f.row);
        let grading = Grading::of(relations.event_type, event);
        let graded_module = match &grading {
            // An Open Response Assessment names its block only in the event's context.
            Some(Grading::OpenSubmission { .. } | Grading::OpenAssessment { .. }) => {
                context_module(event)
            }
            Some(_) => module.cloned(),
            None => None,
        };
        let Some(m) = graded_module
            .as_ref()
            .or(module.filter(|_| matches!(class, EventClass::Problem | EventClass::OpenResponse)))
        else {
            return Ok(());
        };
        let problem_id = self.problem(m, resource_id)?;
        let (user_key, row_id) = (f.user_key, f.id);
        let context = Submitting {
            user: f.user,
            user_key,
            problem_id,
            time: &event.time,
            ip: f.ip,
            os_id: f.os_id,
            agent_id: f.agent_id,
        };
        match &grading {
            None => {
                let grade = match row.correctness {
                    "correct" => Some(1.0),
                    "incorrect" => Some(0.0),
                    // A custom or partial-credit answer: the problem's grade.
                    _ if relations.event_type == "problem_check"
                        && event.event_source() == "server" =>
                    {
                        grading::problem_grade(event)
                    }
                    _ => None,
                };
                if let Some(code) = submission_code(f.event_type)
                    && !grading::is_companion_input(row.answer_identifier, row.problem_id)
                {
                    let id = row_id.as_str();
                    let attempt = row.attempts.unwrap_or(-1);
                    self.submission(rows, &context, id, attempt, row.answer, code)?;
                    // This load's row ids always have their bits.
                    if attempt > 0
                        && let Some(submission) = GradedSubmission::new(&event.time, row_id)
                    {
                        let latest = (self.graded)
                            .get_or_insert_with(user_key.with(problem_id), || submission);
                        if latest.micros <= submission.micros {
                            *latest = submission;
                        }
                    }
                    // An assessment grades a submission: without one it would point nowhere.
                    if let Some(grade) = grade {
                        let a = (id, Some(grade), AUTOMATIC, None);
                        write_assessment(rows, a, id, &event.time)?;
                    }
                }
            }
            Some(Grading::GradeSubmitted { grade }) => {
                let id = row_id.as_str();
                self.submission(rows, &context, id, -1, "", 1)?;
                write_assessment(rows, (id, *grade, AUTOMATIC, None), id, &event.time)?;
            }
            Some(Grading::OpenSubmission {
                uuid,
                answer,
                attempt,
            }) => {
                if self.open_submissions.insert(uuid.to_string()) {
                    self.submission(rows, &context, uuid, *attempt, answer, 1)?;
                }
            }
            Some(Grading::OpenAssessment {
                uuid,
                grade,
                grader,
                feedback,
            }) => {
                if self.open_submissions.contains(*uuid) {
                    let a = (row_id.as_str(), *grade, *grader, Some(*feedback));
                    write_assessment(rows, a, uuid, &event.time)?;
                }
            }
            Some(Grading::Rescore { grade, student }) => {
                let grade = match row.correctness {
                    "correct" => Some(1.0),
                    "incorrect" => Some(0.0),
                    _ => *grade,
                };
                let learner = match student {
                    Some(name) => Fingerprint::of(AnonName::of_username(name).as_str()),
                    None => user_key,
                };
                if let Some(submission) = (self.graded.get(&learner.with(problem_id)))
                    .filter(|submission| !submission.is_forgotten())
                {
                    let a = (row_id.as_str(), grade, "rescore", None);
                    write_assessment(rows, a, submission.id().as_str(), &event.time)?;
                }
            }
        }
        Ok(())
    }

    /// Writes a `submissions` row (and the user's row when new).
    fn submission(
        &mut self,
        rows: &mut Rows,
        s: &Submitting<'_>,
        id: &str,
        attempt: i64,
        answer: &str,
        code: i64,
    ) -> Result<(), LoadError> {
        self.user(s.user_key, s.user).store(rows)?;
        rows.push(&SubmissionRow {
            submission_id: Token(id.as_bytes()),
            user_id: s.user,
            problem_id: s.problem_id,
            submission_timestamp: s.time,
            submission_attempt_number: attempt,
            submission_answer: answer,
            submission_is_submitted: code,
            submission_ip: (!s.ip.is_empty()).then_some(s.ip),
            submission_os: s.os_id,
            submission_agent: s.agent_id,
        })
    }

    fn problem(&mut self, module: &ModuleUri, resource_id: i64) -> Result<i64, LoadError> {
        let (index, _) = self.problems.insert(&module.uri());
        let node = self.problems.node_mut(index);
        if node.attached().is_none() && !node.stored() {
            node.attach(resource_id);
        }
        Ok(node.id)
    }

    // The `problems` rows of the nodes created since the last call, with their types.
    pub(super) fn write_problems(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        for index in self.problems.take_unstored() {
            let uri = self.problems.uri(index);
            let type_id = self.problem_type(rows, problem_type_name(&uri))?;
            let node = self.problems.node(index);
            rows.push(&ProblemRow {
                problem_id: node.id,
                problem_name: &uri,
                problem_parent_id: node.parent(),
                problem_child_number: node.child_number().map(i64::from),
                problem_type_id: type_id,
                problem_release_timestamp: None,
                problem_soft_deadline: None,
                problem_hard_deadline: None,
                problem_max_submission: None,
                problem_max_duration: None,
                problem_weight: None,
                resource_id: node.attached(),
            })?;
        }
        Ok(())
    }
}

/// `problem_types.problem_type_name` of a problem hierarchy node: its module category, or the
/// level it stands for above the categories.
fn problem_type_name(uri: &str) -> String {
    let levels: Vec<&str> = uri
        .trim_start_matches("i4x://")
        .split('/')
        .filter(|l| !l.is_empty())
        .collect();
    match levels.len() {
        0 => "root".into(),
        1 => "organization".into(),
        2 => "course".into(),
        _ => levels[2].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    use crate::moocdb::in_memory::{moocdb_rows, row_where, rows_where, tracking_event};
    use crate::sink::in_memory::TableRows;

    // The rows of this family's tables that one file of `events` gives, without a database.
    fn rows_of(events: &[Value]) -> TableRows {
        moocdb_rows(
            events,
            &["problems", "problem_types", "submissions", "assessments"],
        )
    }

    const BLOCK: &str = "0123456789abcdef0123456789abcdef";

    // A server event of a course-v1 course, as edX logs it since 2014: the course is named
    // only by the context.
    fn server_event(time: &str, event_type: &str, payload: Value) -> Value {
        let time = format!("2013-06-12T{time}");
        let mut e = tracking_event(
            "learner01",
            &time,
            event_type,
            "server",
            "x_module",
            payload,
        );
        e["context"] = json!({"course_id": "course-v1:DemoX+Loader101+2013_Spring"});
        e
    }

    #[test]
    fn a_checked_answer_is_a_submission_and_its_assessment() {
        // The answer's id is bare: the problem's block id and the input's levels, no course.
        let answer = format!("{BLOCK}_2_1");
        let check = server_event(
            "09:00:00",
            "problem_check",
            json!({
                "problem_id": format!("block-v1:DemoX+Loader101+2013_Spring+type@problem+block@{BLOCK}"),
                "answers": {answer.clone(): "choice_1"},
                "correct_map": {answer.clone(): {"correctness": "correct", "npoints": null, "msg": "", "hint": "", "hintmode": null, "queuestate": null}},
                "attempts": 2, "success": "correct", "grade": 1, "max_grade": 1,
                "state": {"student_answers": {}, "seed": 1, "done": true, "correct_map": {}, "input_state": {}},
            }),
        );
        let rescore = server_event(
            "10:00:00",
            "problem_rescore",
            json!({
                "problem_id": format!("block-v1:DemoX+Loader101+2013_Spring+type@problem+block@{BLOCK}"),
                "correct_map": {answer.clone(): {"correctness": "incorrect", "npoints": null, "msg": "", "hint": "", "hintmode": null, "queuestate": null}},
                "orig_score": 1, "orig_total": 1, "new_score": 0, "new_total": 1, "success": "incorrect", "attempts": 2,
            }),
        );
        let t = rows_of(&[check, rescore]);
        let [submission] = &t["submissions"][..] else {
            panic!("one submission: {:?}", t["submissions"]);
        };
        assert_eq!(
            submission["user_id"],
            crate::identity::anon_screen_name("learner01")
        );
        assert_eq!(submission["submission_answer"], "choice_1");
        assert_eq!(submission["submission_attempt_number"], "2");
        assert_eq!(submission["submission_is_submitted"], "1");
        // The input's problem, resolved against the event's course, under the problem's block.
        let problem = row_where(&t, "problems", "problem_id", &submission["problem_id"]);
        let block = format!("i4x://DemoX/Loader101/problem/{BLOCK}/");
        assert_eq!(problem["problem_name"], format!("{block}2/1/"));
        let parent = row_where(&t, "problems", "problem_id", &problem["problem_parent_id"]);
        assert_eq!(parent["problem_child_number"], "2");
        assert_eq!(
            row_where(&t, "problems", "problem_id", &parent["problem_parent_id"])["problem_name"],
            block
        );
        let kind = row_where(
            &t,
            "problem_types",
            "problem_type_id",
            &problem["problem_type_id"],
        );
        assert_eq!(kind["problem_type_name"], "problem");
        // Graded at once by the check, then again by the rescore.
        let id = &submission["submission_id"];
        let grades: Vec<(&str, &str)> = rows_where(&t, "assessments", "submission_id", id)
            .iter()
            .map(|a| {
                (
                    a["assessment_grader_id"].as_str(),
                    a["assessment_grade"].as_str(),
                )
            })
            .collect();
        assert_eq!(grades, [("automatic", "1"), ("rescore", "0")]);
        assert_eq!(
            row_where(&t, "assessments", "assessment_id", id)["assessment_grader_id"],
            "automatic"
        );
    }

    #[test]
    fn problem_types_name_levels() {
        assert_eq!(problem_type_name("i4x://"), "root");
        assert_eq!(problem_type_name("i4x://A/B/"), "course");
        assert_eq!(problem_type_name("i4x://A/B/problem/p/2/1/"), "problem");
    }
}
