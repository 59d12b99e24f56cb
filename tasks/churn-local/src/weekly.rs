//! The Monday run on one laptop (docs/SPEC.md §4, §10): score → pause → rank and cap → reasons → send
//! (outbox) → ledger `sent` → record → ledger `recorded`, with the same rerun rules as on AWS.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use churn_core::list::customers::{BadRow, CustomerReader, ListError};
use churn_core::model::{ListItem, normalize_email};
use churn_core::notify::links::LinkSigner;
use churn_core::notify::message::{OwnerList, email_with_note, list_metadata_part};
use churn_core::notify::secret::secret_text;
use churn_core::ports::{
    CustomerStates, ListMailer, ListReasoner, ListSlack, PortError, Reasoner, SendLedger,
    SlackPost, SlackTo,
};
use churn_core::rules::{RuleError, Rules, parse_rules};
use churn_core::run::engine::{
    DEFAULT_LEASE_MS, Engine, RunContext, plan_owners, scores_refreshed_note, system_now_ms,
};
use churn_core::run::scan::{ScanError, ScanOptions, ScoreSink, scan};
use churn_core::run::week::{AsOfError, iso_week, resolve_as_of};
use churn_core::run::{Claim, ClaimRequest, LedgerEntry, SentList};
use jiff::civil::Date;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use serde_json::Value;

use crate::config::{ConfigError, Settings};
use crate::files::{file_safe, write_atomic};
use crate::store::{AuditClock, ScoreRefresh, SqliteStore, StoreError};

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

pub use churn_core::model::CustomerOut;
pub use churn_core::run::OwnerReport;

/// The run report (docs/SPEC.md §10's `weekly --json`, plus a few additive keys).
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
    /// The scores written into `customers.csv` (docs/SPEC.md §10).
    pub list_scores: churn_core::scoring::score_cells::ScoresWritten,
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
    #[error("{0}")]
    Secret(String),
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

pub use churn_core::run::scan::{CustomerEmails, OwnerShortlist, resolve_owner};

/// [`run_weekly_posting`] without posting: "sent" means written to the outbox.
pub fn run_weekly(
    dir: &Path,
    opts: &WeeklyOptions,
    reasoner: &(dyn Reasoner + Sync),
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WeeklyReport, WeeklyError> {
    run_weekly_posting::<NoSlack>(dir, opts, reasoner, None, progress)
}

/// The Monday run on the data folder (docs/SPEC.md §4, §10): one scan, then the engine
/// (`churn_core::run::Engine`) over the folder's adapters — the send ledger and claims in
/// `churn.db`, the outbox, and Slack through `slack` when given (a bot token is configured).
pub fn run_weekly_posting<N: ListSlack>(
    dir: &Path,
    opts: &WeeklyOptions,
    reasoner: &(dyn Reasoner + Sync),
    slack: Option<&N>,
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
    let run_id = format!(
        "{week}-{}-{}",
        jiff::Timestamp::now().as_millisecond(),
        std::process::id()
    );
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
    let input = churn_core::run::RunInput {
        as_of: opts.as_of.clone(),
        dry_run: opts.dry_run,
        owners: opts.owners.clone(),
        resend: opts.resend,
    };
    let ctx = RunContext::new(as_of, run_id.clone(), &input, &rules);

    let scan = match scan_list(
        dir, &settings, &rules, &ctx, &prior, &only, &mut store, progress,
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
    let mut plans = plan_owners(&scan.lists, &ledger, &only, &rules, &scan.customer_emails);
    add_trends(&store, &mut plans, &ctx)?;

    let link_secret = if opts.dry_run {
        Vec::new()
    } else {
        link_secret(&mut store)?
    };
    let outbox_dir = dir.join("outbox").join(&week);
    let outbox = Outbox {
        dir: outbox_dir.clone(),
        signer: LinkSigner::new(&link_secret),
        base_url: settings.outcome_url.clone(),
        now_unix: jiff::Timestamp::now().as_second(),
        slack,
        files: Mutex::new(FxHashMap::default()),
    };
    let run_store = LocalRunStore {
        store: Mutex::new(store),
        clock: Mutex::new(AuditClock::default()),
    };
    let reasoner = EachReasoner(reasoner);
    let engine = Engine {
        ledger: &run_store,
        states: &run_store,
        reasoner: &reasoner,
        slack: &outbox,
        mailer: &outbox,
        now_ms: system_now_ms,
        lease_ms: DEFAULT_LEASE_MS,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| WeeklyError::Io {
            what: "the run's async runtime could not start",
            path: dir.display().to_string(),
            source,
        })?;
    let mut reports = runtime.block_on(engine.run_owners(&ctx, &plans, &ledger, &opts.by_user));
    let mut files = outbox.files.lock().unwrap_or_else(|p| p.into_inner());
    for r in &mut reports {
        r.files = files.remove(&r.owner).unwrap_or_default();
    }
    // The lists are out: a list that cannot take the scores is reported, never fails the run.
    let list_scores = if opts.dry_run {
        churn_core::scoring::score_cells::ScoresWritten::default()
    } else {
        let store = run_store.store.lock().unwrap_or_else(|p| p.into_inner());
        crate::list_scores::write_list_scores(&customers_path(dir), &store, &week).unwrap_or_else(
            |e| {
                tracing::warn!(error = %e, "the scores could not be written into the list");
                churn_core::scoring::score_cells::ScoresWritten {
                    error: Some(e.to_string()),
                    ..Default::default()
                }
            },
        )
    };

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
        list_scores,
    })
}

