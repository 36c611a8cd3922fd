//! Publishing an incident's alert once across the fleet: the alert claim on the incident row,
//! the SNS publish, and the mark that it was sent; re-publishing an incident recorded before a
//! crash. Must not decide whether to alert: `act` does.

use std::sync::Arc;

use tracing::warn;

use crate::aws::clients::publish_attempt_timeout;
use crate::aws::error::{AwsError, Kind};
use crate::aws::incident::{AlertClaim, Incident};
use crate::clock::{epoch_secs_now, now_rfc3339};
use crate::core::record::S3Event;
use crate::observe::metrics as m;

use super::retry::retried;
use super::Inner;

pub(super) async fn publish(
    inner: &Arc<Inner>,
    incident_id: &str,
    ev: &S3Event,
    bucket: &str,
) -> Result<(), AwsError> {
    // Re-publishing an incident recorded before a crash: the record itself is the message; the
    // event's own fields come from the event.
    let row = inner
        .incidents
        .get(incident_id)
        .await?
        .unwrap_or_else(|| Incident {
            source: "stream".into(),
            ..Incident::default()
        });
    let incident = Incident {
        incident_id: incident_id.to_owned(),
        event_id: ev.event_id.clone(),
        event_name: ev.event_name.as_str().to_owned(),
        bucket: bucket.to_owned(),
        account: ev.account.clone(),
        region: ev.region.clone(),
        actor_arn: ev.actor_arn.clone(),
        source_ip: ev.source_ip.clone(),
        event_time: ev.event_time.clone(),
        ..row
    };
    publish_incident(inner, &incident).await
}

/// How long an alert claim stays valid unrenewed: longer than it can be held before its publish
/// is answered (at most one SNS attempt timeout queued for a group, `publishes::max_claim_age`,
/// then the SDK's three attempts of at most that timeout, and its backoff), so a live claimant
/// is never overtaken; at least 60 s.
pub(super) fn alert_claim_stale_secs() -> u64 {
    (4 * publish_attempt_timeout().as_secs() + 30).max(60)
}

/// Publishes an incident's alert in a task of its own, which runs to the end even when the batch
/// that asked for it is abandoned (its lease lost): dropped between the message and the record of
/// it, a second message would follow from the lease's new owner.
pub(super) async fn publish_incident(
    inner: &Arc<Inner>,
    incident: &Incident,
) -> Result<(), AwsError> {
    publish_claimed(inner, incident, None).await
}

/// `publish_incident` for an incident whose alert claim may already be taken (with the final
/// outcome, in one write): `claimed` is that claim's token and answer.
pub(super) async fn publish_claimed(
    inner: &Arc<Inner>,
    incident: &Incident,
    claimed: Option<(String, AlertClaim)>,
) -> Result<(), AwsError> {
    let task_inner = inner.clone();
    let incident = incident.clone();
    let sending = inner
        .tasks
        .spawn(async move { send_alert(&task_inner, &incident, claimed).await });
    match sending.await {
        Ok(r) => r,
        Err(e) => Err(AwsError {
            service: "sns",
            operation: "Publish",
            kind: Kind::Other,
            code: "AlertTaskFailed".into(),
            message: format!("alert task ended abnormally: {e}"),
        }),
    }
}

/// Publishes an incident's alert once across the fleet: claim it on the incident row (renewed
/// before every attempt), publish, record it. A standard SNS topic cannot deduplicate, so this
/// claim is what keeps two attempts at one incident (a lease moved mid-batch) to one message.
/// The first attempt publishes in a group with the alerts claimed beside it (`publishes`); an
/// alert its group did not carry fails that attempt as transient, and the next one renews the
/// claim and publishes it alone, as every attempt did before grouping.
pub(super) async fn send_alert(
    inner: &Inner,
    incident: &Incident,
    claimed: Option<(String, AlertClaim)>,
) -> Result<(), AwsError> {
    // A claim taken with the final outcome answers the first attempt; later attempts renew it.
    let (token, mut first) = match claimed {
        Some((token, claim)) => (token, Some(claim)),
        None => (uuid::Uuid::new_v4().to_string(), None),
    };
    let id = incident.incident_id.as_str();
    // A FIFO topic deduplicates by incident itself, and a claim left by a killed worker would
    // only delay the alert until it went stale.
    let claims = !inner.alerter.deduplicates();
    // Each attempt renews the claim before publishing, so a live claimant is never overtaken.
    let token = token.as_str();
    let mut grouped = true;
    let sent = retried("Publish alert", || {
        let taken = first.take();
        let group = std::mem::replace(&mut grouped, false);
        async move {
        // The claim is renewed by this attempt (or was just taken with the final outcome).
        let claimed_at = std::time::Instant::now();
        let claim = if let Some(claim) = taken {
            claim
        } else if claims {
            inner
                .incidents
                .claim_alert(id, token, epoch_secs_now(), alert_claim_stale_secs())
                .await?
        } else {
            AlertClaim::Won
        };
        match claim {
            AlertClaim::AlreadySent => Ok(false),
            // Not retried here: the batch fails and looks again once the claimant is done.
            AlertClaim::InFlight => Err(AwsError {
                service: "sns",
                operation: "Publish",
                kind: Kind::ConditionFailed,
                code: "AlertInFlight".into(),
                message: format!(
                    "incident {id}: another attempt holds the alert claim; the batch will look again"
                ),
            }),
            AlertClaim::Won if group => {
                match super::publishes::publish(inner, incident, claimed_at).await {
                    Some(Ok(())) => Ok(true),
                    // Not carried (refused, unanswered, or its claim queued too long): the next
                    // attempt renews the claim and publishes it alone, whatever the reason.
                    Some(Err(e)) => Err(AwsError {
                        kind: Kind::Transient,
                        code: "AlertNotGrouped".into(),
                        message: format!("incident {id}: not carried by its group ({e})"),
                        ..e
                    }),
                    None => Err(AwsError {
                        service: "sns",
                        operation: "PublishBatch",
                        kind: Kind::Transient,
                        code: "AlertNotGrouped".into(),
                        message: format!("incident {id}: its group ended without an answer"),
                    }),
                }
            }
            AlertClaim::Won => inner.alerter.publish(incident).await.map(|()| true),
        }
        }
    })
    .await;
    match sent {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(e) => {
            if e.code != "AlertInFlight" {
                metrics::counter!(m::ALERTS, "outcome" => "failed").increment(1);
                warn!(bucket = %incident.bucket, error = %e, "alert not sent; the batch will be retried");
            }
            return Err(e);
        }
    }
    metrics::counter!(m::ALERTS, "outcome" => "sent").increment(1);
    // The message is out; the claim keeps others off until it goes stale, so record it well
    // before then. The mark is idempotent: keep at it rather than give the batch up.
    // Marks of alerts sent side by side go out together (`marks`), each as durable as alone.
    let at = now_rfc3339();
    super::marks::mark(inner, id, &at).await
}
