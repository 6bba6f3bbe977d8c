//! MOOCdb stage: qpipe's tables from the events the relations stage accepted.
//!
//! Stateful: the dictionaries (`urls`, `os`, `agent`, `resource_types`), the resources, the set
//! of known users and each user's staged event (whose duration is known only when the user's next
//! event arrives) are kept in memory: they grow with distinct users and URLs, not with the log.

pub mod collaborations;
pub mod course_key;
pub mod course_url;
pub mod dictionary;
pub mod grading;
pub mod hierarchy;
pub mod module_uri;
mod user_record;

use foldhash::{HashMap, HashSet};
use std::borrow::Cow;
use std::rc::Rc;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use chrono::NaiveDateTime;

use crate::error::LoadError;
use crate::fingerprint::{Fingerprint, FingerprintMap};
use crate::identity::{AnonText, StoredRowId};
use crate::parse::TrackingEvent;
use crate::relations::{RelationsOutcome, TrackRow};
use crate::schema::Table;
use crate::sink::Rows;
use crate::state::{StagedEvent, UserState};
use crate::text_cache::TextCache;
use user_record::{SharedText, UserRecord, write_observed_event};

use collaborations::{CollaborationRow, Contribution, Contributions};
use course_url::CourseUrl;
use dictionary::Dictionary;
use grading::{AUTOMATIC, Grading, submission_code};
use hierarchy::Hierarchy;
use module_uri::ModuleUri;

/// Event types that qpipe does not record as observed events (they only feed `submissions`).
const NOT_OBSERVED: [&str; 14] = [
    "page_close",
    "problem_check",
    "problem_check_fail",
    "problem_graded",
    "save_problem_check",
    "i4x_problem_problem_check",
    "save_problem_success",
    "problem_save",
    "i4x_problem_problem_save",
    "save_problem_check_fail",
    "reset_problem",
    "reset_problem_fail",
    "problem_reset",
    "save_problem_fail",
];

/// qpipe's content rules: resource URI pattern → `resource_type_content` (first match wins;
/// the legacy's typo `cobinedopenended` is corrected).
const CONTENT_RULES: [(&str, &str); 17] = [
    ("video", "lecture"),
    ("book", "book"),
    ("problem", "problem"),
    ("combinedopenended", "problem"),
    ("wiki", "wiki"),
    ("thread", "forum"),
    ("forum", "forum"),
    ("discussion", "forum"),
    ("info", "informational"),
    ("preview", "testing"),
    ("about", "informational"),
    ("progress", "informational"),
    ("profile", "profile"),
    ("login", "profile"),
    ("account", "profile"),
    ("open_ended", "problem"),
    ("", ""),
];

/// qpipe's medium rules: resource URI pattern → `resource_type_medium`.
const MEDIUM_RULES: [(&str, &str); 14] = [
    ("video", "video"),
    ("book", "text"),
    ("problem", "text"),
    ("combinedopenended", "text"),
    ("wiki", "text"),
    ("thread", "text"),
    ("forum", "text"),
    ("discussion", "text"),
    ("info", "text"),
    ("about", "text"),
    ("progress", "text"),
    ("profile", "text"),
    ("open_ended", "text"),
    ("", ""),
];

/// How qpipe's `instanciate_event_rules` classify an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventClass {
    Problem,
    Video,
    Pdf,
    OpenResponse,
    Navigational,
    Plain,
}

/// The words of each class, in qpipe's order of precedence: the first class with a word in the
/// event type wins.
const CLASS_WORDS: [(EventClass, &[&str]); 5] = [
    (EventClass::Problem, &["problem", "showanswer"]),
    (EventClass::Video, &["video", "transcript", "fullscreen"]),
    (EventClass::Pdf, &["book"]),
    (
        EventClass::OpenResponse,
        &["oe_", "combinedopenended", "rubric_select", "grading"],
    ),
    (EventClass::Navigational, &["seq_"]),
];

fn event_class(event_type: &str) -> EventClass {
    struct Words {
        // Finds every occurrence, for the precedence.
        all: aho_corasick::AhoCorasick,
        // Leftmost-first search can use the SIMD prefilter: a quick "none of the words", the
        // answer for most event types (page URLs).
        any: aho_corasick::AhoCorasick,
        rank: Vec<usize>,
    }
    static WORDS: std::sync::LazyLock<Words> = std::sync::LazyLock::new(|| {
        let (mut words, mut rank) = (Vec::new(), Vec::new());
        for (i, (_, ws)) in CLASS_WORDS.iter().enumerate() {
            words.extend_from_slice(ws);
            rank.extend(std::iter::repeat_n(i, ws.len()));
        }
        Words {
            all: aho_corasick::AhoCorasick::new(&words).expect("fixed words"),
            any: aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                .build(&words)
                .expect("fixed words"),
            rank,
        }
    });
    let words = &*WORDS;
    if !words.any.is_match(event_type) {
        return EventClass::Plain;
    }
    words
        .all
        .find_overlapping_iter(event_type)
        .map(|m| words.rank[m.pattern().as_usize()])
        .min()
        .map_or(EventClass::Plain, |i| CLASS_WORDS[i].0)
}

/// Options of the MOOCdb stage.
#[derive(Debug, Clone)]
pub struct MoocdbOptions {
    /// qpipe's `DOMAIN`; learned from the log when `None`.
    pub domain: Option<String>,
    /// Gaps longer than this many seconds get `default_duration` instead.
    pub max_duration: i64,
    /// Duration given to an event followed by a gap over `max_duration`.
    pub default_duration: i64,
}

