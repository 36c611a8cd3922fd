//! Hostile reads (issue #26, items 1–3): the verification reads of one bucket refused (403
//! AccessDenied, as a bucket policy's explicit Deny answers the remediator's role) or never
//! answered, and DynamoDB throttling every call for a minute. Each hostile input goes first on a
//! one-shard stream, an ordinary bucket made public with an ACL follows it, and the ordinary one
//! must be locked down within 60 s.
//!
//! Every fleet here reads one record per GetRecords call (`max_records = 1`): the hostile record
//! and the ordinary one are then always two batches, as a backlog longer than one batch is in
//! production (a re-read batch handles the events behind the failing one only if they fit in the
//! same call, which hid the stall whenever the backlog was short).
//!
//! What AWS documents, and the tests rely on: for a request within one account, "AWS evaluates
//! all the permissions granted by the policies for at least one Allow within the same account.
//! An explicit deny in any of the policies overrides the allow." (IAM User Guide, "Policy
//! evaluation for requests within a single account"): a Deny in a bucket policy refuses the
//! bucket owner's own remediator role `s3:GetBucketAcl`. Moto does not enforce bucket policies,
//! so the fault proxy answers the refusal as S3 documents it ("Code: AccessDenied Description:
//! Access Denied HTTP Status Code: 403 Forbidden", S3 API Reference, Error responses).

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fault_proxy::{BucketFault, FaultProxy, Rates};
use crate::support::*;

/// The ordinary bucket's bound: locked down this long after its event is on the stream.
const WITHIN: Duration = Duration::from_secs(60);
const LONG: Duration = Duration::from_secs(150);

/// One record per batch (see the module's note). `[fleet]` is the last table the fleet's config
/// opens: its keys follow directly.
const ONE_RECORD_PER_BATCH: &str = "max_records = 1\n";

fn env(endpoint: &str) -> Vec<(&'static str, &str)> {
    vec![("AWS_ENDPOINT_URL", endpoint)]
}

fn ts(offset_s: i64) -> String {
    jiff::Timestamp::from_millisecond(
        jiff::Timestamp::now().as_millisecond() - 600_000 + offset_s * 1000,
    )
    .unwrap()
    .strftime("%Y-%m-%dT%H:%M:%SZ")
    .to_string()
}

/// Sequence numbers are decimal strings of up to 128 bits.
fn seq_at_or_after(checkpoint: &str, sequence: &str) -> bool {
    (checkpoint.len(), checkpoint) >= (sequence.len(), sequence)
}

async fn checkpoint_of(f: &Fleet) -> String {
    f.leases()
        .await
        .first()
        .map(|l| l.checkpoint.as_str().to_owned())
        .unwrap_or_default()
}

/// One series of the worker's `/metrics` (labels as Prometheus prints them), None while it
/// does not answer.
fn metric(port: u16, series: &str) -> Option<f64> {
    let out = Command::new("curl")
        .args(["-fsS", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .ok()?;
    let prefix = format!("{series} ");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str())?.trim().parse().ok())
}

