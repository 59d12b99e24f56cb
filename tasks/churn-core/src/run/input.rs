//! The Monday run's shared decisions (docs/SPEC.md §4), used by the laptop run and the Step Functions
//! tasks alike: what the run input means, and what to do for each owner given the send ledger.

use serde::{Deserialize, Serialize};

use crate::run::ledger::{LedgerEntry, LedgerStatus};

/// The state machine's (or `churn weekly`'s) input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// A date, or an instant such as the Scheduler's scheduled time; none means today.
    #[serde(default)]
    pub as_of: Option<String>,
    /// Compute and report; write and send nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Limit the run to these owner emails.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Send the week's recorded lists again, unchanged.
    #[serde(default)]
    pub resend: bool,
}

/// What the run does for one owner, before any claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerAction {
    /// Build this week's list, claim, send it (then mark `sent`, then record).
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
    /// Decides from the ledger entry, `resend` and `dry_run` (docs/SPEC.md §4 rerun rules). A `sending`
    /// entry counts as not sent: the claim decides what happens to it.
    pub fn decide(entry: Option<&LedgerEntry>, resend: bool, dry_run: bool) -> OwnerAction {
        let status = entry
            .map(|e| e.status)
            .filter(|s| *s != LedgerStatus::Sending);
        match (status, resend, dry_run) {
            (None, _, true) => OwnerAction::DryRun,
            (None, _, false) => OwnerAction::Send,
            // A dry run never writes or sends, whatever the ledger says.
            (Some(_), _, true) => OwnerAction::AlreadySent,
            (Some(_), true, false) => OwnerAction::Resend,
            (Some(LedgerStatus::Sent), false, false) => OwnerAction::RecordFromLedger,
            (Some(_), false, false) => OwnerAction::AlreadySent,
        }
    }
}

/// An owner's status in the run report (docs/SPEC.md §10); the stable strings are [`OwnerStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerStatus {
    /// The list went out (or, from the ledger, was recorded now).
    Sent,
    /// Sent earlier this week, or being sent by another run: nothing sent again.
    AlreadySent,
    /// Nobody left after the pause.
    NothingToSend,
    /// The owner's step failed; the others went on.
    Failed,
    /// Computed only.
    DryRun,
}

impl OwnerStatus {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerStatus::Sent => "sent",
            OwnerStatus::AlreadySent => "already_sent",
            OwnerStatus::NothingToSend => "nothing_to_send",
            OwnerStatus::Failed => "failed",
            OwnerStatus::DryRun => "dry_run",
        }
    }
}

impl std::fmt::Display for OwnerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: LedgerStatus) -> LedgerEntry {
        LedgerEntry {
            week: "2026-W48".into(),
            owner: "a@x.example".into(),
            status,
            run_id: "r".into(),
            via: crate::run::ledger::Via::Slack,
            list: Vec::new(),
            rules_version: "v".into(),
            held_out: Vec::new(),
            lease_until_ms: None,
        }
    }

    #[test]
    fn rerun_rules() {
        let sent = entry(LedgerStatus::Sent);
        let recorded = entry(LedgerStatus::Recorded);
        let sending = entry(LedgerStatus::Sending);
        use OwnerAction::*;
        assert_eq!(OwnerAction::decide(None, false, false), Send);
        assert_eq!(OwnerAction::decide(None, true, false), Send);
        assert_eq!(OwnerAction::decide(None, false, true), DryRun);
        assert_eq!(OwnerAction::decide(Some(&sending), false, false), Send);
        assert_eq!(OwnerAction::decide(Some(&sending), false, true), DryRun);
        assert_eq!(
            OwnerAction::decide(Some(&sent), false, false),
            RecordFromLedger
        );
        assert_eq!(
            OwnerAction::decide(Some(&recorded), false, false),
            AlreadySent
        );
        assert_eq!(OwnerAction::decide(Some(&recorded), true, false), Resend);
        assert_eq!(OwnerAction::decide(Some(&sent), true, false), Resend);
        assert_eq!(
            OwnerAction::decide(Some(&recorded), false, true),
            AlreadySent
        );
        assert_eq!(OwnerAction::decide(Some(&sent), true, true), AlreadySent);
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
