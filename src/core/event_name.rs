//! The closed set of S3 calls bucketwarden watches (docs/DESIGN.md §3), their CloudTrail names and their
//! kinds. Owns the names only: parsing a record is `record`'s, what a call changes `change`'s.

/// The S3 calls bucketwarden watches (docs/DESIGN.md §3). A closed set, so it can label metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventName {
    CreateBucket,
    DeleteBucket,
    PutBucketAcl,
    PutBucketPolicy,
    DeleteBucketPolicy,
    PutBucketPublicAccessBlock,
    DeleteBucketPublicAccessBlock,
    PutAccountPublicAccessBlock,
    DeleteAccountPublicAccessBlock,
    PutBucketOwnershipControls,
    DeleteBucketOwnershipControls,
    PutObjectAcl,
    PutObject,
    CopyObject,
    CreateMultipartUpload,
    PutBucketTagging,
    DeleteBucketTagging,
    CreateAccessPoint,
    DeleteAccessPoint,
    PutAccessPointPolicy,
    DeleteAccessPointPolicy,
    PutBucketWebsite,
    DeleteBucketWebsite,
}

impl EventName {
    pub const ALL: [EventName; 23] = [
        EventName::CreateBucket,
        EventName::DeleteBucket,
        EventName::PutBucketAcl,
        EventName::PutBucketPolicy,
        EventName::DeleteBucketPolicy,
        EventName::PutBucketPublicAccessBlock,
        EventName::DeleteBucketPublicAccessBlock,
        EventName::PutAccountPublicAccessBlock,
        EventName::DeleteAccountPublicAccessBlock,
        EventName::PutBucketOwnershipControls,
        EventName::DeleteBucketOwnershipControls,
        EventName::PutObjectAcl,
        EventName::PutObject,
        EventName::CopyObject,
        EventName::CreateMultipartUpload,
        EventName::PutBucketTagging,
        EventName::DeleteBucketTagging,
        EventName::CreateAccessPoint,
        EventName::DeleteAccessPoint,
        EventName::PutAccessPointPolicy,
        EventName::DeleteAccessPointPolicy,
        EventName::PutBucketWebsite,
        EventName::DeleteBucketWebsite,
    ];

    pub fn parse(s: &str) -> Option<EventName> {
        EventName::ALL.iter().copied().find(|n| n.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventName::CreateBucket => "CreateBucket",
            EventName::DeleteBucket => "DeleteBucket",
            EventName::PutBucketAcl => "PutBucketAcl",
            EventName::PutBucketPolicy => "PutBucketPolicy",
            EventName::DeleteBucketPolicy => "DeleteBucketPolicy",
            EventName::PutBucketPublicAccessBlock => "PutBucketPublicAccessBlock",
            EventName::DeleteBucketPublicAccessBlock => "DeleteBucketPublicAccessBlock",
            EventName::PutAccountPublicAccessBlock => "PutAccountPublicAccessBlock",
            EventName::DeleteAccountPublicAccessBlock => "DeleteAccountPublicAccessBlock",
            EventName::PutBucketOwnershipControls => "PutBucketOwnershipControls",
            EventName::DeleteBucketOwnershipControls => "DeleteBucketOwnershipControls",
            EventName::PutObjectAcl => "PutObjectAcl",
            EventName::PutObject => "PutObject",
            EventName::CopyObject => "CopyObject",
            EventName::CreateMultipartUpload => "CreateMultipartUpload",
            EventName::PutBucketTagging => "PutBucketTagging",
            EventName::DeleteBucketTagging => "DeleteBucketTagging",
            EventName::CreateAccessPoint => "CreateAccessPoint",
            EventName::DeleteAccessPoint => "DeleteAccessPoint",
            EventName::PutAccessPointPolicy => "PutAccessPointPolicy",
            EventName::DeleteAccessPointPolicy => "DeleteAccessPointPolicy",
            EventName::PutBucketWebsite => "PutBucketWebsite",
            EventName::DeleteBucketWebsite => "DeleteBucketWebsite",
        }
    }

    /// Object-level data events that matter only when they carry an ACL.
    pub fn is_object_write(self) -> bool {
        matches!(
            self,
            EventName::PutObject | EventName::CopyObject | EventName::CreateMultipartUpload
        )
    }

    pub fn is_account_level(self) -> bool {
        matches!(
            self,
            EventName::PutAccountPublicAccessBlock | EventName::DeleteAccountPublicAccessBlock
        )
    }
}
