//! One error type for every AWS call at the edge, classified so callers know whether to retry,
//! back off, or give up. Owns classification only; it never retries by itself.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Throttling (ProvisionedThroughputExceeded, SlowDown, …): back off with jitter and retry.
    Throttled,
    /// A conditional write lost (a fenced lease, a version conflict, an already-seen event id).
    ConditionFailed,
    /// The shard iterator expired: get a new one after the last delivered record.
    ExpiredIterator,
    NotFound,
    AccessDenied,
    /// Timeouts, connection failures, 5xx: retry.
    Transient,
    /// Anything else: a bug or a misconfiguration.
    Other,
}

/// Whose failure an error is, once a step's bounded retries are spent: what the worker does next
/// (docs/RELIABILITY.md, "Every step ends").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The fleet's own infrastructure (its tables, stream, topic, its own role): an outage
    /// every event would meet. The shard waits and recovers by itself; nothing is parked or
    /// dropped.
    Fleet,
    /// One bucket, account or record (a guarded bucket's S3 refusing or not answering, a member
    /// role, a request the service refuses on its own merits): that event is parked (finished
    /// for the checkpoint, with an incident, an alert, a metric and a dead letter) and the shard
    /// goes on.
    Item,
}

#[derive(Debug, thiserror::Error)]
#[error("{service} {operation}: {code}: {message}")]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub kind: Kind,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            Kind::Throttled | Kind::Transient | Kind::ExpiredIterator
        )
    }

    pub fn is(&self, kind: Kind) -> bool {
        self.kind == kind
    }

    /// Whose failure this is (see [`Blame`]). By service first: S3 and S3 Control calls are made
    /// on the guarded buckets and accounts, STS to reach a member account, so their failures are
    /// the bucket's or the account's, whatever the kind. On the fleet's own services (DynamoDB,
    /// Kinesis, SNS, …) throttling, 5xx, timeouts, denials, missing tables and lost conditions
    /// are the fleet's (every event would meet them); only a request refused on its own merits
    /// (`Kind::Other`: a validation error such as an item over 400 KB) is the item's.
    pub fn blame(&self) -> Blame {
        match (self.service, self.kind) {
            ("s3" | "s3control" | "sts", _) => Blame::Item,
            (_, Kind::Other) if self.code != "LeaseLost" => Blame::Item,
            _ => Blame::Fleet,
        }
    }

    /// A step whose retries ran out of time (`retry budget`): transient, for the record, but
    /// the step ends here.
    pub fn budget_spent(
        service: &'static str,
        operation: &'static str,
        budget: std::time::Duration,
    ) -> AwsError {
        AwsError {
            service,
            operation,
            kind: Kind::Transient,
            code: BUDGET_SPENT.into(),
            message: format!(
                "no answer within the retry budget of {:.0} s",
                budget.as_secs_f64()
            ),
        }
    }

    /// A short, bounded label of why a step failed (for a metric): `denied`, `timeout`,
    /// `throttled`, `not_found` or `error`.
    pub fn reason_label(&self) -> &'static str {
        match self.kind {
            Kind::AccessDenied => "denied",
            Kind::Throttled => "throttled",
            Kind::NotFound => "not_found",
            Kind::Transient => "timeout",
            _ => "error",
        }
    }

    pub fn other(
        service: &'static str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> AwsError {
        AwsError {
            service,
            operation,
            kind: Kind::Other,
            code: "Invalid".into(),
            message: message.into(),
        }
    }
}

/// The code of an [`AwsError::budget_spent`].
pub const BUDGET_SPENT: &str = "RetryBudgetSpent";

/// The retry hint of an error code (and HTTP status, when there is one): also for the per-entry
/// errors a batch call reports inside a successful answer.
pub(crate) fn classify_code(code: &str, status: Option<u16>) -> Kind {
    match code {
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "RequestLimitExceeded"
        | "LimitExceededException"
        | "SlowDown"
        | "TooManyRequestsException"
        | "RequestThrottled" => Kind::Throttled,
        "ConditionalCheckFailedException" | "TransactionConflictException" => Kind::ConditionFailed,
        "ExpiredIteratorException" => Kind::ExpiredIterator,
        "ResourceNotFoundException"
        | "NoSuchBucket"
        | "NoSuchKey"
        | "NotFound"
        | "NoSuchPublicAccessBlockConfiguration"
        | "NoSuchBucketPolicy"
        | "OwnershipControlsNotFoundError"
        | "NoSuchTagSet" => Kind::NotFound,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "AuthorizationError" => Kind::AccessDenied,
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "InternalServerError" => {
            Kind::Transient
        }
        _ => match status {
            Some(429) => Kind::Throttled,
            Some(403) => Kind::AccessDenied,
            Some(404) => Kind::NotFound,
            Some(s) if s >= 500 => Kind::Transient,
            _ => Kind::Other,
        },
    }
}

