//! MOOCdb's collaborating mode: what learners write and vote in a course's forum and wiki, as
//! `collaborations` rows (`docs/event-types.md`, "Collaborations").
//!
//! Open edX logs a forum contribution as an explicit event (`edx.forum.thread.created`, …, since
//! 2015) and, like every request, as the implicit event of its URL
//! (`/courses/<course>/discussion/threads/<id>/reply`, …), which is all that older logs have.
//! Both are read; where a log has both for one contribution (the same user, kind and parent,
//! within [`TWIN_SECONDS`] in the same file), the explicit one is kept: it carries the forum's id
//! of the new post, its discussion and edX's truncation flag.
//!
//! Parents are linked by the forum's ids: a response's parent is its thread, a comment's its
//! response, a vote's or an edit's the post voted on or edited. The link and the order among
//! siblings are set in the database when a file is committed
//! (`store::carried_state::commit_files`), so that a parent loaded in a later file, or in a later
//! run, is linked all the same.

use std::sync::LazyLock;

use chrono::NaiveDateTime;
use regex::Regex;
use serde_json::{Map, Value};

use crate::error::LoadError;
use crate::fingerprint::Fingerprint;
use crate::identity::{AnonName, RowId};
use crate::parse::{EventPayload, TrackingEvent};
use crate::relations::RelationsOutcome;
use crate::schema::{CollaborationRow, Token};
use crate::sink::Rows;

use super::MoocdbBuilder;

/// `collaboration_types` ids (seeded by `migrations/0006_collaborations.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A thread: `forum_post`.
    Post = 1,
    /// A response to a thread: `forum_answer`.
    Answer = 2,
    /// A comment on a response: `forum_comment`.
    Comment = 3,
    /// A wiki page saved: `wiki_edit`.
    WikiEdit = 4,
    /// A vote on a post (or its undoing): `forum_vote`.
    Vote = 5,
    /// A post edited: `forum_edit`.
    Edit = 6,
}

/// Seconds between an implicit request and the explicit event of the same contribution.
pub const TWIN_SECONDS: i64 = 10;

/// One contribution an event records.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// What it is.
    pub kind: Kind,
    /// The text as logged (a vote: `up`, `down`, or `undo` and the value undone).
    pub content: String,
    /// edX's flag: the logged text was cut.
    pub truncated: Option<bool>,
    /// The forum's id of the post this contribution creates.
    pub forum_id: Option<String>,
    /// The forum's id of its parent.
    pub parent_forum_id: Option<String>,
    /// Where in the course: the discussion (`commentable_id`) and thread, or the wiki page.
    pub place: Place,
    /// An `edx.forum.*` event, rather than the implicit event of a request.
    pub explicit: bool,
}

/// A contribution's place in the course, which names its resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Place {
    /// The discussion (`commentable_id`).
    pub discussion: Option<String>,
    /// The thread.
    pub thread: Option<String>,
    /// A wiki page's path.
    pub wiki: Option<String>,
}

impl Place {
    /// The resource's path below the course: `discussion/forum/<discussion>/threads/<thread>/`
    /// (the thread's page), as much of it as is known; `wiki/<page>/`.
    pub fn path(&self) -> String {
        if let Some(page) = &self.wiki {
            return format!("wiki/{}/", page.trim_matches('/'));
        }
        match (&self.discussion, &self.thread) {
            (Some(d), Some(t)) => format!("discussion/forum/{d}/threads/{t}/"),
            (Some(d), None) => format!("discussion/forum/{d}/"),
            (None, Some(t)) => format!("discussion/threads/{t}/"),
            (None, None) => "discussion/forum/".to_string(),
        }
    }
}

// A forum or wiki request: `/courses/<course>/discussion/…` or `/courses/<course>/wiki/…/_edit/`
// (the course in the legacy spelling).
static REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)/courses/[^/]+/[^/]+/[^/]+/(?:
            discussion/(?:
                (?P<discussion>[^/]+)/threads/create
              | threads/(?P<thread>[^/]+)/(?P<thread_action>reply|upvote|downvote|unvote|update)
              | comments/(?P<comment>[^/]+)/(?P<comment_action>reply|upvote|downvote|unvote|update)
            )
          | wiki/(?P<wiki>.+?)/_edit
        )/?$",
    )
    .expect("forum request pattern")
});

fn text_of<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn id_in<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(|v| v.get("id")).and_then(Value::as_str)
}

