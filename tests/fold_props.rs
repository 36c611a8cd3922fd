//! Property tests of the fold (docs/DESIGN.md §5): duplicates change nothing, a replay split in two (with
//! the state carried over through its serialised snapshot) equals one pass, and adding a
//! protection never makes anything public.

use bucketwarden::core::acl::Acl;
use bucketwarden::core::change::Change;
use bucketwarden::core::exposure::{BlockConfig, Ownership};
use bucketwarden::core::fold::{Fold, Note, Outcome, Transition};
use bucketwarden::core::policy;
use bucketwarden::core::record::{EventName, S3Event};
use proptest::prelude::*;

const BUCKETS: [&str; 3] = ["alpha", "bravo", "charlie"];
const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];

fn block(bits: u8) -> BlockConfig {
    BlockConfig {
        block_public_acls: bits & 1 != 0,
        ignore_public_acls: bits & 2 != 0,
        block_public_policy: bits & 4 != 0,
        restrict_public_buckets: bits & 8 != 0,
    }
}

fn public_policy() -> Change {
    Change::BucketPolicy(policy::analyze(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "S1", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]
    })))
}

fn private_policy() -> Change {
    Change::BucketPolicy(policy::analyze(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "S1", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]
    })))
}

fn change_strategy() -> impl Strategy<Value = (EventName, Change, bool)> {
    // (event name, change, is object level)
    prop_oneof![
        Just((
            EventName::CreateBucket,
            Change::CreateBucket {
                acl: None,
                ownership: None
            },
            false
        )),
        Just((
            EventName::CreateBucket,
            Change::CreateBucket {
                acl: Some(Acl::from_canned("public-read").unwrap()),
                ownership: Some(Ownership::ObjectWriter)
            },
            false
        )),
        Just((EventName::DeleteBucket, Change::DeleteBucket, false)),
        prop::sample::select(vec![
            "private",
            "public-read",
            "public-read-write",
            "authenticated-read",
            "log-delivery-write"
        ])
        .prop_map(|c| (
            EventName::PutBucketAcl,
            Change::BucketAcl(Acl::from_canned(c).unwrap()),
            false
        )),
        Just((EventName::PutBucketPolicy, public_policy(), false)),
        Just((EventName::PutBucketPolicy, private_policy(), false)),
        Just((
            EventName::DeleteBucketPolicy,
            Change::DeleteBucketPolicy,
            false
        )),
        (0u8..16).prop_map(|b| (
            EventName::PutBucketPublicAccessBlock,
            Change::BucketBlock(block(b)),
            false
        )),
        Just((
            EventName::DeleteBucketPublicAccessBlock,
            Change::DeleteBucketBlock,
            false
        )),
        (0u8..16).prop_map(|b| (
            EventName::PutAccountPublicAccessBlock,
            Change::AccountBlock(block(b)),
            false
        )),
        Just((
            EventName::DeleteAccountPublicAccessBlock,
            Change::DeleteAccountBlock,
            false
        )),
        prop::sample::select(vec![
            Ownership::BucketOwnerEnforced,
            Ownership::BucketOwnerPreferred,
            Ownership::ObjectWriter
        ])
        .prop_map(|o| (
            EventName::PutBucketOwnershipControls,
            Change::Ownership(o),
            false
        )),
        Just((
            EventName::DeleteBucketOwnershipControls,
            Change::DeleteOwnership,
            false
        )),
        prop::sample::select(vec!["private", "public-read", "authenticated-read"]).prop_map(|c| (
            EventName::PutObjectAcl,
            Change::ObjectAcl(Acl::from_canned(c).unwrap()),
            true
        )),
        Just((
            EventName::PutBucketTagging,
            Change::Tags(vec![("team".into(), "a".into())]),
            false
        )),
    ]
}

#[derive(Debug, Clone)]
struct Gen {
    name: EventName,
    change: Change,
    object: bool,
    bucket: usize,
    account: usize,
    dt: i64,
    id: u16,
    failed: bool,
}

fn gen_strategy() -> impl Strategy<Value = Gen> {
    (
        change_strategy(),
        0..BUCKETS.len(),
        0..ACCOUNTS.len(),
        -3i64..10,
        0u16..40,
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |((name, change, object), bucket, account, dt, id, failed)| Gen {
                name,
                change,
                object,
                bucket,
                account,
                dt,
                id,
                failed,
            },
        )
}

