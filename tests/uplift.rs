//! The holdout and `churn uplift` (docs/SPEC.md §3, §9, §10): a holdout of 0% changes nothing;
//! held-out customers never reach an owner; a planted outreach effect is recovered.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::*;

const DEMO_AS_OF: &str = "2026-11-23";

/// (customer_id, action, before, after, notes) of every audit row, in order.
fn audit_full(dir: &Path) -> Vec<(String, String, String, String, String)> {
    let conn = rusqlite::Connection::open(dir.join("churn.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT customer_id, action, before, after, notes FROM audit ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn held_out_ids(dir: &Path) -> Vec<String> {
    audit_full(dir)
        .into_iter()
        .filter(|r| r.1 == "held_out")
        .map(|r| r.0)
        .collect()
}

fn rules_version(report: &serde_json::Value) -> String {
    report["rules_version"].as_str().unwrap().to_string()
}

/// The outbox's files with the run's own rules version replaced, and the email links' tokens
/// (which carry an expiry counted from now), so two runs under docs that differ only by a
/// `holdout: 0%` line compare byte for byte.
fn outbox(dir: &Path, version: &str) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    snapshot(&dir.join("outbox"))
        .into_iter()
        .map(|(k, v)| {
            let text = String::from_utf8(v).unwrap().replace(version, "RULES");
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(i) = rest.find("/o/") {
                out.push_str(&rest[..i + 3]);
                out.push_str("TOKEN");
                rest = rest[i + 3..].trim_start_matches(|c: char| {
                    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
                });
            }
            out.push_str(rest);
            (k, out.into_bytes())
        })
        .collect()
}

#[test]
fn a_holdout_of_zero_changes_nothing() {
    let plain = demo_copy();
    let zero = demo_copy();
    let rules = std::fs::read_to_string(plain.path().join("rules.txt")).unwrap();
    std::fs::write(
        zero.path().join("rules.txt"),
        format!("{rules}\nholdout: 0%\n"),
    )
    .unwrap();
    let (p, z) = (
        plain.path().to_str().unwrap(),
        zero.path().to_str().unwrap(),
    );
    let rp = run_json(&["weekly", "--data", p, "--as-of", DEMO_AS_OF]);
    let rz = run_json(&["weekly", "--data", z, "--as-of", DEMO_AS_OF]);
    let (vp, vz) = (rules_version(&rp), rules_version(&rz));
    assert_ne!(vp, vz, "the docs differ, so their versions do");
    assert!(!all_surfaced(&rp).is_empty());
    assert_eq!(all_surfaced(&rp), all_surfaced(&rz));
    for o in rz["owners"].as_array().unwrap() {
        assert!(o.get("held_out").is_none(), "{o}");
    }
    assert_same_files(
        &outbox(plain.path(), &vp),
        &outbox(zero.path(), &vz),
        "outbox",
    );
    let norm = |dir: &Path, v: &str| -> Vec<_> {
        audit_full(dir)
            .into_iter()
            .map(|(c, a, b, af, n)| {
                (
                    c,
                    a,
                    b.replace(v, "RULES"),
                    af.replace(v, "RULES"),
                    n.replace(v, "RULES"),
                )
            })
            .filter(|r| r.1 != "scores_refreshed")
            .collect()
    };
    let (ap, az) = (norm(plain.path(), &vp), norm(zero.path(), &vz));
    assert!(ap.iter().any(|r| r.1 == "surfaced"));
    assert_eq!(ap, az);
    assert!(held_out_ids(zero.path()).is_empty());
}

#[test]
fn held_out_customers_never_reach_an_owner() {
    let dir = demo_copy();
    let d = dir.path().to_str().unwrap();
    let rules = std::fs::read_to_string(dir.path().join("rules.txt")).unwrap();
    std::fs::write(
        dir.path().join("rules.txt"),
        format!("{rules}\nholdout: 30%\n"),
    )
    .unwrap();
    let report = run_json(&["weekly", "--data", d, "--as-of", DEMO_AS_OF]);
    let held = held_out_ids(dir.path());
    assert!(held.len() >= 3, "the demo must hold some out: {held:?}");
    let listed = all_surfaced(&report);
    let reported: u64 = report["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["held_out"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        reported as usize,
        held.len(),
        "counts, never names, in the report"
    );
    // Lists are still filled to the cap where there were enough candidates.
    for o in report["owners"].as_array().unwrap() {
        let n = o["customers"].as_array().unwrap().len();
        if o["held_out"].as_u64().unwrap_or(0) > 0 && o["candidates"].as_u64().unwrap() > 20 {
            assert_eq!(n, 10, "{}", o["owner"]);
        }
    }
    // Names by id, and how many customers share each name.
    let list = std::fs::read_to_string(dir.path().join("customers.csv")).unwrap();
    let mut name_of = BTreeMap::new();
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for line in list.lines().skip(1) {
        // The first two cells: an id without commas, then a name (quoted when it holds one).
        let (id, rest) = line.split_once(',').unwrap();
        let name = match rest.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap(),
            None => rest.split(',').next().unwrap(),
        };
        name_of.insert(id.to_string(), name.to_string());
        *uses.entry(name.to_string()).or_default() += 1;
    }
    // The digest, too.
    run_json(&["digest", "--data", d, "--as-of", "2026-11-27"]);
    let files = snapshot(&dir.path().join("outbox"));
    let all: String = files
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    for id in &listed {
        assert!(all.contains(&name_of[id]), "listed {id} is in the outbox");
    }
    let mut checked = 0;
    for id in &held {
        assert!(!listed.contains(id));
        assert!(!all.contains(id.as_str()), "held-out {id} in the outbox");
        let name = &name_of[id];
        if uses[name] == 1 {
            checked += 1;
            assert!(
                !all.contains(name.as_str()),
                "held-out {name} in the outbox"
            );
        }
    }
    assert!(
        checked >= 2,
        "too few uniquely named held-out customers to check"
    );
    // Not contacted: no surfaced date, so they are candidates again next week.
    for id in &held {
        let e = run_json(&["explain", id, "--data", d, "--as-of", DEMO_AS_OF]);
        assert!(e.get("surfaced_date").is_some_and(|v| v.is_null()), "{e}");
        assert_eq!(e["paused"], false, "{e}");
    }
    let e = run_json(&["explain", &listed[0], "--data", d, "--as-of", DEMO_AS_OF]);
    assert_eq!(
        e["surfaced_date"], DEMO_AS_OF,
        "a listed customer, for contrast"
    );
    let again = run_json(&["weekly", "--data", d, "--as-of", "2026-11-30", "--dry-run"]);
    let next: Vec<String> = all_surfaced(&again);
    assert!(
        held.iter().any(|h| next.contains(h)),
        "a held-out customer is drawn afresh the next week"
    );
}

