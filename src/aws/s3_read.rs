//! Verify before act (docs/DESIGN.md §6): reads a bucket's (or object's) live access settings from S3 and
//! S3 Control and judges them with the same exposure code as the fold. Events can be stale,
//! duplicated or forged; this read is the ground truth. Owns reading only; it never writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::types::{Grant, Type as GranteeType};
use tokio::sync::OnceCell;

use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::aws::Clients;
use crate::core::acl::Acl;
use crate::core::exposure::{BlockConfig, BlockFlags, Exposure, Ownership};
use crate::core::fold::{self, BlockState, BucketState, Stamped};
use crate::core::policy;

/// What S3 says now.
#[derive(Debug, Clone)]
pub struct LiveBucket {
    /// Bucket components, stamped with the event time so later events still win.
    pub state: BucketState,
    pub account_block: BlockFlags,
    /// S3's own verdict on the policy (GetBucketPolicyStatus), where available.
    pub policy_status_public: Option<bool>,
    pub exposure: Exposure,
}

fn acl_from_grants(grants: &[Grant]) -> Result<Acl, AwsError> {
    // Reuse the CloudTrail ACL parser on the same XML-shaped JSON, so live and replay agree.
    let items: Vec<serde_json::Value> = grants
        .iter()
        .map(|g| {
            let grantee = g.grantee();
            let mut gv = serde_json::Map::new();
            if let Some(gr) = grantee {
                let kind = match gr.r#type() {
                    GranteeType::Group => "Group",
                    GranteeType::CanonicalUser => "CanonicalUser",
                    GranteeType::AmazonCustomerByEmail => "AmazonCustomerByEmail",
                    _ => "Unknown",
                };
                gv.insert("xsi:type".into(), kind.into());
                if let Some(uri) = gr.uri() {
                    gv.insert("URI".into(), uri.into());
                }
                if let Some(id) = gr.id() {
                    gv.insert("ID".into(), id.into());
                }
                if let Some(e) = gr.email_address() {
                    gv.insert("EmailAddress".into(), e.into());
                }
            }
            serde_json::json!({"Grantee": gv, "Permission": g.permission().map(|p| p.as_str()).unwrap_or("READ")})
        })
        .collect();
    let body = serde_json::json!({"AccessControlPolicy": {"AccessControlList": {"Grant": items}}});
    Acl::from_request(&body)
        .map_err(|e| AwsError::other("s3", "GetBucketAcl", e.to_string()))
        .map(|a| a.unwrap_or(Acl::PRIVATE))
}

/// Account-level PublicAccessBlock reads shared by the verifications of one batch: one S3 Control
/// read per account however many buckets the batch verifies, and concurrent verifications wait
/// for the one read in flight instead of each issuing their own. Live only as long as the batch
/// that made it (seconds): an account block turned off meanwhile is seen by the next batch, and
/// the reconciler re-reads every bucket in any case. A failed read is not remembered.
#[derive(Clone, Debug, Default)]
pub struct AccountBlocks {
    cells: Arc<Mutex<HashMap<String, Arc<OnceCell<BlockFlags>>>>>,
}

impl AccountBlocks {
    pub async fn get(&self, clients: &Clients, account: &str) -> Result<BlockFlags, AwsError> {
        let cell = self
            .cells
            .lock()
            .expect("account blocks lock")
            .entry(account.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| read_account_block(clients, account))
            .await
            .copied()
    }
}

/// A bucket's live read shared by the object events of one lane step: the object events of a
/// bucket between two bucket-level events (`core::lanes`) see one bucket configuration by
/// construction, as far as the stream tells, so one read serves them all instead of one read per
/// object. Concurrent events wait for the read in flight; a failed read is not remembered. Live
/// only for one step of one chunk (seconds), like [`AccountBlocks`]; a change made behind the
/// stream's back meanwhile is seen by the next step and by the reconciler. Must not be used where
/// an event's own effect changes the bucket's settings (`objects = "bucket-block"`).
#[derive(Clone, Debug, Default)]
pub struct BucketReads {
    cells: Arc<Mutex<HashMap<String, Arc<OnceCell<LiveBucket>>>>>,
}