/// Each plan's trends (docs/SPEC.md §7) from the history kept in `churn.db`.
fn add_trends(
    store: &SqliteStore,
    plans: &mut [churn_core::run::engine::OwnerPlan],
    ctx: &RunContext,
) -> Result<(), WeeklyError> {
    use churn_core::scoring::history::{TREND_WEEKS, plan_trends, previous_weeks};
    let Some(since) = previous_weeks(&ctx.week, TREND_WEEKS).pop() else {
        return Ok(());
    };
    for plan in plans {
        let ids: Vec<&str> = plan
            .shortlist
            .iter()
            .map(|i| i.customer_id.as_str())
            .collect();
        let histories = store.histories(&ids, &since)?;
        plan.trends = plan_trends(&plan.shortlist, &histories, &ctx.week, &ctx.rules_version);
    }
    Ok(())
}

pub use churn_core::run::engine::owner_ref;

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

/// The BG/NBD model fitted on the list's own order history, when a signal measures `p_alive`.
pub fn p_alive_model(
    list: &Path,
    settings: &Settings,
    rules: &Rules,
    as_of: Date,
) -> Result<Option<churn_core::scoring::palive::BgNbdParams>, WeeklyError> {
    let open = || -> Result<_, WeeklyError> {
        let (file, _) = open_list(list)?;
        Ok(CustomerReader::new(file, settings.read_options(), &[])?.threaded())
    };
    if !churn_core::scoring::score::Scorer::needs_p_alive(rules) {
        return Ok(None);
    }
    let reader = open()?;
    Ok(churn_core::run::engine::p_alive_model(
        rules,
        as_of,
        || Ok(reader),
    )?)
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

/// One pass over the customer list (`churn_core::run::scan`), with the stored scores refreshed (unless
/// `dry_run`) inside one transaction that is only committed when the list passes the stop rules.
#[allow(clippy::too_many_arguments)]
pub fn scan_list(
    dir: &Path,
    settings: &Settings,
    rules: &Rules,
    ctx: &RunContext,
    prior: &FxHashMap<String, churn_core::outcome::state::CustomerState>,
    only: &FxHashSet<String>,
    store: &mut SqliteStore,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Scan, WeeklyError> {
    let as_of: Date = ctx
        .as_of
        .parse()
        .map_err(|_| AsOfError(ctx.as_of.clone()))?;
    let dry_run = ctx.dry_run;
    let path = customers_path(dir);
    let (file, total) = open_list(&path)?;
    let reader = CustomerReader::new(file, settings.read_options(), &rules.measured_columns())?
        .size_hint(total)
        .threaded();
    let opts = ScanOptions {
        rules,
        as_of,
        fallback_owner: settings.fallback_owner.as_deref(),
        only,
        keep_per_owner: churn_core::run::engine::shortlist_len(rules.weekly_cap),
        p_alive: p_alive_model(&path, settings, rules, as_of)?,
    };
    let mut sink = RefreshSink(if dry_run {
        None
    } else {
        Some(ScoreRefresh::begin(store)?.with_history(&ctx.week, &ctx.rules_version)?)
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
        let note =
            scores_refreshed_note(ctx, scores_changed, found.summary.rows, found.summary.bad);
        r.audit_run(&ctx.week, "scores_refreshed", note, &clock.tick())?;
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

/// The outbox (docs/SPEC.md §10): every owner's list as the exact `chat.postMessage` bodies and as an
/// email (HTML and text) in `outbox/<week>/`; with a Slack client, Slack owners' lists are also
/// posted for real. "Sent" locally means written here.
struct Outbox<'a, N> {
    dir: PathBuf,
    signer: LinkSigner,
    base_url: String,
    now_unix: i64,
    slack: Option<&'a N>,
    /// Files written, by owner.
    files: Mutex<FxHashMap<String, Vec<String>>>,
}

impl<N> Outbox<'_, N> {
    fn write(&self, owner: &str, name: String, body: &[u8]) -> Result<(), PortError> {
        write_atomic(&self.dir.join(&name), body)
            .map_err(|e| PortError::new(format!("writing the outbox: {e}"), false))?;
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let list = files.entry(owner.to_string()).or_default();
        if !list.contains(&name) {
            list.push(name);
        }
        Ok(())
    }

    fn write_email(&self, list: &OwnerList<'_>, note: Option<&str>) -> Result<(), PortError> {
        let stem = file_safe(list.owner);
        let mail = email_with_note(list, &self.signer, &self.base_url, self.now_unix, note);
        let eml = format!(
            "To: {}\nSubject: {}\n\n{}",
            list.owner, mail.subject, mail.text
        );
        self.write(list.owner, format!("{stem}.email.txt"), eml.as_bytes())?;
        self.write(
            list.owner,
            format!("{stem}.email.html"),
            mail.html.as_bytes(),
        )
    }

    /// The Slack messages already in the outbox for (week, owner): their parts, by metadata.
    fn outbox_parts(&self, week: &str, owner: &str) -> Vec<usize> {
        let stem = file_safe(owner);
        (1..)
            .map_while(|i| std::fs::read(self.dir.join(format!("{stem}.slack.{i}.json"))).ok())
            .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter_map(|m| list_metadata_part(&m["metadata"], week, owner))
            .collect()
    }
}

impl<N: ListSlack> ListSlack for Outbox<'_, N> {
    async fn post_list(
        &self,
        to: &SlackTo<'_>,
        messages: &[Value],
    ) -> Result<SlackPost, PortError> {
        let stem = file_safe(to.owner);
        for (i, m) in messages.iter().enumerate() {
            let mut body =
                serde_json::to_vec_pretty(m).map_err(|e| PortError::new(e.to_string(), false))?;
            body.push(b'\n');
            self.write(to.owner, format!("{stem}.slack.{}.json", i + 1), &body)?;
        }
        match self.slack {
            Some(slack) => slack.post_list(to, messages).await,
            None => Ok(SlackPost {
                parts: messages.len(),
                posted: Vec::new(),
                error: None,
            }),
        }
    }

    async fn posted_parts(
        &self,
        to: &SlackTo<'_>,
        week: &str,
        owner: &str,
    ) -> Result<Vec<usize>, PortError> {
        match self.slack {
            Some(slack) => slack.posted_parts(to, week, owner).await,
            None => Ok(self.outbox_parts(week, owner)),
        }
    }
}

impl<N: ListSlack> ListMailer for Outbox<'_, N> {
    async fn mail_list(&self, list: &OwnerList<'_>, note: Option<&str>) -> Result<(), PortError> {
        self.write_email(list, note)
    }
}

/// No Slack client: lists go to the outbox only.
pub struct NoSlack;

impl ListSlack for NoSlack {
    async fn post_list(&self, _: &SlackTo<'_>, _: &[Value]) -> Result<SlackPost, PortError> {
        Err(PortError::new("no Slack client", false))
    }

    async fn posted_parts(
        &self,
        _: &SlackTo<'_>,
        _: &str,
        _: &str,
    ) -> Result<Vec<usize>, PortError> {
        Ok(Vec::new())
    }
}

/// The engine's reasoner over a one-at-a-time [`Reasoner`].
struct EachReasoner<'a>(&'a (dyn Reasoner + Sync));

