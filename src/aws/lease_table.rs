//! The DynamoDB lease table (docs/DESIGN.md §7) with KCL's attribute names. Every take, renew,
//! checkpoint and release is a conditional write on the expected `leaseCounter` and increments it.
//! Owns the table's wire format; balancing and expiry are `lease`'s.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;

use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::aws::table::{self, TableSpec};
use crate::core::lease::{Checkpoint, Lease};

/// The lease table's hash key.
pub const KEY: &str = "leaseKey";
/// Rows that are not shards (the reconciler's leader lease) start with this; `list` skips them.
pub const SPECIAL_PREFIX: &str = "bucketwarden:";
const OWNER: &str = "leaseOwner";
const COUNTER: &str = "leaseCounter";
const CHECKPOINT: &str = "checkpoint";
const CHECKPOINT_SUB: &str = "checkpointSubSequenceNumber";
const OWNER_SWITCHES: &str = "ownerSwitchesSinceCheckpoint";
const PARENTS: &str = "parentShardId";
const CHILDREN: &str = "childShardIds";
const STARTING_HASH: &str = "startingHashKey";
const ENDING_HASH: &str = "endingHashKey";
const PENDING: &str = "pendingCheckpoint";
/// Not a KCL attribute (KCL ignores unknown ones): which write last moved the counter.
const WRITE_TOKEN: &str = "bucketwardenWriteToken";

#[derive(Clone, Debug)]
pub struct LeaseTable {
    client: Client,
    table: String,
    /// Prefixes every write token of this instance (one per worker process), so that a write of
    /// ours which landed although the call reported an error is recognised as ours later.
    writer: String,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn get_ss(item: &HashMap<String, AttributeValue>, k: &str) -> Vec<String> {
    match item.get(k) {
        Some(AttributeValue::Ss(v)) => {
            let mut v = v.clone();
            v.sort();
            v
        }
        Some(AttributeValue::S(v)) => vec![v.clone()],
        _ => Vec::new(),
    }
}

pub fn lease_from_item(item: &HashMap<String, AttributeValue>) -> Option<Lease> {
    Some(Lease {
        key: get_s(item, KEY)?,
        owner: get_s(item, OWNER).filter(|o| !o.is_empty()),
        counter: get_n(item, COUNTER),
        checkpoint: Checkpoint::parse(
            &get_s(item, CHECKPOINT).unwrap_or_else(|| "TRIM_HORIZON".into()),
        ),
        checkpoint_sub: get_n(item, CHECKPOINT_SUB),
        owner_switches: get_n(item, OWNER_SWITCHES),
        parents: get_ss(item, PARENTS),
        children: get_ss(item, CHILDREN),
        starting_hash: get_s(item, STARTING_HASH),
        ending_hash: get_s(item, ENDING_HASH),
        pending_checkpoint: get_s(item, PENDING),
    })
}

fn item_of(l: &Lease) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (KEY.to_owned(), s(&l.key)),
        (COUNTER.to_owned(), n(l.counter)),
        (CHECKPOINT.to_owned(), s(l.checkpoint.as_str())),
        (CHECKPOINT_SUB.to_owned(), n(l.checkpoint_sub)),
        (OWNER_SWITCHES.to_owned(), n(l.owner_switches)),
    ]);
    if let Some(o) = &l.owner {
        item.insert(OWNER.to_owned(), s(o));
    }
    if !l.parents.is_empty() {
        item.insert(PARENTS.to_owned(), AttributeValue::Ss(l.parents.clone()));
    }
    if !l.children.is_empty() {
        item.insert(CHILDREN.to_owned(), AttributeValue::Ss(l.children.clone()));
    }
    if let Some(h) = &l.starting_hash {
        item.insert(STARTING_HASH.to_owned(), s(h));
    }
    if let Some(h) = &l.ending_hash {
        item.insert(ENDING_HASH.to_owned(), s(h));
    }
    item
}

