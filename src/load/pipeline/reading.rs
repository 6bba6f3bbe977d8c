//! Reading a tracking log: its lines in batches (on a thread of their own, or on the transform's
//! when the process has one core), decoded and parsed into the pending chunk; a file that is one
//! JSON document (pretty-printed) is read whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::atomic::AtomicBool;

use super::rejects::RejectBuffer;
use super::{Pending, Transform};
use crate::decode::{Decoded, decode};
use crate::error::LoadError;
use crate::load::LoadOptions;
use crate::progress::Progress;
use crate::source::{self, TrackingLog};
use crate::store::ledger::{FileCounts, REJECT_RAW_LIMIT, Reject, Segment};

/// Lines the reading thread hands over at a time, and batches it may be ahead by.
pub(super) const READ_BATCH: usize = 512;

/// Lines read at a time when the transform's thread reads them itself.
pub(super) const SHORT_READ_BATCH: usize = 32;

pub(super) const READ_AHEAD: usize = 4;

/// One line as the reading thread made it.
pub(super) struct ReadLine {
    number: u64,
    offset: u64,
    /// Decompressed bytes read up to the end of this line.
    bytes_read: u64,
    content: LineContent,
}

// Nearly every line is an event: boxing that variant to make the rare ones smaller cost an
// allocation per line, freed by the other thread.
#[allow(clippy::large_enum_variant)]
pub(super) enum LineContent {
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
pub(super) struct LineBatches {
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

/// A file opened for reading: its batches of lines, the count of the bytes they read from
/// storage, and whether the file is compressed.
type Opened = (LineBatches, Arc<AtomicU64>, bool);

/// `log` opened for reading from `segment` on.
fn open_batches(
    log: &TrackingLog,
    segment: Segment,
    max_line_bytes: usize,
    batch_lines: usize,
) -> Result<Opened, LoadError> {
    let stored = Arc::new(AtomicU64::new(0));
    let reader = log
        .open_at(segment.raw_start, max_line_bytes, stored.clone())?
        .starting_at(segment.first_line, segment.decoded_start);
    let compressed = reader.is_compressed();
    let batches = LineBatches {
        reader,
        batch_lines,
        wait_for_last_line: log.live && !compressed,
        max_line_bytes,
        ended: false,
    };
    Ok((batches, stored, compressed))
}

/// What the reading thread sends: a batch of lines, or the end of a reading, each with the number
/// of the reading it belongs to.
enum ReadingMessage {
    Lines(u64, Vec<ReadLine>),
    End(u64),
}

/// One file's reading on the thread.
struct ReadingJob {
    number: u64,
    batches: LineBatches,
    /// Set when its lines are no longer wanted: the thread stops before its next batch.
    cancelled: Arc<AtomicBool>,
}

/// The reading thread: reads each job's batches until they end, it is cancelled or the receiver
/// hangs up, and sends them, then the job's end, on the one channel of the load, so that the
/// batches ahead of the transform stay [`READ_AHEAD`] whatever file they belong to. Events the
/// transform is done with come back on `done` to be dropped here, by the thread that allocated
/// them: the allocator frees a block of its own thread's pages without the cross-thread
/// bookkeeping, and the transform, the busier thread, is spared the drops.
fn read_lines(
    jobs: std::sync::mpsc::Receiver<ReadingJob>,
    sender: std::sync::mpsc::SyncSender<ReadingMessage>,
    done: std::sync::mpsc::Receiver<Vec<Pending>>,
) {
    loop {
        // Between readings the events of the last batches still come back: dropped as they come,
        // not held until the next file (or the load's end, after the last).
        let mut job = match jobs.recv_timeout(std::time::Duration::from_millis(10)) {
            Ok(job) => job,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                done.try_iter().for_each(drop);
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        while !job.cancelled.load(Ordering::Relaxed) {
            let Some(batch) = job.batches.next() else {
                break;
            };
            done.try_iter().for_each(drop);
            if sender
                .send(ReadingMessage::Lines(job.number, batch))
                .is_err()
            {
                return;
            }
        }
        if sender.send(ReadingMessage::End(job.number)).is_err() {
            return;
        }
    }
}

/// The thread that reads every file of a load, one after the other ([`read_lines`]). One thread
/// for the load, not one per file: each thread's allocator pages stay pinned by the events it
/// parsed that the transform keeps, and 200 rotated files peaked 25 MiB above their one file
/// (`insert`, 1M bench events: 130 against 105 MiB; 113 against 101 MiB with no reading thread).
///
/// While the transform takes a file's last batches, the thread already reads the next file from
/// its start (when it no longer grows): without that, the thread waited at each file's end while
/// the transform took the batches it was ahead by, and the transform then waited for the next
/// file's first batch: a dry run of the 1M bench events as 200 rotated files took 5.01-6.42 s,
/// against 3.99-4.32 s as one file with the same CPU time; 3.90-4.39 s with the next file read
/// ahead (four alternating runs each). Its batches share the one channel, so no more of them wait
/// than within one file: with a channel of its own for the next file, four batches ahead, the 200
/// files' `infile` load had peaked 2-3 MB higher (138.2-140.8 against 135.4-138.6 MB); with the
/// one channel, 135.4-139.8 against 135.8-137.6 MB.
pub(super) struct ReadingThread {
    jobs: Option<std::sync::mpsc::Sender<ReadingJob>>,
    batches: Option<std::sync::mpsc::Receiver<ReadingMessage>>,
    done_with: std::sync::mpsc::Sender<Vec<Pending>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The number the next reading gets.
    next_number: std::sync::atomic::AtomicU64,
    /// The next file's reading, queued behind the file being taken.
    next_file: std::sync::Mutex<Option<NextFile>>,
}

/// A reading queued on the thread.
struct Queued {
    number: u64,
    /// Bytes it has read from storage.
    stored: Arc<AtomicU64>,
    compressed: bool,
    cancelled: Arc<AtomicBool>,
}

/// The reading of the file after the one being taken, from its start.
struct NextFile {
    path: std::path::PathBuf,
    reading: Queued,
}

impl ReadingThread {
    /// Starts the thread (`None` if the system refuses one: the transform's thread then reads).
    pub(super) fn start() -> Option<ReadingThread> {
        let (jobs, next) = std::sync::mpsc::channel::<ReadingJob>();
        let (sender, batches) = std::sync::mpsc::sync_channel(READ_AHEAD);
        // Unbounded, but the reading thread empties it before every batch it sends, and the
        // transform sends one chunk per CHUNK lines taken.
        let (done_with, done) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("reading".into())
            .spawn(move || read_lines(next, sender, done))
            .ok()?;
        Some(ReadingThread {
            jobs: Some(jobs),
            batches: Some(batches),
            done_with,
            thread: Some(thread),
            next_number: 0.into(),
            next_file: std::sync::Mutex::new(None),
        })
    }

    /// Queues the reading of `opened`; gives it back if the thread has ended.
    fn queue(&self, opened: Opened) -> Result<Queued, Box<Opened>> {
        let (batches, stored, compressed) = opened;
        let number = self.next_number.fetch_add(1, Ordering::Relaxed);
        let cancelled = Arc::new(AtomicBool::new(false));
        let job = ReadingJob {
            number,
            batches,
            cancelled: cancelled.clone(),
        };
        let sent = match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|e| e.0),
            None => Err(job),
        };
        if let Err(job) = sent {
            return Err(Box::new((job.batches, stored, compressed)));
        }
        Ok(Queued {
            number,
            stored,
            compressed,
            cancelled,
        })
    }

