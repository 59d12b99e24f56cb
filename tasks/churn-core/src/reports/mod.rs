//! Looking back (docs/SPEC.md §9, §12): the Friday digest, the monthly summary, the backtest and its plot.

pub mod backtest;
pub mod digest;
pub mod plot;
pub mod suggest;
pub mod summary;
pub mod uplift;
