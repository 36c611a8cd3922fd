//! Unit tests of record splitting (every form, chunk boundaries, broken and oversized input),
//! gzip detection, positions and directory expansion. Test-only; temporary files only.

use super::*;
use std::io::Write;

#[derive(Debug, PartialEq)]
enum Got {
    R(String, u64, u64),
    M(u64, String),
}

fn split(input: &[u8]) -> Vec<Got> {
    split_max(input, MAX_RECORD_BYTES, CHUNK)
}

/// Splits with a given chunk size, to exercise records spanning chunks.
fn split_max(input: &[u8], max: usize, chunk: usize) -> Vec<Got> {
    let mut out = Vec::new();
    let mut s = Scanner::new(max);
    let mut f = |item: Item<'_>| match item {
        Item::Record { pos, bytes } => out.push(Got::R(
            String::from_utf8_lossy(bytes).into_owned(),
            pos.line,
            pos.index,
        )),
        Item::Malformed { pos, reason } => out.push(Got::M(pos.line, reason)),
    };
    for c in input.chunks(chunk.max(1)) {
        s.feed(c, &mut f);
    }
    s.finish(&mut f);
    out
}

fn records(got: &[Got]) -> Vec<&str> {
    got.iter()
        .filter_map(|g| {
            if let Got::R(s, _, _) = g {
                Some(s.as_str())
            } else {
                None
            }
        })
        .collect()
}

fn malformed(got: &[Got]) -> usize {
    got.iter().filter(|g| matches!(g, Got::M(..))).count()
}

