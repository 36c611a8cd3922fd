//! Differential test (docs/DESIGN.md §5–§6): the same recorded events go through `bucketwarden
//! replay` (the binary) and through a live worker on moto, and both must act on the same things:
//! the set of `(event_id, bucket, key, action)` with action `remediate` or `alert` from replay's
//! transcript equals the set the live worker wrote to its incident table.
//!
//! For every golden scenario in replay-fixtures/ that a live fleet can reproduce, the test builds
//! in moto the world the scenario's events describe — each successful watched call is made
//! through the AWS SDK just before its recorded event is put on the stream, and the next waits
//! until the worker has checkpointed past it (verification reads the world as it was when the
//! event arrived). Bucket names get a per-run prefix and the fixtures' account becomes moto's, in
//! the events and in the configuration alike; replay reads the rewritten files and the fleet's
//! own configuration file, so both sides see the same bytes and the same rules.
//!
//! How the world is built from a recorded history:
//! - a bucket whose history starts mid-way is created first as replay assumes it (docs/DESIGN.md
//!   §5: protections off, grants absent): ObjectWriter ownership, no block, private ACL, no policy;
//! - failed calls (`errorCode`) and unwatched or foreign calls are not made; a repeated `eventID`
//!   is one call delivered twice, so it is made once;
//! - an event older (`eventTime`) than the newest already made for its bucket happened before
//!   it, so it is not made again on top (stale delivery; in the fixtures the newer calls overwrite
//!   the same components);
//! - each call is made as tests/moto_world describes (S3's creation defaults, object copies and
//!   uploads as their finished objects, header grants as the equivalent ACL body).
//!
//! A live worker remediates, replay does not: once the worker has locked a bucket down, later
//! calls of its recorded history (made in a world without bucketwarden) no longer describe S3.
//! A scenario whose replay acts on a bucket or object and later changes it again is therefore
//! run by a dry-run fleet against `replay` with the dry-run configuration (both only alert, so
//! both judge exactly the recorded history); the others run in enforce mode. The choice is made
//! from replay's transcript by `needs_dry_run`, never by hand.
//!
//! Not reproducible on a live fleet on moto, and why (also in `NOT_REPRODUCIBLE`):
//! - 13-account-block-reevaluates-buckets, 14-account-block-without-known-buckets: account-level
//!   PublicAccessBlock calls (S3 Control) in accounts of their own (222233334444, 333344445555).
//!   Made in moto, an account-level block lands on the account the live worker runs in — moto's
//!   default account, shared by every other scenario of this test (run concurrently) and by any
//!   other test using the same moto server — and would change their buckets' exposure. Doing it
//!   needs a private moto server per scenario (or workers in another account), not built here.
//! - 27-access-points: access points (S3 Control, account 444455556666), one created before the
//!   recorded history, so replay's line for it has no bucket: a live worker verifies and fixes
//!   buckets, and has nothing to act on for a line without one.
//! - 40-bucket-name-reused-by-another-account: one name created by two accounts of their own
//!   (555566667777, 666677778888) with an account-level block, for the same reasons as 13 and 14;
//!   the owner rule it shows is a fold rule (`core::fold::tests`), which replay and the live
//!   fleet share.
//!
//! Beyond the fixtures: exemption by tag (23), by name glob (24) and per account (39, in the
//! fixture account made moto's) run with the fleet's exemptions, dry-run by flag (25) and by configuration (26) on the dry-run fleet, and
//! `own_identity_transition_to_public_is_alerted_live_as_in_replay` makes a bucket public from a
//! session of a role in `self_arns` (docs/DESIGN.md §6: alerted with an incident, never skipped).

mod moto_world;
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bucketwarden::worker::lease::Checkpoint;
use moto_world::{apply, create_as_assumed};
use serde_json::{json, Value};
use support::*;

/// Golden scenarios a live fleet on moto cannot reproduce (see the module documentation).
const NOT_REPRODUCIBLE: [(&str, &str); 4] = [
    (
        "13-account-block-reevaluates-buckets",
        "an account-level block in moto would land on the account every other scenario shares",
    ),
    (
        "14-account-block-without-known-buckets",
        "an account-level block in moto would land on the account every other scenario shares",
    ),
    (
        "27-access-points",
        "S3 Control access points in another account; one line has no bucket to verify or fix",
    ),
    (
        "40-bucket-name-reused-by-another-account",
        "one bucket name created by two accounts other than moto's default, with an account-level block",
    ),
];

