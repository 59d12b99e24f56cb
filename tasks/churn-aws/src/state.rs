//! `DynamoDbStateStore`: customer state (`cp-state`) and the append-only audit (`cp-audit`),
//! mirroring `churn_local::store::SqliteStore` (docs/SPEC.md §5, `docs/aws-design.md`).
//!
//! Decisions:
//! - **Prior state** ([`Prior`]): one parallel Scan keeps the full [`CustomerState`] only for the
//!   customers whose state matters (surfaced, contacted, won back or lost) and, for everyone, a
//!   16-byte record (score, band, an index into the interned owners, whether the item holds
//!   anything but the score refresh's own attributes). About 50–80 bytes a customer with the id
//!   and the hash table: 100,000 customers take well under 10 MB of a 512 MB Lambda.
//! - **Score refresh** ([`DynamoDbStateStore::write_scores`]): only changed customers are
//!   written. `BatchWriteItem` replaces whole items, so it is used only for customers whose item
//!   holds nothing but `customer_id`, `score`, `band`, `owner`, `updated_at` (or who have no item);
//!   customers with any other state get an `UpdateItem` of those attributes, which keeps the rest.
//!   The window between the scan and the write is the scorer's own run: a plain item can only gain
//!   other state in it through an outcome on a customer who was never surfaced, which the Slack
//!   and email lanes do not offer.
//! - **Outcomes** ([`DynamoDbStateStore::apply`]): one `TransactWriteItems` with an `UpdateItem`
//!   of only the fields the change changed, conditioned on each of them still holding its `before`
//!   value, and the audit `PutItem` with `attribute_not_exists(ts)`. A concurrent change to the
//!   same fields (the same click twice) or a reused `ts` fails the condition: nothing is written
//!   and the caller gets [`StateError::AlreadyRecorded`]. No version attribute is needed.
//! - **Record** ([`DynamoDbStateStore::record_surfaced`]): per name, the same transaction shape
//!   with the state condition `surfaced_date <> :as_of`, so a rerun records nothing twice.
//! - **Monthly summary** ([`DynamoDbStateStore::audit_between`]): a filtered Scan of the audit
//!   table. At SMB scale (thousands of audit items a month) that is cheaper and simpler than a GSI
//!   on `ts`; add one if the table grows past a few hundred thousand items.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use churn_core::model::{Band, ListItem};
use churn_core::outcome::state::{AuditItem, Change, CustomerState};
use jiff::civil::Date;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::batch::{
    BATCH_GET_MAX, BATCH_WRITE_MAX, MAX_ATTEMPTS, backoff, batch_get, batch_write, run_bounded,
};
use crate::error::{AwsFailure, ERROR_INTERNAL};
use crate::items::{self, Item, get_s, n, s};
use crate::params::ConfigError;
use crate::{AuditClock, AwsClients};

/// Names recorded per TransactWriteItems call (two actions each; DynamoDB allows 100 per call).
const RECORD_NAMES_PER_TRANSACTION: usize = 50;
/// Concurrent batch or update requests of one call.
const WRITE_CONCURRENCY: usize = 4;

/// The table names, from the function environment (`STATE_TABLE`, `AUDIT_TABLE`, `RUNS_TABLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub state: String,
    pub audit: String,
    pub runs: String,
}

impl TableNames {
    pub fn from_env() -> Result<TableNames, ConfigError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::MissingEnv { name })
        };
        Ok(TableNames {
            state: var("STATE_TABLE")?,
            audit: var("AUDIT_TABLE")?,
            runs: var("RUNS_TABLE")?,
        })
    }
}

/// Which condition of a write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The state no longer held the `before` values (a concurrent change to the same fields).
    State,
    /// An audit item with the same `customer_id` and `ts` exists.
    Audit,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conflict::State => "the same fields were changed concurrently",
            Conflict::Audit => "an audit item with this ts exists",
        })
    }
}

