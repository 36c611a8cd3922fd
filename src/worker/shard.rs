//! The consume loop of one shard: read a batch, process it, and only then checkpoint it
//! (commit after effect: a crash re-reads, never skips), SHARD_END and the graceful release; the
//! fenced checkpoint write itself is `leases`'. Must not classify or act on records itself: that is `batch`'s.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::lease::{Checkpoint, Lease};
use crate::aws::backoff::Backoff;
use crate::aws::error::{AwsError, Blame, Kind};
use crate::aws::kinesis::{Batch, KRecord, ShardReader, MIN_GET_RECORDS_INTERVAL};
use crate::clock::now_ms;
use crate::observe::metrics as m;

use super::act::{park, park_event};
use super::batch::process_batch;
use super::leases::{checkpoint, fenced, forget_loaded, lose, Held};
use super::Inner;

pub(super) fn start_consumer(inner: &Arc<Inner>, lease: Lease) {
    let key = lease.key.clone();
    let held = Arc::new(Held {
        lease: tokio::sync::Mutex::new(lease),
        last_renewed: Mutex::new(Instant::now()),
        lost: CancellationToken::new(),
        pending: Default::default(),
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

/// What the consume loop does after one step.
enum Step {
    /// Carry on with this batch.
    Go,
    /// Start the next round of the loop (after any wait the step already made).
    Again,
    /// Leave the loop: shutdown, or the lease is no longer this worker's.
    Stop,
    /// The shard is fully read and SHARD_END checkpointed: nothing is left to release.
    Ended,
}

/// The consume loop of one shard. Each batch's effects come first and its checkpoint after, so
/// a crash between the two re-reads the batch and never skips it (at-least-once; the effects
/// are idempotent by event id).
pub(super) async fn consume(inner: Arc<Inner>, shard: String, held: Arc<Held>) {
    let _ends = ConsumerEnds {
        inner: inner.clone(),
        shard: shard.clone(),
    };
    let start = held.lease.lock().await.checkpoint.clone();
    info!(shard_id = %shard, from = start.as_str(), "shard consumer started");
    // Per-shard series exist from the moment the shard is taken, not from its first event.
    m::zero_shard(&shard);
    let mut c = Consumer::new(&inner, &shard, &held, start);
    let mut graceful = false;
    loop {
        if inner.shutdown.is_cancelled() {
            graceful = true;
            break;
        }
        if c.lost_or_fenced() {
            break;
        }
        let Some(batch) = c.read().await else {
            continue;
        };
        if let Some(last) = batch.records.last() {
            // Effects first ...
            match c.process(&batch.records).await {
                Step::Go => {}
                Step::Again => continue,
                Step::Stop | Step::Ended => break,
            }
            // ... then the checkpoint.
            match c
                .commit(Checkpoint::Sequence(last.sequence_number.clone()))
                .await
            {
                Step::Go | Step::Again => {}
                Step::Stop | Step::Ended => break,
            }
        }
        if batch.shard_end {
            match c.end().await {
                Step::Go => {}
                Step::Again => continue,
                Step::Stop => break,
                Step::Ended => return,
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

/// One shard's reader and the state of its loop.
struct Consumer<'a> {
    inner: &'a Arc<Inner>,
    shard: &'a str,
    held: &'a Held,
    reader: ShardReader,
    backoff: Backoff,
    last_call: Option<Instant>,
    /// Failures in a row of the batch at the checkpoint for a reason of its own
    /// (`Blame::Item`); a fleet outage never counts.
    item_failures: u32,
}

/// Failures in a row of one batch, each its own item's (`Blame::Item`), after which its records
/// are taken one at a time and the one that still fails is parked: a batch is never re-read
/// forever for one record. Errors an event's own step makes are parked at the event
/// (`event::handle_event`); this bound catches the rest (what the batch writes as a whole).
const ITEM_FAILURES_BEFORE_ISOLATING: u32 = 3;

impl<'a> Consumer<'a> {
    fn new(inner: &'a Arc<Inner>, shard: &'a str, held: &'a Held, start: Checkpoint) -> Self {
        Consumer {
            inner,
            shard,
            held,
            reader: Self::reader(inner, shard, start),
            backoff: Backoff::new(
                Duration::from_millis(200),
                Duration::from_secs(10),
                shard.len() as u64 ^ std::process::id() as u64,
            ),
            last_call: None,
            item_failures: 0,
        }
    }

    fn reader(inner: &Inner, shard: &str, from: Checkpoint) -> ShardReader {
        let mut reader =
            ShardReader::new(inner.clients.kinesis.clone(), &inner.stream, shard, from);
        reader.limit = inner.s.max_records;
        reader
    }

    /// True when the lease is lost, or renewal lapsed past the failover time (then lost here).
    fn lost_or_fenced(&self) -> bool {
        if self.held.lost.is_cancelled() {
            return true;
        }
        if fenced(self.inner, self.held) {
            lose(
                self.inner,
                self.shard,
                self.held,
                "renewal lapsed past the failover time (self-fenced)",
            );
            return true;
        }
        false
    }

    /// One GetRecords call, paced to the shard's limit; `None` after a failed call (and its
    /// backoff, except for an expired iterator, which resumes at once).
    async fn read(&mut self) -> Option<Batch> {
        let (inner, shard) = (self.inner, self.shard);
        if let Some(t) = self.last_call {
            let since = t.elapsed();
            if since < MIN_GET_RECORDS_INTERVAL {
                tokio::time::sleep(MIN_GET_RECORDS_INTERVAL - since).await;
            }
        }
        let ending = inner
            .shard_ends
            .lock()
            .expect("ends lock")
            .get(shard)
            .cloned();
        self.last_call = Some(Instant::now());
        let t = Instant::now();
        let batch = match self.reader.next_batch(ending.as_deref()).await {
            Ok(b) => {
                metrics::histogram!(m::GET_RECORDS_LATENCY).record(t.elapsed().as_secs_f64());
                self.backoff.reset();
                b
            }
            Err(e) => {
                match e.kind {
                    Kind::ExpiredIterator => {
                        metrics::counter!(m::ITERATOR_EXPIRIES, "shard_id" => shard.to_owned())
                            .increment(1);
                        info!(shard_id = %shard, "iterator expired; resuming after the last delivered record");
                        return None;
                    }
                    Kind::Throttled => {
                        metrics::counter!(m::THROTTLES, "service" => "kinesis").increment(1);
                        debug!(shard_id = %shard, "GetRecords throttled; backing off");
                    }
                    _ => warn!(shard_id = %shard, error = %e, "GetRecords failed; backing off"),
                }
                sleep_or_stop(inner, self.held, self.backoff.next_delay()).await;
                return None;
            }
        };
        if let Some(ms) = batch.millis_behind {
            metrics::gauge!(m::MILLIS_BEHIND, "shard_id" => shard.to_owned()).set(ms as f64);
        }
        if !batch.records.is_empty() {
            let bytes: usize = batch.records.iter().map(|r| r.data.len()).sum();
            metrics::counter!(m::SHARD_RECORDS_READ, "shard_id" => shard.to_owned())
                .increment(batch.records.len() as u64);
            metrics::counter!(m::SHARD_BYTES_READ, "shard_id" => shard.to_owned())
                .increment(bytes as u64);
            metrics::gauge!(m::LAST_RECORD_TIMESTAMP).set(now_ms() as f64 / 1000.0);
        }
        Some(batch)
    }

    /// The batch's effects. `Again` after a failure: the batch is read again from the checkpoint.
    async fn process(&mut self, records: &[KRecord]) -> Step {
        let (inner, shard, held) = (self.inner, self.shard, self.held);
        // A lost lease abandons the batch at once, as a SIGKILL would: its new owner re-reads
        // it from the checkpoint, and every step is safe to redo (claims are retaken by the
        // same record, pending incidents finished, alerts claimed). Finishing it here instead
        // could sit in retries for as long as the retry budget while the shard waits for
        // this consumer to end. An alert already under way runs on in its own task.
        let done = tokio::select! {
            biased;
            r = process_batch(inner, shard, held, records) => Some(r),
            _ = held.lost.cancelled() => None,
        };
        let Some(done) = done else {
            metrics::counter!(m::BATCHES_ABANDONED).increment(1);
            info!(shard_id = %shard, "lease lost mid-batch: batch left to the lease's new owner");
            return Step::Stop;
        };
        if let Err(e) = done {
            match e.blame() {
                // The fleet's own infrastructure: waited out, however long, losing nothing.
                Blame::Fleet => {
                    warn!(shard_id = %shard, error = %e, "batch failed on the fleet's own infrastructure; waiting it out, then reading it again from the checkpoint")
                }
                Blame::Item => {
                    self.item_failures += 1;
                    warn!(shard_id = %shard, error = %e, failures = self.item_failures, "batch failed for a reason of its own; it will be read again from the checkpoint");
                    if self.item_failures >= ITEM_FAILURES_BEFORE_ISOLATING {
                        self.item_failures = 0;
                        return self.isolate(records).await;
                    }
                }
            }
            return self.again().await;
        }
        self.item_failures = 0;
        Step::Go
    }

    /// Reads the batch again from the checkpoint, after a backoff.
    async fn again(&mut self) -> Step {
        let (inner, shard, held) = (self.inner, self.shard, self.held);
        let cp = held.lease.lock().await.checkpoint.clone();
        self.reader = Self::reader(inner, shard, cp);
        sleep_or_stop(inner, held, self.backoff.next_delay()).await;
        Step::Again
    }

    /// A batch that kept failing for a reason of its own: its records one at a time, each
    /// checkpointed once done; a record that still fails so is parked (its event's incident
    /// and alert, a dead letter, the metric) and the shard goes on. A fleet outage met here
    /// goes back to waiting, keeping the records already done.
    async fn isolate(&mut self, records: &[KRecord]) -> Step {
        let (inner, shard, held) = (self.inner, self.shard, self.held);
        warn!(shard_id = %shard, records = records.len(), "batch kept failing: taking its records one at a time");
        for rec in records {
            let done = tokio::select! {
                biased;
                r = process_batch(inner, shard, held, std::slice::from_ref(rec)) => Some(r),
                _ = held.lost.cancelled() => None,
            };
            match done {
                None => return Step::Stop,
                Some(Ok(())) => {}
                Some(Err(e)) if e.blame() == Blame::Item => {
                    if let Err(e) = park_record(inner, shard, rec, &e).await {
                        warn!(shard_id = %shard, error = %e, "could not park the record; reading the batch again");
                        return self.again().await;
                    }
                }
                Some(Err(e)) => {
                    warn!(shard_id = %shard, error = %e, "fleet outage while taking the batch one record at a time; waiting it out");
                    return self.again().await;
                }
            }
            match self
                .commit(Checkpoint::Sequence(rec.sequence_number.clone()))
                .await
            {
                Step::Go | Step::Again => {}
                other => return other,
            }
        }
        Step::Go
    }

    /// Checkpoints a processed batch. A failed write goes on: the next batch's checkpoint covers
    /// this one, and effects are idempotent by event id.
    async fn commit(&self, cp: Checkpoint) -> Step {
        let (inner, shard, held) = (self.inner, self.shard, self.held);
        match checkpoint(inner, shard, held, cp).await {
            Ok(true) => Step::Go,
            Ok(false) => {
                lose(inner, shard, held, "checkpoint fenced");
                Step::Stop
            }
            Err(e) => {
                warn!(shard_id = %shard, error = %e, "checkpoint failed; will checkpoint with the next batch");
                Step::Go
            }
        }
    }

    /// Checkpoints SHARD_END once the closed shard is fully read; retried until it lands.
    async fn end(&mut self) -> Step {
        let (inner, shard, held) = (self.inner, self.shard, self.held);
        match checkpoint(inner, shard, held, Checkpoint::ShardEnd).await {
            Ok(true) => {
                info!(shard_id = %shard, "shard fully read: checkpointed SHARD_END");
                inner.held.lock().expect("held lock").remove(shard);
                Step::Ended
            }
            Ok(false) => {
                lose(inner, shard, held, "SHARD_END checkpoint fenced");
                Step::Stop
            }
            Err(e) => {
                warn!(shard_id = %shard, error = %e, "SHARD_END checkpoint failed; retrying");
                sleep_or_stop(inner, held, self.backoff.next_delay()).await;
                Step::Again
            }
        }
    }
}

/// Parks one record whose batch failed for a reason of its own: as its event when it is one
/// (incident, alert, dead letter, metric), else its dead letter and the metric.
async fn park_record(
    inner: &Arc<Inner>,
    shard: &str,
    rec: &KRecord,
    err: &AwsError,
) -> Result<(), AwsError> {
    match crate::core::record::classify_single(&rec.data) {
        Some(crate::core::record::Classified::Event(ev)) => {
            park_event(inner, shard, rec, &ev, err).await
        }
        _ => park(inner, shard, rec, "batch", err, "", None).await,
    }
}

pub(super) async fn sleep_or_stop(inner: &Inner, held: &Held, d: Duration) {
    tokio::select! {
        _ = inner.shutdown.cancelled() => {}
        _ = held.lost.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}
