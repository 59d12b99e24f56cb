//! Reasons (docs/SPEC.md §6): the deterministic reason writer, and the check every model-written reason
//! must pass before it ships.

use crate::model::{BreakdownEntry, Facts};

/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// Why a model-written reason was refused (the list then ships with the deterministic one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonRejected {
    #[error("the reason is empty")]
    Empty,
    #[error("the reason has more than one line")]
    MultiLine,
    #[error("the reason is {0} characters; at most 200")]
    TooLong(usize),
    #[error("the reason mentions the number {0}, which is not in the breakdown")]
    UngroundedNumber(String),
    #[error("the reason mentions the signal `{0}`, which did not score")]
    SignalDidNotScore(String),
    #[error("the reason holds a link, an email address or a mention (`{0}`)")]
    LinkOrMention(String),
}

/// The sentence used when no signal gave points.
const NOTHING_SCORED: &str = "No signal scored this week.";

/// One plain sentence built only from the signals that scored, e.g. `Next order is late: 2.1× the
/// usual pace (64 days since the last order, usually 30); support mood sour.` At most 200
/// characters; nothing scored → `No signal scored this week.`
///
/// Phrases are ordered by points, most first (ties keep breakdown order). When the sentence is too
/// long the lowest-points phrases are dropped; a single phrase that is still too long is cut and
/// ends with `…`. The result is plain text: escape it for Slack or HTML where it is shown.
pub fn deterministic_reason(breakdown: &[BreakdownEntry]) -> String {
    let mut scored: Vec<&BreakdownEntry> = breakdown.iter().filter(|e| e.points > 0).collect();
    // Stable sort keeps breakdown order among equal points.
    scored.sort_by_key(|e| std::cmp::Reverse(e.points));
    let mut phrases: Vec<String> = scored.iter().map(|e| phrase(e)).collect();
    if phrases.is_empty() {
        return NOTHING_SCORED.to_string();
    }
    loop {
        let sentence = format!("{}.", capitalise(&phrases.join("; ")));
        if sentence.chars().count() <= MAX_REASON_CHARS {
            return sentence;
        }
        if phrases.len() > 1 {
            phrases.pop();
            continue;
        }
        let body = capitalise(&phrases[0]);
        let cut: String = body.chars().take(MAX_REASON_CHARS - 1).collect();
        return format!("{}…", cut.trim_end());
    }
}

/// The phrase for one scored entry.
fn phrase(e: &BreakdownEntry) -> String {
    match &e.facts {
        Facts::Overdue { ratio, days, pace } => format!(
            "next order is late: {}× the usual pace ({} days since the last order, usually {})",
            fmt_fixed(*ratio, 1),
            days,
            fmt_num(*pace)
        ),
        Facts::DaysSince { days } => format!("no order for {days} days"),
        Facts::Mood { label, .. } => format!("support mood {label}"),
        Facts::PAlive { p } => format!(
            "only a {}% chance they are still buying",
            fmt_fixed(p * 100.0, 0)
        ),
        Facts::Number { measure, value } => format!("{measure} is {}", fmt_num(*value)),
        Facts::Text { measure, value } => format!("{measure} is {value}"),
        // NoData cannot score; if a caller still gives it points, say what we know.
        Facts::NoData => {
            let detail = e.detail.trim();
            if detail.is_empty() {
                format!("{} scored", e.signal)
            } else {
                format!("{}: {}", e.signal, detail)
            }
        }
    }
}

