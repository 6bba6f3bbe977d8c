//! A split load's transform: each file read once, each event sent to its course's database.
//!
//! Every course database has a transform of its own ([`Transform`]: its row buffers, MOOCdb
//! state, duplicate check and ledger), opened the first time its course is seen; while the
//! database is still being created (a site's first load creates them as it reads), the course's
//! events wait, in their order, and every one of a file's events reaches its database before
//! the file ends, so that no commit sees the difference. The database of
//! the events that name no course (the first, always open) also takes the lines that are not
//! events, and its ledger decides what is read of each file. A course database's ledger records
//! the files that gave it events, each when its own plan says to load it: a file it already
//! holds (committed before a crash that stopped the others) is skipped there alone. Commits
//! take every database's group of files at once: every row stored, then each course database's
//! ledger, the no-course database's last, so that a file it does not record as loaded is read
//! again and every course database that lacks it gets it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::crash::{crash_armed, crash_point};
use super::reading::{LineTaker, Reading, ReadingThread};
use super::rejects::too_many_rejects;
use super::{OpenFile, Pending, Transform};
use crate::error::LoadError;
use crate::load::{LoadOptions, event_course};
use crate::progress::Progress;
use crate::schema::Table;
use crate::sink::WriterSender;
use crate::source::TrackingLog;
use crate::store::ledger::{FileCounts, Reject};

/// Opens the transform of a course's database (`None`: the events that name no course) when
/// its course is first seen; returns the database's name and the place of its server among
/// the split's with it.
pub type OpenLane = Box<dyn FnMut(&str) -> Result<(String, usize, Transform), LoadError> + Send>;

/// Whether a course's database may be opened now (`false`: it is still being created while the
/// first events are read); with `wait`, waits until it may.
pub type CourseReady = Box<dyn FnMut(&str, bool) -> Result<bool, LoadError> + Send>;

/// One course database of the split.
pub struct Lane {
    /// The course (`Org/Course/Run`), or `None` for the events that name no course.
    pub course: Option<String>,
    /// The course database.
    pub database: String,
    /// The place of its server among the split's (0: the no-course database's).
    pub server: usize,
    /// Its transform.
    pub transform: Transform,
    file: LaneFile,
}

/// Where a course database stands with the file being read.
enum LaneFile {
    /// None of its events has come yet.
    Waiting,
    /// Already loaded there: its events are dropped.
    Skipped,
    /// Being loaded (boxed: one per course database and file, and the other states are empty).
    Open(Box<OpenFile>),
}

/// The memory the course databases' row buffers may hold together before the largest are sent
/// (counted as the buffers' room, which is up to twice their rows as they grow). A course
/// database's table fills its batch (2 MiB) only for a large course, so without a bound a site's
/// rows would wait in the buffers until the commit: on 300,000 events of 100 courses that took
/// the load's peak memory to 652 MiB. 32 MiB rather than 48 MiB, with the exact set of recent
/// lines bounded at 450,000 rather than 900,000: the bench's 1M-event, 100-course split peaked at
/// 209,020 KB against 244,296–246,468 KB in 42.7–44.9 s against 43.1–44.7 s, and its 5M split at
/// 370,020 KB against 398,736 KB (`/usr/bin/time`, the logs of `BENCH_STEPS=courses
/// scripts/bench`). The buffers' bound alone took the 5M split to 386,764 KB.
const BUFFERED_BYTES: usize = 32 << 20;

/// Lines taken between two looks at how much the buffers hold, and the most parsed events the
/// course databases hold together before each processes what it has: each waits for a chunk of
/// its own (2,048 lines) otherwise, and a hundred courses' chunks of parsed events took the
/// load's peak memory from 171 MiB (one database) to 652 MiB on 300,000 events.
const BUFFER_CHECK_LINES: u64 = 4096;

