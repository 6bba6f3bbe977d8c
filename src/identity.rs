//! Deterministic row identities (DESIGN.md decision 4) and the legacy anonymisation hash.
//!
//! Every row id is derived from the event's raw line, so the same line loaded twice, from the same
//! file or from an overlapping one, yields the same ids and its rows are stored once. Ids are
//! time-ordered like UUIDv7 (48 bits of milliseconds first) because InnoDB clusters rows by primary
//! key, and they keep json_to_relation's 36-character `xxxxxxxx_xxxx_xxxx_xxxx_xxxxxxxxxxxx` form.

use chrono::NaiveDateTime;
use ripemd::{Digest, Ripemd160};
use xxhash_rust::xxh3::xxh3_128;

/// What a derived id identifies, so that different rows of one line never share an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RowKind {
    /// `EdxTrackEvent.event_id`, shared by all rows of one line.
    Event = 1,
    /// `EdxTrackEvent._id` (one per fanned-out row; also `observed_events.observed_event_id`).
    TrackEventRow = 2,
    /// `Answer.answer_id`.
    Answer = 3,
    /// `CorrectMap.correct_map_id`.
    CorrectMap = 4,
    /// `State.state_id`.
    State = 5,
    /// `InputState.input_state_id`.
    InputState = 6,
}

/// The identity of one tracking-log line: its event time and a 128-bit hash of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LineIdentity {
    millis: u64,
    hash: u128,
}

impl LineIdentity {
    /// Identity of a line with the given JSON text and event time.
    pub fn new(json_text: &[u8], time: &NaiveDateTime) -> Self {
        LineIdentity {
            millis: time.and_utc().timestamp_millis().max(0) as u64,
            hash: xxh3_128(json_text),
        }
    }

    /// The 128-bit hash of the line.
    pub fn hash(&self) -> u128 {
        self.hash
    }

    /// The line's key in `moocdb_loader_lines`, as 32 lowercase hex digits.
    pub fn line_key(&self, keys: LineKeys) -> [u8; 32] {
        match keys {
            LineKeys::Hash => hex_digits(self.hash),
            LineKeys::TimeThenHash => {
                hex_digits((u128::from(self.millis & 0xFFFF_FFFF_FFFF) << 80) | (self.hash >> 48))
            }
        }
    }

    /// The id of the `index`-th row of `kind` derived from this line.
    pub fn id(&self, kind: RowKind, index: u32) -> RowId {
        let mut seed = [0u8; 21];
        seed[..16].copy_from_slice(&self.hash.to_le_bytes());
        seed[16] = kind as u8;
        seed[17..].copy_from_slice(&index.to_le_bytes());
        let h = xxh3_128(&seed);
        // UUIDv7 layout: 48-bit ms time, version 7, 12 random bits, variant 10, 62 random bits.
        let value: u128 = (u128::from(self.millis & 0xFFFF_FFFF_FFFF) << 80)
            | (0x7u128 << 76)
            | ((h >> 64) & 0x0FFF) << 64
            | (0b10u128 << 62)
            | (h & 0x3FFF_FFFF_FFFF_FFFF);
        RowId::from_u128(value)
    }
}

/// How a database's `moocdb_loader_lines` keys its lines: its `line_keys` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKeys {
    /// The line's 128-bit hash (`hash`): databases whose lines were stored before
    /// time-ordered keys keep this form, as their stored keys cannot be recomputed.
    Hash,
    /// The event time in milliseconds (48 bits), then the hash's first 80 bits (`time_hash`).
    /// InnoDB clusters by the key, and random keys made each insert of a large load touch a
    /// random page of the table (about an eighth of the server's CPU in a 1M-event load,
    /// `BENCHMARKS.md`, "Line keys"). A log in time order appends to it.
    TimeThenHash,
}

impl LineKeys {
    /// The setting's value for this form.
    pub fn setting(self) -> &'static str {
        match self {
            LineKeys::Hash => "hash",
            LineKeys::TimeThenHash => "time_hash",
        }
    }

    /// The form a `line_keys` setting names; a database without the setting uses hashes.
    pub fn from_setting(value: Option<&str>) -> LineKeys {
        match value {
            Some("time_hash") => LineKeys::TimeThenHash,
            _ => LineKeys::Hash,
        }
    }
}

