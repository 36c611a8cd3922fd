//! `bucketwarden dev-trail` across accounts (issue #19): a call made with an assumed role's
//! credentials is recorded in the role's account (recipientAccountId, userIdentity), a plain key's
//! in the default one, with one STS lookup per access key.

mod support;

use std::time::Duration;

use aws_sdk_s3::types::{BucketCannedAcl, ObjectOwnership};
use bucketwarden::dev_trail::{DevTrail, Options};
use support::dev_trail::*;
use support::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_assumed_role_credentials_is_recorded_in_the_roles_account() {
    // CloudTrail: recipientAccountId "represents the account ID that received this event", and a
    // role session's userIdentity is type AssumedRole with the session ARN and the role's
    // account. moto runs an assumed role's calls in the role's account ("The ARN can point to
    // another account, providing an opportunity to switch accounts").
    let member = format!("{:06}{:06}", std::process::id() % 1_000_000, 777);
    let f = Fleet::new("trailacct", 1, "").await;
    // dev-trail's STS lookups pass a counting proxy, to show one per access key.
    let counter =
        support::fault_proxy::FaultProxy::start(&moto().endpoint, 1, Duration::from_secs(1)).await;
    let identities = std::sync::Arc::new(bucketwarden::dev_trail::identity::Identities::new(
        &sdk_config_at(&counter.endpoint, None).await,
        ACCOUNT,
    ));
    let proxy = DevTrail::bind(Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: moto().endpoint.clone(),
        stream: f.names.stream.clone(),
        vhost_suffixes: vec!["localhost".into()],
        account_id: ACCOUNT.into(),
        region: "us-east-1".into(),
    })
    .await
    .unwrap()
    .with_identities(identities.clone());
    let url = format!("http://{}", proxy.local_addr());
    let stop = CancellationToken::new();
    let running = tokio::spawn(proxy.run(f.clients.kinesis.clone(), stop.clone()));

    let sts = aws_sdk_sts::Client::new(&sdk_config_at(&moto().endpoint, None).await);
    let c = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{member}:role/developer"))
        .role_session_name("laptop")
        .send()
        .await
        .unwrap()
        .credentials()
        .cloned()
        .unwrap();
    let member_s3 = s3_with(
        &url,
        aws_sdk_s3::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "assumed",
        ),
    );
    let in_member = f.bucket("member");
    let in_default = f.bucket("default");
    member_s3
        .create_bucket()
        .bucket(&in_member)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    member_s3
        .delete_public_access_block()
        .bucket(&in_member)
        .send()
        .await
        .unwrap();
    member_s3
        .put_bucket_acl()
        .bucket(&in_member)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    // A plain key through the same proxy keeps the default attribution.
    s3_via(&url)
        .create_bucket()
        .bucket(&in_default)
        .send()
        .await
        .unwrap();
    let events = read_stream(&f, 4).await;
    stop.cancel();
    running.await.unwrap();

    // The bucket lives in the member account, as the events say.
    let real_member_s3 = s3_with(
        &moto().endpoint,
        aws_sdk_s3::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "assumed",
        ),
    );
    let listed = real_member_s3.list_buckets().send().await.unwrap();
    assert!(
        listed
            .buckets()
            .iter()
            .any(|b| b.name() == Some(&in_member)),
        "{listed:?}"
    );
    let session = format!("arn:aws:sts::{member}:assumed-role/developer/laptop");
    for e in events
        .iter()
        .filter(|e| e["detail"]["requestParameters"]["bucketName"] == in_member.as_str())
    {
        let d = &e["detail"];
        assert_eq!(d["recipientAccountId"], member.as_str(), "{e:#}");
        assert_eq!(e["account"], member.as_str(), "{e:#}");
        assert_eq!(d["userIdentity"]["type"], "AssumedRole", "{e:#}");
        assert_eq!(d["userIdentity"]["accountId"], member.as_str(), "{e:#}");
        assert_eq!(d["userIdentity"]["arn"], session.as_str(), "{e:#}");
        assert_eq!(
            d["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
            format!("arn:aws:iam::{member}:role/developer"),
            "{e:#}"
        );
    }
    assert_eq!(
        events
            .iter()
            .filter(|e| e["detail"]["requestParameters"]["bucketName"] == in_member.as_str())
            .count(),
        3
    );
    let plain = events
        .iter()
        .find(|e| e["detail"]["requestParameters"]["bucketName"] == in_default.as_str())
        .unwrap();
    assert_eq!(plain["detail"]["recipientAccountId"], ACCOUNT);
    assert_eq!(
        plain["detail"]["userIdentity"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/{ACCESS_KEY}")
    );
    // One GetCallerIdentity per access key, not per request.
    assert_eq!(
        counter.operation_count("sts", "GetCallerIdentity"),
        2,
        "{}",
        counter.report()
    );
    assert_eq!(identities.lookups(), 2);
}
