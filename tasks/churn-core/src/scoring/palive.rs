//! `p_alive` (docs/SPEC.md §12): the BG/NBD model of Fader, Hardie & Lee (2005), "Counting Your Customers
//! the Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275–284.
//!
//! While alive, a customer buys at a Poisson rate λ; after each repeat purchase they drop out for
//! good with probability p. Across customers λ ~ Gamma(r, α) and p ~ Beta(a, b). The four
//! parameters are fitted by maximum likelihood on the shop's own per-customer summaries
//! (repeat purchases x, time of the last repeat t_x, time since the first purchase T), and
//! [`p_alive`] then gives the probability that a customer is still active.
//!
//! Times can be in any unit as long as one fit uses one unit throughout; [`summary_from_orders`]
//! uses weeks, like the paper.

use std::io::Read;

use jiff::civil::Date;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::run::week::days_between;

/// The four BG/NBD parameters: λ ~ Gamma(shape `r`, rate `alpha`), p ~ Beta(`a`, `b`).
/// `alpha` is in the data's time unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// One customer's history as the model sees it, all times in one unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Repeat purchases `x` (orders after the first).
    pub frequency: f64,
    /// `t_x`: time from the first purchase to the last one (0 when there is no repeat).
    pub recency: f64,
    /// `T`: time from the first purchase to the end of the observation period.
    pub t: f64,
}

/// The result of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fit {
    pub params: BgNbdParams,
    /// The maximised log-likelihood, summed over all customers.
    pub log_likelihood: f64,
    /// Quasi-Newton iterations used (over all restarts).
    pub iterations: usize,
}

/// Why [`fit`] could not produce parameters. `row` counts the input from 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("there are no customers to fit")]
    Empty,
    #[error("customer {row}: `{column}` is not a finite number")]
    NotFinite { row: usize, column: &'static str },
    #[error("customer {row}: `{column}` is negative ({value})")]
    Negative {
        row: usize,
        column: &'static str,
        value: f64,
    },
    #[error("customer {row}: `frequency` {value} is not a whole number of repeat purchases")]
    NotWhole { row: usize, value: f64 },
    #[error("customer {row}: `recency` {recency} is later than `T` {t}")]
    RecencyAfterT { row: usize, recency: f64, t: f64 },
    #[error("no customer has a repeat purchase, so the model has nothing to learn from")]
    NoRepeats,
    #[error("the fit did not converge after {iterations} iterations")]
    NoConvergence { iterations: usize },
    #[error(
        "the order history does not pin the model down: `{parameter}` ran off to {value:e} \
         (more customers or a longer history are needed)"
    )]
    Unbounded { parameter: &'static str, value: f64 },
}

/// The message the breakdown shows instead of a `p_alive` that means nothing.
pub const TOO_LITTLE_HISTORY: &str = "too little history: one order so far";

/// Whether [`p_alive`] says anything about this customer: it needs at least one repeat purchase
/// (`x ≥ 1`).
///
/// Why: BG/NBD lets a customer drop out only right after a repeat purchase, so with `x = 0` the
/// formula gives exactly 1.0 however long the customer has been silent. That 1.0 is the model's
/// assumption, not evidence, and would read as "certainly still buying"; the caller shows
/// [`TOO_LITTLE_HISTORY`] instead. Inputs that are not numbers also fail.
pub fn history_is_enough(x: f64, t_x: f64, t: f64) -> Result<(), &'static str> {
    if !(x.is_finite() && t_x.is_finite() && t.is_finite()) {
        return Err("no usable order history");
    }
    if x < 1.0 {
        return Err(TOO_LITTLE_HISTORY);
    }
    Ok(())
}

/// The probability that a customer with `x` repeat purchases, the last at `t_x`, observed for `t`
/// since their first purchase, is still active (Fader, Hardie & Lee 2005, eq. 5; Hardie's note
/// 021):
///
/// P(alive) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)).
///
/// It is 1 when `x = 0` (see [`history_is_enough`] for why that 1.0 should not be shown).
/// Computed in logs so that long silences give a clean 0 instead of overflow.
pub fn p_alive(params: &BgNbdParams, x: f64, t_x: f64, t: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let BgNbdParams { r, alpha, a, b } = *params;
    let log_odds_dead =
        params_log_ratio(a, b + x - 1.0) + (r + x) * ((alpha + t).ln() - (alpha + t_x).ln());
    1.0 / (1.0 + log_odds_dead.exp())
}

