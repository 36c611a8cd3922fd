//! Decisions: what to do about a situation (docs/DESIGN.md §5), for every path alike — replay, the live
//! stream, reconciliation and scan call [`Decider::decide`] with the same [`Situation`] and get
//! the same [`Decision`]: an [`Action`] and the [`Rule`] that produced it. A transition to public
//! is remediated, or only alerted when it was made by bucketwarden's own identity, the bucket is
//! exempt, or the run is a dry run; nothing else acts. Every difference between paths is a named
//! rule here, never a second decision elsewhere. Pure: it reads no clock and performs no effect.

use serde::{Deserialize, Serialize};

use crate::config::{is_account_id, Allowed, Config, Exemptions, Mode};
use crate::core::exemption::Rules;
pub use crate::core::exemption::{Exemption, PatternError};
use crate::core::fold::Transition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Remediate,
    Alert,
    None,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Remediate => "remediate",
            Action::Alert => "alert",
            Action::None => "none",
        }
    }
}

/// Why a decision is what it is: one rule per outcome, for incidents, logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Nothing became public: no action.
    NotATransitionToPublic,
    /// Found exposed by a read, alert-only, and the state the stream built already had it public:
    /// the stream alerted when it became public, so a periodic read does not alert again.
    AlreadyKnownPublic,
    /// Made public by bucketwarden's own identity (`[remediation] self_arns`). Its own calls only
    /// ever narrow access, so one that widens it is forged or stolen credentials: alerted, never
    /// remediated. The same for a live exposure found after one of its own events (`LiveExposed`):
    /// acting on its own events could loop, and whoever opened the target has an event of their
    /// own, decided on its own actor.
    OwnIdentity,
    /// The bucket's name matches an `[exemptions] buckets` pattern: alerted, not remediated.
    ExemptByName,
    /// The bucket carries an `[exemptions] tags` tag: alerted, not remediated.
    ExemptByTag,
    /// `mode = "dry-run"` or `--dry-run`: alerted, never written to S3.
    DryRun,
    /// A transition to public nothing else covers: remediated.
    Remediate,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::NotATransitionToPublic => "not_a_transition_to_public",
            Rule::AlreadyKnownPublic => "already_known_public",
            Rule::OwnIdentity => "own_identity",
            Rule::ExemptByName => "exempt_by_name",
            Rule::ExemptByTag => "exempt_by_tag",
            Rule::DryRun => "dry_run",
            Rule::Remediate => "remediate",
        }
    }
}

/// What the decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// An event's transition as the fold judged it (replay and the live stream alike).
    Event(Transition),
    /// The live worker's read found the target exposed although the event's line did not say it
    /// became public (the fold assumed unknown state, the event was stale, or a retaken record
    /// was folded by an attempt that died). Live S3 is the truth: decided as a transition to
    /// public. This is the one deliberate live-vs-replay difference: replay has no live read, so
    /// its transcript says `none` where the worker alerts or remediates.
    LiveExposed,
    /// Found exposed by a read with no event (scan, reconciliation). `known_public`: the state
    /// the stream built already had it public (so the stream decided on it when it happened).
    FoundExposed { known_public: bool },
}

/// Which path asks; carried for logs and incidents. The rules do not depend on it: a path that
/// behaves differently does so through its [`Trigger`], which says what it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An event: replayed from CloudTrail logs or read from the live stream.
    Stream,
    Reconcile,
    Scan,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Stream => "stream",
            Source::Reconcile => "reconcile",
            Source::Scan => "scan",
        }
    }
}

/// Everything a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    pub trigger: Trigger,
    /// The account that owns the bucket (the event's `recipientAccountId`, or the account a
    /// read was made in); `None` when unknown. Selects `[exemptions.accounts."<id>"]`.
    pub account: Option<&'a str>,
    pub bucket: Option<&'a str>,
    pub tags: &'a [(String, String)],
    /// Who set the bucket's tag set (the `PutBucketTagging` caller's ARN), when the fleet saw it:
    /// with `[exemptions] tag_setters`, an exempting tag counts only if one of them set it.
    pub tags_set_by: Option<&'a str>,
    /// The event's authenticated `userIdentity.arn`; `None` for reads.
    pub actor: Option<&'a str>,
    pub source: Source,
}

