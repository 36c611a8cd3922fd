//! CloudTrail record parsing: one JSON record, bare or inside an EventBridge envelope, to a
//! classified S3 event (docs/DESIGN.md §2). Owns the input quirks; knows nothing of state or exposure.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::core::change::{self, Change};
pub use crate::core::event_name::EventName;
use crate::core::loose::{Identity, JsonKind, Loose, Probe, IDENTITY_OTHERS};
use crate::core::quote::Quoted;
use crate::core::skim;
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
    /// Fields of the wrong type (or taken from a second source), reported but not fatal.
    pub oddities: Vec<Oddity>,
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

/// A field the decision does not need, or needs but found in a second source, that was of the
/// wrong type or unusable: reported with the record's position and counted, never a reason to
/// drop the record. `field` is one of [`ODDITY_FIELDS`] (a bounded metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oddity {
    pub field: &'static str,
    /// What was found: a JSON kind (`number`, `bool`, …), `missing` or `not RFC 3339`.
    pub problem: &'static str,
}

impl Oddity {
    /// `field:problem`, as transcripts and reports show it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.field, self.problem)
    }
}

/// Every field an oddity can name, in the order an event lists them. CloudTrail record fields
/// keep their names (inside an
/// EventBridge event they are the `detail`'s); the EventBridge event's own are `envelope.*`.
pub const ODDITY_FIELDS: [&str; 28] = [
    "record",
    "eventVersion",
    "eventTime",
    "eventID",
    "awsRegion",
    "recipientAccountId",
    "errorCode",
    "errorMessage",
    "userIdentity",
    "userIdentity.arn",
    "userIdentity.accountId",
    IDENTITY_OTHERS[0],
    IDENTITY_OTHERS[1],
    IDENTITY_OTHERS[2],
    IDENTITY_OTHERS[3],
    "sourceIPAddress",
    "userAgent",
    "requestID",
    "readOnly",
    "eventType",
    "managementEvent",
    "eventCategory",
    "envelope.version",
    "envelope.id",
    "envelope.source",
    "envelope.account",
    "envelope.time",
    "envelope.region",
];

/// The fields of a record or envelope that classification needs or reports on; everything else
/// is skipped by serde without allocation, which keeps the 90% of records that are not watched
/// cheap. Every field is read leniently (`Loose`, `Probe`): a wrong type is an oddity, not a
/// parse error. `D` is what `detail` becomes: the inner record itself (one pass over the
/// bytes), its raw text, or nothing inside a detail.
#[derive(Deserialize)]
struct Head<'a, D> {
    #[serde(rename = "detail-type", borrow, default)]
    detail_type: Option<Loose<'a>>,
    #[serde(default = "none")]
    detail: Option<D>,
    /// Only looked at to tell a whole CloudTrail log file (`{"Records":[…]}`) from one record.
    #[serde(rename = "Records", default)]
    records: Option<IgnoredAny>,
    #[serde(borrow, default)]
    account: Option<Loose<'a>>,
    #[serde(borrow, default)]
    region: Option<Loose<'a>>,
    #[serde(borrow, default)]
    time: Option<Loose<'a>>,
    #[serde(default)]
    version: Option<Probe>,
    #[serde(default)]
    id: Option<Probe>,
    #[serde(default)]
    source: Option<Probe>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Loose<'a>>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<Loose<'a>>,
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<Loose<'a>>,
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<Loose<'a>>,
    #[serde(rename = "awsRegion", borrow, default)]
    aws_region: Option<Loose<'a>>,
    #[serde(rename = "recipientAccountId", borrow, default)]
    recipient_account_id: Option<Loose<'a>>,
    #[serde(rename = "errorCode", borrow, default)]
    error_code: Option<Loose<'a>>,
    #[serde(rename = "userIdentity", borrow, default)]
    user_identity: Option<Identity<'a>>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip: Option<Loose<'a>>,
    #[serde(rename = "userAgent", borrow, default)]
    user_agent: Option<Loose<'a>>,
    #[serde(rename = "eventVersion", default)]
    event_version: Option<Probe>,
    #[serde(rename = "errorMessage", default)]
    error_message: Option<Probe>,
    #[serde(rename = "requestID", default)]
    request_id: Option<Probe>,
    #[serde(rename = "readOnly", default)]
    read_only: Option<Probe>,
    #[serde(rename = "eventType", default)]
    event_type: Option<Probe>,
    #[serde(rename = "managementEvent", default)]
    management_event: Option<Probe>,
    #[serde(rename = "eventCategory", default)]
    event_category: Option<Probe>,
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

