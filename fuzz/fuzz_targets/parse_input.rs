//! Fuzz target: raw bytes through every input form of the replay reader and the pipeline.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bucketwarden::fuzz_entry::parse_input(data));
