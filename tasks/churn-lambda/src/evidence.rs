//! The monthly summary's evidence line on AWS (docs/SPEC.md §9, §12): the backtest of the last 13
//! replayable Mondays over the order history kept in `cp-orders`, with the rules in force and the
//! list mirror — the same `quarter_evidence` the laptop's summary calls.

use std::io::Cursor;

use churn_aws::{DynamoDbOrderHistory, S3ObjectStore};
use churn_core::list::customers::ReadOptions;
use churn_core::reports::backtest::read_list;
use churn_core::reports::summary::quarter_evidence;
use churn_core::rules::parse_rules;
use jiff::tz::TimeZone;

use crate::app::App;

/// The evidence line, or `None` (logged) when there is no order table, too short a history, or
/// anything cannot be read: the month's counts still go out.
pub async fn summary_evidence(
    app: &App,
    date_order: churn_core::list::values::DateOrder,
    tz: &TimeZone,
) -> Option<String> {
    let orders_table = std::env::var("ORDERS_TABLE")
        .ok()
        .filter(|v| !v.is_empty())?;
    let objects = S3ObjectStore::new(&app.clients);
    let result: Result<Option<String>, String> = async {
        let rules_doc = objects
            .get_text(&app.buckets.rules, "rules.txt")
            .await
            .map_err(|e| e.to_string())?;
        let rules = parse_rules(&rules_doc.text)
            .map_err(|e| format!("the rules in force have {} mistake(s)", e.len()))?;
        let list_text = objects
            .get_text(&app.buckets.list, "customers.csv")
            .await
            .map_err(|e| e.to_string())?;
        let read = ReadOptions {
            date_order,
            tz: tz.clone(),
        };
        let (list, _bad) = read_list(Cursor::new(list_text.text.into_bytes()), read, &rules)
            .map_err(|e| e.to_string())?;
        let orders =
            DynamoDbOrderHistory::new(&app.clients.dynamodb, &orders_table, &app.tables.audit)
                .scan_all()
                .await
                .map_err(|e| e.to_string())?;
        tracing::info!(
            orders = orders.len(),
            customers = list.len(),
            "backtest evidence inputs read"
        );
        Ok(quarter_evidence(&orders, Some(&list), &rules))
    }
    .await;
    match result {
        Ok(line) => line,
        Err(e) => {
            tracing::warn!(error = %e, "the backtest evidence could not be computed; left out");
            None
        }
    }
}
