//! Effective exposure (docs/DESIGN.md §4): combines ACL and policy findings with the PublicAccessBlock
//! flags (ORed across account, bucket and access point) and object ownership, over three-valued
//! knowledge (unknown protections assumed off, unknown grants assumed absent, and every assumption
//! that matters named in the reasons). Pure: no state, no I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::acl::Acl;
use crate::core::policy::PolicyFindings;

/// A complete PublicAccessBlock configuration as a Put call sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockConfig {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExposureError {
    #[error("no PublicAccessBlockConfiguration in requestParameters")]
    NoBlockConfig,
    #[error("PublicAccessBlockConfiguration.{0} is not a boolean")]
    BadFlag(&'static str),
    #[error("no OwnershipControls rule with a known ObjectOwnership")]
    NoOwnership,
}

const FLAGS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

impl BlockConfig {
    pub const ALL_ON: BlockConfig = BlockConfig {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
    pub const ALL_OFF: BlockConfig = BlockConfig {
        block_public_acls: false,
        ignore_public_acls: false,
        block_public_policy: false,
        restrict_public_buckets: false,
    };

    /// Reads `PublicAccessBlockConfiguration` from requestParameters (or a bare configuration).
    /// An omitted flag is false, as in the S3 API.
    pub fn from_request(params: &Value) -> Result<BlockConfig, ExposureError> {
        let cfg = match params.get("PublicAccessBlockConfiguration") {
            Some(c @ Value::Object(_)) => c,
            _ if FLAGS.iter().any(|f| params.get(*f).is_some()) => params,
            _ => return Err(ExposureError::NoBlockConfig),
        };
        let flag = |name: &'static str| -> Result<bool, ExposureError> {
            match cfg.get(name) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
                Some(_) => Err(ExposureError::BadFlag(name)),
            }
        };
        Ok(BlockConfig {
            block_public_acls: flag("BlockPublicAcls")?,
            ignore_public_acls: flag("IgnorePublicAcls")?,
            block_public_policy: flag("BlockPublicPolicy")?,
            restrict_public_buckets: flag("RestrictPublicBuckets")?,
        })
    }
}

/// The four flags of one level, each known or unknown (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlockFlags {
    pub block_public_acls: Option<bool>,
    pub ignore_public_acls: Option<bool>,
    pub block_public_policy: Option<bool>,
    pub restrict_public_buckets: Option<bool>,
}

impl BlockFlags {
    pub const UNKNOWN: BlockFlags = BlockFlags {
        block_public_acls: None,
        ignore_public_acls: None,
        block_public_policy: None,
        restrict_public_buckets: None,
    };

    pub fn known(c: BlockConfig) -> BlockFlags {
        BlockFlags {
            block_public_acls: Some(c.block_public_acls),
            ignore_public_acls: Some(c.ignore_public_acls),
            block_public_policy: Some(c.block_public_policy),
            restrict_public_buckets: Some(c.restrict_public_buckets),
        }
    }
}

/// S3 Object Ownership. `BucketOwnerEnforced` disables ACLs entirely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ownership {
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

impl Ownership {
    pub fn parse(s: &str) -> Option<Ownership> {
        match s.trim() {
            "BucketOwnerEnforced" => Some(Ownership::BucketOwnerEnforced),
            "BucketOwnerPreferred" => Some(Ownership::BucketOwnerPreferred),
            "ObjectWriter" => Some(Ownership::ObjectWriter),
            _ => None,
        }
    }

    /// `OwnershipControls.Rule.ObjectOwnership` (Rule as an object or a one-element array).
    pub fn from_request(params: &Value) -> Result<Ownership, ExposureError> {
        let rule = params.get("OwnershipControls").and_then(|c| c.get("Rule"));
        let rule = match rule {
            Some(Value::Array(a)) => a.first(),
            other => other,
        };
        rule.and_then(|r| r.get("ObjectOwnership"))
            .and_then(Value::as_str)
            .and_then(Ownership::parse)
            .ok_or(ExposureError::NoOwnership)
    }
}

pub struct AccessPointView<'a> {
    pub name: &'a str,
    /// None = unknown.
    pub policy: Option<&'a PolicyFindings>,
    pub block: BlockFlags,
    /// Whether its network origin is a VPC (None = unknown): AWS considers such an access point
    /// non-public "regardless of the contents of its access point policy".
    pub vpc_origin: Option<bool>,
}

