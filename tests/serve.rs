//! `churn serve`: the outcome handler over real HTTP on 127.0.0.1, with `churn.db` in the data
//! folder. Slack's `response_url` is a small local server here (allowed through
//! `CHURN_SLACK_RESPONSE_URL_PREFIX`); there is no bot token, so only Reached out and Undo can
//! update rows, and Won back / Lost say so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use churn_core::notify::links::{LinkAction, LinkClaims, LinkSigner};
use churn_core::notify::slack::sign;
use serde_json::{Value, json};

use crate::util::*;

const SECRET: &str = "serve-signing-secret";
const LINK_KEY: &str = "serve-link-key";

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, hooks: &str) -> Server {
    let mut child = churn()
        .args(["serve", "--port", "0", "--data", dir.to_str().unwrap()])
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_SIGNING_SECRET_PREVIOUS", "old-secret")
        .env_remove("SLACK_BOT_TOKEN")
        .env("CHURN_LINK_SECRET", LINK_KEY)
        .env("CHURN_SLACK_RESPONSE_URL_PREFIX", hooks)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("churn serve starts");
    let addr = serve_address(&mut child);
    Server { child, addr }
}

/// One HTTP/1.1 request; (status, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// A response_url catcher: answers 200 and keeps each JSON body.
fn hooks() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut r = BufReader::new(stream);
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            if let Ok(v) = serde_json::from_slice(&body) {
                g.lock().unwrap().push(v);
            }
            let _ = r
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (format!("http://{addr}/hooks/"), got)
}

fn click_body(action: &str, customer: &str, hooks: &str) -> String {
    let value = json!({"c": customer, "w": "2026-W48", "v": "r1"}).to_string();
    let p = json!({
        "type": "block_actions", "user": {"id": "U1", "username": "alex"}, "trigger_id": "t.1",
        "container": {"channel_id": "D1", "message_ts": "1.2"},
        "response_url": format!("{hooks}T1/1/x"),
        "message": {"blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Harbor Bakery* — churning"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "late"}]},
            {"type": "actions", "block_id": format!("c:{customer}"), "elements": [
                {"type": "button", "action_id": "reached_out", "value": value},
                {"type": "button", "action_id": "won_back", "value": value},
                {"type": "button", "action_id": "lost", "value": value}]}]},
        "actions": [{"action_id": action, "value": value}]
    });
    format!("payload={}", form_encode(&p.to_string()))
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn signed_headers(body: &str, secret: &str, ts: i64) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", "application/x-www-form-urlencoded".into()),
        ("X-Slack-Request-Timestamp", ts.to_string()),
        (
            "X-Slack-Signature",
            sign(secret.as_bytes(), ts, body.as_bytes()),
        ),
    ]
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn actions(dir: &std::path::Path, action: &str) -> usize {
    audit_rows(dir).iter().filter(|(_, a)| a == action).count()
}

#[test]
fn serve_verifies_records_once_and_updates_the_row() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let (hooks_url, got) = hooks();
    let server = start(dir.path(), &hooks_url);
    let body = click_body("reached_out", "C1", &hooks_url);
    // Forged, stale, from the future: a bare 401, nothing written.
    for (secret, ts) in [
        ("nope", now()),
        (SECRET, now() - 301),
        (SECRET, now() + 301),
    ] {
        let (status, text) = http(
            &server.addr,
            "POST",
            "/slack/interactions",
            &signed_headers(&body, secret, ts),
            &body,
        );
        assert_eq!((status, text.as_str()), (401, ""));
    }
    assert_eq!(actions(dir.path(), "reached_out"), 0);
    // Signed with the previous secret (rotation), then the same click again.
    let headers = signed_headers(&body, "old-secret", now());
    assert_eq!(
        http(&server.addr, "POST", "/slack/interactions", &headers, &body).0,
        200
    );
    assert_eq!(
        http(&server.addr, "POST", "/slack/interactions", &headers, &body).0,
        200
    );
    assert_eq!(actions(dir.path(), "reached_out"), 1);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["replace_original"], true);
    assert!(
        got[0]["blocks"]
            .to_string()
            .contains("✓ Reached out by <@U1>")
    );
    assert!(
        got[1]["text"]
            .as_str()
            .unwrap()
            .contains("Already recorded")
    );
    // The row's Undo (it names the reached-out) reverts it and writes one undo row, however
    // often it is delivered.
    let undo = undo_click(&got[0]["blocks"], &hooks_url);
    let headers = signed_headers(&undo, SECRET, now());
    for _ in 0..2 {
        assert_eq!(
            http(&server.addr, "POST", "/slack/interactions", &headers, &undo).0,
            200
        );
    }
    assert_eq!(actions(dir.path(), "undo"), 1);
}

