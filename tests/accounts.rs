//! Several accounts on moto (issue #19): credentials from AssumeRole act in the member account, an
//! account outside `[accounts] allowed` causes no AWS request at all, a member whose AssumeRole is
//! denied is reported and backed off while another member works, and credentials are renewed
//! inside the margin, also under clients already handed out (`allowed = "organization"`:
//! tests/accounts_organization.rs).
//!
//! What moto shows and what it cannot: moto runs an assumed role's calls in the account of the
//! role ARN ("The ARN can point to another account, providing an opportunity to switch
//! accounts"), and it lets any AssumeRole succeed — even into a role that does not exist — unless
//! IAM authorization is switched on (`/moto-api/reset-auth`), when it evaluates the caller's
//! identity policies (an explicit Deny refuses). It does not evaluate the member role's trust
//! policy across accounts, nor the external id, nor a missing role at AssumeRole time; those are
//! IAM's and are checked only in the template (tests/deploy.rs). moto accepts any
//! DurationSeconds; AWS's minimum is 900 s, which the config enforces, so renewal is shown with a
//! renewal margin just under the session length.

mod support;

use std::time::{Duration, Instant};

use bucketwarden::aws::accounts::{AccountError, Accounts};
use bucketwarden::aws::error::Kind;
use bucketwarden::config;
use bucketwarden::core::accounts::Admit;
use support::fault_proxy::FaultProxy;
use support::moto_iam::{moto_query, xml_field};
use support::*;

/// Account ids of this test process (moto keeps every account's buckets; runs must not meet).
fn account(n: u32) -> String {
    format!("{:06}{:06}", std::process::id() % 1_000_000, n)
}

async fn bucket_names(s3: &aws_sdk_s3::Client) -> Vec<String> {
    s3.list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect()
}

