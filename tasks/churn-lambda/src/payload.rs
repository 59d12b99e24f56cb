//! The shapes that travel between the Monday run's tasks (docs/aws-design.md).

use churn_core::customers::BadRow;
use churn_core::model::ListItem;
use churn_core::run::RunInput;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::TaskError;

/// Fixed by the scorer once per run; every later task uses it (SPEC §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    pub week: String,
    /// The run's local date, `YYYY-MM-DD`.
    pub as_of: String,
    pub run_id: String,
    pub dry_run: bool,
    pub resend: bool,
    pub rules_version: String,
    pub weekly_cap: usize,
    pub contact_pause_days: u32,
}

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

/// One Map item: an owner and their candidates (inline, or in S3 when large).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerItem {
    pub owner: String,
    /// How the owner is configured to be reached (`slack` / `email`).
    pub via: String,
    /// The Slack member id from the owner line, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_user: Option<String>,
    /// Ranked candidates after the pause (a few more than the cap; the handoff re-checks).
    #[serde(default)]
    pub candidates: Option<Vec<ListItem>>,
    /// Where the candidates are when they were too large to travel inline.
    #[serde(default)]
    pub candidates_key: Option<String>,
    pub count: usize,
    /// The owner's address is also a customer's email: nothing may be sent to it.
    #[serde(default)]
    pub refused: bool,
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

pub use churn_core::model::CustomerOut;

/// An owner's result (handoff output, record input and output).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnerResult {
    pub run: RunContext,
    pub owner: String,
    pub via: String,
    /// `sent`, `already_sent`, `nothing_to_send`, `dry_run` (or `failed` from the Catch).
    pub status: String,
    #[serde(default)]
    pub customers: Vec<CustomerOut>,
    /// Whether Record must record this owner's list from the ledger.
    #[serde(default)]
    pub record: bool,
    #[serde(default)]
    pub recorded: usize,
    /// What happened on the way (e.g. "Slack failed; sent by email").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
