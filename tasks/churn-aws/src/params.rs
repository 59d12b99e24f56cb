//! `SsmConfig`: the deploy-time settings in Parameter Store (`/cp/config/…`), read once per
//! container (`docs/aws-design.md`, Configuration).

use churn_core::ingest::orders::OrderColumns;
use churn_core::list::values::DateOrder;
use churn_core::model::looks_like_email;

use crate::error::{AwsFailure, ERROR_CONFIG};

/// Missing or invalid configuration (`churn.Config`), naming the parameter or variable, never
/// its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the parameter {parameter} is missing from Parameter Store")]
    Missing { parameter: String },
    #[error("the parameter {parameter} is invalid: {reason}")]
    Invalid { parameter: String, reason: String },
    #[error("the environment variable {name} is not set")]
    MissingEnv { name: &'static str },
    #[error("reading configuration: {0}")]
    Aws(#[from] AwsFailure),
}

impl ConfigError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConfigError::Aws(f) if f.is_retryable())
    }

    /// `churn.Config`, except throttling and the like (`churn.Retryable`).
    pub fn error_type(&self) -> &'static str {
        match self {
            ConfigError::Aws(f) if f.is_retryable() => crate::ERROR_RETRYABLE,
            _ => ERROR_CONFIG,
        }
    }
}

/// The settings under the config path (`CONFIG_PATH`, e.g. `/cp/config/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmConfig {
    /// An IANA time zone (`Europe/London`), checked.
    pub timezone: String,
    /// Owner of customers without one.
    pub fallback_owner: String,
    /// The SES sender address.
    pub sender: String,
    /// The Bedrock model id for reasons.
    pub model_id: String,
    /// Base URL of the outcome links in emails.
    pub outcome_url: String,
    /// The Slack channel of the weekly digest.
    pub digest_channel: String,
    /// The monthly summary's recipients (comma-separated in the parameter; at least one).
    pub summary_recipients: Vec<String>,
    /// How the sheet writes numeric dates (optional `date_order`: `day-first`, the default, or
    /// `month-first`).
    pub date_order: DateOrder,
    /// The column mapping for an order export that is not Shopify's, Stripe's or WooCommerce's
    /// (optional `order_columns`, in [`OrderColumns::parse`]'s one-line form).
    pub order_columns: Option<OrderColumns>,
}

/// The optional parameters under the path.
pub const OPTIONAL_PARAMETERS: [&str; 2] = ["date_order", "order_columns"];

/// The required parameter names under the path, in the order they are checked.
pub const PARAMETERS: [&str; 7] = [
    "timezone",
    "fallback_owner",
    "sender",
    "model_id",
    "outcome_url",
    "digest_channel",
    "summary_recipients",
];

