//! Behaves like Slack's Web API (`https://slack.com/api/{method}`): `users.lookupByEmail`,
//! `conversations.open`, `chat.postMessage` (with optional message `metadata`),
//! `conversations.history` (newest first; `limit`, `oldest`, `latest`, `inclusive`; each
//! message's `metadata` only with `include_all_metadata=true`), `chat.update`, `views.open`,
//! `views.publish` (Home tabs: `type: home`, at most 100 blocks each checked like a message's,
//! unique block ids, 250 KB; an unknown `user_id` is `user_not_found`) and `users.info` (the
//! profile email), with the documented request and response shapes, bearer-token auth (`not_authed` /
//! `invalid_auth` with HTTP 200, as Slack answers), Block Kit bodies checked with
//! `validate_message`, modals checked against Slack's view rules, `trigger_id`s that expire after
//! 3 seconds and work once, interaction `response_url`s (5 uses, tied to a message), everything
//! received recorded, and scripted faults per method.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use churn_core::notify::message::validate_message;
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
    /// Messages as they now stand, by (channel, ts).
    messages: HashMap<(String, String), Value>,
    /// trigger_id → when Slack issued it.
    triggers: HashMap<String, Instant>,
    /// Views opened, in order.
    views: Vec<Value>,
    /// response_url id → (channel, ts, uses).
    hooks: HashMap<String, (String, String, u32)>,
    /// Bodies posted to response_urls, in order, with the hook id.
    responses: Vec<(String, Value)>,
    /// Home tabs published, in order: (user id, view).
    homes: Vec<(String, Value)>,
    next_id: u64,
}

/// How long Slack honours a `trigger_id`.
pub const TRIGGER_TTL: Duration = Duration::from_secs(3);
/// How many times a `response_url` may be used.
pub const RESPONSE_URL_USES: u32 = 5;

