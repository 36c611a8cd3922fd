//! Reading the fleet's own resources for `bucketwarden doctor`: the stream's status and
//! encryption, each table's keys, indexes, encryption and TTL, and the alert topic's encryption,
//! as plain facts. Read-only (never CreateTopic or CreateTable); whether they are what the fleet
//! needs is judged in `commands::doctor::resources`.

use crate::aws::error::{from_sdk, AwsError};

/// The stream (DescribeStreamSummary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFacts {
    pub arn: String,
    /// `CREATING`, `DELETING`, `ACTIVE` or `UPDATING`.
    pub status: String,
    /// `NONE` or `KMS`.
    pub encryption: String,
}

/// One table (DescribeTable, and DescribeTimeToLive when asked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableFacts {
    pub status: String,
    /// (attribute, key type `HASH`/`RANGE`, attribute type `S`/`N`/`B`).
    pub keys: Vec<(String, String, String)>,
    /// Global secondary indexes: (name, hash key attribute).
    pub indexes: Vec<(String, String)>,
    /// `SSEDescription.Status` (`ENABLED`, …); `None` when DynamoDB reports none, i.e. the table
    /// is encrypted with an AWS owned key (AWS: "DynamoDB encrypts all user data at rest").
    pub sse: Option<String>,
    /// `TimeToLiveStatus` and the attribute, when read.
    pub ttl: Option<(String, Option<String>)>,
}

/// The stream `name`; `Ok(None)` when it does not exist.
pub async fn stream(
    client: &aws_sdk_kinesis::Client,
    name: &str,
) -> Result<Option<StreamFacts>, AwsError> {
    match client
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
    {
        Ok(r) => Ok(r.stream_description_summary().map(|s| StreamFacts {
            arn: s.stream_arn().to_owned(),
            status: s.stream_status().as_str().to_owned(),
            encryption: s
                .encryption_type()
                .map_or("NONE".to_owned(), |e| e.as_str().to_owned()),
        })),
        Err(e) => {
            let e = from_sdk("kinesis", "DescribeStreamSummary", e);
            if e.code == "ResourceNotFoundException" {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// The table `name` (with its TTL when `with_ttl`); `Ok(None)` when it does not exist.
pub async fn table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    with_ttl: bool,
) -> Result<Option<TableFacts>, AwsError> {
    let r = match client.describe_table().table_name(name).send().await {
        Ok(r) => r,
        Err(e) => {
            let e = from_sdk("dynamodb", "DescribeTable", e);
            if e.code == "ResourceNotFoundException" {
                return Ok(None);
            }
            return Err(e);
        }
    };
    let Some(t) = r.table() else {
        return Ok(None);
    };
    let type_of = |attr: &str| {
        t.attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == attr)
            .map_or(String::new(), |d| d.attribute_type().as_str().to_owned())
    };
    let mut facts = TableFacts {
        status: t
            .table_status()
            .map_or(String::new(), |s| s.as_str().to_owned()),
        keys: t
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                    type_of(k.attribute_name()),
                )
            })
            .collect(),
        indexes: t
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let hash = g
                    .key_schema()
                    .iter()
                    .find(|k| k.key_type().as_str() == "HASH")
                    .map_or(String::new(), |k| k.attribute_name().to_owned());
                (g.index_name().unwrap_or_default().to_owned(), hash)
            })
            .collect(),
        sse: t
            .sse_description()
            .and_then(|s| s.status())
            .map(|s| s.as_str().to_owned()),
        ttl: None,
    };
    if with_ttl {
        let r = client
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .map_err(|e| from_sdk("dynamodb", "DescribeTimeToLive", e))?;
        facts.ttl = r.time_to_live_description().map(|d| {
            (
                d.time_to_live_status()
                    .map_or("DISABLED".to_owned(), |s| s.as_str().to_owned()),
                d.attribute_name().map(str::to_owned),
            )
        });
    }
    Ok(Some(facts))
}

/// The alert topic: its ARN and `KmsMasterKeyId` (empty when not encrypted); `Ok(None)` when no
/// topic of that name (or ARN) exists. Found with ListTopics, never CreateTopic.
pub async fn topic(
    client: &aws_sdk_sns::Client,
    name_or_arn: &str,
) -> Result<Option<(String, String)>, AwsError> {
    let arn = if name_or_arn.starts_with("arn:") {
        Some(name_or_arn.to_owned())
    } else {
        let mut found: Option<String>;
        let mut next: Option<String> = None;
        loop {
            let page = client
                .list_topics()
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| from_sdk("sns", "ListTopics", e))?;
            found = page
                .topics()
                .iter()
                .filter_map(|t| t.topic_arn())
                .find(|a| a.rsplit(':').next() == Some(name_or_arn))
                .map(str::to_owned);
            match page.next_token() {
                Some(t) if found.is_none() && !t.is_empty() => next = Some(t.to_owned()),
                _ => break,
            }
        }
        found
    };
    let Some(arn) = arn else { return Ok(None) };
    match client.get_topic_attributes().topic_arn(&arn).send().await {
        Ok(r) => {
            let kms = r
                .attributes()
                .and_then(|a| a.get("KmsMasterKeyId"))
                .cloned()
                .unwrap_or_default();
            Ok(Some((arn, kms)))
        }
        Err(e) => {
            let e = from_sdk("sns", "GetTopicAttributes", e);
            if e.code == "NotFound" {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}
