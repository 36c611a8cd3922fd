//! Effective exposure against AWS's text, sentence by sentence: the S3 User Guide's "Blocking
//! public access to your Amazon S3 storage" (settings table, "The meaning of 'public'", access
//! points) and "Controlling ownership of objects" (Object Ownership). Each assertion sits under
//! the sentence it checks. Tests only; the rules live in `exposure`, `acl` and `policy`.

use serde_json::json;

use crate::core::acl::Acl;
use crate::core::exposure::{
    bucket_exposure, object_exposure, AccessPointView, BlockConfig, BlockFlags, BucketView,
    Ownership,
};
use crate::core::policy::{self, PolicyFindings};

fn public_read() -> Acl {
    Acl::from_canned("public-read").unwrap()
}

fn open_policy() -> PolicyFindings {
    policy::analyze(
        &json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}),
    )
}

fn flags(f: impl Fn(&mut BlockConfig)) -> BlockFlags {
    let mut c = BlockConfig::ALL_OFF;
    f(&mut c);
    BlockFlags::known(c)
}

fn off() -> BlockFlags {
    BlockFlags::known(BlockConfig::ALL_OFF)
}

fn bucket<'a>(
    acl: &'a Acl,
    policy: &'a PolicyFindings,
    ownership: Ownership,
    bucket_block: BlockFlags,
    account_block: BlockFlags,
    access_points: &'a [AccessPointView<'a>],
) -> BucketView<'a> {
    BucketView {
        acl: Some(acl),
        policy: Some(policy),
        ownership: Some(ownership),
        bucket_block,
        account_block,
        access_points,
    }
}

static NONE: PolicyFindings = PolicyFindings {
    reasons: Vec::new(),
};

#[test]
fn acl_public_means_a_grant_to_all_users_or_authenticated_users() {
    // AWS: "Amazon S3 considers a bucket or object ACL public if it grants any permissions to
    // members of the predefined AllUsers or AuthenticatedUsers groups."
    for canned in ["public-read", "public-read-write", "authenticated-read"] {
        let acl = Acl::from_canned(canned).unwrap();
        let v = bucket(&acl, &NONE, Ownership::ObjectWriter, off(), off(), &[]);
        assert!(bucket_exposure(&v).public, "{canned}");
        assert!(object_exposure(Some(&acl), &v).public, "{canned}");
    }
    for canned in ["private", "log-delivery-write", "bucket-owner-full-control"] {
        let acl = Acl::from_canned(canned).unwrap();
        let v = bucket(&acl, &NONE, Ownership::ObjectWriter, off(), off(), &[]);
        assert!(!bucket_exposure(&v).public, "{canned}");
    }
}

#[test]
fn block_public_acls_does_not_touch_existing_acls() {
    // AWS (BlockPublicAcls): "When this setting is set to TRUE, the specified operations fail
    // [...]. However, existing policies and ACLs for buckets and objects are not modified."
    let acl = public_read();
    let v = bucket(
        &acl,
        &NONE,
        Ownership::ObjectWriter,
        flags(|c| c.block_public_acls = true),
        flags(|c| c.block_public_acls = true),
        &[],
    );
    assert!(bucket_exposure(&v).public);
    assert!(object_exposure(Some(&acl), &v).public);
}

#[test]
fn ignore_public_acls_ignores_bucket_and_object_acls() {
    // AWS (IgnorePublicAcls): "Setting this option to TRUE causes Amazon S3 to ignore all public
    // ACLs on a bucket and any objects that it contains."
    let acl = public_read();
    for (b, a) in [
        (flags(|c| c.ignore_public_acls = true), off()),
        (off(), flags(|c| c.ignore_public_acls = true)),
    ] {
        let v = bucket(&acl, &NONE, Ownership::ObjectWriter, b, a, &[]);
        assert!(!bucket_exposure(&v).public);
        assert!(!object_exposure(Some(&acl), &v).public);
    }
}

