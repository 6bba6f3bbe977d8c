//! A whole load: the pipeline source → decode → parse → relations → moocdb → sink, wired up.
//!
//! The transform runs on one blocking thread and hands full batches to the asynchronous writers
//! through a bounded queue; the ledger records each file once all of its rows are stored.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chrono::Utc;
use sqlx::mysql::MySqlPool;
use tokio::runtime::Handle;

use crate::decode::{Decoded, decode};
use crate::error::LoadError;
use crate::identity::{LineIdentity, ripemd160_hex};
use crate::ledger::{self, FileCounts, REJECT_RAW_LIMIT, Reject};
use crate::moocdb::{KnownEntries, MoocdbBuilder, MoocdbOptions};
use crate::parse::TrackingEvent;
use crate::progress::Progress;
use crate::relations::{GeoIp, RelationBuilder, org_course_run};
use crate::schema::Table;
use crate::sink::database::{self, Target};
use crate::sink::infile::InfilePool;
use crate::sink::{Batch, BatchOut, Connections, Encoding, Method, Rows, WriterSender, Writers};
use crate::source::{self, TrackingLog};

/// How to send rows, as asked on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodChoice {
    /// `LOAD DATA LOCAL INFILE` when the server allows it, else multi-row INSERT.
    Auto,
    /// `LOAD DATA LOCAL INFILE` only (fails if the server refuses it).
    Infile,
    /// Multi-row INSERT only.
    Insert,
}

/// Everything a load needs to know.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Files, directories or `-`.
    pub paths: Vec<PathBuf>,
    /// `mysql://user:password@host:port/database`; required unless `dry_run`.
    pub database_url: Option<String>,
    /// The private database (default `<database>_private`).
    pub private_database: Option<String>,
    /// Write no private rows (`Account`, `EventIp`) at all.
    pub no_pii: bool,
    /// Keep only this course's events (events with no course at all are kept).
    pub course_id: Option<String>,
    /// qpipe's DOMAIN for relative URLs; learned from the log when absent.
    pub domain: Option<String>,
    /// How rows reach the server.
    pub method: MethodChoice,
    /// Do everything but touch the database.
    pub dry_run: bool,
    /// A file with a larger share of rejected lines fails the load.
    pub max_bad_ratio: f64,
    /// Gaps over this many seconds get `default_duration`.
    pub max_duration: i64,
    /// Duration of an event followed by a gap over `max_duration`.
    pub default_duration: i64,
    /// Target size of one statement's rows.
    pub batch_bytes: usize,
    /// Longer lines are rejected (their first bytes are kept).
    pub max_line_bytes: usize,
    /// Statements run at once.
    pub writers: usize,
    /// A MaxMind-format country database for `ip_country` (default: the embedded RIR table).
    pub geoip: Option<PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            paths: Vec::new(),
            database_url: None,
            private_database: None,
            no_pii: false,
            course_id: None,
            domain: None,
            method: MethodChoice::Auto,
            dry_run: false,
            max_bad_ratio: 0.5,
            max_duration: 3600,
            default_duration: 100,
            batch_bytes: 8 << 20,
            max_line_bytes: 32 << 20,
            writers: 4,
            geoip: None,
        }
    }
}

/// The result of a load, as `--json` prints it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadSummary {
    /// Files loaded in this run.
    pub files: u64,
    /// Lines read.
    pub lines: u64,
    /// Lines accepted as events.
    pub events: u64,
    /// Lines that could not be events (see `moocdb_loader_rejects`).
    pub rejected: u64,
    /// Lines identical to an event already seen.
    pub duplicates: u64,
    /// Blank and comment lines, and events of other courses under `--course-id`.
    pub skipped: u64,
    /// Files already loaded, not read again.
    pub skipped_files: u64,
    /// `infile` or `insert` (`none` in a dry run).
    pub method: String,
    /// Wall-clock seconds.
    pub elapsed_s: f64,
    /// Rows written in this run, per table (rows produced, in a dry run).
    pub rows: BTreeMap<String, u64>,
    /// Events dropped by `--course-id` (included in `skipped`).
    pub other_course_events: u64,
    /// Events accepted but stored in no table, by reason (as json_to_relation did: repeated
    /// heartbeats, server pings).
    pub events_not_stored: BTreeMap<String, u64>,
    /// The course domain used for relative URLs.
    pub domain: Option<String>,
    /// Server settings that would make loading faster, once.
    #[serde(skip)]
    pub advice: Vec<String>,
}

