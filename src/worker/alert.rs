//! Publishing an incident's alert once across the fleet: the alert claim on the incident row,
//! the SNS publish, and the mark that it was sent; re-publishing an incident recorded before a
//! crash; and, when the publish fails (or SNS is known to be down), leaving the alert owed on the
//! incident for the outbox (`outbox`) instead of failing the batch. Must not decide whether to
//! alert: `act` does.

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

/// Publishes an incident's alert (see `publish_claimed`).
pub(super) async fn publish_incident(
    inner: &Arc<Inner>,
    incident: &Incident,
) -> Result<(), AwsError> {
    publish_claimed(inner, incident, None).await
}

/// The error code of an alert SNS took whose `alertedAt` mark could not be written.
const SENT_UNMARKED: &str = "AlertSentUnmarked";
/// The error code of an alert whose claim another attempt holds.
const IN_FLIGHT: &str = "AlertInFlight";

/// Publishes the alert of an incident whose final outcome is recorded, once across the fleet;
/// `claimed` is the claim's token and answer when it was taken with the final outcome (one
/// write). A publish that fails, or is not tried because SNS is failing (`outbox`), does not fail
/// the batch: the incident is marked as owing its alert (`IncidentTable::owe_alert`, releasing
/// this attempt's claim) and the outbox sends it when SNS answers again. An error only when even
/// that mark cannot be written: the batch is then retried, as every failure was before.
pub(super) async fn publish_claimed(
    inner: &Arc<Inner>,
    incident: &Incident,
    claimed: Option<(String, AlertClaim)>,
) -> Result<(), AwsError> {
    let (token, first) = match claimed {
        Some((token, claim)) => (token, Some(claim)),
        None => (uuid::Uuid::new_v4().to_string(), None),
    };
    let id = incident.incident_id.as_str();
    if inner.outbox.sns_down() {
        // Do not spend the shard's time on a service that is failing: the outbox probes it.
        warn!(bucket = %incident.bucket, incident_id = id, "SNS is failing: alert owed, the outbox will send it");
        return owe(inner, id, Some(&token)).await;
    }
    match send_spawned(inner, incident, token.clone(), first).await {
        Ok(()) => Ok(()),
        // Its holder sends it, or leaves it owed; should the holder have died, the claim goes
        // stale and the outbox sends it then.
        Err(e) if e.code == IN_FLIGHT => owe(inner, id, None).await,
        // SNS took it: keep the claim, so the outbox sends it again only once it is stale.
        Err(e) if e.code == SENT_UNMARKED => owe(inner, id, None).await,
        Err(e) => {
            warn!(bucket = %incident.bucket, incident_id = id, error = %e, "alert not sent: owed, the outbox will send it");
            owe(inner, id, Some(&token)).await
        }
    }
}

/// Marks the alert owed (see `IncidentTable::owe_alert`), with the usual retries.
async fn owe(inner: &Inner, id: &str, release: Option<&str>) -> Result<(), AwsError> {
    retried("UpdateItem alert owed", || {
        inner.incidents.owe_alert(id, release)
    })
    .await
}

/// The outbox's send of one owed alert (`outbox`): as `publish_claimed` with a new claim, but a
/// failure is returned (after the claim is released, the alert still owed) for the outbox's
/// backoff. Ok also when nothing was sent because the alert no longer is owed or another attempt
/// holds its claim.
pub(super) async fn send_owed(inner: &Arc<Inner>, incident: &Incident) -> Result<(), AwsError> {
    let id = incident.incident_id.as_str();
    // A FIFO topic takes no claim: the index lags, so a consistent read tells whether the alert
    // went out since (SNS's own deduplication covers only five minutes).
    if inner.alerter.deduplicates()
        && matches!(inner.incidents.outcome_of(id).await?, Some((_, true)))
    {
        return Ok(());
    }
    let token = uuid::Uuid::new_v4().to_string();
    match send_spawned(inner, incident, token.clone(), None).await {
        Ok(()) => Ok(()),
        Err(e) if e.code == IN_FLIGHT => Ok(()),
        Err(e) if e.code == SENT_UNMARKED => Err(e),
        Err(e) => {
            owe(inner, id, Some(&token)).await?;
            Err(e)
        }
    }
}

/// Sends an incident's alert in a task of its own, which runs to the end even when the batch
/// that asked for it is abandoned (its lease lost): dropped between the message and the record of
/// it, a second message would follow from the lease's new owner. Tells the outbox whether SNS
/// answered.
async fn send_spawned(
    inner: &Arc<Inner>,
    incident: &Incident,
    token: String,
    first: Option<AlertClaim>,
) -> Result<(), AwsError> {
    let task_inner = inner.clone();
    let incident = incident.clone();
    let sending = inner
        .tasks
        .spawn(async move { send_alert(&task_inner, &incident, token, first).await });
    let sent = match sending.await {
        Ok(r) => r,
        Err(e) => Err(AwsError {
            service: "sns",
            operation: "Publish",
            kind: Kind::Other,
            code: "AlertTaskFailed".into(),
            message: format!("alert task ended abnormally: {e}"),
        }),
    };
    match &sent {
        Ok(()) => inner.outbox.sns_answered(),
        Err(e) if e.code == SENT_UNMARKED => inner.outbox.sns_answered(),
        Err(e) if e.service == "sns" && e.code != IN_FLIGHT => inner.outbox.sns_failed(),
        Err(_) => {}
    }
    sent
}

/// Publishes an incident's alert once across the fleet: claim it on the incident row (renewed
/// before every attempt), publish, record it. A standard SNS topic cannot deduplicate, so this
/// claim is what keeps two attempts at one incident (a lease moved mid-batch) to one message.
/// The first attempt publishes in a group with the alerts claimed beside it (`publishes`); an
/// alert its group did not carry fails that attempt as transient, and the next one renews the
/// claim and publishes it alone, as every attempt did before grouping.
async fn send_alert(
    inner: &Inner,
    incident: &Incident,
    token: String,
    mut first: Option<AlertClaim>,
) -> Result<(), AwsError> {
    // A claim taken with the final outcome answers the first attempt; later attempts renew it.
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
                    code: IN_FLIGHT.into(),
                    message: format!("incident {id}: another attempt holds the alert claim"),
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
            if e.code != IN_FLIGHT {
                metrics::counter!(m::ALERTS, "outcome" => "failed").increment(1);
            }
            return Err(e);
        }
    }
    metrics::counter!(m::ALERTS, "outcome" => "sent").increment(1);
    // The message is out; the claim keeps others off until it goes stale, so record it well
    // before then. The mark is idempotent: keep at it rather than give the batch up.
    // Marks of alerts sent side by side go out together (`marks`), each as durable as alone.
    let at = now_rfc3339();
    super::marks::mark(inner, id, &at)
        .await
        .map_err(|e| AwsError {
            code: SENT_UNMARKED.into(),
            message: format!(
                "incident {id}: alert sent, its mark not written: {}",
                e.message
            ),
            ..e
        })
}