/// The most line hashes the course databases' exact sets hold together before they move into the
/// filter: a quarter of a single database's bound. A hundred sets, each given back its room after
/// a move, held 16,744 KB more at the 5M split's peak with the single database's 900,000 (figures
/// above). Against 450,000, in alternating runs (`moocdb load -q` of the bench's 100-course logs,
/// databases dropped before each, `/usr/bin/time`): the 5M split peaked at 281,160 and 275,504
/// KB against 323,272 and 286,116 KB in 163.0 and 193.6 s against 216.2 and 186.9 s, with as
/// many `LOAD DATA` statements (64,699 against 64,754); the 1M split at 210,236–214,756 KB
/// against 217,692–218,592 KB in 27.3–29.9 s against 27.2–32.8 s; the 300,000-event split in
/// 11.18 and 11.50 s against 10.87 and 10.96 s. A single database keeps its bound: there, 450,000
/// saved 7,396 KB (245,660 against 253,056 KB) and cost the server 10 s more of CPU (216.8
/// against 206.5 s on the 5M log), its lines table loaded in more statements, only the first of
/// which is a bulk load.
const RECENT_LINES: usize = 225_000;

/// Course databases whose ledgers a commit records at once.
const RECORDED_AT_ONCE: usize = 8;

/// The most events held, parsed, for courses whose databases are still being created, before
/// the load waits for the database of the course that holds the most. A site's first load
/// creates a hundred course databases while it reads its first events (`CREATE TABLE`s wait
/// on disk syncs more than on the loader). A parsed event holds about 2.4 KB (100 courses'
/// chunks of 2,048 events took a load's peak from 171 to 652 MiB, [`BUFFER_CHECK_LINES`]), so
/// the bound is about 77 MB, early in the load, while the learners' state is still small: the
/// bench's 300,000-event log of 100 courses split in 17.6 s instead of 20.2–20.8 s and peaked at
/// 182–200 MB instead of 160–164 MB; its 1M-event log in 48.3–52.2 s instead of 54.5–57.3 s,
/// peaking at 210–235 MB instead of 204–216 MB; the 5M-event log's peak, at its end, did not
/// move (`BENCHMARKS.md`, "One database per course").
const PARKED_EVENTS: usize = 32_768;

/// The transform of a split load.
pub struct SplitTransform {
    options: LoadOptions,
    progress: Progress,
    stop: Arc<AtomicBool>,
    /// The course databases, the no-course one first.
    pub lanes: Vec<Lane>,
    by_course: HashMap<String, usize>,
    open_lane: OpenLane,
    /// The file's counts over every course database.
    total: FileCounts,
    /// Where processed chunks go while a reading thread runs.
    done_with: Option<std::sync::mpsc::Sender<Vec<Pending>>>,
    /// The thread that reads the files, started with the first.
    reading_thread: Option<ReadingThread>,
    /// The commit group's files' sizes as stored.
    group_bytes: u64,
    /// Files whose commit is done.
    files_committed: u64,
    /// Whether a course's database may be opened yet.
    ready: CourseReady,
    /// The events of courses whose databases are still being created, by course, in log order.
    parked: HashMap<String, Vec<Pending>>,
    /// The events in `parked`.
    parked_events: usize,
}

impl SplitTransform {
    /// A split transform whose events that name no course go to `no_course`'s database.
    pub fn new(
        options: LoadOptions,
        progress: Progress,
        stop: Arc<AtomicBool>,
        no_course: (String, Transform),
        open_lane: OpenLane,
        ready: CourseReady,
    ) -> SplitTransform {
        let (database, transform) = no_course;
        SplitTransform {
            options,
            progress,
            stop,
            lanes: vec![Lane {
                course: None,
                database,
                server: 0,
                transform,
                file: LaneFile::Waiting,
            }],
            by_course: HashMap::new(),
            open_lane,
            total: FileCounts::default(),
            done_with: None,
            reading_thread: None,
            group_bytes: 0,
            files_committed: 0,
            ready,
            parked: HashMap::new(),
            parked_events: 0,
        }
    }

    /// Loads every log in order.
    pub fn run_all(&mut self, logs: &[TrackingLog]) -> Result<(), LoadError> {
        self.lanes[0].transform.read_line_keys()?;
        for (i, log) in logs.iter().enumerate() {
            if self.stop.load(Ordering::Relaxed) {
                // The files read so far are whole: committed, so the next run starts after them.
                self.commit_group()?;
                return Err(self.interrupted(log));
            }
            self.run_file(log, logs.get(i + 1))?;
        }
        self.commit_group()?;
        for lane in &mut self.lanes {
            let domain = lane.transform.moocdb.domain().map(str::to_string);
            lane.transform.summary.domain = domain;
        }
        Ok(())
    }

