//! `SqliteStore`: the local state, audit and send ledger in one SQLite file (`churn.db` in the data
//! folder). SQLite because it is one file a person can open with any SQLite tool, transactions make
//! "all or nothing" cheap, and triggers can make the audit table refuse updates and deletes.

use std::path::Path;

use churn_core::ingest::order_import::{CustomerChange, HistOrder, HistoryDiff};
use churn_core::model::{Band, ListItem};
use churn_core::outcome::state::{AuditItem, Change, CustomerState, Status, surfaced};
use churn_core::run::holdout::{self, HeldOut};
use churn_core::run::{Claim, ClaimRequest, LedgerStatus, SentList, Via};
use churn_core::scoring::history::HistoryEntry;
use churn_core::scoring::score_cells::CustomerScore;
use jiff::civil::Date;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

/// File name of the database inside the data folder.
pub const DB_FILE: &str = "churn.db";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS customer_state (
    customer_id   TEXT PRIMARY KEY,
    score         INTEGER,
    band          TEXT,
    reason        TEXT,
    surfaced_date TEXT,
    last_contact  TEXT,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'lost')),
    owner         TEXT,
    won_back_date TEXT,
    lost_date     TEXT,
    lost_reason   TEXT,
    rules_version TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    ts          TEXT NOT NULL,
    action      TEXT NOT NULL,
    by_user     TEXT NOT NULL,
    before      TEXT NOT NULL,
    after       TEXT NOT NULL,
    notes       TEXT NOT NULL,
    UNIQUE (customer_id, ts)
);
CREATE INDEX IF NOT EXISTS audit_by_ts ON audit (ts);

-- The audit is append-only: the database itself refuses changes.
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;

-- The send ledger: one row per (week, owner) once their list is sent.
CREATE TABLE IF NOT EXISTS send_ledger (
    week          TEXT NOT NULL,
    owner         TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('sent', 'recorded')),
    via           TEXT NOT NULL,
    list          TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    sent_at       TEXT NOT NULL,
    recorded_at   TEXT,
    run_id        TEXT,
    held_out      TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (week, owner)
) WITHOUT ROWID;

