//! Event-time order across the files of a CloudTrail archive, pure: which file is consumed when
//! (by the delivery time in its name), and a bounded reorder buffer that releases events by
//! `eventTime`, ties broken by file name then position. Must not read files or know where they
//! live: the order depends only on names and contents, never on prefixes, directories or timing.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::core::archive::TrailKey;

/// The default reorder bound. CloudTrail delivers a file about every 5 minutes per account and
/// region, and a file "can contain records written at any point before" its delivery time; an
/// hour covers ordinary delivery delays many times over while holding only an hour of events.
pub const DEFAULT_REORDER_MS: i64 = 60 * 60 * 1000;

/// The consumption order of `files` (each its full key or path and, when its name is a CloudTrail
/// log file's, its parsed key): files whose names are not CloudTrail's first, in the order given
/// (path order); then log files by delivery time, file name, full key, wherever they lie.
pub fn file_order(files: &[(&str, Option<&TrailKey>)]) -> Vec<usize> {
    let mut plain: Vec<usize> = Vec::new();
    let mut trail: Vec<usize> = Vec::new();
    for (i, (_, k)) in files.iter().enumerate() {
        if k.is_some() {
            trail.push(i);
        } else {
            plain.push(i);
        }
    }
    trail.sort_by(|&a, &b| {
        let (ka, kb) = (files[a].1.unwrap(), files[b].1.unwrap());
        (ka.window_ms, &ka.name, files[a].0).cmp(&(kb.window_ms, &kb.name, files[b].0))
    });
    plain.extend(trail);
    plain
}

/// Tie-break ranks: files ordered by (name, full key), so two events with the same `eventTime`
/// come out in file-name order, then by position, wherever the files sit.
pub fn tie_ranks(files: &[(&str, Option<&TrailKey>)]) -> Vec<u32> {
    let name = |i: usize| {
        files[i]
            .1
            .map(|k| k.name.as_str())
            .unwrap_or_else(|| files[i].0.rsplit('/').next().unwrap_or(files[i].0))
    };
    let mut idx: Vec<usize> = (0..files.len()).collect();
    idx.sort_by(|&a, &b| (name(a), files[a].0).cmp(&(name(b), files[b].0)));
    let mut ranks = vec![0u32; files.len()];
    for (rank, i) in idx.into_iter().enumerate() {
        ranks[i] = rank as u32;
    }
    ranks
}

