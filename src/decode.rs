//! Decode stage: from a physical line to the JSON text of one event, or a reason to reject it.
//!
//! Real tracking logs are not clean JSON lines (see `shared/spec/ecosystem-notes.md` §1): syslog
//! and Tutor/Django logger prefixes, leading timestamps, grep-style `file:` prefixes, comment and
//! blank lines, NUL runs and invalid UTF-8 all occur. Nothing here ever aborts a load.

use std::sync::LazyLock;

use regex::Regex;

/// What one physical line turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// An empty or all-whitespace line: skipped and counted.
    Blank,
    /// A `#` comment line: skipped and counted.
    Comment,
    /// The JSON text of one record (any known prefix removed).
    Json(&'a str),
    /// A line that cannot be an event, with the reason recorded in the rejects table.
    Reject(String),
}

// Known prefixes, each ending where the JSON object starts. Anchored so that arbitrary text in
// front of a `{` is still a reject: a silent guess would hide a damaged line.
static PREFIXES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:",
        // syslog: "Sep  9 00:00:48 localhost " (optionally "tag[pid]: ")
        r"[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \S+(?: [^\s{]+:)? *",
        // Tutor / Django logger: "2023-05-23 13:53:13,461 INFO 20 [tracking] [user None] [ip None] logger.py:41 - "
        r"|.*\[tracking\].* - ",
        // a leading ISO timestamp: "2013-06-09T06:28:13.626165+00:00 " or "2013-06-09 06:28:13,123 "
        r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?:? +",
        // grep-style file prefix: "tracking.log-20130722.gz:" or a bare ":"
        r"|[^\s{:]*:",
        r")$"
    ))
    .expect("prefix regex")
});

/// Decodes one physical line (without its terminator).
pub fn decode(bytes: &[u8]) -> Decoded<'_> {
    // memchr's SIMD search: every line is scanned, and std's `contains` is a byte loop here.
    if memchr::memchr(0, bytes).is_some() {
        let nuls = bytes.iter().filter(|&&b| b == 0).count();
        return Decoded::Reject(format!("line contains {nuls} NUL byte(s)"));
    }
    // Every line is validated: simdutf8's SIMD check, with std's only to say where a bad line
    // goes wrong.
    let text = match simdutf8::basic::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            let valid_up_to = std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), str::len);
            return Decoded::Reject(format!("invalid UTF-8 at byte {valid_up_to} of the line"));
        }
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Decoded::Blank;
    }
    if trimmed.starts_with('#') {
        return Decoded::Comment;
    }
    if trimmed.starts_with('{') {
        return Decoded::Json(trimmed);
    }
    match trimmed.find('{') {
        Some(start) if PREFIXES.is_match(&trimmed[..start]) => Decoded::Json(&trimmed[start..]),
        Some(_) => Decoded::Reject("unrecognised text before the JSON object".into()),
        None if trimmed.starts_with('[') => Decoded::Json(trimmed),
        None => Decoded::Reject("not JSON: no '{' on the line".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_blank_and_comment_lines() {
        assert_eq!(decode(b"{\"a\":1}"), Decoded::Json("{\"a\":1}"));
        assert_eq!(decode(b"  {\"a\":1}  "), Decoded::Json("{\"a\":1}"));
        assert_eq!(decode(b""), Decoded::Blank);
        assert_eq!(decode(b" \t "), Decoded::Blank);
        assert_eq!(decode(b"# a comment"), Decoded::Comment);
    }

    #[test]
    fn known_prefixes_are_stripped() {
        for line in [
            "Sep  9 00:00:48 localhost {\"a\":1}",
            "Sep 19 00:00:48 lms-1 tracking[123]: {\"a\":1}",
            "2023-05-23 13:53:13,461 INFO 20 [tracking] [user None] [ip None] logger.py:41 - {\"a\":1}",
            "2013-06-09T06:28:13.626165+00:00 {\"a\":1}",
            "2013-06-09 06:28:13 {\"a\":1}",
            "tracking.log-20130722.gz:{\"a\":1}",
            ":{\"a\":1}",
        ] {
            assert_eq!(
                decode(line.as_bytes()),
                Decoded::Json("{\"a\":1}"),
                "{line}"
            );
        }
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        assert!(matches!(decode(b"hello world"), Decoded::Reject(_)));
        assert!(matches!(decode(b"some junk {\"a\":1}"), Decoded::Reject(_)));
        assert!(matches!(decode(&[0u8; 300]), Decoded::Reject(r) if r.contains("300 NUL")));
        assert!(matches!(decode(b"{\"a\":\"\xff\"}"), Decoded::Reject(r) if r.contains("UTF-8")));
    }
}