// ln(a / c) without the quotient, which can underflow to 0 or overflow for extreme parameters.
fn params_log_ratio(a: f64, c: f64) -> f64 {
    a.ln() - c.ln()
}

/// The BG/NBD log-likelihood of `data` at `params` (the paper's eq. 6, summed over customers).
///
/// Per customer, ln L = A1 + A2 + ln(e^A3 + δ(x>0)·e^A4) with
/// A1 = lnΓ(r+x) − lnΓ(r) + r ln α, A2 = ln[B(a, b+x)/B(a, b)], A3 = −(r+x) ln(α+T),
/// A4 = ln(a/(b+x−1)) − (r+x) ln(α+t_x); the last term is a log-sum-exp so that neither
/// power underflows. The data is not checked (use [`fit`] for that); nonsense gives NaN.
pub fn log_likelihood(params: &BgNbdParams, data: &[Summary]) -> f64 {
    data.iter()
        .map(|s| individual_log_likelihood(params, s.frequency, s.recency, s.t))
        .sum()
}

fn individual_log_likelihood(p: &BgNbdParams, x: f64, t_x: f64, t: f64) -> f64 {
    let BgNbdParams { r, alpha, a, b } = *p;
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
    let a3 = -(r + x) * (alpha + t).ln();
    if x > 0.0 {
        let a4 = params_log_ratio(a, b + x - 1.0) - (r + x) * (alpha + t_x).ln();
        a1 + a2 + log_sum_exp(a3, a4)
    } else {
        a1 + a2 + a3
    }
}

fn log_sum_exp(u: f64, v: f64) -> f64 {
    let m = u.max(v);
    m + ((u - m).exp() + (v - m).exp()).ln()
}

/// Turns one customer's order dates into a [`Summary`] in weeks: `x = order_count − 1`,
/// `t_x` = weeks from the first to the last order, `T` = weeks from the first order to `as_of`.
///
/// `None` when there is nothing consistent to summarise: no orders, `as_of` before the first order,
/// the last order before the first or after `as_of`, or a single order whose last date differs
/// from its first. Several orders on one day count as repeats (x grows, `t_x` stays 0): the
/// model's "repeat purchases" are the shop's orders.
pub fn summary_from_orders(
    first_order: Date,
    last_order: Date,
    order_count: u32,
    as_of: Date,
) -> Option<Summary> {
    if order_count == 0 || as_of < first_order || last_order < first_order || last_order > as_of {
        return None;
    }
    if order_count == 1 && last_order != first_order {
        return None;
    }
    Some(Summary {
        frequency: f64::from(order_count - 1),
        recency: days_between(first_order, last_order) as f64 / 7.0,
        t: days_between(first_order, as_of) as f64 / 7.0,
    })
}

/// Reads a summary CSV with columns `frequency`, `recency` and `T` (headers matched ignoring case
/// and surrounding spaces, in any order; other columns, such as a leading id, are ignored).
/// Errors name the line and the value.
pub fn read_summary_csv<R: Read>(reader: R) -> Result<Vec<Summary>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| format!("cannot read the header line: {e}"))?
        .clone();
    let find = |name: &str| {
        headers.iter().position(|h| {
            h.trim_start_matches('\u{feff}')
                .trim()
                .eq_ignore_ascii_case(name)
        })
    };
    let mut missing = Vec::new();
    let mut column = |name: &'static str| {
        find(name).unwrap_or_else(|| {
            missing.push(name);
            0
        })
    };
    let cols = [column("frequency"), column("recency"), column("T")];
    if !missing.is_empty() {
        return Err(format!(
            "the header line has no column {} (expected frequency, recency and T)",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let names = ["frequency", "recency", "T"];
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(format!("cannot read the CSV: {e}")),
        }
        let line = record.position().map_or(0, |p| p.line());
        let mut values = [0.0; 3];
        for ((value, &col), name) in values.iter_mut().zip(&cols).zip(names) {
            let cell = record.get(col).unwrap_or("").trim();
            *value = cell
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    format!("line {line}: `{cell}` in column `{name}` is not a number")
                })?;
        }
        out.push(Summary {
            frequency: values[0],
            recency: values[1],
            t: values[2],
        });
    }
    Ok(out)
}

