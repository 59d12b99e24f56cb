//! Local adapters for the churn predictor: the data folder (`customers.csv`, `rules.txt`,
//! `voice.txt`, `config.toml`), the SQLite state/audit/send ledger, the outbox, and the local
//! compositions of the domain (the weekly run, outcomes, explain).

pub mod compare;
pub mod config;
pub mod demo_data;
pub mod demo_orders;
pub mod digest;
pub mod explain;
pub mod files;
pub mod import_orders;
pub mod list_scores;
pub mod mood;
pub mod outcome;
pub mod outcome_store;
pub mod store;
pub mod summary;
pub mod uplift;
pub mod weekly;
