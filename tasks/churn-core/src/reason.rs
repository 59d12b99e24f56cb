//! Reasons (SPEC §6): the deterministic reason writer, and the check every model-written reason
//! must pass before it ships.

use crate::model::BreakdownEntry;

/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// Why a model-written reason was refused (the list then ships with the deterministic one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonRejected {
    #[error("the reason is empty")]
    Empty,
    #[error("the reason has more than one line")]
    MultiLine,
    #[error("the reason is {0} characters; at most 200")]
    TooLong(usize),
    #[error("the reason mentions the number {0}, which is not in the breakdown")]
    UngroundedNumber(String),
    #[error("the reason mentions the signal `{0}`, which did not score")]
    SignalDidNotScore(String),
}

/// One plain sentence built only from the signals that scored, e.g. `Next order is late: 2.1× the
/// usual pace (64 days since the last order, usually 30); support mood sour.` At most 200
/// characters; nothing scored → `No signal scored this week.`
pub fn deterministic_reason(breakdown: &[BreakdownEntry]) -> String {
    todo!("helper: reason")
}

/// Checks a model-written reason against the breakdown: one line, ≤ 200 characters, no number
/// that is not among the breakdown's facts (points, values, days, pace, ratio to one decimal, mood
/// to two), no name of a signal that did not score. Returns the reason trimmed and Slack-escaped.
pub fn check_reason(text: &str, breakdown: &[BreakdownEntry]) -> Result<String, ReasonRejected> {
    todo!("helper: reason")
}

/// Escapes Slack's control characters (`&`, `<`, `>`) so user text cannot mention, link or
/// format.
pub fn escape_slack(text: &str) -> String {
    todo!("helper: reason")
}
