//! Row encoding in memory: `LOAD DATA` tab-separated text, or the parameter values of a prepared
//! multi-row `INSERT`.
//!
//! Rows are appended value by value straight into one byte buffer per table, so building a row
//! allocates nothing. Both encodings are exact for every string (tabs, newlines, CR, backslashes,
//! quotes, NUL, the text `\N`, 4-byte UTF-8): a round-trip test through the server proves it.

use std::sync::OnceLock;

use chrono::NaiveDateTime;

use crate::schema::{CellWriter, Table};

/// How rows are encoded for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `LOAD DATA … FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'`, NULL as `\N`.
    Tsv,
    /// The values of a prepared `INSERT … VALUES (?,…),…`'s parameters, read back with
    /// [`Parameters`]. The server then parses a table's statement once per connection, not the
    /// text of every value: for the 65-column `EdxTrackEvent` that halved its CPU time.
    Params,
}

/// Tags of [`Encoding::Params`] values: a tag byte, then for text its length (`u32`, little
/// endian) and UTF-8 bytes, for numbers their 8 little-endian bytes.
mod tag {
    pub const NULL: u8 = 0;
    pub const TEXT: u8 = 1;
    pub const INT: u8 = 2;
    pub const FLOAT: u8 = 3;
}

/// A growing batch of encoded rows for one table.
#[derive(Debug)]
pub struct RowBuffer {
    encoding: Encoding,
    buf: Vec<u8>,
    rows: u64,
    fields_in_row: usize,
    /// Capacity of the buffers that replace a sent batch (0: as large as the one sent).
    batch_capacity: usize,
    /// Whether a sent batch's buffer is replaced by an empty one that grows again as rows come.
    growing: bool,
}

impl RowBuffer {
    /// An empty buffer.
    pub fn new(encoding: Encoding) -> Self {
        RowBuffer {
            encoding,
            buf: Vec::new(),
            rows: 0,
            fields_in_row: 0,
            batch_capacity: 0,
            growing: false,
        }
    }

    /// Makes the buffer hold only the room its rows take: each sent batch's buffer is replaced by
    /// an empty one (for the many small tables of a split load's course databases, where a
    /// batch-sized buffer per table, or a spare one reused, held the memory of full batches).
    pub fn make_growing(&mut self) {
        self.batch_capacity = 0;
        self.growing = true;
    }

    /// Replacement buffers get `capacity`: one size for every big buffer lets the spare ones
    /// serve any table.
    pub fn with_batch_capacity(mut self, capacity: usize) -> Self {
        self.batch_capacity = capacity;
        self
    }

    /// Gives a buffer that has none yet its full batch capacity, before its first row. Growing
    /// from nothing by doubling copied each table's first batch several times over, about 8%
    /// of a 100k-event dry run's cache misses; a table that never gets a row takes no memory.
    #[inline]
    pub fn ready_for_rows(&mut self) {
        if self.buf.capacity() == 0 && self.batch_capacity > 0 {
            self.buf = super::spare::take(self.batch_capacity);
        }
    }

    /// The buffer that replaces a sent batch's.
    fn replacement(&self) -> Vec<u8> {
        if self.growing {
            Vec::new()
        } else {
            super::spare::take(self.replacement_capacity())
        }
    }

    fn replacement_capacity(&self) -> usize {
        if self.batch_capacity > 0 {
            self.batch_capacity
        } else {
            self.buf.capacity().min(1 << 26)
        }
    }

