//! Bare documents: a bucket policy, an ACL (`get-bucket-acl`'s `Grants`, or an
//! `AccessControlPolicy`) or a PublicAccessBlock configuration, each judged as set on a bucket
//! whose other settings are unknown (the fold names what it assumed). It reads; it does not judge.

use serde_json::Value;

use crate::core::acl::{Acl, Permission, PublicGroup};
use crate::core::exposure::BlockConfig;
use crate::core::iac::resource::{Bucket, Declared, Item, Origin, Problem, Setting};
use crate::core::iac::unknown::Val;

/// What kind of bare document this is, told by its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Policy,
    Acl,
    Block,
}

pub fn kind(v: &Value) -> Option<Kind> {
    let o = v.as_object()?;
    if o.contains_key("Statement") {
        Some(Kind::Policy)
    } else if o.contains_key("Grants")
        || o.contains_key("AccessControlPolicy")
        || o.contains_key("AccessControlList")
    {
        Some(Kind::Acl)
    } else if BlockConfig::from_request(v).is_ok() {
        Some(Kind::Block)
    } else {
        None
    }
}

/// An ACL from its grants, as `(grantee URI, permission)`; only the public groups matter.
pub fn acl_from_grants<'a>(grants: impl IntoIterator<Item = (&'a str, &'a str)>) -> Acl {
    let mut acl = Acl::PRIVATE;
    for (uri, permission) in grants {
        if let (Some(g), Some(p)) = (PublicGroup::from_uri(uri), Permission::parse(permission)) {
            acl.grant(g, p);
        }
    }
    acl
}

fn grants(v: &Value) -> Vec<(&str, &str)> {
    let list = v
        .get("Grants")
        .or_else(|| v.get("AccessControlPolicy").and_then(|p| p.get("Grants")))
        .or_else(|| {
            v.get("AccessControlPolicy")
                .or(Some(v))
                .and_then(|p| p.get("AccessControlList"))
                .and_then(|l| l.get("Grant"))
        });
    let items: Vec<&Value> = match list {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(g @ Value::Object(_)) => vec![g],
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|g| {
            let grantee = g.get("Grantee")?;
            Some((
                grantee
                    .get("URI")
                    .or_else(|| grantee.get("uri"))
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                g.get("Permission").and_then(Value::as_str).unwrap_or(""),
            ))
        })
        .collect()
}

/// Reads a bare document; `name` (the file) stands for the bucket it would be set on.
pub fn parse(v: &Value, kind: Kind, name: &str) -> Declared {
    let origin = Origin {
        address: name.to_owned(),
        line: Some(1),
    };
    let setting = match kind {
        Kind::Policy => Setting::Policy(Val::Known(v.clone())),
        Kind::Acl => Setting::Acl(Val::Known(acl_from_grants(grants(v)))),
        Kind::Block => match BlockConfig::from_request(v) {
            Ok(c) => Setting::Block(Val::Known(c)),
            Err(e) => {
                return Declared {
                    problems: vec![Problem {
                        origin,
                        message: e.to_string(),
                    }],
                    ..Declared::default()
                }
            }
        },
    };
    Declared {
        buckets: vec![Bucket {
            key: name.to_owned(),
            name: None,
            created: false,
            tags: Vec::new(),
            origin: origin.clone(),
        }],
        items: vec![Item {
            bucket: Some(name.to_owned()),
            setting,
            origin,
        }],
        problems: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_by_keys() {
        assert_eq!(
            kind(&json!({"Version": "2012-10-17", "Statement": []})),
            Some(Kind::Policy)
        );
        assert_eq!(kind(&json!({"Owner": {}, "Grants": []})), Some(Kind::Acl));
        assert_eq!(
            kind(&json!({"PublicAccessBlockConfiguration": {"BlockPublicAcls": true}})),
            Some(Kind::Block)
        );
        assert_eq!(kind(&json!({"foo": 1})), None);
    }

    #[test]
    fn acl_grants_to_public_groups_only() {
        let doc = json!({"Grants": [
            {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}, "Permission": "READ"},
            {"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "FULL_CONTROL"}
        ]});
        assert!(acl_from_grants(grants(&doc)).is_public());
        let doc = json!({"Grants": [{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}, "Permission": "WRITE"}]});
        assert!(!acl_from_grants(grants(&doc)).is_public());
    }
}
