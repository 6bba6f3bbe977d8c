//! Conformance of the json_to_relation ("apipe") relations with the legacy golden outputs.
//!
//! `../shared/conformance/` holds, for two inputs, the intermediary CSVs that the original
//! json_to_relation (Translation_software 2014) wrote (`apipe_2014/*.csv`, see its README). This
//! test loads each input with the library into a fresh database, reads back our `EdxTrackEvent`,
//! `Answer`, `CorrectMap`, `InputState`, `State`, `ABExperiment` and `LoadInfo`, normalises both
//! sides (random ids, run-dependent columns, the IP stub, time formats, the legacy text escaping)
//! and compares every table as a multiset of rows.
//!
//! The report (per-table counts, rows only on one side, "near matches" with only the differing
//! columns) is printed and written to `target/conformance/relations-<set>.txt`. Every row that
//! differs must be explained by an entry of [`KNOWN_DEVIATIONS`] (which cites `docs/deviations.md`);
//! otherwise the test fails and names the unexplained rows.
//!
//! Run: `cargo test --test conformance_relations -- --nocapture` (set `CONFORMANCE_KEEP_DB=1` to
//! keep the loaded databases for inspection; they are dropped otherwise).

mod common;
mod conformance;

use conformance::{
    Deviation, Row, Side, col, multiset_difference, pair_near_matches, print_capped, report_dir,
    show, write_column_overview,
};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime};
use moocdb_loader::identity::legacy_insert_safe;
use moocdb_loader::schema::Table;
use regex::Regex;
use sqlx::mysql::MySqlPool;

// ---------------------------------------------------------------------------------------------
// Allowlist of differences
// ---------------------------------------------------------------------------------------------

// Rows are normalised (`Row`): SQL NULL reads [`NULL`].

/// Every accepted difference. A differing row that no entry matches fails the test; an entry that
/// matches no differing row in any set is reported as stale (a warning for now).
///
/// Deliberately empty at first: the handlers are still being written, and each entry must be a
/// conscious decision documented in `docs/deviations.md`. Predicates see the normalised row: use
/// [`col`] to read a column (masked ids read `<id>`, SQL NULL reads [`NULL`]).
const KNOWN_DEVIATIONS: &[Deviation] = &[
    Deviation {
        table: "EdxTrackEvent",
        side: Side::OursOnly,
        reason: "lines json_to_relation dropped load: a truncated 512-character `event` (kept in \
                 badly_formatted), a line prefix, non-ASCII in a URL event type \
                 (docs/deviations.md, Input and parsing)",
        matches: |r| {
            !col(r, "badly_formatted").is_empty()
                || col(r, "event_type").starts_with("/c4x")
                || PREFIXED_LINES.contains(&col(r, "time"))
        },
    },
    Deviation {
        table: "EdxTrackEvent",
        side: Side::GoldenOnly,
        reason: "identical lines are stored once (DESIGN.md decision 4; docs/deviations.md, \
                 Identifiers); the kit's input repeats several unit-test files",
        matches: |r| DUPLICATED_LINES.contains(&(col(r, "event_type"), col(r, "time"))),
    },
    Deviation {
        table: "Answer",
        side: Side::GoldenOnly,
        reason: "answers of identical lines are stored once (DESIGN.md decision 4)",
        matches: |r| DUPLICATED_ANSWERS.contains(&col(r, "problem_id")),
    },
    Deviation {
        table: "EdxTrackEvent",
        side: Side::Both,
        reason: "set-1 line 15 repeats line 13 and is ignored as a duplicate, so the next \
                 heartbeat's downtime is measured from line 14 (DESIGN.md decision 4)",
        matches: |r| {
            col(r, "event_type") == "/heartbeat" && col(r, "time") == "2013-07-18 09:45:37.573390"
        },
    },
    Deviation {
        table: "EdxTrackEvent",
        side: Side::GoldenOnly,
        reason: "a heartbeat kept by the legacy only because its gap was negative (out of time \
                 order); a gap backwards in time is no downtime (docs/deviations.md)",
        matches: |r| col(r, "event_type") == "/heartbeat" && col(r, "downtime_for").is_empty(),
    },
    Deviation {
        table: "EdxTrackEvent",
        side: Side::GoldenOnly,
        reason: "json_to_relation wrote the last answer row of path-style problem_check and of \
                 problem_check_fail twice; it is written once (docs/deviations.md)",
        matches: |r| {
            let t = col(r, "event_type");
            (t.ends_with("/problem_check") || t == "problem_check_fail")
                && col(r, "answer_fk") == ID
        },
    },
    Deviation {
        table: "EdxTrackEvent",
        side: Side::Both,
        reason: "the key of an account activation, e-mail change or password reset link is a \
                 credential: the path is `/activate/_hidden_` (docs/deviations.md, Input and parsing)",
        matches: |r| {
            ["/activate/", "/email_confirm/", "/password_reset_confirm/"]
                .iter()
                .any(|p| col(r, "event_type").contains(p) || col(r, "course_id").contains(p))
        },
    },
    Deviation {
        table: "EdxTrackEvent",
        side: Side::Both,
        reason: "a username an instructor's action names (`student_id`, `instructor_id`, \
                 `group_user`) is stored as that user's anon screen name (docs/deviations.md, \
                 Identifiers)",
        matches: |r| {
            [
                "reset-student-attempts",
                "get-student-progress-page",
                "delete-student-module-state",
                "rescore-student-submission",
                "add-instructor",
                "remove-instructor",
                "add-or-remove-user-group",
            ]
            .contains(&col(r, "event_type"))
        },
    },
];

