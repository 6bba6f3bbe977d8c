//! The `EdxTrackEvent` row: json_to_relation's 65 columns (2018 layout, with `quarter`).

use chrono::NaiveDateTime;

use crate::identity::{AnonName, RowId};
use crate::sink::{Encoding, RowBuffer};
use std::sync::LazyLock;

/// Column positions in [`EDX_TRACK_EVENT_COLUMNS`](crate::schema::EDX_TRACK_EVENT_COLUMNS), named
/// as the columns are (`correctMap_fk` is `correct_map_fk`).
#[allow(missing_docs, non_upper_case_globals)]
pub mod col {
    pub const _id: usize = 0;
    pub const event_id: usize = 1;
    pub const agent: usize = 2;
    pub const event_source: usize = 3;
    pub const event_type: usize = 4;
    pub const ip_country: usize = 5;
    pub const page: usize = 6;
    pub const session: usize = 7;
    pub const time: usize = 8;
    pub const quarter: usize = 9;
    pub const anon_screen_name: usize = 10;
    pub const downtime_for: usize = 11;
    pub const student_id: usize = 12;
    pub const instructor_id: usize = 13;
    pub const course_id: usize = 14;
    pub const course_display_name: usize = 15;
    pub const resource_display_name: usize = 16;
    pub const organization: usize = 17;
    pub const sequence_id: usize = 18;
    pub const goto_from: usize = 19;
    pub const goto_dest: usize = 20;
    pub const problem_id: usize = 21;
    pub const problem_choice: usize = 22;
    pub const question_location: usize = 23;
    pub const submission_id: usize = 24;
    pub const attempts: usize = 25;
    pub const long_answer: usize = 26;
    pub const student_file: usize = 27;
    pub const can_upload_file: usize = 28;
    pub const feedback: usize = 29;
    pub const feedback_response_selected: usize = 30;
    pub const transcript_id: usize = 31;
    pub const transcript_code: usize = 32;
    pub const rubric_selection: usize = 33;
    pub const rubric_category: usize = 34;
    pub const video_id: usize = 35;
    pub const video_code: usize = 36;
    pub const video_current_time: usize = 37;
    pub const video_speed: usize = 38;
    pub const video_old_time: usize = 39;
    pub const video_new_time: usize = 40;
    pub const video_seek_type: usize = 41;
    pub const video_new_speed: usize = 42;
    pub const video_old_speed: usize = 43;
    pub const book_interaction_type: usize = 44;
    pub const success: usize = 45;
    pub const answer_id: usize = 46;
    pub const hint: usize = 47;
    pub const mode: usize = 48;
    pub const msg: usize = 49;
    pub const npoints: usize = 50;
    pub const queuestate: usize = 51;
    pub const orig_score: usize = 52;
    pub const new_score: usize = 53;
    pub const orig_total: usize = 54;
    pub const new_total: usize = 55;
    pub const event_name: usize = 56;
    pub const group_user: usize = 57;
    pub const group_action: usize = 58;
    pub const position: usize = 59;
    pub const badly_formatted: usize = 60;
    pub const correct_map_fk: usize = 61;
    pub const answer_fk: usize = 62;
    pub const state_fk: usize = 63;
    pub const load_info_fk: usize = 64;
}

// Integer-typed columns: their legacy default is -1; every other column defaults to ''.
const INT_COLUMNS: [usize; 12] = [19, 20, 25, 30, 33, 34, 50, 52, 53, 54, 55, 59];

// `INT_COLUMNS` as a lookup by position, for the encoder's loop.
const IS_INT_COLUMN: [bool; 65] = {
    let mut is_int = [false; 65];
    let mut i = 0;
    while i < INT_COLUMNS.len() {
        is_int[INT_COLUMNS[i]] = true;
        i += 1;
    }
    is_int
};

/// Every column's legacy default (`''`, or `-1` for integers) encoded with its leading separator,
/// one after another, in one encoding; `at[i]` is where column `i`'s starts.
struct EncodedDefaults {
    bytes: Vec<u8>,
    at: [usize; 66],
}

