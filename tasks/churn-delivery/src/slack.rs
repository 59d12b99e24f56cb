//! The Slack Web API notifier (docs/SPEC.md §7): finds the owner's DM, posts the list's messages in order
//! and reports which parts went out, so a caller can fall back to email for the whole list
//! (docs/SPEC.md §4) when any part fails.
//!
//! Retries: HTTP 429 and `{"ok": false, "error": "ratelimited"}` wait `Retry-After` seconds;
//! 5xx, timeouts, connection failures and Slack's `internal_error` / `fatal_error` /
//! `service_unavailable` / `request_timeout` back off exponentially; both are bounded by a number
//! of retries and by a cap on the total time spent waiting ([`RetryPolicy`]). Everything else
//! Slack refuses is final and typed.
//!
//! A retried `chat.postMessage` after a timeout may post the same part twice (Slack has no
//! idempotency key); that is preferred to losing it.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde_json::Value;

use crate::error::{ERROR_CONFIG, ERROR_INTERNAL, ERROR_RETRYABLE};

/// Slack's Web API.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api/";

const JSON_UTF8: &str = "application/json; charset=utf-8";

/// A Slack bot token (`xoxb-…`). Its `Debug` never shows the value, and nothing in this crate
/// logs it or puts it into an error.
#[derive(Clone)]
pub struct SlackToken(String);

impl SlackToken {
    /// The token as stored (surrounding whitespace, e.g. a trailing newline, is dropped).
    pub fn new(token: impl Into<String>) -> Self {
        SlackToken(token.into().trim().to_string())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SlackToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackToken(<redacted>)")
    }
}

/// How hard to try before giving up on a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after HTTP 429 or `ratelimited`, each waiting `Retry-After`.
    pub max_rate_limit_retries: u32,
    /// Retries after 5xx, timeouts and connection failures.
    pub max_transient_retries: u32,
    /// First backoff after a transient failure; doubles each time.
    pub backoff_base: Duration,
    /// The wait when a rate-limit answer carries no (readable) `Retry-After`.
    pub default_retry_after: Duration,
    /// Cap on the total time one call may spend waiting between attempts; a wait that would go
    /// past it is not started and the call fails (retryable) instead.
    pub max_total_wait: Duration,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_rate_limit_retries: 5,
            max_transient_retries: 3,
            backoff_base: Duration::from_millis(500),
            default_retry_after: Duration::from_secs(1),
            max_total_wait: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// For the outcome handler: a click gives 3 seconds, so one quick attempt and no long waits.
    pub fn interactive() -> Self {
        RetryPolicy {
            max_rate_limit_retries: 0,
            max_transient_retries: 1,
            backoff_base: Duration::from_millis(100),
            default_retry_after: Duration::from_millis(500),
            max_total_wait: Duration::from_millis(500),
            request_timeout: Duration::from_secs(2),
        }
    }
}

