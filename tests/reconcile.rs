//! Periodic reconciliation (issue: baseline and drift): on a moto server of this test alone
//! (reconciliation lists the whole account), buckets made public directly on S3 — no event ever
//! reaches the stream — are found and locked down within one interval by exactly one worker, and
//! by the other one after the reconciler is killed; an exempt public bucket is alerted on (an
//! incident and an SNS message), once, and never remediated.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
        self.metric("bucketwarden_reconcile_leader")
    }

    /// An unlabelled series from /metrics (None while it does not answer).
    fn metric(&self, name: &str) -> Option<f64> {
        let out = Command::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{}/metrics", self.port)])
            .output()
            .ok()?;
        let prefix = format!("{name} ");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str())?.trim().parse().ok())
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
    init_fleet_with(endpoint, dir, "")
}

/// [`init_fleet`] with `extra` appended to the config (e.g. an `[accounts]` table).
fn init_fleet_with(endpoint: &str, dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("bucketwarden.toml");
    std::fs::write(
        &config,
        format!(
            "[exemptions]\nbuckets = [\"public-site-*\"]\ntags = {{ \"bucketwarden:allow-public\" = \"true\" }}\n\n[fleet]\nfailover_ms = 3000\nlease_scan_interval_ms = 500\nshard_discovery_interval_ms = 1000\npoll_interval_ms = 200\n\n[reconcile]\ninterval_ms = {INTERVAL_MS}\n{extra}"
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
    // No time bound here: how soon it is found depends on the machine's load, and speed is the
    // benchmarks' business. What must hold is who acts, and how often.
    wait_for("the missed exposure locked down", LONG, || async {
        blocked(&client, "opened-behind-our-back").await
    })
    .await;
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

    // Never two reconcilers acting at once: over several more passes (whichever worker runs
    // them, a legitimate hand-over under load included), each exposure was acted on exactly
    // once. Two reconcilers acting together would each record an incident (incident ids carry
    // the pass's time), and a pass acting on what another had fixed or alerted would add one.
    let passes = || {
        w1.log_text().matches("reconciliation pass done").count()
            + w2.log_text().matches("reconciliation pass done").count()
    };
    let before = passes();
    wait_for("three more passes", LONG, || async {
        passes() >= before + 3
    })
    .await;
    let mut again = reconcile_incidents(&endpoint).await;
    again.sort();
    assert_eq!(
        again,
        found,
        "w1:\n{}\nw2:\n{}",
        w1.log_text(),
        w2.log_text()
    );
    // Only a worker that took the lease ran a pass, and some worker did.
    for w in [&w1, &w2] {
        let log = w.log_text();
        if let Some(pass) = log.find("reconciliation pass done") {
            let took = log.find("this worker is now the reconciler");
            assert!(
                took.is_some_and(|t| t < pass),
                "a pass without the lease:\n{log}"
            );
        }
    }
    // The lease table, not two gauges sampled at different instants, says who holds it.
    let leases = bucketwarden::aws::lease_table::LeaseTable::new(
        clients_at(&endpoint).await.dynamodb,
        "bucketwarden-leases",
    );
    let owner = leases
        .get(bucketwarden::commands::reconcile::LEADER_KEY)
        .await
        .unwrap()
        .and_then(|l| l.owner)
        .expect("the reconciler lease is held");
    assert!(owner == "w1" || owner == "w2", "{owner}");

    // Kill the reconciler: the other takes the lease after the failover time and carries on.
    let (mut dead, survivor) = if owner == "w1" { (w1, w2) } else { (w2, w1) };
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
        reconcile_incidents(&endpoint).await.len() >= 3
    })
    .await;
    let mut all = reconcile_incidents(&endpoint).await;
    all.sort();
    assert_eq!(
        all,
        vec![
            ("opened-again-later".to_string(), "remediated".to_string()),
            (
                "opened-behind-our-back".to_string(),
                "remediated".to_string()
            ),
            ("public-site-docs".to_string(), "alerted".to_string()),
        ],
        "{}",
        survivor.log_text()
    );
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
    tag_allow_public(s3, "tagged-open").await;

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

/// Members of the fleets below; the third is never allowed.
const MEMBER_A: &str = "111111111111";
const MEMBER_B: &str = "222222222222";
const STRANGER: &str = "333333333333";

/// A registry reaching every account of these tests on `endpoint` (moto runs an assumed role's
/// calls in that role's account). Its clients hold it weakly: keep it alive while they are used.
async fn setup_registry(endpoint: &str) -> bucketwarden::aws::accounts::Accounts {
    let base = sdk_config_at(endpoint, None).await;
    bucketwarden::aws::accounts::Accounts::new(
        &base,
        &bucketwarden::config::Accounts {
            allowed: bucketwarden::config::Allowed::List(vec![
                MEMBER_A.to_owned(),
                MEMBER_B.to_owned(),
                STRANGER.to_owned(),
            ]),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// S3 clients acting in `account` through `registry`.
async fn s3_in(
    registry: &bucketwarden::aws::accounts::Accounts,
    account: &str,
) -> aws_sdk_s3::Client {
    registry.s3_for(account, "us-east-1").await.unwrap().s3
}

/// The reconcile incidents as (account, bucket, outcome).
async fn reconcile_incidents_by_account(endpoint: &str) -> Vec<(String, String, String)> {
    let ddb = clients_at(endpoint).await.dynamodb;
    let mut v: Vec<_> = scan_table(&ddb, "bucketwarden-incidents")
        .await
        .iter()
        .filter(|i| s(i, "source") == "reconcile")
        .map(|i| (s(i, "account"), s(i, "bucket"), s(i, "outcome")))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_covers_every_allowed_member_in_its_own_account_and_never_a_stranger() {
    // moto runs an assumed role's calls in the role's account, so each member's buckets live
    // apart, as in AWS; AssumeRole is counted at a loopback proxy between the worker and moto.
    let moto = start_moto();
    let endpoint = moto.endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = init_fleet_with(
        &endpoint,
        dir.path(),
        &format!(
            "\n[accounts]\nallowed = [\"{MEMBER_A}\", \"{MEMBER_B}\"]\n\n[exemptions.accounts.\"{MEMBER_B}\"]\nbuckets = [\"cdn-*\"]\n"
        ),
    );
    let registry = setup_registry(&endpoint).await;
    let (s3a, s3b, s3c) = (
        s3_in(&registry, MEMBER_A).await,
        s3_in(&registry, MEMBER_B).await,
        s3_in(&registry, STRANGER).await,
    );
    // Public behind the stream's back in each member; an exempt one in B; one in the stranger.
    open_with_public_acl(&s3a, "member-a-open").await;
    open_with_public_acl(&s3b, "member-b-open").await;
    open_with_public_acl(&s3b, "public-site-b").await;
    // B's own exemption covers B's cdn-* buckets, never A's.
    open_with_public_acl(&s3b, "cdn-in-b").await;
    open_with_public_acl(&s3a, "cdn-in-a").await;
    open_with_public_acl(&s3c, "stranger-open").await;
    let own = clients_at(&endpoint).await.s3;
    let own_listed = own.list_buckets().send().await.unwrap();
    assert!(
        own_listed.buckets().is_empty(),
        "members' buckets leaked into the own account: {own_listed:?}"
    );

    // Alerts observed as an operator would: an SQS queue subscribed to the topic.
    let clients = clients_at(&endpoint).await;
    let topic = bucketwarden::aws::alerter::Alerter::ensure_topic(&clients, "bucketwarden-alerts")
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk_config_at(&endpoint, None).await);
    let queue_url = sqs
        .create_queue()
        .queue_name("member-alerts-q")
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
        .endpoint(format!("arn:aws:sqs:us-east-1:{ACCOUNT}:member-alerts-q"))
        .send()
        .await
        .unwrap();

    let proxy = support::fault_proxy::FaultProxy::start(&endpoint, 3, Duration::from_secs(1)).await;
    let w = Worker::spawn(&proxy.endpoint, &config, dir.path(), "w1");
    wait_for("both members' buckets locked down", LONG, || async {
        blocked(&s3a, "member-a-open").await && blocked(&s3b, "member-b-open").await
    })
    .await;
    wait_for("five reconcile incidents", LONG, || async {
        reconcile_incidents_by_account(&endpoint).await.len() >= 5
    })
    .await;
    // Several more passes: credentials are cached, nothing is assumed again.
    wait_for("three passes", LONG, || async {
        w.log_text().matches("reconciliation pass done").count() >= 3
    })
    .await;
    let log = w.log_text();
    assert_eq!(
        reconcile_incidents_by_account(&endpoint).await,
        vec![
            (
                MEMBER_A.to_string(),
                "cdn-in-a".to_string(),
                "remediated".to_string()
            ),
            (
                MEMBER_A.to_string(),
                "member-a-open".to_string(),
                "remediated".to_string()
            ),
            (
                MEMBER_B.to_string(),
                "cdn-in-b".to_string(),
                "alerted".to_string()
            ),
            (
                MEMBER_B.to_string(),
                "member-b-open".to_string(),
                "remediated".to_string()
            ),
            (
                MEMBER_B.to_string(),
                "public-site-b".to_string(),
                "alerted".to_string()
            ),
        ],
        "one incident per exposure, naming its account\n{log}"
    );
    assert!(
        !blocked(&s3b, "public-site-b").await,
        "exempt, alerted only"
    );
    assert!(
        !blocked(&s3b, "cdn-in-b").await,
        "exempt in B, alerted only"
    );
    assert!(blocked(&s3a, "cdn-in-a").await, "B's exemption covered A");
    assert!(
        !blocked(&s3c, "stranger-open").await,
        "a not-allowed account was touched\n{log}"
    );
    assert_eq!(
        proxy.operation_count("sts", "AssumeRole"),
        2,
        "one AssumeRole per member over several passes, none for the stranger\n{}\n{log}",
        proxy.report()
    );
    assert!(!log.contains(STRANGER), "{log}");
    assert_eq!(
        w.metric("bucketwarden_accounts_covered"),
        Some(3.0),
        "{log}"
    );
    // The alerts name the account too (the remediated ones and the exempt one).
    let seen = std::sync::Mutex::new(Vec::new());
    wait_for("five alerts", LONG, || async {
        let new = drain_alerts(&sqs, &queue_url).await;
        let mut seen = seen.lock().unwrap();
        seen.extend(new);
        seen.len() >= 5
    })
    .await;
    let alerts = seen.into_inner().unwrap();
    for (bucket, account) in [
        ("member-a-open", MEMBER_A),
        ("member-b-open", MEMBER_B),
        ("public-site-b", MEMBER_B),
        ("cdn-in-b", MEMBER_B),
        ("cdn-in-a", MEMBER_A),
    ] {
        assert!(
            alerts
                .iter()
                .any(|a| a["bucket"] == bucket && a["account"] == account),
            "no alert for {bucket} naming {account}: {alerts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_cannot_be_assumed_is_reported_backs_off_and_the_own_account_goes_on() {
    let moto = start_moto();
    let endpoint = moto.endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = init_fleet_with(
        &endpoint,
        dir.path(),
        &format!("\n[accounts]\nallowed = [\"{MEMBER_A}\"]\nfailure_backoff_ms = 600000\nfailure_backoff_max_ms = 600000\n"),
    );
    let registry = setup_registry(&endpoint).await;
    let s3a = s3_in(&registry, MEMBER_A).await;
    open_with_public_acl(&s3a, "member-a-unreached").await;
    let own = clients_at(&endpoint).await.s3;
    open_with_public_acl(&own, "own-open").await;

    let proxy = support::fault_proxy::FaultProxy::start(&endpoint, 5, Duration::from_secs(1)).await;
    let w = Worker::spawn(&proxy.endpoint, &config, dir.path(), "w1");
    wait_for("the worker to start", LONG, || async {
        w.log_text().contains("worker starting")
    })
    .await;
    // Every STS call fails from now on (GetCallerIdentity already answered): A's role cannot be
    // assumed.
    proxy.set_rates(
        "sts",
        support::fault_proxy::Rates {
            server_error: 1.0,
            ..Default::default()
        },
    );
    wait_for("the own account's bucket locked down", LONG, || async {
        blocked(&own, "own-open").await
    })
    .await;
    wait_for("A reported unreachable", LONG, || async {
        w.log_text().contains("cannot reach the member account")
    })
    .await;
    let attempts = proxy.operation_count("sts", "AssumeRole");
    assert!(attempts >= 1, "{}", proxy.report());
    let passes = w.log_text().matches("reconciliation pass done").count();
    wait_for("two more passes", LONG, || async {
        w.log_text().matches("reconciliation pass done").count() >= passes + 2
    })
    .await;
    let log = w.log_text();
    // Backing off: no AssumeRole in the passes after the failure.
    assert_eq!(
        proxy.operation_count("sts", "AssumeRole"),
        attempts,
        "AssumeRole retried inside the backoff\n{}\n{log}",
        proxy.report()
    );
    assert!(log.contains("backing off"), "{log}");
    assert!(log.contains(MEMBER_A), "the account is named: {log}");
    assert!(
        w.metric("bucketwarden_reconcile_accounts_unreachable_total")
            .is_some_and(|n| n >= 3.0),
        "{log}"
    );
    assert_eq!(w.metric("bucketwarden_accounts_failing"), Some(1.0));
    assert!(
        !blocked(&s3a, "member-a-unreached").await,
        "nothing could be done in A"
    );
    let found = reconcile_incidents_by_account(&endpoint).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "own-open");
}

/// `allowed = "organization"`: the reconciler covers the accounts AWS Organizations lists (moto:
/// the test identity creates the organization, so the fleet runs in its management account, as
/// AWS requires for ListAccounts) and never an account outside it. AssumeRole and ListAccounts
/// are counted at a loopback proxy between the worker and moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_organization_the_reconciler_covers_the_listed_member_and_never_an_outsider() {
    let moto = start_moto();
    let endpoint = moto.endpoint.clone();
    let member = organization_with_members(&endpoint, 1).await.remove(0);
    assert_ne!(member, STRANGER);
    let dir = tempfile::tempdir().unwrap();
    let config = init_fleet_with(
        &endpoint,
        dir.path(),
        "\n[accounts]\nallowed = \"organization\"\n",
    );
    let base = sdk_config_at(&endpoint, None).await;
    let registry = bucketwarden::aws::accounts::Accounts::new(
        &base,
        &bucketwarden::config::Accounts {
            allowed: bucketwarden::config::Allowed::List(vec![member.clone(), STRANGER.to_owned()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (in_member, in_outsider) = (
        s3_in(&registry, &member).await,
        s3_in(&registry, STRANGER).await,
    );
    open_with_public_acl(&in_member, "org-member-open").await;
    open_with_public_acl(&in_outsider, "outsider-open").await;

    let proxy = support::fault_proxy::FaultProxy::start(&endpoint, 9, Duration::from_secs(1)).await;
    let w = Worker::spawn(&proxy.endpoint, &config, dir.path(), "w1");
    wait_for("the listed member's bucket locked down", LONG, || async {
        blocked(&in_member, "org-member-open").await
    })
    .await;
    wait_for("two more passes", LONG, || async {
        w.log_text().matches("reconciliation pass done").count() >= 3
    })
    .await;
    let log = w.log_text();
    assert_eq!(
        reconcile_incidents_by_account(&endpoint).await,
        vec![(
            member.clone(),
            "org-member-open".to_string(),
            "remediated".to_string()
        )],
        "{log}"
    );
    assert!(
        !blocked(&in_outsider, "outsider-open").await,
        "an account outside the organization was touched\n{log}"
    );
    assert_eq!(
        proxy.operation_count("sts", "AssumeRole"),
        1,
        "one AssumeRole for the member over several passes, none for the outsider\n{}",
        proxy.report()
    );
    // Listed once at start; not again within organization_refresh_s (an hour by default),
    // however many passes ran.
    assert_eq!(
        proxy.operation_count("organizations", "ListAccounts"),
        1,
        "{}",
        proxy.report()
    );
    assert!(!log.contains(STRANGER), "{log}");
    // The management account (the fleet's own) and the member.
    assert_eq!(w.metric("bucketwarden_organization_accounts"), Some(2.0));
}
