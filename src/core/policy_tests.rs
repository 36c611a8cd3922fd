//! Tests of policy analysis, most quoting the AWS sentence they check (S3 User Guide, "The
//! meaning of 'public'"), and the decisions docs/REASONS.md records where the text is silent.
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

// ---- AWS's text, sentence by sentence (S3 User Guide, "Blocking public access to your
// Amazon S3 storage", section "The meaning of 'public'"). ----

fn bare(statement: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

#[test]
fn aws_federated_principal_example_is_public() {
    // AWS: "Under these rules, the following example policies are considered public." — the
    // first: { "Principal": { "Federated": "graph.facebook.com" }, "Resource": "*",
    // "Action": "s3:PutObject", "Effect": "Allow" }
    let doc = bare(
        json!({"Principal": {"Federated": "graph.facebook.com"}, "Resource": "*", "Action": "s3:PutObject", "Effect": "Allow"}),
    );
    assert_eq!(analyze(&doc).reasons, vec!["policy:#1:principal-federated"]);
    // The same holds for every identity provider: "cognito-identity.amazonaws.com" signs in
    // anyone an identity pool admits, unauthenticated identities included.
    assert_eq!(
        analyze(&stmt(
            json!({"Federated": "cognito-identity.amazonaws.com"}),
            Value::Null
        ))
        .reasons,
        vec!["policy:S1:principal-federated"]
    );
    assert_eq!(
        analyze(&stmt(
            json!({"Federated": "arn:aws:iam::111122223333:saml-provider/corp"}),
            Value::Null
        ))
        .reasons,
        vec!["policy:S1:principal-federated"]
    );
    // A fixed AWS principal next to it does not make the statement fixed.
    assert!(public(&stmt(
        json!({"AWS": "111122223333", "Federated": "graph.facebook.com"}),
        Value::Null
    )));
}

#[test]
fn aws_fixed_principals_are_accounts_users_roles_and_services() {
    // AWS: "To be considered non-public, a bucket policy must grant access only to fixed
    // values (values that don't contain a wildcard or an AWS Identity and Access Management
    // Policy Variable) for one or more of the following: An AWS principal, user, role, or
    // service principal (e.g. aws:PrincipalOrgID)"
    for p in [
        json!({"AWS": "arn:aws:iam::111122223333:user/alice"}),
        json!({"AWS": "arn:aws:iam::111122223333:role/reader"}),
        json!({"AWS": "111122223333"}),
        json!({"Service": "logging.s3.amazonaws.com"}),
        json!({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}),
    ] {
        assert!(!public(&stmt(p.clone(), Value::Null)), "{p}");
    }
    // A principal type S3 does not define is not one of them.
    assert_eq!(
        analyze(&stmt(json!({"Unknown": "x"}), Value::Null)).reasons,
        vec!["policy:S1:principal-unrecognised"]
    );
}

#[test]
fn aws_federated_principal_is_made_non_public_by_the_same_fixed_conditions() {
    // AWS: "You can make these policies non-public by including any of the condition keys
    // listed previously, using a fixed value." (said of all three examples, the Federated
    // one included)
    let fed = json!({"Federated": "graph.facebook.com"});
    for cond in [
        json!({"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
        json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
        json!({"StringEquals": {"aws:PrincipalOrgID": "o-exampleorgid"}}),
    ] {
        assert!(!public(&stmt(fed.clone(), cond.clone())), "{cond}");
    }
    for cond in [
        json!({"StringLike": {"aws:SourceVpc": "vpc-*"}}),
        json!({"StringEquals": {"s3:prefix": "home/"}}),
        json!({"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:pool"}}),
    ] {
        assert!(public(&stmt(fed.clone(), cond.clone())), "{cond}");
    }
}

#[test]
fn aws_star_examples() {
    // AWS (second example, public): { "Principal": "*", "Resource": "*", "Action":
    // "s3:PutObject", "Effect": "Allow" }
    assert!(public(&bare(
        json!({"Principal": "*", "Resource": "*", "Action": "s3:PutObject", "Effect": "Allow"})
    )));
    // AWS (third example, public): ... "Condition": { "StringLike": {"aws:SourceVpc": "vpc-*"}}
    assert!(public(&bare(
        json!({"Principal": "*", "Resource": "*", "Action": "s3:PutObject", "Effect": "Allow", "Condition": {"StringLike": {"aws:SourceVpc": "vpc-*"}}})
    )));
    // AWS: "you can make the last policy preceding non-public by setting aws:SourceVpc to a
    // fixed value": "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-91237329"}}
    assert!(!public(&bare(
        json!({"Principal": "*", "Resource": "*", "Action": "s3:PutObject", "Effect": "Allow", "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-91237329"}}})
    )));
}