/// `v` as 32 lowercase hex digits, most significant first.
fn hex_digits(v: u128) -> [u8; 32] {
    let mut digits = [0u8; 32];
    digits[..16].copy_from_slice(&hex16((v >> 64) as u64));
    digits[16..].copy_from_slice(&hex16(v as u64));
    digits
}

/// `v` as 16 lowercase hex digits, all at once: each nibble is spread to a byte of a `u128`,
/// then turned into its digit with arithmetic instead of a table lookup per nibble (several
/// ids per event made the lookups show in profiles).
fn hex16(v: u64) -> [u8; 16] {
    const ONES: u128 = u128::MAX / 0xFF; // 0x0101…01
    let mut x = u128::from(v);
    x = (x | (x << 32)) & 0x0000_0000_FFFF_FFFF_0000_0000_FFFF_FFFF;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF_0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF_00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & (ONES * 0x0F);
    // Byte k holds nibble k. A nibble of 10 or more gets 0x27 more, from `0`+10 to `a`.
    let letters = ((x + ONES * 0x06) >> 4) & ONES;
    (x + ONES * b'0' as u128 + letters * 0x27).to_be_bytes()
}

/// The value of 16 hex digits, most significant first, all at once: the inverse of [`hex16`] for
/// its lowercase digits. Any other byte gives some value, which the caller checks.
fn nibbles(digits: [u8; 16]) -> u64 {
    const ONES: u128 = u128::MAX / 0xFF;
    let c = u128::from_be_bytes(digits);
    // '0'–'9' are 0x30–0x39 and 'a'–'f' 0x61–0x66: the low nibble, plus 9 for a letter.
    let mut x = (c & (ONES * 0x0F)) + ((c >> 6) & ONES) * 9;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF_00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF_0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF_0000_0000_FFFF_FFFF;
    x = (x | (x >> 32)) & 0xFFFF_FFFF_FFFF_FFFF;
    x as u64
}

/// A 36-character row id, `xxxxxxxx_xxxx_xxxx_xxxx_xxxxxxxxxxxx`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowId([u8; 36]);

impl RowId {
    fn from_u128(v: u128) -> Self {
        // Several ids per event: the 32 digits a byte at a time, then placed around the `_`s.
        let digits = hex_digits(v);
        let mut out = [b'_'; 36];
        out[..8].copy_from_slice(&digits[..8]);
        out[9..13].copy_from_slice(&digits[8..12]);
        out[14..18].copy_from_slice(&digits[12..16]);
        out[19..23].copy_from_slice(&digits[16..20]);
        out[24..].copy_from_slice(&digits[20..]);
        RowId(out)
    }

    /// The value [`RowId::from_u128`] wrote this id from, if it is in that form (lowercase
    /// digits, `_` at 8, 13, 18 and 23): then `from_u128` of it gives the same id back.
    pub fn bits(&self) -> Option<u128> {
        let b = &self.0;
        let mut digits = [0u8; 32];
        digits[..8].copy_from_slice(&b[..8]);
        digits[8..12].copy_from_slice(&b[9..13]);
        digits[12..16].copy_from_slice(&b[14..18]);
        digits[16..20].copy_from_slice(&b[19..23]);
        digits[20..].copy_from_slice(&b[24..]);
        let high = nibbles(digits[..16].try_into().expect("16 digits"));
        let low = nibbles(digits[16..].try_into().expect("16 digits"));
        let bits = u128::from(high) << 64 | u128::from(low);
        // The reading above takes any byte for a digit; writing the value out again and finding
        // this id checks every digit and underscore at once (a branch per digit, on random
        // digits, cost more than the rest of an observed event's staging).
        (RowId::from_u128(bits) == *self).then_some(bits)
    }

