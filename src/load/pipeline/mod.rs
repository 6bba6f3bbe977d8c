//! The pipeline: the transform thread takes each tracking log through the stages (decode →
//! parse → relations → moocdb into the row buffers) and keeps the bookkeeping that makes loads
//! incremental and crash-safe. Per file, in this order:
//!
//! * [`plan`]: what to load (nothing when it is already loaded, only the new bytes of a grown
//!   live file), then its start recorded in the ledger;
//! * [`reading`]: its lines, in batches, decoded and parsed into the pending chunk;
//! * [`dedupe`]: lines already loaded dropped (by the hash of their JSON text, checked in chunks
//!   against this run's lines and `moocdb_loader_lines`);
//! * [`accept`]: the rest through relations and MOOCdb;
//! * [`rejects`]: the lines that cannot be loaded, stored with their reasons;
//! * [`commit`]: with the files committed together, every row stored, then the carried state
//!   and the ledger's "loaded" in one transaction;
//! * [`crash`]: the points where tests make the process crash.

use foldhash::HashSet;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use sqlx::mysql::MySqlPool;
use tokio::runtime::Handle;

mod accept;
mod commit;
mod crash;
mod dedupe;
mod plan;
mod reading;
mod rejects;
pub mod split;

use commit::Uncommitted;
use plan::Plan;
use reading::{OneDatabase, Reading, ReadingThread};
use rejects::{RejectBuffer, too_many_rejects};
pub use split::{CourseReady, OpenLane, SplitTransform};

use super::seen_lines::SeenLines;
use super::{LoadOptions, LoadSummary, normal_course_id};
use crate::error::LoadError;
use crate::identity::{LineIdentity, LineKeys, ripemd160_hex};
use crate::moocdb::{KnownEntries, MoocdbBuilder, MoocdbOptions};
use crate::parse::{ParseError, TrackingEvent};
use crate::progress::Progress;
use crate::relations::{GeoIp, RelationBuilder};
use crate::schema::Table;
use crate::sink::{Batch, BatchOut, Encoding, Rows, WriterSender};
use crate::source::{self, TrackingLog};
use crate::state::CarriedState;
use crate::store::ledger::{self, FileCounts, Segment};

/// Lines parsed before the duplicate check runs on them (one query per chunk).
const CHUNK: usize = 2048;
/// The chunk when one thread reads and transforms, and no line needs the database's check:
/// small enough that the events parsed are still in the cache when the transform takes them
/// (one-core 1M dry runs: 2,048 lines −6% against two threads, 256 −10%, 128 −10%).
const SHORT_CHUNK: usize = 128;

/// What the transform thread works with.
pub struct Context {
    /// The course database (none in a dry run).
    pub pool: Option<MySqlPool>,
    /// Where batches go (none in a dry run).
    pub sender: Option<WriterSender>,
    /// The runtime, for the few queries the thread makes itself.
    pub handle: Handle,
    /// How rows are encoded.
    pub encoding: Encoding,
    /// Target batch size.
    pub batch_bytes: usize,
    /// The largest statement the server accepts (minus a margin).
    pub max_statement: usize,
    /// Progress reporting.
    pub progress: Progress,
    /// Set on Ctrl-C.
    pub stop: Arc<AtomicBool>,
    /// The course database's name (`""` in a dry run), for messages.
    pub database: String,
    /// The private database's name.
    pub private_database: String,
    /// The writers' number for the course database (0 unless several are loaded at once).
    pub destination: usize,
}

struct Pending {
    event: TrackingEvent,
    identity: LineIdentity,
}

impl Pending {
    fn parse(json: &str) -> Result<Pending, ParseError> {
        let event = TrackingEvent::parse(json)?;
        let identity = LineIdentity::new(json.as_bytes(), &event.time);
        Ok(Pending { event, identity })
    }
}

