//! Decisions: what to do about a transition (docs/DESIGN.md §5). `became_public` is remediated, or only
//! alerted when the bucket is exempt, the run is a dry run or the event was made by bucketwarden's
//! own identity (docs/DESIGN.md §6: its calls only narrow access, so one that widens it is forged or
//! misused credentials, and acting on it could loop); nothing else acts. Pure: it reads no clock
//! and performs no effect.

use serde::{Deserialize, Serialize};

use crate::config::Exemptions;
pub use crate::core::exemption::PatternError;
use crate::core::exemption::{Exemption, Rules};
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

/// Turns transitions into actions under the configured exemptions and mode.
#[derive(Debug, Clone, Default)]
pub struct Decider {
    rules: Rules,
    dry_run: bool,
    /// bucketwarden's own identities (`[remediation] self_arns`).
    self_arns: Vec<String>,
}

impl Decider {
    pub fn new(exemptions: &Exemptions, dry_run: bool) -> Result<Decider, PatternError> {
        Ok(Decider {
            rules: Rules::new(exemptions)?,
            dry_run,
            self_arns: Vec::new(),
        })
    }

    /// Recognises bucketwarden's own identities in [`Decider::decide_event`].
    pub fn with_self_arns(mut self, self_arns: &[String]) -> Decider {
        self.self_arns = self_arns.to_vec();
        self
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// How the bucket stands with the exemptions (src/core/exemption.rs); `tags_set_by` is who
    /// set its tag set, if the fleet saw it.
    pub fn exemption(
        &self,
        bucket: Option<&str>,
        bucket_tags: &[(String, String)],
        tags_set_by: Option<&str>,
    ) -> Exemption {
        self.rules.evaluate(bucket, bucket_tags, tags_set_by)
    }

    /// A bucket is exempt when its name matches a pattern or it carries an exempting tag set by
    /// an authorised identity.
    pub fn is_exempt(
        &self,
        bucket: Option<&str>,
        bucket_tags: &[(String, String)],
        tags_set_by: Option<&str>,
    ) -> bool {
        self.exemption(bucket, bucket_tags, tags_set_by).exempt()
    }

    pub fn decide(
        &self,
        transition: Transition,
        bucket: Option<&str>,
        bucket_tags: &[(String, String)],
        tags_set_by: Option<&str>,
    ) -> Action {
        if transition != Transition::BecamePublic {
            return Action::None;
        }
        if self.dry_run || self.is_exempt(bucket, bucket_tags, tags_set_by) {
            Action::Alert
        } else {
            Action::Remediate
        }
    }

    /// [`Decider::decide`] for an event made by `actor` (its `userIdentity.arn`): a transition
    /// caused by bucketwarden itself is alerted, never remediated. Only the authenticated ARN
    /// counts here; a userAgent can be set by any caller.
    pub fn decide_event(
        &self,
        transition: Transition,
        bucket: Option<&str>,
        bucket_tags: &[(String, String)],
        tags_set_by: Option<&str>,
        actor: Option<&str>,
    ) -> Action {
        match self.decide(transition, bucket, bucket_tags, tags_set_by) {
            Action::Remediate
                if actor.is_some_and(|a| crate::config::is_self_arn(&self.self_arns, a)) =>
            {
                Action::Alert
            }
            action => action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn decider(dry_run: bool) -> Decider {
        let ex = Exemptions {
            buckets: vec!["public-site-*".into()],
            tags: BTreeMap::from([("bucketwarden:allow-public".to_string(), "true".to_string())]),
            tag_setters: None,
        };
        Decider::new(&ex, dry_run).unwrap()
    }

    #[test]
    fn only_became_public_acts() {
        let d = decider(false);
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &[], None),
            Action::Remediate
        );
        assert_eq!(
            d.decide(Transition::BecameNotPublic, Some("data"), &[], None),
            Action::None
        );
        assert_eq!(
            d.decide(Transition::Unchanged, Some("data"), &[], None),
            Action::None
        );
    }

    #[test]
    fn exempt_by_glob_or_tag_alerts() {
        let d = decider(false);
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("public-site-www"), &[], None),
            Action::Alert
        );
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("public-sitex"), &[], None),
            Action::Remediate
        );
        let tags = vec![("bucketwarden:allow-public".to_string(), "true".to_string())];
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &tags, None),
            Action::Alert
        );
        let wrong = vec![("bucketwarden:allow-public".to_string(), "false".to_string())];
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &wrong, None),
            Action::Remediate
        );
    }

    #[test]
    fn dry_run_only_alerts() {
        assert_eq!(
            decider(true).decide(Transition::BecamePublic, Some("data"), &[], None),
            Action::Alert
        );
    }

    #[test]
    fn own_identity_is_alerted_never_remediated() {
        let d = decider(false)
            .with_self_arns(&["arn:aws:iam::111122223333:role/bucketwarden-task".to_string()]);
        let own = "arn:aws:sts::111122223333:assumed-role/bucketwarden-task/worker-1";
        assert_eq!(
            d.decide_event(Transition::BecamePublic, Some("data"), &[], None, Some(own)),
            Action::Alert
        );
        assert_eq!(
            d.decide_event(
                Transition::BecameNotPublic,
                Some("data"),
                &[],
                None,
                Some(own)
            ),
            Action::None
        );
        let other = "arn:aws:sts::111122223333:assumed-role/bucketwarden-task-2/worker-1";
        assert_eq!(
            d.decide_event(
                Transition::BecamePublic,
                Some("data"),
                &[],
                None,
                Some(other)
            ),
            Action::Remediate
        );
        assert_eq!(
            d.decide_event(Transition::BecamePublic, Some("data"), &[], None, None),
            Action::Remediate
        );
    }

    #[test]
    fn an_unauthorised_tag_does_not_exempt() {
        let ex = Exemptions {
            tags: BTreeMap::from([("bucketwarden:allow-public".to_string(), "true".to_string())]),
            tag_setters: Some(vec!["arn:aws:iam::111122223333:role/platform-admin".into()]),
            ..Exemptions::default()
        };
        let d = Decider::new(&ex, false).unwrap();
        let tags = vec![("bucketwarden:allow-public".to_string(), "true".to_string())];
        let admin = "arn:aws:sts::111122223333:assumed-role/platform-admin/jane";
        let alice = "arn:aws:iam::111122223333:user/alice";
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &tags, Some(admin)),
            Action::Alert
        );
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &tags, Some(alice)),
            Action::Remediate
        );
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &tags, None),
            Action::Remediate
        );
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