    /// Encoded bytes so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// The memory the buffer holds: its encoded bytes and the room it has grown for more.
    pub fn room(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether no row has been added.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Rows so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Takes the encoded rows out, leaving the buffer empty (its capacity is kept).
    pub fn take(&mut self) -> (Vec<u8>, u64) {
        let fresh = self.replacement();
        let data = std::mem::replace(&mut self.buf, fresh);
        let rows = std::mem::take(&mut self.rows);
        (data, rows)
    }

    /// Takes every row but the last out, the last row staying in the buffer: used when adding a
    /// row pushed the batch over its size limit. `last_row_start` is the length before that row.
    pub fn take_all_but_last(&mut self, last_row_start: usize) -> (Vec<u8>, u64) {
        // The last row moves to a full-size buffer (not a tail-sized one that would grow again
        // by doubling, copying and touching fresh pages for every batch).
        let mut tail = self.replacement();
        tail.extend_from_slice(&self.buf[last_row_start..]);
        self.buf.truncate(last_row_start);
        let head = std::mem::replace(&mut self.buf, tail);
        let rows = self.rows - 1;
        self.rows = 1;
        (head, rows)
    }

    /// The encoding rows are written in.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    #[inline]
    fn separator(&mut self) {
        if self.fields_in_row != 0 && self.encoding == Encoding::Tsv {
            self.buf.push(b'\t');
        }
        self.fields_in_row += 1;
    }

    #[inline]
    fn param_text(&mut self, s: &[u8]) {
        let len = u32::try_from(s.len()).expect("a value under 4 GiB (lines are far shorter)");
        self.buf.push(tag::TEXT);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(s);
    }

    /// Appends a text value.
    pub fn text(&mut self, s: &str) {
        self.separator();
        match self.encoding {
            // Most columns of a wide row are empty: nothing to scan or copy.
            Encoding::Tsv if s.is_empty() => {}
            Encoding::Tsv => escape_tsv(&mut self.buf, s.as_bytes()),
            Encoding::Params => self.param_text(s.as_bytes()),
        }
    }

    /// Appends text that never needs escaping (ids, hashes, codes: ASCII letters, digits and
    /// `-_.:`), without scanning it. Given as bytes or text: row ids and line keys are ASCII by
    /// construction and need no UTF-8 check to be written.
    pub fn token(&mut self, s: impl AsRef<[u8]>) {
        let s = s.as_ref();
        debug_assert!(
            s.iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')),
            "{:?} is not a token",
            String::from_utf8_lossy(s)
        );
        self.separator();
        match self.encoding {
            Encoding::Tsv => self.buf.extend_from_slice(s),
            Encoding::Params => self.param_text(s),
        }
    }

    /// Appends `count` fields encoded beforehand in this buffer's [`encoding`](Self::encoding),
    /// each with its leading separator. For runs of constant values (a wide row's unset columns),
    /// one copy instead of a call per field. Never the first fields of a row.
    pub fn encoded_fields(&mut self, encoded: &[u8], count: usize) {
        debug_assert!(self.fields_in_row > 0, "encoded fields start a row");
        self.buf.extend_from_slice(encoded);
        self.fields_in_row += count;
    }

    /// Appends a text value, or NULL.
    pub fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// Appends an integer.
    pub fn int(&mut self, v: i64) {
        self.separator();
        match self.encoding {
            Encoding::Tsv => self
                .buf
                .extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            Encoding::Params => {
                self.buf.push(tag::INT);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    /// Appends an integer, or NULL.
    pub fn opt_int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// Appends a floating-point number.
    pub fn float(&mut self, v: f64) {
        self.separator();
        match self.encoding {
            Encoding::Tsv => self.buf.extend_from_slice(format!("{v}").as_bytes()),
            Encoding::Params => {
                self.buf.push(tag::FLOAT);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    /// Appends a timestamp with microseconds.
    pub fn datetime(&mut self, t: &NaiveDateTime) {
        self.separator();
        // Formatted by hand: chrono's strftime machinery showed up in profiles.
        use chrono::{Datelike, Timelike};
        let mut b = *b"0000-00-00 00:00:00.000000";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, t.year().clamp(0, 9999) as u32);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, (t.nanosecond() % 1_000_000_000) / 1000);
        // As text: the server reads it into the `DATETIME(6)` column as it reads `LOAD DATA`'s.
        match self.encoding {
            Encoding::Tsv => self.buf.extend_from_slice(&b),
            Encoding::Params => self.param_text(&b),
        }
    }

    /// Appends NULL.
    pub fn null(&mut self) {
        self.separator();
        match self.encoding {
            Encoding::Tsv => self.buf.extend_from_slice(b"\\N"),
            Encoding::Params => self.buf.push(tag::NULL),
        }
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        if self.encoding == Encoding::Tsv {
            self.buf.push(b'\n');
        }
        self.fields_in_row = 0;
        self.rows += 1;
    }
}

/// A declared row's values go to the buffer as they are; a run of legacy defaults is copied at
/// once from the table's defaults, encoded beforehand.
impl CellWriter for RowBuffer {
    fn text(&mut self, s: &str) {
        RowBuffer::text(self, s);
    }
    fn token(&mut self, s: &[u8]) {
        RowBuffer::token(self, s);
    }
    fn int(&mut self, v: i64) {
        RowBuffer::int(self, v);
    }
    fn float(&mut self, v: f64) {
        RowBuffer::float(self, v);
    }
    fn datetime(&mut self, t: &NaiveDateTime) {
        RowBuffer::datetime(self, t);
    }
    fn null(&mut self) {
        RowBuffer::null(self);
    }
    fn legacy_defaults(&mut self, table: Table, columns: std::ops::Range<usize>) {
        if columns.start == 0 {
            // Encoded defaults carry their leading separator: the first column has none.
            self.legacy_default(table, 0);
            return self.legacy_defaults(table, 1..columns.end);
        }
        let count = columns.len();
        let encoded = EncodedDefaults::of(table, self.encoding);
        self.encoded_fields(encoded.columns(columns), count);
    }
}

/// Every column's legacy default (`''`, or `-1` for integers) of a table, encoded with its
/// leading separator, one after another, in one encoding; `at[i]` is where column `i`'s starts.
struct EncodedDefaults {
    bytes: Vec<u8>,
    at: Vec<usize>,
}

impl EncodedDefaults {
    /// Written by the row buffer itself, so that they are what it would write a value at a time.
    fn new(table: Table, encoding: Encoding) -> Self {
        let mut b = RowBuffer::new(encoding);
        // A first value, so that each default comes with its separator.
        b.token("x");
        let first = b.len();
        let mut at = Vec::with_capacity(table.columns().len() + 1);
        for column in 0..table.columns().len() {
            at.push(b.len() - first);
            b.legacy_default(table, column);
        }
        at.push(b.len() - first);
        let bytes = b.take().0[first..].to_vec();
        EncodedDefaults { bytes, at }
    }

    /// The defaults of `table` in `encoding`, encoded on first use.
    fn of(table: Table, encoding: Encoding) -> &'static EncodedDefaults {
        static DEFAULTS: [[OnceLock<EncodedDefaults>; 2]; Table::ALL.len()] =
            [const { [const { OnceLock::new() }, const { OnceLock::new() }] }; Table::ALL.len()];
        let e = match encoding {
            Encoding::Tsv => 0,
            Encoding::Params => 1,
        };
        DEFAULTS[table.index()][e].get_or_init(|| EncodedDefaults::new(table, encoding))
    }

    /// The defaults of `columns`.
    fn columns(&self, columns: std::ops::Range<usize>) -> &[u8] {
        &self.bytes[self.at[columns.start]..self.at[columns.end]]
    }
}

/// One value of an [`Encoding::Params`] batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    /// SQL NULL.
    Null,
    /// Text (also timestamps, as `YYYY-MM-DD hh:mm:ss.ffffff`).
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
}

/// Parameter data that [`RowBuffer`] cannot have written: a bug, never the log's doing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("internal error: malformed parameter data at byte {0}")]
pub struct MalformedParameters(pub usize);

/// Reads the values of an [`Encoding::Params`] batch in order.
pub struct Parameters<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Parameters<'a> {
    /// The values of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Parameters { data, at: 0 }
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }

    fn word(&mut self) -> Option<[u8; 8]> {
        self.bytes(8)?.try_into().ok()
    }

    fn value(&mut self, tag: u8) -> Option<Param<'a>> {
        Some(match tag {
            tag::NULL => Param::Null,
            tag::TEXT => {
                let len = u32::from_le_bytes(self.bytes(4)?.try_into().ok()?);
                Param::Text(std::str::from_utf8(self.bytes(len as usize)?).ok()?)
            }
            tag::INT => Param::Int(i64::from_le_bytes(self.word()?)),
            tag::FLOAT => Param::Float(f64::from_le_bytes(self.word()?)),
            _ => return None,
        })
    }
}

