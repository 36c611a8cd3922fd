//! Incidents (docs/DESIGN.md §6): one DynamoDB item per remediation or alert, keyed so that a retry
//! after a crash finds and completes it instead of writing a second one, with the alert claim
//! that keeps a message to one per incident, and the outbox: an incident whose alert could not be
//! sent carries `alertOwed` until it is, and the sparse index on it finds those. Owns the record
//! shape and its table; the SNS sink is `alerter`'s, poison records `dead_letters`'.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::aws::table::{self, TableSpec};
use crate::aws::Clients;

/// The incident table's hash key.
pub const KEY: &str = "incidentId";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub incident_id: String,
    pub event_id: Option<String>,
    pub event_name: String,
    pub bucket: String,
    pub key: Option<String>,
    pub account: String,
    pub region: String,
    pub actor_arn: Option<String>,
    pub source_ip: Option<String>,
    pub reasons: Vec<String>,
    /// remediate | alert
    pub action: String,
    /// The decision's rule (`core::decision::Rule`): why this action, e.g. `own_identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// pending | remediated | alerted | failed | unverified (verification could not read)
    pub outcome: String,
    pub remediation: Option<String>,
    pub error: Option<String>,
    pub event_time: String,
    pub detected_at: String,
    pub remediated_at: Option<String>,
    pub worker: String,
    /// What found it: stream | scan | reconcile.
    pub source: String,
}

impl Incident {
    /// Stable across retries of the same event: event id, bucket and key.
    pub fn id_for(
        event_id: Option<&str>,
        event_time: &str,
        bucket: &str,
        key: Option<&str>,
    ) -> String {
        format!(
            "{}|{}|{}",
            event_id.unwrap_or(event_time),
            bucket,
            key.unwrap_or("")
        )
    }

    /// An SNS subject: ASCII, under 100 characters. The outcome and the account always fit; a
    /// bucket name too long for the rest is shortened with `...` (the message carries it whole):
    /// "REMEDIATION FAILED" is what the reader of a subject line must not miss.
    pub fn subject(&self) -> String {
        const MAX: usize = 99;
        let what = match &self.key {
            Some(_) => "object",
            None => "bucket",
        };
        let verb = match self.outcome.as_str() {
            "remediated" => "locked down",
            "failed" => "REMEDIATION FAILED",
            _ => "alert only",
        };
        let ascii = |t: &str| -> String {
            t.chars()
                .filter(|c| c.is_ascii() && !c.is_ascii_control())
                .collect()
        };
        let head = format!("bucketwarden: {what} in ");
        // The account after the bucket: in an organization the bucket name alone does not say
        // whose it is.
        let tail: String = ascii(&format!(
            " (account {}) became public ({verb})",
            self.account
        ))
        .chars()
        .take(MAX - head.len() - 4)
        .collect();
        let mut bucket = ascii(&self.bucket);
        let room = MAX - head.len() - tail.len();
        if bucket.len() > room {
            bucket.truncate(room.saturating_sub(3));
            bucket.push_str("...");
        }
        format!("{head}{bucket}{tail}")
    }
}

#[derive(Clone, Debug)]
pub struct IncidentTable {
    clients: Clients,
    table: String,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn to_item(i: &Incident) -> HashMap<String, AttributeValue> {
    let mut m = HashMap::new();
    m.insert("incidentId".into(), s(&i.incident_id));
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), s(v));
        }
    };
    put("eventId", &i.event_id);
    put("key", &i.key);
    put("actorArn", &i.actor_arn);
    put("sourceIp", &i.source_ip);
    put("remediation", &i.remediation);
    put("error", &i.error);
    put("remediatedAt", &i.remediated_at);
    put("rule", &i.rule);
    for (k, v) in [
        ("eventName", &i.event_name),
        ("bucket", &i.bucket),
        ("account", &i.account),
        ("region", &i.region),
        ("action", &i.action),
        ("outcome", &i.outcome),
        ("eventTime", &i.event_time),
        ("detectedAt", &i.detected_at),
        ("worker", &i.worker),
        ("source", &i.source),
    ] {
        m.insert(k.into(), s(v));
    }
    m.insert(
        "reasons".into(),
        AttributeValue::L(i.reasons.iter().map(|r| s(r)).collect()),
    );
    m
}

