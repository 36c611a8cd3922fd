//! Bounded state benchmark (issue #26): the events of many buckets through one worker's fold and
//! state layers, in-process, with the peak RSS of this process; and the item sizes of a bucket
//! with 100,000 public objects. Run by `scripts/bench-state.sh`, which starts one process per
//! mode so each mode's peak RSS is its own.
//!
//! usage: state_memory MODE [BUCKETS=1000000] [WORKING_SET=50000] [PASSES=3]
//!   MODE `unbounded`: today's fold before this change, every bucket kept (the baseline).
//!   MODE `bounded`: the worker's working set (`core::fold::WorkingSet`): after each batch of
//!        1,000 events the changed buckets are saved and the least recently used beyond the
//!        working set evicted; an event of an evicted bucket reloads it first (a miss).
//!   MODE `items`: item sizes of a 100,000-object bucket, the old layout (one item) beside the
//!        new (the bucket's item and its largest object item).
//!
//! What stands in for what: the events are typed `S3Event`s built here (parsing is not what is
//! measured); the state table is a file of fixed 2 KB slots, one per bucket, holding the JSON the
//! store writes (`serde_json` of `BucketState`) — on disk, so it costs the process no memory, as
//! DynamoDB costs the worker none. The worker's Kinesis, dedup and S3 round trips are not run.
//! Each bucket gets PASSES events (CreateBucket, DeleteBucketPublicAccessBlock, PutBucketAcl
//! public-read; with 2 passes CreateBucket and PutBucketAcl) in passes over all buckets, so in
//! `bounded` mode every event after the first pass is a miss: the worst order for an LRU
//! (cyclic), reported as such.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use bucketwarden::core::acl::Acl;
use bucketwarden::core::change::Change;
use bucketwarden::core::fold::Transition;
use bucketwarden::core::fold::{BucketState, Stamped, WorkingSet};
use bucketwarden::core::pipeline::Pipeline;
use bucketwarden::core::record::{EventName, S3Event};

const SLOT: usize = 2048;
const BATCH: usize = 1_000;

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn bucket_name(i: usize) -> String {
    format!("bench-bucket-{i:07}")
}

fn event(i: usize, pass: usize, passes: usize) -> S3Event {
    let t = 1_700_000_000_000 + (pass as i64) * 10_000_000 + i as i64;
    let (name, change) = match pass {
        0 => (
            EventName::CreateBucket,
            Change::CreateBucket {
                acl: None,
                ownership: Some(bucketwarden::core::exposure::Ownership::ObjectWriter),
            },
        ),
        1 if passes > 2 => (
            EventName::DeleteBucketPublicAccessBlock,
            Change::DeleteBucketBlock,
        ),
        _ => (
            EventName::PutBucketAcl,
            Change::BucketAcl(Acl::from_canned("public-read").unwrap()),
        ),
    };
    S3Event {
        event_id: Some(format!("{pass}-{i}")),
        event_time: bucketwarden::core::time::format_millis(t),
        time_ms: t,
        event_name: name,
        // 100 accounts, as an organization's buckets spread over its members.
        account: format!("{:012}", 100_000_000_000u64 + (i % 100) as u64),
        region: "us-east-1".into(),
        bucket: Some(bucket_name(i)),
        key: None,
        actor_arn: None,
        source_ip: None,
        user_agent: None,
        error_code: None,
        change: Some(change),
        oddities: Vec::new(),
    }
}

/// The state-table stand-in: slot `i` holds bucket `i`'s JSON, zero-padded.
struct SlotFile {
    file: File,
}

impl SlotFile {
    fn save(&self, i: usize, state: &BucketState) {
        let mut json = serde_json::to_vec(state).unwrap();
        assert!(json.len() < SLOT, "state of {} bytes", json.len());
        json.resize(SLOT, 0);
        self.file.write_all_at(&json, (i * SLOT) as u64).unwrap();
    }

    fn load(&self, i: usize) -> Option<BucketState> {
        let mut buf = vec![0u8; SLOT];
        self.file.read_exact_at(&mut buf, (i * SLOT) as u64).ok()?;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(SLOT);
        if end == 0 {
            return None;
        }
        Some(serde_json::from_slice(&buf[..end]).unwrap())
    }
}

