//! MOOCdb stage: qpipe's tables from the events the relations stage accepted.
//!
//! Stateful: the dictionaries (`urls`, `os`, `agent`, `resource_types`), the resources, the set
//! of known users and each user's staged event (whose duration is known only when the user's next
//! event arrives) are kept in memory: they grow with distinct users and URLs, not with the log.
//!
//! Each family of tables is a module, and `add_row` takes an event row through them in qpipe's
//! order of steps: `dictionaries` (`os`, `agent`, `urls`, `resource_types`, `resources_urls`,
//! `problem_types`), `resources` (the pages and modules events are on, and the resource
//! hierarchy), `submissions` (`problems`, `submissions`, `assessments`), `observed_events` (with
//! their durations); then `collaborations` takes the event's forum and wiki contributions.

pub mod collaborations;
pub mod course_key;
pub mod course_url;
mod dictionaries;
pub mod dictionary;
pub mod grading;
pub mod hierarchy;
#[cfg(test)]
mod in_memory;
pub mod module_uri;
mod observed_events;
mod resources;
mod submissions;
mod user_record;

pub use dictionaries::describe_agent;

use foldhash::{HashMap, HashSet};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::LazyLock;
use submissions::GradedSubmission;

use memchr::memmem::Finder;

use chrono::NaiveDateTime;

use crate::error::LoadError;
use crate::fingerprint::{DenseFingerprintMap, Fingerprint, FingerprintMap};
use crate::identity::{AnonName, RowId, StoredRowId};
use crate::parse::TrackingEvent;
use crate::relations::{RelationsOutcome, TrackRow};
use crate::sink::Rows;
use crate::state::UserState;
use crate::text_cache::TextCache;
use user_record::{Activity, SharedText, UserRecord};

use collaborations::Contributions;
use course_url::CourseUrl;
use dictionary::Dictionary;
use hierarchy::Hierarchy;
use module_uri::ModuleUri;
use observed_events::event_class;
use resources::CachedPage;

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
    /// Whether the database numbers `urls` on their own and resource types in order of first
    /// use, as databases that held URLs before migration `0009` do. Otherwise (setting
    /// `urls_numbering` = `resources`) `urls` shares the numbering of `resources` and lecture,
    /// book and wiki have the type ids the MOOCdb feature SQL names.
    pub urls_numbered_on_their_own: bool,
}

