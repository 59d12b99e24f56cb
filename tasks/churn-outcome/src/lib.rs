//! The outcome handler (docs/SPEC.md §7): one HTTP surface serving Slack interactivity at
//! `POST /slack/interactions`, Slack's Events API at `POST /slack/events` (the owner's Home tab) and
//! the email links at `GET|POST /o/<token>`, shared by the Lambda behind a Function URL and
//! `churn serve`. It turns a [`Request`] into a [`Response`] over its ports: an [`OutcomeStore`]
//! (conditional writes: a click delivered twice changes state once), a [`SlackResponder`]
//! (`views.open`, the row update via `response_url` or `chat.update`) and a [`home::HomeTab`]
//! (`views.publish` of the owner's Home, after `app_home_opened` and after each outcome).
//!
//! Slack requests are verified before anything in them is parsed; a failure is a bare 401 and one
//! log line with the reason (`event = "slack_signature_refused"`, which the deployment's metric
//! filter counts). Nothing here logs a secret, a signature, a token, an email or a name: log
//! lines carry customer ids, actions and results only.

pub mod event;
pub mod home;
mod pages;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use home::{HomeTab, NoHome};

use base64::Engine as _;
use churn_core::notify::links::{
    LINK_VALID_DAYS, LinkAction, LinkClaims, LinkError, LinkSigner, VerifiedLink,
};
use churn_core::notify::slack::{
    ButtonValue, Interaction, MAX_BODY_BYTES, MAX_PRIVATE_METADATA_CHARS, ModalMetadata, Origin,
    SigningSecrets, done_line, errors_response, lost_modal, outcome_from_submission,
    parse_interaction, row_name, updated_blocks, verify_request, won_back_modal,
};
use churn_core::outcome::state::{
    LostReason, Outcome, UndoRefused, apply_outcome, parse_recovered_value, plan_undo_of,
};
use churn_core::ports::{Applied, OutcomeStore, PortError, SlackResponder};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

/// The Slack interactivity path.
pub const SLACK_PATH: &str = "/slack/interactions";
/// The Slack Events API path (`url_verification`, `app_home_opened`).
pub const EVENTS_PATH: &str = "/slack/events";
/// Event ids remembered to answer Slack's retries of an event already handled (per process).
const SEEN_EVENTS: usize = 1024;
/// The email links' path prefix (`/o/<token>`).
pub const LINK_PREFIX: &str = "/o/";
/// Email-link form posts larger than this are refused (a value, a reason and a 500-char note).
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// `response_url`s the handler will post to: Slack's own hooks host only, so a payload cannot
/// point the handler at another server.
pub const SLACK_RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";

/// An HTTP request as the handler needs it. `body` is the raw body as received; when
/// `is_base64` is set (Lambda Function URLs) it is base64 and decoded before anything else.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub is_base64: bool,
}

impl Request {
    /// A header's value (names compare case-insensitively; the first one wins).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn empty(status: u16) -> Response {
        Response {
            status,
            headers: vec![],
            body: String::new(),
        }
    }

    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.to_string(),
        }
    }

    fn json(body: &Value) -> Response {
        Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Unix seconds now; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The handler: its ports and its keys.
pub struct OutcomeHandler<S, R, H = NoHome> {
    store: S,
    slack: R,
    home: H,
    signing: SigningSecrets,
    links: LinkSigner,
    tz: TimeZone,
    response_url_prefixes: Vec<String>,
    clock: Clock,
    /// Events API `event_id`s handled (or being handled), newest last.
    seen_events: Mutex<VecDeque<String>>,
}

/// How a write went, for the log line.
fn result_name(r: &Result<Applied, PortError>) -> &'static str {
    match r {
        Ok(Applied::Recorded { .. }) => "recorded",
        Ok(Applied::AlreadyRecorded) => "already_recorded",
        Err(_) => "failed",
    }
}

impl<S: OutcomeStore, R: SlackResponder> OutcomeHandler<S, R> {
    /// A handler over `store` and `slack`, verifying Slack requests with `signing` and email links
    /// with `links`; "today" is taken in `tz`. No Home tab until [`OutcomeHandler::with_home`].
    pub fn new(
        store: S,
        slack: R,
        signing: SigningSecrets,
        links: LinkSigner,
        tz: TimeZone,
    ) -> Self {
        OutcomeHandler {
            store,
            slack,
            home: NoHome,
            signing,
            links,
            tz,
            response_url_prefixes: vec![SLACK_RESPONSE_URL_PREFIX.to_string()],
            clock: Arc::new(|| jiff::Timestamp::now().as_second()),
            seen_events: Mutex::new(VecDeque::new()),
        }
    }
}