#[derive(Clone)]
pub struct SlackServer {
    /// The base URL to give the notifier (`http://127.0.0.1:PORT/api/`).
    pub base_url: String,
    /// `http://127.0.0.1:PORT/hooks/`, the prefix of the response_urls it issues.
    pub hooks_url: String,
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
            hooks_url: format!("http://{addr}/hooks/"),
            state,
        }
    }

    /// A trigger_id as Slack puts in a click payload, issued `age` ago.
    pub fn issue_trigger(&self, age: Duration) -> String {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = format!("{}.1337.{:x}", 1_700_000_000 + st.next_id, st.next_id);
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        st.triggers.insert(id.clone(), at);
        id
    }

    /// A response_url for a click on the message (channel, ts).
    pub fn issue_response_url(&self, channel: &str, ts: &str) -> String {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = format!("T0001/{}/{:x}", st.next_id, st.next_id * 7919);
        st.hooks
            .insert(id.clone(), (channel.to_string(), ts.to_string(), 0));
        format!("{}{id}", self.hooks_url)
    }

    /// The message (channel, ts) as it now stands (after any updates).
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.messages
            .get(&(channel.to_string(), ts.to_string()))
            .cloned()
    }

    /// The views opened, in order.
    pub fn views(&self) -> Vec<Value> {
        self.state.lock().unwrap().views.clone()
    }

    /// The bodies posted to response_urls, in order.
    pub fn responses(&self) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        st.responses.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The Home tab views published, in order, with the member each went to.
    pub fn homes(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().homes.clone()
    }

    /// The Home tab `user_id` sees now (the last one published to them).
    pub fn home(&self, user_id: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.homes
            .iter()
            .rev()
            .find(|(u, _)| u == user_id)
            .map(|(_, v)| v.clone())
    }

    pub fn add_user(&self, email: &str, id: &str) {
        let mut st = self.state.lock().unwrap();
        st.users.insert(email.to_lowercase(), id.to_string());
    }

    /// A channel the bot is a member of (posts to it are accepted).
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
    if let Some(hook) = req.path.strip_prefix("/hooks/") {
        return response_url(&mut st, hook, &req.method, &ct, json_body);
    }
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
            let metadata = match message_metadata(&body) {
                Ok(m) => m,
                Err(code) => return err(code),
            };
            if !st.open.contains(&channel) {
                return err("channel_not_found");
            }
            st.next_ts += 1;
            let ts = format!("1700000000.{:06}", st.next_ts);
            st.posted.push(body.clone());
            // Stored with the message as Slack keeps it: an object, or nothing.
            let mut stored = body.clone();
            match metadata {
                Some(m) => stored["metadata"] = m,
                None => {
                    if let Some(o) = stored.as_object_mut() {
                        o.remove("metadata");
                    }
                }
            }
            st.messages.insert((channel.clone(), ts.clone()), stored);
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
        "conversations.history" => {
            // Form or query fields (GET or POST); a bot token reads the DMs it is in.
            let Some(channel) = fields.get("channel").filter(|c| !c.is_empty()) else {
                return err("channel_not_found");
            };
            let bound = |k: &str| -> Result<Option<f64>, &'static str> {
                match fields.get(k) {
                    None => Ok(None),
                    Some(v) => v.parse::<f64>().map(Some).map_err(|_| "invalid_ts"),
                }
            };
            let (Ok(latest), Ok(oldest)) = (bound("latest"), bound("oldest")) else {
                return err("invalid_ts_latest");
            };
            let inclusive = matches!(
                fields.get("inclusive").map(String::as_str),
                Some("true" | "1")
            );
            // Slack leaves message metadata out unless asked for it.
            let include_metadata = matches!(
                fields.get("include_all_metadata").map(String::as_str),
                Some("true" | "1")
            );
            let limit: usize = fields
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100)
                .clamp(1, 999);
            if !st.open.contains(channel) && !st.messages.keys().any(|(c, _)| c == channel) {
                return err("channel_not_found");
            }
            let mut found: Vec<(f64, Value)> = st
                .messages
                .iter()
                .filter(|((c, _), _)| c == channel)
                .filter_map(|((_, ts), m)| {
                    let t: f64 = ts.parse().ok()?;
                    let after = oldest.is_none_or(|o| if inclusive { t >= o } else { t > o });
                    let before = latest.is_none_or(|l| if inclusive { t <= l } else { t < l });
                    (after && before).then(|| {
                        let mut out = json!({"type": "message", "ts": ts, "bot_id": "B0001",
                                             "text": m["text"], "blocks": m["blocks"]});
                        if include_metadata && let Some(md) = m.get("metadata") {
                            out["metadata"] = md.clone();
                        }
                        (t, out)
                    })
                })
                .collect();
            // Newest first, as Slack returns them.
            found.sort_by(|a, b| b.0.total_cmp(&a.0));
            let has_more = found.len() > limit;
            let messages: Vec<Value> = found.into_iter().take(limit).map(|(_, m)| m).collect();
            ok(
                json!({"ok": true, "messages": messages, "has_more": has_more,
                      "pin_count": 0, "response_metadata": {"next_cursor": ""}}),
            )
        }
        "chat.update" => {
            let Some(body) = json_body.filter(|_| req.method == Method::POST) else {
                return err("invalid_arguments");
            };
            let key = (
                body["channel"].as_str().unwrap_or_default().to_string(),
                body["ts"].as_str().unwrap_or_default().to_string(),
            );
            if key.0.is_empty() {
                return err("channel_not_found");
            }
            if let Err(problem) = validate_message(&body) {
                return invalid_blocks(&problem);
            }
            let Some(existing) = st.messages.get_mut(&key) else {
                return err("message_not_found");
            };
            existing["text"] = body["text"].clone();
            existing["blocks"] = body["blocks"].clone();
            ok(json!({"ok": true, "channel": key.0, "ts": key.1, "text": body["text"]}))
        }
        "users.info" => {
            let Some(user) = fields.get("user").filter(|u| !u.is_empty()) else {
                return err("user_not_found");
            };
            match st.users.iter().find(|(_, id)| *id == user) {
                Some((email, id)) => ok(json!({
                    "ok": true,
                    "user": {
                        "id": id, "team_id": "T0001", "name": "member", "deleted": false,
                        "is_bot": false, "profile": {"email": email, "real_name": "Member"}
                    }
                })),
                None => err("user_not_found"),
            }
        }
        "views.publish" => {
            let Some(body) = json_body.filter(|_| req.method == Method::POST) else {
                return err("invalid_arguments");
            };
            let user = body["user_id"].as_str().unwrap_or_default().to_string();
            if user.is_empty() {
                return err("invalid_arguments");
            }
            let view = match &body["view"] {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                v => v.clone(),
            };
            if serde_json::to_vec(&view).map_or(0, |v| v.len()) > 250 * 1024 {
                return err("view_too_large");
            }
            if let Err(problem) = validate_home_view(&view) {
                return json_resp(
                    200,
                    &json!({"ok": false, "error": "invalid_arguments",
                            "response_metadata": {"messages": [format!("[ERROR] {problem}")]}}),
                    &[],
                );
            }
            if !st.users.values().any(|u| *u == user) {
                return err("user_not_found");
            }
            st.homes.push((user.clone(), view.clone()));
            let mut out = view;
            out["id"] = json!(format!("VH{:05}", st.homes.len()));
            out["hash"] = json!(format!("{}.{}", 1_700_000_000 + st.homes.len(), 1));
            ok(json!({"ok": true, "view": out}))
        }
        "views.open" => {
            let Some(body) = json_body.filter(|_| req.method == Method::POST) else {
                return err("invalid_arguments");
            };
            let trigger = body["trigger_id"].as_str().unwrap_or_default();
            // A trigger works once, within 3 seconds of the click.
            match st.triggers.remove(trigger) {
                None => return err("invalid_trigger_id"),
                Some(at) if at.elapsed() > TRIGGER_TTL => return err("expired_trigger_id"),
                Some(_) => {}
            }
            let view = match &body["view"] {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                v => v.clone(),
            };
            if let Err(problem) = validate_view(&view) {
                return json_resp(
                    200,
                    &json!({"ok": false, "error": "invalid_arguments",
                            "response_metadata": {"messages": [format!("[ERROR] {problem}")]}}),
                    &[],
                );
            }
            st.views.push(view.clone());
            let mut out = view.clone();
            out["id"] = json!(format!("V{:06}", st.views.len()));
            out["state"] = json!({"values": {}});
            ok(json!({"ok": true, "view": out}))
        }
        _ => err("unknown_method"),
    }
}

