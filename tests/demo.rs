//! The README's first command, and golden tests on the bundled `demo/` folder.

use crate::util::*;

fn golden(name: &str, actual: &serde_json::Value) {
    let path = repo().join("tests/golden").join(name);
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        expected == text,
        "{} differs from the output; if the change is intended, run with UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

#[test]
fn demo_prints_the_same_lists_every_time_and_changes_nothing_here() {
    let before = snapshot(&repo().join("demo"));
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let out_a = run(&["demo", "--out", a.path().join("x").to_str().unwrap()]);
    let out_b = run(&["demo", "--out", b.path().join("x").to_str().unwrap()]);
    assert!(out_a.status.success(), "{}", stderr(&out_a));
    let lists = |o: &std::process::Output| {
        stdout(o)
            .lines()
            .filter(|l| {
                !l.contains(a.path().to_str().unwrap()) && !l.contains(b.path().to_str().unwrap())
            })
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(lists(&out_a), lists(&out_b));
    let text = stdout(&out_a);
    assert!(text.contains("Week 2026-W48"), "{text}");
    assert!(
        text.contains("churning") && text.contains("at-risk"),
        "{text}"
    );
    let outbox = a.path().join("x/outbox/2026-W48");
    let files: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with(".slack.1.json")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with(".email.html")),
        "{files:?}"
    );
    assert_same_files(
        &snapshot(&repo().join("demo")),
        &before,
        "the demo must never change the repository",
    );
    // Without --out it uses a fresh temporary folder and says where.
    let out = run(&["demo"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("churn-demo-"), "{}", stdout(&out));
}

#[test]
fn demo_has_every_band_and_messy_rows() {
    let dir = demo_copy();
    let d = dir.path();
    let j = run_json(&[
        "score",
        "--customers",
        d.join("customers.csv").to_str().unwrap(),
        "--rules",
        d.join("rules.txt").to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--data",
        d.to_str().unwrap(),
    ]);
    for band in ["steady", "watch", "at-risk", "churning"] {
        assert!(
            j["customers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["band"] == band),
            "no {band} customer in the demo"
        );
    }
    assert!(
        !j["errors"].as_array().unwrap().is_empty(),
        "the demo has a few messy rows on purpose"
    );
    golden("demo-score.json", &j);
}

#[test]
fn demo_weekly_golden() {
    let dir = demo_copy();
    let mut j = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--dry-run",
    ]);
    let o = j.as_object_mut().unwrap();
    o.remove("run_id");
    o.remove("outbox");
    golden("demo-weekly.json", &j);
}

/// Gone is not at risk: C0000011 (silent 833 days) is kept off the list and counted; with
/// `gone after: never` it takes a place again.
#[test]
fn the_gone_rule_keeps_long_silent_customers_off_the_lists() {
    let dir = demo_copy();
    let weekly = |d: &std::path::Path| {
        run_json(&[
            "weekly",
            "--data",
            d.to_str().unwrap(),
            "--as-of",
            "2026-11-23",
            "--dry-run",
        ])
    };
    let ids = |j: &serde_json::Value| -> Vec<String> {
        j["owners"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|o| o["customers"].as_array().unwrap().iter())
            .map(|c| c["customer_id"].as_str().unwrap().to_string())
            .collect()
    };
    let gone = |j: &serde_json::Value| -> u64 {
        j["owners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["gone"].as_u64().unwrap_or(0))
            .sum()
    };
    let by_default = weekly(dir.path());
    assert!(!ids(&by_default).contains(&"C0000011".to_string()));
    assert!(gone(&by_default) >= 1);
    let text = run(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--dry-run",
    ]);
    assert!(
        stdout(&text).contains("left off as gone"),
        "{}",
        stdout(&text)
    );
    let rules = dir.path().join("rules.txt");
    let doc = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&rules, format!("{doc}\ngone after: never\n")).unwrap();
    let never = weekly(dir.path());
    assert!(ids(&never).contains(&"C0000011".to_string()));
    assert_eq!(gone(&never), 0);
}

#[test]
fn demo_data_is_deterministic_for_a_seed() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [&a, &b] {
        run_json(&[
            "demo-data",
            "--customers",
            "300",
            "--owners",
            "5",
            "--seed",
            "42",
            "--out",
            d.path().to_str().unwrap(),
        ]);
    }
    assert_same_files(&snapshot(a.path()), &snapshot(b.path()), "files");
    // The bundled demo is exactly what the documented command makes.
    let c = tempfile::tempdir().unwrap();
    run_json(&[
        "demo-data",
        "--customers",
        "240",
        "--owners",
        "4",
        "--seed",
        "7",
        "--out",
        c.path().to_str().unwrap(),
    ]);
    assert_same_files(
        &snapshot(c.path()),
        &snapshot(&repo().join("demo")),
        "demo/ must be regenerated with: churn demo-data --customers 240 --owners 4 --seed 7 --out demo",
    );
}
