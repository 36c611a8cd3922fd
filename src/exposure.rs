//! stub
use crate::acl::Acl;
use crate::policy::PolicyFindings;
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockConfig {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}
impl BlockConfig {
    pub const ALL_ON: BlockConfig = BlockConfig {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
    pub const ALL_OFF: BlockConfig = BlockConfig {
        block_public_acls: false,
        ignore_public_acls: false,
        block_public_policy: false,
        restrict_public_buckets: false,
    };
    pub fn from_request(_p: &serde_json::Value) -> Result<BlockConfig, ExposureError> {
        todo!()
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BlockFlags {
    pub block_public_acls: Option<bool>,
    pub ignore_public_acls: Option<bool>,
    pub block_public_policy: Option<bool>,
    pub restrict_public_buckets: Option<bool>,
}
impl BlockFlags {
    pub const UNKNOWN: BlockFlags = BlockFlags {
        block_public_acls: None,
        ignore_public_acls: None,
        block_public_policy: None,
        restrict_public_buckets: None,
    };
    pub fn known(_c: BlockConfig) -> BlockFlags {
        todo!()
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ownership {
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}
impl Ownership {
    pub fn parse(_s: &str) -> Option<Ownership> {
        todo!()
    }
    pub fn from_request(_p: &serde_json::Value) -> Result<Ownership, ExposureError> {
        todo!()
    }
}
#[derive(Debug, thiserror::Error)]
pub enum ExposureError {
    #[error("x")]
    X,
}
pub struct AccessPointView<'a> {
    pub name: &'a str,
    pub policy: Option<&'a PolicyFindings>,
    pub block: BlockFlags,
}
pub struct BucketView<'a> {
    pub acl: Option<&'a Acl>,
    pub policy: Option<&'a PolicyFindings>,
    pub ownership: Option<Ownership>,
    pub bucket_block: BlockFlags,
    pub account_block: BlockFlags,
    pub access_points: &'a [AccessPointView<'a>],
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub public: bool,
    pub reasons: Vec<String>,
    pub assumed: bool,
}
pub fn bucket_exposure(_v: &BucketView) -> Exposure {
    todo!()
}
pub fn object_exposure(_a: Option<&Acl>, _v: &BucketView) -> Exposure {
    todo!()
}