/// Times of the two set-1 lines (65, 77) whose `tracking.log-…gz:` and `:` prefixes made
/// json_to_relation drop them.
const PREFIXED_LINES: &[&str] = &["2013-07-23 01:13:10.355077", "2013-06-19 15:50:11.879525"];

/// (event_type, time) of rows coming from set-1 input lines that repeat an earlier line
/// byte for byte (the kit concatenates unit-test files, some of which are copies).
const DUPLICATED_LINES: &[(&str, &str)] = &[
    ("/create_account", "2013-06-09 06:29:13.583880"),
    ("/create_account", "2013-07-11 04:15:39.373794"),
    ("/heartbeat", "2013-07-18 08:43:32.573390"),
    ("problem_graded", "2013-10-03 11:07:09.872336"),
    ("problem_check", "2013-08-04 06:27:13.660689"),
];

/// Answer.problem_id of the answers of those repeated lines.
const DUPLICATED_ANSWERS: &[&str] = &[
    "input_i4x-Medicine-SciWrite-problem-c3266c76a7854d02b881250a49054ddb_2_1",
    "input_i4x-Medicine-HRP258-problem-7451f8fe15a642e1820767db411a4a3e_2_1",
    "input_i4x-Medicine-HRP258-problem-7451f8fe15a642e1820767db411a4a3e_3_1",
];

// ---------------------------------------------------------------------------------------------
// What is compared
// ---------------------------------------------------------------------------------------------

/// One golden table: its CSV, its 2014 column list (legacy-pipeline.md §3.3; we match columns by
/// name because our DDL is the 2018 one, with `quarter` and the extended ABExperiment), and the
/// columns that identify a row well enough to pair up "near matches" in the report: a list of
/// stages, tried in order; an empty stage pairs by similarity.
struct GoldenTable {
    table: Table,
    csv: &'static str,
    columns: &'static [&'static str],
    pair_on: &'static [&'static [&'static str]],
}

const EDX_TRACK_EVENT_2014: &[&str] = &[
    "_id",
    "event_id",
    "agent",
    "event_source",
    "event_type",
    "ip_country",
    "page",
    "session",
    "time",
    "anon_screen_name",
    "downtime_for",
    "student_id",
    "instructor_id",
    "course_id",
    "course_display_name",
    "resource_display_name",
    "organization",
    "sequence_id",
    "goto_from",
    "goto_dest",
    "problem_id",
    "problem_choice",
    "question_location",
    "submission_id",
    "attempts",
    "long_answer",
    "student_file",
    "can_upload_file",
    "feedback",
    "feedback_response_selected",
    "transcript_id",
    "transcript_code",
    "rubric_selection",
    "rubric_category",
    "video_id",
    "video_code",
    "video_current_time",
    "video_speed",
    "video_old_time",
    "video_new_time",
    "video_seek_type",
    "video_new_speed",
    "video_old_speed",
    "book_interaction_type",
    "success",
    "answer_id",
    "hint",
    "mode",
    "msg",
    "npoints",
    "queuestate",
    "orig_score",
    "new_score",
    "orig_total",
    "new_total",
    "event_name",
    "group_user",
    "group_action",
    "position",
    "badly_formatted",
    "correctMap_fk",
    "answer_fk",
    "state_fk",
    "load_info_fk",
];

