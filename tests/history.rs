//! Score history (docs/SPEC.md §10): every weekly run keeps each customer's week, score, band and
//! rules version; `explain` shows it; list rows say how the score moved; and the scores go into
//! the list's own `churn_score`, `churn_band`, `churn_reason` columns when it has them.

use crate::util::*;

fn history(dir: &str, id: &str) -> Vec<serde_json::Value> {
    let e = run_json(&["explain", id, "--data", dir]);
    e["history"].as_array().unwrap().clone()
}

#[test]
fn three_weekly_runs_of_the_demo_give_three_history_entries() {
    let dir = demo_copy();
    let d = dir.path().to_str().unwrap();
    for monday in ["2026-11-23", "2026-11-30", "2026-12-07"] {
        run_json(&["weekly", "--data", d, "--as-of", monday]);
    }
    let h = history(d, "C0000001");
    let weeks: Vec<&str> = h.iter().map(|e| e["week"].as_str().unwrap()).collect();
    assert_eq!(weeks, ["2026-W48", "2026-W49", "2026-W50"], "oldest first");
    for e in &h {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["band", "rules_version", "score", "week"], "{e}");
        assert!(e["score"].is_u64() && e["rules_version"].as_str().unwrap().len() > 4);
    }
    // The same week again replaces its entry; a dry run of the next week writes none.
    run_json(&["weekly", "--data", d, "--as-of", "2026-12-08"]);
    run_json(&["weekly", "--data", d, "--as-of", "2026-12-14", "--dry-run"]);
    assert_eq!(history(d, "C0000001").len(), 3);
    // The text form draws the trend.
    let out = run(&["explain", "C0000001", "--data", d]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("History: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("(2026-W48 → 2026-W50)"), "{line}");
    assert_eq!(
        line.trim_start_matches("History: ")
            .split(' ')
            .next()
            .unwrap()
            .chars()
            .count(),
        3,
        "{line}"
    );
}

#[test]
fn a_rerun_of_the_week_replaces_the_entry_with_the_new_score() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    assert_eq!(history(d, "C5")[0]["score"], 0);
    // C5's mood sours; the week is run again.
    let sour = SMALL_LIST.replace(
        "C5,Cedar Salon,alex@shop.example,c5@cust.example,2026-11-20,30,0.5,50",
        "C5,Cedar Salon,alex@shop.example,c5@cust.example,2026-11-20,30,-0.9,50",
    );
    std::fs::write(dir.path().join("customers.csv"), sour).unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-24"]);
    let h = history(d, "C5");
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["score"], 30);
    assert_eq!(h[0]["band"], "watch");
}

#[test]
fn a_dry_run_keeps_no_history_and_explain_before_any_run_has_none() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    assert_eq!(history(d, "C1"), Vec::<serde_json::Value>::new());
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23", "--dry-run"]);
    assert!(!dir.path().join("churn.db").exists());
    assert!(history(d, "C1").is_empty());
    let text = stdout(&run(&["explain", "C1", "--data", d]));
    assert!(!text.contains("History:"), "{text}");
}

#[test]
fn list_rows_say_how_the_score_moved() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    let first = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    assert_eq!(surfaced(&first, "alex@shop.example"), ["C2", "C1"]);
    // Week 1 has no history before it: no trend.
    let w48 = std::fs::read_to_string(
        dir.path()
            .join("outbox/2026-W48/alex@shop.example.slack.1.json"),
    )
    .unwrap();
    assert!(
        !w48.contains(" in 1 week") && !w48.contains("weeks)"),
        "{w48}"
    );
    // A week later C2 and C1 are paused; C3 (70 → 90) and C4 (60 → 60) come up.
    let second = run_json(&["weekly", "--data", d, "--as-of", "2026-11-30"]);
    assert_eq!(surfaced(&second, "alex@shop.example"), ["C3", "C4"]);
    let msg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join("outbox/2026-W49/alex@shop.example.slack.1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let sections: Vec<&str> = msg["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert!(
        sections[0].starts_with("Copper Deli — churning · score 90 (up 20 in 1 week)\n"),
        "{sections:?}"
    );
    assert!(
        sections[1].starts_with("Sunny Books — at-risk · score 60 (no change in 1 week)\n"),
        "{sections:?}"
    );
}

#[test]
fn an_emailed_row_says_how_the_score_moved() {
    let rules = SMALL_RULES.replace("owner alex@shop.example: slack U0123ABCD\n", "");
    let dir = folder(SMALL_LIST, &rules, None);
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    // Two weeks later (a missed Monday counts as a week).
    run_json(&["weekly", "--data", d, "--as-of", "2026-12-07"]);
    let outbox = dir.path().join("outbox/2026-W50");
    let text = std::fs::read_to_string(outbox.join("alex@shop.example.email.txt")).unwrap();
    assert!(
        text.contains("Copper Deli — churning · score 90 (up 20 in 2 weeks)"),
        "{text}"
    );
    let html = std::fs::read_to_string(outbox.join("alex@shop.example.email.html")).unwrap();
    assert!(html.contains(">up 20 in 2 weeks</span>"), "{html}");
}

