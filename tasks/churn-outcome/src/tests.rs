//! The handler over an in-memory store with the same conditional-write rule as the real ones and a
//! Slack responder that records what it was asked; end-to-end tests against moto and the
//! Slack-like server live in churn-lambda and the CLI tests.

use std::sync::Mutex;

use churn_core::notify::links::{LinkAction, LinkClaims, LinkSigner};
use churn_core::notify::slack::{SigningSecrets, sign};
use churn_core::outcome::state::{AuditItem, Change, CustomerState};
use churn_core::ports::{Applied, OutcomeStore, PortError, SlackResponder};
use serde_json::{Value, json};

use super::*;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const NOW: i64 = 1_764_000_000;

#[derive(Default)]
struct MemStore {
    inner: Mutex<(Vec<CustomerState>, Vec<AuditItem>)>,
}

impl OutcomeStore for MemStore {
    async fn state(&self, id: &str) -> Result<CustomerState, PortError> {
        let g = self.inner.lock().unwrap();
        Ok(g.0
            .iter()
            .find(|s| s.customer_id == id)
            .cloned()
            .unwrap_or_else(|| CustomerState::new(id)))
    }
    async fn history(&self, id: &str) -> Result<Vec<AuditItem>, PortError> {
        let g = self.inner.lock().unwrap();
        Ok(g.1
            .iter()
            .filter(|a| a.customer_id == id)
            .cloned()
            .collect())
    }
    async fn apply(&self, change: &Change, by: &str) -> Result<Applied, PortError> {
        let mut g = self.inner.lock().unwrap();
        let id = &change.state.customer_id;
        let cur =
            g.0.iter()
                .find(|s| &s.customer_id == id)
                .cloned()
                .unwrap_or_else(|| CustomerState::new(id));
        if change.is_noop() || change.before.iter().any(|(f, v)| &cur.field(f) != v) {
            return Ok(Applied::AlreadyRecorded);
        }
        g.0.retain(|s| &s.customer_id != id);
        g.0.push(change.state.clone());
        let ts = format!("t{:04}", g.1.len());
        g.1.push(AuditItem {
            customer_id: id.clone(),
            ts: ts.clone(),
            action: change.action.into(),
            by_user: by.into(),
            before: change.before.clone(),
            after: change.after.clone(),
            notes: change.notes.clone(),
        });
        Ok(Applied::Recorded { ts })
    }
}

#[derive(Default)]
struct Recorder {
    token: bool,
    calls: Mutex<Vec<(String, Value)>>,
    /// What `conversations.history` answers.
    current: Mutex<Option<Vec<Value>>>,
}

impl SlackResponder for Recorder {
    fn has_token(&self) -> bool {
        self.token
    }
    async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), PortError> {
        self.calls.lock().unwrap().push((
            "views.open".into(),
            json!({"trigger_id": trigger_id, "view": view}),
        ));
        Ok(())
    }
    async fn message_blocks(&self, c: &str, ts: &str) -> Result<Option<Vec<Value>>, PortError> {
        self.calls.lock().unwrap().push((
            "conversations.history".into(),
            json!({"channel": c, "ts": ts}),
        ));
        Ok(self.current.lock().unwrap().clone())
    }
    async fn update_message(
        &self,
        c: &str,
        ts: &str,
        text: &str,
        blocks: &[Value],
    ) -> Result<(), PortError> {
        self.calls.lock().unwrap().push((
            "chat.update".into(),
            json!({"channel": c, "ts": ts, "text": text, "blocks": blocks}),
        ));
        Ok(())
    }
    async fn respond(&self, url: &str, body: &Value) -> Result<(), PortError> {
        self.calls.lock().unwrap().push((url.into(), body.clone()));
        Ok(())
    }
}

fn handler(token: bool) -> OutcomeHandler<MemStore, Recorder> {
    OutcomeHandler::new(
        MemStore::default(),
        Recorder {
            token,
            ..Default::default()
        },
        SigningSecrets::new(SECRET, Some("old-secret")),
        LinkSigner::new(b"link key"),
        TimeZone::UTC,
    )
    .with_clock(Arc::new(|| NOW))
}

fn signed(body: &str, secret: &str, ts: i64) -> Request {
    Request {
        method: "POST".into(),
        path: SLACK_PATH.into(),
        headers: vec![
            ("X-Slack-Request-Timestamp".into(), ts.to_string()),
            (
                "X-Slack-Signature".into(),
                sign(secret.as_bytes(), ts, body.as_bytes()),
            ),
        ],
        body: body.as_bytes().to_vec(),
        is_base64: false,
    }
}

