//! Scores where owners work, on AWS (docs/SPEC.md §10): the Report step writes `churn_score`,
//! `churn_band` and `churn_reason` into the customer sheet, against the Google-like server —
//! only the columns the sheet has, rows by customer id read just before writing, RAW, one batch.

use churn_core::Band;
use churn_core::scoring::score_cells::CustomerScore;
use churn_google::{Endpoints, GoogleClient, ServiceAccountKey};
use churn_lambda::history::write_scores;
use churn_test_support::google_server as server;
use rustc_hash::FxHashMap;
use serde_json::json;
use server::{CLIENT_EMAIL, SPREADSHEET};

async fn google(fake: &server::Fake) -> GoogleClient {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../churn-google/tests/data/TEST-ONLY-service-account-key.pem"
    ))
    .unwrap();
    let key = json!({"type": "service_account", "client_email": CLIENT_EMAIL, "private_key": pem,
        "private_key_id": "k1", "token_uri": format!("{}/token", fake.url())});
    GoogleClient::new(
        ServiceAccountKey::from_json(&key.to_string()).unwrap(),
        Endpoints {
            drive: fake.url(),
            sheets: fake.url(),
        },
    )
    .unwrap()
}

fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

fn scores() -> FxHashMap<String, CustomerScore> {
    [
        ("C1", 90, Band::Churning),
        ("C2", 55, Band::AtRisk),
        ("C3", 0, Band::Steady),
    ]
    .into_iter()
    .map(|(id, score, band)| (id.to_string(), CustomerScore { score, band }))
    .collect()
}

fn reasons() -> FxHashMap<String, String> {
    FxHashMap::from_iter([(
        "C1".to_string(),
        "=IMPORTXML(\"x\") orders stopped".to_string(),
    )])
}

#[tokio::test]
async fn a_re_sorted_sheet_gets_each_score_in_its_customers_row_in_one_raw_batch() {
    let fake = server::start().await;
    // Scored in the order C1, C2, C3; by the write, someone has sorted the sheet by name and
    // put a blank line and a note row in.
    fake.with(|s| {
        s.sheet = rows(&[
            &[],
            &[
                "Customer ID",
                "name",
                "Churn Score",
                "notes",
                "churn_reason",
                "churn_band",
            ],
            &["C3", "Aster", "", "keep me"],
            &["C2", "Birch", "12", "", "stale", "watch"],
            &[],
            &["C1", "Cedar", "", "", "", ""],
            &["C9", "not scored", "5"],
        ])
    });
    let g = google(&fake).await;
    let out = write_scores(&g, SPREADSHEET, &scores(), &reasons())
        .await
        .unwrap();
    assert_eq!(out.columns, ["Churn Score", "churn_band", "churn_reason"]);
    let updates = fake.with(|s| s.batch_updates.clone());
    assert_eq!(updates.len(), 1, "one batchUpdate");
    assert_eq!(updates[0]["valueInputOption"], "RAW");
    fake.with(|s| {
        assert_eq!(s.sheet[2], ["C3", "Aster", "0", "keep me", "", "steady"]);
        assert_eq!(s.sheet[3], ["C2", "Birch", "55", "", "", "at-risk"]);
        assert_eq!(
            s.sheet[5],
            [
                "C1",
                "Cedar",
                "90",
                "",
                "=IMPORTXML(\"x\") orders stopped",
                "churning"
            ]
        );
        assert_eq!(
            s.sheet[6],
            ["C9", "not scored", "5"],
            "an unscored row is left alone"
        );
    });
    assert_eq!(out.cells, 8);
    // Again: nothing changes, so nothing is sent.
    let again = write_scores(&g, SPREADSHEET, &scores(), &reasons())
        .await
        .unwrap();
    assert_eq!(again.cells, 0);
    assert_eq!(fake.with(|s| s.batch_updates.len()), 1);
}

#[tokio::test]
async fn a_sheet_without_the_columns_is_never_given_them() {
    let fake = server::start().await;
    let sheet = rows(&[&["customer_id", "name", "churn"], &["C1", "Cedar", "x"]]);
    fake.with(|s| s.sheet = sheet.clone());
    let g = google(&fake).await;
    let out = write_scores(&g, SPREADSHEET, &scores(), &reasons())
        .await
        .unwrap();
    assert!(out.columns.is_empty() && out.cells == 0, "{out:?}");
    assert_eq!(fake.count("POST"), 0, "no write at all");
    fake.with(|s| assert_eq!(s.sheet, sheet));
    // An empty sheet too.
    fake.with(|s| s.sheet = Vec::new());
    let out = write_scores(&g, SPREADSHEET, &scores(), &reasons())
        .await
        .unwrap();
    assert_eq!(out.cells, 0);
}

#[tokio::test]
async fn a_sheet_that_refuses_the_write_is_an_error_for_the_report() {
    let fake = server::start().await;
    fake.with(|s| s.sheet = rows(&[&["customer_id", "churn_score"], &["C1", ""]]));
    let g = google(&fake).await;
    fake.force(403, "forbidden", None);
    let e = write_scores(&g, SPREADSHEET, &scores(), &reasons())
        .await
        .unwrap_err();
    assert_eq!(e.kind, "churn.Config", "{e}");
    fake.with(|s| assert_eq!(s.sheet[1], ["C1", ""]));
}
