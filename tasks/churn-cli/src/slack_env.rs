//! The Slack bot token of the local commands that post for real (SPEC §10: lists and the digest
//! go to Slack only when a token is configured): `SLACK_BOT_TOKEN`, and `CHURN_SLACK_API_URL` for
//! another API base URL (local test servers only).

use churn_delivery::{RetryPolicy, SlackNotifier, SlackToken};

use crate::commands::CliError;

/// A non-blank environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The notifier for `SLACK_BOT_TOKEN`, or `None` when no token is set.
pub fn notifier_from_env() -> Result<Option<SlackNotifier>, CliError> {
    notifier_with(RetryPolicy::default())
}

/// [`notifier_from_env`] with its own retry policy (`churn serve` must answer within 3 s).
pub fn notifier_with(policy: RetryPolicy) -> Result<Option<SlackNotifier>, CliError> {
    let Some(token) = env("SLACK_BOT_TOKEN") else {
        return Ok(None);
    };
    let base = env("CHURN_SLACK_API_URL")
        .unwrap_or_else(|| churn_delivery::slack::DEFAULT_BASE_URL.into());
    Ok(Some(SlackNotifier::with_options(
        SlackToken::new(token.trim()),
        &base,
        policy,
    )?))
}

/// `churn weekly`'s Slack sender: the delivery crate's notifier on a small runtime of its own.
pub struct LocalSlackPoster {
    notifier: SlackNotifier,
    runtime: tokio::runtime::Runtime,
}

impl LocalSlackPoster {
    /// The poster for `SLACK_BOT_TOKEN`, or `None` when no token is set.
    pub fn from_env() -> Result<Option<LocalSlackPoster>, CliError> {
        let Some(notifier) = notifier_from_env()? else {
            return Ok(None);
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Some(LocalSlackPoster { notifier, runtime }))
    }
}

impl churn_local::weekly::SlackPoster for LocalSlackPoster {
    fn post(
        &self,
        owner: &str,
        user_id: Option<&str>,
        messages: &[serde_json::Value],
    ) -> Result<Vec<String>, String> {
        let to = churn_delivery::slack::SlackRecipient::new(owner, user_id.map(str::to_string));
        let report = self
            .runtime
            .block_on(self.notifier.send_list(&to, messages))
            .map_err(|e| e.to_string())?;
        match report.error() {
            None => Ok(report.posted.into_iter().map(|p| p.ts).collect()),
            Some(e) if report.partly_posted() => Err(format!(
                "{e} after {} of {} messages were posted",
                report.posted.len(),
                report.parts
            )),
            Some(e) => Err(e.to_string()),
        }
    }
}
