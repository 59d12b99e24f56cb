//! What owners did (docs/SPEC.md §5): customer state, the contact pause, outcomes and undo.

pub mod state;