/// A number with exactly `decimals` decimals (non-finite values print as `?`).
fn fmt_fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "?".to_string();
    }
    let s = format!("{v:.decimals$}");
    // Avoid "-0" / "-0.0" after rounding a tiny negative.
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// A number without a trailing `.0` when whole, else with up to two decimals.
pub(crate) fn fmt_num(v: f64) -> String {
    let s = fmt_fixed(v, 2);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A value the reason may mention: printed with `d` decimals, a number `x` matches when it is
/// within half a unit of its last printed digit (`d >= min_decimals`), or when it equals the
/// value as the breakdown shows it (`display_decimals`).
#[derive(Debug, Clone, Copy)]
struct Allowed {
    value: f64,
    min_decimals: u32,
    display_decimals: u32,
}

impl Allowed {
    fn new(value: f64, min_decimals: u32, display_decimals: u32) -> Self {
        Allowed {
            value,
            min_decimals,
            display_decimals,
        }
    }

    fn exact(value: f64) -> Self {
        Allowed::new(value, 0, 0)
    }

    fn matches(&self, x: f64, decimals: u32) -> bool {
        if !self.value.is_finite() {
            return false;
        }
        let eps = 1e-9;
        let half_unit = 0.5 * 10f64.powi(-(decimals as i32));
        if decimals >= self.min_decimals && (x - self.value).abs() <= half_unit + eps {
            return true;
        }
        let scale = 10f64.powi(self.display_decimals as i32);
        let shown = (self.value * scale).round() / scale;
        (x - shown).abs() <= eps
    }
}

/// Decimals used when a value is shown: 0 when whole, else up to two.
fn shown_decimals(v: f64) -> u32 {
    fmt_num(v)
        .split_once('.')
        .map_or(0, |(_, frac)| frac.len() as u32)
}

/// Every number a reason may mention for this breakdown.
fn allowed_numbers(breakdown: &[BreakdownEntry]) -> Vec<Allowed> {
    let mut allowed = Vec::new();
    let total: u64 = breakdown.iter().map(|e| u64::from(e.points)).sum();
    allowed.push(Allowed::exact(total as f64));
    for e in breakdown {
        allowed.push(Allowed::exact(f64::from(e.points)));
        // Digits inside names ("orders_90d", "Tier 2") are grounded by the names themselves.
        push_numbers_in(&e.signal, &mut allowed);
        match &e.facts {
            Facts::NoData => {}
            Facts::Overdue { ratio, days, pace } => {
                allowed.push(Allowed::new(*ratio, 1, 1));
                allowed.push(Allowed::exact(*days as f64));
                allowed.push(Allowed::new(*pace, 0, shown_decimals(*pace)));
            }
            Facts::DaysSince { days } => allowed.push(Allowed::exact(*days as f64)),
            Facts::Mood { mood, label } => {
                allowed.push(Allowed::new(*mood, 2, 2));
                allowed.push(Allowed::new(mood.abs(), 2, 2));
                push_numbers_in(label, &mut allowed);
            }
            Facts::PAlive { p } => {
                allowed.push(Allowed::new(p * 100.0, 0, 0));
                allowed.push(Allowed::new(*p, 2, 2));
            }
            Facts::Number { measure, value } => {
                allowed.push(Allowed::new(*value, shown_decimals(*value), 2));
                push_numbers_in(measure, &mut allowed);
            }
            Facts::Text { measure, value } => {
                push_numbers_in(measure, &mut allowed);
                push_numbers_in(value, &mut allowed);
            }
        }
    }
    allowed
}

fn push_numbers_in(s: &str, allowed: &mut Vec<Allowed>) {
    for (_, x, decimals) in numbers_in(s) {
        allowed.push(Allowed::new(x, decimals, decimals));
    }
}

/// The numbers in `text`: maximal ASCII digit runs with an optional decimal part (`2.1×` → 2.1,
/// `12%` → 12, `Q4` → 4). Each comes with its spelling and its number of decimals.
fn numbers_in(text: &str) -> Vec<(String, f64, u32)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let mut decimals = 0;
        if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
            i += 1;
            let frac_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            decimals = (i - frac_start) as u32;
        }
        // ASCII-only slice boundaries, so this is always a char boundary.
        let spelled = &text[start..i];
        let value = spelled.parse::<f64>().unwrap_or(f64::INFINITY);
        out.push((spelled.to_string(), value, decimals));
    }
    out
}

