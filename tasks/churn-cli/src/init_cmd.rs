//! `churn init [DIR]`: a data folder to start from (docs/SPEC.md §10) — a commented rules doc
//! that passes `churn check`, a customer list with its header only, a commented config.toml —
//! and what to do next. Never overwrites: if any of the files is already there, nothing is written.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::error::CliError;

/// The rules doc: every line explained, the numbers a reasonable start (docs/SPEC.md §3).
pub const RULES: &str = "\
# The rules doc: how customers earn churn points. Lines starting with # are notes.
# Check it after every edit with `churn check rules.txt`.
#
# A signal measures one thing and gives points for it. A customer's score is the sum of the
# points of every signal (at most 100); the bands below turn the score into a list.
# A measure is one of days_since_last_order, overdue_ratio, p_alive, or a column of
# customers.csv (support_mood, plan, ...). For each signal, the first points line that matches
# counts, so put the biggest first.

signal overdue
  about: the next order is late compared with the customer's usual pace
  # overdue_ratio = days since the last order / order_pace_days (1.0 = exactly on time).
  measure: overdue_ratio
  at least 2.0: 40 points
  at least 1.5: 25 points
  at least 1.2: 10 points

signal silent
  about: no order for a long time
  measure: days_since_last_order
  at least 180: 30 points
  at least 90: 15 points

signal mood
  about: recent support mail sounded unhappy
  # support_mood runs from -1.0 (angry) to +1.0 (happy); a blank cell means no data.
  measure: support_mood
  at most -0.5: 30 points
  at most 0: 10 points

# A text column works too, e.g. a `plan` column in customers.csv:
# signal paused
#   measure: plan
#   is paused: 20 points

# Scores at or above a cut are in that band; the Monday list shows churning, then at-risk.
band churning: at least 75
band at-risk: at least 50
band watch: at least 25

# At most this many customers a week per owner; a customer listed, contacted or won back is
# left out for the contact pause.
weekly cap: 10
contact pause: 21 days

# How each owner (the owner column's email) is reached; an owner with no line gets email.
# owner alex@example.com: slack U0123ABCD
# owner sam@example.com: slack
# owner jo@example.com: email
";

/// The customer list: the header only (docs/SPEC.md §2). One row per customer goes under it.
pub const CUSTOMERS: &str =
    "customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value\n";

/// The settings, all optional (docs/SPEC.md §10).
pub const CONFIG: &str = "\
# Settings for this data folder. Every key is optional; remove the # to use one.

# The IANA time zone dates and \"this Monday\" are counted in.
timezone = \"UTC\"

# How numeric dates in customers.csv read: \"day-first\" (23/11/2026) or \"month-first\" (11/23/2026).
date_order = \"day-first\"

# Who gets customers with a blank or non-email owner, and is told when a run stops.
# fallback_owner = \"you@example.com\"

# The Slack channel of the Friday digest, and who gets the monthly summary.
# digest_channel = \"#churn\"
# summary_recipients = [\"you@example.com\"]

# The base of the email action links (where `churn serve` or the deployed outcome URL answers).
# outcome_url = \"http://localhost:8080\"

# Helpdesk or forwarding domains whose mail may name the customer by Reply-To.
# helpdesk_domains = [\"zendesk.com\"]
";

/// The files `churn init` writes, in order.
pub const FILES: [(&str, &str); 3] = [
    ("rules.txt", RULES),
    ("customers.csv", CUSTOMERS),
    ("config.toml", CONFIG),
];

/// Writes the folder, or nothing when any of its files exists already.
pub fn run(dir: &Path, json: bool) -> Result<ExitCode, CliError> {
    let existing: Vec<String> = FILES
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(CliError(format!(
            "{} already exist(s): nothing was written (churn init never overwrites; pick an \
             empty folder or move the file(s) away)",
            existing.join(", ")
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError(format!("{} could not be created: {e}", dir.display())))?;
    let mut written = Vec::new();
    for (name, text) in FILES {
        let path = dir.join(name);
        let result = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = result {
            // All or nothing: take back what this run wrote.
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(CliError(format!(
                "{} could not be written: {e}; nothing was written",
                path.display()
            )));
        }
        written.push(path);
    }
    let d = dir.display();
    if json {
        let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "dir": d.to_string(), "files": files }),
        )
        .map_err(|e| CliError(e.to_string()))?;
        writeln!(out).map_err(CliError::output)?;
    } else {
        println!("Created a data folder in {d}:");
        for (name, what) in [
            ("rules.txt", "how points are given (commented example)"),
            ("customers.csv", "your customer list: the header row only"),
            ("config.toml", "settings (commented)"),
        ] {
            println!("  {name:<14} {what}");
        }
        println!();
        println!("Next steps:");
        println!(
            "  1. Fill in customers.csv, one row per customer: customer_id, name and owner (the \
             account owner's email) are required; the other columns may stay blank. Until it has \
             a row, `churn check` says it has no customer rows."
        );
        println!("  2. Set fallback_owner (and your time zone) in config.toml.");
        println!("  3. Edit rules.txt, then: churn check {d}/rules.txt");
        println!("  4. churn check {d}/customers.csv --rules {d}/rules.txt --data {d}");
        println!("  5. churn weekly --data {d} --dry-run");
    }
    Ok(ExitCode::SUCCESS)
}
