//! What an event says about a learner's work on a problem: the `submissions` and `assessments`
//! rows it yields beyond qpipe's rule.
//!
//! qpipe's rule (kept for every event type it knew): an event type listed in
//! [`submission_code`] is a submission of each answer it carries, assessed when the answer's
//! correctness is `correct` or `incorrect`. Logs since about 2015 grade in ways qpipe never saw;
//! each becomes rows here:
//!
//! * a server `problem_check` whose answer is graded neither `correct` nor `incorrect`
//!   (`unknown`, `partially-correct`: custom and partial-credit problems) is assessed with the
//!   problem's `grade / max_grade`;
//! * `edx.grades.problem.submitted` is a submission assessed with `weighted_earned /
//!   weighted_possible`, for every block type but `problem`: a capa problem logs each graded
//!   attempt as a server `problem_check` too, which already gave the submission (with its answers),
//!   so counting the grade event as well would count the attempt twice;
//! * `openassessmentblock.create_submission` (Open Response Assessment) is a submission whose id is
//!   ORA's own `submission_uuid`; `openassessmentblock.peer_assess`, `self_assess` and
//!   `staff_assess` are assessments of it, graded with the points of the chosen options over the
//!   points possible;
//! * `problem_rescore` is a new assessment of the learner's last graded submission of the problem
//!   (the learner is `event.student` when an instructor's task rescored it).
//!
//! Grades are fractions of the maximum (`1` is full marks), like qpipe's `1`/`0` for correct and
//! incorrect answers: MOOCdb's `assessments` has no column for the maximum.

use serde_json::{Map, Value};

use crate::parse::TrackingEvent;

/// qpipe's `IS_SUBMITTED`: event type → `submission_is_submitted` (1 submitted, 0 saved,
/// 2 failed, 3 reset).
pub fn submission_code(event_type: &str) -> Option<i64> {
    Some(match event_type {
        "problem_check" | "problem_graded" | "i4x_problem_problem_check" | "save_problem_check" => {
            1
        }
        "save_problem_success" | "problem_save" | "i4x_problem_problem_save" => 0,
        "problem_check_fail"
        | "save_problem_check_fail"
        | "reset_problem_fail"
        | "save_problem_fail" => 2,
        "reset_problem" | "problem_reset" => 3,
        _ => return None,
    })
}

/// Whether an answer's input is the companion of another (a formula's `…_dynamath` MathML
/// rendering, a `…_comment` box): not an answer of its own, so no submission. Without this rule
/// one formula answer was two submissions of the same problem part at the same time, and
/// EDUlib's curation of the users' last submission fails on two rows there. edX's own analytics
/// skip these inputs too.
pub fn is_companion_input(answer_identifier: &str, problem_id: &str) -> bool {
    let input = if answer_identifier.is_empty() {
        problem_id
    } else {
        answer_identifier
    };
    input.ends_with("_dynamath") || input.ends_with("_comment")
}

/// `assessments.assessment_grader_id` of an automatic grade (qpipe's).
pub const AUTOMATIC: &str = "automatic";

/// The grading an event carries beyond qpipe's rule (see the module's doc).
#[derive(Debug, Clone, PartialEq)]
pub enum Grading<'e> {
    /// `edx.grades.problem.submitted` of a block that is not a capa problem: a submission with
    /// this grade.
    GradeSubmitted {
        /// `weighted_earned / weighted_possible`.
        grade: Option<f64>,
    },
    /// `openassessmentblock.create_submission`: a submission with ORA's id.
    OpenSubmission {
        /// ORA's `submission_uuid`, the submission's id.
        uuid: &'e str,
        /// The response's text parts, joined.
        answer: String,
        /// `attempt_number`.
        attempt: i64,
    },
    /// `openassessmentblock.{peer,self,staff}_assess`: an assessment of ORA submission `uuid`.
    OpenAssessment {
        /// ORA's `submission_uuid` of the submission assessed.
        uuid: &'e str,
        /// The points of the chosen options over the points possible.
        grade: Option<f64>,
        /// `peer`, `self` or `staff`.
        grader: &'static str,
        /// The assessor's overall feedback.
        feedback: &'e str,
    },
    /// `problem_rescore`: a new assessment of the last graded submission.
    Rescore {
        /// `new_score / new_total`.
        grade: Option<f64>,
        /// The learner whose work is rescored: `event.student` of an instructor's rescoring
        /// task (whose event is the instructor's), else the event's user.
        student: Option<&'e str>,
    },
}

