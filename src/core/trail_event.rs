//! What CloudTrail would record for one S3 REST request: recognises the watched calls (docs/DESIGN.md §3)
//! from method, host, path, query and headers, converts XML bodies the way CloudTrail does, and
//! builds the EventBridge event. Pure (ids, times and the response outcome are passed in); it
//! must not do I/O — `dev_trail` owns the proxy and the stream.

use serde_json::{json, Map, Value};

use crate::core::record::EventName;

/// The parts of an HTTP request this module needs; header names are lower case.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: String,
    /// Path as sent, percent-encoded.
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_param(&self, name: &str) -> bool {
        self.params().any(|(k, _)| k == name)
    }

    fn params(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(p), String::new()),
            })
    }
}

/// A watched call recognised in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedCall {
    pub name: EventName,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// S3 Control access point name.
    pub access_point: Option<String>,
    /// Whether the request body must be read to describe the call (small XML or JSON documents;
    /// object uploads never are).
    pub needs_body: bool,
}

/// Bucket-level subresources whose Put/Delete are watched, with their CloudTrail marker key.
const BUCKET_SUBRESOURCES: [(&str, EventName, Option<EventName>); 6] = [
    ("acl", EventName::PutBucketAcl, None),
    (
        "policy",
        EventName::PutBucketPolicy,
        Some(EventName::DeleteBucketPolicy),
    ),
    (
        "publicAccessBlock",
        EventName::PutBucketPublicAccessBlock,
        Some(EventName::DeleteBucketPublicAccessBlock),
    ),
    (
        "ownershipControls",
        EventName::PutBucketOwnershipControls,
        Some(EventName::DeleteBucketOwnershipControls),
    ),
    (
        "tagging",
        EventName::PutBucketTagging,
        Some(EventName::DeleteBucketTagging),
    ),
    (
        "website",
        EventName::PutBucketWebsite,
        Some(EventName::DeleteBucketWebsite),
    ),
];

/// Any other subresource makes a request some other, unwatched call (PutBucketVersioning…).
const OTHER_SUBRESOURCES: [&str; 22] = [
    "versioning",
    "cors",
    "lifecycle",
    "encryption",
    "logging",
    "notification",
    "replication",
    "requestPayment",
    "accelerate",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
    "object-lock",
    "retention",
    "legal-hold",
    "restore",
    "select",
    "uploadId",
    "delete",
    "attributes",
    "torrent",
];

/// Splits host and path into bucket and key. A host `<bucket>.<suffix>` (for each configured
/// virtual-host suffix, e.g. `localhost`) is virtual-host style; anything else is path style.
pub fn bucket_and_key(
    host: Option<&str>,
    path: &str,
    vhost_suffixes: &[String],
) -> (Option<String>, Option<String>) {
    let host_name = host.map(|h| strip_port(h).to_ascii_lowercase());
    let vhost_bucket = host_name.as_deref().and_then(|h| {
        vhost_suffixes.iter().find_map(|suffix| {
            h.strip_suffix(suffix.as_str())
                .and_then(|rest| rest.strip_suffix('.'))
                .filter(|b| !b.is_empty())
                .map(str::to_owned)
        })
    });
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match vhost_bucket {
        Some(b) => (Some(b), path),
        None => match path.split_once('/') {
            Some((b, k)) => (Some(percent_decode(b)), k),
            None => (Some(percent_decode(path)), ""),
        },
    };
    let bucket = bucket.filter(|b| !b.is_empty());
    let key = (!key.is_empty()).then(|| percent_decode(key));
    (bucket, key)
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map_or(host, |h| &h[1..]);
    }
    host.rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// Recognises a watched call; `None` for everything else (reads, unwatched writes).
pub fn classify(head: &RequestHead, vhost_suffixes: &[String]) -> Option<WatchedCall> {
    let method = head.method.to_ascii_uppercase();
    if let Some(rest) = head.path.strip_prefix("/v20180820/") {
        return classify_control(&method, rest);
    }
    let (bucket, key) = bucket_and_key(head.header("host"), &head.path, vhost_suffixes);
    let bucket = bucket?;
    let call = |name, key: Option<String>, needs_body| {
        Some(WatchedCall {
            name,
            bucket: Some(bucket.clone()),
            key,
            access_point: None,
            needs_body,
        })
    };
    if let Some(key) = key {
        return match method.as_str() {
            "PUT" if head.has_param("acl") => call(EventName::PutObjectAcl, Some(key), true),
            "PUT" if is_plain(head) => {
                if head.header("x-amz-copy-source").is_some() {
                    call(EventName::CopyObject, Some(key), false)
                } else {
                    call(EventName::PutObject, Some(key), false)
                }
            }
            "POST" if head.has_param("uploads") => {
                call(EventName::CreateMultipartUpload, Some(key), false)
            }
            _ => None,
        };
    }
    for (sub, put, delete) in BUCKET_SUBRESOURCES {
        if head.has_param(sub) {
            return match method.as_str() {
                "PUT" => call(put, None, true),
                "DELETE" => call(delete?, None, false),
                _ => None,
            };
        }
    }
    if !is_plain(head) {
        return None;
    }
    match method.as_str() {
        "PUT" => call(EventName::CreateBucket, None, true),
        "DELETE" => call(EventName::DeleteBucket, None, false),
        _ => None,
    }
}

