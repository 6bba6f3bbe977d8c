//! What the MOOCdb stage knows of each user: one record per user the load has seen, kept for
//! the whole load, so its size is the stage's memory per user.

use std::borrow::Borrow;
use std::rc::Rc;

use chrono::NaiveDateTime;

use crate::error::LoadError;
use crate::identity::{AnonText, StoredAnonName, StoredRowId};
use crate::schema::{ObservedEventRow, UserRow};
use crate::sink::Rows;
use crate::state::StagedEvent;

use super::course_url::CourseUrl;

/// A text shared between users' staged events (a country, an event type): a thin pointer,
/// 8 bytes where an `Rc<str>` takes 16, since every user's record holds two.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct SharedText(Rc<String>);

impl SharedText {
    pub(super) fn new(text: &str) -> SharedText {
        SharedText(Rc::new(text.to_string()))
    }
}

impl AsRef<str> for SharedText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// A `String` hashes and compares as its `str`, so the set of shared texts is searched by `&str`.
impl Borrow<str> for SharedText {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A staged event as a user's record keeps it.
pub(super) type Staged = StagedEvent<SharedText, StoredRowId>;

/// What the builder knows of one user.
#[derive(Debug)]
pub(super) struct UserRecord {
    /// The user's `anon_screen_name`: 20 bytes, not a copy of the 40 digits.
    pub(super) name: StoredAnonName,
    /// The user has a `users` row (from an earlier load or written in this one).
    pub(super) stored: bool,
    /// The activity changed in the current file (the carried state is to be stored).
    pub(super) changed: bool,
    /// The user's staged event and location; none once the user is idle.
    pub(super) activity: Option<Box<Activity>>,
}

/// What a user is doing in the course: kept only while it can still matter. An event's
/// duration is known at the user's next event, and is `--default-duration` once over
/// `--max-duration`; a location is inherited within an hour. So a user not seen while the
/// database's latest event moved on by more than both is idle: the staged event is written with
/// the default duration and the activity dropped (`MoocdbBuilder::rest_idle_users`). Boxed, so
/// that an idle user's record (most of a long log's) is a third of what it was with the activity
/// inline.
#[derive(Debug)]
pub(super) struct Activity {
    /// The user's latest observed event, not yet written with its duration.
    pub(super) staged: Option<Staged>,
    /// The user's current location and when it was set.
    pub(super) location: Option<(Rc<CourseUrl>, NaiveDateTime)>,
    /// The time of the database's latest event when the user was last seen: the user's own
    /// event's time, for events in time order.
    pub(super) seen_at: NaiveDateTime,
}

impl Activity {
    /// When the user was last seen by the events: the later of the staged event's and the
    /// location's times.
    pub(super) fn last_seen(&self) -> Option<NaiveDateTime> {
        let staged = self.staged.as_ref().map(|e| e.time);
        let located = self.location.as_ref().map(|(_, at)| *at);
        staged.max(located)
    }
}

impl UserRecord {
    pub(super) fn new(name: &str) -> UserRecord {
        UserRecord {
            name: StoredAnonName::new(name),
            stored: false,
            changed: false,
            activity: None,
        }
    }

    /// The user's staged event.
    pub(super) fn staged(&self) -> Option<&Staged> {
        self.activity.as_ref()?.staged.as_ref()
    }

    /// The user's location and when it was set.
    pub(super) fn location(&self) -> Option<&(Rc<CourseUrl>, NaiveDateTime)> {
        self.activity.as_ref()?.location.as_ref()
    }

    /// The user's activity, seen at `latest_event` (the database's latest event's time); begun
    /// when the user was idle: then `true` as well, and the user is to be followed until idle
    /// again.
    pub(super) fn seen(&mut self, latest_event: NaiveDateTime) -> (&mut Activity, bool) {
        let begun = self.activity.is_none();
        let activity = self.activity.get_or_insert_with(|| {
            Box::new(Activity {
                staged: None,
                location: None,
                seen_at: latest_event,
            })
        });
        activity.seen_at = latest_event;
        (activity, begun)
    }

    /// Writes the user's `users` row unless it has one.
    pub(super) fn store(&mut self, rows: &mut Rows) -> Result<(), LoadError> {
        if !self.stored {
            self.stored = true;
            rows.push(&UserRow {
                user_id: &self.name.text(),
            })?;
        }
        Ok(())
    }
}

/// Writes `e` as the `observed_events` row of `user`, with its duration when known.
pub(super) fn write_observed_event(
    rows: &mut Rows,
    user: &AnonText<'_>,
    e: &Staged,
    duration: Option<i64>,
) -> Result<(), LoadError> {
    let id = e.id.id();
    rows.push(&ObservedEventRow {
        observed_event_id: &id,
        user_id: user,
        url_id: e.resource_id,
        observed_event_timestamp: &e.time,
        observed_event_duration: duration,
        observed_event_ip: (!e.ip.as_ref().is_empty()).then_some(e.ip.as_ref()),
        observed_event_os: e.os,
        observed_event_agent: e.agent,
        observed_event_type_id: e.event_type.as_ref(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_small() {
        // The users' map holds 8 bytes of the key and the record per user of each course
        // database, and about 10 bytes of table: the record's size is most of the stage's memory
        // per user. An active user's activity is apart, and only while active.
        assert!(std::mem::size_of::<UserRecord>() <= 40);
        assert!(std::mem::size_of::<Activity>() <= 128);
    }
}
