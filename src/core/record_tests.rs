//! Tests of CloudTrail record parsing: classification, lenient fields, oddities and fallbacks.
use super::*;

fn event_at(time: &str) -> S3Event {
    let raw = format!(
        r#"{{"eventVersion":"1.09","eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","awsRegion":"us-east-1","requestParameters":{{"bucketName":"b","x-amz-acl":["private"]}},"eventID":"e1","recipientAccountId":"111122223333"}}"#
    );
    match classify(raw.as_bytes()) {
        Classified::Event(ev) => *ev,
        other => panic!("not an event: {other:?}"),
    }
}

const DETAIL: &str = r#"{"eventVersion":"1.09","eventTime":"2026-11-23T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","awsRegion":"us-east-1","requestParameters":{"bucketName":"b","x-amz-acl":["public-read"]},"eventID":"e1","recipientAccountId":"111122223333"}"#;

fn envelope(detail_type: &str, detail: &str) -> String {
    format!(
        r#"{{"version":"0","id":"x","detail-type":"{detail_type}","source":"aws.s3","account":"111122223333","region":"us-east-1","resources":[],"detail":{detail}}}"#
    )
}

#[test]
fn one_pass_and_two_pass_classification_agree() {
    let api = envelope(API_CALL_DETAIL_TYPE, DETAIL);
    let other = envelope("AWS Service Event via CloudTrail", DETAIL);
    let odd_detail = envelope("AWS Service Event via CloudTrail", r#""a string""#);
    let broken_detail = envelope(API_CALL_DETAIL_TYPE, r#"{"eventSource": 5}"#);
    let not_a_record = envelope(API_CALL_DETAIL_TYPE, r#""a string""#);
    for raw in [
        DETAIL,
        &api,
        &other,
        &odd_detail,
        &broken_detail,
        &not_a_record,
    ] {
        assert_eq!(
            classify(raw.as_bytes()),
            classify_two_pass(raw.as_bytes()).ok().unwrap(),
            "{raw}"
        );
    }
    assert!(matches!(classify(api.as_bytes()), Classified::Event(_)));
    assert_eq!(
        classify(odd_detail.as_bytes()),
        Classified::Skipped(Skip::OtherDetailType)
    );
    match classify(broken_detail.as_bytes()) {
        Classified::Malformed(m) => assert!(m.contains("eventSource is a number"), "{m}"),
        other => panic!("{other:?}"),
    }
    match classify(not_a_record.as_bytes()) {
        Classified::Malformed(m) => assert!(m.contains("EventBridge detail"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_a_single_object_record_is_classified_whole() {
    let api = envelope(API_CALL_DETAIL_TYPE, DETAIL);
    assert!(matches!(
        classify_single(api.as_bytes()),
        Some(Classified::Event(_))
    ));
    assert!(matches!(
        classify_single(format!("  {api}\n").as_bytes()),
        Some(Classified::Event(_))
    ));
    // Several records, a log file, an array, broken JSON: split first.
    for raw in [
        format!("{api}\n{api}"),
        format!(r#"{{"Records":[{DETAIL}]}}"#),
        format!("[{api}]"),
        "[]".to_owned(),
        format!(r#"["{API_CALL_DETAIL_TYPE}", {DETAIL}]"#),
        format!("{api} trailing"),
        api[..api.len() - 1].to_owned(),
    ] {
        assert_eq!(classify_single(raw.as_bytes()), None, "{raw}");
        crate::fuzz_entry::check_single_record_shortcut(raw.as_bytes());
    }
    // An object that is not a record is answered whole, as Malformed.
    assert!(matches!(
        classify_single(br#"{"foo":1}"#),
        Some(Classified::Malformed(_))
    ));
    crate::fuzz_entry::check_single_record_shortcut(api.as_bytes());
    crate::fuzz_entry::check_single_record_shortcut(br#"{"foo":1}"#);
}

#[test]
fn a_future_event_time_is_capped_but_still_reported_as_written() {
    let mut ev = event_at("2099-01-01T00:00:00Z");
    let latest = crate::core::time::parse_millis("2026-11-23T10:01:00Z").unwrap();
    assert!(ev.cap_time(latest));
    assert_eq!(ev.time_ms, latest);
    assert_eq!(ev.event_time, "2099-01-01T00:00:00Z");
}

#[test]
fn a_past_event_time_is_left_alone() {
    let mut ev = event_at("2026-11-23T10:00:00Z");
    let before = ev.time_ms;
    let latest = before + 60_000;
    assert!(!ev.cap_time(latest));
    assert_eq!(ev.time_ms, before);
    // Exactly at the limit is allowed.
    assert!(!ev.cap_time(before));
}

fn event(raw: &str) -> S3Event {
    match classify(raw.as_bytes()) {
        Classified::Event(ev) => {
            if let Ok(two) = classify_two_pass(raw.as_bytes()) {
                assert_eq!(two, Classified::Event(ev.clone()), "{raw}");
            }
            *ev
        }
        other => panic!("not an event: {other:?}\n{raw}"),
    }
}

fn labels(ev: &S3Event) -> Vec<String> {
    ev.oddities.iter().map(Oddity::label).collect()
}

/// An EventBridge event as other CloudTrail tools' public fixtures have it: `account` a
/// JSON number.
fn numeric_account_envelope(detail: &str) -> String {
    format!(
        r#"{{"version":"0","id":"x","detail-type":"{API_CALL_DETAIL_TYPE}","source":"aws.s3","account":111122223333,"time":"2026-11-23T10:00:00Z","region":"us-east-1","resources":[],"detail":{detail}}}"#
    )
}

#[test]
fn a_numeric_envelope_account_is_a_warning_not_a_lost_record() {
    let ev = event(&numeric_account_envelope(DETAIL));
    assert_eq!(ev.account, "111122223333", "detail.recipientAccountId");
    assert!(matches!(ev.change, Some(Change::BucketAcl(_))));
    assert_eq!(labels(&ev), vec!["envelope.account:number"]);
    // Without any string account, the number is the account (12 digits, zero-padded).
    let detail = DETAIL.replace(r#","recipientAccountId":"111122223333""#, "");
    let raw = numeric_account_envelope(&detail).replace("111122223333", "12345678901");
    assert_eq!(event(&raw).account, "012345678901");
}

#[test]
fn fields_the_decision_does_not_need_never_sink_a_record() {
    let detail = DETAIL.replace(
        r#""eventVersion":"1.09","#,
        r#""eventVersion":1.09,"userAgent":{"ua":1},"sourceIPAddress":["198.51.100.7"],"requestID":42,"readOnly":"false","eventType":7,"managementEvent":"true","eventCategory":false,"errorMessage":null,"userIdentity":{"type":1,"principalId":[],"arn":5,"accountId":{},"accessKeyId":true,"userName":2},"#,
    );
    let ev = event(
        &envelope(API_CALL_DETAIL_TYPE, &detail)
            .replace(r#""version":"0","id":"x","#, r#""version":0,"id":["x"],"#)
            .replace(r#""source":"aws.s3","#, r#""source":{},"#),
    );
    assert!(matches!(ev.change, Some(Change::BucketAcl(_))));
    assert_eq!(ev.user_agent, None);
    assert_eq!(ev.actor_arn, None);
    let mut got = labels(&ev);
    got.sort();
    let mut want = vec![
        "envelope.version:number",
        "envelope.id:array",
        "envelope.source:object",
        "eventVersion:number",
        "userAgent:object",
        "sourceIPAddress:array",
        "requestID:number",
        "readOnly:string",
        "eventType:number",
        "managementEvent:string",
        "eventCategory:bool",
        "userIdentity.type:number",
        "userIdentity.principalId:array",
        "userIdentity.arn:number",
        "userIdentity.accountId:object",
        "userIdentity.accessKeyId:bool",
        "userIdentity.userName:number",
    ];
    want.sort();
    assert_eq!(got, want);
    for o in &ev.oddities {
        assert!(ODDITY_FIELDS.contains(&o.field), "{o:?}");
    }
    // userIdentity itself of the wrong type; a numeric eventID is no id.
    let detail = DETAIL.replace(r#""eventID":"e1""#, r#""eventID":17,"userIdentity":"root""#);
    let ev = event(&detail);
    assert_eq!(ev.event_id, None);
    assert_eq!(labels(&ev), vec!["eventID:number", "userIdentity:string"]);
}

#[test]
fn a_value_with_a_second_source_falls_back_to_it() {
    // Region from the envelope.
    let detail = DETAIL.replace(r#""awsRegion":"us-east-1""#, r#""awsRegion":5"#);
    let ev = event(
        &envelope(API_CALL_DETAIL_TYPE, &detail)
            .replace(r#""region":"us-east-1""#, r#""region":"eu-west-1""#),
    );
    assert_eq!(ev.region, "eu-west-1");
    assert_eq!(labels(&ev), vec!["awsRegion:number"]);
    // Event time from the envelope's `time` (missing, unparseable or of the wrong type).
    let env_time = |detail: &str| {
        envelope(API_CALL_DETAIL_TYPE, detail).replace(
            r#""account":"111122223333""#,
            r#""account":"111122223333","time":"2026-11-23T10:00:07Z""#,
        )
    };
    for (replacement, label) in [
        ("", "eventTime:missing"),
        (r#""eventTime":"yesterday","#, "eventTime:not RFC 3339"),
        (r#""eventTime":1764000000,"#, "eventTime:number"),
    ] {
        let detail = DETAIL.replace(r#""eventTime":"2026-11-23T10:00:00Z","#, replacement);
        let ev = event(&env_time(&detail));
        assert_eq!(ev.event_time, "2026-11-23T10:00:07Z");
        assert_eq!(labels(&ev), vec![label]);
    }
    // Account from userIdentity when recipientAccountId is odd.
    let detail = DETAIL.replace(
        r#""recipientAccountId":"111122223333""#,
        r#""recipientAccountId":true,"userIdentity":{"accountId":"444455556666"}"#,
    );
    let ev = event(&detail);
    assert_eq!(ev.account, "444455556666");
    assert_eq!(labels(&ev), vec!["recipientAccountId:bool"]);
}

#[test]
fn what_the_decision_needs_and_cannot_replace_is_still_malformed() {
    let malformed = |raw: &str| match classify(raw.as_bytes()) {
        Classified::Malformed(m) => {
            assert_eq!(
                classify_two_pass(raw.as_bytes()).ok().unwrap(),
                Classified::Malformed(m.clone())
            );
            m
        }
        other => panic!("{other:?}"),
    };
    let bare_time = DETAIL.replace(r#""eventTime":"2026-11-23T10:00:00Z","#, "");
    assert_eq!(malformed(&bare_time), "PutBucketAcl: no eventTime");
    let odd_time = DETAIL.replace(r#""2026-11-23T10:00:00Z""#, "[]");
    assert_eq!(malformed(&odd_time), "PutBucketAcl: eventTime is a array");
    assert!(malformed(&DETAIL.replace(r#""s3.amazonaws.com""#, "3"))
        .contains("eventSource is a number"));
    assert!(malformed(&DETAIL.replace(r#""PutBucketAcl""#, "{}")).contains("eventName is a object"));
    let dt = envelope(API_CALL_DETAIL_TYPE, DETAIL)
        .replace(&format!(r#""{API_CALL_DETAIL_TYPE}""#), "1");
    assert_eq!(malformed(&dt), "detail-type is a number");
}

#[test]
fn an_error_code_of_any_type_marks_a_failed_call() {
    let ev = event(&DETAIL.replace(r#""eventID":"e1""#, r#""eventID":"e1","errorCode":403"#));
    assert!(ev.failed());
    assert_eq!(ev.error_code.as_deref(), Some("<number>"));
    assert_eq!(labels(&ev), vec!["errorCode:number"]);
    let ev = event(&DETAIL.replace(r#""eventID":"e1""#, r#""eventID":"e1","errorCode":null"#));
    assert!(!ev.failed());
    assert!(ev.oddities.is_empty());
}

#[test]
fn a_repeated_key_is_read_last_wins_and_reported() {
    // A repeated field the decision does not need (and one it does: the last value wins, as
    // serde_json reads any object).
    let raw = DETAIL.replace(
        r#""eventID":"e1""#,
        r#""eventID":"e1","requestID":"a","requestID":"b","awsRegion":"eu-west-1""#,
    );
    let ev = event(&raw);
    assert_eq!(ev.region, "eu-west-1");
    assert_eq!(labels(&ev), vec!["record:duplicate key"]);
    let ev = event(
        &envelope(API_CALL_DETAIL_TYPE, &raw)
            .replace(r#""version":"0","#, r#""version":"0","version":"1","#),
    );
    assert_eq!(labels(&ev), vec!["record:duplicate key"]);
}