/// Runs a load. `stop` is checked between lines (Ctrl-C).
pub async fn run(
    options: LoadOptions,
    progress: Progress,
    stop: Arc<AtomicBool>,
) -> Result<LoadSummary, LoadError> {
    let started = Instant::now();
    let logs = source::discover(&options.paths)?;
    let geoip = match &options.geoip {
        Some(path) => Some(GeoIp::open(path)?),
        None => None,
    };
    progress.set_total(logs.iter().map(|l| l.size).sum());

    let mut summary = LoadSummary::default();
    let mut options = options;
    if options.domain.is_none() {
        options.domain = discover_domain(&logs, options.max_line_bytes);
    }
    let (pool, writers, method, known) = if options.dry_run {
        (None, None, None, KnownEntries::default())
    } else {
        let url = options
            .database_url
            .as_deref()
            .ok_or_else(|| LoadError::BadUrl {
                url: String::new(),
                reason:
                    "no database URL: give --database-url or set DATABASE_URL (or use --dry-run)"
                        .into(),
            })?;
        let target = Target::parse(url, options.private_database.as_deref())?;
        let pool = target
            .prepare(!options.no_pii, options.writers as u32 + 2)
            .await?;
        let packet = database::max_allowed_packet(&pool).await?;
        summary.advice = server_advice(&pool).await;
        let (method, connections) = choose_method(&options, &target, &pool).await?;
        let batch = match method {
            Method::Infile => options.batch_bytes,
            // An INSERT must fit in one packet: leave room for the statement head.
            Method::Insert => options
                .batch_bytes
                .min(packet.saturating_sub(64 * 1024).max(16 * 1024) as usize),
        };
        let known = database::known_entries(&pool).await?;
        let writers = Writers::start(
            connections,
            target.database.clone(),
            target.private_database.clone(),
            options.writers,
            options.writers * 2,
        );
        (Some(pool), Some((writers, batch)), Some(method), known)
    };
    summary.method = method.map(Method::name).unwrap_or("none").to_string();

    let encoding = match method {
        Some(Method::Infile) => Encoding::Tsv,
        _ => Encoding::SqlValues,
    };
    let (writer_handle, batch_bytes) = match writers {
        Some((w, b)) => (Some(w), b),
        None => (None, options.batch_bytes),
    };
    let sender = writer_handle.as_ref().map(Writers::sender);
    let handle = Handle::current();
    let transform_options = options.clone();
    let transform_progress = progress.clone();
    let transform_pool = pool.clone();
    let transform = tokio::task::spawn_blocking(move || {
        let mut transform = Transform::new(
            transform_options,
            transform_pool,
            sender,
            handle,
            encoding,
            batch_bytes,
            known,
            transform_progress,
            stop,
            geoip,
        );
        let result = transform.run_all(&logs);
        (transform.summary, result)
    });
    let (transformed, result) = transform.await.map_err(|e| LoadError::Write {
        table: "(transform)".into(),
        message: e.to_string(),
    })?;
    let written = match writer_handle {
        Some(w) => Some(w.finish().await),
        None => None,
    };
    // A writer error explains a "writers stopped" transform error: report the writer's.
    let written = match (result, written) {
        (_, Some(Err(e))) => return Err(e),
        (Err(e), _) => return Err(e),
        (Ok(()), w) => w.map(Result::unwrap_or_default),
    };
    if let Some(pool) = &pool {
        analyze_tables(pool, &transformed.rows).await;
        pool.close().await;
    }
    progress.finish();
    let mut summary = LoadSummary {
        method: summary.method,
        advice: summary.advice,
        ..transformed
    };
    if let Some(written) = written {
        summary.rows = Table::ALL
            .iter()
            .filter_map(|t| written.get(t).map(|n| (t.name().to_string(), *n)))
            .collect();
    }
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// qpipe's DOMAIN when none is given: the scheme and host of the first absolute page or referer
/// URL among the first lines of the logs (reading stops after 20,000 lines).
fn discover_domain(logs: &[TrackingLog], max_line_bytes: usize) -> Option<String> {
    let mut budget = 20_000u32;
    for log in logs {
        if log.origin == source::Origin::Stdin {
            continue;
        }
        let Ok(mut reader) = log.open(max_line_bytes) else {
            continue;
        };
        while let Ok(Some(line)) = reader.next_line() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return None;
            }
            if let Decoded::Json(json) = decode(line.bytes)
                && let Ok(event) = TrackingEvent::parse(json)
                && let Some(d) = crate::moocdb::course_url::domain_of(&event.page)
                    .or_else(|| crate::moocdb::course_url::domain_of(&event.referer))
            {
                return Some(d);
            }
        }
    }
    None
}

