//! Hostile cases of the alert path (see main.rs): SNS answering 500 to every call for two
//! minutes. Remediation must go on (the alert of an incident is owed, not a reason to stop the
//! shard), and once SNS answers again the fleet's outbox delivers each incident's alert exactly
//! once; the owed-alert gauge shows the backlog while it lasts.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::support::fault_proxy::{FaultProxy, Rates};
use super::support::*;

/// How long SNS answers 500 (the "SNS answering 500 for two minutes").
const OUTAGE: Duration = Duration::from_secs(120);
/// Each bucket must be locked down this soon after its event, outage or not.
const LOCKED_WITHIN: Duration = Duration::from_secs(60);
/// After SNS answers again, every owed alert is out within this (the outbox's backoff is capped
/// at 30 s, a round is 5 s, a claim left by a failed attempt is released).
const DELIVERED_WITHIN: Duration = Duration::from_secs(120);

const OWED: &str = "bucketwarden_alerts_owed";
const OWED_AGE: &str = "bucketwarden_alert_owed_age_seconds";

/// The value of the unlabelled series `name` on the worker's `/metrics` (a plain HTTP/1.0 GET on
/// loopback), `None` if the scrape fails or the series is absent.
fn scrape(port: u16, name: &str) -> Option<f64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Whether the one shard's checkpoint is at or past sequence number `seq`.
async fn checkpoint_past(f: &Fleet, seq: &str) -> bool {
    let n = |s: &str| s.parse::<u128>().ok();
    f.leases().await.iter().any(|l| match &l.checkpoint {
        bucketwarden::worker::lease::Checkpoint::Sequence(c) => n(c) >= n(seq) && n(c).is_some(),
        _ => false,
    })
}

