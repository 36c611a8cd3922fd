//! Alerts over SNS: one JSON message per incident, with a human-readable subject on a standard
//! topic and a per-incident deduplication id on a FIFO one. Owns the topic and the publish calls
//! (one incident, or several in `PublishBatch` requests); whether and when to alert, and what to
//! do with an entry a batch did not carry, are the caller's.

use crate::aws::error::{classify_code, from_sdk, AwsError, Kind};
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

    /// The message of an incident: its JSON, and on a standard topic its subject.
    fn message(&self, incident: &Incident, operation: &'static str) -> Result<Message, AwsError> {
        let body = serde_json::to_string(incident)
            .map_err(|e| AwsError::other("sns", operation, e.to_string()))?;
        Ok(if self.deduplicates() {
            // A worker that dies between publishing and recording it publishes again after the
            // restart; the same deduplication id makes SNS deliver it once.
            Message {
                body,
                subject: None,
                fifo: Some((incident.bucket.clone(), dedup_id(&incident.incident_id))),
            }
        } else {
            // FIFO topics take no subject; standard ones show it in e-mail and chat.
            Message {
                body,
                subject: Some(incident.subject()),
                fifo: None,
            }
        })
    }

    pub async fn publish(&self, incident: &Incident) -> Result<(), AwsError> {
        let m = self.message(incident, "Publish")?;
        let mut req = self
            .clients
            .sns
            .publish()
            .topic_arn(&self.topic_arn)
            .message(m.body);
        if let Some((group, dedup)) = m.fifo {
            req = req.message_group_id(group).message_deduplication_id(dedup);
        }
        if let Some(subject) = m.subject {
            req = req.subject(subject);
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("sns", "Publish", e))
    }

    /// Publishes each incident's alert, as `publish` would, in as few `PublishBatch` requests as
    /// SNS allows (`batch_parts`; a part of one goes as a plain `Publish`). Answers each incident,
    /// in order: an entry SNS reports in neither `Successful` nor `Failed`, or whose request
    /// failed as a whole, is an error for that entry.
    pub async fn publish_batch(&self, incidents: &[Incident]) -> Vec<Result<(), AwsError>> {
        let mut answers: Vec<Option<Result<(), AwsError>>> =
            (0..incidents.len()).map(|_| None).collect();
        let mut messages = Vec::with_capacity(incidents.len());
        for (i, incident) in incidents.iter().enumerate() {
            match self.message(incident, "PublishBatch") {
                Ok(m) => messages.push((i, m)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let sizes: Vec<usize> = messages.iter().map(|(_, m)| m.size()).collect();
        // The parts go side by side: they are independent requests, and a burst's alerts wait
        // for the slowest of them, not for their sum.
        let parts = batch_parts(&sizes);
        let sent = futures_util::future::join_all(parts.iter().map(|part| {
            let part: Vec<(&Incident, &Message)> = part
                .iter()
                .map(|&k| (&incidents[messages[k].0], &messages[k].1))
                .collect();
            self.send_part(part)
        }))
        .await;
        for (part, results) in parts.iter().zip(sent) {
            for (&k, r) in part.iter().zip(results) {
                answers[messages[k].0] = Some(r);
            }
        }
        answers
            .into_iter()
            .map(|a| a.expect("every incident answered"))
            .collect()
    }

    /// One part of `publish_batch`: a lone message as `Publish`, several as one `PublishBatch`
    /// (entry id = index in the part), answered in order.
    async fn send_part(&self, part: Vec<(&Incident, &Message)>) -> Vec<Result<(), AwsError>> {
        if let [(incident, _)] = part[..] {
            return vec![self.publish(incident).await];
        }
        let mut entries = Vec::with_capacity(part.len());
        for (id, (_, m)) in part.iter().enumerate() {
            let mut e = aws_sdk_sns::types::PublishBatchRequestEntry::builder()
                .id(id.to_string())
                .message(m.body.clone());
            if let Some((group, dedup)) = &m.fifo {
                e = e
                    .message_group_id(group.clone())
                    .message_deduplication_id(dedup.clone());
            }
            if let Some(subject) = &m.subject {
                e = e.subject(subject.clone());
            }
            entries.push(e.build().expect("id and message are set"));
        }
        let sent = self
            .clients
            .sns
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(out) => {
                let ok: Vec<&str> = out.successful().iter().filter_map(|e| e.id()).collect();
                let failed: Vec<EntryFailure<'_>> = out
                    .failed()
                    .iter()
                    .map(|f| EntryFailure {
                        id: f.id(),
                        code: f.code(),
                        message: f.message().unwrap_or_default(),
                        sender_fault: f.sender_fault(),
                    })
                    .collect();
                entry_results(part.len(), &ok, &failed)
            }
            Err(e) => {
                let e = from_sdk("sns", "PublishBatch", e);
                (0..part.len()).map(|_| Err(copy(&e))).collect()
            }
        }
    }
}

/// At most this many entries in one `PublishBatch` (AWS: "Publishes up to 10 messages to the
/// specified topic in a single batch").
pub const MAX_BATCH_ENTRIES: usize = 10;

/// At most this many bytes of messages in one `PublishBatch` (AWS: "The total aggregate size of
/// all messages that you send in a single PublishBatch API request can't exceed 262,144 bytes";
/// "The combined size of all messages in the batch, including each message's body and
/// attributes, must not exceed the topic's MaximumMessageSize", which is 262,144 by default).
pub const MAX_BATCH_BYTES: usize = 262_144;

/// One incident's message as SNS takes it.
struct Message {
    body: String,
    subject: Option<String>,
    /// A FIFO topic's message group and deduplication id.
    fifo: Option<(String, String)>,
}

impl Message {
    /// What the message counts towards a batch's aggregate size: its body, and (to stay on the
    /// safe side of what "size" includes) its subject.
    fn size(&self) -> usize {
        self.body.len() + self.subject.as_ref().map_or(0, String::len)
    }
}

/// Splits messages of `sizes` bytes, in order, into parts of at most [`MAX_BATCH_ENTRIES`]
/// whose sizes add up to at most [`MAX_BATCH_BYTES`]. The entries are spread evenly over the
/// fewest parts the entry limit allows (11 as 6 + 5, not 10 + 1: a part of one is a request
/// of its own all the same, and costs a `Publish`). A message too large for any batch is a
/// part of its own (sent alone, SNS answers for it as for any lone message).
pub fn batch_parts(sizes: &[usize]) -> Vec<Vec<usize>> {
    let per_part = match sizes.len() {
        0 => return Vec::new(),
        n => n.div_ceil(n.div_ceil(MAX_BATCH_ENTRIES)),
    };
    let mut parts: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0usize;
    for (i, &size) in sizes.iter().enumerate() {
        match parts.last_mut() {
            Some(p) if p.len() < per_part && bytes + size <= MAX_BATCH_BYTES => {
                p.push(i);
                bytes += size;
            }
            _ => {
                parts.push(vec![i]);
                bytes = size;
            }
        }
    }
    parts
}

/// One entry of a `PublishBatch` answer's `Failed` list.
pub struct EntryFailure<'a> {
    pub id: &'a str,
    pub code: &'a str,
    pub message: &'a str,
    pub sender_fault: bool,
}

