//! `churn digest`: the Friday digest from the data folder — the watch band from `churn.db`, the
//! week's audit, names from `customers.csv` — printed, and written to the outbox as the exact
//! `chat.postMessage` bodies (`outbox/<week>/digest.json`, then `digest-2.json`… when split).

use std::path::Path;

use churn_core::list::customers::CustomerReader;
use churn_core::model::Band;
use churn_core::reports::digest::{
    Digest, DigestOptions, WindowError, audit_window, build_digest, names_and_emails,
};
use churn_core::run::week::{AsOfError, resolve_as_of};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use serde_json::Value;

use crate::config::Settings;
use crate::files::write_atomic;
use crate::store::SqliteStore;
use crate::weekly::{WeeklyError, customers_path, open_list};

/// What `churn digest` prints (`--json`): the digest's fields, the channel, and the files written.
#[derive(Debug, Clone, Serialize)]
pub struct DigestReport {
    #[serde(flatten)]
    pub digest: Digest,
    /// `digest_channel` from config.toml; `null` when not configured (then nothing is written).
    pub channel: Option<String>,
    /// How many Slack messages the digest takes.
    pub messages: usize,
    /// The outbox files written, in posting order.
    pub files: Vec<String>,
    /// The plain-text version.
    pub text: String,
}

/// Why the digest could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("--as-of: {0}")]
    AsOf(#[from] AsOfError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error(transparent)]
    Weekly(#[from] WeeklyError),
    #[error("writing the digest: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the digest for the week of `as_of` (default: today in the configured time zone) and,
/// when a channel is configured and not `dry_run`, writes the message bodies to the outbox.
pub fn local_digest(
    dir: &Path,
    as_of: Option<&str>,
    dry_run: bool,
) -> Result<DigestReport, DigestError> {
    let settings = Settings::load(dir).map_err(WeeklyError::from)?;
    let as_of = resolve_as_of(as_of, &settings.tz, jiff::Timestamp::now())?;
    let (from, to) = audit_window(as_of, &settings.tz)?;
    let store = SqliteStore::open_read_only(dir).map_err(WeeklyError::from)?;
    let watch = store.in_band(Band::Watch).map_err(WeeklyError::from)?;
    let audit = store.audit_between(&from, &to).map_err(WeeklyError::from)?;
    let wanted: FxHashSet<&str> = watch
        .iter()
        .map(|s| s.customer_id.as_str())
        .chain(audit.iter().map(|i| i.customer_id.as_str()))
        .collect();
    let names = list_names(dir, &settings, &wanted)?;
    let digest = build_digest(
        as_of,
        &settings.tz,
        &watch,
        &audit,
        |id| names.get(id).cloned(),
        &DigestOptions::default(),
    )?;
    let channel = settings
        .raw
        .digest_channel
        .clone()
        .filter(|c| !c.trim().is_empty());
    let bodies: Vec<Value> = digest.slack_messages(channel.as_deref().unwrap_or("-"));
    let mut files = Vec::new();
    if let (Some(_), false) = (&channel, dry_run) {
        let folder = dir.join("outbox").join(&digest.week);
        for (i, body) in bodies.iter().enumerate() {
            let name = if i == 0 {
                "digest.json".to_string()
            } else {
                format!("digest-{}.json", i + 1)
            };
            let path = folder.join(name);
            let mut bytes = serde_json::to_vec_pretty(body).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            write_atomic(&path, &bytes)?;
            files.push(path.display().to_string());
        }
    }
    tracing::info!(
        week = %digest.week,
        watch = digest.watch_total,
        outcomes = digest.outcomes.len(),
        came_back = digest.came_back.len(),
        messages = bodies.len(),
        "digest built"
    );
    Ok(DigestReport {
        text: digest.text(),
        messages: bodies.len(),
        digest,
        channel,
        files,
    })
}

/// Display names of the `wanted` customers from the list. A missing list is no names (the ids
/// are shown); an unreadable one is an error.
fn list_names(
    dir: &Path,
    settings: &Settings,
    wanted: &FxHashSet<&str>,
) -> Result<FxHashMap<String, String>, DigestError> {
    let path = customers_path(dir);
    if wanted.is_empty() || !path.exists() {
        return Ok(FxHashMap::default());
    }
    let (reader, _) = open_list(&path)?;
    let rows =
        CustomerReader::new(reader, settings.read_options(), &[]).map_err(WeeklyError::from)?;
    Ok(names_and_emails(rows, wanted).0)
}
