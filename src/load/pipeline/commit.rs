//! The commit of a group of files: every row stored, then the carried state and each file's
//! ledger entry in one transaction.

use super::Transform;
use super::crash::crash_point;
use crate::error::LoadError;
use crate::schema::Table;
use crate::state::StateChange;
use crate::store::carried_state;
use crate::store::ledger::FileCounts;

/// A file loaded and waiting for its group's commit.
pub(super) struct Uncommitted {
    /// Its ledger entry (none in a dry run).
    pub(super) file_id: Option<i64>,
    pub(super) counts: FileCounts,
    pub(super) breached: bool,
    /// Its content hash: a file of the same content later in the group is already loaded.
    pub(super) content_hash: Option<String>,
}

impl Transform {
    /// Commits the files loaded since the last commit: the users' staged events and the new
    /// hierarchy nodes are written, every row is stored, then the carried state and each file's
    /// ledger entry, in one transaction. A file over `--max-bad-ratio` fails its whole group:
    /// its files are left unfinished, and the next run loads them again.
    pub(super) fn commit_group(&mut self) -> Result<(), LoadError> {
        if self.group.is_empty() {
            return Ok(());
        }
        self.send_group_rows()?;
        if let Some(sender) = &self.cx.sender {
            sender.barrier()?;
        }
        self.record_group()
    }

    /// The first half of a commit: the group's last rows (the users' staged events, the new
    /// hierarchy nodes) written and sent to the writers.
    pub(super) fn send_group_rows(&mut self) -> Result<(), LoadError> {
        if self.group.is_empty() {
            return Ok(());
        }
        self.moocdb.end_of_commit(&mut self.rows)?;
        self.rows.flush_all()
    }

    /// The second half of a commit, once the writers have stored every row sent: the carried
    /// state and each file's ledger entry, in one transaction.
    pub(super) fn record_group(&mut self) -> Result<(), LoadError> {
        let handle = self.cx.handle.clone();
        handle.block_on(self.record_group_async())
    }

    /// [`Transform::record_group`] as a future, for a split load to record several course
    /// databases' groups at once.
    pub(super) async fn record_group_async(&mut self) -> Result<(), LoadError> {
        if self.group.is_empty() {
            return Ok(());
        }
        // What the group's end wrote counts as its last file's.
        if let Some(last) = self.group.last_mut() {
            for (i, t) in Table::ALL.iter().enumerate() {
                let n = self.rows.produced(*t) - self.produced_at_file_end[i];
                if n > 0 && *t != Table::Lines {
                    *last.counts.rows.entry(t.name().to_string()).or_default() += n;
                }
            }
        }
        let group = std::mem::take(&mut self.group);
        self.group_bytes = 0;
        if let Some(pool) = &self.cx.pool {
            let status = if group.iter().any(|f| f.breached) {
                "failed"
            } else {
                "loaded"
            };
            let files: Vec<(i64, &FileCounts, &str)> = (group.iter())
                .filter_map(|f| f.file_id.map(|id| (id, &f.counts, status)))
                .collect();
            let ips = self.relations.changed_ips();
            let change = StateChange {
                users: Box::new(self.moocdb.changed_users()),
                ips: &ips,
                domain: self.moocdb.domain(),
                latest_event: self.moocdb.latest_event(),
            };
            crash_point("before-commit");
            carried_state::commit_files(
                pool,
                (!self.options.no_pii).then_some(self.cx.private_database.as_str()),
                change,
                &files,
                // Sized like a batch of rows, not as large as the server allows: a 50,000-user
                // course's state in one statement raised the load's peak memory by 40 MiB.
                self.cx.batch_bytes.min(self.cx.max_statement),
            )
            .await?;
        }
        self.moocdb.clear_changed();
        self.relations.clear_changed_ips();
        // The group's lines are in the database now: later files ask it about possible matches.
        self.spill_recent();
        self.files_committed += group.len() as u64;
        Ok(())
    }
}
