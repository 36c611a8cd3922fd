//! Typed S3 changes: what a successful watched call sets, read from CloudTrail's
//! `requestParameters` (docs/DESIGN.md §3). Owns the mapping from event name to change; it does not
//! judge exposure (that is `exposure`) or hold state (that is `fold`).

use serde_json::Value;

use crate::core::acl::{Acl, AclError};
use crate::core::event_name::EventName;
use crate::core::exposure::{BlockConfig, ExposureError, Ownership};
use crate::core::policy::{self, PolicyFindings};

/// What one successful call changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// New bucket with the post-April-2023 defaults, overridden by the request's headers.
    CreateBucket {
        acl: Option<Acl>,
        ownership: Option<Ownership>,
    },
    DeleteBucket,
    BucketAcl(Acl),
    BucketPolicy(PolicyFindings),
    DeleteBucketPolicy,
    BucketBlock(BlockConfig),
    DeleteBucketBlock,
    AccountBlock(BlockConfig),
    DeleteAccountBlock,
    Ownership(Ownership),
    DeleteOwnership,
    /// An object's ACL (PutObjectAcl, or PutObject/CopyObject/CreateMultipartUpload with one).
    ObjectAcl(Acl),
    Tags(Vec<(String, String)>),
    DeleteTags,
    CreateAccessPoint {
        name: String,
        block: BlockConfig,
        /// Created with a `VpcConfiguration` (network origin VPC).
        vpc_origin: bool,
    },
    DeleteAccessPoint {
        name: String,
    },
    AccessPointPolicy {
        name: String,
        policy: PolicyFindings,
    },
    DeleteAccessPointPolicy {
        name: String,
    },
    Website(bool),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Acl(#[from] AclError),
    #[error(transparent)]
    Exposure(#[from] ExposureError),
    #[error("{0}")]
    Missing(&'static str),
}

/// The bucket and object a call is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// A string field, verbatim: object keys, bucket names, access point names and ids are byte
/// strings whose every character counts (`" secret.pdf"` is not `"secret.pdf"`; issue #27).
/// Only an empty value is no value. Header values are the callers' to trim (`Ownership::parse`,
/// `Acl::from_canned`): HTTP drops the whitespace around a field value.
fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match v.get(key)? {
        Value::String(s) => Some(s.as_str()),
        // Some captures carry single values as one-element arrays.
        Value::Array(a) if a.len() == 1 => a[0].as_str(),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn bucket_from_resources(resources: &Value) -> Option<String> {
    resources.as_array()?.iter().find_map(|r| {
        let arn = r.get("ARN").or_else(|| r.get("arn"))?.as_str()?;
        let rest = arn.strip_prefix("arn:")?;
        // arn:<partition>:s3:::<bucket>[/key]
        let mut parts = rest.splitn(5, ':');
        let (_partition, service, _region, _account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if service != "s3" || resource.is_empty() || resource.starts_with("accesspoint/") {
            return None;
        }
        Some(resource.split('/').next()?.to_owned())
    })
}

pub fn target(name: EventName, params: &Value, resources: &Value) -> Target {
    let bucket = str_field(params, "bucketName")
        .map(str::to_owned)
        .or_else(|| {
            access_point_request(params)
                .and_then(|r| str_field(r, "Bucket"))
                .map(str::to_owned)
        })
        .or_else(|| str_field(params, "bucket").map(str::to_owned))
        .or_else(|| {
            if name.is_account_level() {
                None
            } else {
                bucket_from_resources(resources)
            }
        });
    let key = if name == EventName::PutObjectAcl || name.is_object_write() {
        str_field(params, "key").map(str::to_owned)
    } else {
        None
    };
    Target { bucket, key }
}

/// Access-point calls name the access point, not always the bucket; the fold resolves it.
pub fn bucket_optional(name: EventName) -> bool {
    matches!(
        name,
        EventName::PutAccessPointPolicy
            | EventName::DeleteAccessPointPolicy
            | EventName::DeleteAccessPoint
    )
}

pub fn carries_acl(params: &Value) -> bool {
    use crate::core::acl::{CANNED_HEADER, GRANT_HEADERS};
    params.as_object().is_some_and(|o| {
        o.contains_key(CANNED_HEADER)
            || o.contains_key("AccessControlPolicy")
            || GRANT_HEADERS.iter().any(|(h, _)| o.contains_key(*h))
    })
}

fn access_point_request(params: &Value) -> Option<&Value> {
    params
        .get("CreateAccessPointRequest")
        .filter(|v| v.is_object())
}

fn access_point_name(params: &Value) -> Result<String, ChangeError> {
    str_field(params, "name")
        .or_else(|| str_field(params, "Name"))
        .map(str::to_owned)
        .ok_or(ChangeError::Missing(
            "no access point name in requestParameters",
        ))
}

fn tags(params: &Value) -> Vec<(String, String)> {
    let tag_set = params
        .get("Tagging")
        .and_then(|t| t.get("TagSet"))
        .or_else(|| params.get("TagSet"));
    let mut out = Vec::new();
    let mut push = |t: &Value| {
        if let (Some(k), Some(v)) = (t.get("Key").and_then(Value::as_str), t.get("Value")) {
            out.push((
                k.to_owned(),
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            ));
        }
    };
    let tags = match tag_set {
        Some(Value::Object(o)) => o.get("Tag"),
        Some(v @ Value::Array(_)) => Some(v),
        _ => None,
    };
    match tags {
        Some(Value::Array(items)) => items.iter().for_each(&mut push),
        Some(t @ Value::Object(_)) => push(t),
        _ => {}
    }
    out.sort();
    out
}

/// The change a successful call makes. `Ok(None)` for an object write that carries no ACL (not
/// an exposure change at all).
pub fn parse(name: EventName, params: &Value) -> Result<Option<Change>, ChangeError> {
    use EventName as E;
    let change = match name {
        E::CreateBucket => {
            let ownership = str_field(params, "x-amz-object-ownership").and_then(Ownership::parse);
            Change::CreateBucket {
                acl: Acl::from_request(params)?,
                ownership,
            }
        }
        E::DeleteBucket => Change::DeleteBucket,
        E::PutBucketAcl => Change::BucketAcl(
            Acl::from_request(params)?
                .ok_or(ChangeError::Missing("no ACL in requestParameters"))?,
        ),
        E::PutBucketPolicy => {
            let doc = params
                .get("bucketPolicy")
                .or_else(|| params.get("policy").filter(|p| !is_marker(p)))
                .ok_or(ChangeError::Missing("no bucketPolicy in requestParameters"))?;
            Change::BucketPolicy(policy::analyze(doc))
        }
        E::DeleteBucketPolicy => Change::DeleteBucketPolicy,
        E::PutBucketPublicAccessBlock => Change::BucketBlock(BlockConfig::from_request(params)?),
        E::DeleteBucketPublicAccessBlock => Change::DeleteBucketBlock,
        E::PutAccountPublicAccessBlock => Change::AccountBlock(BlockConfig::from_request(params)?),
        E::DeleteAccountPublicAccessBlock => Change::DeleteAccountBlock,
        E::PutBucketOwnershipControls => Change::Ownership(Ownership::from_request(params)?),
        E::DeleteBucketOwnershipControls => Change::DeleteOwnership,
        E::PutObjectAcl => Change::ObjectAcl(
            Acl::from_request(params)?
                .ok_or(ChangeError::Missing("no ACL in requestParameters"))?,
        ),
        E::PutObject | E::CopyObject | E::CreateMultipartUpload => match Acl::from_request(params)?
        {
            Some(acl) => Change::ObjectAcl(acl),
            None => return Ok(None),
        },
        E::PutBucketTagging => Change::Tags(tags(params)),
        E::DeleteBucketTagging => Change::DeleteTags,
        E::CreateAccessPoint => {
            let name = access_point_name(params)?;
            // Access points are created with every block setting on unless the request says otherwise.
            let block_src = access_point_request(params).unwrap_or(params);
            let block = if block_src.get("PublicAccessBlockConfiguration").is_some() {
                BlockConfig::from_request(block_src)?
            } else {
                BlockConfig::ALL_ON
            };
            // AWS: "An access point that has a VPC network origin is always considered
            // non-public"; the origin is VPC exactly when the request names a VPC.
            let vpc_origin = block_src
                .get("VpcConfiguration")
                .is_some_and(|v| !v.is_null() && !is_marker(v));
            Change::CreateAccessPoint {
                name,
                block,
                vpc_origin,
            }
        }
        E::DeleteAccessPoint => Change::DeleteAccessPoint {
            name: access_point_name(params)?,
        },
        E::PutAccessPointPolicy => {
            let name = access_point_name(params)?;
            let doc = params
                .get("PutAccessPointPolicyRequest")
                .and_then(|r| r.get("Policy").or_else(|| r.get("policy")))
                .or_else(|| params.get("Policy"))
                .or_else(|| params.get("policy").filter(|p| !is_marker(p)))
                .ok_or(ChangeError::Missing(
                    "no access point policy in requestParameters",
                ))?;
            Change::AccessPointPolicy {
                name,
                policy: policy::analyze_access_point(doc),
            }
        }
        E::DeleteAccessPointPolicy => Change::DeleteAccessPointPolicy {
            name: access_point_name(params)?,
        },
        E::PutBucketWebsite => Change::Website(true),
        E::DeleteBucketWebsite => Change::Website(false),
    };
    Ok(Some(change))
}

/// CloudTrail marks the subresource of a call with an empty value (`"policy":[""]`, `"acl":""`).
fn is_marker(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(|x| x.as_str() == Some("")),
        Value::Null => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bucket_from_params_or_resources() {
        let t = target(
            EventName::PutBucketAcl,
            &json!({"bucketName": "b1", "acl": [""]}),
            &Value::Null,
        );
        assert_eq!(t.bucket.as_deref(), Some("b1"));
        let res = json!([{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b2/some/key"}]);
        let t = target(EventName::PutBucketAcl, &Value::Null, &res);
        assert_eq!(t.bucket.as_deref(), Some("b2"));
        let t = target(
            EventName::PutObjectAcl,
            &json!({"bucketName": ["b3"], "key": "k"}),
            &Value::Null,
        );
        assert_eq!(
            (t.bucket.as_deref(), t.key.as_deref()),
            (Some("b3"), Some("k"))
        );
    }

    /// AWS, "Naming Amazon S3 objects": "The object key name consists of a sequence of Unicode
    /// characters encoded in UTF-8, with a maximum length of 1,024 bytes", and "You can use any
    /// UTF-8 character in an object key name." A leading space or a trailing no-break space is
    /// part of the key: `" secret.pdf"` and `"secret.pdf"` are two objects.
    #[test]
    fn keys_bucket_names_and_names_are_taken_verbatim() {
        for key in [" secret.pdf", "notes.txt\u{a0}", "\tdir/ x ", "secret.pdf"] {
            let t = target(
                EventName::PutObjectAcl,
                &json!({"bucketName": "b", "key": key, "x-amz-acl": "public-read"}),
                &Value::Null,
            );
            assert_eq!(t.key.as_deref(), Some(key));
        }
        // Whatever a bucket name may hold, the record's value is what the fold is keyed by.
        let t = target(
            EventName::PutBucketAcl,
            &json!({"bucketName": " b "}),
            &Value::Null,
        );
        assert_eq!(t.bucket.as_deref(), Some(" b "));
        let p = json!({"name": " ap", "bucket": "b", "PublicAccessBlockConfiguration": {}});
        assert_eq!(access_point_name(&p).unwrap(), " ap");
        // A header value is another matter: HTTP drops a field value's surrounding whitespace.
        let p = json!({"bucketName": "b", "x-amz-object-ownership": [" ObjectWriter "]});
        assert!(matches!(
            parse(EventName::CreateBucket, &p).unwrap(),
            Some(Change::CreateBucket {
                ownership: Some(_),
                ..
            })
        ));
    }

    /// The replay transcript names the exact key of an object made public (issue #27 item 1: a
    /// key `" secret.pdf"` was decided as `"secret.pdf"`, and the live check read the wrong object).
    #[test]
    fn the_transcript_names_the_exact_key() {
        use crate::core::pipeline::{Pipeline, Processed};
        let mut p = Pipeline::new(&crate::config::Config::default(), false).unwrap();
        let record = |name: &str, sec: u32, params: Value| {
            serde_json::to_vec(&json!({
                "eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "accountId": "111122223333",
                                 "arn": "arn:aws:iam::111122223333:user/alice"},
                "eventTime": format!("2024-05-01T12:00:{sec:02}Z"),
                "eventSource": "s3.amazonaws.com",
                "eventName": name,
                "awsRegion": "us-east-1",
                "requestParameters": params,
                "eventID": format!("ev-{name}-{sec}"),
                "recipientAccountId": "111122223333",
            }))
            .unwrap()
        };
        p.process(&record(
            "CreateBucket",
            0,
            json!({"bucketName": "b", "x-amz-object-ownership": "ObjectWriter"}),
        ));
        p.process(&record(
            "DeleteBucketPublicAccessBlock",
            1,
            json!({"bucketName": "b"}),
        ));
        for (sec, key) in [(2, " secret.pdf"), (3, "notes.txt\u{a0}")] {
            let params = json!({"bucketName": "b", "key": key, "x-amz-acl": "public-read"});
            let Processed::Applied { event, lines } =
                p.process(&record("PutObjectAcl", sec, params))
            else {
                panic!("not applied")
            };
            assert_eq!(event.key.as_deref(), Some(key));
            assert!(!lines.is_empty());
            for line in lines {
                assert_eq!(line.key.as_deref(), Some(key), "{line:?}");
            }
        }
    }

    #[test]
    fn object_write_without_acl_is_not_a_change() {
        let p = json!({"bucketName": "b", "key": "k"});
        assert!(parse(EventName::PutObject, &p).unwrap().is_none());
        let p = json!({"bucketName": "b", "key": "k", "x-amz-acl": ["public-read"]});
        assert!(
            matches!(parse(EventName::PutObject, &p).unwrap(), Some(Change::ObjectAcl(a)) if a.is_public())
        );
    }

    #[test]
    fn policy_marker_is_not_a_policy() {
        let p = json!({"bucketName": "b", "policy": [""]});
        assert!(parse(EventName::PutBucketPolicy, &p).is_err());
        let p = json!({"bucketName": "b", "policy": [""], "bucketPolicy": "{\"Statement\":[]}"});
        assert!(
            matches!(parse(EventName::PutBucketPolicy, &p).unwrap(), Some(Change::BucketPolicy(f)) if !f.is_public())
        );
    }

    #[test]
    fn tags_single_and_many() {
        let one = json!({"Tagging": {"TagSet": {"Tag": {"Key": "a", "Value": "1"}}}});
        assert_eq!(tags(&one), vec![("a".to_string(), "1".to_string())]);
        let many = json!({"Tagging": {"xmlns": "x", "TagSet": {"Tag": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}]}}});
        assert_eq!(tags(&many).len(), 2);
    }

    #[test]
    fn access_point_creation_defaults_to_blocked() {
        let p = json!({"name": "ap1", "CreateAccessPointRequest": {"Bucket": "b"}});
        assert_eq!(
            parse(EventName::CreateAccessPoint, &p).unwrap(),
            Some(Change::CreateAccessPoint {
                name: "ap1".into(),
                block: BlockConfig::ALL_ON,
                vpc_origin: false,
            })
        );
        // AWS: "An access point that has a VPC network origin is always considered non-public,
        // regardless of the contents of its access point policy."
        let vpc = json!({"name": "ap2", "CreateAccessPointRequest": {"Bucket": "b", "VpcConfiguration": {"VpcId": "vpc-1a2b3c4d"}}});
        assert!(matches!(
            parse(EventName::CreateAccessPoint, &vpc).unwrap(),
            Some(Change::CreateAccessPoint {
                vpc_origin: true,
                ..
            })
        ));
        assert_eq!(
            target(EventName::CreateAccessPoint, &p, &Value::Null)
                .bucket
                .as_deref(),
            Some("b")
        );
    }
}