    fn interrupted(&self, log: &TrackingLog) -> LoadError {
        LoadError::Interrupted {
            files_done: self.files_committed,
            current: log.display_name.clone(),
        }
    }

    /// Loads `log`; `next` is the file after it.
    fn run_file(&mut self, log: &TrackingLog, next: Option<&TrackingLog>) -> Result<(), LoadError> {
        let content_hash = log.content_hash()?;
        // The no-course database's ledger decides what is read.
        let Some(file) = (self.lanes[0].transform).begin_file(log, content_hash.clone())? else {
            return Ok(());
        };
        let segment = file.segment;
        self.lanes[0].file = LaneFile::Open(Box::new(file));
        self.total = FileCounts::default();
        let (stop, progress) = (self.stop.clone(), self.progress.clone());
        let mut thread = self.reading_thread.take();
        let reading = Reading::new(&self.options, &mut thread, &progress, &stop, next);
        let mut taker = SplitFile {
            split: self,
            log,
            content_hash: &content_hash,
        };
        // The file's events are all taken before its end: those of courses whose databases
        // were still being created too.
        let read =
            (reading.load_file(&mut taker, log, segment)).and_then(|()| taker.take_parked(true));
        self.reading_thread = thread;
        read?;
        let prefix_hash = log.prefix_hash(self.total.raw_end)?.unwrap_or_default();
        let too_many_rejects = too_many_rejects(log, &self.total, self.options.max_bad_ratio);
        let breached = too_many_rejects.is_some();
        // Each line is counted in one database: its course's, or the no-course one's for the
        // lines that are not events of a course.
        let course_lines: u64 = (self.lanes[1..].iter())
            .filter_map(|lane| match &lane.file {
                LaneFile::Open(file) => Some(file.counts.lines),
                _ => None,
            })
            .sum();
        let (lines, skipped, bytes, raw_end) = (
            self.total.lines - course_lines,
            self.total.skipped,
            self.total.bytes,
            self.total.raw_end,
        );
        for i in 0..self.lanes.len() {
            let lane = &mut self.lanes[i];
            match std::mem::replace(&mut lane.file, LaneFile::Waiting) {
                LaneFile::Open(mut file) => {
                    if i == 0 {
                        file.counts.lines = lines;
                        file.counts.skipped += skipped;
                    }
                    file.counts.bytes = bytes;
                    file.counts.raw_end = raw_end;
                    lane.transform
                        .end_file(log, *file, prefix_hash.clone(), breached)?;
                    // A file's end writes the hierarchy nodes it created, less than a batch
                    // in each course database but not in all of them together: at 1M events
                    // of 100 courses, 560,000 resources waited in the buffers for the commit.
                    self.bound_buffers()?;
                }
                LaneFile::Waiting | LaneFile::Skipped => {}
            }
        }
        self.bound_recent_lines()?;
        self.group_bytes += log.size;
        if breached || self.group_bytes >= self.options.commit_group_bytes {
            self.commit_group()?;
        }
        match too_many_rejects {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Commits every course database's group of files: every row stored, then each course
    /// database's ledger, the no-course database's last.
    fn commit_group(&mut self) -> Result<(), LoadError> {
        for lane in &mut self.lanes {
            lane.transform.send_group_rows()?;
        }
        for sender in self.server_senders() {
            sender.barrier()?;
        }
        let (no_course, courses) = self.lanes.split_first_mut().expect("the no-course lane");
        // Each course database's transaction waits mostly on the server: several at once (101
        // one after the other took 1.4 s of a 100-course load's commit).
        let handle = no_course.transform.cx.handle.clone();
        handle.block_on(async {
            use futures_util::StreamExt;
            let mut recorded = futures_util::stream::iter(courses.iter_mut())
                .map(|lane| lane.transform.record_group_async())
                .buffer_unordered(RECORDED_AT_ONCE);
            while let Some(result) = recorded.next().await {
                result?;
            }
            Ok::<(), LoadError>(())
        })?;
        let files = no_course.transform.group.len() as u64;
        no_course.transform.record_group()?;
        self.files_committed += files;
        self.group_bytes = 0;
        Ok(())
    }

    /// The writers' sender of each server, once (the course databases on a server share its
    /// writers).
    fn server_senders(&self) -> Vec<&WriterSender> {
        let mut servers_done = Vec::new();
        let mut senders = Vec::new();
        for lane in &self.lanes {
            if servers_done.contains(&lane.server) {
                continue;
            }
            servers_done.push(lane.server);
            senders.extend(&lane.transform.cx.sender);
        }
        senders
    }

    /// Moves every course database's exact set of recent lines into the shared filter, once they
    /// hold more than the load's bound together. Each course database bounds its own set, but a
    /// commit group of a site's files may hold millions of lines over a hundred courses, each
    /// set under the bound: memory would grow with the group, not with the learners and pages.
    fn bound_recent_lines(&mut self) -> Result<(), LoadError> {
        let held: usize = self.lanes.iter().map(|l| l.transform.recent.len()).sum();
        if held <= self.options.recent_lines.min(RECENT_LINES) {
            return Ok(());
        }
        // Only the lines must be stored before the filter answers for them.
        for lane in &mut self.lanes {
            lane.transform.rows.flush(Table::Lines)?;
        }
        for sender in self.server_senders() {
            sender.table_barrier(Table::Lines)?;
        }
        for lane in &mut self.lanes {
            lane.transform.spill_recent();
            // Its room goes back too: most courses' next lines are a few thousand.
            lane.transform.recent.shrink_to_fit();
        }
        Ok(())
    }

    /// Keeps what the course databases hold together within the load's bounds: their pending
    /// events processed, their exact sets of recent lines and their row buffers bounded.
    fn bound_held(&mut self) -> Result<(), LoadError> {
        self.process_pending()?;
        self.bound_recent_lines()?;
        self.bound_buffers()
    }

    /// Each course database's pending events through its stages.
    fn process_pending(&mut self) -> Result<(), LoadError> {
        for lane in &mut self.lanes {
            if let LaneFile::Open(file) = &mut lane.file {
                lane.transform.process_pending(&mut file.counts)?;
            }
        }
        Ok(())
    }

    /// Sends the largest buffers, of any table of any course database, until they hold half of
    /// [`BUFFERED_BYTES`], when they hold more. Each buffer sent is a statement of its own, so
    /// the largest go, not every table of the largest course databases: on 1M events of 100
    /// courses that took the statements from 16,626 to 9,400 and the load from 1.66–1.78 to
    /// 1.54–1.57 times the time of a load into one database (the server's CPU time from 45–51
    /// to 42–44 s; `BENCHMARKS.md`, "One database per course").
    fn bound_buffers(&mut self) -> Result<(), LoadError> {
        let mut total: usize = (self.lanes.iter())
            .map(|lane| lane.transform.rows.buffered_bytes())
            .sum();
        if total <= BUFFERED_BYTES {
            return Ok(());
        }
        let mut sizes: Vec<(usize, usize, Table)> = (self.lanes.iter().enumerate())
            .flat_map(|(i, lane)| (lane.transform.rows.rooms()).map(move |(t, room)| (room, i, t)))
            .collect();
        sizes.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
        for (size, lane, table) in sizes {
            if total <= BUFFERED_BYTES / 2 {
                break;
            }
            self.lanes[lane].transform.rows.flush(table)?;
            total -= size;
        }
        Ok(())
    }

    /// Opens the database of `course`, whose first event this is; its lane.
    fn open_course(&mut self, course: String) -> Result<usize, LoadError> {
        let (database, server, mut transform) = (self.open_lane)(&course)?;
        transform.read_line_keys()?;
        transform.share_run_caches(&self.lanes[0].transform);
        transform.done_with = self.done_with.clone();
        self.lanes.push(Lane {
            course: Some(course.clone()),
            database,
            server,
            transform,
            file: LaneFile::Waiting,
        });
        let lane = self.lanes.len() - 1;
        self.by_course.insert(course, lane);
        Ok(lane)
    }
}

/// The lines of one file going to their courses' databases.
struct SplitFile<'a> {
    split: &'a mut SplitTransform,
    log: &'a TrackingLog,
    content_hash: &'a Option<String>,
}

impl SplitFile<'_> {
    /// Sends `pending` to the course database of `lane`.
    fn take_event(&mut self, lane: usize, pending: Pending) -> Result<(), LoadError> {
        let lane = &mut self.split.lanes[lane];
        if let LaneFile::Waiting = lane.file {
            lane.file = match (lane.transform).begin_file(self.log, self.content_hash.clone())? {
                Some(file) => LaneFile::Open(Box::new(file)),
                None => LaneFile::Skipped,
            };
        }
        match &mut lane.file {
            LaneFile::Open(file) => {
                if lane.course.is_some() {
                    file.counts.lines += 1;
                }
                lane.transform.enqueue(pending, &mut file.counts)
            }
            LaneFile::Skipped => Ok(()),
            LaneFile::Waiting => unreachable!("a lane's file is begun before its events"),
        }
    }

