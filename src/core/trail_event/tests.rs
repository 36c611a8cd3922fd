//! Unit tests of request recognition, body conversion and event building against what
//! CloudTrail records. Test-only; no I/O.

use super::*;
use crate::core::change::Change;
use crate::core::exposure::{BlockConfig, Ownership};
use crate::core::record::{classify as classify_record, Classified, S3Event};

fn suffixes() -> Vec<String> {
    vec!["localhost".into()]
}

fn head(method: &str, host: &str, path: &str, query: Option<&str>) -> RequestHead {
    RequestHead {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_owned),
        headers: vec![
            ("host".into(), host.into()),
            (
                "authorization".into(),
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=0".into(),
            ),
            ("user-agent".into(), "aws-cli/2.15".into()),
        ],
    }
}

fn with(mut h: RequestHead, name: &str, value: &str) -> RequestHead {
    h.headers.push((name.into(), value.into()));
    h
}

fn name_of(h: &RequestHead) -> Option<EventName> {
    classify(h, &suffixes()).map(|c| c.name)
}

fn ctx() -> CallContext {
    CallContext {
        event_id: "ev-1".into(),
        event_time: "2026-11-23T10:00:00Z".into(),
        request_id: Some("REQ1".into()),
        source_ip: "127.0.0.1".into(),
        default_account: "123456789012".into(),
        default_region: "us-east-1".into(),
        error: None,
    }
}

/// Builds the event for a request and reads it back with the replay parser, as the fleet will.
fn round_trip(h: &RequestHead, body: Option<&str>, c: &CallContext) -> S3Event {
    let call = classify(h, &suffixes()).expect("watched call");
    let ev = eventbridge_event(&call, h, body.map(str::as_bytes), c);
    let bytes = serde_json::to_vec(&ev).unwrap();
    match classify_record(&bytes) {
        Classified::Event(e) => *e,
        other => panic!("not an event: {other:?} from {ev}"),
    }
}

#[test]
fn path_and_virtual_host_style_name_the_same_bucket_and_key() {
    let s = suffixes();
    assert_eq!(
        bucket_and_key(Some("127.0.0.1:4567"), "/b1/a/b%20c.txt", &s),
        (Some("b1".into()), Some("a/b c.txt".into()))
    );
    assert_eq!(
        bucket_and_key(Some("b1.localhost:4567"), "/a/b%20c.txt", &s),
        (Some("b1".into()), Some("a/b c.txt".into()))
    );
    assert_eq!(
        bucket_and_key(Some("b1.localhost"), "/", &s),
        (Some("b1".into()), None)
    );
    assert_eq!(
        bucket_and_key(Some("localhost:4567"), "/", &s),
        (None, None)
    );
    assert_eq!(
        bucket_and_key(Some("[::1]:4567"), "/b2", &s),
        (Some("b2".into()), None)
    );
}

#[test]
fn bucket_calls_are_recognised_by_method_and_subresource() {
    let h = |m, q| head(m, "127.0.0.1:4567", "/b1", q);
    assert_eq!(name_of(&h("PUT", None)), Some(EventName::CreateBucket));
    assert_eq!(name_of(&h("DELETE", None)), Some(EventName::DeleteBucket));
    assert_eq!(
        name_of(&h("PUT", Some("acl"))),
        Some(EventName::PutBucketAcl)
    );
    assert_eq!(
        name_of(&h("PUT", Some("acl="))),
        Some(EventName::PutBucketAcl)
    );
    assert_eq!(
        name_of(&h("PUT", Some("policy"))),
        Some(EventName::PutBucketPolicy)
    );
    assert_eq!(
        name_of(&h("DELETE", Some("policy"))),
        Some(EventName::DeleteBucketPolicy)
    );
    assert_eq!(
        name_of(&h("PUT", Some("publicAccessBlock"))),
        Some(EventName::PutBucketPublicAccessBlock)
    );
    assert_eq!(
        name_of(&h("DELETE", Some("publicAccessBlock"))),
        Some(EventName::DeleteBucketPublicAccessBlock)
    );
    assert_eq!(
        name_of(&h("PUT", Some("ownershipControls"))),
        Some(EventName::PutBucketOwnershipControls)
    );
    assert_eq!(
        name_of(&h("DELETE", Some("ownershipControls"))),
        Some(EventName::DeleteBucketOwnershipControls)
    );
    assert_eq!(
        name_of(&h("PUT", Some("tagging"))),
        Some(EventName::PutBucketTagging)
    );
    assert_eq!(
        name_of(&h("DELETE", Some("tagging"))),
        Some(EventName::DeleteBucketTagging)
    );
    assert_eq!(
        name_of(&h("PUT", Some("website"))),
        Some(EventName::PutBucketWebsite)
    );
    assert_eq!(
        name_of(&h("DELETE", Some("website"))),
        Some(EventName::DeleteBucketWebsite)
    );
    // Reads and unwatched writes are not events.
    assert_eq!(name_of(&h("GET", Some("acl"))), None);
    assert_eq!(name_of(&h("GET", None)), None);
    assert_eq!(name_of(&h("HEAD", None)), None);
    assert_eq!(name_of(&h("PUT", Some("versioning"))), None);
    assert_eq!(name_of(&h("PUT", Some("cors"))), None);
    assert_eq!(name_of(&h("POST", Some("delete"))), None);
    // Service-level requests (ListBuckets, other services' POST /) name no bucket.
    assert_eq!(name_of(&head("GET", "127.0.0.1:4567", "/", None)), None);
    assert_eq!(name_of(&head("POST", "127.0.0.1:4567", "/", None)), None);
}

