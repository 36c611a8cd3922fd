//! The live fleet across accounts (issue #19): a worker whose `[accounts] allowed` names two
//! members locks public buckets down in each member's own account through its role, one incident
//! each naming the account; an event naming a third, not-allowed account causes no AssumeRole
//! and leaves that account untouched; a member's account-level block never masks another
//! member's bucket. With `allowed = "organization"` the same holds for the accounts the
//! organization lists, and an account outside it is refused without any AWS call.
//!
//! moto runs an assumed role's calls in the account of the role ARN ("The ARN can point to
//! another account, providing an opportunity to switch accounts"), so each member's buckets
//! live apart from the others', as in AWS. AssumeRole is counted at a loopback proxy between
//! the worker and moto.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::fault_proxy::FaultProxy;
use support::*;

/// Account ids of this test process (moto keeps every account's buckets; runs must not meet).
fn account(n: u32) -> String {
    format!("{:06}{:06}", std::process::id() % 1_000_000, 100 + n)
}

/// `event` as recorded in `account` (CloudTrail's recipientAccountId and the EventBridge envelope).
fn in_account(mut event: Value, account: &str) -> Value {
    event["account"] = account.into();
    event["detail"]["recipientAccountId"] = account.into();
    event["detail"]["userIdentity"]["accountId"] = account.into();
    event["detail"]["userIdentity"]["arn"] = format!("arn:aws:iam::{account}:user/mallory").into();
    event
}