/// Why a Slack call failed. Each carries the method (`chat.postMessage`, …) and Slack's error
/// code where there is one; never the token or a message's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlackError {
    /// The token is wrong, revoked, lacks a scope, or its account is inactive.
    #[error("Slack refused the token on {method}: {code}")]
    Auth { method: &'static str, code: String },
    /// No Slack user has the owner's email (`users_not_found`).
    #[error("no Slack user has the owner's email ({code})")]
    UserNotFound { code: String },
    /// The DM or user id does not exist or cannot be written to.
    #[error("Slack channel not found on {method}: {code}")]
    ChannelNotFound { method: &'static str, code: String },
    /// Slack refused the message body (`invalid_blocks`, `msg_too_long`, …).
    #[error("Slack refused the message: {code}")]
    InvalidMessage { code: String },
    /// Still rate limited after the allowed retries or wait.
    #[error("Slack rate limit on {method}: gave up after {attempts} attempts")]
    RateLimited {
        method: &'static str,
        attempts: u32,
        /// The last `Retry-After` Slack asked for.
        retry_after: Option<Duration>,
    },
    /// 5xx, timeouts or connection failures after the allowed retries.
    #[error("Slack unavailable on {method} after {attempts} attempts: {detail}")]
    Unavailable {
        method: &'static str,
        attempts: u32,
        detail: String,
    },
    /// Any other `{"ok": false, "error": code}`.
    #[error("Slack error on {method}: {code}")]
    Api { method: &'static str, code: String },
    /// A response that is not Slack's JSON envelope.
    #[error("unexpected Slack response on {method}: {detail}")]
    BadResponse {
        method: &'static str,
        detail: String,
    },
    /// The notifier could not be set up (empty token, bad base URL).
    #[error("Slack configuration: {0}")]
    Config(String),
}

impl SlackError {
    /// Whether trying again later (a Step Functions retry) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SlackError::RateLimited { .. } | SlackError::Unavailable { .. }
        )
    }

    /// The stable error name of `docs/aws-design.md`.
    pub fn error_type(&self) -> &'static str {
        match self {
            SlackError::RateLimited { .. } | SlackError::Unavailable { .. } => ERROR_RETRYABLE,
            SlackError::Auth { .. }
            | SlackError::UserNotFound { .. }
            | SlackError::ChannelNotFound { .. }
            | SlackError::Config(_) => ERROR_CONFIG,
            SlackError::InvalidMessage { .. }
            | SlackError::Api { .. }
            | SlackError::BadResponse { .. } => ERROR_INTERNAL,
        }
    }

    /// Slack's error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Auth { code, .. }
            | SlackError::UserNotFound { code }
            | SlackError::ChannelNotFound { code, .. }
            | SlackError::InvalidMessage { code }
            | SlackError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Where an owner's list goes: the owner's Slack user id when the rules doc gives one
/// (`owner EMAIL: slack U0123ABCD`), else the user found by the owner's email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackRecipient {
    pub email: String,
    pub user_id: Option<String>,
}

impl SlackRecipient {
    pub fn new(email: impl Into<String>, user_id: Option<String>) -> Self {
        SlackRecipient {
            email: email.into(),
            user_id,
        }
    }
}

/// One message Slack accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    /// The message's timestamp id, needed to update it later.
    pub ts: String,
}

/// A part of the list that is in Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedPart {
    /// 0-based position in the list's messages.
    pub index: usize,
    pub ts: String,
}

/// The part that could not be posted (the parts after it were not tried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFailure {
    pub index: usize,
    pub error: SlackError,
}

/// What [`SlackNotifier::send_list`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// The DM the list went to (`None` for an empty list: nothing was called).
    pub channel: Option<String>,
    /// How many messages the list had.
    pub parts: usize,
    /// The parts posted, in order.
    pub posted: Vec<PostedPart>,
    /// Set when a part failed; then the owner gets the whole list by email instead.
    pub failed: Option<PartFailure>,
}

impl SendReport {
    /// Every part is in Slack.
    pub fn is_complete(&self) -> bool {
        self.failed.is_none() && self.posted.len() == self.parts
    }

    /// Some parts are in Slack but not all: the email fallback should say that part of the list
    /// may already be in Slack. (A part whose post timed out may also have reached Slack, so the
    /// note is honest whenever the send failed after the DM was opened.)
    pub fn partly_posted(&self) -> bool {
        !self.posted.is_empty() && !self.is_complete()
    }

    /// The failure, if any.
    pub fn error(&self) -> Option<&SlackError> {
        self.failed.as_ref().map(|f| &f.error)
    }
}

/// A Slack Web API client with a bot token. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SlackNotifier {
    http: reqwest::Client,
    base_url: String,
    token: SlackToken,
    retry: RetryPolicy,
}

/// The body of one call.
enum Payload<'a> {
    Form(&'a [(&'a str, &'a str)]),
    Json(Vec<u8>),
}

/// How one attempt ended, when it did not succeed.
enum Attempt {
    RateLimited(Option<Duration>),
    Transient(String),
    Final(SlackError),
}

