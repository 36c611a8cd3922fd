//! One reconciliation pass: in the fleet's own account and then every allowed member (through
//! its assumed role), every bucket whose known state is older than the interval (or unknown) is
//! read live, compared with what the stream made of it (drift), corrected
//! in the state table, and, when exposed, acted on as the decider says — remediated, or alerted
//! when exempt, in dry-run or already known public to the stream (then not alerted again). A member
//! that cannot be reached is reported and the other accounts go on. Owns the pass; the leader lease that decides who runs it is the worker's, exposure is judged by
//! `s3_read`/`fold` and the action by `decision`, never here.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

use crate::aws::accounts::{AccountError, Accounts};
use crate::aws::alerter::Alerter;
use crate::aws::error::AwsError;
use crate::aws::incident::IncidentTable;
use crate::aws::s3_fix::S3Remediator;
use crate::aws::s3_read;
use crate::aws::state_store::StateStore;
use crate::aws::Clients;
use crate::commands::found;
use crate::core::decision::{Decider, Situation, Source, Trigger};
use crate::core::exposure::{BlockConfig, BlockFlags};
use crate::core::fold::{self, BucketState, Settlement};
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
    /// Exposed buckets alerted on, not remediated (exempt, dry-run).
    pub alerted: usize,
    pub errors: usize,
    /// What the pass learned, to be settled into this worker's fold by the caller.
    pub corrected: Vec<Settlement>,
}

enum Outcome {
    Fresh,
    Read {
        drift: bool,
        acted: Option<found::Outcome>,
        state: Box<BucketState>,
        at: i64,
    },
    Error,
}

/// One account's part of a pass over several accounts.
#[derive(Debug)]
pub enum AccountPass {
    Done(PassReport),
    /// The member could not be reached (AssumeRole failed, or it is backing off after failing):
    /// none of its buckets were read this pass.
    Unreachable(AccountError),
    /// ListBuckets (or another account-wide call) failed.
    Failed(AwsError),
}

/// The leader's pass over every account it covers: its own first with `ctx`'s clients, then
/// each member of `accounts` in turn with the member's S3 clients (state, incidents and alerts
/// stay the fleet's). A member that cannot be reached is logged, counted and skipped, and the
/// others go on; its backoff is `Accounts`' (no AssumeRole while its circuit is open), so a pass
/// per interval never makes a hot loop. Stops between accounts once leadership is lost.
pub async fn pass_accounts(
    ctx: &Ctx<'_>,
    registry: &Accounts,
    members: &[String],
    remediation_attempts: u32,
    now_ms: i64,
) -> Vec<(String, AccountPass)> {
    let mut out = Vec::with_capacity(members.len() + 1);
    out.push((
        ctx.account.to_owned(),
        match pass(ctx, now_ms).await {
            Ok(r) => AccountPass::Done(r),
            Err(e) => AccountPass::Failed(e),
        },
    ));
    let region = ctx
        .clients
        .s3
        .config()
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
    for account in members.iter().filter(|a| a.as_str() != ctx.account) {
        if !ctx.still_leader.load(Ordering::Relaxed) {
            break;
        }
        let clients = match registry.s3_for(account, &region).await {
            Ok(c) => c.over(ctx.clients),
            Err(e) => {
                m::reconcile_account_unreachable();
                tracing::error!(account = %account, error = %e,
                    "reconcile: cannot reach the member account; its buckets are not checked this pass");
                out.push((account.clone(), AccountPass::Unreachable(e)));
                continue;
            }
        };
        let remediator = S3Remediator::new(clients.clone(), remediation_attempts);
        let member = Ctx {
            clients: &clients,
            remediator: &remediator,
            account,
            ..*ctx
        };
        let r = match pass(&member, now_ms).await {
            Ok(r) => AccountPass::Done(r),
            Err(e) => {
                tracing::warn!(account = %account, error = %e, "reconcile: member account pass failed");
                AccountPass::Failed(e)
            }
        };
        out.push((account.clone(), r));
    }
    out
}

/// Runs one pass over `ctx`'s account at `now_ms` (wall clock, the stamp of what is read).
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
                acted,
                state,
                at,
            } => {
                report.reread += 1;
                report.drift += usize::from(drift);
                match acted {
                    Some(found::Outcome::Remediated) => report.remediated += 1,
                    Some(found::Outcome::Failed) => report.failed += 1,
                    Some(found::Outcome::Alerted) => report.alerted += 1,
                    Some(found::Outcome::Nothing) | None => {}
                }
                report.corrected.push(Settlement {
                    bucket_state: Some(*state),
                    ..Settlement::of(&bucket, at)
                });
            }
        }
    }
    Ok(report)
}

async fn one(ctx: &Ctx<'_>, bucket: &str, now_ms: i64) -> Outcome {
    let known = match ctx.store.load_bucket(bucket).await {
        Ok(k) => k,
        Err(e) => {
            warn!(account = ctx.account, bucket, error = %e, "reconcile: state unreadable");
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
            warn!(account = ctx.account, bucket, error = %e, "reconcile: bucket unreadable");
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
            account = ctx.account,
            bucket,
            known_public = ?was_public,
            live_public = now_public,
            reasons = ?live.exposure.reasons,
            "reconcile: drift between the stream's state and live S3"
        );
    }
    let mut state = live.state.clone();
    state.tags = Some(fold::TagState::new(tags.clone(), now_ms, None));
    if let Some(k) = &known {
        // Keeps the setter the stream saw when the live tags are the same set.
        state.merge_from(&k.value);
    }
    // No effect once leadership is lost: the new reconciler reads the bucket again.
    let acted = if now_public && ctx.still_leader.load(Ordering::Relaxed) {
        let tags_set_by = state.tags_set_by().map(str::to_owned);
        let decision = ctx.decider.decide(&Situation {
            trigger: Trigger::FoundExposed {
                known_public: was_public == Some(true),
            },
            account: Some(ctx.account),
            bucket: Some(bucket),
            tags: &tags,
            tags_set_by: tags_set_by.as_deref(),
            actor: None,
            source: Source::Reconcile,
        });
        // An exempting tag that was ignored is reported with the finding.
        let mut reasons = live.exposure.reasons.clone();
        reasons.extend(
            ctx.decider
                .exemption(
                    Some(ctx.account),
                    Some(bucket),
                    &tags,
                    tags_set_by.as_deref(),
                )
                .reasons(),
        );
        Some(act(ctx, bucket, &reasons, decision, &mut state, now_ms).await)
    } else {
        None
    };
    let expected = known.as_ref().map_or(0, |k| k.version);
    if let Err(e) = ctx.store.save_bucket(bucket, &state, expected).await {
        warn!(account = ctx.account, bucket, error = %e, "reconcile: corrected state not saved");
    }
    Outcome::Read {
        drift,
        acted,
        state: Box::new(state),
        at: now_ms,
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Acts on an exposed bucket as decided (remediate, alert or nothing); a bucket it closed is
/// closed in `state` too.
async fn act(
    ctx: &Ctx<'_>,
    bucket: &str,
    reasons: &[String],
    decision: crate::core::decision::Decision,
    state: &mut BucketState,
    now_ms: i64,
) -> found::Outcome {
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
        decision,
        source: Source::Reconcile,
        worker: ctx.worker_id,
        now: &now,
    };
    let outcome = found::act(&fx, &f).await;
    if outcome == found::Outcome::Remediated {
        state.block = fold::BlockState::live(BlockFlags::known(BlockConfig::ALL_ON), now_ms);
    }
    outcome
}
