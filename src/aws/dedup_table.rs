//! Fleet-wide event dedup (docs/DESIGN.md §6): a conditional put on the event id, with a TTL, before any
//! effect. A claim is `claimed` while its batch is in flight and `done` once the batch's effects
//! and state are written; a claim left `claimed` by a worker that died is taken over when the same
//! record is read again, so a crash never loses an event and an event is never acted on twice,
//! even when two producers put it on two shards.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::aws::table::{self, TableSpec};

/// The dedup table's hash key.
pub const KEY: &str = "eventId";

pub const TTL_ATTRIBUTE: &str = "expiresAt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First sighting: process it.
    Fresh,
    /// This very record was claimed before and not finished (its worker died, its lease moved,
    /// its batch failed, or only our own write's response was lost): process it, and do not
    /// trust the fold to show its transition again, because the first attempt may have folded it
    /// without finishing its effects.
    Retaken,
    /// Already processed, or in flight from another record with the same event id: a duplicate.
    Done,
}

#[derive(Clone, Debug)]
pub struct DedupTable {
    client: Client,
    table: String,
    ttl: Duration,
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl DedupTable {
    pub fn new(client: Client, table: impl Into<String>, ttl: Duration) -> DedupTable {
        DedupTable {
            client,
            table: table.into(),
            ttl,
        }
    }

    pub async fn create_if_missing(&self) -> Result<bool, AwsError> {
        let spec = TableSpec {
            name: &self.table,
            key: KEY,
            index: None,
        };
        let created = table::create_if_missing(&self.client, spec).await?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .expect("complete"),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("dynamodb", "UpdateTimeToLive", e))
            // Enabling TTL twice is refused; that is fine.
            .or_else(|e| {
                if e.code == "ValidationException" {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        Ok(created)
    }

    /// Claims `event_id` for `worker`, processing the record at `shard`/`sequence`.
    ///
    /// A claim still `claimed` is taken over only by the same record (same shard and sequence
    /// number): that is the record being processed again after its worker died or its batch
    /// failed, and the lease fences the two attempts. The same event id in a different record (a
    /// second producer, another shard) while the first is in flight is a duplicate: if the first
    /// worker dies, whoever takes its shard re-reads that record from the checkpoint and
    /// finishes it, so nothing is lost by skipping this copy.
    pub async fn claim(
        &self,
        event_id: &str,
        worker: &str,
        shard: &str,
        sequence: &str,
        now: SystemTime,
    ) -> Result<Claim, AwsError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                self.claim_item(event_id, worker, shard, sequence, now),
            ))
            .condition_expression(
                "attribute_not_exists(eventId) OR (#s = :claimed AND #sh = :shard AND #sq = :seq)",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#sh", "shardId")
            .expression_attribute_names("#sq", "sequenceNumber")
            .expression_attribute_values(":claimed", AttributeValue::S("claimed".into()))
            .expression_attribute_values(":shard", AttributeValue::S(shard.to_owned()))
            .expression_attribute_values(":seq", AttributeValue::S(sequence.to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) if out.attributes().is_some_and(|a| !a.is_empty()) => Ok(Claim::Retaken),
            Ok(_) => Ok(Claim::Fresh),
            Err(e) => {
                let e = from_sdk("dynamodb", "PutItem", e);
                if e.is(Kind::ConditionFailed) {
                    Ok(Claim::Done)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The claim item itself, the same for a claim alone and in a group.
    fn claim_item(
        &self,
        event_id: &str,
        worker: &str,
        shard: &str,
        sequence: &str,
        now: SystemTime,
    ) -> HashMap<String, AttributeValue> {
        let expires = epoch_secs(now + self.ttl);
        HashMap::from([
            ("eventId".to_owned(), AttributeValue::S(event_id.to_owned())),
            ("status".to_owned(), AttributeValue::S("claimed".into())),
            ("worker".to_owned(), AttributeValue::S(worker.to_owned())),
            ("shardId".to_owned(), AttributeValue::S(shard.to_owned())),
            (
                "sequenceNumber".to_owned(),
                AttributeValue::S(sequence.to_owned()),
            ),
            (
                "claimedAt".to_owned(),
                AttributeValue::N(epoch_secs(now).to_string()),
            ),
            (
                TTL_ATTRIBUTE.to_owned(),
                AttributeValue::N(expires.to_string()),
            ),
        ])
    }

    /// The first-sighting claim of `event_id` for a group write (`transact`): the same item as
    /// `claim`, conditional on no claim existing at all. A group with any event seen before is
    /// cancelled, and its events are then claimed one by one with `claim`, which tells a
    /// duplicate from a record being retaken.
    pub fn claim_write(
        &self,
        event_id: &str,
        worker: &str,
        shard: &str,
        sequence: &str,
        now: SystemTime,
    ) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(
                        self.claim_item(event_id, worker, shard, sequence, now),
                    ))
                    .condition_expression("attribute_not_exists(eventId)")
                    .build()
                    .expect("complete"),
            )
            .build()
    }

    /// `finish` for a group write: in the same transaction as the state it covers, an event id
    /// is never `done` without that state.
    pub fn finish_write(&self, event_id: &str) -> TransactWriteItem {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .key("eventId", AttributeValue::S(event_id.to_owned()))
                    .update_expression("SET #s = :done")
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":done", AttributeValue::S("done".into()))
                    .build()
                    .expect("complete"),
            )
            .build()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Marks claims done once their batch's effects and state are durable.
    pub async fn finish(&self, event_id: &str) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("eventId", AttributeValue::S(event_id.to_owned()))
            .update_expression("SET #s = :done")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("dynamodb", "UpdateItem", e))
    }
}
