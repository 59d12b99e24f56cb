//! A Slack-like Web API: `users.lookupByEmail`, `conversations.open`, `chat.postMessage` with the
//! documented request and response shapes, bearer-token auth (`not_authed` / `invalid_auth` with
//! HTTP 200, as Slack answers), Block Kit bodies checked with `validate_message`, everything
//! received recorded, and scripted faults per method.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use churn_core::message::validate_message;
use hyper::Method;
use serde_json::{Value, json};

use crate::http::{Req, Resp, form_decode, json as json_resp, serve, text};

/// What to do with the next call of a method instead of (or before) answering it.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer normally.
    Pass,
    /// HTTP 429 with `Retry-After` (seconds) when given.
    TooMany { retry_after: Option<u64> },
    /// HTTP 500 with an HTML-ish body.
    ServerError,
    /// HTTP 200 `{"ok": false, "error": code}`.
    Error(&'static str),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub api_method: String,
    pub http_method: Method,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// Form or query fields.
    pub fields: BTreeMap<String, String>,
    /// The JSON body, for JSON requests.
    pub json: Option<Value>,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    faults: HashMap<String, VecDeque<Fault>>,
    received: Vec<Received>,
    /// email → user id.
    users: HashMap<String, String>,
    open: HashSet<String>,
    posted: Vec<Value>,
    next_ts: u64,
}

#[derive(Clone)]
pub struct SlackServer {
    /// The base URL to give the notifier (`http://127.0.0.1:PORT/api/`).
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl SlackServer {
    /// A server that accepts `Bearer {token}`.
    pub async fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let expected = format!("Bearer {token}");
        let s = state.clone();
        let addr = serve(move |req| {
            let state = s.clone();
            let expected = expected.clone();
            async move { handle(&state, &expected, req) }
        })
        .await;
        SlackServer {
            base_url: format!("http://{addr}/api/"),
            state,
        }
    }

    pub fn add_user(&self, email: &str, id: &str) {
        let mut st = self.state.lock().unwrap();
        st.users.insert(email.to_lowercase(), id.to_string());
    }

    /// A channel the bot is a member of (posts to it are accepted). Used by churn-lambda's
    /// digest tests, which include this file.
    #[allow(dead_code)]
    pub fn add_channel(&self, id: &str) {
        self.state.lock().unwrap().open.insert(id.to_string());
    }

    /// Queues faults for the next calls of `api_method`, in order.
    pub fn script(&self, api_method: &str, faults: impl IntoIterator<Item = Fault>) {
        let mut st = self.state.lock().unwrap();
        st.faults
            .entry(api_method.to_string())
            .or_default()
            .extend(faults);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn received_for(&self, api_method: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.api_method == api_method)
            .collect()
    }

    /// The api methods called, in order.
    pub fn calls(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.api_method).collect()
    }

    /// The `chat.postMessage` bodies accepted, in order.
    pub fn posted(&self) -> Vec<Value> {
        self.state.lock().unwrap().posted.clone()
    }
}

fn ok(body: Value) -> Resp {
    json_resp(200, &body, &[])
}

fn err(code: &str) -> Resp {
    json_resp(200, &json!({"ok": false, "error": code}), &[])
}

fn handle(state: &Mutex<State>, expected_auth: &str, req: Req) -> Resp {
    let api_method = req.path.trim_start_matches("/api/").to_string();
    let content_type = req.header("content-type");
    let authorization = req.header("authorization");
    let ct = content_type
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut fields = BTreeMap::new();
    if let Some(q) = &req.query {
        fields.extend(form_decode(q));
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        fields.extend(form_decode(&String::from_utf8_lossy(&req.body)));
    }
    let json_body = if ct.starts_with("application/json") {
        serde_json::from_slice::<Value>(&req.body).ok()
    } else {
        None
    };

    let mut st = state.lock().unwrap();
    st.received.push(Received {
        api_method: api_method.clone(),
        http_method: req.method.clone(),
        content_type: content_type.clone(),
        authorization: authorization.clone(),
        fields: fields.clone(),
        json: json_body.clone(),
        at: Instant::now(),
    });

    let fault = st
        .faults
        .get_mut(&api_method)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Fault::Pass);
    match fault {
        Fault::Pass => {}
        Fault::TooMany { retry_after } => {
            let secs = retry_after.map(|s| s.to_string());
            let headers: Vec<(&str, &str)> = secs
                .as_deref()
                .map(|s| vec![("retry-after", s)])
                .unwrap_or_default();
            return json_resp(429, &json!({"ok": false, "error": "ratelimited"}), &headers);
        }
        Fault::ServerError => return text(500, "<html>Internal Server Error</html>"),
        Fault::Error(code) => return err(code),
    }

    match authorization.as_deref() {
        None => return err("not_authed"),
        Some(a) if a != expected_auth => return err("invalid_auth"),
        Some(_) => {}
    }

    match api_method.as_str() {
        "users.lookupByEmail" => {
            if !(req.method == Method::GET || req.method == Method::POST) {
                return err("invalid_arguments");
            }
            let Some(email) = fields.get("email") else {
                return err("invalid_arguments");
            };
            match st.users.get(&email.to_lowercase()) {
                Some(id) => ok(json!({
                    "ok": true,
                    "user": {
                        "id": id,
                        "team_id": "T0001",
                        "name": "owner",
                        "deleted": false,
                        "is_bot": false,
                        "profile": {"email": email}
                    }
                })),
                None => err("users_not_found"),
            }
        }
        "conversations.open" => {
            if req.method != Method::POST {
                return err("invalid_arguments");
            }
            let users = fields.get("users").cloned().or_else(|| {
                json_body
                    .as_ref()
                    .and_then(|j| j.get("users"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            let Some(users) = users else {
                return err("users_list_not_supplied");
            };
            let ids: Vec<&str> = users.split(',').map(str::trim).collect();
            if ids.len() != 1 {
                return err("not_enough_users");
            }
            if !st.users.values().any(|u| u == ids[0]) {
                return err("user_not_found");
            }
            let channel = format!("D{}", &ids[0][1..]);
            let already_open = !st.open.insert(channel.clone());
            let mut body = json!({"ok": true, "channel": {"id": channel}});
            if already_open {
                body["no_op"] = json!(true);
                body["already_open"] = json!(true);
            }
            ok(body)
        }
        "chat.postMessage" => {
            if req.method != Method::POST {
                return err("invalid_arguments");
            }
            let Some(body) = json_body else {
                return err("invalid_arguments");
            };
            let channel = body
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Err(problem) = validate_message(&body) {
                return json_resp(
                    200,
                    &json!({
                        "ok": false,
                        "error": "invalid_blocks",
                        "errors": [problem],
                        "response_metadata": {"messages": ["[ERROR] invalid blocks"]}
                    }),
                    &[],
                );
            }
            if !st.open.contains(&channel) {
                return err("channel_not_found");
            }
            st.next_ts += 1;
            let ts = format!("1700000000.{:06}", st.next_ts);
            st.posted.push(body.clone());
            ok(json!({
                "ok": true,
                "channel": channel,
                "ts": ts,
                "message": {
                    "type": "message",
                    "text": body.get("text").cloned().unwrap_or(Value::Null),
                    "bot_id": "B0001",
                    "ts": ts
                }
            }))
        }
        _ => err("unknown_method"),
    }
}
