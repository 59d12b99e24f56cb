//! `churn`: every Monday, which customers are slipping away and why — on one laptop.

mod aws_cmd;
mod backtest_cmd;
mod commands;
mod digest_cmd;
mod error;
mod import_cmd;
mod init_cmd;
mod palive_cmd;
mod print;
mod read_mail_cmd;
mod score_csv;
mod serve_cmd;
mod slack_env;
mod suggest_cmd;
mod uplift_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Tells you, every Monday, which customers are slipping away and why, and records what you did
/// about it. It only flags and explains: nothing is ever sent to a customer.
///
/// A data folder holds customers.csv (your customer list), rules.txt (how points are given),
/// and optionally voice.txt (the tone of the reasons) and config.toml (time zone, fallback owner,
/// date order). Start with `churn demo` to see it work on sample data.
#[derive(Parser, Debug)]
#[command(
    name = "churn",
    version,
    max_term_width = 100,
    after_help = "Examples:\n  churn demo                                   see it work on sample data\n  \
                  churn check rules.txt                        find mistakes in the rules doc\n  \
                  churn weekly --data ~/shop --dry-run         this Monday's lists, nothing written\n  \
                  churn weekly --data ~/shop                   the Monday run (lists to ~/shop/outbox)\n  \
                  churn explain C0042 --data ~/shop            why a customer is listed\n  \
                  churn outcome C0042 lost --reason price --data ~/shop"
)]
struct Cli {
    #[command(subcommand)]
    command: TopCommand,
}