-- order-import's kept history: one row per (customer, order id), merged on every import.
-- Claims (docs/SPEC.md §4): the run that may send (week, owner) now, until its lease ends; the list it is
-- about to send, so a run that takes a lapsed claim over sends the same list.
CREATE TABLE IF NOT EXISTS send_claims (
    week          TEXT NOT NULL,
    owner         TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    lease_until   INTEGER NOT NULL,
    via           TEXT NOT NULL,
    list          TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    held_out      TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (week, owner)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS order_history (
    customer_id TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    order_date  TEXT NOT NULL,
    amount      REAL,
    PRIMARY KEY (customer_id, order_id)
) WITHOUT ROWID;

-- Score history (docs/SPEC.md §10): each weekly run's score per customer; a rerun of the week
-- replaces its entry. Entries older than two years are pruned by the run.
CREATE TABLE IF NOT EXISTS score_history (
    customer_id   TEXT NOT NULL,
    week          TEXT NOT NULL,
    score         INTEGER NOT NULL,
    band          TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    PRIMARY KEY (customer_id, week)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// A database problem, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state database ({path}) could not be opened: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("the state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the state database holds an unreadable value: {0}")]
    Corrupt(String),
}

pub use churn_core::run::LedgerEntry;

/// The local state store.
pub struct SqliteStore {
    conn: Connection,
    read_only: bool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(SqliteStore {
            conn,
            read_only: false,
        })
    }

    /// Opens the database for reading only, touching nothing on disk; a missing database reads as
    /// empty (used by `--dry-run`).
    pub fn open_read_only(dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            let conn = Connection::open_in_memory()?;
            conn.execute_batch(SCHEMA)?;
            return Ok(SqliteStore {
                conn,
                read_only: true,
            });
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(SqliteStore {
            conn,
            read_only: true,
        })
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The raw connection, for transactions spanning several calls.
    pub fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Every customer whose state matters to scoring or the pause (surfaced, contacted, won back
    /// or lost). Customers with only a stored score are left out to keep memory small.
    pub fn load_prior(&self) -> Result<FxHashMap<String, CustomerState>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT customer_id, score, band, reason, surfaced_date, last_contact, status, owner,
                    won_back_date, lost_date, lost_reason, rules_version
             FROM customer_state
             WHERE surfaced_date IS NOT NULL OR last_contact IS NOT NULL OR won_back_date IS NOT NULL
                   OR status = 'lost'",
        )?;
        let mut out = FxHashMap::default();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let s = state_from_row(row)?;
            out.insert(s.customer_id.clone(), s);
        }
        Ok(out)
    }

    /// Every customer whose stored band is `band` (the digest's watch band), by id.
    pub fn in_band(&self, band: Band) -> Result<Vec<CustomerState>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT customer_id, score, band, reason, surfaced_date, last_contact, status, owner,
                    won_back_date, lost_date, lost_reason, rules_version
             FROM customer_state WHERE band = ?1 ORDER BY customer_id",
        )?;
        let mut out = Vec::new();
        let mut rows = stmt.query([band.as_str()])?;
        while let Some(row) = rows.next()? {
            out.push(state_from_row(row)?);
        }
        Ok(out)
    }

    /// One customer's state (a fresh active state when none is stored).
    pub fn get_state(&self, customer_id: &str) -> Result<CustomerState, StoreError> {
        get_state(&self.conn, customer_id)
    }

    /// A customer's audit items, oldest first.
    pub fn audit_for(&self, customer_id: &str) -> Result<Vec<AuditItem>, StoreError> {
        self.audit_where("customer_id = ?1", &[customer_id])
    }

    /// Every audit item with `from <= ts < to` (RFC 3339 strings compare in time order).
    pub fn audit_between(&self, from: &str, to: &str) -> Result<Vec<AuditItem>, StoreError> {
        self.audit_where("ts >= ?1 AND ts < ?2", &[from, to])
    }

    /// Audit items matching a fixed condition, in write order.
    fn audit_where(&self, condition: &str, args: &[&str]) -> Result<Vec<AuditItem>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT customer_id, ts, action, by_user, before, after, notes FROM audit
             WHERE {condition} ORDER BY seq"
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), audit_from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// The number of audit rows (for tests and reports).
    pub fn audit_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The send ledger for a week, by owner: sent and recorded entries, and live or lapsed
    /// claims (`sending`) of owners not yet sent.
    pub fn ledger(&self, week: &str) -> Result<FxHashMap<String, LedgerEntry>, StoreError> {
        let mut out = FxHashMap::default();
        let mut stmt = self.conn.prepare(&format!(
            "SELECT owner, run_id, lease_until, via, list, rules_version, {} FROM send_claims WHERE week = ?1",
            held_out_column(&self.conn, "send_claims")?
        ))?;
        let mut rows = stmt.query([week])?;
        while let Some(r) = rows.next()? {
            let entry = LedgerEntry {
                week: week.to_string(),
                owner: r.get(0)?,
                status: LedgerStatus::Sending,
                run_id: r.get(1)?,
                lease_until_ms: Some(r.get(2)?),
                via: read_via(&r.get::<_, String>(3)?)?,
                list: read_list(&r.get::<_, String>(4)?)?,
                rules_version: r.get(5)?,
                held_out: read_held_out(&r.get::<_, String>(6)?)?,
            };
            out.insert(entry.owner.clone(), entry);
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT owner, status, via, list, rules_version, COALESCE(run_id, ''), {} FROM send_ledger WHERE week = ?1",
            held_out_column(&self.conn, "send_ledger")?
        ))?;
        let mut rows = stmt.query([week])?;
        while let Some(r) = rows.next()? {
            let status: String = r.get(1)?;
            let entry = LedgerEntry {
                week: week.to_string(),
                owner: r.get(0)?,
                status: LedgerStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("send ledger status {status}")))?,
                run_id: r.get(5)?,
                lease_until_ms: None,
                via: read_via(&r.get::<_, String>(2)?)?,
                list: read_list(&r.get::<_, String>(3)?)?,
                rules_version: r.get(4)?,
                held_out: read_held_out(&r.get::<_, String>(6)?)?,
            };
            out.insert(entry.owner.clone(), entry);
        }
        Ok(out)
    }

    /// Claims (week, owner) for `run_id` (docs/SPEC.md §4), in one `BEGIN IMMEDIATE` transaction so two
    /// processes on one data folder cannot both win.
    pub fn claim(&mut self, r: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done = {
            let week = r.week.to_string();

            ledger_row(&tx, &week, r.owner)?
        };
        if let Some(e) = done {
            return Ok(Claim::Done(e));
        }
        let previous = claim_row(&tx, r.week, r.owner)?;
        if let Some(p) = &previous
            && p.is_live_claim(r.now_ms)
            && p.run_id != r.run_id
        {
            return Ok(Claim::Busy {
                run_id: p.run_id.clone(),
            });
        }
        // A takeover keeps the list the lapsed claim was sending.
        tx.execute(
            "INSERT INTO send_claims (week, owner, run_id, lease_until, via, list, rules_version)
             VALUES (?1, ?2, ?3, ?4, 'email', '[]', '')
             ON CONFLICT (week, owner) DO UPDATE SET run_id = excluded.run_id, lease_until = excluded.lease_until",
            params![r.week, r.owner, r.run_id, r.lease_until_ms],
        )?;
        tx.commit()?;
        Ok(Claim::Claimed { previous })
    }

    /// Stores the list about to be sent in `run_id`'s claim; `false` when the claim is not its.
    pub fn prepare(
        &mut self,
        week: &str,
        owner: &str,
        run_id: &str,
        sent: &SentList<'_>,
    ) -> Result<bool, StoreError> {
        let list =
            serde_json::to_string(sent.list).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let held_out = held_out_json(sent.held_out)?;
        let n = self.conn.execute(
            "UPDATE send_claims SET via = ?4, list = ?5, rules_version = ?6, held_out = ?7
             WHERE week = ?1 AND owner = ?2 AND run_id = ?3",
            params![
                week,
                owner,
                run_id,
                sent.via.as_str(),
                list,
                sent.rules_version,
                held_out
            ],
        )?;
        Ok(n == 1)
    }

    /// Marks (week, owner) `sent` with the list that went out, only while `run_id` holds the
    /// claim (which it then gives up); `false` when it does not.
    pub fn mark_sent(
        &mut self,
        week: &str,
        owner: &str,
        run_id: &str,
        sent: &SentList<'_>,
        now: &str,
    ) -> Result<bool, StoreError> {
        let list =
            serde_json::to_string(sent.list).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let held = tx.execute(
            "DELETE FROM send_claims WHERE week = ?1 AND owner = ?2 AND run_id = ?3",
            params![week, owner, run_id],
        )? == 1;
        if !held {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO send_ledger (week, owner, status, via, list, rules_version, sent_at, run_id, held_out)
             VALUES (?1, ?2, 'sent', ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                week,
                owner,
                sent.via.as_str(),
                list,
                sent.rules_version,
                now,
                run_id,
                held_out_json(sent.held_out)?
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Ends `run_id`'s claim on (week, owner) now, keeping its list for the run that takes it
    /// over.
    pub fn abandon(&mut self, week: &str, owner: &str, run_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE send_claims SET lease_until = 0 WHERE week = ?1 AND owner = ?2 AND run_id = ?3",
            params![week, owner, run_id],
        )?;
        Ok(())
    }

    /// Gives up `run_id`'s claim on (week, owner).
    pub fn release(&mut self, week: &str, owner: &str, run_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM send_claims WHERE week = ?1 AND owner = ?2 AND run_id = ?3",
            params![week, owner, run_id],
        )?;
        Ok(())
    }

    /// Records the surfaced names of a sent list (docs/SPEC.md §4 record): their state and one `surfaced`
    /// audit item each, then marks the ledger `recorded`. Idempotent: a recorded entry changes
    /// nothing. Returns how many names were recorded.
    pub fn record(
        &mut self,
        week: &str,
        owner: &str,
        as_of: Date,
        by_user: &str,
        clock: &mut AuditClock,
    ) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row: Option<(String, String, String, String, String)> = tx
            .query_row(
                "SELECT status, list, via, held_out, rules_version FROM send_ledger WHERE week = ?1 AND owner = ?2",
                params![week, owner],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((status, list, via, held_out, rules_version)) = row else {
            return Ok(0);
        };
        if status == "recorded" {
            return Ok(0);
        }
        let list: Vec<ListItem> = serde_json::from_str(&list)
            .map_err(|e| StoreError::Corrupt(format!("send ledger list: {e}")))?;
        for item in &list {
            let before = get_state(&tx, &item.customer_id)?;
            let change = surfaced(&before, item, owner, as_of, week, &via);
            write_change(&tx, &change, by_user, &clock.tick())?;
        }
        // Held out (docs/SPEC.md §3): audited, state untouched (not contacted, no pause).
        for h in read_held_out(&held_out)? {
            let notes = holdout::audit_notes(&h, week, as_of, &rules_version);
            let empty = Map::new();
            insert_audit(
                &tx,
                &h.customer_id,
                &clock.tick(),
                holdout::HELD_OUT_ACTION,
                by_user,
                &empty,
                &empty,
                &notes,
            )?;
        }
        tx.execute(
            "UPDATE send_ledger SET status = 'recorded', recorded_at = ?3 WHERE week = ?1 AND owner = ?2",
            params![week, owner, clock.now_string()],
        )?;
        tx.commit()?;
        Ok(list.len())
    }

    /// Applies one change (an outcome, undo or reactivation) and writes its audit item, atomically.
    pub fn apply(&mut self, change: &Change, by_user: &str, ts: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        write_change(&tx, change, by_user, ts)?;
        tx.commit()?;
        Ok(())
    }

    /// Applies `change` only if every field in `change.before` still holds that value, in one
    /// `BEGIN IMMEDIATE` transaction (so another process or connection cannot slip in between the
    /// check and the write). Returns `false`, writing nothing, when a field no longer matches or
    /// the change is a no-op: the same click delivered twice changes state once.
    pub fn apply_if_current(
        &mut self,
        change: &Change,
        by_user: &str,
        ts: &str,
    ) -> Result<bool, StoreError> {
        if change.is_noop() {
            return Ok(false);
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current = get_state(&tx, &change.state.customer_id)?;
        if change
            .before
            .iter()
            .any(|(field, value)| &current.field(field) != value)
        {
            return Ok(false);
        }
        write_change(&tx, change, by_user, ts)?;
        tx.commit()?;
        Ok(true)
    }

    /// Write-ahead logging with `synchronous = NORMAL`: readers never block the writer and a
    /// commit costs no fsync of the main file (a long-running server's setting; the mode stays
    /// with the file).
    pub fn use_wal(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        Ok(())
    }

    /// A value from the `meta` table, creating it with `make` when absent.
    pub fn meta_or_insert(
        &mut self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        if let Some(v) = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        {
            return Ok(v);
        }
        let v = make();
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![key, v],
        )?;
        Ok(v)
    }
}

