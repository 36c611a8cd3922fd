//! Group commit for the writes of effects running side by side: a write that arrives while a
//! group is being written waits, and the next writer takes every waiting write as one group (one
//! `TransactWriteItems` instead of one request each). Owns only the queue and who writes; what a
//! group is, and what to do with a write its group could not carry (redo it alone, as durable as
//! before grouping), are the caller's.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::aws::transact;

/// Writes waiting for the next group, and the right to write one.
pub(super) struct GroupCommit<T, R> {
    waiting: Mutex<Vec<(T, oneshot::Sender<R>)>>,
    writer: tokio::sync::Mutex<()>,
}

impl<T, R> Default for GroupCommit<T, R> {
    fn default() -> Self {
        GroupCommit {
            waiting: Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T, R> GroupCommit<T, R> {
    /// Queues `item`; whoever takes the writer first writes everything waiting with `write`,
    /// which answers each item, in order. Returns `item`'s answer; `None` when the writer that
    /// took it ended without answering it (the caller redoes it alone).
    ///
    /// The group is written while holding the writer, a lone write included: the writes that
    /// arrive meanwhile wait, and that wait is what groups them (a lone write made outside the
    /// writer left nothing to queue behind it, and no group ever formed — measured).
    pub(super) async fn submit<F, Fut>(&self, item: T, write: F) -> Option<R>
    where
        F: FnOnce(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<R>>,
    {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("group lock").push((item, tx));
        {
            let _writer = self.writer.lock().await;
            // Ours is either taken by a writer before us (which answers it) or still waiting.
            let waiting = std::mem::take(&mut *self.waiting.lock().expect("group lock"));
            if !waiting.is_empty() {
                let (items, answers): (Vec<T>, Vec<_>) = waiting.into_iter().unzip();
                for (tx, r) in answers.into_iter().zip(write(items).await) {
                    let _ = tx.send(r);
                }
            }
        }
        rx.await.ok()
    }
}

/// Splits `items` into transactions of at most `per_group` items with distinct `id`s (a
/// transaction may not write one item twice); a repeated id goes in a later part.
pub(super) fn parts<T>(items: &[T], per_group: usize, id: impl Fn(&T) -> &str) -> Vec<Vec<usize>> {
    debug_assert!((1..=transact::MAX_ITEMS).contains(&per_group));
    let mut parts: Vec<(Vec<usize>, HashSet<String>)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = id(item);
        match parts
            .iter_mut()
            .find(|(p, ids)| p.len() < per_group && !ids.contains(key))
        {
            Some((p, ids)) => {
                p.push(i);
                ids.insert(key.to_owned());
            }
            None => parts.push((vec![i], HashSet::from([key.to_owned()]))),
        }
    }
    parts.into_iter().map(|(p, _)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::parts;

    #[test]
    fn parts_are_bounded_and_never_write_one_id_twice() {
        let ids: Vec<String> = (0..250).map(|i| format!("i{}", i % 120)).collect();
        let got = parts(&ids, 100, |s| s.as_str());
        let mut seen: Vec<usize> = got.concat();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..250).collect::<Vec<_>>(),
            "every item in exactly one part"
        );
        for p in &got {
            assert!(p.len() <= 100);
            let mut names: Vec<&str> = p.iter().map(|&i| ids[i].as_str()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), p.len(), "an id twice in one part");
        }
        assert!(parts(&Vec::<String>::new(), 99, |s| s.as_str()).is_empty());
    }

    #[tokio::test]
    async fn writes_that_arrive_while_a_group_is_written_go_together_in_the_next() {
        use std::sync::Arc;
        let g: Arc<super::GroupCommit<u32, u32>> = Arc::default();
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let hold = Arc::new(tokio::sync::Mutex::new(Some(hold)));
        let mut tasks = Vec::new();
        for i in 0..5u32 {
            let (g, sizes, hold) = (g.clone(), sizes.clone(), hold.clone());
            tasks.push(tokio::spawn(async move {
                g.submit(i, |items| async move {
                    sizes.lock().unwrap().push(items.len());
                    // The first group waits until every other write has queued.
                    if let Some(h) = hold.lock().await.take() {
                        let _ = h.await;
                    }
                    items.iter().map(|x| x * 10).collect()
                })
                .await
            }));
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        let _ = release.send(());
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        assert_eq!(answers, (0..5).map(|i| Some(i * 10)).collect::<Vec<_>>());
        assert_eq!(
            *sizes.lock().unwrap(),
            vec![1, 4],
            "one lone write, then the rest as one group"
        );
    }
}