/// What to do, and which rule says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    pub action: Action,
    pub rule: Rule,
}

impl Decision {
    pub const NONE: Decision = Decision {
        action: Action::None,
        rule: Rule::NotATransitionToPublic,
    };
}

/// Turns situations into decisions under the configured exemptions, mode and own identities.
#[derive(Debug, Clone, Default)]
pub struct Decider {
    /// Exemptions by name, by tag and by who set the tag (src/core/exemption.rs).
    rules: Rules,
    dry_run: bool,
    /// bucketwarden's own identities (`[remediation] self_arns`).
    self_arns: Vec<String>,
    /// The member accounts it acts in and the role it assumes there (`[accounts]`): that role's
    /// sessions in a member account are its own identity too, so its own remediation events
    /// there are never acted on as someone else's.
    member_role: Option<(Allowed, String)>,
}

impl Decider {
    /// The decider every path builds from the config; `force_dry_run` is the `--dry-run` flag.
    pub fn from_config(config: &Config, force_dry_run: bool) -> Result<Decider, PatternError> {
        let dry_run = force_dry_run || config.remediation.mode == Mode::DryRun;
        Ok(Decider::new(&config.exemptions, dry_run)?
            .with_self_arns(&config.remediation.self_arns)
            .with_member_role(&config.accounts.allowed, &config.accounts.role_name))
    }

    pub fn new(exemptions: &Exemptions, dry_run: bool) -> Result<Decider, PatternError> {
        Ok(Decider {
            rules: Rules::new(exemptions)?,
            dry_run,
            self_arns: Vec::new(),
            member_role: None,
        })
    }

    /// Recognises bucketwarden's own identities (rule [`Rule::OwnIdentity`]).
    pub fn with_self_arns(mut self, self_arns: &[String]) -> Decider {
        self.self_arns = self_arns.to_vec();
        self
    }

    /// Recognises sessions of `role_name` in the member accounts of `allowed` as its own.
    pub fn with_member_role(mut self, allowed: &Allowed, role_name: &str) -> Decider {
        self.member_role = (*allowed != Allowed::Own && !role_name.is_empty())
            .then(|| (allowed.clone(), role_name.to_owned()));
        self
    }

    /// `arn:<partition>:sts::<member>:assumed-role/<role_name>/<session>` with `<member>` an
    /// allowed account. Under "organization" (whose accounts are listed at run time, not known
    /// here) only the member role of the bucket's own account, `event_account`: the remediator
    /// acts in its own account only, so the same role name in any other account is someone else.
    fn is_member_role_session(&self, actor: &str, event_account: Option<&str>) -> bool {
        let Some((allowed, role_name)) = &self.member_role else {
            return false;
        };
        let Some((account, rest)) = actor
            .strip_prefix("arn:")
            .and_then(|a| a.split_once(':')) // partition
            .and_then(|(_, a)| a.strip_prefix("sts::"))
            .and_then(|a| a.split_once(':'))
        else {
            return false;
        };
        let allowed = match allowed {
            Allowed::Own => false,
            Allowed::List(list) => list.iter().any(|a| a == account),
            Allowed::Organization => is_account_id(account) && event_account == Some(account),
        };
        allowed
            && rest
                .strip_prefix("assumed-role/")
                .and_then(|r| r.strip_prefix(role_name.as_str()))
                .is_some_and(|r| r.starts_with('/'))
    }