    /// Counts an event just parked; past [`PARKED_EVENTS`], waits for the database of the course
    /// that holds the most and takes its events.
    fn park_one_more(&mut self) -> Result<(), LoadError> {
        self.split.parked_events += 1;
        while self.split.parked_events > PARKED_EVENTS {
            let Some(most) = (self.split.parked.iter())
                .max_by_key(|(_, events)| events.len())
                .map(|(course, _)| course.clone())
            else {
                break;
            };
            (self.split.ready)(&most, true)?;
            self.take_parked_of(most)?;
        }
        Ok(())
    }

    /// Takes the parked events of each course whose database is ready, or of every course,
    /// waiting for their databases, with `wait`.
    fn take_parked(&mut self, wait: bool) -> Result<(), LoadError> {
        if self.split.parked.is_empty() {
            return Ok(());
        }
        let courses: Vec<String> = self.split.parked.keys().cloned().collect();
        for course in courses {
            if (self.split.ready)(&course, wait)? {
                self.take_parked_of(course)?;
            }
        }
        Ok(())
    }

    /// Takes the parked events of `course`, whose database is ready, in their order. Its
    /// database is not open yet: a course's events wait only until it is.
    fn take_parked_of(&mut self, course: String) -> Result<(), LoadError> {
        let Some(events) = self.split.parked.remove(&course) else {
            return Ok(());
        };
        self.split.parked_events -= events.len();
        let lane = self.split.open_course(course)?;
        for (i, pending) in (1u64..).zip(events) {
            self.take_event(lane, pending)?;
            // The course may have waited with many events: they stay within the bounds as the
            // lines read do.
            if i.is_multiple_of(BUFFER_CHECK_LINES) {
                self.split.bound_held()?;
            }
        }
        Ok(())
    }
}

