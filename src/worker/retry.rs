//! Retrying and timing of one edge call: jittered backoff for throttled or transient errors,
//! latency histograms. Owns no AWS call of its own and no judgement of what to retry (that is
//! the error's retry hint).

use std::time::{Duration, Instant};

use tracing::debug;

use crate::aws::backoff::Backoff;
use crate::aws::error::{AwsError, Kind};
use crate::observe::metrics as m;

/// Records how long `f` took in the histogram `name` (with an `op` label when given).
pub(super) async fn timed<T>(
    name: &'static str,
    op: Option<&'static str>,
    f: impl std::future::Future<Output = T>,
) -> T {
    let t = Instant::now();
    let out = f.await;
    let secs = t.elapsed().as_secs_f64();
    match op {
        Some(op) => metrics::histogram!(name, "op" => op).record(secs),
        None => metrics::histogram!(name).record(secs),
    }
    out
}

/// Retries a throttled or transient call with jittered backoff (docs/DESIGN.md §7), so one throttled call
/// does not fail a whole batch or lease round; other errors return at once.
pub(super) async fn retried<T, F, Fut>(what: &'static str, f: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    retried_n(what, 6, f).await
}

/// Attempts for writes whose failure would make a retried batch repeat an effect (~40 s).
pub(super) const MARK_ATTEMPTS: u32 = 24;

pub(super) async fn retried_n<T, F, Fut>(
    what: &'static str,
    attempts: u32,
    mut f: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut backoff = Backoff::new(
        Duration::from_millis(50),
        Duration::from_secs(2),
        what.len() as u64 ^ std::process::id() as u64,
    );
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && backoff.attempts() < attempts => {
                if e.is(Kind::Throttled) {
                    metrics::counter!(m::THROTTLES, "service" => e.service).increment(1);
                }
                debug!(call = what, error = %e, "retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => return Err(e),
        }
    }
}