fn click(action: &str) -> String {
    let value = json!({"c": "C1", "w": "2026-W48", "v": "r1"}).to_string();
    let p = json!({
        "type": "block_actions", "user": {"id": "U1", "username": "sam"}, "trigger_id": "tr.1",
        "container": {"channel_id": "D1", "message_ts": "1.2"},
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "message": {"blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": "Harbor <Bakery> — churning · score 80\nlate", "emoji": false}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "breakdown"}]},
            {"type": "actions", "block_id": "c:C1", "elements": [
                {"type": "button", "action_id": "reached_out", "value": value},
                {"type": "button", "action_id": "won_back", "value": value},
                {"type": "button", "action_id": "lost", "value": value}]}]},
        "actions": [{"action_id": action, "value": value}]
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &p.to_string())
        .finish()
}

async fn audit_len(h: &OutcomeHandler<MemStore, Recorder>) -> usize {
    h.store().inner.lock().unwrap().1.len()
}

#[tokio::test]
async fn a_signed_click_records_once_and_updates_the_row() {
    let h = handler(false);
    let body = click("reached_out");
    let r = h.handle(signed(&body, SECRET, NOW)).await;
    assert_eq!(r.status, 200);
    assert_eq!(audit_len(&h).await, 1);
    let calls = h.slack.calls.lock().unwrap().clone();
    assert_eq!(calls[0].1["replace_original"], true);
    assert_eq!(calls[0].1["blocks"][2]["elements"][0]["action_id"], "undo");
    // Delivered again: nothing written, the owner is told.
    let r = h.handle(signed(&body, SECRET, NOW)).await;
    assert_eq!(r.status, 200);
    assert_eq!(audit_len(&h).await, 1);
    let calls = h.slack.calls.lock().unwrap().clone();
    assert_eq!(calls[1].1["response_type"], "ephemeral");
    assert!(
        calls[1].1["text"]
            .as_str()
            .unwrap()
            .contains("Already recorded")
    );
}

#[tokio::test]
async fn forged_old_future_and_unsigned_requests_get_a_bare_401_and_write_nothing() {
    let h = handler(false);
    let body = click("reached_out");
    for req in [
        signed(&body, "wrong-secret", NOW),
        signed(&body, SECRET, NOW - 301),
        signed(&body, SECRET, NOW + 301),
        Request {
            headers: vec![],
            ..signed(&body, SECRET, NOW)
        },
        {
            let mut r = signed(&body, SECRET, NOW);
            r.body.push(b' ');
            r
        },
    ] {
        let r = h.handle(req).await;
        assert_eq!((r.status, r.body.as_str()), (401, ""));
    }
    assert_eq!(audit_len(&h).await, 0);
    // ±299 s and the previous secret are accepted.
    assert_eq!(h.handle(signed(&body, SECRET, NOW + 299)).await.status, 200);
    assert_eq!(
        h.handle(signed(&body, "old-secret", NOW - 299))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_base64_body_is_decoded_before_the_signature_is_checked() {
    let h = handler(false);
    let body = click("reached_out");
    let mut req = signed(&body, SECRET, NOW);
    req.body = base64::engine::general_purpose::STANDARD
        .encode(body.as_bytes())
        .into_bytes();
    req.is_base64 = true;
    assert_eq!(h.handle(req.clone()).await.status, 200);
    assert_eq!(audit_len(&h).await, 1);
    // The same base64 body without the flag is signed over the wrong bytes.
    req.is_base64 = false;
    assert_eq!(h.handle(req.clone()).await.status, 401);
    // Not base64 at all.
    req.is_base64 = true;
    req.body = b"%%%".to_vec();
    assert_eq!(h.handle(req).await.status, 401);
    // Too large, before decoding.
    let mut big = signed("x", SECRET, NOW);
    big.body = vec![b'A'; MAX_BODY_BYTES * 2];
    big.is_base64 = true;
    assert_eq!(h.handle(big).await.status, 401);
}

#[tokio::test]
async fn won_back_without_a_token_says_so_and_records_nothing() {
    let h = handler(false);
    let r = h.handle(signed(&click("won_back"), SECRET, NOW)).await;
    assert_eq!(r.status, 200);
    let calls = h.slack.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].1["text"].as_str().unwrap().contains("bot token"));
    assert_eq!(audit_len(&h).await, 0);
}

