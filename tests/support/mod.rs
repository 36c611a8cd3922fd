//! Shared harness for the live integration tests: a real moto server on loopback (started by
//! scripts/test.sh, or here if it is not running), per-test resource names, worker processes, and
//! CloudTrail-shaped EventBridge events. Nothing here imitates AWS; every call goes to moto.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use bucketwarden::aws::Clients;
use bucketwarden::config::Names;
use serde_json::{json, Value};

pub mod dev_trail;
pub mod fault_proxy;
pub mod moto_iam;

pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    pub endpoint: String,
    _child: Option<Child>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The moto server for this test process: `BUCKETWARDEN_TEST_ENDPOINT` when scripts/test.sh
/// started one, otherwise one started here from the project's venv (it dies with this process).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("BUCKETWARDEN_TEST_ENDPOINT") {
            return Moto {
                endpoint,
                _child: None,
            };
        }
        start_moto()
    })
}

/// A moto server of this test process alone (for tests that list everything in the account).
pub fn start_moto() -> Moto {
    let python = project_root().join(".venv/bin/python");
    assert!(
        project_root().join(".venv/bin/moto_server").exists(),
        "no moto server: run scripts/test.sh (it creates .venv) or set BUCKETWARDEN_TEST_ENDPOINT"
    );
    // moto with its DynamoDB requests one at a time (scripts/moto_server.py says why).
    let launcher = project_root().join("scripts/moto_server.py");
    let port = free_port();
    let mut cmd = Command::new(python);
    cmd.arg(launcher)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    // PR_SET_PDEATHSIG fires when the spawning *thread* exits, and test threads end with their
    // test: spawn from a thread that lives as long as the test process.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tx.send(cmd.spawn()).unwrap();
        loop {
            std::thread::park();
        }
    });
    let child = rx.recv().unwrap().expect("start moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start on {endpoint}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        endpoint,
        _child: Some(child),
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = &mut self._child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto().endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

pub async fn clients() -> Clients {
    clients_at(&moto().endpoint).await
}

/// The product's clients for any emulator endpoint (e.g. a test's private moto).
pub async fn clients_at(endpoint: &str) -> Clients {
    Clients::new(&sdk_config_at(endpoint, None).await)
}

/// SDK configuration for an emulator endpoint; `max_attempts` overrides the SDK's retries.
pub async fn sdk_config_at(endpoint: &str, max_attempts: Option<u32>) -> aws_config::SdkConfig {
    let creds =
        aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "test");
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds);
    if let Some(n) = max_attempts {
        loader =
            loader.retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(n));
    }
    loader.load().await
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    let creds = aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "test");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto().endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One isolated fleet: its own stream, tables, topic (subscribed by an SQS queue) and config.
pub struct Fleet {
    pub names: Names,
    pub clients: Clients,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub queue_url: String,
    pub sqs: aws_sdk_sqs::Client,
    pub prefix: String,
    seen_alerts: std::sync::Mutex<Vec<(String, Value)>>,
    /// Per alert received, in the same order: SNS's and SQS's ids and times for it, so a
    /// duplicate tells two publishes (two SNS message ids) from one delivered twice.
    seen_envelopes: std::sync::Mutex<Vec<Value>>,
}

pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if f().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Fleet {
    pub async fn new(tag: &str, shards: i32, extra_toml: &str) -> Fleet {
        Fleet::with_topic(tag, shards, extra_toml, false).await
    }

    /// `fifo`: alerts go to a FIFO topic and a FIFO queue, whose deduplication is part of what a
    /// test checks.
    pub async fn with_topic(tag: &str, shards: i32, extra_toml: &str, fifo: bool) -> Fleet {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("t{}-{}-{}", std::process::id(), tag, n);
        let names = Names {
            stream: format!("{prefix}-events"),
            lease_table: format!("{prefix}-leases"),
            dedup_table: format!("{prefix}-dedup"),
            state_table: format!("{prefix}-state"),
            incident_table: format!("{prefix}-incidents"),
            dead_letter_table: format!("{prefix}-dead"),
            alert_topic: if fifo {
                format!("{prefix}-alerts.fifo")
            } else {
                format!("{prefix}-alerts")
            },
        };
        let clients = clients().await;
        bucketwarden::commands::init::init(
            &clients,
            &names,
            shards,
            Duration::from_secs(7 * 86400),
        )
        .await
        .expect("init");
        let dir = tempfile::Builder::new()
            .prefix(&format!("bucketwarden-{prefix}-"))
            .tempdir()
            .unwrap();
        if std::env::var_os("BUCKETWARDEN_TEST_KEEP_LOGS").is_some() {
            eprintln!("worker logs of {prefix}: {}", dir.path().display());
        }
        let config_path = dir.path().join("bucketwarden.toml");
        let toml = format!(
            "[names]\nstream = \"{}\"\nlease_table = \"{}\"\ndedup_table = \"{}\"\nstate_table = \"{}\"\nincident_table = \"{}\"\ndead_letter_table = \"{}\"\nalert_topic = \"{}\"\n\n[fleet]\nfailover_ms = 3000\nlease_scan_interval_ms = 500\nshard_discovery_interval_ms = 1000\npoll_interval_ms = 200\n{extra_toml}\n",
            names.stream, names.lease_table, names.dedup_table, names.state_table, names.incident_table, names.dead_letter_table, names.alert_topic
        );
        std::fs::write(&config_path, toml).unwrap();
        // Alerts are observed the way an operator would: an SQS queue subscribed to the topic.
        let sqs = sqs().await;
        let queue_name = if fifo {
            format!("{prefix}-q.fifo")
        } else {
            format!("{prefix}-q")
        };
        let mut create = sqs.create_queue().queue_name(&queue_name);
        if fifo {
            create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        let queue_url = create.send().await.unwrap().queue_url().unwrap().to_owned();
        let queue_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_name}");
        let topic_arn =
            bucketwarden::aws::alerter::Alerter::ensure_topic(&clients, &names.alert_topic)
                .await
                .unwrap();
        clients
            .sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        Fleet {
            names,
            clients,
            dir,
            config_path,
            queue_url,
            sqs,
            prefix,
            seen_alerts: Default::default(),
            seen_envelopes: Default::default(),
        }
    }

    /// Starts `bucketwarden run` as a separate process (so it can be SIGKILLed for real).
    pub fn spawn_worker(&self, id: &str, extra_env: &[(&str, &str)]) -> WorkerProc {
        self.spawn_worker_with_metrics(id, extra_env, None)
    }

    pub fn spawn_worker_with_metrics(
        &self,
        id: &str,
        extra_env: &[(&str, &str)],
        metrics_port: Option<u16>,
    ) -> WorkerProc {
        let log = self.dir.path().join(format!("{id}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
        let metrics = metrics_port
            .map(|p| format!("127.0.0.1:{p}"))
            .unwrap_or_else(|| "none".into());
        cmd.args(["run", "--config"]).arg(&self.config_path).args([
            "--worker-id",
            id,
            "--metrics-addr",
            &metrics,
        ]);
        for (k, v) in aws_env() {
            cmd.env(k, v);
        }
        cmd.env("BUCKETWARDEN_LOG", "info,bucketwarden=debug");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null()).stderr(file);
        let child = cmd.spawn().expect("spawn worker");
        WorkerProc {
            child: Some(child),
            log,
            id: id.to_owned(),
        }
    }

    pub async fn put_event(&self, partition_key: &str, event: &Value) -> (String, String) {
        self.put_raw(partition_key, serde_json::to_vec(event).unwrap())
            .await
    }

    pub async fn put_raw(&self, partition_key: &str, data: Vec<u8>) -> (String, String) {
        let r = self
            .clients
            .kinesis
            .put_record()
            .stream_name(&self.names.stream)
            .partition_key(partition_key)
            .data(aws_sdk_kinesis::primitives::Blob::new(data))
            .send()
            .await
            .expect("PutRecord");
        (r.shard_id().to_owned(), r.sequence_number().to_owned())
    }

    pub async fn scan(&self, table: &str) -> Vec<HashMap<String, AttributeValue>> {
        scan_table(&self.clients.dynamodb, table).await
    }

    pub async fn incidents(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.scan(&self.names.incident_table).await
    }

    /// How many of the fleet's leases `owner` holds now.
    pub async fn leases_of(&self, owner: &str) -> usize {
        self.leases()
            .await
            .iter()
            .filter(|l| l.owner.as_deref() == Some(owner))
            .count()
    }

    pub async fn leases(&self) -> Vec<bucketwarden::worker::lease::Lease> {
        bucketwarden::aws::lease_table::LeaseTable::new(
            self.clients.dynamodb.clone(),
            &self.names.lease_table,
        )
        .list()
        .await
        .unwrap()
    }

    /// Every alert received so far (subject, JSON body), accumulated across calls.
    pub async fn alerts(&self) -> Vec<(String, Value)> {
        let new = self.drain_alerts().await;
        let mut seen = self.seen_alerts.lock().unwrap();
        let mut envelopes = self.seen_envelopes.lock().unwrap();
        for (subject, body, envelope) in new {
            seen.push((subject, body));
            envelopes.push(envelope);
        }
        seen.clone()
    }

    /// Every alert received so far as (body, delivery): the delivery holds SNS's `MessageId` and
    /// `Timestamp` and SQS's `sqsMessageId`, `sentAt` and `receiveCount` for that message.
    pub async fn alert_deliveries(&self) -> Vec<(Value, Value)> {
        self.alerts().await;
        let seen = self.seen_alerts.lock().unwrap();
        let envelopes = self.seen_envelopes.lock().unwrap();
        seen.iter()
            .map(|(_, b)| b.clone())
            .zip(envelopes.iter().cloned())
            .collect()
    }

    /// Drains the alert queue: the SNS messages' JSON bodies.
    async fn drain_alerts(&self) -> Vec<(String, Value, Value)> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let msgs = r.messages();
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                let envelope: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap();
                let subject = envelope["Subject"].as_str().unwrap_or_default().to_owned();
                let body: Value =
                    serde_json::from_str(envelope["Message"].as_str().unwrap_or("{}"))
                        .unwrap_or(Value::Null);
                let attr = |name: aws_sdk_sqs::types::MessageSystemAttributeName| {
                    m.attributes()
                        .and_then(|a| a.get(&name))
                        .cloned()
                        .unwrap_or_default()
                };
                let delivery = serde_json::json!({
                    "snsMessageId": envelope["MessageId"],
                    "snsTimestamp": envelope["Timestamp"],
                    "sqsMessageId": m.message_id().unwrap_or_default(),
                    "sentAt": attr(aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp),
                    "receiveCount": attr(
                        aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount
                    ),
                });
                out.push((subject, body, delivery));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out
    }

    pub fn bucket(&self, name: &str) -> String {
        // Bucket names: lowercase, 3..63 characters, unique per test.
        let mut b = format!("{}-{name}", self.prefix).to_lowercase();
        b.truncate(63);
        b
    }

    /// A bucket made public the way the tutorial does it: ACLs enabled, block removed, public-read.
    pub async fn make_public_bucket(&self, bucket: &str) {
        open_with_public_acl(&self.clients.s3, bucket).await
    }

    /// Waits until every one of `buckets` has its whole block on.
    pub async fn wait_all_blocked(&self, what: &str, buckets: &[String], timeout: Duration) {
        wait_for(what, timeout, || async {
            for b in buckets {
                if self.block_of(b).await != Some((true, true, true, true)) {
                    return false;
                }
            }
            true
        })
        .await;
    }

    pub async fn block_of(&self, bucket: &str) -> Option<(bool, bool, bool, bool)> {
        match self
            .clients
            .s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(r) => r.public_access_block_configuration().map(|c| {
                (
                    c.block_public_acls().unwrap_or(false),
                    c.ignore_public_acls().unwrap_or(false),
                    c.block_public_policy().unwrap_or(false),
                    c.restrict_public_buckets().unwrap_or(false),
                )
            }),
            Err(_) => None,
        }
    }

    pub async fn tags_of(&self, bucket: &str) -> HashMap<String, String> {
        match self
            .clients
            .s3
            .get_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(r) => r
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
            Err(_) => HashMap::new(),
        }
    }
}

