//! The Events API and the Home tab over in-memory ports: signatures and the Events API's
//! retries, owners found by id or profile email, a non-owner told nothing, the Home republished
//! after an outcome (a failed publish never loses it).

use std::sync::Arc;

use churn_core::model::{Band, ListItem};
use churn_core::notify::home::{HomeSlack, HomeSource, OwnerDirectory};
use churn_core::rules::{Channel, OwnerLine};

use super::*;
use crate::home::Home;

/// The handler's store and the Home's data, sharing one [`MemStore`].
#[derive(Clone)]
struct Shared {
    mem: Arc<MemStore>,
    lists: Vec<(String, Vec<ListItem>)>,
}

impl OutcomeStore for Shared {
    async fn state(&self, id: &str) -> Result<CustomerState, PortError> {
        self.mem.state(id).await
    }
    async fn history(&self, id: &str) -> Result<Vec<AuditItem>, PortError> {
        self.mem.history(id).await
    }
    async fn apply(&self, change: &Change, by: &str) -> Result<Applied, PortError> {
        self.mem.apply(change, by).await
    }
}

impl HomeSource for Shared {
    async fn owner_lists(
        &self,
        owner: &str,
        weeks: &[String],
    ) -> Result<Vec<(String, Vec<ListItem>)>, PortError> {
        // Only alex has lists here.
        Ok(self
            .lists
            .iter()
            .filter(|(w, _)| owner == "alex@shop.example" && weeks.contains(w))
            .cloned()
            .collect())
    }
    async fn audit_since(&self, ids: &[String], from: &str) -> Result<Vec<AuditItem>, PortError> {
        let g = self.mem.inner.lock().unwrap();
        Ok(g.1
            .iter()
            .filter(|a| ids.contains(&a.customer_id) && a.ts.as_str() >= from)
            .cloned()
            .collect())
    }
}

struct Owners(Vec<OwnerLine>);

impl OwnerDirectory for Owners {
    async fn owner_lines(&self) -> Result<Vec<OwnerLine>, PortError> {
        Ok(self.0.clone())
    }
}

#[derive(Default, Clone)]
struct FakeSlack {
    /// Member id → profile email.
    emails: Vec<(String, String)>,
    published: Arc<Mutex<Vec<(String, Value)>>>,
    info_calls: Arc<Mutex<usize>>,
    fail_publish: bool,
}

impl HomeSlack for FakeSlack {
    async fn user_email(&self, user_id: &str) -> Result<Option<String>, PortError> {
        *self.info_calls.lock().unwrap() += 1;
        Ok(self
            .emails
            .iter()
            .find(|(u, _)| u == user_id)
            .map(|(_, e)| e.clone()))
    }
    async fn user_by_email(&self, email: &str) -> Result<Option<String>, PortError> {
        Ok(self
            .emails
            .iter()
            .find(|(_, e)| e == email)
            .map(|(u, _)| u.clone()))
    }
    async fn publish_home(&self, user_id: &str, view: &Value) -> Result<(), PortError> {
        if self.fail_publish {
            return Err(PortError::new("Slack unavailable on views.publish", true));
        }
        self.published
            .lock()
            .unwrap()
            .push((user_id.to_string(), view.clone()));
        Ok(())
    }
}

type HomeHandler = OutcomeHandler<Shared, Recorder, Home<Shared, Owners, FakeSlack>>;

// 2025-11-24 (Monday of 2025-W48) 16:00 UTC: NOW.
const WEEK: &str = "2025-W48";

fn item(id: &str, name: &str) -> ListItem {
    ListItem {
        customer_id: id.into(),
        name: name.into(),
        band: Band::Churning,
        score: 80,
        reason: "Next order is late.".into(),
        breakdown: vec![],
        lifetime_value: None,
        rules_version: "r1".into(),
    }
}

fn home_handler(fail_publish: bool) -> (HomeHandler, FakeSlack) {
    let shared = Shared {
        mem: Arc::new(MemStore::default()),
        lists: vec![(
            WEEK.into(),
            vec![item("C1", "Harbor Bakery"), item("C2", "<!channel> Maple")],
        )],
    };
    let slack = FakeSlack {
        emails: vec![
            ("U1".into(), "alex@shop.example".into()),
            ("U2".into(), "sam@shop.example".into()),
            ("U9".into(), "stranger@shop.example".into()),
        ],
        fail_publish,
        ..Default::default()
    };
    let owners = Owners(vec![
        OwnerLine {
            email: "alex@shop.example".into(),
            channel: Channel::Slack {
                user_id: Some("U1".into()),
            },
            line: 1,
        },
        OwnerLine {
            email: "sam@shop.example".into(),
            channel: Channel::Slack { user_id: None },
            line: 2,
        },
    ]);
    let h = OutcomeHandler::new(
        shared.clone(),
        Recorder {
            token: true,
            ..Default::default()
        },
        SigningSecrets::new(SECRET, Some("old-secret")),
        LinkSigner::new(b"link key"),
        TimeZone::UTC,
    )
    .with_clock(Arc::new(|| NOW))
    .with_home(Home {
        source: shared,
        owners,
        slack: slack.clone(),
    });
    (h, slack)
}

