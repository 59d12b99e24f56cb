//! `SlackNotifier` against the Slack-like server.

use std::time::{Duration, Instant};

use churn_core::notify::message::{OwnerList, slack_messages};
use churn_delivery::{
    ERROR_CONFIG, ERROR_INTERNAL, ERROR_RETRYABLE, RetryPolicy, SlackError, SlackNotifier,
    SlackRecipient, SlackToken,
};
use serde_json::{Value, json};

use crate::fixtures::items;
use crate::slack_server::{Fault, SlackServer};

const TOKEN: &str = "xoxb-test-token-1";
const OWNER: &str = "alex@example.com";
const OWNER_ID: &str = "U0123ABCD";
const DM: &str = "D0123ABCD";

/// Short waits so the tests stay quick; `Retry-After` is still honoured as sent.
fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_rate_limit_retries: 3,
        max_transient_retries: 2,
        backoff_base: Duration::from_millis(20),
        default_retry_after: Duration::from_millis(50),
        max_total_wait: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    }
}

async fn setup() -> (SlackServer, SlackNotifier) {
    let server = SlackServer::start(TOKEN).await;
    server.add_user(OWNER, OWNER_ID);
    let notifier =
        SlackNotifier::with_options(SlackToken::new(TOKEN), &server.base_url, fast_policy())
            .unwrap();
    (server, notifier)
}

/// The real Block Kit messages for a list of `n` customers.
fn messages(n: usize) -> Vec<Value> {
    let items = items(n);
    let list = OwnerList {
        week: "2026-W48",
        as_of: "2026-11-23",
        owner: OWNER,
        items: &items,
        trends: None,
        gone: 0,
    };
    slack_messages(&list, OWNER_ID)
}

fn by_id() -> SlackRecipient {
    SlackRecipient::new(OWNER, Some(OWNER_ID.into()))
}

fn header_text(body: &Value) -> &str {
    body.pointer("/blocks/0/text/text")
        .and_then(Value::as_str)
        .unwrap()
}

#[tokio::test]
async fn user_id_given_posts_every_part_in_order() {
    let (server, slack) = setup().await;
    let msgs = messages(35);
    assert_eq!(msgs.len(), 3);

    let report = slack.send_list(&by_id(), &msgs).await.unwrap();

    assert!(report.is_complete(), "{report:?}");
    assert!(!report.partly_posted());
    assert_eq!(report.channel.as_deref(), Some(DM));
    assert_eq!(report.parts, 3);
    let idx: Vec<usize> = report.posted.iter().map(|p| p.index).collect();
    assert_eq!(idx, [0, 1, 2]);
    let ts: Vec<&str> = report.posted.iter().map(|p| p.ts.as_str()).collect();
    assert_eq!(
        ts,
        [
            "1700000000.000001",
            "1700000000.000002",
            "1700000000.000003"
        ]
    );

    // No lookup when the id is given; one open, then the parts in order.
    assert_eq!(
        server.calls(),
        [
            "conversations.open",
            "chat.postMessage",
            "chat.postMessage",
            "chat.postMessage"
        ]
    );
    let open = &server.received_for("conversations.open")[0];
    assert_eq!(open.fields.get("users").map(String::as_str), Some(OWNER_ID));
    assert!(
        open.content_type
            .as_deref()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );

    let posted = server.posted();
    assert_eq!(
        header_text(&posted[0]),
        "Week 2026-W48 · 35 customers to look at"
    );
    assert_eq!(
        header_text(&posted[1]),
        "Week 2026-W48 · continued (2 of 3)"
    );
    assert_eq!(
        header_text(&posted[2]),
        "Week 2026-W48 · continued (3 of 3)"
    );
    for (sent, original) in posted.iter().zip(&msgs) {
        assert_eq!(sent["channel"], DM, "the channel is the opened DM");
        assert_eq!(sent["blocks"], original["blocks"]);
    }
    for r in server.received() {
        assert_eq!(r.authorization.as_deref(), Some("Bearer xoxb-test-token-1"));
        assert_eq!(r.http_method, hyper::Method::POST);
        if r.api_method == "chat.postMessage" {
            assert!(r.json.is_some());
            assert_eq!(
                r.content_type.as_deref(),
                Some("application/json; charset=utf-8")
            );
        }
    }
}

