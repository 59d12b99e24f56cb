//! The Monday run's shared decisions (SPEC §4), used by the laptop run and the Step Functions
//! tasks alike: what the run input means, and what to do for each owner given the send ledger.

use serde::{Deserialize, Serialize};

use crate::model::ListItem;

/// The state machine's (or `churn weekly`'s) input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// A date, or an instant such as the Scheduler's scheduled time; none means today.
    #[serde(default)]
    pub as_of: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// Limit the run to these owner emails.
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub resend: bool,
}

/// What the send ledger holds for one (week, owner).
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerState<'a> {
    /// Nothing sent yet.
    Unsent,
    /// Sent, not yet recorded (the run stopped between the send and Record).
    Sent { list: &'a [ListItem], via: &'a str },
    /// Sent and recorded.
    Recorded { list: &'a [ListItem], via: &'a str },
}

/// What the run does for one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerAction {
    /// Build this week's list and send it (then mark `sent`, then record).
    Send,
    /// Already recorded this week: nothing to do (`already_sent`).
    AlreadySent,
    /// Sent but not recorded: record the ledger's list, never send again.
    RecordFromLedger,
    /// `resend`: send the recorded list again, unchanged; nothing new is recorded.
    Resend,
    /// A dry run of an owner not yet sent: compute and report only.
    DryRun,
}

impl OwnerAction {
    /// Decides from the ledger, `resend` and `dry_run` (SPEC §4 rerun rules).
    pub fn decide(ledger: &LedgerState<'_>, resend: bool, dry_run: bool) -> OwnerAction {
        match (ledger, resend, dry_run) {
            (LedgerState::Unsent, _, true) => OwnerAction::DryRun,
            (LedgerState::Unsent, _, false) => OwnerAction::Send,
            // A dry run never writes or sends, whatever the ledger says.
            (_, _, true) => OwnerAction::AlreadySent,
            (LedgerState::Sent { .. } | LedgerState::Recorded { .. }, true, false) => {
                OwnerAction::Resend
            }
            (LedgerState::Sent { .. }, false, false) => OwnerAction::RecordFromLedger,
            (LedgerState::Recorded { .. }, false, false) => OwnerAction::AlreadySent,
        }
    }
}

/// An owner's status in the run report (SPEC §10).
pub mod status {
    pub const SENT: &str = "sent";
    pub const ALREADY_SENT: &str = "already_sent";
    pub const NOTHING_TO_SEND: &str = "nothing_to_send";
    pub const FAILED: &str = "failed";
    pub const DRY_RUN: &str = "dry_run";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerun_rules() {
        let list: Vec<ListItem> = Vec::new();
        let sent = LedgerState::Sent {
            list: &list,
            via: "slack",
        };
        let recorded = LedgerState::Recorded {
            list: &list,
            via: "slack",
        };
        use OwnerAction::*;
        assert_eq!(
            OwnerAction::decide(&LedgerState::Unsent, false, false),
            Send
        );
        assert_eq!(OwnerAction::decide(&LedgerState::Unsent, true, false), Send);
        assert_eq!(
            OwnerAction::decide(&LedgerState::Unsent, false, true),
            DryRun
        );
        assert_eq!(OwnerAction::decide(&sent, false, false), RecordFromLedger);
        assert_eq!(OwnerAction::decide(&recorded, false, false), AlreadySent);
        assert_eq!(OwnerAction::decide(&recorded, true, false), Resend);
        assert_eq!(OwnerAction::decide(&sent, true, false), Resend);
        assert_eq!(OwnerAction::decide(&recorded, false, true), AlreadySent);
        assert_eq!(OwnerAction::decide(&sent, true, true), AlreadySent);
    }

    #[test]
    fn run_input_reads_the_scheduler_and_console_shapes() {
        let i: RunInput = serde_json::from_str(r#"{"as_of": "2026-11-23T00:00:00Z"}"#).unwrap();
        assert_eq!(i.as_of.as_deref(), Some("2026-11-23T00:00:00Z"));
        assert!(!i.dry_run && !i.resend && i.owners.is_empty());
        let i: RunInput =
            serde_json::from_str(r#"{"dry_run": true, "owners": ["a@x.example"]}"#).unwrap();
        assert!(i.dry_run);
        assert!(
            serde_json::from_str::<RunInput>(r#"{"dryrun": true}"#).is_err(),
            "typos are refused"
        );
        assert_eq!(
            serde_json::from_str::<RunInput>("{}").unwrap(),
            RunInput::default()
        );
    }
}
