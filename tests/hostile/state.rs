//! Bounded state: one bucket with thousands of object writes carrying ACL headers must neither
//! outgrow a DynamoDB item nor hold the shard.
//!
//! AWS: "The maximum item size in DynamoDB is 400 KB, which includes both attribute name binary
//! length (UTF-8 length) and attribute value lengths" (DynamoDB developer guide, "Quotas"). Before
//! the state was bounded, every such write added its key to the bucket's one state item; ~3,700
//! keys of 40 characters passed the limit, the save failed with a non-retryable
//! `ValidationException` on every re-read, and the shard never moved again.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

const LONG: Duration = Duration::from_secs(60);
const WRITES: usize = 5_000;

fn ts(base: i64, offset_ms: i64) -> String {
    bucketwarden::core::time::format_millis(base + offset_ms)
}

/// Kinesis sequence numbers are decimal strings of up to 128 bits.
fn seq(s: &str) -> u128 {
    s.parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_object_writes_with_acl_headers_do_not_stall_the_shard() {
    let f = Fleet::new("objects", 1, "").await;
    let many = f.bucket("many");
    let base = jiff::Timestamp::now().as_millisecond() - 120_000;
    // 5,000 PutObjects with `x-amz-acl: bucket-owner-full-control` (a private canned ACL), keys of
    // 40 characters, put 500 per PutRecords call.
    let mut last_hostile = String::new();
    for chunk in 0..WRITES / 500 {
        let mut entries = Vec::new();
        for j in 0..500 {
            let i = chunk * 500 + j;
            let key = format!("uploads/{i:032}");
            assert_eq!(key.len(), 40);
            let ev = eventbridge(
                "PutObject",
                Some(&many),
                json!({"bucketName": many, "Host": format!("{many}.s3.us-east-1.amazonaws.com"), "key": key, "x-amz-acl": "bucket-owner-full-control"}),
                &ts(base, i as i64),
                &format!("obj-{i}"),
            );
            entries.push(
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .partition_key(&many)
                    .data(aws_sdk_kinesis::primitives::Blob::new(
                        serde_json::to_vec(&ev).unwrap(),
                    ))
                    .build()
                    .unwrap(),
            );
        }
        let r = f
            .clients
            .kinesis
            .put_records()
            .stream_name(&f.names.stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("PutRecords");
        assert_eq!(r.failed_record_count(), Some(0), "every record put");
        for rec in r.records() {
            let s = rec.sequence_number().unwrap_or_default();
            if seq(s) > seq(&last_hostile) {
                last_hostile = s.to_owned();
            }
        }
    }
    // Then an ordinary bucket made public with an ACL, on the same (only) shard.
    let public = f.bucket("public");
    f.make_public_bucket(&public).await;
    f.put_event(
        &public,
        &put_bucket_acl_public(&public, "ev-public", &ts(base, WRITES as i64 + 1000)),
    )
    .await;
    let w = f.spawn_worker("w1", &[]);
    let took = wait_for(
        "the ordinary public bucket to be locked down",
        LONG,
        || async { f.block_of(&public).await == Some((true, true, true, true)) },
    )
    .await;
    eprintln!("ordinary bucket locked down after {took:?}");
    wait_for(
        "the checkpoint to pass the hostile records",
        LONG,
        || async {
            f.leases().await.iter().any(|l| {
                matches!(&l.checkpoint, bucketwarden::core::lease::Checkpoint::Sequence(s)
                if seq(s) >= seq(&last_hostile))
            })
        },
    )
    .await;
    let log = w.log_text();
    assert!(
        !log.contains("ValidationException") && !log.contains("maximum allowed size"),
        "a state save failed:\n{}",
        &log[log.len().saturating_sub(4000)..]
    );
    // The private objects are not kept: every state item is far below the item limit.
    let items = f.scan(&f.names.state_table).await;
    let largest = items
        .iter()
        .map(|i| {
            i.iter()
                .map(|(k, v)| k.len() + v.as_s().map(|s| s.len()).unwrap_or(8))
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    assert!(largest < 64 * 1024, "largest state item {largest} bytes");
    let incidents = f.incidents().await;
    assert!(
        incidents.iter().any(|i| s(i, "bucket") == public),
        "the ordinary bucket has its incident"
    );
}

/// The byte size DynamoDB counts for an item: attribute names plus values (strings and numbers
/// by their text, close enough for a bound this far below the limit).
fn item_size(
    i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> usize {
    i.iter()
        .map(|(k, v)| k.len() + v.as_s().or(v.as_n()).map(|s| s.len()).unwrap_or(8))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_objects_live_in_their_own_items_and_load_back_with_their_bucket() {
    use bucketwarden::core::acl::Acl;
    use bucketwarden::core::fold::{BucketState, Stamped};
    let f = Fleet::new("objitems", 1, "").await;
    let store = bucketwarden::aws::state_store::StateStore::new(
        f.clients.dynamodb.clone(),
        &f.names.state_table,
    );
    let bucket = f.bucket("wide");
    // 500 public objects with keys of S3's maximum length (1,024 bytes): ~500 KB of keys, more
    // than one item could ever hold.
    let mut state = BucketState {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        ..BucketState::default()
    };
    let public = Acl::from_canned("public-read").unwrap();
    for i in 0..500 {
        let key = format!("{i:04}{}", "k".repeat(1020));
        assert_eq!(key.len(), 1024);
        let o = Stamped {
            value: public,
            at: 1_000 + i,
            live: false,
        };
        store
            .save_object(&bucket, &key, Some(&o), o.at)
            .await
            .unwrap();
        state.objects.insert(key, o);
    }
    store
        .save_bucket(&bucket, &state, 0)
        .await
        .expect("bucket saved");
    let loaded = store.load_bucket(&bucket).await.unwrap().expect("stored");
    assert_eq!(
        loaded.value, state,
        "the objects load back with their bucket"
    );
    let items = f.scan(&f.names.state_table).await;
    assert_eq!(items.len(), 501);
    let largest = items.iter().map(item_size).max().unwrap();
    assert!(largest < 2_000, "largest item {largest} bytes");
    // A private ACL removes the item; an older write cannot bring it back over a newer one.
    let first = state.objects.keys().next().unwrap().clone();
    store
        .save_object(&bucket, &first, None, 5_000)
        .await
        .unwrap();
    let stale = Stamped {
        value: public,
        at: 6_000,
        live: false,
    };
    let second = state.objects.keys().nth(1).unwrap().clone();
    store
        .save_object(&bucket, &second, Some(&stale), 6_000)
        .await
        .unwrap();
    let older = Stamped {
        value: public,
        at: 2_000,
        live: false,
    };
    store
        .save_object(&bucket, &second, None, 2_000)
        .await
        .unwrap();
    store
        .save_object(&bucket, &second, Some(&older), 2_000)
        .await
        .unwrap();
    let objects = store.load_objects(&bucket).await.unwrap();
    assert_eq!(objects.len(), 499);
    assert!(objects.iter().all(|(k, _)| *k != first));
    assert_eq!(
        objects.iter().find(|(k, _)| *k == second).unwrap().1.at,
        6_000
    );
}

/// A worker whose fold keeps 2 buckets: 6 buckets' creations, then (once saved and evicted)
/// their public ACLs. Each is judged on the state reloaded from the table — nothing about the
/// bucket is assumed — and each is locked down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_buckets_are_reloaded_from_the_state_table() {
    let f = Fleet::new("evict", 1, "working_set_buckets = 2\n").await;
    let base = jiff::Timestamp::now().as_millisecond() - 120_000;
    let buckets: Vec<String> = (0..6).map(|i| f.bucket(&format!("ws{i}"))).collect();
    let mut last = String::new();
    for (i, b) in buckets.iter().enumerate() {
        let i = i as i64;
        let create = eventbridge(
            "CreateBucket",
            Some(b),
            json!({"bucketName": b, "Host": "s3.us-east-1.amazonaws.com", "x-amz-object-ownership": "ObjectWriter"}),
            &ts(base, i * 10),
            &format!("create-{b}"),
        );
        let unblock = eventbridge(
            "DeleteBucketPublicAccessBlock",
            Some(b),
            json!({"bucketName": b, "publicAccessBlock": ""}),
            &ts(base, i * 10 + 1),
            &format!("unblock-{b}"),
        );
        f.put_event(b, &create).await;
        last = f.put_event(b, &unblock).await.1;
    }
    let w = f.spawn_worker("w1", &[]);
    wait_for("the creations to be checkpointed", LONG, || async {
        f.leases().await.iter().any(|l| {
            matches!(&l.checkpoint, bucketwarden::core::lease::Checkpoint::Sequence(s)
                if seq(s) >= seq(&last))
        })
    })
    .await;
    for (i, b) in buckets.iter().enumerate() {
        f.make_public_bucket(b).await;
        f.put_event(
            b,
            &put_bucket_acl_public(b, &format!("acl-{b}"), &ts(base, 1_000 + i as i64)),
        )
        .await;
        // One bucket per batch: a batch pins the buckets it works on until it is saved, so six
        // events read in one batch would leave nothing to evict (a run found exactly that).
        f.wait_all_blocked("this bucket locked down", std::slice::from_ref(b), LONG)
            .await;
    }
    f.wait_all_blocked("every bucket locked down", &buckets, LONG)
        .await;
    let log = w.log_text();
    assert!(log.contains("buckets evicted"), "{log}");
    for b in &buckets {
        let line = log
            .lines()
            .find(|l| l.contains("became public") && l.contains(&format!("acl-{b}")))
            .unwrap_or_else(|| panic!("no decision for {b}:\n{log}"));
        // Unknown, the bucket's ownership and block would be assumed; reloaded, they are known.
        assert!(
            !line.contains("ownership-acls-enabled") && !line.contains("off@bucket"),
            "{b} judged without its saved state: {line}"
        );
    }
}
