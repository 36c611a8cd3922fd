//! Acting on an exposure found by reading S3 rather than by an event (`scan`, reconciliation):
//! the incident (pending, then final), the remediation, and the alert. Owns that sequence; it
//! must not decide whether the bucket is exposed or exempt — callers pass that in.

use crate::aws::incident::{Alerter, Incident, IncidentTable};
use crate::aws::s3_fix::{Remediator, S3Remediator};
use crate::clock::now_rfc3339;
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
    /// Exempt or dry-run: alert, never write to S3.
    pub alert_only: bool,
    /// scan | reconcile (the incident's `source`, and its event name, capitalised).
    pub source: &'static str,
    pub worker: &'a str,
    /// RFC 3339, the detection time.
    pub now: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Remediated,
    Failed,
    Alerted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Remediated => "remediated",
            Outcome::Failed => "failed",
            Outcome::Alerted => "alerted",
        }
    }
}

/// Records, remediates (unless alert-only) and alerts; failures to record or alert are logged,
/// a failed remediation is the outcome.
pub async fn act(fx: &Effects<'_>, f: &Found<'_>) -> Outcome {
    let event_name = match f.source {
        "scan" => "Scan",
        "reconcile" => "Reconcile",
        other => other,
    };
    let mut incident = Incident {
        incident_id: Incident::id_for(None, &format!("{}-{}", f.source, f.now), f.bucket, None),
        event_id: None,
        event_name: event_name.into(),
        bucket: f.bucket.to_owned(),
        key: None,
        account: f.account.to_owned(),
        region: f.region.to_owned(),
        actor_arn: None,
        source_ip: None,
        reasons: f.reasons.to_vec(),
        action: if f.alert_only { "alert" } else { "remediate" }.into(),
        outcome: crate::aws::incident::PENDING.into(),
        remediation: None,
        error: None,
        event_time: f.now.to_owned(),
        detected_at: f.now.to_owned(),
        remediated_at: None,
        worker: f.worker.to_owned(),
        source: f.source.into(),
    };
    let outcome = if f.alert_only {
        Outcome::Alerted
    } else {
        // Pending first: a crash after the fix must still leave the incident behind.
        if let Err(e) = fx.incidents.put(&incident).await {
            tracing::warn!(bucket = f.bucket, error = %e, "pending incident not recorded");
        }
        match fx.remediator.remediate_bucket(f.bucket, f.now).await {
            Ok(applied) => {
                incident.remediation = Some(applied.as_str().to_owned());
                incident.remediated_at = Some(now_rfc3339());
                tracing::info!(bucket = f.bucket, source = f.source, reasons = ?f.reasons, "exposure found by reading S3 is locked down");
                Outcome::Remediated
            }
            Err(e) => {
                tracing::error!(bucket = f.bucket, source = f.source, error = %e, "REMEDIATION FAILED: the bucket may still be public; an operator must act");
                incident.error = Some(e.to_string());
                Outcome::Failed
            }
        }
    };
    incident.outcome = outcome.as_str().into();
    metrics::counter!(m::REMEDIATIONS, "action" => incident.action.clone(), "outcome" => incident.outcome.clone()).increment(1);
    if let Err(e) = fx.incidents.put(&incident).await {
        tracing::warn!(bucket = f.bucket, error = %e, "incident not recorded");
    }
    if let Some(alerter) = fx.alerter {
        match alerter.publish(&incident).await {
            Ok(()) => {
                metrics::counter!(m::ALERTS, "outcome" => "sent").increment(1);
                let _ = fx
                    .incidents
                    .mark_alerted(&incident.incident_id, &now_rfc3339())
                    .await;
            }
            Err(e) => {
                metrics::counter!(m::ALERTS, "outcome" => "failed").increment(1);
                tracing::warn!(bucket = f.bucket, error = %e, "alert not sent");
            }
        }
    }
    outcome
}