impl EncodedDefaults {
    /// Written by the row buffer itself, so that they are what it would write a value at a time.
    fn new(encoding: Encoding) -> Self {
        let mut b = RowBuffer::new(encoding);
        // A first value, so that each default comes with its separator.
        b.token("x");
        let first = b.len();
        let mut at = [0; 66];
        for (i, is_int) in IS_INT_COLUMN.iter().enumerate() {
            at[i] = b.len() - first;
            if *is_int { b.int(-1) } else { b.text("") }
        }
        at[65] = b.len() - first;
        let bytes = b.take().0[first..].to_vec();
        EncodedDefaults { bytes, at }
    }

    fn of(encoding: Encoding) -> &'static EncodedDefaults {
        static TSV: LazyLock<EncodedDefaults> =
            LazyLock::new(|| EncodedDefaults::new(Encoding::Tsv));
        static PARAMS: LazyLock<EncodedDefaults> =
            LazyLock::new(|| EncodedDefaults::new(Encoding::Params));
        match encoding {
            Encoding::Tsv => &TSV,
            Encoding::Params => &PARAMS,
        }
    }

    /// Columns `start..end`'s defaults.
    fn columns(&self, start: usize, end: usize) -> &[u8] {
        &self.bytes[self.at[start]..self.at[end]]
    }
}

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

    /// Encodes the row.
    pub fn encode(&self, out: &mut RowBuffer) {
        let mut i = 0;
        while i < self.cells.len() {
            // Most columns are unset: each run of them is copied at once from the encoded defaults.
            if i > 0 && matches!(self.cells[i], Cell::Default) {
                let start = i;
                while i < self.cells.len() && matches!(self.cells[i], Cell::Default) {
                    i += 1;
                }
                let defaults = EncodedDefaults::of(out.encoding());
                out.encoded_fields(defaults.columns(start, i), i - start);
                continue;
            }
            match &self.cells[i] {
                Cell::Default if IS_INT_COLUMN[i] => out.int(-1),
                Cell::Default => out.text(""),
                Cell::Text(s) => out.text(s),
                Cell::Owned(s) => out.text(s),
                Cell::Shared(s) => out.text(s),
                Cell::Anon(a) => out.token(a.as_bytes()),
                Cell::Int(v) => out.int(*v),
                Cell::Time(t) => out.datetime(t),
                Cell::Id(id) => out.token(id.as_bytes()),
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EDX_TRACK_EVENT_COLUMNS;

    #[test]
    fn unset_columns_encode_as_their_legacy_defaults_in_both_encodings() {
        let mut row = EdxTrackEventRow::default();
        row.text(col::_id, "id");
        row.set(col::attempts, Cell::Int(3));
        row.text(col::load_info_fk, "L");
        for encoding in [Encoding::Tsv, Encoding::Params] {
            let mut fast = RowBuffer::new(encoding);
            row.encode(&mut fast);
            fast.end_row();
            // The same row a value at a time.
            let mut slow = RowBuffer::new(encoding);
            for (i, is_int) in IS_INT_COLUMN.iter().enumerate() {
                match row.get(i) {
                    Cell::Default if *is_int => slow.int(-1),
                    Cell::Default => slow.text(""),
                    Cell::Int(v) => slow.int(*v),
                    Cell::Text(s) => slow.text(s),
                    other => panic!("unexpected {other:?}"),
                }
            }
            slow.end_row();
            assert_eq!(fast.take().0, slow.take().0, "{encoding:?}");
        }
    }

    #[test]
    fn column_positions_match_the_names() {
        assert_eq!(EDX_TRACK_EVENT_COLUMNS[col::problem_id], "problem_id");
        assert_eq!(EDX_TRACK_EVENT_COLUMNS[col::load_info_fk], "load_info_fk");
        assert_eq!(
            EDX_TRACK_EVENT_COLUMNS[col::badly_formatted],
            "badly_formatted"
        );
        assert_eq!(EDX_TRACK_EVENT_COLUMNS[col::quarter], "quarter");
        let ints: Vec<_> = INT_COLUMNS
            .iter()
            .map(|&i| EDX_TRACK_EVENT_COLUMNS[i])
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
