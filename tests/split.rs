//! One pass, one database per course: `{course}` in the database name.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    assert_same_rows, count, data, fresh_database, options, pool, server_url, snapshot,
    statistics_rows, table_dump, write_lines,
};
use moocdb_loader::decode::{Decoded, decode};
use moocdb_loader::load::event_course;
use moocdb_loader::parse::TrackingEvent;
use moocdb_loader::schema::Table;
use sqlx::Executor;

/// A database URL with the course placeholder, for one test, its course databases dropped
/// first (a rerun reuses the names).
async fn fresh_split(test: &str) -> String {
    let prefix = format!("s_{test}_");
    drop_databases(server_url(), &prefix).await;
    format!("{}/{prefix}{{course}}", server_url())
}

/// The URL of one course database of a split.
fn course_url(split_url: &str, database: &str) -> String {
    let (server, _) = split_url.rsplit_once('/').unwrap();
    format!("{server}/{database}")
}

/// The sample log's course as another course, `Loader<number>`, its learners other learners.
fn as_course(lines: &[String], number: &str) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            l.replace("DemoX+Loader201+", &format!("DemoX+Loader{number}+"))
                .replace("DemoX/Loader201/", &format!("DemoX/Loader{number}/"))
                .replace("\"username\": \"", &format!("\"username\": \"c{number}"))
        })
        .collect()
}

