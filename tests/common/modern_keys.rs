//! A legacy edX tracking log respelled as Open edX logs the same events since its opaque keys
//! (2014–2015 on): the second input of the metamorphic test `tests/modern_keys.rs`, which loads
//! both logs and expects the same MOOCdb tables.
//!
//! The respelling follows edx-opaque-keys' correspondence, which the loader reverses
//! (`src/moocdb/course_key.rs`): `Org/Course/Run` ≡ `course-v1:Org+Course+Run` and
//! `i4x://Org/Course/category/name` ≡ `block-v1:Org+Course+Run+type@category+block@name`.
//!
//! # What is rewritten
//!
//! In every JSON string of an event — members and keys, at any depth, and inside strings that
//! themselves hold JSON (the `event` of browser and implicit events, which is often a string
//! holding an object, a list or another string), which are respelled inside and encoded again:
//!
//! * **course paths** `/courses/Org/Course/Run…` (in `page`, `referer`, path-style `event_type`s,
//!   `context.path`, links inside HTML, anywhere) → `/courses/course-v1:Org+Course+Run…`;
//! * **course ids**: a string that is exactly a course of the log's [`CourseCatalog`]
//!   (`context.course_id`, `event.course`, a form's `course_id` list, …) →
//!   `course-v1:Org+Course+Run`;
//! * **module URLs** `…/modx/i4x://Org/Course/category/name/<action>` →
//!   `…/xblock/block-v1:Org+Course+Run+type@category+block@name/handler/xmodule_handler/<action>`;
//! * **module locations** `i4x://Org/Course/category/name` (`problem_id`, `location`, a
//!   sequence's `id`, `jump_to/…`, Studio paths, …) →
//!   `block-v1:Org+Course+Run+type@category+block@name`;
//! * in the event payload (the `event` member) only, **inline ids** of the event's own course,
//!   which Open edX logs without their course: `i4x-Org-Course-video-name` and
//!   `i4x-Org-Course-videoalpha-name` (video `id`s) → the bare block id `name`;
//!   `input_i4x-Org-Course-problem-<id>_2_1` → `input_<id>_2_1` and
//!   `i4x-Org-Course-problem-<id>_2_1` → `<id>_2_1` (keys of `answers`, `correct_map`,
//!   `state.student_answers`, `input_state`, a path-style `problem_check`'s form, the query
//!   strings of browser `problem_check` / `problem_graded`, the ids in their HTML).
//!
//! The run of a module location is its event's course's when the organisation and course match,
//! else the only run of that course in the log's [`CourseCatalog`].
//!
//! **The event's course** is found as the loader finds it: `context.course_id`, else the page
//! when it names a course, else a path-style event type. An event with no `context` whose
//! course none of these names (the legacy server events of problems, logged with the page
//! `x_module`) gets `"context": {"course_id": "course-v1:…"}` appended, the course being that
//! of its first module (`i4x://Org/Course/…` or `i4x-Org-Course-…`) whose run the catalog
//! knows: Open edX logs the course in the context of every course event, and the inline ids it
//! logs without their course could not be resolved otherwise.
//!
//! # What is left as logged
//!
//! * Everything that is not a string: key order, spacing, numbers, `null`s, and every string
//!   that needs no respelling, byte for byte (a respelled string is encoded again by
//!   `serde_json`, so its escapes may change: `\/` → `/`, `\u00e9` → `é`).
//! * Modules whose run is unknown (an organisation and course the log names in no course path
//!   or course id, or names with several runs, e.g. Studio's `i4x://edx/templates/…`), inline
//!   ids of another course than the event's, and inline ids of events whose course is unknown:
//!   legacy spellings the loader still reads.
//! * Inline ids of other categories (discussion ids `i4x-Org-Course-course-…`), and inline ids
//!   outside the event payload.
//! * Static asset paths `/c4x/Org/Course/asset/…` (Open edX's `asset-v1:` keys are not asked
//!   of this respelling).
//! * Lines that are not JSON objects (after a prefix such as `tracking.log-20130722.gz:`, which
//!   is kept): if they hold no `{` they are kept as they are; otherwise their text as a whole
//!   gets the rewrites above that need no structure (course paths, module URLs and locations,
//!   inline ids), with the first course path on the line as the event's course — these are
//!   damaged events the loader repairs (over-escaped `\\"` quotes), which must not keep legacy
//!   pages among modern ones.
//!
//! Deterministic: the result depends on the log's text alone.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::{Map, Value};

