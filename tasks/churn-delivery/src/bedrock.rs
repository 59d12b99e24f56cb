//! Reasons written by Claude on Bedrock (docs/SPEC.md §6), through the Converse API.
//!
//! The model sees the voice text, the rules and the breakdown's scored entries as JSON —
//! `signal`, `points` and `detail` only, never a customer's name, email or any other field. Its
//! reply must pass [`check_reason`]; a reply that does not, a timeout, a throttle or any error
//! gives the deterministic sentence instead, so the list always ships. Each reason comes with its
//! [`ReasonSource`] for logs and tests.

use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, StopReason, SystemContentBlock,
};
use churn_core::model::{BreakdownEntry, ListItem};
use churn_core::notify::reason::{ReasonRejected, check_reason, deterministic_reason};
use churn_core::ports::DeterministicReasoner;
use futures_util::StreamExt;
use serde_json::json;

use crate::error::{ERROR_CONFIG, ERROR_INTERNAL, ERROR_RETRYABLE};

/// Claude Haiku 4.5, global cross-region inference profile.
pub const DEFAULT_MODEL_ID: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";

/// Longest voice text passed to the model, in characters.
const MAX_VOICE_CHARS: usize = 1000;
/// Longest `detail` passed to the model, in characters.
const MAX_DETAIL_CHARS: usize = 300;

/// How the reasoner calls the model.
#[derive(Debug, Clone, PartialEq)]
pub struct BedrockReasonerConfig {
    /// Model or inference-profile id.
    pub model_id: String,
    /// Deadline for one reason (the whole call, SDK retries included).
    pub timeout: Duration,
    /// `inferenceConfig.maxTokens`.
    pub max_tokens: i32,
    /// `inferenceConfig.temperature`.
    pub temperature: f32,
    /// SDK attempts per call (1 = no SDK retry); all within `timeout`.
    pub max_attempts: u32,
    /// The tone of the reasons (`voice.txt`), if any.
    pub voice: Option<String>,
}

impl Default for BedrockReasonerConfig {
    fn default() -> Self {
        BedrockReasonerConfig {
            model_id: DEFAULT_MODEL_ID.to_string(),
            timeout: Duration::from_secs(4),
            max_tokens: 120,
            temperature: 0.2,
            max_attempts: 2,
            voice: None,
        }
    }
}

/// Why a Converse call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BedrockError {
    #[error("Bedrock did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Bedrock throttled the call")]
    Throttled,
    /// 5xx, model not ready, connection failures.
    #[error("Bedrock unavailable: {0}")]
    Unavailable(String),
    /// Access denied, unknown model, request refused as invalid.
    #[error("Bedrock refused the call: {0}")]
    Config(String),
    #[error("Bedrock call failed: {0}")]
    Internal(String),
}

impl BedrockError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BedrockError::Timeout(_) | BedrockError::Throttled | BedrockError::Unavailable(_)
        )
    }

    /// The stable error name of `docs/aws-design.md`.
    pub fn error_type(&self) -> &'static str {
        match self {
            BedrockError::Timeout(_) | BedrockError::Throttled | BedrockError::Unavailable(_) => {
                ERROR_RETRYABLE
            }
            BedrockError::Config(_) => ERROR_CONFIG,
            BedrockError::Internal(_) => ERROR_INTERNAL,
        }
    }
}

/// Why the deterministic sentence was used instead of the model's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FallbackReason {
    /// No signal scored: there is nothing for the model to say.
    #[error("no signal scored")]
    NothingScored,
    /// The reply failed the check.
    #[error("the reply was refused: {0}")]
    Rejected(ReasonRejected),
    /// The reply was cut at `maxTokens`.
    #[error("the reply was cut at the token limit")]
    Truncated,
    /// The reply had no text.
    #[error("the reply had no text")]
    NoText,
    /// The call failed.
    #[error(transparent)]
    Failed(BedrockError),
}

