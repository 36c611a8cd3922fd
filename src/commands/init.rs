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
    let created =
        kinesis::create_stream_if_missing(&clients.kinesis, &names.stream, shards).await?;
    let stream = format!("{} ({shards} shards requested)", names.stream);
    report.push(line(created, "stream", &stream));
    let created = LeaseTable::new(clients.dynamodb.clone(), &names.lease_table)
        .create_if_missing()
        .await?;
    report.push(line(created, "lease table", &names.lease_table));
    let created = DedupTable::new(clients.dynamodb.clone(), &names.dedup_table, dedup_ttl)
        .create_if_missing()
        .await?;
    let dedup = format!("{} (TTL on expiresAt)", names.dedup_table);
    report.push(line(created, "dedup table", &dedup));
    let created = StateStore::new(clients.dynamodb.clone(), &names.state_table)
        .create_if_missing()
        .await?;
    report.push(line(created, "state table", &names.state_table));
    let created = IncidentTable::new(clients.clone(), &names.incident_table)
        .create_if_missing()
        .await?;
    report.push(line(created, "incidents", &names.incident_table));
    let created = DeadLetters::new(clients.clone(), &names.dead_letter_table)
        .create_if_missing()
        .await?;
    report.push(line(created, "dead letters", &names.dead_letter_table));
    let arn = Alerter::ensure_topic(clients, &names.alert_topic).await?;
    report.push(format!("{:<7} {:<14}{arn}", "ready", "topic"));
    Ok(report)
}

/// One report line: "created" or "exists", the resource, its name, in aligned columns.
fn line(created: bool, what: &str, name: &str) -> String {
    let verb = if created { "created" } else { "exists" };
    format!("{verb:<7} {what:<14}{name}")
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn report_lines_keep_their_columns() {
        assert_eq!(line(true, "stream", "s"), "created stream        s");
        assert_eq!(line(false, "dead letters", "d"), "exists  dead letters  d");
    }
}
