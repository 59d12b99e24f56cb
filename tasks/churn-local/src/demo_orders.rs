//! `churn demo-data --orders`: an order history to match a synthetic customer base, with planted
//! churners, for `churn backtest` to be tried (and tested) on.
//!
//! Each customer orders around their own pace with noise. About 30% are planted churners: they
//! stop ordering at a planted date, and about one in six of those comes back months later. The
//! planted truth is in the file itself: a churner's stop is their last order before a gap longer
//! than the horizon, so a test can recompute who churned when from `orders.csv` alone.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use churn_core::ingest::orders::{CustomerKey, Order, derive};
use jiff::civil::Date;

use crate::demo_data::demo_rules;
use crate::demo_data::{OWNER_NAMES, Rng, SHOP_DOMAIN};
use crate::files::write_atomic;

/// What was written.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DemoOrdersSummary {
    pub customers: usize,
    pub orders: usize,
    pub owners: Vec<String>,
    /// Customers planted to stop ordering (returners included).
    pub planted_churners: usize,
    /// Planted churners who come back.
    pub returners: usize,
    pub first_order: String,
    pub last_order: String,
    pub as_of: String,
}

const FIRST: &[&str] = &[
    "Harbor",
    "Maple",
    "Copper",
    "Golden",
    "Riverside",
    "Juniper",
    "Cedar",
    "Willow",
    "Kettle",
];
const SECOND: &[&str] = &[
    "Bakery", "Cafe", "Deli", "Florist", "Books", "Grocer", "Bistro", "Studio", "Market",
];
/// The horizon the planted churners are built around (the backtest's default).
const HORIZON: i64 = 90;

fn add_days(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap_or(d)
}

/// Writes `orders.csv` (`customer_id,order_date,amount`), a matching `customers.csv` as of
/// `as_of` (the columns `demo_data` writes, order columns derived per docs/SPEC.md §8) and `rules.txt`
/// (the demo rules) into `dir`.
///
/// The history starts `7 × weeks + 2 × 90` days before `as_of`, so a backtest with its default
/// range replays about `weeks` Mondays. Customer ids are `C0000001`, `C0000002`, …
pub fn write_demo_orders(
    dir: &Path,
    customers: usize,
    owners: usize,
    seed: u64,
    as_of: Date,
    weeks: u32,
) -> io::Result<DemoOrdersSummary> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng(seed ^ 0x0BAC_7E57);
    let owners: Vec<String> = (0..owners.max(1))
        .map(|i| {
            let base = OWNER_NAMES[i % OWNER_NAMES.len()];
            if i < OWNER_NAMES.len() {
                format!("{base}@{SHOP_DOMAIN}")
            } else {
                format!("{base}{}@{SHOP_DOMAIN}", i / OWNER_NAMES.len() + 1)
            }
        })
        .collect();
    let total = 7 * i64::from(weeks) + 2 * HORIZON;
    let start = add_days(as_of, -total);
    let mut rows: Vec<(Date, u32, f64)> = Vec::new();
    let mut list = String::from(
        "customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value,plan,first_order_date,order_count\n",
    );
    let (mut planted, mut returners) = (0, 0);
    let mut history: Vec<Order> = Vec::new();
    for i in 1..=customers {
        let id = format!("C{i:07}");
        let pace = [7.0, 14.0, 14.0, 21.0, 30.0, 30.0, 45.0, 60.0][rng.below(8)];
        let churner = rng.unit() < 0.3;
        let returner = churner && rng.unit() < 0.17;
        planted += usize::from(churner);
        returners += usize::from(returner);
        // A churner's last order before the stop falls anywhere in the history but the last month.
        let stop = if churner {
            rng.range(30.0, (total - 30) as f64) as i64
        } else {
            i64::MAX
        };
        let mut comeback = returner;
        let mut day = rng.range(0.0, pace) as i64;
        history.clear();
        let ticket = rng.range(20.0, 400.0);
        while day <= total {
            let date = add_days(start, day);
            let amount = (ticket * rng.range(0.7, 1.3) * 100.0).round() / 100.0;
            rows.push((date, i as u32, amount));
            history.push(Order {
                order_id: None,
                customer_key: CustomerKey::Id(id.clone()),
                date,
                amount: Some(amount),
            });
            let gap = (pace * rng.range(0.6, 1.4)).round().max(1.0) as i64;
            if day >= stop {
                if !comeback {
                    break;
                }
                // The comeback: a silence longer than the horizon, then the usual pace again.
                comeback = false;
                day += rng.range((HORIZON + 10) as f64, (HORIZON + 120) as f64) as i64;
            } else {
                day += gap;
            }
        }
        let d = derive(&history);
        let fmt = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
        let mood = if churner && rng.unit() < 0.6 {
            format!("{:.2}", rng.range(-0.9, 0.1))
        } else if rng.unit() < 0.5 {
            format!("{:.2}", rng.range(-0.3, 0.9))
        } else {
            String::new()
        };
        let plan = if rng.unit() < 0.04 {
            "paused"
        } else {
            "active"
        };
        let ltv: f64 = history.iter().filter_map(|o| o.amount).sum();
        let name = format!(
            "{} {}",
            FIRST[rng.below(FIRST.len())],
            SECOND[rng.below(SECOND.len())]
        );
        let _ = writeln!(
            list,
            "{id},{name},{},orders@c{i}.example.net,{},{},{mood},{ltv:.2},{plan},{},{}",
            owners[rng.below(owners.len())],
            fmt(d.last_order_date),
            d.order_pace_days.map(|p| p.to_string()).unwrap_or_default(),
            fmt(d.first_order_date),
            d.order_count
        );
    }
    rows.sort_by_key(|r| (r.0, r.1));
    let mut out = Vec::with_capacity(rows.len() * 32);
    out.extend_from_slice(b"customer_id,order_date,amount\n");
    for (date, i, amount) in &rows {
        io::Write::write_fmt(&mut out, format_args!("C{i:07},{date},{amount:.2}\n"))?;
    }
    write_atomic(&dir.join("orders.csv"), &out)?;
    write_atomic(&dir.join("customers.csv"), list.as_bytes())?;
    write_atomic(&dir.join("rules.txt"), demo_rules(&owners).as_bytes())?;
    Ok(DemoOrdersSummary {
        customers,
        orders: rows.len(),
        owners,
        planted_churners: planted,
        returners,
        first_order: rows.first().map(|r| r.0.to_string()).unwrap_or_default(),
        last_order: rows.last().map(|r| r.0.to_string()).unwrap_or_default(),
        as_of: as_of.to_string(),
    })
}