#[tokio::test]
async fn no_user_id_looks_up_by_email_then_opens() {
    let (server, slack) = setup().await;
    let to = SlackRecipient::new(OWNER, None);

    let report = slack.send_list(&to, &messages(2)).await.unwrap();

    assert!(report.is_complete());
    assert_eq!(
        server.calls(),
        [
            "users.lookupByEmail",
            "conversations.open",
            "chat.postMessage"
        ]
    );
    let lookup = &server.received_for("users.lookupByEmail")[0];
    assert_eq!(lookup.fields.get("email").map(String::as_str), Some(OWNER));
    assert_eq!(
        server.received_for("conversations.open")[0]
            .fields
            .get("users")
            .map(String::as_str),
        Some(OWNER_ID)
    );

    // The pieces on their own.
    assert_eq!(slack.lookup_user_by_email(OWNER).await.unwrap(), OWNER_ID);
    assert_eq!(slack.open_dm(OWNER_ID).await.unwrap(), DM);
}

#[tokio::test]
async fn unknown_email_is_a_typed_config_error() {
    let (server, slack) = setup().await;
    let to = SlackRecipient::new("nobody@example.com", None);

    let err = slack.send_list(&to, &messages(1)).await.unwrap_err();

    assert!(matches!(err, SlackError::UserNotFound { ref code } if code == "users_not_found"));
    assert!(!err.is_retryable());
    assert_eq!(err.error_type(), ERROR_CONFIG);
    assert_eq!(server.calls(), ["users.lookupByEmail"]);
}

#[tokio::test]
async fn http_429_waits_retry_after() {
    let (server, slack) = setup().await;
    server.script(
        "chat.postMessage",
        [Fault::TooMany {
            retry_after: Some(1),
        }],
    );

    let report = slack.send_list(&by_id(), &messages(1)).await.unwrap();

    assert!(report.is_complete(), "{report:?}");
    let posts = server.received_for("chat.postMessage");
    assert_eq!(posts.len(), 2);
    let waited = posts[1].at.duration_since(posts[0].at);
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert!(waited < Duration::from_secs(3), "retried after {waited:?}");
}

#[tokio::test]
async fn server_error_then_success() {
    let (server, slack) = setup().await;
    server.script("chat.postMessage", [Fault::ServerError]);

    let report = slack.send_list(&by_id(), &messages(1)).await.unwrap();

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(server.received_for("chat.postMessage").len(), 2);
    assert_eq!(server.posted().len(), 1);
}

#[tokio::test]
async fn ratelimited_body_is_retried_like_429() {
    let (server, slack) = setup().await;
    server.script(
        "chat.postMessage",
        [Fault::Error("ratelimited"), Fault::Error("ratelimited")],
    );

    let report = slack.send_list(&by_id(), &messages(1)).await.unwrap();

    assert!(report.is_complete(), "{report:?}");
    let posts = server.received_for("chat.postMessage");
    assert_eq!(posts.len(), 3);
    // No Retry-After header: the policy's default wait (50 ms) each time.
    assert!(posts[2].at.duration_since(posts[0].at) >= Duration::from_millis(100));
}

