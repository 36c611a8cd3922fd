//! Persisted fold state (docs/DESIGN.md §6): one DynamoDB item per bucket, per account and per
//! public object, JSON state with a version number and conditional writes. A write that loses a
//! race merges (per-component newest wins) and tries again, so two workers never lose each other's
//! changes. Owns storage only; the merge rule is the fold's.
//!
//! A bucket's public objects live in their own items (`object#<bucket>#<key>`), never in the
//! bucket's item, so no number of objects can push the bucket item past DynamoDB's 400 KB item
//! limit: an object item holds one key (at most 1,024 bytes) and one ACL. Object items carry
//! `account = objects#<bucket>`, so the account index lists a bucket's objects as it lists an
//! account's buckets, and the bucket item counts them (`objects`) so that a bucket without public
//! objects costs no query.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::aws::table::{self, TableSpec};
use crate::core::acl::Acl;
use crate::core::fold::{AccountState, BucketState, Stamped};

/// The table's hash key (the bucket's id) and the attribute [`ACCOUNT_INDEX`] is keyed on.
pub const KEY: &str = "id";
pub const ACCOUNT_ATTRIBUTE: &str = "account";

pub const ACCOUNT_INDEX: &str = "account-index";

/// A state item and the version it was read at (0 = absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// One versioned put, for PutItem or a transaction.
struct VersionedWrite {
    item: HashMap<String, AttributeValue>,
    condition: &'static str,
    values: Option<HashMap<String, AttributeValue>>,
}

#[derive(Clone, Debug)]
pub struct StateStore {
    client: Client,
    table: String,
}

fn bucket_id(name: &str) -> String {
    format!("bucket#{name}")
}

/// A public object's item. Bucket names cannot contain `#`, so the first `#` after the bucket
/// ends it whatever the key holds.
fn object_id(bucket: &str, key: &str) -> String {
    format!("object#{bucket}#{key}")
}

/// The account-index partition of a bucket's object items.
fn objects_owner(bucket: &str) -> String {
    format!("objects#{bucket}")
}

/// How many object items the bucket item says it has (absent in items saved before objects had
/// their own items, whose objects are inside the state).
fn object_count(item: &HashMap<String, AttributeValue>) -> u64 {
    item.get("objects")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn account_id(id: &str) -> String {
    format!("account#{id}")
}

fn decode<T: serde::de::DeserializeOwned>(
    item: &HashMap<String, AttributeValue>,
) -> Result<Versioned<T>, AwsError> {
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let json = item
        .get("state")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| AwsError::other("dynamodb", "GetItem", "state item without state"))?;
    let value = serde_json::from_str(json)
        .map_err(|e| AwsError::other("dynamodb", "GetItem", format!("undecodable state: {e}")))?;
    Ok(Versioned { value, version })
}

