//! Resource-policy analysis by AWS's rules for "public" (S3 User Guide, "The meaning of
//! 'public'"): a policy is public unless every `Allow` statement is pinned to fixed principals or
//! carries a fixed restricting condition. Owns judging one policy document; knows nothing of
//! buckets or blocks.

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

/// The condition keys AWS accepts as restricting a statement to non-public, lower-cased.
const RESTRICTING_KEYS: [&str; 12] = [
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:userid",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Principal {
    Fixed,
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
            for v in map.values() {
                for s in value_strings(v)? {
                    worst = worst.max(classify_value(&s));
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
fn has_restricting_condition(cond: Option<&Value>) -> bool {
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
            if values.is_empty() || !values.iter().all(|v| is_fixed(v)) {
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

/// Judges a policy document given as an object or as a string holding JSON (CloudTrail records
/// `bucketPolicy` both ways, access-point policies as a string).
pub fn analyze(policy: &Value) -> PolicyFindings {
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
        let id = match st.get("Sid").and_then(Value::as_str).map(str::trim) {
            Some(sid) if !sid.is_empty() => sid.to_owned(),
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
            // Allow with NotPrincipal grants to everyone but the named principals.
            Some("notprincipal")
        } else {
            match st.get("Principal").map(classify_principal) {
                None => Some("principal-missing"),
                Some(None) => Some("unparseable"),
                Some(Some(Principal::Fixed)) => None,
                Some(Some(_)) if has_restricting_condition(st.get("Condition")) => None,
                Some(Some(Principal::Star)) => Some("principal-*"),
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
mod tests {
    use super::*;
    use serde_json::json;

    fn stmt(principal: Value, condition: Value) -> Value {
        let mut s = json!({"Sid": "S1", "Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"});
        if !condition.is_null() {
            s["Condition"] = condition;
        }
        json!({"Version": "2012-10-17", "Statement": [s]})
    }

    fn public(doc: &Value) -> bool {
        analyze(doc).is_public()
    }

    // "The meaning of public": Principal * without a restricting condition is public.
    #[test]
    fn star_principals_are_public() {
        assert_eq!(
            analyze(&stmt(json!("*"), Value::Null)).reasons,
            vec!["policy:S1:principal-*"]
        );
        assert_eq!(
            analyze(&stmt(json!({"AWS": "*"}), Value::Null)).reasons,
            vec!["policy:S1:principal-*"]
        );
        assert_eq!(
            analyze(&stmt(
                json!({"AWS": ["arn:aws:iam::111122223333:root", "*"]}),
                Value::Null
            ))
            .reasons,
            vec!["policy:S1:principal-*"]
        );
    }

    #[test]
    fn fixed_principals_are_not_public() {
        assert!(!public(&stmt(
            json!({"AWS": "arn:aws:iam::111122223333:root"}),
            Value::Null
        )));
        assert!(!public(&stmt(
            json!({"AWS": ["111122223333", "arn:aws:iam::444455556666:role/r"]}),
            Value::Null
        )));
        assert!(!public(&stmt(
            json!({"Service": "cloudtrail.amazonaws.com"}),
            Value::Null
        )));
        assert!(!public(&stmt(
            json!({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}),
            Value::Null
        )));
        assert!(!public(&stmt(
            json!({"Federated": "cognito-identity.amazonaws.com"}),
            Value::Null
        )));
    }

    #[test]
    fn wildcards_and_variables_are_not_fixed() {
        assert_eq!(
            analyze(&stmt(json!({"AWS": "arn:aws:iam::*:root"}), Value::Null)).reasons,
            vec!["policy:S1:principal-wildcard"]
        );
        assert_eq!(
            analyze(&stmt(
                json!({"AWS": "arn:aws:iam::11112222333?:root"}),
                Value::Null
            ))
            .reasons,
            vec!["policy:S1:principal-wildcard"]
        );
        assert_eq!(
            analyze(&stmt(
                json!({"AWS": "arn:aws:iam::${aws:PrincipalAccount}:root"}),
                Value::Null
            ))
            .reasons,
            vec!["policy:S1:principal-variable"]
        );
    }

    #[test]
    fn each_restricting_key_with_a_fixed_value_makes_star_non_public() {
        let cases = [
            ("IpAddress", "aws:SourceIp", json!("203.0.113.0/24")),
            (
                "ArnEquals",
                "aws:SourceArn",
                json!("arn:aws:cloudtrail:us-east-1:111122223333:trail/t"),
            ),
            ("StringEquals", "aws:SourceVpc", json!("vpc-1a2b3c4d")),
            (
                "StringEquals",
                "aws:SourceVpce",
                json!(["vpce-1a2b3c4d", "vpce-5e6f7a8b"]),
            ),
            ("StringEquals", "aws:SourceOwner", json!("111122223333")),
            ("StringEquals", "aws:SourceAccount", json!(111122223333u64)),
            (
                "StringEquals",
                "aws:PrincipalOrgID",
                json!("o-exampleorgid"),
            ),
            (
                "StringEquals",
                "aws:PrincipalAccount",
                json!("111122223333"),
            ),
            ("StringEquals", "aws:userid", json!("AIDAEXAMPLEUSERID")),
            (
                "StringEquals",
                "s3:x-amz-server-side-encryption-aws-kms-key-id",
                json!("arn:aws:kms:us-east-1:111122223333:key/k"),
            ),
            (
                "ArnLike",
                "s3:DataAccessPointArn",
                json!("arn:aws:s3:us-east-1:111122223333:accesspoint/ap"),
            ),
            (
                "StringEquals",
                "s3:DataAccessPointAccount",
                json!("111122223333"),
            ),
        ];
        for (op, key, value) in cases {
            let cond = json!({ op: { key: value } });
            assert!(!public(&stmt(json!("*"), cond.clone())), "{cond}");
            // The same condition with a wildcard value does not restrict.
            let wild = json!({ op: { key: "*" } });
            assert!(public(&stmt(json!("*"), wild.clone())), "{wild}");
        }
    }

    #[test]
    fn source_ip_breadth_rule() {
        let ip = |c: Value| stmt(json!("*"), json!({"IpAddress": {"aws:SourceIp": c}}));
        assert!(!public(&ip(json!("10.0.0.0/8"))));
        assert!(!public(&ip(json!("54.240.143.0/8"))));
        assert!(public(&ip(json!("54.0.0.0/7"))), "/7 is broader than /8");
        assert!(public(&ip(json!("0.0.0.0/0"))));
        assert!(
            !public(&ip(json!("172.16.0.0/12"))),
            "RFC 1918 ranges are allowed"
        );
        assert!(!public(&ip(json!("192.168.0.0/16"))));
        assert!(
            !public(&ip(json!("198.51.100.7"))),
            "a bare address is a /32"
        );
        assert!(!public(&ip(json!("2001:db8::/32"))));
        assert!(
            public(&ip(json!("2001:db8::/31"))),
            "/31 is broader than /32 for IPv6"
        );
        assert!(
            public(&ip(json!(["203.0.113.0/24", "0.0.0.0/1"]))),
            "every range must be narrow"
        );
        assert!(public(&ip(json!("not-an-ip"))));
    }

    #[test]
    fn negated_and_non_identifying_operators_do_not_restrict() {
        for cond in [
            json!({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
            json!({"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
            json!({"StringNotLike": {"aws:PrincipalOrgID": "o-exampleorgid"}}),
            json!({"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:t"}}),
            json!({"Bool": {"aws:SecureTransport": "true"}}),
            json!({"StringEquals": {"s3:prefix": "home/"}}),
            json!({"Null": {"aws:SourceVpce": "false"}}),
            json!({"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
            json!({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-exampleorgid"}}),
        ] {
            assert!(public(&stmt(json!("*"), cond.clone())), "{cond}");
        }
        assert!(!public(&stmt(
            json!("*"),
            json!({"ForAnyValue:StringEquals": {"aws:PrincipalOrgID": ["o-a", "o-b"]}})
        )));
    }

    #[test]
    fn user_id_role_wildcard_is_not_fixed() {
        assert!(public(&stmt(
            json!("*"),
            json!({"StringLike": {"aws:userid": "AROAEXAMPLEROLEID:*"}})
        )));
        assert!(!public(&stmt(
            json!("*"),
            json!({"StringLike": {"aws:userid": "AROAEXAMPLEROLEID:alice"}})
        )));
    }

    #[test]
    fn conditions_are_anded() {
        let cond = json!({"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpc": "vpc-1a2b3c4d"}});
        assert!(!public(&stmt(json!("*"), cond)));
    }

    #[test]
    fn notprincipal_deny_and_mixed_statements() {
        let doc = json!({"Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"},
            {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "s3:*", "Resource": "*"},
            {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/bob"}, "Action": "s3:GetObject", "Resource": "*"},
            {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"], "Resource": ["*"]}
        ]});
        assert_eq!(
            analyze(&doc).reasons,
            vec!["policy:#3:notprincipal", "policy:Open:principal-*"]
        );
        let only_deny = json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}});
        assert!(!public(&only_deny), "a Deny grants nothing");
    }

    #[test]
    fn policy_as_string_and_unparseable() {
        let s = Value::String(r#"{"Version":"2012-10-17","Statement":[{"Sid":"S1","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#.into());
        assert_eq!(analyze(&s).reasons, vec!["policy:S1:principal-*"]);
        assert_eq!(
            analyze(&Value::String("{not json".into())).reasons,
            vec!["policy:unparseable"]
        );
        assert_eq!(
            analyze(&json!({"Version": "2012-10-17"})).reasons,
            vec!["policy:unparseable"]
        );
        assert_eq!(analyze(&json!(42)).reasons, vec!["policy:unparseable"]);
        assert!(!analyze(&json!({"Statement": []})).is_public());
        assert_eq!(
            analyze(&json!({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]})).reasons,
            vec!["policy:#1:principal-missing"]
        );
    }
}
