//! The order-import task (S3 put on the order-feed bucket): build the clients once, then serve
//! events.

use churn_lambda::drive_sync::{SyncApp, SyncEnv};
use churn_lambda::error::TaskError;
use churn_lambda::runner::{init_tracing, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let sdk = churn_aws::load_sdk_config().await;
    let path_style = std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true" || v == "1");
    let app = SyncApp::new(
        SyncEnv::from_env()?,
        churn_aws::AwsClients::with_path_style(&sdk, path_style),
    );
    let var = |n: &'static str| {
        std::env::var(n).map_err(|_| {
            TaskError::new(
                "churn.Config",
                format!("environment variable {n} is not set"),
            )
        })
    };
    let orders_table = var("ORDERS_TABLE")?;
    let audit_table = var("AUDIT_TABLE")?;
    run(|event| churn_lambda::order_import::handle(&app, &orders_table, &audit_table, event)).await
}
