//! Row buffers handed back once their statement ran, for the next batches.
//!
//! A batch is a few MiB; allocating each one fresh made the kernel zero new pages for every
//! batch, the largest single cost in a profile of a load (about 15% of the loader's time).
//! Writers give buffers back here and the row buffers take them. At most [`KEPT`] are kept, so
//! the memory held is bounded by the batch size.

use std::sync::Mutex;

/// Buffers kept at most.
const KEPT: usize = 8;
/// Smaller buffers are left to the allocator.
const MIN_KEPT: usize = 256 << 10;

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer of at least `capacity`, reused if one is spare, else new. (A smaller spare
/// buffer is not grown: growing copies into fresh pages, the very cost this avoids.)
pub fn take(capacity: usize) -> Vec<u8> {
    let spare = SPARE.lock().ok().and_then(|mut s| {
        let i = s.iter().position(|b| b.capacity() >= capacity)?;
        Some(s.swap_remove(i))
    });
    spare.unwrap_or_else(|| Vec::with_capacity(capacity))
}

/// Hands a buffer back once its rows are sent. Small ones (a small table's last rows) are not
/// worth keeping.
pub fn give(mut buffer: Vec<u8>) {
    if buffer.capacity() < MIN_KEPT {
        return;
    }
    buffer.clear();
    if let Ok(mut spare) = SPARE.lock()
        && spare.len() < KEPT
    {
        spare.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_with_room() {
        let mut b = take(MIN_KEPT);
        b.extend_from_slice(b"rows");
        give(b);
        let b = take(MIN_KEPT);
        assert!(b.is_empty());
        assert!(b.capacity() >= MIN_KEPT);
        assert!(take(4 * MIN_KEPT).capacity() >= 4 * MIN_KEPT);
    }
}
