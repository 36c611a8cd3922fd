//! Unit tests of the fold: ordering, staleness, dedup, merge and settlement rules. Test-only;
//! they drive [`Fold`] through its public methods and must not reach into AWS.

use super::*;
use crate::core::record::EventName;

fn ev(id: &str, t: i64, name: EventName, key: Option<&str>, change: Change) -> S3Event {
    S3Event {
        event_id: Some(id.to_owned()),
        event_time: crate::core::time::format_millis(t),
        time_ms: t,
        event_name: name,
        account: "111122223333".into(),
        region: "us-east-1".into(),
        bucket: Some("b1".into()),
        key: key.map(str::to_owned),
        actor_arn: None,
        source_ip: None,
        user_agent: None,
        error_code: None,
        change: Some(change),
        oddities: Vec::new(),
    }
}

fn public_acl() -> Change {
    Change::BucketAcl(Acl::from_canned("public-read").unwrap())
}

#[test]
fn a_remediated_bucket_reopened_is_a_new_transition() {
    let mut f = Fold::new(60_000);
    let opened = [
        ev(
            "1",
            1_000,
            EventName::CreateBucket,
            None,
            Change::CreateBucket {
                acl: None,
                ownership: Some(Ownership::ObjectWriter),
            },
        ),
        ev(
            "2",
            2_000,
            EventName::DeleteBucketPublicAccessBlock,
            None,
            Change::DeleteBucketBlock,
        ),
        ev("3", 3_000, EventName::PutBucketAcl, None, public_acl()),
    ];
    let last = opened.iter().map(|e| f.apply(e)).last().unwrap();
    assert_eq!(last[0].transition, Transition::BecamePublic);
    f.settle(&Settlement {
        closed: Some(Closed::Bucket),
        ..Settlement::of("b1", 4_000)
    });
    assert!(!f.bucket_exposure("b1").unwrap().public);
    // An event from before the remediation does not undo it…
    let late = f.apply(&ev(
        "4",
        3_500,
        EventName::DeleteBucketPublicAccessBlock,
        None,
        Change::DeleteBucketBlock,
    ));
    assert_eq!(late[0].transition, Transition::Unchanged);
    assert!(!f.bucket_exposure("b1").unwrap().public);
    // …one from after it re-opens the bucket and is a transition again.
    let reopened = f.apply(&ev(
        "5",
        5_000,
        EventName::DeleteBucketPublicAccessBlock,
        None,
        Change::DeleteBucketBlock,
    ));
    assert_eq!(reopened[0].transition, Transition::BecamePublic);
}

