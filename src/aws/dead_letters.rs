//! The dead-letter table: poison records kept raw, with their shard, sequence number and reason,
//! for a person to look at. Owns that table only; it never blocks the shard.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::aws::table::{self, TableSpec};
use crate::aws::Clients;

/// The dead-letter table's hash key.
pub const KEY: &str = "id";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// Poison records: raw bytes kept for a person to look at, never blocking the shard.
#[derive(Clone, Debug)]
pub struct DeadLetters {
    clients: Clients,
    table: String,
}

impl DeadLetters {
    pub fn new(clients: Clients, table: impl Into<String>) -> DeadLetters {
        DeadLetters {
            clients,
            table: table.into(),
        }
    }

    pub async fn create_if_missing(&self) -> Result<bool, AwsError> {
        let spec = TableSpec {
            name: &self.table,
            key: KEY,
            index: None,
        };
        table::create_if_missing(&self.clients.dynamodb, spec).await
    }

    /// Writes one dead letter; fits DynamoDB's 400 KB item limit whatever it is given, so that any
    /// record up to `max_record_bytes` (or larger) can be dead-lettered. The reason is cut to
    /// `MAX_REASON_BYTES` (core quotes values under a bound already; this is the backstop). The raw
    /// record is *bounded*, not externalised: its first `MAX_RAW_BYTES` are kept with its full
    /// `size` and `truncated`, and its shard and sequence number find the whole record on the
    /// stream for the retention period. A second store (an S3 bucket for large dead letters)
    /// would be one more resource to provision and one more write that can fail; the head of a
    /// poison record is what a person needs to see why it was refused.
    pub async fn put(
        &self,
        shard: &str,
        sequence: &str,
        raw: &[u8],
        reason: &str,
        at: &str,
    ) -> Result<(), AwsError> {
        let item = Item::new(shard, sequence, raw, reason, at);
        let r = self
            .clients
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("id", s(&format!("{shard}|{sequence}")))
            .item("shardId", s(shard))
            .item("sequenceNumber", s(sequence))
            .item("reason", s(&item.reason))
            .item("size", AttributeValue::N(raw.len().to_string()))
            .item("truncated", AttributeValue::Bool(item.truncated))
            .item(
                "raw",
                AttributeValue::B(aws_smithy_types::Blob::new(item.raw)),
            )
            .item("at", s(at))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = from_sdk("dynamodb", "PutItem", e);
                if e.is(Kind::ConditionFailed) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// The most bytes of a record a dead letter keeps (DynamoDB's item limit is 400 KB, names and
/// every other attribute included).
pub const MAX_RAW_BYTES: usize = 350 * 1024;
/// The most bytes of a reason a dead letter keeps.
pub const MAX_REASON_BYTES: usize = 1024;
/// Bound on everything but `raw` and `reason`: the id, shard and sequence number (Kinesis ids are
/// at most 128 and 128 characters), the time, the attribute names.
const MAX_OTHER_BYTES: usize = 1024;
/// DynamoDB's maximum item size, 400 KB, of which "The total size of an item is the sum of the
/// lengths of its attribute names and values" (DynamoDB item sizes and formats).
pub const DYNAMODB_ITEM_LIMIT: usize = 400 * 1024;
const _: () = assert!(MAX_RAW_BYTES + MAX_REASON_BYTES + MAX_OTHER_BYTES < DYNAMODB_ITEM_LIMIT);

/// What a dead letter stores of its record and reason, each under its bound.
#[derive(Debug)]
struct Item<'a> {
    raw: &'a [u8],
    truncated: bool,
    reason: std::borrow::Cow<'a, str>,
}

impl<'a> Item<'a> {
    fn new(shard: &str, sequence: &str, raw: &'a [u8], reason: &'a str, at: &str) -> Item<'a> {
        debug_assert!(shard.len() + sequence.len() + at.len() < MAX_OTHER_BYTES / 2);
        Item {
            raw: &raw[..raw.len().min(MAX_RAW_BYTES)],
            truncated: raw.len() > MAX_RAW_BYTES,
            reason: crate::core::quote::bounded(reason, MAX_REASON_BYTES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_record_and_reason_fit_one_item() {
        // The case of issue #26: a 240 KB record whose refused value the reason quoted whole.
        let raw = vec![b'x'; 240 * 1024];
        let reason = format!("PutBucketAcl: unknown canned ACL {:?}", "x".repeat(240_000));
        let seq = "4".repeat(56);
        let item = Item::new(
            "shardId-000000000000",
            &seq,
            &raw,
            &reason,
            "2026-12-08T00:00:00Z",
        );
        assert_eq!(item.raw.len(), raw.len());
        assert!(!item.truncated);
        assert!(item.reason.len() <= MAX_REASON_BYTES);
        assert!(item.reason.starts_with("PutBucketAcl: unknown canned ACL"));
        // Far larger than any record Kinesis carries (1 MB): still one item.
        let huge = vec![0u8; 1024 * 1024];
        let item = Item::new("shardId-000000000000", &seq, &huge, &reason, "t");
        assert!(item.truncated);
        assert_eq!(item.raw.len(), MAX_RAW_BYTES);
    }
}
