//! Deployment (issue: CloudFormation stack validated offline): cfn-lint on the template, its
//! EventBridge pattern run by a real pattern engine (EventBridge on moto, delivering to SQS) over
//! every replay fixture, and the worker role's actions tied to the calls in the source; the member
//! account template (deploy/member-account.yaml): its role's actions are the S3 calls the code
//! makes in a member account, and its rule forwards the same pattern to the central bus.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bucketwarden::aws::permissions::{
    conditions_of, member_actions, worker_actions, INIT_ONLY, NO_PERMISSION, ORGANIZATION_ONLY,
    UNCONDITIONABLE_WRITES, WORKER_CALLS,
};
use bucketwarden::core::input::{self, Item};
use bucketwarden::core::record::EventName;
use serde_json::{json, Value};
use support::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const TEMPLATE: &str = "deploy/bucketwarden.yaml";
const MEMBER_TEMPLATE: &str = "deploy/member-account.yaml";

/// The central template as JSON.
fn template() -> Value {
    template_at(TEMPLATE)
}

/// A template as JSON, read by cfn-lint's own decoder (it understands `!Ref` and friends).
fn template_at(path: &str) -> Value {
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "no .venv: run scripts/test.sh");
    let out = Command::new(python)
        .args([
            "-c",
            "import json,sys\nfrom cfnlint.decode import decode\nt,m=decode(sys.argv[1])\nassert not m, m\nprint(json.dumps(t))",
        ])
        .arg(root().join(path))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cfn_lint_passes_with_no_errors_or_warnings() {
    let out = Command::new(root().join(".venv/bin/cfn-lint"))
        .args([TEMPLATE, MEMBER_TEMPLATE])
        .current_dir(root())
        .output()
        .expect("cfn-lint from .venv (scripts/venv.sh installs it)");
    // cfn-lint's exit status is a bit set: 2 errors, 4 warnings, 8 informational.
    assert_eq!(
        out.status.code(),
        Some(0),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_rule_watches_exactly_the_designed_events_and_targets_the_stream_by_bucket() {
    let t = template();
    let rule = &t["Resources"]["S3CallsRule"]["Properties"];
    let names: BTreeSet<&str> = rule["EventPattern"]["detail"]["eventName"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let designed: BTreeSet<&str> = EventName::ALL.iter().map(|e| e.as_str()).collect();
    assert_eq!(names, designed);
    assert_eq!(rule["EventPattern"]["source"], json!(["aws.s3"]));
    let target = &rule["Targets"][0];
    assert_eq!(
        target["KinesisParameters"]["PartitionKeyPath"],
        "$.detail.requestParameters.bucketName"
    );
    assert!(target["DeadLetterConfig"]["Arn"].is_object());
    assert!(
        target["RetryPolicy"]["MaximumRetryAttempts"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Every `Action` granted to the worker role.
fn role_actions(t: &Value) -> BTreeSet<String> {
    actions_of(t, "WorkerRole")
}

/// Every statement of a role's policies, with the template condition it is granted under: a
/// statement written `!If [Cond, statement, !Ref AWS::NoValue]` counts as granted (under `Cond`).
fn statements_of<'a>(t: &'a Value, role: &str) -> Vec<(Option<String>, &'a Value)> {
    let mut out = Vec::new();
    for p in t["Resources"][role]["Properties"]["Policies"]
        .as_array()
        .unwrap()
    {
        for s in p["PolicyDocument"]["Statement"].as_array().unwrap() {
            match s.get("Fn::If") {
                Some(branches) => {
                    let b = branches.as_array().unwrap();
                    assert_eq!(b.len(), 3, "{s}");
                    assert_eq!(b[2], json!({"Ref": "AWS::NoValue"}), "{s}");
                    out.push((Some(b[0].as_str().unwrap().to_owned()), &b[1]));
                }
                None => out.push((None, s)),
            }
        }
    }
    out
}

/// Every `Action` granted to a role of a template.
fn actions_of(t: &Value, role: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, s) in statements_of(t, role) {
        assert_eq!(s["Effect"], "Allow");
        match &s["Action"] {
            Value::String(a) => {
                out.insert(a.clone());
            }
            Value::Array(a) => out.extend(a.iter().map(|x| x.as_str().unwrap().to_owned())),
            other => panic!("unexpected Action {other}"),
        }
    }
    out
}

#[test]
fn the_worker_role_grants_exactly_the_calls_the_code_makes() {
    let granted = role_actions(&template());
    for a in &granted {
        assert!(!a.contains('*'), "wildcard action {a}");
    }
    let needed: BTreeSet<String> = worker_actions().into_iter().map(str::to_owned).collect();
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "worker role vs src/aws/permissions.rs: missing {missing:?}, extra {extra:?}"
    );
}

/// AWS (ListAccounts): "You can only call this operation from the management account or a member
/// account that is a delegated administrator." The worker role gets `organizations:ListAccounts`
/// only when the fleet uses it (`MemberAccounts=organization`), and every other grant is
/// unconditional on that.
#[test]
fn organizations_list_accounts_is_granted_only_with_allowed_organization() {
    let t = template();
    let mut seen = BTreeSet::new();
    for (cond, s) in statements_of(&t, "WorkerRole") {
        let actions: Vec<String> = match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
            other => panic!("unexpected Action {other}"),
        };
        for a in actions {
            let only_with_org = ORGANIZATION_ONLY.contains(&a.as_str());
            assert_eq!(
                cond.as_deref(),
                only_with_org.then_some("AllowOrganization"),
                "{a}: granted under {cond:?}"
            );
            seen.insert(a);
        }
    }
    for a in ORGANIZATION_ONLY {
        assert!(seen.contains(a), "{a} is not granted at all");
        assert!(worker_actions().contains(&a), "{a} is not a worker call");
    }
    assert_eq!(
        t["Conditions"]["AllowOrganization"],
        json!({"Fn::Equals": [{"Ref": "MemberAccounts"}, "organization"]})
    );
    let deploy = std::fs::read_to_string(root().join("docs/DEPLOY.md")).unwrap();
    assert!(
        deploy.contains("organizations:ListAccounts") && deploy.contains("delegated administrator"),
        "docs/DEPLOY.md must say where ListAccounts works"
    );
}

/// Each granted action with the action-specific conditions of the statement granting it (every
/// key but the scopes `aws:ResourceAccount`/`aws:ResourceOrgID`, which grants share), as
/// (operator, key, value) triples.
fn role_conditions(t: &Value) -> BTreeMap<String, BTreeSet<(String, String, String)>> {
    let mut out: BTreeMap<String, BTreeSet<(String, String, String)>> = BTreeMap::new();
    for (_, s) in statements_of(t, "WorkerRole") {
        let mut conds = BTreeSet::new();
        // A condition chosen by `Fn::If` counts with both of its branches.
        let blocks: Vec<&Value> = match s["Condition"].get("Fn::If") {
            Some(branches) => branches.as_array().unwrap()[1..].iter().collect(),
            None => vec![&s["Condition"]],
        };
        for c in blocks.iter().filter_map(|c| c.as_object()) {
            for (op, kv) in c {
                for (k, v) in kv.as_object().unwrap() {
                    // Scopes to the fleet's own account or organization, shared by grants.
                    if k == "aws:ResourceAccount" || k == "aws:ResourceOrgID" {
                        continue;
                    }
                    let v = v.as_str().unwrap_or_else(|| panic!("{k}: one fixed value"));
                    conds.insert((op.clone(), k.clone(), v.to_owned()));
                }
            }
        }
        let actions: Vec<String> = match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
            other => panic!("unexpected Action {other}"),
        };
        for a in actions {
            assert!(
                out.insert(a.clone(), conds.clone()).is_none(),
                "{a} is granted by more than one statement: one must not widen the other"
            );
        }
    }
    out
}

/// A stolen worker credential must not be able to open anything: the writes S3 lets IAM narrow
/// are narrowed, in the template exactly as in src/aws/permissions.rs.
#[test]
fn the_worker_role_conditions_equal_those_in_permissions_rs() {
    let granted = role_conditions(&template());
    for (action, conds) in &granted {
        let want: BTreeSet<(String, String, String)> = conditions_of(action)
            .into_iter()
            .map(|c| (c.operator.to_owned(), c.key.to_owned(), c.value.to_owned()))
            .collect();
        assert_eq!(
            conds, &want,
            "conditions of {action}: template vs permissions.rs"
        );
    }
    // The ACL reset is limited to the canned private ACL.
    assert!(granted["s3:PutObjectAcl"].contains(&(
        "StringEquals".to_owned(),
        "s3:x-amz-acl".to_owned(),
        "private".to_owned()
    )));
    // Writes with no limiting key are still granted (remediation needs them) and are the ones
    // docs/SECURITY.md covers by detection instead.
    for a in UNCONDITIONABLE_WRITES {
        assert!(granted.contains_key(a), "{a}");
        assert!(conditions_of(a).is_empty(), "{a}");
    }
    let security = std::fs::read_to_string(root().join("docs/SECURITY.md")).unwrap();
    for a in UNCONDITIONABLE_WRITES {
        assert!(
            security.contains(a),
            "docs/SECURITY.md does not discuss {a}"
        );
    }
}

/// Who can put records on the stream is the boundary a forged record must cross: only the
/// EventBridge rule's role may (docs/SECURITY.md).
#[test]
fn only_the_eventbridge_rule_may_put_records_on_the_stream() {
    let t = template();
    let p = &t["Resources"]["StreamResourcePolicy"]["Properties"];
    assert_eq!(p["ResourceArn"], json!({"Fn::GetAtt": ["Stream", "Arn"]}));
    let statements = p["ResourcePolicy"]["Statement"].as_array().unwrap();
    let deny = statements
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .expect("a Deny statement");
    assert_eq!(deny["Principal"], "*");
    let actions: BTreeSet<&str> = deny["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from(["kinesis:PutRecord", "kinesis:PutRecords"])
    );
    assert_eq!(
        deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"],
        json!({"Fn::GetAtt": ["EventsToStreamRole", "Arn"]})
    );
    // The rule's target uses that role.
    assert_eq!(
        t["Resources"]["S3CallsRule"]["Properties"]["Targets"][0]["RoleArn"],
        json!({"Fn::GetAtt": ["EventsToStreamRole", "Arn"]})
    );
}

#[test]
fn the_member_role_grants_exactly_the_s3_calls_made_in_a_member_account() {
    let t = template_at(MEMBER_TEMPLATE);
    let granted = actions_of(&t, "RemediatorRole");
    for a in &granted {
        assert!(!a.contains('*'), "wildcard action {a}");
    }
    let needed: BTreeSet<String> = member_actions().into_iter().map(str::to_owned).collect();
    assert!(needed.iter().all(|a| a.starts_with("s3:")), "{needed:?}");
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "member role vs src/aws/permissions.rs member_actions(): missing {missing:?}, extra {extra:?}"
    );
    // Every S3 action the central worker role has, the member role has too: what the fleet
    // does in its own account it can do in a member.
    let central_s3: BTreeSet<String> = role_actions(&template())
        .into_iter()
        .filter(|a| a.starts_with("s3:"))
        .collect();
    assert_eq!(central_s3, granted);

    // Trust: only the fleet's worker role, and only with the external id.
    let role = &t["Resources"]["RemediatorRole"]["Properties"];
    let trust = role["AssumeRolePolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    assert_eq!(trust.len(), 1, "{trust:?}");
    assert_eq!(trust[0]["Effect"], "Allow");
    assert_eq!(trust[0]["Action"], "sts:AssumeRole");
    assert_eq!(
        trust[0]["Principal"],
        json!({"AWS": {"Ref": "WorkerRoleArn"}})
    );
    assert_eq!(
        trust[0]["Condition"]["StringEquals"]["sts:ExternalId"],
        json!({"Ref": "ExternalId"})
    );
    assert_eq!(role["RoleName"], json!({"Ref": "RoleName"}));
}

#[test]
fn every_rule_forwards_the_same_pattern_and_the_bus_admits_only_the_organization() {
    let central = template();
    let member = template_at(MEMBER_TEMPLATE);
    let pattern = &central["Resources"]["S3CallsRule"]["Properties"]["EventPattern"];
    let org_rule = &central["Resources"]["CentralS3CallsRule"]["Properties"];
    assert_eq!(&org_rule["EventPattern"], pattern);
    assert_eq!(org_rule["EventBusName"], json!({"Ref": "CentralBus"}));
    assert_eq!(
        org_rule["Targets"][0], central["Resources"]["S3CallsRule"]["Properties"]["Targets"][0],
        "the central rule targets the stream like the account's own rule"
    );
    let fwd = &member["Resources"]["ForwardS3CallsRule"]["Properties"];
    assert_eq!(&fwd["EventPattern"], pattern);
    assert_eq!(
        fwd["Targets"][0]["Arn"],
        json!({"Ref": "CentralEventBusArn"})
    );

    let policy = &central["Resources"]["CentralBusPolicy"]["Properties"]["Statement"];
    assert_eq!(policy["Action"], "events:PutEvents");
    assert_eq!(
        policy["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        json!({"Ref": "OrganizationId"})
    );

    // The worker may assume the member role by name in any account (of the organization).
    let statements: Vec<Value> = central["Resources"]["WorkerRole"]["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
        .collect();
    let assume = statements
        .iter()
        .find(|s| s["Action"] == "sts:AssumeRole")
        .expect("the worker role may assume the member role");
    assert_eq!(
        assume["Resource"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"})
    );
    assert_eq!(
        assume["Condition"]["Fn::If"][1]["StringEquals"]["aws:ResourceOrgID"],
        json!({"Ref": "OrganizationId"})
    );
}

/// The SDK operations (fluent method names) of each AWS SDK crate the product uses, from the
/// crates' own `src/operation/` directories.
fn sdk_operations() -> BTreeMap<String, BTreeSet<String>> {
    // Only the host's packages: `cargo build` downloads no other platform's crates, so on a fresh
    // machine (empty cargo home) an unfiltered `--offline` metadata call fails on them.
    let host = host_triple();
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &host])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ops = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let Some(service) = name.strip_prefix("aws-sdk-") else {
            continue;
        };
        if ![
            "kinesis",
            "dynamodb",
            "s3",
            "s3control",
            "sns",
            "sts",
            "organizations",
        ]
        .contains(&service)
        {
            continue;
        }
        let dir = Path::new(p["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .join("src/operation");
        let set: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| {
                let n = e.ok()?.file_name().into_string().ok()?;
                n.strip_suffix(".rs").map(str::to_owned).or(Some(n))
            })
            .filter(|n| n != "mod")
            .collect();
        ops.insert(service.to_owned(), set);
    }
    assert_eq!(ops.len(), 7, "{:?}", ops.keys());
    ops
}

/// The host's target triple, from the rustc that cargo uses.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .trim()
        .to_owned()
}

/// Every `.rs` file under `dir`, depth first.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `.name()` calls in the source that name an SDK operation.
fn sdk_calls_in(file: &Path, all_ops: &BTreeSet<String>) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or(&text);
    let mut found = BTreeSet::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("()") {
        let start = text[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |p| p + 1);
        if start == 0 || bytes[start - 1] != b'.' {
            continue;
        }
        let name = &text[start..i];
        if all_ops.contains(name) {
            found.insert(name.to_owned());
        }
    }
    found
}

