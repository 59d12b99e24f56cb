//! order-import (docs/SPEC.md §8): orders from an export matched to the list's customers, merged by order
//! id into the kept per-customer history, and the list's order columns recomputed — only the
//! cells that change, only in columns the list already has.
//!
//! The flow, the same locally and on AWS: [`match_orders`] on the list as read just before
//! writing → the adapter loads the kept history of the matched customers → [`plan`] gives the
//! history rows to put and delete and the cells to write → the adapter writes cells, history and
//! one audit item per changed customer.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::ingest::orders::{CustomerKey, Derived, Order, OrderFile, derive};
use crate::list::customers::ReadOptions;
use crate::list::values::{normalize_header, parse_date, parse_number};

/// The four columns order-import sets, as the list names them (normalised header, canonical name).
pub const ORDER_COLUMNS: [(&str, &str); 4] = [
    ("lastorderdate", "last_order_date"),
    ("firstorderdate", "first_order_date"),
    ("ordercount", "order_count"),
    ("orderpacedays", "order_pace_days"),
];

/// One order as the history keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistOrder {
    /// The export's order id; a plain file without ids gets `DATE#N` (its N-th order that day).
    pub order_id: String,
    pub date: Date,
    pub amount: Option<f64>,
}

/// The customer list as a table: header cells and every row's cells (as text).
#[derive(Debug, Clone, Default)]
pub struct ListTable {
    pub header: Vec<String>,
    /// Rows after the header; a row's index is how the adapter finds it again.
    pub rows: Vec<Vec<String>>,
}

impl ListTable {
    /// A sheet's values (Sheets `values.get`) as a table: the first row with a non-blank cell is
    /// the header. Returns the header's index among `rows` too (`None`: the sheet is empty).
    pub fn from_rows(mut rows: Vec<Vec<String>>) -> Option<(usize, ListTable)> {
        let at = rows
            .iter()
            .position(|r| r.iter().any(|c| !c.trim().is_empty()))?;
        let rest = rows.split_off(at + 1);
        let header = rows.pop().unwrap_or_default();
        Some((at, ListTable { header, rows: rest }))
    }

    /// The column whose header is `name`, ignoring case, spaces, `_` and `-`.
    pub fn column(&self, name: &str) -> Option<usize> {
        let want = normalize_header(name);
        self.header.iter().position(|h| normalize_header(h) == want)
    }

    /// The rows whose `customer_id` cell is `id` (both trimmed).
    pub fn rows_of(&self, id: &str) -> Vec<usize> {
        let Some(col) = self.column("customer_id") else {
            return Vec::new();
        };
        let id = id.trim();
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.get(col).is_some_and(|c| c.trim() == id))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Why an import cannot go ahead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("the customer list has no customer_id column, so orders cannot be matched to rows")]
    NoIdColumn,
    #[error(
        "the customer list has none of the columns order-import writes (last_order_date, first_order_date, order_count, order_pace_days); it never adds columns"
    )]
    NoOrderColumns,
}

/// Customers the export names that the list does not have.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnknownCustomer {
    /// The id or email as the export has it (an email is personal data: show, never log).
    pub key: String,
    pub orders: u64,
}

/// Orders of one list customer found in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileOrders {
    pub row: usize,
    pub orders: Vec<HistOrder>,
    /// Order ids the file says no longer count.
    pub cancelled: Vec<String>,
}

/// The file's orders per list customer.
#[derive(Debug, Clone, Default)]
pub struct Matched {
    /// By customer id (sorted, so the writes are in a stable order).
    pub customers: BTreeMap<String, FileOrders>,
    pub unknown: Vec<UnknownCustomer>,
    pub matched_orders: u64,
    pub unmatched_orders: u64,
    /// Where the columns sit in the table.
    cols: Columns,
}

#[derive(Debug, Clone, Default)]
struct Columns {
    /// Index into the header for each of [`ORDER_COLUMNS`], when the list has it.
    order: [Option<usize>; 4],
}

