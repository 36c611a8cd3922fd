//! `bucketwarden check` over tests/check-corpus/: every case (cases.json, written by make.py with
//! the AWS sentence it rests on) is checked by the real binary and its JSON report compared with
//! the expected verdicts; the exit status with what the verdicts say.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check-corpus")
}

fn run(args: &[&str], paths: &[PathBuf]) -> (Option<i32>, Value, String) {
    let out = Command::cargo_bin("bucketwarden")
        .unwrap()
        .arg("check")
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code(), json, stdout)
}

fn findings(report: &Value) -> Vec<&Value> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["findings"].as_array().unwrap())
        .collect()
}

#[test]
fn every_corpus_case_gets_its_expected_verdict() {
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("cases.json")).unwrap())
            .unwrap();
    assert!(cases.len() >= 40, "the corpus lost cases");
    let mut problems = Vec::new();
    for case in &cases {
        let file = case["file"].as_str().unwrap();
        let path = corpus().join(file);
        let (code, report, raw) = run(&["--format", "json"], std::slice::from_ref(&path));
        let found = findings(&report);
        let mut failing = false;
        for (address, verdict) in case["expect"].as_object().unwrap() {
            let address = if address.ends_with(".json") && !address.contains('/') {
                address.clone()
            } else if address.starts_with("documents/") {
                path.display().to_string()
            } else {
                address.clone()
            };
            failing |= matches!(verdict.as_str(), Some("public" | "unknown"));
            let hit = found.iter().any(|f| {
                (f["address"] == address.as_str()
                    || f["resources"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x == address.as_str())))
                    && f["verdict"] == *verdict
            });
            if !hit {
                problems.push(format!("{file}: expected {address} {verdict}, got {raw}"));
            }
        }
        // Every Terraform case manages one bucket: a resource that failed to join to it would
        // show as a second, unmanaged bucket.
        if file.starts_with("terraform/") {
            let buckets = found.iter().filter(|f| f["key"].is_null()).count();
            if buckets != 1 {
                problems.push(format!("{file}: {buckets} buckets, expected 1: {raw}"));
            }
        }
        // Nothing beyond what the case expects fails.
        let got_failing = found.iter().any(|f| f["fails"] == true);
        if got_failing != failing {
            problems.push(format!("{file}: failing {got_failing}, expected {failing}"));
        }
        let want_code = if failing { 4 } else { 0 };
        if code != Some(want_code) {
            problems.push(format!("{file}: exit {code:?}, expected {want_code}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn bad_input_is_reported_with_its_position_and_the_rest_checked() {
    let dir = tempdir();
    std::fs::write(
        dir.join("broken.json"),
        "{\n  \"Resources\": {\n    \"A\": [1,,]\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("broken.yaml"), "Resources:\n  A: [unclosed\n").unwrap();
    let good = corpus().join("terraform/policy-public.json");
    let (code, report, _) = run(
        &["--format", "json"],
        &[dir.join("broken.json"), dir.join("broken.yaml"), good],
    );
    assert_eq!(code, Some(4), "the good file is still checked");
    assert_eq!(report["summary"]["errors"], 2);
    assert_eq!(report["files"][0]["error"]["line"], 3);
    assert!(report["files"][1]["error"]["line"].is_number());
    assert_eq!(report["summary"]["public"], 1);
    // A plan whose resource_changes is not a list checked nothing: an error, not a pass.
    std::fs::write(
        dir.join("plan.json"),
        r#"{"format_version":"1.2","resource_changes":5}"#,
    )
    .unwrap();
    let (code, report, _) = run(&["--format", "json"], &[dir.join("plan.json")]);
    assert_eq!(
        (code, &report["summary"]["errors"]),
        (Some(1), &Value::from(1))
    );
    // A setting that cannot be read is reported and judged unknown, never assumed safe.
    std::fs::write(
        dir.join("t.yaml"),
        "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      AccessControl: Everyone\n      OwnershipControls: {Rules: [{ObjectOwnership: ObjectWriter}]}\n      PublicAccessBlockConfiguration: {}\n",
    )
    .unwrap();
    let (code, report, _) = run(&["--format", "json"], &[dir.join("t.yaml")]);
    assert_eq!(code, Some(4));
    assert_eq!(report["files"][0]["error"]["line"], 2);
    assert_eq!(findings(&report)[0]["verdict"], "unknown");
    // Only bad input: exit 1, never 0.
    let (code, _, _) = run(&[], &[dir.join("broken.json")]);
    assert_eq!(code, Some(1));
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, _) = run(&["--format", "xml"], &[corpus().join("documents")]);
    assert_eq!(code, Some(2));
    let (code, _, _) = run(&[], &[]);
    assert_eq!(code, Some(2));
}

#[test]
fn the_account_block_decides_and_a_failing_deploy_is_said() {
    // AWS: BlockPublicPolicy — "PUT Bucket policy calls fail if the specified bucket policy
    // allows public access." With the account's block on, the public policy is refused.
    let plan = corpus().join("terraform/policy-public.json");
    let (code, report, _) = run(
        &["--format", "json", "--assume-account-block", "on"],
        std::slice::from_ref(&plan),
    );
    assert_eq!(code, Some(0));
    let f = findings(&report);
    assert_eq!(f[0]["verdict"], "deploy-fails");
    assert!(f[0]["reasons"][0]
        .as_str()
        .unwrap()
        .ends_with(":BlockPublicPolicy@account"));
    // With it off the assumption disappears from the reasons.
    let (code, report, _) = run(
        &["--format", "json", "--assume-account-block", "off"],
        std::slice::from_ref(&plan),
    );
    assert_eq!(code, Some(4));
    let reasons = findings(&report)[0]["reasons"].to_string();
    assert!(
        !reasons.contains("assumed:RestrictPublicBuckets-off@account"),
        "{reasons}"
    );
    // From a file as `aws s3control get-public-access-block` prints it.
    let dir = tempdir();
    let block = dir.join("block.json");
    std::fs::write(&block, r#"{"PublicAccessBlockConfiguration":{"BlockPublicAcls":false,"IgnorePublicAcls":false,"BlockPublicPolicy":false,"RestrictPublicBuckets":true}}"#).unwrap();
    let (code, report, _) = run(
        &[
            "--format",
            "json",
            "--account-block",
            block.to_str().unwrap(),
        ],
        &[plan],
    );
    assert_eq!(code, Some(0));
    assert!(findings(&report)[0]["reasons"][0]
        .as_str()
        .unwrap()
        .ends_with(":restricted-by:RestrictPublicBuckets@account"));
}

#[test]
fn exemptions_from_the_config_are_the_deciders() {
    let dir = tempdir();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[exemptions.accounts.\"111122223333\"]\nbuckets = [\"corpus-*\"]\n",
    )
    .unwrap();
    let plan = corpus().join("terraform/policy-public.json");
    let args = ["--format", "json", "--config", config.to_str().unwrap()];
    let (code, report, _) = run(&args, std::slice::from_ref(&plan));
    assert_eq!(code, Some(4), "another account's exemption does not apply");
    assert_eq!(findings(&report)[0]["exempt"], false);
    let mut with_account = args.to_vec();
    with_account.extend(["--account-id", "111122223333"]);
    let (code, report, _) = run(&with_account, &[plan]);
    assert_eq!(code, Some(0));
    assert_eq!(findings(&report)[0]["exempt"], true);
    assert_eq!(findings(&report)[0]["rule"], "exempt_by_name");
}

#[test]
fn sarif_has_a_stable_rule_per_reason_and_a_location() {
    let (code, sarif, _) = run(&["--format", "sarif"], &[corpus().join("terraform")]);
    assert_eq!(code, Some(4));
    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    let rules: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for want in [
        "acl-AllUsers",
        "acl-AuthenticatedUsers",
        "policy-principal-star",
        "policy-principal-federated",
        "unknown-value",
        "deploy-fails-BlockPublicPolicy-account",
    ] {
        assert!(rules.contains(&want), "{want} not in {rules:?}");
    }
    for r in run0["results"].as_array().unwrap() {
        assert!(rules.contains(&r["ruleId"].as_str().unwrap()));
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with(".json"));
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bw-check-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_exempting_tag_declared_in_the_plan_exempts_unless_tag_setters_is_set() {
    let dir = tempdir();
    let plan = corpus().join("terraform/tagged-public-policy.json");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[exemptions]\ntags = { \"bucketwarden:allow-public\" = \"true\" }\n",
    )
    .unwrap();
    let (code, report, _) = run(
        &["--format", "json", "--config", config.to_str().unwrap()],
        std::slice::from_ref(&plan),
    );
    assert_eq!(code, Some(0));
    let f = findings(&report);
    assert_eq!(
        (f[0]["verdict"].as_str(), f[0]["rule"].as_str()),
        (Some("public"), Some("exempt_by_tag"))
    );
    // With tag_setters, a tag counts only once the fleet saw an authorised identity set it; a
    // plan names no setter, so the tag is ignored, as the decider ignores it for a live read.
    std::fs::write(
        &config,
        "[exemptions]\ntags = { \"bucketwarden:allow-public\" = \"true\" }\ntag_setters = [\"arn:aws:iam::111122223333:role/platform\"]\n",
    )
    .unwrap();
    let (code, _, _) = run(
        &["--format", "json", "--config", config.to_str().unwrap()],
        &[plan],
    );
    assert_eq!(code, Some(4));
}

#[test]
fn help_has_examples_and_exit_status() {
    let out = Command::cargo_bin("bucketwarden")
        .unwrap()
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Examples",
        "Exit status",
        "terraform show -json",
        "--format sarif",
        "--account-block",
        "cdk.out",
    ] {
        assert!(
            help.contains(needle),
            "check --help lacks {needle}:\n{help}"
        );
    }
}
