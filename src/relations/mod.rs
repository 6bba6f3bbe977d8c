//! Relations stage: json_to_relation's intermediary tables from one parsed event.
//!
//! The column mapping of `EdxTrackEvent` lives in [`edx_track_event`]; this module fills the
//! common fields (`shared/spec/legacy-pipeline.md` §3.8), applies the legacy rules for heartbeats and
//! path-style event types, and writes the `LoadInfo` and private `EventIp` rows.

pub mod countries;
pub mod edx_track_event;
pub mod geoip;
pub mod handlers;

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use chrono::NaiveDateTime;
use isocountry::CountryCode;
use serde_json::Value;

pub use edx_track_event::{Cell, EdxTrackEventRow, col};
pub use geoip::GeoIp;
use handlers::SideRows;

use crate::error::LoadError;
use crate::fingerprint::{DenseFingerprintMap, Fingerprint};
use crate::identity::{AnonDigest, AnonName, LineIdentity, RowId, RowKind};
use crate::parse::{EventPayload, TrackingEvent, quarter};
use crate::schema::{EventIpRow, LoadInfoRow};
use crate::sink::Rows;
use crate::text_cache::TextCache;

/// Gap after which an IP's next event marks server downtime (json_to_relation's
/// `EDX_HEARTBEAT_PERIOD`, 360 s).
const HEARTBEAT_PERIOD_SECONDS: i64 = 360;

/// One written `EdxTrackEvent` row as qpipe read it: its columns, with `Answer.answer` and
/// `CorrectMap.answer_identifier`/`correctness` joined in. Borrowed from the relations
/// stage's [`RelationsOutcome`].
#[derive(Debug, Clone, Default)]
pub struct TrackRow<'a> {
    /// `_id`.
    pub id: Option<RowId>,
    /// `page`.
    pub page: &'a str,
    /// `problem_id`.
    pub problem_id: &'a str,
    /// `CorrectMap.answer_identifier` of the row's `correctMap_fk`.
    pub answer_identifier: &'a str,
    /// `CorrectMap.correctness` of the row's `correctMap_fk`.
    pub correctness: &'a str,
    /// `Answer.answer` of the row's `answer_fk`.
    pub answer: &'a str,
    /// `video_id`.
    pub video_id: &'a str,
    /// `video_code`.
    pub video_code: &'a str,
    /// `transcript_id`.
    pub transcript_id: &'a str,
    /// `transcript_code`.
    pub transcript_code: &'a str,
    /// `question_location`.
    pub question_location: &'a str,
    /// `goto_dest` (unset: `None`).
    pub goto_dest: Option<i64>,
    /// `attempts` (unset: `None`).
    pub attempts: Option<i64>,
    /// `resource_display_name`.
    pub resource_display_name: &'a str,
}

/// What the relations stage made of one event, for the MOOCdb stage. It holds the rows
/// written, which borrow from the event, so the MOOCdb stage reads them without copies.
#[derive(Debug, Clone)]
pub struct RelationsOutcome<'e> {
    /// `anon_screen_name` of the event's user.
    pub anon_screen_name: AnonName,
    /// The fingerprint of `anon_screen_name`, made once per user: the MOOCdb stage finds the
    /// user's record by it.
    pub anon_key: Fingerprint,
    /// The `EdxTrackEvent.event_type` written (after the legacy path rewrites).
    pub event_type: &'e str,
    /// `ip_country` written.
    pub ip_country: &'static str,
    /// Number of `EdxTrackEvent` rows written (0 for dropped heartbeats and pings).
    pub track_event_rows: u32,
    /// Why no `EdxTrackEvent` row was written, when none was.
    pub not_stored: Option<&'static str>,
    /// The `EdxTrackEvent` rows written.
    track_rows: Vec<EdxTrackEventRow<'e>>,
    /// `Answer` rows written for this event: id and answer text.
    answer_texts: Vec<(RowId, String)>,
    /// `CorrectMap` rows written for this event: id, answer identifier and correctness.
    correctness: Vec<(RowId, String, String)>,
}