#[test]
fn object_calls_are_recognised_including_copy_and_multipart() {
    let h = |m, q| head(m, "b1.localhost:4567", "/k/1", q);
    assert_eq!(
        name_of(&h("PUT", Some("acl"))),
        Some(EventName::PutObjectAcl)
    );
    assert_eq!(name_of(&h("PUT", None)), Some(EventName::PutObject));
    assert_eq!(
        name_of(&with(h("PUT", None), "x-amz-copy-source", "/b0/k")),
        Some(EventName::CopyObject)
    );
    assert_eq!(
        name_of(&h("POST", Some("uploads"))),
        Some(EventName::CreateMultipartUpload)
    );
    // Parts, completion, tagging and reads are other calls.
    assert_eq!(name_of(&h("PUT", Some("partNumber=1&uploadId=x"))), None);
    assert_eq!(name_of(&h("POST", Some("uploadId=x"))), None);
    assert_eq!(name_of(&h("PUT", Some("tagging"))), None);
    assert_eq!(name_of(&h("GET", None)), None);
    assert_eq!(name_of(&h("DELETE", None)), None);
    let call = classify(&h("PUT", None), &suffixes()).unwrap();
    assert!(!call.needs_body, "object bodies are never buffered");
    let call = classify(&h("PUT", Some("acl")), &suffixes()).unwrap();
    assert!(call.needs_body);
}

#[test]
fn s3_control_account_block_and_access_points_are_recognised() {
    let h = |m, p| head(m, "127.0.0.1:4567", p, None);
    let p = "/v20180820/configuration/publicAccessBlock";
    assert_eq!(
        name_of(&h("PUT", p)),
        Some(EventName::PutAccountPublicAccessBlock)
    );
    assert_eq!(
        name_of(&h("DELETE", p)),
        Some(EventName::DeleteAccountPublicAccessBlock)
    );
    assert_eq!(name_of(&h("GET", p)), None);
    let ap = "/v20180820/accesspoint/ap1";
    assert_eq!(name_of(&h("PUT", ap)), Some(EventName::CreateAccessPoint));
    assert_eq!(
        name_of(&h("DELETE", ap)),
        Some(EventName::DeleteAccessPoint)
    );
    let pol = "/v20180820/accesspoint/ap1/policy";
    assert_eq!(
        name_of(&h("PUT", pol)),
        Some(EventName::PutAccessPointPolicy)
    );
    assert_eq!(
        name_of(&h("DELETE", pol)),
        Some(EventName::DeleteAccessPointPolicy)
    );
    assert_eq!(
        name_of(&h("GET", "/v20180820/accesspoint/ap1/policyStatus")),
        None
    );
    let call = classify(&h("PUT", pol), &suffixes()).unwrap();
    assert_eq!(call.access_point.as_deref(), Some("ap1"));
    assert_eq!(call.bucket, None);
}