/// Byte ranges (in `haystack`) where `needle` occurs as a whole word: not preceded or followed by
/// a letter, digit or `_`.
fn word_occurrences(haystack: &str, needle: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if needle.is_empty() {
        return out;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    for (start, _) in haystack.match_indices(needle) {
        let end = start + needle.len();
        let before_ok = haystack[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word(c));
        let after_ok = haystack[end..].chars().next().is_none_or(|c| !is_word(c));
        if before_ok && after_ok {
            out.push((start, end));
        }
    }
    out
}

/// A signal name and the ways a sentence may spell it (`support_mood`, `support mood`,
/// `support-mood`), lower-cased.
fn name_variants(signal: &str) -> Vec<String> {
    let lower = signal.trim().to_lowercase();
    let mut v = vec![lower.clone()];
    for sep in [" ", "-"] {
        let alt = lower.replace('_', sep);
        if !v.contains(&alt) {
            v.push(alt);
        }
    }
    v.retain(|s| !s.is_empty());
    v
}

/// Checks a model-written reason against the breakdown: one line, ≤ 200 characters, no number
/// that is not among the breakdown's facts (points, the total, values, days, pace, ratio to one
/// decimal, mood to two, `p_alive` as a percentage), no name of a signal that did not score (or
/// had no data). Returns the reason trimmed, as plain text: every message builder escapes it for
/// its medium (`escape_slack` in Block Kit, HTML escaping in email), so `<!channel>` arrives inert.
pub fn check_reason(text: &str, breakdown: &[BreakdownEntry]) -> Result<String, ReasonRejected> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ReasonRejected::Empty);
    }
    if text.chars().any(|c| {
        matches!(
            c,
            '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    }) {
        return Err(ReasonRejected::MultiLine);
    }
    let len = text.chars().count();
    if len > MAX_REASON_CHARS {
        return Err(ReasonRejected::TooLong(len));
    }
    if let Some(word) = link_or_mention(text) {
        return Err(ReasonRejected::LinkOrMention(word));
    }

    let allowed = allowed_numbers(breakdown);
    for (spelled, x, decimals) in numbers_in(text) {
        if !allowed.iter().any(|a| a.matches(x, decimals)) {
            return Err(ReasonRejected::UngroundedNumber(spelled));
        }
    }

    let lower = text.to_lowercase();
    // Spans of names that did score: an unscored name inside one ("mood" in "support mood") is
    // not a mention of its own.
    let scored_spans: Vec<(usize, usize)> = breakdown
        .iter()
        .filter(|e| !did_not_score(e))
        .flat_map(|e| name_variants(&e.signal))
        .flat_map(|n| word_occurrences(&lower, &n))
        .collect();
    for e in breakdown.iter().filter(|e| did_not_score(e)) {
        for name in name_variants(&e.signal) {
            let mentioned = word_occurrences(&lower, &name).into_iter().any(|(s, end)| {
                !scored_spans
                    .iter()
                    .any(|&(ss, se)| ss <= s && end <= se && (se - ss) > (end - s))
            });
            if mentioned {
                return Err(ReasonRejected::SignalDidNotScore(e.signal.clone()));
            }
        }
    }

    Ok(text.to_string())
}

/// The first word of `text` that is a URL (`scheme://`, `www.`, or a bare domain such as
/// `evil.example/login`), an email address, an `@` mention, or a Slack control sequence
/// (`<!here>`, `<@U1>`, `<#C1>`, `<http…|…>`); `None` when there is none. The breakdown never
/// holds such things, so a reason that does came from somewhere else.
fn link_or_mention(text: &str) -> Option<String> {
    if text.contains('@') || text.contains('<') || text.contains("://") {
        let word = text
            .split_whitespace()
            .find(|w| w.contains('@') || w.contains('<') || w.contains("://"))
            .unwrap_or(text);
        return Some(word.chars().take(40).collect());
    }
    text.split_whitespace()
        .find(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            let lower = w.to_ascii_lowercase();
            lower.starts_with("www.") || looks_like_domain(w)
        })
        .map(|w| w.chars().take(40).collect())
}

/// `name.tld` with letters around the dot (`evil.example/login`, `bit.ly`); not `2.1×` or `e.g.`.
fn looks_like_domain(word: &str) -> bool {
    let host = word.split(['/', '?', '#']).next().unwrap_or(word);
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic))
        && labels[0].chars().any(char::is_alphabetic)
}

fn did_not_score(e: &BreakdownEntry) -> bool {
    e.points == 0 || matches!(e.facts, Facts::NoData)
}

