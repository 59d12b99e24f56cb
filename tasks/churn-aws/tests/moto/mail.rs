use std::collections::HashSet;

use churn_aws::{MailError, SesMailer};
use churn_core::notify::message::EmailBody;
use serde_json::Value;

use crate::support::{clients, moto_data, unique};

/// Messages moto holds that were sent from `from` (`ses.Message` in data.json).
async fn sent_from(from: &str) -> Vec<Value> {
    let data = moto_data().await;
    data["ses"]["Message"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["source"] == from).cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn ses_sends_and_refuses_customer_addresses_before_calling_ses() {
    let clients = clients().await;
    let from = format!("{}@shop.example", unique("churn"));
    clients
        .sesv2
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .unwrap();
    let mailer = SesMailer::new(&clients);
    let body = EmailBody {
        subject: "Week 2026-W48 · 2 customers to look at".into(),
        html: "<p>Café Ünïcode — 2 customers</p>".into(),
        text: "Café Ünïcode — 2 customers".into(),
    };
    let customers: HashSet<String> = ["buyer@customer.example".to_string()].into();

    let id = mailer
        .send(&from, &["sam@shop.example"], &body, |a| {
            customers.contains(a)
        })
        .await
        .unwrap();
    assert!(!id.is_empty());
    let sent = sent_from(&from).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let m = &sent[0];
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["subject"], body.subject.as_str());
    assert_eq!(m["body"], body.html.as_str(), "moto keeps the HTML part");
    assert_eq!(
        m["destinations"]["ToAddresses"],
        serde_json::json!(["sam@shop.example"])
    );

    // A customer's address, in any case and spacing, is refused and SES never sees the send.
    let err = mailer
        .send(
            &from,
            &["sam@shop.example", " Buyer@Customer.example "],
            &body,
            |a| customers.contains(a),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Refused { index: 1 }), "{err:?}");
    assert_eq!(err.error_type(), "churn.Refused");
    assert!(!err.to_string().contains("customer.example"), "{err}");
    assert_eq!(sent_from(&from).await.len(), 1, "nothing new reached SES");

    // SES's own refusal (unverified sender) is a typed, non-retryable AWS failure.
    let err = mailer
        .send(
            &format!("{}@nowhere.example", unique("x").replace('-', "")),
            &["sam@shop.example"],
            &body,
            |_| false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MailError::Aws(f) if f.has_code("MessageRejected")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}
