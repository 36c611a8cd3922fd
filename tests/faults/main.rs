//! Fault injection against moto (the reliability issue): workers talk to moto through a loopback
//! fault proxy that throttles, fails, hangs, drops and loses responses, or SIGKILLs a worker
//! around its remediation write; fleets are restarted one by one and resized under load. Every
//! scenario asserts the same invariants: each public transition remediated exactly once
//! (incidents and SNS messages counted), no record lost (every event id `done` in the dedup
//! table), no shard left without a renewing owner for more than twice the failover time, and the
//! final per-bucket state agreeing with a replay of the same events.

#[path = "../support/mod.rs"]
mod support;

/// The alert scenarios: a `Publish` or `PublishBatch` answered late, lost or partly refused.
mod alerts;
/// What every scenario asserts, and the set-up they share.
mod invariants;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use invariants::*;
use serde_json::Value;
use support::fault_proxy::{Fault, FaultProxy, Rates, When};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_and_service_faults_on_every_service_lose_nothing_and_act_once() {
    let f = Fleet::new("netfault", 4, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 0x5eed_0001, Duration::from_secs(3)).await;
    let env = worker_env(&proxy.endpoint);
    let w1 = f.spawn_worker("w1", &env);
    let w2 = f.spawn_worker("w2", &env);
    wait_leases_owned(&f, 4).await;
    let k = set_network_faults(&proxy);
    // SNS sees ~30 requests in this scenario: higher rates so that it does get faults.
    proxy.set_rates(
        "sns",
        Rates {
            throttle: 0.10 * k,
            server_error: 0.05 * k,
            drop: 0.05 * k,
            timeout: 0.02 * k,
            lost_response: 0.0,
        },
    );
    let watch = LeaseWatch::start(&f);
    let t = base_ms();
    let mut buckets = Vec::new();
    let mut events = Vec::new();
    let mut ids = HashSet::new();
    for i in 0..30 {
        let b = f.bucket(&format!("n{i:02}"));
        let id = format!("ev-net-{i}");
        let ev = open_and_report(&f, &b, &id, &ts(t, i)).await;
        // The same event from a second producer, on whatever shard another key hashes to.
        f.put_event(&format!("other-producer-{i}"), &ev).await;
        ids.insert(id);
        events.push(ev);
        buckets.push(b);
    }
    assert_exactly_once(&f, &buckets, &ids, &[&w1, &w2]).await;
    proxy.clear_rates();
    assert_state_matches_replay(&f, &events, &[&w1, &w2]).await;
    let stall = watch.max_stall();
    let log = logs(&[&w1, &w2]);
    eprintln!(
        "network faults: {} ; longest lease stall {stall:?}; leases lost {} ({} self-fenced, {} taken by the other worker), batches abandoned {}",
        proxy.report(),
        log.matches("lease lost; stopping this shard").count(),
        log.matches("\"renewal lapsed").count(),
        log.matches("\"renewal fenced").count()
            + log.matches("\"fenced before an effect").count(),
        log.matches("batch left to the lease's new owner").count(),
    );
    assert!(
        stall < 2 * FAILOVER,
        "a shard went {stall:?} without a renewing owner ({}); worker logs: {}",
        watch.worst(),
        keep_logs(&[&w1, &w2])
    );
    // The faults really happened, on every service, of every kind.
    let injected = proxy.injected();
    for svc in ["kinesis", "dynamodb", "s3", "sns"] {
        let n: u64 = injected
            .iter()
            .filter(|((s, _), _)| s == svc)
            .map(|(_, n)| n)
            .sum();
        assert!(n > 0, "no fault injected into {svc}: {}", proxy.report());
    }
    for fault in [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Drop,
        Fault::Timeout,
        Fault::LostResponse,
    ] {
        assert!(
            proxy.injected_total(fault) > 0,
            "{fault:?} never injected: {}",
            proxy.report()
        );
    }
    assert!(
        log.contains("response was lost") || proxy.injected_total(Fault::LostResponse) > 0,
        "lost responses were injected"
    );
}

