//! The fleet's own resources, pure: given the stream, tables and topic as `aws::fleet_read` read
//! them, do they exist with the keys the code reads and writes (the specs of `aws::*_table`),
//! TTL on the dedup table, and encryption as the deploy template sets it. Makes no call.

use crate::aws::error::AwsError;
use crate::aws::fleet_read::{StreamFacts, TableFacts};
use crate::aws::{dedup_table, lease_table, state_store};
use crate::config::Names;

use super::check::{unreadable, Item, Status};

/// One table the fleet needs: its role, name, hash key and optional index (name, hash key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNeed {
    /// `lease`, `dedup`, `state`, `incidents`, `dead-letters`.
    pub role: &'static str,
    pub name: String,
    pub key: &'static str,
    pub index: Option<(&'static str, &'static str)>,
    pub ttl: Option<&'static str>,
}

/// The tables of `names` with the keys the code uses (the same specs `bucketwarden init` creates
/// them from).
pub fn tables(names: &Names) -> Vec<TableNeed> {
    vec![
        TableNeed {
            role: "lease",
            name: names.lease_table.clone(),
            key: lease_table::KEY,
            index: None,
            ttl: None,
        },
        TableNeed {
            role: "dedup",
            name: names.dedup_table.clone(),
            key: dedup_table::KEY,
            index: None,
            ttl: Some(dedup_table::TTL_ATTRIBUTE),
        },
        TableNeed {
            role: "state",
            name: names.state_table.clone(),
            key: state_store::KEY,
            index: Some((state_store::ACCOUNT_INDEX, state_store::ACCOUNT_ATTRIBUTE)),
            ttl: None,
        },
        TableNeed {
            role: "incidents",
            name: names.incident_table.clone(),
            key: crate::aws::incident::KEY,
            index: None,
            ttl: None,
        },
        TableNeed {
            role: "dead-letters",
            name: names.dead_letter_table.clone(),
            key: crate::aws::dead_letters::KEY,
            index: None,
            ttl: None,
        },
    ]
}

/// The stream's items: exists and usable, encrypted.
pub fn judge_stream(
    account: &str,
    name: &str,
    read: &Result<Option<StreamFacts>, AwsError>,
) -> Vec<Item> {
    match read {
        Err(e) => vec![unreadable(account, "stream", e, "kinesis:DescribeStreamSummary")],
        Ok(None) => vec![Item::new(account, "stream", Status::Fail, format!("no stream {name}"))
            .fix("deploy deploy/bucketwarden.yaml, or for development `bucketwarden init`; check [names] stream")],
        Ok(Some(s)) => {
            let mut items = Vec::new();
            items.push(match s.status.as_str() {
                "ACTIVE" | "UPDATING" => Item::ok(account, "stream", format!("{name} is {}", s.status)),
                "CREATING" => Item::new(account, "stream", Status::Warn, format!("{name} is still CREATING"))
                    .fix("wait for it to become ACTIVE"),
                other => Item::new(account, "stream", Status::Fail, format!("{name} is {other}"))
                    .fix("redeploy the stack (the stream is being deleted)"),
            });
            items.push(if s.encryption == "KMS" {
                Item::ok(account, "stream.encryption", "KMS")
            } else {
                Item::new(
                    account,
                    "stream.encryption",
                    Status::Warn,
                    format!("{name} is not encrypted at rest (EncryptionType {}); the template uses KMS (alias/aws/kinesis)", s.encryption),
                )
                .fix(format!("aws kinesis start-stream-encryption --stream-name {name} --encryption-type KMS --key-id alias/aws/kinesis"))
            });
            items
        }
    }
}