/// No subresource that would make the request a different call.
fn is_plain(head: &RequestHead) -> bool {
    !head.params().any(|(k, _)| {
        OTHER_SUBRESOURCES.contains(&k.as_str())
            || k == "partNumber"
            || BUCKET_SUBRESOURCES.iter().any(|(s, _, _)| *s == k)
            || k == "tagging"
    })
}

fn classify_control(method: &str, rest: &str) -> Option<WatchedCall> {
    let rest = rest.trim_end_matches('/');
    let call = |name, access_point: Option<&str>, needs_body| {
        Some(WatchedCall {
            name,
            bucket: None,
            key: None,
            access_point: access_point.map(percent_decode),
            needs_body,
        })
    };
    if rest == "configuration/publicAccessBlock" {
        return match method {
            "PUT" => call(EventName::PutAccountPublicAccessBlock, None, true),
            "DELETE" => call(EventName::DeleteAccountPublicAccessBlock, None, false),
            _ => None,
        };
    }
    let ap = rest.strip_prefix("accesspoint/")?;
    match ap.split_once('/') {
        None => match method {
            "PUT" => call(EventName::CreateAccessPoint, Some(ap), true),
            "DELETE" => call(EventName::DeleteAccessPoint, Some(ap), false),
            _ => None,
        },
        Some((name, "policy")) => match method {
            "PUT" => call(EventName::PutAccessPointPolicy, Some(name), true),
            "DELETE" => call(EventName::DeleteAccessPointPolicy, Some(name), false),
            _ => None,
        },
        Some(_) => None,
    }
}

/// Who made the call and how it ended, as the proxy saw it.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub event_id: String,
    /// RFC 3339, second precision, `Z` (as CloudTrail writes it).
    pub event_time: String,
    pub request_id: Option<String>,
    pub source_ip: String,
    /// Default account when the access key does not name one.
    pub default_account: String,
    /// Default region when the request's credential scope does not name one.
    pub default_region: String,
    /// `None` on success; otherwise S3's error code and message.
    pub error: Option<(String, String)>,
}

/// The access key id and region from a SigV4 `Authorization` header or presigned query.
fn credential_scope(head: &RequestHead) -> (Option<String>, Option<String>) {
    let cred = head
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or("").to_owned())
        .or_else(|| {
            head.params()
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v)
        });
    let Some(cred) = cred else {
        return (None, None);
    };
    let mut parts = cred.split('/');
    let key = parts.next().filter(|k| !k.is_empty()).map(str::to_owned);
    let region = parts.nth(1).filter(|r| !r.is_empty()).map(str::to_owned);
    (key, region)
}

/// Request headers CloudTrail copies into `requestParameters` for the watched calls.
/// Besides the ACL headers (`acl::CANNED_HEADER`, `acl::GRANT_HEADERS`).
const OTHER_COPIED_HEADERS: [&str; 3] = [
    "x-amz-object-ownership",
    "x-amz-copy-source",
    "x-amz-account-id",
];

fn copied_headers() -> impl Iterator<Item = &'static str> {
    std::iter::once(crate::core::acl::CANNED_HEADER)
        .chain(crate::core::acl::GRANT_HEADERS.iter().map(|(h, _)| *h))
        .chain(OTHER_COPIED_HEADERS)
}

