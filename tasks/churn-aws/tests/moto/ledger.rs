use churn_aws::{DynamoDbSendLedger, LedgerError};
use churn_core::model::{Band, ListItem};
use churn_core::run::{Claim, ClaimRequest, LedgerStatus, SentList, Via};

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

fn claim<'a>(week: &'a str, owner: &'a str, run_id: &'a str, now_ms: i64) -> ClaimRequest<'a> {
    ClaimRequest {
        week,
        owner,
        run_id,
        now_ms,
        lease_until_ms: now_ms + 300_000,
    }
}

#[tokio::test]
async fn ledger_claims_then_sent_once_then_recorded_only_from_sent() {
    let clients = clients().await;
    let tables = create_tables(&clients).await;
    let ledger = DynamoDbSendLedger::new(&clients, &tables);
    let list = vec![list_item("C1", 70), list_item("C2", 60)];
    let (week, owner) = ("2026-W48", "sam@shop.example");
    let sent = |via| SentList {
        via,
        list: &list,
        rules_version: "rv1",
        held_out: &[],
    };

    assert!(ledger.get(week).await.unwrap().is_empty());
    let err = ledger.mark_recorded(week, owner, "t0").await.unwrap_err();
    assert!(
        matches!(err, LedgerError::NotSent { .. }),
        "nothing to record yet: {err:?}"
    );
    // Nothing can be marked sent without a claim.
    assert!(
        !ledger
            .mark_sent(week, owner, "run-1", &sent(Via::Slack), "t")
            .await
            .unwrap()
    );

    // run-1 claims; run-2 finds the claim alive; run-1 prepares and marks sent.
    let now = 1_000_000;
    assert_eq!(
        ledger
            .claim(&claim(week, owner, "run-1", now))
            .await
            .unwrap(),
        Claim::Claimed { previous: None }
    );
    assert_eq!(
        ledger
            .claim(&claim(week, owner, "run-2", now + 1))
            .await
            .unwrap(),
        Claim::Busy {
            run_id: "run-1".into()
        }
    );
    assert!(
        !ledger
            .prepare(week, owner, "run-2", &sent(Via::Email))
            .await
            .unwrap()
    );
    assert!(
        ledger
            .prepare(week, owner, "run-1", &sent(Via::Slack))
            .await
            .unwrap()
    );
    // The same run, retried after a crash, takes its own claim over with the prepared list.
    match ledger
        .claim(&claim(week, owner, "run-1", now + 2))
        .await
        .unwrap()
    {
        Claim::Claimed { previous: Some(p) } => {
            assert_eq!(p.status, LedgerStatus::Sending);
            assert_eq!(p.list, list);
            assert_eq!(p.via, Via::Slack);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        ledger
            .mark_sent(
                week,
                owner,
                "run-1",
                &sent(Via::Slack),
                "2026-11-23T08:00:00Z"
            )
            .await
            .unwrap()
    );
    match ledger
        .claim(&claim(week, owner, "run-2", now + 3))
        .await
        .unwrap()
    {
        Claim::Done(e) => assert_eq!(e.status, LedgerStatus::Sent),
        other => panic!("{other:?}"),
    }
    assert!(
        !ledger
            .mark_sent(week, owner, "run-2", &sent(Via::Email), "t")
            .await
            .unwrap()
    );

    // A lapsed claim is taken over by another run; a released one disappears.
    let kim = "kim@shop.example";
    ledger.claim(&claim(week, kim, "run-1", now)).await.unwrap();
    ledger.abandon(week, kim, "run-1").await.unwrap();
    assert!(matches!(
        ledger
            .claim(&claim(week, kim, "run-3", now + 1))
            .await
            .unwrap(),
        Claim::Claimed { previous: Some(_) }
    ));
    ledger.release(week, kim, "run-1").await.unwrap();
    assert!(
        ledger.entry(week, kim).await.unwrap().is_some(),
        "not run-1's claim any more"
    );
    ledger.release(week, kim, "run-3").await.unwrap();
    assert!(ledger.entry(week, kim).await.unwrap().is_none());

    let entries = ledger.get(week).await.unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[owner];
    assert_eq!(e.status, LedgerStatus::Sent);
    assert_eq!(e.via, Via::Slack, "the other run did not overwrite");
    assert_eq!(e.list, list);
    assert_eq!(e.run_id, "run-1");
    assert_eq!(e.lease_until_ms, None);

    ledger
        .mark_recorded(week, owner, "2026-11-23T08:01:00Z")
        .await
        .unwrap();
    let err = ledger.mark_recorded(week, owner, "t2").await.unwrap_err();
    assert!(matches!(err, LedgerError::NotSent { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let e = &ledger.get(week).await.unwrap()[owner];
    assert_eq!(e.status, LedgerStatus::Recorded);
    assert!(ledger.get("2026-W49").await.unwrap().is_empty());
}
