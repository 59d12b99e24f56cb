//! End-to-end tests of the `churn` command: one test binary, a module per topic.

mod util;

// The Slack-like server of the delivery tests (Web API shapes, errors, rate limits).
#[path = "../tasks/churn-delivery/tests/delivery/http.rs"]
#[allow(dead_code)]
mod http;
#[path = "../tasks/churn-delivery/tests/delivery/slack_server.rs"]
#[allow(dead_code)]
mod slack_server;

mod backtest;
mod check;
mod compare;
mod demo;
mod digest;
mod import_orders;
mod outcome;
mod palive;
mod read_mail;
mod score;
mod serve;
mod summary;
mod weekly;
