use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use churn_aws::{
    AuditClock, AwsClients, Conflict, DynamoDbStateStore, ScoreWrite, StateError, TableNames,
};
use churn_core::model::Band;
use churn_core::outcome::state::{
    LostReason, Outcome, Status, UndoRefused, apply_outcome, plan_undo, reactivate,
};
use jiff::civil::date;
use serde_json::{Map, Value};

use crate::ledger::list_item;
use crate::support::{clients, create_tables};

async fn setup() -> (AwsClients, TableNames, DynamoDbStateStore) {
    let clients = clients().await;
    let tables = create_tables(&clients).await;
    let store = DynamoDbStateStore::new(&clients, &tables);
    (clients, tables, store)
}

/// The raw stored attribute, for checks the domain type cannot show (`updated_at`).
async fn raw(clients: &AwsClients, table: &str, id: &str, attr: &str) -> Option<String> {
    let item = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key("customer_id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    match item.get(attr)? {
        AttributeValue::S(s) | AttributeValue::N(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    }
}

fn band_of(score: u32) -> Band {
    match score {
        0..=24 => Band::Steady,
        25..=49 => Band::Watch,
        50..=74 => Band::AtRisk,
        _ => Band::Churning,
    }
}

fn scores(n: usize, bump: &[usize]) -> Vec<ScoreWrite> {
    (0..n)
        .map(|i| {
            let score = (i % 100) as u32 + if bump.contains(&i) { 1 } else { 0 };
            ScoreWrite {
                customer_id: format!("C{i:04}"),
                score,
                band: band_of(score),
                owner: format!("owner{}@shop.example", i % 3),
            }
        })
        .collect()
}

#[tokio::test]
async fn scan_prior_reads_every_page_and_only_changed_scores_are_written() {
    let (clients, tables, store) = setup().await;
    let store = store.with_scan(3, Some(40));
    let prior = store.scan_prior().await.unwrap();
    assert!(prior.is_empty());

    let changes = prior.changed(scores(300, &[]));
    assert_eq!((changes.puts.len(), changes.updates.len()), (300, 0));
    let t1 = "2026-11-16T06:00:00.000000000Z";
    assert_eq!(store.write_scores(&changes, t1).await.unwrap(), 300);

    // Give two customers state that matters: reached out, and lost.
    let today = date(2026, 11, 18);
    let c5 = store.get_state("C0005").await.unwrap();
    let c = apply_outcome(&c5, &Outcome::ReachedOut, today);
    store
        .apply(&c, "sam", "2026-11-18T09:00:00.000000000Z")
        .await
        .unwrap();
    let c6 = store.get_state("C0006").await.unwrap();
    let lost = Outcome::Lost {
        reason: LostReason::Competitor,
        note: None,
    };
    let c = apply_outcome(&c6, &lost, today);
    store
        .apply(&c, "sam", "2026-11-18T09:00:01.000000000Z")
        .await
        .unwrap();

    let prior = store.scan_prior().await.unwrap();
    assert_eq!(prior.len(), 300);
    assert!(
        prior.pages() >= 300 / 40,
        "forced paging: {} pages",
        prior.pages()
    );
    assert_eq!(prior.states().len(), 2);
    assert_eq!(prior.states()["C0005"].last_contact, Some(today));
    assert_eq!(prior.states()["C0006"].status, Status::Lost);
    let s = prior.stored("C0010").unwrap();
    assert_eq!(
        (s.score, s.band, s.owner),
        (Some(10), Some(Band::Steady), Some("owner1@shop.example"))
    );

    // Next week: C0010 (score only) and C0005 (has state) change; nobody else does.
    let changes = prior.changed(scores(300, &[10, 5]));
    assert_eq!(changes.unchanged, 298);
    assert_eq!(
        changes
            .puts
            .iter()
            .map(|w| w.customer_id.as_str())
            .collect::<Vec<_>>(),
        ["C0010"]
    );
    assert_eq!(
        changes
            .updates
            .iter()
            .map(|w| w.customer_id.as_str())
            .collect::<Vec<_>>(),
        ["C0005"]
    );
    let t2 = "2026-11-23T06:00:00.000000000Z";
    assert_eq!(store.write_scores(&changes, t2).await.unwrap(), 2);

    let st = &tables.state;
    assert_eq!(
        raw(&clients, st, "C0010", "updated_at").await.as_deref(),
        Some(t2)
    );
    assert_eq!(
        raw(&clients, st, "C0010", "score").await.as_deref(),
        Some("11")
    );
    assert_eq!(
        raw(&clients, st, "C0011", "updated_at").await.as_deref(),
        Some(t1),
        "unchanged: not written"
    );
    assert_eq!(
        raw(&clients, st, "C0006", "updated_at").await.as_deref(),
        Some("2026-11-18T09:00:01.000000000Z")
    );
    // The update kept C0005's other state.
    let c5 = store.get_state("C0005").await.unwrap();
    assert_eq!((c5.score, c5.last_contact), (Some(6), Some(today)));
    assert_eq!(
        raw(&clients, st, "C0005", "updated_at").await.as_deref(),
        Some(t2)
    );
}

#[tokio::test]
async fn get_many_reads_more_than_one_batch() {
    let (_, _, store) = setup().await;
    let prior = store.scan_prior().await.unwrap();
    store
        .write_scores(&prior.changed(scores(230, &[])), "t1")
        .await
        .unwrap();
    let mut ids: Vec<String> = (0..250).map(|i| format!("C{i:04}")).collect();
    ids.push("C0001".into()); // a duplicate is fine
    let got = store.get_many(&ids).await.unwrap();
    assert_eq!(got.len(), 250);
    assert_eq!(got["C0150"].score, Some(50));
    assert_eq!(got["C0150"].band, Some(Band::AtRisk));
    assert_eq!(got["C0240"].score, None, "not stored: a fresh state");
    assert_eq!(got["C0240"].customer_id, "C0240");
}

#[tokio::test]
async fn apply_is_atomic_when_the_audit_put_fails() {
    let (_, _, store) = setup().await;
    let today = date(2026, 11, 23);
    let ts = "2026-11-23T10:00:00.000000001Z";
    let st = store.get_state("C1").await.unwrap();
    let reached = apply_outcome(&st, &Outcome::ReachedOut, today);
    store.apply(&reached, "sam", ts).await.unwrap();

    // A different change with the same ts: the audit condition fails, the state stays.
    let st = store.get_state("C1").await.unwrap();
    let lost = apply_outcome(
        &st,
        &Outcome::Lost {
            reason: LostReason::Price,
            note: Some("too dear".into()),
        },
        today,
    );
    let err = store.apply(&lost, "kim", ts).await.unwrap_err();
    assert!(
        matches!(
            err,
            StateError::AlreadyRecorded {
                conflict: Conflict::Audit,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let after = store.get_state("C1").await.unwrap();
    assert_eq!(after.status, Status::Active);
    assert_eq!(after.lost_date, None);
    assert_eq!(after.last_contact, Some(today));
    let history = store.audit_for("C1").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, "reached_out");
    assert_eq!(history[0].by_user, "sam");

    // The first change again, stale now (last_contact is set): the state condition fails.
    let err = store
        .apply(&reached, "sam", "2026-11-23T10:00:00.000000002Z")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::AlreadyRecorded {
                conflict: Conflict::State,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.audit_for("C1").await.unwrap().len(), 1);
}

#[tokio::test]
async fn undo_plans_from_audit_for_and_refuses_after_a_later_change() {
    let (_, _, store) = setup().await;
    let mut clock = AuditClock::default();
    let st = store.get_state("C7").await.unwrap();
    let won = apply_outcome(
        &st,
        &Outcome::WonBack { value: Some(800.0) },
        date(2026, 11, 20),
    );
    store.apply(&won, "sam", &clock.tick()).await.unwrap();

    let st = store.get_state("C7").await.unwrap();
    assert_eq!(st.won_back_date, Some(date(2026, 11, 20)));
    let history = store.audit_for("C7").await.unwrap();
    let undo = plan_undo(&st, &history).unwrap();
    store.apply(&undo, "sam", &clock.tick()).await.unwrap();

    let st = store.get_state("C7").await.unwrap();
    assert_eq!(st.won_back_date, None);
    let history = store.audit_for("C7").await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|i| i.action.as_str())
            .collect::<Vec<_>>(),
        ["won_back", "undo"]
    );
    assert_eq!(
        history[1].notes["undoes"],
        Value::from(history[0].ts.clone())
    );
    assert_eq!(history[0].notes["recovered_value"], Value::from(800.0));
    assert!(matches!(
        plan_undo(&st, &history),
        Err(UndoRefused::NothingToUndo(_))
    ));

    // Lost, then reactivated by an order: undoing the lost is refused.
    let lost = apply_outcome(
        &st,
        &Outcome::Lost {
            reason: LostReason::Closed,
            note: None,
        },
        date(2026, 11, 21),
    );
    store.apply(&lost, "sam", &clock.tick()).await.unwrap();
    let st = store.get_state("C7").await.unwrap();
    store
        .apply(&reactivate(&st, date(2026, 11, 22)), "churn", &clock.tick())
        .await
        .unwrap();
    let st = store.get_state("C7").await.unwrap();
    let err = plan_undo(&st, &store.audit_for("C7").await.unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("status was changed afterwards"),
        "{err}"
    );
}

#[tokio::test]
async fn the_same_click_from_twenty_tasks_is_recorded_once() {
    let (_, _, store) = setup().await;
    let store = Arc::new(store);
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            // Every task reads the state first, then all write at once.
            let st = store.get_state("C42").await.unwrap();
            let change = apply_outcome(&st, &Outcome::ReachedOut, date(2026, 11, 23));
            barrier.wait().await;
            store
                .apply(&change, "sam", &format!("2026-11-23T10:00:00.{i:09}Z"))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StateError::AlreadyRecorded { customer_id, .. }) => assert_eq!(customer_id, "C42"),
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one click is recorded");
    assert_eq!(store.audit_for("C42").await.unwrap().len(), 1);
    assert_eq!(
        store.get_state("C42").await.unwrap().last_contact,
        Some(date(2026, 11, 23))
    );
}

