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
