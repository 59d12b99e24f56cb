//! `churn check`: every mistake with its line.

use crate::util::*;

#[test]
fn rules_doc_with_several_mistakes_lists_each_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rules.txt");
    std::fs::write(
        &p,
        "signal overdue\n  measure: overdue_ratio\n  at least 1.2: 10 points\n  at least 1.5: 25 points\n\
         signal mood\n  mesure: support_mood\n  at most -0.5: 25 points\n\
         band churning: at least 75\nband at-risk: at least 80\nband watch: at least 25\n\
         weekly cap: lots\nowner alex: slack\n",
    )
    .unwrap();
    let out = run(&["check", p.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = stdout(&out);
    for line in ["line 4:", "line 6:", "line 10:", "line 11:", "line 12:"] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    let out = run(&["check", p.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["kind"], "rules");
    assert_eq!(j["ok"], false);
    let lines: Vec<u64> = j["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert!(
        lines.windows(2).all(|w| w[0] <= w[1]),
        "in line order: {lines:?}"
    );
    assert!(lines.len() >= 5);
}

#[test]
fn good_rules_pass() {
    let out = run(&["check", repo().join("demo/rules.txt").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn customer_list_bad_rows_name_the_line_where_the_record_starts() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("customers.csv");
    std::fs::write(
        &p,
        "customer_id,name,owner,last_order_date,lifetime_value\n\
         C1,\"Harbor\nBakery\",alex@shop.example,2026-09-01,100\n\
         C2,Maple,alex@shop.example,31/02/2026,100\n\
         ,No Id,alex@shop.example,2026-09-01,100\n\
         C1,Again,alex@shop.example,2026-09-01,100\n\
         C5,Copper,alex@shop.example,2026-09-01,lots\n\
         C6,Fine,alex@shop.example,2026-09-01,100\n\
         C7,Fine,alex@shop.example,2026-09-01,100\n\
         C8,Fine,alex@shop.example,2026-09-01,100\n\
         C9,Fine,alex@shop.example,2026-09-01,100\n\
         C10,Fine,alex@shop.example,2026-09-01,100\n\
         C11,Fine,alex@shop.example,2026-09-01,100\n\
         C12,Fine,alex@shop.example,2026-09-01,100\n\
         C13,Fine,alex@shop.example,2026-09-01,100\n\
         C14,Fine,alex@shop.example,2026-09-01,100\n\
         C15,Fine,alex@shop.example,2026-09-01,100\n\
         C16,Fine,alex@shop.example,2026-09-01,100\n\
         C17,Fine,alex@shop.example,2026-09-01,100\n\
         C18,Fine,alex@shop.example,2026-09-01,100\n\
         C19,Fine,alex@shop.example,2026-09-01,100\n\
         C20,Fine,alex@shop.example,2026-09-01,100\n",
    )
    .unwrap();
    let out = run(&["check", p.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["kind"], "customers");
    let lines: Vec<u64> = j["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    // The quoted newline puts C2 on line 4.
    assert_eq!(lines, vec![4, 5, 6, 7]);
    assert!(
        j["stop"].is_null(),
        "4 bad of 20 is exactly 20%: not a stop"
    );
    let reasons: Vec<&str> = j["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[2].contains("C1"), "{reasons:?}");
}

#[test]
fn customer_list_checked_against_the_rules_measures() {
    let dir = folder(
        "customer_id,name,owner\nC1,A,a@shop.example\n",
        SMALL_RULES,
        None,
    );
    let out = run(&[
        "check",
        dir.path().join("customers.csv").to_str().unwrap(),
        "--rules",
        dir.path().join("rules.txt").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("support_mood"), "{}", stdout(&out));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = run(&["check", "/nonexistent/rules.txt"]);
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with("churn: "), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
}

#[test]
fn email_cells_with_a_display_name_or_several_addresses_warn_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("customers.csv");
    std::fs::write(
        &p,
        "customer_id,name,owner,email\n\
         C1,Harbor,alex@shop.example,orders@harbor.example\n\
         C2,Maple,alex@shop.example,\"\"\"Reyes, Jo\"\" <jo+orders@maple.example>\"\n\
         C3,Copper,alex@shop.example,billing@copper.example; jo@copper.example\n\
         C4,Fine,alex@shop.example,\n",
    )
    .unwrap();
    let out = run(&["check", p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("2 warning(s)"), "{text}");
    assert!(
        text.contains("line 3: the email cell holds a display name"),
        "{text}"
    );
    assert!(
        text.contains("line 4: the email cell holds several addresses"),
        "{text}"
    );
    assert!(
        !text.contains("line 2:") && !text.contains("line 5:"),
        "{text}"
    );
    let out = run(&["check", p.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["ok"], true);
    assert_eq!(j["email_warnings"], 2);
    let lines: Vec<u64> = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4]);
}

/// The documented exit codes (README "Exit codes", docs/SPEC.md §10): 0 clean, 1 warnings only
/// (the run would proceed), 2 usage, 3 errors that stop the run.
#[test]
fn check_exit_codes_separate_warnings_from_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Clean list: 0.
    let clean = dir.path().join("clean.csv");
    std::fs::write(&clean, SMALL_LIST).unwrap();
    let out = run(&["check", clean.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // One unreadable date: the row would be skipped, the run proceeds: 1.
    let skipped = dir.path().join("skipped.csv");
    std::fs::write(
        &skipped,
        SMALL_LIST.replace("c5@cust.example,2026-11-20", "c5@cust.example,soon"),
    )
    .unwrap();
    let out = run(&["check", skipped.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("line 6"), "{}", stdout(&out));
    // No owner column: the run would stop: 3.
    let stopped = dir.path().join("stopped.csv");
    std::fs::write(&stopped, "customer_id,name\nC1,Harbor\n").unwrap();
    let out = run(&["check", stopped.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    // A rules doc with a mistake: 3.
    let rules = dir.path().join("rules.txt");
    std::fs::write(
        &rules,
        SMALL_RULES.replace("weekly cap: 2", "weekly cap: lots"),
    )
    .unwrap();
    let out = run(&["check", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    // A usage error is clap's 2.
    let out = run(&["check", rules.to_str().unwrap(), "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_misspelled_builtin_measure_says_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    std::fs::write(
        &rules,
        SMALL_RULES.replace("overdue_ratio", "overdue_ratoi"),
    )
    .unwrap();
    let out = run(&["check", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("line 2:"), "{text}");
    assert!(text.contains("did you mean `overdue_ratio`?"), "{text}");
}

#[test]
fn a_measure_like_a_misspelled_standard_column_warns_without_a_list() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    std::fs::write(&rules, SMALL_RULES.replace("support_mood", "suport_mood")).unwrap();
    let out = run(&["check", rules.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a warning: {}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("did you mean `support_mood`?"), "{text}");
    let out = run(&["check", rules.to_str().unwrap(), "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["ok"], true);
    assert_eq!(j["warnings"][0]["line"], 5, "{j}");

    // With the list, the list's own headers are the candidates, and the run would stop.
    let list = dir.path().join("customers.csv");
    std::fs::write(&list, SMALL_LIST).unwrap();
    let out = run(&[
        "check",
        list.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("did you mean `support_mood`?"),
        "{}",
        stdout(&out)
    );
}
