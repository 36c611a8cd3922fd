//! The configuration file (TOML, unknown keys rejected): exemptions, remediation mode, dedup
//! window. Owns parsing and validation only; runtime knobs live in clap flags and env vars.

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

/// Consumer fleet tuning (DESIGN §7). Durations in milliseconds.
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
    /// bucketwarden's own identities (userIdentity.arn): their events are never remediated, so the
    /// guardrail cannot loop on itself. An IAM role ARN also matches every session of that role
    /// (`arn:aws:sts::<account>:assumed-role/<name>/<session>`, as CloudTrail records a task's
    /// calls). Calls made with the SDK app name "bucketwarden" are recognised by their userAgent
    /// as well.
    pub self_arns: Vec<String>,
    /// How an exposed object (in a bucket that is not exempt) is closed.
    pub objects: ObjectRemediation,
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
    self_arns.iter().any(|own| {
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
    fn empty_file_is_defaults() {
        assert_eq!(
            Config::parse("", Path::new("x.toml")).unwrap(),
            Config::default()
        );
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
}
