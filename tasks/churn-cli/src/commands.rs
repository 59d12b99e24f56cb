//! What each subcommand does: parse flags into domain calls, print the result.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use churn_core::list::customers::{BadRow, CustomerReader, ListError, ReadOptions};
use churn_core::outcome::state::{LostReason, Outcome, parse_recovered_value};
use churn_core::ports::DeterministicReasoner;
use churn_core::rules::{RuleError, parse_rules};
use churn_core::run::week::resolve_as_of;
use churn_core::scoring::score::{Measured, Scorer};
use churn_local::config::Settings;
use churn_local::demo_data::{DemoDataOptions, write_demo_data};
use churn_local::explain::explain;
use churn_local::outcome::{OutcomeCommand, record_outcome};
use churn_local::weekly::{WeeklyError, WeeklyOptions, open_list};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

pub use crate::error::CliError;
use crate::error::exit;
use crate::print;
use crate::{Command, OutcomeAction, PAliveCommand};

/// The files bundled as the demo (the repository's `demo/` folder).
const DEMO_FILES: [(&str, &str); 4] = [
    ("customers.csv", include_str!("../../../demo/customers.csv")),
    ("rules.txt", include_str!("../../../demo/rules.txt")),
    ("voice.txt", include_str!("../../../demo/voice.txt")),
    ("config.toml", include_str!("../../../demo/config.toml")),
];

