//! Conformance of the MOOCdb tables with the legacy qpipe golden outputs.
//!
//! `../shared/conformance/<set>/qpipe_2014/*.csv` are the MOOCdb CSVs that the original qpipe
//! (Translation_software 2014) wrote for the kit's inputs (see the kit's README and
//! `shared/spec/legacy-pipeline.md` §2 and §4). This test loads each input with the library into a
//! fresh database, with the kit's qpipe `DOMAIN`, reads back our MOOCdb tables and compares both
//! sides as multisets of **natural-key tuples**: integer ids cannot match by design (qpipe counts
//! from 0 and leaves the hierarchy roots without an id; we count from 1 and the roots are real
//! rows), and the legacy event ids are random UUIDs. So every id is first resolved to what it
//! names — a resource URI, a problem name, a URL, a submission's own natural key — on each side
//! with that side's conventions, and only then compared.
//!
//! Compared (one line of the summary each): `urls` (the URLs pages were logged at, see [`urls`]);
//! `resources` as (URI, parent URI) and as
//! (URI, name); each resource's type (URI, content, medium); `resources_urls` as (URI, URL);
//! `problems` as (name, parent name, child number) and as (name, resource URI); `observed_events`
//! without ids, durations, OS and agent; the `os` and `agent` names; `submissions`;
//! `assessments` with their submission's natural key; `users`. Durations are listed side by side
//! for information only (the legacy unit is integer minutes computed with known bugs, §4.7).
//!
//! The report (per-comparison counts, tuples only on one side, "near matches" with only the
//! differing columns) is printed and written to `target/conformance/moocdb-<set>.txt`. Every
//! differing tuple must be explained by an entry of [`KNOWN_DEVIATIONS`]; otherwise the test fails
//! and names the unexplained tuples. An entry that explains nothing in any set fails the test too
//! (stale allowlist).
//!
//! Run: `cargo test --test conformance_moocdb -- --nocapture` (set `CONFORMANCE_KEEP_DB=1` to keep
//! the loaded databases for inspection; they are dropped otherwise).

mod common;
mod conformance;

use conformance::{
    Deviation, Row, Side, col, multiset_difference, pair_near_matches, print_capped, report_dir,
    show, write_column_overview,
};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDateTime;
use sqlx::Row as _;
use sqlx::mysql::MySqlPool;

// ---------------------------------------------------------------------------------------------
// Allowlist of differences
// ---------------------------------------------------------------------------------------------

// Tuples are `Row`s of natural keys: SQL NULL and the legacy's `None`/empty field all read `''`
// (the golden CSVs cannot tell them apart).

/// Every accepted difference. A differing tuple that no entry matches fails the test; an entry
/// that matches no differing tuple in any set fails it as stale.
///
/// Deliberately empty at first: the MOOCdb stage is being rewritten, and each entry must be a
/// conscious decision documented in `docs/deviations.md`. Predicates see the normalised tuple of
/// their comparison: use [`col`] to read a column.
const KNOWN_DEVIATIONS: &[Deviation] = &[
    Deviation {
        table: "*",
        side: Side::OursOnly,
        reason: "rows from input lines json_to_relation dropped (prefixed lines, 512-character \
                 truncated events, a URL with zero-width spaces); docs/deviations.md, Input",
        matches: from_dropped_line,
    },
    Deviation {
        table: "*",
        side: Side::GoldenOnly,
        reason: "rows from set-1 input lines that repeat an earlier line (stored once, DESIGN.md \
                 decision 4), or from a heartbeat kept only for a negative gap",
        matches: |r| DUPLICATED_TIMES.contains(&col(r, "timestamp")),
    },
    Deviation {
        table: "submissions",
        side: Side::GoldenOnly,
        reason: "json_to_relation wrote the last answer row of path-style problem_check and of \
                 problem_check_fail twice, so qpipe made two submissions of it; one here \
                 (docs/deviations.md, Intermediary relations)",
        matches: |r| DOUBLED_ANSWER_TIMES.contains(&col(r, "timestamp")),
    },
    Deviation {
        table: "*",
        side: Side::Both,
        reason: "the key of an account activation, e-mail change or password reset link is a \
                 credential: its page is `…/activate/_hidden_/` (docs/deviations.md, Input and parsing)",
        matches: on_a_credential_page,
    },
    Deviation {
        table: "resource_types",
        side: Side::Both,
        reason: "qpipe's content rule `cobinedopenended` is a typo: combinedopenended resources \
                 are typed problem/text (docs/deviations.md, MOOCdb)",
        matches: |r| col(r, "resource_uri").contains("combinedopenended"),
    },
    Deviation {
        table: "problems(resource)",
        side: Side::Both,
        reason: "the legacy root problem's empty ids loaded as 0 and read as the root resource; \
                 our root problem has no resource (docs/deviations.md, MOOCdb)",
        matches: |r| col(r, "problem_name") == "i4x://",
    },
    Deviation {
        table: "observed_events",
        side: Side::Both,
        reason: "`i4x_<category>_None` event types are `i4x_<category>` (legacy bug §4.12 item 11)",
        matches: |r| {
            let t = col(r, "event_type");
            t.ends_with("_None")
                || [
                    "vertical",
                    "videoalpha",
                    "video",
                    "course_info",
                    "course",
                    "sequential",
                    "html",
                    "problem",
                ]
                .contains(&t.trim_start_matches("i4x_"))
        },
    },
    Deviation {
        table: "*",
        side: Side::Both,
        reason: "a video without a code gets no `_` suffix on its resource URI (qpipe appended \
                 `_` and the empty code)",
        matches: |r| {
            let u = col(r, "resource_uri");
            u.contains("/videoalpha/") && (u.ends_with("/_") || u.ends_with('/'))
        },
    },
    Deviation {
        table: "observed_events",
        side: Side::Both,
        reason: "anonymous load-balancer requests from 127.0.0.1 have no country; the kit's \
                 stub table mapped every IPv4 address to USA (README, Stubs)",
        matches: |r| col(r, "user_id") == ANONYMOUS,
    },
    Deviation {
        table: "os",
        side: Side::Both,
        reason: "os names come from the woothee parser, not qpipe's vendored httpagentparser \
                 (docs/deviations.md, MOOCdb)",
        matches: |_| true,
    },
    Deviation {
        table: "agent",
        side: Side::Both,
        reason: "agent names come from the woothee parser, not qpipe's vendored httpagentparser",
        matches: |_| true,
    },
    Deviation {
        table: "users",
        side: Side::OursOnly,
        reason: "users are every user with an observed event or a submission, not only those \
                 with observed events (docs/deviations.md, MOOCdb)",
        matches: |_| true,
    },
    Deviation {
        table: "*",
        side: Side::Both,
        reason: "qpipe paired the answers and grades of a 17-input save_problem_check by position \
                 in two differently ordered dicts; ours pairs them by input \
                 (docs/deviations.md, Intermediary relations)",
        matches: |r| {
            col(r, "timestamp") == "2013-06-12 09:19:41.439185"
                || col(r, "sub_timestamp") == "2013-06-12 09:19:41.439185"
        },
    },
    Deviation {
        table: "*",
        side: Side::Both,
        reason: "qpipe read answers without their escape character (`He hadn\\t seen'`) and wrote \
                 pandas' `nan` for an empty answer; ours are stored as given (§4.12 item 8)",
        matches: |r| {
            let a = if r.contains_key("answer") {
                col(r, "answer")
            } else {
                col(r, "sub_answer")
            };
            a.contains("hadn")
                || a.contains("revolutionized")
                || a == "nan"
                || (a.is_empty() && col(r, "timestamp") == "2013-06-12 08:30:53.458627")
        },
    },
];