/// A `chat.postMessage` `metadata` argument checked as Slack checks it: an object (or, as form
/// posts send it, its JSON text) with a string `event_type` and an object `event_payload`;
/// anything else is `invalid_metadata_format`. `Ok(None)` when there is none.
fn message_metadata(body: &Value) -> Result<Option<Value>, &'static str> {
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => {
            serde_json::from_str::<Value>(s).map_err(|_| "invalid_metadata_format")?
        }
        Some(v) => v.clone(),
    };
    let event_type = metadata
        .get("event_type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let event_payload = metadata.get("event_payload").filter(|p| p.is_object());
    match (event_type, event_payload) {
        (Some(event_type), Some(event_payload)) => Ok(Some(
            json!({"event_type": event_type, "event_payload": event_payload}),
        )),
        _ => Err("invalid_metadata_format"),
    }
}

fn invalid_blocks(problem: &str) -> Resp {
    json_resp(
        200,
        &json!({
            "ok": false,
            "error": "invalid_blocks",
            "errors": [problem],
            "response_metadata": {"messages": ["[ERROR] invalid blocks"]}
        }),
        &[],
    )
}

fn plain_text(v: &Value, max: usize, what: &str) -> Result<(), String> {
    if v["type"] != "plain_text" {
        return Err(format!("{what} must be plain_text"));
    }
    let n = v["text"].as_str().map(|t| t.chars().count()).unwrap_or(0);
    if n == 0 || n > max {
        return Err(format!("{what} must be 1 to {max} characters"));
    }
    Ok(())
}

/// Slack's rules for a modal view (Block Kit "View objects"): type modal, a plain_text title of
/// at most 24 characters, 1 to 100 blocks, a callback_id ≤ 255, private_metadata ≤ 3000, a
/// submit button whenever there is an input block, submit/close ≤ 24 characters, inputs with a
/// label and an element that has an action_id, unique block_ids.
pub fn validate_view(view: &Value) -> Result<(), String> {
    if view["type"] != "modal" {
        return Err("view.type must be modal".into());
    }
    plain_text(&view["title"], 24, "title")?;
    let cb = view["callback_id"].as_str().unwrap_or_default();
    if cb.is_empty() || cb.len() > 255 {
        return Err("callback_id must be 1 to 255 characters".into());
    }
    if view["private_metadata"]
        .as_str()
        .map_or(0, |m| m.chars().count())
        > 3000
    {
        return Err("private_metadata must be at most 3000 characters".into());
    }
    let blocks = view["blocks"].as_array().ok_or("blocks is missing")?;
    if blocks.is_empty() || blocks.len() > 100 {
        return Err("a view needs 1 to 100 blocks".into());
    }
    let mut ids = HashSet::new();
    let mut inputs = 0;
    for (i, b) in blocks.iter().enumerate() {
        if let Some(id) = b["block_id"].as_str()
            && (id.is_empty() || id.len() > 255 || !ids.insert(id.to_string()))
        {
            return Err(format!("block {i}: block_id empty, too long or repeated"));
        }
        match b["type"].as_str() {
            Some("input") => {
                inputs += 1;
                plain_text(&b["label"], 2000, &format!("block {i} label"))?;
                let el = &b["element"];
                if !el.is_object() || el["action_id"].as_str().is_none_or(str::is_empty) {
                    return Err(format!("block {i}: input element needs an action_id"));
                }
                if el["type"] == "static_select"
                    && el["options"]
                        .as_array()
                        .is_none_or(|o| o.is_empty() || o.len() > 100)
                {
                    return Err(format!("block {i}: static_select needs 1 to 100 options"));
                }
            }
            Some("section") => {
                let n = b["text"]["text"].as_str().map_or(0, |t| t.chars().count());
                if n == 0 || n > 3000 {
                    return Err(format!(
                        "block {i}: section text must be 1 to 3000 characters"
                    ));
                }
            }
            Some("context" | "divider" | "header" | "actions") => {}
            other => return Err(format!("block {i}: unsupported type {other:?}")),
        }
    }
    if inputs > 0 && view["submit"].is_null() {
        return Err("a view with input blocks needs submit".into());
    }
    for key in ["submit", "close"] {
        if !view[key].is_null() {
            plain_text(&view[key], 24, key)?;
        }
    }
    Ok(())
}

