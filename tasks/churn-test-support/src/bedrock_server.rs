//! Behaves like Amazon Bedrock Runtime's Converse API as the reasoner calls it:
//! `POST /model/{modelId}/converse`, the request shape checked (SigV4 `Authorization`, `messages`
//! with role and text content, `system`, `inferenceConfig`), answered in the documented response
//! shape, with modes for the fallback cases; counts requests in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};

use crate::http::{Req, Resp, json as json_resp, percent_decode, serve};

/// How the server answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// A grounded reply: `"{signal}: {detail}."` for the first entry of the breakdown.
    Good,
    /// A fixed reply, whatever the breakdown.
    Reply(&'static str),
    /// A reply with a number that is not in any breakdown.
    Ungrounded,
    /// A two-line reply.
    MultiLine,
    /// HTTP 429 `ThrottlingException`.
    Throttle,
    /// A good reply after this long.
    Slow(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub model_id: String,
    pub authorization: String,
    pub body: Value,
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    delay: Duration,
    seen: Vec<Seen>,
    refused: Vec<String>,
    in_flight: usize,
    max_in_flight: usize,
}

#[derive(Clone)]
pub struct BedrockServer {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl BedrockServer {
    pub async fn start(mode: Mode) -> Self {
        let state = Arc::new(Mutex::new(State {
            mode: Some(mode),
            ..State::default()
        }));
        let s = state.clone();
        let addr = serve(move |req| {
            let state = s.clone();
            async move { handle(state, req).await }
        })
        .await;
        BedrockServer {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// Every answer waits this long first (for the concurrency count).
    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Why requests were refused as malformed (should stay empty).
    pub fn refused(&self) -> Vec<String> {
        self.state.lock().unwrap().refused.clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }
}

/// Decrements the in-flight count when the answer is done or the client went away.
struct InFlight(Arc<Mutex<State>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

fn error(status: u16, kind: &str, message: &str) -> Resp {
    // AWS sends the error type in `x-amzn-ErrorType`, sometimes with a `:namespace` suffix.
    let header = format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    json_resp(
        status,
        &json!({"message": message}),
        &[
            ("x-amzn-errortype", header.as_str()),
            ("x-amzn-requestid", "00000000-0000-0000-0000-000000000000"),
        ],
    )
}

/// Checks the request against the Converse request syntax; `Err` says what is wrong.
fn check_request(req: &Req) -> Result<(String, Value), String> {
    if req.method != Method::POST {
        return Err(format!("method {}", req.method));
    }
    let model_id = req
        .path
        .strip_prefix("/model/")
        .and_then(|p| p.strip_suffix("/converse"))
        .ok_or_else(|| format!("path {}", req.path))?;
    let model_id = percent_decode(model_id);
    let auth = req.header("authorization").unwrap_or_default();
    if !auth.starts_with("AWS4-HMAC-SHA256 ") {
        return Err("no SigV4 Authorization header".into());
    }
    if !req
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/json")
    {
        return Err("content-type is not JSON".into());
    }
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| format!("body: {e}"))?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("no messages")?;
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(format!("role {role:?}"));
        }
        let content = m
            .get("content")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or("message without content")?;
        if !content
            .iter()
            .all(|c| c.get("text").and_then(Value::as_str).is_some())
        {
            return Err("content block without text".into());
        }
    }
    let system = body
        .get("system")
        .and_then(Value::as_array)
        .ok_or("no system")?;
    if !system
        .iter()
        .all(|s| s.get("text").and_then(Value::as_str).is_some())
    {
        return Err("system block without text".into());
    }
    let inference = body.get("inferenceConfig").ok_or("no inferenceConfig")?;
    match inference.get("maxTokens").and_then(Value::as_u64) {
        Some(n) if n > 0 => {}
        _ => return Err("inferenceConfig.maxTokens".into()),
    }
    if let Some(t) = inference.get("temperature")
        && !t.as_f64().is_some_and(|t| (0.0..=1.0).contains(&t))
    {
        return Err("inferenceConfig.temperature".into());
    }
    Ok((model_id, body))
}

/// The breakdown entries the request carried (parsed from the user message's JSON).
pub fn breakdown_in(body: &Value) -> Vec<Value> {
    let text = body
        .pointer("/messages/0/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let start = text.find('{').unwrap_or(text.len());
    serde_json::from_str::<Value>(&text[start..])
        .ok()
        .and_then(|v| v.get("breakdown").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

fn reply(text: &str) -> Resp {
    json_resp(
        200,
        &json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 120, "outputTokens": 24, "totalTokens": 144},
            "metrics": {"latencyMs": 210}
        }),
        &[("x-amzn-requestid", "00000000-0000-0000-0000-000000000001")],
    )
}

async fn handle(state: Arc<Mutex<State>>, req: Req) -> Resp {
    let (model_id, body) = match check_request(&req) {
        Ok(x) => x,
        Err(problem) => {
            state.lock().unwrap().refused.push(problem.clone());
            let status = if problem.contains("SigV4") { 403 } else { 400 };
            let kind = if status == 403 {
                "AccessDeniedException"
            } else {
                "ValidationException"
            };
            return error(status, kind, &problem);
        }
    };
    let (mode, delay) = {
        let mut st = state.lock().unwrap();
        st.seen.push(Seen {
            model_id,
            authorization: req.header("authorization").unwrap_or_default(),
            body: body.clone(),
        });
        st.in_flight += 1;
        st.max_in_flight = st.max_in_flight.max(st.in_flight);
        (st.mode.clone().unwrap_or(Mode::Good), st.delay)
    };
    let _guard = InFlight(state.clone());
    tokio::time::sleep(delay).await;
    let good = || {
        let first = breakdown_in(&body).into_iter().next().unwrap_or_default();
        format!(
            "{}: {}.",
            first.get("signal").and_then(Value::as_str).unwrap_or("?"),
            first.get("detail").and_then(Value::as_str).unwrap_or("?")
        )
    };
    match mode {
        Mode::Good => reply(&good()),
        Mode::Reply(text) => reply(text),
        Mode::Ungrounded => reply("Late by 97 days and support mood is sour."),
        Mode::MultiLine => reply("Next order is late.\nSupport mood is sour."),
        Mode::Throttle => error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            reply(&good())
        }
    }
}
