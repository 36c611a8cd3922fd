//! Fault scenarios of the alert path (a room of `faults`): a `Publish` or `PublishBatch` answered
//! late, whose answer is lost, or with one entry refused, on standard and FIFO topics. Each
//! asserts one SNS message per incident where the alert claim can keep it to one, and shows the
//! duplicate where a standard topic cannot (docs/RELIABILITY.md fixes 16 and 19).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_answered_late_is_one_message_and_one_dropped_is_sent_again() {
    let f = Fleet::new("latepub", 1, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 3, Duration::from_secs(3)).await;
    let w1 = f.spawn_worker("w1", &worker_env(&proxy.endpoint));
    wait_leases_owned(&f, 1).await;
    let t = base_ms();
    let mut buckets = Vec::new();
    let mut ids = HashSet::new();
    for (i, when) in [When::Late(Duration::from_millis(2500)), When::Before]
        .into_iter()
        .enumerate()
    {
        proxy.hook("sns", "Publish", when, || {});
        let b = f.bucket(&format!("late{i}"));
        let id = format!("ev-late-{i}");
        open_and_report(&f, &b, &id, &ts(t, i as i64)).await;
        wait_for(&format!("{b} alerted"), LONG, || async {
            f.alerts().await.len() > i
        })
        .await;
        assert_eq!(
            proxy.hooks_fired().len(),
            i + 1,
            "{:?}",
            proxy.hooks_fired()
        );
        buckets.push(b);
        ids.insert(id);
    }
    // `assert_exactly_once` waits for late duplicates before it counts the messages.
    assert_exactly_once(&f, &buckets, &ids, &[&w1]).await;
    assert_eq!(
        proxy.operation_count("sns", "Publish"),
        3,
        "the late answer's publish alone, the dropped one twice: {}",
        proxy.report()
    );
}

/// Issue #18's grouped alerts: a backlog of `n` buckets made public and reported before the
/// worker starts, so that the batch's alerts are claimed side by side and go out in
/// `PublishBatch` requests. Returns the buckets and event ids.
async fn alert_backlog(f: &Fleet, tag: &str, n: i64) -> (Vec<String>, HashSet<String>) {
    let t = base_ms();
    let mut buckets = Vec::new();
    let mut ids = HashSet::new();
    for i in 0..n {
        let b = f.bucket(&format!("{tag}{i}"));
        let id = format!("ev-{tag}-{i}");
        open_and_report(f, &b, &id, &ts(t, i)).await;
        buckets.push(b);
        ids.insert(id);
    }
    (buckets, ids)
}

/// A `PublishBatch` that SNS took but answered slower than the workers' attempt timeout (1 s;
/// SNS attempts are never cut below 10 s, fix 16, `PublishBatch` included): the batch is not
/// sent again, and every incident has one message. Without the SNS floor the SDK would retry the
/// whole batch and every entry in it would be a second message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_batch_answered_late_is_one_message_per_incident() {
    let f = Fleet::new("latebatch", 1, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 7, Duration::from_secs(3)).await;
    proxy.hook(
        "sns",
        "PublishBatch",
        When::Late(Duration::from_millis(2500)),
        || {},
    );
    let (buckets, ids) = alert_backlog(&f, "lb", 12).await;
    let w1 = f.spawn_worker("w1", &worker_env(&proxy.endpoint));
    assert_exactly_once(&f, &buckets, &ids, &[&w1]).await;
    assert_eq!(
        proxy.hooks_fired(),
        vec!["sns PublishBatch".to_owned()],
        "the alerts of the burst went out grouped, one batch answered late: {}",
        proxy.report()
    );
}

