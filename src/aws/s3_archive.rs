//! Reads a CloudTrail archive in S3 for replay: lists "directories" (common prefixes) and objects
//! under a prefix, page by page, and fetches one object's bytes. Counts its requests so a replay
//! can report them. Owns these calls only; which prefixes to list is decided by the layout
//! (core::archive) and the caller, never here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use bytes::Bytes;

use crate::aws::error::{from_sdk, AwsError, Kind};

/// Requests made, by operation.
#[derive(Debug, Default)]
pub struct Requests {
    pub list: AtomicU64,
    pub get: AtomicU64,
}

/// One bucket's archive, shared by every download job.
#[derive(Clone, Debug)]
pub struct S3Archive {
    client: aws_sdk_s3::Client,
    pub bucket: String,
    pub requests: Arc<Requests>,
}

/// An object as listed: key and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

impl S3Archive {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> S3Archive {
        S3Archive {
            client,
            bucket: bucket.into(),
            requests: Arc::default(),
        }
    }

    /// The common prefixes one level below `prefix` (ListObjectsV2 with delimiter `/`).
    pub async fn dirs(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
        let mut out = Vec::new();
        self.pages(prefix, Some("/"), None, |page| {
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
            true
        })
        .await?;
        Ok(out)
    }

    /// One level of `prefix` (ListObjectsV2 with delimiter `/`): the common prefixes below it and
    /// the objects directly at it (the loose files beside those directories).
    pub async fn level(&self, prefix: &str) -> Result<(Vec<String>, Vec<Listed>), AwsError> {
        let (mut dirs, mut files) = (Vec::new(), Vec::new());
        self.pages(prefix, Some("/"), None, |page| {
            dirs.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
            files.extend(page.contents().iter().filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                })
            }));
            true
        })
        .await?;
        Ok((dirs, files))
    }

    /// Every object under `prefix` in key order, starting after `start_after` and stopping at the
    /// first key for which `past_end` holds (ListObjectsV2 returns keys in ascending order, so
    /// nothing after it is wanted and no further page is requested).
    pub async fn files(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        past_end: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Listed>, AwsError> {
        let mut out = Vec::new();
        self.pages(prefix, None, start_after, |page| {
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                if past_end(key) {
                    return false;
                }
                out.push(Listed {
                    key: key.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                });
            }
            true
        })
        .await?;
        Ok(out)
    }

    /// Lists `prefix` page by page (ListObjectsV2 with `delimiter` and `start_after`), handing
    /// each page to `each`, which answers whether to go on to the next.
    async fn pages(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
        mut each: impl FnMut(&ListObjectsV2Output) -> bool,
    ) -> Result<(), AwsError> {
        let mut token: Option<String> = None;
        loop {
            self.requests.list.fetch_add(1, Ordering::Relaxed);
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .set_start_after(start_after.map(str::to_owned))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk("s3", "ListObjectsV2", e))?;
            if !each(&page) {
                return Ok(());
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => return Ok(()),
            }
        }
    }

    /// One object's bytes (a CloudTrail file is small; an archive is never held whole).
    pub async fn get(&self, key: &str) -> Result<Bytes, AwsError> {
        self.requests.get.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| from_sdk("s3", "GetObject", e))?;
        let body = out.body.collect().await.map_err(|e| AwsError {
            service: "s3",
            operation: "GetObject",
            kind: Kind::Transient,
            code: "BodyRead".into(),
            message: e.to_string(),
        })?;
        Ok(body.into_bytes())
    }
}
