//! Terminal output for people: short, aligned, no jargon.

use std::io::Write;

use churn_core::list::customers::{BadRow, CustomerRow};
use churn_core::model::BreakdownEntry;
use churn_core::scoring::score::{Measured, Score, Scorer};
use churn_local::explain::Explanation;
use churn_local::outcome::OutcomeReport;
use churn_local::weekly::WeeklyReport;

/// `overdue 40 (2.1× the usual pace: …) · mood 25 (sour (-0.62))`.
pub fn breakdown_line(b: &[BreakdownEntry]) -> String {
    b.iter()
        .map(|e| format!("{} {}: {}", e.signal, e.points, e.detail))
        .collect::<Vec<_>>()
        .join(" · ")
}

pub fn weekly(r: &WeeklyReport) {
    let mode = if r.dry_run {
        " · DRY RUN: nothing written or sent"
    } else {
        ""
    };
    println!(
        "Week {} (as of {}) · rules version {} · {} customers read, {} bad rows{mode}",
        r.week, r.as_of, r.rules_version, r.rows, r.bad_rows
    );
    if r.owners.is_empty() {
        println!("\nNobody is at risk or churning this week.");
    }
    for o in &r.owners {
        let status = match o.status.as_str() {
            "sent" if !o.posted.is_empty() => "sent (posted to Slack)",
            "sent" => "sent",
            "already_sent" => "already sent this week (nothing sent again)",
            "nothing_to_send" => "nothing to send (everyone is inside the contact pause)",
            "dry_run" => "would be sent",
            "failed" => "FAILED",
            other => other,
        };
        println!();
        println!(
            "{} · via {} · {} · {} of {} candidates",
            o.owner,
            o.via,
            status,
            o.customers.len(),
            o.candidates.max(o.customers.len())
        );
        if let Some(e) = &o.error {
            println!("   error: {e}");
        }
        if o.held_out > 0 {
            println!(
                "   {} more held out by the holdout (never shown; see `churn uplift`)",
                o.held_out
            );
        }
        if o.gone > 0 {
            println!(
                "   {} more left off as gone (silent past `gone after`): mark them Lost with `churn outcome ID lost` if they are",
                o.gone
            );
        }
        for (i, c) in o.customers.iter().enumerate() {
            println!(
                "  {:>2}. {} ({}) · {} · score {}",
                i + 1,
                c.name.replace(['\n', '\r'], " "),
                c.customer_id,
                c.band,
                c.score
            );
            println!("      {}", c.reason);
            println!("      {}", breakdown_line(&c.breakdown));
        }
    }
    println!();
    if r.skipped_paused > 0 {
        println!(
            "Left out {} customer(s) inside the contact pause.",
            r.skipped_paused
        );
    }
    if !r.reactivated.is_empty() {
        println!(
            "Came back on their own (ordered after being marked lost): {}",
            r.reactivated.join(", ")
        );
    }
    if !r.errors.is_empty() {
        println!("Rows skipped ({}):", r.errors.len());
        for e in &r.errors {
            println!("  line {}: {}", e.line, e.reason);
        }
    }
    if !r.dry_run && r.owners.iter().any(|o| !o.files.is_empty()) {
        println!("Outbox: {}", r.outbox);
    }
}

pub fn score_line(
    out: &mut impl Write,
    row: &CustomerRow<'_>,
    s: Score,
    scorer: &Scorer<'_>,
    results: &[(u32, Measured<'_>)],
) -> std::io::Result<()> {
    write!(
        out,
        "{}\t{}\t{}\t{}",
        row.customer_id,
        s.score,
        s.band,
        row.name.replace(['\n', '\r', '\t'], " ")
    )?;
    let mut detail = String::new();
    for (i, (points, m)) in results.iter().enumerate() {
        let (signal, display) = scorer.signal_names(i);
        m.write_detail(display, &mut detail);
        write!(out, "\t{signal} {points} ({detail})")?;
    }
    writeln!(out)
}

pub fn explanation(e: &Explanation) {
    println!(
        "{} ({}) · line {} of the list · owner {}",
        e.name,
        e.customer_id,
        e.line,
        e.owner.as_deref().unwrap_or("(none: no fallback owner)")
    );
    println!(
        "As of {} ({}): {} · score {}",
        e.as_of, e.week, e.band, e.score
    );
    println!("Reason: {}", e.reason);
    for b in &e.breakdown {
        println!("  {:<12} {:>3} points  {}", b.signal, b.points, b.detail);
    }
    println!(
        "Status: {}{}",
        e.status,
        if e.paused {
            " · inside the contact pause"
        } else {
            ""
        }
    );
    for (label, v) in [
        ("surfaced", &e.surfaced_date),
        ("last contact", &e.last_contact),
        ("won back", &e.won_back_date),
    ] {
        if let Some(v) = v {
            println!("  {label}: {v}");
        }
    }
    if let Some(h) = e.history_line() {
        println!("{h}");
    }
    println!("Rules version {}", e.rules_version);
}

pub fn outcome(r: &OutcomeReport) {
    if r.status == "already_recorded" {
        println!(
            "{}: {} was already recorded; nothing changed.",
            r.customer_id,
            r.action.replace('_', " ")
        );
        return;
    }
    let changes: Vec<String> = r
        .after
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}: {} → {}",
                r.before.get(k).map_or("–".into(), show),
                show(v)
            )
        })
        .collect();
    println!(
        "{}: recorded {} by {} on {} ({})",
        r.customer_id,
        r.action.replace('_', " "),
        r.by_user,
        r.date,
        changes.join(", ")
    );
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "–".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn list_check(
    file: &str,
    rows: u64,
    good: u64,
    bad: u64,
    blank: u64,
    errors: &[BadRow],
    stop: Option<&str>,
) {
    if errors.is_empty() && stop.is_none() {
        println!("{file}: {rows} rows, all good ({blank} blank rows ignored)");
        return;
    }
    println!("{file}: {rows} rows, {good} good, {bad} bad ({blank} blank rows ignored)");
    for e in errors {
        println!("  line {}: {}", e.line, e.reason);
    }
    if let Some(s) = stop {
        println!("  This stops the Monday run: {s}");
    }
}

