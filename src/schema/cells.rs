//! How a declared row reaches the encoder: each field is a [`Cell`], written in column order to
//! a [`CellWriter`] (the sink's row buffer implements it).

use chrono::NaiveDateTime;

use crate::identity::{AnonName, AnonText, RowId};

use super::Table;

/// Receives a row's values in column order.
pub trait CellWriter {
    /// A text value (escaped as the encoding needs).
    fn text(&mut self, s: &str);
    /// Text that never needs escaping: ASCII letters, digits and `-_.:` (ids, hashes).
    fn token(&mut self, s: &[u8]);
    /// An integer.
    fn int(&mut self, v: i64);
    /// A floating-point number.
    fn float(&mut self, v: f64);
    /// A timestamp with microseconds.
    fn datetime(&mut self, t: &NaiveDateTime);
    /// NULL.
    fn null(&mut self);
    /// Column `column` of `table` at its legacy default: `''`, or `-1` for an integer column.
    fn legacy_default(&mut self, table: Table, column: usize) {
        if table.is_int_column(column) {
            self.int(-1);
        } else {
            self.text("");
        }
    }

    /// Columns `columns` of `table` at their legacy defaults. A writer may copy the run at
    /// once; this writes it a value at a time.
    fn legacy_defaults(&mut self, table: Table, columns: std::ops::Range<usize>) {
        for column in columns {
            self.legacy_default(table, column);
        }
    }
}

/// A value of one column.
pub trait Cell {
    /// Writes the value.
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W);
}

/// A row of a declared table: its fields are its columns, in order.
pub trait TableRow {
    /// The table the row belongs to.
    const TABLE: Table;
    /// Writes the row's values in column order.
    fn write_cells<W: CellWriter + ?Sized>(&self, w: &mut W);
}

/// Text that needs no escaping (ids, hashes, codes: ASCII letters, digits and `-_.:`), written
/// without being scanned.
#[derive(Debug, Clone, Copy)]
pub struct Token<'a>(pub &'a [u8]);

impl Cell for Token<'_> {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        w.token(self.0);
    }
}

impl Cell for &str {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        w.text(self);
    }
}

impl Cell for i64 {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        w.int(*self);
    }
}

impl Cell for f64 {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        w.float(*self);
    }
}

impl Cell for &NaiveDateTime {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        w.datetime(self);
    }
}

/// A row id: its hex digits and hyphens.
impl Cell for &RowId {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        w.token(self.as_bytes());
    }
}

/// A user's hash: its digits.
impl Cell for &AnonName {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        w.token(self.as_bytes());
    }
}

/// A user's hash, or the text kept in its place.
impl Cell for &AnonText<'_> {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        match self {
            AnonText::Digits(name) => w.token(name.as_bytes()),
            AnonText::Other(text) => w.text(text),
        }
    }
}

/// NULL when absent.
impl<T: Cell> Cell for Option<T> {
    fn write_to<W: CellWriter + ?Sized>(&self, w: &mut W) {
        match self {
            Some(v) => v.write_to(w),
            None => w.null(),
        }
    }
}
