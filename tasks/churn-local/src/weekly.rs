//! The Monday run on one laptop (SPEC §4, §10): score → pause → rank and cap → reasons → send
//! (outbox) → ledger `sent` → record → ledger `recorded`, with the same rerun rules as on AWS.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use churn_core::customers::{BadRow, CustomerReader, ListError};
use churn_core::links::LinkSigner;
use churn_core::message::{OwnerList, email, slack_messages};
use churn_core::model::{ListItem, normalize_email};
use churn_core::ports::Reasoner;
use churn_core::rules::{Channel, RuleError, Rules, parse_rules};
use churn_core::run::{LedgerState, OwnerAction, status};
use churn_core::scan::{ScanError, ScanOptions, ScoreSink, scan};
use churn_core::week::{AsOfError, iso_week, resolve_as_of};
use jiff::civil::Date;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{ConfigError, Settings};
use crate::files::{file_safe, write_atomic};
use crate::store::{AuditClock, LedgerEntry, ScoreRefresh, SqliteStore, StoreError};

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct WeeklyOptions {
    pub as_of: Option<String>,
    pub dry_run: bool,
    pub resend: bool,
    /// Limit the run to these owners (emails, any case).
    pub owners: Vec<String>,
    /// Use this rules doc instead of the folder's `rules.txt`.
    pub rules_path: Option<PathBuf>,
    /// Who the run acts as in the audit.
    pub by_user: String,
    /// Work out the lists as if nothing had been sent this week (what-if previews; with
    /// `dry_run` only).
    pub ignore_ledger: bool,
}

/// An owner's result, as in SPEC §10's `weekly --json`.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerReport {
    pub owner: String,
    pub via: String,
    pub status: String,
    pub customers: Vec<CustomerOut>,
    /// Candidates this owner had before the cap (after the pause).
    pub candidates: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files written to the outbox.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The `ts` of each Slack message posted (with a bot token).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub posted: Vec<String>,
}

pub use churn_core::model::CustomerOut;

/// The run report (SPEC §10's `weekly --json`, plus a few additive keys).
#[derive(Debug, Clone, Serialize)]
pub struct WeeklyReport {
    pub week: String,
    pub as_of: String,
    pub dry_run: bool,
    pub rules_version: String,
    pub owners: Vec<OwnerReport>,
    pub skipped_paused: u64,
    pub errors: Vec<BadRow>,
    pub run_id: String,
    pub rows: u64,
    pub bad_rows: u64,
    pub scores_changed: u64,
    pub reactivated: Vec<String>,
    pub outbox: String,
}

