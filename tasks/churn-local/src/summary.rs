//! `churn summary --month YYYY-MM`: last month from the audit, a paragraph, and one line of
//! evidence from the last quarter's backtest when the folder has an order history.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use churn_core::ingest::orders::read_orders;
use churn_core::reports::backtest::read_list;
use churn_core::reports::summary::{
    MonthCounts, ParagraphSource, choose_paragraph, count_month, summary_email,
};
use jiff::civil::Date;
use serde::Serialize;

use crate::config::Settings;
use crate::files::write_atomic;
use crate::store::SqliteStore;
use crate::weekly::{WeeklyError, customers_path, load_rules};

/// What `churn summary` prints and mails.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlySummary {
    pub counts: MonthCounts,
    pub paragraph: String,
    /// Where the paragraph came from (locally: the template; no model is called).
    pub paragraph_source: ParagraphSource,
    /// One line from the last quarter's backtest, when `orders.csv` is in the folder.
    pub evidence: Option<String>,
    /// Does outreach work? Listed against held-out customers (docs/SPEC.md §3 `holdout`), for
    /// every run whose horizon ended by the month's end; absent when nobody was ever held out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplift: Option<churn_core::reports::uplift::Uplift>,
    pub recipients: Vec<String>,
    /// The email written to the outbox (`outbox/summary/<month>.txt`, with `<month>.html`).
    pub file: Option<String>,
}

/// Why the summary could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("--month `{0}` is not a month like 2026-11")]
    Month(String),
    #[error(transparent)]
    Weekly(#[from] WeeklyError),
    #[error("writing the summary: {0}")]
    Io(#[from] std::io::Error),
    /// docs/SPEC.md §1: a summary recipient is a customer, or the list cannot be read to check.
    #[error("refused to send the summary: {0}")]
    Refused(String),
}

/// The first day of `YYYY-MM` and of the month after.
pub fn month_bounds(month: &str) -> Option<(Date, Date)> {
    let (y, m) = month.trim().split_once('-')?;
    let (y, m): (i16, i8) = (y.parse().ok()?, m.parse().ok()?);
    let start = Date::new(y, m, 1).ok()?;
    let next = if m == 12 {
        Date::new(y + 1, 1, 1).ok()?
    } else {
        Date::new(y, m + 1, 1).ok()?
    };
    Some((start, next))
}

/// Builds the month's summary (and writes it to the outbox unless `dry_run`).
pub fn monthly_summary(
    dir: &Path,
    month: &str,
    dry_run: bool,
) -> Result<MonthlySummary, SummaryError> {
    let settings = Settings::load(dir).map_err(WeeklyError::from)?;
    let (month, from, to) = churn_core::reports::summary::month_window(month, &settings.tz)
        .ok_or_else(|| SummaryError::Month(month.to_string()))?;
    let store = SqliteStore::open_read_only(dir).map_err(WeeklyError::from)?;
    let items = store.audit_between(&from, &to).map_err(WeeklyError::from)?;
    let counts = count_month(&month, &items);
    // The same composition as the summary Lambda, without the model.
    let (paragraph, paragraph_source) = choose_paragraph(&counts, None);
    let evidence = quarter_evidence(dir, &settings)?;
    let uplift = month_uplift(&store, &month)?;
    let mut summary = MonthlySummary {
        counts,
        paragraph,
        paragraph_source,
        evidence,
        uplift,
        recipients: settings.raw.summary_recipients.clone(),
        file: None,
    };
    if !dry_run {
        refuse_customers(dir, &summary.recipients)?;
        let path = dir
            .join("outbox")
            .join("summary")
            .join(format!("{month}.txt"));
        let mut email = summary_email(
            &summary.counts,
            &summary.paragraph,
            summary.evidence.as_deref(),
        );
        if let Some(u) = &summary.uplift {
            churn_core::reports::uplift::add_to_email(&mut email, u);
        }
        let text = format!(
            "To: {}\nSubject: {}\n\n{}",
            summary.recipients.join(", "),
            email.subject,
            email.text
        );
        write_atomic(&path.with_extension("html"), email.html.as_bytes())?;
        write_atomic(&path, text.as_bytes())?;
        summary.file = Some(path.display().to_string());
    }
    Ok(summary)
}

/// The holdout comparison as of the month's last day (every audit item, the kept orders).
fn month_uplift(
    store: &SqliteStore,
    month: &str,
) -> Result<Option<churn_core::reports::uplift::Uplift>, SummaryError> {
    let Some((_, next)) = month_bounds(month) else {
        return Ok(None);
    };
    let month_end = next.yesterday().unwrap_or(next);
    let items = store.audit_between("", "~").map_err(WeeklyError::from)?;
    let ids: std::collections::BTreeSet<&str> = items
        .iter()
        .filter(|i| i.action == "surfaced" || i.action == "held_out")
        .map(|i| i.customer_id.as_str())
        .collect();
    let orders = store
        .order_history(ids)
        .map_err(WeeklyError::from)?
        .into_iter()
        .map(|(id, list)| (id, list.into_iter().map(|o| o.date).collect()))
        .collect();
    Ok(churn_core::reports::uplift::summary_uplift(
        &items, &orders, month_end,
    ))
}

/// Every sender refuses a customer's address (docs/SPEC.md §1), compared as canonical
/// addresses; a list that cannot be read refuses too. Errors never name the address.
fn refuse_customers(dir: &Path, recipients: &[String]) -> Result<(), SummaryError> {
    if recipients.is_empty() {
        return Ok(());
    }
    let emails = File::open(customers_path(dir))
        .map_err(|e| e.to_string())
        .and_then(|f| churn_core::run::scan::CustomerEmails::from_csv(BufReader::new(f)))
        .map_err(|e| {
            SummaryError::Refused(format!(
                "the customer list cannot be read to check the recipients ({e})"
            ))
        })?;
    match recipients.iter().position(|r| emails.contains(r)) {
        Some(i) => Err(SummaryError::Refused(format!(
            "recipient {} is a customer's address",
            i + 1
        ))),
        None => Ok(()),
    }
}

/// The backtest of the last 13 Mondays whose horizon fits in the order history.
fn quarter_evidence(dir: &Path, settings: &Settings) -> Result<Option<String>, SummaryError> {
    let orders_path = dir.join("orders.csv");
    if !orders_path.exists() {
        return Ok(None);
    }
    let (rules, _) = load_rules(&dir.join("rules.txt"))?;
    let opts = settings.read_options();
    let Ok(file) = File::open(&orders_path) else {
        return Ok(None);
    };
    let Ok(orders) = read_orders(BufReader::new(file), &opts) else {
        return Ok(None);
    };
    let list = File::open(customers_path(dir))
        .ok()
        .and_then(|f| read_list(BufReader::new(f), opts.clone(), &rules).ok())
        .map(|(list, _)| list);
    Ok(churn_core::reports::summary::quarter_evidence(
        &orders.orders,
        list.as_deref(),
        &rules,
    ))
}
