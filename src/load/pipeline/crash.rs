//! Points where tests make the process crash (`MOOCDB_CRASH_AT=<point>:<n>`).

use std::sync::atomic::{AtomicU64, Ordering};

/// A test hook: with `MOOCDB_CRASH_AT=<point>[:<n>]` the process aborts (as abruptly as
/// SIGKILL: no cleanup, no flush) the n-th time (default first) it reaches `point`. Used by the
/// crash tests; never set in normal use.
pub(super) fn crash_point(point: &str) {
    static HITS: AtomicU64 = AtomicU64::new(0);
    if let Some((p, n)) = spec()
        && p == point
        && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *n
    {
        // A panic instead of an abort shows what a bug's panic would print (tests check that it
        // never carries the password).
        if std::env::var("MOOCDB_CRASH_WITH").as_deref() == Ok("panic") {
            panic!("test crash at {point}");
        }
        std::process::abort();
    }
}

/// Whether `MOOCDB_CRASH_AT` names `point`: the load then takes the way to it even where timing
/// would decide (an event waits for its course database however soon that is ready), so that a
/// crash test does not depend on the machine's speed.
pub(super) fn crash_armed(point: &str) -> bool {
    spec().as_ref().is_some_and(|(p, _)| p == point)
}

/// The point and count `MOOCDB_CRASH_AT` names, if it is set.
fn spec() -> &'static Option<(String, u64)> {
    static SPEC: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let v = std::env::var("MOOCDB_CRASH_AT").ok()?;
        let (p, n) = v.split_once(':').unwrap_or((v.as_str(), "1"));
        Some((p.to_string(), n.parse().unwrap_or(1)))
    })
}