/// Turns generated steps into events: time mostly moves forward but sometimes back (stale), ids
/// come from a small pool (duplicates), and each bucket belongs to one account.
fn events(gens: &[Gen]) -> Vec<S3Event> {
    let mut t: i64 = 1_700_000_000_000;
    gens.iter()
        .map(|g| {
            t += g.dt * 1000;
            let account = if g.name.is_account_level() {
                ACCOUNTS[g.account]
            } else {
                ACCOUNTS[g.bucket % ACCOUNTS.len()]
            };
            S3Event {
                event_id: Some(format!("id-{}", g.id)),
                event_time: bucketwarden::core::time::format_millis(t),
                time_ms: t,
                event_name: g.name,
                account: account.to_owned(),
                region: "us-east-1".into(),
                bucket: if g.name.is_account_level() {
                    None
                } else {
                    Some(BUCKETS[g.bucket].to_owned())
                },
                key: g.object.then(|| "k/1.txt".to_owned()),
                actor_arn: None,
                source_ip: None,
                user_agent: None,
                error_code: g.failed.then(|| "AccessDenied".to_owned()),
                change: if g.failed {
                    None
                } else {
                    Some(g.change.clone())
                },
                oddities: Vec::new(),
            }
        })
        .collect()
}

fn run(fold: &mut Fold, evs: &[S3Event]) -> Vec<Vec<Outcome>> {
    evs.iter().map(|e| fold.apply(e)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn a_duplicate_changes_nothing(gens in prop::collection::vec(gen_strategy(), 1..40), pick in any::<prop::sample::Index>()) {
        let evs = events(&gens);
        let mut fold = Fold::default();
        run(&mut fold, &evs);
        let before = fold.snapshot();
        let dup = &evs[pick.index(evs.len())];
        let out = fold.apply(dup);
        prop_assert_eq!(fold.snapshot(), before, "state changed by a duplicate");
        prop_assert!(out.iter().all(|o| o.note == Some(Note::Duplicate) && o.transition == Transition::Unchanged));
    }

    #[test]
    fn prefix_then_rest_equals_one_pass(gens in prop::collection::vec(gen_strategy(), 1..40), cut in any::<prop::sample::Index>()) {
        let evs = events(&gens);
        let cut = cut.index(evs.len() + 1);
        let mut whole = Fold::default();
        let all = run(&mut whole, &evs);

        let mut first = Fold::default();
        let mut split = run(&mut first, &evs[..cut]);
        // Carry the state across a restart the way a store would: through its serialised form.
        let json = serde_json::to_string(&first.snapshot()).unwrap();
        let mut second = Fold::restore(serde_json::from_str(&json).unwrap());
        split.extend(run(&mut second, &evs[cut..]));
        prop_assert_eq!(all, split);
        prop_assert_eq!(whole.snapshot(), second.snapshot());
    }

    #[test]
    fn adding_a_protection_never_makes_anything_public(gens in prop::collection::vec(gen_strategy(), 0..40), which in 0usize..4, b in 0..BUCKETS.len()) {
        let mut evs = events(&gens);
        let mut fold = Fold::default();
        run(&mut fold, &evs);
        let t = evs.last().map(|e| e.time_ms).unwrap_or(1_700_000_000_000) + 60_000;
        let (name, change) = match which {
            0 => (EventName::PutBucketPublicAccessBlock, Change::BucketBlock(BlockConfig::ALL_ON)),
            1 => (EventName::PutAccountPublicAccessBlock, Change::AccountBlock(BlockConfig::ALL_ON)),
            2 => (EventName::PutBucketOwnershipControls, Change::Ownership(Ownership::BucketOwnerEnforced)),
            _ => (EventName::DeleteBucketPolicy, Change::DeleteBucketPolicy),
        };
        let account_level = name.is_account_level();
        evs.push(S3Event {
            event_id: Some("protect".into()),
            event_time: bucketwarden::core::time::format_millis(t),
            time_ms: t,
            event_name: name,
            account: ACCOUNTS[b % ACCOUNTS.len()].to_owned(),
            region: "us-east-1".into(),
            bucket: if account_level { None } else { Some(BUCKETS[b].to_owned()) },
            key: None,
            actor_arn: None,
            source_ip: None,
            user_agent: None,
            error_code: None,
            change: Some(change),
            oddities: Vec::new(),
        });
        let out = fold.apply(evs.last().unwrap());
        for o in &out {
            prop_assert_ne!(o.transition, Transition::BecamePublic, "{:?}", o);
        }
    }
}
