//! The resources events happen on, and their hierarchy: the page an event is on (parsed once per
//! page and cached, with what it maps to), the module it names, qpipe's formatting and location
//! rules that complete them (steps 2 to 5), and the `resources` node they make, typed by qpipe's
//! content and medium rules (steps 7 and 8).

use std::borrow::Cow;
use std::rc::Rc;

use crate::error::LoadError;
use crate::fingerprint::Fingerprint;
use crate::parse::TrackingEvent;
use crate::relations::{RelationsOutcome, TrackRow};
use crate::schema::ResourceRow;
use crate::sink::Rows;
use crate::text_cache::TextCache;

use super::course_url::CourseUrl;
use super::module_uri::ModuleUri;
use super::observed_events::EventClass;
use super::user_record::UserRecord;
use super::{CACHE_LIMIT, I4X, MoocdbBuilder, contains};

/// A user's location is inherited by the user's events within this many seconds (qpipe's hour).
pub(super) const LOCATION_SECONDS: i64 = 3600;

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

/// A page parsed once, with what it maps to when an event leaves it as it is (most events):
/// its `urls` row and the resource whose URI is the URL itself, found on first use. Without
/// them every event hashed and compared its URL text (about 100 bytes) in three maps, and
/// rendered and copied it twice.
pub(super) struct CachedPage {
    pub(super) url: Rc<CourseUrl>,
    /// The `urls` text and id.
    pub(super) url_row: Option<(Rc<str>, i64)>,
    /// The index of the `resources` node for an event without a module or video code.
    pub(super) resource: Option<usize>,
    /// Whether that node's `resources_urls` row with this URL exists.
    pub(super) linked: bool,
}

/// Where an event row happened: its page, the cache entry of the page while `page` is the page
/// as parsed, and the module it names.
pub(super) struct EventPlace {
    pub(super) page: Rc<CourseUrl>,
    pub(super) slot: Option<usize>,
    pub(super) module: Option<ModuleUri>,
}

