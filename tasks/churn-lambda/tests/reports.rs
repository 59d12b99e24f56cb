//! The digest and summary Lambdas, run as their real binaries (`--invoke`: one event on stdin,
//! the result on stdout) against moto (DynamoDB, S3, Parameter Store, Secrets Manager, SES), a
//! Slack-like server (bearer token, Block Kit checks) and a Bedrock-like server (Converse).

use churn_test_support::moto as support;
use churn_test_support::{bedrock_server, slack_server};

use std::io::Write;
use std::process::{Command, Stdio};

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_ssm::types::ParameterType;
use churn_aws::{AwsClients, DynamoDbStateStore, ScoreChanges, ScoreWrite, TableNames};
use churn_core::model::Band;
use churn_core::outcome::state::{
    Change, CustomerState, LostReason, Outcome, apply_outcome, reactivate,
};
use jiff::civil::date;
use serde_json::{Value, json};

use bedrock_server::{BedrockServer, Mode};
use slack_server::SlackServer;
use support::{REGION, clients, create_tables, endpoint, moto_data, unique};

const TOKEN: &str = "xoxb-test-digest-token";
const CHANNEL: &str = "C0DIGEST";

const LIST: &str = "customer_id,name,owner,email,last_order_date\n\
C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-09-01\n\
C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-09-10\n\
C3,Copper Deli,alex@shop.example,c3@cust.example,2026-10-01\n\
C5,Cedar Salon,alex@shop.example,c5@cust.example,2026-11-25\n\
C7,Birch & Co <Ltd>,sam@shop.example,c7@cust.example,2026-11-20\n";

/// One deployment's worth of AWS resources in moto, with unique names.
struct Env {
    clients: AwsClients,
    tables: TableNames,
    list_bucket: String,
    config_path: String,
    token_secret: String,
    sender: String,
}