#[test]
fn every_sdk_call_in_the_worker_is_listed_with_its_permission() {
    let ops = sdk_operations();
    let all: BTreeSet<String> = ops.values().flatten().cloned().collect();
    // The development tools, the operator-run scan and doctor (and doctor's read-only readers),
    // and replay's archive reader are not part of a deployed worker.
    let not_worker = [
        "src/dev_trail/",
        "src/commands/init.rs",
        "src/commands/scan.rs",
        "src/commands/doctor/",
        "src/aws/trail_read.rs",
        "src/aws/rule_read.rs",
        "src/aws/iam_read.rs",
        "src/aws/fleet_read.rs",
        "src/aws/s3_archive.rs",
    ];
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut found = BTreeSet::new();
    for path in files {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !not_worker.iter().any(|n| rel.starts_with(n)) {
            found.extend(sdk_calls_in(&path, &all));
        }
    }
    let listed: BTreeSet<String> = WORKER_CALLS
        .iter()
        .map(|c| c.operation.to_owned())
        .collect();
    for op in &found {
        assert!(
            listed.contains(op)
                || INIT_ONLY.contains(&op.as_str())
                || NO_PERMISSION.contains(&op.as_str()),
            "the source calls {op} but src/aws/permissions.rs does not list it (the deployed role would deny it)"
        );
    }
    for c in &WORKER_CALLS {
        assert!(
            found.contains(c.operation),
            "{} is listed but no longer called: remove it and its permission",
            c.operation
        );
        assert!(
            ops[c.service].contains(c.operation),
            "{}.{} is not an SDK operation",
            c.service,
            c.operation
        );
    }
}

