//! Verify, then act: reads what an earlier attempt recorded and what live S3 shows, asks the
//! decider and the pure plan (`core::plan`) what to do, and carries the steps out — remediation,
//! incident, alert, and what was learned settled into the fold — idempotent per incident id.
//! Must not decide anything itself, checkpoint or persist state.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{error, info, warn};

use crate::aws::accounts::AccountError;
use crate::aws::error::{AwsError, Blame, Kind};
use crate::aws::incident::{Fields, Incident, PENDING};
use crate::aws::kinesis::KRecord;
use crate::aws::s3_fix::{Applied, Remediator, S3Remediator};
use crate::aws::s3_read::{self, AccountBlocks, BucketReads, LiveBucket};
use crate::aws::Clients;
use crate::config::Unverified;
use crate::core::accounts::Admit;
use crate::core::decision::{Action, Decision, Rule, Situation, Source, Trigger};
use crate::core::exposure::Exposure;
use crate::core::fold::{Closed, Settlement, Transition};
use crate::core::plan::{
    self, LiveVerdict, Prior, PriorOutcome, Reason, Recorded, Settle, Step, Target, Unread,
};
use crate::core::record::{EventName, S3Event};
use crate::core::transcript::Line;
use crate::observe::metrics as m;

use super::alert::{publish, publish_claimed, publish_incident};
use super::finals::record_final;
use super::leases::confirm_lease;
use super::pending::record_pending;
use super::retry::{budgeted, retried};
use super::Inner;
use crate::clock::now_rfc3339;

/// What the event's handling knows that saves `act` round trips.
pub(super) struct ActContext {
    /// The event id was claimed for the first time: no attempt before this one can have
    /// recorded an incident for it, so there is no prior outcome to read.
    pub(super) fresh: bool,
    /// The chunk's shared account-level block reads.
    pub(super) account_blocks: AccountBlocks,
    /// The lane step's shared bucket read, for object events side by side.
    pub(super) bucket_reads: Option<BucketReads>,
}

/// What the reads before acting gave.
struct Reads {
    prior: Prior,
    verdict: LiveVerdict,
    live: Option<LiveBucket>,
    exposure: Option<Exposure>,
    /// Why the target could not be read (recorded in the `unverified` incident).
    error: Option<AwsError>,
}

/// Verify, then remediate or alert, record the incident and publish it. Idempotent per incident
/// id, so a batch retried after a crash completes what was started instead of repeating it.
pub(super) async fn act(
    inner: &Arc<Inner>,
    shard: &str,
    rec: &KRecord,
    ev: &S3Event,
    line: &Line,
    ctx: ActContext,
) -> Result<(), AwsError> {
    let Some(bucket) = line.bucket.as_deref() else {
        return Ok(());
    };
    let key = line.key.as_deref();
    let target = if key.is_some() {
        Target::Object
    } else {
        Target::Bucket
    };
    let incident_id = Incident::id_for(ev.event_id.as_deref(), &ev.event_time, bucket, key);
    let deleted = ev.event_name == EventName::DeleteBucket;
    let (clients, remediator) = match clients_for(inner, ev, bucket).await {
        Ok(c) => c,
        Err(e) => {
            return account_failed(inner, shard, ev, line, bucket, key, &incident_id, e).await
        }
    };
    let reads = if deleted {
        // The event deleted the bucket: nothing to read or to act on.
        Reads {
            prior: Prior::Read(None),
            verdict: LiveVerdict::BucketGone,
            live: None,
            exposure: None,
            error: None,
        }
    } else {
        read(inner, &clients, ev, bucket, key, &incident_id, ctx).await?
    };
    let decision = decide(inner, ev, line, bucket);
    // Only the record's own evidence of a change to public may stand in for a read.
    let unread = if inner.unverified == Unverified::Remediate
        && line.transition == Transition::BecamePublic
    {
        Unread::FixOnEvidence
    } else {
        Unread::AlertOnly
    };
    let steps = plan::plan(
        reads.prior,
        reads.verdict,
        decision,
        target,
        inner.objects,
        unread,
    );
    if !deleted && !reads.final_prior() {
        let result = match reads.verdict {
            LiveVerdict::Unread => "error",
            LiveVerdict::Exposed => "exposed",
            _ => "not_exposed",
        };
        metrics::counter!(m::VERIFICATIONS, "result" => result).increment(1);
    }
    let mut run = Run {
        inner,
        shard,
        ev,
        line,
        bucket,
        key,
        incident_id: &incident_id,
        decision,
        reads,
        incident: None,
        remediation: None,
        remediator,
    };
    for step in steps {
        if !run.step(step, rec).await? {
            break;
        }
    }
    Ok(())
}

