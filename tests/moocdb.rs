//! The MOOCdb tables: foreign keys hold, durations follow DESIGN.md decision 6.

mod common;

use common::*;

/// Every reference between MOOCdb tables points to a row (checked with SQL on the loaded data).
async fn assert_foreign_keys_hold(url: &str) {
    let pool = pool(url).await;
    let checks = [
        (
            "observed_events.url_id",
            "SELECT COUNT(*) FROM observed_events o LEFT JOIN resources r ON r.resource_id = o.url_id WHERE r.resource_id IS NULL",
        ),
        (
            "observed_events.observed_event_os",
            "SELECT COUNT(*) FROM observed_events o LEFT JOIN os ON os.os_id = o.observed_event_os WHERE o.observed_event_os IS NOT NULL AND os.os_id IS NULL",
        ),
        (
            "observed_events.observed_event_agent",
            "SELECT COUNT(*) FROM observed_events o LEFT JOIN agent a ON a.agent_id = o.observed_event_agent WHERE o.observed_event_agent IS NOT NULL AND a.agent_id IS NULL",
        ),
        (
            "observed_events.user_id",
            "SELECT COUNT(*) FROM observed_events o LEFT JOIN users u ON u.user_id = o.user_id WHERE u.user_id IS NULL",
        ),
        (
            "submissions.problem_id",
            "SELECT COUNT(*) FROM submissions s LEFT JOIN problems p ON p.problem_id = s.problem_id WHERE p.problem_id IS NULL",
        ),
        (
            "submissions.user_id",
            "SELECT COUNT(*) FROM submissions s LEFT JOIN users u ON u.user_id = s.user_id WHERE u.user_id IS NULL",
        ),
        (
            "assessments.submission_id",
            "SELECT COUNT(*) FROM assessments a LEFT JOIN submissions s ON s.submission_id = a.submission_id WHERE s.submission_id IS NULL",
        ),
        (
            "resources.resource_parent_id",
            "SELECT COUNT(*) FROM resources c LEFT JOIN resources p ON p.resource_id = c.resource_parent_id WHERE c.resource_parent_id IS NOT NULL AND p.resource_id IS NULL",
        ),
        (
            "resources.resource_type_id",
            "SELECT COUNT(*) FROM resources r LEFT JOIN resource_types t ON t.resource_type_id = r.resource_type_id WHERE t.resource_type_id IS NULL",
        ),
        (
            "resources_urls.resource_id",
            "SELECT COUNT(*) FROM resources_urls x LEFT JOIN resources r ON r.resource_id = x.resource_id WHERE r.resource_id IS NULL",
        ),
        (
            "resources_urls.url_id",
            "SELECT COUNT(*) FROM resources_urls x LEFT JOIN urls u ON u.url_id = x.url_id WHERE u.url_id IS NULL",
        ),
        (
            "problems.problem_parent_id",
            "SELECT COUNT(*) FROM problems c LEFT JOIN problems p ON p.problem_id = c.problem_parent_id WHERE c.problem_parent_id IS NOT NULL AND p.problem_id IS NULL",
        ),
        (
            "problems.problem_type_id",
            "SELECT COUNT(*) FROM problems p LEFT JOIN problem_types t ON t.problem_type_id = p.problem_type_id WHERE t.problem_type_id IS NULL",
        ),
        (
            "problems.resource_id",
            "SELECT COUNT(*) FROM problems p LEFT JOIN resources r ON r.resource_id = p.resource_id WHERE p.resource_id IS NOT NULL AND r.resource_id IS NULL",
        ),
    ];
    for (what, sql) in checks {
        let dangling: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        assert_eq!(dangling, 0, "{what} points nowhere in {dangling} row(s)");
    }
    // `observed_events.url_id`, a resource id, is also the id of the resource's address in
    // `urls`: the join MIT's and EDUlib's feature SQL make.
    let unaddressed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM observed_events o JOIN resources r ON r.resource_id = o.url_id \
         LEFT JOIN urls u ON u.url_id = o.url_id \
         WHERE u.url_id IS NULL OR u.url <> r.resource_uri",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        unaddressed, 0,
        "observed events whose url_id is not their resource's address in urls"
    );
    // `urls` is a dictionary: one row per URL text.
    let repeated: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT url FROM urls GROUP BY url HAVING COUNT(*) > 1) AS r",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(repeated, 0, "URL texts with more than one row in urls");
    // Exactly one root per hierarchy, and it is a real row.
    let roots: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM resources WHERE resource_parent_id IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(roots, 1);
}

