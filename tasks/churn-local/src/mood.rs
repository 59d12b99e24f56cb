//! `churn read-mail FILE.eml` (docs/SPEC.md §8 mood-reader, locally): one support message → the sender's
//! customer → a mood label → `support_mood` in `customers.csv`, audited, counted once per
//! Message-ID.
//!
//! The label comes from [`KeywordLabeller`]: no model runs on a laptop, so the local mode uses a
//! deterministic word count (documented in the README). The cell is written by customer id into the
//! CSV atomically with every other byte unchanged; the sheet must already have a `support_mood`
//! column (never added). Seen Message-IDs live in `churn.db` (`mail_seen`): a message that set a
//! mood is never counted again; an unreadable or unmatched one is recorded with the reason and may
//! be read again (a later list may match it). A message with no trusted sender (docs/SPEC.md §8 "Who
//! sent it": `helpdesk_domains` in `config.toml`) is recorded as unmatched and no mood is written.
//!
//! Two runs at once (a mail-delivery pipe) are serialised: the seen-check, the CSV's read and
//! write and the seen/audit rows happen inside one `BEGIN IMMEDIATE` transaction, so no update is
//! lost and no Message-ID counted twice.

use std::path::Path;

use churn_core::ingest::mail::{ParsedMail, SenderPolicy, Unreadable, parse_mail};
use churn_core::ingest::mood::{
    KeywordLabeller, LookupError, Match, MoodLabel, blend, find_customer, format_mood,
};
use churn_core::list::csv_sheet::{Sheet, SheetError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, Settings};
use crate::files::write_atomic;
use crate::store::{SqliteStore, StoreError};

/// Who the audit names as the writer.
pub const MOOD_READER: &str = "mood-reader";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS mail_seen (
    message_id  TEXT PRIMARY KEY,
    outcome     TEXT NOT NULL CHECK (outcome IN ('mood', 'unmatched', 'unreadable')),
    customer_id TEXT,
    reason      TEXT,
    ts          TEXT NOT NULL
) WITHOUT ROWID;";

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum MailOutcome {
    /// The mood was written.
    Written {
        message_id: String,
        customer_id: String,
        label: MoodLabel,
        before: Option<f64>,
        after: f64,
    },
    /// This Message-ID already set a mood: nothing changed.
    Duplicate {
        message_id: String,
        customer_id: Option<String>,
    },
    /// No customer (or more than one) has the sender's address: recorded, not guessed.
    Unmatched { message_id: String, reason: String },
    /// The message could not be read: recorded, no mood.
    Unreadable { message_id: String, reason: String },
}

