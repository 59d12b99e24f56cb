//! drive-sync and order-import handlers against moto (S3, DynamoDB, Secrets Manager, SES) and
//! the Google-like server of the churn-google tests.

use churn_test_support::google_server as server;
use churn_test_support::moto as support;

use churn_aws::{AwsClients, S3ObjectStore, SsmConfig};
use churn_google::Endpoints;
use churn_lambda::drive_sync::{SyncApp, SyncEnv, handle};
use serde_json::{Value, json};
use server::{CLIENT_EMAIL, DOC_MIME, FakeFile, SHEET_MIME, SPREADSHEET};
use support::{clients, moto_data, unique};

const RULES_OK: &str = "signal silent\n  measure: days_since_last_order\n  at least 90: 30 points\n\nband churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";
const RULES_BAD: &str = "signal silent\n  measure: days_since_last_order\n  at least ninety: 30 points\n\nband churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";
const SHEET: &str = "customer_id,name,owner,email,last_order_date,order_count\r\nC1,Harbor,alex@shop.example,orders@harbor.example,,\r\nC2,Kettle,sam@shop.example,kettle@cafe.example,2026-01-01,2\r\n";

struct World {
    fake: server::Fake,
    app: SyncApp,
    clients: AwsClients,
    list: String,
    rules: String,
    sender: String,
}

fn file(name: &str, mime: &str, version: u64, content: &str) -> FakeFile {
    FakeFile {
        name: name.into(),
        mime: mime.into(),
        version,
        modified: "2026-11-27T09:00:00.000Z".into(),
        content: content.as_bytes().to_vec(),
    }
}