/// One part of a course or module key: edx-opaque-keys' characters, and `%` of URL-encoded ones.
const KEY_PART: &str = r"[A-Za-z0-9_.~%-]+";

/// `/courses/Org/Course/Run`, the run ending where the path segment ends.
static COURSE_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "/courses/(?P<org>{KEY_PART})/(?P<number>{KEY_PART})/(?P<run>{KEY_PART})"
    ))
    .unwrap()
});

/// A legacy module URL with its handler action, `/modx/i4x://Org/Course/category/name/action`.
static MODULE_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "/modx/i4x://(?P<org>{KEY_PART})/(?P<number>{KEY_PART})/(?P<category>{KEY_PART})/\
         (?P<name>{KEY_PART})/(?P<action>[A-Za-z0-9_]+)"
    ))
    .unwrap()
});

/// A module location, `i4x://Org/Course/category/name`.
static MODULE_LOCATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "i4x://(?P<org>{KEY_PART})/(?P<number>{KEY_PART})/(?P<category>{KEY_PART})/\
         (?P<name>{KEY_PART})"
    ))
    .unwrap()
});

/// The course part of an inline id of a problem input or a video, `i4x-Org-Course-category-`
/// (what Open edX no longer logs before the block id).
static INLINE_ID_COURSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"i4x-(?P<org>[A-Za-z0-9_.~%]+)-(?P<number>[A-Za-z0-9_.~%]+)-(?P<category>problem|videoalpha|video)-",
    )
    .unwrap()
});

/// The organisation and course of any module reference, `i4x://Org/Course/` or `i4x-Org-Course-`.
static MODULE_COURSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"i4x(?:://(?P<org>[A-Za-z0-9_.~%-]+)/(?P<number>[A-Za-z0-9_.~%-]+)/|-(?P<inline_org>[A-Za-z0-9_.~%]+)-(?P<inline_number>[A-Za-z0-9_.~%]+)-)")
        .unwrap()
});

/// A course in the legacy spelling, `Org/Course/Run`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Course {
    org: String,
    number: String,
    run: String,
}

impl Course {
    /// The course a text is, in the legacy spelling `Org/Course/Run` exactly.
    fn of_legacy_id(text: &str) -> Option<Course> {
        let part = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.~%-".contains(&b))
        };
        let mut parts = text.split('/');
        let (org, number, run) = (parts.next()?, parts.next()?, parts.next()?);
        (parts.next().is_none() && [org, number, run].into_iter().all(part)).then(|| Course {
            org: org.into(),
            number: number.into(),
            run: run.into(),
        })
    }

    /// The course of the first course path in a text (a page, a path-style event type).
    fn in_path(text: &str) -> Option<Course> {
        COURSE_PATH.captures(text).map(|c| Course {
            org: c["org"].into(),
            number: c["number"].into(),
            run: c["run"].into(),
        })
    }

    /// `course-v1:Org+Course+Run`.
    pub fn modern_id(&self) -> String {
        format!("course-v1:{}+{}+{}", self.org, self.number, self.run)
    }

    fn is_of(&self, org: &str, number: &str) -> bool {
        self.org == org && self.number == number
    }
}

/// Every course a log names, in course paths (`/courses/Org/Course/Run/…`) and as the value of
/// `course_id` and `course` members: the course ids to respell, and the run of a module named
/// without it (`i4x://Org/Course/…`) when the log has a single run of that course.
#[derive(Debug, Default)]
pub struct CourseCatalog {
    courses: BTreeSet<Course>,
}