/// The per-run state of the transform thread.
pub struct Transform {
    options: LoadOptions,
    cx: Context,
    rows: Rows,
    relations: RelationBuilder,
    moocdb: MoocdbBuilder,
    recent: HashSet<u128>,
    /// Lines of this run already stored, no longer in `recent`: one filter for every course
    /// database of a split (a line always goes to the same database, and a false match only
    /// asks the database), so that a hundred courses take 16 MiB, not 1.6 GiB.
    seen: Rc<RefCell<SeenLines>>,
    /// Whether earlier runs stored lines (then every line is checked against the database).
    check_db: bool,
    /// How `moocdb_loader_lines` keys lines in this database.
    line_keys: LineKeys,
    pending: Vec<Pending>,
    /// Lines per chunk (`CHUNK` or `SHORT_CHUNK`).
    chunk: usize,
    /// Which lines of the chunk being processed are new (kept for its allocation).
    fresh: Vec<bool>,
    /// Where processed chunks go to be dropped: the reading thread, while one runs.
    done_with: Option<std::sync::mpsc::Sender<Vec<Pending>>>,
    /// The thread that reads the files, started with the first.
    reading_thread: Option<ReadingThread>,
    file_id: Option<i64>,
    course_filter: Option<String>,
    /// Files loaded whose commit waits for the group's last file: consecutive files are
    /// committed together (their ledger rows, carried state and statements at once) until they
    /// hold `--commit-group-mib` as stored. Each commit makes the writers finish every table's
    /// statement and waits for them, which for a site's hundreds of small rotated files cost more
    /// than the files' rows (`BENCHMARKS.md`, "Rotated files"). A crash or a failure in a group
    /// leaves each of its files unfinished in the ledger, and the next run completes them
    /// (`docs/incremental.md`).
    group: Vec<Uncommitted>,
    /// The group's files' sizes as stored.
    group_bytes: u64,
    /// Rows produced when the group's last file ended (see [`Transform::commit_group`]).
    produced_at_file_end: Vec<u64>,
    /// Files whose commit is done.
    files_committed: u64,
    /// The counts of the run so far.
    pub summary: LoadSummary,
}

impl Transform {
    /// A transform continuing from what the database holds.
    pub fn new(
        options: LoadOptions,
        cx: Context,
        known: KnownEntries,
        carried: CarriedState,
        geoip: Option<GeoIp>,
    ) -> Self {
        let out: BatchOut = match &cx.sender {
            Some(s) => {
                let s = s.clone();
                let destination = cx.destination;
                Box::new(move |batch: Batch| {
                    s.send(Batch {
                        destination,
                        ..batch
                    })
                })
            }
            None => Box::new(|batch: Batch| {
                crate::sink::spare::give(batch.data);
                Ok(())
            }),
        };
        let rows = Rows::new(cx.encoding, cx.batch_bytes, !options.no_pii, out);
        let moocdb = MoocdbBuilder::new(
            MoocdbOptions {
                domain: options.domain.clone(),
                max_duration: options.max_duration,
                default_duration: options.default_duration,
            },
            known,
            carried.users,
            carried.latest_event,
        );
        let relations =
            RelationBuilder::new(String::new(), geoip.unwrap_or(GeoIp::Embedded), carried.ips);
        let check_db = match &cx.pool {
            Some(pool) => cx
                .handle
                .block_on(ledger::any_line_loaded(pool))
                .unwrap_or(true),
            None => false,
        };
        let course_filter = options.course_id.as_deref().map(normal_course_id);
        // With earlier lines in the database every chunk is a query: those stay long.
        let chunk = if options.reading_thread || check_db {
            CHUNK
        } else {
            SHORT_CHUNK
        };
        Transform {
            options,
            cx,
            rows,
            relations,
            moocdb,
            recent: HashSet::default(),
            seen: Rc::default(),
            check_db,
            // Read from the database when the run starts.
            line_keys: LineKeys::TimeThenHash,
            pending: Vec::with_capacity(chunk),
            chunk,
            fresh: Vec::with_capacity(chunk),
            done_with: None,
            reading_thread: None,
            file_id: None,
            course_filter,
            group: Vec::new(),
            group_bytes: 0,
            produced_at_file_end: Vec::new(),
            files_committed: 0,
            summary: LoadSummary::default(),
        }
    }

