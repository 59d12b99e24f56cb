//! The outcome Lambda end to end: Function URL events into `OutcomeApp::handle`, with the state and
//! audit in moto's DynamoDB, the secrets in moto's Secrets Manager, and Slack played by the
//! Slack-like server (views.open with the 3-second trigger window and view checks, chat.update,
//! response_urls with 5 uses). A list is first posted for real through `SlackNotifier`, and every
//! click is built from the message as the fake then holds it.

use churn_test_support::moto as support;
use churn_test_support::slack_server;

use std::time::Duration;

use base64::Engine as _;
use churn_aws::{AwsClients, DynamoDbStateStore, TableNames};
use churn_core::model::{Band, ListItem};
use churn_core::notify::links::{LinkAction, LinkClaims, LinkSigner};
use churn_core::notify::message::{OwnerList, slack_messages};
use churn_core::notify::slack::sign;
use churn_core::outcome::state::{Status, reactivate};
use churn_delivery::{RetryPolicy, SlackNotifier, SlackRecipient, SlackToken};
use churn_lambda::outcome::{OutcomeApp, OutcomeEnv};
use serde_json::{Value, json};
use slack_server::SlackServer;

const TOKEN: &str = "xoxb-outcome-test";
const SIGNING: &str = "signing-secret-for-tests";
const LINK_KEY: &str = "link-key-for-tests";
const OWNER: &str = "dana@example.com";
const OWNER_ID: &str = "U0OWNER1";
const RULES: &str = "\
signal overdue
  measure: overdue_ratio
  at least 2.0: 60 points
band churning: at least 75
band at-risk: at least 50
band watch: at least 25
owner dana@example.com: slack U0OWNER1
owner lee@example.com: email
";

struct World {
    app: OutcomeApp,
    clients: AwsClients,
    tables: TableNames,
    slack: SlackServer,
    channel: String,
    ts: String,
}

