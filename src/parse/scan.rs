//! The usual record's members found by a byte scanner.
//!
//! A tracking-log record is a flat object of short strings beside `context` and `event`. The
//! scanner keeps strings without escapes as slices of the line (found with `memchr`), and hands
//! every other value to serde_json, which parses it as it would inside the record and says where
//! it ends. Anything unusual (a duplicate or escaped key, a member with many brackets, text after
//! the object) returns `None`, and the record takes the general path, which reads the whole
//! record as a value and decides the outcome and the error message.

use serde::de::{Deserialize, IgnoredAny};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{EventMember, Member, RawRecord, shallow};
use crate::sink::encode::no_backslash_or_control;

/// The empty request as the log writes it: a JSON string holding [`super::EMPTY_REQUEST_TEXT`].
const EMPTY_REQUEST_MEMBER: &str = r#""{\"POST\": {}, \"GET\": {}}""#;

/// The members the loader reads.
#[derive(Clone, Copy)]
enum Field {
    Username,
    EventSource,
    EventType,
    Name,
    Time,
    Timestamp,
    Ip,
    Agent,
    Host,
    Page,
    Session,
    Referer,
    AcceptLanguage,
    Context,
    Event,
    Data,
}

impl Field {
    fn of(key: &str) -> Option<Field> {
        Some(match key {
            "username" => Field::Username,
            "event_source" => Field::EventSource,
            "event_type" => Field::EventType,
            "name" => Field::Name,
            "time" => Field::Time,
            "timestamp" => Field::Timestamp,
            "ip" => Field::Ip,
            "agent" => Field::Agent,
            "host" => Field::Host,
            "page" => Field::Page,
            "session" => Field::Session,
            "referer" => Field::Referer,
            "accept_language" => Field::AcceptLanguage,
            "context" => Field::Context,
            "event" => Field::Event,
            "data" => Field::Data,
            _ => return None,
        })
    }
}

