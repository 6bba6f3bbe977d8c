//! Row encoding in memory: `LOAD DATA` tab-separated text, or the tuples of a multi-row `INSERT`.
//!
//! Rows are appended value by value straight into one byte buffer per table, so building a row
//! allocates nothing. Both encodings are exact for every string (tabs, newlines, CR, backslashes,
//! quotes, NUL, the text `\N`, 4-byte UTF-8): a round-trip test through the server proves it.

use chrono::NaiveDateTime;

/// How rows are encoded for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `LOAD DATA … FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'`, NULL as `\N`.
    Tsv,
    /// `(v1,v2,…),(…)`: SQL literals for `INSERT … VALUES`.
    SqlValues,
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
        }
    }

    /// Replacement buffers get `capacity`: one size for every big buffer lets the spare ones
    /// serve any table.
    pub fn with_batch_capacity(mut self, capacity: usize) -> Self {
        self.batch_capacity = capacity;
        self
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
        let fresh = super::spare::take(self.replacement_capacity());
        let data = std::mem::replace(&mut self.buf, fresh);
        let rows = std::mem::take(&mut self.rows);
        (data, rows)
    }

    /// Takes every row but the last out, the last row staying in the buffer: used when adding a
    /// row pushed the batch over its size limit. `last_row_start` is the length before that row.
    pub fn take_all_but_last(&mut self, last_row_start: usize) -> (Vec<u8>, u64) {
        // The last row moves to a full-size buffer (not a tail-sized one that would grow again
        // by doubling, copying and touching fresh pages for every batch).
        let mut tail = super::spare::take(self.replacement_capacity());
        let mut last_row = &self.buf[last_row_start..];
        if self.encoding == Encoding::SqlValues && last_row.first() == Some(&b',') {
            last_row = &last_row[1..];
        }
        tail.extend_from_slice(last_row);
        self.buf.truncate(last_row_start);
        let head = std::mem::replace(&mut self.buf, tail);
        let rows = self.rows - 1;
        self.rows = 1;
        (head, rows)
    }

    #[inline]
    fn separator(&mut self) {
        if self.fields_in_row != 0 {
            self.buf.push(match self.encoding {
                Encoding::Tsv => b'\t',
                Encoding::SqlValues => b',',
            });
        } else if self.encoding == Encoding::SqlValues {
            if self.rows > 0 {
                self.buf.push(b',');
            }
            self.buf.push(b'(');
        }
        self.fields_in_row += 1;
    }

    /// Appends a text value.
    pub fn text(&mut self, s: &str) {
        self.separator();
        match self.encoding {
            // Most columns of a wide row are empty: nothing to scan or copy.
            Encoding::Tsv if s.is_empty() => {}
            Encoding::Tsv => escape_tsv(&mut self.buf, s.as_bytes()),
            Encoding::SqlValues => {
                self.buf.push(b'\'');
                escape_sql(&mut self.buf, s.as_bytes());
                self.buf.push(b'\'');
            }
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
            Encoding::SqlValues => {
                self.buf.push(b'\'');
                self.buf.extend_from_slice(s);
                self.buf.push(b'\'');
            }
        }
    }

    /// Appends `count` fields encoded beforehand: `tsv` or `sql` (as the encoding is), each field
    /// with its leading separator. For runs of constant values (a wide row's unset columns), one
    /// copy instead of a call per field. Never the first fields of a row.
    pub fn encoded_fields(&mut self, tsv: &[u8], sql: &[u8], count: usize) {
        debug_assert!(self.fields_in_row > 0, "encoded fields start a row");
        self.buf.extend_from_slice(match self.encoding {
            Encoding::Tsv => tsv,
            Encoding::SqlValues => sql,
        });
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
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
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
        self.buf.extend_from_slice(format!("{v}").as_bytes());
    }

    /// Appends a timestamp with microseconds.
    pub fn datetime(&mut self, t: &NaiveDateTime) {
        self.separator();
        if self.encoding == Encoding::SqlValues {
            self.buf.push(b'\'');
        }
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
        self.buf.extend_from_slice(&b);
        if self.encoding == Encoding::SqlValues {
            self.buf.push(b'\'');
        }
    }

    /// Appends NULL.
    pub fn null(&mut self) {
        self.separator();
        self.buf.extend_from_slice(match self.encoding {
            Encoding::Tsv => b"\\N",
            Encoding::SqlValues => b"NULL",
        });
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.buf.push(match self.encoding {
            Encoding::Tsv => b'\n',
            Encoding::SqlValues => b')',
        });
        self.fields_in_row = 0;
        self.rows += 1;
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

/// Escapes a value inside a single-quoted SQL literal (the session never sets
/// `NO_BACKSLASH_ESCAPES`, and the connection character set is utf8mb4, so this is exact).
pub fn escape_sql(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, b"\\'\"", |b| match b {
        b'\\' => Some(b"\\\\"),
        b'\'' => Some(b"\\'"),
        b'"' => Some(b"\\\""),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        0 => Some(b"\\0"),
        0x1a => Some(b"\\Z"),
        _ => None,
    });
}

/// Copies `s`, replacing the bytes `rep` maps. Most values need no escape at all: every byte
/// either encoding escapes is a control byte or one of `printable` (at most three: a backslash,
/// quotes), so a value without control bytes (checked in a loop the compiler vectorizes) is
/// scanned for those with SIMD (`memchr`) and copied in runs.
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
    fn sql_rows() {
        let mut b = RowBuffer::new(Encoding::SqlValues);
        b.text("it's \"x\"\\");
        b.int(0);
        b.end_row();
        b.null();
        b.int(i64::MIN);
        b.end_row();
        assert_eq!(
            std::str::from_utf8(&b.take().0).unwrap(),
            "('it\\'s \\\"x\\\"\\\\',0),(NULL,-9223372036854775808)"
        );
    }
}