async fn choose_method(
    options: &LoadOptions,
    target: &Target,
    pool: &MySqlPool,
) -> Result<(Method, Connections), LoadError> {
    if options.method == MethodChoice::Insert {
        return Ok((Method::Insert, Connections::Insert(pool.clone())));
    }
    let infile = InfilePool::new(target, options.writers)?;
    match infile.probe().await {
        Ok(()) => Ok((Method::Infile, Connections::Infile(infile))),
        Err(LoadError::InfileRefused { message }) if options.method == MethodChoice::Auto => {
            tracing::warn!(
                "the server refuses LOAD DATA LOCAL INFILE ({message}); loading with multi-row INSERT instead (slower; set local_infile=1 on the server to use the fast path)"
            );
            infile.close().await;
            Ok((Method::Insert, Connections::Insert(pool.clone())))
        }
        Err(e) => {
            infile.close().await;
            Err(e)
        }
    }
}

async fn server_advice(pool: &MySqlPool) -> Vec<String> {
    let mut advice = Vec::new();
    let value = |name: &'static str| async move {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(@@{name} AS CHAR)"
        )))
        .fetch_one(pool)
        .await
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    };
    if let Some(v) = value("innodb_buffer_pool_size").await
        && v < 512 << 20
    {
        advice.push(format!(
                "innodb_buffer_pool_size is {} MiB; 1 GiB or more (about half the server's memory) makes bulk loads much faster",
                v >> 20
            ));
    }
    let redo = match value("innodb_redo_log_capacity").await {
        Some(v) => Some(v),
        None => value("innodb_log_file_size").await,
    };
    if let Some(v) = redo
        && v < 1 << 30
    {
        advice.push(format!(
                "the InnoDB redo log is {} MiB; 1 GiB or more (innodb_redo_log_capacity on MySQL 8, innodb_log_file_size on MariaDB) speeds up bulk loading about 1.7x",
                v >> 20
            ));
    }
    advice
}

async fn analyze_tables(pool: &MySqlPool, rows: &BTreeMap<String, u64>) {
    // Tables are created with STATS_AUTO_RECALC=0; refresh statistics of the tables that grew.
    for table in Table::ALL.iter().filter(|t| !t.is_private()) {
        if rows.get(table.name()).copied().unwrap_or(0) > 0 {
            let sql = format!("ANALYZE TABLE `{}`", table.name());
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await {
                tracing::debug!("ANALYZE TABLE {} failed: {e}", table.name());
            }
        }
    }
}

