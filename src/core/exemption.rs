//! Exemptions: whether a bucket that became public is exempt from remediation — by a glob on its
//! name, or by an exempting tag that an authorised identity set (`[exemptions] tag_setters`).
//! Pure: it judges names, tags and the tag set's setter; deciding the action is the decision's.

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::{arn_matches, Exemptions};

/// The reason a transcript line, incident and alert carry when an exempting tag was ignored.
pub const UNAUTHORISED_TAG: &str = "exemption:unauthorised-tag";
/// Prefix of the reason naming who set the ignored tag set.
pub const TAG_SET_BY: &str = "exemption:tag-set-by:";
/// The reason for an ignored tag set whose setter the fleet never saw (a live read, a scan, a
/// reconciliation or a state written before setters were recorded), with the fix.
pub const TAG_SETTER_UNKNOWN: &str =
    "exemption:tag-set-by:unknown:re-tag-by-an-identity-in-tag_setters";

#[derive(Debug, thiserror::Error)]
#[error("invalid exemption pattern {pattern:?}: {source}")]
pub struct PatternError {
    pub pattern: String,
    #[source]
    pub source: globset::Error,
}

/// How a bucket stands with respect to the configured exemptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exemption {
    None,
    ByName,
    ByTag,
    /// It carries an exempting tag, but `tag_setters` is set and the tag set's setter is not one
    /// of them (`None`: the fleet never saw who set it). The tag is ignored.
    UnauthorisedTag {
        setter: Option<String>,
    },
}

impl Exemption {
    /// Whether the bucket is only alerted on.
    pub fn exempt(&self) -> bool {
        matches!(self, Exemption::ByName | Exemption::ByTag)
    }

    /// Reasons to add to the transcript line and incident: only an ignored tag has any.
    pub fn reasons(&self) -> Vec<String> {
        match self {
            Exemption::UnauthorisedTag { setter } => vec![
                UNAUTHORISED_TAG.to_owned(),
                match setter {
                    Some(arn) => format!("{TAG_SET_BY}{arn}"),
                    None => TAG_SETTER_UNKNOWN.to_owned(),
                },
            ],
            _ => Vec::new(),
        }
    }
}

/// The configured exemption rules.
#[derive(Debug, Clone)]
pub struct Rules {
    buckets: GlobSet,
    tags: Vec<(String, String)>,
    /// `None`: whoever set a tag is trusted (the default).
    tag_setters: Option<Vec<String>>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            buckets: GlobSet::empty(),
            tags: Vec::new(),
            tag_setters: None,
        }
    }
}

impl Rules {
    pub fn new(exemptions: &Exemptions) -> Result<Rules, PatternError> {
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
        Ok(Rules {
            buckets,
            tags,
            tag_setters: exemptions.tag_setters.clone(),
        })
    }

    /// Judges a bucket by name, then by its tag set and who set it (`set_by`, the
    /// `PutBucketTagging` caller's ARN; `None` when unknown). A name match needs no tag.
    pub fn evaluate(
        &self,
        bucket: Option<&str>,
        tags: &[(String, String)],
        set_by: Option<&str>,
    ) -> Exemption {
        if bucket.is_some_and(|b| self.buckets.is_match(b)) {
            return Exemption::ByName;
        }
        let tagged = self
            .tags
            .iter()
            .any(|(k, v)| tags.iter().any(|(bk, bv)| bk == k && bv == v));
        if !tagged {
            return Exemption::None;
        }
        match &self.tag_setters {
            None => Exemption::ByTag,
            Some(setters) if set_by.is_some_and(|s| arn_matches(setters, s)) => Exemption::ByTag,
            Some(_) => Exemption::UnauthorisedTag {
                setter: set_by.map(str::to_owned),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/platform-admin";
    const ADMIN_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/platform-admin/jane";
    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

    fn rules(tag_setters: Option<Vec<String>>) -> Rules {
        Rules::new(&Exemptions {
            buckets: vec!["public-site-*".into()],
            tags: BTreeMap::from([("bucketwarden:allow-public".to_string(), "true".to_string())]),
            tag_setters,
        })
        .unwrap()
    }

    fn allow() -> Vec<(String, String)> {
        vec![("bucketwarden:allow-public".to_string(), "true".to_string())]
    }

    #[test]
    fn without_tag_setters_any_setter_exempts() {
        let r = rules(None);
        assert_eq!(
            r.evaluate(Some("data"), &allow(), Some(ALICE)),
            Exemption::ByTag
        );
        assert_eq!(r.evaluate(Some("data"), &allow(), None), Exemption::ByTag);
        assert_eq!(r.evaluate(Some("data"), &[], Some(ALICE)), Exemption::None);
        let wrong = vec![("bucketwarden:allow-public".to_string(), "yes".to_string())];
        assert_eq!(r.evaluate(Some("data"), &wrong, None), Exemption::None);
    }

    #[test]
    fn with_tag_setters_only_their_tags_exempt() {
        let r = rules(Some(vec![ADMIN_ROLE.into()]));
        // A session of the role, as CloudTrail records an assumed role's call.
        assert_eq!(
            r.evaluate(Some("data"), &allow(), Some(ADMIN_SESSION)),
            Exemption::ByTag
        );
        assert_eq!(
            r.evaluate(Some("data"), &allow(), Some(ALICE)),
            Exemption::UnauthorisedTag {
                setter: Some(ALICE.into())
            }
        );
        // Another role whose name only starts the same is not the role.
        let other = "arn:aws:sts::111122223333:assumed-role/platform-admin-2/x";
        assert!(!r.evaluate(Some("data"), &allow(), Some(other)).exempt());
        // A setter the fleet never saw is not trusted.
        assert_eq!(
            r.evaluate(Some("data"), &allow(), None),
            Exemption::UnauthorisedTag { setter: None }
        );
        // No exempting tag: nothing to report.
        assert_eq!(r.evaluate(Some("data"), &[], Some(ALICE)), Exemption::None);
    }

    #[test]
    fn an_empty_tag_setters_list_trusts_no_tag() {
        let r = rules(Some(Vec::new()));
        assert!(!r
            .evaluate(Some("data"), &allow(), Some(ADMIN_SESSION))
            .exempt());
    }

    #[test]
    fn a_name_match_needs_no_tag_setter() {
        let r = rules(Some(vec![ADMIN_ROLE.into()]));
        assert_eq!(
            r.evaluate(Some("public-site-www"), &allow(), Some(ALICE)),
            Exemption::ByName
        );
        assert_eq!(r.evaluate(None, &[], None), Exemption::None);
    }

    #[test]
    fn only_an_ignored_tag_gives_reasons() {
        assert!(Exemption::ByTag.reasons().is_empty());
        assert!(Exemption::ByName.reasons().is_empty());
        assert_eq!(
            Exemption::UnauthorisedTag {
                setter: Some(ALICE.into())
            }
            .reasons(),
            vec![
                UNAUTHORISED_TAG.to_string(),
                format!("exemption:tag-set-by:{ALICE}")
            ]
        );
        assert_eq!(
            Exemption::UnauthorisedTag { setter: None }.reasons()[1],
            TAG_SETTER_UNKNOWN
        );
    }

    #[test]
    fn bad_pattern_is_an_error() {
        let ex = Exemptions {
            buckets: vec!["a[".into()],
            ..Exemptions::default()
        };
        assert!(Rules::new(&ex).is_err());
    }
}