fn index_of(name: &str) -> usize {
    name.trim_start_matches("bench-bucket-").parse().unwrap()
}

fn run(bounded: bool, buckets: usize, capacity: usize, passes: usize) {
    let config = bucketwarden::config::Config::default();
    let mut p = Pipeline::new_live(&config).unwrap();
    let path =
        std::env::temp_dir().join(format!("bucketwarden-bench-state-{}", std::process::id()));
    let store = SlotFile {
        file: std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap(),
    };
    let _ = std::fs::remove_file(&path); // unlinked: gone when the process ends
    let mut working = WorkingSet::new(capacity);
    let (mut misses, mut evicted, mut became_public, mut lines) = (0u64, 0u64, 0u64, 0u64);
    let mut dirty: Vec<usize> = Vec::with_capacity(BATCH);
    let start = Instant::now();
    let mut events = 0u64;
    for pass in 0..passes {
        for i in 0..buckets {
            let ev = event(i, pass, passes);
            let name = ev.bucket.clone().unwrap();
            if bounded {
                if p.fold().bucket_state(&name).is_none() {
                    if let Some(state) = store.load(i) {
                        misses += 1;
                        p.fold_mut().load_bucket(&name, state);
                    }
                }
                working.pin(&name);
                dirty.push(i);
            }
            for line in p.apply(&ev) {
                lines += 1;
                if line.transition == Transition::BecamePublic {
                    became_public += 1;
                }
            }
            events += 1;
            if bounded && dirty.len() == BATCH {
                // The batch's persist: save what it changed, then evict beyond the working set.
                for &d in &dirty {
                    let n = bucket_name(d);
                    if let Some(s) = p.fold().bucket_state(&n) {
                        store.save(d, s);
                    }
                    working.unpin(&n);
                }
                dirty.clear();
                for gone in working.evict() {
                    debug_assert!(index_of(&gone) < buckets);
                    p.fold_mut().evict_bucket(&gone);
                    evicted += 1;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "mode={} buckets={buckets} passes={passes} working_set={} events={events} lines={lines} became_public={became_public} \
         misses={misses} evicted={evicted} buckets_in_memory={} seconds={secs:.1} events_per_s={:.0} peak_rss_mb={:.1}",
        if bounded { "bounded" } else { "unbounded" },
        if bounded { capacity.to_string() } else { "-".into() },
        p.fold().bucket_count(),
        events as f64 / secs,
        peak_rss_kb() as f64 / 1024.0
    );
}

fn items() {
    let mut state = BucketState {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        ..BucketState::default()
    };
    let public = Acl::from_canned("public-read").unwrap();
    for (len, label) in [
        (40usize, "40-byte keys"),
        (1024, "1,024-byte keys (S3's maximum)"),
    ] {
        state.objects.clear();
        for i in 0..100_000 {
            let key = format!("{i:07}{}", "k".repeat(len - 7));
            state.objects.insert(
                key,
                Stamped {
                    value: public,
                    at: 1_700_000_000_000 + i,
                    live: false,
                },
            );
        }
        let old = serde_json::to_string(&state).unwrap().len();
        let (bucket, largest_object) =
            bucketwarden::aws::state_store::item_sizes("bench-bucket", &state).unwrap();
        println!(
            "items: 100,000 public objects, {label}: old layout one item of {:.1} MB ({}x the 400 KB limit); \
             new layout bucket item {bucket} B, largest object item {largest_object} B, 100,000 object items",
            old as f64 / 1e6,
            old / (400 * 1024)
        );
    }
    let _ = std::io::stdout().flush();
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    // `cargo test --benches` (scripts/test.sh) runs this with no arguments: a smoke run of both
    // fold modes over a few thousand buckets, in seconds. The figures come from
    // scripts/bench-state.sh, which always names a mode (a million buckets take minutes).
    if args.is_empty() {
        run(false, 2_000, 500, 2);
        run(true, 2_000, 500, 2);
        return;
    }
    let mode = args[0].as_str();
    let buckets = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let capacity = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let passes = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3);
    match mode {
        "unbounded" => run(false, buckets, capacity, passes),
        "bounded" => run(true, buckets, capacity, passes),
        "items" => items(),
        m => panic!("unknown mode {m}: unbounded | bounded | items"),
    }
}
