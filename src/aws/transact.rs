//! Group writes: several conditional DynamoDB writes (any tables) as one `TransactWriteItems`
//! call, all or nothing. Owns the call and its limits; what goes in a group, and what to do when
//! a group is cancelled, is the caller's (it falls back to its one-item path, which knows how to
//! settle each condition).
//!
//! Why transactions and not `BatchWriteItem`: the writes grouped here are conditional (versioned
//! state saves, first-claim dedup puts), and BatchWriteItem takes no condition expressions. A
//! transaction takes one per item, up to 100 items, and either applies all of them or none, so a
//! dedup finish in the same group as the state it covers is never durable without that state.

use aws_sdk_dynamodb::types::TransactWriteItem;
use aws_sdk_dynamodb::Client;

use crate::aws::error::{from_sdk, AwsError};

/// TransactWriteItems: "up to 100 action requests" per call.
pub const MAX_ITEMS: usize = 100;

/// How a group of writes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Every write applied.
    Applied,
    /// None applied: a condition failed or another transaction held an item. The caller redoes
    /// the writes one by one, which tells which condition failed and settles it.
    Cancelled,
}

/// Writes `items` (at most `MAX_ITEMS`) as one transaction. `token` is the idempotency token: a
/// retry after a lost response with the same token and items is answered as the first call was
/// (DynamoDB keeps it 10 minutes), so a group that landed unreported is not mistaken for a
/// conflict. A retry after a lost response without that guarantee (an emulator ignoring tokens)
/// is cancelled by its own first write and redone one by one, which is also correct.
pub async fn write_group(
    client: &Client,
    items: Vec<TransactWriteItem>,
    token: &str,
) -> Result<Group, AwsError> {
    debug_assert!(items.len() <= MAX_ITEMS);
    if items.is_empty() {
        return Ok(Group::Applied);
    }
    match client
        .transact_write_items()
        .set_transact_items(Some(items))
        .client_request_token(token)
        .send()
        .await
    {
        Ok(_) => Ok(Group::Applied),
        Err(e) => {
            let e = from_sdk("dynamodb", "TransactWriteItems", e);
            if cancelled(&e.code) {
                Ok(Group::Cancelled)
            } else {
                Err(e)
            }
        }
    }
}

/// Codes that mean "nothing was written; redo item by item" rather than a failure to retry.
fn cancelled(code: &str) -> bool {
    matches!(
        code,
        "TransactionCanceledException"
            | "TransactionConflictException"
            | "IdempotentParameterMismatchException"
    )
}

/// A fresh idempotency token for one group (the same one for every retry of that group).
pub fn token() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::cancelled;

    // TransactWriteItems: "TransactionCanceledException: The entire transaction request was
    // canceled", e.g. when "a condition in one of the condition expressions is not met" or
    // "there is an ongoing TransactWriteItems operation that conflicts".
    #[test]
    fn a_cancelled_group_is_redone_item_by_item_not_retried_as_an_error() {
        assert!(cancelled("TransactionCanceledException"));
        assert!(cancelled("TransactionConflictException"));
        assert!(!cancelled("ProvisionedThroughputExceededException"));
        assert!(!cancelled("InternalServerError"));
    }
}
