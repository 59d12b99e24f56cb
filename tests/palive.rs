//! The P(alive) measure: the CDNOW fit through the command, and `p_alive` in the rules.

use crate::util::*;

#[test]
fn p_alive_fit_reproduces_the_cdnow_paper() {
    let j = run_json(&[
        "p-alive",
        "fit",
        "--summary",
        repo()
            .join("tests/data/cdnow_customers_summary.csv")
            .to_str()
            .unwrap(),
    ]);
    let sig3 = |x: f64| format!("{:.2e}", x);
    assert_eq!(sig3(j["r"].as_f64().unwrap()), sig3(0.243));
    assert_eq!(sig3(j["alpha"].as_f64().unwrap()), sig3(4.414));
    assert_eq!(sig3(j["a"].as_f64().unwrap()), sig3(0.793));
    assert_eq!(sig3(j["b"].as_f64().unwrap()), sig3(2.426));
    assert!(
        (j["log_likelihood"].as_f64().unwrap() - -9582.4).abs() <= 0.1,
        "{j}"
    );
}

#[test]
fn p_alive_fit_refuses_a_bad_summary() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.csv");
    std::fs::write(&p, "frequency,recency,T\n2,10,5\n").unwrap();
    let out = run(&["p-alive", "fit", "--summary", p.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with("churn: "), "{}", stderr(&out));
}

#[test]
fn p_alive_in_the_rules_says_when_history_is_too_short() {
    let rules = "signal alive\n  measure: p_alive\n  at most 0.3: 60 points\n\
                 band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";
    let mut list =
        String::from("customer_id,name,owner,first_order_date,last_order_date,order_count\n");
    // A spread of histories so the model can be fitted; C0 has one order only.
    list.push_str("C0,One Order,a@shop.example,2026-01-10,2026-01-10,1\n");
    for i in 1..60 {
        let count = 2 + i % 9;
        let last = if i % 3 == 0 {
            "2025-06-01"
        } else {
            "2026-11-01"
        };
        list.push_str(&format!(
            "C{i},Shop {i},a@shop.example,2024-0{}-15,{last},{count}\n",
            1 + i % 9
        ));
    }
    let dir = folder(&list, rules, None);
    let d = dir.path();
    let j = run_json(&[
        "score",
        "--customers",
        d.join("customers.csv").to_str().unwrap(),
        "--rules",
        d.join("rules.txt").to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    let c0 = &j["customers"][0]["breakdown"][0];
    assert_eq!(c0["value"], serde_json::Value::Null);
    assert_eq!(c0["detail"], "too little history: one order so far");
    assert_eq!(c0["points"], 0);
    let values: Vec<f64> = j["customers"].as_array().unwrap()[1..]
        .iter()
        .map(|c| c["breakdown"][0]["value"].as_f64().unwrap())
        .collect();
    assert!(values.iter().all(|p| (0.0..=1.0).contains(p)), "{values:?}");
    // Long-silent frequent buyers are less likely to be alive than recent ones.
    let silent = j["customers"][3]["breakdown"][0]["value"].as_f64().unwrap();
    let recent = j["customers"][4]["breakdown"][0]["value"].as_f64().unwrap();
    assert!(silent < recent, "{silent} vs {recent}");
}