    /// Loads every log in order.
    pub fn run_all(&mut self, logs: &[TrackingLog]) -> Result<(), LoadError> {
        self.read_line_keys()?;
        for (i, log) in logs.iter().enumerate() {
            if self.cx.stop.load(Ordering::Relaxed) {
                // The files read so far are whole: committed, so the next run starts after them.
                self.commit_group()?;
                return Err(self.interrupted(log));
            }
            self.run_file(log, logs.get(i + 1))?;
        }
        self.commit_group()?;
        self.summary.domain = self.moocdb.domain().map(str::to_string);
        if self.options.dry_run {
            self.summary.rows = Table::ALL
                .iter()
                .filter(|t| !t.is_private() || !self.options.no_pii)
                .filter(|t| **t != Table::Lines)
                .map(|t| (t.name().to_string(), self.rows.produced(*t)))
                .filter(|(_, n)| *n > 0)
                .collect();
        }
        Ok(())
    }

    /// Row buffers that grow as their rows come (see [`Rows::make_growing`]).
    pub fn with_growing_row_buffers(mut self) -> Self {
        self.rows.make_growing();
        self
    }

    /// Shares what a split's course databases need only once with `other`: the filter of the
    /// lines this run stored (see [`Transform::seen`]) and the cache of usernames' hashes (see
    /// [`RelationBuilder::share_anon_names`]).
    pub fn share_run_caches(&mut self, other: &Transform) {
        self.seen = Rc::clone(&other.seen);
        self.relations.share_anon_names(&other.relations);
    }

    /// The writers' number for its course database.
    pub fn destination(&self) -> usize {
        self.cx.destination
    }

    /// The pool on its course database (none in a dry run).
    pub fn pool(&self) -> Option<&MySqlPool> {
        self.cx.pool.as_ref()
    }

    /// Reads how the database keys its lines (`moocdb_loader_lines`).
    fn read_line_keys(&mut self) -> Result<(), LoadError> {
        if let Some(pool) = &self.cx.pool {
            self.line_keys = self.block_on(ledger::line_keys(pool))?;
        }
        Ok(())
    }

    fn reloads(&self, log: &TrackingLog) -> bool {
        let canonical = |p: &std::path::Path| std::fs::canonicalize(p).ok();
        match &log.origin {
            source::Origin::File(path) => {
                self.options.reload.iter().any(|r| {
                    r == path || (canonical(r).is_some() && canonical(r) == canonical(path))
                })
            }
            source::Origin::Stdin | source::Origin::Memory(_) => false,
        }
    }

    fn interrupted(&self, log: &TrackingLog) -> LoadError {
        LoadError::Interrupted {
            files_done: self.files_committed,
            current: log.display_name.clone(),
        }
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.cx.handle.block_on(f)
    }

