//! Unique audit timestamps (the domain's clock).

pub use churn_core::run::clock::AuditClock;