pub fn comparison(c: &churn_local::compare::Comparison) {
    println!(
        "Week {} (as of {}): rules {} → {} · {} would enter, {} would leave. Nothing was written.",
        c.week, c.as_of, c.rules_version_before, c.rules_version_after, c.entering, c.leaving
    );
    if c.owners.is_empty() {
        println!("No list changes.");
    }
    for o in &c.owners {
        println!();
        println!("{}", o.owner);
        for m in &o.entering {
            println!(
                "  + {} ({}): {}",
                m.name.replace(['\n', '\r'], " "),
                m.customer_id,
                m.why
            );
        }
        for m in &o.leaving {
            println!(
                "  - {} ({}): {}",
                m.name.replace(['\n', '\r'], " "),
                m.customer_id,
                m.why
            );
        }
    }
}

/// Whether `s` needs no escaping in a JSON string: no control character, `"` or `\\`.
pub fn json_plain(s: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Eight bytes at a time: a byte below 0x20, or equal to `"` or `\\`, sets its high bit.
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let v = u64::from_le_bytes(word);
        let hit = (v.wrapping_sub(ONES * 0x20) & !v & HIGH)
            | has_zero(v ^ (ONES * u64::from(b'"')))
            | has_zero(v ^ (ONES * u64::from(b'\\')));
        if hit != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// Appends a JSON string; plain text (the common case) is copied without escaping work.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if json_plain(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Writes the customers of `score --json` (the keys and order of docs/SPEC.md §10) straight from
/// the scorer's borrowed results: at a million rows serde's generic path was the bottleneck.
pub struct ScoreJson {
    /// Each signal's `{"signal":"…","points":` prefix, escaped once.
    signals: Vec<Vec<u8>>,
    detail: String,
    first: bool,
}

impl ScoreJson {
    pub fn new(rules: &churn_core::rules::Rules) -> Self {
        let signals = rules
            .signals
            .iter()
            .map(|sig| {
                let mut prefix = b"{\"signal\":".to_vec();
                push_json_str(&mut prefix, &sig.name);
                prefix.extend_from_slice(b",\"points\":");
                prefix
            })
            .collect();
        ScoreJson {
            signals,
            detail: String::new(),
            first: true,
        }
    }

    /// Appends one customer, after a comma unless it is the first.
    pub fn push(
        &mut self,
        out: &mut Vec<u8>,
        customer_id: &str,
        score: Score,
        scorer: &Scorer<'_>,
        results: &[(u32, Measured<'_>)],
    ) {
        use churn_core::scoring::score::{ValueRef, push_json_number, push_u64_bytes};
        if !std::mem::take(&mut self.first) {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"customer_id\":");
        push_json_str(out, customer_id);
        out.extend_from_slice(b",\"score\":");
        push_u64_bytes(out, u64::from(score.score));
        out.extend_from_slice(b",\"band\":\"");
        out.extend_from_slice(score.band.as_str().as_bytes());
        out.extend_from_slice(b"\",\"breakdown\":[");
        for (i, (points, m)) in results.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.signals[i]);
            push_u64_bytes(out, u64::from(*points));
            out.extend_from_slice(b",\"value\":");
            match m.value() {
                None => out.extend_from_slice(b"null"),
                Some(ValueRef::Number(n)) => push_json_number(out, n),
                Some(ValueRef::Text(t)) => push_json_str(out, t),
            }
            out.extend_from_slice(b",\"detail\":");
            m.write_detail(scorer.signal_names(i).1, &mut self.detail);
            push_json_str(out, &self.detail);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain check against the byte-by-byte rule, at every position of every 8-byte word.
    #[test]
    fn json_plain_finds_every_byte_that_needs_escaping() {
        let naive = |s: &str| s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
        let mut cases = vec![
            String::new(),
            "plain text".into(),
            "é ünïcode ✓ text with 0x7f \u{7f}".into(),
        ];
        for len in 1..20 {
            for at in 0..len {
                for bad in [
                    '"', '\\', '\n', '\u{0}', '\u{1f}', '\t', ' ', '!', '#', '[', ']', '\u{80}',
                    'ÿ',
                ] {
                    let mut s: String = "abcdefghijklmnopqrstu"[..len].into();
                    s.replace_range(at..at + 1, &bad.to_string());
                    cases.push(s);
                }
            }
        }
        for s in &cases {
            assert_eq!(json_plain(s), naive(s), "{s:?}");
            let mut out = Vec::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }
}
