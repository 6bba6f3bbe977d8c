//! What to load of a file: nothing when it is already loaded, only its new bytes when a live log
//! grew, nothing when its loaded part changed (unless `--reload` names it).

use super::Transform;
use crate::error::LoadError;
use crate::source::TrackingLog;
use crate::store::ledger::{self, Segment};

/// What to do with one file.
pub(super) enum Plan {
    /// Nothing new in it.
    Skip,
    /// Its already-loaded part changed: left alone.
    Changed,
    /// Load from this point.
    Load(Segment),
}

impl Transform {
    /// Decides what to load of `log`.
    pub(super) fn plan(
        &self,
        log: &TrackingLog,
        content_hash: Option<&str>,
    ) -> Result<Plan, LoadError> {
        let (Some(pool), Some(hash)) = (&self.cx.pool, content_hash) else {
            return Ok(Plan::Load(Segment::default()));
        };
        if let Some(id) = self.block_on(ledger::already_loaded(pool, hash))? {
            tracing::info!("{}: already loaded (ledger entry {id})", log.display_name);
            return Ok(Plan::Skip);
        }
        if (self.group.iter()).any(|f| f.content_hash.as_deref() == Some(hash)) {
            tracing::info!("{}: already loaded in this run", log.display_name);
            return Ok(Plan::Skip);
        }
        let Some(previous) = self.block_on(ledger::previous_load(pool, &log.display_name))? else {
            return Ok(Plan::Load(Segment::default()));
        };
        if log.prefix_hash(previous.raw_end)?.as_deref() == Some(previous.prefix_hash.as_str()) {
            if log.size <= previous.raw_end {
                return Ok(Plan::Skip);
            }
            tracing::info!(
                "{}: grown since it was loaded (ledger entry {}): loading from byte {}",
                log.display_name,
                previous.file_id,
                previous.raw_end
            );
            return Ok(Plan::Load(previous.next));
        }
        Ok(Plan::Changed)
    }
}
