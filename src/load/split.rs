//! A split load (`{course}` in the database name): one pass over the logs, each course's events
//! into a course database of its own, named as [`super::course_databases`] says, each with its
//! own ledger. One set of writers on each server serves every course database there: their
//! statements name the database, and the table streams open at once stay within the connections
//! the server allows whatever the number of courses. With `{course}` in the host too, the course
//! databases are spread over several servers; each server's writers and loader lock start with
//! the first course database on it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use sqlx::mysql::MySqlPool;
use tokio::runtime::Handle;
use tokio::sync::Mutex;

use super::course_databases::CourseDatabases;
use super::pipeline::{Context, CourseReady, OpenLane, SplitTransform, Transform};
use super::{
    CourseSummary, LoadOptions, LoadSummary, OpenedDatabase, Sending, discover_domain, encoding_of,
    open_database, open_locked, rows_by_name, start_writers, take_lock,
};
use crate::error::LoadError;
use crate::progress::Progress;
use crate::relations::GeoIp;
use crate::sink::{Encoding, Target, WriterSender};
use crate::source::TrackingLog;
use crate::store::{self, LoadLock, PreparedDatabase, status};

/// Connections of a course database's own pool: its bookkeeping runs one statement at a time on
/// the transform's thread.
const COURSE_CONNECTIONS: u32 = 1;

/// Course databases created and migrated (and at the end analyzed) at once. The server runs its
/// `CREATE TABLE`s one at a time, each waiting on about ten disk syncs: the 101 databases of 100
/// courses and their private ones, as `mysql` scripts, took 5.95 s one after the other, 3.93 s two
/// at a time and 3.70 s eight at a time (`BENCHMARKS.md`, "One database per course").
const PREPARED_AT_ONCE: usize = 8;

/// Lines read at the start of the logs to find the courses whose databases are prepared while
/// the load reads its first events; a course first seen later has its database prepared then.
const COURSE_SCAN_LINES: u32 = 50_000;

