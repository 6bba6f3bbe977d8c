//! How the process gets its memory: mimalloc as the allocator, with transparent huge pages off,
//! and freed memory given back at once in a load split over many course databases.

// The transform allocates and frees many small strings per event; mimalloc does that in a
// fraction of glibc's time (`BENCHMARKS.md`, "mimalloc").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// mimalloc's number for its purge delay option (`mi_option_purge_delay` in the `mimalloc.h` of
/// the pinned `libmimalloc-sys`; a test checks it against the option's default).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc give freed memory back to the system after 1 ms instead of a second. A load
/// split over a hundred course databases sends many small row buffers of a hundred transforms,
/// each freed on a writer's thread, and the memory mimalloc kept for that second raised its peak
/// RSS from 271 to 293 MiB (1M events of 100 courses; `BENCHMARKS.md`, "One database per
/// course"). A load into one database keeps the default: there the change cost a 1M-event dry
/// run 0.3 s of system time for 6 MiB.
pub fn purge_freed_memory_promptly() {
    // SAFETY: sets one of mimalloc's integer options; any value is valid for this one.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_has_the_number_mimalloc_gives_it() {
        // mimalloc's default purge delay is a second: another option at this number would say
        // otherwise (none of the others defaults to 1000).
        // SAFETY: reads one of mimalloc's integer options.
        let value = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(
            value, 1000,
            "option {PURGE_DELAY} is not mimalloc's purge delay"
        );
    }
}