#[tokio::test]
async fn foreign_keys_hold_on_the_sample() {
    let (url, _) = fresh_database("fk_sample").await;
    load(options(&url, &[&data("sample.log")])).await;
    let pool = pool(&url).await;
    assert!(count(&pool, "submissions").await > 0);
    assert!(count(&pool, "problems").await > 0);
    assert_foreign_keys_hold(&url).await;
}

#[tokio::test]
async fn foreign_keys_hold_on_the_conformance_inputs() {
    let Some(shared) = shared("foreign_keys_hold_on_the_conformance_inputs") else {
        return;
    };
    for input in [
        "conformance/set1_unit_test_events/input.json",
        "conformance/set2_tracking_log_20130609/input.log.gz",
    ] {
        let (url, _) = fresh_database("fk_conformance").await;
        let mut o = options(&url, &[&shared.join(input)]);
        o.max_bad_ratio = 1.0;
        load(o).await;
        assert_foreign_keys_hold(&url).await;
    }
}

fn event(user: &str, time: &str, page: &str) -> String {
    format!(
        r#"{{"username":"{user}","event_source":"browser","event_type":"play_video","time":"{time}","ip":"192.0.2.1","agent":"Mozilla/5.0","page":"https://courses.example.org/courses/A/B/C/courseware/u/{page}/","event":"{{\"id\":\"i4x-A-B-video-v1\",\"code\":\"c\"}}"}}"#
    )
}

async fn durations(url: &str) -> Vec<(String, String, Option<i32>)> {
    sqlx::query_as(
        "SELECT CAST(u.user_id AS CHAR), CAST(observed_event_timestamp AS CHAR), observed_event_duration \
         FROM observed_events u ORDER BY user_id, observed_event_timestamp",
    )
    .fetch_all(&pool(url).await)
    .await
    .unwrap()
}

/// The time of day and duration of each of `user`'s (an `anon_screen_name`) events in `d`.
fn durations_of(d: &[(String, String, Option<i32>)], user: &str) -> Vec<(String, Option<i32>)> {
    d.iter()
        .filter(|(u, _, _)| u == user)
        .map(|(_, t, d)| (t[11..19].to_string(), *d))
        .collect()
}

#[tokio::test]
async fn durations_are_seconds_to_the_users_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("durations.log");
    let lines = [
        // a: in order, a gap of 25 s, then 2 h (over --max-duration), then 2 days, then the last.
        event("a", "2026-01-01T10:00:00Z", "s1"),
        event("a", "2026-01-01T10:00:25Z", "s1"),
        event("a", "2026-01-01T12:00:25Z", "s1"),
        event("a", "2026-01-03T12:00:26Z", "s2"),
        // b: out of time order: 10:00:40 arrives after 10:01:00.
        event("b", "2026-01-01T10:00:00Z", "s1"),
        event("b", "2026-01-01T10:01:00Z", "s1"),
        event("b", "2026-01-01T10:00:40Z", "s1"),
        event("b", "2026-01-01T10:02:00Z", "s1"),
    ];
    std::fs::write(&log, lines.join("\n")).unwrap();
    let (url, _) = fresh_database("durations").await;
    load(options(&url, &[&log])).await;
    let d = durations(&url).await;
    let a = crate::anon("a");
    let b = crate::anon("b");
    let of = |user: &str| durations_of(&d, user);
    assert_eq!(
        of(&a),
        vec![
            ("10:00:00".into(), Some(25)),
            ("10:00:25".into(), Some(100)), // 2 h > 3600 s: the default duration
            ("12:00:25".into(), Some(100)), // 2 days: never wrapped to a day fraction
            ("12:00:26".into(), None),      // the user's latest event: not known yet
        ]
    );
    assert_eq!(
        of(&b),
        vec![
            ("10:00:00".into(), Some(60)),
            ("10:00:40".into(), Some(20)), // out of order: until the later event already seen
            ("10:01:00".into(), Some(60)),
            ("10:02:00".into(), None),
        ]
    );
    assert!(
        d.iter().all(|(_, _, x)| x.is_none_or(|x| x >= 0)),
        "never negative"
    );
}

