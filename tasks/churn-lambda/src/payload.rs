//! The shapes that travel between the Monday run's tasks (docs/aws-design.md).

use churn_core::list::customers::BadRow;
use churn_core::run::{OwnerPlan, OwnerStatus, RunInput, Via};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::TaskError;

pub use churn_core::run::RunContext;

/// The scorer's event: the execution input, and the execution's name when the state machine
/// passes it (`{"input.$": "$", "execution.$": "$$.Execution.Name"}`); a bare input also works.
pub fn scorer_event(event: Value) -> Result<(RunInput, Option<String>), TaskError> {
    let parse = |v: Value| {
        serde_json::from_value::<RunInput>(v)
            .map_err(|e| TaskError::bad_input(format!("run input: {e}")))
    };
    match event {
        Value::Object(mut m) if m.contains_key("input") => {
            let execution = m
                .remove("execution")
                .and_then(|v| v.as_str().map(str::to_string));
            Ok((parse(m.remove("input").unwrap_or_default())?, execution))
        }
        Value::Null => Ok((RunInput::default(), None)),
        other => Ok((parse(other)?, None)),
    }
}

/// One Map item: an owner's plan, its shortlist inline or (when the scorer's output would be
/// large) in S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerItem {
    #[serde(flatten)]
    pub plan: OwnerPlan,
    /// Where the shortlist is when it did not travel inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortlist_key: Option<String>,
}

/// The scorer's result: the run context and one item per owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScorerOutput {
    pub run: RunContext,
    pub owners: Vec<OwnerItem>,
    pub skipped_paused: u64,
    pub rows: u64,
    pub bad_rows: u64,
    /// The first bad rows (all are in the run report).
    pub errors: Vec<BadRow>,
}

/// The handoff's event (a Map iteration).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffEvent {
    pub run: RunContext,
    pub item: OwnerItem,
}

/// What an owner's branch carries through the Map: counts and statuses, never the list (that
/// is in the owner's report in S3), so 50 owners stay far below Step Functions' 256 KB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerSummary {
    pub owner: String,
    pub via: Via,
    pub status: OwnerStatus,
    /// Names sent (or computed, on a dry run).
    pub names: usize,
    pub candidates: usize,
    /// Record must run for this owner.
    #[serde(default)]
    pub record: bool,
    #[serde(default)]
    pub recorded: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The owner's full report: `runs/<week>/<run_id>/owners/<owner>.json`.
    pub report_key: String,
}

/// The handoff's output and Record's input: the run and the owner's summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoffOutput {
    pub run: RunContext,
    #[serde(flatten)]
    pub owner: OwnerSummary,
}

/// Where an owner's full report goes.
pub fn owner_report_key(run: &RunContext, owner: &str) -> String {
    format!("runs/{}/{}/owners/{owner}.json", run.week, run.run_id)
}

/// The bucket and key of every record of an S3 event notification.
pub fn s3_objects(event: &Value) -> Result<Vec<(String, String)>, TaskError> {
    let records = event["Records"]
        .as_array()
        .ok_or_else(|| TaskError::bad_input("not an S3 event: no Records"))?;
    records
        .iter()
        .map(|r| {
            let bucket = r["s3"]["bucket"]["name"].as_str();
            let key = r["s3"]["object"]["key"].as_str();
            match (bucket, key) {
                // Keys arrive URL-encoded, spaces as `+`.
                (Some(b), Some(k)) => Ok((
                    b.to_string(),
                    form_urlencoded::parse(format!("k={k}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default(),
                )),
                _ => Err(TaskError::bad_input("S3 record without bucket or key")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample events under events/ are what the tasks really read.
    #[test]
    fn the_sample_events_parse_into_the_task_types() {
        let handoff: HandoffEvent =
            serde_json::from_str(include_str!("../../../events/handoff.json")).unwrap();
        assert_eq!(handoff.item.plan.via, Via::Slack);
        assert_eq!(
            handoff.item.plan.shortlist.len(),
            handoff.item.plan.candidates
        );
        assert!(
            handoff.item.plan.shortlist[0].breakdown[0].facts != churn_core::model::Facts::NoData,
            "facts travel with the list"
        );
        let record: HandoffOutput =
            serde_json::from_str(include_str!("../../../events/record.json")).unwrap();
        assert_eq!(record.owner.status, OwnerStatus::Sent);
        assert!(record.owner.record);
        assert_eq!(
            record.owner.report_key,
            owner_report_key(&record.run, &record.owner.owner)
        );
        let report: Value =
            serde_json::from_str(include_str!("../../../events/report.json")).unwrap();
        let input: crate::record::ReportInput =
            serde_json::from_value(report["report"].clone()).unwrap();
        for r in input.results.iter().filter(|r| r["status"] != "failed") {
            serde_json::from_value::<OwnerSummary>(r.clone()).unwrap();
        }
        let scorer: Value =
            serde_json::from_str(include_str!("../../../events/scorer.json")).unwrap();
        scorer_event(scorer).unwrap();
    }
}
