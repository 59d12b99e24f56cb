//! `churn digest`: the watch band, this week's outcomes and who came back, from a fixture audit.

use std::path::Path;

use churn_core::notify::message::validate_message;
use serde_json::Value;

use crate::util::*;

/// SMALL_LIST plus C7, in the watch band (sour mood only), with a name Slack must escape.
fn list() -> String {
    format!(
        "{SMALL_LIST}C7,Birch & Co <Ltd>,sam@shop.example,c7@cust.example,2026-11-20,30,-0.9,10\n"
    )
}

/// Appends an audit row as the outcome handler or the scorer would have written it.
fn audit(dir: &Path, id: &str, ts: &str, action: &str, notes: &str) {
    let conn = rusqlite::Connection::open(dir.join("churn.db")).unwrap();
    conn.execute(
        "INSERT INTO audit (customer_id, ts, action, by_user, before, after, notes)
         VALUES (?1, ?2, ?3, 'sam', '{}', '{}', ?4)",
        [id, ts, action, notes],
    )
    .unwrap();
}

fn names(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["customer_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn digest_shows_the_watch_band_this_weeks_outcomes_and_who_came_back() {
    let dir = folder(
        &list(),
        SMALL_RULES,
        Some("timezone = \"Asia/Singapore\"\ndigest_channel = \"#churn-digest\"\n"),
    );
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    // Last week (Friday 20 Nov, and Sunday 22 Nov 23:30 in Singapore): not this week's.
    audit(
        dir.path(),
        "C4",
        "2026-11-20T03:00:00.000000000Z",
        "reached_out",
        "{}",
    );
    audit(
        dir.path(),
        "C3",
        "2026-11-22T15:30:00.000000000Z",
        "lost",
        r#"{"lost_reason":"price"}"#,
    );
    // This week.
    audit(
        dir.path(),
        "C1",
        "2026-11-23T02:00:00.000000000Z",
        "reached_out",
        "{}",
    );
    audit(
        dir.path(),
        "C2",
        "2026-11-24T02:00:00.000000000Z",
        "won_back",
        r#"{"recovered_value":1200.0}"#,
    );
    audit(
        dir.path(),
        "C6",
        "2026-11-25T02:00:00.000000000Z",
        "lost",
        r#"{"lost_reason":"competitor","note":"went elsewhere"}"#,
    );
    audit(
        dir.path(),
        "C1",
        "2026-11-25T03:00:00.000000000Z",
        "won_back",
        "{}",
    );
    audit(
        dir.path(),
        "C1",
        "2026-11-25T03:01:00.000000000Z",
        "undo",
        r#"{"undoes":"2026-11-25T03:00:00.000000000Z"}"#,
    );
    audit(
        dir.path(),
        "C5",
        "2026-11-26T02:00:00.000000000Z",
        "reactivated",
        r#"{"last_order_date":"2026-11-25"}"#,
    );
    // After the as-of day: not yet.
    audit(
        dir.path(),
        "C4",
        "2026-11-27T16:00:00.000000000Z",
        "lost",
        r#"{"lost_reason":"closed"}"#,
    );

    let r = run_json(&["digest", "--data", d, "--as-of", "2026-11-27"]);
    assert_eq!(r["week"], "2026-W48");
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some("2026-11-23"), Some("2026-11-27"))
    );
    assert_eq!(names(&r["watch"]), ["C7"]);
    assert_eq!(r["watch"][0]["name"], "Birch & Co <Ltd>");
    assert_eq!(
        names(&r["outcomes"]),
        ["C1", "C2", "C6"],
        "undone and other weeks' left out"
    );
    assert_eq!(r["outcomes"][1]["detail"], "value 1,200");
    assert_eq!(r["outcomes"][2]["detail"], "switched to a competitor");
    assert_eq!(names(&r["came_back"]), ["C5"]);
    assert_eq!(r["channel"], "#churn-digest");
    assert_eq!(r["messages"], 1);

    let file = r["files"][0].as_str().unwrap();
    assert!(file.ends_with("outbox/2026-W48/digest.json"), "{file}");
    let body: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    validate_message(&body).unwrap();
    assert_eq!(body["channel"], "#churn-digest");
    let all: String = body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(all.contains("Birch &amp; Co &lt;Ltd&gt;"), "{all}");
    assert!(
        all.contains("Maple Cafe") && all.contains("Won back"),
        "{all}"
    );
    assert!(
        !all.contains("Sunny Books"),
        "last week's outcome is not shown: {all}"
    );

    let out = run(&["digest", "--data", d, "--as-of", "2026-11-27"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("Came back on their own (1)"), "{text}");
    assert!(text.contains("Cedar Salon"), "{text}");
    assert!(text.contains("digest.json"), "{text}");
}

