//! The backtest (docs/SPEC.md §12): replays the Monday run week by week over an order history and
//! compares each week's flags with what happened next.
//!
//! Definitions (every count is per customer-week, a customer at one Monday `M`):
//!
//! - **As-of state.** At `M` every measure a doc can take from orders — `days_since_last_order`,
//!   `overdue_ratio`, `order_count`, `order_pace_days`, `first_order_date`, `last_order_date`,
//!   `lifetime_value` (the sum of order amounts, when the file has them) and `p_alive` — is
//!   rebuilt from the orders on or before `M`. `p_alive` uses a BG/NBD model fitted on the orders
//!   before the first replayed Monday (no later order can leak into it). A customer enters the
//!   replay with their first order. Other list columns (`support_mood`, `plan`, …) are taken as
//!   they are now, for every week; outcomes are not simulated.
//! - **Gone and judged.** A customer whose silence at `M` has already reached the horizon is
//!   *already gone*: a flag on them is counted apart and is never a catch. The **judged**
//!   customers are the others (an order within the horizon before `M`).
//! - **Churned at `M`** (judged customers only): no order in `(M, M + horizon]`.
//! - **Sent**: what the real run would have sent — at-risk and churning customers that are not
//!   gone by the rules' gone rule (`run::gone`) nor inside the contact pause (counted from the
//!   last simulated send), ranked with `rank::compare` and capped per owner at the weekly cap.
//!   **Uncapped**: every at-risk or churning customer. **Baseline** (recency): per owner, as many
//!   names as the rules sent that Monday, the judged customers silent longest first.
//! - **Precision** = flagged judged customer-weeks that churned ÷ flagged judged customer-weeks.
//! - **Caught**: a churned customer-week `(c, M)` is caught when `c` was flagged while judged at
//!   some Monday `≤ M` in the same silence. Catch rate = caught ÷ churned.
//! - **Churn episode**: a silence with at least one churned Monday in the replayed range. Its
//!   **confirmation Monday** is the first Monday on or after `last order + horizon`. An episode
//!   is caught when any of its churned Mondays is; its **weeks of warning** run from the first
//!   flag of the silence to the confirmation Monday.
//! - **AUC**: over every judged customer-week, the chance that a churned one scores above one that
//!   stayed (ties count half); the baseline's score is the silence in days.
//! - **Flags per owner per week**: the mean over every (owner, Monday) pair, zeros included, and
//!   the largest (every name, gone or judged).

use jiff::civil::Date;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::ingest::orders::{CustomerKey, Order, pace_of_days};
use crate::list::customers::{BadRow, CellValue, CustomerReader, ListError, ReadOptions};
use crate::model::{Band, looks_like_email, normalize_email};
use crate::rules::{Measure, Rules};
use crate::run::gone::is_gone;
use crate::run::week::day_number;
use crate::scoring::palive::{self, BgNbdParams, Summary};
use crate::scoring::rank::{RankKey, compare};
use crate::scoring::score::{Measured, Scorer};

/// A flag this many weeks or more before a customer is gone leaves time to act (`Metrics::timely`).
pub const ACTIONABLE_WEEKS: i32 = 4;
/// How long a customer must stay silent after a Monday to count as churned, by default.
pub const DEFAULT_HORIZON_DAYS: u32 = 90;
/// The owner of every customer when no customer list is given.
pub const ALL_OWNERS: &str = "all";
/// The owner of customers whose owner cell is blank or not an email address.
pub const UNASSIGNED_OWNER: &str = "unassigned";

/// A static value of a list column a signal measures.
#[derive(Debug, Clone, PartialEq)]
pub enum StaticValue {
    Missing,
    Number(f64),
    Text(String),
}

/// One customer of the customer list, as the backtest uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListCustomer {
    pub customer_id: String,
    /// Lower-cased; empty when blank.
    pub email: String,
    /// Lower-cased owner email, or [`UNASSIGNED_OWNER`].
    pub owner: String,
    pub lifetime_value: Option<f64>,
    /// Per `rules.measured_columns()` entry.
    pub columns: Vec<StaticValue>,
}

/// Reads the customer list for a backtest (docs/SPEC.md §2's reader and stop rules).
pub fn read_list<R: std::io::Read>(
    reader: R,
    opts: ReadOptions,
    rules: &Rules,
) -> Result<(Vec<ListCustomer>, Vec<BadRow>), ListError> {
    let measured = rules.measured_columns();
    let mut rdr = CustomerReader::new(reader, opts, &measured)?;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    while let Some(row) = rdr.next_row() {
        match row {
            Err(b) => bad.push(b),
            Ok(r) => out.push(ListCustomer {
                customer_id: r.customer_id.to_string(),
                email: normalize_email(r.email),
                owner: if looks_like_email(r.owner) {
                    normalize_email(r.owner)
                } else {
                    UNASSIGNED_OWNER.to_string()
                },
                lifetime_value: r.lifetime_value,
                columns: (0..measured.len())
                    .map(|i| match r.measure(i) {
                        CellValue::Missing => StaticValue::Missing,
                        CellValue::Number(v) => StaticValue::Number(v),
                        CellValue::Text(t) => StaticValue::Text(t.to_string()),
                    })
                    .collect(),
            }),
        }
    }
    rdr.finish()?;
    Ok((out, bad))
}

/// One customer in the replay.
#[derive(Debug, Clone)]
pub struct Subject {
    pub customer_id: String,
    /// Index into [`BacktestInput::owners`].
    pub owner: usize,
    pub lifetime_value: Option<f64>,
    /// Points from the list's static columns.
    pub static_points: u32,
    /// Sorted distinct order days (`week::day_number`).
    pub days: Vec<i32>,
    /// Orders on or before each of `days` (cumulative), for an `order_count` measure.
    pub orders_through: Vec<u32>,
    /// Order amounts up to each of `days` (cumulative), for `lifetime_value`; empty when none of
    /// the customer's orders has an amount.
    pub spent_through: Vec<f64>,
}

/// What the replay runs over.
#[derive(Debug, Clone)]
pub struct BacktestInput {
    pub subjects: Vec<Subject>,
    pub owners: Vec<String>,
    /// Orders whose customer is not in the list (only with a list).
    pub unmatched_orders: u64,
    /// Distinct unknown customer keys (only with a list).
    pub unknown_customers: u64,
}

/// A measure the orders supply week by week.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dynamic {
    DaysSince,
    Overdue,
    OrderCount,
    Pace,
    FirstOrderDate,
    LastOrderDate,
    LifetimeValue,
    PAlive,
}

