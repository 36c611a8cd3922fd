//! Recognising a watched S3 call in a REST request: method, host, path, query, headers and the
//! SigV4 credential scope. Pure; it must not read bodies or build events.

use super::percent_decode;
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

/// The access key id and region from a SigV4 `Authorization` header or presigned query.
pub(super) fn credential_scope(head: &RequestHead) -> (Option<String>, Option<String>) {
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
