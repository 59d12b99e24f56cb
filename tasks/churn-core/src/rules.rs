//! The rules doc (SPEC §3): a plain-text file a shop owner edits, parsed exactly, with an error
//! for every mistake that names the line, quotes it and says what was expected.

use crate::model::Band;

/// What a signal measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// Whole days from the reference date (last order, or a later win-back) to the as-of date.
    DaysSinceLastOrder,
    /// `days_since_last_order ÷ order_pace_days`; no data when the pace is blank or 0.
    OverdueRatio,
    /// BG/NBD probability the customer is still active (SPEC §12).
    PAlive,
    /// A column of the customer list, by normalised header (`support_mood`, `plan`, …).
    Column { normalized: String, display: String },
}

/// One points line of a signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `at least X`: value ≥ X.
    AtLeast(f64),
    /// `at most X`: value ≤ X.
    AtMost(f64),
    /// `is TEXT`: case-insensitive text match (stored lower-cased and trimmed).
    Is(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PointsLine {
    pub test: Test,
    pub points: u32,
    /// 1-based line number in the doc.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub name: String,
    pub about: Option<String>,
    pub measure: Measure,
    pub lines: Vec<PointsLine>,
    pub line: usize,
}

/// The three band cuts (scores), strictly increasing: watch < at-risk < churning, within 1…100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandCuts {
    pub watch: u32,
    pub at_risk: u32,
    pub churning: u32,
}

/// How an owner is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A Slack DM; `user_id` given (`slack U0123ABCD`) or found by email (`slack`).
    Slack { user_id: Option<String> },
    Email,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerLine {
    /// Lower-cased email.
    pub email: String,
    pub channel: Channel,
    pub line: usize,
}

/// A parsed, valid rules doc.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub signals: Vec<Signal>,
    pub bands: BandCuts,
    /// `weekly cap`, default 10.
    pub weekly_cap: usize,
    /// `contact pause`, default 21 days.
    pub contact_pause_days: u32,
    pub owners: Vec<OwnerLine>,
    /// Content hash of the doc's bytes (`rules_version`).
    pub version: String,
}

/// One mistake in the doc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("line {line}: \"{text}\": {message}")]
pub struct RuleError {
    /// 1-based line number (for something missing from the whole doc: the last line + 1).
    pub line: usize,
    /// The line as written (trimmed), or empty for a missing item.
    pub text: String,
    /// What is wrong and what was expected.
    pub message: String,
}

pub const DEFAULT_WEEKLY_CAP: usize = 10;
pub const DEFAULT_CONTACT_PAUSE_DAYS: u32 = 21;

/// The rules version: the first 12 hex digits of the SHA-256 of the doc's bytes.
pub fn rules_version(bytes: &[u8]) -> String {
    todo!("helper: rules")
}

/// Parses a rules doc. Returns every mistake at once, in line order.
pub fn parse_rules(text: &str) -> Result<Rules, Vec<RuleError>> {
    todo!("helper: rules")
}

impl Rules {
    /// The band for a score.
    pub fn band_for(&self, score: u32) -> Band {
        if score >= self.bands.churning {
            Band::Churning
        } else if score >= self.bands.at_risk {
            Band::AtRisk
        } else if score >= self.bands.watch {
            Band::Watch
        } else {
            Band::Steady
        }
    }

    /// The largest possible score: the sum of each signal's largest points.
    pub fn max_total(&self) -> u32 {
        self.signals.iter().map(|s| s.lines.iter().map(|l| l.points).max().unwrap_or(0)).sum()
    }

    /// How `owner` (lower-cased email) is reached: their owner line, else email.
    pub fn channel_for(&self, owner: &str) -> Channel {
        self.owners
            .iter()
            .find(|o| o.email == owner)
            .map(|o| o.channel.clone())
            .unwrap_or(Channel::Email)
    }

    /// The list columns the signals measure (built-in measures excluded), deduplicated, for the
    /// customer reader.
    pub fn measured_columns(&self) -> Vec<crate::customers::MeasuredColumn> {
        let mut out: Vec<crate::customers::MeasuredColumn> = Vec::new();
        for s in &self.signals {
            if let Measure::Column { normalized, display } = &s.measure {
                let numeric = s.lines.iter().any(|l| !matches!(l.test, Test::Is(_)));
                if !out.iter().any(|m| &m.column == normalized) {
                    out.push(crate::customers::MeasuredColumn {
                        column: normalized.clone(),
                        display: display.clone(),
                        numeric,
                    });
                }
            }
        }
        out
    }
}
