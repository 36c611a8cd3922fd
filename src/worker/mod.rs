//! The live worker (`bucketwarden run`, DESIGN §6–§7): takes and renews shard leases, reads each
//! held shard, claims events in the fleet's dedup table, folds them with the same pipeline as
//! replay, verifies against live S3 before acting, remediates, records incidents, alerts, persists
//! state and only then checkpoints. Owns orchestration and ordering; every judgement is the pure
//! core's, every AWS call goes through the edge modules.

pub mod lease;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::aws::backoff::Backoff;
use crate::aws::dedup_table::{Claim, DedupTable};
use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::aws::incident::{AlertClaim, Alerter, DeadLetters, Incident, IncidentTable};
use crate::aws::kinesis::{KRecord, ShardReader, MIN_GET_RECORDS_INTERVAL};
use crate::aws::lease_table::LeaseTable;
use crate::aws::s3_fix::{Remediator, S3Remediator};
use crate::aws::s3_read;
use crate::aws::state_store::StateStore;
use crate::aws::Clients;
use crate::commands::reconcile;
use crate::config::Config;
use crate::core::decision::Action;
use crate::core::fold::{Note, Transition};
use crate::core::input::{self, Item};
use crate::core::pipeline::Pipeline;
use crate::core::record::{Classified, S3Event, Skip};
use crate::core::transcript::{ExposureLabel, Line};
use crate::observe::metrics as m;
use lease::{Checkpoint, ExpiryTracker, Lease};

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

struct Held {
    lease: tokio::sync::Mutex<Lease>,
    last_renewed: Mutex<Instant>,
    lost: CancellationToken,
}

struct Inner {
    s: Settings,
    config: Config,
    clients: Clients,
    stream: String,
    leases: LeaseTable,
    dedup: DedupTable,
    store: StateStore,
    incidents: IncidentTable,
    alerter: Alerter,
    dead: DeadLetters,
    remediator: S3Remediator,
    pipeline: Mutex<Pipeline>,
    /// Buckets whose persisted state this process has loaded since its leases last changed.
    loaded: Mutex<HashSet<String>>,
    /// Store versions of the state items this process last read or wrote.
    versions: Mutex<HashMap<String, u64>>,
    held: Mutex<HashMap<String, Arc<Held>>>,
    /// Shards whose consumer task is still running, lease lost or not. A lost lease leaves `held`
    /// at once, but its consumer may still be inside a batch; taking the shard again before that
    /// task ends would run two consumers of one shard in this process, sharing the fold and the
    /// per-shard lease check, so the lost one's effects would pass under the new lease.
    consuming: Mutex<HashSet<String>>,
    /// EndingSequenceNumber of closed shards, from discovery.
    shard_ends: Mutex<HashMap<String, String>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    health: Arc<crate::observe::health::Health>,
    reconcile: ReconcileState,
}

/// The reconciler's leader lease and schedule (DESIGN: one worker at a time, KCL-style lease).
struct ReconcileState {
    every: Option<Duration>,
    concurrency: usize,
    decider: crate::core::decision::Decider,
    leader: tokio::sync::Mutex<Option<Lease>>,
    last_renewed: Mutex<Option<Instant>>,
    still_leader: std::sync::atomic::AtomicBool,
    running: std::sync::atomic::AtomicBool,
    next_pass: Mutex<Option<Instant>>,
    account: tokio::sync::OnceCell<String>,
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

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Records how long `f` took in the histogram `name` (with an `op` label when given).
async fn timed<T>(
    name: &'static str,
    op: Option<&'static str>,
    f: impl std::future::Future<Output = T>,
) -> T {
    let t = Instant::now();
    let out = f.await;
    let secs = t.elapsed().as_secs_f64();
    match op {
        Some(op) => metrics::histogram!(name, "op" => op).record(secs),
        None => metrics::histogram!(name).record(secs),
    }
    out
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
            dead: DeadLetters::new(clients.clone(), &names.dead_letter_table),
            remediator: S3Remediator::new(clients.clone(), config.remediation.attempts),
            pipeline: Mutex::new(pipeline),
            loaded: Mutex::new(HashSet::new()),
            versions: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            consuming: Mutex::new(HashSet::new()),
            shard_ends: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            health: Arc::new(crate::observe::health::Health::new(settings.failover)),
            reconcile: ReconcileState {
                every: (config.reconcile.interval_ms > 0)
                    .then(|| Duration::from_millis(config.reconcile.interval_ms)),
                concurrency: config.reconcile.concurrency.max(1),
                decider: crate::core::decision::Decider::new(
                    &config.exemptions,
                    config.remediation.mode == crate::config::Mode::DryRun,
                )?,
                leader: tokio::sync::Mutex::new(None),
                last_renewed: Mutex::new(None),
                still_leader: std::sync::atomic::AtomicBool::new(false),
                running: std::sync::atomic::AtomicBool::new(false),
                next_pass: Mutex::new(None),
                account: tokio::sync::OnceCell::new(),
            },
            s: settings,
            config,
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
                take_round(inner, &mut tracker, leases.clone()).await?;
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
                    take_round(inner, &mut tracker, leases).await?;
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
        info!("worker stopped");
        Ok(())
    }
}

/// Retries a throttled or transient call with jittered backoff (DESIGN §7), so one throttled call
/// does not fail a whole batch or lease round; other errors return at once.
async fn retried<T, F, Fut>(what: &'static str, f: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    retried_n(what, 6, f).await
}

/// Attempts for writes whose failure would make a retried batch repeat an effect (~40 s).
const MARK_ATTEMPTS: u32 = 24;

