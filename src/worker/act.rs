//! Verify, then act: reads live S3 before any effect, remediates or alerts, records the incident
//! and publishes it, idempotent per incident id. Must not checkpoint or persist state.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{error, info};

use crate::aws::error::{AwsError, Kind};
use crate::aws::incident::{AlertClaim, Incident};
use crate::aws::kinesis::KRecord;
use crate::aws::s3_fix::Remediator;
use crate::aws::s3_read;
use crate::config::ObjectRemediation;
use crate::core::decision::Action;
use crate::core::fold::Transition;
use crate::core::record::S3Event;
use crate::core::transcript::Line;
use crate::observe::metrics as m;

use super::alert::{
    epoch_secs_now, publish, publish_claimed, publish_incident, ALERT_CLAIM_STALE_SECS,
};
use super::leases::confirm_lease;
use super::retry::retried;
use super::{now_rfc3339, Inner};

/// Only the identity counts, never the userAgent: any caller can put `app/bucketwarden` in its
/// user agent, and trusting it would let anyone open a bucket unremediated. bucketwarden's own
/// calls only ever close things, so without `self_arns` they cannot loop either.
pub(super) fn is_self(inner: &Inner, ev: &S3Event) -> bool {
    ev.actor_arn
        .as_deref()
        .is_some_and(|arn| inner.config.remediation.is_self_arn(arn))
}

/// What the event's handling knows that saves `act` round trips.
pub(super) struct ActContext {
    /// The event id was claimed for the first time: no attempt before this one can have
    /// recorded an incident for it, so there is no prior outcome to read.
    pub(super) fresh: bool,
    /// The chunk's shared account-level block reads.
    pub(super) account_blocks: s3_read::AccountBlocks,
}

