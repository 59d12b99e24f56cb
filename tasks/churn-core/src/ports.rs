//! Ports: the roles the domain needs filled, each with a local and an AWS adapter beside each
//! other (`SqliteStateStore` / `DynamoDbStateStore`, `DeterministicReasoner` / `BedrockReasoner`).

#![warn(missing_docs)]

use crate::model::{BreakdownEntry, ListItem};
use crate::notify::message::OwnerList;
use crate::notify::reason::deterministic_reason;
use crate::run::ledger::{Claim, ClaimRequest, LedgerEntry, SentList};
use rustc_hash::FxHashMap;
use std::future::Future;

/// Writes one line of reason per surfaced name. Implementations must return something that
/// passes `reason::check_reason`, or the deterministic sentence.
pub trait Reasoner {
    /// One line for this breakdown.
    fn reason(&self, breakdown: &[BreakdownEntry]) -> String;
}

/// The deterministic reason writer of docs/SPEC.md §6: no model, same words every time.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeterministicReasoner;

impl Reasoner for DeterministicReasoner {
    fn reason(&self, breakdown: &[BreakdownEntry]) -> String {
        deterministic_reason(breakdown)
    }
}

/// How a conditional outcome write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The state changed and one audit item was written, with this `ts` (what an Undo of it
    /// names, docs/SPEC.md §5).
    Recorded {
        /// The audit item's `ts`.
        ts: String,
    },
    /// Nothing was written: the change was a no-op, or the fields no longer held the values it
    /// was planned from (the same click delivered twice, two devices at once).
    AlreadyRecorded,
}

/// A port failure, described without secrets or personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    /// What failed, for logs and reports.
    pub message: String,
    /// Whether trying again later may succeed (throttling, timeouts, 5xx).
    pub retryable: bool,
}

impl PortError {
    /// A failure with its message; `retryable` when trying again later may work.
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
    ) -> impl Future<Output = Result<crate::outcome::state::CustomerState, PortError>> + Send;

    /// The customer's audit items, oldest first.
    fn history(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<Vec<crate::outcome::state::AuditItem>, PortError>> + Send;

    /// Writes `change` and its audit item atomically, only if every field in `change.before`
    /// still holds that value; a no-op change or a failed condition writes nothing and is
    /// [`Applied::AlreadyRecorded`].
    fn apply(
        &self,
        change: &crate::outcome::state::Change,
        by_user: &str,
    ) -> impl Future<Output = Result<Applied, PortError>> + Send;

    /// Every customer id on the lists sent for `week` (the send ledger): how a Slack button whose
    /// customer id was too long to travel whole (only its hash came, `ch`) is resolved. A store
    /// without a ledger knows none.
    fn listed_ids(
        &self,
        week: &str,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send {
        let _ = week;
        async { Ok(Vec::new()) }
    }
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

// ---- The Monday run's ports (docs/SPEC.md §4), used by `run::engine` ----

/// The send ledger with claims: one entry per (week, owner). Every write is conditional, so two
/// runs (or a run and its own retry) can never both believe they hold the same entry.
pub trait SendLedger: Sync {
    /// The week's entries by owner (consistent read).
    fn entries(
        &self,
        week: &str,
    ) -> impl Future<Output = Result<FxHashMap<String, LedgerEntry>, PortError>> + Send;

    /// Claims (week, owner) for `run_id` until `lease_until_ms`. Succeeds when there is no
    /// entry, or the entry is `sending` and its lease has ended or it belongs to `run_id` (a
    /// retry of the same run); the entry taken over is returned so its channel can be checked.
    fn claim(
        &self,
        request: &ClaimRequest<'_>,
    ) -> impl Future<Output = Result<Claim, PortError>> + Send;

    /// Stores the list about to be sent in this run's claim, so a run that takes the claim over
    /// after a crash finishes the same list. `false` when the claim is no longer this run's.
    fn prepare(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        list: &SentList<'_>,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// Marks the entry `sent` with the list that went out — only while `run_id` holds the claim.
    /// `false` when it no longer does.
    fn mark_sent(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        list: &SentList<'_>,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// Gives up `run_id`'s claim (nothing was sent), so a retry can send.
    fn release(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Ends `run_id`'s claim now but keeps it, with its list: something may have gone out, so
    /// the next run takes it over at once and checks the channel before sending.
    fn abandon(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Records a `sent` entry (docs/SPEC.md §4 step 3): each name's `surfaced_date`, band, score, reason
    /// and rules version, one `surfaced` audit item each, then `recorded`. Idempotent: returns
    /// 0 and changes nothing when already recorded.
    fn record(
        &self,
        week: &str,
        owner: &str,
        as_of: jiff::civil::Date,
        by_user: &str,
    ) -> impl Future<Output = Result<usize, PortError>> + Send;
}

/// Customer state as it stands now (read just before the send: an outcome may have landed
/// since the scan).
pub trait CustomerStates: Sync {
    /// The stored state of these customers (absent = never surfaced, contacted or lost).
    fn fresh(
        &self,
        customer_ids: &[&str],
    ) -> impl Future<
        Output = Result<FxHashMap<String, crate::outcome::state::CustomerState>, PortError>,
    > + Send;
}

/// Writes one reason per name, in place. Never fails: a model that errs falls back to the
/// deterministic sentence (docs/SPEC.md §6).
pub trait ListReasoner: Sync {
    /// Sets `reason` on every item.
    fn write_reasons(&self, items: &mut [ListItem]) -> impl Future<Output = ()> + Send;
}

impl ListReasoner for DeterministicReasoner {
    async fn write_reasons(&self, items: &mut [ListItem]) {
        for item in items {
            item.reason = deterministic_reason(&item.breakdown);
        }
    }
}

/// An owner's Slack DM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlackTo<'a> {
    /// The owner's email (found with `users.lookupByEmail` when there is no id).
    pub owner: &'a str,
    /// The Slack member id from the rules' owner line, if given.
    pub user_id: Option<&'a str>,
}

/// What posting a list to Slack did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlackPost {
    /// Messages in the list.
    pub parts: usize,
    /// The `ts` of each message posted, in order.
    pub posted: Vec<String>,
    /// Why it stopped, when not every part was delivered.
    pub error: Option<String>,
}

impl SlackPost {
    /// Every part was delivered (`posted` may be empty where delivery has no message ids,
    /// like the local outbox).
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
    }
}

/// Posts Monday lists to owners' Slack DMs.
pub trait ListSlack: Sync {
    /// Posts each message in order, stopping at the first that fails. `Err` when nothing could
    /// be posted at all (no DM, no token).
    fn post_list(
        &self,
        to: &SlackTo<'_>,
        messages: &[serde_json::Value],
    ) -> impl Future<Output = Result<SlackPost, PortError>> + Send;

    /// Which parts (1-based) of (week, owner)'s list are already in the DM, found by their
    /// message metadata (`conversations.history` with `include_all_metadata`).
    fn posted_parts(
        &self,
        to: &SlackTo<'_>,
        week: &str,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<usize>, PortError>> + Send;
}

/// Emails Monday lists to owners. Implementations refuse any recipient that is a customer.
pub trait ListMailer: Sync {
    /// Sends `list` to its owner; `note` goes at the top (a Slack fallback, a possible repeat).
    fn mail_list(
        &self,
        list: &OwnerList<'_>,
        note: Option<&str>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}
