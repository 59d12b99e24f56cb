//! The Monday run: sends once per week, the contact pause, dry runs, stop rules.

use crate::util::*;

#[test]
fn first_week_sends_capped_ranked_lists_and_writes_the_outbox() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    let r = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    assert_eq!(r["week"], "2026-W48");
    assert_eq!(r["as_of"], "2026-11-23");
    assert_eq!(r["dry_run"], false);
    assert_eq!(surfaced(&r, "alex@shop.example"), vec!["C2", "C1"]);
    assert_eq!(surfaced(&r, "sam@shop.example"), vec!["C6"]);
    let alex = r["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == "alex@shop.example")
        .unwrap();
    assert_eq!(alex["via"], "slack");
    assert_eq!(alex["status"], "sent");
    let sam = r["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == "sam@shop.example")
        .unwrap();
    assert_eq!(sam["via"], "email");
    let c2 = &alex["customers"][0];
    assert_eq!(c2["band"], "churning");
    assert_eq!(c2["score"], 90);
    assert!(
        c2["reason"]
            .as_str()
            .unwrap()
            .starts_with("Next order is late: 2.5× the usual pace"),
        "{}",
        c2["reason"]
    );
    let b = c2["breakdown"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0]["signal"], "overdue");
    assert_eq!(b[0]["points"], 60);
    assert_eq!(b[1]["detail"], "sour (-0.60)");
    // Outbox: the exact chat.postMessage body and the email.
    let outbox = dir.path().join("outbox/2026-W48");
    let msg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(outbox.join("alex@shop.example.slack.1.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(msg["channel"], "U0123ABCD");
    assert_eq!(msg["blocks"].as_array().unwrap().len(), 1 + 2 * 3);
    assert!(outbox.join("sam@shop.example.email.html").exists());
    let text = std::fs::read_to_string(outbox.join("sam@shop.example.email.txt")).unwrap();
    assert!(
        text.contains("Willow Yoga") && text.contains("/o/"),
        "{text}"
    );
    // One `surfaced` audit row per name, plus the run's score refresh.
    let audit = audit_rows(dir.path());
    let surfaced_rows: Vec<_> = audit
        .iter()
        .filter(|(_, a)| a == "surfaced")
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(surfaced_rows, vec!["C2", "C1", "C6"]);
    assert_eq!(
        audit
            .iter()
            .filter(|(_, a)| a == "scores_refreshed")
            .count(),
        1
    );
}

#[test]
fn same_week_again_sends_nothing_and_next_week_respects_the_pause() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    let outbox_before = snapshot(&dir.path().join("outbox"));
    let audit_before = audit_rows(dir.path()).len();

    let again = run_json(&["weekly", "--data", d, "--as-of", "2026-11-25"]);
    for o in again["owners"].as_array().unwrap() {
        assert_eq!(o["status"], "already_sent", "{o}");
        assert!(o["customers"].as_array().unwrap().is_empty());
    }
    assert_same_files(
        &snapshot(&dir.path().join("outbox")),
        &outbox_before,
        "files",
    );
    let audit_after: Vec<_> = audit_rows(dir.path());
    assert!(
        audit_after
            .iter()
            .skip(audit_before)
            .all(|(_, a)| a == "scores_refreshed"),
        "{audit_after:?}"
    );

    let next = run_json(&["weekly", "--data", d, "--as-of", "2026-11-30"]);
    assert_eq!(next["week"], "2026-W49");
    assert_eq!(surfaced(&next, "alex@shop.example"), vec!["C3", "C4"]);
    let this_week = ["C2", "C1", "C6"];
    assert!(
        all_surfaced(&next)
            .iter()
            .all(|c| !this_week.contains(&c.as_str()))
    );
    assert_eq!(next["skipped_paused"], 3);
    let sam = next["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == "sam@shop.example")
        .unwrap();
    assert_eq!(sam["status"], "nothing_to_send");
}

#[test]
fn dry_run_writes_nothing_before_or_after_a_real_run() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    let before = snapshot(dir.path());
    let r = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23", "--dry-run"]);
    assert_eq!(r["dry_run"], true);
    assert!(
        r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "dry_run")
    );
    assert_eq!(surfaced(&r, "alex@shop.example"), vec!["C2", "C1"]);
    assert_same_files(
        &snapshot(dir.path()),
        &before,
        "a dry run must not create or change any file",
    );

    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    let after_send = snapshot(dir.path());
    let r = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23", "--dry-run"]);
    assert!(
        r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "already_sent")
    );
    let r2 = run_json(&["weekly", "--data", d, "--as-of", "2026-11-30", "--dry-run"]);
    assert_eq!(surfaced(&r2, "alex@shop.example"), vec!["C3", "C4"]);
    assert_same_files(&snapshot(dir.path()), &after_send, "files");
}

