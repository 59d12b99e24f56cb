//! AWS adapters for the churn predictor (docs/SPEC.md §4, §5, §11; contracts in `docs/aws-design.md`).
//!
//! Every adapter is built from one [`AwsClients`], itself made once from one
//! [`aws_config::SdkConfig`] (never `load_from_env` per adapter). Adapters are named
//! `<Tech><Port>`: [`S3ObjectStore`], [`DynamoDbStateStore`], [`DynamoDbSendLedger`],
//! [`SsmConfig`], [`SecretsManagerSecrets`], [`SesMailer`]. Each area has its own error enum with
//! `is_retryable()` and a stable `error_type()` (`churn.Retryable`, `churn.Config`,
//! `churn.Refused`, `churn.Internal`) for the Lambda error the state machine matches.
//!
//! Nothing here logs or puts into an error a secret value or a customer's name or email; customer
//! ids are fine.

pub mod clock;
pub mod error;
pub mod history;
pub mod ledger;
pub mod mail;
pub mod mood;
pub mod objects;
pub mod orders;
pub mod outcome_port;
pub mod params;
pub mod run_store;
pub mod secrets;
pub mod state;

mod batch;
mod items;

pub use clock::AuditClock;
pub use error::{AwsFailure, ERROR_CONFIG, ERROR_INTERNAL, ERROR_REFUSED, ERROR_RETRYABLE};
pub use history::{DynamoDbScoreHistory, WeekScore};
pub use ledger::{DynamoDbSendLedger, LedgerError};
pub use mail::{MailError, SesListMailer, SesMailer};
pub use objects::{ObjectError, ObjectText, PutResult, S3ObjectStore};
pub use orders::DynamoDbOrderHistory;
pub use outcome_port::DynamoDbOutcomeStore;
pub use params::{ConfigError, SsmConfig};
pub use run_store::DynamoDbRunStore;
pub use secrets::{Secret, SecretsError, SecretsManagerSecrets};
pub use state::{
    Conflict, DynamoDbStateStore, Prior, ScoreChanges, ScoreWrite, StateError, StoredScore,
    TableNames,
};

use aws_config::{BehaviorVersion, SdkConfig};

/// The SDK clients every adapter is built from, all from the same [`SdkConfig`]. Cheap to clone
/// (each client is an `Arc` inside).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub sesv2: aws_sdk_sesv2::Client,
}

impl AwsClients {
    /// The clients for `config`, with S3's default (virtual-hosted) addressing.
    pub fn new(config: &SdkConfig) -> AwsClients {
        AwsClients::with_path_style(config, false)
    }

    /// The clients for `config`; `force_path_style` makes S3 use `endpoint/bucket/key` URLs
    /// (needed by local endpoints such as moto).
    pub fn with_path_style(config: &SdkConfig, force_path_style: bool) -> AwsClients {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(force_path_style)
            .build();
        AwsClients {
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
            sesv2: aws_sdk_sesv2::Client::new(config),
        }
    }
}

/// Loads the one `SdkConfig` of a function (region, credentials and retry settings from the
/// Lambda environment), with the latest behavior version.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_defaults().load().await
}

/// The SDK's config loader with the latest behavior version and the one HTTPS client every AWS
/// call is made with: rustls on ring. The SDK crates are built without their default client
/// (rustls on aws-lc), which would put a second crypto library into every function.
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}
