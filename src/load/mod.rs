//! A whole load: the pipeline source → decode → parse → relations → moocdb → sink, wired up.
//!
//! The transform runs on one blocking thread and hands full batches to the asynchronous writers
//! through a bounded queue; the ledger records each file once all of its rows are stored.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use sqlx::mysql::MySqlPool;
use tokio::runtime::Handle;

use crate::decode::{Decoded, decode};
use crate::error::LoadError;
use crate::moocdb::{KnownEntries, course_key};
use crate::parse::TrackingEvent;
use crate::progress::Progress;
use crate::relations::GeoIp;
use crate::schema::Table;
use crate::sink::infile::InfilePool;
use crate::sink::{Connections, Encoding, InsertConnections, Method, Target, Writers};
use crate::source::{self, TrackingLog};
use crate::state::CarriedState;
use crate::store::{self, LoadLock, carried_state, known_entries, ledger, server, status};

pub mod course_databases;
mod pipeline;
mod seen_lines;
mod split;

use course_databases::CourseDatabases;

use pipeline::{Context, Transform};

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
    /// Which server holds which course databases, when the URL's host has `{course}`: lines of
    /// a pattern of course parts and a `host[:port]` (`course_databases`).
    pub course_hosts: Option<PathBuf>,
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
    /// Consecutive files are committed together until they hold this many bytes as stored
    /// (0: each file alone).
    pub commit_group_bytes: u64,
    /// Longer lines are rejected (their first bytes are kept).
    pub max_line_bytes: usize,
    /// Statements run at once.
    pub writers: usize,
    /// A MaxMind-format country database for `ip_country` (default: the embedded RIR table).
    pub geoip: Option<PathBuf>,
    /// Files (as named on the command line) whose rows are replaced when their content changed
    /// since they were loaded.
    pub reload: Vec<PathBuf>,
    /// Line hashes of this run held exactly before they move to a Bloom filter (and possible
    /// duplicates are checked against the database); lowered only by tests of that path.
    pub recent_lines: usize,
    /// Whether the reading stages (decompress, decode, parse) run on a thread of their own, as
    /// they do when the process may use more than one core. On one core the transform's thread
    /// reads its lines itself: a second thread there only adds the hand-off, and the events
    /// it parsed ahead are out of the cache by the time the transform reaches them.
    pub reading_thread: bool,
}

impl LoadOptions {
    /// Whether the load splits over course databases: `{course}` in the database name of a load
    /// that writes.
    pub fn splits(&self) -> bool {
        !self.dry_run && target_of(self).is_ok_and(|target| CourseDatabases::splits(&target))
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            paths: Vec::new(),
            database_url: None,
            private_database: None,
            no_pii: false,
            course_hosts: None,
            course_id: None,
            domain: None,
            method: MethodChoice::Auto,
            dry_run: false,
            max_bad_ratio: 0.5,
            max_duration: 3600,
            default_duration: 100,
            batch_bytes: 2 << 20,
            commit_group_bytes: 256 << 20,
            max_line_bytes: 32 << 20,
            writers: 4,
            geoip: None,
            recent_lines: 900_000,
            reload: Vec::new(),
            reading_thread: std::thread::available_parallelism().map_or(true, |n| n.get() > 1),
        }
    }
}

/// The status of the course database `url` names (`moocdb status`), or of every course
/// database of a split when its database name has the `{course}` placeholder.
pub async fn status(
    url: &str,
    private_database: Option<&str>,
    no_pii: bool,
    course_hosts: Option<&Path>,
) -> Result<StatusReport, LoadError> {
    let target = Target::parse(url, private_database)?;
    if let Some(databases) = CourseDatabases::of(&target, private_database, course_hosts)? {
        return Ok(StatusReport::Split(
            split::course_statuses(&databases).await?,
        ));
    }
    let pool = store::prepare(&target, !no_pii, 1).await?;
    let status = status::read(&pool, &target.database).await;
    pool.close().await;
    Ok(StatusReport::One(status?))
}