#[test]
fn block_public_policy_does_not_touch_an_existing_policy() {
    // AWS (BlockPublicPolicy): "Enabling this setting doesn't affect existing access point or
    // bucket policies."
    let p = open_policy();
    let all_but_restrict = flags(|c| {
        c.block_public_policy = true;
        c.block_public_acls = true;
        c.ignore_public_acls = true
    });
    let v = bucket(
        &Acl::PRIVATE,
        &p,
        Ownership::BucketOwnerEnforced,
        all_but_restrict,
        all_but_restrict,
        &[],
    );
    assert!(bucket_exposure(&v).public);
}

#[test]
fn restrict_public_buckets_neutralises_a_public_policy_only() {
    // AWS (RestrictPublicBuckets): "Setting this option to TRUE restricts access to an access
    // point or bucket with a public policy to only AWS service principals and authorized users
    // within the bucket owner's account and access point owner's account."
    let p = open_policy();
    for (b, a) in [
        (flags(|c| c.restrict_public_buckets = true), off()),
        (off(), flags(|c| c.restrict_public_buckets = true)),
    ] {
        let v = bucket(&Acl::PRIVATE, &p, Ownership::BucketOwnerEnforced, b, a, &[]);
        assert!(!bucket_exposure(&v).public);
        // It does nothing to ACLs.
        let acl = public_read();
        let v = bucket(&acl, &NONE, Ownership::ObjectWriter, b, a, &[]);
        assert!(bucket_exposure(&v).public);
    }
}

#[test]
fn removing_a_block_exposes_again() {
    // AWS: "Block public access settings don't alter existing policies or ACLs. Therefore,
    // removing a block public access setting causes a bucket or object with a public policy or
    // ACL to again be publicly accessible."
    let acl = public_read();
    let p = open_policy();
    let on = BlockFlags::known(BlockConfig::ALL_ON);
    let v = bucket(&acl, &p, Ownership::ObjectWriter, on, off(), &[]);
    assert!(!bucket_exposure(&v).public);
    let v = bucket(&acl, &p, Ownership::ObjectWriter, off(), off(), &[]);
    let e = bucket_exposure(&v);
    assert!(e.public);
    assert_eq!(
        e.reasons,
        vec!["acl:AllUsers:READ", "policy:#1:principal-*"]
    );
}

#[test]
fn the_most_restrictive_combination_applies() {
    // AWS: "If the block public access settings for the access point, bucket, or account differ,
    // then Amazon S3 applies the most restrictive combination of the access point, bucket, and
    // account settings."
    let p = open_policy();
    let rpb = flags(|c| c.restrict_public_buckets = true);
    for (b, a, ap) in [
        (rpb, off(), off()),
        (off(), rpb, off()),
        (off(), off(), rpb),
    ] {
        let aps = [AccessPointView {
            name: "ap",
            policy: Some(&p),
            block: ap,
            vpc_origin: Some(false),
        }];
        let v = bucket(
            &Acl::PRIVATE,
            &NONE,
            Ownership::BucketOwnerEnforced,
            b,
            a,
            &aps,
        );
        assert!(!bucket_exposure(&v).public);
    }
}

#[test]
fn account_and_bucket_settings_apply_to_their_access_points() {
    // AWS: "If you apply a setting to an account, it applies to all buckets and access points
    // that are owned by that account. Similarly, if you apply a setting to a bucket, it applies
    // to all access points associated with that bucket."
    let p = open_policy();
    let aps = [AccessPointView {
        name: "ap",
        policy: Some(&p),
        block: off(),
        vpc_origin: Some(false),
    }];
    let rpb = flags(|c| c.restrict_public_buckets = true);
    let v = bucket(
        &Acl::PRIVATE,
        &NONE,
        Ownership::BucketOwnerEnforced,
        rpb,
        off(),
        &aps,
    );
    assert!(!bucket_exposure(&v).public);
    let v = bucket(
        &Acl::PRIVATE,
        &NONE,
        Ownership::BucketOwnerEnforced,
        off(),
        rpb,
        &aps,
    );
    assert!(!bucket_exposure(&v).public);
    let v = bucket(
        &Acl::PRIVATE,
        &NONE,
        Ownership::BucketOwnerEnforced,
        off(),
        off(),
        &aps,
    );
    assert!(bucket_exposure(&v).public);
}