/// A state or audit problem. Customer ids only: never names or emails.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("customer {customer_id}: already recorded ({conflict}); nothing was written")]
    AlreadyRecorded {
        customer_id: String,
        conflict: Conflict,
    },
    #[error("{table} holds an unreadable item ({key}): {detail}")]
    Corrupt {
        table: String,
        key: String,
        detail: String,
    },
    #[error("could not build the {op} request: {detail}")]
    Build { op: &'static str, detail: String },
    #[error(transparent)]
    Aws(#[from] AwsFailure),
    #[error("a parallel DynamoDB task failed: {0}")]
    Task(String),
}

impl StateError {
    /// Throttling, 5xx, timeouts, dispatch failures, and unprocessed items left after the
    /// in-process retries.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StateError::Aws(f) if f.is_retryable())
    }

    /// The stable Lambda `errorType` (`churn.Retryable` or `churn.Internal`; an
    /// already-recorded outcome is reported to the person, not raised to the state machine).
    pub fn error_type(&self) -> &'static str {
        match self {
            StateError::Aws(f) => f.error_type(),
            _ => ERROR_INTERNAL,
        }
    }
}

fn build_err(
    op: &'static str,
) -> impl Fn(aws_smithy_types::error::operation::BuildError) -> StateError {
    move |e| StateError::Build {
        op,
        detail: e.to_string(),
    }
}

/// One customer's score as the scorer computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreWrite {
    pub customer_id: String,
    pub score: u32,
    pub band: Band,
    pub owner: String,
}

/// A stored (score, band, owner), as [`Prior::stored`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredScore<'a> {
    pub score: Option<u32>,
    pub band: Option<Band>,
    pub owner: Option<&'a str>,
}

/// 16 bytes per customer.
#[derive(Debug, Clone, Copy)]
struct Compact {
    score: Option<u32>,
    owner: u32,
    band: Option<Band>,
    /// The item holds only the score refresh's own attributes (safe to replace whole).
    plain: bool,
}

const NO_OWNER: u32 = u32::MAX;

/// What the scorer needs from the stored state (see the module doc for the memory budget).
#[derive(Debug, Default)]
pub struct Prior {
    states: FxHashMap<String, CustomerState>,
    scores: FxHashMap<Box<str>, Compact>,
    owners: Vec<Box<str>>,
    owner_index: FxHashMap<Box<str>, u32>,
    pages: u64,
}

impl Prior {
    /// Customers whose state matters (surfaced, contacted, won back or lost), by id.
    pub fn states(&self) -> &FxHashMap<String, CustomerState> {
        &self.states
    }

    pub fn into_states(self) -> FxHashMap<String, CustomerState> {
        self.states
    }