/// The incident an item records; a field missing from the item is empty (`source`: `stream`,
/// which is what wrote incidents before the field existed).
fn from_item(item: &HashMap<String, AttributeValue>) -> Incident {
    let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    Incident {
        incident_id: get("incidentId").unwrap_or_default(),
        event_id: get("eventId"),
        event_name: get("eventName").unwrap_or_default(),
        bucket: get("bucket").unwrap_or_default(),
        key: get("key"),
        account: get("account").unwrap_or_default(),
        region: get("region").unwrap_or_default(),
        actor_arn: get("actorArn"),
        source_ip: get("sourceIp"),
        reasons: item
            .get("reasons")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|x| x.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        action: get("action").unwrap_or_default(),
        rule: get("rule"),
        outcome: get("outcome").unwrap_or_default(),
        remediation: get("remediation"),
        error: get("error"),
        event_time: get("eventTime").unwrap_or_default(),
        detected_at: get("detectedAt").unwrap_or_default(),
        remediated_at: get("remediatedAt"),
        worker: get("worker").unwrap_or_default(),
        source: get("source").unwrap_or_else(|| "stream".into()),
    }
}

impl IncidentTable {
    pub fn new(clients: Clients, table: impl Into<String>) -> IncidentTable {
        IncidentTable {
            clients,
            table: table.into(),
        }
    }