/// Verify, then remediate or alert, record the incident and publish it. Idempotent per incident
/// id, so a batch retried after a crash completes what was started instead of repeating it.
pub(super) async fn act(
    inner: &Arc<Inner>,
    shard: &str,
    rec: &KRecord,
    ev: &S3Event,
    line: &Line,
    ctx: ActContext,
) -> Result<(), AwsError> {
    let Some(bucket) = line.bucket.as_deref() else {
        return Ok(());
    };
    let key = line.key.as_deref();
    if ev.event_name == crate::core::record::EventName::DeleteBucket {
        return Ok(());
    }
    if is_self(inner, ev) {
        metrics::counter!(m::REMEDIATIONS, "action" => line.action.as_str(), "outcome" => "skipped_self").increment(1);
        info!(shard_id = shard, bucket, event_id = ?ev.event_id, "event caused by bucketwarden itself; not acting");
        return Ok(());
    }
    let incident_id = Incident::id_for(ev.event_id.as_deref(), &ev.event_time, bucket, key);
    let mut resumed_pending = false;
    // Both are reads: issue them together (the live read is wasted only on a retried batch whose
    // incident is already final).
    // The lease is proven at the same time: it must still be ours when we act.
    // A first sighting has no prior attempt (the incident id is derived from the event id).
    let fresh = ctx.fresh && ev.event_id.is_some();
    let (prior, live, held) = tokio::join!(
        async {
            if fresh {
                return Ok(None);
            }
            retried("GetItem incident", || {
                inner.incidents.outcome_of(&incident_id)
            })
            .await
        },
        retried("verify bucket", || {
            s3_read::read_bucket(
                &inner.clients,
                bucket,
                &ev.account,
                ev.time_ms,
                ctx.account_blocks.clone(),
            )
        }),
        confirm_lease(inner, shard)
    );
    held?;
    if let Some((outcome, alerted)) = prior? {
        if outcome != crate::aws::incident::PENDING {
            // An earlier attempt finished this incident; this fold may not have seen it (the
            // lease moved, or that attempt's batch failed before its state was written), so
            // take what it did and what S3 shows now into the state this batch persists.
            {
                let mut p = inner.pipeline.lock().expect("pipeline lock");
                if let Ok(l) = &live {
                    p.fold_mut().settle_bucket(bucket, &l.state);
                    p.fold_mut()
                        .settle_account_block(&ev.account, l.account_block, ev.time_ms);
                }
                if outcome == "remediated" {
                    match key {
                        Some(k) => p.fold_mut().note_object_private(bucket, k, ev.time_ms),
                        None => p.fold_mut().note_bucket_locked(bucket, ev.time_ms),
                    }
                }
            }
            if !alerted {
                publish(inner, &incident_id, ev, bucket).await?;
            }
            return Ok(());
        }
        resumed_pending = true;
    }
    let live = match live {
        Ok(l) => l,
        Err(e) if e.is(Kind::NotFound) => {
            metrics::counter!(m::VERIFICATIONS, "result" => "not_exposed").increment(1);
            info!(
                shard_id = shard,
                bucket, "bucket no longer exists; nothing to do"
            );
            return Ok(());
        }
        Err(e) => {
            metrics::counter!(m::VERIFICATIONS, "result" => "error").increment(1);
            return Err(e);
        }
    };
    {
        let mut p = inner.pipeline.lock().expect("pipeline lock");
        p.fold_mut().settle_bucket(bucket, &live.state);
        p.fold_mut()
            .settle_account_block(&ev.account, live.account_block, ev.time_ms);
    }
    let exposure = match key {
        Some(k) => match retried("verify object", || {
            s3_read::read_object(&inner.clients, &live, bucket, k)
        })
        .await
        {
            Ok((_, e)) => e,
            Err(e) if e.is(Kind::NotFound) => {
                metrics::counter!(m::VERIFICATIONS, "result" => "not_exposed").increment(1);
                return Ok(());
            }
            Err(e) => {
                metrics::counter!(m::VERIFICATIONS, "result" => "error").increment(1);
                return Err(e);
            }
        },
        None => live.exposure.clone(),
    };
    if !exposure.public && resumed_pending {
        // A previous attempt confirmed the exposure and recorded a pending incident, then died
        // before recording the outcome; S3 shows the bucket closed now, so finish that incident.
        let mut incident = incident_for(
            inner,
            ev,
            line,
            bucket,
            key,
            &incident_id,
            line.action,
            Vec::new(),
        );
        incident.outcome = "remediated".into();
        incident.remediation = Some("completed_before_restart".into());
        incident.remediated_at = Some(now_rfc3339());
        // As after a remediation of our own: the fix is in the state this batch persists, or a
        // live read that merely ties with the event's time would leave the bucket public in it.
        {
            let mut p = inner.pipeline.lock().expect("pipeline lock");
            match key {
                Some(k) => p.fold_mut().note_object_private(bucket, k, ev.time_ms),
                None => p.fold_mut().note_bucket_locked(bucket, ev.time_ms),
            }
        }
        retried("PutItem incident", || inner.incidents.put(&incident)).await?;
        metrics::counter!(m::REMEDIATIONS, "action" => line.action.as_str(), "outcome" => "remediated").increment(1);
        info!(
            shard_id = shard,
            bucket, key, "finished an incident a previous attempt left pending"
        );
        confirm_lease(inner, shard).await?;
        return publish_incident(inner, &incident).await;
    }
    if !exposure.public {
        metrics::counter!(m::VERIFICATIONS, "result" => "not_exposed").increment(1);
        if line.action != Action::None {
            info!(shard_id = shard, bucket, key, event_id = ?ev.event_id, "live S3 is not exposed (stale or superseded event): no action");
        }
        return Ok(());
    }
    metrics::counter!(m::VERIFICATIONS, "result" => "exposed").increment(1);
    let action = if line.action != Action::None {
        line.action
    } else {
        // An event judged on assumptions turned out exposed: decide as for a transition to public.
        let p = inner.pipeline.lock().expect("pipeline lock");
        let tags = p
            .fold()
            .bucket(bucket)
            .map(|b| b.tags().to_vec())
            .unwrap_or_default();
        p.decider()
            .decide(Transition::BecamePublic, Some(bucket), &tags)
    };
    let mut incident = incident_for(
        inner,
        ev,
        line,
        bucket,
        key,
        &incident_id,
        action,
        exposure.reasons.clone(),
    );
    if action == Action::Remediate {
        retried("PutItem incident", || inner.incidents.put(&incident)).await?;
        let by_object = inner.config.remediation.objects == ObjectRemediation::ObjectAcl;
        let result = match key {
            Some(k) if by_object => inner.remediator.remediate_object(bucket, k).await,
            _ => {
                inner
                    .remediator
                    .remediate_bucket(bucket, &now_rfc3339())
                    .await
            }
        };
        match result {
            Ok(applied) => {
                // No CloudTrail event for our own fix may ever reach this worker (or only
                // later), so record it in the fold: a re-opening must be a new transition.
                // Stamped with the triggering event's time, not the clock: CloudTrail times have
                // second precision, and a re-opening in the same second must not look stale.
                let at = ev.time_ms;
                {
                    let mut p = inner.pipeline.lock().expect("pipeline lock");
                    match key {
                        Some(k) if by_object => p.fold_mut().note_object_private(bucket, k, at),
                        _ => p.fold_mut().note_bucket_locked(bucket, at),
                    }
                }
                incident.outcome = "remediated".into();
                incident.remediation = Some(applied.as_str().to_owned());
                incident.remediated_at = Some(now_rfc3339());
                if let Some(arrival) = rec.arrival {
                    if let Ok(d) = SystemTime::now().duration_since(arrival) {
                        metrics::histogram!(m::REMEDIATION_LATENCY).record(d.as_secs_f64());
                    }
                }
                info!(shard_id = shard, bucket, key, event_id = ?ev.event_id, remediation = applied.as_str(), "remediated");
            }
            Err(e) => {
                incident.outcome = "failed".into();
                incident.error = Some(e.to_string());
                error!(shard_id = shard, bucket, key, event_id = ?ev.event_id, error = %e, "REMEDIATION FAILED: the bucket may still be public; an operator must act");
            }
        }
    } else {
        incident.outcome = "alerted".into();
        info!(shard_id = shard, bucket, key, event_id = ?ev.event_id, "public and exempt or dry-run: alert only");
    }
    // The final outcome and the alert claim in one write. The lease was proven before the
    // remediation; the alert needs no second proof: its claim (or, on a FIFO topic, SNS's own
    // deduplication by incident) keeps it to one message whoever holds the lease.
    let claimed = record_final(inner, &incident).await?;
    metrics::counter!(m::REMEDIATIONS, "action" => action.as_str(), "outcome" => incident.outcome.clone()).increment(1);
    publish_claimed(inner, &incident, claimed).await
}

