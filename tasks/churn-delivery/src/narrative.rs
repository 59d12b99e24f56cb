//! The monthly summary's narrative (docs/SPEC.md §9) by Claude on Bedrock, through the Converse API.
//!
//! The model gets the month's counts as JSON and nothing else — no names, emails or customer
//! ids ([`churn_core::reports::summary::narrative_prompt`]). Its paragraph is used only when every number
//! in it is one of the counts ([`churn_core::reports::summary::choose_paragraph`]); a refused paragraph, a
//! cut-off reply, a throttle, a timeout or any error gives the template paragraph, so the
//! summary always goes out.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, StopReason, SystemContentBlock,
};
use churn_core::reports::summary::{
    MonthCounts, ParagraphSource, choose_paragraph, narrative_prompt,
};

use crate::bedrock::{BedrockError, DEFAULT_MODEL_ID, map_sdk_error};

/// How the narrator calls the model.
#[derive(Debug, Clone, PartialEq)]
pub struct NarratorConfig {
    /// Model or inference-profile id.
    pub model_id: String,
    /// Deadline for the whole call, SDK retries included.
    pub timeout: Duration,
    pub max_tokens: i32,
    pub temperature: f32,
    /// SDK attempts (1 = no SDK retry), all within `timeout`.
    pub max_attempts: u32,
}

impl Default for NarratorConfig {
    fn default() -> Self {
        NarratorConfig {
            model_id: DEFAULT_MODEL_ID.to_string(),
            timeout: Duration::from_secs(20),
            max_tokens: 400,
            temperature: 0.3,
            max_attempts: 3,
        }
    }
}

/// Writes the month's paragraph with Claude on Bedrock, checked, with the template fallback.
#[derive(Debug, Clone)]
pub struct BedrockNarrator {
    client: Client,
    config: NarratorConfig,
}

impl BedrockNarrator {
    /// A narrator whose client is built from the shared `SdkConfig`.
    pub fn new(sdk: &SdkConfig, config: NarratorConfig) -> Self {
        let conf = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.max(1)))
            .build();
        BedrockNarrator {
            client: Client::from_conf(conf),
            config,
        }
    }

    pub fn config(&self) -> &NarratorConfig {
        &self.config
    }

    /// The month's paragraph and where it came from. Never fails.
    pub async fn paragraph(&self, counts: &MonthCounts) -> (String, ParagraphSource) {
        let reply = match tokio::time::timeout(self.config.timeout, self.converse(counts)).await {
            Ok(r) => r,
            Err(_) => Err(BedrockError::Timeout(self.config.timeout).to_string()),
        };
        let (text, source) = choose_paragraph(counts, Some(reply));
        if let ParagraphSource::Fallback(why) = &source {
            tracing::warn!(month = %counts.month, why = %why, "summary narrative fell back to the template");
        }
        (text, source)
    }

    /// The model's reply (not yet checked), or why there is none.
    async fn converse(&self, counts: &MonthCounts) -> Result<String, String> {
        let (system, user) = narrative_prompt(counts);
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(user))
            .build()
            .map_err(|e| BedrockError::Internal(e.to_string()).to_string())?;
        let out = self
            .client
            .converse()
            .model_id(&self.config.model_id)
            .system(SystemContentBlock::Text(system))
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(self.config.max_tokens)
                    .temperature(self.config.temperature)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_sdk_error(e).to_string())?;
        if *out.stop_reason() == StopReason::MaxTokens {
            return Err("the reply was cut at the token limit".into());
        }
        let text: Vec<&str> = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content()
                    .iter()
                    .filter_map(|b| b.as_text().ok().map(String::as_str))
                    .collect()
            })
            .unwrap_or_default();
        // Several text blocks are several paragraphs: the check then refuses them.
        Ok(text.join("\n\n"))
    }
}