/// Finds the list rows the file's orders belong to: a customer id matches exactly, else ignoring
/// case; an email matches the `email` column ignoring case. An id that matches no id is tried as
/// an email and the other way round.
pub fn match_orders(table: &ListTable, file: &OrderFile) -> Result<Matched, ImportError> {
    let norm: Vec<String> = table.header.iter().map(|h| normalize_header(h)).collect();
    let id_col = norm
        .iter()
        .position(|h| h == "customerid")
        .ok_or(ImportError::NoIdColumn)?;
    let email_col = norm.iter().position(|h| h == "email");
    let mut order = [None; 4];
    for (slot, (n, _)) in order.iter_mut().zip(ORDER_COLUMNS) {
        *slot = norm.iter().position(|h| h == n);
    }
    if order.iter().all(Option::is_none) {
        return Err(ImportError::NoOrderColumns);
    }
    let mut ids: FxHashMap<&str, usize> = FxHashMap::default();
    let mut ids_lower: FxHashMap<String, usize> = FxHashMap::default();
    let mut emails: FxHashMap<String, usize> = FxHashMap::default();
    for (i, row) in table.rows.iter().enumerate() {
        let id = row.get(id_col).map_or("", |s| s.trim());
        if id.is_empty() || ids.contains_key(id) {
            // A repeated id is a bad row for the scorer; the first one stands.
            continue;
        }
        ids.insert(id, i);
        ids_lower.entry(id.to_lowercase()).or_insert(i);
        if let Some(e) = email_col.and_then(|c| row.get(c)).map(|s| s.trim())
            && !e.is_empty()
        {
            emails.entry(e.to_lowercase()).or_insert(i);
        }
    }
    let find = |key: &CustomerKey| -> Option<usize> {
        let s = key.as_str();
        let lower = || s.to_lowercase();
        match key {
            CustomerKey::Id(_) => ids
                .get(s)
                .copied()
                .or_else(|| ids_lower.get(&lower()).copied())
                .or_else(|| emails.get(&lower()).copied()),
            // Already lower-cased by the reader.
            CustomerKey::Email(_) => emails
                .get(s)
                .copied()
                .or_else(|| ids_lower.get(&lower()).copied()),
        }
    };
    let mut out = Matched {
        cols: Columns { order },
        ..Default::default()
    };
    let mut unknown: BTreeMap<String, u64> = BTreeMap::new();
    // Plain files without order ids: the N-th order of a customer on a day is `DATE#N`, so the
    // same file (or a later full export) names the same orders again.
    let mut nth: FxHashMap<(usize, Date), u32> = FxHashMap::default();
    // Gathered by row (a cheap key), then keyed by customer id once.
    let mut by_row: FxHashMap<usize, FileOrders> = FxHashMap::default();
    for o in &file.orders {
        let Some(row) = find(&o.customer_key) else {
            *unknown
                .entry(o.customer_key.as_str().to_string())
                .or_default() += 1;
            out.unmatched_orders += 1;
            continue;
        };
        out.matched_orders += 1;
        let order_id = match &o.order_id {
            Some(id) => id.clone(),
            None => {
                let n = nth.entry((row, o.date)).or_default();
                *n += 1;
                format!("{}#{}", o.date, n)
            }
        };
        by_row.entry(row).or_default().orders.push(HistOrder {
            order_id,
            date: o.date,
            amount: o.amount,
        });
    }
    for ig in &file.ignored {
        if let Some(row) = ig.customer_key.as_ref().and_then(&find) {
            by_row
                .entry(row)
                .or_default()
                .cancelled
                .push(ig.order_id.clone());
        }
    }
    out.customers = by_row
        .into_iter()
        .map(|(row, mut fo)| {
            fo.row = row;
            (table.rows[row][id_col].trim().to_string(), fo)
        })
        .collect();
    out.unknown = unknown
        .into_iter()
        .map(|(key, orders)| UnknownCustomer { key, orders })
        .collect();
    Ok(out)
}

