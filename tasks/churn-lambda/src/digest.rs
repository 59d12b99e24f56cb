//! The digest task (docs/SPEC.md §9): Fridays 16:00 local, the watch band from `cp-state`, the week's
//! outcomes and returns from `cp-audit`, names from the mirrored list, posted to the configured
//! Slack channel as plain tables. No model.
//!
//! Input (Scheduler): `{"as_of"?: "<aws.scheduler.scheduled-time>", "dry_run"?: false}`. Output:
//! `{"week", "from", "to", "channel", "watch", "outcomes", "came_back", "messages", "posted",
//! "dry_run"}` — counts only (names go to Slack, never to logs or the output).

use churn_aws::DynamoDbStateStore;
use churn_core::model::Band;
use churn_core::reports::digest::{DigestOptions, audit_window, build_digest};
use churn_core::run::week::resolve_as_of;
use churn_delivery::slack::SlackNotifier;
use jiff::tz::TimeZone;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::app::App;
use crate::error::TaskError;
use crate::task_error;

/// The digest's long-lived parts: the app, and the Slack client built on first use.
pub struct Digester {
    pub app: App,
    slack: OnceCell<SlackNotifier>,
}

/// The Scheduler's input.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestInput {
    #[serde(default)]
    pub as_of: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// What the task returns (and logs): counts, never names.
#[derive(Debug, Serialize)]
pub struct DigestOutput {
    pub week: String,
    pub from: String,
    pub to: String,
    pub channel: String,
    pub watch: usize,
    pub outcomes: usize,
    pub came_back: usize,
    pub messages: usize,
    /// The `ts` of each message posted, in order.
    pub posted: Vec<String>,
    pub dry_run: bool,
}

impl Digester {
    pub fn new(app: App) -> Digester {
        Digester {
            app,
            slack: OnceCell::new(),
        }
    }

    async fn slack(&self) -> Result<&SlackNotifier, TaskError> {
        self.slack
            .get_or_try_init(|| self.app.slack_notifier())
            .await
    }
}

/// Builds the week's digest and posts it (unless `dry_run`).
pub async fn handle(d: &Digester, event: Value) -> Result<DigestOutput, TaskError> {
    let input: DigestInput = serde_json::from_value(event)
        .map_err(|e| TaskError::bad_input(format!("the digest input is not valid: {e}")))?;
    let app = &d.app;
    let cfg = app.config().await?;
    let tz = TimeZone::get(&cfg.timezone)
        .map_err(|_| TaskError::new("churn.Config", "the configured timezone is unknown"))?;
    let as_of = resolve_as_of(input.as_of.as_deref(), &tz, jiff::Timestamp::now())
        .map_err(|e| TaskError::bad_input(e.to_string()))?;
    let (from, to) = audit_window(as_of, &tz).map_err(|e| TaskError::bad_input(e.to_string()))?;
    let span = tracing::info_span!("digest", week = %churn_core::run::week::iso_week(as_of), dry_run = input.dry_run);
    let _enter = span.enter();

    let store = DynamoDbStateStore::new(&app.clients, &app.tables);
    let (prior, audit) = tokio::try_join!(store.scan_prior(), store.audit_between(&from, &to))
        .map_err(|e| task_error!(e))?;
    let watch = prior.in_band(Band::Watch);
    let wanted: FxHashSet<&str> = watch
        .iter()
        .map(|s| s.customer_id.as_str())
        .chain(audit.iter().map(|i| i.customer_id.as_str()))
        .collect();
    let names = if wanted.is_empty() {
        Default::default()
    } else {
        app.list_names_and_emails(cfg, &tz, &wanted).await?.0
    };
    let digest = build_digest(
        as_of,
        &tz,
        &watch,
        &audit,
        |id| names.get(id).cloned(),
        &DigestOptions::default(),
    )
    .map_err(|e| TaskError::bad_input(e.to_string()))?;
    let messages = digest.slack_messages(&cfg.digest_channel);
    let mut posted = Vec::new();
    if !input.dry_run {
        let slack = d.slack().await?;
        for (i, body) in messages.iter().enumerate() {
            match slack.post_message(body).await {
                Ok(m) => posted.push(m.ts),
                Err(e) => {
                    tracing::warn!(part = i + 1, parts = messages.len(), error_type = e.error_type(), error = %e, "digest part failed");
                    return Err(TaskError::new(
                        e.error_type(),
                        format!(
                            "posting the digest failed at part {} of {} ({} posted): {e}",
                            i + 1,
                            messages.len(),
                            posted.len()
                        ),
                    ));
                }
            }
        }
    }
    let out = DigestOutput {
        week: digest.week.clone(),
        from: digest.from.to_string(),
        to: digest.to.to_string(),
        channel: cfg.digest_channel.clone(),
        watch: digest.watch_total,
        outcomes: digest.outcomes.len(),
        came_back: digest.came_back.len(),
        messages: messages.len(),
        posted,
        dry_run: input.dry_run,
    };
    tracing::info!(
        watch = out.watch,
        outcomes = out.outcomes,
        came_back = out.came_back,
        messages = out.messages,
        posted = out.posted.len(),
        "digest done"
    );
    Ok(out)
}
