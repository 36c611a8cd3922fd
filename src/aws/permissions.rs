//! The AWS calls a worker makes and the IAM action each needs: the one list the deployment
//! template's worker role must equal (tests/deploy.rs checks both the template and the source).
//! Owns that mapping only; it makes no call.

/// One SDK operation a running worker calls, and its IAM action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The SDK client: kinesis, dynamodb, s3, s3control, sns.
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
pub const WORKER_CALLS: [Call; 24] = [
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
        "query",
        "dynamodb:Query",
        "an account's buckets (state table account-index)",
    ),
    call("dynamodb", "scan", "dynamodb:Scan", "the lease table"),
    call(
        "dynamodb",
        "batch_get_item",
        "dynamodb:BatchGetItem",
        "a chunk's bucket states at once",
    ),
    // TransactWriteItems has no IAM action of its own: each item needs the action it performs
    // (PutItem for the claims and state saves, UpdateItem for dedup finishes, listed above).
    call(
        "dynamodb",
        "transact_write_items",
        "dynamodb:PutItem",
        "group writes: a chunk's dedup claims, state saves and finishes",
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
    call("sns", "publish", "sns:Publish", "alerts"),
    call(
        "sns",
        "create_topic",
        "sns:CreateTopic",
        "resolve the alert topic's ARN at start (idempotent)",
    ),
];

/// Operations in the source that only `bucketwarden init` (local development) calls; a deployed
/// worker's role does not get them.
pub const INIT_ONLY: [&str; 4] = [
    "create_table",
    "update_time_to_live",
    "create_stream",
    "describe_stream_summary",
];

/// Operations in the source that only the operator-run `bucketwarden scan` calls (it finds each
/// bucket's region); a deployed worker's role does not get them.
pub const SCAN_ONLY: [&str; 1] = ["get_bucket_location"];

/// The worker role's IAM actions, sorted and unique.
pub fn worker_actions() -> Vec<&'static str> {
    let mut v: Vec<&str> = WORKER_CALLS.iter().map(|c| c.iam_action).collect();
    v.sort_unstable();
    v.dedup();
    v
}
