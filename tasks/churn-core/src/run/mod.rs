//! The Monday run (docs/SPEC.md §4): the run's date and week, one scan of the list, the send ledger's
//! vocabulary, and the engine that hands each owner their list exactly once.

#![warn(missing_docs)]

pub mod clock;
pub mod engine;
pub mod gone;
pub mod holdout;
pub mod input;
pub mod ledger;
pub mod scan;
pub mod week;

pub use engine::{
    Engine, OwnerOutcome, OwnerPlan, OwnerReport, RunContext, RunError, RunErrorKind,
};
pub use input::{OwnerAction, OwnerStatus, RunInput};
pub use ledger::{Claim, ClaimRequest, LedgerEntry, LedgerStatus, SentList, Via};
