//! MOOCdb stage: qpipe's tables from the events the relations stage accepted.
//!
//! Stateful: the dictionaries (`urls`, `os`, `agent`, `resource_types`), the resources, the set
//! of known users and each user's staged event (whose duration is known only when the user's next
//! event arrives) are kept in memory: they grow with distinct users and URLs, not with the log.

pub mod course_url;
pub mod dictionary;

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;

use crate::error::LoadError;
use crate::identity::{LineIdentity, RowId, RowKind};
use crate::parse::TrackingEvent;
use crate::relations::RelationsOutcome;
use crate::schema::Table;
use crate::sink::Rows;

use dictionary::Dictionary;

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

/// qpipe's content rules: resource URI pattern → `resource_type_content` (first match wins).
const CONTENT_RULES: [(&str, &str); 13] = [
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
    ("open_ended", "problem"),
];
const PROFILE_WORDS: [&str; 3] = ["profile", "login", "account"];

/// qpipe's medium rules: resource URI pattern → `resource_type_medium`.
const MEDIUM_RULES: [(&str, &str); 13] = [
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
];

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
    /// `resources` rows: id and URI.
    pub resources: Vec<(i64, String)>,
    /// `resources_urls` rows.
    pub resources_urls: Vec<(i64, i64, i64)>,
    /// `users` rows.
    pub users: Vec<String>,
}

// The staged (latest) observed event of one user.
#[derive(Debug, Clone)]
struct StagedEvent {
    id: RowId,
    resource_id: i64,
    time: NaiveDateTime,
    ip: String,
    os: i64,
    agent: i64,
    event_type: String,
}

/// Builds the MOOCdb rows.
pub struct MoocdbBuilder {
    options: MoocdbOptions,
    domain: Option<String>,
    urls: Dictionary<String>,
    os: Dictionary<String>,
    agents: Dictionary<String>,
    resource_types: Dictionary<(String, String)>,
    resources: Dictionary<String>,
    resources_urls: Dictionary<(i64, i64)>,
    users: HashSet<String>,
    staged: HashMap<String, StagedEvent>,
    agent_cache: HashMap<String, (i64, i64)>,
}