#[test]
fn access_control_policy_converts_as_cloudtrail_records_it() {
    let one = r#"<?xml version="1.0" encoding="UTF-8"?>
<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>abc</ID></Owner>
<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
    let (root, v) = xml_to_cloudtrail(one.as_bytes()).unwrap();
    assert_eq!(root, "AccessControlPolicy");
    assert_eq!(v["xmlns"], "http://s3.amazonaws.com/doc/2006-03-01/");
    let grant = &v["AccessControlList"]["Grant"];
    assert!(grant.is_object(), "a single Grant is an object: {grant}");
    assert_eq!(grant["Grantee"]["xsi:type"], "Group");
    assert_eq!(
        grant["Grantee"]["URI"],
        "http://acs.amazonaws.com/groups/global/AllUsers"
    );
    assert_eq!(grant["Permission"], "READ");

    let two = r#"<AccessControlPolicy><AccessControlList>
<Grant><Grantee xsi:type="CanonicalUser"><ID>abc</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>
<Grant><Grantee xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AuthenticatedUsers</URI></Grantee><Permission>WRITE</Permission></Grant>
</AccessControlList></AccessControlPolicy>"#;
    let (_, v) = xml_to_cloudtrail(two.as_bytes()).unwrap();
    let grants = v["AccessControlList"]["Grant"]
        .as_array()
        .expect("repeated Grant is an array");
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[1]["Permission"], "WRITE");
}

#[test]
fn block_flags_become_booleans_and_entities_are_decoded() {
    let xml = "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>\
<IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>TRUE</BlockPublicPolicy>\
<RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
    let (root, v) = xml_to_cloudtrail(xml.as_bytes()).unwrap();
    assert_eq!(root, "PublicAccessBlockConfiguration");
    assert_eq!(v["BlockPublicAcls"], true);
    assert_eq!(v["IgnorePublicAcls"], false);
    assert_eq!(v["BlockPublicPolicy"], true);
    let tags = "<Tagging><TagSet><Tag><Key>a&amp;b</Key><Value>&lt;1&#62;</Value></Tag></TagSet></Tagging>";
    let (_, v) = xml_to_cloudtrail(tags.as_bytes()).unwrap();
    assert_eq!(v["TagSet"]["Tag"]["Key"], "a&b");
    assert_eq!(v["TagSet"]["Tag"]["Value"], "<1>");
    assert_eq!(xml_to_cloudtrail(b"{\"not\":\"xml\"}"), None);
    assert_eq!(xml_to_cloudtrail(b"<open><never-closed>"), None);
    assert_eq!(xml_to_cloudtrail(b""), None);
}

#[test]
fn aws_chunked_bodies_are_unframed() {
    let h = with(
        head("PUT", "127.0.0.1", "/b/k", Some("acl")),
        "x-amz-content-sha256",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    );
    let framed = b"5;chunk-signature=ab\r\nhello\r\n6;chunk-signature=cd\r\n world\r\n0;chunk-signature=ef\r\n\r\n";
    assert_eq!(decode_aws_chunked(&h, framed), b"hello world");
    let plain = head("PUT", "127.0.0.1", "/b/k", Some("acl"));
    assert_eq!(
        decode_aws_chunked(&plain, b"5\r\nhello\r\n"),
        b"5\r\nhello\r\n"
    );
    // Broken framing is passed through rather than guessed at.
    assert_eq!(decode_aws_chunked(&h, b"zz\r\nhello"), b"zz\r\nhello");
}

#[test]
fn s3_errors_are_read_from_the_response_body() {
    let body = b"<?xml version=\"1.0\"?><Error><Code>MalformedPolicy</Code><Message>Policies must be valid JSON</Message><RequestId>1</RequestId></Error>";
    assert_eq!(
        s3_error(body),
        Some((
            "MalformedPolicy".into(),
            "Policies must be valid JSON".into()
        ))
    );
    assert_eq!(s3_error(b"<ErrorResponse><Error><Code>NoSuchPublicAccessBlockConfiguration</Code></Error></ErrorResponse>").map(|e| e.0), Some("NoSuchPublicAccessBlockConfiguration".into()));
    assert_eq!(s3_error(b"not xml"), None);
}

