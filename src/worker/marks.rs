//! The `alertedAt` marks of alerts sent side by side, written together (`group`): while one
//! group write is in flight the marks that arrive queue, and the next caller writes all of them
//! in one `TransactWriteItems`. Must not publish or claim: `alert` does, and awaits its own
//! mark's answer as before.

use crate::aws::error::AwsError;
use crate::aws::transact::{self, Group};

use super::group::{parts, GroupCommit};
use super::retry::{retried, retried_n, MARK_ATTEMPTS};
use super::Inner;

/// Marks waiting for the next group write: (incident id, sent at).
pub(super) type Marks = GroupCommit<(String, String), bool>;

/// Records that `incident_id`'s alert was sent at `at`; returns once that is durable (or has
/// failed as a lone mark would: after `MARK_ATTEMPTS`).
pub(super) async fn mark(inner: &Inner, incident_id: &str, at: &str) -> Result<(), AwsError> {
    let written = inner
        .marks
        .submit((incident_id.to_owned(), at.to_owned()), |waiting| {
            write_group(inner, waiting)
        })
        .await;
    if written == Some(true) {
        return Ok(());
    }
    // Not written by its group (after the usual retries): alone, outside the writer, with the
    // full `MARK_ATTEMPTS`, so a struggling mark never holds up the marks of other alerts long.
    retried_n("mark incident alerted", MARK_ATTEMPTS, || {
        inner.incidents.mark_alerted(incident_id, at)
    })
    .await
}

/// One write per part of distinct incidents (a group, or a lone mark's own UpdateItem); the
/// mark is an unconditional SET, so a group retried after a lost answer writes the same again.
async fn write_group(inner: &Inner, waiting: Vec<(String, String)>) -> Vec<bool> {
    let mut written = vec![false; waiting.len()];
    for part in parts(&waiting, transact::MAX_ITEMS, |(id, _)| id) {
        let applied = if let [i] = part[..] {
            let (id, at) = &waiting[i];
            retried("mark incident alerted", || {
                inner.incidents.mark_alerted(id, at)
            })
            .await
            .is_ok()
        } else {
            let items: Vec<_> = part
                .iter()
                .map(|&i| {
                    inner
                        .incidents
                        .mark_alerted_write(&waiting[i].0, &waiting[i].1)
                })
                .collect();
            let token = transact::token();
            matches!(
                retried("mark incidents alerted", || {
                    transact::write_group(inner.incidents.client(), items.clone(), &token)
                })
                .await,
                Ok(Group::Applied)
            )
        };
        for i in part {
            written[i] = applied;
        }
    }
    written
}
