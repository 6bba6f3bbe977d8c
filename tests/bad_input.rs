//! Hostile and damaged input: every bad line is a reject naming file, line and reason, and the rest
//! loads (the bad-input corpus is built here, so that no damaged file is stored in the repo).

mod common;

use std::io::Write;

use common::*;
use flate2::{Compression, write::GzEncoder};

fn event(n: usize) -> String {
    format!(
        r#"{{"username":"u{n}","event_source":"browser","event_type":"play_video","time":"2026-01-01T10:00:{:02}Z","ip":"192.0.2.1","page":"https://courses.example.org/x/","event":"{{\"id\":\"v\",\"code\":\"c\"}}"}}"#,
        n % 60
    )
}

fn gzip(lines: &[String]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    for l in lines {
        writeln!(enc, "{l}").unwrap();
    }
    enc.finish().unwrap()
}

async fn rejects(url: &str) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT line_number, reason FROM moocdb_loader_rejects ORDER BY line_number")
        .fetch_all(&pool(url).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn damaged_gzip_loads_what_comes_before_the_damage() {
    let lines: Vec<String> = (0..2000).map(event).collect();
    let whole = gzip(&lines);
    let dir = tempfile::tempdir().unwrap();
    // Truncated in the middle of the stream.
    let truncated = dir.path().join("truncated.log.gz");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    // A complete member followed by garbage.
    let garbage = dir.path().join("garbage.log.gz");
    let mut bytes = whole.clone();
    bytes.extend_from_slice(b"this is not gzip at all, just trailing junk\n");
    std::fs::write(&garbage, &bytes).unwrap();

    let (url, _) = fresh_database("bad_gzip").await;
    let mut o = options(&url, &[&truncated]);
    o.max_bad_ratio = 1.0;
    let s = load(o).await;
    assert!(
        s.events > 100 && s.events < 2000,
        "the lines before the damage load: {s:?}"
    );
    let r = rejects(&url).await;
    assert_eq!(r.len(), 1);
    assert!(r[0].1.contains("unreadable"), "{:?}", r[0]);

    let (url, _) = fresh_database("bad_gzip_tail").await;
    let mut o = options(&url, &[&garbage]);
    o.max_bad_ratio = 1.0;
    let s = load(o).await;
    assert_eq!(s.events, 2000, "every line of the member loads");
    assert_eq!(rejects(&url).await.len(), 1, "the garbage is reported");
}

#[tokio::test]
async fn hostile_lines_are_rejects_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hostile.log");
    let mut bytes = Vec::new();
    let mut push = |b: &[u8]| {
        bytes.extend_from_slice(b);
        bytes.push(b'\n');
    };
    push(event(1).as_bytes());
    // Invalid UTF-8 inside a field.
    push(
        &[
            &event(2).as_bytes()[..30],
            b"\xff\xfe",
            &event(2).as_bytes()[30..],
        ]
        .concat(),
    );
    // A run of NUL bytes.
    push(&[0u8; 500]);
    // Deeply nested JSON: no stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    push(
        format!(r#"{{"event_type":"x","time":"2026-01-01T00:00:00Z","event":{deep}}}"#).as_bytes(),
    );
    // A 50 MB line.
    let mut long = br#"{"event_type":"x","time":"2026-01-01T00:00:00Z","event":""#.to_vec();
    long.extend(std::iter::repeat_n(b'a', 50 << 20));
    long.extend_from_slice(br#""}"#);
    push(&long);
    // Numbers where strings are expected, and a double-encoded event: these load.
    push(br#"{"username":12,"event_source":"browser","event_type":"seq_goto","time":"2026-01-01T10:00:05Z","ip":"192.0.2.1","session":3.5,"event":"\"{\\\"old\\\":1,\\\"new\\\":2}\""}"#);
    push(event(3).as_bytes());
    std::fs::write(&f, &bytes).unwrap();
    let (url, _) = fresh_database("hostile").await;
    let mut o = options(&url, &[&f]);
    o.max_bad_ratio = 1.0;
    let s = load(o).await;
    assert_eq!((s.lines, s.events, s.rejected), (7, 3, 4), "{s:?}");
    let r = rejects(&url).await;
    let lines: Vec<i64> = r.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    assert!(r[0].1.contains("UTF-8"));
    assert!(r[1].1.contains("NUL"));
    assert!(
        r[2].1.contains("recursion") || r[2].1.contains("invalid JSON"),
        "{}",
        r[2].1
    );
    assert!(r[3].1.contains("byte limit"));
    let goto: (i64, String) = sqlx::query_as(
        "SELECT goto_dest, session FROM EdxTrackEvent WHERE event_type = 'seq_goto'",
    )
    .fetch_one(&pool(&url).await)
    .await
    .unwrap();
    assert_eq!(goto, (2, "3.5".to_string()));
}

#[tokio::test]
async fn empty_files_and_directories_of_other_files_load_without_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.log"), b"").unwrap();
    std::fs::write(
        dir.path().join("README.txt"),
        b"This folder holds our logs.\nSee the wiki.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("image.png"),
        [0x89, b'P', b'N', b'G', 0, 0, 1, 2],
    )
    .unwrap();
    // Old files: not live logs whose last line may still be being written.
    for name in ["empty.log", "README.txt", "image.png"] {
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(name))
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
            .unwrap();
    }
    let (url, _) = fresh_database("other_files").await;
    let mut o = options(&url, &[dir.path()]);
    o.max_bad_ratio = 1.0;
    let s = load(o).await;
    assert_eq!(
        (s.files, s.lines, s.events, s.rejected),
        (3, 3, 0, 3),
        "{s:?}"
    );
    for (_, reason) in rejects(&url).await {
        assert!(!reason.is_empty());
    }
}

