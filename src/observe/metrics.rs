//! Every metric name in one place (docs/DESIGN.md §8: `bucketwarden_<name>_<unit>[_total]`, bounded labels
//! only — never a bucket name or key), the Prometheus recorder, and the HTTP endpoints `/metrics`,
//! `/healthz` and `/readyz`. Owns naming and exposition, not counting policy: callers record
//! through the `metrics` macros with these names; readiness is judged by `health`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::core::decision::Action;
use crate::core::fold::Transition;
use crate::core::record::{EventName, Skip};
use crate::observe::health::Health;

/// Kinesis records received (one record may carry several events).
pub const RECORDS_RECEIVED: &str = "bucketwarden_records_received_total";
/// label `shard_id` (bounded by the stream's shard count)
pub const SHARD_RECORDS_READ: &str = "bucketwarden_shard_records_read_total";
/// label `shard_id`
pub const SHARD_BYTES_READ: &str = "bucketwarden_shard_read_bytes_total";
/// label `shard_id`
pub const ITERATOR_EXPIRIES: &str = "bucketwarden_shard_iterator_expiries_total";
/// label `event_name` (the closed set of watched events)
pub const EVENTS_APPLIED: &str = "bucketwarden_events_applied_total";
/// label `reason`: not_s3 | unwatched_s3 | other_detail_type
pub const EVENTS_SKIPPED: &str = "bucketwarden_events_skipped_total";
pub const EVENTS_MALFORMED: &str = "bucketwarden_events_malformed_total";
pub const EVENTS_DUPLICATE: &str = "bucketwarden_events_duplicate_total";
/// Events whose `eventTime` was past their record's arrival on the stream (forged or a broken
/// clock); they are ordered at the arrival instead.
pub const EVENTS_FUTURE_DATED: &str = "bucketwarden_events_future_dated_total";
/// Fields of decided events that had the wrong type or were taken from a second source, label
/// `field` (one of `record::ODDITY_FIELDS`, bounded). The record was decided, not lost.
pub const EVENTS_ODDITIES: &str = "bucketwarden_events_oddities_total";
/// label `transition`
pub const TRANSITIONS: &str = "bucketwarden_transitions_total";
/// label `action` (remediate | alert | none): what the decision said, before verification.
pub const DECISIONS: &str = "bucketwarden_decisions_total";
/// labels `action` (remediate | alert), `outcome` (remediated | failed | alerted | unverified); a transition
/// made by bucketwarden's own identity is `alert`/`alerted` like any alert-only one
pub const REMEDIATIONS: &str = "bucketwarden_remediations_total";
/// label `outcome` (sent | failed)
pub const ALERTS: &str = "bucketwarden_alerts_total";
/// Alerts owed (their incident recorded, the SNS publish not yet done: the outbox's backlog), as
/// the incident table's sparse index shows them; the whole fleet's, so every worker reports the
/// same. Counted up to a few index pages.
pub const ALERTS_OWED: &str = "bucketwarden_alerts_owed";
/// Seconds since the oldest owed alert's incident was detected; 0 when none is owed.
pub const ALERT_OWED_AGE: &str = "bucketwarden_alert_owed_age_seconds";
/// label `result`: exposed (still exposed) | not_exposed (already fixed) | error (unknown)
pub const VERIFICATIONS: &str = "bucketwarden_verifications_total";
/// Poison records dead-lettered; label `outcome`: stored (in the dead-letter table) | parked (the
/// write failed after its bounded retries; logged with shard and sequence number, the shard went on)
pub const DEAD_LETTERS: &str = "bucketwarden_dead_letters_total";
/// Events parked (finished for the checkpoint with an incident, an alert and a dead letter)
/// because one step could not end well within its retry budget; labels `step`
/// ([`PARKED_STEPS`]) and `reason` ([`PARKED_REASONS`]).
pub const PARKED: &str = "bucketwarden_parked_total";
/// `outcome` of DEAD_LETTERS: the dead letter is in its table.
pub const DEAD_LETTER_STORED: &str = "stored";
/// `outcome` of DEAD_LETTERS: the write failed for good; only the log line names the record.
pub const DEAD_LETTER_PARKED: &str = "parked";
/// From the event's `eventTime` to its action done (remediated, alerted or judged no-op).
pub const DECISION_LATENCY: &str = "bucketwarden_decision_latency_seconds";
/// From the record's arrival on the stream to the remediation applied.
pub const REMEDIATION_LATENCY: &str = "bucketwarden_remediation_latency_seconds";
/// label `shard_id`
pub const MILLIS_BEHIND: &str = "bucketwarden_shard_millis_behind_latest";
pub const LEASES_HELD: &str = "bucketwarden_leases_held";
/// Every lease taken, stolen ones included.
pub const LEASES_TAKEN: &str = "bucketwarden_leases_taken_total";
/// Leases taken from a live worker to balance the fleet.
pub const LEASES_STOLEN: &str = "bucketwarden_leases_stolen_total";
pub const LEASES_LOST: &str = "bucketwarden_leases_lost_total";
/// Batches dropped part-way because their lease was lost; the new owner reads them again.
pub const BATCHES_ABANDONED: &str = "bucketwarden_batches_abandoned_total";
/// Open shards in the lease table (the fleet's view, the same on every worker).
pub const FLEET_SHARDS: &str = "bucketwarden_fleet_shards";
/// Open shards whose lease has a live owner.
pub const FLEET_LEASED_SHARDS: &str = "bucketwarden_fleet_leased_shards";
pub const CHECKPOINT_LATENCY: &str = "bucketwarden_checkpoint_latency_seconds";
/// Checkpoints refused because the lease moved (fencing at work).
pub const CHECKPOINT_CONFLICTS: &str = "bucketwarden_checkpoint_conflicts_total";
pub const GET_RECORDS_LATENCY: &str = "bucketwarden_get_records_latency_seconds";
/// label `service` (kinesis | dynamodb | s3 | sns)
pub const THROTTLES: &str = "bucketwarden_throttles_total";
/// Dedup claim latency (conditional put on the event id).
pub const DEDUP_LATENCY: &str = "bucketwarden_dedup_latency_seconds";
/// label `op` (load | save)
pub const STATE_LATENCY: &str = "bucketwarden_state_latency_seconds";
/// Unix time of the last record received: a dead-man's switch for the CloudTrail feed.
pub const LAST_RECORD_TIMESTAMP: &str = "bucketwarden_last_record_timestamp_seconds";
/// Always 1; labels `version`.
pub const BUILD_INFO: &str = "bucketwarden_build_info";
/// 1 on the worker holding the reconciler lease.
pub const RECONCILE_LEADER: &str = "bucketwarden_reconcile_leader";
pub const RECONCILE_PASSES: &str = "bucketwarden_reconcile_passes_total";
/// Buckets read live by reconciliation (their known state was stale or unknown).
pub const RECONCILE_BUCKETS: &str = "bucketwarden_reconcile_buckets_read_total";
/// Buckets whose live exposure differed from what the stream made of them.
pub const RECONCILE_DRIFT: &str = "bucketwarden_reconcile_drift_total";
pub const RECONCILE_DURATION: &str = "bucketwarden_reconcile_duration_seconds";
/// Member accounts a reconciliation pass could not reach (AssumeRole failed or backing off).
pub const RECONCILE_ACCOUNTS_UNREACHABLE: &str =
    "bucketwarden_reconcile_accounts_unreachable_total";