/// Which signals change week by week, and how.
fn dynamic_signals(rules: &Rules) -> Vec<(usize, Dynamic)> {
    rules
        .signals
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.measure {
            Measure::DaysSinceLastOrder => Some((i, Dynamic::DaysSince)),
            Measure::OverdueRatio => Some((i, Dynamic::Overdue)),
            Measure::Column { normalized, .. } if normalized == "ordercount" => {
                Some((i, Dynamic::OrderCount))
            }
            Measure::Column { normalized, .. } if normalized == "orderpacedays" => {
                Some((i, Dynamic::Pace))
            }
            Measure::Column { normalized, .. } if normalized == "firstorderdate" => {
                Some((i, Dynamic::FirstOrderDate))
            }
            Measure::Column { normalized, .. } if normalized == "lastorderdate" => {
                Some((i, Dynamic::LastOrderDate))
            }
            Measure::Column { normalized, .. } if normalized == "lifetimevalue" => {
                Some((i, Dynamic::LifetimeValue))
            }
            Measure::PAlive => Some((i, Dynamic::PAlive)),
            _ => None,
        })
        .collect()
}

/// Points a list customer's static columns give (every column signal the orders do not supply).
fn static_points(rules: &Rules, scorer: &Scorer<'_>, c: &ListCustomer) -> u32 {
    let columns = rules.measured_columns();
    let dynamic = dynamic_signals(rules);
    let mut total = 0;
    for (i, s) in rules.signals.iter().enumerate() {
        let Measure::Column { normalized, .. } = &s.measure else {
            continue;
        };
        if dynamic.iter().any(|&(j, _)| j == i) {
            continue;
        }
        let value = columns
            .iter()
            .position(|m| &m.column == normalized)
            .and_then(|slot| c.columns.get(slot));
        let m = match value {
            Some(StaticValue::Number(v)) if normalized == "supportmood" => {
                Measured::Mood { mood: *v }
            }
            Some(StaticValue::Number(v)) => Measured::Number { value: *v },
            Some(StaticValue::Text(t)) => Measured::Text { value: t },
            Some(StaticValue::Missing) | None => Measured::NoData,
        };
        total += scorer.points(i, &m);
    }
    total
}

/// Groups orders by customer. With a list, orders are matched by id, then by email ignoring case
/// (an email key also matches an id, for lists keyed by email); orders of unknown customers are
/// counted and left out, and list customers without orders stay in (they never enter the replay).
/// Without a list every distinct key is a customer, all with one owner, [`ALL_OWNERS`].
pub fn build_input(
    orders: &[Order],
    list: Option<&[ListCustomer]>,
    rules: &Rules,
) -> BacktestInput {
    let scorer = Scorer::new(rules, jiff::civil::date(2000, 1, 1));
    let mut subjects: Vec<Subject> = Vec::new();
    let mut owners: Vec<String> = Vec::new();
    let mut unmatched_orders = 0u64;
    let mut unknown: rustc_hash::FxHashSet<&str> = Default::default();
    let mut pairs: Vec<(u32, i32, f64)> = Vec::with_capacity(orders.len());
    match list {
        Some(list) => {
            let mut owner_ix: FxHashMap<&str, usize> = FxHashMap::default();
            let mut by_id: FxHashMap<&str, u32> = FxHashMap::default();
            let mut by_email: FxHashMap<&str, u32> = FxHashMap::default();
            for (i, c) in list.iter().enumerate() {
                let o = *owner_ix.entry(c.owner.as_str()).or_insert_with(|| {
                    owners.push(c.owner.clone());
                    owners.len() - 1
                });
                by_id.insert(c.customer_id.as_str(), i as u32);
                if !c.email.is_empty() {
                    by_email.entry(c.email.as_str()).or_insert(i as u32);
                }
                subjects.push(Subject {
                    customer_id: c.customer_id.clone(),
                    owner: o,
                    lifetime_value: c.lifetime_value,
                    static_points: static_points(rules, &scorer, c),
                    days: Vec::new(),
                    orders_through: Vec::new(),
                    spent_through: Vec::new(),
                });
            }
            for o in orders {
                let hit = match &o.customer_key {
                    CustomerKey::Id(k) => by_id.get(k.as_str()).copied(),
                    CustomerKey::Email(e) => by_email
                        .get(e.as_str())
                        .or_else(|| by_id.get(e.as_str()))
                        .copied(),
                };
                match hit {
                    Some(i) => pairs.push((i, day_number(o.date) as i32, amount_of(o))),
                    None => {
                        unmatched_orders += 1;
                        unknown.insert(o.customer_key.as_str());
                    }
                }
            }
        }
        None => {
            owners.push(ALL_OWNERS.to_string());
            let mut ix: FxHashMap<&CustomerKey, u32> = FxHashMap::default();
            for o in orders {
                let i = *ix.entry(&o.customer_key).or_insert_with(|| {
                    subjects.push(Subject {
                        customer_id: o.customer_key.as_str().to_string(),
                        owner: 0,
                        lifetime_value: None,
                        static_points: 0,
                        days: Vec::new(),
                        orders_through: Vec::new(),
                        spent_through: Vec::new(),
                    });
                    (subjects.len() - 1) as u32
                });
                pairs.push((i, day_number(o.date) as i32, amount_of(o)));
            }
        }
    }
    pairs.sort_unstable_by_key(|a| (a.0, a.1));
    let mut count = 0u32;
    let mut spent = 0.0f64;
    let mut any_amount = false;
    let mut prev = u32::MAX;
    for (i, d, amount) in pairs {
        if i != prev {
            if prev != u32::MAX && !any_amount {
                subjects[prev as usize].spent_through.clear();
            }
            count = 0;
            spent = 0.0;
            any_amount = false;
            prev = i;
        }
        count += 1;
        if amount.is_finite() {
            spent += amount;
            any_amount = true;
        }
        let s = &mut subjects[i as usize];
        if s.days.last() == Some(&d) {
            if let Some(n) = s.orders_through.last_mut() {
                *n = count;
            }
            if let Some(v) = s.spent_through.last_mut() {
                *v = spent;
            }
        } else {
            s.days.push(d);
            s.orders_through.push(count);
            s.spent_through.push(spent);
        }
    }
    if prev != u32::MAX && !any_amount {
        subjects[prev as usize].spent_through.clear();
    }
    BacktestInput {
        subjects,
        owners,
        unmatched_orders,
        unknown_customers: unknown.len() as u64,
    }
}

/// An order's amount, or NaN when it has none (a refund's negative amount counts).
fn amount_of(o: &Order) -> f64 {
    o.amount.unwrap_or(f64::NAN)
}