/// What a previous load left in the database, read back before a load.
#[derive(Debug, Default, Clone)]
pub struct KnownEntries {
    /// `urls` rows.
    pub urls: Vec<(i64, String)>,
    /// `os` rows.
    pub os: Vec<(i64, String)>,
    /// `agent` rows.
    pub agents: Vec<(i64, String)>,
    /// `resource_types` rows.
    pub resource_types: Vec<(i64, String, String)>,
    /// `resources` rows: id, URI, parent id.
    pub resources: Vec<(i64, String, Option<i64>)>,
    /// `resources_urls` rows.
    pub resources_urls: Vec<(i64, i64, i64)>,
    /// `problems` rows: id, name (URI), parent id.
    pub problems: Vec<(i64, String, Option<i64>)>,
    /// `problem_types` rows.
    pub problem_types: Vec<(i64, String)>,
    /// `users` rows.
    pub users: Vec<String>,
    /// The latest graded submission (a server `problem_check`'s) of each user and problem:
    /// user, problem id, submission id, time. A `problem_rescore` assesses it again.
    pub graded_submissions: Vec<(String, i64, String, NaiveDateTime)>,
    /// The ids of Open Response Assessment submissions (ORA's `submission_uuid`s).
    pub open_submissions: Vec<String>,
}

/// Builds the MOOCdb rows. Its shared texts and pages are `Rc`: it lives on the transform thread
/// alone (see `RelationBuilder`).
pub struct MoocdbBuilder {
    options: MoocdbOptions,
    // Shared: every row needs it while the builder is borrowed mutably.
    domain: Option<Rc<str>>,
    /// The domain of a log whose events name none.
    default_domain: Rc<str>,
    urls: Dictionary<String>,
    os: Dictionary<String>,
    agents: Dictionary<String>,
    resource_types: Dictionary<(String, String)>,
    problem_types: Dictionary<String>,
    resources_urls: Dictionary<(i64, i64)>,
    resources: Hierarchy,
    problems: Hierarchy,
    // One entry per user, not one per user in each of four maps: memory grows with the users.
    // Keyed by the fingerprint of the user's hash, which the relations stage makes once per
    // user: a look-up reads only the table (no hashing of 40 digits, no key compared).
    users: FingerprintMap<UserRecord>,
    agent_cache: FingerprintMap<(i64, i64)>,
    // Parsing URLs and module ids takes several regular expressions; the same pages and modules
    // come back all the time. Bounded: cleared when full.
    // Shared, not copied: a user's location is usually a page many users are on. The index of
    // the page's entry in `pages`.
    url_cache: FingerprintMap<usize>,
    pages: Vec<CachedPage>,
    module_cache: TextCache<Option<ModuleUri>>,
    // The course of an event's context or page text.
    course_cache: TextCache<Option<Rc<str>>>,
    // Countries and event types, one copy each however many users' staged events hold them.
    texts: HashSet<SharedText>,
    // The last graded submission of each user (by fingerprint) and problem: what a rescore
    // assesses again. Grows with users × problems answered, not with the log.
    // Latest by time, as the database is read back: a batched load finds the same submission.
    graded: HashMap<(Fingerprint, i64), (NaiveDateTime, Box<str>)>,
    // ORA submissions, which peer, self and staff assessments grade.
    open_submissions: HashSet<String>,
    // The file's forum and wiki contributions.
    contributions: Contributions,
}

/// Who submits, where and when: the columns a submission shares with its event.
struct Submitting<'a> {
    user: &'a crate::identity::AnonName,
    user_key: Fingerprint,
    problem_id: i64,
    time: &'a NaiveDateTime,
    ip: &'a str,
    os_id: i64,
    agent_id: i64,
}

/// Writes an `assessments` row: `(id, grade, grader, feedback)` of `submission` at `time`.
fn write_assessment(
    rows: &mut Rows,
    (id, grade, grader, feedback): (&str, Option<f64>, &str, Option<&str>),
    submission: &str,
    time: &NaiveDateTime,
) -> Result<(), LoadError> {
    rows.add(Table::Assessments, |r| {
        r.token(id.as_bytes());
        r.token(submission.as_bytes());
        r.opt_text(feedback.filter(|f| !f.is_empty()));
        match grade {
            Some(g) => r.float(g),
            None => r.null(),
        }
        r.null();
        r.text(grader);
        r.datetime(time);
    })
}

/// The block an event's context names: `context.module.usage_key`, else the XBlock handler of
/// `context.path` (`…/xblock/<usage>/handler/…`, in 2014 logs with `;_` for `/`).
fn context_module(event: &TrackingEvent) -> Option<ModuleUri> {
    let context = event.context.as_ref()?;
    let usage = context
        .get("module")
        .and_then(|m| m.get("usage_key"))
        .and_then(serde_json::Value::as_str);
    if let Some(m) = usage.and_then(ModuleUri::parse) {
        return Some(m);
    }
    let path = context.get("path").and_then(serde_json::Value::as_str)?;
    let path = path.replace(";_", "/");
    ModuleUri::parse(&course_key::legacy_spelling(&path))
}

