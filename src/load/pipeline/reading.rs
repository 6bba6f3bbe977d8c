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

/// The batches of `log`'s lines from `segment` on, the count of the bytes they read from
/// storage, and whether the file is compressed.
fn open_batches(
    log: &TrackingLog,
    segment: Segment,
    max_line_bytes: usize,
    batch_lines: usize,
) -> Result<(LineBatches, Arc<AtomicU64>, bool), LoadError> {
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

/// The reading thread: sends `batches` until they end or the receiver hangs up. Events the
/// transform is done with come back on `done` to be dropped here, by the thread that allocated
/// them: the allocator frees a block of its own thread's pages without the cross-thread
/// bookkeeping, and the transform, the busier thread, is spared the drops.
pub(super) fn read_lines(
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

/// One file's reading: its lines, where to send their batches, and the chunks to drop.
type ReadingJob = (
    LineBatches,
    std::sync::mpsc::SyncSender<Vec<ReadLine>>,
    std::sync::mpsc::Receiver<Vec<Pending>>,
);

/// The thread that reads every file of a load, one after the other ([`read_lines`]). One thread
/// for the load, not one per file: each thread's allocator pages stay pinned by the events it
/// parsed that the transform keeps, and 200 rotated files peaked 25 MiB above their one file
/// (`insert`, 1M bench events: 130 against 105 MiB; 113 against 101 MiB with no reading thread).
pub(super) struct ReadingThread {
    jobs: Option<std::sync::mpsc::Sender<ReadingJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The next file's reading, started while the transform takes the last lines of the one
    /// before it.
    next_file: std::sync::Mutex<Option<NextFile>>,
}

/// The reading of the file after the one being taken, from its start, queued behind it on the
/// reading thread, as far ahead as a file's own reading ([`READ_AHEAD`] batches). Without it the
/// thread waited at each file's end while the transform took the batches it was ahead by, and
/// the transform then waited for the next file's first batch: a dry run of the 1M bench events
/// as 200 rotated files took 4.28-4.81 s against 3.00-3.49 s as one file, the same CPU time; it
/// takes 3.42-3.56 s with it. One batch ahead instead of four took 3.89-4.28 s.
struct NextFile {
    path: std::path::PathBuf,
    batches: std::sync::mpsc::Receiver<Vec<ReadLine>>,
    done_with: std::sync::mpsc::Sender<Vec<Pending>>,
    stored: Arc<AtomicU64>,
    compressed: bool,
}

impl ReadingThread {
    /// Starts the thread (`None` if the system refuses one: the transform's thread then reads).
    pub(super) fn start() -> Option<ReadingThread> {
        let (jobs, next) = std::sync::mpsc::channel::<ReadingJob>();
        let thread = std::thread::Builder::new()
            .name("reading".into())
            .spawn(move || {
                for (batches, sender, done) in next {
                    read_lines(batches, sender, done);
                }
            })
            .ok()?;
        Some(ReadingThread {
            jobs: Some(jobs),
            thread: Some(thread),
            next_file: std::sync::Mutex::new(None),
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
        let Ok((batches, stored, compressed)) =
            open_batches(log, Segment::default(), max_line_bytes, READ_BATCH)
        else {
            return;
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel(READ_AHEAD);
        let (done_with, done) = std::sync::mpsc::channel();
        if self.read((batches, sender, done)).is_ok()
            && let Ok(mut next) = self.next_file.lock()
        {
            *next = Some(NextFile {
                path: path.clone(),
                batches: receiver,
                done_with,
                stored,
                compressed,
            });
        }
    }

    /// The reading of `log` started behind the file before it, if it read from where `segment`
    /// starts; any other is left (the thread drops it at its next batch).
    fn take_next(&self, log: &TrackingLog, segment: &Segment) -> Option<NextFile> {
        let next = self.next_file.lock().ok()?.take()?;
        let same_file = matches!(&log.origin, source::Origin::File(p) if *p == next.path);
        (same_file && !log.live && *segment == Segment::default()).then_some(next)
    }

    /// Reads `batches` on the thread, sending them to `sender`; gives them back if the thread
    /// has ended.
    fn read(&self, job: ReadingJob) -> Result<(), Box<ReadingJob>> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|e| Box::new(e.0)),
            None => Err(Box::new(job)),
        }
    }
}

impl Drop for ReadingThread {
    fn drop(&mut self) {
        // The thread may be waiting to hand the next file a batch: it leaves it first.
        if let Ok(mut next) = self.next_file.lock() {
            next.take();
        }
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
        let (on_thread, stored, compressed) =
            match self.reading_thread.and_then(|t| t.take_next(log, &segment)) {
                Some(next) => (
                    Ok((next.batches, next.done_with)),
                    next.stored,
                    next.compressed,
                ),
                None => {
                    let batch_lines = match self.reading_thread {
                        Some(_) => READ_BATCH,
                        None => SHORT_READ_BATCH,
                    };
                    let (batches, stored, compressed) =
                        open_batches(log, segment, self.max_line_bytes, batch_lines)?;
                    let on_thread = match self.reading_thread {
                        Some(thread) => {
                            let (sender, receiver) = std::sync::mpsc::sync_channel(READ_AHEAD);
                            // Unbounded, but the reading thread empties it before every batch
                            // it sends, and the transform sends one chunk per CHUNK lines taken.
                            let (done_with, done) = std::sync::mpsc::channel();
                            match thread.read((batches, sender, done)) {
                                Ok(()) => Ok((receiver, done_with)),
                                Err(job) => Err(job.0),
                            }
                        }
                        None => Err(batches),
                    };
                    (on_thread, stored, compressed)
                }
            };
        if let (Some(thread), Some(next), Ok(_)) = (self.reading_thread, self.next, &on_thread) {
            thread.read_next(next, self.max_line_bytes);
        }
        let read = match on_thread {
            Ok((receiver, done_with)) => {
                taker.set_done_with(Some(done_with));
                // The batches end when the thread is done with the file. Returning early drops
                // the receiver, and the thread leaves the file at its next batch.
                let read =
                    self.take_lines(taker, receiver.iter(), log, &segment, &stored, &mut taken);
                taker.set_done_with(None);
                read
            }
            Err(batches) => self.take_lines(taker, batches, log, &segment, &stored, &mut taken),
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

    fn line_numbers(next: NextFile) -> Vec<u64> {
        (next.batches.iter().flatten())
            .map(|line| line.number)
            .collect()
    }

    #[test]
    fn a_file_read_ahead_is_taken_only_by_its_own_turn_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let thread = ReadingThread::start().expect("a reading thread");
        let (a, b) = (old_log(dir.path(), "a", 3), old_log(dir.path(), "b", 1500));
        let limit = 1 << 20;
        thread.read_next(&b, limit);
        assert!(
            thread.take_next(&a, &Segment::default()).is_none(),
            "another file's turn"
        );
        thread.read_next(&b, limit);
        let grown = Segment {
            raw_start: 10,
            first_line: 2,
            decoded_start: 10,
        };
        assert!(
            thread.take_next(&b, &grown).is_none(),
            "the file's new lines after an earlier load"
        );
        let live = TrackingLog {
            live: true,
            ..old_log(dir.path(), "live", 5)
        };
        thread.read_next(&live, limit);
        assert!(
            thread.take_next(&live, &Segment::default()).is_none(),
            "a live file is read in its turn, at its length then"
        );
        thread.read_next(&b, limit);
        let next = (thread.take_next(&b, &Segment::default())).expect("b read ahead");
        assert_eq!(line_numbers(next), (1..=1500).collect::<Vec<u64>>());
        assert!(
            thread.take_next(&b, &Segment::default()).is_none(),
            "taken once"
        );
    }
}