/// Classifies one record: a bare CloudTrail record or an EventBridge event wrapping one. Most
/// records are skipped, and `skim` tells the plainest of those in one pass over the bytes; the
/// rest get the full parse.
pub fn classify(bytes: &[u8]) -> Classified {
    match skim::skip(bytes) {
        Some(skip) => Classified::Skipped(skip),
        None => classify_full(bytes),
    }
}

/// `classify` without the quick skip: what the quick skip must agree with (fuzz_entry, tests).
#[doc(hidden)]
pub fn classify_full(bytes: &[u8]) -> Classified {
    match serde_json::from_slice::<OnePass>(bytes) {
        Ok(head) => classify_parsed(head),
        // Also when the detail of another detail-type is not shaped like a record, which the
        // slower path below skips without reading it.
        Err(_) => match classify_two_pass(bytes) {
            Err(Duplicate) => classify_deduplicated(bytes),
            Ok(c) => c,
        },
    }
}

/// A repeated key in a field `Head` reads (serde's derive rejects those).
#[derive(Debug)]
struct Duplicate;

fn is_duplicate(e: &serde_json::Error) -> bool {
    e.to_string().starts_with("duplicate field")
}

/// JSON allows a repeated key, and a field the decision may not even need must not sink the
/// record: it is read the way serde_json reads any object (the last value wins) and reported as
/// the oddity `record:duplicate key`. Only on that error path, so sound records pay nothing.
fn classify_deduplicated(bytes: &[u8]) -> Classified {
    let clean = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| serde_json::to_vec(&v).ok());
    let Some(clean) = clean else {
        return Classified::Malformed("not a JSON object record: a repeated key".into());
    };
    // A serde_json::Value has no repeated keys, so this cannot come back here.
    let mut c = match serde_json::from_slice::<OnePass>(&clean) {
        Ok(head) => classify_parsed(head),
        Err(_) => match classify_two_pass(&clean) {
            Ok(c) => c,
            Err(Duplicate) => {
                Classified::Malformed("not a JSON object record: a repeated key".into())
            }
        },
    };
    if let Classified::Event(ev) = &mut c {
        ev.oddities.insert(
            0,
            Oddity {
                field: "record",
                problem: "duplicate key",
            },
        );
    }
    c
}

/// The common case of a Kinesis record, decided without splitting it first: exactly one JSON
/// object that is an event or a bare record. `None` for anything else (JSON Lines, an array, a
/// `{"Records":[…]}` log file, broken JSON), which the caller splits into records so that each
/// problem is reported at its own position. When `Some`, the answer is what splitting and then
/// `classify` would give.
pub fn classify_single(bytes: &[u8]) -> Option<Classified> {
    match skim::skip(bytes) {
        Some(skip) => Some(Classified::Skipped(skip)),
        None => classify_single_full(bytes),
    }
}

