//! order-import on one laptop (docs/SPEC.md §8, §10): an order export merged into the history in
//! `churn.db`, and the changed cells written into `customers.csv` — atomically, every other byte
//! unchanged.

use std::path::Path;

use churn_core::ingest::order_import::{
    CustomerChange, ListTable, UnknownCustomer, match_orders, plan,
};
use churn_core::ingest::orders::{OrderError, OrderFormat, read_orders_mapped};
use churn_core::list::csv_cells::{CellEdit, CsvCells};
use churn_core::list::customers::BadRow;
use churn_core::run::clock::AuditClock;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{ConfigError, Settings};
use crate::files::write_atomic;
use crate::store::{SqliteStore, StoreError};

/// Why an import did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path}: {source}")]
    Orders { path: String, source: OrderError },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("customers.csv: {0}")]
    List(#[from] churn_core::ingest::order_import::ImportError),
    #[error("customers.csv has no header row")]
    EmptyList,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not write customers.csv (nothing was changed): {0}")]
    Write(std::io::Error),
}

/// What an import did (the `--json` output).
#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub format: OrderFormat,
    /// Orders read from the file (line items collapsed).
    pub orders: usize,
    pub ignored_orders: u64,
    pub merged_rows: u64,
    pub matched_orders: u64,
    /// History rows added or replaced, and removed.
    pub history_put: usize,
    pub history_deleted: usize,
    pub customers_changed: usize,
    pub cells_changed: usize,
    pub changes: Vec<ChangeOut>,
    pub unknown_customers: Vec<UnknownCustomer>,
    /// The order file's bad rows.
    pub errors: Vec<BadRow>,
}

/// One changed customer.
#[derive(Debug, Serialize)]
pub struct ChangeOut {
    pub customer_id: String,
    pub cells: Vec<CellOut>,
}

/// One changed cell.
#[derive(Debug, Serialize)]
pub struct CellOut {
    pub column: &'static str,
    pub before: String,
    pub after: String,
}

/// Imports the order export at `orders` into the data folder `dir`. `by_user` goes into the
/// audit. Nothing is written when nothing changes.
pub fn import_orders(
    dir: &Path,
    orders: &Path,
    by_user: &str,
) -> Result<ImportReport, ImportError> {
    let settings = Settings::load(dir)?;
    let opts = settings.read_options();
    let file_bytes = std::fs::read(orders).map_err(|source| ImportError::Read {
        path: orders.display().to_string(),
        source,
    })?;
    let mapping = settings.raw.order_columns.as_ref();
    let file = read_orders_mapped(&file_bytes[..], &opts, mapping).map_err(|source| {
        ImportError::Orders {
            path: orders.display().to_string(),
            source,
        }
    })?;
    let list_path = dir.join("customers.csv");
    let list_bytes = std::fs::read(&list_path).map_err(|source| ImportError::Read {
        path: list_path.display().to_string(),
        source,
    })?;
    let cells = CsvCells::scan(&list_bytes);
    let header_rec = (0..cells.len())
        .find(|&r| !cells.is_blank(r))
        .ok_or(ImportError::EmptyList)?;
    // Row i of the table is record `header_rec + 1 + i` of the file.
    let table = ListTable {
        header: cells.record(header_rec),
        rows: (header_rec + 1..cells.len())
            .map(|r| cells.record(r))
            .collect(),
    };
    let matched = match_orders(&table, &file)?;
    let mut store = SqliteStore::open(dir)?;
    let kept = store.order_history(matched.customers.keys().map(String::as_str))?;
    let p = plan(&table, &matched, &kept, &opts);

    let file_name = orders
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !p.history.is_empty() || !p.changes.is_empty() {
        let mut w = store.begin_order_import()?;
        for (cid, diff) in &p.history {
            w.history(cid, diff)?;
        }
        let mut clock = AuditClock::default();
        for c in &p.changes {
            let mut notes = Map::new();
            notes.insert("source".into(), Value::String(file_name.clone()));
            notes.insert("format".into(), Value::String(file.format.label().into()));
            w.audit(c, by_user, &clock.tick(), &notes)?;
        }
        if !p.changes.is_empty() {
            let edits: Vec<CellEdit> = p
                .changes
                .iter()
                .flat_map(|c| {
                    c.cells.iter().map(move |cell| CellEdit {
                        record: header_rec + 1 + c.row,
                        field: cell.col,
                        value: cell.after.clone(),
                    })
                })
                .collect();
            write_atomic(&list_path, &cells.apply(&edits)).map_err(ImportError::Write)?;
        }
        w.commit()?;
    }
    tracing::info!(
        format = file.format.label(),
        orders = file.orders.len(),
        customers_changed = p.changes.len(),
        cells_changed = p.cells(),
        unknown_customers = matched.unknown.len(),
        "order import"
    );
    Ok(ImportReport {
        file: orders.display().to_string(),
        format: file.format,
        orders: file.orders.len(),
        ignored_orders: file.ignored_orders,
        merged_rows: file.merged_rows,
        matched_orders: matched.matched_orders,
        history_put: p.history.values().map(|d| d.put.len()).sum(),
        history_deleted: p.history.values().map(|d| d.delete.len()).sum(),
        customers_changed: p.changes.len(),
        cells_changed: p.cells(),
        changes: p.changes.iter().map(change_out).collect(),
        unknown_customers: matched.unknown,
        errors: file.bad_rows,
    })
}

fn change_out(c: &CustomerChange) -> ChangeOut {
    ChangeOut {
        customer_id: c.customer_id.clone(),
        cells: c
            .cells
            .iter()
            .map(|x| CellOut {
                column: x.column,
                before: x.before.clone(),
                after: x.after.clone(),
            })
            .collect(),
    }
}
