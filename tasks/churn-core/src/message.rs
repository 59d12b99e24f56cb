//! The Monday message (SPEC §7): Slack Block Kit (split to Slack's limits) and the email body.

use crate::links::LinkSigner;
use crate::model::ListItem;

/// Slack's limits that shape a message.
pub const MAX_BLOCKS: usize = 50;
pub const MAX_TEXT_CHARS: usize = 3000;
pub const MAX_HEADER_CHARS: usize = 150;
pub const MAX_BUTTON_VALUE_CHARS: usize = 2000;

/// An owner's list for one week.
#[derive(Debug, Clone)]
pub struct OwnerList<'a> {
    /// ISO week id, `2026-W48`.
    pub week: &'a str,
    /// The run's local date, `2026-11-23`.
    pub as_of: &'a str,
    /// Owner email (lower-cased).
    pub owner: &'a str,
    pub items: &'a [ListItem],
}

/// One email, ready for SES or the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailBody {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The `chat.postMessage` bodies for a list: `{"channel", "text", "blocks"}` each, every message
/// within 50 blocks, every text within its limit, every button value within 2,000 characters.
/// Per customer: a section (name, band, score, reason), a context line (the breakdown) and an
/// actions block with Reached out / Won back / Lost (`action_id`s `reached_out`, `won_back`,
/// `lost`; `value` a small JSON `{"c": customer_id, "w": week, "v": rules_version}`).
pub fn slack_messages(list: &OwnerList<'_>, channel: &str) -> Vec<serde_json::Value> {
    todo!("helper: message")
}

/// The email: the same list as HTML (escaped) and plain text, each action a signed link
/// `{base_url}/o/{token}` valid for 14 days from `now` (unix seconds).
pub fn email(list: &OwnerList<'_>, signer: &LinkSigner, base_url: &str, now: i64) -> EmailBody {
    todo!("helper: message")
}
