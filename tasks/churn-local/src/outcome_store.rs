//! `SqliteOutcomeStore`: `churn.db` as the outcome handler's store (`churn serve`), beside the
//! Lambda's `DynamoDbStateStore`. One connection behind a mutex; every call runs on tokio's
//! blocking pool; `apply` is conditional (`SqliteStore::apply_if_current`), so the same click
//! delivered twice changes state once.

use std::sync::{Arc, Mutex};

use churn_core::model::ListItem;
use churn_core::notify::home::HomeSource;
use churn_core::outcome::state::{AuditItem, Change, CustomerState};
use churn_core::ports::{Applied, OutcomeStore, PortError};
use churn_core::run::ledger::LedgerStatus;

use crate::store::{AuditClock, SqliteStore};

/// The local outcome store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteOutcomeStore {
    inner: Arc<Mutex<(SqliteStore, AuditClock)>>,
}

impl SqliteOutcomeStore {
    /// Wraps an open store (switch it to WAL first when readers run beside it).
    pub fn new(store: SqliteStore) -> SqliteOutcomeStore {
        SqliteOutcomeStore {
            inner: Arc::new(Mutex::new((store, AuditClock::default()))),
        }
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteStore, &mut AuditClock) -> Result<T, String> + Send + 'static,
    ) -> Result<T, PortError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = inner
                .lock()
                .map_err(|_| "the database lock was poisoned".to_string())?;
            let (store, clock) = &mut *guard;
            f(store, clock)
        })
        .await
        .map_err(|e| PortError::new(format!("database task failed: {e}"), true))?
        .map_err(|e| PortError::new(e, true))
    }
}

impl OutcomeStore for SqliteOutcomeStore {
    async fn state(&self, customer_id: &str) -> Result<CustomerState, PortError> {
        let id = customer_id.to_string();
        self.with(move |s, _| s.get_state(&id).map_err(|e| e.to_string()))
            .await
    }

    async fn history(&self, customer_id: &str) -> Result<Vec<AuditItem>, PortError> {
        let id = customer_id.to_string();
        self.with(move |s, _| s.audit_for(&id).map_err(|e| e.to_string()))
            .await
    }

    async fn apply(&self, change: &Change, by_user: &str) -> Result<Applied, PortError> {
        let (change, by) = (change.clone(), by_user.to_string());
        self.with(move |s, clock| {
            let ts = clock.tick();
            match s.apply_if_current(&change, &by, &ts) {
                Ok(true) => Ok(Applied::Recorded { ts }),
                Ok(false) => Ok(Applied::AlreadyRecorded),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    }

    async fn listed_ids(&self, week: &str) -> Result<Vec<String>, PortError> {
        let week = week.to_string();
        self.with(move |s, _| {
            let entries = s.ledger(&week).map_err(|e| e.to_string())?;
            Ok(entries
                .into_values()
                .flat_map(|e| e.list.into_iter().map(|i| i.customer_id))
                .collect())
        })
        .await
    }
}

/// The Home tab's data: the send ledger's sent lists and the audit (docs/SPEC.md §7).
impl HomeSource for SqliteOutcomeStore {
    async fn owner_lists(
        &self,
        owner: &str,
        weeks: &[String],
    ) -> Result<Vec<(String, Vec<ListItem>)>, PortError> {
        let (owner, weeks) = (owner.to_lowercase(), weeks.to_vec());
        self.with(move |s, _| {
            let mut out = Vec::new();
            for week in weeks {
                let mut entries = s.ledger(&week).map_err(|e| e.to_string())?;
                if let Some(e) = entries.remove(&owner)
                    && e.status != LedgerStatus::Sending
                {
                    out.push((week, e.list));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn audit_since(
        &self,
        customer_ids: &[String],
        from_ts: &str,
    ) -> Result<Vec<AuditItem>, PortError> {
        let (ids, from) = (customer_ids.to_vec(), from_ts.to_string());
        self.with(move |s, _| {
            let mut out = Vec::new();
            for id in ids {
                let items = s.audit_for(&id).map_err(|e| e.to_string())?;
                out.extend(items.into_iter().filter(|i| i.ts >= from));
            }
            Ok(out)
        })
        .await
    }
}