impl ListReasoner for EachReasoner<'_> {
    async fn write_reasons(&self, items: &mut [ListItem]) {
        for item in items {
            item.reason = self.0.reason(&item.breakdown);
        }
    }
}

/// `churn.db` as the engine's send ledger and state: each call is one short SQLite transaction,
/// so two `churn weekly` processes on one folder take turns at every step.
struct LocalRunStore {
    store: Mutex<SqliteStore>,
    clock: Mutex<AuditClock>,
}

impl LocalRunStore {
    fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut SqliteStore) -> Result<T, StoreError>,
    ) -> Result<T, PortError> {
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        // A busy database (another process's transaction past the busy timeout) may free up.
        f(&mut store)
            .map_err(|e| PortError::new(format!("{what}: {e}"), matches!(e, StoreError::Sql(_))))
    }

    fn now(&self) -> String {
        self.clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .now_string()
    }
}

impl SendLedger for LocalRunStore {
    async fn entries(&self, week: &str) -> Result<FxHashMap<String, LedgerEntry>, PortError> {
        self.with("reading the send ledger", |s| s.ledger(week))
    }

    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, PortError> {
        self.with("claiming", |s| s.claim(request))
    }

    async fn prepare(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        list: &SentList<'_>,
    ) -> Result<bool, PortError> {
        self.with("storing the list in the claim", |s| {
            s.prepare(week, owner, run_id, list)
        })
    }

