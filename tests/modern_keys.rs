//! Metamorphic test of opaque keys: a course's tracking log respelled as Open edX logs it since
//! its opaque keys (`course-v1:` course ids, `block-v1:` usage keys, XBlock handler URLs, inline
//! ids without their course; see `common/modern_keys.rs`) must load into the same MOOCdb tables
//! as the legacy log, which the loader promises by naming resources and problems in the legacy
//! spelling whichever spelling a log uses (`src/moocdb/course_key.rs`).
//!
//! Each conformance log of `../shared/conformance` is loaded as it is, and respelled (written to
//! a temporary file), each into a fresh database with the same options (the kit's `DOMAIN`, so
//! relative URLs resolve alike). Compared, legacy against modern:
//!
//! * the load's counts (lines, events, rejected, duplicates, skipped) and the rows per MOOCdb
//!   table (printed side by side);
//! * `resources` as a multiset of their type (`resource_type_content`, `resource_type_medium`),
//!   and the shape of their tree: the multiset of (depth, number of children) of its nodes;
//! * `problems` by name (legacy spelling on both sides);
//! * `submissions` by (user, time, attempt, answer, is_submitted, problem name), and their
//!   number per (user, time);
//! * `assessments` by (grade, grade with penalty, grader, time, feedback, the user and time of
//!   the submission they grade);
//! * `observed_events` by (user, time, duration), by (user, time, event type), and by (user,
//!   time, type id and content of the resource whose address their `url_id` names in `urls`,
//!   the join MIT's feature SQL makes);
//! * `urls` by the number of URLs pages were logged at and of resources' addresses.
//!
//! Not compared: ids (numbered by the loader; event ids hash the line; but type ids are), `urls`
//! and `resources_urls` beyond their row counts (URLs are kept as logged), resource URIs and names
//! (a video's bare block id cannot say that its legacy category was `videoalpha`).
//!
//! Run: `cargo test --test modern_keys -- --nocapture` (prints the row counts). Skips, saying
//! so, when `../shared` is absent.

mod common;
#[path = "common/modern_keys.rs"]
mod modern_keys;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::path::Path;

use moocdb_loader::load::LoadSummary;
use moocdb_loader::schema::Table;
use sqlx::mysql::MySqlPool;

/// The kit's qpipe `DOMAIN` (its README, "Stubs and settings"), given to both loads.
const DOMAIN: &str = "https://class.stanford.edu";

/// Differing rows shown per comparison.
const SHOWN: usize = 15;

#[tokio::test]
async fn set1_unit_test_events_load_alike_in_both_key_spellings() {
    let Some(shared) = common::shared("modern_keys set1") else {
        return;
    };
    let input = shared.join("conformance/set1_unit_test_events/input.json");
    let outcome = compare_spellings("set1", &input).await;
    // The kit's qpipe wrote 57 submissions for this log: a respelling that lost the problems
    // would still compare equal if both sides had none.
    assert!(
        outcome.legacy_counts["submissions"] >= 50,
        "set1 should have 50+ submissions: {:?}",
        outcome.legacy_counts
    );
    assert!(outcome.differences.is_empty(), "{}", outcome.differences);
}

#[tokio::test]
async fn set2_tracking_log_loads_alike_in_both_key_spellings() {
    let Some(shared) = common::shared("modern_keys set2") else {
        return;
    };
    let input = shared.join("conformance/set2_tracking_log_20130609/input.log.gz");
    let outcome = compare_spellings("set2", &input).await;
    assert!(outcome.differences.is_empty(), "{}", outcome.differences);
}

/// What comparing one log's two spellings found.
struct Outcome {
    /// Rows per MOOCdb table of the legacy log.
    legacy_counts: BTreeMap<&'static str, i64>,
    /// Every difference, described; empty when the databases agree.
    differences: String,
}

