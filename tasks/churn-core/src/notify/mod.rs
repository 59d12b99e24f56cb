//! What owners are told (docs/SPEC.md §6–7): the reasons and their check, the Monday message (Block Kit
//! and email), signed email links, and Slack interactivity payloads.

pub mod home;
pub mod links;
pub mod message;
pub mod reason;
pub mod secret;
pub mod slack;
