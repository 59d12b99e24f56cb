//! The backtest (docs/SPEC.md §12): replays the Monday run week by week over an order history and compares
//! each week's flags with what happened next.
//!
//! Definitions (every count is per customer-week, a customer at one Monday `M`):
//!
//! - **As-of state.** At `M` a customer's last order, pace (`orders::pace_of_days` over the order
//!   days on or before `M`) and order count come from the orders alone. A customer enters the
//!   replay with their first order: customer-weeks before it are not counted at all. Columns of
//!   the customer list (`support_mood`, `plan`, …) are taken **as they are now**, for every week:
//!   the list holds no history of them. Outcomes (won back, reached out, lost) are not simulated.
//! - **Churned at `M`**: at least one order on or before `M` and none in `(M, M + horizon]`.
//! - **Sent** flags: what the real run would have sent — at-risk and churning customers not inside
//!   the contact pause (counted from the last simulated send), ranked with `rank::compare` and
//!   capped per owner at the weekly cap. **Uncapped** flags: every at-risk or churning customer, no
//!   pause. **Baseline**: `days_since_last_order ≥ 90`, no cap, no pause.
//! - **Silence**: the time since a customer's latest order on or before `M`.
//! - **Caught**: a churned customer-week `(c, M)` is caught when `c` was flagged at some Monday
//!   `≤ M` in the same silence (i.e. since their last order). Catch rate = caught ÷ churned.
//!   Per band: flagged in that band at some such Monday.
//! - **Precision** = flagged customer-weeks that were churned ÷ flagged customer-weeks.
//! - **Churn episode**: a silence with at least one churned Monday in the replayed range. Its
//!   **confirmation Monday** is the first Monday on or after `last order + horizon` — when the
//!   silence has lasted the whole horizon and anyone could see it. An episode is caught when any
//!   of its churned Mondays is caught; its **weeks of warning** are the weeks from the first flag
//!   of the silence to the confirmation Monday (negative when the first flag came later).
//! - **Flags per owner per week**: the mean over every (owner, Monday) pair, zeros included, and
//!   the largest.

use jiff::civil::Date;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::ingest::orders::{CustomerKey, Order, pace_of_days};
use crate::list::customers::{BadRow, CellValue, CustomerReader, ListError, ReadOptions};
use crate::model::{Band, looks_like_email, normalize_email};
use crate::rules::{Measure, Rules};
use crate::run::week::day_number;
use crate::scoring::rank::{RankKey, compare};
use crate::scoring::score::{Measured, Scorer};

/// The naive rule the flags are compared with: flag when the last order is this many days old.
pub const BASELINE_DAYS: i32 = 90;
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
            // p_alive has no fitted model here: no data, 0 points, as in `Scorer`.
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
    let mut pairs: Vec<(u32, i32)> = Vec::with_capacity(orders.len());
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
                    Some(i) => pairs.push((i, day_number(o.date) as i32)),
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
                    });
                    (subjects.len() - 1) as u32
                });
                pairs.push((i, day_number(o.date) as i32));
            }
        }
    }
    pairs.sort_unstable();
    let mut count = 0u32;
    let mut prev = u32::MAX;
    for (i, d) in pairs {
        if i != prev {
            count = 0;
            prev = i;
        }
        count += 1;
        let s = &mut subjects[i as usize];
        if s.days.last() == Some(&d) {
            if let Some(n) = s.orders_through.last_mut() {
                *n = count;
            }
        } else {
            s.days.push(d);
            s.orders_through.push(count);
        }
    }
    BacktestInput {
        subjects,
        owners,
        unmatched_orders,
        unknown_customers: unknown.len() as u64,
    }
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
    /// Flagged customer-weeks.
    pub flagged: u64,
    /// Flagged customer-weeks that were churned.
    pub flagged_churned: u64,
    /// Churned customer-weeks (the same for every group).
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
    /// Mean flags per owner per Monday.
    pub flags_per_owner_week: f64,
    /// Most flags one owner got on one Monday.
    pub max_flags_per_owner_week: u64,
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
}

/// One Monday of the replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekPoint {
    pub monday: Date,
    /// Customers in the replay at this Monday (with an order on or before it).
    pub customers: u64,
    pub churned: u64,
    pub sent: Rates,
    pub uncapped: Rates,
    pub baseline: Rates,
}

/// The whole result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    pub from: Date,
    pub to: Date,
    pub weeks: usize,
    pub horizon_days: u32,
    pub baseline_days: i32,
    pub weekly_cap: usize,
    pub contact_pause_days: u32,
    pub rules_version: String,
    pub customers: usize,
    pub owners: Vec<String>,
    /// Customer-weeks in the replay.
    pub customer_weeks: u64,
    pub churned_weeks: u64,
    pub churn_episodes: u64,
    pub unmatched_orders: u64,
    pub unknown_customers: u64,
    pub sent: ViewMetrics,
    pub uncapped: ViewMetrics,
    pub baseline: Metrics,
    pub weekly: Vec<WeekPoint>,
}