async fn block_in(s3: &aws_sdk_s3::Client, bucket: &str) -> Option<bool> {
    match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(r) => r.public_access_block_configuration().map(|c| {
            c.block_public_acls().unwrap_or(false) && c.ignore_public_acls().unwrap_or(false)
        }),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_locked_down_in_their_own_accounts_and_a_stranger_is_never_assumed() {
    let (a, b, c, d) = (account(1), account(2), account(3), account(4));
    // The test's own clients reach every account (to set the scene); the worker's do not.
    let (_reach, clients) = clients_in(&[&a, &b, &c, &d]).await;
    let [ca, cb, cc, cd]: [_; 4] = clients.try_into().unwrap();
    let (s3a, s3b, s3c, s3d) = (ca.s3, cb.s3, cc.s3, cd.s3.clone());
    let pid = std::process::id();
    let (ba, bb, bc, bd) = (
        format!("bw-org-{pid}-a"),
        format!("bw-org-{pid}-b"),
        format!("bw-org-{pid}-c"),
        format!("bw-org-{pid}-d"),
    );
    for (s3, bucket) in [(&s3a, &ba), (&s3b, &bb), (&s3c, &bc), (&s3d, &bd)] {
        open_with_public_acl(s3, bucket).await;
    }
    // d's account-level block covers d's bucket only.
    cd.s3control
        .put_public_access_block()
        .account_id(&d)
        .public_access_block_configuration(
            aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Each member's bucket lives in its own account only.
    let listed: Vec<String> = s3a
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|x| x.name().map(str::to_owned))
        .collect();
    assert!(listed.contains(&ba) && !listed.contains(&bb), "{listed:?}");

    let proxy = FaultProxy::start(&moto().endpoint, 7, Duration::from_secs(1)).await;
    let f = Fleet::new(
        "org",
        1,
        &format!(
            "[accounts]\nallowed = [\"{a}\", \"{b}\", \"{d}\"]\nexternal_id = \"bucketwarden-test\"\n"
        ),
    )
    .await;
    let mut w = f.spawn_worker("w1", &[("AWS_ENDPOINT_URL", &proxy.endpoint)]);
    let t = now_time();
    // d first: its account-level block learned from live S3 must not mask b's bucket after it.
    for (acct, bucket, id) in [
        (&d, &bd, "org-d"),
        (&c, &bc, "org-c"),
        (&a, &ba, "org-a"),
        (&b, &bb, "org-b"),
    ] {
        f.put_event(
            "k",
            &in_account(put_bucket_acl_public(bucket, id, &t), acct),
        )
        .await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let inc = f.incidents().await;
        let done = ["org-a", "org-b"].iter().all(|id| {
            inc.iter()
                .any(|i| s(i, "eventId") == *id && s(i, "outcome") == "remediated")
        });
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no remediated incident in each allowed member: {inc:?}\n{}\n{}",
            proxy.report(),
            w.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the worker pass c's and d's events (they were put before a's and b's on one shard).
    let incidents = f.incidents().await;
    let log = w.log_text();
    w.terminate(Duration::from_secs(10));
    assert_eq!(
        incidents.len(),
        2,
        "one incident per exposed member bucket: {incidents:?}\n{log}"
    );
    for (id, acct, bucket) in [("org-a", &a, &ba), ("org-b", &b, &bb)] {
        let i = incidents.iter().find(|i| s(i, "eventId") == id).unwrap();
        assert_eq!(s(i, "account"), *acct, "{i:?}");
        assert_eq!(s(i, "bucket"), *bucket, "{i:?}");
    }
    // Locked down where the bucket lives, through the member's role.
    assert_eq!(block_in(&s3a, &ba).await, Some(true), "{log}");
    assert_eq!(block_in(&s3b, &bb).await, Some(true), "{log}");
    // The stranger's bucket is untouched: still no bucket-level block.
    assert_eq!(block_in(&s3c, &bc).await, None, "{log}");
    // d's bucket was masked by d's own account-level block: no incident, no bucket-level change.
    assert_eq!(block_in(&s3d, &bd).await, None, "{log}");
    // One AssumeRole per allowed member with an event (a, b, d); none for c.
    assert_eq!(
        proxy.operation_count("sts", "AssumeRole"),
        3,
        "{}\n{log}",
        proxy.report()
    );
    assert!(
        log.contains("outside [accounts] allowed") && log.contains(&c),
        "the refusal is logged with the account: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_cannot_be_assumed_is_a_failed_incident_and_the_shard_goes_on() {
    let (e, g) = (account(5), account(6));
    let (_reach, clients) = clients_in(&[&e, &g]).await;
    let [ce, cg]: [_; 2] = clients.try_into().unwrap();
    let (s3e, s3g) = (ce.s3, cg.s3);
    let pid = std::process::id();
    let (be, bg) = (format!("bw-org-{pid}-e"), format!("bw-org-{pid}-g"));
    open_with_public_acl(&s3e, &be).await;
    open_with_public_acl(&s3g, &bg).await;

    let proxy = FaultProxy::start(&moto().endpoint, 11, Duration::from_secs(1)).await;
    let f = Fleet::new(
        "orgfail",
        1,
        &format!("[accounts]\nallowed = [\"{e}\", \"{g}\"]\nfailure_backoff_ms = 60000\n"),
    )
    .await;
    let mut w = f.spawn_worker("w1", &[("AWS_ENDPOINT_URL", &proxy.endpoint)]);
    wait_for("the worker to start", Duration::from_secs(30), || async {
        w.log_text().contains("worker starting")
    })
    .await;
    // STS answers every call with an error from now on: e's role cannot be assumed.
    proxy.set_rates(
        "sts",
        support::fault_proxy::Rates {
            server_error: 1.0,
            ..Default::default()
        },
    );
    let t = now_time();
    f.put_event(
        "k",
        &in_account(put_bucket_acl_public(&be, "orgf-e", &t), &e),
    )
    .await;
    let failed = wait_for("e's failed incident", Duration::from_secs(60), || async {
        f.incidents()
            .await
            .iter()
            .any(|i| s(i, "eventId") == "orgf-e" && s(i, "outcome") == "failed")
    })
    .await;
    eprintln!("failed incident after {failed:?}");
    // STS is back; the same shard goes on to g's event.
    proxy.clear_rates();
    f.put_event(
        "k",
        &in_account(put_bucket_acl_public(&bg, "orgf-g", &t), &g),
    )
    .await;
    wait_for("g remediated", Duration::from_secs(60), || async {
        f.incidents()
            .await
            .iter()
            .any(|i| s(i, "eventId") == "orgf-g" && s(i, "outcome") == "remediated")
    })
    .await;
    let incidents = f.incidents().await;
    let log = w.log_text();
    w.terminate(Duration::from_secs(10));
    let ie = incidents
        .iter()
        .find(|i| s(i, "eventId") == "orgf-e")
        .unwrap();
    assert_eq!(s(ie, "account"), e, "{ie:?}");
    assert!(
        s(ie, "error").contains("AssumeRole"),
        "the AWS error is on the incident: {ie:?}"
    );
    // An operator was told about e as well as g.
    let alerts = f.alerts().await;
    assert!(
        alerts.iter().any(|(_, a)| a.to_string().contains("orgf-e")),
        "{alerts:?}\n{log}"
    );
    // e's bucket is still public (nothing could be done there); g's is locked down.
    assert_eq!(block_in(&s3e, &be).await, None, "{log}");
    assert_eq!(block_in(&s3g, &bg).await, Some(true), "{log}");
}

/// `allowed = "organization"` on the live path: the worker lists the organization's accounts
/// (moto: the test identity is the management account, as AWS requires for ListAccounts) before
/// reading the stream; an event in a listed member is remediated there through its role, and an
/// event naming an account outside the organization is refused from the cached list: no
/// AssumeRole, and no further ListAccounts either (admission never lists).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_organization_a_listed_member_is_remediated_and_an_outsider_is_never_assumed() {
    let member = organization_with_members(&moto().endpoint, 1)
        .await
        .remove(0);
    let outsider = account(5);
    let (_reach, clients) = clients_in(&[&member, &outsider]).await;
    let [cm, co]: [_; 2] = clients.try_into().unwrap();
    let (s3m, s3o) = (cm.s3, co.s3);
    let pid = std::process::id();
    let (bm, bo) = (format!("bw-orgl-{pid}-m"), format!("bw-orgl-{pid}-o"));
    open_with_public_acl(&s3m, &bm).await;
    open_with_public_acl(&s3o, &bo).await;

    let proxy = FaultProxy::start(&moto().endpoint, 11, Duration::from_secs(1)).await;
    let f = Fleet::new("orgl", 1, "[accounts]\nallowed = \"organization\"\n").await;
    let mut w = f.spawn_worker("w1", &[("AWS_ENDPOINT_URL", &proxy.endpoint)]);
    let t = now_time();
    // The outsider's event first, on the same shard: it is passed before the member's.
    for (acct, bucket, id) in [(&outsider, &bo, "orgl-o"), (&member, &bm, "orgl-m")] {
        f.put_event(
            "k",
            &in_account(put_bucket_acl_public(bucket, id, &t), acct),
        )
        .await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let inc = f.incidents().await;
        if inc
            .iter()
            .any(|i| s(i, "eventId") == "orgl-m" && s(i, "outcome") == "remediated")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no remediated incident in the listed member: {inc:?}\n{}\n{}",
            proxy.report(),
            w.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let incidents = f.incidents().await;
    let log = w.log_text();
    w.terminate(Duration::from_secs(10));
    assert_eq!(incidents.len(), 1, "{incidents:?}\n{log}");
    assert_eq!(s(&incidents[0], "account"), member, "{:?}", incidents[0]);
    assert_eq!(block_in(&s3m, &bm).await, Some(true), "{log}");
    assert_eq!(block_in(&s3o, &bo).await, None, "{log}");
    assert_eq!(
        proxy.operation_count("sts", "AssumeRole"),
        1,
        "the member only\n{}\n{log}",
        proxy.report()
    );
    assert_eq!(
        proxy.operation_count("organizations", "ListAccounts"),
        1,
        "listed once at start, never to admit an event\n{}",
        proxy.report()
    );
    assert!(
        log.contains("outside [accounts] allowed") && log.contains(&outsider),
        "the refusal is logged with the account: {log}"
    );
}