/// One cell to write.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellChange {
    /// Index into the header.
    pub col: usize,
    /// The canonical column name (`last_order_date`, …).
    pub column: &'static str,
    pub before: String,
    pub after: String,
}

/// One customer's changed cells.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CustomerChange {
    pub customer_id: String,
    /// Index into the table's rows.
    pub row: usize,
    pub cells: Vec<CellChange>,
}

impl CustomerChange {
    /// The audit item's `before` and `after`: only the changed columns.
    pub fn audit_maps(&self) -> (Map<String, Value>, Map<String, Value>) {
        let mut before = Map::new();
        let mut after = Map::new();
        for c in &self.cells {
            let v = |s: &str| {
                if s.is_empty() {
                    Value::Null
                } else {
                    Value::String(s.to_string())
                }
            };
            before.insert(c.column.to_string(), v(&c.before));
            after.insert(c.column.to_string(), v(&c.after));
        }
        (before, after)
    }
}

/// The kept history's changes for one customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryDiff {
    /// New or changed orders.
    pub put: Vec<HistOrder>,
    /// Order ids to remove (cancelled, voided or refunded since).
    pub delete: Vec<String>,
}

/// What the import will do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Per customer id.
    pub history: BTreeMap<String, HistoryDiff>,
    /// Customers whose cells change, in customer id order.
    pub changes: Vec<CustomerChange>,
}

impl Plan {
    /// How many cells change.
    pub fn cells(&self) -> usize {
        self.changes.iter().map(|c| c.cells.len()).sum()
    }
}

/// Merges the file's orders into the kept histories of the matched customers (`kept`: customer
/// id → orders; a customer missing from it has none) and works out which cells change.
///
/// An order id already kept is replaced when the file has it with another date or amount; a
/// cancelled one is removed. `last_order_date` never moves backwards and `first_order_date`
/// never forwards against the list's current value; `order_count` and `order_pace_days` follow
/// the merged history.
pub fn plan(
    table: &ListTable,
    matched: &Matched,
    kept: &FxHashMap<String, Vec<HistOrder>>,
    opts: &ReadOptions,
) -> Plan {
    let mut out = Plan::default();
    let empty = Vec::new();
    for (cid, fo) in &matched.customers {
        let old = kept.get(cid).unwrap_or(&empty);
        let mut merged: BTreeMap<&str, &HistOrder> =
            old.iter().map(|o| (o.order_id.as_str(), o)).collect();
        let mut diff = HistoryDiff::default();
        for o in &fo.orders {
            match merged.get(o.order_id.as_str()) {
                Some(k) if *k == o => {}
                _ => {
                    diff.put.retain(|p: &HistOrder| p.order_id != o.order_id);
                    diff.put.push(o.clone());
                    merged.insert(&o.order_id, o);
                }
            }
        }
        for id in &fo.cancelled {
            if merged.remove(id.as_str()).is_some() {
                diff.put.retain(|p| &p.order_id != id);
                if old.iter().any(|o| &o.order_id == id) {
                    diff.delete.push(id.clone());
                }
            }
        }
        let history: Vec<Order> = merged
            .values()
            .map(|o| Order {
                order_id: Some(o.order_id.clone()),
                customer_key: CustomerKey::Id(String::new()),
                date: o.date,
                amount: o.amount,
            })
            .collect();
        let derived = derive(&history);
        let row = &table.rows[fo.row];
        let cells = cell_changes(row, &matched.cols, &derived, opts);
        if !cells.is_empty() {
            out.changes.push(CustomerChange {
                customer_id: cid.clone(),
                row: fo.row,
                cells,
            });
        }
        if !diff.put.is_empty() || !diff.delete.is_empty() {
            out.history.insert(cid.clone(), diff);
        }
    }
    out
}

