//! Scoring (docs/SPEC.md §3): each signal's measure, its points, the total, the band and the breakdown.
//!
//! The hot path (`Scorer::score`) allocates nothing; the breakdown with its words is built only for
//! the rows that are printed or surfaced.

use std::fmt::Write as _;

use jiff::civil::Date;
use serde::Serialize;

use crate::list::customers::{CellValue, CustomerRow};
use crate::model::{Band, BreakdownEntry, Fact, Facts, mood_label};
use crate::rules::{Measure, Rules, Test};
use crate::run::week::days_between;

/// A signal's measured value for one customer, borrowing text from the row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measured<'a> {
    NoData,
    /// No value, for a stated reason (`p_alive` with too little history).
    Unknown {
        why: &'static str,
    },
    Overdue {
        ratio: f64,
        days: i64,
        pace: f64,
    },
    DaysSince {
        days: i64,
    },
    Mood {
        mood: f64,
    },
    PAlive {
        p: f64,
    },
    Number {
        value: f64,
    },
    Text {
        value: &'a str,
    },
}

/// The measured value as JSON sees it (`value` in a breakdown).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ValueRef<'a> {
    Number(f64),
    Text(&'a str),
}

impl<'a> Measured<'a> {
    /// The breakdown's `value`: the measured number or text, `None` for no data.
    pub fn value(&self) -> Option<ValueRef<'a>> {
        match *self {
            Measured::NoData | Measured::Unknown { .. } => None,
            Measured::Overdue { ratio, .. } => Some(ValueRef::Number(round_to(ratio, 2))),
            Measured::DaysSince { days } => Some(ValueRef::Number(days as f64)),
            Measured::Mood { mood } => Some(ValueRef::Number(mood)),
            Measured::PAlive { p } => Some(ValueRef::Number(round_to(p, 3))),
            Measured::Number { value } => Some(ValueRef::Number(value)),
            Measured::Text { value } => Some(ValueRef::Text(value)),
        }
    }

    /// Writes the breakdown's `detail`, the facts in words, into `out`.
    ///
    /// Pushes text and numbers directly (no `fmt` machinery): this runs for every signal of every
    /// row of `churn score`. The numbers print exactly as `{:.1}`, `{:.2}` and `Num` would.
    pub fn write_detail(&self, measure_display: &str, out: &mut String) {
        out.clear();
        match *self {
            Measured::NoData => out.push_str("no data"),
            Measured::Unknown { why } => out.push_str(why),
            Measured::Overdue { ratio, days, pace } => {
                push_fixed(out, ratio, 1);
                out.push_str("× the usual pace: ");
                push_i64(out, days);
                out.push_str(" days since the last order, usually every ");
                push_num(out, pace);
                out.push_str(" days");
            }
            Measured::DaysSince { days } => {
                push_i64(out, days);
                out.push_str(" days since the last order");
            }
            Measured::Mood { mood } => {
                out.push_str(mood_label(mood));
                out.push_str(" (");
                push_fixed(out, mood, 2);
                out.push(')');
            }
            Measured::PAlive { p } => {
                push_fixed(out, p * 100.0, 0);
                out.push_str("% chance they are still buying");
            }
            Measured::Number { value } => {
                out.push_str(measure_display);
                out.push(' ');
                push_num(out, value);
            }
            Measured::Text { value } => {
                out.push_str(measure_display);
                out.push(' ');
                out.push_str(value);
            }
        }
    }

    /// Owned structured facts for the reason writer.
    pub fn facts(&self, measure_display: &str) -> Facts {
        match *self {
            Measured::NoData | Measured::Unknown { .. } => Facts::NoData,
            Measured::Overdue { ratio, days, pace } => Facts::Overdue { ratio, days, pace },
            Measured::DaysSince { days } => Facts::DaysSince { days },
            Measured::Mood { mood } => Facts::Mood {
                mood,
                label: mood_label(mood).to_string(),
            },
            Measured::PAlive { p } => Facts::PAlive { p },
            Measured::Number { value } => Facts::Number {
                measure: measure_display.to_string(),
                value,
            },
            Measured::Text { value } => Facts::Text {
                measure: measure_display.to_string(),
                value: value.to_string(),
            },
        }
    }
}

