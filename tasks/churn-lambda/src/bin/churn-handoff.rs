//! The handoff task: build the clients once, then serve events.

use churn_lambda::app::App;
use churn_lambda::handoff::Handoff;
use churn_lambda::runner::{init_tracing, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let handoff = Handoff::new(App::from_env().await?);
    run(|event| churn_lambda::handoff::handle(&handoff, event)).await
}