    /// The id of the `index`-th private `Account` row of the event whose first `EdxTrackEvent`
    /// row has this id: derivable from the event row, so a file's accounts can be found again.
    pub fn account_id(&self, index: u32) -> RowId {
        let mut seed = self.0.to_vec();
        seed.extend_from_slice(b"account");
        seed.extend_from_slice(&index.to_le_bytes());
        let h = xxh3_128(&seed);
        let millis = u128::from_str_radix(&self.as_str()[..8], 16).unwrap_or(0) << 16
            | u128::from_str_radix(&self.as_str()[9..13], 16).unwrap_or(0);
        let value: u128 = (millis << 80)
            | (0x7u128 << 76)
            | ((h >> 64) & 0x0FFF) << 64
            | (0b10u128 << 62)
            | (h & 0x3FFF_FFFF_FFFF_FFFF);
        RowId::from_u128(value)
    }

    /// Parses an id written by [`RowId::as_str`].
    pub fn parse(s: &str) -> Option<RowId> {
        let bytes: [u8; 36] = s.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .enumerate()
            .all(|(i, b)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    *b == b'_'
                } else {
                    b.is_ascii_hexdigit()
                }
            })
            .then_some(RowId(bytes))
    }

    /// The id as bytes (ASCII), for the row encoder.
    pub fn as_bytes(&self) -> &[u8; 36] {
        &self.0
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Built from ASCII hex digits and hyphens only.
        std::str::from_utf8(&self.0).expect("ids are ASCII")
    }
}

/// A [`RowId`] as a user's staged event keeps it: the 128 bits its digits write (16 bytes,
/// not 36), or, for an id not in the lowercase form this loader writes, the id itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredRowId {
    /// The id's bits, most significant half first.
    Bits([u64; 2]),
    /// Any other id.
    Other(Box<RowId>),
}

impl StoredRowId {
    /// `id`, kept as its bits when they give it back (see [`RowId::bits`]).
    pub fn new(id: &RowId) -> StoredRowId {
        match id.bits() {
            Some(bits) => StoredRowId::Bits([(bits >> 64) as u64, bits as u64]),
            None => StoredRowId::Other(Box::new(*id)),
        }
    }

    /// The id.
    pub fn id(&self) -> RowId {
        match self {
            StoredRowId::Bits([high, low]) => {
                RowId::from_u128(u128::from(*high) << 64 | u128::from(*low))
            }
            StoredRowId::Other(id) => **id,
        }
    }
}

impl std::fmt::Debug for RowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for RowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// json_to_relation's `makeInsertSafe`: the escaped form of a string that the legacy hashes were
/// computed over. Non-ASCII is transliterated (unidecode), CR/LF become `"; "`, backslashes are
/// removed and `'` becomes `\'`.
pub fn legacy_insert_safe(s: &str) -> String {
    let ascii;
    let s = if s.chars().any(|c| c as u32 > 128) {
        ascii = deunicode::deunicode(s);
        ascii.as_str()
    } else {
        s
    };
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '\n' | '\r' => out.push_str("; "),
            '\\' => {}
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out
}

/// `anon_screen_name`: RIPEMD-160 of the legacy-escaped username, as 40 hex digits, so that hashes
/// join with existing Stanford and MIT databases.
pub fn anon_screen_name(username: &str) -> String {
    AnonName::of_username(username).to_string()
}

/// A user's `anon_screen_name` (40 hex digits), held inline. Every event carries its user's
/// into several rows: a copy of 40 bytes costs less than reaching a shared string's count in
/// memory, which for a user not seen lately is a cache miss (about 2% of a one-core dry run).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AnonName([u8; 40]);

impl AnonName {
    /// The hash of a username ([`anon_screen_name`]).
    pub fn of_username(username: &str) -> AnonName {
        AnonDigest::of_username(username).name()
    }

    /// RIPEMD-160 of `bytes` (an e-mail address, for the events that name the user by it).
    pub fn of_bytes(bytes: &[u8]) -> AnonName {
        AnonDigest::of_bytes(bytes).name()
    }

    /// The 40 digits as bytes: for the row encoder and fingerprints, without the UTF-8 check
    /// that [`AnonName::as_str`] makes.
    pub fn as_bytes(&self) -> &[u8; 40] {
        &self.0
    }