fn event(body: &str, secret: &str, ts: i64) -> Request {
    Request {
        path: EVENTS_PATH.into(),
        ..signed(body, secret, ts)
    }
}

fn home_opened(user: &str, event_id: &str) -> String {
    json!({
        "type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": event_id,
        "event_time": NOW,
        "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home",
                  "event_ts": "1764000000.000100"}
    })
    .to_string()
}

fn published(slack: &FakeSlack) -> Vec<(String, Value)> {
    slack.published.lock().unwrap().clone()
}

#[test]
fn now_is_in_the_week_of_the_list() {
    let d = jiff::Timestamp::from_second(NOW)
        .unwrap()
        .to_zoned_datetime(TimeZone::UTC)
        .date();
    assert_eq!(churn_core::run::week::iso_week(d), WEEK);
}

#[tokio::test]
async fn url_verification_is_answered_with_its_challenge_once_verified() {
    let (h, _) = home_handler(false);
    let body =
        json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"})
            .to_string();
    let r = h.handle(event(&body, SECRET, NOW)).await;
    assert_eq!((r.status, r.body.as_str()), (200, "3eZbrw1aBm2rZgRNFdxV"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    // Unsigned: the bare 401, no challenge echoed.
    let r = h.handle(event(&body, "wrong", NOW)).await;
    assert_eq!((r.status, r.body.as_str()), (401, ""));
    // Only POST.
    let r = h
        .handle(Request {
            method: "GET".into(),
            ..event(&body, SECRET, NOW)
        })
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn bad_stale_and_unsigned_events_are_refused_and_publish_nothing() {
    let (h, slack) = home_handler(false);
    let body = home_opened("U1", "Ev1");
    for req in [
        event(&body, "wrong-secret", NOW),
        event(&body, SECRET, NOW - 301),
        event(&body, SECRET, NOW + 301),
        Request {
            headers: vec![],
            ..event(&body, SECRET, NOW)
        },
        Request {
            headers: event(&body, SECRET, NOW)
                .headers
                .into_iter()
                .filter(|(k, _)| k != "X-Slack-Signature")
                .collect(),
            ..event(&body, SECRET, NOW)
        },
    ] {
        let r = h.handle(req).await;
        assert_eq!((r.status, r.body.as_str()), (401, ""));
    }
    assert!(published(&slack).is_empty());
    // A refused delivery is not remembered: the same event signed properly still publishes.
    assert_eq!(h.handle(event(&body, SECRET, NOW)).await.status, 200);
    assert_eq!(published(&slack).len(), 1);
}

#[tokio::test]
async fn an_owners_home_shows_their_open_names_with_the_list_buttons() {
    let (h, slack) = home_handler(false);
    let r = h
        .handle(event(&home_opened("U1", "Ev1"), SECRET, NOW))
        .await;
    assert_eq!(r.status, 200);
    let p = published(&slack);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "U1");
    let view = &p[0].1;
    assert_eq!(view["type"], "home");
    let text = view.to_string();
    assert!(text.contains("2 of 2 names still open"), "{text}");
    let buttons: Vec<&Value> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .collect();
    let ids: Vec<&str> = buttons
        .iter()
        .map(|b| b["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "reached_out",
            "won_back",
            "lost",
            "reached_out",
            "won_back",
            "lost"
        ]
    );
    assert_eq!(
        buttons[0]["value"],
        format!("{{\"c\":\"C1\",\"w\":\"{WEEK}\",\"v\":\"r1\"}}")
    );
    // No users.info needed: alex's line names the id.
    assert_eq!(*slack.info_calls.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_member_found_by_profile_email_and_a_stranger_who_is_told_nothing() {
    let (h, slack) = home_handler(false);
    assert_eq!(
        h.handle(event(&home_opened("U2", "Ev2"), SECRET, NOW))
            .await
            .status,
        200
    );
    assert_eq!(*slack.info_calls.lock().unwrap(), 1);
    // sam is an owner (found by profile email) with no list this week.
    assert_eq!(
        h.handle(event(&home_opened("U9", "Ev9"), SECRET, NOW))
            .await
            .status,
        200
    );
    let p = published(&slack);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0].0, "U2");
    assert!(p[0].1.to_string().contains("no list for you this week"));
    let stranger = p[1].1.to_string();
    assert_eq!(p[1].0, "U9");
    assert!(stranger.contains("not an owner"), "{stranger}");
    assert!(!stranger.contains("Harbor") && !stranger.contains("C1"));
}

#[tokio::test]
async fn other_events_and_the_messages_tab_are_answered_200_without_action() {
    let (h, slack) = home_handler(false);
    let message = json!({"type": "event_callback", "event_id": "Ev3",
        "event": {"type": "message", "user": "U1", "text": "hi", "channel": "D1"}})
    .to_string();
    let messages_tab = json!({"type": "event_callback", "event_id": "Ev4",
        "event": {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "messages"}})
    .to_string();
    let other_type = json!({"type": "app_rate_limited", "minute_rate_limited": 1}).to_string();
    for body in [message, messages_tab, other_type] {
        let r = h.handle(event(&body, SECRET, NOW)).await;
        assert_eq!((r.status, r.body.as_str()), (200, ""));
    }
    assert!(published(&slack).is_empty());
    // Signed but not JSON: 400.
    assert_eq!(h.handle(event("payload=1", SECRET, NOW)).await.status, 400);
}

#[tokio::test]
async fn a_retried_event_is_handled_once() {
    let (h, slack) = home_handler(false);
    let body = home_opened("U1", "Ev5");
    assert_eq!(h.handle(event(&body, SECRET, NOW)).await.status, 200);
    for n in 1..=3 {
        let mut req = event(&body, SECRET, NOW);
        req.headers
            .push(("X-Slack-Retry-Num".into(), n.to_string()));
        req.headers
            .push(("X-Slack-Retry-Reason".into(), "http_timeout".into()));
        assert_eq!(h.handle(req).await.status, 200);
    }
    assert_eq!(published(&slack).len(), 1);
    // Another opening (a new event id) publishes again.
    assert_eq!(
        h.handle(event(&home_opened("U1", "Ev6"), SECRET, NOW))
            .await
            .status,
        200
    );
    assert_eq!(published(&slack).len(), 2);
}

#[tokio::test]
async fn a_failed_publish_is_retryable_by_slack() {
    let (h, slack) = home_handler(true);
    let body = home_opened("U1", "Ev7");
    // 503: Slack retries; the retry is not taken for a repeat.
    assert_eq!(h.handle(event(&body, SECRET, NOW)).await.status, 503);
    let mut retry = event(&body, SECRET, NOW);
    retry.headers.push(("X-Slack-Retry-Num".into(), "1".into()));
    assert_eq!(h.handle(retry).await.status, 503);
    assert!(published(&slack).is_empty());
}

fn home_click(action: &str, customer: &str) -> String {
    // A click on the Home tab: a view container, no message, no response_url.
    let value = json!({"c": customer, "w": WEEK, "v": "r1"}).to_string();
    let p = json!({
        "type": "block_actions", "user": {"id": "U1", "username": "alex"}, "trigger_id": "tr.9",
        "container": {"type": "view", "view_id": "V1"},
        "view": {"id": "V1", "type": "home"},
        "actions": [{"action_id": action, "value": value, "type": "button"}]
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &p.to_string())
        .finish()
}

#[tokio::test]
async fn a_click_on_the_home_records_and_republishes_the_home() {
    let (h, slack) = home_handler(false);
    let r = h
        .handle(signed(&home_click("reached_out", "C1"), SECRET, NOW))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(h.store().mem.inner.lock().unwrap().1.len(), 1);
    let p = published(&slack);
    assert_eq!(p.len(), 1, "the Home is refreshed after the outcome");
    let text = p[0].1.to_string();
    assert!(text.contains("1 of 2 names still open"), "{text}");
    assert!(text.contains("Harbor Bakery — Reached out"), "{text}");
    // Delivered again: nothing written, no new Home.
    h.handle(signed(&home_click("reached_out", "C1"), SECRET, NOW))
        .await;
    assert_eq!(h.store().mem.inner.lock().unwrap().1.len(), 1);
    assert_eq!(published(&slack).len(), 1);
    // Won back from the Home opens the same form; its submission records and refreshes.
    h.handle(signed(&home_click("won_back", "C2"), SECRET, NOW))
        .await;
    let view = h.slack.calls.lock().unwrap().last().unwrap().1["view"].clone();
    let sub = json!({
        "type": "view_submission", "user": {"id": "U1", "username": "alex"},
        "view": {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                 "state": {"values": {"value": {"value": {"type": "plain_text_input", "value": "1200"}}}}}
    });
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &sub.to_string())
        .finish();
    let r = h.handle(signed(&body, SECRET, NOW)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = published(&slack);
    assert_eq!(p.len(), 2);
    let text = p[1].1.to_string();
    assert!(
        text.contains("every name on this week's list has an outcome"),
        "{text}"
    );
    assert!(text.contains("Value won back: *1,200*"), "{text}");
}

#[tokio::test]
async fn a_failed_home_publish_never_loses_the_outcome() {
    let (h, slack) = home_handler(true);
    let r = h
        .handle(signed(&home_click("reached_out", "C1"), SECRET, NOW))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(h.store().mem.inner.lock().unwrap().1.len(), 1);
    assert!(published(&slack).is_empty());
}

#[tokio::test]
async fn an_email_link_outcome_refreshes_the_owners_home() {
    let (h, slack) = home_handler(false);
    let token = h.links.sign(&LinkClaims {
        customer_id: "C2".into(),
        action: LinkAction::ReachedOut,
        owner: "alex@shop.example".into(),
        expires: NOW + 3600,
    });
    let r = h.handle(post(&format!("/o/{token}"), "")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = published(&slack);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, "U1");
    assert!(p[0].1.to_string().contains("1 of 2 names still open"));
}
