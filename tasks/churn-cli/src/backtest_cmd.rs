//! `churn backtest`: replays the Monday run over an order history and shows, per band and overall,
//! how well the flags foresaw churn — beside a naive baseline (`days_since_last_order ≥ 90`).
//!
//! Which rules: `--rules` when given; else `rules.txt` beside `--customers`; else `rules.txt`
//! beside the order file; else the command stops and says so (a backtest of rules the owner did
//! not choose would prove nothing). Dates in the files are read as UTC and day-first, like
//! `churn score` without `--data`.
//!
//! `--json` prints one object: every key of the report (`from`, `to`, `weeks`, `horizon_days`,
//! `baseline_days`, `weekly_cap`, `contact_pause_days`, `rules_version`, `customers`, `owners`,
//! `customer_weeks`, `churned_weeks`, `churn_episodes`, `unmatched_orders`, `unknown_customers`,
//! `sent` / `uncapped` (each `{at_risk, churning, overall}`) and `baseline` — each a metrics object
//! `{flagged, flagged_churned, churned, caught, catch_rate, precision, caught_episodes,
//! median_warning_weeks, flags_per_owner_week, max_flags_per_owner_week}`, rates as fractions
//! 0…1 or `null` — and `weekly`: `[{monday, customers, churned, sent, uncapped, baseline}]`, each
//! view `{flagged, flagged_churned, caught, catch_rate, precision}`), plus `verdict` (`"beat"`,
//! `"mixed"` or `"did_not_beat"`), `verdict_text`, `plot` (the SVG's path), `orders`
//! (`{file, format, orders, ignored_orders, merged_rows}`) and `errors` (bad rows of the order file
//! and the customer list, each `{file, line, reason}`).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use churn_core::ingest::orders::read_orders;
use churn_core::list::customers::ReadOptions;
use churn_core::reports::backtest::{
    BacktestOptions, BacktestReport, DEFAULT_HORIZON_DAYS, Metrics, build_input, read_list, run,
};
use churn_core::rules::parse_rules;
use jiff::civil::Date;
use serde_json::{Value, json};

/// The command's arguments (the integrator maps clap's flags onto these).
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestArgs {
    /// The order history: `customer_id,order_date[,amount]`, or a Shopify, Stripe or WooCommerce
    /// export.
    pub orders: PathBuf,
    /// The customer list, for owners, lifetime values and the static columns the rules measure.
    pub customers: Option<PathBuf>,
    pub rules: Option<PathBuf>,
    /// First Monday (ISO date).
    pub from: Option<String>,
    /// Last Monday (ISO date).
    pub to: Option<String>,
    /// Days without an order after a Monday for a customer to count as churned (default 90).
    pub horizon: u32,
    pub json: bool,
    /// Where to write the SVG (default: `backtest.svg` beside the order file).
    pub plot: Option<PathBuf>,
}

impl Default for BacktestArgs {
    fn default() -> Self {
        BacktestArgs {
            orders: PathBuf::new(),
            customers: None,
            rules: None,
            from: None,
            to: None,
            horizon: DEFAULT_HORIZON_DAYS,
            json: false,
            plot: None,
        }
    }
}