/// One entry of a `PublishBatch` refused by SNS (moto's own answer: the proxy makes that entry's
/// `MessageStructure` invalid on the way, and moto lists it under `Failed` with
/// `SenderFault=true`) is published alone with its claim renewed, once; the other entries of
/// the batch are not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_entry_refused_by_sns_is_sent_alone_once() {
    let f = Fleet::new("refused", 1, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 8, Duration::from_secs(3)).await;
    proxy.rewrite_where("sns", "PublishBatch", None, |body| {
        let mut b = body.to_vec();
        b.extend_from_slice(b"&PublishBatchRequestEntries.member.2.MessageStructure=refused");
        b
    });
    let (buckets, ids) = alert_backlog(&f, "rf", 12).await;
    let w1 = f.spawn_worker("w1", &worker_env(&proxy.endpoint));
    assert_exactly_once(&f, &buckets, &ids, &[&w1]).await;
    let answers = proxy.rewritten_answers();
    assert_eq!(answers.len(), 1, "{}", proxy.report());
    assert!(
        answers[0].contains("<Failed>") && answers[0].contains("InvalidParameter"),
        "moto refused the changed entry: {}",
        answers[0]
    );
    assert!(
        proxy.operation_count("sns", "Publish") >= 1,
        "the refused entry went alone: {}",
        proxy.report()
    );
}

/// What a `PublishBatch` whose answer is lost does on a standard topic (docs/RELIABILITY.md fix
/// 19): SNS took every entry, the worker cannot know it, and the SDK's retry of the request (or,
/// failing that, each entry alone) publishes each entry again — one duplicate per entry of that
/// batch and none elsewhere, as a lone `Publish` whose answer is lost. Every incident is still
/// recorded, remediated and marked once; a FIFO topic deduplicates by incident and closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_batch_whose_answer_is_lost_repeats_its_entries_once_on_a_standard_topic() {
    let f = Fleet::new("lostbatch", 1, "").await;
    let proxy = FaultProxy::start(&moto().endpoint, 9, Duration::from_secs(3)).await;
    proxy.hook("sns", "PublishBatch", When::After, || {});
    let (buckets, _ids) = alert_backlog(&f, "lo", 12).await;
    let w1 = f.spawn_worker("w1", &worker_env(&proxy.endpoint));
    f.wait_all_blocked("burst locked down", &buckets, LONG)
        .await;
    wait_for("every incident marked alerted", LONG, || async {
        let incidents = f.incidents().await;
        incidents.len() == buckets.len() && incidents.iter().all(|i| i.contains_key("alertedAt"))
    })
    .await;
    // Late duplicates would show up here.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(proxy.hooks_fired(), vec!["sns PublishBatch".to_owned()]);
    let incidents = f.incidents().await;
    assert_eq!(incidents.len(), buckets.len(), "one incident per bucket");
    let alerts = f.alert_deliveries().await;
    let mut per_bucket: HashMap<String, Vec<String>> = HashMap::new();
    for (body, _) in &alerts {
        per_bucket
            .entry(body["bucket"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(body.to_string());
    }
    let twice: Vec<&String> = buckets
        .iter()
        .filter(|b| per_bucket.get(*b).map(Vec::len) == Some(2))
        .collect();
    let once = buckets
        .iter()
        .filter(|b| per_bucket.get(*b).map(Vec::len) == Some(1))
        .count();
    assert_eq!(
        once + twice.len(),
        buckets.len(),
        "every incident alerted once or twice, never lost or more: {per_bucket:?}; {}",
        keep_logs(&[&w1])
    );
    // The lost batch's entries, and only they: between 2 and 10 of them, each sent twice with
    // the same body.
    assert!(
        (2..=10).contains(&twice.len()),
        "{} incidents alerted twice: {per_bucket:?}",
        twice.len()
    );
    for b in &twice {
        let m = &per_bucket[*b];
        assert_eq!(m[0], m[1], "{b}: the same incident's message twice");
    }
}

/// The same lost `PublishBatch` answer on a FIFO topic: the batch's entries carry the
/// per-incident deduplication ids a `Publish` would, so the repeat is dropped and every incident
/// is one message (the gap of the standard topic above, closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_batch_whose_answer_is_lost_is_one_message_each_on_a_fifo_topic() {
    let f = Fleet::with_topic("lostfifo", 1, "", true).await;
    let proxy = FaultProxy::start(&moto().endpoint, 10, Duration::from_secs(3)).await;
    proxy.hook("sns", "PublishBatch", When::After, || {});
    let (buckets, ids) = alert_backlog(&f, "lf", 12).await;
    let w1 = f.spawn_worker("w1", &worker_env(&proxy.endpoint));
    assert_exactly_once(&f, &buckets, &ids, &[&w1]).await;
    assert_eq!(
        proxy.hooks_fired(),
        vec!["sns PublishBatch".to_owned()],
        "{}",
        proxy.report()
    );
}