impl SlackNotifier {
    /// A notifier for `https://slack.com/api/` with the default [`RetryPolicy`].
    pub fn new(token: SlackToken) -> Result<Self, SlackError> {
        Self::with_options(token, DEFAULT_BASE_URL, RetryPolicy::default())
    }

    /// A notifier for another base URL (a local test server) and retry policy.
    pub fn with_options(
        token: SlackToken,
        base_url: &str,
        retry: RetryPolicy,
    ) -> Result<Self, SlackError> {
        if token.expose().is_empty() {
            return Err(SlackError::Config("the Slack token is empty".into()));
        }
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose())).is_err() {
            return Err(SlackError::Config(
                "the Slack token has characters not allowed in a header".into(),
            ));
        }
        let base_url = base_url.trim();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(SlackError::Config(
                "the Slack base URL must start with https:// or http://".into(),
            ));
        }
        let mut base_url = base_url.to_string();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        let http = crate::http::client_builder()
            .timeout(retry.request_timeout)
            .connect_timeout(retry.request_timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| SlackError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(SlackNotifier {
            http,
            base_url,
            token,
            retry,
        })
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `users.lookupByEmail`: the Slack user id of the member with this email.
    pub async fn lookup_user_by_email(&self, email: &str) -> Result<String, SlackError> {
        const METHOD: &str = "users.lookupByEmail";
        let v = self
            .call(METHOD, Payload::Form(&[("email", email.trim())]))
            .await?;
        string_at(&v, "/user/id", METHOD)
    }

    /// `conversations.open` with `users`: the id of the DM with this user (opened or resumed).
    pub async fn open_dm(&self, user_id: &str) -> Result<String, SlackError> {
        const METHOD: &str = "conversations.open";
        let v = self
            .call(METHOD, Payload::Form(&[("users", user_id.trim())]))
            .await?;
        string_at(&v, "/channel/id", METHOD)
    }

    /// `chat.postMessage` with a JSON body (`{"channel", "text", "blocks"}`).
    pub async fn post_message(&self, body: &Value) -> Result<PostedMessage, SlackError> {
        const METHOD: &str = "chat.postMessage";
        let bytes = serde_json::to_vec(body).map_err(|e| SlackError::BadResponse {
            method: METHOD,
            detail: format!("cannot serialise the body: {e}"),
        })?;
        let v = self.call(METHOD, Payload::Json(bytes)).await?;
        Ok(PostedMessage {
            channel: string_at(&v, "/channel", METHOD)?,
            ts: string_at(&v, "/ts", METHOD)?,
        })
    }

    /// `views.open`: opens a modal with the click's `trigger_id` (Slack gives it 3 seconds, so an
    /// expired trigger is final, never retried).
    pub async fn views_open(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        const METHOD: &str = "views.open";
        let body = serde_json::json!({"trigger_id": trigger_id, "view": view});
        let bytes = serde_json::to_vec(&body).map_err(|e| SlackError::BadResponse {
            method: METHOD,
            detail: format!("cannot serialise the body: {e}"),
        })?;
        self.call(METHOD, Payload::Json(bytes)).await.map(|_| ())
    }

    /// `views.publish`: replaces `user_id`'s Home tab with `view` (`{"type": "home", …}`). Needs
    /// the app's Home tab on (`not_enabled` otherwise).
    pub async fn views_publish(&self, user_id: &str, view: &Value) -> Result<(), SlackError> {
        const METHOD: &str = "views.publish";
        let body = serde_json::json!({"user_id": user_id.trim(), "view": view});
        let bytes = serde_json::to_vec(&body).map_err(|e| SlackError::BadResponse {
            method: METHOD,
            detail: format!("cannot serialise the body: {e}"),
        })?;
        self.call(METHOD, Payload::Json(bytes)).await.map(|_| ())
    }

    /// `users.info`: the member's profile email (`None` when the profile shows none: the token
    /// lacks `users:read.email`, or the member is a bot). `UserNotFound` for an unknown member.
    pub async fn user_email(&self, user_id: &str) -> Result<Option<String>, SlackError> {
        const METHOD: &str = "users.info";
        let v = self
            .call(METHOD, Payload::Form(&[("user", user_id.trim())]))
            .await?;
        Ok(v.pointer("/user/profile/email")
            .and_then(Value::as_str)
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty()))
    }

    /// `conversations.history` with these arguments: its `messages`, newest first.
    async fn history(&self, args: &[(&str, &str)]) -> Result<Vec<Value>, SlackError> {
        const METHOD: &str = "conversations.history";
        let mut v = self.call(METHOD, Payload::Form(args)).await?;
        match v["messages"].take() {
            Value::Array(messages) => Ok(messages),
            _ => Err(SlackError::BadResponse {
                method: METHOD,
                detail: "no `messages` list".into(),
            }),
        }
    }

    /// `conversations.history` narrowed to one message: the blocks of the message at `ts` in
    /// `channel` as it now stands (`None` when it is gone). Needs `im:history` for a DM.
    pub async fn message_blocks(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Option<Vec<Value>>, SlackError> {
        let messages = self
            .history(&[
                ("channel", channel),
                ("latest", ts),
                ("oldest", ts),
                ("inclusive", "true"),
                ("limit", "1"),
            ])
            .await?;
        Ok(messages
            .iter()
            .find(|m| m["ts"].as_str() == Some(ts))
            .and_then(|m| m["blocks"].as_array().cloned()))
    }

    /// The parts (1-based) of (week, owner)'s list among the DM's recent messages, found by
    /// their message metadata: `conversations.history` with `include_all_metadata` (the last
    /// 200 messages: a list is posted at most once a week, so it is among them).
    pub async fn list_parts_in(
        &self,
        channel: &str,
        week: &str,
        owner: &str,
    ) -> Result<Vec<usize>, SlackError> {
        let messages = self
            .history(&[
                ("channel", channel),
                ("include_all_metadata", "true"),
                ("limit", "200"),
            ])
            .await?;
        let mut parts: Vec<usize> = messages
            .iter()
            .filter_map(|m| {
                churn_core::notify::message::list_metadata_part(&m["metadata"], week, owner)
            })
            .collect();
        parts.sort_unstable();
        parts.dedup();
        Ok(parts)
    }

    /// The DM of a recipient: the user id given, or the user found by email.
    pub async fn dm_of(&self, to: &SlackRecipient) -> Result<String, SlackError> {
        let user_id = match to.user_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => self.lookup_user_by_email(&to.email).await?,
        };
        self.open_dm(&user_id).await
    }

    /// `chat.update`: replaces the text and blocks of a message the bot posted.
    pub async fn chat_update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &[Value],
    ) -> Result<(), SlackError> {
        const METHOD: &str = "chat.update";
        let body =
            serde_json::json!({"channel": channel, "ts": ts, "text": text, "blocks": blocks});
        let bytes = serde_json::to_vec(&body).map_err(|e| SlackError::BadResponse {
            method: METHOD,
            detail: format!("cannot serialise the body: {e}"),
        })?;
        self.call(METHOD, Payload::Json(bytes)).await.map(|_| ())
    }

    /// Sends an owner's list: resolves the DM (the user id given → `conversations.open`; none →
    /// `users.lookupByEmail`, then `conversations.open`), then posts each message in order with
    /// its `channel` set to that DM, stopping at the first part that fails.
    ///
    /// `Err` when the DM cannot be resolved (nothing was posted); otherwise a [`SendReport`]
    /// listing the parts posted and the failed part, if any. An empty list calls nothing.
    pub async fn send_list(
        &self,
        to: &SlackRecipient,
        messages: &[Value],
    ) -> Result<SendReport, SlackError> {
        let mut report = SendReport {
            channel: None,
            parts: messages.len(),
            posted: Vec::new(),
            failed: None,
        };
        if messages.is_empty() {
            return Ok(report);
        }
        let channel = self.dm_of(to).await?;
        report.channel = Some(channel.clone());
        for (index, message) in messages.iter().enumerate() {
            let mut body = message.clone();
            let result = match body.as_object_mut() {
                Some(obj) => {
                    obj.insert("channel".into(), Value::String(channel.clone()));
                    self.post_message(&body).await
                }
                None => Err(SlackError::InvalidMessage {
                    code: "not_a_json_object".into(),
                }),
            };
            match result {
                Ok(posted) => report.posted.push(PostedPart {
                    index,
                    ts: posted.ts,
                }),
                Err(error) => {
                    tracing::warn!(
                        part = index + 1,
                        parts = messages.len(),
                        error_type = error.error_type(),
                        %error,
                        "slack part failed"
                    );
                    report.failed = Some(PartFailure { index, error });
                    break;
                }
            }
        }
        Ok(report)
    }

    /// One method call with the retry policy applied; returns the `ok: true` body.
    async fn call(&self, method: &'static str, payload: Payload<'_>) -> Result<Value, SlackError> {
        let policy = &self.retry;
        let mut rate_retries = 0u32;
        let mut transient_retries = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let attempts = 1 + rate_retries + transient_retries;
            let wait = match self.attempt(method, &payload).await {
                Ok(v) => return Ok(v),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::RateLimited(retry_after)) => {
                    let wait = retry_after.unwrap_or(policy.default_retry_after);
                    if rate_retries >= policy.max_rate_limit_retries
                        || waited + wait > policy.max_total_wait
                    {
                        return Err(SlackError::RateLimited {
                            method,
                            attempts,
                            retry_after,
                        });
                    }
                    rate_retries += 1;
                    wait
                }
                Err(Attempt::Transient(detail)) => {
                    let wait = policy
                        .backoff_base
                        .saturating_mul(1u32 << transient_retries.min(16));
                    if transient_retries >= policy.max_transient_retries
                        || waited + wait > policy.max_total_wait
                    {
                        return Err(SlackError::Unavailable {
                            method,
                            attempts,
                            detail,
                        });
                    }
                    transient_retries += 1;
                    wait
                }
            };
            tracing::warn!(
                method,
                attempt = attempts,
                wait_ms = wait.as_millis() as u64,
                "slack call will be retried"
            );
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    async fn attempt(&self, method: &'static str, payload: &Payload<'_>) -> Result<Value, Attempt> {
        let url = format!("{}{method}", self.base_url);
        let request = self.http.post(url).bearer_auth(self.token.expose());
        let request = match payload {
            Payload::Form(fields) => request.form(fields),
            Payload::Json(bytes) => request.header(CONTENT_TYPE, JSON_UTF8).body(bytes.clone()),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Err(Attempt::Final(SlackError::Config(format!(
                    "cannot build the {method} request"
                ))));
            }
            Err(e) => return Err(Attempt::Transient(describe(&e))),
        };
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Attempt::RateLimited(retry_after));
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            return Err(Attempt::Transient(format!("HTTP {}", status.as_u16())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Attempt::Transient(describe(&e)))?;
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(Attempt::Final(SlackError::BadResponse {
                method,
                detail: format!("HTTP {} without a JSON body", status.as_u16()),
            }));
        };
        match v.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(v),
            Some(false) => {
                let code = v
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown_error");
                Err(classify(method, code, retry_after))
            }
            None => Err(Attempt::Final(SlackError::BadResponse {
                method,
                detail: format!("HTTP {} without `ok`", status.as_u16()),
            })),
        }
    }
}

