//! Times `rules suggest` and the backtest on an order file (release build):
//! `cargo run --release -p churn-core --example suggest_then_backtest -- ORDERS [--until DATE] [--from DATE] [--to DATE]`
//! Prints the suggested doc, the backtest table's key figures and the wall time of each step.

use std::time::Instant;

use churn_core::ingest::orders::read_orders;
use churn_core::list::customers::ReadOptions;
use churn_core::reports::backtest::{BacktestOptions, build_input, run};
use churn_core::reports::suggest::{SuggestOptions, day_of, suggest, truncate_input};
use churn_core::rules::parse_rules;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|s| s.parse::<jiff::civil::Date>().expect("a date"))
    };
    let path = &args[0];
    let t = Instant::now();
    let file = read_orders(
        std::io::BufReader::new(std::fs::File::open(path).expect("orders")),
        &ReadOptions::default(),
    )
    .expect("readable orders");
    let empty = parse_rules("signal s\n  measure: days_since_last_order\n  at least 1: 1 points\nband churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n").unwrap();
    let all = build_input(&file.orders, None, &empty);
    println!("read {} orders in {:.2?}", file.orders.len(), t.elapsed());
    let fit_input = match flag("--until") {
        Some(d) => truncate_input(&all, day_of(d)),
        None => all.clone(),
    };
    let t = Instant::now();
    let s = suggest(&fit_input, &SuggestOptions::default(), path).expect("a suggestion");
    println!("suggest: {:.2?}\n{}", t.elapsed(), s.rules_text);
    let rules = parse_rules(&s.rules_text).unwrap();
    let input = build_input(&file.orders, None, &rules);
    let t = Instant::now();
    let r = run(
        &input,
        &rules,
        &BacktestOptions {
            from: flag("--from"),
            to: flag("--to"),
            ..Default::default()
        },
    )
    .expect("a replay");
    println!("backtest of {} Mondays: {:.2?}", r.weeks, t.elapsed());
    println!(
        "AUC rules {:?} recency {:?}\nsent: flagged {} precision {:?} warning {:?} gone {}\nrecency: flagged {} precision {:?} warning {:?}\nuncapped: flagged {} precision {:?} warning {:?}\n{}",
        r.auc.rules,
        r.auc.baseline,
        r.sent.overall.flagged,
        r.sent.overall.precision,
        r.sent.overall.median_warning_weeks,
        r.sent.overall.already_gone,
        r.baseline.flagged,
        r.baseline.precision,
        r.baseline.median_warning_weeks,
        r.uncapped.overall.flagged,
        r.uncapped.overall.precision,
        r.uncapped.overall.median_warning_weeks,
        r.verdict().1
    );
}
