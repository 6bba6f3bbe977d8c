//! How fast the reading stages alone go on one log: the floor under `moocdb load --dry-run`.
//!
//! Two passes over the same file, each timed: (1) decompress and split lines (`source`);
//! (2) the same, then `decode` and `parse` every line into an event, as the loader's reading
//! thread does. No relations, no MOOCdb, no encoding. BENCHMARKS.md uses it to tell how much of a
//! one-core dry run the reading stages take by themselves.
//!
//! ```text
//! cargo run --release --example stage_floor -- LOG.gz
//! taskset -c 0 target/release/examples/stage_floor LOG.gz
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use moocdb_loader::decode::{Decoded, decode};
use moocdb_loader::parse::TrackingEvent;
use moocdb_loader::source;

fn main() -> anyhow::Result<()> {
    let path: PathBuf = match std::env::args_os().nth(1) {
        Some(p) => p.into(),
        None => bail!("usage: stage_floor <tracking log>"),
    };
    let logs = source::discover(std::slice::from_ref(&path))
        .with_context(|| format!("reading {}", path.display()))?;
    let [log] = logs.as_slice() else {
        bail!("{}: give one tracking log file", path.display());
    };
    const MAX_LINE: usize = 64 << 20;

    let started = Instant::now();
    let mut reader = log.open(MAX_LINE)?;
    let (mut lines, mut bytes) = (0u64, 0u64);
    while let Some(line) = reader.next_line()? {
        lines += 1;
        bytes += line.bytes.len() as u64;
    }
    report("read lines", lines, started);

    let started = Instant::now();
    let mut reader = log.open(MAX_LINE)?;
    let (mut events, mut other) = (0u64, 0u64);
    while let Some(line) = reader.next_line()? {
        match decode(line.bytes) {
            Decoded::Json(json) => match TrackingEvent::parse(json) {
                Ok(event) => {
                    events += 1;
                    std::hint::black_box(event);
                }
                Err(_) => other += 1,
            },
            _ => other += 1,
        }
    }
    report("read and parse events", events + other, started);
    println!("{lines} lines, {bytes} bytes decompressed, {events} events, {other} other lines");
    Ok(())
}

fn report(what: &str, lines: u64, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{what:<22} {seconds:8.2} s  {:>9.0} lines/s",
        lines as f64 / seconds
    );
}
