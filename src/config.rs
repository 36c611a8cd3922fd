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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remediation {
    #[serde(default)]
    pub mode: Mode,
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
        Dedup { window_days: default_dedup_days() }
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
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Invalid { path: path.to_owned(), message: e.to_string() })?;
        if config.dedup.window_days == 0 {
            return Err(ConfigError::Invalid { path: path.to_owned(), message: "dedup.window_days must be at least 1".into() });
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
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
        assert_eq!(c.exemptions.tags.get("bucketwarden:allow-public").map(String::as_str), Some("true"));
        assert_eq!(c.remediation.mode, Mode::DryRun);
        assert_eq!(c.dedup.window_days, 7);
    }

    #[test]
    fn rejects_unknown_keys_with_position() {
        let err = Config::parse("[exemptions]\nbucket = [\"x\"]\n", Path::new("x.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown field `bucket`"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::parse("", Path::new("x.toml")).unwrap(), Config::default());
    }
}
