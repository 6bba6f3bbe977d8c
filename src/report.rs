//! The human summary printed at the end of a load and by `moocdb status`.

use std::fmt::Write;

use crate::load::LoadSummary;
use crate::schema::Table;
use crate::store::status::DatabaseStatus;

/// The end-of-load summary, in sentences: what was loaded where, how fast and how; then only
/// what did not simply load (grown, skipped or changed files, rejected, duplicate and skipped
/// lines, events left out), each when it happened; then the rows written per table.
pub fn load_summary(s: &LoadSummary) -> String {
    let mut out = String::new();
    let dry_run = s.method == "none";
    let time = duration(s.elapsed_s);
    let rate = if s.lines > 0 && s.elapsed_s > 0.0 {
        let per_second = (s.lines as f64 / s.elapsed_s).round() as u64;
        format!(", {} lines/s", thousands(per_second))
    } else {
        String::new()
    };
    let read = format!(
        "{} ({}, {})",
        counted(s.files, "file", "files"),
        counted(s.lines, "line", "lines"),
        counted(s.events, "event", "events")
    );
    // A split's course databases that got rows in this run.
    let loaded_courses = (s.courses.values())
        .filter(|c| c.events > 0 || c.rows.values().any(|n| *n > 0))
        .count() as u64;
    let into = match &s.database {
        _ if !s.courses.is_empty() && loaded_courses == 0 => String::new(),
        _ if !s.courses.is_empty() => format!(
            " into {}",
            counted(loaded_courses, "course database", "course databases")
        ),
        Some(db) => format!(" into `{db}`"),
        None => String::new(),
    };
    let method = match s.method.as_str() {
        "infile" => ", with LOAD DATA LOCAL INFILE",
        "insert" => ", with multi-row INSERT",
        _ => "",
    };
    if dry_run {
        let _ = writeln!(
            out,
            "Dry run: read {read} in {time}{rate}; nothing was written to a database."
        );
    } else if s.files == 0 {
        let _ = writeln!(out, "Loaded nothing new{into} (in {time}).");
    } else {
        let _ = writeln!(out, "Loaded {read}{into} in {time}{rate}{method}.");
    }

    for (course, c) in &s.courses {
        let rows: u64 = c.rows.values().sum();
        if c.events == 0 && rows == 0 {
            continue;
        }
        let course = if course.is_empty() {
            "(no course)"
        } else {
            course.as_str()
        };
        let _ = writeln!(
            out,
            "  {course}: {} and {} into `{}`",
            counted(c.events, "event", "events"),
            counted(rows, "row", "rows"),
            c.database
        );
    }
    if let (Some(created @ 1..), Some(preparing)) = (s.created_course_databases, s.preparing_s) {
        let _ = writeln!(
            out,
            "Created {}; preparing those the first lines name took {}, while the first events \
             were read.",
            counted(created, "course database", "course databases"),
            duration(preparing)
        );
    }
    if s.grown_files > 0 {
        let (had, their) = if s.grown_files == 1 {
            ("it was", "its")
        } else {
            ("they were", "their")
        };
        let _ = writeln!(
            out,
            "{} had grown since {had} loaded: only {their} new lines were read.",
            counted(s.grown_files, "file", "files")
        );
    }
    if s.skipped_files > 0 {
        let was = if s.skipped_files == 1 { "was" } else { "were" };
        let _ = writeln!(
            out,
            "{} already loaded {was} skipped.",
            counted(s.skipped_files, "file", "files")
        );
    }
    for f in &s.changed_files {
        let _ = writeln!(
            out,
            "Left alone: {f} changed since it was loaded (give --reload {f} to replace its rows)."
        );
    }
    if s.rejected > 0 {
        let where_ = if dry_run {
            ""
        } else {
            ": each is stored with its file, line number and reason in moocdb_loader_rejects (see `moocdb status`)"
        };
        let _ = writeln!(
            out,
            "{} rejected{where_}.",
            counted(s.rejected, "line", "lines")
        );
    }
    if s.duplicates > 0 {
        let _ = writeln!(
            out,
            "{} left out, as {} an event already loaded.",
            counted(s.duplicates, "duplicate line", "duplicate lines"),
            if s.duplicates == 1 {
                "it repeats"
            } else {
                "each repeats"
            }
        );
    }
    let lines_without_events = s.skipped.saturating_sub(s.other_course_events);
    if lines_without_events > 0 {
        let _ = writeln!(
            out,
            "{} without an event (blank, comment) skipped.",
            counted(lines_without_events, "line", "lines")
        );
    }
    if s.other_course_events > 0 {
        let _ = writeln!(
            out,
            "{} left out (--course-id).",
            counted(
                s.other_course_events,
                "event of another course",
                "events of other courses"
            )
        );
    }
    for (reason, n) in &s.events_not_stored {
        let _ = writeln!(
            out,
            "{} stored in no table: {reason}.",
            counted(*n, "event", "events")
        );
    }

    // Rows per table, in the tables' order, under the database that holds them.
    let rows = |private: bool| -> Vec<(&str, u64)> {
        Table::ALL
            .iter()
            .filter(|t| t.is_private() == private)
            .filter_map(|t| s.rows.get_key_value(t.name()))
            .chain(
                // Any table of another name: with the course's.
                s.rows
                    .iter()
                    .filter(|(name, _)| !private && !Table::ALL.iter().any(|t| t.name() == *name)),
            )
            .filter(|(_, n)| **n > 0)
            .map(|(name, n)| (name.as_str(), *n))
            .collect()
    };
    let (course, private) = (rows(false), rows(true));
    let width = course
        .iter()
        .chain(&private)
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let number_width = course
        .iter()
        .chain(&private)
        .map(|(_, n)| thousands(*n).len())
        .max()
        .unwrap_or(0);
    let list = |out: &mut String, heading: String, rows: &[(&str, u64)]| {
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(out, "{heading}:");
        for (name, n) in rows {
            let _ = writeln!(out, "  {name:<width$}  {:>number_width$}", thousands(*n));
        }
    };
    if dry_run {
        let both: Vec<(&str, u64)> = course.iter().chain(&private).copied().collect();
        list(&mut out, "Rows a load would write".to_string(), &both);
    } else if !s.courses.is_empty() {
        // A split: the rows of every course database together (each one's count is above).
        list(
            &mut out,
            "Rows written to the course databases together".to_string(),
            &course,
        );
        list(
            &mut out,
            "Rows written to their private databases together".to_string(),
            &private,
        );
    } else {
        let course_db = s.database.as_deref().unwrap_or("the course database");
        list(&mut out, format!("Rows written to `{course_db}`"), &course);
        let private_db = s
            .private_database
            .as_deref()
            .unwrap_or("the private database");
        list(
            &mut out,
            format!("Rows written to `{private_db}`"),
            &private,
        );
        if s.files > 0 && course.is_empty() && private.is_empty() {
            let _ = writeln!(out, "No rows written.");
        }
    }
    out
}

