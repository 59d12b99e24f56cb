//! Does outreach work? (docs/SPEC.md §3 `holdout`, §10 `churn uplift`, §9 the summary's line.)
//!
//! The honest measure compares customers shown to owners with customers who would have been
//! shown and were held out by the hash (`run::holdout`): the two groups differ only by chance,
//! so a difference in how often they come back is the lists' effect. Counting win-backs alone
//! cannot tell a won-back customer from one who would have returned anyway.
//!
//! Decisions:
//! - **Unit**: a customer, in the group of their **first** decision (listed or held out) in the
//!   window — intention to treat. A held-out customer may be listed in a later week (each week
//!   draws afresh); that can only shrink the measured effect, never inflate it.
//! - **Came back**: an order dated after the week's run date and at most `horizon` days after
//!   it (default 90), or a Won back outcome (not undone) dated from the run date to the end of
//!   the horizon.
//! - **Pending**: a decision whose horizon has not ended by `as_of` is not counted yet.
//! - **Interval**: the difference of the two come-back rates (listed − held out) with a 95%
//!   Newcombe hybrid score interval (Newcombe 1998, method 10: Wilson intervals per group),
//!   which behaves at small counts and rates near 0 or 1, where the Wald interval does not.
//! - **Too few to tell**: fewer than [`MIN_PER_GROUP`] customers in either group, or an
//!   interval wider than ±[`MAX_HALF_WIDTH`] — then no verdict is given.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;
use serde_json::Value;

use crate::outcome::state::AuditItem;
use crate::run::holdout::HELD_OUT_ACTION;

/// Fewest customers per group for a verdict.
pub const MIN_PER_GROUP: u64 = 30;
/// Widest half-interval for a verdict (±25 percentage points).
pub const MAX_HALF_WIDTH: f64 = 0.25;
/// The default horizon in days.
pub const DEFAULT_HORIZON_DAYS: u32 = 90;
/// The 97.5th percentile of the standard normal distribution.
const Z95: f64 = 1.959_963_984_540_054;

/// Which group a customer was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Shown to their owner.
    Surfaced,
    /// Held out of the list by the hash.
    HeldOut,
}

/// One decision of a Monday run about a customer, from the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The customer.
    pub customer_id: String,
    /// Listed or held out.
    pub group: Group,
    /// The run's date.
    pub as_of: Date,
}

/// The decisions (`surfaced` and `held_out` items) and Won back dates (outcomes not undone) in
/// an audit trail.
pub fn read_audit(items: &[AuditItem]) -> (Vec<Decision>, BTreeMap<String, Vec<Date>>) {
    let undone: Vec<&str> = items
        .iter()
        .filter(|i| i.action == "undo")
        .filter_map(|i| i.notes.get("undoes").and_then(Value::as_str))
        .collect();
    let date = |v: Option<&Value>| v.and_then(Value::as_str).and_then(|s| s.parse().ok());
    let mut decisions = Vec::new();
    let mut won_back: BTreeMap<String, Vec<Date>> = BTreeMap::new();
    for i in items {
        match i.action.as_str() {
            "surfaced" => {
                if let Some(as_of) = date(i.after.get("surfaced_date")) {
                    decisions.push(Decision {
                        customer_id: i.customer_id.clone(),
                        group: Group::Surfaced,
                        as_of,
                    });
                }
            }
            a if a == HELD_OUT_ACTION => {
                if let Some(as_of) = date(i.notes.get("as_of")) {
                    decisions.push(Decision {
                        customer_id: i.customer_id.clone(),
                        group: Group::HeldOut,
                        as_of,
                    });
                }
            }
            "won_back" if !undone.contains(&i.ts.as_str()) => {
                if let Some(d) = date(i.after.get("won_back_date")) {
                    won_back.entry(i.customer_id.clone()).or_default().push(d);
                }
            }
            _ => {}
        }
    }
    (decisions, won_back)
}

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct UpliftOptions {
    /// First run date counted (inclusive); `None`: from the first.
    pub from: Option<Date>,
    /// Last run date counted (inclusive); `None`: to the last.
    pub to: Option<Date>,
    /// Days after the run within which an order counts as coming back.
    pub horizon_days: u32,
    /// Today: decisions whose horizon ends after it are pending.
    pub as_of: Date,
}

