//! The Google adapters against a Google-like server (`churn_test_support::google_server`).

use churn_test_support::google_server as server;

use std::time::Duration;

use churn_google::{Endpoints, GoogleClient, GoogleError, SCOPES, ServiceAccountKey, TokenSource};
use server::{CLIENT_EMAIL, DOC_MIME, FakeFile, SHEET_MIME, SPREADSHEET};

fn key(fake: &server::Fake, pem_file: &str) -> ServiceAccountKey {
    let pem = std::fs::read_to_string(format!(
        "{}/tests/data/{pem_file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    // The JSON shape Google Cloud downloads.
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "churn-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": format!("{}/token", fake.url()),
    });
    ServiceAccountKey::from_json(&json.to_string()).unwrap()
}

fn client(fake: &server::Fake) -> GoogleClient {
    GoogleClient::new(
        key(fake, "TEST-ONLY-service-account-key.pem"),
        Endpoints {
            drive: fake.url(),
            sheets: fake.url(),
        },
    )
    .unwrap()
}

async fn fake_with_files() -> server::Fake {
    let fake = server::start().await;
    fake.with(|s| {
        s.files.insert(
            "sheet1".into(),
            FakeFile {
                name: "Customers".into(),
                mime: SHEET_MIME.into(),
                version: 41,
                modified: "2026-11-27T09:00:00.000Z".into(),
                content: b"customer_id,name,owner\r\nC1,Harbor,alex@example.com\r\n".to_vec(),
            },
        );
        s.files.insert(
            "rules1".into(),
            FakeFile {
                name: "Churn rules".into(),
                mime: DOC_MIME.into(),
                version: 7,
                modified: "2026-11-26T10:00:00.000Z".into(),
                content: "\u{feff}weekly cap: 10\r\n".as_bytes().to_vec(),
            },
        );
        s.sheet = vec![
            vec![
                "customer_id".into(),
                "name".into(),
                "last_order_date".into(),
            ],
            vec!["C1".into(), "Harbor".into(), "".into()],
            vec!["C2".into(), "Kettle".into(), "2026-01-01".into()],
        ];
    });
    fake
}

