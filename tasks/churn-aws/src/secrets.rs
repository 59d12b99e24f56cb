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

    /// The current string value of the secret `name` (`cp/slack/bot-token`, …).
    pub async fn get(&self, name: &str) -> Result<Secret, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(name)
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
}
