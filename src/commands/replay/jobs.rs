//! Replay's parallel half: download, inflate, split and classify files on `jobs` threads, and
//! hand the results to one consumer strictly in plan order, in bounded batches. Must not fold or
//! decide: the consumer (mod.rs) owns the pipeline, so the transcript cannot depend on `jobs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::core::input::{self, FileStats, Item, Position};
use crate::core::record::{self, Classified, S3Event, Skip};

/// Items per batch: bounds memory by batches in flight, never by file size.
const BATCH: usize = 2048;
/// Batches a job may queue ahead of the consumer for its file.
const QUEUED: usize = 4;

/// Every skip, in declaration (and so `Ord`) order: `SKIPS[s as usize] == s`.
const SKIPS: [Skip; 3] = [Skip::OtherDetailType, Skip::NotS3, Skip::Unwatched];

/// A malformed record (or unsplittable bytes) and where.
#[derive(Debug)]
pub struct Bad {
    pub pos: Position,
    pub reason: String,
}

/// Part of one file, in position order.
#[derive(Debug, Default)]
pub struct Batch {
    /// Records split out (events, skipped and malformed alike).
    pub records: u64,
    pub skipped: Vec<(Skip, u64)>,
    /// Watched S3 events with their record ordinal in the file.
    pub events: Vec<(u64, Box<S3Event>)>,
    /// Where each event with odd fields sits (record ordinal → position), for its warning line.
    pub odd: Vec<(u64, Position)>,
    pub bad: Vec<Bad>,
}

pub enum Msg {
    Batch(Batch),
    /// The file is finished: its stats, or why it could not be read.
    Done(Result<FileStats, String>),
}

/// Reads one file from `reader`, sending batches; returns when done or when `send` says stop.
pub fn parse(
    reader: Box<dyn std::io::Read + Send>,
    seen: &AtomicU64,
    send: &mut dyn FnMut(Msg) -> bool,
) -> Option<FileStats> {
    let mut batch = Batch::default();
    // Counted in an array indexed by the variant: this runs for every record, nine in ten skipped.
    let mut skipped = [0u64; SKIPS.len()];
    let mut open = true;
    let mut items = 0usize;
    let mut flush = |batch: &mut Batch, skipped: &mut [u64; SKIPS.len()], open: &mut bool| {
        if !*open {
            return;
        }
        let mut b = std::mem::take(batch);
        b.skipped = SKIPS
            .into_iter()
            .zip(skipped.iter_mut())
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| (s, std::mem::take(n)))
            .collect();
        seen.fetch_add(b.records, Ordering::Relaxed);
        *open = send(Msg::Batch(b));
    };
    let stats = input::read_stream(reader, |item| {
        if !open {
            return;
        }
        batch.records += 1;
        match item {
            Item::Record { pos, bytes } => match record::classify(bytes) {
                Classified::Event(ev) => {
                    if !ev.oddities.is_empty() {
                        batch.odd.push((pos.index, pos.clone()));
                    }
                    batch.events.push((pos.index, ev))
                }
                Classified::Skipped(s) => skipped[s as usize] += 1,
                Classified::Malformed(reason) => batch.bad.push(Bad { pos, reason }),
            },
            Item::Malformed { pos, reason } => batch.bad.push(Bad { pos, reason }),
        }
        items += 1;
        if items.is_multiple_of(BATCH) {
            flush(&mut batch, &mut skipped, &mut open);
        }
    });
    flush(&mut batch, &mut skipped, &mut open);
    open.then_some(stats)
}

struct State {
    next: usize,
    consumed: usize,
    slots: HashMap<usize, Receiver<Msg>>,
    stop: bool,
}

/// Whether the consumer wants more.
pub enum Flow {
    Go,
    Stop,
}