/// The fixtures' account, rewritten to moto's default account.
const FIXTURE_ACCOUNT: &str = "111122223333";
/// The role whose sessions are bucketwarden's own identity in these tests.
const SELF_ROLE: &str = "bucketwarden-task";
/// How long one event may take from the stream to the worker's checkpoint.
const PER_EVENT: Duration = Duration::from_secs(30);
/// The whole test, bounded.
const WHOLE: Duration = Duration::from_secs(600);

/// One compared action.
type Act = (Option<String>, String, Option<String>, String);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scenario rewritten for this run: its input files (same names and forms as the fixture's,
/// bucket names prefixed, the account made moto's) and the records to put on the stream.
struct Scenario {
    name: String,
    dir: PathBuf,
    /// Each record as it goes on the stream: bytes, and the JSON when it parses.
    records: Vec<(Vec<u8>, Option<Value>)>,
    /// Bucket-name prefix of this scenario's buckets (`<run>fNN-`).
    bucket_prefix: String,
}

/// `fNN-` → `<tag>fNN-` (bucket names), and the fixture account → moto's.
fn rewrite(text: &str, tag: &str) -> String {
    let b = text.as_bytes();
    let mut bytes = Vec::with_capacity(b.len() + 256);
    let mut j = 0;
    while j < b.len() {
        let boundary = j == 0 || !(b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'_');
        if boundary
            && b[j] == b'f'
            && j + 3 < b.len()
            && b[j + 1].is_ascii_digit()
            && b[j + 2].is_ascii_digit()
            && b[j + 3] == b'-'
        {
            bytes.extend_from_slice(tag.as_bytes());
        }
        bytes.push(b[j]);
        j += 1;
    }
    String::from_utf8(bytes)
        .unwrap()
        .replace(FIXTURE_ACCOUNT, ACCOUNT)
}

/// The records of one input text, split as replay would: a log file's `Records`, a JSON array's
/// elements, one JSON document, or JSON Lines (a line that does not parse stays as bytes).
fn split_records(text: &str) -> Vec<(Vec<u8>, Option<Value>)> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let items = match v {
            Value::Object(ref o) if o.contains_key("Records") => {
                v["Records"].as_array().cloned().unwrap_or_default()
            }
            Value::Array(a) => a,
            other => vec![other],
        };
        return items
            .into_iter()
            .map(|r| (serde_json::to_vec(&r).unwrap(), Some(r)))
            .collect();
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| (l.as_bytes().to_vec(), serde_json::from_str(l).ok()))
        .collect()
}

fn load_scenario(fixture: &Path, tag: &str, out: &Path) -> Scenario {
    let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
    let dir = out.join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut records = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events")
        })
        .collect();
    files.sort();
    for f in files {
        let raw = std::fs::read(&f).unwrap();
        let gz = f.to_string_lossy().ends_with(".gz");
        let text = if gz {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(raw).unwrap()
        };
        let text = rewrite(&text, tag);
        let target = dir.join(f.file_name().unwrap());
        if gz {
            let mut e = flate2::write::GzEncoder::new(
                std::fs::File::create(&target).unwrap(),
                flate2::Compression::default(),
            );
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap();
        } else {
            std::fs::write(&target, &text).unwrap();
        }
        records.extend(split_records(&text));
    }
    let number = &name[..2];
    Scenario {
        bucket_prefix: format!("{tag}f{number}-"),
        name,
        dir,
        records,
    }
}

/// The CloudTrail record of a stream record (an EventBridge event's `detail`, or itself).
fn trail(v: &Value) -> &Value {
    if v.get("detail-type").is_some() {
        &v["detail"]
    } else {
        v
    }
}

