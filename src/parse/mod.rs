//! Parse stage: one tolerant event type for every shape of tracking-log record.
//!
//! `event` may be an object, a JSON string holding an object or list, a query string, a list or
//! absent; fields may have the wrong JSON type; the asynchronous representation (`data`,
//! `timestamp`, common fields inside `context`) is mapped back to the log shape.

mod profile_paths;
mod scan;
mod time;
mod url_credentials;

pub use time::{json_kind, parse_time, quarter};

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::NaiveDateTime;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use profile_paths::hide_usernames;
use url_credentials::hide_credentials;

/// `url` as tables may hold it: each username in it replaced by the learner's anon screen name
/// (`profile_paths`), each credential by a mark (`url_credentials`). An event's page, referer and
/// path-style type are taken so as they are parsed; a URL in an event's payload that a table
/// keeps is taken so where it is read.
pub fn public_url(url: &str) -> Cow<'_, str> {
    match hide_usernames(url) {
        Cow::Borrowed(url) => hide_credentials(url),
        Cow::Owned(url) => Cow::Owned(hide_credentials(&url).into_owned()),
    }
}

/// The `event` member in whichever shape the log carried it.
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    /// No `event` member, or `null`.
    Absent,
    /// A JSON object (given as an object, or as a string holding one). Borrowed for the
    /// commonest event of all, a page view's empty request (see [`EMPTY_REQUEST_TEXT`]).
    Object(Cow<'static, Map<String, Value>>),
    /// A JSON list (given as a list, or as a string holding one).
    List(Vec<Value>),
    /// A string that is not JSON: a query string (`input_…=choice_2&…`), a truncated implicit
    /// event, or free text.
    Text(String),
    /// A bare number or boolean.
    Scalar(Value),
}

/// The `event` of a server's page view without parameters, as the log writes it (a string
/// holding JSON): about half of all events in a course's log.
pub const EMPTY_REQUEST_TEXT: &str = r#"{"POST": {}, "GET": {}}"#;

/// [`EMPTY_REQUEST_TEXT`] parsed, shared by every event that carries it.
static EMPTY_REQUEST: LazyLock<Map<String, Value>> =
    LazyLock::new(|| match serde_json::from_str(EMPTY_REQUEST_TEXT) {
        Ok(Value::Object(m)) => m,
        _ => unreachable!("a fixed JSON object"),
    });

impl EventPayload {
    /// The object form, if the event is an object.
    pub fn as_object(&self) -> Option<&Map<String, Value>> {
        match self {
            EventPayload::Object(m) => Some(m.as_ref()),
            _ => None,
        }
    }
}

/// One tracking-log event with its common fields.
///
/// The common fields' texts are written back to back into one string as they are read, and
/// each field is a span of it: one allocation per event instead of 7 to 11, on the path every
/// event takes (1.1% fewer instructions in a 100,000-event dry run under
/// `valgrind --tool=callgrind moocdb load --dry-run`).
#[derive(Clone)]
pub struct TrackingEvent {
    /// The common fields' texts, back to back.
    texts: String,
    username: Option<Span>,
    event_source: Span,
    event_type: Span,
    name: Option<Span>,
    ip: Option<Span>,
    agent: Span,
    host: Span,
    page: Span,
    session: Span,
    referer: Span,
    accept_language: Span,
    /// The event time in UTC.
    pub time: NaiveDateTime,
    /// `context`, when present and an object.
    pub context: Option<Map<String, Value>>,
    /// `event` in its shape.
    pub event: EventPayload,
}

/// Where one of an event's texts lies in [`TrackingEvent::texts`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

/// The common fields' texts of an event, as the parse finds them: owned (the general path) or
/// mostly borrowed from the line (the usual record's).
struct EventTexts<T> {
    username: Option<T>,
    event_source: T,
    event_type: T,
    name: Option<T>,
    ip: Option<T>,
    agent: T,
    host: T,
    page: T,
    session: T,
    referer: T,
    accept_language: T,
}

/// Writes texts back to back into one string.
struct TextWriter {
    texts: String,
}

impl TextWriter {
    fn with_capacity(bytes: usize) -> TextWriter {
        TextWriter {
            texts: String::with_capacity(bytes),
        }
    }

    /// Appends `s`. The spans' `u32` offsets are checked once, by [`TextWriter::finish`].
    fn push(&mut self, s: &str) -> Span {
        let start = self.texts.len() as u32;
        self.texts.push_str(s);
        Span {
            start,
            end: self.texts.len() as u32,
        }
    }