/// `n` with its noun, singular or plural, and thousands separators: "1 file", "1,204 files".
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), noun(n, one, many))
}

/// The noun for `n` of a thing: `one` for 1, else `many`.
fn noun<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `n` with a comma between each group of three digits: "1,204,551".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Seconds as a person reads them: "0.42 s", "12.3 s", "4 min 05 s", "2 h 07 min".
fn duration(seconds: f64) -> String {
    if seconds < 9.995 {
        format!("{seconds:.2} s")
    } else if seconds < 59.95 {
        format!("{seconds:.1} s")
    } else {
        let s = seconds.round() as u64;
        if s < 3600 {
            format!("{} min {:02} s", s / 60, s % 60)
        } else {
            let m = (s + 30) / 60;
            format!("{} h {:02} min", m / 60, m % 60)
        }
    }
}

/// The `moocdb status` report: the ledger's files, then the rows of each table, aligned as the
/// load's summary aligns them.
pub fn status(s: &DatabaseStatus) -> String {
    let mut out = String::new();
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let loaded = s.files.iter().filter(|f| f.status == "loaded").count() as u64;
    let _ = writeln!(
        out,
        "Database `{}`: {} in the ledger, {} loaded; {} stored",
        s.database,
        counted(s.files.len() as u64, "file", "files"),
        thousands(loaded),
        counted(count(s.rejects), "rejected line", "rejected lines"),
    );
    for f in &s.files {
        let (lines, events) = (count(f.lines), count(f.events));
        let _ = writeln!(
            out,
            "  #{:<4} {:<8} {:>9} {:<5} {:>9} {:<6} {:>7} rejected  {}  {}",
            f.file_id,
            f.status,
            thousands(lines),
            noun(lines, "line", "lines"),
            thousands(events),
            noun(events, "event", "events"),
            thousands(count(f.rejected)),
            f.finished_at.as_deref().unwrap_or("-"),
            f.path
        );
    }
    let width = s.rows.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    let number_width = (s.rows.iter())
        .map(|(_, n)| thousands(count(*n)).len())
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "  rows:");
    for (table, n) in &s.rows {
        let _ = writeln!(
            out,
            "    {table:<width$}  {:>number_width$}",
            thousands(count(*n))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load of three files that went without a hitch.
    fn plain_load() -> LoadSummary {
        LoadSummary {
            files: 3,
            lines: 1_204_000,
            events: 1_204_000,
            method: "infile".into(),
            elapsed_s: 12.3,
            rows: [
                ("EdxTrackEvent", 1_204_000),
                ("EventIp", 1_204_000),
                ("users", 2_000),
            ]
            .into_iter()
            .map(|(t, n)| (t.to_string(), n))
            .collect(),
            database: Some("course_db".into()),
            private_database: Some("course_db_private".into()),
            ..LoadSummary::default()
        }
    }

    #[test]
    fn a_split_load_says_what_went_into_each_course_database() {
        let mut summary = plain_load();
        summary.database = Some("site_no_course".into());
        for (course, database, events) in [
            ("", "site_no_course", 12),
            (
                "MITx/6.002x/2013_Spring",
                "site_MITx_6_002x_2013_Spring",
                1_200,
            ),
        ] {
            let rows = [("observed_events".to_string(), events)].into();
            let c = crate::load::CourseSummary {
                database: database.into(),
                events,
                rows,
            };
            summary.courses.insert(course.into(), c);
        }
        let text = load_summary(&summary);
        assert!(text.contains("into 2 course databases"), "{text}");
        assert!(
            text.contains("  MITx/6.002x/2013_Spring: 1,200 events and 1,200 rows into `site_MITx_6_002x_2013_Spring`"),
            "{text}"
        );
        assert!(
            text.contains("  (no course): 12 events and 12 rows into `site_no_course`"),
            "{text}"
        );
        assert!(!text.contains("Created"), "{text}");
        // The rows by table are every course database's together, not the first one's.
        assert!(
            text.contains("Rows written to the course databases together:\n  EdxTrackEvent"),
            "{text}"
        );
        assert!(
            text.contains("Rows written to their private databases together:\n  EventIp"),
            "{text}"
        );
        assert!(!text.contains("Rows written to `site_no_course`"), "{text}");
        summary.created_course_databases = Some(2);
        summary.preparing_s = Some(0.4);
        let text = load_summary(&summary);
        assert!(
            text.contains(
                "Created 2 course databases; preparing those the first lines name took 0.40 s, \
                 while the first events were read."
            ),
            "{text}"
        );
        summary.created_course_databases = Some(0);
        assert!(!load_summary(&summary).contains("Created"));
    }

    #[test]
    fn a_plain_load_says_only_what_happened() {
        let text = load_summary(&plain_load());
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            "Loaded 3 files (1,204,000 lines, 1,204,000 events) into `course_db` in 12.3 s, \
             97,886 lines/s, with LOAD DATA LOCAL INFILE."
        );
        for absent in [
            "grown",
            "already loaded",
            "rejected",
            "duplicate",
            "skipped",
            "left out",
            "no table",
            "(s)",
            " 0 ",
        ] {
            assert!(!text.contains(absent), "{absent:?} in:\n{text}");
        }
        // Rows under the database that holds them, in the tables' order.
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            rows,
            [
                "Rows written to `course_db`:",
                "  EdxTrackEvent  1,204,000",
                "  users              2,000",
                "Rows written to `course_db_private`:",
                "  EventIp        1,204,000",
            ]
        );
    }

    #[test]
    fn what_did_not_simply_load_is_said_when_it_happened() {
        let mut s = plain_load();
        s.method = "insert".into();
        s.lines = 1_204_551 + 1_040;
        s.grown_files = 1;
        s.skipped_files = 2;
        s.rejected = 551;
        s.duplicates = 1;
        s.skipped = 40 + 1_000;
        s.other_course_events = 1_000;
        s.changed_files = vec!["logs/tracking.log-1".into()];
        s.events_not_stored = [("server ping".to_string(), 35)].into_iter().collect();
        let text = load_summary(&s);
        for expected in [
            "with multi-row INSERT.",
            "\n1 file had grown since it was loaded: only its new lines were read.\n",
            "\n2 files already loaded were skipped.\n",
            "\nLeft alone: logs/tracking.log-1 changed since it was loaded (give --reload \
             logs/tracking.log-1 to replace its rows).\n",
            "\n551 lines rejected: each is stored with its file, line number and reason in \
             moocdb_loader_rejects (see `moocdb status`).\n",
            "\n1 duplicate line left out, as it repeats an event already loaded.\n",
            "\n40 lines without an event (blank, comment) skipped.\n",
            "\n1,000 events of other courses left out (--course-id).\n",
            "\n35 events stored in no table: server ping.\n",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }

        // And in the singular and plural the other way round.
        s.grown_files = 2;
        s.skipped_files = 1;
        s.rejected = 1;
        s.duplicates = 2;
        s.skipped = 1 + 1;
        s.other_course_events = 1;
        let text = load_summary(&s);
        for expected in [
            "\n2 files had grown since they were loaded: only their new lines were read.\n",
            "\n1 file already loaded was skipped.\n",
            "\n1 line rejected: ",
            "\n2 duplicate lines left out, as each repeats an event already loaded.\n",
            "\n1 line without an event (blank, comment) skipped.\n",
            "\n1 event of another course left out (--course-id).\n",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
    }

    #[test]
    fn nothing_new_and_dry_runs_say_so() {
        let nothing = LoadSummary {
            skipped_files: 1,
            method: "infile".into(),
            elapsed_s: 0.31,
            database: Some("course_db".into()),
            ..LoadSummary::default()
        };
        assert_eq!(
            load_summary(&nothing),
            "Loaded nothing new into `course_db` (in 0.31 s).\n\
             1 file already loaded was skipped.\n"
        );

        let mut dry = plain_load();
        dry.method = "none".into();
        dry.files = 1;
        dry.rejected = 2;
        dry.database = None;
        dry.private_database = None;
        let text = load_summary(&dry);
        assert!(
            text.starts_with(
                "Dry run: read 1 file (1,204,000 lines, 1,204,000 events) in 12.3 s, \
                 97,886 lines/s; nothing was written to a database.\n2 lines rejected.\n\
                 Rows a load would write:\n"
            ),
            "{text}"
        );
        assert!(!text.contains("moocdb_loader_rejects") && !text.contains("Rows written"));
    }

    #[test]
    fn numbers_and_times_read_plainly() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_204_551), "1,204,551");
        assert_eq!(counted(1, "file", "files"), "1 file");
        assert_eq!(counted(0, "file", "files"), "0 files");
        assert_eq!(duration(0.4249), "0.42 s");
        assert_eq!(duration(9.999), "10.0 s");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(59.96), "1 min 00 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(3599.6), "1 h 00 min");
        assert_eq!(duration(7620.0), "2 h 07 min");
    }

    #[test]
    fn status_counts_in_words_and_aligns_every_table() {
        let file = |file_id, status: &str, lines, rejected| crate::store::status::FileStatus {
            file_id,
            path: format!("logs/tracking.log-{file_id}.gz"),
            status: status.into(),
            lines,
            events: lines - rejected,
            rejected,
            finished_at: Some("2017-05-02 00:00:01.000000".into()),
        };
        let status = DatabaseStatus {
            database: "moocdb_MITx_6_002x_2013_Spring".into(),
            files: vec![file(1, "loaded", 1_204_551, 551), file(2, "loading", 1, 0)],
            rows: [("EdxTrackEvent", 1_204_000), ("moocdb_loader_lines", 7)]
                .into_iter()
                .map(|(t, n)| (t.to_string(), n))
                .collect(),
            rejects: 1,
        };
        let text = super::status(&status);
        assert!(
            text.starts_with(
                "Database `moocdb_MITx_6_002x_2013_Spring`: 2 files in the ledger, 1 loaded; \
                 1 rejected line stored\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  #1    loaded   1,204,551 lines 1,204,000 events     551 rejected"),
            "{text}"
        );
        assert!(
            text.contains("  #2    loading          1 line          1 event        0 rejected"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "  rows:\n    EdxTrackEvent        1,204,000\n    moocdb_loader_lines          7\n"
            ),
            "{text}"
        );
    }
}
