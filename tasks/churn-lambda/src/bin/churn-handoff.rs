//! The handoff task: build the clients once, then serve events — one owner's list, or the admin
//! notice when the scorer stopped the run (`{"notice": ...}`, from the `TellAdmin` state).

use churn_lambda::app::App;
use churn_lambda::error::TaskError;
use churn_lambda::handoff::Handoff;
use churn_lambda::runner::{init_tracing, run};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let handoff = Handoff::new(App::from_env().await?);
    run(|event: Value| async {
        let out = if event.get("notice").is_some() {
            serde_json::to_value(churn_lambda::notice::handle(&handoff, event).await?)
        } else {
            serde_json::to_value(churn_lambda::handoff::handle(&handoff, event).await?)
        };
        out.map_err(|e| TaskError::internal(e.to_string()))
    })
    .await
}
