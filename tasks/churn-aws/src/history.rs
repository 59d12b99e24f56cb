//! `DynamoDbScoreHistory`: the score history (`cp-history`, docs/SPEC.md §5, `docs/aws-design.md`),
//! one item per customer and week — key `customer_id` + `week`, `score`, `band`,
//! `rules_version`, and `expires_at` (Unix seconds, DynamoDB TTL: two years).
//!
//! Decisions:
//! - Every run writes every customer's entry of its week (the week key makes a rerun replace it):
//!   `BatchWriteItem`, 25 puts per call, 4 calls at a time, unprocessed items retried with
//!   backoff. One write unit per customer per week (items are about 100 bytes): 10,000 customers
//!   cost 10,000 writes a week, about $0.06 a month on demand, and about 50 MB a year of storage.
//! - Trends read only the weeks they need: `BatchGetItem` with exact keys (customer × the weeks
//!   before), 100 keys per call, unprocessed keys retried.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use churn_core::model::Band;
use churn_core::scoring::history::{HistoryEntry, upsert};
use rustc_hash::FxHashMap;

use crate::AwsClients;
use crate::batch::{BATCH_GET_MAX, BATCH_WRITE_MAX, batch_get, batch_write, run_bounded};
use crate::error::AwsFailure;
use crate::items::{Item, get_s, n, s};
use crate::state::StateError;

const WRITE_CONCURRENCY: usize = 4;

/// One customer's score of the week being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekScore {
    pub customer_id: String,
    pub score: u32,
    pub band: Band,
}

/// The score history table.
#[derive(Debug, Clone)]
pub struct DynamoDbScoreHistory {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbScoreHistory {
    /// The history in `table` (the function's `HISTORY_TABLE`).
    pub fn new(clients: &AwsClients, table: &str) -> DynamoDbScoreHistory {
        DynamoDbScoreHistory {
            client: clients.dynamodb.clone(),
            table: table.to_string(),
        }
    }

    /// Writes `week`'s entry of every customer in `scores` (replacing the week's earlier
    /// entries); returns how many were written.
    pub async fn put_week(
        &self,
        week: &str,
        rules_version: &str,
        expires_at: i64,
        scores: &[WeekScore],
    ) -> Result<usize, StateError> {
        // BatchWriteItem refuses two puts of one key in a call: the last score of an id wins.
        let mut last: FxHashMap<&str, &WeekScore> = FxHashMap::default();
        for w in scores {
            last.insert(w.customer_id.as_str(), w);
        }
        let mut unique: Vec<&WeekScore> = last.into_values().collect();
        unique.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        let mut requests = Vec::with_capacity(unique.len());
        for w in &unique {
            let item: Item = HashMap::from([
                ("customer_id".to_string(), s(w.customer_id.clone())),
                ("week".to_string(), s(week)),
                ("score".to_string(), n(w.score)),
                ("band".to_string(), s(w.band.as_str())),
                ("rules_version".to_string(), s(rules_version)),
                ("expires_at".to_string(), n(expires_at)),
            ]);
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| StateError::Build {
                    op: "DynamoDB.BatchWriteItem",
                    detail: e.to_string(),
                })?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        let batches = requests
            .chunks(BATCH_WRITE_MAX)
            .map(|chunk| batch_write(self.client.clone(), self.table.clone(), chunk.to_vec()));
        run_bounded(WRITE_CONCURRENCY, batches, |e| {
            StateError::Task(e.to_string())
        })
        .await?;
        Ok(unique.len())
    }

    /// The entries of `weeks` of each customer in `customer_ids` that has any, oldest first.
    pub async fn entries(
        &self,
        customer_ids: &[&str],
        weeks: &[String],
    ) -> Result<FxHashMap<String, Vec<HistoryEntry>>, StateError> {
        let mut ids: Vec<&str> = customer_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let keys: Vec<Item> = ids
            .iter()
            .flat_map(|id| {
                weeks.iter().map(move |w| {
                    HashMap::from([
                        ("customer_id".to_string(), s(*id)),
                        ("week".to_string(), s(w.clone())),
                    ])
                })
            })
            .collect();
        let mut out: FxHashMap<String, Vec<HistoryEntry>> = FxHashMap::default();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .build()
                .map_err(|e| StateError::Build {
                    op: "DynamoDB.BatchGetItem",
                    detail: e.to_string(),
                })?;
            batch_get(&self.client, &self.table, keys, |item| {
                let (id, e) = self.entry_of(item)?;
                upsert(out.entry(id).or_default(), e);
                Ok::<(), StateError>(())
            })
            .await?;
        }
        Ok(out)
    }

    /// Every entry of one customer, oldest first (a Query on the key).
    pub async fn of_customer(&self, customer_id: &str) -> Result<Vec<HistoryEntry>, StateError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("customer_id = :c")
                .expression_attribute_values(":c", s(customer_id))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk("DynamoDB.Query", &e))?;
            for item in page.items.unwrap_or_default() {
                out.push(self.entry_of(&item)?.1);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.week.cmp(&b.week));
        Ok(out)
    }

    fn entry_of(&self, item: &Item) -> Result<(String, HistoryEntry), StateError> {
        let id = get_s(item, "customer_id").unwrap_or("?").to_string();
        let corrupt = |detail: &str| StateError::Corrupt {
            table: self.table.clone(),
            key: id.clone(),
            detail: detail.to_string(),
        };
        let week = get_s(item, "week").ok_or_else(|| corrupt("week missing"))?;
        let score = item
            .get("score")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| corrupt("score is not a whole number"))?;
        let band = get_s(item, "band")
            .and_then(Band::parse)
            .ok_or_else(|| corrupt("band is not a band"))?;
        let rules_version = get_s(item, "rules_version").unwrap_or_default();
        Ok((
            id.clone(),
            HistoryEntry {
                week: week.to_string(),
                score,
                band,
                rules_version: rules_version.to_string(),
            },
        ))
    }
}
