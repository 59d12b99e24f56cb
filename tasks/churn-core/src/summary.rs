//! The monthly summary (SPEC §9): last month's flagged, reached, won back (with recovered value)
//! and lost (top reasons), counted from the audit; a one-paragraph narrative whose every number
//! must match the counts (else a template paragraph); and one line of evidence from the last
//! quarter's backtest (SPEC §12).

use serde::Serialize;

use crate::backtest::BacktestReport;
use crate::state::{AuditItem, LostReason, UNDOABLE_ACTIONS};

/// Last month in numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonthCounts {
    /// `YYYY-MM`.
    pub month: String,
    /// Names surfaced on Monday lists.
    pub flagged: u64,
    pub reached: u64,
    pub won_back: u64,
    /// Sum of the recovered values given with Won back.
    pub recovered_value: f64,
    pub lost: u64,
    /// Lost reasons, most frequent first (ties by name).
    pub lost_reasons: Vec<(String, u64)>,
    /// Customers who came back on their own (ordered after being marked lost).
    pub reactivated: u64,
}

/// Counts a month's audit items. Outcomes that were later undone do not count.
pub fn count_month(month: &str, items: &[AuditItem]) -> MonthCounts {
    let undone: Vec<&str> = items
        .iter()
        .filter(|i| i.action == "undo")
        .filter_map(|i| i.notes.get("undoes").and_then(|v| v.as_str()))
        .collect();
    let mut c = MonthCounts {
        month: month.to_string(),
        ..Default::default()
    };
    let mut reasons: Vec<(String, u64)> = Vec::new();
    for i in items {
        if UNDOABLE_ACTIONS.contains(&i.action.as_str()) && undone.contains(&i.ts.as_str()) {
            continue;
        }
        match i.action.as_str() {
            "surfaced" => c.flagged += 1,
            "reached_out" => c.reached += 1,
            "won_back" => {
                c.won_back += 1;
                c.recovered_value += i
                    .notes
                    .get("recovered_value")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
            }
            "lost" => {
                c.lost += 1;
                let r = i
                    .notes
                    .get("lost_reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("other");
                let label =
                    LostReason::parse(r).map_or_else(|| r.to_string(), |l| l.label().to_string());
                match reasons.iter_mut().find(|(name, _)| *name == label) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((label, 1)),
                }
            }
            "reactivated" => c.reactivated += 1,
            _ => {}
        }
    }
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    c.lost_reasons = reasons;
    c
}

/// Money as the summary prints it: whole units with thousands separators (`12,400`).
pub fn money(v: f64) -> String {
    let whole = v.round() as i64;
    let digits = whole.abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if whole < 0 { format!("-{out}") } else { out }
}

/// The template paragraph, used when no model is configured or the model's paragraph fails the
/// number check.
pub fn template_paragraph(c: &MonthCounts) -> String {
    let mut s = format!(
        "In {}, the Monday lists flagged {} customer{}; owners reached out to {}, won back {}",
        c.month,
        c.flagged,
        if c.flagged == 1 { "" } else { "s" },
        c.reached,
        c.won_back
    );
    if c.recovered_value > 0.0 {
        s.push_str(&format!(
            " (recovering {} in value)",
            money(c.recovered_value)
        ));
    }
    s.push_str(&format!(" and marked {} as lost", c.lost));
    if let Some((reason, n)) = c.lost_reasons.first() {
        s.push_str(&format!(", most often for {reason} ({n})"));
    }
    s.push('.');
    if c.reactivated > 0 {
        s.push_str(&format!(" {} came back on their own.", c.reactivated));
    }
    s
}

/// Why a model's paragraph was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NarrativeRejected {
    #[error("the paragraph is empty")]
    Empty,
    #[error("the paragraph is longer than 1,200 characters")]
    TooLong,
    #[error("the paragraph has more than one paragraph")]
    Paragraphs,
    #[error("the paragraph mentions {0}, which is not one of the month's counts")]
    WrongNumber(String),
}

/// Checks a model-written paragraph: one paragraph, and every number in it is one of the counts
/// (the month's year and month, flagged, reached, won back, recovered value, lost, each reason's
/// count, reactivated). Returns the trimmed paragraph.
pub fn check_narrative(text: &str, c: &MonthCounts) -> Result<String, NarrativeRejected> {
    let text = text.trim();
    if text.is_empty() {
        return Err(NarrativeRejected::Empty);
    }
    if text.chars().count() > 1200 {
        return Err(NarrativeRejected::TooLong);
    }
    if text.contains("\n\n") || text.contains("\r\n\r\n") {
        return Err(NarrativeRejected::Paragraphs);
    }
    let mut allowed: Vec<f64> = vec![
        c.flagged as f64,
        c.reached as f64,
        c.won_back as f64,
        c.lost as f64,
        c.reactivated as f64,
        c.recovered_value.round(),
    ];
    allowed.extend(c.lost_reasons.iter().map(|(_, n)| *n as f64));
    if let Some((y, m)) = c.month.split_once('-') {
        allowed.extend([y.parse().unwrap_or(-1.0), m.parse().unwrap_or(-1.0)]);
    }
    for n in numbers(text) {
        let value: f64 = n.replace(',', "").parse().unwrap_or(f64::NAN);
        if !allowed.iter().any(|a| (a - value).abs() < 0.5) {
            return Err(NarrativeRejected::WrongNumber(n));
        }
    }
    Ok(text.to_string())
}