/// Which Mondays to replay and how far ahead to look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BacktestOptions {
    /// First Monday (a later day is moved to the next Monday). Default: the first Monday at
    /// least `horizon` days after the history's first order, so each replayed Monday has as much
    /// history behind it as the horizon ahead.
    pub from: Option<Date>,
    /// Last Monday (moved back to a Monday). Mondays whose horizon reaches past the history's
    /// last order are always left out.
    pub to: Option<Date>,
    pub horizon_days: u32,
}

impl Default for BacktestOptions {
    fn default() -> Self {
        BacktestOptions {
            from: None,
            to: None,
            horizon_days: DEFAULT_HORIZON_DAYS,
        }
    }
}

/// Why the replay could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BacktestError {
    #[error("the order history has no orders to replay")]
    NoOrders,
    #[error(
        "no Monday to replay: the history runs {first} … {last}, and a Monday counts only when its {horizon}-day horizon ends by the last order (asked: {from} … {to})"
    )]
    NoMondays {
        first: Date,
        last: Date,
        horizon: u32,
        from: Date,
        to: Date,
    },
}

/// One group's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Flagged judged customer-weeks.
    pub flagged: u64,
    /// Flagged judged customer-weeks that churned.
    pub flagged_churned: u64,
    /// Churned judged customer-weeks (the same for every group).
    pub churned: u64,
    /// Churned customer-weeks flagged beforehand in the same silence.
    pub caught: u64,
    /// `caught ÷ churned` (0…1); `None` when nobody churned.
    pub catch_rate: Option<f64>,
    /// `flagged_churned ÷ flagged` (0…1); `None` when nothing was flagged.
    pub precision: Option<f64>,
    /// Churn episodes caught.
    pub caught_episodes: u64,
    /// Median weeks from the first flag to the confirmation Monday, over caught episodes.
    pub median_warning_weeks: Option<f64>,
    /// Mean names per owner per Monday (gone ones included).
    pub flags_per_owner_week: f64,
    /// Most names one owner got on one Monday.
    pub max_flags_per_owner_week: u64,
    /// Flags on customers already gone (silent for the whole horizon): never a catch.
    pub already_gone: u64,
    /// Flags on customers who churned, raised at least [`ACTIONABLE_WEEKS`] weeks before the
    /// silence reached the horizon (time to act).
    pub timely: u64,
}

/// A view's figures per band and overall.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ViewMetrics {
    pub at_risk: Metrics,
    pub churning: Metrics,
    pub overall: Metrics,
}

/// One Monday's overall rates for one view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    pub flagged: u64,
    pub flagged_churned: u64,
    pub caught: u64,
    pub catch_rate: Option<f64>,
    pub precision: Option<f64>,
    pub already_gone: u64,
}

/// One Monday of the replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekPoint {
    pub monday: Date,
    /// Judged customers at this Monday (an order within the horizon before it).
    pub customers: u64,
    pub churned: u64,
    /// Customers already gone at this Monday.
    pub gone: u64,
    pub sent: Rates,
    pub uncapped: Rates,
    pub baseline: Rates,
}

/// How well a score ranks the judged customer-weeks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Auc {
    /// The rules' score.
    pub rules: Option<f64>,
    /// The silence in days (recency).
    pub baseline: Option<f64>,
}

/// What the gone rule did on the sent lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GoneRuleEffect {
    /// The rules' `gone after` in days (`None`: never).
    pub gone_after_days: Option<u32>,
    /// At-risk or churning customer-weeks the rule kept off the lists.
    pub kept_off: u64,
    /// Of those, customer-weeks already gone by the horizon.
    pub kept_off_already_gone: u64,
    /// Of those, judged customer-weeks that ordered again within the horizon (could have been won).
    pub kept_off_returned: u64,
}

/// The whole result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    pub from: Date,
    pub to: Date,
    pub weeks: usize,
    pub horizon_days: u32,
    /// The silence that makes a customer already gone (the horizon); the recency baseline ranks
    /// the judged customers below it.
    pub baseline_days: i32,
    /// `recency_top_n`: per owner, as many names as the rules sent, silent longest first.
    pub baseline_kind: &'static str,
    pub weekly_cap: usize,
    pub contact_pause_days: u32,
    pub rules_version: String,
    pub customers: usize,
    pub owners: Vec<String>,
    /// Judged customer-weeks.
    pub customer_weeks: u64,
    pub churned_weeks: u64,
    /// Customer-weeks already gone (not judged).
    pub gone_weeks: u64,
    pub churn_episodes: u64,
    pub unmatched_orders: u64,
    pub unknown_customers: u64,
    pub auc: Auc,
    pub sent: ViewMetrics,
    pub uncapped: ViewMetrics,
    pub baseline: Metrics,
    pub gone_rule: GoneRuleEffect,
    /// The BG/NBD model used for `p_alive` (fitted on the orders before `from`), when the rules
    /// measure it and a model could be fitted.
    pub p_alive_model: Option<BgNbdParams>,
    pub weekly: Vec<WeekPoint>,
}

/// How the rules compare with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A better AUC and a list at least as precise.
    Beat,
    /// Better on one, not on the other.
    Mixed,
    /// Better on neither.
    DidNotBeat,
}

impl BacktestReport {
    /// Compares the rules with recency on the two things an owner feels: how well the scores rank
    /// everyone (AUC) and how many of the names sent were right (precision, same number of names),
    /// and says so in one plain sentence.
    pub fn verdict(&self) -> (Verdict, String) {
        let pct = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{:.1}%", x * 100.0));
        let two = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.3}"));
        let (ra, ba) = (
            self.auc.rules.unwrap_or(0.0),
            self.auc.baseline.unwrap_or(0.0),
        );
        let (rp, bp) = (
            self.sent.overall.precision.unwrap_or(0.0),
            self.baseline.precision.unwrap_or(0.0),
        );
        let weeks = |m: &Metrics| {
            m.median_warning_weeks
                .map_or("n/a".to_string(), |w| format!("{w:.0}"))
        };
        let facts = format!(
            "AUC {} vs {}, precision of the lists as sent {} vs {}, median warning {} vs {} weeks (rules vs recency: the same number of names, longest silent first)",
            two(self.auc.rules),
            two(self.auc.baseline),
            pct(self.sent.overall.precision),
            pct(self.baseline.precision),
            weeks(&self.sent.overall),
            weeks(&self.baseline),
        );
        let auc_better = ra > ba;
        let precision_ok = rp >= bp && self.sent.overall.flagged > 0;
        match (auc_better, precision_ok) {
            (true, true) => (
                Verdict::Beat,
                format!("The rules beat the baseline: {facts}."),
            ),
            (false, false) => (
                Verdict::DidNotBeat,
                format!("The rules do not beat the baseline: {facts}."),
            ),
            _ => (
                Verdict::Mixed,
                format!("The rules beat the baseline on one measure only: {facts}."),
            ),
        }
    }
}