/// A failure that stops `read-mail` before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum ReadMailError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "customers.csv has no support_mood column: add one (the mood-reader never adds a column)"
    )]
    NoMoodColumn,
    #[error("customers.csv: {0}")]
    Sheet(#[from] SheetError),
    #[error("customers.csv: {0}")]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The local sender policy: `helpdesk_domains` from `config.toml` (docs/SPEC.md §8).
pub fn local_policy(dir: &Path) -> Result<SenderPolicy, ConfigError> {
    let settings = Settings::load(dir)?;
    Ok(SenderPolicy {
        ses: false,
        helpdesk_domains: settings
            .raw
            .helpdesk_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect(),
    })
}

/// `sha256:<hex>` of the raw bytes: the key of a message that has no readable Message-ID.
pub fn content_key(raw: &[u8]) -> String {
    let d = Sha256::digest(raw);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn ensure_schema(store: &mut SqliteStore) -> Result<(), ReadMailError> {
    store.conn().execute_batch(SCHEMA)?;
    Ok(())
}

fn seen(conn: &Connection, message_id: &str) -> Result<Option<Option<String>>, ReadMailError> {
    Ok(conn
        .query_row(
            "SELECT customer_id FROM mail_seen WHERE message_id = ?1 AND outcome = 'mood'",
            [message_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?)
}

fn record(
    conn: &Connection,
    message_id: &str,
    outcome: &str,
    reason: &str,
    ts: &str,
) -> Result<(), ReadMailError> {
    conn.execute(
        "INSERT INTO mail_seen (message_id, outcome, customer_id, reason, ts) VALUES (?1, ?2, NULL, ?3, ?4)
         ON CONFLICT (message_id) DO UPDATE SET outcome = excluded.outcome, reason = excluded.reason, ts = excluded.ts
         WHERE mail_seen.outcome <> 'mood'",
        params![message_id, outcome, reason, ts],
    )?;
    Ok(())
}

/// Reads one raw message against the data folder `dir` and writes the mood (see the module doc).
pub fn read_mail(
    dir: &Path,
    raw: &[u8],
    clock: &mut churn_core::run::clock::AuditClock,
) -> Result<MailOutcome, ReadMailError> {
    let policy = local_policy(dir)?;
    let mut store = SqliteStore::open(dir)?;
    ensure_schema(&mut store)?;
    let mail = match parse_mail(raw) {
        Ok(m) => m,
        Err(why) => return unreadable(store.conn(), raw, &why, clock),
    };
    // One writer at a time from here to the commit (the busy timeout waits for the other).
    let tx = store
        .conn()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let csv_path = dir.join("customers.csv");
    let bytes = std::fs::read(&csv_path).map_err(|source| ReadMailError::Io {
        path: csv_path.display().to_string(),
        source,
    })?;
    let sheet = Sheet::new(&bytes)?;
    if sheet.column("support_mood").is_none() {
        return Err(ReadMailError::NoMoodColumn);
    }
    if let Some(customer_id) = seen(&tx, &mail.message_id)? {
        tracing::info!(outcome = "duplicate", "support mail already counted");
        return Ok(MailOutcome::Duplicate {
            message_id: mail.message_id,
            customer_id,
        });
    }
    let candidates = match mail.trusted_candidates(&policy) {
        Ok(c) => c,
        Err(why) => {
            tracing::warn!(
                outcome = "untrusted",
                reason = why.code(),
                "support mail sender not trusted; no mood written"
            );
            let reason = format!("no trusted sender: {why}");
            let out = unmatched(&tx, &mail, &reason, clock)?;
            tx.commit()?;
            return Ok(out);
        }
    };
    let (customer_id, old) = match find_customer(&sheet, &candidates)? {
        Match::Customer {
            customer_id, mood, ..
        } => (customer_id, mood),
        found => {
            let reason = match found {
                Match::Ambiguous { count } => {
                    format!("{count} customers share the sender's address")
                }
                _ => "no customer has the sender's address".to_string(),
            };
            let out = unmatched(&tx, &mail, &reason, clock)?;
            tx.commit()?;
            return Ok(out);
        }
    };
    let label = KeywordLabeller.label(&mail.ticket_text());
    let new = blend(old, label);
    let ts = clock.tick();

    // The seen row and the audit item commit together, after the CSV is in place: a failed
    // CSV write leaves nothing recorded, so reading the file again retries.
    tx.execute(
        "INSERT INTO mail_seen (message_id, outcome, customer_id, reason, ts) VALUES (?1, 'mood', ?2, NULL, ?3)
         ON CONFLICT (message_id) DO UPDATE SET outcome = 'mood', customer_id = excluded.customer_id, reason = NULL, ts = excluded.ts",
        params![mail.message_id, customer_id, ts],
    )?;
    let updated = sheet.with_cell(&customer_id, "support_mood", &format_mood(new))?;
    write_atomic(&csv_path, &updated).map_err(|source| ReadMailError::Io {
        path: csv_path.display().to_string(),
        source,
    })?;
    let mut before = Map::new();
    before.insert("support_mood".into(), old.map_or(Value::Null, |v| json!(v)));
    let mut after = Map::new();
    after.insert("support_mood".into(), json!(new));
    let notes =
        json!({"message_id": mail.message_id, "label": label.as_str(), "labeller": "keyword"});
    tx.execute(
        "INSERT INTO audit (customer_id, ts, action, by_user, before, after, notes) VALUES (?1, ?2, 'mood', ?3, ?4, ?5, ?6)",
        params![
            customer_id,
            ts,
            MOOD_READER,
            Value::Object(before).to_string(),
            Value::Object(after).to_string(),
            notes.to_string(),
        ],
    )?;
    tx.commit()?;
    tracing::info!(customer_id = %customer_id, label = label.as_str(), outcome = "mood", "support mood written");
    Ok(MailOutcome::Written {
        message_id: mail.message_id,
        customer_id,
        label,
        before: old,
        after: new,
    })
}

fn unreadable(
    conn: &Connection,
    raw: &[u8],
    why: &Unreadable,
    clock: &mut churn_core::run::clock::AuditClock,
) -> Result<MailOutcome, ReadMailError> {
    let message_id = content_key(raw);
    record(
        conn,
        &message_id,
        "unreadable",
        &why.to_string(),
        &clock.tick(),
    )?;
    tracing::warn!(
        outcome = "unreadable",
        reason = why.code(),
        "support mail not read"
    );
    Ok(MailOutcome::Unreadable {
        message_id,
        reason: why.to_string(),
    })
}

fn unmatched(
    conn: &Connection,
    mail: &ParsedMail,
    reason: &str,
    clock: &mut churn_core::run::clock::AuditClock,
) -> Result<MailOutcome, ReadMailError> {
    record(conn, &mail.message_id, "unmatched", reason, &clock.tick())?;
    tracing::info!(outcome = "unmatched", "support mail sender not in the list");
    Ok(MailOutcome::Unmatched {
        message_id: mail.message_id.clone(),
        reason: reason.to_string(),
    })
}