impl<'a> Iterator for Parameters<'a> {
    type Item = Result<Param<'a>, MalformedParameters>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.at;
        let &tag = self.data.get(start)?;
        self.at += 1;
        Some(self.value(tag).ok_or_else(|| {
            // Nothing more is read after a malformed value.
            self.at = self.data.len();
            MalformedParameters(start)
        }))
    }
}

/// Escapes a value for `LOAD DATA` with `ESCAPED BY '\\'`: backslash, tab, newline, CR and NUL.
pub fn escape_tsv(out: &mut Vec<u8>, s: &[u8]) {
    // Almost every value is clean; one branch-free pass tells, and it is copied whole. Quotes,
    // which JSON text is full of, are plain data here.
    if tsv_clean(s) {
        out.extend_from_slice(s);
        return;
    }
    escape_with(out, s, b"\\", |b| match b {
        b'\\' => Some(b"\\\\"),
        b'\t' => Some(b"\\t"),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        0 => Some(b"\\0"),
        _ => None,
    });
}

/// Whether `s` has no byte `escape_tsv` might replace (a control byte or the backslash). Long
/// values are checked 16 bytes at a time without early exits inside a block, which the compiler
/// turns into SIMD compares; the tail and short values (most cells) as one or two overlapping
/// 8-byte words. Cheaper than setting up `memchr` or a byte loop for each cell of a wide row.
#[inline(always)]
fn tsv_clean(s: &[u8]) -> bool {
    let n = s.len();
    if n < 8 {
        return n == 0 || word_clean(short_word(s));
    }
    let mut blocks = s.chunks_exact(16);
    for block in &mut blocks {
        let mut hit = 0u8;
        for &b in block {
            hit |= u8::from(b < 0x20) | u8::from(b == b'\\');
        }
        if hit != 0 {
            return false;
        }
    }
    // The last 16 bytes (or all of a shorter value) as two words, overlapping what was checked.
    let tail = &s[n.saturating_sub(16)..];
    let word = |at: usize| u64::from_le_bytes(tail[at..at + 8].try_into().expect("8 bytes"));
    word_clean(word(0)) && word_clean(word(tail.len() - 8))
}