#[test]
fn access_point_acl_settings_pass_through_only_for_requests_through_it() {
    // AWS: "Access points don't have ACLs associated with them. If you apply this setting to an
    // access point, it acts as a passthrough to the underlying bucket. If an access point has
    // this setting enabled, requests made through the access point behave as though the
    // underlying bucket has this setting enabled" — only requests through the access point: the
    // bucket's own endpoint still serves its public ACL.
    let acl = public_read();
    let aps = [AccessPointView {
        name: "ap",
        policy: Some(&NONE),
        block: BlockFlags::known(BlockConfig::ALL_ON),
        vpc_origin: Some(false),
    }];
    let v = bucket(&acl, &NONE, Ownership::ObjectWriter, off(), off(), &aps);
    assert!(bucket_exposure(&v).public);
}

#[test]
fn a_vpc_origin_access_point_is_never_public() {
    // AWS: "An access point that has a VPC network origin is always considered non-public,
    // regardless of the contents of its access point policy."
    let p = open_policy();
    let aps = [AccessPointView {
        name: "ap",
        policy: Some(&p),
        block: off(),
        vpc_origin: Some(true),
    }];
    let v = bucket(
        &Acl::PRIVATE,
        &NONE,
        Ownership::BucketOwnerEnforced,
        off(),
        off(),
        &aps,
    );
    let e = bucket_exposure(&v);
    assert!(!e.public);
    assert_eq!(
        e.reasons,
        vec!["access-point:ap:policy:#1:principal-*:restricted-by:NetworkOrigin-VPC@access-point"]
    );
    // Unknown origin: assumed Internet, and said so.
    let aps = [AccessPointView {
        vpc_origin: None,
        ..aps[0]
    }];
    let v = bucket(
        &Acl::PRIVATE,
        &NONE,
        Ownership::BucketOwnerEnforced,
        off(),
        off(),
        &aps,
    );
    let e = bucket_exposure(&v);
    assert!(e.public);
    assert_eq!(
        e.reasons,
        vec![
            "access-point:ap:policy:#1:principal-*",
            "assumed:NetworkOrigin-Internet@access-point:ap"
        ]
    );
}

#[test]
fn bucket_owner_enforced_disables_acls() {
    // AWS (Object Ownership): "Bucket owner enforced (default) – ACLs are disabled, and the
    // bucket owner automatically owns and has full control over every object in the bucket. ACLs
    // no longer affect permissions to data in the S3 bucket."
    let acl = public_read();
    let v = bucket(
        &acl,
        &NONE,
        Ownership::BucketOwnerEnforced,
        off(),
        off(),
        &[],
    );
    assert!(!bucket_exposure(&v).public);
    assert!(!object_exposure(Some(&acl), &v).public);
    // "ACLs enabled": Bucket owner preferred and Object writer.
    for o in [Ownership::BucketOwnerPreferred, Ownership::ObjectWriter] {
        let v = bucket(&acl, &NONE, o, off(), off(), &[]);
        assert!(bucket_exposure(&v).public, "{o:?}");
    }
    // Policies are untouched by it: "The bucket uses policies to define access control."
    let p = open_policy();
    let v = bucket(&acl, &p, Ownership::BucketOwnerEnforced, off(), off(), &[]);
    assert!(bucket_exposure(&v).public);
}

#[test]
fn one_public_statement_makes_the_whole_policy_public() {
    // AWS: "This policy qualifies as public because of the third statement. [...] Even though
    // statement 2 isn't public, Amazon S3 disables access by "Account-2." This is because
    // statement 3 renders the entire policy public, so RestrictPublicBuckets applies."
    let p = policy::analyze(&json!({"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    ]}));
    assert_eq!(p.reasons, vec!["policy:#3:principal-*"]);
    // "But if you remove statement 3 from the policy, then the policy doesn't qualify as public"
    let p = policy::analyze(&json!({"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "s3:GetObject", "Resource": "*"}
    ]}));
    assert!(!p.is_public());
}