    /// The stored score, band and owner of any customer with an item.
    pub fn stored(&self, customer_id: &str) -> Option<StoredScore<'_>> {
        self.scores.get(customer_id).map(|c| StoredScore {
            score: c.score,
            band: c.band,
            owner: (c.owner != NO_OWNER).then(|| &*self.owners[c.owner as usize]),
        })
    }

    /// Every customer whose stored band is `band`, with their full state when it matters (else
    /// the score, band and owner), by id.
    pub fn in_band(&self, band: Band) -> Vec<CustomerState> {
        let mut out: Vec<CustomerState> = self
            .scores
            .iter()
            .filter(|(_, c)| c.band == Some(band))
            .map(|(id, c)| match self.states.get(&**id) {
                Some(st) => st.clone(),
                None => CustomerState {
                    score: c.score,
                    band: c.band,
                    owner: (c.owner != NO_OWNER).then(|| self.owners[c.owner as usize].to_string()),
                    ..CustomerState::new(id)
                },
            })
            .collect();
        out.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        out
    }

    /// How many Scan pages were read (all segments).
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// How many customers have an item.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The scores that differ from what is stored (docs/SPEC.md §4 step 1), split by how they must be
    /// written.
    pub fn changed(&self, scores: impl IntoIterator<Item = ScoreWrite>) -> ScoreChanges {
        let mut out = ScoreChanges::default();
        for w in scores {
            match self.scores.get(w.customer_id.as_str()) {
                None => out.puts.push(w),
                Some(c) => {
                    let owner = (c.owner != NO_OWNER).then(|| &*self.owners[c.owner as usize]);
                    if c.score == Some(w.score) && c.band == Some(w.band) && owner == Some(&w.owner)
                    {
                        out.unchanged += 1;
                    } else if c.plain {
                        out.puts.push(w);
                    } else {
                        out.updates.push(w);
                    }
                }
            }
        }
        out
    }

    fn intern_owner(&mut self, owner: Option<&str>) -> u32 {
        let Some(owner) = owner else { return NO_OWNER };
        if let Some(&i) = self.owner_index.get(owner) {
            return i;
        }
        let i = self.owners.len() as u32;
        self.owners.push(owner.into());
        self.owner_index.insert(owner.into(), i);
        i
    }

    fn add(&mut self, table: &str, item: &Item) -> Result<(), StateError> {
        let corrupt = |detail: String| StateError::Corrupt {
            table: table.to_string(),
            key: get_s(item, "customer_id").unwrap_or("?").to_string(),
            detail,
        };
        let Some(id) = get_s(item, "customer_id") else {
            return Err(corrupt("customer_id missing".into()));
        };
        let score = match item.get("score") {
            None => None,
            Some(v) => Some(
                v.as_n()
                    .ok()
                    .and_then(|v| v.parse::<u32>().ok())
                    .ok_or_else(|| corrupt("score is not a whole number".into()))?,
            ),
        };
        let band = get_s(item, "band").and_then(Band::parse);
        let owner = self.intern_owner(get_s(item, "owner"));
        let plain = item
            .keys()
            .all(|k| items::SCORE_ATTRS.contains(&k.as_str()));
        self.scores.insert(
            id.into(),
            Compact {
                score,
                owner,
                band,
                plain,
            },
        );
        if items::state_matters(item) {
            let st = items::state_from_item(item).map_err(corrupt)?;
            self.states.insert(st.customer_id.clone(), st);
        }
        Ok(())
    }
}

/// The changed scores of one run, split into whole-item puts and attribute updates.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScoreChanges {
    /// Customers with no item or a score-only item: `BatchWriteItem` puts.
    pub puts: Vec<ScoreWrite>,
    /// Customers with other state: `UpdateItem` of score, band and owner.
    pub updates: Vec<ScoreWrite>,
    /// Customers whose stored score, band and owner are already right.
    pub unchanged: u64,
}

impl ScoreChanges {
    /// How many customers will be written.
    pub fn len(&self) -> usize {
        self.puts.len() + self.updates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The DynamoDB state and audit store.
#[derive(Debug, Clone)]
pub struct DynamoDbStateStore {
    client: aws_sdk_dynamodb::Client,
    state_table: String,
    audit_table: String,
    segments: i32,
    page_limit: Option<i32>,
}

impl DynamoDbStateStore {
    /// The store over `tables.state` and `tables.audit`, scanning with 4 segments.
    pub fn new(clients: &AwsClients, tables: &TableNames) -> DynamoDbStateStore {
        DynamoDbStateStore {
            client: clients.dynamodb.clone(),
            state_table: tables.state.clone(),
            audit_table: tables.audit.clone(),
            segments: 4,
            page_limit: None,
        }
    }

    /// Scan settings: `segments` (clamped to 1..=4) parallel segments, and an optional page
    /// `Limit` (items per Scan page; DynamoDB's own limit is 1 MB a page).
    pub fn with_scan(mut self, segments: i32, page_limit: Option<i32>) -> DynamoDbStateStore {
        self.segments = segments.clamp(1, 4);
        self.page_limit = page_limit;
        self
    }

    /// Reads every `cp-state` item (parallel Scan, all pages, consistent) into a [`Prior`].
    pub async fn scan_prior(&self) -> Result<Prior, StateError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(self.segments as usize * 2);
        let mut tasks = JoinSet::new();
        for segment in 0..self.segments {
            let client = self.client.clone();
            let table = self.state_table.clone();
            let (total, limit) = (self.segments, self.page_limit);
            let tx = tx.clone();
            tasks.spawn(async move {
                let mut start: Option<Item> = None;
                let mut pages = 0u64;
                loop {
                    let out = client
                        .scan()
                        .table_name(&table)
                        .segment(segment)
                        .total_segments(total)
                        .consistent_read(true)
                        .set_limit(limit)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| AwsFailure::from_sdk("DynamoDB.Scan", &e))?;
                    pages += 1;
                    start = out.last_evaluated_key.filter(|k| !k.is_empty());
                    if tx.send(out.items.unwrap_or_default()).await.is_err() {
                        break;
                    }
                    if start.is_none() {
                        break;
                    }
                }
                Ok::<u64, StateError>(pages)
            });
        }
        drop(tx);
        let mut prior = Prior::default();
        while let Some(page) = rx.recv().await {
            for item in &page {
                prior.add(&self.state_table, item)?;
            }
        }
        let mut pages = 0;
        while let Some(done) = tasks.join_next().await {
            pages += done.map_err(|e| StateError::Task(e.to_string()))??;
        }
        prior.pages = pages;
        tracing::debug!(
            customers = prior.len(),
            with_state = prior.states.len(),
            pages,
            "scanned prior state"
        );
        Ok(prior)
    }