impl BucketReads {
    /// The bucket's read, made by `read` if no event of the step has made it yet.
    pub async fn get<F, Fut>(&self, bucket: &str, read: F) -> Result<LiveBucket, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<LiveBucket, AwsError>>,
    {
        let cell = self
            .cells
            .lock()
            .expect("bucket reads lock")
            .entry(bucket.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(read).await.cloned()
    }
}

fn not_found_is(kind_ok: &AwsError) -> bool {
    kind_ok.is(Kind::NotFound)
}

pub async fn read_account_block(clients: &Clients, account: &str) -> Result<BlockFlags, AwsError> {
    match clients
        .s3control
        .get_public_access_block()
        .account_id(account)
        .send()
        .await
    {
        Ok(r) => Ok(BlockFlags::known(config_of(
            r.public_access_block_configuration(),
        ))),
        Err(e) => {
            let e = from_sdk("s3control", "GetPublicAccessBlock", e);
            if not_found_is(&e) || e.code.contains("NoSuchPublicAccessBlockConfiguration") {
                Ok(BlockFlags::known(BlockConfig::ALL_OFF))
            } else {
                Err(e)
            }
        }
    }
}

fn config_of(c: Option<&aws_sdk_s3control::types::PublicAccessBlockConfiguration>) -> BlockConfig {
    BlockConfig {
        block_public_acls: c.and_then(|c| c.block_public_acls()).unwrap_or(false),
        ignore_public_acls: c.and_then(|c| c.ignore_public_acls()).unwrap_or(false),
        block_public_policy: c.and_then(|c| c.block_public_policy()).unwrap_or(false),
        restrict_public_buckets: c.and_then(|c| c.restrict_public_buckets()).unwrap_or(false),
    }
}

/// Every bucket name of the account, in ListBuckets order.
pub async fn list_buckets(clients: &Clients) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let r = clients
            .s3
            .list_buckets()
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| from_sdk("s3", "ListBuckets", e))?;
        out.extend(
            r.buckets()
                .iter()
                .filter_map(|b| b.name().map(str::to_owned)),
        );
        match r.continuation_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// The region the bucket lives in (GetBucketLocation).
pub async fn bucket_region(clients: &Clients, bucket: &str) -> Result<String, AwsError> {
    bucket_location(&clients.s3, bucket).await
}

/// GetBucketLocation with any S3 client (e.g. a member account's, `aws::accounts`).
pub async fn bucket_location(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<String, AwsError> {
    let r = s3
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| from_sdk("s3", "GetBucketLocation", e))?;
    Ok(region_of_location(
        r.location_constraint().map(|c| c.as_str()),
    ))
}

/// GetBucketLocation's answer as a region: none or empty is us-east-1 (as S3 has always
/// answered), `EU` the legacy name of eu-west-1.
fn region_of_location(constraint: Option<&str>) -> String {
    match constraint {
        None | Some("") => "us-east-1".into(),
        Some("EU") => "eu-west-1".into(),
        Some(r) => r.to_owned(),
    }
}

/// The bucket's tag set in S3's order, empty when it has none (NoSuchTagSet). The one reader of
/// GetBucketTagging: exemptions read it sorted, remediation keeps it when it adds its own tag.
pub async fn tag_set(clients: &Clients, bucket: &str) -> Result<Vec<(String, String)>, AwsError> {
    match clients.s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(r) => Ok(r
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()),
        Err(e) => {
            let e = from_sdk("s3", "GetBucketTagging", e);
            if e.code == "NoSuchTagSet" {
                Ok(Vec::new())
            } else {
                Err(e)
            }
        }
    }
}

/// The bucket's tags, sorted (none when it has no tag set), for exemptions by tag.
pub async fn bucket_tags(
    clients: &Clients,
    bucket: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let mut t = tag_set(clients, bucket).await?;
    t.sort();
    Ok(t)
}