/// Timestamps of the set-1 events whose last answer row json_to_relation wrote twice.
const DOUBLED_ANSWER_TIMES: &[&str] = &[
    "2013-08-20 11:29:58.775276",
    "2013-08-20 10:22:51.204670",
    "2013-06-26 06:25:22.710746",
    "2013-06-13 09:20:11.156214",
];

/// The hash of the empty username: json_to_relation's anonymous user.
const ANONYMOUS: &str = "9c1185a5c5e9fc54612808977ee8f548b2258d31";

/// Timestamps of set-1 lines that repeat an earlier line, and of the heartbeat the legacy kept for
/// a negative gap.
const DUPLICATED_TIMES: &[&str] = &[
    "2013-07-18 08:43:32.573390",
    "2013-06-09 06:28:13.626165",
    "2013-07-11 04:15:39.373794",
    "2013-06-09 06:29:13.583880",
    "2013-08-04 06:27:13.660689",
    "2013-10-03 11:07:09.872336",
];

/// Whether a tuple comes from one of the input lines the legacy dropped: the zero-width-space URL,
/// the two prefixed set-1 lines, set-1's truncated open-response events, and set 2's 40 implicit
/// events with a truncated `event` (all `url_change`s to `/create_account/`, `/save_item/` and a
/// Studio settings page).
/// A row that names a page reached by a link that is a credential, whose key the loader hides.
fn on_a_credential_page(r: &Row) -> bool {
    const PAGES: &[&str] = &["/activate/", "/email_confirm/", "/password_reset_confirm/"];
    r.values().any(|v| PAGES.iter().any(|p| v.contains(p)))
}

fn from_dropped_line(r: &Row) -> bool {
    const MARKERS: &[&str] = &[
        "\u{200b}",
        "73e0158687bc4f99b2e6320bdf8b72d7",
        "49cf74c88d6e45d6a9d94b73b99b8757",
        "0d67667941cd4e14ba29abd1542a9c5f",
        "settings-advanced",
        "https://unknown/peergrading/",
        "i4x://Medicine/SciWrite/peergrading/",
        "2013-07-23 01:13:10.355077",
    ];
    let any = r.values().any(|v| MARKERS.iter().any(|m| v.contains(m)));
    let truncated_implicit = col(r, "event_type") == "url_change"
        && (col(r, "resource_uri").ends_with("/create_account/")
            || col(r, "resource_uri").ends_with("/save_item/"));
    any || truncated_implicit
}

// ---------------------------------------------------------------------------------------------
// The tables read on both sides
// ---------------------------------------------------------------------------------------------

/// One MOOCdb table: the columns read, in the golden CSV's positional order (qpipe's `moocdb.py`
/// TABLES, legacy-pipeline.md §4.9, no header). Our DDL uses the same names, so our rows are read
/// by name. `csv` is `None` for `users`, which qpipe never wrote (see [`read_golden`]).
struct TableSpec {
    name: &'static str,
    csv: Option<&'static str>,
    columns: &'static [&'static str],
}