fn tag(what: &str) -> String {
    format!("bw-acct-{}-{what}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_credentials_act_in_the_member_account_only() {
    let (a, b) = (account(1), account(2));
    let base = sdk_config_at(&moto().endpoint, None).await;
    let accts = Accounts::new(&base, &accounts_config(&[&a, &b]))
        .await
        .unwrap();
    assert_eq!(accts.own_account(), ACCOUNT);
    assert_eq!(
        accts.role_arn(&a),
        format!("arn:aws:iam::{a}:role/bucketwarden-remediator")
    );

    let in_a = accts.s3_for(&a, "eu-west-1").await.unwrap();
    let bucket = tag("member-a");
    in_a.s3
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();

    // Visible in A only: not in B, not in the fleet's own account.
    assert!(bucket_names(&in_a.s3).await.contains(&bucket));
    let in_b = accts.s3_for(&b, "us-east-1").await.unwrap();
    assert!(!bucket_names(&in_b.s3).await.contains(&bucket));
    let own = accts.s3_for(ACCOUNT, "us-east-1").await.unwrap();
    assert!(!bucket_names(&own.s3).await.contains(&bucket));

    // No awsRegion in the event: the bucket's region comes from GetBucketLocation, in A.
    assert_eq!(accts.bucket_region(&a, &bucket).await.unwrap(), "eu-west-1");
    let by_bucket = accts.s3_for_bucket(&a, &bucket, None).await.unwrap();
    assert_eq!(
        (by_bucket.account.as_str(), by_bucket.region.as_str()),
        (a.as_str(), "eu-west-1")
    );
    // (moto answers GetBucketLocation for A's bucket asked from B too, where AWS would deny
    // without a bucket policy; so region lookups are not shown to be per account here.)

    // The own account, A and B all have working access; none failing.
    assert_eq!(accts.status(), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_outside_allowed_causes_no_request_at_all() {
    let proxy = FaultProxy::start(&moto().endpoint, 1, Duration::from_secs(1)).await;
    let a = account(3);
    let base = sdk_config_at(&proxy.endpoint, None).await;
    let accts = Accounts::new(&base, &accounts_config(&[&a])).await.unwrap();
    let before = proxy.requests();
    assert_eq!(
        before.get("sts"),
        Some(&1),
        "GetCallerIdentity only: {before:?}"
    );

    // A forged record may name any account, or junk; none of it reaches AWS.
    let forged = account(4);
    for who in [forged.as_str(), "", "1234", "*", "111111111111:role/x"] {
        assert_eq!(accts.admit(who), Admit::Refused, "{who:?}");
        let err = accts.s3_for(who, "us-east-1").await.unwrap_err();
        assert!(
            matches!(err, AccountError::NotAllowed { .. }),
            "{who:?}: {err}"
        );
        assert!(!err.retryable());
        let err = accts
            .s3_for_bucket(who, "some-bucket", None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, AccountError::NotAllowed { .. }),
            "{who:?}: {err}"
        );
    }
    assert_eq!(proxy.requests(), before, "a refused account made a request");

    // The allowed member costs one AssumeRole, cached for the next client.
    accts.s3_for(&a, "us-east-1").await.unwrap();
    accts.s3_for(&a, "eu-west-1").await.unwrap();
    assert_eq!(proxy.requests().get("sts"), Some(&2), "{}", proxy.report());
    // The own account never assumes anything.
    accts.s3_for(ACCOUNT, "us-east-1").await.unwrap();
    assert_eq!(proxy.requests().get("sts"), Some(&2), "{}", proxy.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_renewed_inside_the_margin_even_under_clients_handed_out() {
    let proxy = FaultProxy::start(&moto().endpoint, 2, Duration::from_secs(1)).await;
    let a = account(5);
    let base = sdk_config_at(&proxy.endpoint, None).await;
    // Sessions of 900 s (AWS's minimum) renewed when less than 895 s are left: every 5 s.
    let cfg = config::Accounts {
        session_duration_s: 900,
        refresh_before_s: 895,
        ..accounts_config(&[&a])
    };
    let accts = Accounts::new(&base, &cfg).await.unwrap();
    let sts = || proxy.requests().get("sts").copied().unwrap_or(0);
    assert_eq!(sts(), 1);

    let started = Instant::now();
    let in_a = accts.s3_for(&a, "us-east-1").await.unwrap();
    let bucket = tag("renewed");
    in_a.s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let assumed_once = sts();
    assert_eq!(assumed_once, 2, "{}", proxy.report());
    if started.elapsed() < Duration::from_secs(4) {
        // Still inside the session's first 5 s: the cached credentials sign.
        assert!(bucket_names(&in_a.s3).await.contains(&bucket));
        assert_eq!(sts(), assumed_once, "renewed too early: {}", proxy.report());
    }

    tokio::time::sleep(
        Duration::from_secs(5).saturating_sub(started.elapsed()) + Duration::from_millis(300),
    )
    .await;
    // The client handed out before asks again on its next call: one more AssumeRole, and the new
    // session still acts in A.
    assert!(bucket_names(&in_a.s3).await.contains(&bucket));
    assert_eq!(sts(), assumed_once + 1, "{}", proxy.report());
}

// ---------------------------------------------------------------- IAM authorization on moto

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_member_is_reported_and_backed_off_while_another_works() {
    // A moto of this test alone: authorization is switched on for the whole server.
    let moto = start_moto();
    let (good, denied) = (account(6), account(7));
    let role = "bucketwarden-remediator";

    // The fleet's identity: a user allowed everything except assuming the role in `denied`
    // (an explicit Deny, as an SCP or a permissions boundary would).
    let fleet_policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "sts:AssumeRole",
             "Resource": format!("arn:aws:iam::{denied}:role/{role}")}
        ]
    })
    .to_string();
    let e = &moto.endpoint;
    moto_query(
        e,
        ACCOUNT,
        "iam",
        &[
            ("Action", "CreateUser"),
            ("UserName", "fleet"),
            ("Version", "2010-05-08"),
        ],
    )
    .await;
    moto_query(
        e,
        ACCOUNT,
        "iam",
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "fleet"),
            ("PolicyName", "fleet"),
            ("PolicyDocument", &fleet_policy),
            ("Version", "2010-05-08"),
        ],
    )
    .await;
    let key = moto_query(
        e,
        ACCOUNT,
        "iam",
        &[
            ("Action", "CreateAccessKey"),
            ("UserName", "fleet"),
            ("Version", "2010-05-08"),
        ],
    )
    .await;
    let (key_id, secret) = (
        xml_field(&key, "AccessKeyId").to_owned(),
        xml_field(&key, "SecretAccessKey").to_owned(),
    );

    // The member role in `good`, trusting the fleet, allowed S3 (moto authorizes the assumed
    // role's calls by the role's own policies).
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/fleet")}}]
    })
    .to_string();
    let s3_all = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
    })
    .to_string();
    moto_query(
        e,
        &good,
        "iam",
        &[
            ("Action", "CreateRole"),
            ("RoleName", role),
            ("AssumeRolePolicyDocument", &trust),
            ("Version", "2010-05-08"),
        ],
    )
    .await;
    moto_query(
        e,
        &good,
        "iam",
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", role),
            ("PolicyName", "s3"),
            ("PolicyDocument", &s3_all),
            ("Version", "2010-05-08"),
        ],
    )
    .await;

    // Authorization on from here.
    let reset = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "POST",
            "-H",
            "Content-Type: text/plain",
            "--data",
            "0",
        ])
        .arg(format!("{e}/moto-api/reset-auth"))
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );

    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(e)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            &key_id, &secret, None, None, "fleet",
        ))
        .load()
        .await;
    // The unauthorised "testing" key is refused now: authorization is really on.
    let anon = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config_at(e, Some(1)).await)
            .force_path_style(true)
            .build(),
    );
    assert!(
        anon.list_buckets().send().await.is_err(),
        "moto authorization is off"
    );

    let cfg = config::Accounts {
        failure_backoff_ms: 60_000,
        ..accounts_config(&[&good, &denied])
    };
    let accts = Accounts::new(&base, &cfg).await.unwrap();

    let err = accts.s3_for(&denied, "us-east-1").await.unwrap_err();
    match &err {
        AccountError::AssumeFailed {
            account,
            role_arn,
            source,
        } => {
            assert_eq!(account, &denied);
            assert_eq!(role_arn, &format!("arn:aws:iam::{denied}:role/{role}"));
            // A 403 from STS. (moto's error body is S3-shaped, `<Error><Code>AccessDenied…`, which
            // the SDK's query-protocol parser does not read, so the code is not there; AWS
            // sends `<ErrorResponse><Error><Code>AccessDenied`.)
            assert!(source.is(Kind::AccessDenied), "{source:?}");
            assert_eq!((source.service, source.operation), ("sts", "AssumeRole"));
        }
        other => panic!("expected AssumeFailed, got {other}"),
    }
    assert!(err.retryable());
    // Asked again at once: backing off, no second AssumeRole.
    let again = accts.s3_for(&denied, "us-east-1").await.unwrap_err();
    match again {
        AccountError::BackingOff {
            failures,
            retry_in_ms,
            ..
        } => {
            assert_eq!(failures, 1);
            assert!(
                retry_in_ms > 50_000 && retry_in_ms <= 60_000,
                "{retry_in_ms}"
            );
        }
        other => panic!("expected BackingOff, got {other}"),
    }

    // The other member works meanwhile, under moto's authorization of the assumed role.
    let in_good = accts.s3_for(&good, "us-east-1").await.unwrap();
    let bucket = tag("authorized");
    in_good
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(bucket_names(&in_good.s3).await.contains(&bucket));
    // Own + good covered, denied failing.
    assert_eq!(accts.status(), (2, 1));
}

