//! The summary task: build the clients once, then serve events.

use churn_lambda::app::App;
use churn_lambda::runner::{init_tracing, run};
use churn_lambda::summary::{Summarizer, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let summarizer = Summarizer::new(App::from_env().await?);
    run(|event| handle(&summarizer, event)).await
}
