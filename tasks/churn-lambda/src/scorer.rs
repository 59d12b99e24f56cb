//! The scorer task (docs/SPEC.md §4 step 1): read the list and the rules in force, read prior state,
//! score everyone, write the changed scores, and hand each owner's candidates to the Map.

use std::io::Cursor;

use churn_aws::{AuditClock, DynamoDbSendLedger, DynamoDbStateStore, S3ObjectStore, ScoreWrite};
use churn_core::list::customers::{BadRow, CustomerReader, ReadOptions};
use churn_core::model::normalize_email;
use churn_core::rules::parse_rules;
use churn_core::run::engine::{p_alive_model, plan_owners, scores_refreshed_note, shortlist_len};
use churn_core::run::scan::{ScanError, ScanOptions, ScoreSink, scan};
use churn_core::run::week::{iso_week, resolve_as_of};
use jiff::tz::TimeZone;
use rustc_hash::FxHashSet;
use serde_json::Value;

use crate::app::App;
use crate::error::TaskError;
use crate::payload::{OwnerItem, RunContext, ScorerOutput, scorer_event};
use crate::task_error;

/// Shortlists above this size in all go through S3: the state stays far below Step Functions'
/// 256 KB (the whole execution's largest payload stays under 64 KB).
pub const INLINE_LIMIT_BYTES: usize = 16 * 1024;
/// The first bad rows carried in the output (all of them go to the run report).
const ERRORS_INLINE: usize = 50;

/// Collects every customer's score for the changed-score write.
struct Collect(Vec<ScoreWrite>);

impl ScoreSink for Collect {
    type Error = std::convert::Infallible;
    fn put(
        &mut self,
        id: &str,
        score: u32,
        band: churn_core::Band,
        owner: &str,
    ) -> Result<(), Self::Error> {
        self.0.push(ScoreWrite {
            customer_id: id.to_string(),
            score,
            band,
            owner: owner.to_string(),
        });
        Ok(())
    }
}

