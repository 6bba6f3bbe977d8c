//! The dictionaries an event's rows point into: `os` and `agent` (a user-agent string described
//! once, then found by its fingerprint), `urls`, `resource_types`, `resources_urls` and
//! `problem_types`. Each entry's row is written when it is new.

use std::rc::Rc;

use crate::error::LoadError;
use crate::fingerprint::Fingerprint;
use crate::schema::{AgentRow, OsRow, ProblemTypeRow, ResourceTypeRow, ResourceUrlRow, UrlRow};
use crate::sink::Rows;

use super::MoocdbBuilder;
use super::course_url::CourseUrl;

/// The resource types whose ids the MOOCdb feature SQL of MIT (DigitalLearnerQuantified,
/// features 16 to 18) and EDUlib (feature 302) names: `(content, medium, id)`. Other types take
/// the other ids in order of first use.
const FIXED_TYPE_IDS: [(&str, &str, i64); 3] = [
    ("book", "text", 3),
    ("lecture", "video", 4),
    ("wiki", "text", 7),
];

impl MoocdbBuilder {
    pub(super) fn agent_ids(
        &mut self,
        rows: &mut Rows,
        agent: &str,
    ) -> Result<(i64, i64), LoadError> {
        let key = Fingerprint::of(agent);
        if let Some(&ids) = self.agent_cache.get(&key) {
            return Ok(ids);
        }
        let (os_name, browser_name) = describe_agent(agent);
        let (os_id, new_os) = self.os.id_of(&os_name);
        if new_os {
            rows.push(&OsRow {
                os_id,
                os_name: &os_name,
            })?;
        }
        let (agent_id, new_agent) = self.agents.id_of(&browser_name);
        if new_agent {
            rows.push(&AgentRow {
                agent_id,
                agent_name: &browser_name,
            })?;
        }
        // The cache is bounded by distinct user-agent strings; cap it anyway.
        if self.agent_cache.len() < 100_000 {
            self.agent_cache.insert(key, (os_id, agent_id));
        }
        Ok((os_id, agent_id))
    }

    // The text and id of `page`'s `urls` row, written when new. `slot`: the cache entry `page`
    // is still the parsed form of, which remembers them.
    pub(super) fn url_row(
        &mut self,
        rows: &mut Rows,
        page: &CourseUrl,
        slot: Option<usize>,
    ) -> Result<(Rc<str>, i64), LoadError> {
        if let Some((text, id)) = slot.and_then(|s| self.pages[s].url_row.as_ref()) {
            return Ok((Rc::clone(text), *id));
        }
        let text = page.to_string();
        let id = match self.urls.get(&text) {
            Some(id) => id,
            None => match (self.urls_as_resources)
                .then(|| self.resources.index_of(&text))
                .flatten()
            {
                // The URL is a resource's address: its row is the resource's.
                Some(index) => {
                    self.address_row(rows, index, &text)?;
                    self.resources.node(index).id
                }
                // Any other URL: an id of the resources' numbering, or of its own.
                None => {
                    let id = if self.urls_as_resources {
                        let id = self.resources.reserve_id();
                        self.urls.insert_new(text.clone(), id);
                        id
                    } else {
                        self.urls.id_of(&text).0
                    };
                    rows.push(&UrlRow {
                        url_id: id,
                        url: &text,
                    })?;
                    id
                }
            },
        };
        let text: Rc<str> = Rc::from(text);
        if let Some(s) = slot {
            self.pages[s].url_row = Some((Rc::clone(&text), id));
        }
        Ok((text, id))
    }

    /// The address row in `urls` of the resource at `index`, whose URI is `uri`: its URI under
    /// its id, so that `observed_events.url_id` names a URL as well (see [`KnownEntries`]).
    /// Written once.
    pub(super) fn address_row(
        &mut self,
        rows: &mut Rows,
        index: usize,
        uri: &str,
    ) -> Result<(), LoadError> {
        if self.resources.node(index).addressed() {
            return Ok(());
        }
        rows.push(&UrlRow {
            url_id: self.resources.node(index).id,
            url: uri,
        })?;
        self.resources.node_mut(index).set_addressed();
        Ok(())
    }