/// Where a reason came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonSource {
    /// The model's reply, checked.
    Model,
    /// No model configured: the deterministic sentence by design.
    Deterministic,
    /// The deterministic sentence, because of this.
    Fallback(FallbackReason),
}

impl ReasonSource {
    /// `model`, `deterministic` or `fallback`, for logs.
    pub fn label(&self) -> &'static str {
        match self {
            ReasonSource::Model => "model",
            ReasonSource::Deterministic => "deterministic",
            ReasonSource::Fallback(_) => "fallback",
        }
    }
}

/// The async reason writer: like [`churn_core::ports::Reasoner`], but for adapters that call a
/// service. Implementations never fail: they fall back to the deterministic sentence.
pub trait AsyncReasoner: Sync {
    fn reason(
        &self,
        breakdown: &[BreakdownEntry],
    ) -> impl Future<Output = (String, ReasonSource)> + Send;
}

impl AsyncReasoner for DeterministicReasoner {
    fn reason(
        &self,
        breakdown: &[BreakdownEntry],
    ) -> impl Future<Output = (String, ReasonSource)> + Send {
        let reason = deterministic_reason(breakdown);
        async move { (reason, ReasonSource::Deterministic) }
    }
}

/// One reason per item, in the items' order, at most `concurrency` (at least 1) at a time.
pub async fn reasons<R: AsyncReasoner>(
    reasoner: &R,
    items: &[ListItem],
    concurrency: usize,
) -> Vec<(String, ReasonSource)> {
    // A named async fn (not a closure returning an async block) keeps the future `Send` for
    // every lifetime, which the engine's `ListReasoner` port needs.
    let calls: Vec<_> = items
        .iter()
        .map(|item| one_reason(reasoner, item))
        .collect();
    futures_util::stream::iter(calls)
        .buffered(concurrency.max(1))
        .collect()
        .await
}

async fn one_reason<R: AsyncReasoner>(reasoner: &R, item: &ListItem) -> (String, ReasonSource) {
    let (reason, source) = reasoner.reason(&item.breakdown).await;
    match &source {
        ReasonSource::Fallback(why) => tracing::info!(
            customer_id = %item.customer_id,
            source = source.label(),
            why = %why,
            "reason written"
        ),
        _ => tracing::debug!(
            customer_id = %item.customer_id,
            source = source.label(),
            "reason written"
        ),
    }
    (reason, source)
}

/// Reasons from Claude on Bedrock (Converse), checked, with the deterministic fallback.
#[derive(Debug, Clone)]
pub struct BedrockReasoner {
    client: Client,
    config: BedrockReasonerConfig,
    system_prompt: String,
}