#[tokio::test]
async fn lost_opens_the_modal_with_the_final_row_in_its_metadata() {
    let h = handler(true);
    h.handle(signed(&click("lost"), SECRET, NOW)).await;
    let calls = h.slack.calls.lock().unwrap().clone();
    assert_eq!(calls[0].0, "views.open");
    let view = &calls[0].1["view"];
    assert_eq!(view["callback_id"], "lost");
    assert!(
        view["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Why did we lose Harbor <Bakery>?")
    );
    let meta: ModalMetadata =
        serde_json::from_str(view["private_metadata"].as_str().unwrap()).unwrap();
    assert_eq!(meta.customer_id, "C1");
    assert!(meta.blocks.is_some());
    assert_eq!(audit_len(&h).await, 0, "opening the form writes nothing");
}

#[tokio::test]
async fn a_response_url_off_slacks_host_is_never_called() {
    let h = handler(false);
    let body = click("reached_out").replace(
        "https%3A%2F%2Fhooks.slack.com%2Factions",
        "https%3A%2F%2Fevil.example%2Fx",
    );
    assert!(body.contains("evil.example"));
    assert_eq!(h.handle(signed(&body, SECRET, NOW)).await.status, 200);
    assert_eq!(audit_len(&h).await, 1);
    assert!(h.slack.calls.lock().unwrap().is_empty());
}

fn link(h: &OutcomeHandler<MemStore, Recorder>, action: LinkAction, expires: i64) -> String {
    let token = h.links.sign(&LinkClaims {
        customer_id: "C<1>".into(),
        action,
        owner: "dana@example.com".into(),
        expires,
    });
    format!("/o/{token}")
}

fn get(path: &str) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        ..Default::default()
    }
}

