//! Integration tests for the delivery adapters, against local Slack-like and Bedrock-like
//! servers (hyper on 127.0.0.1:0). One binary, a module per topic.

#[path = "delivery/http.rs"]
mod http;

#[path = "delivery/slack_server.rs"]
mod slack_server;

#[path = "delivery/bedrock_server.rs"]
mod bedrock_server;

#[path = "delivery/fixtures.rs"]
mod fixtures;

#[path = "delivery/slack.rs"]
mod slack;

#[path = "delivery/bedrock.rs"]
mod bedrock;

#[path = "delivery/mood_server.rs"]
mod mood_server;
#[path = "delivery/narrative.rs"]
mod narrative;

#[path = "delivery/mood.rs"]
mod mood;