/// The per-run state of the transform thread.
struct Transform {
    options: LoadOptions,
    pool: Option<MySqlPool>,
    sender: Option<WriterSender>,
    handle: Handle,
    rows: Rows,
    relations: RelationBuilder,
    moocdb: MoocdbBuilder,
    seen_lines: HashSet<u128>,
    course_filter: Option<String>,
    progress: Progress,
    stop: Arc<AtomicBool>,
    summary: LoadSummary,
}

impl Transform {
    #[allow(clippy::too_many_arguments)]
    fn new(
        options: LoadOptions,
        pool: Option<MySqlPool>,
        sender: Option<WriterSender>,
        handle: Handle,
        encoding: Encoding,
        batch_bytes: usize,
        known: KnownEntries,
        progress: Progress,
        stop: Arc<AtomicBool>,
        geoip: Option<GeoIp>,
    ) -> Self {
        let out: BatchOut = match &sender {
            Some(s) => {
                let s = s.clone();
                Box::new(move |batch: Batch| s.send(batch))
            }
            None => Box::new(|_batch: Batch| Ok(())),
        };
        let rows = Rows::new(encoding, batch_bytes, !options.no_pii, out);
        let moocdb = MoocdbBuilder::new(
            MoocdbOptions {
                domain: options.domain.clone(),
                max_duration: options.max_duration,
                default_duration: options.default_duration,
            },
            known,
        );
        let course_filter = options.course_id.as_deref().map(normal_course_id);
        let geoip = geoip.unwrap_or(GeoIp::Embedded);
        Transform {
            options,
            pool,
            sender,
            handle,
            rows,
            relations: RelationBuilder::new(String::new(), geoip),
            moocdb,
            seen_lines: HashSet::new(),
            course_filter,
            progress,
            stop,
            summary: LoadSummary::default(),
        }
    }

    fn run_all(&mut self, logs: &[TrackingLog]) -> Result<(), LoadError> {
        for log in logs {
            if self.stop.load(Ordering::Relaxed) {
                return Err(LoadError::Interrupted);
            }
            self.run_file(log)?;
        }
        self.moocdb.finish(&mut self.rows)?;
        self.rows.flush_all()?;
        if let Some(sender) = &self.sender {
            sender.barrier()?;
        }
        self.summary.domain = self.moocdb.domain().map(str::to_string);
        if self.options.dry_run {
            self.summary.rows = Table::ALL
                .iter()
                .filter(|t| !t.is_private() || !self.options.no_pii)
                .map(|t| (t.name().to_string(), self.rows.produced(*t)))
                .filter(|(_, n)| *n > 0)
                .collect();
        }
        Ok(())
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.handle.block_on(f)
    }

