//! The live worker (`bucketwarden run`, docs/DESIGN.md §6–§7): takes and renews shard leases, reads each
//! held shard, claims events in the fleet's dedup table, folds them with the same pipeline as
//! replay, verifies against live S3 before acting, remediates, records incidents, alerts, persists
//! state and only then checkpoints. Owns orchestration and ordering; every judgement is the pure
//! core's, every AWS call goes through the edge modules.
//!
//! # Rooms
//!
//! - `mod.rs` — `Worker`, its shared `Inner`, and the run loop (lease rounds, discovery, the
//!   reconciler's round) until shutdown; under `allowed = "organization"`, the loop that lists
//!   the organization's accounts again when due.
//! - `settings` — `Settings` from the config and flags, the default worker id.
//! - `lease` — (re-exported from `core::lease`) the pure lease record, expiry tracking and
//!   balancing plan, with no I/O.
//! - `leases` — leases held by this process: take, renew, checkpoint, confirm before an effect,
//!   fence, lose.
//! - `discovery` — the stream's shards and their missing leases.
//! - `leader` — the reconciler's leader lease and pass.
//! - `shard` — one shard's consume loop; effects first, checkpoint after.
//! - `batch` — classify records, dead-letter poison, chunking, buckets in parallel.
//! - `event` — one event: dedup claim, fold, hand to `act`.
//! - `state` — what a batch touched, and loading and persisting bucket/account state.
//! - `act` — verify against live S3, remediate or alert, record the incident.
//! - `alert` — publish an incident's alert once across the fleet, or leave it owed.
//! - `outbox` — send owed alerts (the incident table's sparse index), on every worker, with
//!   backoff while SNS fails; the owed-alert gauges.
//! - `group` — group commit: writes of effects side by side go as one `TransactWriteItems`.
//! - `pending` — an incident's `pending` record in one write with a lease renewal (the proof).
//! - `finals` — final outcomes with their alert claims, grouped.
//! - `marks` — the `alertedAt` marks of alerts sent, grouped.
//! - `publishes` — the SNS messages of alerts claimed side by side, in `PublishBatch` requests.
//! - `retry` — retried edge calls and their latency histograms.
//!
//! The rooms import each other without a circle: `shard` → `batch` → `event` → `act` → `alert`,
//! with `leases`, `state`, `retry` and the group writes (`pending`, `finals`, `marks`, `publishes` on `group`)
//! below them; `mod.rs` hands `shard`'s consumer to `leases`.

mod act;
mod alert;
mod batch;
mod discovery;
mod event;
mod finals;
mod group;
mod leader;
mod leases;
mod marks;
mod outbox;
mod pending;
mod publishes;
mod retry;
mod settings;
mod shard;
mod state;

/// The pure lease plan lives in `core`; the worker is its only driver.
pub use crate::core::lease;
pub use settings::{default_worker_id, Settings};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::aws::accounts::Accounts;
use crate::aws::alerter::Alerter;
use crate::aws::backoff::Backoff;
use crate::aws::dead_letters::DeadLetters;
use crate::aws::dedup_table::DedupTable;
use crate::aws::error::{AwsError, Kind};
use crate::aws::incident::IncidentTable;
use crate::aws::lease_table::LeaseTable;
use crate::aws::s3_fix::S3Remediator;
use crate::aws::state_store::StateStore;
use crate::aws::Clients;
use crate::config::Config;
use crate::core::pipeline::Pipeline;
use crate::observe::metrics as m;
use discovery::discover;
use leader::{leader_round, release_leadership, ReconcileState};
use lease::ExpiryTracker;
use leases::{renew_loop, take_round, Held};
use retry::retried;
use shard::start_consumer;

