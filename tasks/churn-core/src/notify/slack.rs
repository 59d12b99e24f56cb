//! Slack interactivity (docs/SPEC.md §7): request signatures, the interaction payloads the outcome
//! handler receives, the Won back and Lost modals, and the updated message row that shows who did
//! what, with Undo.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::notify::message::plain_text;
use crate::outcome::state::{LostReason, Outcome, parse_recovered_value};

type HmacSha256 = Hmac<Sha256>;

/// Requests larger than this are refused before anything else (Slack's payloads are small).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Timestamps further than this from now, either way, are refused (Slack: 5 minutes).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The signing secret and, during a rotation, the previous one. `Debug` never shows them.
#[derive(Clone)]
pub struct SigningSecrets {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecrets(redacted)")
    }
}

impl SigningSecrets {
    pub fn new(current: &str, previous: Option<&str>) -> SigningSecrets {
        SigningSecrets {
            current: current.as_bytes().to_vec(),
            previous: previous
                .filter(|p| !p.is_empty())
                .map(|p| p.as_bytes().to_vec()),
        }
    }
}

/// Why a request was refused. The HTTP answer is a bare 401 whatever the reason; the reason is
/// for metrics and tests, never for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("body too large")]
    TooLarge,
    #[error("no X-Slack-Request-Timestamp")]
    MissingTimestamp,
    #[error("X-Slack-Request-Timestamp is not a number")]
    BadTimestamp,
    #[error("timestamp too far from now")]
    Stale,
    #[error("no X-Slack-Signature")]
    MissingSignature,
    #[error("signature is not v0")]
    BadPrefix,
    #[error("signature does not match")]
    Mismatch,
}

/// `v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{body}`).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac_for(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::from("v0=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn mac_for(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// Verifies a Slack request before anything in it is parsed: size, timestamp within five
/// minutes either way of `now` (unix seconds), `v0=` signature matching the current or the
/// previous secret, compared in constant time.
pub fn verify_request(
    secrets: &SigningSecrets,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(SignatureError::TooLarge);
    }
    let ts = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) || ts.len() > 12 {
        return Err(SignatureError::BadTimestamp);
    }
    let ts: i64 = ts.parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now - ts).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let sig = signature.ok_or(SignatureError::MissingSignature)?.trim();
    let hex = sig.strip_prefix("v0=").ok_or(SignatureError::BadPrefix)?;
    let tag = decode_hex(hex).ok_or(SignatureError::Mismatch)?;
    let ok = |secret: &[u8]| mac_for(secret, ts, body).verify_slice(&tag).is_ok();
    // Both secrets are always tried, so timing does not tell which one matched.
    let current = ok(&secrets.current);
    let previous = secrets.previous.as_deref().is_some_and(ok);
    if current | previous {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What a button's `value` carries (see `message::slack_messages`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ButtonValue {
    /// Customer id.
    #[serde(default)]
    pub c: Option<String>,
    /// Week.
    #[serde(default)]
    pub w: Option<String>,
    /// Rules version.
    #[serde(default)]
    pub v: Option<String>,
    /// The hashed customer id ([`crate::notify::message::short_hash`]) of an id too long for
    /// the value.
    #[serde(default)]
    pub ch: Option<String>,
    /// On an Undo button: the audit `ts` of the outcome it undoes (docs/SPEC.md §5).
    #[serde(default)]
    pub t: Option<String>,
}

/// The message a click came from, for updating its row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub channel_id: String,
    pub message_ts: String,
    pub response_url: Option<String>,
}

/// An interaction the outcome handler acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Interaction {
    /// A button on a Monday list.
    Button {
        action_id: String,
        value: ButtonValue,
        user_id: String,
        user_name: String,
        trigger_id: String,
        origin: Origin,
        /// The message's blocks, to rebuild the clicked row.
        blocks: Vec<Value>,
    },
    /// A Won back or Lost modal was submitted.
    Submission {
        callback_id: String,
        user_id: String,
        user_name: String,
        /// The modal's `private_metadata` (what `won_back_modal` / `lost_modal` put there).
        metadata: ModalMetadata,
        /// `values` from the view state.
        values: Value,
    },
}

