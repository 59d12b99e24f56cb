//! The outcome handler (Function URL): build the clients once, then serve events.

use churn_lambda::outcome::OutcomeApp;
use churn_lambda::runner::{init_tracing, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let app = OutcomeApp::from_env().await?;
    run(|event| app.handle(event)).await
}
