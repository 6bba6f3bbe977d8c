//! Facts that edX's own analytics pipeline computes from the corpus logs
//! (`shared/oracles/edx-analytics-pipeline/`), computed here the way a researcher would: plain
//! SQL over the MOOCdb tables a load of the same log gives. Each known difference is explained
//! in `docs/deviations.md` and asserted as such.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use moocdb_loader::identity::anon_screen_name;

/// A fresh database `name` holding `logs` (their comment lines rejected, as edX's parser rejects
/// them), only `course`'s events when one is named; its URL.
async fn loaded(name: &str, logs: &[&Path], course: Option<&str>) -> String {
    let (url, _) = fresh_database(name).await;
    let mut o = options(&url, logs);
    o.max_bad_ratio = 1.0;
    o.course_id = course.map(str::to_string);
    load(o).await;
    url
}

/// One row of edX's `problem_response` output, keyed by user and problem part.
#[derive(Debug)]
struct ProblemResponse {
    score: f64,
    max_score: f64,
    correct: Option<bool>,
    answer: String,
    total_attempts: i64,
    first_attempt: String,
    last_attempt: String,
}

/// Reads edX's `problem_response` CSVs: (anonymised user, problem part as MOOCdb names it) →
/// the row. The part is `i4x://Org/Course/problem/<block>/2/1/` for answer id `<block>_2_1` of
/// `block-v1:Org+Course+Run+type@problem+block@<block>`.
fn problem_responses(dir: &Path) -> BTreeMap<(String, String), ProblemResponse> {
    let mut rows = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
        for line in lines {
            // `location` holds no commas in these files; `answer` is the one column after it
            // that could, and is read from the right.
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{line}");
            let problem = cells[at("problem_id")];
            let body = problem.split_once(':').unwrap().1;
            let parts: Vec<&str> = body.split('+').collect();
            let answer_id = cells[at("answer_id")];
            let (block, levels) = answer_id.split_once('_').unwrap();
            let part = format!(
                "i4x://{}/{}/problem/{block}/{}/",
                parts[0],
                parts[1],
                levels.replace('_', "/")
            );
            let correct = match cells[at("correct")] {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            };
            rows.insert(
                (anon_screen_name(cells[at("username")]), part),
                ProblemResponse {
                    score: cells[at("score")].parse().unwrap(),
                    max_score: cells[at("max_score")].parse().unwrap(),
                    correct,
                    answer: cells[at("answer")].to_string(),
                    total_attempts: cells[at("total_attempts")].parse().unwrap(),
                    first_attempt: cells[at("first_attempt_date")].trim_end_matches('Z').into(),
                    last_attempt: cells[at("last_attempt_date")].trim_end_matches('Z').into(),
                },
            );
        }
    }
    rows
}

