//! Replaying CloudTrail archives in CloudTrail's layout, from a local directory and from S3
//! (moto, through a loopback proxy that logs every request): the transcript does not depend on
//! how the files are split or where they sit, nor on --jobs; it equals replaying the same events
//! as one plain file in eventTime order; filters prune the S3 listing and the downloads; a bad
//! object is reported with its key and the rest is replayed.
//!
//! AWS (CloudTrail log file name format): "The YYYY, MM, DD, HH, and mm are the digits of the
//! year, month, day, hour, and minute when the log file was delivered … A log file delivered at a
//! specific time can contain records written at any point before that time."

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::fault_proxy::FaultProxy;

const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const ORG: &str = "o-test123";
/// 2024-05-01T00:30:00Z
const T0: i64 = 1_714_523_400_000;

struct Ev {
    account: &'static str,
    region: &'static str,
    time_ms: i64,
    record: Value,
}

fn stamp(ms: i64, fmt: &str) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime(fmt)
        .to_string()
}

/// 240 watched events over ~6.5 hours, distinct eventTimes, spread over 3 accounts and 2
/// regions, on 5 shared bucket names whose public/private state flips, so order changes lines.
fn events() -> Vec<Ev> {
    (0..240i64)
        .map(|k| {
            let account = ACCOUNTS[(k % 3) as usize];
            let region = REGIONS[((k / 3) % 2) as usize];
            let time_ms = T0 + k * 97_000;
            let b = format!("arch-bucket-{}", k % 5);
            let host = format!("{b}.s3.{region}.amazonaws.com");
            let (name, params) = match (k / 5) % 4 {
                0 => (
                    "PutBucketAcl",
                    json!({"bucketName": b, "Host": host, "acl": [""], "x-amz-acl": ["public-read"]}),
                ),
                1 => (
                    "DeleteBucketPublicAccessBlock",
                    json!({"publicAccessBlock": "", "bucketName": b, "Host": host}),
                ),
                2 => (
                    "PutBucketAcl",
                    json!({"bucketName": b, "Host": host, "acl": [""], "x-amz-acl": ["private"]}),
                ),
                _ => (
                    "PutBucketPublicAccessBlock",
                    json!({"publicAccessBlock": "", "bucketName": b, "Host": host, "PublicAccessBlockConfiguration": {"RestrictPublicBuckets": k % 2 == 0, "BlockPublicPolicy": true, "BlockPublicAcls": true, "IgnorePublicAcls": k % 2 == 0}}),
                ),
            };
            let mut record = support::eventbridge(
                name,
                Some(&b),
                params,
                &stamp(time_ms, "%Y-%m-%dT%H:%M:%SZ"),
                &format!("ev-{k:04}"),
            )["detail"]
                .clone();
            record["recipientAccountId"] = json!(account);
            record["awsRegion"] = json!(region);
            record["userIdentity"]["accountId"] = json!(account);
            Ev {
                account,
                region,
                time_ms,
                record,
            }
        })
        .collect()
}

fn key(account: &str, region: &str, window_ms: i64, id: &str) -> String {
    format!(
        "AWSLogs/{ORG}/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{id}.json.gz",
        stamp(window_ms, "%Y/%m/%d"),
        stamp(window_ms, "%Y%m%dT%H%MZ")
    )
}