/// One table's items: exists with the expected keys (and index), encryption, and TTL.
pub fn judge_table(
    account: &str,
    need: &TableNeed,
    read: &Result<Option<TableFacts>, AwsError>,
) -> Vec<Item> {
    let check = format!("table.{}", need.role);
    let name = &need.name;
    let t = match read {
        Err(e) => return vec![unreadable(account, &check, e, "dynamodb:DescribeTable and dynamodb:DescribeTimeToLive")],
        Ok(None) => {
            return vec![Item::new(account, &check, Status::Fail, format!("no table {name}"))
                .fix("deploy deploy/bucketwarden.yaml, or for development `bucketwarden init`; check the table's name under [names]")]
        }
        Ok(Some(t)) => t,
    };
    let mut items = Vec::new();
    let want = (need.key.to_owned(), "HASH".to_owned(), "S".to_owned());
    let mut problems = Vec::new();
    if t.keys != [want] {
        let got: Vec<String> = t
            .keys
            .iter()
            .map(|(a, k, ty)| format!("{a} {k} {ty}"))
            .collect();
        problems.push(format!(
            "key is [{}], the code uses {} HASH S",
            got.join(", "),
            need.key
        ));
    }
    if let Some((index, key)) = need.index {
        match t.indexes.iter().find(|(n, _)| n == index) {
            None => problems.push(format!("no index {index}")),
            Some((_, k)) if k != key => {
                problems.push(format!("index {index} is keyed on {k}, not {key}"))
            }
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        items.push(
            Item::new(account, &check, Status::Fail, format!("{name}: {}", problems.join("; ")))
                .fix("a table's keys cannot be changed: recreate it as deploy/bucketwarden.yaml defines it"),
        );
    } else if t.status == "ACTIVE" || t.status == "UPDATING" {
        items.push(Item::ok(
            account,
            &check,
            format!("{name}: key {} {}", need.key, t.status),
        ));
    } else {
        items.push(
            Item::new(
                account,
                &check,
                Status::Fail,
                format!("{name} is {}", t.status),
            )
            .fix("wait for it to become ACTIVE, or recreate it"),
        );
    }
    let enc = format!("{check}.encryption");
    items.push(match t.sse.as_deref() {
        Some("ENABLED") | Some("UPDATING") | Some("ENABLING") => Item::ok(account, &enc, "KMS (SSEEnabled)"),
        other => Item::new(
            account,
            &enc,
            Status::Warn,
            format!(
                "{name}: {}; the template sets SSEEnabled (an AWS managed KMS key)",
                other.map_or("encrypted with an AWS owned key".to_owned(), |s| format!("SSE {s}"))
            ),
        )
        .fix(format!("aws dynamodb update-table --table-name {name} --sse-specification Enabled=true,SSEType=KMS")),
    });
    if let Some(attr) = need.ttl {
        let ttl_check = format!("{check}.ttl");
        let fix = format!(
            "aws dynamodb update-time-to-live --table-name {name} --time-to-live-specification Enabled=true,AttributeName={attr}"
        );
        items.push(match &t.ttl {
            Some((status, Some(a))) if (status == "ENABLED" || status == "ENABLING") && a == attr => {
                Item::ok(account, &ttl_check, format!("TTL {status} on {attr}"))
            }
            Some((status, Some(a))) if status == "ENABLED" || status == "ENABLING" => Item::new(
                account,
                &ttl_check,
                Status::Fail,
                format!("TTL is on {a}, not {attr}: claims never expire and the table grows without bound"),
            )
            .fix(fix),
            other => Item::new(
                account,
                &ttl_check,
                Status::Fail,
                format!(
                    "TTL is {}: dedup claims never expire and the table grows without bound",
                    other.as_ref().map_or("not set", |(s, _)| s.as_str())
                ),
            )
            .fix(fix),
        });
    }
    items
}

/// The topic's items: exists, encrypted.
pub fn judge_topic(
    account: &str,
    name: &str,
    read: &Result<Option<(String, String)>, AwsError>,
) -> Vec<Item> {
    match read {
        Err(e) => vec![unreadable(account, "topic", e, "sns:ListTopics and sns:GetTopicAttributes")],
        Ok(None) => vec![Item::new(account, "topic", Status::Fail, format!("no topic {name}: alerts cannot be sent"))
            .fix("deploy deploy/bucketwarden.yaml, or for development `bucketwarden init`; check [names] alert_topic")],
        Ok(Some((arn, kms))) => vec![
            Item::ok(account, "topic", arn.clone()),
            if kms.is_empty() {
                Item::new(account, "topic.encryption", Status::Warn, "no KmsMasterKeyId; the template uses alias/aws/sns")
                    .fix(format!("aws sns set-topic-attributes --topic-arn {arn} --attribute-name KmsMasterKeyId --attribute-value alias/aws/sns"))
            } else {
                Item::ok(account, "topic.encryption", kms.clone())
            },
        ],
    }
}