    /// The 40 digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

/// The 20 bytes of RIPEMD-160 an [`AnonName`] writes out in hex: the form kept for each user
/// (in the username cache and the user's record), half the size of the digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AnonDigest([u8; 20]);

impl AnonDigest {
    /// The digest of a username ([`anon_screen_name`]).
    pub fn of_username(username: &str) -> AnonDigest {
        AnonDigest::of_bytes(legacy_insert_safe(username).as_bytes())
    }

    /// RIPEMD-160 of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> AnonDigest {
        AnonDigest(Ripemd160::digest(bytes).into())
    }

    /// The digest `name` writes out, if it is one: 40 lowercase hex digits, as this loader
    /// writes them (so that the name it gives back is the same text).
    pub fn parse(name: &str) -> Option<AnonDigest> {
        let mut digest = [0; 20];
        let lowercase = name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (lowercase && hex::decode_to_slice(name, &mut digest).is_ok()).then_some(AnonDigest(digest))
    }

    /// The `anon_screen_name`: the 40 lowercase hex digits.
    pub fn name(&self) -> AnonName {
        // Once per event: the row ids' digit writer, eight bytes at a time.
        let d = &self.0;
        let mut digits = [0; 40];
        digits[..16].copy_from_slice(&hex16(u64::from_be_bytes(d[..8].try_into().unwrap())));
        digits[16..32].copy_from_slice(&hex16(u64::from_be_bytes(d[8..16].try_into().unwrap())));
        let last = u32::from_be_bytes(d[16..].try_into().unwrap());
        digits[32..].copy_from_slice(&hex16(u64::from(last))[8..]);
        AnonName(digits)
    }
}

/// A user's `anon_screen_name` as the user's record keeps it: the digest for a name this
/// loader makes, or, for a name an older database holds that is not one, the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredAnonName {
    /// 40 lowercase hex digits, kept as the 20 bytes they write.
    Digest(AnonDigest),
    /// Any other name.
    Text(Box<str>),
}

impl StoredAnonName {
    /// `name`, kept as its digest when it is one.
    pub fn new(name: &str) -> StoredAnonName {
        match AnonDigest::parse(name) {
            Some(digest) => StoredAnonName::Digest(digest),
            None => StoredAnonName::Text(name.into()),
        }
    }

    /// The name's text.
    pub fn text(&self) -> AnonText<'_> {
        match self {
            StoredAnonName::Digest(digest) => AnonText::Digits(digest.name()),
            StoredAnonName::Text(text) => AnonText::Other(text),
        }
    }
}

impl Ord for StoredAnonName {
    /// In the order of the names' texts (hex digits order as the bytes they write).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (StoredAnonName::Digest(a), StoredAnonName::Digest(b)) => a.cmp(b),
            _ => (*self.text()).cmp(&*other.text()),
        }
    }
}

impl PartialOrd for StoredAnonName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The text of a [`StoredAnonName`], written out when needed.
#[derive(Debug)]
pub enum AnonText<'a> {
    /// The digits of a digest.
    Digits(AnonName),
    /// A name kept as text.
    Other(&'a str),
}

impl std::ops::Deref for AnonText<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            AnonText::Digits(name) => name,
            AnonText::Other(text) => text,
        }
    }
}

impl std::ops::Deref for AnonName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for AnonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for AnonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnonName({})", self.as_str())
    }
}