impl<S: OutcomeStore, R: SlackResponder, H: HomeTab> OutcomeHandler<S, R, H> {
    /// The same handler publishing owners' Home tabs through `home`.
    pub fn with_home<H2: HomeTab>(self, home: H2) -> OutcomeHandler<S, R, H2> {
        OutcomeHandler {
            store: self.store,
            slack: self.slack,
            home,
            signing: self.signing,
            links: self.links,
            tz: self.tz,
            response_url_prefixes: self.response_url_prefixes,
            clock: self.clock,
            seen_events: self.seen_events,
        }
    }

    /// The `response_url` prefixes to accept (default: Slack's hooks host; tests add their fake).
    pub fn with_response_url_prefixes(mut self, prefixes: Vec<String>) -> Self {
        self.response_url_prefixes = prefixes;
        self
    }

    /// Another clock (unix seconds).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The store, for callers that report on it.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn today(&self) -> Date {
        jiff::Timestamp::from_second(self.now())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned_datetime(self.tz.clone())
            .date()
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request) -> Response {
        let method = req.method.to_ascii_uppercase();
        if req.path == SLACK_PATH {
            return if method == "POST" {
                self.slack_request(req).await
            } else {
                method_not_allowed("POST")
            };
        }
        if req.path == EVENTS_PATH {
            return if method == "POST" {
                self.events_request(req).await
            } else {
                method_not_allowed("POST")
            };
        }
        if let Some(token) = req.path.strip_prefix(LINK_PREFIX) {
            let token = token.to_string();
            return match method.as_str() {
                "GET" | "HEAD" => self.link_page(&token),
                "POST" => self.link_submit(&token, req).await,
                _ => method_not_allowed("GET, POST"),
            };
        }
        Response::text(404, "Not found.")
    }

    // ------------------------------------------------------------------------- Slack

    /// The body of a Slack request once its signature is verified; else the bare 401.
    fn verified_body(&self, req: Request) -> Result<Vec<u8>, Response> {
        // The cap applies to the raw body first, so a huge base64 body is never decoded.
        if req.body.len() > MAX_BODY_BYTES / 3 * 4 + 4 {
            return Err(refuse("body too large"));
        }
        let timestamp = req.header("x-slack-request-timestamp").map(str::to_string);
        let signature = req.header("x-slack-signature").map(str::to_string);
        let body = if req.is_base64 {
            base64::engine::general_purpose::STANDARD
                .decode(&req.body)
                .map_err(|_| refuse("body is not base64"))?
        } else {
            req.body
        };
        verify_request(
            &self.signing,
            timestamp.as_deref(),
            signature.as_deref(),
            &body,
            self.now(),
        )
        .map_err(|e| refuse(&e.to_string()))?;
        Ok(body)
    }

    async fn slack_request(&self, req: Request) -> Response {
        let body = match self.verified_body(req) {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        let body = body.as_slice();
        match parse_interaction(body) {
            Err(e) => {
                tracing::warn!(event = "slack_payload_refused", error = %e, "unusable Slack payload");
                Response::text(400, "Unusable payload.")
            }
            Ok(Interaction::Button {
                action_id,
                value,
                user_id,
                trigger_id,
                origin,
                blocks,
                ..
            }) => {
                self.button(&action_id, value, &user_id, &trigger_id, origin, &blocks)
                    .await
            }
            Ok(Interaction::Submission {
                callback_id,
                user_id,
                metadata,
                values,
                ..
            }) => {
                self.submission(&callback_id, &user_id, metadata, &values)
                    .await
            }
        }
    }

    /// An Events API request (docs/SPEC.md §7): verified like an interaction, then
    /// `url_verification` is answered with its challenge and `app_home_opened` (Home tab)
    /// publishes the member's Home. Anything else is answered 200 and ignored. A retry
    /// (`X-Slack-Retry-Num`) of an event this process already handled changes nothing; one it
    /// has not seen (the first delivery failed, or went to another container) is handled, and
    /// publishing the same Home again is harmless.
    async fn events_request(&self, req: Request) -> Response {
        let retry = req.header("x-slack-retry-num").map(str::to_string);
        let body = match self.verified_body(req) {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        let Ok(envelope) = serde_json::from_slice::<Value>(&body) else {
            tracing::warn!(
                event = "slack_payload_refused",
                "Events API body is not JSON"
            );
            return Response::text(400, "Unusable payload.");
        };
        match envelope["type"].as_str() {
            Some("url_verification") => match envelope["challenge"].as_str() {
                Some(c) if !c.is_empty() && c.len() <= 512 => Response::text(200, c),
                _ => Response::text(400, "No challenge."),
            },
            Some("event_callback") => {
                let event = &envelope["event"];
                let kind = event["type"].as_str().unwrap_or_default();
                let user = event["user"].as_str().unwrap_or_default();
                if kind != "app_home_opened" || event["tab"].as_str() != Some("home") {
                    tracing::info!(
                        event = "slack_event_ignored",
                        kind,
                        "an event the handler does not act on"
                    );
                    return Response::empty(200);
                }
                if user.is_empty() {
                    return Response::text(400, "The event names no user.");
                }
                let event_id = envelope["event_id"].as_str().unwrap_or_default();
                if !self.first_delivery(event_id) {
                    tracing::info!(
                        event = "slack_event_repeat",
                        retry = retry.as_deref().unwrap_or(""),
                        "an event already handled; nothing done"
                    );
                    return Response::empty(200);
                }
                if !self.home.enabled() {
                    tracing::info!(
                        event = "slack_event_ignored",
                        kind,
                        "no Home tab here (no bot token)"
                    );
                    return Response::empty(200);
                }
                match self
                    .home
                    .publish_for_user(user, true, self.now(), &self.tz)
                    .await
                {
                    Ok(_) => Response::empty(200),
                    Err(e) => {
                        tracing::warn!(event = "home_publish_failed", retryable = e.retryable, error = %e, "Home tab not published");
                        // Forget it, so Slack's retry (sent for a 5xx) publishes.
                        self.forget_event(event_id);
                        if e.retryable {
                            Response::empty(503)
                        } else {
                            Response::empty(200)
                        }
                    }
                }
            }
            other => {
                tracing::info!(
                    event = "slack_event_ignored",
                    kind = other.unwrap_or(""),
                    "an Events API type the handler does not act on"
                );
                Response::empty(200)
            }
        }
    }

    /// Remembers `event_id`; `false` when it was already there. Events without an id are always
    /// handled.
    fn first_delivery(&self, event_id: &str) -> bool {
        if event_id.is_empty() {
            return true;
        }
        let mut seen = self.seen_events.lock().unwrap_or_else(|p| p.into_inner());
        if seen.iter().any(|e| e == event_id) {
            return false;
        }
        if seen.len() >= SEEN_EVENTS {
            seen.pop_front();
        }
        seen.push_back(event_id.to_string());
        true
    }

    fn forget_event(&self, event_id: &str) {
        let mut seen = self.seen_events.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|e| e != event_id);
    }

    /// After an outcome from Slack: the clicker's Home again, if they are an owner. Best effort.
    async fn refresh_home_of_user(&self, user_id: &str) {
        if !self.home.enabled() {
            return;
        }
        if let Err(e) = self
            .home
            .publish_for_user(user_id, false, self.now(), &self.tz)
            .await
        {
            tracing::warn!(event = "home_publish_failed", retryable = e.retryable, error = %e, "Home tab not refreshed; the outcome stands");
        }
    }

    /// After an outcome from an email link: the owner's Home, when they are on Slack.
    async fn refresh_home_of_owner(&self, owner: &str) {
        if !self.home.enabled() {
            return;
        }
        if let Err(e) = self
            .home
            .publish_for_owner(owner, self.now(), &self.tz)
            .await
        {
            tracing::warn!(event = "home_publish_failed", retryable = e.retryable, error = %e, "Home tab not refreshed; the outcome stands");
        }
    }

    /// The customer id on `week`'s sent lists whose hash is `ch`, if any.
    async fn resolve_hashed_id(&self, ch: &str, week: &str) -> Option<String> {
        match self.store.listed_ids(week).await {
            Ok(ids) => ids
                .into_iter()
                .find(|id| churn_core::notify::message::short_hash(id) == ch),
            Err(e) => {
                tracing::warn!(error = %e, "the week's lists could not be read to resolve a hashed id");
                None
            }
        }
    }

    async fn button(
        &self,
        action_id: &str,
        value: ButtonValue,
        user_id: &str,
        trigger_id: &str,
        origin: Origin,
        blocks: &[Value],
    ) -> Response {
        let response_url = self.allowed_url(origin.response_url.as_deref());
        let customer_id = match value.c.clone().filter(|c| !c.trim().is_empty()) {
            Some(c) => Some(c),
            // An id too long for a Slack button (over ~1,900 characters): only its hash came;
            // the week's sent lists know the id it stands for.
            None => match (&value.ch, &value.w) {
                (Some(ch), Some(week)) => self.resolve_hashed_id(ch, week).await,
                _ => None,
            },
        };
        let Some(customer_id) = customer_id else {
            if value.ch.is_some() {
                tracing::info!(
                    event = "slack_action_ignored",
                    action = action_id,
                    "customer id too long for a button"
                );
                self.ephemeral(
                    response_url,
                    "This customer's id is too long for a Slack button and is not on this week's \
                     lists; record the outcome with the email link or `churn outcome`. Nothing was \
                     recorded.",
                )
                .await;
                return Response::empty(200);
            }
            return Response::text(400, "The button carries no customer.");
        };
        let today = self.today();
        match action_id {
            "reached_out" => {
                let result = self
                    .record(&customer_id, &Outcome::ReachedOut, user_id, today)
                    .await;
                log_write(&customer_id, action_id, &result);
                let line = done_line(action_id, user_id, &today.to_string());
                self.after_write(
                    &result,
                    user_id,
                    &origin,
                    response_url,
                    blocks,
                    &customer_id,
                    &line,
                    true,
                )
                .await;
            }
            "won_back" | "lost" => {
                if !self.slack.has_token() {
                    self.ephemeral(
                        response_url,
                        "Won back and Lost open a form, which needs the Slack bot token; this \
                         outcome handler has none. Nothing was recorded.",
                    )
                    .await;
                    return Response::empty(200);
                }
                let name = row_name(blocks, &customer_id).unwrap_or_else(|| customer_id.clone());
                let line = done_line(action_id, user_id, &today.to_string());
                let mut meta = ModalMetadata {
                    customer_id: customer_id.clone(),
                    week: value.w.clone().unwrap_or_default(),
                    channel_id: origin.channel_id.clone(),
                    message_ts: origin.message_ts.clone(),
                    response_url: response_url.map(str::to_string),
                    blocks: updated_blocks(blocks, &customer_id, &line, Some("")),
                };
                if serde_json::to_string(&meta).map_or(usize::MAX, |s| s.chars().count())
                    > MAX_PRIVATE_METADATA_CHARS
                {
                    meta.blocks = None;
                }
                let view = if action_id == "won_back" {
                    won_back_modal(&name, &meta)
                } else {
                    lost_modal(&name, &meta)
                };
                if let Err(e) = self.slack.open_view(trigger_id, &view).await {
                    tracing::warn!(event = "views_open_failed", customer_id, action = action_id, error = %e, "could not open the form");
                    self.ephemeral(
                        response_url,
                        "The form could not be opened (Slack gives a click 3 seconds); click the button again. Nothing was recorded.",
                    )
                    .await;
                }
            }
            "undo" => {
                let Some(ts) = value.t.as_deref().filter(|t| !t.trim().is_empty()) else {
                    tracing::info!(
                        event = "outcome",
                        customer_id,
                        action = action_id,
                        result = "refused",
                        "undo without its outcome"
                    );
                    self.ephemeral(
                        response_url,
                        "This Undo button does not say which outcome it belongs to (it is from an \
                         older message); nothing was changed.",
                    )
                    .await;
                    return Response::empty(200);
                };
                let result = self.undo(&customer_id, ts, user_id).await;
                match result {
                    Ok(r) => {
                        log_write(&customer_id, action_id, &r);
                        let line = done_line("undo", user_id, &today.to_string());
                        self.after_write(
                            &r,
                            user_id,
                            &origin,
                            response_url,
                            blocks,
                            &customer_id,
                            &line,
                            false,
                        )
                        .await;
                    }
                    Err(message) => {
                        tracing::info!(
                            event = "outcome",
                            customer_id,
                            action = action_id,
                            result = "refused",
                            "undo refused"
                        );
                        self.ephemeral(response_url, &message).await;
                    }
                }
            }
            other => {
                tracing::info!(
                    event = "slack_action_ignored",
                    action = other,
                    "unknown action"
                );
            }
        }
        Response::empty(200)
    }

    async fn submission(
        &self,
        callback_id: &str,
        user_id: &str,
        meta: ModalMetadata,
        values: &Value,
    ) -> Response {
        let outcome = match outcome_from_submission(callback_id, values) {
            Ok(o) => o,
            Err(errors) => return Response::json(&errors_response(&errors)),
        };
        if meta.customer_id.trim().is_empty() {
            return Response::text(400, "The form carries no customer.");
        }
        let customer_id = meta.customer_id.as_str();
        let today = self.today();
        let result = self.record(customer_id, &outcome, user_id, today).await;
        log_write(customer_id, outcome.action(), &result);
        let response_url = self.allowed_url(meta.response_url.as_deref());
        match result {
            Ok(Applied::Recorded { ts }) => {
                let line = done_line(outcome.action(), user_id, &today.to_string());
                // The message as it stands now (another row may have changed while the form was
                // open); the copy carried in the form when it could not be read. Either way the
                // row's Undo names this write.
                let current = self
                    .current_blocks(&meta.channel_id, &meta.message_ts)
                    .await
                    .and_then(|b| updated_blocks(&b, customer_id, &line, Some(&ts)))
                    .or_else(|| {
                        let carried = meta.blocks.as_ref()?;
                        updated_blocks(carried, customer_id, &line, Some(&ts))
                    });
                match current.as_ref() {
                    Some(blocks) => {
                        let origin = Origin {
                            channel_id: meta.channel_id.clone(),
                            message_ts: meta.message_ts.clone(),
                            response_url: None,
                        };
                        self.replace_message(response_url, &origin, blocks, &line)
                            .await;
                    }
                    // The message could neither be read nor carried in the form: a short
                    // follow-up with Undo instead of editing it.
                    None => {
                        let value = json!({"c": customer_id, "w": meta.week, "t": ts}).to_string();
                        let body = json!({
                            "replace_original": false,
                            "response_type": "in_channel",
                            "text": line,
                            "blocks": [
                                {"type": "section", "text": {"type": "mrkdwn", "text": line}},
                                // The id is customer-controlled: plain_text, never linked or formatted.
                                {"type": "context", "elements": [churn_core::notify::message::plain_text(&format!("Customer {customer_id}").chars().take(3000).collect::<String>())]},
                                {"type": "actions", "block_id": format!("u:{}", churn_core::notify::message::short_hash(customer_id)), "elements": [
                                    {"type": "button", "text": {"type": "plain_text", "text": "Undo"}, "action_id": "undo", "value": value}
                                ]}
                            ]
                        });
                        self.post_response(response_url, &body).await;
                    }
                }
                self.refresh_home_of_user(user_id).await;
                Response::empty(200)
            }
            Ok(Applied::AlreadyRecorded) => {
                self.ephemeral(response_url, "Already recorded; nothing changed.")
                    .await;
                Response::empty(200)
            }
            Err(_) => {
                let field = if callback_id == "lost" {
                    "reason"
                } else {
                    "value"
                };
                Response::json(&errors_response(&vec![(
                    field,
                    "Could not record this just now; nothing was written. Try again.".into(),
                )]))
            }
        }
    }

    /// After a click's write: the row shows who did what (or the owner is told it was already
    /// recorded, or that it failed).
    #[allow(clippy::too_many_arguments)]
    async fn after_write(
        &self,
        result: &Result<Applied, PortError>,
        user_id: &str,
        origin: &Origin,
        response_url: Option<&str>,
        blocks: &[Value],
        customer_id: &str,
        line: &str,
        undo: bool,
    ) {
        match result {
            Ok(Applied::Recorded { ts }) => {
                match updated_blocks(blocks, customer_id, line, undo.then_some(ts.as_str())) {
                    Some(new_blocks) => {
                        self.replace_message(response_url, origin, &new_blocks, line)
                            .await
                    }
                    None => self.ephemeral(response_url, line).await,
                }
                self.refresh_home_of_user(user_id).await;
            }
            Ok(Applied::AlreadyRecorded) => {
                self.ephemeral(response_url, "Already recorded; nothing changed.")
                    .await
            }
            Err(_) => {
                self.ephemeral(
                    response_url,
                    "Could not record this just now; nothing was written. Try again.",
                )
                .await
            }
        }
    }

    /// The blocks of the message (channel, ts) as it now stands, when a token can read them.
    async fn current_blocks(&self, channel: &str, ts: &str) -> Option<Vec<Value>> {
        if !self.slack.has_token() || channel.is_empty() || ts.is_empty() {
            return None;
        }
        match self.slack.message_blocks(channel, ts).await {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::warn!(event = "message_read_failed", error = %e, "conversations.history failed; using the form's copy");
                None
            }
        }
    }

    /// Replaces the message: through `response_url` when there is one, else `chat.update`.
    async fn replace_message(
        &self,
        response_url: Option<&str>,
        origin: &Origin,
        blocks: &[Value],
        text: &str,
    ) {
        if let Some(url) = response_url {
            let body = json!({"replace_original": true, "text": text, "blocks": blocks});
            self.post_response(Some(url), &body).await;
        } else if self.slack.has_token()
            && !origin.channel_id.is_empty()
            && !origin.message_ts.is_empty()
        {
            if let Err(e) = self
                .slack
                .update_message(&origin.channel_id, &origin.message_ts, text, blocks)
                .await
            {
                tracing::warn!(event = "row_update_failed", error = %e, "chat.update failed");
            }
        } else {
            tracing::warn!(
                event = "row_update_skipped",
                "no response_url and no bot token: the message row was not updated"
            );
        }
    }

    async fn ephemeral(&self, response_url: Option<&str>, text: &str) {
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        self.post_response(response_url, &body).await;
    }

    async fn post_response(&self, response_url: Option<&str>, body: &Value) {
        let Some(url) = response_url else {
            tracing::info!(
                event = "no_response_url",
                "no usable response_url: the owner was not told"
            );
            return;
        };
        if let Err(e) = self.slack.respond(url, body).await {
            tracing::warn!(event = "response_url_failed", error = %e, "response_url post failed");
        }
    }

    fn allowed_url<'a>(&self, url: Option<&'a str>) -> Option<&'a str> {
        let url = url?;
        let ok = self
            .response_url_prefixes
            .iter()
            .any(|p| url.starts_with(p.as_str()));
        if !ok {
            tracing::warn!(
                event = "response_url_refused",
                "a response_url outside the allowed hosts was ignored"
            );
        }
        ok.then_some(url)
    }

    // ------------------------------------------------------------------------- writes

    async fn record(
        &self,
        customer_id: &str,
        outcome: &Outcome,
        by_user: &str,
        today: Date,
    ) -> Result<Applied, PortError> {
        let state = self.store.state(customer_id).await?;
        let change = apply_outcome(&state, outcome, today);
        if change.is_noop() {
            return Ok(Applied::AlreadyRecorded);
        }
        self.store.apply(&change, by_user).await
    }

    /// Undoes the outcome with audit `ts` (docs/SPEC.md §5): `Ok(result)`, or `Err(message for the
    /// owner)` when the undo is refused. An outcome already undone is
    /// [`Applied::AlreadyRecorded`]: a second delivery changes nothing.
    async fn undo(
        &self,
        customer_id: &str,
        ts: &str,
        by_user: &str,
    ) -> Result<Result<Applied, PortError>, String> {
        let state = match self.store.state(customer_id).await {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let history = match self.store.history(customer_id).await {
            Ok(h) => h,
            Err(e) => return Ok(Err(e)),
        };
        let change = match plan_undo_of(&state, &history, ts) {
            Ok(c) => c,
            Err(UndoRefused::AlreadyUndone { .. }) => return Ok(Ok(Applied::AlreadyRecorded)),
            Err(e) => return Err(e.to_string()),
        };
        Ok(self.store.apply(&change, by_user).await)
    }

    // ------------------------------------------------------------------------- email links

    fn verify_link(&self, token: &str) -> Result<VerifiedLink, Response> {
        self.links.verify_link(token, self.now()).map_err(|e| {
            tracing::info!(event = "link_refused", reason = ?e, "email link refused");
            let status = if e == LinkError::Expired { 410 } else { 400 };
            pages::page(
                status,
                "This link cannot be used",
                &pages::paragraph(&e.to_string()),
            )
        })
    }

    /// GET: the confirm page. Never writes (link scanners open links).
    fn link_page(&self, token: &str) -> Response {
        match self.verify_link(token) {
            Err(page) => page,
            Ok(link) => pages::confirm(&link.claims, None),
        }
    }

    /// POST: records the confirmed outcome (its result page offers an Undo link naming the
    /// write), or undoes the one outcome an Undo link names.
    async fn link_submit(&self, token: &str, req: Request) -> Response {
        let (claims, undoes) = match self.verify_link(token) {
            Err(page) => return page,
            Ok(link) => (link.claims, link.undoes),
        };
        if let Some(ts) = undoes {
            let result = self.undo(&claims.customer_id, &ts, &claims.owner).await;
            return match result {
                Ok(r) => {
                    log_write(&claims.customer_id, "undo", &r);
                    if matches!(r, Ok(Applied::Recorded { .. })) {
                        self.refresh_home_of_owner(&claims.owner).await;
                    }
                    pages::result(&claims, &r, None)
                }
                Err(message) => {
                    tracing::info!(
                        event = "outcome",
                        customer_id = claims.customer_id,
                        action = "undo",
                        result = "refused",
                        "undo refused"
                    );
                    pages::page(409, "Not undone", &pages::paragraph(&message))
                }
            };
        }
        if req.body.len() > MAX_FORM_BYTES {
            return pages::confirm(&claims, Some("The form was too large."));
        }
        let body = if req.is_base64 {
            match base64::engine::general_purpose::STANDARD.decode(&req.body) {
                Ok(b) => b,
                Err(_) => return pages::confirm(&claims, Some("The form could not be read.")),
            }
        } else {
            req.body
        };
        let field = |name: &str| {
            form_urlencoded::parse(&body)
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let outcome = match claims.action {
            LinkAction::ReachedOut => Outcome::ReachedOut,
            LinkAction::WonBack => {
                match parse_recovered_value(&field("value").unwrap_or_default()) {
                    Ok(value) => Outcome::WonBack { value },
                    Err(rule) => return pages::confirm(&claims, Some(rule)),
                }
            }
            LinkAction::Lost => match field("reason").as_deref().and_then(LostReason::parse) {
                None => return pages::confirm(&claims, Some("Pick a reason.")),
                Some(reason) => Outcome::Lost {
                    reason,
                    note: field("note").map(|n| n.chars().take(500).collect()),
                },
            },
            // An Undo token always names its outcome (checked by `verify_link`).
            LinkAction::Undo => return pages::confirm(&claims, Some("This link is not valid.")),
        };
        let result = self
            .record(&claims.customer_id, &outcome, &claims.owner, self.today())
            .await;
        log_write(&claims.customer_id, outcome.action(), &result);
        // The Undo link names this write; it is valid as long as an outcome link.
        let undo_token = match &result {
            Ok(Applied::Recorded { ts }) => Some(self.links.sign_undo(
                &LinkClaims {
                    expires: self.now() + LINK_VALID_DAYS * 86_400,
                    ..claims.clone()
                },
                ts,
            )),
            _ => None,
        };
        if undo_token.is_some() {
            self.refresh_home_of_owner(&claims.owner).await;
        }
        pages::result(&claims, &result, undo_token.as_deref())
    }
}

fn log_write(customer_id: &str, action: &str, result: &Result<Applied, PortError>) {
    match result {
        Err(e) => {
            tracing::warn!(event = "outcome", customer_id, action, result = "failed", retryable = e.retryable, error = %e, "outcome not recorded")
        }
        Ok(_) => {
            tracing::info!(
                event = "outcome",
                customer_id,
                action,
                result = result_name(result),
                "outcome"
            )
        }
    }
}

/// The bare 401 of a refused Slack request, and its one log line (the reason only).
fn refuse(reason: &str) -> Response {
    tracing::warn!(
        event = "slack_signature_refused",
        reason,
        "Slack request refused"
    );
    Response::empty(401)
}

fn method_not_allowed(allow: &str) -> Response {
    let mut r = Response::text(405, "Method not allowed.");
    r.headers.push(("allow".into(), allow.into()));
    r
}

#[cfg(test)]
mod tests;
