//! The record task (docs/SPEC.md §4 step 3): records each sent list from the send ledger (the engine's
//! `record_owner`: state, one `surfaced` audit item per name, then `recorded`), idempotently; and
//! the run report, which ends the execution `FAILED`, naming the failed owners, when any failed.

use churn_aws::S3ObjectStore;
use churn_core::run::engine::{owner_ref, record_owner};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::App;
use crate::error::TaskError;
use crate::handoff::run_store;
use crate::payload::{HandoffOutput, OwnerSummary, RunContext};
use crate::task_error;

/// Record's event: an owner's handoff output, or `{"report": {...}}` at the end of the run.
pub async fn handle(app: &App, event: Value) -> Result<Value, TaskError> {
    if let Some(report) = event.get("report") {
        let report: ReportInput = serde_json::from_value(report.clone())
            .map_err(|e| TaskError::bad_input(format!("report: {e}")))?;
        let out = report_run(app, report).await?;
        return serde_json::to_value(out).map_err(|e| TaskError::internal(e.to_string()));
    }
    let result: HandoffOutput = serde_json::from_value(event)
        .map_err(|e| TaskError::bad_input(format!("record input: {e}")))?;
    let out = record(app, result).await?;
    serde_json::to_value(out).map_err(|e| TaskError::internal(e.to_string()))
}

/// Records one owner's sent list (`churn_core::run::engine::record_owner`); changes nothing
/// when already recorded. Returns the owner's summary without the run (the Map collects these).
pub async fn record(app: &App, handoff: HandoffOutput) -> Result<OwnerSummary, TaskError> {
    let HandoffOutput { run, mut owner } = handoff;
    let span = tracing::info_span!("record", run_id = %run.run_id, week = %run.week, owner_ref = %owner_ref(&owner.owner));
    let _enter = span.enter();
    if owner.record {
        owner.recorded = record_owner(&run_store(app), &run, &owner.owner, "churn")
            .await
            .map_err(|e| TaskError::new(e.kind.error_type(), e.message))?;
        owner.record = false;
        tracing::info!(names = owner.recorded, "recorded");
    }
    Ok(owner)
}

/// The Report state's input: the run and every owner's result.
#[derive(Debug, Clone, Deserialize)]
pub struct ReportInput {
    pub run: RunContext,
    pub results: Vec<Value>,
    #[serde(default)]
    pub skipped_paused: u64,
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// The Report state's output: the Choice after it fails the execution when `failed`.
#[derive(Debug, Clone, Serialize)]
pub struct ReportOutput {
    pub failed: bool,
    pub failed_owners: Vec<String>,
    /// Names the failed owners (the execution's error cause when it fails).
    pub cause: String,
    pub report_key: String,
    pub owners: Vec<Value>,
    /// Why the scores could not be written into the customer sheet (the sends stand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet_error: Option<String>,
}

/// Writes the run report to S3 (`runs/<week>/<run_id>/report.json`: every owner's full report,
/// read back from the owners' files) and a summary line to the log.
pub async fn report_run(app: &App, input: ReportInput) -> Result<ReportOutput, TaskError> {
    let run = &input.run;
    let objects = S3ObjectStore::new(&app.clients);
    let mut owners = Vec::with_capacity(input.results.len());
    let mut full = Vec::with_capacity(input.results.len());
    for r in &input.results {
        let summary = serde_json::json!({
            "owner": r["owner"], "status": r["status"], "via": r["via"],
            "names": r["names"], "recorded": r["recorded"], "note": r["note"], "error": r["error"],
        });
        let mut report = match r["report_key"].as_str() {
            Some(key) => match objects.get_text(&app.buckets.runs, key).await {
                Ok(t) => serde_json::from_str(&t.text).unwrap_or_else(|_| summary.clone()),
                Err(e) => {
                    tracing::warn!(error = %e, "an owner's report could not be read; the summary stands in");
                    summary.clone()
                }
            },
            None => summary.clone(),
        };
        report["recorded"] = r["recorded"].clone();
        if r["status"] == "failed" {
            report["status"] = r["status"].clone();
            report["error"] = serde_json::json!(format!(
                "{}: {}",
                r["error"].as_str().unwrap_or("failed"),
                r["cause"].as_str().unwrap_or("")
            ));
        }
        owners.push(summary);
        full.push(report);
    }
    let failed_owners: Vec<String> = owners
        .iter()
        .filter(|o| o["status"] == "failed")
        .map(|o| o["owner"].as_str().unwrap_or("?").to_string())
        .collect();
    let key = format!("runs/{}/{}/report.json", run.week, run.run_id);
    // After every send: a sheet that cannot be written is reported, never a failed run.
    let sheet = crate::history::write_sheet(app, run).await;
    let report = serde_json::json!({
        "run": run, "owners": full, "failed_owners": failed_owners,
        "skipped_paused": input.skipped_paused, "errors": input.errors, "sheet": sheet,
    });
    objects
        .put_json(&app.buckets.runs, &key, &report)
        .await
        .map_err(|e| task_error!(e))?;
    let state_bytes = serde_json::to_vec(&input.results).map_or(0, |v| v.len());
    tracing::info!(run_id = %run.run_id, week = %run.week, owners = owners.len(), failed = failed_owners.len(), report_key = %key, map_results_bytes = state_bytes, "run report");
    let cause = if failed_owners.is_empty() {
        String::new()
    } else {
        format!(
            "{} owner(s) failed: {}; start a New execution with the same input to retry exactly these",
            failed_owners.len(),
            failed_owners.join(", ")
        )
    };
    Ok(ReportOutput {
        sheet_error: sheet.and_then(|s| s.error),
        failed: !failed_owners.is_empty(),
        failed_owners,
        cause,
        report_key: key,
        owners,
    })
}