impl RelationsOutcome<'_> {
    /// The `EdxTrackEvent` rows written, as the MOOCdb stage reads them.
    pub fn rows(&self) -> impl Iterator<Item = TrackRow<'_>> {
        self.track_rows
            .iter()
            .map(|r| track_row(r, &self.answer_texts, &self.correctness))
    }
}

/// Reason recorded for `/` pings, which json_to_relation never stored.
pub const PING: &str = "server ping `/` (json_to_relation stores none)";
/// Reason recorded for heartbeats json_to_relation drops.
pub const REPEATED_HEARTBEAT: &str =
    "repeated /heartbeat (json_to_relation keeps an IP's first one and those after downtime)";

/// Builds intermediary rows; keeps the per-IP state that heartbeat filtering needs.
///
/// The texts rows share (a user's hash, a country) are `Rc`, not `Arc`: the builder lives on
/// the transform thread alone, and the atomic counts of `Arc` took about 4% of a one-core dry
/// run, with the MOOCdb stage's.
pub struct RelationBuilder {
    load_info_id: Rc<str>,
    // One entry per IP, not one per IP in each of three maps: memory grows with the IPs.
    // Keyed by fingerprint, the IP not compared (see `crate::fingerprint`).
    ips: DenseFingerprintMap<IpRecord>,
    geoip: GeoIp,
    /// Usernames' hashes, which do not depend on the course: one cache for every course
    /// database of a split (see [`RelationBuilder::share_anon_names`]).
    anon_names: Rc<RefCell<TextCache<AnonDigest>>>,
    // `org_course_run` of the texts events repeat (pages, page views' types): finding the course
    // in a 100-byte URL took about 1,300 instructions, for three events in four. Shared, not
    // copied, into the rows.
    course_ids: TextCache<Option<Rc<str>>>,
    /// The latest event's month, year and quarter (`fall2013`): events come in time order, so it
    /// is nearly always the next event's too.
    quarter: Option<(u32, i32, Rc<str>)>,
}

/// What the builder remembers of one IP: 32 bytes, with no text of its own for an IPv4 address
/// (each course database of a split keeps a record per IP it sees).
#[derive(Debug)]
struct IpRecord {
    /// The IP, as the log writes it.
    ip: IpText,
    /// The time of the IP's latest event, for heartbeat filtering; carried between files.
    /// `NaiveDateTime::MIN`: none yet (an `Option` would take 4 more bytes, 8 with alignment).
    last_seen: NaiveDateTime,
    /// `last_seen` changed since the last [`RelationBuilder::clear_changed_ips`].
    changed: bool,
    /// The IP's country (`None` inside: none known), once looked up. One byte.
    country: Option<Option<CountryCode>>,
}

/// An IP as the log writes it: an IPv4 address in its usual form as its four bytes, any other
/// text (IPv6, a proxy's list) boxed. 16 bytes, where a `Box<str>` takes 16 and its text 16 more.
#[derive(Debug)]
enum IpText {
    V4([u8; 4]),
    // A thin pointer: with a `String` (24 bytes) or a `Box<str>` (16) the enum would be larger.
    #[allow(clippy::box_collection)]
    Other(Box<String>),
}

impl IpText {
    fn new(ip: &str) -> IpText {
        match ip.parse::<std::net::Ipv4Addr>() {
            // Kept as bytes only where they give back the same text.
            Ok(v4) if v4.to_string() == ip => IpText::V4(v4.octets()),
            _ => IpText::Other(Box::new(ip.to_string())),
        }
    }

    fn text(&self) -> Cow<'_, str> {
        match self {
            IpText::V4(octets) => Cow::Owned(std::net::Ipv4Addr::from(*octets).to_string()),
            IpText::Other(text) => Cow::Borrowed(text),
        }
    }
}

/// Usernames whose hash is kept before the cache starts over.
const ANON_CACHE_LIMIT: usize = 200_000;

