//! The GetRecords reader against the SDK's own: for every body, both give the same output or
//! both fail.

use std::sync::Arc;

use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
use aws_smithy_json::codec::JsonCodec;
use aws_smithy_schema::codec::Codec;
use proptest::prelude::*;

use super::{KinesisProtocol, RecordsReader};

fn codec() -> Arc<JsonCodec> {
    KinesisProtocol::new().codec
}

fn sdk(body: &[u8]) -> Result<GetRecordsOutput, String> {
    let codec = codec();
    let mut d = Codec::create_deserializer(&*codec, body);
    GetRecordsOutput::deserialize(&mut d).map_err(|e| e.to_string())
}

fn ours(body: &[u8]) -> Result<GetRecordsOutput, String> {
    let mut d = RecordsReader::new(body, codec());
    GetRecordsOutput::deserialize(&mut d).map_err(|e| e.to_string())
}

/// Same output, or both an error (the messages may differ).
fn same(body: &[u8]) {
    match (sdk(body), ours(body)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "body {:?}", String::from_utf8_lossy(body)),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "body {:?}: SDK {a:?}, ours {b:?}",
            String::from_utf8_lossy(body)
        ),
    }
}

/// What moto and Kinesis send, with every shape the output has, plus what a reader must step
/// over: unknown members of every kind, `__type`, nulls, escapes, odd whitespace.
const FULL: &str = r#" {"Records": [
  {"SequenceNumber": "49590338271490256608559692538361571095921575989136588898",
   "ApproximateArrivalTimestamp": 1764483025.123, "Data": "eyJhIjogMX0=",
   "PartitionKey": "pk-1", "EncryptionType": "NONE"},
  {"SequenceNumber":"2","ApproximateArrivalTimestamp":1764483026,"Data":"","PartitionKey":"p\u00e9\"k",
   "Unknown": {"x": [1, {"y": "z\\"}], "n": null}, "__type": "x#Y", "Other": [true, false, -1.5e3]},
  {"SequenceNumber": "3", "Data": "YWJj\/ZA=", "PartitionKey": null, "EncryptionType": "KMS"}
 ],
 "NextShardIterator": "AAAA\/iter+==", "MillisBehindLatest": 42,
 "ChildShards": [{"ShardId": "shardId-000000000002", "ParentShards": ["shardId-000000000000", "shardId-000000000001"],
   "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "340282366920938463463374607431768211455"}}]
} "#;

#[test]
fn a_full_body_reads_as_the_sdk_reads_it() {
    let out = ours(FULL.as_bytes()).expect("reads");
    assert_eq!(out, sdk(FULL.as_bytes()).expect("the SDK reads it too"));
    // And it is read, not just equally empty.
    assert_eq!(out.records().len(), 3);
    assert_eq!(out.records()[0].data().as_ref(), br#"{"a": 1}"#);
    assert_eq!(out.records()[1].partition_key(), Some("pé\"k"));
    assert_eq!(out.records()[2].data().as_ref(), b"abc\xfd\x90");
    assert_eq!(out.next_shard_iterator(), Some("AAAA/iter+=="));
    assert_eq!(out.millis_behind_latest(), Some(42));
    assert_eq!(out.child_shards().len(), 1);
}

#[test]
fn every_prefix_of_a_body_reads_or_fails_as_the_sdk_has_it() {
    for end in 0..=FULL.len() {
        same(&FULL.as_bytes()[..end]);
    }
}

#[test]
fn every_single_byte_change_reads_or_fails_as_the_sdk_has_it() {
    let body = FULL.as_bytes();
    for i in 0..body.len() {
        for b in [
            b'"', b'\\', b',', b'}', b']', b'{', b'[', b' ', b'x', b'0', b'=', 0x80, 0x01,
        ] {
            let mut changed = body.to_vec();
            changed[i] = b;
            same(&changed);
        }
    }
}

#[test]
fn small_bodies_read_as_the_sdk_reads_them() {
    for body in [
        "",
        " ",
        "{}",
        "[]",
        "null",
        r#"{"Records":[]}"#,
        r#"{"Records":null,"NextShardIterator":null,"MillisBehindLatest":null}"#,
        r#"{"Records":[{}]}"#,
        r#"{"Records":[{"SequenceNumber":"1","Data":"not base64!"}]}"#,
        r#"{"Records":[{"SequenceNumber":"1","Data":"YQ"}]}"#,
        r#"{"Records":[{"SequenceNumber":1,"Data":"YQ=="}]}"#,
        r#"{"Records":[{"SequenceNumber":"1","Data":null}]}"#,
        r#"{"Records":{}}"#,
        r#"{"Records":[]} x"#,
        r#"{"Records":[],}"#,
        r#"{"Records":[,]}"#,
        r#"{"Records":[] "MillisBehindLatest":1}"#,
        r#"{"MillisBehindLatest":"1"}"#,
        r#"{"MillisBehindLatest":1.5}"#,
        r#"{"Rec\u006frds":[{"SequenceNumber":"1","Data":"YQ=="}]}"#,
        r#"{"Records":[{"SequenceNumber":"1","Data":"Y\u0051=="}]}"#,
        r#"{"Records":[{"SequenceNumber":"\ud83d\ude00","Data":"YQ=="}]}"#,
        r#"{"Records":[{"SequenceNumber":"\q","Data":"YQ=="}]}"#,
    ] {
        same(body.as_bytes());
    }
}

fn body_of(records: &[(String, Vec<u8>, String, f64)], slash_escaped: bool) -> String {
    let recs: Vec<serde_json::Value> = records
        .iter()
        .map(|(seq, data, pk, t)| {
            serde_json::json!({
                "SequenceNumber": seq,
                "ApproximateArrivalTimestamp": t,
                "Data": aws_smithy_types::base64::encode(data),
                "PartitionKey": pk,
            })
        })
        .collect();
    let text =
        serde_json::json!({"Records": recs, "NextShardIterator": "it", "MillisBehindLatest": 0})
            .to_string();
    // Some JSON writers escape `/`, which base64 is full of.
    if slash_escaped {
        text.replace('/', "\\/")
    } else {
        text
    }
}

proptest! {
    #[test]
    fn random_records_read_as_the_sdk_reads_them(
        records in proptest::collection::vec(
            ("[0-9]{1,56}", proptest::collection::vec(any::<u8>(), 0..300), "\\PC{0,20}", 0.0f64..2e9),
            0..8,
        ),
        slash_escaped in any::<bool>(),
    ) {
        let body = body_of(&records, slash_escaped);
        let out = ours(body.as_bytes()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&out, &sdk(body.as_bytes()).map_err(TestCaseError::fail)?);
        prop_assert_eq!(out.records().len(), records.len());
        for (r, (_, data, _, _)) in out.records().iter().zip(&records) {
            prop_assert_eq!(r.data().as_ref(), &data[..]);
        }
    }
}
