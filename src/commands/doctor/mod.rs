//! `bucketwarden doctor`: a read-only check of a deployment, account by account — a trail is
//! logging with the selectors the watched calls need, the forwarding rule is enabled, matches
//! every watched call and targets the stream, the stream, tables and topic exist with the keys,
//! TTL and encryption the code and the template expect, the member role can be assumed and
//! allows what the code calls, and the canary (not in this version). This file reads (through
//! `aws::*_read`) and hands what was read to each check group's pure judge; it writes nothing to
//! AWS and never stops at a failed read.

pub mod canary;
pub mod check;
pub mod report;
pub mod resources;
pub mod role;
pub mod rule;
pub mod trail;
pub mod watched;

use aws_config::SdkConfig;

use crate::aws::accounts::Accounts;
use crate::aws::error::AwsError;
use crate::aws::{fleet_read, iam_read, permissions, rule_read, trail_read, Clients};
use crate::config::{self, Config};

pub use check::{exit_code, Item, Status};

/// The forwarding rule deploy/member-account.yaml installs in a member account.
pub const MEMBER_RULE: &str = "bucketwarden-forward-s3-exposure-calls";

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Check only this account (the fleet's own, or a member of `[accounts] allowed`).
    pub account: Option<String>,
    /// The fleet's own account and every member of `[accounts] allowed`.
    pub all_accounts: bool,
    /// The forwarding rule in the fleet's account; `None`: every rule of the default bus that
    /// targets the stream (ListRuleNamesByTarget).
    pub rule: Option<String>,
    /// The forwarding rule in a member account.
    pub member_rule: Option<String>,
    /// The worker role (its name) in the fleet's account; `None`: not checked.
    pub worker_role: Option<String>,
    /// The deployment logs no S3 data events on purpose (`S3DataEvents=none`).
    pub no_data_events: bool,
}

/// Doctor could not run at all (no credentials, an account outside `[accounts] allowed`).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("account {0} is neither the caller's nor in [accounts] allowed")]
    NotAllowed(String),
    #[error("cannot list the organization's accounts: {0}")]
    Organization(#[from] crate::aws::organization::ListError),
}

/// What doctor found: the caller's (the fleet's) account and the checklist, in account order.
#[derive(Debug, Clone)]
pub struct Checklist {
    pub own: String,
    pub items: Vec<Item>,
}

/// Runs every check in every selected account.
pub async fn doctor(
    base: &SdkConfig,
    config: &Config,
    opts: &Options,
) -> Result<Checklist, DoctorError> {
    let accounts = Accounts::new(base, &config.accounts).await?;
    let own = accounts.own_account().to_owned();
    let selected: Vec<String> = if opts.all_accounts {
        accounts.refresh_organization(true).await?;
        std::iter::once(own.clone())
            .chain(accounts.members())
            .collect()
    } else {
        match &opts.account {
            None => vec![own.clone()],
            Some(a) if *a == own => vec![own.clone()],
            Some(a) => {
                accounts.refresh_organization(true).await?;
                if !accounts.members().contains(a) {
                    return Err(DoctorError::NotAllowed(a.clone()));
                }
                vec![a.clone()]
            }
        }
    };
    let mut items = Vec::new();
    for account in &selected {
        if *account == own {
            items.extend(own_account(base, config, opts, &own).await);
        } else {
            items.extend(member_account(base, config, opts, &accounts, account, &own).await);
        }
    }
    Ok(Checklist { own, items })
}

