//! Alerts over SNS: one JSON message per incident, with a human-readable subject on a standard
//! topic and a per-incident deduplication id on a FIFO one. Owns the topic and the publish call;
//! whether and when to alert is the caller's.

use crate::aws::error::{from_sdk, AwsError};
use crate::aws::incident::Incident;
use crate::aws::Clients;

/// A deduplication id (at most 128 characters) that is the same for every publish of an incident.
fn dedup_id(incident_id: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut a = std::hash::DefaultHasher::new();
    (0u8, incident_id).hash(&mut a);
    let mut b = std::hash::DefaultHasher::new();
    (1u8, incident_id).hash(&mut b);
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

/// SNS alerts: one JSON message per incident, with a human-readable subject.
#[derive(Clone, Debug)]
pub struct Alerter {
    clients: Clients,
    topic_arn: String,
}

impl Alerter {
    pub fn new(clients: Clients, topic_arn: impl Into<String>) -> Alerter {
        Alerter {
            clients,
            topic_arn: topic_arn.into(),
        }
    }

    /// Creates (or finds: CreateTopic is idempotent) the topic and returns its ARN. A name ending
    /// in `.fifo` makes a FIFO topic, whose deduplication turns at-least-once alerts into
    /// exactly-once ones.
    pub async fn ensure_topic(clients: &Clients, name: &str) -> Result<String, AwsError> {
        let mut req = clients.sns.create_topic().name(name);
        if name.ends_with(".fifo") {
            req = req.attributes("FifoTopic", "true");
        }
        let r = req
            .send()
            .await
            .map_err(|e| from_sdk("sns", "CreateTopic", e))?;
        r.topic_arn()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::other("sns", "CreateTopic", "no topic ARN returned"))
    }

    /// Whether SNS itself deduplicates this topic's messages by incident (a FIFO topic).
    pub fn deduplicates(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }

    pub async fn publish(&self, incident: &Incident) -> Result<(), AwsError> {
        let body = serde_json::to_string(incident)
            .map_err(|e| AwsError::other("sns", "Publish", e.to_string()))?;
        let mut req = self
            .clients
            .sns
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body);
        if self.topic_arn.ends_with(".fifo") {
            // A worker that dies between publishing and recording it publishes again after the
            // restart; the same deduplication id makes SNS deliver it once.
            req = req
                .message_group_id(&incident.bucket)
                .message_deduplication_id(dedup_id(&incident.incident_id));
        } else {
            // FIFO topics take no subject; standard ones show it in e-mail and chat.
            req = req.subject(incident.subject());
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("sns", "Publish", e))
    }
}