/// What is known about one bucket, borrowed from the fold.
pub struct BucketView<'a> {
    pub acl: Option<&'a Acl>,
    pub policy: Option<&'a PolicyFindings>,
    pub ownership: Option<Ownership>,
    pub bucket_block: BlockFlags,
    pub account_block: BlockFlags,
    pub access_points: &'a [AccessPointView<'a>],
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exposure {
    pub public: bool,
    pub reasons: Vec<String>,
    pub assumed: bool,
}

/// One protection on a path: the label a neutralised finding names, its value, and the
/// assumption stated when it is unknown (assumed off).
struct Guard {
    label: &'static str,
    on: Option<bool>,
    assumption: String,
}

fn guard(label: &'static str, on: Option<bool>, assumption: impl Into<String>) -> Guard {
    Guard {
        label,
        on,
        assumption: assumption.into(),
    }
}

struct Path {
    findings: Vec<String>,
    grants: Option<bool>,
    unknown_grants: String,
    guards: Vec<Guard>,
    verb: &'static str,
}

#[derive(Default)]
struct Acc {
    public: bool,
    reasons: Vec<String>,
    assumptions: Vec<String>,
}

impl Acc {
    fn assume(&mut self, a: String) {
        if !self.assumptions.contains(&a) {
            self.assumptions.push(a);
        }
    }

    /// A path is public when its grants are public and no protection is on. Unknown inputs are
    /// named as assumptions only when no known input already decides the path.
    fn path(&mut self, p: Path) {
        let neutraliser = p
            .guards
            .iter()
            .find(|g| g.on == Some(true))
            .map(|g| g.label);
        match p.grants {
            Some(true) => match &neutraliser {
                Some(n) => self
                    .reasons
                    .extend(p.findings.iter().map(|f| format!("{f}:{}:{n}", p.verb))),
                None => {
                    self.public = true;
                    self.reasons.extend(p.findings);
                    for g in p.guards.iter().filter(|g| g.on.is_none()) {
                        self.assume(g.assumption.clone());
                    }
                }
            },
            Some(false) => {}
            None => {
                if neutraliser.is_none() {
                    self.assume(format!("assumed:{}", p.unknown_grants));
                }
            }
        }
    }

    fn done(self) -> Exposure {
        let assumed = !self.assumptions.is_empty();
        let mut reasons = self.reasons;
        reasons.extend(self.assumptions);
        Exposure {
            public: self.public,
            reasons,
            assumed,
        }
    }
}

fn acl_guards(v: &BucketView) -> Vec<Guard> {
    vec![
        guard(
            "BucketOwnerEnforced",
            v.ownership.map(|o| o == Ownership::BucketOwnerEnforced),
            "assumed:ownership-acls-enabled",
        ),
        guard(
            "IgnorePublicAcls@account",
            v.account_block.ignore_public_acls,
            "assumed:IgnorePublicAcls-off@account",
        ),
        guard(
            "IgnorePublicAcls@bucket",
            v.bucket_block.ignore_public_acls,
            "assumed:IgnorePublicAcls-off@bucket",
        ),
    ]
}

fn restrict_guards(v: &BucketView) -> Vec<Guard> {
    vec![
        guard(
            "RestrictPublicBuckets@account",
            v.account_block.restrict_public_buckets,
            "assumed:RestrictPublicBuckets-off@account",
        ),
        guard(
            "RestrictPublicBuckets@bucket",
            v.bucket_block.restrict_public_buckets,
            "assumed:RestrictPublicBuckets-off@bucket",
        ),
    ]
}

fn acl_path(acl: Option<&Acl>, v: &BucketView, unknown: &str) -> Path {
    Path {
        findings: acl.map(Acl::findings).unwrap_or_default(),
        grants: acl.map(Acl::is_public),
        unknown_grants: unknown.into(),
        guards: acl_guards(v),
        verb: "ignored-by",
    }
}