impl SsmConfig {
    /// Reads every parameter under `path` (GetParametersByPath: recursive, decrypted, all pages).
    /// Each of [`PARAMETERS`] is required; a missing or empty one is [`ConfigError::Missing`].
    pub async fn load(client: &aws_sdk_ssm::Client, path: &str) -> Result<SsmConfig, ConfigError> {
        let prefix = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        let mut found: Vec<(String, String)> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .get_parameters_by_path()
                .path(prefix.trim_end_matches('/'))
                .recursive(true)
                .with_decryption(true)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk("SSM.GetParametersByPath", &e))?;
            for p in page.parameters() {
                if let (Some(name), Some(value)) = (p.name(), p.value())
                    && let Some(key) = name.strip_prefix(&prefix)
                {
                    found.push((key.to_string(), value.to_string()));
                }
            }
            token = page.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        SsmConfig::from_pairs(&prefix, &found)
    }

    /// Builds the config from (name under the path, value) pairs; `prefix` only names parameters
    /// in errors. Each of [`PARAMETERS`] is required; [`OPTIONAL_PARAMETERS`] may be absent.
    pub fn from_pairs(prefix: &str, pairs: &[(String, String)]) -> Result<SsmConfig, ConfigError> {
        let get = |key: &str| -> Result<String, ConfigError> {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::Missing {
                    parameter: format!("{prefix}{key}"),
                })
        };
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            parameter: format!("{prefix}{key}"),
            reason: reason.to_string(),
        };
        let mut values = Vec::with_capacity(PARAMETERS.len());
        for key in PARAMETERS {
            values.push(get(key)?);
        }
        let [
            timezone,
            fallback_owner,
            sender,
            model_id,
            outcome_url,
            digest_channel,
            recipients,
        ]: [String; 7] = values.try_into().expect("one value per parameter");
        if jiff::tz::TimeZone::get(&timezone).is_err() {
            return Err(invalid("timezone", "not an IANA time zone name"));
        }
        for (key, value) in [("fallback_owner", &fallback_owner), ("sender", &sender)] {
            if !looks_like_email(value) {
                return Err(invalid(key, "not an email address"));
            }
        }
        if !outcome_url.starts_with("https://") && !outcome_url.starts_with("http://") {
            return Err(invalid("outcome_url", "not an http(s) URL"));
        }
        let summary_recipients: Vec<String> = recipients
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if summary_recipients.is_empty() || !summary_recipients.iter().all(|r| looks_like_email(r))
        {
            return Err(invalid(
                "summary_recipients",
                "not a comma-separated list of email addresses",
            ));
        }
        let optional = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty() && *v != "-")
        };
        let date_order = match optional("date_order") {
            None | Some("day-first") => DateOrder::DayFirst,
            Some("month-first") => DateOrder::MonthFirst,
            Some(_) => return Err(invalid("date_order", "not day-first or month-first")),
        };
        let order_columns = optional("order_columns")
            .map(OrderColumns::parse)
            .transpose()
            .map_err(|e| invalid("order_columns", &e))?;
        Ok(SsmConfig {
            timezone,
            fallback_owner,
            sender,
            model_id,
            outcome_url,
            digest_channel,
            summary_recipients,
            date_order,
            order_columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(String, String)> {
        [
            ("timezone", "Asia/Singapore"),
            ("fallback_owner", "ops@shop.example"),
            ("sender", "churn@shop.example"),
            ("model_id", "anthropic.claude"),
            ("outcome_url", "https://x.example/o"),
            ("digest_channel", "#sales"),
            ("summary_recipients", "a@shop.example, b@shop.example"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn validates_values_and_names_the_parameter() {
        let c = SsmConfig::from_pairs("/cp/config/", &pairs()).unwrap();
        assert_eq!(
            c.summary_recipients,
            vec!["a@shop.example", "b@shop.example"]
        );
        let mut bad = pairs();
        bad[0].1 = "Mars/Olympus".into();
        let e = SsmConfig::from_pairs("/cp/config/", &bad).unwrap_err();
        assert!(e.to_string().contains("/cp/config/timezone"), "{e}");
        assert!(
            !e.to_string().contains("Mars"),
            "values stay out of errors: {e}"
        );
        assert_eq!(e.error_type(), ERROR_CONFIG);
    }

    #[test]
    fn optional_date_order_and_order_columns() {
        let c = SsmConfig::from_pairs("/cp/config/", &pairs()).unwrap();
        assert_eq!((c.date_order, c.order_columns), (DateOrder::DayFirst, None));
        let mut more = pairs();
        more.push(("date_order".into(), "month-first".into()));
        more.push((
            "order_columns".into(),
            "order_date=Sale Date; email=E-Mail; ignore_statuses=void|storniert".into(),
        ));
        let c = SsmConfig::from_pairs("/cp/config/", &more).unwrap();
        assert_eq!(c.date_order, DateOrder::MonthFirst);
        let m = c.order_columns.unwrap();
        assert_eq!(
            (m.order_date.as_str(), m.ignore_statuses.len()),
            ("Sale Date", 2)
        );
        // "-" is the template's placeholder for "not set" (a parameter cannot be empty).
        let mut unset = pairs();
        unset.push(("order_columns".into(), "-".into()));
        assert_eq!(
            SsmConfig::from_pairs("/cp/config/", &unset)
                .unwrap()
                .order_columns,
            None
        );
        for (key, value, want) in [
            ("date_order", "ymd", "/cp/config/date_order is invalid"),
            (
                "order_columns",
                "order_date=D",
                "/cp/config/order_columns is invalid: customer_id or email",
            ),
        ] {
            let mut bad = pairs();
            bad.push((key.into(), value.into()));
            let e = SsmConfig::from_pairs("/cp/config/", &bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
