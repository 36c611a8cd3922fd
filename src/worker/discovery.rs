//! Shard discovery: lists the stream's shards and creates the leases missing for them, with
//! parents and children recorded for resharding. Must not take leases or read records.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tracing::info;

use super::lease::{Checkpoint, Lease};
use crate::aws::error::AwsError;
use crate::aws::kinesis;

use super::Inner;

/// Lists the stream's shards and creates the missing leases; returns how many it created.
pub(super) async fn discover(inner: &Arc<Inner>, leases: &[Lease]) -> Result<usize, AwsError> {
    let mut created = 0;
    let shards = kinesis::list_shards(&inner.clients.kinesis, &inner.stream).await?;
    let existing: HashSet<String> = leases.iter().map(|l| l.key.clone()).collect();
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    *inner.listed_shards.lock().expect("listed lock") =
        Some(shards.iter().map(|sh| sh.shard_id.clone()).collect());
    {
        let mut ends = inner.shard_ends.lock().expect("ends lock");
        for sh in &shards {
            if let Some(end) = &sh.ending_sequence {
                ends.insert(sh.shard_id.clone(), end.clone());
            }
        }
    }
    for sh in &shards {
        for p in &sh.parents {
            children
                .entry(p.clone())
                .or_default()
                .push(sh.shard_id.clone());
        }
        if existing.contains(&sh.shard_id) {
            continue;
        }
        // A child must start at its beginning whatever the initial position: its parents' records
        // stop exactly where it starts.
        let start = if sh.parents.is_empty() {
            inner.s.initial.clone()
        } else {
            Checkpoint::TrimHorizon
        };
        let mut lease = Lease::new(&sh.shard_id, sh.parents.clone(), start);
        lease.starting_hash = sh.starting_hash.clone();
        lease.ending_hash = sh.ending_hash.clone();
        if inner.leases.create(&lease).await? {
            created += 1;
            info!(shard_id = %sh.shard_id, parents = ?lease.parents, "new shard: lease created");
        }
    }
    for (parent, kids) in children {
        if existing.contains(&parent) {
            let _ = inner.leases.set_children(&parent, &kids).await;
        }
    }
    Ok(created)
}

/// The shard ids of the last listing, `None` before the first (see `core::lease::parents_done`).
pub(super) fn listed(inner: &Inner) -> Option<HashSet<String>> {
    inner.listed_shards.lock().expect("listed lock").clone()
}
