//! Seeded corpus replay of the fuzz targets (reliability issue #6, item 3), runnable on stable Rust
//! in CI: every file of fuzz/corpus/ through both entry points of `bucketwarden::fuzz_entry`, then
//! a bounded, deterministic mutation loop (byte flips, inserts, deletions, truncations, splices of
//! corpus files, JSON-ish tokens) through them. libFuzzer itself is run by hand
//! (docs/RELIABILITY.md, "Fuzzing"); crashes it finds become named regression tests here.

use std::path::{Path, PathBuf};

use bucketwarden::fuzz_entry;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "a seed corpus for {target}: {files:?}");
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_corpus_file_passes_both_entry_points() {
    for target in ["parse_input", "policy"] {
        for (path, bytes) in corpus(target) {
            // Both targets see both corpora: a log file is a fine "policy" and vice versa.
            fuzz_entry::parse_input(&bytes);
            fuzz_entry::policy(&bytes);
            let _ = path;
        }
    }
}

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that steer mutations toward the scanner's and the parsers' edge cases.
const TOKENS: [&[u8]; 18] = [
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"\n",
    b",",
    b":",
    b"{\"Records\":[",
    b"\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":",
    b"\"eventSource\":\"s3.amazonaws.com\",",
    b"\"Principal\":\"*\"",
    b"\"x-amz-acl\":[\"public-read\"]",
    b"\xef\xbb\xbf",
    b"\x1f\x8b",
    b"\xff\xfe",
    b"\\u0000",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64)) + 1;
                input.drain(i..i + n);
            }
            3 => input.truncate(rng.below(len + 1)),
            4 => {
                // Splice: a piece of another seed at a random place.
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = a + rng.below(other.len() - a) + 1;
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[a..b].iter().copied());
                }
            }
            5 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, t.iter().copied());
            }
            _ if len > 1 => {
                // Duplicate a run: repeated records, nested brackets.
                let a = rng.below(len);
                let b = (a + rng.below(256) + 1).min(len);
                let run = input[a..b].to_vec();
                input.splice(b..b, run);
            }
            _ => {}
        }
    }
}

fn mutation_loop(target: &str, seed: u64, iterations: usize, entry: fn(&[u8])) {
    let seeds: Vec<Vec<u8>> = corpus(target).into_iter().map(|(_, b)| b).collect();
    let mut rng = Rng(seed);
    let mut input = Vec::new();
    for i in 0..iterations {
        // Mostly keep mutating the current input (to wander far from the seeds), sometimes restart.
        if i % 16 == 0 || input.len() > 256 * 1024 {
            input = seeds[rng.below(seeds.len())].clone();
        }
        mutate(&mut rng, &seeds, &mut input);
        let caught = std::panic::catch_unwind(|| entry(&input));
        if caught.is_err() {
            let out = std::env::temp_dir().join(format!("bucketwarden-fuzz-{target}-{seed}-{i}"));
            std::fs::write(&out, &input).unwrap();
            panic!(
                "{target}: iteration {i} (seed {seed:#x}) panicked; input saved to {}",
                out.display()
            );
        }
    }
}

/// 20,000 iterations per target, deterministic: the same inputs on every run and machine.
#[test]
fn seeded_mutations_of_the_parse_input_corpus() {
    mutation_loop("parse_input", 0x6275_636b_6574_7761, 20_000, |d| {
        fuzz_entry::parse_input(d)
    });
}

#[test]
fn seeded_mutations_of_the_policy_corpus() {
    mutation_loop("policy", 0x7761_7264_656e_0001, 20_000, fuzz_entry::policy);
}
