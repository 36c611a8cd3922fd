//! The SNS messages of alerts whose claims were won side by side, published together (`group`):
//! while one publish is in flight the alerts that arrive queue, and the next caller publishes all
//! of them in `PublishBatch` requests (a lone alert as its own `Publish`). Must not claim or mark:
//! `alert` claims before and marks after each incident, and redoes alone (claim renewed) whatever
//! its group did not carry.

use std::time::Instant;

use crate::aws::clients::publish_attempt_timeout;
use crate::aws::error::{AwsError, Kind};
use crate::aws::incident::Incident;

use super::group::GroupCommit;
use super::Inner;

/// Alerts waiting for the next publish: (incident, when its claim was won or last renewed).
pub(super) type Publishes = GroupCommit<(Incident, Instant), Result<(), AwsError>>;

/// The longest an alert's claim may have been held before its group publishes it: one SNS
/// attempt timeout. With the publish's own three attempts and backoff after it, this is the
/// budget `alert::alert_claim_stale_secs` keeps under the claim's staleness.
pub(super) fn max_claim_age() -> std::time::Duration {
    publish_attempt_timeout()
}

/// Publishes `incident`'s alert in the next group; `claimed_at` is when its claim was won.
/// `Some(Ok(()))` once SNS took the message; `None` or an error when the group did not carry it
/// (the caller renews the claim and publishes it alone).
pub(super) async fn publish(
    inner: &Inner,
    incident: &Incident,
    claimed_at: Instant,
) -> Option<Result<(), AwsError>> {
    inner
        .publishes
        .submit((incident.clone(), claimed_at), |waiting| {
            write_group(inner, waiting)
        })
        .await
}

/// One `Publish` for a lone alert, `PublishBatch` requests for several. No retry here beyond the
/// SDK's own: a batch whose answer is lost may have been sent, and a retried batch would repeat
/// every entry; an entry not carried is retried alone by its caller, as a lone alert always was.
async fn write_group(
    inner: &Inner,
    waiting: Vec<(Incident, Instant)>,
) -> Vec<Result<(), AwsError>> {
    // A claim held too long in the queue (behind a slow group) is handed back, to be renewed
    // before its publish: a publish never runs on a claim that could go stale under it.
    let fresh: Vec<usize> = (0..waiting.len())
        .filter(|&i| waiting[i].1.elapsed() <= max_claim_age())
        .collect();
    let incidents: Vec<Incident> = fresh.iter().map(|&i| waiting[i].0.clone()).collect();
    let sent = match &incidents[..] {
        [] => Vec::new(),
        [one] => vec![inner.alerter.publish(one).await],
        several => inner.alerter.publish_batch(several).await,
    };
    let mut answers: Vec<Option<Result<(), AwsError>>> = (0..waiting.len()).map(|_| None).collect();
    for (i, r) in fresh.into_iter().zip(sent) {
        answers[i] = Some(r);
    }
    answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| {
                Err(AwsError {
                    service: "sns",
                    operation: "PublishBatch",
                    kind: Kind::Transient,
                    code: "AlertClaimHeldTooLong".into(),
                    message:
                        "claim held longer than one attempt in the queue; renewed and sent alone"
                            .into(),
                })
            })
        })
        .collect()
}