/// Effective exposure of a bucket: (public ACL ∧ ACLs enabled ∧ ¬IgnorePublicAcls) ∨
/// (public policy ∧ ¬RestrictPublicBuckets) ∨ (an Internet-origin access point's public policy
/// ∧ ¬Restrict…).
pub fn bucket_exposure(v: &BucketView) -> Exposure {
    let mut acc = Acc::default();
    acc.path(acl_path(v.acl, v, "acl-no-public-grants"));
    acc.path(Path {
        findings: v.policy.map(|p| p.reasons.clone()).unwrap_or_default(),
        grants: v.policy.map(PolicyFindings::is_public),
        unknown_grants: "policy-absent".into(),
        guards: restrict_guards(v),
        verb: "restricted-by",
    });
    for ap in v.access_points {
        let mut guards = restrict_guards(v);
        guards.push(guard(
            "RestrictPublicBuckets@access-point",
            ap.block.restrict_public_buckets,
            format!("assumed:RestrictPublicBuckets-off@access-point:{}", ap.name),
        ));
        guards.push(guard(
            "NetworkOrigin-VPC@access-point",
            ap.vpc_origin,
            format!("assumed:NetworkOrigin-Internet@access-point:{}", ap.name),
        ));
        acc.path(Path {
            findings: ap
                .policy
                .map(|p| {
                    p.reasons
                        .iter()
                        .map(|r| format!("access-point:{}:{r}", ap.name))
                        .collect()
                })
                .unwrap_or_default(),
            grants: ap.policy.map(PolicyFindings::is_public),
            unknown_grants: format!("access-point:{}:policy-absent", ap.name),
            guards,
            verb: "restricted-by",
        });
    }
    acc.done()
}

