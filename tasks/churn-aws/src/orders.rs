//! `DynamoDbOrderHistory`: order-import's kept history in `cp-orders` (key `customer_id` +
//! `order_id`; `order_date` ISO, `amount` number when known), and its audit items in `cp-audit`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use churn_core::ingest::order_import::{CustomerChange, HistOrder, HistoryDiff};
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::error::AwsFailure;
use crate::items::{self, get_s, n, s};
use crate::state::StateError;

/// BatchWriteItem's limit.
const BATCH: usize = 25;

/// The order history table and the audit table.
#[derive(Debug, Clone)]
pub struct DynamoDbOrderHistory {
    client: aws_sdk_dynamodb::Client,
    orders_table: String,
    audit_table: String,
}

impl DynamoDbOrderHistory {
    pub fn new(
        client: &aws_sdk_dynamodb::Client,
        orders_table: &str,
        audit_table: &str,
    ) -> DynamoDbOrderHistory {
        DynamoDbOrderHistory {
            client: client.clone(),
            orders_table: orders_table.into(),
            audit_table: audit_table.into(),
        }
    }

    /// Every kept order (a paginated Scan, only the fields the backtest needs), for the monthly
    /// summary's backtest evidence (docs/SPEC.md §9).
    pub async fn scan_all(&self) -> Result<Vec<churn_core::ingest::orders::Order>, StateError> {
        use churn_core::ingest::orders::{CustomerKey, Order};
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.orders_table)
                .projection_expression("customer_id, order_date, amount")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk("DynamoDB.Scan", &e))?;
            for item in page.items() {
                let cid = get_s(item, "customer_id").unwrap_or_default();
                let corrupt = |detail: &str| StateError::Corrupt {
                    table: self.orders_table.clone(),
                    key: cid.to_string(),
                    detail: detail.into(),
                };
                if cid.is_empty() {
                    return Err(corrupt("no customer_id"));
                }
                let date = get_s(item, "order_date")
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| corrupt("bad order_date"))?;
                let amount = item
                    .get("amount")
                    .and_then(|a| a.as_n().ok())
                    .and_then(|a| a.parse().ok());
                out.push(Order {
                    order_id: None,
                    customer_key: CustomerKey::Id(cid.to_string()),
                    date,
                    amount,
                });
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// The kept orders of each customer (one Query each; customers without any are absent).
    pub async fn load<'i>(
        &self,
        customer_ids: impl IntoIterator<Item = &'i str>,
    ) -> Result<FxHashMap<String, Vec<HistOrder>>, StateError> {
        let mut out = FxHashMap::default();
        for cid in customer_ids {
            let mut start = None;
            let mut list = Vec::new();
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.orders_table)
                    .key_condition_expression("customer_id = :c")
                    .expression_attribute_values(":c", s(cid))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk("DynamoDB.Query", &e))?;
                for item in page.items() {
                    let corrupt = |detail: String| StateError::Corrupt {
                        table: self.orders_table.clone(),
                        key: cid.to_string(),
                        detail,
                    };
                    let order_id =
                        get_s(item, "order_id").ok_or_else(|| corrupt("no order_id".into()))?;
                    let date = get_s(item, "order_date")
                        .and_then(|d| d.parse().ok())
                        .ok_or_else(|| corrupt(format!("order {order_id}: bad order_date")))?;
                    let amount = item
                        .get("amount")
                        .and_then(|a| a.as_n().ok())
                        .and_then(|a| a.parse().ok());
                    list.push(HistOrder {
                        order_id: order_id.to_string(),
                        date,
                        amount,
                    });
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    break;
                }
            }
            if !list.is_empty() {
                out.insert(cid.to_string(), list);
            }
        }
        Ok(out)
    }

    /// Writes the history changes (puts and deletes, 25 per batch, unprocessed items retried).
    pub async fn apply(&self, history: &BTreeMap<String, HistoryDiff>) -> Result<(), StateError> {
        let mut writes = Vec::new();
        for (cid, d) in history {
            for o in &d.put {
                let mut item = std::collections::HashMap::from([
                    ("customer_id".to_string(), s(cid.as_str())),
                    ("order_id".to_string(), s(o.order_id.as_str())),
                    ("order_date".to_string(), s(o.date.to_string())),
                ]);
                if let Some(a) = o.amount {
                    item.insert("amount".into(), n(a));
                }
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StateError::Build {
                        op: "DynamoDB.BatchWriteItem",
                        detail: e.to_string(),
                    })?;
                writes.push(WriteRequest::builder().put_request(put).build());
            }
            for id in &d.delete {
                let del = DeleteRequest::builder()
                    .key("customer_id", s(cid.as_str()))
                    .key("order_id", s(id.as_str()))
                    .build()
                    .map_err(|e| StateError::Build {
                        op: "DynamoDB.BatchWriteItem",
                        detail: e.to_string(),
                    })?;
                writes.push(WriteRequest::builder().delete_request(del).build());
            }
        }
        for chunk in writes.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.orders_table, pending)
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk("DynamoDB.BatchWriteItem", &e))?;
                pending = out
                    .unprocessed_items()
                    .and_then(|m| m.get(&self.orders_table))
                    .cloned()
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempt >= 6 {
                        return Err(StateError::Task(format!(
                            "{} order history writes stayed unprocessed",
                            pending.len()
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
        }
        Ok(())
    }

    /// Appends the `order_import` audit item of one changed customer.
    pub async fn audit(
        &self,
        change: &CustomerChange,
        by_user: &str,
        ts: &str,
        notes: &Map<String, Value>,
    ) -> Result<(), StateError> {
        let (before, after) = change.audit_maps();
        let item = items::audit_item(
            &change.customer_id,
            ts,
            "order_import",
            by_user,
            &before,
            &after,
            notes,
        );
        self.client
            .put_item()
            .table_name(&self.audit_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#ts)")
            .expression_attribute_names("#ts", "ts")
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk("DynamoDB.PutItem", &e))?;
        Ok(())
    }
}
