//! The drive-sync task (every 15 minutes): build the clients once, then serve events.

use churn_lambda::drive_sync::{SyncApp, SyncEnv, handle};
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
    run(|event| handle(&app, event)).await
}