/// Replay's actions for a scenario directory under a configuration file.
fn replay_acts(dir: &Path, config: &Path) -> (BTreeSet<Act>, Vec<Value>) {
    let out = assert_cmd::Command::new(exe())
        .args(["replay", "--no-progress", "--config"])
        .arg(config)
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "replay {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let acts = lines
        .iter()
        .filter(|l| l["action"] == "remediate" || l["action"] == "alert")
        .map(|l| {
            (
                l["event_id"].as_str().map(str::to_owned),
                l["bucket"].as_str().unwrap_or_default().to_owned(),
                l["key"].as_str().map(str::to_owned),
                l["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (acts, lines)
}

/// Whether the enforce-mode transcript acts on a bucket (or object) and then changes it again:
/// then a live worker's remediation makes the rest of the recorded history describe another
/// world, and only a dry-run comparison judges the same history on both sides.
fn needs_dry_run(lines: &[Value]) -> bool {
    let mut locked_buckets = HashSet::new();
    let mut fixed_objects = HashSet::new();
    for l in lines {
        let bucket = l["bucket"].as_str().unwrap_or_default();
        let key = l["key"].as_str();
        let touches = locked_buckets.contains(bucket)
            || key.is_some_and(|k| fixed_objects.contains(&(bucket, k)));
        if touches {
            let block_or_ownership = l["event_name"]
                .as_str()
                .is_some_and(|n| n.contains("PublicAccessBlock") || n.contains("Ownership"));
            if l["transition"] != "unchanged" || l["action"] != "none" || block_or_ownership {
                return true;
            }
        }
        if l["action"] == "remediate" {
            match key {
                None => {
                    locked_buckets.insert(bucket);
                }
                Some(k) => {
                    fixed_objects.insert((bucket, k));
                }
            }
        }
    }
    false
}

/// The incidents the live worker wrote, as compared actions, by bucket.
async fn live_acts(f: &Fleet) -> BTreeSet<Act> {
    f.incidents()
        .await
        .iter()
        .map(|i| {
            let opt = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
            (opt("eventId"), s(i, "bucket"), opt("key"), s(i, "action"))
        })
        .collect()
}

/// Decimal sequence numbers compared as numbers.
fn seq_at_least(have: &str, want: &str) -> bool {
    (have.len(), have) >= (want.len(), want)
}

/// Waits until the worker has checkpointed `shard` at or past `seq` (the record's effects done).
async fn wait_checkpointed(f: &Fleet, shard: &str, seq: &str) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let done = f.leases().await.iter().any(|l| {
            l.key == shard
                && match &l.checkpoint {
                    Checkpoint::Sequence(s) => seq_at_least(s, seq),
                    Checkpoint::ShardEnd => true,
                    _ => false,
                }
        });
        if done {
            return Ok(());
        }
        if start.elapsed() > PER_EVENT {
            return Err(format!(
                "record {seq} on {shard} not checkpointed in {PER_EVENT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Builds the scenario's world in moto step by step, putting each record on the stream once the
/// world holds its call, and waiting for the worker to finish it before the next.
async fn play_live(f: &Fleet, s: &Scenario) -> Result<(), String> {
    let s3 = &f.clients.s3;
    let mut made_ids = HashSet::new();
    let mut newest: HashMap<String, String> = HashMap::new();
    let mut seen_buckets = HashSet::new();
    for (bytes, parsed) in &s.records {
        let t = parsed.as_ref().map(trail);
        let bucket = t
            .and_then(|t| t["requestParameters"]["bucketName"].as_str())
            .map(str::to_owned);
        if let (Some(t), Some(b)) = (t, &bucket) {
            let watched_s3 = t["eventSource"] == "s3.amazonaws.com"
                && parsed
                    .as_ref()
                    .unwrap()
                    .get("detail-type")
                    .is_none_or(|d| d == "AWS API Call via CloudTrail");
            let failed = t["errorCode"].as_str().is_some_and(|c| !c.is_empty());
            let time = t["eventTime"].as_str().unwrap_or_default().to_owned();
            let repeat = t["eventID"]
                .as_str()
                .is_some_and(|id| !made_ids.insert(id.to_owned()));
            let stale = newest.get(b).is_some_and(|n| time < *n);
            if watched_s3 && !failed && !repeat && !stale {
                if seen_buckets.insert(b.clone()) && t["eventName"] != "CreateBucket" {
                    create_as_assumed(s3, b).await?;
                }
                apply(s3, t).await.map_err(|e| format!("{}: {e}", s.name))?;
                newest.insert(b.clone(), time);
            }
        }
        let key = bucket.unwrap_or_else(|| s.bucket_prefix.clone());
        let (shard, seq) = f.put_raw(&key, bytes.clone()).await;
        wait_checkpointed(f, &shard, &seq)
            .await
            .map_err(|e| format!("{}: {e}", s.name))?;
    }
    Ok(())
}

/// The fleet's configuration, shared verbatim by replay: exemptions of scenarios 23, 24 and 39 (their
/// names rewritten like the buckets), own identity, and dry-run for the dry-run fleet.
fn fleet_toml(tag: &str, dry_run: bool) -> String {
    let mut toml = String::new();
    for fixture in ["23-exemption-by-tag", "24-exemption-by-name-glob"] {
        let c = std::fs::read_to_string(
            root()
                .join("replay-fixtures")
                .join(fixture)
                .join("config.toml"),
        )
        .unwrap();
        toml.push_str(&rewrite(&c, tag).replace("[exemptions]\n", ""));
        toml.push('\n');
    }
    let mut out = format!("[exemptions]\n{toml}\n[remediation]\n");
    if dry_run {
        out.push_str("mode = \"dry-run\"\n");
    }
    out.push_str(&format!(
        "self_arns = [\"arn:aws:iam::{ACCOUNT}:role/{SELF_ROLE}\"]\n"
    ));
    // Scenario 39's per-account exemptions (sub-tables of [exemptions], keyed by the fixture
    // account, which the rewrite makes moto's).
    let per_account = std::fs::read_to_string(
        root()
            .join("replay-fixtures")
            .join("39-exemption-per-account")
            .join("config.toml"),
    )
    .unwrap();
    out.push('\n');
    out.push_str(&rewrite(&per_account, tag));
    out
}

/// A per-run tag for bucket names: lowercase, short, unique on a shared moto.
fn run_tag(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{test}{}{:x}-", std::process::id() % 100_000, nanos % 4096)
}

/// Runs scenarios on one fleet (a few at a time: they touch distinct buckets) and returns, per
/// scenario, replay's actions and the live worker's.
async fn compare_on(
    f: &Fleet,
    scenarios: &[&Scenario],
) -> Vec<(String, BTreeSet<Act>, BTreeSet<Act>)> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let runs = scenarios.iter().map(|s| {
        let gate = gate.clone();
        async move {
            let _permit = gate.acquire().await.unwrap();
            play_live(f, s).await
        }
    });
    for r in futures_util::future::join_all(runs).await {
        if let Err(e) = r {
            panic!(
                "could not play a scenario live: {e}\n{}",
                f.dir.path().display()
            );
        }
    }
    let live = live_acts(f).await;
    scenarios
        .iter()
        .map(|s| {
            let (replay, _) = replay_acts(&s.dir, &f.config_path);
            let live: BTreeSet<Act> = live
                .iter()
                .filter(|a| a.1.starts_with(&s.bucket_prefix))
                .cloned()
                .collect();
            (s.name.clone(), replay, live)
        })
        .collect()
}

fn report(results: &[(String, BTreeSet<Act>, BTreeSet<Act>)]) -> Vec<String> {
    results
        .iter()
        .filter(|(_, r, l)| r != l)
        .map(|(name, r, l)| {
            format!(
                "{name}:\n  replay only: {:?}\n  live only:   {:?}",
                r.difference(l).collect::<Vec<_>>(),
                l.difference(r).collect::<Vec<_>>()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_and_a_live_fleet_act_on_the_same_events_of_every_reproducible_scenario() {
    tokio::time::timeout(WHOLE, async {
        let tag = run_tag("d");
        let enforce = Fleet::new("diff", 2, &fleet_toml(&tag, false)).await;
        let dry = Fleet::new("diffdry", 2, &fleet_toml(&tag, true)).await;
        let mut workers = vec![
            enforce.spawn_worker("enforce", &[]),
            dry.spawn_worker("dry", &[]),
        ];

        let out = tempfile::tempdir().unwrap();
        let skipped: Vec<&str> = NOT_REPRODUCIBLE.iter().map(|(n, _)| *n).collect();
        let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root().join("replay-fixtures"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        fixtures.sort();
        assert!(fixtures.len() >= 35, "{fixtures:?}");
        let scenarios: Vec<Scenario> = fixtures
            .iter()
            .filter(|p| !skipped.contains(&p.file_name().unwrap().to_str().unwrap()))
            .map(|p| load_scenario(p, &tag, out.path()))
            .collect();
        let (mut on_enforce, mut on_dry) = (Vec::new(), Vec::new());
        for s in &scenarios {
            let (_, lines) = replay_acts(&s.dir, &enforce.config_path);
            let dry_by_fixture = ["25-dry-run-flag", "26-dry-run-config"].contains(&s.name.as_str());
            if dry_by_fixture || needs_dry_run(&lines) {
                on_dry.push(s);
            } else {
                on_enforce.push(s);
            }
        }
        // The comparison must have teeth on both fleets.
        assert!(on_enforce.len() >= 10 && on_dry.len() >= 3, "enforce {} dry {}",
            on_enforce.len(), on_dry.len());

        let (a, b) = tokio::join!(compare_on(&enforce, &on_enforce), compare_on(&dry, &on_dry));
        let results: Vec<_> = a.into_iter().chain(b).collect();
        let acted: usize = results.iter().map(|(_, r, _)| r.len()).sum();
        assert!(acted >= 20, "replay acted {acted} times only: {results:?}");
        let diverged = report(&results);
        let mut modes = BTreeMap::new();
        for s in &on_enforce {
            modes.insert(s.name.as_str(), "enforce");
        }
        for s in &on_dry {
            modes.insert(s.name.as_str(), "dry-run");
        }
        eprintln!("differential: {} scenarios compared ({modes:?}), {acted} actions; not reproducible: {NOT_REPRODUCIBLE:?}", results.len());
        assert!(
            diverged.is_empty(),
            "replay and live disagree:\n{}\n\n{}",
            diverged.join("\n"),
            logs(&workers.iter().collect::<Vec<_>>())
        );
        for w in &mut workers {
            w.terminate(Duration::from_secs(10));
        }
    })
    .await
    .expect("the differential test is bounded in time");
}

/// docs/DESIGN.md §6: a transition to public made by bucketwarden's own identity (a session of a
/// role in `self_arns`) means its credentials are misused: alerted, with an incident, live exactly
/// as in replay. Replay decides `alert`; the live worker must record the same incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_identity_transition_to_public_is_alerted_live_as_in_replay() {
    tokio::time::timeout(WHOLE, async {
        let tag = run_tag("o");
        let f = Fleet::new("diffself", 1, &fleet_toml(&tag, false)).await;
        let w = f.spawn_worker("self", &[]);
        let bucket = format!("{tag}f99-self-made");
        let t0 = jiff::Timestamp::now().as_millisecond() - 60_000;
        let at = |s: i64| bucketwarden::core::time::format_millis(t0 + s * 1000);
        let mut create = eventbridge(
            "CreateBucket",
            Some(&bucket),
            json!({"bucketName": bucket, "Host": "s3.us-east-1.amazonaws.com", "x-amz-object-ownership": "ObjectWriter"}),
            &at(0),
            &format!("{tag}create"),
        );
        create["detail"]["requestParameters"]["x-amz-object-ownership"] = json!("ObjectWriter");
        let unblock = eventbridge(
            "DeleteBucketPublicAccessBlock",
            Some(&bucket),
            json!({"bucketName": bucket, "Host": format!("{bucket}.s3.us-east-1.amazonaws.com"), "publicAccessBlock": ""}),
            &at(1),
            &format!("{tag}unblock"),
        );
        let mut public = put_bucket_acl_public(&bucket, &format!("{tag}own-public"), &at(2));
        public["detail"]["userIdentity"] = json!({
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:session",
            "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{SELF_ROLE}/session-1"),
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{ACCOUNT}:role/{SELF_ROLE}"), "accountId": ACCOUNT}}
        });
        let events = [create, unblock, public];

        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("99-own-identity");
        std::fs::create_dir_all(&dir).unwrap();
        let jsonl: String = events.iter().map(|e| format!("{e}\n")).collect();
        std::fs::write(dir.join("events.jsonl"), &jsonl).unwrap();
        let s = Scenario {
            name: "99-own-identity".into(),
            dir: dir.clone(),
            records: split_records(&jsonl),
            bucket_prefix: format!("{tag}f99-"),
        };
        let results = compare_on(&f, &[&s]).await;
        let (_, replay, _) = &results[0];
        assert!(
            replay.iter().any(|a| a.3 == "alert"),
            "replay alerts on its own identity's transition to public: {replay:?}"
        );
        let diverged = report(&results);
        assert!(
            diverged.is_empty(),
            "replay and live disagree on bucketwarden's own identity:\n{}\n\n{}",
            diverged.join("\n"),
            w.log_text()
        );
    })
    .await
    .expect("bounded in time");
}
