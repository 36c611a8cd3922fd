//! Fuzz target: bytes as a bucket policy document through the policy analysis.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bucketwarden::fuzz_entry::policy(data));
