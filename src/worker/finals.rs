//! The final outcomes of incidents finished side by side, each with its alert claim, written
//! together (`group`): one `TransactWriteItems` where each took a conditional `UpdateItem`.
//! Must not publish: `alert` does, with the claim answered here.

use crate::aws::error::AwsError;
use crate::aws::incident::{AlertClaim, Fields, Incident};
use crate::aws::transact::{self, Group};
use crate::clock::epoch_secs_now;

use super::alert::alert_claim_stale_secs;
use super::group::{parts, GroupCommit};
use super::retry::retried;
use super::Inner;

/// Final outcomes waiting for the next group write, with their claim tokens; answered with the
/// claim, or `None` when the group could not carry it.
pub(super) type Finals = GroupCommit<(Incident, Fields, String), Option<AlertClaim>>;

/// Writes a final outcome (`fields`: all of them, or only the outcome's over the pending record
/// this attempt wrote); on a standard topic, takes the alert claim in the same write and returns
/// it (a FIFO topic needs no claim: SNS deduplicates by incident).
pub(super) async fn record_final(
    inner: &Inner,
    incident: &Incident,
    fields: Fields,
) -> Result<Option<(String, AlertClaim)>, AwsError> {
    if inner.alerter.deduplicates() {
        retried("PutItem incident", || inner.incidents.put(incident)).await?;
        return Ok(None);
    }
    let token = uuid::Uuid::new_v4().to_string();
    let grouped = inner
        .finals
        .submit((incident.clone(), fields, token.clone()), |waiting| {
            write_group(inner, waiting)
        })
        .await
        .flatten();
    let claim = match grouped {
        Some(claim) => claim,
        // Its group was cancelled (a claim was not free: a retried batch, another attempt) or
        // failed: alone, where the claim's answer is told apart.
        None => {
            retried("PutItem incident and alert claim", || {
                inner.incidents.put_final_and_claim_alert(
                    incident,
                    fields,
                    &token,
                    epoch_secs_now(),
                    alert_claim_stale_secs(),
                )
            })
            .await?
        }
    };
    Ok(Some((token, claim)))
}

/// One write per part: a lone final as its own conditional `UpdateItem` (the answer it gives is
/// the claim's), several as one transaction (applied, every claim is won).
async fn write_group(
    inner: &Inner,
    waiting: Vec<(Incident, Fields, String)>,
) -> Vec<Option<AlertClaim>> {
    let mut answers = vec![None; waiting.len()];
    let (now, stale) = (epoch_secs_now(), alert_claim_stale_secs());
    for part in parts(&waiting, transact::MAX_ITEMS, |(i, _, _)| &i.incident_id) {
        if let [i] = part[..] {
            let (incident, fields, token) = &waiting[i];
            answers[i] = retried("PutItem incident and alert claim", || {
                inner
                    .incidents
                    .put_final_and_claim_alert(incident, *fields, token, now, stale)
            })
            .await
            .ok();
            continue;
        }
        let items: Vec<_> = part
            .iter()
            .map(|&i| {
                let (incident, fields, token) = &waiting[i];
                inner
                    .incidents
                    .final_and_claim_write(incident, *fields, token, now, stale)
            })
            .collect();
        let token = transact::token();
        let applied = matches!(
            retried("TransactWriteItems incidents and alert claims", || {
                transact::write_group(inner.incidents.client(), items.clone(), &token)
            })
            .await,
            Ok(Group::Applied)
        );
        if applied {
            for i in part {
                answers[i] = Some(AlertClaim::Won);
            }
        }
    }
    answers
}
