//! Row buffers handed back once their statement ran, for the next batches.
//!
//! A batch is a few MiB; allocating each one fresh made the kernel zero new pages for every
//! batch, the largest single cost in a profile of a load (about 15% of the loader's time).
//! Writers give buffers back here and the row buffers take them. At most [`KEPT`] are kept, so
//! the memory held is bounded by the batch size. None is kept until one has been taken: the row
//! buffers of a load split over course databases grow from nothing and never take one, and the
//! buffers kept for nothing were 14–16 MiB of such a load's peak RSS (1M events of 100 courses:
//! 265–268 against 251–252 MiB, `BENCHMARKS.md`, "One database per course").

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Buffers kept at most.
const KEPT: usize = 8;
/// Smaller buffers are left to the allocator.
const MIN_KEPT: usize = 256 << 10;

/// The buffers kept, and whether one has been asked for.
struct Spare {
    buffers: Mutex<Vec<Vec<u8>>>,
    taken: AtomicBool,
}

static SPARE: Spare = Spare::new();

/// An empty buffer of at least `capacity`, reused if one is spare, else new. (A smaller spare
/// buffer is not grown: growing copies into fresh pages, the very cost this avoids.) A small
/// buffer is left to the allocator, as it is when given back.
pub fn take(capacity: usize) -> Vec<u8> {
    SPARE.take(capacity)
}

/// Hands a buffer back once its rows are sent. Small ones (a small table's last rows) are not
/// worth keeping, nor any before a buffer has been asked for.
pub fn give(buffer: Vec<u8>) {
    SPARE.give(buffer)
}

impl Spare {
    const fn new() -> Spare {
        Spare {
            buffers: Mutex::new(Vec::new()),
            taken: AtomicBool::new(false),
        }
    }

    fn take(&self, capacity: usize) -> Vec<u8> {
        if capacity < MIN_KEPT {
            return Vec::with_capacity(capacity);
        }
        self.taken.store(true, Ordering::Relaxed);
        let spare = self.buffers.lock().ok().and_then(|mut s| {
            let i = s.iter().position(|b| b.capacity() >= capacity)?;
            Some(s.swap_remove(i))
        });
        spare.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    fn give(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() < MIN_KEPT || !self.taken.load(Ordering::Relaxed) {
            return;
        }
        buffer.clear();
        if let Ok(mut spare) = self.buffers.lock()
            && spare.len() < KEPT
        {
            spare.push(buffer);
        }
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.buffers.lock().map_or(0, |b| b.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_with_room() {
        let spare = Spare::new();
        let mut b = spare.take(MIN_KEPT);
        b.extend_from_slice(b"rows");
        spare.give(b);
        assert_eq!(spare.kept(), 1);
        let b = spare.take(MIN_KEPT);
        assert!(b.is_empty());
        assert!(b.capacity() >= MIN_KEPT);
        assert!(spare.take(4 * MIN_KEPT).capacity() >= 4 * MIN_KEPT);
    }

    #[test]
    fn no_buffer_is_kept_until_one_is_asked_for() {
        let spare = Spare::new();
        spare.give(spare.take(MIN_KEPT - 1));
        spare.give(Vec::with_capacity(MIN_KEPT));
        assert_eq!(
            spare.kept(),
            0,
            "a load whose row buffers grow never takes one"
        );
        spare.give(spare.take(MIN_KEPT));
        spare.give(Vec::with_capacity(MIN_KEPT));
        assert_eq!(spare.kept(), 2);
        spare.give(Vec::with_capacity(MIN_KEPT - 1));
        assert_eq!(spare.kept(), 2, "small buffers are left to the allocator");
    }
}
