//! Shard discovery: lists the stream's shards and creates the leases missing for them, with
//! parents and children recorded for resharding. Must not take leases or read records.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tracing::info;

use super::lease::{Checkpoint, Lease};
use crate::aws::error::{from_sdk, AwsError};

use super::Inner;

/// Lists the stream's shards and creates the missing leases; returns how many it created.
pub(super) async fn discover(inner: &Arc<Inner>, leases: &[Lease]) -> Result<usize, AwsError> {
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
