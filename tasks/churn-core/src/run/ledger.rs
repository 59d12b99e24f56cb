//! The send ledger's vocabulary (docs/SPEC.md §4): one entry per (week, owner) that moves
//! `sending` (a claim with a lease) → `sent` (with the list that went out) → `recorded`.
//! Adapters store it (`SqliteStore` locally, `DynamoDbSendLedger` in `cp-runs`); the engine
//! decides with it.

use serde::{Deserialize, Serialize};

use crate::model::ListItem;

/// How a list reached its owner (`via` in reports): the stable strings are `slack` and `email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A Slack DM.
    Slack,
    /// An email.
    Email,
}

impl Via {
    /// The JSON / ledger spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Slack => "slack",
            Via::Email => "email",
        }
    }

    /// Reads the JSON / ledger spelling.
    pub fn parse(s: &str) -> Option<Via> {
        match s {
            "slack" => Some(Via::Slack),
            "email" => Some(Via::Email),
            _ => None,
        }
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a (week, owner) entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerStatus {
    /// A run holds (or held, if it crashed) the right to send, until its lease ends.
    Sending,
    /// The list went out; Record has not run yet.
    Sent,
    /// Sent and recorded: nothing more to do this week.
    Recorded,
}

impl LedgerStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerStatus::Sending => "sending",
            LedgerStatus::Sent => "sent",
            LedgerStatus::Recorded => "recorded",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<LedgerStatus> {
        match s {
            "sending" => Some(LedgerStatus::Sending),
            "sent" => Some(LedgerStatus::Sent),
            "recorded" => Some(LedgerStatus::Recorded),
            _ => None,
        }
    }
}

/// One (week, owner) entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// ISO week, `2026-W48`.
    pub week: String,
    /// Lower-cased email.
    pub owner: String,
    /// Where the entry stands.
    pub status: LedgerStatus,
    /// The run that claimed or sent it.
    pub run_id: String,
    /// The channel used (for `sending`, the channel about to be used).
    pub via: Via,
    /// The list sent — or, while `sending`, the list about to be sent (empty until the sender
    /// has built it).
    pub list: Vec<ListItem>,
    /// The rules version that produced the list.
    pub rules_version: String,
    /// Customers held out of the list this week (docs/SPEC.md §3 `holdout`): audited as
    /// `held_out` by the record step, never sent.
    pub held_out: Vec<crate::run::holdout::HeldOut>,
    /// While `sending`: when the claim lapses (Unix milliseconds).
    pub lease_until_ms: Option<i64>,
}

impl LedgerEntry {
    /// Whether another run's claim is still alive at `now_ms`.
    pub fn is_live_claim(&self, now_ms: i64) -> bool {
        self.status == LedgerStatus::Sending && self.lease_until_ms.is_some_and(|t| t > now_ms)
    }
}

/// Who claims which entry, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// ISO week.
    pub week: &'a str,
    /// Lower-cased email.
    pub owner: &'a str,
    /// The run claiming.
    pub run_id: &'a str,
    /// Now, Unix milliseconds: claims whose lease ends before it are lapsed.
    pub now_ms: i64,
    /// When this claim lapses.
    pub lease_until_ms: i64,
}

/// How a claim ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This run holds the entry now. `previous` is the `sending` entry it took over: a sender
    /// that crashed, timed out, or is this same run being retried. Its channel must be checked
    /// before sending again.
    Claimed {
        /// The lapsed or own claim taken over, with the list it was sending.
        previous: Option<LedgerEntry>,
    },
    /// Another run's claim is alive: it is sending this list now.
    Busy {
        /// The run holding the claim.
        run_id: String,
    },
    /// The entry is already `sent` or `recorded`.
    Done(LedgerEntry),
}

/// What a holder of the claim writes when its send succeeded (or when it found the list
/// already in Slack).
#[derive(Debug, Clone, Copy)]
pub struct SentList<'a> {
    /// The channel used (or about to be).
    pub via: Via,
    /// The names, best first, with reasons.
    pub list: &'a [ListItem],
    /// The rules version that produced them.
    pub rules_version: &'a str,
    /// Held out of this list (audited at record, never sent).
    pub held_out: &'a [crate::run::holdout::HeldOut],
}
