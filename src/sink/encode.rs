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
}

impl RowBuffer {
    /// An empty buffer.
    pub fn new(encoding: Encoding) -> Self {
        RowBuffer {
            encoding,
            buf: Vec::new(),
            rows: 0,
            fields_in_row: 0,
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
        let cap = self.buf.capacity();
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(cap.min(1 << 26)));
        let rows = std::mem::take(&mut self.rows);
        (data, rows)
    }

    /// Takes every row but the last out, the last row staying in the buffer: used when adding a
    /// row pushed the batch over its size limit. `last_row_start` is the length before that row.
    pub fn take_all_but_last(&mut self, last_row_start: usize) -> (Vec<u8>, u64) {
        let mut tail = self.buf.split_off(last_row_start);
        if self.encoding == Encoding::SqlValues && tail.first() == Some(&b',') {
            tail.remove(0);
        }
        let head = std::mem::replace(&mut self.buf, tail);
        let rows = self.rows - 1;
        self.rows = 1;
        (head, rows)
    }

    fn separator(&mut self) {
        if self.fields_in_row == 0 {
            if self.encoding == Encoding::SqlValues {
                if self.rows > 0 {
                    self.buf.push(b',');
                }
                self.buf.push(b'(');
            }
        } else {
            self.buf.push(if self.encoding == Encoding::Tsv {
                b'\t'
            } else {
                b','
            });
        }
        self.fields_in_row += 1;
    }

    /// Appends a text value.
    pub fn text(&mut self, s: &str) {
        self.separator();
        match self.encoding {
            Encoding::Tsv => escape_tsv(&mut self.buf, s.as_bytes()),
            Encoding::SqlValues => {
                self.buf.push(b'\'');
                escape_sql(&mut self.buf, s.as_bytes());
                self.buf.push(b'\'');
            }
        }
    }

    /// Appends text that never needs escaping (ids, hashes, codes: ASCII letters, digits and
    /// `-_.:`), without scanning it.
    pub fn token(&mut self, s: &str) {
        debug_assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')),
            "{s:?} is not a token"
        );
        self.separator();
        match self.encoding {
            Encoding::Tsv => self.buf.extend_from_slice(s.as_bytes()),
            Encoding::SqlValues => {
                self.buf.push(b'\'');
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(b'\'');
            }
        }
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
        let (bytes, start) = int_text(v);
        self.buf.extend_from_slice(&bytes[start..]);
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

// Formats an integer without allocating: the digits are `bytes[start..]`.
fn int_text(v: i64) -> ([u8; 20], usize) {
    let mut bytes = [0u8; 20];
    let mut i = bytes.len();
    let negative = v < 0;
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        bytes[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        bytes[i] = b'-';
    }
    (bytes, i)
}

/// Escapes a value for `LOAD DATA` with `ESCAPED BY '\\'`: backslash, tab, newline, CR and NUL.
pub fn escape_tsv(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, |b| match b {
        b'\\' => Some(b"\\\\"),
        b'\t' => Some(b"\\t"),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        0 => Some(b"\\0"),
        _ => None,
    });
}

/// Escapes a value inside a single-quoted SQL literal (the session never sets
/// `NO_BACKSLASH_ESCAPES`, and the connection character set is utf8mb4, so this is exact).
pub fn escape_sql(out: &mut Vec<u8>, s: &[u8]) {
    escape_with(out, s, |b| match b {
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
/// either encoding escapes is a backslash, a quote or a control byte, so a value without control
/// bytes (checked in a loop the compiler vectorizes) is scanned for the others with SIMD
/// (`memchr`) and copied in runs.
#[inline]
fn escape_with(out: &mut Vec<u8>, s: &[u8], rep: impl Fn(u8) -> Option<&'static [u8; 2]>) {
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
        memchr::memchr3_iter(b'\\', b'\'', b'"', s).for_each(|i| replace(i, out));
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
