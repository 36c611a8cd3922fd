//! Decisions: what to do about a transition (DESIGN §5). `became_public` is remediated, or only
//! alerted when the bucket is exempt or the run is a dry run; nothing else acts. Pure: it reads
//! no clock and performs no effect.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::config::Exemptions;
use crate::fold::Transition;

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
}

impl Default for Decider {
    fn default() -> Self {
        Decider {
            buckets: GlobSet::empty(),
            tags: Vec::new(),
            dry_run: false,
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
        })
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
    fn bad_pattern_is_an_error() {
        let ex = Exemptions {
            buckets: vec!["a[".into()],
            tags: BTreeMap::new(),
        };
        assert!(Decider::new(&ex, false).is_err());
    }
}
