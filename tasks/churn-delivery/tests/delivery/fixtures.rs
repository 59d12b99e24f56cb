//! Lists, breakdowns and the SDK config shared by the tests.

use aws_config::{Region, SdkConfig};
use aws_sdk_bedrockruntime::config::Credentials;
use churn_core::model::{Band, BreakdownEntry, Fact, Facts, ListItem};

/// An `SdkConfig` as the Lambda would share it, pointed at a local fake with test credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    churn_aws::sdk_defaults()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "test-secret",
            None,
            None,
            "tests",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The docs/SPEC.md §6 breakdown: late (64 days, usually 30), mood sour, `silent` with no data.
pub fn spec_breakdown() -> Vec<BreakdownEntry> {
    vec![
        BreakdownEntry {
            signal: "overdue_ratio".into(),
            points: 40,
            value: Some(Fact::Number(2.13)),
            detail: "2.1× the usual pace: 64 days since the last order, usually every 30 days"
                .into(),
            facts: Facts::Overdue {
                ratio: 64.0 / 30.0,
                days: 64,
                pace: 30.0,
            },
        },
        BreakdownEntry {
            signal: "support_mood".into(),
            points: 25,
            value: Some(Fact::Number(-0.45)),
            detail: "sour (-0.45)".into(),
            facts: Facts::Mood {
                mood: -0.45,
                label: "sour".into(),
            },
        },
        BreakdownEntry {
            signal: "silent".into(),
            points: 0,
            value: None,
            detail: "no data".into(),
            facts: Facts::NoData,
        },
    ]
}

/// A breakdown with one scored signal, `days` days since the last order.
pub fn days_breakdown(days: i64) -> Vec<BreakdownEntry> {
    vec![BreakdownEntry {
        signal: "days_since_last_order".into(),
        points: 30,
        value: Some(Fact::Number(days as f64)),
        detail: format!("{days} days since the last order"),
        facts: Facts::DaysSince { days },
    }]
}

pub fn item(i: usize, breakdown: Vec<BreakdownEntry>) -> ListItem {
    ListItem {
        customer_id: format!("CUST-{i:04}"),
        name: format!("Secretname Holdings {i}"),
        band: Band::AtRisk,
        score: 65,
        reason: "Next order is late.".into(),
        breakdown,
        lifetime_value: Some(1234.0),
        rules_version: "r1".into(),
    }
}

pub fn items(n: usize) -> Vec<ListItem> {
    (0..n).map(|i| item(i, spec_breakdown())).collect()
}
