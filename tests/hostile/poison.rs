//! Poison records on a one-shard stream (issue #26, "dead letters always fit"): a 240 KB malformed
//! record, and a well-formed 240 KB `PutBucketAcl` whose canned ACL value is refused. Each must be
//! dead-lettered with a short reason (its item under DynamoDB's 400 KB limit, which moto enforces)
//! and an ordinary bucket made public with an ACL after it must be locked down within 60 s.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

const WITHIN: Duration = Duration::from_secs(60);
/// Well under `max_record_bytes` (256 KB by default) and Kinesis's 1 MB record limit.
const HOSTILE_BYTES: usize = 240 * 1024;

/// Puts `poison` and then an ordinary public bucket's `PutBucketAcl` on a one-shard stream, and
/// checks both outcomes: the poison is in the dead-letter table with a short reason containing
/// `reason_has`, and the ordinary bucket is locked down within `WITHIN`.
async fn poison_then_ordinary(tag: &str, poison: Vec<u8>, reason_has: &str) {
    let f = Fleet::new(tag, 1, "").await;
    let ordinary = f.bucket("ordinary");
    f.make_public_bucket(&ordinary).await;
    let poison_len = poison.len();
    let (_, poison_seq) = f.put_raw(&ordinary, poison).await;
    f.put_event(
        &ordinary,
        &put_bucket_acl_public(&ordinary, &format!("{tag}-ordinary"), &now_time()),
    )
    .await;
    let w = f.spawn_worker("w1", &[]);
    wait_for(
        "the ordinary bucket after the poison record to be locked down",
        WITHIN,
        || async { f.block_of(&ordinary).await == Some((true, true, true, true)) },
    )
    .await;
    let dead = f.scan(&f.names.dead_letter_table).await;
    assert_eq!(dead.len(), 1, "{dead:?}\n{}", w.log_text());
    let d = &dead[0];
    let reason = s(d, "reason");
    assert!(reason.contains(reason_has), "{reason}");
    assert!(reason.len() <= 1024, "a reason of {} bytes", reason.len());
    assert_eq!(s(d, "sequenceNumber"), poison_seq);
    assert_eq!(
        d.get("size")
            .and_then(|v| v.as_n().ok())
            .map(String::as_str),
        Some(poison_len.to_string().as_str())
    );
    let raw = d.get("raw").and_then(|v| v.as_b().ok()).expect("raw");
    assert!(!raw.as_ref().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_240_kb_malformed_record_is_dead_lettered_and_the_shard_goes_on() {
    let mut big = br#"{"detail-type":"AWS API Call via CloudTrail","detail":{"pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', HOSTILE_BYTES));
    big.extend(br#""}}"#);
    poison_then_ordinary("poison-malformed", big, "no eventSource").await;
}

/// Failed on `main` before this change: the reason quoted the 240,000-character value whole, the
/// ~480 KB item was refused by PutItem (ValidationException, not retryable), and the batch was
/// read again from the checkpoint forever; the ordinary bucket was never locked down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_240_kb_refused_canned_acl_is_dead_lettered_and_the_shard_goes_on() {
    let victim = "poison-victim-bucket";
    let event = eventbridge(
        "PutBucketAcl",
        Some(victim),
        json!({"bucketName": victim, "Host": format!("{victim}.s3.us-east-1.amazonaws.com"), "acl": [""], "x-amz-acl": ["x".repeat(HOSTILE_BYTES)]}),
        &now_time(),
        "poison-canned",
    );
    let bytes = serde_json::to_vec(&event).unwrap();
    assert!(bytes.len() > HOSTILE_BYTES && bytes.len() < 256 * 1024);
    poison_then_ordinary("poison-canned", bytes, "unknown canned ACL").await;
}

/// A dead-letter write that fails for good (here the table is gone: ResourceNotFoundException, not
/// retryable) is parked: logged with its shard and sequence number, and the shard goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_that_cannot_be_written_is_parked_and_the_shard_goes_on() {
    let f = Fleet::new("poison-parked", 1, "").await;
    f.clients
        .dynamodb
        .delete_table()
        .table_name(&f.names.dead_letter_table)
        .send()
        .await
        .unwrap();
    let ordinary = f.bucket("ordinary");
    f.make_public_bucket(&ordinary).await;
    let (_, poison_seq) = f
        .put_raw(&ordinary, b"\x00 not json at all {{{".to_vec())
        .await;
    f.put_event(
        &ordinary,
        &put_bucket_acl_public(&ordinary, "parked-ordinary", &now_time()),
    )
    .await;
    let w = f.spawn_worker("w1", &[]);
    wait_for(
        "the ordinary bucket after an unwritable dead letter to be locked down",
        WITHIN,
        || async { f.block_of(&ordinary).await == Some((true, true, true, true)) },
    )
    .await;
    let log = w.log_text();
    let parked = log
        .lines()
        .find(|l| l.contains("dead letter could not be written: parked"))
        .unwrap_or_else(|| panic!("no parked dead letter in the log:\n{log}"));
    assert!(parked.contains(&poison_seq), "{parked}");
    assert!(parked.contains("shardId-000000000000"), "{parked}");
}

/// Issue #26 item 5: a split with empty pages before data on the closed parent. The parent's
/// records are put and the shard split before any worker reads it, so the worker's first read of
/// the parent is from TRIM_HORIZON on a closed shard; the proxy answers its first three
/// GetRecords with empty pages (AWS: "It might take multiple calls to get to a portion of the
/// shard that contains records"). Before this change the first empty page was taken for
/// SHARD_END: the parent was checkpointed finished unread and its buckets stayed public.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_pages_before_data_on_a_closed_parent_lose_nothing_across_a_split() {
    use crate::support::fault_proxy::FaultProxy;
    use bucketwarden::worker::lease::Checkpoint;
    let f = Fleet::new("poison-split", 1, "").await;
    let kinesis = &f.clients.kinesis;
    let shards = kinesis
        .list_shards()
        .stream_name(&f.names.stream)
        .send()
        .await
        .unwrap()
        .shards()
        .to_vec();
    let parent = shards[0].shard_id().to_owned();
    let range = shards[0].hash_key_range().unwrap();
    let (lo, hi): (u128, u128) = (
        range.starting_hash_key().parse().unwrap(),
        range.ending_hash_key().parse().unwrap(),
    );
    let mut buckets = Vec::new();
    for i in 0..4 {
        let b = f.bucket(&format!("parent-{i}"));
        f.make_public_bucket(&b).await;
        f.put_event(
            &b,
            &put_bucket_acl_public(&b, &format!("split-{i}"), &now_time()),
        )
        .await;
        buckets.push(b);
    }
    kinesis
        .split_shard()
        .stream_name(&f.names.stream)
        .shard_to_split(&parent)
        .new_starting_hash_key((lo + (hi - lo) / 2).to_string())
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto().endpoint, 26, Duration::from_secs(3)).await;
    proxy.empty_pages(&parent, 3);
    let w = f.spawn_worker("w1", &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())]);
    f.wait_all_blocked(
        "every bucket of the closed parent locked down",
        &buckets,
        WITHIN,
    )
    .await;
    assert_eq!(
        proxy.empty_pages_served(&parent),
        3,
        "the parent was not read through its empty pages\n{}",
        w.log_text()
    );
    wait_for("the parent checkpointed at SHARD_END", WITHIN, || async {
        f.leases()
            .await
            .iter()
            .any(|l| l.key == parent && l.checkpoint == Checkpoint::ShardEnd)
    })
    .await;
    let ids: std::collections::HashSet<String> = dedup_status(&f)
        .await
        .into_iter()
        .filter(|(_, status)| status == "done")
        .map(|(id, _)| id)
        .collect();
    for i in 0..4 {
        assert!(
            ids.iter().any(|id| id.contains(&format!("split-{i}"))),
            "split-{i} not done: {ids:?}"
        );
    }
}