async fn retried_n<T, F, Fut>(what: &'static str, attempts: u32, mut f: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut backoff = Backoff::new(
        Duration::from_millis(50),
        Duration::from_secs(2),
        what.len() as u64 ^ std::process::id() as u64,
    );
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && backoff.attempts() < attempts => {
                if e.is(Kind::Throttled) {
                    metrics::counter!(m::THROTTLES, "service" => e.service).increment(1);
                }
                debug!(call = what, error = %e, "retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Takes, renews or loses the reconciler's lease (a row of the lease table, fenced on its
/// counter and expired by watching it, like a shard's), and starts a pass when one is due.
async fn leader_round(inner: &Arc<Inner>, tracker: &mut ExpiryTracker) -> Result<(), AwsError> {
    use std::sync::atomic::Ordering;
    let r = &inner.reconcile;
    let Some(every) = r.every else {
        return Ok(());
    };
    let me = inner.s.worker_id.as_str();
    let now = Instant::now();
    let mut leader = r.leader.lock().await;
    // Self-fencing: a leader that could not renew for the failover time stops acting as one.
    let lapsed = r
        .last_renewed
        .lock()
        .expect("renew lock")
        .is_some_and(|t| now.duration_since(t) > inner.s.failover);
    if leader.is_some() && lapsed {
        *leader = None;
        r.still_leader.store(false, Ordering::SeqCst);
        warn!("reconciler lease renewal lapsed: no longer the reconciler");
    }
    let row = match inner.leases.get(reconcile::LEADER_KEY).await? {
        Some(row) => row,
        None => {
            let fresh = Lease::new(reconcile::LEADER_KEY, Vec::new(), Checkpoint::TrimHorizon);
            inner.leases.create(&fresh).await?;
            return Ok(());
        }
    };
    tracker.observe(std::slice::from_ref(&row), now);
    if let Some(mine) = leader.clone() {
        match inner.leases.renew(&mine, me).await? {
            Some(l) => {
                *leader = Some(l);
                *r.last_renewed.lock().expect("renew lock") = Some(now);
            }
            None => {
                *leader = None;
                r.still_leader.store(false, Ordering::SeqCst);
                info!("reconciler lease taken by another worker");
            }
        }
    } else {
        let takeable = row.owner.is_none()
            || row.owner.as_deref() == Some(me)
            || tracker.is_expired(&row.key, inner.s.failover, now);
        if takeable {
            if let Some(l) = inner.leases.take(&row, me).await? {
                info!(from = ?row.owner, "this worker is now the reconciler");
                *leader = Some(l);
                *r.last_renewed.lock().expect("renew lock") = Some(now);
                r.still_leader.store(true, Ordering::SeqCst);
                // The first pass comes one interval after taking over, not at once: a fleet
                // (re)start must not re-read every bucket.
                *r.next_pass.lock().expect("schedule lock") = Some(now + every);
            }
        }
    }
    metrics::gauge!(m::RECONCILE_LEADER).set(if leader.is_some() { 1.0 } else { 0.0 });
    drop(leader);
    let due = r
        .next_pass
        .lock()
        .expect("schedule lock")
        .is_some_and(|t| t <= now);
    if due && r.still_leader.load(Ordering::SeqCst) && !r.running.swap(true, Ordering::SeqCst) {
        *r.next_pass.lock().expect("schedule lock") = Some(now + every);
        let inner2 = inner.clone();
        inner.tasks.spawn(async move {
            reconcile_pass(&inner2, every).await;
            inner2.reconcile.running.store(false, Ordering::SeqCst);
        });
    }
    Ok(())
}

async fn reconcile_pass(inner: &Arc<Inner>, every: Duration) {
    let started = Instant::now();
    let r = &inner.reconcile;
    let account = match r
        .account
        .get_or_try_init(|| inner.clients.caller_account())
        .await
    {
        Ok(a) => a.clone(),
        Err(e) => {
            warn!(error = %e, "reconcile: cannot tell the account (STS GetCallerIdentity)");
            return;
        }
    };
    let ctx = reconcile::Ctx {
        clients: &inner.clients,
        store: &inner.store,
        incidents: &inner.incidents,
        alerter: &inner.alerter,
        remediator: &inner.remediator,
        decider: &r.decider,
        account: &account,
        worker_id: &inner.s.worker_id,
        interval_ms: every.as_millis() as i64,
        concurrency: r.concurrency,
        still_leader: &r.still_leader,
    };
    match reconcile::pass(&ctx, now_ms()).await {
        Ok(report) => {
            {
                let mut p = inner.pipeline.lock().expect("pipeline lock");
                for (bucket, state) in &report.corrected {
                    p.fold_mut().settle_bucket(bucket, state);
                }
            }
            metrics::counter!(m::RECONCILE_PASSES).increment(1);
            metrics::counter!(m::RECONCILE_BUCKETS).increment(report.reread as u64);
            info!(
                buckets = report.buckets,
                reread = report.reread,
                drift = report.drift,
                remediated = report.remediated,
                failed = report.failed,
                unreadable = report.errors,
                seconds = started.elapsed().as_secs_f64(),
                "reconciliation pass done"
            );
        }
        Err(e) => warn!(error = %e, "reconciliation pass failed; the next one retries"),
    }
    metrics::histogram!(m::RECONCILE_DURATION).record(started.elapsed().as_secs_f64());
}

/// On a graceful stop, hands the reconciler lease back so another worker takes it at once.
async fn release_leadership(inner: &Inner) {
    let mut leader = inner.reconcile.leader.lock().await;
    if let Some(l) = leader.take() {
        inner
            .reconcile
            .still_leader
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let _ = inner.leases.release(&l, &inner.s.worker_id).await;
        metrics::gauge!(m::RECONCILE_LEADER).set(0.0);
    }
}

fn held_keys(inner: &Inner) -> HashSet<String> {
    inner
        .held
        .lock()
        .expect("held lock")
        .keys()
        .cloned()
        .collect()
}

fn held_snapshot(inner: &Inner) -> Vec<(String, Arc<Held>)> {
    inner
        .held
        .lock()
        .expect("held lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Proves this worker still holds `shard` with a fenced renewal just before an effect (a
/// remediation, an alert). A balancing steal is only noticed at the next renewal, and the thief
/// re-reads the batch from the checkpoint; without this the victim's batch in flight and the
/// thief's would both act. The thief needs several round trips (iterator, records, claim,
/// verify) before its own effect, the victim one, so the window left is far smaller than either.
async fn confirm_lease(inner: &Inner, shard: &str) -> Result<(), AwsError> {
    let lost = |why: &str| {
        lease_lost(
            "RenewLease",
            format!("{shard}: {why}; the effect is left to the lease's new owner"),
        )
    };
    let Some(held) = inner.held.lock().expect("held lock").get(shard).cloned() else {
        return Err(lost("lease no longer held"));
    };
    if held.lost.is_cancelled() {
        return Err(lost("lease lost"));
    }
    // Effects of one batch run side by side and would queue one renewal each behind the lease
    // lock; any fenced write that started after this one asked proves as much.
    let asked = Instant::now();
    if retried("RenewLease before an effect", || {
        renew_held(inner, &held, Some(asked))
    })
    .await?
    {
        return Ok(());
    }
    lose(
        inner,
        shard,
        &held,
        "fenced before an effect: another worker took the lease",
    );
    Err(lost("another worker took the lease"))
}

/// The error for work stopped because its shard's lease is no longer this worker's.
fn lease_lost(operation: &'static str, message: String) -> AwsError {
    AwsError {
        service: "dynamodb",
        operation,
        kind: Kind::ConditionFailed,
        code: "LeaseLost".into(),
        message,
    }
}

/// One fenced renewal of a held lease; false when another worker has moved it. With `since`, a
/// renewal or checkpoint that started at or after it (while this call waited for the lease lock)
/// already proves the lease is held, and no write is made.
async fn renew_held(inner: &Inner, held: &Held, since: Option<Instant>) -> Result<bool, AwsError> {
    let mut lease = held.lease.lock().await;
    if since.is_some_and(|t| *held.last_renewed.lock().expect("renew lock") >= t) {
        return Ok(true);
    }
    // Timed from before the write: the others count the failover time from when they see the
    // counter move, which is never before the write lands, so this clock always runs out first.
    let started = Instant::now();
    match lease_write(
        inner,
        "RenewLease",
        inner.leases.renew(&lease, &inner.s.worker_id),
    )
    .await?
    {
        Some(renewed) => {
            *lease = renewed;
            *held.last_renewed.lock().expect("renew lock") = started;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Bounds one lease write (SDK retries included) to a third of the failover time. One call that
/// outlasted the failover time would lose the lease while still in flight; abandoned, the next
/// renewal gets its turn, and a write that landed unreported is recognised by its token.
async fn lease_write<T>(
    inner: &Inner,
    operation: &'static str,
    write: impl std::future::Future<Output = Result<T, AwsError>>,
) -> Result<T, AwsError> {
    let budget = inner.s.renew_every;
    match tokio::time::timeout(budget, write).await {
        Ok(r) => r,
        Err(_) => Err(AwsError {
            service: "dynamodb",
            operation,
            kind: Kind::Transient,
            code: "LeaseWriteTimeout".into(),
            message: format!(
                "no answer within {budget:?} (a third of the failover time); abandoned, it may have landed"
            ),
        }),
    }
}

fn forget_loaded(inner: &Inner) {
    // Another worker may have changed these buckets while we did not hold their shard.
    inner.loaded.lock().expect("loaded lock").clear();
}

fn lose(inner: &Inner, shard: &str, held: &Held, why: &str) {
    if !held.lost.is_cancelled() {
        held.lost.cancel();
        metrics::counter!(m::LEASES_LOST).increment(1);
        warn!(shard_id = shard, why, "lease lost; stopping this shard");
    }
    inner.held.lock().expect("held lock").remove(shard);
    metrics::gauge!(m::LEASES_HELD).set(inner.held.lock().expect("held lock").len() as f64);
    forget_loaded(inner);
}

async fn renew_loop(inner: Arc<Inner>, stop: CancellationToken) {
    // At a fixed rate, not a fixed pause after each round: a slow round must not push the next
    // one towards the failover time.
    let mut tick = tokio::time::interval(inner.s.renew_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Each lease on its own: one slow renewal must not hold up the others'.
        let renewals = held_snapshot(&inner)
            .into_iter()
            .map(|(shard, held)| renew_one(&inner, shard, held));
        futures_util::future::join_all(renewals).await;
        report_leases(&inner);
    }
}

/// Renews one lease, retrying a failed attempt at once (after a short backoff) until it lands or
/// the failover time runs out: waiting for the next round after one failure left a single slow
/// call between the lease and its expiry.
async fn renew_one(inner: &Inner, shard: String, held: Arc<Held>) {
    let round = Instant::now();
    let mut backoff = Backoff::new(
        Duration::from_millis(50),
        Duration::from_millis(400),
        shard.len() as u64 ^ std::process::id() as u64,
    );
    loop {
        if held.lost.is_cancelled() {
            return;
        }
        // Self-fence here as well as between batches: a consumer inside a long batch would
        // only notice at its end, and its shard would wait for it.
        if fenced(inner, &held) {
            lose(
                inner,
                &shard,
                &held,
                "renewal lapsed past the failover time (self-fenced)",
            );
            return;
        }
        // A checkpoint or a pre-effect renewal is writing the lease right now; if it lands, it
        // renews the lease for this round.
        if held.lease.try_lock().is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        match renew_held(inner, &held, Some(round)).await {
            Ok(true) => return,
            Ok(false) => {
                lose(
                    inner,
                    &shard,
                    &held,
                    "renewal fenced: another worker took the lease",
                );
                return;
            }
            Err(e) => {
                if e.is(Kind::Throttled) {
                    metrics::counter!(m::THROTTLES, "service" => "dynamodb").increment(1);
                }
                if backoff.attempts() == 0 {
                    warn!(shard_id = %shard, error = %e, "lease renewal failed; retrying");
                } else {
                    debug!(shard_id = %shard, error = %e, "lease renewal failed again; retrying");
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// Tells `/readyz` how many leases are held and how fresh the stalest renewal is.
fn report_leases(inner: &Inner) {
    let held = held_snapshot(inner);
    let oldest = held
        .iter()
        .map(|(_, h)| *h.last_renewed.lock().expect("renew lock"))
        .min();
    inner.health.leases(held.len(), oldest);
    metrics::gauge!(m::LEASES_HELD).set(held.len() as f64);
}

/// Lists the stream's shards and creates the missing leases; returns how many it created.
async fn discover(inner: &Arc<Inner>, leases: &[Lease]) -> Result<usize, AwsError> {
    let mut created = 0;
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = inner.clients.kinesis.list_shards();
        let req = match &token {
            Some(t) => req.next_token(t),
            None => req.stream_name(&inner.stream),
        };
        let r = req
            .send()
            .await
            .map_err(|e| from_sdk("kinesis", "ListShards", e))?;
        shards.extend(r.shards().iter().cloned());
        match r.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    let existing: HashSet<String> = leases.iter().map(|l| l.key.clone()).collect();
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    {
        let mut ends = inner.shard_ends.lock().expect("ends lock");
        for sh in &shards {
            if let Some(end) = sh
                .sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
            {
                ends.insert(sh.shard_id().to_owned(), end.to_owned());
            }
        }
    }
    for sh in &shards {
        let parents: Vec<String> = [sh.parent_shard_id(), sh.adjacent_parent_shard_id()]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect();
        for p in &parents {
            children
                .entry(p.clone())
                .or_default()
                .push(sh.shard_id().to_owned());
        }
        if existing.contains(sh.shard_id()) {
            continue;
        }
        // A child must start at its beginning whatever the initial position: its parents' records
        // stop exactly where it starts.
        let start = if parents.is_empty() {
            inner.s.initial.clone()
        } else {
            Checkpoint::TrimHorizon
        };
        let mut lease = Lease::new(sh.shard_id(), parents, start);
        lease.starting_hash = sh
            .hash_key_range()
            .map(|h| h.starting_hash_key().to_owned());
        lease.ending_hash = sh.hash_key_range().map(|h| h.ending_hash_key().to_owned());
        if inner.leases.create(&lease).await? {
            created += 1;
            info!(shard_id = sh.shard_id(), parents = ?lease.parents, "new shard: lease created");
        }
    }
    for (parent, kids) in children {
        if existing.contains(&parent) {
            let _ = inner.leases.set_children(&parent, &kids).await;
        }
    }
    Ok(created)
}

async fn take_round(
    inner: &Arc<Inner>,
    tracker: &mut ExpiryTracker,
    mut leases: Vec<Lease>,
) -> Result<(), AwsError> {
    let me = inner.s.worker_id.as_str();
    let now = Instant::now();
    tracker.observe(&leases, now);
    let held = held_keys(inner);
    let consuming = inner.consuming.lock().expect("consuming lock").clone();
    // A lease recorded under our id that this process does not hold is a previous incarnation's.
    for l in &mut leases {
        if l.owner.as_deref() == Some(me) && !held.contains(&l.key) {
            l.owner = None;
        }
    }
    let failover = inner.s.failover;
    let expired = |l: &Lease| {
        l.owner.is_some()
            && l.owner.as_deref() != Some(me)
            && tracker.is_expired(&l.key, failover, now)
    };
    let plan = lease::plan(&leases, me, &expired);
    let wanted: Vec<String> = plan
        .take
        .iter()
        .cloned()
        .chain(plan.steal.clone())
        .filter(|k| !held.contains(k) && !consuming.contains(k))
        .collect();
    for key in wanted {
        let Some(current) = leases.iter().find(|l| l.key == key) else {
            continue;
        };
        let stolen = current.owner.is_some();
        // One failed take does not stop the others; the next round tries it again.
        let taken = match lease_write(inner, "TakeLease", inner.leases.take(current, me)).await {
            Ok(t) => t,
            Err(e) => {
                warn!(shard_id = %key, error = %e, "lease take failed; next round");
                continue;
            }
        };
        match taken {
            Some(taken) => {
                metrics::counter!(m::LEASES_TAKEN).increment(1);
                if stolen && !expired(current) {
                    metrics::counter!(m::LEASES_STOLEN).increment(1);
                }
                info!(shard_id = %key, from = ?current.owner, stolen, checkpoint = taken.checkpoint.as_str(), "lease taken");
                start_consumer(inner, taken);
            }
            None => debug!(shard_id = %key, "lease moved before we could take it"),
        }
    }
    // The fleet's view for the dashboard and /readyz: open shards, and those a live worker holds.
    let held_now = held_keys(inner);
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let open: Vec<&Lease> = leases.iter().filter(|l| !l.is_finished()).collect();
    let live = |l: &Lease| held_now.contains(&l.key) || (l.owner.is_some() && !expired(l));
    let leased = open.iter().filter(|l| live(l)).count();
    let available = open
        .iter()
        .filter(|l| !live(l) && lease::parents_done(l, &by_key))
        .count();
    metrics::gauge!(m::FLEET_SHARDS).set(open.len() as f64);
    metrics::gauge!(m::FLEET_LEASED_SHARDS).set(leased as f64);
    inner.health.lease_round(Instant::now(), available);
    report_leases(inner);
    Ok(())
}

fn start_consumer(inner: &Arc<Inner>, lease: Lease) {
    let key = lease.key.clone();
    let held = Arc::new(Held {
        lease: tokio::sync::Mutex::new(lease),
        last_renewed: Mutex::new(Instant::now()),
        lost: CancellationToken::new(),
    });
    inner
        .held
        .lock()
        .expect("held lock")
        .insert(key.clone(), held.clone());
    forget_loaded(inner);
    inner
        .consuming
        .lock()
        .expect("consuming lock")
        .insert(key.clone());
    inner.tasks.spawn(consume(inner.clone(), key, held));
}

/// Marks a shard's consumer finished however its task ends.
struct ConsumerEnds {
    inner: Arc<Inner>,
    shard: String,
}

impl Drop for ConsumerEnds {
    fn drop(&mut self) {
        if let Ok(mut c) = self.inner.consuming.lock() {
            c.remove(&self.shard);
        }
    }
}

fn fenced(inner: &Inner, held: &Held) -> bool {
    held.last_renewed.lock().expect("renew lock").elapsed() >= inner.s.failover
}

/// Checkpoints under the lease lock (renewal shares the counter). `Ok(false)`: the lease is gone.
async fn checkpoint(
    inner: &Inner,
    shard: &str,
    held: &Held,
    cp: Checkpoint,
) -> Result<bool, AwsError> {
    if fenced(inner, held) {
        return Ok(false);
    }
    let mut lease = held.lease.lock().await;
    let t = Instant::now();
    let r = lease_write(
        inner,
        "Checkpoint",
        inner.leases.checkpoint(&lease, &inner.s.worker_id, &cp),
    )
    .await;
    metrics::histogram!(m::CHECKPOINT_LATENCY).record(t.elapsed().as_secs_f64());
    match r? {
        Some(l) => {
            *lease = l;
            // From before the write, as in `renew_held`.
            *held.last_renewed.lock().expect("renew lock") = t;
            debug!(shard_id = shard, checkpoint = cp.as_str(), "checkpointed");
            Ok(true)
        }
        None => {
            metrics::counter!(m::CHECKPOINT_CONFLICTS).increment(1);
            Ok(false)
        }
    }
}

async fn consume(inner: Arc<Inner>, shard: String, held: Arc<Held>) {
    let _ends = ConsumerEnds {
        inner: inner.clone(),
        shard: shard.clone(),
    };
    let start = held.lease.lock().await.checkpoint.clone();
    info!(shard_id = %shard, from = start.as_str(), "shard consumer started");
    let mut reader = ShardReader::new(inner.clients.kinesis.clone(), &inner.stream, &shard, start);
    reader.limit = inner.s.max_records;
    let mut backoff = Backoff::new(
        Duration::from_millis(200),
        Duration::from_secs(10),
        shard.len() as u64 ^ std::process::id() as u64,
    );
    let mut last_call: Option<Instant> = None;
    let mut graceful = false;
    loop {
        if inner.shutdown.is_cancelled() {
            graceful = true;
            break;
        }
        if held.lost.is_cancelled() {
            break;
        }
        if fenced(&inner, &held) {
            lose(
                &inner,
                &shard,
                &held,
                "renewal lapsed past the failover time (self-fenced)",
            );
            break;
        }
        if let Some(t) = last_call {
            let since = t.elapsed();
            if since < MIN_GET_RECORDS_INTERVAL {
                tokio::time::sleep(MIN_GET_RECORDS_INTERVAL - since).await;
            }
        }
        let ending = inner
            .shard_ends
            .lock()
            .expect("ends lock")
            .get(&shard)
            .cloned();
        last_call = Some(Instant::now());
        let t = Instant::now();
        let batch = match reader.next_batch(ending.as_deref()).await {
            Ok(b) => {
                metrics::histogram!(m::GET_RECORDS_LATENCY).record(t.elapsed().as_secs_f64());
                backoff.reset();
                b
            }
            Err(e) => {
                match e.kind {
                    Kind::ExpiredIterator => {
                        metrics::counter!(m::ITERATOR_EXPIRIES, "shard_id" => shard.clone())
                            .increment(1);
                        info!(shard_id = %shard, "iterator expired; resuming after the last delivered record");
                        continue;
                    }
                    Kind::Throttled => {
                        metrics::counter!(m::THROTTLES, "service" => "kinesis").increment(1);
                        debug!(shard_id = %shard, "GetRecords throttled; backing off");
                    }
                    _ => warn!(shard_id = %shard, error = %e, "GetRecords failed; backing off"),
                }
                sleep_or_stop(&inner, &held, backoff.next_delay()).await;
                continue;
            }
        };
        if let Some(ms) = batch.millis_behind {
            metrics::gauge!(m::MILLIS_BEHIND, "shard_id" => shard.clone()).set(ms as f64);
        }
        if !batch.records.is_empty() {
            let bytes: usize = batch.records.iter().map(|r| r.data.len()).sum();
            metrics::counter!(m::SHARD_RECORDS_READ, "shard_id" => shard.clone())
                .increment(batch.records.len() as u64);
            metrics::counter!(m::SHARD_BYTES_READ, "shard_id" => shard.clone())
                .increment(bytes as u64);
            metrics::gauge!(m::LAST_RECORD_TIMESTAMP).set(now_ms() as f64 / 1000.0);
        }
        if let Some(last) = batch.records.last() {
            // A lost lease abandons the batch at once, as a SIGKILL would: its new owner re-reads
            // it from the checkpoint, and every step is safe to redo (claims are retaken by the
            // same record, pending incidents finished, alerts claimed). Finishing it here instead
            // could sit in retries for as long as the retry budget while the shard waits for
            // this consumer to end. An alert already under way runs on in its own task.
            let done = tokio::select! {
                biased;
                r = process_batch(&inner, &shard, &held, &batch.records) => Some(r),
                _ = held.lost.cancelled() => None,
            };
            let Some(done) = done else {
                metrics::counter!(m::BATCHES_ABANDONED).increment(1);
                info!(shard_id = %shard, "lease lost mid-batch: batch left to the lease's new owner");
                break;
            };
            if let Err(e) = done {
                warn!(shard_id = %shard, error = %e, "batch failed; it will be read again from the checkpoint");
                let cp = held.lease.lock().await.checkpoint.clone();
                reader = ShardReader::new(inner.clients.kinesis.clone(), &inner.stream, &shard, cp);
                reader.limit = inner.s.max_records;
                sleep_or_stop(&inner, &held, backoff.next_delay()).await;
                continue;
            }
            match checkpoint(
                &inner,
                &shard,
                &held,
                Checkpoint::Sequence(last.sequence_number.clone()),
            )
            .await
            {
                Ok(true) => {}
                Ok(false) => {
                    lose(&inner, &shard, &held, "checkpoint fenced");
                    break;
                }
                // The next batch's checkpoint covers this one; effects are idempotent by event id.
                Err(e) => {
                    warn!(shard_id = %shard, error = %e, "checkpoint failed; will checkpoint with the next batch")
                }
            }
        }
        if batch.shard_end {
            match checkpoint(&inner, &shard, &held, Checkpoint::ShardEnd).await {
                Ok(true) => {
                    info!(shard_id = %shard, "shard fully read: checkpointed SHARD_END");
                    inner.held.lock().expect("held lock").remove(&shard);
                    return;
                }
                Ok(false) => {
                    lose(&inner, &shard, &held, "SHARD_END checkpoint fenced");
                    break;
                }
                Err(e) => {
                    warn!(shard_id = %shard, error = %e, "SHARD_END checkpoint failed; retrying");
                    sleep_or_stop(&inner, &held, backoff.next_delay()).await;
                    continue;
                }
            }
        }
        let caught_up = batch.records.is_empty() || batch.millis_behind.unwrap_or(0) == 0;
        if caught_up {
            sleep_or_stop(&inner, &held, inner.s.poll_interval).await;
        }
    }
    if graceful && !held.lost.is_cancelled() {
        let lease = held.lease.lock().await;
        match inner.leases.release(&lease, &inner.s.worker_id).await {
            Ok(true) => info!(shard_id = %shard, "lease released"),
            Ok(false) => info!(shard_id = %shard, "lease already moved; nothing to release"),
            Err(e) => {
                warn!(shard_id = %shard, error = %e, "could not release lease; it will expire")
            }
        }
    }
    inner.held.lock().expect("held lock").remove(&shard);
    metrics::gauge!(m::LEASES_HELD).set(inner.held.lock().expect("held lock").len() as f64);
}

async fn sleep_or_stop(inner: &Inner, held: &Held, d: Duration) {
    tokio::select! {
        _ = inner.shutdown.cancelled() => {}
        _ = held.lost.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

/// What one batch touched and claimed, written out before its checkpoint.
#[derive(Default)]
struct BatchWork {
    seen_ids: HashSet<String>,
    claimed: Vec<String>,
    buckets: BTreeSet<String>,
    accounts: BTreeSet<String>,
    refreshed_accounts: HashSet<String>,
}

impl BatchWork {
    /// Folds in what one bucket's queue did.
    fn absorb(&mut self, other: BatchWork) {
        self.seen_ids.extend(other.seen_ids);
        self.claimed.extend(other.claimed);
        self.buckets.extend(other.buckets);
        self.accounts.extend(other.accounts);
        self.refreshed_accounts.extend(other.refreshed_accounts);
    }
}

/// Transitions of different buckets in one batch are handled together, up to this many at once;
/// each bucket's events stay in order.
const BUCKETS_IN_FLIGHT: usize = 16;

async fn process_batch(
    inner: &Arc<Inner>,
    shard: &str,
    held: &Held,
    records: &[KRecord],
) -> Result<(), AwsError> {
    // 1. Classify every record in order; poison is dead-lettered on the way. Counting is per
    //    batch: this loop runs for every record on the stream, and nine in ten are skipped.
    let mut events: Vec<(usize, Box<S3Event>)> = Vec::new();
    let mut classified_count = 0u64;
    let mut skipped: Vec<(Skip, u64)> = Vec::new();
    metrics::counter!(m::RECORDS_RECEIVED).increment(records.len() as u64);
    for (i, rec) in records.iter().enumerate() {
        if rec.data.len() > inner.s.max_record_bytes {
            let reason = format!(
                "record of {} bytes exceeds max_record_bytes {}",
                rec.data.len(),
                inner.s.max_record_bytes
            );
            dead_letter(inner, shard, rec, &reason).await?;
            continue;
        }
        // A record is normally one EventBridge event, classified whole; JSON Lines, arrays or
        // anything broken are split first, so each part is judged (and reported) on its own.
        let single = crate::core::record::classify_single(&rec.data);
        let mut parts: Vec<Result<Classified, String>> = Vec::new();
        if single.is_none() {
            input::split_records(&rec.data, |item| match item {
                Item::Record { bytes, .. } => parts.push(Ok(crate::core::record::classify(bytes))),
                Item::Malformed { pos, reason } => parts.push(Err(format!("{pos}: {reason}"))),
            });
        }
        for part in single.map(Ok).into_iter().chain(parts) {
            let classified = match part {
                Ok(c) => c,
                Err(reason) => {
                    dead_letter(inner, shard, rec, &reason).await?;
                    continue;
                }
            };
            match classified {
                Classified::Skipped(skip) => {
                    classified_count += 1;
                    match skipped.iter_mut().find(|(s, _)| *s == skip) {
                        Some((_, n)) => *n += 1,
                        None => skipped.push((skip, 1)),
                    }
                }
                Classified::Malformed(reason) => {
                    inner
                        .pipeline
                        .lock()
                        .expect("pipeline lock")
                        .count_malformed();
                    dead_letter(inner, shard, rec, &reason).await?;
                }
                Classified::Event(mut ev) => {
                    classified_count += 1;
                    cap_future_time(shard, rec, &mut ev);
                    events.push((i, ev));
                }
            }
        }
    }
    inner
        .pipeline
        .lock()
        .expect("pipeline lock")
        .count_classified(classified_count, &skipped);
    for (skip, n) in &skipped {
        metrics::counter!(m::EVENTS_SKIPPED, "reason" => skip.as_str()).increment(*n);
    }

    // 2. Handle them in chunks, each persisted and checkpointed before the next, so that a batch
    //    which fails or loses its lease part-way keeps what it finished. Without this, a backlog
    //    under heavy faults was re-read whole after every failure, grew while it was retried,
    //    and never completed. A chunk ends on a record boundary: the checkpoint is per record.
    let mut start = 0;
    while start < events.len() {
        let end = chunk_end(&events, start, EVENTS_PER_CHECKPOINT);
        handle_events(inner, shard, records, &events[start..end]).await?;
        if end < events.len() {
            let upto = &records[events[end - 1].0].sequence_number;
            match checkpoint(inner, shard, held, Checkpoint::Sequence(upto.clone())).await {
                Ok(true) => {}
                Ok(false) => {
                    lose(inner, shard, held, "checkpoint fenced");
                    return Err(lease_lost(
                        "Checkpoint",
                        format!("{shard}: checkpoint fenced mid-batch; the rest is left to the lease's new owner"),
                    ));
                }
                Err(e) => {
                    warn!(shard_id = shard, error = %e, "mid-batch checkpoint failed; a later one covers it")
                }
            }
        }
        start = end;
    }
    Ok(())
}

/// Events handled between two checkpoints of one batch (16 buckets at a time: two rounds).
const EVENTS_PER_CHECKPOINT: usize = 32;

/// Where the chunk of `events` (tagged with their record's index) starting at `start` ends:
/// after about `size` events, extended so that no record's events are split across two chunks.
fn chunk_end<T>(events: &[(usize, T)], start: usize, size: usize) -> usize {
    let mut end = (start + size.max(1)).min(events.len());
    while end < events.len() && events[end].0 == events[end - 1].0 {
        end += 1;
    }
    end
}

/// Handles classified events and persists what they changed. A run of bucket events is split by
/// bucket and the buckets go concurrently (order holds per bucket, which is all the stream
/// promises); an event without a bucket or for the whole account is a barrier handled alone,
/// after everything before it.
async fn handle_events(
    inner: &Arc<Inner>,
    shard: &str,
    records: &[KRecord],
    events: &[(usize, Box<S3Event>)],
) -> Result<(), AwsError> {
    // Boxed: this future is large, and unboxed it overflowed a worker thread's stack.
    Box::pin(async {
        let mut work = BatchWork::default();
        let mut run: Vec<&(usize, Box<S3Event>)> = Vec::new();
        for entry in events {
            let ev = &entry.1;
            if ev.bucket.is_none() || ev.event_name.is_account_level() {
                handle_run(inner, shard, records, &run, &mut work).await?;
                run.clear();
                handle_event(inner, shard, &records[entry.0], ev, &mut work).await?;
            } else {
                run.push(entry);
            }
        }
        handle_run(inner, shard, records, &run, &mut work).await?;
        persist(inner, &work).await
    })
    .await
}

/// How far past its record's arrival on the stream an event's `eventTime` may be before it is
/// treated as forged: AWS clocks agree to well under a second, and CloudTrail only delivers an
/// event after it happened, so a minute is generous.
const FUTURE_SKEW_MS: i64 = 60_000;

/// Orders a future-dated event at its arrival (plus skew) instead of the time it claims. Without
/// this, one forged event dated 2099 would make every later genuine change of the same component
/// stale until a live read corrected it.
fn cap_future_time(shard: &str, rec: &KRecord, ev: &mut S3Event) {
    let Some(arrival) = rec
        .arrival
        .and_then(|a| a.duration_since(std::time::UNIX_EPOCH).ok())
    else {
        return;
    };
    if ev.cap_time(arrival.as_millis() as i64 + FUTURE_SKEW_MS) {
        metrics::counter!(m::EVENTS_FUTURE_DATED).increment(1);
        warn!(shard_id = shard, sequence_number = %rec.sequence_number, bucket = ev.bucket.as_deref().unwrap_or(""), event_id = ?ev.event_id, event_time = %ev.event_time, "eventTime is after the record reached the stream; ordered at its arrival instead (forged or broken clock)");
    }
}

/// Bucket events, grouped by bucket in order of first appearance, buckets concurrently.
async fn handle_run(
    inner: &Arc<Inner>,
    shard: &str,
    records: &[KRecord],
    run: &[&(usize, Box<S3Event>)],
    work: &mut BatchWork,
) -> Result<(), AwsError> {
    use futures_util::stream::{self, StreamExt};
    // Queues of positions in `run` (owned indices: the futures below must not take borrowed
    // arguments, or the spawned consumer stops being provably Send).
    let mut queues: Vec<(String, Vec<usize>)> = Vec::new();
    for (pos, entry) in run.iter().enumerate() {
        let bucket = entry.1.bucket.as_deref().unwrap_or("");
        match queues.iter_mut().find(|(b, _)| b == bucket) {
            Some((_, q)) => q.push(pos),
            None => queues.push((bucket.to_owned(), vec![pos])),
        }
    }
    if queues.len() <= 1 {
        for entry in run {
            handle_event(inner, shard, &records[entry.0], &entry.1, work).await?;
        }
        return Ok(());
    }
    let refreshed = work.refreshed_accounts.clone();
    let results: Vec<Result<BatchWork, AwsError>> = stream::iter(queues)
        .map(|(_, queue): (String, Vec<usize>)| {
            let refreshed = refreshed.clone();
            async move {
                let mut mine = BatchWork {
                    refreshed_accounts: refreshed,
                    ..BatchWork::default()
                };
                for pos in queue {
                    let entry = run[pos];
                    handle_event(inner, shard, &records[entry.0], &entry.1, &mut mine).await?;
                }
                Ok(mine)
            }
        })
        .buffer_unordered(BUCKETS_IN_FLIGHT)
        .collect()
        .await;
    // Merge what every bucket touched, even when one failed: the claims taken must be known.
    let mut first_err = None;
    for r in results {
        match r {
            Ok(mine) => work.absorb(mine),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn dead_letter(
    inner: &Inner,
    shard: &str,
    rec: &KRecord,
    reason: &str,
) -> Result<(), AwsError> {
    metrics::counter!(m::EVENTS_MALFORMED).increment(1);
    metrics::counter!(m::DEAD_LETTERS).increment(1);
    warn!(shard_id = shard, sequence_number = %rec.sequence_number, reason, "poison record dead-lettered and skipped");
    let at = now_rfc3339();
    retried("PutItem dead letter", || {
        inner
            .dead
            .put(shard, &rec.sequence_number, &rec.data, reason, &at)
    })
    .await
}

async fn ensure_loaded(inner: &Inner, ev: &S3Event, work: &mut BatchWork) -> Result<(), AwsError> {
    if work.refreshed_accounts.insert(ev.account.clone()) {
        // Account state is shared by every worker: read it once per batch.
        if let Some(v) = timed(m::STATE_LATENCY, Some("load"), async {
            retried("GetItem account", || inner.store.load_account(&ev.account)).await
        })
        .await?
        {
            set_version(inner, format!("account#{}", ev.account), v.version);
            inner
                .pipeline
                .lock()
                .expect("pipeline lock")
                .fold_mut()
                .load_account(&ev.account, v.value);
        }
    }
    if ev.event_name.is_account_level() {
        // Re-evaluate every bucket of the account, including those other workers own.
        for (name, v) in retried("Query account buckets", || {
            inner.store.buckets_of_account(&ev.account)
        })
        .await?
        {
            install_bucket(inner, &name, v);
        }
        return Ok(());
    }
    let Some(bucket) = &ev.bucket else {
        return Ok(());
    };
    if inner.loaded.lock().expect("loaded lock").contains(bucket) {
        return Ok(());
    }
    if let Some(v) = timed(m::STATE_LATENCY, Some("load"), async {
        retried("GetItem bucket", || inner.store.load_bucket(bucket)).await
    })
    .await?
    {
        install_bucket(inner, bucket, v);
    }
    inner
        .loaded
        .lock()
        .expect("loaded lock")
        .insert(bucket.clone());
    Ok(())
}

fn install_bucket(
    inner: &Inner,
    name: &str,
    v: crate::aws::state_store::Versioned<crate::core::fold::BucketState>,
) {
    set_version(inner, format!("bucket#{name}"), v.version);
    let mut p = inner.pipeline.lock().expect("pipeline lock");
    let fold = p.fold_mut();
    let mut state = v.value;
    if let Some(mine) = fold.bucket_state(name) {
        state.merge_from(mine);
    }
    fold.load_bucket(name, state);
    inner
        .loaded
        .lock()
        .expect("loaded lock")
        .insert(name.to_owned());
}

async fn handle_event(
    inner: &Arc<Inner>,
    shard: &str,
    rec: &KRecord,
    ev: &S3Event,
    work: &mut BatchWork,
) -> Result<(), AwsError> {
    let seen_in_batch = ev
        .event_id
        .as_ref()
        .is_some_and(|id| !work.seen_ids.insert(id.clone()));
    let claim = async {
        match &ev.event_id {
            Some(id) if !seen_in_batch => timed(m::DEDUP_LATENCY, None, async {
                retried("dedup claim", || {
                    inner.dedup.claim(
                        id,
                        &inner.s.worker_id,
                        shard,
                        &rec.sequence_number,
                        SystemTime::now(),
                    )
                })
                .await
            })
            .await
            .map(Some),
            _ => Ok(None),
        }
    };
    // The claim and the state load are independent round trips: overlap them. A duplicate's
    // load is wasted but harmless (it only installs persisted state).
    let (claim, loaded) = if seen_in_batch {
        (Ok(None), Ok(()))
    } else {
        tokio::join!(claim, ensure_loaded(inner, ev, work))
    };
    let claim = claim?;
    let retaken = claim == Some(Claim::Retaken);
    let duplicate = match claim {
        Some(Claim::Done) => true,
        Some(Claim::Fresh | Claim::Retaken) => {
            if let Some(id) = &ev.event_id {
                work.claimed.push(id.clone());
            }
            false
        }
        None => seen_in_batch,
    };
    metrics::counter!(m::EVENTS_APPLIED, "event_name" => ev.event_name.as_str()).increment(1);
    if duplicate {
        metrics::counter!(m::EVENTS_DUPLICATE).increment(1);
        let lines = inner.pipeline.lock().expect("pipeline lock").duplicate(ev);
        for line in &lines {
            log_line(shard, rec, line);
        }
        return Ok(());
    }
    loaded?;
    let lines = inner.pipeline.lock().expect("pipeline lock").apply(ev);
    work.accounts.insert(ev.account.clone());
    for line in &lines {
        log_line(shard, rec, line);
        metrics::counter!(m::TRANSITIONS, "transition" => line.transition.as_str()).increment(1);
        metrics::counter!(m::DECISIONS, "action" => line.action.as_str()).increment(1);
        if let Some(b) = &line.bucket {
            work.buckets.insert(b.clone());
        }
        // A retaken record that leaves the bucket public is verified whatever the fold says:
        // the attempt before may have folded it and died before acting.
        let unfinished = retaken && line.exposure == ExposureLabel::Public;
        // A stale event is not folded, but its order rests on times someone else wrote: an
        // earlier event with a forged or skewed time must not hide a real change, so live S3
        // decides. Stale events are rare (the stream keeps each bucket in order).
        let stale = line.note == Some(Note::Stale);
        if line.action != Action::None || line.note == Some(Note::Assumed) || stale || unfinished {
            Box::pin(act(inner, shard, rec, ev, line)).await?;
        }
    }
    // eventTime to the action done: what an operator's "locked down within seconds" means.
    metrics::histogram!(m::DECISION_LATENCY)
        .record(((now_ms() - ev.time_ms).max(0) as f64) / 1000.0);
    Ok(())
}

fn log_line(shard: &str, rec: &KRecord, line: &Line) {
    let json = line.to_json();
    let bucket = line.bucket.as_deref().unwrap_or("");
    let event_id = line.event_id.as_deref().unwrap_or("");
    if line.transition == Transition::BecamePublic {
        info!(shard_id = shard, sequence_number = %rec.sequence_number, bucket, event_id, decision = %json, "became public");
    } else {
        debug!(shard_id = shard, sequence_number = %rec.sequence_number, bucket, event_id, decision = %json, "decision");
    }
}

/// Only the identity counts, never the userAgent: any caller can put `app/bucketwarden` in its
/// user agent, and trusting it would let anyone open a bucket unremediated. bucketwarden's own
/// calls only ever close things, so without `self_arns` they cannot loop either.
fn is_self(inner: &Inner, ev: &S3Event) -> bool {
    ev.actor_arn
        .as_deref()
        .is_some_and(|arn| inner.config.remediation.is_self_arn(arn))
}

/// Verify, then remediate or alert, record the incident and publish it. Idempotent per incident
/// id, so a batch retried after a crash completes what was started instead of repeating it.
async fn act(
    inner: &Arc<Inner>,
    shard: &str,
    rec: &KRecord,
    ev: &S3Event,
    line: &Line,
) -> Result<(), AwsError> {
    let Some(bucket) = line.bucket.as_deref() else {
        return Ok(());
    };
    let key = line.key.as_deref();
    if ev.event_name == crate::core::record::EventName::DeleteBucket {
        return Ok(());
    }
    if is_self(inner, ev) {
        metrics::counter!(m::REMEDIATIONS, "action" => line.action.as_str(), "outcome" => "skipped_self").increment(1);
        info!(shard_id = shard, bucket, event_id = ?ev.event_id, "event caused by bucketwarden itself; not acting");
        return Ok(());
    }
    let incident_id = Incident::id_for(ev.event_id.as_deref(), &ev.event_time, bucket, key);
    let mut resumed_pending = false;
    // Both are reads: issue them together (the live read is wasted only on a retried batch whose
    // incident is already final).
    // The lease is proven at the same time: it must still be ours when we act.
    let (prior, live, held) = tokio::join!(
        retried("GetItem incident", || {
            inner.incidents.outcome_of(&incident_id)
        }),
        retried("verify bucket", || {
            s3_read::read_bucket(&inner.clients, bucket, &ev.account, ev.time_ms, Default::default())
        }),
        confirm_lease(inner, shard)
    );
    held?;
    if let Some((outcome, alerted)) = prior? {
        if outcome != crate::aws::incident::PENDING {
            // An earlier attempt finished this incident; this fold may not have seen it (the
            // lease moved, or that attempt's batch failed before its state was written), so
            // take what it did and what S3 shows now into the state this batch persists.
            {
                let mut p = inner.pipeline.lock().expect("pipeline lock");
                if let Ok(l) = &live {
                    p.fold_mut().settle_bucket(bucket, &l.state);
                    p.fold_mut()
                        .settle_account_block(&ev.account, l.account_block, ev.time_ms);
                }
                if outcome == "remediated" {
                    match key {
                        Some(k) => p.fold_mut().note_object_private(bucket, k, ev.time_ms),
                        None => p.fold_mut().note_bucket_locked(bucket, ev.time_ms),
                    }
                }
            }
            if !alerted {
                publish(inner, &incident_id, ev, bucket).await?;
            }
            return Ok(());
        }
        resumed_pending = true;
    }
    let live = match live {
        Ok(l) => l,
        Err(e) if e.is(Kind::NotFound) => {
            metrics::counter!(m::VERIFICATIONS, "result" => "not_exposed").increment(1);
            info!(
                shard_id = shard,
                bucket, "bucket no longer exists; nothing to do"
            );
            return Ok(());
        }
        Err(e) => {
            metrics::counter!(m::VERIFICATIONS, "result" => "error").increment(1);
            return Err(e);
        }
    };
    {
        let mut p = inner.pipeline.lock().expect("pipeline lock");
        p.fold_mut().settle_bucket(bucket, &live.state);
        p.fold_mut()
            .settle_account_block(&ev.account, live.account_block, ev.time_ms);
    }
    let exposure = match key {
        Some(k) => match retried("verify object", || {
            s3_read::read_object(&inner.clients, &live, bucket, k)
        })
        .await
        {
            Ok((_, e)) => e,
            Err(e) if e.is(Kind::NotFound) => {
                metrics::counter!(m::VERIFICATIONS, "result" => "not_exposed").increment(1);
                return Ok(());
            }
            Err(e) => {
                metrics::counter!(m::VERIFICATIONS, "result" => "error").increment(1);
                return Err(e);
            }
        },
        None => live.exposure.clone(),
    };
    if !exposure.public && resumed_pending {
        // A previous attempt confirmed the exposure and recorded a pending incident, then died
        // before recording the outcome; S3 shows the bucket closed now, so finish that incident.
        let mut incident = incident_for(
            inner,
            ev,
            line,
            bucket,
            key,
            &incident_id,
            line.action,
            Vec::new(),
        );
        incident.outcome = "remediated".into();
        incident.remediation = Some("completed_before_restart".into());
        incident.remediated_at = Some(now_rfc3339());
        // As after a remediation of our own: the fix is in the state this batch persists, or a
        // live read that merely ties with the event's time would leave the bucket public in it.
        {
            let mut p = inner.pipeline.lock().expect("pipeline lock");
            match key {
                Some(k) => p.fold_mut().note_object_private(bucket, k, ev.time_ms),
                None => p.fold_mut().note_bucket_locked(bucket, ev.time_ms),
            }
        }
        retried("PutItem incident", || inner.incidents.put(&incident)).await?;
        metrics::counter!(m::REMEDIATIONS, "action" => line.action.as_str(), "outcome" => "remediated").increment(1);
        info!(
            shard_id = shard,
            bucket, key, "finished an incident a previous attempt left pending"
        );
        confirm_lease(inner, shard).await?;
        return publish_incident(inner, &incident).await;
    }
    if !exposure.public {
        metrics::counter!(m::VERIFICATIONS, "result" => "not_exposed").increment(1);
        if line.action != Action::None {
            info!(shard_id = shard, bucket, key, event_id = ?ev.event_id, "live S3 is not exposed (stale or superseded event): no action");
        }
        return Ok(());
    }
    metrics::counter!(m::VERIFICATIONS, "result" => "exposed").increment(1);
    let action = if line.action != Action::None {
        line.action
    } else {
        // An event judged on assumptions turned out exposed: decide as for a transition to public.
        let p = inner.pipeline.lock().expect("pipeline lock");
        let tags = p
            .fold()
            .bucket(bucket)
            .map(|b| b.tags().to_vec())
            .unwrap_or_default();
        p.decider()
            .decide(Transition::BecamePublic, Some(bucket), &tags)
    };
    let mut incident = incident_for(
        inner,
        ev,
        line,
        bucket,
        key,
        &incident_id,
        action,
        exposure.reasons.clone(),
    );
    if action == Action::Remediate {
        retried("PutItem incident", || inner.incidents.put(&incident)).await?;
        let result = match key {
            Some(k) => inner.remediator.remediate_object(bucket, k).await,
            None => {
                inner
                    .remediator
                    .remediate_bucket(bucket, &now_rfc3339())
                    .await
            }
        };
        match result {
            Ok(applied) => {
                // No CloudTrail event for our own fix may ever reach this worker (or only
                // later), so record it in the fold: a re-opening must be a new transition.
                // Stamped with the triggering event's time, not the clock: CloudTrail times have
                // second precision, and a re-opening in the same second must not look stale.
                let at = ev.time_ms;
                {
                    let mut p = inner.pipeline.lock().expect("pipeline lock");
                    match key {
                        Some(k) => p.fold_mut().note_object_private(bucket, k, at),
                        None => p.fold_mut().note_bucket_locked(bucket, at),
                    }
                }
                incident.outcome = "remediated".into();
                incident.remediation = Some(applied.as_str().to_owned());
                incident.remediated_at = Some(now_rfc3339());
                if let Some(arrival) = rec.arrival {
                    if let Ok(d) = SystemTime::now().duration_since(arrival) {
                        metrics::histogram!(m::REMEDIATION_LATENCY).record(d.as_secs_f64());
                    }
                }
                info!(shard_id = shard, bucket, key, event_id = ?ev.event_id, remediation = applied.as_str(), "remediated");
            }
            Err(e) => {
                incident.outcome = "failed".into();
                incident.error = Some(e.to_string());
                error!(shard_id = shard, bucket, key, event_id = ?ev.event_id, error = %e, "REMEDIATION FAILED: the bucket may still be public; an operator must act");
            }
        }
    } else {
        incident.outcome = "alerted".into();
        info!(shard_id = shard, bucket, key, event_id = ?ev.event_id, "public and exempt or dry-run: alert only");
    }
    retried("PutItem incident", || inner.incidents.put(&incident)).await?;
    metrics::counter!(m::REMEDIATIONS, "action" => action.as_str(), "outcome" => incident.outcome.clone()).increment(1);
    confirm_lease(inner, shard).await?;
    publish_incident(inner, &incident).await
}

#[allow(clippy::too_many_arguments)]
fn incident_for(
    inner: &Inner,
    ev: &S3Event,
    line: &Line,
    bucket: &str,
    key: Option<&str>,
    incident_id: &str,
    action: Action,
    live_reasons: Vec<String>,
) -> Incident {
    Incident {
        incident_id: incident_id.to_owned(),
        event_id: ev.event_id.clone(),
        event_name: ev.event_name.as_str().to_owned(),
        bucket: bucket.to_owned(),
        key: key.map(str::to_owned),
        account: ev.account.clone(),
        region: ev.region.clone(),
        actor_arn: ev.actor_arn.clone(),
        source_ip: ev.source_ip.clone(),
        reasons: if live_reasons.is_empty() {
            line.reasons.clone()
        } else {
            live_reasons
        },
        action: action.as_str().to_owned(),
        outcome: crate::aws::incident::PENDING.into(),
        remediation: None,
        error: None,
        event_time: ev.event_time.clone(),
        detected_at: now_rfc3339(),
        remediated_at: None,
        worker: inner.s.worker_id.clone(),
        source: "stream".into(),
    }
}

async fn publish(
    inner: &Arc<Inner>,
    incident_id: &str,
    ev: &S3Event,
    bucket: &str,
) -> Result<(), AwsError> {
    // Re-publishing an incident recorded before a crash: the record itself is the message.
    let r = inner
        .clients
        .dynamodb
        .get_item()
        .table_name(&inner.config.names.incident_table)
        .key(
            "incidentId",
            aws_sdk_dynamodb::types::AttributeValue::S(incident_id.to_owned()),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| from_sdk("dynamodb", "GetItem", e))?;
    let get = |k: &str| {
        r.item()
            .and_then(|i| i.get(k))
            .and_then(|v| v.as_s().ok())
            .cloned()
    };
    let incident = Incident {
        incident_id: incident_id.to_owned(),
        event_id: ev.event_id.clone(),
        event_name: ev.event_name.as_str().to_owned(),
        bucket: bucket.to_owned(),
        key: get("key"),
        account: ev.account.clone(),
        region: ev.region.clone(),
        actor_arn: ev.actor_arn.clone(),
        source_ip: ev.source_ip.clone(),
        reasons: r
            .item()
            .and_then(|i| i.get("reasons"))
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|x| x.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        action: get("action").unwrap_or_default(),
        outcome: get("outcome").unwrap_or_default(),
        remediation: get("remediation"),
        error: get("error"),
        event_time: ev.event_time.clone(),
        detected_at: get("detectedAt").unwrap_or_default(),
        remediated_at: get("remediatedAt"),
        worker: get("worker").unwrap_or_default(),
        source: get("source").unwrap_or_else(|| "stream".into()),
    };
    publish_incident(inner, &incident).await
}

/// How long an alert claim stays valid unrenewed: longer than one publish call can take (three
/// SDK attempts of at most the attempt timeout), so a live claimant is never overtaken.
const ALERT_CLAIM_STALE_SECS: u64 = 60;

/// Publishes an incident's alert in a task of its own, which runs to the end even when the batch
/// that asked for it is abandoned (its lease lost): dropped between the message and the record of
/// it, a second message would follow from the lease's new owner.
async fn publish_incident(inner: &Arc<Inner>, incident: &Incident) -> Result<(), AwsError> {
    let task_inner = inner.clone();
    let incident = incident.clone();
    let sending = inner
        .tasks
        .spawn(async move { send_alert(&task_inner, &incident).await });
    match sending.await {
        Ok(r) => r,
        Err(e) => Err(AwsError {
            service: "sns",
            operation: "Publish",
            kind: Kind::Other,
            code: "AlertTaskFailed".into(),
            message: format!("alert task ended abnormally: {e}"),
        }),
    }
}

/// Publishes an incident's alert once across the fleet: claim it on the incident row (renewed
/// before every attempt), publish, record it. A standard SNS topic cannot deduplicate, so this
/// claim is what keeps two attempts at one incident (a lease moved mid-batch) to one message.
async fn send_alert(inner: &Inner, incident: &Incident) -> Result<(), AwsError> {
    let token = uuid::Uuid::new_v4().to_string();
    let id = incident.incident_id.as_str();
    // A FIFO topic deduplicates by incident itself, and a claim left by a killed worker would
    // only delay the alert until it went stale.
    let claims = !inner.alerter.deduplicates();
    // Each attempt renews the claim before publishing, so a live claimant is never overtaken.
    let sent = retried("Publish alert", || async {
        let claim = if claims {
            inner
                .incidents
                .claim_alert(id, &token, epoch_secs_now(), ALERT_CLAIM_STALE_SECS)
                .await?
        } else {
            AlertClaim::Won
        };
        match claim {
            AlertClaim::AlreadySent => Ok(false),
            // Not retried here: the batch fails and looks again once the claimant is done.
            AlertClaim::InFlight => Err(AwsError {
                service: "sns",
                operation: "Publish",
                kind: Kind::ConditionFailed,
                code: "AlertInFlight".into(),
                message: format!(
                    "incident {id}: another attempt holds the alert claim; the batch will look again"
                ),
            }),
            AlertClaim::Won => inner.alerter.publish(incident).await.map(|()| true),
        }
    })
    .await;
    match sent {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(e) => {
            if e.code != "AlertInFlight" {
                metrics::counter!(m::ALERTS, "outcome" => "failed").increment(1);
                warn!(bucket = %incident.bucket, error = %e, "alert not sent; the batch will be retried");
            }
            return Err(e);
        }
    }
    metrics::counter!(m::ALERTS, "outcome" => "sent").increment(1);
    // The message is out; the claim keeps others off until it goes stale, so record it well
    // before then. The mark is idempotent: keep at it rather than give the batch up.
    let at = now_rfc3339();
    retried_n("mark incident alerted", MARK_ATTEMPTS, || {
        inner.incidents.mark_alerted(id, &at)
    })
    .await
}

fn epoch_secs_now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes the batch's state, then marks its events done; the caller checkpoints after this.
async fn persist(inner: &Inner, work: &BatchWork) -> Result<(), AwsError> {
    use futures_util::stream::{self, TryStreamExt};
    // Each bucket's, account's and event id's write is independent of the others: issued side by
    // side, as many as there are buckets in flight. One after another, a chunk's 32 saves and 32
    // dedup finishes took longer under faults than the lease could wait.
    stream::iter(work.buckets.iter().map(Ok))
        .try_for_each_concurrent(BUCKETS_IN_FLIGHT, |name| save_bucket_state(inner, name))
        .await?;
    stream::iter(work.accounts.iter().map(Ok))
        .try_for_each_concurrent(BUCKETS_IN_FLIGHT, |account| {
            save_account_state(inner, account)
        })
        .await?;
    // Last: an event id is `done` only once everything it changed is saved.
    stream::iter(work.claimed.iter().map(Ok))
        .try_for_each_concurrent(BUCKETS_IN_FLIGHT, |id| async move {
            retried("dedup finish", || inner.dedup.finish(id)).await
        })
        .await?;
    Ok(())
}

async fn save_bucket_state(inner: &Inner, name: &String) -> Result<(), AwsError> {
    let state = inner
        .pipeline
        .lock()
        .expect("pipeline lock")
        .fold()
        .bucket_state(name)
        .cloned();
    let Some(state) = state else {
        return Ok(());
    };
    let key = format!("bucket#{name}");
    let expected = version_of(inner, &key);
    let saved = timed(m::STATE_LATENCY, Some("save"), async {
        retried("save bucket", || {
            inner.store.save_bucket(name, &state, expected)
        })
        .await
    })
    .await?;
    set_version(inner, key, saved.version);
    if saved.value != state {
        inner
            .pipeline
            .lock()
            .expect("pipeline lock")
            .fold_mut()
            .load_bucket(name, saved.value);
    }
    Ok(())
}

async fn save_account_state(inner: &Inner, account: &String) -> Result<(), AwsError> {
    let state = inner
        .pipeline
        .lock()
        .expect("pipeline lock")
        .fold()
        .account(account)
        .cloned();
    let Some(mut state) = state else {
        return Ok(());
    };
    // Bucket membership lives in the state table's account index; keep the item small.
    state.buckets.clear();
    let key = format!("account#{account}");
    let expected = version_of(inner, &key);
    let saved = timed(m::STATE_LATENCY, Some("save"), async {
        retried("save account", || {
            inner.store.save_account(account, &state, expected)
        })
        .await
    })
    .await?;
    set_version(inner, key, saved.version);
    Ok(())
}

/// The state-table version this worker last read or wrote for `key` (0: never seen).
fn version_of(inner: &Inner, key: &str) -> u64 {
    inner
        .versions
        .lock()
        .expect("versions lock")
        .get(key)
        .copied()
        .unwrap_or(0)
}

fn set_version(inner: &Inner, key: String, version: u64) {
    inner
        .versions
        .lock()
        .expect("versions lock")
        .insert(key, version);
}

#[cfg(test)]
mod tests {
    use super::chunk_end;

    fn chunks(records_of_events: &[usize], size: usize) -> Vec<Vec<usize>> {
        let events: Vec<(usize, ())> = records_of_events.iter().map(|&r| (r, ())).collect();
        let mut out = Vec::new();
        let mut start = 0;
        while start < events.len() {
            let end = chunk_end(&events, start, size);
            out.push(events[start..end].iter().map(|e| e.0).collect());
            start = end;
        }
        out
    }

    #[test]
    fn chunks_cover_every_event_once_in_order() {
        let recs = [0, 1, 2, 3, 4, 5, 6];
        assert_eq!(
            chunks(&recs, 3),
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
        );
        assert_eq!(chunks(&recs, 100), vec![recs.to_vec()]);
        assert!(chunks(&[], 3).is_empty());
    }

    #[test]
    fn a_record_with_several_events_is_never_split_across_checkpoints() {
        // Record 1 holds four events (a JSON Lines or Records-array record): it goes whole into
        // the chunk it starts in, so a checkpoint after that chunk never skips part of it.
        let recs = [0, 1, 1, 1, 1, 2, 3];
        assert_eq!(chunks(&recs, 2), vec![vec![0, 1, 1, 1, 1], vec![2, 3]]);
        assert_eq!(
            chunks(&recs, 1),
            vec![vec![0], vec![1, 1, 1, 1], vec![2], vec![3]]
        );
    }

    #[test]
    fn a_zero_size_still_makes_progress() {
        assert_eq!(chunks(&[0, 0, 1], 0), vec![vec![0, 0], vec![1]]);
    }
}