async fn bucket(c: &AwsClients, name: &str) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    c.s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(support::REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn world() -> World {
    world_with(&[]).await
}

/// A world whose Parameter Store config also holds `extra` (optional parameters).
async fn world_with(extra: &[(&str, &str)]) -> World {
    let fake = server::start().await;
    fake.with(|s| {
        s.files
            .insert(SPREADSHEET.into(), file("Customers", SHEET_MIME, 10, SHEET));
        s.files
            .insert("rulesdoc".into(), file("Rules", DOC_MIME, 3, RULES_OK));
        s.files.insert(
            "voicedoc".into(),
            file("Voice", DOC_MIME, 5, "warm, direct"),
        );
    });
    let clients = clients().await;
    let list = unique("cp-list-source");
    let rules = unique("cp-rules-source");
    for b in [&list, &rules] {
        bucket(&clients, b).await;
    }
    let secret = unique("cp/drive/sa");
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../churn-google/tests/data/TEST-ONLY-service-account-key.pem"
    ))
    .unwrap();
    let key = json!({"type": "service_account", "client_email": CLIENT_EMAIL, "private_key": pem,
        "private_key_id": "k1", "token_uri": format!("{}/token", fake.url())});
    clients
        .secretsmanager
        .create_secret()
        .name(&secret)
        .secret_string(key.to_string())
        .send()
        .await
        .unwrap();
    let sender = format!("{}@shop.example", unique("churn"));
    clients
        .sesv2
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    let pairs: Vec<(String, String)> = [
        ("timezone", "Asia/Singapore"),
        ("fallback_owner", "admin@shop.example"),
        ("sender", sender.as_str()),
        (
            "model_id",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        (
            "outcome_url",
            "https://example.lambda-url.ap-southeast-1.on.aws/",
        ),
        ("digest_channel", "C0DIGEST"),
        ("summary_recipients", "admin@shop.example"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let env = SyncEnv {
        list_bucket: list.clone(),
        rules_bucket: rules.clone(),
        sheet_id: SPREADSHEET.into(),
        rules_doc_id: "rulesdoc".into(),
        voice_doc_id: "voicedoc".into(),
        google_secret: secret,
        endpoints: Endpoints {
            drive: fake.url(),
            sheets: fake.url(),
        },
        config_path: "/cp/config/".into(),
    };
    let app = SyncApp::new(env, clients.clone())
        .with_config(SsmConfig::from_pairs("/cp/config/", &pairs).unwrap());
    World {
        fake,
        app,
        clients,
        list,
        rules,
        sender,
    }
}

/// (subject, text) of the emails moto holds from `from`.
async fn sent(from: &str) -> Vec<(String, String)> {
    let data = moto_data().await;
    data["ses"]["Message"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["source"] == from)
                .map(|m| {
                    (
                        m["subject"].as_str().unwrap_or("").to_string(),
                        m["body"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn meta(w: &World, bucket: &str, key: &str) -> String {
    S3ObjectStore::new(&w.clients)
        .metadata(bucket, key)
        .await
        .unwrap()
        .get("source-version")
        .cloned()
        .unwrap_or_default()
}

async fn text(w: &World, bucket: &str, key: &str) -> String {
    S3ObjectStore::new(&w.clients)
        .get_text(bucket, key)
        .await
        .unwrap()
        .text
}

#[tokio::test]
async fn drive_sync_exports_only_what_changed_and_refuses_bad_rules_once() {
    let w = world().await;
    // First sync: everything is new.
    let out = handle(&w.app, json!({})).await.unwrap();
    assert_eq!(
        (out.sheet.as_str(), out.rules.as_str(), out.voice.as_str()),
        ("mirrored", "published", "mirrored")
    );
    assert_eq!(text(&w, &w.list, "customers.csv").await, SHEET);
    assert_eq!(meta(&w, &w.list, "customers.csv").await, "10");
    let report: Value =
        serde_json::from_str(&text(&w, &w.list, "customers.report.json").await).unwrap();
    assert_eq!(
        (
            report["ok"].as_bool(),
            report["good"].as_u64(),
            report["source_version"].as_str()
        ),
        (Some(true), Some(2), Some("10"))
    );
    assert_eq!(text(&w, &w.rules, "rules.txt").await, RULES_OK);
    assert_eq!(meta(&w, &w.rules, "rules.txt").await, "3");
    assert_eq!(meta(&w, &w.rules, "voice.txt").await, "5");
    let mails = sent(&w.sender).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].0.starts_with("Churn rules updated"), "{mails:?}");
    assert_eq!(
        w.fake.count("GET /drive/v3/files/"),
        6,
        "3 files.get + 3 exports"
    );

    // Nothing changed: three files.get, no export, no write, no mail.
    let out = handle(&w.app, json!({})).await.unwrap();
    assert_eq!(
        (out.sheet.as_str(), out.rules.as_str(), out.voice.as_str()),
        ("unchanged", "unchanged", "unchanged")
    );
    assert_eq!(w.fake.count("GET /drive/v3/files/"), 9);
    assert_eq!(
        w.fake
            .with(|s| s.log.iter().filter(|l| l.ends_with("/export")).count()),
        3
    );

    // A bad rules edit (version 4): not published, the admin told once with the line number.
    w.fake.with(|s| {
        let f = s.files.get_mut("rulesdoc").unwrap();
        f.version = 4;
        f.content = RULES_BAD.as_bytes().to_vec();
    });
    let out = handle(&w.app, json!({})).await.unwrap();
    assert_eq!(out.rules, "refused");
    assert_eq!(
        text(&w, &w.rules, "rules.txt").await,
        RULES_OK,
        "the last good rules stay"
    );
    let mails = sent(&w.sender).await;
    assert_eq!(mails.len(), 2);
    assert!(mails[1].0.contains("not published"), "{mails:?}");
    assert!(mails[1].1.contains("line 3"), "{mails:?}");
    let out = handle(&w.app, json!({})).await.unwrap();
    assert_eq!(out.rules, "unchanged");
    assert_eq!(
        sent(&w.sender).await.len(),
        2,
        "one notice per bad version, over two syncs"
    );

    // Fixed (version 5) with a changed weight: published, and the admin told what changed.
    w.fake.with(|s| {
        let f = s.files.get_mut("rulesdoc").unwrap();
        f.version = 5;
        f.content = RULES_OK.replace("30 points", "40 points").into_bytes();
    });
    assert_eq!(handle(&w.app, json!({})).await.unwrap().rules, "published");
    assert_eq!(meta(&w, &w.rules, "rules.txt").await, "5");
    let mails = sent(&w.sender).await;
    assert!(mails[2].1.contains("signal changed: silent"), "{mails:?}");

    // The sheet's first tab is something else now: mirrored with a report that says so.
    w.fake.with(|s| {
        let f = s.files.get_mut(SPREADSHEET).unwrap();
        f.version = 11;
        f.content = b"month,revenue\r\n2026-10,1200\r\n".to_vec();
    });
    let out = handle(&w.app, json!({})).await.unwrap();
    assert_eq!(out.sheet, "mirrored_with_problems");
    let report: Value =
        serde_json::from_str(&text(&w, &w.list, "customers.report.json").await).unwrap();
    assert_eq!(report["not_first_tab"], true);
    assert!(report["error"].as_str().unwrap().contains("first tab"));
    let mails = sent(&w.sender).await;
    assert!(mails.last().unwrap().0.contains("not on the first tab"));
    // Only one token for all those calls (cached).
    assert_eq!(w.fake.with(|s| s.token_requests), 1);
}

#[tokio::test]
async fn drive_sync_google_outage_is_retryable_and_writes_nothing() {
    let w = world().await;
    for _ in 0..4 {
        w.fake.force(503, "backendError", Some("0"));
    }
    let e = handle(&w.app, json!({})).await.unwrap_err();
    assert_eq!(e.kind, "churn.Retryable", "{e:?}");
    let r = S3ObjectStore::new(&w.clients)
        .get_text(&w.list, "customers.csv")
        .await;
    assert!(r.is_err(), "nothing mirrored");
    // A 403 (not shared with the service account) is a configuration error, not retried.
    w.fake.force(403, "insufficientFilePermissions", None);
    let e = handle(&w.app, json!({})).await.unwrap_err();
    assert_eq!(e.kind, "churn.Config");
    assert!(e.message.contains("share the file"));
}

#[tokio::test]
async fn drive_sync_refuses_a_notice_to_an_admin_a_customer_cell_names() {
    // docs/SPEC.md §1: the admin (`admin@shop.example`) is in a customer's cell behind a display
    // name, a `+tag` and another address: the rules notice is refused, nothing reaches SES.
    let w = world().await;
    let sheet = SHEET.replace(
        "orders@harbor.example",
        "\"Harbor <orders@harbor.example>; Admin Team <ADMIN+sheets@Shop.example>\"",
    );
    w.fake.with(|s| {
        s.files.get_mut(SPREADSHEET).unwrap().content = sheet.clone().into_bytes();
    });
    let e = handle(&w.app, json!({})).await.unwrap_err();
    assert_eq!(e.kind, "churn.Refused", "{e:?}");
    assert!(!e.message.contains("admin@"), "{e:?}");
    assert!(sent(&w.sender).await.is_empty(), "nothing reached SES");
}

async fn orders_tables(c: &AwsClients) -> (String, String) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let orders = unique("cp-orders");
    let audit = unique("cp-audit");
    for (name, hash, range) in [
        (&orders, "customer_id", "order_id"),
        (&audit, "customer_id", "ts"),
    ] {
        c.dynamodb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(hash)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(range)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(hash)
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(range)
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    (orders, audit)
}

fn s3_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "ap-southeast-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key, "size": 100}}}]})
}

async fn count(c: &AwsClients, table: &str) -> usize {
    c.dynamodb
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items()
        .len()
}

#[tokio::test]
async fn order_import_writes_changed_cells_once_by_customer_id() {
    let w = world().await;
    let (orders, audit) = orders_tables(&w.clients).await;
    let feed = unique("cp-order-feed");
    bucket(&w.clients, &feed).await;
    let export = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/orders/shopify_orders_full.csv"
    ))
    .unwrap();
    let key = "exports/2026-11-27 orders.csv";
    w.clients
        .s3
        .put_object()
        .bucket(&feed)
        .key(key)
        .body(export.into())
        .send()
        .await
        .unwrap();
    w.fake.with(|s| {
        s.sheet = vec![
            vec![
                "customer_id".into(),
                "name".into(),
                "email".into(),
                "last_order_date".into(),
                "order_count".into(),
                "order_pace_days".into(),
            ],
            vec![
                "C2".into(),
                "Kettle".into(),
                "kettle@cafe.example".into(),
                "15/12/2025".into(),
                "4".into(),
                "21".into(),
            ],
            vec![
                "C1".into(),
                "Harbor".into(),
                "Orders@HarborBakery.example".into(),
            ],
        ];
    });
    // The key arrives URL-encoded, as S3 sends it.
    let event = s3_event(&feed, "exports/2026-11-27+orders.csv");
    let out = churn_lambda::order_import::handle(&w.app, &orders, &audit, event.clone())
        .await
        .unwrap();
    assert_eq!(out[0].customers_changed, 2);
    assert_eq!(out[0].unknown_customers, 1);
    let body = w.fake.with(|s| s.batch_updates.clone());
    assert_eq!(body.len(), 1, "one batchUpdate");
    assert_eq!(body[0]["valueInputOption"], "RAW");
    w.fake.with(|s| {
        assert_eq!(s.sheet[1][3..], ["2026-02-20", "2", "45"]);
        assert_eq!(s.sheet[2][3..], ["2026-02-02", "3", "14"]);
    });
    assert_eq!(count(&w.clients, &orders).await, 5);
    assert_eq!(count(&w.clients, &audit).await, 2);

    // Someone sorts the sheet; the same file again changes nothing.
    w.fake.with(|s| s.sheet.swap(1, 2));
    let out = churn_lambda::order_import::handle(&w.app, &orders, &audit, event)
        .await
        .unwrap();
    assert_eq!(out[0].customers_changed, 0);
    assert_eq!(
        w.fake.with(|s| s.batch_updates.len()),
        1,
        "no second batchUpdate"
    );
    assert_eq!(count(&w.clients, &audit).await, 2);

    // Sheets throttles: retried, then done.
    w.clients
        .s3
        .put_object()
        .bucket(&feed)
        .key("inc.csv")
        .body(
            std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/data/orders/shopify_orders_incremental.csv"
            ))
            .unwrap()
            .into(),
        )
        .send()
        .await
        .unwrap();
    w.fake.force(429, "rateLimitExceeded", Some("0"));
    let out =
        churn_lambda::order_import::handle(&w.app, &orders, &audit, s3_event(&feed, "inc.csv"))
            .await
            .unwrap();
    assert_eq!(out[0].history_deleted, 1);
    w.fake.with(|s| assert_eq!(s.sheet[1][3], "2026-03-02"));

    // Not an S3 event: a clear bad-input error.
    let e = churn_lambda::order_import::handle(&w.app, &orders, &audit, json!({"hello": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, "churn.BadInput");
}

#[tokio::test]
async fn order_import_reads_another_export_through_the_configured_mapping() {
    let w = world_with(&[
        ("date_order", "month-first"),
        (
            "order_columns",
            "order_date=Sale Date; email=Buyer E-mail; order_id=Receipt #; status=State; ignore_statuses=voided by clerk",
        ),
    ])
    .await;
    let (orders, audit) = orders_tables(&w.clients).await;
    let feed = unique("cp-order-feed");
    bucket(&w.clients, &feed).await;
    let export = "Receipt #,Sale Date,Buyer E-mail,Total,State\n\
R-1,03/02/2026,kettle@cafe.example,9.50,complete\n\
R-2,03/16/2026,KETTLE@cafe.example,4.00,complete\n\
R-3,03/20/2026,kettle@cafe.example,4.00,voided by clerk\n";
    w.clients
        .s3
        .put_object()
        .bucket(&feed)
        .key("till.csv")
        .body(export.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    w.fake.with(|s| {
        s.sheet = vec![
            vec![
                "customer_id".into(),
                "email".into(),
                "last_order_date".into(),
                "order_count".into(),
            ],
            vec![
                "C2".into(),
                "kettle@cafe.example".into(),
                "".into(),
                "".into(),
            ],
        ];
    });
    let out =
        churn_lambda::order_import::handle(&w.app, &orders, &audit, s3_event(&feed, "till.csv"))
            .await
            .unwrap();
    assert_eq!((out[0].orders, out[0].ignored_orders), (2, 1));
    // Month-first: 16 March, not a date in the 3rd month of 2027.
    w.fake
        .with(|s| assert_eq!(s.sheet[1][2..], ["2026-03-16", "2"]));

    // Without the mapping the same file is refused as bad input, and nothing is written.
    let plain = world().await;
    let e = churn_lambda::order_import::handle(
        &plain.app,
        &orders,
        &audit,
        s3_event(&feed, "till.csv"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, "churn.BadInput");
    assert!(e.to_string().contains("Found: Receipt #, Sale Date"), "{e}");
    assert!(plain.fake.with(|s| s.batch_updates.is_empty()));
}