async fn world(customers: usize) -> World {
    let clients = support::clients().await;
    let tables = support::create_tables(&clients).await;
    // Every key in one JSON secret, as deployed (cp/keys); no previous signing secret.
    let keys = support::unique("cp-keys");
    clients
        .secretsmanager
        .create_secret()
        .name(&keys)
        .secret_string(
            json!({"slack_bot_token": TOKEN, "slack_signing_secret": SIGNING, "email_link_key": LINK_KEY})
                .to_string(),
        )
        .send()
        .await
        .expect("create secret");
    let slack = SlackServer::start(TOKEN).await;
    slack.add_user(OWNER, OWNER_ID);
    // The rules doc's owner lines, for the Home tab.
    let rules_bucket = support::unique("cp-rules");
    clients
        .s3
        .create_bucket()
        .bucket(&rules_bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    support::REGION,
                ))
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    clients
        .s3
        .put_object()
        .bucket(&rules_bucket)
        .key("rules.txt")
        .body(RULES.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put rules.txt");
    let items: Vec<ListItem> = (1..=customers)
        .map(|i| ListItem {
            customer_id: format!("C{i}"),
            name: format!("Harbor <Bakery> {i}"),
            band: Band::Churning,
            score: 80,
            reason: "Next order is late.".into(),
            breakdown: vec![],
            lifetime_value: None,
            rules_version: "r1".into(),
        })
        .collect();
    let list = OwnerList {
        week: "2026-W48",
        as_of: "2026-11-23",
        owner: OWNER,
        items: &items,
        trends: None,
        gone: 0,
    };
    let notifier = SlackNotifier::with_options(
        SlackToken::new(TOKEN),
        &slack.base_url,
        RetryPolicy::default(),
    )
    .unwrap();
    let report = notifier
        .send_list(
            &SlackRecipient::new(OWNER, Some(OWNER_ID.into())),
            &slack_messages(&list, OWNER_ID),
        )
        .await
        .unwrap();
    assert!(report.is_complete());
    let env = OutcomeEnv {
        bot_token_secret: format!("{keys}#slack_bot_token"),
        signing_secret: format!("{keys}#slack_signing_secret"),
        previous_signing_secret: format!("{keys}#slack_signing_secret_previous"),
        link_key_secret: format!("{keys}#email_link_key"),
        time_zone: jiff::tz::TimeZone::UTC,
        slack_api_url: slack.base_url.clone(),
        extra_response_url_prefix: Some(slack.hooks_url.clone()),
        rules_bucket: Some(rules_bucket),
    };
    World {
        app: OutcomeApp::new(clients.clone(), tables.clone(), env),
        clients,
        tables,
        channel: report.channel.unwrap(),
        ts: report.posted[0].ts.clone(),
        slack,
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A signed Function URL event for a Slack form body.
fn slack_event(body: &str, secret: &str, ts: i64) -> Value {
    json!({
        "version": "2.0", "rawPath": "/slack/interactions", "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts.to_string(),
            "x-slack-signature": sign(secret.as_bytes(), ts, body.as_bytes()),
        },
        "requestContext": {"http": {"method": "POST", "path": "/slack/interactions"}},
        "body": body, "isBase64Encoded": false
    })
}

fn form(payload: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

impl World {
    /// Sets one field of the keys secret (`name` is `<secret>#<field>`), as an engineer does with
    /// put-secret-value.
    async fn put_key(&self, name: &str, value: &str) {
        let (id, field) = name.rsplit_once('#').expect("a keys-secret field");
        let sm = &self.clients.secretsmanager;
        let current = sm.get_secret_value().secret_id(id).send().await.unwrap();
        let mut keys: Value = serde_json::from_str(current.secret_string().unwrap()).unwrap();
        keys[field] = Value::String(value.into());
        sm.put_secret_value()
            .secret_id(id)
            .secret_string(keys.to_string())
            .send()
            .await
            .unwrap();
    }

    fn store(&self) -> DynamoDbStateStore {
        DynamoDbStateStore::new(&self.clients, &self.tables)
    }

    fn message(&self) -> Value {
        self.slack.message(&self.channel, &self.ts).unwrap()
    }

    /// The form body of a click on `action` in `customer`'s row, as Slack sends it now.
    fn click_body(&self, action: &str, customer: &str, trigger_age: Duration) -> String {
        let blocks = self.message()["blocks"].clone();
        let value = blocks
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().unwrap().clone())
            .find(|e| {
                e["action_id"] == action
                    && e["value"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("\"{customer}\""))
            })
            .unwrap_or_else(|| panic!("no {action} button for {customer}"))["value"]
            .clone();
        form(&json!({
            "type": "block_actions",
            "user": {"id": OWNER_ID, "username": "dana"},
            "trigger_id": self.slack.issue_trigger(trigger_age),
            "container": {"type": "message", "channel_id": self.channel, "message_ts": self.ts},
            "response_url": self.slack.issue_response_url(&self.channel, &self.ts),
            "message": {"ts": self.ts, "blocks": blocks},
            "actions": [{"action_id": action, "value": value, "type": "button"}]
        }))
    }

    async fn send(&self, event: Value) -> Value {
        self.app.handle(event).await.expect("a response")
    }

    async fn click(&self, action: &str, customer: &str) -> Value {
        let body = self.click_body(action, customer, Duration::ZERO);
        self.send(slack_event(&body, SIGNING, now())).await
    }

    /// Submits the latest opened view with these state values.
    async fn submit(&self, values: Value) -> Value {
        let view = self
            .slack
            .views()
            .last()
            .cloned()
            .expect("a view was opened");
        let body = form(&json!({
            "type": "view_submission",
            "user": {"id": OWNER_ID, "username": "dana"},
            "view": {"id": "V1", "callback_id": view["callback_id"],
                     "private_metadata": view["private_metadata"],
                     "state": {"values": values}}
        }));
        self.send(slack_event(&body, SIGNING, now())).await
    }

    async fn audit(&self, customer: &str) -> Vec<churn_core::outcome::state::AuditItem> {
        self.store().audit_for(customer).await.unwrap()
    }

    async fn item_counts(&self) -> (usize, usize) {
        let count = |t: String| {
            let db = self.clients.dynamodb.clone();
            async move { db.scan().table_name(t).send().await.unwrap().items().len() }
        };
        (
            count(self.tables.state.clone()).await,
            count(self.tables.audit.clone()).await,
        )
    }

    fn row_text(&self) -> String {
        self.message()["blocks"].to_string()
    }

    fn ephemerals(&self) -> Vec<String> {
        self.slack
            .responses()
            .iter()
            .filter(|r| r["response_type"] == "ephemeral")
            .map(|r| r["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

#[tokio::test]
async fn every_action_and_modal_end_to_end() {
    let w = world(3).await;

    // Reached out: one tap, one audit item, the row shows who with Undo.
    let r = w.click("reached_out", "C1").await;
    assert_eq!(r["statusCode"], 200);
    let st = w.store().get_state("C1").await.unwrap();
    assert!(st.last_contact.is_some());
    assert_eq!(w.audit("C1").await.len(), 1);
    assert!(
        w.row_text()
            .contains(&format!("✓ Reached out by <@{OWNER_ID}>"))
    );
    assert!(w.row_text().contains("\"undo\""));

    // Won back: the modal opens (within the trigger window), nothing is written until submitted.
    w.click("won_back", "C2").await;
    assert_eq!(w.slack.views().len(), 1);
    assert_eq!(w.slack.views()[0]["callback_id"], "won_back");
    assert!(w.audit("C2").await.is_empty());
    // A bad amount keeps the modal open with the field error.
    let r = w
        .submit(json!({"value": {"value": {"type": "plain_text_input", "value": "lots"}}}))
        .await;
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["response_action"], "errors");
    assert!(w.audit("C2").await.is_empty());
    let r = w
        .submit(json!({"value": {"value": {"type": "plain_text_input", "value": "$1,200.00"}}}))
        .await;
    assert_eq!(r["statusCode"], 200);
    let audit = w.audit("C2").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "won_back");
    assert_eq!(audit[0].notes["recovered_value"], 1200.0);
    assert_eq!(
        w.store().get_state("C2").await.unwrap().status,
        Status::Active
    );
    assert!(w.row_text().contains("✓ Won back by"));

    // Lost: the reason picker, then the submission with reason and note.
    w.click("lost", "C3").await;
    let view = w.slack.views().last().cloned().unwrap();
    assert_eq!(view["callback_id"], "lost");
    assert_eq!(view["blocks"][0]["text"]["type"], "plain_text");
    assert_eq!(
        view["blocks"][0]["text"]["text"], "Why did we lose Harbor <Bakery> 3?",
        "the name as typed, in plain_text"
    );
    w.submit(json!({
        "reason": {"reason": {"type": "static_select", "selected_option": {"value": "competitor"}}},
        "note": {"note": {"type": "plain_text_input", "value": "went to BigCo"}}
    }))
    .await;
    let st = w.store().get_state("C3").await.unwrap();
    assert_eq!(st.status, Status::Lost);
    assert_eq!(st.lost_reason.as_deref(), Some("competitor"));
    assert_eq!(w.audit("C3").await[0].notes["note"], "went to BigCo");
    assert!(w.row_text().contains("✓ Marked lost by"));

    // Undo the lost: status back, an undo item, the row shows the buttons again.
    w.click("undo", "C3").await;
    let st = w.store().get_state("C3").await.unwrap();
    assert_eq!(st.status, Status::Active);
    assert_eq!(st.lost_date, None);
    let audit = w.audit("C3").await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].action, "undo");
    assert!(w.row_text().contains("✓ Undone by"));
    let msg = w.message();
    churn_core::notify::message::validate_message(&msg).unwrap();
    assert_eq!(
        msg["blocks"].as_array().unwrap().len(),
        1 + 3 * 3,
        "rows keep three blocks"
    );
}

#[tokio::test]
async fn a_modal_on_a_long_list_edits_the_row_as_the_message_stands_at_submission() {
    // Twelve rows: too large to carry in the form's private_metadata (3,000 characters).
    let w = world(12).await;
    assert!(w.message()["blocks"].to_string().chars().count() > 3000);
    w.click("won_back", "C5").await;
    let view = w.slack.views().last().cloned().unwrap();
    let meta: Value = serde_json::from_str(view["private_metadata"].as_str().unwrap()).unwrap();
    assert!(
        meta["blocks"].is_null(),
        "the message does not fit the form"
    );
    // While the form is open, another row changes (the owner's other device).
    w.click("reached_out", "C2").await;
    let r = w
        .submit(json!({"value": {"value": {"type": "plain_text_input", "value": "250"}}}))
        .await;
    assert_eq!(r["statusCode"], 200);
    // The row was edited in place, keeping the other row's change; no follow-up message.
    let text = w.row_text();
    assert!(text.contains("✓ Won back by"), "{text}");
    assert!(text.contains("✓ Reached out by"), "{text}");
    assert!(
        w.slack
            .responses()
            .iter()
            .all(|r| r["replace_original"] != false || r["response_type"] == "ephemeral"),
        "no follow-up: {:?}",
        w.slack.responses()
    );
    let reads: Vec<_> = w
        .slack
        .received()
        .into_iter()
        .filter(|r| r.api_method == "conversations.history")
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].fields["latest"], w.ts);
    assert_eq!(reads[0].fields["inclusive"], "true");
    churn_core::notify::message::validate_message(&w.message()).unwrap();
    assert_eq!(w.audit("C5").await[0].notes["recovered_value"], 250.0);
}

