//! `bucketwarden init`: creates the stream, tables (with TTL) and topic a fleet needs, idempotently,
//! for local development and tests (real accounts use the deploy template). Owns creation only.

use std::time::Duration;

use crate::aws::alerter::Alerter;
use crate::aws::dead_letters::DeadLetters;
use crate::aws::dedup_table::DedupTable;
use crate::aws::error::AwsError;
use crate::aws::incident::IncidentTable;
use crate::aws::kinesis;
use crate::aws::lease_table::LeaseTable;
use crate::aws::state_store::StateStore;
use crate::aws::Clients;
use crate::config::Names;

/// One line per resource: what it is and whether it was created or already there.
pub async fn init(
    clients: &Clients,
    names: &Names,
    shards: i32,
    dedup_ttl: Duration,
) -> Result<Vec<String>, AwsError> {
    let mut report = Vec::new();
    let verb = |created: bool| if created { "created" } else { "exists " };
    let created =
        kinesis::create_stream_if_missing(&clients.kinesis, &names.stream, shards).await?;
    report.push(format!(
        "{} stream        {} ({} shards requested)",
        verb(created),
        names.stream,
        shards
    ));
    let created = LeaseTable::new(clients.dynamodb.clone(), &names.lease_table)
        .create_if_missing()
        .await?;
    report.push(format!(
        "{} lease table   {}",
        verb(created),
        names.lease_table
    ));
    let created = DedupTable::new(clients.dynamodb.clone(), &names.dedup_table, dedup_ttl)
        .create_if_missing()
        .await?;
    report.push(format!(
        "{} dedup table   {} (TTL on expiresAt)",
        verb(created),
        names.dedup_table
    ));
    let created = StateStore::new(clients.dynamodb.clone(), &names.state_table)
        .create_if_missing()
        .await?;
    report.push(format!(
        "{} state table   {}",
        verb(created),
        names.state_table
    ));
    let created = IncidentTable::new(clients.clone(), &names.incident_table)
        .create_if_missing()
        .await?;
    report.push(format!(
        "{} incidents     {}",
        verb(created),
        names.incident_table
    ));
    let created = DeadLetters::new(clients.clone(), &names.dead_letter_table)
        .create_if_missing()
        .await?;
    report.push(format!(
        "{} dead letters  {}",
        verb(created),
        names.dead_letter_table
    ));
    let arn = Alerter::ensure_topic(clients, &names.alert_topic).await?;
    report.push(format!("ready   topic         {arn}"));
    Ok(report)
}