/// Prints a number without a trailing `.0` when whole, else with up to two decimals.
pub struct Num(pub f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        push_num(&mut s, self.0);
        f.write_str(&s)
    }
}

/// Appends `Num(x)`: whole numbers below 10^15 as integers, else `{:.2}` without trailing zeros.
pub fn push_num(out: &mut String, x: f64) {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        push_i64(out, x as i64);
    } else {
        let start = out.len();
        push_fixed(out, x, 2);
        let kept = out[start..]
            .trim_end_matches('0')
            .trim_end_matches('.')
            .len();
        out.truncate(start + kept);
    }
}

/// Appends `format!("{x:.decimals$}")` (`decimals` ≤ 3) without the `fmt` machinery, which was
/// a tenth of `churn score`. The same result: the exact binary value, rounded half to even.
pub fn push_fixed(out: &mut String, x: f64, decimals: u32) {
    let Some(units) = fixed_units(x, decimals) else {
        let _ = write!(out, "{x:.*}", decimals as usize);
        return;
    };
    if x.is_sign_negative() {
        out.push('-');
    }
    let scale = 10u64.pow(decimals);
    push_u64(out, units / scale);
    if decimals > 0 {
        out.push('.');
        let mut digits = [b'0'; 3];
        let mut rest = units % scale;
        for d in digits[..decimals as usize].iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        for &d in &digits[..decimals as usize] {
            out.push(char::from(d));
        }
    }
}