#[test]
fn resend_sends_the_recorded_list_again_unchanged() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    let first = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    // The list changes after the send; a resend still sends what was recorded.
    let changed = SMALL_LIST.replace(
        "C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-09-01",
        "C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-11-20",
    );
    std::fs::write(dir.path().join("customers.csv"), changed).unwrap();
    let audit_before = audit_rows(dir.path())
        .iter()
        .filter(|(_, a)| a == "surfaced")
        .count();
    let again = run_json(&["weekly", "--data", d, "--as-of", "2026-11-23", "--resend"]);
    assert_eq!(
        surfaced(&again, "alex@shop.example"),
        surfaced(&first, "alex@shop.example")
    );
    assert!(
        again["owners"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "sent")
    );
    assert_eq!(
        audit_rows(dir.path())
            .iter()
            .filter(|(_, a)| a == "surfaced")
            .count(),
        audit_before
    );
}

#[test]
fn invalid_rules_stop_the_run_and_write_nothing() {
    let bad_rules = SMALL_RULES
        .replace("at least 1.5: 40 points", "at least 1.5: 40 pts")
        .replace("band watch: at least 25", "band watch: at least 80");
    let dir = folder(SMALL_LIST, &bad_rules, None);
    let before = snapshot(dir.path());
    let out = run(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("line 4:"), "{err}");
    assert!(err.contains("nothing was written or sent"), "{err}");
    assert_same_files(&snapshot(dir.path()), &before, "files");
}

#[test]
fn too_many_bad_rows_stop_the_run_and_write_nothing() {
    let list = "customer_id,name,owner,last_order_date,order_pace_days\n\
                C1,A,alex@shop.example,2026-09-01,30\n\
                C2,B,alex@shop.example,not a date,30\n\
                C3,C,alex@shop.example,2026-09-01,thirty\n\
                C4,D,alex@shop.example,2026-09-01,30\n";
    let dir = folder(
        list,
        SMALL_RULES
            .replace(
                "signal mood\n  measure: support_mood\n  at most -0.5: 30 points\n",
                "",
            )
            .as_str(),
        None,
    );
    let before = snapshot(dir.path());
    let out = run(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("2 bad rows out of 4"),
        "{}",
        stderr(&out)
    );
    assert_same_files(&snapshot(dir.path()), &before, "files");
}

#[test]
fn missing_required_column_stops_the_run() {
    let dir = folder(
        "customer_id,name,email\nC1,A,a@x.example\n",
        SMALL_RULES,
        None,
    );
    let out = run(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("`owner`"), "{}", stderr(&out));
    assert!(!dir.path().join("churn.db").exists());
}

#[test]
fn never_sends_to_an_address_in_the_customers_email_column() {
    // sam's address is also a customer's contact email: sam's list is refused, alex's goes out.
    // The cell is compared as canonical addresses (docs/SPEC.md §1): a display name, a `+tag`,
    // case, or another address beside it does not let sam through.
    let mut dir = None;
    for cell in [
        "sam@shop.example",
        "Sam Lee <SAM+orders@shop.example>",
        "\"\"\"Lee, Sam\"\" <sam@shop.example>\"",
        "billing@cust.example; Sam@Shop.example",
        "\"billing@cust.example, sam+x@shop.example\"",
    ] {
        let list = SMALL_LIST.replace("c5@cust.example", cell);
        let d = folder(&list, SMALL_RULES, None);
        let out = run(&[
            "weekly",
            "--data",
            d.path().to_str().unwrap(),
            "--as-of",
            "2026-11-23",
            "--json",
        ]);
        assert!(
            !out.status.success(),
            "{cell}: a refused owner makes the run fail"
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sam = r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["owner"] == "sam@shop.example")
            .unwrap();
        assert_eq!(sam["status"], "failed", "{cell}");
        assert!(
            sam["error"].as_str().unwrap().contains("customer"),
            "{cell}"
        );
        let alex = r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["owner"] == "alex@shop.example")
            .unwrap();
        assert_eq!(alex["status"], "sent", "{cell}");
        let files: Vec<_> = snapshot(&d.path().join("outbox")).into_keys().collect();
        assert!(
            files.iter().all(|f| !f.to_string_lossy().contains("sam@")),
            "{cell}: {files:?}"
        );
        dir = Some(d);
    }
    let dir = dir.unwrap();
    // A later run sends sam's list once the address is fixed.
    std::fs::write(dir.path().join("customers.csv"), SMALL_LIST).unwrap();
    let r = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    let sam = r["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == "sam@shop.example")
        .unwrap();
    assert_eq!(sam["status"], "sent");
}