/// Attempts per user and problem part are the graded submissions (a server `problem_check`
/// each: `submission_attempt_number > 0`), each assessed; the last one's grade is the score.
/// edX's output covers one day, 2016-09-07, of a log that spans three.
#[tokio::test]
async fn problem_responses_are_graded_submissions() {
    let Some(shared) = shared("problem_responses_are_graded_submissions") else {
        return;
    };
    let log = shared.join("corpus/edx-analytics-pipeline/problem_response_tracking.log");
    let expected =
        problem_responses(&shared.join("oracles/edx-analytics-pipeline/problem_response"));
    assert_eq!(expected.len(), 16);
    let url = loaded("oracle_problem_response", &[&log], None).await;
    let pool = pool(&url).await;
    type Attempts = (String, String, i64, i64, String, String);
    let attempts: Vec<Attempts> = sqlx::query_as(
        "SELECT s.user_id, p.problem_name, COUNT(*), COUNT(a.assessment_id), \
           DATE_FORMAT(MIN(s.submission_timestamp), '%Y-%m-%dT%H:%i:%s'), \
           DATE_FORMAT(MAX(s.submission_timestamp), '%Y-%m-%dT%H:%i:%s') \
         FROM submissions s JOIN problems p USING (problem_id) \
           LEFT JOIN assessments a ON a.submission_id = s.submission_id \
         WHERE s.submission_attempt_number > 0 \
           AND s.submission_timestamp >= '2016-09-07' AND s.submission_timestamp < '2016-09-08' \
         GROUP BY s.user_id, p.problem_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let last: Vec<(String, String, String, Option<f64>)> = sqlx::query_as(
        "SELECT s.user_id, p.problem_name, s.submission_answer, a.assessment_grade \
         FROM submissions s JOIN problems p USING (problem_id) \
           LEFT JOIN assessments a ON a.submission_id = s.submission_id \
         WHERE s.submission_attempt_number > 0 AND s.submission_timestamp = ( \
           SELECT MAX(t.submission_timestamp) FROM submissions t \
           WHERE t.user_id = s.user_id AND t.problem_id = s.problem_id \
             AND t.submission_attempt_number > 0 AND t.submission_timestamp < '2016-09-08')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let last: BTreeMap<(String, String), (String, Option<f64>)> = last
        .into_iter()
        .map(|(u, p, answer, grade)| ((u, p), (answer, grade)))
        .collect();
    let mut found = 0;
    for (user, part, count, assessed, first, latest) in attempts {
        let key = (user, part);
        let Some(e) = expected.get(&key) else {
            panic!("{key:?}: {count} attempts that edX does not list");
        };
        found += 1;
        assert_eq!(count, e.total_attempts, "{key:?}: attempts");
        assert_eq!(assessed, count, "{key:?}: every attempt is assessed");
        assert_eq!(first, e.first_attempt, "{key:?}: first attempt");
        assert_eq!(latest, e.last_attempt, "{key:?}: last attempt");
        let (answer, grade) = &last[&key];
        let grade = grade.expect("the last attempt is graded");
        assert_eq!(grade * e.max_score, e.score, "{key:?}: score");
        if let Some(correct) = e.correct {
            assert_eq!(grade == 1.0, correct, "{key:?}: correct");
        }
        // A choice is stored as submitted (its value); edX shows its label. Text is the same.
        if !answer.starts_with("choice_") {
            assert_eq!(answer, &e.answer, "{key:?}: answer");
        }
    }
    assert_eq!(found, expected.len(), "every row of edX's output is found");
}

/// The users of each video, by course and video id: `test_video.py`'s four videos of
/// `video_timeline.log`, two with legacy `i4x-…-video-…` ids and two with bare block ids under
/// `course-v1` courses. Each is a lecture/video resource under its own course. (Playback
/// positions, which edX's timeline is made of, are not in MOOCdb: they stay in `EdxTrackEvent`.)
#[tokio::test]
async fn videos_are_lectures_of_their_course() {
    let Some(shared) = shared("videos_are_lectures_of_their_course") else {
        return;
    };
    let log = shared.join("corpus/edx-analytics-pipeline/video_timeline.log");
    let url = loaded("oracle_video", &[&log], None).await;
    let pool = pool(&url).await;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT DISTINCT REGEXP_SUBSTR(r.resource_uri, '/courses/[^/]+/[^/]+/[^/]+/'), \
           REGEXP_SUBSTR(r.resource_uri, '/video/[^/]+/'), o.user_id \
         FROM observed_events o JOIN resources r ON r.resource_id = o.url_id \
           JOIN resource_types t ON t.resource_type_id = r.resource_type_id \
         WHERE o.observed_event_type_id = 'play_video' \
           AND t.resource_type_content = 'lecture' AND t.resource_type_medium = 'video'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut videos: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (course, video, user) in rows {
        videos.entry((course, video)).or_default().push(user);
    }
    for users in videos.values_mut() {
        users.sort();
    }
    let user = |n: u8| anon_screen_name(&format!("dummy_username_{n}"));
    let mut all = vec![user(1), user(2), user(3)];
    all.sort();
    let video = |course: &str, id: &str| (format!("/courses/{course}/"), format!("/video/{id}/"));
    let expected: BTreeMap<(String, String), Vec<String>> = [
        (
            video("edX/DemoX/Demo_Course", "3cb54a11efae4ccc8a0aade24d14b255"),
            all,
        ),
        (
            video("edX/DemoX/Demo_Course", "8c0028eb2a724f48a074bc184cd8635f"),
            vec![user(1)],
        ),
        (
            video("edX/DemoX/Test_2014", "0b9e39477cf34507a7a48f74be381fdd"),
            vec![user(1)],
        ),
        (
            video("edX/DemoX/Test_2015", "0b9e39477cf34507a7a48f74be381fdd1"),
            vec![user(1)],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(videos, expected);
}

/// The counts a researcher computes per user and period from one course's database.
///
/// * days active: distinct days with an observed event on a course page (or a graded attempt);
/// * unique problems attempted, total attempts, unique problems correct: graded submissions
///   (`submission_attempt_number > 0`) by problem block; an attempt is correct when every part
///   it answered is assessed 1;
/// * unique videos played: distinct video ids of `play_video` events' resources;
/// * textbook pages viewed: `book` events;
/// * discussion posts, responses and comments: `collaborations` of types 1, 2 and 3 (a
///   contribution is active on its day too, as the observed event it also is).
const ENGAGEMENT: &str = "
WITH
graded AS (
  SELECT s.user_id, s.submission_timestamp ts,
         REGEXP_SUBSTR(p.problem_name, '^i4x://[^/]+/[^/]+/[^/]+/[^/]+') AS block,
         a.assessment_grade grade
  FROM submissions s JOIN problems p USING (problem_id)
    LEFT JOIN assessments a USING (submission_id)
  WHERE s.submission_attempt_number > 0
    AND s.submission_timestamp >= '2015-04-06' AND s.submission_timestamp < '2015-04-20'),
attempts AS (
  SELECT user_id, block, ts, (COUNT(grade) = COUNT(*) AND MIN(grade) = 1) correct
  FROM graded GROUP BY user_id, block, ts),
seen AS (
  SELECT o.user_id, o.observed_event_timestamp ts, o.observed_event_type_id type,
         r.resource_uri uri
  FROM observed_events o JOIN resources r ON r.resource_id = o.url_id
  WHERE o.observed_event_timestamp >= '2015-04-06' AND o.observed_event_timestamp < '2015-04-20'),
facts AS (
  SELECT user_id, ts, 'active' kind, NULL what FROM seen
    WHERE uri LIKE '%/courses/%' OR type LIKE 'edx.forum.%'
  UNION ALL SELECT user_id, ts, 'attempt', block FROM attempts
  UNION ALL SELECT user_id, ts, 'correct', block FROM attempts WHERE correct
  UNION ALL SELECT user_id, ts, 'video', REGEXP_SUBSTR(uri, '/video(alpha)?/[^/]+')
    FROM seen WHERE type = 'play_video'
  UNION ALL SELECT user_id, ts, 'book', NULL FROM seen WHERE type = 'book'
  UNION ALL SELECT user_id, collaboration_timestamp, CONCAT('forum', collaboration_type_id), NULL
    FROM collaborations WHERE collaboration_type_id IN (1, 2, 3)
      AND collaboration_timestamp >= '2015-04-06' AND collaboration_timestamp < '2015-04-20'),
periods AS (
  SELECT facts.*, CASE ?
    WHEN 'daily' THEN DATE(ts)
    WHEN 'weekly' THEN DATE(ts) + INTERVAL ((8 - DAYOFWEEK(ts)) % 7) DAY
    ELSE DATE('2015-04-19') END period
  FROM facts)
SELECT DATE_FORMAT(period, '%Y-%m-%d'), user_id,
  COUNT(DISTINCT DATE(ts)),
  COUNT(DISTINCT CASE WHEN kind = 'attempt' THEN what END),
  CAST(SUM(kind = 'attempt') AS SIGNED),
  COUNT(DISTINCT CASE WHEN kind = 'correct' THEN what END),
  COUNT(DISTINCT CASE WHEN kind = 'video' THEN what END),
  CAST(SUM(kind = 'book') AS SIGNED),
  CAST(SUM(kind = 'forum1') AS SIGNED),
  CAST(SUM(kind = 'forum2') AS SIGNED),
  CAST(SUM(kind = 'forum3') AS SIGNED)
FROM periods GROUP BY period, user_id";

/// A row of [`ENGAGEMENT`]: period, user, then the nine counts.
type EngagementRow = (String, String, i64, i64, i64, i64, i64, i64, i64, i64, i64);

/// `student_engagement`'s columns that MOOCdb's observing and submitting tables hold, per
/// course, user and period (day, week ending Sunday, the whole interval), for the three courses
/// of `student_engagement_acceptance_tracking.log`, each loaded into its own database. edX
/// lists only enrolled users (MOOCdb knows no enrolment): its rows are compared, and a user it
/// lists with no activity has none here. Votes are compared on `student_forum_activity.log`,
/// the log edX's vote counts come from.
#[tokio::test]
async fn student_engagement_matches_per_course_and_period() {
    let Some(shared) = shared("student_engagement_matches_per_course_and_period") else {
        return;
    };
    let log =
        shared.join("corpus/edx-analytics-pipeline/student_engagement_acceptance_tracking.log");
    let expected_dir = shared.join("oracles/edx-analytics-pipeline/student_engagement/expected");
    let columns = [
        "Unique Problems Attempted",
        "Total Problem Attempts",
        "Unique Problems Correct",
        "Unique Videos Played",
        "Textbook Pages Viewed",
        "Discussion Posts",
        "Discussion Responses",
        "Discussion Comments",
    ];
    let mut databases: BTreeMap<String, String> = BTreeMap::new();
    let mut compared = 0;
    for period in ["all", "weekly", "daily"] {
        for course_dir in std::fs::read_dir(expected_dir.join(period)).unwrap() {
            for file in std::fs::read_dir(course_dir.unwrap().path()).unwrap() {
                let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
                let mut lines = text.lines();
                let header: Vec<&str> = lines.next().unwrap().split(',').collect();
                let at = |name: &str| header.iter().position(|h| *h == name);
                let days = at("Days Active")
                    .or(at("Days Active This Week"))
                    .or(at("Was Active"))
                    .unwrap();
                let date = at("End Date").or(at("Date")).unwrap();
                for line in lines {
                    let cells: Vec<&str> = line.split(',').collect();
                    let course = cells[at("Course ID").unwrap()].to_string();
                    if !databases.contains_key(&course) {
                        let n = databases.len();
                        let name = format!("oracle_engagement_{n}");
                        let url = loaded(&name, &[&log], Some(&course)).await;
                        databases.insert(course.clone(), url);
                    }
                    let pool = pool(&databases[&course]).await;
                    let ours: Vec<EngagementRow> = sqlx::query_as(ENGAGEMENT)
                        .bind(period)
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    let user = anon_screen_name(cells[at("Username").unwrap()]);
                    let row = ours
                        .iter()
                        .find(|r| r.0 == cells[date] && r.1 == user)
                        .map(|r| [r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10])
                        .unwrap_or_default();
                    let theirs: Vec<i64> = std::iter::once(days)
                        .chain(columns.iter().map(|c| at(c).unwrap()))
                        .map(|i| cells[i].parse().unwrap())
                        .collect();
                    assert_eq!(
                        row.to_vec(),
                        theirs,
                        "{period} {course} {} {}: days, problems attempted, attempts, \
                         problems correct, videos, textbook pages, discussion posts, \
                         responses, comments",
                        cells[date],
                        cells[at("Username").unwrap()]
                    );
                    compared += 1;
                    pool.close().await;
                }
            }
        }
    }
    // Every row of edX's 20 files (the days without activity have none).
    assert_eq!(compared, 62, "rows compared");
}

/// Day, course, user, entity type, entity, action, count.
type ModuleEngagementRow = (String, String, String, String, String, String, i64);

/// `test_module_engagement.py`'s rows: per day, course, user and entity, the problem attempts
/// (graded submissions by block), problems completed (attempts every part of which is assessed
/// 1), videos viewed (`play_video` events by video id) and discussion contributions (posts,
/// responses and comments in `collaborations`, by day and user; their discussion is their
/// resource, which edX names by its `commentable_id`),
/// from the logs of 2015-04-13 and 2015-04-16, one database per course. edX's anonymous row
/// (an empty username, kept as `ANONYMOUS USER` in one of its cases) is the user whose name
/// is empty here.
#[tokio::test]
async fn module_engagement_matches_per_course() {
    let Some(shared) = shared("module_engagement_matches_per_course") else {
        return;
    };
    let logs = [
        "module_engagement_acceptance_tracking_20150413.log",
        "module_engagement_acceptance_tracking_20150416.log",
    ]
    .map(|f| shared.join("corpus/edx-analytics-pipeline").join(f));
    const P: &str = "i4x://edX/DemoX/problem/";
    const V: &str = "8c0028eb2a724f48a074bc184cd8635f";
    let expected: &[(&str, &str, &str, &str, &str, &str, i64)] = &[
        (
            "2015-04-13",
            "course-v1:edX+DemoX+Demo_Course_2015",
            "honor",
            "discussion",
            "",
            "contributed",
            3,
        ),
        (
            "2015-04-13",
            "course-v1:edX+DemoX+Demo_Course_2015",
            "honor",
            "video",
            V,
            "viewed",
            1,
        ),
        (
            "2015-04-13",
            "edX/DemoX/Demo_Course",
            "honor",
            "video",
            V,
            "viewed",
            2,
        ),
        (
            "2015-04-13",
            "edX/DemoX/Demo_Course_2",
            "honor",
            "video",
            V,
            "viewed",
            1,
        ),
        (
            "2015-04-13",
            "edX/DemoX/Demo_Course_2",
            "staff",
            "video",
            V,
            "viewed",
            1,
        ),
        (
            "2015-04-16",
            "course-v1:edX+DemoX+Demo_Course_2015",
            "honor",
            "discussion",
            "",
            "contributed",
            3,
        ),
        (
            "2015-04-16",
            "course-v1:edX+DemoX+Demo_Course_2015",
            "honor",
            "video",
            V,
            "viewed",
            1,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course",
            "honor",
            "discussion",
            "",
            "contributed",
            6,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course",
            "honor",
            "problem",
            "0d759dee4f9d459c8956136dbde55f02",
            "attempted",
            1,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course",
            "honor",
            "problem",
            "75f9562c77bc4858b61f907bb810d974",
            "attempted",
            2,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course",
            "honor",
            "problem",
            "75f9562c77bc4858b61f907bb810d974",
            "completed",
            1,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course",
            "honor",
            "problem",
            "a0effb954cca4759994f1ac9e9434bf4",
            "attempted",
            3,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course",
            "honor",
            "problem",
            "a0effb954cca4759994f1ac9e9434bf4",
            "completed",
            1,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course",
            "honor",
            "video",
            "0b9e39477cf34507a7a48f74be381fdd",
            "viewed",
            2,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course",
            "honor",
            "video",
            V,
            "viewed",
            1,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course_2",
            "honor",
            "discussion",
            "",
            "contributed",
            3,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course_2",
            "honor",
            "problem",
            "a0effb954cca4759994f1ac9e9434bf4",
            "attempted",
            1,
        ),
        (
            "2015-04-16",
            "edX/DemoX/Demo_Course_3",
            "",
            "video",
            V,
            "viewed",
            2,
        ),
    ];
    let mut courses: Vec<&str> = expected.iter().map(|e| e.1).collect();
    courses.dedup();
    courses.sort();
    courses.dedup();
    let mut theirs: Vec<ModuleEngagementRow> = expected
        .iter()
        .map(|&(day, course, user, kind, entity, action, n)| {
            let entity = match kind {
                "problem" => format!("{P}{entity}"),
                _ => entity.to_string(),
            };
            let user = anon_screen_name(user);
            (
                day.into(),
                course.into(),
                user,
                kind.into(),
                entity,
                action.into(),
                n,
            )
        })
        .collect();
    theirs.sort();
    let mut ours = Vec::new();
    for (n, course) in courses.iter().enumerate() {
        let name = format!("oracle_module_engagement_{n}");
        let url = loaded(&name, &[&logs[0], &logs[1]], Some(course)).await;
        let pool = pool(&url).await;
        let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
            "WITH attempts AS ( \
               SELECT s.user_id, s.submission_timestamp ts, \
                 REGEXP_SUBSTR(p.problem_name, '^i4x://[^/]+/[^/]+/[^/]+/[^/]+') block, \
                 (COUNT(a.assessment_grade) = COUNT(*) AND MIN(a.assessment_grade) = 1) correct \
               FROM submissions s JOIN problems p USING (problem_id) \
                 LEFT JOIN assessments a USING (submission_id) \
               WHERE s.submission_attempt_number > 0 \
               GROUP BY s.user_id, s.submission_timestamp, block), \
             seen AS ( \
               SELECT o.user_id, o.observed_event_timestamp ts, o.observed_event_type_id type, \
                 r.resource_uri uri \
               FROM observed_events o JOIN resources r ON r.resource_id = o.url_id) \
             SELECT DATE_FORMAT(ts, '%Y-%m-%d'), user_id, 'problem', block, 'attempted', COUNT(*) \
               FROM attempts GROUP BY 1, 2, 4 \
             UNION ALL SELECT DATE_FORMAT(ts, '%Y-%m-%d'), user_id, 'problem', block, 'completed', \
               COUNT(*) FROM attempts WHERE correct GROUP BY 1, 2, 4 \
             UNION ALL SELECT DATE_FORMAT(ts, '%Y-%m-%d'), user_id, 'video', \
               REGEXP_REPLACE(REGEXP_SUBSTR(uri, '/video(alpha)?/[^/]+'), '.*/', ''), 'viewed', \
               COUNT(*) FROM seen WHERE type = 'play_video' GROUP BY 1, 2, 4 \
             UNION ALL SELECT DATE_FORMAT(collaboration_timestamp, '%Y-%m-%d'), user_id, \
               'discussion', '', 'contributed', COUNT(*) FROM collaborations \
               WHERE collaboration_type_id IN (1, 2, 3) GROUP BY 1, 2",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        ours.extend(
            rows.into_iter()
                .map(|(day, user, kind, entity, action, n)| {
                    (day, course.to_string(), user, kind, entity, action, n)
                }),
        );
    }
    ours.sort();
    assert_eq!(ours, theirs);
}

/// `student_engagement`'s forum columns of `student_forum_activity.log` (edX's per-student
/// engagement test): per user, posts, responses and comments, up-votes given (an undone vote
/// counts -1) and up-votes received (the votes on the user's posts, through the vote's parent).
/// Every collaboration's user, type, parent and resource exists.
#[tokio::test]
async fn forum_activity_is_collaborations() {
    let Some(shared) = shared("forum_activity_is_collaborations") else {
        return;
    };
    let log = shared.join("corpus/edx-analytics-pipeline/student_forum_activity.log");
    let url = loaded("oracle_forum", &[&log], None).await;
    let pool = pool(&url).await;
    let ours: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT u.user_id, \
           (SELECT COUNT(*) FROM collaborations c WHERE c.user_id = u.user_id \
              AND c.collaboration_type_id = 1), \
           (SELECT COUNT(*) FROM collaborations c WHERE c.user_id = u.user_id \
              AND c.collaboration_type_id = 2), \
           (SELECT COUNT(*) FROM collaborations c WHERE c.user_id = u.user_id \
              AND c.collaboration_type_id = 3), \
           (SELECT CAST(COALESCE(SUM(CASE c.collaboration_content WHEN 'up' THEN 1 \
              WHEN 'undo up' THEN -1 ELSE 0 END), 0) AS SIGNED) FROM collaborations c \
              WHERE c.user_id = u.user_id AND c.collaboration_type_id = 5), \
           (SELECT CAST(COALESCE(SUM(CASE v.collaboration_content WHEN 'up' THEN 1 \
              WHEN 'undo up' THEN -1 ELSE 0 END), 0) AS SIGNED) \
              FROM collaborations v JOIN collaborations p \
                ON p.collaboration_id = v.collaboration_parent_id \
              WHERE p.user_id = u.user_id AND v.collaboration_type_id = 5) \
         FROM users u ORDER BY u.user_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut expected: Vec<(String, i64, i64, i64, i64, i64)> = [
        ("audit", 1, 0, 0, 3, 1),
        ("honor", 1, 1, 0, 0, 2),
        ("staff", 2, 0, 0, 1, 2),
        ("verified", 0, 0, 1, 1, 0),
    ]
    .into_iter()
    .map(|(u, a, b, c, d, e)| (anon_screen_name(u), a, b, c, d, e))
    .collect();
    expected.sort();
    assert_eq!(
        ours, expected,
        "posts, responses, comments, votes given, received"
    );
    for (what, sql) in [
        (
            "user",
            "SELECT COUNT(*) FROM collaborations c LEFT JOIN users u USING (user_id) \
             WHERE u.user_id IS NULL",
        ),
        (
            "type",
            "SELECT COUNT(*) FROM collaborations c LEFT JOIN collaboration_types t \
             USING (collaboration_type_id) WHERE t.collaboration_type_id IS NULL",
        ),
        (
            "parent",
            "SELECT COUNT(*) FROM collaborations c LEFT JOIN collaborations p \
             ON p.collaboration_id = c.collaboration_parent_id \
             WHERE c.collaboration_parent_id IS NOT NULL AND p.collaboration_id IS NULL",
        ),
        (
            "resource",
            "SELECT COUNT(*) FROM collaborations c LEFT JOIN resources r USING (resource_id) \
             WHERE r.resource_id IS NULL",
        ),
    ] {
        let dangling: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        assert_eq!(dangling, 0, "collaborations' {what} points nowhere");
    }
    // Every vote and reply found its parent, in its discussion's thread under the course.
    let unlinked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM collaborations WHERE collaboration_parent_forum_id IS NOT NULL \
         AND collaboration_parent_id IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unlinked, 0);
    let places: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT r.resource_uri, t.resource_type_content FROM collaborations c \
         JOIN resources r USING (resource_id) \
         JOIN resource_types t ON t.resource_type_id = r.resource_type_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!places.is_empty());
    for (uri, content) in places {
        assert!(
            uri.contains("/courses/ForumX/1/1/discussion/forum/") && content == "forum",
            "{uri}: {content}"
        );
    }
}