/// A page parsed once, with what it maps to when an event leaves it as it is (most events):
/// its `urls` row and the resource whose URI is the URL itself, found on first use. Without
/// them every event hashed and compared its URL text (about 100 bytes) in three maps, and
/// rendered and copied it twice.
struct CachedPage {
    url: Rc<CourseUrl>,
    /// The `urls` text and id.
    url_row: Option<(Rc<str>, i64)>,
    /// The index of the `resources` node for an event without a module or video code.
    resource: Option<usize>,
    /// Whether that node's `resources_urls` row with this URL exists.
    linked: bool,
}

/// The duration of an observed event from `from` to the user's next event at `to`: a gap over
/// `max_duration` seconds (the user left) counts as `default_duration`.
fn event_duration(
    from: NaiveDateTime,
    to: NaiveDateTime,
    max_duration: i64,
    default_duration: i64,
) -> i64 {
    let seconds = (to - from).num_seconds().max(0);
    if seconds > max_duration {
        default_duration
    } else {
        seconds
    }
}

/// Entries a parse cache holds before it is cleared.
const CACHE_LIMIT: usize = 100_000;

impl MoocdbBuilder {
    /// A builder continuing from what the database already holds and the users' carried state.
    pub fn new(options: MoocdbOptions, known: KnownEntries, users: Vec<UserState>) -> Self {
        let mut b = MoocdbBuilder {
            domain: options.domain.as_deref().map(Rc::from),
            default_domain: Rc::from("https://www.edx.org"),
            options,
            urls: Dictionary::new(1),
            os: Dictionary::new(1),
            agents: Dictionary::new(1),
            resource_types: Dictionary::new(1),
            problem_types: Dictionary::new(1),
            resources_urls: Dictionary::new(1),
            resources: Hierarchy::new("https://", known.resources),
            problems: Hierarchy::new("i4x://", known.problems),
            users: FingerprintMap::default(),
            agent_cache: FingerprintMap::default(),
            url_cache: FingerprintMap::default(),
            pages: Vec::new(),
            module_cache: TextCache::new(CACHE_LIMIT),
            course_cache: TextCache::new(CACHE_LIMIT),
            texts: HashSet::default(),
            graded: HashMap::default(),
            open_submissions: known.open_submissions.into_iter().collect(),
            contributions: Contributions::default(),
        };
        for (user, problem, submission, time) in known.graded_submissions {
            b.graded
                .insert((Fingerprint::of(&user), problem), (time, submission.into()));
        }
        for user in known.users {
            b.named_user(&user).stored = true;
        }
        // Carried locations are complete URLs (the domain names only their resource): not for
        // `url_cache`, whose pages are completed with the log's domain.
        let site = b.domain.clone().unwrap_or_else(|| Rc::from(""));
        let mut locations: HashMap<String, Rc<CourseUrl>> = HashMap::default();
        for u in users {
            let staged =
                (u.staged).map(|staged| staged.converted(StoredRowId::new, |t| b.interned(t)));
            let location = u.location.map(|(url, at)| {
                let parsed = locations
                    .entry(url)
                    .or_insert_with_key(|url| Rc::new(CourseUrl::parse(url, &site)));
                (Rc::clone(parsed), at)
            });
            let record = b.named_user(&u.user);
            record.staged = staged;
            record.location = location;
        }
        for (id, url) in known.urls {
            b.urls.insert_existing(url, id);
        }
        for (id, name) in known.os {
            b.os.insert_existing(name, id);
        }
        for (id, name) in known.agents {
            b.agents.insert_existing(name, id);
        }
        for (id, content, medium) in known.resource_types {
            b.resource_types.insert_existing((content, medium), id);
        }
        for (id, name) in known.problem_types {
            b.problem_types.insert_existing(name, id);
        }
        for (id, resource, url) in known.resources_urls {
            b.resources_urls.insert_existing((resource, url), id);
        }
        b
    }

    /// The course domain in use (given, or learned from the log).
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// Forgets staged events, submissions and users whose rows were removed (`--reload`).
    pub fn forget(
        &mut self,
        event_ids: &HashSet<String>,
        users: &[String],
        open_submissions: &[String],
    ) {
        self.graded
            .retain(|_, (_, submission)| !event_ids.contains(&**submission));
        for uuid in open_submissions {
            self.open_submissions.remove(uuid);
        }
        for record in self.users.values_mut() {
            if record
                .staged
                .as_ref()
                .is_some_and(|e| event_ids.contains(e.id.id().as_str()))
            {
                record.staged = None;
            }
        }
        for u in users {
            if let Some(record) = self.users.get_mut(&Fingerprint::of(u)) {
                record.stored = false;
            }
        }
    }

    // The record of the user whose hash is `name` and its fingerprint `key`, created when
    // first seen.
    fn user(&mut self, key: Fingerprint, name: &str) -> &mut UserRecord {
        self.users
            .entry(key)
            .or_insert_with(|| UserRecord::new(name))
    }

    // The record of the user whose hash is `name` (state from an earlier load).
    fn named_user(&mut self, name: &str) -> &mut UserRecord {
        self.user(Fingerprint::of(name), name)
    }

    /// The ids the next new dictionary and hierarchy rows will get, by table.
    pub fn next_ids(&self) -> std::collections::BTreeMap<String, i64> {
        [
            ("urls", self.urls.next_id()),
            ("os", self.os.next_id()),
            ("agent", self.agents.next_id()),
            ("resource_types", self.resource_types.next_id()),
            ("resources", self.resources.next_id()),
            ("resources_urls", self.resources_urls.next_id()),
            ("problems", self.problems.next_id()),
            ("problem_types", self.problem_types.next_id()),
        ]
        .into_iter()
        .map(|(t, id)| (t.to_string(), id))
        .collect()
    }