/// Sorts Slack's `error` codes into retry / final, typed.
fn classify(method: &'static str, code: &str, retry_after: Option<Duration>) -> Attempt {
    let code_s = code.to_string();
    match code {
        "ratelimited" | "rate_limited" => Attempt::RateLimited(retry_after),
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            Attempt::Transient(format!("Slack error {code}"))
        }
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "missing_scope"
        | "not_allowed_token_type"
        | "ekm_access_denied" => Attempt::Final(SlackError::Auth {
            method,
            code: code_s,
        }),
        "users_not_found" | "user_not_found" => {
            Attempt::Final(SlackError::UserNotFound { code: code_s })
        }
        "channel_not_found" | "is_archived" | "not_in_channel" | "user_disabled"
        | "user_not_visible" | "cannot_dm_bot" => Attempt::Final(SlackError::ChannelNotFound {
            method,
            code: code_s,
        }),
        "invalid_blocks"
        | "invalid_blocks_format"
        | "expired_trigger_id"
        | "invalid_trigger_id"
        | "view_too_large"
        | "message_not_found"
        | "cant_update_message"
        | "edit_window_closed"
        | "msg_too_long"
        | "no_text"
        | "too_many_attachments"
        | "invalid_arguments"
        | "invalid_json"
        | "json_not_object" => Attempt::Final(SlackError::InvalidMessage { code: code_s }),
        _ => Attempt::Final(SlackError::Api {
            method,
            code: code_s,
        }),
    }
}