/// A click on the Undo button of these (replaced) row blocks, with its value as posted.
fn undo_click(blocks: &Value, hooks: &str) -> String {
    let value = blocks
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .find(|e| e["action_id"] == "undo")
        .expect("an Undo button")["value"]
        .clone();
    let p = json!({
        "type": "block_actions", "user": {"id": "U1", "username": "alex"}, "trigger_id": "t.1",
        "container": {"channel_id": "D1", "message_ts": "1.2"},
        "response_url": format!("{hooks}T1/1/x"),
        "message": {"blocks": blocks},
        "actions": [{"action_id": "undo", "value": value}]
    });
    format!("payload={}", form_encode(&p.to_string()))
}

/// (action, notes.undoes) of a customer's audit rows, oldest first.
fn audit_of(dir: &std::path::Path, customer: &str) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(dir.join("churn.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT action, ts, notes FROM audit WHERE customer_id = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([customer], |r| {
        let (action, ts, notes): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let notes: Value = serde_json::from_str(&notes).unwrap_or(Value::Null);
        let undoes = notes["undoes"].as_str().map(str::to_string);
        Ok((action, undoes.unwrap_or(ts)))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn the_same_undo_delivered_twice_undoes_only_its_outcome() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let (hooks_url, got) = hooks();
    let server = start(dir.path(), &hooks_url);
    // Reached out on Slack, then won back by the email link.
    let body = click_body("reached_out", "C1", &hooks_url);
    let headers = signed_headers(&body, SECRET, now());
    assert_eq!(
        http(&server.addr, "POST", "/slack/interactions", &headers, &body).0,
        200
    );
    let token = LinkSigner::new(LINK_KEY.as_bytes()).sign(&LinkClaims {
        customer_id: "C1".into(),
        action: LinkAction::WonBack,
        owner: "alex@shop.example".into(),
        expires: now() + 3600,
    });
    let form = [(
        "Content-Type",
        "application/x-www-form-urlencoded".to_string(),
    )];
    let (status, page) = http(
        &server.addr,
        "POST",
        &format!("/o/{token}"),
        &form,
        "value=50",
    );
    assert_eq!(status, 200, "{page}");
    // The result page's Undo link names the won-back; confirmed twice, it undoes it once.
    let href = page
        .split("<a href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an Undo link");
    let undo = format!("/o/{href}");
    let (status, confirm) = http(&server.addr, "GET", &undo, &[], "");
    assert_eq!(status, 200, "{confirm}");
    for _ in 0..2 {
        let (status, page) = http(&server.addr, "POST", &undo, &form, "");
        assert_eq!(status, 200, "{page}");
    }
    let audit = audit_of(dir.path(), "C1");
    let kinds: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(kinds, ["reached_out", "won_back", "undo"]);
    assert_eq!(audit[2].1, audit[1].1, "the undo names the won-back");
    // The Slack row's Undo names the reached-out: delivered twice, it undoes that one only.
    let blocks = got.lock().unwrap()[0]["blocks"].clone();
    let click = undo_click(&blocks, &hooks_url);
    let headers = signed_headers(&click, SECRET, now());
    for _ in 0..2 {
        assert_eq!(
            http(
                &server.addr,
                "POST",
                "/slack/interactions",
                &headers,
                &click
            )
            .0,
            200
        );
    }
    let audit = audit_of(dir.path(), "C1");
    let kinds: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(kinds, ["reached_out", "won_back", "undo", "undo"]);
    assert_eq!(
        audit[3].1, audit[0].1,
        "the second undo names the reached-out"
    );
    let conn = rusqlite::Connection::open(dir.path().join("churn.db")).unwrap();
    let (contact, won): (Option<String>, Option<String>) = conn
        .query_row(
            "SELECT last_contact, won_back_date FROM customer_state WHERE customer_id = 'C1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((contact, won), (None, None));
}

#[test]
fn won_back_without_a_token_says_what_is_missing() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let (hooks_url, got) = hooks();
    let server = start(dir.path(), &hooks_url);
    let body = click_body("won_back", "C2", &hooks_url);
    let headers = signed_headers(&body, SECRET, now());
    assert_eq!(
        http(&server.addr, "POST", "/slack/interactions", &headers, &body).0,
        200
    );
    assert_eq!(audit_rows(dir.path()).len(), 0);
    let got = got.lock().unwrap().clone();
    assert!(got[0]["text"].as_str().unwrap().contains("bot token"));
}

#[test]
fn concurrent_clicks_on_one_row_write_one_audit_row() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let (hooks_url, _got) = hooks();
    let server = start(dir.path(), &hooks_url);
    let body = click_body("reached_out", "C3", &hooks_url);
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let (addr, body) = (server.addr.clone(), body.clone());
            std::thread::spawn(move || {
                let headers = signed_headers(&body, SECRET, now());
                http(&addr, "POST", "/slack/interactions", &headers, &body).0
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(actions(dir.path(), "reached_out"), 1);
}

#[test]
fn email_links_get_confirms_post_writes_tampered_refused() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let server = start(dir.path(), "http://127.0.0.1:1/");
    let signer = LinkSigner::new(LINK_KEY.as_bytes());
    let token = signer.sign(&LinkClaims {
        customer_id: "C4".into(),
        action: LinkAction::WonBack,
        owner: "alex@shop.example".into(),
        expires: now() + 3600,
    });
    let path = format!("/o/{token}");
    let (status, page) = http(&server.addr, "GET", &path, &[], "");
    assert_eq!(status, 200);
    assert!(page.contains("name=\"value\""));
    assert_eq!(audit_rows(dir.path()).len(), 0, "GET never writes");
    let tampered = format!("/o/{}", token.replacen('e', "f", 1));
    let form = [(
        "Content-Type",
        "application/x-www-form-urlencoded".to_string(),
    )];
    let (status, page) = http(&server.addr, "POST", &tampered, &form, "value=10");
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid"));
    assert_eq!(audit_rows(dir.path()).len(), 0);
    let (status, page) = http(&server.addr, "POST", &path, &form, "value=%24900");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("recorded"));
    assert_eq!(actions(dir.path(), "won_back"), 1);
}

