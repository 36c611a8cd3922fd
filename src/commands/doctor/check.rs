//! The checklist's vocabulary: one item per check and account, its status and what to do about
//! it, and what a whole checklist means for the exit status. Pure; owns no judgement of any AWS
//! resource (each check group's module does that).

use serde::Serialize;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but differs from the deploy template in a way that weakens it.
    Warn,
    /// Broken: the fleet is (partly) blind or cannot act.
    Fail,
    /// The read was denied or failed: nothing can be said, which is not "ok".
    Unknown,
    /// Not checked here (not applicable, or not available in this version).
    Skipped,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Unknown => "UNKNOWN",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub account: String,
    /// A stable id, e.g. `cloudtrail.data-events`, `table.dedup.ttl`.
    pub check: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, for anything but `ok` and `skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Item {
    pub fn new(
        account: &str,
        check: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> Item {
        Item {
            account: account.to_owned(),
            check: check.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn ok(account: &str, check: impl Into<String>, detail: impl Into<String>) -> Item {
        Item::new(account, check, Status::Ok, detail)
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Item {
        self.fix = Some(fix.into());
        self
    }
}

/// Exit status: nothing failed and everything was read.
pub const EXIT_HEALTHY: u8 = 0;
/// Exit status: doctor itself could not run (configuration, credentials).
pub const EXIT_ERROR: u8 = 1;
/// Exit status: at least one check failed.
pub const EXIT_BROKEN: u8 = 3;
/// Exit status: nothing failed, but at least one check could not be read.
pub const EXIT_UNKNOWN: u8 = 4;

/// The exit status of a checklist: a `fail` wins over an `unknown`; `warn` and `skipped` do not
/// make a deployment broken.
pub fn exit_code(items: &[Item]) -> u8 {
    if items.iter().any(|i| i.status == Status::Fail) {
        EXIT_BROKEN
    } else if items.iter().any(|i| i.status == Status::Unknown) {
        EXIT_UNKNOWN
    } else {
        EXIT_HEALTHY
    }
}

/// An item for a read that failed: `unknown`, with the AWS error and what lets doctor read it.
pub fn unreadable(account: &str, check: &str, error: &impl std::fmt::Display, needs: &str) -> Item {
    Item::new(
        account,
        check,
        Status::Unknown,
        format!("cannot read: {error}"),
    )
    .fix(format!(
        "let doctor's credentials call {needs}, then run it again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_wins_over_unknown_and_warnings_and_skips_are_healthy() {
        let a = "1";
        let ok = Item::ok(a, "x", "");
        let warn = Item::new(a, "x", Status::Warn, "");
        let skip = Item::new(a, "x", Status::Skipped, "");
        let unknown = Item::new(a, "x", Status::Unknown, "");
        let fail = Item::new(a, "x", Status::Fail, "");
        assert_eq!(
            exit_code(&[ok.clone(), warn.clone(), skip.clone()]),
            EXIT_HEALTHY
        );
        assert_eq!(exit_code(&[ok.clone(), unknown.clone()]), EXIT_UNKNOWN);
        assert_eq!(exit_code(&[unknown, fail, ok]), EXIT_BROKEN);
        assert_eq!(exit_code(&[]), EXIT_HEALTHY);
    }
}
