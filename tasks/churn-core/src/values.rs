//! Reading the cell values people put in spreadsheets: dates, money and numbers (SPEC §2), and
//! header names.

use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Which numeric date form a list uses: `23/11/2026` (day first) or `11/23/2026` (month first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateOrder {
    #[default]
    DayFirst,
    MonthFirst,
}

/// Why a cell could not be read. The message is shown to a shop owner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

/// Normalises a header (or a measure name) for matching: lower-case, with spaces, `_` and `-`
/// removed (`Last Order Date` = `last_order_date`).
pub fn normalize_header(s: &str) -> String {
    todo!("helper: values")
}

/// Reads a date cell. Blank (after trimming) is `Ok(None)`. Accepts ISO `2026-11-23`, ISO
/// date-time (with `Z` or an offset: converted to its date in `tz`; without: its own date),
/// `23 Nov 2026` (also `23 November 2026`), and the numeric form in `order`.
pub fn parse_date(s: &str, order: DateOrder, tz: &TimeZone) -> Result<Option<Date>, ValueError> {
    todo!("helper: values")
}

/// Reads a money or number cell. Blank is `Ok(None)`. Accepts `1234.5`, `-3`, `$1,234.50`,
/// `1.234,50 €`, `SGD 1,234`, `12,5`, the Unicode minus sign and `(12.50)` as negative.
pub fn parse_number(s: &str) -> Result<Option<f64>, ValueError> {
    todo!("helper: values")
}