impl RelationBuilder {
    /// A builder whose rows point to the `LoadInfo` row `load_info_id`, continuing from the
    /// IPs' latest event times that earlier loads left.
    pub fn new(load_info_id: String, geoip: GeoIp, ips: Vec<(String, NaiveDateTime)>) -> Self {
        RelationBuilder {
            load_info_id: load_info_id.into(),
            ips: ips
                .into_iter()
                .map(|(ip, at)| {
                    let record = IpRecord {
                        last_seen: at,
                        ..IpRecord::new(&ip)
                    };
                    (Fingerprint::of(&ip), record)
                })
                .collect(),
            geoip,
            anon_names: Rc::new(RefCell::new(TextCache::new(ANON_CACHE_LIMIT))),
            course_ids: TextCache::new(COURSE_IDS_LIMIT),
            quarter: None,
        }
    }

    /// The IPs whose latest event time changed since the last
    /// [`clear_changed_ips`](Self::clear_changed_ips), with that time, in IP order. Borrowed
    /// where the record holds the text (a long log's file ends with tens of thousands of them);
    /// an IPv4 address is written out.
    pub fn changed_ips(&self) -> Vec<(Cow<'_, str>, NaiveDateTime)> {
        let mut ips: Vec<_> = (self.ips.values())
            .filter(|record| record.changed)
            .filter(|record| record.last_seen != NaiveDateTime::MIN)
            .map(|record| (record.ip.text(), record.last_seen))
            .collect();
        ips.sort_unstable();
        ips
    }

    /// Marks the IPs' latest event times as carried (stored, or not needed in a dry run).
    pub fn clear_changed_ips(&mut self) {
        for record in self.ips.values_mut() {
            record.changed = false;
        }
    }

    /// Switches to the next input file's `LoadInfo` row.
    pub fn set_load_info(&mut self, load_info_id: String) {
        self.load_info_id = load_info_id.into();
    }

    /// Writes the `LoadInfo` row of one input file.
    pub fn write_load_info(
        rows: &mut Rows,
        load_info_id: &str,
        loaded_at: &NaiveDateTime,
        uri: &str,
    ) -> Result<(), LoadError> {
        rows.push(&LoadInfoRow {
            load_info_id,
            load_date_time: loaded_at,
            load_file: uri,
        })
    }

    /// Shares `other`'s cache of usernames' hashes. A split's course databases each have a
    /// builder, and a learner of several courses had a copy in each: at the peak of the bench's
    /// 5M-event, 100-course split the caches held 27.4 MB, one shared cache 5.4 MB (`heaptrack`).
    pub fn share_anon_names(&mut self, other: &RelationBuilder) {
        self.anon_names = Rc::clone(&other.anon_names);
    }

    // Hashing a username costs more than looking it up; the cache is bounded by the users.
    // It keeps the 20-byte digest, not the digits and their fingerprint (twice the memory per
    // user); writing them out again is a small part of an event's work.
    fn anon_name_of(&mut self, username: &str) -> (AnonName, Fingerprint) {
        keyed(
            self.anon_names
                .borrow_mut()
                .get_or_derive(username, AnonDigest::of_username)
                .name(),
        )
    }

