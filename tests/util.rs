//! Helpers: run the real `churn` binary on throwaway data folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A `churn` command with a clean environment for what it reads.
pub fn churn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_churn"));
    c.env_remove("CHURN_LOG")
        .env_remove("SLACK_BOT_TOKEN")
        .env("CHURN_LINK_SECRET", "test-link-secret")
        .env("USER", "tester");
    c
}

/// Runs `churn args…` and returns its output.
pub fn run(args: &[&str]) -> Output {
    churn().args(args).output().expect("churn runs")
}

/// Runs `churn args… --json`, asserts success, parses stdout.
pub fn run_json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = run(&a);
    assert!(
        out.status.success(),
        "churn {args:?} failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("churn {args:?}: not JSON ({e}): {}", stdout(&out)))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh copy of the bundled `demo/` folder.
pub fn demo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["customers.csv", "rules.txt", "voice.txt", "config.toml"] {
        std::fs::copy(repo().join("demo").join(f), dir.path().join(f)).unwrap();
    }
    dir
}

/// A data folder with the given list and rules (and no config: UTC, day-first).
pub fn folder(customers: &str, rules: &str, config: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("customers.csv"), customers).unwrap();
    std::fs::write(dir.path().join("rules.txt"), rules).unwrap();
    if let Some(c) = config {
        std::fs::write(dir.path().join("config.toml"), c).unwrap();
    }
    dir
}

/// Every file under `dir` with its bytes, for byte-for-byte comparisons.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Asserts two snapshots are equal, naming the files that differ (not dumping their bytes).
#[track_caller]
pub fn assert_same_files(
    a: &BTreeMap<PathBuf, Vec<u8>>,
    b: &BTreeMap<PathBuf, Vec<u8>>,
    what: &str,
) {
    let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(a), names(b), "{what}: different files");
    let changed: Vec<_> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(changed.is_empty(), "{what}: changed files {changed:?}");
}

/// Audit rows in the folder's database: (customer_id, action).
pub fn audit_rows(dir: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(dir.join("churn.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT customer_id, action FROM audit ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The ids surfaced for `owner` in a weekly JSON report.
pub fn surfaced(report: &Value, owner: &str) -> Vec<String> {
    report["owners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["owner"] == owner)
        .flat_map(|o| {
            o["customers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["customer_id"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Every surfaced id in a weekly JSON report.
pub fn all_surfaced(report: &Value) -> Vec<String> {
    report["owners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| {
            o["customers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["customer_id"].as_str().unwrap().to_string())
        })
        .collect()
}

/// A small rules doc: overdue and mood, cap 2, pause 21 days, alex on Slack.
pub const SMALL_RULES: &str = "\
signal overdue
  measure: overdue_ratio
  at least 2.0: 60 points
  at least 1.5: 40 points
signal mood
  measure: support_mood
  at most -0.5: 30 points
band churning: at least 75
band at-risk: at least 50
band watch: at least 25
weekly cap: 2
contact pause: 21 days
owner alex@shop.example: slack U0123ABCD
";

/// A small list, as of 2026-11-23: C2 and C1 churning (90; C2 has the larger value), C3 at-risk
/// (70) and C4 at-risk (60) for alex; C5 steady; C6 at-risk (60) for sam, who has no owner line.
pub const SMALL_LIST: &str = "\
customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value
C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-09-01,30,-0.8,500
C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-09-10,30,-0.6,900
C3,Copper Deli,alex@shop.example,c3@cust.example,2026-10-01,30,-0.55,100
C4,Sunny Books,alex@shop.example,c4@cust.example,2026-09-20,30,,2000
C5,Cedar Salon,alex@shop.example,c5@cust.example,2026-11-20,30,0.5,50
C6,Willow Yoga,sam@shop.example,c6@cust.example,2026-09-15,30,,
";

/// The address `churn serve` prints on its first line (`… http://127.0.0.1:PORT …`).
pub fn serve_address(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line.split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}