impl BedrockReasoner {
    /// A reasoner whose client is built from the shared `SdkConfig` (region, credentials,
    /// endpoint), with `config.max_attempts` SDK attempts per call.
    pub fn new(sdk: &SdkConfig, config: BedrockReasonerConfig) -> Self {
        let conf = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.max(1)))
            .build();
        Self::from_client(Client::from_conf(conf), config)
    }

    /// A reasoner over an existing client.
    pub fn from_client(client: Client, config: BedrockReasonerConfig) -> Self {
        let system_prompt = system_prompt(config.voice.as_deref());
        BedrockReasoner {
            client,
            config,
            system_prompt,
        }
    }

    pub fn config(&self) -> &BedrockReasonerConfig {
        &self.config
    }

    /// One reason for this breakdown, and where it came from.
    pub async fn reason(&self, breakdown: &[BreakdownEntry]) -> (String, ReasonSource) {
        let fallback = |why| (deterministic_reason(breakdown), ReasonSource::Fallback(why));
        if !breakdown.iter().any(|e| e.points > 0) {
            return fallback(FallbackReason::NothingScored);
        }
        let reply = match tokio::time::timeout(self.config.timeout, self.converse(breakdown)).await
        {
            Ok(Ok(reply)) => reply,
            Ok(Err(why)) => return fallback(why),
            Err(_) => {
                return fallback(FallbackReason::Failed(BedrockError::Timeout(
                    self.config.timeout,
                )));
            }
        };
        match check_reason(&reply, breakdown) {
            Ok(reason) => (reason, ReasonSource::Model),
            Err(rejected) => fallback(FallbackReason::Rejected(rejected)),
        }
    }

    /// One reason per item, in order, at most `concurrency` calls at a time.
    pub async fn reasons(
        &self,
        items: &[ListItem],
        concurrency: usize,
    ) -> Vec<(String, ReasonSource)> {
        reasons(self, items, concurrency).await
    }

    /// The model's reply text (not yet checked).
    async fn converse(&self, breakdown: &[BreakdownEntry]) -> Result<String, FallbackReason> {
        let failed = |e| FallbackReason::Failed(e);
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(user_prompt(breakdown)))
            .build()
            .map_err(|e| failed(BedrockError::Internal(e.to_string())))?;
        let inference = InferenceConfiguration::builder()
            .max_tokens(self.config.max_tokens)
            .temperature(self.config.temperature)
            .build();
        let out = self
            .client
            .converse()
            .model_id(&self.config.model_id)
            .system(SystemContentBlock::Text(self.system_prompt.clone()))
            .messages(message)
            .inference_config(inference)
            .send()
            .await
            .map_err(|e| failed(map_sdk_error(e)))?;
        if *out.stop_reason() == StopReason::MaxTokens {
            return Err(FallbackReason::Truncated);
        }
        let texts: Vec<&str> = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content()
                    .iter()
                    .filter_map(|b| b.as_text().ok().map(String::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if texts.iter().all(|t| t.trim().is_empty()) {
            return Err(FallbackReason::NoText);
        }
        // Several text blocks are several lines: the check then refuses them.
        Ok(texts.join("\n"))
    }
}

impl AsyncReasoner for BedrockReasoner {
    fn reason(
        &self,
        breakdown: &[BreakdownEntry],
    ) -> impl Future<Output = (String, ReasonSource)> + Send {
        BedrockReasoner::reason(self, breakdown)
    }
}

/// Maps a Converse failure to a [`BedrockError`] (shared with the mood labeller).
pub(crate) fn map_sdk_error(e: SdkError<ConverseError, HttpResponse>) -> BedrockError {
    match &e {
        SdkError::TimeoutError(_) => BedrockError::Timeout(Duration::ZERO),
        SdkError::DispatchFailure(_) => {
            BedrockError::Unavailable("the request was not sent".into())
        }
        SdkError::ResponseError(_) => {
            BedrockError::Unavailable("the response could not be read".into())
        }
        SdkError::ConstructionFailure(_) => {
            BedrockError::Config("the request could not be built".into())
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown").to_string();
            let status = se.raw().status().as_u16();
            match code.as_str() {
                "ThrottlingException" | "ServiceQuotaExceededException" => BedrockError::Throttled,
                "InternalServerException"
                | "ServiceUnavailableException"
                | "ModelNotReadyException"
                | "ModelTimeoutException"
                | "ModelErrorException" => BedrockError::Unavailable(code),
                "AccessDeniedException"
                | "ResourceNotFoundException"
                | "ValidationException"
                | "UnrecognizedClientException" => BedrockError::Config(code),
                _ if status == 429 => BedrockError::Throttled,
                _ if status >= 500 => BedrockError::Unavailable(format!("{code} (HTTP {status})")),
                _ => BedrockError::Internal(format!("{code} (HTTP {status})")),
            }
        }
        _ => BedrockError::Internal("unknown SDK error".into()),
    }
}

/// The system prompt: the voice text and the rules.
fn system_prompt(voice: Option<&str>) -> String {
    let voice = voice.map(str::trim).filter(|v| !v.is_empty());
    let voice: String = voice
        .unwrap_or("Plain and direct, as a colleague would write.")
        .chars()
        .take(MAX_VOICE_CHARS)
        .collect();
    format!(
        "You write the one-line reason why a customer is on this week's churn-risk list, for the \
         colleague who owns the account.\n\
         Voice: {voice}\n\
         Rules: one plain line, at most 200 characters; only the facts given in the breakdown; no \
         numbers not given there; mention only the signals given; no greeting, no names, no \
         markdown, no quotes. Reply with the line only."
    )
}

