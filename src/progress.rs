//! Progress reporting: a bar on a terminal (bytes, lines, events/s, ETA), periodic plain log lines
//! otherwise, nothing when quiet.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on a terminal, log lines every 10 s otherwise.
    Auto,
    /// Nothing.
    Quiet,
}

struct Inner {
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Mutex<Instant>,
    total: AtomicU64,
    bytes: AtomicU64,
    lines: AtomicU64,
    events: AtomicU64,
    plain: bool,
}

/// A shared progress reporter.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
    /// Whether bytes and lines count here: a split load's course databases count only their
    /// events, the files being read and counted once, by the split.
    counts_reading: bool,
}

impl Progress {
    /// A reporter for the given mode (a bar only when stderr is a terminal).
    pub fn new(mode: ProgressMode) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {msg} ETA {eta}",
                )
                .expect("progress template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            inner: Arc::new(Inner {
                bar,
                started: Instant::now(),
                last_log: Mutex::new(Instant::now()),
                total: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                lines: AtomicU64::new(0),
                events: AtomicU64::new(0),
                plain: mode == ProgressMode::Auto && !terminal,
            }),
            counts_reading: true,
        }
    }

    /// The reporter of a course database of a split load: its events are counted here, the
    /// bytes and lines of the files only by the split itself.
    pub fn for_course_database(&self) -> Progress {
        Progress {
            inner: self.inner.clone(),
            counts_reading: false,
        }
    }

    /// Sets the total bytes to read (sizes on disk).
    pub fn set_total(&self, bytes: u64) {
        self.inner.total.store(bytes, Ordering::Relaxed);
        if let Some(bar) = &self.inner.bar {
            bar.set_length(bytes);
        }
    }

    /// Counts a file that was skipped as done.
    pub fn add_done_bytes(&self, bytes: u64) {
        self.add(bytes, 0, 0);
    }

    /// Adds bytes read from storage, lines and events.
    pub fn add(&self, bytes: u64, lines: u64, events: u64) {
        let (bytes, lines) = if self.counts_reading {
            (bytes, lines)
        } else {
            (0, 0)
        };
        let i = &self.inner;
        i.bytes.fetch_add(bytes, Ordering::Relaxed);
        i.lines.fetch_add(lines, Ordering::Relaxed);
        i.events.fetch_add(events, Ordering::Relaxed);
        if bytes == 0 && lines == 0 {
            return;
        }
        let elapsed = i.started.elapsed().as_secs_f64().max(1e-3);
        let events = i.events.load(Ordering::Relaxed);
        let lines = i.lines.load(Ordering::Relaxed);
        if let Some(bar) = &i.bar {
            bar.set_position(i.bytes.load(Ordering::Relaxed));
            bar.set_message(format!(
                "{lines} lines, {:.0} events/s",
                events as f64 / elapsed
            ));
        } else if i.plain {
            let mut last = i.last_log.lock().expect("progress lock");
            if last.elapsed() >= Duration::from_secs(10) {
                *last = Instant::now();
                let total = i.total.load(Ordering::Relaxed);
                let done = i.bytes.load(Ordering::Relaxed);
                let percent = if total > 0 {
                    100.0 * done as f64 / total as f64
                } else {
                    0.0
                };
                tracing::info!(
                    "progress: {percent:.1}% of {total} bytes, {lines} lines, {events} events, {:.0} events/s",
                    events as f64 / elapsed
                );
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.inner.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_course_database_counts_its_events_and_not_the_files_read_again() {
        let split = Progress::new(ProgressMode::Quiet);
        let course = split.for_course_database();
        split.add(1000, 10, 2);
        course.add(1000, 10, 5);
        course.add_done_bytes(500);
        let i = &split.inner;
        assert_eq!(i.bytes.load(Ordering::Relaxed), 1000);
        assert_eq!(i.lines.load(Ordering::Relaxed), 10);
        assert_eq!(i.events.load(Ordering::Relaxed), 7);
    }
}
