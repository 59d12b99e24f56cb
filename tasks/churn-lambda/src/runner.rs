//! The thin entry point every task shares: JSON logs, then either the Lambda runtime loop or, with
//! `--invoke`, one event from stdin to stdout (how the tests' Step Functions harness runs tasks,
//! and `cargo lambda invoke`-free local runs).

use std::future::Future;
use std::io::Read;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

use crate::error::TaskError;

/// JSON logs, one line per event; level from `RUST_LOG` (default info). Lambda's
/// `AWS_LAMBDA_LOG_FORMAT=JSON` is honoured by always writing JSON.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .without_time()
        .try_init();
}

/// Runs `handler` for every event (Lambda), or once for the event on stdin (`--invoke`).
pub async fn run<F, Fut, R>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<R, TaskError>>,
    R: Serialize,
{
    if std::env::args().any(|a| a == "--invoke") {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        let event: Value = if input.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&input)?
        };
        match handler(event).await {
            Ok(out) => {
                println!("{}", serde_json::to_string(&out)?);
                Ok(())
            }
            Err(e) => {
                println!(
                    "{}",
                    serde_json::json!({"errorType": e.kind, "errorMessage": e.message})
                );
                std::process::exit(1);
            }
        }
    } else {
        lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
            handler(event.payload)
        }))
        .await
    }
}