/// `Retry-After` in seconds (Slack sends whole seconds; a fraction is accepted).
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// A short description of a transport failure (no URL, no headers).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read".into()
    } else {
        "the request failed".into()
    }
}

fn string_at(v: &Value, pointer: &str, method: &'static str) -> Result<String, SlackError> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| SlackError::BadResponse {
            method,
            detail: format!("`{pointer}` missing from an ok response"),
        })
}

/// `SlackNotifier` as the Monday engine's Slack port.
impl churn_core::ports::ListSlack for SlackNotifier {
    async fn post_list(
        &self,
        to: &churn_core::ports::SlackTo<'_>,
        messages: &[Value],
    ) -> Result<churn_core::ports::SlackPost, churn_core::ports::PortError> {
        let recipient = SlackRecipient::new(to.owner, to.user_id.map(str::to_string));
        let report = self
            .send_list(&recipient, messages)
            .await
            .map_err(|e| churn_core::ports::PortError::new(e.to_string(), e.is_retryable()))?;
        Ok(churn_core::ports::SlackPost {
            parts: report.parts,
            error: report.error().map(|e| e.to_string()),
            posted: report.posted.into_iter().map(|p| p.ts).collect(),
        })
    }

    async fn posted_parts(
        &self,
        to: &churn_core::ports::SlackTo<'_>,
        week: &str,
        owner: &str,
    ) -> Result<Vec<usize>, churn_core::ports::PortError> {
        let recipient = SlackRecipient::new(to.owner, to.user_id.map(str::to_string));
        let port =
            |e: SlackError| churn_core::ports::PortError::new(e.to_string(), e.is_retryable());
        let channel = self.dm_of(&recipient).await.map_err(port)?;
        self.list_parts_in(&channel, week, owner)
            .await
            .map_err(port)
    }
}

