//! `DynamoDbStateStore` as the outcome handler's [`OutcomeStore`]: consistent reads, and
//! [`DynamoDbStateStore::apply`]'s conditional transaction (a failed condition is
//! [`Applied::AlreadyRecorded`]; nothing was written).

use std::sync::{Mutex, OnceLock};

use churn_core::model::ListItem;
use churn_core::notify::home::HomeSource;
use churn_core::outcome::state::{AuditItem, Change, CustomerState};
use churn_core::ports::{Applied, OutcomeStore, PortError};
use churn_core::run::ledger::LedgerStatus;

use crate::{AuditClock, DynamoDbStateStore, StateError};

/// One clock per process, so concurrent writes in one container get distinct `ts`.
fn tick() -> String {
    static CLOCK: OnceLock<Mutex<AuditClock>> = OnceLock::new();
    let clock = CLOCK.get_or_init(|| Mutex::new(AuditClock::default()));
    match clock.lock() {
        Ok(mut c) => c.tick(),
        Err(poisoned) => poisoned.into_inner().tick(),
    }
}

fn port(e: StateError) -> PortError {
    PortError::new(e.to_string(), e.is_retryable())
}

impl OutcomeStore for DynamoDbStateStore {
    async fn state(&self, customer_id: &str) -> Result<CustomerState, PortError> {
        self.get_state(customer_id).await.map_err(port)
    }

    async fn history(&self, customer_id: &str) -> Result<Vec<AuditItem>, PortError> {
        self.audit_for(customer_id).await.map_err(port)
    }

    async fn apply(&self, change: &Change, by_user: &str) -> Result<Applied, PortError> {
        let ts = tick();
        match DynamoDbStateStore::apply(self, change, by_user, &ts).await {
            Ok(()) => Ok(Applied::Recorded { ts }),
            Err(StateError::AlreadyRecorded { .. }) => Ok(Applied::AlreadyRecorded),
            Err(e) => Err(port(e)),
        }
    }
}

/// The outcome handler's store on AWS: `cp-state` and `cp-audit` for outcomes, and `cp-runs`
/// (read only) for the week's lists, which resolve a button that carries only a hashed id.
#[derive(Debug, Clone)]
pub struct DynamoDbOutcomeStore {
    pub state: DynamoDbStateStore,
    pub ledger: crate::DynamoDbSendLedger,
}

impl OutcomeStore for DynamoDbOutcomeStore {
    async fn state(&self, customer_id: &str) -> Result<CustomerState, PortError> {
        OutcomeStore::state(&self.state, customer_id).await
    }

    async fn history(&self, customer_id: &str) -> Result<Vec<AuditItem>, PortError> {
        OutcomeStore::history(&self.state, customer_id).await
    }

    async fn apply(&self, change: &Change, by_user: &str) -> Result<Applied, PortError> {
        OutcomeStore::apply(&self.state, change, by_user).await
    }

    async fn listed_ids(&self, week: &str) -> Result<Vec<String>, PortError> {
        let entries = self
            .ledger
            .get(week)
            .await
            .map_err(|e| PortError::new(e.to_string(), e.is_retryable()))?;
        Ok(entries
            .into_values()
            .flat_map(|e| e.list.into_iter().map(|i| i.customer_id))
            .collect())
    }
}

/// Customers' audit reads at once for the Home tab (each a `Query` on `cp-audit`).
const HOME_AUDIT_CONCURRENCY: usize = 16;

/// The Home tab's data (docs/SPEC.md §7): the owner's lists from `cp-runs` (a `Query` per week,
/// read only) and their customers' audit items from `cp-audit` (a `Query` per customer, several
/// at once, so the Events API's 3 seconds hold).
impl HomeSource for DynamoDbOutcomeStore {
    async fn owner_lists(
        &self,
        owner: &str,
        weeks: &[String],
    ) -> Result<Vec<(String, Vec<ListItem>)>, PortError> {
        let owner = owner.to_lowercase();
        let mut reads = tokio::task::JoinSet::new();
        for (i, week) in weeks.iter().enumerate() {
            let (ledger, week) = (self.ledger.clone(), week.clone());
            reads.spawn(async move { (i, week.clone(), ledger.get(&week).await) });
        }
        let mut out = Vec::new();
        while let Some(joined) = reads.join_next().await {
            let (i, week, entries) =
                joined.map_err(|e| PortError::new(format!("ledger read failed: {e}"), true))?;
            let mut entries =
                entries.map_err(|e| PortError::new(e.to_string(), e.is_retryable()))?;
            if let Some(e) = entries.remove(&owner)
                && e.status != LedgerStatus::Sending
            {
                out.push((i, week, e.list));
            }
        }
        out.sort_by_key(|(i, _, _)| *i);
        Ok(out.into_iter().map(|(_, w, l)| (w, l)).collect())
    }

    async fn audit_since(
        &self,
        customer_ids: &[String],
        from_ts: &str,
    ) -> Result<Vec<AuditItem>, PortError> {
        let mut out = Vec::new();
        for chunk in customer_ids.chunks(HOME_AUDIT_CONCURRENCY) {
            let mut reads = tokio::task::JoinSet::new();
            for id in chunk {
                let (state, id) = (self.state.clone(), id.clone());
                reads.spawn(async move { state.audit_for(&id).await });
            }
            while let Some(joined) = reads.join_next().await {
                let items = joined
                    .map_err(|e| PortError::new(format!("audit read failed: {e}"), true))?
                    .map_err(port)?;
                out.extend(items.into_iter().filter(|i| i.ts.as_str() >= from_ts));
            }
        }
        Ok(out)
    }
}
