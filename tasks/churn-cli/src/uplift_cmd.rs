//! `churn uplift`: does outreach work? The come-back rate of customers listed against that of
//! customers held out by the rules' `holdout:` line, with a 95% interval (docs/SPEC.md §3, §10).
//! And `churn demo-data --orders --uplift EFFECT`, which plants such an effect to try it on.
//!
//! `--json` prints `{"from", "to", "as_of", "horizon_days", "surfaced": {"customers",
//! "came_back", "rate"}, "held_out": {…}, "difference", "interval": [lo, hi], "method",
//! "verdict": "too_few" | "helps" | "no_clear_effect" | "hurts", "pending", "summary"}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use churn_local::uplift::{LocalUpliftOptions, local_uplift};
use clap::Args;
use jiff::civil::Date;

use crate::error::CliError;

/// `churn uplift`'s flags.
#[derive(Args, Debug, Clone)]
pub struct UpliftArgs {
    /// The data folder (default: the current folder).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub data: PathBuf,
    /// First Monday run counted (default: the first).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last Monday run counted (default: the last).
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Days after a run within which an order (or a Won back) counts as coming back.
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=730))]
    pub horizon: u32,
    /// Count as of this day: runs whose horizon has not ended by then are pending (default: today).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

fn date_arg(flag: &str, v: &Option<String>) -> Result<Option<Date>, CliError> {
    v.as_deref()
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| CliError::usage(format!("{flag} `{s}` is not a date like 2026-11-23")))
        })
        .transpose()
}

/// Runs `churn uplift`.
pub fn run(args: &UpliftArgs) -> Result<ExitCode, CliError> {
    let from = date_arg("--from", &args.from)?;
    let to = date_arg("--to", &args.to)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(CliError::usage(format!(
            "--from {f} is after --to {t}: nothing to count"
        )));
    }
    let u = local_uplift(
        &args.data,
        &LocalUpliftOptions {
            from,
            to,
            horizon_days: Some(args.horizon),
            as_of: args.as_of.clone(),
        },
    )
    .map_err(crate::commands::weekly_error)?;
    if args.json {
        let s = serde_json::to_string_pretty(&u).map_err(|e| CliError(e.to_string()))?;
        println!("{s}");
    } else {
        println!("{}", u.summary);
        if u.pending > 0 {
            println!(
                "{} more customer(s) were listed or held out less than {} days ago; they count once their horizon ends.",
                u.pending, u.horizon_days
            );
        }
        if u.surfaced.customers + u.held_out.customers + u.pending == 0 {
            println!(
                "Nobody was held out yet: add a line like `holdout: 10%` to rules.txt, and the Monday runs will keep that share of each list's candidates out, to compare with."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `churn demo-data --orders --uplift EFFECT --data DIR --out FILE`: plants follow-up orders
/// with the effect (listed come back at `base + effect`, held out at `base`).
pub fn plant(
    data: &Path,
    out: &Path,
    effect: f64,
    base: f64,
    seed: u64,
    json: bool,
) -> Result<ExitCode, CliError> {
    if !data.join(churn_local::store::DB_FILE).exists() {
        return Err(CliError::bad_input(format!(
            "{} has no churn.db: run `churn weekly` there (with a `holdout:` line in rules.txt) first",
            data.display()
        )));
    }
    let p = churn_local::demo_orders::write_uplift_orders(data, out, effect, base, seed).map_err(
        |e| match e {
            churn_local::demo_orders::PlantError::Chance(..) => CliError::usage(e.to_string()),
            other => CliError(other.to_string()),
        },
    )?;
    if json {
        let s = serde_json::to_string_pretty(&p).map_err(|e| CliError(e.to_string()))?;
        println!("{s}");
    } else {
        println!(
            "Wrote {}: {} of {} listed and {} of {} held-out customers come back within {} days (planted effect {:+.2}).",
            p.file,
            p.surfaced_back,
            p.surfaced,
            p.held_out_back,
            p.held_out,
            p.horizon_days,
            p.effect
        );
        println!(
            "Try: churn import-orders {} --data {} && churn uplift --data {}",
            p.file,
            data.display(),
            data.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