fn cell_changes(
    row: &[String],
    cols: &Columns,
    d: &Derived,
    opts: &ReadOptions,
) -> Vec<CellChange> {
    let mut cells = Vec::new();
    for (k, (_, name)) in ORDER_COLUMNS.iter().enumerate() {
        let Some(col) = cols.order[k] else { continue };
        let before = row.get(col).map_or("", |s| s.trim());
        let date = |s: &str| parse_date(s, opts.date_order, &opts.tz).ok().flatten();
        let num = |s: &str| parse_number(s).ok().flatten();
        let after: Option<String> = match k {
            0 => match (date(before), d.last_order_date) {
                (Some(b), Some(a)) if b >= a => None,
                (_, Some(a)) => Some(a.to_string()),
                (_, None) => None,
            },
            1 => match (date(before), d.first_order_date) {
                (Some(b), Some(a)) if b <= a => None,
                (_, Some(a)) => Some(a.to_string()),
                (_, None) => None,
            },
            2 => {
                let want = d.order_count as f64;
                (num(before) != Some(want) || before.is_empty()).then(|| d.order_count.to_string())
            }
            _ => match (num(before), d.order_pace_days) {
                (Some(b), Some(a)) if (b - a).abs() < 1e-9 => None,
                (None, None) if before.is_empty() => None,
                (_, Some(a)) => Some(format_number(a)),
                (_, None) => Some(String::new()),
            },
        };
        // An unreadable current value is replaced (it would be a bad row for the scorer).
        if let Some(after) = after
            && after != before
        {
            cells.push(CellChange {
                col,
                column: name,
                before: before.to_string(),
                after,
            });
        }
    }
    cells
}