impl CourseCatalog {
    /// The courses of a whole log.
    pub fn of_log(log: &str) -> CourseCatalog {
        let mut catalog = CourseCatalog::default();
        for line in log.lines() {
            match line.find('{').map(|start| parse_object(&line[start..])) {
                Some(Some(record)) => catalog.add_value(&Value::Object(record), None),
                _ => catalog.add_paths(line),
            }
        }
        catalog
    }

    fn add_paths(&mut self, text: &str) {
        for c in COURSE_PATH.captures_iter(text) {
            self.courses.insert(Course {
                org: c["org"].into(),
                number: c["number"].into(),
                run: c["run"].into(),
            });
        }
    }

    /// The courses of a value; `member` is the name of the member it is (or is a list in).
    fn add_value(&mut self, value: &Value, member: Option<&str>) {
        match value {
            Value::String(s) => {
                if let Some(embedded) = embedded_json(s) {
                    return self.add_value(&embedded, member);
                }
                self.add_paths(s);
                if matches!(member, Some("course_id" | "course"))
                    && let Some(course) = Course::of_legacy_id(s)
                {
                    self.courses.insert(course);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.add_value(v, member)),
            Value::Object(members) => {
                for (key, v) in members {
                    self.add_paths(key);
                    self.add_value(v, Some(key));
                }
            }
            _ => {}
        }
    }

    /// The course whose legacy id is exactly `text`.
    fn course(&self, text: &str) -> Option<&Course> {
        let course = Course::of_legacy_id(text)?;
        self.courses.get(&course)
    }

    /// The single course of an organisation and course number (`None` when the log has none
    /// or several runs of it).
    fn only_run_of(&self, org: &str, number: &str) -> Option<&Course> {
        let mut runs = self.courses.iter().filter(|c| c.is_of(org, number));
        match (runs.next(), runs.next()) {
            (Some(course), None) => Some(course),
            _ => None,
        }
    }
}

/// A whole log respelled (see the module documentation); line terminators are kept.
pub fn modern_log(legacy: &str) -> String {
    let catalog = CourseCatalog::of_log(legacy);
    legacy
        .split_inclusive('\n')
        .map(|line| {
            let body = line.trim_end_matches(['\n', '\r']);
            let mut modern = modern_line(body, &catalog);
            modern.push_str(&line[body.len()..]);
            modern
        })
        .collect()
}

/// One line (without its terminator) respelled, with the courses of its log.
pub fn modern_line(line: &str, catalog: &CourseCatalog) -> String {
    let Some(start) = line.find('{') else {
        return line.to_string();
    };
    let (prefix, json) = line.split_at(start);
    match parse_object(json) {
        Some(record) => format!("{prefix}{}", modern_record(json, &record, catalog)),
        None => {
            let spelling = EventSpelling {
                course: Course::in_path(line),
                catalog,
            };
            spelling.modern_text(line, true).into_owned()
        }
    }
}

/// A JSON object, or `None` for any other text.
fn parse_object(json: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(json) {
        Ok(Value::Object(record)) => Some(record),
        _ => None,
    }
}

/// The value a string holds when it is JSON text: an object, a list or a string.
fn embedded_json(text: &str) -> Option<Value> {
    let first = text.trim_start().bytes().next()?;
    if !matches!(first, b'{' | b'[' | b'"') {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// One event record respelled; `json` is its text and `record` the same parsed.
fn modern_record(json: &str, record: &Map<String, Value>, catalog: &CourseCatalog) -> String {
    let (course, course_from_modules) = match course_of_event(record) {
        Some(course) => (Some(course), false),
        None if record.contains_key("context") => (None, false),
        None => {
            let course = course_of_modules(json, catalog);
            let found = course.is_some();
            (course, found)
        }
    };
    let spelling = EventSpelling { course, catalog };
    let mut modern =
        respell_json_strings(json, None, &mut |place, text| spelling.respell(place, text));
    if course_from_modules && let Some(course) = &spelling.course {
        let end = modern.rfind('}').expect("a JSON object ends with '}'");
        let separator = if record.is_empty() { "" } else { ", " };
        let context = format!(
            "{separator}\"context\": {{\"course_id\": \"{}\"}}",
            course.modern_id()
        );
        modern.insert_str(end, &context);
    }
    modern
}

/// The course of an event as the loader finds it: `context.course_id` (the context may be a
/// string holding an object), else the page if it names a course, else a path-style event type.
fn course_of_event(record: &Map<String, Value>) -> Option<Course> {
    let context = match record.get("context") {
        Some(Value::String(s)) => embedded_json(s),
        other => other.cloned(),
    };
    let from_context = context
        .as_ref()
        .and_then(|c| c.get("course_id"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    if let Some(id) = from_context {
        return Course::of_legacy_id(id).or_else(|| Course::in_path(id));
    }
    let text = |key| record.get(key).and_then(Value::as_str).unwrap_or("");
    if text("page").contains("courses/") {
        Course::in_path(text("page"))
    } else {
        Course::in_path(text("event_type"))
    }
}

/// The course of the first module an event names whose run the catalog knows.
fn course_of_modules(json: &str, catalog: &CourseCatalog) -> Option<Course> {
    MODULE_COURSE.captures_iter(json).find_map(|c| {
        let org = c.name("org").or(c.name("inline_org"))?.as_str();
        let number = c.name("number").or(c.name("inline_number"))?.as_str();
        catalog.only_run_of(org, number).cloned()
    })
}

/// Where a string of an event lies.
struct StringPlace<'a> {
    /// The top-level member it belongs to (`event`, `page`, `context`, …), or is the key of.
    member: Option<&'a str>,
    /// Whether it is an object key.
    is_key: bool,
}

/// How the strings of one event are respelled: with its course and the log's courses.
struct EventSpelling<'a> {
    course: Option<Course>,
    catalog: &'a CourseCatalog,
}

impl EventSpelling<'_> {
    /// The modern spelling of one string of the event, or `None` when it stays as logged.
    fn respell(&self, place: &StringPlace<'_>, text: &str) -> Option<String> {
        if embedded_json(text).is_some() {
            let inner =
                respell_json_strings(text, Some(place.member.unwrap_or("")), &mut |p, t| {
                    self.respell(p, t)
                });
            return (inner != text).then_some(inner);
        }
        if !place.is_key
            && let Some(course) = self.catalog.course(text)
        {
            return Some(course.modern_id());
        }
        match self.modern_text(text, place.member == Some("event")) {
            Cow::Owned(modern) => Some(modern),
            Cow::Borrowed(_) => None,
        }
    }

    /// The rewrites of a text that need no structure: module URLs and locations, course paths
    /// and, in an event payload, inline ids of the event's course.
    fn modern_text<'t>(&self, text: &'t str, in_payload: bool) -> Cow<'t, str> {
        let mut text = Cow::Borrowed(text);
        if text.contains("i4x") {
            text = self.replace(text, &MODULE_URL, |c, run| {
                format!(
                    "/xblock/{}/handler/xmodule_handler/{}",
                    block_key(c, run),
                    &c["action"]
                )
            });
            text = self.replace(text, &MODULE_LOCATION, block_key);
        }
        if text.contains("/courses/") {
            text = replace_all(text, &COURSE_PATH, |c| {
                Some(format!(
                    "/courses/course-v1:{}+{}+{}",
                    &c["org"], &c["number"], &c["run"]
                ))
            });
        }
        if in_payload
            && let Some(course) = &self.course
            && text.contains("i4x-")
        {
            text = replace_all(text, &INLINE_ID_COURSE, |c| {
                course.is_of(&c["org"], &c["number"]).then(String::new)
            });
        }
        text
    }