/// `scan --metrics-out`: buckets read.
pub const SCAN_BUCKETS: &str = "bucketwarden_scan_buckets_total";
/// `scan --metrics-out`: exposed buckets found, label `exempt`.
pub const SCAN_EXPOSED: &str = "bucketwarden_scan_exposed_total";
/// `scan --metrics-out`: unreadable buckets.
pub const SCAN_ERRORS: &str = "bucketwarden_scan_errors_total";
/// `scan --metrics-out`: how long the scan took.
pub const SCAN_DURATION: &str = "bucketwarden_scan_duration_seconds";
/// Accounts the fleet holds working access to: its own, and members whose last AssumeRole worked.
pub const ACCOUNTS_COVERED: &str = "bucketwarden_accounts_covered";
/// Members whose last AssumeRole failed (backing off). No per-account label: bounded.
pub const ACCOUNTS_FAILING: &str = "bucketwarden_accounts_failing";
/// labels `outcome` (ok | error)
pub const ASSUME_ROLE: &str = "bucketwarden_assume_role_total";
/// `allowed = "organization"`: ListAccounts listings, label `outcome` (ok | error).
pub const ORGANIZATION_LISTINGS: &str = "bucketwarden_organization_listings_total";
/// `allowed = "organization"`: ACTIVE accounts in the last good listing (0 before the first).
pub const ORGANIZATION_ACCOUNTS: &str = "bucketwarden_organization_accounts";
/// The `reason` of EVENTS_SKIPPED for an event naming an account outside `[accounts] allowed`.
pub const SKIP_ACCOUNT_NOT_ALLOWED: &str = "account_not_allowed";

