//! One event: its dedup claim in the fleet's table (overlapped with its state load), the fold,
//! the transcript line, and handing what needs it to `act`. Must not write state: `state`
//! persists the batch's work before its checkpoint.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{debug, info, warn};

use crate::aws::dedup_table::Claim;
use crate::aws::error::{AwsError, Blame};
use crate::aws::kinesis::KRecord;
use crate::clock::now_ms;
use crate::core::accounts::Admit;
use crate::core::decision::Action;
use crate::core::fold::{Note, Transition};
use crate::core::record::{EventName, S3Event};
use crate::core::transcript::{ExposureLabel, Line};
use crate::observe::metrics as m;

use super::act::{act, park_event, ActContext};
use super::retry::{retried, timed};
use super::state::{ensure_loaded, BatchWork};
use super::Inner;

/// One event, which always ends: handled, or parked when a step failed for a reason of the
/// event's own (`Blame::Item`: a guarded bucket, a member account, a request refused on its
/// merits) after that step's bounded retries. An error of the fleet's own infrastructure
/// (`Blame::Fleet`) is returned: the batch is read again and the shard waits it out, losing
/// nothing.
pub(super) async fn handle_event(
    inner: &Arc<Inner>,
    shard: &str,
    rec: &KRecord,
    ev: &S3Event,
    work: &mut BatchWork,
) -> Result<(), AwsError> {
    match Box::pin(handle(inner, shard, rec, ev, work)).await {
        Err(e) if e.blame() == Blame::Item => Box::pin(park_event(inner, shard, rec, ev, &e)).await,
        r => r,
    }
}

async fn handle(
    inner: &Arc<Inner>,
    shard: &str,
    rec: &KRecord,
    ev: &S3Event,
    work: &mut BatchWork,
) -> Result<(), AwsError> {
    // Before any claim, load or AWS call: a forged record naming an arbitrary account must not
    // make the fleet knock on that account (no AssumeRole), nor fold that account's buckets.
    // Under "organization" this reads the cached listing only (never a ListAccounts call).
    if inner.accounts.admit(&ev.account) == Admit::Refused {
        m::account_not_allowed();
        warn!(shard_id = shard, sequence_number = %rec.sequence_number, account = %ev.account,
            event_id = ev.event_id.as_deref().unwrap_or(""), event_name = ev.event_name.as_str(),
            "event names an account outside [accounts] allowed: skipped");
        return Ok(());
    }
    let seen_in_batch = ev
        .event_id
        .as_ref()
        .is_some_and(|id| !work.seen_ids.insert(id.clone()));
    // Claimed already by the chunk's group claim (a first sighting).
    let preclaimed = ev
        .event_id
        .as_ref()
        .is_some_and(|id| work.shared.preclaimed.contains(id));
    let claim = async {
        match &ev.event_id {
            Some(_) if !seen_in_batch && preclaimed => Ok(Some(Claim::Fresh)),
            Some(id) if !seen_in_batch => timed(m::DEDUP_LATENCY, None, async {
                retried("dedup claim", || {
                    inner.dedup.claim(
                        id,
                        &inner.s.worker_id,
                        shard,
                        &rec.sequence_number,
                        SystemTime::now(),
                    )
                })
                .await
            })
            .await
            .map(Some),
            _ => Ok(None),
        }
    };
    // The claim and the state load are independent round trips: overlap them. A duplicate's
    // load is wasted but harmless (it only installs persisted state).
    let (claim, loaded) = if seen_in_batch {
        (Ok(None), Ok(()))
    } else {
        tokio::join!(claim, ensure_loaded(inner, ev, work))
    };
    let claim = claim?;
    let retaken = claim == Some(Claim::Retaken);
    let duplicate = match claim {
        Some(Claim::Done) => true,
        Some(Claim::Fresh | Claim::Retaken) => {
            if let Some(id) = &ev.event_id {
                work.claimed.push(id.clone());
            }
            false
        }
        None => seen_in_batch,
    };
    metrics::counter!(m::EVENTS_APPLIED, "event_name" => ev.event_name.as_str()).increment(1);
    if duplicate {
        metrics::counter!(m::EVENTS_DUPLICATE).increment(1);
        let lines = inner.pipeline.lock().expect("pipeline lock").duplicate(ev);
        for line in &lines {
            log_line(shard, rec, line);
        }
        return Ok(());
    }
    loaded?;
    let lines = inner.pipeline.lock().expect("pipeline lock").apply(ev);
    work.accounts.insert(ev.account.clone());
    for line in &lines {
        log_line(shard, rec, line);
        metrics::counter!(m::TRANSITIONS, "transition" => line.transition.as_str()).increment(1);
        metrics::counter!(m::DECISIONS, "action" => line.action.as_str()).increment(1);
        if let Some(b) = &line.bucket {
            work.buckets.insert(b.clone());
        }
        // A retaken record that leaves the bucket public is verified whatever the fold says:
        // the attempt before may have folded it and died before acting.
        let unfinished = retaken && line.exposure == ExposureLabel::Public;
        // A stale event is not folded, but its order rests on times someone else wrote: an
        // earlier event with a forged or skewed time must not hide a real change, so live S3
        // decides. Stale events are rare (the stream keeps each bucket in order).
        let stale = line.note == Some(Note::Stale);
        // A grant hidden only by protections learned from events is verified too: a forged
        // protective event must not keep a real public grant from being seen (docs/SECURITY.md).
        let masked = line.note == Some(Note::Masked);
        // A bucket policy the core judged not public is checked against S3's own verdict
        // (GetBucketPolicyStatus) at once: where AWS's text is silent the core decided, and live
        // S3 settles it (docs/REASONS.md). Policy changes are rare; each costs one read.
        let policy_to_confirm = ev.event_name == EventName::PutBucketPolicy
            && line.key.is_none()
            && line.exposure != ExposureLabel::Public;
        if line.action != Action::None
            || line.note == Some(Note::Assumed)
            || masked
            || policy_to_confirm
            || stale
            || unfinished
        {
            let ctx = ActContext {
                fresh: claim == Some(Claim::Fresh),
                account_blocks: work.shared.account_blocks.clone(),
                bucket_reads: work.shared.bucket_reads.clone(),
            };
            Box::pin(act(inner, shard, rec, ev, line, ctx)).await?;
        }
    }
    // eventTime to the action done: what an operator's "locked down within seconds" means.
    metrics::histogram!(m::DECISION_LATENCY)
        .record(((now_ms() - ev.time_ms).max(0) as f64) / 1000.0);
    Ok(())
}

pub(super) fn log_line(shard: &str, rec: &KRecord, line: &Line) {
    let json = line.to_json();
    let bucket = line.bucket.as_deref().unwrap_or("");
    let event_id = line.event_id.as_deref().unwrap_or("");
    if line.transition == Transition::BecamePublic {
        info!(shard_id = shard, sequence_number = %rec.sequence_number, bucket, event_id, decision = %json, "became public");
    } else {
        debug!(shard_id = shard, sequence_number = %rec.sequence_number, bucket, event_id, decision = %json, "decision");
    }
}
