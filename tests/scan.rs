//! `bucketwarden scan` (issue: baseline and drift): 200 buckets on a moto server of this test
//! alone (scan lists the whole account), with public ACLs, public and non-public policies, blocks
//! and exemptions; scan must report exactly the exposed ones with AWS's reasons, and `--remediate`
//! must fix exactly the non-exempt ones.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use aws_sdk_s3::types::{BucketCannedAcl, ObjectOwnership, PublicAccessBlockConfiguration};
use serde_json::Value;
use support::*;

const BUCKETS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    PublicAcl,
    PublicPolicy,
    PrivatePolicy,
    BlockedPublicAcl,
    ExemptByName,
    ExemptByTag,
    Private,
}

fn kind(i: usize) -> Kind {
    match i % 10 {
        0 => Kind::PublicAcl,
        1 => Kind::PublicPolicy,
        2 => Kind::PrivatePolicy,
        3 => Kind::BlockedPublicAcl,
        4 => Kind::ExemptByName,
        5 => Kind::ExemptByTag,
        _ => Kind::Private,
    }
}

fn name(i: usize) -> String {
    match kind(i) {
        Kind::ExemptByName => format!("public-site-{i:03}"),
        _ => format!("scan-bucket-{i:03}"),
    }
}

async fn make(s3: &aws_sdk_s3::Client, i: usize) {
    let b = name(i);
    s3.create_bucket()
        .bucket(&b)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    let k = kind(i);
    if k == Kind::Private {
        return;
    }
    s3.delete_public_access_block()
        .bucket(&b)
        .send()
        .await
        .unwrap();
    match k {
        Kind::PublicAcl | Kind::BlockedPublicAcl | Kind::ExemptByName => {
            s3.put_bucket_acl()
                .bucket(&b)
                .acl(BucketCannedAcl::PublicRead)
                .send()
                .await
                .unwrap();
        }
        Kind::PublicPolicy | Kind::ExemptByTag | Kind::PrivatePolicy => {
            let principal = if k == Kind::PrivatePolicy {
                format!("{{\"AWS\":\"arn:aws:iam::{ACCOUNT}:role/reader\"}}")
            } else {
                "\"*\"".to_owned()
            };
            s3.put_bucket_policy()
                .bucket(&b)
                .policy(format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"S1","Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#
                ))
                .send()
                .await
                .unwrap();
        }
        Kind::Private => {}
    }
    if k == Kind::BlockedPublicAcl {
        s3.put_public_access_block()
            .bucket(&b)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(false)
                    .restrict_public_buckets(false)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    if k == Kind::ExemptByTag {
        tag_allow_public(s3, &b).await;
    }
}

