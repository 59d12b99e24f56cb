//! Score history and scores where owners work on AWS (docs/SPEC.md §5, §10): the scorer keeps
//! every customer's entry of the week in `cp-history` (`HISTORY_TABLE`), adds the listed
//! customers' trends to the owners' plans, and leaves the week's scores in the runs bucket for the
//! Report step, which writes `churn_score`, `churn_band` and `churn_reason` into the customer
//! sheet (`SHEET_ID`) — only into those columns the sheet has, rows found by customer id read just
//! before writing, `RAW`, one `values.batchUpdate`. A sheet that cannot be written never fails
//! or repeats the Monday sends: it is logged (`sheet write failed`, which the
//! `cp-sheet-write-failures` alarm counts) and reported.

use churn_aws::{DynamoDbScoreHistory, DynamoDbSendLedger, S3ObjectStore, ScoreWrite, WeekScore};
use churn_core::ingest::order_import::ListTable;
use churn_core::run::LedgerStatus;
use churn_core::run::engine::{OwnerPlan, RunContext};
use churn_core::scoring::history::{TREND_WEEKS, plan_trends, previous_weeks};
use churn_core::scoring::score_cells::ScoresWritten;
use churn_core::scoring::score_cells::{CustomerScore, score_cells};
use churn_google::{Endpoints, GoogleClient, a1};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::TaskError;
use crate::order_import::SHEET_RANGE;
use crate::task_error;

/// The history table's name (`HISTORY_TABLE`); none: no history is kept.
pub fn history_table() -> Option<String> {
    std::env::var("HISTORY_TABLE")
        .ok()
        .filter(|t| !t.trim().is_empty())
}

/// Where the scorer leaves the week's scores for the Report step.
pub fn scores_key(run: &RunContext) -> String {
    format!("runs/{}/{}/scores.json", run.week, run.run_id)
}

/// The scores file: every customer's `[score, band]` by id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WeekScores(pub FxHashMap<String, (u32, churn_core::Band)>);

/// The scorer's writes of a real run: the week's history entries and the scores file.
pub async fn keep_scores(
    app: &App,
    run: &RunContext,
    expires_at: i64,
    scores: &[ScoreWrite],
) -> Result<usize, TaskError> {
    let file = WeekScores(
        scores
            .iter()
            .map(|w| (w.customer_id.clone(), (w.score, w.band)))
            .collect(),
    );
    S3ObjectStore::new(&app.clients)
        .put_json(&app.buckets.runs, &scores_key(run), &file)
        .await
        .map_err(|e| task_error!(e))?;
    let Some(table) = history_table() else {
        return Ok(0);
    };
    let week: Vec<WeekScore> = scores
        .iter()
        .map(|w| WeekScore {
            customer_id: w.customer_id.clone(),
            score: w.score,
            band: w.band,
        })
        .collect();
    DynamoDbScoreHistory::new(&app.clients, &table)
        .put_week(&run.week, &run.rules_version, expires_at, &week)
        .await
        .map_err(|e| task_error!(e))
}

/// Each plan's trends from the weeks before this one. Trends only decorate the rows: a failed
/// read leaves them out and the run goes on.
pub async fn add_trends(app: &App, run: &RunContext, plans: &mut [OwnerPlan]) {
    let Some(table) = history_table() else { return };
    let ids: Vec<&str> = plans
        .iter()
        .flat_map(|p| p.shortlist.iter().map(|i| i.customer_id.as_str()))
        .collect();
    if ids.is_empty() {
        return;
    }
    let weeks = previous_weeks(&run.week, TREND_WEEKS);
    let histories = match DynamoDbScoreHistory::new(&app.clients, &table)
        .entries(&ids, &weeks)
        .await
    {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "history could not be read; the lists go without trends");
            return;
        }
    };
    for plan in plans {
        plan.trends = plan_trends(&plan.shortlist, &histories, &run.week, &run.rules_version);
    }
}

