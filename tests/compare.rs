//! What-if: `churn weekly --rules NEW --compare`.

use crate::util::*;

#[test]
fn lowering_a_band_cut_shows_exactly_the_customers_that_enter() {
    // C7 and C8 score 40 (watch: 25 ≤ 40 < 50); C9 scores 30. Cap 10, so only the cut matters.
    let list = format!(
        "{SMALL_LIST}C7,Blue Door Deli,alex@shop.example,c7@cust.example,2026-10-05,30,,\n\
         C8,Orchard Tea,sam@shop.example,c8@cust.example,2026-10-06,30,,\n\
         C9,Kettle Cafe,sam@shop.example,c9@cust.example,2026-11-20,30,-0.7,\n"
    );
    let rules = SMALL_RULES.replace("weekly cap: 2", "weekly cap: 10");
    let dir = folder(&list, &rules, None);
    let d = dir.path();
    let new_rules = d.join("rules-new.txt");
    std::fs::write(
        &new_rules,
        rules.replace("band at-risk: at least 50", "band at-risk: at least 40"),
    )
    .unwrap();
    // A real send this week first: the preview still compares the lists themselves.
    run_json(&[
        "weekly",
        "--data",
        d.to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    let before = snapshot(d);
    let c = run_json(&[
        "weekly",
        "--data",
        d.to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--rules",
        new_rules.to_str().unwrap(),
        "--compare",
    ]);
    assert_same_files(&snapshot(d), &before, "a comparison writes nothing");
    let mut entering: Vec<String> = c["owners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| {
            o["entering"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["customer_id"].as_str().unwrap().to_string())
        })
        .collect();
    entering.sort();
    assert_eq!(entering, vec!["C7", "C8"]);
    assert_eq!(c["leaving"], 0);
    let c7 = c["owners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["entering"].as_array().unwrap())
        .find(|m| m["customer_id"] == "C7")
        .unwrap();
    assert_eq!(c7["after"]["band"], "at-risk");
    assert_eq!(c7["after"]["score"], 40);
    assert!(c7["why"].as_str().unwrap().contains("overdue 40"), "{c7}");
    assert_ne!(c["rules_version_before"], c["rules_version_after"]);
}

#[test]
fn compare_needs_a_rules_doc() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let out = run(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--compare",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--rules"), "{}", stderr(&out));
}