    /// Adds the MOOCdb rows of one event's `EdxTrackEvent` rows.
    pub fn add_event(
        &mut self,
        rows: &mut Rows,
        event: &TrackingEvent,
        relations: &RelationsOutcome,
    ) -> Result<(), LoadError> {
        if self.domain.is_none() {
            self.domain = course_url::domain_of(event.page())
                .or_else(|| course_url::domain_of(event.referer()))
                .map(Rc::from);
            if self.domain.is_some() {
                // URLs parsed so far were completed with the default domain.
                self.clear_pages();
            }
        }
        let course = self.course_of_event(event);
        let mut first = None;
        for row in relations.rows() {
            first = first.or(row.id);
            self.add_row(rows, event, relations, &row, course.as_deref())?;
        }
        if let (Some(id), Some(course)) = (first, course) {
            self.collaboration(rows, event, relations, &id, &course)?;
        }
        Ok(())
    }

    /// The `collaborations` row of a forum or wiki contribution (`collaborations.rs`), on the
    /// resource of its thread or wiki page under its course.
    fn collaboration(
        &mut self,
        rows: &mut Rows,
        event: &TrackingEvent,
        relations: &RelationsOutcome,
        id: &crate::identity::RowId,
        course: &str,
    ) -> Result<(), LoadError> {
        let path = course_key::legacy_spelling(relations.event_type);
        let Some(contribution) = Contribution::of(relations.event_type, &path, event) else {
            return Ok(());
        };
        let domain = self.domain_or_default(event);
        let uri = format!(
            "{}/courses/{course}/{}",
            domain.trim_end_matches('/'),
            contribution.place.path()
        );
        let index = self.resource_node(rows, &uri)?;
        let resource = self.resources.node(index).id;
        let (os, agent) = self.agent_ids(rows, event.agent())?;
        let (user, user_key) = (&relations.anon_screen_name, relations.anon_key);
        self.user(user_key, user).store(rows)?;
        let row = CollaborationRow {
            id: id.as_str().to_string(),
            user: *user,
            contribution,
            time: event.time,
            ip: relations.ip_country,
            os,
            agent,
            resource,
        };
        self.contributions.add(rows, user_key, row)
    }

    /// The course an event belongs to, `Org/Course/Run` in the legacy spelling: its context's
    /// `course_id`, else the course its page or path names. Ids logged without their course
    /// (video ids, problem input ids) are resolved against it.
    fn course_of_event(&mut self, event: &TrackingEvent) -> Option<Rc<str>> {
        let from_context = event
            .context
            .as_ref()
            .and_then(|c| c.get("course_id"))
            .and_then(serde_json::Value::as_str)
            .filter(|c| !c.is_empty());
        let text = from_context.unwrap_or_else(|| {
            if event.page().contains("courses/") {
                event.page()
            } else {
                event.event_type()
            }
        });
        self.course_cache.get_or_derive(text, |t| {
            course_key::course_of(t).map(|c| Rc::from(c.as_str()))
        })
    }

