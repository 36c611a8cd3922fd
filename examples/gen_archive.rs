//! Generates a deterministic, org-shaped CloudTrail archive for the replay benchmark: the records
//! of gen_trail (about 10% watched S3 writes) spread round-robin over ACCOUNTS x REGIONS streams
//! and cut into one gzip file per stream and 5-minute delivery window, in CloudTrail's layout
//! `AWSLogs/o-bench00001/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz`.
//!
//! usage: gen_archive OUT_DIR [RECORDS=1000000] [BUCKETS=10000] [SEED=42] [ACCOUNTS=4] [REGIONS=2]
//!        [OTHER_S3_PERCENT=30]
//!
//! The mix is 10% watched S3 calls, OTHER_S3_PERCENT% other S3 calls (reads, writes without an
//! ACL, listings), the rest other services. Two shapes are benchmarked (scripts/bench-replay.sh):
//! the project's (`1000000 10000 42 4 2 30`: 4 accounts x 2 regions, ~2,200 files) and issue
//! #27's (`1036800 6000 42 3 3 54`: 3 accounts x 3 regions x 288 files of 400 records, 10% / 54% /
//! 36%, 6,000 buckets).

#[allow(dead_code)]
#[path = "gen_trail.rs"]
mod gen_trail;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use gen_trail::Rng;

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"];
const START: u64 = 1_714_521_600; // 2024-05-01T00:00:00Z, as gen_trail's times.

struct Open {
    window: u64,
    path: PathBuf,
    w: GzEncoder<BufWriter<File>>,
    first: bool,
}

fn file_path(out: &Path, account: &str, region: &str, window: u64, id: u64) -> PathBuf {
    let t = jiff::Timestamp::from_second(window as i64).expect("time");
    out.join(format!(
        "AWSLogs/o-bench00001/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{id:016X}.json.gz",
        t.strftime("%Y/%m/%d"),
        t.strftime("%Y%m%dT%H%MZ")
    ))
}

fn close(o: Open) -> std::io::Result<()> {
    let mut w = o.w;
    w.write_all(b"]}")?;
    w.finish()?.flush()?;
    let _ = o.path;
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(
        args.get(1)
            .expect("usage: gen_archive OUT_DIR [RECORDS] [BUCKETS] [SEED] [ACCOUNTS] [REGIONS] [OTHER_S3_PERCENT]"),
    );
    let num = |i: usize, d: u64| -> u64 {
        args.get(i)
            .map(|s| s.parse().expect("a number"))
            .unwrap_or(d)
    };
    let (records, buckets, seed) = (num(2, 1_000_000), num(3, 10_000), num(4, 42));
    let (accounts, regions) = (num(5, 4).max(1), num(6, 2).clamp(1, REGIONS.len() as u64));
    let other_s3 = num(7, 30).min(90);
    let streams: Vec<(String, &str)> = (0..accounts)
        .flat_map(|a| {
            (0..regions).map(move |r| {
                (
                    format!("{:012}", 100_000_000_001 + a * 111),
                    REGIONS[r as usize],
                )
            })
        })
        .collect();
    let mut r = Rng(seed);
    let mut ids = Rng(seed ^ 0x5EED);
    let mut open: Vec<Option<Open>> = streams.iter().map(|_| None).collect();
    let mut files = 0u64;
    for i in 0..records {
        let s = (i % streams.len() as u64) as usize;
        // Delivered at the end of the 5-minute window holding the record's eventTime (gen_trail
        // spaces records i/12 seconds apart).
        let secs = START + i / 12;
        let window = (secs / 300 + 1) * 300;
        if open[s].as_ref().is_none_or(|o| o.window != window) {
            if let Some(o) = open[s].take() {
                close(o)?;
            }
            let (account, region) = &streams[s];
            let path = file_path(&out, account, region, window, ids.below(u64::MAX));
            std::fs::create_dir_all(path.parent().expect("parent"))?;
            let mut w = GzEncoder::new(BufWriter::new(File::create(&path)?), Compression::new(6));
            w.write_all(b"{\"Records\":[")?;
            open[s] = Some(Open {
                window,
                path,
                w,
                first: true,
            });
            files += 1;
        }
        let o = open[s].as_mut().expect("open");
        if !o.first {
            o.w.write_all(b",")?;
        }
        o.first = false;
        let rec = match r.below(100) {
            0..=9 => gen_trail::watched(&mut r, i, buckets),
            p if p < 10 + other_s3 => gen_trail::read_or_noise(&mut r, i, buckets),
            _ => gen_trail::other_record(&mut r, i),
        };
        o.w.write_all(rec.as_bytes())?;
    }
    for o in open.into_iter().flatten() {
        close(o)?;
    }
    eprintln!("{files} files, {records} records under {}", out.display());
    Ok(())
}