const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "os",
        csv: Some("os.csv"),
        columns: &["os_id", "os_name"],
    },
    TableSpec {
        name: "agent",
        csv: Some("agent.csv"),
        columns: &["agent_id", "agent_name"],
    },
    TableSpec {
        name: "urls",
        csv: Some("urls.csv"),
        columns: &["url_id", "url"],
    },
    TableSpec {
        name: "resource_types",
        csv: Some("resource_types.csv"),
        columns: &[
            "resource_type_id",
            "resource_type_content",
            "resource_type_medium",
        ],
    },
    TableSpec {
        name: "resources",
        csv: Some("resources.csv"),
        columns: &[
            "resource_id",
            "resource_name",
            "resource_uri",
            "resource_type_id",
            "resource_parent_id",
            "resource_child_number",
            "resource_relevant_week",
            "resource_release_date",
        ],
    },
    TableSpec {
        name: "resources_urls",
        csv: Some("resources_urls.csv"),
        columns: &["resources_urls_id", "resource_id", "url_id"],
    },
    TableSpec {
        name: "observed_events",
        csv: Some("observed_events.csv"),
        columns: &[
            "observed_event_id",
            "user_id",
            "url_id",
            "observed_event_timestamp",
            "observed_event_duration",
            "observed_event_ip",
            "observed_event_os",
            "observed_event_agent",
            "observed_event_type_id",
        ],
    },
    TableSpec {
        name: "problems",
        csv: Some("problems.csv"),
        // qpipe's writer has 11 names (`'problem_release_timestamp' 'problem_soft_deadline'` lack
        // a comma and concatenate, legacy-pipeline.md §2.2): the 11th CSV column is the problem's
        // resource id, which MySQL's positional LOAD DATA would put into problem_weight. We read
        // it as what qpipe meant, `resource_id`; ours has the 12 columns and is read by name.
        columns: &[
            "problem_id",
            "problem_name",
            "problem_parent_id",
            "problem_child_number",
            "problem_type_id",
            "problem_release_timestamp",
            "problem_hard_deadline",
            "problem_max_submission",
            "problem_max_duration",
            "problem_weight",
            "resource_id",
        ],
    },
    TableSpec {
        name: "submissions",
        csv: Some("submissions.csv"),
        columns: &[
            "submission_id",
            "user_id",
            "problem_id",
            "submission_timestamp",
            "submission_attempt_number",
            "submission_answer",
            "submission_is_submitted",
            "submission_ip",
            "submission_os",
            "submission_agent",
        ],
    },
    TableSpec {
        name: "assessments",
        csv: Some("assessments.csv"),
        columns: &[
            "assessment_id",
            "submission_id",
            "assessment_feedback",
            "assessment_grade",
            "assessment_grade_with_penalty",
            "assessment_grader_id",
            "assessment_timestamp",
        ],
    },
    TableSpec {
        name: "users",
        csv: None,
        columns: &["user_id"],
    },
];

/// Which side a set of tables comes from: the id conventions differ (see [`Tables::parent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Golden,
    Ours,
}

/// The raw MOOCdb tables of one side: table name → rows (column → text, NULL → `''`).
struct Tables {
    origin: Origin,
    rows: BTreeMap<&'static str, Vec<Row>>,
}

impl Tables {
    fn rows(&self, table: &str) -> &[Row] {
        self.rows.get(table).map(Vec::as_slice).unwrap_or(&[])
    }

    /// id → name (`name_column`) of a table's rows. qpipe writes the hierarchy roots with an
    /// empty id, which `LOAD DATA` stores as 0 (moocdb.sql sets `NO_AUTO_VALUE_ON_ZERO` for that
    /// reason): on the golden side both `''` and `0` name the root.
    fn names(&self, table: &str, id_column: &str, name_column: &str) -> HashMap<String, String> {
        let mut names = HashMap::new();
        for r in self.rows(table) {
            let (id, name) = (col(r, id_column), col(r, name_column));
            if self.origin == Origin::Golden && id.is_empty() {
                names.insert("0".to_string(), name.to_string());
            }
            names
                .entry(id.to_string())
                .or_insert_with(|| name.to_string());
        }
        names
    }

    /// The name of a row's parent in a hierarchy, `''` for a root. On the golden side the root
    /// has an empty id and so do the parent ids of its children: an empty parent names the root,
    /// except on the root itself. Our roots are real rows whose parent is NULL.
    fn parent(&self, names: &HashMap<String, String>, own_id: &str, parent_id: &str) -> String {
        if parent_id.is_empty() && (self.origin == Origin::Ours || own_id.is_empty()) {
            return String::new();
        }
        resolve(names, parent_id)
    }

    /// Normalises a resource type's content or medium: qpipe writes Python's `str(None)` for
    /// untyped (intermediate) nodes (README, legacy bug 3).
    fn type_name(&self, value: &str) -> String {
        if self.origin == Origin::Golden && value == "None" {
            String::new()
        } else {
            value.to_string()
        }
    }
}

/// What an id names, or a visible marker when it names nothing.
fn resolve(names: &HashMap<String, String>, id: &str) -> String {
    names
        .get(id)
        .cloned()
        .unwrap_or_else(|| format!("<dangling {id:?}>"))
}

// ---------------------------------------------------------------------------------------------
// What is compared: natural-key projections
// ---------------------------------------------------------------------------------------------

/// One comparison: a projection of both sides' tables onto natural-key tuples (values in the order
/// of `columns`), and the columns that identify a tuple well enough to pair up "near matches" in
/// the report: a list of stages, tried in order (no stage: no pairing).
struct Comparison {
    name: &'static str,
    columns: &'static [&'static str],
    pair_on: &'static [&'static [&'static str]],
    project: fn(&Tables) -> Vec<Vec<String>>,
}