    /// The texts, or an error if they outgrew the spans' offsets (a line is at most 32 MiB by
    /// default, so only a reader set to take lines of gigabytes could see it).
    fn finish(self) -> Result<String, ParseError> {
        if u32::try_from(self.texts.len()).is_err() {
            return Err(ParseError(
                "the event's fields hold more than 4 GiB of text".into(),
            ));
        }
        Ok(self.texts)
    }
}

impl std::fmt::Debug for TrackingEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackingEvent")
            .field("username", &self.username())
            .field("event_source", &self.event_source())
            .field("event_type", &self.event_type())
            .field("name", &self.name())
            .field("time", &self.time)
            .field("ip", &self.ip())
            .field("agent", &self.agent())
            .field("host", &self.host())
            .field("page", &self.page())
            .field("session", &self.session())
            .field("referer", &self.referer())
            .field("accept_language", &self.accept_language())
            .field("context", &self.context)
            .field("event", &self.event)
            .finish()
    }
}

impl TrackingEvent {
    /// An event of these fields.
    fn of<T: AsRef<str>>(
        texts: EventTexts<T>,
        time: NaiveDateTime,
        context: Option<Map<String, Value>>,
        event: EventPayload,
    ) -> Result<TrackingEvent, ParseError> {
        let t = &texts;
        let len = |s: &T| s.as_ref().len();
        let opt_len = |s: &Option<T>| s.as_ref().map_or(0, len);
        let mut w = TextWriter::with_capacity(
            opt_len(&t.username)
                + len(&t.event_source)
                + len(&t.event_type)
                + opt_len(&t.name)
                + opt_len(&t.ip)
                + len(&t.agent)
                + len(&t.host)
                + len(&t.page)
                + len(&t.session)
                + len(&t.referer)
                + len(&t.accept_language),
        );
        let username = t.username.as_ref().map(|s| w.push(s.as_ref()));
        let event_source = w.push(t.event_source.as_ref());
        // No table gets a username or a credential that a URL holds (`public_url`).
        let event_type = w.push(&public_url(t.event_type.as_ref()));
        let name = t.name.as_ref().map(|s| w.push(s.as_ref()));
        let ip = t.ip.as_ref().map(|s| w.push(s.as_ref()));
        let agent = w.push(t.agent.as_ref());
        let host = w.push(t.host.as_ref());
        let page = w.push(&public_url(t.page.as_ref()));
        let session = w.push(t.session.as_ref());
        let referer = w.push(&public_url(t.referer.as_ref()));
        let accept_language = w.push(t.accept_language.as_ref());
        Ok(TrackingEvent {
            texts: w.finish()?,
            username,
            event_source,
            event_type,
            name,
            ip,
            agent,
            host,
            page,
            session,
            referer,
            accept_language,
            time,
            context,
            event,
        })
    }

    fn text(&self, span: Span) -> &str {
        &self.texts[span.start as usize..span.end as usize]
    }

    /// `username`; `None` when absent (an empty string stays empty: an anonymous user).
    pub fn username(&self) -> Option<&str> {
        self.username.map(|s| self.text(s))
    }

    /// `event_source`: `server`, `browser`, `mobile`, …
    pub fn event_source(&self) -> &str {
        self.text(self.event_source)
    }

    /// The event type: `event_type`, or `name` when only `name` is present.
    pub fn event_type(&self) -> &str {
        self.text(self.event_type)
    }

    /// `name` (newer server and mobile events).
    pub fn name(&self) -> Option<&str> {
        self.name.map(|s| self.text(s))
    }

    /// `ip`: IPv4, IPv6, empty, or `None` when the key is absent.
    pub fn ip(&self) -> Option<&str> {
        self.ip.map(|s| self.text(s))
    }

    /// `agent` (the user agent string).
    pub fn agent(&self) -> &str {
        self.text(self.agent)
    }

    /// `host`.
    pub fn host(&self) -> &str {
        self.text(self.host)
    }

    /// `page` (`null` becomes empty).
    pub fn page(&self) -> &str {
        self.text(self.page)
    }

    /// `session`.
    pub fn session(&self) -> &str {
        self.text(self.session)
    }

    /// `referer`.
    pub fn referer(&self) -> &str {
        self.text(self.referer)
    }

    /// `accept_language`.
    pub fn accept_language(&self) -> &str {
        self.text(self.accept_language)
    }
}

