//! `[accounts] allowed = "organization"` on moto (issue #19): only the accounts AWS Organizations
//! lists (ACTIVE) are admitted, none before the first listing, and admitting an account never
//! calls AWS; `scan --all-accounts` covers the organization's members with a summary each, and
//! says where to run the fleet when ListAccounts is refused.
//!
//! AWS (ListAccounts): "You can only call this operation from the management account or a member
//! account that is a delegated administrator." moto makes the caller of CreateOrganization the
//! management account (here the test identity, ACCOUNT), draws the created accounts' ids at
//! random, lists them with `State` and `Status` ACTIVE, and lets AssumeRole into them work like
//! any account. It does not refuse ListAccounts to a non-management caller, nor answer
//! AWSOrganizationsNotInUseException without an organization (it lists nothing), so a refusal is
//! made here by IAM (moto's authorization on, the caller denied `organizations:ListAccounts`),
//! which AWS answers with the same AccessDeniedException.

mod support;

use std::time::Duration;

use bucketwarden::aws::accounts::{AccountError, Accounts};
use bucketwarden::config::{self, Allowed};
use bucketwarden::core::accounts::Admit;
use support::fault_proxy::FaultProxy;
use support::moto_iam::{moto_query, xml_field};
use support::*;

/// Account ids of this test process outside any organization.
fn account(n: u32) -> String {
    format!("{:06}{:06}", std::process::id() % 1_000_000, 200 + n)
}

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

