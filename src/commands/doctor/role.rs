//! The IAM checks, pure: do a role's policy documents (as `aws::iam_read` read them) allow every
//! action the code calls (`aws::permissions`), action by action with IAM's wildcards, and does an
//! explicit Deny take one away. Resources and conditions are not evaluated: "granted" here means
//! granted by name, which is what a trimmed role loses. Makes no call.

use serde_json::Value;

use crate::aws::error::AwsError;
use crate::aws::iam_read::PolicyDoc;

use super::check::{unreadable, Item, Status};

/// IAM's action match: case-insensitive, `*` any run of characters, `?` one character. AWS (IAM
/// JSON policy elements: Action): "You can use wildcards (* or ?) as part of the action name",
/// and action names are case-insensitive ("s3:listallmybuckets" equals "s3:ListAllMyBuckets").
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    }
}

/// Whether a statement names `action` (through `Action`, or by not naming it in `NotAction`).
fn names(statement: &Value, action: &str) -> bool {
    if let Some(a) = statement.get("Action") {
        strings(a).iter().any(|p| action_matches(p, action))
    } else if let Some(n) = statement.get("NotAction") {
        !strings(n).iter().any(|p| action_matches(p, action))
    } else {
        false
    }
}

/// What the policies say about one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Allowed,
    /// No Allow statement names it: implicitly denied.
    Missing,
    /// A Deny statement names it (whatever its conditions): source of the Deny.
    Denied(String),
}

/// Whether `docs` allow `action` by name.
pub fn grant(docs: &[(String, Value)], action: &str) -> Grant {
    let mut allowed = false;
    for (source, doc) in docs {
        for s in statements(doc) {
            if !names(s, action) {
                continue;
            }
            match s["Effect"].as_str() {
                Some("Deny") => return Grant::Denied(source.clone()),
                Some("Allow") => allowed = true,
                _ => {}
            }
        }
    }
    if allowed {
        Grant::Allowed
    } else {
        Grant::Missing
    }
}

/// The items for role `role` of one account: whether its policies allow each of `needed`.
pub fn judge(
    account: &str,
    role: &str,
    read: &Result<Option<Vec<PolicyDoc>>, AwsError>,
    needed: &[&str],
) -> Vec<Item> {
    let check = "role.permissions";
    let docs = match read {
        Err(e) => {
            return vec![unreadable(
                account,
                check,
                e,
                &format!("iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicy and iam:GetPolicyVersion on role {role}"),
            )]
        }
        Ok(None) => {
            return vec![Item::new(account, check, Status::Fail, format!("no role {role}"))
                .fix("deploy the stack that creates it (deploy/bucketwarden.yaml WorkerRole, deploy/member-account.yaml RemediatorRole)")]
        }
        Ok(Some(d)) => d,
    };
    let mut parsed = Vec::new();
    let mut unreadable_docs = Vec::new();
    for d in docs {
        match serde_json::from_str::<Value>(&d.document) {
            Ok(v) => parsed.push((d.source.clone(), v)),
            Err(e) => unreadable_docs.push(format!("{}: {e}", d.source)),
        }
    }
    let mut missing = Vec::new();
    let mut denied = Vec::new();
    for a in needed {
        match grant(&parsed, a) {
            Grant::Allowed => {}
            Grant::Missing => missing.push(*a),
            Grant::Denied(src) => denied.push(format!("{a} (denied by {src})")),
        }
    }
    let mut items = Vec::new();
    if missing.is_empty() && denied.is_empty() {
        items.push(Item::ok(
            account,
            check,
            format!(
                "{role} allows all {} actions the code calls here",
                needed.len()
            ),
        ));
    } else {
        let mut what = Vec::new();
        if !missing.is_empty() {
            what.push(format!("does not allow {}", missing.join(", ")));
        }
        if !denied.is_empty() {
            what.push(format!("denies {}", denied.join(", ")));
        }
        items.push(
            Item::new(account, check, Status::Fail, format!("{role} {}", what.join("; ")))
                .fix("restore the role's policy from the deploy template (src/aws/permissions.rs lists every action and why)"),
        );
    }
    if !unreadable_docs.is_empty() {
        items.push(Item::new(
            account,
            "role.policies",
            Status::Warn,
            format!(
                "policy documents that are not JSON were skipped: {}",
                unreadable_docs.join("; ")
            ),
        ));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iam_wildcards_and_case_are_honoured() {
        assert!(action_matches("s3:*", "s3:PutObjectAcl"));
        assert!(action_matches("s3:Put*Acl", "s3:PutObjectAcl"));
        assert!(action_matches("s3:putobjectacl", "s3:PutObjectAcl"));
        assert!(action_matches("s3:GetBucket?cl", "s3:GetBucketAcl"));
        assert!(action_matches("*", "sns:Publish"));
        assert!(!action_matches("s3:Get*", "s3:PutObjectAcl"));
        assert!(!action_matches("s3:PutObject", "s3:PutObjectAcl"));
        assert!(!action_matches("kinesis:*", "s3:GetBucketAcl"));
    }

    #[test]
    fn not_action_allows_the_rest_and_a_deny_wins() {
        let docs = vec![(
            "inline a".to_owned(),
            json!({"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}),
        )];
        assert_eq!(grant(&docs, "s3:GetBucketAcl"), Grant::Allowed);
        assert_eq!(grant(&docs, "iam:GetRole"), Grant::Missing);
        let mut with_deny = docs.clone();
        with_deny.push((
            "inline d".into(),
            json!({"Statement": [{"Effect": "Deny", "Action": ["s3:Get*"], "Resource": "*"}]}),
        ));
        assert_eq!(
            grant(&with_deny, "s3:GetBucketAcl"),
            Grant::Denied("inline d".into())
        );
        assert_eq!(grant(&with_deny, "s3:PutBucketTagging"), Grant::Allowed);
    }

    #[test]
    fn a_missing_role_fails_and_an_unreadable_one_is_unknown() {
        assert_eq!(
            judge("1", "r", &Ok(None), &["s3:GetBucketAcl"])[0].status,
            Status::Fail
        );
        let denied = AwsError::other("iam", "ListRolePolicies", "AccessDenied");
        let items = judge("1", "r", &Err(denied), &["s3:GetBucketAcl"]);
        assert_eq!(items[0].status, Status::Unknown);
    }
}