/// Each of `n` entries (ids `0..n`) answered from a `PublishBatch` answer: sent when its id is
/// in `successful`, the entry's own error when it is in `failed` (retryable unless SNS says the
/// sender is at fault, throttling aside), and an error when SNS named it in neither list.
pub fn entry_results(
    n: usize,
    successful: &[&str],
    failed: &[EntryFailure<'_>],
) -> Vec<Result<(), AwsError>> {
    (0..n)
        .map(|i| {
            let id = i.to_string();
            if let Some(f) = failed.iter().find(|f| f.id == id) {
                let kind = match classify_code(f.code, None) {
                    _ if f.code.starts_with("Throttl") => Kind::Throttled,
                    Kind::Throttled => Kind::Throttled,
                    _ if f.sender_fault => Kind::Other,
                    Kind::Other => Kind::Transient,
                    k => k,
                };
                return Err(AwsError {
                    service: "sns",
                    operation: "PublishBatch",
                    kind,
                    code: f.code.to_owned(),
                    message: f.message.to_owned(),
                });
            }
            if successful.contains(&id.as_str()) {
                return Ok(());
            }
            Err(AwsError {
                service: "sns",
                operation: "PublishBatch",
                kind: Kind::Transient,
                code: "EntryNotAnswered".into(),
                message: format!("entry {id} is in neither Successful nor Failed"),
            })
        })
        .collect()
}

fn copy(e: &AwsError) -> AwsError {
    AwsError {
        service: e.service,
        operation: e.operation,
        kind: e.kind,
        code: e.code.clone(),
        message: e.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hold_at_most_ten_entries_in_order() {
        let got = batch_parts(&[100; 23]);
        assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), vec![8, 8, 7]);
        assert_eq!(
            got.concat(),
            (0..23).collect::<Vec<_>>(),
            "in order, each once"
        );
        let lens = |n: usize| {
            batch_parts(&vec![100; n])
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(lens(10), vec![10]);
        assert_eq!(lens(11), vec![6, 5], "no part of one behind a full one");
        assert_eq!(lens(31), vec![8, 8, 8, 7]);
        assert_eq!(lens(1), vec![1]);
        for n in 1..=45 {
            let l = lens(n);
            assert_eq!(l.len(), n.div_ceil(MAX_BATCH_ENTRIES), "{n}: fewest parts");
            assert!(l.iter().all(|&k| k <= MAX_BATCH_ENTRIES), "{n}: {l:?}");
            assert_eq!(l.iter().sum::<usize>(), n);
        }
        assert!(batch_parts(&[]).is_empty());
    }

    #[test]
    fn parts_never_exceed_the_aggregate_size() {
        // 100,000 + 100,000 fit (200,000); a third would make 300,000 > 262,144. Then
        // 100,000 + 162,144 is exactly 262,144, and one byte more starts a new part.
        let got = batch_parts(&[100_000, 100_000, 100_000, 162_144, 1]);
        assert_eq!(got, vec![vec![0, 1], vec![2, 3], vec![4]]);
        // Exactly the limit fits: 262,144 = 131,072 × 2.
        assert_eq!(batch_parts(&[131_072, 131_072]), vec![vec![0, 1]]);
        // A message larger than any batch goes alone, and does not take others with it.
        let got = batch_parts(&[10, 300_000, 10, 10]);
        assert_eq!(got, vec![vec![0], vec![1], vec![2, 3]]);
        for p in batch_parts(&[50_000; 17]) {
            assert!(p.len() * 50_000 <= MAX_BATCH_BYTES, "{p:?}");
        }
    }

    #[test]
    fn entries_are_answered_by_id_from_either_list_and_missing_ones_are_errors() {
        let failed = [
            EntryFailure {
                id: "2",
                code: "InvalidParameter",
                message: "bad",
                sender_fault: true,
            },
            EntryFailure {
                id: "0",
                code: "InternalError",
                message: "try again",
                sender_fault: false,
            },
            EntryFailure {
                id: "4",
                code: "Throttled",
                message: "slow down",
                sender_fault: true,
            },
        ];
        // Out of order, as SNS may list them; entry 3 is in neither list.
        let got = entry_results(6, &["5", "1"], &failed);
        assert_eq!(got.len(), 6);
        let e0 = got[0].as_ref().unwrap_err();
        assert_eq!((e0.code.as_str(), e0.retryable()), ("InternalError", true));
        assert!(got[1].is_ok());
        let e2 = got[2].as_ref().unwrap_err();
        assert_eq!(
            (e2.code.as_str(), e2.retryable(), e2.operation),
            ("InvalidParameter", false, "PublishBatch"),
            "SenderFault=true is not transient"
        );
        assert_eq!(got[3].as_ref().unwrap_err().code, "EntryNotAnswered");
        assert!(
            got[4].as_ref().unwrap_err().retryable(),
            "throttling is retried"
        );
        assert!(got[5].is_ok());
        // A Failed entry is an error even if it were also listed as Successful.
        assert!(entry_results(3, &["0", "2", "4"], &failed)[2].is_err());
    }
}
