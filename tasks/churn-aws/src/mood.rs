//! `DynamoDbMoodStore`: the mood-reader's writes (docs/SPEC.md §5, §8). The mood lives in `cp-state` as
//! a `support_mood` number on the customer's item; each write is one `TransactWriteItems`:
//!
//! 1. a put into the mail-seen table (`cp-mail-seen`, key `message_id`), conditioned on
//!    `attribute_not_exists(message_id) OR outcome <> "mood"` — the same Message-ID counts once;
//! 2. the `support_mood` update on `cp-state`, conditioned on the value read before the EMA (a
//!    concurrent ticket for the same customer makes it fail; the caller re-reads and blends
//!    again);
//! 3. the `mood` audit item (`attribute_not_exists(ts)`), notes carrying the Message-ID and label.
//!
//! All or nothing: a failure leaves no seen record, so the retry reads the message again.
//! Unmatched and unreadable messages get a seen-table item with the reason (no mood, no audit:
//! nothing about a customer changed), overwritable by a later successful read.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde_json::{Map, Value, json};

use crate::AwsClients;
use crate::error::AwsFailure;
use crate::items::{self, get_s, n, s};
use crate::state::{StateError, TableNames};

/// Who the audit names as the writer.
pub const MOOD_READER: &str = "mood-reader";

/// One mood to write.
#[derive(Debug, Clone, PartialEq)]
pub struct MoodWrite {
    pub message_id: String,
    pub customer_id: String,
    /// `sour`, `flat` or `happy`.
    pub label: String,
    /// The stored value the EMA started from (`None`: first ticket).
    pub before: Option<f64>,
    pub after: f64,
    /// The audit timestamp (unique).
    pub ts: String,
}

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoodWritten {
    Written,
    /// This Message-ID already set a mood: nothing written.
    Duplicate,
    /// The stored mood changed since it was read: nothing written; read and blend again.
    Stale,
}

/// A seen-table record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenMail {
    /// `mood`, `unmatched` or `unreadable`.
    pub outcome: String,
    pub customer_id: Option<String>,
}

/// The mood-reader's DynamoDB adapter.
#[derive(Debug, Clone)]
pub struct DynamoDbMoodStore {
    client: Client,
    state_table: String,
    audit_table: String,
    seen_table: String,
}

fn build_err(e: aws_smithy_types::error::operation::BuildError) -> StateError {
    StateError::Build {
        op: "DynamoDB.TransactWriteItems",
        detail: e.to_string(),
    }
}

impl DynamoDbMoodStore {
    pub fn new(clients: &AwsClients, tables: &TableNames, seen_table: &str) -> DynamoDbMoodStore {
        DynamoDbMoodStore {
            client: clients.dynamodb.clone(),
            state_table: tables.state.clone(),
            audit_table: tables.audit.clone(),
            seen_table: seen_table.to_string(),
        }
    }

