//! `DynamoDbSendLedger`: the send ledger (`cp-runs`, key `week` + `owner`), mirroring
//! `churn_local::store::LedgerEntry`. Its own table so no customer id can collide with it and the
//! handoff role can be given exactly this table (`docs/aws-design.md`).

use std::collections::HashMap;

use churn_core::model::ListItem;
use rustc_hash::FxHashMap;

use crate::error::{AwsFailure, ERROR_INTERNAL};
use crate::items::{Item, get_s, s};
use crate::{AwsClients, TableNames};

/// A send ledger problem.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// `mark_sent` found an entry: a concurrent duplicate branch (treated as `already_sent`).
    #[error("the send ledger already has {week} for {owner}")]
    AlreadyExists { week: String, owner: String },
    /// `mark_recorded` found no entry, or one not in `sent`.
    #[error("the send ledger has no sent entry for {week} and {owner} to mark recorded")]
    NotSent { week: String, owner: String },
    #[error("the send ledger holds an unreadable entry ({week}, {owner}): {detail}")]
    Corrupt {
        week: String,
        owner: String,
        detail: String,
    },
    #[error(transparent)]
    Aws(#[from] AwsFailure),
}

impl LedgerError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, LedgerError::Aws(f) if f.is_retryable())
    }

    pub fn error_type(&self) -> &'static str {
        match self {
            LedgerError::Aws(f) => f.error_type(),
            _ => ERROR_INTERNAL,
        }
    }
}

/// The ledger's state for one (week, owner).
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub week: String,
    pub owner: String,
    /// `status = recorded` (else `sent`).
    pub recorded: bool,
    /// `slack` or `email`.
    pub via: String,
    /// The list that was sent.
    pub list: Vec<ListItem>,
    pub rules_version: String,
    pub sent_at: String,
    pub recorded_at: Option<String>,
    pub run_id: String,
}

/// The send ledger on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoDbSendLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbSendLedger {
    pub fn new(clients: &AwsClients, tables: &TableNames) -> DynamoDbSendLedger {
        DynamoDbSendLedger {
            client: clients.dynamodb.clone(),
            table: tables.runs.clone(),
        }
    }

    /// The week's entries by owner (Query, all pages, consistent).
    pub async fn get(&self, week: &str) -> Result<FxHashMap<String, LedgerEntry>, LedgerError> {
        let mut out = FxHashMap::default();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#w = :w")
                .expression_attribute_names("#w", "week")
                .expression_attribute_values(":w", s(week))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk("DynamoDB.Query", &e))?;
            for item in page.items() {
                let entry = entry_from_item(item)?;
                out.insert(entry.owner.clone(), entry);
            }
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Marks (week, owner) `sent` with the list that went out: `PutItem` with
    /// `attribute_not_exists(week)`; an existing entry is [`LedgerError::AlreadyExists`].
    #[allow(clippy::too_many_arguments)]
    pub async fn mark_sent(
        &self,
        week: &str,
        owner: &str,
        via: &str,
        list: &[ListItem],
        rules_version: &str,
        run_id: &str,
        sent_at: &str,
    ) -> Result<(), LedgerError> {
        let list_json = serde_json::to_string(list).map_err(|e| LedgerError::Corrupt {
            week: week.into(),
            owner: owner.into(),
            detail: e.to_string(),
        })?;
        let item: Item = HashMap::from([
            ("week".to_string(), s(week)),
            ("owner".to_string(), s(owner)),
            ("status".to_string(), s("sent")),
            ("via".to_string(), s(via)),
            ("list".to_string(), s(list_json)),
            ("rules_version".to_string(), s(rules_version)),
            ("sent_at".to_string(), s(sent_at)),
            ("run_id".to_string(), s(run_id)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#w)")
            .expression_attribute_names("#w", "week")
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    LedgerError::AlreadyExists {
                        week: week.into(),
                        owner: owner.into(),
                    }
                } else {
                    AwsFailure::from_sdk("DynamoDB.PutItem", &e).into()
                }
            })?;
        Ok(())
    }

    /// Marks (week, owner) `recorded`: `UpdateItem SET #s = :recorded` with `#s = :sent`; any
    /// other state (missing, already recorded) is [`LedgerError::NotSent`].
    pub async fn mark_recorded(
        &self,
        week: &str,
        owner: &str,
        recorded_at: &str,
    ) -> Result<(), LedgerError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("week", s(week))
            .key("owner", s(owner))
            .update_expression("SET #s = :recorded, #r = :at")
            .condition_expression("#s = :sent")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#r", "recorded_at")
            .expression_attribute_values(":recorded", s("recorded"))
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":at", s(recorded_at))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    LedgerError::NotSent {
                        week: week.into(),
                        owner: owner.into(),
                    }
                } else {
                    AwsFailure::from_sdk("DynamoDB.UpdateItem", &e).into()
                }
            })?;
        Ok(())
    }
}

fn entry_from_item(item: &Item) -> Result<LedgerEntry, LedgerError> {
    let week = get_s(item, "week").unwrap_or("?").to_string();
    let owner = get_s(item, "owner").unwrap_or("?").to_string();
    let corrupt = |detail: &str| LedgerError::Corrupt {
        week: week.clone(),
        owner: owner.clone(),
        detail: detail.to_string(),
    };
    let req = |name: &str| {
        get_s(item, name)
            .map(str::to_string)
            .ok_or_else(|| corrupt(&format!("{name} missing")))
    };
    let recorded = match get_s(item, "status") {
        Some("sent") => false,
        Some("recorded") => true,
        _ => return Err(corrupt("status is neither sent nor recorded")),
    };
    let list = serde_json::from_str(&req("list")?)
        .map_err(|e| corrupt(&format!("list is not a JSON list of customers: {e}")))?;
    Ok(LedgerEntry {
        week: req("week")?,
        owner: req("owner")?,
        recorded,
        via: req("via")?,
        list,
        rules_version: req("rules_version")?,
        sent_at: req("sent_at")?,
        recorded_at: get_s(item, "recorded_at").map(str::to_string),
        run_id: get_s(item, "run_id").unwrap_or_default().to_string(),
    })
}
