//! Ports: the roles the domain needs filled, each with a local and an AWS adapter beside each
//! other (`SqliteStateStore` / `DynamoDbStateStore`, `DeterministicReasoner` / `BedrockReasoner`).

use crate::model::BreakdownEntry;
use crate::reason::deterministic_reason;

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
