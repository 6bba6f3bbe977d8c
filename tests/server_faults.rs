//! Server faults, each on a private server the test controls (tests/common/private_server.rs):
//! a restart or crash in the middle of a load, a 1 MB `max_allowed_packet`, a lock wait timeout, a tablespace
//! that cannot grow.

mod common;

use std::path::{Path, PathBuf};

use common::private_server::{PASSWORD, PrivateServer};
use common::*;
use moocdb_loader::load::MethodChoice;

/// A log of `sample.log`'s lines plus one `save_answer` event whose answer is `answer`.
fn log_with_big_answer(dir: &Path, answer: &str) -> PathBuf {
    let mut text = std::fs::read_to_string(data("sample.log")).unwrap();
    let event = serde_json::json!({
        "POST": {
            "student_file": [""],
            "student_answer": [answer],
            "can_upload_files": ["false"],
        },
        "GET": {},
    });
    let line = serde_json::json!({
        "username": "learner01",
        "host": "courses.example.org",
        "event_source": "server",
        "event_type": "/courses/DemoX/Loader101/2013_Spring/modx/i4x://DemoX/Loader101/combinedopenended/essay/save_answer",
        "time": "2013-06-20T07:00:00.000001",
        "ip": "192.0.2.7",
        "event": event.to_string(),
        "agent": "Mozilla/5.0 (X11; Linux x86_64; rv:21.0) Gecko/20100101 Firefox/21.0",
        "page": null,
    });
    text.push_str(&line.to_string());
    text.push('\n');
    let path = dir.join("big-event.log");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_900_kb_event_loads_under_a_1_mb_max_allowed_packet() {
    let Some(server) = PrivateServer::start("max_allowed_packet", &["max_allowed_packet=1M"])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // ~900 KB of text with tabs, backslashes, quotes and 2-byte UTF-8, which both encodings
    // escape (so the encoded row is larger than the value).
    let mut answer = String::new();
    let mut i = 0;
    while answer.len() < 900_000 {
        answer.push_str(&format!(
            "essay line {i}: caf\u{e9}\t\"quoted\" back\\slash. "
        ));
        i += 1;
    }
    let log = log_with_big_answer(dir.path(), &answer);
    let line_bytes = std::fs::metadata(&log).unwrap().len();

    // The reference: the shared server (64 MB packets).
    let (reference, _) = fresh_database("big_event_reference").await;
    let expected = load(options(&reference, &[&log])).await;

    for (db, method) in [
        ("big_infile", MethodChoice::Infile),
        ("big_insert", MethodChoice::Insert),
    ] {
        let url = server.url(db);
        let mut o = options(&url, &[&log]);
        o.method = method;
        let summary = moocdb_loader::run(
            o,
            moocdb_loader::progress::Progress::new(moocdb_loader::progress::ProgressMode::Quiet),
            Default::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{method:?} load with a 1 MB max_allowed_packet failed: {e}"));
        assert_eq!(
            (summary.events, summary.rejected),
            (expected.events, expected.rejected),
            "{method:?}"
        );
        let p = pool(&url).await;
        let packet: u64 = sqlx::query_scalar("SELECT @@max_allowed_packet")
            .fetch_one(&p)
            .await
            .unwrap();
        assert_eq!(packet, 1 << 20);
        let stored: Vec<String> = sqlx::query_scalar(
            "SELECT long_answer FROM EdxTrackEvent WHERE LENGTH(long_answer) > 800000",
        )
        .fetch_all(&p)
        .await
        .unwrap();
        assert_eq!(stored.len(), 1, "{method:?}: the big event is stored once");
        assert!(stored[0] == answer, "{method:?}: the big value differs");
        assert_same_public_tables(&reference, &url).await;
        eprintln!(
            "{method:?}: {} bytes of log with a {}-byte value loaded under max_allowed_packet=1M",
            line_bytes,
            answer.len()
        );
    }
}

/// Runs `moocdb load` to completion; returns (exit code, stderr).
fn run_load(url: &str, log: &Path) -> (i32, String) {
    let (code, _, stderr) = moocdb(&["load", "-q", "--database-url", url, log.to_str().unwrap()]);
    (code, stderr)
}

/// [`run_load`] with `--method method`.
fn run_load_with(method: &str, url: &str, log: &Path) -> (i32, String) {
    let log = log.to_str().unwrap();
    let (code, _, stderr) = moocdb(&["load", "-q", "--method", method, "--database-url", url, log]);
    (code, stderr)
}

/// Sets up a fault on the second of two files: generates a log of `events` events in `dir`,
/// loads `sample.log` and it into database `clean` (what a re-run must equal), and `sample.log`
/// alone into `database`. Returns the generated log and the URLs of `clean` and `database`.
fn two_logs_loaded(
    server: &PrivateServer,
    dir: &Path,
    events: u32,
    database: &str,
) -> (PathBuf, String, String) {
    let first = data("sample.log");
    let second = dir.join("second.log");
    let (code, _, stderr) = moocdb(&[
        "generate",
        "--events",
        &events.to_string(),
        "-o",
        second.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let clean = server.url("clean");
    for log in [&first, &second] {
        let (code, stderr) = run_load(&clean, log);
        assert_eq!(code, 0, "{stderr}");
    }
    let url = server.url(database);
    let (code, stderr) = run_load(&url, &first);
    assert_eq!(code, 0, "{stderr}");
    (second, clean, url)
}

/// A load that fails must end with one error line that says what happened and what to do, and
/// print no password. (Warnings before it, such as a recovery notice, are fine.)
fn assert_clear_error(stderr: &str, expect: &[&str]) {
    assert!(!stderr.contains(PASSWORD), "password in: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(last.starts_with("error:"), "{stderr}");
    for e in expect {
        assert!(last.contains(e), "{e:?} missing from: {last}");
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL, then start: a crash.
    Kill,
    /// SIGTERM, then start: a normal restart.
    Restart,
}

#[tokio::test]
async fn a_server_crash_or_restart_mid_load_is_reported_and_a_rerun_completes() {
    let Some(mut server) = PrivateServer::start("server_restart", &[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("generated.log");
    let (code, _, stderr) = moocdb(&[
        "generate",
        "--events",
        "8000",
        "--users",
        "500",
        "-o",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let clean = server.url("clean");
    let (code, stderr) = run_load(&clean, &log);
    assert_eq!(code, 0, "{stderr}");

    for fault in [Fault::Kill, Fault::Restart] {
        let db = format!("faulted_{fault:?}").to_lowercase();
        let url = server.url(&db);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_moocdb"))
            .args(["load", "-q", "--batch-mib", "1", "--database-url", &url])
            .arg(&log)
            .env_remove("DATABASE_URL")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Mid-flight: the ledger says the file is loading and rows are on their way. (Not by
        // counting the rows: on MariaDB 10.11 a COUNT(*) of a table that LOAD DATA is
        // bulk-loading while empty can hang both statements.)
        let admin = pool(&server.url("mysql")).await;
        let progress = format!(
            "SELECT (SELECT COUNT(*) FROM `{db}`.moocdb_loader_files WHERE status = 'loading') \
             * (SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                WHERE INFO LIKE 'LOAD DATA%' AND INFO LIKE '%`{db}`.%')"
        );
        let mut writing = false;
        for _ in 0..4000 {
            if let Ok(n) = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(progress.clone()))
                .fetch_one(&admin)
                .await
                && n > 0
            {
                writing = true;
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "{fault:?}: the load ended before it could be interrupted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(writing, "{fault:?}: the load never got going");
        admin.close().await;
        match fault {
            Fault::Kill => {
                server.kill();
                server.start_again();
            }
            Fault::Restart => server.restart(),
        }
        let output = wait_with_timeout(child, 180);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        eprintln!(
            "{fault:?} during a LOAD DATA: exit {:?}, {}",
            output.status.code(),
            stderr.trim()
        );
        if !output.status.success() {
            assert_clear_error(&stderr, &["run the same command again"]);
        }
        let (code, stderr) = run_load(&url, &log);
        assert_eq!(code, 0, "{fault:?}: the re-run failed: {stderr}");
        assert_same_public_tables(&clean, &url).await;
    }
}

/// Waits for a child process, killing it (and failing) after `seconds`.
fn wait_with_timeout(mut child: std::process::Child, seconds: u64) -> std::process::Output {
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() > seconds {
            let _ = child.kill();
            panic!("the load did not end within {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn used_up_prepared_statements_fail_clearly_and_a_rerun_completes() {
    let Some(server) = PrivateServer::start("prepared_statements", &[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (second, clean, url) = two_logs_loaded(&server, dir.path(), 2000, "prepared");
    // As if other clients held every prepared statement the server allows.
    let admin = pool(&url).await;
    let limit = |n: u32| format!("SET GLOBAL max_prepared_stmt_count = {n}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(limit(0)))
        .execute(&admin)
        .await
        .unwrap();
    let (code, stderr) = run_load_with("insert", &url, &second);
    eprintln!("insert: exit {code}, {}", stderr.trim());
    assert_ne!(code, 0, "the load should fail");
    assert_clear_error(
        &stderr,
        &["max_prepared_stmt_count", "SET GLOBAL", "run again"],
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(limit(16382)))
        .execute(&admin)
        .await
        .unwrap();
    let (code, stderr) = run_load_with("insert", &url, &second);
    assert_eq!(code, 0, "the re-run failed: {stderr}");
    assert_same_public_tables(&clean, &url).await;
}

#[tokio::test]
async fn a_lock_wait_timeout_fails_clearly_and_a_rerun_completes() {
    let Some(server) = PrivateServer::start(
        "lock_wait_timeout",
        &["innodb_lock_wait_timeout=1", "lock_wait_timeout=1"],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (second, clean, url) = two_logs_loaded(&server, dir.path(), 2000, "locked");
    // Also tables that are still empty (a load of an empty log made them): the insert method
    // then loads each table's rows as one transaction.
    let empty_log = dir.path().join("empty.log");
    std::fs::write(&empty_log, "").unwrap();
    let (clean_alone, empty) = (server.url("clean_alone"), server.url("locked_empty"));
    for (target, logs) in [
        (&clean_alone, [&empty_log, &second]),
        (&empty, [&empty_log; 2]),
    ] {
        for log in logs {
            let (code, stderr) = run_load(target, log);
            assert_eq!(code, 0, "{stderr}");
        }
    }
    // Another session holds every row and gap of EdxTrackEvent in an open transaction, as a
    // long report query with FOR UPDATE or an unfinished bulk edit would.
    let mut holders = Vec::new();
    for target in [&url, &empty] {
        let mut holder = <sqlx::mysql::MySqlConnection as sqlx::Connection>::connect(target)
            .await
            .unwrap();
        sqlx::raw_sql("BEGIN; SELECT COUNT(*) FROM EdxTrackEvent FOR UPDATE")
            .execute(&mut holder)
            .await
            .unwrap();
        holders.push(holder);
    }
    for (method, target) in [("infile", &url), ("insert", &url), ("insert", &empty)] {
        let (code, stderr) = run_load_with(method, target, &second);
        eprintln!("{method}: exit {code}, {}", stderr.trim());
        assert_ne!(code, 0, "{method}: the load should time out");
        assert_clear_error(
            &stderr,
            &[
                "table `EdxTrackEvent`",
                "waited too long for a lock held by another connection",
                "run the same command again",
            ],
        );
    }
    for holder in holders {
        sqlx::Connection::close(holder).await.unwrap();
    }
    for (target, expected) in [(&url, &clean), (&empty, &clean_alone)] {
        let (code, stderr) = run_load_with("insert", target, &second);
        assert_eq!(code, 0, "the re-run failed: {stderr}");
        assert_same_public_tables(expected, target).await;
    }
}

#[tokio::test]
async fn a_full_tablespace_fails_clearly_and_a_rerun_completes_once_there_is_room() {
    // Every table in the system tablespace, grown 1 MB at a time, so that its size can then be
    // frozen just above what the schema and a first file need.
    let Some(mut server) = PrivateServer::start(
        "tablespace_full",
        &["innodb_file_per_table=OFF", "innodb_autoextend_increment=1"],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (second, clean, url) = two_logs_loaded(&server, dir.path(), 3000, "full");

    server.stop();
    let mb = std::fs::metadata(server.data_dir().join("ibdata1"))
        .unwrap()
        .len()
        >> 20;
    server.add_options(&[&format!("innodb_data_file_path=ibdata1:{mb}M")]);
    server.start_again();
    for method in ["infile", "insert"] {
        let (code, stderr) = run_load_with(method, &url, &second);
        eprintln!(
            "{method} into a {mb} MB tablespace: exit {code}, {}",
            stderr.trim()
        );
        assert_eq!(code, 1, "{method}: the load should run out of room");
        assert_clear_error(
            &stderr,
            &[
                "ran out of room",
                "free disk space",
                "run the same command again",
            ],
        );
    }

    server.stop();
    server.add_options(&[&format!("innodb_data_file_path=ibdata1:{mb}M:autoextend")]);
    server.start_again();
    let (code, stderr) = run_load(&url, &second);
    assert_eq!(code, 0, "the re-run failed: {stderr}");
    assert_same_public_tables(&clean, &url).await;
}
