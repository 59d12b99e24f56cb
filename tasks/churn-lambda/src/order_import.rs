//! order-import (docs/SPEC.md §8) on AWS: an S3 put of an order export on the order-feed bucket →
//! history merged in `cp-orders`, the sheet's order cells written in one Sheets
//! `values.batchUpdate` (RAW), rows found by customer id read just before writing, one audit item
//! per changed customer.

use churn_aws::{AuditClock, DynamoDbOrderHistory, S3ObjectStore};
use churn_core::ingest::order_import::{ListTable, UnknownCustomer, match_orders, plan};
use churn_core::ingest::orders::read_orders_mapped;
use churn_core::list::customers::ReadOptions;
use churn_google::a1;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::drive_sync::{SyncApp, google_error};
use crate::error::TaskError;

/// The range read before writing: the first tab, every column a sheet plausibly has.
pub const SHEET_RANGE: &str = "A1:ZZ";

/// What one import did.
#[derive(Debug, Serialize)]
pub struct ImportOutcome {
    pub key: String,
    pub orders: usize,
    pub ignored_orders: u64,
    pub customers_changed: usize,
    pub cells_changed: usize,
    pub history_put: usize,
    pub history_deleted: usize,
    /// How many customers in the file are not in the sheet (their ids or emails are not logged).
    pub unknown_customers: usize,
    pub bad_rows: usize,
}

/// Imports every export the event names.
pub async fn handle(
    app: &SyncApp,
    orders_table: &str,
    audit_table: &str,
    event: Value,
) -> Result<Vec<ImportOutcome>, TaskError> {
    let mut out = Vec::new();
    for (bucket, key) in crate::payload::s3_objects(&event)? {
        out.push(import_one(app, orders_table, audit_table, &bucket, &key).await?);
    }
    Ok(out)
}

async fn import_one(
    app: &SyncApp,
    orders_table: &str,
    audit_table: &str,
    bucket: &str,
    key: &str,
) -> Result<ImportOutcome, TaskError> {
    let s3 = S3ObjectStore::new(&app.clients);
    let config = app.config().await?;
    let opts = ReadOptions {
        date_order: config.date_order,
        tz: jiff::tz::TimeZone::get(&config.timezone).unwrap_or(jiff::tz::TimeZone::UTC),
    };
    let text = s3
        .get_text(bucket, key)
        .await
        .map_err(|e| crate::task_error!(e))?;
    let file = read_orders_mapped(text.text.as_bytes(), &opts, config.order_columns.as_ref())
        .map_err(|e| TaskError::bad_input(format!("{key}: {e}")))?;
    let google = app.google().await?;
    let sheet_id = &app.env.sheet_id;
    // Read just before writing: people sort sheets, so rows are never remembered.
    let rows = google
        .values_get(sheet_id, SHEET_RANGE)
        .await
        .map_err(google_error)?;
    let (header_row, table) = ListTable::from_rows(rows)
        .ok_or_else(|| TaskError::new("churn.BadList", "the sheet's first tab is empty"))?;
    let matched =
        match_orders(&table, &file).map_err(|e| TaskError::new("churn.BadList", e.to_string()))?;
    let history = DynamoDbOrderHistory::new(&app.clients.dynamodb, orders_table, audit_table);
    let kept = history
        .load(matched.customers.keys().map(String::as_str))
        .await
        .map_err(|e| crate::task_error!(e))?;
    let p = plan(&table, &matched, &kept, &opts);
    if !p.changes.is_empty() {
        let cells: Vec<(String, String)> = p
            .changes
            .iter()
            .flat_map(|c| {
                c.cells
                    .iter()
                    .map(move |cell| (a1(cell.col, header_row + 1 + c.row), cell.after.clone()))
            })
            .collect();
        google
            .values_batch_update(sheet_id, &cells)
            .await
            .map_err(google_error)?;
    }
    let mut clock = AuditClock::default();
    let mut notes = Map::new();
    notes.insert(
        "source".into(),
        Value::String(format!("s3://{bucket}/{key}")),
    );
    notes.insert("format".into(), Value::String(file.format.label().into()));
    for c in &p.changes {
        history
            .audit(c, "order-import", &clock.tick(), &notes)
            .await
            .map_err(|e| crate::task_error!(e))?;
    }
    // Sheet, audit, then history: after a failure anywhere, the retried event recomputes the
    // same cells from the unchanged history, and a sheet already written yields no new audit.
    history
        .apply(&p.history)
        .await
        .map_err(|e| crate::task_error!(e))?;
    let unknown: &[UnknownCustomer] = &matched.unknown;
    tracing::info!(
        key,
        orders = file.orders.len(),
        customers_changed = p.changes.len(),
        cells_changed = p.cells(),
        unknown_customers = unknown.len(),
        "order import"
    );
    Ok(ImportOutcome {
        key: key.to_string(),
        orders: file.orders.len(),
        ignored_orders: file.ignored_orders,
        customers_changed: p.changes.len(),
        cells_changed: p.cells(),
        history_put: p.history.values().map(|d| d.put.len()).sum(),
        history_deleted: p.history.values().map(|d| d.delete.len()).sum(),
        unknown_customers: unknown.len(),
        bad_rows: file.bad_rows.len(),
    })
}