/// One group's tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GroupTally {
    /// Customers counted.
    pub customers: u64,
    /// Of those, who came back within the horizon.
    pub came_back: u64,
    /// `came_back / customers`; `None` with no customers.
    pub rate: Option<f64>,
}

/// What the comparison says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Too few customers (or too wide an interval) to tell.
    TooFew,
    /// Listed customers come back more often: the interval is above 0.
    Helps,
    /// The interval holds 0.
    NoClearEffect,
    /// Listed customers come back less often: the interval is below 0.
    Hurts,
}

/// The comparison (`churn uplift --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Uplift {
    /// The window of run dates counted, as given (`null` = open).
    pub from: Option<String>,
    /// See `from`.
    pub to: Option<String>,
    /// Today, for the pending check.
    pub as_of: String,
    /// The horizon in days.
    pub horizon_days: u32,
    /// Customers listed (first decision in the window).
    pub surfaced: GroupTally,
    /// Customers held out (first decision in the window).
    pub held_out: GroupTally,
    /// Listed rate − held-out rate; `None` when a group is empty.
    pub difference: Option<f64>,
    /// The 95% interval of the difference (Newcombe hybrid score); `None` when a group is empty.
    pub interval: Option<[f64; 2]>,
    /// Always `newcombe`.
    pub method: &'static str,
    /// What it says.
    pub verdict: Verdict,
    /// Customers whose horizon has not ended yet (not counted).
    pub pending: u64,
    /// The result in one plain sentence.
    pub summary: String,
}

