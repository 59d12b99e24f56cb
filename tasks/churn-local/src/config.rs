//! `config.toml` in the data folder: everything optional, every mistake named.

use std::path::Path;

use churn_core::list::values::DateOrder;
use jiff::tz::TimeZone;
use serde::Deserialize;

/// The data folder's settings (docs/SPEC.md §10).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// IANA time zone of the business, e.g. `Asia/Singapore`. Default `UTC`.
    pub timezone: Option<String>,
    /// Who gets customers whose owner cell is blank or not an email; also the admin.
    pub fallback_owner: Option<String>,
    /// `day-first` (23/11/2026, default) or `month-first` (11/23/2026).
    pub date_order: Option<String>,
    /// Slack channel for the Friday digest.
    pub digest_channel: Option<String>,
    /// Who gets the monthly summary.
    #[serde(default)]
    pub summary_recipients: Vec<String>,
    /// Base URL of the outcome handler, for email action links. Default `http://localhost:8080`.
    pub outcome_url: Option<String>,
    /// The as-of date `churn demo` uses (only the bundled demo sets it).
    pub demo_as_of: Option<String>,
    /// `[order_columns]`: which columns of an order export `churn import-orders` reads, for an
    /// export that is not Shopify's, Stripe's or WooCommerce's (docs/SPEC.md §8).
    pub order_columns: Option<churn_core::ingest::orders::OrderColumns>,
    /// Helpdesk and forwarding domains (e.g. `["zendesk.com"]`): mail authenticated as from one of
    /// them may name the customer by Reply-To or a forwarded sender (docs/SPEC.md §8).
    #[serde(default)]
    pub helpdesk_domains: Vec<String>,
}

/// A config that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.toml: {0}")]
    Parse(String),
    #[error(
        "config.toml: timezone `{0}` is not a known time zone (expected a name like Asia/Singapore or Europe/London)"
    )]
    TimeZone(String),
    #[error("config.toml: date_order `{0}` must be `day-first` or `month-first`")]
    DateOrder(String),
    #[error("config.toml: fallback_owner `{0}` is not an email address")]
    FallbackOwner(String),
    #[error("config.toml: [order_columns]: {0}")]
    OrderColumns(String),
    #[error("config.toml could not be read: {0}")]
    Io(#[from] std::io::Error),
}

/// A checked config, ready to use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub raw: Config,
    pub tz: TimeZone,
    pub tz_name: String,
    pub date_order: DateOrder,
    /// Lower-cased.
    pub fallback_owner: Option<String>,
    pub outcome_url: String,
}

impl Settings {
    /// Reads `config.toml` from `dir` if present; defaults otherwise.
    pub fn load(dir: &Path) -> Result<Settings, ConfigError> {
        let path = dir.join("config.toml");
        let raw = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse(e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(e.into()),
        };
        Settings::from_config(raw)
    }

    pub fn from_config(raw: Config) -> Result<Settings, ConfigError> {
        let tz_name = raw.timezone.clone().unwrap_or_else(|| "UTC".into());
        let tz = TimeZone::get(&tz_name).map_err(|_| ConfigError::TimeZone(tz_name.clone()))?;
        let date_order = match raw.date_order.as_deref().map(str::trim) {
            None | Some("day-first") => DateOrder::DayFirst,
            Some("month-first") => DateOrder::MonthFirst,
            Some(other) => return Err(ConfigError::DateOrder(other.into())),
        };
        let fallback_owner = match raw.fallback_owner.as_deref() {
            None => None,
            Some(f) if churn_core::model::looks_like_email(f) => {
                Some(churn_core::model::normalize_email(f))
            }
            Some(f) => return Err(ConfigError::FallbackOwner(f.into())),
        };
        if let Some(m) = &raw.order_columns {
            m.check().map_err(ConfigError::OrderColumns)?;
        }
        let outcome_url = raw
            .outcome_url
            .clone()
            .unwrap_or_else(|| "http://localhost:8080".into());
        Ok(Settings {
            raw,
            tz,
            tz_name,
            date_order,
            fallback_owner,
            outcome_url,
        })
    }

    pub fn read_options(&self) -> churn_core::list::customers::ReadOptions {
        churn_core::list::customers::ReadOptions {
            date_order: self.date_order,
            tz: self.tz.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let s = Settings::from_config(Config::default()).unwrap();
        assert_eq!(s.tz_name, "UTC");
        assert_eq!(s.date_order, DateOrder::DayFirst);
        let bad = toml::from_str::<Config>("timezon = \"UTC\"")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("timezon"), "{bad}");
        let c = Config {
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        assert!(matches!(
            Settings::from_config(c),
            Err(ConfigError::TimeZone(_))
        ));
        let c = Config {
            fallback_owner: Some("the boss".into()),
            ..Default::default()
        };
        assert!(matches!(
            Settings::from_config(c),
            Err(ConfigError::FallbackOwner(_))
        ));
        let c = Config {
            date_order: Some("mdy".into()),
            ..Default::default()
        };
        assert!(matches!(
            Settings::from_config(c),
            Err(ConfigError::DateOrder(_))
        ));
    }

    #[test]
    fn order_columns_table() {
        let c: Config =
            toml::from_str("[order_columns]\norder_date = \"Datum\"\nemail = \"E-Mail\"\nignore_statuses = [\"storniert\"]\n")
                .unwrap();
        let s = Settings::from_config(c).unwrap();
        let m = s.raw.order_columns.unwrap();
        assert_eq!(
            (m.order_date.as_str(), m.email.as_deref()),
            ("Datum", Some("E-Mail"))
        );
        assert_eq!(m.ignore_statuses, ["storniert"]);
        let c: Config = toml::from_str("[order_columns]\norder_date = \"Datum\"\n").unwrap();
        let e = Settings::from_config(c).unwrap_err().to_string();
        assert!(e.contains("[order_columns]: customer_id or email"), "{e}");
        let e = toml::from_str::<Config>("[order_columns]\norder_date = \"D\"\nemial = \"E\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("emial"), "{e}");
    }
}
