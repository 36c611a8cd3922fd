//! The AWS calls a worker makes and the IAM action each needs: the one list the deployment
//! templates' roles must equal — the central worker role all of them, a member account's
//! remediator role the S3 ones (tests/deploy.rs checks the templates and the source).
//! Owns that mapping only; it makes no call.

/// One SDK operation a running worker calls, and its IAM action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The SDK client: kinesis, dynamodb, s3, s3control, sns, sts, organizations.
    pub service: &'static str,
    /// The SDK's fluent method, e.g. `get_public_access_block`.
    pub operation: &'static str,
    /// The IAM action it needs (S3's names differ from the API's in places).
    pub iam_action: &'static str,
    pub why: &'static str,
}

const fn call(
    service: &'static str,
    operation: &'static str,
    iam_action: &'static str,
    why: &'static str,
) -> Call {
    Call {
        service,
        operation,
        iam_action,
        why,
    }
}

/// Every call `bucketwarden run` makes.
pub const WORKER_CALLS: [Call; 29] = [
    call(
        "kinesis",
        "list_shards",
        "kinesis:ListShards",
        "shard discovery",
    ),
    call(
        "kinesis",
        "get_shard_iterator",
        "kinesis:GetShardIterator",
        "resume after a checkpoint",
    ),
    call(
        "kinesis",
        "get_records",
        "kinesis:GetRecords",
        "read events",
    ),
    call(
        "dynamodb",
        "get_item",
        "dynamodb:GetItem",
        "state, incidents",
    ),
    call(
        "dynamodb",
        "put_item",
        "dynamodb:PutItem",
        "leases, dedup claims, state, incidents, dead letters",
    ),
    call(
        "dynamodb",
        "update_item",
        "dynamodb:UpdateItem",
        "lease take/renew/checkpoint, dedup finish, incident outcome",
    ),
    call(
        "dynamodb",
        "delete_item",
        "dynamodb:DeleteItem",
        "a public object's state item once the object is private",
    ),
    call(
        "dynamodb",
        "query",
        "dynamodb:Query",
        "an account's buckets, a bucket's public objects (state table account-index); owed alerts (incident table alerts-owed)",
    ),
    call("dynamodb", "scan", "dynamodb:Scan", "the lease table"),
    call(
        "dynamodb",
        "batch_get_item",
        "dynamodb:BatchGetItem",
        "a chunk's bucket states at once",
    ),
    // TransactWriteItems has no IAM action of its own: each item needs the action it performs
    // (PutItem for the claims and state saves, UpdateItem for dedup finishes and alert marks,
    // DeleteItem for object items removed, listed above).
    call(
        "dynamodb",
        "transact_write_items",
        "dynamodb:PutItem",
        "group writes: a chunk's dedup claims, state saves and finishes; alerted marks",
    ),
    call(
        "s3",
        "get_public_access_block",
        "s3:GetBucketPublicAccessBlock",
        "verify",
    ),
    call(
        "s3control",
        "get_public_access_block",
        "s3:GetAccountPublicAccessBlock",
        "verify the account block",
    ),
    call("s3", "get_bucket_acl", "s3:GetBucketAcl", "verify"),
    call("s3", "get_bucket_policy", "s3:GetBucketPolicy", "verify"),
    call(
        "s3",
        "get_bucket_ownership_controls",
        "s3:GetBucketOwnershipControls",
        "verify",
    ),
    call(
        "s3",
        "get_bucket_policy_status",
        "s3:GetBucketPolicyStatus",
        "verify (S3's second opinion)",
    ),
    call(
        "s3",
        "get_object_acl",
        "s3:GetObjectAcl",
        "verify an object",
    ),
    call(
        "s3",
        "put_public_access_block",
        "s3:PutBucketPublicAccessBlock",
        "remediate",
    ),
    call(
        "s3",
        "get_bucket_tagging",
        "s3:GetBucketTagging",
        "keep the bucket's other tags",
    ),
    call(
        "s3",
        "put_bucket_tagging",
        "s3:PutBucketTagging",
        "tag bucketwarden:remediated",
    ),
    call(
        "s3",
        "put_object_acl",
        "s3:PutObjectAcl",
        "reset an object's ACL to private",
    ),
    call(
        "s3",
        "list_buckets",
        "s3:ListAllMyBuckets",
        "reconciliation lists the account's buckets",
    ),
    call(
        "s3",
        "get_bucket_location",
        "s3:GetBucketLocation",
        "a bucket's region when the event has none (aws::accounts)",
    ),
    call(
        "sts",
        "assume_role",
        "sts:AssumeRole",
        "credentials in a member account (aws::accounts)",
    ),
    call(
        "organizations",
        "list_accounts",
        "organizations:ListAccounts",
        "allowed = \"organization\": the organization's accounts (aws::organization)",
    ),
    call("sns", "publish", "sns:Publish", "alerts"),
    // AWS: "The PublishBatch API uses the same Publish API action for IAM policies."
    call(
        "sns",
        "publish_batch",
        "sns:Publish",
        "alerts claimed side by side, up to ten per request",
    ),
    call(
        "sns",
        "create_topic",
        "sns:CreateTopic",
        "resolve the alert topic's ARN at start (idempotent)",
    ),
];

