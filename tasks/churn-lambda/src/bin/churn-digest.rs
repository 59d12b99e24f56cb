//! The digest task: build the clients once, then serve events.

use churn_lambda::app::App;
use churn_lambda::digest::{Digester, handle};
use churn_lambda::runner::{init_tracing, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let digester = Digester::new(App::from_env().await?);
    run(|event| handle(&digester, event)).await
}