impl LineTaker for SplitFile<'_> {
    fn counts(&mut self) -> &mut FileCounts {
        &mut self.split.total
    }

    fn event(&mut self, pending: Pending) -> Result<(), LoadError> {
        if self.split.total.lines.is_multiple_of(BUFFER_CHECK_LINES) {
            self.take_parked(false)?;
            self.split.bound_held()?;
        }
        let lane = match event_course(&pending.event) {
            None => 0,
            Some(course) => match self.split.by_course.get(&course) {
                Some(&lane) => lane,
                None => {
                    // A course whose events wait keeps their order: its later events wait
                    // behind them.
                    if let Some(parked) = self.split.parked.get_mut(&course) {
                        parked.push(pending);
                        return self.park_one_more();
                    }
                    if crash_armed("event-parked") || !(self.split.ready)(&course, false)? {
                        crash_point("event-parked");
                        self.split.parked.insert(course, vec![pending]);
                        return self.park_one_more();
                    }
                    self.split.open_course(course)?
                }
            },
        };
        self.take_event(lane, pending)
    }

    fn reject(&mut self, reject: Reject) -> Result<(), LoadError> {
        self.split.total.rejected += 1;
        let lane = &mut self.split.lanes[0];
        let LaneFile::Open(file) = &mut lane.file else {
            unreachable!("the no-course database's file is begun before any line")
        };
        lane.transform
            .reject(&mut file.rejects, &mut file.counts, reject)
    }

    fn set_done_with(&mut self, done_with: Option<std::sync::mpsc::Sender<Vec<Pending>>>) {
        for lane in &mut self.split.lanes {
            lane.transform.done_with = done_with.clone();
        }
        self.split.done_with = done_with;
    }

    fn interrupted(&self, log: &TrackingLog) -> LoadError {
        self.split.interrupted(log)
    }
}