#[tokio::test]
async fn undo_is_refused_when_a_later_write_changed_the_fields() {
    let w = world(1).await;
    w.click("lost", "C1").await;
    w.submit(json!({"reason": {"reason": {"selected_option": {"value": "price"}}}}))
        .await;
    // An order after the lost date reactivates the customer (a later write to `status`).
    let store = w.store();
    let lost = store.get_state("C1").await.unwrap();
    let back = reactivate(&lost, lost.lost_date.unwrap().tomorrow().unwrap());
    store
        .apply(&back, "churn", "2999-01-01T00:00:00.000000000Z")
        .await
        .unwrap();
    let before = w.audit("C1").await.len();
    let r = w.click("undo", "C1").await;
    assert_eq!(r["statusCode"], 200);
    assert_eq!(w.audit("C1").await.len(), before, "nothing written");
    assert_eq!(store.get_state("C1").await.unwrap().status, Status::Active);
    let told = w.ephemerals();
    assert!(
        told.iter()
            .any(|t| t.contains("status was changed afterwards")),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_click_delivered_twice_changes_state_once() {
    let w = world(1).await;
    let body = w.click_body("reached_out", "C1", Duration::ZERO);
    let event = slack_event(&body, SIGNING, now());
    assert_eq!(w.send(event.clone()).await["statusCode"], 200);
    assert_eq!(w.send(event).await["statusCode"], 200);
    assert_eq!(w.audit("C1").await.len(), 1);
    assert!(
        w.ephemerals()
            .iter()
            .any(|t| t.contains("Already recorded"))
    );
}

#[tokio::test]
async fn fifty_concurrent_clicks_on_one_row_write_once() {
    let w = world(1).await;
    let events: Vec<Value> = (0..50)
        .map(|_| {
            slack_event(
                &w.click_body("reached_out", "C1", Duration::ZERO),
                SIGNING,
                now(),
            )
        })
        .collect();
    let answers = futures_util::future::join_all(events.into_iter().map(|e| w.app.handle(e))).await;
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().unwrap()["statusCode"] == 200)
    );
    let audit = w.audit("C1").await;
    assert_eq!(audit.len(), 1, "one audit item");
    assert_eq!(w.item_counts().await, (1, 1));
    let replaced = w
        .slack
        .responses()
        .iter()
        .filter(|r| r["replace_original"] == true)
        .count();
    assert_eq!(replaced, 1, "the row was updated once");
    assert_eq!(w.ephemerals().len(), 49, "the others were told");
}

