//! The duplicate check: a chunk's lines against this run's recent lines, the Bloom filter of the
//! lines stored, and the database's `moocdb_loader_lines`.

use foldhash::HashSet;

use super::Transform;
use super::crash::crash_point;
use crate::error::LoadError;
use crate::identity::LineIdentity;
use crate::schema::Table;
use crate::store::ledger::{self, FileCounts};

impl Transform {
    /// Drops the pending lines already loaded (now or by an earlier load) and accepts the rest,
    /// in order.
    pub(super) fn process_pending(&mut self, counts: &mut FileCounts) -> Result<(), LoadError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let check_db = self.check_db;
        let known = match &self.cx.pool {
            Some(pool) => {
                // The filter first: a line it has never seen (every line of a course's first
                // load until the set spills) skips the set's look-up, a cache miss in a set of
                // up to a million entries; the set's insert below answers for this run's lines.
                let lines: Vec<LineIdentity> = self
                    .pending
                    .iter()
                    .map(|p| p.identity)
                    .filter(|line| check_db || self.seen.borrow().may_contain(line.hash()))
                    .filter(|line| !self.recent.contains(&line.hash()))
                    .collect();
                self.block_on(ledger::known_lines(pool, &lines, self.line_keys))?
            }
            _ => HashSet::default(),
        };
        let pending = std::mem::take(&mut self.pending);
        // Events are counted for the progress display once per chunk: three atomic additions
        // per event, on a cache line the reading thread writes too, showed in the profile.
        let events_before = counts.events;
        // The chunk's lines go into the set of recent lines in one tight loop before any is
        // accepted: each insert is a cache miss in a set of up to a million entries, and here
        // the processor overlaps them instead of waiting for each between two events' work.
        let mut fresh = std::mem::take(&mut self.fresh);
        fresh.clear();
        fresh.extend(pending.iter().map(|p| {
            let hash = p.identity.hash();
            !known.contains(&hash) && self.recent.insert(hash)
        }));
        for (p, &fresh) in pending.iter().zip(&fresh) {
            if !fresh {
                counts.duplicates += 1;
                continue;
            }
            self.accept(&p.event, &p.identity, counts)?;
        }
        self.fresh = fresh;
        self.cx.progress.add(0, 0, counts.events - events_before);
        // The next chunk's room: what this one took. A whole chunk for a single database; for
        // a split's course database, the share of the lines its course had (a chunk's room in
        // each of 101 course databases held 50 MiB at 300,000 events).
        let used = pending.len();
        self.pending = match &self.done_with {
            Some(done) => match done.send(pending) {
                Ok(()) => Vec::with_capacity(used.min(self.chunk)),
                // The reading thread has ended: dropped here.
                Err(std::sync::mpsc::SendError(pending)) => pending,
            },
            None => pending,
        };
        self.pending.clear();
        if self.recent.len() > self.options.recent_lines {
            // Bound the memory: once these lines are stored, the database answers for them.
            self.rows.flush(Table::Lines)?;
            if let Some(sender) = &self.cx.sender {
                // Only the lines must be stored: the other tables' statements go on (with the
                // infile method, ending them would end their bulk load into an empty table).
                sender.table_barrier(Table::Lines)?;
            }
            self.spill_recent();
        }
        crash_point("after-chunk");
        Ok(())
    }

    /// Moves the exact set of recent lines (all stored by now) into the Bloom filter. In a dry
    /// run nothing is stored, so they are forgotten instead.
    pub(super) fn spill_recent(&mut self) {
        if self.cx.pool.is_some() {
            let mut seen = self.seen.borrow_mut();
            for hash in self.recent.drain() {
                seen.insert(hash);
            }
        }
        self.recent.clear();
    }
}
