//! What owners did (SPEC §5): customer state, the contact pause, outcomes and undo.

pub mod state;
