//! CloudTrail record parsing: one JSON record, bare or inside an EventBridge envelope, to a
//! classified S3 event (DESIGN §2). Owns the input quirks; knows nothing of state or exposure.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::core::change::{self, Change};
pub use crate::core::event_name::EventName;
use crate::core::time;

/// The EventBridge detail-type that carries a CloudTrail management or data event.
pub const API_CALL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// A watched S3 call, typed. `change` is `None` exactly when the call failed.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Event {
    pub event_id: Option<String>,
    pub event_time: String,
    pub time_ms: i64,
    pub event_name: EventName,
    pub account: String,
    pub region: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub actor_arn: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub change: Option<Change>,
}

impl S3Event {
    pub fn failed(&self) -> bool {
        self.change.is_none()
    }

    /// Caps the time used for ordering at `latest_ms` and says whether it had to. A genuine
    /// CloudTrail event happens before it reaches the stream, so an `eventTime` past the record's
    /// arrival (plus clock skew) is forged or broken; left as is, it would make every later
    /// genuine change of the same component look stale. `event_time` keeps what the event said.
    pub fn cap_time(&mut self, latest_ms: i64) -> bool {
        if self.time_ms > latest_ms {
            self.time_ms = latest_ms;
            true
        } else {
            false
        }
    }
}

/// Why a record was skipped; skipping is normal, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// An EventBridge event of another detail-type (e.g. "AWS Service Event via CloudTrail").
    OtherDetailType,
    /// A CloudTrail record of another service.
    NotS3,
    /// An S3 call that cannot change exposure (reads, PutObject without an ACL, ...).
    Unwatched,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::OtherDetailType => "other_detail_type",
            Skip::NotS3 => "not_s3",
            Skip::Unwatched => "unwatched_s3",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Classified {
    Event(Box<S3Event>),
    Skipped(Skip),
    Malformed(String),
}

#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(borrow, default)]
    arn: Option<Cow<'a, str>>,
    #[serde(rename = "accountId", borrow, default)]
    account_id: Option<Cow<'a, str>>,
}

/// The fields of a record or envelope that classification needs; everything else is skipped by
/// serde without allocation, which keeps the 90% of records that are not watched cheap. `D` is
/// what `detail` becomes: the inner record itself (one pass over the bytes), its raw text, or
/// nothing inside a detail.
#[derive(Deserialize)]
struct Head<'a, D> {
    #[serde(rename = "detail-type", borrow, default)]
    detail_type: Option<Cow<'a, str>>,
    #[serde(default = "none")]
    detail: Option<D>,
    /// Only looked at to tell a whole CloudTrail log file (`{"Records":[…]}`) from one record.
    #[serde(rename = "Records", default)]
    records: Option<IgnoredAny>,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(rename = "awsRegion", borrow, default)]
    aws_region: Option<Cow<'a, str>>,
    #[serde(rename = "recipientAccountId", borrow, default)]
    recipient_account_id: Option<Cow<'a, str>>,
    #[serde(rename = "errorCode", borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "userIdentity", borrow, default)]
    user_identity: Option<Identity<'a>>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip: Option<Cow<'a, str>>,
    #[serde(rename = "userAgent", borrow, default)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(rename = "requestParameters", borrow, default)]
    request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    resources: Option<&'a RawValue>,
}

fn is_s3_source(source: &str) -> bool {
    source == "s3.amazonaws.com" || source == "s3-control.amazonaws.com"
}

fn none<T>() -> Option<T> {
    None
}

/// An envelope and its detail read in one pass over the bytes.
type OnePass<'a> = Head<'a, Head<'a, IgnoredAny>>;

/// Classifies one record: a bare CloudTrail record or an EventBridge event wrapping one.
pub fn classify(bytes: &[u8]) -> Classified {
    match serde_json::from_slice::<OnePass>(bytes) {
        Ok(head) => classify_parsed(head),
        // Also when the detail of another detail-type is not shaped like a record, which the
        // slower path below skips without reading it.
        Err(_) => classify_two_pass(bytes),
    }
}

/// The common case of a Kinesis record, decided without splitting it first: exactly one JSON
/// object that is an event or a bare record. `None` for anything else (JSON Lines, an array, a
/// `{"Records":[…]}` log file, broken JSON), which the caller splits into records so that each
/// problem is reported at its own position. When `Some`, the answer is what splitting and then
/// `classify` would give.
pub fn classify_single(bytes: &[u8]) -> Option<Classified> {
    // serde also fills a struct from a JSON array (`[]` is a record with every field missing);
    // an array is a list of records here.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let head = serde_json::from_slice::<OnePass>(bytes).ok()?;
    if head.records.is_some() {
        return None;
    }
    Some(classify_parsed(head))
}

fn classify_parsed(head: OnePass) -> Classified {
    if let Some(dt) = head.detail_type.as_deref() {
        if dt != API_CALL_DETAIL_TYPE {
            return Classified::Skipped(Skip::OtherDetailType);
        }
        let Some(inner) = &head.detail else {
            return Classified::Malformed("EventBridge event without detail".into());
        };
        return classify_head(inner, head.account.as_deref(), head.region.as_deref());
    }
    classify_head(&head, None, None)
}