/// The first value of a form field of an implicit event (`event.POST.<key>`, a list).
fn posted<'a>(event: &'a TrackingEvent, key: &str) -> Option<&'a str> {
    let post = event.event.as_object()?.get("POST")?;
    match post.get(key)? {
        Value::Array(items) => items.first().and_then(Value::as_str),
        Value::String(s) => Some(s),
        _ => None,
    }
}

impl Contribution {
    /// The contribution `event` records: `event_type` is its type as logged, `path` the same
    /// with its keys in the legacy spelling.
    pub fn of(event_type: &str, path: &str, event: &TrackingEvent) -> Option<Contribution> {
        if let Some(rest) = event_type.strip_prefix("edx.forum.") {
            return Contribution::explicit(rest, event);
        }
        if path.starts_with('/') && (path.contains("/discussion/") || path.contains("/wiki/")) {
            return Contribution::implicit(path, event);
        }
        None
    }

    fn explicit(name: &str, event: &TrackingEvent) -> Option<Contribution> {
        let m = event.event.as_object()?;
        let (object, action) = name.split_once('.')?;
        let id = text_of(m, "id").map(str::to_string);
        // The thread: a thread's own id, else the discussion it is in.
        let thread = match object {
            "thread" => id.clone(),
            _ => id_in(m, "discussion").map(str::to_string),
        };
        let place = Place {
            discussion: text_of(m, "commentable_id").map(str::to_string),
            thread,
            wiki: None,
        };
        let body = || text_of(m, "body").unwrap_or("").to_string();
        let truncated = m.get("truncated").and_then(Value::as_bool);
        let (kind, content, forum_id, parent) = match (object, action) {
            ("thread", "created") => (Kind::Post, body(), id, None),
            ("response", "created") => (Kind::Answer, body(), id, place.thread.clone()),
            ("comment", "created") => (
                Kind::Comment,
                body(),
                id,
                id_in(m, "response").map(str::to_string),
            ),
            ("thread" | "response" | "comment", "voted") => {
                let value = text_of(m, "vote_value").unwrap_or("");
                let undo = m.get("undo_vote").and_then(Value::as_bool) == Some(true);
                let content = if undo {
                    format!("undo {value}").trim_end().to_string()
                } else {
                    value.to_string()
                };
                (Kind::Vote, content, None, id)
            }
            ("thread" | "response" | "comment", "edited") => (Kind::Edit, body(), None, id),
            _ => return None,
        };
        Some(Contribution {
            kind,
            content,
            truncated,
            forum_id,
            parent_forum_id: parent,
            place,
            explicit: true,
        })
    }

    fn implicit(path: &str, event: &TrackingEvent) -> Option<Contribution> {
        let c = REQUEST.captures(path)?;
        let group = |name: &str| c.name(name).map(|m| m.as_str().to_string());
        // Only a request that sent a form changed anything (a GET of the wiki's editor did not);
        // a truncated request still did, and its text is lost.
        let truncated = matches!(&event.event, EventPayload::Text(t) if t.contains("POST"));
        let body = |key: &str| posted(event, key).map(str::to_string);
        if let Some(page) = group("wiki") {
            let content = body("content");
            if content.is_none() && !truncated {
                return None;
            }
            return Some(Contribution {
                kind: Kind::WikiEdit,
                content: content.unwrap_or_default(),
                truncated: Some(truncated),
                forum_id: None,
                parent_forum_id: None,
                place: Place {
                    wiki: Some(page),
                    ..Place::default()
                },
                explicit: false,
            });
        }
        let vote = |action: &str| match action {
            "upvote" => "up",
            "downvote" => "down",
            _ => "undo",
        };
        let (kind, content, parent, place) = if let Some(discussion) = group("discussion") {
            let place = Place {
                discussion: Some(discussion),
                ..Place::default()
            };
            (Kind::Post, body("body"), None, place)
        } else if let (Some(thread), Some(action)) = (group("thread"), group("thread_action")) {
            let place = Place {
                thread: Some(thread.clone()),
                ..Place::default()
            };
            match action.as_str() {
                "reply" => (Kind::Answer, body("body"), Some(thread), place),
                "update" => (Kind::Edit, body("body"), Some(thread), place),
                a => (Kind::Vote, Some(vote(a).into()), Some(thread), place),
            }
        } else {
            let (comment, action) = (group("comment")?, group("comment_action")?);
            match action.as_str() {
                "reply" => (Kind::Comment, body("body"), Some(comment), Place::default()),
                "update" => (Kind::Edit, body("body"), Some(comment), Place::default()),
                a => (
                    Kind::Vote,
                    Some(vote(a).into()),
                    Some(comment),
                    Place::default(),
                ),
            }
        };
        Some(Contribution {
            kind,
            content: content.unwrap_or_default(),
            truncated: Some(truncated),
            forum_id: None,
            parent_forum_id: parent,
            place,
            explicit: false,
        })
    }
}

