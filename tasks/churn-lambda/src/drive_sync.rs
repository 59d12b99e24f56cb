//! drive-sync (docs/SPEC.md §8), every 15 minutes: for the customer sheet and the rules and voice docs,
//! Drive `files.get` decides whether anything changed since the last sync; only then the file is
//! exported and written to S3 with its Drive version in the object metadata. The sheet goes to
//! the list bucket with its validation report beside it; a rules doc is published only when it
//! parses, and the admin is told once per bad version (and what a published one changes).
//!
//! What was synced is remembered in `drive-sync/memo.json` in the rules bucket.

use std::collections::BTreeMap;

use churn_aws::{
    AwsClients, ObjectError, S3ObjectStore, SecretsManagerSecrets, SesMailer, SsmConfig,
};
use churn_core::ingest::drive_sync::{
    AdminNotice, FileMemo, RulesDecision, check_sheet, decide_rules,
};
use churn_core::list::customers::ReadOptions;
use churn_core::notify::message::EmailBody;
use churn_google::{Endpoints, GoogleClient, GoogleError, ServiceAccountKey};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::app::env;
use crate::error::TaskError;

/// Where the memo lives (rules bucket).
pub const MEMO_KEY: &str = "drive-sync/memo.json";

/// drive-sync's settings, from the environment.
#[derive(Debug, Clone)]
pub struct SyncEnv {
    pub list_bucket: String,
    pub rules_bucket: String,
    pub sheet_id: String,
    pub rules_doc_id: String,
    pub voice_doc_id: String,
    /// Secrets Manager name of the service-account key (`cp/keys#google_service_account`).
    pub google_secret: String,
    pub endpoints: Endpoints,
    pub config_path: String,
}

impl SyncEnv {
    /// Reads the settings; `GOOGLE_DRIVE_URL`/`GOOGLE_SHEETS_URL` override the APIs (tests).
    pub fn from_env() -> Result<SyncEnv, TaskError> {
        let mut endpoints = Endpoints::default();
        if let Ok(u) = std::env::var("GOOGLE_DRIVE_URL") {
            endpoints.drive = u;
        }
        if let Ok(u) = std::env::var("GOOGLE_SHEETS_URL") {
            endpoints.sheets = u;
        }
        Ok(SyncEnv {
            list_bucket: env("LIST_BUCKET")?,
            rules_bucket: env("RULES_BUCKET")?,
            sheet_id: env("SHEET_ID")?,
            rules_doc_id: env("RULES_DOC_ID")?,
            voice_doc_id: env("VOICE_DOC_ID")?,
            google_secret: std::env::var("GOOGLE_SECRET")
                .unwrap_or_else(|_| "cp/keys#google_service_account".into()),
            endpoints,
            config_path: std::env::var("CONFIG_PATH").unwrap_or_else(|_| "/cp/config/".into()),
        })
    }
}

/// What a container keeps between invocations.
pub struct SyncApp {
    pub env: SyncEnv,
    pub clients: AwsClients,
    google: OnceCell<GoogleClient>,
    config: OnceCell<SsmConfig>,
}

impl SyncApp {
    pub fn new(env: SyncEnv, clients: AwsClients) -> SyncApp {
        SyncApp {
            env,
            clients,
            google: OnceCell::new(),
            config: OnceCell::new(),
        }
    }

    /// The Google client, built once from the secret (the token is cached inside it).
    pub async fn google(&self) -> Result<&GoogleClient, TaskError> {
        self.google
            .get_or_try_init(|| {
                google_client(&self.clients, &self.env.google_secret, &self.env.endpoints)
            })
            .await
    }

    /// Uses `config` instead of reading Parameter Store (tests, and callers that already have it).
    pub fn with_config(mut self, config: SsmConfig) -> SyncApp {
        self.config = OnceCell::new_with(Some(config));
        self
    }