const SCORED_LIST: &str = "\
customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value,Churn Score,churn_band,churn_reason,notes
C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-09-01,30,-0.8,500,,,,\"keep, \"\"this\"\"\"
C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-09-10,30,-0.6,900,,,old reason,
C3,Copper Deli,alex@shop.example,c3@cust.example,2026-10-01,30,-0.55,100,1,steady,,
C5,Cedar Salon,alex@shop.example,c5@cust.example,2026-11-20,30,0.5,50,0,steady,stale,\"two
lines\"
C6,Willow Yoga,sam@shop.example,c6@cust.example,2026-09-15,30,,,,,,
";

/// The `Churn Score`, `churn_band` and `churn_reason` cells of customer `id`.
fn cells(csv: &str, id: &str) -> Vec<String> {
    let c = churn_core::list::csv_cells::CsvCells::scan(csv.as_bytes());
    (1..c.len())
        .map(|r| c.record(r))
        .find(|r| r[0] == id)
        .map(|r| r[8..11].to_vec())
        .unwrap_or_else(|| panic!("no row {id} in {csv}"))
}

/// A cell as CSV (quoted when it must be).
fn q(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

#[test]
fn scores_go_into_the_lists_own_columns_and_nothing_else_changes() {
    let dir = folder(SCORED_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    // A dry run writes nothing at all.
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23", "--dry-run"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("customers.csv")).unwrap(),
        SCORED_LIST
    );
    let r = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    assert_eq!(all_surfaced(&r), ["C2", "C1", "C6"]);
    assert_eq!(
        r["list_scores"]["columns"],
        serde_json::json!(["Churn Score", "churn_band", "churn_reason"])
    );
    let reason = |id: &str| {
        let c = r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|o| o["customers"].as_array().unwrap())
            .find(|c| c["customer_id"] == id)
            .unwrap();
        q(c["reason"].as_str().unwrap())
    };
    // Listed customers get this week's reason; everyone else's is cleared. Every other byte
    // stays as it was.
    let expected = format!(
        "\
customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value,Churn Score,churn_band,churn_reason,notes
C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-09-01,30,-0.8,500,90,churning,{},\"keep, \"\"this\"\"\"
C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-09-10,30,-0.6,900,90,churning,{},
C3,Copper Deli,alex@shop.example,c3@cust.example,2026-10-01,30,-0.55,100,70,at-risk,,
C5,Cedar Salon,alex@shop.example,c5@cust.example,2026-11-20,30,0.5,50,0,steady,,\"two
lines\"
C6,Willow Yoga,sam@shop.example,c6@cust.example,2026-09-15,30,,,60,at-risk,{},
",
        reason("C1"),
        reason("C2"),
        reason("C6")
    );
    let after = std::fs::read_to_string(dir.path().join("customers.csv")).unwrap();
    assert_eq!(after, expected);
    assert_eq!(r["list_scores"]["cells"], 12);
    // The same week again changes nothing.
    let again = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    assert_eq!(again["list_scores"]["cells"], 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("customers.csv")).unwrap(),
        after
    );
}

#[test]
fn a_list_without_the_columns_is_never_given_them() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    let r = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    assert_eq!(r["list_scores"]["columns"], serde_json::json!([]));
    assert_eq!(r["list_scores"]["cells"], 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("customers.csv")).unwrap(),
        SMALL_LIST
    );
}

#[test]
fn a_re_sorted_list_gets_each_score_in_its_customers_row() {
    let dir = folder(SCORED_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    let path = dir.path().join("customers.csv");
    let scored = std::fs::read_to_string(&path).unwrap();
    // Someone sorts the list and blanks the scores; the scores of the run are written again.
    let mut lines: Vec<&str> = SCORED_LIST.lines().collect();
    let header = lines.remove(0);
    let c5 = format!("{}\n{}", lines[3], lines[4]);
    let sorted = format!(
        "{header}\n{}\n{c5}\n{}\n{}\n{}\n",
        lines[5], lines[2], lines[1], lines[0]
    );
    std::fs::write(&path, &sorted).unwrap();
    let store = churn_local::store::SqliteStore::open(dir.path()).unwrap();
    churn_local::list_scores::write_list_scores(&path, &store, "2026-W48").unwrap();
    let resorted = std::fs::read_to_string(&path).unwrap();
    for id in ["C1", "C2", "C3", "C5", "C6"] {
        assert_eq!(cells(&resorted, id), cells(&scored, id), "{id}");
    }
    assert!(
        resorted.starts_with(&format!("{header}\nC6,")),
        "{resorted}"
    );
}