/// The user message: the scored breakdown entries as JSON, `signal`, `points` and `detail` only.
fn user_prompt(breakdown: &[BreakdownEntry]) -> String {
    let entries: Vec<_> = breakdown
        .iter()
        .filter(|e| e.points > 0)
        .map(|e| {
            let detail: String = e.detail.chars().take(MAX_DETAIL_CHARS).collect();
            json!({"signal": e.signal, "points": e.points, "detail": detail})
        })
        .collect();
    format!(
        "The signals that scored, as JSON:\n{}",
        json!({ "breakdown": entries })
    )
}

/// Reasons in flight at once for one list: a whole capped list in one wave, so a handoff waits
/// about one model reply; a throttled call falls back to the deterministic reason.
pub const REASON_CONCURRENCY: usize = 10;

/// `BedrockReasoner` as the Monday engine's reasoner.
impl churn_core::ports::ListReasoner for BedrockReasoner {
    async fn write_reasons(&self, items: &mut [ListItem]) {
        let reasons = self.reasons(items, REASON_CONCURRENCY).await;
        for (item, (reason, _)) in items.iter_mut().zip(reasons) {
            item.reason = reason;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_core::model::Facts;

    fn entry(signal: &str, points: u32, detail: &str) -> BreakdownEntry {
        BreakdownEntry {
            signal: signal.into(),
            points,
            value: None,
            detail: detail.into(),
            facts: Facts::NoData,
        }
    }

    #[test]
    fn prompt_has_only_scored_entries_and_three_fields() {
        let b = vec![
            entry("support_mood", 25, "sour (-0.45)"),
            entry("silent", 0, "no data"),
        ];
        let p = user_prompt(&b);
        let json_part = p.split_once('\n').unwrap().1;
        let v: serde_json::Value = serde_json::from_str(json_part).unwrap();
        assert_eq!(
            v,
            json!({"breakdown": [{"signal": "support_mood", "points": 25, "detail": "sour (-0.45)"}]})
        );
    }

    #[test]
    fn system_prompt_carries_voice_and_rules() {
        let s = system_prompt(Some("  Warm, direct.  "));
        assert!(s.contains("Voice: Warm, direct.\n"));
        assert!(s.contains("one plain line, at most 200 characters"));
        assert!(s.contains("no greeting"));
        assert!(system_prompt(None).contains("Voice: Plain and direct"));
    }

    #[test]
    fn error_names() {
        assert_eq!(BedrockError::Throttled.error_type(), ERROR_RETRYABLE);
        assert!(BedrockError::Timeout(Duration::from_secs(4)).is_retryable());
        assert_eq!(
            BedrockError::Config("AccessDeniedException".into()).error_type(),
            ERROR_CONFIG
        );
        assert!(!BedrockError::Internal("x".into()).is_retryable());
    }

    #[tokio::test]
    async fn deterministic_reasoner_keeps_order() {
        let item = |id: &str, b: Vec<BreakdownEntry>| ListItem {
            customer_id: id.into(),
            name: "N".into(),
            band: churn_core::model::Band::AtRisk,
            score: 1,
            reason: String::new(),
            breakdown: b,
            lifetime_value: None,
            rules_version: "v1".into(),
        };
        let mood = BreakdownEntry {
            facts: Facts::Mood {
                mood: -0.45,
                label: "sour".into(),
            },
            ..entry("support_mood", 25, "sour (-0.45)")
        };
        let items = vec![item("a", vec![mood]), item("b", vec![])];
        let got = reasons(&DeterministicReasoner, &items, 4).await;
        assert_eq!(got[0].0, "Support mood sour.");
        assert_eq!(got[1].0, "No signal scored this week.");
        assert!(got.iter().all(|(_, s)| *s == ReasonSource::Deterministic));
    }
}