    pub async fn config(&self) -> Result<&SsmConfig, TaskError> {
        self.config
            .get_or_try_init(|| async {
                SsmConfig::load(&self.clients.ssm, &self.env.config_path)
                    .await
                    .map_err(|e| crate::task_error!(e))
            })
            .await
    }
}

/// A Google client from the service-account key in Secrets Manager (`secret`: its name or ARN).
pub async fn google_client(
    clients: &AwsClients,
    secret: &str,
    endpoints: &Endpoints,
) -> Result<GoogleClient, TaskError> {
    let secret = SecretsManagerSecrets::new(clients)
        .get(secret)
        .await
        .map_err(|e| crate::task_error!(e))?;
    let key = ServiceAccountKey::from_json(secret.expose()).map_err(google_error)?;
    GoogleClient::new(key, endpoints.clone()).map_err(google_error)
}

/// A Google failure as a task error: throttling and outages are retryable, the rest are not.
pub fn google_error(e: GoogleError) -> TaskError {
    let kind = match e {
        GoogleError::Unavailable { .. } | GoogleError::Http(_) => "churn.Retryable",
        GoogleError::Credentials(_) | GoogleError::Auth { .. } | GoogleError::Forbidden { .. } => {
            "churn.Config"
        }
        _ => "churn.BadInput",
    };
    TaskError::new(kind, e.to_string())
}

/// What one sync did, per file.
#[derive(Debug, Serialize, PartialEq)]
pub struct SyncOutcome {
    pub sheet: String,
    pub rules: String,
    pub voice: String,
    /// Admin notices sent in this run.
    pub notices: usize,
}

