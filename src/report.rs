//! The human summary printed at the end of a load and by `moocdb status`.

use std::fmt::Write;

use crate::load::LoadSummary;
use crate::status::DatabaseStatus;

/// The end-of-load summary: files, lines, events, rejects, rows per table, time and rate.
pub fn load_summary(s: &LoadSummary) -> String {
    let mut out = String::new();
    let rate = if s.elapsed_s > 0.0 {
        s.lines as f64 / s.elapsed_s
    } else {
        0.0
    };
    let method = if s.method == "none" {
        "no database (dry run)".to_string()
    } else {
        format!("method {}", s.method)
    };
    let _ = writeln!(
        out,
        "Loaded {} file(s) ({} grown, only their new lines), {} already loaded, in {:.2} s with {} ({:.0} lines/s)",
        s.files, s.grown_files, s.skipped_files, s.elapsed_s, method, rate
    );
    for f in &s.changed_files {
        let _ = writeln!(out, "  CHANGED since it was loaded, left alone: {f}");
    }
    let _ = writeln!(
        out,
        "  lines {}  events {}  rejected {}  duplicates {}  skipped {}",
        s.lines, s.events, s.rejected, s.duplicates, s.skipped
    );
    if s.other_course_events > 0 {
        let _ = writeln!(
            out,
            "  {} events of other courses left out (--course-id)",
            s.other_course_events
        );
    }
    for (reason, n) in &s.events_not_stored {
        let _ = writeln!(out, "  {n} events not stored: {reason}");
    }
    if s.rejected > 0 {
        let _ = writeln!(
            out,
            "  rejected lines are stored with file, line and reason in moocdb_loader_rejects"
        );
    }
    let label = if s.method == "none" {
        "rows produced"
    } else {
        "rows written"
    };
    if s.rows.is_empty() {
        let _ = writeln!(out, "  {label}: none");
    } else {
        let _ = writeln!(out, "  {label}:");
        for (table, n) in &s.rows {
            let _ = writeln!(out, "    {table:<16} {n:>10}");
        }
    }
    out
}

/// The `moocdb status` report.
pub fn status(s: &DatabaseStatus) -> String {
    let mut out = String::new();
    let loaded = s.files.iter().filter(|f| f.status == "loaded").count();
    let _ = writeln!(
        out,
        "Database {}: {} file(s) in the ledger, {} loaded; {} rejected line(s) stored",
        s.database,
        s.files.len(),
        loaded,
        s.rejects
    );
    for f in &s.files {
        let _ = writeln!(
            out,
            "  #{:<4} {:<8} {:>9} lines {:>9} events {:>7} rejected  {}  {}",
            f.file_id,
            f.status,
            f.lines,
            f.events,
            f.rejected,
            f.finished_at.as_deref().unwrap_or("-"),
            f.path
        );
    }
    let _ = writeln!(out, "  rows:");
    for (table, n) in &s.rows {
        let _ = writeln!(out, "    {table:<16} {n:>10}");
    }
    out
}