/// `SlackNotifier` as the outcome handler's Home tab port.
impl churn_core::notify::home::HomeSlack for SlackNotifier {
    async fn user_email(
        &self,
        user_id: &str,
    ) -> Result<Option<String>, churn_core::ports::PortError> {
        match SlackNotifier::user_email(self, user_id).await {
            Ok(e) => Ok(e),
            Err(SlackError::UserNotFound { .. }) => Ok(None),
            Err(e) => Err(churn_core::ports::PortError::new(
                e.to_string(),
                e.is_retryable(),
            )),
        }
    }

    async fn user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<String>, churn_core::ports::PortError> {
        match self.lookup_user_by_email(email).await {
            Ok(id) => Ok(Some(id)),
            Err(SlackError::UserNotFound { .. }) => Ok(None),
            Err(e) => Err(churn_core::ports::PortError::new(
                e.to_string(),
                e.is_retryable(),
            )),
        }
    }

    async fn publish_home(
        &self,
        user_id: &str,
        view: &Value,
    ) -> Result<(), churn_core::ports::PortError> {
        self.views_publish(user_id, view)
            .await
            .map_err(|e| churn_core::ports::PortError::new(e.to_string(), e.is_retryable()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn home_tab_calls_against_the_slack_like_server() {
        use churn_core::notify::home::HomeSlack;
        use churn_test_support::slack_server::SlackServer;
        let slack = SlackServer::start("xoxb-home").await;
        slack.add_user("alex@shop.example", "U1");
        let n = SlackNotifier::with_options(
            SlackToken::new("xoxb-home"),
            &slack.base_url,
            RetryPolicy::interactive(),
        )
        .unwrap();
        assert_eq!(
            HomeSlack::user_email(&n, "U1").await.unwrap().as_deref(),
            Some("alex@shop.example")
        );
        assert_eq!(HomeSlack::user_email(&n, "U404").await.unwrap(), None);
        assert_eq!(
            n.user_by_email("alex@shop.example")
                .await
                .unwrap()
                .as_deref(),
            Some("U1")
        );
        assert_eq!(n.user_by_email("nobody@shop.example").await.unwrap(), None);
        let view = churn_core::notify::home::not_owner_view();
        n.publish_home("U1", &view).await.unwrap();
        assert_eq!(slack.home("U1"), Some(view));
        // A view Slack refuses (a modal's input block on a Home) is final, not retried.
        let bad = serde_json::json!({"type": "home", "blocks": [{"type": "input"}]});
        let e = n.views_publish("U1", &bad).await.unwrap_err();
        assert_eq!(e.code(), Some("invalid_arguments"));
        assert!(
            !HomeSlack::publish_home(&n, "U1", &bad)
                .await
                .unwrap_err()
                .retryable
        );
        // Rate limited (no retry in the interactive policy): retryable.
        slack.script("views.publish", [slack_server_fault()]);
        let e = n
            .publish_home("U1", &churn_core::notify::home::not_owner_view())
            .await;
        assert!(e.unwrap_err().retryable);
        assert_eq!(slack.received_for("views.publish").len(), 4);
    }

    fn slack_server_fault() -> churn_test_support::slack_server::Fault {
        churn_test_support::slack_server::Fault::TooMany {
            retry_after: Some(30),
        }
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = SlackToken::new("xoxb-secret-123\n");
        assert_eq!(format!("{t:?}"), "SlackToken(<redacted>)");
        let n = SlackNotifier::new(t).unwrap();
        assert!(!format!("{n:?}").contains("xoxb-secret"));
    }

    #[test]
    fn empty_token_and_bad_url_are_config_errors() {
        let e = SlackNotifier::new(SlackToken::new("  ")).unwrap_err();
        assert_eq!(e.error_type(), ERROR_CONFIG);
        assert!(!e.is_retryable());
        let e = SlackNotifier::with_options(
            SlackToken::new("xoxb-1"),
            "ftp://x",
            RetryPolicy::default(),
        )
        .unwrap_err();
        assert!(matches!(e, SlackError::Config(_)));
    }

    #[test]
    fn error_names() {
        let rl = SlackError::RateLimited {
            method: "chat.postMessage",
            attempts: 3,
            retry_after: None,
        };
        assert!(rl.is_retryable());
        assert_eq!(rl.error_type(), ERROR_RETRYABLE);
        let blocks = SlackError::InvalidMessage {
            code: "invalid_blocks".into(),
        };
        assert!(!blocks.is_retryable());
        assert_eq!(blocks.error_type(), ERROR_INTERNAL);
        assert_eq!(blocks.code(), Some("invalid_blocks"));
        assert_eq!(
            SlackError::UserNotFound {
                code: "users_not_found".into()
            }
            .error_type(),
            ERROR_CONFIG
        );
    }

    #[test]
    fn retry_after_parses_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn report_states() {
        let mut r = SendReport {
            channel: Some("D1".into()),
            parts: 2,
            posted: vec![PostedPart {
                index: 0,
                ts: "1.1".into(),
            }],
            failed: None,
        };
        assert!(!r.is_complete());
        assert!(r.partly_posted());
        r.posted.push(PostedPart {
            index: 1,
            ts: "1.2".into(),
        });
        assert!(r.is_complete());
        assert!(!r.partly_posted());
        assert!(r.error().is_none());
    }
}