impl SqliteStore {
    /// The kept order history of each of `customer_ids` (customers without one are absent).
    pub fn order_history<'i>(
        &self,
        customer_ids: impl IntoIterator<Item = &'i str>,
    ) -> Result<FxHashMap<String, Vec<HistOrder>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT order_id, order_date, amount FROM order_history WHERE customer_id = ?1",
        )?;
        let mut out = FxHashMap::default();
        for cid in customer_ids {
            let mut rows = stmt.query([cid])?;
            let mut list = Vec::new();
            while let Some(r) = rows.next()? {
                let date: String = r.get(1)?;
                list.push(HistOrder {
                    order_id: r.get(0)?,
                    date: date.parse::<Date>().map_err(|e| {
                        StoreError::Corrupt(format!("order_history date {date}: {e}"))
                    })?,
                    amount: r.get(2)?,
                });
            }
            if !list.is_empty() {
                out.insert(cid.to_string(), list);
            }
        }
        Ok(out)
    }

    /// A customer's score history, oldest first (empty for a database from before history).
    pub fn history(&self, customer_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(self
            .histories(&[customer_id], "")?
            .remove(customer_id)
            .unwrap_or_default())
    }

    /// Several customers' history entries of `since_week` and later, oldest first, by id.
    pub fn histories(
        &self,
        customer_ids: &[&str],
        since_week: &str,
    ) -> Result<FxHashMap<String, Vec<HistoryEntry>>, StoreError> {
        let mut out: FxHashMap<String, Vec<HistoryEntry>> = FxHashMap::default();
        let exists = self
            .conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'score_history'")?
            .exists([])?;
        if !exists {
            return Ok(out);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT week, score, band, rules_version FROM score_history
             WHERE customer_id = ?1 AND week >= ?2 ORDER BY week",
        )?;
        for id in customer_ids {
            let mut rows = stmt.query(params![id, since_week])?;
            while let Some(r) = rows.next()? {
                let band: String = r.get(2)?;
                out.entry(id.to_string()).or_default().push(HistoryEntry {
                    week: r.get(0)?,
                    score: r.get::<_, i64>(1)? as u32,
                    band: Band::parse(&band)
                        .ok_or_else(|| StoreError::Corrupt(format!("history band {band}")))?,
                    rules_version: r.get(3)?,
                });
            }
        }
        Ok(out)
    }

    /// Every customer's stored score and band (the latest run's), by id.
    pub fn scores(&self) -> Result<FxHashMap<String, CustomerScore>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT customer_id, score, band FROM customer_state WHERE score IS NOT NULL AND band IS NOT NULL",
        )?;
        let mut out = FxHashMap::default();
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let band: String = r.get(2)?;
            if let Some(band) = Band::parse(&band) {
                out.insert(
                    r.get(0)?,
                    CustomerScore {
                        score: r.get::<_, i64>(1)? as u32,
                        band,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Starts writing an import's history changes and audit items; nothing is kept unless it is
    /// committed (the caller writes the list in between, so a failed list write keeps nothing).
    pub fn begin_order_import(&mut self) -> Result<OrderImportWrite<'_>, StoreError> {
        Ok(OrderImportWrite {
            tx: self.conn.transaction()?,
        })
    }
}

/// An order-import's writes inside one transaction.
pub struct OrderImportWrite<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl OrderImportWrite<'_> {
    /// Puts and deletes one customer's history rows.
    pub fn history(&mut self, customer_id: &str, diff: &HistoryDiff) -> Result<(), StoreError> {
        let mut put = self.tx.prepare_cached(
            "INSERT INTO order_history (customer_id, order_id, order_date, amount) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (customer_id, order_id) DO UPDATE SET order_date = excluded.order_date, amount = excluded.amount",
        )?;
        for o in &diff.put {
            put.execute(params![
                customer_id,
                o.order_id,
                o.date.to_string(),
                o.amount
            ])?;
        }
        let mut del = self
            .tx
            .prepare_cached("DELETE FROM order_history WHERE customer_id = ?1 AND order_id = ?2")?;
        for id in &diff.delete {
            del.execute(params![customer_id, id])?;
        }
        Ok(())
    }

    /// Writes the `order_import` audit item of one changed customer.
    pub fn audit(
        &mut self,
        change: &CustomerChange,
        by_user: &str,
        ts: &str,
        notes: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        let (before, after) = change.audit_maps();
        insert_audit(
            &self.tx,
            &change.customer_id,
            ts,
            "order_import",
            by_user,
            &before,
            &after,
            notes,
        )
    }

    /// Keeps everything written.
    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit()?;
        Ok(())
    }
}