    fn add_row(
        &mut self,
        rows: &mut Rows,
        event: &TrackingEvent,
        relations: &RelationsOutcome<'_>,
        row: &TrackRow<'_>,
        course: Option<&str>,
    ) -> Result<(), LoadError> {
        let Some(row_id) = row.id else {
            return Ok(());
        };
        // Opaque keys in their legacy spelling: the rules below read the same text for a
        // course whichever key format its log uses.
        let mut event_type = course_key::legacy_spelling(relations.event_type);
        // 1. Filter rules.
        if contains(&SEQUENTIAL, &event_type) || contains(&PAGE_CLOSE, &event_type) {
            return Ok(());
        }
        // 2. Generic formatting.
        let domain = self.domain_or_default(event);
        let (os_id, agent_id) = self.agent_ids(rows, event.agent())?;
        // The page's cache entry while `page` is the page as parsed.
        let (mut page, slot) = self.course_url(row.page, &domain);
        let mut page_slot = Some(slot);
        // Each place a module is named, and the category of an id logged there without its
        // course.
        let candidates = [
            (row.question_location, "problem"),
            (
                if row.video_id.is_empty() {
                    row.transcript_id
                } else {
                    row.video_id
                },
                "video",
            ),
            (
                if row.answer_identifier.is_empty() {
                    row.problem_id
                } else {
                    row.answer_identifier
                },
                "problem",
            ),
        ];
        let mut module = None;
        for (s, category) in candidates {
            if let Some(m) = self.module_uri(s) {
                module = Some(m);
                break;
            }
            if !s.is_empty()
                && let Some(m) = ModuleUri::parse_in(s, course, category)
            {
                module = Some(m);
                break;
            }
        }
        // 3. Specific formatting (first match).
        if event_type.starts_with("seq_") {
            if page.at_subunit()
                && let Some(dest) = row.goto_dest.filter(|d| *d >= 0)
            {
                Rc::make_mut(&mut page).set_seq(&dest.to_string());
                page_slot = None;
            }
        } else if contains(&I4X, &event_type) {
            if let Some(m) = ModuleUri::parse(&event_type) {
                event_type = match &m.action {
                    Some(a) => Cow::Owned(format!("i4x_{}_{a}", m.category)),
                    None => Cow::Owned(format!("i4x_{}", m.category)),
                };
                if module.is_none() {
                    module = Some(m);
                }
            }
        } else if event_type.starts_with('/') && !event_type.contains(':') {
            // The path as logged: `urls` keeps its keys as they were.
            let (url, slot) = self.course_url(relations.event_type, &domain);
            (page, page_slot) = (url, Some(slot));
            event_type = Cow::Borrowed("url_change");
        }
        // 4. Location inheritance, 5. location update (per user, within an hour).
        let (user, user_key) = (&relations.anon_screen_name, relations.anon_key);
        let record = self.user(user_key, user);
        if let Some((location, at)) = &record.location {
            let gap = (event.time - *at).num_seconds();
            if !location.is_empty() && (0..3600).contains(&gap) {
                if page.is_empty() {
                    if location.at_subunit() {
                        page = Rc::clone(location);
                        page_slot = None;
                    }
                } else if page.seq().is_none()
                    && page.same_subunit(location)
                    && let Some(seq) = location.seq()
                {
                    Rc::make_mut(&mut page).set_seq(seq);
                    page_slot = None;
                }
            }
        }
        let mut location = Rc::clone(&page);
        if event_type.starts_with("seq_")
            && location.at_subunit()
            && let Some(dest) = row.goto_dest.filter(|d| *d >= 0)
        {
            Rc::make_mut(&mut location).set_seq(&dest.to_string());
        }
        record.location = Some((location, event.time));
        record.changed = true;

        // 6. urls.
        let (_, url_id) = self.url_row(rows, &page, page_slot)?;
        // 7-8. The resource: the URL, extended by the module and the video code.
        let class = event_class(&event_type);
        let module_part = module
            .as_ref()
            .filter(|_| class != EventClass::Navigational);
        let code = match class {
            EventClass::Video if row.video_code.is_empty() => row.transcript_code,
            EventClass::Video => row.video_code,
            _ => "",
        };
        // The resource's URI: the page's, with its opaque keys in the legacy spelling.
        let page_uri = page.resource_uri();
        let base = if page_uri.is_empty() {
            "https://unknown/"
        } else {
            &page_uri
        };
        // The resource is the page's own (its URI is the URL): then the page's cache entry knows it.
        let plain = module_part.is_none() && code.is_empty();
        let plain_slot = page_slot.filter(|_| plain);
        let index = match plain_slot.and_then(|slot| self.pages[slot].resource) {
            Some(index) => index,
            None if plain => {
                let index = self.resource_node(rows, base)?;
                if let Some(slot) = plain_slot {
                    self.pages[slot].resource = Some(index);
                }
                index
            }
            None => {
                let mut uri = base.to_string();
                if let Some(m) = module_part {
                    m.push_relative_uri(&mut uri);
                }
                if !code.is_empty() {
                    uri.push('_');
                    uri.push_str(code);
                }
                self.resource_node(rows, &uri)?
            }
        };
        let node = self.resources.node_mut(index);
        if node.name.is_none() && !node.stored {
            node.name = Some(row.resource_display_name)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .or_else(|| module.as_ref().and_then(ModuleUri::name));
        }
        let resource_id = node.id;
        if !plain_slot.is_some_and(|slot| self.pages[slot].linked) {
            let (link_id, new_link) = self.resources_urls.id_of(&(resource_id, url_id));
            if new_link {
                rows.add(Table::ResourcesUrls, |r| {
                    r.int(link_id);
                    r.int(resource_id);
                    r.int(url_id);
                })?;
            }
            if let Some(slot) = plain_slot {
                self.pages[slot].linked = true;
            }
        }
        // qpipe cut the country to three characters: an alpha-3 code, or none, already is.
        let ip = relations.ip_country;

        // 9. Problems, submissions, assessments.
        let grading = Grading::of(relations.event_type, event);
        let graded_module = match &grading {
            // An Open Response Assessment names its block only in the event's context.
            Some(Grading::OpenSubmission { .. } | Grading::OpenAssessment { .. }) => {
                context_module(event)
            }
            Some(_) => module.clone(),
            None => None,
        };
        if let Some(m) = graded_module.as_ref().or(module
            .as_ref()
            .filter(|_| matches!(class, EventClass::Problem | EventClass::OpenResponse)))
        {
            let problem_id = self.problem(m, resource_id)?;
            let context = Submitting {
                user,
                user_key,
                problem_id,
                time: &event.time,
                ip,
                os_id,
                agent_id,
            };
            match &grading {
                None => {
                    let grade = match row.correctness {
                        "correct" => Some(1.0),
                        "incorrect" => Some(0.0),
                        // A custom or partial-credit answer: the problem's grade.
                        _ if relations.event_type == "problem_check"
                            && event.event_source() == "server" =>
                        {
                            grading::problem_grade(event)
                        }
                        _ => None,
                    };
                    if let Some(code) = submission_code(&event_type)
                        && !grading::is_companion_input(row.answer_identifier, row.problem_id)
                    {
                        let id = row_id.as_str();
                        let attempt = row.attempts.unwrap_or(-1);
                        self.submission(rows, &context, id, attempt, row.answer, code)?;
                        if attempt > 0 {
                            let latest = self.graded.entry((user_key, problem_id));
                            let latest = latest.or_insert_with(|| (event.time, Box::from(id)));
                            if latest.0 <= event.time {
                                *latest = (event.time, Box::from(id));
                            }
                        }
                        // An assessment grades a submission: without one it would point nowhere.
                        if let Some(grade) = grade {
                            let a = (id, Some(grade), AUTOMATIC, None);
                            write_assessment(rows, a, id, &event.time)?;
                        }
                    }
                }
                Some(Grading::GradeSubmitted { grade }) => {
                    let id = row_id.as_str();
                    self.submission(rows, &context, id, -1, "", 1)?;
                    write_assessment(rows, (id, *grade, AUTOMATIC, None), id, &event.time)?;
                }
                Some(Grading::OpenSubmission {
                    uuid,
                    answer,
                    attempt,
                }) => {
                    if self.open_submissions.insert(uuid.to_string()) {
                        self.submission(rows, &context, uuid, *attempt, answer, 1)?;
                    }
                }
                Some(Grading::OpenAssessment {
                    uuid,
                    grade,
                    grader,
                    feedback,
                }) => {
                    if self.open_submissions.contains(*uuid) {
                        let a = (row_id.as_str(), *grade, *grader, Some(*feedback));
                        write_assessment(rows, a, uuid, &event.time)?;
                    }
                }
                Some(Grading::Rescore { grade, student }) => {
                    let grade = match row.correctness {
                        "correct" => Some(1.0),
                        "incorrect" => Some(0.0),
                        _ => *grade,
                    };
                    let learner = match student {
                        Some(name) => {
                            Fingerprint::of(crate::identity::AnonName::of_username(name).as_str())
                        }
                        None => user_key,
                    };
                    if let Some((_, submission)) = self.graded.get(&(learner, problem_id)) {
                        let a = (row_id.as_str(), grade, "rescore", None);
                        write_assessment(rows, a, submission, &event.time)?;
                    }
                }
            }
        }

        // 11. Observed events, staged per user until the user's next event.
        if NOT_OBSERVED.contains(&&*event_type) {
            return Ok(());
        }
        let current = StagedEvent {
            id: StoredRowId::new(&row_id),
            resource_id,
            time: event.time,
            ip: self.interned(ip),
            os: os_id,
            agent: agent_id,
            event_type: self.interned(&event_type),
        };
        let (max_duration, default_duration) =
            (self.options.max_duration, self.options.default_duration);
        let duration = |from, to| event_duration(from, to, max_duration, default_duration);
        let record = self.user(user_key, user);
        record.store(rows)?;
        match &record.staged {
            Some(staged) if current.time < staged.time => {
                // Arrived out of time order: it lasts until the staged (later) event.
                let duration = duration(current.time, staged.time);
                write_observed_event(rows, &AnonText::Digits(*user), &current, Some(duration))?;
            }
            Some(staged) => {
                let duration = duration(staged.time, current.time);
                write_observed_event(rows, &AnonText::Digits(*user), staged, Some(duration))?;
                record.staged = Some(current);
            }
            None => {
                record.staged = Some(current);
            }
        }
        Ok(())
    }

