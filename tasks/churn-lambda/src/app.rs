//! What a task builds once per container: one `SdkConfig`, the clients, the names from the
//! environment; the Parameter Store config is read on the first invocation and kept.

use std::io::Cursor;

use churn_aws::{AwsClients, S3ObjectStore, SsmConfig, TableNames};
use churn_core::list::customers::{CustomerReader, ReadOptions};
use churn_core::reports::digest::names_and_emails;
use churn_core::run::scan::CustomerEmails;
use churn_delivery::slack::{RetryPolicy, SlackNotifier, SlackToken};
use jiff::tz::TimeZone;
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::OnceCell;

use crate::error::TaskError;

/// Bucket names from the environment.
#[derive(Debug, Clone)]
pub struct Buckets {
    pub list: String,
    pub rules: String,
    pub runs: String,
}

/// A task's long-lived context.
pub struct App {
    pub sdk: aws_config::SdkConfig,
    pub clients: AwsClients,
    pub tables: TableNames,
    pub buckets: Buckets,
    pub config_path: String,
    config: OnceCell<SsmConfig>,
}

/// A required, non-blank environment variable (`churn.Config` when missing).
pub(crate) fn env(name: &'static str) -> Result<String, TaskError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            TaskError::new(
                "churn.Config",
                format!("environment variable {name} is not set"),
            )
        })
}

impl App {
    /// Builds everything from the environment. No network calls: init stays fast.
    pub async fn from_env() -> Result<App, TaskError> {
        let sdk = churn_aws::load_sdk_config().await;
        let path_style =
            std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true" || v == "1");
        let clients = AwsClients::with_path_style(&sdk, path_style);
        let tables =
            TableNames::from_env().map_err(|e| TaskError::new("churn.Config", e.to_string()))?;
        let buckets = Buckets {
            list: env("LIST_BUCKET")?,
            rules: env("RULES_BUCKET")?,
            runs: env("RUNS_BUCKET")?,
        };
        let config_path = std::env::var("CONFIG_PATH").unwrap_or_else(|_| "/cp/config/".into());
        Ok(App {
            sdk,
            clients,
            tables,
            buckets,
            config_path,
            config: OnceCell::new(),
        })
    }

    /// A Slack client with the bot token from Secrets Manager (`SLACK_TOKEN_SECRET`, default
    /// `cp/keys#slack_bot_token`) at `SLACK_API_URL` (default Slack's). Callers keep it for the
    /// container's life.
    pub async fn slack_notifier(&self) -> Result<SlackNotifier, TaskError> {
        let name = std::env::var("SLACK_TOKEN_SECRET")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "cp/keys#slack_bot_token".into());
        let token = churn_aws::SecretsManagerSecrets::new(&self.clients)
            .get(&name)
            .await
            .map_err(|e| crate::task_error!(e))?;
        let base = std::env::var("SLACK_API_URL")
            .unwrap_or_else(|_| churn_delivery::slack::DEFAULT_BASE_URL.into());
        SlackNotifier::with_options(
            SlackToken::new(token.expose()),
            &base,
            RetryPolicy::default(),
        )
        .map_err(|e| crate::task_error!(e))
    }

    /// The Parameter Store settings, read once per container.
    /// From the list mirror (`customers.csv` in the list bucket): the display names of the
    /// `wanted` customers and every customer email (which no sender may write to).
    pub async fn list_names_and_emails(
        &self,
        cfg: &SsmConfig,
        tz: &TimeZone,
        wanted: &FxHashSet<&str>,
    ) -> Result<(FxHashMap<String, String>, CustomerEmails), TaskError> {
        let list = S3ObjectStore::new(&self.clients)
            .get_text(&self.buckets.list, "customers.csv")
            .await
            .map_err(|e| crate::task_error!(e))?;
        let read = ReadOptions {
            date_order: cfg.date_order,
            tz: tz.clone(),
        };
        let reader = CustomerReader::new(Cursor::new(list.text.into_bytes()), read, &[])
            .map_err(|e| TaskError::new("churn.BadList", e.to_string()))?;
        Ok(names_and_emails(reader, wanted))
    }

    /// Every customer address in the list mirror (`customers.csv` in the list bucket), for a
    /// sender's guard (docs/SPEC.md §1). A list that cannot be fetched or read is an error: the
    /// sender then refuses instead of sending unchecked.
    pub async fn customer_emails(&self) -> Result<CustomerEmails, TaskError> {
        customer_emails(&self.clients, &self.buckets.list).await
    }

    pub async fn config(&self) -> Result<&SsmConfig, TaskError> {
        self.config
            .get_or_try_init(|| async {
                SsmConfig::load(&self.clients.ssm, &self.config_path)
                    .await
                    .map_err(|e| crate::task_error!(e))
            })
            .await
    }
}

/// Every customer address in `customers.csv` in `bucket` (docs/SPEC.md §1), bad rows included.
/// `churn.Refused` when the list cannot be fetched or read: a sender that cannot check its
/// recipients sends nothing.
pub(crate) async fn customer_emails(
    clients: &AwsClients,
    bucket: &str,
) -> Result<CustomerEmails, TaskError> {
    let refused = |why: String| {
        tracing::warn!(error = %why, "the customer list cannot be read: refusing to send");
        TaskError::new(
            "churn.Refused",
            format!(
                "refused to send: the customer list cannot be read to check the recipients ({why})"
            ),
        )
    };
    let list = match S3ObjectStore::new(clients)
        .get_text(bucket, "customers.csv")
        .await
    {
        Ok(list) => list,
        Err(e @ churn_aws::ObjectError::NotFound { .. }) => return Err(refused(e.to_string())),
        // Throttling or an outage: still nothing is sent, and the task may be retried.
        Err(e) => {
            tracing::warn!(error = %e, "the customer list cannot be fetched: refusing to send");
            return Err(crate::task_error!(e));
        }
    };
    CustomerEmails::from_csv(list.text.as_bytes()).map_err(refused)
}
