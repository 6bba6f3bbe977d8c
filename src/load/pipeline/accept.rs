//! An accepted line through the stages: relations, then MOOCdb, into the row buffers.

use super::{Pending, Transform};
use crate::error::LoadError;
use crate::identity::LineIdentity;
use crate::load::event_course;
use crate::parse::TrackingEvent;
use crate::schema::{LineRow, Token};
use crate::store::ledger::FileCounts;

impl Transform {
    /// Adds a parsed line to the pending chunk, processing the chunk when it is full.
    pub(super) fn enqueue(
        &mut self,
        pending: Pending,
        counts: &mut FileCounts,
    ) -> Result<(), LoadError> {
        self.pending.push(pending);
        if self.pending.len() >= self.chunk {
            self.process_pending(counts)?;
        }
        Ok(())
    }

    pub(super) fn accept(
        &mut self,
        event: &TrackingEvent,
        identity: &LineIdentity,
        counts: &mut FileCounts,
    ) -> Result<(), LoadError> {
        if let Some(wanted) = &self.course_filter
            && let Some(course) = event_course(event)
            && &course != wanted
        {
            counts.skipped += 1;
            self.summary.other_course_events += 1;
            return Ok(());
        }
        counts.events += 1;
        let file_id = self.file_id.unwrap_or(0);
        let key = identity.line_key(self.line_keys);
        self.rows.push(&LineRow {
            line_hash: Token(key.as_ref()),
            file_id,
        })?;
        let outcome = self.relations.add_event(&mut self.rows, event, identity)?;
        if let Some(reason) = outcome.not_stored {
            *self
                .summary
                .events_not_stored
                .entry(reason.to_string())
                .or_default() += 1;
        }
        // qpipe reads EdxTrackEvent: events json_to_relation writes no row for (repeated
        // heartbeats, pings) are not observed events either.
        if outcome.track_event_rows > 0 {
            self.moocdb.add_event(&mut self.rows, event, &outcome)?;
        }
        Ok(())
    }
}
