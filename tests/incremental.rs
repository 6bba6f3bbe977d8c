//! Incremental loading and crash safety (DESIGN.md decision 7): loads split in batches, repeated,
//! grown, overlapping, killed or run twice at once all end in the database one clean load gives.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use moocdb_loader::decode::{Decoded, decode};
use moocdb_loader::identity::{LineIdentity, LineKeys};
use moocdb_loader::progress::{Progress, ProgressMode};
use moocdb_loader::schema::Table;

/// The sample log's lines, repeated with the usernames made distinct per copy: a larger log with
/// the same shapes (several duplicate-check chunks).
fn synthetic_lines(copies: usize) -> Vec<String> {
    let text = std::fs::read_to_string(data("sample.log")).unwrap();
    let mut out = Vec::new();
    for c in 0..copies {
        for line in text.lines() {
            out.push(line.replace(
                "\"username\": \"learner",
                &format!("\"username\": \"c{c}learner"),
            ));
        }
        out.extend(forum_lines(&format!("c{c}"), 2026));
    }
    out
}

/// A forum conversation of the users `<prefix>poster` and `<prefix>replier`, in `year`: a
/// thread, a response, a comment and a vote, as explicit events (a comment's twin implicit
/// request among them), and a reply to a thread the lines never create.
fn forum_lines(prefix: &str, year: u32) -> Vec<String> {
    let course = "course-v1:DemoX+Loader201+2026_T1";
    let event = |user: &str, minute: u32, name: &str, body: &str| {
        format!(
            r#"{{"username": "{prefix}{user}", "event_source": "server", "event_type": "{name}", "time": "{year}-03-02T10:{minute:02}:00.000000+00:00", "ip": "198.51.100.7", "agent": "Mozilla/5.0", "host": "courses.example.org", "page": null, "context": {{"course_id": "{course}", "user_id": 7, "org_id": "DemoX", "path": "/event"}}, "event": {body}}}"#
        )
    };
    let thread = format!("{prefix}thread");
    let response = format!("{prefix}response");
    vec![
        // The comment and its vote come before the response and thread they belong to.
        event(
            "poster",
            4,
            "edx.forum.comment.created",
            &format!(
                r#"{{"body": "A comment", "truncated": false, "commentable_id": "d1", "discussion": {{"id": "{thread}"}}, "response": {{"id": "{response}"}}, "id": "{prefix}comment"}}"#
            ),
        ),
        event(
            "poster",
            4,
            &format!("/courses/{course}/discussion/comments/{response}/reply"),
            r#""{\"POST\": {\"body\": [\"A comment\"]}, \"GET\": {}}""#,
        ),
        event(
            "replier",
            5,
            "edx.forum.thread.voted",
            &format!(
                r#"{{"vote_value": "up", "undo_vote": false, "commentable_id": "d1", "id": "{thread}"}}"#
            ),
        ),
        event(
            "poster",
            1,
            "edx.forum.thread.created",
            &format!(
                r#"{{"title": "A question", "body": "Why?", "truncated": false, "commentable_id": "d1", "id": "{thread}"}}"#
            ),
        ),
        event(
            "replier",
            2,
            "edx.forum.response.created",
            &format!(
                r#"{{"body": "Because.", "truncated": true, "commentable_id": "d1", "discussion": {{"id": "{thread}"}}, "id": "{response}"}}"#
            ),
        ),
        event(
            "replier",
            6,
            &format!("/courses/{course}/discussion/threads/{prefix}elsewhere/reply"),
            r#""{\"POST\": {\"body\": [\"Me too\"]}, \"GET\": {}}""#,
        ),
    ]
}

