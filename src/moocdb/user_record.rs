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
    /// `staged` or `location` changed in the current file.
    pub(super) changed: bool,
    /// The user's latest observed event, not yet written with its duration.
    pub(super) staged: Option<Staged>,
    /// The user's current location and when it was set.
    pub(super) location: Option<(Rc<CourseUrl>, NaiveDateTime)>,
}

impl UserRecord {
    pub(super) fn new(name: &str) -> UserRecord {
        UserRecord {
            name: StoredAnonName::new(name),
            stored: false,
            changed: false,
            staged: None,
            location: None,
        }
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
        // database, and about 14 bytes of table: the record's size is most of the stage's memory
        // per user.
        assert!(std::mem::size_of::<UserRecord>() <= 136);
    }
}
