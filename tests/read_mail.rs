//! `churn read-mail`: `--parse-only --json` (docs/SPEC.md §10) on real mails, and the local mood write —
//! the cell by customer id, every other byte unchanged, audited, the same Message-ID once.

use std::path::Path;

use serde_json::Value;

use crate::util::{repo, run, stderr, stdout};

const CSV: &str = "customer_id,name,owner,Email,Support Mood,notes\r\nC1,Ann Archer,alex@shop.example,ann@cust.example,,\"likes \"\"blue\"\", tea\"\r\n\r\nC2,Bob Buyer,alex@shop.example,BOB@Cust.example,0.5,\r\nC3,Cy,alex@shop.example,cy@cust.example\r\n";

fn folder(csv: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("customers.csv"), csv).unwrap();
    dir
}

fn eml(dir: &Path, name: &str, from: &str, id: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!("From: Someone <{from}>\r\nTo: support-signals@shop.example\r\nSubject: Order\r\nMessage-ID: <{id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"),
    )
    .unwrap();
    p.display().to_string()
}

fn read_mail(data: &Path, file: &str) -> (bool, Value, String) {
    let out = run(&[
        "read-mail",
        file,
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success(), v, stderr(&out))
}

fn audit(data: &Path) -> Vec<(String, String, String, String)> {
    let db = rusqlite::Connection::open(data.join("churn.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT customer_id, action, after, notes FROM audit ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn parse_only_json_has_exactly_the_four_keys_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = repo().join("tests/data/mail/mikel-mail_attachment_message_rfc822.eml");
    let out = run(&[
        "read-mail",
        file.to_str().unwrap(),
        "--parse-only",
        "--json",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{v}");
    for k in ["from", "subject", "body", "sender"] {
        assert!(keys.contains(&k), "{v}");
    }
    assert_eq!(v["from"], "foo@example.com");
    assert_eq!(v["sender"], "foo@example.com");
    assert_eq!(v["subject"], "testing");
    assert!(
        v["body"]
            .as_str()
            .unwrap()
            .contains("Just attaching another PDF")
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn parse_only_reads_charsets_and_strips_history() {
    let file = repo().join("tests/data/mail/mikel-mail_japanese_shift_jis.eml");
    let out = run(&[
        "read-mail",
        file.to_str().unwrap(),
        "--parse-only",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["body"].as_str().unwrap().starts_with("あいうえお"), "{v}");
    let file = repo().join("tests/data/mail/talon_outlook.eml");
    let out = run(&[
        "read-mail",
        file.to_str().unwrap(),
        "--parse-only",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["body"], "Hello");
}

#[test]
fn mood_is_written_by_id_once_per_message_and_blended() {
    let dir = folder(CSV);
    let d = dir.path();
    let sour = eml(
        d,
        "a.eml",
        "bob@cust.example",
        "m1@cust.example",
        "This is unacceptable, still waiting for a refund.",
    );

    let (ok, v, err) = read_mail(d, &sour);
    assert!(ok, "{err}");
    assert_eq!(v["status"], "written", "{v}");
    assert_eq!(v["customer_id"], "C2");
    assert_eq!(v["label"], "sour");
    // 0.4 × −1 + 0.6 × 0.5
    assert_eq!(v["after"], -0.1);
    let expected = CSV.replace(
        "C2,Bob Buyer,alex@shop.example,BOB@Cust.example,0.5,",
        "C2,Bob Buyer,alex@shop.example,BOB@Cust.example,-0.10,",
    );
    assert_eq!(
        std::fs::read_to_string(d.join("customers.csv")).unwrap(),
        expected
    );

    let a = audit(d);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].0, "C2");
    assert_eq!(a[0].1, "mood");
    assert_eq!(
        serde_json::from_str::<Value>(&a[0].2).unwrap()["support_mood"],
        -0.1
    );
    assert_eq!(
        serde_json::from_str::<Value>(&a[0].3).unwrap()["message_id"],
        "m1@cust.example"
    );

    // The same Message-ID again (even with other text) counts once.
    let again = eml(
        d,
        "b.eml",
        "bob@cust.example",
        "m1@cust.example",
        "Thank you, all great now!",
    );
    let (ok, v, _) = read_mail(d, &again);
    assert!(ok);
    assert_eq!(v["status"], "duplicate", "{v}");
    assert_eq!(
        std::fs::read_to_string(d.join("customers.csv")).unwrap(),
        expected
    );
    assert_eq!(audit(d).len(), 1);

    // A first ticket for a blank mood is the label; a short row is padded to the column.
    let happy = eml(
        d,
        "c.eml",
        "cy@cust.example",
        "m2@cust.example",
        "Thank you, the new range is great.",
    );
    let (ok, v, _) = read_mail(d, &happy);
    assert!(ok);
    assert_eq!(v["after"], 1.0);
    assert!(
        std::fs::read_to_string(d.join("customers.csv"))
            .unwrap()
            .ends_with("C3,Cy,alex@shop.example,cy@cust.example,1.00\r\n")
    );
}

#[test]
fn reply_to_wins_and_unmatched_is_recorded_not_guessed() {
    let dir = folder(CSV);
    let d = dir.path();
    let p = d.join("r.eml");
    std::fs::write(&p, "From: Staff <staff@shop.example>\r\nReply-To: ann@cust.example\r\nSubject: Love it\r\nMessage-ID: <r1@x>\r\n\r\nThank you, wonderful service.\r\n").unwrap();
    let (ok, v, _) = read_mail(d, p.to_str().unwrap());
    assert!(ok);
    assert_eq!(v["customer_id"], "C1");
    assert!(std::fs::read_to_string(d.join("customers.csv"))
        .unwrap()
        .contains("C1,Ann Archer,alex@shop.example,ann@cust.example,1.00,\"likes \"\"blue\"\", tea\"\r\n"));

    let stranger = eml(
        d,
        "s.eml",
        "stranger@else.example",
        "s1@else.example",
        "Terrible!",
    );
    let before = std::fs::read(d.join("customers.csv")).unwrap();
    let (ok, v, _) = read_mail(d, &stranger);
    assert!(ok);
    assert_eq!(v["status"], "unmatched", "{v}");
    assert_eq!(std::fs::read(d.join("customers.csv")).unwrap(), before);
    let db = rusqlite::Connection::open(d.join("churn.db")).unwrap();
    let outcome: String = db
        .query_row(
            "SELECT outcome FROM mail_seen WHERE message_id = 's1@else.example'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "unmatched");
}

#[test]
fn unreadable_mail_is_recorded_with_the_reason_and_exits_non_zero() {
    let dir = folder(CSV);
    let d = dir.path();
    let p = d.join("bad.eml");
    std::fs::write(&p, "From: bob@cust.example\r\nSubject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%% not base64 ####\r\n").unwrap();
    let out = run(&[
        "read-mail",
        p.to_str().unwrap(),
        "--data",
        d.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unreadable: the text part's base64 encoding is invalid"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("customers.csv")).unwrap(),
        CSV
    );
    assert!(audit(d).is_empty());
    let db = rusqlite::Connection::open(d.join("churn.db")).unwrap();
    let reason: String = db
        .query_row(
            "SELECT reason FROM mail_seen WHERE outcome = 'unreadable'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(reason.contains("base64"), "{reason}");
}

#[test]
fn a_sheet_without_support_mood_is_refused_not_extended() {
    let csv = "customer_id,name,owner,email\nC1,Ann,alex@shop.example,ann@cust.example\n";
    let dir = folder(csv);
    let d = dir.path();
    let f = eml(d, "a.eml", "ann@cust.example", "n1@x", "Broken again.");
    let out = run(&["read-mail", &f, "--data", d.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no support_mood column"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("customers.csv")).unwrap(),
        csv
    );
}