/// One scheduled sync.
pub async fn handle(app: &SyncApp, _event: Value) -> Result<SyncOutcome, TaskError> {
    let s3 = S3ObjectStore::new(&app.clients);
    let e = &app.env;
    let mut memo: BTreeMap<String, FileMemo> = match s3.get_text(&e.rules_bucket, MEMO_KEY).await {
        Ok(t) => serde_json::from_str(&t.text)
            .map_err(|err| TaskError::internal(format!("{MEMO_KEY} is unreadable: {err}")))?,
        Err(ObjectError::NotFound { .. }) => BTreeMap::new(),
        Err(err) => return Err(crate::task_error!(err)),
    };
    let google = app.google().await?;
    let config = app.config().await?;
    let opts = ReadOptions {
        date_order: config.date_order,
        tz: jiff::tz::TimeZone::get(&config.timezone).unwrap_or(jiff::tz::TimeZone::UTC),
    };
    let mut notices: Vec<AdminNotice> = Vec::new();

    // The sheet.
    let m = memo.entry("sheet".into()).or_default();
    let meta = google.file_meta(&e.sheet_id).await.map_err(google_error)?;
    let sheet = if m.is_new(&meta.version) {
        let csv = google
            .export(&e.sheet_id, "text/csv")
            .await
            .map_err(google_error)?;
        let report = check_sheet(&csv, opts.clone(), &meta.version);
        put(
            &s3,
            &e.list_bucket,
            "customers.csv",
            csv,
            "text/csv; charset=utf-8",
            &meta.version,
        )
        .await?;
        let json =
            serde_json::to_vec_pretty(&report).map_err(|x| TaskError::internal(x.to_string()))?;
        put(
            &s3,
            &e.list_bucket,
            "customers.report.json",
            json,
            "application/json",
            &meta.version,
        )
        .await?;
        if report.not_first_tab && m.notified_version.as_deref() != Some(&meta.version) {
            notices.push(AdminNotice {
                subject: "Churn customer sheet: the customer list is not on the first tab".into(),
                text: report.error.clone().unwrap_or_default(),
            });
            m.notified_version = Some(meta.version.clone());
        }
        m.synced_version = Some(meta.version.clone());
        tracing::info!(version = %meta.version, ok = report.ok, bad = report.bad, "sheet mirrored");
        if report.ok {
            "mirrored"
        } else {
            "mirrored_with_problems"
        }
    } else {
        "unchanged"
    };

    // The rules doc.
    let m = memo.entry("rules".into()).or_default();
    let meta = google
        .file_meta(&e.rules_doc_id)
        .await
        .map_err(google_error)?;
    let rules = if m.is_new(&meta.version) {
        let bytes = google
            .export(&e.rules_doc_id, "text/plain")
            .await
            .map_err(google_error)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let previous = match s3.get_text(&e.rules_bucket, "rules.txt").await {
            Ok(t) => Some(t.text),
            Err(ObjectError::NotFound { .. }) => None,
            Err(err) => return Err(crate::task_error!(err)),
        };
        match decide_rules(&text, &meta.version, m, previous.as_deref()) {
            RulesDecision::Publish { rules, notice } => {
                put(
                    &s3,
                    &e.rules_bucket,
                    "rules.txt",
                    bytes,
                    "text/plain; charset=utf-8",
                    &meta.version,
                )
                .await?;
                m.synced_version = Some(meta.version.clone());
                m.refused_version = None;
                notices.push(notice);
                tracing::info!(version = %meta.version, rules_version = %rules.version, "rules published");
                "published"
            }
            RulesDecision::Refuse { errors, notice } => {
                m.refused_version = Some(meta.version.clone());
                if let Some(n) = notice {
                    notices.push(n);
                    m.notified_version = Some(meta.version.clone());
                }
                tracing::warn!(version = %meta.version, errors = errors.len(), "rules refused");
                "refused"
            }
        }
    } else {
        "unchanged"
    };

    // The voice doc: free text, mirrored as it is.
    let m = memo.entry("voice".into()).or_default();
    let meta = google
        .file_meta(&e.voice_doc_id)
        .await
        .map_err(google_error)?;
    let voice = if m.is_new(&meta.version) {
        let bytes = google
            .export(&e.voice_doc_id, "text/plain")
            .await
            .map_err(google_error)?;
        put(
            &s3,
            &e.rules_bucket,
            "voice.txt",
            bytes,
            "text/plain; charset=utf-8",
            &meta.version,
        )
        .await?;
        m.synced_version = Some(meta.version.clone());
        "mirrored"
    } else {
        "unchanged"
    };

    let sent = notices.len();
    if !notices.is_empty() {
        notify(app, config, &notices).await?;
    }
    s3.put_json(&e.rules_bucket, MEMO_KEY, &memo)
        .await
        .map_err(|err| crate::task_error!(err))?;
    Ok(SyncOutcome {
        sheet: sheet.into(),
        rules: rules.into(),
        voice: voice.into(),
        notices: sent,
    })
}

async fn put(
    s3: &S3ObjectStore,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
    version: &str,
) -> Result<(), TaskError> {
    s3.put_bytes_with_metadata(
        bucket,
        key,
        bytes,
        content_type,
        &[("source-version", version)],
    )
    .await
    .map(|_| ())
    .map_err(|e| crate::task_error!(e))
}

/// Emails the admin (the fallback owner) — never an address in the customer list.
async fn notify(
    app: &SyncApp,
    config: &SsmConfig,
    notices: &[AdminNotice],
) -> Result<(), TaskError> {
    // A list that cannot be read sends nothing (docs/SPEC.md §1).
    let customers = crate::app::customer_emails(&app.clients, &app.env.list_bucket).await?;
    let mailer = SesMailer::new(&app.clients);
    for n in notices {
        let body = EmailBody {
            subject: n.subject.clone(),
            html: format!("<pre>{}</pre>", html_escape(&n.text)),
            text: n.text.clone(),
        };
        mailer
            .send(
                &config.sender,
                &[config.fallback_owner.as_str()],
                &body,
                |a| customers.contains(a),
            )
            .await
            .map_err(|e| crate::task_error!(e))?;
    }
    Ok(())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
