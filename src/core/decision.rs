//! Decisions: what to do about a transition (docs/DESIGN.md §5). `became_public` is remediated, or only
//! alerted when the bucket is exempt, the run is a dry run or the event was made by bucketwarden's
//! own identity (docs/DESIGN.md §6: its calls only narrow access, so one that widens it is forged or
//! misused credentials, and acting on it could loop); nothing else acts. Pure: it reads no clock
//! and performs no effect.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::config::Exemptions;
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

#[derive(Debug, thiserror::Error)]
#[error("invalid exemption pattern {pattern:?}: {source}")]
pub struct PatternError {
    pub pattern: String,
    #[source]
    pub source: globset::Error,
}

/// Turns transitions into actions under the configured exemptions and mode.
#[derive(Debug, Clone)]
pub struct Decider {
    buckets: GlobSet,
    tags: Vec<(String, String)>,
    dry_run: bool,
    /// bucketwarden's own identities (`[remediation] self_arns`).
    self_arns: Vec<String>,
}

impl Default for Decider {
    fn default() -> Self {
        Decider {
            buckets: GlobSet::empty(),
            tags: Vec::new(),
            dry_run: false,
            self_arns: Vec::new(),
        }
    }
}

impl Decider {
    pub fn new(exemptions: &Exemptions, dry_run: bool) -> Result<Decider, PatternError> {
        let mut builder = GlobSetBuilder::new();
        for pattern in &exemptions.buckets {
            // Bucket names have no path separators, so `*` matches any run of characters.
            let glob = Glob::new(pattern).map_err(|source| PatternError {
                pattern: pattern.clone(),
                source,
            })?;
            builder.add(glob);
        }
        let buckets = builder.build().map_err(|source| PatternError {
            pattern: exemptions.buckets.join(", "),
            source,
        })?;
        let mut tags: Vec<(String, String)> = exemptions
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.sort();
        Ok(Decider {
            buckets,
            tags,
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

    /// A bucket is exempt when its name matches a pattern or it carries an exempting tag.
    pub fn is_exempt(&self, bucket: Option<&str>, bucket_tags: &[(String, String)]) -> bool {
        bucket.is_some_and(|b| self.buckets.is_match(b))
            || self
                .tags
                .iter()
                .any(|(k, v)| bucket_tags.iter().any(|(bk, bv)| bk == k && bv == v))
    }

    pub fn decide(
        &self,
        transition: Transition,
        bucket: Option<&str>,
        bucket_tags: &[(String, String)],
    ) -> Action {
        if transition != Transition::BecamePublic {
            return Action::None;
        }
        if self.dry_run || self.is_exempt(bucket, bucket_tags) {
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
        actor: Option<&str>,
    ) -> Action {
        match self.decide(transition, bucket, bucket_tags) {
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
        };
        Decider::new(&ex, dry_run).unwrap()
    }

    #[test]
    fn only_became_public_acts() {
        let d = decider(false);
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &[]),
            Action::Remediate
        );
        assert_eq!(
            d.decide(Transition::BecameNotPublic, Some("data"), &[]),
            Action::None
        );
        assert_eq!(
            d.decide(Transition::Unchanged, Some("data"), &[]),
            Action::None
        );
    }

    #[test]
    fn exempt_by_glob_or_tag_alerts() {
        let d = decider(false);
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("public-site-www"), &[]),
            Action::Alert
        );
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("public-sitex"), &[]),
            Action::Remediate
        );
        let tags = vec![("bucketwarden:allow-public".to_string(), "true".to_string())];
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &tags),
            Action::Alert
        );
        let wrong = vec![("bucketwarden:allow-public".to_string(), "false".to_string())];
        assert_eq!(
            d.decide(Transition::BecamePublic, Some("data"), &wrong),
            Action::Remediate
        );
    }

    #[test]
    fn dry_run_only_alerts() {
        assert_eq!(
            decider(true).decide(Transition::BecamePublic, Some("data"), &[]),
            Action::Alert
        );
    }

    #[test]
    fn own_identity_is_alerted_never_remediated() {
        let d = decider(false)
            .with_self_arns(&["arn:aws:iam::111122223333:role/bucketwarden-task".to_string()]);
        let own = "arn:aws:sts::111122223333:assumed-role/bucketwarden-task/worker-1";
        assert_eq!(
            d.decide_event(Transition::BecamePublic, Some("data"), &[], Some(own)),
            Action::Alert
        );
        assert_eq!(
            d.decide_event(Transition::BecameNotPublic, Some("data"), &[], Some(own)),
            Action::None
        );
        let other = "arn:aws:sts::111122223333:assumed-role/bucketwarden-task-2/worker-1";
        assert_eq!(
            d.decide_event(Transition::BecamePublic, Some("data"), &[], Some(other)),
            Action::Remediate
        );
        assert_eq!(
            d.decide_event(Transition::BecamePublic, Some("data"), &[], None),
            Action::Remediate
        );
    }

    #[test]
    fn bad_pattern_is_an_error() {
        let ex = Exemptions {
            buckets: vec!["a[".into()],
            tags: BTreeMap::new(),
        };
        assert!(Decider::new(&ex, false).is_err());
    }
}
