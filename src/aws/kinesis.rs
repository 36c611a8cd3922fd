//! Reading one Kinesis shard: iterator from a checkpoint (`AFTER_SEQUENCE_NUMBER`), GetRecords
//! no faster than 5 calls per second, recovery from an expired iterator after the last delivered
//! record, detection of the shard's end, and listing the stream's shards. Owns no lease and no
//! decision.

use std::time::{Duration, SystemTime};

use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use aws_sdk_kinesis::Client;

use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::core::lease::Checkpoint;

/// Kinesis allows 5 GetRecords calls per second per shard.
pub const MIN_GET_RECORDS_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct KRecord {
    pub sequence_number: String,
    pub partition_key: String,
    /// The SDK's own buffer, moved: turning it into a `Vec` would copy every record once more.
    pub data: bytes::Bytes,
    pub arrival: Option<SystemTime>,
}

#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub records: Vec<KRecord>,
    pub millis_behind: Option<i64>,
    /// The shard is closed and fully read: checkpoint SHARD_END.
    pub shard_end: bool,
}

/// Compares two Kinesis sequence numbers (decimal strings of up to 128 bits).
pub fn seq_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// One shard as ListShards describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    /// The parent and the adjacent parent (a merge), when the shard came from a reshard.
    pub parents: Vec<String>,
    /// Set once the shard is closed.
    pub ending_sequence: Option<String>,
    pub starting_hash: Option<String>,
    pub ending_hash: Option<String>,
}

/// Creates the stream with `shards` shards unless it exists (`bucketwarden init`), then waits
/// (up to 20 s) for it to be ACTIVE so that workers started right after can list its shards.
/// True when this call created it.
pub async fn create_stream_if_missing(
    client: &Client,
    stream: &str,
    shards: i32,
) -> Result<bool, AwsError> {
    let created = match client
        .create_stream()
        .stream_name(stream)
        .shard_count(shards)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            let e = from_sdk("kinesis", "CreateStream", e);
            if e.code == "ResourceInUseException" {
                false
            } else {
                return Err(e);
            }
        }
    };
    for _ in 0..100 {
        let d = client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| from_sdk("kinesis", "DescribeStreamSummary", e))?;
        if d.stream_description_summary().map(|s| s.stream_status()) == Some(&StreamStatus::Active)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(created)
}

/// Every shard of the stream, open or closed, following ListShards' pages.
pub async fn list_shards(client: &Client, stream: &str) -> Result<Vec<ShardInfo>, AwsError> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = client.list_shards();
        // A paged call names the token alone: ListShards rejects it with a stream name.
        let req = match &token {
            Some(t) => req.next_token(t),
            None => req.stream_name(stream),
        };
        let r = req
            .send()
            .await
            .map_err(|e| from_sdk("kinesis", "ListShards", e))?;
        shards.extend(r.shards().iter().map(|sh| {
            ShardInfo {
                shard_id: sh.shard_id().to_owned(),
                parents: [sh.parent_shard_id(), sh.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect(),
                ending_sequence: sh
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .map(str::to_owned),
                starting_hash: sh
                    .hash_key_range()
                    .map(|h| h.starting_hash_key().to_owned()),
                ending_hash: sh.hash_key_range().map(|h| h.ending_hash_key().to_owned()),
            }
        }));
        match r.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    Ok(shards)
}

pub struct ShardReader {
    client: Client,
    stream: String,
    shard: String,
    start: Checkpoint,
    iterator: Option<String>,
    last_delivered: Option<String>,
    pub limit: i32,
}

impl ShardReader {
    pub fn new(client: Client, stream: &str, shard: &str, start: Checkpoint) -> ShardReader {
        ShardReader {
            client,
            stream: stream.to_owned(),
            shard: shard.to_owned(),
            start,
            iterator: None,
            last_delivered: None,
            limit: 10_000,
        }
    }

    async fn fresh_iterator(&self) -> Result<Option<String>, AwsError> {
        let req = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(&self.shard);
        // After an expired iterator, resume right after what was delivered, not from the checkpoint:
        // those records are already being handled.
        let position = match &self.last_delivered {
            Some(seq) => Checkpoint::Sequence(seq.clone()),
            None => self.start.clone(),
        };
        let req = match &position {
            Checkpoint::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Checkpoint::Latest => req.shard_iterator_type(ShardIteratorType::Latest),
            Checkpoint::Sequence(seq) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            Checkpoint::ShardEnd => return Ok(None),
        };
        let r = req
            .send()
            .await
            .map_err(|e| from_sdk("kinesis", "GetShardIterator", e))?;
        Ok(r.shard_iterator().map(str::to_owned))
    }