#[test]
fn a_private_object_after_remediation_can_become_public_again() {
    let mut f = Fold::new(60_000);
    f.apply(&ev(
        "1",
        1_000,
        EventName::CreateBucket,
        None,
        Change::CreateBucket {
            acl: None,
            ownership: Some(Ownership::ObjectWriter),
        },
    ));
    f.apply(&ev(
        "2",
        2_000,
        EventName::DeleteBucketPublicAccessBlock,
        None,
        Change::DeleteBucketBlock,
    ));
    let put = Change::ObjectAcl(Acl::from_canned("public-read").unwrap());
    let first = f.apply(&ev(
        "3",
        3_000,
        EventName::PutObjectAcl,
        Some("k"),
        put.clone(),
    ));
    assert!(first
        .iter()
        .any(|o| o.transition == Transition::BecamePublic));
    f.settle(&Settlement {
        closed: Some(Closed::Object("k".into())),
        ..Settlement::of("b1", 4_000)
    });
    let again = f.apply(&ev("4", 5_000, EventName::PutObjectAcl, Some("k"), put));
    assert!(again
        .iter()
        .any(|o| o.transition == Transition::BecamePublic));
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_tag_set_remembers_who_set_it() {
    let mut f = Fold::default();
    f.apply(&ev(
        "c",
        1_000,
        EventName::CreateBucket,
        None,
        Change::CreateBucket {
            acl: None,
            ownership: None,
        },
    ));
    let mut put = ev(
        "t",
        2_000,
        EventName::PutBucketTagging,
        None,
        Change::Tags(tags(&[("k", "v")])),
    );
    put.actor_arn = Some("arn:aws:iam::111122223333:user/alice".into());
    f.apply(&put);
    let b = f.bucket("b1").unwrap();
    assert_eq!(b.tags(), tags(&[("k", "v")]).as_slice());
    assert_eq!(
        b.tags_set_by(),
        Some("arn:aws:iam::111122223333:user/alice")
    );
    let mut del = ev(
        "d",
        3_000,
        EventName::DeleteBucketTagging,
        None,
        Change::DeleteTags,
    );
    del.actor_arn = Some("arn:aws:iam::111122223333:user/bob".into());
    f.apply(&del);
    assert_eq!(
        f.bucket("b1").unwrap().tags_set_by(),
        Some("arn:aws:iam::111122223333:user/bob")
    );
}

#[test]
fn a_live_read_of_the_same_tags_keeps_the_setter_and_of_other_tags_forgets_it() {
    let alice = "arn:aws:iam::111122223333:user/alice";
    let seen = BucketState {
        tags: Some(TagState::new(
            tags(&[("a", "1"), ("b", "2")]),
            10,
            Some(alice.into()),
        )),
        ..BucketState::default()
    };
    // Newer, same set in another order, no setter: the setter stays, whichever side merges.
    let same = BucketState {
        tags: Some(TagState::new(tags(&[("b", "2"), ("a", "1")]), 20, None)),
        ..BucketState::default()
    };
    let mut x = seen.clone();
    x.merge_from(&same);
    assert_eq!(
        (x.tags.as_ref().unwrap().at, x.tags_set_by()),
        (20, Some(alice))
    );
    let mut y = same.clone();
    y.merge_from(&seen);
    assert_eq!(
        (y.tags.as_ref().unwrap().at, y.tags_set_by()),
        (20, Some(alice))
    );
    assert_eq!(
        seen.setter_of(&tags(&[("b", "2"), ("a", "1")])),
        Some(alice)
    );
    // A different set read later: nobody the fleet saw set it.
    let other = BucketState {
        tags: Some(TagState::new(tags(&[("a", "1")]), 20, None)),
        ..BucketState::default()
    };
    let mut z = seen.clone();
    z.merge_from(&other);
    assert_eq!(z.tags_set_by(), None);
    assert_eq!(seen.setter_of(&tags(&[("a", "1")])), None);
}

#[test]
fn a_tag_state_persisted_without_a_setter_still_loads() {
    // The shape written before setters were recorded.
    let old = r#"{"value":[["bucketwarden:allow-public","true"]],"at":5}"#;
    let t: TagState = serde_json::from_str(old).unwrap();
    assert_eq!(
        t,
        TagState::new(tags(&[("bucketwarden:allow-public", "true")]), 5, None)
    );
    // And a state without a setter writes the same shape back.
    assert_eq!(serde_json::to_string(&t).unwrap(), old);
}

fn masked_acl_fold() -> (Fold, Vec<Outcome>) {
    use crate::core::exposure::BlockConfig;
    let mut f = Fold::default();
    let create = Change::CreateBucket {
        acl: None,
        ownership: Some(Ownership::ObjectWriter),
    };
    f.apply(&ev("c", 1_000, EventName::CreateBucket, None, create));
    let forged = BlockConfig {
        block_public_acls: false,
        ignore_public_acls: true,
        block_public_policy: false,
        restrict_public_buckets: true,
    };
    f.apply(&ev(
        "p",
        2_000,
        EventName::PutBucketPublicAccessBlock,
        None,
        Change::BucketBlock(forged),
    ));
    let out = f.apply(&ev("a", 3_000, EventName::PutBucketAcl, None, public_acl()));
    (f, out)
}

#[test]
fn a_grant_masked_by_a_protection_learned_from_an_event_is_noted_masked() {
    let (_, out) = masked_acl_fold();
    assert_eq!(out.len(), 1);
    assert!(!out[0].exposure.public);
    assert_eq!(out[0].note, Some(Note::Masked));
    assert_eq!(
        out[0].exposure.reasons,
        vec!["acl:AllUsers:READ:ignored-by:IgnorePublicAcls@bucket"]
    );
}

#[test]
fn a_grant_masked_by_a_protection_a_live_read_confirmed_is_not() {
    use crate::core::exposure::BlockConfig;
    let (mut f, _) = masked_acl_fold();
    // S3 says IgnorePublicAcls really is on (newer than the events).
    let live = BucketState {
        block: BlockState::live(
            BlockFlags::known(BlockConfig {
                block_public_acls: false,
                ignore_public_acls: true,
                block_public_policy: false,
                restrict_public_buckets: true,
            }),
            3_500,
        ),
        ..BucketState::default()
    };
    f.settle(&Settlement {
        bucket_state: Some(live),
        ..Settlement::of("b1", 3_500)
    });
    let out = f.apply(&ev(
        "a2",
        4_000,
        EventName::PutBucketAcl,
        None,
        public_acl(),
    ));
    assert!(!out[0].exposure.public);
    assert_eq!(out[0].note, None);
    // An event changing the block again makes it unconfirmed again.
    let again = BlockConfig {
        block_public_acls: false,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
    let out = f.apply(&ev(
        "p2",
        5_000,
        EventName::PutBucketPublicAccessBlock,
        None,
        Change::BucketBlock(again),
    ));
    assert_eq!(out[0].note, Some(Note::Masked));
}

#[test]
fn provenance_persisted_before_it_was_recorded_reads_as_learned_from_events() {
    let old = r#"{"flags":{"block_public_acls":true,"ignore_public_acls":true,"block_public_policy":true,"restrict_public_buckets":true},"at":5}"#;
    let b: BlockState = serde_json::from_str(old).unwrap();
    assert!(!b.live);
    let s: Stamped<bool> = serde_json::from_str(r#"{"value":true,"at":5}"#).unwrap();
    assert!(!s.live);
}

/// Issue #27 item 5. AWS, "Deleting a general purpose bucket": "If you delete a bucket in the
/// shared global namespace, be aware that another AWS account can use the same general purpose
/// bucket name for a new bucket". And GetPublicAccessBlock: "When Amazon S3 evaluates the
/// PublicAccessBlock configuration for a bucket or an object, it checks the PublicAccessBlock
/// configuration for both the bucket (or the bucket that contains the object) and the bucket
/// owner's account." So once another account re-creates the name, the first owner's account
/// block no longer applies to it: only the new owner's does.
#[test]
fn a_bucket_name_recreated_by_another_account_leaves_the_first_owners_account_block() {
    const FIRST: &str = "111122223333";
    const SECOND: &str = "444455556666";
    let by = |account: &str, mut e: S3Event| {
        e.account = account.to_owned();
        e
    };
    let open_policy = || {
        Change::BucketPolicy(crate::core::policy::analyze(
            &serde_json::json!({"Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
            ]}),
        ))
    };
    let create = |id: &str, t: i64| {
        ev(
            id,
            t,
            EventName::CreateBucket,
            None,
            Change::CreateBucket {
                acl: None,
                ownership: None,
            },
        )
    };
    let mut account_block = ev(
        "a0",
        500,
        EventName::PutAccountPublicAccessBlock,
        None,
        // Ignores public ACLs and restricts public policies without blocking them: the second
        // owner's public calls succeed and prove nothing against it, so it would mask them.
        Change::AccountBlock(BlockConfig {
            ignore_public_acls: true,
            restrict_public_buckets: true,
            ..BlockConfig::ALL_OFF
        }),
    );
    account_block.bucket = None;
    for deleted_in_history in [true, false] {
        let mut f = Fold::new(60_000);
        f.apply(&by(FIRST, account_block.clone()));
        f.apply(&by(FIRST, create("a1", 1_000)));
        if deleted_in_history {
            f.apply(&by(
                FIRST,
                ev(
                    "a2",
                    2_000,
                    EventName::DeleteBucket,
                    None,
                    Change::DeleteBucket,
                ),
            ));
        }
        // The second account re-creates the name, lifts the bucket's block and makes it public.
        f.apply(&by(SECOND, create("b1", 3_000)));
        f.apply(&by(
            SECOND,
            ev(
                "b2",
                4_000,
                EventName::DeleteBucketPublicAccessBlock,
                None,
                Change::DeleteBucketBlock,
            ),
        ));
        let out = f.apply(&by(
            SECOND,
            ev("b3", 5_000, EventName::PutBucketPolicy, None, open_policy()),
        ));
        assert!(
            out[0].exposure.public,
            "deleted in history: {deleted_in_history}; {out:?}"
        );
        assert_eq!(f.bucket_state("b1").unwrap().account, SECOND);
        assert!(
            !f.account(FIRST).unwrap().buckets.contains("b1"),
            "the first owner still counts the name among its buckets"
        );
        assert!(
            out[0].exposure.public,
            "deleted in history: {deleted_in_history}; {out:?}"
        );
        assert_eq!(out[0].transition, Transition::BecamePublic, "{out:?}");
        // The first owner's account block changing again touches it no more, even with a stale
        // membership loaded from a store written before the re-creation.
        let mut stale = f.account(FIRST).unwrap().clone();
        stale.buckets.insert("b1".into());
        f.load_account(FIRST, stale);
        let mut lifted = account_block.clone();
        lifted.event_id = Some("a9".into());
        lifted.time_ms = 6_000;
        lifted.change = Some(Change::DeleteAccountBlock);
        let out = f.apply(&by(FIRST, lifted));
        assert!(out.iter().all(|o| o.bucket.is_none()), "{out:?}");
    }
}

#[test]
fn only_public_objects_are_kept_and_a_private_acl_forgets_the_object() {
    let mut f = Fold::new(60_000);
    let put = |id: &str, t: i64, key: &str, canned: &str| {
        ev(
            id,
            t,
            EventName::PutObject,
            Some(key),
            Change::ObjectAcl(Acl::from_canned(canned).unwrap()),
        )
    };
    // Thousands of writes with a private canned ACL keep nothing.
    for i in 0..5_000 {
        let out = f.apply(&put(
            &format!("p{i}"),
            1_000 + i,
            &format!("k{i}"),
            "bucket-owner-full-control",
        ));
        assert!(!out[0].exposure.public);
        assert!(!out[0].exposure.assumed, "the event's own ACL is known");
    }
    assert!(f.bucket_state("b1").unwrap().objects.is_empty());
    // A public object is kept until a private ACL replaces it.
    f.apply(&put("pub", 10_000, "k7", "public-read"));
    assert_eq!(f.bucket_state("b1").unwrap().objects.len(), 1);
    let out = f.apply(&put("priv", 11_000, "k7", "private"));
    assert_eq!(out[0].key.as_deref(), Some("k7"));
    assert!(f.bucket_state("b1").unwrap().objects.is_empty());
}
