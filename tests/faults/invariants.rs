//! The invariants every fault scenario asserts (a room of `faults`): exactly once per public
//! transition (incidents and SNS messages counted), every event id `done`, the final state equal
//! to a replay of the same events; and the fleet set-up the scenarios share (worker environment,
//! network fault rates, waiting for leases and exits).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::support::fault_proxy::{FaultProxy, Rates};
use super::support::*;
use bucketwarden::aws::state_store::StateStore;
use bucketwarden::config::Config;
use bucketwarden::core::decision::Action;
use bucketwarden::core::fold::{Closed, Settlement};
use bucketwarden::core::pipeline::{Pipeline, Processed};
use serde_json::Value;

pub(super) const LONG: Duration = Duration::from_secs(120);
/// The fleets' failover time (tests/support writes `failover_ms = 3000`).
pub(super) const FAILOVER: Duration = Duration::from_secs(3);

pub(super) fn ts(base: i64, offset_s: i64) -> String {
    jiff::Timestamp::from_millisecond(base + offset_s * 1000)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(super) fn base_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond() - 3_600_000
}

/// Puts a public transition for a freshly opened bucket; returns the event.
pub(super) async fn open_and_report(f: &Fleet, bucket: &str, event_id: &str, at: &str) -> Value {
    f.make_public_bucket(bucket).await;
    let ev = put_bucket_acl_public(bucket, event_id, at);
    f.put_event(bucket, &ev).await;
    ev
}

