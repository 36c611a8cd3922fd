//! Bursts of object events in one bucket, against moto: objects of different keys are closed side
//! by side (per-key order kept), and `[remediation] objects = "bucket-block"` closes a whole burst
//! with the bucket's PublicAccessBlock.

mod support;

use std::time::Duration;

use support::*;

const LONG: Duration = Duration::from_secs(90);

fn ts(base: i64, offset_s: i64) -> String {
    bucketwarden::core::time::format_millis(base + offset_s * 1000)
}

fn base_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond() - 60_000
}

/// A bucket with ACLs enabled and no block, holding `keys` objects readable by everyone.
async fn bucket_with_public_objects(f: &Fleet, bucket: &str, keys: &[String]) {
    let s3 = &f.clients.s3;
    acls_enabled_without_block(s3, bucket).await;
    for k in keys {
        s3.put_object()
            .bucket(bucket)
            .key(k)
            .body(b"x".to_vec().into())
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
            .send()
            .await
            .unwrap();
    }
}

async fn object_is_public(f: &Fleet, bucket: &str, key: &str) -> bool {
    let r = f
        .clients
        .s3
        .get_object_acl()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    r.grants().iter().any(|g| {
        g.grantee()
            .and_then(|g| g.uri())
            .is_some_and(|u| u.ends_with("/global/AllUsers"))
    })
}

// PutObjectAcl (S3 API Reference): "Uses the acl subresource to set the access control list (ACL)
// permissions for a new or existing object in an S3 bucket." Each object has its own ACL, so a
// burst of public objects needs one reset per object; they are independent of each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_public_objects_in_one_bucket_is_closed_object_by_object_once_each() {
    let f = Fleet::new("objburst", 1, "").await;
    let bucket = f.bucket("objs");
    let keys: Vec<String> = (0..8).map(|i| format!("k/{i}.txt")).collect();
    bucket_with_public_objects(&f, &bucket, &keys).await;
    let t = base_ms();
    for (i, k) in keys.iter().enumerate() {
        let ev = put_object_acl_public(&bucket, k, &format!("ev-obj-{i}"), &ts(t, i as i64));
        f.put_event(&bucket, &ev).await;
    }
    // The first object's event again (at-least-once delivery): no second incident.
    let again = put_object_acl_public(&bucket, &keys[0], "ev-obj-0", &ts(t, 0));
    f.put_event(&bucket, &again).await;
    let w = f.spawn_worker("w1", &[]);
    wait_for("every object's ACL to be private", LONG, || async {
        for k in &keys {
            if object_is_public(&f, &bucket, k).await {
                return false;
            }
        }
        true
    })
    .await;
    wait_for("an incident per object", LONG, || async {
        f.incidents().await.len() >= keys.len()
    })
    .await;
    wait_for("an alert per object", LONG, || async {
        f.alerts().await.len() >= keys.len()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let incidents = f.incidents().await;
    assert_eq!(
        incidents.len(),
        keys.len(),
        "{incidents:?}\n{}",
        w.log_text()
    );
    for i in &incidents {
        assert_eq!(s(i, "outcome"), "remediated");
        assert_eq!(s(i, "remediation"), "object_acl_private");
    }
    assert_eq!(f.alerts().await.len(), keys.len(), "one alert per object");
    // The bucket itself was left open: only the objects were exposed.
    assert_ne!(f.block_of(&bucket).await, Some((true, true, true, true)));
}

// PublicAccessBlockConfiguration (S3 API Reference), IgnorePublicAcls: "Setting this element to
// TRUE causes Amazon S3 to ignore all public ACLs on this bucket and objects in this bucket."
// So one PutPublicAccessBlock closes every public object of the bucket at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_bucket_block_a_burst_of_public_objects_is_closed_by_the_bucket_block() {
    let f = Fleet::new("objblock", 1, "[remediation]\nobjects = \"bucket-block\"\n").await;
    let bucket = f.bucket("objs");
    let keys: Vec<String> = (0..6).map(|i| format!("k/{i}.txt")).collect();
    bucket_with_public_objects(&f, &bucket, &keys).await;
    let t = base_ms();
    for (i, k) in keys.iter().enumerate() {
        let ev = put_object_acl_public(&bucket, k, &format!("ev-blk-{i}"), &ts(t, i as i64));
        f.put_event(&bucket, &ev).await;
    }
    let w = f.spawn_worker("w1", &[]);
    wait_for("the bucket's block to be fully on", LONG, || async {
        f.block_of(&bucket).await == Some((true, true, true, true))
    })
    .await;
    wait_for("every event handled", LONG, || async {
        dedup_status(&f)
            .await
            .values()
            .filter(|s| *s == "done")
            .count()
            == keys.len()
    })
    .await;
    let incidents = f.incidents().await;
    assert!(!incidents.is_empty(), "{}", w.log_text());
    for i in &incidents {
        assert_eq!(s(i, "remediation"), "bucket_block_on", "{incidents:?}");
        assert_eq!(s(i, "outcome"), "remediated");
    }
    // The objects' own ACLs were not rewritten: the block is what closed them.
    assert!(object_is_public(&f, &bucket, &keys[keys.len() - 1]).await);
}