/// How the rules compare with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// At least as good on catch rate and precision, better on one.
    Beat,
    /// Better on one, worse on the other.
    Mixed,
    /// No better on either.
    DidNotBeat,
}

impl BacktestReport {
    /// Compares the uncapped rules with the baseline (neither is capped, so it is a fair match),
    /// and says so in one plain sentence.
    pub fn verdict(&self) -> (Verdict, String) {
        let r = &self.uncapped.overall;
        let b = &self.baseline;
        let pct = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{:.1}%", x * 100.0));
        let (rc, rp) = (r.catch_rate.unwrap_or(0.0), r.precision.unwrap_or(0.0));
        let (bc, bp) = (b.catch_rate.unwrap_or(0.0), b.precision.unwrap_or(0.0));
        let facts = format!(
            "catch rate {} vs {}, precision {} vs {} (rules uncapped vs baseline `days since last order ≥ {}`)",
            pct(r.catch_rate),
            pct(b.catch_rate),
            pct(r.precision),
            pct(b.precision),
            BASELINE_DAYS
        );
        let better = (rc > bc) as u8 + (rp > bp) as u8;
        let worse = (rc < bc) as u8 + (rp < bp) as u8;
        if better > 0 && worse == 0 {
            (
                Verdict::Beat,
                format!("The rules beat the baseline: {facts}."),
            )
        } else if better > 0 {
            (
                Verdict::Mixed,
                format!("The rules beat the baseline on one measure only: {facts}."),
            )
        } else {
            (
                Verdict::DidNotBeat,
                format!("The rules do not beat the baseline: {facts}."),
            )
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
    active: bool,
}

/// The first Monday on or after a day number (1970-01-01, day 0, was a Thursday).
fn monday_on_or_after(d: i32) -> i32 {
    d + (7 - (d + 3).rem_euclid(7)) % 7
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

#[derive(Default, Clone)]
struct Tally {
    flagged: u64,
    flagged_churned: u64,
    caught: u64,
    episodes: u64,
    warnings: Vec<i32>,
    owner_week_total: u64,
    owner_week_max: u64,
}

/// Replays the Monday run over `input` (see the module docs for every definition).
pub fn run(
    input: &BacktestInput,
    rules: &Rules,
    opts: &BacktestOptions,
) -> Result<BacktestReport, BacktestError> {
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
    let date_of = |d: i32| {
        jiff::civil::date(1970, 1, 1)
            .checked_add(jiff::Span::new().days(i64::from(d)))
            .unwrap_or(jiff::civil::Date::MAX)
    };
    if from > to {
        return Err(BacktestError::NoMondays {
            first: date_of(first),
            last: date_of(last),
            horizon: opts.horizon_days,
            from: date_of(from),
            to: date_of(to),
        });
    }

    let scorer = Scorer::new(rules, date_of(from));
    let dynamic = dynamic_signals(rules);
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
            active: false,
        };
        n
    ];
    let mut tallies: Vec<Tally> = vec![Tally::default(); GROUPS];
    let mut churned_weeks = 0u64;
    let mut customer_weeks = 0u64;
    let mut candidates: Vec<Vec<u32>> = vec![Vec::new(); n_owners];
    let mut owner_counts = vec![0u64; n_owners * GROUPS];
    let mut weekly = Vec::new();
    let mut buf = Vec::new();

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
        owner_counts.iter_mut().for_each(|x| *x = 0);
        let mut wk = WeekPoint {
            monday: date_of(m),
            customers: 0,
            churned: 0,
            sent: Rates::default(),
            uncapped: Rates::default(),
            baseline: Rates::default(),
        };
        for (i, s) in input.subjects.iter().enumerate() {
            let c = &mut cust[i];
            let old = c.ptr;
            while c.ptr < s.days.len() && s.days[c.ptr] <= m {
                c.ptr += 1;
            }
            if c.ptr != old {
                // A new order ends the silence.
                finish_episode(c, &mut tallies, &mut episodes);
                c.pace = pace_of_days(&s.days[..c.ptr], &mut buf);
            }
            c.active = c.ptr > 0;
            c.now = 0;
            if !c.active {
                continue;
            }
            let last_order = s.days[c.ptr - 1];
            let days_since = m - last_order;
            c.churned = c.ptr == s.days.len() || s.days[c.ptr] > m + h;
            let mut score = s.static_points;
            for &(sig, kind) in &dynamic {
                let measured = match kind {
                    Dynamic::DaysSince => Measured::DaysSince {
                        days: i64::from(days_since),
                    },
                    Dynamic::Overdue => match c.pace {
                        Some(pace) if pace > 0.0 => Measured::Overdue {
                            ratio: f64::from(days_since) / pace,
                            days: i64::from(days_since),
                            pace,
                        },
                        _ => Measured::NoData,
                    },
                    Dynamic::OrderCount => Measured::Number {
                        value: f64::from(s.orders_through[c.ptr - 1]),
                    },
                    Dynamic::Pace => c
                        .pace
                        .map_or(Measured::NoData, |value| Measured::Number { value }),
                };
                score += scorer.points(sig, &measured);
            }
            let band = rules.band_for(score);
            if band.is_candidate() {
                c.now |= 1 << UNC_ALL;
                c.now |= 1
                    << if band == Band::Churning {
                        UNC_CH
                    } else {
                        UNC_AR
                    };
                let paused = c.surfaced != NONE && m - c.surfaced < pause;
                if !paused {
                    keys[i].band = band;
                    keys[i].score = score;
                    candidates[s.owner].push(i as u32);
                }
            }
            if days_since >= BASELINE_DAYS {
                c.now |= 1 << BASE;
            }
        }
        // The hand-off: rank and cap each owner's list; those kept are sent and start a pause.
        for list in &mut candidates {
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
        }
        for (i, c) in cust.iter_mut().enumerate() {
            if !c.active {
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
                    let s = &input.subjects[i];
                    c.confirm = monday_on_or_after(s.days[c.ptr - 1] + h);
                }
            }
            let owner = input.subjects[i].owner;
            for (g, t) in tallies.iter_mut().enumerate() {
                let bit = 1u8 << g;
                if c.now & bit != 0 {
                    t.flagged += 1;
                    owner_counts[owner * GROUPS + g] += 1;
                    if c.churned {
                        t.flagged_churned += 1;
                    }
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
        customer_weeks += wk.customers;
        churned_weeks += wk.churned;
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
    };
    let view = |t: &mut [Tally], ar: usize, ch: usize, all: usize| ViewMetrics {
        at_risk: metrics(&mut t[ar]),
        churning: metrics(&mut t[ch]),
        overall: metrics(&mut t[all]),
    };
    Ok(BacktestReport {
        from: date_of(from),
        to: date_of(to),
        weeks,
        horizon_days: opts.horizon_days,
        baseline_days: BASELINE_DAYS,
        weekly_cap: cap,
        contact_pause_days: rules.contact_pause_days,
        rules_version: rules.version.clone(),
        customers: n,
        owners: input.owners.clone(),
        customer_weeks,
        churned_weeks,
        churn_episodes: episodes,
        unmatched_orders: input.unmatched_orders,
        unknown_customers: input.unknown_customers,
        sent: view(&mut tallies, SENT_AR, SENT_CH, SENT_ALL),
        uncapped: view(&mut tallies, UNC_AR, UNC_CH, UNC_ALL),
        baseline: metrics(&mut tallies[BASE]),
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
        assert_eq!(rep.customer_weeks, 78);
        // A is churned at every Monday (no order after 5 Jan); flagged from 70 days (week 10).
        assert_eq!(rep.churned_weeks, 39);
        let u = &rep.uncapped.overall;
        assert_eq!((u.flagged, u.flagged_churned, u.caught), (29, 29, 29));
        assert_eq!(u.precision, Some(1.0));
        // First flag 16 Mar; confirmation Monday: 5 Jan + 90 = 5 Apr (Sun) → 6 Apr: 3 weeks.
        assert_eq!(rep.churn_episodes, 1);
        assert_eq!(u.median_warning_weeks, Some(3.0));
        assert_eq!(rep.uncapped.at_risk.flagged, 29);
        assert_eq!(rep.uncapped.churning.flagged, 0);
        // The pause (21 days) lets A be sent every third Monday: weeks 10, 13, …, 37.
        let s = &rep.sent.overall;
        assert_eq!((s.flagged, s.caught), (10, 29));
        assert_eq!(s.max_flags_per_owner_week, 1);
        // Baseline: 91 days at week 13 → 26 flags, no warning.
        let b = &rep.baseline;
        assert_eq!(
            (b.flagged, b.caught, b.median_warning_weeks),
            (26, 26, Some(0.0))
        );
        assert_eq!(rep.verdict().0, Verdict::Beat);
        assert_eq!(rep.weekly[10].uncapped.flagged, 1);
        assert_eq!(rep.weekly[9].uncapped.catch_rate, Some(0.0));
        assert_eq!(rep.weekly[10].uncapped.catch_rate, Some(1.0));
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
        assert_eq!(rep.churned_weeks, 39 + 5);
        // C is flagged at 70…112 days (weeks 10…16), after its churned weeks: not caught.
        let u = &rep.uncapped.overall;
        assert_eq!((u.flagged, u.flagged_churned, u.caught), (36, 29, 29));
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
        // Week 10: A2 (higher value); 11: A (A2 paused); 12: nobody; 13: A2 again; …
        let s = &rep.sent.overall;
        assert_eq!(s.flagged, 20);
        assert_eq!(s.max_flags_per_owner_week, 1);
        assert_eq!(rep.uncapped.overall.max_flags_per_owner_week, 2);
        assert_eq!(rep.uncapped.overall.flagged, 58);
        // A2's first flag is week 10, A's week 11: warnings 3 and 2 weeks → median 2.5.
        assert_eq!(s.median_warning_weeks, Some(2.5));
        assert_eq!(rep.weekly[12].sent.flagged, 0);
        assert_eq!(rep.weekly[13].sent.flagged, 1);
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