    /// Writes the changed scores (see [`Prior::changed`]) with `updated_at`; returns how many
    /// customers were written.
    pub async fn write_scores(
        &self,
        changes: &ScoreChanges,
        updated_at: &str,
    ) -> Result<u64, StateError> {
        let mut batches = Vec::new();
        for chunk in changes.puts.chunks(BATCH_WRITE_MAX) {
            let mut requests = Vec::with_capacity(chunk.len());
            for w in chunk {
                let item = HashMap::from([
                    ("customer_id".to_string(), s(&w.customer_id)),
                    ("score".to_string(), n(w.score)),
                    ("band".to_string(), s(w.band.as_str())),
                    ("owner".to_string(), s(&w.owner)),
                    ("updated_at".to_string(), s(updated_at)),
                ]);
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(build_err("DynamoDB.BatchWriteItem"))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            batches.push(batch_write(
                self.client.clone(),
                self.state_table.clone(),
                requests,
            ));
        }
        run_bounded(WRITE_CONCURRENCY, batches, task_failed).await?;

        let updates = changes.updates.iter().map(|w| {
            let request = self
                .client
                .update_item()
                .table_name(&self.state_table)
                .key("customer_id", s(&w.customer_id))
                .update_expression("SET #score = :score, #band = :band, #owner = :owner, #u = :u")
                .expression_attribute_names("#score", "score")
                .expression_attribute_names("#band", "band")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_names("#u", "updated_at")
                .expression_attribute_values(":score", n(w.score))
                .expression_attribute_values(":band", s(w.band.as_str()))
                .expression_attribute_values(":owner", s(&w.owner))
                .expression_attribute_values(":u", s(updated_at));
            async move {
                request
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk("DynamoDB.UpdateItem", &e))?;
                Ok(())
            }
        });
        run_bounded(WRITE_CONCURRENCY * 2, updates, task_failed).await?;
        tracing::debug!(
            puts = changes.puts.len(),
            updates = changes.updates.len(),
            unchanged = changes.unchanged,
            "wrote changed scores"
        );
        Ok(changes.len() as u64)
    }

