//! Acting in several accounts: the fleet's own account with its own credentials, every other
//! allowed account through AssumeRole into `[accounts] role_name` there, with credentials cached
//! per account and renewed before expiry, a per-account circuit that backs off a failing member,
//! S3 / S3 Control clients per (account, region), bounded in number, and, under
//! `allowed = "organization"`, the organization's accounts as last listed (refreshed only by
//! [`Accounts::refresh_organization`], never by admitting an account). Owns credentials, clients
//! and that cache only; the judgements (allowed? renew? back off? evict? list again?) are
//! `core::accounts`', and it must not decide anything about buckets.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::identity::IdentityCache;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::SharedCredentialsProvider;

use crate::aws::error::{from_sdk, AwsError};
use crate::aws::organization::{self, ListError};
use crate::aws::Clients;
use crate::config;
use crate::core::accounts::{admit, members, needs_refresh, Admit, Circuit, Lru, Roster};
use crate::observe::metrics;

/// The S3 clients for one (account, region).
#[derive(Clone, Debug)]
pub struct S3Clients {
    pub account: String,
    pub region: String,
    pub s3: aws_sdk_s3::Client,
    pub s3control: aws_sdk_s3control::Client,
}

impl S3Clients {
    /// `base` (the fleet's tables, stream and topic) with this account's S3 clients: what the
    /// code that takes [`Clients`] needs to read and remediate in this account.
    pub fn over(self, base: &Clients) -> Clients {
        Clients {
            s3: self.s3,
            s3control: self.s3control,
            ..base.clone()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The account is not in `[accounts] allowed`: refused before any AWS call.
    #[error("account {account:?} is not in [accounts] allowed: refused without calling AWS")]
    NotAllowed { account: String },
    /// AssumeRole failed (the role is missing, its trust policy or an SCP denies, STS is down).
    #[error("cannot assume {role_arn}: {source}")]
    AssumeFailed {
        account: String,
        role_arn: String,
        #[source]
        source: AwsError,
    },
    /// The account failed recently and is not tried again until its backoff has passed.
    #[error(
        "account {account} is backing off after {failures} failed AssumeRole call(s); next try in {retry_in_ms} ms"
    )]
    BackingOff {
        account: String,
        failures: u32,
        retry_in_ms: i64,
    },
    /// GetBucketLocation failed while finding a bucket's region.
    #[error("region of bucket {bucket} in account {account}: {source}")]
    Region {
        account: String,
        bucket: String,
        #[source]
        source: AwsError,
    },
}

impl AccountError {
    /// A refused account never becomes allowed by retrying; a failing member may recover (its
    /// circuit says when to try again).
    pub fn retryable(&self) -> bool {
        match self {
            AccountError::NotAllowed { .. } => false,
            AccountError::AssumeFailed { .. } | AccountError::BackingOff { .. } => true,
            AccountError::Region { source, .. } => source.retryable(),
        }
    }