async fn env(recipients: &str) -> Env {
    let clients = clients().await;
    let tables = create_tables(&clients).await;
    let list_bucket = unique("cp-list");
    clients
        .s3
        .create_bucket()
        .bucket(&list_bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
    clients
        .s3
        .put_object()
        .bucket(&list_bucket)
        .key("customers.csv")
        .body(LIST.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let config_path = format!("/{}/config/", unique("cp"));
    let sender = format!("{}@shop.example", unique("churn"));
    for (k, v) in [
        ("timezone", "Asia/Singapore"),
        ("fallback_owner", "ops@shop.example"),
        ("sender", sender.as_str()),
        (
            "model_id",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("outcome_url", "https://outcomes.example/"),
        ("digest_channel", CHANNEL),
        ("summary_recipients", recipients),
    ] {
        clients
            .ssm
            .put_parameter()
            .name(format!("{config_path}{k}"))
            .value(v)
            .r#type(ParameterType::String)
            .send()
            .await
            .unwrap();
    }
    let token_secret = unique("cp/slack/bot-token");
    clients
        .secretsmanager
        .create_secret()
        .name(&token_secret)
        .secret_string(TOKEN)
        .send()
        .await
        .unwrap();
    clients
        .sesv2
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    Env {
        clients,
        tables,
        list_bucket,
        config_path,
        token_secret,
        sender,
    }
}

/// The fixture, written by the real store: C7 in the watch band (a plain score item), C1 in the
/// watch band but lost, C2 at-risk; October's outcomes (the summary's month); last week's and
/// this week's outcomes (Singapore); C5 lost in November and back on their own this week.
async fn fixture(e: &Env) {
    let store = DynamoDbStateStore::new(&e.clients, &e.tables);
    let w = |id: &str, score: u32, band: Band| ScoreWrite {
        customer_id: id.into(),
        score,
        band,
        owner: "alex@shop.example".into(),
    };
    store
        .write_scores(
            &ScoreChanges {
                puts: vec![
                    w("C7", 30, Band::Watch),
                    w("C1", 35, Band::Watch),
                    w("C2", 60, Band::AtRisk),
                ],
                updates: vec![],
                unchanged: 0,
            },
            "2026-10-05T00:05:00.000000000Z",
        )
        .await
        .unwrap();
    let lost = |reason| Outcome::Lost { reason, note: None };
    let fresh = CustomerState::new;
    let c5_lost = apply_outcome(&fresh("C5"), &lost(LostReason::Closed), date(2026, 11, 5));
    let writes: Vec<(Change, &str)> = vec![
        // October: C1 lost (price), C3 won back (900).
        (
            apply_outcome(&fresh("C1"), &lost(LostReason::Price), date(2026, 10, 14)),
            "2026-10-14T02:00:00.000000000Z",
        ),
        (
            apply_outcome(
                &fresh("C3"),
                &Outcome::WonBack { value: Some(900.0) },
                date(2026, 10, 20),
            ),
            "2026-10-20T02:00:00.000000000Z",
        ),
        (c5_lost.clone(), "2026-11-05T02:00:00.000000000Z"),
        // Last week (Friday 20 Nov, Singapore).
        (
            apply_outcome(&fresh("C3"), &Outcome::ReachedOut, date(2026, 11, 20)),
            "2026-11-20T03:00:00.000000000Z",
        ),
        // This week.
        (
            apply_outcome(
                &fresh("C2"),
                &Outcome::WonBack {
                    value: Some(1200.0),
                },
                date(2026, 11, 24),
            ),
            "2026-11-24T02:00:00.000000000Z",
        ),
        (
            reactivate(&c5_lost.state, date(2026, 11, 25)),
            "2026-11-26T02:00:00.000000000Z",
        ),
    ];
    for (change, ts) in writes {
        store.apply(&change, "sam", ts).await.unwrap();
    }
}

/// Runs a task binary with `event` on stdin and the deployment's environment; checks every log
/// line is JSON without personal data; returns (success, stdout JSON).
async fn invoke(
    bin: &'static str,
    e: &Env,
    event: Value,
    extra: Vec<(&'static str, String)>,
) -> (bool, Value) {
    let envs: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("S3_FORCE_PATH_STYLE", "true".into()),
        ("STATE_TABLE", e.tables.state.clone()),
        ("AUDIT_TABLE", e.tables.audit.clone()),
        ("RUNS_TABLE", e.tables.runs.clone()),
        ("LIST_BUCKET", e.list_bucket.clone()),
        ("RULES_BUCKET", "unused-rules".into()),
        ("RUNS_BUCKET", "unused-runs".into()),
        ("CONFIG_PATH", e.config_path.clone()),
        ("SLACK_TOKEN_SECRET", e.token_secret.clone()),
        ("RUST_LOG", "info".into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(bin)
            .arg("--invoke")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(envs.into_iter().chain(extra))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the task binary runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let log = serde_json::from_str::<Value>(line)
            .unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        // An invocation's lines carry its request id and cold start at the top level (the
        // one event of an `--invoke` process is its first).
        let target = log["target"].as_str().unwrap_or_default();
        if target.starts_with("churn_lambda::digest") || target.starts_with("churn_lambda::summary")
        {
            assert_eq!(log["request_id"], "local", "{line}");
            assert_eq!(log["cold_start"], true, "{line}");
        }
        for private in ["Harbor", "Maple", "Birch", "@cust.example", TOKEN] {
            assert!(!line.contains(private), "{private} in a log line: {line}");
        }
    }
    let v = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("stdout is not JSON: {stdout}\nstderr: {stderr}"));
    (out.status.success(), v)
}

/// A `cp-orders` table (customer id + order id), as the template makes it.
async fn orders_table(e: &Env) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let name = unique("cp-orders");
    let mut create = e
        .clients
        .dynamodb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attr, kind) in [("customer_id", KeyType::Hash), ("order_id", KeyType::Range)] {
        create = create
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(attr)
                    .key_type(kind)
                    .build()
                    .unwrap(),
            );
    }
    create.send().await.unwrap();
    name
}

fn digest_bin() -> &'static str {
    env!("CARGO_BIN_EXE_churn-digest")
}

fn summary_bin() -> &'static str {
    env!("CARGO_BIN_EXE_churn-summary")
}