    /// `text` with each match of `pattern` (which captures `org` and `number`) replaced by
    /// `modern(captures, run)` when the run of its course is known.
    fn replace<'t>(
        &self,
        text: Cow<'t, str>,
        pattern: &Regex,
        modern: impl Fn(&Captures<'_>, &str) -> String,
    ) -> Cow<'t, str> {
        replace_all(text, pattern, |c| {
            let run = self.run_of(&c["org"], &c["number"])?;
            Some(modern(c, run))
        })
    }

    /// The run of a module's course: the event's, else the only one in the log.
    fn run_of(&self, org: &str, number: &str) -> Option<&str> {
        match &self.course {
            Some(course) if course.is_of(org, number) => Some(&course.run),
            _ => self
                .catalog
                .only_run_of(org, number)
                .map(|c| c.run.as_str()),
        }
    }
}

/// `block-v1:Org+Course+Run+type@category+block@name` of a match capturing `org`, `number`,
/// `category` and `name`.
fn block_key(c: &Captures<'_>, run: &str) -> String {
    format!(
        "block-v1:{}+{}+{run}+type@{}+block@{}",
        &c["org"], &c["number"], &c["category"], &c["name"]
    )
}

/// `text` with each match of `pattern` replaced by `modern(captures)`, or kept where that is
/// `None`; borrowed when nothing changed.
fn replace_all<'t>(
    text: Cow<'t, str>,
    pattern: &Regex,
    modern: impl Fn(&Captures<'_>) -> Option<String>,
) -> Cow<'t, str> {
    let mut changed = false;
    let replaced = match pattern.replace_all(&text, |c: &Captures<'_>| match modern(c) {
        Some(m) => {
            changed = true;
            m
        }
        None => c[0].to_string(),
    }) {
        Cow::Owned(replaced) if changed => Some(replaced),
        _ => None,
    };
    replaced.map_or(text, Cow::Owned)
}