fn organization_config() -> config::Accounts {
    config::Accounts {
        allowed: Allowed::Organization,
        ..accounts_config(&[])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_organization_only_listed_accounts_are_admitted_and_admission_never_calls_aws() {
    let moto = start_moto();
    let members = organization_with_members(&moto.endpoint, 2).await;
    let outsider = account(11);
    assert!(!members.contains(&outsider));
    let proxy = FaultProxy::start(&moto.endpoint, 7, Duration::from_secs(1)).await;
    let base = sdk_config_at(&proxy.endpoint, None).await;
    let accts = Accounts::new(&base, &organization_config()).await.unwrap();
    let before = proxy.requests();

    // Before the first listing: no member (the safe choice), and no AWS call to find out.
    for m in &members {
        assert_eq!(accts.admit(m), Admit::Refused);
        let err = accts.s3_for(m, "us-east-1").await.unwrap_err();
        assert!(matches!(err, AccountError::NotAllowed { .. }), "{err}");
    }
    assert!(accts.members().is_empty());
    assert_eq!(proxy.requests(), before, "admission made a request");

    // One listing: the management account (the own) and both members, all ACTIVE.
    assert_eq!(accts.refresh_organization(true).await.unwrap(), Some(3));
    assert_eq!(proxy.operation_count("organizations", "ListAccounts"), 1);
    let mut want = members.clone();
    want.sort();
    assert_eq!(accts.members(), want);
    let after_listing = proxy.requests();
    for m in &members {
        assert_eq!(accts.admit(m), Admit::Member);
    }
    assert_eq!(accts.admit(ACCOUNT), Admit::Own);
    // An account outside the organization (a forged record may name it) is refused exactly as
    // one outside a configured list: no ListAccounts, no AssumeRole, no request at all.
    for _ in 0..3 {
        assert_eq!(accts.admit(&outsider), Admit::Refused);
        let err = accts.s3_for(&outsider, "us-east-1").await.unwrap_err();
        assert!(matches!(err, AccountError::NotAllowed { .. }), "{err}");
    }
    assert_eq!(proxy.requests(), after_listing, "{}", proxy.report());
    // Not due again for organization_refresh_s: nothing listed.
    assert_eq!(accts.refresh_organization(false).await.unwrap(), None);
    assert_eq!(proxy.operation_count("organizations", "ListAccounts"), 1);

    // A listed member is reached through its role: one AssumeRole.
    accts.s3_for(&members[0], "us-east-1").await.unwrap();
    assert_eq!(
        proxy.operation_count("sts", "AssumeRole"),
        1,
        "{}",
        proxy.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_all_accounts_under_organization_covers_the_organizations_members() {
    let moto = start_moto();
    let e = moto.endpoint.clone();
    let members = organization_with_members(&e, 2).await;
    let (m1, m2, outsider) = (members[0].clone(), members[1].clone(), account(12));
    let base = sdk_config_at(&e, None).await;
    let reach = Accounts::new(&base, &accounts_config(&[&m1, &m2, &outsider]))
        .await
        .unwrap();
    let in_m1 = reach.s3_for(&m1, "us-east-1").await.unwrap();
    let in_m2 = reach.s3_for(&m2, "us-east-1").await.unwrap();
    let in_out = reach.s3_for(&outsider, "us-east-1").await.unwrap();
    open_with_public_acl(&in_m1.s3, "org-m1-open").await;
    in_m2
        .s3
        .create_bucket()
        .bucket("org-m2-closed")
        .send()
        .await
        .unwrap();
    // Outside the organization: never listed, so never scanned.
    open_with_public_acl(&in_out.s3, "outsider-open").await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bucketwarden.toml");
    std::fs::write(&config, "[accounts]\nallowed = \"organization\"\n").unwrap();
    let out = bucketwarden(
        &e,
        &[
            "scan",
            "--all-accounts",
            "--format",
            "jsonl",
            "--no-progress",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "exposed and open: {stderr}");
    let seen = scan_verdicts(&out.stdout);
    assert_eq!(seen["org-m1-open"], (m1.clone(), true), "{stderr}");
    assert_eq!(seen["org-m2-closed"], (m2.clone(), false), "{stderr}");
    assert!(!seen.contains_key("outsider-open"), "{seen:?}");
    // One summary per account: the own (the management account) and each member.
    for acct in [ACCOUNT, m1.as_str(), m2.as_str()] {
        assert_eq!(
            stderr.matches(&format!("of account {acct}")).count(),
            1,
            "{stderr}"
        );
    }
    assert!(!stderr.contains(&outsider), "{stderr}");
}

/// AWS (ListAccounts): "You can only call this operation from the management account or a member
/// account that is a delegated administrator"; elsewhere it is denied. moto does not know who
/// manages an organization, so the refusal is made by IAM instead (authorization on, the
/// operator's identity denied `organizations:ListAccounts`): what the operator sees must say
/// where to run the fleet or to list `allowed`, and the scan must stop (exit 1), scanning nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_all_accounts_under_organization_says_where_to_run_when_listing_is_refused() {
    let moto = start_moto();
    let e = &moto.endpoint;
    organization_with_members(e, 1).await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "organizations:ListAccounts", "Resource": "*"}
        ]
    })
    .to_string();
    for params in [
        vec![("Action", "CreateUser"), ("UserName", "operator")],
        vec![
            ("Action", "PutUserPolicy"),
            ("UserName", "operator"),
            ("PolicyName", "no-org-listing"),
            ("PolicyDocument", policy.as_str()),
        ],
    ] {
        let mut p = params;
        p.push(("Version", "2010-05-08"));
        moto_query(e, ACCOUNT, "iam", &p).await;
    }
    let key = moto_query(
        e,
        ACCOUNT,
        "iam",
        &[
            ("Action", "CreateAccessKey"),
            ("UserName", "operator"),
            ("Version", "2010-05-08"),
        ],
    )
    .await;
    let (key_id, secret) = (
        xml_field(&key, "AccessKeyId").to_owned(),
        xml_field(&key, "SecretAccessKey").to_owned(),
    );
    let reset = std::process::Command::new("curl")
        .args(["-fsS", "-X", "POST", "-H", "Content-Type: text/plain"])
        .args(["--data", "0"])
        .arg(format!("{e}/moto-api/reset-auth"))
        .output()
        .unwrap();
    assert!(reset.status.success());

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bucketwarden.toml");
    std::fs::write(&config, "[accounts]\nallowed = \"organization\"\n").unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bucketwarden"));
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    let out = cmd
        .env("AWS_ENDPOINT_URL", e)
        .env("AWS_ACCESS_KEY_ID", &key_id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env_remove("BUCKETWARDEN_CONFIG")
        .args([
            "scan",
            "--all-accounts",
            "--format",
            "jsonl",
            "--no-progress",
        ])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("AccessDenied")
            && stderr.contains("run the fleet in the management or a delegated admin account")
            && stderr.contains("list `allowed` explicitly"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing scanned");
}

/// Every page is read, and only ACTIVE accounts are kept (AWS: "ACTIVE: This state indicates
/// that the account is fully operational and available"; a closed account is SUSPENDED).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_reads_every_page_and_keeps_only_active_accounts() {
    let moto = start_moto();
    let members = organization_with_members(&moto.endpoint, 3).await;
    let base = sdk_config_at(&moto.endpoint, None).await;
    let org = aws_sdk_organizations::Client::new(&base);
    org.close_account()
        .account_id(&members[2])
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto.endpoint, 13, Duration::from_secs(1)).await;
    let via_proxy =
        bucketwarden::aws::organization::client(&sdk_config_at(&proxy.endpoint, None).await);
    // Four accounts (the management account and three members), one per page.
    let mut listed = bucketwarden::aws::organization::active_accounts_in_pages(&via_proxy, 1)
        .await
        .unwrap();
    assert!(
        proxy.operation_count("organizations", "ListAccounts") >= 4,
        "{}",
        proxy.report()
    );
    listed.sort();
    let mut want = vec![ACCOUNT.to_owned(), members[0].clone(), members[1].clone()];
    want.sort();
    assert_eq!(
        listed, want,
        "the closed (SUSPENDED) {} is left out",
        members[2]
    );
    // The fleet's registry admits what the listing keeps.
    let accts = Accounts::new(&base, &organization_config()).await.unwrap();
    accts.refresh_organization(true).await.unwrap();
    assert_eq!(accts.admit(&members[0]), Admit::Member);
    assert_eq!(accts.admit(&members[2]), Admit::Refused);
}
