use aws_sdk_ssm::types::ParameterType;
use churn_aws::{ConfigError, SecretsError, SecretsManagerSecrets, SsmConfig};

use crate::support::{clients, unique};

async fn put_params(ssm: &aws_sdk_ssm::Client, path: &str, skip: Option<&str>) {
    for (name, value, kind) in [
        ("timezone", "Asia/Singapore", ParameterType::String),
        ("fallback_owner", "ops@shop.example", ParameterType::String),
        ("sender", "churn@shop.example", ParameterType::String),
        ("model_id", "anthropic.claude-haiku", ParameterType::String),
        (
            "outcome_url",
            "https://abc.lambda-url.example/o",
            ParameterType::SecureString,
        ),
        ("digest_channel", "#sales", ParameterType::String),
        (
            "summary_recipients",
            "boss@shop.example, ops@shop.example",
            ParameterType::StringList,
        ),
    ] {
        if Some(name) == skip {
            continue;
        }
        ssm.put_parameter()
            .name(format!("{path}{name}"))
            .value(value)
            .r#type(kind)
            .send()
            .await
            .unwrap();
    }
    // Something else under the path is ignored.
    ssm.put_parameter()
        .name(format!("{path}extra/unused"))
        .value("x")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn ssm_config_loads_all_pages_and_names_a_missing_parameter() {
    let clients = clients().await;
    let path = format!("/{}/config/", unique("cp"));
    put_params(&clients.ssm, &path, None).await;
    let c = SsmConfig::load(&clients.ssm, &path).await.unwrap();
    assert_eq!(c.timezone, "Asia/Singapore");
    assert_eq!(c.sender, "churn@shop.example");
    assert_eq!(
        c.outcome_url, "https://abc.lambda-url.example/o",
        "decrypted"
    );
    assert_eq!(
        c.summary_recipients,
        vec!["boss@shop.example", "ops@shop.example"]
    );
    // The path without its trailing slash works too.
    let again = SsmConfig::load(&clients.ssm, path.trim_end_matches('/'))
        .await
        .unwrap();
    assert_eq!(again, c);

    let path = format!("/{}/config/", unique("cp"));
    put_params(&clients.ssm, &path, Some("sender")).await;
    let err = SsmConfig::load(&clients.ssm, &path).await.unwrap_err();
    match &err {
        ConfigError::Missing { parameter } => assert_eq!(parameter, &format!("{path}sender")),
        other => panic!("expected Missing, got {other:?}"),
    }
    assert_eq!(err.error_type(), "churn.Config");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn secrets_manager_get_and_not_found() {
    let clients = clients().await;
    let name = format!("{}/slack/bot-token", unique("cp"));
    clients
        .secretsmanager
        .create_secret()
        .name(&name)
        .secret_string("xoxb-123-secret")
        .send()
        .await
        .unwrap();
    let secrets = SecretsManagerSecrets::new(&clients);
    let s = secrets.get(&name).await.unwrap();
    assert_eq!(s.expose(), "xoxb-123-secret");
    assert!(!format!("{s:?}").contains("xoxb"));

    let err = secrets.get(&format!("{name}-missing")).await.unwrap_err();
    assert!(matches!(err, SecretsError::NotFound { .. }), "{err:?}");
    assert_eq!(err.error_type(), "churn.Config");
}
