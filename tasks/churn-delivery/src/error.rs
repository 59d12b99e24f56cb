//! The stable error names of `docs/aws-design.md` ("Lambda errors"), which the state machine's
//! `Retry` and `Catch` match instead of Rust type names.

/// Throttling, timeouts and 5xx from Slack or Bedrock after the in-process retries.
pub const ERROR_RETRYABLE: &str = "churn.Retryable";
/// A recipient is a customer's address.
pub const ERROR_REFUSED: &str = "churn.Refused";
/// Missing or invalid configuration (a bad token, an unknown Slack user, a wrong model id).
pub const ERROR_CONFIG: &str = "churn.Config";
/// Anything else.
pub const ERROR_INTERNAL: &str = "churn.Internal";
