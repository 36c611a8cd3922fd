//! `bucketwarden dev-trail` (issue: local end-to-end loop): real S3 calls through the proxy to a
//! real moto server on 127.0.0.1 become CloudTrail-shaped events on a real Kinesis stream, and a
//! real worker fleet locks down what they make public.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, CompletedMultipartUpload, CompletedPart, Grant, Grantee,
    IndexDocument, ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    Permission, PublicAccessBlockConfiguration, Tag, Tagging, Type, WebsiteConfiguration,
};
use bucketwarden::core::change::Change;
use bucketwarden::core::record::{classify, Classified};
use bucketwarden::dev_trail::{DevTrail, Options};
use serde_json::Value;
use support::dev_trail::*;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(60);
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// A second moto account, so the account-wide block set here cannot touch other tests' buckets.
const OTHER_ACCOUNT: &str = "210987654321";
const RAW_AGENT: &str = "raw-http/1.0 (dev-trail test)";

async fn s3control_via(endpoint: &str) -> aws_sdk_s3control::Client {
    let creds = aws_sdk_s3::config::Credentials::new(ACCESS_KEY, "secret", None, None, "test");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await;
    // Same construction the product uses (account id not in the host name on loopback).
    bucketwarden::aws::Clients::new(&config).s3control
}