/// The clients that read and remediate in the event's account: the worker's own for its own
/// account, a member's (its role, assumed and cached by `Accounts`) for a member account.
async fn clients_for(
    inner: &Inner,
    ev: &S3Event,
    bucket: &str,
) -> Result<(Clients, S3Remediator), AccountError> {
    if inner.accounts.admit(&ev.account) == Admit::Own {
        return Ok((inner.clients.clone(), inner.remediator.clone()));
    }
    let member = inner
        .accounts
        .s3_for_bucket(&ev.account, bucket, Some(&ev.region))
        .await?
        .over(&inner.clients);
    let remediator = S3Remediator::new(member.clone(), inner.remediation_attempts);
    Ok((member, remediator))
}

/// The event's account cannot be reached (its role is missing or denies, or it is backing off):
/// an exposure the fold decided on is recorded as a `failed` incident with the error and
/// alerted; the batch goes on, so one bad member never stalls a shard. Verification-only lines
/// (no action decided) are logged and counted only.
#[allow(clippy::too_many_arguments)]
async fn account_failed(
    inner: &Arc<Inner>,
    shard: &str,
    ev: &S3Event,
    line: &Line,
    bucket: &str,
    key: Option<&str>,
    incident_id: &str,
    err: AccountError,
) -> Result<(), AwsError> {
    let event_id = ev.event_id.as_deref();
    error!(shard_id = shard, account = %ev.account, bucket, key, event_id, error = %err,
        "cannot act in the event's account: the bucket may still be public; an operator must act");
    metrics::counter!(m::VERIFICATIONS, "result" => "error").increment(1);
    if line.action == Action::None {
        return Ok(());
    }
    let run = Run {
        inner,
        shard,
        ev,
        line,
        bucket,
        key,
        incident_id,
        decision: decide(inner, ev, line, bucket),
        reads: Reads {
            prior: Prior::Read(None),
            verdict: LiveVerdict::Unread,
            live: None,
            exposure: None,
            error: None,
        },
        incident: None,
        remediation: None,
        remediator: inner.remediator.clone(),
    };
    let mut incident = run.incident_for(run.decision);
    incident.outcome = "failed".into();
    incident.error = Some(err.to_string());
    retried("PutItem incident", || inner.incidents.put(&incident)).await?;
    metrics::counter!(m::REMEDIATIONS, "action" => incident.action.clone(), "outcome" => "failed")
        .increment(1);
    confirm_lease(inner, shard).await?;
    publish_incident(inner, &incident).await
}

/// Parks an event whose `step` could not end well (`error`, the event's own: see
/// `AwsError::blame`): its record is kept as a dead letter, counted by step and reason, and
/// logged. The incident saying why is recorded and alerted before (by the plan, or by
/// `park_event`). The event is then finished for the checkpoint.
pub(super) async fn park(
    inner: &Inner,
    shard: &str,
    rec: &KRecord,
    step: &'static str,
    error: &AwsError,
    bucket: &str,
    key: Option<&str>,
) -> Result<(), AwsError> {
    let reason = error.reason_label();
    metrics::counter!(m::PARKED, "step" => step, "reason" => reason).increment(1);
    metrics::counter!(m::DEAD_LETTERS).increment(1);
    error!(shard_id = shard, sequence_number = %rec.sequence_number, bucket, key, step, reason,
        error = %error, "event parked: its incident is recorded and alerted, its record dead-lettered; the shard goes on");
    let what = if step == "verify" {
        "unverified"
    } else {
        "failed"
    };
    let target = match (bucket, key) {
        ("", _) => String::new(),
        (b, None) => format!(": bucket {b}"),
        (b, Some(k)) => format!(": bucket {b} key {k}"),
    };
    let why = format!("{what}: parked at {step}{target}: {error}");
    let at = now_rfc3339();
    retried("PutItem dead letter", || {
        inner
            .dead
            .put(shard, &rec.sequence_number, &rec.data, &why, &at)
    })
    .await
}

