//! Adversarial input through `bucketwarden replay` (reliability issue #6, item 2): huge records,
//! deep nesting, bytes that are not UTF-8, 10,000-statement policies and 10,000-grant ACLs,
//! unusual names, forged events and events from bucketwarden's own identity. Every input is made
//! here, and every bad one sits between good records whose decisions must still come out: a bad
//! record is reported with its position and counted, never fatal, never swallowing its
//! neighbours. Time and memory of the same inputs are measured by scripts/bench-adversarial.sh,
//! not asserted here.

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const SELF_ROLE: &str = "arn:aws:iam::111122223333:role/bucketwarden-task";

/// A bare CloudTrail record of a successful S3 call by `actor`.
fn event(name: &str, id: &str, second: u32, actor: &str, params: Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": actor, "accountId": ACCOUNT},
        "eventTime": format!("2024-05-01T12:{:02}:{:02}Z", second / 60, second % 60),
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.1",
        "userAgent": "[aws-cli/2.15.30]",
        "requestParameters": params,
        "eventID": id,
        "recipientAccountId": ACCOUNT,
    })
}

/// The account's block is known to be off, so reasons carry no `assumed:` entries and can be
/// compared exactly.
fn account_block_off() -> Value {
    event(
        "PutAccountPublicAccessBlock",
        "acct-off",
        0,
        ALICE,
        json!({"accountId": ACCOUNT, "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": false, "IgnorePublicAcls": false,
            "BlockPublicPolicy": false, "RestrictPublicBuckets": false}}),
    )
}

/// A bucket created with ACLs enabled and its block removed: the next public grant makes it public.
fn open_bucket(bucket: &str, second: u32) -> Vec<Value> {
    vec![
        event(
            "CreateBucket",
            &format!("{bucket}-create"),
            second,
            ALICE,
            json!({"bucketName": bucket, "x-amz-object-ownership": "ObjectWriter"}),
        ),
        event(
            "DeleteBucketPublicAccessBlock",
            &format!("{bucket}-unblock"),
            second + 1,
            ALICE,
            json!({"bucketName": bucket, "publicAccessBlock": ""}),
        ),
    ]
}

fn public_read(bucket: &str, id: &str, second: u32) -> Value {
    event(
        "PutBucketAcl",
        id,
        second,
        ALICE,
        json!({"bucketName": bucket, "x-amz-acl": ["public-read"]}),
    )
}

/// JSON Lines of `values`.
fn lines(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend_from_slice(v.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// A good bucket made public before the bad input (`before`) and one after it (`after`).
fn good_before() -> Vec<u8> {
    let mut v = vec![account_block_off()];
    v.extend(open_bucket("before", 1));
    v.push(public_read("before", "before-public", 3));
    lines(&v)
}

fn good_after() -> Vec<u8> {
    let mut v = open_bucket("after", 50);
    v.push(public_read("after", "after-public", 52));
    lines(&v)
}

/// Bad bytes between the two good sequences.
fn sandwich(bad: &[u8]) -> Vec<u8> {
    let mut out = good_before();
    out.extend_from_slice(bad);
    if !bad.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(&good_after());
    out
}

struct Run {
    code: Option<i32>,
    lines: Vec<Value>,
    stderr: String,
}

impl Run {
    fn for_event(&self, id: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["event_id"] == id).collect()
    }

    fn one(&self, id: &str) -> &Value {
        let got = self.for_event(id);
        assert_eq!(got.len(), 1, "one line for {id}: {got:?}\n{}", self.stderr);
        got[0]
    }

    fn malformed(&self) -> u64 {
        let line = self
            .stderr
            .lines()
            .find(|l| l.trim_start().starts_with("malformed "))
            .unwrap_or_else(|| panic!("no malformed count in the summary: {}", self.stderr));
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    }

    fn problems(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("malformed: "))
            .collect()
    }

    /// Both good buckets became public and are remediated: nothing around the bad input was lost.
    fn assert_neighbours_decided(&self) {
        for id in ["before-public", "after-public"] {
            let l = self.one(id);
            assert_eq!(l["transition"], "became_public", "{l}");
            assert_eq!(l["action"], "remediate", "{l}");
            assert_eq!(l["reasons"], json!(["acl:AllUsers:READ"]), "{l}");
        }
    }
}