/// Reads the bucket's block, ACL, policy, ownership and the account's block (through `accounts`,
/// shared by a batch). S3's own policy verdict is read only when it can change the outcome.
pub async fn read_bucket(
    clients: &Clients,
    bucket: &str,
    account: &str,
    at: i64,
    accounts: AccountBlocks,
) -> Result<LiveBucket, AwsError> {
    let s3 = &clients.s3;
    // Independent reads, issued together: verification sits between an exposure and its fix.
    let block = async {
        match s3.get_public_access_block().bucket(bucket).send().await {
            Ok(r) => {
                let c = r.public_access_block_configuration();
                Ok(BlockConfig {
                    block_public_acls: c.and_then(|c| c.block_public_acls()).unwrap_or(false),
                    ignore_public_acls: c.and_then(|c| c.ignore_public_acls()).unwrap_or(false),
                    block_public_policy: c.and_then(|c| c.block_public_policy()).unwrap_or(false),
                    restrict_public_buckets: c
                        .and_then(|c| c.restrict_public_buckets())
                        .unwrap_or(false),
                })
            }
            Err(e) => {
                let e = from_sdk("s3", "GetPublicAccessBlock", e);
                if e.code.contains("NoSuchPublicAccessBlockConfiguration") {
                    Ok(BlockConfig::ALL_OFF)
                } else {
                    Err(e)
                }
            }
        }
    };
    let acl = async {
        let r = s3
            .get_bucket_acl()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| from_sdk("s3", "GetBucketAcl", e))?;
        acl_from_grants(r.grants())
    };
    let policy = async {
        match s3.get_bucket_policy().bucket(bucket).send().await {
            // None: the bucket has no policy at all (as against one found not public).
            Ok(r) => Ok(r
                .policy()
                .map(|p| policy::analyze(&serde_json::Value::String(p.to_owned())))),
            Err(e) => {
                let e = from_sdk("s3", "GetBucketPolicy", e);
                if e.code == "NoSuchBucketPolicy" {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    };
    let ownership = async {
        match s3
            .get_bucket_ownership_controls()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(r) => Ok(r
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .and_then(|rule| Ownership::parse(rule.object_ownership().as_str()))
                .unwrap_or(Ownership::ObjectWriter)),
            Err(e) => {
                let e = from_sdk("s3", "GetBucketOwnershipControls", e);
                if e.code == "OwnershipControlsNotFoundError" {
                    Ok(Ownership::ObjectWriter)
                } else {
                    Err(e)
                }
            }
        }
    };
    let account_block = accounts.get(clients, account);
    let (block, acl, policy, ownership, account_block) =
        tokio::join!(block, acl, policy, ownership, account_block);
    let (block, acl, policy, ownership, account_block) =
        (block?, acl?, policy?, ownership?, account_block?);
    let has_policy = policy.is_some();
    let policy = policy.unwrap_or_default();
    let state = BucketState {
        account: account.to_owned(),
        // Read from S3: confirmed, unlike what an event on the stream claims.
        acl: Some(Stamped {
            value: acl,
            at,
            live: true,
        }),
        policy: Some(Stamped {
            value: policy,
            at,
            live: true,
        }),
        ownership: Some(Stamped {
            value: ownership,
            at,
            live: true,
        }),
        block: BlockState::live(BlockFlags::known(block), at),
        ..BucketState::default()
    };
    let core_policy_public = state.policy.as_ref().is_some_and(|p| p.value.is_public());
    let restricted =
        account_block.restrict_public_buckets.unwrap_or(false) || block.restrict_public_buckets;
    let core_exposure = fold::exposure_of(&state, account_block);
    // S3's own verdict is a second opinion (combined by `with_policy_status`). It can only turn
    // the outcome when there is a policy, nothing is found public, and RestrictPublicBuckets is
    // off; otherwise the read is skipped (and its reason is not named beside an ACL's).
    let policy_status_public =
        if policy_status_can_matter(has_policy, core_exposure.public, restricted) {
            match s3.get_bucket_policy_status().bucket(bucket).send().await {
                Ok(r) => r.policy_status().and_then(|s| s.is_public()),
                Err(_) => None,
            }
        } else {
            None
        };
    let exposure = with_policy_status(
        core_exposure,
        core_policy_public,
        policy_status_public,
        restricted,
    );
    Ok(LiveBucket {
        state,
        account_block,
        policy_status_public,
        exposure,
    })
}

/// Whether S3's GetBucketPolicyStatus verdict could turn a "not exposed" into "exposed": only
/// with a policy present, nothing found public already, and RestrictPublicBuckets off.
pub fn policy_status_can_matter(has_policy: bool, already_public: bool, restricted: bool) -> bool {
    has_policy && !already_public && !restricted
}

/// S3's own verdict on the policy (`GetBucketPolicyStatus.IsPublic`) combined with the core's,
/// on the safer side (docs/REASONS.md): when S3 calls the policy public and the core does not,
/// the bucket is exposed (reason `policy:s3-policy-status-public`) unless RestrictPublicBuckets
/// is on at the account or the bucket, which neutralises any public policy; when the core calls
/// it public and S3 does not, the core's verdict stands — it departs from S3's only where AWS's
/// text leaves room and it chose the cautious side, and the remedy (the block turned on) changes
/// nothing for a policy S3 deems non-public ("RestrictPublicBuckets only applies to buckets that
/// have public policies"). An unreadable status (`None`) changes nothing.
pub fn with_policy_status(
    mut exposure: Exposure,
    core_policy_public: bool,
    s3_says_public: Option<bool>,
    restricted: bool,
) -> Exposure {
    if s3_says_public == Some(true) && !core_policy_public && !restricted {
        exposure.public = true;
        exposure
            .reasons
            .push("policy:s3-policy-status-public".into());
    }
    exposure
}

/// Reads one object's ACL and judges it under the live bucket settings.
pub async fn read_object(
    clients: &Clients,
    live: &LiveBucket,
    bucket: &str,
    key: &str,
) -> Result<(Acl, Exposure), AwsError> {
    let r = clients
        .s3
        .get_object_acl()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| from_sdk("s3", "GetObjectAcl", e))?;
    let acl = acl_from_grants(r.grants())?;
    Ok((
        acl,
        fold::object_exposure_of(&live.state, &acl, live.account_block),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(public: bool) -> LiveBucket {
        LiveBucket {
            state: BucketState::default(),
            account_block: BlockFlags::default(),
            policy_status_public: None,
            exposure: Exposure {
                public,
                ..Exposure::default()
            },
        }
    }

    #[tokio::test]
    async fn the_object_events_of_a_step_share_one_read_of_their_bucket() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let reads = AtomicUsize::new(0);
        let shared = BucketReads::default();
        let read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(live(true))
        };
        // Side by side: the later callers wait for the read in flight.
        let (a, b, c) = tokio::join!(
            shared.get("b", read),
            shared.get("b", read),
            shared.get("b", read)
        );
        assert!(a.unwrap().exposure.public && b.is_ok() && c.is_ok());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Another bucket has its own read.
        shared.get("other", read).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_bucket_read_is_not_shared() {
        let shared = BucketReads::default();
        let failed = shared
            .get("b", || async {
                Err(AwsError::other("s3", "GetBucketAcl", "injected".to_owned()))
            })
            .await;
        assert!(failed.is_err());
        let again = shared.get("b", || async { Ok(live(false)) }).await;
        assert!(!again.unwrap().exposure.public, "the next event reads anew");
    }

    // GetBucketPolicyStatus: "Retrieves the policy status for an Amazon S3 bucket, indicating
    // whether the bucket is public" — a verdict on the bucket policy alone, so without a policy
    // it has nothing to say, and once the bucket is judged public it cannot add anything.
    #[test]
    fn policy_status_is_read_only_when_it_can_turn_the_verdict() {
        assert!(policy_status_can_matter(true, false, false));
        assert!(!policy_status_can_matter(false, false, false), "no policy");
        assert!(
            !policy_status_can_matter(true, true, false),
            "already public"
        );
        assert!(
            !policy_status_can_matter(true, false, true),
            "RestrictPublicBuckets makes a public policy reach only the account"
        );
    }

    fn exposure(public: bool, reasons: &[&str]) -> Exposure {
        Exposure {
            public,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            assumed: false,
        }
    }

    #[test]
    fn s3_calling_the_policy_public_exposes_the_bucket_unless_restricted() {
        // S3 says public, the core does not (e.g. a condition key AWS does not list).
        let got = with_policy_status(exposure(false, &[]), false, Some(true), false);
        assert_eq!(got, exposure(true, &["policy:s3-policy-status-public"]));
        // Also named when the bucket is already exposed by its ACL.
        let got = with_policy_status(
            exposure(true, &["acl:AllUsers:READ"]),
            false,
            Some(true),
            false,
        );
        assert_eq!(
            got,
            exposure(
                true,
                &["acl:AllUsers:READ", "policy:s3-policy-status-public"]
            )
        );
        // AWS: RestrictPublicBuckets "restricts access to an access point or bucket with a
        // public policy to only AWS service principals and authorized users within the bucket
        // owner's account".
        let got = with_policy_status(exposure(false, &[]), false, Some(true), true);
        assert_eq!(got, exposure(false, &[]));
    }

    #[test]
    fn the_core_calling_the_policy_public_stands_when_s3_does_not() {
        let core = exposure(true, &["policy:S1:principal-federated"]);
        assert_eq!(
            with_policy_status(core.clone(), true, Some(false), false),
            core
        );
        // No status (not readable): the core's verdict alone.
        assert_eq!(with_policy_status(core.clone(), true, None, false), core);
        let private = exposure(false, &[]);
        assert_eq!(
            with_policy_status(private.clone(), false, None, false),
            private
        );
        assert_eq!(
            with_policy_status(private.clone(), false, Some(false), false),
            private
        );
    }

    #[test]
    fn bucket_locations_map_to_regions() {
        // AWS (GetBucketLocation): "Buckets in Region us-east-1 have a LocationConstraint of
        // null. Buckets with a LocationConstraint of EU reside in eu-west-1."
        assert_eq!(region_of_location(None), "us-east-1");
        assert_eq!(region_of_location(Some("")), "us-east-1");
        assert_eq!(region_of_location(Some("EU")), "eu-west-1");
        assert_eq!(region_of_location(Some("ap-south-1")), "ap-south-1");
    }
}