    /// Writes the rows of one event and reports what the MOOCdb stage needs.
    pub fn add_event<'e>(
        &mut self,
        rows: &mut Rows,
        event: &'e TrackingEvent,
        identity: &LineIdentity,
    ) -> Result<RelationsOutcome<'e>, LoadError> {
        let row_id = identity.id(RowKind::TrackEventRow, 0);
        let ip = event.ip().unwrap_or("");
        let (anon, anon_key) = match (event.event_type(), &event.event) {
            ("/login_ajax", EventPayload::Object(m)) => login_email(m)
                .map(|email| keyed(AnonName::of_bytes(email.as_bytes())))
                .unwrap_or_else(|| self.anon_name_of(event.username().unwrap_or(""))),
            _ => self.anon_name_of(event.username().unwrap_or("")),
        };
        // The private IP row exists for every event, as in json_to_relation.
        rows.push(&EventIpRow {
            event_table_id: &row_id,
            event_ip: ip,
        })?;
        let event_type = legacy_event_type(event.event_type());
        // Types the legacy code rewrote end the row after the common fields, without the
        // downtime check.
        let finished = event_type != event.event_type();
        let (ip_country, downtime) = self.visit_ip(ip, (!finished).then_some(&event.time));
        let outcome = |n, not_stored| RelationsOutcome {
            anon_screen_name: anon,
            anon_key,
            event_type,
            ip_country,
            track_event_rows: n,
            not_stored,
            track_rows: Vec::new(),
            answer_texts: Vec::new(),
            correctness: Vec::new(),
        };
        if event_type == "/" {
            return Ok(outcome(0, Some(PING)));
        }
        if event_type.ends_with("/heartbeat") && downtime.is_none() {
            return Ok(outcome(0, Some(REPEATED_HEARTBEAT)));
        }

        let (course_id, mut course_display_name) = legacy_course_ids(event, &mut self.course_ids);
        // Borrowed from the event's `context`, not copied.
        let mut organization = Cell::Default;
        let mut resource_display_name = Cell::Default;
        if let Some(ctx) = &event.context {
            let text =
                |v: Option<&'e Value>| v.and_then(Value::as_str).map_or(Cell::Default, Cell::Text);
            // As json_to_relation: a context decides the display name, even when it has none.
            course_display_name = text(ctx.get("course_id"));
            organization = text(ctx.get("org_id"));
            resource_display_name = text(ctx.get("module").and_then(|m| m.get("display_name")));
        }
        let quarter = self.quarter_of(&event.time);

        let event_id = identity.id(RowKind::Event, 0);
        let mut row = EdxTrackEventRow::default();
        row.set(col::_id, Cell::Id(row_id));
        row.set(col::event_id, Cell::Id(event_id));
        row.text(col::agent, event.agent());
        row.text(col::event_source, event.event_source());
        row.text(col::event_type, event_type);
        row.set(col::ip_country, Cell::Text(ip_country));
        row.text(col::page, event.page());
        row.text(col::session, event.session());
        row.set(col::time, Cell::Time(event.time));
        row.set(col::quarter, Cell::Shared(quarter));
        row.set(col::anon_screen_name, Cell::Anon(anon));
        if let Some(d) = downtime {
            row.set(col::downtime_for, Cell::Owned(d));
        }
        row.set(col::course_id, course_id);
        row.set(col::course_display_name, course_display_name);
        row.set(col::resource_display_name, resource_display_name);
        row.set(col::organization, organization);
        // An `event` string that should have been JSON but is not (edX truncates implicit events
        // at 512 characters) is kept whole, as json_to_relation's `badly_formatted` intended.
        if let EventPayload::Text(text) = &event.event
            && (text.starts_with('{') || text.starts_with('['))
            && event_type != "problem_graded"
        {
            row.text(col::badly_formatted, text);
        }
        row.set(col::load_info_fk, Cell::Shared(self.load_info_id.clone()));

        let mut side = SideRows::new(rows, *identity);
        let mut track_rows = if finished {
            vec![row]
        } else {
            handlers::apply(event, event_type, &anon, row, &mut side)?
        };
        let (answer_texts, correctness) = (
            std::mem::take(&mut side.answer_texts),
            std::mem::take(&mut side.correctness),
        );
        let n = track_rows.len() as u32;
        for (i, r) in track_rows.iter_mut().enumerate() {
            if i > 0 {
                r.set(
                    col::_id,
                    Cell::Id(identity.id(RowKind::TrackEventRow, i as u32)),
                );
            }
            rows.push(r)?;
        }
        let mut result = outcome(n, None);
        result.track_rows = track_rows;
        result.answer_texts = answer_texts;
        result.correctness = correctness;
        Ok(result)
    }

    // The quarter of an event at `time`: the latest event's, shared, when it is the same month.
    fn quarter_of(&mut self, time: &NaiveDateTime) -> Rc<str> {
        use chrono::Datelike;
        let (month, year) = (time.month(), time.year());
        match &self.quarter {
            Some((m, y, q)) if (*m, *y) == (month, year) => q.clone(),
            _ => {
                let q: Rc<str> = quarter(time).into();
                self.quarter = Some((month, year, q.clone()));
                q
            }
        }
    }

    // The IP's country and, for an event `at` a time, its `downtime_for` (the time becomes the
    // IP's latest). One look-up of the IP's record per event, where there were three; the
    // record (with its copy of the IP) is created on the IP's first event.
    fn visit_ip(&mut self, ip: &str, at: Option<&NaiveDateTime>) -> (&'static str, Option<String>) {
        if ip.is_empty() && at.is_none() {
            return ("", None);
        }
        let record = (self.ips).get_or_insert_with(Fingerprint::of(ip), || IpRecord::new(ip));
        record.visit(&self.geoip, ip, at)
    }
}

