//! The mood-reader task (SPEC §8): an S3 put event from SES inbound (the raw MIME object in the
//! inbound bucket) → the message read → the customer found in the list mirror (`customers.csv` in
//! the list bucket) by Reply-To, From, then the forwarded original sender → Haiku's label →
//! `support_mood` blended and stored in `cp-state` with a `mood` audit item, the Message-ID
//! counted once ([`DynamoDbMoodStore`]). It never replies to anyone.
//!
//! Unreadable and unmatched mail is recorded in the seen table with the reason and logged (no
//! mood, not an error: a retry would read it the same way). A Bedrock or DynamoDB failure is a
//! task error: nothing was written, and the asynchronous invocation's retries, then its
//! on-failure destination (the DLQ), keep the event.
//!
//! The sheet write-back goes through [`MoodSheet`]; until a Sheets adapter is wired in, the
//! default [`NoSheetWriteBack`] only logs that the sheet was not updated (cp-state holds the mood).

use std::future::Future;
use std::pin::Pin;

use churn_aws::mood::{DynamoDbMoodStore, MoodWrite, MoodWritten};
use churn_aws::{AwsClients, TableNames};
use churn_core::clock::AuditClock;
use churn_core::csv_sheet::Sheet;
use churn_core::mail::{MAX_MESSAGE_BYTES, Unreadable, parse_mail};
use churn_core::mood::{Match, MoodLabel, blend, find_customer};
use churn_delivery::mood::{BedrockMoodConfig, BedrockMoodLabeller};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::error::TaskError;

/// Writes a customer's mood back to the sheet, by customer id (the Sheets adapter implements
/// it; SPEC §8 "writes it back (by customer id, as above)").
pub trait MoodSheet: Send + Sync {
    fn write_mood<'a>(
        &'a self,
        customer_id: &'a str,
        mood: f64,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// No sheet write-back configured: logs it; the mood stays in `cp-state`.
pub struct NoSheetWriteBack;

impl MoodSheet for NoSheetWriteBack {
    fn write_mood<'a>(
        &'a self,
        customer_id: &'a str,
        _mood: f64,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            tracing::info!(
                customer_id,
                "no sheet write-back configured; mood kept in cp-state"
            );
            Ok(())
        })
    }
}

/// What the task needs, built once per container.
pub struct MoodApp {
    pub clients: AwsClients,
    pub store: DynamoDbMoodStore,
    pub labeller: BedrockMoodLabeller,
    pub list_bucket: String,
    pub list_key: String,
    pub sheet: Box<dyn MoodSheet>,
    clock: Mutex<AuditClock>,
}

fn env(name: &'static str) -> Result<String, TaskError> {
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

impl MoodApp {
    /// From parts (tests, or a Lambda with a Sheets adapter wired in).
    pub fn new(
        clients: AwsClients,
        store: DynamoDbMoodStore,
        labeller: BedrockMoodLabeller,
        list_bucket: &str,
        list_key: &str,
        sheet: Box<dyn MoodSheet>,
    ) -> MoodApp {
        MoodApp {
            clients,
            store,
            labeller,
            list_bucket: list_bucket.into(),
            list_key: list_key.into(),
            sheet,
            clock: Mutex::new(AuditClock::default()),
        }
    }

    /// From the environment: `STATE_TABLE`, `AUDIT_TABLE`, `MAIL_SEEN_TABLE`, `LIST_BUCKET`,
    /// `LIST_KEY` (default `customers.csv`), `MODEL_ID` (default Haiku 4.5), `S3_FORCE_PATH_STYLE`.
    pub async fn from_env() -> Result<MoodApp, TaskError> {
        let sdk = churn_aws::load_sdk_config().await;
        let path_style =
            std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true" || v == "1");
        let clients = AwsClients::with_path_style(&sdk, path_style);
        let tables = TableNames {
            state: env("STATE_TABLE")?,
            audit: env("AUDIT_TABLE")?,
            runs: String::new(),
        };
        let mut config = BedrockMoodConfig::default();
        if let Ok(m) = std::env::var("MODEL_ID")
            && !m.trim().is_empty()
        {
            config.model_id = m;
        }
        if let Some(ms) = std::env::var("BEDROCK_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.timeout = std::time::Duration::from_millis(ms);
        }
        Ok(MoodApp {
            store: DynamoDbMoodStore::new(&clients, &tables, &env("MAIL_SEEN_TABLE")?),
            labeller: BedrockMoodLabeller::new(&sdk, config),
            list_bucket: env("LIST_BUCKET")?,
            list_key: std::env::var("LIST_KEY").unwrap_or_else(|_| "customers.csv".into()),
            clients,
            sheet: Box::new(NoSheetWriteBack),
            clock: Mutex::new(AuditClock::default()),
        })
    }
}

/// One message's result (ids only: no address or text).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum MailResult {
    Written {
        key: String,
        customer_id: String,
        label: MoodLabel,
        after: f64,
    },
    Duplicate {
        key: String,
    },
    Unmatched {
        key: String,
        reason: String,
    },
    Unreadable {
        key: String,
        reason: String,
    },
}

/// The task's output.
#[derive(Debug, Serialize)]
pub struct MoodOutput {
    pub messages: Vec<MailResult>,
}

