//! How the process gets its memory: mimalloc as the allocator, with transparent huge pages off.

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
