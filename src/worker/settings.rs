//! Runtime settings of one worker (config file plus flags) and its default id. Owns no I/O
//! beyond reading the host name; must not hold state of a running worker.

use std::time::Duration;

use super::lease::Checkpoint;
use crate::aws::kinesis::MIN_GET_RECORDS_INTERVAL;
use crate::config::Config;

/// Runtime settings of one worker (config file plus flags).
#[derive(Debug, Clone)]
pub struct Settings {
    pub worker_id: String,
    pub failover: Duration,
    pub renew_every: Duration,
    pub scan_every: Duration,
    pub discover_every: Duration,
    pub poll_interval: Duration,
    pub max_records: i32,
    pub max_record_bytes: usize,
    pub initial: Checkpoint,
    /// How long one step of one event is retried before the event is parked.
    pub retry_budget: Duration,
    /// Buckets the fold keeps in memory (`[fleet] working_set_buckets`).
    pub working_set_buckets: usize,
}

impl Settings {
    pub fn from_config(config: &Config, worker_id: String) -> Settings {
        let f = &config.fleet;
        let failover = Duration::from_millis(f.failover_ms);
        Settings {
            worker_id,
            failover,
            // Renew three times per failover period, as KCL does, so one slow call does not lose it.
            renew_every: failover / 3,
            scan_every: Duration::from_millis(f.lease_scan_interval_ms.max(100)),
            discover_every: Duration::from_millis(f.shard_discovery_interval_ms.max(500)),
            poll_interval: Duration::from_millis(f.poll_interval_ms).max(MIN_GET_RECORDS_INTERVAL),
            max_records: f.max_records.clamp(1, 10_000),
            max_record_bytes: f.max_record_bytes,
            initial: Checkpoint::parse(&f.initial_position),
            retry_budget: Duration::from_millis(f.retry_budget_ms.max(1)),
            working_set_buckets: f.working_set_buckets.max(1),
        }
    }
}

/// The default worker id: host name and process id, unique across a fleet.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    format!("{host}:{}", std::process::id())
}