/// An anonymous name with the fingerprint the MOOCdb stage finds the user's record by.
fn keyed(anon: AnonName) -> (AnonName, Fingerprint) {
    (anon, Fingerprint::of_bytes(anon.as_bytes()))
}

impl IpRecord {
    fn new(ip: &str) -> IpRecord {
        IpRecord {
            ip: IpText::new(ip),
            last_seen: NaiveDateTime::MIN,
            changed: false,
            country: None,
        }
    }

    // See `RelationBuilder::visit_ip`. The downtime is json_to_relation's, keyed by the event's
    // IP: "0:00:00" for the IP's first event, the gap since the IP's previous event when it
    // exceeds the heartbeat period. The legacy test used `timedelta.seconds` (days dropped,
    // negative gaps reported as `-1 day, 23:59:…`); here the whole gap counts and a gap
    // backwards in time is no downtime.
    fn visit(
        &mut self,
        geoip: &GeoIp,
        ip: &str,
        at: Option<&NaiveDateTime>,
    ) -> (&'static str, Option<String>) {
        let country = if ip.is_empty() {
            ""
        } else {
            (self.country.get_or_insert_with(|| geoip.country_code(ip))).map_or("", |c| c.alpha3())
        };
        let downtime = at.and_then(|time| {
            self.changed = true;
            match std::mem::replace(&mut self.last_seen, *time) {
                NaiveDateTime::MIN => Some("0:00:00".to_string()),
                last => {
                    let gap = *time - last;
                    (gap.num_seconds() > HEARTBEAT_PERIOD_SECONDS).then(|| legacy_timedelta(gap))
                }
            }
        });
        (country, downtime)
    }
}

fn track_row<'a>(
    r: &'a EdxTrackEventRow<'_>,
    answers: &'a [(RowId, String)],
    maps: &'a [(RowId, String, String)],
) -> TrackRow<'a> {
    let answer = r
        .id_of(col::answer_fk)
        .and_then(|id| answers.iter().find(|(a, _)| *a == id))
        .map_or("", |(_, text)| text.as_str());
    let (answer_identifier, correctness) = r
        .id_of(col::correctMap_fk)
        .and_then(|id| maps.iter().find(|(m, _, _)| *m == id))
        .map_or(("", ""), |(_, ident, c)| (ident.as_str(), c.as_str()));
    TrackRow {
        id: r.id_of(col::_id),
        page: r.str_of(col::page),
        problem_id: r.str_of(col::problem_id),
        answer_identifier,
        correctness,
        answer,
        video_id: r.str_of(col::video_id),
        video_code: r.str_of(col::video_code),
        transcript_id: r.str_of(col::transcript_id),
        transcript_code: r.str_of(col::transcript_code),
        question_location: r.str_of(col::question_location),
        goto_dest: r.int_of(col::goto_dest),
        attempts: r.int_of(col::attempts),
        resource_display_name: r.str_of(col::resource_display_name),
    }
}