/// Slack's rules for a Home tab view: `type: home`, 1 to 100 blocks, unique block ids, each
/// block as a message's blocks are checked (`validate_message`, 50 at a time), `private_metadata`
/// at most 3,000 characters.
pub fn validate_home_view(view: &Value) -> Result<(), String> {
    if view["type"] != "home" {
        return Err("view.type must be home".into());
    }
    let blocks = view["blocks"].as_array().ok_or("blocks is missing")?;
    if blocks.is_empty() || blocks.len() > 100 {
        return Err("a view needs 1 to 100 blocks".into());
    }
    if view["private_metadata"]
        .as_str()
        .map_or(0, |m| m.chars().count())
        > 3000
    {
        return Err("private_metadata must be at most 3000 characters".into());
    }
    let mut ids = HashSet::new();
    for (i, b) in blocks.iter().enumerate() {
        if let Some(id) = b["block_id"].as_str()
            && !ids.insert(id.to_string())
        {
            return Err(format!("block {i}: repeated block_id"));
        }
        if matches!(b["type"].as_str(), Some("input")) {
            return Err(format!("block {i}: input blocks need a modal"));
        }
    }
    for chunk in blocks.chunks(50) {
        validate_message(&json!({"channel": "home", "text": "home", "blocks": chunk}))?;
    }
    Ok(())
}

/// Signs an Events API (or interactivity) request body as Slack does: the headers to send.
pub fn signed_headers(secret: &str, timestamp: i64, body: &str) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-slack-request-timestamp".into(), timestamp.to_string()),
        (
            "x-slack-signature".into(),
            churn_core::notify::slack::sign(secret.as_bytes(), timestamp, body.as_bytes()),
        ),
    ]
}

/// An Events API `event_callback` envelope around `event`, as Slack posts it.
pub fn event_callback(event_id: &str, event: Value) -> Value {
    json!({
        "token": "verification-token-unused",
        "team_id": "T0001",
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [{"team_id": "T0001", "user_id": "U0BOT", "is_bot": true}],
    })
}

/// The `app_home_opened` event of `user_id` opening the app's Home tab.
pub fn app_home_opened(user_id: &str) -> Value {
    json!({
        "type": "app_home_opened",
        "user": user_id,
        "channel": format!("D{}", user_id.trim_start_matches('U')),
        "tab": "home",
        "event_ts": "1700000000.000100",
    })
}

/// An interaction response_url: JSON only, 5 uses, `replace_original` replaces the message the
/// click came from (its blocks checked), anything else is recorded as a new (or ephemeral) message.
fn response_url(
    st: &mut State,
    hook: &str,
    method: &Method,
    ct: &str,
    body: Option<Value>,
) -> Resp {
    let Some((channel, ts, uses)) = st.hooks.get(hook).cloned() else {
        return text(404, "invalid_url");
    };
    if uses >= RESPONSE_URL_USES {
        return text(404, "used_url");
    }
    if *method != Method::POST || !ct.starts_with("application/json") {
        return text(400, "invalid_payload");
    }
    let Some(body) = body.filter(Value::is_object) else {
        return text(400, "invalid_payload");
    };
    if body["text"].as_str().is_none() && body["blocks"].as_array().is_none() {
        return text(400, "no_text");
    }
    if body["replace_original"] == true {
        let mut full = body.clone();
        full["channel"] = json!(channel);
        if let Err(problem) = validate_message(&full) {
            return text(400, &format!("invalid_blocks: {problem}"));
        }
        let Some(existing) = st.messages.get_mut(&(channel.clone(), ts.clone())) else {
            return text(404, "message_not_found");
        };
        existing["text"] = body["text"].clone();
        existing["blocks"] = body["blocks"].clone();
    } else if body["blocks"].is_array() {
        let mut full = body.clone();
        full["channel"] = json!(channel);
        if let Err(problem) = validate_message(&full) {
            return text(400, &format!("invalid_blocks: {problem}"));
        }
    }
    st.hooks.insert(hook.to_string(), (channel, ts, uses + 1));
    st.responses.push((hook.to_string(), body));
    json_resp(200, &json!({"ok": true}), &[])
}
