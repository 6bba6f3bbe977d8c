//! Rows kept in memory instead of sent to a database, and read back as text table by table: what
//! the unit tests of the stages compare.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Batch, Encoding, Rows};

/// Rows by table name, each row as column → value (`NULL` for a null).
pub type TableRows = BTreeMap<&'static str, Vec<BTreeMap<&'static str, String>>>;

/// `Rows` that keep every batch, with the batches they kept so far.
pub fn collecting(encoding: Encoding) -> (Rows, Arc<Mutex<Vec<Batch>>>) {
    let batches: Arc<Mutex<Vec<Batch>>> = Arc::default();
    let sink = batches.clone();
    let rows = Rows::new(
        encoding,
        1 << 30,
        true,
        Box::new(move |b| {
            sink.lock().unwrap().push(b);
            Ok(())
        }),
    );
    (rows, batches)
}

/// A `LOAD DATA` text field as the value it stands for.
pub fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('N') => out.push_str("NULL"),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The rows of batches encoded as `Encoding::Tsv`, by table.
pub fn tsv_rows(batches: &[Batch]) -> TableRows {
    let mut out = TableRows::new();
    for batch in batches {
        let text = String::from_utf8(batch.data.clone()).unwrap();
        for line in text.lines() {
            let values: Vec<String> = line.split('\t').map(unescape).collect();
            let row = batch.table.columns().iter().copied().zip(values).collect();
            out.entry(batch.table.name()).or_default().push(row);
        }
    }
    out
}
