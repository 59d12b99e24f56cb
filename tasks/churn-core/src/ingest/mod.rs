//! The lanes that feed the list (docs/SPEC.md §8): order exports, support mail and its mood, Drive sync.

pub mod drive_sync;
pub mod mail;
pub mod mood;
pub mod order_import;
pub mod orders;
