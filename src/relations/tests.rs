// Unit tests of the relations stage per handler family: JSON lines in, table rows out.

use std::collections::BTreeMap;

use super::*;
use crate::identity::LineIdentity;
use crate::sink::in_memory::{self, TableRows};
use crate::sink::{Batch, Encoding};

/// Runs the relations stage over JSON lines; returns the batches of rows, encoded as `encoding`.
fn batches_of(lines: &[&str], encoding: Encoding) -> Vec<Batch> {
    let (mut rows, batches) = in_memory::collecting(encoding);
    let mut builder = RelationBuilder::new("load".into(), GeoIp::Embedded, Vec::new());
    for line in lines {
        let event = TrackingEvent::parse(line).expect("test line parses");
        let identity = LineIdentity::new(line.as_bytes(), &event.time);
        builder.add_event(&mut rows, &event, &identity).unwrap();
    }
    rows.flush_all().unwrap();
    std::mem::take(&mut *batches.lock().unwrap())
}

/// Runs the relations stage over JSON lines; returns every table's rows as column → value.
fn relations_of(lines: &[&str]) -> TableRows {
    in_memory::tsv_rows(&batches_of(lines, Encoding::Tsv))
}

fn line(event_type: &str, source: &str, event: &str, extra: &str) -> String {
    format!(
        r#"{{"username":"learner01","event_source":"{source}","event_type":"{event_type}","time":"2013-06-12T09:19:41.439185+00:00","ip":"8.8.8.8","agent":"Mozilla/5.0","page":"https://courses.example.org/courses/DemoX/Loader101/2013_Spring/courseware/u1/s1/","session":"s1","event":{event}{extra}}}"#
    )
}

fn only(t: &TableRows, table: &str) -> BTreeMap<&'static str, String> {
    let rows = &t[table];
    assert_eq!(rows.len(), 1, "{table}: {rows:?}");
    rows[0].clone()
}

