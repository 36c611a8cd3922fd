//! The configuration file (TOML, unknown keys rejected): exemptions, remediation mode, dedup
//! window, the accounts a fleet acts in. Owns parsing and validation only; runtime knobs live in clap flags and env vars.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub exemptions: Exemptions,
    #[serde(default)]
    pub remediation: Remediation,
    #[serde(default)]
    pub dedup: Dedup,
    #[serde(default)]
    pub names: Names,
    #[serde(default)]
    pub fleet: Fleet,
    #[serde(default)]
    pub reconcile: Reconcile,
    #[serde(default)]
    pub accounts: Accounts,
}

/// The accounts a fleet acts in: its own (with its own credentials) and members reached by
/// assuming `role_name` there (`arn:<partition>:iam::<account>:role/<role_name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Accounts {
    /// The role assumed in each member account.
    pub role_name: String,
    /// Passed to AssumeRole as `ExternalId`; the member role's trust policy requires it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The accounts the fleet acts in besides its own: a list of 12-digit ids, or "organization"
    /// (the ACTIVE accounts of AWS Organizations' ListAccounts, listed at start and every
    /// `organization_refresh_s`). Omitted: only the fleet's own account.
    pub allowed: Allowed,
    /// With `allowed = "organization"`: how often the organization's accounts are listed again
    /// (a failed listing keeps the last good list and is retried with the failure backoff).
    pub organization_refresh_s: u64,
    /// Requested lifetime of an assumed session (AWS: 900 s to the role's maximum, 3600 s
    /// unless the role allows more).
    pub session_duration_s: u32,
    /// Credentials are renewed when they have less than this left (before any call fails).
    pub refresh_before_s: u32,
    /// S3 and S3 Control clients kept at once, one pair per (account, region); the least
    /// recently used pair is dropped beyond this.
    pub max_clients: usize,
    /// After a failed AssumeRole the account is not tried again for this long, doubling per
    /// consecutive failure up to `failure_backoff_max_ms`.
    pub failure_backoff_ms: u64,
    pub failure_backoff_max_ms: u64,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            role_name: "bucketwarden-remediator".into(),
            external_id: None,
            allowed: Allowed::Own,
            organization_refresh_s: 3600,
            session_duration_s: 3600,
            refresh_before_s: 300,
            max_clients: 64,
            failure_backoff_ms: 5_000,
            failure_backoff_max_ms: 15 * 60 * 1000,
        }
    }
}

/// Which accounts besides its own the fleet may act in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Allowed {
    /// Only the fleet's own account.
    #[default]
    Own,
    /// These accounts (and the fleet's own).
    List(Vec<String>),
    /// The organization's ACTIVE accounts, as AWS Organizations lists them (`aws::accounts`
    /// caches the listing; `core::accounts::Roster`).
    Organization,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum AllowedRepr {
    Word(String),
    List(Vec<String>),
}

impl Serialize for Allowed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Allowed::Own => AllowedRepr::List(Vec::new()).serialize(s),
            Allowed::List(v) => AllowedRepr::List(v.clone()).serialize(s),
            Allowed::Organization => AllowedRepr::Word("organization".into()).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Allowed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match AllowedRepr::deserialize(d)? {
            AllowedRepr::Word(w) if w == "organization" => Ok(Allowed::Organization),
            AllowedRepr::Word(w) => Err(serde::de::Error::custom(format!(
                "accounts.allowed must be a list of account ids or \"organization\", not {w:?}"
            ))),
            AllowedRepr::List(v) if v.is_empty() => Ok(Allowed::Own),
            AllowedRepr::List(v) => {
                if let Some(bad) = v.iter().find(|a| !is_account_id(a)) {
                    return Err(serde::de::Error::custom(format!(
                        "accounts.allowed: {bad:?} is not a 12-digit account id"
                    )));
                }
                Ok(Allowed::List(v))
            }
        }
    }
}

/// An AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Periodic reconciliation with live S3, run by one worker of the fleet at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reconcile {
    /// Every this often the reconciler re-reads buckets whose known state is older than this
    /// (or unknown), corrects it and remediates what the stream missed. 0 disables it.
    pub interval_ms: u64,
    /// Buckets read at once during a pass.
    pub concurrency: usize,
}

impl Default for Reconcile {
    fn default() -> Self {
        Reconcile {
            interval_ms: 60 * 60 * 1000,
            concurrency: 8,
        }
    }
}

