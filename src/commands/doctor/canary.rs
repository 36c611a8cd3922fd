//! The canary check: the age of the last canary event seen per account and region. This version
//! has no canary (issue #28, item 1), so the check says so instead of passing. Pure.

use super::check::{Item, Status};

pub fn judge(account: &str) -> Item {
    Item::new(
        account,
        "canary.age",
        Status::Skipped,
        "not available (no canary in this version): a quiet account cannot yet be told from a blind one",
    )
}