fn replay_files(dir: &Path, files: &[(&str, &[u8])], extra: &[&str]) -> Run {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let mut cmd = Command::cargo_bin("bucketwarden").unwrap();
    cmd.arg("replay").arg("--no-progress").args(extra);
    for (name, _) in files {
        cmd.arg(dir.join(name));
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).expect("the transcript is UTF-8");
    Run {
        code: out.status.code(),
        lines: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn replay(bytes: &[u8]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let run = replay_files(dir.path(), &[("input.jsonl", bytes)], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run
}

/// The 1-based line on which `needle` first occurs in `bytes`.
fn line_of(bytes: &[u8], needle: &[u8]) -> usize {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present");
    bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1
}

fn assert_reported_at(run: &Run, line: usize, reason: &str) {
    let want = format!("line {line}, ");
    assert!(
        run.problems()
            .iter()
            .any(|p| p.contains(&want) && p.contains(reason)),
        "expected a malformed report at line {line} containing {reason:?}: {:#?}",
        run.problems()
    );
}

// ---- huge records -------------------------------------------------------------------------

fn huge_public_acl(bucket: &str, id: &str, pad: usize) -> Value {
    let mut ev = public_read(bucket, id, 20);
    ev["additionalEventData"] = json!({ "pad": "x".repeat(pad) });
    ev
}

#[test]
fn valid_records_of_1_and_10_mib_are_decided() {
    for mib in [1usize, 10] {
        let mut bad = lines(&open_bucket("huge", 10));
        bad.extend(lines(&[huge_public_acl("huge", "huge-public", mib << 20)]));
        let input = sandwich(&bad);
        let run = replay(&input);
        run.assert_neighbours_decided();
        let l = run.one("huge-public");
        assert_eq!(l["transition"], "became_public", "{mib} MiB: {l}");
        assert_eq!(l["action"], "remediate");
        assert_eq!(run.malformed(), 0, "{}", run.stderr);
    }
}

#[test]
fn garbage_lines_of_1_and_10_mib_are_one_malformed_record_each() {
    for mib in [1usize, 10] {
        // Bare garbage, and a string that never ends on its line.
        let garbage = vec![b'g'; mib << 20];
        let mut unterminated = br#"{"eventSource":"s3.amazonaws.com","x":""#.to_vec();
        unterminated.extend(std::iter::repeat_n(b'u', mib << 20));
        for bad in [garbage, unterminated] {
            let input = sandwich(&bad);
            let run = replay(&input);
            run.assert_neighbours_decided();
            assert_eq!(run.malformed(), 1, "{mib} MiB: {}", run.stderr);
            assert_reported_at(&run, line_of(&input, &bad[..16]), "");
        }
    }
}

#[test]
fn a_record_over_the_size_limit_is_reported_not_buffered() {
    let limit = bucketwarden::core::input::MAX_RECORD_BYTES;
    let bad = lines(&[huge_public_acl("too-big", "too-big", limit + 1)]);
    let input = sandwich(&bad);
    let run = replay(&input);
    run.assert_neighbours_decided();
    assert!(run.for_event("too-big").is_empty());
    assert_eq!(run.malformed(), 1, "{}", run.stderr);
    assert_reported_at(&run, line_of(&input, b"\"too-big\""), "record too large");
}

// ---- nesting ------------------------------------------------------------------------------

const DEEP: usize = 100_000;

#[test]
fn deeply_nested_values_inside_a_record_are_skipped_or_a_reported_error() {
    let nested_array = format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP));
    let nested_object = format!("{}1{}", r#"{"a":"#.repeat(DEEP), "}".repeat(DEEP));
    for (what, nested) in [("array", nested_array), ("object", nested_object)] {
        // In a field classification never reads, serde_json skips the value without recursing:
        // the event is decided. Bare and inside an EventBridge envelope's detail.
        let mut bare = public_read("deep-ok", "deep-ignored", 30).to_string();
        bare.insert_str(1, &format!(r#""deep":{nested},"#));
        let mut enveloped = public_read("deep-ok", "deep-enveloped", 31);
        enveloped["eventID"] = json!("deep-enveloped");
        let mut envelope = json!({"detail-type": "AWS API Call via CloudTrail",
                                  "account": ACCOUNT, "detail": enveloped})
        .to_string();
        let at = envelope.find(r#""detail":{"#).unwrap() + r#""detail":{"#.len();
        envelope.insert_str(at, &format!(r#""deep":{nested},"#));
        let mut ok = lines(&open_bucket("deep-ok", 25));
        for r in [&bare, &envelope] {
            ok.extend_from_slice(r.as_bytes());
            ok.push(b'\n');
        }
        let run = replay(&sandwich(&ok));
        run.assert_neighbours_decided();
        assert_eq!(run.malformed(), 0, "{what}: {}", run.stderr);
        assert_eq!(run.one("deep-ignored")["transition"], "became_public");
        assert_eq!(run.one("deep-enveloped")["transition"], "unchanged");

        // In requestParameters, which is parsed: serde_json's recursion limit makes it an error,
        // bare and inside an envelope.
        let mut params = public_read("deep-bad", "deep-params", 32);
        params["requestParameters"]["x"] = json!("PLACEHOLDER");
        let params = params.to_string().replace(r#""PLACEHOLDER""#, &nested);
        let mut envelope = json!({"detail-type": "AWS API Call via CloudTrail",
                                  "account": ACCOUNT, "detail": public_read("deep-bad", "deep-env-params", 33)})
        .to_string();
        let at =
            envelope.find(r#""requestParameters":{"#).unwrap() + r#""requestParameters":{"#.len();
        envelope.insert_str(at, &format!(r#""x":{nested},"#));
        for (id, bad) in [("deep-params", params), ("deep-env-params", envelope)] {
            let input = sandwich(bad.as_bytes());
            let run = replay(&input);
            run.assert_neighbours_decided();
            assert!(run.for_event(id).is_empty());
            assert_eq!(run.malformed(), 1, "{what}: {}", run.stderr);
            assert_reported_at(&run, line_of(&input, id.as_bytes()), "recursion limit");
        }
    }
}

#[test]
fn unbalanced_brackets_do_not_swallow_the_records_after_them() {
    // 100,000 `[` (or `{`) that never close: the scanner must report them and find the next
    // record, not count depth until the end of the file.
    for opener in [b'[', b'{'] {
        let bad = vec![opener; DEEP];
        let input = sandwich(&bad);
        let run = replay(&input);
        run.assert_neighbours_decided();
        assert!(run.malformed() >= 1, "{}", run.stderr);
        assert_reported_at(&run, line_of(&input, &bad[..16]), "");
    }
}

#[test]
fn a_deeply_nested_bucket_policy_is_unparseable_and_so_public() {
    let nested = format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP));
    let mut v = vec![account_block_off()];
    v.extend(open_bucket("deep-policy", 1));
    v.push(event(
        "PutBucketPolicy",
        "deep-policy",
        5,
        ALICE,
        json!({"bucketName": "deep-policy", "bucketPolicy": nested}),
    ));
    let run = replay(&lines(&v));
    let l = run.one("deep-policy");
    assert_eq!(l["transition"], "became_public", "{l}");
    assert_eq!(l["reasons"], json!(["policy:unparseable"]));
    assert_eq!(run.malformed(), 0);
}

// ---- bytes that are not UTF-8 ---------------------------------------------------------------

#[test]
fn invalid_utf8_inside_and_between_records_is_reported_and_skipped() {
    let inside_read_field = {
        let mut b = br#"{"eventVersion":"1.09","eventTime":"2024-05-01T12:00:30Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","awsRegion":"us-east-1","recipientAccountId":"111122223333","eventID":"bad-utf8","requestParameters":{"bucketName":"b"#.to_vec();
        b.extend_from_slice(&[0xff, 0xfe, 0xc3]);
        b.extend_from_slice(br#"","x-amz-acl":["public-read"]}}"#);
        b
    };
    let between = vec![0xffu8, 0xfe, 0x00, 0x80, 0xc0, 0xaf];
    for (what, bad) in [("inside", inside_read_field), ("between", between)] {
        let input = sandwich(&bad);
        let run = replay(&input);
        run.assert_neighbours_decided();
        assert!(run.for_event("bad-utf8").is_empty(), "{what}");
        assert_eq!(run.malformed(), 1, "{what}: {}", run.stderr);
        assert_reported_at(&run, line_of(&input, &bad[..4]), "");
    }
}

#[test]
fn invalid_utf8_in_a_field_nobody_reads_does_not_lose_the_event() {
    // serde_json skips unread fields without judging their text: the event still counts. Either
    // way (decided or reported), the neighbours must survive; here the exact outcome is pinned so
    // that a change of behaviour is noticed.
    let mut bad = serde_json::to_vec(&public_read("odd", "odd-public", 30)).unwrap();
    let at = bad.len() - 1;
    bad.splice(at..at, br#","junk":""#.iter().copied());
    let at = bad.len() - 1;
    bad.splice(at..at, [0xffu8, 0xfe, b'"']);
    let mut input = lines(&open_bucket("odd", 25));
    input.extend_from_slice(&bad);
    let input = sandwich(&input);
    let run = replay(&input);
    run.assert_neighbours_decided();
    let decided = run.for_event("odd-public").len();
    let reported = run.malformed();
    assert_eq!(decided + reported as usize, 1, "{}", run.stderr);
}

// ---- big policies and ACLs ------------------------------------------------------------------

fn fixed_statement(i: usize) -> Value {
    json!({"Sid": format!("Fixed{i}"), "Effect": "Allow",
           "Principal": {"AWS": format!("arn:aws:iam::{:012}:root", 100_000_000_000u64 + i as u64)},
           "Action": "s3:GetObject", "Resource": "arn:aws:s3:::big-policy/*"})
}

fn policy_run(statements: Vec<Value>, as_string: bool) -> Run {
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    let doc = if as_string {
        Value::String(doc.to_string())
    } else {
        doc
    };
    let mut v = vec![account_block_off()];
    v.extend(open_bucket("big-policy", 1));
    v.push(event(
        "PutBucketPolicy",
        "big-policy",
        5,
        ALICE,
        json!({"bucketName": "big-policy", "policy": [""], "bucketPolicy": doc}),
    ));
    replay(&sandwich(&lines(&v)))
}

#[test]
fn a_10000_statement_policy_with_one_public_statement_at_the_end_is_public() {
    for as_string in [false, true] {
        let mut statements: Vec<Value> = (0..10_000).map(fixed_statement).collect();
        statements.push(
            json!({"Sid": "OpenAtTheEnd", "Effect": "Allow", "Principal": "*",
                               "Action": "s3:GetObject", "Resource": "arn:aws:s3:::big-policy/*"}),
        );
        let run = policy_run(statements, as_string);
        run.assert_neighbours_decided();
        let l = run.one("big-policy");
        assert_eq!(l["transition"], "became_public", "{l}");
        assert_eq!(l["action"], "remediate");
        assert_eq!(l["reasons"], json!(["policy:OpenAtTheEnd:principal-*"]));
    }
}

#[test]
fn a_10000_statement_policy_without_a_public_statement_is_private() {
    let statements: Vec<Value> = (0..10_000).map(fixed_statement).collect();
    let run = policy_run(statements, false);
    run.assert_neighbours_decided();
    let l = run.one("big-policy");
    assert_eq!(l["exposure"], "not_public", "{l}");
    assert_eq!(l["transition"], "unchanged");
    assert_eq!(l["reasons"], json!([]));
}

fn acl_run(public_at_end: bool) -> Run {
    let mut grants: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"Grantee": {"xsi:type": "CanonicalUser", "ID": format!("{i:064x}")},
                   "Permission": "FULL_CONTROL"})
        })
        .collect();
    if public_at_end {
        grants.push(json!({"Grantee": {"xsi:type": "Group",
                           "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                           "Permission": "READ"}));
    }
    let mut v = vec![account_block_off()];
    v.extend(open_bucket("big-acl", 1));
    v.push(event(
        "PutBucketAcl",
        "big-acl",
        5,
        ALICE,
        json!({"bucketName": "big-acl", "acl": [""], "AccessControlPolicy": {
            "AccessControlList": {"Grant": grants}, "Owner": {"ID": "0".repeat(64)}}}),
    ));
    replay(&sandwich(&lines(&v)))
}

#[test]
fn a_10000_grant_acl_with_all_users_at_the_end_is_public() {
    let run = acl_run(true);
    run.assert_neighbours_decided();
    let l = run.one("big-acl");
    assert_eq!(l["transition"], "became_public", "{l}");
    assert_eq!(l["reasons"], json!(["acl:AllUsers:READ"]));
}

#[test]
fn a_10000_grant_acl_to_accounts_only_is_private() {
    let run = acl_run(false);
    run.assert_neighbours_decided();
    let l = run.one("big-acl");
    assert_eq!(l["exposure"], "not_public", "{l}");
    assert_eq!(l["transition"], "unchanged");
}

// ---- names ----------------------------------------------------------------------------------

#[test]
fn unusual_bucket_names_and_keys_round_trip_into_the_transcript() {
    let long_key = format!("deep/{}/end", "k".repeat(100_000));
    let names = [
        "bücket-ünïcode-名前-🪣",
        "with spaces and %20 percent%",
        r#"quote"d 'and' \back\slash"#,
        "ctl\u{1}\u{7}\t\r\nchars\u{7f}",
        "\u{202e}rtl-override",
    ];
    let keys = [
        "ünï/名前/🪣.txt",
        "a key with spaces %2F and %%",
        r#"q"uo'te\s"#,
        "ctl\u{0}\u{1b}[31m\nkey",
        long_key.as_str(),
    ];
    let mut v = vec![account_block_off()];
    for (i, (bucket, key)) in names.iter().zip(keys).enumerate() {
        let s = 1 + 10 * i as u32;
        v.extend(open_bucket(bucket, s));
        v.push(event(
            "PutObjectAcl",
            &format!("obj-{i}"),
            s + 2,
            ALICE,
            json!({"bucketName": bucket, "key": key, "x-amz-acl": "public-read"}),
        ));
        v.push(public_read(bucket, &format!("bucket-{i}"), s + 3));
    }
    let run = replay(&sandwich(&lines(&v)));
    run.assert_neighbours_decided();
    assert_eq!(run.malformed(), 0, "{}", run.stderr);
    for (i, (bucket, key)) in names.iter().zip(keys).enumerate() {
        let o = run.one(&format!("obj-{i}"));
        assert_eq!(o["bucket"], *bucket);
        assert_eq!(o["key"], key);
        assert_eq!(o["transition"], "became_public", "{o}");
        let b = run.one(&format!("bucket-{i}"));
        assert_eq!(b["bucket"], *bucket);
        assert_eq!(b["transition"], "became_public", "{b}");
    }
}

// ---- forged and self-made events ------------------------------------------------------------

#[test]
fn forged_events_claiming_exposure_are_handled_as_events() {
    // Anyone who can write to the stream can claim anything; the pipeline decides by its rules and
    // the live worker verifies against S3 before writing. Here: a claim about a bucket never seen
    // (decided under named assumptions), a failed call (no change), an event for another account,
    // a grant to a made-up group (not public) and an event with no bucket at all (reported).
    let v = vec![
        public_read("never-seen", "forged-unknown", 10),
        {
            let mut e = public_read("before", "forged-failed", 11);
            e["errorCode"] = json!("AccessDenied");
            e
        },
        {
            let mut e = public_read("other-account", "forged-account", 12);
            e["recipientAccountId"] = json!("999999999999");
            e
        },
        event(
            "PutBucketAcl",
            "forged-group",
            13,
            ALICE,
            json!({"bucketName": "before", "x-amz-grant-read":
                   "uri=\"http://acs.amazonaws.com/groups/global/AllUsersPlusOne\""}),
        ),
        event(
            "PutBucketAcl",
            "forged-nobucket",
            14,
            ALICE,
            json!({"x-amz-acl": ["public-read"]}),
        ),
    ];
    let input = sandwich(&lines(&v));
    let run = replay(&input);
    run.assert_neighbours_decided();
    let unknown = run.one("forged-unknown");
    assert_eq!(unknown["transition"], "became_public", "{unknown}");
    assert_eq!(
        unknown["note"], "assumed",
        "decided on assumptions, said so"
    );
    let failed = run.one("forged-failed");
    assert_eq!(failed["note"], "failed_call", "{failed}");
    assert_eq!(failed["action"], "none");
    let other = run.one("forged-account");
    assert_eq!(other["account"], "999999999999");
    let group = run.one("forged-group");
    assert_eq!(group["action"], "none", "{group}");
    assert!(run.for_event("forged-nobucket").is_empty());
    assert_eq!(run.malformed(), 1, "{}", run.stderr);
    assert_reported_at(&run, line_of(&input, b"forged-nobucket"), "no bucketName");
}

#[test]
fn events_from_bucketwarden_itself_are_never_remediated() {
    // bucketwarden's own calls only narrow access; one that claims to widen it (a forged record or
    // misused credentials) must not start a remediation loop. It is still a public transition, so
    // a person is alerted.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[remediation]\nself_arns = [\"{SELF_ROLE}\"]\n"),
    )
    .unwrap();
    let session = "arn:aws:sts::111122223333:assumed-role/bucketwarden-task/worker-1";
    let mut v = vec![account_block_off()];
    v.extend(open_bucket("self-made", 10));
    v.push(event(
        "PutBucketAcl",
        "self-public",
        13,
        session,
        json!({"bucketName": "self-made", "x-amz-acl": ["public-read"]}),
    ));
    // bucketwarden's remediation of the same bucket: narrowing, no action.
    v.push(event(
        "PutBucketPublicAccessBlock",
        "self-block",
        14,
        session,
        json!({"bucketName": "self-made", "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": true, "IgnorePublicAcls": true,
            "BlockPublicPolicy": true, "RestrictPublicBuckets": true}}),
    ));
    // A different role with a similar name is not bucketwarden.
    v.extend(open_bucket("lookalike", 20));
    v.push(event(
        "PutBucketAcl",
        "lookalike-public",
        23,
        "arn:aws:sts::111122223333:assumed-role/bucketwarden-task-2/x",
        json!({"bucketName": "lookalike", "x-amz-acl": ["public-read"]}),
    ));
    let input = sandwich(&lines(&v));
    let cfg = config.to_str().unwrap();
    let run = replay_files(dir.path(), &[("input.jsonl", &input)], &["--config", cfg]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.assert_neighbours_decided();
    let own = run.one("self-public");
    assert_eq!(own["transition"], "became_public", "{own}");
    assert_eq!(own["action"], "alert", "never remediated: {own}");
    assert_eq!(run.one("self-block")["action"], "none");
    assert_eq!(run.one("lookalike-public")["action"], "remediate");
    assert!(
        run.lines
            .iter()
            .filter(|l| l["action"] == "remediate")
            .all(|l| l["bucket"] != "self-made"),
        "{:?}",
        run.lines
    );
}

// ---- input forms ----------------------------------------------------------------------------

#[test]
fn a_pretty_printed_event_with_nested_arrays_of_objects_is_one_record() {
    // `jq .` or `json.dumps(indent=2)` of one CloudTrail record: `"resources": [` is followed by
    // an indented `{` on the next line, which is not the start of a new JSON Lines record.
    let mut v = vec![account_block_off()];
    v.extend(open_bucket("pretty", 1));
    let mut ev = public_read("pretty", "pretty-public", 3);
    ev["resources"] = json!([{"accountId": ACCOUNT, "type": "AWS::S3::Bucket",
                              "ARN": "arn:aws:s3:::pretty"}]);
    let dir = tempfile::tempdir().unwrap();
    let head = lines(&v);
    let pretty = serde_json::to_vec_pretty(&ev).unwrap();
    let mut detail = ev.clone();
    detail["eventID"] = json!("pretty-envelope");
    detail["eventTime"] = json!("2024-05-01T12:00:09Z");
    detail["requestParameters"] = json!({"bucketName": "pretty", "x-amz-acl": ["private"]});
    let envelope = serde_json::to_vec_pretty(&json!({
        "version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
        "account": ACCOUNT, "region": "us-east-1", "resources": [], "detail": detail
    }))
    .unwrap();
    let run = replay_files(
        dir.path(),
        &[
            ("a.jsonl", &head),
            ("b.json", &pretty),
            ("c.json", &envelope),
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.malformed(), 0, "{}", run.stderr);
    assert_eq!(run.one("pretty-public")["transition"], "became_public");
    assert_eq!(
        run.one("pretty-envelope")["transition"],
        "became_not_public"
    );
}