/// Names of the AWS resources a fleet shares (live mode and `init`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Names {
    pub stream: String,
    pub lease_table: String,
    pub dedup_table: String,
    pub state_table: String,
    pub incident_table: String,
    pub dead_letter_table: String,
    pub alert_topic: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            stream: "bucketwarden-events".into(),
            lease_table: "bucketwarden-leases".into(),
            dedup_table: "bucketwarden-dedup".into(),
            state_table: "bucketwarden-state".into(),
            incident_table: "bucketwarden-incidents".into(),
            dead_letter_table: "bucketwarden-dead-letters".into(),
            alert_topic: "bucketwarden-alerts".into(),
        }
    }
}

/// Consumer fleet tuning (docs/DESIGN.md §7). Durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fleet {
    /// A lease whose counter has not moved for this long is expired; a worker that could not renew
    /// for this long stops processing (KCL's failover time).
    pub failover_ms: u64,
    /// Where a new lease starts: "TRIM_HORIZON" (default: nothing that reached the stream before
    /// the fleet is skipped) or "LATEST".
    pub initial_position: String,
    /// Idle wait between GetRecords calls on a caught-up shard (never below 200 ms: 5 calls/s).
    pub poll_interval_ms: u64,
    /// How often the lease table is scanned to take expired, released or new leases.
    pub lease_scan_interval_ms: u64,
    /// How often the stream's shards are listed to find new ones.
    pub shard_discovery_interval_ms: u64,
    /// Records per GetRecords call (at most 10,000, the Kinesis limit and KCL's default). Fewer
    /// calls for the same records: 1,000 cost ~40% more CPU per record in the live benchmark.
    pub max_records: i32,
    /// Records larger than this are poison: dead-lettered and skipped.
    pub max_record_bytes: usize,
    /// How long one step of one event (a verification read of a guarded bucket) is retried
    /// before the event is parked: the most one slow or refusing bucket delays its shard.
    pub retry_budget_ms: u64,
    /// Buckets a worker's fold keeps in memory (least recently used evicted once saved, reloaded
    /// from the state table at their next event); buckets of batches in flight come on top.
    pub working_set_buckets: usize,
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet {
            failover_ms: 10_000,
            initial_position: "TRIM_HORIZON".into(),
            poll_interval_ms: 250,
            lease_scan_interval_ms: 1_000,
            shard_discovery_interval_ms: 5_000,
            max_records: 10_000,
            max_record_bytes: 256 * 1024,
            retry_budget_ms: 30_000,
            working_set_buckets: 50_000,
        }
    }
}

/// Buckets that may be public: an alert instead of a remediation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemptions {
    /// Glob patterns on the bucket name, e.g. `public-site-*`.
    #[serde(default)]
    pub buckets: Vec<String>,
    /// A bucket carrying any of these tags (key = value) is exempt.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Who may exempt a bucket by tagging it: IAM ARNs, a role ARN matching every session of
    /// that role (as `self_arns`). When set, an exempting tag counts only if the
    /// `PutBucketTagging` that set it was made by one of these identities; a tag set by anyone
    /// else, or found by a live read without a setter the fleet saw, is ignored and reported.
    /// Unset (the default), whoever may call `s3:PutBucketTagging` on a bucket may exempt it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_setters: Option<Vec<String>>,
    /// Exemptions for the buckets of one account only (keyed by its 12-digit id), on top of the
    /// ones above: `[exemptions.accounts."111111111111"] buckets = [...]`. Their tags count under
    /// the same `tag_setters`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<String, AccountExemptions>,
}

/// One account's own exemptions (`[exemptions.accounts."<id>"]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountExemptions {
    /// Glob patterns on the names of this account's buckets.
    #[serde(default)]
    pub buckets: Vec<String>,
    /// A bucket of this account carrying any of these tags (key = value) is exempt.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Remediate on `became_public` (the default).
    #[default]
    Enforce,
    /// Alert only; never write to S3.
    DryRun,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Remediation {
    pub mode: Mode,
    /// Attempts per remediation call (AccessDenied and throttling are retried with backoff).
    pub attempts: u32,
    /// bucketwarden's own identities (userIdentity.arn): a transition to public they cause is
    /// alerted, never remediated (its own calls only narrow access, so such a call is forged or
    /// stolen credentials; remediating could loop). An IAM role ARN also matches every session of
    /// that role (`arn:aws:sts::<account>:assumed-role/<name>/<session>`, as CloudTrail records a
    /// task's calls). Only the authenticated ARN counts, never the userAgent.
    pub self_arns: Vec<String>,
    /// How an exposed object (in a bucket that is not exempt) is closed.
    pub objects: ObjectRemediation,
    /// What happens when verification cannot read a target (denied, or no answer within the
    /// retry budget): the incident is `unverified` either way; `remediate` also applies the fix
    /// on the record's own evidence. docs/SECURITY.md says why `alert` is the default.
    pub unverified: Unverified,
}