/// Forum contributions name their parent by the forum's id: a parent loaded by a later run
/// links the contributions an earlier run loaded, and siblings are numbered in time order,
/// however the lines were split.
#[tokio::test]
async fn forum_parents_loaded_later_link_their_children() {
    let lines = forum_lines("f", 2026);
    let dir = tempfile::tempdir().unwrap();
    let (children, parents) = (dir.path().join("a.log"), dir.path().join("b.log"));
    // The first file holds the comment, its twin request and the vote; the second, loaded by a
    // second run, the thread and the response they belong to.
    write_lines(&children, &lines[..3]);
    write_lines(&parents, &lines[3..]);
    let (split, _) = fresh_database("forum_split").await;
    load(options(&split, &[&children])).await;
    let links = "SELECT c.collaboration_type_id, c.collaboration_content, \
           p.collaboration_content, c.collaboration_child_number \
         FROM collaborations c LEFT JOIN collaborations p \
           ON p.collaboration_id = c.collaboration_parent_id \
         ORDER BY c.collaboration_timestamp, c.collaboration_type_id";
    type Link = (i32, Option<String>, Option<String>, Option<i32>);
    let first: Vec<Link> = sqlx::query_as(links)
        .fetch_all(&pool(&split).await)
        .await
        .unwrap();
    assert_eq!(
        first,
        vec![
            (3, Some("A comment".into()), None, Some(1)),
            (5, Some("up".into()), None, Some(1)),
        ],
        "the twin request is not a second comment; parents not loaded yet"
    );
    load(options(&split, &[&parents])).await;
    let (whole, _) = fresh_database("forum_whole").await;
    let one = dir.path().join("all.log");
    write_lines(&one, &lines);
    load(options(&whole, &[&one])).await;
    let expected: Vec<Link> = vec![
        (1, Some("Why?".into()), None, None),
        (2, Some("Because.".into()), Some("Why?".into()), Some(1)),
        (
            3,
            Some("A comment".into()),
            Some("Because.".into()),
            Some(1),
        ),
        (5, Some("up".into()), Some("Why?".into()), Some(1)),
        (2, Some("Me too".into()), None, Some(1)),
    ];
    for url in [&split, &whole] {
        let got: Vec<Link> = sqlx::query_as(links)
            .fetch_all(&pool(url).await)
            .await
            .unwrap();
        assert_eq!(got, expected, "{url}");
    }
    let truncated: Vec<Option<i8>> = sqlx::query_scalar(
        "SELECT collaboration_content_truncated FROM collaborations \
         ORDER BY collaboration_timestamp, collaboration_type_id",
    )
    .fetch_all(&pool(&whole).await)
    .await
    .unwrap();
    assert_eq!(
        truncated,
        vec![Some(0), Some(1), Some(0), None, Some(0)],
        "edX's flag, and a request's own"
    );
}

/// Splits the sample log into three chronological daily files.
fn daily_files(dir: &Path) -> Vec<PathBuf> {
    let lines: Vec<String> = std::fs::read_to_string(data("sample.log"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let third = lines.len() / 3;
    let parts = [
        &lines[..third],
        &lines[third..2 * third],
        &lines[2 * third..],
    ];
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let p = dir.join(format!("tracking.log-2026030{}", i + 1));
            write_lines(&p, part);
            p
        })
        .collect()
}

#[tokio::test]
async fn batches_give_the_same_database_as_one_load() {
    let dir = tempfile::tempdir().unwrap();
    let files = daily_files(dir.path());
    let (all, _) = fresh_database("batches_all").await;
    load(options(
        &all,
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    ))
    .await;
    let (split, _) = fresh_database("batches_split").await;
    for f in &files {
        let s = load(options(&split, &[f])).await;
        assert_eq!(s.files, 1);
    }
    let a = snapshot(&all).await;
    assert!(
        a.iter()
            .any(|(t, rows)| t == "observed_events" && rows.len() > 200)
    );
    assert_same(&a, &snapshot(&split).await);
    // Durations crossed the batch boundaries: no user's event other than their latest is NULL.
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) - COUNT(DISTINCT user_id) FROM observed_events WHERE observed_event_duration IS NULL",
    )
    .fetch_one(&pool(&split).await)
    .await
    .unwrap();
    assert_eq!(open, 0);
}

