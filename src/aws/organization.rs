//! The organization's accounts from AWS Organizations' ListAccounts (every page), keeping those
//! `core::accounts::is_active` keeps, for `[accounts] allowed = "organization"`. Owns that one
//! call and the wording of its refusal; caching, refresh timing and admission are
//! `aws::accounts` / `core::accounts`', and it must not assume any role.

use aws_config::SdkConfig;

use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::core::accounts::is_active;

/// AWS (ListAccounts): "You can only call this operation from the management account or a member
/// account that is a delegated administrator." A fleet elsewhere is refused with AccessDenied,
/// and an account in no organization with AWSOrganizationsNotInUseException.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(
        "{code}: organizations ListAccounts refused ({message}): \
         [accounts] allowed = \"organization\" needs the fleet to run in the organization's \
         management account or a delegated administrator for AWS Organizations, with \
         organizations:ListAccounts; run the fleet in the management or a delegated admin \
         account, or list `allowed` explicitly",
        code = .0.code, message = .0.message
    )]
    Refused(AwsError),
    #[error("organizations ListAccounts failed: {0}")]
    Failed(AwsError),
}

impl ListError {
    /// A refusal needs a person (another account, a delegation or an explicit list); anything
    /// else is as retryable as its AWS error.
    pub fn retryable(&self) -> bool {
        match self {
            ListError::Refused(_) => false,
            ListError::Failed(e) => e.retryable(),
        }
    }
}

fn classify(e: AwsError) -> ListError {
    if e.is(Kind::AccessDenied) || e.code == "AWSOrganizationsNotInUseException" {
        ListError::Refused(e)
    } else {
        ListError::Failed(e)
    }
}

/// The Organizations client for `base` (its credentials and endpoint; Organizations has one
/// endpoint per partition, which the SDK resolves from any region).
pub fn client(base: &SdkConfig) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::new(base)
}

/// AWS's largest ListAccounts page (the service model's `MaxResults`: 1 to 20).
pub const PAGE_SIZE: i32 = 20;

/// The ids of the organization's ACTIVE accounts, every page read, in the order listed.
pub async fn active_accounts(
    client: &aws_sdk_organizations::Client,
) -> Result<Vec<String>, ListError> {
    active_accounts_in_pages(client, PAGE_SIZE).await
}

/// [`active_accounts`] asking for pages of `page_size` accounts (a test shows every page is read).
/// AWS: "These operations can occasionally return an empty set of results even when there are
/// more results available. The NextToken response parameter value is null only when there are no
/// more results to display": so the token alone ends the listing, never an empty page.
pub async fn active_accounts_in_pages(
    client: &aws_sdk_organizations::Client,
    page_size: i32,
) -> Result<Vec<String>, ListError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_accounts()
            .max_results(page_size)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| classify(from_sdk("organizations", "ListAccounts", e)))?;
        for a in page.accounts() {
            let state = a.state().map(|s| s.as_str());
            let status = a.status().map(|s| s.as_str());
            if let Some(id) = a.id().filter(|_| is_active(state, status)) {
                out.push(id.to_owned());
            }
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => {
                if token.as_deref() == Some(next) {
                    return Err(ListError::Failed(AwsError::other(
                        "organizations",
                        "ListAccounts",
                        "the same NextToken twice: stopped rather than loop",
                    )));
                }
                token = Some(next.to_owned());
            }
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str, kind: Kind) -> AwsError {
        AwsError {
            service: "organizations",
            operation: "ListAccounts",
            kind,
            code: code.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn a_refusal_says_where_the_fleet_must_run_and_is_not_retried() {
        for e in [
            err("AccessDeniedException", Kind::AccessDenied),
            err("AWSOrganizationsNotInUseException", Kind::Other),
        ] {
            let code = e.code.clone();
            let l = classify(e);
            assert!(matches!(l, ListError::Refused(_)));
            assert!(!l.retryable());
            let text = l.to_string();
            assert!(text.starts_with(&code), "{text}");
            assert!(
                text.contains("management or a delegated admin account")
                    && text.contains("list `allowed` explicitly"),
                "{text}"
            );
        }
        let throttled = classify(err("TooManyRequestsException", Kind::Throttled));
        assert!(matches!(throttled, ListError::Failed(_)) && throttled.retryable());
    }
}