#[tokio::test]
async fn an_expired_trigger_opens_nothing_and_writes_nothing() {
    let w = world(1).await;
    let body = w.click_body("won_back", "C1", Duration::from_secs(4));
    let r = w.send(slack_event(&body, SIGNING, now())).await;
    assert_eq!(r["statusCode"], 200);
    assert!(w.slack.views().is_empty());
    assert!(
        w.ephemerals()
            .iter()
            .any(|t| t.contains("could not be opened"))
    );
    assert_eq!(w.item_counts().await, (0, 0));
}

#[tokio::test]
async fn forged_old_future_and_base64_requests() {
    let w = world(1).await;
    // Secrets read first: the ±301 s stamps below are taken after, so they stay past 300 s.
    w.app.handler().await.expect("the handler starts");
    let body = w.click_body("reached_out", "C1", Duration::ZERO);
    for event in [
        slack_event(&body, "not-the-secret", now()),
        slack_event(&body, SIGNING, now() - 301),
        slack_event(&body, SIGNING, now() + 301),
        {
            let mut e = slack_event(&body, SIGNING, now());
            e["body"] = json!(format!("{body}x"));
            e
        },
        {
            let mut e = slack_event(&body, SIGNING, now());
            e["headers"]["x-slack-signature"] = json!("v1=00");
            e
        },
    ] {
        let r = w.send(event).await;
        assert_eq!(
            (r["statusCode"].as_u64(), r["body"].as_str()),
            (Some(401), Some(""))
        );
    }
    assert_eq!(w.item_counts().await, (0, 0));
    // The same click, signed, as a Function URL delivers a base64 body.
    let mut e = slack_event(&body, SIGNING, now());
    e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body.as_bytes()));
    e["isBase64Encoded"] = json!(true);
    assert_eq!(w.send(e).await["statusCode"], 200);
    assert_eq!(w.audit("C1").await.len(), 1);
}

