//! What both targets share: one runtime for the whole fuzzing process, the load options, and the
//! checks every input must pass.

use std::sync::LazyLock;

use moocdb_loader::load::{LoadOptions, dry_run_bytes};

/// Built once: a runtime per input would dominate the time of an execution.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
});

/// Loads `bytes` as one file in a dry run and checks what must hold for any input: the load
/// succeeds (bad lines are rejects, never errors; `max_bad_ratio` is 1 so that a file of garbage is
/// not a failed load) and every line is accounted for.
pub fn check(bytes: &[u8]) {
    let options = LoadOptions {
        max_bad_ratio: 1.0,
        // Small enough that the fuzzer reaches the overlong-line path (-max_len is 16 KiB).
        max_line_bytes: 8 << 10,
        ..LoadOptions::default()
    };
    let summary = match RUNTIME.block_on(dry_run_bytes(bytes, options)) {
        Ok(summary) => summary,
        Err(e) => panic!("a dry run failed instead of rejecting lines: {e}"),
    };
    assert_eq!(
        summary.lines,
        summary.events + summary.rejected + summary.duplicates + summary.skipped,
        "lines = events + rejected + duplicates + skipped: {summary:?}"
    );
}
