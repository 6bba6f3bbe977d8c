//! What the two conformance tests share: the allowlist of documented deviations, multiset
//! comparison of normalised rows, pairing of near matches for the report, and report output.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lines of a report printed to stdout per set; the file always has all of it.
pub const STDOUT_LINES: usize = 400;

/// A normalised row or tuple: column name → normalised value.
pub type Row = BTreeMap<String, String>;

/// Which side of the comparison a [`Deviation`] may explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Rows the legacy wrote and we do not.
    GoldenOnly,
    /// Rows we write and the legacy did not.
    OursOnly,
    /// Either.
    Both,
}

impl Side {
    /// Whether a deviation declared for `self` may explain a row found only on `side`.
    pub fn covers(self, side: Side) -> bool {
        self == Side::Both || self == side
    }
}

/// One deliberate, documented difference from the legacy output.
pub struct Deviation {
    /// The table or comparison it applies to (`*`: any).
    pub table: &'static str,
    /// Which rows it may explain.
    pub side: Side,
    /// Why, citing `docs/deviations.md` (or DESIGN.md).
    pub reason: &'static str,
    /// Whether a (normalised) row that differs is one this deviation explains.
    pub matches: fn(&Row) -> bool,
}

/// A column of a normalised row; `""` when the table has no such column.
pub fn col<'a>(row: &'a Row, name: &str) -> &'a str {
    row.get(name).map(String::as_str).unwrap_or("")
}

/// Rows of `golden` not matched in `ours`, rows of `ours` not matched in `golden` (as multisets,
/// in input order), and the number of rows matched.
pub fn multiset_difference<'a>(
    golden: &'a [Row],
    ours: &'a [Row],
) -> (Vec<&'a Row>, Vec<&'a Row>, usize) {
    let mut counts: BTreeMap<&Row, i64> = BTreeMap::new();
    for r in ours {
        *counts.entry(r).or_default() += 1;
    }
    let mut golden_only = Vec::new();
    let mut equal = 0;
    for r in golden {
        match counts.get_mut(r) {
            Some(n) if *n > 0 => {
                *n -= 1;
                equal += 1;
            }
            _ => golden_only.push(r),
        }
    }
    // What is left in `counts` is ours-only; walk `ours` to keep its order.
    let mut ours_only = Vec::new();
    for r in ours {
        if let Some(n) = counts.get_mut(r)
            && *n > 0
        {
            *n -= 1;
            ours_only.push(r);
        }
    }
    (golden_only, ours_only, equal)
}

/// Pairs golden-only with ours-only rows for the report. Stage by stage (`pair_on`), rows that
/// agree on the stage's key columns are paired, each golden row with the most similar free row of
/// ours; a stage without key columns pairs only rows that differ in at most a third of the columns.
/// Returns the pairs (golden index, ours index, stage) and the unpaired indexes of both sides.
#[allow(clippy::type_complexity)]
pub fn pair_near_matches(
    columns: &[&str],
    pair_on: &[&[&str]],
    golden_only: &[&Row],
    ours_only: &[&Row],
) -> (Vec<(usize, usize, usize)>, Vec<usize>, Vec<usize>) {
    let diff = |a: &Row, b: &Row| columns.iter().filter(|c| a[**c] != b[**c]).count();
    let mut pairs = Vec::new();
    let mut lone_golden: Vec<usize> = (0..golden_only.len()).collect();
    let mut lone_ours: Vec<usize> = (0..ours_only.len()).collect();
    for (stage, key_columns) in pair_on.iter().enumerate() {
        let key = |r: &Row| -> Vec<String> { key_columns.iter().map(|c| r[*c].clone()).collect() };
        let mut free: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
        for &o in &lone_ours {
            free.entry(key(ours_only[o])).or_default().push(o);
        }
        let mut still_lone = Vec::new();
        for g in lone_golden {
            let row = golden_only[g];
            let best = free.get_mut(&key(row)).and_then(|candidates| {
                let (pos, d) = candidates
                    .iter()
                    .enumerate()
                    .map(|(pos, &o)| (pos, diff(row, ours_only[o])))
                    .min_by_key(|&(_, d)| d)?;
                if key_columns.is_empty() && 3 * d > columns.len() {
                    return None;
                }
                Some(candidates.remove(pos))
            });
            match best {
                Some(o) => pairs.push((g, o, stage)),
                None => still_lone.push(g),
            }
        }
        lone_golden = still_lone;
        lone_ours = free.into_values().flatten().collect();
        lone_ours.sort_unstable();
    }
    (pairs, lone_golden, lone_ours)
}

/// A value for the report: quoted, control characters escaped, long values shortened.
pub fn show(value: &str) -> String {
    const MAX: usize = 160;
    let escaped: String = value.escape_debug().collect();
    let n = escaped.chars().count();
    if n <= MAX {
        format!("'{escaped}'")
    } else {
        let head: String = escaped.chars().take(MAX).collect();
        format!("'{head}…' ({n} chars)")
    }
}

/// `target/conformance/` (derived from Cargo's per-target temporary dir, so it follows
/// `CARGO_TARGET_DIR`).
pub fn report_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("conformance")
}

/// Prints a report, capped so that a badly broken run stays readable on a terminal.
pub fn print_capped(report: &str, path: &Path) {
    let lines: Vec<&str> = report.lines().collect();
    for line in lines.iter().take(STDOUT_LINES) {
        println!("{line}");
    }
    if lines.len() > STDOUT_LINES {
        println!(
            "… {} more lines in {}",
            lines.len() - STDOUT_LINES,
            path.display()
        );
    }
    println!("(report written to {})\n", path.display());
}

/// Writes, for the near matches `pairs` of `golden_only` and `ours_only`, how many differ in each
/// column with a first example: a systematic difference (one column wrong in every row of a
/// kind) shows up as one line with a count.
pub fn write_column_overview(
    details: &mut String,
    columns: &[&str],
    pairs: &[(usize, usize, usize)],
    golden_only: &[&Row],
    ours_only: &[&Row],
) {
    use std::fmt::Write as _;
    let mut by_column: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    for &(g, o, _) in pairs {
        let (g, o) = (golden_only[g], ours_only[o]);
        for c in columns.iter().filter(|c| g[**c] != o[**c]) {
            let entry = by_column
                .entry(c)
                .or_insert_with(|| (0, format!("{} → {}", show(&g[*c]), show(&o[*c]))));
            entry.0 += 1;
        }
    }
    if !by_column.is_empty() {
        let _ = writeln!(
            details,
            "columns differing in the {} near matches (count, first example golden → ours):",
            pairs.len()
        );
        for (c, (n, example)) in &by_column {
            let _ = writeln!(details, "  {c}: {n}, e.g. {example}");
        }
    }
}