    /// The seen record of a Message-ID (strongly consistent read).
    pub async fn seen(&self, message_id: &str) -> Result<Option<SeenMail>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.seen_table)
            .key("message_id", s(message_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StateError::Aws(AwsFailure::from_sdk("DynamoDB.GetItem", &e)))?;
        Ok(out.item().map(|item| SeenMail {
            outcome: get_s(item, "outcome").unwrap_or_default().to_string(),
            customer_id: get_s(item, "customer_id").map(str::to_string),
        }))
    }

    /// The customer's stored `support_mood` (strongly consistent read).
    pub async fn stored_mood(&self, customer_id: &str) -> Result<Option<f64>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.state_table)
            .key("customer_id", s(customer_id))
            .projection_expression("support_mood")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StateError::Aws(AwsFailure::from_sdk("DynamoDB.GetItem", &e)))?;
        match out.item().and_then(|i| i.get("support_mood")) {
            None => Ok(None),
            Some(v) => v
                .as_n()
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .map(Some)
                .ok_or_else(|| StateError::Corrupt {
                    table: self.state_table.clone(),
                    key: customer_id.to_string(),
                    detail: "support_mood is not a number".into(),
                }),
        }
    }

    /// Records an unmatched or unreadable message with the reason (never over a `mood` record).
    pub async fn record_skip(
        &self,
        message_id: &str,
        outcome: &str,
        reason: &str,
        ts: &str,
    ) -> Result<(), StateError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.seen_table)
            .item("message_id", s(message_id))
            .item("outcome", s(outcome))
            .item("reason", s(reason))
            .item("ts", s(ts))
            .condition_expression("attribute_not_exists(message_id) OR outcome <> :mood")
            .expression_attribute_values(":mood", s("mood"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(StateError::Aws(AwsFailure::from_sdk(
                "DynamoDB.PutItem",
                &e,
            ))),
        }
    }

    /// Writes the seen record, the mood and its audit item in one transaction (module doc).
    pub async fn write_mood(&self, w: &MoodWrite) -> Result<MoodWritten, StateError> {
        let seen = Put::builder()
            .table_name(&self.seen_table)
            .item("message_id", s(&w.message_id))
            .item("outcome", s("mood"))
            .item("customer_id", s(&w.customer_id))
            .item("ts", s(&w.ts))
            .condition_expression("attribute_not_exists(message_id) OR outcome <> :mood")
            .expression_attribute_values(":mood", s("mood"))
            .build()
            .map_err(build_err)?;
        let mut values = HashMap::from([(":new".to_string(), n(w.after))]);
        let condition = match w.before {
            None => "attribute_not_exists(support_mood)".to_string(),
            Some(b) => {
                values.insert(":old".into(), n(b));
                "support_mood = :old".to_string()
            }
        };
        let update = Update::builder()
            .table_name(&self.state_table)
            .key("customer_id", s(&w.customer_id))
            .update_expression("SET support_mood = :new")
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(build_err)?;
        let before = Map::from_iter([(
            "support_mood".to_string(),
            w.before.map_or(Value::Null, |b| json!(b)),
        )]);
        let after = Map::from_iter([("support_mood".to_string(), json!(w.after))]);
        let notes = Map::from_iter([
            ("message_id".to_string(), json!(w.message_id)),
            ("label".to_string(), json!(w.label)),
        ]);
        let audit = Put::builder()
            .table_name(&self.audit_table)
            .set_item(Some(items::audit_item(
                &w.customer_id,
                &w.ts,
                "mood",
                MOOD_READER,
                &before,
                &after,
                &notes,
            )))
            .condition_expression("attribute_not_exists(#ts)")
            .expression_attribute_names("#ts", "ts")
            .build()
            .map_err(build_err)?;
        let ops = vec![
            TransactWriteItem::builder().put(seen).build(),
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().put(audit).build(),
        ];
        let mut attempt = 0u32;
        loop {
            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(ops.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(MoodWritten::Written),
                Err(e) => e,
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                err.as_service_error()
            {
                let codes: Vec<&str> = c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None"))
                    .collect();
                match codes.iter().position(|c| *c == "ConditionalCheckFailed") {
                    Some(0) => return Ok(MoodWritten::Duplicate),
                    Some(1) => return Ok(MoodWritten::Stale),
                    Some(_) => {
                        return Err(StateError::Corrupt {
                            table: self.audit_table.clone(),
                            key: w.customer_id.clone(),
                            detail: "an audit item with this ts exists".into(),
                        });
                    }
                    None => {}
                }
                attempt += 1;
                if codes.contains(&"TransactionConflict") && attempt < 4 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                    continue;
                }
            }
            return Err(StateError::Aws(AwsFailure::from_sdk(
                "DynamoDB.TransactWriteItems",
                &err,
            )));
        }
    }
}

/// An attribute value as text, for tests reading items back.
pub fn attr_text(v: &AttributeValue) -> Option<String> {
    v.as_s().ok().or_else(|| v.as_n().ok()).cloned()
}