/// The SNS messages received so far, counted per incident id.
async fn messages_per_incident(f: &Fleet) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for (_, body) in f.alerts().await {
        let id = body["incident_id"].as_str().unwrap_or_default().to_owned();
        *n.entry(id).or_default() += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_answering_500_for_two_minutes_stops_no_remediation_and_each_alert_goes_out_once_after()
{
    // One shard: the hostile bucket and the ordinary one share it.
    let f = Fleet::new("snsdown", 1, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 26, Duration::from_secs(3)).await;
    let port = free_port();
    let w = f.spawn_worker_with_metrics(
        "w1",
        &[
            ("AWS_ENDPOINT_URL", proxy.endpoint.as_str()),
            ("BUCKETWARDEN_AWS_ATTEMPT_TIMEOUT_MS", "1000"),
        ],
        Some(port),
    );
    wait_for(
        "the shard's lease taken",
        Duration::from_secs(60),
        || async { f.leases_of("w1").await == 1 },
    )
    .await;
    // Asserted at the end, after the cases that matter most.
    let before = scrape(port, OWED_AGE);

    // The outage starts while the worker runs (it created the topic at start).
    let outage = Instant::now();
    proxy.set_rates(
        "sns",
        Rates {
            server_error: 1.0,
            ..Default::default()
        },
    );
    let t = jiff::Timestamp::now().as_millisecond() - 60_000;
    let at = |s: i64| {
        jiff::Timestamp::from_millisecond(t + s * 1000)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let mut buckets = Vec::new();
    for (i, name) in ["hostile", "ordinary"].into_iter().enumerate() {
        let b = f.bucket(name);
        f.make_public_bucket(&b).await;
        let (_, seq) = f
            .put_event(
                &b,
                &put_bucket_acl_public(&b, &format!("ev-sns-{i}"), &at(i as i64)),
            )
            .await;
        let took = wait_for(
            &format!("{b} locked down during the SNS outage"),
            LOCKED_WITHIN,
            || async { f.block_of(&b).await == Some((true, true, true, true)) },
        )
        .await;
        eprintln!("{name}: locked down {took:?} after its event, SNS down");
        // Not only handled on a re-read of a stuck batch: the shard goes on past the record (a
        // checkpoint that stays behind it leaves every later bucket of the shard waiting).
        let took = wait_for(
            &format!("the checkpoint past {name}'s record during the SNS outage"),
            LOCKED_WITHIN,
            || async { checkpoint_past(&f, &seq).await },
        )
        .await;
        eprintln!("{name}: checkpointed {took:?} after it was locked down, SNS down");
        buckets.push(b);
    }
    assert!(
        outage.elapsed() < OUTAGE,
        "both locked down inside the outage"
    );
    // Both incidents recorded, remediated, their alerts not sent.
    wait_for(
        "both incidents recorded",
        Duration::from_secs(30),
        || async {
            let incidents = f.incidents().await;
            buckets.iter().all(|b| {
                incidents
                    .iter()
                    .any(|i| &s(i, "bucket") == b && s(i, "outcome") == "remediated")
            })
        },
    )
    .await;
    assert!(
        f.incidents()
            .await
            .iter()
            .all(|i| !i.contains_key("alertedAt")),
        "no alert can have been sent while SNS answers 500"
    );
    assert!(
        f.alerts().await.is_empty(),
        "no message got through the outage"
    );
    // The backlog shows on the gauges.
    wait_for(
        "the owed-alert gauges above 0",
        Duration::from_secs(30),
        || async {
            scrape(port, OWED_AGE).is_some_and(|v| v > 0.0) && scrape(port, OWED) == Some(2.0)
        },
    )
    .await;

    // SNS answers again after two minutes.
    tokio::time::sleep(OUTAGE.saturating_sub(outage.elapsed())).await;
    proxy.clear_rates();
    let restored = Instant::now();
    let took = wait_for(
        "both alerts delivered after SNS came back",
        DELIVERED_WITHIN,
        || async {
            let n = messages_per_incident(&f).await;
            n.len() >= 2
        },
    )
    .await;
    eprintln!("owed alerts delivered {took:?} after SNS came back");
    wait_for(
        "both incidents marked alerted",
        Duration::from_secs(30),
        || async {
            let incidents = f.incidents().await;
            incidents.len() == 2 && incidents.iter().all(|i| i.contains_key("alertedAt"))
        },
    )
    .await;
    // A duplicate would arrive within a few more rounds of the outbox.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let n = messages_per_incident(&f).await;
    let incidents = f.incidents().await;
    assert_eq!(incidents.len(), 2, "one incident per bucket");
    for i in &incidents {
        let id = s(i, "incidentId");
        assert_eq!(
            n.get(&id),
            Some(&1),
            "incident {id}: exactly one message: {n:?}; logs: {}",
            w.log_text()
        );
    }
    assert_eq!(n.len(), 2, "no message for anything else: {n:?}");
    wait_for(
        "the owed-alert gauges back to 0",
        Duration::from_secs(30),
        || async { scrape(port, OWED_AGE) == Some(0.0) && scrape(port, OWED) == Some(0.0) },
    )
    .await;
    assert_eq!(
        before,
        Some(0.0),
        "the gauge exists from the first scrape, 0 with nothing owed"
    );
    eprintln!(
        "outage {:?}, restored {:?} ago; SNS requests refused: {}",
        OUTAGE,
        restored.elapsed(),
        proxy.report()
    );
}

/// The outbox's storage on moto: an incident whose alert is owed is on the sparse index (oldest
/// detection first) until its mark, which takes it off in the same write; an owed mark never
/// comes back after the alert was sent, and releasing a claim frees it for the outbox at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owed_alert_is_on_the_index_until_it_is_marked_sent() {
    use bucketwarden::aws::incident::{AlertClaim, Incident, IncidentTable};
    let clients = clients().await;
    let name = format!("t{}-owed-incidents", std::process::id());
    let table = IncidentTable::new(clients, &name);
    table.create_if_missing().await.unwrap();
    let incident = |id: &str, detected: &str| Incident {
        incident_id: id.into(),
        event_name: "PutBucketAcl".into(),
        bucket: "b".into(),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        action: "remediate".into(),
        outcome: "remediated".into(),
        event_time: detected.into(),
        detected_at: detected.into(),
        worker: "w".into(),
        source: "stream".into(),
        ..Incident::default()
    };
    let (old, new) = (
        incident("old", "2026-01-01T00:00:00.000Z"),
        incident("new", "2026-01-02T00:00:00.000Z"),
    );
    for i in [&new, &old] {
        table.put(i).await.unwrap();
    }
    // A healthy table: nothing owed, nothing on the index.
    assert!(table.owed(10).await.unwrap().0.is_empty());
    assert_eq!(table.count_owed(4).await.unwrap(), (0, true));
    // "new"'s publish failed while its claim was held: owed, the claim released.
    let now = bucketwarden::clock::epoch_secs_now();
    assert_eq!(
        table.claim_alert("new", "tok", now, 70).await.unwrap(),
        AlertClaim::Won
    );
    table.owe_alert("new", Some("tok")).await.unwrap();
    assert_eq!(
        table.claim_alert("new", "outbox", now, 70).await.unwrap(),
        AlertClaim::Won,
        "the released claim is free for the outbox at once"
    );
    table.owe_alert("old", None).await.unwrap();
    let (owed, more) = table.owed(1).await.unwrap();
    assert!(more);
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0], old, "oldest detection first, the whole incident");
    assert_eq!(table.count_owed(4).await.unwrap(), (2, true));
    // Sent: marked, and off the index in the same write; owing it again changes nothing.
    table
        .mark_alerted("old", "2026-01-03T00:00:00.000Z")
        .await
        .unwrap();
    table.owe_alert("old", None).await.unwrap();
    let (owed, more) = table.owed(10).await.unwrap();
    assert!(!more);
    assert_eq!(
        owed.iter()
            .map(|i| i.incident_id.as_str())
            .collect::<Vec<_>>(),
        ["new"]
    );
    // An incident that was never recorded is not made up by an owed mark.
    table.owe_alert("missing", None).await.unwrap();
    assert_eq!(table.count_owed(4).await.unwrap(), (1, true));
}