const COMPARISONS: &[Comparison] = &[
    Comparison {
        name: "urls",
        columns: &["url"],
        pair_on: &[],
        project: urls,
    },
    Comparison {
        name: "resources(parent)",
        columns: &["resource_uri", "parent_uri"],
        pair_on: &[&["resource_uri"]],
        project: resource_parents,
    },
    Comparison {
        name: "resources(name)",
        columns: &["resource_uri", "resource_name"],
        pair_on: &[&["resource_uri"]],
        project: |t| {
            t.rows("resources")
                .iter()
                .map(|r| vec![text(r, "resource_uri"), text(r, "resource_name")])
                .collect()
        },
    },
    Comparison {
        name: "resource_types",
        columns: &["resource_uri", "content", "medium"],
        pair_on: &[&["resource_uri"]],
        project: resource_types,
    },
    Comparison {
        name: "resources_urls",
        columns: &["resource_uri", "url"],
        pair_on: &[&["resource_uri"], &["url"]],
        project: resources_urls,
    },
    Comparison {
        name: "problems(parent)",
        columns: &["problem_name", "parent_name", "child_number"],
        pair_on: &[&["problem_name"]],
        project: problem_parents,
    },
    Comparison {
        name: "problems(resource)",
        columns: &["problem_name", "resource_uri"],
        pair_on: &[&["problem_name"]],
        project: problem_resources,
    },
    Comparison {
        name: "observed_events",
        columns: &["user_id", "timestamp", "event_type", "resource_uri", "ip"],
        pair_on: &[&["user_id", "timestamp"], &["timestamp"]],
        project: observed_events,
    },
    Comparison {
        name: "os",
        columns: &["os_name"],
        pair_on: &[],
        project: |t| {
            t.rows("os")
                .iter()
                .map(|r| vec![text(r, "os_name")])
                .collect()
        },
    },
    Comparison {
        name: "agent",
        columns: &["agent_name"],
        pair_on: &[],
        project: |t| {
            t.rows("agent")
                .iter()
                .map(|r| vec![text(r, "agent_name")])
                .collect()
        },
    },
    Comparison {
        name: "submissions",
        columns: SUBMISSION_KEY,
        // A fanned-out problem_check has one submission per answer at one timestamp: pairing on
        // the problem first keeps each answer next to its own problem.
        pair_on: &[
            &["user_id", "timestamp", "problem"],
            &["user_id", "timestamp"],
            &["timestamp"],
        ],
        project: submissions,
    },
    Comparison {
        name: "assessments",
        columns: &[
            "sub_user_id",
            "sub_problem",
            "sub_timestamp",
            "sub_attempt_number",
            "sub_answer",
            "sub_is_submitted",
            "sub_ip",
            "grade",
            "grader_id",
            "timestamp",
        ],
        pair_on: &[&["sub_problem", "timestamp"], &["timestamp"]],
        project: assessments,
    },
    Comparison {
        name: "users",
        columns: &["user_id"],
        pair_on: &[],
        project: |t| {
            t.rows("users")
                .iter()
                .map(|r| vec![text(r, "user_id")])
                .collect()
        },
    },
];

/// The natural key of a submission (the `submissions` tuple; `assessments` prefix it `sub_`).
const SUBMISSION_KEY: &[&str] = &[
    "user_id",
    "problem",
    "timestamp",
    "attempt_number",
    "answer",
    "is_submitted",
    "ip",
];

/// The two inputs of the kit and their qpipe golden directories (relative to `../shared`).
const SETS: &[(&str, &str, &str)] = &[
    (
        "set1",
        "conformance/set1_unit_test_events/input.json",
        "conformance/set1_unit_test_events/qpipe_2014",
    ),
    (
        "set2",
        "conformance/set2_tracking_log_20130609/input.log.gz",
        "conformance/set2_tracking_log_20130609/qpipe_2014",
    ),
];

/// qpipe's `DOMAIN` when the kit was generated (README, "Stubs and settings").
const DOMAIN: &str = "https://class.stanford.edu";

/// What an assessment's submission becomes when no submission row has its id: the legacy writes
/// an assessment for every graded event, submitted or not (legacy-pipeline.md §4.8, quirk 13).
const ID: &str = "<id>";
/// What a 3-letter country code becomes (see [`ip`]).
const COUNTRY: &str = "<country>";

/// A column as read, unchanged.
fn text(row: &Row, column: &str) -> String {
    col(row, column).to_string()
}

/// The URLs pages were logged at. Our `urls` also holds the address of each resource an event
/// happens on, its URI under its id, so that `observed_events.url_id` names a URL as MIT's and
/// EDUlib's feature SQL expect (docs/deviations.md, MOOCdb): such a row that no
/// `resources_urls` row links to is the address of a resource that is no page, and is left out.
/// qpipe's `urls` has none (its ids are not resource ids, and every URL is linked).
fn urls(t: &Tables) -> Vec<Vec<String>> {
    let uris = t.names("resources", "resource_id", "resource_uri");
    let linked: BTreeSet<&str> = t
        .rows("resources_urls")
        .iter()
        .map(|r| col(r, "url_id"))
        .collect();
    t.rows("urls")
        .iter()
        .filter(|r| {
            let id = col(r, "url_id");
            let address = uris.get(id).is_some_and(|uri| uri == col(r, "url"));
            !address || linked.contains(id)
        })
        .map(|r| vec![text(r, "url")])
        .collect()
}

fn resource_parents(t: &Tables) -> Vec<Vec<String>> {
    let uris = t.names("resources", "resource_id", "resource_uri");
    t.rows("resources")
        .iter()
        .map(|r| {
            let parent = t.parent(&uris, col(r, "resource_id"), col(r, "resource_parent_id"));
            vec![text(r, "resource_uri"), parent]
        })
        .collect()
}

fn resource_types(t: &Tables) -> Vec<Vec<String>> {
    let types: HashMap<&str, (&str, &str)> = t
        .rows("resource_types")
        .iter()
        .map(|r| {
            let kind = (
                col(r, "resource_type_content"),
                col(r, "resource_type_medium"),
            );
            (col(r, "resource_type_id"), kind)
        })
        .collect();
    t.rows("resources")
        .iter()
        .map(|r| {
            let id = col(r, "resource_type_id");
            let (content, medium) = match types.get(id) {
                Some((c, m)) => (t.type_name(c), t.type_name(m)),
                None => (format!("<dangling {id:?}>"), String::new()),
            };
            vec![text(r, "resource_uri"), content, medium]
        })
        .collect()
}