/// What happens when verification cannot read a bucket or object (`[remediation] unverified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unverified {
    /// Record an `unverified` incident with the AWS error, alert, and park the event: nothing is
    /// written to S3 on evidence nobody could check (the default).
    #[default]
    Alert,
    /// When the record itself shows the target becoming public and the decision is to remediate,
    /// apply the fix anyway (it only narrows access); the incident still carries the read's
    /// error. Exempt buckets and bucketwarden's own identity stay alert-only.
    Remediate,
}

/// How an exposed object is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectRemediation {
    /// Reset that object's ACL to private (one call per object; the default).
    #[default]
    ObjectAcl,
    /// Turn the bucket's whole PublicAccessBlock on: one call closes every object of the bucket,
    /// and later object events verify as not exposed. A site that served public objects from a
    /// non-exempt bucket stops serving them (such a bucket should be exempt).
    BucketBlock,
}

impl Remediation {
    /// Whether `actor` (a CloudTrail `userIdentity.arn`) is one of bucketwarden's own identities.
    pub fn is_self_arn(&self, actor: &str) -> bool {
        is_self_arn(&self.self_arns, actor)
    }
}

/// Whether `actor` is one of `self_arns` or a session of one of its roles (the decision and the
/// live worker share this test).
pub fn is_self_arn(self_arns: &[String], actor: &str) -> bool {
    arn_matches(self_arns, actor)
}

/// Whether `actor` (a CloudTrail `userIdentity.arn`) is one of `arns` or a session of one of
/// its IAM roles: `arn:aws:iam::<account>:role/<path/>name` matches
/// `arn:aws:sts::<account>:assumed-role/<name>/<any session>`. Nothing else is a pattern.
pub fn arn_matches(arns: &[String], actor: &str) -> bool {
    arns.iter().any(|own| {
        own == actor
            || role_session_of(own).is_some_and(|(account, name)| {
                actor
                    .strip_prefix("arn:")
                    .and_then(|a| a.split_once(':')) // partition
                    .and_then(|(_, a)| a.strip_prefix("sts::"))
                    .and_then(|a| a.strip_prefix(account))
                    .and_then(|a| a.strip_prefix(":assumed-role/"))
                    .and_then(|a| a.strip_prefix(name))
                    .is_some_and(|rest| rest.starts_with('/'))
            })
    })
}

