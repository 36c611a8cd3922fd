//! Generates a deterministic, realistic CloudTrail log (`{"Records":[...]}`, gzip) for the replay
//! benchmark: about 10% watched S3 writes over N buckets, the rest S3 reads and other services.
//!
//! usage: gen_trail OUT.json.gz [RECORDS=1000000] [BUCKETS=10000] [SEED=42]

use std::fs::File;
use std::io::{BufWriter, Write};

use flate2::write::GzEncoder;
use flate2::Compression;

/// splitmix64: tiny, seeded, and identical on every machine.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

const ACCOUNT: &str = "123456789012";

fn identity(r: &mut Rng) -> String {
    let user = r.below(50);
    format!(
        r#"{{"type":"AssumedRole","principalId":"AROAEXAMPLE{user:04}:session-{s}","arn":"arn:aws:sts::{ACCOUNT}:assumed-role/app-role-{user}/session-{s}","accountId":"{ACCOUNT}","accessKeyId":"ASIAEXAMPLE{k:08}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROAEXAMPLE{user:04}","arn":"arn:aws:iam::{ACCOUNT}:role/app-role-{user}","accountId":"{ACCOUNT}","userName":"app-role-{user}"}},"attributes":{{"creationDate":"2024-05-01T00:00:00Z","mfaAuthenticated":"false"}}}}}}"#,
        s = r.below(1000),
        k = r.below(100_000_000)
    )
}