#[test]
fn aws_policy_variables_are_not_fixed_values() {
    // AWS: "fixed values (values that don't contain a wildcard or an AWS Identity and Access
    // Management Policy Variable)"
    assert!(public(&stmt(
        json!("*"),
        json!({"StringEquals": {"aws:SourceAccount": "${aws:PrincipalAccount}"}})
    )));
    assert!(public(&stmt(
        json!("*"),
        json!({"StringEquals": {"aws:SourceVpce": "vpce-?"}})
    )));
}

#[test]
fn aws_source_ip_breadth_sentence() {
    // AWS: "Bucket policies that grant access conditioned on the aws:SourceIp condition key
    // with very broad IP ranges (for example, 0.0.0.0/1) are evaluated as "public." This
    // includes values broader than /8 for IPv4 and /32 for IPv6 (excluding RFC1918 private
    // ranges)."
    let ip = |c: &str| stmt(json!("*"), json!({"IpAddress": {"aws:SourceIp": c}}));
    assert!(public(&ip("0.0.0.0/1")));
    assert!(public(&ip("96.0.0.0/7")));
    assert!(!public(&ip("96.0.0.0/8")));
    assert!(public(&ip("2001:db8::/31")));
    assert!(!public(&ip("2001:db8::/32")));
    assert!(!public(&ip("172.16.0.0/12")));
}

#[test]
fn aws_user_id_outside_the_role_pattern() {
    // AWS: "aws:userid, outside the pattern "AROLEID:*""
    assert!(public(&stmt(
        json!("*"),
        json!({"StringLike": {"aws:userid": "AROAEXAMPLEROLEID:*"}})
    )));
    assert!(!public(&stmt(
        json!("*"),
        json!({"StringEquals": {"aws:userid": "AIDAEXAMPLEUSERID"}})
    )));
}

#[test]
fn aws_data_access_point_arn_wildcard_name_in_a_bucket_policy() {
    // AWS: "When used in a bucket policy, this value can contain a wildcard for the access
    // point name without rendering the policy public, as long as the account id is fixed.
    // For example, allowing access to arn:aws:s3:us-west-2:123456789012:accesspoint/* would
    // permit access to any access point associated with account 123456789012 in Region
    // us-west-2, without rendering the bucket policy public."
    let ap = |arn: &str| {
        stmt(
            json!("*"),
            json!({"ArnLike": {"s3:DataAccessPointArn": arn}}),
        )
    };
    assert!(!public(&ap(
        "arn:aws:s3:us-west-2:123456789012:accesspoint/*"
    )));
    assert!(!public(&ap(
        "arn:aws:s3:us-west-2:123456789012:accesspoint/team-?-*"
    )));
    // "as long as the account id is fixed": a wildcard account is public.
    assert!(public(&ap("arn:aws:s3:us-west-2:*:accesspoint/*")));
    assert!(public(&ap(
        "arn:aws:s3:us-west-2:1234567890??:accesspoint/ap"
    )));
    assert!(public(&ap("arn:aws:s3:us-west-2::accesspoint/*")));
    // Decision (docs/REASONS.md): the text allows the wildcard in the name only, so a
    // wildcard Region (or partition or service) is public; so is a variable in the name.
    assert!(public(&ap("arn:aws:s3:*:123456789012:accesspoint/*")));
    assert!(public(&ap(
        "arn:aws:*:us-west-2:123456789012:accesspoint/*"
    )));
    assert!(public(&ap(
        "arn:aws:s3:us-west-2:123456789012:accesspoint/${aws:username}"
    )));
    assert!(public(&ap("*")));
    assert!(public(&ap("arn:aws:s3:us-west-2:123456789012:*")));
}

