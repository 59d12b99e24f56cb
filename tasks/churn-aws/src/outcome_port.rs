//! `DynamoDbStateStore` as the outcome handler's [`OutcomeStore`]: consistent reads, and
//! [`DynamoDbStateStore::apply`]'s conditional transaction (a failed condition is
//! [`Applied::AlreadyRecorded`]; nothing was written).

use std::sync::{Mutex, OnceLock};

use churn_core::outcome::state::{AuditItem, Change, CustomerState};
use churn_core::ports::{Applied, OutcomeStore, PortError};

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
