//! `check` and `replay` agree: for every golden scenario whose history ends in a state a template
//! can declare (tests/check-replay/<scenario>.template.json, written by make.py), each bucket's
//! final exposure in the replay transcript is `check`'s verdict on the template, and the action
//! replay decided when it became public (remediate, or alert for an exempt bucket) is `check`'s
//! (failing, or exempt) — under the scenario's own config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Per bucket: (public at the end, the action of its last became_public line).
fn replay(dir: &Path) -> (String, BTreeMap<String, (bool, Option<String>)>) {
    let mut cmd = Command::cargo_bin("bucketwarden").unwrap();
    cmd.arg("replay").arg("--no-progress");
    if dir.join("config.toml").exists() {
        cmd.arg("--config").arg(dir.join("config.toml"));
    }
    let out = cmd.arg(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "replay {}", dir.display());
    let mut account = String::new();
    let mut state: BTreeMap<String, (bool, Option<String>)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let l: Value = serde_json::from_str(line).unwrap();
        let (Some(bucket), true) = (l["bucket"].as_str(), l["key"].is_null()) else {
            continue;
        };
        account = l["account"].as_str().unwrap().to_owned();
        let e = state.entry(bucket.to_owned()).or_default();
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
        .filter(|p| p.to_string_lossy().ends_with(".template.json"))
        .collect();
    templates.sort();
    assert!(templates.len() >= 9, "scenarios lost");
    let mut problems = Vec::new();
    for t in &templates {
        let scenario = t
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".template.json")
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
        let findings = report["files"][0]["findings"].as_array().unwrap();
        assert_eq!(findings.len(), replayed.len(), "{scenario}: buckets differ");
        for (bucket, (public, action)) in &replayed {
            let Some(f) = findings.iter().find(|f| f["bucket"] == bucket.as_str()) else {
                problems.push(format!("{scenario}: {bucket} not checked"));
                continue;
            };
            let checked_public = f["verdict"] == "public";
            if checked_public != *public {
                problems.push(format!(
                    "{scenario}: {bucket}: replay public={public}, check {}",
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
                        "{scenario}: {bucket}: replay {action:?}, check {check_action} ({})",
                        f["rule"]
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