/// The course databases being prepared while the transform reads the first events: the courses
/// whose databases are not ready yet, whether the preparation still runs, and its error.
#[derive(Default)]
struct Preparation {
    state: std::sync::Mutex<PreparationState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct PreparationState {
    /// Courses whose databases are still being created, migrated or opened.
    preparing: HashSet<String>,
    /// The first error, for the transform to return.
    failed: Option<LoadError>,
    /// The seconds the preparation took, once it is done (`None` while it runs).
    took_s: Option<f64>,
}

impl Preparation {
    fn state(&self) -> std::sync::MutexGuard<'_, PreparationState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `course`'s database may be opened: it is not being prepared (ready, or never
    /// among those prepared ahead). With `wait`, waits until it may. The preparation's error, if
    /// it failed.
    fn ready(&self, course: &str, wait: bool) -> Result<bool, LoadError> {
        let mut state = self.state();
        loop {
            if let Some(e) = state.failed.take() {
                return Err(e);
            }
            if !state.preparing.contains(course) {
                return Ok(true);
            }
            if !wait {
                return Ok(false);
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until no database is being prepared: a course outside those prepared ahead may
    /// share a database name with one of them.
    fn settle(&self) -> Result<(), LoadError> {
        let mut state = self.state();
        while state.took_s.is_none() && state.failed.is_none() {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        match state.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn update(&self, change: impl FnOnce(&mut PreparationState)) {
        change(&mut self.state());
        self.changed.notify_all();
    }
}

/// Creates or migrates `course`'s database `target` and opens it, unless it holds loaded files.
async fn prepare_and_open(
    lanes: &Lanes,
    options: &LoadOptions,
    target: Target,
    course: String,
) -> (String, String, Result<Option<OpenedDatabase>, LoadError>) {
    let opened = async {
        let prepared = lanes.prepare(&target, options).await?;
        if !prepared.created && store::ledger::any_file_recorded(&prepared.pool).await? {
            prepared.pool.close().await;
            return Ok(None);
        }
        lanes.open_on(&target, &course, prepared).await
    }
    .await;
    (course, target.database, opened)
}

/// Starts creating and migrating the databases of the courses the first lines of the logs name,
/// the busiest first, several at a time, while the transform reads the first events (those of a
/// course whose database is not ready wait, parsed, up to a bound; `pipeline::split`). Each
/// database that holds no loaded file yet is also opened (locked, claimed, cleaned up, its
/// state read) for its course's first event: that saves migrating each a second time, and
/// opening each on the transform's thread one after the other (0.8 s for 100 courses). A
/// database that holds loaded files (a later run, whose first lines may be in files already
/// loaded) is left to be opened when its course's first event comes: its course may get no
/// event in this run, and its pool would hold a connection idle for the whole load.
///
/// The preparation overlaps the reading because it waits on the server's disk syncs rather than
/// on either side's CPU: 100 courses' databases (3,535 `CREATE TABLE`) took 5.07 s of a 17.7 s
/// load of 300,000 events before the first event was read, with the loader idle.
fn start_preparing(
    lanes: &Lanes,
    databases: &CourseDatabases,
    options: &LoadOptions,
    logs: &[TrackingLog],
) -> Result<(Arc<Preparation>, tokio::task::JoinHandle<()>), LoadError> {
    let courses = super::first_courses(logs, options.max_line_bytes, COURSE_SCAN_LINES);
    // Two courses may share a plain name (the second gets the hashed one when it is opened):
    // each database is prepared once, for the first of them to come.
    let mut names = HashSet::new();
    let mut targets = Vec::new();
    for (course, events) in courses {
        let target = databases.target(Some(&course), false)?;
        if names.insert(target.database.clone()) {
            targets.push((events, course, target));
        }
    }
    // The busiest first; a stable sort keeps the order they came in among equals.
    targets.sort_by_key(|(events, _, _)| std::cmp::Reverse(*events));
    let targets: Vec<(String, Target)> = (targets.into_iter())
        .map(|(_, course, target)| (course, target))
        .collect();
    let preparation = Arc::new(Preparation::default());
    preparation.update(|state| {
        state.preparing = targets.iter().map(|(course, _)| course.clone()).collect();
    });
    let (lanes, options, shared) = (lanes.clone(), options.clone(), preparation.clone());
    // On a thread of its own that runs the futures, which the compiler cannot prove `Send` for
    // a spawned task.
    let handle = lanes.handle.clone();
    let task = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle.block_on(prepare_all(lanes, options, targets, &shared));
        }));
        // Done, however it ended: a transform waiting for a database must not wait for ever.
        let took_s = started.elapsed().as_secs_f64();
        shared.update(|state| {
            if prepared.is_err() {
                state.failed.get_or_insert(LoadError::Write {
                    table: "(course databases)".into(),
                    message: "preparing the course databases stopped on an internal error; \
                              run the same command again"
                        .into(),
                });
            }
            state.preparing.clear();
            state.took_s = Some(took_s);
        });
    });
    Ok((preparation, task))
}

/// Prepares `targets`' databases, [`PREPARED_AT_ONCE`] at a time, keeping `shared` up to date
/// until one fails. The databases still being prepared then are left as they are: the load
/// fails, and the next run prepares them again.
async fn prepare_all(
    lanes: Lanes,
    options: LoadOptions,
    targets: Vec<(String, Target)>,
    shared: &Preparation,
) {
    use futures_util::StreamExt;
    let mut preparing = futures_util::stream::iter(targets)
        .map(|(course, target)| prepare_and_open(&lanes, &options, target, course))
        .buffer_unordered(PREPARED_AT_ONCE);
    while let Some((course, database, opened)) = preparing.next().await {
        match opened {
            Ok(opened) => {
                if let Some(opened) = opened
                    && let Ok(mut prepared) = lanes.prepared.lock()
                {
                    let course = course.clone();
                    prepared.insert(database, PreparedCourse { course, opened });
                }
                shared.update(|state| {
                    state.preparing.remove(&course);
                });
            }
            Err(e) => {
                shared.update(|state| {
                    state.failed.get_or_insert(e);
                });
                break;
            }
        }
    }
}

/// Runs a split load.
pub(super) async fn run(
    mut options: LoadOptions,
    logs: Vec<TrackingLog>,
    databases: CourseDatabases,
    geoip: Option<GeoIp>,
    progress: Progress,
    stop: Arc<AtomicBool>,
    started: Instant,
) -> Result<LoadSummary, LoadError> {
    if options.course_id.is_some() {
        return Err(LoadError::BadUrl {
            url: String::new(),
            reason: "--course-id keeps one course's events, and {course} in the database name \
                     gives each course a database of its own: give one or the other"
                .into(),
        });
    }
    let geoip = geoip.unwrap_or(GeoIp::Embedded);
    let mut lock: Option<LoadLock> = None;
    let no_course = databases.target(None, false)?;
    let connections = super::bookkeeping_connections(&options);
    let Some(opened) =
        open_database(&no_course, &options, connections, &mut lock, Some("")).await?
    else {
        return Err(LoadError::BadUrl {
            url: no_course.redacted(),
            reason: format!(
                "the database `{}` holds a course's events, not those that name no course: \
                 choose another database name",
                no_course.database
            ),
        });
    };
    let sending = start_writers(&options, &no_course, &opened.pool).await?;
    let (method, advice) = (sending.method, sending.advice.clone());
    // The domain: as given, else as earlier loads learned it, else from the log.
    let given_domain = options.domain.clone();
    if options.domain.is_none() {
        options.domain = (opened.carried.domain.clone())
            .or_else(|| discover_domain(&logs, options.max_line_bytes));
    }
    let handle = Handle::current();
    let no_course_feed = Feed::of(&sending);
    let lanes = Lanes {
        handle: handle.clone(),
        stop: stop.clone(),
        geoip,
        with_private: !options.no_pii,
        prepared: Arc::default(),
        created: Arc::default(),
        servers: Arc::new(Mutex::new(vec![Server {
            host: no_course.host(),
            port: no_course.port(),
            lock,
            writers: Some((sending, no_course_feed.clone())),
        }])),
    };
    let (preparation, preparing) = start_preparing(&lanes, &databases, &options, &logs)?;
    let (prepared, created) = (lanes.prepared.clone(), lanes.created.clone());
    let registry = opened.pool.clone();
    let open_lane: OpenLane = {
        let (options, handle, lanes) = (options.clone(), handle, lanes.clone());
        let preparation = preparation.clone();
        let course_progress = progress.for_course_database();
        Box::new(move |course: &str| {
            let mut hashed = false;
            let (target, opened) = loop {
                let target = databases.target(Some(course), hashed)?;
                if !lanes.is_prepared(&target.database) {
                    // Not opened ahead: it may be a database still being prepared, under
                    // another course that shares its name.
                    preparation.settle()?;
                }
                let opened = handle.block_on(lanes.open(&options, &target, course))?;
                match opened {
                    Some(opened) => break (target, opened),
                    None if !hashed => hashed = true,
                    None => {
                        return Err(LoadError::BadUrl {
                            url: target.redacted(),
                            reason: format!(
                                "the databases `{}` and the one with a hash of its name both hold \
                                 another course than {course}; give another database name",
                                target.database
                            ),
                        });
                    }
                }
            };
            if hashed {
                tracing::info!(
                    "course {course}: its database's plain name is another course's; it is `{}`",
                    target.database
                );
            }
            let (server, feed, started) = handle.block_on(async {
                let recorded = store::course_databases::CourseDatabase {
                    course: course.to_string(),
                    database: target.database.clone(),
                    host: target.host(),
                    port: target.port(),
                };
                store::course_databases::record(&registry, &recorded).await?;
                lanes.feed(&options, &target, &opened.pool).await
            })?;
            // The writers number their databases: 0 is the one they started with.
            let destination = match started {
                true => 0,
                false => (feed.sender)
                    .add_destination(target.database.clone(), target.private_database.clone())?,
            };
            let domain = (given_domain.clone())
                .or_else(|| opened.carried.domain.clone())
                .or_else(|| options.domain.clone());
            let transform = lanes.transform(
                LoadOptions {
                    domain,
                    ..options.clone()
                },
                opened,
                (target.database.clone(), target.private_database),
                (&feed, destination),
                course_progress.clone(),
            );
            Ok((target.database, server, transform))
        })
    };
    let servers = lanes.servers.clone();

    let transform_progress = progress.clone();
    let no_course_database = no_course.database.clone();
    let no_course_private = no_course.private_database.clone();
    let ready: CourseReady = {
        let preparation = preparation.clone();
        Box::new(move |course: &str, wait: bool| preparation.ready(course, wait))
    };
    let transform = tokio::task::spawn_blocking(move || {
        let no_course_transform = lanes.transform(
            options.clone(),
            opened,
            (no_course_database.clone(), no_course_private),
            (&no_course_feed, 0),
            transform_progress.clone(),
        );
        drop((lanes, no_course_feed));
        let mut split = SplitTransform::new(
            options,
            transform_progress,
            stop,
            (no_course_database, no_course_transform),
            open_lane,
            ready,
        );
        let result = split.run_all(&logs);
        let lanes: Vec<LaneDone> = (split.lanes.into_iter())
            .map(|lane| LaneDone {
                server: lane.server,
                destination: lane.transform.destination(),
                pool: lane.transform.pool().cloned(),
                summary: lane.transform.summary,
                course: lane.course,
                database: lane.database,
            })
            .collect();
        (lanes, result)
    });
    let (lanes, result) = transform.await.map_err(|e| LoadError::Write {
        table: "(transform)".into(),
        message: e.to_string(),
    })?;
    // Databases prepared for courses that got no event in this run are done with too.
    let _ = preparing.await;
    let (preparing_s, preparation_failed) = {
        let mut state = preparation.state();
        (state.took_s.unwrap_or_default(), state.failed.take())
    };
    // Every writer set's senders are gone with the transforms: each finishes its statements.
    let servers = std::mem::take(&mut *servers.lock().await);
    let mut written = Vec::with_capacity(servers.len());
    let mut write_error = None;
    let mut locks = Vec::with_capacity(servers.len());
    for Server { writers, lock, .. } in servers {
        locks.extend(lock);
        let Some((sending, feed)) = writers else {
            written.push(Vec::new());
            continue;
        };
        drop(feed);
        match sending.writers.finish_per_destination().await {
            Ok(w) => written.push(w),
            Err(e) => {
                write_error.get_or_insert(e);
                written.push(Vec::new());
            }
        }
    }
    // A writer error explains a "writers stopped" transform error: report the writer's.
    match (result, write_error, preparation_failed) {
        (_, Some(e), _) | (Err(e), None, _) | (Ok(()), None, Some(e)) => return Err(e),
        (Ok(()), None, None) => {}
    }
    let mut summary = LoadSummary {
        method: method.name().to_string(),
        advice,
        created_course_databases: Some(created.load(Ordering::Relaxed)),
        preparing_s: Some(preparing_s),
        ..LoadSummary::default()
    };
    // The course databases whose statistics are refreshed, several at a time at the end.
    let mut refreshed = Vec::with_capacity(lanes.len());
    for (i, lane) in lanes.into_iter().enumerate() {
        let rows = (written.get(lane.server))
            .and_then(|server| server.get(lane.destination))
            .map(rows_by_name)
            .unwrap_or_default();
        if let Some(pool) = lane.pool {
            refreshed.push((pool, rows.clone()));
        }
        let lane_summary = lane.summary;
        if i == 0 {
            summary.files = lane_summary.files;
            summary.skipped_files = lane_summary.skipped_files;
            summary.grown_files = lane_summary.grown_files;
            summary.domain = lane_summary.domain.clone();
            summary.database = Some(lane.database.clone());
        }
        summary.lines += lane_summary.lines;
        summary.events += lane_summary.events;
        summary.rejected += lane_summary.rejected;
        summary.duplicates += lane_summary.duplicates;
        summary.skipped += lane_summary.skipped;
        for file in lane_summary.changed_files {
            if !summary.changed_files.contains(&file) {
                summary.changed_files.push(file);
            }
        }
        for (reason, n) in lane_summary.events_not_stored {
            *summary.events_not_stored.entry(reason).or_default() += n;
        }
        for (table, n) in &rows {
            *summary.rows.entry(table.clone()).or_default() += n;
        }
        summary.courses.insert(
            lane.course.unwrap_or_default(),
            CourseSummary {
                database: lane.database,
                events: lane_summary.events,
                rows,
            },
        );
    }
    {
        use futures_util::StreamExt;
        futures_util::stream::iter(refreshed)
            .for_each_concurrent(PREPARED_AT_ONCE, |(pool, rows)| async move {
                status::refresh_statistics(&pool, &rows).await;
                pool.close().await;
            })
            .await;
    }
    // The new databases of courses that got no event (their lines were all in files the
    // no-course database had loaded).
    let unopened: Vec<MySqlPool> = (prepared.lock().ok())
        .map(|mut prepared| (prepared.drain()).map(|(_, p)| p.opened.pool).collect())
        .unwrap_or_default();
    for pool in unopened {
        pool.close().await;
    }
    for lock in locks {
        store::unlock(lock).await;
    }
    progress.finish();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What the transforms of a split's course databases share: the load's settings and the writers
/// of each server.
#[derive(Clone)]
struct Lanes {
    handle: Handle,
    stop: Arc<AtomicBool>,
    geoip: GeoIp,
    /// Whether the course databases have private ones (not `--no-pii`).
    with_private: bool,
    /// Every server the split writes to, the no-course database's first.
    servers: Arc<Mutex<Vec<Server>>>,
    /// The course databases opened before the load, by name, until their course's first event.
    prepared: Arc<std::sync::Mutex<HashMap<String, PreparedCourse>>>,
    /// The course databases this load created.
    created: Arc<AtomicU64>,
}

/// One server of a split: its loader lock connection (a course database is locked on its own
/// server) and its writers, each started with the first course database opened there.
struct Server {
    host: String,
    port: u16,
    lock: Option<LoadLock>,
    writers: Option<(Sending, Feed)>,
}

/// The place of `target`'s server among `servers`, added when it is the first database there.
fn server_of(servers: &mut Vec<Server>, target: &Target) -> usize {
    let (host, port) = (target.host(), target.port());
    match (servers.iter()).position(|s| s.host == host && s.port == port) {
        Some(i) => i,
        None => {
            servers.push(Server {
                host,
                port,
                lock: None,
                writers: None,
            });
            servers.len() - 1
        }
    }
}

/// How a transform hands its rows to its server's writers.
#[derive(Clone)]
struct Feed {
    sender: WriterSender,
    encoding: Encoding,
    batch_bytes: usize,
    max_statement: usize,
}

impl Feed {
    fn of(sending: &Sending) -> Feed {
        Feed {
            sender: sending.writers.sender(),
            encoding: encoding_of(Some(sending.method)),
            batch_bytes: sending.batch_bytes,
            max_statement: sending.max_statement,
        }
    }
}

impl Lanes {
    /// The server of `target` (by its place among the split's servers), its writers' feed, and
    /// whether the writers were started now, with `target`'s databases as their first (`pool`
    /// is open on it).
    async fn feed(
        &self,
        options: &LoadOptions,
        target: &Target,
        pool: &MySqlPool,
    ) -> Result<(usize, Feed, bool), LoadError> {
        let mut servers = self.servers.lock().await;
        let i = server_of(&mut servers, target);
        if let Some((_, feed)) = &servers[i].writers {
            return Ok((i, feed.clone(), false));
        }
        let sending = start_writers(options, target, pool).await?;
        let feed = Feed::of(&sending);
        servers[i].writers = Some((sending, feed.clone()));
        Ok((i, feed, true))
    }

    /// Opens `course`'s database `target` (locked on its server's lock connection), or `None`
    /// when another course holds it.
    async fn open(
        &self,
        options: &LoadOptions,
        target: &Target,
        course: &str,
    ) -> Result<Option<OpenedDatabase>, LoadError> {
        if let Ok(mut prepared) = self.prepared.lock()
            && let Some(p) = prepared.get(&target.database)
        {
            // Opened before the load, for this course or for another that shares its name.
            return Ok((p.course == course)
                .then(|| prepared.remove(&target.database))
                .flatten()
                .map(|p| p.opened));
        }
        let prepared = self.prepare(target, options).await?;
        self.open_on(target, course, prepared).await
    }

    /// Whether `database` was opened ahead and waits for its course's first event.
    fn is_prepared(&self, database: &str) -> bool {
        (self.prepared.lock()).is_ok_and(|prepared| prepared.contains_key(database))
    }

    /// Creates (counting it) or migrates `target`'s databases; a pool on the course database.
    async fn prepare(
        &self,
        target: &Target,
        options: &LoadOptions,
    ) -> Result<PreparedDatabase, LoadError> {
        let prepared =
            store::prepare_course_database(target, !options.no_pii, COURSE_CONNECTIONS).await?;
        if prepared.created {
            self.created.fetch_add(1, Ordering::Relaxed);
        }
        Ok(prepared)
    }

    /// Opens `course`'s database `target`, created and migrated, on `prepared`'s pool.
    async fn open_on(
        &self,
        target: &Target,
        course: &str,
        prepared: PreparedDatabase,
    ) -> Result<Option<OpenedDatabase>, LoadError> {
        {
            let mut servers = self.servers.lock().await;
            let i = server_of(&mut servers, target);
            take_lock(&prepared.pool, target, &mut servers[i].lock).await?;
        }
        let private = self
            .with_private
            .then_some(target.private_database.as_str());
        open_locked(target, private, prepared, Some(course)).await
    }

    /// The transform of a course database `opened` for the split, whose rows `feed`'s writers
    /// send to `destination`.
    fn transform(
        &self,
        options: LoadOptions,
        opened: OpenedDatabase,
        (database, private_database): (String, String),
        (feed, destination): (&Feed, usize),
        progress: Progress,
    ) -> Transform {
        let cx = Context {
            pool: Some(opened.pool),
            sender: Some(feed.sender.clone()),
            handle: self.handle.clone(),
            encoding: feed.encoding,
            batch_bytes: feed.batch_bytes,
            max_statement: feed.max_statement,
            progress,
            stop: self.stop.clone(),
            database,
            private_database,
            destination,
        };
        Transform::new(
            options,
            cx,
            opened.known,
            opened.carried,
            Some(self.geoip.clone()),
        )
        .with_growing_row_buffers()
    }
}

/// A course database opened before the load, for its course's first event.
struct PreparedCourse {
    course: String,
    opened: OpenedDatabase,
}

/// What the transform of one course database leaves when it is done.
struct LaneDone {
    course: Option<String>,
    /// The place of its server among the split's.
    server: usize,
    database: String,
    destination: usize,
    pool: Option<sqlx::mysql::MySqlPool>,
    summary: LoadSummary,
}

/// The status of every course database of a split (`moocdb status` with `{course}` in the
/// URL): the databases on the server whose names the split's naming rule gives, by name.
pub async fn course_statuses(
    databases: &CourseDatabases,
) -> Result<Vec<status::DatabaseStatus>, LoadError> {
    let no_course = databases.target(None, false)?;
    if databases.spread() {
        return spread_statuses(&no_course).await;
    }
    let mut server = no_course.server_connection().await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ? \
         ORDER BY schema_name",
    )
    .bind(databases.like_pattern())
    .fetch_all(&mut server)
    .await
    .map_err(|e| LoadError::query("listing the course databases", e))?;
    drop(server);
    let mut statuses = Vec::new();
    for name in names.into_iter().filter(|n| databases.holds(n)) {
        let target = no_course.for_database(name.clone(), String::new());
        let pool = target.pool(&name, 1).await?;
        let has_ledger: Option<String> = sqlx::query_scalar(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'moocdb_loader_files'",
        )
        .fetch_optional(&pool)
        .await
        .map_err(|e| LoadError::query("looking for the ledger", e))?;
        if has_ledger.is_some() {
            statuses.push(status::read(&pool, &name).await?);
        }
        pool.close().await;
    }
    Ok(statuses)
}

/// The status of every course database of a split spread over several servers: the no-course
/// database's, then those it records, each read on its own server.
async fn spread_statuses(no_course: &Target) -> Result<Vec<status::DatabaseStatus>, LoadError> {
    let mut server = no_course.server_connection().await?;
    let exists: Option<String> = sqlx::query_scalar(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(&no_course.database)
    .fetch_optional(&mut server)
    .await
    .map_err(|e| LoadError::query("looking for the no-course database", e))?;
    drop(server);
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let pool = no_course.pool(&no_course.database, 1).await?;
    let recorded = store::course_databases::read(&pool).await;
    let first = status::read(&pool, &no_course.database).await;
    pool.close().await;
    let mut statuses = vec![first?];
    for course in recorded? {
        let target = (no_course.for_database(course.database.clone(), String::new()))
            .on_server(&course.host, Some(course.port))?;
        let pool = target.pool(&course.database, 1).await?;
        let read = status::read(&pool, &course.database).await;
        pool.close().await;
        statuses.push(read?);
    }
    Ok(statuses)
}