/// What every room of the worker shares: settings, the edge types, the fold, the leases held.
struct Inner {
    s: Settings,
    clients: Clients,
    stream: String,
    leases: LeaseTable,
    dedup: DedupTable,
    store: StateStore,
    incidents: IncidentTable,
    alerter: Alerter,
    /// Whether SNS is failing, as this process last saw it (owed alerts go through `outbox`).
    outbox: outbox::Outbox,
    /// `alertedAt` marks of alerts sent side by side, written together.
    marks: marks::Marks,
    /// SNS messages of alerts whose claims were won side by side, published together.
    publishes: publishes::Publishes,
    /// Final outcomes with their alert claims, of incidents finished side by side, written together.
    finals: finals::Finals,
    dead: DeadLetters,
    remediator: S3Remediator,
    /// How an exposed object is closed (`[remediation] objects`).
    objects: crate::config::ObjectRemediation,
    /// Attempts of a member account's remediator (`[remediation] attempts`).
    remediation_attempts: u32,
    /// What a target verification could not read gets (`[remediation] unverified`).
    unverified: crate::config::Unverified,
    /// Every account the fleet may act in: which an event may name, and a member's clients.
    accounts: Accounts,
    pipeline: Mutex<Pipeline>,
    /// Buckets whose persisted state this process has loaded since its leases last changed.
    /// Bounded with the fold by `working` (evicted buckets leave all three).
    loaded: Mutex<HashSet<String>>,
    /// Store versions of the state items this process last read or wrote.
    versions: Mutex<HashMap<String, u64>>,
    /// The buckets the fold keeps in memory (`[fleet] working_set_buckets`), least recently used
    /// evicted after a batch's state is saved; pinned while a batch holds them unsaved.
    working: Arc<Mutex<crate::core::fold::WorkingSet>>,
    held: Mutex<HashMap<String, Arc<Held>>>,
    /// Shards whose consumer task is still running, lease lost or not. A lost lease leaves `held`
    /// at once, but its consumer may still be inside a batch; taking the shard again before that
    /// task ends would run two consumers of one shard in this process, sharing the fold and the
    /// per-shard lease check, so the lost one's effects would pass under the new lease.
    consuming: Mutex<HashSet<String>>,
    /// EndingSequenceNumber of closed shards, from discovery.
    shard_ends: Mutex<HashMap<String, String>>,
    /// Every shard id of discovery's last ListShards (`None` before the first): a parent without
    /// a lease is finished only once it is no longer listed.
    listed_shards: Mutex<Option<HashSet<String>>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    health: Arc<crate::observe::health::Health>,
    reconcile: ReconcileState,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Pattern(#[from] crate::core::decision::PatternError),
}

impl WorkerError {
    pub fn retryable(&self) -> bool {
        match self {
            WorkerError::Aws(e) => e.retryable(),
            WorkerError::Pattern(_) => false,
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

impl Worker {
    pub async fn new(
        config: Config,
        settings: Settings,
        clients: Clients,
    ) -> Result<Worker, WorkerError> {
        let names = config.names.clone();
        let topic_arn = Alerter::ensure_topic(&clients, &names.alert_topic).await?;
        let pipeline = Pipeline::new_live(&config)?;
        // The own account from STS (no permission needed); members are assumed on first use.
        let sdk = crate::aws::clients::load_config().await;
        let accounts = retried("GetCallerIdentity", || {
            Accounts::new(&sdk, &config.accounts)
        })
        .await?;
        info!(own_account = accounts.own_account(), allowed = ?config.accounts.allowed, "accounts");
        // Under "organization", a first listing before any shard is read; a failure is not fatal
        // (logged and counted; no member is admitted until a listing succeeds, and
        // `organization_loop` retries with backoff).
        let _ = accounts.refresh_organization(true).await;
        let inner = Inner {
            stream: names.stream.clone(),
            leases: LeaseTable::new(clients.dynamodb.clone(), &names.lease_table),
            dedup: DedupTable::new(
                clients.dynamodb.clone(),
                &names.dedup_table,
                Duration::from_millis(config.dedup.window_ms() as u64),
            ),
            store: StateStore::new(clients.dynamodb.clone(), &names.state_table),
            incidents: IncidentTable::new(clients.clone(), &names.incident_table),
            alerter: Alerter::new(clients.clone(), topic_arn),
            outbox: outbox::Outbox::default(),
            marks: marks::Marks::default(),
            publishes: publishes::Publishes::default(),
            finals: finals::Finals::default(),
            dead: DeadLetters::new(clients.clone(), &names.dead_letter_table),
            remediator: S3Remediator::new(clients.clone(), config.remediation.attempts),
            objects: config.remediation.objects,
            remediation_attempts: config.remediation.attempts,
            unverified: config.remediation.unverified,
            accounts,
            pipeline: Mutex::new(pipeline),
            loaded: Mutex::new(HashSet::new()),
            versions: Mutex::new(HashMap::new()),
            working: Arc::new(Mutex::new(crate::core::fold::WorkingSet::new(
                settings.working_set_buckets,
            ))),
            held: Mutex::new(HashMap::new()),
            consuming: Mutex::new(HashSet::new()),
            shard_ends: Mutex::new(HashMap::new()),
            listed_shards: Mutex::new(None),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            health: Arc::new(crate::observe::health::Health::new(settings.failover)),
            reconcile: ReconcileState {
                every: (config.reconcile.interval_ms > 0)
                    .then(|| Duration::from_millis(config.reconcile.interval_ms)),
                concurrency: config.reconcile.concurrency.max(1),
                // The same decider as the stream's pipeline: one set of rules for every path.
                decider: crate::core::decision::Decider::from_config(&config, false)?,
                leader: tokio::sync::Mutex::new(None),
                last_renewed: Mutex::new(None),
                still_leader: std::sync::atomic::AtomicBool::new(false),
                running: std::sync::atomic::AtomicBool::new(false),
                next_pass: Mutex::new(None),
                allowed: config.accounts.allowed.clone(),
            },
            s: settings,
            clients,
        };
        Ok(Worker {
            inner: Arc::new(inner),
        })
    }

    /// Asks the worker to stop: every shard finishes its batch, checkpoints and releases its lease.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// What `/readyz` reports for this worker.
    pub fn health(&self) -> Arc<crate::observe::health::Health> {
        self.inner.health.clone()
    }

    /// Runs until shutdown.
    pub async fn run(&self) -> Result<(), WorkerError> {
        let inner = &self.inner;
        info!(worker_id = %inner.s.worker_id, stream = %inner.stream, "worker starting");
        let renew_stop = CancellationToken::new();
        let renewer = tokio::spawn(renew_loop(inner.clone(), renew_stop.clone()));
        let lister = tokio::spawn(organization_loop(inner.clone(), renew_stop.clone()));
        let outbox = tokio::spawn(outbox::outbox_loop(inner.clone(), renew_stop.clone()));
        let mut tracker = ExpiryTracker::default();
        let mut leader_tracker = ExpiryTracker::default();
        let mut last_discovery: Option<Instant> = None;
        // Capped well under the failover time: a shard whose owner died waits for this round.
        let mut backoff = Backoff::new(
            Duration::from_millis(200),
            inner.s.renew_every.max(Duration::from_millis(200)),
            std::process::id() as u64,
        );
        loop {
            if inner.shutdown.is_cancelled() {
                break;
            }
            let due = last_discovery.is_none_or(|t| t.elapsed() >= inner.s.discover_every);
            let round = async {
                let leases = retried("Scan leases", || inner.leases.list()).await?;
                // Known shards first: taking over a dead worker's shard must not wait behind
                // discovery's calls. New shards' leases are taken in the next round.
                take_round(inner, &mut tracker, leases.clone(), start_consumer).await?;
                // A failed discovery only delays new shards.
                let created = if due {
                    match discover(inner, &leases).await {
                        Ok(n) => Some(n),
                        Err(e) => {
                            warn!(error = %e, "shard discovery failed; will retry");
                            None
                        }
                    }
                } else {
                    None
                };
                // New shards (a fresh stream, a split): take them now rather than a round later.
                if created.is_some_and(|n| n > 0) {
                    let leases = retried("Scan leases", || inner.leases.list()).await?;
                    take_round(inner, &mut tracker, leases, start_consumer).await?;
                }
                Ok::<bool, AwsError>(created.is_some())
            }
            .await;
            match round {
                Ok(discovered) => {
                    if discovered {
                        last_discovery = Some(Instant::now());
                    }
                    if let Err(e) = leader_round(inner, &mut leader_tracker).await {
                        warn!(error = %e, "reconciler lease round failed; will retry");
                    }
                    backoff.reset();
                    tokio::select! {
                        _ = inner.shutdown.cancelled() => {}
                        _ = tokio::time::sleep(inner.s.scan_every) => {}
                    }
                }
                Err(e) => {
                    if e.is(Kind::Throttled) {
                        metrics::counter!(m::THROTTLES, "service" => e.service).increment(1);
                    }
                    warn!(error = %e, "lease round failed; backing off");
                    tokio::select! {
                        _ = inner.shutdown.cancelled() => {}
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
        inner.health.stopping();
        info!("shutting down: finishing batches, checkpointing, releasing leases");
        release_leadership(inner).await;
        inner.tasks.close();
        inner.tasks.wait().await;
        renew_stop.cancel();
        let _ = renewer.await;
        let _ = lister.await;
        let _ = outbox.await;
        info!("worker stopped");
        Ok(())
    }
}

/// Under `allowed = "organization"`, lists the organization's accounts again whenever the cached
/// listing is due (`[accounts] organization_refresh_s`, or the failure backoff); the only place
/// the live worker calls ListAccounts, so admitting an event's account never does. Checks once a
/// second; returns at once without "organization".
async fn organization_loop(inner: Arc<Inner>, stop: CancellationToken) {
    if inner.reconcile.allowed != crate::config::Allowed::Organization {
        return;
    }
    loop {
        // Failures are logged and counted inside; the last good list stays.
        let _ = inner.accounts.refresh_organization(false).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