#[tokio::test]
async fn an_idle_users_latest_event_gets_the_default_duration_in_batches_as_at_once() {
    // A user is idle once the latest event loaded is more than an hour and ten minutes past
    // what it was when the user was last seen: the staged event is written with the default
    // duration. `v` comes out of time order, after `u`'s later event: `v` was seen when the
    // latest event was 12:00, so `v` is not idle at 12:30 although `v`'s own event is 2.5 h
    // older. `i` is idle at 12:30.
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("tracking.log-1");
    let second = dir.path().join("tracking.log-2");
    let lines = [
        event("i", "2026-01-01T09:00:00Z", "s1"),
        event("i", "2026-01-01T09:10:00Z", "s1"),
        event("u", "2026-01-01T12:00:00Z", "s1"),
        event("v", "2026-01-01T10:00:00Z", "s1"),
    ];
    std::fs::write(&first, lines.join("\n")).unwrap();
    std::fs::write(&second, event("w", "2026-01-01T12:30:00Z", "s1")).unwrap();
    let (at_once, _) = fresh_database("idle_at_once").await;
    load(options(&at_once, &[&first, &second])).await;
    let (batched, _) = fresh_database("idle_batched").await;
    load(options(&batched, &[&first])).await;
    // After the first file alone, `i` (seen at 09:10, the latest event 12:00) is idle: 2 h 50
    // min; the others are not.
    let latest = |d: &[(String, String, Option<i32>)], user: &str| {
        durations_of(d, &anon(user)).pop().unwrap()
    };
    let d = durations(&batched).await;
    assert_eq!(latest(&d, "i"), ("09:10:00".into(), Some(100)));
    assert_eq!(latest(&d, "v"), ("10:00:00".into(), None));
    load(options(&batched, &[&second])).await;
    let d = durations(&at_once).await;
    assert_eq!(d, durations(&batched).await);
    assert_eq!(latest(&d, "i"), ("09:10:00".into(), Some(100)));
    assert_eq!(latest(&d, "u"), ("12:00:00".into(), None));
    assert_eq!(latest(&d, "v"), ("10:00:00".into(), None));
    assert_eq!(latest(&d, "w"), ("12:30:00".into(), None));
    assert_eq!(d.len(), 5);
}

fn anon(user: &str) -> String {
    moocdb_loader::identity::anon_screen_name(user)
}

/// One page visit of `user` at `time` (an implicit event of the LMS).
fn visit(user: &str, time: &str, path: &str) -> String {
    format!(
        r#"{{"username":"{user}","event_source":"server","event_type":"/courses/A/B/C/{path}","time":"{time}","ip":"192.0.2.1","agent":"Mozilla/5.0","page":null,"event":"{{}}","context":{{"course_id":"A/B/C"}}}}"#
    )
}

#[tokio::test]
async fn a_page_first_logged_under_a_module_has_one_url_row_its_resources_address() {
    // The page is logged without a trailing `/`, first with a video's event on it, then
    // visited: its URL is recorded with the video's resource below it, and the visit makes
    // the page itself the event's resource.
    let page = "https://courses.example.org/courses/A/B/C/info";
    let video = format!(
        r#"{{"username":"a","event_source":"browser","event_type":"play_video","time":"2026-01-01T10:00:00Z","ip":"192.0.2.1","agent":"Mozilla/5.0","page":"{page}","event":"{{\"id\":\"i4x-A-B-video-v1\",\"code\":\"c\"}}"}}"#
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("page.log");
    write_lines(&log, &[video, visit("a", "2026-01-01T10:01:00Z", "info")]);
    let (url, _) = fresh_database("page_after_module").await;
    load(options(&url, &[&log])).await;
    let pool = pool(&url).await;
    // Every URL is kept with a trailing `/` (qpipe's normal form), so the page's URL is a
    // level of the video's resource from the first event on.
    let normal = format!("{page}/");
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT url_id FROM urls WHERE url = ?")
        .bind(&normal)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the page's URL has one row: {rows:?}");
    let resource: i64 =
        sqlx::query_scalar("SELECT resource_id FROM resources WHERE resource_uri = ?")
            .bind(&normal)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows[0].0, resource,
        "the page's URL row is its resource's address"
    );
    let on_page: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM observed_events WHERE url_id = ?")
        .bind(resource)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(on_page, 1, "the visit happened on the page's resource");
    assert_foreign_keys_hold(&url).await;
}

