//! The mood-reader task (docs/SPEC.md §8): an S3 put event from SES inbound (the raw MIME object in the
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
//! The mood then goes back to the sheet's `support_mood` cell ([`MoodSheet`]; on AWS
//! [`SheetsMoodSheet`]: the row found by customer id in a `values.get` just before one RAW
//! `values.batchUpdate`; a sheet without the column is left alone). cp-state is written first and
//! is the source of truth: when the sheet write fails, the event fails and its retry, finding the
//! message already counted, copies the stored mood to the sheet.

use std::future::Future;
use std::pin::Pin;

use churn_aws::mood::{DynamoDbMoodStore, MoodWrite, MoodWritten};
use churn_aws::{AwsClients, TableNames};
use churn_core::ingest::mail::{MAX_MESSAGE_BYTES, SenderPolicy, Unreadable, parse_mail};
use churn_core::ingest::mood::{Match, MoodLabel, blend, find_customer, format_mood};
use churn_core::ingest::order_import::ListTable;
use churn_core::list::csv_sheet::Sheet;
use churn_core::run::clock::AuditClock;
use churn_delivery::mood::{BedrockMoodConfig, BedrockMoodLabeller};
use churn_google::{Endpoints, GoogleClient, a1};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OnceCell};

use crate::app::env;
use crate::drive_sync::{google_client, google_error};
use crate::error::TaskError;

/// What a sheet write-back did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SheetWrite {
    Written,
    /// The cell already held the value.
    Unchanged,
    /// The sheet has no `support_mood` column (it is never added).
    NoColumn,
    /// No row, or more than one, has the customer id.
    NoRow,
    /// No write-back is configured.
    Off,
}

/// Writes a customer's mood back to the sheet, by customer id (docs/SPEC.md §8 "writes it back (by
/// customer id, as above)"). Idempotent: writing the same mood twice changes nothing.
pub trait MoodSheet: Send + Sync {
    fn write_mood<'a>(
        &'a self,
        customer_id: &'a str,
        mood: f64,
    ) -> Pin<Box<dyn Future<Output = Result<SheetWrite, TaskError>> + Send + 'a>>;
}

/// No sheet write-back configured (no `SHEET_ID`): the mood stays in `cp-state`.
pub struct NoSheetWriteBack;

impl MoodSheet for NoSheetWriteBack {
    fn write_mood<'a>(
        &'a self,
        _customer_id: &'a str,
        _mood: f64,
    ) -> Pin<Box<dyn Future<Output = Result<SheetWrite, TaskError>> + Send + 'a>> {
        Box::pin(async { Ok(SheetWrite::Off) })
    }
}

/// The range read before writing: the first tab, every column a sheet plausibly has.
const SHEET_RANGE: &str = "A1:ZZ";

/// The Google Sheet's `support_mood` cell through the Sheets API, as the drive-sync service
/// account (key in Secrets Manager, read on first use).
pub struct SheetsMoodSheet {
    clients: AwsClients,
    secret: String,
    endpoints: Endpoints,
    sheet_id: String,
    google: OnceCell<GoogleClient>,
}

impl SheetsMoodSheet {
    pub fn new(clients: &AwsClients, secret: &str, endpoints: Endpoints, sheet_id: &str) -> Self {
        SheetsMoodSheet {
            clients: clients.clone(),
            secret: secret.into(),
            endpoints,
            sheet_id: sheet_id.into(),
            google: OnceCell::new(),
        }
    }

    async fn write(&self, customer_id: &str, mood: f64) -> Result<SheetWrite, TaskError> {
        let google = self
            .google
            .get_or_try_init(|| google_client(&self.clients, &self.secret, &self.endpoints))
            .await?;
        // Read just before writing: people sort sheets, so rows are never remembered.
        let rows = google
            .values_get(&self.sheet_id, SHEET_RANGE)
            .await
            .map_err(google_error)?;
        let Some((header_row, table)) = ListTable::from_rows(rows) else {
            return Ok(SheetWrite::NoRow);
        };
        let Some(col) = table.column("support_mood") else {
            return Ok(SheetWrite::NoColumn);
        };
        let [row] = table.rows_of(customer_id)[..] else {
            return Ok(SheetWrite::NoRow);
        };
        let value = format_mood(mood);
        let current = table.rows[row].get(col).map(|c| c.trim()).unwrap_or("");
        if current.parse::<f64>().ok().map(format_mood).as_deref() == Some(value.as_str()) {
            return Ok(SheetWrite::Unchanged);
        }
        google
            .values_batch_update(&self.sheet_id, &[(a1(col, header_row + 1 + row), value)])
            .await
            .map_err(google_error)?;
        Ok(SheetWrite::Written)
    }
}

impl MoodSheet for SheetsMoodSheet {
    fn write_mood<'a>(
        &'a self,
        customer_id: &'a str,
        mood: f64,
    ) -> Pin<Box<dyn Future<Output = Result<SheetWrite, TaskError>> + Send + 'a>> {
        Box::pin(self.write(customer_id, mood))
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
    /// Which senders count (docs/SPEC.md §8 "Who sent it"): SES verdicts required; helpdesk
    /// domains from `HELPDESK_DOMAINS`.
    pub policy: SenderPolicy,
    clock: Mutex<AuditClock>,
}