/// Why a JSON record could not become an event.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl TrackingEvent {
    /// Parses one JSON record.
    pub fn parse(json: &str) -> Result<TrackingEvent, ParseError> {
        // The usual record goes through a borrowed view of its members; anything unusual
        // (duplicate or escaped keys, deep nesting, invalid JSON, over-escaped quotes) takes the
        // general path, which decides the outcome and the error message.
        if let Some(record) = RawRecord::scan(json)
            && let Some(event) = record.into_event()
        {
            return event;
        }
        Self::parse_value(json)
    }

    /// The general path: the whole record as a `Value` tree.
    fn parse_value(json: &str) -> Result<TrackingEvent, ParseError> {
        let value: Value = match serde_json::from_str(json) {
            Ok(v) => v,
            // Some logs over-escape the quotes inside the `event` string (`\\"` for `\"`);
            // json_to_relation repaired them, and so do we.
            Err(e) if json.contains("\\\\\"") => {
                serde_json::from_str(&json.replace("\\\\\"", "\\\"")).map_err(|_| invalid(&e))?
            }
            Err(e) => return Err(invalid(&e)),
        };
        let Value::Object(mut record) = value else {
            return Err(ParseError(format!(
                "JSON {} is not a tracking event (expected an object)",
                json_kind(&value)
            )));
        };
        let mut context = match record.remove("context") {
            Some(Value::Object(c)) => Some(c),
            // A context given as a JSON string holding an object (seen in old logs).
            Some(Value::String(s)) => match serde_json::from_str(&s) {
                Ok(Value::Object(c)) => Some(c),
                _ => None,
            },
            _ => None,
        };
        // Asynchronous representation: common fields live in `context`.
        let mut take = |key: &str| -> Option<Value> {
            match record.remove(key) {
                Some(v) => Some(v),
                None => context
                    .as_mut()
                    .and_then(|c| c.get(key).filter(|v| !v.is_null()).cloned()),
            }
        };
        let event_type = take("event_type").and_then(text_of);
        let name = take("name").and_then(text_of);
        let event_type = match (event_type, &name) {
            (Some(t), _) if !t.is_empty() => t,
            (_, Some(n)) if !n.is_empty() => n.clone(),
            _ => {
                return Err(ParseError(
                    "JSON object without event_type or name (not a tracking event)".into(),
                ));
            }
        };
        let time_value = take("time")
            .or_else(|| take("timestamp"))
            .ok_or_else(|| ParseError("event without a time".into()))?;
        let time = parse_time(&time_value).map_err(ParseError)?;
        let event = match take("event").or_else(|| take("data")) {
            None | Some(Value::Null) => EventPayload::Absent,
            Some(v) => payload_of(v),
        };
        let texts = EventTexts {
            username: take("username").and_then(text_of),
            event_source: take("event_source").and_then(text_of).unwrap_or_default(),
            event_type,
            name,
            ip: take("ip").map(|v| text_of(v).unwrap_or_default()),
            agent: take("agent").and_then(text_of).unwrap_or_default(),
            host: take("host").and_then(text_of).unwrap_or_default(),
            page: take("page").and_then(text_of).unwrap_or_default(),
            session: take("session").and_then(text_of).unwrap_or_default(),
            referer: take("referer").and_then(text_of).unwrap_or_default(),
            accept_language: take("accept_language")
                .and_then(text_of)
                .unwrap_or_default(),
        };
        TrackingEvent::of(texts, time, context, event)
    }

    /// A member of `context`, as text.
    pub fn context_str(&self, key: &str) -> Option<String> {
        self.context
            .as_ref()
            .and_then(|c| c.get(key))
            .cloned()
            .and_then(text_of)
    }
}

/// The members of a record the loader reads, borrowed from the line as raw JSON text, found by
/// [`RawRecord::scan`]. Only the members needed are turned into values, and strings without
/// escapes are copied once. A member present as `null` is `Some`: like the general path, it
/// must not fall back to `context`.
#[derive(Default)]
struct RawRecord<'a> {
    username: Option<Member<'a>>,
    event_source: Option<Member<'a>>,
    event_type: Option<Member<'a>>,
    name: Option<Member<'a>>,
    time: Option<Member<'a>>,
    timestamp: Option<Member<'a>>,
    ip: Option<Member<'a>>,
    agent: Option<Member<'a>>,
    host: Option<Member<'a>>,
    page: Option<Member<'a>>,
    session: Option<Member<'a>>,
    referer: Option<Member<'a>>,
    accept_language: Option<Member<'a>>,
    // The large members are built as values in the same pass: kept raw, they were scanned
    // twice (once to skip them, once to build them).
    context: Option<Value>,
    event: Option<EventMember>,
    data: Option<EventMember>,
}

/// A member read as text.
#[derive(Clone, Copy)]
enum Member<'a> {
    /// A JSON string without escapes or control bytes: its content.
    Plain(&'a str),
    /// Any other JSON value, as its text.
    Raw(&'a RawValue),
}

/// The `event` (or `data`) member as the fast path builds it: the empty request is recognized
/// while it is read, without building a string and parsing it again.
enum EventMember {
    EmptyRequest,
    Value(Value),
}

impl EventMember {
    /// The member that was this JSON string.
    fn of_string(s: String) -> EventMember {
        if s == EMPTY_REQUEST_TEXT {
            EventMember::EmptyRequest
        } else {
            EventMember::Value(Value::String(s))
        }
    }
}

impl<'de> serde::Deserialize<'de> for EventMember {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EventMemberVisitor)
    }
}

