//! Outcomes change what the next Monday does (docs/SPEC.md §4–5), each with one audit row.

use crate::util::*;

fn sent_week_one() -> tempfile::TempDir {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    dir
}

fn outcome(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["outcome"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--data", dir.to_str().unwrap()]);
    run_json(&a)
}

fn count(dir: &std::path::Path, action: &str) -> usize {
    audit_rows(dir).iter().filter(|(_, a)| a == action).count()
}

#[test]
fn reached_out_starts_a_pause_and_writes_one_audit_row() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let r = outcome(
        dir.path(),
        &["C3", "reached-out", "--date", "2026-11-20", "--by", "alex"],
    );
    assert_eq!(r["status"], "recorded");
    assert_eq!(r["after"]["last_contact"], "2026-11-20");
    assert_eq!(
        audit_rows(dir.path()),
        vec![("C3".to_string(), "reached_out".to_string())]
    );
    // The same tap twice changes nothing and writes nothing.
    let again = outcome(dir.path(), &["C3", "reached-out", "--date", "2026-11-20"]);
    assert_eq!(again["status"], "already_recorded");
    assert_eq!(audit_rows(dir.path()).len(), 1);
    let w = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--dry-run",
    ]);
    assert_eq!(surfaced(&w, "alex@shop.example"), vec!["C2", "C1"]);
    assert!(!all_surfaced(&w).contains(&"C3".to_string()));
    let alex = |w: &serde_json::Value| {
        w["owners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["owner"] == "alex@shop.example")
            .unwrap()["candidates"]
            .clone()
    };
    assert_eq!(alex(&w), 3, "C3 is inside the pause");
    assert_eq!(w["skipped_paused"], 1);
    // Pause over after 21 days: C3 is a candidate again.
    let w = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-12-11",
        "--dry-run",
    ]);
    assert_eq!(alex(&w), 4);
    assert_eq!(w["skipped_paused"], 0);
}

#[test]
fn won_back_resets_recency_and_pauses() {
    let dir = sent_week_one();
    let r = outcome(
        dir.path(),
        &[
            "C2",
            "won-back",
            "--value",
            "$1,200.00",
            "--date",
            "2026-11-24",
        ],
    );
    assert_eq!(r["notes"]["recovered_value"], 1200.0);
    assert_eq!(count(dir.path(), "won_back"), 1);
    // Recency now counts from the win-back: C2's overdue ratio is small, it scores low.
    let e = run_json(&[
        "explain",
        "C2",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-12-28",
    ]);
    assert_eq!(
        e["breakdown"][0]["detail"]
            .as_str()
            .unwrap()
            .split(':')
            .nth(1)
            .unwrap()
            .trim()
            .split(' ')
            .next()
            .unwrap(),
        "34"
    );
    assert_eq!(e["band"], "watch", "only the sour mood still scores");
    // A newer real order wins over the win-back date.
    let list = SMALL_LIST.replace(
        "C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-09-10",
        "C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-12-01",
    );
    std::fs::write(dir.path().join("customers.csv"), list).unwrap();
    let e = run_json(&[
        "explain",
        "C2",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-12-28",
    ]);
    assert!(
        e["breakdown"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(" 27 days"),
        "{}",
        e["breakdown"][0]["detail"]
    );
}

#[test]
fn lost_never_surfaces_until_a_later_order_reactivates() {
    let dir = sent_week_one();
    let r = outcome(
        dir.path(),
        &[
            "C3",
            "lost",
            "--reason",
            "competitor",
            "--note",
            "went to BigCo",
            "--date",
            "2026-11-24",
        ],
    );
    assert_eq!(r["after"]["status"], "lost");
    assert_eq!(r["notes"]["lost_reason"], "competitor");
    let next = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-30",
    ]);
    assert_eq!(
        surfaced(&next, "alex@shop.example"),
        vec!["C4"],
        "lost C3 is never a candidate"
    );
    // An order after the lost date brings them back (audited `reactivated`), and they score again.
    let list = SMALL_LIST.replace(
        "C3,Copper Deli,alex@shop.example,c3@cust.example,2026-10-01",
        "C3,Copper Deli,alex@shop.example,c3@cust.example,2026-11-25",
    );
    std::fs::write(dir.path().join("customers.csv"), list).unwrap();
    let dry = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2027-01-25",
        "--dry-run",
    ]);
    assert_eq!(dry["reactivated"], serde_json::json!(["C3"]));
    assert_eq!(
        count(dir.path(), "reactivated"),
        0,
        "a dry run writes nothing"
    );
    let real = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2027-01-25",
    ]);
    assert_eq!(real["reactivated"], serde_json::json!(["C3"]));
    assert_eq!(count(dir.path(), "reactivated"), 1);
    let alex = real["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == "alex@shop.example")
        .unwrap();
    // C1, C2, C4, C5 (whose last order is now also late) and the reactivated C3.
    assert_eq!(alex["candidates"], 5, "C3 is a candidate again: {real}");
    let e = run_json(&[
        "explain",
        "C3",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2027-01-25",
    ]);
    assert_eq!(e["status"], "active");
    assert_eq!(e["band"], "churning");
}