/// `HELPDESK_DOMAINS`: a comma- or space-separated list of domains, lower-cased (`-`: none, the
/// stack parameter's default).
pub fn helpdesk_domains(value: &str) -> Vec<String> {
    value
        .split([',', ' ', ';'])
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty() && d != "-")
        .collect()
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
            policy: SenderPolicy {
                ses: true,
                helpdesk_domains: Vec::new(),
            },
            clock: Mutex::new(AuditClock::default()),
        }
    }

    /// From the environment: `STATE_TABLE`, `AUDIT_TABLE`, `MAIL_SEEN_TABLE`, `LIST_BUCKET`,
    /// `LIST_KEY` (default `customers.csv`), `MODEL_ID` (default Haiku 4.5), `S3_FORCE_PATH_STYLE`,
    /// `HELPDESK_DOMAINS` (default none);
    /// with `SHEET_ID` (and `GOOGLE_SECRET`, default `cp/keys#google_service_account`; `GOOGLE_SHEETS_URL` in
    /// tests) the mood is written back to the sheet.
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
            sheet: sheet_from_env(&clients),
            policy: SenderPolicy {
                ses: true,
                helpdesk_domains: helpdesk_domains(
                    &std::env::var("HELPDESK_DOMAINS").unwrap_or_default(),
                ),
            },
            clients,
            clock: Mutex::new(AuditClock::default()),
        })
    }
}

fn sheet_from_env(clients: &AwsClients) -> Box<dyn MoodSheet> {
    sheet_for(clients, std::env::var("SHEET_ID").ok().as_deref())
}

/// The write-back for the setting `SHEET_ID`: none when it is absent or blank (a deploy without
/// Google Drive passes it empty, template.yaml `CustomerSheetId`), else the Sheets API with the
/// key named by `GOOGLE_SECRET`.
pub fn sheet_for(clients: &AwsClients, sheet_id: Option<&str>) -> Box<dyn MoodSheet> {
    let Some(sheet_id) = sheet_id.map(str::trim).filter(|v| !v.is_empty()) else {
        return Box::new(NoSheetWriteBack);
    };
    let mut endpoints = Endpoints::default();
    if let Ok(u) = std::env::var("GOOGLE_SHEETS_URL") {
        endpoints.sheets = u;
    }
    let secret =
        std::env::var("GOOGLE_SECRET").unwrap_or_else(|_| "cp/keys#google_service_account".into());
    Box::new(SheetsMoodSheet::new(clients, &secret, endpoints, sheet_id))
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
        sheet: SheetWrite,
    },
    Duplicate {
        key: String,
        /// The stored mood copied to the sheet again (a retry after a failed sheet write).
        sheet: SheetWrite,
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

/// The mood to the sheet; a failure fails the event (cp-state already holds the mood, and the
/// retry copies it).
async fn write_sheet(app: &MoodApp, customer_id: &str, mood: f64) -> Result<SheetWrite, TaskError> {
    match app.sheet.write_mood(customer_id, mood).await {
        Ok(w) => {
            match w {
                SheetWrite::NoColumn => tracing::warn!(
                    customer_id,
                    "the sheet has no support_mood column; the mood is kept in cp-state only"
                ),
                SheetWrite::NoRow => tracing::warn!(
                    customer_id,
                    "the sheet has no single row with this customer id; the mood is kept in cp-state only"
                ),
                _ => tracing::info!(customer_id, sheet = ?w, "sheet write-back"),
            }
            Ok(w)
        }
        Err(e) => {
            tracing::error!(
                customer_id,
                error_type = e.kind,
                "sheet write-back failed; cp-state holds the mood"
            );
            Err(e)
        }
    }
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
    if let Some(seen) = app.store.seen(&mail.message_id).await.map_err(state_err)?
        && seen.outcome == "mood"
    {
        tracing::info!(key, "support mail already counted");
        // The sheet write may be what failed last time: copy the stored mood (idempotent).
        let mut sheet = SheetWrite::Unchanged;
        if let Some(customer_id) = seen.customer_id.as_deref()
            && let Some(mood) = app
                .store
                .stored_mood(customer_id)
                .await
                .map_err(state_err)?
        {
            sheet = write_sheet(app, customer_id, mood).await?;
        }
        return Ok(MailResult::Duplicate {
            key: key.into(),
            sheet,
        });
    }
    let candidates = match mail.trusted_candidates(&app.policy) {
        Ok(c) => c,
        Err(why) => {
            let reason = format!("no trusted sender: {why}");
            app.store
                .record_skip(&mail.message_id, "unmatched", &reason, &tick(app).await)
                .await
                .map_err(state_err)?;
            tracing::warn!(
                key,
                reason = why.code(),
                "support mail sender not trusted; no mood written"
            );
            return Ok(MailResult::Unmatched {
                key: key.into(),
                reason,
            });
        }
    };
    let list = get_bytes(app, &app.list_bucket, &app.list_key)
        .await?
        .ok_or_else(|| TaskError::new("churn.BadList", "the customer list is over 40 MB"))?;
    let sheet = Sheet::new(&list).map_err(|e| TaskError::new("churn.BadList", e.to_string()))?;
    let found = find_customer(&sheet, &candidates)
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
                let sheet = write_sheet(app, &customer_id, after).await?;
                return Ok(MailResult::Written {
                    key: key.into(),
                    customer_id,
                    label,
                    after,
                    sheet,
                });
            }
            MoodWritten::Duplicate => {
                return Ok(MailResult::Duplicate {
                    key: key.into(),
                    sheet: SheetWrite::Unchanged,
                });
            }
            MoodWritten::Stale => continue,
        }
    }
    Err(TaskError::new(
        "churn.Retryable",
        format!("customer {customer_id}: support_mood kept changing; try again"),
    ))
}
