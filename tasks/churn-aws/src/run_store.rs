//! `DynamoDbRunStore`: `cp-runs` and `cp-state` as the Monday engine's send ledger and customer
//! state (`churn_core::ports::{SendLedger, CustomerStates}`).

use churn_core::outcome::state::CustomerState;
use churn_core::ports::{CustomerStates, PortError, SendLedger};
use churn_core::run::{Claim, ClaimRequest, LedgerEntry, SentList};
use jiff::civil::Date;
use rustc_hash::FxHashMap;

use crate::clock::AuditClock;
use crate::ledger::{DynamoDbSendLedger, LedgerError};
use crate::state::{DynamoDbStateStore, StateError};

/// The send ledger and customer state on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoDbRunStore {
    pub ledger: DynamoDbSendLedger,
    pub state: DynamoDbStateStore,
}

fn ledger_port(e: LedgerError) -> PortError {
    PortError::new(e.to_string(), e.is_retryable())
}

fn state_port(e: StateError) -> PortError {
    PortError::new(e.to_string(), e.is_retryable())
}

impl SendLedger for DynamoDbRunStore {
    async fn entries(&self, week: &str) -> Result<FxHashMap<String, LedgerEntry>, PortError> {
        self.ledger.get(week).await.map_err(ledger_port)
    }

    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Claim, PortError> {
        self.ledger.claim(request).await.map_err(ledger_port)
    }

    async fn prepare(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        list: &SentList<'_>,
    ) -> Result<bool, PortError> {
        self.ledger
            .prepare(week, owner, run_id, list)
            .await
            .map_err(ledger_port)
    }

    async fn mark_sent(
        &self,
        week: &str,
        owner: &str,
        run_id: &str,
        list: &SentList<'_>,
    ) -> Result<bool, PortError> {
        let at = AuditClock::default().now_string();
        self.ledger
            .mark_sent(week, owner, run_id, list, &at)
            .await
            .map_err(ledger_port)
    }

    async fn release(&self, week: &str, owner: &str, run_id: &str) -> Result<(), PortError> {
        self.ledger
            .release(week, owner, run_id)
            .await
            .map_err(ledger_port)
    }

    async fn abandon(&self, week: &str, owner: &str, run_id: &str) -> Result<(), PortError> {
        self.ledger
            .abandon(week, owner, run_id)
            .await
            .map_err(ledger_port)
    }

    async fn record(
        &self,
        week: &str,
        owner: &str,
        as_of: Date,
        by_user: &str,
    ) -> Result<usize, PortError> {
        let Some(entry) = self.ledger.entry(week, owner).await.map_err(ledger_port)? else {
            return Ok(0);
        };
        if entry.status != churn_core::run::LedgerStatus::Sent {
            return Ok(0);
        }
        let mut clock = AuditClock::default();
        let n = self
            .state
            .record_surfaced(
                week,
                owner,
                entry.via.as_str(),
                as_of,
                &entry.list,
                by_user,
                &mut clock,
            )
            .await
            .map_err(state_port)?;
        self.state
            .record_held_out(
                week,
                as_of,
                &entry.rules_version,
                &entry.held_out,
                by_user,
                &mut clock,
            )
            .await
            .map_err(state_port)?;
        match self
            .ledger
            .mark_recorded(week, owner, &clock.now_string())
            .await
        {
            // A concurrent Record got there first: the same names, recorded once.
            Ok(()) | Err(LedgerError::NotSent { .. }) => Ok(n),
            Err(e) => Err(ledger_port(e)),
        }
    }
}

impl CustomerStates for DynamoDbRunStore {
    async fn fresh(&self, ids: &[&str]) -> Result<FxHashMap<String, CustomerState>, PortError> {
        self.state.get_many(ids).await.map_err(state_port)
    }
}
