//! Task errors with the stable `errorType` names the state machine's `Retry` and `Catch` match
//! (docs/aws-design.md), never Rust type names.

use lambda_runtime::Diagnostic;

/// A task failure: a stable kind and a message without secrets or personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TaskError {
    /// `churn.Retryable`, `churn.BadList`, `churn.BadRules`, `churn.Refused`, `churn.Config`,
    /// `churn.BadInput`, `churn.Internal`.
    pub kind: &'static str,
    pub message: String,
}

impl TaskError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> TaskError {
        TaskError {
            kind,
            message: message.into(),
        }
    }
    pub fn bad_input(message: impl Into<String>) -> TaskError {
        TaskError::new("churn.BadInput", message)
    }
    pub fn internal(message: impl Into<String>) -> TaskError {
        TaskError::new("churn.Internal", message)
    }
}

impl From<TaskError> for Diagnostic {
    fn from(e: TaskError) -> Diagnostic {
        Diagnostic {
            error_type: e.kind.to_string(),
            error_message: e.message,
        }
    }
}

/// Maps an adapter error (anything with `error_type()`) into a task error.
#[macro_export]
macro_rules! task_error {
    ($e:expr) => {{
        let e = $e;
        $crate::error::TaskError::new(e.error_type(), e.to_string())
    }};
}