    /// The AWS error behind this one, if any.
    pub fn aws(&self) -> Option<&AwsError> {
        match self {
            AccountError::AssumeFailed { source, .. } | AccountError::Region { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// Session name in the member's CloudTrail: `assumed-role/<role_name>/bucketwarden`.
pub const SESSION_NAME: &str = "bucketwarden";
/// Members remembered at once under `allowed = "organization"` (circuit and credentials).
const MAX_MEMBERS: usize = 4096;
/// Bucket regions remembered at once.
const MAX_REGIONS: usize = 4096;
/// Credentials this close to expiry are not handed out even when renewal failed.
const LAST_RESORT_MARGIN_MS: i64 = 30_000;

const STATUS_UNKNOWN: u8 = 0;
const STATUS_OK: u8 = 1;
const STATUS_FAILING: u8 = 2;

struct Member {
    role_arn: String,
    state: tokio::sync::Mutex<MemberState>,
    /// STATUS_*: for the gauges without taking the async lock.
    status: AtomicU8,
}

#[derive(Default)]
struct MemberState {
    /// Credentials and their expiry (epoch ms).
    creds: Option<(Credentials, i64)>,
    circuit: Circuit,
}

struct Inner {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    own: String,
    partition: String,
    cfg: config::Accounts,
    /// Organizations, only under `allowed = "organization"`.
    org: Option<aws_sdk_organizations::Client>,
    /// The organization's accounts as last listed (empty until the first successful listing).
    roster: Mutex<Roster>,
    members: Mutex<Lru<String, Arc<Member>>>,
    clients: Mutex<Lru<(String, String), S3Clients>>,
    regions: Mutex<Lru<(String, String), String>>,
}

/// Every account the fleet acts in. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("own", &self.inner.own)
            .field("allowed", &self.inner.cfg.allowed)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Accounts {
    /// Learns the fleet's own account from STS GetCallerIdentity (no permission needed) with the
    /// base configuration's credentials; nothing is assumed until an account is first used.
    pub async fn new(base: &SdkConfig, cfg: &config::Accounts) -> Result<Accounts, AwsError> {
        let sts = aws_sdk_sts::Client::new(base);
        let me = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| from_sdk("sts", "GetCallerIdentity", e))?;
        let own = me.account().unwrap_or_default().to_owned();
        if !config::is_account_id(&own) {
            return Err(AwsError::other(
                "sts",
                "GetCallerIdentity",
                format!("caller account {own:?} is not an account id"),
            ));
        }
        // arn:<partition>:…: member role ARNs use the fleet's partition.
        let partition = me
            .arn()
            .and_then(|a| a.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
            .to_owned();
        let member_cap = match &cfg.allowed {
            config::Allowed::List(v) => v.len(),
            _ => MAX_MEMBERS,
        };
        let accounts = Accounts {
            inner: Arc::new(Inner {
                base: base.clone(),
                sts,
                own,
                partition,
                cfg: cfg.clone(),
                org: (cfg.allowed == config::Allowed::Organization)
                    .then(|| organization::client(base)),
                roster: Mutex::new(Roster::default()),
                members: Mutex::new(Lru::new(member_cap)),
                clients: Mutex::new(Lru::new(cfg.max_clients)),
                regions: Mutex::new(Lru::new(MAX_REGIONS)),
            }),
        };
        accounts.publish_gauges();
        Ok(accounts)
    }

    /// The fleet's own account.
    pub fn own_account(&self) -> &str {
        &self.inner.own
    }

    /// The role assumed in `account`.
    pub fn role_arn(&self, account: &str) -> String {
        format!(
            "arn:{}:iam::{account}:role/{}",
            self.inner.partition, self.inner.cfg.role_name
        )
    }

    /// Whether `account` may be acted in. No AWS call, ever: under `"organization"` it is
    /// judged against the cached listing, so a forged record naming an unknown account is
    /// refused exactly like one outside a configured list.
    pub fn admit(&self, account: &str) -> Admit {
        let roster = self.inner.roster.lock().unwrap();
        admit(&self.inner.cfg.allowed, &roster, &self.inner.own, account)
    }

    /// The member accounts to visit one by one (`scan --all-accounts`, reconciliation): the
    /// configured list, or the organization's accounts as last listed, without the own account.
    pub fn members(&self) -> Vec<String> {
        let roster = self.inner.roster.lock().unwrap();
        members(&self.inner.cfg.allowed, &roster, &self.inner.own)
    }

    /// Under `allowed = "organization"`, lists the organization's accounts when a listing is due
    /// (`force`: now), replacing the cached list on success and keeping the last good one on
    /// failure (logged and counted; the next try backs off like a failing member). `Ok(None)`
    /// when nothing was listed (not "organization", or not due).
    pub async fn refresh_organization(&self, force: bool) -> Result<Option<usize>, ListError> {
        let Some(client) = &self.inner.org else {
            return Ok(None);
        };
        let refresh_ms = i64::try_from(self.inner.cfg.organization_refresh_s.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        if !force && !self.inner.roster.lock().unwrap().due(now_ms(), refresh_ms) {
            return Ok(None);
        }
        let listed = organization::active_accounts(client).await;
        let now = now_ms();
        let mut roster = self.inner.roster.lock().unwrap();
        match listed {
            Ok(accounts) => {
                let before = roster.len();
                roster.accept(accounts, now);
                let n = roster.len();
                drop(roster);
                metrics::organization_listing("ok", Some(n));
                tracing::info!(
                    accounts = n,
                    before,
                    "listed the organization's active accounts"
                );
                Ok(Some(n))
            }
            Err(e) => {
                roster.reject(
                    now,
                    self.inner.cfg.failure_backoff_ms,
                    self.inner.cfg.failure_backoff_max_ms,
                );
                let (kept, failures, listed) = (roster.len(), roster.failures(), roster.listed());
                drop(roster);
                metrics::organization_listing("error", None);
                if listed {
                    tracing::warn!(error = %e, failures, kept,
                        "cannot list the organization's accounts; keeping the last good list");
                } else {
                    tracing::error!(error = %e, failures,
                        "cannot list the organization's accounts; no member account is acted in until a listing succeeds");
                }
                Err(e)
            }
        }
    }

    /// S3 and S3 Control clients acting in `account`, signing for `region` (the event's
    /// `awsRegion`). A member's credentials are obtained (or checked) before this returns, so a
    /// missing or denying role is this call's error, not the next S3 call's.
    pub async fn s3_for(&self, account: &str, region: &str) -> Result<S3Clients, AccountError> {
        match self.admit(account) {
            Admit::Refused => {
                metrics::account_not_allowed();
                tracing::warn!(
                    account,
                    "event names an account outside [accounts] allowed: skipped"
                );
                return Err(AccountError::NotAllowed {
                    account: account.to_owned(),
                });
            }
            Admit::Member => {
                self.credentials(account).await?;
            }
            Admit::Own => {}
        }
        let key = (account.to_owned(), region.to_owned());
        if let Some(c) = self.inner.clients.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        let clients = self.build(account, region);
        self.inner
            .clients
            .lock()
            .unwrap()
            .insert(key, clients.clone());
        Ok(clients)
    }

    /// [`Accounts::s3_for`] in the bucket's region: `event_region` when the event has one, else
    /// the bucket's GetBucketLocation (cached).
    pub async fn s3_for_bucket(
        &self,
        account: &str,
        bucket: &str,
        event_region: Option<&str>,
    ) -> Result<S3Clients, AccountError> {
        let region = match event_region.filter(|r| !r.is_empty()) {
            Some(r) => r.to_owned(),
            None => self.bucket_region(account, bucket).await?,
        };
        self.s3_for(account, &region).await
    }

    /// The bucket's region from GetBucketLocation (asked in us-east-1, which answers for every
    /// bucket), cached per (account, bucket).
    pub async fn bucket_region(&self, account: &str, bucket: &str) -> Result<String, AccountError> {
        let key = (account.to_owned(), bucket.to_owned());
        if let Some(r) = self.inner.regions.lock().unwrap().get(&key) {
            return Ok(r.clone());
        }
        let clients = self.s3_for(account, "us-east-1").await?;
        let region = crate::aws::s3_read::bucket_location(&clients.s3, bucket)
            .await
            .map_err(|source| AccountError::Region {
                account: account.to_owned(),
                bucket: bucket.to_owned(),
                source,
            })?;
        self.inner
            .regions
            .lock()
            .unwrap()
            .insert(key, region.clone());
        Ok(region)
    }

    /// A member's credentials: cached until inside the renewal margin, then renewed with
    /// AssumeRole; while the account's circuit is open no call is made.
    async fn credentials(&self, account: &str) -> Result<Credentials, AccountError> {
        let member = self.member(account);
        let mut st = member.state.lock().await;
        let now = now_ms();
        let refresh_ms = i64::from(self.inner.cfg.refresh_before_s) * 1000;
        if let Some((c, exp)) = &st.creds {
            if !needs_refresh(*exp, now, refresh_ms) {
                return Ok(c.clone());
            }
        }
        // Renewal failed but the old session still has time: use it rather than stop.
        let last_resort = st
            .creds
            .as_ref()
            .filter(|(_, exp)| exp - now > LAST_RESORT_MARGIN_MS)
            .map(|(c, _)| c.clone());
        if let Err(retry_in_ms) = st.circuit.check(now) {
            return last_resort.ok_or_else(|| AccountError::BackingOff {
                account: account.to_owned(),
                failures: st.circuit.failures(),
                retry_in_ms,
            });
        }
        match self.assume(&member.role_arn).await {
            Ok((creds, exp)) => {
                st.circuit.record_success();
                st.creds = Some((creds.clone(), exp));
                member.status.store(STATUS_OK, Ordering::Relaxed);
                metrics::assume_role("ok");
                tracing::info!(
                    account,
                    role_arn = %member.role_arn,
                    expires_in_s = (exp - now) / 1000,
                    "assumed the member role"
                );
                self.publish_gauges();
                Ok(creds)
            }
            Err(source) => {
                st.circuit.record_failure(
                    now,
                    self.inner.cfg.failure_backoff_ms,
                    self.inner.cfg.failure_backoff_max_ms,
                );
                member.status.store(STATUS_FAILING, Ordering::Relaxed);
                metrics::assume_role("error");
                tracing::warn!(
                    account,
                    role_arn = %member.role_arn,
                    failures = st.circuit.failures(),
                    error = %source,
                    "cannot assume the member role; backing off"
                );
                self.publish_gauges();
                match last_resort {
                    Some(c) => Ok(c),
                    None => Err(AccountError::AssumeFailed {
                        account: account.to_owned(),
                        role_arn: member.role_arn.clone(),
                        source,
                    }),
                }
            }
        }
    }

    async fn assume(&self, role_arn: &str) -> Result<(Credentials, i64), AwsError> {
        let cfg = &self.inner.cfg;
        let out = self
            .inner
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(SESSION_NAME)
            .duration_seconds(i32::try_from(cfg.session_duration_s).unwrap_or(3600))
            .set_external_id(cfg.external_id.clone())
            .send()
            .await
            .map_err(|e| from_sdk("sts", "AssumeRole", e))?;
        let c = out
            .credentials()
            .ok_or_else(|| AwsError::other("sts", "AssumeRole", "no credentials in the answer"))?;
        let exp = c
            .expiration()
            .to_millis()
            .map_err(|e| AwsError::other("sts", "AssumeRole", e.to_string()))?;
        let expiry = UNIX_EPOCH + Duration::from_millis(u64::try_from(exp).unwrap_or(0));
        Ok((
            Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                Some(expiry),
                "bucketwarden-assume-role",
            ),
            exp,
        ))
    }

    fn member(&self, account: &str) -> Arc<Member> {
        let mut members = self.inner.members.lock().unwrap();
        let key = account.to_owned();
        if let Some(m) = members.get(&key) {
            return m.clone();
        }
        let m = Arc::new(Member {
            role_arn: self.role_arn(account),
            state: tokio::sync::Mutex::new(MemberState::default()),
            status: AtomicU8::new(STATUS_UNKNOWN),
        });
        members.insert(key, m.clone());
        m
    }

    fn build(&self, account: &str, region: &str) -> S3Clients {
        let mut conf = self.inner.base.to_builder();
        conf.set_region(Some(Region::new(region.to_owned())));
        if account != self.inner.own {
            // The member provider is the cache (it renews inside the margin); the SDK's own
            // cache would keep a session until its expiry.
            conf = conf
                .credentials_provider(SharedCredentialsProvider::new(MemberCredentials {
                    accounts: Arc::downgrade(&self.inner),
                    account: account.to_owned(),
                }))
                .identity_cache(IdentityCache::no_cache());
        }
        let (s3, s3control) = crate::aws::clients::s3_pair(&conf.build());
        S3Clients {
            account: account.to_owned(),
            region: region.to_owned(),
            s3,
            s3control,
        }
    }

    /// Accounts covered (the own account and members whose last AssumeRole worked) and
    /// failing (members whose last AssumeRole failed).
    pub fn status(&self) -> (usize, usize) {
        let members = self.inner.members.lock().unwrap();
        let mut covered = 1;
        let mut failing = 0;
        for m in members.values() {
            match m.status.load(Ordering::Relaxed) {
                STATUS_OK => covered += 1,
                STATUS_FAILING => failing += 1,
                _ => {}
            }
        }
        (covered, failing)
    }

    fn publish_gauges(&self) {
        let (covered, failing) = self.status();
        metrics::accounts_gauges(covered, failing);
    }
}

/// The credentials provider of a member's clients: asks [`Accounts`] on every signing, so
/// renewal follows the configured margin.
#[derive(Debug)]
struct MemberCredentials {
    accounts: Weak<Inner>,
    account: String,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Accounts")
    }
}

impl ProvideCredentials for MemberCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let inner = self
                .accounts
                .upgrade()
                .ok_or_else(|| CredentialsError::not_loaded("the accounts registry was dropped"))?;
            Accounts { inner }
                .credentials(&self.account)
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_final_and_failures_are_retryable() {
        let not = AccountError::NotAllowed {
            account: "1".into(),
        };
        assert!(!not.retryable());
        let off = AccountError::BackingOff {
            account: "1".into(),
            failures: 1,
            retry_in_ms: 5,
        };
        assert!(off.retryable());
    }
}