pub struct WorkerProc {
    child: Option<Child>,
    pub log: PathBuf,
    pub id: String,
}

impl WorkerProc {
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a graceful exit; returns its exit status success.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if start.elapsed() > timeout {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is still running (false once it exited or was killed).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn pause(&self) {
        if let Some(c) = &self.child {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGSTOP);
            }
        }
    }

    pub fn resume(&self) {
        if let Some(c) = &self.child {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGCONT);
            }
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if std::env::var_os("BUCKETWARDEN_TEST_KEEP_LOGS").is_some() {
            let d = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            let _ = d.keep();
        }
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn logs(workers: &[&WorkerProc]) -> String {
    workers
        .iter()
        .map(|w| format!("===== {} =====\n{}", w.id, w.log_text()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An EventBridge "AWS API Call via CloudTrail" event as EventBridge puts it on the stream.
pub fn eventbridge(
    event_name: &str,
    bucket: Option<&str>,
    request_parameters: Value,
    event_time: &str,
    event_id: &str,
) -> Value {
    let mut resources = vec![];
    if let Some(b) = bucket {
        resources.push(json!({"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{b}")}));
    }
    json!({
        "version": "0",
        "id": format!("eb-{event_id}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": event_time,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::{ACCOUNT}:user/mallory"), "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLE", "userName": "mallory"},
            "eventTime": event_time,
            "eventSource": "s3.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.23",
            "userAgent": "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64 command/s3api]",
            "requestParameters": request_parameters,
            "responseElements": null,
            "requestID": format!("REQ{event_id}"),
            "eventID": event_id,
            "readOnly": false,
            "resources": resources,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management"
        }
    })
}

pub fn now_time() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn put_bucket_acl_public(bucket: &str, event_id: &str, time: &str) -> Value {
    eventbridge(
        "PutBucketAcl",
        Some(bucket),
        json!({"bucketName": bucket, "Host": format!("{bucket}.s3.us-east-1.amazonaws.com"), "acl": [""], "x-amz-acl": ["public-read"]}),
        time,
        event_id,
    )
}

pub fn put_object_acl_public(bucket: &str, key: &str, event_id: &str, time: &str) -> Value {
    eventbridge(
        "PutObjectAcl",
        Some(bucket),
        json!({"bucketName": bucket, "Host": format!("{bucket}.s3.us-east-1.amazonaws.com"), "key": key, "acl": "", "x-amz-acl": "public-read"}),
        time,
        event_id,
    )
}

pub fn s(item: &HashMap<String, AttributeValue>, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_bucketwarden"))
}

/// Every item of a table, read consistently, all pages.
pub async fn scan_table(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let r = ddb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        out.extend(r.items().iter().cloned());
        match r.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return out,
        }
    }
}