/// An object is exposed by its own public ACL under its bucket's ACL conditions.
pub fn object_exposure(object_acl: Option<&Acl>, v: &BucketView) -> Exposure {
    let mut acc = Acc::default();
    acc.path(acl_path(object_acl, v, "object-acl-no-public-grants"));
    acc.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn public_read() -> Acl {
        Acl::from_canned("public-read").unwrap()
    }

    fn open_policy() -> PolicyFindings {
        PolicyFindings {
            reasons: vec!["policy:S1:principal-*".into()],
        }
    }

    fn view<'a>(
        acl: Option<&'a Acl>,
        policy: Option<&'a PolicyFindings>,
        ownership: Option<Ownership>,
        bucket: BlockFlags,
        account: BlockFlags,
    ) -> BucketView<'a> {
        BucketView {
            acl,
            policy,
            ownership,
            bucket_block: bucket,
            account_block: account,
            access_points: &[],
        }
    }

    fn off() -> BlockFlags {
        BlockFlags::known(BlockConfig::ALL_OFF)
    }

    fn with(f: impl Fn(&mut BlockConfig)) -> BlockFlags {
        let mut c = BlockConfig::ALL_OFF;
        f(&mut c);
        BlockFlags::known(c)
    }

    #[test]
    fn block_config_from_cloudtrail() {
        let p = json!({"publicAccessBlock": "", "bucketName": "b", "PublicAccessBlockConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "RestrictPublicBuckets": true, "BlockPublicPolicy": "true", "BlockPublicAcls": false}});
        assert_eq!(
            BlockConfig::from_request(&p).unwrap(),
            BlockConfig {
                block_public_acls: false,
                ignore_public_acls: false,
                block_public_policy: true,
                restrict_public_buckets: true
            }
        );
        assert_eq!(
            BlockConfig::from_request(&json!({"bucketName": "b"})),
            Err(ExposureError::NoBlockConfig)
        );
        assert_eq!(
            BlockConfig::from_request(
                &json!({"PublicAccessBlockConfiguration": {"IgnorePublicAcls": 1}})
            ),
            Err(ExposureError::BadFlag("IgnorePublicAcls"))
        );
    }

    #[test]
    fn ownership_from_cloudtrail() {
        let p = json!({"OwnershipControls": {"xmlns": "x", "Rule": {"ObjectOwnership": "BucketOwnerEnforced"}}});
        assert_eq!(
            Ownership::from_request(&p).unwrap(),
            Ownership::BucketOwnerEnforced
        );
        let p = json!({"OwnershipControls": {"Rule": [{"ObjectOwnership": "ObjectWriter"}]}});
        assert_eq!(
            Ownership::from_request(&p).unwrap(),
            Ownership::ObjectWriter
        );
        assert!(Ownership::from_request(&json!({})).is_err());
    }

    // Effective exposure, ACL path: public ACL ∧ ACLs enabled ∧ ¬IgnorePublicAcls.
    #[test]
    fn acl_path_and_its_protections() {
        let acl = public_read();
        let e = bucket_exposure(&view(
            Some(&acl),
            Some(&PolicyFindings::default()),
            Some(Ownership::ObjectWriter),
            off(),
            off(),
        ));
        assert_eq!(
            e,
            Exposure {
                public: true,
                reasons: vec!["acl:AllUsers:READ".into()],
                assumed: false
            }
        );
        let e = bucket_exposure(&view(
            Some(&acl),
            Some(&PolicyFindings::default()),
            Some(Ownership::BucketOwnerEnforced),
            off(),
            off(),
        ));
        assert!(!e.public);
        assert_eq!(
            e.reasons,
            vec!["acl:AllUsers:READ:ignored-by:BucketOwnerEnforced"]
        );
        let e = bucket_exposure(&view(
            Some(&acl),
            Some(&PolicyFindings::default()),
            Some(Ownership::ObjectWriter),
            off(),
            with(|c| c.ignore_public_acls = true),
        ));
        assert_eq!(
            e.reasons,
            vec!["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@account"]
        );
        let e = bucket_exposure(&view(
            Some(&acl),
            Some(&PolicyFindings::default()),
            Some(Ownership::BucketOwnerPreferred),
            with(|c| c.ignore_public_acls = true),
            off(),
        ));
        assert_eq!(
            e.reasons,
            vec!["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket"]
        );
        // BlockPublicAcls and the policy flags do not neutralise an existing public ACL.
        let e = bucket_exposure(&view(
            Some(&acl),
            Some(&PolicyFindings::default()),
            Some(Ownership::ObjectWriter),
            with(|c| {
                c.block_public_acls = true;
                c.restrict_public_buckets = true;
                c.block_public_policy = true
            }),
            off(),
        ));
        assert!(e.public);
    }

    // Policy path: public policy ∧ ¬RestrictPublicBuckets; IgnorePublicAcls does not touch it.
    #[test]
    fn policy_path_and_its_protections() {
        let p = open_policy();
        let e = bucket_exposure(&view(
            Some(&Acl::PRIVATE),
            Some(&p),
            Some(Ownership::BucketOwnerEnforced),
            with(|c| c.ignore_public_acls = true),
            off(),
        ));
        assert_eq!(e.reasons, vec!["policy:S1:principal-*"]);
        assert!(e.public);
        let e = bucket_exposure(&view(
            Some(&Acl::PRIVATE),
            Some(&p),
            None,
            off(),
            with(|c| c.restrict_public_buckets = true),
        ));
        assert!(!e.public);
        assert_eq!(
            e.reasons,
            vec!["policy:S1:principal-*:restricted-by:RestrictPublicBuckets@account"]
        );
        let e = bucket_exposure(&view(
            Some(&Acl::PRIVATE),
            Some(&p),
            None,
            with(|c| c.restrict_public_buckets = true),
            off(),
        ));
        assert_eq!(
            e.reasons,
            vec!["policy:S1:principal-*:restricted-by:RestrictPublicBuckets@bucket"]
        );
    }

    #[test]
    fn assumptions_only_when_they_matter() {
        let acl = public_read();
        let e = bucket_exposure(&view(
            Some(&acl),
            Some(&PolicyFindings::default()),
            Some(Ownership::ObjectWriter),
            BlockFlags::UNKNOWN,
            BlockFlags::UNKNOWN,
        ));
        assert!(e.public && e.assumed);
        assert_eq!(
            e.reasons,
            vec![
                "acl:AllUsers:READ",
                "assumed:IgnorePublicAcls-off@account",
                "assumed:IgnorePublicAcls-off@bucket"
            ]
        );
        let e = bucket_exposure(&view(
            None,
            None,
            None,
            BlockFlags::UNKNOWN,
            BlockFlags::UNKNOWN,
        ));
        assert!(!e.public && e.assumed);
        assert_eq!(
            e.reasons,
            vec!["assumed:acl-no-public-grants", "assumed:policy-absent"]
        );
        // Known protections settle the unknown grants: nothing to assume.
        let e = bucket_exposure(&view(
            None,
            None,
            None,
            BlockFlags::known(BlockConfig::ALL_ON),
            BlockFlags::UNKNOWN,
        ));
        assert_eq!(e, Exposure::default());
        let e = bucket_exposure(&view(
            Some(&acl),
            Some(&PolicyFindings::default()),
            None,
            off(),
            off(),
        ));
        assert_eq!(
            e.reasons,
            vec!["acl:AllUsers:READ", "assumed:ownership-acls-enabled"]
        );
    }

    #[test]
    fn access_points() {
        let p = open_policy();
        let aps = [AccessPointView {
            name: "ap1",
            policy: Some(&p),
            block: off(),
            vpc_origin: Some(false),
        }];
        let v = BucketView {
            acl: Some(&Acl::PRIVATE),
            policy: Some(&PolicyFindings::default()),
            ownership: None,
            bucket_block: off(),
            account_block: off(),
            access_points: &aps,
        };
        assert_eq!(
            bucket_exposure(&v).reasons,
            vec!["access-point:ap1:policy:S1:principal-*"]
        );
        let aps = [AccessPointView {
            name: "ap1",
            policy: Some(&p),
            block: with(|c| c.restrict_public_buckets = true),
            vpc_origin: Some(false),
        }];
        let v = BucketView {
            access_points: &aps,
            ..v
        };
        let e = bucket_exposure(&v);
        assert!(!e.public);
        assert_eq!(e.reasons, vec!["access-point:ap1:policy:S1:principal-*:restricted-by:RestrictPublicBuckets@access-point"]);
        let aps = [AccessPointView {
            name: "ap2",
            policy: Some(&p),
            block: BlockFlags::UNKNOWN,
            vpc_origin: Some(false),
        }];
        let v = BucketView {
            access_points: &aps,
            ..v
        };
        assert_eq!(
            bucket_exposure(&v).reasons,
            vec![
                "access-point:ap2:policy:S1:principal-*",
                "assumed:RestrictPublicBuckets-off@access-point:ap2"
            ]
        );
    }

    #[test]
    fn objects_follow_their_bucket_acl_conditions() {
        let acl = public_read();
        let v = view(None, None, Some(Ownership::ObjectWriter), off(), off());
        assert!(object_exposure(Some(&acl), &v).public);
        let v = view(
            None,
            None,
            Some(Ownership::BucketOwnerEnforced),
            off(),
            off(),
        );
        assert_eq!(
            object_exposure(Some(&acl), &v).reasons,
            vec!["acl:AllUsers:READ:ignored-by:BucketOwnerEnforced"]
        );
        let v = view(None, None, Some(Ownership::ObjectWriter), off(), off());
        let e = object_exposure(None, &v);
        assert_eq!(e.reasons, vec!["assumed:object-acl-no-public-grants"]);
        assert!(!e.public);
    }

    fn flags() -> impl Strategy<Value = BlockFlags> {
        let f = prop::option::of(any::<bool>());
        (f.clone(), f.clone(), f.clone(), f).prop_map(|(a, b, c, d)| BlockFlags {
            block_public_acls: a,
            ignore_public_acls: b,
            block_public_policy: c,
            restrict_public_buckets: d,
        })
    }

    proptest! {
        /// Turning any protection on never makes a bucket public.
        #[test]
        fn protections_only_narrow(acl_public in prop::option::of(any::<bool>()), pol_public in prop::option::of(any::<bool>()), own in prop::option::of(0u8..3), bucket in flags(), account in flags(), which in 0usize..5) {
            let acl = acl_public.map(|p| if p { public_read() } else { Acl::PRIVATE });
            let pol = pol_public.map(|p| if p { open_policy() } else { PolicyFindings::default() });
            let ownership = own.map(|o| [Ownership::ObjectWriter, Ownership::BucketOwnerPreferred, Ownership::BucketOwnerEnforced][o as usize]);
            let before = bucket_exposure(&view(acl.as_ref(), pol.as_ref(), ownership, bucket, account));
            let (mut b2, mut a2, mut o2) = (bucket, account, ownership);
            match which {
                0 => b2.ignore_public_acls = Some(true),
                1 => a2.ignore_public_acls = Some(true),
                2 => b2.restrict_public_buckets = Some(true),
                3 => a2.restrict_public_buckets = Some(true),
                _ => o2 = Some(Ownership::BucketOwnerEnforced),
            }
            let after = bucket_exposure(&view(acl.as_ref(), pol.as_ref(), o2, b2, a2));
            prop_assert!(!after.public || before.public);
        }
    }
}