    /// Loads `log`; `next` is the file after it.
    fn run_file(&mut self, log: &TrackingLog, next: Option<&TrackingLog>) -> Result<(), LoadError> {
        let content_hash = log.content_hash()?;
        let Some(mut file) = self.begin_file(log, content_hash)? else {
            return Ok(());
        };
        let (stop, progress) = (self.cx.stop.clone(), self.cx.progress.clone());
        let mut thread = self.reading_thread.take();
        let reading = Reading::new(&self.options, &mut thread, &progress, &stop, next);
        let segment = file.segment;
        let mut taker = OneDatabase {
            transform: self,
            counts: &mut file.counts,
            rejects: &mut file.rejects,
        };
        let read = reading.load_file(&mut taker, log, segment);
        self.reading_thread = thread;
        read?;
        let prefix_hash = log.prefix_hash(file.counts.raw_end)?.unwrap_or_default();
        let too_many_rejects = too_many_rejects(log, &file.counts, self.options.max_bad_ratio);
        let breached = too_many_rejects.is_some();
        self.end_file(log, file, prefix_hash, breached)?;
        if breached || self.group_bytes >= self.options.commit_group_bytes {
            self.commit_group()?;
        }
        match too_many_rejects {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Decides what to load of `log` (of content `content_hash`) and, when something, records
    /// its start in the ledger: the file being loaded, or `None` when it is left alone.
    fn begin_file(
        &mut self,
        log: &TrackingLog,
        content_hash: Option<String>,
    ) -> Result<Option<OpenFile>, LoadError> {
        let segment = match self.plan(log, content_hash.as_deref())? {
            Plan::Skip => {
                self.summary.skipped_files += 1;
                self.cx.progress.add_done_bytes(log.size);
                return Ok(None);
            }
            Plan::Changed if self.reloads(log) => {
                // The rows to remove may be those of a file of the group: stored first.
                self.commit_group()?;
                let pool = self
                    .cx
                    .pool
                    .as_ref()
                    .expect("a changed file implies a database");
                let private = (!self.options.no_pii).then_some(self.cx.private_database.as_str());
                let load_info_id = ripemd160_hex(log.uri().as_bytes());
                let removed = self.block_on(ledger::forget_file(
                    pool,
                    &log.display_name,
                    &load_info_id,
                    private,
                ))?;
                self.moocdb.forget(
                    &removed.event_ids.into_iter().collect(),
                    &removed.users,
                    &removed.open_submissions,
                );
                tracing::warn!(
                    "{}: changed since it was loaded into `{}`: its rows there were removed and it is loaded again (--reload)",
                    log.display_name,
                    self.cx.database
                );
                Segment::default()
            }
            Plan::Changed => {
                tracing::warn!(
                    "{}: its content changed since it was loaded into `{}`; left alone (its rows stay as loaded). Give --reload {} to replace its rows",
                    log.display_name,
                    self.cx.database,
                    log.display_name
                );
                self.summary.changed_files.push(log.display_name.clone());
                self.cx.progress.add_done_bytes(log.size);
                return Ok(None);
            }
            Plan::Load(segment) => segment,
        };
        if segment.raw_start > 0 {
            self.summary.grown_files += 1;
        }
        let load_info_id = ripemd160_hex(log.uri().as_bytes());
        self.file_id = None;
        if let Some(pool) = &self.cx.pool {
            let hash = content_hash.clone().unwrap_or_else(|| "stdin".into());
            let next_ids = serde_json::to_string(&self.moocdb.next_ids()).unwrap_or_default();
            self.file_id = Some(self.block_on(ledger::start_file(
                pool,
                &log.display_name,
                &hash,
                log.size,
                &load_info_id,
                &segment,
                &next_ids,
            ))?);
        }
        RelationBuilder::write_load_info(
            &mut self.rows,
            &load_info_id,
            &Utc::now().naive_utc(),
            &log.uri(),
        )?;
        self.relations.set_load_info(load_info_id);
        Ok(Some(OpenFile {
            segment,
            counts: FileCounts::default(),
            rejects: RejectBuffer {
                file_id: self.file_id,
                file: log.display_name.clone(),
                pending: Vec::new(),
            },
            produced_before: Table::ALL.iter().map(|t| self.rows.produced(*t)).collect(),
            content_hash,
        }))
    }

    /// Ends the load of a file whose lines are all taken: its last chunk, rejects and own rows
    /// written, its counts added, and the file added to the commit group (`breached`: it has
    /// more rejects than `--max-bad-ratio` allows, which fails the group).
    fn end_file(
        &mut self,
        log: &TrackingLog,
        file: OpenFile,
        prefix_hash: String,
        breached: bool,
    ) -> Result<(), LoadError> {
        let OpenFile {
            mut counts,
            mut rejects,
            produced_before,
            content_hash,
            ..
        } = file;
        self.process_pending(&mut counts)?;
        self.store_rejects(&mut rejects)?;
        counts.prefix_hash = prefix_hash;

        // The file's own rows: its forum requests, the hierarchy nodes it created.
        self.moocdb.end_of_file(&mut self.rows)?;
        for (i, t) in Table::ALL.iter().enumerate() {
            let n = self.rows.produced(*t) - produced_before[i];
            if n > 0 && *t != Table::Lines {
                counts.rows.insert(t.name().to_string(), n);
            }
        }
        self.produced_at_file_end = Table::ALL.iter().map(|t| self.rows.produced(*t)).collect();
        self.summary.files += 1;
        self.summary.lines += counts.lines;
        self.summary.events += counts.events;
        self.summary.rejected += counts.rejected;
        self.summary.duplicates += counts.duplicates;
        self.summary.skipped += counts.skipped;
        self.group.push(Uncommitted {
            file_id: self.file_id,
            counts,
            breached,
            content_hash,
        });
        self.group_bytes += log.size;
        Ok(())
    }
}

/// A file being loaded: where its reading started, its counts and rejects so far.
pub(super) struct OpenFile {
    segment: Segment,
    counts: FileCounts,
    rejects: RejectBuffer,
    /// Rows produced before it began, per table.
    produced_before: Vec<u64>,
    content_hash: Option<String>,
}