fn link_event(method: &str, token: &str, form: &str) -> Value {
    json!({
        "version": "2.0", "rawPath": format!("/o/{token}"), "rawQueryString": "",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "requestContext": {"http": {"method": method, "path": format!("/o/{token}")}},
        "body": base64::engine::general_purpose::STANDARD.encode(form), "isBase64Encoded": true
    })
}

#[tokio::test]
async fn email_links_get_never_writes_post_does_tamper_and_expiry_refused() {
    let w = world(1).await;
    let signer = LinkSigner::new(LINK_KEY.as_bytes());
    let claims = |action, expires| LinkClaims {
        customer_id: "C1".into(),
        action,
        owner: OWNER.into(),
        expires,
    };
    let lost = signer.sign(&claims(LinkAction::Lost, now() + 3600));
    for _ in 0..3 {
        let r = w.send(link_event("GET", &lost, "")).await;
        assert_eq!(r["statusCode"], 200);
        assert!(r["body"].as_str().unwrap().contains("name=\"reason\""));
    }
    assert_eq!(w.item_counts().await, (0, 0), "GET never writes");
    let mut tampered = lost.clone();
    tampered.insert(
        3,
        if tampered.as_bytes()[3] == b'x' {
            'y'
        } else {
            'x'
        },
    );
    tampered.remove(4);
    let r = w.send(link_event("POST", &tampered, "reason=price")).await;
    assert_eq!(r["statusCode"], 400);
    assert!(r["body"].as_str().unwrap().contains("not valid"));
    let expired = signer.sign(&claims(LinkAction::ReachedOut, now() - 10));
    let r = w.send(link_event("POST", &expired, "")).await;
    assert_eq!(r["statusCode"], 410);
    assert!(r["body"].as_str().unwrap().contains("expired"));
    assert_eq!(w.item_counts().await, (0, 0));
    let r = w
        .send(link_event("POST", &lost, "reason=closed&note=shop+shut"))
        .await;
    assert_eq!(r["statusCode"], 200);
    let r = w.send(link_event("POST", &lost, "reason=closed")).await;
    assert!(r["body"].as_str().unwrap().contains("already recorded"));
    let audit = w.audit("C1").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].by_user, OWNER);
    assert_eq!(audit[0].notes["note"], "shop shut");
}

#[tokio::test]
async fn the_same_signed_undo_delivered_twice_undoes_only_the_won_back() {
    let w = world(1).await;
    // Reached out by the email link (the Slack row keeps its three buttons).
    let reached = LinkSigner::new(LINK_KEY.as_bytes()).sign(&LinkClaims {
        customer_id: "C1".into(),
        action: LinkAction::ReachedOut,
        owner: OWNER.into(),
        expires: now() + 3600,
    });
    let r = w.send(link_event("POST", &reached, "")).await;
    assert_eq!(r["statusCode"], 200);
    // Then won back on Slack, through its form.
    w.click("won_back", "C1").await;
    let r = w
        .submit(json!({"value": {"value": {"type": "plain_text_input", "value": "300"}}}))
        .await;
    assert_eq!(r["statusCode"], 200);
    let audit = w.audit("C1").await;
    assert_eq!(audit.len(), 2);
    let won_ts = audit[1].ts.clone();
    assert!(
        w.row_text().contains(&won_ts),
        "the row's Undo names the won-back"
    );
    // The same signed Undo, delivered twice.
    let event = slack_event(&w.click_body("undo", "C1", Duration::ZERO), SIGNING, now());
    assert_eq!(w.send(event.clone()).await["statusCode"], 200);
    assert_eq!(w.send(event).await["statusCode"], 200);
    let audit = w.audit("C1").await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["reached_out", "won_back", "undo"]);
    assert_eq!(audit[2].notes["undoes"], won_ts.as_str());
    let st = w.store().get_state("C1").await.unwrap();
    assert_eq!(st.won_back_date, None);
    assert!(st.last_contact.is_some(), "the reached-out still stands");
    assert!(
        w.ephemerals().iter().any(|t| t.contains("nothing changed")),
        "{:?}",
        w.ephemerals()
    );
}

