//! Persisted state of buckets and accounts: loading it into the fold before an event
//! (`ensure_loaded`), installing another worker's writes, and persisting a batch's changes with
//! version checks, then marking its events done. Must not decide or act.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::aws::error::AwsError;
use crate::aws::kinesis::KRecord;
use crate::aws::s3_read::{AccountBlocks, BucketReads};
use crate::aws::transact::{self, Group};
use crate::core::acl::Acl;
use crate::core::change::Change;
use crate::core::fold::{Stamped, WorkingSet};
use crate::core::record::S3Event;
use crate::observe::metrics as m;

use super::retry::{retried, timed};
use super::Inner;

/// What one batch touched and claimed, written out before its checkpoint.
#[derive(Default)]
pub(super) struct BatchWork {
    pub(super) seen_ids: HashSet<String>,
    pub(super) claimed: Vec<String>,
    pub(super) buckets: BTreeSet<String>,
    /// Objects whose ACL an event of the batch set, with the newest such event's time: each
    /// gets its item written (public) or removed (private) with the bucket.
    /// Objects whose ACL an event of the batch set: the newest such event's time, and whether
    /// the object may have an item (it was public in the fold before). Each public one gets its
    /// item written, each formerly public one now private its item removed.
    pub(super) objects: BTreeMap<(String, String), (i64, bool)>,
    /// Buckets created or deleted in the batch, with the newest such event's time: their
    /// object items from before are removed (the fold forgot those objects).
    pub(super) purged: BTreeMap<String, i64>,
    pub(super) accounts: BTreeSet<String>,
    pub(super) refreshed_accounts: HashSet<String>,
    /// Read-mostly context shared by every lane of the chunk.
    pub(super) shared: ChunkShared,
    /// Buckets this batch loaded or changed, kept in memory until the batch is dropped.
    pins: Pins,
}

/// Pins held by one batch in the worker's working set, released when the batch's work is
/// dropped (saved, failed or abandoned alike): a failed batch is re-read and pins again.
#[derive(Default)]
struct Pins {
    set: Option<Arc<Mutex<WorkingSet>>>,
    names: HashSet<String>,
}

impl Drop for Pins {
    fn drop(&mut self) {
        if let Some(set) = &self.set {
            let mut set = set.lock().expect("working set lock");
            for n in &self.names {
                set.unpin(n);
            }
        }
    }
}

/// What a chunk's prefetch found, shared by its lanes.
#[derive(Default, Clone)]
pub(super) struct ChunkShared {
    /// Event ids claimed for the first time by the chunk's group claim: their claim is `Fresh`
    /// without another call.
    pub(super) preclaimed: Arc<HashSet<String>>,
    /// Account-level block reads, one per account for the chunk's verifications.
    pub(super) account_blocks: AccountBlocks,
    /// Bucket reads shared by the object events of one lane step (`batch::handle_run`); `None`
    /// outside such a step, where each event reads its bucket.
    pub(super) bucket_reads: Option<BucketReads>,
}

impl BatchWork {
    /// A lane's own work record, sharing the chunk's context.
    pub(super) fn lane(&self) -> BatchWork {
        BatchWork {
            refreshed_accounts: self.refreshed_accounts.clone(),
            shared: self.shared.clone(),
            ..BatchWork::default()
        }
    }

    /// Keeps `bucket` in the fold until this batch is done with it.
    pub(super) fn pin(&mut self, inner: &Inner, bucket: &str) {
        let mut set = inner.working.lock().expect("working set lock");
        if self.pins.names.insert(bucket.to_owned()) {
            set.pin(bucket);
        } else {
            set.touch(bucket);
        }
        self.pins.set.get_or_insert_with(|| inner.working.clone());
    }

    /// Folds in what one bucket's queue did.
    pub(super) fn absorb(&mut self, mut other: BatchWork) {
        if let Some(set) = other.pins.set.take() {
            self.pins.set.get_or_insert(set);
        }
        // A bucket pinned by both keeps both pins until this work is dropped.
        for n in std::mem::take(&mut other.pins.names) {
            if !self.pins.names.insert(n.clone()) {
                if let Some(set) = &self.pins.set {
                    set.lock().expect("working set lock").unpin(&n);
                }
            }
        }
        self.seen_ids.extend(other.seen_ids);
        self.claimed.extend(other.claimed);
        self.buckets.extend(other.buckets);
        for (k, (t, stored)) in other.objects {
            let e = self.objects.entry(k).or_insert((t, stored));
            e.0 = e.0.max(t);
            e.1 |= stored;
        }
        for (b, t) in other.purged {
            let at = self.purged.entry(b).or_insert(t);
            *at = (*at).max(t);
        }
        self.accounts.extend(other.accounts);
        self.refreshed_accounts.extend(other.refreshed_accounts);
    }
}