    /// Creates the table with its outbox index; on a table created before the index existed,
    /// adds the index (`UpdateTable`), so `init` brings an older table up to date.
    pub async fn create_if_missing(&self) -> Result<bool, AwsError> {
        let spec = TableSpec {
            name: &self.table,
            key: KEY,
            index: Some((OWED_INDEX, OWED)),
        };
        let db = &self.clients.dynamodb;
        if table::create_with_index_range(db, spec, Some(OWED_SINCE)).await? {
            return Ok(true);
        }
        let described = db
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb", "DescribeTable", e))?;
        let has_index = described.table().is_some_and(|t| {
            t.global_secondary_indexes()
                .iter()
                .any(|i| i.index_name() == Some(OWED_INDEX))
        });
        if !has_index {
            use aws_sdk_dynamodb::types::{
                AttributeDefinition, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate,
                KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
            };
            let attr = |n: &str| {
                AttributeDefinition::builder()
                    .attribute_name(n)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("complete")
            };
            let key = |n: &str, t: KeyType| {
                KeySchemaElement::builder()
                    .attribute_name(n)
                    .key_type(t)
                    .build()
                    .expect("complete")
            };
            let create = CreateGlobalSecondaryIndexAction::builder()
                .index_name(OWED_INDEX)
                .key_schema(key(OWED, KeyType::Hash))
                .key_schema(key(OWED_SINCE, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("complete");
            db.update_table()
                .table_name(&self.table)
                .attribute_definitions(attr(OWED))
                .attribute_definitions(attr(OWED_SINCE))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder().create(create).build(),
                )
                .send()
                .await
                .map_err(|e| from_sdk("dynamodb", "UpdateTable", e))?;
        }
        Ok(false)
    }

    /// Records that this incident's alert is owed (its publish failed, or was not tried while SNS
    /// is down), for the outbox to send: sets `alertOwed` unless the alert was already sent, so
    /// an owed mark never outlives `alertedAt` (which removes it in the same write). `release`:
    /// this attempt's claim token, released in the same write when it still holds it, so the
    /// outbox need not wait for the claim to go stale. Pass `None` when the message may be out
    /// (sent, then its mark failed): the claim then keeps a resend off until it goes stale. Ok
    /// also when the incident is already alerted or missing (nothing is owed).
    pub async fn owe_alert(
        &self,
        incident_id: &str,
        release: Option<&str>,
    ) -> Result<(), AwsError> {
        let req = || {
            self.clients
                .dynamodb
                .update_item()
                .table_name(&self.table)
                .key("incidentId", s(incident_id))
                .expression_attribute_values(":owed", s(OWED_VALUE))
        };
        if let Some(token) = release {
            let released = req()
                .update_expression(format!(
                    "SET {OWED} = :owed REMOVE alertClaim, alertClaimedAt"
                ))
                .condition_expression(
                    "attribute_exists(incidentId) AND attribute_not_exists(alertedAt) \
                     AND alertClaim = :tok",
                )
                .expression_attribute_values(":tok", s(token))
                .send()
                .await;
            match released {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = from_sdk("dynamodb", "UpdateItem", e);
                    if !e.is(Kind::ConditionFailed) {
                        return Err(e);
                    }
                }
            }
        }
        match req()
            .update_expression(format!("SET {OWED} = :owed"))
            .condition_expression(
                "attribute_exists(incidentId) AND attribute_not_exists(alertedAt)",
            )
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = from_sdk("dynamodb", "UpdateItem", e);
                if e.is(Kind::ConditionFailed) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The oldest owed alerts (by detection time), at most `limit`, from the sparse index
    /// (eventually consistent: an alert just sent may still be listed; its claim or a consistent
    /// read tells), and whether more are owed.
    pub async fn owed(&self, limit: i32) -> Result<(Vec<Incident>, bool), AwsError> {
        let r = self
            .clients
            .dynamodb
            .query()
            .table_name(&self.table)
            .index_name(OWED_INDEX)
            .key_condition_expression("#k = :owed")
            .expression_attribute_names("#k", OWED)
            .expression_attribute_values(":owed", s(OWED_VALUE))
            .scan_index_forward(true)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb", "Query", e))?;
        Ok((
            r.items().iter().map(from_item).collect(),
            r.last_evaluated_key().is_some(),
        ))
    }

    /// How many alerts are owed, counting at most `max_pages` pages of the index (1 MB each):
    /// `(count, complete)`.
    pub async fn count_owed(&self, max_pages: usize) -> Result<(u64, bool), AwsError> {
        let mut count = 0u64;
        let mut start = None;
        for _ in 0..max_pages.max(1) {
            let r = self
                .clients
                .dynamodb
                .query()
                .table_name(&self.table)
                .index_name(OWED_INDEX)
                .key_condition_expression("#k = :owed")
                .expression_attribute_names("#k", OWED)
                .expression_attribute_values(":owed", s(OWED_VALUE))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| from_sdk("dynamodb", "Query", e))?;
            count += r.count().max(0) as u64;
            match r.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok((count, true)),
            }
        }
        Ok((count, false))
    }

    /// The incident recorded under this id, read consistently; `None` when there is none.
    pub async fn get(&self, incident_id: &str) -> Result<Option<Incident>, AwsError> {
        let r = self.read(incident_id).await?;
        Ok(r.item().map(from_item))
    }

    /// One consistent read of the incident's row (both readers above share it).
    async fn read(
        &self,
        incident_id: &str,
    ) -> Result<aws_sdk_dynamodb::operation::get_item::GetItemOutput, AwsError> {
        self.clients
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("incidentId", s(incident_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb", "GetItem", e))
    }

    /// The outcome already recorded for this incident id, if any.
    pub async fn outcome_of(&self, incident_id: &str) -> Result<Option<(String, bool)>, AwsError> {
        let r = self.read(incident_id).await?;
        Ok(r.item().map(|item| {
            let outcome = item
                .get("outcome")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let alerted = item.get("alertedAt").is_some();
            (outcome, alerted)
        }))
    }

    /// Writes the incident's fields without touching its alert bookkeeping (`alertClaim`,
    /// `alertedAt`), which another attempt at the same incident may have written. A `pending`
    /// record never replaces a final outcome: an attempt that lost the race must not reopen it.
    pub async fn put(&self, incident: &Incident) -> Result<(), AwsError> {
        let mut req = self.fields_update(incident, Fields::All);
        if incident.outcome == PENDING {
            req = req
                .condition_expression(PENDING_MAY_WRITE)
                .expression_attribute_names("#o", "outcome")
                .expression_attribute_values(":pending", s(PENDING));
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = from_sdk("dynamodb", "UpdateItem", e);
                // Only the pending write is conditional: a final outcome is already there.
                if e.is(Kind::ConditionFailed) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// An UpdateItem that SETs every field of the incident (alert bookkeeping untouched).
    fn fields_update(
        &self,
        incident: &Incident,
        fields: Fields,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let (expr, names, values) = field_sets(incident, fields);
        self.clients
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("incidentId", s(&incident.incident_id))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .update_expression(expr)
    }

    /// `put` of a `pending` record for a group write (`transact`), with the same condition: a
    /// pending record never replaces a final outcome. In a group that condition failing cancels
    /// the whole group, which is then redone one write at a time (where `put` settles it).
    pub fn pending_write(&self, incident: &Incident) -> TransactWriteItem {
        debug_assert_eq!(incident.outcome, PENDING);
        let (expr, mut names, mut values) = field_sets(incident, Fields::All);
        names.insert("#o".into(), "outcome".into());
        values.insert(":pending".into(), s(PENDING));
        self.group_update(incident, expr, PENDING_MAY_WRITE, names, values)
    }

    /// A conditional update of `incident`'s item, as one write of a group.
    fn group_update(
        &self,
        incident: &Incident,
        expr: String,
        condition: &str,
        names: HashMap<String, String>,
        values: HashMap<String, AttributeValue>,
    ) -> TransactWriteItem {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .key("incidentId", s(&incident.incident_id))
                    .update_expression(expr)
                    .condition_expression(condition)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .expect("complete"),
            )
            .build()
    }

    /// Records a final outcome and takes the alert claim in the same write: one round trip where
    /// `put` then `claim_alert` took two. The write is conditional on the claim being free, as
    /// `claim_alert`'s is; when it is not (already alerted, or another attempt holds a fresh
    /// claim), the outcome is written alone and the claim asked for as before, so the answer is
    /// the one `claim_alert` would give. Not for pending records (they never claim).
    pub async fn put_final_and_claim_alert(
        &self,
        incident: &Incident,
        fields: Fields,
        token: &str,
        now_secs: u64,
        stale_secs: u64,
    ) -> Result<AlertClaim, AwsError> {
        debug_assert!(incident.outcome != PENDING);
        let req = self.fields_update(incident, fields);
        // The update expression SETs the fields; add the claim to it.
        let expr = req.get_update_expression().clone().unwrap_or_default();
        let req = req
            .update_expression(format!("{expr}, {CLAIM_SET}"))
            .condition_expression(CLAIM_FREE);
        if try_claim(req, token, now_secs, stale_secs).await? {
            return Ok(AlertClaim::Won);
        }
        self.put(incident).await?;
        self.claim_alert(&incident.incident_id, token, now_secs, stale_secs)
            .await
    }

    /// `put_final_and_claim_alert` for a group write (`transact`): the same fields, claim and
    /// condition. Applied, the claim is won; a group it cancels (the claim was not free) is redone
    /// one write at a time with `put_final_and_claim_alert`, which tells which answer it is.
    pub fn final_and_claim_write(
        &self,
        incident: &Incident,
        fields: Fields,
        token: &str,
        now_secs: u64,
        stale_secs: u64,
    ) -> TransactWriteItem {
        debug_assert!(incident.outcome != PENDING);
        let (expr, names, mut values) = field_sets(incident, fields);
        values.extend(claim_values(token, now_secs, stale_secs).map(|(k, v)| (k.to_owned(), v)));
        self.group_update(
            incident,
            format!("{expr}, {CLAIM_SET}"),
            CLAIM_FREE,
            names,
            values,
        )
    }

    /// Claims the right to publish this incident's alert, so that of two attempts (a worker
    /// whose lease moved mid-batch, and the lease's new owner) only one sends it. A claim is
    /// renewed before each publish attempt and expires after `stale_secs` unrenewed, so an
    /// attempt that died after claiming delays the alert but never loses it.
    pub async fn claim_alert(
        &self,
        incident_id: &str,
        token: &str,
        now_secs: u64,
        stale_secs: u64,
    ) -> Result<AlertClaim, AwsError> {
        let r = self
            .clients
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("incidentId", s(incident_id))
            .update_expression(format!("SET {CLAIM_SET}"))
            .condition_expression(format!("attribute_exists(incidentId) AND {CLAIM_FREE}"));
        if try_claim(r, token, now_secs, stale_secs).await? {
            return Ok(AlertClaim::Won);
        }
        match self.outcome_of(incident_id).await? {
            Some((_, true)) => Ok(AlertClaim::AlreadySent),
            _ => Ok(AlertClaim::InFlight),
        }
    }

    /// `mark_alerted` for a group write (`transact`): the same unconditional SET, so writing it
    /// twice (a group retried after a lost answer) changes nothing.
    pub fn mark_alerted_write(&self, incident_id: &str, at: &str) -> TransactWriteItem {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .key("incidentId", s(incident_id))
                    .update_expression(MARK)
                    .expression_attribute_values(":t", s(at))
                    .build()
                    .expect("complete"),
            )
            .build()
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.clients.dynamodb
    }

    /// Records that the alert was sent at `at`, and that it is no longer owed (one write).
    pub async fn mark_alerted(&self, incident_id: &str, at: &str) -> Result<(), AwsError> {
        self.clients
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("incidentId", s(incident_id))
            .update_expression(MARK)
            .expression_attribute_values(":t", s(at))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("dynamodb", "UpdateItem", e))
    }
}