impl MoocdbBuilder {
    /// A builder continuing from what the database already holds.
    pub fn new(options: MoocdbOptions, known: KnownEntries) -> Self {
        let mut b = MoocdbBuilder {
            domain: options.domain.clone(),
            options,
            urls: Dictionary::new(1),
            os: Dictionary::new(1),
            agents: Dictionary::new(1),
            resource_types: Dictionary::new(1),
            resources: Dictionary::new(1),
            resources_urls: Dictionary::new(1),
            users: known.users.into_iter().collect(),
            staged: HashMap::new(),
            agent_cache: HashMap::new(),
        };
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
        for (id, uri) in known.resources {
            b.resources.insert_existing(uri, id);
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

    /// Adds the MOOCdb rows of one event.
    pub fn add_event(
        &mut self,
        rows: &mut Rows,
        event: &TrackingEvent,
        identity: &LineIdentity,
        relations: &RelationsOutcome,
    ) -> Result<(), LoadError> {
        if self.domain.is_none() {
            self.domain = course_url::domain_of(&event.page)
                .or_else(|| course_url::domain_of(&event.referer));
        }
        let et = relations.event_type.as_str();
        if et.contains("sequential") || et.contains("page_close") {
            return Ok(());
        }
        let (event_type, page) = self.classify(event, et);
        if NOT_OBSERVED.contains(&event_type.as_str()) {
            return Ok(());
        }
        let domain = self.domain_or_default(event);
        let url = course_url::normalise(&page, &domain);

        let (url_id, new_url) = self.urls.id_of(&url);
        if new_url {
            rows.add(Table::Urls, |r| {
                r.int(url_id);
                r.text(&url);
            })?;
        }
        let uri = if url.is_empty() {
            "https://unknown/".to_string()
        } else {
            url.clone()
        };
        let resource_id = self.resource(rows, &uri)?;
        let (link_id, new_link) = self.resources_urls.id_of(&(resource_id, url_id));
        if new_link {
            rows.add(Table::ResourcesUrls, |r| {
                r.int(link_id);
                r.int(resource_id);
                r.int(url_id);
            })?;
        }
        let (os_id, agent_id) = self.agent_ids(rows, &event.agent)?;

        let user = relations.anon_screen_name.clone();
        if self.users.insert(user.clone()) {
            rows.add(Table::Users, |r| r.text(&user))?;
        }
        let current = StagedEvent {
            id: identity.id(RowKind::TrackEventRow, 0),
            resource_id,
            time: event.time,
            ip: relations.ip_country.chars().take(3).collect(),
            os: os_id,
            agent: agent_id,
            event_type,
        };
        match self.staged.get(&user) {
            Some(staged) if current.time < staged.time => {
                // Arrived out of time order: it lasts until the staged (later) event.
                let duration = self.duration(current.time, staged.time);
                write_observed_event(rows, &user, &current, Some(duration))?;
            }
            Some(staged) => {
                let duration = self.duration(staged.time, current.time);
                let staged = staged.clone();
                write_observed_event(rows, &user, &staged, Some(duration))?;
                self.staged.insert(user, current);
            }
            None => {
                self.staged.insert(user, current);
            }
        }
        Ok(())
    }

    /// Writes every user's staged event, whose duration is not known yet (NULL).
    pub fn finish(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        let mut staged: Vec<_> = self.staged.drain().collect();
        staged.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        for (user, event) in staged {
            write_observed_event(rows, &user, &event, None)?;
        }
        Ok(())
    }

    fn duration(&self, from: NaiveDateTime, to: NaiveDateTime) -> i64 {
        let seconds = (to - from).num_seconds().max(0);
        if seconds > self.options.max_duration {
            self.options.default_duration
        } else {
            seconds
        }
    }

    fn domain_or_default(&mut self, event: &TrackingEvent) -> String {
        if let Some(d) = &self.domain {
            return d.clone();
        }
        if !event.host.is_empty() {
            let d = format!("https://{}", event.host.trim_end_matches('/'));
            self.domain = Some(d.clone());
            return d;
        }
        "https://www.edx.org".to_string()
    }

    // qpipe's specific formatting rules: the observed event type and the page it happened on.
    fn classify(&mut self, event: &TrackingEvent, et: &str) -> (String, String) {
        if et.starts_with("seq_") {
            return (et.to_string(), event.page.clone());
        }
        if let Some(i) = et.find("i4x:/") {
            let rest = et[i..].trim_start_matches("i4x:").trim_start_matches('/');
            let parts: Vec<_> = rest.split('/').filter(|p| !p.is_empty()).collect();
            if parts.len() >= 3 {
                let category = parts[2];
                let action = parts.get(4).copied();
                let t = match action {
                    Some(a) => format!("i4x_{category}_{a}"),
                    None => format!("i4x_{category}"),
                };
                return (t, event.page.clone());
            }
        }
        if et.starts_with('/') && !et.contains(':') {
            let domain = self.domain_or_default(event);
            return ("url_change".to_string(), format!("{domain}{et}"));
        }
        (et.to_string(), event.page.clone())
    }

    fn resource(&mut self, rows: &mut Rows, uri: &str) -> Result<i64, LoadError> {
        let (id, new) = self.resources.id_of(&uri.to_string());
        if new {
            let content = CONTENT_RULES
                .iter()
                .find(|(p, _)| uri.contains(p))
                .map(|(_, c)| *c)
                .or_else(|| {
                    PROFILE_WORDS
                        .iter()
                        .any(|w| uri.contains(w))
                        .then_some("profile")
                })
                .unwrap_or("");
            let medium = MEDIUM_RULES
                .iter()
                .find(|(p, _)| uri.contains(p))
                .map(|(_, m)| *m)
                .unwrap_or("");
            let key = (content.to_string(), medium.to_string());
            let (type_id, new_type) = self.resource_types.id_of(&key);
            if new_type {
                rows.add(Table::ResourceTypes, |r| {
                    r.int(type_id);
                    r.text(content);
                    r.text(medium);
                })?;
            }
            rows.add(Table::Resources, |r| {
                r.int(id);
                r.null();
                r.text(uri);
                r.int(type_id);
                r.null();
                r.null();
                r.null();
                r.null();
            })?;
        }
        Ok(id)
    }

    fn agent_ids(&mut self, rows: &mut Rows, agent: &str) -> Result<(i64, i64), LoadError> {
        if let Some(&ids) = self.agent_cache.get(agent) {
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
            self.agent_cache
                .insert(agent.to_string(), (os_id, agent_id));
        }
        Ok((os_id, agent_id))
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

fn write_observed_event(
    rows: &mut Rows,
    user: &str,
    e: &StagedEvent,
    duration: Option<i64>,
) -> Result<(), LoadError> {
    rows.add(Table::ObservedEvents, |r| {
        r.text(e.id.as_str());
        r.text(user);
        r.int(e.resource_id);
        r.datetime(&e.time);
        r.opt_int(duration);
        r.opt_text((!e.ip.is_empty()).then_some(e.ip.as_str()));
        r.int(e.os);
        r.int(e.agent);
        r.text(&e.event_type);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
