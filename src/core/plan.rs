//! What acting on one exposure consists of, as a pure plan (quinn-proto's habit): given what an
//! earlier attempt recorded, what live S3 shows and the decision, the ordered [`Step`]s the
//! live worker (and `found`, for exposures found by a read) carry out. Owns the order of effects
//! and every case of "nothing to do"; it performs none of them and must not decide the action —
//! that comes in as a [`Decision`] from `decision`.

use crate::config::ObjectRemediation;
use crate::core::decision::{Action, Decision};

/// What is known of an earlier attempt at the same incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prior {
    /// Not read: the event id was claimed for the first time, and the incident id derives from
    /// it, so no earlier attempt can have recorded anything. Planned exactly as `Read(None)`;
    /// the incident-table read is saved.
    FirstSighting,
    /// What the incident table holds (`None`: nothing).
    Read(Option<PriorOutcome>),
}

impl Prior {
    /// Whether the incident table must be read before planning: only when the event id is
    /// not a first sighting (a retried batch, a retaken record, or no event id at all).
    pub fn needs_read(first_sighting: bool) -> bool {
        !first_sighting
    }

    fn outcome(self) -> Option<PriorOutcome> {
        match self {
            Prior::FirstSighting => None,
            Prior::Read(p) => p,
        }
    }
}

/// What an earlier attempt at the same incident left in the incident table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriorOutcome {
    /// It confirmed the exposure, recorded the incident as pending, and died before its outcome.
    Pending,
    /// It finished: `remediated` when its outcome was a remediation, `alerted` once its alert
    /// was sent.
    Final { remediated: bool, alerted: bool },
}

/// What the live read before acting showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiveVerdict {
    /// The read failed after its bounded retries (denied, or no answer within the retry
    /// budget): whether the target is exposed is not known.
    Unread,
    /// The bucket no longer exists (or the event deleted it: nothing is read).
    BucketGone,
    /// The bucket was read; the object no longer exists.
    ObjectGone,
    /// Read; the target is not exposed.
    NotExposed,
    /// Read; the target is exposed.
    Exposed,
}

impl LiveVerdict {
    /// Whether the bucket's live state is at hand to settle into the fold.
    pub fn bucket_read(self) -> bool {
        matches!(
            self,
            LiveVerdict::ObjectGone | LiveVerdict::NotExposed | LiveVerdict::Exposed
        )
    }
}

/// What an [`LiveVerdict::Unread`] target is planned on (`[remediation] unverified`, and the
/// record's own evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unread {
    /// Record the incident as `unverified` and alert; write nothing to S3 (the default).
    AlertOnly,
    /// The record itself shows the target becoming public and the setting allows it: apply the
    /// fix on that evidence (it only narrows access), and still say the read failed.
    FixOnEvidence,
}

/// What is being acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Bucket,
    Object,
}

/// What the fold is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Settle {
    /// What the live read showed: the bucket's state and the account's block.
    Live,
    /// The target is closed as of the event (an earlier attempt's remediation): a re-opening must
    /// be a new transition even if no CloudTrail event for the fix ever arrives.
    Closed,
    /// What the `Remediate` step before it closed (the object, or the bucket's block), only if
    /// it succeeded.
    ClosedIfRemediated(Target),
}

/// What the incident record says after the effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recorded {
    /// What the `Remediate` step before gave: remediated, or failed with its error.
    Remediation,
    /// Alert only (the decision's rule says why).
    Alerted,
    /// A pending incident whose target S3 now shows closed: the earlier attempt's remediation
    /// landed before it died.
    CompletedBeforeRestart,
    /// Verification could not read the target: outcome `unverified`, with the read's error.
    Unverified,
}

/// Why nothing (more) is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An earlier attempt finished the incident and its alert.
    AlreadyDone,
    /// The bucket or object no longer exists.
    Gone,
    /// Live S3 is not exposed: the event was stale or superseded.
    NotExposed,
    /// Exposed, and the decision is to do nothing.
    DecidedNone,
}