fn post(path: &str, form: &str) -> Request {
    Request {
        method: "POST".into(),
        path: path.into(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form.as_bytes().to_vec(),
        is_base64: false,
    }
}

#[tokio::test]
async fn email_links_confirm_on_get_and_write_only_on_post() {
    let h = handler(false);
    let lost = link(&h, LinkAction::Lost, NOW + 100);
    for _ in 0..3 {
        let r = h.handle(get(&lost)).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("<select id=\"reason\""));
        assert!(r.body.contains("C&lt;1&gt;"), "escaped");
        assert!(!r.body.contains("C<1>"));
        assert!(
            !r.body.contains("dana@"),
            "the owner's address is not shown"
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert_eq!(audit_len(&h).await, 0, "GET never writes");
    let r = h.handle(post(&lost, "reason=")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Pick a reason"));
    let r = h
        .handle(post(&lost, "reason=competitor&note=%3Cb%3EBigCo"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("recorded"));
    let r = h.handle(post(&lost, "reason=competitor&note=x")).await;
    assert!(r.body.contains("already recorded"));
    let g = h.store().inner.lock().unwrap();
    assert_eq!(g.1.len(), 1);
    assert_eq!(g.1[0].by_user, "dana@example.com");
    assert_eq!(g.1[0].notes["note"], "<b>BigCo");
}

#[tokio::test]
async fn tampered_and_expired_links_get_a_clear_page_and_write_nothing() {
    let h = handler(false);
    let won = link(&h, LinkAction::WonBack, NOW - 1);
    let r = h.handle(get(&won)).await;
    assert_eq!(r.status, 410);
    assert!(r.body.contains("expired"));
    assert_eq!(h.handle(post(&won, "value=5")).await.status, 410);
    let good = link(&h, LinkAction::WonBack, NOW + 100);
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let r = h.handle(post(&tampered, "value=5")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not valid"));
    assert_eq!(h.handle(post(&good, "value=lots")).await.status, 400);
    assert_eq!(audit_len(&h).await, 0);
    let r = h.handle(post(&good, "value=%241%2C200.50")).await;
    assert_eq!(r.status, 200);
    let g = h.store().inner.lock().unwrap();
    assert_eq!(g.1[0].notes["recovered_value"], 1200.5);
}

#[tokio::test]
async fn other_paths_and_methods() {
    let h = handler(false);
    assert_eq!(h.handle(get("/")).await.status, 404);
    assert_eq!(h.handle(get(SLACK_PATH)).await.status, 405);
    let mut del = get("/o/x");
    del.method = "DELETE".into();
    assert_eq!(h.handle(del).await.status, 405);
}

/// The sample events under events/ are real: the Slack click verifies with Slack's published
/// example secret at its own timestamp, and the email token with `sample-link-key`.
#[tokio::test]
async fn the_sample_events_verify() {
    let ev = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    let click = ev(include_str!("../../../events/outcome-slack-click.json"));
    let h = handler(false).with_clock(Arc::new(|| 1_795_075_200));
    let req = event::request_from_function_url(&click).unwrap();
    let r = h.handle(req).await;
    assert_eq!(r.status, 200);
    assert_eq!(audit_len(&h).await, 1);
    let h = OutcomeHandler::new(
        MemStore::default(),
        Recorder::default(),
        SigningSecrets::new(SECRET, None),
        LinkSigner::new(b"sample-link-key"),
        TimeZone::UTC,
    )
    .with_clock(Arc::new(|| 1_795_075_200));
    let get = ev(include_str!("../../../events/outcome-email-get.json"));
    let r = h
        .handle(event::request_from_function_url(&get).unwrap())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(h.store().inner.lock().unwrap().1.len(), 0);
    let post = ev(include_str!("../../../events/outcome-email-post.json"));
    let r = h
        .handle(event::request_from_function_url(&post).unwrap())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        h.store().inner.lock().unwrap().1[0].notes["lost_reason"],
        "competitor"
    );
}

/// A click on `action` with this button `value`, from a message with these `blocks`.
fn click_value(action: &str, value: &str, blocks: &Value) -> String {
    let p = json!({
        "type": "block_actions", "user": {"id": "U1", "username": "sam"}, "trigger_id": "tr.1",
        "container": {"channel_id": "D1", "message_ts": "1.2"},
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "message": {"blocks": blocks},
        "actions": [{"action_id": action, "value": value}]
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &p.to_string())
        .finish()
}

/// Submits the last opened view with these state values.
fn submission(h: &OutcomeHandler<MemStore, Recorder>, values: Value) -> String {
    let view = h
        .slack
        .calls
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(k, _)| k == "views.open")
        .map(|(_, v)| v["view"].clone())
        .expect("a view was opened");
    let p = json!({"type": "view_submission", "user": {"id": "U1", "name": "sam"},
        "view": {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                 "state": {"values": values}}});
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &p.to_string())
        .finish()
}

/// The blocks of the last row replacement posted to the response_url.
fn last_blocks(h: &OutcomeHandler<MemStore, Recorder>) -> Value {
    h.slack
        .calls
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(_, b)| b["replace_original"] == true)
        .map(|(_, b)| b["blocks"].clone())
        .expect("a row replacement")
}

fn undo_value(blocks: &Value) -> String {
    blocks
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .find(|e| e["action_id"] == "undo")
        .expect("an Undo button")["value"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_same_signed_undo_delivered_twice_undoes_only_its_outcome() {
    let h = handler(true);
    h.handle(signed(&click("reached_out"), SECRET, NOW)).await;
    // Won back through its form.
    let value = json!({"c": "C1", "w": "2026-W48", "v": "r1"}).to_string();
    h.handle(signed(
        &click_value("won_back", &value, &json!(click_blocks())),
        SECRET,
        NOW,
    ))
    .await;
    let r = h
        .handle(signed(
            &submission(&h, json!({"value": {"value": {"value": "250"}}})),
            SECRET,
            NOW,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let blocks = last_blocks(&h);
    let undo = undo_value(&blocks);
    let won_ts = h.store().inner.lock().unwrap().1[1].ts.clone();
    assert_eq!(
        serde_json::from_str::<Value>(&undo).unwrap()["t"],
        won_ts.as_str(),
        "the Undo names the won-back"
    );
    let body = click_value("undo", &undo, &blocks);
    for _ in 0..2 {
        assert_eq!(h.handle(signed(&body, SECRET, NOW)).await.status, 200);
    }
    let g = h.store().inner.lock().unwrap();
    let actions: Vec<&str> = g.1.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["reached_out", "won_back", "undo"]);
    assert_eq!(g.1[2].notes["undoes"], won_ts.as_str());
    let st = g.0.iter().find(|s| s.customer_id == "C1").unwrap();
    assert_eq!(st.won_back_date, None);
    assert!(
        st.last_contact.is_some(),
        "the reached-out is never undone by the repeat"
    );
    drop(g);
    let calls = h.slack.calls.lock().unwrap().clone();
    let last = &calls.last().unwrap().1;
    assert_eq!(last["response_type"], "ephemeral");
    assert!(last["text"].as_str().unwrap().contains("nothing changed"));
}

fn click_blocks() -> Vec<Value> {
    let value = json!({"c": "C1", "w": "2026-W48", "v": "r1"}).to_string();
    vec![
        json!({"type": "section", "text": {"type": "plain_text", "text": "Harbor <Bakery> — churning · score 80\nlate", "emoji": false}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "breakdown"}]}),
        json!({"type": "actions", "block_id": "c:C1", "elements": [
            {"type": "button", "action_id": "reached_out", "value": value},
            {"type": "button", "action_id": "won_back", "value": value},
            {"type": "button", "action_id": "lost", "value": value}]}),
    ]
}

#[tokio::test]
async fn an_undo_that_names_no_outcome_changes_nothing() {
    let h = handler(false);
    h.handle(signed(&click("reached_out"), SECRET, NOW)).await;
    let value = json!({"c": "C1", "w": "2026-W48"}).to_string();
    let r = h
        .handle(signed(
            &click_value("undo", &value, &last_blocks(&h)),
            SECRET,
            NOW,
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(audit_len(&h).await, 1);
    let calls = h.slack.calls.lock().unwrap().clone();
    assert!(
        calls.last().unwrap().1["text"]
            .as_str()
            .unwrap()
            .contains("does not say which outcome")
    );
}

#[tokio::test]
async fn the_email_undo_link_undoes_its_outcome_once() {
    let h = handler(false);
    let reached = link(&h, LinkAction::ReachedOut, NOW + 100);
    h.handle(post(&reached, "")).await;
    let won = link(&h, LinkAction::WonBack, NOW + 100);
    let r = h.handle(post(&won, "value=10")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let href = r
        .body
        .split("<a href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an Undo link")
        .to_string();
    let undo = format!("/o/{href}");
    let page = h.handle(get(&undo)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("method=\"post\""));
    assert!(page.body.contains("Undo the outcome you just recorded"));
    assert_eq!(audit_len(&h).await, 2, "GET never writes");
    let first = h.handle(post(&undo, "")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = h.handle(post(&undo, "")).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert!(second.body.contains("nothing changed"), "{}", second.body);
    let g = h.store().inner.lock().unwrap();
    let actions: Vec<&str> = g.1.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["reached_out", "won_back", "undo"]);
    assert_eq!(g.1[2].notes["undoes"], g.1[1].ts.as_str());
    assert_eq!(g.1[2].by_user, "dana@example.com");
    assert!(g.0[0].last_contact.is_some());
    assert_eq!(g.0[0].won_back_date, None);
}

#[tokio::test]
async fn a_recovered_value_out_of_bounds_is_refused_on_the_page_and_in_the_form() {
    let h = handler(true);
    let won = link(&h, LinkAction::WonBack, NOW + 100);
    for bad in ["1000000000.01", "12.345", "-3"] {
        let r = h.handle(post(&won, &format!("value={bad}"))).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.body.contains("0 to 1,000,000,000"), "{}", r.body);
    }
    assert_eq!(audit_len(&h).await, 0);
    h.handle(signed(&click("won_back"), SECRET, NOW)).await;
    let r = h
        .handle(signed(
            &submission(&h, json!({"value": {"value": {"value": "2e9"}}})),
            SECRET,
            NOW,
        ))
        .await;
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["response_action"], "errors");
    assert!(
        body["errors"]["value"]
            .as_str()
            .unwrap()
            .contains("1,000,000,000")
    );
    assert_eq!(audit_len(&h).await, 0);
}

#[tokio::test]
async fn a_button_with_only_a_hashed_id_says_so_and_records_nothing() {
    let h = handler(false);
    let value = json!({"ch": "0123456789abcdef0123456789abcdef", "w": "2026-W48"}).to_string();
    let r = h
        .handle(signed(
            &click_value("reached_out", &value, &json!(click_blocks())),
            SECRET,
            NOW,
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(audit_len(&h).await, 0);
    let calls = h.slack.calls.lock().unwrap().clone();
    assert!(
        calls[0].1["text"]
            .as_str()
            .unwrap()
            .contains("too long for a Slack button")
    );
}

mod home;
