use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use churn_aws::{AwsClients, DynamoDbScoreHistory, WeekScore};
use churn_core::model::Band;

use crate::support::{clients, unique};

async fn history_table(c: &AwsClients) -> String {
    let name = unique("cp-history");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, k| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(k)
            .build()
            .unwrap()
    };
    c.dynamodb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("customer_id"))
        .attribute_definitions(attr("week"))
        .key_schema(key("customer_id", KeyType::Hash))
        .key_schema(key("week", KeyType::Range))
        .send()
        .await
        .unwrap();
    name
}

fn week(n: usize, bump: u32) -> Vec<WeekScore> {
    (0..n)
        .map(|i| WeekScore {
            customer_id: format!("C{i:03}"),
            score: (i as u32 % 90) + bump,
            band: Band::Watch,
        })
        .collect()
}

#[tokio::test]
async fn every_customers_week_is_kept_once_and_read_back_by_key() {
    let c = clients().await;
    let table = history_table(&c).await;
    let h = DynamoDbScoreHistory::new(&c, &table);
    // 60 customers: three BatchWriteItem calls; an id twice in the input keeps the last score.
    let mut w46 = week(60, 0);
    w46.push(WeekScore {
        customer_id: "C001".into(),
        score: 77,
        band: Band::AtRisk,
    });
    assert_eq!(
        h.put_week("2026-W46", "v1", 1_900_000_000, &w46)
            .await
            .unwrap(),
        60
    );
    assert_eq!(
        h.put_week("2026-W47", "v1", 1_900_000_000, &week(60, 5))
            .await
            .unwrap(),
        60
    );
    // A rerun of W47 replaces its entries.
    assert_eq!(
        h.put_week("2026-W47", "v2", 1_900_000_000, &week(60, 9))
            .await
            .unwrap(),
        60
    );
    let items = c
        .dynamodb
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(items.len(), 120);
    assert!(
        items
            .iter()
            .all(|i| i["expires_at"].as_n().unwrap() == "1900000000")
    );

    let one = h.of_customer("C001").await.unwrap();
    let got: Vec<(&str, u32, Band, &str)> = one
        .iter()
        .map(|e| (e.week.as_str(), e.score, e.band, e.rules_version.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("2026-W46", 77, Band::AtRisk, "v1"),
            ("2026-W47", 10, Band::Watch, "v2")
        ]
    );
    // Only the weeks asked for, of the customers asked for; over 100 keys in several calls.
    let ids: Vec<String> = (0..60).map(|i| format!("C{i:03}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).chain(["C999"]).collect();
    let weeks = ["2026-W47".to_string(), "2026-W45".to_string()];
    let found = h.entries(&ids, &weeks).await.unwrap();
    assert_eq!(found.len(), 60);
    assert!(
        found
            .values()
            .all(|e| e.len() == 1 && e[0].week == "2026-W47")
    );
    let both = h
        .entries(&["C002"], &["2026-W47".into(), "2026-W46".into()])
        .await
        .unwrap();
    let weeks: Vec<&str> = both["C002"].iter().map(|e| e.week.as_str()).collect();
    assert_eq!(weeks, ["2026-W46", "2026-W47"], "oldest first");
}

#[tokio::test]
async fn a_missing_table_is_an_error_not_an_empty_history() {
    let c = clients().await;
    let h = DynamoDbScoreHistory::new(&c, "cp-history-missing");
    let e = h
        .put_week("2026-W47", "v1", 0, &week(3, 0))
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(h.entries(&["C1"], &["2026-W47".into()]).await.is_err());
}
