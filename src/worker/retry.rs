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

/// Attempts of a step under a retry budget (with backoff between them), whichever of the
/// attempts and the time runs out first.
pub(super) const BUDGET_ATTEMPTS: u32 = 8;

/// A step of one event, bounded in attempts (`BUDGET_ATTEMPTS`, with jittered backoff) and in
/// time (`budget`, the SDK's own retries and attempt timeouts included): it ends with an answer
/// or an error, never later than `budget`. Non-retryable errors (a denial) end it at once. Used
/// where a guarded bucket answers, so one bucket that refuses or never answers delays its shard
/// by the budget at most (docs/RELIABILITY.md, "Every step ends").
pub(super) async fn budgeted<T, F, Fut>(
    service: &'static str,
    what: &'static str,
    budget: Duration,
    f: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    match tokio::time::timeout(budget, retried_n(what, BUDGET_ATTEMPTS, f)).await {
        Ok(r) => r,
        Err(_) => Err(AwsError::budget_spent(service, what, budget)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn transient() -> AwsError {
        AwsError {
            service: "s3",
            operation: "GetBucketAcl",
            kind: Kind::Transient,
            code: "InternalError".into(),
            message: String::new(),
        }
    }

    #[tokio::test]
    async fn a_call_that_never_answers_ends_at_the_budget() {
        let budget = Duration::from_millis(300);
        let t = Instant::now();
        let r: Result<(), _> = budgeted("s3", "verify", budget, || {
            std::future::pending::<Result<(), AwsError>>()
        })
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.code, crate::aws::error::BUDGET_SPENT);
        assert!(
            e.retryable(),
            "spent, not hopeless: the record says it was a timeout"
        );
        // It ended: at the budget, not when the call would have answered (never).
        assert!(t.elapsed() >= budget && t.elapsed() < Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_failing_call_ends_after_its_attempts_and_a_denial_at_once() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = budgeted("s3", "verify", Duration::from_secs(3600), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(transient()) }
        })
        .await;
        assert_eq!(r.unwrap_err().code, "InternalError");
        assert_eq!(calls.load(Ordering::SeqCst), BUDGET_ATTEMPTS + 1);
        let denied = AtomicU32::new(0);
        let r: Result<(), _> = budgeted("s3", "verify", Duration::from_secs(3600), || {
            denied.fetch_add(1, Ordering::SeqCst);
            async {
                Err(AwsError {
                    kind: Kind::AccessDenied,
                    code: "AccessDenied".into(),
                    ..transient()
                })
            }
        })
        .await;
        assert!(r.unwrap_err().is(Kind::AccessDenied));
        assert_eq!(denied.load(Ordering::SeqCst), 1);
    }
}