#[test]
fn cloudtrail_log_file() {
    let got = split(br#"{"Records":[{"a":1},{"b":"x}y{"},{"c":[1,{"d":2}]}]}"#);
    assert_eq!(
        records(&got),
        vec![r#"{"a":1}"#, r#"{"b":"x}y{"}"#, r#"{"c":[1,{"d":2}]}"#]
    );
    assert_eq!(malformed(&got), 0);
}

#[test]
fn wrapper_with_whitespace_bom_and_trailing_keys() {
    let mut input = vec![0xEF, 0xBB, 0xBF];
    input.extend_from_slice(
        b"{\n  \"Records\" : [\n    {\"a\": 1},\n    {\"b\": 2}\n  ],\n  \"x\": {\"y\": 1}\n}\n",
    );
    let got = split(&input);
    assert_eq!(records(&got), vec!["{\"a\": 1}", "{\"b\": 2}"]);
    assert_eq!(malformed(&got), 0);
    assert!(matches!(got[1], Got::R(_, 4, 2)), "{got:?}");
}

#[test]
fn bom_before_json_lines() {
    let got = split(b"\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n");
    assert_eq!(records(&got), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
}

#[test]
fn single_object_pretty_printed() {
    let got = split(b"{\n  \"detail-type\": \"AWS API Call via CloudTrail\",\n  \"detail\": {\n    \"a\": 1\n  }\n}\n");
    assert_eq!(records(&got).len(), 1);
    assert_eq!(malformed(&got), 0);
}

#[test]
fn json_lines_and_concatenated() {
    let got = split(b"{\"a\":1}\n{\"b\":2}\n\n{\"c\":3} {\"d\":4}\n");
    assert_eq!(
        records(&got),
        vec![r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#, r#"{"d":4}"#]
    );
    assert!(matches!(got[2], Got::R(_, 4, 3)));
}

#[test]
fn top_level_array() {
    let got = split(b"[\n {\"a\":1},\n {\"b\":[{\"c\":1}]}\n]\n");
    assert_eq!(records(&got), vec![r#"{"a":1}"#, r#"{"b":[{"c":1}]}"#]);
}

#[test]
fn escapes_inside_strings() {
    let got = split(br#"{"Records":[{"a":"q\"}{\\"},{"b":"\\"},{"c":"\u00e9 \n"}]}"#);
    assert_eq!(
        records(&got),
        vec![
            r#"{"a":"q\"}{\\"}"#,
            r#"{"b":"\\"}"#,
            r#"{"c":"\u00e9 \n"}"#
        ]
    );
}

#[test]
fn truncated_line_in_jsonl_resynchronises() {
    let got = split(b"{\"a\":1}\n{\"b\":\"trunc\n{\"c\":3}\n{\"d\":{\"e\":1}\n{\"f\":6}\n");
    assert_eq!(
        records(&got),
        vec![r#"{"a":1}"#, r#"{"c":3}"#, r#"{"f":6}"#]
    );
    assert_eq!(malformed(&got), 2, "{got:?}");
    assert!(got.iter().any(|g| matches!(g, Got::M(2, _))), "{got:?}");
}

// Found by tests/adversarial.rs: a pretty-printed record (`jq .` of a CloudTrail record, whose
// `resources` is an array of objects) was cut at the indented `{` and lost as 11 malformed
// records, because any `{` first on its line counted as the start of a new JSON Lines record.
#[test]
fn pretty_printed_nested_array_of_objects_is_not_a_truncation() {
    let input = b"{\n  \"a\": 1,\n  \"resources\": [\n    {\n      \"ARN\": \"x\"\n    },\n    {\"b\": 2}\n  ]\n}\n{\"c\":3}\n";
    let got = split(input);
    assert_eq!(malformed(&got), 0, "{got:?}");
    assert_eq!(records(&got).len(), 2, "{got:?}");
    assert!(records(&got)[0].ends_with("]\n}"), "{got:?}");
}

// Found by tests/adversarial.rs: a garbage line of unbalanced `[` (or `[{`) made the scanner
// count depth to the end of the file, silently swallowing every record after it.
#[test]
fn unbalanced_open_brackets_do_not_swallow_later_records() {
    for garbage in [&b"[[[[[[[["[..], b"[[{\"a\":[[[", b"{\"Records\":[[[[["] {
        let mut input = garbage.to_vec();
        input.extend_from_slice(b"\n{\"a\":1}\n{\"b\":2}\n");
        for chunk in [1, 3, CHUNK] {
            let got = split_max(&input, MAX_RECORD_BYTES, chunk);
            assert_eq!(
                records(&got),
                vec![r#"{"a":1}"#, r#"{"b":2}"#],
                "{:?} chunk {chunk}: {got:?}",
                String::from_utf8_lossy(garbage)
            );
            assert!(malformed(&got) >= 1, "{got:?}");
        }
    }
}

#[test]
fn garbage_between_records_is_reported_once_per_line() {
    let got = split(b"{\"a\":1}\nthis is not json at all\n{\"b\":2}\n42 43\n");
    assert_eq!(records(&got), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
    assert_eq!(malformed(&got), 2);
}

#[test]
fn non_object_elements_in_arrays() {
    let got = split(br#"{"Records":[{"a":1},42,"str",{"b":2},null]}"#);
    assert_eq!(records(&got), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
    assert_eq!(malformed(&got), 3);
}

#[test]
fn truncated_file() {
    let got = split(br#"{"Records":[{"a":1},{"b":{"c":"#);
    assert_eq!(records(&got), vec![r#"{"a":1}"#]);
    assert_eq!(malformed(&got), 1);
}

#[test]
fn empty_and_whitespace() {
    assert!(split(b"").is_empty());
    assert!(split(b"  \n\n ").is_empty());
    assert!(split(br#"{"Records":[]}"#).is_empty());
}

#[test]
fn records_spanning_chunks_in_every_split() {
    let input = br#"{"Records":[{"a":"x\"y","b":[1,2,{"c":"}"}]},{"d":"\\"},{"e":1}]}"#;
    let want = split(input);
    for chunk in 1..input.len() {
        assert_eq!(
            split_max(input, MAX_RECORD_BYTES, chunk),
            want,
            "chunk {chunk}"
        );
    }
}

#[test]
fn oversized_records_are_malformed_not_buffered() {
    let mut input = br#"{"Records":[{"a":1},{"big":""#.to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    input.extend_from_slice(br#""},{"b":2}]}"#);
    for chunk in [64, 1000, 100_000] {
        let got = split_max(&input, 1024, chunk);
        assert_eq!(
            records(&got),
            vec![r#"{"a":1}"#, r#"{"b":2}"#],
            "chunk {chunk}"
        );
        assert_eq!(malformed(&got), 1);
    }
}

#[test]
fn gzip_plain_and_corrupt() {
    let plain = br#"{"Records":[{"a":1},{"b":2}]}"#;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(plain).unwrap();
    let gz = enc.finish().unwrap();
    let mut n = 0;
    let stats = read_stream(&gz[..], |i| {
        if let Item::Record { .. } = i {
            n += 1
        }
    });
    assert!(stats.gzip);
    assert_eq!((n, stats.records, stats.malformed), (2, 2, 0));
    let cut = &gz[..gz.len() - 12];
    let mut bad = 0;
    let stats = read_stream(cut, |i| {
        if let Item::Malformed { .. } = i {
            bad += 1
        }
    });
    assert!(bad >= 1 && stats.malformed >= 1, "{stats:?}");
}

#[test]
fn positions_count_lines_and_columns() {
    let mut got = Vec::new();
    split_records(b"\n\n  {\"a\":1}\n{\"b\":2}", |i| {
        if let Item::Record { pos, .. } = i {
            got.push(pos)
        }
    });
    assert_eq!(
        got[0],
        Position {
            line: 3,
            column: 3,
            offset: 4,
            index: 1
        }
    );
    assert_eq!(
        got[1],
        Position {
            line: 4,
            column: 1,
            offset: 12,
            index: 2
        }
    );
}

#[test]
fn expands_directories_in_name_order() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("b/c")).unwrap();
    for f in [
        "b/c/2.json.gz",
        "a.json",
        "b/1.jsonl",
        ".hidden.json",
        "notes.md",
        "z.transcript",
    ] {
        std::fs::write(d.path().join(f), b"{}").unwrap();
    }
    let got = expand_paths(&[d.path().to_owned()]).unwrap();
    let rel: Vec<String> = got
        .iter()
        .map(|p| {
            p.strip_prefix(d.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(rel, vec!["a.json", "b/1.jsonl", "b/c/2.json.gz"]);
    assert!(matches!(
        expand_paths(&[d.path().join("missing")]),
        Err(InputError::NotFound(_))
    ));
}
