//! Arbitrary bytes inside a JSON array document (`[` on the first line), so that every input takes
//! the pretty-printed-document path (`load_document`): seeds are single events, which the `[`…`]`
//! around them turns into a valid document the fuzzer then damages.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut document = Vec::with_capacity(data.len() + 4);
    document.extend_from_slice(b"[\n");
    document.extend_from_slice(data);
    document.extend_from_slice(b"\n]");
    common::check(&document);
});