impl<'e> Grading<'e> {
    /// What `event` (of type `event_type`, as logged) grades, when it is one of the kinds above.
    pub fn of(event_type: &str, event: &'e TrackingEvent) -> Option<Grading<'e>> {
        let payload = event.event.as_object()?;
        let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("");
        match event_type {
            "edx.grades.problem.submitted" => {
                let problem = text("problem_id");
                // A capa problem's attempt is its `problem_check`.
                if problem.contains("type@problem+") || problem.contains("/problem/") {
                    return None;
                }
                Some(Grading::GradeSubmitted {
                    grade: fraction(
                        number(payload.get("weighted_earned")),
                        number(payload.get("weighted_possible")),
                    ),
                })
            }
            "openassessmentblock.create_submission" => {
                let uuid = text("submission_uuid");
                (!uuid.is_empty()).then(|| Grading::OpenSubmission {
                    uuid,
                    answer: response_text(payload.get("answer")),
                    attempt: number(payload.get("attempt_number")).map_or(-1, |n| n as i64),
                })
            }
            "openassessmentblock.peer_assess"
            | "openassessmentblock.self_assess"
            | "openassessmentblock.staff_assess" => {
                let uuid = text("submission_uuid");
                let grader = match event_type {
                    "openassessmentblock.peer_assess" => "peer",
                    "openassessmentblock.self_assess" => "self",
                    _ => "staff",
                };
                (!uuid.is_empty()).then(|| Grading::OpenAssessment {
                    uuid,
                    grade: rubric_grade(payload),
                    grader,
                    feedback: text("feedback"),
                })
            }
            "problem_rescore" => Some(Grading::Rescore {
                grade: fraction(
                    number(payload.get("new_score")),
                    number(payload.get("new_total")),
                ),
                student: Some(text("student")).filter(|s| !s.is_empty()),
            }),
            _ => None,
        }
    }
}

/// A server `problem_check`'s grade of the whole problem, `grade / max_grade`, for answers
/// graded neither correct nor incorrect.
pub fn problem_grade(event: &TrackingEvent) -> Option<f64> {
    let payload = event.event.as_object()?;
    fraction(
        number(payload.get("grade")),
        number(payload.get("max_grade")),
    )
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn fraction(earned: Option<f64>, possible: Option<f64>) -> Option<f64> {
    match (earned, possible) {
        (Some(e), Some(p)) if p > 0.0 && e.is_finite() => Some(e / p),
        _ => None,
    }
}

/// An ORA assessment's grade: the points of the options chosen over the points possible of
/// their criteria (`None` when the event does not say what was possible).
fn rubric_grade(payload: &Map<String, Value>) -> Option<f64> {
    let parts = payload.get("parts")?.as_array()?;
    let (mut earned, mut possible) = (0.0, 0.0);
    for part in parts {
        earned += number(part.get("option").and_then(|o| o.get("points"))).unwrap_or(0.0);
        possible += number(part.get("criterion").and_then(|c| c.get("points_possible")))?;
    }
    fraction(Some(earned), Some(possible))
}

/// The text of an ORA response: its parts' texts, one per line.
fn response_text(answer: Option<&Value>) -> String {
    let Some(answer) = answer else {
        return String::new();
    };
    match answer.get("parts").and_then(Value::as_array) {
        Some(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        None => match answer {
            Value::String(s) => s.clone(),
            Value::Object(m) => m
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> TrackingEvent {
        TrackingEvent::parse(json).expect("a tracking event")
    }

    #[test]
    fn grade_events_of_non_capa_blocks_are_submissions() {
        let e = event(
            r#"{"event_type":"edx.grades.problem.submitted","time":"2017-01-01T00:00:00Z","username":"u","event":{"problem_id":"block-v1:O+C+R+type@drag-and-drop-v2+block@3b","weighted_earned":1,"weighted_possible":4}}"#,
        );
        assert_eq!(
            Grading::of("edx.grades.problem.submitted", &e),
            Some(Grading::GradeSubmitted { grade: Some(0.25) })
        );
        let capa = event(
            r#"{"event_type":"edx.grades.problem.submitted","time":"2017-01-01T00:00:00Z","username":"u","event":{"problem_id":"block-v1:O+C+R+type@problem+block@3b","weighted_earned":1,"weighted_possible":1}}"#,
        );
        assert_eq!(Grading::of("edx.grades.problem.submitted", &capa), None);
    }

    #[test]
    fn open_response_submissions_and_assessments() {
        let e = event(
            r#"{"event_type":"openassessmentblock.create_submission","time":"2017-01-01T00:00:00Z","username":"u","event":{"submission_uuid":"ed5566b8-5607-11e4-8511-068753ad5b8a","attempt_number":1,"answer":{"parts":[{"text":"one"},{"text":"two"}]}}}"#,
        );
        assert_eq!(
            Grading::of("openassessmentblock.create_submission", &e),
            Some(Grading::OpenSubmission {
                uuid: "ed5566b8-5607-11e4-8511-068753ad5b8a",
                answer: "one\ntwo".into(),
                attempt: 1
            })
        );
        let e = event(
            r#"{"event_type":"openassessmentblock.peer_assess","time":"2017-01-01T00:00:00Z","username":"u","event":{"submission_uuid":"ed55","feedback":"ok","parts":[{"criterion":{"points_possible":3},"option":{"points":3}},{"criterion":{"points_possible":3},"option":{"points":0}}]}}"#,
        );
        assert_eq!(
            Grading::of("openassessmentblock.peer_assess", &e),
            Some(Grading::OpenAssessment {
                uuid: "ed55",
                grade: Some(0.5),
                grader: "peer",
                feedback: "ok"
            })
        );
        // Without the points possible there is no grade, but still an assessment.
        let e = event(
            r#"{"event_type":"openassessmentblock.self_assess","time":"2017-01-01T00:00:00Z","username":"u","event":{"submission_uuid":"ed55","parts":[{"option":{"points":5}}]}}"#,
        );
        assert!(matches!(
            Grading::of("openassessmentblock.self_assess", &e),
            Some(Grading::OpenAssessment {
                grade: None,
                grader: "self",
                ..
            })
        ));
    }

    #[test]
    fn companion_inputs_are_not_answers() {
        assert!(is_companion_input(
            "",
            "input_i4x-A-B-problem-f_2_1_dynamath"
        ));
        assert!(is_companion_input("f_2_1_comment", "f_2_1"));
        assert!(!is_companion_input("", "input_i4x-A-B-problem-f_2_1"));
        assert!(!is_companion_input("f_2_1", "f_2_1_dynamath"));
    }

    #[test]
    fn rescores_and_problem_grades() {
        let e = event(
            r#"{"event_type":"problem_rescore","time":"2017-01-01T00:00:00Z","username":"u","event":{"new_score":2,"new_total":4,"grade":1,"max_grade":2}}"#,
        );
        assert_eq!(
            Grading::of("problem_rescore", &e),
            Some(Grading::Rescore {
                grade: Some(0.5),
                student: None
            })
        );
        assert_eq!(problem_grade(&e), Some(0.5));
        let e = event(
            r#"{"event_type":"problem_check","time":"2017-01-01T00:00:00Z","username":"u","event":"input_x=1"}"#,
        );
        assert_eq!(problem_grade(&e), None);
        assert_eq!(Grading::of("problem_check", &e), None);
    }
}