#[tokio::test]
async fn record_surfaced_is_idempotent_and_audit_is_readable_by_time() {
    let (_, _, store) = setup().await;
    let as_of = date(2026, 11, 23);
    // C2 was contacted before it was surfaced.
    let st = store.get_state("C2").await.unwrap();
    let reached = apply_outcome(&st, &Outcome::ReachedOut, date(2026, 11, 10));
    store
        .apply(&reached, "sam", "2026-11-10T09:00:00.000000000Z")
        .await
        .unwrap();

    let list = vec![
        list_item("C1", 80),
        list_item("C2", 66),
        list_item("C3", 51),
    ];
    let mut clock = AuditClock::default();
    let n = store
        .record_surfaced(
            "2026-W48",
            "sam@shop.example",
            "slack",
            as_of,
            &list,
            "churn",
            &mut clock,
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    let again = store
        .record_surfaced(
            "2026-W48",
            "sam@shop.example",
            "slack",
            as_of,
            &list,
            "churn",
            &mut clock,
        )
        .await
        .unwrap();
    assert_eq!(again, 0, "a rerun records nothing twice");

    let c2 = store.get_state("C2").await.unwrap();
    assert_eq!(c2.surfaced_date, Some(as_of));
    assert_eq!((c2.score, c2.band), (Some(66), Some(Band::AtRisk)));
    assert_eq!(c2.owner.as_deref(), Some("sam@shop.example"));
    assert_eq!(c2.rules_version.as_deref(), Some("rv1"));
    assert_eq!(
        c2.last_contact,
        Some(date(2026, 11, 10)),
        "other state kept"
    );
    let history = store.audit_for("C2").await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|i| i.action.as_str())
            .collect::<Vec<_>>(),
        ["reached_out", "surfaced"]
    );
    let surfaced = &history[1];
    assert_eq!(surfaced.notes["week"], "2026-W48");
    assert_eq!(surfaced.notes["via"], "slack");
    assert_eq!(surfaced.before["surfaced_date"], Value::Null);
    assert_eq!(surfaced.after["surfaced_date"], "2026-11-23");
    assert_eq!(surfaced.after["score"], 66);

    // The run-level item, once per ts.
    let mut notes = Map::new();
    notes.insert("changed".into(), Value::from(3));
    let ts = "2026-11-23T06:00:00.000000000Z";
    store
        .audit_run("2026-W48", "score_refresh", &notes, ts)
        .await
        .unwrap();
    let err = store
        .audit_run("2026-W48", "score_refresh", &notes, ts)
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::AlreadyRecorded { .. }), "{err:?}");

    // The monthly window: [from, to), in ts order.
    let november = store
        .audit_between("2026-11-01T00:00:00Z", "2026-11-23T23:00:00Z")
        .await
        .unwrap();
    assert_eq!(
        november
            .iter()
            .map(|i| (i.customer_id.as_str(), i.action.as_str()))
            .collect::<Vec<_>>(),
        [("C2", "reached_out"), ("run:2026-W48", "score_refresh")]
    );
    let all = store
        .audit_between("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].ts <= w[1].ts));
}

