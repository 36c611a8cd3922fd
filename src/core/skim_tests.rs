//! The quick skip against the full parse on generated records: every answer it gives must be
//! the full parse's, and it must answer for most plain records (else it saves nothing).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use crate::fuzz_entry::check_quick_skip;

/// JSON-ish text: mostly valid, with every token the quick skip must refuse somewhere in it.
fn value(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        4 => prop::sample::select(vec![
            r#""s3.amazonaws.com""#, r#""ec2.amazonaws.com""#, r#""s3-control.amazonaws.com""#,
            r#""GetObject""#, r#""PutBucketAcl""#, r#""PutObject""#, r#""ListBuckets""#,
            r#""AWS API Call via CloudTrail""#, r#""AWS Service Event via CloudTrail""#,
            r#""""#, r#""x""#, r#""2026-11-30T08:00:00Z""#,
        ]).prop_map(str::to_owned),
        1 => prop::sample::select(vec![
            r#""s3.amazonaws.com ""#, r#""S3.amazonaws.com""#, r#""s3.amazonaws.co\u006d""#,
            r#""a\"b""#, "\"caf\u{e9}\"", "\"tab\there\"", r#""\ud800""#, r#""\x""#, "\"open",
        ]).prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "0", "-1", "1.5", "-0.25", "123456789012345", "1e5", "1E-2", "1e999", "01", "-", "1.",
            ".5", "1234567890123456789012", "true", "false", "null", "nul", "tru", "NaN",
        ]).prop_map(str::to_owned),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        6 => leaf,
        1 => prop::collection::vec((sep(), value(depth - 1)), 0..4).prop_map(|items| {
            let mut s = String::from("[");
            for (i, (sep, v)) in items.iter().enumerate() {
                if i > 0 { s.push_str(sep); }
                s.push_str(v);
            }
            s.push(']');
            s
        }),
        2 => object(depth - 1),
    ]
    .boxed()
}

fn sep() -> impl Strategy<Value = &'static str> {
    prop_oneof![12 => Just(","), 2 => Just(" ,\n "), 1 => Just(""), 1 => Just(",,")]
}

fn key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "eventSource",
        "eventName",
        "detail-type",
        "detail",
        "Records",
        "eventTime",
        "eventID",
        "userIdentity",
        "requestParameters",
        "account",
        "x",
        "event\\u0053ource",
        "eventName ",
    ])
}

fn object(depth: u32) -> BoxedStrategy<String> {
    prop::collection::vec((sep(), key(), value(depth)), 0..7)
        .prop_map(|members| {
            let mut s = String::from("{");
            for (i, (sep, k, v)) in members.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                s.push_str(&format!("\"{k}\":{v}"));
            }
            s.push('}');
            s
        })
        .boxed()
}

/// A record: an EventBridge event around a detail, or a bare one; framed by whitespace (JSON's
/// or not), maybe followed by more; maybe with one byte changed.
fn record() -> impl Strategy<Value = Vec<u8>> {
    let detail = object(2);
    let event = (
        prop::sample::select(vec![
            r#""AWS API Call via CloudTrail""#,
            r#""AWS Service Event via CloudTrail""#,
            "7",
        ]),
        detail.clone(),
        object(1),
    )
        .prop_map(|(dt, d, rest)| {
            let rest = rest
                .trim_start_matches('{')
                .trim_end_matches('}')
                .to_owned();
            let comma = if rest.is_empty() { "" } else { "," };
            format!(r#"{{"version":"0","detail-type":{dt},"detail":{d}{comma}{rest}}}"#)
        });
    let framed = (
        prop::sample::select(vec!["", " ", "\n", "\u{c}"]),
        prop_oneof![event, detail],
        prop::sample::select(vec!["", "\r\n", " x", "{}", "\u{c}"]),
    )
        .prop_map(|(a, r, b)| format!("{a}{r}{b}").into_bytes());
    (
        framed,
        prop::option::weighted(0.3, (any::<prop::sample::Index>(), any::<u8>())),
    )
        .prop_map(|(mut bytes, change)| {
            if let Some((at, b)) = change {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = b;
                }
            }
            bytes
        })
}

/// A plain record in what the quick skip reads (ASCII, no escapes, short numbers, each deciding
/// key once), built to vary what the full parse reads.
fn plain_skipped() -> impl Strategy<Value = String> {
    let member = prop::sample::select(vec![
        r#""eventTime":"2026-11-30T08:00:00Z""#,
        r#""requestParameters":{"bucketName":"b","key":"k/1.parquet","n":[0,-7,3.25,true,false,null,{}]}"#,
        r#""additionalEventData":{"bytesTransferredIn":0.0,"x-amz-id-2":"abc/def="}"#,
        r#""resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}]"#,
        r#""readOnly":true"#,
        r#""errorCode":null"#,
        r#""userIdentity":"weird""#,
        r#""eventVersion":1.09"#,
    ]);
    (
        prop::sample::select(vec!["ec2.amazonaws.com", "iam.amazonaws.com", "s3.amazonaws.com"]),
        prop::sample::select(vec!["GetObject", "DescribeInstances", "HeadBucket"]),
        prop::collection::vec(member, 0..5),
        prop::sample::select(vec![",", " , ", ",\n  "]),
        any::<bool>(),
    )
        .prop_map(|(source, name, extra, sep, wrapped)| {
            let mut detail = format!(r#"{{"eventSource":"{source}"{sep}"eventName":"{name}""#);
            for m in extra {
                detail.push_str(sep);
                detail.push_str(m);
            }
            detail.push('}');
            if wrapped {
                format!(r#"{{"version":"0","id":"1","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","account":"111122223333","resources":[],"detail":{detail}}}"#)
            } else {
                detail
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn every_quick_skip_is_the_full_parses_skip(bytes in record()) {
        check_quick_skip(&bytes);
    }
}

#[test]
fn plain_records_are_skipped_quickly_and_rightly() {
    let mut runner = TestRunner::deterministic();
    for _ in 0..500 {
        let text = plain_skipped().new_tree(&mut runner).unwrap().current();
        assert!(
            super::skip(text.as_bytes()).is_some(),
            "a plain record left to the full parse: {text}"
        );
        check_quick_skip(text.as_bytes());
    }
}
