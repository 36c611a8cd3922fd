//! Resource-policy analysis by AWS's rules for "public" (S3 User Guide, "The meaning of
//! 'public'"): a policy is public unless every `Allow` statement is pinned to fixed principals or
//! carries a fixed restricting condition. Owns judging one policy document (a bucket's or an
//! access point's: the two differ on `s3:DataAccessPointArn`); knows nothing of buckets or blocks.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The public statements of a policy, as reasons (`policy:<Sid or #n>:<cause>`). Empty = not public.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyFindings {
    pub reasons: Vec<String>,
}

impl PolicyFindings {
    pub fn is_public(&self) -> bool {
        !self.reasons.is_empty()
    }

    fn unparseable() -> PolicyFindings {
        // docs/DESIGN.md §4: a policy is assumed public until shown otherwise.
        PolicyFindings {
            reasons: vec!["policy:unparseable".into()],
        }
    }
}

/// Whose policy is judged: AWS applies the same rules to both "except" that a wildcard
/// access-point name in `s3:DataAccessPointArn` keeps only a bucket policy non-public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Bucket,
    AccessPoint,
}

/// The condition keys that restrict a statement to non-public with a fixed value, lower-cased:
/// those AWS lists (`aws:PrincipalOrgID` is its example of "an AWS principal"), then the keys
/// docs/REASONS.md decides on where the text is silent (each pins the caller to one account or
/// organization, as the listed `aws:PrincipalOrgID` and `aws:SourceAccount` do).
const RESTRICTING_KEYS: [&str; 15] = [
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalorgid",
    "aws:userid",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
    // Not in AWS's list: decisions (docs/REASONS.md).
    "aws:principalaccount",
    "aws:principalorgpaths",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
];

/// The principal types AWS accepts as fixed when their value is: an AWS account, user or role
/// (`AWS`; `CanonicalUser` names an account) and service principals. `Federated` is not among
/// them: AWS's first example of a public policy is `{"Federated": "graph.facebook.com"}`.
const FIXED_PRINCIPAL_TYPES: [&str; 3] = ["AWS", "CanonicalUser", "Service"];

/// Positive operators that can pin a value. Negated operators (`StringNotEquals`, `NotIpAddress`,
/// …) match everything except the value and never restrict; `Null`, `Bool`, numeric and date
/// operators do not identify a caller.
const RESTRICTING_OPERATORS: [&str; 6] = [
    "stringequals",
    "stringequalsignorecase",
    "stringlike",
    "arnequals",
    "arnlike",
    "ipaddress",
];

/// How broad a principal is, narrowest first; every kind but `Fixed` is public unless a
/// restricting condition pins the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Principal {
    Fixed,
    /// A web or SAML identity provider: anyone it signs in.
    Federated,
    /// A principal type S3 does not define (S3 rejects such a policy; only odd captures have it).
    Unrecognised,
    Variable,
    Wildcard,
    Star,
}

fn classify_value(s: &str) -> Principal {
    let s = s.trim();
    if s == "*" {
        Principal::Star
    } else if s.contains("${") {
        Principal::Variable
    } else if s.contains('*') || s.contains('?') {
        Principal::Wildcard
    } else {
        Principal::Fixed
    }
}

fn value_strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Number(n) => Some(vec![n.to_string()]),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The broadest kind of principal a statement names (`*` beats a wildcard beats a variable).
fn classify_principal(p: &Value) -> Option<Principal> {
    match p {
        Value::String(s) => Some(classify_value(s)),
        Value::Object(map) => {
            let mut worst = Principal::Fixed;
            for (kind, v) in map {
                let fixed = if kind == "Federated" {
                    Principal::Federated
                } else if FIXED_PRINCIPAL_TYPES.contains(&kind.as_str()) {
                    Principal::Fixed
                } else {
                    Principal::Unrecognised
                };
                for s in value_strings(v)? {
                    worst = worst.max(classify_value(&s).max(fixed));
                }
            }
            Some(worst)
        }
        Value::Array(_) => value_strings(p).map(|vs| {
            vs.iter()
                .map(|s| classify_value(s))
                .max()
                .unwrap_or(Principal::Fixed)
        }),
        _ => None,
    }
}

fn is_fixed(s: &str) -> bool {
    !(s.contains('*') || s.contains('?') || s.contains("${"))
}

/// AWS: in a bucket policy `s3:DataAccessPointArn` "can contain a wildcard for the access point
/// name without rendering the policy public, as long as the account id is fixed". Only the name
/// may hold the wildcard: partition, service, Region and account must be fixed, the account
/// present (the text allows the name and nothing else; a wildcard Region is not covered).
fn access_point_arn_with_fixed_account(s: &str) -> bool {
    let parts: Vec<&str> = s.trim().splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let Some(name) = resource.strip_prefix("accesspoint/") else {
        return false;
    };
    arn == "arn"
        && [partition, service, region, account]
            .iter()
            .all(|p| is_fixed(p))
        && service == "s3"
        && !account.is_empty()
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && !name.contains("${")
}

