//! The outbox of alerts: incidents whose alert is owed (`alertOwed`, set when a publish failed or
//! was not tried while SNS was failing) are found on the incident table's sparse index and sent,
//! still once per incident (each send takes the alert claim, as every alert does). Runs on every
//! worker, each round bounded, backing off while SNS fails; exports the owed-alert gauges. Also
//! holds this process's view of whether SNS is failing, so `alert` does not spend a shard's time
//! on it. Must not decide whether to alert, nor touch the stream.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::aws::backoff::Backoff;
use crate::aws::error::AwsError;
use crate::observe::metrics as m;

use super::alert::send_owed;
use super::Inner;

/// How often a worker looks at the index (and refreshes the gauges).
const ROUND: Duration = Duration::from_secs(5);
/// The longest wait between sends while SNS keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Owed alerts sent per round, at most (side by side: their publishes group, ten to a
/// `PublishBatch`): a backlog drains at up to 20 a second per worker. Workers sweeping together
/// read the same oldest page; the claims keep each alert to one sender.
const PAGE: i32 = 100;
/// Index pages counted for the gauge, at most (each up to 1 MB of items).
const COUNT_PAGES: usize = 4;

/// This process's view of SNS: failing since when, if it is.
#[derive(Default)]
pub(super) struct Outbox {
    failing_since: Mutex<Option<Instant>>,
}

impl Outbox {
    /// Whether the last publish answered with an SNS failure (no success since): new alerts are
    /// then owed at once, and only the outbox's backed-off rounds try SNS.
    pub(super) fn sns_down(&self) -> bool {
        self.failing_since.lock().expect("outbox lock").is_some()
    }

    pub(super) fn sns_failed(&self) {
        let mut f = self.failing_since.lock().expect("outbox lock");
        if f.is_none() {
            warn!("SNS publishes failing: alerts are owed in the incident table until it answers");
            *f = Some(Instant::now());
        }
    }

    pub(super) fn sns_answered(&self) {
        if let Some(since) = self.failing_since.lock().expect("outbox lock").take() {
            info!(
                failing_for_s = since.elapsed().as_secs(),
                "SNS answers again"
            );
        }
    }
}

/// What one round did.
enum Round {
    /// Nothing owed, or everything tried was sent (or is another attempt's).
    Clear,
    /// Some send failed: back off.
    Failed,
}

/// Looks at the owed alerts every `ROUND` (jittered) until `stop`; sends them when not backing
/// off. Every worker runs it: each send takes the alert claim, so two workers reaching the same
/// owed alert send it once (a FIFO topic deduplicates by incident), and the outbox needs no
/// leader to fail over.
pub(super) async fn outbox_loop(inner: Arc<Inner>, stop: CancellationToken) {
    let seed = inner.s.worker_id.len() as u64 ^ std::process::id() as u64;
    let mut backoff = Backoff::new(ROUND, MAX_BACKOFF, seed);
    let mut jitter = Backoff::new(ROUND / 5, ROUND / 5, seed.rotate_left(7));
    let mut send_after = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ROUND - ROUND / 10 + jitter.next_delay()) => {}
        }
        let send = Instant::now() >= send_after;
        match round(&inner, send).await {
            Ok(Round::Clear) => {
                if send {
                    backoff.reset();
                }
            }
            Ok(Round::Failed) => send_after = Instant::now() + backoff.next_delay(),
            Err(e) => warn!(error = %e, "outbox: owed alerts not read; will retry"),
        }
    }
}

/// Reads the oldest owed alerts, sets the gauges, and when `send`, sends them.
async fn round(inner: &Arc<Inner>, send: bool) -> Result<Round, AwsError> {
    let (page, more) = inner.incidents.owed(PAGE).await?;
    let count = if more {
        inner.incidents.count_owed(COUNT_PAGES).await?.0
    } else {
        page.len() as u64
    };
    metrics::gauge!(m::ALERTS_OWED).set(count as f64);
    let oldest = page.first().map_or(0.0, |i| age_secs(&i.detected_at));
    metrics::gauge!(m::ALERT_OWED_AGE).set(oldest);
    if !send || page.is_empty() {
        return Ok(Round::Clear);
    }
    let sent = futures_util::future::join_all(page.iter().map(|i| send_owed(inner, i))).await;
    let failed = sent.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        let first = sent.into_iter().find_map(Result::err);
        warn!(owed = count, failed, error = ?first.map(|e| e.to_string()), "outbox: owed alerts not sent; backing off");
        return Ok(Round::Failed);
    }
    info!(
        sent = page.len(),
        owed = count,
        "outbox: owed alerts sent (or found sent)"
    );
    Ok(Round::Clear)
}

/// Seconds since an RFC 3339 time; 0 for an unreadable or future one.
fn age_secs(rfc3339: &str) -> f64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| jiff::Timestamp::now().duration_since(t).try_into().ok())
        .map_or(0.0, |d: std::time::Duration| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_is_counted_from_the_detection_time() {
        let ten_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(10);
        let a = age_secs(&ten_ago.to_string());
        assert!((9.0..30.0).contains(&a), "{a}");
        assert_eq!(age_secs("not a time"), 0.0);
        let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
        assert_eq!(age_secs(&future.to_string()), 0.0);
    }

    #[test]
    fn sns_is_down_from_a_failure_until_an_answer() {
        let o = Outbox::default();
        assert!(!o.sns_down());
        o.sns_failed();
        o.sns_failed();
        assert!(o.sns_down());
        o.sns_answered();
        assert!(!o.sns_down());
    }
}
