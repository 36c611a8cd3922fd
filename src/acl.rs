//! Access control lists: which grants make a bucket or object public (DESIGN §4, ACL rule).
//! Owns parsing of canned ACLs, `x-amz-grant-*` headers and `AccessControlPolicy` bodies as
//! CloudTrail records them. Knows nothing of buckets, blocks or ownership.

/// One ACL permission, as S3 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

/// The public groups of S3 (the only grantees that matter for exposure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PublicGroup {
    AllUsers,
    AuthenticatedUsers,
}

/// An ACL reduced to what exposure needs: the permissions granted to each public group.
/// Grants to accounts, canonical users, e-mail addresses and `LogDelivery` are not public and
/// are not kept. Compact (two bytes) because every object with an ACL event keeps one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Acl {
    pub all_users: u8,
    pub authenticated_users: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AclError {
    #[error("unknown canned ACL {0:?}")]
    UnknownCanned(String),
    #[error("malformed grant header {header}: {value:?}")]
    BadGrantHeader { header: String, value: String },
    #[error("malformed AccessControlPolicy: {0}")]
    BadBody(String),
}
impl Acl {
    pub const PRIVATE: Acl = Acl {
        all_users: 0,
        authenticated_users: 0,
    };
    pub fn from_canned(_n: &str) -> Result<Acl, AclError> {
        todo!()
    }
    pub fn from_request(_p: &serde_json::Value) -> Result<Option<Acl>, AclError> {
        todo!()
    }
    pub fn is_public(&self) -> bool {
        todo!()
    }
    pub fn findings(&self) -> Vec<String> {
        todo!()
    }
}
