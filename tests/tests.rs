//! End-to-end tests of the `churn` command: one test binary, a module per topic.

mod util;

// The Slack-like server shared by every crate's tests (Web API shapes, errors, rate limits).
use churn_test_support::slack_server;

mod backtest;
mod check;
mod compare;
mod demo;
mod digest;
mod history;
mod hostile;
mod import_orders;
mod init;
mod outcome;
mod palive;
mod read_mail;
mod score;
mod serve;
mod summary;
mod uplift;
mod weekly;
