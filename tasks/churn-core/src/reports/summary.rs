//! The monthly summary (docs/SPEC.md §9): last month's flagged, reached, won back (with recovered value)
//! and lost (top reasons), counted from the audit; a one-paragraph narrative whose every number
//! must match the counts (else a template paragraph); and one line of evidence from the last
//! quarter's backtest (docs/SPEC.md §12).

use serde::Serialize;
use serde_json::Value;

use crate::notify::message::{EmailBody, html_escape};
use crate::outcome::state::{AuditItem, LostReason, UNDOABLE_ACTIONS};
use crate::reports::backtest::BacktestReport;

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

/// `YYYY-MM` normalised, and its audit window `[from, to)` as `ts` strings (RFC 3339 UTC with
/// nanoseconds): the month is the business's, in its time zone. `None` for anything else.
pub fn month_window(month: &str, tz: &jiff::tz::TimeZone) -> Option<(String, String, String)> {
    let (y, m) = month.trim().split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m): (i16, i8) = (y.parse().ok()?, m.parse().ok()?);
    let start = jiff::civil::Date::new(y, m, 1).ok()?;
    let next = if m == 12 {
        jiff::civil::Date::new(y + 1, 1, 1).ok()?
    } else {
        jiff::civil::Date::new(y, m + 1, 1).ok()?
    };
    let at = |d: jiff::civil::Date| {
        d.to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| format!("{:.9}", z.timestamp()))
    };
    Some((format!("{y:04}-{m:02}"), at(start)?, at(next)?))
}

/// The month before `date`'s (`YYYY-MM`): what the first-Monday summary reports.
pub fn previous_month(date: jiff::civil::Date) -> String {
    let (y, m) = if date.month() == 1 {
        (date.year() - 1, 12)
    } else {
        (date.year(), date.month() - 1)
    };
    format!("{y:04}-{m:02}")
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

/// Where the month's paragraph came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", content = "why", rename_all = "snake_case")]
pub enum ParagraphSource {
    /// The model's paragraph, every number checked.
    Model,
    /// No model configured: the template by design.
    Template,
    /// The template, because the model's paragraph was refused or the call failed (why).
    Fallback(String),
}

impl ParagraphSource {
    /// `model`, `template` or `fallback`, for logs.
    pub fn label(&self) -> &'static str {
        match self {
            ParagraphSource::Model => "model",
            ParagraphSource::Template => "template",
            ParagraphSource::Fallback(_) => "fallback",
        }
    }
}

/// The month's paragraph: the model's `reply` when it passes [`check_narrative`], else the
/// template. `None` means no model was asked; `Some(Err(why))` a failed call.
pub fn choose_paragraph(
    c: &MonthCounts,
    reply: Option<Result<String, String>>,
) -> (String, ParagraphSource) {
    match reply {
        None => (template_paragraph(c), ParagraphSource::Template),
        Some(Err(why)) => (template_paragraph(c), ParagraphSource::Fallback(why)),
        Some(Ok(text)) => match check_narrative(&text, c) {
            Ok(p) => (p, ParagraphSource::Model),
            Err(rejected) => (
                template_paragraph(c),
                ParagraphSource::Fallback(rejected.to_string()),
            ),
        },
    }
}

/// The model's instructions and the one user message: the month's counts as JSON and nothing
/// else (no names, emails or customer ids ever reach the model).
pub fn narrative_prompt(c: &MonthCounts) -> (String, String) {
    let system = "You write a one-paragraph monthly summary of a small business's customer \
                  retention work for its owners. Use only the numbers given, written exactly as \
                  given (whole numbers; money as given in recovered_value_text); introduce no other \
                  number, no percentages, no dates other than the month. Plain, warm, at most 5 \
                  sentences, no headings, no lists, no markdown. Reply with the paragraph only."
        .to_string();
    let reasons: Vec<Value> = c
        .lost_reasons
        .iter()
        .map(|(r, n)| serde_json::json!({"reason": r, "count": n}))
        .collect();
    let data = serde_json::json!({
        "month": c.month,
        "flagged": c.flagged,
        "reached_out": c.reached,
        "won_back": c.won_back,
        "recovered_value_text": money(c.recovered_value),
        "lost": c.lost,
        "lost_reasons": reasons,
        "came_back_on_their_own": c.reactivated,
    });
    (system, format!("Last month's counts, as JSON:\n{data}"))
}

/// The summary email (SES): subject, HTML and plain text, built the same way locally and on AWS.
pub fn summary_email(c: &MonthCounts, paragraph: &str, evidence: Option<&str>) -> EmailBody {
    let subject = format!("Churn summary for {}", c.month);
    let rows: Vec<(String, String)> = vec![
        ("Flagged on Monday lists".into(), c.flagged.to_string()),
        ("Reached out".into(), c.reached.to_string()),
        (
            "Won back".into(),
            if c.recovered_value > 0.0 {
                format!("{} (value {})", c.won_back, money(c.recovered_value))
            } else {
                c.won_back.to_string()
            },
        ),
        ("Lost".into(), c.lost.to_string()),
        ("Came back on their own".into(), c.reactivated.to_string()),
    ];
    let reasons: Vec<String> = c
        .lost_reasons
        .iter()
        .take(3)
        .map(|(r, n)| format!("{r} ({n})"))
        .collect();
    let mut text = format!("{subject}\n\n{paragraph}\n\n");
    for (k, v) in &rows {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if !reasons.is_empty() {
        text.push_str(&format!("Top lost reasons: {}\n", reasons.join(", ")));
    }
    if let Some(e) = evidence {
        text.push_str(&format!("\n{e}\n"));
    }
    let td = "padding:4px 10px;border-bottom:1px solid #ddd";
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{}</h2><p>{}</p><table style=\"border-collapse:collapse\">",
        html_escape(&subject),
        html_escape(paragraph)
    );
    for (k, v) in &rows {
        html.push_str(&format!(
            "<tr><td style=\"{td}\">{}</td><td style=\"{td};text-align:right\">{}</td></tr>",
            html_escape(k),
            html_escape(v)
        ));
    }
    html.push_str("</table>");
    if !reasons.is_empty() {
        html.push_str(&format!(
            "<p>Top lost reasons: {}</p>",
            html_escape(&reasons.join(", "))
        ));
    }
    if let Some(e) = evidence {
        html.push_str(&format!("<p>{}</p>", html_escape(e)));
    }
    html.push_str("</body></html>");
    EmailBody {
        subject,
        html,
        text,
    }
}

