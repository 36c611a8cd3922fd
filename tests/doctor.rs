//! `bucketwarden doctor` on moto (issue #28, item 3): a healthy deployment — `bucketwarden init`,
//! a trail started with the deploy template's selectors, the rule with the template's pattern
//! targeting the stream, a worker role with the template's actions — passes (exit 0); each piece
//! broken on its own is named with its fix and the exit status is 3. Every test runs in its own
//! moto account (an assumed role's calls run in the role ARN's account), so trails and rules of
//! parallel tests never meet.
//!
//! What moto shows and what it cannot (README, "What the emulator cannot show"): moto 5.2.5
//! implements GetTrailStatus, GetEventSelectors (basic and advanced, as put), DescribeRule,
//! ListTargetsByRule, ListRuleNamesByTarget, DescribeTimeToLive, DescribeTable's SSEDescription
//! (only when SSE was asked for at creation) and the IAM role policy reads. It does not give a new
//! trail AWS's default selector (all management events): a trail without PutEventSelectors has
//! none there, so every test puts the template's selectors. It does not evaluate a rule's pattern
//! for DescribeRule (doctor evaluates it itself, as tests/deploy.rs checks EventBridge does).

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use support::fault_proxy::{FaultProxy, Rates};
use support::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The central template as JSON, read by cfn-lint's own decoder (as tests/deploy.rs does).
fn template() -> Value {
    let python = root().join(".venv/bin/python");
    let out = Command::new(python)
        .args([
            "-c",
            "import json,sys\nfrom cfnlint.decode import decode\nt,m=decode(sys.argv[1])\nassert not m, m\nprint(json.dumps(t))",
        ])
        .arg(root().join("deploy/bucketwarden.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The template's trail selectors with S3DataEvents=all.
fn template_selectors(t: &Value) -> Vec<aws_sdk_cloudtrail::types::AdvancedEventSelector> {
    let branches = &t["Resources"]["Trail"]["Properties"]["AdvancedEventSelectors"]["Fn::If"];
    assert_eq!(branches[0], "DataEventsAll");
    branches[1]
        .as_array()
        .unwrap()
        .iter()
        .map(advanced)
        .collect()
}

fn advanced(s: &Value) -> aws_sdk_cloudtrail::types::AdvancedEventSelector {
    let mut b = aws_sdk_cloudtrail::types::AdvancedEventSelector::builder()
        .name(s["Name"].as_str().unwrap());
    for f in s["FieldSelectors"].as_array().unwrap() {
        let mut fb = aws_sdk_cloudtrail::types::AdvancedFieldSelector::builder()
            .field(f["Field"].as_str().unwrap());
        for v in f["Equals"].as_array().unwrap() {
            fb = fb.equals(v.as_str().unwrap());
        }
        b = b.field_selectors(fb.build().unwrap());
    }
    b.build().unwrap()
}

/// The template's worker role policy: its statements' actions (the `AllowOrganization` one left
/// out: the test fleet's accounts are its own), on every resource.
fn template_worker_policy(t: &Value, drop_action: Option<&str>) -> String {
    let mut statements = Vec::new();
    for s in t["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .unwrap()
    {
        if s.get("Fn::If").is_some() {
            continue;
        }
        let actions: Vec<&str> = match &s["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
            other => panic!("{other}"),
        };
        let actions: Vec<&str> = actions
            .into_iter()
            .filter(|a| Some(*a) != drop_action)
            .collect();
        if !actions.is_empty() {
            statements.push(json!({"Effect": "Allow", "Action": actions, "Resource": "*"}));
        }
    }
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn account_id(n: u32) -> String {
    format!("{:06}{:06}", std::process::id() % 1_000_000, 700 + n)
}

/// Credentials in `account`: moto runs an assumed role's calls in the role ARN's account.
async fn admin_of(account: &str) -> ((String, String, String), aws_config::SdkConfig) {
    let base = sdk_config_at(&moto().endpoint, None).await;
    let assumed = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/admin"))
        .role_session_name("doctor-test")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    let creds = (
        c.access_key_id().to_owned(),
        c.secret_access_key().to_owned(),
        c.session_token().to_owned(),
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto().endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            &creds.0,
            &creds.1,
            Some(creds.2.clone()),
            None,
            "test",
        ))
        .load()
        .await;
    (creds, config)
}

/// A trail named `name` in the account of `config`, with the template's selectors, started.
async fn started_trail(config: &aws_config::SdkConfig, template: &Value, name: &str) {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    );
    let logs = format!("{name}-logs");
    s3.create_bucket().bucket(&logs).send().await.unwrap();
    let ct = aws_sdk_cloudtrail::Client::new(config);
    ct.create_trail()
        .name(name)
        .s3_bucket_name(&logs)
        .is_multi_region_trail(true)
        .send()
        .await
        .unwrap();
    ct.put_event_selectors()
        .trail_name(name)
        .set_advanced_event_selectors(Some(template_selectors(template)))
        .send()
        .await
        .unwrap();
    ct.start_logging().name(name).send().await.unwrap();
}

/// One healthy deployment in its own moto account.
struct Deployment {
    account: String,
    creds: (String, String, String),
    config: aws_config::SdkConfig,
    _dir: tempfile::TempDir,
    config_path: PathBuf,
    prefix: String,
    template: Value,
}

impl Deployment {
    fn trail(&self) -> String {
        format!("{}-trail", self.prefix)
    }
    fn rule(&self) -> String {
        format!("{}-s3-exposure-calls", self.prefix)
    }
    fn role(&self) -> String {
        format!("{}-worker", self.prefix)
    }
    fn table(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }
    fn cloudtrail(&self) -> aws_sdk_cloudtrail::Client {
        aws_sdk_cloudtrail::Client::new(&self.config)
    }
    fn events(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.config)
    }
    fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }
    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env: Vec<(&'static str, String)> = aws_env()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
            .collect();
        env.push(("AWS_ACCESS_KEY_ID", self.creds.0.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY", self.creds.1.clone()));
        env.push(("AWS_SESSION_TOKEN", self.creds.2.clone()));
        env
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_at(&moto().endpoint, args)
    }

    /// `bucketwarden ARGS` against `endpoint` (moto, or a fault proxy in front of it).
    fn run_at(&self, endpoint: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
        cmd.args(args).arg("--config").arg(&self.config_path);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd.env("AWS_ENDPOINT_URL", endpoint);
        cmd.env_remove("BUCKETWARDEN_CONFIG")
            .env_remove("BUCKETWARDEN_CONFIG_TOML");
        cmd.output().unwrap()
    }

    /// `bucketwarden doctor --format json` with the deployment's rule and role; exit status and
    /// document.
    fn doctor(&self, extra: &[&str]) -> (i32, Value) {
        let (rule, role) = (self.rule(), self.role());
        let mut args = vec![
            "doctor",
            "--format",
            "json",
            "--rule",
            &rule,
            "--worker-role",
            &role,
        ];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "doctor printed no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(doc["exit_code"], out.status.code().unwrap(), "{doc:#}");
        (out.status.code().unwrap(), doc)
    }

    async fn new(n: u32) -> Deployment {
        let account = account_id(n);
        let prefix = format!("doc{}-{n}", std::process::id());
        let (creds, config) = admin_of(&account).await;
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("bucketwarden.toml");
        std::fs::write(
            &config_path,
            format!(
                "[names]\nstream = \"{p}-events\"\nlease_table = \"{p}-leases\"\ndedup_table = \"{p}-dedup\"\nstate_table = \"{p}-state\"\nincident_table = \"{p}-incidents\"\ndead_letter_table = \"{p}-dead-letters\"\nalert_topic = \"{p}-alerts\"\n",
                p = prefix
            ),
        )
        .unwrap();
        let d = Deployment {
            account,
            creds,
            config,
            _dir: dir,
            config_path,
            prefix,
            template: template(),
        };
        let out = d.run(&["init", "--shards", "1"]);
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // The trail, with the template's selectors (S3DataEvents=all), started.
        started_trail(&d.config, &d.template, &d.trail()).await;

        // The rule, with the template's pattern, targeting the stream.
        let pattern =
            d.template["Resources"]["S3CallsRule"]["Properties"]["EventPattern"].to_string();
        d.events()
            .put_rule()
            .name(d.rule())
            .event_pattern(pattern)
            .send()
            .await
            .unwrap();
        d.target(&d.stream_arn().await).await;

        // The worker role with the template's actions.
        d.iam()
            .create_role()
            .role_name(d.role())
            .assume_role_policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        d.put_worker_policy(None).await;
        d
    }

    async fn stream_arn(&self) -> String {
        aws_sdk_kinesis::Client::new(&self.config)
            .describe_stream_summary()
            .stream_name(format!("{}-events", self.prefix))
            .send()
            .await
            .unwrap()
            .stream_description_summary()
            .unwrap()
            .stream_arn()
            .to_owned()
    }

    async fn target(&self, arn: &str) {
        self.events()
            .put_targets()
            .rule(self.rule())
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("bucketwarden-stream")
                    .arn(arn)
                    .role_arn(format!(
                        "arn:aws:iam::{}:role/events-to-stream",
                        self.account
                    ))
                    .kinesis_parameters(
                        aws_sdk_eventbridge::types::KinesisParameters::builder()
                            .partition_key_path("$.detail.requestParameters.bucketName")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    async fn put_worker_policy(&self, drop_action: Option<&str>) {
        self.iam()
            .put_role_policy()
            .role_name(self.role())
            .policy_name("bucketwarden-worker")
            .policy_document(template_worker_policy(&self.template, drop_action))
            .send()
            .await
            .unwrap();
    }
}

/// The item `check` of the checklist.
fn item<'a>(doc: &'a Value, check: &str) -> &'a Value {
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["check"] == check)
        .unwrap_or_else(|| panic!("no item {check} in {doc:#}"))
}

/// Asserts `check` failed, its detail names `names` and its fix says `fix`, and the exit is 3.
fn assert_broken(code: i32, doc: &Value, check: &str, names: &str, fix: &str) {
    assert_eq!(code, 3, "{doc:#}");
    let i = item(doc, check);
    assert_eq!(i["status"], "fail", "{i:#}");
    assert!(i["detail"].as_str().unwrap().contains(names), "{i:#}");
    assert!(i["fix"].as_str().unwrap().contains(fix), "{i:#}");
    let failed: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "fail")
        .map(|i| i["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, [check], "only the broken piece fails: {doc:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_deployment_passes_and_the_canary_is_reported_as_not_available() {
    let d = Deployment::new(0).await;
    let (code, doc) = d.doctor(&[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["healthy"], true);
    for check in [
        "cloudtrail.logging",
        "cloudtrail.management-events",
        "cloudtrail.data-events",
        "eventbridge.rule",
        "eventbridge.pattern",
        "eventbridge.target",
        "stream",
        "table.lease",
        "table.dedup",
        "table.dedup.ttl",
        "table.state",
        "table.incidents",
        "table.dead-letters",
        "topic",
        "role.permissions",
    ] {
        assert_eq!(item(&doc, check)["status"], "ok", "{check}: {doc:#}");
        assert_eq!(item(&doc, check)["account"], d.account.as_str());
    }
    // No canary in this version: said, not passed.
    let canary = item(&doc, "canary.age");
    assert_eq!(canary["status"], "skipped");
    assert!(canary["detail"]
        .as_str()
        .unwrap()
        .contains("not available (no canary in this version)"));
    // The table form says the same, with the verdict last.
    let out = d.run(&["doctor", "--rule", &d.rule(), "--worker-role", &d.role()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("account {} (the fleet's)", d.account)),
        "{text}"
    );
    assert!(text.trim_end().ends_with("healthy (exit 0)"), "{text}");
    // Without --rule, the rule is found by its target, the stream (ListRuleNamesByTarget).
    let out = d.run(&["doctor", "--format", "json"]);
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        item(&found, "eventbridge.target")["status"],
        "ok",
        "{found:#}"
    );
    assert_eq!(
        item(&found, "role.permissions")["status"],
        "skipped",
        "{found:#}"
    );

    // Encrypted as the template sets it (Kinesis KMS, DynamoDB SSEEnabled, SNS KmsMasterKeyId),
    // the encryption warnings become ok.
    let (_, warned) = d.doctor(&[]);
    assert_eq!(item(&warned, "stream.encryption")["status"], "warn");
    aws_sdk_kinesis::Client::new(&d.config)
        .start_stream_encryption()
        .stream_name(format!("{}-events", d.prefix))
        .encryption_type(aws_sdk_kinesis::types::EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();
    // moto 5.2.5 ignores UpdateTable's SSESpecification (it reports SSE only for a table created
    // with it), so each table is made again as the template makes it: same key, SSEEnabled.
    let db = d.dynamodb();
    for (t, key, index) in [
        ("leases", "leaseKey", None),
        ("dedup", "eventId", None),
        ("state", "id", Some(("account-index", "account"))),
        ("incidents", "incidentId", None),
        ("dead-letters", "id", None),
    ] {
        db.delete_table()
            .table_name(d.table(t))
            .send()
            .await
            .unwrap();
        let attr = |n: &str| {
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        let hash = |n: &str| {
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap()
        };
        let mut create = db
            .create_table()
            .table_name(d.table(t))
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .attribute_definitions(attr(key))
            .key_schema(hash(key))
            .sse_specification(
                aws_sdk_dynamodb::types::SseSpecification::builder()
                    .enabled(true)
                    .build(),
            );
        if let Some((name, k)) = index {
            create = create
                .attribute_definitions(attr(k))
                .global_secondary_indexes(
                    aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                        .index_name(name)
                        .key_schema(hash(k))
                        .projection(
                            aws_sdk_dynamodb::types::Projection::builder()
                                .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                );
        }
        create.send().await.unwrap();
    }
    db.update_time_to_live()
        .table_name(d.table("dedup"))
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    aws_sdk_sns::Client::new(&d.config)
        .set_topic_attributes()
        .topic_arn(item(&warned, "topic")["detail"].as_str().unwrap())
        .attribute_name("KmsMasterKeyId")
        .attribute_value("alias/aws/sns")
        .send()
        .await
        .unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_eq!(code, 0, "{doc:#}");
    let warnings: Vec<&Value> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] != "ok" && i["check"] != "canary.age")
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// AWS (GetTrailStatus): IsLogging is "Whether the CloudTrail trail is currently logging Amazon
/// Web Services API calls"; a stopped trail delivers no event to EventBridge. AWS
/// (PutEventSelectors): "if the event matches any event selector, the trail processes and logs the
/// event. If the event doesn't match any event selector, the trail doesn't log the event."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_trail_and_a_missing_data_event_selector_are_named_with_their_fix() {
    let d = Deployment::new(1).await;
    let ct = d.cloudtrail();
    ct.stop_logging().name(d.trail()).send().await.unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "cloudtrail.logging",
        &d.trail(),
        &format!("aws cloudtrail start-logging --name {}", d.trail()),
    );
    ct.start_logging().name(d.trail()).send().await.unwrap();

    // Only management events: object ACLs (data events) are no longer recorded.
    let management = template_selectors(&d.template)
        .into_iter()
        .filter(|s| s.name() == Some("Management events"))
        .collect::<Vec<_>>();
    assert_eq!(management.len(), 1);
    ct.put_event_selectors()
        .trail_name(d.trail())
        .set_advanced_event_selectors(Some(management))
        .send()
        .await
        .unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "cloudtrail.data-events",
        "PutObjectAcl",
        "put-event-selectors",
    );
    assert_eq!(item(&doc, "cloudtrail.management-events")["status"], "ok");
    // A deployment without data events on purpose (S3DataEvents=none) is warned, not failed.
    let (code, doc) = d.doctor(&["--no-data-events"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(item(&doc, "cloudtrail.data-events")["status"], "warn");
}

/// AWS (DisableRule): "A disabled rule won't match any events". The pattern must match every
/// watched call of `EventName::ALL`, and the target must be the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_rule_a_narrowed_pattern_and_a_foreign_target_are_named_with_their_fix() {
    let d = Deployment::new(2).await;
    let ev = d.events();
    ev.disable_rule().name(d.rule()).send().await.unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "eventbridge.rule",
        "DISABLED",
        &format!("aws events enable-rule --name {}", d.rule()),
    );
    ev.enable_rule().name(d.rule()).send().await.unwrap();

    // A PutRule that drops PutObjectAcl from the pattern.
    let mut pattern = d.template["Resources"]["S3CallsRule"]["Properties"]["EventPattern"].clone();
    let names = pattern["detail"]["eventName"].as_array_mut().unwrap();
    names.retain(|n| n != "PutObjectAcl");
    ev.put_rule()
        .name(d.rule())
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "eventbridge.pattern",
        "PutObjectAcl",
        "put-rule",
    );
    let detail = item(&doc, "eventbridge.pattern")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("1 of the 23 watched calls"), "{detail}");
    let full = d.template["Resources"]["S3CallsRule"]["Properties"]["EventPattern"].to_string();
    ev.put_rule()
        .name(d.rule())
        .event_pattern(full)
        .send()
        .await
        .unwrap();

    // The target replaced by another stream.
    ev.remove_targets()
        .rule(d.rule())
        .ids("bucketwarden-stream")
        .send()
        .await
        .unwrap();
    let elsewhere = format!("arn:aws:kinesis:us-east-1:{}:stream/elsewhere", d.account);
    d.target(&elsewhere).await;
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "eventbridge.target",
        "elsewhere",
        "aws events put-targets",
    );
    // Found by target instead of by name, the rule is gone from the stream: named as such.
    let out = d.run(&["doctor", "--format", "json"]);
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(item(&found, "eventbridge.rule")["detail"]
        .as_str()
        .unwrap()
        .contains("no rule of the default bus targets the stream"));
}

/// A table the code reads and writes is gone, and the dedup table's TTL is off. AWS
/// (UpdateTimeToLive): "TTL compares the current time in epoch time format to the time stored in
/// the TTL attribute of an item. If the epoch time value stored in the attribute is less than the
/// current time, the item is marked as expired and subsequently deleted" — with TTL off, claims
/// are never deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_and_dedup_ttl_off_are_named_with_their_fix() {
    let d = Deployment::new(3).await;
    let db = d.dynamodb();
    db.update_time_to_live()
        .table_name(d.table("dedup"))
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "table.dedup.ttl",
        "DISABLED",
        "update-time-to-live",
    );

    let d = Deployment::new(4).await;
    d.dynamodb()
        .delete_table()
        .table_name(d.table("state"))
        .send()
        .await
        .unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "table.state",
        &d.table("state"),
        "bucketwarden init",
    );
}