fn folder_of(p: &Path) -> PathBuf {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn open(p: &Path, what: &str) -> Result<BufReader<File>, String> {
    File::open(p)
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .map_err(|e| format!("{what} {} could not be opened: {e}", p.display()))
}

fn parse_day(s: &Option<String>, flag: &str) -> Result<Option<Date>, String> {
    s.as_deref()
        .map(|s| {
            s.trim()
                .parse::<Date>()
                .map_err(|_| format!("{flag} `{s}` is not a date (expected 2026-11-23)"))
        })
        .transpose()
}

/// The rules doc to use (see the module docs).
fn rules_path(args: &BacktestArgs) -> Result<PathBuf, String> {
    if let Some(r) = &args.rules {
        return Ok(r.clone());
    }
    let mut tried = Vec::new();
    for base in args.customers.iter().chain(std::iter::once(&args.orders)) {
        let p = folder_of(base).join("rules.txt");
        if p.exists() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    Err(format!(
        "no rules doc: give --rules FILE (looked for {})",
        tried.join(" and ")
    ))
}

/// Runs the command: prints the table (or JSON) and writes the plot.
pub fn run_backtest(args: &BacktestArgs) -> Result<(), String> {
    let from = parse_day(&args.from, "--from")?;
    let to = parse_day(&args.to, "--to")?;
    if args.horizon == 0 {
        return Err("--horizon must be at least 1 day".into());
    }
    let rules_file = rules_path(args)?;
    let text = std::fs::read_to_string(&rules_file).map_err(|e| {
        format!(
            "the rules doc {} could not be read: {e}",
            rules_file.display()
        )
    })?;
    let rules = parse_rules(&text).map_err(|errors| {
        let mut s = format!(
            "the rules doc {} has {} mistake(s):",
            rules_file.display(),
            errors.len()
        );
        for e in errors {
            s.push_str(&format!("\n  {e}"));
        }
        s
    })?;
    let opts = ReadOptions::default();
    let file = read_orders(open(&args.orders, "the order file")?, &opts)
        .map_err(|e| format!("{}: {e}", args.orders.display()))?;
    let mut errors: Vec<Value> = file
        .bad_rows
        .iter()
        .map(|b| json!({"file": "orders", "line": b.line, "reason": b.reason}))
        .collect();
    let list = match &args.customers {
        Some(p) => {
            let (list, bad) = read_list(open(p, "the customer list")?, opts.clone(), &rules)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            errors.extend(
                bad.iter()
                    .map(|b| json!({"file": "customers", "line": b.line, "reason": b.reason})),
            );
            Some(list)
        }
        None => None,
    };
    let input = build_input(&file.orders, list.as_deref(), &rules);
    let report = run(
        &input,
        &rules,
        &BacktestOptions {
            from,
            to,
            horizon_days: args.horizon,
        },
    )
    .map_err(|e| e.to_string())?;

    let plot = args
        .plot
        .clone()
        .unwrap_or_else(|| folder_of(&args.orders).join("backtest.svg"));
    std::fs::write(&plot, churn_core::reports::plot::svg(&report))
        .map_err(|e| format!("the plot {} could not be written: {e}", plot.display()))?;

    let (verdict, verdict_text) = report.verdict();
    if args.json {
        let mut v = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        if let Value::Object(m) = &mut v {
            m.insert("verdict".into(), json!(verdict));
            m.insert("verdict_text".into(), json!(verdict_text));
            m.insert("plot".into(), json!(plot.display().to_string()));
            m.insert(
                "orders".into(),
                json!({
                    "file": args.orders.display().to_string(),
                    "format": file.format,
                    "orders": file.orders.len(),
                    "ignored_orders": file.ignored_orders,
                    "merged_rows": file.merged_rows,
                }),
            );
            m.insert("errors".into(), Value::Array(errors));
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", table(&report, file.format.label(), file.orders.len()));
        if !errors.is_empty() {
            println!("{} bad row(s) skipped:", errors.len());
            for e in errors.iter().take(20) {
                println!(
                    "  {} line {}: {}",
                    e["file"].as_str().unwrap_or(""),
                    e["line"],
                    e["reason"].as_str().unwrap_or("")
                );
            }
        }
        println!("{verdict_text}");
        println!(
            "Plot of catch rate and precision by week: {}",
            plot.display()
        );
    }
    Ok(())
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{:.1}%", x * 100.0))
}

fn row(label: &str, m: &Metrics) -> String {
    format!(
        "  {label:<10} {:>9} {:>9} {:>9} {:>10} {:>12} {:>8.1} {:>5} {:>8}\n",
        m.flagged,
        m.caught,
        pct(m.catch_rate),
        pct(m.precision),
        m.median_warning_weeks
            .map_or("—".into(), |w| format!("{w:.1}")),
        m.flags_per_owner_week,
        m.max_flags_per_owner_week,
        m.already_gone
    )
}

pub fn table(r: &BacktestReport, format: &str, orders: usize) -> String {
    let auc = |x: Option<f64>| x.map_or("—".into(), |x| format!("{x:.3}"));
    let mut s = format!(
        "Backtest of {} Monday(s), {} … {} ({}-day horizon) over {orders} orders ({format})\n\
         {} customers, {} owner(s); {} judged customer-weeks (an order within the horizon), {} churned ({} churn episodes); {} already gone\n",
        r.weeks,
        r.from,
        r.to,
        r.horizon_days,
        r.customers,
        r.owners.len(),
        r.customer_weeks,
        r.churned_weeks,
        r.churn_episodes,
        r.gone_weeks
    );
    if r.unmatched_orders > 0 {
        s.push_str(&format!(
            "{} order(s) of {} customer(s) not in the customer list were left out\n",
            r.unmatched_orders, r.unknown_customers
        ));
    }
    s.push_str(&format!(
        "AUC over the judged customer-weeks: rules {}, recency {}\n",
        auc(r.auc.rules),
        auc(r.auc.baseline)
    ));
    s.push_str(&format!(
        "\n  {:<10} {:>9} {:>9} {:>9} {:>10} {:>12} {:>8} {:>5} {:>8}\n",
        "", "flagged", "caught", "catch", "precision", "warning wks", "per o/wk", "max", "gone"
    ));
    s.push_str(&format!(
        "Rules, as sent (cap {}, pause {} days)\n",
        r.weekly_cap, r.contact_pause_days
    ));
    s.push_str(&row("at-risk", &r.sent.at_risk));
    s.push_str(&row("churning", &r.sent.churning));
    s.push_str(&row("overall", &r.sent.overall));
    s.push_str("Rules, uncapped (every at-risk or churning customer, no pause)\n");
    s.push_str(&row("at-risk", &r.uncapped.at_risk));
    s.push_str(&row("churning", &r.uncapped.churning));
    s.push_str(&row("overall", &r.uncapped.overall));
    s.push_str("Recency (as many names per owner as the rules sent, longest silent first)\n");
    s.push_str(&row("overall", &r.baseline));
    let g = &r.gone_rule;
    match g.gone_after_days {
        Some(days) => s.push_str(&format!(
            "Gone rule (silent {days}+ days): kept {} customer-week(s) off the lists; {} were already gone, {} ordered again within the horizon\n",
            g.kept_off, g.kept_off_already_gone, g.kept_off_returned
        )),
        None => s.push_str("Gone rule: off (`gone after: never`)\n"),
    }
    s.push_str(
        "\nflagged/caught: judged customer-weeks; catch: churned weeks flagged beforehand; precision: flagged weeks that churned;\n\
         warning wks: median weeks from the first flag to the Monday the silence reached the horizon;\n\
         gone: flags on customers already silent for the whole horizon (never a catch).\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_demo_orders_and_writes_the_plot() {
        let dir = tempfile::tempdir().unwrap();
        churn_local::demo_orders::write_demo_orders(
            dir.path(),
            200,
            2,
            1,
            jiff::civil::date(2026, 11, 23),
            12,
        )
        .unwrap();
        let args = BacktestArgs {
            orders: dir.path().join("orders.csv"),
            customers: Some(dir.path().join("customers.csv")),
            ..Default::default()
        };
        run_backtest(&args).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("backtest.svg")).unwrap();
        assert!(svg.starts_with("<svg"));
        let no_rules = BacktestArgs {
            orders: PathBuf::from("/nonexistent/orders.csv"),
            ..Default::default()
        };
        assert!(run_backtest(&no_rules).unwrap_err().contains("--rules"));
    }
}
