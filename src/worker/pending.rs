//! The `pending` records of remediations about to start, each written in one
//! `TransactWriteItems` with a fenced renewal of the shard's lease: the record that lets a crash
//! after the fix be finished later, and the proof that this worker may still act, in one round
//! trip. Remediations side by side go in one group (`group`), written under the lease lock so a
//! group never races the shard's own renewals and checkpoints. Must not remediate or record
//! final outcomes.

use std::time::Instant;

use crate::aws::error::AwsError;
use crate::aws::incident::Incident;
use crate::aws::transact::{self, Group};

use super::group::{parts, GroupCommit};
use super::leases::{confirm_lease, lease_lost, lease_write, Held};
use super::retry::retried;
use super::Inner;

/// Pending records waiting for the next group write of a shard.
pub(super) type Pending = GroupCommit<Incident, bool>;

/// Records `incident` as pending and proves this worker still holds `shard`'s lease; returns
/// once both are durable. Either both happened (one transaction) or, when the group could not be
/// written (a pending condition failed, the lease moved, an answer was lost), the lease is proven
/// on its own (`confirm_lease`, which knows a renewal of ours that landed unreported) and the
/// record written alone: as durable as before grouping.
pub(super) async fn record_pending(
    inner: &Inner,
    shard: &str,
    incident: &Incident,
) -> Result<(), AwsError> {
    let Some(held) = inner.held.lock().expect("held lock").get(shard).cloned() else {
        return Err(lease_lost(
            "RenewLease",
            format!("{shard}: lease no longer held; the effect is left to the lease's new owner"),
        ));
    };
    let written = held
        .pending
        .submit(incident.clone(), |waiting| {
            write_groups(inner, &held, waiting)
        })
        .await;
    if written == Some(true) {
        return Ok(());
    }
    confirm_lease(inner, shard).await?;
    retried("PutItem incident", || inner.incidents.put(incident)).await
}

/// The lease renewal takes one of a transaction's items.
const PER_GROUP: usize = transact::MAX_ITEMS - 1;

/// One transaction per part: a renewal of the lease (locked for the whole write) and the part's
/// pending records; answers whether each record was written with its proof.
async fn write_groups(inner: &Inner, held: &Held, waiting: Vec<Incident>) -> Vec<bool> {
    let mut written = vec![false; waiting.len()];
    let mut lease = held.lease.lock().await;
    for part in parts(&waiting, PER_GROUP, |i| &i.incident_id) {
        if held.lost.is_cancelled() {
            break;
        }
        let (renewal, renewed) = inner.leases.renew_write(&lease, &inner.s.worker_id);
        let items: Vec<_> = std::iter::once(renewal)
            .chain(
                part.iter()
                    .map(|&i| inner.incidents.pending_write(&waiting[i])),
            )
            .collect();
        let token = transact::token();
        // Timed from before the write, as every renewal is (`renew_held`).
        let started = Instant::now();
        let r = lease_write(
            inner,
            "RenewLease",
            retried("TransactWriteItems lease and pending", || {
                transact::write_group(inner.leases.client(), items.clone(), &token)
            }),
        )
        .await;
        if !matches!(r, Ok(Group::Applied)) {
            // The lease may have moved, or our renewal landed unreported: only the one-by-one
            // path can tell, and this lease record must not be used again.
            break;
        }
        *lease = renewed;
        *held.last_renewed.lock().expect("renew lock") = started;
        for i in part {
            written[i] = true;
        }
    }
    written
}
