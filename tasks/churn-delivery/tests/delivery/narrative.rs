//! `BedrockNarrator` against the Bedrock-like server: the summary's number check decides.

use std::time::Duration;

use churn_core::reports::summary::{MonthCounts, ParagraphSource, template_paragraph};
use churn_delivery::{BedrockNarrator, DEFAULT_MODEL_ID, NarratorConfig};
use serde_json::Value;

use crate::bedrock_server::{BedrockServer, Mode};
use crate::fixtures::sdk_config;

fn counts() -> MonthCounts {
    MonthCounts {
        month: "2026-11".into(),
        flagged: 14,
        reached: 9,
        won_back: 3,
        recovered_value: 4250.0,
        lost: 2,
        lost_reasons: vec![("price".into(), 1), ("switched to a competitor".into(), 1)],
        reactivated: 1,
    }
}

async fn narrator(mode: Mode) -> (BedrockServer, BedrockNarrator) {
    let server = BedrockServer::start(mode).await;
    let sdk = sdk_config(&server.url).await;
    let config = NarratorConfig {
        timeout: Duration::from_secs(2),
        max_attempts: 1,
        ..NarratorConfig::default()
    };
    (server, BedrockNarrator::new(&sdk, config))
}

#[tokio::test]
async fn a_paragraph_whose_numbers_match_is_used_and_the_model_sees_counts_only() {
    let good = "November 2026 was steady: the Monday lists flagged 14 customers, owners reached out \
                to 9 and won back 3, recovering 4,250. 2 were lost, 1 to price; 1 came back on their own.";
    let (server, n) = narrator(Mode::Reply(good)).await;
    let (p, source) = n.paragraph(&counts()).await;
    assert_eq!(source, ParagraphSource::Model);
    assert_eq!(p, good);
    assert!(server.refused().is_empty(), "{:?}", server.refused());
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].model_id, DEFAULT_MODEL_ID);
    let user = seen[0]
        .body
        .pointer("/messages/0/content/0/text")
        .and_then(Value::as_str)
        .unwrap();
    let data: Value = serde_json::from_str(user.split_once('\n').unwrap().1).unwrap();
    assert_eq!(data["flagged"], 14);
    assert_eq!(data["recovered_value_text"], "4,250");
    let sent = seen[0].body.to_string();
    for private in ["@", "customer_id", "C00"] {
        assert!(
            !sent.contains(private),
            "{private} reached the model: {sent}"
        );
    }
}

#[tokio::test]
async fn a_wrong_number_gives_the_template() {
    let wrong = "In November 2026 owners won back 4 customers worth 4,250.";
    let (_server, n) = narrator(Mode::Reply(wrong)).await;
    let (p, source) = n.paragraph(&counts()).await;
    assert_eq!(p, template_paragraph(&counts()));
    assert_eq!(
        source,
        ParagraphSource::Fallback(
            "the paragraph mentions 4, which is not one of the month's counts".into()
        )
    );
}

#[tokio::test]
async fn two_paragraphs_give_the_template() {
    let (_server, n) = narrator(Mode::Reply("14 flagged.\n\n3 won back.")).await;
    let (p, source) = n.paragraph(&counts()).await;
    assert_eq!(p, template_paragraph(&counts()));
    assert_eq!(source.label(), "fallback");
}

#[tokio::test]
async fn a_throttle_gives_the_template() {
    let (server, n) = narrator(Mode::Throttle).await;
    let (p, source) = n.paragraph(&counts()).await;
    assert_eq!(p, template_paragraph(&counts()));
    assert_eq!(
        source,
        ParagraphSource::Fallback("Bedrock throttled the call".into())
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_slow_model_gives_the_template_at_the_deadline() {
    let (_server, n) = narrator(Mode::Slow(Duration::from_secs(30))).await;
    let (p, source) = n.paragraph(&counts()).await;
    assert_eq!(p, template_paragraph(&counts()));
    match source {
        ParagraphSource::Fallback(why) => assert!(why.contains("did not answer"), "{why}"),
        other => panic!("{other:?}"),
    }
}