pub fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Demo { out, output } => demo(out, output.json),
        Command::Serve(args) => crate::serve_cmd::run(args),
        Command::Weekly {
            data,
            as_of,
            dry_run,
            resend,
            owners,
            rules,
            compare,
            output,
        } => {
            if compare {
                let rules = rules.unwrap_or_default();
                return compare_command(&data.data, &rules, as_of, owners, output.json);
            }
            let opts = WeeklyOptions {
                as_of,
                dry_run,
                resend,
                owners,
                rules_path: rules,
                by_user: login_name(),
                ignore_ledger: false,
            };
            weekly(&data.data, &opts, output.json, true)
        }
        Command::Score {
            customers,
            rules,
            as_of,
            data,
            output,
            csv,
        } => {
            if csv {
                return crate::score_csv::score_csv(&customers, &rules, as_of, data);
            }
            score(&customers, &rules, as_of, data, output.json)
        }
        Command::Explain {
            customer_id,
            data,
            as_of,
            output,
        } => {
            let e = explain(
                &data.data,
                &customer_id,
                as_of.as_deref(),
                None,
                &DeterministicReasoner,
            )
            .map_err(weekly_error)?
            .ok_or_else(|| {
                CliError(format!(
                    "no customer with id `{customer_id}` in {}",
                    data.data.join("customers.csv").display()
                ))
            })?;
            if output.json {
                print_json(&e)?;
            } else {
                print::explanation(&e);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            file,
            rules,
            data,
            output,
        } => check(&file, rules.as_deref(), data.as_deref(), output.json),
        Command::Outcome {
            customer_id,
            action,
            data,
            by,
            date,
            json,
        } => {
            let command = match action {
                OutcomeAction::ReachedOut => OutcomeCommand::Record(Outcome::ReachedOut),
                OutcomeAction::WonBack { value } => {
                    let value = match value.as_deref() {
                        None => None,
                        Some(v) => parse_recovered_value(v)
                            .map_err(|rule| CliError::usage(format!("--value `{v}`: {rule}")))?,
                    };
                    OutcomeCommand::Record(Outcome::WonBack { value })
                }
                OutcomeAction::Lost { reason, note } => {
                    let reason = LostReason::parse(&reason).ok_or_else(|| {
                        CliError::usage(format!("--reason `{reason}` must be one of: price, service, competitor, closed, other"))
                    })?;
                    OutcomeCommand::Record(Outcome::Lost { reason, note })
                }
                OutcomeAction::Undo => OutcomeCommand::Undo,
            };
            let by = by.unwrap_or_else(login_name);
            let report = record_outcome(&data, &customer_id, &command, &by, date.as_deref())?;
            if json {
                print_json(&report)?;
            } else {
                print::outcome(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Backtest {
            orders,
            customers,
            rules,
            from,
            to,
            horizon,
            plot,
            output,
        } => {
            let args = crate::backtest_cmd::BacktestArgs {
                orders,
                customers,
                rules,
                from,
                to,
                horizon,
                json: output.json,
                plot,
            };
            crate::backtest_cmd::run_backtest(&args).map_err(CliError)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportOrders { file, data, output } => {
            crate::import_cmd::run(&data.data, &file, &login_name(), output.json)
                .map_err(CliError)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ReadMail(args) => crate::read_mail_cmd::run(&args).map_err(CliError),
        Command::PAlive(PAliveCommand::Fit { summary, output }) => {
            crate::palive_cmd::fit_summary(&summary, output.json).map_err(CliError)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Summary {
            month,
            data,
            dry_run,
            output,
        } => {
            let s = churn_local::summary::monthly_summary(&data.data, &month, dry_run)?;
            if output.json {
                print_json(&s)?;
            } else {
                println!("{}", s.paragraph);
                if let Some(e) = &s.evidence {
                    println!("{e}");
                }
                if let Some(u) = &s.uplift {
                    println!("{}", u.summary);
                }
                if let Some(f) = &s.file {
                    println!(
                        "Written to {f} (for {})",
                        if s.recipients.is_empty() {
                            "no recipients configured".to_string()
                        } else {
                            s.recipients.join(", ")
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Digest(args) => crate::digest_cmd::run(&args),
        Command::Uplift(args) => crate::uplift_cmd::run(&args),
        Command::Init { dir, output } => crate::init_cmd::run(&dir, output.json),
        Command::DemoData {
            customers,
            owners,
            seed,
            as_of,
            out,
            output,
            orders,
            uplift,
            uplift_base,
            data,
        } => {
            if let (Some(effect), Some(data)) = (uplift, data) {
                return crate::uplift_cmd::plant(
                    &data,
                    &out,
                    effect,
                    uplift_base,
                    seed,
                    output.json,
                );
            }
            let as_of = as_of.parse().map_err(|_| {
                CliError::usage(format!("--as-of `{as_of}` is not a date like 2026-11-23"))
            })?;
            if customers == 0 {
                return Err(CliError::usage("--customers must be at least 1"));
            }
            let spinner =
                ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
            spinner.set_message(format!("writing {customers} customers"));
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let options = DemoDataOptions {
                customers,
                owners,
                seed,
                as_of,
            };
            let summary = write_demo_data(&out, &options).and_then(|s| {
                if orders {
                    // The order history comes with its own consistent customer list and rules.
                    churn_local::demo_orders::write_demo_orders(
                        &out, customers, owners, seed, as_of, 104,
                    )?;
                }
                Ok(s)
            });
            spinner.finish_and_clear();
            let summary = summary?;
            if output.json {
                print_json(&summary)?;
            } else {
                println!(
                    "Wrote {} customers for {} owners ({} messy rows on purpose) to {}",
                    summary.customers,
                    summary.owners.len(),
                    summary.messy_rows,
                    out.display()
                );
                println!(
                    "Try: churn weekly --data {} --as-of {} --dry-run",
                    out.display(),
                    summary.as_of
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn login_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(|e| CliError(e.to_string()))?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Rules errors are printed in full (every line), then the one-line summary. A bad rules doc,
/// list, config or date stops the run as bad input (exit code 3); the rest are failures.
pub(crate) fn weekly_error(e: WeeklyError) -> CliError {
    if let WeeklyError::Rules { errors, .. } = &e {
        print_rule_errors(errors);
    }
    match e {
        WeeklyError::Config(_)
        | WeeklyError::Rules { .. }
        | WeeklyError::List(_)
        | WeeklyError::AsOf(_) => CliError::bad_input(e),
        _ => CliError(e.to_string()),
    }
}

fn print_rule_errors(errors: &[RuleError]) {
    for err in errors {
        eprintln!("  {err}");
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress_bar(what: &'static str) -> (ProgressBar, impl FnMut(u64, u64)) {
    let bar = ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what);
    let b = bar.clone();
    (bar, move |done: u64, total: u64| {
        b.set_length(total);
        b.set_position(done);
    })
}

/// `post`: Slack owners' lists also go to Slack when `SLACK_BOT_TOKEN` is set (never for the demo,
/// whose owners are made up).
fn weekly(dir: &Path, opts: &WeeklyOptions, json: bool, post: bool) -> Result<ExitCode, CliError> {
    // With SLACK_BOT_TOKEN, Slack owners' lists are posted for real (a dry run posts nothing).
    let slack = if opts.dry_run || !post {
        None
    } else {
        crate::slack_env::notifier_from_env()?
    };
    let (bar, mut progress) = progress_bar("reading the customer list");
    let result = churn_local::weekly::run_weekly_posting(
        dir,
        opts,
        &DeterministicReasoner,
        slack.as_ref(),
        &mut progress,
    );
    bar.finish_and_clear();
    let report = result.map_err(weekly_error)?;
    if json {
        print_json(&report)?;
    } else {
        print::weekly(&report);
    }
    let failed = report
        .owners
        .iter()
        .any(|o| o.status == churn_core::run::OwnerStatus::Failed);
    Ok(ExitCode::from(if failed {
        exit::INCOMPLETE
    } else {
        exit::OK
    }))
}

fn compare_command(
    dir: &Path,
    rules: &Path,
    as_of: Option<String>,
    owners: Vec<String>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let (bar, mut progress) = progress_bar("comparing the rules");
    let result = churn_local::compare::compare_rules(
        dir,
        rules,
        as_of,
        owners,
        &DeterministicReasoner,
        &mut progress,
    );
    bar.finish_and_clear();
    let c = result.map_err(weekly_error)?;
    if json {
        print_json(&c)?;
    } else {
        print::comparison(&c);
    }
    Ok(ExitCode::SUCCESS)
}

fn demo(out: Option<PathBuf>, json: bool) -> Result<ExitCode, CliError> {
    let dir = match out {
        Some(d) => {
            if d.join("customers.csv").exists() {
                return Err(CliError(format!(
                    "{} already holds a data folder; give a new or empty --out",
                    d.display()
                )));
            }
            std::fs::create_dir_all(&d)?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("churn-demo-")
            .tempdir()?
            .keep(),
    };
    for (name, body) in DEMO_FILES {
        std::fs::write(dir.join(name), body)?;
    }
    let settings = Settings::load(&dir)?;
    let opts = WeeklyOptions {
        as_of: settings.raw.demo_as_of.clone(),
        by_user: "demo".into(),
        ..WeeklyOptions::default()
    };
    let code = weekly(&dir, &opts, json, false)?;
    if !json {
        println!();
        println!(
            "The demo ran on a copy of the bundled data in {}",
            dir.display()
        );
        println!("Messages written to {}", dir.join("outbox").display());
        println!(
            "Next: churn explain <CUSTOMER_ID> --data {}   |   churn outcome <CUSTOMER_ID> reached-out --data {}",
            dir.display(),
            dir.display()
        );
    }
    Ok(code)
}

/// What `score` and `score --csv` read before the first row: the rules, the list's reader (on
/// its own threads) and its size, the scoring date and the `p_alive` model.
pub(crate) struct ScoreInput {
    pub rules: churn_core::rules::Rules,
    pub reader: CustomerReader<std::io::BufReader<std::fs::File>>,
    pub total: u64,
    pub as_of: jiff::civil::Date,
    pub p_alive: Option<churn_core::scoring::palive::BgNbdParams>,
}

impl ScoreInput {
    pub(crate) fn open(
        customers: &Path,
        rules_path: &Path,
        as_of: Option<String>,
        data: Option<PathBuf>,
    ) -> Result<ScoreInput, CliError> {
        let settings = match &data {
            Some(d) => Settings::load(d).map_err(CliError::bad_input)?,
            None => Settings::from_config(Default::default())?,
        };
        let (rules, _) = churn_local::weekly::load_rules(rules_path).map_err(weekly_error)?;
        let as_of = resolve_as_of(as_of.as_deref(), &settings.tz, jiff::Timestamp::now())
            .map_err(CliError::bad_input)?;
        let (file, total) = open_list(customers).map_err(weekly_error)?;
        let reader = CustomerReader::new(file, settings.read_options(), &rules.measured_columns())?
            .size_hint(total)
            .threaded();
        let p_alive = churn_local::weekly::p_alive_model(customers, &settings, &rules, as_of)
            .map_err(weekly_error)?;
        Ok(ScoreInput {
            rules,
            reader,
            total,
            as_of,
            p_alive,
        })
    }
}

fn score(
    customers: &Path,
    rules_path: &Path,
    as_of: Option<String>,
    data: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let ScoreInput {
        rules,
        mut reader,
        total,
        as_of,
        p_alive,
    } = ScoreInput::open(customers, rules_path, as_of, data)?;
    let scorer = Scorer::new(&rules, as_of).with_p_alive(p_alive);
    let (bar, mut progress) = progress_bar("scoring");
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, unbuffered_stdout(&stdout));
    let mut errors: Vec<BadRow> = Vec::new();
    let mut n = 0u64;
    let io = CliError::output;
    let mut writer = print::ScoreJson::new(&rules);
    // JSON goes to `out` in chunks of this buffer (one write per 64 KB, not a few per row).
    let mut chunk: Vec<u8> = Vec::with_capacity(1 << 17);
    let mut spare: Vec<(u32, Measured<'static>)> = Vec::with_capacity(rules.signals.len());
    if json {
        chunk.extend_from_slice(b"{\"customers\":[");
    }
    loop {
        n += 1;
        if n.is_multiple_of(65_536) {
            progress(reader.bytes_read(), total);
        }
        let Some(row) = reader.next_row() else { break };
        let row = match row {
            Ok(r) => r,
            Err(bad) => {
                errors.push(bad);
                continue;
            }
        };
        let mut results = recycle(std::mem::take(&mut spare));
        let s = scorer.score(&row, Default::default(), &mut results);
        if json {
            writer.push(&mut chunk, row.customer_id, s, &scorer, &results);
            if chunk.len() >= 1 << 16 {
                out.write_all(&chunk).map_err(io)?;
                chunk.clear();
            }
        } else {
            print::score_line(&mut out, &row, s, &scorer, &results).map_err(io)?;
        }
        spare = recycle(results);
    }
    out.write_all(&chunk).map_err(io)?;
    bar.finish_and_clear();
    let finish = reader.finish();
    if json {
        out.write_all(b"],\"errors\":").map_err(io)?;
        serde_json::to_writer(&mut out, &errors).map_err(|e| CliError(e.to_string()))?;
        out.write_all(b"}\n").map_err(io)?;
    } else {
        for e in &errors {
            writeln!(out, "bad row, line {}: {}", e.line, e.reason).map_err(io)?;
        }
    }
    out.flush().map_err(io)?;
    match finish {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(CliError(e.to_string())),
    }
}

/// Standard output without its line buffering, which looked for a line break in every 64 KB
/// chunk of `score` output (7% of the run): a second handle on the same file descriptor.
fn unbuffered_stdout(stdout: &std::io::Stdout) -> Box<dyn Write + '_> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = stdout.as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(stdout.lock())
}

/// Reuses the scoring buffer's allocation from row to row (whose borrows differ).
fn recycle<'b>(mut v: Vec<(u32, Measured<'_>)>) -> Vec<(u32, Measured<'b>)> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// Whether a file is a customer list rather than a rules doc.
fn looks_like_csv(path: &Path) -> bool {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => true,
        Some("txt") => false,
        _ => std::fs::read(path)
            .ok()
            .map(|b| {
                let text = String::from_utf8_lossy(&b[..b.len().min(4096)]).to_lowercase();
                let first = text
                    .lines()
                    .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .unwrap_or("");
                first.contains(',') && (first.contains("customer") || first.contains("owner"))
            })
            .unwrap_or(false),
    }
}

#[derive(Serialize)]
struct RulesCheck<'a> {
    file: String,
    kind: &'static str,
    ok: bool,
    rules_version: String,
    errors: &'a [RuleError],
    /// Things that look wrong but don't stop the run (a measure like a misspelled column).
    warnings: &'a [RuleError],
}

#[derive(Serialize)]
struct ListCheck {
    file: String,
    kind: &'static str,
    ok: bool,
    rows: u64,
    good: u64,
    bad: u64,
    blank: u64,
    errors: Vec<BadRow>,
    /// A problem that would stop the Monday run.
    stop: Option<String>,
    /// Email cells holding a display name or several addresses (docs/SPEC.md §2): the guard
    /// reads every address, but they are worth tidying. Warnings, not errors: `ok` stays true.
    /// The first [`MAX_EMAIL_WARNINGS`] are listed; `email_warnings` counts them all.
    warnings: Vec<BadRow>,
    email_warnings: u64,
}

/// How many email-cell warnings `churn check` lists.
const MAX_EMAIL_WARNINGS: usize = 20;

fn check(
    file: &Path,
    rules: Option<&Path>,
    data: Option<&Path>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let bytes = std::fs::read(file)
        .map_err(|e| CliError(format!("{} could not be read: {e}", file.display())))?;
    let settings = match data {
        Some(d) => Settings::load(d).map_err(CliError::bad_input)?,
        None => Settings::from_config(Default::default())?,
    };
    if !looks_like_csv(file) {
        let text = String::from_utf8_lossy(&bytes);
        let (errors, warnings, ok) = match parse_rules(&text) {
            Ok(rules) => (Vec::new(), measure_warnings(&rules), true),
            Err(errors) => (errors, Vec::new(), false),
        };
        let version = churn_core::rules::rules_version(&bytes);
        if json {
            print_json(&RulesCheck {
                file: file.display().to_string(),
                kind: "rules",
                ok,
                rules_version: version,
                errors: &errors,
                warnings: &warnings,
            })?;
        } else if ok {
            println!("{}: the rules are fine (version {version})", file.display());
            if !warnings.is_empty() {
                println!("  {} warning(s):", warnings.len());
                for w in &warnings {
                    println!("  {w}");
                }
            }
        } else {
            println!("{}: {} mistake(s):", file.display(), errors.len());
            for e in &errors {
                println!("  {e}");
            }
        }
        // Errors stop the run; warnings don't (docs/SPEC.md §10).
        return Ok(ExitCode::from(if !ok {
            exit::BAD_INPUT
        } else if !warnings.is_empty() {
            exit::INCOMPLETE
        } else {
            exit::OK
        }));
    }

    let measured = match rules {
        Some(r) => churn_local::weekly::load_rules(r)
            .map_err(weekly_error)?
            .0
            .measured_columns(),
        None => Vec::new(),
    };
    let (bar, mut progress) = progress_bar("checking the customer list");
    let report = check_list(&bytes, settings.read_options(), &measured, &mut progress);
    bar.finish_and_clear();
    let report = ListCheck {
        file: file.display().to_string(),
        ..report
    };
    if json {
        print_json(&report)?;
    } else {
        print::list_check(
            &report.file,
            report.rows,
            report.good,
            report.bad,
            report.blank,
            &report.errors,
            report.stop.as_deref(),
        );
        if report.email_warnings > 0 {
            println!(
                "  {} warning(s) about email cells (not errors):",
                report.email_warnings
            );
            for w in &report.warnings {
                println!("  line {}: {}", w.line, w.reason);
            }
            let more = report.email_warnings - report.warnings.len() as u64;
            if more > 0 {
                println!("  … and {more} more");
            }
        }
    }
    // A list that would stop the run is an error; rows that would be skipped are warnings: the
    // run proceeds without them. Email-cell notes lose nothing and leave the code at 0.
    Ok(ExitCode::from(if report.stop.is_some() {
        exit::BAD_INPUT
    } else if !report.errors.is_empty() {
        exit::INCOMPLETE
    } else {
        exit::OK
    }))
}

/// Measures in a rules doc checked without a list that look like a misspelled standard column
/// (docs/SPEC.md §2): "line 7: `suport_mood` … did you mean `support_mood`?".
fn measure_warnings(rules: &churn_core::rules::Rules) -> Vec<RuleError> {
    use churn_core::rules::{Measure, STANDARD_COLUMNS, suggest_measure};
    let mut warnings = Vec::new();
    for signal in &rules.signals {
        let Measure::Column { display, .. } = &signal.measure else {
            continue;
        };
        if let Some(column) = suggest_measure(display, STANDARD_COLUMNS) {
            warnings.push(RuleError {
                line: signal.line,
                text: format!("signal {}", signal.name),
                message: format!(
                    "it measures `{display}`, not a standard column: did you mean `{column}`? \
                     (fine if your list has a `{display}` column: check it with \
                     `churn check customers.csv --rules …`)"
                ),
            });
        }
    }
    warnings
}

fn check_list(
    bytes: &[u8],
    opts: ReadOptions,
    measured: &[churn_core::list::customers::MeasuredColumn],
    progress: &mut dyn FnMut(u64, u64),
) -> ListCheck {
    let mut report = ListCheck {
        file: String::new(),
        kind: "customers",
        ok: false,
        rows: 0,
        good: 0,
        bad: 0,
        blank: 0,
        errors: Vec::new(),
        stop: None,
        warnings: Vec::new(),
        email_warnings: 0,
    };
    let mut reader = match CustomerReader::new(bytes, opts, measured) {
        Ok(r) => r,
        Err(e) => {
            report.stop = Some(e.to_string());
            return report;
        }
    };
    let mut n = 0u64;
    while let Some(row) = reader.next_row() {
        match row {
            Err(bad) => report.errors.push(bad),
            Ok(row) => {
                if let Some(note) = churn_core::address::email_cell_note(row.email) {
                    report.email_warnings += 1;
                    if report.warnings.len() < MAX_EMAIL_WARNINGS {
                        report.warnings.push(BadRow {
                            line: row.line,
                            reason: format!(
                                "the email cell {note}; every address in it is kept from \
                                 messages, but one plain address per cell is clearer"
                            ),
                        });
                    }
                }
            }
        }
        n += 1;
        if n.is_multiple_of(65_536) {
            progress(reader.bytes_read(), bytes.len() as u64);
        }
    }
    match reader.finish() {
        Ok(s) => {
            report.rows = s.rows;
            report.good = s.good;
            report.bad = s.bad;
            report.blank = s.blank;
        }
        Err(e) => {
            if let ListError::TooManyBadRows { bad, rows, .. } = e {
                report.rows = rows;
                report.bad = bad;
                report.good = rows - bad;
            } else {
                report.bad = report.errors.len() as u64;
            }
            report.stop = Some(e.to_string());
        }
    }
    report.ok = report.stop.is_none() && report.errors.is_empty();
    report
}
