//! The transform thread: each tracking log, line by line, through decode → parse → relations →
//! moocdb into the row buffers, and the bookkeeping that makes loads incremental and crash-safe.
//!
//! Per file: decide what to load (nothing if already loaded, only the new bytes of a grown live
//! file), record the start in the ledger, stream the lines, drop lines already loaded (by the hash
//! of their JSON text, checked in chunks against `moocdb_loader_lines`), and at the end wait for
//! every row to be stored, then commit the carried state with the ledger's "loaded" in one
//! transaction.

use foldhash::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::Utc;
use sqlx::mysql::MySqlPool;
use tokio::runtime::Handle;

use super::seen_lines::SeenLines;
use super::{LoadOptions, LoadSummary, event_course, normal_course_id};
use crate::decode::{Decoded, decode};
use crate::error::LoadError;
use crate::identity::{LineIdentity, LineKeys, ripemd160_hex};
use crate::moocdb::{KnownEntries, MoocdbBuilder, MoocdbOptions};
use crate::parse::{ParseError, TrackingEvent};
use crate::progress::Progress;
use crate::relations::{GeoIp, RelationBuilder};
use crate::schema::Table;
use crate::sink::{Batch, BatchOut, Encoding, Rows, WriterSender};
use crate::source::{self, TrackingLog};
use crate::state::{CarriedState, StateChange};
use crate::store::carried_state;
use crate::store::ledger::{self, FileCounts, REJECT_RAW_LIMIT, Reject, Segment};

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
    /// The private database's name.
    pub private_database: String,
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

/// Lines the reading thread hands over at a time, and batches it may be ahead by.
const READ_BATCH: usize = 512;
/// Lines read at a time when the transform's thread reads them itself.
const SHORT_READ_BATCH: usize = 32;
const READ_AHEAD: usize = 4;

/// One line as the reading thread made it.
struct ReadLine {
    number: u64,
    offset: u64,
    /// Decompressed bytes read up to the end of this line.
    bytes_read: u64,
    content: LineContent,
}

// Nearly every line is an event: boxing that variant to make the rare ones smaller cost an
// allocation per line, freed by the other thread.
#[allow(clippy::large_enum_variant)]
enum LineContent {
    /// A parsed event.
    Event(Pending),
    /// A blank line or a comment.
    NotAnEvent,
    /// Not an event, with the reason and the line's first bytes.
    Reject {
        reason: String,
        raw_length: u64,
        raw: Vec<u8>,
    },
    /// The unterminated, unparseable last line of a live file: left for the next load.
    Unfinished,
    /// The rest of the file cannot be read (a damaged gzip stream, a read error).
    Unreadable(String),
}

/// The reading stages: lines of `reader` through decode and parse, in batches, in order, until
/// the end or an unreadable point. Run on a thread of their own when there is a second core
/// ([`read_lines`]), else by the transform's thread itself between its chunks.
struct LineBatches {
    reader: source::LineReader,
    /// Lines per batch.
    batch_lines: usize,
    wait_for_last_line: bool,
    max_line_bytes: usize,
    ended: bool,
}

impl Iterator for LineBatches {
    type Item = Vec<ReadLine>;

    fn next(&mut self) -> Option<Vec<ReadLine>> {
        let mut batch = Vec::with_capacity(self.batch_lines);
        while !self.ended && batch.len() < self.batch_lines {
            match self.next_line() {
                Some((line, last)) => {
                    batch.push(line);
                    self.ended = last;
                }
                None => self.ended = true,
            }
        }
        (!batch.is_empty()).then_some(batch)
    }
}