/// An event whose handling failed with an error of its own (`Blame::Item`) after that step's
/// bounded retries: recorded as a `failed` incident with the error and alerted (when it names a
/// bucket), then parked. A failure to record or alert it that is the fleet's is returned (the
/// shard waits); one that is the item's again is logged, and the event is still parked.
pub(super) async fn park_event(
    inner: &Arc<Inner>,
    shard: &str,
    rec: &KRecord,
    ev: &S3Event,
    err: &AwsError,
) -> Result<(), AwsError> {
    let bucket = ev.bucket.as_deref().unwrap_or("");
    let key = ev.key.as_deref();
    if !bucket.is_empty() {
        // Its own id: what the event's steps recorded before failing (a remediation, say)
        // stands, and this one says the event was parked and why.
        let incident = Incident {
            incident_id: format!(
                "{}:parked",
                Incident::id_for(ev.event_id.as_deref(), &ev.event_time, bucket, key)
            ),
            event_id: ev.event_id.clone(),
            event_name: ev.event_name.as_str().to_owned(),
            bucket: bucket.to_owned(),
            key: key.map(str::to_owned),
            account: ev.account.clone(),
            region: ev.region.clone(),
            actor_arn: ev.actor_arn.clone(),
            source_ip: ev.source_ip.clone(),
            reasons: Vec::new(),
            action: Action::Alert.as_str().to_owned(),
            rule: None,
            outcome: "failed".into(),
            remediation: None,
            error: Some(err.to_string()),
            event_time: ev.event_time.clone(),
            detected_at: now_rfc3339(),
            remediated_at: None,
            worker: inner.s.worker_id.clone(),
            source: Source::Stream.as_str().into(),
        };
        let recorded = async {
            retried("PutItem incident", || inner.incidents.put(&incident)).await?;
            metrics::counter!(m::REMEDIATIONS, "action" => incident.action.clone(), "outcome" => "failed")
                .increment(1);
            confirm_lease(inner, shard).await?;
            publish_incident(inner, &incident).await
        };
        match recorded.await {
            Ok(()) => {}
            Err(e) if e.blame() == Blame::Item => {
                error!(shard_id = shard, bucket, error = %e, "the parked event's incident could not be recorded or alerted: its dead letter and log stand for it");
            }
            Err(e) => return Err(e),
        }
    }
    park(inner, shard, rec, "event", err, bucket, key).await
}

/// The prior outcome and the bucket (and object) read live, together.
#[allow(clippy::too_many_arguments)]
async fn read(
    inner: &Arc<Inner>,
    clients: &Clients,
    ev: &S3Event,
    bucket: &str,
    key: Option<&str>,
    incident_id: &str,
    ctx: ActContext,
) -> Result<Reads, AwsError> {
    // A first sighting has no prior attempt (the incident id is derived from the event id).
    let first_sighting = ctx.fresh && ev.event_id.is_some();
    // All reads: issued together (the live read is wasted only on a retried batch whose incident
    // is already final). The lease is proven later, by the plan, and only before an effect.
    let (prior, live) = tokio::join!(
        async {
            if !Prior::needs_read(first_sighting) {
                return Ok(None);
            }
            retried("GetItem incident", || {
                inner.incidents.outcome_of(incident_id)
            })
            .await
        },
        async {
            // Bounded in attempts and time: a bucket that refuses or never answers ends here,
            // within the retry budget, and its event is parked instead of holding the shard.
            let read = || {
                budgeted("s3", "verify bucket", inner.s.retry_budget, || {
                    s3_read::read_bucket(
                        clients,
                        bucket,
                        &ev.account,
                        ev.time_ms,
                        ctx.account_blocks.clone(),
                    )
                })
            };
            match &ctx.bucket_reads {
                Some(shared) => shared.get(bucket, read).await,
                None => read().await,
            }
        },
    );
    let read = prior?.map(|(outcome, alerted)| {
        if outcome == PENDING {
            PriorOutcome::Pending
        } else {
            PriorOutcome::Final {
                remediated: outcome == "remediated",
                alerted,
            }
        }
    });
    let prior = if first_sighting {
        Prior::FirstSighting
    } else {
        Prior::Read(read)
    };
    let live = match live {
        Ok(l) => l,
        Err(e) => {
            let verdict = if e.is(Kind::NotFound) {
                LiveVerdict::BucketGone
            } else {
                LiveVerdict::Unread
            };
            return Ok(Reads {
                prior,
                verdict,
                live: None,
                exposure: None,
                error: Some(e),
            });
        }
    };
    let final_prior = matches!(prior, Prior::Read(Some(PriorOutcome::Final { .. })));
    let exposure = match key {
        // A finished incident needs no object read: only the bucket's state is settled.
        Some(k) if !final_prior => {
            match budgeted("s3", "verify object", inner.s.retry_budget, || {
                s3_read::read_object(clients, &live, bucket, k)
            })
            .await
            {
                Ok((_, e)) => e,
                Err(e) => {
                    let verdict = if e.is(Kind::NotFound) {
                        LiveVerdict::ObjectGone
                    } else {
                        LiveVerdict::Unread
                    };
                    return Ok(Reads {
                        prior,
                        verdict,
                        live: (verdict == LiveVerdict::ObjectGone).then_some(live),
                        exposure: None,
                        error: Some(e),
                    });
                }
            }
        }
        _ => live.exposure.clone(),
    };
    Ok(Reads {
        prior,
        verdict: if exposure.public {
            LiveVerdict::Exposed
        } else {
            LiveVerdict::NotExposed
        },
        live: Some(live),
        exposure: Some(exposure),
        error: None,
    })
}

