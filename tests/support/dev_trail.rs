//! Helpers of the dev-trail tests (tests/dev_trail.rs, tests/dev_trail_accounts.rs): S3 clients
//! signing through the proxy, and reading back what it put on the stream. Nothing here imitates
//! AWS; every call goes to moto.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Fleet;

const LONG: Duration = Duration::from_secs(60);
/// The access key of the tests' plain (not assumed) S3 calls through dev-trail.
pub const ACCESS_KEY: &str = "AKIDDEVTRAILTEST";

/// S3 through `endpoint` with the [`ACCESS_KEY`] credentials (path style, as on loopback).
pub fn s3_via(endpoint: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(ACCESS_KEY, "secret", None, None, "test");
    s3_with(endpoint, creds)
}

/// S3 through `endpoint` signed with `creds` (path style, as on loopback).
pub fn s3_with(endpoint: &str, creds: aws_sdk_s3::config::Credentials) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Every record on a one-shard stream, oldest first, once `n` have arrived.
pub async fn read_stream(f: &Fleet, n: usize) -> Vec<Value> {
    let k = &f.clients.kinesis;
    let shards = k
        .list_shards()
        .stream_name(&f.names.stream)
        .send()
        .await
        .unwrap();
    assert_eq!(shards.shards().len(), 1);
    let mut it = k
        .get_shard_iterator()
        .stream_name(&f.names.stream)
        .shard_id(shards.shards()[0].shard_id())
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .map(str::to_owned);
    let mut out = Vec::new();
    let start = Instant::now();
    while let Some(i) = it {
        let r = k.get_records().shard_iterator(i).send().await.unwrap();
        for rec in r.records() {
            out.push(serde_json::from_slice(rec.data().as_ref()).unwrap());
        }
        if out.len() >= n && r.records().is_empty() {
            break;
        }
        assert!(
            start.elapsed() < LONG,
            "only {} of {n} events arrived: {:#?}",
            out.len(),
            out.iter()
                .map(|e: &Value| e["detail"]["eventName"].clone())
                .collect::<Vec<_>>()
        );
        it = r.next_shard_iterator().map(str::to_owned);
        if r.records().is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    out
}