/// Classifies any SDK error of any AWS service.
pub fn from_sdk<E, R>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, R>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let status = se.raw().status_code();
            AwsError {
                service,
                operation,
                kind: classify_code(&code, status),
                message: e.message().unwrap_or_default().to_owned(),
                code,
            }
        }
        // A denial whose body the SDK could not parse (e.g. an XML error to a JSON-protocol
        // call, as moto's IAM authorization answers) is still a denial: never retried as
        // transient.
        SdkError::ResponseError(re) if re.raw().status_code() == Some(403) => AwsError {
            service,
            operation,
            kind: Kind::AccessDenied,
            code: "AccessDenied".into(),
            message: format!(
                "HTTP 403 with an unreadable error body: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            AwsError {
                service,
                operation,
                kind: Kind::Transient,
                code: "Transient".into(),
                message: format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&err)
                ),
            }
        }
        _ => AwsError {
            service,
            operation,
            kind: Kind::Other,
            code: "SdkError".into(),
            message: format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
        },
    }
}

/// The HTTP status of a raw response, when there is one.
pub trait HasStatus {
    fn status_code(&self) -> Option<u16>;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unparsable_403_is_a_denial_and_other_unparsable_answers_stay_transient() {
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        let answer = |status: u16| {
            let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
            let err: SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, Response> =
                SdkError::response_error("malformed error body", raw);
            from_sdk("organizations", "ListAccounts", err)
        };
        let denied = answer(403);
        assert_eq!(denied.kind, Kind::AccessDenied);
        assert!(!denied.retryable());
        assert_eq!(answer(500).kind, Kind::Transient);
        assert!(answer(500).retryable());
    }

    fn err(service: &'static str, kind: Kind, code: &str) -> AwsError {
        AwsError {
            service,
            operation: "Op",
            kind,
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn a_guarded_bucket_or_member_failure_is_the_items_and_a_fleet_outage_is_the_fleets() {
        // Whatever the kind, S3 and member-role failures concern one bucket or account.
        for kind in [
            Kind::AccessDenied,
            Kind::Transient,
            Kind::Throttled,
            Kind::Other,
        ] {
            assert_eq!(err("s3", kind, "x").blame(), Blame::Item, "{kind:?}");
            assert_eq!(err("sts", kind, "x").blame(), Blame::Item, "{kind:?}");
        }
        // The fleet's own services: an outage (throttled, 5xx, denied, table missing) is
        // waited out, never parked ...
        for service in ["dynamodb", "kinesis", "sns"] {
            for kind in [
                Kind::Throttled,
                Kind::Transient,
                Kind::AccessDenied,
                Kind::NotFound,
                Kind::ConditionFailed,
                Kind::ExpiredIterator,
            ] {
                assert_eq!(
                    err(service, kind, "x").blame(),
                    Blame::Fleet,
                    "{service} {kind:?}"
                );
            }
        }
        // ... a request refused on its own merits is the item's, a lost lease never is.
        assert_eq!(
            err("dynamodb", Kind::Other, "ValidationException").blame(),
            Blame::Item
        );
        assert_eq!(
            err("dynamodb", Kind::Other, "LeaseLost").blame(),
            Blame::Fleet
        );
        let spent = AwsError::budget_spent("s3", "verify", std::time::Duration::from_secs(30));
        assert_eq!(spent.blame(), Blame::Item);
        assert_eq!(spent.reason_label(), "timeout");
        assert_eq!(
            err("s3", Kind::AccessDenied, "AccessDenied").reason_label(),
            "denied"
        );
    }

    #[test]
    fn classifies_the_codes_that_matter() {
        assert_eq!(
            classify_code("ProvisionedThroughputExceededException", Some(400)),
            Kind::Throttled
        );
        assert_eq!(classify_code("SlowDown", Some(503)), Kind::Throttled);
        assert_eq!(
            classify_code("ConditionalCheckFailedException", Some(400)),
            Kind::ConditionFailed
        );
        assert_eq!(
            classify_code("ExpiredIteratorException", Some(400)),
            Kind::ExpiredIterator
        );
        assert_eq!(classify_code("AccessDenied", Some(403)), Kind::AccessDenied);
        assert_eq!(classify_code("Whatever", Some(502)), Kind::Transient);
        assert_eq!(classify_code("ValidationException", Some(400)), Kind::Other);
    }
}