/// The exactly-once and nothing-lost invariants over `buckets` (one public transition each) and
/// `event_ids` (every record put, duplicates included).
pub(super) async fn assert_exactly_once(
    f: &Fleet,
    buckets: &[String],
    event_ids: &HashSet<String>,
    workers: &[&WorkerProc],
) {
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let mut open = Vec::new();
        for b in buckets {
            if f.block_of(b).await != Some((true, true, true, true)) {
                open.push(b.clone());
            }
        }
        if open.is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "after {LONG:?}, buckets still not blocked: {open:?}; worker logs: {}",
                keep_logs(workers)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_for("one incident per transition", LONG, || async {
        f.incidents().await.len() >= buckets.len()
    })
    .await;
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let d = dedup_status(f).await;
        let mut open: Vec<String> = event_ids
            .iter()
            .filter(|e| d.get(*e).map(String::as_str) != Some("done"))
            .map(|e| format!("{e}={}", d.get(e).map_or("missing", String::as_str)))
            .collect();
        if open.is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            open.sort();
            panic!(
                "after {LONG:?}, event ids not done in the dedup table: {open:?}; worker logs: {}",
                keep_logs(workers)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Late duplicates would show up here.
    tokio::time::sleep(Duration::from_secs(4)).await;
    // An alert whose publish failed under the faults is owed, not lost: the workers' outbox sends
    // it once SNS answers (docs/RELIABILITY.md, the alert outbox). Every alert must end sent and
    // recorded; the counts below then hold it to one message each.
    wait_for(
        "every owed alert sent and recorded by the outbox",
        LONG,
        || async {
            f.incidents()
                .await
                .iter()
                .all(|i| i.contains_key("alertedAt") && !i.contains_key("alertOwed"))
        },
    )
    .await;
    let incidents = f.incidents().await;
    let per_bucket: HashMap<String, usize> = incidents.iter().fold(HashMap::new(), |mut m, i| {
        *m.entry(s(i, "bucket")).or_default() += 1;
        m
    });
    assert_eq!(
        incidents.len(),
        buckets.len(),
        "incidents per bucket {per_bucket:?}\n{}",
        logs(workers)
    );
    for b in buckets {
        assert_eq!(per_bucket.get(b), Some(&1), "{b}: {per_bucket:?}");
    }
    for i in &incidents {
        assert_eq!(s(i, "outcome"), "remediated", "{i:?}");
        // Sent and recorded: an alert without its mark would be sent again by a retried batch.
        assert!(i.contains_key("alertedAt"), "alert not recorded: {i:?}");
    }
    let alerts = f.alert_deliveries().await;
    let alerted: HashMap<String, usize> = alerts.iter().fold(HashMap::new(), |mut m, (b, _)| {
        *m.entry(b["bucket"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
        m
    });
    let wrong: Vec<&String> = buckets
        .iter()
        .filter(|b| alerted.get(*b) != Some(&1))
        .collect();
    assert!(
        alerts.len() == buckets.len() && wrong.is_empty(),
        "one SNS message per incident: {} messages for {} incidents; {}",
        alerts.len(),
        buckets.len(),
        explain_alerts(&alerts, &wrong, workers)
    );
}

/// For each bucket alerted other than once: every message for it (body and delivery: two SNS
/// message ids are two publishes, one id twice is one message delivered twice) and every worker
/// log line naming its incident; the full logs are kept in a file.
pub(super) fn explain_alerts(
    alerts: &[(Value, Value)],
    wrong: &[&String],
    workers: &[&WorkerProc],
) -> String {
    let mut out = String::new();
    for b in wrong {
        out.push_str(&format!("\n== {b}\n"));
        let mut ids = HashSet::new();
        for (body, delivery) in alerts.iter().filter(|(body, _)| body["bucket"] == **b) {
            out.push_str(&format!("message {body}\n  delivery {delivery}\n"));
            if let Some(id) = body["incident_id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
        for w in workers {
            let text = w.log_text();
            for line in text
                .lines()
                .filter(|l| l.contains(b.as_str()) || ids.iter().any(|id| l.contains(id.as_str())))
            {
                out.push_str(&format!("  {}: {line}\n", w.id));
            }
        }
    }
    out.push_str(&format!("worker logs: {}", keep_logs(workers)));
    out
}

/// The final state the fleet persisted for each bucket against a replay of the same events
/// through the same pipeline, with the fleet's own fixes noted the way the worker notes them.
/// Components only a live read can know (the fleet settles them from S3) are absent from the
/// replay, so what is compared is what the events determine: the ACL each event set, the time
/// of the last event that changed it, and the exposure verdict after remediation.
pub(super) async fn assert_state_matches_replay(
    f: &Fleet,
    events: &[Value],
    workers: &[&WorkerProc],
) {
    let config = Config::load(&f.config_path).unwrap();
    let mut replay = Pipeline::new(&config, false).unwrap();
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by_key(|e| e["detail"]["eventTime"].as_str().unwrap_or("").to_owned());
    for ev in sorted {
        let bytes = serde_json::to_vec(ev).unwrap();
        if let Processed::Applied { event, lines } = replay.process(&bytes) {
            for line in lines {
                if line.action == Action::Remediate && line.key.is_none() {
                    if let Some(b) = &line.bucket {
                        replay.fold_mut().settle(&Settlement {
                            closed: Some(Closed::Bucket),
                            ..Settlement::of(b, event.time_ms)
                        });
                    }
                }
            }
        }
    }
    let store = StateStore::new(f.clients.dynamodb.clone(), &f.names.state_table);
    let mut compared = 0;
    let mut differences = Vec::new();
    for ev in events {
        let bucket = ev["detail"]["requestParameters"]["bucketName"]
            .as_str()
            .unwrap();
        let Some(live) = store.load_bucket(bucket).await.unwrap() else {
            differences.push(format!("{bucket}: no persisted state"));
            continue;
        };
        let live = live.value;
        let replayed = replay.fold().bucket(bucket).expect("replayed").clone();
        let live_acl = live.acl.as_ref().expect("live ACL known");
        let replayed_acl = replayed.acl.as_ref().expect("replayed ACL known");
        if live_acl.at != replayed_acl.at {
            differences.push(format!(
                "{bucket}: the last ACL change differs (an event lost or applied out of order): {} vs {}",
                live_acl.at, replayed_acl.at
            ));
        }
        if live_acl.value.findings() != replayed_acl.value.findings() {
            differences.push(format!("{bucket}: public grants differ"));
        }
        let no_account_block = Default::default();
        let l = bucketwarden::core::fold::exposure_of(&live, no_account_block);
        let r = bucketwarden::core::fold::exposure_of(&replayed, no_account_block);
        if l.public {
            differences.push(format!("{bucket}: persisted state still public: {l:?}"));
        } else if l.public != r.public {
            differences.push(format!("{bucket}: live {l:?} vs replay {r:?}"));
        }
        compared += 1;
    }
    if !differences.is_empty() {
        panic!(
            "persisted state differs from the replay:\n{}\nworker logs: {}",
            differences.join("\n"),
            keep_logs(workers)
        );
    }
    assert!(compared > 0);
}

/// The workers' logs are long: kept in a file, whose path goes into the failure message.
pub(super) fn keep_logs(workers: &[&WorkerProc]) -> String {
    let path = std::env::temp_dir().join(format!("bucketwarden-faults-{}.log", std::process::id()));
    std::fs::write(&path, logs(workers)).unwrap();
    path.display().to_string()
}

/// Waits for a worker a hook kills.
pub(super) async fn wait_exit(w: &mut WorkerProc) {
    let start = std::time::Instant::now();
    while w.is_running() {
        assert!(
            start.elapsed() < LONG,
            "{} was never killed by the hook",
            w.id
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `BUCKETWARDEN_FAULT_RATE_SCALE` (default 1) multiplies every fault rate, for a harsher run by
/// hand.
pub(super) fn rate_scale() -> f64 {
    std::env::var("BUCKETWARDEN_FAULT_RATE_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0)
}

/// The network scenarios' faults on Kinesis, S3 and DynamoDB (lost write responses included),
/// scaled by `rate_scale()`, which it returns.
pub(super) fn set_network_faults(proxy: &FaultProxy) -> f64 {
    let k = rate_scale();
    let common = Rates {
        throttle: 0.03 * k,
        server_error: 0.02 * k,
        drop: 0.01 * k,
        timeout: 0.01 * k,
        lost_response: 0.0,
    };
    proxy.set_rates("kinesis", common.clone());
    proxy.set_rates("s3", common.clone());
    proxy.set_rates(
        "dynamodb",
        Rates {
            lost_response: 0.08 * k,
            ..common
        },
    );
    k
}

pub(super) async fn wait_leases_owned(f: &Fleet, n: usize) {
    wait_for(&format!("{n} leases owned"), LONG, || async {
        f.leases()
            .await
            .iter()
            .filter(|l| l.owner.is_some())
            .count()
            == n
    })
    .await;
}

pub(super) fn worker_env(endpoint: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint),
        // Short attempts, so a hung connection is abandoned well within the failover time.
        ("BUCKETWARDEN_AWS_ATTEMPT_TIMEOUT_MS", "1000"),
    ]
}
