//! `churn rules suggest` (docs/SPEC.md §12): a rules doc fitted on the shop's own orders.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use churn_core::ingest::orders::read_orders;
use churn_core::list::customers::ReadOptions;
use churn_core::reports::backtest::{build_input, read_list};
use churn_core::reports::suggest::{SuggestOptions, day_of, suggest, truncate_input};
use churn_core::rules::{Channel, Rules, parse_rules};
use clap::Subcommand;
use serde_json::json;

use crate::error::CliError;

/// `churn rules …`.
#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Fit a rules doc to your own order history and print it, ready for `churn check`.
    ///
    /// Finds which order-derived measures (days since the last order, order count, overdue
    /// ratio, lifetime value, p_alive) told customers who stopped ordering from those who stayed,
    /// with thresholds and points you can read and edit. The `#` lines at the top say how the
    /// same method did out of time (fitted on the earlier orders, replayed on the later ones)
    /// beside the recency baseline.
    Suggest {
        /// The order history: `customer_id,order_date[,amount]`, or a Shopify, Stripe or
        /// WooCommerce export.
        #[arg(long, value_name = "FILE")]
        orders: PathBuf,
        /// The customer list: orders are matched to it; owner lines, weekly cap and contact
        /// pause are kept from the rules.txt beside it.
        #[arg(long, value_name = "CSV")]
        customers: Option<PathBuf>,
        /// Days without an order for a customer to count as churned.
        #[arg(long, value_name = "DAYS", default_value_t = 90)]
        horizon: u32,
        /// Use only the orders up to this day (to judge the doc later on the rest).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Also write the doc to this file.
        #[arg(long, value_name = "TXT")]
        out: Option<PathBuf>,
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `churn rules` command.
pub fn run(command: RulesCommand) -> Result<ExitCode, CliError> {
    match command {
        RulesCommand::Suggest {
            orders,
            customers,
            horizon,
            until,
            out,
            json,
        } => run_suggest(orders, customers, horizon, until, out, json).map_err(CliError),
    }
}

fn run_suggest(
    orders: PathBuf,
    customers: Option<PathBuf>,
    horizon: u32,
    until: Option<String>,
    out: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode, String> {
    if horizon == 0 {
        return Err("--horizon must be at least 1 day".into());
    }
    let until = until
        .as_deref()
        .map(|s| {
            s.trim()
                .parse::<jiff::civil::Date>()
                .map_err(|_| format!("--until `{s}` is not a date (expected 2026-11-23)"))
        })
        .transpose()?;
    let opts = ReadOptions::default();
    let open = |p: &PathBuf, what: &str| {
        std::fs::File::open(p)
            .map(|f| std::io::BufReader::with_capacity(1 << 16, f))
            .map_err(|e| format!("{what} {} could not be opened: {e}", p.display()))
    };
    let file = read_orders(open(&orders, "the order file")?, &opts)
        .map_err(|e| format!("{}: {e}", orders.display()))?;
    // Owner lines, cap and pause from the doc beside the list, when there is a valid one.
    let existing: Option<Rules> = customers.as_ref().and_then(|c| {
        let p = c
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("rules.txt");
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| parse_rules(&t).ok())
    });
    // Only order-derived measures are fitted: any doc will do to read the list.
    let reader_rules = parse_rules(
        "signal s\n  measure: days_since_last_order\n  at least 1: 1 points\n\
         band churning: at least 3\nband at-risk: at least 2\nband watch: at least 1\n",
    )
    .map_err(|e| format!("{e:?}"))?;
    let list = match &customers {
        Some(p) => Some(
            read_list(open(p, "the customer list")?, opts.clone(), &reader_rules)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .0,
        ),
        None => None,
    };
    let mut input = build_input(&file.orders, list.as_deref(), &reader_rules);
    if let Some(d) = until {
        input = truncate_input(&input, day_of(d));
    }
    let mut sopts = SuggestOptions {
        horizon_days: horizon,
        ..Default::default()
    };
    if let Some(r) = &existing {
        sopts.weekly_cap = r.weekly_cap;
        sopts.contact_pause_days = r.contact_pause_days;
    }
    let source = orders.display().to_string();
    let report = suggest(&input, &sopts, &source).map_err(|e| e.to_string())?;
    let mut text = report.rules_text.clone();
    if let Some(r) = &existing
        && !r.owners.is_empty()
    {
        text.push_str("\n# Owners, as in the rules.txt beside the customer list:\n");
        for o in &r.owners {
            let _ = match &o.channel {
                Channel::Slack { user_id: Some(u) } => {
                    writeln!(text, "owner {}: slack {u}", o.email)
                }
                Channel::Slack { user_id: None } => writeln!(text, "owner {}: slack", o.email),
                Channel::Email => writeln!(text, "owner {}: email", o.email),
            };
        }
    }
    parse_rules(&text).map_err(|e| format!("the suggested doc does not parse (a bug): {e:?}"))?;
    if let Some(p) = &out {
        std::fs::write(p, &text)
            .map_err(|e| format!("the doc could not be written to {}: {e}", p.display()))?;
    }
    if json {
        let check = report.check.as_ref().map(|c| {
            let r = &c.report;
            json!({
                "fitted_before": c.fitted_before,
                "from": r.from,
                "to": r.to,
                "weeks": r.weeks,
                "auc": r.auc,
                "sent": r.sent.overall,
                "baseline": r.baseline,
                "verdict": r.verdict().0,
                "verdict_text": r.verdict().1,
            })
        });
        let v = json!({
            "rules": text,
            "horizon_days": horizon,
            "signals": report.suggestion.signals,
            "bands": {
                "churning": report.suggestion.bands[0],
                "at_risk": report.suggestion.bands[1],
                "watch": report.suggestion.bands[2],
            },
            "rows": report.suggestion.rows,
            "churned_rows": report.suggestion.churned_rows,
            "fit_from": report.suggestion.fit_from,
            "fit_to": report.suggestion.fit_to,
            "check": check,
            "orders": {"file": source, "format": file.format, "orders": file.orders.len()},
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
