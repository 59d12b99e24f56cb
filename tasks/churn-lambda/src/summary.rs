//! The summary task (docs/SPEC.md §9): the first Monday of the month, 09:00 local — last month's counts
//! from `cp-audit`, a one-paragraph narrative by Claude on Bedrock (counts only in; every number
//! checked, else the template paragraph), emailed through SES to the configured recipients. The
//! email is composed by the same code as `churn summary` (`churn_core::reports::summary::summary_email`).
//!
//! Input (Scheduler): `{"as_of"?: "<aws.scheduler.scheduled-time>", "month"?: "YYYY-MM",
//! "dry_run"?: false}` — the month defaults to the one before `as_of`'s. Output: `{"month",
//! "counts", "paragraph_source", "recipients", "message_id", "dry_run"}` (the recipient count,
//! never addresses).

use churn_aws::{DynamoDbStateStore, SesMailer};
use churn_core::reports::summary::{
    MonthCounts, ParagraphSource, choose_paragraph, count_month, month_window, previous_month,
    summary_email,
};
use churn_core::run::week::resolve_as_of;
use churn_delivery::{BedrockNarrator, NarratorConfig};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::app::App;
use crate::error::TaskError;
use crate::task_error;

/// The summary's long-lived parts: the app, and the narrator built on first use.
pub struct Summarizer {
    pub app: App,
    narrator: OnceCell<Option<BedrockNarrator>>,
}

/// The Scheduler's input.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryInput {
    #[serde(default)]
    pub as_of: Option<String>,
    #[serde(default)]
    pub month: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// What the task returns.
#[derive(Debug, Serialize)]
pub struct SummaryOutput {
    pub month: String,
    pub counts: MonthCounts,
    pub paragraph_source: ParagraphSource,
    /// How many recipients (never their addresses).
    pub recipients: usize,
    pub message_id: Option<String>,
    pub dry_run: bool,
    /// Listed against held-out customers (docs/SPEC.md §3 `holdout`); absent when nobody was
    /// ever held out or the order history is not configured (`ORDERS_TABLE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplift: Option<churn_core::reports::uplift::Uplift>,
    /// The backtest evidence line, when the order history allows one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl Summarizer {
    pub fn new(app: App) -> Summarizer {
        Summarizer {
            app,
            narrator: OnceCell::new(),
        }
    }

    /// The narrator, unless `NARRATIVE=template` (then the template paragraph by design).
    async fn narrator(&self, model_id: &str) -> Option<&BedrockNarrator> {
        self.narrator
            .get_or_init(|| async {
                let template = std::env::var("NARRATIVE").is_ok_and(|v| v == "template");
                (!template && !model_id.is_empty()).then(|| {
                    let model_id = std::env::var("SUMMARY_MODEL_ID")
                        .ok()
                        .filter(|v| !v.is_empty())
                        .unwrap_or_else(|| model_id.to_string());
                    let timeout = std::env::var("NARRATIVE_TIMEOUT_MS")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .map_or(
                            NarratorConfig::default().timeout,
                            std::time::Duration::from_millis,
                        );
                    BedrockNarrator::new(
                        &self.app.sdk,
                        NarratorConfig {
                            model_id,
                            timeout,
                            ..NarratorConfig::default()
                        },
                    )
                })
            })
            .await
            .as_ref()
    }
}

/// Counts the month, writes the paragraph, and emails the summary (unless `dry_run`).
pub async fn handle(s: &Summarizer, event: Value) -> Result<SummaryOutput, TaskError> {
    let input: SummaryInput = serde_json::from_value(event)
        .map_err(|e| TaskError::bad_input(format!("the summary input is not valid: {e}")))?;
    let app = &s.app;
    let cfg = app.config().await?;
    let tz = TimeZone::get(&cfg.timezone)
        .map_err(|_| TaskError::new("churn.Config", "the configured timezone is unknown"))?;
    let month = match input.month.as_deref() {
        Some(m) => m.to_string(),
        None => {
            let as_of = resolve_as_of(input.as_of.as_deref(), &tz, jiff::Timestamp::now())
                .map_err(|e| TaskError::bad_input(e.to_string()))?;
            previous_month(as_of)
        }
    };
    let (month, from, to) = month_window(&month, &tz)
        .ok_or_else(|| TaskError::bad_input(format!("`{month}` is not a month like 2026-11")))?;
    let span = tracing::info_span!("summary", month = %month, dry_run = input.dry_run);
    let _enter = span.enter();

    let store = DynamoDbStateStore::new(&app.clients, &app.tables);
    let items = store
        .audit_between(&from, &to)
        .await
        .map_err(|e| task_error!(e))?;
    let counts = count_month(&month, &items);
    let (paragraph, source) = match s.narrator(&cfg.model_id).await {
        Some(n) => n.paragraph(&counts).await,
        None => choose_paragraph(&counts, None),
    };
    tracing::info!(
        audit_items = items.len(),
        flagged = counts.flagged,
        source = source.label(),
        "summary counted"
    );
    let evidence = crate::evidence::summary_evidence(app, cfg.date_order, &tz).await;
    let mut email = summary_email(&counts, &paragraph, evidence.as_deref());
    let uplift = month_uplift(app, &store, &month).await;
    if let Some(u) = &uplift {
        churn_core::reports::uplift::add_to_email(&mut email, u);
    }
    let mut message_id = None;
    if !input.dry_run {
        // Every sender refuses a customer's address (docs/SPEC.md §1): read the list's emails
        // first; a list that cannot be read sends nothing.
        let customer_emails = app.customer_emails().await?;
        let id = SesMailer::new(&app.clients)
            .send(&cfg.sender, &cfg.summary_recipients, &email, |a| {
                customer_emails.contains(a)
            })
            .await
            .map_err(|e| task_error!(e))?;
        message_id = Some(id);
    }
    Ok(SummaryOutput {
        month,
        counts,
        paragraph_source: source,
        recipients: cfg.summary_recipients.len(),
        message_id,
        dry_run: input.dry_run,
        uplift,
        evidence,
    })
}

/// The holdout comparison as of the month's last day: decisions and Won back from the whole
/// audit, orders from `cp-orders`. A failure to read them leaves the line out (logged): the
/// month's counts still go out.
async fn month_uplift(
    app: &App,
    store: &DynamoDbStateStore,
    month: &str,
) -> Option<churn_core::reports::uplift::Uplift> {
    let orders_table = std::env::var("ORDERS_TABLE")
        .ok()
        .filter(|v| !v.is_empty())?;
    let month_end = format!("{month}-01")
        .parse::<jiff::civil::Date>()
        .ok()?
        .last_of_month();
    let result = async {
        let items = store.audit_between("", "~").await?;
        let ids: std::collections::BTreeSet<&str> = items
            .iter()
            .filter(|i| i.action == "surfaced" || i.action == "held_out")
            .map(|i| i.customer_id.as_str())
            .collect();
        let orders = churn_aws::DynamoDbOrderHistory::new(
            &app.clients.dynamodb,
            &orders_table,
            &app.tables.audit,
        )
        .load(ids)
        .await?
        .into_iter()
        .map(|(id, list)| (id, list.into_iter().map(|o| o.date).collect()))
        .collect();
        Ok::<_, churn_aws::StateError>(churn_core::reports::uplift::summary_uplift(
            &items, &orders, month_end,
        ))
    }
    .await;
    match result {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "the outreach comparison could not be read; left out");
            None
        }
    }
}
