//! Ports: the roles the domain needs filled, each with a local and an AWS adapter beside each
//! other (`SqliteStateStore` / `DynamoDbStateStore`, `DeterministicReasoner` / `BedrockReasoner`).

use crate::model::BreakdownEntry;
use crate::reason::deterministic_reason;
use std::future::Future;

/// Writes one line of reason per surfaced name. Implementations must return something that
/// passes `reason::check_reason`, or the deterministic sentence.
pub trait Reasoner {
    fn reason(&self, breakdown: &[BreakdownEntry]) -> String;
}

/// The deterministic reason writer of SPEC §6: no model, same words every time.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeterministicReasoner;

impl Reasoner for DeterministicReasoner {
    fn reason(&self, breakdown: &[BreakdownEntry]) -> String {
        deterministic_reason(breakdown)
    }
}

/// How a conditional outcome write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The state changed and one audit item was written.
    Recorded,
    /// Nothing was written: the change was a no-op, or the fields no longer held the values it
    /// was planned from (the same click delivered twice, two devices at once).
    AlreadyRecorded,
}

/// A port failure, described without secrets or personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    pub message: String,
    /// Whether trying again later may succeed (throttling, timeouts, 5xx).
    pub retryable: bool,
}

impl PortError {
    pub fn new(message: impl Into<String>, retryable: bool) -> PortError {
        PortError {
            message: message.into(),
            retryable,
        }
    }
}

/// Where the outcome handler reads and conditionally writes customer state and the audit
/// (`SqliteStore` locally, `DynamoDbStateStore` on AWS).
pub trait OutcomeStore: Send + Sync {
    /// One customer's state (a fresh active state when none is stored).
    fn state(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<crate::state::CustomerState, PortError>> + Send;

    /// The customer's audit items, oldest first.
    fn history(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<Vec<crate::state::AuditItem>, PortError>> + Send;

    /// Writes `change` and its audit item atomically, only if every field in `change.before`
    /// still holds that value; a no-op change or a failed condition writes nothing and is
    /// [`Applied::AlreadyRecorded`].
    fn apply(
        &self,
        change: &crate::state::Change,
        by_user: &str,
    ) -> impl Future<Output = Result<Applied, PortError>> + Send;
}

/// The Slack calls the outcome handler makes after a click.
pub trait SlackResponder: Send + Sync {
    /// Whether Web API calls (`views.open`, `conversations.history`, `chat.update`) can be made:
    /// a bot token is set.
    fn has_token(&self) -> bool;

    /// `views.open` with the click's `trigger_id` (valid for 3 seconds).
    fn open_view(
        &self,
        trigger_id: &str,
        view: &serde_json::Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The blocks of a message the bot posted, as it now stands (`conversations.history`);
    /// `None` when it is gone.
    fn message_blocks(
        &self,
        channel: &str,
        ts: &str,
    ) -> impl Future<Output = Result<Option<Vec<serde_json::Value>>, PortError>> + Send;

    /// `chat.update` of a message the bot posted.
    fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &[serde_json::Value],
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// A JSON POST to an interaction's `response_url` (no token needed).
    fn respond(
        &self,
        response_url: &str,
        body: &serde_json::Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}
