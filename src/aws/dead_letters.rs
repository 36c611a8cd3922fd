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

    /// DynamoDB items are limited to 400 KB; keep the first 350 KB of a huge record and say so.
    pub async fn put(
        &self,
        shard: &str,
        sequence: &str,
        raw: &[u8],
        reason: &str,
        at: &str,
    ) -> Result<(), AwsError> {
        const MAX: usize = 350 * 1024;
        let truncated = raw.len() > MAX;
        let r = self
            .clients
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("id", s(&format!("{shard}|{sequence}")))
            .item("shardId", s(shard))
            .item("sequenceNumber", s(sequence))
            .item("reason", s(reason))
            .item("size", AttributeValue::N(raw.len().to_string()))
            .item("truncated", AttributeValue::Bool(truncated))
            .item(
                "raw",
                AttributeValue::B(aws_smithy_types::Blob::new(&raw[..raw.len().min(MAX)])),
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