/// A number as a cell: no trailing `.0`.
fn format_number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::orders::read_orders;
    use jiff::civil::date;

    fn table(csv: &str) -> ListTable {
        let mut lines = csv
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect());
        ListTable {
            header: lines.next().unwrap(),
            rows: lines.collect(),
        }
    }

    fn file(csv: &str) -> OrderFile {
        read_orders(csv.as_bytes(), &ReadOptions::default()).unwrap()
    }

    fn apply(t: &mut ListTable, p: &Plan) {
        for c in &p.changes {
            for cell in &c.cells {
                t.rows[c.row][cell.col] = cell.after.clone();
            }
        }
    }

    fn store(kept: &mut FxHashMap<String, Vec<HistOrder>>, p: &Plan) {
        for (cid, d) in &p.history {
            let h = kept.entry(cid.clone()).or_default();
            h.retain(|o| {
                !d.delete.contains(&o.order_id) && !d.put.iter().any(|p| p.order_id == o.order_id)
            });
            h.extend(d.put.iter().cloned());
        }
    }

    const LIST: &str = "customer_id,name,email,last_order_date,order_count,order_pace_days,first_order_date\n\
C1,Harbor,Orders@Harbor.example,,,,\n\
C2,Kettle,kettle@cafe.example,2026-05-01,9,30,2025-01-01\n\
c3,Bloom,,,,,";

    const SHOPIFY: &str = "Name,Email,Financial Status,Created at,Total,Cancelled at\n\
#1,orders@harbor.example,paid,2026-03-02 10:00:00 +0000,10,\n\
#2,ORDERS@HARBOR.EXAMPLE,paid,2026-03-12 10:00:00 +0000,10,\n\
#3,orders@harbor.example,paid,2026-03-22 10:00:00 +0000,10,\n\
#4,kettle@cafe.example,paid,2026-03-02 10:00:00 +0000,10,\n\
#5,stranger@nowhere.example,paid,2026-03-02 10:00:00 +0000,10,\n";

    #[test]
    fn first_import_sets_columns_and_second_changes_nothing() {
        let mut t = table(LIST);
        let f = file(SHOPIFY);
        let mut kept = FxHashMap::default();
        let m = match_orders(&t, &f).unwrap();
        assert_eq!(m.unknown.len(), 1);
        assert_eq!(m.unknown[0].key, "stranger@nowhere.example");
        let p = plan(&t, &m, &kept, &ReadOptions::default());
        assert_eq!(p.changes.len(), 2);
        let c1 = &p.changes[0];
        assert_eq!(c1.customer_id, "C1");
        let got: Vec<(&str, &str)> = c1
            .cells
            .iter()
            .map(|c| (c.column, c.after.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("last_order_date", "2026-03-22"),
                ("first_order_date", "2026-03-02"),
                ("order_count", "3"),
                ("order_pace_days", "10"),
            ]
        );
        // C2: last order 2026-05-01 stays (not moved backwards), first stays, count and pace follow
        // the kept history (one order: no pace).
        let c2 = &p.changes[1];
        let got: Vec<(&str, &str)> = c2
            .cells
            .iter()
            .map(|c| (c.column, c.after.as_str()))
            .collect();
        assert_eq!(got, [("order_count", "1"), ("order_pace_days", "")]);
        apply(&mut t, &p);
        store(&mut kept, &p);
        let m = match_orders(&t, &f).unwrap();
        let p = plan(&t, &m, &kept, &ReadOptions::default());
        assert!(p.changes.is_empty(), "{:?}", p.changes);
        assert!(p.history.is_empty());
    }

    #[test]
    fn later_cancellation_and_changed_order() {
        let mut t = table(LIST);
        let mut kept = FxHashMap::default();
        let f = file(SHOPIFY);
        let p = plan(
            &t,
            &match_orders(&t, &f).unwrap(),
            &kept,
            &Default::default(),
        );
        apply(&mut t, &p);
        store(&mut kept, &p);
        // #3 refunded later, #2 re-dated: history and cells follow.
        let f = file(
            "Name,Email,Financial Status,Created at,Total,Cancelled at\n\
#3,orders@harbor.example,refunded,2026-03-22 10:00:00 +0000,10,\n\
#2,orders@harbor.example,paid,2026-03-14 10:00:00 +0000,12,\n",
        );
        let m = match_orders(&t, &f).unwrap();
        let p = plan(&t, &m, &kept, &Default::default());
        let d = &p.history["C1"];
        assert_eq!(d.delete, ["#3"]);
        assert_eq!(d.put.len(), 1);
        assert_eq!(d.put[0].date, date(2026, 3, 14));
        let got: Vec<(&str, &str, &str)> = p.changes[0]
            .cells
            .iter()
            .map(|c| (c.column, c.before.as_str(), c.after.as_str()))
            .collect();
        // last_order_date never moves backwards: it stays 2026-03-22.
        assert_eq!(
            got,
            [("order_count", "3", "2"), ("order_pace_days", "10", "12")]
        );
    }

    #[test]
    fn plain_file_without_order_ids_is_idempotent_and_matches_ids_ignoring_case() {
        let mut t = table(LIST);
        let mut kept = FxHashMap::default();
        let f = file("customer_id,order_date\nC3,2026-01-01\nC3,2026-01-01\nc1,2026-02-01\n");
        let m = match_orders(&t, &f).unwrap();
        assert!(m.unknown.is_empty());
        assert_eq!(m.customers["c3"].orders[1].order_id, "2026-01-01#2");
        let p = plan(&t, &m, &kept, &Default::default());
        apply(&mut t, &p);
        store(&mut kept, &p);
        assert_eq!(t.rows[2][4], "2");
        let p = plan(
            &t,
            &match_orders(&t, &f).unwrap(),
            &kept,
            &Default::default(),
        );
        assert!(p.changes.is_empty() && p.history.is_empty());
    }

    #[test]
    fn a_list_without_the_columns_is_refused() {
        let t = table("customer_id,name\nC1,A");
        let f = file(SHOPIFY);
        assert_eq!(
            match_orders(&t, &f).unwrap_err(),
            ImportError::NoOrderColumns
        );
        let t = table("id,last_order_date\nC1,");
        assert_eq!(match_orders(&t, &f).unwrap_err(), ImportError::NoIdColumn);
    }
}
