//! Acting on an exposure found by reading S3 rather than by an event (`scan`, reconciliation):
//! carries out the steps of [`crate::core::plan`] for it — the incident (pending, then final),
//! the remediation, the alert. Owns those effects; the action comes from the decider and the
//! order from the plan, never from here.

use crate::aws::alerter::Alerter;
use crate::aws::incident::{Incident, IncidentTable};
use crate::aws::s3_fix::{Remediator, S3Remediator};
use crate::clock::now_rfc3339;
use crate::config::ObjectRemediation;
use crate::core::decision::{Decision, Source};
use crate::core::plan::{self, LiveVerdict, Prior, Recorded, Step, Target};
use crate::observe::metrics as m;

/// The effects an exposure found by a read goes through.
pub struct Effects<'a> {
    pub incidents: &'a IncidentTable,
    pub alerter: Option<&'a Alerter>,
    pub remediator: &'a S3Remediator,
}

/// One exposed bucket, as found.
pub struct Found<'a> {
    pub bucket: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub reasons: &'a [String],
    /// The decider's decision on this finding (`Trigger::FoundExposed`).
    pub decision: Decision,
    /// scan | reconcile (the incident's `source`, and its event name, capitalised).
    pub source: Source,
    pub worker: &'a str,
    /// RFC 3339, the detection time.
    pub now: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Remediated,
    Failed,
    Alerted,
    /// The decision was to do nothing (e.g. the stream already alerted on it).
    Nothing,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Remediated => "remediated",
            Outcome::Failed => "failed",
            Outcome::Alerted => "alerted",
            Outcome::Nothing => "none",
        }
    }
}

/// Carries out the plan for a found exposure. Failures to record or alert are logged; a failed
/// remediation is the outcome. The caller settles its own state: it holds the live read, and
/// `Outcome::Remediated` tells it the bucket is closed.
pub async fn act(fx: &Effects<'_>, f: &Found<'_>) -> Outcome {
    let event_name = match f.source {
        Source::Scan => "Scan",
        Source::Reconcile => "Reconcile",
        Source::Stream => "Stream",
    };
    let mut incident = Incident {
        incident_id: Incident::id_for(
            None,
            &format!("{}-{}", f.source.as_str(), f.now),
            f.bucket,
            None,
        ),
        event_id: None,
        event_name: event_name.into(),
        bucket: f.bucket.to_owned(),
        key: None,
        account: f.account.to_owned(),
        region: f.region.to_owned(),
        actor_arn: None,
        source_ip: None,
        reasons: f.reasons.to_vec(),
        action: f.decision.action.as_str().into(),
        rule: Some(f.decision.rule.as_str().into()),
        outcome: crate::aws::incident::PENDING.into(),
        remediation: None,
        error: None,
        event_time: f.now.to_owned(),
        detected_at: f.now.to_owned(),
        remediated_at: None,
        worker: f.worker.to_owned(),
        source: f.source.as_str().into(),
    };
    // A read found it exposed, and its incident id is new: nothing earlier to resume.
    // The target is the bucket, so the objects mode changes nothing.
    let steps = plan::plan(
        Prior::FirstSighting,
        LiveVerdict::Exposed,
        f.decision,
        Target::Bucket,
        ObjectRemediation::default(),
        // Read and exposed: never unread here.
        plan::Unread::AlertOnly,
    );
    let mut outcome = Outcome::Nothing;
    for step in steps {
        match step {
            // The caller holds the live read and settles its own state. No shard lease to prove:
            // one actor per found exposure (the reconcile leader, or one scan).
            Step::SettleFold(_) | Step::ProveLease => {}
            Step::RecordPending => {
                if let Err(e) = fx.incidents.put(&incident).await {
                    tracing::warn!(account = f.account, bucket = f.bucket, error = %e, "pending incident not recorded");
                }
            }
            Step::Remediate(_) => {
                outcome = match fx.remediator.remediate_bucket(f.bucket, f.now).await {
                    Ok(applied) => {
                        incident.remediation = Some(applied.as_str().to_owned());
                        incident.remediated_at = Some(now_rfc3339());
                        tracing::info!(account = f.account, bucket = f.bucket, source = f.source.as_str(), reasons = ?f.reasons, "exposure found by reading S3 is locked down");
                        Outcome::Remediated
                    }
                    Err(e) => {
                        tracing::error!(account = f.account, bucket = f.bucket, source = f.source.as_str(), error = %e, "REMEDIATION FAILED: the bucket may still be public; an operator must act");
                        incident.error = Some(e.to_string());
                        Outcome::Failed
                    }
                };
            }
            Step::RecordOutcome(recorded) | Step::RecordOutcomeAndAlert(recorded) => {
                if recorded == Recorded::Alerted {
                    outcome = Outcome::Alerted;
                    tracing::warn!(account = f.account, bucket = f.bucket, source = f.source.as_str(), rule = f.decision.rule.as_str(), reasons = ?f.reasons, "exposure found by reading S3: alert only");
                }
                incident.outcome = outcome.as_str().into();
                metrics::counter!(m::REMEDIATIONS, "action" => incident.action.clone(), "outcome" => incident.outcome.clone()).increment(1);
                if let Err(e) = fx.incidents.put(&incident).await {
                    tracing::warn!(account = f.account, bucket = f.bucket, error = %e, "incident not recorded");
                }
                // One actor per found exposure (the reconcile leader, or one scan): no alert
                // claim to take, so the merged step is the record, then the alert.
                if matches!(step, Step::RecordOutcomeAndAlert(_)) {
                    if let Some(alerter) = fx.alerter {
                        alert(fx, alerter, &incident).await;
                    }
                }
            }
            Step::Alert | Step::Republish => {
                if let Some(alerter) = fx.alerter {
                    alert(fx, alerter, &incident).await;
                }
            }
            Step::Park | Step::NothingToDo(_) => {}
        }
    }
    outcome
}

/// Publishes the incident's alert and marks it sent. A failed publish leaves the alert owed on
/// the incident (`IncidentTable::owe_alert`): a fleet's outbox sends it when SNS answers again,
/// with the claim every alert takes (this path takes none: one actor per found exposure). An
/// alert whose mark fails after SNS took it is not marked owed: it went out.
async fn alert(fx: &Effects<'_>, alerter: &Alerter, incident: &Incident) {
    match alerter.publish(incident).await {
        Ok(()) => {
            metrics::counter!(m::ALERTS, "outcome" => "sent").increment(1);
            if let Err(e) = fx
                .incidents
                .mark_alerted(&incident.incident_id, &now_rfc3339())
                .await
            {
                tracing::warn!(bucket = %incident.bucket, error = %e, "alert sent, its mark not written");
            }
        }
        Err(e) => {
            metrics::counter!(m::ALERTS, "outcome" => "failed").increment(1);
            match fx.incidents.owe_alert(&incident.incident_id, None).await {
                Ok(()) => {
                    tracing::warn!(bucket = %incident.bucket, error = %e, "alert not sent: owed, a fleet's outbox will send it")
                }
                Err(owe) => {
                    tracing::error!(bucket = %incident.bucket, error = %e, owe_error = %owe, "alert not sent and not marked owed: it is lost unless sent by hand")
                }
            }
        }
    }
}