impl<'a> RawRecord<'a> {
    /// The record's members, or `None` to leave the record to the general path.
    pub(super) fn scan(json: &'a str) -> Option<RawRecord<'a>> {
        let b = json.as_bytes();
        let mut record = RawRecord::default();
        let mut seen = 0u32;
        let mut at = skip_space(b, 0);
        if b.get(at) != Some(&b'{') {
            return None;
        }
        at = skip_space(b, at + 1);
        if b.get(at) == Some(&b'}') {
            at += 1;
        } else {
            loop {
                let key = plain_string(json, at)?;
                at = skip_space(b, at + key.len() + 2);
                if b.get(at) != Some(&b':') {
                    return None;
                }
                at = skip_space(b, at + 1);
                let rest = &json[at..];
                let used = match Field::of(key) {
                    Some(field) => {
                        let bit = 1 << field as u32;
                        if seen & bit != 0 {
                            return None;
                        }
                        seen |= bit;
                        record.set(field, rest)?
                    }
                    None => value::<IgnoredAny>(rest)?.1,
                };
                at = skip_space(b, at + used);
                match b.get(at) {
                    Some(b',') => at = skip_space(b, at + 1),
                    Some(b'}') => {
                        at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        (skip_space(b, at) == b.len()).then_some(record)
    }

    /// Reads the member `field` from the start of `rest`; returns the bytes it takes, or `None`
    /// when serde_json would not accept it.
    fn set(&mut self, field: Field, rest: &'a str) -> Option<usize> {
        let text = || -> Option<(Member<'a>, usize)> {
            match plain_string(rest, 0) {
                Some(s) => Some((Member::Plain(s), s.len() + 2)),
                None => value::<&RawValue>(rest).map(|(raw, n)| (Member::Raw(raw), n)),
            }
        };
        let event = || -> Option<(EventMember, usize)> {
            if rest.starts_with(EMPTY_REQUEST_MEMBER) {
                Some((EventMember::EmptyRequest, EMPTY_REQUEST_MEMBER.len()))
            } else if let Some((text, used)) = quoted_json(rest) {
                Some((EventMember::of_string(text), used))
            } else {
                value::<EventMember>(rest)
            }
        };
        let put = |slot: &mut Option<Member<'a>>| {
            let (member, used) = text()?;
            *slot = Some(member);
            Some(used)
        };
        match field {
            Field::Username => put(&mut self.username),
            Field::EventSource => put(&mut self.event_source),
            Field::EventType => put(&mut self.event_type),
            Field::Name => put(&mut self.name),
            Field::Time => put(&mut self.time),
            Field::Timestamp => put(&mut self.timestamp),
            Field::Ip => put(&mut self.ip),
            Field::Agent => put(&mut self.agent),
            Field::Host => put(&mut self.host),
            Field::Page => put(&mut self.page),
            Field::Session => put(&mut self.session),
            Field::Referer => put(&mut self.referer),
            Field::AcceptLanguage => put(&mut self.accept_language),
            Field::Context => {
                let (context, used) = value::<Value>(rest)?;
                self.context = Some(context);
                Some(used)
            }
            Field::Event => {
                let (event, used) = event()?;
                self.event = Some(event);
                Some(used)
            }
            Field::Data => {
                let (data, used) = event()?;
                self.data = Some(data);
                Some(used)
            }
        }
    }
}

/// The content of the string starting at `at`, when it holds no escape and no control byte
/// (which JSON forbids raw in a string): then its first quote after `at` ends it.
fn plain_string(text: &str, at: usize) -> Option<&str> {
    let b = text.as_bytes();
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let end = at + 1 + memchr::memchr(b'"', &b[at + 1..])?;
    no_backslash_or_control(&b[at + 1..end]).then(|| &text[at + 1..end])
}

/// The content of the JSON string at the start of `rest` when its only escapes are `\"`, `\\`
/// and `\/`, unescaped, and the bytes it takes. That is JSON written into a string, the usual
/// `event` of a browser event: serde_json's general string reader handled its dozen escaped
/// quotes one call at a time (3.7% of a dry run's instructions). `None` for any other value or
/// escape, and for a raw control byte (which JSON forbids): serde_json reads those.
fn quoted_json(rest: &str) -> Option<(String, usize)> {
    let b = rest.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    // Room for most events' text at once; a longer one grows.
    let mut text = String::with_capacity(rest.len().min(512));
    let mut at = 1;
    loop {
        let end = at + memchr::memchr2(b'"', b'\\', &b[at..])?;
        text.push_str(&rest[at..end]);
        if b[end] == b'"' {
            // Once for the whole text, not for each piece between two escapes.
            let control = text.bytes().fold(false, |found, c| found | (c < 0x20));
            return (!control).then_some((text, end + 1));
        }
        match b.get(end + 1) {
            Some(&c @ (b'"' | b'\\' | b'/')) => text.push(char::from(c)),
            _ => return None,
        }
        at = end + 2;
    }
}

/// The JSON value at the start of `rest`, as serde_json reads it there, and the bytes it takes.
fn value<'a, T: Deserialize<'a>>(rest: &'a str) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<T>();
    let value = values.next()?.ok()?;
    let used = values.byte_offset();
    shallow(&rest[..used]).then_some((value, used))
}

/// The first byte at or after `at` that is not JSON whitespace.
fn skip_space(b: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Strings with what a JSON string may hold: escaped quotes and backslashes, slashes, other
    /// escapes, control bytes, non-ASCII.
    fn texts() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("\"".to_string()),
                Just("\\".to_string()),
                Just("/".to_string()),
                Just("{\"id\": ".to_string()),
                Just("\n".to_string()),
                Just("\u{1}".to_string()),
                Just("é€😀".to_string()),
                "[a-z0-9 :,{}]{0,12}",
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn a_quoted_json_string_reads_as_serde_json_reads_it(text in texts(), tail in "[ ,}]{0,3}") {
            // As serde_json writes it (`\"`, `\\`, `\n`, `\u0001`; `/` unescaped), and with
            // every `/` escaped as some writers do.
            let written = serde_json::to_string(&text).unwrap();
            for json in [written.clone(), written.replace('/', "\\/")] {
                let rest = format!("{json}{tail}");
                let serde = value::<String>(&rest);
                match quoted_json(&rest) {
                    Some(fast) => prop_assert_eq!(Some(fast), serde),
                    // Only strings with another escape are left to serde_json.
                    None => prop_assert!(json.contains("\\n") || json.contains("\\u")),
                }
            }
        }
    }

    #[test]
    fn other_values_and_escapes_are_left_to_serde_json() {
        for rest in [
            r#"{"a": 1}"#,
            "12",
            r#""\n""#,
            r#""\u0041""#,
            r#""\x""#,
            "\"unterminated",
            "\"a\u{1}b\"",
            "\"a\tb\"",
            r#""ends in a backslash\"#,
        ] {
            assert_eq!(quoted_json(rest), None, "{rest}");
        }
        assert_eq!(
            quoted_json(r#""{\"id\": \"a\\/b\"}", "x""#),
            Some((r#"{"id": "a\/b"}"#.to_string(), 21))
        );
    }
}