/// Runs `bucketwarden scan` against `endpoint`; exit status and stdout.
fn scan(endpoint: &str, config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
    cmd.arg("scan").arg("--config").arg(config).args(args);
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn jsonl(stdout: &str) -> BTreeMap<String, Value> {
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["bucket"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_reports_exactly_the_exposed_buckets_and_remediates_the_non_exempt_ones() {
    let moto = start_moto();
    let endpoint = moto.endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bucketwarden.toml");
    std::fs::write(
        &config,
        "[exemptions]\nbuckets = [\"public-site-*\"]\ntags = { \"bucketwarden:allow-public\" = \"true\" }\n",
    )
    .unwrap();
    let mut init = Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
    init.args(["init", "--shards", "1", "--config"])
        .arg(&config);
    for (k, v) in aws_env() {
        init.env(k, v);
    }
    assert!(init
        .env("AWS_ENDPOINT_URL", &endpoint)
        .status()
        .unwrap()
        .success());

    let client = clients_at(&endpoint).await.s3;
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in (0..BUCKETS).collect::<Vec<_>>().chunks(25) {
        let chunk = chunk.to_vec();
        let client = client.clone();
        tasks.spawn(async move {
            for i in chunk {
                make(&client, i).await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let exposed = |k: Kind| {
        matches!(
            k,
            Kind::PublicAcl | Kind::PublicPolicy | Kind::ExemptByName | Kind::ExemptByTag
        )
    };
    let exempt = |k: Kind| matches!(k, Kind::ExemptByName | Kind::ExemptByTag);

    // 1. Report only.
    let (code, out, err) = scan(
        &endpoint,
        &config,
        &["--format", "jsonl", "--concurrency", "8"],
    );
    assert_eq!(code, 4, "open exposures give exit status 4\n{err}");
    let report = jsonl(&out);
    assert_eq!(report.len(), BUCKETS, "{err}");
    for i in 0..BUCKETS {
        let line = &report[&name(i)];
        let k = kind(i);
        assert_eq!(line["exposed"], exposed(k), "{k:?}: {line}");
        assert_eq!(line["exempt"], exempt(k), "{k:?}: {line}");
        assert!(line.get("error").is_none(), "{line}");
        let reasons: Vec<&str> = line["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        match k {
            Kind::PublicAcl | Kind::ExemptByName => {
                assert!(reasons.contains(&"acl:AllUsers:READ"), "{line}")
            }
            Kind::PublicPolicy | Kind::ExemptByTag => {
                assert!(
                    reasons.iter().any(|r| r.starts_with("policy:S1:")),
                    "{line}"
                )
            }
            _ => {}
        }
    }
    assert!(err.contains("scanned 200 buckets"), "{err}");
    assert!(err.contains("exposed 80 (40 exempt)"), "{err}");

    // 2. Remediate and seed the fleet's state.
    let metrics = dir.path().join("scan.prom");
    let (code, out, err) = scan(
        &endpoint,
        &config,
        &[
            "--format",
            "json",
            "--remediate",
            "--seed-state",
            "--metrics-out",
            metrics.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "only exempt exposures remain\n{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["remediated"], 40, "{err}");
    assert_eq!(doc["summary"]["seeded"], 200, "{err}");
    let actions: BTreeMap<String, String> = doc["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| {
            Some((
                b["bucket"].as_str()?.to_owned(),
                b["action"].as_str()?.to_owned(),
            ))
        })
        .collect();
    for i in 0..BUCKETS {
        let k = kind(i);
        let want = if !exposed(k) {
            None
        } else if exempt(k) {
            Some("alerted")
        } else {
            Some("remediated")
        };
        assert_eq!(actions.get(&name(i)).map(String::as_str), want, "{k:?}");
    }
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains("bucketwarden_scan_buckets_total 200"),
        "{prom}"
    );
    assert!(
        prom.contains("bucketwarden_scan_exposed_total{exempt=\"false\"} 40"),
        "{prom}"
    );

    // The remediated ones are locked down and tagged; the exempt ones are untouched.
    for i in (0..BUCKETS).filter(|i| exposed(kind(*i))) {
        let b = name(i);
        let block = client.get_public_access_block().bucket(&b).send().await;
        let on = block
            .ok()
            .and_then(|r| r.public_access_block_configuration().cloned())
            .is_some_and(|c| {
                c.block_public_acls() == Some(true) && c.restrict_public_buckets() == Some(true)
            });
        assert_eq!(on, !exempt(kind(i)), "{b}");
    }
    assert_eq!(
        count(&endpoint, "bucketwarden-incidents").await,
        80,
        "40 remediated + 40 alert-only incidents"
    );
    // Seeded state: one item per bucket, plus none for accounts (scan writes buckets only).
    assert_eq!(count(&endpoint, "bucketwarden-state").await, BUCKETS);

    // 3. A second scan sees only the exempt exposures.
    let (code, out, _) = scan(&endpoint, &config, &["--format", "jsonl"]);
    assert_eq!(code, 0);
    let still: BTreeSet<String> = jsonl(&out)
        .into_iter()
        .filter(|(_, v)| v["exposed"] == true)
        .map(|(b, _)| b)
        .collect();
    let want: BTreeSet<String> = (0..BUCKETS)
        .filter(|i| exempt(kind(*i)))
        .map(name)
        .collect();
    assert_eq!(still, want);
}

/// Items in a table of the private moto server.
async fn count(endpoint: &str, table: &str) -> usize {
    scan_table(&clients_at(endpoint).await.dynamodb, table)
        .await
        .len()
}