impl LineBatches {
    /// The next line, and whether it is the last one to read; `None` at the end.
    fn next_line(&mut self) -> Option<(ReadLine, bool)> {
        let max_line_bytes = self.max_line_bytes;
        match self.reader.next_line() {
            Ok(None) => None,
            Err(e) => {
                let bytes_read = self.reader.bytes_read();
                let content = LineContent::Unreadable(e.to_string());
                let line = ReadLine {
                    number: 0,
                    offset: 0,
                    bytes_read,
                    content,
                };
                Some((line, true))
            }
            Ok(Some(line)) => {
                let mut blank = false;
                let parsed = match line.overlong {
                    Some(len) => Err(format!(
                        "line of {len} bytes is over the {max_line_bytes} byte limit"
                    )),
                    None => match decode(line.bytes) {
                        Decoded::Blank => {
                            blank = true;
                            Ok(None)
                        }
                        Decoded::Comment => Ok(None),
                        Decoded::Reject(reason) => Err(reason),
                        Decoded::Json(json) => Pending::parse(json).map(Some).map_err(|e| e.0),
                    },
                };
                // The last line of a live, uncompressed file may still be being written: an
                // unterminated line that is not a whole record waits for the next load.
                let unfinished = !line.terminated
                    && self.wait_for_last_line
                    && match &parsed {
                        Ok(Some(_)) => false,
                        Ok(None) => !blank,
                        Err(_) => true,
                    };
                let content = match parsed {
                    _ if unfinished => LineContent::Unfinished,
                    Ok(Some(pending)) => LineContent::Event(pending),
                    Ok(None) => LineContent::NotAnEvent,
                    Err(reason) => LineContent::Reject {
                        reason,
                        raw_length: line.overlong.unwrap_or(line.bytes.len() as u64),
                        raw: line.bytes[..line.bytes.len().min(REJECT_RAW_LIMIT)].to_vec(),
                    },
                };
                let (number, offset) = (line.number, line.offset);
                let read = ReadLine {
                    number,
                    offset,
                    bytes_read: self.reader.bytes_read(),
                    content,
                };
                Some((read, unfinished))
            }
        }
    }
}

/// The reading thread: sends `batches` until they end or the receiver hangs up. Events the
/// transform is done with come back on `done` to be dropped here, by the thread that allocated
/// them: the allocator frees a block of its own thread's pages without the cross-thread
/// bookkeeping, and the transform, the busier thread, is spared the drops.
fn read_lines(
    batches: LineBatches,
    sender: std::sync::mpsc::SyncSender<Vec<ReadLine>>,
    done: std::sync::mpsc::Receiver<Vec<Pending>>,
) {
    for batch in batches {
        done.try_iter().for_each(drop);
        if sender.send(batch).is_err() {
            return;
        }
    }
}

/// Where the taking of a file's lines has got to.
#[derive(Default)]
struct TakenLines {
    /// Compressed bytes read, as last reported to the progress display.
    reported_stored: u64,
    /// Bytes of the plain file consumed by whole lines: where a later load continues.
    consumed: u64,
    /// The rest of the file was unreadable.
    damaged: bool,
}

/// Rejected lines of one file waiting to be stored.
struct RejectBuffer {
    file_id: Option<i64>,
    file: String,
    pending: Vec<Reject>,
}

/// What to do with one file.
enum Plan {
    /// Nothing new in it.
    Skip,
    /// Its already-loaded part changed: left alone.
    Changed,
    /// Load from this point.
    Load(Segment),
}

