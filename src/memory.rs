//! How the process gets its memory: mimalloc as the allocator, glibc's malloc for what a load
//! split over many course databases allocates, and transparent huge pages off.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

use mimalloc::MiMalloc;

/// Whether new memory comes from glibc's malloc rather than mimalloc. Set once, never cleared.
static FROM_SYSTEM: AtomicBool = AtomicBool::new(false);

/// The process's allocator: mimalloc until [`split_loads_allocate_from_system`], glibc's malloc
/// after it. Each block is freed by the allocator that gave it, as mimalloc tells its own blocks
/// from others by address (`mi_is_in_heap_region`).
///
/// The transform allocates and frees many small strings per event; with mimalloc a 1M-event dry
/// run takes about 10% less CPU than with glibc's malloc (`BENCHMARKS.md`, "mimalloc"). A load
/// split over a hundred course databases waits on the server, not on the transform, and there
/// mimalloc's pages made the peak memory two-level: the bench's 5M-event, 100-course split
/// peaked 30–45 MB higher in 4 of 16 runs (306–330 MB against 274–289 MB), with glibc's malloc
/// in none of 15, in the same time (`BENCHMARKS.md`, "A split load allocates from glibc's
/// malloc").
pub struct LoadAllocator;

#[global_allocator]
static GLOBAL: LoadAllocator = LoadAllocator;

// SAFETY: every block comes from mimalloc or from glibc's malloc, and goes back to the one that
// gave it: until the switch every block is mimalloc's; after it, `mi_is_in_heap_region` is true
// exactly for addresses in memory mimalloc holds (its arenas and its segments), which glibc
// cannot hand out. A block handed to another thread is handed with synchronization, so that
// thread sees the switch if the block's allocation came after it.
unsafe impl GlobalAlloc for LoadAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe {
            match FROM_SYSTEM.load(Ordering::Relaxed) {
                true => System.alloc(layout),
                false => MiMalloc.alloc(layout),
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe {
            match FROM_SYSTEM.load(Ordering::Relaxed) {
                true => System.alloc_zeroed(layout),
                false => MiMalloc.alloc_zeroed(layout),
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on to the allocator that gave `ptr`.
        unsafe {
            match FROM_SYSTEM.load(Ordering::Relaxed) && !from_mimalloc(ptr) {
                true => System.dealloc(ptr, layout),
                false => MiMalloc.dealloc(ptr, layout),
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on to the allocator that gave `ptr`; a block
        // moved from one allocator to the other is copied up to the smaller of its two sizes
        // and freed by the one that gave it.
        unsafe {
            if !FROM_SYSTEM.load(Ordering::Relaxed) {
                return MiMalloc.realloc(ptr, layout, new_size);
            }
            if !from_mimalloc(ptr) {
                return System.realloc(ptr, layout, new_size);
            }
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let moved = System.alloc(new_layout);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                MiMalloc.dealloc(ptr, layout);
            }
            moved
        }
    }
}

/// Whether mimalloc gave the block at `ptr`.
fn from_mimalloc(ptr: *const u8) -> bool {
    // SAFETY: only compares the address with the ranges mimalloc holds; nothing is read at it.
    unsafe { libmimalloc_sys::mi_is_in_heap_region(ptr.cast()) }
}

/// Makes every allocation from now on come from glibc's malloc. Called once a load is known to
/// split over course databases, before its threads start.
pub fn split_loads_allocate_from_system() {
    FROM_SYSTEM.store(true, Ordering::Relaxed);
}

/// Turns transparent huge pages off for this process. mimalloc asks for them on its arenas
/// (`MADV_HUGEPAGE`), so every first touch of a 2 MiB region, and every touch after it hands
/// memory back, makes the kernel zero 2 MiB: a 100k-event dry run zeroed gigabytes for a
/// 130 MB peak and spent 20% of its time in `clear_page`. With 4 KiB pages the same run's peak
/// RSS is 38% lower and its system time a sixth (`BENCHMARKS.md`, "Transparent huge pages
/// off"). Process-wide, so it is set by the binary and not in the library.
pub fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_from_before_the_switch_go_back_to_mimalloc_and_grow_into_glibc() {
        // The only test that switches: the other tests of this binary go on allocating from
        // glibc's malloc, as a split load's threads do.
        let before: Vec<u64> = (0..1000).collect();
        let small_before = Box::new(7_u8);
        assert!(from_mimalloc(before.as_ptr().cast()));
        split_loads_allocate_from_system();
        let after: Vec<u64> = (0..1000).collect();
        assert!(!from_mimalloc(after.as_ptr().cast()));
        assert!(from_mimalloc(&*small_before));
        let mut grown = before;
        grown.extend(1000..100_000);
        assert!(!from_mimalloc(grown.as_ptr().cast()));
        assert!(grown.iter().copied().eq(0..100_000));
        drop((grown, after, small_before));
    }
}
