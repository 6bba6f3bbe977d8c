//! Arbitrary bytes as the content of one tracking log file (plain or gzip, JSON lines or a
//! pretty-printed document): source → decode → parse → relations → moocdb, as `--dry-run` runs it.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| common::check(data));