/// Runs the scorer for one execution.
pub async fn handle(app: &App, event: Value) -> Result<ScorerOutput, TaskError> {
    let (input, execution) = scorer_event(event)?;
    let cfg = app.config().await?;
    let tz = TimeZone::get(&cfg.timezone).map_err(|_| {
        TaskError::new(
            "churn.Config",
            format!("unknown time zone {}", cfg.timezone),
        )
    })?;
    let now = jiff::Timestamp::now();
    let as_of = resolve_as_of(input.as_of.as_deref(), &tz, now)
        .map_err(|e| TaskError::bad_input(e.to_string()))?;
    let week = iso_week(as_of);
    let run_id = execution.unwrap_or_else(|| format!("{week}-{}", now.as_millisecond()));
    let span =
        tracing::info_span!("scorer", run_id = %run_id, week = %week, dry_run = input.dry_run);
    let _enter = span.enter();

    let objects = S3ObjectStore::new(&app.clients);
    let rules_doc = objects
        .get_text(&app.buckets.rules, "rules.txt")
        .await
        .map_err(|e| task_error!(e))?;
    let rules = parse_rules(&rules_doc.text).map_err(|errors| {
        TaskError::new(
            "churn.BadRules",
            format!(
                "the published rules doc has {} mistake(s): {}",
                errors.len(),
                errors
                    .iter()
                    .take(5)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    })?;
    let list = objects
        .get_text(&app.buckets.list, "customers.csv")
        .await
        .map_err(|e| task_error!(e))?;
    let state = DynamoDbStateStore::new(&app.clients, &app.tables);
    let prior = state.scan_prior().await.map_err(|e| task_error!(e))?;
    let ledger = DynamoDbSendLedger::new(&app.clients, &app.tables)
        .get(&week)
        .await
        .map_err(|e| task_error!(e))?;
    tracing::info!(rules_version = %rules.version, customers_stored = prior.len(), "inputs read");

    let ctx = RunContext::new(as_of, run_id.clone(), &input, &rules);
    let read = ReadOptions {
        date_order: cfg.date_order,
        tz: tz.clone(),
    };
    let bytes = list.text.into_bytes();
    let measured = rules.measured_columns();
    let p_alive = p_alive_model(&rules, as_of, || {
        CustomerReader::new(Cursor::new(bytes.clone()), read.clone(), &[])
    })
    .map_err(bad_list)?;
    let only: FxHashSet<String> = input.owners.iter().map(|o| normalize_email(o)).collect();
    let fallback = normalize_email(&cfg.fallback_owner);
    let opts = ScanOptions {
        rules: &rules,
        as_of,
        fallback_owner: Some(fallback.as_str()).filter(|f| !f.is_empty()),
        only: &only,
        keep_per_owner: shortlist_len(rules.weekly_cap),
        p_alive,
    };
    let reader = CustomerReader::new(Cursor::new(bytes), read, &measured)
        .map_err(bad_list)?
        .threaded();
    let mut sink = Collect(Vec::new());
    let found =
        scan(reader, &opts, prior.states(), &mut sink, &mut |_| {}).map_err(|e| match e {
            ScanError::List(e) => bad_list(e),
            ScanError::Refused { error, bad_rows } => {
                let mut e = bad_list(error);
                e.message.push_str(&bad_rows_text(&bad_rows));
                e
            }
            ScanError::Sink(never) => match never {},
        })?;

    if !input.dry_run {
        let kept = crate::history::keep_scores(
            app,
            &ctx,
            churn_core::scoring::history::expires_at(as_of),
            &sink.0,
        )
        .await?;
        tracing::info!(history_entries = kept, "history written");
        let changes = prior.changed(sink.0);
        let mut clock = AuditClock::default();
        let written = state
            .write_scores(&changes, &clock.now_string())
            .await
            .map_err(|e| task_error!(e))?;
        for (change, _) in &found.reactivations {
            state
                .apply(change, "churn", &clock.tick())
                .await
                .map_err(|e| task_error!(e))?;
        }
        let notes =
            scores_refreshed_note(&ctx, written as u64, found.summary.rows, found.summary.bad);
        state
            .audit_run(&week, "scores_refreshed", &notes, &clock.tick())
            .await
            .map_err(|e| task_error!(e))?;
        tracing::info!(
            scores_changed = written,
            reactivated = found.reactivations.len(),
            "state written"
        );
    }

    let mut plans = plan_owners(&found.lists, &ledger, &only, &rules, &found.customer_emails);
    crate::history::add_trends(app, &ctx, &mut plans).await;
    let mut owners: Vec<OwnerItem> = plans
        .into_iter()
        .map(|plan| OwnerItem {
            plan,
            shortlist_key: None,
        })
        .collect();
    let size = serde_json::to_vec(&owners)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > INLINE_LIMIT_BYTES {
        for o in &mut owners {
            let key = format!("runs/{week}/{run_id}/shortlists/{}.json", o.plan.owner);
            objects
                .put_json(&app.buckets.runs, &key, &o.plan.shortlist)
                .await
                .map_err(|e| task_error!(e))?;
            o.plan.shortlist = Vec::new();
            o.shortlist_key = Some(key);
        }
    }
    tracing::info!(
        owners = owners.len(),
        rows = found.summary.rows,
        bad_rows = found.summary.bad,
        inline_bytes = size,
        "scored"
    );
    Ok(ScorerOutput {
        run: ctx,
        owners,
        skipped_paused: found.skipped_paused,
        rows: found.summary.rows,
        bad_rows: found.summary.bad,
        errors: found.errors.into_iter().take(ERRORS_INLINE).collect(),
    })
}

/// The first bad rows, one per line, for the admin notice (the cause stays well under Step
/// Functions' 32 KB limit).
fn bad_rows_text(rows: &[BadRow]) -> String {
    const SHOWN: usize = 20;
    let mut text = String::from("\nBad rows:");
    for r in rows.iter().take(SHOWN) {
        let reason: String = r.reason.chars().take(200).collect();
        text.push_str(&format!("\n  line {}: {reason}", r.line));
    }
    if rows.len() > SHOWN {
        text.push_str(&format!("\n  … and {} more", rows.len() - SHOWN));
    }
    text
}

fn bad_list(e: churn_core::list::customers::ListError) -> TaskError {
    let message = e.to_string();
    if message.contains("nothing was") {
        TaskError::new("churn.BadList", message)
    } else {
        TaskError::new(
            "churn.BadList",
            format!("{message}: nothing was written or sent"),
        )
    }
}
