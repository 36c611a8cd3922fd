//! Every metric name in one place (DESIGN §8: `bucketwarden_<name>_<unit>[_total]`, bounded labels
//! only — never a bucket name or key) and the Prometheus exporter. Owns naming, not counting
//! policy: callers record through the `metrics` macros with these names.

use std::net::SocketAddr;

pub const RECORDS_RECEIVED: &str = "bucketwarden_records_received_total";
/// label `event_name` (the closed set of watched events)
pub const EVENTS_APPLIED: &str = "bucketwarden_events_applied_total";
/// label `reason`: not_s3 | unwatched_s3 | other_detail_type
pub const EVENTS_SKIPPED: &str = "bucketwarden_events_skipped_total";
pub const EVENTS_MALFORMED: &str = "bucketwarden_events_malformed_total";
pub const EVENTS_DUPLICATE: &str = "bucketwarden_events_duplicate_total";
/// label `transition`
pub const TRANSITIONS: &str = "bucketwarden_transitions_total";
/// labels `action` (remediate | alert), `outcome` (remediated | failed | alerted | skipped_self)
pub const REMEDIATIONS: &str = "bucketwarden_remediations_total";
/// label `outcome` (sent | failed)
pub const ALERTS: &str = "bucketwarden_alerts_total";
/// label `result` (exposed | not_exposed | error)
pub const VERIFICATIONS: &str = "bucketwarden_verifications_total";
pub const DEAD_LETTERS: &str = "bucketwarden_dead_letters_total";
/// From the event's `eventTime` to the decision.
pub const DECISION_LATENCY: &str = "bucketwarden_decision_latency_seconds";
/// From the record's arrival on the stream to the remediation applied.
pub const REMEDIATION_LATENCY: &str = "bucketwarden_remediation_latency_seconds";
/// label `shard_id` (bounded by the stream's shard count)
pub const MILLIS_BEHIND: &str = "bucketwarden_shard_millis_behind_latest";
pub const LEASES_HELD: &str = "bucketwarden_leases_held";
pub const LEASES_TAKEN: &str = "bucketwarden_leases_taken_total";
pub const LEASES_LOST: &str = "bucketwarden_leases_lost_total";
pub const CHECKPOINT_LATENCY: &str = "bucketwarden_checkpoint_latency_seconds";
pub const GET_RECORDS_LATENCY: &str = "bucketwarden_get_records_latency_seconds";
/// label `service` (kinesis | dynamodb | s3 | sns)
pub const THROTTLES: &str = "bucketwarden_throttles_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Installs the global recorder and serves `/metrics` on `addr`.
pub fn install(addr: SocketAddr) -> Result<(), metrics_exporter_prometheus::BuildError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(LATENCY_BUCKETS)?
        .install()?;
    describe();
    Ok(())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(RECORDS_RECEIVED, "Kinesis records received");
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
    describe_counter!(TRANSITIONS, "Exposure transitions, by kind");
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
    describe_histogram!(DECISION_LATENCY, Unit::Seconds, "eventTime to decision");
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
    describe_counter!(
        LEASES_LOST,
        "Leases lost to another worker or to self-fencing"
    );
    describe_histogram!(
        CHECKPOINT_LATENCY,
        Unit::Seconds,
        "Checkpoint write latency"
    );
    describe_histogram!(GET_RECORDS_LATENCY, Unit::Seconds, "GetRecords latency");
    describe_counter!(THROTTLES, "Throttling responses, by service");
}
