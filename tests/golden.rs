//! Golden replay: every scenario in replay-fixtures/ is replayed by the real binary and its
//! transcript compared, line by line, with the expected transcript written by hand
//! (replay-fixtures/author.py); every line is validated against the transcript schema.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("replay-fixtures")
}

fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.join("expected.transcript").exists())
        .collect();
    dirs.sort();
    dirs
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/transcript-line.schema.json"),
    )
    .unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Replays one scenario; returns a readable description of every difference.
fn check(dir: &Path, schema: &jsonschema::Validator) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut cmd = Command::cargo_bin("bucketwarden").unwrap();
    cmd.arg("replay").arg("--no-progress");
    if dir.join("config.toml").exists() {
        cmd.arg("--config").arg(dir.join("config.toml"));
    }
    if let Ok(args) = std::fs::read_to_string(dir.join("args")) {
        cmd.args(args.split_whitespace());
    }
    cmd.arg(dir);
    let out = cmd.output().unwrap();
    let mut problems = Vec::new();
    if out.status.code() != Some(0) {
        problems.push(format!(
            "{name}: exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let got = parse_lines(&String::from_utf8_lossy(&out.stdout));
    let want = parse_lines(&std::fs::read_to_string(dir.join("expected.transcript")).unwrap());
    for (i, line) in got.iter().enumerate() {
        if let Err(e) = schema.validate(line) {
            problems.push(format!("{name} line {}: violates the schema: {e}", i + 1));
        }
    }
    for i in 0..got.len().max(want.len()) {
        match (got.get(i), want.get(i)) {
            (Some(g), Some(w)) if g == w => {}
            (g, w) => problems.push(format!(
                "{name} line {}:\n   want {}\n    got {}",
                i + 1,
                w.map(Value::to_string)
                    .unwrap_or_else(|| "(nothing)".into()),
                g.map(Value::to_string)
                    .unwrap_or_else(|| "(nothing)".into())
            )),
        }
    }
    problems
}

#[test]
fn every_scenario_replays_to_its_expected_transcript() {
    let dirs = scenarios();
    assert!(
        dirs.len() >= 30,
        "at least 30 scenarios, found {}",
        dirs.len()
    );
    let schema = validator();
    let problems: Vec<String> = dirs.iter().flat_map(|d| check(d, &schema)).collect();
    assert!(
        problems.is_empty(),
        "{} difference(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_whole_directory_replays_with_a_readable_summary() {
    let out = Command::cargo_bin("bucketwarden")
        .unwrap()
        .args(["replay", "--no-progress"])
        .arg(fixtures())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = parse_lines(&String::from_utf8_lossy(&out.stdout));
    let want: usize = scenarios()
        .iter()
        .map(|d| {
            parse_lines(&std::fs::read_to_string(d.join("expected.transcript")).unwrap()).len()
        })
        .sum();
    // Scenarios use distinct buckets and accounts, so together they give the same lines (some
    // actions differ: config-dependent scenarios run here without their config).
    assert_eq!(lines.len(), want, "{stderr}");
    for needle in [
        "replayed",
        "S3 events",
        "skipped",
        "malformed",
        "31-malformed-input",
        "warnings",
        "transitions",
        "actions",
        "buckets known",
    ] {
        assert!(
            stderr.contains(needle),
            "summary lacks {needle:?}:\n{stderr}"
        );
    }
    // An odd field is a warning with its position, never a malformed record.
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: ") && l.contains("38-eventbridge-odd-field-types"))
        .unwrap_or_else(|| panic!("no warning line for scenario 38:\n{stderr}"));
    assert!(
        warning.contains(
            "line 1, column 1 (record 1): decided anyway; odd fields envelope.account:number"
        ),
        "{warning}"
    );
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with("malformed: ") && l.contains("38-eventbridge")),
        "{stderr}"
    );
}