/// The detail kept raw, parsed only for an API call: exact error messages for broken input.
fn classify_two_pass(bytes: &[u8]) -> Classified {
    let head: Head<&RawValue> = match serde_json::from_slice(bytes) {
        Ok(h) => h,
        Err(e) => return Classified::Malformed(format!("not a JSON object record: {e}")),
    };
    if let Some(dt) = head.detail_type.as_deref() {
        if dt != API_CALL_DETAIL_TYPE {
            return Classified::Skipped(Skip::OtherDetailType);
        }
        let Some(detail) = head.detail else {
            return Classified::Malformed("EventBridge event without detail".into());
        };
        let inner: Head<IgnoredAny> = match serde_json::from_str(detail.get()) {
            Ok(h) => h,
            Err(e) => {
                return Classified::Malformed(format!(
                    "EventBridge detail is not a CloudTrail record: {e}"
                ))
            }
        };
        return classify_head(&inner, head.account.as_deref(), head.region.as_deref());
    }
    classify_head(&head, None, None)
}

fn classify_head<D>(
    h: &Head<D>,
    env_account: Option<&str>,
    env_region: Option<&str>,
) -> Classified {
    let Some(source) = h.event_source.as_deref() else {
        return Classified::Malformed("not a CloudTrail record: no eventSource".into());
    };
    if !is_s3_source(source) {
        return Classified::Skipped(Skip::NotS3);
    }
    let Some(name) = h.event_name.as_deref() else {
        return Classified::Malformed("S3 record without eventName".into());
    };
    let Some(event_name) = EventName::parse(name) else {
        return Classified::Skipped(Skip::Unwatched);
    };
    match build_event(h, event_name, env_account, env_region) {
        Ok(Some(ev)) => Classified::Event(Box::new(ev)),
        Ok(None) => Classified::Skipped(Skip::Unwatched),
        Err(msg) => Classified::Malformed(format!("{name}: {msg}")),
    }
}

fn non_empty(s: Option<&Cow<str>>) -> Option<String> {
    s.map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

fn build_event<D>(
    h: &Head<D>,
    event_name: EventName,
    env_account: Option<&str>,
    env_region: Option<&str>,
) -> Result<Option<S3Event>, String> {
    let event_time = non_empty(h.event_time.as_ref()).ok_or("no eventTime")?;
    let time_ms = time::parse_millis(&event_time)
        .ok_or_else(|| format!("eventTime {event_time:?} is not RFC 3339"))?;
    let identity = h.user_identity.as_ref();
    let account = non_empty(h.recipient_account_id.as_ref())
        .or_else(|| identity.and_then(|i| non_empty(i.account_id.as_ref())))
        .or_else(|| env_account.filter(|a| !a.is_empty()).map(str::to_owned))
        .ok_or("no recipientAccountId or userIdentity.accountId")?;
    let region = non_empty(h.aws_region.as_ref())
        .or_else(|| env_region.filter(|r| !r.is_empty()).map(str::to_owned))
        .ok_or("no awsRegion")?;
    let params: serde_json::Value = match h.request_parameters {
        Some(raw) => {
            serde_json::from_str(raw.get()).map_err(|e| format!("requestParameters: {e}"))?
        }
        None => serde_json::Value::Null,
    };
    let error_code = non_empty(h.error_code.as_ref());
    let resources: serde_json::Value = match h.resources {
        Some(raw) => serde_json::from_str(raw.get()).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    };
    let target = change::target(event_name, &params, &resources);
    let change = if error_code.is_some() {
        // A failed call never changes state, but object writes without an ACL stay unwatched
        // whether or not they failed.
        if event_name.is_object_write() && !change::carries_acl(&params) {
            return Ok(None);
        }
        None
    } else {
        match change::parse(event_name, &params).map_err(|e| e.to_string())? {
            Some(c) => Some(c),
            None => return Ok(None),
        }
    };
    if target.bucket.is_none()
        && !event_name.is_account_level()
        && !change::bucket_optional(event_name)
        && error_code.is_none()
    {
        return Err("no bucketName in requestParameters or resources".into());
    }
    if (event_name.is_object_write() || event_name == EventName::PutObjectAcl)
        && target.key.is_none()
        && error_code.is_none()
    {
        return Err("no object key in requestParameters".into());
    }
    Ok(Some(S3Event {
        event_id: non_empty(h.event_id.as_ref()),
        event_time,
        time_ms,
        event_name,
        account,
        region,
        bucket: target.bucket,
        key: target.key,
        actor_arn: identity.and_then(|i| non_empty(i.arn.as_ref())),
        source_ip: non_empty(h.source_ip.as_ref()),
        user_agent: non_empty(h.user_agent.as_ref()),
        error_code,
        change,
    }))
}

#[cfg(test)]
mod tests {
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
        for raw in [DETAIL, &api, &other, &odd_detail, &broken_detail] {
            assert_eq!(
                classify(raw.as_bytes()),
                classify_two_pass(raw.as_bytes()),
                "{raw}"
            );
        }
        assert!(matches!(classify(api.as_bytes()), Classified::Event(_)));
        assert_eq!(
            classify(odd_detail.as_bytes()),
            Classified::Skipped(Skip::OtherDetailType)
        );
        match classify(broken_detail.as_bytes()) {
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
}