#[tokio::test]
async fn reading_on_the_transforms_own_thread_gives_the_same_database() {
    // Three files of 314 lines: several short chunks each.
    let dir = tempfile::tempdir().unwrap();
    let lines = synthetic_lines(3);
    let files: Vec<PathBuf> = lines
        .chunks(lines.len() / 3)
        .enumerate()
        .map(|(i, part)| {
            let p = dir.path().join(format!("tracking.log-2026030{}", i + 1));
            write_lines(&p, part);
            p
        })
        .collect();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (threads, _) = fresh_database("reading_thread").await;
    let mut o = options(&threads, &paths);
    o.reading_thread = true;
    load(o).await;
    // One thread, in two runs: the first file alone (short chunks, as the database holds no
    // lines yet), then all three (the first is already loaded; the others, with lines in the
    // database, in long chunks).
    let (one, _) = fresh_database("reading_inline").await;
    let mut o = options(&one, &paths[..1]);
    o.reading_thread = false;
    let s = load(o).await;
    assert_eq!(
        (s.files, s.lines),
        (1, 320),
        "a copy: the sample log and its forum lines"
    );
    let mut o = options(&one, &paths);
    o.reading_thread = false;
    let s = load(o).await;
    assert_eq!(s.files, 2);
    assert_same(&snapshot(&threads).await, &snapshot(&one).await);
}

/// Sets `path`'s modification time an hour back: a file no longer being written, which the
/// reading thread starts reading while the file before it is still being taken.
fn age(path: &Path) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
}

#[tokio::test]
async fn files_read_ahead_give_the_database_files_read_in_turn_give() {
    // Five files of 320 lines, an hour old: plain, plain, a pretty-printed JSON document (read
    // ahead as lines, then read whole), gzip, plain. The first is loaded in a run of its own, so
    // the second run skips it, reads the second in turn, drops the document's lines read ahead,
    // and takes the last file's lines read ahead.
    let dir = tempfile::tempdir().unwrap();
    let lines = synthetic_lines(5);
    let parts: Vec<&[String]> = lines.chunks(lines.len() / 5).collect();
    let mut files = Vec::new();
    for (i, part) in parts.iter().take(5).enumerate() {
        let name = format!("tracking.log-2026030{}", i + 1);
        let path = match i {
            2 => {
                let p = dir.path().join(format!("{name}.json"));
                let records: Vec<serde_json::Value> = (part.iter())
                    .filter_map(|l| match decode(l.as_bytes()) {
                        Decoded::Json(json) => serde_json::from_str(json).ok(),
                        _ => None,
                    })
                    .collect();
                std::fs::write(&p, serde_json::to_string_pretty(&records).unwrap()).unwrap();
                p
            }
            3 => {
                let p = dir.path().join(format!("{name}.gz"));
                let mut gz = flate2::write::GzEncoder::new(
                    std::fs::File::create(&p).unwrap(),
                    flate2::Compression::fast(),
                );
                for l in part.iter() {
                    writeln!(gz, "{l}").unwrap();
                }
                gz.finish().unwrap();
                p
            }
            _ => {
                let p = dir.path().join(name);
                write_lines(&p, part);
                p
            }
        };
        age(&path);
        files.push(path);
    }
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let mut databases = Vec::new();
    for (test, reading_thread) in [("read_ahead", true), ("read_in_turn", false)] {
        let (url, _) = fresh_database(test).await;
        for (run, paths, loaded) in [(1, &paths[..1], 1), (2, &paths[..], 4)] {
            let mut o = options(&url, paths);
            o.reading_thread = reading_thread;
            let s = load(o).await;
            assert_eq!(
                (s.files, s.skipped_files),
                (loaded, run - 1),
                "{test}, run {run}: files loaded and skipped"
            );
        }
        databases.push(url);
    }
    let ahead = snapshot(&databases[0]).await;
    assert!(
        ahead
            .iter()
            .any(|(t, rows)| t == "observed_events" && rows.len() > 1000)
    );
    assert_same(&ahead, &snapshot(&databases[1]).await);
}

