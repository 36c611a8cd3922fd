//! Reading IAM for `bucketwarden doctor`: a role's inline and attached policy documents, and an
//! SDK configuration acting as an assumed role (one AssumeRole, static credentials: doctor is
//! short-lived). Owns the reads only; whether the policies grant what the code calls is judged
//! in `commands::doctor::role`.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::SharedCredentialsProvider;

use crate::aws::error::{from_sdk, AwsError};

/// One policy document of a role, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDoc {
    /// `inline NAME` or `attached ARN`.
    pub source: String,
    /// The document as JSON text (URL-decoded).
    pub document: String,
}

/// `base` acting as `role_arn` (AssumeRole with `external_id` when set).
pub async fn assume(
    base: &SdkConfig,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<SdkConfig, AwsError> {
    let sts = aws_sdk_sts::Client::new(base);
    let r = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("bucketwarden-doctor")
        .set_external_id(external_id.map(str::to_owned))
        .send()
        .await
        .map_err(|e| from_sdk("sts", "AssumeRole", e))?;
    let c = r
        .credentials()
        .ok_or_else(|| AwsError::other("sts", "AssumeRole", "the answer carries no credentials"))?;
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        None,
        "bucketwarden-doctor",
    );
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build())
}

/// IAM returns policy documents URL-encoded (RFC 3986); moto returns some as plain JSON.
fn decode(doc: &str) -> String {
    if doc.trim_start().starts_with('{') {
        return doc.to_owned();
    }
    percent_encoding::percent_decode_str(doc)
        .decode_utf8_lossy()
        .into_owned()
}

/// Every inline and attached (default version) policy document of the role `role_name`;
/// `Ok(None)` when the role does not exist.
pub async fn role_policies(
    iam: &aws_sdk_iam::Client,
    role_name: &str,
) -> Result<Option<Vec<PolicyDoc>>, AwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = match iam
            .list_role_policies()
            .role_name(role_name)
            .set_marker(marker.take())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => {
                let e = from_sdk("iam", "ListRolePolicies", e);
                if e.code == "NoSuchEntity" {
                    return Ok(None);
                }
                return Err(e);
            }
        };
        for name in page.policy_names() {
            let p = iam
                .get_role_policy()
                .role_name(role_name)
                .policy_name(name)
                .send()
                .await
                .map_err(|e| from_sdk("iam", "GetRolePolicy", e))?;
            out.push(PolicyDoc {
                source: format!("inline {name}"),
                document: decode(p.policy_document()),
            });
        }
        match (page.is_truncated(), page.marker()) {
            (true, Some(m)) => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_attached_role_policies()
            .role_name(role_name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| from_sdk("iam", "ListAttachedRolePolicies", e))?;
        for p in page.attached_policies() {
            let Some(arn) = p.policy_arn() else { continue };
            let policy = iam
                .get_policy()
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| from_sdk("iam", "GetPolicy", e))?;
            let version = policy
                .policy()
                .and_then(|p| p.default_version_id())
                .unwrap_or("v1")
                .to_owned();
            let v = iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(&version)
                .send()
                .await
                .map_err(|e| from_sdk("iam", "GetPolicyVersion", e))?;
            let doc = v
                .policy_version()
                .and_then(|v| v.document())
                .unwrap_or_default();
            out.push(PolicyDoc {
                source: format!("attached {arn}"),
                document: decode(doc),
            });
        }
        match (page.is_truncated(), page.marker()) {
            (true, Some(m)) => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    Ok(Some(out))
}