#[test]
fn a_planted_effect_is_recovered_within_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    run_json(&[
        "demo-data",
        "--customers",
        "3000",
        "--owners",
        "4",
        "--seed",
        "7",
        "--out",
        d,
    ]);
    let rules = std::fs::read_to_string(dir.path().join("rules.txt"))
        .unwrap()
        .replace("weekly cap: 10", "weekly cap: 50\nholdout: 30%");
    std::fs::write(dir.path().join("rules.txt"), rules).unwrap();
    // Before any run: nothing to compare, said plainly.
    let none = run_json(&["uplift", "--data", d]);
    assert_eq!(none["verdict"], "too_few");
    for as_of in ["2026-11-23", "2026-11-30", "2026-12-07"] {
        run_json(&["weekly", "--data", d, "--as-of", as_of]);
    }
    let orders = dir.path().join("followup.csv");
    let o = orders.to_str().unwrap();
    let planted = run_json(&[
        "demo-data",
        "--orders",
        "--uplift",
        "0.2",
        "--data",
        d,
        "--out",
        o,
        "--seed",
        "11",
    ]);
    assert!(planted["held_out"].as_u64().unwrap() >= 150, "{planted}");
    run_json(&["import-orders", o, "--data", d]);
    // All horizons still running: pending, not counted.
    let early = run_json(&["uplift", "--data", d, "--as-of", "2026-12-14"]);
    assert_eq!(early["verdict"], "too_few");
    assert_eq!(early["surfaced"]["customers"], 0);
    assert!(early["pending"].as_u64().unwrap() > 500);

    let u = run_json(&["uplift", "--data", d, "--as-of", "2027-03-15"]);
    let [lo, hi] = [
        u["interval"][0].as_f64().unwrap(),
        u["interval"][1].as_f64().unwrap(),
    ];
    assert!(lo < 0.2 && 0.2 < hi, "0.2 within [{lo}, {hi}]");
    assert!(lo > 0.0, "and 0 outside it: [{lo}, {hi}]");
    assert_eq!(u["verdict"], "helps");
    assert_eq!(u["pending"], 0);
    assert_eq!(
        u["surfaced"]["customers"].as_u64().unwrap() + u["held_out"]["customers"].as_u64().unwrap(),
        planted["surfaced"].as_u64().unwrap() + planted["held_out"].as_u64().unwrap()
    );
    assert_eq!(u["surfaced"]["came_back"], planted["surfaced_back"]);
    assert_eq!(u["held_out"]["came_back"], planted["held_out_back"]);
    // A shorter horizon finds fewer come-backs; one run's window, fewer customers.
    let short = run_json(&[
        "uplift",
        "--data",
        d,
        "--as-of",
        "2027-03-15",
        "--horizon",
        "30",
    ]);
    assert!(short["surfaced"]["came_back"].as_u64() < u["surfaced"]["came_back"].as_u64());
    let one = run_json(&[
        "uplift",
        "--data",
        d,
        "--as-of",
        "2027-03-15",
        "--from",
        "2026-11-30",
        "--to",
        "2026-11-30",
    ]);
    assert!(one["held_out"]["customers"].as_u64() < u["held_out"]["customers"].as_u64());
    // The text output says it plainly.
    let text = stdout(&run(&["uplift", "--data", d, "--as-of", "2027-03-15"]));
    assert!(
        text.starts_with("Outreach effect: the lists help"),
        "{text}"
    );

    // The monthly summary carries the same line once the horizons have ended.
    let s = run_json(&["summary", "--month", "2027-03", "--data", d, "--dry-run"]);
    assert_eq!(s["uplift"]["summary"], u["summary"]);
    let s = run_json(&["summary", "--month", "2026-12", "--data", d, "--dry-run"]);
    assert_eq!(s["uplift"]["verdict"], "too_few");
}