/// Builds the MOOCdb rows. Its shared texts and pages are `Rc`: it lives on the transform thread
/// alone (see `RelationBuilder`).
pub struct MoocdbBuilder {
    options: MoocdbOptions,
    // Shared: every row needs it while the builder is borrowed mutably.
    domain: Option<Rc<str>>,
    /// The domain of a log whose events name none.
    default_domain: Rc<str>,
    /// URLs by text; where `urls` is numbered as `resources`, only those that are no
    /// resource's address (a resource's node knows whether its address row is written).
    urls: Dictionary<String>,
    /// Whether `urls` shares the numbering of `resources` ([`KnownEntries`]).
    urls_as_resources: bool,
    os: Dictionary<String>,
    agents: Dictionary<String>,
    resource_types: Dictionary<(String, String)>,
    problem_types: Dictionary<String>,
    resources_urls: Dictionary<(i64, i64)>,
    resources: Hierarchy,
    problems: Hierarchy,
    // One entry per user, not one per user in each of four maps: memory grows with the users.
    // Keyed by the fingerprint of the user's hash, which the relations stage makes once per
    // user (no hashing of 40 digits, no text compared).
    users: DenseFingerprintMap<UserRecord>,
    /// The users with an activity, each once, by the time of the latest event when they were
    /// last seen (roughly in that order: a user found still active is queued again at the back).
    active: VecDeque<(NaiveDateTime, Fingerprint)>,
    /// The time of the latest event: a user not seen while it moved on by more than
    /// [`MoocdbBuilder::idle_after`] is idle.
    latest_event: Option<NaiveDateTime>,
    agent_cache: FingerprintMap<(i64, i64)>,
    // Parsing URLs and module ids takes several regular expressions; the same pages and modules
    // come back all the time. Bounded: cleared when full.
    // Shared, not copied: a user's location is usually a page many users are on. The index of
    // the page's entry in `pages`.
    url_cache: FingerprintMap<usize>,
    pages: Vec<CachedPage>,
    module_cache: TextCache<Option<ModuleUri>>,
    // Ids logged without their course (bare video and answer ids), by course, category and id
    // (`module_key` holds the three, reused).
    bare_module_cache: TextCache<Option<ModuleUri>>,
    module_key: String,
    // The course of an event's context or page text.
    course_cache: TextCache<Option<Rc<str>>>,
    // Event types holding opaque keys, in the legacy spelling.
    spellings: TextCache<Rc<str>>,
    // Pages with the sequence position a user navigated to or inherited, by their text.
    pages_at_seq: TextCache<Rc<CourseUrl>>,
    // Countries and event types, one copy each however many users' staged events hold them.
    texts: HashSet<SharedText>,
    // The last graded submission of each user (by fingerprint) and problem: what a rescore
    // assesses again. Grows with users × problems answered, not with the log.
    // Latest by time, as the database is read back: a batched load finds the same submission.
    // In a dense map (by the fingerprint of the learner's and the problem's): a `HashMap` of
    // 48-byte slots is a quarter to a half empty after it grows, in each course database.
    graded: DenseFingerprintMap<GradedSubmission>,
    // ORA submissions, which peer, self and staff assessments grade.
    open_submissions: HashSet<String>,
    // The file's forum and wiki contributions.
    contributions: Contributions,
}

/// An event row as the steps after the formatting rules read it.
struct FormattedRow<'a> {
    event: &'a TrackingEvent,
    relations: &'a RelationsOutcome<'a>,
    row: &'a TrackRow<'a>,
    id: &'a RowId,
    /// The event type as the formatting rules left it.
    event_type: &'a str,
    user: &'a AnonName,
    user_key: Fingerprint,
    /// The country: qpipe cut it to three characters; an alpha-3 code, or none, already is.
    ip: &'a str,
    os_id: i64,
    agent_id: i64,
}

/// Entries a parse cache holds before it is cleared.
const CACHE_LIMIT: usize = 100_000;