const PRIVATE_V4: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// aws:SourceIp restricts only when no range is broader than /8 (IPv4) or /32 (IPv6); RFC 1918
/// ranges are fine whatever their size.
fn narrow_enough(cidr: &str) -> bool {
    let net: IpNet = match cidr.trim().parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => match cidr.trim().parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return false,
        },
    };
    match net {
        IpNet::V4(v4) => {
            v4.prefix_len() >= 8
                || PRIVATE_V4.iter().any(|p| {
                    p.parse::<ipnet::Ipv4Net>()
                        .is_ok_and(|private| private.contains(&v4))
                })
        }
        IpNet::V6(v6) => v6.prefix_len() >= 32,
    }
}

/// One fixed restricting condition is enough: conditions are ANDed.
fn has_restricting_condition(cond: Option<&Value>, kind: PolicyKind) -> bool {
    let Some(Value::Object(ops)) = cond else {
        return false;
    };
    for (op, block) in ops {
        let mut op = op.to_ascii_lowercase();
        if let Some(rest) = op.strip_prefix("foranyvalue:") {
            op = rest.to_owned();
        } else if op.starts_with("forallvalues:") {
            // ForAllValues is true for a request that carries no value at all.
            continue;
        }
        // …IfExists is true when the key is absent, as it is for an anonymous caller.
        if op.ends_with("ifexists") || !RESTRICTING_OPERATORS.contains(&op.as_str()) {
            continue;
        }
        let Value::Object(keys) = block else { continue };
        for (key, value) in keys {
            let key = key.to_ascii_lowercase();
            if !RESTRICTING_KEYS.contains(&key.as_str()) {
                continue;
            }
            let Some(values) = value_strings(value) else {
                continue;
            };
            let fixed = |v: &String| {
                is_fixed(v)
                    || (kind == PolicyKind::Bucket
                        && key == "s3:dataaccesspointarn"
                        && access_point_arn_with_fixed_account(v))
            };
            if values.is_empty() || !values.iter().all(fixed) {
                continue;
            }
            let ok = if key == "aws:sourceip" {
                op == "ipaddress" && values.iter().all(|v| narrow_enough(v))
            } else {
                op != "ipaddress"
            };
            if ok {
                return true;
            }
        }
    }
    false
}

/// Judges a bucket policy given as an object or as a string holding JSON (CloudTrail records
/// `bucketPolicy` both ways).
pub fn analyze(policy: &Value) -> PolicyFindings {
    analyze_as(policy, PolicyKind::Bucket)
}

/// Judges an access point's policy (CloudTrail records it as a string holding JSON).
pub fn analyze_access_point(policy: &Value) -> PolicyFindings {
    analyze_as(policy, PolicyKind::AccessPoint)
}

pub fn analyze_as(policy: &Value, kind: PolicyKind) -> PolicyFindings {
    let parsed;
    let doc = match policy {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(_) => return PolicyFindings::unparseable(),
        },
        v @ Value::Object(_) => v,
        _ => return PolicyFindings::unparseable(),
    };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return PolicyFindings::unparseable(),
    };
    let mut reasons = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        let Value::Object(_) = st else {
            return PolicyFindings::unparseable();
        };
        // A reason names a statement by its Sid, unless the Sid is longer than a quoted value may
        // be (core::quote): a record can carry a 240 KB one, and reasons go into incidents and
        // alerts. Such a statement is named by its position instead.
        let id = match st.get("Sid").and_then(Value::as_str).map(str::trim) {
            Some(sid)
                if !sid.is_empty()
                    && sid
                        .chars()
                        .nth(crate::core::quote::MAX_QUOTED_CHARS)
                        .is_none() =>
            {
                sid.to_owned()
            }
            _ => format!("#{}", i + 1),
        };
        let effect = st.get("Effect").and_then(Value::as_str).unwrap_or_default();
        if effect.eq_ignore_ascii_case("deny") {
            // A Deny grants nothing.
            continue;
        }
        if !effect.eq_ignore_ascii_case("allow") {
            reasons.push(format!("policy:{id}:unparseable"));
            continue;
        }
        let cause = if st.get("NotPrincipal").is_some() {
            // Allow with NotPrincipal grants to everyone but the named principals: as broad as
            // "*", so the same fixed restricting conditions pin it.
            (!has_restricting_condition(st.get("Condition"), kind)).then_some("notprincipal")
        } else {
            match st.get("Principal").map(classify_principal) {
                None => Some("principal-missing"),
                Some(None) => Some("unparseable"),
                Some(Some(Principal::Fixed)) => None,
                Some(Some(_)) if has_restricting_condition(st.get("Condition"), kind) => None,
                Some(Some(Principal::Star)) => Some("principal-*"),
                Some(Some(Principal::Federated)) => Some("principal-federated"),
                Some(Some(Principal::Unrecognised)) => Some("principal-unrecognised"),
                Some(Some(Principal::Wildcard)) => Some("principal-wildcard"),
                Some(Some(Principal::Variable)) => Some("principal-variable"),
            }
        };
        if let Some(cause) = cause {
            reasons.push(format!("policy:{id}:{cause}"));
        }
    }
    PolicyFindings { reasons }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
