//! [`SlackWeb`]: the outcome handler's Slack port — `views.open` and `chat.update` through
//! [`SlackNotifier`] when a bot token is set, and posts to an interaction's `response_url` (no
//! token needed; Slack allows 5 posts within 30 minutes, so they are not retried after a 4xx).

use std::time::Duration;

use churn_core::ports::{PortError, SlackResponder};
use reqwest::StatusCode;
use serde_json::Value;

use crate::slack::{SlackError, SlackNotifier};

/// The outcome handler's Slack calls.
#[derive(Debug, Clone)]
pub struct SlackWeb {
    api: Option<SlackNotifier>,
    http: reqwest::Client,
}

/// Why a `response_url` post failed (no URL in the message: it holds a token-like path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseUrlError {
    #[error("the response_url answered HTTP {status} ({code})")]
    Refused { status: u16, code: String },
    #[error("the response_url could not be reached: {0}")]
    Unavailable(String),
}

impl SlackWeb {
    /// `api` is `None` without a bot token: then only `response_url` posts can be made.
    /// `timeout` bounds each `response_url` post (the handler must answer Slack within 3 s).
    pub fn new(api: Option<SlackNotifier>, timeout: Duration) -> Result<SlackWeb, SlackError> {
        let http = crate::http::client_builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SlackError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(SlackWeb { api, http })
    }

    /// POSTs `body` as JSON to `url`; one retry after a 5xx or a connection failure.
    pub async fn post_response_url(&self, url: &str, body: &Value) -> Result<(), ResponseUrlError> {
        let mut last = String::new();
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            match self.http.post(url).json(body).send().await {
                Err(e) => {
                    last = if e.is_timeout() {
                        "timed out".into()
                    } else {
                        "connection failed".into()
                    }
                }
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r)
                    if r.status().is_server_error()
                        || r.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    last = format!("HTTP {}", r.status().as_u16())
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    let code: String = text
                        .chars()
                        .take(40)
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    return Err(ResponseUrlError::Refused { status, code });
                }
            }
        }
        Err(ResponseUrlError::Unavailable(last))
    }
}

fn port(e: SlackError) -> PortError {
    PortError::new(e.to_string(), e.is_retryable())
}

impl SlackResponder for SlackWeb {
    fn has_token(&self) -> bool {
        self.api.is_some()
    }

    async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), PortError> {
        match &self.api {
            None => Err(PortError::new(
                "no Slack bot token: views.open cannot be called",
                false,
            )),
            Some(api) => api.views_open(trigger_id, view).await.map_err(port),
        }
    }

    async fn message_blocks(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Option<Vec<Value>>, PortError> {
        match &self.api {
            None => Err(PortError::new(
                "no Slack bot token: conversations.history cannot be called",
                false,
            )),
            Some(api) => api.message_blocks(channel, ts).await.map_err(port),
        }
    }

    async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &[Value],
    ) -> Result<(), PortError> {
        match &self.api {
            None => Err(PortError::new(
                "no Slack bot token: chat.update cannot be called",
                false,
            )),
            Some(api) => api
                .chat_update(channel, ts, text, blocks)
                .await
                .map_err(port),
        }
    }

    async fn respond(&self, response_url: &str, body: &Value) -> Result<(), PortError> {
        self.post_response_url(response_url, body)
            .await
            .map_err(|e| {
                let retryable = matches!(e, ResponseUrlError::Unavailable(_));
                PortError::new(e.to_string(), retryable)
            })
    }
}