/// A new bucket whose ACLs count (object ownership `ObjectWriter`) and whose block is removed:
/// nothing is public yet, but a public grant would be.
pub async fn acls_enabled_without_block(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    s3.delete_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
}

/// Tags `bucket` with the exempting tag of the tests' configurations
/// (`bucketwarden:allow-public = true`), replacing its tag set.
pub async fn tag_allow_public(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{Tag, Tagging};
    let tag = Tag::builder()
        .key("bucketwarden:allow-public")
        .value("true")
        .build()
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(Tagging::builder().tag_set(tag).build().unwrap())
        .send()
        .await
        .unwrap();
}

/// `scan --format jsonl` output by bucket: (account, exposed).
pub fn scan_verdicts(stdout: &[u8]) -> std::collections::BTreeMap<String, (String, bool)> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l.get("bucket").is_some())
        .map(|l| {
            (
                l["bucket"].as_str().unwrap().to_owned(),
                (
                    l["account"].as_str().unwrap().to_owned(),
                    l["exposed"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

/// The `[accounts]` section the account tests use: `allowed` listed, an external id, and a
/// failure backoff long enough that a test sees one attempt per member.
pub fn accounts_config(allowed: &[&str]) -> bucketwarden::config::Accounts {
    bucketwarden::config::Accounts {
        allowed: bucketwarden::config::Allowed::List(
            allowed.iter().map(|a| a.to_string()).collect(),
        ),
        external_id: Some("bucketwarden-test".into()),
        failure_backoff_ms: 60_000,
        failure_backoff_max_ms: 600_000,
        ..bucketwarden::config::Accounts::default()
    }
}

/// The test's own clients in each of `accounts` (through their roles, in us-east-1), to set a
/// scene in member accounts; the worker under test has its own, narrower, registry. The clients'
/// credentials come from the registry returned with them: keep it alive while they are used.
pub async fn clients_in(
    accounts: &[&str],
) -> (
    bucketwarden::aws::accounts::Accounts,
    Vec<bucketwarden::aws::accounts::S3Clients>,
) {
    let base = sdk_config_at(&moto().endpoint, None).await;
    let allowed = bucketwarden::config::Accounts {
        allowed: bucketwarden::config::Allowed::List(
            accounts.iter().map(|a| a.to_string()).collect(),
        ),
        ..bucketwarden::config::Accounts::default()
    };
    let registry = bucketwarden::aws::accounts::Accounts::new(&base, &allowed)
        .await
        .unwrap();
    let mut out = Vec::new();
    for a in accounts {
        out.push(registry.s3_for(a, "us-east-1").await.unwrap());
    }
    (registry, out)
}

/// A bucket made public the way the tutorial does it: ACLs enabled, block removed, public-read.
pub async fn open_with_public_acl(s3: &aws_sdk_s3::Client, bucket: &str) {
    acls_enabled_without_block(s3, bucket).await;
    s3.put_bucket_acl()
        .bucket(bucket)
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
}

/// An AWS Organization on `endpoint` whose management account is the test identity's
/// ([`ACCOUNT`]), with `members` new accounts created in it; their ids (moto draws them at
/// random). On a shared moto the organization may exist already (another test, an earlier run):
/// it is reused, and other tests' members are in it too.
pub async fn organization_with_members(endpoint: &str, members: usize) -> Vec<String> {
    use aws_sdk_organizations::error::ProvideErrorMetadata;
    let org = aws_sdk_organizations::Client::new(&sdk_config_at(endpoint, None).await);
    if let Err(e) = org
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
    {
        assert_eq!(e.code(), Some("AlreadyInOrganizationException"), "{e:?}");
    }
    let mut ids = Vec::new();
    for i in 0..members {
        let status = org
            .create_account()
            .email(format!("member{i}@example.com"))
            .account_name(format!("member{i}"))
            .send()
            .await
            .unwrap();
        let s = status.create_account_status().unwrap();
        assert_eq!(
            s.state(),
            Some(&aws_sdk_organizations::types::CreateAccountState::Succeeded)
        );
        ids.push(s.account_id().unwrap().to_owned());
    }
    ids
}

/// SIGKILL by pid (for hooks that run where the `WorkerProc` is not at hand).
pub fn sigkill(pid: u32) {
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

/// Watches the lease table while a scenario runs and reports, per shard, the longest time its
/// lease counter stood still (nobody renewing it = nobody processing it). Finished shards
/// (SHARD_END) are not counted, nor is a child's wait for its parents to finish (by design: it
/// may only be read after them).
pub struct LeaseWatch {
    /// The longest stall, and which shard stood still from when (UTC, to match worker logs).
    max: std::sync::Arc<std::sync::Mutex<(Duration, String)>>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseWatch {
    pub fn start(f: &Fleet) -> LeaseWatch {
        let table = bucketwarden::aws::lease_table::LeaseTable::new(
            f.clients.dynamodb.clone(),
            &f.names.lease_table,
        );
        let max = std::sync::Arc::new(std::sync::Mutex::new((Duration::ZERO, String::new())));
        let m = max.clone();
        let task = tokio::spawn(async move {
            let mut last: HashMap<String, (u64, Instant, jiff::Timestamp)> = HashMap::new();
            loop {
                if let Ok(leases) = table.list().await {
                    let now = Instant::now();
                    let unfinished: std::collections::HashSet<String> = leases
                        .iter()
                        .filter(|l| !l.is_finished())
                        .map(|l| l.key.clone())
                        .collect();
                    for l in leases {
                        if l.is_finished() {
                            last.remove(&l.key);
                            continue;
                        }
                        let waiting = l.parents.iter().any(|p| unfinished.contains(p));
                        let e = last.entry(l.key.clone()).or_insert((
                            l.counter,
                            now,
                            jiff::Timestamp::now(),
                        ));
                        if e.0 != l.counter || waiting {
                            *e = (l.counter, now, jiff::Timestamp::now());
                        }
                        let stall = now - e.1;
                        let mut mx = m.lock().unwrap();
                        if stall > mx.0 {
                            *mx = (stall, format!("{} from {}", l.key, e.2));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        LeaseWatch { max, task }
    }

    /// The longest stall seen so far.
    pub fn max_stall(&self) -> Duration {
        self.max.lock().unwrap().0
    }

    /// Which shard stalled longest, and from when.
    pub fn worst(&self) -> String {
        self.max.lock().unwrap().1.clone()
    }
}

impl Drop for LeaseWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every item of the dedup table: event id → status.
pub async fn dedup_status(f: &Fleet) -> HashMap<String, String> {
    f.scan(&f.names.dedup_table)
        .await
        .iter()
        .map(|i| (s(i, "eventId"), s(i, "status")))
        .collect()
}
