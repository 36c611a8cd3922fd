//! Persisted state of buckets and accounts: loading it into the fold before an event
//! (`ensure_loaded`), installing another worker's writes, and persisting a batch's changes with
//! version checks, then marking its events done. Must not decide or act.

use crate::aws::error::AwsError;
use crate::core::record::S3Event;
use crate::observe::metrics as m;

use super::batch::{BatchWork, BUCKETS_IN_FLIGHT};
use super::retry::{retried, timed};
use super::Inner;

pub(super) async fn ensure_loaded(
    inner: &Inner,
    ev: &S3Event,
    work: &mut BatchWork,
) -> Result<(), AwsError> {
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