/// What `moocdb status` reports.
pub enum StatusReport {
    /// The course database the URL names.
    One(status::DatabaseStatus),
    /// Every course database of a split, by name.
    Split(Vec<status::DatabaseStatus>),
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
    /// Files loaded before that have grown since: only their new bytes were loaded.
    pub grown_files: u64,
    /// Files whose already-loaded part changed since: left alone (see `--reload`).
    pub changed_files: Vec<String>,
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
    /// The course database the rows went to (none in a dry run).
    #[serde(skip)]
    pub database: Option<String>,
    /// The private database the private rows went to (none in a dry run or with `no_pii`).
    #[serde(skip)]
    pub private_database: Option<String>,
    /// A split load's course databases, by course (`Org/Course/Run`; `""` for the events that
    /// name no course).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub courses: BTreeMap<String, CourseSummary>,
    /// A split load's course databases that it created (with their private ones, unless
    /// `no_pii`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_course_databases: Option<u64>,
    /// The seconds a split load took to create or migrate, and open, the course databases that
    /// its first lines name, while it read its first events: a fixed cost of a site's first
    /// load (about 35 `CREATE TABLE` per course; `BENCHMARKS.md`, "One database per course").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preparing_s: Option<f64>,
}

/// What a split load did in one course database.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CourseSummary {
    /// The course database.
    pub database: String,
    /// Events accepted for the course.
    pub events: u64,
    /// Rows written, per table.
    pub rows: BTreeMap<String, u64>,
}

/// Runs a load. `stop` is checked between lines (Ctrl-C).
pub async fn run(
    options: LoadOptions,
    progress: Progress,
    stop: Arc<AtomicBool>,
) -> Result<LoadSummary, LoadError> {
    let logs = source::discover(&options.paths)?;
    run_logs(options, logs, progress, stop).await
}

/// Runs a dry-run load (`moocdb load --dry-run`) of `bytes` held in memory, read exactly as the
/// content of one file: plain or gzip, JSON lines or a pretty-printed JSON document, through the
/// same decode → parse → relations → moocdb path into row buffers that are then dropped. The
/// `paths`, `database_url` and `dry_run` of `options` are ignored. This is the seam the fuzz
/// targets in `fuzz/` drive the loader through, without a database or a file.
pub async fn dry_run_bytes(bytes: &[u8], options: LoadOptions) -> Result<LoadSummary, LoadError> {
    let log = TrackingLog {
        origin: source::Origin::Memory(Arc::from(bytes)),
        display_name: "(memory)".into(),
        size: bytes.len() as u64,
        live: false,
    };
    let options = LoadOptions {
        paths: Vec::new(),
        database_url: None,
        dry_run: true,
        ..options
    };
    let progress = Progress::new(crate::progress::ProgressMode::Quiet);
    run_logs(options, vec![log], progress, Arc::default()).await
}

