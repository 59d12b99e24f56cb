//! Small types shared by every part of the domain.

use serde::{Deserialize, Serialize};

/// A customer's band, from calm to urgent. `Ord` follows urgency: `Steady < Watch < AtRisk < Churning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Band {
    #[serde(rename = "steady")]
    Steady,
    #[serde(rename = "watch")]
    Watch,
    #[serde(rename = "at-risk")]
    AtRisk,
    #[serde(rename = "churning")]
    Churning,
}

impl Band {
    /// The name used in the rules doc, JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Steady => "steady",
            Band::Watch => "watch",
            Band::AtRisk => "at-risk",
            Band::Churning => "churning",
        }
    }

    /// Parses the rules-doc / JSON spelling.
    pub fn parse(s: &str) -> Option<Band> {
        match s {
            "steady" => Some(Band::Steady),
            "watch" => Some(Band::Watch),
            "at-risk" => Some(Band::AtRisk),
            "churning" => Some(Band::Churning),
            _ => None,
        }
    }

    /// Whether a customer in this band is a Monday candidate (at-risk or churning).
    pub fn is_candidate(self) -> bool {
        matches!(self, Band::AtRisk | Band::Churning)
    }
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A measured value as it appears in a breakdown's `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fact {
    Number(f64),
    Text(String),
}

/// The facts behind one signal, kept structured so the reason writer and the reason check can
/// use them without re-parsing the `detail` text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Facts {
    /// The measure had no value for this customer.
    #[default]
    NoData,
    /// `overdue_ratio`: days since the last order over the usual pace.
    Overdue { ratio: f64, days: i64, pace: f64 },
    /// `days_since_last_order`.
    DaysSince { days: i64 },
    /// `support_mood`, with its label (sour / flat / happy).
    Mood { mood: f64, label: String },
    /// `p_alive`: the probability the customer is still active.
    PAlive { p: f64 },
    /// Any other numeric column.
    Number { measure: String, value: f64 },
    /// Any text column.
    Text { measure: String, value: String },
}

/// One signal's line in a customer's point breakdown (docs/SPEC.md §6, §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownEntry {
    /// The signal's name from the rules doc.
    pub signal: String,
    /// Points this signal gave.
    pub points: u32,
    /// The measured value, `null` when there is no data.
    pub value: Option<Fact>,
    /// The facts in words ("64 days since the last order, usually every 30 days").
    pub detail: String,
    /// Structured facts for reason writing and the reason check. Serialised (additive to the
    /// public shape) so they survive the hop between the Monday run's tasks.
    #[serde(default)]
    pub facts: Facts,
}

/// The mood label of docs/SPEC.md §6: ≤ −0.33 sour, ≥ 0.33 happy, else flat.
pub fn mood_label(mood: f64) -> &'static str {
    if mood <= -0.33 {
        "sour"
    } else if mood >= 0.33 {
        "happy"
    } else {
        "flat"
    }
}

pub use crate::address::canonical_addresses;

/// Normalises an owner email: trimmed and lower-cased. Whether an address is a customer's is
/// decided on canonical addresses instead ([`canonical_addresses`], docs/SPEC.md §1).
pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Whether `s` looks like an email address (one `@`, something on each side, a dot in the domain,
/// no spaces). Deliberately loose: it only decides between "an owner" and "the fallback owner".
pub fn looks_like_email(s: &str) -> bool {
    let s = s.trim();
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == ';' || c == '<' || c == '>')
}

/// One customer on an owner's Monday list, with everything the messages show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListItem {
    pub customer_id: String,
    pub name: String,
    pub band: Band,
    pub score: u32,
    pub reason: String,
    pub breakdown: Vec<BreakdownEntry>,
    /// Missing = 0 for ranking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_value: Option<f64>,
    pub rules_version: String,
}

/// One surfaced customer as reports show it (docs/SPEC.md §10's `customers` entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerOut {
    pub customer_id: String,
    pub name: String,
    pub band: Band,
    pub score: u32,
    pub reason: String,
    pub breakdown: Vec<BreakdownEntry>,
}

impl From<&ListItem> for CustomerOut {
    fn from(i: &ListItem) -> Self {
        CustomerOut {
            customer_id: i.customer_id.clone(),
            name: i.name.clone(),
            band: i.band,
            score: i.score,
            reason: i.reason.clone(),
            breakdown: i.breakdown.clone(),
        }
    }
}