/// The time each user spent per week on resources of the type with id `type_id`, as MIT's
/// DigitalLearnerQuantified computes its features 16 (lecture, 4), 17 (book, 3) and 18 (wiki,
/// 7): through `urls`, by the resource whose URI is the URL that `url_id` names.
async fn feature_seconds(pool: &sqlx::MySqlPool, type_id: i64) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT CAST(users.user_id AS CHAR), CAST(SUM(oe.observed_event_duration) AS SIGNED) \
         FROM users JOIN observed_events oe ON oe.user_id = users.user_id \
         JOIN urls ON urls.url_id = oe.url_id \
         JOIN resources ON resources.resource_uri = urls.url \
         WHERE resources.resource_type_id = ? AND oe.validity = 1 \
         GROUP BY users.user_id ORDER BY 1",
    )
    .bind(type_id)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_feature_sql_of_mit_finds_time_on_lectures_books_and_wikis() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("features.log");
    let lines = [
        event("a", "2026-01-01T10:00:00Z", "s1"),
        visit("a", "2026-01-01T10:00:30Z", "book/0/12"),
        visit("a", "2026-01-01T10:01:10Z", "wiki/A.B.C/Course_Wiki/"),
        visit("a", "2026-01-01T10:03:00Z", "info"),
        event("b", "2026-01-01T11:00:00Z", "s2"),
        visit("b", "2026-01-01T11:00:05Z", "info"),
    ];
    write_lines(&log, &lines);
    let (url, _) = fresh_database("feature_sql").await;
    load(options(&url, &[&log])).await;
    let pool = pool(&url).await;
    // The curation scripts that run first mark every event valid.
    sqlx::query("ALTER TABLE observed_events ADD COLUMN validity TINYINT NOT NULL DEFAULT 1")
        .execute(&pool)
        .await
        .unwrap();
    let (a, b) = (anon("a"), anon("b"));
    assert_eq!(
        feature_seconds(&pool, 4).await,
        vec![(a.clone(), 30), (b, 5)],
        "lecture"
    );
    assert_eq!(
        feature_seconds(&pool, 3).await,
        vec![(a.clone(), 40)],
        "book"
    );
    assert_eq!(feature_seconds(&pool, 7).await, vec![(a, 110)], "wiki");
}

#[tokio::test]
async fn course_id_keeps_one_course_of_a_multi_course_log() {
    let (url, _) = fresh_database("course_filter").await;
    let mut o = options(&url, &[&data("sample.log")]);
    o.course_id = Some("course-v1:DemoX+Loader201+2026_T1".into());
    let s = load(o).await;
    assert!(s.other_course_events > 50, "{s:?}");
    assert_eq!(s.lines, s.events + s.rejected + s.duplicates + s.skipped);
    let pool = pool(&url).await;
    let other: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM EdxTrackEvent WHERE page LIKE '%Loader101%' OR course_display_name LIKE '%Loader101%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(other, 0, "no event of the other course");
    let kept: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM EdxTrackEvent WHERE course_display_name = 'course-v1:DemoX+Loader201+2026_T1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(kept > 50);
}

/// A server event of a `course-v1` course at minute `minute`, with `event` as its payload.
fn modern_event(user: &str, minute: u32, event_type: &str, module: &str, event: &str) -> String {
    format!(
        r#"{{"username":"{user}","event_source":"server","event_type":"{event_type}","time":"2026-02-01T10:{minute:02}:00Z","ip":"192.0.2.1","agent":"Mozilla/5.0","page":"x_module","context":{{"course_id":"course-v1:A+B+C","user_id":5,"org_id":"A","module":{{"usage_key":"{module}"}}}},"event":{event}}}"#
    )
}

/// An assessment with its submission: problem, attempt, answer, grade, grader, feedback.
type Assessed = (String, i32, String, Option<f64>, String, Option<String>);

