//! `churn digest`: the Friday digest from the data folder (SPEC §9, §10).
//!
//! `--json` prints one object: `week`, `from` (the Monday), `to` (the as-of date),
//! `watch_total`, `watch` (`[{customer_id, name, owner, score}]`, score descending, at most 300),
//! `outcomes` (`[{date, customer_id, name, action, by_user, detail, ts}]`, in the order recorded;
//! undone outcomes left out), `came_back` (`[{date, customer_id, name, last_order_date, ts}]`),
//! `channel` (config.toml's `digest_channel`, or `null`), `messages` (Slack messages it takes),
//! `files` (the outbox files written) and `text` (the plain-text version).

use std::path::PathBuf;
use std::process::ExitCode;

use churn_local::digest::local_digest;
use clap::Args;

use crate::commands::CliError;

/// `churn digest`'s flags.
#[derive(Args, Debug, Clone)]
pub struct DigestArgs {
    /// The data folder (default: the current folder).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub data: PathBuf,
    /// A day of the week to report (2026-11-27, or a time). Default: today.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Print only; write nothing to the outbox.
    #[arg(long)]
    pub dry_run: bool,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &DigestArgs) -> Result<ExitCode, CliError> {
    let report = local_digest(&args.data, args.as_of.as_deref(), args.dry_run)?;
    if args.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| CliError(e.to_string()))?;
        println!("{s}");
    } else {
        print!("{}", report.text);
        match (&report.channel, report.files.first()) {
            (None, _) => eprintln!(
                "churn: no digest channel is configured: add `digest_channel = \"#churn\"` to {}; nothing was written to the outbox",
                args.data.join("config.toml").display()
            ),
            (Some(c), Some(f)) => println!(
                "\nThe Slack message for {c} is in {f}{}",
                if report.files.len() > 1 {
                    format!(" (and {} more parts)", report.files.len() - 1)
                } else {
                    String::new()
                }
            ),
            (Some(_), None) => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}