/// A JSON text with each of its strings (keys and values, at any depth) replaced by what
/// `respell` returns for it, encoded again; every other byte is kept. `member` is the top-level
/// member the text belongs to when it is itself the content of a string (`None` for a whole
/// record, whose top-level keys name the members). The text must be valid JSON.
fn respell_json_strings(
    json: &str,
    member: Option<&str>,
    respell: &mut dyn FnMut(&StringPlace<'_>, &str) -> Option<String>,
) -> String {
    /// An open object (whether its next string is a key) or list.
    enum Open {
        Object { expecting_key: bool },
        List,
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len() + 64);
    let mut open: Vec<Open> = Vec::new();
    let mut current_member: Option<String> = member.map(str::to_string);
    let (mut at, mut copied) = (0, 0);
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                let end = string_end(bytes, at);
                let text: String =
                    serde_json::from_str(&json[at..end]).expect("a JSON string token");
                let is_key = matches!(
                    open.last(),
                    Some(Open::Object {
                        expecting_key: true
                    })
                );
                if member.is_none() && is_key && open.len() == 1 {
                    current_member = Some(text.clone());
                }
                let place = StringPlace {
                    member: current_member.as_deref(),
                    is_key,
                };
                if let Some(modern) = respell(&place, &text) {
                    out.push_str(&json[copied..at]);
                    out.push_str(&serde_json::to_string(&modern).expect("a string encodes"));
                    copied = end;
                }
                at = end;
                continue;
            }
            b'{' => open.push(Open::Object {
                expecting_key: true,
            }),
            b'[' => open.push(Open::List),
            b'}' | b']' => {
                open.pop();
            }
            b':' | b',' => {
                if let Some(Open::Object { expecting_key }) = open.last_mut() {
                    *expecting_key = bytes[at] == b',';
                }
            }
            _ => {}
        }
        at += 1;
    }
    out.push_str(&json[copied..]);
    out
}

/// The index just past the closing quote of the JSON string token opening at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}
