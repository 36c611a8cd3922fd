//! The `alertedAt` marks of alerts sent side by side, written together: while one group write is
//! in flight the marks that arrive queue, and the next caller writes all of them in one
//! `TransactWriteItems` (group commit). Must not publish or claim: `alert` does, and awaits its
//! own mark's answer as before.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::aws::error::AwsError;
use crate::aws::transact::{self, Group};

use super::retry::{retried, retried_n, MARK_ATTEMPTS};
use super::Inner;

type Answer = oneshot::Sender<Result<(), AwsError>>;
type Waiting = (String, String, Answer);

/// Marks waiting for the next group write, and the right to write one.
#[derive(Default)]
pub(super) struct Marks {
    waiting: Mutex<Vec<Waiting>>,
    writer: tokio::sync::Mutex<()>,
}

impl Marks {
    /// Records that `incident_id`'s alert was sent at `at`; returns once that is durable (or has
    /// failed as a lone mark would: after `MARK_ATTEMPTS`).
    pub(super) async fn mark(
        &self,
        inner: &Inner,
        incident_id: &str,
        at: &str,
    ) -> Result<(), AwsError> {
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .expect("marks lock")
            .push((incident_id.to_owned(), at.to_owned(), tx));
        let left = {
            // Whoever holds the writer writes everything waiting as one group. Ours is either
            // taken by a holder before us (which answers it) or still waiting, and taken here.
            let _writer = self.writer.lock().await;
            let waiting = std::mem::take(&mut *self.waiting.lock().expect("marks lock"));
            write_group(inner, waiting).await
        };
        // Marks the writer could not write (after the usual retries) are written one by one
        // outside it, with the full `MARK_ATTEMPTS`, so a struggling mark never holds up the
        // marks of other alerts for long.
        write_alone(inner, left).await;
        match rx.await {
            Ok(result) => result,
            // The writer that took ours ended without answering (it is dropped only with the
            // runtime): mark alone rather than leave the alert unrecorded.
            Err(_) => {
                retried_n("mark incident alerted", MARK_ATTEMPTS, || {
                    inner.incidents.mark_alerted(incident_id, at)
                })
                .await
            }
        }
    }
}

type ById = Vec<(String, (String, Vec<Answer>))>;

/// One write per `transact::MAX_ITEMS` distinct incidents (a group, or a lone mark's own
/// UpdateItem); answers the marks it wrote and returns the others (cancelled or failed).
async fn write_group(inner: &Inner, waiting: Vec<Waiting>) -> ById {
    let mut by_id: HashMap<String, (String, Vec<Answer>)> = HashMap::new();
    for (id, at, tx) in waiting {
        by_id
            .entry(id)
            .or_insert_with(|| (at, Vec::new()))
            .1
            .push(tx);
    }
    let mut left = Vec::new();
    for part in chunks(by_id.into_iter().collect::<ById>()) {
        // Written while holding the writer, a lone mark included: the marks that arrive
        // meanwhile wait and go out together next (that wait is what groups them).
        let applied = if let [(id, (at, _))] = part.as_slice() {
            retried("mark incident alerted", || {
                inner.incidents.mark_alerted(id, at)
            })
            .await
            .is_ok()
        } else {
            let items: Vec<_> = part
                .iter()
                .map(|(id, (at, _))| inner.incidents.mark_alerted_write(id, at))
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
        if applied {
            for (_, (_, answers)) in part {
                for tx in answers {
                    let _ = tx.send(Ok(()));
                }
            }
        } else {
            left.extend(part);
        }
    }
    left
}

/// Each mark on its own, as durable as without grouping (`MARK_ATTEMPTS`), side by side.
async fn write_alone(inner: &Inner, left: ById) {
    futures_util::future::join_all(left.into_iter().map(|(id, (at, answers))| async move {
        let result = retried_n("mark incident alerted", MARK_ATTEMPTS, || {
            inner.incidents.mark_alerted(&id, &at)
        })
        .await;
        for tx in answers {
            let _ = tx.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(AwsError {
                    code: e.code.clone(),
                    message: e.message.clone(),
                    ..*e
                }),
            });
        }
    }))
    .await;
}

/// At most `transact::MAX_ITEMS` marks per group.
fn chunks<T>(mut all: Vec<T>) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    while all.len() > transact::MAX_ITEMS {
        let rest = all.split_off(transact::MAX_ITEMS);
        out.push(std::mem::replace(&mut all, rest));
    }
    if !all.is_empty() {
        out.push(all);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn marks_are_written_at_most_a_transaction_at_a_time() {
        let parts = chunks((0..250).collect::<Vec<_>>());
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        assert_eq!(parts.concat(), (0..250).collect::<Vec<_>>());
        assert!(chunks(Vec::<u8>::new()).is_empty());
    }
}