/// Batched score and band refresh inside one transaction: a row is written only when its score,
/// band or owner changed. Dropping it without `commit` writes nothing.
pub struct ScoreRefresh<'c> {
    tx: rusqlite::Transaction<'c>,
    changed: u64,
    /// (week, rules version) when every score also goes into the week's history entry.
    history: Option<(String, String)>,
}

impl<'c> ScoreRefresh<'c> {
    pub fn begin(store: &'c mut SqliteStore) -> Result<ScoreRefresh<'c>, StoreError> {
        let tx = store.conn.transaction()?;
        Ok(ScoreRefresh {
            tx,
            changed: 0,
            history: None,
        })
    }

    /// Also keeps every score as the customer's history entry of `week` (replacing one a rerun
    /// of the week wrote), and prunes entries older than two years.
    pub fn with_history(mut self, week: &str, rules_version: &str) -> Result<Self, StoreError> {
        if let Some(oldest) = churn_core::scoring::history::oldest_kept_week(week) {
            self.tx
                .execute("DELETE FROM score_history WHERE week < ?1", [oldest])?;
        }
        self.history = Some((week.to_string(), rules_version.to_string()));
        Ok(self)
    }

    pub fn put(
        &mut self,
        customer_id: &str,
        score: u32,
        band: Band,
        owner: &str,
    ) -> Result<(), StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO customer_state (customer_id, score, band, owner) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (customer_id) DO UPDATE SET score = excluded.score, band = excluded.band, owner = excluded.owner
             WHERE score IS NOT excluded.score OR band IS NOT excluded.band OR owner IS NOT excluded.owner",
        )?;
        self.changed += stmt.execute(params![customer_id, score, band.as_str(), owner])? as u64;
        if let Some((week, version)) = &self.history {
            let mut h = self.tx.prepare_cached(
                "INSERT INTO score_history (customer_id, week, score, band, rules_version) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (customer_id, week) DO UPDATE SET score = excluded.score, band = excluded.band,
                     rules_version = excluded.rules_version",
            )?;
            h.execute(params![customer_id, week, score, band.as_str(), version])?;
        }
        Ok(())
    }

    /// Applies a change (a reactivation) inside the same transaction.
    pub fn apply(&mut self, change: &Change, by_user: &str, ts: &str) -> Result<(), StoreError> {
        write_change(&self.tx, change, by_user, ts)
    }

    /// Appends the run-level audit item inside the same transaction.
    pub fn audit_run(
        &mut self,
        run_id: &str,
        action: &str,
        notes: Map<String, Value>,
        ts: &str,
    ) -> Result<(), StoreError> {
        insert_audit(
            &self.tx,
            &format!("run:{run_id}"),
            ts,
            action,
            "churn",
            &Map::new(),
            &Map::new(),
            &notes,
        )
    }

    pub fn changed(&self) -> u64 {
        self.changed
    }

    pub fn commit(self) -> Result<u64, StoreError> {
        let n = self.changed;
        self.tx.commit()?;
        Ok(n)
    }
}