async fn own_account(base: &SdkConfig, config: &Config, opts: &Options, own: &str) -> Vec<Item> {
    let names = &config.names;
    let clients = Clients::new(base);
    let cloudtrail = aws_sdk_cloudtrail::Client::new(base);
    let events = aws_sdk_eventbridge::Client::new(base);
    let mut items = trail::judge(
        own,
        &trail_read::read_trails(&cloudtrail).await,
        opts.no_data_events,
    );

    let stream = fleet_read::stream(&clients.kinesis, &names.stream).await;
    let stream_arn = stream
        .as_ref()
        .ok()
        .and_then(|s| s.as_ref())
        .map(|s| s.arn.clone());
    let dest = rule::Destination::Stream(
        stream_arn
            .clone()
            .unwrap_or_else(|| format!("(the ARN of stream {})", names.stream)),
    );
    match (&opts.rule, &stream_arn) {
        (Some(name), _) => {
            items.extend(rule::judge(own, name, &rule_read::read_rule(&events, name).await, &dest));
        }
        (None, Some(arn)) => match rule_read::rules_targeting(&events, arn).await {
            Ok(found) if found.is_empty() => items.push(
                Item::new(
                    own,
                    "eventbridge.rule",
                    Status::Fail,
                    format!("no rule of the default bus targets the stream {arn}: no S3 call reaches the fleet"),
                )
                .fix("deploy deploy/bucketwarden.yaml (S3CallsRule), or name the rule with --rule to see what is wrong with it"),
            ),
            Ok(found) => {
                for name in found {
                    let read = rule_read::read_rule(&events, &name).await;
                    items.extend(rule::judge(own, &name, &read, &dest));
                }
            }
            Err(e) => items.push(check::unreadable(own, "eventbridge.rule", &e, "events:ListRuleNamesByTarget")),
        },
        (None, None) => items.push(
            Item::new(own, "eventbridge.rule", Status::Skipped, "the stream could not be read, so the rule targeting it cannot be found")
                .fix("fix the stream first, or name the rule with --rule"),
        ),
    }

    items.extend(resources::judge_stream(own, &names.stream, &stream));
    for need in resources::tables(names) {
        let read = fleet_read::table(&clients.dynamodb, &need.name, need.ttl.is_some()).await;
        items.extend(resources::judge_table(own, &need, &read));
    }
    items.extend(resources::judge_topic(
        own,
        &names.alert_topic,
        &fleet_read::topic(&clients.sns, &names.alert_topic).await,
    ));

    match &opts.worker_role {
        Some(role) => {
            let iam = aws_sdk_iam::Client::new(base);
            let needed = worker_actions(config);
            items.extend(role::judge(
                own,
                role,
                &iam_read::role_policies(&iam, role).await,
                &needed,
            ));
        }
        None => items.push(Item::new(
            own,
            "role.permissions",
            Status::Skipped,
            "the worker role was not named (--worker-role NAME checks its policies)",
        )),
    }
    items.push(canary::judge(own));
    items
}

/// The worker role's actions: `organizations:ListAccounts` only with `allowed = "organization"`
/// (the template grants it only then).
fn worker_actions(config: &Config) -> Vec<&'static str> {
    permissions::worker_actions()
        .into_iter()
        .filter(|a| {
            config.accounts.allowed == config::Allowed::Organization
                || !permissions::ORGANIZATION_ONLY.contains(a)
        })
        .collect()
}

async fn member_account(
    base: &SdkConfig,
    config: &Config,
    opts: &Options,
    accounts: &Accounts,
    account: &str,
    own: &str,
) -> Vec<Item> {
    let role_arn = accounts.role_arn(account);
    let assumed = match iam_read::assume(base, &role_arn, config.accounts.external_id.as_deref())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let mut items = vec![Item::new(
                account,
                "role.assume",
                Status::Fail,
                format!("cannot assume {role_arn}: {e}: the fleet cannot verify or remediate here"),
            )
            .fix(format!(
                "deploy deploy/member-account.yaml in {account} (the StackSet); its trust policy must name the worker role, and [accounts] external_id must equal its ExternalId"
            ))];
            for check in ["role.permissions", "cloudtrail.logging", "eventbridge.rule"] {
                items.push(Item::new(
                    account,
                    check,
                    Status::Skipped,
                    "the member role cannot be assumed",
                ));
            }
            items.push(canary::judge(account));
            return items;
        }
    };
    let mut items = vec![Item::ok(
        account,
        "role.assume",
        format!("assumed {role_arn}"),
    )];
    let iam = aws_sdk_iam::Client::new(&assumed);
    let read = iam_read::role_policies(&iam, &config.accounts.role_name).await;
    items.extend(role::judge(
        account,
        &config.accounts.role_name,
        &read,
        &permissions::member_actions(),
    ));
    let cloudtrail = aws_sdk_cloudtrail::Client::new(&assumed);
    items.extend(trail::judge(
        account,
        &trail_read::read_trails(&cloudtrail).await,
        opts.no_data_events,
    ));
    let events = aws_sdk_eventbridge::Client::new(&assumed);
    let name = opts.member_rule.as_deref().unwrap_or(MEMBER_RULE);
    items.extend(rule::judge(
        account,
        name,
        &rule_read::read_rule(&events, name).await,
        &rule::Destination::CentralBus(own.to_owned()),
    ));
    items.push(canary::judge(account));
    items
}