async fn run_logs(
    options: LoadOptions,
    logs: Vec<TrackingLog>,
    progress: Progress,
    stop: Arc<AtomicBool>,
) -> Result<LoadSummary, LoadError> {
    let started = Instant::now();
    let geoip = match &options.geoip {
        Some(path) => Some(GeoIp::open(path)?),
        None => None,
    };
    progress.set_total(logs.iter().map(|l| l.size).sum());

    let mut summary = LoadSummary::default();
    let mut options = options;
    let mut lock = None;
    let mut private_database = String::new();
    let (pool, writers, method, known, carried, max_statement) = if options.dry_run {
        let carried = CarriedState::default();
        (None, None, None, KnownEntries::default(), carried, 1 << 20)
    } else {
        let target = target_of(&options)?;
        let course_hosts = options.course_hosts.as_deref();
        if let Some(databases) =
            CourseDatabases::of(&target, options.private_database.as_deref(), course_hosts)?
        {
            return split::run(options, logs, databases, geoip, progress, stop, started).await;
        }
        private_database = target.private_database.clone();
        summary.database = Some(target.database.clone());
        summary.private_database = (!options.no_pii).then(|| target.private_database.clone());
        let connections = bookkeeping_connections(&options);
        let opened = open_database(&target, &options, connections, &mut lock, None)
            .await?
            .expect("a database opened without a claim");
        let sending = start_writers(&options, &target, &opened.pool).await?;
        summary.advice = sending.advice;
        (
            Some(opened.pool),
            Some((sending.writers, sending.batch_bytes)),
            Some(sending.method),
            opened.known,
            opened.carried,
            sending.max_statement,
        )
    };
    // The domain: as given, else as earlier loads learned it, else from the log.
    if options.domain.is_none() {
        options.domain = carried
            .domain
            .clone()
            .or_else(|| discover_domain(&logs, options.max_line_bytes));
    }
    summary.method = method.map(Method::name).unwrap_or("none").to_string();

    // A dry run encodes as the default method does, so that it measures the same work.
    let encoding = encoding_of(method);
    let (writer_handle, batch_bytes) = match writers {
        Some((w, b)) => (Some(w), b),
        None => (None, options.batch_bytes),
    };
    let sender = writer_handle.as_ref().map(Writers::sender);
    let handle = Handle::current();
    let transform_options = options.clone();
    let transform_progress = progress.clone();
    let transform_pool = pool.clone();
    let transform_database = summary.database.clone().unwrap_or_default();
    let transform = tokio::task::spawn_blocking(move || {
        let mut transform = Transform::new(
            transform_options,
            Context {
                pool: transform_pool,
                sender,
                handle,
                encoding,
                batch_bytes,
                max_statement,
                progress: transform_progress,
                stop,
                database: transform_database,
                private_database,
                destination: 0,
            },
            known,
            carried,
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
    let rows = written.as_ref().map(rows_by_name);
    if let Some(pool) = &pool {
        status::refresh_statistics(pool, rows.as_ref().unwrap_or(&transformed.rows)).await;
        if let Some(lock) = lock {
            store::unlock(lock).await;
        }
        pool.close().await;
    }
    progress.finish();
    let mut summary = LoadSummary {
        method: summary.method,
        advice: summary.advice,
        database: summary.database,
        private_database: summary.private_database,
        ..transformed
    };
    if let Some(rows) = rows {
        summary.rows = rows;
    }
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The database URL of a load that writes to a database.
fn target_of(options: &LoadOptions) -> Result<Target, LoadError> {
    let url = options
        .database_url
        .as_deref()
        .ok_or_else(|| LoadError::BadUrl {
            url: String::new(),
            reason: "no database URL: give --database-url or set DATABASE_URL (or use --dry-run)"
                .into(),
        })?;
    Target::parse(url, options.private_database.as_deref())
}

/// How rows are encoded for `method`: a dry run (`None`) encodes as the default method does, so
/// that it measures the same work.
fn encoding_of(method: Option<Method>) -> Encoding {
    match method {
        Some(Method::Infile) | None => Encoding::Tsv,
        Some(Method::Insert) => Encoding::Params,
    }
}

/// Rows written per table, by the table's name, for the summary.
fn rows_by_name(written: &crate::sink::WrittenRows) -> BTreeMap<String, u64> {
    Table::ALL
        .iter()
        .filter(|t| **t != Table::Lines)
        .filter_map(|t| written.get(t).map(|n| (t.name().to_string(), *n)))
        .collect()
}

/// A course database opened for loading: created and migrated, its loader lock held, what an
/// interrupted load left behind cleaned up, and what earlier loads left read.
struct OpenedDatabase {
    pool: MySqlPool,
    known: KnownEntries,
    carried: CarriedState,
}

/// Opens `target`'s course database for loading, its lock taken on `lock`'s connection (the
/// first lock of a load opens it).
///
/// In a split load, `course` claims the database for a course (`""` for the events that name
/// no course): `None` when another course holds it. `connections` is the pool's size.
async fn open_database(
    target: &Target,
    options: &LoadOptions,
    connections: u32,
    lock: &mut Option<LoadLock>,
    course: Option<&str>,
) -> Result<Option<OpenedDatabase>, LoadError> {
    let prepared = store::prepare_course_database(target, !options.no_pii, connections).await?;
    take_lock(&prepared.pool, target, lock).await?;
    let private = (!options.no_pii).then_some(target.private_database.as_str());
    open_locked(target, private, prepared, course).await
}

/// Takes `target`'s loader lock on `lock`'s connection, which the first lock of a load opens on
/// `pool`.
async fn take_lock(
    pool: &MySqlPool,
    target: &Target,
    lock: &mut Option<LoadLock>,
) -> Result<(), LoadError> {
    match lock {
        Some(lock) => lock.also(&target.database).await,
        None => {
            *lock = Some(store::lock(pool, &target.database).await?);
            Ok(())
        }
    }
}

/// Opens the course database `target`, its loader lock held, on `prepared`'s pool: claimed for
/// `course` in a split (`None` when another course holds it), what an interrupted load left
/// cleaned up, rejected lines' bytes and IP state an earlier version kept there moved to
/// `private_database`, and what earlier loads left read.
///
/// A database this load created (and its private one), whose ledger is still empty now that the
/// lock is held, holds only what the migrations wrote: nothing to clean up or move, and nothing
/// to read back but what [`known_entries::of_a_new_database`] and [`CarriedState::default`] say.
/// That spares about 34 commands per database, prepared and run (`BENCHMARKS.md`, "One database
/// per course"). Every load records a file in the ledger before it writes a row, so
/// the check also covers another loader that got the lock first.
async fn open_locked(
    target: &Target,
    private_database: Option<&str>,
    prepared: store::PreparedDatabase,
    course: Option<&str>,
) -> Result<Option<OpenedDatabase>, LoadError> {
    let pool = prepared.pool;
    if let Some(course) = course
        && !carried_state::claim_course(&pool, course).await?
    {
        pool.close().await;
        return Ok(None);
    }
    if prepared.all_created && !ledger::any_file_recorded(&pool).await? {
        return Ok(Some(OpenedDatabase {
            pool,
            known: known_entries::of_a_new_database(),
            carried: CarriedState::default(),
        }));
    }
    if let Some(private) = private_database {
        ledger::move_rejected_lines(&pool, private).await?;
        carried_state::move_ip_state(&pool, private).await?;
    }
    for path in ledger::recover(&pool, private_database).await? {
        tracing::warn!(
            "{path}: an earlier load of this file into `{}` did not finish; what it wrote was cleaned up and the file will be loaded again",
            target.database
        );
    }
    let known = known_entries::read(&pool).await?;
    if known.urls_numbered_on_their_own {
        tracing::warn!(
            "`{}` was loaded by a version that numbered `urls` on their own: it keeps that \
             numbering, so the MOOCdb feature SQL of MIT and EDUlib finds no time on lectures, \
             books and wikis in it; load the logs into a new database to have it \
             (docs/schema.md, urls)",
            target.database
        );
    }
    let carried = carried_state::read(&pool, private_database).await?;
    Ok(Some(OpenedDatabase {
        pool,
        known,
        carried,
    }))
}

/// The writers of a load, started as the server allows.
struct Sending {
    writers: Writers,
    method: Method,
    /// Target size of one statement's rows.
    batch_bytes: usize,
    /// The largest statement the server accepts (minus a margin).
    max_statement: usize,
    /// Server settings that would make loading faster.
    advice: Vec<String>,
}

/// Starts the writers for `target` (on which `pool` is open): the method the server allows, and
/// batches its packets can take.
async fn start_writers(
    options: &LoadOptions,
    target: &Target,
    pool: &MySqlPool,
) -> Result<Sending, LoadError> {
    let packet = server::max_allowed_packet(pool).await?;
    let advice = server::advice(pool).await;
    let (method, connections) = choose_method(options, target, pool).await?;
    let max_statement = packet.saturating_sub(64 * 1024).max(16 * 1024) as usize;
    let batch_bytes = match method {
        Method::Infile => options.batch_bytes,
        // A prepared INSERT's values must fit in one packet, beside the two bytes of type
        // each of its parameters takes there (the batch's encoding has more bytes per value
        // than the packet, but not the types).
        Method::Insert => (options.batch_bytes)
            .min(max_statement.saturating_sub(2 * crate::sink::PARAMETERS_PER_STATEMENT))
            .max(16 * 1024),
    };
    let writers = Writers::start(
        connections,
        target.database.clone(),
        target.private_database.clone(),
        options.writers,
        // The transform outpaces the server: a queue as long as the statements running keeps
        // every writer busy; a longer one only holds more batches in memory.
        options.writers,
    );
    Ok(Sending {
        writers,
        method,
        batch_bytes,
        max_statement,
        advice,
    })
}

/// Hands `visit` the events of the first lines of the logs (standard input aside), until it
/// breaks or `lines` lines are read.
fn visit_first_events(
    logs: &[TrackingLog],
    max_line_bytes: usize,
    lines: u32,
    mut visit: impl FnMut(TrackingEvent) -> ControlFlow<()>,
) {
    let mut budget = lines;
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
                return;
            }
            let Decoded::Json(json) = decode(line.bytes) else {
                continue;
            };
            if let Ok(event) = TrackingEvent::parse(json)
                && visit(event).is_break()
            {
                return;
            }
        }
    }
}

/// The courses the first lines of the logs name (reading stops after `lines` lines), in the
/// order they first come, each with its events there: a split load prepares their databases
/// while it reads its first events, the busiest first.
fn first_courses(logs: &[TrackingLog], max_line_bytes: usize, lines: u32) -> Vec<(String, u32)> {
    let mut courses: Vec<(String, u32)> = Vec::new();
    let mut place = std::collections::HashMap::new();
    visit_first_events(logs, max_line_bytes, lines, |event| {
        if let Some(course) = event_course(&event) {
            let i = *place.entry(course.clone()).or_insert_with(|| {
                courses.push((course, 0));
                courses.len() - 1
            });
            courses[i].1 += 1;
        }
        ControlFlow::Continue(())
    });
    courses
}

/// qpipe's DOMAIN when none is given: the scheme and host of the first page of the LMS that is
/// in a course (`…/courses/…`, or `…/xblock/…`, the frame in which the Learning MFE shows a
/// unit) among the page and referer URLs of the first lines of the logs, else of the first
/// absolute URL (reading stops after 20,000 lines). A site's log also holds Studio's pages,
/// often first (staff build the course before learners come), and the Learning MFE's, each
/// under a host of its own.
fn discover_domain(logs: &[TrackingLog], max_line_bytes: usize) -> Option<String> {
    let mut first = None;
    let mut course_page = None;
    visit_first_events(logs, max_line_bytes, 20_000, |event| {
        for url in [event.page(), event.referer()] {
            if let Some(d) = crate::moocdb::course_url::domain_of(url) {
                if url.contains("/courses/") || url.contains("/xblock/") {
                    course_page = Some(d);
                    return ControlFlow::Break(());
                }
                first.get_or_insert(d);
            }
        }
        ControlFlow::Continue(())
    });
    course_page.or(first)
}

async fn choose_method(
    options: &LoadOptions,
    target: &Target,
    pool: &MySqlPool,
) -> Result<(Method, Connections), LoadError> {
    // One connection per table, where the server has room: the infile method streams each
    // table's rows as one statement, the insert method each empty table's as one transaction.
    let room = server::connection_room(pool).await;
    // The bookkeeping pool may still open connections up to its size; and one for anyone else.
    let growth = bookkeeping_connections(options).saturating_sub(pool.size());
    let streams = table_streams(room, u64::from(growth) + 1);
    let insert = Connections::Insert(InsertConnections {
        pool: pool.clone(),
        streams,
    });
    if options.method == MethodChoice::Insert {
        return Ok((Method::Insert, insert));
    }
    if streams < Table::ALL.len() {
        tracing::warn!(
            "the server accepts only {} more connection(s) from this account (max_connections, \
             max_user_connections); LOAD DATA keeps {streams} table(s) streaming at once instead \
             of one per table ({}), which is slower. Raise the limit for the fastest loads",
            room.unwrap_or_default(),
            Table::ALL.len()
        );
    }
    let infile = InfilePool::new(target, streams)?;
    match infile.probe().await {
        Ok(()) => Ok((Method::Infile, Connections::Infile(infile))),
        Err(LoadError::InfileRefused { message }) if options.method == MethodChoice::Auto => {
            tracing::warn!(
                "the server refuses LOAD DATA LOCAL INFILE ({message}); loading with multi-row INSERT instead (slower; set local_infile=1 on the server to use the fast path)"
            );
            infile.close().await;
            Ok((Method::Insert, insert))
        }
        Err(e) => {
            infile.close().await;
            Err(e)
        }
    }
}

/// The size of the sqlx pool: the `INSERT` writers, and the bookkeeping beside them (the lock,
/// the ledger, line look-ups).
fn bookkeeping_connections(options: &LoadOptions) -> u32 {
    options.writers as u32 + 3
}

/// How many tables may have a connection of their own at once (a `LOAD DATA` statement, or a
/// transaction into an empty table), from the connections the server has `room` for: one per table when there is room, else what is left after `reserved`
/// connections, at least one.
fn table_streams(room: Option<u64>, reserved: u64) -> usize {
    let tables = Table::ALL.len();
    match room {
        None => tables,
        Some(room) => usize::try_from(room.saturating_sub(reserved))
            .unwrap_or(tables)
            .clamp(1, tables),
    }
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

/// The course an event belongs to, in `Org/Course/Run` form (a CCX's events belong to its master
/// course), if it says: the first of its context's `course_id`, its page and its event type that
/// names a course ([`course_key::course_sources`], the rule the MOOCdb stage also follows).
pub fn event_course(event: &TrackingEvent) -> Option<String> {
    let context = event.context_str("course_id");
    course_key::course_sources(context.as_deref(), event.page(), event.event_type())
        .into_iter()
        .find_map(course_key::course_key_in)
        .map(|key| normal_course_id(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_streams_fit_in_the_connections_the_server_has_room_for() {
        let tables = Table::ALL.len();
        // Unknown limits, or room to spare: one statement per table.
        assert_eq!(table_streams(None, 8), tables);
        assert_eq!(table_streams(Some(140), 8), tables);
        assert_eq!(table_streams(Some(tables as u64 + 8), 8), tables);
        // Less room: what is left after the reserve.
        assert_eq!(table_streams(Some(tables as u64 + 7), 8), tables - 1);
        assert_eq!(table_streams(Some(12), 8), 4);
        // No room: still one, and the server's own error says why if even that fails.
        assert_eq!(table_streams(Some(8), 8), 1);
        assert_eq!(table_streams(Some(0), 8), 1);
    }

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

    #[test]
    fn an_event_on_a_units_frame_is_in_the_units_course() {
        let course = |page: &str| {
            let line = format!(
                r#"{{"username":"u","event_type":"play_video","event_source":"browser","time":"2024-03-01T10:00:00Z","page":"{page}","event":"{{}}"}}"#
            );
            event_course(&TrackingEvent::parse(&line).expect("a test event"))
        };
        let frame =
            "https://lms.x.org/xblock/block-v1:O+C+R+type@vertical+block@u1?view=student_view";
        assert_eq!(course(frame).as_deref(), Some("O/C/R"));
        assert_eq!(
            course("/xblock/ccx-block-v1:O+C+R+ccx@3+type@vertical+block@u1").as_deref(),
            Some("O/C/R"),
            "a CCX's events go to its master course's database"
        );
        assert_eq!(
            course("https://apps.x.org/learning/course/course-v1:O+C+R/home").as_deref(),
            Some("O/C/R")
        );
        assert_eq!(
            course("https://studio.x.org/container/block-v1:O+C+R+type@vertical+block@u1")
                .as_deref(),
            Some("O/C/R"),
            "Studio's page of a course's block is in the course, as its outline is"
        );
        assert_eq!(
            course("https://studio.x.org/course/course-v1:O+C+R").as_deref(),
            Some("O/C/R")
        );
        assert_eq!(
            course("https://lms.x.org/api/courses/v1/blocks/?course_id=course-v1%3AO%2BC%2BR"),
            None,
            "an API path is not a course's page"
        );
        assert_eq!(
            course("https://lms.x.org/courses/O/C/R?next=x").as_deref(),
            Some("O/C/R"),
            "a query is not part of the run"
        );
        assert_eq!(
            course("/xblock/lib-block-v1:O+L+type@problem+block@p1"),
            None,
            "a library is in no course"
        );
        assert_eq!(course("https://lms.x.org/dashboard"), None);
    }
}