impl Reads {
    fn final_prior(&self) -> bool {
        matches!(self.prior, Prior::Read(Some(PriorOutcome::Final { .. })))
    }
}

/// The decider's answer should live S3 show the target exposed: the line's own transition when
/// it became public, otherwise the live exposure (`Trigger::LiveExposed`). Same decider, same
/// inputs as the line's: fold tags and the event's actor.
fn decide(inner: &Inner, ev: &S3Event, line: &Line, bucket: &str) -> Decision {
    let trigger = if line.transition == Transition::BecamePublic {
        Trigger::Event(Transition::BecamePublic)
    } else {
        Trigger::LiveExposed
    };
    let p = inner.pipeline.lock().expect("pipeline lock");
    let (tags, tags_set_by) = p
        .fold()
        .bucket(bucket)
        .map(|b| (b.tags(), b.tags_set_by()))
        .unwrap_or((&[], None));
    p.decider().decide(&Situation {
        trigger,
        account: Some(&ev.account),
        bucket: Some(bucket),
        tags,
        tags_set_by,
        actor: ev.actor_arn.as_deref(),
        source: Source::Stream,
    })
}

/// Carries out one plan.
struct Run<'a> {
    inner: &'a Arc<Inner>,
    shard: &'a str,
    ev: &'a S3Event,
    line: &'a Line,
    bucket: &'a str,
    key: Option<&'a str>,
    incident_id: &'a str,
    decision: Decision,
    reads: Reads,
    incident: Option<Incident>,
    remediation: Option<Result<Applied, AwsError>>,
    /// Remediates in the event's account.
    remediator: S3Remediator,
}

