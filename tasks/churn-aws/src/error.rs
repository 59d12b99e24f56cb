//! What every adapter error has in common: a failed AWS call, classified once, and the stable
//! `errorType` names of `docs/aws-design.md`.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Throttling, timeouts, 5xx from AWS: the state machine retries it.
pub const ERROR_RETRYABLE: &str = "churn.Retryable";
/// Missing or invalid configuration.
pub const ERROR_CONFIG: &str = "churn.Config";
/// A recipient is a customer's address.
pub const ERROR_REFUSED: &str = "churn.Refused";
/// Anything else.
pub const ERROR_INTERNAL: &str = "churn.Internal";

/// Error codes AWS services use for throttling and transient server trouble.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "EC2ThrottledException",
    "TransactionInProgressException",
    "TransactionConflictException",
    "InternalServerError",
    "InternalServerErrorException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
];

/// How an AWS call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The request could not be built (a bug or bad input): never retried.
    Construction,
    /// No answer in time.
    Timeout,
    /// The request could not be sent (connection refused or reset, DNS, TLS).
    Dispatch,
    /// An answer that could not be read.
    Response,
    /// AWS answered with an error (code and HTTP status).
    Service,
}

/// A failed AWS call: the operation, how it failed, and AWS's error code, status and message.
/// The message is AWS's own; adapters never pass customer names, emails or secret values into
/// requests whose errors echo them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure {
    /// `Service.Operation`, e.g. `DynamoDB.TransactWriteItems`.
    pub op: &'static str,
    pub kind: FailureKind,
    pub code: Option<String>,
    pub status: Option<u16>,
    pub message: Option<String>,
}

impl AwsFailure {
    /// Classifies an SDK error of operation `op`.
    pub fn from_sdk<E>(op: &'static str, err: &SdkError<E, Response>) -> AwsFailure
    where
        E: ProvideErrorMetadata,
    {
        let (kind, status) = match err {
            SdkError::ConstructionFailure(_) => (FailureKind::Construction, None),
            SdkError::TimeoutError(_) => (FailureKind::Timeout, None),
            SdkError::DispatchFailure(_) => (FailureKind::Dispatch, None),
            SdkError::ResponseError(e) => (FailureKind::Response, Some(e.raw().status().as_u16())),
            SdkError::ServiceError(e) => (FailureKind::Service, Some(e.raw().status().as_u16())),
            _ => (FailureKind::Response, None),
        };
        let (code, message) = match err {
            SdkError::ServiceError(e) => (
                e.err().code().map(str::to_string),
                e.err().message().map(|m| m.chars().take(300).collect()),
            ),
            _ => (None, None),
        };
        AwsFailure {
            op,
            kind,
            code,
            status,
            message,
        }
    }

    /// A failure built in this crate (e.g. unprocessed items left after the in-process retries).
    pub fn transient(op: &'static str, message: impl Into<String>) -> AwsFailure {
        AwsFailure {
            op,
            kind: FailureKind::Service,
            code: Some("ServiceUnavailable".into()),
            status: None,
            message: Some(message.into()),
        }
    }

    /// Throttling, timeouts, dispatch failures, unreadable answers, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            FailureKind::Construction => false,
            FailureKind::Timeout | FailureKind::Dispatch | FailureKind::Response => true,
            FailureKind::Service => {
                self.status.is_some_and(|s| s == 429 || s >= 500)
                    || self
                        .code
                        .as_deref()
                        .is_some_and(|c| RETRYABLE_CODES.contains(&c))
            }
        }
    }

    /// `churn.Retryable` when retryable, else `churn.Internal`.
    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            ERROR_RETRYABLE
        } else {
            ERROR_INTERNAL
        }
    }

    /// Whether AWS answered with error code `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.op)?;
        match self.kind {
            FailureKind::Construction => f.write_str(" (the request could not be built)")?,
            FailureKind::Timeout => f.write_str(" (timed out)")?,
            FailureKind::Dispatch => f.write_str(" (could not reach AWS)")?,
            FailureKind::Response => f.write_str(" (unreadable answer)")?,
            FailureKind::Service => {}
        }
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AwsFailure {}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(code: &str, status: u16) -> SdkError<PutItemError, Response> {
        let err = PutItemError::generic(ErrorMetadata::builder().code(code).message("m").build());
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn classifies_constructed_sdk_errors() {
        let f = AwsFailure::from_sdk("DynamoDB.PutItem", &service("ThrottlingException", 400));
        assert!(f.is_retryable());
        assert_eq!(f.error_type(), ERROR_RETRYABLE);
        assert!(AwsFailure::from_sdk("x", &service("Whatever", 503)).is_retryable());
        assert!(AwsFailure::from_sdk("x", &service("Whatever", 429)).is_retryable());
        let f = AwsFailure::from_sdk("x", &service("ValidationException", 400));
        assert!(!f.is_retryable());
        assert_eq!(f.error_type(), ERROR_INTERNAL);
        assert!(
            f.to_string().contains("ValidationException (HTTP 400)"),
            "{f}"
        );

        let timeout: SdkError<PutItemError, Response> = SdkError::timeout_error("slow");
        assert!(AwsFailure::from_sdk("x", &timeout).is_retryable());
        let dispatch: SdkError<PutItemError, Response> =
            SdkError::dispatch_failure(ConnectorError::io("reset".into()));
        assert!(AwsFailure::from_sdk("x", &dispatch).is_retryable());
        let built: SdkError<PutItemError, Response> = SdkError::construction_failure("bad");
        assert!(!AwsFailure::from_sdk("x", &built).is_retryable());
    }
}