/// Builds the EventBridge "AWS API Call via CloudTrail" event for a watched call.
pub fn eventbridge_event(
    call: &WatchedCall,
    head: &RequestHead,
    body: Option<&[u8]>,
    ctx: &CallContext,
) -> Value {
    let (access_key, scope_region) = credential_scope(head);
    // S3 Control names the account in a header; moto selects an account by `x-moto-account-id`;
    // otherwise the emulator's default account (its access keys carry none).
    let account = head
        .header("x-amz-account-id")
        .or_else(|| head.header("x-moto-account-id"))
        .map(str::to_owned)
        .unwrap_or_else(|| ctx.default_account.clone());
    let region = scope_region.unwrap_or_else(|| ctx.default_region.clone());
    let user = access_key.clone().unwrap_or_else(|| "anonymous".into());
    let user_identity = match &access_key {
        Some(k) => json!({
            "type": "IAMUser",
            "principalId": k,
            "arn": format!("arn:aws:iam::{account}:user/{k}"),
            "accountId": account,
            "accessKeyId": k,
            "userName": user,
        }),
        None => json!({"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}),
    };

    let mut params = Map::new();
    if let Some(b) = &call.bucket {
        params.insert("bucketName".into(), json!(b));
    }
    if let Some(host) = head.header("host") {
        params.insert("Host".into(), json!(host));
    }
    if let Some(k) = &call.key {
        params.insert("key".into(), json!(k));
    }
    if let Some(ap) = &call.access_point {
        params.insert("name".into(), json!(ap));
    }
    for h in copied_headers() {
        if let Some(v) = head.header(h) {
            params.insert(h.into(), json!(v));
        }
    }
    if let Some(marker) = marker_of(call.name) {
        params.insert(marker.into(), json!(""));
    }
    if let Some(body) = body.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) {
        let body = decode_aws_chunked(head, body);
        if call.name == EventName::PutBucketPolicy {
            let text = String::from_utf8_lossy(&body);
            let doc = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text.into()));
            params.insert("bucketPolicy".into(), doc);
        } else if let Some((root, value)) = xml_to_cloudtrail(&body) {
            params.insert(root, value);
        }
    }

    let mut resources = Vec::new();
    if let Some(k) = &call.key {
        resources.push(json!({"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{}/{k}", call.bucket.as_deref().unwrap_or(""))}));
    }
    if let Some(b) = &call.bucket {
        resources.push(json!({"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{b}")}));
    }
    if let Some(ap) = &call.access_point {
        resources.push(json!({"accountId": account, "type": "AWS::S3::AccessPoint", "ARN": format!("arn:aws:s3:{region}:{account}:accesspoint/{ap}")}));
    }

    let mut detail = json!({
        "eventVersion": "1.09",
        "userIdentity": user_identity,
        "eventTime": ctx.event_time,
        "eventSource": "s3.amazonaws.com",
        "eventName": call.name.as_str(),
        "awsRegion": region,
        "sourceIPAddress": ctx.source_ip,
        "userAgent": head.header("user-agent").unwrap_or(""),
        "requestParameters": Value::Object(params),
        "responseElements": Value::Null,
        "requestID": ctx.request_id.clone().unwrap_or_default(),
        "eventID": ctx.event_id,
        "readOnly": false,
        "resources": resources,
        "eventType": "AwsApiCall",
        "managementEvent": call.key.is_none(),
        "recipientAccountId": account,
        "eventCategory": if call.key.is_some() { "Data" } else { "Management" },
    });
    if let Some((code, message)) = &ctx.error {
        detail["errorCode"] = json!(code);
        detail["errorMessage"] = json!(message);
    }
    json!({
        "version": "0",
        "id": ctx.event_id,
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": account,
        "time": ctx.event_time,
        "region": region,
        "resources": [],
        "detail": detail,
    })
}

/// The partition key EventBridge's `$.detail.requestParameters.bucketName` path gives; account
/// and access-point calls have no bucket, so they use the account (one shard keeps them ordered).
pub fn partition_key(event: &Value) -> String {
    event["detail"]["requestParameters"]["bucketName"]
        .as_str()
        .or_else(|| event["account"].as_str())
        .unwrap_or("account")
        .to_owned()
}

fn marker_of(name: EventName) -> Option<&'static str> {
    use EventName as E;
    Some(match name {
        E::PutBucketAcl | E::PutObjectAcl => "acl",
        E::PutBucketPolicy | E::DeleteBucketPolicy => "policy",
        E::PutBucketPublicAccessBlock | E::DeleteBucketPublicAccessBlock => "publicAccessBlock",
        E::PutBucketOwnershipControls | E::DeleteBucketOwnershipControls => "ownershipControls",
        E::PutBucketTagging | E::DeleteBucketTagging => "tagging",
        E::PutBucketWebsite | E::DeleteBucketWebsite => "website",
        _ => return None,
    })
}

