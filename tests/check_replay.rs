//! `check` and `replay` agree: for every golden scenario whose history ends in a state a template
//! can declare (tests/check-replay/<scenario>.template.json for CloudFormation,
//! <scenario>.plan.json for a Terraform plan, written by make.py), each bucket's and each object's
//! final exposure in the replay transcript is `check`'s verdict on the template, and the action
//! replay decided when it became public (remediate, or alert for an exempt bucket) is `check`'s
//! (failing, or exempt) — under the scenario's own config. The scenarios that cannot be written
//! so are listed, with why, in tests/check-replay/README.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A bucket (key `None`) or one of its objects.
type Target = (String, Option<String>);

/// Per bucket and per object: (public at the end, the action of its last became_public line).
/// A line with no bucket (an access point whose bucket the history never named) is left out.
fn replay(dir: &Path) -> (String, BTreeMap<Target, (bool, Option<String>)>) {
    let mut cmd = Command::cargo_bin("bucketwarden").unwrap();
    cmd.arg("replay").arg("--no-progress");
    if dir.join("config.toml").exists() {
        cmd.arg("--config").arg(dir.join("config.toml"));
    }
    let out = cmd.arg(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "replay {}", dir.display());
    let mut account = String::new();
    let mut state: BTreeMap<Target, (bool, Option<String>)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let l: Value = serde_json::from_str(line).unwrap();
        let Some(bucket) = l["bucket"].as_str() else {
            continue;
        };
        account = l["account"].as_str().unwrap().to_owned();
        let key = l["key"].as_str().map(str::to_owned);
        let e = state.entry((bucket.to_owned(), key)).or_default();
        e.0 = l["exposure"] == "public";
        if l["transition"] == "became_public" {
            e.1 = l["action"].as_str().map(str::to_owned);
        }
    }
    (account, state)
}

#[test]
fn check_gives_replays_verdict_for_every_scenario_written_as_a_template() {
    let mut templates: Vec<PathBuf> = std::fs::read_dir(root().join("tests/check-replay"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".template.json") || name.ends_with(".plan.json")
        })
        .collect();
    templates.sort();
    assert!(templates.len() >= 24, "scenarios lost");
    let mut problems = Vec::new();
    for t in &templates {
        let scenario = t
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".template.json")
            .trim_end_matches(".plan.json")
            .to_owned();
        let dir = root().join("replay-fixtures").join(&scenario);
        let (account, replayed) = replay(&dir);
        let mut cmd = Command::cargo_bin("bucketwarden").unwrap();
        cmd.args(["check", "--format", "json", "--account-id", &account]);
        if dir.join("config.toml").exists() {
            cmd.arg("--config").arg(dir.join("config.toml"));
        }
        let out = cmd.arg(t).output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            report["files"][0]["error"].is_null(),
            "{scenario}: {}",
            report["files"][0]["error"]
        );
        let findings = report["files"][0]["findings"].as_array().unwrap();
        assert_eq!(
            findings.len(),
            replayed.len(),
            "{scenario}: buckets and objects differ: replay {:?}",
            replayed.keys().collect::<Vec<_>>()
        );
        for ((bucket, key), (public, action)) in &replayed {
            let what = match key {
                Some(k) => format!("{bucket}/{k}"),
                None => bucket.clone(),
            };
            let Some(f) = findings
                .iter()
                .find(|f| f["bucket"] == bucket.as_str() && f["key"].as_str() == key.as_deref())
            else {
                problems.push(format!("{scenario}: {what} not checked"));
                continue;
            };
            // Every value of these templates is known, so `unknown` is never the right answer;
            // not public is `not-public`, or `deploy-fails` when S3 would refuse a call (21).
            let agrees = match f["verdict"].as_str() {
                Some("public") => *public,
                Some("not-public" | "deploy-fails") => !*public,
                _ => false,
            };
            if !agrees {
                problems.push(format!(
                    "{scenario}: {what}: replay public={public}, check {}",
                    f["verdict"]
                ));
            }
            if *public {
                let check_action = if f["fails"] == true {
                    "remediate"
                } else {
                    "alert"
                };
                if action.as_deref() != Some(check_action) {
                    problems.push(format!(
                        "{scenario}: {what}: replay {action:?}, check {check_action} ({})",
                        f["rule"]
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