/// Every metric this module names, for the tests that tie them to the dashboard and rules.
pub const ALL: [&str; 47] = [
    RECORDS_RECEIVED,
    SHARD_RECORDS_READ,
    SHARD_BYTES_READ,
    ITERATOR_EXPIRIES,
    EVENTS_APPLIED,
    EVENTS_SKIPPED,
    EVENTS_MALFORMED,
    EVENTS_DUPLICATE,
    EVENTS_FUTURE_DATED,
    EVENTS_ODDITIES,
    TRANSITIONS,
    DECISIONS,
    REMEDIATIONS,
    ALERTS,
    ALERTS_OWED,
    ALERT_OWED_AGE,
    VERIFICATIONS,
    DEAD_LETTERS,
    PARKED,
    DECISION_LATENCY,
    REMEDIATION_LATENCY,
    MILLIS_BEHIND,
    LEASES_HELD,
    LEASES_TAKEN,
    LEASES_STOLEN,
    LEASES_LOST,
    BATCHES_ABANDONED,
    FLEET_SHARDS,
    FLEET_LEASED_SHARDS,
    CHECKPOINT_LATENCY,
    CHECKPOINT_CONFLICTS,
    GET_RECORDS_LATENCY,
    THROTTLES,
    DEDUP_LATENCY,
    STATE_LATENCY,
    LAST_RECORD_TIMESTAMP,
    RECONCILE_LEADER,
    RECONCILE_PASSES,
    RECONCILE_BUCKETS,
    RECONCILE_DRIFT,
    RECONCILE_DURATION,
    RECONCILE_ACCOUNTS_UNREACHABLE,
    ACCOUNTS_COVERED,
    ACCOUNTS_FAILING,
    ASSUME_ROLE,
    ORGANIZATION_LISTINGS,
    ORGANIZATION_ACCOUNTS,
];

/// Metrics deliberately on no dashboard panel nor alert rule, with why.
pub const UNPANELLED: [(&str, &str); 4] = [
    (
        SCAN_BUCKETS,
        "written by `scan --metrics-out` (a one-shot command, not scraped)",
    ),
    (
        SCAN_EXPOSED,
        "written by `scan --metrics-out` (a one-shot command, not scraped)",
    ),
    (
        SCAN_ERRORS,
        "written by `scan --metrics-out` (a one-shot command, not scraped)",
    ),
    (
        SCAN_DURATION,
        "written by `scan --metrics-out` (a one-shot command, not scraped)",
    ),
];

