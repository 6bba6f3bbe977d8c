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