/// `(account, role name)` of an IAM role ARN (`arn:<partition>:iam::<account>:role/<path/>name`).
fn role_session_of(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?.split_once(':')?.1;
    let rest = rest.strip_prefix("iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let role = resource.strip_prefix("role/")?;
    // Sessions name the role without its path.
    Some((account, role.rsplit('/').next()?))
}

impl Default for Remediation {
    fn default() -> Self {
        Remediation {
            mode: Mode::Enforce,
            attempts: 4,
            self_arns: Vec::new(),
            objects: ObjectRemediation::ObjectAcl,
            unverified: Unverified::Alert,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dedup {
    /// How long an event id is remembered, in days of event time.
    #[serde(default = "default_dedup_days")]
    pub window_days: u32,
}

fn default_dedup_days() -> u32 {
    7
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            window_days: default_dedup_days(),
        }
    }
}

impl Dedup {
    pub fn window_ms(&self) -> i64 {
        i64::from(self.window_days) * 24 * 3600 * 1000
    }
}

/// IAM's role name rule: 1 to 64 characters of `[\w+=,.@-]`.
fn is_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// STS's ExternalId rule: 2 to 1224 characters of `[\w+=,.@:/-]`.
fn is_external_id(s: &str) -> bool {
    (2..=1224).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ConfigError {
    /// Config problems need a person; retrying does not help.
    pub fn retryable(&self) -> bool {
        false
    }
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if !matches!(
            config.fleet.initial_position.as_str(),
            "TRIM_HORIZON" | "LATEST"
        ) {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "fleet.initial_position must be TRIM_HORIZON or LATEST, not {:?}",
                    config.fleet.initial_position
                ),
            });
        }
        if config.fleet.failover_ms < 1000 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: "fleet.failover_ms must be at least 1000".into(),
            });
        }
        if let Some(bad) = config
            .exemptions
            .accounts
            .keys()
            .find(|k| !is_account_id(k))
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "exemptions.accounts key {bad:?} is not an AWS account id (12 digits)"
                ),
            });
        }
        let a = &config.accounts;
        // AWS: "The value can range from 900 seconds (15 minutes) up to the maximum session
        // duration setting for the role" (at most 12 hours).
        let accounts_problem = if !(900..=43_200).contains(&a.session_duration_s) {
            Some("accounts.session_duration_s must be between 900 and 43200 (AWS's range)".into())
        } else if a.refresh_before_s >= a.session_duration_s {
            Some("accounts.refresh_before_s must be less than accounts.session_duration_s".into())
        } else if a.organization_refresh_s < 60 {
            Some("accounts.organization_refresh_s must be at least 60".into())
        } else if a.max_clients == 0 {
            Some("accounts.max_clients must be at least 1".into())
        } else if a.failure_backoff_ms == 0 || a.failure_backoff_max_ms < a.failure_backoff_ms {
            Some(
                "accounts.failure_backoff_ms must be at least 1 and at most failure_backoff_max_ms"
                    .to_string(),
            )
        } else if a.external_id.as_deref().is_some_and(|e| !is_external_id(e)) {
            Some("accounts.external_id must be 2-1224 of A-Z a-z 0-9 +=,.@:/- (AWS's rule)".into())
        } else if !is_role_name(&a.role_name) {
            Some(format!(
                "accounts.role_name {:?} is not an IAM role name (1-64 of A-Z a-z 0-9 +=,.@_-)",
                a.role_name
            ))
        } else {
            None
        };
        if let Some(message) = accounts_problem {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message,
            });
        }
        if config.dedup.window_days == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: "dedup.window_days must be at least 1".into(),
            });
        }
        Ok(config)
    }

    /// The config text from `BUCKETWARDEN_CONFIG_TOML` (for containers, where a file is awkward),
    /// if set and non-empty.
    pub fn from_env() -> Option<Result<Config, ConfigError>> {
        let text = std::env::var("BUCKETWARDEN_CONFIG_TOML").ok()?;
        if text.trim().is_empty() {
            return None;
        }
        Some(Config::parse(&text, Path::new("$BUCKETWARDEN_CONFIG_TOML")))
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let c = Config::parse(
            r#"
            [exemptions]
            buckets = ["public-site-*"]
            tags = { "bucketwarden:allow-public" = "true" }
            [remediation]
            mode = "dry-run"
            "#,
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(c.exemptions.buckets, vec!["public-site-*"]);
        assert_eq!(
            c.exemptions
                .tags
                .get("bucketwarden:allow-public")
                .map(String::as_str),
            Some("true")
        );
        assert_eq!(c.remediation.mode, Mode::DryRun);
        assert_eq!(c.dedup.window_days, 7);
    }

    #[test]
    fn rejects_unknown_keys_with_position() {
        let err =
            Config::parse("[exemptions]\nbucket = [\"x\"]\n", Path::new("x.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown field `bucket`"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn per_account_exemptions_parse_and_reject_bad_ids_and_unknown_keys() {
        let c = Config::parse(
            "[exemptions.accounts.\"111111111111\"]\nbuckets = [\"cdn-*\"]\ntags = { \"team:public\" = \"yes\" }\n",
            Path::new("x.toml"),
        )
        .unwrap();
        let a = &c.exemptions.accounts["111111111111"];
        assert_eq!(a.buckets, vec!["cdn-*"]);
        assert_eq!(a.tags["team:public"], "yes");
        let text = toml::to_string(&c).unwrap();
        assert_eq!(Config::parse(&text, Path::new("x")).unwrap(), c);
        for (text, needle) in [
            (
                "[exemptions.accounts.\"11111111111\"]\nbuckets = [\"x\"]\n",
                "not an AWS account id (12 digits)",
            ),
            (
                "[exemptions.accounts.prod]\nbuckets = [\"x\"]\n",
                "\"prod\" is not an AWS account id",
            ),
            (
                "[exemptions.accounts.\"111111111111\"]\nbucket = [\"x\"]\n",
                "unknown field `bucket`",
            ),
            (
                "[exemptions.accounts.\"111111111111\"]\ntag_setters = []\n",
                "unknown field `tag_setters`",
            ),
        ] {
            let err = Config::parse(text, Path::new("x.toml"))
                .expect_err(text)
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(
            Config::parse("", Path::new("x.toml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn accounts_parse_a_list_organization_or_nothing() {
        let c = Config::parse(
            r#"
            [accounts]
            role_name = "bucketwarden-remediator"
            external_id = "x-1"
            allowed = ["111111111111", "222222222222"]
            "#,
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(
            c.accounts.allowed,
            Allowed::List(vec!["111111111111".into(), "222222222222".into()])
        );
        assert_eq!(c.accounts.external_id.as_deref(), Some("x-1"));
        let org = Config::parse("[accounts]\nallowed = \"organization\"\n", Path::new("x"));
        let org = org.unwrap().accounts;
        assert_eq!(org.allowed, Allowed::Organization);
        assert_eq!(org.organization_refresh_s, 3600);
        assert_eq!(Config::default().accounts.allowed, Allowed::Own);
        // Round trip through serde (the schema test renders configs back).
        let text = toml::to_string(&c).unwrap();
        assert_eq!(Config::parse(&text, Path::new("x")).unwrap(), c);
    }

    #[test]
    fn accounts_reject_bad_ids_words_keys_and_durations() {
        for (text, needle) in [
            ("allowed = [\"11111111111\"]", "12-digit"),
            ("allowed = [\"11111111111a\"]", "12-digit"),
            ("allowed = \"everyone\"", "organization"),
            ("role = \"x\"", "unknown field `role`"),
            ("session_duration_s = 899", "between 900 and 43200"),
            ("session_duration_s = 43201", "between 900 and 43200"),
            (
                "session_duration_s = 900\nrefresh_before_s = 900",
                "less than",
            ),
            ("role_name = \"a/b\"", "not an IAM role name"),
            ("max_clients = 0", "max_clients"),
            ("external_id = \"a b\"", "external_id"),
            ("organization_refresh_s = 59", "organization_refresh_s"),
        ] {
            let err = Config::parse(&format!("[accounts]\n{text}\n"), Path::new("x.toml"))
                .expect_err(text)
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn a_role_arn_in_self_arns_matches_its_sessions() {
        let r = Remediation {
            self_arns: vec![
                "arn:aws:iam::111122223333:role/service/bucketwarden-task".into(),
                "arn:aws:iam::111122223333:user/ops".into(),
            ],
            ..Remediation::default()
        };
        assert!(r.is_self_arn("arn:aws:sts::111122223333:assumed-role/bucketwarden-task/3f2a"));
        assert!(r.is_self_arn("arn:aws:iam::111122223333:user/ops"));
        // Another account, another role, a role whose name only starts the same: not us.
        assert!(!r.is_self_arn("arn:aws:sts::999999999999:assumed-role/bucketwarden-task/3f2a"));
        assert!(!r.is_self_arn("arn:aws:sts::111122223333:assumed-role/bucketwarden-task-2/x"));
        assert!(!r.is_self_arn("arn:aws:sts::111122223333:assumed-role/other/x"));
        assert!(!r.is_self_arn("arn:aws:iam::111122223333:user/opsx"));
        assert!(!Remediation::default().is_self_arn("arn:aws:iam::111122223333:user/ops"));
    }

    #[test]
    fn tag_setters_parse_and_default_to_unset() {
        assert_eq!(Config::default().exemptions.tag_setters, None);
        let c = Config::parse(
            "[exemptions]\ntag_setters = [\"arn:aws:iam::111122223333:role/platform-admin\"]\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(
            c.exemptions.tag_setters,
            Some(vec![
                "arn:aws:iam::111122223333:role/platform-admin".to_string()
            ])
        );
        let empty = Config::parse("[exemptions]\ntag_setters = []\n", Path::new("x.toml")).unwrap();
        assert_eq!(empty.exemptions.tag_setters, Some(Vec::new()));
    }
}