    /// One GetRecords call. `ending_sequence` is the shard's EndingSequenceNumber when discovery
    /// saw it closed (see `at_shard_end`).
    pub async fn next_batch(&mut self, ending_sequence: Option<&str>) -> Result<Batch, AwsError> {
        if self.iterator.is_none() {
            self.iterator = self.fresh_iterator().await?;
            if self.iterator.is_none() {
                return Ok(Batch {
                    shard_end: true,
                    ..Batch::default()
                });
            }
        }
        let it = self.iterator.clone().expect("set above");
        let r = match self
            .client
            .get_records()
            .shard_iterator(it)
            .limit(self.limit)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let e = from_sdk("kinesis", "GetRecords", e);
                if e.is(Kind::ExpiredIterator) {
                    self.iterator = None;
                }
                return Err(e);
            }
        };
        // Taken by value: the record bytes move out of the response instead of being copied.
        let millis_behind = r.millis_behind_latest;
        let records: Vec<KRecord> = r
            .records
            .into_iter()
            .map(|rec| KRecord {
                arrival: rec
                    .approximate_arrival_timestamp
                    .and_then(|t| SystemTime::try_from(t).ok()),
                sequence_number: rec.sequence_number,
                partition_key: rec.partition_key.unwrap_or_default(),
                data: rec.data.into_bytes(),
            })
            .collect();
        if let Some(last) = records.last() {
            self.last_delivered = Some(last.sequence_number.clone());
        }
        self.iterator = r.next_shard_iterator;
        let read_to = self.last_delivered.as_deref().or(match &self.start {
            Checkpoint::Sequence(s) => Some(s.as_str()),
            _ => None,
        });
        let shard_end = at_shard_end(
            self.iterator.is_none(),
            records.is_empty(),
            ending_sequence,
            read_to,
        );
        Ok(Batch {
            records,
            millis_behind,
            shard_end,
        })
    }
}

/// Whether one GetRecords answer ends a shard. The service says so with a null next iterator:
/// "If the shard has been closed, the shard iterator can't return more data and GetRecords returns
/// null in NextShardIterator" (Kinesis API reference, GetRecords). The same page continues: "You
/// can terminate the loop when the shard is closed, or when the shard iterator reaches the record
/// with the sequence number or other attribute that marks it as the last record to process" —
/// so a closed shard (`ending`: its EndingSequenceNumber from ListShards) is also ended by an
/// empty page once the reader is *known* to have read up to that number (`read_to`: the last
/// record delivered, else the checkpoint it started after). Emulators never return a null
/// iterator, so this second rule is how a closed shard ends there.
///
/// An empty page proves nothing by itself: "If there are no records available in the portion of
/// the shard that the iterator points to, GetRecords returns an empty list. It might take
/// multiple calls to get to a portion of the shard that contains records." A reader that started
/// at TRIM_HORIZON (or LATEST) and has delivered nothing does not know where it is, so it reads on
/// (issue #26: it used to conclude SHARD_END there and checkpoint a parent finished unread).
/// The one exception is an ending number of 0, which only an emulator gives a shard that never
/// held a record.
pub fn at_shard_end(
    no_next_iterator: bool,
    page_empty: bool,
    ending: Option<&str>,
    read_to: Option<&str>,
) -> bool {
    if no_next_iterator {
        return true;
    }
    let Some(end) = ending else {
        return false;
    };
    page_empty
        && (seq_cmp(end, "0") == std::cmp::Ordering::Equal
            || read_to.is_some_and(|pos| seq_cmp(pos, end) != std::cmp::Ordering::Less))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn the_service_ends_a_shard_with_a_null_iterator() {
        assert!(at_shard_end(true, true, None, None));
        assert!(at_shard_end(true, false, Some("90"), Some("10")));
    }

    #[test]
    fn an_empty_page_before_anything_was_read_is_not_the_end() {
        // A closed parent read from TRIM_HORIZON: empty pages may come before its data.
        assert!(!at_shard_end(false, true, Some("90"), None));
        // An open shard's empty page is never its end.
        assert!(!at_shard_end(false, true, None, Some("90")));
        assert!(!at_shard_end(false, true, None, None));
    }

    #[test]
    fn a_closed_shard_ends_once_read_up_to_its_ending_sequence_number() {
        assert!(!at_shard_end(false, true, Some("90"), Some("89")));
        assert!(at_shard_end(false, true, Some("90"), Some("90")));
        assert!(at_shard_end(false, true, Some("90"), Some("0091")));
        // A page with records is read first; the next (empty) page ends the shard.
        assert!(!at_shard_end(false, false, Some("90"), Some("90")));
        // An emulator's closed shard that never held a record.
        assert!(at_shard_end(false, true, Some("0"), None));
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(seq_cmp("9", "10"), Ordering::Less);
        assert_eq!(
            seq_cmp(
                "49590338271490256608559692538361571095921575989136588898",
                "49590338271490256608559692538361571095921575989136588898"
            ),
            Ordering::Equal
        );
        assert_eq!(
            seq_cmp(
                "49590338271490256608559692540925702759324208523137515618",
                "49590338271490256608559692538361571095921575989136588898"
            ),
            Ordering::Greater
        );
        assert_eq!(seq_cmp("007", "7"), Ordering::Equal);
    }
}