#[tokio::test]
async fn corpus_in_batches_gives_the_same_database_as_one_load() {
    let Some(shared) = shared("corpus_in_batches_gives_the_same_database_as_one_load") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared.join("corpus/edx-analytics-pipeline"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let (all, _) = fresh_database("corpus_all").await;
    let mut o = options(
        &all,
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    o.max_bad_ratio = 1.0;
    load(o).await;
    let (split, _) = fresh_database("corpus_split").await;
    for batch in files.chunks(files.len().div_ceil(4)) {
        let mut o = options(
            &split,
            &batch.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        );
        o.max_bad_ratio = 1.0;
        load(o).await;
    }
    assert_same(&snapshot(&all).await, &snapshot(&split).await);
}

#[tokio::test]
async fn a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = daily_files(dir.path());
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (url, _) = fresh_database("idempotent").await;
    load(options(&url, &paths)).await;
    let before = snapshot(&url).await;
    let s = load(options(&url, &paths)).await;
    assert_eq!((s.files, s.skipped_files, s.lines), (0, 3, 0));
    assert!(s.rows.is_empty(), "{:?}", s.rows);
    assert_same(&before, &snapshot(&url).await);
    let ledger: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moocdb_loader_files")
        .fetch_one(&pool(&url).await)
        .await
        .unwrap();
    assert_eq!(ledger, 3);
}

#[tokio::test]
async fn a_carried_staged_event_changed_by_hand_is_named_not_loaded_over() {
    let dir = tempfile::tempdir().unwrap();
    let files = daily_files(dir.path());
    let (url, _) = fresh_database("bad_staged_id").await;
    load(options(&url, &[&files[0]])).await;
    let changed = sqlx::query(
        "UPDATE moocdb_loader_user_state SET staged_event_id = 'not-an-id' \
         WHERE staged_event_id IS NOT NULL LIMIT 1",
    )
    .execute(&pool(&url).await)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let e = moocdb_loader::run(
        options(&url, &[&files[1]]),
        Progress::new(ProgressMode::Quiet),
        Default::default(),
    )
    .await
    .expect_err("a staged id that is not a row id stops the load");
    let message = e.to_string();
    assert!(
        message.contains("moocdb_loader_user_state") && message.contains("not-an-id"),
        "{message}"
    );
    let ledger: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moocdb_loader_files")
        .fetch_one(&pool(&url).await)
        .await
        .unwrap();
    assert_eq!(ledger, 1, "the second file is not recorded as loaded");
}

#[tokio::test]
async fn a_grown_live_file_loads_only_its_new_lines() {
    let lines = synthetic_lines(2);
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("tracking.log");
    // First load: 40% of the lines and half of the next one, still being written.
    let cut = lines.len() * 2 / 5;
    let mut text: String = lines[..cut].iter().map(|l| format!("{l}\n")).collect();
    let partial = &lines[cut][..lines[cut].len() / 2];
    std::fs::write(&live, format!("{text}{partial}")).unwrap();
    let (grown, _) = fresh_database("grown").await;
    let first = load(options(&grown, &[&live])).await;
    assert_eq!(first.lines, cut as u64, "the unfinished last line waits");
    // The line is finished and more are appended.
    for l in &lines[cut..] {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&live, &text).unwrap();
    let second = load(options(&grown, &[&live])).await;
    assert_eq!((second.grown_files, second.files), (1, 1));
    assert_eq!(
        second.lines,
        (lines.len() - cut) as u64,
        "only the new lines are read"
    );
    assert_eq!(
        first.rejected + second.rejected,
        2 * 2,
        "the sample's two bad lines per copy"
    );
    // The same file loaded once, in another database.
    let (once, _) = fresh_database("grown_once").await;
    load(options(&once, &[&live])).await;
    assert_same(&snapshot(&once).await, &snapshot(&grown).await);
    // Rejected lines keep their true line numbers across segments.
    let numbers: Vec<i64> =
        sqlx::query_scalar("SELECT line_number FROM moocdb_loader_rejects ORDER BY line_number")
            .fetch_all(&pool(&grown).await)
            .await
            .unwrap();
    let expected: Vec<i64> =
        sqlx::query_scalar("SELECT line_number FROM moocdb_loader_rejects ORDER BY line_number")
            .fetch_all(&pool(&once).await)
            .await
            .unwrap();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn a_changed_file_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tracking.log");
    let lines = synthetic_lines(1);
    write_lines(&f, &lines[..100]);
    let (url, _) = fresh_database("changed").await;
    load(options(&url, &[&f])).await;
    let before = snapshot(&url).await;
    write_lines(&f, &lines[50..200]);
    let s = load(options(&url, &[&f])).await;
    assert_eq!(s.changed_files.len(), 1);
    assert_eq!(s.files, 0);
    assert_same(&before, &snapshot(&url).await);
}

#[tokio::test]
async fn overlapping_files_in_one_run_give_each_event_once_past_the_exact_set() {
    let lines = synthetic_lines(2);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (lines.len() * 7 / 10, lines.len() * 4 / 10);
    let first = dir.path().join("tracking.log-1");
    write_lines(&first, &lines[..a]);
    let second = dir.path().join("tracking.log-2");
    write_lines(&second, &lines[b..]);
    let whole = dir.path().join("whole.log");
    write_lines(&whole, &lines);

    // A tiny exact set: the overlap is found through the Bloom filter and the database, both
    // within a file (the spill after each 50 lines) and across files.
    let (overlap, _) = fresh_database("overlap_one_run").await;
    let mut o = options(&overlap, &[&first, &second]);
    o.recent_lines = 50;
    let s2 = load(o).await;
    let (once, _) = fresh_database("overlap_one_run_once").await;
    let s = load(options(&once, &[&whole])).await;
    assert_eq!(s2.events, s.events, "each event is accepted once");
    assert_eq!(s2.lines, s.lines + (a - b) as u64);
    assert_eq!(
        s2.duplicates + s2.rejected + s2.skipped - s.duplicates - s.rejected - s.skipped,
        (a - b) as u64,
        "every overlapping line is a duplicate or again not an event"
    );
    assert!(s2.duplicates > s.duplicates + (a - b) as u64 / 2);
    // The same rows, but for the file each came from.
    assert_same_public_rows(&overlap, &once, |table| match table {
        Table::LoadInfo => None,
        Table::EdxTrackEvent => Some(&["load_info_fk"]),
        Table::Lines => Some(&["file_id"]),
        _ => Some(&[]),
    })
    .await;
}

#[tokio::test]
async fn overlapping_gzip_and_plain_files_give_each_event_once() {
    overlapping_gzip_and_plain_files("overlap", LineKeys::TimeThenHash).await;
}

#[tokio::test]
async fn a_database_keyed_by_line_hashes_keeps_them_and_finds_duplicates() {
    // A database whose lines were stored before time-ordered keys: migration 0005 marks it
    // `hash`, as done here by hand after the migrations of a first (empty) load.
    overlapping_gzip_and_plain_files("overlap_hash_keys", LineKeys::Hash).await;
}

/// Loads a rotated gzip file and an overlapping live file into a database keying its lines as
/// `keys` says, and checks each event is stored once, under the key of that form.
async fn overlapping_gzip_and_plain_files(test: &str, keys: LineKeys) {
    use flate2::{Compression, write::GzEncoder};
    let lines = synthetic_lines(2);
    let dir = tempfile::tempdir().unwrap();
    // The rotated file holds the first 70%, the live file from 40% on: 30% overlap.
    let (a, b) = (lines.len() * 7 / 10, lines.len() * 4 / 10);
    let gz = dir.path().join("tracking.log-1.gz");
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    for l in &lines[..a] {
        writeln!(enc, "{l}").unwrap();
    }
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let live = dir.path().join("tracking.log-2");
    write_lines(&live, &lines[b..]);
    let whole = dir.path().join("whole.log");
    write_lines(&whole, &lines);

    let (overlap, _) = fresh_database(test).await;
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    load(options(&overlap, &[&empty])).await;
    let db = pool(&overlap).await;
    let setting: String =
        sqlx::query_scalar("SELECT value FROM moocdb_loader_settings WHERE name = 'line_keys'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(
        setting, "time_hash",
        "a new database gets time-ordered keys"
    );
    sqlx::query("UPDATE moocdb_loader_settings SET value = ? WHERE name = 'line_keys'")
        .bind(keys.setting())
        .execute(&db)
        .await
        .unwrap();
    let s1 = load(options(&overlap, &[&gz])).await;
    let s2 = load(options(&overlap, &[&live])).await;
    let (once, _) = fresh_database("overlap_once").await;
    let s = load(options(&once, &[&whole])).await;
    assert_eq!(
        s1.events + s2.events,
        s.events,
        "each event is accepted once"
    );
    assert!(
        s2.duplicates >= (a - b) as u64 - 10,
        "the overlap is counted as duplicates"
    );
    let count_of =
        |url: String, table: &'static str| async move { count(&pool(&url).await, table).await };
    for table in [
        "EdxTrackEvent",
        "observed_events",
        "submissions",
        "Answer",
        "users",
    ] {
        assert_eq!(
            count_of(overlap.clone(), table).await,
            count_of(once.clone(), table).await,
            "{table}"
        );
    }
    // Every stored key is the key of one of the lines, in the database's form.
    let expected: std::collections::HashSet<String> = lines
        .iter()
        .filter_map(|l| {
            let Decoded::Json(json) = decode(l.as_bytes()) else {
                return None;
            };
            let event = moocdb_loader::parse::TrackingEvent::parse(json).ok()?;
            let key = LineIdentity::new(json.as_bytes(), &event.time).line_key(keys);
            Some(String::from_utf8(key.to_vec()).unwrap())
        })
        .collect();
    let stored: Vec<String> = sqlx::query_scalar("SELECT line_hash FROM moocdb_loader_lines")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(stored.len() as u64, s1.events + s2.events);
    assert!(
        stored.iter().all(|k| expected.contains(k)),
        "keys in the {keys:?} form"
    );
}

/// Runs the binary on `files` with a crash point (or none); returns its exit status.
fn run_with_crash(url: &str, files: &[&Path], crash_at: Option<&str>) -> std::process::ExitStatus {
    run_with_crash_grouped(url, files, crash_at, 16)
}

/// [`run_with_crash`] committing files together up to `group_mib` (0: each file alone).
fn run_with_crash_grouped(
    url: &str,
    files: &[&Path],
    crash_at: Option<&str>,
    group_mib: u32,
) -> std::process::ExitStatus {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moocdb"));
    let group = group_mib.to_string();
    cmd.args([
        "load",
        "-q",
        "--commit-group-mib",
        &group,
        "--database-url",
        url,
    ])
    .args(files)
    .env_remove("DATABASE_URL");
    if let Some(point) = crash_at {
        cmd.env("MOOCDB_CRASH_AT", point);
    }
    cmd.stderr(std::process::Stdio::null()).status().unwrap()
}

#[tokio::test]
async fn a_killed_load_completes_on_the_next_run() {
    let lines = synthetic_lines(14);
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("day1.log"), dir.path().join("day2.log"));
    write_lines(&first, &lines[..lines.len() / 2]);
    write_lines(&second, &lines[lines.len() / 2..]);
    let files = [first.as_path(), second.as_path()];
    let (clean, _) = fresh_database("crash_clean").await;
    assert!(run_with_crash(&clean, &files, None).success());
    let expected = snapshot(&clean).await;
    // Each file committed alone: early (first chunk of the first file), mid-file, just before
    // the first file is recorded, and in the second file after the first was recorded. Both
    // files committed together: in the first, in the second, and just before their commit.
    for (point, group_mib) in [
        ("after-chunk:1", 0),
        ("after-chunk:2", 0),
        ("before-commit:1", 0),
        ("after-chunk:3", 0),
        ("before-commit:2", 0),
        ("after-chunk:1", 16),
        ("after-chunk:3", 16),
        ("before-commit:1", 16),
    ] {
        let (url, _) = fresh_database("crash").await;
        let status = run_with_crash_grouped(&url, &files, Some(point), group_mib);
        assert!(
            !status.success(),
            "{point} ({group_mib} MiB): the crash hook fired"
        );
        assert!(
            run_with_crash(&url, &files, None).success(),
            "{point}: the rerun succeeds"
        );
        let got = snapshot(&url).await;
        assert_same(&expected, &got);
        let unfinished: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM moocdb_loader_files WHERE status <> 'loaded'")
                .fetch_one(&pool(&url).await)
                .await
                .unwrap();
        assert_eq!(unfinished, 0, "{point}");
    }
}

