//! `observed_events`: qpipe's classes of events, and step 11, which stages each user's latest
//! event until the user's next one gives its duration. The staged events of the users a file
//! touched are written at its end without a duration, and rewritten with it later.

use chrono::NaiveDateTime;

use crate::error::LoadError;
use crate::identity::{AnonText, StoredRowId};
use crate::sink::Rows;
use crate::state::StagedEvent;

use super::resources::LOCATION_SECONDS;
use super::user_record::{SharedText, write_observed_event};
use super::{CACHE_LIMIT, FormattedRow, MoocdbBuilder};

/// How far out of time order events may come (seconds; a site's servers' logs interleaved) and
/// still give the rows they give in order, though idle users' activities are dropped.
const DISORDER_SECONDS: i64 = 600;

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

/// How qpipe's `instanciate_event_rules` classify an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EventClass {
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

pub(super) fn event_class(event_type: &str) -> EventClass {
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

impl MoocdbBuilder {
    /// Step 11: the row's observed event on `resource_id`, staged per user until the user's
    /// next event; the event it follows is written with its duration.
    pub(super) fn observe(
        &mut self,
        rows: &mut Rows,
        f: &FormattedRow<'_>,
        resource_id: i64,
    ) -> Result<(), LoadError> {
        if NOT_OBSERVED.contains(&f.event_type) {
            return Ok(());
        }
        let current = StagedEvent {
            id: StoredRowId::new(f.id),
            resource_id,
            time: f.event.time,
            ip: self.interned(f.ip),
            os: f.os_id,
            agent: f.agent_id,
            event_type: self.interned(f.event_type),
        };
        let (max_duration, default_duration) =
            (self.options.max_duration, self.options.default_duration);
        let duration = |from, to| event_duration(from, to, max_duration, default_duration);
        let (user, user_key) = (f.user, f.user_key);
        let latest_event = self.latest_event.unwrap_or(current.time);
        let record = self.user(user_key, user);
        record.store(rows)?;
        let (activity, begun) = record.seen(latest_event);
        match &activity.staged {
            Some(staged) if current.time < staged.time => {
                // Arrived out of time order: it lasts until the staged (later) event.
                let duration = duration(current.time, staged.time);
                write_observed_event(rows, &AnonText::Digits(*user), &current, Some(duration))?;
            }
            Some(staged) => {
                let duration = duration(staged.time, current.time);
                write_observed_event(rows, &AnonText::Digits(*user), staged, Some(duration))?;
                activity.staged = Some(current);
            }
            None => {
                activity.staged = Some(current);
            }
        }
        if begun {
            self.active.push_back((latest_event, user_key));
        }
        Ok(())
    }

    /// Seconds by which the latest event moves on after a user was last seen, for the user to
    /// be idle: then the staged event's duration is `--default-duration` whenever the next event
    /// comes, and the location is no longer inherited, with [`DISORDER_SECONDS`] to spare.
    pub(super) fn idle_after(&self) -> i64 {
        self.options.max_duration.max(LOCATION_SECONDS) + DISORDER_SECONDS
    }

    /// Writes the staged event of each idle user (not seen while the latest event moved on by
    /// more than [`idle_after`](Self::idle_after) seconds) with the default duration that the
    /// user's next event would give it, and drops the user's activity: the stage's memory then
    /// holds active users' activities, not every user's. `all`: every active user is looked at
    /// (before a commit, so that what a commit leaves depends on the events loaded, not on when
    /// they were looked at); otherwise those at the front of the queue, until one is active.
    ///
    /// For events in time order, or out of it by at most [`DISORDER_SECONDS`], the rows are those
    /// the user's next event would write. Where the latest event is later than the user's next
    /// one by more, that event finds no staged event to follow (`docs/deviations.md`).
    pub(super) fn rest_idle_users(&mut self, rows: &mut Rows, all: bool) -> Result<(), LoadError> {
        let Some(now) = self.latest_event else {
            return Ok(());
        };
        let (idle_after, default_duration) = (self.idle_after(), self.options.default_duration);
        let mut left = if all { self.active.len() } else { usize::MAX };
        while left > 0 {
            let Some(&(seen, key)) = self.active.front() else {
                break;
            };
            if !all && (now - seen).num_seconds() <= idle_after {
                break;
            }
            self.active.pop_front();
            left -= 1;
            let Some(record) = self.users.get_mut(&key) else {
                continue;
            };
            match record.activity.as_ref().map(|a| a.seen_at) {
                Some(seen_at) if (now - seen_at).num_seconds() <= idle_after => {
                    self.active.push_back((seen_at, key));
                }
                _ => {
                    if let Some(activity) = record.activity.take() {
                        if let Some(staged) = &activity.staged {
                            let user = record.name.text();
                            write_observed_event(rows, &user, staged, Some(default_duration))?;
                        }
                        // Its carried state is stored without staged event and location.
                        record.changed = true;
                    }
                }
            }
        }
        Ok(())
    }

    /// The staged event of every user the current file touched, duration not known yet: NULL.
    pub(super) fn write_staged(&self, rows: &mut Rows) -> Result<(), LoadError> {
        for user in self.changed_records() {
            if let Some(event) = user.staged() {
                write_observed_event(rows, &user.name.text(), event, None)?;
            }
        }
        Ok(())
    }

    /// The shared copy of `text`.
    pub(super) fn interned(&mut self, text: &str) -> SharedText {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    use crate::moocdb::in_memory::{moocdb_rows, row_where, rows_where, tracking_event};
    use crate::sink::in_memory::TableRows;

    // The rows of this family's tables that one file of `events` gives, without a database.
    fn rows_of(events: &[Value]) -> TableRows {
        moocdb_rows(events, &["observed_events", "users"])
    }

    #[test]
    fn each_event_lasts_until_the_users_next() {
        let page = "https://courses.example.org/courses/DemoX/Loader101/2013_Spring/info";
        let link = "edx.ui.lms.link_clicked";
        let events: Vec<Value> = [
            ("alice", "09:00:00", link),
            ("bob", "09:00:10", link),
            // Not observed: it only feeds `submissions`.
            ("alice", "09:00:20", "problem_check"),
            ("alice", "09:00:30", link),
            ("bob", "09:00:50", link),
            // Two hours later: the event before it gets the default duration.
            ("alice", "11:00:30", link),
        ]
        .iter()
        .map(|(user, time, event_type)| {
            let time = format!("2013-06-12T{time}");
            tracking_event(user, &time, event_type, "browser", page, json!("{}"))
        })
        .collect();
        let t = rows_of(&events);
        // Each event of `user`: its time of day and its duration.
        let durations = |user: &str| -> Vec<String> {
            let user = crate::identity::anon_screen_name(user);
            rows_where(&t, "observed_events", "user_id", &user)
                .iter()
                .map(|r| {
                    let time = &r["observed_event_timestamp"]["2013-06-12 ".len()..][..8];
                    format!("{time} {}", r["observed_event_duration"])
                })
                .collect()
        };
        // The latest event of each user waits for the user's next: NULL at the end of a file,
        // unless the user was idle for over an hour before the file's latest event, when the
        // next can only give it the default duration.
        assert_eq!(
            durations("alice"),
            ["09:00:00 30", "09:00:30 100", "11:00:30 NULL"]
        );
        assert_eq!(durations("bob"), ["09:00:10 40", "09:00:50 100"]);
        assert_eq!(t["users"].len(), 2);
        let first = row_where(
            &t,
            "observed_events",
            "observed_event_timestamp",
            "2013-06-12 09:00:00.000000",
        );
        assert_eq!(first["observed_event_type_id"], link);
        assert_eq!(first["observed_event_ip"], "USA");
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
}