#[tokio::test]
async fn files_values_and_one_cached_token() {
    let fake = fake_with_files().await;
    let g = client(&fake);
    let meta = g.file_meta("sheet1").await.unwrap();
    assert_eq!(meta.version, "41");
    assert_eq!(meta.modified_time, "2026-11-27T09:00:00.000Z");
    assert_eq!(meta.mime_type, SHEET_MIME);
    let csv = g.export("sheet1", "text/csv").await.unwrap();
    assert!(csv.starts_with(b"customer_id,name,owner\r\n"));
    let doc = g.export("rules1", "text/plain").await.unwrap();
    assert_eq!(doc, "\u{feff}weekly cap: 10\r\n".as_bytes());
    let rows = g.values_get(SPREADSHEET, "A1:ZZ").await.unwrap();
    // Trailing blank cells are trimmed by Sheets.
    assert_eq!(rows[1], ["C1", "Harbor"]);
    let n = g
        .values_batch_update(SPREADSHEET, &[("C2".into(), "2026-11-20".into())])
        .await
        .unwrap();
    assert_eq!(n, 1);
    fake.with(|s| {
        assert_eq!(s.sheet[1][2], "2026-11-20");
        assert_eq!(s.batch_updates[0]["valueInputOption"], "RAW");
        // Five API calls, one token.
        assert_eq!(s.token_requests, 1);
        assert_eq!(s.log.len(), 5);
    });
    // A doc asked for as CSV is refused as Drive refuses it.
    let e = g.export("rules1", "text/csv").await.unwrap_err();
    assert!(
        matches!(e, GoogleError::Status { status: 400, .. }),
        "{e:?}"
    );
    let e = g.file_meta("nope").await.unwrap_err();
    assert!(
        matches!(e, GoogleError::NotFound(ref m) if m.contains("File not found")),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_token_is_refreshed_after_it_expires() {
    let fake = fake_with_files().await;
    fake.with(|s| s.expires_in = 1);
    let g = client(&fake).with_tokens(
        TokenSource::new(key(&fake, "TEST-ONLY-service-account-key.pem"), SCOPES)
            .unwrap()
            .with_margin(Duration::ZERO),
    );
    g.file_meta("sheet1").await.unwrap();
    // Past the token's life: the fake refuses the old token, so only a refreshed one works.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    g.file_meta("sheet1").await.unwrap();
    assert_eq!(fake.with(|s| s.token_requests), 2);
}

#[tokio::test]
async fn a_401_gets_one_fresh_token_and_one_more_try() {
    let fake = fake_with_files().await;
    let g = client(&fake);
    g.file_meta("sheet1").await.unwrap();
    fake.force(401, "authError", None);
    g.file_meta("sheet1").await.unwrap();
    assert_eq!(fake.with(|s| s.token_requests), 2);
    // Twice in a row: a clear auth error, not a loop.
    fake.force(401, "authError", None);
    fake.force(401, "authError", None);
    let e = g.file_meta("sheet1").await.unwrap_err();
    assert!(matches!(e, GoogleError::Auth { status: 401, .. }), "{e:?}");
}

#[tokio::test]
async fn a_key_google_does_not_know_is_refused_by_the_signature_check() {
    let fake = fake_with_files().await;
    let g = GoogleClient::new(
        key(&fake, "TEST-ONLY-unregistered-key.pem"),
        Endpoints {
            drive: fake.url(),
            sheets: fake.url(),
        },
    )
    .unwrap();
    let e = g.file_meta("sheet1").await.unwrap_err();
    match e {
        GoogleError::Auth {
            status: 400,
            error,
            description,
        } => {
            assert_eq!(error, "invalid_grant");
            assert_eq!(description, "Invalid JWT Signature.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.count("GET"), 0, "no API call without a token");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let fake = fake_with_files().await;
    let g = client(&fake);
    fake.force(429, "rateLimitExceeded", Some("1"));
    fake.force(500, "backendError", None);
    let meta = g.file_meta("sheet1").await.unwrap();
    assert_eq!(meta.version, "41");
    assert_eq!(fake.count("GET /drive/v3/files/sheet1"), 3);
    // Drive's 403 rate limit is retried too.
    fake.force(403, "userRateLimitExceeded", Some("0"));
    g.export("sheet1", "text/csv").await.unwrap();
}

#[tokio::test]
async fn errors_that_retrying_cannot_fix_are_clear() {
    let fake = fake_with_files().await;
    let g = client(&fake);
    fake.force(403, "insufficientFilePermissions", None);
    let e = g.file_meta("sheet1").await.unwrap_err();
    assert!(
        matches!(e, GoogleError::Forbidden { ref reason, .. } if reason == "insufficientFilePermissions"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("share the file with the service account")
    );
    assert_eq!(
        fake.count("GET /drive/v3/files/sheet1"),
        1,
        "a 403 is not retried"
    );
    for _ in 0..4 {
        fake.force(500, "backendError", Some("0"));
    }
    let e = g.file_meta("sheet1").await.unwrap_err();
    assert!(
        matches!(
            e,
            GoogleError::Unavailable {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_export_over_ten_megabytes_is_a_clear_error() {
    let fake = fake_with_files().await;
    fake.with(|s| {
        s.files.get_mut("sheet1").unwrap().content = vec![b'x'; 10 * 1024 * 1024 + 1];
    });
    let e = client(&fake)
        .export("sheet1", "text/csv")
        .await
        .unwrap_err();
    assert!(matches!(e, GoogleError::ExportTooLarge(_)), "{e:?}");
    assert!(e.to_string().contains("10 MB"));
}

#[tokio::test]
async fn an_empty_range_has_no_values() {
    let fake = fake_with_files().await;
    fake.with(|s| s.sheet.clear());
    assert!(
        client(&fake)
            .values_get(SPREADSHEET, "A1:ZZ")
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_assertion_carries_every_claim() {
    use base64::Engine;
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/TEST-ONLY-service-account-key.pem"
    ))
    .unwrap();
    let k = ServiceAccountKey::from_json(
        &serde_json::json!({"client_email": CLIENT_EMAIL, "private_key": pem}).to_string(),
    )
    .unwrap();
    assert_eq!(k.token_uri, "https://oauth2.googleapis.com/token");
    let jwt = TokenSource::new(k, SCOPES)
        .unwrap()
        .assertion(1_800_000_000)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims,
        serde_json::json!({"iss": CLIENT_EMAIL, "scope": SCOPES,
            "aud": "https://oauth2.googleapis.com/token", "iat": 1_800_000_000u64, "exp": 1_800_003_600u64})
    );
    assert!(!format!("{:?}", ServiceAccountKey::from_json(
        &serde_json::json!({"client_email": CLIENT_EMAIL, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}).to_string()).unwrap()).contains("PRIVATE"));
}