#[test]
fn canned_acl_event_has_cloudtrail_shape_and_reads_back_as_public() {
    let h = with(
        head("PUT", "127.0.0.1:4567", "/b1", Some("acl")),
        "x-amz-acl",
        "public-read",
    );
    let call = classify(&h, &suffixes()).unwrap();
    let ev = eventbridge_event(&call, &h, None, &ctx());
    assert_eq!(ev["detail-type"], "AWS API Call via CloudTrail");
    assert_eq!(ev["source"], "aws.s3");
    let d = &ev["detail"];
    assert_eq!(d["eventName"], "PutBucketAcl");
    assert_eq!(d["eventID"], "ev-1");
    assert_eq!(
        d["awsRegion"], "eu-west-1",
        "region from the credential scope"
    );
    assert_eq!(d["userIdentity"]["accessKeyId"], "AKIDEXAMPLE");
    assert_eq!(d["userIdentity"]["accountId"], "123456789012");
    assert_eq!(d["sourceIPAddress"], "127.0.0.1");
    assert_eq!(d["userAgent"], "aws-cli/2.15");
    assert_eq!(d["requestParameters"]["bucketName"], "b1");
    assert_eq!(d["requestParameters"]["x-amz-acl"], "public-read");
    assert_eq!(d["requestParameters"]["acl"], "");
    assert_eq!(d["requestID"], "REQ1");
    assert!(d.get("errorCode").is_none());
    assert_eq!(partition_key(&ev), "b1");

    let e = round_trip(&h, None, &ctx());
    assert_eq!(e.bucket.as_deref(), Some("b1"));
    match e.change {
        Some(Change::BucketAcl(acl)) => assert!(acl.is_public(), "{acl:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn xml_acl_body_reads_back_as_the_same_grants() {
    let h = head("PUT", "b1.localhost:4567", "/obj.txt", Some("acl"));
    let body = r#"<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>o</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
    let e = round_trip(&h, Some(body), &ctx());
    assert_eq!(e.event_name, EventName::PutObjectAcl);
    assert_eq!(
        (e.bucket.as_deref(), e.key.as_deref()),
        (Some("b1"), Some("obj.txt"))
    );
    match e.change {
        Some(Change::ObjectAcl(acl)) => {
            assert_eq!(acl.findings(), vec!["acl:AllUsers:READ".to_string()])
        }
        other => panic!("{other:?}"),
    }
    // The same without the AllUsers grant is private.
    let private = body.replace("http://acs.amazonaws.com/groups/global/AllUsers", "x");
    match round_trip(&h, Some(&private), &ctx()).change {
        Some(Change::ObjectAcl(acl)) => assert!(!acl.is_public()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn policy_block_ownership_and_tags_read_back() {
    let p = head("PUT", "127.0.0.1", "/b1", Some("policy"));
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Sid":"S1","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/*"}]}"#;
    let call = classify(&p, &suffixes()).unwrap();
    let ev = eventbridge_event(&call, &p, Some(doc.as_bytes()), &ctx());
    assert!(ev["detail"]["requestParameters"]["bucketPolicy"].is_object());
    match round_trip(&p, Some(doc), &ctx()).change {
        Some(Change::BucketPolicy(f)) => assert!(f.is_public(), "{f:?}"),
        other => panic!("{other:?}"),
    }

    let b = head("PUT", "127.0.0.1", "/b1", Some("publicAccessBlock"));
    let xml = "<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><BlockPublicAcls>false</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
    match round_trip(&b, Some(xml), &ctx()).change {
        Some(Change::BucketBlock(c)) => assert_eq!(
            c,
            BlockConfig {
                block_public_acls: false,
                ignore_public_acls: false,
                block_public_policy: true,
                restrict_public_buckets: true
            }
        ),
        other => panic!("{other:?}"),
    }

    let o = head("PUT", "127.0.0.1", "/b1", Some("ownershipControls"));
    let xml = "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>";
    assert_eq!(
        round_trip(&o, Some(xml), &ctx()).change,
        Some(Change::Ownership(Ownership::ObjectWriter))
    );

    let t = head("PUT", "127.0.0.1", "/b1", Some("tagging"));
    let xml = "<Tagging><TagSet><Tag><Key>bucketwarden:allow-public</Key><Value>true</Value></Tag><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>";
    assert_eq!(
        round_trip(&t, Some(xml), &ctx()).change,
        Some(Change::Tags(vec![
            ("bucketwarden:allow-public".into(), "true".into()),
            ("team".into(), "web".into())
        ]))
    );
}

#[test]
fn account_block_event_names_the_account_from_the_header() {
    let h = with(
        head(
            "PUT",
            "127.0.0.1",
            "/v20180820/configuration/publicAccessBlock",
            None,
        ),
        "x-amz-account-id",
        "111122223333",
    );
    let xml = "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
    let call = classify(&h, &suffixes()).unwrap();
    let ev = eventbridge_event(&call, &h, Some(xml.as_bytes()), &ctx());
    assert_eq!(ev["account"], "111122223333");
    assert_eq!(partition_key(&ev), "111122223333");
    let e = round_trip(&h, Some(xml), &ctx());
    assert_eq!(e.account, "111122223333");
    assert_eq!(e.change, Some(Change::AccountBlock(BlockConfig::ALL_ON)));
}

#[test]
fn access_point_calls_read_back_with_name_and_policy() {
    let c = head("PUT", "127.0.0.1", "/v20180820/accesspoint/ap1", None);
    let xml = "<CreateAccessPointRequest xmlns=\"http://awss3control.amazonaws.com/doc/2018-08-20/\"><Bucket>b1</Bucket></CreateAccessPointRequest>";
    let e = round_trip(&c, Some(xml), &ctx());
    assert_eq!(e.bucket.as_deref(), Some("b1"));
    assert_eq!(
        e.change,
        Some(Change::CreateAccessPoint {
            name: "ap1".into(),
            block: BlockConfig::ALL_ON,
            vpc_origin: false,
        })
    );
    let p = head(
        "PUT",
        "127.0.0.1",
        "/v20180820/accesspoint/ap1/policy",
        None,
    );
    let xml = r#"<PutAccessPointPolicyRequest><Policy>{"Statement":[{"Sid":"P","Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:us-east-1:123456789012:accesspoint/ap1/object/*"}]}</Policy></PutAccessPointPolicyRequest>"#;
    match round_trip(&p, Some(xml), &ctx()).change {
        Some(Change::AccessPointPolicy { name, policy }) => {
            assert_eq!(name, "ap1");
            assert!(policy.is_public(), "{policy:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_calls_carry_the_error_and_change_nothing() {
    let p = head("PUT", "127.0.0.1", "/b1", Some("policy"));
    let mut c = ctx();
    c.error = Some((
        "MalformedPolicy".into(),
        "Policies must be valid JSON".into(),
    ));
    let call = classify(&p, &suffixes()).unwrap();
    let ev = eventbridge_event(&call, &p, Some(b"{not json"), &c);
    assert_eq!(ev["detail"]["errorCode"], "MalformedPolicy");
    assert_eq!(
        ev["detail"]["requestParameters"]["bucketPolicy"],
        "{not json"
    );
    let e = round_trip(&p, Some("{not json"), &c);
    assert!(e.failed());
    assert_eq!(e.error_code.as_deref(), Some("MalformedPolicy"));
}

#[test]
fn object_upload_with_grant_header_is_an_acl_change_and_without_is_skipped() {
    let h = with(
        head("PUT", "127.0.0.1", "/b1/k", None),
        "x-amz-grant-read",
        "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"",
    );
    match round_trip(&h, None, &ctx()).change {
        Some(Change::ObjectAcl(acl)) => assert!(acl.is_public()),
        other => panic!("{other:?}"),
    }
    let plain = head("PUT", "127.0.0.1", "/b1/k", None);
    let call = classify(&plain, &suffixes()).unwrap();
    let ev = eventbridge_event(&call, &plain, None, &ctx());
    let bytes = serde_json::to_vec(&ev).unwrap();
    assert_eq!(
        classify_record(&bytes),
        Classified::Skipped(crate::core::record::Skip::Unwatched)
    );
}

#[test]
fn the_account_comes_from_headers_else_the_default() {
    let h = with(
        head("PUT", "127.0.0.1", "/b1", None),
        "x-moto-account-id",
        "210987654321",
    );
    let call = classify(&h, &suffixes()).unwrap();
    let ev = eventbridge_event(&call, &h, None, &ctx());
    assert_eq!(ev["account"], "210987654321");
    assert_eq!(ev["detail"]["userIdentity"]["accountId"], "210987654321");
    let mut h = head("PUT", "127.0.0.1", "/b1", None);
    h.headers.remove(1);
    let ev = eventbridge_event(&call, &h, None, &ctx());
    assert_eq!(ev["account"], "123456789012", "the default account");
    assert_eq!(
        ev["detail"]["userIdentity"]["type"], "AWSAccount",
        "unsigned request"
    );
}

#[test]
fn percent_decoding_keeps_invalid_escapes() {
    assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz%4"), "%zz%4");
    assert_eq!(percent_decode("%E2%9C%93"), "✓");
}