#[tokio::test]
async fn a_sigkilled_load_completes_on_the_next_run() {
    let lines = synthetic_lines(30);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.log");
    write_lines(&f, &lines);
    let (clean, _) = fresh_database("sigkill_clean").await;
    assert!(run_with_crash(&clean, &[&f], None).success());
    let expected = snapshot(&clean).await;
    for delay_ms in [150u64, 600] {
        let (url, _) = fresh_database("sigkill").await;
        let mut child = Command::new(env!("CARGO_BIN_EXE_moocdb"))
            .args(["load", "-q", "--database-url", &url])
            .arg(&f)
            .env_remove("DATABASE_URL")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert!(run_with_crash(&url, &[&f], None).success());
        assert_same(&expected, &snapshot(&url).await);
    }
}

#[tokio::test]
async fn a_second_loader_is_refused_while_one_runs() {
    let (url, db) = fresh_database("locked").await;
    load(options(&url, &[&data("prefixed.log")])).await;
    // Hold the loader lock from another connection.
    let mut holder = <sqlx::mysql::MySqlConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let got: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT GET_LOCK('moocdb_loader.{db}', 0)"
    )))
    .fetch_one(&mut holder)
    .await
    .unwrap();
    assert_eq!(got, 1);
    let (code, _, stderr) = moocdb(&[
        "load",
        "--database-url",
        &url,
        data("sample.log").to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("another moocdb load is running"),
        "{stderr}"
    );
    sqlx::Connection::close(holder).await.unwrap();
    let (code, _, stderr) = moocdb(&[
        "load",
        "--database-url",
        &url,
        data("sample.log").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn reload_replaces_a_changed_files_rows() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tracking.log");
    // Heartbeats are kept or not depending on the IP's earlier events (carried state): leave
    // them out to compare rows exactly.
    let lines: Vec<String> = synthetic_lines(1)
        .into_iter()
        .filter(|l| !l.contains("/heartbeat"))
        .collect();
    write_lines(&f, &lines[..150]);
    let (url, _) = fresh_database("reload").await;
    load(options(&url, &[&f])).await;
    write_lines(&f, &lines[100..]);
    let mut o = options(&url, &[&f]);
    o.reload = vec![f.clone()];
    let s = load(o).await;
    assert_eq!((s.files, s.changed_files.len()), (1, 0));
    let (fresh, _) = fresh_database("reload_fresh").await;
    load(options(&fresh, &[&f])).await;
    let (pa, pb) = (pool(&url).await, pool(&fresh).await);
    let (qa, qb) = (
        pool(&format!("{url}_private")).await,
        pool(&format!("{fresh}_private")).await,
    );
    for table in [
        Table::EdxTrackEvent,
        Table::Answer,
        Table::CorrectMap,
        Table::InputState,
        Table::State,
        Table::AbExperiment,
        Table::Lines,
        Table::EventIp,
        Table::Account,
    ] {
        // downtime_for continues from the IPs' earlier events (carried state, docs/incremental.md).
        let skip: &[&str] = match table {
            Table::EdxTrackEvent => &["downtime_for"],
            Table::Lines => &["file_id"],
            _ => &[],
        };
        let (a, b) = if table.is_private() {
            (&qa, &qb)
        } else {
            (&pa, &pb)
        };
        assert_eq!(
            table_dump(a, table, skip).await,
            table_dump(b, table, skip).await,
            "{}",
            table.name()
        );
    }
    for (table, id) in [
        ("observed_events", "observed_event_id"),
        ("submissions", "submission_id"),
        ("assessments", "assessment_id"),
        ("users", "user_id"),
    ] {
        let sql = format!("SELECT CAST({id} AS CHAR) FROM {table} ORDER BY 1");
        let ids_a: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&pa)
            .await
            .unwrap();
        let ids_b: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pb)
            .await
            .unwrap();
        assert_eq!(ids_a, ids_b, "{table}");
    }
}