const NONE: i32 = i32::MIN;
const GROUPS: usize = 7;
const SENT_AR: usize = 0;
const SENT_CH: usize = 1;
const SENT_ALL: usize = 2;
const UNC_AR: usize = 3;
const UNC_CH: usize = 4;
const UNC_ALL: usize = 5;
const BASE: usize = 6;

/// Per-customer replay state.
#[derive(Clone)]
struct Cust {
    ptr: usize,
    pace: Option<f64>,
    surfaced: i32,
    first_flag: [i32; GROUPS],
    caught_mask: u8,
    in_episode: bool,
    confirm: i32,
    now: u8,
    churned: bool,
    /// In the replay at this Monday (an order on or before it).
    present: bool,
    /// Judged at this Monday (present and not yet gone).
    judged: bool,
    silence: i32,
}

/// A customer's order-derived state at one Monday.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AsOf {
    /// Days since the last order on or before the Monday.
    pub silence: i32,
    /// The last and first order days (`week::day_number`).
    pub last: i32,
    pub first: i32,
    /// Orders on or before the Monday.
    pub order_count: u32,
    /// The usual gap between orders (`orders::pace_of_days`).
    pub pace: Option<f64>,
    /// Amounts spent on or before the Monday, when the orders carry amounts.
    pub lifetime_value: Option<f64>,
}

/// Walks one customer's orders forward Monday by Monday.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    ptr: usize,
    pace: Option<f64>,
}

impl Cursor {
    /// Moves to Monday `m` (never backwards) and returns the state there, or `None` before the
    /// customer's first order.
    pub fn at(&mut self, s: &Subject, m: i32, buf: &mut Vec<i32>) -> Option<AsOf> {
        let old = self.ptr;
        while self.ptr < s.days.len() && s.days[self.ptr] <= m {
            self.ptr += 1;
        }
        if self.ptr != old {
            self.pace = pace_of_days(&s.days[..self.ptr], buf);
        }
        let k = self.ptr.checked_sub(1)?;
        Some(AsOf {
            silence: m - s.days[k],
            last: s.days[k],
            first: s.days[0],
            order_count: s.orders_through[k],
            pace: self.pace,
            lifetime_value: s.spent_through.get(k).copied(),
        })
    }

    /// Whether the customer orders in `(m, m + horizon]` (after [`Cursor::at`] for `m`).
    pub fn orders_within(&self, s: &Subject, m: i32, horizon: i32) -> bool {
        s.days.get(self.ptr).is_some_and(|&d| d <= m + horizon)
    }
}

/// The first Monday on or after a day number (1970-01-01, day 0, was a Thursday).
pub fn monday_on_or_after(d: i32) -> i32 {
    d + (7 - (d + 3).rem_euclid(7)) % 7
}

/// The date of a day number.
pub fn date_of(d: i32) -> Date {
    jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().days(i64::from(d)))
        .unwrap_or(jiff::civil::Date::MAX)
}

fn median(v: &mut [i32]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        f64::from(v[n / 2])
    } else {
        (f64::from(v[n / 2 - 1]) + f64::from(v[n / 2])) / 2.0
    })
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The AUC of a score from per-value counts `[stayed, churned]` (higher value = more at risk):
/// the Mann–Whitney statistic, ties counted half.
pub fn auc_of_counts(counts: &[[u64; 2]]) -> Option<f64> {
    let (stayed, churned) = counts
        .iter()
        .fold((0u64, 0u64), |(a, b), c| (a + c[0], b + c[1]));
    if stayed == 0 || churned == 0 {
        return None;
    }
    let mut below = 0u64;
    let mut wins = 0.0f64;
    for c in counts {
        wins += c[1] as f64 * (below as f64 + 0.5 * c[0] as f64);
        below += c[0];
    }
    Some(wins / (stayed as f64 * churned as f64))
}

#[derive(Default, Clone)]
struct Tally {
    flagged: u64,
    flagged_churned: u64,
    caught: u64,
    episodes: u64,
    warnings: Vec<i32>,
    owner_week_total: u64,
    owner_week_max: u64,
    already_gone: u64,
    timely: u64,
}

/// The Mondays a replay covers: `(from, to)` as day numbers.
pub fn replay_range(
    input: &BacktestInput,
    opts: &BacktestOptions,
) -> Result<(i32, i32), BacktestError> {
    let first = input.subjects.iter().filter_map(|s| s.days.first()).min();
    let last = input.subjects.iter().filter_map(|s| s.days.last()).max();
    let (Some(&first), Some(&last)) = (first, last) else {
        return Err(BacktestError::NoOrders);
    };
    let h = opts.horizon_days as i32;
    let from = opts.from.map_or(first + h, |d| day_number(d) as i32);
    let from = monday_on_or_after(from);
    let last_fit = monday_on_or_after(last - h + 1) - 7;
    let to = opts
        .to
        .map_or(last_fit, |d| monday_on_or_after(day_number(d) as i32 - 6))
        .min(last_fit);
    if from > to {
        return Err(BacktestError::NoMondays {
            first: date_of(first),
            last: date_of(last),
            horizon: opts.horizon_days,
            from: date_of(from),
            to: date_of(to),
        });
    }
    Ok((from, to))
}

/// Fits the BG/NBD model on every customer's orders before day `before` (weeks as the unit, as
/// the live scorer does); `None` when it cannot be fitted.
pub fn fit_p_alive_before(input: &BacktestInput, before: i32) -> Option<BgNbdParams> {
    let summaries: Vec<Summary> = input
        .subjects
        .iter()
        .filter_map(|s| {
            let k = s.days.partition_point(|&d| d < before).checked_sub(1)?;
            let (first, last) = (s.days[0], s.days[k]);
            Some(Summary {
                frequency: f64::from(s.orders_through[k] - 1),
                recency: f64::from(last - first) / 7.0,
                t: f64::from(before - first) / 7.0,
            })
        })
        .collect();
    palive::fit(&summaries).ok().map(|f| f.params)
}

/// `p_alive` of an as-of state under a model, as the live scorer measures it.
pub fn p_alive_at(params: &BgNbdParams, a: &AsOf, m: i32) -> Measured<'static> {
    let x = f64::from(a.order_count.saturating_sub(1));
    let t_x = f64::from(a.last - a.first) / 7.0;
    let t = f64::from(m - a.first) / 7.0;
    match palive::history_is_enough(x, t_x, t) {
        Ok(()) => Measured::PAlive {
            p: palive::p_alive(params, x, t_x, t),
        },
        Err(why) => Measured::Unknown { why },
    }
}