impl MoocdbBuilder {
    /// Step 2, generic formatting: the row's page, and the first place a module is named. A
    /// server event logged without a page (`x_module`, null) that came from a page of the
    /// courseware, as its `referer` says, happened on that page.
    pub(super) fn event_place(
        &mut self,
        row: &TrackRow<'_>,
        referer: &str,
        domain: &str,
        course: Option<&str>,
    ) -> EventPlace {
        // The page's cache entry while `page` is the page as parsed.
        let (mut page, mut slot) = self.course_url(row.page, domain);
        if page.is_empty() && !referer.is_empty() {
            (page, slot) = self.courseware_page_or(referer, row.page, domain);
        }
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
                && let Some(m) = self.module_in(s, course, category)
            {
                module = Some(m);
                break;
            }
        }
        EventPlace {
            page,
            slot: Some(slot),
            module,
        }
    }

    /// Step 3, specific formatting (first match): a sequence's destination, an `i4x://` event
    /// type's module, a path logged as the event type.
    pub(super) fn specific_formatting(
        &mut self,
        event_type: &mut Cow<'_, str>,
        place: &mut EventPlace,
        relations: &RelationsOutcome<'_>,
        row: &TrackRow<'_>,
        domain: &str,
    ) {
        if event_type.starts_with("seq_") {
            if place.page.at_subunit()
                && let Some(dest) = row.goto_dest.filter(|d| *d >= 0)
            {
                let mut digits = itoa::Buffer::new();
                place.page = page_at_seq(&mut self.pages_at_seq, &place.page, digits.format(dest));
                place.slot = None;
            }
        } else if contains(&I4X, event_type) {
            // Many events repeat a path (each view of a unit's frame): parsed once.
            if let Some(m) = self.module_uri(event_type) {
                *event_type = match &m.action {
                    Some(a) => Cow::Owned(format!("i4x_{}_{a}", m.category)),
                    None => Cow::Owned(format!("i4x_{}", m.category)),
                };
                if place.module.is_none() {
                    place.module = Some(m);
                }
            }
            // The LMS serving a unit's frame (`/xblock/<usage>`, logged without a page): the
            // request is on the unit's page, not on the last page the user was seen on.
            if place.page.is_empty() && relations.event_type.starts_with("/xblock/") {
                let (url, slot) = self.courseware_page_or(relations.event_type, row.page, domain);
                (place.page, place.slot) = (url, Some(slot));
            }
        } else if event_type.starts_with('/') && !event_type.contains(':') {
            // The path as logged: `urls` keeps its keys as they were.
            let (url, slot) = self.course_url(relations.event_type, domain);
            (place.page, place.slot) = (url, Some(slot));
            *event_type = Cow::Borrowed("url_change");
        }
    }

    /// Steps 4 and 5, location inheritance and update (per user, within [`LOCATION_SECONDS`]).
    pub(super) fn follow_location(
        &mut self,
        place: &mut EventPlace,
        event_type: &str,
        event: &TrackingEvent,
        relations: &RelationsOutcome<'_>,
        row: &TrackRow<'_>,
    ) {
        let (user, user_key) = (&relations.anon_screen_name, relations.anon_key);
        // The fields, not `self.user`: the record stays borrowed while pages are shared.
        let record = (self.users).get_or_insert_with(user_key, || UserRecord::new(user));
        if let Some((location, at)) = record.location() {
            let gap = (event.time - *at).num_seconds();
            if !location.is_empty() && (0..LOCATION_SECONDS).contains(&gap) {
                if place.page.is_empty() {
                    if location.in_courseware() {
                        place.page = Rc::clone(location);
                        place.slot = None;
                    }
                } else if place.page.seq().is_none()
                    && place.page.same_subunit(location)
                    && let Some(seq) = location.seq()
                {
                    place.page = page_at_seq(&mut self.pages_at_seq, &place.page, seq);
                    place.slot = None;
                }
            }
        }
        let mut location = Rc::clone(&place.page);
        if event_type.starts_with("seq_")
            && location.at_subunit()
            && let Some(dest) = row.goto_dest.filter(|d| *d >= 0)
        {
            let mut digits = itoa::Buffer::new();
            location = page_at_seq(&mut self.pages_at_seq, &location, digits.format(dest));
        }
        let latest_event = self.latest_event.unwrap_or(event.time);
        let (activity, begun) = record.seen(latest_event);
        activity.location = Some((location, event.time));
        record.changed = true;
        if begun {
            self.active.push_back((latest_event, user_key));
        }
    }

    /// Steps 6 to 8: the id of the event's resource, the URL extended by the module and the
    /// video code, named, given its address in `urls` and linked to the page's URL when new.
    /// The resource comes first: a page's URL that is a resource's address takes its id.
    pub(super) fn event_resource(
        &mut self,
        rows: &mut Rows,
        place: &EventPlace,
        class: EventClass,
        row: &TrackRow<'_>,
    ) -> Result<i64, LoadError> {
        let module = &place.module;
        // A module is a resource below its page, unless the page is the module's own (an event
        // in a unit's frame that names the unit).
        let module_part = module
            .as_ref()
            .filter(|m| class != EventClass::Navigational && !place.page.shows(m));
        let code = match class {
            EventClass::Video if row.video_code.is_empty() => row.transcript_code,
            EventClass::Video => row.video_code,
            _ => "",
        };
        // The resource's URI: the page's, with its opaque keys in the legacy spelling; built only
        // when the page's cache entry does not know the resource (most events' does).
        let page = &place.page;
        let base = |uri: &mut String| {
            page.push_resource_uri(uri);
            if uri.is_empty() {
                uri.push_str("https://unknown/");
            }
        };
        // The resource is the page's own (its URI is the URL): then the page's cache entry knows it.
        let plain = module_part.is_none() && code.is_empty();
        let plain_slot = place.slot.filter(|_| plain);
        let index = match plain_slot.and_then(|slot| self.pages[slot].resource) {
            Some(index) => index,
            None if plain => {
                let mut uri = String::new();
                base(&mut uri);
                let index = self.resource_node(rows, &uri)?;
                if let Some(slot) = plain_slot {
                    self.pages[slot].resource = Some(index);
                }
                index
            }
            None => {
                let mut uri = String::with_capacity(160);
                base(&mut uri);
                let page_end = uri.len();
                if let Some(m) = module_part {
                    m.push_relative_uri(&mut uri);
                }
                if !code.is_empty() {
                    uri.push('_');
                    uri.push_str(code);
                }
                let index = self.resource_node(rows, &uri)?;
                // The page's resource, above the module's, has its address too: a page whose
                // URL is its address (legacy keys) has it from the URL's row, and one whose URL
                // spells its keys otherwise must have it as well.
                if self.urls_as_resources
                    && let Some(page_index) = self.resources.index_of(&uri[..page_end])
                {
                    self.address_row(rows, page_index, &uri[..page_end])?;
                }
                index
            }
        };
        let node = self.resources.node_mut(index);
        if node.name().is_none() && !node.stored() {
            node.set_name(
                Some(row.resource_display_name)
                    .filter(|n| !n.is_empty())
                    .map(Box::<str>::from)
                    .or_else(|| (module.as_ref().and_then(ModuleUri::name)).map(Box::<str>::from)),
            );
        }
        let resource_id = node.id;
        let (_, url_id) = self.url_row(rows, &place.page, place.slot)?;
        if self.urls_as_resources && !self.resources.node(index).addressed() {
            let uri = self.resources.uri(index);
            self.address_row(rows, index, &uri)?;
        }
        if !plain_slot.is_some_and(|slot| self.pages[slot].linked) {
            self.resource_url(rows, resource_id, url_id)?;
            if let Some(slot) = plain_slot {
                self.pages[slot].linked = true;
            }
        }
        Ok(resource_id)
    }

    // The parsed page and the index of its cache entry.
    pub(super) fn course_url(&mut self, page: &str, domain: &str) -> (Rc<CourseUrl>, usize) {
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

    // The page `text` names when it is in the courseware, else the page `page` names, looked up
    // again: parsing `text` may have emptied the cache, and with it the slot `page` had.
    fn courseware_page_or(
        &mut self,
        text: &str,
        page: &str,
        domain: &str,
    ) -> (Rc<CourseUrl>, usize) {
        let (url, slot) = self.course_url(text, domain);
        if url.in_courseware() {
            (url, slot)
        } else {
            self.course_url(page, domain)
        }
    }

    // A slot from `course_url` is valid until the next call to this (which only `course_url`
    // and the domain's discovery make): `add_row` takes a new slot whenever it parses a page.
    pub(super) fn clear_pages(&mut self) {
        self.url_cache.clear();
        self.pages.clear();
    }

    // `s`, logged without its course, as a module of `course` ([`ModuleUri::parse_in`]); every
    // video event repeats its video's id.
    fn module_in(&mut self, s: &str, course: Option<&str>, category: &str) -> Option<ModuleUri> {
        let key = &mut self.module_key;
        key.clear();
        for part in [course.unwrap_or_default(), "\n", category, "\n", s] {
            key.push_str(part);
        }
        self.bare_module_cache
            .get_or_derive(key, |_| ModuleUri::parse_in(s, course, category))
    }

    fn module_uri(&mut self, s: &str) -> Option<ModuleUri> {
        if s.is_empty() {
            return None;
        }
        self.module_cache.get_or_derive(s, ModuleUri::parse)
    }

    // The index of `uri`'s resource node; a node created by an event is typed by qpipe's content
    // and medium rules (and named by the caller).
    pub(super) fn resource_node(&mut self, rows: &mut Rows, uri: &str) -> Result<usize, LoadError> {
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
            self.resources.node_mut(index).attach(type_id);
        }
        Ok(index)
    }

    // The `resources` rows of the nodes created since the last call.
    pub(super) fn write_resources(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        let untyped = self.resource_type(rows, "", "")?;
        for index in self.resources.take_unstored() {
            let uri = self.resources.uri(index);
            // Nothing reads a node's name once its row is written.
            let name = self.resources.node_mut(index).take_name();
            let node = self.resources.node(index);
            rows.push(&ResourceRow {
                resource_id: node.id,
                resource_name: name.as_deref(),
                resource_uri: &uri,
                resource_type_id: node.attached().unwrap_or(untyped),
                resource_parent_id: node.parent(),
                resource_child_number: None,
                resource_relevant_week: None,
                resource_release_date: None,
            })?;
        }
        Ok(())
    }
}

