//! Integration tests for the delivery adapters, against local Slack-like and Bedrock-like
//! servers (churn-test-support's fakes, hyper on 127.0.0.1:0). One binary, a module per topic.

// The topic modules reach the fakes as `crate::slack_server` and so on.
use churn_test_support::{bedrock_server, mood_server, slack_server};

#[path = "delivery/fixtures.rs"]
mod fixtures;

#[path = "delivery/slack.rs"]
mod slack;

#[path = "delivery/bedrock.rs"]
mod bedrock;

#[path = "delivery/slack_metadata.rs"]
mod slack_metadata;

#[path = "delivery/narrative.rs"]
mod narrative;

#[path = "delivery/mood.rs"]
mod mood;