/// The per-run state of the transform thread.
pub struct Transform {
    options: LoadOptions,
    cx: Context,
    rows: Rows,
    relations: RelationBuilder,
    moocdb: MoocdbBuilder,
    recent: HashSet<u128>,
    /// Lines of this run already stored, no longer in `recent`.
    seen: SeenLines,
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

/// A file loaded and waiting for its group's commit.
struct Uncommitted {
    /// Its ledger entry (none in a dry run).
    file_id: Option<i64>,
    counts: FileCounts,
    breached: bool,
    /// Its content hash: a file of the same content later in the group is already loaded.
    content_hash: Option<String>,
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
                Box::new(move |batch: Batch| s.send(batch))
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
            seen: SeenLines::default(),
            check_db,
            // Read from the database when the run starts.
            line_keys: LineKeys::TimeThenHash,
            pending: Vec::with_capacity(chunk),
            chunk,
            fresh: Vec::with_capacity(chunk),
            done_with: None,
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
        if let Some(pool) = &self.cx.pool {
            self.line_keys = self.block_on(ledger::line_keys(pool))?;
        }
        for log in logs {
            if self.cx.stop.load(Ordering::Relaxed) {
                // The files read so far are whole: committed, so the next run starts after them.
                self.commit_group()?;
                return Err(self.interrupted(log));
            }
            self.run_file(log)?;
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

    /// Decides what to load of `log`.
    fn plan(&self, log: &TrackingLog, content_hash: Option<&str>) -> Result<Plan, LoadError> {
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

    fn run_file(&mut self, log: &TrackingLog) -> Result<(), LoadError> {
        let content_hash = log.content_hash()?;
        let segment = match self.plan(log, content_hash.as_deref())? {
            Plan::Skip => {
                self.summary.skipped_files += 1;
                self.cx.progress.add_done_bytes(log.size);
                return Ok(());
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
                    "{}: changed since it was loaded: its rows were removed and it is loaded again (--reload)",
                    log.display_name
                );
                Segment::default()
            }
            Plan::Changed => {
                tracing::warn!(
                    "{}: its content changed since it was loaded; left alone (its rows stay as loaded). Give --reload {} to replace its rows",
                    log.display_name,
                    log.display_name
                );
                self.summary.changed_files.push(log.display_name.clone());
                self.cx.progress.add_done_bytes(log.size);
                return Ok(());
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

        let mut counts = FileCounts::default();
        let mut rejects = RejectBuffer {
            file_id: self.file_id,
            file: log.display_name.clone(),
            pending: Vec::new(),
        };
        let produced_before: Vec<u64> = Table::ALL.iter().map(|t| self.rows.produced(*t)).collect();
        let document = if segment.raw_start == 0 {
            read_json_document(log, self.options.max_line_bytes)?
        } else {
            None
        };
        match document {
            Some(document) => {
                self.load_document(&document, &mut counts, &mut rejects)?;
                counts.raw_end = log.size;
            }
            None => self.load_lines(log, segment, &mut counts, &mut rejects)?,
        }
        self.process_pending(&mut counts)?;
        self.store_rejects(&mut rejects)?;
        counts.prefix_hash = log.prefix_hash(counts.raw_end)?.unwrap_or_default();

        // The file's own rows: its forum requests, the hierarchy nodes it created.
        self.moocdb.end_of_file(&mut self.rows)?;
        for (i, t) in Table::ALL.iter().enumerate() {
            let n = self.rows.produced(*t) - produced_before[i];
            if n > 0 && *t != Table::Lines {
                counts.rows.insert(t.name().to_string(), n);
            }
        }
        self.produced_at_file_end = Table::ALL.iter().map(|t| self.rows.produced(*t)).collect();
        let ratio_base = counts.lines - counts.skipped;
        let breached = ratio_base > 0
            && counts.rejected as f64 > self.options.max_bad_ratio * ratio_base as f64;
        self.summary.files += 1;
        self.summary.lines += counts.lines;
        self.summary.events += counts.events;
        self.summary.rejected += counts.rejected;
        self.summary.duplicates += counts.duplicates;
        self.summary.skipped += counts.skipped;
        let too_many_rejects = breached.then(|| LoadError::TooManyRejects {
            file: log.display_name.clone(),
            rejected: counts.rejected,
            lines: ratio_base,
            percent: 100.0 * counts.rejected as f64 / ratio_base as f64,
            max_ratio: self.options.max_bad_ratio,
        });
        self.group.push(Uncommitted {
            file_id: self.file_id,
            counts,
            breached,
            content_hash,
        });
        self.group_bytes += log.size;
        if breached || self.group_bytes >= self.options.commit_group_bytes {
            self.commit_group()?;
        }
        match too_many_rejects {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Commits the files loaded since the last commit: the users' staged events and the new
    /// hierarchy nodes are written, every row is stored, then the carried state and each file's
    /// ledger entry, in one transaction. A file over `--max-bad-ratio` fails its whole group:
    /// its files are left unfinished, and the next run loads them again.
    fn commit_group(&mut self) -> Result<(), LoadError> {
        if self.group.is_empty() {
            return Ok(());
        }
        self.moocdb.end_of_commit(&mut self.rows)?;
        self.rows.flush_all()?;
        if let Some(sender) = &self.cx.sender {
            sender.barrier()?;
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
            };
            crash_point("before-commit");
            self.block_on(carried_state::commit_files(
                pool,
                change,
                &files,
                // Sized like a batch of rows, not as large as the server allows: a 50,000-user
                // course's state in one statement raised the load's peak memory by 40 MiB.
                self.cx.batch_bytes.min(self.cx.max_statement),
            ))?;
        }
        self.moocdb.clear_changed();
        self.relations.clear_changed_ips();
        // The group's lines are in the database now: later files ask it about possible matches.
        self.spill_recent();
        self.files_committed += group.len() as u64;
        Ok(())
    }

    /// Parses one JSON record into the pending chunk; the error is the reject reason.
    fn record(
        &mut self,
        json: &str,
        counts: &mut FileCounts,
    ) -> Result<Result<(), String>, LoadError> {
        match Pending::parse(json) {
            Err(e) => Ok(Err(e.0)),
            Ok(pending) => self.enqueue(pending, counts).map(Ok),
        }
    }

    /// Adds a parsed line to the pending chunk, processing the chunk when it is full.
    fn enqueue(&mut self, pending: Pending, counts: &mut FileCounts) -> Result<(), LoadError> {
        self.pending.push(pending);
        if self.pending.len() >= self.chunk {
            self.process_pending(counts)?;
        }
        Ok(())
    }

    /// Drops the pending lines already loaded (now or by an earlier load) and accepts the rest,
    /// in order.
    fn process_pending(&mut self, counts: &mut FileCounts) -> Result<(), LoadError> {
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
                    .filter(|line| check_db || self.seen.may_contain(line.hash()))
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
        self.pending = match &self.done_with {
            Some(done) => match done.send(pending) {
                Ok(()) => Vec::with_capacity(self.chunk),
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
    fn spill_recent(&mut self) {
        if self.cx.pool.is_some() {
            for hash in self.recent.drain() {
                self.seen.insert(hash);
            }
        }
        self.recent.clear();
    }

    fn accept(
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
        self.rows.add(Table::Lines, |r| {
            r.token(key);
            r.int(file_id);
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

    fn store_rejects(&self, rejects: &mut RejectBuffer) -> Result<(), LoadError> {
        if let (Some(pool), Some(id)) = (&self.cx.pool, rejects.file_id) {
            self.block_on(ledger::write_rejects(
                pool,
                id,
                &rejects.file,
                &rejects.pending,
            ))?;
        }
        rejects.pending.clear();
        Ok(())
    }

    fn reject(
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

    /// The usual case: one record per line, from `segment` on. A second thread reads,
    /// decompresses, decodes and parses the lines (the stateless stages); this one takes them in
    /// order for the stateful stages.
    fn load_lines(
        &mut self,
        log: &TrackingLog,
        segment: Segment,
        counts: &mut FileCounts,
        rejects: &mut RejectBuffer,
    ) -> Result<(), LoadError> {
        let stored = Arc::new(AtomicU64::new(0));
        let reader = log
            .open_at(
                segment.raw_start,
                self.options.max_line_bytes,
                stored.clone(),
            )?
            .starting_at(segment.first_line, segment.decoded_start);
        let compressed = reader.is_compressed();
        let batches = LineBatches {
            reader,
            batch_lines: if self.options.reading_thread {
                READ_BATCH
            } else {
                SHORT_READ_BATCH
            },
            wait_for_last_line: log.live && !compressed,
            max_line_bytes: self.options.max_line_bytes,
            ended: false,
        };
        let mut taken = TakenLines::default();
        let read = if self.options.reading_thread {
            let (sender, receiver) = std::sync::mpsc::sync_channel(READ_AHEAD);
            // Unbounded, but the reading thread empties it before every batch it sends, and the
            // transform sends one chunk per CHUNK lines taken.
            let (done_with, done) = std::sync::mpsc::channel();
            self.done_with = Some(done_with);
            let read = std::thread::scope(|scope| -> Result<(), LoadError> {
                scope.spawn(move || read_lines(batches, sender, done));
                // Dropped on return, so that the reading thread stops if this one stops early.
                let receiver = receiver;
                self.take_lines(
                    receiver.iter(),
                    log,
                    &segment,
                    &stored,
                    counts,
                    rejects,
                    &mut taken,
                )
            });
            self.done_with = None;
            read
        } else {
            self.take_lines(batches, log, &segment, &stored, counts, rejects, &mut taken)
        };
        read?;
        let now = stored.load(Ordering::Relaxed);
        self.cx
            .progress
            .add(now - taken.reported_stored, counts.lines % 4096, 0);
        counts.bytes = taken.consumed;
        counts.raw_end = if compressed || taken.damaged {
            segment.raw_start + now
        } else {
            segment.raw_start + taken.consumed
        };
        Ok(())
    }

    /// Takes the lines of `batches` in order until they end, the file's last line is unfinished
    /// or the rest of the file is unreadable.
    #[allow(clippy::too_many_arguments)]
    fn take_lines(
        &mut self,
        batches: impl Iterator<Item = Vec<ReadLine>>,
        log: &TrackingLog,
        segment: &Segment,
        stored: &AtomicU64,
        counts: &mut FileCounts,
        rejects: &mut RejectBuffer,
        taken: &mut TakenLines,
    ) -> Result<(), LoadError> {
        for batch in batches {
            for line in batch {
                if self.cx.stop.load(Ordering::Relaxed) {
                    return Err(self.interrupted(log));
                }
                match line.content {
                    LineContent::Unfinished => return Ok(()),
                    LineContent::Unreadable(e) => {
                        // A damaged gzip stream or a read error: the lines before it are
                        // loaded, the damage is recorded as a reject where it was found.
                        counts.lines += 1;
                        taken.damaged = true;
                        tracing::warn!(
                            "{}: after line {}: {e}; the rest of the file is unreadable",
                            log.display_name,
                            segment.first_line + counts.lines - 1
                        );
                        let reject = Reject {
                            line_number: segment.first_line + counts.lines - 1,
                            byte_offset: segment.decoded_start + line.bytes_read,
                            reason: format!(
                                "unreadable from here on ({e}); the lines before were loaded"
                            ),
                            raw_length: 0,
                            raw: Vec::new(),
                        };
                        self.reject(rejects, counts, reject)?;
                        return Ok(());
                    }
                    LineContent::NotAnEvent => {
                        counts.lines += 1;
                        counts.skipped += 1;
                    }
                    LineContent::Event(pending) => {
                        counts.lines += 1;
                        self.enqueue(pending, counts)?;
                    }
                    LineContent::Reject {
                        reason,
                        raw_length,
                        raw,
                    } => {
                        counts.lines += 1;
                        let reject = Reject {
                            line_number: line.number,
                            byte_offset: line.offset,
                            reason,
                            raw_length,
                            raw,
                        };
                        self.reject(rejects, counts, reject)?;
                    }
                }
                taken.consumed = line.bytes_read;
                if counts.lines.is_multiple_of(4096) {
                    let now = stored.load(Ordering::Relaxed);
                    self.cx.progress.add(now - taken.reported_stored, 4096, 0);
                    taken.reported_stored = now;
                }
            }
        }
        Ok(())
    }

    /// A file holding pretty-printed JSON documents (an object, an array of objects, or several
    /// objects one after another) rather than one record per line. Each record counts as a line;
    /// the remaining physical lines count as skipped, so that lines = events + rejected +
    /// duplicates + skipped still holds.
    fn load_document(
        &mut self,
        document: &[u8],
        counts: &mut FileCounts,
        rejects: &mut RejectBuffer,
    ) -> Result<(), LoadError> {
        let physical_lines = document
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
        let mut records = 0u64;
        let mut stream =
            serde_json::Deserializer::from_slice(document).into_iter::<serde_json::Value>();
        loop {
            let offset = stream.byte_offset() as u64;
            let value = match stream.next() {
                None => break,
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    records += 1;
                    let rest = &document[offset as usize..];
                    let reject = Reject {
                        line_number: e.line() as u64,
                        byte_offset: offset,
                        reason: format!("invalid JSON document: {e}"),
                        raw_length: rest.len() as u64,
                        raw: rest[..rest.len().min(REJECT_RAW_LIMIT)].to_vec(),
                    };
                    self.reject(rejects, counts, reject)?;
                    break;
                }
            };
            let items = match value {
                serde_json::Value::Array(items) => items,
                other => vec![other],
            };
            for item in items {
                records += 1;
                let json = item.to_string();
                if let Err(reason) = self.record(&json, counts)? {
                    let reject = Reject {
                        line_number: records,
                        byte_offset: offset,
                        reason,
                        raw_length: json.len() as u64,
                        raw: json.as_bytes()[..json.len().min(REJECT_RAW_LIMIT)].to_vec(),
                    };
                    self.reject(rejects, counts, reject)?;
                }
            }
        }
        counts.lines = physical_lines.max(records);
        counts.skipped += counts.lines - records;
        counts.bytes = document.len() as u64;
        self.cx.progress.add(document.len() as u64, counts.lines, 0);
        Ok(())
    }
}

/// A test hook: with `MOOCDB_CRASH_AT=<point>[:<n>]` the process aborts (as abruptly as
/// SIGKILL: no cleanup, no flush) the n-th time (default first) it reaches `point`. Used by the
/// crash tests; never set in normal use.
fn crash_point(point: &str) {
    static SPEC: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let spec = SPEC.get_or_init(|| {
        let v = std::env::var("MOOCDB_CRASH_AT").ok()?;
        let (p, n) = v.split_once(':').unwrap_or((v.as_str(), "1"));
        Some((p.to_string(), n.parse().unwrap_or(1)))
    });
    if let Some((p, n)) = spec
        && p == point
        && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *n
    {
        // A panic instead of an abort shows what a bug's panic would print (tests check that it
        // never carries the password).
        if std::env::var("MOOCDB_CRASH_WITH").as_deref() == Ok("panic") {
            panic!("test crash at {point}");
        }
        std::process::abort();
    }
}

/// The whole content of `log` when it is a pretty-printed JSON document rather than JSON lines:
/// its first non-blank line is a lone `{` or starts a `[`. Larger files than `limit` are read as
/// lines.
fn read_json_document(log: &TrackingLog, limit: usize) -> Result<Option<Vec<u8>>, LoadError> {
    if log.origin == source::Origin::Stdin {
        return Ok(None);
    }
    let mut reader = log.open(limit)?;
    let first = loop {
        match reader.next_line() {
            Ok(Some(line)) => {
                let t = String::from_utf8_lossy(line.bytes).trim().to_string();
                if !t.is_empty() {
                    break t;
                }
            }
            _ => return Ok(None),
        }
    };
    if first != "{" && !first.starts_with('[') {
        return Ok(None);
    }
    let mut content = Vec::new();
    let mut file = log.open(limit)?;
    while let Ok(Some(line)) = file.next_line() {
        content.extend_from_slice(line.bytes);
        content.push(b'\n');
        if content.len() > limit {
            return Ok(None);
        }
    }
    Ok(Some(content))
}