#[tokio::test]
async fn a_blank_signing_secret_or_link_key_is_refused_and_a_pasted_newline_is_not_part_of_a_key() {
    let w = world(1).await;
    // The secrets as someone pasted them: the signing secret with a newline, which still verifies.
    w.put_key(&w.app.env().signing_secret, &format!("{SIGNING}\n"))
        .await;
    let body = w.click_body("reached_out", "C1", Duration::ZERO);
    assert_eq!(
        w.send(slack_event(&body, SIGNING, now())).await["statusCode"],
        200
    );

    for blank_one in ["signing", "link"] {
        let w = world(1).await;
        let name = if blank_one == "signing" {
            w.app.env().signing_secret.clone()
        } else {
            w.app.env().link_key_secret.clone()
        };
        w.put_key(&name, " \n").await;
        let body = w.click_body("reached_out", "C1", Duration::ZERO);
        let err = w
            .app
            .handle(slack_event(&body, SIGNING, now()))
            .await
            .unwrap_err();
        assert_eq!(err.kind, "churn.Config", "{blank_one}");
        assert!(
            err.message.contains("is empty (or only whitespace)"),
            "{}",
            err.message
        );
        assert_eq!(w.item_counts().await, (0, 0));
    }
}

/// A signed Function URL event for an Events API JSON body.
fn events_event(body: &str, headers: &[(&str, String)]) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    json!({
        "version": "2.0", "rawPath": "/slack/events", "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/slack/events"}},
        "body": body, "isBase64Encoded": false
    })
}

