//! Row buffers handed back once their statement ran, for the next batches.
//!
//! A batch is a few MiB; allocating each one fresh made the kernel zero new pages for every
//! batch, the largest single cost in a profile of a load (about 15% of the loader's time).
//! Writers give buffers back here and the row buffers take them. At most [`KEPT`] are kept, so
//! the memory held is bounded by the batch size.

use std::sync::Mutex;

/// Buffers kept at most.
const KEPT: usize = 8;

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer, reused if one is spare, else new with `capacity`.
pub fn take(capacity: usize) -> Vec<u8> {
    let spare = SPARE.lock().map(|mut s| s.pop()).unwrap_or(None);
    match spare {
        Some(mut b) => {
            b.reserve(capacity);
            b
        }
        None => Vec::with_capacity(capacity),
    }
}

/// Hands a buffer back once its rows are sent.
pub fn give(mut buffer: Vec<u8>) {
    buffer.clear();
    if buffer.capacity() == 0 {
        return;
    }
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
        let mut b = take(1024);
        b.extend_from_slice(b"rows");
        give(b);
        let b = take(4096);
        assert!(b.is_empty());
        assert!(b.capacity() >= 4096);
    }
}
