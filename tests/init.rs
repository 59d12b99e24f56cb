//! `churn init`: a data folder to start from, never over existing files.

use crate::util::*;

#[test]
fn init_writes_a_folder_whose_rules_pass_check() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    let d = dir.to_str().unwrap();
    let out = run(&["init", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Next steps"), "{text}");
    assert!(text.contains("customers.csv"), "{text}");
    let rules = std::fs::read_to_string(dir.join("rules.txt")).unwrap();
    assert!(
        rules.lines().filter(|l| l.starts_with('#')).count() > 5,
        "commented: {rules}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("customers.csv"))
            .unwrap()
            .lines()
            .count(),
        1,
        "the header only"
    );
    assert!(
        std::fs::read_to_string(dir.join("config.toml"))
            .unwrap()
            .contains("# ")
    );

    // The rules doc is clean: exit code 0, no warnings.
    let rules_path = dir.join("rules.txt");
    let out = run(&["check", rules_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // The header-only list is what the next steps say: no rows yet. With one row under the
    // header, the list passes against the rules, config.toml included.
    let list = dir.join("customers.csv");
    let out = run(&["check", list.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("no customer rows"),
        "{}",
        stdout(&out)
    );
    let mut csv = std::fs::read_to_string(&list).unwrap();
    csv.push_str("C1,Harbor Bakery,alex@shop.example,,2026-10-01,30,-0.2,1200\n");
    std::fs::write(&list, csv).unwrap();
    let out = run(&[
        "check",
        list.to_str().unwrap(),
        "--rules",
        rules_path.to_str().unwrap(),
        "--data",
        d,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    std::fs::write(tmp.path().join("customers.csv"), "mine\n").unwrap();
    let before = snapshot(tmp.path());
    let out = run(&["init", d]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("customers.csv") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(snapshot(tmp.path()), before, "nothing written");
}

#[test]
fn the_slack_manifest_lets_owners_reply_to_the_dm() {
    let manifest = std::fs::read_to_string(repo().join("slack/manifest.yaml")).unwrap();
    let lines: Vec<&str> = manifest.lines().map(str::trim).collect();
    assert!(lines.contains(&"app_home:"), "{manifest}");
    assert!(lines.contains(&"messages_tab_enabled: true"), "{manifest}");
    assert!(
        lines.contains(&"messages_tab_read_only_enabled: false"),
        "{manifest}"
    );
}