#[test]
fn an_outcome_recorded_now_is_in_this_weeks_digest() {
    let dir = folder(
        &list(),
        SMALL_RULES,
        Some("digest_channel = \"C0DIGEST\"\n"),
    );
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    run_json(&["outcome", "C2", "lost", "--reason", "service", "--data", d]);
    let r = run_json(&["digest", "--data", d]);
    assert_eq!(names(&r["outcomes"]), ["C2"]);
    assert_eq!(r["outcomes"][0]["by_user"], "tester");
}

#[test]
fn without_a_channel_it_prints_and_says_so() {
    let dir = folder(&list(), SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    let out = run(&["digest", "--data", d, "--as-of", "2026-11-27"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("Watch band (1)"));
    assert!(
        stderr(&out).contains("no digest channel is configured"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("outbox/2026-W48/digest.json").exists());
    let r = run_json(&["digest", "--data", d, "--as-of", "2026-11-27"]);
    assert!(r["channel"].is_null());
    assert_eq!(r["files"], Value::Array(vec![]));
}

#[test]
fn an_empty_week_says_so_and_bad_input_fails() {
    let dir = folder(&list(), SMALL_RULES, Some("digest_channel = \"#c\"\n"));
    let d = dir.path().to_str().unwrap();
    let out = run(&["digest", "--data", d, "--as-of", "2026-11-27", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("A quiet week"), "{}", stdout(&out));
    assert!(
        !dir.path().join("outbox").exists(),
        "a dry run writes nothing"
    );
    let bad = run(&["digest", "--data", d, "--as-of", "Friday"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--as-of"), "{}", stderr(&bad));
}

#[test]
fn with_a_bot_token_the_digest_is_posted_and_a_slack_error_fails_clearly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slack = rt.block_on(crate::slack_server::SlackServer::start("xoxb-digest"));
    slack.add_channel("C0DIGEST");
    let dir = folder(
        &list(),
        SMALL_RULES,
        Some("digest_channel = \"C0DIGEST\"\n"),
    );
    let d = dir.path().to_str().unwrap();
    run_json(&["weekly", "--data", d, "--as-of", "2026-11-23"]);
    let digest = |extra: &[&str]| {
        let mut args = vec!["digest", "--data", d, "--as-of", "2026-11-27"];
        args.extend(extra);
        churn()
            .args(&args)
            .env("SLACK_BOT_TOKEN", "xoxb-digest")
            .env("CHURN_SLACK_API_URL", &slack.base_url)
            .output()
            .unwrap()
    };
    // A dry run posts nothing.
    assert!(digest(&["--dry-run"]).status.success());
    assert!(slack.posted().is_empty());

    let out = digest(&["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let posted = slack.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(r["posted"].as_array().unwrap().len(), 1);
    assert_eq!(posted[0]["channel"], "C0DIGEST");
    // What was posted is what the outbox holds.
    let file = r["files"][0].as_str().unwrap();
    let body: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(posted[0], body);
    let calls = slack.received_for("chat.postMessage");
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bearer xoxb-digest")
    );

    // The bot is not in the channel: a clear error, the outbox still written.
    slack.script(
        "chat.postMessage",
        [crate::slack_server::Fault::Error("not_in_channel")],
    );
    let out = digest(&[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("posting the digest to C0DIGEST failed") && err.contains("not_in_channel"),
        "{err}"
    );
    assert!(std::path::Path::new(file).exists());
    assert!(!err.contains("xoxb-digest"), "the token never shows: {err}");
}