    /// One customer's state (a fresh active state when none is stored); a consistent read.
    pub async fn get_state(&self, customer_id: &str) -> Result<CustomerState, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.state_table)
            .key("customer_id", s(customer_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk("DynamoDB.GetItem", &e))?;
        match out.item {
            None => Ok(CustomerState::new(customer_id)),
            Some(item) => self.state_of(&item),
        }
    }

    /// Several customers' states (BatchGetItem in chunks of 100, unprocessed keys retried), by
    /// id; every requested id is present (fresh when not stored).
    pub async fn get_many<S: AsRef<str>>(
        &self,
        customer_ids: &[S],
    ) -> Result<FxHashMap<String, CustomerState>, StateError> {
        let mut ids: Vec<&str> = customer_ids.iter().map(AsRef::as_ref).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = FxHashMap::default();
        for chunk in ids.chunks(BATCH_GET_MAX) {
            let keys = chunk
                .iter()
                .map(|id| HashMap::from([("customer_id".to_string(), s(*id))]))
                .collect();
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(build_err("DynamoDB.BatchGetItem"))?;
            batch_get(&self.client, &self.state_table, keys, |item| {
                let st = self.state_of(item)?;
                out.insert(st.customer_id.clone(), st);
                Ok::<(), StateError>(())
            })
            .await?;
        }
        for id in ids {
            out.entry(id.to_string())
                .or_insert_with(|| CustomerState::new(id));
        }
        Ok(out)
    }

    /// Applies one change (an outcome, undo or reactivation) and writes its audit item
    /// atomically. Only the fields in `change.after` are written, each conditioned on still
    /// holding its `change.before` value; the audit item must not exist yet. Either condition
    /// failing is [`StateError::AlreadyRecorded`] and writes nothing. A change that changes
    /// nothing ([`Change::is_noop`]: the same outcome again) is also `AlreadyRecorded`, so a
    /// repeated click never adds an audit item.
    pub async fn apply(&self, change: &Change, by_user: &str, ts: &str) -> Result<(), StateError> {
        let id = &change.state.customer_id;
        if change.is_noop() {
            return Err(StateError::AlreadyRecorded {
                customer_id: id.clone(),
                conflict: Conflict::State,
            });
        }
        let ops = vec![
            self.outcome_update(change, ts)?,
            self.audit_put(
                id,
                ts,
                change.action,
                by_user,
                &change.before,
                &change.after,
                &change.notes,
            )?,
        ];
        self.transact(id, ops).await
    }

    /// Records the surfaced names of a sent list (docs/SPEC.md §4 record), mirroring `SqliteStore::record`:
    /// for each name, its `surfaced_date`, band, score, reason, rules version and owner, and one
    /// `surfaced` audit item — up to 50 names per transaction (one round trip for a capped list),
    /// name by name when a concurrent Record got to one of them first. Idempotent: a name already surfaced on
    /// `as_of` is skipped. Returns how many names were newly recorded. The caller marks the ledger
    /// entry recorded afterwards.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_surfaced(
        &self,
        week: &str,
        owner: &str,
        via: &str,
        as_of: Date,
        items: &[ListItem],
        by_user: &str,
        clock: &mut AuditClock,
    ) -> Result<usize, StateError> {
        let ids: Vec<&str> = items.iter().map(|i| i.customer_id.as_str()).collect();
        let current = self.get_many(&ids).await?;
        // Two actions per name (state update + audit put); one transaction holds up to 100.
        let mut pending: Vec<(&str, [TransactWriteItem; 2])> = Vec::new();
        for item in items {
            let before = &current[&item.customer_id];
            if before.surfaced_date == Some(as_of) {
                continue;
            }
            let change =
                churn_core::outcome::state::surfaced(before, item, owner, as_of, week, via);
            let ts = clock.tick();
            let update = Update::builder()
                .table_name(&self.state_table)
                .key("customer_id", s(&item.customer_id))
                .update_expression(
                    "SET #sd = :sd, #band = :band, #score = :score, #reason = :reason, \
                     #rv = :rv, #owner = :owner, #u = :u",
                )
                .condition_expression("attribute_not_exists(#sd) OR #sd <> :sd")
                .expression_attribute_names("#sd", "surfaced_date")
                .expression_attribute_names("#band", "band")
                .expression_attribute_names("#score", "score")
                .expression_attribute_names("#reason", "reason")
                .expression_attribute_names("#rv", "rules_version")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_names("#u", "updated_at")
                .expression_attribute_values(":sd", s(as_of.to_string()))
                .expression_attribute_values(":band", s(item.band.as_str()))
                .expression_attribute_values(":score", n(item.score))
                .expression_attribute_values(":reason", s(&item.reason))
                .expression_attribute_values(":rv", s(&item.rules_version))
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":u", s(&ts))
                .build()
                .map_err(build_err("DynamoDB.TransactWriteItems"))?;
            let audit = self.audit_put(
                &item.customer_id,
                &ts,
                change.action,
                by_user,
                &change.before,
                &change.after,
                &change.notes,
            )?;
            pending.push((
                &item.customer_id,
                [TransactWriteItem::builder().update(update).build(), audit],
            ));
        }
        let mut recorded = 0;
        for chunk in pending.chunks(RECORD_NAMES_PER_TRANSACTION) {
            if chunk.len() > 1 {
                let ops: Vec<TransactWriteItem> = chunk
                    .iter()
                    .flat_map(|(_, ops)| ops.iter().cloned())
                    .collect();
                match self.transact("(batch)", ops).await {
                    Ok(()) => {
                        recorded += chunk.len();
                        continue;
                    }
                    // Someone recorded one of these meanwhile (a concurrent Record): name by name.
                    Err(StateError::AlreadyRecorded { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            for (customer_id, ops) in chunk {
                match self.transact(customer_id, ops.to_vec()).await {
                    Ok(()) => recorded += 1,
                    Err(StateError::AlreadyRecorded { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        tracing::debug!(
            week,
            recorded,
            listed = items.len(),
            "recorded surfaced names"
        );
        Ok(recorded)
    }

    /// Records the customers held out of a sent list (docs/SPEC.md §3 `holdout`), mirroring
    /// `SqliteStore::record`: one `held_out` audit item each, no contact field changed (so no
    /// contact pause). Each is one transaction with a `held_out_week` marker in `cp-state`
    /// conditioned on not being this week already, so a repeated Record writes nothing twice.
    /// Returns how many were newly recorded.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_held_out(
        &self,
        week: &str,
        as_of: Date,
        rules_version: &str,
        held_out: &[churn_core::run::holdout::HeldOut],
        by_user: &str,
        clock: &mut AuditClock,
    ) -> Result<usize, StateError> {
        let mut recorded = 0;
        for h in held_out {
            let ts = clock.tick();
            let update = Update::builder()
                .table_name(&self.state_table)
                .key("customer_id", s(&h.customer_id))
                .update_expression("SET #h = :w")
                .condition_expression("attribute_not_exists(#h) OR #h <> :w")
                .expression_attribute_names("#h", "held_out_week")
                .expression_attribute_values(":w", s(week))
                .build()
                .map_err(build_err("DynamoDB.TransactWriteItems"))?;
            let notes = churn_core::run::holdout::audit_notes(h, week, as_of, rules_version);
            let audit = self.audit_put(
                &h.customer_id,
                &ts,
                churn_core::run::holdout::HELD_OUT_ACTION,
                by_user,
                &Map::new(),
                &Map::new(),
                &notes,
            )?;
            match self
                .transact(
                    &h.customer_id,
                    vec![TransactWriteItem::builder().update(update).build(), audit],
                )
                .await
            {
                Ok(()) => recorded += 1,
                Err(StateError::AlreadyRecorded { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(recorded)
    }

    /// A customer's audit items, oldest first (Query, all pages, consistent).
    pub async fn audit_for(&self, customer_id: &str) -> Result<Vec<AuditItem>, StateError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.audit_table)
                .key_condition_expression("#c = :c")
                .expression_attribute_names("#c", "customer_id")
                .expression_attribute_values(":c", s(customer_id))
                .consistent_read(true)
                .scan_index_forward(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk("DynamoDB.Query", &e))?;
            for item in page.items() {
                out.push(self.audit_of(item)?);
            }
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Every audit item with `from <= ts < to` (RFC 3339 UTC strings sort in time order), in `ts`
    /// order: a filtered Scan (fine at SMB scale; see the module doc).
    pub async fn audit_between(&self, from: &str, to: &str) -> Result<Vec<AuditItem>, StateError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.audit_table)
                .filter_expression("#ts >= :from AND #ts < :to")
                .expression_attribute_names("#ts", "ts")
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk("DynamoDB.Scan", &e))?;
            for item in page.items() {
                out.push(self.audit_of(item)?);
            }
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| (&a.ts, &a.customer_id).cmp(&(&b.ts, &b.customer_id)));
        Ok(out)
    }

    /// Appends a run-level audit item (`customer_id = "run:<week>"`, e.g. the weekly score and
    /// band refresh), by `churn`.
    pub async fn audit_run(
        &self,
        week: &str,
        action: &str,
        notes: &Map<String, Value>,
        ts: &str,
    ) -> Result<(), StateError> {
        let key = format!("run:{week}");
        let item = items::audit_item(&key, ts, action, "churn", &Map::new(), &Map::new(), notes);
        self.client
            .put_item()
            .table_name(&self.audit_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#ts)")
            .expression_attribute_names("#ts", "ts")
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    StateError::AlreadyRecorded {
                        customer_id: key.clone(),
                        conflict: Conflict::Audit,
                    }
                } else {
                    AwsFailure::from_sdk("DynamoDB.PutItem", &e).into()
                }
            })?;
        Ok(())
    }

    fn state_of(&self, item: &Item) -> Result<CustomerState, StateError> {
        items::state_from_item(item).map_err(|detail| StateError::Corrupt {
            table: self.state_table.clone(),
            key: get_s(item, "customer_id").unwrap_or("?").to_string(),
            detail,
        })
    }

    fn audit_of(&self, item: &Item) -> Result<AuditItem, StateError> {
        items::audit_from_item(item).map_err(|detail| StateError::Corrupt {
            table: self.audit_table.clone(),
            key: format!(
                "{} {}",
                get_s(item, "customer_id").unwrap_or("?"),
                get_s(item, "ts").unwrap_or("?")
            ),
            detail,
        })
    }

    /// The conditional state update of an outcome: `SET`/`REMOVE` the changed fields, each
    /// conditioned on its `before` value (an absent attribute for null; absent or `active` for an
    /// active status, the default).
    fn outcome_update(&self, change: &Change, ts: &str) -> Result<TransactWriteItem, StateError> {
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let mut sets = vec!["#u = :u".to_string()];
        let mut removes = Vec::new();
        let mut conditions = Vec::new();
        names.insert("#u".into(), "updated_at".into());
        values.insert(":u".into(), s(ts));
        let fields: Vec<&String> = {
            let mut f: Vec<&String> = change.after.keys().chain(change.before.keys()).collect();
            f.sort();
            f.dedup();
            f
        };
        for (i, field) in fields.into_iter().enumerate() {
            let name = format!("#f{i}");
            names.insert(name.clone(), field.clone());
            if change.after.contains_key(field) {
                match items::field_attr(field, &change.state.field(field)) {
                    Some(v) => {
                        values.insert(format!(":a{i}"), v);
                        sets.push(format!("{name} = :a{i}"));
                    }
                    None => removes.push(name.clone()),
                }
            }
            let before = change.before.get(field).unwrap_or(&Value::Null);
            match items::field_attr(field, before) {
                None => conditions.push(format!("attribute_not_exists({name})")),
                Some(v) => {
                    let is_default_status = field == "status" && before.as_str() == Some("active");
                    values.insert(format!(":b{i}"), v);
                    conditions.push(if is_default_status {
                        format!("(attribute_not_exists({name}) OR {name} = :b{i})")
                    } else {
                        format!("{name} = :b{i}")
                    });
                }
            }
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let update = Update::builder()
            .table_name(&self.state_table)
            .key("customer_id", s(&change.state.customer_id))
            .update_expression(expr)
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(build_err("DynamoDB.TransactWriteItems"))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    #[allow(clippy::too_many_arguments)]
    fn audit_put(
        &self,
        customer_id: &str,
        ts: &str,
        action: &str,
        by_user: &str,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
        notes: &Map<String, Value>,
    ) -> Result<TransactWriteItem, StateError> {
        let put = Put::builder()
            .table_name(&self.audit_table)
            .set_item(Some(items::audit_item(
                customer_id,
                ts,
                action,
                by_user,
                before,
                after,
                notes,
            )))
            .condition_expression("attribute_not_exists(#ts)")
            .expression_attribute_names("#ts", "ts")
            .build()
            .map_err(build_err("DynamoDB.TransactWriteItems"))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Runs a transaction (state op first when there is one, audit put last). A failed condition
    /// is [`StateError::AlreadyRecorded`]; transaction conflicts are retried with backoff.
    async fn transact(
        &self,
        customer_id: &str,
        ops: Vec<TransactWriteItem>,
    ) -> Result<(), StateError> {
        let audit_index = ops.len() - 1;
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(ops.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
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
                if let Some(i) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
                    return Err(StateError::AlreadyRecorded {
                        customer_id: customer_id.to_string(),
                        conflict: if i == audit_index {
                            Conflict::Audit
                        } else {
                            Conflict::State
                        },
                    });
                }
                let conflicting = codes
                    .iter()
                    .any(|c| *c == "TransactionConflict" || *c == "ThrottlingError");
                attempt += 1;
                if conflicting && attempt < MAX_ATTEMPTS {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                let mut failure = AwsFailure::from_sdk("DynamoDB.TransactWriteItems", &err);
                if conflicting {
                    failure.code = Some("TransactionConflictException".into());
                }
                failure.message = Some(format!("cancelled: {}", codes.join(", ")));
                return Err(failure.into());
            }
            return Err(AwsFailure::from_sdk("DynamoDB.TransactWriteItems", &err).into());
        }
    }
}

/// A parallel DynamoDB task that panicked or was cancelled.
fn task_failed(e: tokio::task::JoinError) -> StateError {
    StateError::Task(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(attrs: &[(&str, AttributeValue)]) -> Item {
        attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn prior_splits_changes_by_how_they_must_be_written() {
        let mut p = Prior::default();
        let plain = item(&[
            ("customer_id", s("C1")),
            ("score", n(40)),
            ("band", s("watch")),
            ("owner", s("a@x.com")),
            ("updated_at", s("t0")),
        ]);
        let rich = item(&[
            ("customer_id", s("C2")),
            ("score", n(70)),
            ("band", s("at-risk")),
            ("owner", s("a@x.com")),
            ("surfaced_date", s("2026-11-16")),
        ]);
        let lost_then_back = item(&[
            ("customer_id", s("C3")),
            ("score", n(10)),
            ("band", s("steady")),
            ("status", s("active")),
            ("lost_date", s("2026-10-01")),
        ]);
        for i in [&plain, &rich, &lost_then_back] {
            p.add("t", i).unwrap();
        }
        assert_eq!(p.len(), 3);
        assert_eq!(p.states().len(), 1, "only C2's state matters");
        assert_eq!(
            p.stored("C1"),
            Some(StoredScore {
                score: Some(40),
                band: Some(Band::Watch),
                owner: Some("a@x.com")
            })
        );
        assert_eq!(p.owners.len(), 1, "owners are interned");
        let w = |id: &str, score, band| ScoreWrite {
            customer_id: id.into(),
            score,
            band,
            owner: "a@x.com".into(),
        };
        let c = p.changed([
            w("C1", 40, Band::Watch),
            w("C2", 71, Band::AtRisk),
            w("C3", 12, Band::Steady),
            w("C4", 5, Band::Steady),
        ]);
        assert_eq!(c.unchanged, 1);
        let ids = |v: &[ScoreWrite]| v.iter().map(|w| w.customer_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&c.puts), vec!["C4"]);
        assert_eq!(ids(&c.updates), vec!["C2", "C3"]);
        assert_eq!(std::mem::size_of::<Compact>(), 16);
    }
}
