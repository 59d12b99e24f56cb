//! `BedrockReasoner` against the Bedrock-like server, through the real SDK (SigV4, restJson1).

use std::time::{Duration, Instant};

use churn_core::notify::reason::{ReasonRejected, deterministic_reason};
use churn_delivery::{
    BedrockError, BedrockReasoner, BedrockReasonerConfig, DEFAULT_MODEL_ID, FallbackReason,
    ReasonSource,
};
use serde_json::Value;

use crate::bedrock_server::{BedrockServer, Mode, breakdown_in};
use crate::fixtures::{days_breakdown, item, items, sdk_config, spec_breakdown};

fn config() -> BedrockReasonerConfig {
    BedrockReasonerConfig {
        timeout: Duration::from_secs(2),
        max_attempts: 1,
        voice: Some("Warm, direct, no jargon.".into()),
        ..BedrockReasonerConfig::default()
    }
}

async fn reasoner(mode: Mode, config: BedrockReasonerConfig) -> (BedrockServer, BedrockReasoner) {
    let server = BedrockServer::start(mode).await;
    let sdk = sdk_config(&server.url).await;
    (server, BedrockReasoner::new(&sdk, config))
}

#[tokio::test]
async fn good_reply_is_used() {
    let text = "64 days since the last order against a usual 30, and support mood is sour.";
    let (server, r) = reasoner(Mode::Reply(text), config()).await;

    let (reason, source) = r.reason(&spec_breakdown()).await;

    assert_eq!(source, ReasonSource::Model);
    assert_eq!(reason, text);
    assert!(server.refused().is_empty(), "{:?}", server.refused());
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].model_id, DEFAULT_MODEL_ID);
    assert!(
        seen[0]
            .authorization
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    );
    let body = &seen[0].body;
    assert_eq!(body.pointer("/messages/0/role"), Some(&Value::from("user")));
    assert_eq!(
        body.pointer("/inferenceConfig/maxTokens"),
        Some(&Value::from(120))
    );
    let temperature = body
        .pointer("/inferenceConfig/temperature")
        .and_then(Value::as_f64)
        .unwrap();
    assert!(temperature <= 0.3);
    let system = body
        .pointer("/system/0/text")
        .and_then(Value::as_str)
        .unwrap();
    assert!(system.contains("Warm, direct, no jargon."));
    assert!(system.contains("one plain line, at most 200 characters"));
    assert!(system.contains("no greeting"));
}

#[tokio::test]
async fn request_carries_the_breakdown_only() {
    let (server, r) = reasoner(Mode::Good, config()).await;
    let list = items(1);

    let out = r.reasons(&list, 2).await;

    assert_eq!(out[0].1, ReasonSource::Model, "{:?}", out[0]);
    assert_eq!(
        out[0].0,
        "overdue_ratio: 2.1× the usual pace: 64 days since the last order, usually every 30 days."
    );
    let seen = server.seen();
    let raw = seen[0].body.to_string();
    for secret in ["Secretname", "CUST-0000", "1234", "example.com", "r1"] {
        assert!(!raw.contains(secret), "the request carried {secret:?}");
    }
    let entries = breakdown_in(&seen[0].body);
    // Only the signals that scored, each with signal / points / detail and nothing else.
    assert_eq!(entries.len(), 2);
    for e in &entries {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["detail", "points", "signal"]);
    }
    assert_eq!(entries[1]["signal"], "support_mood");
    assert_eq!(entries[1]["points"], 25);
    assert_eq!(entries[1]["detail"], "sour (-0.45)");
}

#[tokio::test]
async fn ungrounded_reply_falls_back() {
    let (_server, r) = reasoner(Mode::Ungrounded, config()).await;
    let b = spec_breakdown();

    let (reason, source) = r.reason(&b).await;

    assert_eq!(reason, deterministic_reason(&b));
    assert_eq!(
        source,
        ReasonSource::Fallback(FallbackReason::Rejected(ReasonRejected::UngroundedNumber(
            "97".into()
        )))
    );
}