/// Fits the BG/NBD parameters by maximum likelihood.
///
/// Customers with the same (x, t_x, T) are grouped first (summaries built from dates repeat a
/// lot), and the terms that depend only on x are computed once per distinct x, so one evaluation
/// costs a few logarithms per group. The optimiser is BFGS with an analytic gradient over the
/// logarithms of the parameters (so they stay positive), restarted once from its own answer to
/// confirm it.
pub fn fit(data: &[Summary]) -> Result<Fit, FitError> {
    let groups = Groups::new(data)?;
    // Starting point as in the `lifetimes` package: all parameters 1, except α on the scale of
    // the observation period (it is a time).
    let max_t = groups.t.iter().copied().fold(0.0, f64::max);
    let alpha0 = if max_t > 0.0 { max_t / 10.0 } else { 1.0 };
    let start = [0.0, alpha0.ln(), 0.0, 0.0];

    let mut iterations = 0;
    let first = bfgs(&groups, start, &mut iterations)?;
    // A fresh start from the answer throws away a possibly poor inverse-Hessian estimate; if the
    // first run stopped early, this one finishes the job.
    let second = bfgs(&groups, first.theta, &mut iterations)?;
    let best = if second.f <= first.f { second } else { first };

    const NAMES: [&str; 4] = ["r", "alpha", "a", "b"];
    for (name, &th) in NAMES.iter().zip(&best.theta) {
        // Beyond 1e8 (or below 1e-8) the likelihood is flat: the data cannot tell the values apart.
        if th.abs() > RUNAWAY_LN {
            return Err(FitError::Unbounded {
                parameter: name,
                value: th.exp(),
            });
        }
    }
    let params = params_from_theta(&best.theta);
    Ok(Fit {
        params,
        log_likelihood: groups.log_likelihood(&params),
        iterations,
    })
}

/// ln(1e8).
const RUNAWAY_LN: f64 = 18.420_680_743_952_367;
/// Log-parameters are kept within ±40 while searching, so exp never overflows.
const THETA_LIMIT: f64 = 40.0;
const MAX_ITERATIONS: usize = 1000;
/// Gradient tolerance on the mean log-likelihood per customer, per log-parameter.
const GTOL: f64 = 1e-9;
/// When rounding stops all progress, a gradient this small still counts as converged.
const STALL_GTOL: f64 = 1e-5;

fn params_from_theta(theta: &[f64; 4]) -> BgNbdParams {
    BgNbdParams {
        r: theta[0].exp(),
        alpha: theta[1].exp(),
        a: theta[2].exp(),
        b: theta[3].exp(),
    }
}

/// The data grouped by distinct (x, t_x, T), sorted by x.
struct Groups {
    /// One entry per distinct x: the value and the range of its groups.
    classes: Vec<(f64, std::ops::Range<usize>)>,
    t_x: Vec<f64>,
    t: Vec<f64>,
    count: Vec<f64>,
    total: f64,
}

