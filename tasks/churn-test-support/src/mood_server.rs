//! Behaves like Amazon Bedrock Runtime's Converse API with tool use, as the mood labeller calls
//! it (`POST /model/{modelId}/converse`): checks the request shape (SigV4, one user message with
//! text, a system prompt, `toolConfig` with exactly the `record_mood` tool whose JSON schema
//! allows only sour/flat/happy, and `toolChoice` forcing it), then answers with a `toolUse`
//! block, an off-set label, plain text, a 429 `ThrottlingException`, a 500, or slowly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};

use crate::http::{Req, Resp, json as json_resp, serve};

#[derive(Debug, Clone, PartialEq)]
pub enum MoodMode {
    /// A `record_mood` call with this label (whatever it is).
    Label(&'static str),
    /// A text reply instead of the tool call.
    Text(&'static str),
    /// HTTP 429 `ThrottlingException`.
    Throttle,
    /// HTTP 500 `InternalServerException`.
    ServerError,
    /// A good label after this long.
    Slow(Duration),
}

#[derive(Clone)]
pub struct MoodServer {
    pub url: String,
    seen: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl MoodServer {
    pub async fn start(mode: MoodMode) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (seen.clone(), refused.clone());
        let addr = serve(move |req| {
            let (s, r, mode) = (s.clone(), r.clone(), mode.clone());
            async move { handle(req, mode, s, r).await }
        })
        .await;
        MoodServer {
            url: format!("http://{addr}"),
            seen,
            refused,
        }
    }

    /// The request bodies that passed the checks.
    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    /// Why requests were refused (should stay empty).
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}

fn error(status: u16, kind: &str, message: &str) -> Resp {
    let header = format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    json_resp(
        status,
        &json!({"message": message}),
        &[("x-amzn-errortype", header.as_str())],
    )
}

/// The checks; `Err` says what is wrong.
fn check(req: &Req) -> Result<Value, String> {
    if req.method != Method::POST
        || !req.path.starts_with("/model/")
        || !req.path.ends_with("/converse")
    {
        return Err(format!("{} {}", req.method, req.path));
    }
    if !req
        .header("authorization")
        .unwrap_or_default()
        .starts_with("AWS4-HMAC-SHA256 ")
    {
        return Err("no SigV4 Authorization header".into());
    }
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| format!("body: {e}"))?;
    let messages = body["messages"].as_array().ok_or("no messages")?;
    if messages.len() != 1 || messages[0]["role"] != "user" {
        return Err("want exactly one user message".into());
    }
    if messages[0]["content"][0]["text"].as_str().is_none() {
        return Err("user message without text".into());
    }
    if body["system"][0]["text"].as_str().is_none() {
        return Err("no system prompt".into());
    }
    let tools = body["toolConfig"]["tools"]
        .as_array()
        .ok_or("no toolConfig.tools")?;
    if tools.len() != 1 {
        return Err("want exactly one tool".into());
    }
    let spec = &tools[0]["toolSpec"];
    if spec["name"] != "record_mood" {
        return Err(format!("tool name {}", spec["name"]));
    }
    let schema = &spec["inputSchema"]["json"];
    if schema["properties"]["label"]["enum"] != json!(["sour", "flat", "happy"])
        || schema["required"] != json!(["label"])
    {
        return Err(format!("tool schema {schema}"));
    }
    if body["toolConfig"]["toolChoice"] != json!({"tool": {"name": "record_mood"}}) {
        return Err(format!("toolChoice {}", body["toolConfig"]["toolChoice"]));
    }
    Ok(body)
}

fn tool_reply(label: &str) -> Resp {
    json_resp(
        200,
        &json!({
            "output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "tooluse_mood_1", "name": "record_mood", "input": {"label": label}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 310, "outputTokens": 18, "totalTokens": 328},
            "metrics": {"latencyMs": 420}
        }),
        &[],
    )
}

async fn handle(
    req: Req,
    mode: MoodMode,
    seen: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<Vec<String>>>,
) -> Resp {
    let body = match check(&req) {
        Ok(b) => b,
        Err(why) => {
            refused.lock().unwrap().push(why.clone());
            return error(400, "ValidationException", &why);
        }
    };
    seen.lock().unwrap().push(body);
    match mode {
        MoodMode::Label(l) => tool_reply(l),
        MoodMode::Text(t) => json_resp(
            200,
            &json!({
                "output": {"message": {"role": "assistant", "content": [{"text": t}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 300, "outputTokens": 3, "totalTokens": 303},
                "metrics": {"latencyMs": 200}
            }),
            &[],
        ),
        MoodMode::Throttle => error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        MoodMode::ServerError => error(500, "InternalServerException", "internal error"),
        MoodMode::Slow(d) => {
            tokio::time::sleep(d).await;
            tool_reply("flat")
        }
    }
}