/// A worker role trimmed of one action the code calls (src/aws/permissions.rs) fails, naming it;
/// a wildcard that covers it passes (AWS, IAM JSON policy elements: Action — "You can use
/// wildcards (* or ?) as part of the action name").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_missing_an_action_is_named_and_a_wildcard_counts() {
    let d = Deployment::new(5).await;
    d.put_worker_policy(Some("s3:PutObjectAcl")).await;
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "role.permissions",
        "s3:PutObjectAcl",
        "restore the role's policy",
    );

    d.iam()
        .put_role_policy()
        .role_name(d.role())
        .policy_name("objects")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:Put*Acl", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_eq!(code, 0, "{doc:#}");

    // An explicit Deny takes it away again.
    d.iam()
        .put_role_policy()
        .role_name(d.role())
        .policy_name("deny")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "s3:PutObjectAcl", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let (code, doc) = d.doctor(&[]);
    assert_broken(
        code,
        &doc,
        "role.permissions",
        "denied by inline deny",
        "restore",
    );
}

/// The member template's remediator role policy: its statements' actions, on every resource.
fn member_policy() -> String {
    let python = root().join(".venv/bin/python");
    let out = Command::new(python)
        .args([
            "-c",
            "import json,sys\nfrom cfnlint.decode import decode\nt,m=decode(sys.argv[1])\nassert not m, m\nprint(json.dumps(t))",
        ])
        .arg(root().join("deploy/member-account.yaml"))
        .output()
        .unwrap();
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statements: Vec<Value> = t["Resources"]["RemediatorRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({"Effect": "Allow", "Action": s["Action"], "Resource": "*"}))
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// A member account as deploy/member-account.yaml sets it up, checked through the assumed role
/// with `--all-accounts`: the role allows the S3 actions the code calls there, a trail logs, and
/// the forwarding rule targets the fleet account's bus. Then the rule is pointed at another
/// account's bus and the role loses an action: both are named for the member account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_account_is_checked_through_its_role() {
    let d = Deployment::new(6).await;
    let member = account_id(60);
    let (_, mc) = admin_of(&member).await;
    let iam = aws_sdk_iam::Client::new(&mc);
    iam.create_role()
        .role_name("bucketwarden-remediator")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", d.account)}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("bucketwarden-remediator")
        .policy_name("bucketwarden-remediator")
        .policy_document(member_policy())
        .send()
        .await
        .unwrap();
    started_trail(&mc, &d.template, &format!("{}-member-trail", d.prefix)).await;
    let ev = aws_sdk_eventbridge::Client::new(&mc);
    let pattern = d.template["Resources"]["S3CallsRule"]["Properties"]["EventPattern"].to_string();
    ev.put_rule()
        .name("bucketwarden-forward-s3-exposure-calls")
        .event_pattern(pattern)
        .send()
        .await
        .unwrap();
    let target = |bus_account: &str| {
        aws_sdk_eventbridge::types::Target::builder()
            .id("bucketwarden-central-bus")
            .arn(format!(
                "arn:aws:events:us-east-1:{bus_account}:event-bus/{}-org-events",
                d.prefix
            ))
            .role_arn(format!("arn:aws:iam::{member}:role/forward"))
            .build()
            .unwrap()
    };
    ev.put_targets()
        .rule("bucketwarden-forward-s3-exposure-calls")
        .targets(target(&d.account))
        .send()
        .await
        .unwrap();
    let text = std::fs::read_to_string(&d.config_path).unwrap();
    std::fs::write(
        &d.config_path,
        format!("{text}\n[accounts]\nallowed = [\"{member}\"]\n"),
    )
    .unwrap();

    let (code, doc) = d.doctor(&["--all-accounts"]);
    assert_eq!(code, 0, "{doc:#}");
    for check in [
        "role.assume",
        "role.permissions",
        "cloudtrail.logging",
        "cloudtrail.data-events",
        "eventbridge.rule",
        "eventbridge.pattern",
        "eventbridge.target",
    ] {
        let i = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["account"] == member.as_str() && i["check"] == check)
            .unwrap_or_else(|| panic!("{check} for {member}: {doc:#}"));
        assert_eq!(i["status"], "ok", "{i:#}");
    }
    // --account-id checks that member alone.
    let (code, doc) = d.doctor(&["--account-id", &member]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["account"] == member.as_str()));

    // The forwarding rule now sends to another account's bus; the role loses s3:PutObjectAcl.
    ev.put_targets()
        .rule("bucketwarden-forward-s3-exposure-calls")
        .targets(target("999999999999"))
        .send()
        .await
        .unwrap();
    let trimmed = member_policy().replace("\"s3:PutObjectAcl\"", "\"s3:GetObjectAcl\"");
    iam.put_role_policy()
        .role_name("bucketwarden-remediator")
        .policy_name("bucketwarden-remediator")
        .policy_document(trimmed)
        .send()
        .await
        .unwrap();
    let (code, doc) = d.doctor(&["--account-id", &member]);
    assert_eq!(code, 3, "{doc:#}");
    let failed: Vec<(&str, &str)> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "fail")
        .map(|i| (i["check"].as_str().unwrap(), i["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|(c, d)| *c == "eventbridge.target" && d.contains("999999999999")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|(c, d)| *c == "role.permissions" && d.contains("s3:PutObjectAcl")),
        "{failed:?}"
    );
    // An account outside [accounts] allowed is refused before any check (exit 1).
    let out = d.run(&["doctor", "--account-id", "123412341234"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[accounts] allowed"));
}

#[test]
fn help_states_the_checks_and_the_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_bucketwarden"))
        .args(["doctor", "--help"])
        .output()
        .unwrap();
    // Wrapped to the terminal's width: compared with whitespace collapsed.
    let help = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "read-only",
        "Exit status: 0 when nothing failed",
        "3 when a check",
        "4 when nothing failed but",
        "--format",
        "--all-accounts",
        "no canary",
        "Examples",
    ] {
        assert!(
            help.contains(needle),
            "doctor --help lacks {needle:?}:\n{help}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_bucketwarden"))
        .args(["doctor", "--account-id", "111122223333", "--all-accounts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A read that fails is an UNKNOWN item carrying the AWS error, never a crash and never a pass,
/// and the other checks go on: every CloudTrail and IAM call answered 500 by a fault proxy in
/// front of moto (moto itself does not fail them). Nothing failed, so the exit status is 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_read_is_unknown_with_its_error_and_the_other_checks_go_on() {
    let d = std::sync::Arc::new(Deployment::new(7).await);
    let proxy = FaultProxy::start(&moto().endpoint, 7, std::time::Duration::from_secs(1)).await;
    for service in ["cloudtrail", "iam"] {
        proxy.set_rates(
            service,
            Rates {
                server_error: 1.0,
                ..Rates::default()
            },
        );
    }
    let endpoint = proxy.endpoint.clone();
    let dd = d.clone();
    let out = tokio::task::spawn_blocking(move || {
        let (rule, role) = (dd.rule(), dd.role());
        dd.run_at(
            &endpoint,
            &[
                "doctor",
                "--format",
                "json",
                "--rule",
                &rule,
                "--worker-role",
                &role,
            ],
        )
    })
    .await
    .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(4), "{doc:#}");
    // The proxy's 500 carries no AWS error code the SDK can read ("Unknown"): the item names the
    // call that failed.
    for (check, call) in [
        ("cloudtrail.logging", "cloudtrail DescribeTrails"),
        ("role.permissions", "iam ListRolePolicies"),
    ] {
        let i = item(&doc, check);
        assert_eq!(i["status"], "unknown", "{i:#}");
        assert!(
            i["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("cannot read: {call}")),
            "{i:#}"
        );
        assert!(
            i["fix"].as_str().unwrap().contains("then run it again"),
            "{i:#}"
        );
    }
    for check in [
        "eventbridge.rule",
        "eventbridge.pattern",
        "eventbridge.target",
        "stream",
        "table.dedup.ttl",
        "topic",
    ] {
        assert_eq!(item(&doc, check)["status"], "ok", "{check}: {doc:#}");
    }
    assert!(proxy.injected_total(support::fault_proxy::Fault::ServerError) > 0);
}