/// The evidence line of a monthly summary, on both paths: the backtest of the last 13 Mondays
/// whose horizon fits in the order history (docs/SPEC.md §9, §12); `None` when the history is too
/// short to replay.
pub fn quarter_evidence(
    orders: &[crate::ingest::orders::Order],
    list: Option<&[crate::reports::backtest::ListCustomer]>,
    rules: &crate::rules::Rules,
) -> Option<String> {
    use crate::reports::backtest::{BacktestOptions, build_input, date_of, replay_range, run};
    let input = build_input(orders, list, rules);
    let (_, to) = replay_range(&input, &BacktestOptions::default()).ok()?;
    let quarter = BacktestOptions {
        from: Some(date_of(to - 12 * 7)),
        to: Some(date_of(to)),
        ..BacktestOptions::default()
    };
    run(&input, rules, &quarter).ok().map(|r| evidence_line(&r))
}

/// One line of evidence from a backtest of the last quarter (docs/SPEC.md §12).
pub fn evidence_line(r: &BacktestReport) -> String {
    let pct = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{:.0}%", v * 100.0));
    let wk = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.0}"));
    format!(
        "Evidence: over the {} Mondays from {} to {}, the names sent were right {} of the time (they went on to stop ordering) with a median of {} weeks of warning; the same number of names picked by the longest silence were right {} of the time.",
        r.weeks,
        r.from,
        r.to,
        pct(r.sent.overall.precision),
        wk(r.sent.overall.median_warning_weeks),
        pct(r.baseline.precision),
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
    fn the_model_paragraph_is_used_only_when_every_number_matches() {
        let c = count_month("2026-11", &fixture());
        let good =
            "In November 2026 owners won back 2 of the 3 flagged customers, recovering 1,501.";
        assert_eq!(
            choose_paragraph(&c, Some(Ok(good.into()))),
            (good.to_string(), ParagraphSource::Model)
        );
        let (p, source) = choose_paragraph(&c, Some(Ok("Owners won back 5 customers.".into())));
        assert_eq!(p, template_paragraph(&c));
        assert_eq!(
            source,
            ParagraphSource::Fallback(
                "the paragraph mentions 5, which is not one of the month's counts".into()
            )
        );
        let (p, source) = choose_paragraph(&c, Some(Err("Bedrock throttled the call".into())));
        assert_eq!(p, template_paragraph(&c));
        assert_eq!(source.label(), "fallback");
        assert_eq!(choose_paragraph(&c, None).1, ParagraphSource::Template);
    }

    #[test]
    fn the_prompt_carries_counts_only() {
        let c = count_month("2026-11", &fixture());
        let (system, user) = narrative_prompt(&c);
        assert!(system.contains("Use only the numbers given"));
        let json: Value = serde_json::from_str(user.split_once('\n').unwrap().1).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "came_back_on_their_own",
                "flagged",
                "lost",
                "lost_reasons",
                "month",
                "reached_out",
                "recovered_value_text",
                "won_back"
            ]
        );
        assert!(!user.contains("C1") && !user.contains("sam"));
    }

    #[test]
    fn the_email_has_both_parts_escaped() {
        let c = count_month("2026-11", &fixture());
        let e = summary_email(&c, "Owners <b>did</b> well & more.", Some("Evidence: x"));
        assert_eq!(e.subject, "Churn summary for 2026-11");
        assert!(
            e.html
                .contains("Owners &lt;b&gt;did&lt;/b&gt; well &amp; more.")
        );
        assert!(e.text.contains("Won back: 2 (value 1,501)"));
        assert!(
            e.text
                .contains("Top lost reasons: price (2), switched to a competitor (1)")
        );
        assert!(e.text.ends_with("Evidence: x\n"));
    }

    #[test]
    fn month_windows_are_local() {
        let sg = jiff::tz::TimeZone::get("Asia/Singapore").unwrap();
        assert_eq!(
            month_window("2026-12", &sg),
            Some((
                "2026-12".into(),
                "2026-11-30T16:00:00.000000000Z".into(),
                "2026-12-31T16:00:00.000000000Z".into()
            ))
        );
        assert_eq!(month_window("November", &sg), None);
        assert_eq!(month_window("2026-13", &sg), None);
        assert_eq!(previous_month(jiff::civil::date(2027, 1, 4)), "2026-12");
        assert_eq!(previous_month(jiff::civil::date(2026, 12, 7)), "2026-11");
    }

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(1234567.4), "1,234,567");
        assert_eq!(money(999.5), "1,000");
        assert_eq!(money(0.0), "0");
    }
}