fn resources_urls(t: &Tables) -> Vec<Vec<String>> {
    let uris = t.names("resources", "resource_id", "resource_uri");
    let urls = t.names("urls", "url_id", "url");
    t.rows("resources_urls")
        .iter()
        .map(|r| {
            vec![
                resolve(&uris, col(r, "resource_id")),
                resolve(&urls, col(r, "url_id")),
            ]
        })
        .collect()
}

fn problem_parents(t: &Tables) -> Vec<Vec<String>> {
    let names = t.names("problems", "problem_id", "problem_name");
    t.rows("problems")
        .iter()
        .map(|r| {
            let parent = t.parent(&names, col(r, "problem_id"), col(r, "problem_parent_id"));
            vec![
                text(r, "problem_name"),
                parent,
                number(col(r, "problem_child_number")),
            ]
        })
        .collect()
}

fn problem_resources(t: &Tables) -> Vec<Vec<String>> {
    let uris = t.names("resources", "resource_id", "resource_uri");
    t.rows("problems")
        .iter()
        .map(|r| {
            // Empty means "no resource" here (the golden column is qpipe's resource id, not a
            // loaded INT column); the golden root problem's `0` names the root resource.
            let resource = match col(r, "resource_id") {
                "" => String::new(),
                id => resolve(&uris, id),
            };
            vec![text(r, "problem_name"), resource]
        })
        .collect()
}

fn observed_events(t: &Tables) -> Vec<Vec<String>> {
    // url_id holds a *resource* id in MOOCdb (README, legacy bug 4).
    let uris = t.names("resources", "resource_id", "resource_uri");
    t.rows("observed_events")
        .iter()
        .map(|r| {
            vec![
                text(r, "user_id"),
                timestamp(col(r, "observed_event_timestamp")),
                text(r, "observed_event_type_id"),
                resolve(&uris, col(r, "url_id")),
                ip(col(r, "observed_event_ip")),
            ]
        })
        .collect()
}

/// The natural key of one submission row (values in [`SUBMISSION_KEY`] order).
fn submission_key(problems: &HashMap<String, String>, r: &Row) -> Vec<String> {
    vec![
        text(r, "user_id"),
        resolve(problems, col(r, "problem_id")),
        timestamp(col(r, "submission_timestamp")),
        number(col(r, "submission_attempt_number")),
        text(r, "submission_answer"),
        number(col(r, "submission_is_submitted")),
        ip(col(r, "submission_ip")),
    ]
}

fn submissions(t: &Tables) -> Vec<Vec<String>> {
    let problems = t.names("problems", "problem_id", "problem_name");
    t.rows("submissions")
        .iter()
        .map(|r| submission_key(&problems, r))
        .collect()
}

