//! Criterion benches of the pure core: classifying one record (the hot path for the 90% of
//! records that are not watched, and for watched ones) and folding events.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use bucketwarden::core::pipeline::Pipeline;
use bucketwarden::core::record::{self, Classified};

const NOISE: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:s","arn":"arn:aws:sts::123456789012:assumed-role/app/s","accountId":"123456789012","accessKeyId":"ASIAEXAMPLE"},"eventTime":"2024-05-01T12:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","userAgent":"aws-sdk-java/2.25.0","requestParameters":{"instancesSet":{},"filterSet":{}},"responseElements":null,"requestID":"1f2e","eventID":"0c1d7b6e-2f7a-4c47-9d7e-8f1f0e6f1a01","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}"#;

fn acl_record(i: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAEXAMPLE","userName":"alice"}},"eventTime":"2024-05-01T12:{:02}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"[aws-cli/2.15.30]","requestParameters":{{"bucketName":"bucket-{}","Host":"bucket-{}.s3.us-east-1.amazonaws.com","acl":[""],"x-amz-acl":["{}"]}},"responseElements":null,"requestID":"ABCD","eventID":"id-{i}","readOnly":false,"resources":[{{"accountId":"123456789012","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::bucket-{}"}}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}}"#,
        (i / 60) % 60,
        i % 60,
        i % 1000,
        i % 1000,
        if i.is_multiple_of(2) {
            "public-read"
        } else {
            "private"
        },
        i % 1000
    )
}

fn bench_classify(c: &mut Criterion) {
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Bytes(NOISE.len() as u64));
    g.bench_function("non_s3_record", |b| {
        b.iter(|| {
            assert!(matches!(
                record::classify(black_box(NOISE.as_bytes())),
                Classified::Skipped(_)
            ))
        })
    });
    let acl = acl_record(1);
    g.throughput(Throughput::Bytes(acl.len() as u64));
    g.bench_function("put_bucket_acl_record", |b| {
        b.iter(|| {
            assert!(matches!(
                record::classify(black_box(acl.as_bytes())),
                Classified::Event(_)
            ))
        })
    });
    g.finish();
}

fn bench_fold(c: &mut Criterion) {
    let records: Vec<String> = (0..10_000).map(acl_record).collect();
    let events: Vec<_> = records
        .iter()
        .map(|r| match record::classify(r.as_bytes()) {
            Classified::Event(e) => e,
            other => panic!("bench record did not classify: {other:?}"),
        })
        .collect();
    let mut g = c.benchmark_group("fold");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("apply_10k_acl_events_over_1k_buckets", |b| {
        b.iter(|| {
            let mut p = Pipeline::new(&Default::default(), false).unwrap();
            for e in &events {
                black_box(p.apply(e));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_classify, bench_fold);
criterion_main!(benches);