/// Loads the legacy log at `input` and its modern respelling, and compares the MOOCdb tables.
async fn compare_spellings(set: &str, input: &Path) -> Outcome {
    let legacy_text = read_log(input);
    let modern_text = modern_keys::modern_log(&legacy_text);
    assert_ne!(legacy_text, modern_text, "{set}: nothing was respelled");
    let mut modern_file = tempfile::Builder::new()
        .prefix(&format!("modern-{set}-"))
        .suffix(".log")
        .tempfile()
        .unwrap();
    modern_file.write_all(modern_text.as_bytes()).unwrap();
    modern_file.flush().unwrap();

    let (legacy_url, legacy_load) = load_fresh(&format!("mk_{set}_legacy"), input).await;
    let (modern_url, modern_load) =
        load_fresh(&format!("mk_{set}_modern"), modern_file.path()).await;
    let legacy = common::pool(&legacy_url).await;
    let modern = common::pool(&modern_url).await;

    let mut differences = String::new();
    let mut report = format!(
        "=== {set}: {} (legacy) vs its modern respelling\n",
        input.display()
    );
    let summaries = [
        ("lines", legacy_load.lines, modern_load.lines),
        ("events", legacy_load.events, modern_load.events),
        ("rejected", legacy_load.rejected, modern_load.rejected),
        ("duplicates", legacy_load.duplicates, modern_load.duplicates),
        ("skipped", legacy_load.skipped, modern_load.skipped),
    ];
    let _ = writeln!(report, "{:<16} {:>8} {:>8}", "load", "legacy", "modern");
    for (what, l, m) in summaries {
        let _ = writeln!(report, "{what:<16} {l:>8} {m:>8}");
        if l != m {
            let _ = writeln!(differences, "{set}: load {what}: legacy {l}, modern {m}");
        }
    }
    let _ = writeln!(
        report,
        "{:<16} {:>8} {:>8}",
        "MOOCdb table", "legacy", "modern"
    );
    let mut legacy_counts = BTreeMap::new();
    for table in Table::MOOCDB {
        let name = table.name();
        if name == "urls" {
            // The URLs as logged differ in spelling: a modern page's URL is not its resource's
            // address, which `urls` then holds as well. Compared: the URLs pages were logged at
            // (those `resources_urls` links to) and the resources' addresses.
            for (what, sql) in URL_COUNTS {
                let l: i64 = sqlx::query_scalar(sql).fetch_one(&legacy).await.unwrap();
                let m: i64 = sqlx::query_scalar(sql).fetch_one(&modern).await.unwrap();
                let _ = writeln!(report, "{what:<16} {l:>8} {m:>8}");
                if l != m {
                    let _ = writeln!(differences, "{set}: {what}: legacy {l}, modern {m}");
                }
            }
            legacy_counts.insert(name, common::count(&legacy, name).await);
            continue;
        }
        let (l, m) = (
            common::count(&legacy, name).await,
            common::count(&modern, name).await,
        );
        let _ = writeln!(report, "{name:<16} {l:>8} {m:>8}");
        if l != m {
            let _ = writeln!(differences, "{set}: {name} rows: legacy {l}, modern {m}");
        }
        legacy_counts.insert(name, l);
    }
    println!("{report}");

    for comparison in COMPARISONS {
        let l = comparison.rows(&legacy).await;
        let m = comparison.rows(&modern).await;
        describe_difference(&mut differences, set, comparison.name, l, m);
    }
    describe_difference(
        &mut differences,
        set,
        "resource tree by (depth, children)",
        resource_tree_shape(&legacy).await,
        resource_tree_shape(&modern).await,
    );
    Outcome {
        legacy_counts,
        differences,
    }
}

/// The text of a plain or gzip log.
fn read_log(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return String::from_utf8(bytes).expect("a UTF-8 log");
    }
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("a gzip UTF-8 log");
    text
}

/// Loads one log into a fresh database; returns its URL and the load's summary.
async fn load_fresh(database: &str, log: &Path) -> (String, LoadSummary) {
    let (url, _) = common::fresh_database(database).await;
    let mut options = common::options(&url, &[log]);
    options.domain = Some(DOMAIN.into());
    // Set 1 holds bad lines on purpose (the kit's README): load past them.
    options.max_bad_ratio = 1.0;
    let summary = common::load(options).await;
    (url, summary)
}

/// What `urls` is compared by, by row count: the URLs pages were logged at, and the resources'
/// addresses (a resource's URI under its id).
const URL_COUNTS: [(&str, &str); 2] = [
    (
        "urls of pages",
        "SELECT COUNT(*) FROM urls u \
         WHERE EXISTS (SELECT 1 FROM resources_urls l WHERE l.url_id = u.url_id)",
    ),
    (
        "urls: addresses",
        "SELECT COUNT(*) FROM urls u \
         JOIN resources r ON r.resource_id = u.url_id AND r.resource_uri = u.url",
    ),
];

/// One comparison of the two databases: a multiset of rows, each the given columns of `from`.
struct Comparison {
    name: &'static str,
    columns: &'static [&'static str],
    from: &'static str,
}

