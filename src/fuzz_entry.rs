//! Fuzz entry points: the bodies of the cargo-fuzz targets in `fuzz/`, kept in the library so the
//! seeded corpus replay in tests/fuzz_corpus.rs runs them on stable Rust without libFuzzer. Each
//! one must never panic on any input; the checks inside are invariants that hold for every input,
//! so a violation is a bug however strange the bytes.

use serde_json::Value;

use crate::config::Config;
use crate::core::input::{self, Item};
use crate::core::pipeline::{Pipeline, Processed};
use crate::core::policy;
use crate::core::record::{self, Classified};
use crate::core::skim;
use crate::core::transcript::Line;

/// Raw bytes through every input form the replay reader accepts: as a whole file (JSON Lines,
/// `{"Records":[...]}`, JSON array, one object, gzip by magic bytes), as the element of a
/// CloudTrail log file, of a JSON array and as the detail of an EventBridge envelope; every record
/// found goes through the whole pipeline (classification, fold, decision, transcript line).
pub fn parse_input(data: &[u8]) {
    let mut pipeline = Pipeline::new(&Config::default(), false).expect("default config is valid");
    let mut process = |item: Item<'_>| -> (u64, u64) {
        match item {
            Item::Record { bytes, .. } => {
                // The scanner hands out bracket-balanced slices that open with `{` (it counts depth,
                // not bracket kinds: `{…]` is left for the JSON parser to reject).
                assert_eq!(bytes.first(), Some(&b'{'), "record starts with {{");
                assert!(
                    matches!(bytes.last(), Some(b'}' | b']')),
                    "record ends with a bracket"
                );
                assert!(bytes.len() <= input::MAX_RECORD_BYTES);
                if let Processed::Applied { lines, .. } = pipeline.process(bytes) {
                    lines.iter().for_each(check_line);
                }
                (1, 0)
            }
            Item::Malformed { reason, .. } => {
                assert!(!reason.is_empty());
                (0, 1)
            }
        }
    };
    let mut wrapped = Vec::with_capacity(data.len() + 64);
    for (prefix, suffix) in [
        (&b""[..], &b""[..]),
        (b"{\"Records\":[", b"]}"),
        (b"[", b"]"),
        (
            b"{\"detail-type\":\"AWS API Call via CloudTrail\",\"account\":\"111122223333\",\"detail\":",
            b"}",
        ),
    ] {
        wrapped.clear();
        wrapped.extend_from_slice(prefix);
        wrapped.extend_from_slice(data);
        wrapped.extend_from_slice(suffix);
        let (mut records, mut malformed) = (0, 0);
        let stats = input::read_stream(&wrapped[..], |item| {
            let (r, m) = process(item);
            records += r;
            malformed += m;
        });
        // The counters agree with what was handed out: nothing is lost or counted twice.
        assert_eq!((stats.records, stats.malformed), (records, malformed));
        if !stats.gzip {
            assert_eq!(stats.bytes_decoded, wrapped.len() as u64);
            check_single_record_shortcut(&wrapped);
            check_quick_skip(&wrapped);
            // The in-memory splitter (Kinesis records) agrees with the streaming reader.
            let (mut r2, mut m2) = (0, 0);
            input::split_records(&wrapped, |item| match item {
                Item::Record { .. } => r2 += 1,
                Item::Malformed { .. } => m2 += 1,
            });
            assert_eq!((r2, m2), (records, malformed));
        }
    }
    check_single_record_shortcut(data);
    check_quick_skip(data);
    // The bytes as one record, as a Kinesis consumer sees a record that holds one event.
    if let Processed::Applied { lines, .. } = pipeline.process(data) {
        lines.iter().for_each(check_line);
    }
}

/// A transcript line serialises to JSON that reads back as the same line, whatever names it holds.
fn check_line(line: &Line) {
    let json = line.to_json();
    assert!(!json.contains('\n'), "one line: {json}");
    let back: Line = serde_json::from_str(&json).expect("a transcript line reads back");
    assert_eq!(&back, line);
}

/// Bytes as a bucket policy document through the policy analysis, both as CloudTrail records it
/// (a JSON object, or a string holding JSON) and as text that may not be JSON at all.
pub fn policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let as_string = policy::analyze(&Value::String(text.clone().into_owned()));
    assert_eq!(as_string.is_public(), !as_string.reasons.is_empty());
    if let Ok(doc) = serde_json::from_slice::<Value>(data) {
        let findings = policy::analyze(&doc);
        assert_eq!(findings.is_public(), !findings.reasons.is_empty());
        if doc.is_object() {
            // An object and the same object serialised into a string are judged alike.
            assert_eq!(as_string, findings, "{text}");
            let reserialised = policy::analyze(&Value::String(doc.to_string()));
            assert_eq!(reserialised, findings);
        }
    } else if std::str::from_utf8(data).is_ok() {
        // Not JSON: assumed public until shown otherwise (docs/DESIGN.md §4). (Bytes that are not UTF-8
        // were repaired by the lossy conversion above and may well parse.)
        assert_eq!(as_string.reasons, vec!["policy:unparseable".to_string()]);
    }
}

/// The live worker classifies a Kinesis record whole when it is one object; whenever it does, the
/// answer must be the one splitting the record and classifying its only part would give.
pub fn check_single_record_shortcut(data: &[u8]) {
    let Some(fast) = record::classify_single(data) else {
        return;
    };
    let mut parts = Vec::new();
    input::split_records(data, |item| match item {
        Item::Record { bytes, .. } => parts.push(Ok(record::classify(bytes))),
        Item::Malformed { reason, .. } => parts.push(Err(reason)),
    });
    assert_eq!(parts.len(), 1, "a whole record split into {parts:?}");
    assert_eq!(parts.pop(), Some(Ok(fast)));
}

/// The quick skip (`core::skim`) answers only when the full classification gives the same skip,
/// and only for bytes that are one record.
pub fn check_quick_skip(data: &[u8]) {
    let Some(skip) = skim::skip(data) else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    assert_eq!(
        record::classify_full(data),
        Classified::Skipped(skip),
        "quick skip disagrees with the full parse: {text}"
    );
    assert!(
        match record::classify_single_full(data) {
            None => true,
            Some(c) => c == Classified::Skipped(skip),
        },
        "quick skip disagrees with the single-record parse: {text}"
    );
    let mut parts = 0;
    input::split_records(data, |item| {
        assert!(matches!(item, Item::Record { .. }), "{text}");
        parts += 1;
    });
    assert_eq!(
        parts, 1,
        "quick skip of bytes that split in {parts}: {text}"
    );
}