/// A `collaborations` row.
#[derive(Debug, Clone)]
pub struct Collaboration {
    /// `collaboration_id`: the id of the event's row.
    pub id: String,
    /// `user_id`.
    pub user: AnonName,
    /// The contribution.
    pub contribution: Contribution,
    /// `collaboration_timestamp`.
    pub time: NaiveDateTime,
    /// `collaborations_ip`: the country.
    pub ip: &'static str,
    /// `collaborations_os`.
    pub os: i64,
    /// `collaborations_agent`.
    pub agent: i64,
    /// `resource_id`.
    pub resource: i64,
}

impl Collaboration {
    /// Writes the row. Parent ids and child numbers are the database's to set (see the module's
    /// doc): written NULL.
    pub fn write(&self, rows: &mut Rows) -> Result<(), LoadError> {
        let c = &self.contribution;
        rows.push(&CollaborationRow {
            collaboration_id: Token(self.id.as_bytes()),
            user_id: &self.user,
            collaboration_type_id: c.kind as i64,
            collaboration_content: &c.content,
            collaboration_timestamp: &self.time,
            collaboration_parent_id: None,
            collaboration_child_number: None,
            collaborations_ip: (!self.ip.is_empty()).then_some(self.ip),
            collaborations_os: self.os,
            collaborations_agent: self.agent,
            resource_id: self.resource,
            collaboration_forum_id: c.forum_id.as_deref(),
            collaboration_parent_forum_id: c.parent_forum_id.as_deref(),
            collaboration_content_truncated: c.truncated.map(i64::from),
        })
    }

    fn twin_of(&self, user: Fingerprint, other: &Twin) -> bool {
        other.user == user
            && other.kind == self.contribution.kind
            && other.parent == self.contribution.parent_forum_id
            && (other.time - self.time).num_seconds().abs() <= TWIN_SECONDS
    }
}

/// The statements that link contributions to their parents and number siblings, run when a
/// file is committed, in the transaction of its ledger entry: a contribution whose parent's forum
/// id is now in the table gets its parent's id, and the children of a parent that gained one are
/// numbered in time order (then by id), separately for each kind (a thread's responses, its
/// votes, its edits). Both are idempotent, so an interrupted load is put right by the next.
pub const LINK_STATEMENTS: [&str; 2] = [
    // A forum id names one post; where a log holds it twice (copies of a course's events), the
    // earliest creation (then the smallest id) is the parent, whatever was loaded first.
    "UPDATE collaborations c JOIN ( \
       SELECT collaboration_forum_id AS forum_id, \
         MIN(CONCAT(DATE_FORMAT(collaboration_timestamp, '%Y%m%d%H%i%s%f'), collaboration_id)) \
           AS first \
       FROM collaborations WHERE collaboration_forum_id IS NOT NULL \
       GROUP BY collaboration_forum_id \
     ) AS parents ON parents.forum_id = c.collaboration_parent_forum_id \
     SET c.collaboration_parent_id = SUBSTRING(parents.first, 21) \
     WHERE c.collaboration_parent_forum_id IS NOT NULL \
       AND NOT c.collaboration_parent_id <=> SUBSTRING(parents.first, 21)",
    "UPDATE collaborations c JOIN ( \
       SELECT collaboration_id, ROW_NUMBER() OVER ( \
         PARTITION BY collaboration_parent_forum_id, collaboration_type_id \
         ORDER BY collaboration_timestamp, collaboration_id) AS n \
       FROM collaborations \
       WHERE collaboration_parent_forum_id IN ( \
         SELECT collaboration_parent_forum_id FROM collaborations \
         WHERE collaboration_child_number IS NULL AND collaboration_parent_forum_id IS NOT NULL) \
     ) AS siblings ON siblings.collaboration_id = c.collaboration_id \
     SET c.collaboration_child_number = siblings.n",
];

/// What an explicit contribution is matched by.
#[derive(Debug, Clone)]
struct Twin {
    user: Fingerprint,
    kind: Kind,
    parent: Option<String>,
    time: NaiveDateTime,
}

/// A file's contributions: explicit ones are written at once; implicit ones wait for the end of
/// the file, and are dropped when the explicit event of the same contribution turns up.
#[derive(Default)]
pub struct Contributions {
    implicit: Vec<(Fingerprint, Collaboration)>,
    explicit: Vec<Twin>,
}