const GOLDEN_TABLES: &[GoldenTable] = &[
    GoldenTable {
        table: Table::EdxTrackEvent,
        csv: "EdxTrackEventTable.csv",
        columns: EDX_TRACK_EVENT_2014,
        pair_on: &[&["event_type", "time"], &["time"]],
    },
    GoldenTable {
        table: Table::Answer,
        csv: "AnswerTable.csv",
        columns: &["answer_id", "problem_id", "answer", "course_id"],
        pair_on: &[&["problem_id"]],
    },
    GoldenTable {
        table: Table::CorrectMap,
        csv: "CorrectMapTable.csv",
        columns: &[
            "correct_map_id",
            "answer_identifier",
            "correctness",
            "npoints",
            "msg",
            "hint",
            "hintmode",
            "queuestate",
        ],
        pair_on: &[&["answer_identifier"]],
    },
    GoldenTable {
        table: Table::InputState,
        csv: "InputStateTable.csv",
        columns: &["input_state_id", "problem_id", "state"],
        pair_on: &[&["problem_id"]],
    },
    GoldenTable {
        table: Table::State,
        csv: "StateTable.csv",
        columns: &[
            "state_id",
            "seed",
            "done",
            "problem_id",
            "student_answer",
            "correct_map",
            "input_state",
        ],
        // State rows have no distinctive column (problem_id is mostly empty): pair by similarity.
        pair_on: &[&[]],
    },
    GoldenTable {
        table: Table::AbExperiment,
        csv: "ABExperimentTable.csv",
        columns: &[
            "event_table_id",
            "event_type",
            "group_id",
            "group_name",
            "partition_id",
            "partition_name",
            "child_module_id",
        ],
        pair_on: &[&["event_type"]],
    },
    GoldenTable {
        table: Table::LoadInfo,
        csv: "LoadInfoTable.csv",
        columns: &["load_info_id", "load_date_time", "load_file"],
        pair_on: &[&[]],
    },
];

/// The two inputs of the kit and their 2014 golden directories (relative to `../shared`).
const SETS: &[(&str, &str, &str)] = &[
    (
        "set1",
        "conformance/set1_unit_test_events/input.json",
        "conformance/set1_unit_test_events/apipe_2014",
    ),
    (
        "set2",
        "conformance/set2_tracking_log_20130609/input.log.gz",
        "conformance/set2_tracking_log_20130609/apipe_2014",
    ),
];

/// Columns whose values depend on the run (input path, load time), not on the events.
const RUN_DEPENDENT: &[&str] = &[
    "load_info_fk",
    "load_info_id",
    "load_file",
    "load_date_time",
];