/// Property tests: whatever the values, an independent decoder written from MySQL's documented
/// rules reads back exactly the rows that were encoded.
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

    /// Reads the `(v, …),(…)` tuples of an `INSERT … VALUES` as the MySQL manual describes string
    /// literals ("String Literals", table "Special Character Escape Sequences"): inside `'…'`,
    /// `\0`, `\'`, `\"`, `\b`, `\n`, `\r`, `\t`, `\Z`, `\\` stand for NUL, `'`, `"`, backspace,
    /// newline, CR, tab, Ctrl-Z and backslash; `\%` and `\_` keep their backslash; before any
    /// other character the backslash is dropped; `''` is one quote. Values are `NULL`, integers
    /// and string literals; anything else is an error.
    fn read_insert_values(data: &[u8]) -> Result<Decoded, String> {
        let mut rows = Vec::new();
        let mut i = 0;
        let expect = |i: usize, want: u8| -> Result<(), String> {
            match data.get(i) {
                Some(&b) if b == want => Ok(()),
                other => Err(format!(
                    "expected {:?} at byte {i}, found {other:?}",
                    want as char
                )),
            }
        };
        loop {
            expect(i, b'(')?;
            i += 1;
            let mut row = Vec::new();
            loop {
                match data.get(i) {
                    Some(b'\'') => {
                        i += 1;
                        let mut text = Vec::new();
                        loop {
                            let Some(&b) = data.get(i) else {
                                return Err("an unterminated string literal".into());
                            };
                            i += 1;
                            match b {
                                b'\\' => {
                                    let Some(&next) = data.get(i) else {
                                        return Err("a backslash at the end of the data".into());
                                    };
                                    i += 1;
                                    match next {
                                        b'0' => text.push(0),
                                        b'b' => text.push(0x08),
                                        b'n' => text.push(b'\n'),
                                        b'r' => text.push(b'\r'),
                                        b't' => text.push(b'\t'),
                                        b'Z' => text.push(0x1a),
                                        b'%' | b'_' => text.extend_from_slice(&[b'\\', next]),
                                        other => text.push(other),
                                    }
                                }
                                b'\'' if data.get(i) == Some(&b'\'') => {
                                    i += 1;
                                    text.push(b'\'');
                                }
                                b'\'' => break,
                                other => text.push(other),
                            }
                        }
                        row.push(Some(text));
                    }
                    Some(b'N') if data[i..].starts_with(b"NULL") => {
                        i += 4;
                        row.push(None);
                    }
                    Some(b'-' | b'0'..=b'9') => {
                        let start = i;
                        i += 1;
                        while data.get(i).is_some_and(u8::is_ascii_digit) {
                            i += 1;
                        }
                        row.push(Some(data[start..i].to_vec()));
                    }
                    other => return Err(format!("unexpected {other:?} at byte {i}")),
                }
                match data.get(i) {
                    Some(b',') => i += 1,
                    Some(b')') => {
                        i += 1;
                        break;
                    }
                    other => return Err(format!("unexpected {other:?} at byte {i}")),
                }
            }
            rows.push(row);
            match data.get(i) {
                None => return Ok(rows),
                Some(b',') => i += 1,
                other => return Err(format!("unexpected {other:?} at byte {i}")),
            }
        }
    }

    fn read(encoding: Encoding, data: &[u8]) -> Result<Decoded, String> {
        match encoding {
            Encoding::Tsv => read_load_data(data),
            Encoding::SqlValues => read_insert_values(data),
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
        prop_assert_eq!(read(encoding, &data), Ok(expected(rows)));

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
            prop_assert_eq!(read(encoding, &head), Ok(expected(init)));
        }
        prop_assert_eq!(
            read(encoding, &tail),
            Ok(expected(std::slice::from_ref(last)))
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn load_data_rows_read_back_exactly(rows in rows()) {
            round_trip(Encoding::Tsv, &rows)?;
        }

        #[test]
        fn insert_values_read_back_exactly(rows in rows()) {
            round_trip(Encoding::SqlValues, &rows)?;
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
        for encoding in [Encoding::Tsv, Encoding::SqlValues] {
            let mut buffer = RowBuffer::new(encoding);
            encode_row(&mut buffer, &row);
            let decoded = read(encoding, &buffer.take().0).unwrap();
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

    /// The decoders are strict: what the manual leaves open is an error, not a guess.
    #[test]
    fn the_decoders_reject_what_the_encoder_must_never_write() {
        assert!(read_load_data(b"a\\Nb\n").is_err());
        assert!(read_load_data(b"a\t\\Nb\n").is_err());
        assert!(read_load_data(b"a\\").is_err());
        assert!(read_load_data(b"a\tb").is_err());
        assert_eq!(
            read_load_data(b"\\N\t\\\\N\t\n"),
            Ok(vec![vec![None, Some(b"\\N".to_vec()), Some(Vec::new())]])
        );
        assert!(read_insert_values(b"('a)").is_err());
        assert!(read_insert_values(b"('a'b)").is_err());
        assert_eq!(
            read_insert_values(b"('it''s \\% \\x',NULL,-3)"),
            Ok(vec![vec![
                Some(b"it's \\% x".to_vec()),
                None,
                Some(b"-3".to_vec())
            ]])
        );
    }
}