impl Contributions {
    /// Adds the row of `user` (by fingerprint).
    pub fn add(
        &mut self,
        rows: &mut Rows,
        user: Fingerprint,
        row: Collaboration,
    ) -> Result<(), LoadError> {
        if row.contribution.explicit {
            let twin = Twin {
                user,
                kind: row.contribution.kind,
                parent: row.contribution.parent_forum_id.clone(),
                time: row.time,
            };
            self.implicit.retain(|(u, r)| !r.twin_of(*u, &twin));
            self.explicit.push(twin);
            return row.write(rows);
        }
        if !self.explicit.iter().any(|twin| row.twin_of(user, twin)) {
            self.implicit.push((user, row));
        }
        Ok(())
    }

    /// At the end of a file: writes the implicit contributions no explicit event stood for.
    pub fn end_of_file(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        for (_, row) in self.implicit.drain(..) {
            row.write(rows)?;
        }
        self.explicit.clear();
        Ok(())
    }
}

impl MoocdbBuilder {
    /// The `collaborations` row of a forum or wiki contribution, on the resource of its thread
    /// or wiki page under its course.
    pub(super) fn collaboration(
        &mut self,
        rows: &mut Rows,
        event: &TrackingEvent,
        relations: &RelationsOutcome,
        id: &RowId,
        course: &str,
    ) -> Result<(), LoadError> {
        let event_type = relations.event_type;
        // Most events are neither: tested before any respelling.
        let may_contribute = event_type.starts_with("edx.forum.")
            || (event_type.starts_with('/')
                && (event_type.contains("/discussion/") || event_type.contains("/wiki/")));
        if !may_contribute {
            return Ok(());
        }
        let spelled = self.legacy_event_type(event_type);
        let path = spelled.as_deref().unwrap_or(event_type);
        let Some(contribution) = Contribution::of(event_type, path, event) else {
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
        let row = Collaboration {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    use crate::moocdb::in_memory::{moocdb_rows, row_where, tracking_event};
    use crate::sink::in_memory::TableRows;

    // The rows of this family's tables that one file of `events` gives, without a database.
    fn rows_of(events: &[Value]) -> TableRows {
        moocdb_rows(events, &["collaborations", "resources", "resource_types"])
    }

    #[test]
    fn a_response_after_its_thread_names_the_thread_as_parent() {
        let course = "course-v1:DemoX+Loader101+2013_Spring";
        let events: Vec<Value> = [
            (
                "poster",
                "10:01:00",
                "edx.forum.thread.created",
                json!({"title": "A question", "body": "Why?", "truncated": false, "commentable_id": "d1", "id": "t1"}),
            ),
            (
                "replier",
                "10:02:00",
                "edx.forum.response.created",
                json!({"body": "Because.", "truncated": true, "commentable_id": "d1", "discussion": {"id": "t1"}, "id": "r1"}),
            ),
        ]
        .into_iter()
        .map(|(user, time, name, body)| {
            let time = format!("2013-06-12T{time}");
            let mut e = tracking_event(user, &time, name, "server", "", body);
            e["host"] = json!("courses.example.org");
            e["context"] = json!({"course_id": course, "user_id": 7, "path": "/event"});
            e
        })
        .collect();
        let t = rows_of(&events);
        let thread = row_where(&t, "collaborations", "collaboration_forum_id", "t1");
        let response = row_where(&t, "collaborations", "collaboration_forum_id", "r1");
        assert_eq!(
            (
                thread["collaboration_type_id"].as_str(),
                thread["collaboration_content"].as_str()
            ),
            ("1", "Why?")
        );
        assert_eq!(thread["collaboration_parent_forum_id"], "NULL");
        assert_eq!(
            (
                response["collaboration_type_id"].as_str(),
                response["collaboration_content"].as_str()
            ),
            ("2", "Because.")
        );
        assert_eq!(response["collaboration_content_truncated"], "1");
        assert_eq!(
            response["collaboration_parent_forum_id"],
            thread["collaboration_forum_id"]
        );
        // The parent's row id is the database's to link when the file is committed.
        assert_eq!(response["collaboration_parent_id"], "NULL");
        assert_eq!(
            response["user_id"],
            crate::identity::anon_screen_name("replier")
        );
        // Both on the thread's page, a forum resource under the course.
        let page = row_where(&t, "resources", "resource_id", &thread["resource_id"]);
        assert_eq!(
            page["resource_uri"],
            "https://courses.example.org/courses/DemoX/Loader101/2013_Spring/discussion/forum/d1/threads/t1/"
        );
        assert_eq!(response["resource_id"], thread["resource_id"]);
        let kind = row_where(
            &t,
            "resource_types",
            "resource_type_id",
            &page["resource_type_id"],
        );
        assert_eq!(kind["resource_type_content"], "forum");
    }

    fn event(json: &str) -> TrackingEvent {
        TrackingEvent::parse(json).expect("a tracking event")
    }

    #[test]
    fn explicit_forum_events() {
        let e = event(
            r#"{"event_type":"edx.forum.comment.created","time":"2015-04-13T21:08:58Z","username":"honor","event":{"body":"first comment","truncated":false,"discussion":{"id":"t1"},"commentable_id":"d1","response":{"id":"r1"},"id":"c1"}}"#,
        );
        let c = Contribution::of("edx.forum.comment.created", "", &e).unwrap();
        assert_eq!(c.kind, Kind::Comment);
        assert_eq!(c.content, "first comment");
        assert_eq!(c.truncated, Some(false));
        assert_eq!(c.forum_id.as_deref(), Some("c1"));
        assert_eq!(c.parent_forum_id.as_deref(), Some("r1"));
        assert_eq!(c.place.path(), "discussion/forum/d1/threads/t1/");
        let e = event(
            r#"{"event_type":"edx.forum.thread.voted","time":"2015-09-14T07:42:18Z","username":"audit","event":{"undo_vote":true,"vote_value":"up","commentable_id":"d1","id":"t9"}}"#,
        );
        let c = Contribution::of("edx.forum.thread.voted", "", &e).unwrap();
        assert_eq!((c.kind, c.content.as_str()), (Kind::Vote, "undo up"));
        assert_eq!(c.parent_forum_id.as_deref(), Some("t9"));
        assert_eq!(c.place.path(), "discussion/forum/d1/threads/t9/");
        let e = event(
            r#"{"event_type":"edx.forum.thread.viewed","time":"2015-09-14T07:42:18Z","username":"a","event":{"id":"t9"}}"#,
        );
        assert_eq!(Contribution::of("edx.forum.thread.viewed", "", &e), None);
    }

    #[test]
    fn implicit_forum_and_wiki_requests() {
        let path = "/courses/O/C/R/discussion/threads/t1/reply";
        let e = event(&format!(
            r#"{{"event_type":"{path}","time":"2013-06-09T01:00:00Z","username":"u","event":"{{\"POST\": {{\"body\": [\"a reply\"]}}, \"GET\": {{}}}}"}}"#
        ));
        let c = Contribution::of(path, path, &e).unwrap();
        assert_eq!((c.kind, c.content.as_str()), (Kind::Answer, "a reply"));
        assert_eq!(c.parent_forum_id.as_deref(), Some("t1"));
        assert!(!c.explicit);
        let path = "/courses/O/C/R/discussion/d1/threads/create";
        let e = event(&format!(
            r#"{{"event_type":"{path}","time":"2013-06-09T01:00:00Z","username":"u","event":{{"POST":{{"body":["hi"],"title":["t"]}},"GET":{{}}}}}}"#
        ));
        let c = Contribution::of(path, path, &e).unwrap();
        assert_eq!(
            (c.kind, c.place.path()),
            (Kind::Post, "discussion/forum/d1/".into())
        );
        let path = "/courses/O/C/R/discussion/comments/r1/upvote";
        let c = Contribution::of(path, path, &e).unwrap();
        assert_eq!((c.kind, c.content.as_str()), (Kind::Vote, "up"));
        // A wiki page saved, not one only shown.
        let path = "/courses/O/C/R/wiki/O.C.R/Week_1/_edit/";
        let saved = event(&format!(
            r#"{{"event_type":"{path}","time":"2013-06-09T01:00:00Z","username":"u","event":{{"POST":{{"content":["new text"]}},"GET":{{}}}}}}"#
        ));
        let c = Contribution::of(path, path, &saved).unwrap();
        assert_eq!(
            (c.kind, c.place.path()),
            (Kind::WikiEdit, "wiki/O.C.R/Week_1/".into())
        );
        let shown = event(&format!(
            r#"{{"event_type":"{path}","time":"2013-06-09T01:00:00Z","username":"u","event":{{"POST":{{}},"GET":{{}}}}}}"#
        ));
        assert_eq!(Contribution::of(path, path, &shown), None);
        let path = "/courses/O/C/R/discussion/forum";
        assert_eq!(Contribution::of(path, path, &e), None);
    }
}