/// Why a payload could not be used (400, after the signature passed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable Slack payload: {0}")]
pub struct PayloadError(pub String);

/// Reads an interaction request body (`application/x-www-form-urlencoded`, `payload=<json>`).
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, PayloadError> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| PayloadError("no payload field".into()))?;
    let p: Value =
        serde_json::from_str(&payload).map_err(|e| PayloadError(format!("not JSON: {e}")))?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let user_id = s(&p["user"]["id"]);
    let user_name = p["user"]["username"]
        .as_str()
        .or(p["user"]["name"].as_str())
        .unwrap_or_default()
        .to_string();
    match p["type"].as_str() {
        Some("block_actions") => {
            let action = p["actions"]
                .get(0)
                .ok_or_else(|| PayloadError("no action".into()))?;
            let value: ButtonValue = serde_json::from_str(action["value"].as_str().unwrap_or("{}"))
                .map_err(|e| PayloadError(format!("button value: {e}")))?;
            Ok(Interaction::Button {
                action_id: s(&action["action_id"]),
                value,
                user_id,
                user_name,
                trigger_id: s(&p["trigger_id"]),
                origin: Origin {
                    channel_id: s(&p["container"]["channel_id"]),
                    message_ts: s(&p["container"]["message_ts"]),
                    response_url: p["response_url"].as_str().map(str::to_string),
                },
                blocks: p["message"]["blocks"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            })
        }
        Some("view_submission") => {
            let view = &p["view"];
            let metadata: ModalMetadata =
                serde_json::from_str(view["private_metadata"].as_str().unwrap_or("{}"))
                    .map_err(|e| PayloadError(format!("modal metadata: {e}")))?;
            Ok(Interaction::Submission {
                callback_id: s(&view["callback_id"]),
                user_id,
                user_name,
                metadata,
                values: view["state"]["values"].clone(),
            })
        }
        other => Err(PayloadError(format!("unsupported type {other:?}"))),
    }
}

/// What a modal remembers about the click that opened it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ModalMetadata {
    pub customer_id: String,
    #[serde(default)]
    pub week: String,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub message_ts: String,
    /// The click's `response_url`, to answer the owner after the submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
    /// The message's blocks as they will be once the outcome is recorded, when they fit in
    /// `private_metadata` (3,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<Value>>,
}

/// Slack's limit on a view's `private_metadata`.
pub const MAX_PRIVATE_METADATA_CHARS: usize = 3000;

fn plain(text: &str) -> Value {
    json!({"type": "plain_text", "text": text, "emoji": true})
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// The Won back modal: an optional recovered value (money read as in docs/SPEC.md §2).
pub fn won_back_modal(name: &str, meta: &ModalMetadata) -> Value {
    json!({
        "type": "modal",
        "callback_id": "won_back",
        "private_metadata": serde_json::to_string(meta).unwrap_or_default(),
        "title": plain("Won back"),
        "submit": plain("Record"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "section", "text": plain_text(&truncate(&format!("{name} is buying again."), 3000))},
            {"type": "input", "block_id": "value", "optional": true,
             "label": plain("Recovered value (optional)"),
             "element": {"type": "plain_text_input", "action_id": "value", "placeholder": plain("e.g. 1200 or $1,200.00")}}
        ]
    })
}

/// The Lost modal: the reason picker and an optional note.
pub fn lost_modal(name: &str, meta: &ModalMetadata) -> Value {
    let options: Vec<Value> = LostReason::ALL
        .iter()
        .map(|r| json!({"text": plain(r.label()), "value": r.as_str()}))
        .collect();
    json!({
        "type": "modal",
        "callback_id": "lost",
        "private_metadata": serde_json::to_string(meta).unwrap_or_default(),
        "title": plain("Lost"),
        "submit": plain("Record"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "section", "text": plain_text(&truncate(&format!("Why did we lose {name}?"), 3000))},
            {"type": "input", "block_id": "reason", "label": plain("Reason"),
             "element": {"type": "static_select", "action_id": "reason", "placeholder": plain("Pick one"), "options": options}},
            {"type": "input", "block_id": "note", "optional": true, "label": plain("Note (optional)"),
             "element": {"type": "plain_text_input", "action_id": "note", "multiline": true, "max_length": 500}}
        ]
    })
}