/// Escapes Slack's control characters (`&`, `<`, `>`) so user text cannot mention, link or
/// format.
pub fn escape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Fact;

    fn entry(signal: &str, points: u32, facts: Facts) -> BreakdownEntry {
        BreakdownEntry {
            signal: signal.to_string(),
            points,
            value: None,
            detail: String::new(),
            facts,
        }
    }

    fn overdue(points: u32) -> BreakdownEntry {
        let mut e = entry(
            "overdue_ratio",
            points,
            Facts::Overdue {
                ratio: 64.0 / 30.0,
                days: 64,
                pace: 30.0,
            },
        );
        e.value = Some(Fact::Number(64.0 / 30.0));
        e.detail = "64 days since the last order, usually every 30 days".into();
        e
    }

    fn mood(points: u32) -> BreakdownEntry {
        entry(
            "support_mood",
            points,
            Facts::Mood {
                mood: -0.45,
                label: "sour".into(),
            },
        )
    }

    fn spec_breakdown() -> Vec<BreakdownEntry> {
        vec![
            mood(25),
            overdue(40),
            entry("silent", 0, Facts::NoData),
            entry("days_since_last_order", 0, Facts::DaysSince { days: 64 }),
        ]
    }

    #[test]
    fn spec_example() {
        assert_eq!(
            deterministic_reason(&spec_breakdown()),
            "Next order is late: 2.1× the usual pace (64 days since the last order, usually 30); \
             support mood sour."
        );
    }

    #[test]
    fn nothing_scored() {
        assert_eq!(deterministic_reason(&[]), "No signal scored this week.");
        let b = vec![entry("silent", 0, Facts::NoData), mood(0)];
        assert_eq!(deterministic_reason(&b), "No signal scored this week.");
    }

    #[test]
    fn every_phrase_kind() {
        let b = vec![
            entry("days", 10, Facts::DaysSince { days: 190 }),
            entry("p_alive", 10, Facts::PAlive { p: 0.123 }),
            entry(
                "orders",
                5,
                Facts::Number {
                    measure: "orders_90d".into(),
                    value: 3.0,
                },
            ),
            entry(
                "spend",
                5,
                Facts::Number {
                    measure: "spend".into(),
                    value: 12.346,
                },
            ),
            entry(
                "plan",
                1,
                Facts::Text {
                    measure: "plan".into(),
                    value: "basic".into(),
                },
            ),
        ];
        assert_eq!(
            deterministic_reason(&b),
            "No order for 190 days; only a 12% chance they are still buying; orders_90d is 3; \
             spend is 12.35; plan is basic."
        );
    }

    #[test]
    fn pace_fraction_and_ties_keep_order() {
        let b = vec![
            entry(
                "overdue_ratio",
                10,
                Facts::Overdue {
                    ratio: 2.0,
                    days: 61,
                    pace: 30.5,
                },
            ),
            entry("days", 10, Facts::DaysSince { days: 61 }),
        ];
        assert_eq!(
            deterministic_reason(&b),
            "Next order is late: 2.0× the usual pace (61 days since the last order, usually \
             30.5); no order for 61 days."
        );
    }

    #[test]
    fn long_reason_drops_lowest_phrases() {
        let long = "x".repeat(120);
        let b = vec![
            entry(
                "a",
                3,
                Facts::Text {
                    measure: "first".into(),
                    value: long.clone(),
                },
            ),
            entry(
                "b",
                2,
                Facts::Text {
                    measure: "second".into(),
                    value: long.clone(),
                },
            ),
            mood(1),
        ];
        let r = deterministic_reason(&b);
        assert_eq!(r, format!("First is {long}."));
        assert!(r.chars().count() <= MAX_REASON_CHARS);
    }

    #[test]
    fn single_long_phrase_is_cut_at_char_boundary() {
        let b = vec![entry(
            "t",
            3,
            Facts::Text {
                measure: "note".into(),
                value: "é🙂".repeat(300),
            },
        )];
        let r = deterministic_reason(&b);
        assert_eq!(r.chars().count(), MAX_REASON_CHARS);
        assert!(r.ends_with('…'));
        assert!(r.starts_with("Note is é🙂"));
    }

    #[test]
    fn escape_slack_escapes_three_characters() {
        assert_eq!(
            escape_slack("<!channel> & <@U123> \"q\""),
            "&lt;!channel&gt; &amp; &lt;@U123&gt; \"q\""
        );
    }

    #[test]
    fn check_accepts_grounded_reason() {
        let b = spec_breakdown();
        let ok = [
            "Next order is late: 2.1× the usual pace (64 days since the last order, usually 30); support mood sour.",
            "64 days without an order, about 2.13 times their usual 30-day rhythm, and support mood is sour.",
            "Overdue ratio 2.1 gave 40 points, mood -0.45 gave 25; 65 in total.",
            "Mood of 0.45, a gap of 64 days.",
            "  Ordering has slowed (2.1×).  ",
        ];
        for t in ok {
            assert!(
                check_reason(t, &b).is_ok(),
                "{t}: {:?}",
                check_reason(t, &b)
            );
        }
        assert_eq!(
            check_reason("  Ordering has slowed (2.1×).  ", &b).unwrap(),
            "Ordering has slowed (2.1×)."
        );
    }

    #[test]
    fn check_rejects_ungrounded_numbers() {
        let b = spec_breakdown();
        for (t, n) in [
            ("Late by 66 days.", "66"),
            ("Ordering at 2× the usual pace.", "2"),
            ("Ordering at 2.3× the usual pace.", "2.3"),
            ("Ordering at 2.134× the usual pace.", "2.134"),
            ("A 90% chance of leaving.", "90"),
            ("Mood 0.5 sour.", "0.5"),
            ("Sales in Q4 fell.", "4"),
            ("Days 64.4 since.", "64.4"),
        ] {
            assert_eq!(
                check_reason(t, &b),
                Err(ReasonRejected::UngroundedNumber(n.into())),
                "{t}"
            );
        }
    }

    #[test]
    fn check_percent_and_number_values() {
        let b = vec![
            entry("p_alive", 20, Facts::PAlive { p: 0.123 }),
            entry(
                "orders_90d",
                5,
                Facts::Number {
                    measure: "orders_90d".into(),
                    value: 3.7,
                },
            ),
        ];
        assert!(check_reason("Only a 12% chance; orders_90d is 3.7.", &b).is_ok());
        assert!(check_reason("p_alive 0.12.", &b).is_ok());
        assert_eq!(
            check_reason("Only 4 orders.", &b),
            Err(ReasonRejected::UngroundedNumber("4".into()))
        );
        assert_eq!(
            check_reason("A 13.5% chance.", &b),
            Err(ReasonRejected::UngroundedNumber("13.5".into()))
        );
    }

    #[test]
    fn check_rejects_unscored_signals() {
        let b = spec_breakdown();
        assert_eq!(
            check_reason("Late, and SILENT for weeks.", &b),
            Err(ReasonRejected::SignalDidNotScore("silent".into()))
        );
        assert_eq!(
            check_reason("Long days since last order gap.", &b),
            Err(ReasonRejected::SignalDidNotScore(
                "days_since_last_order".into()
            ))
        );
        // Whole words only.
        assert!(check_reason("Late; silently unhappy support mood.", &b).is_ok());

        // An unscored name inside a scored one is not a mention.
        let b = vec![
            entry("mood", 0, Facts::NoData),
            entry(
                "support_mood",
                10,
                Facts::Mood {
                    mood: -0.5,
                    label: "sour".into(),
                },
            ),
        ];
        assert!(check_reason("Support mood is sour.", &b).is_ok());
        assert_eq!(
            check_reason("Support mood is sour and mood overall too.", &b),
            Err(ReasonRejected::SignalDidNotScore("mood".into()))
        );
    }

    #[test]
    fn check_rejects_shape() {
        let b = spec_breakdown();
        assert_eq!(check_reason("   ", &b), Err(ReasonRejected::Empty));
        assert_eq!(
            check_reason("Late.\nVery late.", &b),
            Err(ReasonRejected::MultiLine)
        );
        assert_eq!(
            check_reason("Late.\rSour.", &b),
            Err(ReasonRejected::MultiLine)
        );
        // A trailing newline is trimmed, not a second line.
        assert!(check_reason("Late.\n", &b).is_ok());
        let long = "a".repeat(201);
        assert_eq!(check_reason(&long, &b), Err(ReasonRejected::TooLong(201)));
        assert!(check_reason(&"é".repeat(200), &b).is_ok());
    }

    #[test]
    fn check_refuses_links_addresses_and_mentions() {
        let b = spec_breakdown();
        for (reply, word) in [
            ("Late <!channel> now.", "<!channel>"),
            (
                "Late, see <http://evil.example|click>.",
                "<http://evil.example|click>.",
            ),
            ("Ping <@U64> now.", "<@U64>"),
            (
                "Late; log in at https://evil.example/login now.",
                "https://evil.example/login",
            ),
            (
                "Late; log in at evil.example/login now.",
                "evil.example/login",
            ),
            ("Late; see www.evil.example today.", "www.evil.example"),
            ("Late; short link bit.ly/x today.", "bit.ly/x"),
            ("Late; write to jo@shop.example today.", "jo@shop.example"),
            ("Late; @here look.", "@here"),
            ("Late; @channel look.", "@channel"),
        ] {
            assert_eq!(
                check_reason(reply, &b),
                Err(ReasonRejected::LinkOrMention(word.into())),
                "{reply}"
            );
        }
        // Decimals, abbreviations and sentence ends are not domains.
        for ok in [
            "Next order is late: 2.1× the usual pace, e.g. 64 days.",
            "Late. Sour mood.",
            "Late, i.e. sour.",
        ] {
            let r = check_reason(ok, &b);
            assert!(
                !matches!(r, Err(ReasonRejected::LinkOrMention(_))),
                "{ok}: {r:?}"
            );
        }
        // Escaping stays the builders' job for what passes.
        assert_eq!(escape_slack("Late & sour"), "Late &amp; sour");
    }

    #[test]
    fn deterministic_reason_passes_the_check() {
        let b = spec_breakdown();
        let r = deterministic_reason(&b);
        assert_eq!(check_reason(&r, &b).unwrap(), r);
    }
}