/// Runs `work(i, send)` for i in 0..n on `jobs` threads (at most `2 * jobs` files ahead of the
/// consumer) and calls `consume(i, msg)` for every message, file by file in index order, on
/// this thread; `tick` runs about once a second while waiting (progress).
// The job's sink (`FnMut(Msg) -> bool`, false once the consumer stopped) is spelled out: an alias
// would fix the sink's lifetime to the job's.
#[allow(clippy::type_complexity)]
pub fn run_ordered(
    n: usize,
    jobs: usize,
    work: &(dyn Fn(usize, &mut dyn FnMut(Msg) -> bool) + Sync),
    consume: &mut dyn FnMut(usize, Msg) -> Flow,
    tick: &mut dyn FnMut(),
) {
    let jobs = jobs.max(1);
    let ahead = 2 * jobs;
    let state = Mutex::new(State {
        next: 0,
        consumed: 0,
        slots: HashMap::new(),
        stop: false,
    });
    let cv = Condvar::new();
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let (i, tx) = {
                    let mut st = lock();
                    loop {
                        if st.stop || st.next >= n {
                            return;
                        }
                        if st.next < st.consumed + ahead {
                            break;
                        }
                        st = cv.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                    let i = st.next;
                    st.next += 1;
                    let (tx, rx) = sync_channel(QUEUED);
                    st.slots.insert(i, rx);
                    cv.notify_all();
                    (i, tx)
                };
                work(i, &mut |m| tx.send(m).is_ok());
            });
        }
        let mut stopped = false;
        for i in 0..n {
            let rx = loop {
                let mut st = lock();
                if let Some(rx) = st.slots.remove(&i) {
                    break rx;
                }
                let (g, timeout) = cv
                    .wait_timeout(st, Duration::from_secs(1))
                    .unwrap_or_else(|e| e.into_inner());
                drop(g);
                if timeout.timed_out() {
                    tick();
                }
            };
            loop {
                match rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(m) => {
                        let done = matches!(m, Msg::Done(_));
                        if let Flow::Stop = consume(i, m) {
                            stopped = true;
                            break;
                        }
                        if done {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => tick(),
                    Err(RecvTimeoutError::Disconnected) => {
                        if let Flow::Stop =
                            consume(i, Msg::Done(Err("the reading job ended early".into())))
                        {
                            stopped = true;
                        }
                        break;
                    }
                }
            }
            let mut st = lock();
            st.consumed = i + 1;
            if stopped {
                st.stop = true;
                // Dropping the receivers unblocks jobs waiting to send.
                st.slots.clear();
            }
            cv.notify_all();
            drop(st);
            if stopped {
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_index_their_own_counter_in_order() {
        for (i, s) in SKIPS.into_iter().enumerate() {
            assert_eq!(s as usize, i);
        }
        assert!(SKIPS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn consumes_in_index_order_whatever_the_jobs() {
        for jobs in [1, 2, 5] {
            let work = |i: usize, send: &mut dyn FnMut(Msg) -> bool| {
                // Later files finish sooner: order must come from the index, not timing.
                std::thread::sleep(Duration::from_millis((20 - i as u64) % 7));
                for _ in 0..3 {
                    send(Msg::Batch(Batch {
                        records: i as u64,
                        ..Batch::default()
                    }));
                }
                send(Msg::Done(Ok(FileStats::default())));
            };
            let mut got = Vec::new();
            run_ordered(
                20,
                jobs,
                &work,
                &mut |i, m| {
                    if let Msg::Batch(b) = m {
                        assert_eq!(b.records, i as u64);
                    }
                    got.push(i);
                    Flow::Go
                },
                &mut || {},
            );
            let want: Vec<usize> = (0..20).flat_map(|i| [i; 4]).collect();
            assert_eq!(got, want, "jobs {jobs}");
        }
    }

    #[test]
    fn stopping_does_not_hang() {
        let work = |_: usize, send: &mut dyn FnMut(Msg) -> bool| {
            while send(Msg::Batch(Batch::default())) {}
        };
        let mut n = 0;
        run_ordered(
            50,
            3,
            &work,
            &mut |_, _| {
                n += 1;
                if n == 10 {
                    Flow::Stop
                } else {
                    Flow::Go
                }
            },
            &mut || {},
        );
        assert_eq!(n, 10);
    }
}
