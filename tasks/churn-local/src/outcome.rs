//! Recording what an owner did (docs/SPEC.md §5) from the command line: one state change and one audit row.

use std::path::Path;

use churn_core::list::customers::CustomerReader;
use churn_core::outcome::state::{Outcome, UndoRefused, apply_outcome, plan_undo};
use churn_core::run::week::resolve_as_of;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{ConfigError, Settings};
use crate::store::{AuditClock, SqliteStore, StoreError};
use crate::weekly::{WeeklyError, customers_path, open_list};

/// An outcome or an undo.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeCommand {
    Record(Outcome),
    Undo,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeReport {
    pub customer_id: String,
    pub action: String,
    /// `recorded`, or `already_recorded` when nothing changed (no audit row written).
    pub status: String,
    pub before: Map<String, Value>,
    pub after: Map<String, Value>,
    pub notes: Map<String, Value>,
    pub by_user: String,
    pub date: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OutcomeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no customer with id `{0}` in customers.csv or the state database")]
    UnknownCustomer(String),
    #[error(transparent)]
    Undo(#[from] UndoRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Weekly(#[from] WeeklyError),
    #[error("{0}")]
    BadInput(String),
}

/// Whether `customer_id` is in the folder's customer list.
pub fn list_has_customer(
    dir: &Path,
    settings: &Settings,
    customer_id: &str,
) -> Result<bool, WeeklyError> {
    let path = customers_path(dir);
    if !path.exists() {
        return Ok(false);
    }
    let (file, _) = open_list(&path)?;
    let mut reader = CustomerReader::new(file, settings.read_options(), &[])?;
    while let Some(row) = reader.next_row() {
        if matches!(row, Ok(r) if r.customer_id == customer_id) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Records an outcome (or undoes the latest) for one customer. `date` defaults to today in the
/// configured time zone.
pub fn record_outcome(
    dir: &Path,
    customer_id: &str,
    command: &OutcomeCommand,
    by_user: &str,
    date: Option<&str>,
) -> Result<OutcomeReport, OutcomeError> {
    let settings = Settings::load(dir)?;
    let today = resolve_as_of(date, &settings.tz, jiff::Timestamp::now())
        .map_err(|e| OutcomeError::BadInput(e.to_string()))?;
    let mut store = SqliteStore::open(dir)?;
    let state = store.get_state(customer_id)?;
    let known = store.audit_for(customer_id).map(|h| !h.is_empty())? || state.score.is_some();
    if !known && !list_has_customer(dir, &settings, customer_id)? {
        return Err(OutcomeError::UnknownCustomer(customer_id.to_string()));
    }
    let change = match command {
        OutcomeCommand::Record(o) => apply_outcome(&state, o, today),
        OutcomeCommand::Undo => plan_undo(&state, &store.audit_for(customer_id)?)?,
    };
    let mut report = OutcomeReport {
        customer_id: customer_id.to_string(),
        action: change.action.to_string(),
        status: "recorded".into(),
        before: change.before.clone(),
        after: change.after.clone(),
        notes: change.notes.clone(),
        by_user: by_user.to_string(),
        date: today.to_string(),
    };
    if change.is_noop() && command != &OutcomeCommand::Undo {
        report.status = "already_recorded".into();
        return Ok(report);
    }
    let mut clock = AuditClock::default();
    store.apply(&change, by_user, &clock.tick())?;
    tracing::info!(customer_id, action = change.action, "outcome recorded");
    Ok(report)
}