/// Worker actions granted only when used: `organizations:ListAccounts` only with
/// `allowed = "organization"` (the template's `AllowOrganization` condition). AWS (ListAccounts):
/// "You can only call this operation from the management account or a member account that is a
/// delegated administrator", so the grant is useless anywhere else.
pub const ORGANIZATION_ONLY: [&str; 1] = ["organizations:ListAccounts"];

/// Operations in the source that only `bucketwarden init` (local development) calls; a deployed
/// worker's role does not get them.
pub const INIT_ONLY: [&str; 6] = [
    "create_table",
    // Adding the incident table's owed-alerts index to a table made before it existed.
    "describe_table",
    "update_table",
    "update_time_to_live",
    "create_stream",
    "describe_stream_summary",
];

/// An IAM condition that narrows one of the worker's permissions to what remediation needs (on
/// top of the `aws:ResourceAccount` scope every S3 grant has), so that a stolen worker
/// credential cannot use it to open anything. The deployment template's statement granting the
/// action must carry exactly these (tests/deploy.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    pub iam_action: &'static str,
    /// The IAM condition operator, e.g. `StringEquals`.
    pub operator: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub why: &'static str,
}

/// The conditions on the worker's writes. From the Service Authorization Reference ("Actions,
/// resources, and condition keys for Amazon S3"): `s3:x-amz-acl` ("Filters access by canned ACL in
/// the request's x-amz-acl header") applies to PutObjectAcl, so the worker may only send the
/// canned `private` ACL (src/aws/s3_fix.rs sends exactly that header, never an ACL body: a
/// request without the header has no value for the key and StringEquals does not match).
/// `s3:PutBucketPublicAccessBlock` and `s3:PutBucketTagging` have no condition key on the
/// request's content (only the resource account, bucket tags, TLS version and signature
/// details), so they cannot be limited to "all four flags on" or "only the remediated tag";
/// docs/SECURITY.md says what covers that.
pub const WORKER_CONDITIONS: [Condition; 1] = [Condition {
    iam_action: "s3:PutObjectAcl",
    operator: "StringEquals",
    key: "s3:x-amz-acl",
    value: "private",
    why: "an object's ACL may only be reset to the canned private ACL",
}];

/// Worker writes that no S3 condition key can narrow (see [`WORKER_CONDITIONS`]).
pub const UNCONDITIONABLE_WRITES: [&str; 2] =
    ["s3:PutBucketPublicAccessBlock", "s3:PutBucketTagging"];

/// The conditions an IAM action of the worker must carry.
pub fn conditions_of(iam_action: &str) -> Vec<&'static Condition> {
    WORKER_CONDITIONS
        .iter()
        .filter(|c| c.iam_action == iam_action)
        .collect()
}

/// Operations that need no IAM permission (AWS: "No permissions are required to perform this
/// operation" for GetCallerIdentity).
pub const NO_PERMISSION: [&str; 1] = ["get_caller_identity"];

/// The services whose calls act in a member account, through the assumed role.
pub const MEMBER_SERVICES: [&str; 2] = ["s3", "s3control"];

/// The member account role's IAM actions (the S3 and S3 Control calls), sorted and unique.
pub fn member_actions() -> Vec<&'static str> {
    let mut v: Vec<&str> = WORKER_CALLS
        .iter()
        .filter(|c| MEMBER_SERVICES.contains(&c.service))
        .map(|c| c.iam_action)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The worker role's IAM actions, sorted and unique.
pub fn worker_actions() -> Vec<&'static str> {
    let mut v: Vec<&str> = WORKER_CALLS.iter().map(|c| c.iam_action).collect();
    v.sort_unstable();
    v.dedup();
    v
}