    pub(super) fn resource_type(
        &mut self,
        rows: &mut Rows,
        content: &str,
        medium: &str,
    ) -> Result<i64, LoadError> {
        let key = (content.to_string(), medium.to_string());
        let (type_id, new_type) = match self.resource_types.get(&key) {
            Some(id) => (id, false),
            None if self.urls_as_resources => {
                let id = match FIXED_TYPE_IDS
                    .iter()
                    .find(|(c, m, _)| (*c, *m) == (content, medium))
                {
                    Some(&(_, _, id)) => id,
                    None => self.resource_types.next_id_avoiding(|id| {
                        FIXED_TYPE_IDS.iter().any(|&(_, _, fixed)| fixed == id)
                    }),
                };
                self.resource_types.insert_new(key, id);
                (id, true)
            }
            None => self.resource_types.id_of(&key),
        };
        if new_type {
            rows.push(&ResourceTypeRow {
                resource_type_id: type_id,
                resource_type_content: content,
                resource_type_medium: medium,
            })?;
        }
        Ok(type_id)
    }

    // The `resources_urls` row linking a resource to a URL, written when new.
    pub(super) fn resource_url(
        &mut self,
        rows: &mut Rows,
        resource_id: i64,
        url_id: i64,
    ) -> Result<(), LoadError> {
        let (link_id, new_link) = self.resources_urls.id_of(&(resource_id, url_id));
        if new_link {
            rows.push(&ResourceUrlRow {
                resources_urls_id: link_id,
                resource_id,
                url_id,
            })?;
        }
        Ok(())
    }

    pub(super) fn problem_type(
        &mut self,
        rows: &mut Rows,
        type_name: String,
    ) -> Result<i64, LoadError> {
        let (type_id, new_type) = self.problem_types.id_of(&type_name);
        if new_type {
            rows.push(&ProblemTypeRow {
                problem_type_id: type_id,
                problem_type_name: &type_name,
            })?;
        }
        Ok(type_id)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    use crate::moocdb::in_memory::{moocdb_rows, row_where, rows_where, tracking_event};
    use crate::sink::in_memory::TableRows;

    // The rows of this family's tables that one file of `events` gives, without a database.
    fn rows_of(events: &[Value]) -> TableRows {
        moocdb_rows(events, &["os", "agent", "urls"])
    }

    const CHROME: &str = "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/27.0.1453.110 Safari/537.36";
    const FIREFOX: &str =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.8; rv:21.0) Gecko/20100101 Firefox/21.0";

    #[test]
    fn each_agent_and_page_is_one_entry() {
        let pages = ["info", "progress", "info"].map(|p| {
            format!("https://courses.example.org/courses/DemoX/Loader101/2013_Spring/{p}")
        });
        let events: Vec<Value> = [CHROME, FIREFOX, CHROME]
            .iter()
            .zip(&pages)
            .enumerate()
            .map(|(i, (agent, page))| {
                let time = format!("2013-06-12T09:1{i}:00");
                let link = "edx.ui.lms.link_clicked";
                let mut e = tracking_event("learner01", &time, link, "browser", page, json!("{}"));
                e["agent"] = json!(agent);
                e
            })
            .collect();
        let t = rows_of(&events);
        let names = |table: &str, column: &str| -> Vec<String> {
            t[table].iter().map(|r| r[column].clone()).collect()
        };
        assert_eq!(names("os", "os_name"), ["Windows 7", "Mac OSX 10.8"]);
        assert_eq!(
            names("agent", "agent_name"),
            ["Chrome 27.0.1453.110", "Firefox 21.0"]
        );
        assert_eq!(
            names("urls", "url"),
            [&pages[0], &pages[1]].map(|p| format!("{p}/"))
        );
        assert_eq!(row_where(&t, "os", "os_name", "Windows 7")["os_id"], "1");
        assert!(rows_where(&t, "agent", "agent_id", "3").is_empty());
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