/// One effect, in order. None of them widens access: S3 is only written by `Remediate`, which
/// turns a bucket's block fully on or resets an object's ACL to private.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    SettleFold(Settle),
    /// Prove this worker still holds the shard's lease (a fenced renewal) before the plan's first
    /// effect. Not before a `RecordPending`, which carries its own proof in the same write.
    ProveLease,
    /// Record the incident as pending before any write to S3: a crash after the fix must still
    /// leave the incident behind. Written in one transaction with a fenced renewal of the lease,
    /// so it is also the proof that this worker may still act.
    RecordPending,
    Remediate(Target),
    RecordOutcome(Recorded),
    /// Publish the incident just recorded. The plan's `ProveLease` came before that record; as
    /// for `RecordOutcomeAndAlert`, the alert claim keeps it to one message whoever holds the
    /// lease by now, so no second proof.
    Alert,
    /// The final outcome and the alert claim in one write, then its alert published. No second
    /// lease proof: the claim (or a FIFO topic's deduplication by incident) keeps the alert to
    /// one message whoever holds the lease.
    RecordOutcomeAndAlert(Recorded),
    /// Publish the incident an earlier attempt recorded but did not alert.
    Republish,
    /// The event is parked: finished for the checkpoint, its record kept as a dead letter and
    /// counted. Only after the incident saying why is recorded and alerted: never silent.
    Park,
    NothingToDo(Reason),
}

/// How a step changes who can reach the data in S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Unchanged,
    /// Turns protections on or takes grants away.
    Narrowed,
}

impl Step {
    /// Exhaustive on purpose: a new step must say what it does to access.
    pub fn access(self) -> Access {
        match self {
            Step::Remediate(_) => Access::Narrowed,
            Step::SettleFold(_)
            | Step::ProveLease
            | Step::RecordPending
            | Step::RecordOutcome(_)
            | Step::Alert
            | Step::RecordOutcomeAndAlert(_)
            | Step::Republish
            | Step::Park
            | Step::NothingToDo(_) => Access::Unchanged,
        }
    }
}

/// What `Remediate` writes for an exposed `target` under `[remediation] objects`: with
/// `bucket-block` an object's exposure is closed by the bucket's whole block (one call closes a
/// burst of public objects); a bucket is always closed by its block.
pub fn fix_target(target: Target, objects: ObjectRemediation) -> Target {
    match (target, objects) {
        (Target::Object, ObjectRemediation::BucketBlock) => Target::Bucket,
        (t, _) => t,
    }
}