pub use churn_core::run::clock::AuditClock;

fn write_change(
    conn: &Connection,
    change: &Change,
    by_user: &str,
    ts: &str,
) -> Result<(), StoreError> {
    let s = &change.state;
    conn.execute(
        "INSERT INTO customer_state (customer_id, score, band, reason, surfaced_date, last_contact, status, owner,
                                     won_back_date, lost_date, lost_reason, rules_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (customer_id) DO UPDATE SET score = excluded.score, band = excluded.band, reason = excluded.reason,
             surfaced_date = excluded.surfaced_date, last_contact = excluded.last_contact, status = excluded.status,
             owner = excluded.owner, won_back_date = excluded.won_back_date, lost_date = excluded.lost_date,
             lost_reason = excluded.lost_reason, rules_version = excluded.rules_version",
        params![
            s.customer_id,
            s.score,
            s.band.map(Band::as_str),
            s.reason,
            s.surfaced_date.map(|d| d.to_string()),
            s.last_contact.map(|d| d.to_string()),
            s.status.as_str(),
            s.owner,
            s.won_back_date.map(|d| d.to_string()),
            s.lost_date.map(|d| d.to_string()),
            s.lost_reason,
            s.rules_version,
        ],
    )?;
    insert_audit(
        conn,
        &s.customer_id,
        ts,
        change.action,
        by_user,
        &change.before,
        &change.after,
        &change.notes,
    )
}

