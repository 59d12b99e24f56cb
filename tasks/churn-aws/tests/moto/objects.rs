use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use churn_aws::{ObjectError, S3ObjectStore};

use crate::support::{REGION, clients, unique};

#[tokio::test]
async fn s3_put_get_and_not_found_path_style() {
    let clients = clients().await;
    let bucket = unique("cp-rules");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let store = S3ObjectStore::new(&clients);

    let put = store
        .put_text(
            &bucket,
            "rules.txt",
            "# Règles\nweekly cap 10\n",
            "text/plain; charset=utf-8",
        )
        .await
        .unwrap();
    let got = store.get_text(&bucket, "rules.txt").await.unwrap();
    assert_eq!(got.text, "# Règles\nweekly cap 10\n");
    assert!(got.e_tag.is_some());
    assert_eq!(got.e_tag, put.e_tag);

    let report = serde_json::json!({"failed_owners": [], "week": "2026-W48"});
    store
        .put_json(&bucket, "runs/2026-W48/r1/report.json", &report)
        .await
        .unwrap();
    let head = clients
        .s3
        .head_object()
        .bucket(&bucket)
        .key("runs/2026-W48/r1/report.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"));
    let back = store
        .get_text(&bucket, "runs/2026-W48/r1/report.json")
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&back.text).unwrap(),
        report
    );

    let err = store.get_text(&bucket, "voice.txt").await.unwrap_err();
    assert!(matches!(err, ObjectError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("voice.txt"), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.error_type(), "churn.Internal");

    let err = store
        .get_text(&unique("no-such-bucket"), "customers.csv")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ObjectError::Aws { failure, .. } if failure.has_code("NoSuchBucket")),
        "{err:?}"
    );
}
