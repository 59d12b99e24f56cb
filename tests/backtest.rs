//! `churn backtest` and `churn demo-data --orders`, end to end.

use crate::util::*;

#[test]
fn backtest_on_planted_history_prints_json_and_writes_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_json(&[
        "demo-data",
        "--customers",
        "400",
        "--owners",
        "3",
        "--seed",
        "5",
        "--out",
        d.to_str().unwrap(),
        "--orders",
    ]);
    assert!(d.join("orders.csv").exists());
    let plot = d.join("plot.svg");
    let j = run_json(&[
        "backtest",
        "--orders",
        d.join("orders.csv").to_str().unwrap(),
        "--customers",
        d.join("customers.csv").to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    for k in [
        "sent",
        "uncapped",
        "baseline",
        "weekly",
        "verdict",
        "rules_version",
        "horizon_days",
    ] {
        assert!(j.get(k).is_some(), "missing {k}");
    }
    for view in ["sent", "uncapped"] {
        for band in ["at_risk", "churning", "overall"] {
            let m = &j[view][band];
            assert!(
                m.get("catch_rate").is_some() && m.get("precision").is_some(),
                "{view}.{band}: {m}"
            );
        }
    }
    assert!(j["weekly"].as_array().unwrap().len() > 10);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..60.min(svg.len())]
    );
    // The capped view never flags more than the uncapped one.
    assert!(
        j["sent"]["overall"]["flagged"].as_u64() <= j["uncapped"]["overall"]["flagged"].as_u64()
    );
}

#[test]
fn backtest_refuses_an_unknown_export_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("orders.csv");
    std::fs::write(&orders, "when,who\n2026-01-01,C1\n").unwrap();
    std::fs::write(dir.path().join("rules.txt"), SMALL_RULES).unwrap();
    let out = run(&["backtest", "--orders", orders.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Shopify") && err.contains("WooCommerce"),
        "{err}"
    );
}

/// CDNOW, odd customer ids (tests/data/SOURCES.md): a real shop's history, 1997–98.
fn cdnow() -> String {
    repo()
        .join("tests/data/cdnow_odd_customers.csv")
        .display()
        .to_string()
}

#[test]
fn rules_suggested_on_a_real_history_foresee_churn_out_of_time() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("rules.txt");
    // Fitted on the orders up to 30 Sep 1997 only…
    let s = run_json(&[
        "rules",
        "suggest",
        "--orders",
        &cdnow(),
        "--until",
        "1997-09-30",
        "--out",
        doc.to_str().unwrap(),
    ]);
    let text = s["rules"].as_str().unwrap();
    assert!(text.contains("# Out-of-time check"), "{text}");
    assert_eq!(std::fs::read_to_string(&doc).unwrap(), text);
    assert!(
        run(&["check", doc.to_str().unwrap()]).status.success(),
        "{text}"
    );
    // Only order-derived measures, written as plain lines.
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("measure:"))
    {
        let m = line.trim_start().trim_start_matches("measure:").trim();
        assert!(
            [
                "days_since_last_order",
                "order_count",
                "overdue_ratio",
                "lifetime_value",
                "p_alive"
            ]
            .contains(&m),
            "{line}"
        );
    }
    // …judged on the six months after.
    let j = run_json(&[
        "backtest",
        "--orders",
        &cdnow(),
        "--rules",
        doc.to_str().unwrap(),
        "--from",
        "1997-10-06",
        "--to",
        "1998-03-30",
        "--plot",
        dir.path().join("plot.svg").to_str().unwrap(),
    ]);
    assert_eq!(j["weeks"], 26);
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let (auc, recency) = (f(&j["auc"]["rules"]), f(&j["auc"]["baseline"]));
    assert!(auc >= recency + 0.05, "AUC {auc} vs recency {recency}");
    let sent = &j["sent"]["overall"];
    assert_eq!(sent["flagged"], 260, "ten names every Monday");
    assert!(
        f(&sent["precision"]) >= f(&j["baseline"]["precision"]),
        "precision {} vs {}",
        sent["precision"],
        j["baseline"]["precision"]
    );
    assert!(
        f(&sent["median_warning_weeks"]) >= 4.0,
        "warning {}",
        sent["median_warning_weeks"]
    );
    assert_eq!(sent["already_gone"], 0, "gone customers take no place");
    assert_eq!(j["verdict"], "beat", "{}", j["verdict_text"]);
}

#[test]
fn a_doc_that_does_not_foresee_churn_is_told_so_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("rules.txt");
    // Backwards: loyal customers (many orders) flagged first.
    std::fs::write(
        &doc,
        "signal loyal\n  measure: order_count\n  at least 6: 60 points\n\
         band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n",
    )
    .unwrap();
    let plot = dir.path().join("plot.svg");
    let args = [
        "backtest",
        "--orders",
        &cdnow(),
        "--rules",
        doc.to_str().unwrap(),
        "--from",
        "1997-10-06",
        "--to",
        "1998-03-30",
        "--plot",
        plot.to_str().unwrap(),
    ];
    let j = run_json(&args);
    assert_eq!(j["verdict"], "did_not_beat");
    let out = run(&args);
    assert!(
        stdout(&out).contains("The rules do not beat the baseline"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_demo_history_still_shows_the_rules_beating_recency() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_json(&[
        "demo-data",
        "--customers",
        "2000",
        "--seed",
        "7",
        "--out",
        d.to_str().unwrap(),
        "--orders",
    ]);
    let j = run_json(&[
        "backtest",
        "--orders",
        d.join("orders.csv").to_str().unwrap(),
        "--customers",
        d.join("customers.csv").to_str().unwrap(),
    ]);
    assert_eq!(j["verdict"], "beat", "{}", j["verdict_text"]);
    assert!(j["auc"]["rules"].as_f64() > j["auc"]["baseline"].as_f64());
    // Customers already gone are counted apart, never as catches.
    assert!(j["gone_weeks"].as_u64().unwrap() > 0);
    assert!(j["sent"]["overall"]["caught"].as_u64() <= j["churned_weeks"].as_u64());
}

#[test]
fn rules_suggest_says_when_the_history_is_too_short() {
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("orders.csv");
    std::fs::write(
        &orders,
        "customer_id,order_date\nC1,2026-01-05\nC1,2026-02-05\nC2,2026-01-10\n",
    )
    .unwrap();
    let out = run(&["rules", "suggest", "--orders", orders.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("history"), "{}", stderr(&out));
    let bad = run(&[
        "rules",
        "suggest",
        "--orders",
        orders.to_str().unwrap(),
        "--until",
        "soon",
    ]);
    assert!(stderr(&bad).contains("--until"), "{}", stderr(&bad));
}