/// Python's `str(timedelta)` of a non-negative gap: `H:MM:SS[.ffffff]`, or `N day(s), …`.
fn legacy_timedelta(gap: chrono::TimeDelta) -> String {
    let micros = gap.num_microseconds().unwrap_or(i64::MAX).max(0);
    let seconds = micros / 1_000_000;
    let fraction = micros % 1_000_000;
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Most events after a pause get one: written without `format!`.
    let mut out = String::with_capacity(32);
    let mut number = itoa::Buffer::new();
    match days {
        0 => {}
        1 => out.push_str("1 day, "),
        d => {
            out.push_str(number.format(d));
            out.push_str(" days, ");
        }
    }
    out.push_str(number.format(rest / 3600));
    let two_digits = |out: &mut String, v: i64| {
        out.push(':');
        out.push(char::from(b'0' + (v / 10) as u8));
        out.push(char::from(b'0' + (v % 10) as u8));
    };
    two_digits(&mut out, rest % 3600 / 60);
    two_digits(&mut out, rest % 60);
    if fraction > 0 {
        let digits = number.format(fraction);
        out.push('.');
        out.extend(std::iter::repeat_n('0', 6 - digits.len()));
        out.push_str(digits);
    }
    out
}

fn login_email(event: &serde_json::Map<String, Value>) -> Option<String> {
    match event.get("POST")?.get("email")? {
        Value::Array(list) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The legacy rewrites of path-style event types that end the row after the common fields.
pub fn legacy_event_type(event_type: &str) -> &str {
    if event_type.starts_with('/') && event_type.trim_end_matches('/').ends_with("/about") {
        "about"
    } else if event_type.starts_with("/password_reset_confirm") {
        "password_reset_confirm"
    } else if event_type == "/networking/" {
        "networking"
    } else {
        event_type
    }
}

/// `Org/Course/Run` from a URL or path containing `/courses/Org/Course/Run/…` or a
/// `course-v1:Org+Course+Run` key.
pub fn org_course_run(s: &str) -> Option<String> {
    // Called for most events: searchers built once, not per call as `str::find` does.
    static COURSE_V1: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("course-v1:"));
    static COURSES: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("courses/"));
    if let Some(i) = COURSE_V1.find(s.as_bytes()) {
        let key = &s[i + "course-v1:".len()..];
        let key = key.split(['/', '?', '#', ' ']).next().unwrap_or("");
        let parts: Vec<_> = key.split('+').collect();
        if parts.len() >= 3 {
            return Some(parts[..3].join("/"));
        }
    }
    let i = COURSES.find(s.as_bytes())?;
    let parts: Vec<_> = s[i + "courses/".len()..]
        .split('/')
        .filter(|p| !p.is_empty())
        .take(3)
        .collect();
    (parts.len() == 3).then(|| parts.join("/"))
}

/// Texts whose course id is remembered before the cache starts over.
const COURSE_IDS_LIMIT: usize = 100_000;

