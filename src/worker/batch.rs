//! One batch of records: classify every record (poison dead-lettered with its position), cap
//! future-dated events, cut the events into chunks checkpointed on record boundaries, and run a
//! chunk's buckets concurrently while each bucket keeps its order. Must not judge exposure or
//! act: each event goes to `event`.

use std::sync::Arc;

use tracing::{error, warn};

use super::lease::Checkpoint;
use crate::aws::error::AwsError;
use crate::aws::kinesis::KRecord;
use crate::aws::s3_read::{AccountBlocks, BucketReads};
use crate::clock::now_rfc3339;
use crate::config::ObjectRemediation;
use crate::core::input::{self, Item};
use crate::core::lanes::{self, Scope};
use crate::core::record::{Classified, EventName, S3Event, Skip};
use crate::observe::metrics as m;

use super::event::handle_event;
use super::leases::{checkpoint, lease_lost, lose, Held};
use super::retry::retried;
use super::state::{persist, prefetch, BatchWork, BUCKETS_IN_FLIGHT, OBJECTS_IN_FLIGHT};
use super::Inner;

pub(super) async fn process_batch(
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
            dead_letter(inner, shard, rec, &reason).await;
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
                    dead_letter(inner, shard, rec, &reason).await;
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
                    dead_letter(inner, shard, rec, &reason).await;
                }
                Classified::Event(mut ev) => {
                    classified_count += 1;
                    // Decided anyway; the wrong-typed fields it carried are counted, not lost.
                    m::count_oddities(&ev);
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
pub(super) const EVENTS_PER_CHECKPOINT: usize = 32;

/// Where the chunk of `events` (tagged with their record's index) starting at `start` ends:
/// after about `size` events, extended so that no record's events are split across two chunks.
pub(super) fn chunk_end<T>(events: &[(usize, T)], start: usize, size: usize) -> usize {
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
pub(super) async fn handle_events(
    inner: &Arc<Inner>,
    shard: &str,
    records: &[KRecord],
    events: &[(usize, Box<S3Event>)],
) -> Result<(), AwsError> {
    // Boxed: this future is large, and unboxed it overflowed a worker thread's stack.
    Box::pin(async {
        let mut work = BatchWork::default();
        prefetch(inner, shard, records, events, &mut work).await?;
        let mut run: Vec<&(usize, Box<S3Event>)> = Vec::new();
        for entry in events {
            let ev = &entry.1;
            if ev.bucket.is_none() || ev.event_name.is_account_level() {
                handle_run(inner, shard, records, &run, &mut work).await?;
                run.clear();
                handle_event(inner, shard, &records[entry.0], ev, &mut work).await?;
                if ev.event_name.is_account_level() {
                    // The account's block may have just changed: later verifications read it anew.
                    work.shared.account_blocks = AccountBlocks::default();
                }
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
pub(super) const FUTURE_SKEW_MS: i64 = 60_000;

/// Orders a future-dated event at its arrival (plus skew) instead of the time it claims. Without
/// this, one forged event dated 2099 would make every later genuine change of the same component
/// stale until a live read corrected it.
pub(super) fn cap_future_time(shard: &str, rec: &KRecord, ev: &mut S3Event) {
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

/// Bucket events, by the plan of `core::lanes`: buckets side by side, and inside a bucket the
/// object events between two bucket-level events side by side by key (each key in order), up to
/// `BUCKETS_IN_FLIGHT` buckets and `OBJECTS_IN_FLIGHT` keys of one bucket at once per step.
pub(super) async fn handle_run(
    inner: &Arc<Inner>,
    shard: &str,
    records: &[KRecord],
    run: &[&(usize, Box<S3Event>)],
    work: &mut BatchWork,
) -> Result<(), AwsError> {
    use futures_util::stream::{self, StreamExt};
    let scopes: Vec<Scope> = run.iter().map(|entry| scope_of(&entry.1)).collect();
    let plans = lanes::plan(&scopes);
    if plans.len() <= 1 && plans.iter().all(|p| p.steps.iter().all(|s| s.len() <= 1)) {
        for entry in run {
            handle_event(inner, shard, &records[entry.0], &entry.1, work).await?;
        }
        return Ok(());
    }
    // Owned indices only: the futures below must not take borrowed arguments, or the spawned
    // consumer stops being provably Send.
    let base = work.lane();
    let results: Vec<Result<BatchWork, AwsError>> = stream::iter(plans)
        .map(|plan: lanes::BucketPlan| {
            let mut mine = base.lane();
            async move {
                for step in plan.steps {
                    if step.len() == 1 {
                        for pos in &step[0] {
                            let entry = run[*pos];
                            handle_event(inner, shard, &records[entry.0], &entry.1, &mut mine)
                                .await?;
                        }
                        continue;
                    }
                    // Object events side by side share one read of their bucket, unless an
                    // object's fix turns the bucket's block on (the read would then be stale).
                    let mut template = mine.lane();
                    template.shared.bucket_reads =
                        (inner.objects == ObjectRemediation::ObjectAcl).then(BucketReads::default);
                    let template = &template;
                    let lanes: Vec<Result<BatchWork, AwsError>> = stream::iter(step)
                        .map(|lane: Vec<usize>| {
                            let mut own = template.lane();
                            async move {
                                for pos in lane {
                                    let entry = run[pos];
                                    handle_event(
                                        inner,
                                        shard,
                                        &records[entry.0],
                                        &entry.1,
                                        &mut own,
                                    )
                                    .await?;
                                }
                                Ok(own)
                            }
                        })
                        .buffer_unordered(OBJECTS_IN_FLIGHT)
                        .collect()
                        .await;
                    merge(&mut mine, lanes)?;
                }
                Ok(mine)
            }
        })
        .buffer_unordered(BUCKETS_IN_FLIGHT)
        .collect()
        .await;
    merge(work, results)
}

/// Folds in what every lane did, even when one failed (the claims taken must be known), and
/// returns the first failure.
fn merge(work: &mut BatchWork, results: Vec<Result<BatchWork, AwsError>>) -> Result<(), AwsError> {
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

/// What an event touches, for the lane plan: an object write or ACL names its object; anything
/// else is about the bucket's own settings.
fn scope_of(ev: &S3Event) -> Scope<'_> {
    let bucket = ev.bucket.as_deref().unwrap_or("");
    match (&ev.key, ev.event_name) {
        (Some(key), name) if name == EventName::PutObjectAcl || name.is_object_write() => {
            Scope::Object(bucket, key)
        }
        _ => Scope::Bucket(bucket),
    }
}

/// Dead-letters one poison record and returns: it never fails the batch. A write that still
/// fails after `retried`'s bounded attempts (throttled or transient: about 10 s; anything else at
/// once) is *parked*: logged with its shard and sequence number, counted under
/// `outcome="parked"`, and the shard goes on — the record stays on the stream for its retention
/// period, and a dead letter is for a person to look at, never a reason to stop protecting the
/// other buckets of the shard. Returns whether the dead letter was stored.
pub(super) async fn dead_letter(inner: &Inner, shard: &str, rec: &KRecord, reason: &str) -> bool {
    metrics::counter!(m::EVENTS_MALFORMED).increment(1);
    // The reason is bounded at its source (core::quote); this bounds the log line whatever built it.
    let reason = crate::core::quote::bounded(reason, crate::aws::dead_letters::MAX_REASON_BYTES);
    let reason = reason.as_ref();
    warn!(shard_id = shard, sequence_number = %rec.sequence_number, size = rec.data.len(), reason, "poison record dead-lettered and skipped");
    let at = now_rfc3339();
    let r = retried("PutItem dead letter", || {
        inner
            .dead
            .put(shard, &rec.sequence_number, &rec.data, reason, &at)
    })
    .await;
    match r {
        Ok(()) => {
            metrics::counter!(m::DEAD_LETTERS, "outcome" => m::DEAD_LETTER_STORED).increment(1);
            true
        }
        Err(e) => {
            metrics::counter!(m::DEAD_LETTERS, "outcome" => m::DEAD_LETTER_PARKED).increment(1);
            error!(shard_id = shard, sequence_number = %rec.sequence_number, size = rec.data.len(), reason, error = %e, "dead letter could not be written: parked (the record stays on the stream until its retention ends); the shard goes on");
            false
        }
    }
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