const COMPARISONS: [Comparison; 8] = [
    Comparison {
        name: "resources by type (content, medium)",
        columns: &["t.resource_type_content", "t.resource_type_medium"],
        from: "resources r JOIN resource_types t USING (resource_type_id)",
    },
    Comparison {
        name: "problems by name",
        columns: &["problem_name"],
        from: "problems",
    },
    Comparison {
        name: "submissions by (user, time, attempt, answer, is_submitted, problem)",
        columns: &[
            "s.user_id",
            "s.submission_timestamp",
            "s.submission_attempt_number",
            "s.submission_answer",
            "s.submission_is_submitted",
            "p.problem_name",
        ],
        from: "submissions s JOIN problems p USING (problem_id)",
    },
    Comparison {
        name: "submissions per (user, time)",
        columns: &["user_id", "submission_timestamp", "COUNT(*)"],
        from: "submissions GROUP BY user_id, submission_timestamp",
    },
    Comparison {
        name: "assessments by (grade, penalised grade, grader, time, feedback, submission)",
        columns: &[
            "a.assessment_grade",
            "a.assessment_grade_with_penalty",
            "a.assessment_grader_id",
            "a.assessment_timestamp",
            "a.assessment_feedback",
            "s.user_id",
            "s.submission_timestamp",
        ],
        from: "assessments a LEFT JOIN submissions s USING (submission_id)",
    },
    Comparison {
        name: "observed events by (user, time, duration)",
        columns: &[
            "user_id",
            "observed_event_timestamp",
            "observed_event_duration",
        ],
        from: "observed_events",
    },
    Comparison {
        // The join of MIT's feature SQL (DigitalLearnerQuantified, features 16 to 18): an
        // event's `url_id` names a URL, which is the address of a resource of some type.
        name: "observed events by (user, time, type of the resource at the URL their url_id names)",
        columns: &[
            "oe.user_id",
            "oe.observed_event_timestamp",
            "r.resource_type_id",
            "t.resource_type_content",
        ],
        from: "observed_events oe JOIN urls u ON u.url_id = oe.url_id \
               JOIN resources r ON r.resource_uri = u.url \
               JOIN resource_types t ON t.resource_type_id = r.resource_type_id",
    },
    Comparison {
        name: "observed events by (user, time, type)",
        columns: &[
            "user_id",
            "observed_event_timestamp",
            "observed_event_type_id",
        ],
        from: "observed_events",
    },
];

