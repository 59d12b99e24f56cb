//! `churn summary --month`: counted from the audit.

use crate::util::*;

#[test]
fn summary_counts_last_months_outcomes_from_the_audit() {
    let dir = folder(
        SMALL_LIST,
        SMALL_RULES,
        Some("summary_recipients = [\"boss@shop.example\"]\n"),
    );
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    run_json(&["outcome", "C1", "reached-out", "--data", d]);
    run_json(&["outcome", "C2", "won-back", "--value", "1,200", "--data", d]);
    run_json(&["outcome", "C6", "lost", "--reason", "price", "--data", d]);
    run_json(&["outcome", "C3", "lost", "--reason", "price", "--data", d]);
    run_json(&["outcome", "C3", "undo", "--data", d]);
    // The audit's timestamps are now; count the current month.
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let s = run_json(&["summary", "--month", &month, "--data", d]);
    let c = &s["counts"];
    assert_eq!(c["flagged"], 3);
    assert_eq!(c["reached"], 1);
    assert_eq!(c["won_back"], 1);
    assert_eq!(c["recovered_value"], 1200.0);
    assert_eq!(c["lost"], 1, "the undone lost does not count");
    assert_eq!(c["lost_reasons"][0][0], "price");
    assert!(
        s["paragraph"]
            .as_str()
            .unwrap()
            .contains("flagged 3 customers")
    );
    assert_eq!(s["recipients"][0], "boss@shop.example");
    assert!(std::path::Path::new(s["file"].as_str().unwrap()).exists());
    let out = run(&["summary", "--month", "November", "--data", d]);
    assert!(!out.status.success());
}

#[test]
fn summary_adds_a_line_of_backtest_evidence_when_there_is_an_order_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    run_json(&[
        "demo-data",
        "--customers",
        "300",
        "--owners",
        "2",
        "--seed",
        "9",
        "--out",
        d,
        "--orders",
    ]);
    let s = run_json(&["summary", "--month", "2026-10", "--data", d, "--dry-run"]);
    let e = s["evidence"].as_str().unwrap();
    assert!(e.starts_with("Evidence: over the 13 Mondays"), "{e}");
    assert!(s["file"].is_null());
}

#[test]
fn summary_refuses_a_recipient_a_customer_cell_names_and_a_list_it_cannot_read() {
    // docs/SPEC.md §1: canonical addresses, and no list → nothing is sent unchecked.
    for cell in [
        "The Boss <BOSS+orders@shop.example>",
        "\"c5@cust.example, boss@Shop.example\"",
    ] {
        let list = SMALL_LIST.replace("c5@cust.example", cell);
        let dir = folder(
            &list,
            SMALL_RULES,
            Some("summary_recipients = [\"finance@shop.example\", \"boss@shop.example\"]\n"),
        );
        let d = dir.path().to_str().unwrap();
        let out = run(&["summary", "--month", "2026-10", "--data", d]);
        assert!(!out.status.success(), "{cell}");
        let err = stderr(&out);
        assert!(err.contains("recipient 2 is a customer"), "{cell}: {err}");
        assert!(!err.contains("boss@"), "{err}");
        assert!(!dir.path().join("outbox/summary").exists(), "{cell}");
    }
    let dir = folder(
        SMALL_LIST,
        SMALL_RULES,
        Some("summary_recipients = [\"boss@shop.example\"]\n"),
    );
    let d = dir.path().to_str().unwrap();
    std::fs::remove_file(dir.path().join("customers.csv")).unwrap();
    let out = run(&["summary", "--month", "2026-10", "--data", d]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
    assert!(!dir.path().join("outbox/summary").exists());
    // With the list back and no customer among the recipients, it is written.
    std::fs::write(dir.path().join("customers.csv"), SMALL_LIST).unwrap();
    let s = run_json(&["summary", "--month", "2026-10", "--data", d]);
    assert!(std::path::Path::new(s["file"].as_str().unwrap()).exists());
}