/// json_to_relation's `get_course_id`: `(course_id, course_display_name)` of an event without
/// `context` (a `context` overrides the display name).
// The course id is often the event's own text (its page or type): borrowed then, not copied.
fn legacy_course_ids<'e>(
    event: &'e TrackingEvent,
    ids: &mut TextCache<Option<Rc<str>>>,
) -> (Cell<'e>, Cell<'e>) {
    let mut course_of =
        |text: &str| match ids.get_or_derive(text, |t| org_course_run(t).map(Rc::from)) {
            Some(id) => Cell::Shared(id),
            None => Cell::Default,
        };
    let et = event.event_type();
    if et == "/dashboard" || et.ends_with("/heartbeat") {
        return (Cell::Default, Cell::Default);
    }
    if event.event_source() == "browser" {
        return (Cell::Text(event.page()), course_of(event.page()));
    }
    if et == "/accounts/login" {
        let next = event
            .event
            .as_object()
            .and_then(|m| m.get("GET"))
            .and_then(|g| g.get("next"))
            .and_then(|n| match n {
                Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        // As json_to_relation: the dashboard is no course.
        if next == "/dashboard" {
            return (Cell::Default, Cell::Default);
        }
        let display = org_course_run(&next).map_or(Cell::Default, Cell::Owned);
        let next = crate::parse::public_url(&next).into_owned();
        return (Cell::Owned(next), display);
    }
    if et.starts_with("/courses") {
        return (course_of(et), Cell::Default);
    }
    if et.contains("problem_") {
        return (
            Cell::Owned(handlers::course_from_problem_event(&event.event)),
            Cell::Default,
        );
    }
    let display = if et.contains("courses") {
        course_of(et)
    } else {
        Cell::Default
    };
    (Cell::Text(et), display)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timedelta_strings_match_python() {
        let s = chrono::TimeDelta::seconds;
        assert_eq!(legacy_timedelta(s(0)), "0:00:00");
        assert_eq!(legacy_timedelta(s(432)), "0:07:12");
        assert_eq!(legacy_timedelta(s(86_400 + 3723)), "1 day, 1:02:03");
        assert_eq!(legacy_timedelta(s(3 * 86_400)), "3 days, 0:00:00");
        assert_eq!(
            legacy_timedelta(s(3725) + chrono::TimeDelta::microseconds(222)),
            "1:02:05.000222"
        );
    }

    #[test]
    fn course_keys_in_all_forms() {
        assert_eq!(
            org_course_run(
                "https://x.org/courses/Medicine/HRP258/Statistics_in_Medicine/courseware/a/"
            ),
            Some("Medicine/HRP258/Statistics_in_Medicine".into())
        );
        assert_eq!(
            org_course_run("/courses/course-v1:DemoX+Loader201+2026_T1/courseware/"),
            Some("DemoX/Loader201/2026_T1".into())
        );
        assert_eq!(org_course_run("/dashboard"), None);
        // A key of two parts falls back to the path; a path of two parts is no course.
        assert_eq!(
            org_course_run("/courses/course-v1:A+B/x//y?z"),
            Some("course-v1:A+B/x/y?z".into())
        );
        assert_eq!(org_course_run("course-v1:A+B+C+D#x"), Some("A/B/C".into()));
        assert_eq!(org_course_run("/courses/A/B"), None);
        // A key later in the text wins over an earlier path; only the first key and the first
        // path are looked at.
        assert_eq!(
            org_course_run("/courses/x/y/z/jump/course-v1:A+B+C"),
            Some("A/B/C".into())
        );
        assert_eq!(
            org_course_run("/courses/A/B/C/x/courses/D/E/F"),
            Some("A/B/C".into())
        );
        assert_eq!(
            org_course_run("course-v1:A+B/courses/D/E/F/course-v1:G+H+I"),
            Some("D/E/F".into())
        );
        assert_eq!(org_course_run("coursecourses/A/B/C"), Some("A/B/C".into()));
        assert_eq!(org_course_run("course-v1:+++"), Some("//".into()));
    }

    #[test]
    fn an_ip_record_is_small_and_keeps_the_ip_as_logged() {
        assert!(std::mem::size_of::<IpRecord>() <= 32);
        for ip in [
            "192.0.2.1",
            "0.0.0.0",
            "255.255.255.255",
            // Not kept as bytes: they would not give back the same text.
            "192.0.2.01",
            "192.000.2.1",
            " 192.0.2.1",
            "2001:DB8::1",
            "::ffff:192.0.2.1",
            "192.0.2.1, 10.0.0.1",
            "",
        ] {
            assert_eq!(IpText::new(ip).text(), ip);
        }
        assert!(matches!(IpText::new("203.0.113.9"), IpText::V4(_)));
        assert!(matches!(IpText::new("192.0.2.01"), IpText::Other(_)));
    }

    #[test]
    fn path_style_types_are_rewritten() {
        assert_eq!(
            legacy_event_type("/courses/Medicine/HRP258/Statistics_in_Medicine/about"),
            "about"
        );
        assert_eq!(
            legacy_event_type("/password_reset_confirm/abc-123/"),
            "password_reset_confirm"
        );
        assert_eq!(legacy_event_type("/networking/"), "networking");
        assert_eq!(legacy_event_type("play_video"), "play_video");
    }
}

#[cfg(test)]
mod handler_tests {
    include!("tests.rs");
}
