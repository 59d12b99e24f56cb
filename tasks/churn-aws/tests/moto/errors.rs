//! `is_retryable()` and `error_type()` on errors the real SDK produced from real HTTP answers:
//! moto never throttles, so a tiny local HTTP server answers every request with one canned
//! response (a 500, a throttling error, a validation error), and the SDK's own deserializers turn
//! it into the error our adapters classify. SDK retries are off so one answer is enough.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use churn_aws::{
    AwsClients, DynamoDbStateStore, MailError, ObjectError, S3ObjectStore, SesMailer, StateError,
    TableNames,
};
use churn_core::notify::message::EmailBody;

use crate::support::REGION;

/// Serves `response` to at most `max` connections, then stops; returns the endpoint.
fn canned(response: String, max: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let _ = s.write_all(response.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn clients_at(endpoint: &str) -> AwsClients {
    let cfg = churn_aws::sdk_defaults()
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "canned"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(800))
                .build(),
        )
        .load()
        .await;
    AwsClients::with_path_style(&cfg, true)
}

fn tables() -> TableNames {
    TableNames {
        state: "cp-state".into(),
        audit: "cp-audit".into(),
        runs: "cp-runs".into(),
    }
}

async fn dynamodb_error(status: &str, error_type: &str) -> StateError {
    let body =
        format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{error_type}","message":"m"}}"#);
    let ep = canned(response(status, "application/x-amz-json-1.0", &body), 2);
    let store = DynamoDbStateStore::new(&clients_at(&ep).await, &tables());
    store.get_state("C1").await.unwrap_err()
}

#[tokio::test]
async fn throttling_5xx_timeouts_and_dispatch_failures_are_retryable() {
    for (status, code) in [
        ("400 Bad Request", "ThrottlingException"),
        ("400 Bad Request", "ProvisionedThroughputExceededException"),
        ("500 Internal Server Error", "InternalServerError"),
        ("503 Service Unavailable", "ServiceUnavailable"),
    ] {
        let err = dynamodb_error(status, code).await;
        assert!(
            matches!(&err, StateError::Aws(f) if f.has_code(code)),
            "{code}: {err:?}"
        );
        assert!(err.is_retryable(), "{code} should be retryable");
        assert_eq!(err.error_type(), "churn.Retryable");
    }
    let err = dynamodb_error("400 Bad Request", "ValidationException").await;
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(err.error_type(), "churn.Internal");

    // S3's XML errors: 503 SlowDown.
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>";
    let ep = canned(response("503 Slow Down", "application/xml", xml), 2);
    let err = S3ObjectStore::new(&clients_at(&ep).await)
        .get_text("cp-list-source", "customers.csv")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ObjectError::Aws { failure, .. } if failure.has_code("SlowDown")),
        "{err:?}"
    );
    assert!(err.is_retryable());

    // SES v2 (REST JSON): 429 TooManyRequestsException.
    let ep = canned(
        response(
            "429 Too Many Requests",
            "application/json",
            r#"{"message":"slow down"}"#,
        )
        .replace(
            "Content-Type",
            "x-amzn-ErrorType: TooManyRequestsException\r\nContent-Type",
        ),
        2,
    );
    let body = EmailBody {
        subject: "s".into(),
        html: "h".into(),
        text: "t".into(),
    };
    let err = SesMailer::new(&clients_at(&ep).await)
        .send("churn@shop.example", &["sam@shop.example"], &body, |_| {
            false
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MailError::Aws(f) if f.has_code("TooManyRequestsException")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.error_type(), "churn.Retryable");

    // Nobody listening: a dispatch failure.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let store = DynamoDbStateStore::new(&clients_at(&closed).await, &tables());
    let err = store.get_state("C1").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("could not reach AWS"), "{err}");

    // A server that accepts and never answers: a timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let store = DynamoDbStateStore::new(&clients_at(&ep).await, &tables());
    let err = store.get_state("C1").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.error_type(), "churn.Retryable");
    drop(silent);
}
