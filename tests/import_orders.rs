//! `churn import-orders`: realistic Shopify, Stripe and WooCommerce exports into a Sheets-style
//! customers.csv (BOM, CRLF, quoted fields, a blank row, a trailing empty column).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{repo, run, run_json, stderr, stdout};

fn data(name: &str) -> PathBuf {
    repo().join("tests/data/orders").join(name)
}

/// A data folder holding a copy of the test list.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data("customers.csv"), dir.path().join("customers.csv")).unwrap();
    dir
}

fn import(dir: &Path, file: &str) -> Value {
    run_json(&[
        "import-orders",
        data(file).to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
    ])
}

fn list(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("customers.csv")).unwrap()
}

/// (customer_id, action, before, after) of every audit item.
fn audit(dir: &Path) -> Vec<(String, String, String, String)> {
    let db = rusqlite::Connection::open(dir.join("churn.db")).unwrap();
    let mut st = db
        .prepare("SELECT customer_id, action, before, after FROM audit ORDER BY seq")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn history(dir: &Path, customer: &str) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(dir.join("churn.db")).unwrap();
    let mut st = db
        .prepare("SELECT order_id, order_date FROM order_history WHERE customer_id = ?1 ORDER BY order_id")
        .unwrap();
    st.query_map([customer], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn cells(v: &Value, customer: &str) -> Vec<(String, String, String)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["customer_id"] == customer)
        .map(|c| {
            c["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    (
                        x["column"].as_str().unwrap().to_string(),
                        x["before"].as_str().unwrap().to_string(),
                        x["after"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn c(col: &str, before: &str, after: &str) -> (String, String, String) {
    (col.into(), before.into(), after.into())
}

#[test]
fn shopify_full_export_sets_only_the_order_cells_and_keeps_every_other_byte() {
    let dir = folder();
    let v = import(dir.path(), "shopify_orders_full.csv");
    assert_eq!(v["format"], "shopify");
    // 8 orders in 11 rows: #1006 refunded and #1007 voided/cancelled are ignored.
    assert_eq!(v["orders"], 6);
    assert_eq!(v["ignored_orders"], 2);
    assert_eq!(v["merged_rows"], 2);
    // C001: #1001 (two line items), #1003, #1004 (partly refunded still counts); days 5 Jan,
    // 19 Jan, 2 Feb → gaps 14, 14.
    assert_eq!(
        cells(&v, "C001"),
        [
            c("last_order_date", "", "2026-02-02"),
            c("first_order_date", "", "2026-01-05"),
            c("order_count", "", "3"),
            c("order_pace_days", "", "14"),
        ]
    );
    // C002 (email in another case): #1002 on 6 Jan and #1008 at 23:30 +08:00 on 20 Feb (UTC
    // day 20 Feb); the list's first order (01/06/2025) is earlier, so it stays.
    assert_eq!(
        cells(&v, "C002"),
        [
            c("last_order_date", "15/12/2025", "2026-02-20"),
            c("order_count", "4", "2"),
            c("order_pace_days", "21", "45"),
        ]
    );
    assert_eq!(v["customers_changed"], 2);
    assert_eq!(
        v["unknown_customers"],
        serde_json::json!([{"key": "walkin@guest.example", "orders": 1}])
    );
    let expected = "\u{feff}customer_id,Name,Owner,Email,Last Order Date,Order Pace Days,order_count,First Order Date,plan,\r\n\
C001,\"Harbor Bakery, Pte Ltd\",alex@example.com,Orders@HarborBakery.example,2026-02-02,14,3,2026-01-05,monthly,\r\n\
C002,Kettle & Co,sam@example.com,kettle@cafe.example,2026-02-20,45,2,01/06/2025,paused,\r\n\
\r\n\
C003,\"Maple \"\"Deli\"\"\",jo@example.com,maple@deli.example,,,,,monthly,\r\n\
C004,Bloom Florist,alex@example.com,ana@bloomflorist.example,2026-04-20,,,,,\r\n\
C005,\"Quiet\nCustomer\",,,,,,,monthly,\r\n";
    assert_eq!(list(dir.path()), expected);
    let a = audit(dir.path());
    assert_eq!(a.len(), 2, "one audit item per changed customer");
    assert_eq!((a[0].0.as_str(), a[0].1.as_str()), ("C001", "order_import"));
    let after: Value = serde_json::from_str(&a[1].3).unwrap();
    assert_eq!(
        after,
        serde_json::json!({"last_order_date": "2026-02-20", "order_count": "2", "order_pace_days": "45"})
    );
    assert_eq!(
        history(dir.path(), "C001"),
        [
            ("#1001".into(), "2026-01-05".into()),
            ("#1003".into(), "2026-01-19".into()),
            ("#1004".into(), "2026-02-02".into())
        ]
    );
}

#[test]
fn the_same_file_twice_on_different_days_changes_nothing_the_second_time() {
    let dir = folder();
    import(dir.path(), "shopify_orders_full.csv");
    let after_first = std::fs::read(dir.path().join("customers.csv")).unwrap();
    let audits = audit(dir.path()).len();
    // The list was edited by a person meanwhile (sorted): rows are found by id, not by position.
    let text = String::from_utf8(after_first.clone()).unwrap();
    let mut lines: Vec<&str> = text.split_inclusive("\r\n").collect();
    lines.swap(1, 2);
    let sorted = lines.concat();
    std::fs::write(dir.path().join("customers.csv"), &sorted).unwrap();
    let v = import(dir.path(), "shopify_orders_full.csv");
    assert_eq!(v["customers_changed"], 0);
    assert_eq!(v["history_put"], 0);
    assert_eq!(list(dir.path()), sorted, "not one byte changed");
    assert_eq!(
        audit(dir.path()).len(),
        audits,
        "no audit item for no change"
    );
    let out = run(&[
        "import-orders",
        data("shopify_orders_full.csv").to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("Nothing to change"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("walkin@guest.example (1 orders)"));
}

#[test]
fn an_incremental_export_after_a_full_one_merges_by_order_id() {
    let dir = folder();
    import(dir.path(), "shopify_orders_full.csv");
    let v = import(dir.path(), "shopify_orders_incremental.csv");
    // #1004 refunded in full since: removed from the history; #1008 repeated unchanged; #1009
    // new. C001's days are now 5 Jan, 19 Jan, 2 Mar → gaps 14, 42 → 28; the count stays 3.
    assert_eq!(
        cells(&v, "C001"),
        [
            c("last_order_date", "2026-02-02", "2026-03-02"),
            c("order_pace_days", "14", "28"),
        ]
    );
    assert_eq!(v["history_deleted"], 1);
    assert_eq!(
        history(dir.path(), "C001")
            .into_iter()
            .map(|h| h.0)
            .collect::<Vec<_>>(),
        ["#1001", "#1003", "#1009"]
    );
    assert!(cells(&v, "C002").is_empty(), "{v}");
    // C003 (a pending order still counts) gets its first order.
    assert_eq!(
        cells(&v, "C003"),
        [
            c("last_order_date", "", "2026-03-03"),
            c("first_order_date", "", "2026-03-03"),
            c("order_count", "", "1"),
        ]
    );
    // Then the full export again: #1004 is `partially_refunded` there, so it comes back — the
    // newest file says what an order is; last_order_date never moves backwards.
    let v = import(dir.path(), "shopify_orders_full.csv");
    assert_eq!(
        cells(&v, "C001"),
        [c("order_count", "3", "4"), c("order_pace_days", "28", "14")]
    );
}

#[test]
fn stripe_payments_skip_failed_and_fully_refunded_charges() {
    let dir = folder();
    let v = import(dir.path(), "stripe_payments.csv");
    assert_eq!(v["format"], "stripe");
    assert_eq!(v["ignored_orders"], 2);
    // Maple Deli (C003): Jan 3 and Feb 3 paid, Mar 3 refunded in full.
    assert_eq!(
        cells(&v, "C003"),
        [
            c("last_order_date", "", "2026-02-03"),
            c("first_order_date", "", "2026-01-03"),
            c("order_count", "", "2"),
            c("order_pace_days", "", "31"),
        ]
    );
    // Kettle (upper-case email in the export): 10 Jan (partly refunded) and 25 Jan; the list's
    // 15/12/2025 moves forward.
    assert_eq!(
        cells(&v, "C002"),
        [
            c("last_order_date", "15/12/2025", "2026-01-25"),
            c("order_count", "4", "2"),
            c("order_pace_days", "21", "15"),
        ]
    );
    assert_eq!(v["unknown_customers"][0]["key"], "someone@else.example");
}

#[test]
fn woocommerce_orders_collapse_items_and_ignore_cancelled_and_refunded() {
    let dir = folder();
    let v = import(dir.path(), "woocommerce_orders.csv");
    assert_eq!(v["format"], "woocommerce");
    assert_eq!(v["merged_rows"], 1);
    assert_eq!(v["ignored_orders"], 2);
    // Bloom (C004): 1, 8 and 15 April (2043 cancelled); the list's later 2026-04-20 stays.
    assert_eq!(
        cells(&v, "C004"),
        [
            c("first_order_date", "", "2026-04-01"),
            c("order_count", "", "3"),
            c("order_pace_days", "", "7"),
        ]
    );
    assert_eq!(v["unknown_customers"][0]["key"], "marta@unknown.example");
    assert_eq!(
        v["unknown_customers"].as_array().unwrap().len(),
        1,
        "a refunded guest order is ignored, not reported"
    );
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let dir = folder();
    let before = list(dir.path());
    let bad = dir.path().join("inventory.csv");
    std::fs::write(&bad, "sku,qty\nA,1\n").unwrap();
    let out = run(&[
        "import-orders",
        bad.to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("not one of the recognised formats") && err.contains("Found: sku, qty"),
        "{err}"
    );
    let out = run(&[
        "import-orders",
        dir.path().join("missing.csv").to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    assert_eq!(list(dir.path()), before);
    assert!(!dir.path().join("churn.db").exists());

    // A list without any order column: never adds one.
    let d2 = tempfile::tempdir().unwrap();
    std::fs::write(
        d2.path().join("customers.csv"),
        "customer_id,name,owner,email\nC1,A,a@x.example,kettle@cafe.example\n",
    )
    .unwrap();
    let out = run(&[
        "import-orders",
        data("shopify_orders_full.csv").to_str().unwrap(),
        "--data",
        d2.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("never adds columns"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn only_columns_the_list_has_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let src = "customer_id,name,email,last_order_date\nC1,Kettle,kettle@cafe.example,\n";
    std::fs::write(dir.path().join("customers.csv"), src).unwrap();
    let v = import(dir.path(), "shopify_orders_full.csv");
    assert_eq!(cells(&v, "C1"), [c("last_order_date", "", "2026-02-20")]);
    assert_eq!(
        list(dir.path()),
        "customer_id,name,email,last_order_date\nC1,Kettle,kettle@cafe.example,2026-02-20\n"
    );
}

#[test]
fn any_other_export_through_the_configured_column_mapping() {
    let dir = folder();
    let before = list(dir.path());
    let till = data("till_export.csv");
    let args = [
        "import-orders",
        till.to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
    ];
    // Without a mapping the till's export is refused and nothing changes.
    let out = run(&args);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Found: Beleg-Nr, Datum"),
        "{}",
        stderr(&out)
    );
    assert_eq!(list(dir.path()), before);

    std::fs::write(
        dir.path().join("config.toml"),
        "date_order = \"day-first\"\n\n[order_columns]\norder_date = \"Datum\"\ncustomer_id = \"Kunden-Nr\"\nemail = \"E-Mail\"\norder_id = \"Beleg-Nr\"\namount = \"Summe\"\nstatus = \"Status\"\nignore_statuses = [\"storniert\"]\n",
    )
    .unwrap();
    let v = import(dir.path(), "till_export.csv");
    assert_eq!(v["format"], "mapped");
    // K-5001's second item row merges; K-5003 is `storniert`.
    assert_eq!(
        (v["orders"].as_u64(), v["merged_rows"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(v["ignored_orders"], 1);
    // Harbor (C001): 2 March by id, 16 March by email (ignoring case).
    assert_eq!(
        cells(&v, "C001"),
        [
            c("last_order_date", "", "2026-03-16"),
            c("first_order_date", "", "2026-03-02"),
            c("order_count", "", "2"),
            c("order_pace_days", "", "14"),
        ]
    );
    assert_eq!(v["unknown_customers"][0]["key"], "C999");
    let text = stdout(&run(&args));
    assert!(
        text.contains("order export (configured column mapping)"),
        "{text}"
    );
    assert!(
        text.contains("Nothing to change"),
        "the same file twice: {text}"
    );

    // A file the mapping does not fit, and no format recognises: the missing columns are named.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "Beleg-Nr,Datum,Summe\nK-1,02.03.2026,1\n").unwrap();
    let out = run(&[
        "import-orders",
        other.to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "configured column mapping does not fit it: no column `Kunden-Nr`, `E-Mail`, `Status`"
        ),
        "{err}"
    );

    // A mapping that names no customer column is a config error before anything is read.
    std::fs::write(
        dir.path().join("config.toml"),
        "[order_columns]\norder_date = \"Datum\"\n",
    )
    .unwrap();
    let out = run(&args);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("[order_columns]: customer_id or email"),
        "{}",
        stderr(&out)
    );
}
