//! The Slack bot token of the local commands that post for real (docs/SPEC.md §10: lists and the digest
//! go to Slack only when a token is configured): `SLACK_BOT_TOKEN`, and `CHURN_SLACK_API_URL` for
//! another API base URL (local test servers only).

use churn_delivery::{RetryPolicy, SlackNotifier, SlackToken};

use crate::error::CliError;

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