/// Seconds buckets covering 50 ms to 5 minutes (decisions are judged against a few seconds, a
/// stalled fleet shows up in the tail).
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// The exporter with the project's histogram buckets, not yet installed.
fn builder(
) -> Result<metrics_exporter_prometheus::PrometheusBuilder, metrics_exporter_prometheus::BuildError>
{
    metrics_exporter_prometheus::PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS)
}

/// Installs the global recorder (once per process), creates every series known in advance
/// ([`describe_and_zero`]) and keeps its histograms drained.
pub fn install_recorder() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = builder()?.install_recorder()?;
    describe_and_zero();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Series that are absent until their first value, on purpose, with why. Everything else in
/// [`ALL`] exists from the first scrape (per-shard series from the shard's take, [`zero_shard`]).
pub const ABSENT_UNTIL_FIRST: [(&str, &str); 1] = [(
    LAST_RECORD_TIMESTAMP,
    "a timestamp has no honest zero; the BucketwardenNeverReceivedEvents rule fires on its absence",
)];

/// Per-shard counters: their `shard_id` cannot be known at start-up, so [`zero_shard`] creates
/// them when a lease is taken.
pub const PER_SHARD: [&str; 3] = [SHARD_RECORDS_READ, SHARD_BYTES_READ, ITERATOR_EXPIRIES];

/// Gauges with no honest value at start-up, with who sets them (moments later, before any event
/// can be processed).
pub const SET_BY_FIRST_ROUND: [(&str, &str); 5] = [
    (
        ACCOUNTS_COVERED,
        "aws::accounts::Accounts::new, at start-up once STS named the own account",
    ),
    (
        ACCOUNTS_FAILING,
        "aws::accounts::Accounts::new, at start-up once STS named the own account",
    ),
    (FLEET_SHARDS, "the first lease round counts the open shards"),
    (
        FLEET_LEASED_SHARDS,
        "the first lease round counts the leased shards",
    ),
    (
        MILLIS_BEHIND,
        "the shard's first GetRecords, right after the take",
    ),
];

/// `action` × `outcome` of [`REMEDIATIONS`]: what an incident can end as (`aws::incident`
/// outcomes).
fn remediation_outcomes(action: Action) -> &'static [&'static str] {
    match action {
        Action::Remediate => &["remediated", "failed", "unverified"],
        Action::Alert => &["alerted", "failed", "unverified"],
        Action::None => &[],
    }
}

/// `step` of [`PARKED`]: `verify` (the live read before acting), `event` (any other step of the
/// event whose failure was the event's own, `AwsError::blame`), `batch` (a record that is no
/// event and whose batch kept failing for a reason of its own).
pub const PARKED_STEPS: [&str; 3] = ["verify", "event", "batch"];
/// `reason` of [`PARKED`]: `AwsError::reason_label`.
pub const PARKED_REASONS: [&str; 5] = ["denied", "timeout", "throttled", "not_found", "error"];

/// `outcome` of [`ALERTS`].
pub const ALERT_OUTCOMES: [&str; 2] = ["sent", "failed"];
/// `result` of [`VERIFICATIONS`].
pub const VERIFICATION_RESULTS: [&str; 3] = ["exposed", "not_exposed", "error"];
/// `service` of [`THROTTLES`]: every service `aws::Clients` calls (`AwsError::service`).
pub const SERVICES: [&str; 6] = ["kinesis", "dynamodb", "s3", "s3control", "sns", "sts"];
/// `op` of [`STATE_LATENCY`].
pub const STATE_OPS: [&str; 2] = ["load", "save"];

/// Every variant of a fieldless enum, as an array. The match is exhaustive, so a variant added
/// to the enum and not listed here stops the build instead of leaving its series unborn.
macro_rules! every {
    ($ty:ident { $($v:ident),+ $(,)? }) => {{
        #[allow(dead_code)]
        fn listed(x: $ty) {
            match x {
                $($ty::$v)|+ => {}
            }
        }
        [$($ty::$v),+]
    }};
}