#[tokio::test]
async fn invalid_utf8_in_any_field_rejects_only_that_line() {
    // A rich event whose every member (and members inside `event` and `context`) gets a broken
    // UTF-8 sequence in turn.
    let line = r#"{"username":"ana","event_source":"browser","event_type":"problem_check","time":"2026-01-01T10:00:00Z","ip":"192.0.2.1","agent":"Mozilla/5.0","host":"courses.example.org","page":"https://courses.example.org/courses/course-v1:X+Y+Z/courseware/a/b/","session":"s1","referer":"https://courses.example.org/","accept_language":"en","context":{"course_id":"course-v1:X+Y+Z","org_id":"X","user_id":7},"event":{"problem_id":"block-v1:X+Y+Z+type@problem+block@p1","answers":{"p1_2_1":"choice_1"},"attempts":1,"success":"correct"}}"#;
    // Inside every string value and every member name.
    let mut values: Vec<usize> = [":\"", ",\"", "{\""]
        .iter()
        .flat_map(|p| line.match_indices(p).map(|(i, _)| i + 2))
        .collect();
    values.sort();
    assert_eq!(values.len(), 37, "16 string values and 21 member names");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken_utf8.log");
    let mut bytes = Vec::new();
    for (n, &at) in values.iter().enumerate() {
        bytes.extend_from_slice(event(n).as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(&line.as_bytes()[..at]);
        bytes.extend_from_slice(b"\xc3\x28");
        bytes.extend_from_slice(&line.as_bytes()[at..]);
        bytes.push(b'\n');
    }
    std::fs::write(&f, &bytes).unwrap();
    let (url, _) = fresh_database("broken_utf8").await;
    let mut o = options(&url, &[&f]);
    o.max_bad_ratio = 1.0;
    let s = load(o).await;
    let n = values.len() as u64;
    assert_eq!((s.lines, s.events, s.rejected), (2 * n, n, n), "{s:?}");
    let r = rejects(&url).await;
    assert_eq!(r.len(), values.len());
    for (i, (line_number, reason)) in r.iter().enumerate() {
        assert_eq!(*line_number, 2 * i as i64 + 2, "the broken line is named");
        assert!(reason.contains("UTF-8"), "{reason}");
    }
}

#[tokio::test]
async fn strings_where_numbers_are_expected_load() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("strings_for_numbers.log");
    let lines = [
        r#"{"username":"ana","event_source":"browser","event_type":"seq_goto","time":"2026-01-01T10:00:00Z","ip":"192.0.2.1","page":"https://courses.example.org/courses/X/Y/Z/courseware/a/b/","event":"{\"old\":\"1\",\"new\":\"2\",\"id\":\"i4x://X/Y/sequential/b\"}"}"#,
        r#"{"username":"ana","event_source":"browser","event_type":"play_video","time":"2026-01-01T10:00:05Z","ip":"192.0.2.1","page":"https://courses.example.org/courses/X/Y/Z/courseware/a/b/","event":"{\"id\":\"v\",\"code\":\"c\",\"currentTime\":\"12.5\"}"}"#,
        r#"{"username":"ana","event_source":"server","event_type":"problem_check","time":"2026-01-01T10:00:09Z","ip":"192.0.2.1","page":"x_module","context":{"course_id":"X/Y/Z"},"event":{"problem_id":"i4x://X/Y/problem/p1","answers":{"i4x-X-Y-problem-p1_2_1":"choice_1"},"attempts":"2","grade":"1","max_grade":"1","success":"correct","correct_map":{"i4x-X-Y-problem-p1_2_1":{"correctness":"correct","npoints":"1"}}}}"#,
    ];
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let (url, _) = fresh_database("strings_for_numbers").await;
    let s = load(options(&url, &[&f])).await;
    assert_eq!((s.events, s.rejected), (3, 0), "{s:?}");
    let p = pool(&url).await;
    let goto: (i64, i64) = sqlx::query_as(
        "SELECT goto_from, goto_dest FROM EdxTrackEvent WHERE event_type = 'seq_goto'",
    )
    .fetch_one(&p)
    .await
    .unwrap();
    assert_eq!(goto, (1, 2));
    let video: String = sqlx::query_scalar(
        "SELECT video_current_time FROM EdxTrackEvent WHERE event_type = 'play_video'",
    )
    .fetch_one(&p)
    .await
    .unwrap();
    assert_eq!(video, "12.5");
    let attempts: i64 = sqlx::query_scalar(
        "SELECT attempts FROM EdxTrackEvent WHERE event_type = 'problem_check' LIMIT 1",
    )
    .fetch_one(&p)
    .await
    .unwrap();
    assert_eq!(attempts, 2);
}
