//! The reconciler's leader lease (one row of the lease table, fenced and expired like a shard's)
//! and the glue that runs `commands::reconcile::pass` on its schedule and settles what it
//! corrected into the fold. Must not decide anything itself: the pass decides.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::lease::{Checkpoint, ExpiryTracker, Lease};
use crate::aws::error::AwsError;
use crate::clock::now_ms;
use crate::commands::reconcile::{self, AccountPass};
use crate::config::Allowed;
use crate::observe::metrics as m;

use super::Inner;

/// The reconciler's leader lease and schedule (docs/DESIGN.md §7: one worker at a time, KCL-style lease).
pub(super) struct ReconcileState {
    pub(super) every: Option<Duration>,
    pub(super) concurrency: usize,
    pub(super) decider: crate::core::decision::Decider,
    pub(super) leader: tokio::sync::Mutex<Option<Lease>>,
    pub(super) last_renewed: Mutex<Option<Instant>>,
    pub(super) still_leader: std::sync::atomic::AtomicBool,
    pub(super) running: std::sync::atomic::AtomicBool,
    pub(super) next_pass: Mutex<Option<Instant>>,
    /// `[accounts] allowed`: the members a pass covers after the fleet's own account.
    pub(super) allowed: Allowed,
}

/// Takes, renews or loses the reconciler's lease (a row of the lease table, fenced on its
/// counter and expired by watching it, like a shard's), and starts a pass when one is due.
pub(super) async fn leader_round(
    inner: &Arc<Inner>,
    tracker: &mut ExpiryTracker,
) -> Result<(), AwsError> {
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

/// One pass over the fleet's own account, then every member of `[accounts] allowed` (or of the
/// organization, as last listed) through its role, settling what it corrected into the fold.
pub(super) async fn reconcile_pass(inner: &Arc<Inner>, every: Duration) {
    let started = Instant::now();
    let r = &inner.reconcile;
    let own = inner.accounts.own_account().to_owned();
    // The configured list, or the organization's accounts as last listed (none before the first
    // successful listing: then only the own account is reconciled, and the log says so).
    let members = inner.accounts.members();
    if r.allowed == Allowed::Organization && members.is_empty() {
        warn!("reconcile: no organization account listed yet; only the fleet's own account is reconciled this pass");
    }
    let ctx = reconcile::Ctx {
        clients: &inner.clients,
        store: &inner.store,
        incidents: &inner.incidents,
        alerter: &inner.alerter,
        remediator: &inner.remediator,
        decider: &r.decider,
        account: &own,
        worker_id: &inner.s.worker_id,
        interval_ms: every.as_millis() as i64,
        concurrency: r.concurrency,
        still_leader: &r.still_leader,
    };
    let passes = reconcile::pass_accounts(
        &ctx,
        &inner.accounts,
        &members,
        inner.remediation_attempts,
        now_ms(),
    )
    .await;
    let mut any_done = false;
    for (account, outcome) in passes {
        match outcome {
            AccountPass::Done(report) => {
                any_done = true;
                {
                    let mut p = inner.pipeline.lock().expect("pipeline lock");
                    for settlement in &report.corrected {
                        p.fold_mut().settle(settlement);
                    }
                }
                metrics::counter!(m::RECONCILE_BUCKETS).increment(report.reread as u64);
                info!(
                    account,
                    buckets = report.buckets,
                    reread = report.reread,
                    drift = report.drift,
                    remediated = report.remediated,
                    failed = report.failed,
                    alerted = report.alerted,
                    unreadable = report.errors,
                    "reconciled account"
                );
            }
            AccountPass::Unreachable(_) => {}
            AccountPass::Failed(e) => {
                warn!(account, error = %e, "reconciliation of the account failed; the next pass retries")
            }
        }
    }
    if any_done {
        metrics::counter!(m::RECONCILE_PASSES).increment(1);
    }
    info!(
        seconds = started.elapsed().as_secs_f64(),
        "reconciliation pass done"
    );
    metrics::histogram!(m::RECONCILE_DURATION).record(started.elapsed().as_secs_f64());
}

/// On a graceful stop, hands the reconciler lease back so another worker takes it at once.
pub(super) async fn release_leadership(inner: &Inner) {
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