/// Whether `s` holds no backslash and no control byte: what the parse stage asks of a JSON
/// string's content to take it as the string's text as it stands. The same test as the TSV
/// encoder's, kept out of line here so that the encoder's copy stays inlined in its loop.
#[inline(never)]
pub fn no_backslash_or_control(s: &[u8]) -> bool {
    tsv_clean(s)
}

/// Whether no byte of `w` is below 0x20 or a backslash (exact: the classic "has less" and "has
/// zero byte" tests never miss a byte, and only ever report one that is really there).
#[inline]
fn word_clean(w: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    let b = w ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b & HIGHS;
    below_space | backslash == 0
}

/// A value of 1 to 7 bytes as a word, padded with spaces (which need no escape).
#[inline]
fn short_word(s: &[u8]) -> u64 {
    let n = s.len();
    let mut bytes = [b' '; 8];
    if n >= 4 {
        // Two overlapping 4-byte reads cover every byte.
        bytes[..4].copy_from_slice(&s[..4]);
        bytes[4..].copy_from_slice(&s[n - 4..]);
    } else {
        bytes[0] = s[0];
        bytes[1] = s[n / 2];
        bytes[2] = s[n - 1];
    }
    u64::from_le_bytes(bytes)
}

/// Copies `s`, replacing the bytes `rep` maps. Most values need no escape at all: every byte
/// `rep` maps is a control byte or one of `printable` (one or three, such as the backslash), so a
/// value without control bytes (checked in a loop the compiler vectorizes) is scanned for those
/// with SIMD (`memchr`) and copied in runs.
#[inline]
fn escape_with(
    out: &mut Vec<u8>,
    s: &[u8],
    printable: &[u8],
    rep: impl Fn(u8) -> Option<&'static [u8; 2]>,
) {
    // Short values (most columns) are checked byte by byte against a table: cheaper than
    // setting up the SIMD searches below.
    if s.len() <= 16 && !s.iter().any(|&b| b < 0x20 || printable.contains(&b)) {
        out.extend_from_slice(s);
        return;
    }
    out.reserve(s.len());
    let mut last = 0;
    let mut replace = |i: usize, out: &mut Vec<u8>| {
        if let Some(r) = rep(s[i]) {
            out.extend_from_slice(&s[last..i]);
            out.extend_from_slice(r);
            last = i + 1;
        }
    };
    if s.iter().fold(false, |any, &b| any | (b < 0x20)) {
        (0..s.len()).for_each(|i| replace(i, out));
    } else {
        match *printable {
            [a] => memchr::memchr_iter(a, s).for_each(|i| replace(i, out)),
            [a, b, c] => memchr::memchr3_iter(a, b, c, s).for_each(|i| replace(i, out)),
            _ => (0..s.len()).for_each(|i| replace(i, out)),
        }
    }
    out.extend_from_slice(&s[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_rows() {
        let mut b = RowBuffer::new(Encoding::Tsv);
        b.text("a\tb\nc\\d\r\0");
        b.int(-42);
        b.null();
        b.text("\\N");
        b.end_row();
        assert_eq!(b.rows(), 1);
        assert_eq!(
            std::str::from_utf8(&b.take().0).unwrap(),
            "a\\tb\\nc\\\\d\\r\\0\t-42\t\\N\t\\\\N\n"
        );
    }

    #[test]
    fn datetimes_have_microseconds() {
        let t = chrono::NaiveDateTime::parse_from_str(
            "2013-06-09 06:28:13.626165",
            "%Y-%m-%d %H:%M:%S%.f",
        )
        .unwrap();
        let mut b = RowBuffer::new(Encoding::Tsv);
        b.datetime(&t);
        b.datetime(&(t - chrono::TimeDelta::microseconds(626165)));
        b.end_row();
        assert_eq!(
            b.take().0,
            b"2013-06-09 06:28:13.626165\t2013-06-09 06:28:13.000000\n".to_vec()
        );
    }

    #[test]
    fn params_rows() {
        let mut b = RowBuffer::new(Encoding::Params);
        b.text("it's \"x\"\\");
        b.int(0);
        b.end_row();
        b.null();
        b.int(i64::MIN);
        b.float(0.5);
        b.token("ab");
        b.end_row();
        assert_eq!(b.rows(), 2);
        let data = b.take().0;
        let values: Vec<Param> = Parameters::new(&data).map(Result::unwrap).collect();
        assert_eq!(
            values,
            [
                Param::Text("it's \"x\"\\"),
                Param::Int(0),
                Param::Null,
                Param::Int(i64::MIN),
                Param::Float(0.5),
                Param::Text("ab"),
            ]
        );
    }

    #[test]
    fn malformed_parameters_are_an_error_not_a_guess() {
        let mut b = RowBuffer::new(Encoding::Params);
        b.text("abc");
        b.int(7);
        let data = b.take().0;
        // Cut inside the text, inside the integer; an unknown tag; text that is not UTF-8.
        for (bad, at) in [
            (data[..6].to_vec(), 0),
            (data[..10].to_vec(), 8),
            (vec![9], 0),
            (vec![1, 1, 0, 0, 0, 0xff], 0),
        ] {
            let read: Vec<_> = Parameters::new(&bad).collect();
            assert_eq!(read.last(), Some(&Err(MalformedParameters(at))), "{bad:?}");
            assert!(read[..read.len() - 1].iter().all(Result::is_ok));
        }
    }
}

/// Property tests: whatever the values, the rows read back are exactly the rows encoded: by an
/// independent decoder written from MySQL's documented rules for `LOAD DATA`, by the writers'
/// own reader for the parameters of an `INSERT`.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::sink::tricky_strings::tricky_string;
    use proptest::prelude::*;

    /// One value of a row.
    #[derive(Debug, Clone)]
    enum Value {
        Null,
        Int(i64),
        Text(String),
    }

    impl Value {
        /// What the server should store: the bytes of the value's text, or NULL.
        fn expected(&self) -> Option<Vec<u8>> {
            match self {
                Value::Null => None,
                Value::Int(v) => Some(v.to_string().into_bytes()),
                Value::Text(s) => Some(s.as_bytes().to_vec()),
            }
        }
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            1 => Just(Value::Null),
            1 => any::<i64>().prop_map(Value::Int),
            6 => tricky_string().prop_map(Value::Text),
        ]
    }

    fn rows() -> impl Strategy<Value = Vec<Vec<Value>>> {
        prop::collection::vec(prop::collection::vec(value(), 1..6), 1..6)
    }

    fn encode_row(buffer: &mut RowBuffer, row: &[Value]) {
        for v in row {
            match v {
                Value::Null => buffer.null(),
                Value::Int(i) => buffer.int(*i),
                Value::Text(s) => buffer.text(s),
            }
        }
        buffer.end_row();
    }

    type Decoded = Vec<Vec<Option<Vec<u8>>>>;

    /// Reads `LOAD DATA … FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'`
    /// input (no ENCLOSED BY) as the MySQL manual describes it (LOAD DATA, "Field and Line
    /// Handling"): an unescaped tab ends a field and an unescaped newline a line; `\0`, `\b`,
    /// `\n`, `\r`, `\t`, `\Z` stand for NUL, backspace, newline, CR, tab and Ctrl-Z; before any
    /// other character the backslash is dropped; a field that is exactly `\N` is NULL. Anything
    /// the manual leaves open (`\N` inside a longer field, a trailing backslash, a last line
    /// without its newline) is an error here, because the encoder must never produce it.
    fn read_load_data(data: &[u8]) -> Result<Decoded, String> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = Vec::new();
        let mut null = false;
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            i += 1;
            match b {
                b'\\' => {
                    let Some(&next) = data.get(i) else {
                        return Err("a backslash at the end of the data".into());
                    };
                    i += 1;
                    if next == b'N' {
                        let ends = matches!(data.get(i), Some(b'\t' | b'\n'));
                        if !field.is_empty() || !ends {
                            return Err(format!("\\N inside a field at byte {i}"));
                        }
                        null = true;
                        continue;
                    }
                    if null {
                        return Err(format!("text after \\N at byte {i}"));
                    }
                    field.push(match next {
                        b'0' => 0,
                        b'b' => 0x08,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'Z' => 0x1a,
                        other => other,
                    });
                }
                b'\t' | b'\n' => {
                    row.push((!null).then(|| std::mem::take(&mut field)));
                    null = false;
                    if b == b'\n' {
                        rows.push(std::mem::take(&mut row));
                    }
                }
                _ if null => return Err(format!("text after \\N at byte {i}")),
                other => field.push(other),
            }
        }
        if !row.is_empty() || !field.is_empty() || null {
            return Err("the last line has no newline".into());
        }
        Ok(rows)
    }

    /// Reads [`Encoding::Params`] data with the writers' own reader, cut into rows of the
    /// given lengths (the data has no row boundaries: the statement's columns give them). Text
    /// stays text and numbers become their decimal text, as the server would store them.
    fn read_params(data: &[u8], lengths: &[usize]) -> Result<Decoded, String> {
        let mut values = Parameters::new(data);
        let mut rows = Vec::new();
        for &n in lengths {
            let mut row = Vec::new();
            for _ in 0..n {
                row.push(match values.next() {
                    None => return Err("fewer values than the rows have".into()),
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(Param::Null)) => None,
                    Some(Ok(Param::Text(s))) => Some(s.as_bytes().to_vec()),
                    Some(Ok(Param::Int(v))) => Some(v.to_string().into_bytes()),
                    Some(Ok(Param::Float(v))) => Some(v.to_string().into_bytes()),
                });
            }
            rows.push(row);
        }
        match values.next() {
            None => Ok(rows),
            Some(_) => Err("more values than the rows have".into()),
        }
    }

    fn read(encoding: Encoding, data: &[u8], rows: &[Vec<Value>]) -> Result<Decoded, String> {
        match encoding {
            Encoding::Tsv => read_load_data(data),
            Encoding::Params => read_params(data, &rows.iter().map(Vec::len).collect::<Vec<_>>()),
        }
    }

    fn expected(rows: &[Vec<Value>]) -> Decoded {
        rows.iter()
            .map(|r| r.iter().map(Value::expected).collect())
            .collect()
    }

    /// Encodes `rows`, then splits the batch before its last row as [`Rows::add`] does when a
    /// batch outgrows its limit, and reads both parts back.
    fn round_trip(encoding: Encoding, rows: &[Vec<Value>]) -> Result<(), TestCaseError> {
        let mut buffer = RowBuffer::new(encoding);
        for row in rows {
            encode_row(&mut buffer, row);
        }
        let (data, n) = buffer.take();
        prop_assert_eq!(n, rows.len() as u64);
        prop_assert_eq!(read(encoding, &data, rows), Ok(expected(rows)));

        let (last, init) = rows.split_last().expect("at least one row");
        for row in init {
            encode_row(&mut buffer, row);
        }
        let before = buffer.len();
        encode_row(&mut buffer, last);
        let (head, head_rows) = buffer.take_all_but_last(before);
        let (tail, tail_rows) = buffer.take();
        prop_assert_eq!((head_rows, tail_rows), (init.len() as u64, 1));
        if !init.is_empty() {
            prop_assert_eq!(read(encoding, &head, init), Ok(expected(init)));
        }
        let last = std::slice::from_ref(last);
        prop_assert_eq!(read(encoding, &tail, last), Ok(expected(last)));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn load_data_rows_read_back_exactly(rows in rows()) {
            round_trip(Encoding::Tsv, &rows)?;
        }

        #[test]
        fn insert_parameters_read_back_exactly(rows in rows()) {
            round_trip(Encoding::Params, &rows)?;
        }
    }

    #[test]
    fn the_clean_check_finds_every_byte_to_escape_at_every_place() {
        let naive = |s: &[u8]| !s.iter().any(|&b| b < 0x20 || b == b'\\');
        for len in 0..48 {
            let base: Vec<u8> = (0..len).map(|i| b"a\"{~ \x7f\xc3\xa9"[i % 8]).collect();
            assert!(tsv_clean(&base) && naive(&base), "{base:?}");
            for at in 0..len {
                for b in [
                    0u8, b'\t', b'\n', b'\r', 0x1f, b'\\', 0x20, 0x5b, 0x5d, 0x80, 0xff,
                ] {
                    let mut s = base.clone();
                    s[at] = b;
                    assert_eq!(tsv_clean(&s), naive(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn null_the_text_backslash_n_and_empty_stay_distinct() {
        let row = vec![
            Value::Null,
            Value::Text("\\N".into()),
            Value::Text(String::new()),
            Value::Text("NULL".into()),
        ];
        for encoding in [Encoding::Tsv, Encoding::Params] {
            let mut buffer = RowBuffer::new(encoding);
            encode_row(&mut buffer, &row);
            let rows = std::slice::from_ref(&row);
            let decoded = read(encoding, &buffer.take().0, rows).unwrap();
            assert_eq!(
                decoded,
                vec![vec![
                    None,
                    Some(b"\\N".to_vec()),
                    Some(Vec::new()),
                    Some(b"NULL".to_vec())
                ]],
                "{encoding:?}"
            );
        }
    }

    /// The decoder is strict: what the manual leaves open is an error, not a guess.
    #[test]
    fn the_decoder_rejects_what_the_encoder_must_never_write() {
        assert!(read_load_data(b"a\\Nb\n").is_err());
        assert!(read_load_data(b"a\t\\Nb\n").is_err());
        assert!(read_load_data(b"a\\").is_err());
        assert!(read_load_data(b"a\tb").is_err());
        assert_eq!(
            read_load_data(b"\\N\t\\\\N\t\n"),
            Ok(vec![vec![None, Some(b"\\N".to_vec()), Some(Vec::new())]])
        );
    }
}