/// One raw HTTP/1.1 request on loopback with a virtual-host-style Host header (no DNS needed).
async fn raw_vhost_put(addr: std::net::SocketAddr, host: &str, target: &str, headers: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "PUT {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20261123/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nUser-Agent: {RAW_AGENT}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn change_of(event: &Value) -> Option<Change> {
    match classify(&serde_json::to_vec(event).unwrap()) {
        Classified::Event(e) => e.change,
        other => panic!("not a watched event: {other:?}\n{event:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_watched_call_through_dev_trail_is_one_cloudtrail_shaped_event() {
    let f = Fleet::new("trail", 1, "").await;
    let proxy = DevTrail::bind(Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: moto().endpoint.clone(),
        stream: f.names.stream.clone(),
        vhost_suffixes: vec!["localhost".into()],
        account_id: ACCOUNT.into(),
        region: "us-east-1".into(),
    })
    .await
    .unwrap();
    let addr = proxy.local_addr();
    let url = format!("http://{addr}");
    let stop = CancellationToken::new();
    let running = tokio::spawn(proxy.run(f.clients.kinesis.clone(), stop.clone()));
    let s3 = s3_via(&url);
    let b = f.bucket("calls");

    // Bucket-level calls.
    s3.create_bucket()
        .bucket(&b)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    s3.put_bucket_ownership_controls()
        .bucket(&b)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::ObjectWriter)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.put_public_access_block()
        .bucket(&b)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(false)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.delete_public_access_block()
        .bucket(&b)
        .send()
        .await
        .unwrap();
    // Virtual-host style, canned ACL header.
    let status = raw_vhost_put(
        addr,
        &format!("{b}.localhost:{}", addr.port()),
        "/?acl",
        "x-amz-acl: public-read\r\n",
    )
    .await;
    assert_eq!(
        status, 200,
        "virtual-host-style PutBucketAcl through dev-trail"
    );
    // XML body with grants.
    let owner = s3.get_bucket_acl().bucket(&b).send().await.unwrap();
    let owner = owner.owner().cloned().unwrap();
    s3.put_bucket_acl()
        .bucket(&b)
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(owner)
                .grants(
                    Grant::builder()
                        .grantee(
                            Grantee::builder()
                                .r#type(Type::Group)
                                .uri(ALL_USERS)
                                .build()
                                .unwrap(),
                        )
                        .permission(Permission::Read)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#
    );
    s3.put_bucket_policy()
        .bucket(&b)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    s3.delete_bucket_policy().bucket(&b).send().await.unwrap();
    s3.put_bucket_tagging()
        .bucket(&b)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("team").value("web").build().unwrap())
                .tag_set(
                    Tag::builder()
                        .key("bucketwarden:allow-public")
                        .value("true")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.delete_bucket_tagging().bucket(&b).send().await.unwrap();
    s3.put_bucket_website()
        .bucket(&b)
        .website_configuration(
            WebsiteConfiguration::builder()
                .index_document(
                    IndexDocument::builder()
                        .suffix("index.html")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.delete_bucket_website().bucket(&b).send().await.unwrap();

    // Object-level calls: a 3 MiB upload streams through and reads back intact.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    s3.put_object()
        .bucket(&b)
        .key("dir/big file.bin")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    let back = s3
        .get_object()
        .bucket(&b)
        .key("dir/big file.bin")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert!(back.as_ref() == big.as_slice(), "upload altered in transit");
    s3.put_object()
        .bucket(&b)
        .key("plain.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    s3.put_object_acl()
        .bucket(&b)
        .key("plain.txt")
        .grant_read(format!("uri=\"{ALL_USERS}\""))
        .send()
        .await
        .unwrap();
    s3.copy_object()
        .bucket(&b)
        .key("copy.bin")
        .copy_source(format!("{b}/plain.txt"))
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let mp = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp.bin")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let upload_id = mp.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket(&b)
        .key("mp.bin")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"part one"))
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("mp.bin")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // A call the emulator rejects is still recorded, with its error.
    let missing = f.bucket("no-such-bucket");
    let err = s3
        .put_bucket_acl()
        .bucket(&missing)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .expect_err("no such bucket");
    assert_eq!(err.into_service_error().code(), Some("NoSuchBucket"));

    // Reads and unwatched writes are not events.
    s3.head_bucket().bucket(&b).send().await.unwrap();
    s3.list_objects_v2().bucket(&b).send().await.unwrap();
    s3.get_bucket_policy_status().bucket(&b).send().await.ok();
    s3.put_bucket_versioning()
        .bucket(&b)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();

    // S3 Control: the account block (in a second account) and an access point.
    let control = s3control_via(&url).await;
    control
        .put_public_access_block()
        .account_id(OTHER_ACCOUNT)
        .public_access_block_configuration(
            aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-moto-account-id", OTHER_ACCOUNT);
        })
        .send()
        .await
        .unwrap();
    control
        .delete_public_access_block()
        .account_id(OTHER_ACCOUNT)
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("x-moto-account-id", OTHER_ACCOUNT);
        })
        .send()
        .await
        .unwrap();
    let ap = f.bucket("ap");
    // moto 5.2.5 answers with the root element `CreateAccessPointResponse`, which the Rust SDK
    // refuses to decode; the access point is created all the same (status 200).
    if let Err(e) = control
        .create_access_point()
        .account_id(ACCOUNT)
        .name(&ap)
        .bucket(&b)
        .send()
        .await
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        assert_eq!(status, Some(200), "CreateAccessPoint failed: {e:?}");
    }
    let ap_policy = format!(
        r#"{{"Statement":[{{"Sid":"AP","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:us-east-1:{ACCOUNT}:accesspoint/{ap}/object/*"}}]}}"#
    );
    control
        .put_access_point_policy()
        .account_id(ACCOUNT)
        .name(&ap)
        .policy(&ap_policy)
        .send()
        .await
        .unwrap();
    control
        .delete_access_point_policy()
        .account_id(ACCOUNT)
        .name(&ap)
        .send()
        .await
        .unwrap();
    control
        .delete_access_point()
        .account_id(ACCOUNT)
        .name(&ap)
        .send()
        .await
        .unwrap();

    // Empty the bucket (DeleteObject is not watched), then delete it.
    for k in ["dir/big file.bin", "plain.txt", "copy.bin", "mp.bin"] {
        s3.delete_object().bucket(&b).key(k).send().await.unwrap();
    }
    s3.delete_bucket().bucket(&b).send().await.unwrap();

    let expected = [
        "CreateBucket",
        "PutBucketOwnershipControls",
        "PutBucketPublicAccessBlock",
        "DeleteBucketPublicAccessBlock",
        "PutBucketAcl",
        "PutBucketAcl",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "PutBucketTagging",
        "DeleteBucketTagging",
        "PutBucketWebsite",
        "DeleteBucketWebsite",
        "PutObject",
        "PutObject",
        "PutObjectAcl",
        "CopyObject",
        "CreateMultipartUpload",
        "PutBucketAcl",
        "PutAccountPublicAccessBlock",
        "DeleteAccountPublicAccessBlock",
        "CreateAccessPoint",
        "PutAccessPointPolicy",
        "DeleteAccessPointPolicy",
        "DeleteAccessPoint",
        "DeleteBucket",
    ];
    let events = read_stream(&f, expected.len()).await;
    stop.cancel();
    let summary = running.await.unwrap();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["detail"]["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names, expected,
        "exactly one event per watched call, in order"
    );
    assert_eq!(summary.events_put, expected.len() as u64);
    assert_eq!(summary.events_undelivered, 0);
    assert!(
        summary.requests > expected.len() as u64,
        "reads were forwarded too"
    );

    // Every event: EventBridge envelope and the CloudTrail fields the fleet relies on.
    let mut ids = std::collections::HashSet::new();
    for e in &events {
        let d = &e["detail"];
        assert_eq!(e["detail-type"], "AWS API Call via CloudTrail");
        assert_eq!(e["source"], "aws.s3");
        assert_eq!(d["eventSource"], "s3.amazonaws.com");
        assert!(ids.insert(d["eventID"].as_str().unwrap().to_owned()));
        assert!(bucketwarden::core::time::parse_millis(d["eventTime"].as_str().unwrap()).is_some());
        assert_eq!(d["sourceIPAddress"], "127.0.0.1");
        assert_eq!(d["userIdentity"]["accessKeyId"], ACCESS_KEY);
        assert!(!d["userAgent"].as_str().unwrap().is_empty(), "{d}");
        assert_eq!(d["awsRegion"], "us-east-1");
        assert!(!d["requestID"].as_str().unwrap().is_empty(), "{d}");
    }
    let by = |i: usize| &events[i]["detail"]["requestParameters"];
    let agent = |i: usize| events[i]["detail"]["userAgent"].as_str().unwrap();
    assert!(agent(0).starts_with("aws-sdk-rust/"), "{}", agent(0));
    assert_eq!(agent(4), RAW_AGENT);
    assert_eq!(by(0)["bucketName"], b.as_str());
    assert_eq!(by(0)["x-amz-object-ownership"], "ObjectWriter");
    assert_eq!(
        by(2)["PublicAccessBlockConfiguration"]["BlockPublicAcls"],
        false
    );
    assert_eq!(
        by(2)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"],
        true
    );
    assert_eq!(by(4)["x-amz-acl"], "public-read");
    assert_eq!(
        by(4)["Host"],
        format!("{b}.localhost:{}", addr.port()),
        "virtual-host request"
    );
    assert_eq!(
        by(5)["AccessControlPolicy"]["AccessControlList"]["Grant"]["Grantee"]["URI"],
        ALL_USERS
    );
    assert_eq!(
        by(6)["bucketPolicy"]["Statement"][0]["Principal"],
        "*",
        "bucketPolicy as an object"
    );
    assert_eq!(by(12)["key"], "dir/big file.bin");
    assert_eq!(by(12)["x-amz-acl"], "public-read");
    assert_eq!(by(14)["x-amz-grant-read"], format!("uri=\"{ALL_USERS}\""));
    assert!(by(15)["x-amz-copy-source"]
        .as_str()
        .unwrap()
        .contains("plain.txt"));
    assert_eq!(events[17]["detail"]["errorCode"], "NoSuchBucket");
    assert_eq!(by(17)["bucketName"], missing.as_str());
    assert_eq!(events[18]["account"], OTHER_ACCOUNT);
    assert_eq!(by(20)["name"], ap.as_str());

    // And the fleet's own parser reads each as the change it is.
    let public_acl = |c: Option<Change>| match c {
        Some(Change::BucketAcl(a)) | Some(Change::ObjectAcl(a)) => a.is_public(),
        other => panic!("{other:?}"),
    };
    assert!(public_acl(change_of(&events[4])));
    assert!(public_acl(change_of(&events[5])));
    assert!(matches!(change_of(&events[6]), Some(Change::BucketPolicy(p)) if p.is_public()));
    assert!(public_acl(change_of(&events[12])));
    assert!(public_acl(change_of(&events[14])));
    assert!(public_acl(change_of(&events[15])));
    assert!(public_acl(change_of(&events[16])));
    assert_eq!(
        change_of(&events[17]),
        None,
        "a failed call changes nothing"
    );
    assert!(matches!(
        change_of(&events[18]),
        Some(Change::AccountBlock(c)) if c == bucketwarden::core::exposure::BlockConfig::ALL_ON
    ));
    assert!(
        matches!(change_of(&events[21]), Some(Change::AccessPointPolicy { policy, .. }) if policy.is_public())
    );
    assert!(matches!(change_of(&events[9]), Some(Change::DeleteTags)));
    match change_of(&events[8]) {
        Some(Change::Tags(t)) => assert_eq!(t.len(), 2),
        other => panic!("{other:?}"),
    }
}

