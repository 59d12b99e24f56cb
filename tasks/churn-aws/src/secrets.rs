//! `SecretsManagerSecrets`: the Slack token and signing secret, the email-link key and the
//! service account. Values are wrapped in [`Secret`], whose `Debug` is redacted and which has no
//! `Display`, so they cannot end up in a log line by accident.

use std::fmt;

use crate::AwsClients;
use crate::error::{AwsFailure, ERROR_CONFIG};

/// A secret value. `Debug` prints `Secret(<redacted>)`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A secret that could not be read, by name (never value).
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secret {name} does not exist")]
    NotFound { name: String },
    #[error("the secret {name} has no string value")]
    NotText { name: String },
    #[error("reading the secret {name}: {failure}")]
    Aws { name: String, failure: AwsFailure },
}

impl SecretsError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretsError::Aws { failure, .. } if failure.is_retryable())
    }

    /// `churn.Retryable` for transient failures, else `churn.Config` (a missing or unreadable
    /// secret is a deployment problem).
    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            crate::ERROR_RETRYABLE
        } else {
            ERROR_CONFIG
        }
    }
}

/// Reads secrets from Secrets Manager.
#[derive(Clone)]
pub struct SecretsManagerSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl fmt::Debug for SecretsManagerSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsManagerSecrets")
    }
}

impl SecretsManagerSecrets {
    pub fn new(clients: &AwsClients) -> SecretsManagerSecrets {
        SecretsManagerSecrets {
            client: clients.secretsmanager.clone(),
        }
    }

    /// The current string value of the secret `name`. A name `SECRET#field` (the deployed form,
    /// `cp/keys#slack_bot_token`: every key lives in one JSON secret, docs/aws-template.md) is
    /// the field `field` of the JSON object stored in `SECRET`; a field that is not a string (the
    /// Google key file as an object) is returned as its JSON text, a missing field is
    /// [`SecretsError::NotFound`]. A name without `#` is the whole secret (`cp/slack/bot-token`).
    pub async fn get(&self, name: &str) -> Result<Secret, SecretsError> {
        match name.rsplit_once('#') {
            Some((id, field)) => {
                let whole = self.get_whole(id, name).await?;
                field_of(name, field, whole.expose())
            }
            None => self.get_whole(name, name).await,
        }
    }

    async fn get_whole(&self, id: &str, name: &str) -> Result<Secret, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception())
                {
                    SecretsError::NotFound { name: name.into() }
                } else {
                    SecretsError::Aws {
                        name: name.into(),
                        failure: AwsFailure::from_sdk("SecretsManager.GetSecretValue", &e),
                    }
                }
            })?;
        out.secret_string
            .map(Secret)
            .ok_or_else(|| SecretsError::NotText { name: name.into() })
    }
}

/// The field `field` of the JSON object `json` (the value of the secret behind `name`).
fn field_of(name: &str, field: &str, json: &str) -> Result<Secret, SecretsError> {
    let not_text = || SecretsError::NotText { name: name.into() };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| not_text())?;
    let object = value.as_object().ok_or_else(not_text)?;
    match object.get(field) {
        None | Some(serde_json::Value::Null) => Err(SecretsError::NotFound { name: name.into() }),
        Some(serde_json::Value::String(s)) => Ok(Secret(s.clone())),
        Some(other) => Ok(Secret(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(<redacted>))");
        assert_eq!(s.expose(), "xoxb-very-secret");
    }

    #[test]
    fn a_field_of_the_keys_secret() {
        let json = r#"{"slack_bot_token": "xoxb-1", "google_service_account": {"type": "service_account"}, "empty": "", "none": null}"#;
        let name = "cp/keys#slack_bot_token";
        assert_eq!(
            field_of(name, "slack_bot_token", json).unwrap().expose(),
            "xoxb-1"
        );
        // An object (the Google key file pasted as JSON) comes back as its JSON text.
        let key = field_of(
            "cp/keys#google_service_account",
            "google_service_account",
            json,
        );
        assert_eq!(key.unwrap().expose(), r#"{"type":"service_account"}"#);
        // Blank stays blank: the callers refuse it at start (secret_text).
        assert_eq!(
            field_of("cp/keys#empty", "empty", json).unwrap().expose(),
            ""
        );
        assert!(matches!(
            field_of("cp/keys#missing", "missing", json),
            Err(SecretsError::NotFound { name }) if name == "cp/keys#missing"
        ));
        assert!(matches!(
            field_of("cp/keys#none", "none", json),
            Err(SecretsError::NotFound { .. })
        ));
        assert!(matches!(
            field_of(name, "slack_bot_token", "xoxb-1"),
            Err(SecretsError::NotText { .. })
        ));
        assert!(matches!(
            field_of(name, "slack_bot_token", "[1]"),
            Err(SecretsError::NotText { .. })
        ));
    }
}
