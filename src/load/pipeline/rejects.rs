//! Lines that cannot be loaded: kept with their file, line, offset and reason, stored per file.

use super::Transform;
use crate::error::LoadError;
use crate::source::TrackingLog;
use crate::store::ledger::{self, FileCounts, Reject};

/// Rejected lines of one file waiting to be stored.
pub(super) struct RejectBuffer {
    pub(super) file_id: Option<i64>,
    pub(super) file: String,
    pub(super) pending: Vec<Reject>,
}

impl Transform {
    pub(super) fn store_rejects(&self, rejects: &mut RejectBuffer) -> Result<(), LoadError> {
        if let (Some(pool), Some(id)) = (&self.cx.pool, rejects.file_id) {
            let private = (!self.options.no_pii).then_some(self.cx.private_database.as_str());
            self.block_on(ledger::write_rejects(
                pool,
                private,
                id,
                &rejects.file,
                &rejects.pending,
            ))?;
        }
        rejects.pending.clear();
        Ok(())
    }

    pub(super) fn reject(
        &self,
        rejects: &mut RejectBuffer,
        counts: &mut FileCounts,
        reject: Reject,
    ) -> Result<(), LoadError> {
        counts.rejected += 1;
        tracing::debug!(
            "{}:{}: rejected: {}",
            rejects.file,
            reject.line_number,
            reject.reason
        );
        rejects.pending.push(reject);
        if rejects.pending.len() >= 1000 {
            self.store_rejects(rejects)?;
        }
        Ok(())
    }
}

/// The error for a file with a larger share of rejected lines than `max_ratio` of its lines that
/// are not blank or comments (`counts` are the file's), if it has one.
pub(super) fn too_many_rejects(
    log: &TrackingLog,
    counts: &FileCounts,
    max_ratio: f64,
) -> Option<LoadError> {
    let ratio_base = counts.lines - counts.skipped;
    let breached = ratio_base > 0 && counts.rejected as f64 > max_ratio * ratio_base as f64;
    breached.then(|| LoadError::TooManyRejects {
        file: log.display_name.clone(),
        rejected: counts.rejected,
        lines: ratio_base,
        percent: 100.0 * counts.rejected as f64 / ratio_base as f64,
        max_ratio,
    })
}