    /// Starts reading `log` from its start behind the file being read, when it is a file that
    /// no longer grows (a live file is read when its turn comes, at its length then).
    fn read_next(&self, log: &TrackingLog, max_line_bytes: usize) {
        let source::Origin::File(path) = &log.origin else {
            return;
        };
        if log.live {
            return;
        }
        // A file that cannot be opened is reported when its turn comes.
        let Ok(opened) = open_batches(log, Segment::default(), max_line_bytes, READ_BATCH) else {
            return;
        };
        if let Ok(reading) = self.queue(opened)
            && let Ok(mut next) = self.next_file.lock()
        {
            let path = path.clone();
            if let Some(earlier) = next.replace(NextFile { path, reading }) {
                earlier.reading.cancelled.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The reading of `log` from `segment`: the one started behind the file before it if it read
    /// from there, else a new one (any other is cancelled). The batches of `log` are given back
    /// when the thread has ended.
    fn take(
        &self,
        log: &TrackingLog,
        segment: Segment,
        max_line_bytes: usize,
    ) -> Result<Result<Queued, Box<Opened>>, LoadError> {
        if let Some(next) = self.next_file.lock().ok().and_then(|mut n| n.take()) {
            let same_file = matches!(&log.origin, source::Origin::File(p) if *p == next.path);
            // Only a file that no longer grows is read ahead ([`ReadingThread::read_next`]).
            if same_file && segment == Segment::default() {
                return Ok(Ok(next.reading));
            }
            next.reading.cancelled.store(true, Ordering::Relaxed);
        }
        let opened = open_batches(log, segment, max_line_bytes, READ_BATCH)?;
        Ok(self.queue(opened))
    }

    /// The batches of reading `number`, in order, until its end; those of earlier readings
    /// still in the channel (cancelled, or left at an unfinished last line) are dropped.
    fn batches_of(&self, number: u64) -> impl Iterator<Item = Vec<ReadLine>> + '_ {
        let mut ended = false;
        std::iter::from_fn(move || {
            let batches = self.batches.as_ref()?;
            while !ended {
                match batches.recv() {
                    Ok(ReadingMessage::Lines(n, batch)) if n == number => return Some(batch),
                    Ok(ReadingMessage::End(n)) if n == number => ended = true,
                    Ok(_) => {}
                    Err(_) => ended = true,
                }
            }
            None
        })
    }
}

impl Drop for ReadingThread {
    fn drop(&mut self) {
        // The thread may be waiting to hand over a batch: it stops at its next send.
        self.batches = None;
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where the taking of a file's lines has got to.
#[derive(Default)]
pub(super) struct TakenLines {
    /// Compressed bytes read, as last reported to the progress display.
    pub(super) reported_stored: u64,
    /// Bytes of the plain file consumed by whole lines: where a later load continues.
    pub(super) consumed: u64,
    /// The rest of the file was unreadable.
    pub(super) damaged: bool,
}

/// The whole content of `log` when it is a pretty-printed JSON document rather than JSON lines:
/// its first non-blank line is a lone `{` or starts a `[`. Larger files than `limit` are read as
/// lines.
fn read_json_document(log: &TrackingLog, limit: usize) -> Result<Option<Vec<u8>>, LoadError> {
    if log.origin == source::Origin::Stdin {
        return Ok(None);
    }
    let mut reader = log.open_first_lines(limit)?;
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

/// Where the lines of a file go as they are taken: one database's transform
/// ([`OneDatabase`]), or the course databases of a split load.
pub(super) trait LineTaker {
    /// The file's counts: every line taken is counted here.
    fn counts(&mut self) -> &mut FileCounts;
    /// A parsed event.
    fn event(&mut self, pending: Pending) -> Result<(), LoadError>;
    /// A line that cannot be loaded (counted as rejected by the taker).
    fn reject(&mut self, reject: Reject) -> Result<(), LoadError>;
    /// Where processed chunks go to be dropped while a reading thread runs.
    fn set_done_with(&mut self, done_with: Option<std::sync::mpsc::Sender<Vec<Pending>>>);
    /// The error for a load stopped by Ctrl-C.
    fn interrupted(&self, log: &TrackingLog) -> LoadError;
}

/// The lines of one file going to one database's transform.
pub(super) struct OneDatabase<'a> {
    pub(super) transform: &'a mut Transform,
    pub(super) counts: &'a mut FileCounts,
    pub(super) rejects: &'a mut RejectBuffer,
}

impl LineTaker for OneDatabase<'_> {
    fn counts(&mut self) -> &mut FileCounts {
        self.counts
    }

    fn event(&mut self, pending: Pending) -> Result<(), LoadError> {
        self.transform.enqueue(pending, self.counts)
    }

    fn reject(&mut self, reject: Reject) -> Result<(), LoadError> {
        self.transform.reject(self.rejects, self.counts, reject)
    }

    fn set_done_with(&mut self, done_with: Option<std::sync::mpsc::Sender<Vec<Pending>>>) {
        self.transform.done_with = done_with;
    }

    fn interrupted(&self, log: &TrackingLog) -> LoadError {
        self.transform.interrupted(log)
    }
}

/// How lines are read: as the load's options say.
pub(super) struct Reading<'a> {
    pub(super) max_line_bytes: usize,
    /// The load's reading thread, if it has one.
    pub(super) reading_thread: Option<&'a ReadingThread>,
    pub(super) progress: &'a Progress,
    pub(super) stop: &'a AtomicBool,
    /// The file after this one, whose reading the thread starts once this one's is under way.
    pub(super) next: Option<&'a TrackingLog>,
}

impl<'a> Reading<'a> {
    /// Reading as `options` say, on `thread` (started here the first time) if the options want
    /// a reading thread, reporting to `progress`, stopping when `stop` is set; `next` is the
    /// file to read after this one.
    pub(super) fn new(
        options: &LoadOptions,
        thread: &'a mut Option<ReadingThread>,
        progress: &'a Progress,
        stop: &'a AtomicBool,
        next: Option<&'a TrackingLog>,
    ) -> Self {
        if options.reading_thread && thread.is_none() {
            *thread = ReadingThread::start();
        }
        Reading {
            max_line_bytes: options.max_line_bytes,
            reading_thread: thread.as_ref(),
            progress,
            stop,
            next,
        }
    }

    /// A file from `segment` on: read whole when it is one pretty-printed JSON document (only
    /// from its start), else line by line. Sets the counts' `bytes` and `raw_end`.
    pub(super) fn load_file(
        &self,
        taker: &mut impl LineTaker,
        log: &TrackingLog,
        segment: Segment,
    ) -> Result<(), LoadError> {
        let document = if segment.raw_start == 0 {
            read_json_document(log, self.max_line_bytes)?
        } else {
            None
        };
        match document {
            Some(document) => {
                self.load_document(taker, &document)?;
                taker.counts().raw_end = log.size;
                Ok(())
            }
            None => self.load_lines(taker, log, segment),
        }
    }

    /// The usual case: one record per line, from `segment` on. A second thread reads,
    /// decompresses, decodes and parses the lines (the stateless stages); this one takes them in
    /// order for the stateful stages. Sets the counts' `bytes` and `raw_end`.
    fn load_lines(
        &self,
        taker: &mut impl LineTaker,
        log: &TrackingLog,
        segment: Segment,
    ) -> Result<(), LoadError> {
        let mut taken = TakenLines::default();
        let queued = match self.reading_thread {
            Some(thread) => {
                (thread.take(log, segment, self.max_line_bytes)?).map(|reading| (thread, reading))
            }
            None => Err(Box::new(open_batches(
                log,
                segment,
                self.max_line_bytes,
                SHORT_READ_BATCH,
            )?)),
        };
        let (read, stored, compressed) = match queued {
            Ok((thread, reading)) => {
                if let Some(next) = self.next {
                    thread.read_next(next, self.max_line_bytes);
                }
                taker.set_done_with(Some(thread.done_with.clone()));
                let read = self.take_lines(
                    taker,
                    thread.batches_of(reading.number),
                    log,
                    &segment,
                    &reading.stored,
                    &mut taken,
                );
                taker.set_done_with(None);
                // Returning early (an unfinished last line, an error) leaves the rest unread.
                reading.cancelled.store(true, Ordering::Relaxed);
                (read, reading.stored, reading.compressed)
            }
            Err(opened) => {
                let (batches, stored, compressed) = *opened;
                let read = self.take_lines(taker, batches, log, &segment, &stored, &mut taken);
                (read, stored, compressed)
            }
        };
        read?;
        let now = stored.load(Ordering::Relaxed);
        let counts = taker.counts();
        self.progress
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
    fn take_lines(
        &self,
        taker: &mut impl LineTaker,
        batches: impl Iterator<Item = Vec<ReadLine>>,
        log: &TrackingLog,
        segment: &Segment,
        stored: &AtomicU64,
        taken: &mut TakenLines,
    ) -> Result<(), LoadError> {
        for batch in batches {
            for line in batch {
                if self.stop.load(Ordering::Relaxed) {
                    return Err(taker.interrupted(log));
                }
                match line.content {
                    LineContent::Unfinished => return Ok(()),
                    LineContent::Unreadable(e) => {
                        // A damaged gzip stream or a read error: the lines before it are
                        // loaded, the damage is recorded as a reject where it was found.
                        taker.counts().lines += 1;
                        taken.damaged = true;
                        let line_number = segment.first_line + taker.counts().lines - 1;
                        tracing::warn!(
                            "{}: after line {}: {e}; the rest of the file is unreadable",
                            log.display_name,
                            line_number
                        );
                        let reject = Reject {
                            line_number,
                            byte_offset: segment.decoded_start + line.bytes_read,
                            reason: format!(
                                "unreadable from here on ({e}); the lines before were loaded"
                            ),
                            raw_length: 0,
                            raw: Vec::new(),
                        };
                        taker.reject(reject)?;
                        return Ok(());
                    }
                    LineContent::NotAnEvent => {
                        let counts = taker.counts();
                        counts.lines += 1;
                        counts.skipped += 1;
                    }
                    LineContent::Event(pending) => {
                        taker.counts().lines += 1;
                        taker.event(pending)?;
                    }
                    LineContent::Reject {
                        reason,
                        raw_length,
                        raw,
                    } => {
                        taker.counts().lines += 1;
                        let reject = Reject {
                            line_number: line.number,
                            byte_offset: line.offset,
                            reason,
                            raw_length,
                            raw,
                        };
                        taker.reject(reject)?;
                    }
                }
                taken.consumed = line.bytes_read;
                if taker.counts().lines.is_multiple_of(4096) {
                    let now = stored.load(Ordering::Relaxed);
                    self.progress.add(now - taken.reported_stored, 4096, 0);
                    taken.reported_stored = now;
                }
            }
        }
        Ok(())
    }

    /// A file holding pretty-printed JSON documents (an object, an array of objects, or several
    /// objects one after another) rather than one record per line. Each record counts as a line;
    /// the remaining physical lines count as skipped, so that lines = events + rejected +
    /// duplicates + skipped still holds. Sets the counts' `bytes`.
    fn load_document(&self, taker: &mut impl LineTaker, document: &[u8]) -> Result<(), LoadError> {
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
                    taker.reject(reject)?;
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
                match Pending::parse(&json) {
                    Ok(pending) => taker.event(pending)?,
                    Err(e) => {
                        let reject = Reject {
                            line_number: records,
                            byte_offset: offset,
                            reason: e.0,
                            raw_length: json.len() as u64,
                            raw: json.as_bytes()[..json.len().min(REJECT_RAW_LIMIT)].to_vec(),
                        };
                        taker.reject(reject)?;
                    }
                }
            }
        }
        let counts = taker.counts();
        counts.lines = physical_lines.max(records);
        counts.skipped += counts.lines - records;
        counts.bytes = document.len() as u64;
        self.progress.add(document.len() as u64, counts.lines, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of `lines` JSON lines, written long enough ago not to be live.
    fn old_log(dir: &std::path::Path, name: &str, lines: u64) -> TrackingLog {
        let path = dir.join(name);
        let text: String = (1..=lines).map(|n| format!("{{\"n\": {n}}}\n")).collect();
        std::fs::write(&path, text).unwrap();
        TrackingLog {
            size: std::fs::metadata(&path).unwrap().len(),
            display_name: name.to_string(),
            origin: source::Origin::File(path),
            live: false,
        }
    }

    /// The line numbers of the reading `queued` takes.
    fn line_numbers(thread: &ReadingThread, queued: Result<Queued, Box<Opened>>) -> Vec<u64> {
        let number = queued.ok().expect("queued on the thread").number;
        (thread.batches_of(number).flatten())
            .map(|line| line.number)
            .collect()
    }

    #[test]
    fn a_file_read_ahead_is_taken_only_by_its_own_turn_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let thread = ReadingThread::start().expect("a reading thread");
        let (a, b) = (old_log(dir.path(), "a", 3), old_log(dir.path(), "b", 1500));
        let limit = 1 << 20;
        let whole = Segment::default();
        let taken = |log: &TrackingLog, segment: Segment| {
            let before = thread.next_number.load(Ordering::Relaxed);
            let queued = thread.take(log, segment, limit).unwrap();
            let read_ahead = queued.as_ref().is_ok_and(|q| q.number + 1 == before);
            (read_ahead, line_numbers(&thread, queued))
        };

        // Another file's turn: b's lines read ahead are dropped, a is read.
        thread.read_next(&b, limit);
        assert_eq!(taken(&a, whole), (false, vec![1, 2, 3]));
        // The file's new lines after an earlier load: read from there.
        thread.read_next(&b, limit);
        let grown = Segment {
            raw_start: 9,
            first_line: 2,
            decoded_start: 9,
        };
        let (read_ahead, numbers) = taken(&b, grown);
        assert!(!read_ahead);
        assert_eq!(numbers, (2..=1500).collect::<Vec<u64>>());
        // A live file is read in its turn, at its length then.
        let live = TrackingLog {
            live: true,
            ..old_log(dir.path(), "live", 5)
        };
        thread.read_next(&live, limit);
        assert_eq!(taken(&live, whole), (false, vec![1, 2, 3, 4, 5]));
        // The file from its start: its lines read ahead, every one, in order.
        thread.read_next(&b, limit);
        let (read_ahead, numbers) = taken(&b, whole);
        assert!(read_ahead);
        assert_eq!(numbers, (1..=1500).collect::<Vec<u64>>());
    }
}