    async fn mark_sent(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        list: &SentList<'_>,
    ) -> Result<bool, PortError> {
        let now = self.now();
        self.with("marking sent", |s| {
            s.mark_sent(week, owner, run_id, list, &now)
        })
    }

    async fn release(&self, week: &str, owner: &str, run_id: &str) -> Result<(), PortError> {
        self.with("releasing the claim", |s| s.release(week, owner, run_id))
    }

    async fn abandon(&self, week: &str, owner: &str, run_id: &str) -> Result<(), PortError> {
        self.with("lapsing the claim", |s| s.abandon(week, owner, run_id))
    }

    async fn record(
        &self,
        week: &str,
        owner: &str,
        as_of: Date,
        by_user: &str,
    ) -> Result<usize, PortError> {
        let mut clock = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        self.with("recording", |s| {
            s.record(week, owner, as_of, by_user, &mut clock)
        })
    }
}

impl CustomerStates for LocalRunStore {
    async fn fresh(
        &self,
        ids: &[&str],
    ) -> Result<FxHashMap<String, churn_core::outcome::state::CustomerState>, PortError> {
        self.with("reading customer state", |s| {
            let mut out = FxHashMap::default();
            for id in ids {
                out.insert(id.to_string(), s.get_state(id)?);
            }
            Ok(out)
        })
    }
}

/// The email-link secret: `CHURN_LINK_SECRET` if set, else a random one kept in the database.
pub fn link_secret(store: &mut SqliteStore) -> Result<Vec<u8>, WeeklyError> {
    if let Ok(s) = std::env::var("CHURN_LINK_SECRET") {
        // Set but blank is a mistake, not "use the stored key": refused.
        let key =
            secret_text("CHURN_LINK_SECRET", &s).map_err(|e| WeeklyError::Secret(e.to_string()))?;
        return Ok(key.as_bytes().to_vec());
    }
    let hex = store.meta_or_insert("link_secret", || {
        let mut b = [0u8; 32];
        // A failure here leaves no usable secret; an all-zero key would be guessable.
        getrandom::fill(&mut b).expect("the operating system's random source failed");
        b.iter().map(|x| format!("{x:02x}")).collect()
    })?;
    Ok(hex.into_bytes())
}