fn content_key(raw: &[u8]) -> String {
    let hex: String = Sha256::digest(raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn state_err(e: churn_aws::StateError) -> TaskError {
    crate::task_error!(e)
}

async fn get_bytes(app: &MoodApp, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, TaskError> {
    let out = app
        .clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            let f = churn_aws::AwsFailure::from_sdk("S3.GetObject", &e);
            TaskError::new(
                f.error_type(),
                format!("S3.GetObject {key}: {}", f.code.clone().unwrap_or_default()),
            )
        })?;
    if out.content_length().unwrap_or(0) as u64 > MAX_MESSAGE_BYTES as u64 {
        return Ok(None);
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| TaskError::new("churn.Retryable", format!("S3 body: {e}")))?
        .into_bytes();
    Ok(Some(bytes.to_vec()))
}

/// Handles one S3 event.
pub async fn handle(app: &MoodApp, event: Value) -> Result<MoodOutput, TaskError> {
    let mut messages = Vec::new();
    for (bucket, key) in crate::payload::s3_objects(&event)? {
        messages.push(read_one(app, &bucket, &key).await?);
    }
    Ok(MoodOutput { messages })
}

async fn tick(app: &MoodApp) -> String {
    app.clock.lock().await.tick()
}

async fn read_one(app: &MoodApp, bucket: &str, key: &str) -> Result<MailResult, TaskError> {
    let Some(raw) = get_bytes(app, bucket, key).await? else {
        let why = Unreadable::TooLarge {
            bytes: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES,
        };
        let id = format!("s3:{bucket}/{key}");
        app.store
            .record_skip(&id, "unreadable", &why.to_string(), &tick(app).await)
            .await
            .map_err(state_err)?;
        tracing::warn!(key, reason = why.code(), "support mail not read");
        return Ok(MailResult::Unreadable {
            key: key.into(),
            reason: why.to_string(),
        });
    };
    let mail = match parse_mail(&raw) {
        Ok(m) => m,
        Err(why) => {
            app.store
                .record_skip(
                    &content_key(&raw),
                    "unreadable",
                    &why.to_string(),
                    &tick(app).await,
                )
                .await
                .map_err(state_err)?;
            tracing::warn!(key, reason = why.code(), "support mail not read");
            return Ok(MailResult::Unreadable {
                key: key.into(),
                reason: why.to_string(),
            });
        }
    };
    if app
        .store
        .seen(&mail.message_id)
        .await
        .map_err(state_err)?
        .is_some_and(|s| s.outcome == "mood")
    {
        tracing::info!(key, "support mail already counted");
        return Ok(MailResult::Duplicate { key: key.into() });
    }
    let list = get_bytes(app, &app.list_bucket, &app.list_key)
        .await?
        .ok_or_else(|| TaskError::new("churn.BadList", "the customer list is over 40 MB"))?;
    let sheet = Sheet::new(&list).map_err(|e| TaskError::new("churn.BadList", e.to_string()))?;
    let found = find_customer(&sheet, &mail.candidates())
        .map_err(|e| TaskError::new("churn.BadList", e.to_string()))?;
    let (customer_id, sheet_mood) = match found {
        Match::Customer {
            customer_id, mood, ..
        } => (customer_id, mood),
        Match::Unmatched | Match::Ambiguous { .. } => {
            let reason = match found {
                Match::Ambiguous { count } => {
                    format!("{count} customers share the sender's address")
                }
                _ => "no customer has the sender's address".to_string(),
            };
            app.store
                .record_skip(&mail.message_id, "unmatched", &reason, &tick(app).await)
                .await
                .map_err(state_err)?;
            tracing::info!(key, "support mail sender not in the list");
            return Ok(MailResult::Unmatched {
                key: key.into(),
                reason,
            });
        }
    };
    if sheet.column("support_mood").is_none() {
        tracing::warn!(
            customer_id,
            "the sheet has no support_mood column; the mood is kept in cp-state only"
        );
    }
    let label = app
        .labeller
        .label(&mail.ticket_text())
        .await
        .map_err(|e| TaskError::new(e.error_type(), e.to_string()))?;
    // A concurrent ticket for the same customer makes the conditional write stale: re-read, blend.
    for _ in 0..3 {
        let stored = app
            .store
            .stored_mood(&customer_id)
            .await
            .map_err(state_err)?;
        let before = stored.or(sheet_mood);
        let after = blend(before, label);
        let write = MoodWrite {
            message_id: mail.message_id.clone(),
            customer_id: customer_id.clone(),
            label: label.as_str().into(),
            before: stored,
            after,
            ts: tick(app).await,
        };
        match app.store.write_mood(&write).await.map_err(state_err)? {
            MoodWritten::Written => {
                tracing::info!(customer_id, label = label.as_str(), "support mood written");
                if let Err(e) = app.sheet.write_mood(&customer_id, after).await {
                    tracing::error!(customer_id, error = %e, "sheet write-back failed; cp-state holds the mood");
                }
                return Ok(MailResult::Written {
                    key: key.into(),
                    customer_id,
                    label,
                    after,
                });
            }
            MoodWritten::Duplicate => return Ok(MailResult::Duplicate { key: key.into() }),
            MoodWritten::Stale => continue,
        }
    }
    Err(TaskError::new(
        "churn.Retryable",
        format!("customer {customer_id}: support_mood kept changing; try again"),
    ))
}