#[test]
fn blank_or_non_email_owner_goes_to_the_fallback_owner() {
    let list = SMALL_LIST
        .replace(
            "C6,Willow Yoga,sam@shop.example",
            "C6,Willow Yoga,Sales team",
        )
        .replace("C4,Sunny Books,alex@shop.example", "C4,Sunny Books,");
    let dir = folder(
        &list,
        SMALL_RULES,
        Some("fallback_owner = \"Admin@Shop.example\"\n"),
    );
    let r = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--dry-run",
    ]);
    assert_eq!(surfaced(&r, "admin@shop.example"), vec!["C4", "C6"]);
    // Without a fallback owner they are reported, not lost silently.
    let dir = folder(&list, SMALL_RULES, None);
    let r = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--dry-run",
    ]);
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0]["reason"].as_str().unwrap().contains("no owner"));
}

#[test]
fn owner_filter_limits_the_run() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let r = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--owner",
        "SAM@shop.example",
    ]);
    let owners: Vec<_> = r["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["owner"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(owners, vec!["sam@shop.example"]);
    let r = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    assert_eq!(surfaced(&r, "alex@shop.example"), vec!["C2", "C1"]);
}

#[test]
fn weekly_json_has_the_documented_keys() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let r = run_json(&[
        "weekly",
        "--data",
        dir.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    for k in [
        "week",
        "as_of",
        "dry_run",
        "rules_version",
        "owners",
        "skipped_paused",
        "errors",
    ] {
        assert!(r.get(k).is_some(), "missing {k}");
    }
    let o = &r["owners"][0];
    for k in ["owner", "via", "status", "customers"] {
        assert!(o.get(k).is_some(), "missing owners[].{k}");
    }
    let c = &o["customers"][0];
    for k in [
        "customer_id",
        "name",
        "band",
        "score",
        "reason",
        "breakdown",
    ] {
        assert!(c.get(k).is_some(), "missing customers[].{k}");
    }
    let b = &c["breakdown"][0];
    let keys: Vec<_> = b.as_object().unwrap().keys().cloned().collect();
    // The documented keys, plus `facts` (additive: the structured facts behind `detail`, which
    // travel with the list between the Monday run's steps).
    assert_eq!(keys, vec!["detail", "facts", "points", "signal", "value"]);
    assert_eq!(r["rules_version"].as_str().unwrap().len(), 12);
}

/// `churn weekly` with SLACK_BOT_TOKEN, against the Slack-like server.
fn weekly_with_token(d: &str, slack: &crate::slack_server::SlackServer) -> serde_json::Value {
    let out = churn()
        .args(["weekly", "--data", d, "--as-of", "2026-11-23", "--json"])
        .env("SLACK_BOT_TOKEN", "xoxb-weekly")
        .env("CHURN_SLACK_API_URL", &slack.base_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn owner<'a>(r: &'a serde_json::Value, email: &str) -> &'a serde_json::Value {
    r["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == email)
        .unwrap()
}

#[test]
fn with_a_bot_token_slack_lists_are_posted_once_and_a_slack_failure_falls_back_to_email() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slack = rt.block_on(crate::slack_server::SlackServer::start("xoxb-weekly"));
    slack.add_user("alex@shop.example", "U0123ABCD");
    slack.add_user("sam@shop.example", "U0SAM");
    // Alex by user id, Sam found by email.
    let rules = format!("{SMALL_RULES}owner sam@shop.example: slack\n");
    let dir = folder(SMALL_LIST, &rules, None);
    let d = dir.path().to_str().unwrap();
    let r = weekly_with_token(d, &slack);
    assert_eq!(
        owner(&r, "alex@shop.example")["posted"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(owner(&r, "sam@shop.example")["via"], "slack");
    assert_eq!(
        slack.received_for("users.lookupByEmail").len(),
        1,
        "only Sam is looked up"
    );
    let posted = slack.posted();
    assert_eq!(posted.len(), 2);
    // What Slack got is the outbox's body, sent to the DM.
    let outbox: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join("outbox/2026-W48/alex@shop.example.slack.1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let to_alex = posted
        .iter()
        .find(|p| p["blocks"] == outbox["blocks"])
        .expect("alex's list");
    assert_ne!(
        to_alex["channel"], "U0123ABCD",
        "posted to the DM conversations.open gave"
    );

    // The same week again: already sent, nothing posted.
    let r = weekly_with_token(d, &slack);
    assert_eq!(owner(&r, "alex@shop.example")["status"], "already_sent");
    assert_eq!(slack.posted().len(), 2);

    // Slack refuses the post: the owner falls back to email (the outbox's), marked so.
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    slack.script(
        "chat.postMessage",
        [crate::slack_server::Fault::Error("is_archived")],
    );
    let r = weekly_with_token(d, &slack);
    let alex = owner(&r, "alex@shop.example");
    assert_eq!(
        (alex["status"].as_str(), alex["via"].as_str()),
        (Some("sent"), Some("email"))
    );
    assert!(
        alex["note"].as_str().unwrap().contains("is_archived"),
        "{alex}"
    );
    assert!(
        dir.path()
            .join("outbox/2026-W48/alex@shop.example.email.txt")
            .exists()
    );
    let db = rusqlite::Connection::open(dir.path().join("churn.db")).unwrap();
    let via: String = db
        .query_row(
            "SELECT via FROM send_ledger WHERE owner = 'alex@shop.example'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(via, "email");

    // The demo never posts, token or not (its owners are made up).
    let before = slack.received().len();
    let out_dir = tempfile::tempdir().unwrap();
    let out = churn()
        .args(["demo", "--out", out_dir.path().join("x").to_str().unwrap()])
        .env("SLACK_BOT_TOKEN", "xoxb-weekly")
        .env("CHURN_SLACK_API_URL", &slack.base_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(slack.received().len(), before);
}

#[test]
fn two_weekly_runs_started_together_on_one_folder_send_each_owner_once() {
    // A cron job and a person at the terminal, at the same moment: the claim in churn.db lets
    // one of them send each owner's list, and the other reports it as already sent.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slack = rt.block_on(crate::slack_server::SlackServer::start("xoxb-twice"));
    slack.add_user("alex@shop.example", "U0123ABCD");
    for round in 0..3 {
        let dir = folder(SMALL_LIST, SMALL_RULES, None);
        let d = dir.path().to_str().unwrap();
        let before = slack.posted().len();
        let spawn = || {
            churn()
                .args(["weekly", "--data", d, "--as-of", "2026-11-23", "--json"])
                .env("SLACK_BOT_TOKEN", "xoxb-twice")
                .env("CHURN_SLACK_API_URL", &slack.base_url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let reports: Vec<serde_json::Value> = [a, b]
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                assert!(out.status.success(), "round {round}: {}", stderr(&out));
                serde_json::from_str(&stdout(&out)).unwrap()
            })
            .collect();
        assert_eq!(
            slack.posted().len() - before,
            1,
            "round {round}: alex's list posted once"
        );
        for owner in ["alex@shop.example", "sam@shop.example"] {
            let statuses: Vec<&str> = reports
                .iter()
                .map(|r| {
                    r["owners"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|o| o["owner"] == owner)
                        .unwrap()["status"]
                        .as_str()
                        .unwrap()
                })
                .collect();
            let sent_by_one = statuses.iter().filter(|s| **s == "sent").count();
            assert!(
                sent_by_one >= 1
                    && statuses
                        .iter()
                        .all(|s| *s == "sent" || *s == "already_sent"),
                "round {round}: {owner} {statuses:?}"
            );
        }
        let db = rusqlite::Connection::open(dir.path().join("churn.db")).unwrap();
        let surfaced: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM audit WHERE action = 'surfaced'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(surfaced, 3, "round {round}: each name recorded once");
        let claims: i64 = db
            .query_row("SELECT COUNT(*) FROM send_claims", [], |r| r.get(0))
            .unwrap();
        assert_eq!(claims, 0, "round {round}: no claim left behind");
    }
}

#[test]
fn a_bad_rows_email_still_counts_as_a_customers() {
    // C5's date is unreadable, so the row is skipped and reported; its address is still a
    // customer's, and sam's list must not go to it.
    let list = SMALL_LIST.replace(
        "C5,Cedar Salon,alex@shop.example,c5@cust.example,2026-11-20",
        "C5,Cedar Salon,alex@shop.example,Sam <sam@shop.example>,soon",
    );
    let d = folder(&list, SMALL_RULES, None);
    let out = run(&[
        "weekly",
        "--data",
        d.path().to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["errors"][0]["line"], 6, "{r}");
    let sam = r["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == "sam@shop.example")
        .unwrap();
    assert_eq!(sam["status"], "failed");
    assert!(
        !d.path()
            .join("outbox/2026-W48/sam@shop.example.email.txt")
            .exists()
    );
}

/// Exit codes (docs/SPEC.md §10): a bad rules doc stops the run with 3, not clap's usage 2; a
/// run that completed with a failed owner is 1.
#[test]
fn weekly_exit_codes_tell_a_stopped_run_from_a_failed_owner() {
    let d = folder(
        SMALL_LIST,
        &SMALL_RULES.replace("weekly cap: 2", "weekly cap: lots"),
        None,
    );
    let dir = d.path().to_str().unwrap();
    let out = run(&["weekly", "--data", dir, "--as-of", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!d.path().join("outbox").exists());

    let list = SMALL_LIST.replace("c5@cust.example", "sam@shop.example");
    let d = folder(&list, SMALL_RULES, None);
    let dir = d.path().to_str().unwrap();
    let out = run(&["weekly", "--data", dir, "--as-of", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let out = run(&[
        "outcome", "C1", "lost", "--reason", "weather", "--data", dir,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