/// `bucketwarden dev-trail` as a process; its first stdout line names the address it chose.
struct TrailProc {
    child: Child,
    url: String,
    log: std::path::PathBuf,
}

impl TrailProc {
    fn spawn(f: &Fleet) -> TrailProc {
        let log = f.dir.path().join("dev-trail.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
        cmd.args(["dev-trail", "--listen", "127.0.0.1:0", "--config"])
            .arg(&f.config_path);
        for (k, v) in aws_env() {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().expect("spawn dev-trail");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        TrailProc { child, url, log }
    }

    /// SIGTERM, then the summary it prints on the way out.
    fn stop(mut self) -> String {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "dev-trail did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TrailProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_locks_down_what_is_made_public_through_dev_trail() {
    // One shard: the stream keeps every event in call order, so the sentinel below proves the
    // failed call before it was processed.
    let f = Fleet::new("trailfleet", 1, "").await;
    let trail = TrailProc::spawn(&f);
    let w = f.spawn_worker("w1", &[]);
    let s3 = s3_via(&trail.url);

    // The tutorial: ACLs allowed, block removed, public-read.
    let acl_bucket = f.bucket("acl");
    open_with_public_acl(&s3, &acl_bucket).await;

    // A public bucket policy.
    let policy_bucket = f.bucket("policy");
    s3.create_bucket()
        .bucket(&policy_bucket)
        .send()
        .await
        .unwrap();
    s3.delete_public_access_block()
        .bucket(&policy_bucket)
        .send()
        .await
        .unwrap();
    s3.put_bucket_policy()
        .bucket(&policy_bucket)
        .policy(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{policy_bucket}/*"}}]}}"#
        ))
        .send()
        .await
        .unwrap();

    // An object made public by its ACL, in a bucket whose block is off but is not itself public.
    let obj_bucket = f.bucket("objects");
    s3.create_bucket()
        .bucket(&obj_bucket)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    s3.delete_public_access_block()
        .bucket(&obj_bucket)
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(&obj_bucket)
        .key("report.csv")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"a,b\n1,2\n"))
        .send()
        .await
        .unwrap();

    // A failed call that would have made a bucket public: recorded, never acted on.
    let missing = f.bucket("missing");
    s3.put_bucket_acl()
        .bucket(&missing)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .expect_err("NoSuchBucket");
    // Sentinel after it on the same shard.
    let sentinel = f.bucket("sentinel");
    open_with_public_acl(&s3, &sentinel).await;

    for b in [&acl_bucket, &policy_bucket, &sentinel] {
        wait_for(&format!("{b} locked down"), LONG, || async {
            f.block_of(b).await == Some((true, true, true, true))
                && f.tags_of(b).await.contains_key("bucketwarden:remediated")
        })
        .await;
    }
    wait_for("the object's ACL reset to private", LONG, || async {
        let acl = f
            .clients
            .s3
            .get_object_acl()
            .bucket(&obj_bucket)
            .key("report.csv")
            .send()
            .await
            .unwrap();
        !acl.grants()
            .iter()
            .any(|g| g.grantee().and_then(|x| x.uri()) == Some(ALL_USERS))
    })
    .await;
    wait_for("four incidents", LONG, || async {
        f.incidents().await.len() >= 4
    })
    .await;

    // The same bucket opened again after its lock-down is a new exposure, acted on again.
    s3.delete_public_access_block()
        .bucket(&acl_bucket)
        .send()
        .await
        .unwrap();
    s3.put_bucket_acl()
        .bucket(&acl_bucket)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    wait_for("five incidents", LONG, || async {
        f.incidents().await.len() >= 5
    })
    .await;
    wait_for("the re-opened bucket locked down again", LONG, || async {
        f.block_of(&acl_bucket).await == Some((true, true, true, true))
    })
    .await;
    wait_for("five alerts", LONG, || async {
        f.alerts().await.len() >= 5
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let incidents = f.incidents().await;
    let mut by_bucket: HashMap<String, Vec<String>> = HashMap::new();
    for i in &incidents {
        by_bucket
            .entry(s(i, "bucket"))
            .or_default()
            .push(s(i, "outcome"));
    }
    let logs = logs(&[&w]);
    assert_eq!(incidents.len(), 5, "{by_bucket:?}\n{logs}");
    let once = vec!["remediated".to_string()];
    let twice = vec!["remediated".to_string(), "remediated".to_string()];
    assert_eq!(
        by_bucket.get(acl_bucket.as_str()),
        Some(&twice),
        "{by_bucket:?}"
    );
    for b in [&policy_bucket, &obj_bucket, &sentinel] {
        assert_eq!(by_bucket.get(b.as_str()), Some(&once), "{b}: {by_bucket:?}");
    }
    assert!(
        !by_bucket.contains_key(&missing),
        "a failed call was acted on"
    );
    assert_eq!(f.alerts().await.len(), 5);
    // Every event was readable: nothing was dead-lettered as poison.
    let dead = f.scan(&f.names.dead_letter_table).await;
    assert!(
        dead.is_empty(),
        "dev-trail produced events the fleet could not read: {dead:?}"
    );

    let trail_log = trail.stop();
    assert!(
        trail_log.contains("events put on the stream, 0 undelivered"),
        "{trail_log}"
    );
}
