//! State carried from one loaded file to the next, across runs: each user's latest observed event
//! (its duration is known only when the user's next event arrives) and current location, each
//! IP's latest event time, and the course domain. [`crate::store::carried_state`] reads it once
//! before a load and writes it, with the ledger's "loaded", in one transaction at the end of every
//! file, so that a crash never leaves state that covers half a file.

use chrono::NaiveDateTime;

use crate::identity::RowId;

/// A user's latest observed event, not yet written with its duration. Every user the load has
/// seen holds one, so the MOOCdb stage keeps it small: the id as its bits (`Id` is
/// [`StoredRowId`](crate::identity::StoredRowId) there), and the country and event type shared
/// with the other users' events (`Text` is the stage's interned texts). Here, where the state
/// crosses threads, the id and `String`s.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedEvent<Text = String, Id = RowId> {
    /// `observed_event_id`.
    pub id: Id,
    /// `url_id` (a resource id).
    pub resource_id: i64,
    /// `observed_event_timestamp`.
    pub time: NaiveDateTime,
    /// `observed_event_ip` (country code).
    pub ip: Text,
    /// `observed_event_os`.
    pub os: i64,
    /// `observed_event_agent`.
    pub agent: i64,
    /// `observed_event_type_id`.
    pub event_type: Text,
}

impl<Text: AsRef<str>, Id> StagedEvent<Text, Id> {
    /// The same event with its id and texts in other forms.
    pub fn converted<T, I>(
        &self,
        id: impl FnOnce(&Id) -> I,
        mut text: impl FnMut(&str) -> T,
    ) -> StagedEvent<T, I> {
        StagedEvent {
            id: id(&self.id),
            resource_id: self.resource_id,
            time: self.time,
            ip: text(self.ip.as_ref()),
            os: self.os,
            agent: self.agent,
            event_type: text(self.event_type.as_ref()),
        }
    }
}

/// The carried state of one user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserState {
    /// `anon_screen_name`.
    pub user: String,
    /// The latest observed event.
    pub staged: Option<StagedEvent>,
    /// The current location (a normalised URL) and when it was set.
    pub location: Option<(String, NaiveDateTime)>,
    /// The time of the database's latest event when the user was last seen (none for a user
    /// idle, or carried by a loader that did not record it).
    pub seen_at: Option<NaiveDateTime>,
}

/// Everything carried between files.
#[derive(Debug, Clone, Default)]
pub struct CarriedState {
    /// Users.
    pub users: Vec<UserState>,
    /// IPs and the time of their latest event.
    pub ips: Vec<(String, NaiveDateTime)>,
    /// The course domain, once known.
    pub domain: Option<String>,
    /// The time of the latest event loaded.
    pub latest_event: Option<NaiveDateTime>,
}

/// What a file changed in the carried state, read lazily: the users' state is encoded one user at
/// a time, so that the end of a file with tens of thousands of users holds one statement, not
/// every user's state twice over.
pub struct StateChange<'a> {
    /// The state of every user the file touched.
    pub users: Box<dyn Iterator<Item = UserState> + 'a>,
    /// IPs whose latest event time changed, with that time.
    pub ips: &'a [(std::borrow::Cow<'a, str>, NaiveDateTime)],
    /// The course domain, once known.
    pub domain: Option<&'a str>,
    /// The time of the latest event loaded.
    pub latest_event: Option<NaiveDateTime>,
}