struct Entry<T> {
    time_ms: i64,
    rank: u32,
    pos: u64,
    item: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (i64, u32, u64) {
        (self.time_ms, self.rank, self.pos)
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Holds events until no file still to come can hold an earlier one (assuming delivery within
/// the bound), then releases them in (eventTime, file rank, position) order. An event later than
/// the bound comes out when its file is consumed: still deterministic, counted as late.
pub struct Reorder<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    bound_ms: i64,
    /// Everything before this has been released.
    horizon_ms: i64,
    /// The latest eventTime released so far.
    released_ms: i64,
    late: u64,
    peak: usize,
}

impl<T> Reorder<T> {
    pub fn new(bound_ms: i64) -> Reorder<T> {
        Reorder {
            heap: BinaryHeap::new(),
            bound_ms: bound_ms.max(0),
            horizon_ms: i64::MIN,
            released_ms: i64::MIN,
            late: 0,
            peak: 0,
        }
    }

    /// Adds one event of the file being consumed.
    pub fn push(&mut self, time_ms: i64, rank: u32, pos: u64, item: T) {
        if time_ms < self.released_ms {
            self.late += 1;
        }
        self.heap.push(Reverse(Entry {
            time_ms,
            rank,
            pos,
            item,
        }));
        self.peak = self.peak.max(self.heap.len());
    }

    /// Called before consuming a file delivered at `window_ms` (files come in delivery order):
    /// every held event older than `window_ms - bound` comes out, in order.
    pub fn release(&mut self, window_ms: i64, mut out: impl FnMut(T)) {
        let horizon = window_ms.saturating_sub(self.bound_ms);
        if horizon <= self.horizon_ms {
            return;
        }
        self.horizon_ms = horizon;
        while self
            .heap
            .peek()
            .is_some_and(|Reverse(e)| e.time_ms < horizon)
        {
            if let Some(Reverse(e)) = self.heap.pop() {
                self.released_ms = self.released_ms.max(e.time_ms);
                out(e.item);
            }
        }
    }

    /// Releases everything still held, in order.
    pub fn finish(&mut self, mut out: impl FnMut(T)) {
        while let Some(Reverse(e)) = self.heap.pop() {
            out(e.item);
        }
    }

    /// Events that came out of eventTime order: a later event had already been released when
    /// they arrived (delivered later than the bound).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The most events held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::archive::parse_key;

    fn key(acct: &str, region: &str, stamp: &str, id: &str) -> String {
        format!(
            "AWSLogs/{acct}/CloudTrail/{region}/{}/{}/{}/{acct}_CloudTrail_{region}_{stamp}_{id}.json.gz",
            &stamp[0..4],
            &stamp[4..6],
            &stamp[6..8]
        )
    }

    #[test]
    fn plain_files_first_in_given_order_then_by_delivery_time() {
        let keys = [
            "z.json".to_owned(),
            key("111111111111", "us-east-1", "20240501T0010Z", "b"),
            key("222222222222", "eu-west-1", "20240501T0005Z", "a"),
            "a.json".to_owned(),
            key("111111111111", "eu-west-1", "20240501T0005Z", "a"),
        ];
        let parsed: Vec<Option<TrailKey>> = keys.iter().map(|k| parse_key(k)).collect();
        let files: Vec<(&str, Option<&TrailKey>)> = keys
            .iter()
            .zip(&parsed)
            .map(|(k, p)| (k.as_str(), p.as_ref()))
            .collect();
        // Same delivery time: by file name (account 1111… before 2222…).
        assert_eq!(file_order(&files), vec![0, 3, 4, 2, 1]);
        let ranks = tie_ranks(&files);
        assert!(ranks[4] < ranks[1] && ranks[1] < ranks[2]);
        assert!(ranks[3] < ranks[0]);
    }

    /// Replays files (delivery time, events as (time, id)) in the given order through Reorder.
    fn run(files: &[(i64, Vec<(i64, u32)>)], bound: i64) -> (Vec<u32>, u64) {
        let mut r = Reorder::new(bound);
        let mut out = Vec::new();
        for (rank, (window, events)) in files.iter().enumerate() {
            r.release(*window, |x| out.push(x));
            for (pos, (t, id)) in events.iter().enumerate() {
                r.push(*t, rank as u32, pos as u64, *id);
            }
        }
        r.finish(|x| out.push(x));
        (out, r.late())
    }

    #[test]
    fn releases_in_event_time_across_files() {
        // Two regions delivering every 5 minutes; events interleave across files.
        let files = vec![
            (300, vec![(10, 1), (250, 4)]),
            (300, vec![(20, 2), (200, 3)]),
            (600, vec![(260, 5), (590, 8)]),
            (600, vec![(400, 6), (500, 7)]),
        ];
        let (out, late) = run(&files, 300);
        assert_eq!(out, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(late, 0);
    }

    #[test]
    fn ties_by_file_rank_then_position() {
        let files = vec![(100, vec![(5, 2), (5, 3)]), (100, vec![(5, 0), (1, 9)])];
        let mut r = Reorder::new(1000);
        let mut out = Vec::new();
        // Ranks given out of consumption order: the second file sorts first by name.
        r.push(5, 1, 0, 2);
        r.push(5, 1, 1, 3);
        r.push(5, 0, 0, 0);
        r.push(1, 0, 1, 9);
        r.finish(|x| out.push(x));
        assert_eq!(out, vec![9, 0, 2, 3]);
        drop(files);
    }

    #[test]
    fn events_later_than_the_bound_are_counted_and_still_deterministic() {
        let files = vec![
            (1000, vec![(100, 1)]),
            (5000, vec![(4000, 3)]),
            // Delivered long after: the event at 200 belongs before 4000 but 4000 is out.
            (9000, vec![(200, 2)]),
        ];
        let (out, late) = run(&files, 1000);
        assert_eq!(out, vec![1, 3, 2]);
        assert_eq!(late, 1);
        assert_eq!(run(&files, 1000), (out, late));
        // With a bound covering the delay, order is restored.
        assert_eq!(run(&files, 10_000).0, vec![1, 2, 3]);
    }

    #[test]
    fn holds_only_the_bound() {
        let mut r = Reorder::new(10);
        let mut n = 0;
        for w in 0..1000i64 {
            r.release(w * 5, |_| n += 1);
            r.push(w * 5 - 3, 0, w as u64, ());
        }
        r.finish(|_| n += 1);
        assert_eq!(n, 1000);
        assert!(r.peak() <= 4, "peak {}", r.peak());
    }
}
