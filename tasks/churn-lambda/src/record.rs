//! The record task (SPEC §4 step 3): records each sent list from the send ledger (state, one
//! `surfaced` audit item per name, then `recorded`), idempotently; and the run report, which ends
//! the execution `FAILED`, naming the failed owners, when any owner failed.

use churn_aws::{AuditClock, DynamoDbSendLedger, DynamoDbStateStore, LedgerError, S3ObjectStore};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::App;
use crate::error::TaskError;
use crate::payload::{OwnerResult, RunContext};
use crate::task_error;

/// Record's event: an owner's result, or `{"report": {...}}` at the end of the run.
pub async fn handle(app: &App, event: Value) -> Result<Value, TaskError> {
    if let Some(report) = event.get("report") {
        let report: ReportInput = serde_json::from_value(report.clone())
            .map_err(|e| TaskError::bad_input(format!("report: {e}")))?;
        let out = report_run(app, report).await?;
        return serde_json::to_value(out).map_err(|e| TaskError::internal(e.to_string()));
    }
    let result: OwnerResult = serde_json::from_value(event)
        .map_err(|e| TaskError::bad_input(format!("record input: {e}")))?;
    let out = record(app, result).await?;
    serde_json::to_value(out).map_err(|e| TaskError::internal(e.to_string()))
}

/// Records one owner's sent list; changes nothing when already recorded.
pub async fn record(app: &App, mut result: OwnerResult) -> Result<OwnerResult, TaskError> {
    let run = &result.run;
    let span = tracing::info_span!("record", run_id = %run.run_id, week = %run.week);
    let _enter = span.enter();
    if !result.record || run.dry_run {
        return Ok(result);
    }
    let ledger = DynamoDbSendLedger::new(&app.clients, &app.tables);
    let entries = ledger.get(&run.week).await.map_err(|e| task_error!(e))?;
    let Some(entry) = entries.get(&result.owner) else {
        return Err(TaskError::internal("nothing sent to record for this owner"));
    };
    if entry.recorded {
        result.record = false;
        return Ok(result);
    }
    let as_of: jiff::civil::Date = run
        .as_of
        .parse()
        .map_err(|_| TaskError::bad_input(format!("as_of `{}`", run.as_of)))?;
    let state = DynamoDbStateStore::new(&app.clients, &app.tables);
    let mut clock = AuditClock::default();
    let n = state
        .record_surfaced(
            &run.week,
            &result.owner,
            &entry.via,
            as_of,
            &entry.list,
            "churn",
            &mut clock,
        )
        .await
        .map_err(|e| task_error!(e))?;
    match ledger
        .mark_recorded(&run.week, &result.owner, &clock.now_string())
        .await
    {
        Ok(()) => {}
        // A concurrent Record got there first: the same names, recorded once.
        Err(LedgerError::NotSent { .. }) => {}
        Err(e) => return Err(task_error!(e)),
    }
    tracing::info!(names = n, "recorded");
    result.recorded = n;
    result.record = false;
    Ok(result)
}

/// The Report state's input: the run and every owner's result.
#[derive(Debug, Clone, Deserialize)]
pub struct ReportInput {
    pub run: RunContext,
    pub results: Vec<Value>,
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
}

/// Writes the run report to S3 and the log.
pub async fn report_run(app: &App, input: ReportInput) -> Result<ReportOutput, TaskError> {
    let run = &input.run;
    let owners: Vec<Value> = input
        .results
        .iter()
        .map(|r| {
            serde_json::json!({
                "owner": r["owner"], "status": r["status"], "via": r["via"],
                "names": r["customers"].as_array().map_or(0, Vec::len),
                "recorded": r["recorded"], "error": r["error"], "note": r["note"],
            })
        })
        .collect();
    let failed_owners: Vec<String> = owners
        .iter()
        .filter(|o| o["status"] == "failed")
        .map(|o| o["owner"].as_str().unwrap_or("?").to_string())
        .collect();
    let key = format!("runs/{}/{}/report.json", run.week, run.run_id);
    let report = serde_json::json!({"run": run, "owners": owners, "failed_owners": failed_owners});
    if !run.dry_run {
        S3ObjectStore::new(&app.clients)
            .put_json(&app.buckets.runs, &key, &report)
            .await
            .map_err(|e| task_error!(e))?;
    }
    tracing::info!(run_id = %run.run_id, week = %run.week, owners = owners.len(), failed = failed_owners.len(), report = %report, "run report");
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
        failed: !failed_owners.is_empty(),
        failed_owners,
        cause,
        report_key: key,
        owners,
    })
}