/// A DynamoDB client through `endpoint` that never retries, so a lost response reaches the caller
/// as an error although the write landed (as when every SDK retry fails after a lost response).
async fn dynamodb_without_retries(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config_at(endpoint, Some(1)).await)
}

/// Found at twice the fault rates: a renewal whose response was lost, and whose SDK retries then
/// failed too, reported an error although it had landed; the next renewal (a fresh token, the old
/// counter) failed its condition and the worker gave up a lease nobody else had taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_write_that_landed_but_reported_an_error_is_not_a_lost_lease() {
    use bucketwarden::aws::lease_table::LeaseTable;
    use bucketwarden::aws::transact;
    use bucketwarden::worker::lease::{Checkpoint, Lease};
    let f = Fleet::new("landed", 1, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 0x5eed_0004, Duration::from_secs(1)).await;
    let mine = LeaseTable::new(
        dynamodb_without_retries(&proxy.endpoint).await,
        &f.names.lease_table,
    );
    let direct = LeaseTable::new(f.clients.dynamodb.clone(), &f.names.lease_table);
    let key = "bucketwarden:test-landed";
    direct
        .create(&Lease::new(key, Vec::new(), Checkpoint::TrimHorizon))
        .await
        .unwrap();
    let fresh = direct.get(key).await.unwrap().unwrap();
    let held = mine.take(&fresh, "w1").await.unwrap().expect("taken");

    // 1. A renewal lands, its answer is lost: the caller sees an error.
    proxy.hook("dynamodb", "UpdateItem", When::After, || {});
    let err = mine
        .renew(&held, "w1")
        .await
        .expect_err("the answer was lost");
    assert!(err.retryable(), "a lost answer is transient: {err}");
    assert_eq!(
        direct.get(key).await.unwrap().unwrap().counter,
        held.counter + 1
    );

    // 2. The next renewal, from the counter the caller still knows, keeps the lease.
    let renewed = mine
        .renew(&held, "w1")
        .await
        .unwrap()
        .expect("the earlier renewal was ours: the lease is still held");
    assert_eq!(renewed.counter, held.counter + 2);
    let row = direct.get(key).await.unwrap().unwrap();
    assert_eq!(
        (row.owner.as_deref(), row.counter),
        (Some("w1"), renewed.counter)
    );

    // 3. The same for a checkpoint written over an unreported renewal.
    proxy.hook("dynamodb", "UpdateItem", When::After, || {});
    mine.renew(&renewed, "w1").await.expect_err("answer lost");
    let cp = Checkpoint::Sequence("42".into());
    let checkpointed = mine
        .checkpoint(&renewed, "w1", &cp)
        .await
        .unwrap()
        .expect("checkpointed over our own landed renewal");
    let row = direct.get(key).await.unwrap().unwrap();
    assert_eq!(row.checkpoint, cp);
    assert_eq!(row.counter, checkpointed.counter);

    // 3b. A renewal carried in a group write (the lease proof a pending record rides on) that
    //     lands unreported: the one-by-one renewal the worker falls back on recognises it as
    //     ours by its write token, rather than calling the lease lost.
    let (renewal, _) = mine.renew_write(&checkpointed, "w1");
    proxy.hook("dynamodb", "TransactWriteItems", When::After, || {});
    transact::write_group(mine.client(), vec![renewal], &transact::token())
        .await
        .expect_err("answer lost");
    assert_eq!(
        direct.get(key).await.unwrap().unwrap().counter,
        checkpointed.counter + 1,
        "the group landed"
    );
    let checkpointed = mine
        .renew(&checkpointed, "w1")
        .await
        .unwrap()
        .expect("the group's renewal was ours: the lease is still held");
    // And a group renewal from a counter that moved (a steal, or our own write since) is
    // cancelled, writing nothing.
    let (stale, _) = mine.renew_write(&held, "w1");
    assert_eq!(
        transact::write_group(mine.client(), vec![stale], &transact::token())
            .await
            .unwrap(),
        transact::Group::Cancelled
    );

    // 4. Not ours: another process with the same worker id (a restarted incarnation) must not
    //    take our unreported write for its own, and a real steal is still a lost lease.
    let other_incarnation = LeaseTable::new(f.clients.dynamodb.clone(), &f.names.lease_table);
    proxy.hook("dynamodb", "UpdateItem", When::After, || {});
    mine.renew(&checkpointed, "w1")
        .await
        .expect_err("answer lost");
    assert_eq!(
        other_incarnation.renew(&checkpointed, "w1").await.unwrap(),
        None,
        "another incarnation's stale counter must fail"
    );
    let row = direct.get(key).await.unwrap().unwrap();
    direct
        .take(&row, "w2")
        .await
        .unwrap()
        .expect("stolen by w2");
    assert_eq!(
        mine.renew(&checkpointed, "w1").await.unwrap(),
        None,
        "a lease another worker took is lost"
    );
    assert_eq!(proxy.hooks_fired().len(), 4, "{:?}", proxy.hooks_fired());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_just_before_and_just_after_the_remediation_write() {
    let f = Fleet::new("killfx", 1, "").await;
    let t = base_ms();
    let mut events = Vec::new();

    // 1. w1 is killed as its PutPublicAccessBlock leaves: the write never reaches S3.
    let before = FaultProxy::start(&moto().endpoint, 1, Duration::from_secs(3)).await;
    let w1 = f.spawn_worker("w1", &worker_env(&before.endpoint));
    let pid = w1.pid().unwrap();
    before.hook("s3", "PUT publicAccessBlock", When::Before, move || {
        sigkill(pid)
    });
    wait_for("w1 holds the lease", LONG, || async {
        f.leases_of("w1").await > 0
    })
    .await;
    let a = f.bucket("before");
    events.push(open_and_report(&f, &a, "ev-kill-before", &ts(t, 0)).await);
    let mut w1 = w1;
    wait_exit(&mut w1).await;
    assert_eq!(before.hooks_fired(), vec!["s3 PUT publicAccessBlock"]);
    assert_eq!(f.block_of(&a).await, None, "the write must not have landed");
    let mut w2 = f.spawn_worker("w2", &[]);
    wait_for("bucket A blocked by w2", LONG, || async {
        f.block_of(&a).await == Some((true, true, true, true))
    })
    .await;

    // 2. w3 is killed as soon as its PutPublicAccessBlock has been applied by S3.
    assert!(w2.terminate(Duration::from_secs(20)), "graceful stop of w2");
    let after = FaultProxy::start(&moto().endpoint, 2, Duration::from_secs(3)).await;
    let mut w3 = f.spawn_worker("w3", &worker_env(&after.endpoint));
    let pid = w3.pid().unwrap();
    after.hook("s3", "PUT publicAccessBlock", When::After, move || {
        sigkill(pid)
    });
    wait_for("w3 holds the lease", LONG, || async {
        f.leases_of("w3").await > 0
    })
    .await;
    let b = f.bucket("after");
    events.push(open_and_report(&f, &b, "ev-kill-after", &ts(t, 1)).await);
    wait_exit(&mut w3).await;
    assert_eq!(after.hooks_fired(), vec!["s3 PUT publicAccessBlock"]);
    assert_eq!(
        f.block_of(&b).await,
        Some((true, true, true, true)),
        "the write landed before the kill"
    );
    let w4 = f.spawn_worker("w4", &[]);
    let buckets = vec![a.clone(), b.clone()];
    let ids: HashSet<String> = ["ev-kill-before", "ev-kill-after"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_exactly_once(&f, &buckets, &ids, &[&w1, &w2, &w3, &w4]).await;
    let incidents = f.incidents().await;
    let remediation_of = |bucket: &str| {
        incidents
            .iter()
            .find(|i| s(i, "bucket") == bucket)
            .map(|i| s(i, "remediation"))
            .unwrap()
    };
    // A: w2 found it still public and fixed it; B: w4 found w3's fix done and finished the
    // incident w3 left pending.
    assert_ne!(remediation_of(&a), "completed_before_restart");
    assert_eq!(remediation_of(&b), "completed_before_restart");
    assert_state_matches_replay(&f, &events, &[&w1, &w2, &w3, &w4]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_and_one_three_one_workers_under_load() {
    let f = Fleet::new("rolling", 4, "").await;
    let mut workers = vec![f.spawn_worker("w1", &[])];
    wait_for("w1 holds all four leases", LONG, || async {
        f.leases_of("w1").await == 4
    })
    .await;
    let watch = LeaseWatch::start(&f);
    let stop = std::sync::atomic::AtomicBool::new(false);
    // The load: one public transition every 200 ms for as long as the fleet changes shape.
    let producer = async {
        let t = base_ms();
        let mut out = Vec::new();
        let mut i = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let b = f.bucket(&format!("r{i:03}"));
            let ev = open_and_report(&f, &b, &format!("ev-roll-{i}"), &ts(t, i)).await;
            out.push((b, ev));
            i += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        out
    };
    let owners_of = |ids: Vec<String>| {
        let f = &f;
        async move {
            let l = f.leases().await;
            ids.iter()
                .all(|id| l.iter().any(|l| l.owner.as_deref() == Some(id.as_str())))
        }
    };
    let reshape = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        // 1 → 3.
        workers.push(f.spawn_worker("w2", &[]));
        workers.push(f.spawn_worker("w3", &[]));
        wait_for("three workers holding leases", LONG, || {
            owners_of(vec!["w1".into(), "w2".into(), "w3".into()])
        })
        .await;
        // Rolling restart: each worker stopped gracefully and replaced, one at a time.
        let mut stopped = Vec::new();
        for gen in ["a", "b", "c"] {
            let mut old = workers.remove(0);
            assert!(old.terminate(Duration::from_secs(20)), "{} stops", old.id);
            let id = format!("{}{gen}", old.id);
            stopped.push(old);
            workers.push(f.spawn_worker(&id, &[]));
            wait_for(&format!("{id} holding a lease"), LONG, || {
                owners_of(vec![id.clone()])
            })
            .await;
        }
        // 3 → 1.
        for _ in 0..2 {
            let mut w = workers.remove(0);
            assert!(w.terminate(Duration::from_secs(20)), "{} stops", w.id);
            stopped.push(w);
        }
        let last = workers[0].id.clone();
        wait_for("the last worker holding all four leases", LONG, || async {
            f.leases_of(&last).await == 4
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        stopped
    };
    let (produced, restarted) = tokio::join!(producer, reshape);
    let buckets: Vec<String> = produced.iter().map(|(b, _)| b.clone()).collect();
    let events: Vec<Value> = produced.iter().map(|(_, e)| e.clone()).collect();
    let ids: HashSet<String> = events
        .iter()
        .map(|e| e["detail"]["eventID"].as_str().unwrap().to_owned())
        .collect();
    let all: Vec<&WorkerProc> = restarted.iter().chain(workers.iter()).collect();
    assert_exactly_once(&f, &buckets, &ids, &all).await;
    assert_state_matches_replay(&f, &events, &all).await;
    let stall = watch.max_stall();
    eprintln!(
        "rolling restart: {} transitions, {} worker processes, longest lease stall {stall:?}",
        buckets.len(),
        all.len()
    );
    assert!(
        stall < 2 * FAILOVER,
        "a shard went {stall:?} without a renewing owner"
    );
}

/// Puts `event` on whichever open shard owns `hash_key` (an explicit hash key, not a partition
/// key's MD5), so the test decides which shard each record lands on.
async fn put_at(f: &Fleet, hash_key: u128, event: &Value) {
    f.clients
        .kinesis
        .put_record()
        .stream_name(&f.names.stream)
        .partition_key("explicit")
        .explicit_hash_key(hash_key.to_string())
        .data(aws_sdk_kinesis::primitives::Blob::new(
            serde_json::to_vec(event).unwrap(),
        ))
        .send()
        .await
        .expect("PutRecord");
}

/// A split and then a merge of the children while public transitions keep arriving, and while the
/// proxy injects the network scenario's faults (lost DynamoDB responses included, so SHARD_END
/// checkpoints and child-lease creation are hit too). moto 5.2.5 routes every put whose hash key
/// a closed parent covers to that parent (not to its children), and moves the parent's
/// EndingSequenceNumber with it, which no real stream does; so once the split is issued the load
/// goes to the other shard, and the split shard's records are all those put before its split.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_under_load_and_network_faults_lose_nothing_and_act_once() {
    use bucketwarden::worker::lease::Checkpoint;
    let f = Fleet::new("splitfault", 2, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 0x5eed_0005, Duration::from_secs(3)).await;
    let env = worker_env(&proxy.endpoint);
    let w1 = f.spawn_worker("w1", &env);
    let w2 = f.spawn_worker("w2", &env);
    let kinesis = &f.clients.kinesis;
    let shards = kinesis
        .list_shards()
        .stream_name(&f.names.stream)
        .send()
        .await
        .unwrap()
        .shards()
        .to_vec();
    let range = |i: usize| -> (u128, u128) {
        let h = shards[i].hash_key_range().unwrap();
        (
            h.starting_hash_key().parse().unwrap(),
            h.ending_hash_key().parse().unwrap(),
        )
    };
    let (split_lo, split_hi) = range(0);
    let (other_lo, other_hi) = range(1);
    let split_id = shards[0].shard_id().to_owned();
    wait_leases_owned(&f, 2).await;
    set_network_faults(&proxy);
    let watch = LeaseWatch::start(&f);
    let split_issued = std::sync::atomic::AtomicBool::new(false);
    let put_on_split = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let producer = async {
        let t = base_ms();
        let mut out = Vec::new();
        let mut i: u128 = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let b = f.bucket(&format!("s{i:03}"));
            f.make_public_bucket(&b).await;
            let ev = put_bucket_acl_public(&b, &format!("ev-split-{i}"), &ts(t, i as i64));
            // Spread over the shard's whole range, so both halves of the split get records.
            let on_split =
                i.is_multiple_of(2) && !split_issued.load(std::sync::atomic::Ordering::SeqCst);
            let (lo, hi) = if on_split {
                (split_lo, split_hi)
            } else {
                (other_lo, other_hi)
            };
            put_at(&f, lo + (hi - lo) / 7 * (i % 7), &ev).await;
            if on_split {
                put_on_split.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            out.push((b, ev, on_split));
            i += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        out
    };
    let reshape = async {
        // Split once the shard has records to finish (a fixed pause gave 2 on a loaded machine).
        wait_for("six records on the shard to split", LONG, || async {
            put_on_split.load(std::sync::atomic::Ordering::SeqCst) >= 6
        })
        .await;
        split_issued.store(true, std::sync::atomic::Ordering::SeqCst);
        kinesis
            .split_shard()
            .stream_name(&f.names.stream)
            .shard_to_split(&split_id)
            .new_starting_hash_key((split_lo + (split_hi - split_lo) / 2).to_string())
            .send()
            .await
            .unwrap();
        wait_for(
            "the split parent read to its end, both children owned",
            LONG,
            || async {
                let l = f.leases().await;
                let parent_done = l
                    .iter()
                    .any(|l| l.key == split_id && l.checkpoint == Checkpoint::ShardEnd);
                let kids = l
                    .iter()
                    .filter(|l| l.parents == [split_id.clone()] && l.owner.is_some())
                    .count();
                parent_done && kids == 2
            },
        )
        .await;
        let kids: Vec<String> = f
            .leases()
            .await
            .iter()
            .filter(|l| l.parents == [split_id.clone()])
            .map(|l| l.key.clone())
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        kinesis
            .merge_shards()
            .stream_name(&f.names.stream)
            .shard_to_merge(&kids[0])
            .adjacent_shard_to_merge(&kids[1])
            .send()
            .await
            .unwrap();
        wait_for(
            "both children read to their end, the merge child owned",
            LONG,
            || async {
                let l = f.leases().await;
                let kids_done = l
                    .iter()
                    .filter(|l| kids.contains(&l.key) && l.checkpoint == Checkpoint::ShardEnd)
                    .count();
                let merged = l.iter().any(|l| l.parents.len() == 2 && l.owner.is_some());
                kids_done == 2 && merged
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (produced, ()) = tokio::join!(producer, reshape);
    let on_split = produced.iter().filter(|p| p.2).count();
    let buckets: Vec<String> = produced.iter().map(|p| p.0.clone()).collect();
    let events: Vec<Value> = produced.iter().map(|p| p.1.clone()).collect();
    let ids: HashSet<String> = events
        .iter()
        .map(|e| e["detail"]["eventID"].as_str().unwrap().to_owned())
        .collect();
    assert_exactly_once(&f, &buckets, &ids, &[&w1, &w2]).await;
    proxy.clear_rates();
    assert_state_matches_replay(&f, &events, &[&w1, &w2]).await;
    let stall = watch.max_stall();
    let log = logs(&[&w1, &w2]);
    eprintln!(
        "split and merge under faults: {} transitions ({on_split} on the split shard), {} ; longest lease stall {stall:?}; leases lost {}, batches abandoned {}",
        buckets.len(),
        proxy.report(),
        log.matches("lease lost; stopping this shard").count(),
        log.matches("batch left to the lease's new owner").count(),
    );
    assert!(
        stall < 2 * FAILOVER,
        "a shard went {stall:?} without a renewing owner ({}); worker logs: {}",
        watch.worst(),
        keep_logs(&[&w1, &w2])
    );
    for fault in [Fault::Throttle, Fault::ServerError, Fault::LostResponse] {
        assert!(
            proxy.injected_total(fault) > 0,
            "{fault:?} never injected: {}",
            proxy.report()
        );
    }
}

/// One publish per incident when SNS answers slower than an attempt may take. The proxy hands the
/// first `Publish` to moto (the message is out) and holds moto's answer back for longer than the
/// workers' attempt timeout (1 s here), as a loaded SNS endpoint would. An attempt cut off there is
/// not "not sent": repeating it sends the incident twice on a standard topic, which cannot
/// deduplicate. Then a `Publish` dropped before it reaches SNS must still be sent, once.
/// Issue #18's group writes with their answers lost: each kind of group a burst makes (the
/// chunk's dedup claims, the pending records with the lease proof, the final outcomes with their
/// alert claims, the `alertedAt` marks, the state saves with their dedup finishes) lands in
/// DynamoDB but its answer never reaches the worker. Each is redone or recognised (a group is all
/// or nothing; a cancelled or failed one is redone write by write), and every bucket is locked
/// down, recorded and alerted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_writes_whose_answers_are_lost_act_once() {
    let f = Fleet::new("grouplost", 1, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 5, Duration::from_secs(3)).await;
    // What names each group in its request body.
    let groups = [
        ("claims", "attribute_not_exists(eventId)".to_owned()),
        ("pending + lease proof", f.names.lease_table.clone()),
        ("finals + alert claims", "alertClaim = :tok".to_owned()),
        ("alertedAt marks", "SET alertedAt = :t".to_owned()),
        ("state saves + finishes", f.names.state_table.clone()),
    ];
    for (_, needle) in &groups {
        proxy.hook_where(
            "dynamodb",
            "TransactWriteItems",
            Some(needle),
            When::After,
            || {},
        );
    }
    // A backlog read in one batch, so that the chunk's writes go side by side and group.
    let t = base_ms();
    let mut buckets = Vec::new();
    let mut ids = HashSet::new();
    for i in 0..12 {
        let b = f.bucket(&format!("grp{i}"));
        let id = format!("ev-grp-{i}");
        open_and_report(&f, &b, &id, &ts(t, i)).await;
        buckets.push(b);
        ids.insert(id);
    }
    let w1 = f.spawn_worker("w1", &worker_env(&proxy.endpoint));
    assert_exactly_once(&f, &buckets, &ids, &[&w1]).await;
    assert_eq!(
        proxy.hooks_fired().len(),
        groups.len(),
        "every kind of group lost one answer: {:?}",
        proxy.hooks_fired()
    );
}
