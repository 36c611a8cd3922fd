//! One reconciliation pass: every bucket of the account whose known state is older than the
//! interval (or unknown) is read live, compared with what the stream made of it (drift), corrected
//! in the state table, and remediated when exposed and not exempt — what the stream missed.
//! Owns the pass; the leader lease that decides who runs it is the worker's, and exposure is
//! judged by `verify`/`fold`, never here.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

use crate::aws::error::AwsError;
use crate::aws::incident::{Alerter, IncidentTable};
use crate::aws::s3_fix::S3Remediator;
use crate::aws::s3_read;
use crate::aws::state_store::StateStore;
use crate::aws::Clients;
use crate::commands::found;
use crate::core::decision::Decider;
use crate::core::exposure::{BlockConfig, BlockFlags};
use crate::core::fold::{self, BucketState, Stamped};
use crate::observe::metrics as m;

/// The leader lease's row in the lease table (not a shard; `LeaseTable::list` skips it).
pub const LEADER_KEY: &str = "bucketwarden:reconciler";

/// What a pass needs; borrowed from the worker.
pub struct Ctx<'a> {
    pub clients: &'a Clients,
    pub store: &'a StateStore,
    pub incidents: &'a IncidentTable,
    pub alerter: &'a Alerter,
    pub remediator: &'a S3Remediator,
    pub decider: &'a Decider,
    pub account: &'a str,
    pub worker_id: &'a str,
    pub interval_ms: i64,
    pub concurrency: usize,
    /// Cleared when leadership is lost mid-pass: no remediation after that.
    pub still_leader: &'a AtomicBool,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct PassReport {
    pub buckets: usize,
    /// Buckets read live (their known state was older than the interval, or unknown).
    pub reread: usize,
    /// Buckets whose live exposure differed from the known state.
    pub drift: usize,
    pub remediated: usize,
    pub failed: usize,
    pub errors: usize,
    /// Corrected states, to be settled into this worker's fold by the caller.
    pub corrected: Vec<(String, BucketState)>,
}

enum Outcome {
    Fresh,
    Read {
        drift: bool,
        action: Option<bool>,
        state: Box<BucketState>,
    },
    Error,
}

/// Runs one pass at `now_ms` (wall clock, the stamp of what is read).
pub async fn pass(ctx: &Ctx<'_>, now_ms: i64) -> Result<PassReport, AwsError> {
    use futures_util::stream::{self, StreamExt};
    let buckets = s3_read::list_buckets(ctx.clients).await?;
    let mut report = PassReport {
        buckets: buckets.len(),
        ..PassReport::default()
    };
    let outcomes: Vec<(String, Outcome)> = stream::iter(buckets)
        .map(|b: String| async move {
            let o = one(ctx, &b, now_ms).await;
            (b, o)
        })
        .buffer_unordered(ctx.concurrency.max(1))
        .collect()
        .await;
    for (bucket, o) in outcomes {
        match o {
            Outcome::Fresh => {}
            Outcome::Error => report.errors += 1,
            Outcome::Read {
                drift,
                action,
                state,
            } => {
                report.reread += 1;
                report.drift += usize::from(drift);
                match action {
                    Some(true) => report.remediated += 1,
                    Some(false) => report.failed += 1,
                    None => {}
                }
                report.corrected.push((bucket, *state));
            }
        }
    }
    Ok(report)
}

async fn one(ctx: &Ctx<'_>, bucket: &str, now_ms: i64) -> Outcome {
    let known = match ctx.store.load_bucket(bucket).await {
        Ok(k) => k,
        Err(e) => {
            warn!(bucket, error = %e, "reconcile: state unreadable");
            return Outcome::Error;
        }
    };
    let fresh = known
        .as_ref()
        .and_then(|k| k.value.confirmed_at())
        .is_some_and(|at| now_ms - at < ctx.interval_ms);
    if fresh {
        return Outcome::Fresh;
    }
    let (live, tags) = tokio::join!(
        s3_read::read_bucket(ctx.clients, bucket, ctx.account, now_ms, Default::default()),
        s3_read::bucket_tags(ctx.clients, bucket)
    );
    let (live, tags) = match (live, tags) {
        (Ok(l), Ok(t)) => (l, t),
        (Err(e), _) | (_, Err(e)) => {
            warn!(bucket, error = %e, "reconcile: bucket unreadable");
            return Outcome::Error;
        }
    };
    let was_public = known
        .as_ref()
        .map(|k| fold::exposure_of(&k.value, live.account_block).public);
    let now_public = live.exposure.public;
    let drift = match was_public {
        Some(w) => w != now_public,
        // Never seen by the stream: drift only if it matters.
        None => now_public,
    };
    if drift {
        metrics::counter!(m::RECONCILE_DRIFT).increment(1);
        warn!(
            bucket,
            known_public = ?was_public,
            live_public = now_public,
            reasons = ?live.exposure.reasons,
            "reconcile: drift between the stream's state and live S3"
        );
    }
    let mut state = live.state.clone();
    state.tags = Some(Stamped {
        value: tags.clone(),
        at: now_ms,
    });
    if let Some(k) = &known {
        state.merge_from(&k.value);
    }
    let action = if now_public
        && !ctx.decider.is_exempt(Some(bucket), &tags)
        && ctx.still_leader.load(Ordering::Relaxed)
    {
        Some(remediate(ctx, bucket, &live.exposure.reasons, &mut state, now_ms).await)
    } else {
        None
    };
    let expected = known.as_ref().map_or(0, |k| k.version);
    if let Err(e) = ctx.store.save_bucket(bucket, &state, expected).await {
        warn!(bucket, error = %e, "reconcile: corrected state not saved");
    }
    Outcome::Read {
        drift,
        action,
        state: Box::new(state),
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Remediates (or, in dry-run, alerts) a bucket the stream missed; true when it is closed now.
async fn remediate(
    ctx: &Ctx<'_>,
    bucket: &str,
    reasons: &[String],
    state: &mut BucketState,
    now_ms: i64,
) -> bool {
    let now = rfc3339(now_ms);
    let fx = found::Effects {
        incidents: ctx.incidents,
        alerter: Some(ctx.alerter),
        remediator: ctx.remediator,
    };
    let f = found::Found {
        bucket,
        account: ctx.account,
        region: &state.region,
        reasons,
        alert_only: ctx.decider.dry_run(),
        source: "reconcile",
        worker: ctx.worker_id,
        now: &now,
    };
    let closed = found::act(&fx, &f).await == found::Outcome::Remediated;
    if closed {
        state.block = fold::BlockState {
            flags: BlockFlags::known(BlockConfig::ALL_ON),
            at: Some(now_ms),
        };
    }
    closed
}