impl MoocdbBuilder {
    /// A builder continuing from what the database already holds and the users' carried state.
    pub fn new(
        options: MoocdbOptions,
        known: KnownEntries,
        users: Vec<UserState>,
        latest_event: Option<NaiveDateTime>,
    ) -> Self {
        let mut b = MoocdbBuilder {
            domain: options.domain.as_deref().map(Rc::from),
            default_domain: Rc::from("https://www.edx.org"),
            options,
            urls: Dictionary::new(1),
            urls_as_resources: !known.urls_numbered_on_their_own,
            os: Dictionary::new(1),
            agents: Dictionary::new(1),
            resource_types: Dictionary::new(1),
            problem_types: Dictionary::new(1),
            resources_urls: Dictionary::new(1),
            resources: Hierarchy::new("https://", known.resources),
            problems: Hierarchy::new("i4x://", known.problems),
            users: DenseFingerprintMap::default(),
            active: VecDeque::new(),
            latest_event: None,
            agent_cache: FingerprintMap::default(),
            url_cache: FingerprintMap::default(),
            pages: Vec::new(),
            module_cache: TextCache::new(CACHE_LIMIT),
            bare_module_cache: TextCache::new(CACHE_LIMIT),
            module_key: String::new(),
            course_cache: TextCache::new(CACHE_LIMIT),
            spellings: TextCache::new(CACHE_LIMIT),
            pages_at_seq: TextCache::new(CACHE_LIMIT),
            texts: HashSet::default(),
            graded: DenseFingerprintMap::default(),
            open_submissions: known.open_submissions.into_iter().collect(),
            contributions: Contributions::default(),
        };
        for (user, problem, submission, time) in known.graded_submissions {
            // This loader writes every graded submission's id from 128 bits; a submission whose
            // id is in another form cannot be assessed again by a rescore.
            match RowId::parse(&submission).and_then(|id| GradedSubmission::new(&time, &id)) {
                Some(graded) => {
                    let key = Fingerprint::of(&user).with(problem);
                    *b.graded.get_or_insert_with(key, || graded) = graded;
                }
                None => tracing::warn!(
                    "table `submissions`: submission `{submission}` is not in the id form this \
                     loader writes; a later problem_rescore of it is not recorded as an assessment"
                ),
            }
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
            let key = Fingerprint::of(&u.user);
            let mut activity = Activity {
                staged,
                location,
                seen_at: NaiveDateTime::MIN,
            };
            // State carried before the time was recorded: the user's own, as for events in
            // time order.
            match u.seen_at.or(activity.last_seen()) {
                Some(seen_at) => {
                    activity.seen_at = seen_at;
                    b.user(key, &u.user).activity = Some(Box::new(activity));
                    b.active.push_back((seen_at, key));
                }
                None => {
                    b.user(key, &u.user);
                }
            }
        }
        b.latest_event = latest_event;
        for (id, url) in known.urls {
            if b.urls_as_resources {
                b.resources.reserve_through(id);
                let address =
                    (b.resources.index_of(&url)).filter(|&i| b.resources.node(i).id == id);
                if let Some(index) = address {
                    b.resources.node_mut(index).set_addressed();
                    continue;
                }
            }
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

    /// The time of the latest event loaded.
    pub fn latest_event(&self) -> Option<NaiveDateTime> {
        self.latest_event
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
        for submission in self.graded.values_mut() {
            if !submission.is_forgotten() && event_ids.contains(submission.id().as_str()) {
                *submission = GradedSubmission::FORGOTTEN;
            }
        }
        for uuid in open_submissions {
            self.open_submissions.remove(uuid);
        }
        for record in self.users.values_mut() {
            if let Some(activity) = &mut record.activity
                && (activity.staged.as_ref())
                    .is_some_and(|e| event_ids.contains(e.id.id().as_str()))
            {
                activity.staged = None;
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
        self.users.get_or_insert_with(key, || UserRecord::new(name))
    }

    // The record of the user whose hash is `name` (state from an earlier load).
    fn named_user(&mut self, name: &str) -> &mut UserRecord {
        self.user(Fingerprint::of(name), name)
    }

    /// The ids the next new dictionary and hierarchy rows will get, by table.
    pub fn next_ids(&self) -> std::collections::BTreeMap<String, i64> {
        [
            (
                "urls",
                if self.urls_as_resources {
                    self.resources.next_id()
                } else {
                    self.urls.next_id()
                },
            ),
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
        if self.latest_event.is_none_or(|latest| event.time > latest) {
            self.latest_event = Some(event.time);
        }
        if let Some(&(seen, _)) = self.active.front()
            && (event.time - seen).num_seconds() > self.idle_after()
        {
            self.rest_idle_users(rows, false)?;
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

    /// `event_type` in the legacy spelling when it holds opaque keys (`None`: it is its own). A
    /// path-style type is a page, which many events repeat: its spelling is remembered.
    fn legacy_event_type(&mut self, event_type: &str) -> Option<Rc<str>> {
        course_key::may_hold_opaque_key(event_type).then(|| {
            self.spellings
                .get_or_derive(event_type, |t| Rc::from(&*course_key::legacy_spelling(t)))
        })
    }

    /// The course an event belongs to, `Org/Course/Run` in the legacy spelling: the first of its
    /// context's `course_id`, its page and its event type that names a course
    /// ([`course_key::course_sources`], the rule that also picks a course's database). Ids
    /// logged without their course (video ids, problem input ids) are resolved against it.
    fn course_of_event(&mut self, event: &TrackingEvent) -> Option<Rc<str>> {
        let context = event
            .context
            .as_ref()
            .and_then(|c| c.get("course_id"))
            .and_then(serde_json::Value::as_str);
        course_key::course_sources(context, event.page(), event.event_type())
            .into_iter()
            .find_map(|text| {
                self.course_cache.get_or_derive(text, |t| {
                    course_key::course_of(t).map(|c| Rc::from(c.as_str()))
                })
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
        let spelled = self.legacy_event_type(relations.event_type);
        let mut event_type: Cow<'_, str> =
            Cow::Borrowed(spelled.as_deref().unwrap_or(relations.event_type));
        // 1. Filter rules.
        if contains(&SEQUENTIAL, &event_type) || contains(&PAGE_CLOSE, &event_type) {
            return Ok(());
        }
        // 2. Generic formatting.
        let domain = self.domain_or_default(event);
        let (os_id, agent_id) = self.agent_ids(rows, event.agent())?;
        let mut place = self.event_place(row, event.referer(), &domain, course);
        // 3. Specific formatting (first match).
        self.specific_formatting(&mut event_type, &mut place, relations, row, &domain);
        // 4. Location inheritance, 5. location update (per user, within an hour).
        self.follow_location(&mut place, &event_type, event, relations, row);
        // 6-8. The resource: the URL, extended by the module and the video code; urls.
        let class = event_class(&event_type);
        let resource_id = self.event_resource(rows, &place, class, row)?;
        let formatted = FormattedRow {
            event,
            relations,
            row,
            id: &row_id,
            event_type: &event_type,
            user: &relations.anon_screen_name,
            user_key: relations.anon_key,
            ip: relations.ip_country,
            os_id,
            agent_id,
        };
        // 9. Problems, submissions, assessments.
        self.grade(rows, &formatted, place.module.as_ref(), class, resource_id)?;
        // 11. Observed events, staged per user until the user's next event.
        self.observe(rows, &formatted, resource_id)
    }

    /// At the end of each file: writes the file's implicit forum requests that no explicit event
    /// stood for (the two are matched within a file) and the hierarchy nodes the file created
    /// (a node is named by the file that created it, as when each file was committed alone).
    pub fn end_of_file(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        self.contributions.end_of_file(rows)?;
        self.write_resources(rows)?;
        self.write_problems(rows)
    }

    /// Before a commit (of one file or of a group of files): writes the staged event of every
    /// user now idle with the default duration, and that of every other user the files touched
    /// (duration not known yet: NULL; it is rewritten when the user's next event arrives or the
    /// user is found idle, so written once per commit, as a statement carries one row per key).
    /// Those users' state, to be carried on, is then read with
    /// [`changed_users`](Self::changed_users) and marked stored with
    /// [`clear_changed`](Self::clear_changed).
    pub fn end_of_commit(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        self.rest_idle_users(rows, true)?;
        self.write_staged(rows)
    }

    /// The state of every user the current file touched, in user order, made one user at a time.
    pub fn changed_users(&self) -> impl Iterator<Item = UserState> + '_ {
        self.changed_records().into_iter().map(|record| UserState {
            user: record.name.text().to_string(),
            staged: (record.staged()).map(|s| s.converted(StoredRowId::id, str::to_string)),
            location: (record.location()).map(|(url, at)| (url.raw().to_string(), *at)),
            seen_at: record.activity.as_ref().map(|a| a.seen_at),
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
}

// The filter and formatting rules test every event type for these: searchers built once, not
// for each test as `str::contains` does.
static SEQUENTIAL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("sequential"));
static PAGE_CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("page_close"));
static I4X: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("i4x:/"));

fn contains(needle: &Finder<'_>, haystack: &str) -> bool {
    needle.find(haystack.as_bytes()).is_some()
}
