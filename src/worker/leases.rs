//! The shard leases this process holds: taking them (one balancing round), renewing them on a
//! fixed beat, checkpointing (a fenced write sharing the renewal's counter), proving one is still
//! held before an effect (a fenced renewal), self-fencing when renewal lapses, and losing them.
//! Owns the `Held` record of a lease; the plan of what to take is `lease`'s (pure), the table's
//! writes `aws::lease_table`'s. Must not read shards.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::lease::{self, Checkpoint, ExpiryTracker, Lease};
use crate::aws::backoff::Backoff;
use crate::aws::error::{AwsError, Kind};
use crate::observe::metrics as m;

use super::retry::retried;
use super::Inner;

pub(super) struct Held {
    pub(super) lease: tokio::sync::Mutex<Lease>,
    pub(super) last_renewed: Mutex<Instant>,
    pub(super) lost: CancellationToken,
    /// Pending incident records waiting to ride on the next renewal (`pending`).
    pub(super) pending: super::pending::Pending,
}

pub(super) fn held_keys(inner: &Inner) -> HashSet<String> {
    inner
        .held
        .lock()
        .expect("held lock")
        .keys()
        .cloned()
        .collect()
}

pub(super) fn held_snapshot(inner: &Inner) -> Vec<(String, Arc<Held>)> {
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
pub(super) async fn confirm_lease(inner: &Inner, shard: &str) -> Result<(), AwsError> {
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
pub(super) fn lease_lost(operation: &'static str, message: String) -> AwsError {
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
pub(super) async fn renew_held(
    inner: &Inner,
    held: &Held,
    since: Option<Instant>,
) -> Result<bool, AwsError> {
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

/// Checkpoints under the lease lock (renewal shares the counter). `Ok(false)`: the lease is gone.
pub(super) async fn checkpoint(
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

/// Bounds one lease write (SDK retries included) to a third of the failover time. One call that
/// outlasted the failover time would lose the lease while still in flight; abandoned, the next
/// renewal gets its turn, and a write that landed unreported is recognised by its token.
pub(super) async fn lease_write<T>(
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

pub(super) fn forget_loaded(inner: &Inner) {
    // Another worker may have changed these buckets while we did not hold their shard.
    inner.loaded.lock().expect("loaded lock").clear();
}

pub(super) fn lose(inner: &Inner, shard: &str, held: &Held, why: &str) {
    if !held.lost.is_cancelled() {
        held.lost.cancel();
        metrics::counter!(m::LEASES_LOST).increment(1);
        warn!(shard_id = shard, why, "lease lost; stopping this shard");
    }
    inner.held.lock().expect("held lock").remove(shard);
    metrics::gauge!(m::LEASES_HELD).set(inner.held.lock().expect("held lock").len() as f64);
    forget_loaded(inner);
}

pub(super) async fn renew_loop(inner: Arc<Inner>, stop: CancellationToken) {
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
pub(super) async fn renew_one(inner: &Inner, shard: String, held: Arc<Held>) {
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
pub(super) fn report_leases(inner: &Inner) {
    let held = held_snapshot(inner);
    let oldest = held
        .iter()
        .map(|(_, h)| *h.last_renewed.lock().expect("renew lock"))
        .min();
    inner.health.leases(held.len(), oldest);
    metrics::gauge!(m::LEASES_HELD).set(held.len() as f64);
}

/// One balancing round over `leases`: takes what the plan says and hands each lease taken to
/// `start` (the shard's consumer), then reports the fleet's view.
pub(super) async fn take_round(
    inner: &Arc<Inner>,
    tracker: &mut ExpiryTracker,
    mut leases: Vec<Lease>,
    start: fn(&Arc<Inner>, Lease),
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
    let listed = super::discovery::listed(inner);
    let plan = lease::plan(&leases, me, &expired, listed.as_ref());
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
                start(inner, taken);
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
        .filter(|l| !live(l) && lease::parents_done(l, &by_key, listed.as_ref()))
        .count();
    metrics::gauge!(m::FLEET_SHARDS).set(open.len() as f64);
    metrics::gauge!(m::FLEET_LEASED_SHARDS).set(leased as f64);
    inner.health.lease_round(Instant::now(), available);
    report_leases(inner);
    Ok(())
}

pub(super) fn fenced(inner: &Inner, held: &Held) -> bool {
    held.last_renewed.lock().expect("renew lock").elapsed() >= inner.s.failover
}
