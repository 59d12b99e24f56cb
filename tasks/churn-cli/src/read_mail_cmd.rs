//! `churn read-mail FILE.eml [--data DIR] [--parse-only] [--json]` (docs/SPEC.md §10): one support message
//! into a customer's `support_mood`, or, with `--parse-only`, what the message says and who sent
//! it, writing nothing.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use churn_core::ingest::mail::{MAX_MESSAGE_BYTES, parse_mail};
use churn_core::run::clock::AuditClock;
use churn_local::mood::{MailOutcome, local_policy, read_mail};
use serde::Serialize;

/// The flags of `churn read-mail`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReadMailArgs {
    /// The raw message (.eml, as SES stores it).
    #[arg(value_name = "FILE.eml")]
    pub file: PathBuf,
    /// The data folder (default: the current folder).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub data: PathBuf,
    /// Only parse: print from, subject, body and sender; write nothing.
    #[arg(long)]
    pub parse_only: bool,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

/// docs/SPEC.md §10's `--parse-only --json` output, exactly these keys.
#[derive(Serialize)]
struct Parsed<'a> {
    from: Option<&'a str>,
    subject: &'a str,
    body: &'a str,
    sender: Option<&'a str>,
}

/// Reads at most the size limit plus one byte: a larger file is refused without loading it.
fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut raw = Vec::new();
    file.take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(raw)
}

/// Runs the command; `Err` is the one-line message after `churn: `.
pub fn run(args: &ReadMailArgs) -> Result<ExitCode, String> {
    let raw = read_capped(&args.file)?;
    if args.parse_only {
        let policy = local_policy(&args.data).map_err(|e| e.to_string())?;
        let mail = parse_mail(&raw).map_err(|e| format!("{}: {e}", args.file.display()))?;
        // The sender the mood would go to: null when no address can be trusted (docs/SPEC.md §8).
        let out = Parsed {
            from: mail.from.as_deref(),
            subject: &mail.subject,
            body: &mail.body,
            sender: mail.trusted_sender(&policy),
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
            );
        } else {
            println!("from:    {}", out.from.unwrap_or("(none)"));
            println!("sender:  {}", out.sender.unwrap_or("(none)"));
            println!("subject: {}", out.subject);
            println!("\n{}", out.body);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outcome =
        read_mail(&args.data, &raw, &mut AuditClock::default()).map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome).map_err(|e| e.to_string())?
        );
    } else {
        match &outcome {
            MailOutcome::Written {
                customer_id,
                label,
                before,
                after,
                ..
            } => println!(
                "customer {customer_id}: ticket read as {} (local keyword labeller); support_mood {} → {after:.2}",
                label.as_str(),
                before.map_or("blank".to_string(), |b| format!("{b:.2}"))
            ),
            MailOutcome::Duplicate { .. } => {
                println!("already counted (same Message-ID): nothing changed")
            }
            MailOutcome::Unmatched { reason, .. } => {
                println!("not matched to a customer ({reason}): recorded, no mood written")
            }
            MailOutcome::Unreadable { .. } => {}
        }
    }
    if let MailOutcome::Unreadable { reason, .. } = &outcome {
        // Recorded in churn.db; bad input still exits non-zero.
        return Err(format!(
            "{}: {reason} (recorded; no mood written)",
            args.file.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