/// Three courses' events interleaved in two daily files: the sample log's course
/// (`DemoX/Loader201/2026_T1`) and two copies of it as other courses.
fn three_course_files(dir: &Path) -> Vec<PathBuf> {
    let sample: Vec<String> = std::fs::read_to_string(data("sample.log"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let courses = [
        sample.clone(),
        as_course(&sample, "301"),
        as_course(&sample, "401"),
    ];
    let half = sample.len() / 2;
    (0..2)
        .map(|day| {
            let range = if day == 0 {
                0..half
            } else {
                half..sample.len()
            };
            let mut lines = Vec::new();
            for i in range {
                for course in &courses {
                    lines.push(course[i].clone());
                }
            }
            let path = dir.join(format!("tracking.log-2026030{}", day + 1));
            write_lines(&path, &lines);
            path
        })
        .collect()
}

/// The lines of `files` whose event is `course`'s (`None`: those that name no course), written
/// under `dir` with the same file names; the files with none of them are left out.
fn course_files(files: &[PathBuf], course: Option<&str>, dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    files
        .iter()
        .filter_map(|file| {
            let lines: Vec<String> = std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .filter(|l| match decode(l.as_bytes()) {
                    Decoded::Json(json) => TrackingEvent::parse(json)
                        .is_ok_and(|e| event_course(&e).as_deref() == course),
                    _ => false,
                })
                .map(str::to_string)
                .collect();
            if lines.is_empty() {
                return None;
            }
            let path = dir.join(file.file_name().unwrap());
            write_lines(&path, &lines);
            Some(path)
        })
        .collect()
}

/// The course's rows, as comparable between loads of different files: the load's file ids
/// left out.
async fn course_rows(url: &str) -> Vec<(String, Vec<String>)> {
    let public = pool(url).await;
    let mut out = Vec::new();
    for table in Table::ALL.iter().filter(|t| !t.is_private()) {
        let skip: &[&str] = match table {
            Table::LoadInfo => continue,
            Table::EdxTrackEvent => &["load_info_fk"],
            Table::Lines => &["file_id"],
            _ => &[],
        };
        out.push((
            table.name().to_string(),
            table_dump(&public, *table, skip).await,
        ));
    }
    out
}

fn load_split(
    url: &str,
    files: &[PathBuf],
    extra: &[&str],
    env: &[(&str, &str)],
) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moocdb"))
        .args(["load", "--json", "-q", "--database-url", url])
        .args(extra)
        .args(files)
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && env.is_empty() {
        eprintln!("the load failed: {stderr}");
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The `courses` of a load's `--json`: course → database.
fn courses_of(json: &str) -> Vec<(String, String, u64)> {
    let summary: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let courses = summary["courses"]
        .as_object()
        .expect("a split load lists its courses");
    courses
        .iter()
        .map(|(course, c)| {
            (
                course.clone(),
                c["database"].as_str().unwrap().to_string(),
                c["events"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Asserts that each course database of the split `url` of `files` holds what a `--course-id`
/// load of that course's lines alone gives, table by table.
async fn assert_each_course_as_alone(
    url_of: &dyn Fn(&str) -> String,
    files: &[PathBuf],
    courses: &[(String, String, u64)],
    domain: Option<&str>,
    dir: &Path,
) {
    for (course, database, events) in courses {
        let course = (!course.is_empty()).then_some(course.as_str());
        let alone = course_files(files, course, &dir.join(database));
        let (expected, _) = fresh_database("alone_expected").await;
        let summary = common::load(moocdb_loader::LoadOptions {
            course_id: course.map(str::to_string),
            // The site's domain, as a `--course-id` load of the whole log learns it.
            domain: domain.map(str::to_string),
            ..options(
                &expected,
                &alone.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
            )
        })
        .await;
        assert_eq!(summary.events, *events, "{database}");
        assert!(*events > 0, "{database}");
        let got = course_rows(&url_of(database)).await;
        let want = course_rows(&expected).await;
        for ((table, got), (_, want)) in got.iter().zip(&want) {
            assert_same_rows(got, want, &format!("{database}: table {table}"));
        }
    }
}

#[tokio::test]
async fn corpus_course_databases_hold_what_loads_of_each_course_alone_give() {
    let Some(shared) = common::shared("corpus_course_databases") else {
        return;
    };
    let corpus = shared.join("corpus/edx-analytics-pipeline");
    // Two days of a site's rotated log, and a log of seven courses with both key formats.
    let files: Vec<PathBuf> = [
        "module_engagement_acceptance_tracking_20150413.log",
        "module_engagement_acceptance_tracking_20150416.log",
        "problem_response_tracking.log",
        "video_timeline.log",
    ]
    .iter()
    .map(|f| corpus.join(f))
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_split("corpus").await;
    // The logs come from several sites: one domain for all, as a site's log has.
    let domain = "http://helga.local:8000";
    let (ok, json) = load_split(&url, &files, &["--domain", domain], &[]);
    assert!(ok, "the split load succeeds");
    let courses = courses_of(&json);
    assert!(courses.len() > 8, "{courses:?}");
    let url_of = |database: &str| course_url(&url, database);
    assert_each_course_as_alone(&url_of, &files, &courses, Some(domain), dir.path()).await;
}

#[tokio::test]
async fn each_course_database_holds_what_a_load_of_that_course_alone_gives() {
    let dir = tempfile::tempdir().unwrap();
    let files = three_course_files(dir.path());
    let url = fresh_split("alone").await;
    let (ok, json) = load_split(&url, &files, &[], &[]);
    assert!(ok, "the split load succeeds");
    let courses = courses_of(&json);
    let names: Vec<&str> = courses.iter().map(|(c, _, _)| c.as_str()).collect();
    // The sample log's pages of an older course (`DemoX/Loader101/2013_Spring`) come along.
    assert_eq!(
        names,
        [
            "",
            "DemoX/Loader101/2013_Spring",
            "DemoX/Loader201/2026_T1",
            "DemoX/Loader301/2026_T1",
            "DemoX/Loader401/2026_T1"
        ]
    );
    let databases: Vec<&str> = courses.iter().map(|(_, d, _)| d.as_str()).collect();
    assert_eq!(
        databases,
        [
            "s_alone_no_course",
            "s_alone_DemoX_Loader101_2013_Spring",
            "s_alone_DemoX_Loader201_2026_T1",
            "s_alone_DemoX_Loader301_2026_T1",
            "s_alone_DemoX_Loader401_2026_T1"
        ]
    );
    let summary: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    // The four course databases are new (the no-course one is the load's own), and were
    // prepared while the first events were read.
    assert_eq!(summary["created_course_databases"], 4, "{json}");
    assert!(summary["preparing_s"].as_f64() > Some(0.0), "{json}");
    let domain = summary["domain"].as_str();
    let url_of = |database: &str| course_url(&url, database);
    assert_each_course_as_alone(&url_of, &files, &courses, domain, dir.path()).await;
    // `status` with the same URL lists every course database with its files and rows.
    let out = Command::new(env!("CARGO_BIN_EXE_moocdb"))
        .args(["status", "--json", "--database-url", &url])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = status["databases"].as_array().unwrap();
    let listed_names: Vec<&str> = (listed.iter())
        .map(|d| d["database"].as_str().unwrap())
        .collect();
    let mut sorted = databases.clone();
    sorted.sort();
    assert_eq!(listed_names, sorted);
    for database in listed {
        // The files that gave the course events (the older course's pages are all in the first).
        let files = database["files"].as_array().unwrap().len();
        assert!(files == 2 || database["database"] == "s_alone_DemoX_Loader101_2013_Spring");
        // The sample's bad lines (one each per course copy) are kept with the no-course
        // database's rejects.
        let rejects = if database["database"] == "s_alone_no_course" {
            6
        } else {
            0
        };
        assert_eq!(database["rejects"], rejects, "{database}");
        let rows = database["rows"].as_array().unwrap();
        assert!(
            rows.iter()
                .any(|r| r[0] == "EdxTrackEvent" && r[1].as_i64() > Some(0))
        );
    }
    // A second run finds every file loaded.
    let (ok, json) = load_split(&url, &files, &[], &[]);
    assert!(ok);
    let summary: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(summary["skipped_files"], 2, "{json}");
    assert_eq!(summary["events"], 0, "{json}");
    assert_eq!(summary["created_course_databases"], 0, "{json}");
}

#[tokio::test]
async fn a_split_load_killed_mid_way_completes_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let files = three_course_files(dir.path());
    let clean = fresh_split("crash_clean").await;
    let (ok, json) = load_split(&clean, &files, &["--commit-group-mib", "0"], &[]);
    assert!(ok);
    let courses = courses_of(&json);
    let mut expected = Vec::new();
    for (_, database, _) in &courses {
        expected.push(snapshot(&course_url(&clean, database)).await);
    }
    // While a course's first event waits for its database (the crash hook has it wait however
    // soon the database is ready); mid-file; just before the first course database records the
    // first file; after some course databases recorded the first file and before the others
    // (and the no-course one) did; in the second file.
    for point in [
        "event-parked:1",
        "after-chunk:2",
        "before-commit:1",
        "before-commit:3",
        "before-commit:6",
    ] {
        let test = format!("crash_{}", point.replace([':', '-'], "_"));
        let url = fresh_split(&test).await;
        let (ok, _) = load_split(
            &url,
            &files,
            &["--commit-group-mib", "0"],
            &[("MOOCDB_CRASH_AT", point)],
        );
        assert!(!ok, "{point}: the crash hook fired");
        let (ok, _) = load_split(&url, &files, &["--commit-group-mib", "0"], &[]);
        assert!(ok, "{point}: the rerun succeeds");
        for ((_, database, _), want) in courses.iter().zip(&expected) {
            let database = database.replace("s_crash_clean_", &format!("s_{test}_"));
            let db_url = course_url(&url, &database);
            let got = snapshot(&db_url).await;
            for ((table, got), (_, want)) in got.iter().zip(want) {
                assert_same_rows(got, want, &format!("{point}: {database}: table {table}"));
            }
            let unfinished: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM moocdb_loader_files WHERE status <> 'loaded'",
            )
            .fetch_one(&pool(&db_url).await)
            .await
            .unwrap();
            assert_eq!(unfinished, 0, "{point}: {database}");
        }
    }
}

#[tokio::test]
async fn overlapping_files_give_each_event_once_in_every_course_database_past_the_exact_set() {
    let dir = tempfile::tempdir().unwrap();
    let files = three_course_files(dir.path());
    let read = |f: &Path| -> Vec<String> {
        (std::fs::read_to_string(f).unwrap().lines())
            .map(str::to_string)
            .collect()
    };
    let (first, second) = (read(&files[0]), read(&files[1]));
    // The second day's file as it would be if rotation had repeated the first day's last half.
    let repeated = first.len() - first.len() / 2;
    let overlapping = dir.path().join("tracking.log-20260302-overlapping");
    write_lines(
        &overlapping,
        &[&first[first.len() / 2..], &second[..]].concat(),
    );

    let clean = fresh_split("overlap_clean").await;
    let once = common::load(options(&clean, &[&files[0], &files[1]])).await;
    // An exact set of 10 lines: more than three course databases' lines of the first file (5
    // each), not their sum, so their sets move to the shared filter together when the file ends;
    // the repeated lines are then found through it and each course database's
    // `moocdb_loader_lines`.
    let url = fresh_split("overlap_small_set").await;
    let mut o = options(&url, &[&files[0], &overlapping]);
    o.recent_lines = 10;
    let twice = common::load(o).await;

    assert_eq!(twice.events, once.events, "each event is accepted once");
    assert_eq!(twice.lines, once.lines + repeated as u64);
    let not_loaded = |s: &moocdb_loader::LoadSummary| s.duplicates + s.skipped + s.rejected;
    assert_eq!(
        not_loaded(&twice) - not_loaded(&once),
        repeated as u64,
        "every repeated line is a duplicate or again not an event"
    );
    assert!(twice.duplicates > once.duplicates + repeated as u64 / 2);
    let (server, _) = url.rsplit_once('/').unwrap();
    let databases = databases_on(server, "s_overlap_small_set_").await;
    assert_eq!(
        databases,
        (databases_on(server, "s_overlap_clean_").await.iter())
            .map(|d| d.replace("s_overlap_clean_", "s_overlap_small_set_"))
            .collect::<Vec<_>>()
    );
    assert!(databases.len() >= 4, "{databases:?}");
    for database in databases.iter().filter(|d| !d.ends_with("_private")) {
        let got = course_rows(&course_url(&url, database)).await;
        let want = course_rows(&course_url(
            &clean,
            &database.replace("s_overlap_small_set_", "s_overlap_clean_"),
        ))
        .await;
        for ((table, got), (_, want)) in got.iter().zip(&want) {
            assert_same_rows(got, want, &format!("{database}: table {table}"));
        }
    }
}

#[tokio::test]
async fn courses_whose_names_collide_get_databases_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let sample: Vec<String> = std::fs::read_to_string(data("sample.log"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // `Loader.9` and `Loader_9` are both `Loader_9` in a database name.
    let dotted = as_course(&sample, ".9");
    let underscored = as_course(&sample, "_9");
    let first = dir.path().join("tracking.log-1");
    write_lines(&first, &dotted);
    let second = dir.path().join("tracking.log-2");
    write_lines(&second, &underscored);
    let url = fresh_split("collide").await;
    let (ok, json) = load_split(&url, std::slice::from_ref(&first), &[], &[]);
    assert!(ok);
    let plain = "s_collide_DemoX_Loader_9_2026_T1";
    assert!(
        courses_of(&json)
            .iter()
            .any(|(c, d, _)| c == "DemoX/Loader.9/2026_T1" && d == plain)
    );
    // The second course, in a later load, finds the name taken and gets the hashed one.
    let (ok, json) = load_split(&url, std::slice::from_ref(&second), &[], &[]);
    assert!(ok);
    let courses = courses_of(&json);
    let (_, hashed, events) = (courses.iter())
        .find(|(c, _, _)| c == "DemoX/Loader_9/2026_T1")
        .expect("the second course is loaded")
        .clone();
    assert!(
        hashed.starts_with(plain) && hashed.len() == plain.len() + 9,
        "{hashed}"
    );
    assert!(events > 0);
    // In one run too, the course that comes first keeps the plain name, though the other has
    // more events in the first lines (whose databases are prepared busiest first).
    let mixed: Vec<String> = (dotted.iter())
        .filter(|line| line.contains("Loader.9"))
        .take(3)
        .chain(&underscored)
        .cloned()
        .collect();
    let one_run = dir.path().join("tracking.log-mixed");
    write_lines(&one_run, &mixed);
    let one_run_url = fresh_split("collide_one_run").await;
    let (ok, json) = load_split(&one_run_url, std::slice::from_ref(&one_run), &[], &[]);
    assert!(ok);
    let one_run_plain = "s_collide_one_run_DemoX_Loader_9_2026_T1";
    let courses = courses_of(&json);
    let database_of = |course: &str| {
        (courses.iter())
            .find(|(c, _, _)| c == course)
            .map(|(_, d, _)| d.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        database_of("DemoX/Loader.9/2026_T1"),
        one_run_plain,
        "{json}"
    );
    assert!(
        database_of("DemoX/Loader_9/2026_T1").starts_with(&format!("{one_run_plain}_")),
        "{json}"
    );
    let courses_in = |db: String| {
        let url = course_url(&url, &db);
        async move {
            let pool = pool(&url).await;
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT course_display_name FROM EdxTrackEvent \
                 WHERE course_display_name <> '' ORDER BY 1",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    // Each holds only its own course's events.
    assert_eq!(
        courses_in(plain.to_string()).await,
        ["course-v1:DemoX+Loader.9+2026_T1"]
    );
    assert_eq!(
        courses_in(hashed.clone()).await,
        ["course-v1:DemoX+Loader_9+2026_T1"]
    );
    // Both courses again in one load: each keeps its database.
    let url2 = fresh_split("collide_again").await;
    let (ok, json) = load_split(&url2, &[first, second], &[], &[]);
    assert!(ok);
    let courses = courses_of(&json);
    let dbs: Vec<&str> = courses.iter().map(|(_, d, _)| d.as_str()).collect();
    assert!(
        dbs.contains(&"s_collide_again_DemoX_Loader_9_2026_T1"),
        "{dbs:?}"
    );
    // The two, the no-course database and the older course the sample's pages name.
    assert_eq!(dbs.len(), 4, "{dbs:?}");
}

#[tokio::test]
async fn a_changed_file_reloaded_into_a_split_replaces_its_rows_in_each_course_database() {
    let dir = tempfile::tempdir().unwrap();
    let files = three_course_files(dir.path());
    // Heartbeats are kept or not depending on the IP's earlier events (carried state, which a
    // reload does not rewind: docs/incremental.md): left out to compare rows exactly.
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let kept: Vec<String> = (text.lines())
            .filter(|l| !l.contains("/heartbeat"))
            .map(str::to_string)
            .collect();
        write_lines(file, &kept);
    }
    let url = fresh_split("reload").await;
    let (ok, _) = load_split(&url, &files, &[], &[]);
    assert!(ok);
    // The first file loses its first lines, of every course.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let kept: Vec<String> = text.lines().skip(6).map(str::to_string).collect();
    write_lines(&files[0], &kept);
    let first = files[0].to_str().unwrap();
    let (ok, json) = load_split(&url, &files, &["--reload", first], &[]);
    assert!(ok);
    let summary: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        summary["changed_files"].as_array().map(Vec::len),
        Some(0),
        "{json}"
    );
    let clean = fresh_split("reload_clean").await;
    let (ok, clean_json) = load_split(&clean, &files, &[], &[]);
    assert!(ok);
    for (_, database, _) in courses_of(&clean_json) {
        let name = database.replace("s_reload_clean_", "s_reload_");
        let (got, want) = (
            pool(&course_url(&url, &name)).await,
            pool(&course_url(&clean, &database)).await,
        );
        for table in [
            Table::EdxTrackEvent,
            Table::Answer,
            Table::CorrectMap,
            Table::InputState,
            Table::State,
            Table::Lines,
        ] {
            // downtime_for continues from the IPs' earlier events (carried state).
            let skip: &[&str] = match table {
                Table::EdxTrackEvent => &["downtime_for", "load_info_fk"],
                Table::Lines => &["file_id"],
                _ => &[],
            };
            assert_same_rows(
                &table_dump(&got, table, skip).await,
                &table_dump(&want, table, skip).await,
                &format!("{name}: table {}", table.name()),
            );
        }
    }
}

/// A second private server for the test of a split over two servers, on its own port and
/// directory (`scripts/db-server`), with the first server's account; `None`, with a visible
/// message, when it cannot be started here.
fn second_server() -> Option<String> {
    let port = "3318";
    let out = Command::new(common::repo().join("scripts/db-server"))
        .arg("ensure")
        .env_remove("DATABASE_URL")
        .env("MOOCDB_TEST_DB_NO_DOCKER", "1")
        .env("MOOCDB_TEST_DB_PORT", port)
        .env("MOOCDB_TEST_DB_BUFFER_POOL", "64M")
        .env(
            "MOOCDB_TEST_DB_DIR",
            common::repo().join("target/test-mariadb-second"),
        )
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "SKIPPED a_split_spreads_its_courses_over_two_servers: no second server could be \
             started: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let line = String::from_utf8(out.stdout).unwrap();
    let url = line.trim().trim_start_matches("export DATABASE_URL=");
    Some(url.rsplit_once('/').unwrap().0.to_string())
}

/// Drops the databases whose names start with `prefix` on `server`.
async fn drop_databases(server: &str, prefix: &str) {
    let mut conn =
        <sqlx::mysql::MySqlConnection as sqlx::Connection>::connect(&format!("{server}/mysql"))
            .await
            .unwrap();
    for name in databases_on(server, prefix).await {
        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE `{name}`")))
            .await
            .unwrap();
    }
}

/// The databases whose names start with `prefix` on `server`, sorted.
async fn databases_on(server: &str, prefix: &str) -> Vec<String> {
    let mut conn =
        <sqlx::mysql::MySqlConnection as sqlx::Connection>::connect(&format!("{server}/mysql"))
            .await
            .unwrap();
    let mut names: Vec<String> = sqlx::query_scalar("SHOW DATABASES")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    names.retain(|n| n.starts_with(prefix));
    names.sort();
    names
}

#[tokio::test]
async fn a_split_spreads_its_courses_over_two_servers() {
    let first = server_url();
    let Some(second) = second_server() else {
        return;
    };
    // Both servers take the same account: the URL names one.
    let parsed = url::Url::parse(first).unwrap();
    let (first_host, first_port) = (parsed.host_str().unwrap(), parsed.port().unwrap_or(3306));
    let second_parsed = url::Url::parse(&second).unwrap();
    if (parsed.username(), parsed.password())
        != (second_parsed.username(), second_parsed.password())
    {
        eprintln!(
            "SKIPPED a_split_spreads_its_courses_over_two_servers: the second server's account \
             is not the first one's"
        );
        return;
    }
    let prefix = "s_spread_";
    drop_databases(first, prefix).await;
    drop_databases(&second, prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let files = three_course_files(dir.path());
    // Course 301 on the second server, every other database on the first.
    let hosts = dir.path().join("course-hosts");
    std::fs::write(
        &hosts,
        format!(
            "# the second server\nDemoX_Loader301_* {}:{}\n* {first_host}:{first_port}\n",
            second_parsed.host_str().unwrap(),
            second_parsed.port().unwrap()
        ),
    )
    .unwrap();
    let mut url = parsed.clone();
    url.set_host(Some("{course}.courses.invalid")).unwrap();
    url.set_path(&format!("{prefix}{{course}}"));
    let url = url.as_str().replace("%7B", "{").replace("%7D", "}");
    let hosts_arg = hosts.to_str().unwrap();
    let (ok, json) = load_split(&url, &files, &["--course-hosts", hosts_arg], &[]);
    assert!(ok, "the split load succeeds: {json}");
    let courses = courses_of(&json);
    assert_eq!(courses.len(), 5, "{courses:?}");
    let on_second = "s_spread_DemoX_Loader301_2026_T1";
    assert_eq!(
        databases_on(&second, prefix).await,
        [on_second.to_string(), format!("{on_second}_private")]
    );
    let on_first = databases_on(first, prefix).await;
    assert_eq!(on_first.len(), 8, "{on_first:?}");
    assert!(!on_first.iter().any(|d| d.starts_with(on_second)));
    // Each course database, on its server, holds what a load of that course alone gives.
    let url_of = |database: &str| match database {
        d if d == on_second => format!("{second}/{d}"),
        d => format!("{first}/{d}"),
    };
    let summary: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let domain = summary["domain"].as_str();
    assert_each_course_as_alone(&url_of, &files, &courses, domain, dir.path()).await;
    // `status` with the same URL finds every course database on its server.
    let out = Command::new(env!("CARGO_BIN_EXE_moocdb"))
        .args(["status", "--json", "--database-url", &url])
        .args(["--course-hosts", hosts_arg])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut listed: Vec<&str> = (status["databases"].as_array().unwrap().iter())
        .map(|d| d["database"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = courses.iter().map(|(_, d, _)| d.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    // A second run finds every file loaded, in every course database on either server.
    let (ok, json) = load_split(&url, &files, &["--course-hosts", hosts_arg], &[]);
    assert!(ok);
    let summary: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(summary["skipped_files"], 2, "{json}");
    assert_eq!(summary["events"], 0, "{json}");
    drop_databases(&second, prefix).await;
}

#[tokio::test]
async fn a_split_refreshes_the_statistics_of_every_course_database_it_wrote() {
    // As a load into one database does (`load::a_load_refreshes_the_statistics_…`): the tables
    // never recalculate their statistics on their own.
    let dir = tempfile::tempdir().unwrap();
    let files = three_course_files(dir.path());
    let url = fresh_split("statistics").await;
    let (ok, json) = load_split(&url, &files, &[], &[]);
    assert!(ok);
    let courses = courses_of(&json);
    // The three, the no-course database and the older course the sample's pages name.
    assert_eq!(courses.len(), 5, "{courses:?}");
    for (course, database, events) in courses {
        let pool = pool(&course_url(&url, &database)).await;
        for table in ["EdxTrackEvent", "observed_events", "resources"] {
            let rows = count(&pool, table).await;
            if events == 0 || rows == 0 {
                continue;
            }
            assert_eq!(
                statistics_rows(&pool, &database, table).await,
                Some(rows as u64),
                "{course} `{database}`.{table}: statistics of {rows} rows"
            );
        }
    }
}