/// Why the run stopped. Nothing was written or sent.
#[derive(Debug, thiserror::Error)]
pub enum WeeklyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the rules doc {path} has {} mistake(s); nothing was written or sent", errors.len())]
    Rules {
        path: String,
        errors: Vec<RuleError>,
    },
    #[error("{0}: nothing was written or sent")]
    List(#[from] ListError),
    #[error(transparent)]
    AsOf(#[from] AsOfError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} ({path}): {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// The data folder's files.
pub fn customers_path(dir: &Path) -> PathBuf {
    dir.join("customers.csv")
}

/// Reads and parses a rules doc.
pub fn load_rules(path: &Path) -> Result<(Rules, String), WeeklyError> {
    let bytes = std::fs::read(path).map_err(|source| WeeklyError::Io {
        what: "the rules doc could not be read",
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let rules = parse_rules(&text).map_err(|errors| WeeklyError::Rules {
        path: path.display().to_string(),
        errors,
    })?;
    Ok((rules, text))
}

/// Reads the optional `voice.txt`.
pub fn load_voice(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("voice.txt"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Opens the customer list.
pub fn open_list(path: &Path) -> Result<(BufReader<File>, u64), WeeklyError> {
    let file = File::open(path).map_err(|source| WeeklyError::Io {
        what: "the customer list could not be opened",
        path: path.display().to_string(),
        source,
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((BufReader::with_capacity(1 << 16, file), len))
}

pub use churn_core::scan::{CustomerEmails, OwnerShortlist, resolve_owner};

/// Runs the week. `progress` is called with bytes read so far.
/// Posts an owner's Slack messages for real, when a bot token is configured (SPEC §10). `user_id`
/// is the rules' id for the owner, if any (else the owner is looked up by email). Returns the `ts`
/// of each message posted; an error says why (the owner then falls back to email, SPEC §4).
pub trait SlackPoster {
    fn post(
        &self,
        owner: &str,
        user_id: Option<&str>,
        messages: &[Value],
    ) -> Result<Vec<String>, String>;
}

/// [`run_weekly_posting`] without posting: "sent" means written to the outbox.
pub fn run_weekly(
    dir: &Path,
    opts: &WeeklyOptions,
    reasoner: &dyn Reasoner,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WeeklyReport, WeeklyError> {
    run_weekly_posting(dir, opts, reasoner, None, progress)
}

/// The Monday run on the data folder; Slack owners' lists are also posted through `slack` when
/// given (a bot token is configured).
pub fn run_weekly_posting(
    dir: &Path,
    opts: &WeeklyOptions,
    reasoner: &dyn Reasoner,
    slack: Option<&dyn SlackPoster>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WeeklyReport, WeeklyError> {
    let settings = Settings::load(dir)?;
    let rules_path = opts
        .rules_path
        .clone()
        .unwrap_or_else(|| dir.join("rules.txt"));
    let (rules, _) = load_rules(&rules_path)?;
    let as_of = resolve_as_of(opts.as_of.as_deref(), &settings.tz, jiff::Timestamp::now())?;
    let week = iso_week(as_of);
    let run_id = format!("{week}-{}", jiff::Timestamp::now().as_millisecond());
    let span =
        tracing::info_span!("weekly", run_id = %run_id, week = %week, dry_run = opts.dry_run);
    let _g = span.enter();
    tracing::info!(rules_version = %rules.version, as_of = %as_of, "run started");

    // A list that cannot be read stops the run before the database is even created.
    {
        let (file, _) = open_list(&customers_path(dir))?;
        CustomerReader::new(file, settings.read_options(), &rules.measured_columns())?;
    }
    let db_existed = dir.join(crate::store::DB_FILE).exists();
    let mut store = if opts.dry_run {
        SqliteStore::open_read_only(dir)?
    } else {
        SqliteStore::open(dir)?
    };
    let prior = store.load_prior()?;
    let ledger = if opts.ignore_ledger && opts.dry_run {
        FxHashMap::default()
    } else {
        store.ledger(&week)?
    };
    let only: FxHashSet<String> = opts.owners.iter().map(|o| normalize_email(o)).collect();

    let scan = match scan_list(
        dir,
        &settings,
        &rules,
        as_of,
        &prior,
        &only,
        &mut store,
        opts.dry_run,
        progress,
    ) {
        Ok(scan) => scan,
        Err(e) => {
            // The scan's transaction was rolled back; a database this run created goes too.
            drop(store);
            if !db_existed && !opts.dry_run {
                let _ = std::fs::remove_file(dir.join(crate::store::DB_FILE));
            }
            return Err(e);
        }
    };

    let mut clock = AuditClock::default();
    let outbox_dir = dir.join("outbox").join(&week);
    let mut owners: Vec<String> = scan.lists.keys().cloned().collect();
    for o in ledger.keys() {
        if (only.is_empty() || only.contains(o)) && !scan.lists.contains_key(o) {
            owners.push(o.clone());
        }
    }
    owners.sort();

    let link_secret = if opts.dry_run {
        Vec::new()
    } else {
        link_secret(&mut store)?
    };
    let signer = LinkSigner::new(&link_secret);
    let now_unix = jiff::Timestamp::now().as_second();

    let mut reports = Vec::new();
    for owner in owners {
        let channel = rules.channel_for(&owner);
        let mut via = match channel {
            Channel::Slack { .. } => "slack",
            Channel::Email => "email",
        };
        let shortlist = scan.lists.get(&owner);
        let candidates = shortlist.map_or(0, |s| s.candidates);
        let mut report = OwnerReport {
            owner: owner.clone(),
            via: via.into(),
            status: String::new(),
            customers: Vec::new(),
            candidates,
            error: None,
            files: Vec::new(),
            posted: Vec::new(),
        };
        let entry = ledger.get(&owner);
        let ledger_state = match entry {
            None => LedgerState::Unsent,
            Some(e) if e.recorded => LedgerState::Recorded {
                list: &e.list,
                via: &e.via,
            },
            Some(e) => LedgerState::Sent {
                list: &e.list,
                via: &e.via,
            },
        };
        let action = OwnerAction::decide(&ledger_state, opts.resend, opts.dry_run);
        if let Some(e) = entry {
            report.via = e.via.clone();
        }
        let list: Vec<ListItem> = match (action, entry) {
            (OwnerAction::AlreadySent, _) => {
                report.status = status::ALREADY_SENT.into();
                reports.push(report);
                continue;
            }
            (OwnerAction::RecordFromLedger, Some(e)) => {
                report.customers = e.list.iter().map(CustomerOut::from).collect();
                store.record(&week, &owner, as_of, &opts.by_user, &mut clock)?;
                report.status = status::SENT.into();
                reports.push(report);
                continue;
            }
            (OwnerAction::Resend, Some(e)) => e.list.clone(),
            _ => shortlist
                .map(|s| s.items.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|mut i| {
                    i.reason = reasoner.reason(&i.breakdown);
                    i
                })
                .collect(),
        };
        report.customers = list.iter().map(CustomerOut::from).collect();
        if list.is_empty() {
            report.status = status::NOTHING_TO_SEND.into();
            reports.push(report);
            continue;
        }
        if action == OwnerAction::DryRun {
            report.status = status::DRY_RUN.into();
            reports.push(report);
            continue;
        }
        // Nothing is ever sent to a customer.
        if scan.customer_emails.contains(&owner) {
            report.status = status::FAILED.into();
            report.error = Some(format!(
                "refused: the owner address {owner} is also a customer's email in the list; nothing was sent"
            ));
            tracing::warn!(owner_ref = %owner_ref(&owner), "owner address is a customer email; refused");
            reports.push(report);
            continue;
        }
        let owner_list = OwnerList {
            week: &week,
            as_of: &as_of.to_string(),
            owner: &owner,
            items: &list,
        };
        match write_outbox(
            &outbox_dir,
            &owner_list,
            &channel,
            &signer,
            &settings.outcome_url,
            now_unix,
        ) {
            Ok(files) => report.files = files,
            Err(e) => {
                report.status = status::FAILED.into();
                report.error = Some(e.to_string());
                reports.push(report);
                continue;
            }
        }
        if let (Some(poster), Channel::Slack { user_id }, OwnerAction::Send | OwnerAction::Resend) =
            (slack, &channel, action)
        {
            let target = user_id.clone().unwrap_or_else(|| format!("lookup:{owner}"));
            match poster.post(
                &owner,
                user_id.as_deref(),
                &slack_messages(&owner_list, &target),
            ) {
                Ok(ts) => {
                    tracing::info!(owner_ref = %owner_ref(&owner), messages = ts.len(), "posted to Slack");
                    report.posted = ts;
                }
                Err(e) => {
                    // SPEC §4: Slack failed, so the owner gets the email (the outbox's, locally).
                    tracing::warn!(owner_ref = %owner_ref(&owner), error = %e, "Slack failed; falling back to email");
                    via = "email";
                    report.via = via.into();
                    report.error = Some(format!("Slack: {e}; the email is in the outbox instead"));
                }
            }
        }
        let rules_version = list
            .first()
            .map_or(rules.version.clone(), |i| i.rules_version.clone());
        if action == OwnerAction::Send {
            store.mark_sent(
                &week,
                &owner,
                via,
                &list,
                &rules_version,
                &clock.now_string(),
            )?;
            store.record(&week, &owner, as_of, &opts.by_user, &mut clock)?;
        }
        tracing::info!(owner_ref = %owner_ref(&owner), names = list.len(), via, resend = opts.resend, "list sent");
        report.status = status::SENT.into();
        reports.push(report);
    }

    tracing::info!(
        owners = reports.len(),
        skipped_paused = scan.skipped_paused,
        bad_rows = scan.errors.len(),
        "run finished"
    );
    Ok(WeeklyReport {
        week,
        as_of: as_of.to_string(),
        dry_run: opts.dry_run,
        rules_version: rules.version.clone(),
        owners: reports,
        skipped_paused: scan.skipped_paused,
        errors: scan.errors,
        run_id,
        rows: scan.rows,
        bad_rows: scan.bad_rows,
        scores_changed: scan.scores_changed,
        reactivated: scan.reactivated,
        outbox: outbox_dir.display().to_string(),
    })
}

/// A short, non-reversible reference to an owner for logs (no personal data in logs).
pub fn owner_ref(owner: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(owner.as_bytes());
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// What one pass over the list found.
pub struct Scan {
    pub lists: FxHashMap<String, OwnerShortlist>,
    pub errors: Vec<BadRow>,
    pub skipped_paused: u64,
    pub rows: u64,
    pub bad_rows: u64,
    pub scores_changed: u64,
    pub reactivated: Vec<String>,
    pub customer_emails: CustomerEmails,
}

/// The BG/NBD model fitted on the list's own order history, when a signal measures `p_alive`
/// (one extra pass over the list; none otherwise).
pub fn p_alive_model(
    list: &Path,
    settings: &Settings,
    rules: &Rules,
    as_of: Date,
) -> Result<Option<churn_core::palive::BgNbdParams>, WeeklyError> {
    if !churn_core::score::Scorer::needs_p_alive(rules) {
        return Ok(None);
    }
    let (file, _) = open_list(list)?;
    let reader = CustomerReader::new(file, settings.read_options(), &[])?.threaded();
    Ok(churn_core::palive::fit_list(reader, as_of)?.map(|f| f.params))
}

/// The local score store: the weekly refresh inside one SQLite transaction.
struct RefreshSink<'c>(Option<ScoreRefresh<'c>>);

impl ScoreSink for RefreshSink<'_> {
    type Error = StoreError;
    fn put(
        &mut self,
        id: &str,
        score: u32,
        band: churn_core::Band,
        owner: &str,
    ) -> Result<(), StoreError> {
        match self.0.as_mut() {
            Some(r) => r.put(id, score, band, owner),
            None => Ok(()),
        }
    }
}

/// One pass over the customer list (`churn_core::scan`), with the stored scores refreshed (unless
/// `dry_run`) inside one transaction that is only committed when the list passes the stop rules.
#[allow(clippy::too_many_arguments)]
pub fn scan_list(
    dir: &Path,
    settings: &Settings,
    rules: &Rules,
    as_of: Date,
    prior: &FxHashMap<String, churn_core::state::CustomerState>,
    only: &FxHashSet<String>,
    store: &mut SqliteStore,
    dry_run: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Scan, WeeklyError> {
    let path = customers_path(dir);
    let (file, total) = open_list(&path)?;
    let reader =
        CustomerReader::new(file, settings.read_options(), &rules.measured_columns())?.threaded();
    let opts = ScanOptions {
        rules,
        as_of,
        fallback_owner: settings.fallback_owner.as_deref(),
        only,
        keep_per_owner: rules.weekly_cap,
        p_alive: p_alive_model(&path, settings, rules, as_of)?,
    };
    let mut sink = RefreshSink(if dry_run {
        None
    } else {
        Some(ScoreRefresh::begin(store)?)
    });
    let found = scan(reader, &opts, prior, &mut sink, &mut |done| {
        progress(done, total)
    })
    .map_err(|e| match e {
        ScanError::List(e) | ScanError::Refused { error: e, .. } => WeeklyError::List(e),
        ScanError::Sink(e) => WeeklyError::Store(e),
    })?;
    progress(total, total);

    let reactivated = found
        .reactivations
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    let mut scores_changed = 0;
    if let Some(mut r) = sink.0 {
        let mut clock = AuditClock::default();
        for (change, _) in &found.reactivations {
            r.apply(change, "churn", &clock.tick())?;
        }
        scores_changed = r.changed();
        let mut note = Map::new();
        note.insert("as_of".into(), Value::from(as_of.to_string()));
        note.insert("scores_changed".into(), Value::from(scores_changed));
        note.insert("rules_version".into(), Value::from(rules.version.clone()));
        note.insert("rows".into(), Value::from(found.summary.rows));
        note.insert("bad_rows".into(), Value::from(found.summary.bad));
        r.audit_run(&iso_week(as_of), "scores_refreshed", note, &clock.tick())?;
        r.commit()?;
    }
    Ok(Scan {
        lists: found.lists,
        errors: found.errors,
        skipped_paused: found.skipped_paused,
        rows: found.summary.rows,
        bad_rows: found.summary.bad,
        scores_changed,
        reactivated,
        customer_emails: found.customer_emails,
    })
}

/// Writes an owner's Block Kit messages (the exact `chat.postMessage` bodies) and email to the
/// outbox. Returns the file names.
pub fn write_outbox(
    outbox: &Path,
    list: &OwnerList<'_>,
    channel: &Channel,
    signer: &LinkSigner,
    base_url: &str,
    now_unix: i64,
) -> std::io::Result<Vec<String>> {
    let stem = file_safe(list.owner);
    let slack_channel = match channel {
        Channel::Slack { user_id: Some(id) } => id.clone(),
        // Found with users.lookupByEmail when posting for real.
        _ => format!("lookup:{}", list.owner),
    };
    let mut files = Vec::new();
    let messages = slack_messages(list, &slack_channel);
    for (i, m) in messages.iter().enumerate() {
        let name = format!("{stem}.slack.{}.json", i + 1);
        let mut body = serde_json::to_vec_pretty(m).map_err(std::io::Error::other)?;
        body.push(b'\n');
        write_atomic(&outbox.join(&name), &body)?;
        files.push(name);
    }
    let mail = email(list, signer, base_url, now_unix);
    let eml = format!(
        "To: {}\nSubject: {}\n\n{}",
        list.owner, mail.subject, mail.text
    );
    for (ext, body) in [("email.txt", eml), ("email.html", mail.html)] {
        let name = format!("{stem}.{ext}");
        write_atomic(&outbox.join(&name), body.as_bytes())?;
        files.push(name);
    }
    Ok(files)
}

/// The email-link secret: `CHURN_LINK_SECRET` if set, else a random one kept in the database.
pub fn link_secret(store: &mut SqliteStore) -> Result<Vec<u8>, StoreError> {
    if let Some(s) = std::env::var("CHURN_LINK_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Ok(s.into_bytes());
    }
    let hex = store.meta_or_insert("link_secret", || {
        let mut b = [0u8; 32];
        // A failure here leaves no usable secret; an all-zero key would be guessable.
        getrandom::fill(&mut b).expect("the operating system's random source failed");
        b.iter().map(|x| format!("{x:02x}")).collect()
    })?;
    Ok(hex.into_bytes())
}

/// Used by `LedgerEntry` consumers outside this module.
pub type Ledger = FxHashMap<String, LedgerEntry>;