    fn run_file(&mut self, log: &TrackingLog) -> Result<(), LoadError> {
        let content_hash = log.content_hash()?;
        let load_info_id = ripemd160_hex(log.uri().as_bytes());
        let mut file_id = None;
        if let (Some(pool), Some(hash)) = (&self.pool, &content_hash)
            && let Some(id) = self.block_on(ledger::already_loaded(pool, hash))?
        {
            tracing::info!(
                "{}: already loaded (ledger entry {id}), skipped",
                log.display_name
            );
            self.summary.skipped_files += 1;
            self.progress.add_done_bytes(log.size);
            return Ok(());
        }
        if let Some(pool) = &self.pool {
            let hash = content_hash.clone().unwrap_or_else(|| "stdin".into());
            file_id = Some(self.block_on(ledger::start_file(
                pool,
                &log.display_name,
                &hash,
                log.size,
                &load_info_id,
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
            file_id,
            file: log.display_name.clone(),
            pending: Vec::new(),
        };
        let produced_before: Vec<u64> = Table::ALL.iter().map(|t| self.rows.produced(*t)).collect();
        match read_json_document(log, self.options.max_line_bytes)? {
            Some(document) => self.load_document(&document, &mut counts, &mut rejects)?,
            None => self.load_lines(log, &mut counts, &mut rejects)?,
        }
        self.store_rejects(&mut rejects)?;

        // Every row of the file must be stored before the ledger says so.
        self.rows.flush_all()?;
        if let Some(sender) = &self.sender {
            sender.barrier()?;
        }
        for (i, t) in Table::ALL.iter().enumerate() {
            let n = self.rows.produced(*t) - produced_before[i];
            if n > 0 {
                counts.rows.insert(t.name().to_string(), n);
            }
        }
        let ratio_base = counts.lines - counts.skipped;
        let breached = ratio_base > 0
            && counts.rejected as f64 > self.options.max_bad_ratio * ratio_base as f64;
        if let (Some(pool), Some(id)) = (&self.pool, file_id) {
            let status = if breached { "failed" } else { "loaded" };
            self.block_on(ledger::finish_file(pool, id, &counts, status))?;
        }
        self.summary.files += 1;
        self.summary.lines += counts.lines;
        self.summary.events += counts.events;
        self.summary.rejected += counts.rejected;
        self.summary.duplicates += counts.duplicates;
        self.summary.skipped += counts.skipped;
        if breached {
            return Err(LoadError::TooManyRejects {
                file: log.display_name.clone(),
                rejected: counts.rejected,
                lines: ratio_base,
                percent: 100.0 * counts.rejected as f64 / ratio_base as f64,
                max_ratio: self.options.max_bad_ratio,
            });
        }
        Ok(())
    }

    fn accept(
        &mut self,
        event: &TrackingEvent,
        identity: &LineIdentity,
        counts: &mut FileCounts,
    ) -> Result<(), LoadError> {
        if !self.seen_lines.insert(identity.hash()) {
            counts.duplicates += 1;
            return Ok(());
        }
        if let Some(wanted) = &self.course_filter
            && let Some(course) = event_course(event)
            && &course != wanted
        {
            counts.skipped += 1;
            self.summary.other_course_events += 1;
            return Ok(());
        }
        counts.events += 1;
        self.progress.add(0, 0, 1);
        let outcome = self.relations.add_event(&mut self.rows, event, identity)?;
        // qpipe reads EdxTrackEvent: events json_to_relation writes no row for (repeated
        // heartbeats, pings) are not observed events either.
        if let Some(reason) = outcome.not_stored {
            *self
                .summary
                .events_not_stored
                .entry(reason.to_string())
                .or_default() += 1;
        }
        if outcome.track_event_rows > 0 {
            self.moocdb.add_event(&mut self.rows, event, &outcome)?;
        }
        Ok(())
    }

    fn store_rejects(&self, rejects: &mut RejectBuffer) -> Result<(), LoadError> {
        if let (Some(pool), Some(id)) = (&self.pool, rejects.file_id) {
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

    /// Parses and accepts one JSON record; the error is the reject reason.
    fn record(
        &mut self,
        json: &str,
        counts: &mut FileCounts,
    ) -> Result<Result<(), String>, LoadError> {
        match TrackingEvent::parse(json) {
            Err(e) => Ok(Err(e.0)),
            Ok(event) => {
                let identity = LineIdentity::new(json.as_bytes(), &event.time);
                self.accept(&event, &identity, counts)?;
                Ok(Ok(()))
            }
        }
    }

    /// The usual case: one record per line.
    fn load_lines(
        &mut self,
        log: &TrackingLog,
        counts: &mut FileCounts,
        rejects: &mut RejectBuffer,
    ) -> Result<(), LoadError> {
        let stored = Arc::new(AtomicU64::new(0));
        let mut reader = log.open_counted(self.options.max_line_bytes, stored.clone())?;
        let mut reported_stored = 0u64;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(LoadError::Interrupted);
            }
            let line = match reader.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    // A damaged gzip stream or a read error: the lines before it are loaded, the
                    // damage is recorded as a reject at the point it was found.
                    counts.lines += 1;
                    tracing::warn!(
                        "{}: line {}: {e}; the rest of the file is unreadable",
                        log.display_name,
                        counts.lines
                    );
                    let reject = Reject {
                        line_number: counts.lines,
                        byte_offset: reader.bytes_read(),
                        reason: format!(
                            "unreadable from here on ({e}); the lines before were loaded"
                        ),
                        raw_length: 0,
                        raw: Vec::new(),
                    };
                    self.reject(rejects, counts, reject)?;
                    break;
                }
            };
            counts.lines += 1;
            let outcome = match line.overlong {
                Some(len) => Err(format!(
                    "line of {len} bytes is over the {} byte limit",
                    self.options.max_line_bytes
                )),
                None => match decode(line.bytes) {
                    Decoded::Blank | Decoded::Comment => {
                        counts.skipped += 1;
                        Ok(())
                    }
                    Decoded::Reject(reason) => Err(reason),
                    Decoded::Json(json) => self.record(json, counts)?,
                },
            };
            if let Err(reason) = outcome {
                let reject = Reject {
                    line_number: line.number,
                    byte_offset: line.offset,
                    reason,
                    raw_length: line.overlong.unwrap_or(line.bytes.len() as u64),
                    raw: line.bytes[..line.bytes.len().min(REJECT_RAW_LIMIT)].to_vec(),
                };
                self.reject(rejects, counts, reject)?;
            }
            if counts.lines.is_multiple_of(4096) {
                let now = stored.load(Ordering::Relaxed);
                self.progress.add(now - reported_stored, 4096, 0);
                reported_stored = now;
            }
        }
        let now = stored.load(Ordering::Relaxed);
        self.progress
            .add(now - reported_stored, counts.lines % 4096, 0);
        counts.bytes = reader.bytes_read();
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
                    let reject = Reject {
                        line_number: e.line() as u64,
                        byte_offset: offset,
                        reason: format!("invalid JSON document: {e}"),
                        raw_length: document.len() as u64 - offset,
                        raw: document[offset as usize..]
                            [..(document.len() - offset as usize).min(REJECT_RAW_LIMIT)]
                            .to_vec(),
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
        self.progress.add(document.len() as u64, counts.lines, 0);
        Ok(())
    }
}

/// Rejected lines of one file waiting to be stored.
struct RejectBuffer {
    file_id: Option<i64>,
    file: String,
    pending: Vec<Reject>,
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

/// A course id in `Org/Course/Run` form (from `course-v1:Org+Course+Run` or `Org/Course/Run`).
pub fn normal_course_id(id: &str) -> String {
    let id = id.trim();
    if let Some(key) = id.strip_prefix("course-v1:") {
        return key.split('+').take(3).collect::<Vec<_>>().join("/");
    }
    if let Some(key) = id.strip_prefix("ccx-v1:") {
        return key.split('+').take(3).collect::<Vec<_>>().join("/");
    }
    id.trim_matches('/').to_string()
}

/// The course an event belongs to, in `Org/Course/Run` form, if it says.
pub fn event_course(event: &TrackingEvent) -> Option<String> {
    if let Some(c) = event.context_str("course_id").filter(|c| !c.is_empty()) {
        return Some(normal_course_id(&c));
    }
    org_course_run(&event.page).or_else(|| org_course_run(&event.event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_ids_normalise() {
        assert_eq!(
            normal_course_id("course-v1:DemoX+Loader201+2026_T1"),
            "DemoX/Loader201/2026_T1"
        );
        assert_eq!(
            normal_course_id("DemoX/Loader101/2013_Spring"),
            "DemoX/Loader101/2013_Spring"
        );
        assert_eq!(normal_course_id("ccx-v1:A+B+C+ccx@3"), "A/B/C");
    }
}