#[test]
fn undo_reverts_the_latest_outcome_and_refuses_after_a_later_change() {
    let dir = sent_week_one();
    let d = dir.path();
    outcome(
        d,
        &["C1", "lost", "--reason", "price", "--date", "2026-11-24"],
    );
    let u = outcome(d, &["C1", "undo", "--by", "sam"]);
    assert_eq!(u["action"], "undo");
    assert_eq!(u["after"]["status"], "active");
    assert_eq!(count(d, "undo"), 1);
    let next = run_json(&[
        "weekly",
        "--data",
        d.to_str().unwrap(),
        "--as-of",
        "2026-12-21",
        "--dry-run",
    ]);
    assert!(
        all_surfaced(&next).contains(&"C1".to_string()),
        "undone lost customer is a candidate again: {next}"
    );
    // Nothing left to undo.
    let out = run(&["outcome", "C1", "undo", "--data", d.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no outcome to undo"),
        "{}",
        stderr(&out)
    );

    // Lost, then reactivated by an order: undoing the lost would overwrite the reactivation.
    outcome(
        d,
        &["C2", "lost", "--reason", "closed", "--date", "2026-11-24"],
    );
    let list = SMALL_LIST.replace(
        "C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-09-10",
        "C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-11-26",
    );
    std::fs::write(d.join("customers.csv"), list).unwrap();
    run_json(&[
        "weekly",
        "--data",
        d.to_str().unwrap(),
        "--as-of",
        "2026-11-30",
    ]);
    let rows = audit_rows(d).len();
    let out = run(&["outcome", "C2", "undo", "--data", d.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("changed afterwards"),
        "{}",
        stderr(&out)
    );
    assert_eq!(audit_rows(d).len(), rows, "a refused undo writes nothing");
}

#[test]
fn bad_outcome_input_is_refused_clearly() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    let out = run(&["outcome", "C9", "reached-out", "--data", d]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no customer with id `C9`"),
        "{}",
        stderr(&out)
    );
    let out = run(&["outcome", "C1", "lost", "--reason", "weather", "--data", d]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("price, service, competitor, closed, other"));
    let out = run(&["outcome", "C1", "won-back", "--value", "lots", "--data", d]);
    assert!(!out.status.success());
    // The recovered value is bounded: 0 to 1,000,000,000, at most two decimals.
    for bad in ["1000000000.01", "12.345", "-5", "1e15"] {
        let value = format!("--value={bad}");
        let out = run(&["outcome", "C1", "won-back", &value, "--data", d]);
        assert!(!out.status.success(), "{bad}");
        assert!(
            stderr(&out).contains("from 0 to 1,000,000,000 with at most two decimals"),
            "{bad}: {}",
            stderr(&out)
        );
    }
    assert!(!dir.path().join("churn.db").exists() || audit_rows(dir.path()).is_empty());
    let r = outcome(
        dir.path(),
        &["C1", "won-back", "--value", "1,000,000,000", "--by", "sam"],
    );
    assert_eq!(r["notes"]["recovered_value"], 1e9);
}