#[test]
fn aws_data_access_point_arn_wildcard_in_an_access_point_policy() {
    // AWS: "An access point policy that grants access to a set of access points using
    // s3:DataAccessPointArn is considered public. [...] a bucket policy that grants access to
    // values of s3:DataAccessPointArn that match
    // arn:aws:s3:us-west-2:123456789012:accesspoint/* is not considered public. However, the
    // same statement in an access point policy would render the access point public."
    let doc = stmt(
        json!("*"),
        json!({"ArnLike": {"s3:DataAccessPointArn": "arn:aws:s3:us-west-2:123456789012:accesspoint/*"}}),
    );
    assert!(!analyze(&doc).is_public());
    assert_eq!(
        analyze_access_point(&doc).reasons,
        vec!["policy:S1:principal-*"]
    );
    // "The rules [...] are generally the same for access points as for buckets": a fixed
    // access point ARN restricts in both.
    let fixed = stmt(
        json!("*"),
        json!({"ArnEquals": {"s3:DataAccessPointArn": "arn:aws:s3:us-west-2:123456789012:accesspoint/ap1"}}),
    );
    assert!(!analyze(&fixed).is_public());
    assert!(!analyze_access_point(&fixed).is_public());
}

#[test]
fn aws_every_listed_key_restricts_with_a_fixed_value() {
    // AWS lists: aws:SourceIp, aws:SourceArn, aws:SourceVpc, aws:SourceVpce,
    // aws:SourceOwner, aws:SourceAccount, s3:x-amz-server-side-encryption-aws-kms-key-id,
    // aws:userid, s3:DataAccessPointArn, s3:DataAccessPointAccount, and aws:PrincipalOrgID
    // as its example of "An AWS principal".
    for key in [
        "aws:SourceArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceOwner",
        "aws:SourceAccount",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "aws:userid",
        "s3:DataAccessPointArn",
        "s3:DataAccessPointAccount",
        "aws:PrincipalOrgID",
    ] {
        assert!(
            !public(&stmt(json!("*"), json!({"StringEquals": {key: "fixed-1"}}))),
            "{key}"
        );
        assert!(
            public(&stmt(json!("*"), json!({"StringLike": {key: "fixed-*"}}))),
            "{key}"
        );
    }
}

#[test]
fn decided_keys_where_aws_is_silent() {
    // Decision (docs/REASONS.md): keys that pin the caller to one account or organization
    // restrict like aws:PrincipalOrgID / aws:SourceAccount, with a fixed value only.
    for key in [
        "aws:PrincipalAccount",
        "aws:PrincipalOrgPaths",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
    ] {
        assert!(
            !public(&stmt(
                json!("*"),
                json!({"StringEquals": {key: "o-exampleorgid/r-ab12/ou-ab12-11111111/"}})
            )),
            "{key}"
        );
        assert!(
            public(&stmt(
                json!("*"),
                json!({"ForAnyValue:StringLike": {key: "o-exampleorgid/*"}})
            )),
            "{key}"
        );
    }
}

#[test]
fn decided_deny_never_cancels_a_public_allow() {
    // AWS judges what a policy grants ("must grant access only to fixed values"); a Deny
    // grants nothing, so it neither is public nor makes an Allow non-public (docs/REASONS.md).
    let doc = json!({"Statement": [
        {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
        {"Sid": "OnlyVpce", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}
    ]});
    assert_eq!(analyze(&doc).reasons, vec!["policy:Open:principal-*"]);
}

#[test]
fn decided_notprincipal_is_pinned_like_star() {
    let np = json!({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/bob"},
        "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]});
    assert!(!public(&np));
    let np = json!({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/bob"},
        "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]});
    assert_eq!(analyze(&np).reasons, vec!["policy:#1:notprincipal"]);
}

#[test]
fn aws_actions_do_not_matter() {
    // AWS: "Amazon S3 block public access reviews policies for current actions and any
    // potential actions that might be added in the future": the Action does not make a
    // statement non-public.
    for action in [
        json!("s3:GetObject"),
        json!("s3:ListBucket"),
        json!(["s3:GetObjectTagging"]),
        json!("s3:NoSuchActionYet"),
    ] {
        let doc =
            bare(json!({"Effect": "Allow", "Principal": "*", "Action": action, "Resource": "*"}));
        assert!(public(&doc), "{doc}");
    }
}

#[test]
fn a_sid_too_long_to_quote_is_named_by_position() {
    let long = "S".repeat(240_000);
    let doc = json!({"Statement": [
        {"Sid": "Short", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
        {"Sid": long, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    ]});
    let f = analyze(&doc);
    assert!(f.is_public());
    assert!(
        f.reasons.iter().any(|r| r.starts_with("policy:Short:")),
        "{:?}",
        f.reasons
    );
    assert!(
        f.reasons.iter().any(|r| r.starts_with("policy:#2:")),
        "{:?}",
        f.reasons
    );
    assert!(f.reasons.iter().all(|r| r.len() < 300));
}