#[tokio::test]
async fn ctrl_c_stops_cleanly_and_the_next_run_completes() {
    let lines = synthetic_lines(30);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.log");
    write_lines(&f, &lines);
    let (clean, _) = fresh_database("sigint_clean").await;
    assert!(run_with_crash(&clean, &[&f], None).success());
    let (url, _) = fresh_database("sigint").await;
    let child = Command::new(env!("CARGO_BIN_EXE_moocdb"))
        .args(["load", "-q", "--database-url", &url])
        .arg(&f)
        .env_remove("DATABASE_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // The load finished before the signal arrived: nothing to resume.
        eprintln!("the load finished before Ctrl-C; stderr: {stderr}");
    } else {
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(stderr.contains("run the same command again"), "{stderr}");
    }
    assert!(run_with_crash(&url, &[&f], None).success());
    assert_same(&snapshot(&clean).await, &snapshot(&url).await);
}

/// A site's small rotated files are committed together: the database is the one committing each
/// alone gives, every file has its own ledger row, and a file over `--max-bad-ratio` fails its
/// group, which the next run completes.
#[tokio::test]
async fn files_committed_together_give_the_database_files_committed_alone_give() {
    let lines = synthetic_lines(5);
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = lines
        .chunks(lines.len().div_ceil(5))
        .enumerate()
        .map(|(i, part)| {
            let p = dir.path().join(format!("tracking.log-2026030{i}.log"));
            write_lines(&p, part);
            p
        })
        .collect();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (alone, _) = fresh_database("group_alone").await;
    assert!(run_with_crash_grouped(&alone, &paths, None, 0).success());
    let (together, _) = fresh_database("group_together").await;
    assert!(run_with_crash_grouped(&together, &paths, None, 16).success());
    assert_same(&snapshot(&alone).await, &snapshot(&together).await);
    let ledger = "SELECT path, status, events FROM moocdb_loader_files ORDER BY path";
    let rows_of = |url: String| async move {
        sqlx::query_as::<_, (String, String, i64)>(ledger)
            .fetch_all(&pool(&url).await)
            .await
            .unwrap()
    };
    let entries = rows_of(together.clone()).await;
    assert_eq!(entries.len(), 5);
    assert_eq!(entries, rows_of(alone.clone()).await);

    // A bad file in the middle of the group: the group fails, and a tolerant run completes it
    // as a tolerant run commits each file alone.
    let bad = dir.path().join("tracking.log-20260302b.log");
    std::fs::write(&bad, "not json\nnor this\n").unwrap();
    let mut with_bad: Vec<&Path> = paths.clone();
    with_bad.insert(3, bad.as_path());
    let load = |url: &str, group: &str, ratio: &str| {
        Command::new(env!("CARGO_BIN_EXE_moocdb"))
            .args([
                "load",
                "-q",
                "--database-url",
                url,
                "--commit-group-mib",
                group,
            ])
            .args(["--max-bad-ratio", ratio])
            .args(&with_bad)
            .env_remove("DATABASE_URL")
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    };
    let (tolerant, _) = fresh_database("group_tolerant").await;
    assert!(load(&tolerant, "0", "1").success());
    let (failed, _) = fresh_database("group_failed").await;
    assert!(!load(&failed, "16", "0.5").success());
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT status FROM moocdb_loader_files")
            .fetch_all(&pool(&failed).await)
            .await
            .unwrap();
    assert_eq!(statuses, vec!["failed".to_string()], "the whole group");
    assert!(load(&failed, "16", "1").success());
    assert_same(&snapshot(&tolerant).await, &snapshot(&failed).await);
}

