//! "Customers are never contacted" (docs/SPEC.md §1) in the senders outside the Monday lists: the
//! admin notice (the handoff binary's `{"notice": …}`) and the monthly summary, run as their real
//! binaries against moto. A recipient is refused when any canonical address of any `email` cell
//! names it (display name, several addresses, case, `+tag`), and a sender that cannot read the
//! list refuses instead of sending unchecked.

use churn_test_support::moto as support;

use std::io::Write;
use std::process::{Command, Stdio};

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_ssm::types::ParameterType;
use churn_aws::TableNames;
use serde_json::{Value, json};

use support::{REGION, clients, create_tables, endpoint, moto_data, unique};

const ADMIN: &str = "ops@shop.example";
const BOSS: &str = "boss@shop.example";

struct Env {
    tables: TableNames,
    list_bucket: String,
    config_path: String,
    sender: String,
}

/// A deployment with `list` as the list mirror (`None`: no mirror at all).
async fn env(list: Option<&str>) -> Env {
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
    if let Some(list) = list {
        clients
            .s3
            .put_object()
            .bucket(&list_bucket)
            .key("customers.csv")
            .body(list.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let config_path = format!("/{}/config/", unique("cp"));
    let sender = format!("{}@shop.example", unique("churn"));
    for (k, v) in [
        ("timezone", "Asia/Singapore"),
        ("fallback_owner", ADMIN),
        ("sender", sender.as_str()),
        (
            "model_id",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("outcome_url", "https://outcomes.example/"),
        ("digest_channel", "C0DIGEST"),
        ("summary_recipients", BOSS),
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
    clients
        .sesv2
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    Env {
        tables,
        list_bucket,
        config_path,
        sender,
    }
}

/// Runs a task binary with `event` on stdin; checks that no log line names a customer address;
/// returns (success, stdout JSON).
async fn invoke(bin: &'static str, e: &Env, event: Value) -> (bool, Value) {
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
        ("RULES_BUCKET", unique("no-rules")),
        ("RUNS_BUCKET", "unused-runs".into()),
        ("CONFIG_PATH", e.config_path.clone()),
        ("NARRATIVE", "template".into()),
        ("RUST_LOG", "info".into()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(bin)
            .arg("--invoke")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(envs)
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
    for line in stderr.lines() {
        assert!(
            !line.contains("@cust.example"),
            "a customer in a log line: {line}"
        );
    }
    let v = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("stdout is not JSON: {stdout}\nstderr: {stderr}"));
    (out.status.success(), v)
}

async fn sent_from(from: &str) -> Vec<Value> {
    moto_data().await["ses"]["Message"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["source"] == from).cloned().collect())
        .unwrap_or_default()
}

fn handoff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_churn-handoff")
}

fn summary_bin() -> &'static str {
    env!("CARGO_BIN_EXE_churn-summary")
}

fn notice_event() -> Value {
    json!({"notice": {
        "execution": "monday-2026-W48",
        "error": "churn.BadList",
        "cause": "{\"errorType\":\"churn.BadList\",\"errorMessage\":\"the customer list has 3 bad rows out of 4\"}",
        "input": {"as_of": "2026-11-23"}
    }})
}

/// A list where `cell` is one customer's `email`; the `last_order_date` of C2 is bad (the list
/// the notice is about is broken, yet its addresses still count).
fn list_with(cell: &str) -> String {
    format!(
        "customer_id,name,owner,email,last_order_date\n\
         C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-09-01\n\
         C2,Maple Cafe,alex@shop.example,{cell},someday\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_notice_refuses_an_admin_named_in_any_form_by_a_customer_cell() {
    for cell in [
        "\"Ops Team <OPS+alerts@Shop.example>; c2@cust.example\"",
        "\"\"\"Team, Ops\"\" <ops@shop.example>\"",
        "c2@cust.example; ops@shop.example",
    ] {
        let e = env(Some(&list_with(cell))).await;
        let (ok, out) = invoke(handoff_bin(), &e, notice_event()).await;
        assert!(!ok, "{cell}: {out}");
        assert_eq!(out["errorType"], "churn.Refused", "{cell}: {out}");
        assert!(
            !out["errorMessage"].as_str().unwrap().contains("@"),
            "{out}"
        );
        assert!(
            sent_from(&e.sender).await.is_empty(),
            "{cell}: nothing reached SES"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_notice_goes_out_when_the_admin_is_no_customer_and_refuses_without_a_list() {
    let e = env(Some(&list_with("c2@cust.example"))).await;
    let (ok, out) = invoke(handoff_bin(), &e, notice_event()).await;
    assert!(ok, "{out}");
    assert_eq!(out["via"], "email");
    let mail = sent_from(&e.sender).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["destinations"]["ToAddresses"], json!([ADMIN]));

    // No list to check the admin against: nothing is sent.
    let e = env(None).await;
    let (ok, out) = invoke(handoff_bin(), &e, notice_event()).await;
    assert!(!ok, "{out}");
    assert_eq!(out["errorType"], "churn.Refused", "{out}");
    assert!(sent_from(&e.sender).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_refuses_a_recipient_named_by_a_display_name_or_multi_address_cell() {
    for cell in [
        "The Boss <BOSS+orders@shop.example>",
        "\"billing@cust.example, boss@Shop.example\"",
    ] {
        let e = env(Some(&list_with(cell))).await;
        let (ok, out) = invoke(summary_bin(), &e, json!({"month": "2026-10"})).await;
        assert!(!ok, "{cell}: {out}");
        assert_eq!(out["errorType"], "churn.Refused", "{cell}: {out}");
        assert!(
            sent_from(&e.sender).await.is_empty(),
            "{cell}: nothing reached SES"
        );
    }
    // No list: refused, not sent unchecked.
    let e = env(None).await;
    let (ok, out) = invoke(summary_bin(), &e, json!({"month": "2026-10"})).await;
    assert!(!ok, "{out}");
    assert_eq!(out["errorType"], "churn.Refused", "{out}");
    assert!(sent_from(&e.sender).await.is_empty());
    // A list that does not name the boss: sent.
    let e = env(Some(&list_with("c2@cust.example"))).await;
    let (ok, out) = invoke(summary_bin(), &e, json!({"month": "2026-10"})).await;
    assert!(ok, "{out}");
    assert_eq!(sent_from(&e.sender).await.len(), 1);
}
