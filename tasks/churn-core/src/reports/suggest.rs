//! `churn rules suggest` (docs/SPEC.md §12): fits a rules doc to a shop's own order history.
//!
//! Plain arithmetic the owner can still read and edit:
//!
//! 1. **Rows.** At every Monday of the fitting period, each *judged* customer (an order within the
//!    horizon before it, as in the backtest) is one row: the order-derived measures as of that
//!    Monday, and whether they then stayed silent for the whole horizon (churned). `p_alive`
//!    comes from one BG/NBD model fitted on all the orders given (four numbers; the out-of-time
//!    check below fits its own on the earlier orders only).
//! 2. **Bins.** Each measure is cut at its quintiles (rounded to readable numbers). Its direction
//!    (more risk with a higher or a lower value) is the sign of the churn rate from the lowest
//!    fifth to the highest.
//! 3. **Points.** A logistic regression of churn on the bins (every measure at once, so two
//!    measures that say the same thing are not counted twice), made monotone in each measure's
//!    direction, shifted so the safest bin gives 0 and scaled so the doc's highest score is 100.
//!    Signals worth under 3 points are left out.
//! 4. **Timeliness.** A name helps only while there is time to act: the silence signal may stop
//!    growing earlier (at its lower cuts), and the variant whose lists, replayed over the fitting
//!    period, name the most customers who churned with at least [`ACTIONABLE_WEEKS`] weeks to go
//!    (per name sent) is kept.
//! 5. **Bands.** churning, at-risk and watch start at the scores reached by the top 10%, 30% and
//!    50% of the rows of the last four fitting Mondays (the customer base as it is now).
//!
//! The `#` header states an out-of-time check: the same procedure fitted on the earlier part of the
//! history only, then replayed by the backtest on the later part, beside the recency baseline.

use std::fmt::Write as _;

use jiff::civil::Date;
use serde::Serialize;

use crate::reports::backtest::{
    self, AsOf, BacktestError, BacktestInput, BacktestOptions, BacktestReport, Cursor, Subject,
    date_of, fit_p_alive_before, monday_on_or_after,
};
use crate::rules::parse_rules;
use crate::run::week::day_number;
use crate::scoring::palive::BgNbdParams;
use crate::scoring::score::Measured;

pub use crate::reports::backtest::ACTIONABLE_WEEKS;

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
/// Quantiles the measures are cut at.
const CUTS: [f64; 4] = [0.2, 0.4, 0.6, 0.8];
/// Share of fitting rows at or above each band's cut: churning, at-risk, watch.
const BAND_SHARES: [f64; 3] = [0.10, 0.30, 0.50];
/// The bands are set on the last few fitting Mondays: the customer base as it is now.
const RECENT_MONDAYS: usize = 4;
/// Fewest points a signal must be worth to be kept.
const MIN_SIGNAL_POINTS: u32 = 3;
/// History a Monday needs behind it to give fitting rows.
const MIN_HISTORY_DAYS: i32 = 28;
/// Mondays the out-of-time check needs on each side of its split.
const CHECK_WEEKS: i32 = 4;
/// Most rows kept for fitting; beyond it, whole Mondays are skipped evenly.
const MAX_ROWS: usize = 1_000_000;
/// The timeliness step replays at most this many of the last fitting Mondays.
const TIMELY_MONDAYS: i64 = 13;

/// An order-derived measure the fit may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestMeasure {
    DaysSinceLastOrder,
    OrderCount,
    OverdueRatio,
    LifetimeValue,
    PAlive,
}

impl SuggestMeasure {
    const ALL: [SuggestMeasure; 5] = [
        SuggestMeasure::DaysSinceLastOrder,
        SuggestMeasure::OrderCount,
        SuggestMeasure::OverdueRatio,
        SuggestMeasure::LifetimeValue,
        SuggestMeasure::PAlive,
    ];

