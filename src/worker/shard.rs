//! The consume loop of one shard: read a batch, process it, and only then checkpoint it
//! (commit after effect: a crash re-reads, never skips). Also the checkpoint write, SHARD_END and
//! the graceful release. Must not classify or act on records itself: that is `batch`'s.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::lease::{Checkpoint, Lease};
use crate::aws::backoff::Backoff;
use crate::aws::error::{AwsError, Kind};
use crate::aws::kinesis::{ShardReader, MIN_GET_RECORDS_INTERVAL};
use crate::observe::metrics as m;

use super::batch::process_batch;
use super::leases::{fenced, forget_loaded, lease_write, lose, Held};
use super::{now_ms, Inner};

pub(super) fn start_consumer(inner: &Arc<Inner>, lease: Lease) {
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
pub(super) struct ConsumerEnds {
    pub(super) inner: Arc<Inner>,
    pub(super) shard: String,
}

impl Drop for ConsumerEnds {
    fn drop(&mut self) {
        if let Ok(mut c) = self.inner.consuming.lock() {
            c.remove(&self.shard);
        }
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

pub(super) async fn consume(inner: Arc<Inner>, shard: String, held: Arc<Held>) {
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

pub(super) async fn sleep_or_stop(inner: &Inner, held: &Held, d: Duration) {
    tokio::select! {
        _ = inner.shutdown.cancelled() => {}
        _ = held.lost.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}