/// The Wilson score interval of `x` of `n` at 95%.
pub fn wilson(x: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The 95% Newcombe hybrid score interval of `x1/n1 − x2/n2`.
pub fn newcombe(x1: u64, n1: u64, x2: u64, n2: u64) -> (f64, f64) {
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let (l1, u1) = wilson(x1, n1);
    let (l2, u2) = wilson(x2, n2);
    let d = p1 - p2;
    let lower = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let upper = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    (lower, upper)
}

/// Whether a customer came back after a decision on `as_of`: an order in (as_of, as_of +
/// horizon], or a Won back in [as_of, as_of + horizon].
pub fn came_back(as_of: Date, horizon_days: u32, orders: &[Date], won_back: &[Date]) -> bool {
    let end = add_days(as_of, horizon_days);
    orders.iter().any(|&d| d > as_of && d <= end)
        || won_back.iter().any(|&d| d >= as_of && d <= end)
}

fn add_days(d: Date, days: u32) -> Date {
    d.checked_add(jiff::Span::new().days(i64::from(days)))
        .unwrap_or(Date::MAX)
}

/// Each customer's first decision with a run date in `[from, to]` (intention to treat), by id.
pub fn first_decisions(
    decisions: &[Decision],
    from: Option<Date>,
    to: Option<Date>,
) -> BTreeMap<&str, &Decision> {
    let mut first: BTreeMap<&str, &Decision> = BTreeMap::new();
    for d in decisions {
        if from.is_some_and(|f| d.as_of < f) || to.is_some_and(|t| d.as_of > t) {
            continue;
        }
        first
            .entry(d.customer_id.as_str())
            .and_modify(|e| {
                if (d.as_of, d.group == Group::HeldOut) < (e.as_of, e.group == Group::HeldOut) {
                    *e = d;
                }
            })
            .or_insert(d);
    }
    first
}

/// Compares the groups. `orders` holds each customer's order dates (any order; those outside
/// the horizon are ignored).
pub fn measure(
    decisions: &[Decision],
    orders: &BTreeMap<String, Vec<Date>>,
    won_back: &BTreeMap<String, Vec<Date>>,
    opts: &UpliftOptions,
) -> Uplift {
    let first = first_decisions(decisions, opts.from, opts.to);
    let (mut surfaced, mut held_out) = (GroupTally::default(), GroupTally::default());
    let mut pending = 0;
    for (id, d) in first {
        if add_days(d.as_of, opts.horizon_days) > opts.as_of {
            pending += 1;
            continue;
        }
        let back = came_back(
            d.as_of,
            opts.horizon_days,
            orders.get(id).map_or(&[][..], Vec::as_slice),
            won_back.get(id).map_or(&[][..], Vec::as_slice),
        );
        let g = match d.group {
            Group::Surfaced => &mut surfaced,
            Group::HeldOut => &mut held_out,
        };
        g.customers += 1;
        g.came_back += u64::from(back);
    }
    for g in [&mut surfaced, &mut held_out] {
        g.rate = (g.customers > 0).then(|| g.came_back as f64 / g.customers as f64);
    }
    let (difference, interval) = match (surfaced.rate, held_out.rate) {
        (Some(a), Some(b)) => {
            let (lo, hi) = newcombe(
                surfaced.came_back,
                surfaced.customers,
                held_out.came_back,
                held_out.customers,
            );
            (Some(a - b), Some([lo, hi]))
        }
        _ => (None, None),
    };
    let verdict = match interval {
        Some([lo, hi])
            if surfaced.customers >= MIN_PER_GROUP
                && held_out.customers >= MIN_PER_GROUP
                && (hi - lo) / 2.0 <= MAX_HALF_WIDTH =>
        {
            if lo > 0.0 {
                Verdict::Helps
            } else if hi < 0.0 {
                Verdict::Hurts
            } else {
                Verdict::NoClearEffect
            }
        }
        _ => Verdict::TooFew,
    };
    let mut u = Uplift {
        from: opts.from.map(|d| d.to_string()),
        to: opts.to.map(|d| d.to_string()),
        as_of: opts.as_of.to_string(),
        horizon_days: opts.horizon_days,
        surfaced,
        held_out,
        difference,
        interval,
        method: "newcombe",
        verdict,
        pending,
        summary: String::new(),
    };
    u.summary = summary_line(&u);
    u
}

/// The monthly summary's comparison (docs/SPEC.md §9): every run whose horizon ended by
/// `month_end`; `None` when nobody was ever held out (no `holdout:` line), so a shop without a
/// holdout gets no line.
pub fn summary_uplift(
    items: &[AuditItem],
    orders: &BTreeMap<String, Vec<Date>>,
    month_end: Date,
) -> Option<Uplift> {
    let (decisions, won_back) = read_audit(items);
    if !decisions.iter().any(|d| d.group == Group::HeldOut) {
        return None;
    }
    Some(measure(
        &decisions,
        orders,
        &won_back,
        &UpliftOptions {
            from: None,
            to: None,
            horizon_days: DEFAULT_HORIZON_DAYS,
            as_of: month_end,
        },
    ))
}

/// Adds the comparison's sentence to a summary email, after everything else (text and HTML).
pub fn add_to_email(email: &mut crate::notify::message::EmailBody, u: &Uplift) {
    email.text.push_str(&format!("\n{}\n", u.summary));
    let p = format!("<p>{}</p>", crate::notify::message::html_escape(&u.summary));
    match email.html.rfind("</body>") {
        Some(i) => email.html.insert_str(i, &p),
        None => email.html.push_str(&p),
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn points(x: f64) -> String {
    let p = (x * 100.0).round();
    if p > 0.0 {
        format!("+{p:.0}")
    } else {
        format!("{:.0}", p + 0.0)
    }
}

/// The comparison in one plain sentence (the summary email's line, the command's text output).
pub fn summary_line(u: &Uplift) -> String {
    let (s, h) = (&u.surfaced, &u.held_out);
    let counts = format!(
        "{} listed and {} held out within {} days",
        s.customers, h.customers, u.horizon_days
    );
    let (Some(d), Some([lo, hi]), Some(rs), Some(rh)) = (u.difference, u.interval, s.rate, h.rate)
    else {
        return format!(
            "Outreach effect: too few customers to tell yet ({counts}; the holdout needs at least {MIN_PER_GROUP} in each group)."
        );
    };
    let numbers = format!(
        "listed customers came back {} of the time, held-out customers {}: {} points (95% interval {} to {}; {counts})",
        pct(rs),
        pct(rh),
        points(d),
        points(lo),
        points(hi)
    );
    match u.verdict {
        Verdict::TooFew => format!(
            "Outreach effect: too few customers to tell yet; {numbers}. At least {MIN_PER_GROUP} per group and an interval narrower than ±{:.0} points are needed.",
            MAX_HALF_WIDTH * 100.0
        ),
        Verdict::Helps => format!("Outreach effect: the lists help; {numbers}."),
        Verdict::NoClearEffect => {
            format!("Outreach effect: no clear difference yet; {numbers}.")
        }
        Verdict::Hurts => {
            format!("Outreach effect: listed customers came back less often; {numbers}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use serde_json::json;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn intervals_match_the_published_values() {
        // Newcombe (1998), Statistics in Medicine 17:873–890, Table II, method 10.
        let (lo, hi) = newcombe(56, 70, 48, 80);
        assert!(close(lo, 0.0524) && close(hi, 0.3339), "{lo} {hi}");
        let (lo, hi) = newcombe(9, 10, 3, 10);
        assert!(close(lo, 0.1705) && close(hi, 0.8090), "{lo} {hi}");
        let (lo, hi) = newcombe(5, 56, 0, 29);
        assert!(close(lo, -0.0381) && close(hi, 0.1926), "{lo} {hi}");
        // Wilson (Newcombe 1998a, 81/263): 0.2553 to 0.3662.
        let (lo, hi) = wilson(81, 263);
        assert!(close(lo, 0.2553) && close(hi, 0.3662), "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (lo, _) = wilson(0, 10);
        assert_eq!(lo, 0.0);
    }

    fn decision(id: &str, group: Group, as_of: Date) -> Decision {
        Decision {
            customer_id: id.into(),
            group,
            as_of,
        }
    }

    fn opts() -> UpliftOptions {
        UpliftOptions {
            from: None,
            to: None,
            horizon_days: 90,
            as_of: date(2027, 6, 1),
        }
    }

    #[test]
    fn come_back_counts_orders_in_the_horizon_and_won_back() {
        let d = date(2026, 11, 23);
        assert!(
            !came_back(d, 90, &[d], &[]),
            "an order on the run day is before it"
        );
        assert!(came_back(d, 90, &[date(2026, 11, 24)], &[]));
        assert!(came_back(d, 90, &[date(2027, 2, 21)], &[]));
        assert!(!came_back(d, 90, &[date(2027, 2, 22)], &[]));
        assert!(came_back(d, 90, &[], &[d]));
        assert!(!came_back(d, 90, &[], &[date(2026, 11, 22)]));
    }

    #[test]
    fn the_first_decision_counts_and_pending_ones_wait() {
        let w1 = date(2026, 11, 2);
        let w2 = date(2026, 11, 9);
        let decisions = vec![
            decision("a", Group::HeldOut, w1),
            decision("a", Group::Surfaced, w2),
            decision("b", Group::Surfaced, w2),
            decision("c", Group::HeldOut, date(2027, 5, 1)),
        ];
        let mut orders = BTreeMap::new();
        orders.insert("a".to_string(), vec![date(2026, 11, 20)]);
        let u = measure(&decisions, &orders, &BTreeMap::new(), &opts());
        assert_eq!(u.held_out.customers, 1);
        assert_eq!(u.held_out.came_back, 1);
        assert_eq!(u.surfaced.customers, 1);
        assert_eq!(u.surfaced.came_back, 0);
        assert_eq!(u.pending, 1);
        assert_eq!(u.verdict, Verdict::TooFew);
        assert!(u.summary.contains("too few"), "{}", u.summary);
        // The window moves the first decision: from w2, `a` is a listed customer.
        let o = UpliftOptions {
            from: Some(w2),
            ..opts()
        };
        let u = measure(&decisions, &orders, &BTreeMap::new(), &o);
        assert_eq!((u.surfaced.customers, u.held_out.customers), (2, 0));
        assert!(u.interval.is_none());
        assert!(u.summary.contains("too few"));
    }

    #[test]
    fn verdicts() {
        let d = date(2026, 11, 2);
        let mut decisions = Vec::new();
        let mut orders = BTreeMap::new();
        // 200 listed, 120 came back; 100 held out, 30 came back.
        for i in 0..300 {
            let id = format!("c{i}");
            let (group, back) = if i < 200 {
                (Group::Surfaced, i < 120)
            } else {
                (Group::HeldOut, i < 230)
            };
            decisions.push(decision(&id, group, d));
            if back {
                orders.insert(id, vec![date(2026, 12, 1)]);
            }
        }
        let u = measure(&decisions, &orders, &BTreeMap::new(), &opts());
        assert!(close(u.difference.unwrap(), 0.3));
        let [lo, hi] = u.interval.unwrap();
        let (elo, ehi) = newcombe(120, 200, 30, 100);
        assert!(close(lo, elo) && close(hi, ehi));
        assert_eq!(u.verdict, Verdict::Helps);
        assert!(u.summary.contains("+30 points"), "{}", u.summary);
        assert!(u.summary.contains("60%") && u.summary.contains("30%"));
        // The same rates in small groups: too few to tell.
        let small: Vec<Decision> = decisions
            .iter()
            .filter(|x| x.customer_id.len() <= 3 && x.customer_id != "c0")
            .cloned()
            .collect();
        let u = measure(&small, &orders, &BTreeMap::new(), &opts());
        assert!(u.held_out.customers < MIN_PER_GROUP);
        assert_eq!(u.verdict, Verdict::TooFew);
        // Equal rates: no clear effect.
        let mut even = BTreeMap::new();
        for i in (0..300).step_by(2) {
            even.insert(format!("c{i}"), vec![date(2026, 12, 1)]);
        }
        let u = measure(&decisions, &even, &BTreeMap::new(), &opts());
        assert_eq!(u.verdict, Verdict::NoClearEffect);
        let json = serde_json::to_value(&u).unwrap();
        for k in [
            "surfaced",
            "held_out",
            "difference",
            "interval",
            "verdict",
            "pending",
            "horizon_days",
            "summary",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
        assert_eq!(json["verdict"], "no_clear_effect");
    }

    #[test]
    fn the_audit_gives_decisions_and_won_back_not_undone() {
        let item = |id: &str, ts: &str, action: &str, after: Value, notes: Value| AuditItem {
            customer_id: id.into(),
            ts: ts.into(),
            action: action.into(),
            by_user: "churn".into(),
            before: serde_json::Map::new(),
            after: after.as_object().unwrap().clone(),
            notes: notes.as_object().unwrap().clone(),
        };
        let items = vec![
            item(
                "a",
                "t1",
                "surfaced",
                json!({"surfaced_date": "2026-11-23"}),
                json!({"week": "2026-W48"}),
            ),
            item(
                "b",
                "t2",
                "held_out",
                json!({}),
                json!({"week": "2026-W48", "as_of": "2026-11-23"}),
            ),
            item(
                "a",
                "t3",
                "won_back",
                json!({"won_back_date": "2026-12-01"}),
                json!({}),
            ),
            item(
                "b",
                "t4",
                "won_back",
                json!({"won_back_date": "2026-12-02"}),
                json!({}),
            ),
            item("b", "t5", "undo", json!({}), json!({"undoes": "t4"})),
            item(
                "c",
                "t6",
                "reached_out",
                json!({"last_contact": "2026-12-01"}),
                json!({}),
            ),
        ];
        let (decisions, won) = read_audit(&items);
        assert_eq!(
            decisions,
            vec![
                decision("a", Group::Surfaced, date(2026, 11, 23)),
                decision("b", Group::HeldOut, date(2026, 11, 23)),
            ]
        );
        assert_eq!(won.len(), 1);
        assert_eq!(won["a"], vec![date(2026, 12, 1)]);
    }
}
