//! The `bucketwarden` command line as a user meets it: exit codes, help, summary, schemas.

use std::io::Write;

use assert_cmd::Command;
use serde_json::Value;

fn bin() -> Command {
    Command::cargo_bin("bucketwarden").unwrap()
}

fn schema(name: &str) -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(format!("{}/schemas/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

const LOG: &str = r#"{"Records":[
{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a","accountId":"111122223333"},"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"CreateBucket","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1","requestParameters":{"bucketName":"cli-b","Host":"s3.amazonaws.com","x-amz-object-ownership":"ObjectWriter"},"eventID":"c1","recipientAccountId":"111122223333"},
{"eventVersion":"1.09","eventTime":"2024-05-01T12:00:01Z","eventSource":"s3.amazonaws.com","eventName":"DeleteBucketPublicAccessBlock","awsRegion":"us-east-1","requestParameters":{"bucketName":"cli-b","publicAccessBlock":""},"eventID":"c2","recipientAccountId":"111122223333"},
{"eventVersion":"1.09","eventTime":"2024-05-01T12:00:02Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","awsRegion":"us-east-1","requestParameters":{"bucketName":"cli-b","acl":[""],"x-amz-acl":["public-read"]},"eventID":"c3","recipientAccountId":"111122223333"},
{"eventVersion":"1.09","eventTime":"2024-05-01T12:00:03Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1","eventID":"c4","recipientAccountId":"111122223333"},
{"truncated":
]}"#;

#[test]
fn replay_writes_schema_valid_lines_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.json");
    std::fs::write(&path, LOG).unwrap();
    let out = bin()
        .args(["replay", "--no-progress"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let v = schema("transcript-line.schema.json");
    for l in &lines {
        assert!(v.is_valid(l), "{l}: {:?}", v.validate(l).err());
    }
    assert_eq!(lines[2]["transition"], "became_public");
    assert_eq!(lines[2]["action"], "remediate");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("malformed"), "{stderr}");
    assert!(
        stderr.contains("line 6"),
        "the malformed record's position is reported: {stderr}"
    );
    assert!(stderr.contains("became_public 1"), "{stderr}");
    assert!(stderr.contains("not S3 1"), "{stderr}");
}

#[test]
fn out_file_dry_run_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.json");
    std::fs::write(&path, LOG).unwrap();
    let out_path = dir.path().join("t.jsonl");
    bin()
        .args(["replay", "--dry-run", "--out"])
        .arg(&out_path)
        .arg(&path)
        .assert()
        .success()
        .stdout("");
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        text.lines().any(|l| l.contains(r#""action":"alert""#)),
        "{text}"
    );
    let cfg = dir.path().join("c.toml");
    let mut f = std::fs::File::create(&cfg).unwrap();
    writeln!(f, "[exemptions]\nbuckets = [\"cli-*\"]").unwrap();
    let out = bin()
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""action":"alert""#));
}

#[test]
fn exit_codes() {
    bin()
        .args(["replay", "/definitely/not/here"])
        .assert()
        .code(1);
    bin().args(["replay"]).assert().code(2);
    bin().args(["replay", "--bogus", "x"]).assert().code(2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[exemptions]\nbucket = []\n").unwrap();
    let out = bin()
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `bucket`"));
}

#[test]
fn help_teaches() {
    let out = bin().args(["replay", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--config",
        "--out",
        "--dry-run",
        "Exit status",
        "Examples",
        "JSON Lines",
        "gzip",
    ] {
        assert!(
            help.contains(needle),
            "replay --help lacks {needle}:\n{help}"
        );
    }
    let out = bin().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--worker-id",
        "--metrics-addr",
        "AWS_ENDPOINT_URL",
        "SIGTERM",
    ] {
        assert!(help.contains(needle), "run --help lacks {needle}");
    }
}

#[test]
fn example_config_parses_and_matches_its_schema() {
    let path = format!("{}/examples/bucketwarden.toml", env!("CARGO_MANIFEST_DIR"));
    let config = bucketwarden::config::Config::load(std::path::Path::new(&path)).unwrap();
    let as_json = serde_json::to_value(&config).unwrap();
    let v = schema("config.schema.json");
    assert!(v.is_valid(&as_json), "{:?}", v.validate(&as_json).err());
    // The schema rejects what the parser rejects.
    assert!(!v.is_valid(&serde_json::json!({"exemptions": {"bucket": []}})));
    assert!(!v.is_valid(&serde_json::json!({"remediation": {"mode": "yolo"}})));
    assert!(!v.is_valid(&serde_json::json!({"accounts": {"allowed": ["1234"]}})));
    assert!(!v.is_valid(&serde_json::json!({"accounts": {"allowed": "everyone"}})));
    assert!(!v.is_valid(&serde_json::json!({"accounts": {"session_duration_s": 60}})));
    assert!(v.is_valid(&serde_json::json!({"accounts": {"allowed": "organization"}})));
}
