//! What a deploy input declares about S3, in one shape for every format: buckets and the
//! resources that set their ACL, policy, block, ownership, access points and object ACLs, each
//! joined to its bucket by a key. Parsers (`terraform`, `cloudformation`, `document`) produce it;
//! `translate` turns it into the fold's changes. It holds no judgement.

use serde_json::Value;

use crate::core::acl::Acl;
use crate::core::exposure::{BlockConfig, Ownership};
use crate::core::iac::unknown::Val;

/// Where a resource is written: its address (Terraform) or logical id (CloudFormation), and the
/// 1-based line of the input that names it, when the format gives one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub address: String,
    pub line: Option<usize>,
}

/// A bucket the input creates or changes, or names by its key only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bucket {
    /// How the other resources name it: its name when the input knows it, else its address.
    pub key: String,
    /// Its name, when known (exemptions by name need it).
    pub name: Option<String>,
    /// Created by this deploy (S3's defaults for new buckets apply), or already there.
    pub created: bool,
    pub tags: Vec<(String, String)>,
    pub origin: Origin,
}

/// One setting of one bucket (or of the account), as a call at deploy time would make it.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    Acl(Val<Acl>),
    /// A policy document; unknown leaves marked (`unknown::unknown_leaf`).
    Policy(Val<Value>),
    DeletePolicy,
    Block(Val<BlockConfig>),
    DeleteBlock,
    Ownership(Val<Ownership>),
    DeleteOwnership,
    AccountBlock(Val<BlockConfig>),
    DeleteAccountBlock,
    AccessPoint {
        name: String,
        block: Val<BlockConfig>,
        vpc_origin: Val<bool>,
    },
    AccessPointPolicy {
        /// The access point's key (its name, or its address when the name is unknown).
        name: String,
        policy: Val<Value>,
    },
    ObjectAcl {
        key: String,
        acl: Val<Acl>,
    },
}

/// A setting, the bucket it applies to (`None` for the account's block) and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub bucket: Option<String>,
    pub setting: Setting,
    pub origin: Origin,
}

/// Everything one input declares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Declared {
    pub buckets: Vec<Bucket>,
    pub items: Vec<Item>,
    /// Resources of a watched type that could not be read (reported, the rest checked).
    pub problems: Vec<Problem>,
}

/// A resource or document that could not be read, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub message: String,
}

/// S3's canned ACL names, also as CloudFormation spells them (`PublicRead`).
pub fn canned_acl(name: &str) -> Option<Acl> {
    let s3 = match name {
        "Private" => "private",
        "PublicRead" => "public-read",
        "PublicReadWrite" => "public-read-write",
        "AuthenticatedRead" => "authenticated-read",
        "LogDeliveryWrite" => "log-delivery-write",
        "BucketOwnerRead" => "bucket-owner-read",
        "BucketOwnerFullControl" => "bucket-owner-full-control",
        "AwsExecRead" => "aws-exec-read",
        other => other,
    };
    Acl::from_canned(s3).ok()
}

/// The 1-based line of the first occurrence of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    let at = text.find(needle)?;
    Some(text[..at].bytes().filter(|b| *b == b'\n').count() + 1)
}