impl Groups {
    fn new(data: &[Summary]) -> Result<Groups, FitError> {
        if data.is_empty() {
            return Err(FitError::Empty);
        }
        let mut map: FxHashMap<(u64, u64, u64), u32> = FxHashMap::default();
        for (i, s) in data.iter().enumerate() {
            let row = i + 1;
            for (column, v) in [
                ("frequency", s.frequency),
                ("recency", s.recency),
                ("T", s.t),
            ] {
                if !v.is_finite() {
                    return Err(FitError::NotFinite { row, column });
                }
                if v < 0.0 {
                    return Err(FitError::Negative {
                        row,
                        column,
                        value: v,
                    });
                }
            }
            if s.frequency.fract() != 0.0 {
                return Err(FitError::NotWhole {
                    row,
                    value: s.frequency,
                });
            }
            if s.recency > s.t {
                return Err(FitError::RecencyAfterT {
                    row,
                    recency: s.recency,
                    t: s.t,
                });
            }
            // t_x does not enter the likelihood when x = 0; dropping it merges more groups.
            let t_x = if s.frequency == 0.0 { 0.0 } else { s.recency };
            // `+ 0.0` turns -0.0 into 0.0 so both land in one group.
            let key = (
                (s.frequency + 0.0).to_bits(),
                (t_x + 0.0).to_bits(),
                (s.t + 0.0).to_bits(),
            );
            *map.entry(key).or_insert(0) += 1;
        }
        let mut keys: Vec<_> = map.into_iter().collect();
        keys.sort_unstable_by(|(k1, _), (k2, _)| {
            let f = |k: &(u64, u64, u64)| {
                (
                    f64::from_bits(k.0),
                    f64::from_bits(k.1),
                    f64::from_bits(k.2),
                )
            };
            f(k1)
                .partial_cmp(&f(k2))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut g = Groups {
            classes: Vec::new(),
            t_x: Vec::with_capacity(keys.len()),
            t: Vec::with_capacity(keys.len()),
            count: Vec::with_capacity(keys.len()),
            total: data.len() as f64,
        };
        for (i, ((x, t_x, t), n)) in keys.into_iter().enumerate() {
            let x = f64::from_bits(x);
            match g.classes.last_mut() {
                Some((cx, range)) if *cx == x => range.end = i + 1,
                _ => g.classes.push((x, i..i + 1)),
            }
            g.t_x.push(f64::from_bits(t_x));
            g.t.push(f64::from_bits(t));
            g.count.push(f64::from(n));
        }
        if g.classes.iter().all(|&(x, _)| x == 0.0) {
            return Err(FitError::NoRepeats);
        }
        Ok(g)
    }

    fn log_likelihood(&self, p: &BgNbdParams) -> f64 {
        let mut ll = 0.0;
        for (x, range) in &self.classes {
            for j in range.clone() {
                ll += self.count[j] * individual_log_likelihood(p, *x, self.t_x[j], self.t[j]);
            }
        }
        ll
    }

    /// The objective, −(mean log-likelihood), and its gradient with respect to the
    /// log-parameters θ = (ln r, ln α, ln a, ln b).
    fn objective(&self, theta: &[f64; 4]) -> (f64, [f64; 4]) {
        let BgNbdParams { r, alpha, a, b } = params_from_theta(theta);
        let ln_alpha = alpha.ln();
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (dg_r, dg_b, dg_ab) = (digamma(r), digamma(b), digamma(a + b));
        let mut ll = 0.0;
        // Derivatives with respect to r, α, a, b.
        let mut d = [0.0f64; 4];
        for &(x, ref range) in &self.classes {
            let rx = r + x;
            // Terms that depend only on x, once per class.
            let (a1, a2, c_r, c_a, c_b) = if x == 0.0 {
                (r * ln_alpha, 0.0, ln_alpha, 0.0, 0.0)
            } else {
                (
                    ln_gamma(rx) - lg_r + r * ln_alpha,
                    lg_ab + ln_gamma(b + x) - lg_b - ln_gamma(a + b + x),
                    digamma(rx) - dg_r + ln_alpha,
                    dg_ab - digamma(a + b + x),
                    dg_ab + digamma(b + x) - dg_b - digamma(a + b + x),
                )
            };
            let ln_a_over = params_log_ratio(a, b + x - 1.0);
            let mut n_class = 0.0;
            for j in range.clone() {
                let n = self.count[j];
                n_class += n;
                let l3 = (alpha + self.t[j]).ln();
                let a3 = -rx * l3;
                if x == 0.0 {
                    ll += n * a3;
                    d[0] -= n * l3;
                    d[1] -= n * rx / (alpha + self.t[j]);
                } else {
                    let l4 = (alpha + self.t_x[j]).ln();
                    let a4 = ln_a_over - rx * l4;
                    let m = a3.max(a4);
                    let (e3, e4) = ((a3 - m).exp(), (a4 - m).exp());
                    let sum = e3 + e4;
                    // The weights of the two ways the history can have happened (still alive, or
                    // dropped out after the last purchase).
                    let (w3, w4) = (e3 / sum, e4 / sum);
                    ll += n * (m + sum.ln());
                    d[0] -= n * (w3 * l3 + w4 * l4);
                    d[1] -= n * rx * (w3 / (alpha + self.t[j]) + w4 / (alpha + self.t_x[j]));
                    d[2] += n * w4 / a;
                    d[3] -= n * w4 / (b + x - 1.0);
                }
            }
            ll += n_class * (a1 + a2);
            d[0] += n_class * c_r;
            d[1] += n_class * r / alpha;
            d[2] += n_class * c_a;
            d[3] += n_class * c_b;
        }
        let scale = -1.0 / self.total;
        let grad = [
            d[0] * r * scale,
            d[1] * alpha * scale,
            d[2] * a * scale,
            d[3] * b * scale,
        ];
        (ll * scale, grad)
    }
}

struct Minimum {
    theta: [f64; 4],
    f: f64,
}

fn dot(u: &[f64; 4], v: &[f64; 4]) -> f64 {
    u.iter().zip(v).map(|(a, b)| a * b).sum()
}

fn max_abs(v: &[f64; 4]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

const IDENTITY: [[f64; 4]; 4] = [
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
];

/// BFGS with a backtracking (Armijo) line search, minimising `groups.objective` from `theta`.
fn bfgs(groups: &Groups, mut theta: [f64; 4], iterations: &mut usize) -> Result<Minimum, FitError> {
    let (mut f, mut g) = groups.objective(&theta);
    if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return Err(FitError::NoConvergence {
            iterations: *iterations,
        });
    }
    let mut h = IDENTITY;
    let mut fresh = true;
    let mut budget = MAX_ITERATIONS;
    loop {
        if max_abs(&g) < GTOL {
            return Ok(Minimum { theta, f });
        }
        if budget == 0 {
            return Err(FitError::NoConvergence {
                iterations: *iterations,
            });
        }
        budget -= 1;
        *iterations += 1;

        let mut dir = [0.0; 4];
        for (i, di) in dir.iter_mut().enumerate() {
            *di = -dot(&h[i], &g);
        }
        if dot(&dir, &g) >= 0.0 {
            // Not a descent direction: the curvature estimate has gone bad.
            h = IDENTITY;
            fresh = true;
            dir = g.map(|v| -v);
        }
        // Long steps in log space mean factors of e^3 per parameter at most.
        let longest = max_abs(&dir);
        if longest > 3.0 {
            dir = dir.map(|v| v * 3.0 / longest);
        }
        let slope = dot(&dir, &g);

        let mut step = 1.0;
        let accepted = loop {
            let trial: [f64; 4] = std::array::from_fn(|i| theta[i] + step * dir[i]);
            if trial.iter().all(|t| t.abs() <= THETA_LIMIT) {
                let (ft, gt) = groups.objective(&trial);
                if ft.is_finite()
                    && gt.iter().all(|v| v.is_finite())
                    && ft <= f + 1e-4 * step * slope
                {
                    break Some((trial, ft, gt));
                }
            }
            step *= 0.5;
            if step < 1e-14 {
                break None;
            }
        };
        let Some((new_theta, new_f, new_g)) = accepted else {
            // No decrease found. Near the optimum that is rounding, not failure.
            if max_abs(&g) < STALL_GTOL {
                return Ok(Minimum { theta, f });
            }
            if !fresh {
                h = IDENTITY;
                fresh = true;
                continue;
            }
            return Err(FitError::NoConvergence {
                iterations: *iterations,
            });
        };

        // A step that no longer changes f measurably: the gradient is at the floor that rounding
        // in the sum allows (about 1e-8 per customer for large data).
        if f - new_f <= 4.0 * f64::EPSILON * f.abs() {
            if max_abs(&new_g) < STALL_GTOL {
                return Ok(Minimum {
                    theta: new_theta,
                    f: new_f,
                });
            }
            if !fresh {
                h = IDENTITY;
                fresh = true;
                theta = new_theta;
                f = new_f;
                g = new_g;
                continue;
            }
            return Err(FitError::NoConvergence {
                iterations: *iterations,
            });
        }

        let s: [f64; 4] = std::array::from_fn(|i| new_theta[i] - theta[i]);
        let y: [f64; 4] = std::array::from_fn(|i| new_g[i] - g[i]);
        let sy = dot(&s, &y);
        let (ss, yy) = (dot(&s, &s), dot(&y, &y));
        // Skip the update when the curvature condition fails (Armijo alone does not ensure it).
        if sy > 1e-12 * (ss * yy).sqrt() {
            if fresh {
                // Nocedal & Wright (6.20): scale the first estimate to the observed curvature.
                let scale = sy / yy;
                h = IDENTITY.map(|row| row.map(|v| v * scale));
                fresh = false;
            }
            bfgs_update(&mut h, &s, &y, sy);
        }
        theta = new_theta;
        f = new_f;
        g = new_g;
    }
}

/// The BFGS inverse-Hessian update H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, with ρ = 1/(yᵀs).
fn bfgs_update(h: &mut [[f64; 4]; 4], s: &[f64; 4], y: &[f64; 4], sy: f64) {
    let rho = 1.0 / sy;
    let hy: [f64; 4] = std::array::from_fn(|i| dot(&h[i], y));
    let yhy = dot(y, &hy);
    for i in 0..4 {
        for j in 0..4 {
            h[i][j] += rho * ((1.0 + rho * yhy) * s[i] * s[j] - hy[i] * s[j] - s[i] * hy[j]);
        }
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms; about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx); the series is accurate only for x ≥ 1/2.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// ψ(x) = d/dx ln Γ(x) for x > 0: the recurrence ψ(x) = ψ(x+1) − 1/x up to x ≥ 10, then the
/// asymptotic series.
fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * 691.0 / 32760.0)))));
    acc + x.ln() - 0.5 * inv - series
}

