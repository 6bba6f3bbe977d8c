//! Generated strings for the escaping property tests, shared by the unit tests beside the
//! encoder and `tests/escaping.rs` (which includes this file by path).

use proptest::prelude::*;

/// Arbitrary Unicode, weighted towards what the escapings must handle: NUL, tab, newline, CR,
/// backslash, both quotes, Ctrl-Z, backspace, the letters of `\N`, `\Z`, `\0`, LIKE's `%` and
/// `_`, and 2-, 3- and 4-byte UTF-8; plus whole values that look like NULL.
pub fn tricky_string() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\0',
        '\t',
        '\n',
        '\r',
        '\\',
        '\'',
        '"',
        '\x1a',
        '\x08',
        '%',
        '_',
        'N',
        'Z',
        '0',
        'n',
        ' ',
        'é',
        '\u{ffff}',
        '😀',
        '\u{10ffff}',
    ]);
    let ch = prop_oneof![2 => any::<char>(), 3 => special];
    prop_oneof![
        1 => prop::sample::select(vec!["", "\\N", "\\n", "NULL", "\\", "N", "\\\\N"])
            .prop_map(String::from),
        6 => prop::collection::vec(ch, 0..48).prop_map(String::from_iter),
    ]
}