/// The local commands, then `churn aws` (the deployed run, aws_cmd.rs).
#[derive(Subcommand, Debug)]
enum TopCommand {
    #[command(flatten)]
    Local(Command),
    /// The deployed Monday run: start it, follow it, rerun or redrive it (Step Functions).
    #[command(subcommand)]
    Aws(aws_cmd::AwsCommand),
    /// Work on the rules doc: `churn rules suggest` fits one to your order history.
    #[command(subcommand)]
    Rules(suggest_cmd::RulesCommand),
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the Monday list on a fresh copy of the bundled demo data (changes nothing here).
    Demo {
        /// Where to put the copy (default: a new folder in the system's temp folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The whole Monday run: score everyone, pick each owner's list, write it to the outbox.
    ///
    /// Running it again in the same week sends nothing twice: owners already sent are reported
    /// as `already_sent`. Customers surfaced, contacted or won back recently are left out for the
    /// contact pause (rules.txt).
    Weekly {
        #[command(flatten)]
        data: DataArgs,
        /// The Monday to run for (2026-11-23, or a time like 2026-11-23T08:00:00Z). Default: today.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
        /// Work everything out and print it, but write and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send this week's recorded lists again, unchanged.
        #[arg(long)]
        resend: bool,
        /// Only this owner (repeat for several).
        #[arg(long = "owner", value_name = "EMAIL")]
        owners: Vec<String>,
        /// Use this rules doc instead of the data folder's rules.txt.
        #[arg(long, value_name = "TXT")]
        rules: Option<PathBuf>,
        /// With --rules: show who would enter or leave this week's lists under that doc, compared
        /// with rules.txt. Writes nothing.
        #[arg(long, requires = "rules")]
        compare: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Every customer's score, band and point breakdown. Writes nothing.
    Score {
        /// The customer list (CSV).
        #[arg(long, value_name = "CSV")]
        customers: PathBuf,
        /// The rules doc.
        #[arg(long, value_name = "TXT")]
        rules: PathBuf,
        /// The date to score as of (default: today).
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
        /// Take time zone and date order from this data folder's config.toml (default: UTC, day-first).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
        /// Print the scores as CSV with a header (customer_id, name, score, band, each signal's points).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// One customer's breakdown and reason.
    Explain {
        /// The customer's id (the customer_id column).
        customer_id: String,
        #[command(flatten)]
        data: DataArgs,
        /// The date to explain as of (default: today).
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Check a rules doc or a customer list and list every problem with its line.
    Check {
        /// rules.txt or customers.csv.
        file: PathBuf,
        /// With a customer list: also check the columns these rules measure.
        #[arg(long, value_name = "TXT")]
        rules: Option<PathBuf>,
        /// Take date order and time zone from this data folder's config.toml.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Record what happened with a customer: reached-out, won-back, lost, or undo the latest.
    Outcome {
        /// The customer's id.
        customer_id: String,
        #[command(subcommand)]
        action: OutcomeAction,
        /// The data folder (default: the current folder).
        #[arg(long, global = true, value_name = "DIR", default_value = ".")]
        data: PathBuf,
        /// Who acted (default: your login name).
        #[arg(long, global = true, value_name = "NAME")]
        by: Option<String>,
        /// The day it happened (default: today).
        #[arg(long, global = true, value_name = "DATE")]
        date: Option<String>,
        /// Print machine-readable JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Replay the Monday run over past orders and see how well the flags foresaw who left.
    ///
    /// For every past Monday, rebuilds each customer's last order and usual pace from the orders
    /// alone, scores them with the rules, applies the pause and the weekly cap, and compares with
    /// what happened next: a customer counts as churned at a Monday when no order follows within
    /// the horizon. Prints catch rate and precision per band, beside a simple baseline ("no order
    /// for 90 days"), and draws them by week into an SVG.
    Backtest {
        /// The order history: `customer_id,order_date[,amount]`, or a Shopify, Stripe or
        /// WooCommerce export.
        #[arg(long, value_name = "FILE")]
        orders: PathBuf,
        /// The customer list (owners, lifetime values, other measured columns).
        #[arg(long, value_name = "CSV")]
        customers: Option<PathBuf>,
        /// The rules doc (default: rules.txt beside the customer list or the order file).
        #[arg(long, value_name = "TXT")]
        rules: Option<PathBuf>,
        /// First Monday to replay (default: one horizon after the first order).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last Monday to replay (default: the last one whose horizon fits in the history).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Days without an order for a customer to count as churned.
        #[arg(long, value_name = "DAYS", default_value_t = 90)]
        horizon: u32,
        /// Where to write the plot (default: backtest.svg beside the order file).
        #[arg(long, value_name = "SVG")]
        plot: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Merge a Shopify, Stripe or WooCommerce order export (or a plain customer_id,order_date
    /// list) into the order history and update the list's order columns.
    ///
    /// Sets last_order_date (never backwards), first_order_date (never forwards), order_count
    /// and order_pace_days in the columns customers.csv already has, changing only those cells.
    /// Importing the same file again changes nothing; customers not in the list are reported.
    ImportOrders {
        /// The order export (CSV).
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The P(alive) model (BG/NBD): the chance each customer is still buying.
    #[command(name = "p-alive", subcommand)]
    PAlive(PAliveCommand),
    /// Read one support email into the sender's support_mood (or, with --parse-only, just show
    /// what it says and who sent it). Never replies.
    ReadMail(read_mail_cmd::ReadMailArgs),
    /// Last month in numbers: flagged, reached, won back (and value), lost (top reasons).
    Summary {
        /// The month, e.g. 2026-11.
        #[arg(long, value_name = "YYYY-MM")]
        month: String,
        #[command(flatten)]
        data: DataArgs,
        /// Print only; don't write the email to the outbox.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// This week so far: the watch band, the outcomes recorded, who came back on their own.
    Digest(digest_cmd::DigestArgs),
    /// Does outreach work? Compares how often listed customers came back with customers held
    /// out of the lists (rules.txt `holdout: 10%`), with a 95% interval.
    ///
    /// A customer came back when they ordered within the horizon after the Monday run (from
    /// the order history `churn import-orders` keeps) or were marked Won back. Each customer
    /// counts once, in the group of their first run in the window. Says plainly when there
    /// are too few customers to tell.
    Uplift(uplift_cmd::UpliftArgs),
    /// Serve the outcome handler on 127.0.0.1: Slack buttons and forms at /slack/interactions,
    /// email links at /o/<token>. Needs SLACK_SIGNING_SECRET; SLACK_BOT_TOKEN enables the Won back
    /// and Lost forms.
    Serve(serve_cmd::ServeArgs),
    /// Start a data folder: a commented example rules.txt, a customers.csv header and a
    /// commented config.toml (never overwrites a file).
    Init {
        /// The folder (created if needed; default: the current folder).
        #[arg(value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Make a realistic sample data folder (named customers, several owners, a few messy rows).
    DemoData {
        /// How many customers.
        #[arg(long, default_value_t = 240)]
        customers: usize,
        /// How many account owners.
        #[arg(long, default_value_t = 4)]
        owners: usize,
        /// The same seed always gives the same folder.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The Monday the data is as of.
        #[arg(long, value_name = "DATE", default_value = "2026-11-23")]
        as_of: String,
        /// The folder to write (created if needed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Also write orders.csv: two years of order history with planted churners, and a
        /// customer list consistent with it (for `churn backtest`).
        #[arg(long)]
        orders: bool,
        /// With --orders and --data: instead, plant an outreach effect — write to --out (a
        /// file) follow-up orders for the customers listed or held out in DIR's audit: listed
        /// ones come back within 90 days with chance BASE + EFFECT, held-out ones with BASE.
        #[arg(long, value_name = "EFFECT", requires_all = ["orders", "data"], allow_negative_numbers = true)]
        uplift: Option<f64>,
        /// With --uplift: the held-out customers' come-back chance.
        #[arg(long, value_name = "BASE", default_value_t = 0.3, requires = "uplift")]
        uplift_base: f64,
        /// With --uplift: the data folder whose audit says who was listed or held out.
        #[arg(long, value_name = "DIR", requires = "uplift")]
        data: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Subcommand, Debug)]
enum PAliveCommand {
    /// Fit the model by maximum likelihood on a summary file and print r, alpha, a, b and the
    /// log-likelihood.
    Fit {
        /// A CSV with columns `frequency` (repeat purchases), `recency` and `T` (same time unit).
        #[arg(long, value_name = "CSV")]
        summary: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Subcommand, Debug, Clone)]
enum OutcomeAction {
    /// You contacted them (starts the contact pause).
    ReachedOut,
    /// They are buying again (recency counts from today; starts the contact pause).
    WonBack {
        /// The recovered value, e.g. 1200 or "$1,200.00": 0 to 1,000,000,000, at most two decimals.
        #[arg(long, value_name = "MONEY")]
        value: Option<String>,
    },
    /// They are gone; they will not be listed again unless they order.
    Lost {
        /// price, service, competitor, closed or other.
        #[arg(long, value_name = "REASON")]
        reason: String,
        /// A note for the record.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Undo this customer's latest outcome not yet undone (refused if something changed it
    /// since). Slack's Undo button and the email Undo link undo the one outcome they belong to.
    Undo,
}

#[derive(Args, Debug, Clone)]
struct DataArgs {
    /// The data folder (default: the current folder).
    #[arg(long, value_name = "DIR", default_value = ".")]
    data: PathBuf,
}

#[derive(Args, Debug, Clone, Copy)]
struct OutputArgs {
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        TopCommand::Local(command) => commands::run(command),
        TopCommand::Aws(command) => aws_cmd::run(command),
        TopCommand::Rules(command) => suggest_cmd::run(command),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.is_closed_pipe() => ExitCode::from(e.exit_code()),
        Err(e) => {
            eprintln!("churn: {e}");
            // The documented exit codes: error::exit.
            ExitCode::from(e.exit_code())
        }
    }
}

/// `churn … | head`: when the reader goes away, stop quietly (exit status 141, as a process
/// ended by SIGPIPE) instead of panicking with "Broken pipe". Servers and HTTP clients are
/// unaffected: only a failed print to stdout is caught.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// JSON logs, one line per event, on stderr; quiet unless `CHURN_LOG` asks (e.g. `CHURN_LOG=info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHURN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .try_init();
}
