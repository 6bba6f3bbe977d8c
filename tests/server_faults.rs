//! Server faults, each on a private server the test controls (tests/common/private_server.rs):
//! a restart or crash in the middle of a load, a 1 MB `max_allowed_packet`, a lock wait timeout.

mod common;

use std::path::{Path, PathBuf};

use common::private_server::PrivateServer;
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