#[tokio::test]
async fn record_held_out_audits_once_and_leaves_the_contact_fields_alone() {
    let (clients, tables, store) = setup().await;
    let as_of = date(2026, 11, 23);
    let held = vec![churn_core::run::holdout::HeldOut {
        customer_id: "H1".into(),
        band: Band::Churning,
        score: 81,
    }];
    let mut clock = AuditClock::default();
    let n = store
        .record_held_out("2026-W48", as_of, "rv1", &held, "churn", &mut clock)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let again = store
        .record_held_out("2026-W48", as_of, "rv1", &held, "churn", &mut clock)
        .await
        .unwrap();
    assert_eq!(again, 0, "a repeated Record writes nothing twice");
    let st = store.get_state("H1").await.unwrap();
    assert_eq!(
        (st.surfaced_date, st.last_contact, st.won_back_date),
        (None, None, None),
        "a held-out customer is not contacted"
    );
    assert_eq!(
        raw(&clients, &tables.state, "H1", "held_out_week")
            .await
            .as_deref(),
        Some("2026-W48")
    );
    let audit = store.audit_for("H1").await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "held_out");
    assert!(audit[0].before.is_empty() && audit[0].after.is_empty());
    assert_eq!(audit[0].notes["week"], "2026-W48");
    assert_eq!(audit[0].notes["as_of"], "2026-11-23");
    assert_eq!(audit[0].notes["band"], "churning");
    assert_eq!(audit[0].notes["score"], 81);
    // Another week is a new decision.
    let n = store
        .record_held_out(
            "2026-W49",
            date(2026, 11, 30),
            "rv1",
            &held,
            "churn",
            &mut clock,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
}