impl Comparison {
    /// The rows, each as its SQL-quoted values joined by ` | `, sorted.
    async fn rows(&self, pool: &MySqlPool) -> Vec<String> {
        let values: Vec<String> = self.columns.iter().map(|c| format!("QUOTE({c})")).collect();
        let sql = format!(
            "SELECT CONCAT_WS(' | ', {}) AS r FROM {} ORDER BY r",
            values.join(", "),
            self.from
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

/// The shape of the resource tree: each node as `depth <d>, <n> children`, sorted.
async fn resource_tree_shape(pool: &MySqlPool) -> Vec<String> {
    let nodes: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT resource_id, resource_parent_id FROM resources")
            .fetch_all(pool)
            .await
            .unwrap();
    let parents: BTreeMap<i64, Option<i64>> = nodes.iter().copied().collect();
    let mut children: BTreeMap<i64, usize> = BTreeMap::new();
    for parent in parents.values().flatten() {
        *children.entry(*parent).or_default() += 1;
    }
    let depth = |mut id: i64| {
        let mut depth = 0;
        while let Some(Some(parent)) = parents.get(&id) {
            depth += 1;
            id = *parent;
            assert!(depth <= parents.len(), "a cycle in resources at {id}");
        }
        depth
    };
    let mut shape: Vec<String> = parents
        .keys()
        .map(|&id| {
            let n = children.get(&id).copied().unwrap_or(0);
            format!("depth {}, {n} children", depth(id))
        })
        .collect();
    shape.sort();
    shape
}

/// Appends to `out` how two sorted multisets differ (nothing when they are equal).
fn describe_difference(
    out: &mut String,
    set: &str,
    what: &str,
    legacy: Vec<String>,
    modern: Vec<String>,
) {
    if legacy == modern {
        return;
    }
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for row in &legacy {
        *counts.entry(row).or_default() += 1;
    }
    for row in &modern {
        *counts.entry(row).or_default() -= 1;
    }
    let only = |sign: i64| -> Vec<String> {
        counts
            .iter()
            .filter(|(_, n)| n.signum() == sign)
            .map(|(row, n)| format!("{} × {row}", n.abs()))
            .collect()
    };
    let (legacy_only, modern_only) = (only(1), only(-1));
    let _ = writeln!(
        out,
        "{set}: {what}: {} rows legacy, {} modern; {} distinct only in legacy, {} only in modern",
        legacy.len(),
        modern.len(),
        legacy_only.len(),
        modern_only.len()
    );
    for (side, rows) in [("legacy only", legacy_only), ("modern only", modern_only)] {
        for row in rows.iter().take(SHOWN) {
            let _ = writeln!(out, "    {side}: {row}");
        }
        if rows.len() > SHOWN {
            let _ = writeln!(out, "    {side}: … {} more", rows.len() - SHOWN);
        }
    }
}

/// The respelling itself, line by line (see `common/modern_keys.rs`).
#[test]
fn legacy_lines_take_the_modern_spelling() {
    let legacy = [
        // A path-style problem check: module URL, course path, the form's input id.
        r#"{"event_type": "/courses/O/C/R/modx/i4x://O/C/problem/p1/problem_check", "event": "{\"POST\": {\"input_i4x-O-C-problem-p1_2_1\": [\"choice_1\"]}, \"GET\": {}}", "page": null}"#,
        // A browser video event: the id inside the JSON string loses its course.
        r#"{"event_type": "play_video", "event": "{\"id\":\"i4x-O-C-videoalpha-v1\",\"code\":\"html5\"}", "page": "https://h/courses/O/C/R/courseware/ch/seq/"}"#,
        // A server problem check whose page names no course: a context with the course is
        // added, so that the bare answer ids can be resolved.
        r#"{"event_type": "problem_check", "event": {"problem_id": "i4x://O/C/problem/p1", "answers": {"i4x-O-C-problem-p1_2_1": "choice_1"}}, "page": "x_module"}"#,
        // Course ids as values, and a course path in the context.
        r#"{"event_type": "change-email-settings", "event": {"course": "O/C/R", "n": 1.50}, "context": {"course_id": "O/C/R", "path": "/courses/O/C/R/about"}}"#,
        // A browser problem check: a query string in a JSON string in a JSON string.
        r#"{"event_type": "problem_check", "event": "\"input_i4x-O-C-problem-p1_2_1=choice_2&input_i4x-X-Y-problem-q_3_1=choice_0\"", "page": "https://h/courses/O/C/R/courseware/a/b/"}"#,
        // A module of a course whose run the log never names: left as logged.
        r#"{"event_type": "reset_problem", "event": {"problem_id": "i4x://X/Y/problem/q", "state": {"student_answers": {"i4x-X-Y-problem-q_2_1": "a"}}}, "page": "x_module"}"#,
        // A known prefix is kept.
        r#"tracking.log-20130722.gz:{"event_type": "/courses/O/C/R/info", "page": null}"#,
        // Over-escaped quotes (the loader repairs them): respelled as text.
        r#"{"event_type": "seq_goto", "event": "{\\"id\\":\\"i4x://O/C/sequential/s1\\"}", "page": "https://h/courses/O/C/R/courseware/"}"#,
        // Not JSON: kept.
        "not an event",
    ];
    let modern = [
        r#"{"event_type": "/courses/course-v1:O+C+R/xblock/block-v1:O+C+R+type@problem+block@p1/handler/xmodule_handler/problem_check", "event": "{\"POST\": {\"input_p1_2_1\": [\"choice_1\"]}, \"GET\": {}}", "page": null}"#,
        r#"{"event_type": "play_video", "event": "{\"id\":\"v1\",\"code\":\"html5\"}", "page": "https://h/courses/course-v1:O+C+R/courseware/ch/seq/"}"#,
        r#"{"event_type": "problem_check", "event": {"problem_id": "block-v1:O+C+R+type@problem+block@p1", "answers": {"p1_2_1": "choice_1"}}, "page": "x_module", "context": {"course_id": "course-v1:O+C+R"}}"#,
        r#"{"event_type": "change-email-settings", "event": {"course": "course-v1:O+C+R", "n": 1.50}, "context": {"course_id": "course-v1:O+C+R", "path": "/courses/course-v1:O+C+R/about"}}"#,
        r#"{"event_type": "problem_check", "event": "\"input_p1_2_1=choice_2&input_i4x-X-Y-problem-q_3_1=choice_0\"", "page": "https://h/courses/course-v1:O+C+R/courseware/a/b/"}"#,
        r#"{"event_type": "reset_problem", "event": {"problem_id": "i4x://X/Y/problem/q", "state": {"student_answers": {"i4x-X-Y-problem-q_2_1": "a"}}}, "page": "x_module"}"#,
        r#"tracking.log-20130722.gz:{"event_type": "/courses/course-v1:O+C+R/info", "page": null}"#,
        r#"{"event_type": "seq_goto", "event": "{\\"id\\":\\"block-v1:O+C+R+type@sequential+block@s1\\"}", "page": "https://h/courses/course-v1:O+C+R/courseware/"}"#,
        "not an event",
    ];
    let log = legacy.join("\n") + "\r\n";
    let respelled = modern_keys::modern_log(&log);
    assert!(
        respelled.ends_with("not an event\r\n"),
        "the line terminator is kept"
    );
    let respelled: Vec<&str> = respelled.trim_end_matches("\r\n").split('\n').collect();
    assert_eq!(respelled.len(), modern.len());
    for (got, expected) in respelled.iter().zip(modern) {
        assert_eq!(*got, expected);
    }
    // Deterministic, and a modern log is left as it is.
    assert_eq!(modern_keys::modern_log(&log), modern_keys::modern_log(&log));
    let again = modern.join("\n");
    assert_eq!(modern_keys::modern_log(&again), again);
}