/// Fits the model on a customer list's order history (`first_order_date`, `last_order_date`,
/// `order_count`) as of a date. `Ok(None)` when no customer has a repeat purchase (nothing to fit).
pub fn fit_list<R: std::io::Read>(
    mut reader: crate::list::customers::CustomerReader<R>,
    as_of: Date,
) -> Result<Option<Fit>, crate::list::customers::ListError> {
    let mut data = Vec::new();
    while let Some(row) = reader.next_row() {
        let Ok(row) = row else { continue };
        let (Some(first), Some(last), Some(count)) =
            (row.first_order_date, row.last_order_date, row.order_count)
        else {
            continue;
        };
        if let Some(s) = summary_from_orders(first, last, count.max(0.0).round() as u32, as_of) {
            data.push(s);
        }
    }
    reader.finish()?;
    Ok(fit(&data).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CDNOW: &str = include_str!("../../../../tests/data/cdnow_customers_summary.csv");

    fn cdnow() -> Vec<Summary> {
        read_summary_csv(CDNOW.as_bytes()).expect("the shipped CDNOW file reads")
    }

    /// The paper's CDNOW estimates (Fader, Hardie & Lee 2005, section 4).
    const PAPER: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn same_to_3_significant(got: f64, want: f64) -> bool {
        let digits = |v: f64| {
            let e = v.abs().log10().floor() as i32;
            let m = 10f64.powi(2 - e);
            (v * m).round() / m
        };
        digits(got) == digits(want)
    }

    #[test]
    fn cdnow_reads_all_customers() {
        let data = cdnow();
        assert_eq!(data.len(), 2357);
        assert_eq!(
            data[0],
            Summary {
                frequency: 2.0,
                recency: 30.43,
                t: 38.86
            }
        );
    }

    #[test]
    fn log_likelihood_at_the_paper_parameters_matches_the_paper() {
        let ll = log_likelihood(&PAPER, &cdnow());
        assert!((ll - -9582.4).abs() < 0.1, "{ll}");
    }

    #[test]
    fn fit_reproduces_the_paper_on_cdnow() {
        let fit = fit(&cdnow()).expect("CDNOW fits");
        let p = fit.params;
        assert!(same_to_3_significant(p.r, 0.243), "r = {}", p.r);
        assert!(same_to_3_significant(p.alpha, 4.414), "alpha = {}", p.alpha);
        assert!(same_to_3_significant(p.a, 0.793), "a = {}", p.a);
        assert!(same_to_3_significant(p.b, 2.426), "b = {}", p.b);
        assert!(
            (fit.log_likelihood - -9582.4).abs() < 0.1,
            "{}",
            fit.log_likelihood
        );
        // And it is a maximum: the paper's rounded values are no better.
        assert!(fit.log_likelihood >= log_likelihood(&PAPER, &cdnow()));
    }

    #[test]
    fn grouped_objective_matches_the_plain_sum_and_its_gradient_matches_differences() {
        let data = cdnow();
        let groups = Groups::new(&data).unwrap();
        let theta = [-1.0, 1.2, -0.3, 0.7];
        let (f, g) = groups.objective(&theta);
        let plain = log_likelihood(&params_from_theta(&theta), &data);
        assert!(
            (f * -(data.len() as f64) - plain).abs() < 1e-7,
            "{f} {plain}"
        );
        for i in 0..4 {
            let h = 1e-6;
            let mut up = theta;
            up[i] += h;
            let mut down = theta;
            down[i] -= h;
            let numeric = (groups.objective(&up).0 - groups.objective(&down).0) / (2.0 * h);
            assert!(
                (numeric - g[i]).abs() < 1e-7,
                "d/dθ{i}: {numeric} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn p_alive_matches_the_lifetimes_package() {
        // Reference values from `lifetimes` 0.11.3 (PyPI),
        // BetaGeoFitter.conditional_probability_alive with params_ set to PAPER.
        let cases = [
            // (x, t_x, T, P(alive))
            (0.0, 0.0, 38.86, 1.0),
            (2.0, 30.43, 38.86, REF_1),
            (1.0, 1.71, 38.86, REF_2),
            (5.0, 20.0, 39.0, REF_3),
            (10.0, 38.0, 39.0, REF_4),
        ];
        for (x, t_x, t, want) in cases {
            let got = p_alive(&PAPER, x, t_x, t);
            assert!(
                (got - want).abs() < 1e-12,
                "({x}, {t_x}, {t}): {got} vs {want}"
            );
        }
    }

    const REF_1: f64 = 0.726_578_570_080_673;
    const REF_2: f64 = 0.212_100_985_377_379_1;
    const REF_3: f64 = 0.283_794_089_754_161_37;
    const REF_4: f64 = 0.919_021_515_682_759_6;

    #[test]
    fn p_alive_falls_as_silence_grows() {
        let mut last = 1.0;
        for weeks in [20.0, 25.0, 30.0, 40.0, 60.0, 100.0] {
            let p = p_alive(&PAPER, 3.0, 20.0, weeks);
            assert!(p < last, "{weeks}: {p} !< {last}");
            last = p;
        }
        let no_silence = p_alive(&PAPER, 3.0, 20.0, 20.0);
        assert!((no_silence - 1.0 / (1.0 + 0.793 / 4.426)).abs() < 1e-15);
    }

    #[test]
    fn history_needs_a_repeat_purchase() {
        assert_eq!(history_is_enough(0.0, 0.0, 30.0), Err(TOO_LITTLE_HISTORY));
        assert_eq!(p_alive(&PAPER, 0.0, 0.0, 300.0), 1.0);
        assert_eq!(history_is_enough(1.0, 2.0, 30.0), Ok(()));
        assert!(history_is_enough(f64::NAN, 2.0, 30.0).is_err());
    }

    fn date(y: i16, m: i8, d: i8) -> Date {
        Date::new(y, m, d).unwrap()
    }

    #[test]
    fn summaries_from_order_dates_are_in_weeks() {
        let s = summary_from_orders(date(2026, 1, 1), date(2026, 1, 15), 3, date(2026, 2, 12));
        assert_eq!(
            s,
            Some(Summary {
                frequency: 2.0,
                recency: 2.0,
                t: 6.0
            })
        );
        let one = summary_from_orders(date(2026, 1, 1), date(2026, 1, 1), 1, date(2026, 1, 8));
        assert_eq!(
            one,
            Some(Summary {
                frequency: 0.0,
                recency: 0.0,
                t: 1.0
            })
        );
        assert_eq!(
            summary_from_orders(date(2026, 1, 1), date(2026, 1, 1), 0, date(2026, 2, 1)),
            None
        );
        assert_eq!(
            summary_from_orders(date(2026, 3, 1), date(2026, 3, 1), 1, date(2026, 2, 1)),
            None
        );
        assert_eq!(
            summary_from_orders(date(2026, 1, 1), date(2026, 3, 1), 2, date(2026, 2, 1)),
            None
        );
        assert_eq!(
            summary_from_orders(date(2026, 1, 1), date(2026, 1, 5), 1, date(2026, 2, 1)),
            None
        );
    }

    #[test]
    fn the_csv_reader_takes_any_column_order_and_names_bad_cells() {
        let text = "\u{feff}Recency , id,t,FREQUENCY\n1.5,a,3,2\n0,b,4,0\n";
        let data = read_summary_csv(text.as_bytes()).unwrap();
        assert_eq!(
            data,
            vec![
                Summary {
                    frequency: 2.0,
                    recency: 1.5,
                    t: 3.0
                },
                Summary {
                    frequency: 0.0,
                    recency: 0.0,
                    t: 4.0
                }
            ]
        );
        let err = read_summary_csv("frequency,recency,T\n1,2,3\n1,x2,3\n".as_bytes()).unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("`x2`") && err.contains("recency"),
            "{err}"
        );
        let err = read_summary_csv("frequency,T\n1,3\n".as_bytes()).unwrap_err();
        assert!(err.contains("`recency`"), "{err}");
        let err = read_summary_csv("frequency,recency,T\n1,2\n".as_bytes()).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn fit_refuses_bad_input() {
        let ok = Summary {
            frequency: 1.0,
            recency: 1.0,
            t: 2.0,
        };
        let with = |s: Summary| vec![ok, s];
        assert_eq!(fit(&[]), Err(FitError::Empty));
        assert!(matches!(
            fit(&with(Summary { t: f64::NAN, ..ok })),
            Err(FitError::NotFinite {
                row: 2,
                column: "T"
            })
        ));
        assert!(matches!(
            fit(&with(Summary {
                recency: -1.0,
                ..ok
            })),
            Err(FitError::Negative {
                row: 2,
                column: "recency",
                ..
            })
        ));
        assert!(matches!(
            fit(&with(Summary {
                frequency: 1.5,
                ..ok
            })),
            Err(FitError::NotWhole { row: 2, .. })
        ));
        assert!(matches!(
            fit(&with(Summary { recency: 3.0, ..ok })),
            Err(FitError::RecencyAfterT { row: 2, .. })
        ));
        let none = Summary {
            frequency: 0.0,
            recency: 0.0,
            t: 5.0,
        };
        assert_eq!(fit(&[none, none]), Err(FitError::NoRepeats));
        // Every customer still buying at a steady pace: nobody ever drops out, so the data cannot
        // bound b (or a): an error, not a made-up number.
        let steady: Vec<Summary> = (1..=40)
            .map(|i| Summary {
                frequency: f64::from(i % 5 + 1),
                recency: 20.0,
                t: 20.0,
            })
            .collect();
        let err = fit(&steady).unwrap_err();
        assert!(
            matches!(
                err,
                FitError::Unbounded { .. } | FitError::NoConvergence { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn ln_gamma_and_digamma_known_values() {
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!(ln_gamma(2.0).abs() < 1e-14);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(1e-3) - 6.907_178_885_383_853).abs() < 1e-12);
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-13);
        assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 1e-13);
        assert!((digamma(100.0) - 4.600_161_852_738_087).abs() < 1e-13);
    }

    fn positive() -> impl Strategy<Value = f64> {
        (-6.0f64..6.0).prop_map(|e| 10f64.powf(e))
    }

    proptest! {
        #[test]
        fn p_alive_is_a_probability(
            r in positive(), alpha in positive(), a in positive(), b in positive(),
            x in 0u32..2000, t in 0.0f64..5000.0, frac in 0.0f64..=1.0,
        ) {
            let params = BgNbdParams { r, alpha, a, b };
            let t_x = t * frac;
            let p = p_alive(&params, f64::from(x), t_x, t);
            prop_assert!(p.is_finite() && (0.0..=1.0).contains(&p), "{p}");
        }

        #[test]
        fn log_likelihood_is_finite(
            r in positive(), alpha in positive(), a in positive(), b in positive(),
            x in 0u32..2000, t in 0.0f64..5000.0, frac in 0.0f64..=1.0,
        ) {
            let params = BgNbdParams { r, alpha, a, b };
            let s = Summary { frequency: f64::from(x), recency: t * frac, t };
            let ll = log_likelihood(&params, &[s]);
            prop_assert!(ll.is_finite(), "{ll}");
        }
    }
}