/// Builds values as `Value`'s own `Deserialize` does (objects and lists are handed to it),
/// except for the one string it recognizes.
struct EventMemberVisitor;

impl<'de> serde::de::Visitor<'de> for EventMemberVisitor {
    type Value = EventMember;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<EventMember, E> {
        Ok(if s == EMPTY_REQUEST_TEXT {
            EventMember::EmptyRequest
        } else {
            EventMember::Value(Value::String(s.to_owned()))
        })
    }
    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<EventMember, E> {
        Ok(EventMember::of_string(s))
    }
    fn visit_bool<E>(self, b: bool) -> Result<EventMember, E> {
        Ok(EventMember::Value(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<EventMember, E> {
        Ok(EventMember::Value(Value::from(n)))
    }
    fn visit_u64<E>(self, n: u64) -> Result<EventMember, E> {
        Ok(EventMember::Value(Value::from(n)))
    }
    fn visit_f64<E>(self, n: f64) -> Result<EventMember, E> {
        Ok(EventMember::Value(Value::from(n)))
    }
    fn visit_unit<E>(self) -> Result<EventMember, E> {
        Ok(EventMember::Value(Value::Null))
    }
    fn visit_none<E>(self) -> Result<EventMember, E> {
        Ok(EventMember::Value(Value::Null))
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<EventMember, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<EventMember, A::Error> {
        let d = serde::de::value::MapAccessDeserializer::new(map);
        <Value as serde::Deserialize>::deserialize(d).map(EventMember::Value)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<EventMember, A::Error> {
        let d = serde::de::value::SeqAccessDeserializer::new(seq);
        <Value as serde::Deserialize>::deserialize(d).map(EventMember::Value)
    }
}

/// Brackets a member's JSON text may hold to be read on its own. serde_json allows 128 levels
/// of nesting, the record's own among them; a member read on its own would get one level more,
/// so one that could come near the limit is left to the general path, which reads the whole
/// record and decides.
const MAX_BRACKETS: usize = 100;

/// Whether a member's JSON text is surely nested less deep than serde_json's limit.
fn shallow(text: &str) -> bool {
    !text.starts_with(['{', '['])
        || memchr::memchr2_iter(b'{', b'[', text.as_bytes()).count() <= MAX_BRACKETS
}

/// A raw member as text, as `text_of` would give it (a plain string borrowed from the line);
/// `Err` when serde_json cannot build it as a value (nested too deep), which the general path
/// reports.
fn raw_text(member: Member<'_>) -> Result<Option<Cow<'_, str>>, ()> {
    // A string without escapes is always `Plain`: the scanner rejects raw control bytes.
    let s = match member {
        Member::Plain(s) => return Ok(Some(Cow::Borrowed(s))),
        Member::Raw(raw) => raw.get(),
    };
    if !shallow(s) {
        return Err(());
    }
    serde_json::from_str::<Value>(s)
        .map(|v| text_of(v).map(Cow::Owned))
        .map_err(|_| ())
}

/// A member as a value; `None` when it is not one serde_json builds on its own (too deep).
fn raw_value(member: Member) -> Option<Value> {
    match member {
        Member::Plain(s) => Some(Value::String(s.to_string())),
        Member::Raw(raw) => shallow(raw.get())
            .then(|| serde_json::from_str(raw.get()).ok())
            .flatten(),
    }
}

impl<'a> RawRecord<'a> {
    /// The event, or `None` to leave the record to the general path.
    fn into_event(self) -> Option<Result<TrackingEvent, ParseError>> {
        let context = match self.context {
            Some(Value::Object(c)) => Some(c),
            Some(Value::String(s)) => match serde_json::from_str(&s) {
                Ok(Value::Object(c)) => Some(c),
                _ => None,
            },
            _ => None,
        };
        // Asynchronous representation: common fields live in `context`.
        let from_context = |key: &str| -> Option<Value> {
            context
                .as_ref()
                .and_then(|c| c.get(key).filter(|v| !v.is_null()).cloned())
        };
        let unusable = std::cell::Cell::new(false);
        // Plain strings are borrowed from the line until they are written into the event.
        let text = |raw: Option<Member<'a>>, key: &str| -> Option<Cow<'a, str>> {
            match raw {
                Some(r) => raw_text(r).unwrap_or_else(|()| {
                    unusable.set(true);
                    None
                }),
                None => from_context(key).and_then(text_of).map(Cow::Owned),
            }
        };
        let event_type = text(self.event_type, "event_type");
        let name = text(self.name, "name");
        let event_type = match (event_type, &name) {
            (Some(t), _) if !t.is_empty() => t,
            (_, Some(n)) if !n.is_empty() => n.clone(),
            _ => return None,
        };
        // A member present at the top (even `null`) wins over `context`, in this order.
        // `Err` when the member is there but is not a value serde_json builds (too deep).
        let first_of = |a: Option<Member>, a_key: &str, b: Option<Member>, b_key: &str| match a {
            Some(r) => raw_value(r).map(Some).ok_or(()),
            None => match (from_context(a_key), b) {
                (Some(v), _) => Ok(Some(v)),
                (None, Some(r)) => raw_value(r).map(Some).ok_or(()),
                (None, None) => Ok(from_context(b_key)),
            },
        };
        // The usual time, a plain string at the top, is read without building a value.
        let fast_time = match self.time {
            Some(Member::Plain(t)) => Some(t),
            Some(Member::Raw(t)) => t.get().strip_prefix('"').and_then(|t| t.strip_suffix('"')),
            None => None,
        }
        .and_then(time::parse_utc_time_fast);
        let time = match fast_time {
            Some(time) => time,
            None => {
                let time_value =
                    first_of(self.time, "time", self.timestamp, "timestamp").ok()??;
                parse_time(&time_value).ok()?
            }
        };
        // The same precedence as `first_of`, for members already built as values.
        let event = match self.event {
            Some(member) => member,
            None => (from_context("event").map(EventMember::Value).or(self.data))
                .or_else(|| from_context("data").map(EventMember::Value))
                .unwrap_or(EventMember::Value(Value::Null)),
        };
        let event = match event {
            EventMember::EmptyRequest => EventPayload::Object(Cow::Borrowed(&EMPTY_REQUEST)),
            EventMember::Value(Value::Null) => EventPayload::Absent,
            EventMember::Value(v) => payload_of(v),
        };
        let texts = EventTexts {
            username: text(self.username, "username"),
            event_source: text(self.event_source, "event_source").unwrap_or_default(),
            event_type,
            name,
            ip: match self.ip {
                Some(r) => Some(text(Some(r), "ip").unwrap_or_default()),
                None => from_context("ip").map(|v| text_of(v).unwrap_or_default().into()),
            },
            agent: text(self.agent, "agent").unwrap_or_default(),
            host: text(self.host, "host").unwrap_or_default(),
            page: text(self.page, "page").unwrap_or_default(),
            session: text(self.session, "session").unwrap_or_default(),
            referer: text(self.referer, "referer").unwrap_or_default(),
            accept_language: text(self.accept_language, "accept_language").unwrap_or_default(),
        };
        let event = TrackingEvent::of(texts, time, context, event);
        (!unusable.get()).then_some(event)
    }
}

fn invalid(e: &serde_json::Error) -> ParseError {
    ParseError(format!(
        "invalid JSON: {}",
        e.to_string().replace(" at line 1", "")
    ))
}

/// A scalar JSON value as text (numbers and booleans as written); `None` for null, objects and
/// lists are rendered as compact JSON.
pub fn text_of(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn payload_of(v: Value) -> EventPayload {
    match v {
        Value::Object(m) => EventPayload::Object(Cow::Owned(m)),
        Value::Array(a) => EventPayload::List(a),
        Value::String(s) if s == EMPTY_REQUEST_TEXT => {
            EventPayload::Object(Cow::Borrowed(&EMPTY_REQUEST))
        }
        Value::String(s) => {
            let t = s.trim_start();
            if (t.starts_with('{') || t.starts_with('[') || t.starts_with('"'))
                && let Ok(inner) = serde_json::from_str::<Value>(t)
            {
                return match inner {
                    Value::Object(m) => EventPayload::Object(Cow::Owned(m)),
                    Value::Array(a) => EventPayload::List(a),
                    // A double-encoded string: one level is enough, as in real logs.
                    Value::String(s2) => match serde_json::from_str::<Value>(&s2) {
                        Ok(Value::Object(m)) => EventPayload::Object(Cow::Owned(m)),
                        Ok(Value::Array(a)) => EventPayload::List(a),
                        _ => EventPayload::Text(s2),
                    },
                    Value::Null => EventPayload::Absent,
                    other => EventPayload::Scalar(other),
                };
            }
            if s.is_empty() {
                EventPayload::Absent
            } else {
                EventPayload::Text(s)
            }
        }
        other => EventPayload::Scalar(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_fields_and_event_shapes() {
        let e = TrackingEvent::parse(r#"{"username":"a","event_type":"play_video","time":"2013-06-09T06:28:13.626165","ip":"192.0.2.1","event":"{\"id\":\"v1\",\"currentTime\":3}","page":null,"event_source":"browser"}"#).unwrap();
        assert_eq!(e.username(), Some("a"));
        assert_eq!(e.page(), "");
        assert_eq!(
            e.event.as_object().unwrap()["id"],
            Value::String("v1".into())
        );

        let e = TrackingEvent::parse(r#"{"event_type":"problem_check","time":"2013-06-09T06:28:13Z","event":"input_x_2_1=choice_2&input_x_3_1=choice_0"}"#).unwrap();
        assert_eq!(
            e.event,
            EventPayload::Text("input_x_2_1=choice_2&input_x_3_1=choice_0".into())
        );
        assert_eq!(e.ip(), None);

        let e = TrackingEvent::parse(
            r#"{"event_type":"problem_graded","time":"2013-06-09T06:28:13Z","event":"[\"a\",\"<p>\"]"}"#,
        )
        .unwrap();
        assert!(matches!(e.event, EventPayload::List(ref l) if l.len() == 2));
    }

    #[test]
    fn name_supersedes_missing_event_type_and_async_shape_maps_back() {
        let e = TrackingEvent::parse(r#"{"name":"edx.video.played","timestamp":"2026-01-01T00:00:00Z","data":{"id":"v"},"context":{"username":"u","ip":"2001:db8::1","course_id":"course-v1:A+B+C"}}"#).unwrap();
        assert_eq!(e.event_type(), "edx.video.played");
        assert_eq!(e.username(), Some("u"));
        assert_eq!(e.ip(), Some("2001:db8::1"));
        assert_eq!(
            e.context_str("course_id").as_deref(),
            Some("course-v1:A+B+C")
        );
    }

    /// The borrowed fast path and the general path must agree on every record.
    fn both_paths_agree(json: &str) {
        let fast = TrackingEvent::parse(json).map(|e| format!("{e:?}"));
        let general = TrackingEvent::parse_value(json).map(|e| format!("{e:?}"));
        assert_eq!(fast, general, "{json}");
    }

    /// A record whose `key` is nested past serde_json's recursion limit.
    fn deep(key: &str) -> String {
        format!(
            r#"{{"event_type":"x","time":"2026-01-01T00:00:00Z","{key}":{}{}}}"#,
            "[".repeat(1000),
            "]".repeat(1000)
        )
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_path() {
        for json in [
            r#"{"event_type":"x","time":"2013-06-09T06:28:13Z","username":null,"context":{"username":"c"}}"#,
            r#"{"event_type":"x","time":"2013-06-09T06:28:13Z","context":{"username":"c","ip":null}}"#,
            r#"{"name":"n","timestamp":"2013-06-09T06:28:13Z","context":{"event":{"a":1}},"data":{"b":2}}"#,
            r#"{"event_type":"x","time":null,"context":{"time":"2013-06-09T06:28:13Z"}}"#,
            r#"{"event_type":"x","context":{"time":"2013-06-09T06:28:13Z"},"timestamp":"2014-06-09T06:28:13Z"}"#,
            r#"{"event_type":"x","time":{"$date":1370759293000},"event":null,"data":{"b":2}}"#,
            r#"{"event_type":"x","time":"2013-06-09T06:28:13Z","event_type":"y"}"#,
            r#"{"event_type":"a\tbé","time":"2013-06-09T06:28:13Z","agent":"q"uote","ip":7}"#,
            r#"{"event_type":"","name":"","time":"2013-06-09T06:28:13Z"}"#,
            r#"{"event_type":"x","time":"2013-06-09T06:28:13Z","context":"{"course_id":"c"}"}"#,
            r#"{"event_type":"x","time":"2013-06-09T06:28:13Z","context":[1],"event":"[1,2]"}"#,
            r#"{"event_type":"x","time":"2013-06-09T06:28:13Z","page":1.5e300,"session":false}"#,
            &deep("event"),
            &deep("context"),
            &deep("ip"),
            &deep("time"),
        ] {
            both_paths_agree(json);
        }
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
        let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");
        let mut files = vec![];
        for dir in [data.to_string()].into_iter().chain(
            [
                "conformance/set1_unit_test_events",
                "conformance/set2_tracking_log_20130609",
                "corpus/json_to_relation-edge-cases",
                "corpus/edx-analytics-pipeline",
            ]
            .iter()
            .map(|d| format!("{shared}/{d}")),
        ) {
            match std::fs::read_dir(&dir) {
                Ok(entries) => files.extend(entries.flatten().map(|e| e.path())),
                Err(_) => eprintln!("SKIPPED {dir}: not present"),
            }
        }
        let mut lines = 0;
        for f in files {
            let Ok(text) = std::fs::read(&f) else {
                continue;
            };
            if f.extension().is_some_and(|e| e == "gz") {
                continue;
            }
            for line in String::from_utf8_lossy(&text).lines() {
                if let Some(i) = line.find('{') {
                    both_paths_agree(&line[i..]);
                    lines += 1;
                }
            }
        }
        assert!(lines > 100, "only {lines} lines compared");
    }

    /// A record whose `key` holds `levels` nested lists.
    fn nested(key: &str, levels: usize) -> String {
        format!(
            r#"{{"event_type":"x","time":"2026-01-01T00:00:00Z","{key}":{}{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    }

    #[test]
    fn the_scanner_agrees_with_serde_on_unusual_and_broken_records() {
        let t = r#""time":"2013-06-09T06:28:13Z""#;
        let request = r#""{\"POST\": {}, \"GET\": {}}""#;
        let mut records = vec![
            format!(r#" {{ "event_type" : "x" ,{t} , "agent":"a" }} "#),
            format!("{{\n\"event_type\":\"x\",\r\n{t}\t}}\n"),
            format!(r#"{{"event_type":"x",{t},"agent":"a	b"}}"#),
            format!(r#"{{"event_type":"x",{t},"other":"a	b"}}"#),
            format!(r#"{{"event\u005ftype":"x",{t}}}"#),
            format!(r#"{{"event_type":"x",{t},"other":{{"a":[1,2,{{}}]}},"more":-1.5e3}}"#),
            format!(r#"{{"event_type":"x",{t},"other":01}}"#),
            format!(r#"{{"event_type":"x",{t},"other":tru}}"#),
            format!(r#"{{"event_type":"x",{t},"session":nul}}"#),
            format!(r#"{{"event_type":"x",{t}}} x"#),
            format!(r#"{{"event_type":"x",{t},}}"#),
            format!(r#"{{"event_type":"x",{t}"#),
            format!(r#"{{"event_type":"x" {t}}}"#),
            format!(r#"{{"event_type":"x",{t},"event":{request}}}"#),
            format!(r#"{{"event_type":"x",{t},"event":{request} }}"#),
            format!(r#"{{"event_type":"x",{t},"event":{request}x}}"#),
            format!(r#"{{"event_type":"x",{t},"data":{request},"event":null}}"#),
            format!(r#"{{"event_type":"x",{t},"agent":"a\"b\\","ip":"1.2.3.4"}}"#),
            format!(r#"{{"event_type":"x",{t},"agent":"a\u00e9\ud83d\ude00"}}"#),
            format!(r#"{{"event_type":"x",{t},"agent":"a\x"}}"#),
            format!(r#"{{"event_type":"x",{t},"agent":"é ü 日本"}}"#),
            format!(r#"{{"event_type":"x",{t},"Event_type":"y","event_type":"z"}}"#),
            format!(r#"{{"event_type":"x","time":1370759293,"page":[1,"a"],"host":{{"h":1}}}}"#),
            format!(
                r#"{{"event_type":"x",{t},"context":{{"course_id":"c","module":{{"display_name":"d"}}}}}}"#
            ),
            format!(r#"{{"event_type":"x",{t},"context":"{{\"course_id\":\"c\"}}"}}"#),
            format!(r#"{{"ev	ent_type":"x",{t}}}"#),
            "{}".to_string(),
            "{".to_string(),
            "".to_string(),
            "[]".to_string(),
        ];
        // Around serde_json's nesting limit of 128 (the record is one level).
        for key in ["context", "event", "ip", "other"] {
            for levels in [99, 100, 101, 126, 127, 128, 129] {
                records.push(nested(key, levels));
            }
        }
        for record in &records {
            both_paths_agree(record);
        }
        // Every prefix of real-looking records: truncated lines are the commonest damage.
        let sample = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/sample.log"
        ))
        .unwrap();
        let mut prefixes = 0;
        for line in sample.lines().step_by(7).take(40) {
            for (cut, _) in line.char_indices() {
                both_paths_agree(&line[..cut]);
                prefixes += 1;
            }
        }
        assert!(prefixes > 5_000, "only {prefixes} prefixes compared");
    }

    #[test]
    fn the_empty_request_is_shared_and_equals_the_parsed_string() {
        let record = |member: &str, event: &str| {
            format!(
                r#"{{"event_type":"/courses/x","time":"2013-06-09T06:28:13Z","{member}":{}}}"#,
                serde_json::to_string(event).unwrap()
            )
        };
        for member in ["event", "data"] {
            let line = record(member, EMPTY_REQUEST_TEXT);
            let e = TrackingEvent::parse(&line).unwrap();
            assert!(
                matches!(e.event, EventPayload::Object(Cow::Borrowed(_))),
                "{line}"
            );
            let general = TrackingEvent::parse_value(&line).unwrap();
            assert!(matches!(
                general.event,
                EventPayload::Object(Cow::Borrowed(_))
            ));
            let m = e.event.as_object().unwrap();
            assert_eq!(m.len(), 2);
            assert_eq!(m["POST"], Value::Object(Map::new()));
            assert_eq!(m["GET"], Value::Object(Map::new()));
            both_paths_agree(&line);
        }
        // Anything else is parsed as before.
        for other in [
            r#"{"POST": {}, "GET": {"page": "2"}}"#,
            r#"{"POST":{},"GET":{}}"#,
            r#" {"POST": {}, "GET": {}}"#,
        ] {
            let line = record("event", other);
            let e = TrackingEvent::parse(&line).unwrap();
            assert!(
                matches!(e.event, EventPayload::Object(Cow::Owned(_))),
                "{line}"
            );
            both_paths_agree(&line);
        }
        // Given as an object, not a string, it is an object like any other.
        let line =
            r#"{"event_type":"x","time":"2013-06-09T06:28:13Z","event":{"POST":{},"GET":{}}}"#;
        assert!(matches!(
            TrackingEvent::parse(line).unwrap().event,
            EventPayload::Object(Cow::Owned(_))
        ));
        both_paths_agree(line);
    }

    #[test]
    fn over_escaped_event_strings_are_repaired() {
        let line = r#"{"event_type":"seq_goto","time":"2013-06-08T23:29:58.346222","event":"{\\"old\\":2,\\"new\\":1}"}"#;
        let e = TrackingEvent::parse(line).unwrap();
        assert_eq!(e.event.as_object().unwrap()["old"], Value::from(2));
    }

    #[test]
    fn wrong_types_are_tolerated_and_non_events_rejected() {
        let e = TrackingEvent::parse(
            r#"{"event_type":"x","time":"2013-06-09T06:28:13Z","username":42,"session":true,"event":7}"#,
        )
        .unwrap();
        assert_eq!(e.username(), Some("42"));
        assert_eq!(e.session(), "true");
        assert_eq!(e.event, EventPayload::Scalar(Value::from(7)));

        for bad in [
            r#"{"username":"a","time":"2013-06-09T06:28:13Z"}"#,
            r#"[1,2]"#,
            r#"{"event_type":"x"}"#,
            r#"{"event_type":"x","time":"yesterday"}"#,
            r#"{"event_type":"x","time":"2013"#,
        ] {
            assert!(TrackingEvent::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_url_hides_every_form_past_the_checks_that_rule_urls_out() {
        // Each kind rules most URLs out before its regular expressions run: a URL of every form
        // must get past them.
        let mut urls: Vec<String> = [
            "/u/alice_w",
            "https://apps.example.org/discussions/course-v1:O+C+R/learners/alice_w/posts",
            "/api/user/v1/accounts/alice_w",
            "/api/profile_images/v1/alice_w/upload",
            "/api/mobile/v0.5/users/alice_w/course_enrollments/",
            "/api/discussion/v1/threads/?author=alice_w",
            "https://apps.example.org/discussions/course-v1:O+C+R/posts?author=alice_w",
            "/api/enrollment/v1/enrollment?user=alice_w",
            "/courses/O/C/R/instructor/api/x?unique_student_identifier=alice_w",
            "/courses/course-v1:O+C+R/progress/42/",
            "/certificates/user/42/course/x",
            "/api/user/v1/accounts?email=alice%40example.org",
            "mailto:alice@example.org",
        ]
        .map(String::from)
        .into();
        for path in url_credentials::SECRET_PATHS {
            urls.push(format!("https://lms.example.org{path}k3y"));
            urls.push(format!("/authn{}k3y", path.to_uppercase()));
        }
        for name in [
            "code",
            "STATE",
            "Access_Token",
            "client_secret",
            "X-Amz-Signature",
            "oauth_verifier",
            "SAMLResponse",
            "ticket",
            "jwt",
            "sig",
            "password",
            "api_key",
            "Key-Pair-Id",
            "policy",
        ] {
            urls.push(format!("/p?{name}=v"));
            urls.push(format!("/login?next=%2Fp%3F{name}%3Dv"));
        }
        for url in &urls {
            assert_ne!(public_url(url), url.as_str(), "{url} holds what is hidden");
        }
        for url in [
            "https://courses.example.org/courses/course-v1:O+C+R/courseware/c1/s2/1",
            "problem_check",
            "",
        ] {
            assert!(matches!(public_url(url), Cow::Borrowed(_)), "{url}");
        }
    }
}
