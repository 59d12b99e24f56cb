//! The Lambda functions (docs/SPEC.md §4, §7–9): thin entry points in `src/bin/` over these handlers,
//! which compose the domain (`churn-core`) with the AWS and delivery adapters.

pub mod app;
pub mod digest;
pub mod drive_sync;
pub mod error;
pub mod evidence;
pub mod handoff;
pub mod history;
pub mod mood_reader;
pub mod notice;
pub mod order_import;
pub mod outcome;
pub mod payload;
pub mod record;
pub mod runner;
pub mod scorer;
pub mod summary;