/// Replays the Monday run over `input` (see the module docs for every definition).
pub fn run(
    input: &BacktestInput,
    rules: &Rules,
    opts: &BacktestOptions,
) -> Result<BacktestReport, BacktestError> {
    let (from, to) = replay_range(input, opts)?;
    let h = opts.horizon_days as i32;
    let scorer = Scorer::new(rules, date_of(from));
    let dynamic = dynamic_signals(rules);
    let p_alive_model = dynamic
        .iter()
        .any(|&(_, d)| d == Dynamic::PAlive)
        .then(|| fit_p_alive_before(input, from))
        .flatten();
    let cap = rules.weekly_cap;
    let pause = rules.contact_pause_days as i32;
    let n = input.subjects.len();
    let n_owners = input.owners.len().max(1);
    let mut keys: Vec<RankKey> = input
        .subjects
        .iter()
        .map(|s| RankKey {
            band: Band::Steady,
            score: 0,
            lifetime_value: s.lifetime_value,
            customer_id: s.customer_id.clone(),
        })
        .collect();
    let mut cust = vec![
        Cust {
            ptr: 0,
            pace: None,
            surfaced: NONE,
            first_flag: [NONE; GROUPS],
            caught_mask: 0,
            in_episode: false,
            confirm: 0,
            now: 0,
            churned: false,
            present: false,
            judged: false,
            silence: 0,
        };
        n
    ];
    let mut tallies: Vec<Tally> = vec![Tally::default(); GROUPS];
    let mut churned_weeks = 0u64;
    let mut judged_weeks = 0u64;
    let mut gone_weeks = 0u64;
    let mut candidates: Vec<Vec<u32>> = vec![Vec::new(); n_owners];
    let mut judged_by_owner: Vec<Vec<(i32, u32)>> = vec![Vec::new(); n_owners];
    let mut owner_counts = vec![0u64; n_owners * GROUPS];
    let mut rules_counts = vec![[0u64; 2]; rules.max_score() as usize + 1];
    let mut recency_counts = vec![[0u64; 2]; h.max(1) as usize];
    let mut gone_rule = GoneRuleEffect {
        gone_after_days: rules.gone_after_days,
        ..Default::default()
    };
    let mut weekly = Vec::new();
    let mut buf = Vec::new();
    let mut date_text = String::new();

    // Closes a silence's churn episode: counts it and its warning per group that caught it.
    let finish_episode = |c: &mut Cust, tallies: &mut [Tally], episodes: &mut u64| {
        if c.in_episode {
            *episodes += 1;
            for (g, t) in tallies.iter_mut().enumerate() {
                if c.caught_mask & (1 << g) != 0 {
                    t.episodes += 1;
                    t.warnings.push((c.confirm - c.first_flag[g]) / 7);
                }
            }
        }
        c.in_episode = false;
        c.caught_mask = 0;
        c.first_flag = [NONE; GROUPS];
    };
    let mut episodes = 0u64;

    let mut m = from;
    while m <= to {
        for l in &mut candidates {
            l.clear();
        }
        for l in &mut judged_by_owner {
            l.clear();
        }
        owner_counts.iter_mut().for_each(|x| *x = 0);
        let mut wk = WeekPoint {
            monday: date_of(m),
            customers: 0,
            churned: 0,
            gone: 0,
            sent: Rates::default(),
            uncapped: Rates::default(),
            baseline: Rates::default(),
        };
        for (i, s) in input.subjects.iter().enumerate() {
            let c = &mut cust[i];
            let mut cursor = Cursor {
                ptr: c.ptr,
                pace: c.pace,
            };
            let old = c.ptr;
            let at = cursor.at(s, m, &mut buf);
            c.ptr = cursor.ptr;
            c.pace = cursor.pace;
            if c.ptr != old {
                // A new order ends the silence.
                finish_episode(c, &mut tallies, &mut episodes);
            }
            c.now = 0;
            let Some(at) = at else {
                c.present = false;
                c.judged = false;
                continue;
            };
            c.present = true;
            c.silence = at.silence;
            c.judged = at.silence < h;
            c.churned = c.judged && !cursor.orders_within(s, m, h);
            let mut score = s.static_points;
            for &(sig, kind) in &dynamic {
                let measured = match kind {
                    Dynamic::DaysSince => Measured::DaysSince {
                        days: i64::from(at.silence),
                    },
                    Dynamic::Overdue => match at.pace {
                        Some(pace) if pace > 0.0 => Measured::Overdue {
                            ratio: f64::from(at.silence) / pace,
                            days: i64::from(at.silence),
                            pace,
                        },
                        _ => Measured::NoData,
                    },
                    Dynamic::OrderCount => Measured::Number {
                        value: f64::from(at.order_count),
                    },
                    Dynamic::Pace => at
                        .pace
                        .map_or(Measured::NoData, |value| Measured::Number { value }),
                    Dynamic::LifetimeValue => at
                        .lifetime_value
                        .or(s.lifetime_value)
                        .map_or(Measured::NoData, |value| Measured::Number { value }),
                    Dynamic::FirstOrderDate | Dynamic::LastOrderDate => {
                        use std::fmt::Write;
                        let d = if kind == Dynamic::FirstOrderDate {
                            at.first
                        } else {
                            at.last
                        };
                        date_text.clear();
                        let _ = write!(date_text, "{}", date_of(d));
                        score += scorer.points(sig, &Measured::Text { value: &date_text });
                        continue;
                    }
                    Dynamic::PAlive => match &p_alive_model {
                        Some(params) => p_alive_at(params, &at, m),
                        None => Measured::NoData,
                    },
                };
                score += scorer.points(sig, &measured);
            }
            let band = rules.band_for(score);
            if c.judged {
                let top = rules_counts.len() - 1;
                rules_counts[(score as usize).min(top)][usize::from(c.churned)] += 1;
                recency_counts[at.silence as usize][usize::from(c.churned)] += 1;
                judged_by_owner[s.owner].push((at.silence, i as u32));
            }
            if band.is_candidate() {
                c.now |= 1 << UNC_ALL;
                c.now |= 1
                    << if band == Band::Churning {
                        UNC_CH
                    } else {
                        UNC_AR
                    };
                let gone = is_gone(rules.gone_after_days, Some(i64::from(at.silence)));
                let paused = c.surfaced != NONE && m - c.surfaced < pause;
                if gone {
                    gone_rule.kept_off += 1;
                    if !c.judged {
                        gone_rule.kept_off_already_gone += 1;
                    } else if !c.churned {
                        gone_rule.kept_off_returned += 1;
                    }
                } else if !paused {
                    keys[i].band = band;
                    keys[i].score = score;
                    if let Some(v) = at.lifetime_value {
                        keys[i].lifetime_value = Some(v);
                    }
                    candidates[s.owner].push(i as u32);
                }
            }
        }
        // The hand-off: rank and cap each owner's list; those kept are sent and start a pause.
        // The baseline then names as many of the owner's judged customers, silent longest first.
        for (o, list) in candidates.iter_mut().enumerate() {
            if list.len() > cap {
                if cap == 0 {
                    list.clear();
                } else {
                    list.select_nth_unstable_by(cap - 1, |&a, &b| {
                        compare(&keys[a as usize], &keys[b as usize])
                    });
                    list.truncate(cap);
                }
            }
            for &i in list.iter() {
                let c = &mut cust[i as usize];
                c.surfaced = m;
                c.now |= 1 << SENT_ALL;
                c.now |= 1
                    << if keys[i as usize].band == Band::Churning {
                        SENT_CH
                    } else {
                        SENT_AR
                    };
            }
            let pool = &mut judged_by_owner[o];
            let k = list.len().min(pool.len());
            if k > 0 {
                let longest = |a: &(i32, u32), b: &(i32, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
                if k < pool.len() {
                    pool.select_nth_unstable_by(k - 1, longest);
                }
                for &(_, i) in &pool[..k] {
                    cust[i as usize].now |= 1 << BASE;
                }
            }
        }
        for (i, c) in cust.iter_mut().enumerate() {
            if !c.present {
                continue;
            }
            let owner = input.subjects[i].owner;
            for g in 0..GROUPS {
                if c.now & (1 << g) != 0 {
                    owner_counts[owner * GROUPS + g] += 1;
                }
            }
            if !c.judged {
                wk.gone += 1;
                for (g, t) in tallies.iter_mut().enumerate() {
                    if c.now & (1 << g) != 0 {
                        t.already_gone += 1;
                    }
                }
                wk.sent.already_gone += u64::from(c.now & (1 << SENT_ALL) != 0);
                wk.uncapped.already_gone += u64::from(c.now & (1 << UNC_ALL) != 0);
                continue;
            }
            wk.customers += 1;
            for g in 0..GROUPS {
                if c.now & (1 << g) != 0 && c.first_flag[g] == NONE {
                    c.first_flag[g] = m;
                }
            }
            if c.churned {
                wk.churned += 1;
                if !c.in_episode {
                    c.in_episode = true;
                    c.confirm = monday_on_or_after(m - c.silence + h);
                }
            }
            let timely = c.churned && c.confirm - m >= 7 * ACTIONABLE_WEEKS;
            for (g, t) in tallies.iter_mut().enumerate() {
                let bit = 1u8 << g;
                if c.now & bit != 0 {
                    t.flagged += 1;
                    if c.churned {
                        t.flagged_churned += 1;
                    }
                    t.timely += u64::from(timely);
                }
                if c.churned && c.first_flag[g] != NONE {
                    t.caught += 1;
                    c.caught_mask |= bit;
                }
            }
            let rates = |r: &mut Rates, g: usize| {
                let bit = 1u8 << g;
                if c.now & bit != 0 {
                    r.flagged += 1;
                    r.flagged_churned += u64::from(c.churned);
                }
                if c.churned && c.first_flag[g] != NONE {
                    r.caught += 1;
                }
            };
            rates(&mut wk.sent, SENT_ALL);
            rates(&mut wk.uncapped, UNC_ALL);
            rates(&mut wk.baseline, BASE);
        }
        judged_weeks += wk.customers;
        churned_weeks += wk.churned;
        gone_weeks += wk.gone;
        for (g, t) in tallies.iter_mut().enumerate() {
            for o in 0..n_owners {
                let k = owner_counts[o * GROUPS + g];
                t.owner_week_total += k;
                t.owner_week_max = t.owner_week_max.max(k);
            }
        }
        for r in [&mut wk.sent, &mut wk.uncapped, &mut wk.baseline] {
            r.catch_rate = ratio(r.caught, wk.churned);
            r.precision = ratio(r.flagged_churned, r.flagged);
        }
        weekly.push(wk);
        m += 7;
    }
    for c in &mut cust {
        finish_episode(c, &mut tallies, &mut episodes);
    }

    let weeks = weekly.len();
    let owner_weeks = (n_owners * weeks) as f64;
    let metrics = |t: &mut Tally| Metrics {
        flagged: t.flagged,
        flagged_churned: t.flagged_churned,
        churned: churned_weeks,
        caught: t.caught,
        catch_rate: ratio(t.caught, churned_weeks),
        precision: ratio(t.flagged_churned, t.flagged),
        caught_episodes: t.episodes,
        median_warning_weeks: median(&mut t.warnings),
        flags_per_owner_week: if owner_weeks > 0.0 {
            t.owner_week_total as f64 / owner_weeks
        } else {
            0.0
        },
        max_flags_per_owner_week: t.owner_week_max,
        already_gone: t.already_gone,
        timely: t.timely,
    };
    let view = |t: &mut [Tally], ar: usize, ch: usize, all: usize| ViewMetrics {
        at_risk: metrics(&mut t[ar]),
        churning: metrics(&mut t[ch]),
        overall: metrics(&mut t[all]),
    };
    // Recency ranks the longest silence as the most at risk.
    Ok(BacktestReport {
        from: date_of(from),
        to: date_of(to),
        weeks,
        horizon_days: opts.horizon_days,
        baseline_days: h,
        baseline_kind: "recency_top_n",
        weekly_cap: cap,
        contact_pause_days: rules.contact_pause_days,
        rules_version: rules.version.clone(),
        customers: n,
        owners: input.owners.clone(),
        customer_weeks: judged_weeks,
        churned_weeks,
        gone_weeks,
        churn_episodes: episodes,
        unmatched_orders: input.unmatched_orders,
        unknown_customers: input.unknown_customers,
        auc: Auc {
            rules: auc_of_counts(&rules_counts),
            baseline: auc_of_counts(&recency_counts),
        },
        sent: view(&mut tallies, SENT_AR, SENT_CH, SENT_ALL),
        uncapped: view(&mut tallies, UNC_AR, UNC_CH, UNC_ALL),
        baseline: metrics(&mut tallies[BASE]),
        gone_rule,
        p_alive_model,
        weekly,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rules;
    use jiff::civil::date;

    fn rules(cap: usize) -> Rules {
        parse_rules(&format!(
            "signal silent\n  measure: days_since_last_order\n  at least 70: 60 points\n\
             band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n\
             weekly cap: {cap}\ncontact pause: 21 days\n"
        ))
        .unwrap()
    }

    fn order(c: &str, d: Date) -> Order {
        Order {
            order_id: None,
            customer_key: CustomerKey::Id(c.into()),
            date: d,
            amount: None,
        }
    }

    /// B orders every Monday of 2026 (5 Jan … 28 Dec): it keeps the history going and never churns.
    fn steady_b() -> Vec<Order> {
        (0..52)
            .map(|k| order("B", date(2026, 1, 5) + jiff::Span::new().days(7 * k)))
            .collect()
    }

    fn opts() -> BacktestOptions {
        BacktestOptions {
            from: Some(date(2026, 1, 5)),
            ..Default::default()
        }
    }

    #[test]
    fn a_churner_flagged_three_weeks_before_confirmation() {
        let mut orders = steady_b();
        orders.push(order("A", date(2026, 1, 5)));
        let r = rules(10);
        let rep = run(&build_input(&orders, None, &r), &r, &opts()).unwrap();
        // Mondays 5 Jan … 28 Sep: 28 Sep + 90 days = 27 Dec ≤ 28 Dec; 5 Oct + 90 is past the end.
        assert_eq!(
            (rep.from, rep.to, rep.weeks),
            (date(2026, 1, 5), date(2026, 9, 28), 39)
        );
        // A is judged while silent under 90 days (weeks 0…12), then already gone (weeks 13…38).
        assert_eq!((rep.customer_weeks, rep.gone_weeks), (39 + 13, 26));
        assert_eq!(rep.churned_weeks, 13);
        // Flagged from 70 days (week 10): three judged flags, the rest on a gone customer.
        let u = &rep.uncapped.overall;
        assert_eq!((u.flagged, u.flagged_churned, u.caught), (3, 3, 3));
        assert_eq!(u.already_gone, 26);
        assert_eq!(u.precision, Some(1.0));
        // First flag 16 Mar; confirmation Monday: 5 Jan + 90 = 5 Apr (Sun) → 6 Apr: 3 weeks.
        assert_eq!(rep.churn_episodes, 1);
        assert_eq!(u.median_warning_weeks, Some(3.0));
        // Week 10 leaves 3 weeks before A is gone: no flag is timely (4 weeks or more).
        assert_eq!(u.timely, 0);
        assert_eq!(rep.uncapped.at_risk.flagged, 3);
        assert_eq!(rep.uncapped.churning.flagged, 0);
        // The pause (21 days) lets A be sent every third Monday: weeks 10, 13, …, 37; only the
        // first while A was still judged.
        let s = &rep.sent.overall;
        assert_eq!((s.flagged, s.already_gone, s.caught), (1, 9, 3));
        assert_eq!(s.max_flags_per_owner_week, 1);
        // Recency names as many as were sent: A at week 10, then B (the only judged customer).
        let b = &rep.baseline;
        assert_eq!((b.flagged, b.flagged_churned, b.caught), (10, 1, 3));
        assert_eq!(b.median_warning_weeks, Some(3.0));
        // AUC: A's 13 churned weeks against B's 39: scores 60 at weeks 10…12, ties (0) before;
        // recency ties only at week 0.
        let auc = rep.auc.rules.unwrap();
        assert!((auc - 8.0 / 13.0).abs() < 1e-12, "{auc}");
        let rec = rep.auc.baseline.unwrap();
        assert!((rec - 12.5 / 13.0).abs() < 1e-12, "{rec}");
        // Better precision, worse AUC.
        assert_eq!(rep.verdict().0, Verdict::Mixed);
        assert_eq!(rep.weekly[10].uncapped.flagged, 1);
        assert_eq!(rep.weekly[9].uncapped.catch_rate, Some(0.0));
        assert_eq!(rep.weekly[10].uncapped.catch_rate, Some(1.0));
        assert_eq!(rep.weekly[13].gone, 1);
        assert_eq!(rep.gone_rule.kept_off, 0);
    }

    #[test]
    fn the_gone_rule_keeps_long_silent_customers_off_the_list() {
        let mut orders = steady_b();
        orders.push(order("A", date(2026, 1, 5)));
        let r = parse_rules(
            "signal silent\n  measure: days_since_last_order\n  at least 70: 60 points\n\
             band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n\
             weekly cap: 10\ncontact pause: 21 days\ngone after: 90 days\n",
        )
        .unwrap();
        let rep = run(&build_input(&orders, None, &r), &r, &opts()).unwrap();
        // A is sent once (week 10); from week 13 the rule keeps them off: 26 customer-weeks.
        let s = &rep.sent.overall;
        assert_eq!((s.flagged, s.already_gone), (1, 0));
        assert_eq!(rep.gone_rule.gone_after_days, Some(90));
        assert_eq!(
            (rep.gone_rule.kept_off, rep.gone_rule.kept_off_already_gone),
            (26, 26)
        );
        assert_eq!(rep.gone_rule.kept_off_returned, 0);
    }

    #[test]
    fn a_customer_who_returns_is_a_false_alarm() {
        let mut orders = steady_b();
        orders.push(order("A", date(2026, 1, 5)));
        // C goes quiet after 5 Jan, returns on 4 May (119 days later) and then orders weekly.
        orders.push(order("C", date(2026, 1, 5)));
        for k in 0..30 {
            orders.push(order("C", date(2026, 5, 4) + jiff::Span::new().days(7 * k)));
        }
        let r = rules(10);
        let rep = run(&build_input(&orders, None, &r), &r, &opts()).unwrap();
        // C is churned while 4 May is more than 90 days ahead: weeks 0…4 (119 − 7k > 90).
        assert_eq!(rep.churned_weeks, 13 + 5);
        // C is flagged at 70…84 days while judged (weeks 10…12), after its churned weeks.
        let u = &rep.uncapped.overall;
        assert_eq!((u.flagged, u.flagged_churned, u.caught), (6, 3, 3));
        assert_eq!(u.already_gone, 26 + 4);
        assert_eq!(rep.churn_episodes, 2);
        assert_eq!(u.caught_episodes, 1);
        // Asking for Mondays past the history's end changes nothing: they are left out.
        let later = BacktestOptions {
            to: Some(date(2027, 6, 1)),
            ..opts()
        };
        assert_eq!(
            run(&build_input(&orders, None, &r), &r, &later).unwrap(),
            rep
        );
    }

    #[test]
    fn the_cap_ranks_by_value_and_the_pause_rotates_the_list() {
        let mut orders = steady_b();
        orders.push(order("A", date(2026, 1, 5)));
        orders.push(order("A2", date(2026, 1, 5)));
        let list: Vec<ListCustomer> = [("A", 10.0), ("A2", 500.0), ("B", 0.0)]
            .iter()
            .map(|&(id, v)| ListCustomer {
                customer_id: id.into(),
                email: String::new(),
                owner: "jo@x.example".into(),
                lifetime_value: Some(v),
                columns: vec![],
            })
            .collect();
        let r = rules(1);
        let rep = run(&build_input(&orders, Some(&list), &r), &r, &opts()).unwrap();
        assert_eq!(rep.owners, vec!["jo@x.example".to_string()]);
        // Week 10: A2 (higher value); 11: A (A2 paused); 12: nobody; 13: A2 again; … From week
        // 13 both are already gone: 2 judged names, 18 gone ones.
        let s = &rep.sent.overall;
        assert_eq!((s.flagged, s.already_gone), (2, 18));
        assert_eq!(s.max_flags_per_owner_week, 1);
        assert_eq!(rep.uncapped.overall.max_flags_per_owner_week, 2);
        assert_eq!(rep.uncapped.overall.flagged, 6);
        // A2's first flag is week 10, A's week 11: warnings 3 and 2 weeks → median 2.5.
        assert_eq!(s.median_warning_weeks, Some(2.5));
        assert_eq!(rep.weekly[12].sent.flagged, 0);
        assert_eq!(rep.weekly[13].sent.already_gone, 1);
    }

    #[test]
    fn every_order_measure_is_rebuilt_at_each_monday() {
        // A orders on 5 Jan (10.00) and 2 Feb (30.00); at 16 Mar: 2 orders, 40.00 spent,
        // first order 2026-01-05.
        let mut orders = steady_b();
        let mut a1 = order("A", date(2026, 1, 5));
        a1.amount = Some(10.0);
        let mut a2 = order("A", date(2026, 2, 2));
        a2.amount = Some(30.0);
        orders.extend([a1, a2]);
        let doc = |signal: &str| {
            parse_rules(&format!(
                "{signal}\nband churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n"
            ))
            .unwrap()
        };
        let flagged_at = |r: &Rules| {
            let rep = run(&build_input(&orders, None, r), r, &opts()).unwrap();
            rep.weekly
                .iter()
                .position(|w| w.uncapped.flagged + w.uncapped.already_gone > 0)
        };
        // order_count is exactly 2 for B at week 1 (it orders weekly), for A from 2 Feb (week 4).
        let r = doc("signal n\n  measure: order_count\n  is 2: 60 points");
        let rep = run(&build_input(&orders, None, &r), &r, &opts()).unwrap();
        let flags: Vec<u64> = rep.weekly[..6]
            .iter()
            .map(|w| w.uncapped.flagged + w.uncapped.already_gone)
            .collect();
        assert_eq!(flags, [0, 1, 0, 0, 1, 1]);
        // lifetime_value reaches 40 on 2 Feb.
        let r = doc("signal v\n  measure: lifetime_value\n  at least 40: 60 points");
        assert_eq!(flagged_at(&r), Some(4));
        let r = doc("signal v\n  measure: lifetime_value\n  at least 41: 60 points");
        assert_eq!(flagged_at(&r), None);
        // first_order_date is the date of the first order, as text.
        let r = doc("signal f\n  measure: first_order_date\n  is 2026-01-05: 60 points");
        assert_eq!(flagged_at(&r), Some(0));
        // p_alive: a model fitted on the orders before the first Monday replayed (a shop of 30
        // customers with different rhythms), then A fades as its silence grows.
        let mut shop = orders.clone();
        for i in 0..30i64 {
            let gap = 5 + i;
            let stop = 60 + 4 * i;
            let mut d = 0;
            while d <= stop {
                shop.push(order(
                    &format!("S{i}"),
                    date(2026, 1, 5) + jiff::Span::new().days(d),
                ));
                d += gap;
            }
        }
        let r = doc("signal p\n  measure: p_alive\n  at most 0.5: 60 points");
        let later = BacktestOptions {
            from: Some(date(2026, 6, 1)),
            ..Default::default()
        };
        let rep = run(&build_input(&shop, None, &r), &r, &later).unwrap();
        assert!(rep.p_alive_model.is_some());
        // More customers have faded ten weeks on: p_alive is measured at each Monday.
        let faded = |w: &WeekPoint| w.uncapped.flagged + w.uncapped.already_gone;
        assert!(
            faded(&rep.weekly[0]) < faded(&rep.weekly[10]),
            "{} then {}",
            faded(&rep.weekly[0]),
            faded(&rep.weekly[10])
        );
        // Without enough history before `from` there is no model, and no points.
        assert!(
            run(&build_input(&shop, None, &r), &r, &opts())
                .unwrap()
                .p_alive_model
                .is_none()
        );
    }

    #[test]
    fn auc_of_counts_is_the_mann_whitney_statistic() {
        // Churned above every stayer: 1; below: 0; all tied: 0.5; nobody churned: none.
        assert_eq!(auc_of_counts(&[[5, 0], [0, 3]]), Some(1.0));
        assert_eq!(auc_of_counts(&[[0, 3], [5, 0]]), Some(0.0));
        assert_eq!(auc_of_counts(&[[4, 4]]), Some(0.5));
        assert_eq!(auc_of_counts(&[[4, 0]]), None);
        // One churned at 1 against stayers at 0, 1, 2: (1 + 0.5 + 0) / 3.
        let a = auc_of_counts(&[[1, 0], [1, 1], [1, 0]]).unwrap();
        assert!((a - 0.5).abs() < 1e-12);
    }

    #[test]
    fn no_mondays_when_the_history_is_shorter_than_the_horizon() {
        let orders = vec![order("A", date(2026, 1, 5)), order("A", date(2026, 2, 5))];
        let r = rules(10);
        let e = run(
            &build_input(&orders, None, &r),
            &r,
            &BacktestOptions::default(),
        );
        assert!(matches!(e, Err(BacktestError::NoMondays { .. })));
        let e = run(&build_input(&[], None, &r), &r, &BacktestOptions::default());
        assert_eq!(e, Err(BacktestError::NoOrders));
    }

    #[test]
    fn mondays_on_or_after() {
        // 2026-01-05 is a Monday.
        let mon = day_number(date(2026, 1, 5)) as i32;
        assert_eq!(monday_on_or_after(mon), mon);
        assert_eq!(monday_on_or_after(mon + 1), mon + 7);
        assert_eq!(monday_on_or_after(mon - 1), mon);
    }
}
