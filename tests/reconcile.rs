//! Periodic reconciliation (issue: baseline and drift): on a moto server of this test alone
//! (reconciliation lists the whole account), buckets made public directly on S3 — no event ever
//! reaches the stream — are found and locked down within one interval by exactly one worker, and
//! by the other one after the reconciler is killed.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_finds_what_the_stream_never_saw_on_exactly_one_worker() {
    let moto = start_moto();
    let endpoint = moto.endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bucketwarden.toml");
    std::fs::write(
        &config,
        format!(
            "[exemptions]\nbuckets = [\"public-site-*\"]\n\n[fleet]\nfailover_ms = 3000\nlease_scan_interval_ms = 500\nshard_discovery_interval_ms = 1000\npoll_interval_ms = 200\n\n[reconcile]\ninterval_ms = {INTERVAL_MS}\n"
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
        .env("AWS_ENDPOINT_URL", &endpoint)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());

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
    wait_for("the reconcile incident", LONG, || async {
        reconcile_incidents(&endpoint).await.len() == 1
    })
    .await;
    assert_eq!(
        reconcile_incidents(&endpoint).await,
        vec![(
            "opened-behind-our-back".to_string(),
            "remediated".to_string()
        )]
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
    wait_for("two reconcile incidents", LONG, || async {
        reconcile_incidents(&endpoint).await.len() == 2
    })
    .await;
    assert!(survivor
        .log_text()
        .contains("drift between the stream's state and live S3"));
}
