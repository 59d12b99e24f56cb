//! The mood-reader task: build the clients once, then serve S3 put events from SES inbound.

use churn_lambda::mood_reader::{MoodApp, handle};
use churn_lambda::runner::{init_tracing, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let app = MoodApp::from_env().await?;
    run(|event| handle(&app, event)).await
}
