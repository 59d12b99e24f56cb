//! Delivery adapters for the churn predictor (docs/SPEC.md §6, §7): [`SlackNotifier`] posts an owner's
//! list over the Slack Web API, and [`BedrockReasoner`] writes one line of reason per name with
//! Claude on Bedrock (Converse), falling back to the deterministic sentence so the list always
//! ships.
//!
//! Every error has `is_retryable()` and a stable `error_type()` (`churn.Retryable`,
//! `churn.Config`, `churn.Internal`; see `docs/aws-design.md`) for the Lambda error the state
//! machine matches. Nothing here logs or puts into an error the Slack token, a message's text, a
//! customer's name or email.

pub mod bedrock;
pub mod error;
pub mod http;
pub mod mood;
pub mod narrative;
pub mod respond;
pub mod slack;

pub use bedrock::{
    AsyncReasoner, BedrockError, BedrockReasoner, BedrockReasonerConfig, DEFAULT_MODEL_ID,
    FallbackReason, ReasonSource, reasons,
};
pub use error::{ERROR_CONFIG, ERROR_INTERNAL, ERROR_REFUSED, ERROR_RETRYABLE};
pub use narrative::{BedrockNarrator, NarratorConfig};
pub use respond::{ResponseUrlError, SlackWeb};
pub use slack::{
    PartFailure, PostedMessage, PostedPart, RetryPolicy, SendReport, SlackError, SlackNotifier,
    SlackRecipient, SlackToken,
};
