//! Remediation (docs/DESIGN.md §6): turns a bucket's PublicAccessBlock fully on and tags it, or resets an
//! exposed object's ACL to private. Only ever narrows access. Owns the S3 writes; deciding whether
//! to act is the decision and verification's job.

use std::time::Duration;

use aws_sdk_s3::types::{ObjectCannedAcl, PublicAccessBlockConfiguration, Tag, Tagging};

use crate::aws::backoff::Backoff;
use crate::aws::error::{from_sdk, AwsError, Kind};
use crate::aws::s3_read;
use crate::aws::Clients;

pub const REMEDIATED_TAG: &str = "bucketwarden:remediated";

/// What was done, for the incident record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    BucketBlocked,
    ObjectAclReset,
}

impl Applied {
    pub fn as_str(&self) -> &'static str {
        match self {
            Applied::BucketBlocked => "bucket_block_on",
            Applied::ObjectAclReset => "object_acl_private",
        }
    }
}

/// Applies remediation through S3 (live) or records what would be done (tests of the worker run
/// against the emulator with the live one; there is deliberately no fake).
pub trait Remediator {
    fn remediate_bucket(
        &self,
        bucket: &str,
        now_rfc3339: &str,
    ) -> impl std::future::Future<Output = Result<Applied, AwsError>> + Send;
    fn remediate_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl std::future::Future<Output = Result<Applied, AwsError>> + Send;
}

#[derive(Clone, Debug)]
pub struct S3Remediator {
    clients: Clients,
    /// Attempts on AccessDenied and throttling before the outcome is `failed`.
    pub attempts: u32,
    pub backoff_base: Duration,
}

impl S3Remediator {
    pub fn new(clients: Clients, attempts: u32) -> S3Remediator {
        S3Remediator {
            clients,
            attempts: attempts.max(1),
            backoff_base: Duration::from_millis(200),
        }
    }

    async fn retrying<F, Fut>(&self, what: &str, mut f: F) -> Result<(), AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), AwsError>>,
    {
        let mut backoff = Backoff::new(
            self.backoff_base,
            Duration::from_secs(5),
            what.len() as u64 ^ 0x5eed,
        );
        let mut last = None;
        for attempt in 0..self.attempts {
            match f().await {
                Ok(()) => return Ok(()),
                // AccessDenied can be a permission still propagating; the rest may pass on retry.
                Err(e) if e.retryable() || e.is(Kind::AccessDenied) => {
                    tracing::warn!(attempt, error = %e, "{what} failed, retrying");
                    last = Some(e);
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    async fn existing_tags(&self, bucket: &str) -> Result<Vec<Tag>, AwsError> {
        match s3_read::tag_set(&self.clients, bucket).await {
            Ok(tags) => Ok(tags
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("complete"))
                .collect()),
            Err(e) if e.is(Kind::NotFound) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn tag_bucket(&self, bucket: &str, now: &str) -> Result<(), AwsError> {
        let existing = self.existing_tags(bucket).await?;
        self.put_tags(bucket, now, existing).await
    }

    /// PutBucketTagging replaces the whole set: keep the bucket's other tags.
    async fn put_tags(&self, bucket: &str, now: &str, existing: Vec<Tag>) -> Result<(), AwsError> {
        let mut tags: Vec<Tag> = existing
            .into_iter()
            .filter(|t| t.key() != REMEDIATED_TAG)
            .collect();
        tags.push(
            Tag::builder()
                .key(REMEDIATED_TAG)
                .value(now)
                .build()
                .expect("complete"),
        );
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .expect("complete");
        self.clients
            .s3
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("s3", "PutBucketTagging", e))
    }
}

impl Remediator for S3Remediator {
    async fn remediate_bucket(&self, bucket: &str, now: &str) -> Result<Applied, AwsError> {
        // The tag set is read while the block is written; the tag is written only once the
        // block is on, so a bucket is never tagged remediated while still open.
        let block = self.retrying("PutPublicAccessBlock", || async {
            self.clients
                .s3
                .put_public_access_block()
                .bucket(bucket)
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk("s3", "PutPublicAccessBlock", e))
        });
        let (block, existing) = tokio::join!(block, self.existing_tags(bucket));
        block?;
        // The block is what protects; a failed tag is reported but does not undo it.
        let tagged = match existing {
            Ok(tags) => {
                self.retrying("PutBucketTagging", || {
                    self.put_tags(bucket, now, tags.clone())
                })
                .await
            }
            Err(_) => {
                self.retrying("PutBucketTagging", || self.tag_bucket(bucket, now))
                    .await
            }
        };
        if let Err(e) = tagged {
            tracing::warn!(bucket, error = %e, "bucket blocked but could not be tagged");
        }
        Ok(Applied::BucketBlocked)
    }

    async fn remediate_object(&self, bucket: &str, key: &str) -> Result<Applied, AwsError> {
        self.retrying("PutObjectAcl", || async {
            self.clients
                .s3
                .put_object_acl()
                .bucket(bucket)
                .key(key)
                .acl(ObjectCannedAcl::Private)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk("s3", "PutObjectAcl", e))
        })
        .await?;
        Ok(Applied::ObjectAclReset)
    }
}