    /// The name a rules doc uses.
    pub fn name(self) -> &'static str {
        match self {
            SuggestMeasure::DaysSinceLastOrder => "days_since_last_order",
            SuggestMeasure::OrderCount => "order_count",
            SuggestMeasure::OverdueRatio => "overdue_ratio",
            SuggestMeasure::LifetimeValue => "lifetime_value",
            SuggestMeasure::PAlive => "p_alive",
        }
    }

    fn signal(self, up: bool) -> (&'static str, &'static str) {
        match (self, up) {
            (SuggestMeasure::DaysSinceLastOrder, _) => (
                "silent",
                "no order for a while, against the shop's usual rhythm",
            ),
            (SuggestMeasure::OrderCount, false) => (
                "few orders",
                "customers with few orders so far leave more often",
            ),
            (SuggestMeasure::OrderCount, true) => (
                "many orders",
                "customers with many orders so far leave more often",
            ),
            (SuggestMeasure::OverdueRatio, _) => (
                "overdue",
                "next order is late compared with the customer's own pace",
            ),
            (SuggestMeasure::LifetimeValue, false) => (
                "small spender",
                "customers who have spent little so far leave more often",
            ),
            (SuggestMeasure::LifetimeValue, true) => (
                "big spender",
                "customers who have spent a lot so far leave more often",
            ),
            (SuggestMeasure::PAlive, _) => (
                "fading",
                "the chance they still buy here (p_alive, fitted on the shop's orders) is low",
            ),
        }
    }

    /// Rounds a cut point to something a person reads easily.
    fn nice(self, v: f64) -> f64 {
        match self {
            SuggestMeasure::DaysSinceLastOrder | SuggestMeasure::OrderCount => v.round(),
            SuggestMeasure::OverdueRatio => (v * 10.0).round() / 10.0,
            SuggestMeasure::PAlive => (v * 100.0).round() / 100.0,
            SuggestMeasure::LifetimeValue => {
                if v <= 0.0 {
                    return v.round();
                }
                let mag = 10f64.powi(v.log10().floor() as i32 - 1);
                (v / mag).round() * mag
            }
        }
    }
}

/// One measure's bins and fitted points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FittedSignal {
    pub measure: SuggestMeasure,
    /// Risk grows with the value (`at least` lines) or shrinks (`at most` lines).
    pub up: bool,
    /// Cut points, ascending.
    pub cuts: Vec<f64>,
    /// Points per bin, in value order (`cuts.len() + 1` bins).
    pub points: Vec<u32>,
}

/// What the fit found, and the doc it writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub signals: Vec<FittedSignal>,
    /// churning, at-risk, watch.
    pub bands: [u32; 3],
    /// Rows (judged customer-weeks) the fit used, and how many churned.
    pub rows: usize,
    pub churned_rows: usize,
    /// The Mondays the rows come from.
    pub fit_from: Date,
    pub fit_to: Date,
    /// The silence signal's highest cut kept by the timeliness step (`None`: all kept).
    pub silence_saturates_at: Option<f64>,
}

/// The whole answer of `rules suggest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestReport {
    /// The doc, ready for `churn check`.
    pub rules_text: String,
    pub suggestion: Suggestion,
    /// The out-of-time check: fitted on orders before `split`, replayed from `split` on.
    pub check: Option<OutOfTime>,
    pub horizon_days: u32,
}

/// The same procedure fitted on the earlier history and judged on the later.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutOfTime {
    pub fitted_before: Date,
    pub report: BacktestReport,
}

/// Why no doc could be suggested.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SuggestError {
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    #[error(
        "too little history to fit: {rows} judged customer-week(s), {churned} of them churned; \
         a fit needs orders spanning at least two horizons ({horizon} days each) and both \
         customers who stayed and customers who left"
    )]
    TooLittle {
        rows: usize,
        churned: usize,
        horizon: u32,
    },
    #[error("the fitted doc does not parse (a bug): {0}")]
    Invalid(String),
}

/// Options of `rules suggest`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuggestOptions {
    pub horizon_days: u32,
    pub weekly_cap: usize,
    pub contact_pause_days: u32,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        SuggestOptions {
            horizon_days: backtest::DEFAULT_HORIZON_DAYS,
            weekly_cap: crate::rules::DEFAULT_WEEKLY_CAP,
            contact_pause_days: crate::rules::DEFAULT_CONTACT_PAUSE_DAYS,
        }
    }
}

/// One fitting row: the measures (NaN = no data) and the outcome.
#[derive(Debug, Clone, Copy)]
struct Row {
    values: [f32; 5],
    churned: bool,
}

/// The order history cut at day `end` (orders after it are dropped).
pub fn truncate_input(input: &BacktestInput, end: i32) -> BacktestInput {
    let subjects = input
        .subjects
        .iter()
        .map(|s| {
            let k = s.days.partition_point(|&d| d <= end);
            Subject {
                days: s.days[..k].to_vec(),
                orders_through: s.orders_through[..k].to_vec(),
                spent_through: s.spent_through[..k.min(s.spent_through.len())].to_vec(),
                ..s.clone()
            }
        })
        .collect();
    BacktestInput {
        subjects,
        owners: input.owners.clone(),
        unmatched_orders: input.unmatched_orders,
        unknown_customers: input.unknown_customers,
    }
}

fn last_day(input: &BacktestInput) -> Option<i32> {
    input
        .subjects
        .iter()
        .filter_map(|s| s.days.last())
        .max()
        .copied()
}

fn first_day(input: &BacktestInput) -> Option<i32> {
    input
        .subjects
        .iter()
        .filter_map(|s| s.days.first())
        .min()
        .copied()
}

