//! The churn predictor's domain: everything that decides *who* is flagged and *what* the owner is
//! told, with no AWS, Lambda or database dependency. Adapters (local files and SQLite, or AWS)
//! fill its [`ports`] and carry its results. `docs/SPEC.md §N` is section N of the project's
//! specification.
//!
//! The folders follow the Monday run's path:
//!
//! 1. [`list`] reads the customer list (CSV, dates, money) and [`rules`] parses the rules doc;
//! 2. [`scoring`] turns one customer into points, a band and a breakdown, and ranks candidates;
//! 3. [`run`] is the Monday engine: one scan of the list, then per owner the ledger decision,
//!    the claim, the pause, the cap, the reasons, the send with its fallback and the record —
//!    the same code on a laptop and in the Step Functions tasks;
//! 4. [`notify`] builds what owners see (Block Kit, email, signed links, reasons);
//! 5. [`outcome`] applies what owners did (Reached out, Won back, Lost, Undo);
//! 6. [`ingest`] feeds the list: order exports, support mail, Drive sync;
//! 7. [`reports`] looks back: digest, monthly summary, backtest and its plot.

pub mod address;
pub mod model;
pub mod ports;

pub mod ingest;
pub mod list;
pub mod notify;
pub mod outcome;
pub mod reports;
pub mod rules;
pub mod run;
pub mod scoring;

pub use model::{Band, BreakdownEntry, Fact, Facts};