/// `downtime_for` needs each IP's latest event, which a later run reads from the private
/// database. With `--no-pii` there is none: an IP's first event in a later run gets `0:00:00`,
/// as if the IP were new, where one run of the same files gives the gap (none under 360 s). With
/// the private database, runs in batches give what one run gives (docs/incremental.md).
#[tokio::test]
async fn without_a_private_database_a_later_run_starts_each_ips_downtime_afresh() {
    let line = |minute: u32| {
        serde_json::json!({
            "username": "kept_learner", "event_source": "server",
            "event_type": "/courses/A/B/C/info",
            "time": format!("2024-03-01T10:{minute:02}:00.000000+00:00"), "ip": "203.0.113.77",
            "agent": "Mozilla/5.0", "host": "lms.example.org", "page": null, "event": "{}",
        })
        .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("tracking.log-20240301");
    let second = dir.path().join("tracking.log-20240302");
    write_lines(&first, &[line(0), line(1)]);
    write_lines(&second, &[line(2)]);
    // The downtime of the event at 10:02, after a load of the files as given.
    async fn downtime_at_10_02(runs: &[&[&Path]], no_pii: bool) -> String {
        let (url, _) = fresh_database("no_pii_downtime").await;
        for files in runs {
            let mut o = options(&url, files);
            o.no_pii = no_pii;
            load(o).await;
        }
        sqlx::query_scalar(
            "SELECT downtime_for FROM EdxTrackEvent WHERE time = '2024-03-01 10:02:00'",
        )
        .fetch_one(&pool(&url).await)
        .await
        .unwrap()
    }
    let (first, second) = (first.as_path(), second.as_path());
    assert_eq!(downtime_at_10_02(&[&[first, second]], true).await, "");
    assert_eq!(
        downtime_at_10_02(&[&[first], &[second]], true).await,
        "0:00:00"
    );
    assert_eq!(downtime_at_10_02(&[&[first], &[second]], false).await, "");
}