impl LeaseTable {
    pub fn new(client: Client, table: impl Into<String>) -> LeaseTable {
        LeaseTable {
            client,
            table: table.into(),
            writer: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Creates the table (hash key `leaseKey`, on-demand) unless it exists.
    pub async fn create_if_missing(&self) -> Result<bool, AwsError> {
        let spec = TableSpec {
            name: &self.table,
            key: KEY,
            index: None,
        };
        table::create_if_missing(&self.client, spec).await
    }

    /// Every shard lease (special rows excluded), read consistently, by key.
    pub async fn list(&self) -> Result<Vec<Lease>, AwsError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let r = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| from_sdk("dynamodb", "Scan", e))?;
            out.extend(
                r.items()
                    .iter()
                    .filter_map(lease_from_item)
                    .filter(|l| !l.key.starts_with(SPECIAL_PREFIX)),
            );
            match r.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// A row by key, shard or special (strongly consistent).
    pub async fn get(&self, key: &str) -> Result<Option<Lease>, AwsError> {
        Ok(self.item(key).await?.as_ref().and_then(lease_from_item))
    }

    async fn item(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, AwsError> {
        let r = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb", "GetItem", e))?;
        Ok(r.item)
    }

    /// Creates a lease for a newly discovered shard; false when it already exists.
    pub async fn create(&self, lease: &Lease) -> Result<bool, AwsError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(lease)))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = from_sdk("dynamodb", "PutItem", e);
                if e.is(Kind::ConditionFailed) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Records a shard's children on its lease (KCL's `childShardIds`); informational.
    pub async fn set_children(&self, key: &str, children: &[String]) -> Result<(), AwsError> {
        if children.is_empty() {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .update_expression("SET #c = :c")
            .condition_expression("attribute_exists(#k)")
            .expression_attribute_names("#c", CHILDREN)
            .expression_attribute_names("#k", KEY)
            .expression_attribute_values(":c", AttributeValue::Ss(children.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("dynamodb", "UpdateItem", e))
    }

    /// A conditional update on the expected counter. `Ok(None)`: somebody else moved the lease.
    /// `owner`: the write needs the lease to be this owner's (renew, checkpoint, release), which
    /// also lets it be redone on top of an earlier write of ours that landed unreported.
    async fn fenced(
        &self,
        lease: &Lease,
        op: &'static str,
        set: &str,
        owner: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<u64>, AwsError> {
        let set = set.replacen("SET #ctr = :next", "SET #ctr = :next, #wt = :wt", 1);
        debug_assert!(
            set.contains("#wt"),
            "every fenced update sets the counter first"
        );
        let mut cond = String::from("#ctr = :expected");
        let mut values = values;
        if let Some(me) = owner {
            cond.push_str(" AND #own = :me");
            values.push((":me", s(me)));
        }
        let mut expected = lease.counter;
        // Twice at most: once as asked, once more on top of an earlier write of ours.
        for _ in 0..2 {
            let next = expected + 1;
            // A token unique to this write: when the write lands but its response is lost, the
            // SDK's retry fails the counter condition against our own write, and only the token
            // tells "somebody else moved the lease" from "it was us".
            let token = format!("{}:{}", self.writer, uuid::Uuid::new_v4().simple());
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(KEY, s(&lease.key))
                .update_expression(&set)
                .condition_expression(&cond)
                .expression_attribute_names("#ctr", COUNTER)
                .expression_attribute_names("#wt", WRITE_TOKEN)
                .expression_attribute_values(":expected", n(expected))
                .expression_attribute_values(":next", n(next))
                .expression_attribute_values(":wt", s(&token));
            for (name, attr) in [
                ("#own", OWNER),
                ("#cp", CHECKPOINT),
                ("#sub", CHECKPOINT_SUB),
                ("#sw", OWNER_SWITCHES),
            ] {
                if set.contains(name) || cond.contains(name) {
                    req = req.expression_attribute_names(name, attr);
                }
            }
            for (k, v) in &values {
                req = req.expression_attribute_values(*k, v.clone());
            }
            let e = match req.send().await {
                Ok(_) => return Ok(Some(next)),
                Err(e) => from_sdk("dynamodb", op, e),
            };
            if !e.is(Kind::ConditionFailed) {
                return Err(e);
            }
            let Some(item) = self.item(&lease.key).await? else {
                return Ok(None);
            };
            let counter = get_n(&item, COUNTER);
            let last = get_s(&item, WRITE_TOKEN).unwrap_or_default();
            if counter == next && last == token {
                tracing::info!(
                    shard_id = lease.key.as_str(),
                    op,
                    "a lease write had landed although its response was lost"
                );
                return Ok(Some(next));
            }
            // The last write is one of ours from an earlier call that reported an error (its
            // response lost, then the SDK's retries failed too) although it landed. Nobody else
            // has written since, so the lease is still ours: write again on top of it. Without
            // this, one such error turned into "another worker took the lease".
            let ours = last
                .split_once(':')
                .is_some_and(|(writer, _)| writer == self.writer);
            let owned = owner.is_some_and(|me| get_s(&item, OWNER).as_deref() == Some(me));
            if !(ours && owned && counter > expected) {
                return Ok(None);
            }
            tracing::info!(
                shard_id = lease.key.as_str(),
                op,
                "an earlier lease write of ours had landed unreported; writing on top of it"
            );
            expected = counter;
        }
        Ok(None)
    }

    /// Takes (or steals) a lease for `me`.
    pub async fn take(&self, lease: &Lease, me: &str) -> Result<Option<Lease>, AwsError> {
        let switched = lease.owner.as_deref() != Some(me);
        let r = self
            .fenced(
                lease,
                "TakeLease",
                "SET #ctr = :next, #own = :me, #sw = if_not_exists(#sw, :zero) + :inc",
                None,
                vec![
                    (":me", s(me)),
                    (":zero", n(0)),
                    (":inc", n(u64::from(switched))),
                ],
            )
            .await?;
        Ok(r.map(|counter| Lease {
            owner: Some(me.to_owned()),
            counter,
            owner_switches: lease.owner_switches + u64::from(switched),
            ..lease.clone()
        }))
    }

    pub async fn renew(&self, lease: &Lease, me: &str) -> Result<Option<Lease>, AwsError> {
        let r = self
            .fenced(
                lease,
                "RenewLease",
                "SET #ctr = :next",
                Some(me),
                Vec::new(),
            )
            .await?;
        Ok(r.map(|counter| Lease {
            counter,
            ..lease.clone()
        }))
    }

    /// `renew` as one write of a group (`transact`), for effects that ride on the lease proof:
    /// the same fenced update (counter and owner as expected, counter moved, a write token of
    /// this instance), and the lease as it is once the group applied. Unlike `renew` it cannot
    /// look at the item when cancelled; the caller redoes a cancelled group with `renew`, which
    /// recognises this write by its token if it landed unreported.
    pub fn renew_write(&self, lease: &Lease, me: &str) -> (TransactWriteItem, Lease) {
        let next = lease.counter + 1;
        let token = format!("{}:{}", self.writer, uuid::Uuid::new_v4().simple());
        let item = TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .key(KEY, s(&lease.key))
                    .update_expression("SET #ctr = :next, #wt = :wt")
                    .condition_expression("#ctr = :expected AND #own = :me")
                    .expression_attribute_names("#ctr", COUNTER)
                    .expression_attribute_names("#wt", WRITE_TOKEN)
                    .expression_attribute_names("#own", OWNER)
                    .expression_attribute_values(":expected", n(lease.counter))
                    .expression_attribute_values(":next", n(next))
                    .expression_attribute_values(":wt", s(&token))
                    .expression_attribute_values(":me", s(me))
                    .build()
                    .expect("complete"),
            )
            .build();
        (
            item,
            Lease {
                counter: next,
                ..lease.clone()
            },
        )
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn checkpoint(
        &self,
        lease: &Lease,
        me: &str,
        cp: &Checkpoint,
    ) -> Result<Option<Lease>, AwsError> {
        let r = self
            .fenced(
                lease,
                "Checkpoint",
                "SET #ctr = :next, #cp = :cp, #sub = :zero, #sw = :zero",
                Some(me),
                vec![(":cp", s(cp.as_str())), (":zero", n(0))],
            )
            .await?;
        Ok(r.map(|counter| Lease {
            counter,
            checkpoint: cp.clone(),
            checkpoint_sub: 0,
            owner_switches: 0,
            ..lease.clone()
        }))
    }

    /// Gives a lease up so another worker can take it at once (graceful shutdown).
    pub async fn release(&self, lease: &Lease, me: &str) -> Result<bool, AwsError> {
        let r = self
            .fenced(
                lease,
                "ReleaseLease",
                "SET #ctr = :next REMOVE #own",
                Some(me),
                Vec::new(),
            )
            .await?;
        Ok(r.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_round_trip_keeps_kcl_names() {
        let mut l = Lease::new(
            "shardId-000000000003",
            vec!["shardId-000000000001".into(), "shardId-000000000002".into()],
            Checkpoint::TrimHorizon,
        );
        l.owner = Some("host:1".into());
        l.counter = 7;
        l.starting_hash = Some("0".into());
        l.ending_hash = Some("340282366920938463463374607431768211455".into());
        let item = item_of(&l);
        for k in [
            KEY,
            OWNER,
            COUNTER,
            CHECKPOINT,
            CHECKPOINT_SUB,
            OWNER_SWITCHES,
            PARENTS,
            STARTING_HASH,
            ENDING_HASH,
        ] {
            assert!(item.contains_key(k), "{k}");
        }
        assert_eq!(lease_from_item(&item), Some(l));
    }
}