#[test]
fn uplift_and_planting_refuse_bad_input() {
    let dir = demo_copy();
    let d = dir.path().to_str().unwrap();
    for (args, code) in [
        (vec!["uplift", "--data", d, "--from", "23/11"], 2),
        (
            vec![
                "uplift",
                "--data",
                d,
                "--from",
                "2026-12-01",
                "--to",
                "2026-11-01",
            ],
            2,
        ),
        (vec!["uplift", "--data", d, "--horizon", "0"], 2),
        (vec!["uplift", "--data", d, "--as-of", "someday"], 3),
        // Planting needs a data folder with runs, and chances within 0 to 1.
        (
            vec![
                "demo-data",
                "--orders",
                "--uplift",
                "0.2",
                "--data",
                d,
                "--out",
                "x.csv",
            ],
            3,
        ),
        (
            vec![
                "demo-data",
                "--uplift",
                "0.2",
                "--data",
                d,
                "--out",
                "x.csv",
            ],
            2,
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    }
    run_json(&["weekly", "--data", d, "--as-of", DEMO_AS_OF]);
    let out = run(&[
        "demo-data",
        "--orders",
        "--uplift",
        "0.9",
        "--data",
        d,
        "--out",
        "x.csv",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("within 0 to 1"));
    // A doc with a bad holdout line stops the run, naming the line.
    let rules = std::fs::read_to_string(dir.path().join("rules.txt")).unwrap();
    std::fs::write(
        dir.path().join("rules.txt"),
        format!("{rules}holdout: 60%\n"),
    )
    .unwrap();
    let out = run(&["weekly", "--data", d, "--as-of", "2026-11-30"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("from 0% to 50%") || stderr(&out).contains("from 0% to 50%"));
}
