//! The `EdxTrackEvent` row: json_to_relation's 65 columns (2018 layout, with `quarter`).

use chrono::NaiveDateTime;

use crate::identity::{AnonName, RowId};
use crate::schema::{CellWriter, Table, TableRow};

/// Column positions, named as the columns are.
pub use crate::schema::edx_track_event_column as col;

/// One value of an `EdxTrackEvent` row.
#[derive(Debug, Clone, Default)]
pub enum Cell<'a> {
    /// Not set: the legacy type default (`''` for text, `-1` for integers).
    #[default]
    Default,
    /// Borrowed text.
    Text(&'a str),
    /// Owned text.
    Owned(String),
    /// Text shared with a cache (the quarter, the `LoadInfo` id, a course id).
    Shared(std::rc::Rc<str>),
    /// A user's hash.
    Anon(AnonName),
    /// An integer.
    Int(i64),
    /// A timestamp.
    Time(NaiveDateTime),
    /// A row id.
    Id(RowId),
}

/// An `EdxTrackEvent` row under construction; unset columns get the legacy defaults.
#[derive(Debug, Clone)]
pub struct EdxTrackEventRow<'a> {
    // Boxed: the cells take about 2.6 KB, and a row moves several times on its way from the
    // common fields through a handler to the encoder.
    cells: Box<[Cell<'a>; 65]>,
}

impl Default for EdxTrackEventRow<'_> {
    fn default() -> Self {
        let cells: Box<[Cell<'_>]> = (0..65).map(|_| Cell::Default).collect();
        EdxTrackEventRow {
            cells: cells.try_into().expect("65 cells"),
        }
    }
}

impl<'a> EdxTrackEventRow<'a> {
    /// Sets a column.
    pub fn set(&mut self, column: usize, value: Cell<'a>) {
        self.cells[column] = value;
    }

    /// Sets a text column from a borrowed string.
    pub fn text(&mut self, column: usize, value: &'a str) {
        self.cells[column] = Cell::Text(value);
    }

    /// Reads a column back (for the MOOCdb stage and tests).
    pub fn get(&self, column: usize) -> &Cell<'a> {
        &self.cells[column]
    }

    /// A column's value as text (`''` for unset text, the number for integers).
    pub fn text_of(&self, column: usize) -> String {
        match &self.cells[column] {
            Cell::Default => String::new(),
            Cell::Text(s) => s.to_string(),
            Cell::Owned(s) => s.clone(),
            Cell::Shared(s) => s.to_string(),
            Cell::Anon(a) => a.to_string(),
            Cell::Int(v) => v.to_string(),
            Cell::Time(t) => t.to_string(),
            Cell::Id(id) => id.to_string(),
        }
    }

    /// A text column's value, borrowed (`''` when unset). Only text columns are read this way:
    /// any other cell reads as `''` too.
    pub fn str_of(&self, column: usize) -> &str {
        match &self.cells[column] {
            Cell::Text(s) => s,
            Cell::Owned(s) => s,
            Cell::Shared(s) => s,
            Cell::Anon(a) => a,
            Cell::Default | Cell::Int(_) | Cell::Time(_) | Cell::Id(_) => "",
        }
    }

    /// An integer column's value (`None` when unset).
    pub fn int_of(&self, column: usize) -> Option<i64> {
        match &self.cells[column] {
            Cell::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// A row id column's value.
    pub fn id_of(&self, column: usize) -> Option<RowId> {
        match &self.cells[column] {
            Cell::Id(id) => Some(*id),
            _ => None,
        }
    }
}

/// Set columns are written as they are; a run of unset ones, as one run of legacy defaults
/// (most columns of an event are unset, and the encoder copies such a run at once).
impl TableRow for EdxTrackEventRow<'_> {
    const TABLE: Table = Table::EdxTrackEvent;

    fn write_cells<W: CellWriter + ?Sized>(&self, w: &mut W) {
        let mut i = 0;
        while i < self.cells.len() {
            if matches!(self.cells[i], Cell::Default) {
                let start = i;
                while i < self.cells.len() && matches!(self.cells[i], Cell::Default) {
                    i += 1;
                }
                w.legacy_defaults(Table::EdxTrackEvent, start..i);
                continue;
            }
            match &self.cells[i] {
                Cell::Default => unreachable!("runs of defaults are written above"),
                Cell::Text(s) => w.text(s),
                Cell::Owned(s) => w.text(s),
                Cell::Shared(s) => w.text(s),
                Cell::Anon(a) => w.token(a.as_bytes()),
                Cell::Int(v) => w.int(*v),
                Cell::Time(t) => w.datetime(t),
                Cell::Id(id) => w.token(id.as_bytes()),
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{Encoding, RowBuffer};

    /// Writes every value to a row buffer one at a time, runs of defaults included.
    struct OneAtATime(RowBuffer);

    impl CellWriter for OneAtATime {
        fn text(&mut self, s: &str) {
            self.0.text(s);
        }
        fn token(&mut self, s: &[u8]) {
            self.0.token(s);
        }
        fn int(&mut self, v: i64) {
            self.0.int(v);
        }
        fn float(&mut self, v: f64) {
            self.0.float(v);
        }
        fn datetime(&mut self, t: &NaiveDateTime) {
            self.0.datetime(t);
        }
        fn null(&mut self) {
            self.0.null();
        }
    }

    #[test]
    fn unset_columns_encode_as_their_legacy_defaults_in_both_encodings() {
        let mut sparse = EdxTrackEventRow::default();
        sparse.text(col::_id, "id");
        sparse.set(col::attempts, Cell::Int(3));
        sparse.text(col::load_info_fk, "L");
        let unset_first = EdxTrackEventRow::default();
        for row in [sparse, unset_first] {
            for encoding in [Encoding::Tsv, Encoding::Params] {
                let mut fast = RowBuffer::new(encoding);
                row.write_cells(&mut fast);
                fast.end_row();
                let mut slow = OneAtATime(RowBuffer::new(encoding));
                row.write_cells(&mut slow);
                slow.0.end_row();
                assert_eq!(fast.take().0, slow.0.take().0, "{encoding:?}");
            }
        }
    }

    #[test]
    fn column_positions_match_the_names() {
        let columns = Table::EdxTrackEvent.columns();
        assert_eq!(columns.len(), 65);
        assert_eq!(columns[col::problem_id], "problem_id");
        assert_eq!(columns[col::load_info_fk], "load_info_fk");
        assert_eq!(columns[col::badly_formatted], "badly_formatted");
        assert_eq!(columns[col::quarter], "quarter");
        let ints: Vec<_> = (0..columns.len())
            .filter(|&i| Table::EdxTrackEvent.is_int_column(i))
            .map(|i| columns[i])
            .collect();
        assert_eq!(
            ints,
            [
                "goto_from",
                "goto_dest",
                "attempts",
                "feedback_response_selected",
                "rubric_selection",
                "rubric_category",
                "npoints",
                "orig_score",
                "new_score",
                "orig_total",
                "new_total",
                "position"
            ]
        );
    }
}