    /// How the bucket stands with the exemptions: by name, by a tag an authorised identity set, or
    /// carrying a tag that is ignored (its reasons go on the line, the incident and the alert).
    /// The one place exemptions are evaluated; reports (scan's EXEMPT column) ask here too.
    pub fn exemption(
        &self,
        account: Option<&str>,
        bucket: Option<&str>,
        tags: &[(String, String)],
        tags_set_by: Option<&str>,
    ) -> Exemption {
        self.rules.evaluate(account, bucket, tags, tags_set_by)
    }

    /// Only the authenticated ARN counts; a userAgent can be set by any caller.
    fn is_own(&self, actor: Option<&str>, event_account: Option<&str>) -> bool {
        actor.is_some_and(|a| {
            crate::config::is_self_arn(&self.self_arns, a)
                || self.is_member_role_session(a, event_account)
        })
    }

    /// The decision. Rules in order: not a transition to public → none; own identity → alert;
    /// exempt by name, by tag → alert; dry run → alert; otherwise remediate. An alert-only
    /// finding of a read that the stream's state already had public is not alerted again.
    pub fn decide(&self, s: &Situation<'_>) -> Decision {
        let known_public = match s.trigger {
            Trigger::Event(Transition::BecamePublic) | Trigger::LiveExposed => false,
            Trigger::Event(_) => return Decision::NONE,
            Trigger::FoundExposed { known_public } => known_public,
        };
        let alert_rule = if self.is_own(s.actor, s.account) {
            Some(Rule::OwnIdentity)
        } else if let Some(rule) = match self.exemption(s.account, s.bucket, s.tags, s.tags_set_by)
        {
            Exemption::ByName => Some(Rule::ExemptByName),
            Exemption::ByTag => Some(Rule::ExemptByTag),
            // An ignored tag exempts nothing: the bucket is decided as if it had none.
            Exemption::None | Exemption::UnauthorisedTag { .. } => None,
        } {
            Some(rule)
        } else if self.dry_run {
            Some(Rule::DryRun)
        } else {
            None
        };
        match alert_rule {
            None => Decision {
                action: Action::Remediate,
                rule: Rule::Remediate,
            },
            Some(_) if known_public => Decision {
                action: Action::None,
                rule: Rule::AlreadyKnownPublic,
            },
            Some(rule) => Decision {
                action: Action::Alert,
                rule,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const OWN_ROLE: &str = "arn:aws:iam::111122223333:role/bucketwarden-task";
    const OWN_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/bucketwarden-task/worker-1";
    const ALLOW: (&str, &str) = ("bucketwarden:allow-public", "true");

    fn decider(dry_run: bool) -> Decider {
        let ex = Exemptions {
            buckets: vec!["public-site-*".into()],
            tags: BTreeMap::from([(ALLOW.0.to_string(), ALLOW.1.to_string())]),
            tag_setters: None,
            ..Exemptions::default()
        };
        Decider::new(&ex, dry_run)
            .unwrap()
            .with_self_arns(&[OWN_ROLE.to_string()])
    }

    fn allow_tag() -> Vec<(String, String)> {
        vec![(ALLOW.0.to_string(), ALLOW.1.to_string())]
    }

    fn on(
        d: &Decider,
        trigger: Trigger,
        bucket: &str,
        tags: &[(String, String)],
        actor: Option<&str>,
    ) -> Decision {
        d.decide(&Situation {
            trigger,
            account: None,
            bucket: Some(bucket),
            tags,
            tags_set_by: None,
            actor,
            source: Source::Stream,
        })
    }

    fn became_public(d: &Decider, bucket: &str, tags: &[(String, String)]) -> Decision {
        on(
            d,
            Trigger::Event(Transition::BecamePublic),
            bucket,
            tags,
            None,
        )
    }

    fn d(action: Action, rule: Rule) -> Decision {
        Decision { action, rule }
    }

    #[test]
    fn only_a_transition_to_public_acts() {
        let dc = decider(false);
        assert_eq!(
            became_public(&dc, "data", &[]),
            d(Action::Remediate, Rule::Remediate)
        );
        for t in [Transition::BecameNotPublic, Transition::Unchanged] {
            // Whatever else holds: exempt, own identity, dry run.
            for dc in [decider(false), decider(true)] {
                assert_eq!(
                    on(
                        &dc,
                        Trigger::Event(t),
                        "public-site-a",
                        &allow_tag(),
                        Some(OWN_SESSION)
                    ),
                    Decision::NONE
                );
            }
        }
    }

    #[test]
    fn exempt_by_name_or_tag_alerts_and_says_which() {
        let dc = decider(false);
        assert_eq!(
            became_public(&dc, "public-site-www", &[]),
            d(Action::Alert, Rule::ExemptByName)
        );
        assert_eq!(
            became_public(&dc, "public-sitex", &[]),
            d(Action::Remediate, Rule::Remediate)
        );
        assert_eq!(
            became_public(&dc, "data", &allow_tag()),
            d(Action::Alert, Rule::ExemptByTag)
        );
        let wrong = vec![(ALLOW.0.to_string(), "false".to_string())];
        assert_eq!(
            became_public(&dc, "data", &wrong),
            d(Action::Remediate, Rule::Remediate)
        );
        // Name is reported before tag when both hold.
        assert_eq!(
            became_public(&dc, "public-site-www", &allow_tag()),
            d(Action::Alert, Rule::ExemptByName)
        );
    }

    #[test]
    fn exemption_is_one_small_function() {
        let dc = decider(false);
        assert_eq!(
            dc.exemption(None, Some("public-site-a"), &[], None),
            Exemption::ByName
        );
        assert_eq!(
            dc.exemption(None, Some("data"), &allow_tag(), None),
            Exemption::ByTag
        );
        assert_eq!(dc.exemption(None, Some("data"), &[], None), Exemption::None);
        assert_eq!(dc.exemption(None, None, &[], None), Exemption::None);
    }

    #[test]
    fn dry_run_only_alerts_and_exemption_is_named_first() {
        let dc = decider(true);
        assert_eq!(
            became_public(&dc, "data", &[]),
            d(Action::Alert, Rule::DryRun)
        );
        assert_eq!(
            became_public(&dc, "public-site-a", &[]),
            d(Action::Alert, Rule::ExemptByName)
        );
    }

    #[test]
    fn the_member_role_in_an_allowed_account_is_its_own_identity() {
        let member = "444455556666";
        let list = decider(false).with_member_role(
            &Allowed::List(vec![member.into()]),
            "bucketwarden-remediator",
        );
        let opened = |dc: &Decider, actor: &str| {
            on(
                dc,
                Trigger::Event(Transition::BecamePublic),
                "data",
                &[],
                Some(actor),
            )
        };
        let session =
            format!("arn:aws:sts::{member}:assumed-role/bucketwarden-remediator/bucketwarden");
        assert_eq!(opened(&list, &session), d(Action::Alert, Rule::OwnIdentity));
        // The same role name in an account it does not act in, another role, or a prefix of the
        // name is someone else.
        for other in [
            "arn:aws:sts::777788889999:assumed-role/bucketwarden-remediator/bucketwarden"
                .to_owned(),
            format!("arn:aws:sts::{member}:assumed-role/admin/x"),
            format!("arn:aws:sts::{member}:assumed-role/bucketwarden-remediator-evil/x"),
            format!("arn:aws:iam::{member}:user/bucketwarden-remediator"),
        ] {
            assert_eq!(
                opened(&list, &other),
                d(Action::Remediate, Rule::Remediate),
                "{other}"
            );
        }
        // "organization": the member role of the bucket's own account (an admitted, listed
        // member), never the same role name in another account; only the fleet's own: none.
        let org =
            decider(false).with_member_role(&Allowed::Organization, "bucketwarden-remediator");
        let in_account = |account: &str, actor: &str| {
            org.decide(&Situation {
                trigger: Trigger::Event(Transition::BecamePublic),
                account: Some(account),
                bucket: Some("data"),
                tags: &[],
                tags_set_by: None,
                actor: Some(actor),
                source: Source::Stream,
            })
        };
        let s = "arn:aws:sts::777788889999:assumed-role/bucketwarden-remediator/s";
        assert_eq!(
            in_account("777788889999", s),
            d(Action::Alert, Rule::OwnIdentity)
        );
        assert_eq!(
            in_account("111122223333", s),
            d(Action::Remediate, Rule::Remediate)
        );
        assert_eq!(opened(&org, s), d(Action::Remediate, Rule::Remediate));
        let own_only = decider(false).with_member_role(&Allowed::Own, "bucketwarden-remediator");
        assert_eq!(
            opened(&own_only, &session),
            d(Action::Remediate, Rule::Remediate)
        );
    }

    #[test]
    fn own_identity_is_alerted_never_remediated() {
        let dc = decider(false);
        let own = |trigger, actor| on(&dc, trigger, "data", &[], actor);
        assert_eq!(
            own(Trigger::Event(Transition::BecamePublic), Some(OWN_SESSION)),
            d(Action::Alert, Rule::OwnIdentity)
        );
        assert_eq!(
            own(Trigger::Event(Transition::BecamePublic), Some(OWN_ROLE)),
            d(Action::Alert, Rule::OwnIdentity)
        );
        // Its own remediation narrows access: nothing to do, so no loop.
        assert_eq!(
            own(
                Trigger::Event(Transition::BecameNotPublic),
                Some(OWN_SESSION)
            ),
            Decision::NONE
        );
        // Live S3 exposed after an own-identity event: still alert only.
        assert_eq!(
            own(Trigger::LiveExposed, Some(OWN_SESSION)),
            d(Action::Alert, Rule::OwnIdentity)
        );
        let lookalike = "arn:aws:sts::111122223333:assumed-role/bucketwarden-task-2/worker-1";
        assert_eq!(
            own(Trigger::Event(Transition::BecamePublic), Some(lookalike)),
            d(Action::Remediate, Rule::Remediate)
        );
        assert_eq!(
            own(Trigger::Event(Transition::BecamePublic), None),
            d(Action::Remediate, Rule::Remediate)
        );
        // Own identity outranks exemption and dry run: it is the reason a person must look.
        assert_eq!(
            on(
                &decider(true),
                Trigger::Event(Transition::BecamePublic),
                "public-site-a",
                &allow_tag(),
                Some(OWN_SESSION)
            ),
            d(Action::Alert, Rule::OwnIdentity)
        );
    }

    #[test]
    fn a_live_exposure_is_decided_as_a_transition_to_public_on_every_input() {
        // The one live-vs-replay rule: `LiveExposed` is `Event(BecamePublic)`, nothing more.
        for dc in [decider(false), decider(true)] {
            for bucket in ["data", "public-site-a"] {
                for tags in [vec![], allow_tag()] {
                    for actor in [None, Some(OWN_SESSION), Some("arn:aws:iam::1:user/x")] {
                        assert_eq!(
                            on(&dc, Trigger::LiveExposed, bucket, &tags, actor),
                            on(
                                &dc,
                                Trigger::Event(Transition::BecamePublic),
                                bucket,
                                &tags,
                                actor
                            ),
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_read_finding_is_decided_like_an_event_unless_the_stream_already_alerted() {
        let found = |dc: &Decider, bucket, tags: &[(String, String)], known_public| {
            dc.decide(&Situation {
                trigger: Trigger::FoundExposed { known_public },
                account: None,
                bucket: Some(bucket),
                tags,
                tags_set_by: None,
                actor: None,
                source: Source::Reconcile,
            })
        };
        let dc = decider(false);
        // Unknown to the stream, or known public and never fixed: as for an event.
        for known in [false, true] {
            assert_eq!(
                found(&dc, "data", &[], known),
                d(Action::Remediate, Rule::Remediate)
            );
        }
        assert_eq!(
            found(&dc, "public-site-a", &[], false),
            d(Action::Alert, Rule::ExemptByName)
        );
        assert_eq!(
            found(&dc, "data", &allow_tag(), false),
            d(Action::Alert, Rule::ExemptByTag)
        );
        assert_eq!(
            found(&decider(true), "data", &[], false),
            d(Action::Alert, Rule::DryRun)
        );
        // Alert-only and the stream's state already had it public: alerted then, not again.
        assert_eq!(
            found(&dc, "public-site-a", &[], true),
            d(Action::None, Rule::AlreadyKnownPublic)
        );
        assert_eq!(
            found(&decider(true), "data", &[], true),
            d(Action::None, Rule::AlreadyKnownPublic)
        );
    }

    #[test]
    fn the_source_never_changes_a_decision() {
        let dc = decider(false);
        for trigger in [
            Trigger::Event(Transition::BecamePublic),
            Trigger::LiveExposed,
            Trigger::FoundExposed {
                known_public: false,
            },
        ] {
            let by = |source| {
                dc.decide(&Situation {
                    trigger,
                    account: None,
                    bucket: Some("public-site-a"),
                    tags: &[],
                    tags_set_by: None,
                    actor: None,
                    source,
                })
            };
            assert_eq!(by(Source::Stream), by(Source::Reconcile));
            assert_eq!(by(Source::Stream), by(Source::Scan));
        }
    }

    #[test]
    fn from_config_takes_mode_flag_exemptions_and_own_identities() {
        let mut config = Config::default();
        config.remediation.self_arns = vec![OWN_ROLE.to_string()];
        config.exemptions.buckets = vec!["public-site-*".into()];
        let live = Decider::from_config(&config, false).unwrap();
        assert_eq!(
            on(&live, Trigger::LiveExposed, "data", &[], Some(OWN_SESSION)).rule,
            Rule::OwnIdentity
        );
        assert_eq!(
            became_public(&live, "public-site-a", &[]).rule,
            Rule::ExemptByName
        );
        assert_eq!(became_public(&live, "data", &[]).rule, Rule::Remediate);
        let flagged = Decider::from_config(&config, true).unwrap();
        assert_eq!(became_public(&flagged, "data", &[]).rule, Rule::DryRun);
        config.remediation.mode = Mode::DryRun;
        let configured = Decider::from_config(&config, false).unwrap();
        assert_eq!(became_public(&configured, "data", &[]).rule, Rule::DryRun);
    }

    #[test]
    fn an_accounts_exemptions_hold_on_every_path_in_that_account_only() {
        let config = Config::parse(
            "[exemptions.accounts.\"111111111111\"]\nbuckets = [\"cdn-*\"]\n",
            std::path::Path::new("x.toml"),
        )
        .unwrap();
        let dc = Decider::from_config(&config, false).unwrap();
        for trigger in [
            Trigger::Event(Transition::BecamePublic),
            Trigger::LiveExposed,
            Trigger::FoundExposed {
                known_public: false,
            },
        ] {
            for source in [Source::Stream, Source::Reconcile, Source::Scan] {
                let at = |account| {
                    dc.decide(&Situation {
                        trigger,
                        account,
                        bucket: Some("cdn-images"),
                        tags: &[],
                        tags_set_by: None,
                        actor: None,
                        source,
                    })
                };
                assert_eq!(
                    at(Some("111111111111")),
                    d(Action::Alert, Rule::ExemptByName),
                    "{trigger:?} {source:?}"
                );
                assert_eq!(
                    at(Some("222222222222")),
                    d(Action::Remediate, Rule::Remediate)
                );
                assert_eq!(at(None), d(Action::Remediate, Rule::Remediate));
            }
        }
    }

    #[test]
    fn bad_pattern_is_an_error() {
        let ex = Exemptions {
            buckets: vec!["a[".into()],
            ..Exemptions::default()
        };
        assert!(Decider::new(&ex, false).is_err());
    }
}
