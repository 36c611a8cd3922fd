//! Periodic reconciliation (issue: baseline and drift): on a moto server of this test alone
//! (reconciliation lists the whole account), buckets made public directly on S3 — no event ever
//! reaches the stream — are found and locked down within one interval by exactly one worker, and
//! by the other one after the reconciler is killed; an exempt public bucket is alerted on (an
//! incident and an SNS message), once, and never remediated.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const INTERVAL_MS: u64 = 4000;
const LONG: Duration = Duration::from_secs(60);

struct Worker {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    fn spawn(endpoint: &str, config: &std::path::Path, dir: &std::path::Path, id: &str) -> Worker {
        let port = free_port();
        let log = dir.join(format!("{id}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
        cmd.args([
            "run",
            "--worker-id",
            id,
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(config);
        for (k, v) in aws_env() {
            cmd.env(k, v);
        }
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("BUCKETWARDEN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Worker {
            child: cmd.spawn().unwrap(),
            port,
            log,
        }
    }

    /// The reconciler gauge from /metrics (None while it does not answer).
    fn leader(&self) -> Option<f64> {
        let out = Command::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{}/metrics", self.port)])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            l.strip_prefix("bucketwarden_reconcile_leader ")?
                .trim()
                .parse()
                .ok()
        })
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn blocked(s3: &aws_sdk_s3::Client, b: &str) -> bool {
    s3.get_public_access_block()
        .bucket(b)
        .send()
        .await
        .ok()
        .and_then(|r| r.public_access_block_configuration().cloned())
        .is_some_and(|c| {
            c.block_public_acls() == Some(true) && c.ignore_public_acls() == Some(true)
        })
}

async fn reconcile_incidents(endpoint: &str) -> Vec<(String, String)> {
    let ddb = clients_at(endpoint).await.dynamodb;
    scan_table(&ddb, "bucketwarden-incidents")
        .await
        .iter()
        .filter(|i| {
            i.get("source")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some("reconcile")
        })
        .map(|i| (s(i, "bucket"), s(i, "outcome")))
        .collect()
}

/// A fleet's config on a private moto, initialised: exemptions by the `public-site-*` name and
/// the `bucketwarden:allow-public = true` tag, reconciliation every `INTERVAL_MS`.
fn init_fleet(endpoint: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("bucketwarden.toml");
    std::fs::write(
        &config,
        format!(
            "[exemptions]\nbuckets = [\"public-site-*\"]\ntags = {{ \"bucketwarden:allow-public\" = \"true\" }}\n\n[fleet]\nfailover_ms = 3000\nlease_scan_interval_ms = 500\nshard_discovery_interval_ms = 1000\npoll_interval_ms = 200\n\n[reconcile]\ninterval_ms = {INTERVAL_MS}\n"
        ),
    )
    .unwrap();
    let mut init = Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
    init.args(["init", "--shards", "2", "--config"])
        .arg(&config);
    for (k, v) in aws_env() {
        init.env(k, v);
    }
    assert!(init
        .env("AWS_ENDPOINT_URL", endpoint)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_finds_what_the_stream_never_saw_on_exactly_one_worker() {
    let moto = start_moto();
    let endpoint = moto.endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = init_fleet(&endpoint, dir.path());

    let client = clients_at(&endpoint).await.s3;
    // Public before the fleet starts, bypassing the stream; one exempt; one private.
    open_with_public_acl(&client, "opened-behind-our-back").await;
    open_with_public_acl(&client, "public-site-docs").await;
    client
        .create_bucket()
        .bucket("quiet-private")
        .send()
        .await
        .unwrap();

    let w1 = Worker::spawn(&endpoint, &config, dir.path(), "w1");
    let w2 = Worker::spawn(&endpoint, &config, dir.path(), "w2");
    let start = Instant::now();
    wait_for("the missed exposure locked down", LONG, || async {
        blocked(&client, "opened-behind-our-back").await
    })
    .await;
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(INTERVAL_MS * 3 + 5000),
        "took {took:?} for an interval of {INTERVAL_MS} ms"
    );
    // The exempt one is alerted on, not remediated (it used to be left silent).
    wait_for("the reconcile incidents", LONG, || async {
        reconcile_incidents(&endpoint).await.len() == 2
    })
    .await;
    let mut found = reconcile_incidents(&endpoint).await;
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                "opened-behind-our-back".to_string(),
                "remediated".to_string()
            ),
            ("public-site-docs".to_string(), "alerted".to_string()),
        ]
    );
    assert!(
        !blocked(&client, "public-site-docs").await,
        "an exempt bucket was locked down"
    );

    // Exactly one reconciler at a time, seen from both workers' metrics over several rounds.
    for _ in 0..10 {
        let (a, b) = (w1.leader(), w2.leader());
        assert_eq!(
            a.unwrap_or(0.0) + b.unwrap_or(0.0),
            1.0,
            "w1 {a:?}, w2 {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let leaders: Vec<&Worker> = [&w1, &w2]
        .into_iter()
        .filter(|w| w.log_text().contains("this worker is now the reconciler"))
        .collect();
    assert_eq!(
        leaders.len(),
        1,
        "w1:\n{}\nw2:\n{}",
        w1.log_text(),
        w2.log_text()
    );
    assert!(
        leaders[0].log_text().contains("reconciliation pass done"),
        "{}",
        leaders[0].log_text()
    );

    // Kill the reconciler: the other takes the lease after the failover time and carries on.
    let (mut dead, survivor) = if w1.leader() == Some(1.0) {
        (w1, w2)
    } else {
        (w2, w1)
    };
    let _ = dead.child.kill();
    let _ = dead.child.wait();
    wait_for("the survivor to become the reconciler", LONG, || async {
        survivor.leader() == Some(1.0)
    })
    .await;
    open_with_public_acl(&client, "opened-again-later").await;
    wait_for("the second missed exposure locked down", LONG, || async {
        blocked(&client, "opened-again-later").await
    })
    .await;
    // The exempt bucket is not alerted on again: the state table knows it public now.
    wait_for("three reconcile incidents", LONG, || async {
        reconcile_incidents(&endpoint).await.len() == 3
    })
    .await;
    assert!(survivor
        .log_text()
        .contains("drift between the stream's state and live S3"));
}

/// The SNS messages' JSON bodies received so far, deleted from the queue.
async fn drain_alerts(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<serde_json::Value> {
    let r = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for m in r.messages() {
        let envelope: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap();
        out.push(serde_json::from_str(envelope["Message"].as_str().unwrap_or("{}")).unwrap());
        sqs.delete_message()
            .queue_url(queue_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_alerts_once_on_an_exempt_public_bucket_and_leaves_it_open() {
    // Scan alerted on an exempt public bucket and reconciliation stayed silent; both decide
    // through the one decider now: exempt means "alert, do not remediate" on every path.
    let moto = start_moto();
    let endpoint = moto.endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = init_fleet(&endpoint, dir.path());
    let clients = clients_at(&endpoint).await;
    // Alerts observed as an operator would: an SQS queue subscribed to the topic.
    let topic = bucketwarden::aws::alerter::Alerter::ensure_topic(&clients, "bucketwarden-alerts")
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk_config_at(&endpoint, None).await);
    let queue_url = sqs
        .create_queue()
        .queue_name("alerts-q")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    clients
        .sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:us-east-1:{ACCOUNT}:alerts-q"))
        .send()
        .await
        .unwrap();
    let s3 = &clients.s3;
    open_with_public_acl(s3, "public-site-www").await;
    open_with_public_acl(s3, "tagged-open").await;
    s3.put_bucket_tagging()
        .bucket("tagged-open")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("bucketwarden:allow-public")
                        .value("true")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let w = Worker::spawn(&endpoint, &config, dir.path(), "w1");
    wait_for("two reconcile incidents", LONG, || async {
        reconcile_incidents(&endpoint).await.len() == 2
    })
    .await;
    let seen = std::sync::Mutex::new(Vec::new());
    wait_for("two alerts", LONG, || async {
        let new = drain_alerts(&sqs, &queue_url).await;
        let mut seen = seen.lock().unwrap();
        seen.extend(new);
        seen.len() >= 2
    })
    .await;
    let alerts = seen.into_inner().unwrap();
    let ddb = clients.dynamodb.clone();
    let incidents = scan_table(&ddb, "bucketwarden-incidents").await;
    for (bucket, rule) in [
        ("public-site-www", "exempt_by_name"),
        ("tagged-open", "exempt_by_tag"),
    ] {
        let i = incidents
            .iter()
            .find(|i| s(i, "bucket") == bucket)
            .unwrap_or_else(|| panic!("no incident for {bucket}: {incidents:?}"));
        assert_eq!(s(i, "source"), "reconcile");
        assert_eq!(s(i, "action"), "alert", "{i:?}");
        assert_eq!(s(i, "outcome"), "alerted", "{i:?}");
        assert_eq!(s(i, "rule"), rule, "{i:?}");
        assert!(
            alerts
                .iter()
                .any(|a| a["bucket"] == bucket && a["outcome"] == "alerted"),
            "no alert for {bucket}: {alerts:?}"
        );
        assert!(
            !blocked(s3, bucket).await,
            "an exempt bucket was locked down\n{}",
            w.log_text()
        );
    }
    // Two more passes: the state table knows them public now, so they are not alerted again.
    tokio::time::sleep(Duration::from_millis(INTERVAL_MS * 2 + 1000)).await;
    assert!(
        w.log_text().matches("reconciliation pass done").count() >= 2,
        "{}",
        w.log_text()
    );
    assert_eq!(
        reconcile_incidents(&endpoint).await.len(),
        2,
        "alerted again\n{}",
        w.log_text()
    );
}