#[test]
fn common_fields() {
    let t = relations_of(&[&line("play_video", "browser", r#""{\"id\":\"v1\",\"code\":\"abc\",\"currentTime\":12.5,\"speed\":\"1.0\"}""#, "")]);
    let r = only(&t, "EdxTrackEvent");
    assert_eq!(r["event_type"], "play_video");
    assert_eq!(r["ip_country"], "USA");
    assert_eq!(r["time"], "2013-06-12 09:19:41.439185");
    assert_eq!(r["quarter"], "summer2013");
    assert_eq!(r["anon_screen_name"], crate::identity::anon_screen_name("learner01"));
    assert_eq!(r["course_id"], "https://courses.example.org/courses/DemoX/Loader101/2013_Spring/courseware/u1/s1/");
    assert_eq!(r["course_display_name"], "DemoX/Loader101/2013_Spring");
    assert_eq!(r["downtime_for"], "0:00:00");
    assert_eq!(r["load_info_fk"], "load");
    assert_eq!(r["goto_from"], "-1", "integer columns default to -1");
    assert_eq!(r["video_id"], "v1");
    assert_eq!(r["video_code"], "abc");
    assert_eq!(r["video_current_time"], "12.5");
    assert_eq!(r["video_speed"], "1.0");
    let ip = only(&t, "EventIp");
    assert_eq!(ip["event_ip"], "8.8.8.8");
    assert_eq!(ip["event_table_id"], r["_id"]);
}

#[test]
fn sequence_navigation() {
    let t = relations_of(&[&line("seq_goto", "browser", r#""{\"old\":2,\"new\":5,\"id\":\"i4x://A/B/sequential/x\"}""#, "")]);
    let r = only(&t, "EdxTrackEvent");
    assert_eq!((r["goto_from"].as_str(), r["goto_dest"].as_str()), ("2", "5"));
    assert_eq!(r["sequence_id"], "i4x://A/B/sequential/x");
}

#[test]
fn browser_problem_check_fans_out_per_answer() {
    let t = relations_of(&[&line("problem_check", "browser", r#""input_i4x-A-B-problem-p_2_1=choice_2&input_i4x-A-B-problem-p_3_1=it's""#, "")]);
    let rows = &t["EdxTrackEvent"];
    assert_eq!(rows.len(), 2);
    let answers = &t["Answer"];
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[1]["answer"], "it's");
    assert_eq!(answers[0]["problem_id"], "input_i4x-A-B-problem-p_2_1");
    assert_eq!(rows[0]["answer_fk"], answers[0]["answer_id"]);
    assert_eq!(rows[1]["problem_id"], "input_i4x-A-B-problem-p_3_1");
    assert_eq!(rows[0]["event_id"], rows[1]["event_id"]);
    assert_ne!(rows[0]["_id"], rows[1]["_id"]);
}

#[test]
fn server_problem_check_fills_correct_map_answers_and_state() {
    let event = r#"{"success":"incorrect","attempts":2,"problem_id":"i4x://A/B/problem/p","correct_map":{"i4x-A-B-problem-p_2_1":{"correctness":"incorrect","npoints":null,"msg":"","hint":"","hintmode":null,"queuestate":null}},"answers":{"i4x-A-B-problem-p_2_1":["choice_0","choice_1"]},"state":{"seed":1,"done":true,"student_answers":{},"correct_map":{},"input_state":{"i4x-A-B-problem-p_2_1":{}}}}"#;
    let t = relations_of(&[&line("save_problem_check", "server", event, "")]);
    let r = only(&t, "EdxTrackEvent");
    assert_eq!(r["success"], "incorrect");
    assert_eq!(r["attempts"], "2");
    assert_eq!(r["problem_id"], "i4x-A-B-problem-p_2_1");
    assert_eq!(r["course_id"], "A-B", "json_to_relation's Org-Course of problem events");
    let cm = only(&t, "CorrectMap");
    assert_eq!(cm["correctness"], "incorrect");
    assert_eq!(cm["npoints"], "-1");
    assert_eq!(r["correctMap_fk"], cm["correct_map_id"]);
    assert_eq!(only(&t, "Answer")["answer"], "choice_0,choice_1");
    let st = only(&t, "State");
    assert_eq!((st["seed"].as_str(), st["done"].as_str()), ("1", "True"));
    assert_eq!(st["input_state"], only(&t, "InputState")["input_state_id"]);
    assert_eq!(r["state_fk"], st["state_id"]);
}

#[test]
fn reset_problem_stores_old_and_new_state() {
    let event = r#"{"problem_id":"i4x://A/B/problem/p","old_state":{"seed":3,"done":true,"student_answers":{"i4x-A-B-problem-p_2_1":"choice_2"},"correct_map":{},"input_state":{}},"new_state":{"seed":4,"done":false,"student_answers":{},"correct_map":{},"input_state":{"i4x-A-B-problem-p_2_1":{}}}}"#;
    let t = relations_of(&[&line("reset_problem", "server", event, "")]);
    assert_eq!(t["EdxTrackEvent"].len(), 2);
    assert_eq!(t["State"].len(), 2);
    assert_eq!(t["EdxTrackEvent"][0]["problem_id"], "i4x://A/B/problem/p");
    assert_eq!(t["EdxTrackEvent"][0]["course_id"], "reset_problem");
}

#[test]
fn problem_check_fail_and_rescore() {
    let t = relations_of(&[&line("problem_check_fail", "server", r#"{"failure":"closed","problem_id":"i4x://A/B/problem/p","answers":{"i4x-A-B-problem-p_2_1":"x"},"state":{"seed":1,"done":true,"student_answers":{},"correct_map":{},"input_state":{}}}"#, "")]);
    let r = only(&t, "EdxTrackEvent");
    assert_eq!(r["success"], "closed");
    assert_eq!(r["problem_id"], "i4x-A-B-problem-p_2_1");
    let t = relations_of(&[&line("problem_rescore", "server", r#"{"problem_id":"p","success":"correct","attempts":1,"orig_score":0,"orig_total":1,"new_score":1,"new_total":1,"correct_map":{"p_2_1":{"correctness":"correct"}}}"#, "")]);
    let r = only(&t, "EdxTrackEvent");
    assert_eq!((r["orig_score"].as_str(), r["new_score"].as_str(), r["new_total"].as_str()), ("0", "1", "1"));
    assert_eq!(only(&t, "CorrectMap")["correctness"], "correct");
}

#[test]
fn problem_graded_html() {
    let t = relations_of(&[&line("problem_graded", "browser", r#"["input_x=1", "<div aria-describedby=\"input_i4x-A-B-problem-p_2_1\">nStatus: incorrect</div>"]"#, "")]);
    let r = only(&t, "EdxTrackEvent");
    assert_eq!(r["problem_id"], "input_i4x-A-B-problem-p_2_1");
    assert_eq!(only(&t, "Answer")["answer"], "incorrect");
    let t = relations_of(&[&line("problem_graded", "browser", r#"["no", "status here"]"#, "")]);
    assert!(!only(&t, "EdxTrackEvent")["badly_formatted"].is_empty());
}

#[test]
fn video_transcript_book_and_show_answer() {
    let t = relations_of(&[
        &line("seek_video", "browser", r#""{\"id\":\"v\",\"code\":\"c\",\"old_time\":3,\"new_time\":9,\"type\":\"onSlideSeek\"}""#, ""),
        &line("speed_change_video", "browser", r#""{\"id\":\"v\",\"code\":\"c\",\"currentTime\":1,\"old_speed\":\"1.0\",\"new_speed\":\"1.5\"}""#, ""),
        &line("show_transcript", "browser", r#""{\"id\":\"v\",\"code\":\"c\"}""#, ""),
        &line("book", "browser", r#""{\"type\":\"gotopage\",\"old\":1,\"new\":2}""#, ""),
        &line("showanswer", "server", r#"{"problem_id":"i4x://A/B/problem/p"}"#, ""),
    ]);
    let rows = &t["EdxTrackEvent"];
    assert_eq!(rows[0]["video_seek_type"], "onSlideSeek");
    assert_eq!((rows[0]["video_old_time"].as_str(), rows[0]["video_new_time"].as_str()), ("3", "9"));
    assert_eq!(rows[1]["video_new_speed"], "1.5");
    assert_eq!(rows[2]["transcript_id"], "v");
    assert_eq!((rows[3]["book_interaction_type"].as_str(), rows[3]["goto_dest"].as_str()), ("gotopage", "2"));
    assert_eq!(rows[4]["problem_id"], "i4x://A/B/problem/p");
}

#[test]
fn open_response_and_instructor_events() {
    let t = relations_of(&[
        &line("peer_grading_show_question", "browser", r#""{\"location\":\"i4x://A/B/combinedopenended/x\"}""#, ""),
        &line("rubric_select", "browser", r#""{\"location\":\"l\",\"selection\":2,\"category\":1}""#, ""),
        &line("reset-student-attempts", "server", r#"{"problem":"p","student":"s","instructor_id":"i","old_attempts":3}"#, ""),
        &line("add-or-remove-user-group", "server", r#"{"event_name":"beta-tester","user":"jones","event":"add"}"#, ""),
        &line("edx.forum.searched", "server", r#"{"query":"q","page":2,"total_results":9}"#, ""),
    ]);
    let rows = &t["EdxTrackEvent"];
    assert_eq!(rows[0]["question_location"], "i4x://A/B/combinedopenended/x");
    assert_eq!((rows[1]["rubric_selection"].as_str(), rows[1]["rubric_category"].as_str()), ("2", "1"));
    // The usernames an instructor's action names are stored as those users' anon screen names.
    let anon = crate::identity::anon_screen_name;
    assert_eq!((rows[2]["student_id"].as_str(), rows[2]["attempts"].as_str()), (anon("s").as_str(), "3"));
    assert_eq!(rows[2]["instructor_id"], anon("i"));
    assert_eq!((rows[3]["group_user"].as_str(), rows[3]["group_action"].as_str()), (anon("jones").as_str(), "add"));
    assert_eq!((rows[4]["submission_id"].as_str(), rows[4]["page"].as_str(), rows[4]["success"].as_str()), ("q", "2", "9"));
}

#[test]
fn path_style_server_events() {
    let base = "/courses/A/B/C/modx/i4x://A/B";
    let t = relations_of(&[
        &line(&format!("{base}/sequential/s/goto_position"), "server", r#""{\"POST\": {\"position\": [\"9\"]}, \"GET\": {}}""#, ""),
        &line(&format!("{base}/combinedopenended/x/save_answer"), "server", r#""{\"POST\": {\"student_file\": [\"\"], \"student_answer\": [\"long text\"], \"can_upload_files\": [\"false\"]}, \"GET\": {}}""#, ""),
        &line(&format!("{base}/problem/p/problem_check"), "server", r#""{\"POST\": {\"input_i4x-A-B-problem-p_2_1\": [\"choice_1\"]}, \"GET\": {}}""#, ""),
    ]);
    let rows = &t["EdxTrackEvent"];
    assert_eq!(rows[0]["position"], "9");
    assert_eq!(rows[0]["course_id"], "A/B/C");
    assert_eq!((rows[1]["long_answer"].as_str(), rows[1]["can_upload_file"].as_str()), ("long text", "false"));
    assert_eq!(rows[2]["problem_id"], "input_i4x-A-B-problem-p_2_1");
    assert_eq!(only(&t, "Answer")["answer"], "choice_1");
}

#[test]
fn path_rewrites_heartbeats_and_pings() {
    let hb = |time: &str| format!(r#"{{"username":"","event_source":"server","event_type":"/heartbeat","time":"{time}","ip":"192.0.2.1","event":"{{}}"}}"#);
    let t = relations_of(&[
        &hb("2013-06-09T06:00:00"),
        &hb("2013-06-09T06:01:00"),
        &hb("2013-06-09T06:20:00"),
        r#"{"username":"","event_source":"server","event_type":"/","time":"2013-06-09T06:21:00","ip":"192.0.2.1","event":"{}"}"#,
        r#"{"username":"","event_source":"server","event_type":"/courses/A/B/C/about","time":"2013-06-09T06:22:00","ip":"192.0.2.9","event":"{}"}"#,
    ]);
    let rows = &t["EdxTrackEvent"];
    assert_eq!(rows.len(), 3, "first heartbeat, the one after 19 minutes, the about page");
    assert_eq!(rows[0]["downtime_for"], "0:00:00");
    assert_eq!(rows[1]["downtime_for"], "0:19:00");
    assert_eq!(rows[2]["event_type"], "about");
    assert_eq!(rows[2]["course_id"], "A/B/C");
    assert_eq!(rows[2]["downtime_for"], "");
    assert_eq!(t["EventIp"].len(), 5, "every line has its private IP row");
}

#[test]
fn accounts_and_email_settings_go_to_the_private_table() {
    let t = relations_of(&[
        &line("/create_account", "server", r#""{\"POST\": {\"username\": [\"o'neil\"], \"name\": [\"Ann O'Neil\"], \"email\": [\"ann@example.org\"], \"mailing_address\": [\"1 Main St, Springfield 12345\"], \"year_of_birth\": [\"1990\"], \"honor_code\": [\"true\"], \"gender\": [\"f\"]}, \"GET\": {}}""#, ""),
        &line("change-email-settings", "server", r#"{"course":"A/B/C","receive_emails":"yes"}"#, ""),
    ]);
    let a = &t["Account"];
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["screen_name"], "o'neil");
    assert_eq!(a[0]["anon_screen_name"], crate::identity::anon_screen_name("o'neil"));
    assert_eq!((a[0]["zipcode"].as_str(), a[0]["country"].as_str()), ("12345", "USA"));
    assert_eq!((a[0]["year_of_birth"].as_str(), a[0]["honor_code"].as_str()), ("1990", "1"));
    assert_eq!((a[1]["course_id"].as_str(), a[1]["receive_emails"].as_str()), ("A/B/C", "yes"));
    // No personal data in the public row.
    let r = &t["EdxTrackEvent"][0];
    assert!(r.values().all(|v| !v.contains("ann@example.org") && !v.contains("Ann O'Neil")));
}

#[test]
fn login_ajax_hashes_the_email() {
    let t = relations_of(&[&line("/login_ajax", "server", r#"{"POST":{"email":["emil.smith@gmail.com"],"password":"********"}}"#, "")]);
    assert_eq!(only(&t, "EdxTrackEvent")["anon_screen_name"], "a064cdd09af0315fbf2f6bbc2d0256a5e56d64f7");
}

#[test]
fn ab_experiments_open_assessment_and_enrollment() {
    let t = relations_of(&[
        &line("assigned_user_to_partition", "browser", r#""{\"group_id\":10,\"group_name\":\"A\",\"partition_id\":20,\"partition_name\":\"P\"}""#, ""),
        &line("openassessmentblock.self_assess", "server", r#"{"submission_uuid":"u1","score_type":"SE","scorer_id":"s","feedback":"good","scored_at":"2014-05-01T10:00:00+00:00","parts":[{"option":{"name":"Good","points":3},"criterion":{"name":"Ideas"},"feedback":"nice"}],"rubric":{"content_hash":"h"}}"#, ""),
        &line("edx.course.enrollment.activated", "server", r#"{"course_id":"course-v1:A+B+C","mode":"audit","user_id":1}"#, r#","context":{"course_id":"course-v1:A+B+C","org_id":"A"}"#),
    ]);
    let ab = only(&t, "ABExperiment");
    assert_eq!((ab["group_id"].as_str(), ab["partition_name"].as_str()), ("10", "P"));
    let oa = only(&t, "OpenAssessment");
    assert_eq!((oa["submission_uuid"].as_str(), oa["score_type"].as_str(), oa["comment_text"].as_str()), ("u1", "SE", "good"));
    assert!(oa["feedback_text"].contains("Criterion Ideas option Good: 3. Feedback: nice"));
    assert_eq!(oa["time"], "2014-05-01 10:00:00.000000");
    let e = &t["EdxTrackEvent"][2];
    assert_eq!(e["mode"], "audit");
    assert_eq!((e["course_display_name"].as_str(), e["organization"].as_str()), ("course-v1:A+B+C", "A"));
}

#[test]
fn newer_open_edx_events() {
    let t = relations_of(&[
        &line("edx.grades.subsection.grade_calculated", "server", r#"{"subsection_id":"block-v1:A+B+C+type@sequential+block@s","course_id":"course-v1:A+B+C"}"#, ""),
        &line("edx.bookmark.added", "server", r#"{"component_usage_id":"block-v1:A+B+C+type@video+block@v"}"#, ""),
        &line("edx.video.played", "mobile", r#"{"id":"v","code":"mobile","currentTime":4}"#, ""),
        &line("textbook.pdf.page.navigated", "browser", r#""{\"page\":7,\"name\":\"textbook.pdf.page.navigated\"}""#, ""),
        &line("edx.special_exam.timed.attempt.created", "server", r#"{"exam_content_id":"block-v1:A+B+C+type@sequential+block@x","attempt_id":3}"#, ""),
        &line("some.unknown.event", "server", r#"{"x":1}"#, ""),
    ]);
    let rows = &t["EdxTrackEvent"];
    assert_eq!(rows.len(), 6, "unknown types still load");
    assert_eq!(rows[0]["problem_id"], "block-v1:A+B+C+type@sequential+block@s");
    assert_eq!(rows[1]["problem_id"], "block-v1:A+B+C+type@video+block@v");
    assert_eq!((rows[2]["video_id"].as_str(), rows[2]["video_current_time"].as_str()), ("v", "4"));
    assert_eq!(rows[3]["goto_dest"], "7");
    assert_eq!((rows[4]["problem_id"].as_str(), rows[4]["attempts"].as_str()), ("block-v1:A+B+C+type@sequential+block@x", "3"));
    assert_eq!(rows[5]["event_type"], "some.unknown.event");
}

#[test]
fn ipv6_empty_and_missing_ip_all_load() {
    let mk = |ip: &str| format!(r#"{{"username":"u","event_source":"browser","event_type":"page_close","time":"2013-06-09T06:00:00Z","event":""{ip}}}"#);
    let t = relations_of(&[&mk(r#","ip":"2001:4860:4860::8888""#), &mk(r#","ip":"""#), &mk("")]);
    let rows = &t["EdxTrackEvent"];
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["ip_country"], "USA");
    assert_eq!(rows[1]["ip_country"], "");
}

#[test]
fn remaining_families() {
    let t = relations_of(&[
        &line("problem_reset", "browser", r#""input_i4x-A-B-problem-p_2_1=2""#, ""),
        &line("problem_show", "browser", r#""{\"problem\":\"i4x://A/B/problem/p\"}""#, ""),
        &line("oe_show_full_feedback", "browser", r#""{\"location\":\"l\"}""#, ""),
        &line("oe_feedback_response_selected", "browser", r#""{\"value\":3}""#, ""),
        &line("rescore-all-submissions", "server", r#"{"course":"A/B/C","problem":"p"}"#, ""),
        &line("delete-student-module-state", "server", r#"{"course":"A/B/C","problem":"p","student":"s"}"#, ""),
        &line("get-student-progress-page", "server", r#"{"student":"s","instructor_id":"i"}"#, ""),
        &line("add-instructor", "server", r#"{"instructor":"i"}"#, ""),
        &line("psychometrics-histogram-generation", "server", r#"{"problem":"p"}"#, ""),
        &line("edx.ui.lms.sequence.next_selected", "browser", r#"{"id":"block-v1:A+B+C+type@sequential+block@s","old":1,"new":2}"#, ""),
        &line("edx.course.enrollment.deactivated", "server", r#"{"course_id":"course-v1:A+B+C","mode":"verified","session":"x"}"#, ""),
        &line("problem_rescore_fail", "server", r#"{"problem_id":"p","state":{"seed":1,"done":false,"student_answers":{"p_2_1":"a"},"correct_map":{},"input_state":{}}}"#, ""),
        &line("save_problem_success", "server", r#"{"problem_id":"p","success":"correct","answers":{"p_2_1":"a"}}"#, ""),
    ]);
    let r = &t["EdxTrackEvent"];
    assert_eq!(r[0]["problem_id"], "input_i4x-A-B-problem-p_2_1=2");
    assert_eq!(r[1]["problem_id"], "i4x://A/B/problem/p");
    assert_eq!(r[2]["feedback"], r#"{"location":"l"}"#);
    assert_eq!(r[3]["feedback_response_selected"], "3");
    assert_eq!((r[4]["course_id"].as_str(), r[4]["problem_id"].as_str()), ("A/B/C", "p"));
    let anon = crate::identity::anon_screen_name;
    assert_eq!(r[5]["student_id"], anon("s"));
    assert_eq!((r[6]["student_id"].as_str(), r[6]["instructor_id"].as_str()), (anon("s").as_str(), anon("i").as_str()));
    assert_eq!(r[7]["instructor_id"], anon("i"));
    assert_eq!(r[8]["problem_id"], "p");
    assert_eq!((r[9]["sequence_id"].as_str(), r[9]["goto_dest"].as_str()), ("block-v1:A+B+C+type@sequential+block@s", "2"));
    assert_eq!((r[10]["mode"].as_str(), r[10]["session"].as_str()), ("verified", "x"));
    assert_eq!(r[11]["state_fk"], t["State"][0]["state_id"]);
    assert_eq!((r[12]["success"].as_str(), r[12]["answer_fk"].as_str()), ("correct", t["Answer"][1]["answer_id"].as_str()));
}

/// Every table's rows from `lines` encoded as the insert method's parameters, each value as text
/// as the `LOAD DATA` text has it.
fn relations_as_parameters(lines: &[&str]) -> TableRows {
    use crate::sink::{Param, Parameters};
    let mut out = TableRows::new();
    for batch in batches_of(lines, Encoding::Params) {
        let table = batch.table;
        let values: Vec<String> = Parameters::new(&batch.data)
            .map(|p| match p.unwrap() {
                Param::Null => "NULL".to_string(),
                Param::Text(s) => s.to_string(),
                Param::Int(v) => v.to_string(),
                Param::Float(v) => format!("{v}"),
            })
            .collect();
        let width = table.columns().len();
        assert_eq!(values.len() as u64, batch.rows * width as u64);
        for row in values.chunks(width) {
            let row = table.columns().iter().copied().zip(row.to_vec()).collect();
            out.entry(table.name()).or_default().push(row);
        }
    }
    out
}

#[test]
fn rows_as_parameters_are_the_load_data_rows() {
    use crate::generate::{GeneratorOptions, generate};
    let mut text = Vec::new();
    let options = GeneratorOptions {
        events: 4000,
        users: 40,
        courses: 1,
        days: 4,
        seed: 11,
        ..GeneratorOptions::default()
    };
    generate(&options, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let tsv = relations_of(&lines);
    let params = relations_as_parameters(&lines);
    assert_eq!(tsv.keys().collect::<Vec<_>>(), params.keys().collect::<Vec<_>>());
    for (table, rows) in &tsv {
        assert_eq!(rows.len(), params[table].len(), "{table}");
        for (a, b) in rows.iter().zip(&params[table]) {
            assert_eq!(a, b, "{table}");
        }
    }
}