impl Run<'_> {
    /// One step; false when the plan ends here.
    async fn step(&mut self, step: Step, rec: &KRecord) -> Result<bool, AwsError> {
        let (inner, shard, bucket, key) = (self.inner, self.shard, self.bucket, self.key);
        let event_id = self.ev.event_id.as_deref();
        match step {
            Step::SettleFold(settle) => {
                if let Some(s) = self.settlement(settle) {
                    inner
                        .pipeline
                        .lock()
                        .expect("pipeline lock")
                        .fold_mut()
                        .settle(&s);
                }
            }
            Step::ProveLease => confirm_lease(inner, shard).await?,
            Step::RecordPending => {
                // Carries the lease proof: one transaction with a renewal of the lease.
                let incident = self.incident_for(self.decision);
                record_pending(inner, shard, &incident).await?;
                self.incident = Some(incident);
            }
            Step::Remediate(target) => {
                let result = match (target, key) {
                    (Target::Object, Some(k)) => self.remediator.remediate_object(bucket, k).await,
                    _ => {
                        self.remediator
                            .remediate_bucket(bucket, &now_rfc3339())
                            .await
                    }
                };
                match &result {
                    Ok(applied) => {
                        if let Some(arrival) = rec.arrival {
                            if let Ok(d) = SystemTime::now().duration_since(arrival) {
                                metrics::histogram!(m::REMEDIATION_LATENCY).record(d.as_secs_f64());
                            }
                        }
                        info!(
                            shard_id = shard,
                            bucket,
                            key,
                            event_id,
                            remediation = applied.as_str(),
                            "remediated"
                        );
                    }
                    Err(e) => {
                        error!(shard_id = shard, bucket, key, event_id, error = %e, "REMEDIATION FAILED: the bucket may still be public; an operator must act");
                    }
                }
                self.remediation = Some(result);
            }
            Step::RecordOutcome(recorded) => {
                let incident = self.final_incident(recorded);
                retried("PutItem incident", || inner.incidents.put(&incident)).await?;
                metrics::counter!(m::REMEDIATIONS, "action" => incident.action.clone(), "outcome" => incident.outcome.clone()).increment(1);
                self.incident = Some(incident);
            }
            Step::RecordOutcomeAndAlert(recorded) => {
                // After this attempt's own pending record (the plan puts one before every
                // remediation), only the outcome's fields change.
                let fields = if recorded == Recorded::Remediation && self.incident.is_some() {
                    Fields::Outcome
                } else {
                    Fields::All
                };
                let incident = self.final_incident(recorded);
                let claimed = record_final(inner, &incident, fields).await?;
                metrics::counter!(m::REMEDIATIONS, "action" => incident.action.clone(), "outcome" => incident.outcome.clone()).increment(1);
                publish_claimed(inner, &incident, claimed).await?;
                self.incident = Some(incident);
            }
            Step::Alert => {
                if let Some(incident) = &self.incident {
                    publish_incident(inner, incident).await?;
                }
            }
            Step::Republish => publish(inner, self.incident_id, self.ev, bucket).await?,
            Step::Park => {
                let error = self.read_error();
                park(inner, shard, rec, "verify", &error, bucket, key).await?;
                return Ok(false);
            }
            Step::NothingToDo(reason) => {
                match reason {
                    Reason::Gone => {
                        info!(
                            shard_id = shard,
                            bucket, key, "bucket or object no longer exists; nothing to do"
                        )
                    }
                    Reason::NotExposed if self.line.action != Action::None => {
                        info!(
                            shard_id = shard,
                            bucket,
                            key,
                            event_id,
                            "live S3 is not exposed (stale or superseded event): no action"
                        )
                    }
                    Reason::DecidedNone => {
                        info!(
                            shard_id = shard,
                            bucket,
                            key,
                            event_id,
                            rule = self.decision.rule.as_str(),
                            "exposed; decided no action"
                        )
                    }
                    Reason::NotExposed | Reason::AlreadyDone => {}
                }
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Why verification could not read the target.
    fn read_error(&self) -> AwsError {
        match &self.reads.error {
            Some(e) => AwsError {
                service: e.service,
                operation: e.operation,
                kind: e.kind,
                code: e.code.clone(),
                message: e.message.clone(),
            },
            None => AwsError::other("s3", "verify", "the live read failed"),
        }
    }

    /// The incident as its final outcome records it.
    fn final_incident(&mut self, recorded: Recorded) -> Incident {
        let (shard, bucket, key) = (self.shard, self.bucket, self.key);
        let event_id = self.ev.event_id.as_deref();
        let mut incident = match recorded {
            Recorded::CompletedBeforeRestart => {
                // Only a remediation records a pending incident.
                let mut i = self.incident_for(Decision {
                    action: Action::Remediate,
                    rule: Rule::Remediate,
                });
                i.reasons = self.line.reasons.clone();
                i
            }
            _ => self
                .incident
                .take()
                .unwrap_or_else(|| self.incident_for(self.decision)),
        };
        match recorded {
            Recorded::Remediation => match &self.remediation {
                Some(Ok(applied)) => {
                    incident.outcome = "remediated".into();
                    incident.remediation = Some(applied.as_str().to_owned());
                    incident.remediated_at = Some(now_rfc3339());
                }
                Some(Err(e)) => {
                    incident.outcome = "failed".into();
                    incident.error = Some(e.to_string());
                }
                None => {
                    incident.outcome = "failed".into();
                    incident.error = Some("no remediation was attempted".into());
                }
            },
            Recorded::Alerted => {
                incident.outcome = "alerted".into();
                match self.decision.rule {
                    Rule::OwnIdentity => {
                        warn!(shard_id = shard, bucket, key, event_id, actor = ?self.ev.actor_arn, "made public by bucketwarden's own identity (forged or stolen credentials?): alert only, never remediated")
                    }
                    rule => info!(
                        shard_id = shard,
                        bucket,
                        key,
                        event_id,
                        rule = rule.as_str(),
                        "public and exempt or dry-run: alert only"
                    ),
                }
            }
            Recorded::Unverified => {
                incident.outcome = "unverified".into();
                incident.error = Some(self.read_error().to_string());
                error!(shard_id = shard, bucket, key, event_id, error = %self.read_error(),
                    "VERIFICATION COULD NOT READ the target: recorded unverified and alerted; it may be public; an operator must act");
            }
            Recorded::CompletedBeforeRestart => {
                incident.outcome = "remediated".into();
                incident.remediation = Some("completed_before_restart".into());
                incident.remediated_at = Some(now_rfc3339());
                info!(
                    shard_id = shard,
                    bucket, key, "finished an incident a previous attempt left pending"
                );
            }
        }
        // Fixed on the record's evidence (`unverified = "remediate"`): the incident still says
        // the read failed, and why.
        if recorded == Recorded::Remediation && self.reads.verdict == LiveVerdict::Unread {
            let unread = format!("unverified: {}", self.read_error());
            incident.error = Some(match incident.error.take() {
                Some(e) => format!("{unread}; {e}"),
                None => unread,
            });
        }
        incident
    }

    /// What a `SettleFold` step tells the fold, stamped at the event's time: CloudTrail times
    /// have second precision, and a re-opening in the same second must not look stale.
    fn settlement(&self, settle: Settle) -> Option<Settlement> {
        let at = self.ev.time_ms;
        let closed_target = |t: Target| match (t, self.key) {
            (Target::Object, Some(k)) => Closed::Object(k.to_owned()),
            _ => Closed::Bucket,
        };
        let closed = || {
            closed_target(if self.key.is_some() {
                Target::Object
            } else {
                Target::Bucket
            })
        };
        let base = Settlement::of(self.bucket, at);
        match settle {
            Settle::Live => {
                let live = self.reads.live.as_ref()?;
                Some(Settlement {
                    bucket_state: Some(live.state.clone()),
                    account_block: Some((self.ev.account.clone(), live.account_block)),
                    ..base
                })
            }
            // No CloudTrail event for the fix may ever reach this worker (or only later), so
            // the fold records it: a re-opening must be a new transition.
            Settle::Closed => Some(Settlement {
                closed: Some(closed()),
                ..base
            }),
            Settle::ClosedIfRemediated(fixed) => {
                matches!(self.remediation, Some(Ok(_))).then(|| Settlement {
                    closed: Some(closed_target(fixed)),
                    ..base
                })
            }
        }
    }

    /// Why an exempting tag on the bucket was ignored (`[exemptions] tag_setters`), if it was.
    fn exemption_reasons(&self) -> Vec<String> {
        let p = self.inner.pipeline.lock().expect("pipeline lock");
        let (tags, set_by) = p
            .fold()
            .bucket(self.bucket)
            .map(|b| (b.tags(), b.tags_set_by()))
            .unwrap_or((&[], None));
        p.decider()
            .exemption(Some(&self.ev.account), Some(self.bucket), tags, set_by)
            .reasons()
    }

    fn incident_for(&self, decision: Decision) -> Incident {
        let ev = self.ev;
        let live_reasons = self
            .reads
            .exposure
            .as_ref()
            .map(|e| e.reasons.clone())
            .unwrap_or_default();
        Incident {
            incident_id: self.incident_id.to_owned(),
            event_id: ev.event_id.clone(),
            event_name: ev.event_name.as_str().to_owned(),
            bucket: self.bucket.to_owned(),
            key: self.key.map(str::to_owned),
            account: ev.account.clone(),
            region: ev.region.clone(),
            actor_arn: ev.actor_arn.clone(),
            source_ip: ev.source_ip.clone(),
            reasons: {
                // The live read replaces the fold's findings, not the decision's own reasons: an
                // exempting tag that was ignored is reported whichever findings are shown.
                let mut r = if live_reasons.is_empty() {
                    self.line.reasons.clone()
                } else {
                    live_reasons
                };
                for x in self.exemption_reasons() {
                    if !r.contains(&x) {
                        r.push(x);
                    }
                }
                r
            },
            action: decision.action.as_str().to_owned(),
            rule: Some(decision.rule.as_str().to_owned()),
            outcome: PENDING.into(),
            remediation: None,
            error: None,
            event_time: ev.event_time.clone(),
            detected_at: now_rfc3339(),
            remediated_at: None,
            worker: self.inner.s.worker_id.clone(),
            source: Source::Stream.as_str().into(),
        }
    }
}
