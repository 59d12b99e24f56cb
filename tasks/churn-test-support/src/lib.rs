//! Fakes shared by the integration tests of churn-aws, churn-delivery, churn-google and
//! churn-lambda. Only ever a `[dev-dependencies]` entry: nothing here ships.
//!
//! - [`http`]: the tiny HTTP/1 server (hyper on 127.0.0.1:0) the fakes below are built on.
//! - [`slack_server`]: a Slack-like Web API (`chat.postMessage`, `conversations.history`, ...).
//! - [`bedrock_server`]: a Bedrock-Runtime-like Converse API for the reasoner.
//! - [`mood_server`]: a Bedrock-Runtime-like Converse API with the mood labeller's tool use.
//! - [`google_server`]: a Google-like OAuth token endpoint, Drive v3 and Sheets v4.
//! - [`moto`]: moto's server (S3, DynamoDB, Parameter Store, Secrets Manager, SES) started once
//!   per test binary, and AWS clients pointed at it.

pub mod bedrock_server;
pub mod google_server;
pub mod http;
pub mod mood_server;
pub mod moto;
pub mod slack_server;