    // The parsed page and the index of its cache entry.
    fn course_url(&mut self, page: &str, domain: &str) -> (Rc<CourseUrl>, usize) {
        let key = Fingerprint::of(page);
        if let Some(&slot) = self.url_cache.get(&key) {
            return (Rc::clone(&self.pages[slot].url), slot);
        }
        let url = Rc::new(CourseUrl::parse(page, domain));
        if self.pages.len() >= CACHE_LIMIT {
            self.clear_pages();
        }
        let slot = self.pages.len();
        self.pages.push(CachedPage {
            url: Rc::clone(&url),
            url_row: None,
            resource: None,
            linked: false,
        });
        self.url_cache.insert(key, slot);
        (url, slot)
    }

    // A slot from `course_url` is valid until the next call to this (which only `course_url`
    // and the domain's discovery make): `add_row` takes a new slot whenever it parses a page.
    fn clear_pages(&mut self) {
        self.url_cache.clear();
        self.pages.clear();
    }

    // The text and id of `page`'s `urls` row, written when new. `slot`: the cache entry `page`
    // is still the parsed form of, which remembers them.
    fn url_row(
        &mut self,
        rows: &mut Rows,
        page: &CourseUrl,
        slot: Option<usize>,
    ) -> Result<(Rc<str>, i64), LoadError> {
        if let Some((text, id)) = slot.and_then(|s| self.pages[s].url_row.as_ref()) {
            return Ok((Rc::clone(text), *id));
        }
        let text = page.to_string();
        let (id, new) = self.urls.id_of(&text);
        if new {
            rows.add(Table::Urls, |r| {
                r.int(id);
                r.text(&text);
            })?;
        }
        let text: Rc<str> = Rc::from(text);
        if let Some(s) = slot {
            self.pages[s].url_row = Some((Rc::clone(&text), id));
        }
        Ok((text, id))
    }

    /// The shared copy of `text`.
    fn interned(&mut self, text: &str) -> SharedText {
        if let Some(shared) = self.texts.get(text) {
            return shared.clone();
        }
        if self.texts.len() >= CACHE_LIMIT {
            // Values still held stay valid; only the sharing of new ones starts over.
            self.texts.clear();
        }
        let shared = SharedText::new(text);
        self.texts.insert(shared.clone());
        shared
    }