#[allow(clippy::too_many_arguments)]
fn insert_audit(
    conn: &Connection,
    customer_id: &str,
    ts: &str,
    action: &str,
    by_user: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    notes: &Map<String, Value>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO audit (customer_id, ts, action, by_user, before, after, notes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    stmt.execute(params![
        customer_id,
        ts,
        action,
        by_user,
        Value::Object(before.clone()).to_string(),
        Value::Object(after.clone()).to_string(),
        Value::Object(notes.clone()).to_string(),
    ])?;
    Ok(())
}

fn get_state(conn: &Connection, customer_id: &str) -> Result<CustomerState, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT customer_id, score, band, reason, surfaced_date, last_contact, status, owner,
                won_back_date, lost_date, lost_reason, rules_version
         FROM customer_state WHERE customer_id = ?1",
    )?;
    let mut rows = stmt.query([customer_id])?;
    match rows.next()? {
        Some(row) => state_from_row(row),
        None => Ok(CustomerState::new(customer_id)),
    }
}

fn state_from_row(row: &rusqlite::Row<'_>) -> Result<CustomerState, StoreError> {
    let date = |i: usize| -> Result<Option<Date>, StoreError> {
        match row.get::<_, Option<String>>(i)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("date `{s}`"))),
        }
    };
    let band: Option<String> = row.get(2)?;
    Ok(CustomerState {
        customer_id: row.get(0)?,
        score: row.get::<_, Option<i64>>(1)?.map(|s| s as u32),
        band: band.as_deref().and_then(Band::parse),
        reason: row.get(3)?,
        surfaced_date: date(4)?,
        last_contact: date(5)?,
        status: if row.get::<_, String>(6)? == "lost" {
            Status::Lost
        } else {
            Status::Active
        },
        owner: row.get(7)?,
        won_back_date: date(8)?,
        lost_date: date(9)?,
        lost_reason: row.get(10)?,
        rules_version: row.get(11)?,
    })
}

fn audit_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<AuditItem, StoreError>> {
    let obj = |s: String| -> Result<Map<String, Value>, StoreError> {
        match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(StoreError::Corrupt(format!("audit JSON `{s}`"))),
        }
    };
    let (before, after, notes): (String, String, String) = (row.get(4)?, row.get(5)?, row.get(6)?);
    Ok((|| {
        Ok(AuditItem {
            customer_id: row.get(0)?,
            ts: row.get(1)?,
            action: row.get(2)?,
            by_user: row.get(3)?,
            before: obj(before)?,
            after: obj(after)?,
            notes: obj(notes)?,
        })
    })())
}

fn read_via(s: &str) -> Result<Via, StoreError> {
    Via::parse(s).ok_or_else(|| StoreError::Corrupt(format!("send ledger channel {s}")))
}

fn read_list(s: &str) -> Result<Vec<ListItem>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("send ledger list: {e}")))
}

fn read_held_out(s: &str) -> Result<Vec<HeldOut>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("send ledger held_out: {e}")))
}

/// `held_out`, or an empty list for a database from before the holdout opened read-only (which
/// cannot be migrated).
fn held_out_column(conn: &Connection, table: &str) -> Result<&'static str, StoreError> {
    let has = conn
        .prepare_cached("SELECT 1 FROM pragma_table_info(?1) WHERE name = 'held_out'")?
        .exists([table])?;
    Ok(if has { "held_out" } else { "'[]'" })
}