/// `classify_single` without the quick skip (fuzz_entry, tests).
#[doc(hidden)]
pub fn classify_single_full(bytes: &[u8]) -> Option<Classified> {
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

/// Whether `detail-type` names an API call; `Err` when it is there but not a string (needed to
/// tell what the event is, so no fallback).
fn is_api_call(dt: &Loose) -> Result<bool, Classified> {
    match dt {
        Loose::Str(s) => Ok(s == API_CALL_DETAIL_TYPE),
        Loose::Wrong(k, _) => Err(Classified::Malformed(format!(
            "detail-type is a {}",
            k.as_str()
        ))),
    }
}

fn classify_parsed(head: OnePass) -> Classified {
    if let Some(dt) = &head.detail_type {
        match is_api_call(dt) {
            Ok(true) => {}
            Ok(false) => return Classified::Skipped(Skip::OtherDetailType),
            Err(c) => return c,
        }
        let Some(inner) = &head.detail else {
            return Classified::Malformed("EventBridge event without detail".into());
        };
        return classify_head(inner, Some(&Envelope::of(&head)));
    }
    classify_head(&head, None)
}

/// The detail kept raw, parsed only for an API call: exact error messages for broken input.
/// `Err` only for a repeated key, which the caller reads again without it.
fn classify_two_pass(bytes: &[u8]) -> Result<Classified, Duplicate> {
    let head: Head<&RawValue> = match serde_json::from_slice(bytes) {
        Ok(h) => h,
        Err(e) if is_duplicate(&e) => return Err(Duplicate),
        Err(e) => {
            return Ok(Classified::Malformed(format!(
                "not a JSON object record: {e}"
            )))
        }
    };
    if let Some(dt) = &head.detail_type {
        match is_api_call(dt) {
            Ok(true) => {}
            Ok(false) => return Ok(Classified::Skipped(Skip::OtherDetailType)),
            Err(c) => return Ok(c),
        }
        let Some(detail) = head.detail else {
            return Ok(Classified::Malformed(
                "EventBridge event without detail".into(),
            ));
        };
        let inner: Head<IgnoredAny> = match serde_json::from_str(detail.get()) {
            Ok(h) => h,
            Err(e) if is_duplicate(&e) => return Err(Duplicate),
            Err(e) => {
                return Ok(Classified::Malformed(format!(
                    "EventBridge detail is not a CloudTrail record: {e}"
                )))
            }
        };
        return Ok(classify_head(&inner, Some(&Envelope::of(&head))));
    }
    Ok(classify_head(&head, None))
}

/// What an EventBridge envelope adds to its detail: second sources for account, Region and
/// time, and the oddities of its own fields.
struct Envelope<'h, 'a> {
    account: Option<&'h Loose<'a>>,
    region: Option<&'h Loose<'a>>,
    time: Option<&'h Loose<'a>>,
    oddities: Vec<Oddity>,
}

impl<'h, 'a> Envelope<'h, 'a> {
    fn of<D>(h: &'h Head<'a, D>) -> Envelope<'h, 'a> {
        let mut oddities = Vec::new();
        let loose = [
            ("envelope.account", &h.account),
            ("envelope.region", &h.region),
            ("envelope.time", &h.time),
        ];
        for (field, v) in loose {
            if let Some(k) = v.as_ref().and_then(Loose::wrong) {
                oddities.push(Oddity {
                    field,
                    problem: k.as_str(),
                });
            }
        }
        let probes = [
            ("envelope.version", h.version),
            ("envelope.id", h.id),
            ("envelope.source", h.source),
        ];
        probe_oddities(&probes, JsonKind::String, &mut oddities);
        Envelope {
            account: h.account.as_ref(),
            region: h.region.as_ref(),
            time: h.time.as_ref(),
            oddities,
        }
    }
}

fn probe_oddities(probes: &[(&'static str, Option<Probe>)], want: JsonKind, out: &mut Vec<Oddity>) {
    for (field, p) in probes {
        if let Some(Probe(k)) = p {
            if *k != want && *k != JsonKind::Null {
                out.push(Oddity {
                    field,
                    problem: k.as_str(),
                });
            }
        }
    }
}

/// The wrong-typed fields of a record (or detail).
fn record_oddities<D>(h: &Head<D>, out: &mut Vec<Oddity>) {
    let loose = [
        ("eventTime", &h.event_time),
        ("eventID", &h.event_id),
        ("awsRegion", &h.aws_region),
        ("recipientAccountId", &h.recipient_account_id),
        ("errorCode", &h.error_code),
        ("sourceIPAddress", &h.source_ip),
        ("userAgent", &h.user_agent),
    ];
    for (field, v) in loose {
        if let Some(k) = v.as_ref().and_then(Loose::wrong) {
            out.push(Oddity {
                field,
                problem: k.as_str(),
            });
        }
    }
    if let Some(id) = &h.user_identity {
        if let Some(k) = id.not_object {
            out.push(Oddity {
                field: "userIdentity",
                problem: k.as_str(),
            });
        }
        for (field, v) in [
            ("userIdentity.arn", &id.arn),
            ("userIdentity.accountId", &id.account_id),
        ] {
            if let Some(k) = v.as_ref().and_then(Loose::wrong) {
                out.push(Oddity {
                    field,
                    problem: k.as_str(),
                });
            }
        }
        let others: Vec<(&'static str, Option<Probe>)> =
            IDENTITY_OTHERS.into_iter().zip(id.others).collect();
        probe_oddities(&others, JsonKind::String, out);
    }
    probe_oddities(
        &[
            ("eventVersion", h.event_version),
            ("errorMessage", h.error_message),
            ("requestID", h.request_id),
            ("eventType", h.event_type),
            ("eventCategory", h.event_category),
        ],
        JsonKind::String,
        out,
    );
    probe_oddities(
        &[
            ("readOnly", h.read_only),
            ("managementEvent", h.management_event),
        ],
        JsonKind::Bool,
        out,
    );
}

fn classify_head<D>(h: &Head<D>, env: Option<&Envelope>) -> Classified {
    let source = match &h.event_source {
        None => return Classified::Malformed("not a CloudTrail record: no eventSource".into()),
        Some(Loose::Wrong(k, _)) => {
            return Classified::Malformed(format!(
                "not a CloudTrail record: eventSource is a {}",
                k.as_str()
            ))
        }
        Some(Loose::Str(s)) => s,
    };
    if !is_s3_source(source) {
        return Classified::Skipped(Skip::NotS3);
    }
    let name = match &h.event_name {
        None => return Classified::Malformed("S3 record without eventName".into()),
        Some(Loose::Wrong(k, _)) => {
            return Classified::Malformed(format!("S3 record's eventName is a {}", k.as_str()))
        }
        Some(Loose::Str(s)) => s,
    };
    let Some(event_name) = EventName::parse(name) else {
        return Classified::Skipped(Skip::Unwatched);
    };
    match build_event(h, event_name, env) {
        Ok(Some(ev)) => Classified::Event(Box::new(ev)),
        Ok(None) => Classified::Skipped(Skip::Unwatched),
        Err(msg) => Classified::Malformed(format!("{name}: {msg}")),
    }
}

fn text(v: Option<&Loose>) -> Option<String> {
    v.and_then(Loose::text).map(str::to_owned)
}

/// An account id written as a JSON number lost its leading zeros; account ids are 12 digits.
fn account_from_number(v: Option<&Loose>) -> Option<String> {
    v.and_then(Loose::whole_number)
        .filter(|n| *n <= 999_999_999_999)
        .map(|n| format!("{n:012}"))
}

/// The event time: the record's `eventTime`, else (inside an EventBridge event) the envelope's
/// `time`, which EventBridge sets from it.
fn event_time(
    h_time: Option<&Loose>,
    env: Option<&Envelope>,
    oddities: &mut Vec<Oddity>,
) -> Result<(String, i64), String> {
    let own = h_time.and_then(Loose::text);
    if let Some(t) = own {
        if let Some(ms) = time::parse_millis(t) {
            return Ok((t.to_owned(), ms));
        }
    }
    let fallback = env
        .and_then(|e| e.time)
        .and_then(Loose::text)
        .and_then(|t| time::parse_millis(t).map(|ms| (t.to_owned(), ms)));
    match (fallback, own, h_time.and_then(Loose::wrong)) {
        (Some(found), own, wrong) => {
            // A wrong type was already reported by `record_oddities`.
            if wrong.is_none() {
                oddities.push(Oddity {
                    field: "eventTime",
                    problem: if own.is_some() {
                        "not RFC 3339"
                    } else {
                        "missing"
                    },
                });
            }
            Ok(found)
        }
        (None, Some(t), _) => Err(format!("eventTime {} is not RFC 3339", Quoted(t))),
        (None, None, Some(k)) => Err(format!("eventTime is a {}", k.as_str())),
        (None, None, None) => Err("no eventTime".into()),
    }
}

fn build_event<D>(
    h: &Head<D>,
    event_name: EventName,
    env: Option<&Envelope>,
) -> Result<Option<S3Event>, String> {
    let mut oddities = env.map(|e| e.oddities.clone()).unwrap_or_default();
    record_oddities(h, &mut oddities);
    let (event_time, time_ms) = event_time(h.event_time.as_ref(), env, &mut oddities)?;
    // One documented order, whatever the order in the input.
    oddities.sort_by_key(|o| ODDITY_FIELDS.iter().position(|f| *f == o.field));
    let identity = h.user_identity.as_ref();
    let identity_account = identity.and_then(|i| i.account_id.as_ref());
    let env_account = env.and_then(|e| e.account);
    let account = text(h.recipient_account_id.as_ref())
        .or_else(|| text(identity_account))
        .or_else(|| text(env_account))
        .or_else(|| account_from_number(h.recipient_account_id.as_ref()))
        .or_else(|| account_from_number(identity_account))
        .or_else(|| account_from_number(env_account))
        .ok_or("no recipientAccountId or userIdentity.accountId")?;
    let region = text(h.aws_region.as_ref())
        .or_else(|| text(env.and_then(|e| e.region)))
        .ok_or("no awsRegion")?;
    let params: serde_json::Value = match h.request_parameters {
        Some(raw) => {
            serde_json::from_str(raw.get()).map_err(|e| format!("requestParameters: {e}"))?
        }
        None => serde_json::Value::Null,
    };
    // Any errorCode but null or "" marks a failed call, whatever its type (CloudTrail writes it
    // only for failures); a wrong type is also an oddity.
    let error_code = match &h.error_code {
        Some(Loose::Wrong(k, _)) if *k != JsonKind::Null => Some(format!("<{}>", k.as_str())),
        other => text(other.as_ref()),
    };
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
        event_id: text(h.event_id.as_ref()),
        event_time,
        time_ms,
        event_name,
        account,
        region,
        bucket: target.bucket,
        key: target.key,
        actor_arn: text(identity.and_then(|i| i.arn.as_ref())),
        source_ip: text(h.source_ip.as_ref()),
        user_agent: text(h.user_agent.as_ref()),
        error_code,
        change,
        oddities,
    }))
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