/// The sheet's settings (`SHEET_ID`, `GOOGLE_SECRET`, `GOOGLE_SHEETS_URL`); `None` without a
/// sheet.
pub fn sheet_env() -> Option<(String, String, Endpoints)> {
    let sheet = std::env::var("SHEET_ID")
        .ok()
        .filter(|s| !s.trim().is_empty())?;
    let secret = std::env::var("GOOGLE_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "cp/keys#google_service_account".into());
    let mut endpoints = Endpoints::default();
    if let Ok(u) = std::env::var("GOOGLE_SHEETS_URL") {
        endpoints.sheets = u;
    }
    Some((sheet, secret, endpoints))
}

/// The Report step's sheet write for a real run: never an error, only a report.
pub async fn write_sheet(app: &App, run: &RunContext) -> Option<ScoresWritten> {
    let (sheet, secret, endpoints) = sheet_env()?;
    if run.dry_run {
        return None;
    }
    let result = async {
        let scores = S3ObjectStore::new(&app.clients)
            .get_text(&app.buckets.runs, &scores_key(run))
            .await
            .map_err(|e| task_error!(e))?;
        let scores: WeekScores = serde_json::from_str(&scores.text)
            .map_err(|e| TaskError::internal(format!("the week's scores: {e}")))?;
        let scores = scores
            .0
            .into_iter()
            .map(|(id, (score, band))| (id, CustomerScore { score, band }))
            .collect();
        let reasons = sent_reasons(app, &run.week).await?;
        let google = crate::drive_sync::google_client(&app.clients, &secret, &endpoints).await?;
        write_scores(&google, &sheet, &scores, &reasons).await
    }
    .await;
    Some(result.unwrap_or_else(|e| {
        tracing::error!(event = "sheet_write_failed", error = %e.message, error_type = e.kind, "sheet write failed");
        ScoresWritten {
            error: Some(e.message),
            ..Default::default()
        }
    }))
}

/// The reasons of the lists sent in `week` (sent or recorded), by customer id.
async fn sent_reasons(app: &App, week: &str) -> Result<FxHashMap<String, String>, TaskError> {
    let ledger = DynamoDbSendLedger::new(&app.clients, &app.tables)
        .get(week)
        .await
        .map_err(|e| task_error!(e))?;
    Ok(ledger
        .into_values()
        .filter(|e| e.status != LedgerStatus::Sending)
        .flat_map(|e| e.list)
        .map(|i| (i.customer_id, i.reason))
        .collect())
}

/// Writes the scores into the sheet: read just before writing, rows by customer id, only the
/// score columns it has, one `values.batchUpdate` (RAW) of the cells that change.
pub async fn write_scores(
    google: &GoogleClient,
    sheet_id: &str,
    scores: &FxHashMap<String, CustomerScore>,
    reasons: &FxHashMap<String, String>,
) -> Result<ScoresWritten, TaskError> {
    let rows = google
        .values_get(sheet_id, SHEET_RANGE)
        .await
        .map_err(crate::drive_sync::google_error)?;
    let Some((header_row, table)) = ListTable::from_rows(rows) else {
        return Ok(ScoresWritten::default());
    };
    let Some(plan) = score_cells(&table.header, &table.rows, scores, reasons) else {
        return Ok(ScoresWritten::default());
    };
    let columns = churn_core::scoring::score_cells::SCORE_COLUMNS
        .iter()
        .filter_map(|c| table.column(c).map(|i| table.header[i].clone()))
        .collect();
    let cells: Vec<(String, String)> = plan
        .into_iter()
        .map(|c| (a1(c.col, header_row + 1 + c.row), c.value))
        .collect();
    if !cells.is_empty() {
        google
            .values_batch_update(sheet_id, &cells)
            .await
            .map_err(crate::drive_sync::google_error)?;
    }
    tracing::info!(cells = cells.len(), "scores written into the sheet");
    Ok(ScoresWritten {
        columns,
        cells: cells.len(),
        error: None,
    })
}