fn all_text(body: &Value) -> String {
    body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_posts_this_weeks_table_to_the_channel_with_the_bot_token() {
    let e = env("boss@shop.example").await;
    fixture(&e).await;
    let slack = SlackServer::start(TOKEN).await;
    slack.add_channel(CHANNEL);
    // Friday 27 Nov 16:00 Singapore, as the Scheduler passes it.
    let (ok, out) = invoke(
        digest_bin(),
        &e,
        json!({"as_of": "2026-11-27T08:00:00Z"}),
        vec![("SLACK_API_URL", slack.base_url.clone())],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out["week"], "2026-W48");
    assert_eq!(
        (
            out["watch"].as_u64(),
            out["outcomes"].as_u64(),
            out["came_back"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{out}"
    );
    assert_eq!(out["posted"].as_array().unwrap().len(), 1);

    let calls = slack.received_for("chat.postMessage");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let posted = slack.posted();
    assert_eq!(posted[0]["channel"], CHANNEL);
    let text = all_text(&posted[0]);
    assert!(
        text.contains("Birch &amp; Co &lt;Ltd&gt;"),
        "watch band by name: {text}"
    );
    assert!(
        !text.contains("Harbor Bakery"),
        "a lost customer is not on watch: {text}"
    );
    assert!(
        text.contains("Maple Cafe") && text.contains("value 1,200"),
        "{text}"
    );
    assert!(
        !text.contains("Copper Deli"),
        "last week's outcome is not this week's: {text}"
    );
    assert!(
        text.contains("Cedar Salon"),
        "came back on their own: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_errors_have_stable_types_and_an_empty_week_says_so() {
    let e = env("boss@shop.example").await;
    let wrong = SlackServer::start("xoxb-another-token").await;
    wrong.add_channel(CHANNEL);
    let (ok, out) = invoke(
        digest_bin(),
        &e,
        json!({"as_of": "2026-11-27"}),
        vec![("SLACK_API_URL", wrong.base_url.clone())],
    )
    .await;
    assert!(!ok);
    assert_eq!(out["errorType"], "churn.Config", "{out}");
    assert!(!out["errorMessage"].as_str().unwrap().contains(TOKEN));

    let slack = SlackServer::start(TOKEN).await;
    slack.add_channel(CHANNEL);
    let (ok, out) = invoke(
        digest_bin(),
        &e,
        json!({"as_of": "2026-11-27"}),
        vec![("SLACK_API_URL", slack.base_url.clone())],
    )
    .await;
    assert!(ok, "{out}");
    assert!(all_text(&slack.posted()[0]).contains("A quiet week"));

    for bad in [json!({"as_of": "Friday"}), json!({"asof": "2026-11-27"})] {
        let (ok, out) = invoke(digest_bin(), &e, bad, vec![]).await;
        assert!(!ok);
        assert_eq!(out["errorType"], "churn.BadInput", "{out}");
    }
}

/// Messages moto's SES holds from `from`.
async fn sent_from(from: &str) -> Vec<Value> {
    moto_data().await["ses"]["Message"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["source"] == from).cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_emails_last_months_counts_with_a_checked_narrative() {
    let e = env("boss@shop.example, finance@shop.example").await;
    fixture(&e).await;
    let good = "October 2026: owners won back 1 customer worth 900 and lost 1, to price.";
    let bedrock = BedrockServer::start(Mode::Reply(good)).await;
    // The first Monday of November 2026, 09:00 Singapore.
    let (ok, out) = invoke(
        summary_bin(),
        &e,
        json!({"as_of": "2026-11-02T01:00:00Z"}),
        vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url.clone())],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out["month"], "2026-10");
    assert_eq!(out["counts"]["won_back"], 1);
    assert_eq!(out["counts"]["recovered_value"], 900.0);
    assert_eq!(out["counts"]["lost"], 1);
    assert_eq!(out["paragraph_source"]["source"], "model", "{out}");
    assert_eq!(out["recipients"], 2);
    let seen = bedrock.seen();
    assert_eq!(seen.len(), 1);
    let sent_to_model = seen[0].body.to_string();
    for private in ["C1", "C3", "Harbor", "@", "sam"] {
        assert!(
            !sent_to_model.contains(private),
            "{private} reached the model"
        );
    }
    let mail = sent_from(&e.sender).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0]["subject"], "Churn summary for 2026-10");
    assert_eq!(mail[0]["id"], out["message_id"]);
    assert!(
        mail[0]["body"].as_str().unwrap().contains(good),
        "moto keeps the HTML part"
    );
    assert_eq!(
        mail[0]["destinations"]["ToAddresses"],
        json!(["boss@shop.example", "finance@shop.example"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_uses_the_template_when_the_model_gets_a_number_wrong_or_throttles() {
    let e = env("boss@shop.example").await;
    fixture(&e).await;
    for mode in [
        Mode::Reply("October 2026: owners won back 3 customers."),
        Mode::Throttle,
    ] {
        let bedrock = BedrockServer::start(mode).await;
        let (ok, out) = invoke(
            summary_bin(),
            &e,
            json!({"month": "2026-10"}),
            vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url.clone())],
        )
        .await;
        assert!(ok, "{out}");
        assert_eq!(out["paragraph_source"]["source"], "fallback", "{out}");
        assert!(!bedrock.seen().is_empty(), "the model was asked");
    }
    let mail = sent_from(&e.sender).await;
    assert_eq!(mail.len(), 2);
    for m in &mail {
        let body = m["body"].as_str().unwrap();
        assert!(
            body.contains("In 2026-10, the Monday lists flagged 0 customers"),
            "{body}"
        );
        assert!(!body.contains("won back 3"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_refuses_a_customer_recipient_and_bad_months() {
    let e = env("boss@shop.example, C7@Cust.example").await;
    let template = || vec![("NARRATIVE", "template".to_string())];
    let (ok, out) = invoke(summary_bin(), &e, json!({"month": "2026-10"}), template()).await;
    assert!(!ok);
    assert_eq!(out["errorType"], "churn.Refused", "{out}");
    assert!(
        !out["errorMessage"]
            .as_str()
            .unwrap()
            .contains("cust.example")
    );
    assert!(sent_from(&e.sender).await.is_empty(), "nothing reached SES");
    let (ok, out) = invoke(summary_bin(), &e, json!({"month": "October"}), template()).await;
    assert!(!ok);
    assert_eq!(out["errorType"], "churn.BadInput");
}

/// docs/SPEC.md §3, §9: once anyone was held out, the summary compares listed and held-out
/// customers' come-back (orders from `cp-orders`), in its output and its email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_compares_listed_and_held_out_customers_when_there_is_a_holdout() {
    use churn_core::ingest::order_import::{HistOrder, HistoryDiff};
    use churn_core::model::ListItem;
    use churn_core::run::holdout::HeldOut;
    let e = env("boss@shop.example").await;
    let orders = orders_table(&e).await;
    let store = DynamoDbStateStore::new(&e.clients, &e.tables);
    let as_of = date(2026, 11, 23);
    let listed: Vec<ListItem> = (0..60)
        .map(|i| ListItem {
            customer_id: format!("S{i:02}"),
            name: format!("Listed {i}"),
            band: Band::Churning,
            score: 80,
            reason: "late".into(),
            breakdown: Vec::new(),
            lifetime_value: None,
            rules_version: "rv1".into(),
        })
        .collect();
    let held: Vec<HeldOut> = (0..60)
        .map(|i| HeldOut {
            customer_id: format!("H{i:02}"),
            band: Band::Churning,
            score: 80,
        })
        .collect();
    let mut clock = churn_aws::AuditClock::default();
    store
        .record_surfaced(
            "2026-W48",
            "alex@shop.example",
            "slack",
            as_of,
            &listed,
            "churn",
            &mut clock,
        )
        .await
        .unwrap();
    store
        .record_held_out("2026-W48", as_of, "rv1", &held, "churn", &mut clock)
        .await
        .unwrap();
    // 36 of 60 listed come back, 12 of 60 held out; one more orders only after the horizon.
    let order = |d| HistoryDiff {
        put: vec![HistOrder {
            order_id: "O1".into(),
            date: d,
            amount: Some(50.0),
        }],
        delete: Vec::new(),
    };
    let mut history = std::collections::BTreeMap::new();
    for i in 0..36 {
        history.insert(format!("S{i:02}"), order(date(2026, 12, 1)));
    }
    for i in 0..12 {
        history.insert(format!("H{i:02}"), order(date(2026, 12, 1)));
    }
    history.insert("H59".into(), order(date(2027, 3, 1)));
    churn_aws::DynamoDbOrderHistory::new(&e.clients.dynamodb, &orders, &e.tables.audit)
        .apply(&history)
        .await
        .unwrap();

    let template = vec![
        ("NARRATIVE", "template".to_string()),
        ("ORDERS_TABLE", orders.clone()),
    ];
    let (ok, out) = invoke(summary_bin(), &e, json!({"month": "2027-03"}), template).await;
    assert!(ok, "{out}");
    let u = &out["uplift"];
    assert_eq!(u["surfaced"]["customers"], 60, "{out}");
    assert_eq!(u["surfaced"]["came_back"], 36);
    assert_eq!(u["held_out"]["came_back"], 12);
    assert_eq!(u["verdict"], "helps");
    let line = u["summary"].as_str().unwrap();
    assert!(line.contains("+40 points"), "{line}");
    let mail = sent_from(&e.sender).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0]["body"]
            .as_str()
            .unwrap()
            .contains("Outreach effect: the lists help")
    );
    // Without the order history configured the line is left out, not guessed.
    let (ok, out) = invoke(
        summary_bin(),
        &e,
        json!({"month": "2027-03", "dry_run": true}),
        vec![("NARRATIVE", "template".to_string())],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.get("uplift").is_none(), "{out}");
}

/// Issue 13: the monthly summary's evidence line on AWS is the laptop's, computed from the order
/// history kept in `cp-orders`, the rules in force and the list mirror.
#[tokio::test]
async fn summary_carries_the_backtest_evidence_from_the_kept_orders() {
    use churn_core::ingest::order_import::{HistOrder, HistoryDiff};
    use churn_core::ingest::orders::{CustomerKey, Order};
    let e = env("boss@shop.example").await;
    let orders_table = orders_table(&e).await;
    // 40 customers: D00–D19 order every week of 2026, D20–D39 stop at the end of March.
    let mut list = String::from("customer_id,name,owner,email\n");
    let mut history = std::collections::BTreeMap::new();
    let mut orders = Vec::new();
    for c in 0..40 {
        let id = format!("D{c:02}");
        list.push_str(&format!(
            "{id},Shop {c},alex@shop.example,{id}@cust.example\n"
        ));
        let weeks = if c < 20 { 48 } else { 12 };
        let put: Vec<HistOrder> = (0..weeks)
            .map(|k| HistOrder {
                order_id: format!("O{k}"),
                date: date(2026, 1, 5) + jiff::Span::new().days(7 * k + (c % 5)),
                amount: Some(20.0),
            })
            .collect();
        for o in &put {
            orders.push(Order {
                order_id: None,
                customer_key: CustomerKey::Id(id.clone()),
                date: o.date,
                amount: o.amount,
            });
        }
        history.insert(
            id,
            HistoryDiff {
                put,
                delete: Vec::new(),
            },
        );
    }
    churn_aws::DynamoDbOrderHistory::new(&e.clients.dynamodb, &orders_table, &e.tables.audit)
        .apply(&history)
        .await
        .unwrap();
    let rules_text = "signal silent\n  measure: days_since_last_order\n  at least 14: 60 points\n\
                      band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";
    let rules_bucket = unique("cp-rules");
    e.clients
        .s3
        .create_bucket()
        .bucket(&rules_bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (bucket, key, body) in [
        (&rules_bucket, "rules.txt", rules_text.to_string()),
        (&e.list_bucket, "customers.csv", list.clone()),
    ] {
        e.clients
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    let extra = vec![
        ("NARRATIVE", "template".to_string()),
        ("ORDERS_TABLE", orders_table.clone()),
        ("RULES_BUCKET", rules_bucket.clone()),
    ];
    let (ok, out) = invoke(
        summary_bin(),
        &e,
        json!({"month": "2026-11", "dry_run": true}),
        extra,
    )
    .await;
    assert!(ok, "{out}");
    let line = out["evidence"].as_str().expect("an evidence line");
    assert!(line.starts_with("Evidence: over the 13 Mondays"), "{line}");
    // The laptop's line on the same orders, rules and list.
    let rules = churn_core::rules::parse_rules(rules_text).unwrap();
    let (customers, _) = churn_core::reports::backtest::read_list(
        list.as_bytes(),
        churn_core::list::customers::ReadOptions::default(),
        &rules,
    )
    .unwrap();
    let laptop =
        churn_core::reports::summary::quarter_evidence(&orders, Some(&customers), &rules).unwrap();
    assert_eq!(line, laptop);
    // No order table configured: no line, and the summary still goes.
    let (ok, out) = invoke(
        summary_bin(),
        &e,
        json!({"month": "2026-11", "dry_run": true}),
        vec![("NARRATIVE", "template".to_string())],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.get("evidence").is_none(), "{out}");
}