#[tokio::test]
async fn multi_line_reply_falls_back() {
    let (_server, r) = reasoner(Mode::MultiLine, config()).await;
    let b = spec_breakdown();

    let (reason, source) = r.reason(&b).await;

    assert_eq!(reason, deterministic_reason(&b));
    assert_eq!(
        source,
        ReasonSource::Fallback(FallbackReason::Rejected(ReasonRejected::MultiLine))
    );
}

#[tokio::test]
async fn throttle_falls_back() {
    let (server, r) = reasoner(Mode::Throttle, config()).await;
    let b = spec_breakdown();

    let (reason, source) = r.reason(&b).await;

    assert_eq!(reason, deterministic_reason(&b));
    assert_eq!(
        source,
        ReasonSource::Fallback(FallbackReason::Failed(BedrockError::Throttled))
    );
    assert_eq!(server.seen().len(), 1, "max_attempts 1: no SDK retry");
}

#[tokio::test]
async fn throttle_with_sdk_retry_still_falls_back_in_time() {
    let config = BedrockReasonerConfig {
        max_attempts: 2,
        timeout: Duration::from_secs(4),
        ..config()
    };
    let (server, r) = reasoner(Mode::Throttle, config).await;
    let started = Instant::now();

    let (_, source) = r.reason(&spec_breakdown()).await;

    assert!(started.elapsed() < Duration::from_secs(4) + Duration::from_millis(500));
    assert!(
        matches!(
            source,
            ReasonSource::Fallback(FallbackReason::Failed(
                BedrockError::Throttled | BedrockError::Timeout(_)
            ))
        ),
        "{source:?}"
    );
    assert!(!server.seen().is_empty());
}

#[tokio::test]
async fn slow_reply_falls_back_within_the_timeout() {
    let config = BedrockReasonerConfig {
        timeout: Duration::from_millis(400),
        ..config()
    };
    let (_server, r) = reasoner(Mode::Slow(Duration::from_secs(5)), config).await;
    let b = spec_breakdown();
    let started = Instant::now();

    let (reason, source) = r.reason(&b).await;

    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(reason, deterministic_reason(&b));
    assert_eq!(
        source,
        ReasonSource::Fallback(FallbackReason::Failed(BedrockError::Timeout(
            Duration::from_millis(400)
        )))
    );
}

#[tokio::test]
async fn concurrency_is_bounded_and_order_kept() {
    let (server, r) = reasoner(Mode::Good, config()).await;
    server.set_delay(Duration::from_millis(120));
    let list: Vec<_> = (0..9)
        .map(|i| item(i, days_breakdown(40 + i as i64)))
        .collect();

    let out = r.reasons(&list, 3).await;

    assert_eq!(out.len(), 9);
    for (i, (reason, source)) in out.iter().enumerate() {
        assert_eq!(*source, ReasonSource::Model, "{reason}");
        assert_eq!(
            reason,
            &format!(
                "days_since_last_order: {} days since the last order.",
                40 + i
            )
        );
    }
    let max = server.max_in_flight();
    assert!(max <= 3, "{max} requests at once");
    assert!(max >= 2, "the calls did not overlap ({max})");
}

#[tokio::test]
async fn nothing_scored_skips_the_model() {
    let (server, r) = reasoner(Mode::Good, config()).await;
    let mut b = spec_breakdown();
    for e in &mut b {
        e.points = 0;
    }

    let (reason, source) = r.reason(&b).await;

    assert_eq!(reason, "No signal scored this week.");
    assert_eq!(
        source,
        ReasonSource::Fallback(FallbackReason::NothingScored)
    );
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn unreachable_endpoint_falls_back() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let sdk = sdk_config(&url).await;
    let r = BedrockReasoner::new(&sdk, config());
    let b = spec_breakdown();

    let (reason, source) = r.reason(&b).await;

    assert_eq!(reason, deterministic_reason(&b));
    match source {
        ReasonSource::Fallback(FallbackReason::Failed(e)) => {
            assert!(e.is_retryable(), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
}