    fn module_uri(&mut self, s: &str) -> Option<ModuleUri> {
        if s.is_empty() {
            return None;
        }
        self.module_cache.get_or_derive(s, ModuleUri::parse)
    }

    /// At the end of a file: writes the staged event of every user the file touched (duration
    /// not known yet: NULL; it is rewritten when the user's next event arrives) and the hierarchy
    /// nodes the file created. Those users' state, to be carried to the next file, is then read
    /// with [`changed_users`](Self::changed_users) and marked stored with
    /// [`clear_changed`](Self::clear_changed).
    pub fn end_of_file(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        self.contributions.end_of_file(rows)?;
        for user in self.changed_records() {
            if let Some(event) = &user.staged {
                write_observed_event(rows, &user.name.text(), event, None)?;
            }
        }
        self.write_nodes(rows)
    }

    /// The state of every user the current file touched, in user order, made one user at a time.
    pub fn changed_users(&self) -> impl Iterator<Item = UserState> + '_ {
        self.changed_records().into_iter().map(|record| UserState {
            user: record.name.text().to_string(),
            staged: (record.staged.as_ref()).map(|s| s.converted(StoredRowId::id, str::to_string)),
            location: (record.location.as_ref()).map(|(url, at)| (url.raw().to_string(), *at)),
        })
    }

    /// Marks the touched users' state as carried (stored, or not needed in a dry run).
    pub fn clear_changed(&mut self) {
        for record in self.users.values_mut() {
            record.changed = false;
        }
    }

    // The records of the users the current file touched, in user order.
    fn changed_records(&self) -> Vec<&UserRecord> {
        let mut records: Vec<&UserRecord> = (self.users.values())
            .filter(|record| record.changed)
            .collect();
        records.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        records
    }

    fn write_nodes(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        let untyped = self.resource_type(rows, "", "")?;
        for index in self.resources.take_unstored() {
            let node = self.resources.node(index);
            let uri = self.resources.uri(index);
            rows.add(Table::Resources, |r| {
                r.int(node.id);
                r.opt_text(node.name.as_deref());
                r.text(&uri);
                r.int(node.attached.unwrap_or(untyped));
                r.opt_int(node.parent);
                r.null();
                r.null();
                r.null();
            })?;
        }
        for index in self.problems.take_unstored() {
            let node = self.problems.node(index);
            let uri = self.problems.uri(index);
            let type_name = problem_type_name(&uri);
            let (type_id, new_type) = self.problem_types.id_of(&type_name);
            if new_type {
                rows.add(Table::ProblemTypes, |r| {
                    r.int(type_id);
                    r.text(&type_name);
                })?;
            }
            rows.add(Table::Problems, |r| {
                r.int(node.id);
                r.text(&uri);
                r.opt_int(node.parent);
                r.opt_int(node.child_number.map(i64::from));
                r.int(type_id);
                r.null();
                r.null();
                r.null();
                r.null();
                r.null();
                r.null();
                r.opt_int(node.attached);
            })?;
        }
        Ok(())
    }

    fn domain_or_default(&mut self, event: &TrackingEvent) -> Rc<str> {
        if let Some(d) = &self.domain {
            return Rc::clone(d);
        }
        if !event.host().is_empty() {
            let d: Rc<str> = Rc::from(format!("https://{}", event.host().trim_end_matches('/')));
            self.domain = Some(Rc::clone(&d));
            // URLs parsed so far were completed with the default domain.
            self.clear_pages();
            return d;
        }
        Rc::clone(&self.default_domain)
    }

    fn resource_type(
        &mut self,
        rows: &mut Rows,
        content: &str,
        medium: &str,
    ) -> Result<i64, LoadError> {
        let key = (content.to_string(), medium.to_string());
        let (type_id, new_type) = self.resource_types.id_of(&key);
        if new_type {
            rows.add(Table::ResourceTypes, |r| {
                r.int(type_id);
                r.text(content);
                r.text(medium);
            })?;
        }
        Ok(type_id)
    }

    // The index of `uri`'s resource node; a node created by an event is typed by qpipe's content
    // and medium rules (and named by the caller).
    fn resource_node(&mut self, rows: &mut Rows, uri: &str) -> Result<usize, LoadError> {
        let (index, created) = self.resources.insert(uri);
        if created {
            let rule = |rules: &[(&'static str, &'static str)]| {
                rules
                    .iter()
                    .find(|(p, _)| uri.contains(p))
                    .map(|(_, v)| *v)
                    .unwrap_or("")
            };
            let (content, medium) = (rule(&CONTENT_RULES), rule(&MEDIUM_RULES));
            let type_id = self.resource_type(rows, content, medium)?;
            self.resources.node_mut(index).attached = Some(type_id);
        }
        Ok(index)
    }

    /// Writes a `submissions` row (and the user's row when new).
    fn submission(
        &mut self,
        rows: &mut Rows,
        s: &Submitting<'_>,
        id: &str,
        attempt: i64,
        answer: &str,
        code: i64,
    ) -> Result<(), LoadError> {
        self.user(s.user_key, s.user).store(rows)?;
        rows.add(Table::Submissions, |r| {
            r.token(id.as_bytes());
            r.token(s.user.as_bytes());
            r.int(s.problem_id);
            r.datetime(s.time);
            r.int(attempt);
            r.text(answer);
            r.int(code);
            r.opt_text((!s.ip.is_empty()).then_some(s.ip));
            r.int(s.os_id);
            r.int(s.agent_id);
        })
    }

    fn problem(&mut self, module: &ModuleUri, resource_id: i64) -> Result<i64, LoadError> {
        let (index, _) = self.problems.insert(&module.uri());
        let node = self.problems.node_mut(index);
        if node.attached.is_none() && !node.stored {
            node.attached = Some(resource_id);
        }
        Ok(node.id)
    }

    fn agent_ids(&mut self, rows: &mut Rows, agent: &str) -> Result<(i64, i64), LoadError> {
        let key = Fingerprint::of(agent);
        if let Some(&ids) = self.agent_cache.get(&key) {
            return Ok(ids);
        }
        let (os_name, browser_name) = describe_agent(agent);
        let (os_id, new_os) = self.os.id_of(&os_name);
        if new_os {
            rows.add(Table::Os, |r| {
                r.int(os_id);
                r.text(&os_name);
            })?;
        }
        let (agent_id, new_agent) = self.agents.id_of(&browser_name);
        if new_agent {
            rows.add(Table::Agent, |r| {
                r.int(agent_id);
                r.text(&browser_name);
            })?;
        }
        // The cache is bounded by distinct user-agent strings; cap it anyway.
        if self.agent_cache.len() < 100_000 {
            self.agent_cache.insert(key, (os_id, agent_id));
        }
        Ok((os_id, agent_id))
    }
}