impl StateStore {
    /// The client, for group writes (`transact`) that mix this table's items with others.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn new(client: Client, table: impl Into<String>) -> StateStore {
        StateStore {
            client,
            table: table.into(),
        }
    }

    pub async fn create_if_missing(&self) -> Result<bool, AwsError> {
        let spec = TableSpec {
            name: &self.table,
            key: KEY,
            index: Some((ACCOUNT_INDEX, ACCOUNT_ATTRIBUTE)),
        };
        table::create_if_missing(&self.client, spec).await
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        id: String,
    ) -> Result<Option<Versioned<T>>, AwsError> {
        self.get_item(id).await?.as_ref().map(decode).transpose()
    }

    async fn get_item(
        &self,
        id: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, AwsError> {
        let r = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb", "GetItem", e))?;
        Ok(r.item().cloned())
    }

    /// A bucket's state with its public objects (from their own items).
    pub async fn load_bucket(
        &self,
        name: &str,
    ) -> Result<Option<Versioned<BucketState>>, AwsError> {
        match self.get_item(bucket_id(name)).await? {
            Some(item) => Ok(Some(self.decode_bucket(name, &item).await?)),
            None => Ok(None),
        }
    }

    /// A bucket item's state, with its object items read when it counts any.
    async fn decode_bucket(
        &self,
        name: &str,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Versioned<BucketState>, AwsError> {
        let mut v: Versioned<BucketState> = decode(item)?;
        // An item saved before objects had their own items keeps them in its state (private
        // ones too): its public objects move to their own items now, before the next save of
        // the bucket drops them from its state. Once per such bucket; the writes are idempotent.
        v.value.objects.retain(|_, o| o.value.is_public());
        if !item.contains_key("objects") {
            for (key, o) in &v.value.objects {
                self.save_object(name, key, Some(o), o.at).await?;
            }
        }
        if object_count(item) > 0 {
            for (key, o) in self.load_objects(name).await? {
                match v.value.objects.get(&key) {
                    Some(mine) if mine.at >= o.at => {}
                    _ => {
                        v.value.objects.insert(key, o);
                    }
                }
            }
        }
        Ok(v)
    }

    /// Every object item of a bucket (its public objects), a page of the account index at a time.
    pub async fn load_objects(
        &self,
        bucket: &str,
    ) -> Result<Vec<(String, Stamped<Acl>)>, AwsError> {
        let prefix = format!("object#{bucket}#");
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let r = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ACCOUNT_INDEX)
                .key_condition_expression("#a = :a")
                .expression_attribute_names("#a", "account")
                .expression_attribute_values(":a", AttributeValue::S(objects_owner(bucket)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| from_sdk("dynamodb", "Query", e))?;
            for item in r.items() {
                let Some(key) = item
                    .get("id")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|id| id.strip_prefix(&prefix))
                else {
                    continue;
                };
                let v: Versioned<Stamped<Acl>> = decode(item)?;
                out.push((key.to_owned(), v.value));
            }
            match r.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The write that makes an object's item match the fold: its public ACL (`Some`), or no item
    /// (`None`: the object was set private). Conditional on the stored stamp being no newer than
    /// `at` (the object's stamp, or for a removal the newest event of the key this batch saw), so
    /// a stale writer never undoes a newer change. A removal forgets the stamp, as the fold does.
    pub fn object_write(
        &self,
        bucket: &str,
        key: &str,
        object: Option<&Stamped<Acl>>,
        at: i64,
    ) -> Result<TransactWriteItem, AwsError> {
        let condition = "attribute_not_exists(#at) OR #at <= :at";
        let names = HashMap::from([("#at".to_owned(), "at".to_owned())]);
        let values = HashMap::from([(":at".to_owned(), AttributeValue::N(at.to_string()))]);
        Ok(match object {
            Some(o) => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(Self::object_item(bucket, key, o)?))
                        .condition_expression(condition)
                        .set_expression_attribute_names(Some(names))
                        .set_expression_attribute_values(Some(values))
                        .build()
                        .expect("complete"),
                )
                .build(),
            None => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .key("id", AttributeValue::S(object_id(bucket, key)))
                        .condition_expression(condition)
                        .set_expression_attribute_names(Some(names))
                        .set_expression_attribute_values(Some(values))
                        .build()
                        .expect("complete"),
                )
                .build(),
        })
    }

    fn object_item(
        bucket: &str,
        key: &str,
        o: &Stamped<Acl>,
    ) -> Result<HashMap<String, AttributeValue>, AwsError> {
        let json = serde_json::to_string(o)
            .map_err(|e| AwsError::other("dynamodb", "PutItem", e.to_string()))?;
        Ok(HashMap::from([
            ("id".to_owned(), AttributeValue::S(object_id(bucket, key))),
            (
                "account".to_owned(),
                AttributeValue::S(objects_owner(bucket)),
            ),
            ("at".to_owned(), AttributeValue::N(o.at.to_string())),
            ("version".to_owned(), AttributeValue::N("1".into())),
            ("state".to_owned(), AttributeValue::S(json)),
        ]))
    }

    /// `object_write` on its own. A newer stored change (condition failed) is left in place: it
    /// is the truth, and the next load of the bucket reads it.
    pub async fn save_object(
        &self,
        bucket: &str,
        key: &str,
        object: Option<&Stamped<Acl>>,
        at: i64,
    ) -> Result<(), AwsError> {
        let condition = "attribute_not_exists(#at) OR #at <= :at";
        let at_value = AttributeValue::N(at.to_string());
        let r = match object {
            Some(o) => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::object_item(bucket, key, o)?))
                .condition_expression(condition)
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":at", at_value)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk("dynamodb", "PutItem", e)),
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("id", AttributeValue::S(object_id(bucket, key)))
                .condition_expression(condition)
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":at", at_value)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk("dynamodb", "DeleteItem", e)),
        };
        match r {
            Err(e) if !e.is(Kind::ConditionFailed) => Err(e),
            _ => Ok(()),
        }
    }

    pub async fn load_account(
        &self,
        id: &str,
    ) -> Result<Option<Versioned<AccountState>>, AwsError> {
        self.get(account_id(id)).await
    }

    /// Every bucket of an account (for an account-level event, which re-evaluates them all).
    pub async fn buckets_of_account(
        &self,
        account: &str,
    ) -> Result<Vec<(String, Versioned<BucketState>)>, AwsError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let r = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ACCOUNT_INDEX)
                .key_condition_expression("#a = :a")
                .expression_attribute_names("#a", "account")
                .expression_attribute_values(":a", AttributeValue::S(account.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| from_sdk("dynamodb", "Query", e))?;
            for item in r.items() {
                let Some(name) = item
                    .get("id")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|id| id.strip_prefix("bucket#"))
                else {
                    continue;
                };
                out.push((name.to_owned(), self.decode_bucket(name, item).await?));
            }
            match r.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// A bucket's versioned write: its state without its objects (they have their own items,
    /// written by `object_write`), and how many public objects it has.
    fn bucket_versioned_write(
        name: &str,
        state: &BucketState,
        expected: u64,
    ) -> Result<VersionedWrite, AwsError> {
        let count = state.objects.len();
        let without = BucketState {
            objects: Default::default(),
            ..state.clone()
        };
        let mut w =
            Self::versioned_write(bucket_id(name), Some(&state.account), &without, expected)?;
        w.item
            .insert("objects".to_owned(), AttributeValue::N(count.to_string()));
        Ok(w)
    }

    /// The item, condition and names/values of a versioned write of `value` over `expected`.
    fn versioned_write<T: serde::Serialize>(
        id: String,
        account: Option<&str>,
        value: &T,
        expected: u64,
    ) -> Result<VersionedWrite, AwsError> {
        let json = serde_json::to_string(value)
            .map_err(|e| AwsError::other("dynamodb", "PutItem", e.to_string()))?;
        let mut item = HashMap::from([
            ("id".to_owned(), AttributeValue::S(id)),
            (
                "version".to_owned(),
                AttributeValue::N((expected + 1).to_string()),
            ),
            ("state".to_owned(), AttributeValue::S(json)),
        ]);
        if let Some(a) = account {
            item.insert("account".to_owned(), AttributeValue::S(a.to_owned()));
        }
        let (condition, values) = if expected == 0 {
            ("attribute_not_exists(#v)", None)
        } else {
            (
                "#v = :v",
                Some(HashMap::from([(
                    ":v".to_owned(),
                    AttributeValue::N(expected.to_string()),
                )])),
            )
        };
        Ok(VersionedWrite {
            item,
            condition,
            values,
        })
    }

    /// Writes `value` if the stored version is still `expected`; `Ok(None)` on a lost race.
    async fn put_if(&self, w: VersionedWrite, expected: u64) -> Result<Option<u64>, AwsError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(w.item))
            .condition_expression(w.condition)
            .expression_attribute_names("#v", "version")
            .set_expression_attribute_values(w.values)
            .send()
            .await;
        match r {
            Ok(_) => Ok(Some(expected + 1)),
            Err(e) => {
                let e = from_sdk("dynamodb", "PutItem", e);
                if e.is(Kind::ConditionFailed) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    fn transact_put(&self, w: VersionedWrite) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(w.item))
                    .condition_expression(w.condition)
                    .expression_attribute_names("#v", "version")
                    .set_expression_attribute_values(w.values)
                    .build()
                    .expect("complete"),
            )
            .build()
    }

    /// A bucket save for a group write (`transact`): the same conditional put as `save_bucket`'s
    /// first attempt, at version `expected + 1`. A cancelled group is redone with `save_bucket`,
    /// which merges on conflict.
    pub fn bucket_write(
        &self,
        name: &str,
        state: &BucketState,
        expected: u64,
    ) -> Result<TransactWriteItem, AwsError> {
        Self::bucket_versioned_write(name, state, expected).map(|w| self.transact_put(w))
    }

    /// Several buckets' states in one BatchGetItem call per 100 names (strongly consistent, as
    /// `load_bucket`); absent buckets are absent from the map.
    pub async fn load_buckets(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, Versioned<BucketState>>, AwsError> {
        let mut out = HashMap::new();
        for part in names.chunks(100) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = part
                .iter()
                .map(|n| HashMap::from([("id".to_owned(), AttributeValue::S(bucket_id(n)))]))
                .collect();
            // BatchGetItem may answer part and return the rest as UnprocessedKeys.
            let mut rounds = 0;
            while !keys.is_empty() {
                rounds += 1;
                if rounds > 8 {
                    return Err(AwsError {
                        service: "dynamodb",
                        operation: "BatchGetItem",
                        kind: Kind::Throttled,
                        code: "UnprocessedKeys".into(),
                        message: format!("{} keys still unprocessed after 8 rounds", keys.len()),
                    });
                }
                let r = self
                    .client
                    .batch_get_item()
                    .request_items(
                        &self.table,
                        KeysAndAttributes::builder()
                            .set_keys(Some(std::mem::take(&mut keys)))
                            .consistent_read(true)
                            .build()
                            .expect("complete"),
                    )
                    .send()
                    .await
                    .map_err(|e| from_sdk("dynamodb", "BatchGetItem", e))?;
                for item in r
                    .responses()
                    .and_then(|t| t.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let Some(name) = item
                        .get("id")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|id| id.strip_prefix("bucket#"))
                    else {
                        continue;
                    };
                    out.insert(name.to_owned(), self.decode_bucket(name, item).await?);
                }
                if let Some(left) = r.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    keys = left.keys().to_vec();
                    if !keys.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(50 * rounds)).await;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Saves a bucket's state, merging with a concurrent writer's on conflict. Returns the
    /// version written and the merged state.
    pub async fn save_bucket(
        &self,
        name: &str,
        state: &BucketState,
        mut expected: u64,
    ) -> Result<Versioned<BucketState>, AwsError> {
        let mut value = state.clone();
        for _ in 0..8 {
            if let Some(version) = self
                .put_if(
                    Self::bucket_versioned_write(name, &value, expected)?,
                    expected,
                )
                .await?
            {
                return Ok(Versioned { value, version });
            }
            if let Some(current) = self.load_bucket(name).await? {
                value.merge_from(&current.value);
                expected = current.version;
            } else {
                expected = 0;
            }
        }
        Err(contention(&format!("bucket {name}")))
    }

    pub async fn save_account(
        &self,
        id: &str,
        state: &AccountState,
        mut expected: u64,
    ) -> Result<Versioned<AccountState>, AwsError> {
        let mut value = state.clone();
        for _ in 0..8 {
            let w = Self::versioned_write(account_id(id), None, &value, expected)?;
            if let Some(version) = self.put_if(w, expected).await? {
                return Ok(Versioned { value, version });
            }
            if let Some(current) = self.load_account(id).await? {
                value.block.merge_from(&current.value.block);
                value.buckets.extend(current.value.buckets);
                for (k, v) in current.value.access_points {
                    value.access_points.entry(k).or_insert(v);
                }
                expected = current.version;
            } else {
                expected = 0;
            }
        }
        Err(contention(&format!("account {id}")))
    }
}

/// DynamoDB's size of an item: "the sum of the lengths of its attribute names and values"
/// (strings by their UTF-8 length; numbers about one byte per two significant digits plus one).
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => n.len().div_ceil(2) + 1,
                    _ => 8,
                }
        })
        .sum()
}

/// The sizes of the items `save_bucket` and `object_write` would write for `state`: the bucket's
/// item and its largest object item. What the benchmark and the item-size bound are about.
pub fn item_sizes(name: &str, state: &BucketState) -> Result<(usize, usize), AwsError> {
    let bucket = StateStore::bucket_versioned_write(name, state, 1)?;
    let mut largest = 0;
    for (key, o) in &state.objects {
        largest = largest.max(item_size(&StateStore::object_item(name, key, o)?));
    }
    Ok((item_size(&bucket.item), largest))
}

/// The error for a state write that kept losing its version race: throttled, so callers back off.
fn contention(what: &str) -> AwsError {
    AwsError {
        service: "dynamodb",
        operation: "PutItem",
        kind: Kind::Throttled,
        code: "TooMuchContention".into(),
        message: format!("{what}: 8 conflicting writes in a row"),
    }
}
