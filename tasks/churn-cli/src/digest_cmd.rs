//! `churn digest`: the Friday digest from the data folder (docs/SPEC.md §9, §10).
//!
//! `--json` prints one object: `week`, `from` (the Monday), `to` (the as-of date),
//! `watch_total`, `watch` (`[{customer_id, name, owner, score}]`, score descending, at most 300),
//! `outcomes` (`[{date, customer_id, name, action, by_user, detail, ts}]`, in the order recorded;
//! undone outcomes left out), `came_back` (`[{date, customer_id, name, last_order_date, ts}]`),
//! `channel` (config.toml's `digest_channel`, or `null`), `messages` (Slack messages it takes),
//! `files` (the outbox files written), `posted` (the `ts` of each message posted to Slack: with
//! `SLACK_BOT_TOKEN` set, a channel configured and not `--dry-run`; else empty) and `text` (the
//! plain-text version).

use std::path::PathBuf;
use std::process::ExitCode;

use churn_local::digest::{DigestReport, local_digest};
use clap::Args;

use crate::error::CliError;

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

/// The report and what was posted.
#[derive(serde::Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    report: &'a DigestReport,
    posted: &'a [String],
}

pub fn run(args: &DigestArgs) -> Result<ExitCode, CliError> {
    // A bad token setting is refused before anything is written.
    let notifier = crate::slack_env::notifier_from_env()?;
    let report = local_digest(&args.data, args.as_of.as_deref(), args.dry_run)?;
    let mut posted = Vec::new();
    let mut failure = None;
    if let (Some(slack), Some(channel), false) = (&notifier, &report.channel, args.dry_run) {
        let bodies = report.digest.slack_messages(channel);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        for body in &bodies {
            match runtime.block_on(slack.post_message(body)) {
                Ok(m) => posted.push(m.ts),
                Err(e) => {
                    failure = Some(format!(
                        "posting the digest to {channel} failed at part {} of {} ({} posted): {e}; the messages are in the outbox",
                        posted.len() + 1,
                        bodies.len(),
                        posted.len()
                    ));
                    break;
                }
            }
        }
        tracing::info!(week = %report.digest.week, posted = posted.len(), parts = bodies.len(), "digest posted");
    }
    if args.json {
        let out = Output {
            report: &report,
            posted: &posted,
        };
        let s = serde_json::to_string_pretty(&out).map_err(|e| CliError(e.to_string()))?;
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
        if !posted.is_empty() {
            println!(
                "Posted to Slack ({} message{}).",
                posted.len(),
                if posted.len() == 1 { "" } else { "s" }
            );
        }
    }
    match failure {
        Some(f) => Err(CliError(f)),
        None => Ok(ExitCode::SUCCESS),
    }
}