/// The sparse index of owed alerts: only items carrying `alertOwed` are in it, so a table with
/// nothing owed costs one empty query to check.
pub const OWED_INDEX: &str = "alerts-owed";
/// Present (always `OWED_VALUE`) while an incident's alert is owed; the index's hash key.
pub const OWED: &str = "alertOwed";
/// The index's range key: the incident's detection time (RFC 3339, so it sorts), oldest first.
pub const OWED_SINCE: &str = "detectedAt";
const OWED_VALUE: &str = "owed";

/// The alert mark: sent at `:t`, no longer owed.
const MARK: &str = "SET alertedAt = :t REMOVE alertOwed";

/// The alert claim is free for `:tok`: nothing sent yet, and no claim, our own, or one left
/// unrenewed since `:stale`.
const CLAIM_FREE: &str = "attribute_not_exists(alertedAt) AND \
     (attribute_not_exists(alertClaim) OR alertClaim = :tok OR alertClaimedAt < :stale)";

/// Takes the alert claim for `:tok` at `:now` (the clauses of a SET).
const CLAIM_SET: &str = "alertClaim = :tok, alertClaimedAt = :now";

/// The values `CLAIM_FREE` and `CLAIM_SET` read.
fn claim_values(
    token: &str,
    now_secs: u64,
    stale_secs: u64,
) -> [(&'static str, AttributeValue); 3] {
    [
        (":tok", s(token)),
        (":now", AttributeValue::N(now_secs.to_string())),
        (
            ":stale",
            AttributeValue::N(now_secs.saturating_sub(stale_secs).to_string()),
        ),
    ]
}

/// Sends a claiming update (with `claim_values`): true when it took the claim, false when its
/// condition failed (the claim was not free).
async fn try_claim(
    req: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    token: &str,
    now_secs: u64,
    stale_secs: u64,
) -> Result<bool, AwsError> {
    match with_claim_values(req, token, now_secs, stale_secs)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = from_sdk("dynamodb", "UpdateItem", e);
            if e.is(Kind::ConditionFailed) {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// `req` with `claim_values`.
fn with_claim_values(
    req: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    token: &str,
    now_secs: u64,
    stale_secs: u64,
) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
    claim_values(token, now_secs, stale_secs)
        .into_iter()
        .fold(req, |r, (k, v)| r.expression_attribute_values(k, v))
}

/// A `pending` record may be written: nothing recorded yet, or only an earlier `pending`.
const PENDING_MAY_WRITE: &str = "attribute_not_exists(#o) OR #o = :pending";

/// Which of an incident's fields a write sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// Every field: the write may be the incident's first.
    All,
    /// Only what a final outcome adds to the `pending` record the same attempt wrote before its
    /// remediation (the rest is already there and unchanged): a smaller write.
    Outcome,
}

/// The fields `Fields::Outcome` writes.
const OUTCOME_FIELDS: [&str; 4] = ["outcome", "remediation", "remediatedAt", "error"];

/// The SET expression writing the incident's `fields` (never its id), with names and values.
fn field_sets(
    incident: &Incident,
    fields: Fields,
) -> (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
) {
    let mut item = to_item(incident);
    item.remove("incidentId");
    if fields == Fields::Outcome {
        item.retain(|k, _| OUTCOME_FIELDS.contains(&k.as_str()));
    }
    let mut sets = Vec::with_capacity(item.len());
    let mut names = HashMap::with_capacity(item.len() + 2);
    let mut values = HashMap::with_capacity(item.len() + 2);
    for (i, (k, v)) in item.into_iter().enumerate() {
        sets.push(format!("#f{i} = :f{i}"));
        names.insert(format!("#f{i}"), k);
        values.insert(format!(":f{i}"), v);
    }
    (format!("SET {}", sets.join(", ")), names, values)
}

/// The outcome recorded while an incident's remediation is under way.
pub const PENDING: &str = "pending";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertClaim {
    /// This attempt may publish.
    Won,
    /// The alert was already published and recorded.
    AlreadySent,
    /// Another attempt holds a live claim: it is publishing now.
    InFlight,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Incident {
        Incident {
            incident_id: "ev-1|b|k".into(),
            event_id: Some("ev-1".into()),
            event_name: "PutObjectAcl".into(),
            bucket: "b".into(),
            key: Some("k".into()),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            actor_arn: Some("arn:aws:iam::123456789012:user/a".into()),
            source_ip: Some("192.0.2.1".into()),
            reasons: vec!["acl: AllUsers READ".into(), "policy".into()],
            action: "remediate".into(),
            rule: Some("remediate".into()),
            outcome: "remediated".into(),
            remediation: Some("object_acl_private".into()),
            error: Some("none".into()),
            event_time: "2026-01-01T00:00:00Z".into(),
            detected_at: "2026-01-01T00:00:01.000Z".into(),
            remediated_at: Some("2026-01-01T00:00:02.000Z".into()),
            worker: "w:1".into(),
            source: "scan".into(),
        }
    }

    #[test]
    fn the_subject_names_the_bucket_and_its_account() {
        let i = full();
        assert_eq!(
            i.subject(),
            "bucketwarden: object in b (account 123456789012) became public (locked down)"
        );
        let long = Incident {
            bucket: "x".repeat(63),
            ..full()
        };
        let subject = long.subject();
        assert!(subject.len() <= 99, "{subject}");
        assert!(subject.ends_with("(account 123456789012) became public (locked down)"));
        assert!(
            subject.contains("in xxxxxxxxxx") && subject.contains("x..."),
            "{subject}"
        );
        // The outcome that matters most is never cut.
        let failed = Incident {
            bucket: "t123456-denied-12-denied".into(),
            outcome: "failed".into(),
            key: None,
            ..full()
        };
        assert_eq!(
            failed.subject(),
            "bucketwarden: bucket in t123456-denied... (account 123456789012) became public (REMEDIATION FAILED)"
        );
        assert!(failed
            .subject()
            .ends_with("became public (REMEDIATION FAILED)"));
        assert!(failed.subject().len() <= 99);
    }

    /// What a sequence of SET writes leaves in an item.
    fn apply(item: &mut HashMap<String, AttributeValue>, incident: &Incident, fields: Fields) {
        let (expr, names, values) = field_sets(incident, fields);
        for clause in expr.trim_start_matches("SET ").split(", ") {
            let (name, value) = clause.split_once(" = ").unwrap();
            item.insert(names[name].clone(), values[value].clone());
        }
    }

    #[test]
    fn an_outcome_write_over_the_pending_record_leaves_the_whole_final_incident() {
        let done = full();
        let pending = Incident {
            outcome: PENDING.into(),
            remediation: None,
            error: None,
            remediated_at: None,
            ..done.clone()
        };
        let (expr, _, _) = field_sets(&done, Fields::Outcome);
        assert_eq!(expr.matches(" = ").count(), OUTCOME_FIELDS.len());
        let mut item = HashMap::from([("incidentId".to_owned(), s(&done.incident_id))]);
        apply(&mut item, &pending, Fields::All);
        apply(&mut item, &done, Fields::Outcome);
        assert_eq!(from_item(&item), done);
        assert_eq!(item, to_item(&done));
    }

    #[test]
    fn an_item_reads_back_as_the_incident_written() {
        let i = full();
        assert_eq!(from_item(&to_item(&i)), i);
        let bare = Incident {
            event_id: None,
            key: None,
            actor_arn: None,
            source_ip: None,
            reasons: Vec::new(),
            remediation: None,
            error: None,
            remediated_at: None,
            ..full()
        };
        assert_eq!(from_item(&to_item(&bare)), bare);
    }

    #[test]
    fn an_item_without_a_source_was_written_by_the_stream() {
        let mut item = to_item(&full());
        item.remove("source");
        assert_eq!(from_item(&item).source, "stream");
        assert_eq!(from_item(&HashMap::new()).source, "stream");
    }
}