fn gz(records: &[&Value]) -> Vec<u8> {
    let body = json!({"Records": records}).to_string();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// 2024-05-01T23:55:00Z: a delivery time after every event.
const LATE_WINDOW: i64 = 1_714_607_700_000;
const HOUR: i64 = 3_600_000;

/// All events in one file, newest first (order inside a file must not matter either).
fn split_one(evs: &[Ev]) -> Vec<(String, Vec<u8>)> {
    let recs: Vec<&Value> = evs.iter().rev().map(|e| &e.record).collect();
    vec![(
        key(ACCOUNTS[0], REGIONS[0], LATE_WINDOW, "ALLINONEFILE0000"),
        gz(&recs),
    )]
}

/// One file per account and region, all delivered at the same late time.
fn split_per_region(evs: &[Ev]) -> Vec<(String, Vec<u8>)> {
    let mut groups: BTreeMap<(&str, &str), Vec<&Value>> = BTreeMap::new();
    for e in evs {
        groups
            .entry((e.account, e.region))
            .or_default()
            .push(&e.record);
    }
    groups
        .into_iter()
        .map(|((a, r), recs)| (key(a, r, LATE_WINDOW, "PERREGION0000000"), gz(&recs)))
        .collect()
}

/// One file per account, region and hour, delivered at the end of the hour (day directories
/// follow the delivery time).
fn split_per_hour(evs: &[Ev]) -> Vec<(String, Vec<u8>)> {
    let mut groups: BTreeMap<(&str, &str, i64), Vec<&Value>> = BTreeMap::new();
    for e in evs {
        let window = (e.time_ms / HOUR + 1) * HOUR;
        groups
            .entry((e.account, e.region, window))
            .or_default()
            .push(&e.record);
    }
    groups
        .into_iter()
        .map(|((a, r, w), recs)| (key(a, r, w, "PERHOUR000000000"), gz(&recs)))
        .collect()
}

fn write_tree(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (k, bytes) in files {
        let p = dir.join(k);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// The same events as one plain file (outside the layout, so read as given) in eventTime order.
fn plain_sorted(dir: &Path, evs: &[&Ev]) -> std::path::PathBuf {
    let mut sorted: Vec<&&Ev> = evs.iter().collect();
    sorted.sort_by_key(|e| e.time_ms);
    let p = dir.join("sorted.jsonl");
    let text: String = sorted.iter().map(|e| format!("{}\n", e.record)).collect();
    std::fs::write(&p, text).unwrap();
    p
}

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

fn replay(args: &[&str], endpoint: Option<&str>) -> Run {
    let mut cmd = Command::new(support::exe());
    cmd.arg("replay").arg("--no-progress").args(args);
    if let Some(ep) = endpoint {
        for (k, v) in support::aws_env() {
            cmd.env(k, v);
        }
        cmd.env("AWS_ENDPOINT_URL", ep);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(r: &Run) -> &[u8] {
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    &r.stdout
}

#[test]
fn three_splits_one_transcript_in_event_time_order() {
    let evs = events();
    let d = tempfile::tempdir().unwrap();
    let mut transcripts = Vec::new();
    for (name, files) in [
        ("one", split_one(&evs)),
        ("per-region", split_per_region(&evs)),
        ("per-hour", split_per_hour(&evs)),
    ] {
        let dir = d.path().join(name);
        write_tree(&dir, &files);
        let r = replay(&["--jobs", "2", dir.to_str().unwrap()], None);
        assert!(r.stderr.contains("240 records"), "{name}: {}", r.stderr);
        transcripts.push((name, ok(&r).to_vec()));
    }
    let all: Vec<&Ev> = evs.iter().collect();
    let plain = plain_sorted(d.path(), &all);
    let want = replay(&[plain.to_str().unwrap()], None);
    let want = ok(&want);
    assert!(want.len() > 240 * 50, "too short a transcript");
    for (name, t) in &transcripts {
        assert!(
            t == want,
            "{name}: transcript differs from the eventTime-ordered one\n{}",
            String::from_utf8_lossy(t)
        );
    }
    // And order matters here: the events in file order give a different transcript.
    let unsorted = d.path().join("unsorted.jsonl");
    let text: String = evs
        .iter()
        .rev()
        .map(|e| format!("{}\n", e.record))
        .collect();
    std::fs::write(&unsorted, text).unwrap();
    let other = replay(&[unsorted.to_str().unwrap()], None);
    assert_ne!(ok(&other), want, "the test events do not depend on order");
}

#[test]
fn local_filters_and_jobs() {
    let evs = events();
    let d = tempfile::tempdir().unwrap();
    write_tree(d.path(), &split_per_hour(&evs));
    let root = d.path().to_str().unwrap();
    let filters = [
        "--accounts",
        "111111111111,333333333333",
        "--regions",
        "us-east-1",
        "--since",
        "2024-05-01T02:00:00Z",
        "--until",
        "2024-05-01T04:00",
    ];
    let serial = replay(&[&filters[..], &["--jobs", "1", root]].concat(), None);
    let parallel = replay(&[&filters[..], &["--jobs", "4", root]].concat(), None);
    assert_eq!(ok(&serial), ok(&parallel), "--jobs changed the transcript");
    // Files delivered 02:00, 03:00 and 04:00 hold the events of 01:00 to 04:00.
    let from = 1_714_525_200_000; // 01:00
    let to = from + 3 * HOUR;
    let selected: Vec<&Ev> = evs
        .iter()
        .filter(|e| {
            e.account != ACCOUNTS[1]
                && e.region == "us-east-1"
                && e.time_ms >= from
                && e.time_ms < to
        })
        .collect();
    assert!(selected.len() > 10);
    let plain = plain_sorted(&d.path().join(".."), &selected);
    let want = replay(&[plain.to_str().unwrap()], None);
    assert_eq!(ok(&serial), ok(&want));
    assert!(
        serial
            .stderr
            .contains(&format!("{} records", selected.len())),
        "{}",
        serial.stderr
    );
    // Bad filter values are usage errors naming the value.
    for (flag, value) in [
        ("--since", "2024-02-30"),
        ("--accounts", "12345"),
        ("--account-shard", "3/3"),
        ("--regions", "Mars"),
    ] {
        let r = replay(&[flag, value, root], None);
        assert_eq!(r.code, Some(2), "{flag} {value}: {}", r.stderr);
        assert!(r.stderr.contains(value), "{flag} {value}: {}", r.stderr);
    }
}

/// Percent-decoded value of `name` in a logged request's query.
fn query_param(line: &str, name: &str) -> Option<String> {
    let q = line.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.replace("%2F", "/").replace("%2f", "/"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_archive_equals_local_prunes_listing_and_reports_bad_objects() {
    let evs = events();
    let mut files = split_per_hour(&evs);
    // A damaged log file (a gzip header, then junk) and a digest file, which is not a log file.
    let bad_key = key(ACCOUNTS[1], REGIONS[0], T0 + 2 * HOUR, "DAMAGED000000000");
    let mut bad = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff];
    bad.extend_from_slice(b"this is not deflate data at all");
    files.push((bad_key.clone(), bad));
    files.push((
        format!("AWSLogs/{ORG}/{}/CloudTrail-Digest/us-east-1/2024/05/01/{}_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T0100Z.json.gz", ACCOUNTS[0], ACCOUNTS[0]),
        gz(&[]),
    ));
    let d = tempfile::tempdir().unwrap();
    let local = d.path().join("trail");
    write_tree(&local, &files);

    let clients = support::clients().await;
    let bucket = format!("archive-{}", std::process::id());
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    for (k, bytes) in &files {
        clients
            .s3
            .put_object()
            .bucket(&bucket)
            .key(format!("trail/{k}"))
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
    }
    let proxy = FaultProxy::start(
        &support::moto().endpoint,
        1,
        std::time::Duration::from_secs(1),
    )
    .await;
    let url = format!("s3://{bucket}/trail/");
    let log_files = files.iter().filter(|(k, _)| !k.contains("Digest")).count();

    // Unfiltered: S3 == local, parallel == serial, the damaged object named, the rest replayed.
    let (s3_par, s3_ser, loc) = tokio::task::spawn_blocking({
        let (url, ep, local) = (url.clone(), proxy.endpoint.clone(), local.clone());
        move || {
            (
                replay(&["--jobs", "4", &url], Some(&ep)),
                replay(&["--jobs", "1", &url], Some(&ep)),
                replay(&["--jobs", "2", local.to_str().unwrap()], None),
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(ok(&s3_par), ok(&loc), "S3 and local transcripts differ");
    assert_eq!(ok(&s3_ser), ok(&loc), "--jobs changed the S3 transcript");
    let bad_id = format!("s3://{bucket}/trail/{bad_key}");
    assert!(
        s3_par.stderr.contains(&format!("malformed: {bad_id}"))
            && s3_par.stderr.contains("corrupt or truncated gzip"),
        "{}",
        s3_par.stderr
    );
    assert!(s3_par.stderr.contains("240 S3 events"), "{}", s3_par.stderr);
    assert!(
        s3_par.stderr.contains("1 non-log object"),
        "{}",
        s3_par.stderr
    );
    let log = proxy.log();
    let gets = log
        .iter()
        .filter(|l| l.starts_with("s3 GET") && l.contains("x-id=GetObject"))
        .count();
    assert_eq!(
        gets,
        2 * log_files,
        "one GetObject per log file and run: {log:#?}"
    );

    // Filtered: only account 2's us-east-1 region is listed, from the first selected day, and
    // only the selected files are fetched.
    let before = proxy.log().len();
    let filters = [
        "--accounts",
        ACCOUNTS[1],
        "--regions",
        "us-east-1",
        "--since",
        "2024-05-01T02:00:00Z",
        "--until",
        "2024-05-01T04:00:00Z",
    ];
    let (s3_f, loc_f) = tokio::task::spawn_blocking({
        let (url, ep, local) = (url.clone(), proxy.endpoint.clone(), local.clone());
        move || {
            (
                replay(&[&filters[..], &["--jobs", "3", &url]].concat(), Some(&ep)),
                replay(&[&filters[..], &[local.to_str().unwrap()]].concat(), None),
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(
        ok(&s3_f),
        ok(&loc_f),
        "filtered S3 and local transcripts differ"
    );
    let log: Vec<String> = proxy.log()[before..].to_vec();
    let region_prefix = format!("trail/AWSLogs/{ORG}/{}/CloudTrail/us-east-1/", ACCOUNTS[1]);
    let lists: Vec<&String> = log.iter().filter(|l| l.contains("list-type=2")).collect();
    let prefixes: Vec<String> = lists
        .iter()
        .map(|l| query_param(l, "prefix").unwrap_or_default())
        .collect();
    assert_eq!(
        prefixes,
        vec![
            "trail/".to_owned(),
            "trail/AWSLogs/".into(),
            region_prefix.clone()
        ],
        "{log:#?}"
    );
    assert_eq!(
        query_param(lists[2], "start-after").as_deref(),
        Some(format!("{region_prefix}2024/05/01").as_str())
    );
    let want: Vec<&String> = files
        .iter()
        .map(|(k, _)| k)
        .filter(|k| {
            k.contains(&format!("/{}/CloudTrail/us-east-1/", ACCOUNTS[1]))
                && ["T0200Z", "T0230Z", "T0300Z", "T0400Z"]
                    .iter()
                    .any(|t| k.contains(t))
        })
        .collect();
    let got_gets: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("x-id=GetObject"))
        .collect();
    assert_eq!(got_gets.len(), want.len(), "{log:#?}");
    assert!(want.len() >= 2);
    // The damaged file (delivered 02:30) is among them and reported again.
    assert!(want.contains(&&bad_key));
    assert!(s3_f.stderr.contains(&bad_id), "{}", s3_f.stderr);
    assert!(
        s3_f.stderr.contains("ListObjectsV2 3, GetObject"),
        "{}",
        s3_f.stderr
    );
}

/// AWS (CloudTrail log file name format): "CloudTrail uses the following file name format for the
/// log file objects that it delivers to your Amazon S3 bucket:
/// AccountID_CloudTrail_RegionName_YYYYMMDDTHHmmZ_UniqueString.FileNameFormat". The name alone
/// carries account, region and delivery time, so the same files give the same transcript in
/// CloudTrail's layout, copied into one flat directory, or spread over any directories; and the
/// filters select them by name wherever they lie.
#[test]
fn a_log_file_is_known_by_its_name_wherever_it_lies() {
    let evs = events();
    let d = tempfile::tempdir().unwrap();
    let files = split_per_hour(&evs);
    assert!(files.len() > 30, "too few files to tell orders apart");
    let name_of = |k: &str| k.rsplit('/').next().unwrap().to_owned();
    let layout = d.path().join("layout");
    write_tree(&layout, &files);
    // One flat directory: path order is account, region, then time; not delivery order.
    let flat_files: Vec<(String, Vec<u8>)> =
        files.iter().map(|(k, b)| (name_of(k), b.clone())).collect();
    let flat = d.path().join("flat");
    write_tree(&flat, &flat_files);
    // Any other spread: directories that say nothing of account, region or day, some deeper.
    let spread_files: Vec<(String, Vec<u8>)> = files
        .iter()
        .enumerate()
        .map(|(i, (k, b))| {
            let dir = match i % 3 {
                0 => "zz/later".to_owned(),
                1 => format!("aa/{}", i % 5),
                _ => "mm".to_owned(),
            };
            (format!("{dir}/{}", name_of(k)), b.clone())
        })
        .collect();
    let spread = d.path().join("spread");
    write_tree(&spread, &spread_files);

    let run = |args: &[&str], dir: &Path| {
        let r = replay(&[args, &[dir.to_str().unwrap()]].concat(), None);
        (r.code, r.stdout.clone(), r.stderr.clone())
    };
    let want = run(&["--jobs", "2"], &layout);
    assert_eq!(want.0, Some(0), "{}", want.2);
    assert!(want.1.len() > 240 * 50, "too short a transcript");
    for (name, dir) in [("flat", &flat), ("spread", &spread)] {
        for jobs in ["1", "2"] {
            let got = run(&["--jobs", jobs], dir);
            assert_eq!(got.0, Some(0), "{name}: {}", got.2);
            assert!(got.2.contains("240 records"), "{name}: {}", got.2);
            assert!(
                got.1 == want.1,
                "{name} --jobs {jobs}: transcript differs from the layout's"
            );
        }
    }
    // Filters select by the name too, with the same result as on the layout.
    let filters = [
        "--accounts",
        "111111111111,333333333333",
        "--regions",
        "us-east-1",
        "--since",
        "2024-05-01T02:00:00Z",
        "--until",
        "2024-05-01T04:00",
    ];
    let want = run(&filters, &layout);
    assert_eq!(want.0, Some(0), "{}", want.2);
    assert!(want.1.len() > 10 * 50, "the filters left too little");
    for (name, dir) in [("flat", &flat), ("spread", &spread)] {
        let got = run(&filters, dir);
        assert_eq!(got.0, Some(0), "{name}: {}", got.2);
        assert!(got.1 == want.1, "{name}: filtered transcript differs");
    }
    let shard = run(&["--account-shard", "1/2"], &flat);
    let want = run(&["--account-shard", "1/2"], &layout);
    assert_eq!((shard.0, &shard.1), (Some(0), &want.1), "{}", shard.2);
    assert!(!want.1.is_empty());
    // A file whose name is not CloudTrail's is read first, in path order, as before: beside the
    // flat files it comes before them all.
    let first = evs.iter().max_by_key(|e| e.time_ms).unwrap();
    std::fs::write(flat.join("zzz-extra.json"), first.record.to_string()).unwrap();
    let with_extra = run(&[], &flat);
    assert_eq!(with_extra.0, Some(0), "{}", with_extra.2);
    assert!(with_extra.2.contains("241 records"), "{}", with_extra.2);
    let t = String::from_utf8_lossy(&with_extra.1);
    let first_line = t.lines().next().unwrap();
    assert!(
        first_line.contains(first.record["eventID"].as_str().unwrap()),
        "the plain file was not read first: {first_line}"
    );
}