/// Field errors to show in a modal (`response_action: errors`).
pub type FieldErrors = Vec<(&'static str, String)>;

/// Reads a submitted modal into an outcome, or the field errors to show.
pub fn outcome_from_submission(callback_id: &str, values: &Value) -> Result<Outcome, FieldErrors> {
    let input = |block: &str, action: &str| {
        values[block][action]["value"]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match callback_id {
        "won_back" => match parse_recovered_value(input("value", "value").unwrap_or_default()) {
            Ok(value) => Ok(Outcome::WonBack { value }),
            Err(rule) => Err(vec![("value", rule.into())]),
        },
        "lost" => {
            let reason = values["reason"]["reason"]["selected_option"]["value"]
                .as_str()
                .and_then(LostReason::parse);
            match reason {
                Some(reason) => Ok(Outcome::Lost {
                    reason,
                    note: input("note", "note").map(|n| truncate(n, 500)),
                }),
                None => Err(vec![("reason", "Pick a reason.".into())]),
            }
        }
        _ => Err(vec![("value", "Unknown form.".into())]),
    }
}

/// The answer to a modal with field errors.
pub fn errors_response(errors: &FieldErrors) -> Value {
    let map: serde_json::Map<String, Value> = errors
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    json!({"response_action": "errors", "errors": map})
}

/// The row's blocks after an action: the customer's section stays; the row's context line gains
/// (or has replaced) a status element saying who did what; the buttons become an Undo button (or,
/// after an undo, the three buttons again). The row keeps its three blocks, so a full message
/// stays within Slack's 50 blocks. Returns `None` when the message has no row for this customer.
///
/// `undo` is `Some(ts)` to show Undo for the outcome with audit `ts` (the button's value gains
/// `"t": ts`), `Some("")` for an Undo not yet bound to a write (a form still open), `None` to
/// show the three buttons (their value without `t`).
pub fn updated_blocks(
    blocks: &[Value],
    customer_id: &str,
    done: &str,
    undo: Option<&str>,
) -> Option<Vec<Value>> {
    let pos = row_actions(blocks, customer_id)?;
    let old = &blocks[pos];
    let value = with_undo_ts(&old["elements"][0]["value"], undo.filter(|t| !t.is_empty()));
    let block_id = old["block_id"].clone();
    let mut out = blocks.to_vec();
    let status = json!({"type": "mrkdwn", "text": truncate(done, 3000)});
    let buttons = if undo.is_some() {
        json!({"type": "actions", "block_id": block_id, "elements": [
            {"type": "button", "text": plain("Undo"), "action_id": "undo", "value": value}
        ]})
    } else {
        json!({"type": "actions", "block_id": block_id, "elements": [
            {"type": "button", "text": plain("Reached out"), "action_id": "reached_out", "value": value},
            {"type": "button", "text": plain("Won back"), "action_id": "won_back", "value": value, "style": "primary"},
            {"type": "button", "text": plain("Lost"), "action_id": "lost", "value": value, "style": "danger"}
        ]})
    };
    out[pos] = buttons;
    let is_status = |e: &Value| {
        e["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(STATUS_MARK))
    };
    match pos.checked_sub(1).map(|i| (i, &mut out[i])) {
        Some((_, ctx)) if ctx["type"] == "context" && ctx["elements"].is_array() => {
            let els = ctx["elements"].as_array_mut().expect("checked above");
            // A status left by an earlier action is replaced, not stacked.
            els.retain(|e| !is_status(e));
            els.truncate(9);
            els.push(status);
        }
        _ => out.insert(pos, json!({"type": "context", "elements": [status]})),
    }
    Some(out)
}

/// A button value with its `t` set to `ts` (or removed when `None`); other keys are kept.
fn with_undo_ts(value: &Value, ts: Option<&str>) -> Value {
    let Some(mut map) = value
        .as_str()
        .and_then(|v| serde_json::from_str::<serde_json::Map<String, Value>>(v).ok())
    else {
        return value.clone();
    };
    map.remove("t");
    if let Some(ts) = ts {
        map.insert("t".into(), Value::from(ts));
    }
    Value::String(Value::Object(map).to_string())
}

/// What every status line starts with (see [`done_line`]).
const STATUS_MARK: &str = "✓ ";

/// Index of the actions block whose buttons carry `customer_id`.
fn row_actions(blocks: &[Value], customer_id: &str) -> Option<usize> {
    let hash = crate::notify::message::short_hash(customer_id);
    blocks.iter().position(|b| {
        b["type"] == "actions"
            && b["elements"].as_array().is_some_and(|els| {
                els.iter().any(|e| {
                    e["value"]
                        .as_str()
                        .and_then(|v| serde_json::from_str::<ButtonValue>(v).ok())
                        .is_some_and(|v| {
                            v.c.as_deref() == Some(customer_id)
                                || (v.c.is_none() && v.ch.as_deref() == Some(hash.as_str()))
                        })
                })
            })
    })
}

/// The customer's display name as the row shows it (its section's first line, before
/// ` — {band} · score {score}`); `None` when the row is not found.
pub fn row_name(blocks: &[Value], customer_id: &str) -> Option<String> {
    let pos = row_actions(blocks, customer_id)?;
    let section = blocks[..pos]
        .iter()
        .rev()
        .find(|b| b["type"] == "section")?;
    let text = section["text"]["text"].as_str()?;
    let first = text.split('\n').next()?;
    let name = first.rsplit_once(" — ").map_or(first, |(name, _)| name);
    (!name.trim().is_empty()).then(|| name.to_string())
}

/// "✓ Reached out by <@U123> on 2026-11-23" (user mentions are Slack's own syntax, not user text).
pub fn done_line(action: &str, user_id: &str, date: &str) -> String {
    let what = match action {
        "reached_out" => "Reached out",
        "won_back" => "Won back",
        "lost" => "Marked lost",
        "undo" => "Undone",
        other => other,
    };
    let who = if user_id.chars().all(|c| c.is_ascii_alphanumeric()) && !user_id.is_empty() {
        format!("<@{user_id}>")
    } else {
        "someone".into()
    };
    format!("✓ {what} by {who} on {date}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn secrets() -> SigningSecrets {
        SigningSecrets::new(SECRET, None)
    }

    fn check(ts: &str, sig: &str, body: &str, now: i64) -> Result<(), SignatureError> {
        verify_request(&secrets(), Some(ts), Some(sig), body.as_bytes(), now)
    }

    #[test]
    fn slacks_published_example_is_a_known_answer() {
        assert_eq!(sign(SECRET.as_bytes(), TS, BODY.as_bytes()), EXPECTED);
        assert_eq!(check("1531420618", EXPECTED, BODY, TS), Ok(()));
    }

    #[test]
    fn timestamps_within_five_minutes_either_way() {
        for skew in [-299, 299, -300, 300] {
            assert_eq!(
                check("1531420618", EXPECTED, BODY, TS + skew),
                Ok(()),
                "skew {skew}"
            );
        }
        for skew in [-301, 301, 100_000] {
            assert_eq!(
                check("1531420618", EXPECTED, BODY, TS + skew),
                Err(SignatureError::Stale),
                "skew {skew}"
            );
        }
    }

    #[test]
    fn tampering_and_malformed_headers_are_refused() {
        let mut one_byte = BODY.to_string();
        one_byte.replace_range(0..1, "T");
        assert_eq!(
            check("1531420618", EXPECTED, &one_byte, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("1531420618", &EXPECTED.replace("v0=", "v1="), BODY, TS),
            Err(SignatureError::BadPrefix)
        );
        let same_length = format!("v0={}", "0".repeat(64));
        assert_eq!(
            check("1531420618", &same_length, BODY, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("1531420618", "v0=abc", BODY, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("15314206x8", EXPECTED, BODY, TS),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            check("-1531420618", EXPECTED, BODY, TS),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            check("", EXPECTED, BODY, TS),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify_request(&secrets(), None, Some(EXPECTED), BODY.as_bytes(), TS),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify_request(&secrets(), Some("1531420618"), None, BODY.as_bytes(), TS),
            Err(SignatureError::MissingSignature)
        );
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        assert_eq!(
            verify_request(&secrets(), Some("1531420618"), Some(EXPECTED), &big, TS),
            Err(SignatureError::TooLarge)
        );
    }

    #[test]
    fn rotation_accepts_the_previous_secret() {
        let rotated = SigningSecrets::new("new-secret", Some(SECRET));
        assert_eq!(
            verify_request(
                &rotated,
                Some("1531420618"),
                Some(EXPECTED),
                BODY.as_bytes(),
                TS
            ),
            Ok(())
        );
        let new_sig = sign(b"new-secret", TS, BODY.as_bytes());
        assert_eq!(
            verify_request(
                &rotated,
                Some("1531420618"),
                Some(&new_sig),
                BODY.as_bytes(),
                TS
            ),
            Ok(())
        );
        let only_new = SigningSecrets::new("new-secret", None);
        assert_eq!(
            verify_request(
                &only_new,
                Some("1531420618"),
                Some(EXPECTED),
                BODY.as_bytes(),
                TS
            ),
            Err(SignatureError::Mismatch)
        );
        assert!(
            !format!("{rotated:?}").contains("secret-"),
            "Debug never shows secrets"
        );
    }

    fn form(payload: &Value) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    #[test]
    fn block_actions_and_view_submissions_parse() {
        let p = json!({
            "type": "block_actions", "user": {"id": "U1", "username": "sam"}, "trigger_id": "t.1",
            "container": {"channel_id": "D1", "message_ts": "1.2"}, "response_url": "http://127.0.0.1/r",
            "message": {"blocks": [{"type": "actions", "block_id": "c:C1", "elements": [{"type": "button", "action_id": "reached_out", "value": "{\"c\":\"C1\",\"w\":\"2026-W48\",\"v\":\"x\"}"}]}]},
            "actions": [{"action_id": "won_back", "value": "{\"c\":\"C1\",\"w\":\"2026-W48\",\"v\":\"x\"}"}]
        });
        let Interaction::Button {
            action_id,
            value,
            user_id,
            origin,
            blocks,
            ..
        } = parse_interaction(&form(&p)).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (action_id.as_str(), value.c.as_deref(), user_id.as_str()),
            ("won_back", Some("C1"), "U1")
        );
        assert_eq!(origin.message_ts, "1.2");
        assert_eq!(blocks.len(), 1);
        let meta = ModalMetadata {
            customer_id: "C1".into(),
            week: "2026-W48".into(),
            channel_id: "D1".into(),
            message_ts: "1.2".into(),
            ..Default::default()
        };
        let view = lost_modal("Harbor <Bakery>", &meta);
        let p = json!({"type": "view_submission", "user": {"id": "U1", "name": "sam"},
            "view": {"callback_id": "lost", "private_metadata": view["private_metadata"],
                     "state": {"values": {"reason": {"reason": {"selected_option": {"value": "competitor"}}}, "note": {"note": {"value": " went to BigCo "}}}}}});
        let Interaction::Submission {
            callback_id,
            metadata,
            values,
            ..
        } = parse_interaction(&form(&p)).unwrap()
        else {
            panic!()
        };
        assert_eq!(metadata, meta);
        assert_eq!(
            outcome_from_submission(&callback_id, &values).unwrap(),
            Outcome::Lost {
                reason: LostReason::Competitor,
                note: Some("went to BigCo".into())
            }
        );
        assert!(
            view["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("Harbor <Bakery>?")
        );
        assert!(parse_interaction(b"payload=not-json").is_err());
        assert!(parse_interaction(b"nothing=here").is_err());
    }

    #[test]
    fn won_back_value_is_read_as_money() {
        let v = |s: &str| json!({"value": {"value": {"value": s}}});
        assert_eq!(
            outcome_from_submission("won_back", &v("$1,200.00")).unwrap(),
            Outcome::WonBack {
                value: Some(1200.0)
            }
        );
        assert_eq!(
            outcome_from_submission("won_back", &json!({})).unwrap(),
            Outcome::WonBack { value: None }
        );
        assert!(outcome_from_submission("won_back", &v("lots")).is_err());
        for bad in ["1000000000.01", "12.345", "-1", "1e15"] {
            let errors = outcome_from_submission("won_back", &v(bad)).unwrap_err();
            assert_eq!(errors[0].0, "value", "{bad}");
            assert!(errors[0].1.contains("1,000,000,000"), "{bad}");
        }
        assert_eq!(
            outcome_from_submission("won_back", &v("1,000,000,000")).unwrap(),
            Outcome::WonBack { value: Some(1e9) }
        );
        assert!(outcome_from_submission("lost", &json!({})).is_err());
    }

    #[test]
    fn the_row_shows_who_did_what_with_undo_and_back() {
        let items = vec![crate::model::ListItem {
            customer_id: "C1".into(),
            name: "Harbor Bakery".into(),
            band: crate::Band::Churning,
            score: 80,
            reason: "Next order is late.".into(),
            breakdown: vec![],
            lifetime_value: None,
            rules_version: "x".into(),
        }];
        let list = crate::notify::message::OwnerList {
            week: "2026-W48",
            as_of: "2026-11-23",
            owner: "a@x.example",
            items: &items,
            trends: None,
            gone: 0,
        };
        let message = &crate::notify::message::slack_messages(&list, "D1")[0];
        let blocks: Vec<Value> = message["blocks"].as_array().unwrap().clone();
        assert_eq!(blocks.len(), 4);
        let after = updated_blocks(
            &blocks,
            "C1",
            &done_line("reached_out", "U1", "2026-11-23"),
            Some("2026-11-23T09:00:00.000000000Z"),
        )
        .unwrap();
        let undo_value: Value =
            serde_json::from_str(after[3]["elements"][0]["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            undo_value["t"], "2026-11-23T09:00:00.000000000Z",
            "the Undo names its outcome"
        );
        assert_eq!(undo_value["c"], "C1");
        assert_eq!(after.len(), 4, "the row keeps its three blocks");
        assert_eq!(
            after[2]["elements"][1]["text"],
            "✓ Reached out by <@U1> on 2026-11-23"
        );
        assert_eq!(after[3]["elements"][0]["action_id"], "undo");
        let back =
            updated_blocks(&after, "C1", &done_line("undo", "U1", "2026-11-23"), None).unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(
            back[2]["elements"].as_array().unwrap().len(),
            2,
            "the status is replaced, not stacked"
        );
        assert_eq!(
            back[2]["elements"][1]["text"],
            "✓ Undone by <@U1> on 2026-11-23"
        );
        assert_eq!(back[3]["elements"].as_array().unwrap().len(), 3);
        assert!(
            !back[3]["elements"][0]["value"]
                .as_str()
                .unwrap()
                .contains("\"t\""),
            "the buttons again carry no outcome"
        );
        assert_eq!(row_name(&blocks, "C1").as_deref(), Some("Harbor Bakery"));
        assert_eq!(row_name(&blocks, "C9"), None);
        assert!(updated_blocks(&blocks, "C9", "x", Some("")).is_none());
        let msg = json!({"channel": "D1", "text": "t", "blocks": after});
        crate::notify::message::validate_message(&msg).unwrap();
    }

    #[test]
    fn a_full_message_with_every_row_done_stays_within_slacks_limits() {
        let items: Vec<_> = (0..crate::notify::message::CUSTOMERS_PER_MESSAGE)
            .map(|i| crate::model::ListItem {
                customer_id: format!("C{i}"),
                name: format!("Shop {i}"),
                band: crate::Band::Churning,
                score: 80,
                reason: "Next order is late.".into(),
                breakdown: vec![],
                lifetime_value: None,
                rules_version: "x".into(),
            })
            .collect();
        let list = crate::notify::message::OwnerList {
            week: "2026-W48",
            as_of: "2026-11-23",
            owner: "a@x.example",
            items: &items,
            trends: None,
            gone: 0,
        };
        let messages = crate::notify::message::slack_messages(&list, "D1");
        assert_eq!(messages.len(), 1);
        let mut blocks: Vec<Value> = messages[0]["blocks"].as_array().unwrap().clone();
        for round in 0..3 {
            for item in &items {
                let line = done_line("reached_out", "U1", "2026-11-23");
                let undo = (round % 2 == 0).then_some("2026-11-23T09:00:00.000000000Z");
                blocks = updated_blocks(&blocks, &item.customer_id, &line, undo).unwrap();
            }
        }
        let msg = json!({"channel": "D1", "text": "t", "blocks": blocks});
        crate::notify::message::validate_message(&msg).unwrap();
    }
}