/// S3's error code and message from an error response body (`<Error><Code>…`).
pub fn s3_error(body: &[u8]) -> Option<(String, String)> {
    let (root, v) = xml_to_cloudtrail(body)?;
    let err = if root == "Error" {
        v
    } else {
        v.get("Error")?.clone()
    };
    let code = err.get("Code")?.as_str()?.to_owned();
    let message = err
        .get("Message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Some((code, message))
}

/// Strips `aws-chunked` framing (`<hex>[;chunk-signature=…]\r\n<data>\r\n…0\r\n<trailers>`) so
/// the document inside can be read; anything not so framed is returned as is.
pub fn decode_aws_chunked(head: &RequestHead, body: &[u8]) -> Vec<u8> {
    let chunked = head
        .header("content-encoding")
        .is_some_and(|e| e.contains("aws-chunked"))
        || head
            .header("x-amz-content-sha256")
            .is_some_and(|s| s.starts_with("STREAMING-"));
    if !chunked {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return body.to_vec();
        };
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
    out
}

/// The four PublicAccessBlock flags, which CloudTrail records as JSON booleans.
const BOOLEAN_ELEMENTS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

/// Converts an XML document the way CloudTrail records request bodies: the root element's name
/// with an object of its children; attributes (`xmlns`, `xmlns:xsi`, `xsi:type`) as keys; an
/// element repeated under one parent as an array, a single one as an object (hence `Grant` as
/// object or array); text-only elements as strings. `None` when the body is not XML.
pub fn xml_to_cloudtrail(xml: &[u8]) -> Option<(String, Value)> {
    use quick_xml::events::Event;
    let text = String::from_utf8_lossy(xml);
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().trim_text(true);

    struct Open {
        name: String,
        fields: Map<String, Value>,
        text: String,
        has_children: bool,
    }
    fn open(e: &quick_xml::events::BytesStart<'_>) -> Open {
        let mut fields = Map::new();
        for attr in e.attributes().flatten() {
            let k = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
            let v = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&attr.value).into_owned());
            fields.insert(k, Value::String(v));
        }
        Open {
            name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
            fields,
            text: String::new(),
            has_children: false,
        }
    }
    fn close(o: Open) -> (String, Value) {
        let value = if o.has_children || !o.fields.is_empty() {
            let mut fields = o.fields;
            if !o.text.is_empty() && !o.has_children {
                fields.insert("value".into(), Value::String(o.text));
            }
            Value::Object(fields)
        } else if BOOLEAN_ELEMENTS.contains(&o.name.as_str()) {
            match o.text.as_str() {
                "true" | "TRUE" | "True" => Value::Bool(true),
                "false" | "FALSE" | "False" => Value::Bool(false),
                _ => Value::String(o.text),
            }
        } else {
            Value::String(o.text)
        };
        (o.name, value)
    }
    fn attach(parent: &mut Open, name: String, value: Value) {
        parent.has_children = true;
        match parent.fields.get_mut(&name) {
            None => {
                parent.fields.insert(name, value);
            }
            // Arrays only ever arise from repetition here.
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }

    let mut stack: Vec<Open> = Vec::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => stack.push(open(&e)),
            Event::Empty(e) => {
                let (name, value) = close(open(&e));
                match stack.last_mut() {
                    Some(parent) => attach(parent, name, value),
                    None => return Some((name, value)),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.decode().ok()?);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                let top = stack.last_mut()?;
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    top.text.push(c);
                } else {
                    let name = r.decode().ok()?;
                    top.text.push(match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return None,
                    });
                }
            }
            Event::End(_) => {
                let done = stack.pop()?;
                let (name, value) = close(done);
                match stack.last_mut() {
                    Some(parent) => attach(parent, name, value),
                    None => return Some((name, value)),
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Decodes `%XX` escapes (S3 keys and bucket names in paths); invalid escapes stay as written.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::change::Change;
    use crate::core::exposure::{BlockConfig, Ownership};
    use crate::core::record::{classify as classify_record, Classified, S3Event};

    fn suffixes() -> Vec<String> {
        vec!["localhost".into()]
    }

    fn head(method: &str, host: &str, path: &str, query: Option<&str>) -> RequestHead {
        RequestHead {
            method: method.into(),
            path: path.into(),
            query: query.map(str::to_owned),
            headers: vec![
                ("host".into(), host.into()),
                (
                    "authorization".into(),
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=0".into(),
                ),
                ("user-agent".into(), "aws-cli/2.15".into()),
            ],
        }
    }

    fn with(mut h: RequestHead, name: &str, value: &str) -> RequestHead {
        h.headers.push((name.into(), value.into()));
        h
    }

    fn name_of(h: &RequestHead) -> Option<EventName> {
        classify(h, &suffixes()).map(|c| c.name)
    }

    fn ctx() -> CallContext {
        CallContext {
            event_id: "ev-1".into(),
            event_time: "2026-11-23T10:00:00Z".into(),
            request_id: Some("REQ1".into()),
            source_ip: "127.0.0.1".into(),
            default_account: "123456789012".into(),
            default_region: "us-east-1".into(),
            error: None,
        }
    }

    /// Builds the event for a request and reads it back with the replay parser, as the fleet will.
    fn round_trip(h: &RequestHead, body: Option<&str>, c: &CallContext) -> S3Event {
        let call = classify(h, &suffixes()).expect("watched call");
        let ev = eventbridge_event(&call, h, body.map(str::as_bytes), c);
        let bytes = serde_json::to_vec(&ev).unwrap();
        match classify_record(&bytes) {
            Classified::Event(e) => *e,
            other => panic!("not an event: {other:?} from {ev}"),
        }
    }

    #[test]
    fn path_and_virtual_host_style_name_the_same_bucket_and_key() {
        let s = suffixes();
        assert_eq!(
            bucket_and_key(Some("127.0.0.1:4567"), "/b1/a/b%20c.txt", &s),
            (Some("b1".into()), Some("a/b c.txt".into()))
        );
        assert_eq!(
            bucket_and_key(Some("b1.localhost:4567"), "/a/b%20c.txt", &s),
            (Some("b1".into()), Some("a/b c.txt".into()))
        );
        assert_eq!(
            bucket_and_key(Some("b1.localhost"), "/", &s),
            (Some("b1".into()), None)
        );
        assert_eq!(
            bucket_and_key(Some("localhost:4567"), "/", &s),
            (None, None)
        );
        assert_eq!(
            bucket_and_key(Some("[::1]:4567"), "/b2", &s),
            (Some("b2".into()), None)
        );
    }

    #[test]
    fn bucket_calls_are_recognised_by_method_and_subresource() {
        let h = |m, q| head(m, "127.0.0.1:4567", "/b1", q);
        assert_eq!(name_of(&h("PUT", None)), Some(EventName::CreateBucket));
        assert_eq!(name_of(&h("DELETE", None)), Some(EventName::DeleteBucket));
        assert_eq!(
            name_of(&h("PUT", Some("acl"))),
            Some(EventName::PutBucketAcl)
        );
        assert_eq!(
            name_of(&h("PUT", Some("acl="))),
            Some(EventName::PutBucketAcl)
        );
        assert_eq!(
            name_of(&h("PUT", Some("policy"))),
            Some(EventName::PutBucketPolicy)
        );
        assert_eq!(
            name_of(&h("DELETE", Some("policy"))),
            Some(EventName::DeleteBucketPolicy)
        );
        assert_eq!(
            name_of(&h("PUT", Some("publicAccessBlock"))),
            Some(EventName::PutBucketPublicAccessBlock)
        );
        assert_eq!(
            name_of(&h("DELETE", Some("publicAccessBlock"))),
            Some(EventName::DeleteBucketPublicAccessBlock)
        );
        assert_eq!(
            name_of(&h("PUT", Some("ownershipControls"))),
            Some(EventName::PutBucketOwnershipControls)
        );
        assert_eq!(
            name_of(&h("DELETE", Some("ownershipControls"))),
            Some(EventName::DeleteBucketOwnershipControls)
        );
        assert_eq!(
            name_of(&h("PUT", Some("tagging"))),
            Some(EventName::PutBucketTagging)
        );
        assert_eq!(
            name_of(&h("DELETE", Some("tagging"))),
            Some(EventName::DeleteBucketTagging)
        );
        assert_eq!(
            name_of(&h("PUT", Some("website"))),
            Some(EventName::PutBucketWebsite)
        );
        assert_eq!(
            name_of(&h("DELETE", Some("website"))),
            Some(EventName::DeleteBucketWebsite)
        );
        // Reads and unwatched writes are not events.
        assert_eq!(name_of(&h("GET", Some("acl"))), None);
        assert_eq!(name_of(&h("GET", None)), None);
        assert_eq!(name_of(&h("HEAD", None)), None);
        assert_eq!(name_of(&h("PUT", Some("versioning"))), None);
        assert_eq!(name_of(&h("PUT", Some("cors"))), None);
        assert_eq!(name_of(&h("POST", Some("delete"))), None);
        // Service-level requests (ListBuckets, other services' POST /) name no bucket.
        assert_eq!(name_of(&head("GET", "127.0.0.1:4567", "/", None)), None);
        assert_eq!(name_of(&head("POST", "127.0.0.1:4567", "/", None)), None);
    }

    #[test]
    fn object_calls_are_recognised_including_copy_and_multipart() {
        let h = |m, q| head(m, "b1.localhost:4567", "/k/1", q);
        assert_eq!(
            name_of(&h("PUT", Some("acl"))),
            Some(EventName::PutObjectAcl)
        );
        assert_eq!(name_of(&h("PUT", None)), Some(EventName::PutObject));
        assert_eq!(
            name_of(&with(h("PUT", None), "x-amz-copy-source", "/b0/k")),
            Some(EventName::CopyObject)
        );
        assert_eq!(
            name_of(&h("POST", Some("uploads"))),
            Some(EventName::CreateMultipartUpload)
        );
        // Parts, completion, tagging and reads are other calls.
        assert_eq!(name_of(&h("PUT", Some("partNumber=1&uploadId=x"))), None);
        assert_eq!(name_of(&h("POST", Some("uploadId=x"))), None);
        assert_eq!(name_of(&h("PUT", Some("tagging"))), None);
        assert_eq!(name_of(&h("GET", None)), None);
        assert_eq!(name_of(&h("DELETE", None)), None);
        let call = classify(&h("PUT", None), &suffixes()).unwrap();
        assert!(!call.needs_body, "object bodies are never buffered");
        let call = classify(&h("PUT", Some("acl")), &suffixes()).unwrap();
        assert!(call.needs_body);
    }

    #[test]
    fn s3_control_account_block_and_access_points_are_recognised() {
        let h = |m, p| head(m, "127.0.0.1:4567", p, None);
        let p = "/v20180820/configuration/publicAccessBlock";
        assert_eq!(
            name_of(&h("PUT", p)),
            Some(EventName::PutAccountPublicAccessBlock)
        );
        assert_eq!(
            name_of(&h("DELETE", p)),
            Some(EventName::DeleteAccountPublicAccessBlock)
        );
        assert_eq!(name_of(&h("GET", p)), None);
        let ap = "/v20180820/accesspoint/ap1";
        assert_eq!(name_of(&h("PUT", ap)), Some(EventName::CreateAccessPoint));
        assert_eq!(
            name_of(&h("DELETE", ap)),
            Some(EventName::DeleteAccessPoint)
        );
        let pol = "/v20180820/accesspoint/ap1/policy";
        assert_eq!(
            name_of(&h("PUT", pol)),
            Some(EventName::PutAccessPointPolicy)
        );
        assert_eq!(
            name_of(&h("DELETE", pol)),
            Some(EventName::DeleteAccessPointPolicy)
        );
        assert_eq!(
            name_of(&h("GET", "/v20180820/accesspoint/ap1/policyStatus")),
            None
        );
        let call = classify(&h("PUT", pol), &suffixes()).unwrap();
        assert_eq!(call.access_point.as_deref(), Some("ap1"));
        assert_eq!(call.bucket, None);
    }

    #[test]
    fn access_control_policy_converts_as_cloudtrail_records_it() {
        let one = r#"<?xml version="1.0" encoding="UTF-8"?>
<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>abc</ID></Owner>
<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
        let (root, v) = xml_to_cloudtrail(one.as_bytes()).unwrap();
        assert_eq!(root, "AccessControlPolicy");
        assert_eq!(v["xmlns"], "http://s3.amazonaws.com/doc/2006-03-01/");
        let grant = &v["AccessControlList"]["Grant"];
        assert!(grant.is_object(), "a single Grant is an object: {grant}");
        assert_eq!(grant["Grantee"]["xsi:type"], "Group");
        assert_eq!(
            grant["Grantee"]["URI"],
            "http://acs.amazonaws.com/groups/global/AllUsers"
        );
        assert_eq!(grant["Permission"], "READ");

        let two = r#"<AccessControlPolicy><AccessControlList>
<Grant><Grantee xsi:type="CanonicalUser"><ID>abc</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>
<Grant><Grantee xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AuthenticatedUsers</URI></Grantee><Permission>WRITE</Permission></Grant>
</AccessControlList></AccessControlPolicy>"#;
        let (_, v) = xml_to_cloudtrail(two.as_bytes()).unwrap();
        let grants = v["AccessControlList"]["Grant"]
            .as_array()
            .expect("repeated Grant is an array");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[1]["Permission"], "WRITE");
    }

    #[test]
    fn block_flags_become_booleans_and_entities_are_decoded() {
        let xml = "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>\
<IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>TRUE</BlockPublicPolicy>\
<RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
        let (root, v) = xml_to_cloudtrail(xml.as_bytes()).unwrap();
        assert_eq!(root, "PublicAccessBlockConfiguration");
        assert_eq!(v["BlockPublicAcls"], true);
        assert_eq!(v["IgnorePublicAcls"], false);
        assert_eq!(v["BlockPublicPolicy"], true);
        let tags = "<Tagging><TagSet><Tag><Key>a&amp;b</Key><Value>&lt;1&#62;</Value></Tag></TagSet></Tagging>";
        let (_, v) = xml_to_cloudtrail(tags.as_bytes()).unwrap();
        assert_eq!(v["TagSet"]["Tag"]["Key"], "a&b");
        assert_eq!(v["TagSet"]["Tag"]["Value"], "<1>");
        assert_eq!(xml_to_cloudtrail(b"{\"not\":\"xml\"}"), None);
        assert_eq!(xml_to_cloudtrail(b"<open><never-closed>"), None);
        assert_eq!(xml_to_cloudtrail(b""), None);
    }

    #[test]
    fn aws_chunked_bodies_are_unframed() {
        let h = with(
            head("PUT", "127.0.0.1", "/b/k", Some("acl")),
            "x-amz-content-sha256",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        );
        let framed = b"5;chunk-signature=ab\r\nhello\r\n6;chunk-signature=cd\r\n world\r\n0;chunk-signature=ef\r\n\r\n";
        assert_eq!(decode_aws_chunked(&h, framed), b"hello world");
        let plain = head("PUT", "127.0.0.1", "/b/k", Some("acl"));
        assert_eq!(
            decode_aws_chunked(&plain, b"5\r\nhello\r\n"),
            b"5\r\nhello\r\n"
        );
        // Broken framing is passed through rather than guessed at.
        assert_eq!(decode_aws_chunked(&h, b"zz\r\nhello"), b"zz\r\nhello");
    }

    #[test]
    fn s3_errors_are_read_from_the_response_body() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>MalformedPolicy</Code><Message>Policies must be valid JSON</Message><RequestId>1</RequestId></Error>";
        assert_eq!(
            s3_error(body),
            Some((
                "MalformedPolicy".into(),
                "Policies must be valid JSON".into()
            ))
        );
        assert_eq!(s3_error(b"<ErrorResponse><Error><Code>NoSuchPublicAccessBlockConfiguration</Code></Error></ErrorResponse>").map(|e| e.0), Some("NoSuchPublicAccessBlockConfiguration".into()));
        assert_eq!(s3_error(b"not xml"), None);
    }

    #[test]
    fn canned_acl_event_has_cloudtrail_shape_and_reads_back_as_public() {
        let h = with(
            head("PUT", "127.0.0.1:4567", "/b1", Some("acl")),
            "x-amz-acl",
            "public-read",
        );
        let call = classify(&h, &suffixes()).unwrap();
        let ev = eventbridge_event(&call, &h, None, &ctx());
        assert_eq!(ev["detail-type"], "AWS API Call via CloudTrail");
        assert_eq!(ev["source"], "aws.s3");
        let d = &ev["detail"];
        assert_eq!(d["eventName"], "PutBucketAcl");
        assert_eq!(d["eventID"], "ev-1");
        assert_eq!(
            d["awsRegion"], "eu-west-1",
            "region from the credential scope"
        );
        assert_eq!(d["userIdentity"]["accessKeyId"], "AKIDEXAMPLE");
        assert_eq!(d["userIdentity"]["accountId"], "123456789012");
        assert_eq!(d["sourceIPAddress"], "127.0.0.1");
        assert_eq!(d["userAgent"], "aws-cli/2.15");
        assert_eq!(d["requestParameters"]["bucketName"], "b1");
        assert_eq!(d["requestParameters"]["x-amz-acl"], "public-read");
        assert_eq!(d["requestParameters"]["acl"], "");
        assert_eq!(d["requestID"], "REQ1");
        assert!(d.get("errorCode").is_none());
        assert_eq!(partition_key(&ev), "b1");

        let e = round_trip(&h, None, &ctx());
        assert_eq!(e.bucket.as_deref(), Some("b1"));
        match e.change {
            Some(Change::BucketAcl(acl)) => assert!(acl.is_public(), "{acl:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn xml_acl_body_reads_back_as_the_same_grants() {
        let h = head("PUT", "b1.localhost:4567", "/obj.txt", Some("acl"));
        let body = r#"<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>o</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
        let e = round_trip(&h, Some(body), &ctx());
        assert_eq!(e.event_name, EventName::PutObjectAcl);
        assert_eq!(
            (e.bucket.as_deref(), e.key.as_deref()),
            (Some("b1"), Some("obj.txt"))
        );
        match e.change {
            Some(Change::ObjectAcl(acl)) => {
                assert_eq!(acl.findings(), vec!["acl:AllUsers:READ".to_string()])
            }
            other => panic!("{other:?}"),
        }
        // The same without the AllUsers grant is private.
        let private = body.replace("http://acs.amazonaws.com/groups/global/AllUsers", "x");
        match round_trip(&h, Some(&private), &ctx()).change {
            Some(Change::ObjectAcl(acl)) => assert!(!acl.is_public()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn policy_block_ownership_and_tags_read_back() {
        let p = head("PUT", "127.0.0.1", "/b1", Some("policy"));
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Sid":"S1","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b1/*"}]}"#;
        let call = classify(&p, &suffixes()).unwrap();
        let ev = eventbridge_event(&call, &p, Some(doc.as_bytes()), &ctx());
        assert!(ev["detail"]["requestParameters"]["bucketPolicy"].is_object());
        match round_trip(&p, Some(doc), &ctx()).change {
            Some(Change::BucketPolicy(f)) => assert!(f.is_public(), "{f:?}"),
            other => panic!("{other:?}"),
        }

        let b = head("PUT", "127.0.0.1", "/b1", Some("publicAccessBlock"));
        let xml = "<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><BlockPublicAcls>false</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
        match round_trip(&b, Some(xml), &ctx()).change {
            Some(Change::BucketBlock(c)) => assert_eq!(
                c,
                BlockConfig {
                    block_public_acls: false,
                    ignore_public_acls: false,
                    block_public_policy: true,
                    restrict_public_buckets: true
                }
            ),
            other => panic!("{other:?}"),
        }

        let o = head("PUT", "127.0.0.1", "/b1", Some("ownershipControls"));
        let xml = "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>";
        assert_eq!(
            round_trip(&o, Some(xml), &ctx()).change,
            Some(Change::Ownership(Ownership::ObjectWriter))
        );

        let t = head("PUT", "127.0.0.1", "/b1", Some("tagging"));
        let xml = "<Tagging><TagSet><Tag><Key>bucketwarden:allow-public</Key><Value>true</Value></Tag><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>";
        assert_eq!(
            round_trip(&t, Some(xml), &ctx()).change,
            Some(Change::Tags(vec![
                ("bucketwarden:allow-public".into(), "true".into()),
                ("team".into(), "web".into())
            ]))
        );
    }

    #[test]
    fn account_block_event_names_the_account_from_the_header() {
        let h = with(
            head(
                "PUT",
                "127.0.0.1",
                "/v20180820/configuration/publicAccessBlock",
                None,
            ),
            "x-amz-account-id",
            "111122223333",
        );
        let xml = "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
        let call = classify(&h, &suffixes()).unwrap();
        let ev = eventbridge_event(&call, &h, Some(xml.as_bytes()), &ctx());
        assert_eq!(ev["account"], "111122223333");
        assert_eq!(partition_key(&ev), "111122223333");
        let e = round_trip(&h, Some(xml), &ctx());
        assert_eq!(e.account, "111122223333");
        assert_eq!(e.change, Some(Change::AccountBlock(BlockConfig::ALL_ON)));
    }

    #[test]
    fn access_point_calls_read_back_with_name_and_policy() {
        let c = head("PUT", "127.0.0.1", "/v20180820/accesspoint/ap1", None);
        let xml = "<CreateAccessPointRequest xmlns=\"http://awss3control.amazonaws.com/doc/2018-08-20/\"><Bucket>b1</Bucket></CreateAccessPointRequest>";
        let e = round_trip(&c, Some(xml), &ctx());
        assert_eq!(e.bucket.as_deref(), Some("b1"));
        assert_eq!(
            e.change,
            Some(Change::CreateAccessPoint {
                name: "ap1".into(),
                block: BlockConfig::ALL_ON,
                vpc_origin: false,
            })
        );
        let p = head(
            "PUT",
            "127.0.0.1",
            "/v20180820/accesspoint/ap1/policy",
            None,
        );
        let xml = r#"<PutAccessPointPolicyRequest><Policy>{"Statement":[{"Sid":"P","Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:us-east-1:123456789012:accesspoint/ap1/object/*"}]}</Policy></PutAccessPointPolicyRequest>"#;
        match round_trip(&p, Some(xml), &ctx()).change {
            Some(Change::AccessPointPolicy { name, policy }) => {
                assert_eq!(name, "ap1");
                assert!(policy.is_public(), "{policy:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failed_calls_carry_the_error_and_change_nothing() {
        let p = head("PUT", "127.0.0.1", "/b1", Some("policy"));
        let mut c = ctx();
        c.error = Some((
            "MalformedPolicy".into(),
            "Policies must be valid JSON".into(),
        ));
        let call = classify(&p, &suffixes()).unwrap();
        let ev = eventbridge_event(&call, &p, Some(b"{not json"), &c);
        assert_eq!(ev["detail"]["errorCode"], "MalformedPolicy");
        assert_eq!(
            ev["detail"]["requestParameters"]["bucketPolicy"],
            "{not json"
        );
        let e = round_trip(&p, Some("{not json"), &c);
        assert!(e.failed());
        assert_eq!(e.error_code.as_deref(), Some("MalformedPolicy"));
    }

    #[test]
    fn object_upload_with_grant_header_is_an_acl_change_and_without_is_skipped() {
        let h = with(
            head("PUT", "127.0.0.1", "/b1/k", None),
            "x-amz-grant-read",
            "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"",
        );
        match round_trip(&h, None, &ctx()).change {
            Some(Change::ObjectAcl(acl)) => assert!(acl.is_public()),
            other => panic!("{other:?}"),
        }
        let plain = head("PUT", "127.0.0.1", "/b1/k", None);
        let call = classify(&plain, &suffixes()).unwrap();
        let ev = eventbridge_event(&call, &plain, None, &ctx());
        let bytes = serde_json::to_vec(&ev).unwrap();
        assert_eq!(
            classify_record(&bytes),
            Classified::Skipped(crate::core::record::Skip::Unwatched)
        );
    }

    #[test]
    fn the_account_comes_from_headers_else_the_default() {
        let h = with(
            head("PUT", "127.0.0.1", "/b1", None),
            "x-moto-account-id",
            "210987654321",
        );
        let call = classify(&h, &suffixes()).unwrap();
        let ev = eventbridge_event(&call, &h, None, &ctx());
        assert_eq!(ev["account"], "210987654321");
        assert_eq!(ev["detail"]["userIdentity"]["accountId"], "210987654321");
        let mut h = head("PUT", "127.0.0.1", "/b1", None);
        h.headers.remove(1);
        let ev = eventbridge_event(&call, &h, None, &ctx());
        assert_eq!(ev["account"], "123456789012", "the default account");
        assert_eq!(
            ev["detail"]["userIdentity"]["type"], "AWSAccount",
            "unsigned request"
        );
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E2%9C%93"), "✓");
    }
}