fn time(i: u64) -> String {
    // 1M records over roughly one day.
    let secs = 1_714_521_600 + i / 12;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let day = 1 + (secs - 1_714_521_600) / 86_400;
    format!("2024-05-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

fn s3_record(r: &mut Rng, i: u64, name: &str, bucket: &str, params: &str, data: bool) -> String {
    let ident = identity(r);
    format!(
        r#"{{"eventVersion":"1.09","userIdentity":{ident},"eventTime":"{t}","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.{ip}","userAgent":"[aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023 prompt/off command/s3api]","requestParameters":{params},"responseElements":null,"additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4","bytesTransferredOut":0}},"requestID":"{rid:016X}","eventID":"{eid}","readOnly":{ro},"resources":[{{"accountId":"{ACCOUNT}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{bucket}"}}],"eventType":"AwsApiCall","managementEvent":{mgmt},"recipientAccountId":"{ACCOUNT}","eventCategory":"{cat}","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{bucket}.s3.us-east-1.amazonaws.com"}}}}"#,
        t = time(i),
        ip = r.below(254) + 1,
        rid = r.next(),
        eid = r.uuid(),
        ro = name.starts_with("Get") || name.starts_with("List") || name.starts_with("Head"),
        mgmt = !data,
        cat = if data { "Data" } else { "Management" },
    )
}

pub fn other_record(r: &mut Rng, i: u64) -> String {
    const CALLS: [(&str, &str, &str); 6] = [
        (
            "ec2.amazonaws.com",
            "DescribeInstances",
            r#"{"instancesSet":{},"filterSet":{}}"#,
        ),
        (
            "sts.amazonaws.com",
            "AssumeRole",
            r#"{"roleArn":"arn:aws:iam::123456789012:role/app","roleSessionName":"s","durationSeconds":3600}"#,
        ),
        (
            "kms.amazonaws.com",
            "Decrypt",
            r#"{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","encryptionContext":{"aws:s3:arn":"arn:aws:s3:::x/y"}}"#,
        ),
        ("iam.amazonaws.com", "GetRole", r#"{"roleName":"app-role"}"#),
        (
            "monitoring.amazonaws.com",
            "PutMetricData",
            r#"{"namespace":"App","metricData":[{"metricName":"latency","value":12.5}]}"#,
        ),
        (
            "lambda.amazonaws.com",
            "Invoke",
            r#"{"functionName":"arn:aws:lambda:us-east-1:123456789012:function:handler"}"#,
        ),
    ];
    let (src, name, params) = CALLS[r.below(CALLS.len() as u64) as usize];
    let ident = identity(r);
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{ident},"eventTime":"{t}","eventSource":"{src}","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"10.0.{a}.{b}","userAgent":"aws-sdk-java/2.25.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17","requestParameters":{params},"responseElements":null,"requestID":"{rid}","eventID":"{eid}","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{ACCOUNT}","eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","clientProvidedHostHeader":"{host}"}}}}"#,
        t = time(i),
        a = r.below(255),
        b = r.below(255),
        rid = r.uuid(),
        eid = r.uuid(),
        host = src,
    )
}

pub fn watched(r: &mut Rng, i: u64, buckets: u64) -> String {
    let b = format!("bench-bucket-{:05}", r.below(buckets));
    let host = format!(r#""Host":"{b}.s3.us-east-1.amazonaws.com""#);
    let pick = r.below(4);
    let flip = r.below(2);
    let team = r.below(20);
    match r.below(10) {
        0 => s3_record(
            r,
            i,
            "PutBucketAcl",
            &b,
            &format!(
                r#"{{"bucketName":"{b}",{host},"acl":[""],"x-amz-acl":["{}"]}}"#,
                if pick == 0 { "public-read" } else { "private" }
            ),
            false,
        ),
        1 => {
            let principal = if r.below(5) == 0 {
                r#""*""#
            } else {
                r#"{"AWS":"arn:aws:iam::123456789012:root"}"#
            };
            s3_record(
                r,
                i,
                "PutBucketPolicy",
                &b,
                &format!(
                    r#"{{"bucketName":"{b}",{host},"policy":[""],"bucketPolicy":{{"Version":"2012-10-17","Statement":[{{"Sid":"S1","Effect":"Allow","Principal":{principal},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::{b}/*"]}}]}}}}"#
                ),
                false,
            )
        }
        2 => {
            let on = r.below(3) != 0;
            s3_record(
                r,
                i,
                "PutBucketPublicAccessBlock",
                &b,
                &format!(
                    r#"{{"publicAccessBlock":"","bucketName":"{b}",{host},"PublicAccessBlockConfiguration":{{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","RestrictPublicBuckets":{on},"BlockPublicPolicy":{on},"BlockPublicAcls":{on},"IgnorePublicAcls":{on}}}}}"#
                ),
                false,
            )
        }
        3 => s3_record(
            r,
            i,
            "DeleteBucketPublicAccessBlock",
            &b,
            &format!(r#"{{"publicAccessBlock":"","bucketName":"{b}",{host}}}"#),
            false,
        ),
        4 => s3_record(
            r,
            i,
            "PutBucketOwnershipControls",
            &b,
            &format!(
                r#"{{"bucketName":"{b}",{host},"ownershipControls":"","OwnershipControls":{{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","Rule":{{"ObjectOwnership":"{}"}}}}}}"#,
                if flip == 0 {
                    "ObjectWriter"
                } else {
                    "BucketOwnerEnforced"
                }
            ),
            false,
        ),
        5 => s3_record(
            r,
            i,
            "PutBucketTagging",
            &b,
            &format!(
                r#"{{"bucketName":"{b}",{host},"tagging":"","Tagging":{{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","TagSet":{{"Tag":[{{"Key":"team","Value":"t{team}"}},{{"Key":"env","Value":"prod"}}]}}}}}}"#
            ),
            false,
        ),
        6 => s3_record(
            r,
            i,
            "DeleteBucketPolicy",
            &b,
            &format!(r#"{{"bucketName":"{b}",{host},"policy":[""]}}"#),
            false,
        ),
        _ => {
            let key = format!(
                "data/{}/part-{:06}.parquet",
                r.below(100),
                r.below(1_000_000)
            );
            let acl = if r.below(10) == 0 {
                "public-read"
            } else {
                "bucket-owner-full-control"
            };
            s3_record(
                r,
                i,
                "PutObjectAcl",
                &b,
                &format!(
                    r#"{{"bucketName":"{b}",{host},"key":"{key}","acl":"","x-amz-acl":"{acl}"}}"#
                ),
                true,
            )
        }
    }
}

pub fn read_or_noise(r: &mut Rng, i: u64, buckets: u64) -> String {
    let b = format!("bench-bucket-{:05}", r.below(buckets));
    let key = format!(
        "data/{}/part-{:06}.parquet",
        r.below(100),
        r.below(1_000_000)
    );
    let name = ["GetObject", "HeadObject", "PutObject", "ListObjects"][r.below(4) as usize];
    let params =
        format!(r#"{{"bucketName":"{b}","Host":"{b}.s3.us-east-1.amazonaws.com","key":"{key}"}}"#);
    s3_record(r, i, name, &b, &params, true)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .expect("usage: gen_trail OUT.json.gz [RECORDS] [BUCKETS] [SEED]");
    let records: u64 = args
        .get(2)
        .map(|s| s.parse().expect("RECORDS"))
        .unwrap_or(1_000_000);
    let buckets: u64 = args
        .get(3)
        .map(|s| s.parse().expect("BUCKETS"))
        .unwrap_or(10_000);
    let seed: u64 = args.get(4).map(|s| s.parse().expect("SEED")).unwrap_or(42);
    let mut r = Rng(seed);
    let mut w = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, File::create(out)?),
        Compression::new(6),
    );
    w.write_all(b"{\"Records\":[")?;
    for i in 0..records {
        if i > 0 {
            w.write_all(b",")?;
        }
        let rec = match r.below(100) {
            0..=9 => watched(&mut r, i, buckets),
            10..=39 => read_or_noise(&mut r, i, buckets),
            _ => other_record(&mut r, i),
        };
        w.write_all(rec.as_bytes())?;
    }
    w.write_all(b"]}")?;
    w.finish()?.flush()?;
    Ok(())
}