/// Grades that come after their submission, in the same file or a later run: a
/// `problem_rescore` assesses the learner's latest graded attempt again, and a peer assessment
/// grades the Open Response Assessment submission it names. Both end as one load gives.
#[tokio::test]
async fn later_grades_assess_their_submission_in_any_run() {
    let problem = "block-v1:A+B+C+type@problem+block@p1";
    let ora = "block-v1:A+B+C+type@openassessment+block@o1";
    let check = |minute: u32, correctness: &str| {
        modern_event(
            "learner",
            minute,
            "problem_check",
            problem,
            &format!(
                r#"{{"problem_id":"{problem}","attempts":{minute},"grade":0,"max_grade":1,"answers":{{"p1_2_1":"choice_{minute}"}},"correct_map":{{"p1_2_1":{{"correctness":"{correctness}"}}}}}}"#
            ),
        )
    };
    let first = [
        check(1, "incorrect"),
        check(2, "incorrect"),
        modern_event(
            "writer",
            3,
            "openassessmentblock.create_submission",
            ora,
            r#"{"submission_uuid":"0b9f3a4e-1111-4222-8333-944445555666","attempt_number":1,"answer":{"parts":[{"text":"My essay"}]}}"#,
        ),
    ];
    let second = [
        modern_event(
            "staff",
            9,
            "problem_rescore",
            problem,
            &format!(
                r#"{{"problem_id":"{problem}","student":"learner","new_score":1,"new_total":1,"correct_map":{{"p1_2_1":{{"correctness":"correct"}}}}}}"#
            ),
        ),
        modern_event(
            "reviewer",
            10,
            "openassessmentblock.peer_assess",
            ora,
            r#"{"submission_uuid":"0b9f3a4e-1111-4222-8333-944445555666","feedback":"Clear","parts":[{"criterion":{"points_possible":4},"option":{"points":3}}]}"#,
        ),
        modern_event(
            "reviewer",
            11,
            "openassessmentblock.peer_assess",
            ora,
            r#"{"submission_uuid":"00000000-0000-4000-8000-000000000000","parts":[]}"#,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (a, b, all) = (
        dir.path().join("a.log"),
        dir.path().join("b.log"),
        dir.path().join("all.log"),
    );
    std::fs::write(&a, first.join("\n")).unwrap();
    std::fs::write(&b, second.join("\n")).unwrap();
    std::fs::write(&all, [&first[..], &second[..]].concat().join("\n")).unwrap();
    let (split, _) = fresh_database("later_grades_split").await;
    load(options(&split, &[&a])).await;
    load(options(&split, &[&b])).await;
    let (whole, _) = fresh_database("later_grades_whole").await;
    load(options(&whole, &[&all])).await;
    for url in [&split, &whole] {
        let rows: Vec<Assessed> = sqlx::query_as(
            "SELECT p.problem_name, s.submission_attempt_number, s.submission_answer, \
                   a.assessment_grade, a.assessment_grader_id, a.assessment_feedback \
                 FROM assessments a JOIN submissions s USING (submission_id) \
                   JOIN problems p USING (problem_id) \
                 ORDER BY a.assessment_timestamp",
        )
        .fetch_all(&pool(url).await)
        .await
        .unwrap();
        let part = "i4x://A/B/problem/p1/2/1/".to_string();
        assert_eq!(
            rows,
            vec![
                (
                    part.clone(),
                    1,
                    "choice_1".into(),
                    Some(0.0),
                    "automatic".into(),
                    None
                ),
                (
                    part.clone(),
                    2,
                    "choice_2".into(),
                    Some(0.0),
                    "automatic".into(),
                    None
                ),
                // The rescore grades the latest attempt again.
                (
                    part,
                    2,
                    "choice_2".into(),
                    Some(1.0),
                    "rescore".into(),
                    None
                ),
                // The peer grades the essay; the assessment of an unknown submission is none.
                (
                    "i4x://A/B/openassessment/o1/".into(),
                    1,
                    "My essay".into(),
                    Some(0.75),
                    "peer".into(),
                    Some("Clear".into())
                ),
            ],
            "{url}"
        );
        assert_foreign_keys_hold(url).await;
    }
}

/// An event of the Learning MFE era at minute `minute`: `page` is the Learning MFE's page or the
/// LMS frame that renders a unit in it.
fn mfe_event(
    user: &str,
    minute: u32,
    course: &str,
    (event_type, source): (&str, &str),
    page: Option<&str>,
    event: serde_json::Value,
) -> String {
    serde_json::json!({
        "username": user,
        "event_source": source,
        "event_type": event_type,
        "time": format!("2024-03-01T10:{minute:02}:00.000000+00:00"),
        "ip": "192.0.2.1",
        "agent": "Mozilla/5.0",
        "host": "lms.example.org",
        "page": page,
        "context": {"course_id": course, "org_id": "OrgX", "user_id": 7, "path": "/event"},
        "event": event,
    })
    .to_string()
}

/// The Learning MFE shows a unit at `/learning/course/<course>/<sequential>/<unit>` on its own
/// host, and renders it in a frame, `/xblock/<unit>`, from the LMS: both name the unit, whose
/// legacy address is `/courses/<course>/jump_to/<unit>`. Its videos and problems are in it, in
/// the course's part of the tree (a rerun with the same block ids has its own), a graded
/// `problem_check` without a page happened on it, the LMS serving the frame is an event on the
/// unit, and each host's URL is kept in `urls`. The MFEs' tabs and forum are in the course too.
#[tokio::test]
async fn a_unit_of_the_learning_mfe_and_its_frame_are_one_resource_of_its_course() {
    let (first_run, rerun) = ("OrgX+CS101+2024_T1", "OrgX+CS101+2025_T1");
    let unit = |run: &str| format!("block-v1:{run}+type@vertical+block@7e71");
    let mfe_unit = format!(
        "https://apps.example.org/learning/course/course-v1:{first_run}/block-v1:{first_run}+type@sequential+block@5eq1/{}",
        unit(first_run)
    );
    let frame = |run: &str| {
        format!(
            "https://lms.example.org/xblock/{}?show_title=0&show_bookmark_button=0&recheck_access=1&view=student_view",
            unit(run)
        )
    };
    let (c1, c2) = (
        format!("course-v1:{first_run}"),
        format!("course-v1:{rerun}"),
    );
    let video = serde_json::json!(r#"{"id":"4v1d","code":"abc","currentTime":0}"#);
    let problem = format!("block-v1:{first_run}+type@problem+block@9b01");
    let lines = [
        mfe_event(
            "alice",
            1,
            &c1,
            ("edx.ui.lms.link_clicked", "browser"),
            Some(&mfe_unit),
            serde_json::json!({"current_url": mfe_unit, "target_url": "https://example.org/"}),
        ),
        mfe_event(
            "alice",
            2,
            &c1,
            ("play_video", "browser"),
            Some(&frame(first_run)),
            video.clone(),
        ),
        mfe_event(
            "alice",
            3,
            &c1,
            ("problem_check", "browser"),
            Some(&frame(first_run)),
            serde_json::json!("input_9b01_2_1=choice_1"),
        ),
        mfe_event(
            "alice",
            4,
            &c1,
            ("problem_check", "server"),
            None,
            serde_json::json!({
                "problem_id": problem, "attempts": 1, "grade": 1, "max_grade": 1,
                "answers": {"9b01_2_1": "choice_1"},
                "correct_map": {"9b01_2_1": {"correctness": "correct"}},
                "success": "correct", "state": {}, "submission": {}
            }),
        ),
        mfe_event(
            "alice",
            5,
            &c1,
            ("edx.ui.lms.link_clicked", "browser"),
            Some(&format!(
                "https://apps.example.org/learning/course/course-v1:{first_run}/progress"
            )),
            serde_json::json!({}),
        ),
        mfe_event(
            "alice",
            6,
            &c1,
            ("edx.ui.lms.link_clicked", "browser"),
            Some(&format!(
                "https://apps.example.org/discussions/course-v1:{first_run}/posts/5f2a"
            )),
            serde_json::json!({}),
        ),
        // The LMS serving the rerun's frame: a server event without a page.
        mfe_event(
            "bob",
            7,
            &c2,
            (&format!("/xblock/{}", unit(rerun)), "server"),
            None,
            serde_json::json!({"GET": {"view": ["student_view"]}, "POST": {}}),
        ),
        mfe_event(
            "bob",
            8,
            &c2,
            ("play_video", "browser"),
            Some(&frame(rerun)),
            video,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracking.log");
    write_lines(&log, &lines);
    let (url, _) = fresh_database("learning_mfe").await;
    load(options(&url, &[&log])).await;
    let pool = pool(&url).await;

    let events: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT o.user_id, r.resource_uri, t.resource_type_content, t.resource_type_medium \
         FROM observed_events o \
           JOIN resources r ON r.resource_id = o.url_id JOIN resource_types t USING (resource_type_id) \
         ORDER BY o.observed_event_timestamp",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let at = |run: &str| {
        format!(
            "https://lms.example.org/courses/{}/jump_to/i4x://OrgX/CS101/vertical/7e71/",
            run.replace('+', "/")
        )
    };
    let event = |user: &str, uri: String, content: &str, medium: &str| {
        (anon(user), uri, content.to_string(), medium.to_string())
    };
    let expected = [
        event("alice", at(first_run), "", ""),
        event(
            "alice",
            at(first_run) + "video/4v1d/_abc",
            "lecture",
            "video",
        ),
        event(
            "alice",
            "https://lms.example.org/courses/OrgX/CS101/2024_T1/progress/".into(),
            "informational",
            "text",
        ),
        event(
            "alice",
            "https://lms.example.org/courses/OrgX/CS101/2024_T1/discussion/posts/5f2a/".into(),
            "forum",
            "text",
        ),
        event("bob", at(rerun), "", ""),
        event("bob", at(rerun) + "video/4v1d/_abc", "lecture", "video"),
    ];
    assert_eq!(events, expected, "observed events and their resources");

    // Both checks of the problem: one problem, on a resource of the unit.
    let submissions: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.problem_name, r.resource_uri FROM submissions s JOIN problems p USING (problem_id) \
           JOIN resources r ON r.resource_id = p.resource_id ORDER BY s.submission_timestamp",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let checked = (
        "i4x://OrgX/CS101/problem/9b01/2/1/".to_string(),
        at(first_run) + "problem/9b01/2/1/",
    );
    assert_eq!(submissions, [checked.clone(), checked]);
    let unknown: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM resources WHERE resource_uri LIKE 'https://unknown/%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unknown, 0, "every event's page is known");

    // The unit's URLs, each as logged, are linked to its resource and those in it.
    let linked: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT u.url FROM resources_urls l JOIN urls u USING (url_id) \
           JOIN resources r USING (resource_id) \
         WHERE LEFT(r.resource_uri, CHAR_LENGTH(?)) = ? ORDER BY u.url",
    )
    .bind(at(first_run))
    .bind(at(first_run))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        linked,
        [
            format!("{mfe_unit}/"),
            format!("https://lms.example.org/xblock/{}/", unit(first_run)),
        ]
    );
}