#[test]
fn serve_needs_the_signing_secret() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let out = churn()
        .args([
            "serve",
            "--port",
            "0",
            "--data",
            dir.path().to_str().unwrap(),
        ])
        .env_remove("SLACK_SIGNING_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SLACK_SIGNING_SECRET"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_300_character_customer_id_resolves_from_its_buttons() {
    use churn_core::model::{Band, ListItem};
    use churn_core::notify::message::{OwnerList, slack_messages, validate_message};
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let (hooks_url, got) = hooks();
    let server = start(dir.path(), &hooks_url);
    let id = format!("C-{}", "7".repeat(298));
    assert_eq!(id.chars().count(), 300);
    let items = vec![ListItem {
        customer_id: id.clone(),
        name: "Long Id Shop".into(),
        band: Band::Churning,
        score: 80,
        reason: "Next order is late.".into(),
        breakdown: vec![],
        lifetime_value: None,
        // A long rules version pushes the value past 2,000 characters: the hashed form.
        rules_version: "r".repeat(1800),
    }];
    let list = OwnerList {
        week: "2026-W48",
        as_of: "2026-11-23",
        owner: "alex@shop.example",
        items: &items,
        trends: None,
        gone: 0,
    };
    let message = slack_messages(&list, "D1").remove(0);
    validate_message(&message).unwrap();
    let blocks = message["blocks"].clone();
    let value = blocks[3]["elements"][0]["value"].clone();
    assert!(value.as_str().unwrap().contains("\"vh\""), "{value}");
    let p = json!({
        "type": "block_actions", "user": {"id": "U1", "username": "alex"}, "trigger_id": "t.1",
        "container": {"channel_id": "D1", "message_ts": "1.2"},
        "response_url": format!("{hooks_url}T1/1/x"),
        "message": {"blocks": blocks},
        "actions": [{"action_id": "reached_out", "value": value}]
    });
    let body = format!("payload={}", form_encode(&p.to_string()));
    let headers = signed_headers(&body, SECRET, now());
    assert_eq!(
        http(&server.addr, "POST", "/slack/interactions", &headers, &body).0,
        200
    );
    let audit = audit_of(dir.path(), &id);
    assert_eq!(audit.len(), 1, "recorded under the whole id");
    assert_eq!(audit[0].0, "reached_out");
    // The row was found and updated; its Undo resolves the same id.
    let replaced = got.lock().unwrap()[0].clone();
    assert_eq!(replaced["replace_original"], true, "{replaced}");
    validate_message(&json!({"channel": "D1", "text": "t", "blocks": replaced["blocks"]})).unwrap();
    let undo = undo_click(&replaced["blocks"], &hooks_url);
    let headers = signed_headers(&undo, SECRET, now());
    assert_eq!(
        http(&server.addr, "POST", "/slack/interactions", &headers, &undo).0,
        200
    );
    let kinds: Vec<String> = audit_of(dir.path(), &id).into_iter().map(|a| a.0).collect();
    assert_eq!(kinds, ["reached_out", "undo"]);
}

#[test]
fn a_customer_id_too_long_for_a_button_resolves_from_the_weeks_list() {
    // Over ~1,900 characters the id travels as its hash (`ch`); the week's sent list says which
    // customer it is.
    let id = format!("C2-{}", "8".repeat(2000));
    let list = SMALL_LIST.replace("C2,Maple Cafe", &format!("{id},Maple Cafe"));
    let dir = folder(&list, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    let out = churn()
        .args(["weekly", "--data", d, "--as-of", "2026-11-23", "--json"])
        .env("CHURN_LINK_SECRET", LINK_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let message: Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join("outbox/2026-W48/alex@shop.example.slack.1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let blocks = message["blocks"].clone();
    let value = blocks
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .map(|b| b["elements"][0]["value"].as_str().unwrap().to_string())
        .find(|v| v.contains("\"ch\""))
        .expect("the long id travels hashed");
    assert!(!value.contains(&id));

    let (hooks_url, _got) = hooks();
    let server = start(dir.path(), &hooks_url);
    let p = json!({
        "type": "block_actions", "user": {"id": "U1", "username": "alex"}, "trigger_id": "t.1",
        "container": {"channel_id": "D1", "message_ts": "1.2"},
        "response_url": format!("{hooks_url}T1/1/x"),
        "message": {"blocks": blocks},
        "actions": [{"action_id": "reached_out", "value": value}]
    });
    let body = format!("payload={}", form_encode(&p.to_string()));
    let headers = signed_headers(&body, SECRET, now());
    assert_eq!(
        http(&server.addr, "POST", "/slack/interactions", &headers, &body).0,
        200
    );
    let audit = audit_of(dir.path(), &id);
    assert_eq!(
        audit.iter().filter(|a| a.0 == "reached_out").count(),
        1,
        "recorded under the whole id"
    );
}

const HOME_TOKEN: &str = "xoxb-serve-home";

/// `churn serve` with a bot token, against the Slack-like server.
fn start_with_token(dir: &std::path::Path, slack: &crate::slack_server::SlackServer) -> Server {
    let mut child = churn()
        .args(["serve", "--port", "0", "--data", dir.to_str().unwrap()])
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env_remove("SLACK_SIGNING_SECRET_PREVIOUS")
        .env("SLACK_BOT_TOKEN", HOME_TOKEN)
        .env("CHURN_SLACK_API_URL", &slack.base_url)
        .env("CHURN_LINK_SECRET", LINK_KEY)
        .env("CHURN_SLACK_RESPONSE_URL_PREFIX", &slack.hooks_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("churn serve starts");
    let addr = serve_address(&mut child);
    Server { child, addr }
}

fn event_headers(body: &str, secret: &str, ts: i64) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", "application/json".into()),
        ("X-Slack-Request-Timestamp", ts.to_string()),
        (
            "X-Slack-Signature",
            sign(secret.as_bytes(), ts, body.as_bytes()),
        ),
    ]
}

/// The buttons (action_id, value) of the rows in these blocks.
fn buttons(blocks: &Value) -> Vec<(String, String)> {
    blocks
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["action_id"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_home_tab_over_churn_serve_end_to_end() {
    use crate::slack_server::{SlackServer, app_home_opened, event_callback};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slack = rt.block_on(SlackServer::start(HOME_TOKEN));
    slack.add_user("alex@shop.example", "U0123ABCD");
    slack.add_user("sam@shop.example", "U0SAM");
    slack.add_user("stranger@shop.example", "U0STRANGER");
    // Alex by member id; Sam (no list) by profile email.
    let rules = format!("{SMALL_RULES}owner sam@shop.example: slack\n");
    let dir = folder(SMALL_LIST, &rules, None);
    let d = dir.path().to_str().unwrap();
    // This week's list, posted to Alex's DM for real.
    let out = churn()
        .args(["weekly", "--data", d, "--json"])
        .env("SLACK_BOT_TOKEN", HOME_TOKEN)
        .env("CHURN_SLACK_API_URL", &slack.base_url)
        .env("CHURN_LINK_SECRET", LINK_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let list = slack.posted()[0].clone();
    let server = start_with_token(dir.path(), &slack);
    let post = |body: &str, headers: &[(&str, String)]| {
        http(&server.addr, "POST", "/slack/events", headers, body)
    };

    // url_verification: the challenge, once verified.
    let challenge =
        json!({"token": "t", "challenge": "ch4llenge-XYZ", "type": "url_verification"}).to_string();
    assert_eq!(
        post(&challenge, &event_headers(&challenge, SECRET, now())),
        (200, "ch4llenge-XYZ".to_string())
    );
    assert_eq!(
        post(&challenge, &event_headers(&challenge, "nope", now())).0,
        401
    );

    // Forged, stale, unsigned: a bare 401 and no Home.
    let opened = event_callback("Ev0001", app_home_opened("U0123ABCD")).to_string();
    for headers in [
        event_headers(&opened, "nope", now()),
        event_headers(&opened, SECRET, now() - 301),
        vec![("Content-Type", "application/json".to_string())],
        event_headers(&opened, SECRET, now())
            .into_iter()
            .filter(|(k, _)| *k != "X-Slack-Signature")
            .collect(),
    ] {
        assert_eq!(post(&opened, &headers), (401, String::new()));
    }
    // An event the handler does not act on: 200, nothing published.
    let other = event_callback(
        "Ev0002",
        json!({"type": "member_joined_channel", "user": "U0123ABCD", "channel": "C1"}),
    )
    .to_string();
    assert_eq!(post(&other, &event_headers(&other, SECRET, now())).0, 200);
    assert!(slack.homes().is_empty());

    // Alex opens the Home: this week's names with the list message's very buttons.
    let first = event_headers(&opened, SECRET, now());
    assert_eq!(post(&opened, &first).0, 200);
    // A replay of that very request (same signature, within the 5 minutes): answered, not
    // published again; nor are Slack's retries of the event (X-Slack-Retry-Num).
    assert_eq!(post(&opened, &first).0, 200);
    for n in 1..=2 {
        let mut h = event_headers(&opened, SECRET, now());
        h.push(("X-Slack-Retry-Num", n.to_string()));
        h.push(("X-Slack-Retry-Reason", "http_timeout".to_string()));
        assert_eq!(post(&opened, &h).0, 200);
    }
    let homes = slack.homes();
    assert_eq!(
        homes.len(),
        1,
        "published to {:?}",
        homes.iter().map(|h| &h.0).collect::<Vec<_>>()
    );
    assert_eq!(homes[0].0, "U0123ABCD");
    let home = homes[0].1.clone();
    assert!(
        home.to_string().contains("2 of 2 names still open"),
        "{home}"
    );
    assert_eq!(buttons(&home["blocks"]), buttons(&list["blocks"]));

    // A click on the Home (a view, no message, no response_url) records and republishes it.
    let (action, value) = buttons(&home["blocks"])[0].clone();
    assert_eq!(action, "reached_out");
    let customer: Value = serde_json::from_str(&value).unwrap();
    let click = json!({
        "type": "block_actions", "user": {"id": "U0123ABCD", "username": "alex"},
        "trigger_id": slack.issue_trigger(Duration::ZERO),
        "container": {"type": "view", "view_id": "VH00001"},
        "view": {"id": "VH00001", "type": "home", "blocks": home["blocks"]},
        "actions": [{"action_id": "reached_out", "value": value, "type": "button"}]
    });
    let body = format!("payload={}", form_encode(&click.to_string()));
    let headers = signed_headers(&body, SECRET, now());
    assert_eq!(
        http(&server.addr, "POST", "/slack/interactions", &headers, &body).0,
        200
    );
    assert_eq!(
        audit_of(dir.path(), customer["c"].as_str().unwrap())
            .iter()
            .filter(|a| a.0 == "reached_out")
            .count(),
        1
    );
    let home = slack.home("U0123ABCD").unwrap();
    assert_eq!(slack.homes().len(), 2, "republished after the outcome");
    let text = home.to_string();
    assert!(text.contains("1 of 2 names still open"), "{text}");
    assert!(text.contains("Reached out *1*"), "{text}");
    assert_eq!(buttons(&home["blocks"]).len(), 3);

    // Sam: an owner found by profile email (users.info), with his own list only.
    let sam = event_callback("Ev0003", app_home_opened("U0SAM")).to_string();
    assert_eq!(post(&sam, &event_headers(&sam, SECRET, now())).0, 200);
    assert_eq!(slack.received_for("users.info").len(), 1);
    let sams = slack.home("U0SAM").unwrap().to_string();
    assert!(sams.contains("Willow Yoga"), "{sams}");
    assert!(!sams.contains("Harbor"), "{sams}");
    // A member who is no owner: told so, nothing of anyone's list.
    let stranger = event_callback("Ev0004", app_home_opened("U0STRANGER")).to_string();
    assert_eq!(
        post(&stranger, &event_headers(&stranger, SECRET, now())).0,
        200
    );
    let seen = slack.home("U0STRANGER").unwrap().to_string();
    assert!(seen.contains("not an owner"), "{seen}");
    assert!(!seen.contains("Harbor") && !seen.contains("C1"), "{seen}");
}

#[test]
fn the_slack_manifest_turns_on_the_home_tab_and_its_event() {
    let manifest = std::fs::read_to_string(repo().join("slack/manifest.yaml")).unwrap();
    let lines: Vec<&str> = manifest
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .collect();
    for want in [
        "home_tab_enabled: true",
        "event_subscriptions:",
        "request_url: https://<function-url>/slack/events",
        "- app_home_opened",
        "request_url: https://<function-url>/slack/interactions",
        "- users:read",
        "- users:read.email",
    ] {
        assert!(lines.contains(&want), "{want} missing from\n{manifest}");
    }
    assert_eq!(churn_outcome::EVENTS_PATH, "/slack/events");
}