/// Describes every metric and creates every series whose labels are known in advance, in the
/// one place this happens: counters of bounded label sets at 0 (Prometheus's instrumentation
/// guidance: "export 0 for known label values"; `increase()` ignores a series' first sample, so
/// a counter born at 1 would hide the first remediation), histograms registered with no
/// observation (the exporter renders them with count 0, never a made-up sample), and the
/// gauges whose 0 is true at start-up. Label sets that an enum bounds are enumerated from it.
pub fn describe_and_zero() {
    describe();
    let zero = |c: metrics::Counter| c.increment(0);
    for name in [
        RECORDS_RECEIVED,
        EVENTS_MALFORMED,
        EVENTS_DUPLICATE,
        EVENTS_FUTURE_DATED,
        LEASES_TAKEN,
        LEASES_STOLEN,
        LEASES_LOST,
        BATCHES_ABANDONED,
        CHECKPOINT_CONFLICTS,
        RECONCILE_PASSES,
        RECONCILE_BUCKETS,
        RECONCILE_DRIFT,
        RECONCILE_ACCOUNTS_UNREACHABLE,
    ] {
        zero(metrics::counter!(name));
    }
    for outcome in [DEAD_LETTER_STORED, DEAD_LETTER_PARKED] {
        zero(metrics::counter!(DEAD_LETTERS, "outcome" => outcome));
    }
    for e in EventName::ALL {
        zero(metrics::counter!(EVENTS_APPLIED, "event_name" => e.as_str()));
    }
    for field in crate::core::record::ODDITY_FIELDS {
        zero(metrics::counter!(EVENTS_ODDITIES, "field" => field));
    }
    for s in every!(Skip {
        OtherDetailType,
        NotS3,
        Unwatched
    }) {
        zero(metrics::counter!(EVENTS_SKIPPED, "reason" => s.as_str()));
    }
    zero(metrics::counter!(EVENTS_SKIPPED, "reason" => SKIP_ACCOUNT_NOT_ALLOWED));
    for outcome in ["ok", "error"] {
        zero(metrics::counter!(ASSUME_ROLE, "outcome" => outcome));
        zero(metrics::counter!(ORGANIZATION_LISTINGS, "outcome" => outcome));
    }
    // Nothing is listed at start-up (and nothing ever without "organization").
    metrics::gauge!(ORGANIZATION_ACCOUNTS).set(0.0);
    for t in every!(Transition {
        BecamePublic,
        BecameNotPublic,
        Unchanged
    }) {
        zero(metrics::counter!(TRANSITIONS, "transition" => t.as_str()));
    }
    for a in every!(Action {
        Remediate,
        Alert,
        None
    }) {
        zero(metrics::counter!(DECISIONS, "action" => a.as_str()));
        for outcome in remediation_outcomes(a) {
            zero(metrics::counter!(REMEDIATIONS, "action" => a.as_str(), "outcome" => *outcome));
        }
    }
    for outcome in ALERT_OUTCOMES {
        zero(metrics::counter!(ALERTS, "outcome" => outcome));
    }
    for result in VERIFICATION_RESULTS {
        zero(metrics::counter!(VERIFICATIONS, "result" => result));
    }
    for step in PARKED_STEPS {
        for reason in PARKED_REASONS {
            zero(metrics::counter!(PARKED, "step" => step, "reason" => reason));
        }
    }
    for service in SERVICES {
        zero(metrics::counter!(THROTTLES, "service" => service));
    }
    // Registered, not observed: the handle alone makes the exporter render the family with
    // every bucket, `_sum` and `_count` at 0.
    for name in [
        DECISION_LATENCY,
        REMEDIATION_LATENCY,
        CHECKPOINT_LATENCY,
        GET_RECORDS_LATENCY,
        DEDUP_LATENCY,
        RECONCILE_DURATION,
    ] {
        let _ = metrics::histogram!(name);
    }
    for op in STATE_OPS {
        let _ = metrics::histogram!(STATE_LATENCY, "op" => op);
    }
    // True at start-up: nothing held, not the reconciler's leader. The fleet gauges are not:
    // they are set by the first lease round, a moment later.
    metrics::gauge!(LEASES_HELD).set(0.0);
    metrics::gauge!(RECONCILE_LEADER).set(0.0);
    // Nothing is known owed until the outbox's first look (a few seconds after start).
    metrics::gauge!(ALERTS_OWED).set(0.0);
    metrics::gauge!(ALERT_OWED_AGE).set(0.0);
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Creates a shard's counters at 0 when its lease is taken, so an iterator expiry or the first
/// record on a new shard is an increase Prometheus can see. Call once per take, before reading.
pub fn zero_shard(shard_id: &str) {
    for name in [SHARD_RECORDS_READ, SHARD_BYTES_READ, ITERATOR_EXPIRIES] {
        metrics::counter!(name, "shard_id" => shard_id.to_owned()).increment(0);
    }
}

/// An event naming an account outside `[accounts] allowed` was skipped.
pub fn account_not_allowed() {
    metrics::counter!(EVENTS_SKIPPED, "reason" => SKIP_ACCOUNT_NOT_ALLOWED).increment(1);
}

/// One AssumeRole call into a member account, by outcome (`ok` | `error`).
pub fn assume_role(outcome: &'static str) {
    metrics::counter!(ASSUME_ROLE, "outcome" => outcome).increment(1);
}

/// One ListAccounts listing of the organization (`ok` | `error`); on success the number of
/// ACTIVE accounts it found.
pub fn organization_listing(outcome: &'static str, accounts: Option<usize>) {
    metrics::counter!(ORGANIZATION_LISTINGS, "outcome" => outcome).increment(1);
    if let Some(n) = accounts {
        metrics::gauge!(ORGANIZATION_ACCOUNTS).set(n as f64);
    }
}

/// A member account a reconciliation pass skipped because it could not be reached.
pub fn reconcile_account_unreachable() {
    metrics::counter!(RECONCILE_ACCOUNTS_UNREACHABLE).increment(1);
}

pub fn accounts_gauges(covered: usize, failing: usize) {
    metrics::gauge!(ACCOUNTS_COVERED).set(covered as f64);
    metrics::gauge!(ACCOUNTS_FAILING).set(failing as f64);
}

/// Serves `/metrics`, `/healthz` and `/readyz` on an already bound listener until the process
/// ends. `/readyz` answers 200 or 503 with the reason as text.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    health: Arc<Health>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let handle = handle.clone();
        let health = health.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let resp = respond(req.uri().path(), &handle, &health);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(path: &str, handle: &PrometheusHandle, health: &Health) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", handle.render()),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" => {
            let r = health.readiness(Instant::now());
            let status = if r.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, "text/plain", format!("{}\n", r.reason))
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /healthz or /readyz\n".to_owned(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

/// Binds the metrics address early so a taken port is a clear start-up error.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(RECORDS_RECEIVED, "Kinesis records received");
    describe_counter!(SHARD_RECORDS_READ, "Records read, by shard");
    describe_counter!(SHARD_BYTES_READ, Unit::Bytes, "Record bytes read, by shard");
    describe_counter!(
        ITERATOR_EXPIRIES,
        "Shard iterators that expired and were recovered, by shard"
    );
    describe_counter!(
        EVENTS_APPLIED,
        "Watched S3 events applied to the fold, by event name"
    );
    describe_counter!(
        EVENTS_SKIPPED,
        "Records skipped (not S3, unwatched S3 calls, other detail-types)"
    );
    describe_counter!(
        EVENTS_MALFORMED,
        "Records that could not be parsed (dead-lettered)"
    );
    describe_counter!(EVENTS_DUPLICATE, "Events already processed by the fleet");
    describe_counter!(
        EVENTS_FUTURE_DATED,
        "Events dated after their arrival on the stream, ordered at the arrival"
    );
    describe_counter!(
        EVENTS_ODDITIES,
        "Fields of decided events of the wrong type or taken from a second source, by field"
    );
    describe_counter!(TRANSITIONS, "Exposure transitions, by kind");
    describe_counter!(DECISIONS, "Decisions, by action, before verification");
    describe_counter!(
        REMEDIATIONS,
        "Remediations and alert-only incidents, by action and outcome"
    );
    describe_counter!(ALERTS, "SNS alerts, by outcome");
    describe_counter!(
        VERIFICATIONS,
        "Live S3 verifications before acting, by result"
    );
    describe_counter!(
        DEAD_LETTERS,
        "Poison records written to the dead-letter table"
    );
    describe_counter!(
        PARKED,
        "Events parked after a step could not end within its retry budget, by step and reason"
    );
    describe_histogram!(
        DECISION_LATENCY,
        Unit::Seconds,
        "eventTime to the action done"
    );
    describe_histogram!(
        REMEDIATION_LATENCY,
        Unit::Seconds,
        "Record arrival on the stream to remediation applied"
    );
    describe_gauge!(
        MILLIS_BEHIND,
        Unit::Milliseconds,
        "How far each shard's reader is behind the tip"
    );
    describe_gauge!(LEASES_HELD, "Leases this worker holds");
    describe_counter!(LEASES_TAKEN, "Leases taken (including stolen)");
    describe_counter!(LEASES_STOLEN, "Leases taken from a live worker to balance");
    describe_counter!(
        LEASES_LOST,
        "Leases lost to another worker or to self-fencing"
    );
    describe_counter!(
        BATCHES_ABANDONED,
        "Batches dropped mid-way because their lease was lost (re-read by the new owner)"
    );
    describe_gauge!(FLEET_SHARDS, "Open shards in the lease table");
    describe_gauge!(FLEET_LEASED_SHARDS, "Open shards with a live lease owner");
    describe_histogram!(
        CHECKPOINT_LATENCY,
        Unit::Seconds,
        "Checkpoint write latency"
    );
    describe_counter!(
        CHECKPOINT_CONFLICTS,
        "Checkpoints refused because the lease had moved"
    );
    describe_histogram!(GET_RECORDS_LATENCY, Unit::Seconds, "GetRecords latency");
    describe_counter!(THROTTLES, "Throttling responses, by service");
    describe_histogram!(DEDUP_LATENCY, Unit::Seconds, "Dedup claim latency");
    describe_histogram!(
        STATE_LATENCY,
        Unit::Seconds,
        "State store latency, by operation"
    );
    describe_gauge!(
        LAST_RECORD_TIMESTAMP,
        Unit::Seconds,
        "Unix time of the last record received"
    );
    describe_gauge!(BUILD_INFO, "Build information (always 1)");
    describe_gauge!(
        RECONCILE_LEADER,
        "1 on the worker holding the reconciler lease"
    );
    describe_counter!(RECONCILE_PASSES, "Reconciliation passes completed");
    describe_gauge!(
        ALERTS_OWED,
        "Alerts owed: incidents recorded whose SNS alert is not yet sent (the outbox's backlog, fleet-wide)"
    );
    describe_gauge!(
        ALERT_OWED_AGE,
        Unit::Seconds,
        "Seconds since the oldest owed alert's incident was detected (0 when none is owed)"
    );
    describe_gauge!(
        ACCOUNTS_COVERED,
        "Accounts with working access: the fleet's own and members whose last AssumeRole worked"
    );
    describe_gauge!(
        ACCOUNTS_FAILING,
        "Member accounts whose last AssumeRole failed (retried with backoff)"
    );
    describe_counter!(
        ASSUME_ROLE,
        "AssumeRole calls into member accounts, by outcome"
    );
    describe_counter!(
        ORGANIZATION_LISTINGS,
        "Listings of the organization's accounts (allowed = \"organization\"), by outcome; a failed one keeps the last good list"
    );
    describe_gauge!(
        ORGANIZATION_ACCOUNTS,
        "ACTIVE accounts of the organization in the last good listing (0 before the first)"
    );
    describe_counter!(
        RECONCILE_BUCKETS,
        "Buckets read live by reconciliation (stale or unknown state)"
    );
    describe_counter!(
        RECONCILE_DRIFT,
        "Buckets whose live exposure differed from the stream's state"
    );
    describe_counter!(
        RECONCILE_ACCOUNTS_UNREACHABLE,
        "Member accounts a reconciliation pass skipped because they could not be reached"
    );
    describe_histogram!(
        RECONCILE_DURATION,
        Unit::Seconds,
        "Reconciliation pass duration"
    );
}

