//! What CloudTrail would record for one S3 REST request: recognises the watched calls (docs/DESIGN.md §3)
//! from method, host, path, query and headers, converts XML bodies the way CloudTrail does, and
//! builds the EventBridge event. Pure (ids, times and the response outcome are passed in); it
//! must not do I/O — `dev_trail` owns the proxy and the stream.

use serde_json::{json, Map, Value};

use crate::core::record::EventName;

mod body;
mod request;
#[cfg(test)]
mod tests;

pub use body::{decode_aws_chunked, percent_decode, s3_error, xml_to_cloudtrail};
pub use request::{bucket_and_key, classify, RequestHead, WatchedCall};

use request::credential_scope;

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