/// The hostile bucket (made public, reads answered with `fault`), then the ordinary one. Returns
/// how long the ordinary bucket took to be locked down after its event was put.
async fn hostile_then_ordinary(
    tag: &str,
    fault: BucketFault,
) -> (Fleet, WorkerProc, FaultProxy, u16, String, String, Duration) {
    let f = Fleet::new(tag, 1, ONE_RECORD_PER_BATCH).await;
    let proxy = FaultProxy::start(&moto().endpoint, 11, Duration::from_secs(3)).await;
    let port = free_port();
    let w = f.spawn_worker_with_metrics("w1", &env(&proxy.endpoint), Some(port));
    wait_for("the shard's lease taken", LONG, || async {
        f.leases_of("w1").await == 1
    })
    .await;
    let hostile = f.bucket("hostile");
    let ordinary = f.bucket("ordinary");
    f.make_public_bucket(&hostile).await;
    f.make_public_bucket(&ordinary).await;
    proxy.fail_bucket_reads(&hostile, fault);
    let (_, hostile_seq) = f
        .put_event("p", &put_bucket_acl_public(&hostile, "ev-hostile", &ts(0)))
        .await;
    // The ordinary record goes on once the worker is busy with the hostile one, so that it is
    // a later batch.
    wait_for(
        "the hostile bucket's reads reached the proxy",
        LONG,
        || async { proxy.bucket_reads_failed(&hostile) > 0 },
    )
    .await;
    f.put_event(
        "p",
        &put_bucket_acl_public(&ordinary, "ev-ordinary", &ts(1)),
    )
    .await;
    let put = Instant::now();
    let start = Instant::now();
    loop {
        if f.block_of(&ordinary).await == Some((true, true, true, true)) {
            break;
        }
        assert!(
            start.elapsed() < WITHIN,
            "the ordinary bucket was not locked down within {WITHIN:?} behind {tag}: checkpoint {}, {}; worker log: {}",
            checkpoint_of(&f).await,
            proxy.report(),
            w.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delay = put.elapsed();
    // The checkpoint moved past the hostile record.
    wait_for("checkpoint past the hostile record", WITHIN, || async {
        seq_at_or_after(&checkpoint_of(&f).await, &hostile_seq)
    })
    .await;
    (f, w, proxy, port, hostile, ordinary, delay)
}

/// The hostile bucket's incident: outcome `unverified`, the AWS error quoted; and its alert.
async fn assert_unverified(f: &Fleet, w: &WorkerProc, hostile: &str, error_has: &str) {
    wait_for(
        "the hostile bucket's unverified incident",
        WITHIN,
        || async {
            f.incidents()
                .await
                .iter()
                .any(|i| s(i, "bucket") == hostile)
        },
    )
    .await;
    let incidents = f.incidents().await;
    let mine: Vec<_> = incidents
        .iter()
        .filter(|i| s(i, "bucket") == hostile)
        .collect();
    assert_eq!(mine.len(), 1, "{incidents:?}");
    assert_eq!(s(mine[0], "outcome"), "unverified", "{:?}", mine[0]);
    let error = s(mine[0], "error");
    assert!(
        error.contains(error_has),
        "the incident carries the AWS error ({error_has}): {error:?}"
    );
    wait_for("the hostile bucket's alert", WITHIN, || async {
        f.alerts()
            .await
            .iter()
            .any(|(_, b)| b["bucket"] == hostile && b["outcome"] == "unverified")
    })
    .await;
    let alerts: Vec<Value> = f
        .alerts()
        .await
        .into_iter()
        .filter(|(_, b)| b["bucket"] == hostile)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "one alert for the parked event: {alerts:?}"
    );
    // The parked record is kept as a dead letter, with why.
    let dead = f.scan(&f.names.dead_letter_table).await;
    assert!(
        dead.iter()
            .any(|d| s(d, "reason").contains("unverified") && s(d, "reason").contains(hostile)),
        "a dead letter for the parked event: {dead:?}; log: {}",
        w.log_text()
    );
    // Never remediated on a read it could not make (`unverified = "alert"`, the default).
    assert_ne!(f.block_of(hostile).await, Some((true, true, true, true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_whose_reads_are_denied_is_parked_unverified_and_the_shard_goes_on() {
    let (f, w, proxy, port, hostile, _ordinary, delay) = hostile_then_ordinary(
        "denied",
        BucketFault::Error {
            status: 403,
            code: "AccessDenied",
        },
    )
    .await;
    println!(
        "denied reads: ordinary bucket locked down {:.1} s after its event was put; {}",
        delay.as_secs_f64(),
        proxy.report()
    );
    assert_unverified(&f, &w, &hostile, "AccessDenied").await;
    let parked = metric(
        port,
        "bucketwarden_parked_total{step=\"verify\",reason=\"denied\"}",
    );
    assert_eq!(parked, Some(1.0), "the parked metric");
    // Reads are not retried forever: a handful, never hundreds.
    let reads = proxy.bucket_reads_failed(&hostile);
    assert!(reads < 20, "{reads} refused reads of the hostile bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_whose_reads_never_answer_delays_its_shard_by_the_retry_budget_at_most() {
    let (f, w, proxy, port, hostile, _ordinary, delay) =
        hostile_then_ordinary("hung", BucketFault::Hang).await;
    println!(
        "hung reads: ordinary bucket locked down {:.1} s after its event was put (bound {} s, retry budget 30 s); {}",
        delay.as_secs_f64(),
        WITHIN.as_secs(),
        proxy.report()
    );
    assert_unverified(&f, &w, &hostile, "").await;
    let parked = metric(
        port,
        "bucketwarden_parked_total{step=\"verify\",reason=\"timeout\"}",
    );
    assert_eq!(parked, Some(1.0), "the parked metric");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_throttling_every_call_for_a_minute_loses_nothing_and_parks_nothing() {
    let f = Fleet::new("ddbthrottle", 1, ONE_RECORD_PER_BATCH).await;
    let proxy = FaultProxy::start(&moto().endpoint, 12, Duration::from_secs(3)).await;
    let w = f.spawn_worker("w1", &env(&proxy.endpoint));
    wait_for("the shard's lease taken", LONG, || async {
        f.leases_of("w1").await == 1
    })
    .await;
    proxy.set_rates(
        "dynamodb",
        Rates {
            throttle: 1.0,
            ..Rates::default()
        },
    );
    let throttled = Instant::now();
    let mut buckets = Vec::new();
    let mut ids = HashSet::new();
    for (i, name) in ["first", "second"].into_iter().enumerate() {
        let b = f.bucket(name);
        f.make_public_bucket(&b).await;
        let id = format!("ev-throttled-{i}");
        f.put_event("p", &put_bucket_acl_public(&b, &id, &ts(i as i64)))
            .await;
        buckets.push(b);
        ids.insert(id);
    }
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(throttled.elapsed())).await;
    proxy.clear_rates();
    let cleared = Instant::now();
    f.wait_all_blocked(
        "both buckets locked down after the throttling",
        &buckets,
        WITHIN,
    )
    .await;
    println!(
        "dynamodb throttled 60 s: both buckets locked down {:.1} s after it cleared; {}",
        cleared.elapsed().as_secs_f64(),
        proxy.report()
    );
    wait_for("every event id done", WITHIN, || async {
        let done = dedup_status(&f).await;
        ids.iter()
            .all(|id| done.get(id).map(String::as_str) == Some("done"))
    })
    .await;
    // Nothing parked: an outage of the fleet's own table is waited out, never dead-lettered.
    let incidents = f.incidents().await;
    assert!(
        incidents.iter().all(|i| s(i, "outcome") == "remediated"),
        "{incidents:?}; log: {}",
        w.log_text()
    );
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    let dead = f.scan(&f.names.dead_letter_table).await;
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    assert!(
        proxy.injected_total(crate::support::fault_proxy::Fault::Throttle) > 0,
        "{}",
        proxy.report()
    );
}

/// A record whose own state item DynamoDB refuses every time (`ValidationException`, as for an
/// item over 400 KB: "Item size has exceeded the maximum allowed size", DynamoDB API Reference)
/// is the item's failure, not the fleet's: it is parked (a `failed` incident of its own with the
/// error, an alert, a dead letter, the metric) and the shard goes on. The refusal names the
/// state table and the bucket, so nothing else is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_state_dynamodb_refuses_every_time_is_parked_and_the_shard_goes_on() {
    let f = Fleet::new("refused", 1, ONE_RECORD_PER_BATCH).await;
    let proxy = FaultProxy::start(&moto().endpoint, 13, Duration::from_secs(3)).await;
    let port = free_port();
    let w = f.spawn_worker_with_metrics("w1", &env(&proxy.endpoint), Some(port));
    wait_for("the shard's lease taken", LONG, || async {
        f.leases_of("w1").await == 1
    })
    .await;
    let hostile = f.bucket("hostile");
    let ordinary = f.bucket("ordinary");
    f.make_public_bucket(&hostile).await;
    f.make_public_bucket(&ordinary).await;
    proxy.refuse_requests_containing(
        "dynamodb",
        &[&f.names.state_table, &hostile],
        400,
        "com.amazonaws.dynamodb.v20120810#ValidationException",
    );
    let (_, hostile_seq) = f
        .put_event("p", &put_bucket_acl_public(&hostile, "ev-hostile", &ts(0)))
        .await;
    f.put_event(
        "p",
        &put_bucket_acl_public(&ordinary, "ev-ordinary", &ts(1)),
    )
    .await;
    let took = wait_for("the ordinary bucket locked down", WITHIN, || async {
        f.block_of(&ordinary).await == Some((true, true, true, true))
    })
    .await;
    println!(
        "refused state item: ordinary bucket locked down {:.1} s after the events were put; {} refusals; {}",
        took.as_secs_f64(),
        proxy.refused(),
        proxy.report()
    );
    wait_for("checkpoint past the hostile record", WITHIN, || async {
        seq_at_or_after(&checkpoint_of(&f).await, &hostile_seq)
    })
    .await;
    wait_for("the parked incident", WITHIN, || async {
        f.incidents()
            .await
            .iter()
            .any(|i| s(i, "incidentId").ends_with(":parked"))
    })
    .await;
    let incidents = f.incidents().await;
    let parked: Vec<_> = incidents
        .iter()
        .filter(|i| s(i, "incidentId").ends_with(":parked"))
        .collect();
    assert_eq!(parked.len(), 1, "{incidents:?}");
    assert_eq!(s(parked[0], "bucket"), hostile);
    assert_eq!(s(parked[0], "outcome"), "failed");
    assert!(
        s(parked[0], "error").contains("ValidationException"),
        "{:?}",
        parked[0]
    );
    wait_for("the parked event's alert", WITHIN, || async {
        f.alerts()
            .await
            .iter()
            .any(|(_, b)| b["bucket"] == hostile && b["outcome"] == "failed")
    })
    .await;
    let dead = f.scan(&f.names.dead_letter_table).await;
    assert!(
        dead.iter()
            .any(|d| s(d, "reason").contains("failed") && s(d, "reason").contains(&hostile)),
        "a dead letter for the parked event: {dead:?}; log: {}",
        w.log_text()
    );
    assert_eq!(
        metric(
            port,
            "bucketwarden_parked_total{step=\"event\",reason=\"error\"}"
        ),
        Some(1.0),
        "the parked metric"
    );
    assert!(proxy.refused() > 0);
    // The refusal first meets the batch's own state load (`prefetch`), outside any event: the
    // shard's bound on re-reads took the batch one record at a time and parked that record.
    assert!(
        w.log_text().contains("taking its records one at a time"),
        "the batch-level bound was exercised"
    );
}

/// `[remediation] unverified = "remediate"`: a bucket whose reads are denied but whose record
/// shows it becoming public is fixed on that evidence (writes still reach S3 here: only the
/// reads are refused), and the incident still says the read failed and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_unverified_remediate_a_denied_bucket_is_fixed_on_the_records_evidence() {
    let toml = format!("{ONE_RECORD_PER_BATCH}\n[remediation]\nunverified = \"remediate\"\n");
    let f = Fleet::new("evidence", 1, &toml).await;
    let proxy = FaultProxy::start(&moto().endpoint, 14, Duration::from_secs(3)).await;
    let w = f.spawn_worker("w1", &env(&proxy.endpoint));
    let hostile = f.bucket("hostile");
    f.make_public_bucket(&hostile).await;
    proxy.fail_bucket_reads(
        &hostile,
        BucketFault::Error {
            status: 403,
            code: "AccessDenied",
        },
    );
    f.put_event("p", &put_bucket_acl_public(&hostile, "ev-hostile", &ts(0)))
        .await;
    let took = wait_for(
        "the denied bucket locked down on evidence",
        WITHIN,
        || async { f.block_of(&hostile).await == Some((true, true, true, true)) },
    )
    .await;
    println!(
        "unverified = remediate: denied bucket locked down {:.1} s after its event; {}",
        took.as_secs_f64(),
        proxy.report()
    );
    wait_for("its incident", WITHIN, || async {
        f.incidents()
            .await
            .iter()
            .any(|i| s(i, "bucket") == hostile && s(i, "outcome") == "remediated")
    })
    .await;
    let incidents = f.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let error = s(&incidents[0], "error");
    assert!(
        error.starts_with("unverified: ") && error.contains("AccessDenied"),
        "the incident says the read failed: {error:?}; log: {}",
        w.log_text()
    );
    wait_for("its alert", WITHIN, || async {
        f.alerts()
            .await
            .iter()
            .any(|(_, b)| b["bucket"] == hostile && b["outcome"] == "remediated")
    })
    .await;
    // Fixed, not parked: no dead letter.
    assert!(f.scan(&f.names.dead_letter_table).await.is_empty());
}
