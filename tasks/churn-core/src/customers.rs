//! The customer-list reader (SPEC §2): streaming, tolerant of what Sheets and Excel produce, strict
//! about what would make a score wrong.

use std::io::Read;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::values::DateOrder;

/// How to read cells.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub date_order: DateOrder,
    /// Date-times count as their date in this zone.
    pub tz: TimeZone,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { date_order: DateOrder::DayFirst, tz: TimeZone::UTC }
    }
}

/// A column a rules-doc signal measures, by normalised header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuredColumn {
    /// Normalised header (`values::normalize_header`).
    pub column: String,
    /// The header as the rules doc wrote it, for messages.
    pub display: String,
    /// `true` when the signal tests numbers (`at least` / `at most`): an unreadable number makes the
    /// row bad. `false` for `is TEXT` tests.
    pub numeric: bool,
}

/// A problem that stops the run before anything is written or sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ListError {
    #[error("the customer list is empty")]
    Empty,
    #[error("the customer list has a header but no customer rows")]
    NoRows,
    #[error("the customer list has no `{0}` column (headers are matched ignoring case, spaces, `_` and `-`)")]
    MissingColumn(String),
    #[error("the rules measure `{0}`, but the customer list has no such column")]
    MissingMeasuredColumn(String),
    #[error("the customer list has {bad} bad rows out of {rows} ({percent:.1}%): more than 20%, so nothing was scored or sent; fix the rows listed and run again")]
    TooManyBadRows { bad: u64, rows: u64, percent: f64 },
    #[error("the customer list could not be read: {0}")]
    Io(String),
}

/// A skipped row: the line where its record starts and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// A measured column's value in one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellValue<'a> {
    Missing,
    Number(f64),
    Text(&'a str),
}

/// One good row, borrowing the reader's buffer (valid until the next call to `next_row`).
#[derive(Debug)]
pub struct CustomerRow<'a> {
    /// Line where the record starts (1-based; the header is line 1 unless blank lines precede it).
    pub line: u64,
    pub customer_id: &'a str,
    pub name: &'a str,
    /// The owner cell as written (may be blank or not an email: the caller resolves it).
    pub owner: &'a str,
    /// The customer's email (blank → empty string). Never a recipient.
    pub email: &'a str,
    pub last_order_date: Option<Date>,
    pub order_pace_days: Option<f64>,
    pub first_order_date: Option<Date>,
    pub order_count: Option<f64>,
    pub support_mood: Option<f64>,
    pub lifetime_value: Option<f64>,
    // helper: add private fields as needed (e.g. the record and parsed measured cells).
}

impl<'a> CustomerRow<'a> {
    /// The value of the `i`-th `MeasuredColumn` given to `CustomerReader::new`.
    pub fn measure(&self, i: usize) -> CellValue<'a> {
        todo!("helper: customers")
    }
}

/// Counts for the run report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ReadSummary {
    /// Non-blank data rows seen (good + bad).
    pub rows: u64,
    pub good: u64,
    pub bad: u64,
    pub blank: u64,
}

/// Streams a customer list. Usage:
/// ```ignore
/// let mut r = CustomerReader::new(file, opts, &measured)?;
/// while let Some(row) = r.next_row() { match row { Ok(row) => ..., Err(bad) => ... } }
/// let summary = r.finish()?; // Err(TooManyBadRows) when > 20% of non-blank rows were bad
/// ```
pub struct CustomerReader<R: Read> {
    _r: std::marker::PhantomData<R>,
}

impl<R: Read> CustomerReader<R> {
    /// Reads the header; fails when the file is empty, a required column (`customer_id`, `name`,
    /// `owner`) is missing, or a measured column is missing.
    pub fn new(reader: R, opts: ReadOptions, measured: &[MeasuredColumn]) -> Result<Self, ListError> {
        todo!("helper: customers")
    }

    /// The list's headers as written (for `check` and for column-name suggestions).
    pub fn headers(&self) -> Vec<String> {
        todo!("helper: customers")
    }

    /// The next row: `Ok` for a good row, `Err` for a bad one (skip it, report it). Blank rows are
    /// skipped silently. `None` at the end. An I/O or encoding failure of the file itself is
    /// remembered and returned by `finish`.
    #[allow(clippy::should_implement_trait)]
    pub fn next_row(&mut self) -> Option<Result<CustomerRow<'_>, BadRow>> {
        todo!("helper: customers")
    }

    /// Bytes consumed so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        todo!("helper: customers")
    }

    /// Ends the read and applies the stop rules: no data rows → `NoRows`; more than 20% bad rows
    /// → `TooManyBadRows`; a read failure → `Io`.
    pub fn finish(self) -> Result<ReadSummary, ListError> {
        todo!("helper: customers")
    }
}
