//! `DynamoDbSendLedger`: the send ledger with claims (`cp-runs`, key `week` + `owner`; docs/SPEC.md §4),
//! the AWS twin of the ledger in `churn_local::store`. Its own table so no customer id can collide
//! with it and the handoff role can be given exactly this table (`docs/aws-design.md`). Every write
//! is conditional: a claim only on a missing entry or a lapsed (or own) `sending` one; `prepare`,
//! `mark_sent` and `release` only while the run still holds the claim.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use churn_core::model::ListItem;
use churn_core::run::{Claim, ClaimRequest, LedgerEntry, LedgerStatus, SentList, Via};
use rustc_hash::FxHashMap;

use crate::error::{AwsFailure, ERROR_INTERNAL};
use crate::items::{Item, get_s, n, s};
use crate::{AwsClients, TableNames};

/// A send ledger problem.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
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

/// The send ledger on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoDbSendLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// Whether an SDK error is a failed condition.
fn condition_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
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

    /// One entry (consistent read).
    pub async fn entry(&self, week: &str, owner: &str) -> Result<Option<LedgerEntry>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("week", s(week))
            .key("owner", s(owner))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk("DynamoDB.GetItem", &e))?;
        out.item.as_ref().map(entry_from_item).transpose()
    }

    /// Claims (week, owner) for the run: one conditional `UpdateItem` that succeeds on a missing
    /// entry or a `sending` one whose lease ended or that is this run's own; a takeover keeps
    /// the list the lapsed claim was sending (`ALL_OLD` returns it).
    pub async fn claim(&self, r: &ClaimRequest<'_>) -> Result<Claim, LedgerError> {
        // A claim released between the failed condition and the read is tried again.
        for _ in 0..3 {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("week", s(r.week))
                .key("owner", s(r.owner))
                .update_expression(
                    "SET #s = :sending, run_id = :run, lease_until = :until, \
                     via = if_not_exists(via, :email), #l = if_not_exists(#l, :empty), \
                     rules_version = if_not_exists(rules_version, :blank)",
                )
                .condition_expression(
                    "attribute_not_exists(#w) OR (#s = :sending AND (lease_until < :now OR run_id = :run))",
                )
                .expression_attribute_names("#w", "week")
                .expression_attribute_names("#s", "status")
                .expression_attribute_names("#l", "list")
                .expression_attribute_values(":sending", s("sending"))
                .expression_attribute_values(":run", s(r.run_id))
                .expression_attribute_values(":until", n(r.lease_until_ms))
                .expression_attribute_values(":now", n(r.now_ms))
                .expression_attribute_values(":email", s("email"))
                .expression_attribute_values(":empty", s("[]"))
                .expression_attribute_values(":blank", s(""))
                .return_values(ReturnValue::AllOld)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let previous = match out.attributes {
                        Some(old) if !old.is_empty() => Some(entry_from_item(&old)?),
                        _ => None,
                    };
                    return Ok(Claim::Claimed { previous });
                }
                Err(e) if condition_failed(&e) => match self.entry(r.week, r.owner).await? {
                    Some(e) if e.status == LedgerStatus::Sending => {
                        return Ok(Claim::Busy { run_id: e.run_id });
                    }
                    Some(e) => return Ok(Claim::Done(e)),
                    None => continue,
                },
                Err(e) => return Err(AwsFailure::from_sdk("DynamoDB.UpdateItem", &e).into()),
            }
        }
        Err(AwsFailure::transient("DynamoDB.UpdateItem", "the claim kept changing under us").into())
    }

    /// A conditional update of this run's claim; `false` when the claim is not its any more.
    async fn update_claim(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        update: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, LedgerError> {
        let mut call = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("week", s(week))
            .key("owner", s(owner))
            .update_expression(update)
            .condition_expression("#s = :sending AND run_id = :run")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":run", s(run_id));
        if update.contains("#l") {
            call = call.expression_attribute_names("#l", "list");
        }
        for (k, v) in values {
            call = call.expression_attribute_values(k, v);
        }
        match call.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(AwsFailure::from_sdk("DynamoDB.UpdateItem", &e).into()),
        }
    }

    fn list_json(week: &str, owner: &str, list: &[ListItem]) -> Result<String, LedgerError> {
        serde_json::to_string(list).map_err(|e| LedgerError::Corrupt {
            week: week.into(),
            owner: owner.into(),
            detail: e.to_string(),
        })
    }

    /// Adds the held-out customers (docs/SPEC.md §3 `holdout`) to a `SET` as the JSON attribute
    /// `held_out` — only when there are any, so a run without a holdout writes what it always did.
    fn with_held_out(
        set: &str,
        week: &str,
        owner: &str,
        sent: &SentList<'_>,
        values: &mut Vec<(&str, AttributeValue)>,
    ) -> Result<String, LedgerError> {
        if sent.held_out.is_empty() {
            return Ok(set.to_string());
        }
        let json = serde_json::to_string(sent.held_out).map_err(|e| LedgerError::Corrupt {
            week: week.into(),
            owner: owner.into(),
            detail: e.to_string(),
        })?;
        values.push((":held", s(json)));
        Ok(format!("{set}, held_out = :held"))
    }

    /// Stores the list about to be sent in the run's claim.
    pub async fn prepare(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        sent: &SentList<'_>,
    ) -> Result<bool, LedgerError> {
        let list = Self::list_json(week, owner, sent.list)?;
        let mut values = vec![
            (":via", s(sent.via.as_str())),
            (":list", s(list)),
            (":rv", s(sent.rules_version)),
        ];
        let set = Self::with_held_out(
            "SET via = :via, #l = :list, rules_version = :rv",
            week,
            owner,
            sent,
            &mut values,
        )?;
        self.update_claim(week, owner, run_id, &set, values).await
    }

    /// Marks the run's claim `sent` with the list that went out.
    pub async fn mark_sent(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        sent: &SentList<'_>,
        sent_at: &str,
    ) -> Result<bool, LedgerError> {
        let list = Self::list_json(week, owner, sent.list)?;
        let mut values = vec![
            (":sent", s("sent")),
            (":via", s(sent.via.as_str())),
            (":list", s(list)),
            (":rv", s(sent.rules_version)),
            (":at", s(sent_at)),
        ];
        let set = Self::with_held_out(
            "SET #s = :sent, via = :via, #l = :list, rules_version = :rv, sent_at = :at",
            week,
            owner,
            sent,
            &mut values,
        )?;
        self.update_claim(
            week,
            owner,
            run_id,
            &format!("{set} REMOVE lease_until"),
            values,
        )
        .await
    }

    /// Ends the run's claim now (`lease_until = 0`), keeping its list for the run that takes it
    /// over and checks the channel.
    pub async fn abandon(&self, week: &str, owner: &str, run_id: &str) -> Result<(), LedgerError> {
        self.update_claim(
            week,
            owner,
            run_id,
            "SET lease_until = :zero",
            vec![(":zero", n(0))],
        )
        .await
        .map(|_| ())
    }

    /// Deletes the run's claim (nothing was sent); a claim that is not its any more is left.
    pub async fn release(&self, week: &str, owner: &str, run_id: &str) -> Result<(), LedgerError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("week", s(week))
            .key("owner", s(owner))
            .condition_expression("#s = :sending AND run_id = :run")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":run", s(run_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(AwsFailure::from_sdk("DynamoDB.DeleteItem", &e).into()),
        }
    }

    /// Marks (week, owner) `recorded`: `UpdateItem SET #s = :recorded` with `#s = :sent`; any
    /// other state (missing, already recorded) is [`LedgerError::NotSent`].
    pub async fn mark_recorded(
        &self,
        week: &str,
        owner: &str,
        recorded_at: &str,
    ) -> Result<(), LedgerError> {
        let result = self
            .client
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
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(LedgerError::NotSent {
                week: week.into(),
                owner: owner.into(),
            }),
            Err(e) => Err(AwsFailure::from_sdk("DynamoDB.UpdateItem", &e).into()),
        }
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
    let status = get_s(item, "status")
        .and_then(LedgerStatus::parse)
        .ok_or_else(|| corrupt("status is not sending, sent or recorded"))?;
    let via = get_s(item, "via")
        .and_then(Via::parse)
        .ok_or_else(|| corrupt("via is neither slack nor email"))?;
    let list = serde_json::from_str(&req("list")?)
        .map_err(|e| corrupt(&format!("list is not a JSON list of customers: {e}")))?;
    let held_out = match get_s(item, "held_out") {
        Some(h) => serde_json::from_str(h)
            .map_err(|e| corrupt(&format!("held_out is not a JSON list of customers: {e}")))?,
        None => Vec::new(),
    };
    let lease_until_ms = item
        .get("lease_until")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok());
    Ok(LedgerEntry {
        week: req("week")?,
        owner: req("owner")?,
        status,
        run_id: get_s(item, "run_id").unwrap_or_default().to_string(),
        via,
        list,
        rules_version: get_s(item, "rules_version").unwrap_or_default().to_string(),
        held_out,
        lease_until_ms,
    })
}