/// `page` at sequence position `seq`, shared: users' locations hold it for as long as they stay
/// on it, and learners on the same unit and position need one copy, not one each. The bench's
/// generated learners seldom share one: at the peak of its 5M-event, 100-course split the
/// copies held 14 MB, the shared pages and the cache 12 MB (`heaptrack`).
fn page_at_seq(
    shared: &mut TextCache<Rc<CourseUrl>>,
    page: &CourseUrl,
    seq: &str,
) -> Rc<CourseUrl> {
    let mut url = page.clone();
    url.set_seq(seq);
    let known = shared.get_or_derive(url.raw(), |_| Rc::new(url.clone()));
    // Found by its text: a page of the same text parsed otherwise is not taken for it.
    if *known == url { known } else { Rc::new(url) }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use crate::moocdb::in_memory::{moocdb_rows, row_where, tracking_event};
    use crate::sink::in_memory::TableRows;

    // The rows of this family's tables that one file of `events` gives, without a database.
    fn rows_of(events: &[Value]) -> TableRows {
        moocdb_rows(
            events,
            &["resources", "resource_types", "resources_urls", "urls"],
        )
    }

    const COURSE: &str = "https://courses.example.org/courses/DemoX/Loader101/2013_Spring/";
    const PAGE: &str =
        "https://courses.example.org/courses/DemoX/Loader101/2013_Spring/courseware/u1/s1/";

    /// The (content, medium) of `node`'s resource type.
    fn type_of(t: &TableRows, node: &BTreeMap<&'static str, String>) -> (String, String) {
        let kind = row_where(
            t,
            "resource_types",
            "resource_type_id",
            &node["resource_type_id"],
        );
        (
            kind["resource_type_content"].clone(),
            kind["resource_type_medium"].clone(),
        )
    }

    #[test]
    fn a_video_event_gives_a_lecture_under_its_course() {
        let video = json!({"id": "i4x-DemoX-Loader101-video-intro", "code": "abc123"});
        let t = rows_of(&[tracking_event(
            "learner01",
            "2013-06-12T09:19:41",
            "play_video",
            "browser",
            PAGE,
            json!(video.to_string()),
        )]);
        // The page's resource extended by the module (named by it) and the video code.
        let node = row_where(&t, "resources", "resource_name", "intro");
        assert_eq!(
            node["resource_uri"],
            format!("{PAGE}_/video/intro/_abc123"),
            "{node:?}"
        );
        assert_eq!(
            type_of(&t, node),
            ("lecture".to_string(), "video".to_string())
        );
        // Its ancestors lead up through the course to the root.
        let mut ancestors = Vec::new();
        let mut parent = node["resource_parent_id"].clone();
        while parent != "NULL" {
            let up = row_where(&t, "resources", "resource_id", &parent);
            ancestors.push(up["resource_uri"].as_str());
            parent = up["resource_parent_id"].clone();
        }
        assert!(ancestors.contains(&COURSE), "{ancestors:?}");
        assert!(ancestors.contains(&PAGE), "{ancestors:?}");
        assert_eq!(ancestors.last(), Some(&"https://"));
        // Linked to the page's URL (the sequence position not known: `_`).
        let link = row_where(&t, "resources_urls", "resource_id", &node["resource_id"]);
        let url = row_where(&t, "urls", "url_id", &link["url_id"]);
        assert_eq!(url["url"], format!("{PAGE}_/"));
    }

    #[test]
    fn events_on_a_page_share_its_resource_typed_by_its_uri() {
        let path = "/courses/DemoX/Loader101/2013_Spring/info";
        let page = format!("https://courses.example.org{path}");
        let mut events = vec![tracking_event(
            "learner01",
            "2013-06-12T09:10:00",
            "edx.ui.lms.link_clicked",
            "browser",
            &page,
            json!("{}"),
        )];
        // The same page requested by others, logged as its path.
        for (user, time) in [("learner02", "09:11:00"), ("learner03", "09:12:00")] {
            let time = format!("2013-06-12T{time}");
            let request = json!({"POST": {}, "GET": {}});
            events.push(tracking_event(user, &time, path, "server", "", request));
        }
        let t = rows_of(&events);
        let [url] = &t["urls"][..] else {
            panic!("one URL: {:?}", t["urls"]);
        };
        assert_eq!(url["url"], format!("{page}/"));
        let [link] = &t["resources_urls"][..] else {
            panic!("one link: {:?}", t["resources_urls"]);
        };
        assert_eq!(link["url_id"], url["url_id"]);
        let node = row_where(&t, "resources", "resource_id", &link["resource_id"]);
        assert_eq!(node["resource_uri"], format!("{page}/"));
        assert_eq!(
            node["resource_parent_id"],
            row_where(&t, "resources", "resource_uri", COURSE)["resource_id"]
        );
        assert_eq!(
            type_of(&t, node),
            ("informational".to_string(), "text".to_string())
        );
    }
}
