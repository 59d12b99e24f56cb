//! The churn predictor's domain: everything that decides *who* is flagged and *what* the owner is
//! told, with no AWS, Lambda or database dependency. Adapters (local files and SQLite, or AWS)
//! feed it and carry its results.

pub mod backtest;
pub mod clock;
pub mod csv_cells;
pub mod csv_sheet;
pub mod customers;
pub mod digest;
pub mod drive_sync;
pub mod links;
pub mod mail;
pub mod message;
pub mod model;
pub mod mood;
pub mod order_import;
pub mod orders;
pub mod palive;
pub mod plot;
pub mod ports;
pub mod rank;
pub mod reason;
pub mod rules;
pub mod run;
pub mod scan;
pub mod score;
pub mod slack;
pub mod state;
pub mod summary;
pub mod values;
pub mod week;

pub use model::{Band, BreakdownEntry, Fact, Facts};