/// Transitions of different buckets in one batch are handled together, up to this many at once;
/// each bucket's events stay in order.
pub(super) const BUCKETS_IN_FLIGHT: usize = 16;

/// Object events of one bucket between two bucket-level events are handled side by side by key,
/// up to this many keys at once: a whole chunk (~32 events) of a burst in one bucket. Each costs
/// its object's reads and fix; the bucket's read is shared (`BucketReads`).
pub(super) const OBJECTS_IN_FLIGHT: usize = 32;

/// Before a chunk's events are handled: claims every event id of the chunk in one group write
/// (first sightings; a chunk with any id seen before falls back to one claim per event, which
/// tells duplicates from retaken records), and loads the state of its accounts and of its
/// buckets not yet loaded (BatchGetItem), side by side. Each event would otherwise make these
/// round trips on its own.
pub(super) async fn prefetch(
    inner: &Inner,
    shard: &str,
    records: &[KRecord],
    events: &[(usize, Box<S3Event>)],
    work: &mut BatchWork,
) -> Result<(), AwsError> {
    // First occurrence of each event id, with its record.
    let mut ids: Vec<(&str, &str)> = Vec::new();
    let mut seen = HashSet::new();
    for (i, ev) in events {
        if let Some(id) = ev.event_id.as_deref() {
            if seen.insert(id) {
                ids.push((id, records[*i].sequence_number.as_str()));
            }
        }
    }
    let claims = async {
        // One event gains nothing from a group, and its own claim says more (retaken or not).
        if ids.len() < 2 || ids.len() > transact::MAX_ITEMS {
            return Ok(HashSet::new());
        }
        let token = transact::token();
        let group = timed(m::DEDUP_LATENCY, None, async {
            retried("dedup group claim", || {
                let now = SystemTime::now();
                let items = ids
                    .iter()
                    .map(|(id, seq)| {
                        inner
                            .dedup
                            .claim_write(id, &inner.s.worker_id, shard, seq, now)
                    })
                    .collect();
                transact::write_group(inner.dedup.client(), items, &token)
            })
            .await
        })
        .await?;
        Ok::<_, AwsError>(match group {
            Group::Applied => ids.iter().map(|(id, _)| (*id).to_owned()).collect(),
            Group::Cancelled => HashSet::new(),
        })
    };
    let buckets: Vec<String> = {
        let loaded = inner.loaded.lock().expect("loaded lock");
        let mut out: Vec<String> = events
            .iter()
            .filter(|(_, ev)| !ev.event_name.is_account_level())
            .filter_map(|(_, ev)| ev.bucket.clone())
            .filter(|b| !loaded.contains(b))
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let loads = async {
        if buckets.is_empty() {
            return Ok(HashMap::new());
        }
        timed(m::STATE_LATENCY, Some("load"), async {
            retried("BatchGetItem buckets", || {
                inner.store.load_buckets(&buckets)
            })
            .await
        })
        .await
    };
    let mut accounts: Vec<&str> = events.iter().map(|(_, ev)| ev.account.as_str()).collect();
    accounts.sort();
    accounts.dedup();
    let account_loads = async {
        let mut out = Vec::new();
        for a in &accounts {
            out.push((
                *a,
                timed(m::STATE_LATENCY, Some("load"), async {
                    retried("GetItem account", || inner.store.load_account(a)).await
                })
                .await?,
            ));
        }
        Ok::<_, AwsError>(out)
    };
    let (claims, loads, account_loads) = tokio::join!(claims, loads, account_loads);
    for (a, v) in account_loads? {
        work.refreshed_accounts.insert(a.to_owned());
        if let Some(v) = v {
            set_version(inner, format!("account#{a}"), v.version);
            inner
                .pipeline
                .lock()
                .expect("pipeline lock")
                .fold_mut()
                .load_account(a, v.value);
        }
    }
    let mut loads = loads?;
    for b in &buckets {
        work.pin(inner, b);
        match loads.remove(b) {
            Some(v) => install_bucket(inner, b, v),
            None => {
                inner.loaded.lock().expect("loaded lock").insert(b.clone());
            }
        }
    }
    work.shared.preclaimed = Arc::new(claims?);
    Ok(())
}

/// Loads what `ev` needs into the fold, and notes the object it may change.
pub(super) async fn ensure_loaded(
    inner: &Inner,
    ev: &S3Event,
    work: &mut BatchWork,
) -> Result<(), AwsError> {
    load_for(inner, ev, work).await?;
    if let (Some(b), Some(k), Some(Change::ObjectAcl(_))) = (&ev.bucket, &ev.key, &ev.change) {
        // The fold holds every stored object item of a loaded bucket: a key it does not hold
        // now has no item, so if it stays private there is nothing to remove.
        let stored = object_of(inner, b, k).is_some();
        let entry = work
            .objects
            .entry((b.clone(), k.clone()))
            .or_insert((ev.time_ms, stored));
        entry.0 = entry.0.max(ev.time_ms);
        entry.1 |= stored;
    }
    Ok(())
}

async fn load_for(inner: &Inner, ev: &S3Event, work: &mut BatchWork) -> Result<(), AwsError> {
    if let (Some(b), Some(Change::CreateBucket { .. } | Change::DeleteBucket)) =
        (&ev.bucket, &ev.change)
    {
        let at = work.purged.entry(b.clone()).or_insert(ev.time_ms);
        *at = (*at).max(ev.time_ms);
    }
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
            work.pin(inner, &name);
            install_bucket(inner, &name, v);
        }
        return Ok(());
    }
    let Some(bucket) = &ev.bucket else {
        return Ok(());
    };
    work.pin(inner, bucket);
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

