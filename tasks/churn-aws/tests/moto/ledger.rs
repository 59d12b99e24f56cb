use churn_aws::{DynamoDbSendLedger, LedgerError};
use churn_core::model::{Band, ListItem};

use crate::support::{clients, create_tables};

pub fn list_item(id: &str, score: u32) -> ListItem {
    ListItem {
        customer_id: id.into(),
        name: format!("Shop {id}"),
        band: Band::AtRisk,
        score,
        reason: "Usually orders monthly; nothing for 64 days.".into(),
        breakdown: vec![],
        lifetime_value: Some(1200.0),
        rules_version: "rv1".into(),
    }
}

#[tokio::test]
async fn ledger_mark_sent_once_then_recorded_only_from_sent() {
    let clients = clients().await;
    let tables = create_tables(&clients).await;
    let ledger = DynamoDbSendLedger::new(&clients, &tables);
    let list = vec![list_item("C1", 70), list_item("C2", 60)];
    let (week, owner) = ("2026-W48", "sam@shop.example");

    assert!(ledger.get(week).await.unwrap().is_empty());
    let err = ledger.mark_recorded(week, owner, "t0").await.unwrap_err();
    assert!(
        matches!(err, LedgerError::NotSent { .. }),
        "nothing to record yet: {err:?}"
    );

    ledger
        .mark_sent(
            week,
            owner,
            "slack",
            &list,
            "rv1",
            "run-1",
            "2026-11-23T08:00:00Z",
        )
        .await
        .unwrap();
    let err = ledger
        .mark_sent(
            week,
            owner,
            "email",
            &list,
            "rv1",
            "run-2",
            "2026-11-23T08:05:00Z",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::AlreadyExists { .. }), "{err:?}");
    assert!(!err.is_retryable());
    ledger
        .mark_sent(
            week,
            "kim@shop.example",
            "email",
            &list[..1],
            "rv1",
            "run-1",
            "t",
        )
        .await
        .unwrap();

    let entries = ledger.get(week).await.unwrap();
    assert_eq!(entries.len(), 2);
    let e = &entries[owner];
    assert!(!e.recorded);
    assert_eq!(e.via, "slack", "the duplicate did not overwrite");
    assert_eq!(e.list, list);
    assert_eq!(e.run_id, "run-1");

    ledger
        .mark_recorded(week, owner, "2026-11-23T08:01:00Z")
        .await
        .unwrap();
    let err = ledger.mark_recorded(week, owner, "t2").await.unwrap_err();
    assert!(matches!(err, LedgerError::NotSent { .. }), "{err:?}");
    let e = &ledger.get(week).await.unwrap()[owner];
    assert!(e.recorded);
    assert_eq!(e.recorded_at.as_deref(), Some("2026-11-23T08:01:00Z"));
    assert!(ledger.get("2026-W49").await.unwrap().is_empty());
}