/// `|x| · 10^decimals` rounded half to even, computed exactly on the binary value; `None` for
/// `|x|` ≥ 2^53 (left to `fmt`), NaN and infinities, or `decimals` > 3.
fn fixed_units(x: f64, decimals: u32) -> Option<u64> {
    if decimals > 3 {
        return None;
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0x7ff {
        return None;
    }
    let (mantissa, exp) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    // Below 2^53 · 1000 < 2^63.
    let scaled = u128::from(mantissa) * u128::from(10u64.pow(decimals));
    match exp {
        0 => u64::try_from(scaled).ok(),
        1.. => None,
        // Under half a unit: `scaled` < 2^63 ≤ 2^(k-1).
        ..=-64 => Some(0),
        _ => {
            let k = exp.unsigned_abs();
            let (whole, rest, half) = (scaled >> k, scaled & ((1u128 << k) - 1), 1u128 << (k - 1));
            let up = rest > half || (rest == half && whole & 1 == 1);
            u64::try_from(whole + u128::from(up)).ok()
        }
    }
}

/// The decimal digits of `n`, at the end of `buf`.
fn digits(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Appends an integer in decimal.
pub fn push_u64(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    out.extend(digits(n, &mut buf).iter().map(|&d| char::from(d)));
}

/// Appends an integer in decimal to bytes.
pub fn push_u64_bytes(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(digits(n, &mut buf));
}

/// Appends a signed integer in decimal.
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Appends `v` as `serde_json` writes an `f64` (the shortest form that reads back, `.0` on whole
/// numbers, `null` when not finite). Fast path for values with at most two decimals (days,
/// rounded ratios, moods as typed), where that form is the plain decimal; others go to serde_json.
pub fn push_json_number(out: &mut Vec<u8>, v: f64) {
    let hundredths = (v * 100.0).round();
    // Below 10^12 hundredths, two different two-decimal numbers are many units in the last place
    // apart, so the decimal that `hundredths / 100` came from is the shortest that reads back.
    if hundredths.abs() < 1e12 && hundredths / 100.0 == v && !(v == 0.0 && v.is_sign_negative()) {
        let n = hundredths as i64;
        if n < 0 {
            out.push(b'-');
        }
        let n = n.unsigned_abs();
        push_u64_bytes(out, n / 100);
        let cents = n % 100;
        out.push(b'.');
        out.push(b'0' + (cents / 10) as u8);
        if !cents.is_multiple_of(10) {
            out.push(b'0' + (cents % 10) as u8);
        }
    } else {
        let _ = serde_json::to_writer(&mut *out, &v);
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

/// What prior state changes about scoring: a recorded win-back later than the last order resets
/// recency (docs/SPEC.md §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prior {
    pub won_back_date: Option<Date>,
}

/// A customer's score and band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    pub score: u32,
    pub band: Band,
}

/// Scores rows against one rules doc at one as-of date.
pub struct Scorer<'r> {
    rules: &'r Rules,
    as_of: Date,
    /// Per signal: the index of its column among `rules.measured_columns()`, for column measures.
    slots: Vec<Option<usize>>,
    /// Per signal: the name to use in words ("support_mood", "plan").
    displays: Vec<String>,
    mood_slots: Vec<bool>,
    /// The BG/NBD model fitted on this list, for `p_alive`.
    p_alive: Option<crate::scoring::palive::BgNbdParams>,
}

impl<'r> Scorer<'r> {
    pub fn new(rules: &'r Rules, as_of: Date) -> Self {
        let columns = rules.measured_columns();
        let mut slots = Vec::with_capacity(rules.signals.len());
        let mut displays = Vec::with_capacity(rules.signals.len());
        let mut mood_slots = Vec::with_capacity(rules.signals.len());
        for s in &rules.signals {
            match &s.measure {
                Measure::Column {
                    normalized,
                    display,
                } => {
                    slots.push(columns.iter().position(|c| &c.column == normalized));
                    displays.push(display.clone());
                    mood_slots.push(normalized == "supportmood");
                }
                Measure::DaysSinceLastOrder => {
                    slots.push(None);
                    displays.push("days_since_last_order".into());
                    mood_slots.push(false);
                }
                Measure::OverdueRatio => {
                    slots.push(None);
                    displays.push("overdue_ratio".into());
                    mood_slots.push(false);
                }
                Measure::PAlive => {
                    slots.push(None);
                    displays.push("p_alive".into());
                    mood_slots.push(false);
                }
            }
        }
        Scorer {
            rules,
            as_of,
            slots,
            displays,
            mood_slots,
            p_alive: None,
        }
    }

    /// Uses a fitted BG/NBD model for `p_alive` signals.
    pub fn with_p_alive(mut self, params: Option<crate::scoring::palive::BgNbdParams>) -> Self {
        self.p_alive = params;
        self
    }

    /// Whether any signal measures `p_alive` (then the caller fits the model first).
    pub fn needs_p_alive(rules: &Rules) -> bool {
        rules.signals.iter().any(|s| s.measure == Measure::PAlive)
    }

    pub fn rules(&self) -> &'r Rules {
        self.rules
    }

    pub fn as_of(&self) -> Date {
        self.as_of
    }

    /// The date recency counts from: the last order, or a later recorded win-back.
    pub fn reference_date(row: &CustomerRow<'_>, prior: Prior) -> Option<Date> {
        match (row.last_order_date, prior.won_back_date) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Signal `i`'s measured value for a row.
    pub fn measure<'a>(
        &self,
        i: usize,
        row: &CustomerRow<'a>,
        reference: Option<Date>,
    ) -> Measured<'a> {
        let days = || reference.map(|r| days_between(r, self.as_of).max(0));
        match &self.rules.signals[i].measure {
            Measure::DaysSinceLastOrder => {
                days().map_or(Measured::NoData, |days| Measured::DaysSince { days })
            }
            Measure::OverdueRatio => match (days(), row.order_pace_days) {
                (Some(days), Some(pace)) if pace > 0.0 => Measured::Overdue {
                    ratio: days as f64 / pace,
                    days,
                    pace,
                },
                _ => Measured::NoData,
            },
            Measure::PAlive => self.p_alive_of(row),
            Measure::Column { .. } => match self.slots[i].map(|s| row.measure(s)) {
                Some(CellValue::Number(v)) if self.mood_slots[i] => Measured::Mood { mood: v },
                Some(CellValue::Number(v)) => Measured::Number { value: v },
                Some(CellValue::Text(t)) => Measured::Text { value: t },
                Some(CellValue::Missing) | None => Measured::NoData,
            },
        }
    }

    /// `p_alive` for a row, or why there is none (never a misleading 1.0).
    fn p_alive_of<'a>(&self, row: &CustomerRow<'a>) -> Measured<'a> {
        use crate::scoring::palive::{history_is_enough, p_alive, summary_from_orders};
        let Some(params) = self.p_alive.as_ref() else {
            return Measured::Unknown {
                why: "no model: the list has too little order history to fit one",
            };
        };
        let (Some(first), Some(last), Some(count)) =
            (row.first_order_date, row.last_order_date, row.order_count)
        else {
            return Measured::Unknown {
                why: "no order history (first_order_date, last_order_date, order_count)",
            };
        };
        let Some(s) = summary_from_orders(first, last, count.max(0.0).round() as u32, self.as_of)
        else {
            return Measured::Unknown {
                why: "order history does not add up (dates or count)",
            };
        };
        match history_is_enough(s.frequency, s.recency, s.t) {
            Ok(()) => Measured::PAlive {
                p: p_alive(params, s.frequency, s.recency, s.t),
            },
            Err(why) => Measured::Unknown { why },
        }
    }

    /// Points signal `i` gives for a measured value: the first matching line, else 0.
    pub fn points(&self, i: usize, m: &Measured<'_>) -> u32 {
        let number = match *m {
            Measured::NoData | Measured::Unknown { .. } => return 0,
            Measured::Overdue { ratio, .. } => Some(ratio),
            Measured::DaysSince { days } => Some(days as f64),
            Measured::Mood { mood } => Some(mood),
            Measured::PAlive { p } => Some(p),
            Measured::Number { value } => Some(value),
            Measured::Text { .. } => None,
        };
        for line in &self.rules.signals[i].lines {
            let hit = match (&line.test, number, m) {
                (Test::AtLeast(x), Some(v), _) => v >= *x,
                (Test::AtMost(x), Some(v), _) => v <= *x,
                (Test::Is(t), _, Measured::Text { value }) => text_eq(value, t),
                // A number column compared as text (`is 3`): compare its printed form.
                (Test::Is(t), Some(v), _) => Num(v).to_string() == *t,
                _ => false,
            };
            if hit {
                return line.points;
            }
        }
        0
    }

    /// The score and band of a row; fills `out` with each signal's points and measured value.
    pub fn score<'a>(
        &self,
        row: &CustomerRow<'a>,
        prior: Prior,
        out: &mut Vec<(u32, Measured<'a>)>,
    ) -> Score {
        out.clear();
        let reference = Self::reference_date(row, prior);
        let mut total = 0u32;
        for i in 0..self.rules.signals.len() {
            let m = self.measure(i, row, reference);
            let p = self.points(i, &m);
            total += p;
            out.push((p, m));
        }
        Score {
            score: total,
            band: self.rules.band_for(total),
        }
    }

    /// The owned breakdown for one scored row (for surfaced names and `explain`).
    pub fn breakdown(&self, results: &[(u32, Measured<'_>)]) -> Vec<BreakdownEntry> {
        let mut detail = String::new();
        results
            .iter()
            .enumerate()
            .map(|(i, (points, m))| {
                m.write_detail(&self.displays[i], &mut detail);
                BreakdownEntry {
                    signal: self.rules.signals[i].name.clone(),
                    points: *points,
                    value: m.value().map(|v| match v {
                        ValueRef::Number(n) => Fact::Number(n),
                        ValueRef::Text(t) => Fact::Text(t.to_string()),
                    }),
                    detail: detail.clone(),
                    facts: m.facts(&self.displays[i]),
                }
            })
            .collect()
    }

    /// Signal `i`'s name and the measure's display name.
    pub fn signal_names(&self, i: usize) -> (&str, &str) {
        (&self.rules.signals[i].name, &self.displays[i])
    }
}

/// Case-insensitive comparison of a cell with an `is` test's text (already lower-cased).
fn text_eq(cell: &str, lowered: &str) -> bool {
    let cell = cell.trim();
    if cell.is_ascii() && lowered.is_ascii() {
        cell.eq_ignore_ascii_case(lowered)
    } else {
        cell.to_lowercase() == lowered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::customers::{CustomerReader, ReadOptions};
    use crate::rules::parse_rules;
    use jiff::civil::date;
    use proptest::prelude::*;

    const RULES: &str = "signal overdue\n measure: overdue_ratio\n at least 2.0: 40 points\n at least 1.5: 25 points\n\
        signal mood\n measure: support_mood\n at most -0.5: 25 points\n at most 0: 10 points\n\
        signal silent\n measure: days_since_last_order\n at least 180: 15 points\n at least 90: 5 points\n\
        signal plan\n measure: plan\n is paused: 20 points\n\
        band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";

    fn score_csv(
        rules: &Rules,
        csv: &str,
        as_of: Date,
        prior: Prior,
    ) -> Vec<(Score, Vec<BreakdownEntry>)> {
        let mut r = CustomerReader::new(
            csv.as_bytes(),
            ReadOptions::default(),
            &rules.measured_columns(),
        )
        .unwrap();
        let scorer = Scorer::new(rules, as_of);
        let mut out = Vec::new();
        while let Some(row) = r.next_row() {
            let Ok(row) = row else { continue };
            let mut buf = Vec::new();
            let s = scorer.score(&row, prior, &mut buf);
            out.push((s, scorer.breakdown(&buf)));
        }
        out
    }

    #[test]
    fn spec_example_scores_and_explains() {
        let rules = parse_rules(RULES).unwrap();
        let csv = "customer_id,name,owner,last_order_date,order_pace_days,support_mood,plan\n\
                   C1,A,a@x.example,2026-09-20,30,-0.62,Paused\n\
                   C2,B,a@x.example,,30,,active\n\
                   C3,C,a@x.example,2026-05-01,0,0.5,\n";
        let got = score_csv(&rules, csv, date(2026, 11, 23), Prior::default());
        let (s, b) = &got[0];
        assert_eq!((s.score, s.band), (40 + 25 + 20, Band::Churning));
        assert_eq!(
            b[0].detail,
            "2.1× the usual pace: 64 days since the last order, usually every 30 days"
        );
        assert_eq!(b[1].detail, "sour (-0.62)");
        assert_eq!(b[2].points, 0);
        assert_eq!(b[3].value, Some(Fact::Text("Paused".into())));
        let (s, b) = &got[1];
        assert_eq!((s.score, s.band), (0, Band::Steady));
        assert!(
            b.iter()
                .take(3)
                .all(|e| e.detail == "no data" && e.value.is_none())
        );
        // A pace of 0 gives no overdue ratio, but days since the last order still count.
        let (s, b) = &got[2];
        assert_eq!(b[0].value, None);
        assert_eq!(b[2].points, 15);
        assert_eq!(s.score, 15);
    }

    #[test]
    fn a_win_back_resets_recency_until_a_newer_order() {
        let rules = parse_rules(RULES).unwrap();
        let csv = "customer_id,name,owner,last_order_date,order_pace_days,support_mood,plan\nC1,A,a@x.example,2026-05-01,30,,\n";
        let won = Prior {
            won_back_date: Some(date(2026, 11, 16)),
        };
        let (s, b) = &score_csv(&rules, csv, date(2026, 11, 23), won)[0];
        assert_eq!(b[2].value, Some(Fact::Number(7.0)));
        assert_eq!(s.score, 0);
        let old = Prior {
            won_back_date: Some(date(2026, 1, 1)),
        };
        let (_, b) = &score_csv(&rules, csv, date(2026, 11, 23), old)[0];
        assert_eq!(b[2].value, Some(Fact::Number(206.0)));
    }

    fn arb_doc() -> impl Strategy<Value = String> {
        // Three signals with descending thresholds and points that add up to at most 100.
        (1u32..=40, 1u32..=30, 1u32..=30, 1u32..=98, 0.5f64..3.0, -1.0f64..0.0, 1u32..400).prop_map(
            |(a, b, c, w, r, m, d)| {
                let watch = w.max(1);
                let at_risk = (watch + 1).min(99);
                let churning = (at_risk + 1).min(100);
                format!(
                    "signal overdue\nmeasure: overdue_ratio\nat least {r:.2}: {a} points\nat least {:.2}: {} points\n\
                     signal mood\nmeasure: support_mood\nat most {m:.2}: {b} points\n\
                     signal silent\nmeasure: days_since_last_order\nat least {d}: {c} points\n\
                     band watch: at least {watch}\nband at-risk: at least {at_risk}\nband churning: at least {churning}\n",
                    r / 2.0,
                    a / 2
                )
            },
        )
    }

    fn arb_rows() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            (
                proptest::option::of(0i64..800),
                proptest::option::of(0u32..120),
                proptest::option::of(-100i32..=100),
            ),
            1..30,
        )
        .prop_map(|rows| {
            let mut csv = String::from(
                "customer_id,name,owner,last_order_date,order_pace_days,support_mood\n",
            );
            for (i, (days, pace, mood)) in rows.into_iter().enumerate() {
                let last = days
                    .map(|d| {
                        date(2026, 11, 23)
                            .checked_sub(jiff::Span::new().days(d))
                            .unwrap()
                            .to_string()
                    })
                    .unwrap_or_default();
                let pace = pace.map(|p| p.to_string()).unwrap_or_default();
                let mood = mood
                    .map(|m| format!("{:.2}", f64::from(m) / 100.0))
                    .unwrap_or_default();
                csv.push_str(&format!("C{i},N{i},o@x.example,{last},{pace},{mood}\n"));
            }
            csv
        })
    }

    /// `Num` as it was written with `fmt`, the reference for `push_num`.
    fn num_by_fmt(x: f64) -> String {
        if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{}", x as i64)
        } else {
            let s = format!("{:.2}", x);
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }

    /// Floats of every kind: any bit pattern, decimals as typed, ties at .05 and .005, ratios,
    /// huge and tiny values, both signs.
    fn arb_float() -> impl Strategy<Value = f64> {
        let sign = prop_oneof![Just(1.0), Just(-1.0)];
        let shaped = prop_oneof![
            any::<f64>(),
            (-100_000i64..100_000).prop_map(|n| n as f64 / 100.0),
            (-100_000i64..100_000).prop_map(|n| n as f64 / 1000.0),
            (-10_000i64..10_000).prop_map(|n| n as f64 / 10.0 + 0.05),
            (-10_000i64..10_000).prop_map(|n| n as f64 / 100.0 + 0.005),
            (-100_000i64..100_000).prop_map(|n| n as f64 + 0.5),
            (0i64..2000, 1i64..400).prop_map(|(d, p)| d as f64 / p as f64),
            (0u32..1_000_000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b:03}").parse().unwrap()),
            (-308i32..308, 1.0f64..10.0).prop_map(|(e, m)| m * 10f64.powi(e)),
            (1e9f64..1e13),
            prop_oneof![
                Just(0.0),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::MIN_POSITIVE),
                Just(5e-324),
                Just(f64::MAX),
                Just(9007199254740992.0),
                Just(9007199254740991.5),
                Just(4503599627370495.5),
                Just(1e15),
                Just(999999999999999.9),
                Just(0.125),
                Just(0.375),
                Just(2.675),
                Just(1.005),
            ],
        ];
        (shaped, sign).prop_map(|(x, s)| x * s)
    }

    #[test]
    fn fast_numbers_match_fmt_and_serde_on_edge_cases() {
        for x in [
            0.05, 0.15, 0.25, 0.35, -0.05, -0.04, -0.0, 0.0, 0.125, 2.5, 1e300, -1e-300,
        ] {
            for d in 0..=3 {
                let mut s = String::new();
                push_fixed(&mut s, x, d);
                assert_eq!(s, format!("{x:.*}", d as usize), "{x} to {d} decimals");
            }
            let mut j = Vec::new();
            push_json_number(&mut j, x);
            assert_eq!(j, serde_json::to_vec(&x).unwrap(), "{x}");
        }
        let mut s = String::new();
        push_fixed(&mut s, 0.25, 1);
        assert_eq!(s, "0.2", "ties go to even");
        let mut j = Vec::new();
        push_json_number(&mut j, 71.0);
        assert_eq!(j, b"71.0");
    }

    proptest! {
        #[test]
        fn score_is_the_sum_of_the_breakdown_within_0_to_100(doc in arb_doc(), csv in arb_rows()) {
            let rules = parse_rules(&doc).unwrap();
            for (s, b) in score_csv(&rules, &csv, date(2026, 11, 23), Prior::default()) {
                prop_assert_eq!(s.score, b.iter().map(|e| e.points).sum::<u32>());
                prop_assert!(s.score <= 100);
                prop_assert_eq!(s.band, rules.band_for(s.score));
                prop_assert!(b.iter().all(|e| e.points == 0 || e.value.is_some()));
            }
        }

        #[test]
        fn fixed_decimals_print_as_fmt_does(x in arb_float()) {
            for d in 0..=3 {
                let mut s = String::from("x");
                push_fixed(&mut s, x, d);
                prop_assert_eq!(&s[1..], format!("{x:.*}", d as usize), "{:?} to {} decimals", x, d);
            }
        }

        #[test]
        fn num_prints_as_before(x in arb_float()) {
            let mut s = String::from("x");
            push_num(&mut s, x);
            prop_assert_eq!(&s[1..], num_by_fmt(x), "{:?}", x);
            prop_assert_eq!(Num(x).to_string(), num_by_fmt(x));
        }

        #[test]
        fn json_numbers_print_as_serde_does(x in arb_float()) {
            let mut j = b"x".to_vec();
            push_json_number(&mut j, x);
            prop_assert_eq!(&j[1..], &serde_json::to_vec(&x).unwrap()[..], "{:?}", x);
        }

        #[test]
        fn integers_print_as_fmt_does(n in any::<i64>(), small in -1000i64..1000) {
            for n in [n, small, i64::MIN, i64::MAX, 0] {
                let mut s = String::new();
                push_i64(&mut s, n);
                prop_assert_eq!(s, n.to_string());
            }
        }

        #[test]
        fn detail_words_are_as_fmt_wrote_them(x in arb_float(), y in arb_float(), days in -1000i64..100_000) {
            let cases = [
                (Measured::Overdue { ratio: x, days, pace: y },
                 format!("{:.1}× the usual pace: {} days since the last order, usually every {} days", x, days, num_by_fmt(y))),
                (Measured::Mood { mood: x }, format!("{} ({:.2})", mood_label(x), x)),
                (Measured::PAlive { p: x }, format!("{:.0}% chance they are still buying", x * 100.0)),
                (Measured::Number { value: x }, format!("arr {}", num_by_fmt(x))),
                (Measured::DaysSince { days }, format!("{days} days since the last order")),
                (Measured::Text { value: "Paused \"x\"" }, "arr Paused \"x\"".to_string()),
            ];
            let mut out = String::from("left over");
            for (m, want) in cases {
                m.write_detail("arr", &mut out);
                prop_assert_eq!(&out, &want);
            }
        }

        #[test]
        fn band_is_monotone_in_score(doc in arb_doc(), a in 0u32..=100, b in 0u32..=100) {
            let rules = parse_rules(&doc).unwrap();
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(rules.band_for(lo) <= rules.band_for(hi));
        }
    }
}