/// One fixture record as EventBridge would carry it, with an index to recognise it by.
fn as_eventbridge(index: usize, record: &Value) -> Option<(String, String, Value)> {
    let (source, detail_type, mut detail) = if record.get("detail-type").is_some() {
        (
            record["source"].as_str()?.to_owned(),
            record["detail-type"].as_str()?.to_owned(),
            record["detail"].clone(),
        )
    } else {
        let service = record["eventSource"]
            .as_str()?
            .split('.')
            .next()?
            .to_owned();
        (
            format!("aws.{service}"),
            "AWS API Call via CloudTrail".to_owned(),
            record.clone(),
        )
    };
    detail
        .as_object_mut()?
        .insert("testIndex".into(), json!(index));
    Some((source, detail_type, detail))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_pattern_on_eventbridge_matches_each_watched_call_and_nothing_else() {
    let t = template();
    let pattern = t["Resources"]["S3CallsRule"]["Properties"]["EventPattern"].clone();

    // Every fixture record, in the shape EventBridge delivers.
    let files = input::expand_paths(&[root().join("replay-fixtures")]).unwrap();
    let mut events = Vec::new();
    for f in &files {
        input::read_file(f, |item| {
            if let Item::Record { bytes, .. } = item {
                if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
                    if let Some(e) = as_eventbridge(events.len(), &v) {
                        events.push(e);
                    }
                }
            }
        })
        .unwrap();
    }
    let watched: BTreeSet<&str> = EventName::ALL.iter().map(|e| e.as_str()).collect();
    let expected: BTreeSet<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, (source, dt, d))| {
            source == "aws.s3"
                && dt == "AWS API Call via CloudTrail"
                && d["eventName"].as_str().is_some_and(|n| watched.contains(n))
        })
        .map(|(i, _)| i)
        .collect();
    assert!(events.len() > 150 && expected.len() > 100 && expected.len() < events.len());

    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto().endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let eb = aws_sdk_eventbridge::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let prefix = format!("t{}-pattern", std::process::id());
    let queue_url = sqs
        .create_queue()
        .queue_name(&prefix)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let queue_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{prefix}");
    let bus = format!("{prefix}-bus");
    eb.create_event_bus().name(&bus).send().await.unwrap();
    eb.put_rule()
        .name(&prefix)
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule(&prefix)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    for chunk in events.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .map(|(source, dt, detail)| {
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&bus)
                    .source(source)
                    .detail_type(dt)
                    .detail(detail.to_string())
                    .build()
            })
            .collect();
        let r = eb
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(r.failed_entry_count(), 0, "{r:?}");
    }

    // Drain the queue until nothing more arrives.
    let mut got: BTreeMap<usize, usize> = BTreeMap::new();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2) {
        let r = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if r.messages().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        quiet_since = Instant::now();
        for m in r.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let i = body["detail"]["testIndex"].as_u64().unwrap() as usize;
            *got.entry(i).or_default() += 1;
            sqs.delete_message()
                .queue_url(&queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    let delivered: BTreeSet<usize> = got.keys().copied().collect();
    let name = |i: &usize| {
        let (s, dt, d) = &events[*i];
        format!("#{i} {s} {dt} {}", d["eventName"])
    };
    let missed: Vec<String> = expected.difference(&delivered).map(name).collect();
    let wrong: Vec<String> = delivered.difference(&expected).map(name).collect();
    assert!(
        missed.is_empty() && wrong.is_empty(),
        "pattern missed {missed:?}, matched unwatched {wrong:?}"
    );
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
}

/// The outbox's index (docs/RELIABILITY.md): AWS, "Take advantage of sparse indexes": "For any
/// item in a table, DynamoDB writes a corresponding index entry only if the index sort key value
/// is present in the item. If the sort key doesn't appear in every table item, or if the index
/// partition key doesn't appear in every table item, the index is said to be sparse." The
/// template's incident table has the index `bucketwarden init` creates (on moto, with the code's
/// names), `init` adds it to a table made before it existed, and the worker role may query it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_index_of_the_template_is_the_one_init_creates_and_the_worker_may_query() {
    use bucketwarden::aws::incident::{IncidentTable, OWED, OWED_INDEX, OWED_SINCE};
    let t = template();
    let table = &t["Resources"]["IncidentTable"]["Properties"];
    let in_template = table["GlobalSecondaryIndexes"]
        .as_array()
        .expect("the incident table has indexes")
        .iter()
        .find(|i| i["IndexName"] == OWED_INDEX)
        .unwrap_or_else(|| panic!("the incident table has no {OWED_INDEX} index"));
    assert_eq!(in_template["Projection"]["ProjectionType"], "ALL");
    for key in [OWED, OWED_SINCE] {
        assert!(
            table["AttributeDefinitions"]
                .as_array()
                .unwrap()
                .contains(&json!({"AttributeName": key, "AttributeType": "S"})),
            "{key} is a string attribute: {}",
            table["AttributeDefinitions"]
        );
    }
    let clients = clients().await;
    let key_schema = |name: String| {
        let c = clients.dynamodb.clone();
        async move {
            let d = c.describe_table().table_name(&name).send().await.unwrap();
            let table = d.table().unwrap();
            let gsi = table
                .global_secondary_indexes()
                .iter()
                .find(|g| g.index_name() == Some(OWED_INDEX))
                .unwrap_or_else(|| panic!("{name}: no {OWED_INDEX} index"));
            assert_eq!(
                gsi.projection()
                    .and_then(|p| p.projection_type())
                    .map(|p| p.as_str()),
                Some("ALL")
            );
            Value::Array(
                gsi.key_schema()
                    .iter()
                    .map(|k| json!({"AttributeName": k.attribute_name(), "KeyType": k.key_type().as_str()}))
                    .collect(),
            )
        }
    };
    let fresh = format!("t{}-deploy-incidents", std::process::id());
    assert!(IncidentTable::new(clients.clone(), &fresh)
        .create_if_missing()
        .await
        .unwrap());
    assert_eq!(key_schema(fresh).await, in_template["KeySchema"]);
    // A table made before the index existed gets it from `init`.
    let older = format!("t{}-deploy-older-incidents", std::process::id());
    bucketwarden::aws::table::create_if_missing(
        &clients.dynamodb,
        bucketwarden::aws::table::TableSpec {
            name: &older,
            key: "incidentId",
            index: None,
        },
    )
    .await
    .unwrap();
    assert!(!IncidentTable::new(clients.clone(), &older)
        .create_if_missing()
        .await
        .unwrap());
    assert_eq!(key_schema(older).await, in_template["KeySchema"]);
    let fleet_tables = statements_of(&t, "WorkerRole")
        .into_iter()
        .find(|(_, s)| s["Sid"] == "FleetTables")
        .expect("the FleetTables statement")
        .1;
    let index_arn = json!({"Fn::Sub": format!("${{IncidentTable.Arn}}/index/{OWED_INDEX}")});
    assert!(
        fleet_tables["Resource"]
            .as_array()
            .unwrap()
            .contains(&index_arn),
        "the worker may not query {OWED_INDEX}: {}",
        fleet_tables["Resource"]
    );
}