#[tokio::test]
async fn rate_limit_gives_up_after_the_retries() {
    let (server, slack) = setup().await;
    server.script(
        "chat.postMessage",
        std::iter::repeat_n(Fault::TooMany { retry_after: None }, 10),
    );

    let report = slack.send_list(&by_id(), &messages(1)).await.unwrap();

    let err = report.error().unwrap();
    assert!(
        matches!(err, SlackError::RateLimited { attempts: 4, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.error_type(), ERROR_RETRYABLE);
    assert_eq!(server.received_for("chat.postMessage").len(), 4);
}

#[tokio::test]
async fn a_wait_past_the_cap_is_not_started() {
    let (server, _) = setup().await;
    let policy = RetryPolicy {
        max_total_wait: Duration::from_secs(2),
        ..fast_policy()
    };
    let slack =
        SlackNotifier::with_options(SlackToken::new(TOKEN), &server.base_url, policy).unwrap();
    server.script(
        "conversations.open",
        [Fault::TooMany {
            retry_after: Some(30),
        }],
    );

    let started = Instant::now();
    let err = slack.send_list(&by_id(), &messages(1)).await.unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        err,
        SlackError::RateLimited {
            method: "conversations.open",
            attempts: 1,
            retry_after: Some(Duration::from_secs(30)),
        }
    );
    assert!(server.posted().is_empty());
}

#[tokio::test]
async fn invalid_auth_fails_at_once_without_retries() {
    let (server, _) = setup().await;
    let slack = SlackNotifier::with_options(
        SlackToken::new("xoxb-wrong"),
        &server.base_url,
        fast_policy(),
    )
    .unwrap();

    let err = slack.send_list(&by_id(), &messages(3)).await.unwrap_err();

    assert_eq!(
        err,
        SlackError::Auth {
            method: "conversations.open",
            code: "invalid_auth".into()
        }
    );
    assert!(!err.is_retryable());
    assert_eq!(err.error_type(), ERROR_CONFIG);
    assert_eq!(server.calls(), ["conversations.open"]);
    // Neither the token nor anything else secret in the error's words.
    assert!(!err.to_string().contains("xoxb"));

    // The same answer on a post (as the fake can also be told to give it): one attempt.
    let (server, slack) = setup().await;
    server.script("chat.postMessage", [Fault::Error("invalid_auth")]);
    let report = slack.send_list(&by_id(), &messages(1)).await.unwrap();
    assert!(matches!(report.error(), Some(SlackError::Auth { .. })));
    assert_eq!(server.received_for("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn invalid_blocks_is_a_typed_final_error() {
    let (server, slack) = setup().await;
    // 51 blocks: over Slack's limit of 50.
    let blocks: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
    let bad = json!({"channel": OWNER_ID, "text": "list", "blocks": blocks});

    let report = slack.send_list(&by_id(), &[bad]).await.unwrap();

    let failed = report.failed.as_ref().unwrap();
    assert_eq!(failed.index, 0);
    assert_eq!(
        failed.error,
        SlackError::InvalidMessage {
            code: "invalid_blocks".into()
        }
    );
    assert!(!failed.error.is_retryable());
    assert_eq!(failed.error.error_type(), ERROR_INTERNAL);
    assert!(report.posted.is_empty());
    assert!(!report.partly_posted());
    assert_eq!(server.received_for("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn failure_on_part_two_reports_part_one_posted() {
    let (server, slack) = setup().await;
    let msgs = messages(35);
    // Part 1 passes; part 2 keeps failing with 500 past the retries.
    server.script(
        "chat.postMessage",
        std::iter::once(Fault::Pass).chain(std::iter::repeat_n(Fault::ServerError, 5)),
    );

    let report = slack.send_list(&by_id(), &msgs).await.unwrap();

    assert!(!report.is_complete());
    assert!(report.partly_posted(), "part of the list is in Slack");
    assert_eq!(report.posted.len(), 1);
    assert_eq!(report.posted[0].index, 0);
    assert_eq!(report.posted[0].ts, "1700000000.000001");
    let failed = report.failed.as_ref().unwrap();
    assert_eq!(failed.index, 1);
    assert!(matches!(
        failed.error,
        SlackError::Unavailable {
            method: "chat.postMessage",
            attempts: 3,
            ..
        }
    ));
    assert!(failed.error.is_retryable());
    // 1 + 3 attempts at part 2; part 3 never tried.
    assert_eq!(server.received_for("chat.postMessage").len(), 4);
    assert_eq!(server.posted().len(), 1);
}

#[tokio::test]
async fn empty_list_calls_nothing() {
    let (server, slack) = setup().await;
    let report = slack.send_list(&by_id(), &[]).await.unwrap();
    assert!(report.is_complete());
    assert_eq!(report.channel, None);
    assert!(server.calls().is_empty());
}

#[tokio::test]
async fn unreachable_slack_is_retryable() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/", listener.local_addr().unwrap());
    drop(listener);
    let slack = SlackNotifier::with_options(SlackToken::new(TOKEN), &url, fast_policy()).unwrap();

    let err = slack.open_dm(OWNER_ID).await.unwrap_err();

    assert!(
        matches!(err, SlackError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(err.error_type(), ERROR_RETRYABLE);
}

// ---------------------------------------------------------------- the outcome handler's calls

fn modal() -> Value {
    json!({
        "type": "modal", "callback_id": "won_back", "private_metadata": "{}",
        "title": {"type": "plain_text", "text": "Won back"},
        "submit": {"type": "plain_text", "text": "Record"},
        "blocks": [{"type": "input", "block_id": "value", "label": {"type": "plain_text", "text": "Value"},
                    "element": {"type": "plain_text_input", "action_id": "value"}}]
    })
}

#[tokio::test]
async fn views_open_needs_a_fresh_trigger_the_token_and_a_valid_view() {
    let (server, notifier) = setup().await;
    let trigger = server.issue_trigger(Duration::ZERO);
    notifier.views_open(&trigger, &modal()).await.unwrap();
    assert_eq!(server.views().len(), 1);
    // A trigger works once.
    let e = notifier.views_open(&trigger, &modal()).await.unwrap_err();
    assert_eq!(e.code(), Some("invalid_trigger_id"));
    // Older than 3 seconds.
    let old = server.issue_trigger(Duration::from_millis(3100));
    let e = notifier.views_open(&old, &modal()).await.unwrap_err();
    assert_eq!(e.code(), Some("expired_trigger_id"));
    assert!(!e.is_retryable());
    // Malformed views.
    let mut long_title = modal();
    long_title["title"]["text"] = json!("A title longer than 24 chars");
    let mut no_submit = modal();
    no_submit.as_object_mut().unwrap().remove("submit");
    let mut no_callback = modal();
    no_callback.as_object_mut().unwrap().remove("callback_id");
    let mut not_modal = modal();
    not_modal["type"] = json!("home");
    let mut too_many = modal();
    too_many["blocks"] = json!(vec![json!({"type": "divider"}); 101]);
    for bad in [long_title, no_submit, no_callback, not_modal, too_many] {
        let t = server.issue_trigger(Duration::ZERO);
        let e = notifier.views_open(&t, &bad).await.unwrap_err();
        assert_eq!(e.code(), Some("invalid_arguments"), "{bad}");
    }
    assert_eq!(server.views().len(), 1);
    // The bearer token is checked.
    let wrong = SlackNotifier::with_options(
        SlackToken::new("xoxb-wrong"),
        &server.base_url,
        fast_policy(),
    )
    .unwrap();
    let t = server.issue_trigger(Duration::ZERO);
    let e = wrong.views_open(&t, &modal()).await.unwrap_err();
    assert_eq!(e.error_type(), ERROR_CONFIG);
}

#[tokio::test]
async fn chat_update_replaces_a_posted_message_and_checks_it() {
    let (server, notifier) = setup().await;
    let report = notifier.send_list(&by_id(), &messages(2)).await.unwrap();
    let (channel, ts) = (report.channel.clone().unwrap(), report.posted[0].ts.clone());
    let blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": "done"}})];
    notifier
        .chat_update(&channel, &ts, "done", &blocks)
        .await
        .unwrap();
    assert_eq!(
        server.message(&channel, &ts).unwrap()["blocks"],
        json!(blocks)
    );
    let e = notifier
        .chat_update(&channel, "1.999", "x", &blocks)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("message_not_found"));
    let e = notifier
        .chat_update(&channel, &ts, "x", &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("invalid_blocks"));
}

#[tokio::test]
async fn message_blocks_reads_one_message_back_as_it_stands() {
    let (server, notifier) = setup().await;
    let report = notifier.send_list(&by_id(), &messages(2)).await.unwrap();
    let later = notifier.send_list(&by_id(), &messages(1)).await.unwrap();
    let channel = report.channel.clone().unwrap();
    let (first, second) = (report.posted[0].ts.clone(), later.posted[0].ts.clone());
    let blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": "edited"}})];
    notifier
        .chat_update(&channel, &first, "edited", &blocks)
        .await
        .unwrap();
    // The first of two messages, not the newest; after the edit.
    let got = notifier.message_blocks(&channel, &first).await.unwrap();
    assert_eq!(got, Some(blocks));
    let got = notifier.message_blocks(&channel, &second).await.unwrap();
    assert_eq!(
        got.map(|b| b.len()),
        server.message(&channel, &second).unwrap()["blocks"]
            .as_array()
            .map(Vec::len)
    );
    assert_eq!(
        notifier.message_blocks(&channel, "1.000001").await.unwrap(),
        None
    );
    // Throttled once: waits Retry-After, then reads.
    server.script(
        "conversations.history",
        [Fault::TooMany {
            retry_after: Some(1),
        }],
    );
    assert!(
        notifier
            .message_blocks(&channel, &first)
            .await
            .unwrap()
            .is_some()
    );
    let e = notifier.message_blocks("D404", &first).await.unwrap_err();
    assert_eq!(e.code(), Some("channel_not_found"));
    let reads = server.received_for("conversations.history");
    assert_eq!(reads[0].fields["oldest"], first);
    assert_eq!(reads[0].fields["limit"], "1");
}

#[tokio::test]
async fn response_urls_work_without_a_token_five_times() {
    let (server, notifier) = setup().await;
    let report = notifier.send_list(&by_id(), &messages(1)).await.unwrap();
    let (channel, ts) = (report.channel.clone().unwrap(), report.posted[0].ts.clone());
    let web = churn_delivery::SlackWeb::new(None, Duration::from_secs(5)).unwrap();
    let url = server.issue_response_url(&channel, &ts);
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "✓ done"}}]);
    web.post_response_url(
        &url,
        &json!({"replace_original": true, "text": "t", "blocks": blocks}),
    )
    .await
    .unwrap();
    assert_eq!(server.message(&channel, &ts).unwrap()["blocks"], blocks);
    for _ in 0..4 {
        web.post_response_url(&url, &json!({"response_type": "ephemeral", "text": "hi"}))
            .await
            .unwrap();
    }
    let e = web
        .post_response_url(&url, &json!({"text": "sixth"}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            churn_delivery::ResponseUrlError::Refused { status: 404, .. }
        ),
        "{e}"
    );
    let e = web
        .post_response_url(
            &server.issue_response_url(&channel, &ts),
            &json!({"replace_original": true, "text": "t", "blocks": []}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            churn_delivery::ResponseUrlError::Refused { status: 400, .. }
        ),
        "{e}"
    );
}