/// The steps for one incident. `prior`: what the incident table holds for it (or that it was
/// not read, for a first sighting); `live`: what the read before acting showed; `decision`: what
/// to do if it is exposed; `target`: what was found exposed; `objects`: how an object is closed;
/// `unread`: what a target that could not be read is planned on.
///
/// Every plan ends: none asks for the event to be handled again. A target that could not be read
/// (its retries spent) is never taken for "not exposed" nor for "exposed": it is recorded
/// `unverified` and alerted, then parked (or, with `Unread::FixOnEvidence`, fixed on the
/// record's evidence and recorded with the read's error).
pub fn plan(
    prior: Prior,
    live: LiveVerdict,
    decision: Decision,
    target: Target,
    objects: ObjectRemediation,
    unread: Unread,
) -> Vec<Step> {
    use Step::*;
    let prior = prior.outcome();
    if let Some(PriorOutcome::Final {
        remediated,
        alerted,
    }) = prior
    {
        // This fold may not have seen the earlier attempt (the lease moved, or its batch failed
        // before its state was written): take what it did and what S3 shows now.
        let mut steps = Vec::new();
        if live.bucket_read() {
            steps.push(SettleFold(Settle::Live));
        }
        if remediated {
            steps.push(SettleFold(Settle::Closed));
        }
        if alerted {
            steps.push(NothingToDo(Reason::AlreadyDone));
        } else {
            steps.extend([ProveLease, Republish]);
        }
        return steps;
    }
    let settle = || SettleFold(Settle::Live);
    match live {
        LiveVerdict::Unread => match (decision.action, unread) {
            // Nothing would be done were it exposed: nothing is lost by not knowing.
            (Action::None, _) => vec![NothingToDo(Reason::DecidedNone)],
            (Action::Remediate, Unread::FixOnEvidence) => {
                let fix = fix_target(target, objects);
                vec![
                    RecordPending,
                    Remediate(fix),
                    SettleFold(Settle::ClosedIfRemediated(fix)),
                    RecordOutcomeAndAlert(Recorded::Remediation),
                ]
            }
            _ => vec![
                ProveLease,
                RecordOutcomeAndAlert(Recorded::Unverified),
                Park,
            ],
        },
        LiveVerdict::BucketGone => vec![NothingToDo(Reason::Gone)],
        LiveVerdict::ObjectGone => vec![settle(), NothingToDo(Reason::Gone)],
        LiveVerdict::NotExposed => match prior {
            Some(PriorOutcome::Pending) => vec![
                settle(),
                SettleFold(Settle::Closed),
                ProveLease,
                RecordOutcome(Recorded::CompletedBeforeRestart),
                Alert,
            ],
            _ => vec![settle(), NothingToDo(Reason::NotExposed)],
        },
        LiveVerdict::Exposed => match decision.action {
            Action::Remediate => {
                let fix = fix_target(target, objects);
                vec![
                    settle(),
                    RecordPending,
                    Remediate(fix),
                    SettleFold(Settle::ClosedIfRemediated(fix)),
                    RecordOutcomeAndAlert(Recorded::Remediation),
                ]
            }
            Action::Alert => vec![
                settle(),
                ProveLease,
                RecordOutcomeAndAlert(Recorded::Alerted),
            ],
            Action::None => vec![settle(), NothingToDo(Reason::DecidedNone)],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decision::{Decider, Rule, Situation, Source, Trigger};
    use crate::core::exposure::BlockConfig;
    use crate::core::fold::Transition;
    use proptest::prelude::*;
    use Step::*;

    /// The plan for an incident whose prior was read, objects closed by their own ACL.
    fn planned(
        prior: Option<PriorOutcome>,
        live: LiveVerdict,
        decision: Decision,
        target: Target,
    ) -> Vec<Step> {
        plan(
            Prior::Read(prior),
            live,
            decision,
            target,
            ObjectRemediation::ObjectAcl,
            Unread::AlertOnly,
        )
    }

    const REMEDIATE: Decision = Decision {
        action: Action::Remediate,
        rule: Rule::Remediate,
    };
    const OWN: Decision = Decision {
        action: Action::Alert,
        rule: Rule::OwnIdentity,
    };
    const EXEMPT: Decision = Decision {
        action: Action::Alert,
        rule: Rule::ExemptByTag,
    };

    fn final_(remediated: bool, alerted: bool) -> Option<PriorOutcome> {
        Some(PriorOutcome::Final {
            remediated,
            alerted,
        })
    }

    #[test]
    fn exposed_and_remediate_records_pending_before_the_fix_then_the_outcome_then_alerts() {
        for (target, prior) in [
            (Target::Bucket, None),
            (Target::Object, None),
            (Target::Bucket, Some(PriorOutcome::Pending)),
        ] {
            assert_eq!(
                planned(prior, LiveVerdict::Exposed, REMEDIATE, target),
                vec![
                    SettleFold(Settle::Live),
                    RecordPending,
                    Remediate(target),
                    SettleFold(Settle::ClosedIfRemediated(target)),
                    RecordOutcomeAndAlert(Recorded::Remediation),
                ]
            );
        }
    }

    #[test]
    fn bucket_block_closes_an_exposed_object_by_its_bucket_block() {
        let steps = plan(
            Prior::FirstSighting,
            LiveVerdict::Exposed,
            REMEDIATE,
            Target::Object,
            ObjectRemediation::BucketBlock,
            Unread::AlertOnly,
        );
        assert_eq!(
            steps,
            vec![
                SettleFold(Settle::Live),
                RecordPending,
                Remediate(Target::Bucket),
                SettleFold(Settle::ClosedIfRemediated(Target::Bucket)),
                RecordOutcomeAndAlert(Recorded::Remediation),
            ]
        );
        // A bucket is closed by its block in either mode; an object by its ACL by default.
        for objects in [ObjectRemediation::ObjectAcl, ObjectRemediation::BucketBlock] {
            assert_eq!(fix_target(Target::Bucket, objects), Target::Bucket);
        }
        assert_eq!(
            fix_target(Target::Object, ObjectRemediation::ObjectAcl),
            Target::Object
        );
        // Alert-only decisions write nothing to S3 in either mode.
        assert!(!plan(
            Prior::FirstSighting,
            LiveVerdict::Exposed,
            EXEMPT,
            Target::Object,
            ObjectRemediation::BucketBlock,
            Unread::AlertOnly,
        )
        .iter()
        .any(|s| matches!(s, Remediate(_))));
    }

    #[test]
    fn a_first_sighting_is_planned_without_reading_the_incident_table() {
        assert!(!Prior::needs_read(true));
        assert!(Prior::needs_read(false));
        for live in [
            LiveVerdict::Exposed,
            LiveVerdict::NotExposed,
            LiveVerdict::Unread,
        ] {
            assert_eq!(
                plan(
                    Prior::FirstSighting,
                    live,
                    REMEDIATE,
                    Target::Bucket,
                    ObjectRemediation::ObjectAcl,
                    Unread::AlertOnly,
                ),
                planned(None, live, REMEDIATE, Target::Bucket)
            );
        }
    }

    #[test]
    fn the_final_outcome_and_its_alert_are_one_step_but_a_resumed_completion_is_not() {
        // Where a fresh outcome is recorded, the alert claim rides on the same write.
        for d in [REMEDIATE, OWN] {
            let steps = planned(None, LiveVerdict::Exposed, d, Target::Bucket);
            assert!(matches!(steps.last(), Some(RecordOutcomeAndAlert(_))));
            assert!(!steps.contains(&Alert));
        }
        // A pending incident finished after a restart: the lease proven, recorded, then alerted.
        let steps = planned(
            Some(PriorOutcome::Pending),
            LiveVerdict::NotExposed,
            REMEDIATE,
            Target::Bucket,
        );
        assert_eq!(
            &steps[steps.len() - 2..],
            &[RecordOutcome(Recorded::CompletedBeforeRestart), Alert]
        );
    }

    #[test]
    fn exposed_and_alert_records_and_alerts_without_touching_s3() {
        for d in [OWN, EXEMPT] {
            for target in [Target::Bucket, Target::Object] {
                assert_eq!(
                    planned(None, LiveVerdict::Exposed, d, target),
                    vec![
                        SettleFold(Settle::Live),
                        ProveLease,
                        RecordOutcomeAndAlert(Recorded::Alerted)
                    ]
                );
            }
        }
    }

    #[test]
    fn own_identity_is_recorded_and_alerted_never_remediated() {
        // The live worker used to return early here: no incident, no alert.
        let steps = planned(None, LiveVerdict::Exposed, OWN, Target::Bucket);
        assert!(steps.contains(&RecordOutcomeAndAlert(Recorded::Alerted)));
        assert!(!steps
            .iter()
            .any(|s| matches!(s, Remediate(_) | RecordPending)));
    }

    #[test]
    fn exposed_and_decided_none_does_nothing() {
        assert_eq!(
            planned(None, LiveVerdict::Exposed, Decision::NONE, Target::Bucket),
            vec![SettleFold(Settle::Live), NothingToDo(Reason::DecidedNone)]
        );
    }

    #[test]
    fn not_exposed_does_nothing_but_settle() {
        assert_eq!(
            planned(None, LiveVerdict::NotExposed, REMEDIATE, Target::Bucket),
            vec![SettleFold(Settle::Live), NothingToDo(Reason::NotExposed)]
        );
    }

    #[test]
    fn a_resumed_pending_incident_now_closed_is_completed_before_restart() {
        for d in [REMEDIATE, Decision::NONE] {
            assert_eq!(
                planned(
                    Some(PriorOutcome::Pending),
                    LiveVerdict::NotExposed,
                    d,
                    Target::Object
                ),
                vec![
                    SettleFold(Settle::Live),
                    SettleFold(Settle::Closed),
                    ProveLease,
                    RecordOutcome(Recorded::CompletedBeforeRestart),
                    Alert,
                ]
            );
        }
    }

    #[test]
    fn a_gone_bucket_or_object_does_nothing() {
        for prior in [None, Some(PriorOutcome::Pending)] {
            assert_eq!(
                planned(prior, LiveVerdict::BucketGone, REMEDIATE, Target::Bucket),
                vec![NothingToDo(Reason::Gone)]
            );
            assert_eq!(
                planned(prior, LiveVerdict::ObjectGone, REMEDIATE, Target::Object),
                vec![SettleFold(Settle::Live), NothingToDo(Reason::Gone)]
            );
        }
    }

    #[test]
    fn an_unread_target_is_recorded_unverified_alerted_and_parked_never_retried_forever() {
        // Issue #26: it used to be `RetryLater`, and the shard re-read its batch without end.
        for prior in [None, Some(PriorOutcome::Pending)] {
            for d in [REMEDIATE, OWN, EXEMPT] {
                assert_eq!(
                    planned(prior, LiveVerdict::Unread, d, Target::Bucket),
                    vec![
                        ProveLease,
                        RecordOutcomeAndAlert(Recorded::Unverified),
                        Park
                    ]
                );
            }
        }
        // Nothing would be done were it exposed: nothing to say either.
        assert_eq!(
            planned(None, LiveVerdict::Unread, Decision::NONE, Target::Bucket),
            vec![NothingToDo(Reason::DecidedNone)]
        );
    }

    #[test]
    fn fix_on_evidence_remediates_an_unread_target_only_when_decided_remediate() {
        let on_evidence = |d: Decision, target: Target| {
            plan(
                Prior::FirstSighting,
                LiveVerdict::Unread,
                d,
                target,
                ObjectRemediation::ObjectAcl,
                Unread::FixOnEvidence,
            )
        };
        assert_eq!(
            on_evidence(REMEDIATE, Target::Object),
            vec![
                RecordPending,
                Remediate(Target::Object),
                SettleFold(Settle::ClosedIfRemediated(Target::Object)),
                RecordOutcomeAndAlert(Recorded::Remediation),
            ]
        );
        // Exempt or bucketwarden's own identity: still alert only, parked.
        for d in [OWN, EXEMPT] {
            assert_eq!(
                on_evidence(d, Target::Bucket),
                vec![
                    ProveLease,
                    RecordOutcomeAndAlert(Recorded::Unverified),
                    Park
                ]
            );
        }
    }

    #[test]
    fn a_final_prior_takes_what_it_did_and_republishes_only_when_unsent() {
        let live = LiveVerdict::Exposed;
        assert_eq!(
            planned(final_(true, true), live, REMEDIATE, Target::Bucket),
            vec![
                SettleFold(Settle::Live),
                SettleFold(Settle::Closed),
                NothingToDo(Reason::AlreadyDone)
            ]
        );
        assert_eq!(
            planned(final_(true, false), live, REMEDIATE, Target::Bucket),
            vec![
                SettleFold(Settle::Live),
                SettleFold(Settle::Closed),
                ProveLease,
                Republish
            ]
        );
        assert_eq!(
            planned(final_(false, false), live, OWN, Target::Bucket),
            vec![SettleFold(Settle::Live), ProveLease, Republish]
        );
        // The live read failing does not matter once the incident is final.
        assert_eq!(
            planned(
                final_(false, true),
                LiveVerdict::Unread,
                REMEDIATE,
                Target::Bucket
            ),
            vec![NothingToDo(Reason::AlreadyDone)]
        );
        assert_eq!(
            planned(
                final_(true, false),
                LiveVerdict::BucketGone,
                REMEDIATE,
                Target::Bucket
            ),
            vec![SettleFold(Settle::Closed), ProveLease, Republish]
        );
    }

    // ---- properties over every input ------------------------------------------------------

    fn prior() -> impl Strategy<Value = Prior> {
        prop_oneof![
            Just(Prior::FirstSighting),
            Just(Prior::Read(None)),
            Just(Prior::Read(Some(PriorOutcome::Pending))),
            (any::<bool>(), any::<bool>()).prop_map(|(r, a)| Prior::Read(final_(r, a))),
        ]
    }

    fn objects() -> impl Strategy<Value = ObjectRemediation> {
        prop_oneof![
            Just(ObjectRemediation::ObjectAcl),
            Just(ObjectRemediation::BucketBlock)
        ]
    }

    fn live() -> impl Strategy<Value = LiveVerdict> {
        prop_oneof![
            Just(LiveVerdict::Unread),
            Just(LiveVerdict::BucketGone),
            Just(LiveVerdict::ObjectGone),
            Just(LiveVerdict::NotExposed),
            Just(LiveVerdict::Exposed),
        ]
    }

    fn unread() -> impl Strategy<Value = Unread> {
        prop_oneof![Just(Unread::AlertOnly), Just(Unread::FixOnEvidence)]
    }

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![Just(Target::Bucket), Just(Target::Object)]
    }

    /// What S3 holds for the target, as far as access goes.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Access3 {
        block: BlockConfig,
        object_acl_public: bool,
    }

    fn s3() -> impl Strategy<Value = Access3> {
        (any::<[bool; 4]>(), any::<bool>()).prop_map(|(b, acl)| Access3 {
            block: BlockConfig {
                block_public_acls: b[0],
                ignore_public_acls: b[1],
                block_public_policy: b[2],
                restrict_public_buckets: b[3],
            },
            object_acl_public: acl,
        })
    }

    /// A step's write to S3 as `s3_fix` makes it: the bucket's block fully on, or the object's
    /// ACL private. Nothing else writes to S3.
    fn apply(step: Step, s: Access3) -> Access3 {
        match step {
            Remediate(Target::Bucket) => Access3 {
                block: BlockConfig::ALL_ON,
                ..s
            },
            Remediate(Target::Object) => Access3 {
                object_acl_public: false,
                ..s
            },
            _ => s,
        }
    }

    fn narrower_or_equal(after: Access3, before: Access3) -> bool {
        let b = |x: bool, y: bool| x || !y; // on stays on
        b(
            after.block.block_public_acls,
            before.block.block_public_acls,
        ) && b(
            after.block.ignore_public_acls,
            before.block.ignore_public_acls,
        ) && b(
            after.block.block_public_policy,
            before.block.block_public_policy,
        ) && b(
            after.block.restrict_public_buckets,
            before.block.restrict_public_buckets,
        ) && (before.object_acl_public || !after.object_acl_public) // no grant added
    }

    /// Situations as every path builds them, decided by the real decider.
    fn decided() -> impl Strategy<Value = (Decision, bool)> {
        let trigger = prop_oneof![
            Just(Trigger::Event(Transition::BecamePublic)),
            Just(Trigger::Event(Transition::BecameNotPublic)),
            Just(Trigger::Event(Transition::Unchanged)),
            Just(Trigger::LiveExposed),
            any::<bool>().prop_map(|k| Trigger::FoundExposed { known_public: k }),
        ];
        (
            trigger,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(trigger, own, exempt_name, exempt_tag, dry_run)| {
                let ex = crate::config::Exemptions {
                    buckets: vec!["public-site-*".into()],
                    tags: [("allow".to_string(), "yes".to_string())].into(),
                    tag_setters: None,
                    ..crate::config::Exemptions::default()
                };
                let d = Decider::new(&ex, dry_run)
                    .unwrap()
                    .with_self_arns(&["arn:aws:iam::1:role/bw".to_string()]);
                let tags = if exempt_tag {
                    vec![("allow".to_string(), "yes".to_string())]
                } else {
                    vec![]
                };
                let bucket = if exempt_name { "public-site-a" } else { "data" };
                let actor = own.then_some("arn:aws:sts::1:assumed-role/bw/worker");
                let decision = d.decide(&Situation {
                    trigger,
                    account: None,
                    bucket: Some(bucket),
                    tags: &tags,
                    tags_set_by: None,
                    actor,
                    source: Source::Stream,
                });
                (decision, own)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn no_step_ever_widens_access(
            prior in prior(), live in live(), (decision, _) in decided(), target in target(),
            objects in objects(), unread in unread(), start in s3(),
        ) {
            let mut s = start;
            for step in plan(prior, live, decision, target, objects, unread) {
                let after = apply(step, s);
                prop_assert!(narrower_or_equal(after, s), "{step:?} widened {s:?} to {after:?}");
                // A step that says it leaves access alone writes nothing.
                if step.access() == Access::Unchanged {
                    prop_assert_eq!(after, s);
                }
                s = after;
            }
            prop_assert!(narrower_or_equal(s, start));
        }

        #[test]
        fn the_plan_is_well_formed(
            prior in prior(), live in live(), (decision, own) in decided(), target in target(),
            objects in objects(), unread in unread(),
        ) {
            let steps = plan(prior, live, decision, target, objects, unread);
            let final_prior = matches!(prior, Prior::Read(Some(PriorOutcome::Final { .. })));
            let pos = |s: Step| steps.iter().position(|x| *x == s);
            prop_assert!(!steps.is_empty());
            // S3 is written only for an exposed target, decided `remediate`, not yet finished,
            // and never for an event by bucketwarden's own identity (no loop).
            let remediates = steps.iter().any(|s| matches!(s, Remediate(_)));
            // An unread target is fixed only on the record's evidence, when the setting allows.
            let read_or_evidenced = live == LiveVerdict::Exposed
                || (live == LiveVerdict::Unread && unread == Unread::FixOnEvidence);
            prop_assert_eq!(
                remediates,
                !final_prior && read_or_evidenced && decision.action == Action::Remediate
            );
            if own { prop_assert!(!remediates); }
            if let Some(r) = steps.iter().position(|s| matches!(s, Remediate(_))) {
                let fix = fix_target(target, objects);
                prop_assert_eq!(steps[r], Remediate(fix));
                prop_assert_eq!(r.checked_sub(1).map(|p| steps[p]), Some(RecordPending));
                prop_assert_eq!(&steps[r + 1..], &[
                    SettleFold(Settle::ClosedIfRemediated(fix)),
                    RecordOutcomeAndAlert(Recorded::Remediation),
                ][..]);
            }
            // An exposure decided on is never silent: it is recorded and alerted; so is a target
            // that could not be read, whatever else is done.
            if !final_prior
                && matches!(live, LiveVerdict::Exposed | LiveVerdict::Unread)
                && decision.action != Action::None
            {
                prop_assert!(steps.iter().any(|s| matches!(s, RecordOutcomeAndAlert(_))));
            }
            // Every plan ends: nothing asks for the event again. A parked event was recorded
            // `unverified` and alerted first, and nothing follows its parking.
            if let Some(p) = pos(Park) {
                prop_assert_eq!(p, steps.len() - 1);
                prop_assert!(steps[..p].contains(&RecordOutcomeAndAlert(Recorded::Unverified)));
                prop_assert_eq!(live, LiveVerdict::Unread);
            }
            if steps.contains(&RecordOutcomeAndAlert(Recorded::Unverified)) {
                prop_assert!(steps.contains(&Park));
            }
            // An alert follows the record it publishes; one message at most.
            let alerts = steps
                .iter()
                .filter(|s| matches!(s, Alert | Republish | RecordOutcomeAndAlert(_)))
                .count();
            prop_assert!(alerts <= 1);
            if let Some(a) = pos(Alert) {
                prop_assert!(steps[..a].iter().any(|s| matches!(s, RecordOutcome(_))));
            }
            // The fold hears of the live read only when there was one.
            if pos(SettleFold(Settle::Live)).is_some() { prop_assert!(live.bucket_read()); }
            // A failed read is never taken for an answer: nothing it did not read is settled
            // (checked above), and it is never "not exposed" or "already done".
            if live == LiveVerdict::Unread && !final_prior {
                prop_assert!(!steps.iter().any(|s| matches!(
                    s,
                    NothingToDo(Reason::NotExposed | Reason::AlreadyDone | Reason::Gone)
                )));
                prop_assert!(decision.action == Action::None || steps.iter().any(|s| matches!(
                    s,
                    RecordOutcomeAndAlert(Recorded::Unverified | Recorded::Remediation)
                )));
            }
            // Only an object is ever closed by its own ACL, and only in object-acl mode.
            if steps.contains(&Remediate(Target::Object)) {
                prop_assert_eq!(objects, ObjectRemediation::ObjectAcl);
                prop_assert_eq!(target, Target::Object);
            }
            // Every effect comes after a proof that the lease is still ours: the first effect is
            // a `RecordPending` (which carries the proof) or follows a `ProveLease`.
            let effect = |s: &Step| !matches!(s, SettleFold(_) | ProveLease | NothingToDo(_));
            if let Some(e) = steps.iter().position(effect) {
                prop_assert!(
                    steps[e] == RecordPending || steps[..e].contains(&ProveLease),
                    "an effect before any lease proof: {:?}", steps
                );
            } else {
                // A plan without effects proves nothing: no request is spent on it.
                prop_assert!(!steps.contains(&ProveLease));
            }
            // Nothing follows "nothing to do".
            if let Some(n) = steps.iter().position(|s| matches!(s, NothingToDo(_))) {
                prop_assert_eq!(n, steps.len() - 1);
            }
        }

        #[test]
        fn a_first_sighting_plans_as_a_read_with_nothing_recorded(
            live in live(), (decision, _) in decided(), target in target(), objects in objects(),
        ) {
            // The incident-table read is saved only because its answer could not change the plan.
            prop_assert_eq!(
                plan(Prior::FirstSighting, live, decision, target, objects, Unread::AlertOnly),
                plan(Prior::Read(None), live, decision, target, objects, Unread::AlertOnly)
            );
        }
    }
}