/// Fits a doc on `input` (every order in it), checks the procedure out of time, and writes the
/// doc with its `#` header.
pub fn suggest(
    input: &BacktestInput,
    opts: &SuggestOptions,
    source: &str,
) -> Result<SuggestReport, SuggestError> {
    let h = opts.horizon_days as i32;
    let (Some(first), Some(last)) = (first_day(input), last_day(input)) else {
        return Err(BacktestError::NoOrders.into());
    };
    let suggestion = fit(input, opts)?;
    let rules_text = write_doc(&suggestion, opts);
    // The check: fit on the history before a split, replay the Mondays after it. The split sits
    // halfway between the first that leaves the fit a few Mondays and the last that leaves the
    // replay a few.
    let split_lo = first + MIN_HISTORY_DAYS + h + 7 * CHECK_WEEKS;
    let split_hi = last - h - 7 * CHECK_WEEKS;
    let split = monday_on_or_after(split_lo + (split_hi - split_lo).max(0) / 2);
    let check = if split_lo <= split_hi && split + h <= last {
        let early = truncate_input(input, split - 1);
        match fit(&early, opts) {
            Ok(s) => {
                let text = write_doc(&s, opts);
                let rules =
                    parse_rules(&text).map_err(|e| SuggestError::Invalid(format!("{e:?}")))?;
                let report = backtest::run(
                    input,
                    &rules,
                    &BacktestOptions {
                        from: Some(date_of(split)),
                        to: None,
                        horizon_days: opts.horizon_days,
                    },
                )?;
                Some(OutOfTime {
                    fitted_before: date_of(split),
                    report,
                })
            }
            Err(SuggestError::TooLittle { .. }) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let header = header(
        input,
        &suggestion,
        check.as_ref(),
        opts,
        source,
        first,
        last,
    );
    let rules_text = format!("{header}\n{rules_text}");
    parse_rules(&rules_text).map_err(|e| SuggestError::Invalid(format!("{e:?}")))?;
    Ok(SuggestReport {
        rules_text,
        suggestion,
        check,
        horizon_days: opts.horizon_days,
    })
}

/// The fitting rows of every Monday whose horizon ends by the last order.
/// Also returns where the last [`RECENT_MONDAYS`] sampled Mondays' rows start.
fn rows(input: &BacktestInput, h: i32, model: Option<&BgNbdParams>) -> (Vec<Row>, i32, i32, usize) {
    let (Some(first), Some(last)) = (first_day(input), last_day(input)) else {
        return (Vec::new(), 0, 0, 0);
    };
    let from = monday_on_or_after(first + MIN_HISTORY_DAYS);
    let to = monday_on_or_after(last - h + 1) - 7;
    if from > to {
        return (Vec::new(), from, to, 0);
    }
    let mondays = ((to - from) / 7 + 1) as usize;
    let active_guess = input.subjects.len().max(1);
    let step = (mondays * active_guess / 2).div_ceil(MAX_ROWS).max(1);
    let mut cursors = vec![Cursor::default(); input.subjects.len()];
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut starts = Vec::new();
    let mut m = from;
    let mut week = 0usize;
    while m <= to {
        if week.is_multiple_of(step) {
            starts.push(out.len());
            for (s, c) in input.subjects.iter().zip(cursors.iter_mut()) {
                let Some(a) = c.at(s, m, &mut buf) else {
                    continue;
                };
                if a.silence >= h {
                    continue;
                }
                out.push(Row {
                    values: measures(&a, m, model),
                    churned: !c.orders_within(s, m, h),
                });
            }
        }
        week += 1;
        m += 7;
    }
    let recent = starts
        .len()
        .checked_sub(RECENT_MONDAYS)
        .map_or(0, |k| starts[k]);
    (out, from, to, recent)
}

fn measures(a: &AsOf, m: i32, model: Option<&BgNbdParams>) -> [f32; 5] {
    let overdue = match a.pace {
        Some(p) if p > 0.0 => (f64::from(a.silence) / p) as f32,
        _ => f32::NAN,
    };
    let p_alive = match model.map(|p| backtest::p_alive_at(p, a, m)) {
        Some(Measured::PAlive { p }) => p as f32,
        _ => f32::NAN,
    };
    [
        a.silence as f32,
        a.order_count as f32,
        overdue,
        a.lifetime_value.map_or(f32::NAN, |v| v as f32),
        p_alive,
    ]
}

/// A measure's readable cut points (ascending, distinct) and direction.
fn bins_of(rows: &[Row], k: usize, measure: SuggestMeasure) -> Option<(Vec<f64>, bool)> {
    let mut v: Vec<(f32, bool)> = rows
        .iter()
        .filter(|r| r.values[k].is_finite())
        .map(|r| (r.values[k], r.churned))
        .collect();
    if v.len() < 100 {
        return None;
    }
    v.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let n = v.len();
    // A value held by a quarter of the rows or more (one order, say) gets a bin of its own; the
    // quantiles then cut the rest, so the measure still ranks among the others.
    let mut mode = (v[0].0, 0usize);
    let mut run = (v[0].0, 0usize);
    for x in &v {
        if x.0 == run.0 {
            run.1 += 1;
        } else {
            run = (x.0, 1);
        }
        if run.1 > mode.1 {
            mode = run;
        }
    }
    let rest: &[(f32, bool)] = if mode.1 * 4 >= n && mode.0 == v[0].0 {
        &v[mode.1..]
    } else {
        &v
    };
    let mut cuts: Vec<f64> = Vec::new();
    if rest.len() != n && !rest.is_empty() {
        cuts.push(f64::from(rest[0].0));
    }
    let m = rest.len().max(1);
    cuts.extend(
        CUTS.iter()
            .filter_map(|q| rest.get(((m as f64 * q) as usize).min(m - 1)))
            .map(|x| measure.nice(f64::from(x.0))),
    );
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let min = f64::from(v[0].0);
    cuts.retain(|&c| c > min);
    if cuts.is_empty() {
        return None;
    }
    let fifth = (n / 5).max(1);
    let rate = |s: &[(f32, bool)]| s.iter().filter(|x| x.1).count() as f64 / s.len() as f64;
    let up = rate(&v[n - fifth..]) >= rate(&v[..fifth]);
    Some((cuts, up))
}

/// The bin of a value: 0 … cuts.len(); `up` bins are `[c_k, c_k+1)`, down bins `(c_k, c_k+1]`.
fn bin(v: f64, cuts: &[f64], up: bool) -> usize {
    if up {
        cuts.partition_point(|&c| c <= v)
    } else {
        cuts.partition_point(|&c| c < v)
    }
}

/// Fits the doc on every Monday of `input` whose horizon is known.
fn fit(input: &BacktestInput, opts: &SuggestOptions) -> Result<Suggestion, SuggestError> {
    let h = opts.horizon_days as i32;
    let last = last_day(input).unwrap_or(0);
    let model = fit_p_alive_before(input, last + 1);
    let (rows, from, to, recent) = rows(input, h, model.as_ref());
    let churned = rows.iter().filter(|r| r.churned).count();
    if rows.len() < 200 || churned < 20 || rows.len() - churned < 20 {
        return Err(SuggestError::TooLittle {
            rows: rows.len(),
            churned,
            horizon: opts.horizon_days,
        });
    }
    let mut specs: Vec<(usize, SuggestMeasure, Vec<f64>, bool)> = Vec::new();
    for (k, m) in SuggestMeasure::ALL.iter().enumerate() {
        if let Some((cuts, up)) = bins_of(&rows, k, *m) {
            specs.push((k, *m, cuts, up));
        }
    }
    let betas = logistic(&rows, &specs);
    let mut signals: Vec<(FittedSignal, Vec<f64>)> = specs
        .iter()
        .zip(betas)
        .map(|((_, m, cuts, up), beta)| {
            let weights: Vec<f64> = {
                let mut counts = vec![0f64; cuts.len() + 1];
                for r in &rows {
                    let v = f64::from(
                        r.values[SuggestMeasure::ALL.iter().position(|x| x == m).unwrap_or(0)],
                    );
                    if v.is_finite() {
                        counts[bin(v, cuts, *up)] += 1.0;
                    }
                }
                counts
            };
            let mono = monotone(&beta, &weights, *up);
            let lo = mono.iter().copied().fold(f64::INFINITY, f64::min);
            let shifted: Vec<f64> = mono.iter().map(|b| b - lo).collect();
            (
                FittedSignal {
                    measure: *m,
                    up: *up,
                    cuts: cuts.clone(),
                    points: Vec::new(),
                },
                shifted,
            )
        })
        .collect();
    // Scale to 100, drop weak signals, rescale.
    for _ in 0..2 {
        let total: f64 = signals
            .iter()
            .map(|(_, b)| b.iter().copied().fold(0.0, f64::max))
            .sum();
        if total <= 0.0 {
            break;
        }
        let k = 100.0 / total;
        for (s, b) in &mut signals {
            s.points = b.iter().map(|x| (x * k).floor() as u32).collect();
        }
        signals.retain(|(s, _)| s.points.iter().copied().max().unwrap_or(0) >= MIN_SIGNAL_POINTS);
    }
    if signals.is_empty() {
        return Err(SuggestError::TooLittle {
            rows: rows.len(),
            churned,
            horizon: opts.horizon_days,
        });
    }
    let mut base = Suggestion {
        signals: signals.into_iter().map(|(s, _)| s).collect(),
        bands: [0; 3],
        rows: rows.len(),
        churned_rows: churned,
        fit_from: date_of(from),
        fit_to: date_of(to),
        silence_saturates_at: None,
    };
    base.bands = bands(&rows[recent..], &base.signals);
    // Timeliness: each signal that grows with the silence (silent, overdue, fading) may stop
    // growing at a lower cut, or be dropped; one signal at a time, the replay decides.
    let mut best = (timely_score(input, &base, opts)?, base);
    for measure in [
        SuggestMeasure::DaysSinceLastOrder,
        SuggestMeasure::PAlive,
        SuggestMeasure::OverdueRatio,
    ] {
        let Some(si) = best.1.signals.iter().position(|s| s.measure == measure) else {
            continue;
        };
        let start = best.1.clone();
        let bins = start.signals[si].points.len();
        for keep in 0..bins - 1 {
            let mut v = start.clone();
            let s = &mut v.signals[si];
            // Bins past `keep` from the safe end give what bin `keep` gives.
            let order: Vec<usize> = if s.up {
                (0..bins).collect()
            } else {
                (0..bins).rev().collect()
            };
            let level = s.points[order[keep]];
            for &b in &order[keep + 1..] {
                s.points[b] = level;
            }
            if measure == SuggestMeasure::DaysSinceLastOrder && keep > 0 {
                v.silence_saturates_at = Some(s.cuts[keep - 1]);
            }
            if v.signals[si].points.iter().all(|&p| p == 0) {
                v.signals.remove(si);
            }
            if v.signals.is_empty() {
                continue;
            }
            v.bands = bands(&rows[recent..], &v.signals);
            let score = timely_score(input, &v, opts)?;
            if score > best.0 + 1e-9 {
                best = (score, v);
            }
        }
    }
    Ok(best.1)
}

/// Names sent that churned with at least [`ACTIONABLE_WEEKS`] to go, per name sent, over the
/// fitting period's replay.
fn timely_score(
    input: &BacktestInput,
    s: &Suggestion,
    opts: &SuggestOptions,
) -> Result<f64, SuggestError> {
    let text = write_doc(s, opts);
    let rules = parse_rules(&text).map_err(|e| SuggestError::Invalid(format!("{e:?}")))?;
    let r = backtest::run(
        input,
        &rules,
        &BacktestOptions {
            from: Some(
                s.fit_from.max(
                    s.fit_to
                        .checked_sub(jiff::Span::new().weeks(TIMELY_MONDAYS - 1))
                        .unwrap_or(s.fit_from),
                ),
            ),
            to: Some(s.fit_to),
            horizon_days: opts.horizon_days,
        },
    )?;
    Ok(ratio(
        r.sent.overall.timely,
        r.sent.overall.flagged + r.sent.overall.already_gone,
    ))
}

/// Band cuts at the scores the top shares of the rows reach, strictly increasing within 1…100.
fn bands(rows: &[Row], signals: &[FittedSignal]) -> [u32; 3] {
    let mut hist = [0u64; 101];
    for r in rows {
        hist[score_of(r, signals).min(100) as usize] += 1;
    }
    let n = rows.len() as f64;
    let at_share = |share: f64| {
        let mut above = 0u64;
        for s in (0..=100).rev() {
            above += hist[s];
            if above as f64 >= share * n {
                return s as u32;
            }
        }
        0
    };
    let mut churning = at_share(BAND_SHARES[0]).clamp(3, 100);
    let mut at_risk = at_share(BAND_SHARES[1]).clamp(2, 99);
    let mut watch = at_share(BAND_SHARES[2]).clamp(1, 98);
    if at_risk >= churning {
        at_risk = churning - 1;
    }
    if watch >= at_risk {
        watch = at_risk - 1;
    }
    churning = churning.max(at_risk + 1);
    [churning, at_risk, watch.max(1)]
}

fn score_of(r: &Row, signals: &[FittedSignal]) -> u32 {
    signals
        .iter()
        .map(|s| {
            let k = SuggestMeasure::ALL
                .iter()
                .position(|m| *m == s.measure)
                .unwrap_or(0);
            let v = f64::from(r.values[k]);
            if v.is_finite() {
                s.points[bin(v, &s.cuts, s.up)]
            } else {
                0
            }
        })
        .sum()
}

/// Pool-adjacent-violators: the closest sequence (weighted) that never falls (`up`) or never
/// rises (`!up`).
fn monotone(beta: &[f64], weights: &[f64], up: bool) -> Vec<f64> {
    let sign = if up { 1.0 } else { -1.0 };
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for (i, &b) in beta.iter().enumerate() {
        let w = weights.get(i).copied().unwrap_or(1.0).max(1e-9);
        blocks.push((sign * b, w, 1));
        while blocks.len() > 1 {
            let (v2, w2, n2) = blocks[blocks.len() - 1];
            let (v1, w1, n1) = blocks[blocks.len() - 2];
            if v1 <= v2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = ((v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2);
        }
    }
    blocks
        .into_iter()
        .flat_map(|(v, _, n)| std::iter::repeat_n(sign * v, n))
        .collect()
}

/// A logistic regression of churn on every measure's bins (no data = the reference, 0), with a
/// little ridge so collinear measures share weight. Rows are grouped by their bin combination
/// first, so each Newton step costs a few thousand cells, not millions of rows.
fn logistic(rows: &[Row], specs: &[(usize, SuggestMeasure, Vec<f64>, bool)]) -> Vec<Vec<f64>> {
    use rustc_hash::FxHashMap;
    // Each measure's bin (0 = no data) in four bits of one key.
    let mut cells: FxHashMap<u32, [f64; 2]> = FxHashMap::default();
    for r in rows {
        let mut key = 0u32;
        for (j, (k, _, cuts, up)) in specs.iter().enumerate() {
            let v = f64::from(r.values[*k]);
            let b = if v.is_finite() {
                bin(v, cuts, *up) as u32 + 1
            } else {
                0
            };
            key |= b << (4 * j);
        }
        let c = cells.entry(key).or_insert([0.0; 2]);
        c[0] += 1.0;
        c[1] += f64::from(u8::from(r.churned));
    }
    // Parameter layout: intercept, then each measure's bins.
    let mut offset = vec![1usize];
    for (_, _, cuts, _) in specs {
        let last = *offset.last().unwrap_or(&1);
        offset.push(last + cuts.len() + 1);
    }
    let p = *offset.last().unwrap_or(&1);
    let cells: Vec<(Vec<usize>, f64, f64)> = cells
        .into_iter()
        .map(|(key, [n, y])| {
            let idx = (0..specs.len())
                .filter_map(|j| {
                    let b = ((key >> (4 * j)) & 0xF) as usize;
                    (b > 0).then(|| offset[j] + b - 1)
                })
                .collect();
            (idx, n, y)
        })
        .collect();
    let ridge = 1.0;
    let mut beta = vec![0.0f64; p];
    for _ in 0..25 {
        let mut grad = vec![0.0f64; p];
        let mut hess = vec![0.0f64; p * p];
        for (idx, n, y) in &cells {
            let eta = beta[0] + idx.iter().map(|&j| beta[j]).sum::<f64>();
            let mu = 1.0 / (1.0 + (-eta).exp());
            let g = y - n * mu;
            let w = n * mu * (1.0 - mu);
            let all = std::iter::once(0).chain(idx.iter().copied());
            for a in all.clone() {
                grad[a] += g;
                for b in all.clone() {
                    hess[a * p + b] += w;
                }
            }
        }
        for j in 1..p {
            grad[j] -= ridge * beta[j];
            hess[j * p + j] += ridge;
        }
        hess[0] += 1e-9;
        let Some(step) = solve(&mut hess, &mut grad, p) else {
            break;
        };
        let mut biggest = 0.0f64;
        for (b, s) in beta.iter_mut().zip(&step) {
            *b += s;
            biggest = biggest.max(s.abs());
        }
        if biggest < 1e-7 {
            break;
        }
    }
    specs
        .iter()
        .enumerate()
        .map(|(j, (_, _, cuts, _))| beta[offset[j]..offset[j] + cuts.len() + 1].to_vec())
        .collect()
}

/// Solves `a x = b` (a symmetric positive definite, `p × p`) by Gaussian elimination with
/// partial pivoting; `None` when singular.
fn solve(a: &mut [f64], b: &mut [f64], p: usize) -> Option<Vec<f64>> {
    for col in 0..p {
        let piv =
            (col..p).max_by(|&i, &j| a[i * p + col].abs().total_cmp(&a[j * p + col].abs()))?;
        if a[piv * p + col].abs() < 1e-12 {
            return None;
        }
        if piv != col {
            for k in 0..p {
                a.swap(piv * p + k, col * p + k);
            }
            b.swap(piv, col);
        }
        for row in col + 1..p {
            let f = a[row * p + col] / a[col * p + col];
            if f != 0.0 {
                for k in col..p {
                    a[row * p + k] -= f * a[col * p + k];
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; p];
    for row in (0..p).rev() {
        let s: f64 = (row + 1..p).map(|k| a[row * p + k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row * p + row];
    }
    Some(x)
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The doc's body (signals, bands, settings), without the header.
fn write_doc(s: &Suggestion, opts: &SuggestOptions) -> String {
    let mut out = String::new();
    for f in &s.signals {
        let (name, about) = f.measure.signal(f.up);
        let _ = writeln!(out, "signal {name}");
        let _ = writeln!(out, "  about: {about}");
        let _ = writeln!(out, "  measure: {}", f.measure.name());
        if f.up {
            // Bin k ≥ 1 starts at cuts[k-1]; highest first; a line giving what the next one
            // down gives is left out.
            for k in (1..f.points.len()).rev() {
                let p = f.points[k];
                if p == 0 {
                    break;
                }
                if f.points[k - 1] == p {
                    continue;
                }
                let _ = writeln!(out, "  at least {}: {p} points", num(f.cuts[k - 1]));
            }
        } else {
            // Bin k < last ends at cuts[k]; lowest first.
            for k in 0..f.points.len() - 1 {
                let p = f.points[k];
                if p == 0 {
                    break;
                }
                if f.points[k + 1] == p {
                    continue;
                }
                let _ = writeln!(out, "  at most {}: {p} points", num(f.cuts[k]));
            }
        }
        out.push('\n');
    }
    let [churning, at_risk, watch] = s.bands;
    let _ = writeln!(out, "band churning: at least {churning}");
    let _ = writeln!(out, "band at-risk: at least {at_risk}");
    let _ = writeln!(out, "band watch: at least {watch}");
    out.push('\n');
    let _ = writeln!(out, "weekly cap: {}", opts.weekly_cap);
    let _ = writeln!(out, "contact pause: {} days", opts.contact_pause_days);
    let _ = writeln!(out, "gone after: {} days", opts.horizon_days);
    out
}

fn header(
    input: &BacktestInput,
    s: &Suggestion,
    check: Option<&OutOfTime>,
    opts: &SuggestOptions,
    source: &str,
    first: i32,
    last: i32,
) -> String {
    let customers = input.subjects.iter().filter(|s| !s.days.is_empty()).count();
    let mut h = String::new();
    let _ = writeln!(h, "# Suggested by `churn rules suggest` from {source}:");
    let _ = writeln!(
        h,
        "#   {customers} customers' orders, {} … {}; churned = no order within {} days.",
        date_of(first),
        date_of(last),
        opts.horizon_days
    );
    let _ = writeln!(
        h,
        "# Fitted on {} customer-weeks of active customers (Mondays {} … {}), {:.0}% of whom churned.",
        s.rows,
        s.fit_from,
        s.fit_to,
        100.0 * s.churned_rows as f64 / s.rows.max(1) as f64
    );
    if let Some(c) = s.silence_saturates_at {
        let _ = writeln!(
            h,
            "# The silent signal stops growing at {} days, so the lists name customers while there is time to act.",
            num(c)
        );
    }
    match check {
        Some(c) => {
            let r = &c.report;
            let pct = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0));
            let auc = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{x:.3}"));
            let wk = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{x:.0}"));
            let _ = writeln!(
                h,
                "# Out-of-time check: fitted the same way on the orders before {}, then replayed on the",
                c.fitted_before
            );
            let _ = writeln!(
                h,
                "# Mondays {} … {} ({} weeks) by `churn backtest`, rules vs recency (same number of names):",
                r.from, r.to, r.weeks
            );
            let _ = writeln!(
                h,
                "#   AUC {} vs {}; precision of the lists as sent {} vs {}; median warning {} vs {} weeks.",
                auc(r.auc.rules),
                auc(r.auc.baseline),
                pct(r.sent.overall.precision),
                pct(r.baseline.precision),
                wk(r.sent.overall.median_warning_weeks),
                wk(r.baseline.median_warning_weeks)
            );
            let (verdict, _) = r.verdict();
            let line = match verdict {
                backtest::Verdict::Beat => "# On that check the fitted rules beat recency.",
                backtest::Verdict::Mixed => {
                    "# On that check the fitted rules beat recency on one measure only: use them with care."
                }
                backtest::Verdict::DidNotBeat => {
                    "# On that check the fitted rules do NOT beat recency: this history does not show what foretells churn."
                }
            };
            let _ = writeln!(h, "{line}");
        }
        None => {
            let _ = writeln!(
                h,
                "# No out-of-time check: the history is too short to hold part of it back."
            );
        }
    }
    let _ = writeln!(
        h,
        "# Edit freely; `churn check` checks the doc and `churn backtest` replays it. Add your owner lines."
    );
    h
}

/// Day number of a date (for callers cutting a history at `--until`).
pub fn day_of(d: Date) -> i32 {
    day_number(d) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::orders::{CustomerKey, Order};
    use crate::reports::backtest::build_input;

    #[test]
    fn monotone_pools_adjacent_violators() {
        assert_eq!(
            monotone(&[1.0, 3.0, 2.0, 4.0], &[1.0; 4], true),
            [1.0, 2.5, 2.5, 4.0]
        );
        assert_eq!(
            monotone(&[3.0, 1.0, 2.0], &[1.0; 3], false),
            [3.0, 1.5, 1.5]
        );
        // Weights pull the pooled value toward the heavier bin.
        assert_eq!(monotone(&[2.0, 0.0], &[3.0, 1.0], true), [1.5, 1.5]);
    }

    #[test]
    fn solve_finds_the_solution_and_refuses_a_singular_system() {
        let mut a = vec![4.0, 1.0, 1.0, 3.0];
        let mut b = vec![1.0, 2.0];
        let x = solve(&mut a, &mut b, 2).unwrap();
        assert!((x[0] - 1.0 / 11.0).abs() < 1e-12 && (x[1] - 7.0 / 11.0).abs() < 1e-12);
        assert!(solve(&mut [1.0, 2.0, 2.0, 4.0], &mut [1.0, 2.0], 2).is_none());
    }

    #[test]
    fn bins_are_readable_and_respect_direction() {
        // Up bins are [c, next); down bins are (prev, c].
        assert_eq!(bin(10.0, &[10.0, 20.0], true), 1);
        assert_eq!(bin(10.0, &[10.0, 20.0], false), 0);
        assert_eq!(bin(25.0, &[10.0, 20.0], false), 2);
        assert_eq!(SuggestMeasure::LifetimeValue.nice(1234.5), 1200.0);
        assert_eq!(SuggestMeasure::OverdueRatio.nice(1.26), 1.3);
        assert_eq!(SuggestMeasure::PAlive.nice(0.456), 0.46);
    }

    fn order(c: &str, day: i64) -> Order {
        Order {
            order_id: None,
            customer_key: CustomerKey::Id(c.into()),
            date: jiff::civil::date(2025, 1, 6) + jiff::Span::new().days(day),
            amount: Some(25.0),
        }
    }

    /// A shop where customers with one order leave and regulars stay, over two years.
    fn shop() -> Vec<Order> {
        let mut orders = Vec::new();
        for c in 0..400i64 {
            let start = (c * 37) % 360;
            if c % 2 == 0 {
                // A regular: every 14–27 days for two years.
                let gap = 14 + c % 14;
                let mut d = start;
                while d < 730 {
                    orders.push(order(&format!("R{c}"), d));
                    d += gap;
                }
            } else {
                // Two orders a month apart, then gone.
                orders.push(order(&format!("L{c}"), start));
                orders.push(order(&format!("L{c}"), start + 30));
            }
        }
        orders
    }

    #[test]
    fn a_doc_is_fitted_checked_out_of_time_and_parses() {
        let orders = shop();
        let dummy = parse_rules(
            "signal s\n  measure: days_since_last_order\n  at least 1: 1 points\n\
             band churning: at least 3\nband at-risk: at least 2\nband watch: at least 1\n",
        )
        .unwrap();
        let input = build_input(&orders, None, &dummy);
        let r = suggest(&input, &SuggestOptions::default(), "shop.csv").unwrap();
        let rules = parse_rules(&r.rules_text).expect("the doc parses");
        assert!(rules.max_score() <= 100);
        assert!(
            r.rules_text
                .starts_with("# Suggested by `churn rules suggest` from shop.csv")
        );
        assert!(r.rules_text.contains("gone after: 90 days"));
        // Few orders means leaving here: the order count is a signal, with `at most` lines.
        let count = r
            .suggestion
            .signals
            .iter()
            .find(|s| s.measure == SuggestMeasure::OrderCount)
            .expect("order_count is used");
        assert!(!count.up);
        let check = r.check.as_ref().expect("an out-of-time check");
        assert!(
            check.report.auc.rules.unwrap() > 0.8,
            "{:?}",
            check.report.auc
        );
        assert!(r.rules_text.contains("# Out-of-time check"));
        // Deterministic.
        assert_eq!(
            suggest(&input, &SuggestOptions::default(), "shop.csv")
                .unwrap()
                .rules_text,
            r.rules_text
        );
    }

    #[test]
    fn too_little_history_is_refused_with_the_reason() {
        let orders = vec![order("A", 0), order("A", 10), order("B", 3)];
        let dummy = parse_rules(
            "signal s\n  measure: days_since_last_order\n  at least 1: 1 points\n\
             band churning: at least 3\nband at-risk: at least 2\nband watch: at least 1\n",
        )
        .unwrap();
        let e = suggest(
            &build_input(&orders, None, &dummy),
            &SuggestOptions::default(),
            "x",
        )
        .unwrap_err();
        assert!(matches!(e, SuggestError::TooLittle { .. }), "{e}");
        assert!(e.to_string().contains("too little history"));
        let e = suggest(
            &build_input(&[], None, &dummy),
            &SuggestOptions::default(),
            "x",
        )
        .unwrap_err();
        assert!(matches!(e, SuggestError::Backtest(BacktestError::NoOrders)));
    }
}