/// How SQL NULL appears in a normalised row (MySQL's own notation; `''` stays `''`).
const NULL: &str = "\\N";
/// What a random/derived row id becomes: ids cannot match (UUID4 vs our derived ids), but whether
/// an FK is set (`<id>`) or empty (`''`) must.
const ID: &str = "<id>";
/// What run-dependent columns and the stubbed `ip_country` become.
const MASKED: &str = "<masked>";

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn relations_match_apipe_2014_golden() {
    let Some(shared) = common::shared("conformance_relations") else {
        return;
    };
    let mut used = vec![false; KNOWN_DEVIATIONS.len()];
    let mut failures = Vec::new();
    for (set, input, golden) in SETS {
        let result = compare_set(set, &shared.join(input), &shared.join(golden), &mut used).await;
        let path = report_dir().join(format!("relations-{set}.txt"));
        std::fs::create_dir_all(report_dir()).unwrap();
        std::fs::write(&path, &result.report).unwrap();
        print_capped(&result.report, &path);
        if result.unexplained > 0 {
            failures.push(format!(
                "{set}: {} differing row(s) not covered by KNOWN_DEVIATIONS (see {})",
                result.unexplained,
                path.display()
            ));
        }
    }
    for (deviation, used) in KNOWN_DEVIATIONS.iter().zip(&used) {
        if !used {
            failures.push(format!(
                "stale KNOWN_DEVIATIONS entry ({} {:?}): matches no differing row: {}",
                deviation.table, deviation.side, deviation.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The 2018 columns the 2014 code lacks: `quarter`, and ABExperiment's extension, compared with
/// json_to_relation HEAD's output for the same events (`apipe_head_2018`, input `input_head.json`).
#[tokio::test]
async fn quarter_and_ab_experiment_match_apipe_head_2018() {
    let Some(shared) = common::shared("quarter_and_ab_experiment_match_apipe_head_2018") else {
        return;
    };
    let dir = shared.join("conformance/set1_unit_test_events");
    let (url, _) = common::fresh_database("conformance_head").await;
    let mut o = common::options(&url, &[&dir.join("input_head.json")]);
    o.max_bad_ratio = 1.0;
    common::load(o).await;
    let pool = common::pool(&url).await;

    // quarter: every HEAD row's (event_type, time) has our row with the same quarter.
    let ours: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(event_type AS CHAR), CAST(time AS CHAR), CAST(quarter AS CHAR) FROM EdxTrackEvent",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let csv = std::fs::read_to_string(dir.join("apipe_head_2018/EdxTrackEventTable.csv")).unwrap();
    let mut checked = 0;
    for line in csv.lines() {
        let f = parse_record(line).unwrap();
        let text = |i: usize| f[i].clone().unwrap_or_default();
        let (event_type, time, quarter) = (text(4), normalise_time(&text(8)).unwrap(), text(9));
        let ours_quarters: Vec<&str> = ours
            .iter()
            .filter(|(t, tm, _)| *t == event_type && normalise_time(tm).as_deref() == Some(&time))
            .map(|(_, _, q)| q.as_str())
            .collect();
        if ours_quarters.is_empty() {
            continue; // a line we store differently; covered by relations_match_apipe_2014_golden
        }
        assert!(
            ours_quarters.contains(&quarter.as_str()),
            "{event_type} {time}: {quarter} vs {ours_quarters:?}"
        );
        checked += 1;
    }
    assert!(checked >= 55, "only {checked} HEAD rows compared");

    // ABExperiment: HEAD's rows are ours, but for course_display_name, where HEAD wrote the page
    // URL and we write the course (docs/deviations.md).
    const AB: &str = "event_type, anon_screen_name, group_id, group_name, partition_id, \
                      partition_name, child_module_id, resource_display_name, cohort_id, cohort_name";
    let ours: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT CONCAT_WS('|', {AB}) FROM ABExperiment"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    let csv = std::fs::read_to_string(dir.join("apipe_head_2018/ABExperimentTable.csv")).unwrap();
    let mut golden_rows = 0;
    for line in csv.lines() {
        let f = parse_record(line).unwrap();
        let joined = f[1..11]
            .iter()
            .map(|v| v.clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("|");
        assert!(
            ours.contains(&joined),
            "HEAD ABExperiment row {joined} not in ours: {ours:#?}"
        );
        golden_rows += 1;
    }
    assert_eq!(golden_rows, 3);
    // The 2014 code's extra row from context.course_user_tags (HEAD dropped it) is ours too.
    assert_eq!(ours.len(), 4);
}

/// The outcome of one set.
struct SetResult {
    report: String,
    /// Differing rows that no deviation explains.
    unexplained: usize,
}

/// Loads one input into a fresh database and compares every golden table with ours.
async fn compare_set(set: &str, input: &Path, golden: &Path, used: &mut [bool]) -> SetResult {
    let (url, db) = common::fresh_database(&format!("conf_{set}")).await;
    let mut options = common::options(&url, &[input]);
    // Set 1 deliberately contains bad lines (see the kit README): keep loading past them.
    options.max_bad_ratio = 1.0;
    let summary = common::load(options).await;
    let pool = common::pool(&url).await;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "=== {set}: {} vs {}\nload: {} lines, {} events, {} rejected, {} duplicates, {} skipped",
        input.display(),
        golden.display(),
        summary.lines,
        summary.events,
        summary.rejected,
        summary.duplicates,
        summary.skipped
    );
    let mut details = String::new();
    let mut unexplained = 0;
    let _ = writeln!(
        report,
        "{:<14} {:>7} {:>7} {:>7} {:>12} {:>10} {:>12}",
        "table", "golden", "ours", "equal", "golden-only", "ours-only", "unexplained"
    );
    for spec in GOLDEN_TABLES {
        let t = compare_table(spec, golden, &pool, used).await;
        unexplained += t.unexplained;
        let _ = writeln!(
            report,
            "{:<14} {:>7} {:>7} {:>7} {:>12} {:>10} {:>12}",
            spec.table.name(),
            t.golden,
            t.ours,
            t.equal,
            t.golden_only,
            t.ours_only,
            t.unexplained
        );
        details.push_str(&t.details);
    }
    report.push_str(&details);

    // The databases are only needed for the comparison; keep them on request for digging further.
    if std::env::var_os("CONFORMANCE_KEEP_DB").is_some() {
        let _ = writeln!(report, "(database kept: {url})");
    } else {
        for name in [db.clone(), format!("{db}_private")] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{name}`"
            )))
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    pool.close().await;
    SetResult {
        report,
        unexplained,
    }
}

/// The comparison of one table.
struct TableResult {
    golden: usize,
    ours: usize,
    equal: usize,
    golden_only: usize,
    ours_only: usize,
    unexplained: usize,
    details: String,
}

async fn compare_table(
    spec: &GoldenTable,
    golden_dir: &Path,
    pool: &MySqlPool,
    used: &mut [bool],
) -> TableResult {
    let name = spec.table.name();
    let int_columns = integer_columns(pool, name).await;
    let our_columns = spec.table.columns();

    // Golden rows.
    let csv_path = golden_dir.join(spec.csv);
    let text = String::from_utf8_lossy(&std::fs::read(&csv_path).unwrap()).into_owned();
    let mut golden = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let fields =
            parse_record(line).unwrap_or_else(|e| panic!("{}:{}: {e}", csv_path.display(), n + 1));
        assert_eq!(
            fields.len(),
            spec.columns.len(),
            "{}:{}: field count",
            csv_path.display(),
            n + 1
        );
        let raw: Vec<(&str, Option<String>)> = spec.columns.iter().copied().zip(fields).collect();
        golden.push(normalise(name, raw, &int_columns, Origin::Golden));
    }

    // Our rows, projected on the 2014 columns (ours is a superset, see the module comment).
    let mut ours = Vec::new();
    for dumped in common::table_dump(pool, spec.table, &[]).await {
        let fields = parse_record(&dumped).unwrap_or_else(|e| panic!("{name} dump: {e}"));
        assert_eq!(fields.len(), our_columns.len(), "{name} dump: field count");
        let by_name: BTreeMap<&str, Option<String>> =
            our_columns.iter().copied().zip(fields).collect();
        let raw = spec
            .columns
            .iter()
            .map(|c| {
                (
                    *c,
                    by_name.get(c).cloned().unwrap_or(Some("<missing>".into())),
                )
            })
            .collect();
        ours.push(normalise(name, raw, &int_columns, Origin::Ours));
    }

    let mut details = String::new();
    let dropped: Vec<&str> = our_columns
        .iter()
        .copied()
        .filter(|c| !spec.columns.contains(c))
        .collect();
    let missing: Vec<&str> = spec
        .columns
        .iter()
        .copied()
        .filter(|c| !our_columns.contains(c))
        .collect();

    let (golden_only, ours_only, equal) = multiset_difference(&golden, &ours);
    let mut result = TableResult {
        golden: golden.len(),
        ours: ours.len(),
        equal,
        golden_only: golden_only.len(),
        ours_only: ours_only.len(),
        unexplained: 0,
        details: String::new(),
    };
    if golden_only.is_empty() && ours_only.is_empty() && missing.is_empty() {
        return result;
    }

    let _ = writeln!(
        details,
        "\n--- {name}: golden {} vs ours {} ({} equal, {} only in golden, {} only in ours)",
        golden.len(),
        ours.len(),
        equal,
        golden_only.len(),
        ours_only.len()
    );
    if !dropped.is_empty() {
        let _ = writeln!(
            details,
            "(our columns not compared: {})",
            dropped.join(", ")
        );
    }
    if !missing.is_empty() {
        let _ = writeln!(details, "!! golden columns we lack: {}", missing.join(", "));
    }

    // Each differing row is checked against the allowlist; unexplained ones are flagged `!!`.
    let mut explain = |row: &Row, side: Side| -> bool {
        let mut hit = false;
        for (i, d) in KNOWN_DEVIATIONS.iter().enumerate() {
            if d.table == name && d.side.covers(side) && (d.matches)(row) {
                used[i] = true;
                hit = true;
            }
        }
        if !hit {
            result.unexplained += 1;
        }
        hit
    };
    let flag = |ok: bool| if ok { "ok" } else { "!!" };

    let (pairs, lone_golden, lone_ours) =
        pair_near_matches(spec.columns, spec.pair_on, &golden_only, &ours_only);

    // Overview first: systematic differences show up as one line with a count instead of
    // hundreds of pairs.
    write_column_overview(&mut details, spec.columns, &pairs, &golden_only, &ours_only);
    for (label, lone, rows) in [
        ("unpaired rows only in golden", &lone_golden, &golden_only),
        ("unpaired rows only in ours", &lone_ours, &ours_only),
    ] {
        if !lone.is_empty() && spec.columns.contains(&"event_type") {
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for &i in lone.iter() {
                *kinds.entry(col(rows[i], "event_type")).or_default() += 1;
            }
            let kinds: Vec<String> = kinds
                .iter()
                .map(|(k, n)| format!("{n}× {}", show(k)))
                .collect();
            let _ = writeln!(details, "{label}, by event_type: {}", kinds.join(", "));
        }
    }

    let mut heading = None;
    for (g, o, stage) in pairs {
        let key_columns = spec.pair_on[stage];
        if heading != Some(stage) {
            heading = Some(stage);
            let _ = writeln!(
                details,
                "near matches ({}; golden → ours, differing columns only):",
                stage_label(key_columns)
            );
        }
        let (g, o) = (golden_only[g], ours_only[o]);
        // Both rows are checked (and counted) separately; the pair is fine only if both are.
        let golden_ok = explain(g, Side::GoldenOnly);
        let ours_ok = explain(o, Side::OursOnly);
        let _ = writeln!(
            details,
            "{} ~ {}",
            flag(golden_ok && ours_ok),
            key_label(spec, key_columns, g)
        );
        for c in spec.columns {
            if g[*c] != o[*c] {
                let _ = writeln!(details, "      {c}: {} → {}", show(&g[*c]), show(&o[*c]));
            }
        }
    }
    if !lone_golden.is_empty() {
        let _ = writeln!(details, "only in golden:");
    }
    for g in lone_golden {
        let row = golden_only[g];
        let ok = explain(row, Side::GoldenOnly);
        let _ = writeln!(details, "{} - {}", flag(ok), compact(spec, row));
    }
    if !lone_ours.is_empty() {
        let _ = writeln!(details, "only in ours:");
    }
    for o in lone_ours {
        let row = ours_only[o];
        let ok = explain(row, Side::OursOnly);
        let _ = writeln!(details, "{} + {}", flag(ok), compact(spec, row));
    }
    if !missing.is_empty() {
        // A schema gap is a difference no row-level deviation can explain.
        result.unexplained += 1;
    }
    result.details = details;
    result
}

/// The names of the integer columns of one of our tables: they are compared as numbers.
async fn integer_columns(pool: &MySqlPool, table: &str) -> BTreeSet<String> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
         AND DATA_TYPE IN ('tinyint', 'smallint', 'mediumint', 'int', 'bigint')",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap();
    names.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// Parsing the golden dialect
// ---------------------------------------------------------------------------------------------

/// Parses one record of the intermediary CSVs: the inside of a MySQL `VALUES (…)` tuple as the
/// legacy `LOAD DATA … FIELDS OPTIONALLY ENCLOSED BY "'" TERMINATED BY ','` reads it (default
/// `ESCAPED BY '\\'`). Also reads our `common::table_dump` rows (`QUOTE()`d values, bare `NULL`).
///
/// * `'…'`: a string; backslash escapes as MySQL (`\0 \b \n \r \t \Z`, anything else = the
///   character itself, so `\'` is a quote); `''` inside is a quote; a `'` not followed by `,` or
///   the end of the record is kept literally (MySQL does the same, and values that bypassed
///   `makeInsertSafe` may contain raw quotes).
/// * bare `null`, `NULL` or `\N`: SQL NULL; any other bare token (numbers) is taken as is.
fn parse_record(line: &str) -> Result<Vec<Option<String>>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        if chars.get(i) == Some(&'\'') {
            i += 1;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated string in field {}", fields.len())),
                    Some('\\') => {
                        let escaped = *chars
                            .get(i + 1)
                            .ok_or_else(|| "backslash at end of record".to_string())?;
                        value.push(match escaped {
                            '0' => '\0',
                            'b' => '\u{8}',
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'Z' => '\u{1a}',
                            c => c,
                        });
                        i += 2;
                    }
                    Some('\'') => match chars.get(i + 1) {
                        Some('\'') => {
                            value.push('\'');
                            i += 2;
                        }
                        None | Some(',') => {
                            i += 1;
                            break;
                        }
                        Some(_) => {
                            value.push('\'');
                            i += 1;
                        }
                    },
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            fields.push(Some(value));
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ',' {
                i += 1;
            }
            let token: String = chars[start..i].iter().collect();
            fields.push(match token.as_str() {
                "null" | "NULL" | "\\N" => None,
                _ => Some(token),
            });
        }
        match chars.get(i) {
            None => return Ok(fields),
            Some(',') => i += 1,
            Some(c) => {
                return Err(format!(
                    "expected ',' after field {}, got {c:?}",
                    fields.len()
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// Which side a raw row comes from: only our text still needs the legacy escaping applied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Golden,
    Ours,
}

fn id_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new("^[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}$").unwrap()
    })
}

/// Brings one raw row to the form both sides are compared in.
fn normalise(
    table: &str,
    raw: Vec<(&str, Option<String>)>,
    int_columns: &BTreeSet<String>,
    origin: Origin,
) -> Row {
    raw.into_iter()
        .map(|(c, v)| {
            let v = match v {
                None => NULL.to_string(),
                Some(v) => normalise_value(table, c, v, int_columns, origin),
            };
            (c.to_string(), v)
        })
        .collect()
}

fn normalise_value(
    table: &str,
    column: &str,
    value: String,
    int_columns: &BTreeSet<String>,
    origin: Origin,
) -> String {
    if RUN_DEPENDENT.contains(&column) {
        // Paths and load times differ by design; keep only whether the value is set.
        return if value.is_empty() {
            value
        } else {
            MASKED.into()
        };
    }
    if column == "ip_country" {
        // The kit's IP table is a stub mapping every IPv4 address to USA (README "Stubs").
        return MASKED.into();
    }
    if id_pattern().is_match(&value) {
        return ID.into();
    }
    if table == "EdxTrackEvent" && column == "time" {
        return normalise_time(&value).unwrap_or(value);
    }
    if int_columns.contains(column) {
        return match value.trim().parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => value,
        };
    }
    if origin == Origin::Golden {
        // Deviations applied as normalisations (docs/deviations.md, "Intermediary relations"):
        // "no downtime" is '' rather than the zero-date sentinel, a gap backwards in time is no
        // downtime, and no column holds Python's `None` for a missing value.
        if column == "downtime_for" && (value == "00000000000000" || value.starts_with('-')) {
            return String::new();
        }
        if value == "None" {
            return String::new();
        }
    }
    if let Some(n) = decimal(&value) {
        // Python 2's str() kept 12 significant digits of a float; we keep the number as logged.
        return n;
    }
    match origin {
        Origin::Golden => value,
        // The legacy passed text through makeInsertSafe (transliteration, CR/LF → "; ", no
        // backslashes, ' → \'); the golden parser already undid the \' escaping, so undo it here.
        Origin::Ours => legacy_insert_safe(&value).replace("\\'", "'"),
    }
}

/// A decimal number with a fraction, rounded to 12 significant digits (Python 2's `str(float)`).
fn decimal(value: &str) -> Option<String> {
    if !value.contains('.') || value.len() > 40 {
        return None;
    }
    let f: f64 = value.parse().ok()?;
    Some(format!("{f:.11e}"))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC from a raw log time (`…T…+00:00`, naive `…T…`, `Z`,
/// without fraction) or from our DATETIME(6) text; `None` if it is none of these.
fn normalise_time(value: &str) -> Option<String> {
    const OUT: &str = "%Y-%m-%d %H:%M:%S%.6f";
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.naive_utc().format(OUT).to_string());
    }
    for with_offset in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(value, with_offset) {
            return Some(t.naive_utc().format(OUT).to_string());
        }
    }
    for naive in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, naive) {
            return Some(t.format(OUT).to_string());
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Comparison and report
// ---------------------------------------------------------------------------------------------

/// How the rows of a stage were paired, for the report.
fn stage_label(key_columns: &[&str]) -> String {
    if key_columns.is_empty() {
        "paired by similarity".into()
    } else {
        format!("same {}", key_columns.join(" and "))
    }
}

/// The heading of a near match: its key columns, or the whole row when paired by similarity.
fn key_label(spec: &GoldenTable, key_columns: &[&str], row: &Row) -> String {
    if key_columns.is_empty() {
        return compact(spec, row);
    }
    key_columns
        .iter()
        .map(|c| format!("{c}={}", show(&row[*c])))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A row as `column=value` for every value that is not a type default (`''`, `-1`) or masked.
fn compact(spec: &GoldenTable, row: &Row) -> String {
    spec.columns
        .iter()
        .filter(|c| !matches!(row[**c].as_str(), "" | "-1" | MASKED))
        .map(|c| format!("{c}={}", show(&row[*c])))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Unit tests of the machinery
// ---------------------------------------------------------------------------------------------

#[test]
fn parses_the_golden_dialect() {
    let f = |s: &str| parse_record(s).unwrap();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(f("'a',1,-1,null"), vec![s("a"), s("1"), s("-1"), None]);
    assert_eq!(f("'',''"), vec![s(""), s("")]);
    assert_eq!(f("'He hadn\\'t seen'"), vec![s("He hadn't seen")]);
    assert_eq!(f("'\\'new\\'+and'"), vec![s("'new'+and")]);
    assert_eq!(f("'a,b','c'"), vec![s("a,b"), s("c")]);
    assert_eq!(f("'x\\ny\\\\z\\0'"), vec![s("x\ny\\z\0")]);
    assert_eq!(f("'it''s'"), vec![s("it's")]);
    // A lone quote not followed by a comma is data, as in MySQL.
    assert_eq!(f("'O'Brian',2"), vec![s("O'Brian"), s("2")]);
    assert_eq!(f("'a',"), vec![s("a"), s("")]);
    assert_eq!(f("NULL,\\N,'NULL'"), vec![None, None, s("NULL")]);
    assert_eq!(f("'née'"), vec![s("née")]);
    assert!(parse_record("'open").is_err());
    assert_eq!(f("'a'b',"), vec![s("a'b"), s("")]);
    assert!(parse_record("'a\\").is_err());
}

#[test]
fn normalises_both_sides_alike() {
    let ints: BTreeSet<String> = ["attempts".to_string()].into();
    let n = |c: &str, v: &str, o| normalise_value("EdxTrackEvent", c, v.into(), &ints, o);
    use Origin::*;
    assert_eq!(
        n("time", "2013-08-04T06:27:13.660689+00:00", Golden),
        "2013-08-04 06:27:13.660689"
    );
    assert_eq!(
        n("time", "2013-06-09T06:28:13.626165", Golden),
        "2013-06-09 06:28:13.626165"
    );
    assert_eq!(
        n("time", "2013-06-09T06:28:13-07:00", Golden),
        "2013-06-09 13:28:13.000000"
    );
    assert_eq!(
        n("time", "2013-06-09T06:28:13Z", Golden),
        "2013-06-09 06:28:13.000000"
    );
    assert_eq!(
        n("time", "2013-08-04 06:27:13.660689", Ours),
        "2013-08-04 06:27:13.660689"
    );
    assert_eq!(n("time", "garbage", Ours), "garbage");
    assert_eq!(n("attempts", "-1", Golden), "-1");
    assert_eq!(n("attempts", "007", Ours), "7");
    assert_eq!(
        n("answer_fk", "602b1722_a612_4eb9_9040_91fe13dc2719", Golden),
        ID
    );
    assert_eq!(n("answer_fk", "", Ours), "");
    assert_eq!(n("ip_country", "", Ours), MASKED);
    assert_eq!(n("ip_country", "USA", Golden), MASKED);
    assert_eq!(n("load_info_fk", "3f683bda29b6", Golden), MASKED);
    assert_eq!(n("agent", "a\\b'c\nd", Ours), "ab'c; d");
    assert_eq!(n("agent", "Café", Ours), "Cafe");
    assert_eq!(n("agent", "a\\b", Golden), "a\\b");
}

#[test]
fn compares_multisets_and_pairs_near_matches() {
    let row = |t: &str, time: &str, x: &str| -> Row {
        [("event_type", t), ("time", time), ("x", x)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let golden = vec![
        row("a", "T1", "1"),
        row("a", "T1", "1"),
        row("b", "T1", "2"),
        row("c", "T2", "3"),
        row("e", "T9", "7"),
        row("f", "T7", "5"),
    ];
    let ours = vec![
        row("a", "T1", "1"),
        row("b", "T1", "9"),
        row("z", "T2", "3"),
        row("q", "T8", "8"),
        row("f", "T6", "5"),
    ];
    let (g, o, equal) = multiset_difference(&golden, &ours);
    assert_eq!(equal, 1);
    assert_eq!(g, golden[1..].iter().collect::<Vec<_>>());
    assert_eq!(o, ours[1..].iter().collect::<Vec<_>>());
    let spec = GoldenTable {
        table: Table::EdxTrackEvent,
        csv: "",
        columns: &["event_type", "time", "x"],
        pair_on: &[&["event_type", "time"], &["time"], &[]],
    };
    // Stage 0 pairs b/T1, stage 1 the rows at T2, stage 2 the f rows (1 of 3 columns differ);
    // a/T1 (its partner is the equal row) and e/T9 vs q/T8 (all columns differ) stay unpaired.
    let (pairs, lone_g, lone_o) = pair_near_matches(spec.columns, spec.pair_on, &g, &o);
    assert_eq!(pairs, vec![(1, 0, 0), (2, 1, 1), (4, 3, 2)]);
    assert_eq!(lone_g, vec![0, 3]);
    assert_eq!(lone_o, vec![2]);
}

#[test]
fn deviations_apply_by_side() {
    let d = Deviation {
        table: "EdxTrackEvent",
        side: Side::GoldenOnly,
        reason: "example",
        matches: |r| col(r, "event_type") == "x",
    };
    let r: Row = [("event_type".to_string(), "x".to_string())].into();
    assert!(d.side.covers(Side::GoldenOnly) && !d.side.covers(Side::OursOnly));
    assert!(Side::Both.covers(Side::OursOnly) && Side::OursOnly.covers(Side::OursOnly));
    assert!((d.matches)(&r) && !d.reason.is_empty() && !d.table.is_empty());
    assert_eq!(col(&r, "absent"), "");
}