/// Counts a decided event's oddities (the live worker calls this for each event it classifies;
/// replay counts them in `pipeline::Stats`).
pub fn count_oddities(event: &crate::core::record::S3Event) {
    for o in &event.oddities {
        metrics::counter!(EVENTS_ODDITIES, "field" => o.field).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_design_convention_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for name in ALL.iter().chain(std::iter::once(&BUILD_INFO)).chain(
            UNPANELLED
                .iter()
                .map(|(n, _)| n)
                .filter(|n| **n != BUILD_INFO),
        ) {
            assert!(name.starts_with("bucketwarden_"), "{name}");
            assert!(seen.insert(*name), "{name} twice");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
        for (name, why) in UNPANELLED {
            assert!(!ALL.contains(&name), "{name} is in ALL and unpanelled");
            assert!(name != BUILD_INFO, "build info is on the dashboard");
            assert!(!why.is_empty());
        }
    }

    /// Renders what [`describe_and_zero`] and [`zero_shard`] alone create, in a recorder of the
    /// test's own (the global one belongs to the process).
    fn fresh_render() -> String {
        let recorder = builder().unwrap().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_and_zero();
            zero_shard("shardId-000000000000");
        });
        handle.render()
    }

    #[test]
    fn every_metric_exists_before_its_first_event() {
        let text = fresh_render();
        let later: Vec<&str> = ABSENT_UNTIL_FIRST
            .iter()
            .chain(SET_BY_FIRST_ROUND.iter())
            .map(|(n, _)| *n)
            .collect();
        for name in ALL.iter().chain([&BUILD_INFO]) {
            let present = text.lines().any(|l| {
                !l.starts_with('#')
                    && l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with([' ', '{', '_']))
            });
            assert_eq!(
                present,
                !later.contains(name),
                "{name}: present {present} before any event\n{text}"
            );
        }
    }

    #[test]
    fn bounded_label_sets_start_at_zero_and_histograms_hold_no_observation() {
        let text = fresh_render();
        let has = |series: &str| text.lines().any(|l| l == series);
        for e in EventName::ALL {
            let series = format!("{EVENTS_APPLIED}{{event_name=\"{}\"}} 0", e.as_str());
            assert!(has(&series), "{series}\n{text}");
        }
        for series in [
            format!("{TRANSITIONS}{{transition=\"became_public\"}} 0"),
            format!("{EVENTS_SKIPPED}{{reason=\"other_detail_type\"}} 0"),
            format!("{REMEDIATIONS}{{action=\"remediate\",outcome=\"failed\"}} 0"),
            format!("{ITERATOR_EXPIRIES}{{shard_id=\"shardId-000000000000\"}} 0"),
            format!("{DECISION_LATENCY}_count 0"),
            format!("{DECISION_LATENCY}_sum 0"),
            format!("{STATE_LATENCY}_count{{op=\"save\"}} 0"),
        ] {
            assert!(has(&series), "{series}\n{text}");
        }
        // Nothing starts above zero (build info aside): no counter is born at 1 and no
        // histogram holds an invented sample.
        for l in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = l.rsplit_once(' ').unwrap();
            if !series.starts_with(BUILD_INFO) {
                assert_eq!(value, "0", "{l}");
            }
        }
    }
}
