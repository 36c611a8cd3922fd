//! Building in moto the S3 world a recorded CloudTrail history describes (for
//! tests/differential.rs): each successful watched call a record describes is made through the
//! AWS SDK, so that a live worker verifying against moto sees what S3 held when the call was
//! recorded. Owns the translation from `requestParameters` to SDK calls; it decides nothing
//! about exposure and puts nothing on the stream.
//!
//! - `CreateBucket` without ACL headers gets S3's defaults since April 2023 (block fully on,
//!   BucketOwnerEnforced), made explicit because moto does not apply them.
//! - `CopyObject` and `CreateMultipartUpload` carrying an ACL are made as a `PutObject` with that
//!   ACL: the object as it is once the copy or upload completes.
//! - `PutBucketAcl`/`PutObjectAcl` header grants are made as the equivalent
//!   `AccessControlPolicy` (moto 5.2.5 keeps only the first grantee of a comma-separated header
//!   list in what GetBucketAcl returns).

use aws_sdk_s3::types as s3t;
use serde_json::Value;

pub fn str_or_first(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

pub fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

pub fn flag(v: &Value) -> bool {
    v.as_bool()
        .unwrap_or_else(|| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true")))
}

/// `x-amz-grant-*` headers of a call: (permission suffix, value as sent).
pub fn grant_headers(p: &Value) -> Vec<(&'static str, String)> {
    ["read", "write", "read-acp", "write-acp", "full-control"]
        .into_iter()
        .filter_map(|g| {
            let v = &p[format!("x-amz-grant-{g}")];
            let parts: Vec<String> = as_list(v)
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect();
            (!parts.is_empty()).then(|| (g, parts.join(", ")))
        })
        .collect()
}

/// An `AccessControlPolicy` body as CloudTrail records it, for the SDK.
pub fn access_control_policy(body: &Value) -> s3t::AccessControlPolicy {
    let mut grants = Vec::new();
    for g in as_list(&body["AccessControlList"]["Grant"]) {
        let grantee = &g["Grantee"];
        let kind = grantee["xsi:type"].as_str().unwrap_or("CanonicalUser");
        let mut b = s3t::Grantee::builder().r#type(s3t::Type::from(kind));
        if let Some(uri) = grantee["URI"].as_str() {
            b = b.uri(uri);
        }
        if let Some(id) = grantee["ID"].as_str() {
            b = b.id(id);
        }
        if let Some(e) = grantee["EmailAddress"].as_str() {
            b = b.email_address(e);
        }
        grants.push(
            s3t::Grant::builder()
                .grantee(b.build().unwrap())
                .permission(s3t::Permission::from(
                    g["Permission"].as_str().unwrap_or("READ"),
                ))
                .build(),
        );
    }
    let mut acp = s3t::AccessControlPolicy::builder().set_grants(Some(grants));
    if let Some(id) = body["Owner"]["ID"].as_str() {
        acp = acp.owner(s3t::Owner::builder().id(id).build());
    }
    acp.build()
}

/// Header grants as an `AccessControlPolicy` with one grant per grantee and the owner kept: the
/// same ACL (a PUT of either kind replaces the whole ACL), written so that moto shows it whole
/// (moto 5.2.5 keeps only the first grantee of a comma-separated header list in GetBucketAcl).
pub fn header_grants_as_policy(p: &Value, owner: Option<s3t::Owner>) -> s3t::AccessControlPolicy {
    let mut grants = Vec::new();
    for (g, v) in grant_headers(p) {
        let permission = match g {
            "read" => "READ",
            "write" => "WRITE",
            "read-acp" => "READ_ACP",
            "write-acp" => "WRITE_ACP",
            _ => "FULL_CONTROL",
        };
        for one in v.split(',') {
            let Some((k, val)) = one.trim().split_once('=') else {
                continue;
            };
            let val = val.trim_matches('"');
            let grantee = match k.trim().to_ascii_lowercase().as_str() {
                "uri" => s3t::Grantee::builder().r#type(s3t::Type::Group).uri(val),
                "emailaddress" => s3t::Grantee::builder()
                    .r#type(s3t::Type::AmazonCustomerByEmail)
                    .email_address(val),
                _ => s3t::Grantee::builder()
                    .r#type(s3t::Type::CanonicalUser)
                    .id(val),
            };
            grants.push(
                s3t::Grant::builder()
                    .grantee(grantee.build().unwrap())
                    .permission(s3t::Permission::from(permission))
                    .build(),
            );
        }
    }
    s3t::AccessControlPolicy::builder()
        .set_grants(Some(grants))
        .set_owner(owner)
        .build()
}

macro_rules! with_grants {
    ($req:expr, $p:expr) => {{
        let mut r = $req;
        for (g, v) in grant_headers($p) {
            r = match g {
                "read" => r.grant_read(v),
                "write" => r.grant_write(v),
                "read-acp" => r.grant_read_acp(v),
                "write-acp" => r.grant_write_acp(v),
                _ => r.grant_full_control(v),
            };
        }
        r
    }};
}

/// Objects have no WRITE grant (S3 rejects `x-amz-grant-write` on object calls).
macro_rules! with_object_grants {
    ($req:expr, $p:expr) => {{
        let mut r = $req;
        for (g, v) in grant_headers($p) {
            r = match g {
                "read" => r.grant_read(v),
                "read-acp" => r.grant_read_acp(v),
                "write-acp" => r.grant_write_acp(v),
                "full-control" => r.grant_full_control(v),
                _ => r,
            };
        }
        r
    }};
}

pub fn err(what: &str, e: impl std::fmt::Debug) -> String {
    format!("{what}: {e:?}")
}

pub async fn ensure_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), String> {
    if s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_err()
    {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(b"differential".to_vec().into())
            .send()
            .await
            .map_err(|e| err("PutObject", e))?;
    }
    Ok(())
}

/// A bucket as replay assumes one first seen mid-history: ACLs enabled, no block, private ACL,
/// no policy.
pub async fn create_as_assumed(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    s3.create_bucket()
        .bucket(bucket)
        .object_ownership(s3t::ObjectOwnership::ObjectWriter)
        .send()
        .await
        .map_err(|e| err("CreateBucket", e))?;
    let _ = s3.delete_public_access_block().bucket(bucket).send().await;
    Ok(())
}

/// Makes in moto the successful S3 call a CloudTrail record describes.
pub async fn apply(s3: &aws_sdk_s3::Client, t: &Value) -> Result<(), String> {
    let p = &t["requestParameters"];
    let Some(bucket) = p["bucketName"].as_str() else {
        return Ok(());
    };
    let name = t["eventName"].as_str().unwrap_or_default();
    let key = p["key"].as_str();
    let canned = str_or_first(&p["x-amz-acl"]);
    match name {
        "CreateBucket" => {
            let own = str_or_first(&p["x-amz-object-ownership"]);
            let mut c = s3.create_bucket().bucket(bucket);
            if let Some(o) = &own {
                c = c.object_ownership(s3t::ObjectOwnership::from(o.as_str()));
            }
            if let Some(a) = &canned {
                c = c.acl(s3t::BucketCannedAcl::from(a.as_str()));
            }
            let has_acl = canned.is_some() || !grant_headers(p).is_empty();
            with_grants!(c, p)
                .send()
                .await
                .map_err(|e| err("CreateBucket", e))?;
            if has_acl {
                // The call succeeded with an ACL, so BlockPublicAcls was off (docs/DESIGN.md §3).
                let _ = s3.delete_public_access_block().bucket(bucket).send().await;
            } else {
                s3.put_public_access_block()
                    .bucket(bucket)
                    .public_access_block_configuration(
                        s3t::PublicAccessBlockConfiguration::builder()
                            .block_public_acls(true)
                            .ignore_public_acls(true)
                            .block_public_policy(true)
                            .restrict_public_buckets(true)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| err("PutPublicAccessBlock (default)", e))?;
            }
            if own.is_none() {
                s3.put_bucket_ownership_controls()
                    .bucket(bucket)
                    .ownership_controls(
                        s3t::OwnershipControls::builder()
                            .rules(
                                s3t::OwnershipControlsRule::builder()
                                    .object_ownership(s3t::ObjectOwnership::BucketOwnerEnforced)
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                    .map_err(|e| err("PutBucketOwnershipControls (default)", e))?;
            }
        }
        "DeleteBucket" => {
            let listed = s3
                .list_objects_v2()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("ListObjectsV2", e))?;
            for o in listed.contents() {
                let _ = s3
                    .delete_object()
                    .bucket(bucket)
                    .key(o.key().unwrap_or_default())
                    .send()
                    .await;
            }
            s3.delete_bucket()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("DeleteBucket", e))?;
        }
        "PutBucketAcl" => {
            let mut r = s3.put_bucket_acl().bucket(bucket);
            if let Some(a) = &canned {
                r = r.acl(s3t::BucketCannedAcl::from(a.as_str()));
            }
            if p["AccessControlPolicy"].is_object() {
                r = r.access_control_policy(access_control_policy(&p["AccessControlPolicy"]));
            } else if !grant_headers(p).is_empty() {
                let owner = s3
                    .get_bucket_acl()
                    .bucket(bucket)
                    .send()
                    .await
                    .map_err(|e| err("GetBucketAcl", e))?
                    .owner()
                    .cloned();
                r = r.access_control_policy(header_grants_as_policy(p, owner));
            }
            r.send().await.map_err(|e| err("PutBucketAcl", e))?;
        }
        "PutBucketPolicy" => {
            let policy = match &p["bucketPolicy"] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            s3.put_bucket_policy()
                .bucket(bucket)
                .policy(policy)
                .send()
                .await
                .map_err(|e| err("PutBucketPolicy", e))?;
        }
        "DeleteBucketPolicy" => {
            s3.delete_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("DeleteBucketPolicy", e))?;
        }
        "PutBucketPublicAccessBlock" => {
            let c = &p["PublicAccessBlockConfiguration"];
            s3.put_public_access_block()
                .bucket(bucket)
                .public_access_block_configuration(
                    s3t::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(flag(&c["BlockPublicAcls"]))
                        .ignore_public_acls(flag(&c["IgnorePublicAcls"]))
                        .block_public_policy(flag(&c["BlockPublicPolicy"]))
                        .restrict_public_buckets(flag(&c["RestrictPublicBuckets"]))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| err("PutPublicAccessBlock", e))?;
        }
        "DeleteBucketPublicAccessBlock" => {
            s3.delete_public_access_block()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("DeletePublicAccessBlock", e))?;
        }
        "PutBucketOwnershipControls" => {
            let o = p["OwnershipControls"]["Rule"]["ObjectOwnership"]
                .as_str()
                .unwrap_or("BucketOwnerEnforced");
            s3.put_bucket_ownership_controls()
                .bucket(bucket)
                .ownership_controls(
                    s3t::OwnershipControls::builder()
                        .rules(
                            s3t::OwnershipControlsRule::builder()
                                .object_ownership(s3t::ObjectOwnership::from(o))
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .map_err(|e| err("PutBucketOwnershipControls", e))?;
        }
        "DeleteBucketOwnershipControls" => {
            s3.delete_bucket_ownership_controls()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("DeleteBucketOwnershipControls", e))?;
        }
        "PutObjectAcl" => {
            let k = key.ok_or("PutObjectAcl without key")?;
            ensure_object(s3, bucket, k).await?;
            let mut r = s3.put_object_acl().bucket(bucket).key(k);
            if let Some(a) = &canned {
                r = r.acl(s3t::ObjectCannedAcl::from(a.as_str()));
            }
            if p["AccessControlPolicy"].is_object() {
                r = r.access_control_policy(access_control_policy(&p["AccessControlPolicy"]));
            } else if !grant_headers(p).is_empty() {
                let owner = s3
                    .get_object_acl()
                    .bucket(bucket)
                    .key(k)
                    .send()
                    .await
                    .map_err(|e| err("GetObjectAcl", e))?
                    .owner()
                    .cloned();
                r = r.access_control_policy(header_grants_as_policy(p, owner));
            }
            r.send().await.map_err(|e| err("PutObjectAcl", e))?;
        }
        "PutObject" | "CopyObject" | "CreateMultipartUpload" => {
            let k = key.ok_or("object write without key")?;
            let mut r = s3
                .put_object()
                .bucket(bucket)
                .key(k)
                .body(b"differential".to_vec().into());
            if let Some(a) = &canned {
                r = r.acl(s3t::ObjectCannedAcl::from(a.as_str()));
            }
            with_object_grants!(r, p)
                .send()
                .await
                .map_err(|e| err(name, e))?;
        }
        "PutBucketTagging" => {
            let tags = as_list(&p["Tagging"]["TagSet"]["Tag"])
                .iter()
                .map(|t| {
                    s3t::Tag::builder()
                        .key(t["Key"].as_str().unwrap_or_default())
                        .value(t["Value"].as_str().unwrap_or_default())
                        .build()
                        .unwrap()
                })
                .collect();
            s3.put_bucket_tagging()
                .bucket(bucket)
                .tagging(
                    s3t::Tagging::builder()
                        .set_tag_set(Some(tags))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .map_err(|e| err("PutBucketTagging", e))?;
        }
        "DeleteBucketTagging" => {
            s3.delete_bucket_tagging()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("DeleteBucketTagging", e))?;
        }
        "PutBucketWebsite" => {
            let suffix = p["WebsiteConfiguration"]["IndexDocument"]["Suffix"]
                .as_str()
                .unwrap_or("index.html");
            s3.put_bucket_website()
                .bucket(bucket)
                .website_configuration(
                    s3t::WebsiteConfiguration::builder()
                        .index_document(
                            s3t::IndexDocument::builder()
                                .suffix(suffix)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(|e| err("PutBucketWebsite", e))?;
        }
        "DeleteBucketWebsite" => {
            s3.delete_bucket_website()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("DeleteBucketWebsite", e))?;
        }
        _ => {}
    }
    Ok(())
}