fn assessments(t: &Tables) -> Vec<Vec<String>> {
    let problems = t.names("problems", "problem_id", "problem_name");
    let by_id: HashMap<&str, &Row> = t
        .rows("submissions")
        .iter()
        .map(|r| (col(r, "submission_id"), r))
        .collect();
    t.rows("assessments")
        .iter()
        .map(|r| {
            let mut tuple = match by_id.get(col(r, "submission_id")) {
                Some(s) => submission_key(&problems, s),
                None => vec![ID.to_string(); SUBMISSION_KEY.len()],
            };
            tuple.push(number(col(r, "assessment_grade")));
            tuple.push(text(r, "assessment_grader_id"));
            tuple.push(timestamp(col(r, "assessment_timestamp")));
            tuple
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Normalisation of single values
// ---------------------------------------------------------------------------------------------

/// `YYYY-MM-DD HH:MM:SS.ffffff`: qpipe writes Python's `str(datetime)`, which omits the fraction
/// when it is zero; ours is DATETIME(6) text. Anything else is kept as is (and will show).
fn timestamp(value: &str) -> String {
    NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        .unwrap_or_else(|_| value.to_string())
}

/// A number in canonical form (`007` → `7`, the DOUBLE `1.0` → `1`); other text is kept.
fn number(value: &str) -> String {
    let v = value.trim();
    if let Ok(n) = v.parse::<i64>() {
        return n.to_string();
    }
    match v.parse::<f64>() {
        Ok(f) => f.to_string(),
        Err(_) => value.to_string(),
    }
}

/// `observed_event_ip` / `submission_ip` hold json_to_relation's 3-letter country code, never an
/// IP (README, legacy bug 5). The kit's IP→country table was a stub that maps every IPv4 address
/// to `USA`, while we use a real table: so any 3-letter code reads [`COUNTRY`], and only whether
/// a code is there (and that the value is a code at all) is compared.
fn ip(value: &str) -> String {
    if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
        COUNTRY.to_string()
    } else {
        value.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading both sides
// ---------------------------------------------------------------------------------------------

/// Parses one record of qpipe's MOOCdb CSVs: Python 2 `csv.DictWriter(delimiter=',',
/// quotechar='"', escapechar='\\', lineterminator='\n')`, QUOTE_MINIMAL, `doublequote=True`, no
/// header, `None` written as an empty field (legacy-pipeline.md §4.9). A field is quoted when it
/// holds `,`, `"`, `\`, CR or LF; inside quotes `""` is a quote. With `doublequote` the writer
/// never uses its escapechar, so **backslashes are literal**: reading them as escapes (as a
/// Python reader with `escapechar='\\'` would) would alter the values qpipe held.
fn parse_qpipe_record(line: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut value = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated quote in field {}", fields.len())),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        value.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while let Some(&c) = chars.get(i).filter(|c| **c != ',') {
                if c == '"' {
                    return Err(format!("quote inside unquoted field {}", fields.len()));
                }
                value.push(c);
                i += 1;
            }
        }
        fields.push(value);
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

/// The golden tables of one set. `users` is derived: qpipe writes no users.csv, moocdb.sql's
/// last statement fills it with `SELECT DISTINCT user_id FROM observed_events`.
fn read_golden(dir: &Path) -> Tables {
    let mut rows = BTreeMap::new();
    for spec in TABLES {
        let Some(file) = spec.csv else {
            continue;
        };
        let path = dir.join(file);
        let content = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut table = Vec::new();
        // One record per line: the kit has no embedded newlines (README, "Row counts").
        for (n, line) in content.split('\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let fields = parse_qpipe_record(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
            assert_eq!(
                fields.len(),
                spec.columns.len(),
                "{}:{}: field count",
                path.display(),
                n + 1
            );
            table.push(named(spec.columns, fields));
        }
        rows.insert(spec.name, table);
    }
    let users: BTreeSet<String> = rows["observed_events"]
        .iter()
        .map(|r| text(r, "user_id"))
        .collect();
    rows.insert(
        "users",
        users
            .into_iter()
            .map(|u| named(&["user_id"], vec![u]))
            .collect(),
    );
    Tables {
        origin: Origin::Golden,
        rows,
    }
}

/// Our tables, every column read as text (NULL → `''`, like the golden CSVs' `None`).
async fn read_ours(pool: &MySqlPool) -> Tables {
    let mut rows = BTreeMap::new();
    for spec in TABLES {
        let select: Vec<String> = spec
            .columns
            .iter()
            .map(|c| format!("CAST(`{c}` AS CHAR)"))
            .collect();
        // Ordered by the raw first column (the id) so that the report is stable between runs.
        let sql = format!(
            "SELECT {} FROM `{}` ORDER BY `{}`",
            select.join(", "),
            spec.name,
            spec.columns[0]
        );
        let fetched = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("read our {}: {e}", spec.name));
        let table = fetched
            .iter()
            .map(|r| {
                let fields = (0..spec.columns.len())
                    .map(|i| {
                        r.try_get::<Option<String>, _>(i)
                            .unwrap_or_else(|e| panic!("{}.{}: {e}", spec.name, spec.columns[i]))
                            .unwrap_or_default()
                    })
                    .collect();
                named(spec.columns, fields)
            })
            .collect();
        rows.insert(spec.name, table);
    }
    Tables {
        origin: Origin::Ours,
        rows,
    }
}

/// Zips column names with values.
fn named(columns: &[&str], values: Vec<String>) -> Row {
    assert_eq!(columns.len(), values.len(), "{columns:?}");
    columns.iter().map(|c| c.to_string()).zip(values).collect()
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn moocdb_matches_qpipe_2014_golden() {
    let Some(shared) = common::shared("conformance_moocdb") else {
        return;
    };
    let mut used = vec![false; KNOWN_DEVIATIONS.len()];
    let mut failures = Vec::new();
    for (set, input, golden) in SETS {
        let result = compare_set(set, &shared.join(input), &shared.join(golden), &mut used).await;
        let path = report_dir().join(format!("moocdb-{set}.txt"));
        std::fs::create_dir_all(report_dir()).unwrap();
        std::fs::write(&path, &result.report).unwrap();
        print_capped(&result.report, &path);
        if result.unexplained > 0 {
            failures.push(format!(
                "{set}: {} differing tuple(s) not covered by KNOWN_DEVIATIONS (see {})",
                result.unexplained,
                path.display()
            ));
        }
    }
    for (deviation, used) in KNOWN_DEVIATIONS.iter().zip(&used) {
        if !used {
            failures.push(format!(
                "stale KNOWN_DEVIATIONS entry ({} {:?}): matches no differing tuple: {}",
                deviation.table, deviation.side, deviation.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The outcome of one set.
struct SetResult {
    report: String,
    /// Differing tuples that no deviation explains.
    unexplained: usize,
}

/// Loads one input into a fresh database and runs every comparison.
async fn compare_set(set: &str, input: &Path, golden: &Path, used: &mut [bool]) -> SetResult {
    // A prefix of its own: the relations test's databases are `t_conf_*`, and both may run at once.
    let (url, db) = common::fresh_database(&format!("mconf_{set}")).await;
    let mut options = common::options(&url, &[input]);
    options.domain = Some(DOMAIN.into());
    // Set 1 deliberately contains bad lines (see the kit README): keep loading past them.
    options.max_bad_ratio = 1.0;
    let summary = common::load(options).await;
    let pool = common::pool(&url).await;
    let ours = read_ours(&pool).await;
    let golden_tables = read_golden(golden);

    let mut report = String::new();
    let _ = writeln!(
        report,
        "=== {set}: {} vs {}\nload: {} lines, {} events, {} rejected, {} duplicates, {} skipped\n\
         (ids resolved to natural keys; ip: any 3-letter country code reads {COUNTRY}, the kit's \
         IP table being a stub)",
        input.display(),
        golden.display(),
        summary.lines,
        summary.events,
        summary.rejected,
        summary.duplicates,
        summary.skipped
    );
    let _ = writeln!(
        report,
        "{:<20} {:>7} {:>7} {:>7} {:>12} {:>10} {:>12}",
        "comparison", "golden", "ours", "equal", "golden-only", "ours-only", "unexplained"
    );
    let mut details = String::new();
    let mut unexplained = 0;
    for spec in COMPARISONS {
        let t = compare(spec, &golden_tables, &ours, used);
        unexplained += t.unexplained;
        let _ = writeln!(
            report,
            "{:<20} {:>7} {:>7} {:>7} {:>12} {:>10} {:>12}",
            spec.name, t.golden, t.ours, t.equal, t.golden_only, t.ours_only, t.unexplained
        );
        details.push_str(&t.details);
    }
    report.push_str(&details);
    report.push_str(&durations(&golden_tables, &ours));

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

// ---------------------------------------------------------------------------------------------
// Comparison and report
// ---------------------------------------------------------------------------------------------

/// The result of one comparison.
struct ComparisonResult {
    golden: usize,
    ours: usize,
    equal: usize,
    golden_only: usize,
    ours_only: usize,
    unexplained: usize,
    details: String,
}

fn compare(
    spec: &Comparison,
    golden_tables: &Tables,
    our_tables: &Tables,
    used: &mut [bool],
) -> ComparisonResult {
    let tuples = |t: &Tables| -> Vec<Row> {
        (spec.project)(t)
            .into_iter()
            .map(|values| named(spec.columns, values))
            .collect()
    };
    let (golden, ours) = (tuples(golden_tables), tuples(our_tables));
    let (golden_only, ours_only, equal) = multiset_difference(&golden, &ours);
    let mut result = ComparisonResult {
        golden: golden.len(),
        ours: ours.len(),
        equal,
        golden_only: golden_only.len(),
        ours_only: ours_only.len(),
        unexplained: 0,
        details: String::new(),
    };
    if golden_only.is_empty() && ours_only.is_empty() {
        return result;
    }
    let name = spec.name;
    let mut details = String::new();
    let _ = writeln!(
        details,
        "\n--- {name}: golden {} vs ours {} ({} equal, {} only in golden, {} only in ours)",
        golden.len(),
        ours.len(),
        equal,
        golden_only.len(),
        ours_only.len()
    );

    // Each differing tuple is checked against the allowlist; unexplained ones are flagged `!!`.
    let mut explain = |row: &Row, side: Side| -> bool {
        let mut hit = false;
        for (i, d) in KNOWN_DEVIATIONS.iter().enumerate() {
            if (d.table == name || d.table == "*") && d.side.covers(side) && (d.matches)(row) {
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
    if spec.columns.contains(&"event_type") {
        for (label, lone, rows) in [
            ("unpaired tuples only in golden", &lone_golden, &golden_only),
            ("unpaired tuples only in ours", &lone_ours, &ours_only),
        ] {
            if lone.is_empty() {
                continue;
            }
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
                "near matches (same {}; golden → ours, differing columns only):",
                key_columns.join(" and ")
            );
        }
        let (g, o) = (golden_only[g], ours_only[o]);
        // Both tuples are checked (and counted) separately; the pair is fine only if both are.
        let golden_ok = explain(g, Side::GoldenOnly);
        let ours_ok = explain(o, Side::OursOnly);
        let key: Vec<String> = key_columns
            .iter()
            .map(|c| format!("{c}={}", show(&g[*c])))
            .collect();
        let _ = writeln!(
            details,
            "{} ~ {}",
            flag(golden_ok && ours_ok),
            key.join(" ")
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
        let _ = writeln!(details, "{} - {}", flag(ok), compact(spec.columns, row));
    }
    if !lone_ours.is_empty() {
        let _ = writeln!(details, "only in ours:");
    }
    for o in lone_ours {
        let row = ours_only[o];
        let ok = explain(row, Side::OursOnly);
        let _ = writeln!(details, "{} + {}", flag(ok), compact(spec.columns, row));
    }
    result.details = details;
    result
}

/// A tuple as `column=value` for every non-empty value.
fn compact(columns: &[&str], row: &Row) -> String {
    columns
        .iter()
        .filter(|c| !row[**c].is_empty())
        .map(|c| format!("{c}={}", show(&row[*c])))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Durations side by side, for information only: the legacy value is integer minutes from
/// `timedelta.seconds` (days dropped, backward gaps wrapped, 0 for each user's last event,
/// legacy-pipeline.md §4.7), so no equality is expected. Observed events are paired by user and
/// timestamp, in each side's order.
fn durations(golden: &Tables, ours: &Tables) -> String {
    type Key = (String, String);
    let key = |r: &Row| -> Key {
        (
            text(r, "user_id"),
            timestamp(col(r, "observed_event_timestamp")),
        )
    };
    let mut free: BTreeMap<Key, Vec<&Row>> = BTreeMap::new();
    for r in ours.rows("observed_events") {
        free.entry(key(r)).or_default().push(r);
    }
    let mut lines = Vec::new();
    let (mut paired, mut same, mut golden_lone) = (0, 0, 0);
    for g in golden.rows("observed_events") {
        let k = key(g);
        let Some(o) = free
            .get_mut(&k)
            .filter(|v| !v.is_empty())
            .map(|v| v.remove(0))
        else {
            golden_lone += 1;
            continue;
        };
        paired += 1;
        let (gd, od) = (
            col(g, "observed_event_duration"),
            col(o, "observed_event_duration"),
        );
        if gd == od {
            same += 1;
        } else {
            lines.push(format!(
                "  {} {} {:<24} {:>6} | {}",
                k.0.chars().take(8).collect::<String>(),
                k.1,
                col(g, "observed_event_type_id"),
                gd,
                if od.is_empty() { "NULL" } else { od }
            ));
        }
    }
    lines.sort();
    let ours_lone: usize = free.values().map(Vec::len).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n--- durations (information only; golden: integer minutes, ours: as stored): \
         {paired} observed events paired by user and timestamp, {same} with the same value, \
         {} differing; {golden_lone} golden and {ours_lone} of ours unpaired",
        paired - same
    );
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "  user     timestamp                  event type               golden | ours"
        );
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Unit tests of the machinery
// ---------------------------------------------------------------------------------------------

#[test]
fn parses_the_qpipe_dialect() {
    let f = |s: &str| parse_qpipe_record(s).unwrap();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(f(",i4x://,,0"), s(&["", "i4x://", "", "0"]));
    assert_eq!(f("1,"), s(&["1", ""]));
    assert_eq!(f("\"a,b\",c"), s(&["a,b", "c"]));
    assert_eq!(f("\"say \"\"hi\"\"\",x"), s(&["say \"hi\"", "x"]));
    // Backslashes are data (the writer never escapes with them).
    assert_eq!(f("\"He hadn\\t seen'\",1"), s(&["He hadn\\t seen'", "1"]));
    assert_eq!(f("\"\""), s(&[""]));
    assert!(parse_qpipe_record("\"open").is_err());
    assert!(parse_qpipe_record("\"a\"b").is_err());
    assert!(parse_qpipe_record("a\"b").is_err());
}

#[test]
fn normalises_values() {
    assert_eq!(
        timestamp("2013-06-10 05:47:38.452300"),
        "2013-06-10 05:47:38.452300"
    );
    assert_eq!(
        timestamp("2013-06-10 05:47:38"),
        "2013-06-10 05:47:38.000000"
    );
    assert_eq!(timestamp("garbage"), "garbage");
    assert_eq!(number("007"), "7");
    assert_eq!(number("-1"), "-1");
    assert_eq!(number("1.0"), "1");
    assert_eq!(number("0.5"), "0.5");
    assert_eq!(number(""), "");
    assert_eq!(ip("USA"), COUNTRY);
    assert_eq!(ip("CHN"), COUNTRY);
    assert_eq!(ip(""), "");
    assert_eq!(ip("1.2.3.4"), "1.2.3.4");
}

/// Both sides' hierarchy conventions resolve to the same natural keys: the golden root has an
/// empty id (its children an empty parent, references to it `0`); our root is a real row.
#[test]
fn resolves_both_id_conventions_alike() {
    let resources = |rows: &[(&str, &str, &str, &str)]| -> Vec<Row> {
        rows.iter()
            .map(|(id, uri, parent, type_id)| {
                named(
                    &[
                        "resource_id",
                        "resource_uri",
                        "resource_parent_id",
                        "resource_type_id",
                        "resource_name",
                    ],
                    [*id, *uri, *parent, *type_id, ""]
                        .map(String::from)
                        .to_vec(),
                )
            })
            .collect()
    };
    let types = |rows: &[(&str, &str, &str)]| -> Vec<Row> {
        rows.iter()
            .map(|(id, c, m)| {
                named(
                    &[
                        "resource_type_id",
                        "resource_type_content",
                        "resource_type_medium",
                    ],
                    [*id, *c, *m].map(String::from).to_vec(),
                )
            })
            .collect()
    };
    let problem = |id: &str, resource: &str| -> Row {
        named(
            &[
                "problem_id",
                "problem_name",
                "problem_parent_id",
                "problem_child_number",
                "resource_id",
            ],
            [id, "i4x://", "", "", resource].map(String::from).to_vec(),
        )
    };
    let golden = Tables {
        origin: Origin::Golden,
        rows: BTreeMap::from([
            (
                "resources",
                resources(&[
                    ("", "https://", "", "0"),
                    ("1", "https://a/", "", "0"),
                    ("2", "https://a/video/", "1", "1"),
                ]),
            ),
            (
                "resource_types",
                types(&[("0", "None", "None"), ("1", "lecture", "video")]),
            ),
            ("problems", vec![problem("", "0")]),
        ]),
    };
    let ours = Tables {
        origin: Origin::Ours,
        rows: BTreeMap::from([
            (
                "resources",
                resources(&[
                    ("1", "https://", "", "2"),
                    ("7", "https://a/", "1", "2"),
                    ("9", "https://a/video/", "7", "3"),
                ]),
            ),
            (
                "resource_types",
                types(&[("2", "", ""), ("3", "lecture", "video")]),
            ),
            ("problems", vec![problem("1", "1")]),
        ]),
    };
    for project in [resource_parents, resource_types, problem_resources] {
        let (mut g, mut o) = (project(&golden), project(&ours));
        g.sort();
        o.sort();
        assert_eq!(g, o);
    }
    assert!(
        resource_parents(&golden).contains(&vec!["https://".to_string(), String::new()]),
        "the root has no parent"
    );
    let names = ours.names("resources", "resource_id", "resource_uri");
    assert_eq!(resolve(&names, "0"), "<dangling \"0\">");
}

#[test]
fn compares_multisets_and_pairs_near_matches() {
    let row = |u: &str, t: &str, x: &str| -> Row {
        named(
            &["user_id", "timestamp", "x"],
            vec![u.into(), t.into(), x.into()],
        )
    };
    let golden = vec![
        row("a", "T1", "1"),
        row("a", "T1", "1"),
        row("b", "T1", "2"),
        row("c", "T2", "3"),
        row("e", "T9", "7"),
    ];
    let ours = vec![
        row("a", "T1", "1"),
        row("b", "T1", "9"),
        row("z", "T2", "3"),
        row("q", "T8", "8"),
    ];
    let (g, o, equal) = multiset_difference(&golden, &ours);
    assert_eq!(equal, 1);
    assert_eq!(g, golden[1..].iter().collect::<Vec<_>>());
    assert_eq!(o, ours[1..].iter().collect::<Vec<_>>());
    // Stage 0 pairs b/T1, stage 1 the tuples at T2; a/T1 (its partner is the equal tuple) and
    // e/T9 vs q/T8 stay unpaired.
    let (pairs, lone_g, lone_o) = pair_near_matches(
        &["user_id", "timestamp", "x"],
        &[&["user_id", "timestamp"], &["timestamp"]],
        &g,
        &o,
    );
    assert_eq!(pairs, vec![(1, 0, 0), (2, 1, 1)]);
    assert_eq!(lone_g, vec![0, 3]);
    assert_eq!(lone_o, vec![2]);
}

#[test]
fn deviations_apply_by_side() {
    let d = Deviation {
        table: "observed_events",
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