// ---------------------------------------------------------------- scan --all-accounts

fn bucketwarden(endpoint: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("BUCKETWARDEN_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_all_accounts_reads_and_remediates_each_member_through_its_role() {
    // A moto of this test alone: scan lists every bucket of each account.
    let moto = start_moto();
    let e = moto.endpoint.clone();
    let (a, b, c) = (account(8), account(9), account(10));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bucketwarden.toml");
    std::fs::write(
        &config,
        format!("[accounts]\nallowed = [\"{a}\", \"{b}\"]\n[remediation]\nattempts = 2\n"),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let init = bucketwarden(&e, &["init", "--shards", "1", "--config", cfg]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );

    let base = sdk_config_at(&e, None).await;
    let accts = Accounts::new(&base, &accounts_config(&[&a, &b, &c]))
        .await
        .unwrap();
    let in_a = accts.s3_for(&a, "us-east-1").await.unwrap();
    let in_b = accts.s3_for(&b, "us-east-1").await.unwrap();
    let in_c = accts.s3_for(&c, "us-east-1").await.unwrap();
    let own = accts.s3_for(ACCOUNT, "us-east-1").await.unwrap();
    open_with_public_acl(&in_a.s3, "member-a-open").await;
    in_b.s3
        .create_bucket()
        .bucket("member-b-closed")
        .send()
        .await
        .unwrap();
    own.s3
        .create_bucket()
        .bucket("own-closed")
        .send()
        .await
        .unwrap();
    // C is not in the scan's config: its open bucket must not be seen.
    open_with_public_acl(&in_c.s3, "member-c-open").await;

    let out = bucketwarden(
        &e,
        &[
            "scan",
            "--all-accounts",
            "--format",
            "jsonl",
            "--no-progress",
            "--config",
            cfg,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "exposed and open: {stderr}");
    let seen = scan_verdicts(&out.stdout);
    assert_eq!(seen["member-a-open"], (a.clone(), true), "{stderr}");
    assert_eq!(seen["member-b-closed"], (b.clone(), false));
    assert_eq!(seen["own-closed"], (ACCOUNT.to_owned(), false));
    assert!(!seen.contains_key("member-c-open"), "{seen:?}");
    for acct in [ACCOUNT, a.as_str(), b.as_str()] {
        assert!(stderr.contains(&format!("of account {acct}")), "{stderr}");
    }

    // --remediate fixes A's bucket in A (through the member role), and the exit is clean.
    let out = bucketwarden(
        &e,
        &[
            "scan",
            "--all-accounts",
            "--remediate",
            "--no-progress",
            "--config",
            cfg,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let block = in_a
        .s3
        .get_public_access_block()
        .bucket("member-a-open")
        .send()
        .await
        .unwrap();
    let c = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    // C's bucket was never touched.
    assert!(in_c
        .s3
        .get_public_access_block()
        .bucket("member-c-open")
        .send()
        .await
        .is_err());
}