/// What `write_uplift_orders` planted.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlantedUplift {
    /// The order file written.
    pub file: String,
    /// Customers listed (first decision), and how many were planted to come back.
    pub surfaced: usize,
    pub surfaced_back: usize,
    /// Customers held out (first decision), and how many were planted to come back.
    pub held_out: usize,
    pub held_out_back: usize,
    /// The come-back chance planted for held-out customers; listed ones get `base + effect`.
    pub base: f64,
    pub effect: f64,
    pub horizon_days: u32,
}

/// Why planting failed.
#[derive(Debug, thiserror::Error)]
pub enum PlantError {
    #[error("--uplift {0} with base {1}: both chances must lie within 0 to 1")]
    Chance(f64, f64),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("writing the order file: {0}")]
    Io(#[from] io::Error),
}

/// `churn demo-data --orders --uplift EFFECT --data DIR --out FILE`: a follow-up order file with
/// a planted outreach effect, for `churn uplift` to find. Reads who was listed or held out from
/// the audit of the data folder `data` (each customer's first decision, as `churn uplift` counts
/// them); a listed customer comes back within the horizon with chance `base + effect`, a
/// held-out one with chance `base` — one order on a day drawn within the horizon; the others
/// order again only after it (so the horizon, not the file, decides). Seeded: the same audit and
/// seed give the same file. Writes `customer_id,order_date,amount` in the plain format.
pub fn write_uplift_orders(
    data: &Path,
    out: &Path,
    effect: f64,
    base: f64,
    seed: u64,
) -> Result<PlantedUplift, PlantError> {
    use churn_core::reports::uplift::{Group, first_decisions, read_audit};
    let horizon = churn_core::reports::uplift::DEFAULT_HORIZON_DAYS;
    let chance = base + effect;
    if !(0.0..=1.0).contains(&base) || !(0.0..=1.0).contains(&chance) {
        return Err(PlantError::Chance(effect, base));
    }
    let store = crate::store::SqliteStore::open_read_only(data)?;
    let items = store.audit_between("", "~")?;
    let (decisions, _) = read_audit(&items);
    let first = first_decisions(&decisions, None, None);
    let mut rng = Rng(seed ^ 0x0F_F5E7);
    let mut out_csv = String::from("customer_id,order_date,amount\n");
    let mut p = PlantedUplift {
        file: out.display().to_string(),
        surfaced: 0,
        surfaced_back: 0,
        held_out: 0,
        held_out_back: 0,
        base,
        effect,
        horizon_days: horizon,
    };
    // BTreeMap order: by customer id, so the draws do not depend on the audit's order.
    for (id, d) in first {
        let back_chance = match d.group {
            Group::Surfaced => chance,
            Group::HeldOut => base,
        };
        let back = rng.unit() < back_chance;
        let day = if back {
            rng.range(1.0, f64::from(horizon) + 1.0) as i64
        } else {
            i64::from(horizon) + 1 + rng.below(60) as i64
        };
        let amount = (rng.range(20.0, 400.0) * 100.0).round() / 100.0;
        let _ = writeln!(out_csv, "{id},{},{amount:.2}", add_days(d.as_of, day));
        match d.group {
            Group::Surfaced => {
                p.surfaced += 1;
                p.surfaced_back += usize::from(back);
            }
            Group::HeldOut => {
                p.held_out += 1;
                p.held_out_back += usize::from(back);
            }
        }
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    write_atomic(out, out_csv.as_bytes())?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_core::ingest::orders::read_orders;
    use churn_core::list::customers::ReadOptions;
    use churn_core::reports::backtest::{BacktestOptions, build_input, read_list, run};
    use churn_core::rules::parse_rules;
    use std::collections::BTreeMap;

    /// Days since 1970-01-01, computed here with jiff rather than the domain's helper.
    fn day(d: Date) -> i64 {
        i64::from((d - jiff::civil::date(1970, 1, 1)).get_days())
    }

    #[test]
    fn backtest_figures_match_the_planted_truth() {
        let dir = tempfile::tempdir().unwrap();
        let as_of = jiff::civil::date(2026, 11, 23);
        let sum = write_demo_orders(dir.path(), 1500, 3, 7, as_of, 26).unwrap();
        assert!(sum.planted_churners > 300 && sum.returners > 20, "{sum:?}");

        // The backtest, as `churn backtest` runs it.
        let rules =
            parse_rules(&std::fs::read_to_string(dir.path().join("rules.txt")).unwrap()).unwrap();
        let file = read_orders(
            std::fs::File::open(dir.path().join("orders.csv")).unwrap(),
            &ReadOptions::default(),
        )
        .unwrap();
        assert!(file.bad_rows.is_empty());
        let (list, bad) = read_list(
            std::fs::File::open(dir.path().join("customers.csv")).unwrap(),
            ReadOptions::default(),
            &rules,
        )
        .unwrap();
        assert!(bad.is_empty());
        let input = build_input(&file.orders, Some(&list), &rules);
        let rep = run(&input, &rules, &BacktestOptions::default()).unwrap();

        // The truth, recomputed from orders.csv alone with simple code.
        let text = std::fs::read_to_string(dir.path().join("orders.csv")).unwrap();
        let mut days: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for line in text.lines().skip(1) {
            let mut cells = line.split(',');
            let id = cells.next().unwrap().to_string();
            let d: Date = cells.next().unwrap().parse().unwrap();
            days.entry(id).or_default().push(day(d));
        }
        for v in days.values_mut() {
            v.sort();
            v.dedup();
        }
        let first = days.values().map(|v| v[0]).min().unwrap();
        let last = days.values().map(|v| *v.last().unwrap()).max().unwrap();
        // 1970-01-05 (day 4) was a Monday.
        let is_monday = |d: i64| (d - 4).rem_euclid(7) == 0;
        let mut m = first + 90;
        while !is_monday(m) {
            m += 1;
        }
        assert_eq!(day(rep.from), m);
        // Judged: an order within the 90 days before the Monday; churned: judged and no order
        // in the 90 days after. Recency's AUC from every judged week's silence.
        let (mut churned, mut judged, mut weeks) = (0u64, 0u64, 0);
        let mut silences: Vec<(i64, bool)> = Vec::new();
        while m + 90 <= last {
            weeks += 1;
            for v in days.values() {
                let Some(&last_order) = v.iter().filter(|&&d| d <= m).max() else {
                    continue;
                };
                if m - last_order >= 90 {
                    continue;
                }
                let is_churned = !v.iter().any(|&d| d > m && d <= m + 90);
                judged += 1;
                churned += u64::from(is_churned);
                silences.push((m - last_order, is_churned));
            }
            m += 7;
        }
        assert_eq!(rep.weeks, weeks);
        assert!((25..=27).contains(&weeks), "{weeks}");
        assert_eq!((rep.customer_weeks, rep.churned_weeks), (judged, churned));
        // AUC by pairs: each churned week against each that stayed, ties half.
        let (mut wins, mut pairs) = (0f64, 0f64);
        let stayed: Vec<i64> = silences.iter().filter(|s| !s.1).map(|s| s.0).collect();
        let mut sorted = stayed.clone();
        sorted.sort();
        for &(s, c) in &silences {
            if c {
                let below = sorted.partition_point(|&x| x < s) as f64;
                let ties = (sorted.partition_point(|&x| x <= s) as f64) - below;
                wins += below + 0.5 * ties;
                pairs += sorted.len() as f64;
            }
        }
        let pct = |x: f64| format!("{:.1}", x * 100.0);
        assert_eq!(pct(rep.auc.baseline.unwrap()), pct(wins / pairs));
        // The rules, uncapped, recomputed independently: the demo rules' points by hand from the
        // orders (pace = median gap between order days in the 365 days up to the last order)
        // and the list's static columns (mood, plan).
        let list_text = std::fs::read_to_string(dir.path().join("customers.csv")).unwrap();
        let mut statics: BTreeMap<String, (Option<f64>, bool)> = BTreeMap::new();
        for line in list_text.lines().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            statics.insert(c[0].to_string(), (c[6].parse().ok(), c[8] == "paused"));
        }
        let points = |v: &[i64], m: i64, mood: Option<f64>, paused: bool| -> u32 {
            let prior: Vec<i64> = v.iter().copied().filter(|&d| d <= m).collect();
            let last = *prior.last().unwrap();
            let window: Vec<i64> = prior.iter().copied().filter(|&d| last - d < 365).collect();
            let mut gaps: Vec<i64> = window.windows(2).map(|w| w[1] - w[0]).collect();
            gaps.sort();
            let pace = match gaps.len() {
                0 => None,
                n if n % 2 == 1 => Some(gaps[n / 2] as f64),
                n => Some((gaps[n / 2 - 1] + gaps[n / 2]) as f64 / 2.0),
            };
            let days = m - last;
            let mut p = 0;
            if let Some(pace) = pace.filter(|&p| p > 0.0) {
                let r = days as f64 / pace;
                p += if r >= 2.0 {
                    40
                } else if r >= 1.5 {
                    25
                } else if r >= 1.2 {
                    10
                } else {
                    0
                };
            }
            if let Some(mood) = mood {
                p += if mood <= -0.5 {
                    25
                } else if mood <= 0.0 {
                    10
                } else {
                    0
                };
            }
            p += if days >= 180 {
                15
            } else if days >= 90 {
                5
            } else {
                0
            };
            p + if paused { 20 } else { 0 }
        };
        let (mut r_flagged, mut r_flagged_churned, mut r_caught, mut r_gone) = (0, 0, 0, 0u64);
        // Per customer: the last order day seen, and whether they were flagged since it.
        let mut since: BTreeMap<&str, (i64, bool)> = BTreeMap::new();
        let mut m = day(rep.from);
        while m + 90 <= last {
            for (id, v) in &days {
                let Some(&last_order) = v.iter().filter(|&&d| d <= m).max() else {
                    continue;
                };
                let (mood, paused) = statics.get(id.as_str()).copied().unwrap_or((None, false));
                let flagged = points(v, m, mood, paused) >= 50;
                if m - last_order >= 90 {
                    r_gone += u64::from(flagged);
                    continue;
                }
                let entry = since.entry(id.as_str()).or_insert((last_order, false));
                if entry.0 != last_order {
                    *entry = (last_order, false);
                }
                entry.1 |= flagged;
                let is_churned = !v.iter().any(|&d| d > m && d <= m + 90);
                r_flagged += u64::from(flagged);
                r_flagged_churned += u64::from(flagged && is_churned);
                r_caught += u64::from(is_churned && entry.1);
            }
            m += 7;
        }
        let u = &rep.uncapped.overall;
        assert_eq!((u.flagged, u.already_gone), (r_flagged, r_gone));
        assert_eq!(
            pct(u.catch_rate.unwrap()),
            pct(r_caught as f64 / churned as f64)
        );
        assert_eq!(
            pct(u.precision.unwrap()),
            pct(r_flagged_churned as f64 / r_flagged as f64)
        );
        assert!(u.flagged > 0 && u.catch_rate.unwrap() > 0.0);
        assert!(rep.sent.overall.max_flags_per_owner_week <= 10);
        // Recency names as many as the rules sent, among the judged: never a gone customer.
        assert_eq!(rep.baseline.already_gone, 0);
        assert_eq!(
            rep.baseline.flagged + rep.baseline.already_gone,
            rep.sent.overall.flagged + rep.sent.overall.already_gone
        );
    }

    #[test]
    fn the_same_seed_writes_the_same_files() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let as_of = jiff::civil::date(2026, 11, 23);
        write_demo_orders(a.path(), 50, 2, 3, as_of, 8).unwrap();
        write_demo_orders(b.path(), 50, 2, 3, as_of, 8).unwrap();
        for f in ["orders.csv", "customers.csv", "rules.txt"] {
            assert_eq!(
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap()
            );
        }
    }
}
