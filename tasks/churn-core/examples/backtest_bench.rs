//! Times `rules suggest` and a 52-week backtest over 50,000 customers and 1,000,000 orders
//! generated in memory (docs/SPEC.md §12; the figures: suggest under 10 s, backtest under 5 s).
//!
//! `cargo run --release -p churn-core --example backtest_bench`

use std::time::Instant;

use churn_core::ingest::orders::{CustomerKey, Order};
use churn_core::reports::backtest::{BacktestOptions, build_input, run};
use churn_core::reports::suggest::{SuggestOptions, suggest};
use churn_core::rules::parse_rules;
use jiff::civil::{Date, date};

/// SplitMix64, so the run is the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() {
    const CUSTOMERS: usize = 50_000;
    const ORDERS: usize = 1_000_000;
    let rules = parse_rules(
        "signal overdue\nmeasure: overdue_ratio\nat least 2.0: 40 points\nat least 1.5: 25 points\nat least 1.2: 10 points\n\
         signal silent\nmeasure: days_since_last_order\nat least 180: 15 points\nat least 90: 5 points\n\
         signal count\nmeasure: order_count\nat most 2: 10 points\n\
         signal fading\nmeasure: p_alive\nat most 0.2: 10 points\n\
         signal spend\nmeasure: lifetime_value\nat most 100: 5 points\n\
         band churning: at least 50\nband at-risk: at least 40\nband watch: at least 25\nweekly cap: 10\ncontact pause: 21 days\n",
    )
    .expect("rules");
    let start: Date = date(2025, 1, 6);
    let span_days = 52 * 7 + 2 * 90 + 180;
    let mut rng = Rng(42);
    let t = Instant::now();
    let mut orders = Vec::with_capacity(ORDERS);
    // 20 orders per customer on average, spread by each customer's pace; a third stop early.
    for c in 0..CUSTOMERS {
        let id = format!("C{:07}", c + 1);
        let n = ORDERS / CUSTOMERS;
        let stop = if rng.unit() < 0.33 { rng.unit() } else { 1.0 };
        let pace = (span_days as f64 / n as f64) * (0.5 + rng.unit());
        let mut day = rng.unit() * pace;
        for k in 0..n {
            let d = (day as i64).min(span_days as i64 - 1);
            let d = if (d as f64) > stop * span_days as f64 {
                span_days as i64 - 1 - (k as i64 % 3)
            } else {
                d
            };
            orders.push(Order {
                order_id: None,
                customer_key: CustomerKey::Id(id.clone()),
                date: start + jiff::Span::new().days(d),
                amount: Some(10.0 + (c % 90) as f64),
            });
            day += pace * (0.5 + rng.unit());
        }
    }
    println!(
        "generated {} orders for {CUSTOMERS} customers in {:.2?}",
        orders.len(),
        t.elapsed()
    );
    let t = Instant::now();
    let input = build_input(&orders, None, &rules);
    let built = t.elapsed();
    let from = start + jiff::Span::new().days(182);
    let opts = BacktestOptions {
        from: Some(from),
        to: Some(from + jiff::Span::new().days(51 * 7)),
        horizon_days: 90,
    };
    let t2 = Instant::now();
    let rep = run(&input, &rules, &opts).expect("backtest");
    let replay = t2.elapsed();
    println!(
        "{} Mondays ({} … {}), {} customer-weeks, {} churned: grouping {built:.2?}, replay {replay:.2?}, total {:.2?}",
        rep.weeks,
        rep.from,
        rep.to,
        rep.customer_weeks,
        rep.churned_weeks,
        t.elapsed()
    );
    println!(
        "AUC rules {:.3} recency {:.3}; sent precision {:.1}%, recency {:.1}%",
        rep.auc.rules.unwrap_or(0.0),
        rep.auc.baseline.unwrap_or(0.0),
        rep.sent.overall.precision.unwrap_or(0.0) * 100.0,
        rep.baseline.precision.unwrap_or(0.0) * 100.0
    );
    let t = Instant::now();
    let s = suggest(&input, &SuggestOptions::default(), "generated").expect("a suggestion");
    println!(
        "rules suggest: {:.2?} ({} fitting rows, {} signals)",
        t.elapsed(),
        s.suggestion.rows,
        s.suggestion.signals.len()
    );
}