/// `problem_types.problem_type_name` of a problem hierarchy node: its module category, or the
/// level it stands for above the categories.
fn problem_type_name(uri: &str) -> String {
    let levels: Vec<&str> = uri
        .trim_start_matches("i4x://")
        .split('/')
        .filter(|l| !l.is_empty())
        .collect();
    match levels.len() {
        0 => "root".into(),
        1 => "organization".into(),
        2 => "course".into(),
        _ => levels[2].to_string(),
    }
}

/// `(os name, browser name)` of a user-agent string, via the woothee parser.
pub fn describe_agent(agent: &str) -> (String, String) {
    match woothee::parser::Parser::new().parse(agent) {
        Some(r) => {
            let os = match (r.os, r.os_version.as_ref()) {
                ("UNKNOWN", _) => "Unknown OS".to_string(),
                // Windows names carry their version already ("Windows 7" / "NT 6.1").
                (os, v) if v.is_empty() || v == "UNKNOWN" || os.starts_with("Windows") => {
                    os.to_string()
                }
                (os, v) => format!("{os} {v}"),
            };
            let browser = match (r.name, r.version) {
                ("UNKNOWN", _) => "Unknown Browser".to_string(),
                (name, v) if v.is_empty() || v == "UNKNOWN" => name.to_string(),
                (name, v) => format!("{name} {v}"),
            };
            (os, browser)
        }
        None => ("Unknown OS".to_string(), "Unknown Browser".to_string()),
    }
}

// The filter and formatting rules test every event type for these: searchers built once, not
// for each test as `str::contains` does.
static SEQUENTIAL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("sequential"));
static PAGE_CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("page_close"));
static I4X: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("i4x:/"));

fn contains(needle: &Finder<'_>, haystack: &str) -> bool {
    needle.find(haystack.as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_types_name_levels() {
        assert_eq!(problem_type_name("i4x://"), "root");
        assert_eq!(problem_type_name("i4x://A/B/"), "course");
        assert_eq!(problem_type_name("i4x://A/B/problem/p/2/1/"), "problem");
    }

    #[test]
    fn classes_follow_the_rules_in_order() {
        assert_eq!(event_class("problem_check"), EventClass::Problem);
        assert_eq!(event_class("i4x_videoalpha_None"), EventClass::Video);
        assert_eq!(
            event_class("peer_grading_show_question"),
            EventClass::OpenResponse
        );
        assert_eq!(event_class("seq_goto"), EventClass::Navigational);
        assert_eq!(event_class("url_change"), EventClass::Plain);
        // Precedence follows qpipe's order, not the position of the word.
        assert_eq!(event_class("video_then_problem"), EventClass::Problem);
        assert_eq!(event_class("seq_book"), EventClass::Pdf);
        assert_eq!(event_class("oe_fullscreen"), EventClass::Video);
        assert_eq!(event_class("seq_grading"), EventClass::OpenResponse);
        assert_eq!(event_class(""), EventClass::Plain);
        assert_eq!(
            event_class("/courses/X/Y/Z/courseware/ab12/cd34/"),
            EventClass::Plain
        );
        // Words that overlap in the text are all found: `transcript` shares its `t` with
        // `rubric_select`, and `oe_` its `o` with `video`.
        assert_eq!(event_class("rubric_selectranscript"), EventClass::Video);
        assert_eq!(event_class("xvideoe_"), EventClass::Video);
        assert_eq!(event_class("showanswerubric_select"), EventClass::Problem);
        // Every word on its own, in the middle of a page URL.
        for (class, words) in CLASS_WORDS {
            for word in words {
                assert_eq!(
                    event_class(&format!("/courses/a/{word}/b")),
                    class,
                    "{word}"
                );
            }
        }
    }

    #[test]
    fn agents_are_described() {
        let (os, browser) = describe_agent(
            "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/27.0.1453.110 Safari/537.36",
        );
        assert_eq!(os, "Windows 7");
        assert!(browser.starts_with("Chrome 27"), "{browser}");
        assert_eq!(describe_agent("").0, "Unknown OS");
    }
}