fn held_out_json(h: &[HeldOut]) -> Result<String, StoreError> {
    serde_json::to_string(h).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The `sent` or `recorded` entry of (week, owner), if any.
fn ledger_row(
    conn: &Connection,
    week: &str,
    owner: &str,
) -> Result<Option<LedgerEntry>, StoreError> {
    let row: Option<(String, String, String, String, String, String)> = conn
        .query_row(
            &format!("SELECT status, via, list, rules_version, COALESCE(run_id, ''), {} FROM send_ledger WHERE week = ?1 AND owner = ?2", held_out_column(conn, "send_ledger")?),
            params![week, owner],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    row.map(|(status, via, list, rules_version, run_id, held_out)| {
        Ok(LedgerEntry {
            week: week.to_string(),
            owner: owner.to_string(),
            status: LedgerStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("send ledger status {status}")))?,
            run_id,
            via: read_via(&via)?,
            list: read_list(&list)?,
            rules_version,
            held_out: read_held_out(&held_out)?,
            lease_until_ms: None,
        })
    })
    .transpose()
}

/// The claim on (week, owner), if any.
fn claim_row(
    conn: &Connection,
    week: &str,
    owner: &str,
) -> Result<Option<LedgerEntry>, StoreError> {
    let row: Option<(String, i64, String, String, String, String)> = conn
        .query_row(
            &format!("SELECT run_id, lease_until, via, list, rules_version, {} FROM send_claims WHERE week = ?1 AND owner = ?2", held_out_column(conn, "send_claims")?),
            params![week, owner],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    row.map(|(run_id, lease, via, list, rules_version, held_out)| {
        Ok(LedgerEntry {
            week: week.to_string(),
            owner: owner.to_string(),
            status: LedgerStatus::Sending,
            run_id,
            via: read_via(&via)?,
            list: read_list(&list)?,
            rules_version,
            held_out: read_held_out(&held_out)?,
            lease_until_ms: Some(lease),
        })
    })
    .transpose()
}

/// Brings a database made by an earlier version up to this schema.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let has_run_id: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('send_ledger') WHERE name = 'run_id'")?
        .exists([])?;
    if !has_run_id {
        match conn.execute_batch("ALTER TABLE send_ledger ADD COLUMN run_id TEXT") {
            // Another process opening the same folder added it first.
            Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("duplicate column") => {}
            other => other?,
        }
    }
    // The holdout's column (docs/SPEC.md §3) in both ledger tables.
    for table in ["send_ledger", "send_claims"] {
        let has: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = 'held_out'"
            ))?
            .exists([])?;
        if !has {
            match conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN held_out TEXT NOT NULL DEFAULT '[]'"
            )) {
                Err(rusqlite::Error::SqliteFailure(_, Some(m)))
                    if m.contains("duplicate column") => {}
                other => other?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_core::outcome::state::{Outcome, apply_outcome};
    use jiff::civil::date;

    #[test]
    fn audit_refuses_update_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let c = apply_outcome(
            &CustomerState::new("C1"),
            &Outcome::ReachedOut,
            date(2026, 11, 23),
        );
        store
            .apply(&c, "sam", "2026-11-23T10:00:00.000000000Z")
            .unwrap();
        assert_eq!(store.audit_count().unwrap(), 1);
        let e = store
            .conn()
            .execute("UPDATE audit SET action = 'lost'", [])
            .unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        let e = store.conn().execute("DELETE FROM audit", []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        assert_eq!(
            store.get_state("C1").unwrap().last_contact,
            Some(date(2026, 11, 23))
        );
        // The same customer and ts twice is refused: ts is unique per customer.
        assert!(
            store
                .apply(&c, "sam", "2026-11-23T10:00:00.000000000Z")
                .is_err()
        );
        assert_eq!(store.audit_count().unwrap(), 1);
    }

    #[test]
    fn apply_if_current_writes_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let before = CustomerState::new("C1");
        let c = apply_outcome(&before, &Outcome::ReachedOut, date(2026, 11, 23));
        assert!(store.apply_if_current(&c, "sam", "t1").unwrap());
        // Planned from the same old state: refused, nothing written.
        assert!(!store.apply_if_current(&c, "sam", "t2").unwrap());
        let noop = apply_outcome(
            &store.get_state("C1").unwrap(),
            &Outcome::ReachedOut,
            date(2026, 11, 23),
        );
        assert!(!store.apply_if_current(&noop, "sam", "t3").unwrap());
        assert_eq!(store.audit_count().unwrap(), 1);
    }

    #[test]
    fn read_only_open_of_a_missing_db_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_read_only(dir.path()).unwrap();
        assert!(store.load_prior().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_ledger_from_before_the_holdout_reads_and_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(
                "CREATE TABLE send_ledger (week TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
                     via TEXT NOT NULL, list TEXT NOT NULL, rules_version TEXT NOT NULL,
                     sent_at TEXT NOT NULL, recorded_at TEXT, run_id TEXT, PRIMARY KEY (week, owner));
                 CREATE TABLE send_claims (week TEXT NOT NULL, owner TEXT NOT NULL, run_id TEXT NOT NULL,
                     lease_until INTEGER NOT NULL, via TEXT NOT NULL, list TEXT NOT NULL,
                     rules_version TEXT NOT NULL, PRIMARY KEY (week, owner));
                 INSERT INTO send_ledger VALUES ('2026-W48', 'a@x.example', 'sent', 'email', '[]', 'v', 't', NULL, 'r');",
            )
            .unwrap();
        }
        // A dry run cannot migrate: the old ledger still reads, with nobody held out.
        let ro = SqliteStore::open_read_only(dir.path()).unwrap();
        let e = ro.ledger("2026-W48").unwrap();
        assert!(e["a@x.example"].held_out.is_empty());
        drop(ro);
        // A real open adds the column; recording the old entry works.
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let mut clock = AuditClock::default();
        let n = store
            .record(
                "2026-W48",
                "a@x.example",
                date(2026, 11, 23),
                "t",
                &mut clock,
            )
            .unwrap();
        assert_eq!(n, 0);
        assert_eq!(
            store.ledger("2026-W48").unwrap()["a@x.example"].status,
            LedgerStatus::Recorded
        );
    }

    #[test]
    fn record_audits_the_held_out_without_touching_their_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let held = vec![HeldOut {
            customer_id: "H1".into(),
            band: Band::AtRisk,
            score: 60,
        }];
        let r = ClaimRequest {
            week: "2026-W48",
            owner: "a@x.example",
            run_id: "r1",
            now_ms: 0,
            lease_until_ms: 1,
        };
        assert!(matches!(store.claim(&r).unwrap(), Claim::Claimed { .. }));
        let sent = SentList {
            via: Via::Email,
            list: &[],
            rules_version: "v1",
            held_out: &held,
        };
        assert!(
            store
                .prepare("2026-W48", "a@x.example", "r1", &sent)
                .unwrap()
        );
        assert_eq!(
            store.ledger("2026-W48").unwrap()["a@x.example"].held_out,
            held
        );
        assert!(
            store
                .mark_sent("2026-W48", "a@x.example", "r1", &sent, "t")
                .unwrap()
        );
        let mut clock = AuditClock::default();
        store
            .record(
                "2026-W48",
                "a@x.example",
                date(2026, 11, 23),
                "churn",
                &mut clock,
            )
            .unwrap();
        store
            .record(
                "2026-W48",
                "a@x.example",
                date(2026, 11, 23),
                "churn",
                &mut clock,
            )
            .unwrap();
        let audit = store.audit_for("H1").unwrap();
        assert_eq!(audit.len(), 1, "recorded once");
        assert_eq!(audit[0].action, "held_out");
        assert_eq!(audit[0].notes["as_of"], "2026-11-23");
        assert_eq!(audit[0].notes["rules_version"], "v1");
        assert_eq!(store.get_state("H1").unwrap(), CustomerState::new("H1"));
    }

    #[test]
    fn score_refresh_writes_only_changes_and_rolls_back_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let mut r = ScoreRefresh::begin(&mut store).unwrap();
        r.put("C1", 50, Band::AtRisk, "a@x.com").unwrap();
        r.put("C2", 10, Band::Steady, "a@x.com").unwrap();
        assert_eq!(r.commit().unwrap(), 2);
        let mut r = ScoreRefresh::begin(&mut store).unwrap();
        r.put("C1", 50, Band::AtRisk, "a@x.com").unwrap();
        r.put("C2", 30, Band::Watch, "a@x.com").unwrap();
        assert_eq!(r.changed(), 1);
        drop(r);
        assert_eq!(store.get_state("C2").unwrap().score, Some(10));
    }

    #[test]
    fn audit_clock_is_strictly_increasing() {
        let mut c = AuditClock::default();
        let mut prev = c.tick();
        for _ in 0..1000 {
            let n = c.tick();
            assert!(n > prev, "{n} <= {prev}");
            prev = n;
        }
    }
}