/// Writes a final outcome; on a standard topic, takes the alert claim in the same write and
/// returns it (a FIFO topic needs no claim).
async fn record_final(
    inner: &Inner,
    incident: &Incident,
) -> Result<Option<(String, AlertClaim)>, AwsError> {
    if inner.alerter.deduplicates() {
        retried("PutItem incident", || inner.incidents.put(incident)).await?;
        return Ok(None);
    }
    let token = uuid::Uuid::new_v4().to_string();
    let claim = retried("PutItem incident and alert claim", || {
        inner.incidents.put_final_and_claim_alert(
            incident,
            &token,
            epoch_secs_now(),
            ALERT_CLAIM_STALE_SECS,
        )
    })
    .await?;
    Ok(Some((token, claim)))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn incident_for(
    inner: &Inner,
    ev: &S3Event,
    line: &Line,
    bucket: &str,
    key: Option<&str>,
    incident_id: &str,
    action: Action,
    live_reasons: Vec<String>,
) -> Incident {
    Incident {
        incident_id: incident_id.to_owned(),
        event_id: ev.event_id.clone(),
        event_name: ev.event_name.as_str().to_owned(),
        bucket: bucket.to_owned(),
        key: key.map(str::to_owned),
        account: ev.account.clone(),
        region: ev.region.clone(),
        actor_arn: ev.actor_arn.clone(),
        source_ip: ev.source_ip.clone(),
        reasons: if live_reasons.is_empty() {
            line.reasons.clone()
        } else {
            live_reasons
        },
        action: action.as_str().to_owned(),
        outcome: crate::aws::incident::PENDING.into(),
        remediation: None,
        error: None,
        event_time: ev.event_time.clone(),
        detected_at: now_rfc3339(),
        remediated_at: None,
        worker: inner.s.worker_id.clone(),
        source: "stream".into(),
    }
}