/// Every number in a text, as written (`12,400`, `3.5`, `7`).
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || ((b[i] == b',' || b[i] == b'.')
                        && i + 1 < b.len()
                        && b[i + 1].is_ascii_digit()))
            {
                i += 1;
            }
            out.push(text[start..i].to_string());
        } else {
            i += 1;
        }
    }
    out
}

/// One line of evidence from a backtest of the last quarter (SPEC §12).
pub fn evidence_line(r: &BacktestReport) -> String {
    let pct = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{:.0}%", v * 100.0));
    format!(
        "Evidence: over the {} Mondays from {} to {}, the lists as sent caught {} of the customers who went on to stop ordering (precision {}); the simple \"no order for {} days\" rule caught {} (precision {}).",
        r.weeks,
        r.from,
        r.to,
        pct(r.sent.overall.catch_rate),
        pct(r.sent.overall.precision),
        r.baseline_days,
        pct(r.baseline.catch_rate),
        pct(r.baseline.precision)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    fn item(ts: &str, action: &str, notes: Value) -> AuditItem {
        AuditItem {
            customer_id: "C1".into(),
            ts: ts.into(),
            action: action.into(),
            by_user: "sam".into(),
            before: Map::new(),
            after: Map::new(),
            notes: notes.as_object().cloned().unwrap_or_default(),
        }
    }

    fn fixture() -> Vec<AuditItem> {
        vec![
            item("t1", "surfaced", json!({})),
            item("t2", "surfaced", json!({})),
            item("t3", "surfaced", json!({})),
            item("t4", "reached_out", json!({})),
            item("t5", "won_back", json!({"recovered_value": 1200.0})),
            item("t6", "won_back", json!({"recovered_value": 300.5})),
            item("t7", "lost", json!({"lost_reason": "price"})),
            item("t8", "lost", json!({"lost_reason": "competitor"})),
            item("t9", "lost", json!({"lost_reason": "price"})),
            item("t10", "reached_out", json!({})),
            item("t11", "undo", json!({"undoes": "t10"})),
            item("t12", "reactivated", json!({})),
        ]
    }

    #[test]
    fn counts_from_the_audit_without_undone_outcomes() {
        let c = count_month("2026-11", &fixture());
        assert_eq!(
            (c.flagged, c.reached, c.won_back, c.lost, c.reactivated),
            (3, 1, 2, 3, 1)
        );
        assert_eq!(c.recovered_value, 1500.5);
        assert_eq!(
            c.lost_reasons,
            vec![
                ("price".to_string(), 2),
                ("switched to a competitor".to_string(), 1)
            ]
        );
        let p = template_paragraph(&c);
        assert_eq!(
            p,
            "In 2026-11, the Monday lists flagged 3 customers; owners reached out to 1, won back 2 (recovering 1,501 in value) and marked 3 as lost, most often for price (2). 1 came back on their own."
        );
        assert_eq!(check_narrative(&p, &c).unwrap(), p);
    }

    #[test]
    fn the_number_check_rejects_a_wrong_number() {
        let c = count_month("2026-11", &fixture());
        let good = "November 2026 went well: 3 names flagged, 2 won back worth 1,501, and 3 lost (mostly price).";
        assert!(check_narrative(good, &c).is_ok());
        let wrong = "In November 2026 we flagged 4 customers and won back 2.";
        assert_eq!(
            check_narrative(wrong, &c),
            Err(NarrativeRejected::WrongNumber("4".into()))
        );
        let wrong_value = "Owners won back 2 customers worth 12,000.";
        assert!(matches!(
            check_narrative(wrong_value, &c),
            Err(NarrativeRejected::WrongNumber(_))
        ));
        assert_eq!(check_narrative("  ", &c), Err(NarrativeRejected::Empty));
        assert_eq!(
            check_narrative("One.\n\nTwo.", &c),
            Err(NarrativeRejected::Paragraphs)
        );
    }

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(1234567.4), "1,234,567");
        assert_eq!(money(999.5), "1,000");
        assert_eq!(money(0.0), "0");
    }
}