pub(super) fn install_bucket(
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

/// Writes the batch's state, then marks its events done; the caller checkpoints after this.
pub(super) async fn persist(inner: &Inner, work: &BatchWork) -> Result<(), AwsError> {
    save(inner, work).await?;
    evict(inner);
    Ok(())
}

/// Once a batch's state is saved: forgets the least recently used buckets beyond the working
/// set, from the fold, `loaded` and `versions` alike (their next event reloads them). Pinned
/// buckets (unsaved work of batches in flight) stay.
fn evict(inner: &Inner) {
    let gone = inner.working.lock().expect("working set lock").evict();
    if gone.is_empty() {
        return;
    }
    {
        let mut p = inner.pipeline.lock().expect("pipeline lock");
        let fold = p.fold_mut();
        for name in &gone {
            fold.evict_bucket(name);
        }
    }
    let mut loaded = inner.loaded.lock().expect("loaded lock");
    let mut versions = inner.versions.lock().expect("versions lock");
    for name in &gone {
        loaded.remove(name);
        versions.remove(&format!("bucket#{name}"));
    }
    tracing::debug!(
        evicted = gone.len(),
        "working set: buckets evicted from the fold"
    );
}

async fn save(inner: &Inner, work: &BatchWork) -> Result<(), AwsError> {
    use futures_util::stream::{self, TryStreamExt};
    // Accounts first, each on its own (merging on a lost race), never in the chunk's group: every
    // chunk of every shard writes its account's item, so in the group that one hot item made
    // concurrent groups cancel each other and fall back to item-by-item writes (most of a burst's
    // saves, measured). Saved before the group, they are still durable before any finish.
    stream::iter(work.accounts.iter().map(Ok))
        .try_for_each_concurrent(BUCKETS_IN_FLIGHT, |account| {
            save_account_state(inner, account)
        })
        .await?;
    for (bucket, t) in &work.purged {
        purge_objects(inner, bucket, *t).await?;
    }
    if persist_as_group(inner, work).await? {
        return Ok(());
    }
    // Object items before their buckets: a bucket save that loses a race merges what the store
    // holds, which must no longer hold an object this batch set private.
    stream::iter(work.objects.iter().map(Ok))
        .try_for_each_concurrent(
            BUCKETS_IN_FLIGHT,
            |((bucket, key), (at, stored))| async move {
                let object = object_of(inner, bucket, key);
                if object.is_none() && !stored {
                    return Ok(());
                }
                let at = object.as_ref().map_or(*at, |o| o.at);
                timed(m::STATE_LATENCY, Some("save"), async {
                    retried("save object", || {
                        inner.store.save_object(bucket, key, object.as_ref(), at)
                    })
                    .await
                })
                .await
            },
        )
        .await?;
    // Each bucket's and event id's write is independent of the others: issued side by side, as
    // many as there are buckets in flight. One after another, a chunk's 32 saves and 32 dedup
    // finishes took longer under faults than the lease could wait.
    stream::iter(work.buckets.iter().map(Ok))
        .try_for_each_concurrent(BUCKETS_IN_FLIGHT, |name| save_bucket_state(inner, name))
        .await?;
    // Last: an event id is `done` only once everything it changed is saved.
    stream::iter(work.claimed.iter().map(Ok))
        .try_for_each_concurrent(BUCKETS_IN_FLIGHT, |id| async move {
            retried("dedup finish", || inner.dedup.finish(id)).await
        })
        .await?;
    Ok(())
}

/// The chunk's bucket state saves and dedup finishes as one transaction (see `aws::transact` for why
/// not BatchWriteItem): all of them or none, so the finishes are never durable without the state
/// they cover. False when the group does not apply (too many items, or cancelled because a
/// version moved or an item was busy): the caller then saves item by item, merging on conflict.
async fn persist_as_group(inner: &Inner, work: &BatchWork) -> Result<bool, AwsError> {
    let mut items = Vec::new();
    let mut versions = Vec::new();
    {
        let p = inner.pipeline.lock().expect("pipeline lock");
        for name in &work.buckets {
            if let Some(state) = p.fold().bucket_state(name) {
                let key = format!("bucket#{name}");
                let expected = version_of(inner, &key);
                items.push(inner.store.bucket_write(name, state, expected)?);
                versions.push((key, expected + 1));
            }
        }
    }
    for ((bucket, key), (at, stored)) in &work.objects {
        let object = object_of(inner, bucket, key);
        if object.is_none() && !stored {
            continue;
        }
        let at = object.as_ref().map_or(*at, |o| o.at);
        items.push(inner.store.object_write(bucket, key, object.as_ref(), at)?);
    }
    items.extend(work.claimed.iter().map(|id| inner.dedup.finish_write(id)));
    if items.len() < 2 || items.len() > transact::MAX_ITEMS {
        return Ok(false);
    }
    let token = transact::token();
    let group = timed(m::STATE_LATENCY, Some("save"), async {
        retried("save group", || {
            transact::write_group(inner.store.client(), items.clone(), &token)
        })
        .await
    })
    .await?;
    if group == Group::Cancelled {
        return Ok(false);
    }
    for (key, version) in versions {
        set_version(inner, key, version);
    }
    Ok(true)
}

/// Removes a re-created or deleted bucket's object items from before `t` that the fold no longer
/// keeps (CreateBucket and DeleteBucket forget every object). Rare: one query per such event.
async fn purge_objects(inner: &Inner, bucket: &str, t: i64) -> Result<(), AwsError> {
    let stored = timed(m::STATE_LATENCY, Some("load"), async {
        retried("Query objects", || inner.store.load_objects(bucket)).await
    })
    .await?;
    for (key, o) in stored {
        if o.at <= t && object_of(inner, bucket, &key).is_none() {
            retried("remove object", || {
                inner.store.save_object(bucket, &key, None, t)
            })
            .await?;
        }
    }
    Ok(())
}

/// The fold's public-object entry for `key`, if it keeps one.
fn object_of(inner: &Inner, bucket: &str, key: &str) -> Option<Stamped<Acl>> {
    inner
        .pipeline
        .lock()
        .expect("pipeline lock")
        .fold()
        .bucket_state(bucket)
        .and_then(|b| b.objects.get(key).cloned())
}

pub(super) async fn save_bucket_state(inner: &Inner, name: &String) -> Result<(), AwsError> {
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

pub(super) async fn save_account_state(inner: &Inner, account: &String) -> Result<(), AwsError> {
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
pub(super) fn version_of(inner: &Inner, key: &str) -> u64 {
    inner
        .versions
        .lock()
        .expect("versions lock")
        .get(key)
        .copied()
        .unwrap_or(0)
}

pub(super) fn set_version(inner: &Inner, key: String, version: u64) {
    inner
        .versions
        .lock()
        .expect("versions lock")
        .insert(key, version);
}