fn event_headers(body: &str, secret: &str, ts: i64) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-slack-request-timestamp", ts.to_string()),
        (
            "x-slack-signature",
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

#[tokio::test]
async fn the_home_tab_over_the_lambda_end_to_end() {
    use churn_aws::DynamoDbSendLedger;
    use churn_core::run::ledger::{ClaimRequest, SentList, Via};
    use slack_server::{app_home_opened, event_callback};
    let w = world(1).await;
    w.slack.add_user("stranger@example.com", "U0STRANGER");
    // This week's list for Dana, sent and in cp-runs as the Monday run leaves it.
    let week = churn_core::run::week::iso_week(
        jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date(),
    );
    let items: Vec<ListItem> = ["Harbor <Bakery>", "Maple Cafe", "Copper Deli"]
        .iter()
        .enumerate()
        .map(|(i, name)| ListItem {
            customer_id: format!("H{}", i + 1),
            name: name.to_string(),
            band: Band::Churning,
            score: 80 - i as u32,
            reason: "Next order is late.".into(),
            breakdown: vec![],
            lifetime_value: None,
            rules_version: "r1".into(),
        })
        .collect();
    let ledger = DynamoDbSendLedger::new(&w.clients, &w.tables);
    let now_ms = now() * 1000;
    ledger
        .claim(&ClaimRequest {
            week: &week,
            owner: OWNER,
            run_id: "run-1",
            now_ms,
            lease_until_ms: now_ms + 60_000,
        })
        .await
        .unwrap();
    let sent = SentList {
        via: Via::Slack,
        list: &items,
        rules_version: "r1",
        held_out: &[],
    };
    assert!(
        ledger
            .mark_sent(&week, OWNER, "run-1", &sent, "2026-12-07T01:00:00Z")
            .await
            .unwrap()
    );
    let list = slack_messages(
        &OwnerList {
            week: &week,
            as_of: "",
            owner: OWNER,
            items: &items,
            trends: None,
            gone: 0,
        },
        OWNER_ID,
    )
    .remove(0);

    // url_verification, through the Function URL.
    let challenge =
        json!({"token": "t", "challenge": "lambda-challenge-1", "type": "url_verification"})
            .to_string();
    let r = w
        .send(events_event(
            &challenge,
            &event_headers(&challenge, SIGNING, now()),
        ))
        .await;
    assert_eq!(
        (r["statusCode"].clone(), r["body"].clone()),
        (json!(200), json!("lambda-challenge-1"))
    );

    // Forged, stale, unsigned: 401, nothing published.
    let opened = event_callback("EvL0001", app_home_opened(OWNER_ID)).to_string();
    for headers in [
        event_headers(&opened, "wrong", now()),
        event_headers(&opened, SIGNING, now() - 400),
        vec![("content-type", "application/json".to_string())],
    ] {
        let r = w.send(events_event(&opened, &headers)).await;
        assert_eq!(r["statusCode"], 401);
    }
    // An event type the handler does not act on: 200 without action.
    let other = event_callback(
        "EvL0002",
        json!({"type": "reaction_added", "user": OWNER_ID}),
    )
    .to_string();
    let r = w
        .send(events_event(&other, &event_headers(&other, SIGNING, now())))
        .await;
    assert_eq!(r["statusCode"], 200);
    assert!(w.slack.homes().is_empty());

    // Dana opens the Home, base64 as Function URLs may deliver it; Slack's retry changes nothing.
    let mut e = events_event(&opened, &event_headers(&opened, SIGNING, now()));
    e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(opened.as_bytes()));
    e["isBase64Encoded"] = json!(true);
    let started = std::time::Instant::now();
    assert_eq!(w.send(e.clone()).await["statusCode"], 200);
    // Slack retries an event not answered within 3 seconds: the Home is read and published well
    // inside that (here: the secrets, rules.txt, cp-runs and cp-audit reads, views.publish).
    let took = started.elapsed();
    eprintln!("app_home_opened answered in {} ms", took.as_millis());
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The same request replayed verbatim, and Slack's retry: answered, nothing published again.
    assert_eq!(w.send(e).await["statusCode"], 200);
    let mut retry = event_headers(&opened, SIGNING, now());
    retry.push(("x-slack-retry-num", "1".into()));
    retry.push(("x-slack-retry-reason", "http_timeout".into()));
    assert_eq!(
        w.send(events_event(&opened, &retry)).await["statusCode"],
        200
    );
    let homes = w.slack.homes();
    assert_eq!(
        homes.len(),
        1,
        "published to {:?}",
        homes.iter().map(|h| &h.0).collect::<Vec<_>>()
    );
    let home = homes[0].1.clone();
    assert!(
        home.to_string().contains("3 of 3 names still open"),
        "{home}"
    );
    assert_eq!(buttons(&home["blocks"]), buttons(&list["blocks"]));

    // Won back from the Home: the form opens, its submission records, the Home is republished.
    let (_, value) = buttons(&home["blocks"])
        .into_iter()
        .find(|(a, v)| a == "won_back" && v.contains("\"H2\""))
        .unwrap();
    let click = form(&json!({
        "type": "block_actions", "user": {"id": OWNER_ID, "username": "dana"},
        "trigger_id": w.slack.issue_trigger(Duration::ZERO),
        "container": {"type": "view", "view_id": "VH00001"},
        "view": {"id": "VH00001", "type": "home", "blocks": home["blocks"]},
        "actions": [{"action_id": "won_back", "value": value, "type": "button"}]
    }));
    assert_eq!(
        w.send(slack_event(&click, SIGNING, now())).await["statusCode"],
        200
    );
    let r = w
        .submit(json!({"value": {"value": {"type": "plain_text_input", "value": "2500"}}}))
        .await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(w.audit("H2").await.len(), 1);
    assert_eq!(w.slack.homes().len(), 2, "republished after the outcome");
    let text = w.slack.home(OWNER_ID).unwrap().to_string();
    assert!(text.contains("2 of 3 names still open"), "{text}");
    assert!(text.contains("Value won back: *2,500*"), "{text}");
    assert!(
        text.contains("Maple Cafe — Won back (value 2,500)"),
        "{text}"
    );

    // A member who is no owner: told so, nothing of Dana's.
    let stranger = event_callback("EvL0003", app_home_opened("U0STRANGER")).to_string();
    let r = w
        .send(events_event(
            &stranger,
            &event_headers(&stranger, SIGNING, now()),
        ))
        .await;
    assert_eq!(r["statusCode"], 200);
    let seen = w.slack.home("U0STRANGER").unwrap().to_string();
    assert!(
        seen.contains("not an owner") && !seen.contains("Harbor"),
        "{seen}"
    );
}