/// A server `problem_check` is logged with the page `x_module`; its `referer` is the courseware
/// page the learner checked the problem on. That is where it happened, even when the learner's
/// last event was on another unit, or long ago (qpipe's inheritance then gave
/// `https://unknown/…`, or the other unit). A referer outside the courseware (the dashboard) is
/// not a place: location inheritance applies as before.
#[tokio::test]
async fn a_server_check_happened_on_the_courseware_page_it_came_from() {
    let course = "OrgX+CS101+2024_T1";
    let courseware = |sequential: &str| {
        format!("https://lms.example.org/courses/course-v1:{course}/courseware/ch1/{sequential}/")
    };
    // Each learner checks a problem of their own: a problem's resource is where it was first seen.
    let check = |user: &str, minute: u32, referer: &str| {
        let block = format!("9b0{minute}");
        let mut line: serde_json::Value = serde_json::from_str(&mfe_event(
            user,
            minute,
            &format!("course-v1:{course}"),
            ("problem_check", "server"),
            Some("x_module"),
            serde_json::json!({
                "problem_id": format!("block-v1:{course}+type@problem+block@{block}"),
                "attempts": 1, "grade": 1, "max_grade": 1,
                "answers": {format!("{block}_2_1"): "choice_1"},
                "correct_map": {format!("{block}_2_1"): {"correctness": "correct"}},
                "success": "correct", "state": {}, "submission": {}
            }),
        ))
        .unwrap();
        line["referer"] = referer.into();
        line.to_string()
    };
    let lines = [
        // Alice was on another unit a minute before.
        mfe_event(
            "alice",
            1,
            &format!("course-v1:{course}"),
            ("seq_goto", "browser"),
            Some(&format!("{}3", courseware("other"))),
            serde_json::json!({"old": 1, "new": 3, "id": "x"}),
        ),
        check("alice", 2, &courseware("sq1")),
        // Bob's first event.
        check("bob", 3, &courseware("sq1")),
        // Carol came from the dashboard after a unit's page.
        mfe_event(
            "carol",
            4,
            &format!("course-v1:{course}"),
            ("seq_goto", "browser"),
            Some(&format!("{}2", courseware("sq1"))),
            serde_json::json!({"old": 1, "new": 2, "id": "x"}),
        ),
        check("carol", 5, "https://lms.example.org/dashboard"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracking.log");
    write_lines(&log, &lines);
    let (url, _) = fresh_database("server_check_referer").await;
    load(options(&url, &[&log])).await;
    let pool = pool(&url).await;
    let checked: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.user_id, r.resource_uri FROM submissions s JOIN problems p USING (problem_id) \
           JOIN resources r ON r.resource_id = p.resource_id ORDER BY s.submission_timestamp",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let on = |page: &str, minute: u32| format!("{page}problem/9b0{minute}/2/1/");
    let sq1 = "https://lms.example.org/courses/OrgX/CS101/2024_T1/courseware/ch1/sq1/";
    assert_eq!(
        checked,
        [
            (anon("alice"), on(&format!("{sq1}_/"), 2)),
            (anon("bob"), on(&format!("{sq1}_/"), 3)),
            (anon("carol"), on(&format!("{sq1}2/"), 5)),
        ]
    );
}

/// A generated log of today's LMS (the Learning MFE, its frames, `course-v1` keys, bare video and
/// answer ids) loads into the tree of its courses: no resource is named by an MFE or frame
/// address, every video is a lecture/video resource of a unit of its course, and every answered
/// server check is a submission of a problem in a unit.
#[tokio::test]
async fn a_generated_log_of_the_learning_mfe_loads_into_its_courses() {
    use moocdb_loader::generate::{GeneratorOptions, LogEra, generate};
    let generated = GeneratorOptions {
        events: 3_000,
        users: 40,
        courses: 3,
        days: 2,
        era: LogEra::LearningMfe,
        ..GeneratorOptions::default()
    };
    let mut log_text = Vec::new();
    generate(&generated, &mut log_text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracking.log");
    std::fs::write(&log, &log_text).unwrap();
    let (url, _) = fresh_database("generated_learning_mfe").await;
    load(options(&url, &[&log])).await;
    let pool = pool(&url).await;

    let outside: Vec<String> = sqlx::query_scalar(
        "SELECT resource_uri FROM resources \
         WHERE resource_uri NOT LIKE 'https://courses.example.org/courses/SynthX_/CS10_/2026\\_T1/%' \
         ORDER BY resource_uri",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        outside,
        [
            "https://",
            "https://courses.example.org/",
            "https://courses.example.org/courses/",
            "https://courses.example.org/courses/SynthX0/",
            "https://courses.example.org/courses/SynthX0/CS101/",
            "https://courses.example.org/courses/SynthX1/",
            "https://courses.example.org/courses/SynthX1/CS102/",
            "https://courses.example.org/courses/SynthX2/",
            "https://courses.example.org/courses/SynthX2/CS103/",
            "https://courses.example.org/heartbeat/",
            // Enrollments: server events of no page.
            "https://unknown/",
        ],
        "only the site's levels above its courses, the heartbeat and enrollments"
    );
    let misplaced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM resources r JOIN resource_types t USING (resource_type_id) \
         WHERE (t.resource_type_content = 'lecture') \
           <> (r.resource_uri LIKE '%/jump_to/i4x://%/vertical/%/video/%/\\_v%')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        misplaced, 0,
        "a resource is a lecture exactly when it is a video (and code) of a unit"
    );
    let videos: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM resources WHERE resource_uri LIKE '%/video/%/\\_v%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(videos > 0, "videos were played");

    let text = String::from_utf8(log_text).unwrap();
    let answered = text
        .lines()
        .filter(|l| l.contains(r#""event_type":"problem_check""#))
        .map(|l| {
            if l.contains(r#""event_source":"server""#) {
                1
            } else {
                2
            }
        })
        .sum::<i64>();
    let submissions: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(r.resource_uri LIKE '%/jump_to/i4x://%/vertical/%/problem/%') AS SIGNED) \
         FROM submissions s JOIN problems p USING (problem_id) \
           JOIN resources r ON r.resource_id = p.resource_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        submissions,
        [(answered, answered)],
        "one submission per answer, each of a problem in a unit"
    );
}

#[tokio::test]
async fn a_database_whose_urls_were_numbered_on_their_own_keeps_that_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first.log"), dir.path().join("second.log"));
    write_lines(
        &first,
        &[
            event("a", "2026-01-01T10:00:00Z", "s1"),
            visit("a", "2026-01-01T10:00:30Z", "book/0/12"),
        ],
    );
    write_lines(
        &second,
        &[
            event("b", "2026-01-02T10:00:00Z", "s2"),
            visit("b", "2026-01-02T10:00:30Z", "wiki/A.B.C/Course_Wiki/"),
            visit("b", "2026-01-02T10:01:00Z", "book/0/12"),
        ],
    );
    let (url, _) = fresh_database("urls_on_their_own").await;
    load(options(&url, &[&first])).await;
    let pool = pool(&url).await;
    // What a database loaded before `urls` shared the numbering of `resources` holds: the URLs
    // of pages only, numbered 1, 2, … in order, and no setting `urls_numbering`.
    let mut conn = pool.acquire().await.unwrap();
    for sql in [
        "SET foreign_key_checks = 0",
        "DELETE u FROM urls u WHERE NOT EXISTS \
         (SELECT 1 FROM resources_urls l WHERE l.url_id = u.url_id)",
        "CREATE TABLE renumbered AS \
         SELECT url_id AS old_id, ROW_NUMBER() OVER (ORDER BY url_id) AS new_id FROM urls",
        "UPDATE urls u JOIN renumbered m ON m.old_id = u.url_id SET u.url_id = -m.new_id",
        "UPDATE urls SET url_id = -url_id",
        "UPDATE resources_urls l JOIN renumbered m ON m.old_id = l.url_id SET l.url_id = m.new_id",
        "DROP TABLE renumbered",
        "DELETE FROM moocdb_loader_settings WHERE name = 'urls_numbering'",
        "SET foreign_key_checks = 1",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    drop(conn);
    let before = count(&pool, "urls").await;
    load(options(&url, &[&second])).await;
    let (urls, largest): (i64, i64) = sqlx::query_as("SELECT COUNT(*), MAX(url_id) FROM urls")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(urls > before, "the second file's URLs were added");
    assert_eq!(
        largest, urls,
        "the URLs are still numbered 1, 2, … on their own"
    );
    let setting: Option<String> = sqlx::query_scalar(
        "SELECT value FROM moocdb_loader_settings WHERE name = 'urls_numbering'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(setting, None);
    let dangling: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM resources_urls l LEFT JOIN urls u ON u.url_id = l.url_id \
         WHERE u.url_id IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(dangling, 0);
}