/// RIPEMD-160 of bytes as 40 lowercase hex digits.
pub fn ripemd160_hex(bytes: &[u8]) -> String {
    AnonDigest::of_bytes(bytes).name().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anon_names_are_the_hex_digests() {
        let name = AnonName::of_username("trobinspire");
        assert_eq!(name.as_str(), "efb0be9ecc2436f634e62632a8b54fdb53969276");
        assert_eq!(
            AnonName::of_bytes(b"a@example.org").as_str(),
            hex::encode(Ripemd160::digest(b"a@example.org"))
        );
        let digest = AnonDigest::of_username("trobinspire");
        assert_eq!(digest.name(), name);
        assert_eq!(AnonDigest::parse(name.as_str()), Some(digest));
        // Only the digits this loader writes: not upper case, not another length.
        assert_eq!(AnonDigest::parse(&name.as_str().to_uppercase()), None);
        assert_eq!(AnonDigest::parse(&name.as_str()[1..]), None);
    }

    #[test]
    fn stored_row_ids_give_back_the_id() {
        let time =
            NaiveDateTime::parse_from_str("2026-01-01 12:34:56", "%Y-%m-%d %H:%M:%S").unwrap();
        let identity = LineIdentity::new(b"{\"x\":1}", &time);
        let id = identity.id(RowKind::TrackEventRow, 0);
        let stored = StoredRowId::new(&id);
        assert!(matches!(stored, StoredRowId::Bits(_)));
        assert_eq!(stored.id(), id);
        // An id in another form (upper case) is kept as it is.
        let upper = RowId::parse(&id.as_str().to_uppercase()).unwrap();
        let stored = StoredRowId::new(&upper);
        assert!(matches!(stored, StoredRowId::Other(_)));
        assert_eq!(stored.id(), upper);
        assert_eq!(std::mem::size_of::<StoredRowId>(), 24);
    }

    #[test]
    fn row_id_bits_are_the_digits_value_and_any_other_byte_is_refused() {
        // The form, byte by byte: lowercase hex digits, and `_` at 8, 13, 18 and 23.
        let in_form = |b: &[u8; 36]| {
            b.iter().enumerate().all(|(i, &c)| match i {
                8 | 13 | 18 | 23 => c == b'_',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
            })
        };
        let value = |b: &[u8; 36]| {
            let digits: String = b
                .iter()
                .filter(|&&c| c != b'_')
                .map(|&c| c as char)
                .collect();
            u128::from_str_radix(&digits, 16).unwrap()
        };
        let time =
            NaiveDateTime::parse_from_str("2026-01-01 12:34:56", "%Y-%m-%d %H:%M:%S").unwrap();
        for line in 0..200u32 {
            let id = LineIdentity::new(&line.to_le_bytes(), &time).id(RowKind::Answer, line);
            assert_eq!(id.bits(), Some(value(id.as_bytes())), "{id}");
            // Each byte in turn replaced: a digit or letter of the other case, a byte just
            // outside a digit range, an underscore, a hyphen.
            for at in 0..36 {
                for other in [
                    b'0', b'9', b'a', b'f', b'A', b'F', b'g', b'/', b':', b'`', b'_', b'-',
                ] {
                    let mut bytes = *id.as_bytes();
                    bytes[at] = other;
                    let changed = RowId(bytes);
                    let expected = in_form(&bytes).then(|| value(&bytes));
                    assert_eq!(changed.bits(), expected, "{changed}");
                }
            }
        }
    }

    #[test]
    fn stored_names_give_back_their_text_in_order() {
        let a = StoredAnonName::new("0fb0be9ecc2436f634e62632a8b54fdb53969276");
        let b = StoredAnonName::new("efb0be9ecc2436f634e62632a8b54fdb53969276");
        let other = StoredAnonName::new("x-older-name");
        assert!(matches!(a, StoredAnonName::Digest(_)));
        assert!(matches!(other, StoredAnonName::Text(_)));
        assert_eq!(&*b.text(), "efb0be9ecc2436f634e62632a8b54fdb53969276");
        assert_eq!(&*other.text(), "x-older-name");
        assert!(a < b);
        // In the order of the texts, whatever each is kept as.
        assert!(b < other);
    }

    #[test]
    fn ripemd160_vectors_from_the_spec() {
        assert_eq!(
            anon_screen_name("trobinspire"),
            "efb0be9ecc2436f634e62632a8b54fdb53969276"
        );
        assert_eq!(
            anon_screen_name(""),
            "9c1185a5c5e9fc54612808977ee8f548b2258d31"
        );
        assert_eq!(
            anon_screen_name("O'Brian"),
            "3facd806541e8a1d1011ec566201667b981fbf67"
        );
        assert_eq!(
            ripemd160_hex(b"emil.smith@gmail.com"),
            "a064cdd09af0315fbf2f6bbc2d0256a5e56d64f7"
        );
        assert_eq!(ripemd160_hex(b"file:///home/paepcke/EclipseWorkspaces/json_to_relation/json_to_relation/test/data/problem_checkSimpleCase.json"), "17a48e696d7b7f0bbc7206fd8921514b32fd9261");
    }

    #[test]
    fn ids_are_deterministic_distinct_and_time_ordered() {
        let t1 = NaiveDateTime::parse_from_str("2013-06-09 06:28:13", "%Y-%m-%d %H:%M:%S").unwrap();
        let t2 = NaiveDateTime::parse_from_str("2013-06-09 06:28:14", "%Y-%m-%d %H:%M:%S").unwrap();
        let a = LineIdentity::new(b"{\"x\":2}", &t1);
        let b = LineIdentity::new(b"{\"x\":1}", &t2);
        assert_eq!(
            a.id(RowKind::Event, 0),
            LineIdentity::new(b"{\"x\":2}", &t1).id(RowKind::Event, 0)
        );
        assert_ne!(a.id(RowKind::Event, 0), a.id(RowKind::TrackEventRow, 0));
        assert_ne!(
            a.id(RowKind::TrackEventRow, 0),
            a.id(RowKind::TrackEventRow, 1)
        );
        assert!(a.id(RowKind::Event, 0) < b.id(RowKind::Event, 0));
        let s = a.id(RowKind::Event, 0).to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[8..9], "_");
        assert_eq!(&s[14..15], "7");
        let row = a.id(RowKind::TrackEventRow, 0);
        assert_eq!(RowId::parse(row.as_str()), Some(row));
        let account = row.account_id(0);
        assert_eq!(
            &account.as_str()[..13],
            &row.as_str()[..13],
            "time-ordered like its event"
        );
        assert_ne!(account, row.account_id(1));
    }

    #[test]
    fn line_keys_in_both_forms() {
        let t =
            NaiveDateTime::parse_from_str("2013-06-09 06:28:13.5", "%Y-%m-%d %H:%M:%S%.f").unwrap();
        let line = LineIdentity::new(b"{\"x\":1}", &t);
        let hash = format!("{:032x}", line.hash());
        let key = |keys| String::from_utf8(line.line_key(keys).to_vec()).unwrap();
        assert_eq!(key(LineKeys::Hash), hash);
        let time_hash = key(LineKeys::TimeThenHash);
        assert_eq!(&time_hash[..12], format!("{:012x}", 1_370_759_293_500u64));
        assert_eq!(&time_hash[12..], &hash[..20]);
        let later = LineIdentity::new(b"{\"x\":0}", &(t + chrono::TimeDelta::milliseconds(1)));
        assert!(later.line_key(LineKeys::TimeThenHash) > line.line_key(LineKeys::TimeThenHash));
        for keys in [LineKeys::Hash, LineKeys::TimeThenHash] {
            assert_eq!(LineKeys::from_setting(Some(keys.setting())), keys);
        }
        assert_eq!(LineKeys::from_setting(None), LineKeys::Hash);
    }

    #[test]
    fn ids_are_the_value_in_hex_around_underscores() {
        let v = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        assert_eq!(
            RowId::from_u128(v).as_str(),
            "01234567_89ab_cdef_fedc_ba9876543210"
        );
    }

    #[test]
    fn hex_digits_agree_with_the_formatter() {
        let mut v = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834u128;
        for edge in [0, u128::MAX, 0xa, 0xf << 124, 0x9 << 124] {
            assert_eq!(hex_digits(edge), *format!("{edge:032x}").as_bytes());
        }
        for _ in 0..10_000 {
            v = v
                .wrapping_mul(0x2545_f491_4f6c_dd1d)
                .wrapping_add(0x1405_7b7e_f767_814f);
            assert_eq!(hex_digits(v), *format!("{v:032x}").as_bytes(), "{v:x}");
        }
    }
}
