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
    // Reply-To counts because From is an authenticated helpdesk domain (docs/SPEC.md §8).
    std::fs::write(
        d.join("config.toml"),
        "helpdesk_domains = [\"shop.example\"]\n",
    )
    .unwrap();
    let p = d.join("r.eml");
    std::fs::write(&p, "Authentication-Results: mx.shop.example; dkim=pass header.d=shop.example\r\nFrom: Staff <staff@shop.example>\r\nReply-To: ann@cust.example\r\nSubject: Love it\r\nMessage-ID: <r1@x>\r\n\r\nThank you, wonderful service.\r\n").unwrap();
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

fn parse_only(data: &Path, file: &Path) -> Value {
    let out = run(&[
        "read-mail",
        file.to_str().unwrap(),
        "--parse-only",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// docs/SPEC.md §8 "Who sent it", locally: a spoofed Reply-To, a forged forward block and a DKIM
/// fail write no mood (and `--parse-only` names no sender for them); an authenticated helpdesk's
/// forward counts for the forwarded customer.
#[test]
fn only_trusted_senders_set_a_mood() {
    let dir = folder(CSV);
    let d = dir.path();
    std::fs::write(
        d.join("config.toml"),
        "helpdesk_domains = [\"zendesk.com\"]\n",
    )
    .unwrap();
    let before = std::fs::read(d.join("customers.csv")).unwrap();
    let cases = [
        (
            "spoofed-reply-to.eml",
            "From: Eve <eve@evil.example>\r\nReply-To: ann@cust.example\r\nSubject: x\r\nMessage-ID: <t1@x>\r\n\r\nTerrible, cancel.\r\n",
            Some("eve@evil.example"),
        ),
        (
            "forged-forward.eml",
            "Authentication-Results: mx.example; spf=pass smtp.mailfrom=eve@evil.example\r\nFrom: eve@evil.example\r\nSubject: Fwd: x\r\nMessage-ID: <t2@x>\r\n\r\n---------- Forwarded message ---------\r\nFrom: Bob <bob@cust.example>\r\n\r\nTerrible, cancel.\r\n",
            Some("eve@evil.example"),
        ),
        (
            "dkim-fail.eml",
            "Authentication-Results: mx.example; spf=fail smtp.mailfrom=ann@cust.example; dkim=fail header.i=@cust.example\r\nFrom: ann@cust.example\r\nSubject: x\r\nMessage-ID: <t3@x>\r\n\r\nTerrible, cancel.\r\n",
            None,
        ),
    ];
    for (name, raw, sender) in cases {
        let p = d.join(name);
        std::fs::write(&p, raw).unwrap();
        let v = parse_only(d, &p);
        assert_eq!(v["sender"].as_str(), sender, "{name}: {v}");
        let (ok, v, _) = read_mail(d, p.to_str().unwrap());
        assert!(ok, "{name}");
        assert_eq!(v["status"], "unmatched", "{name}: {v}");
    }
    assert_eq!(std::fs::read(d.join("customers.csv")).unwrap(), before);
    assert!(audit(d).is_empty());

    // A helpdesk forward, authenticated: the forwarded customer's mood is written.
    let p = d.join("helpdesk.eml");
    std::fs::write(&p, "Authentication-Results: mx.example; dkim=pass header.i=@zendesk.com; dmarc=pass header.from=zendesk.com\r\nFrom: Shop <support@shop.zendesk.com>\r\nSubject: Fwd: order\r\nMessage-ID: <t4@x>\r\n\r\n---------- Forwarded message ---------\r\nFrom: Cy <cy@cust.example>\r\n\r\nLove it, thank you!\r\n").unwrap();
    // `sender` is the first trusted candidate, in §8's order (here From); the lookup goes on to
    // the forwarded sender.
    assert_eq!(parse_only(d, &p)["sender"], "support@shop.zendesk.com");
    let (ok, v, _) = read_mail(d, p.to_str().unwrap());
    assert!(ok);
    assert_eq!(v["status"], "written", "{v}");
    assert_eq!(v["customer_id"], "C3");
}

/// Several `churn read-mail` processes at once on one folder (a mail-delivery pipe): every
/// distinct message counted exactly once, none lost, duplicates not counted again.
#[test]
fn concurrent_runs_lose_nothing_and_count_nothing_twice() {
    let dir = folder(CSV);
    let d = dir.path();
    // Ten distinct sour messages for Bob (mood 0.5), each delivered twice: twenty processes.
    let mut files = Vec::new();
    for i in 0..10 {
        files.push(eml(
            d,
            &format!("c{i}.eml"),
            "bob@cust.example",
            &format!("c{i}@x"),
            "Terrible, still broken.",
        ));
    }
    let children: Vec<_> = files
        .iter()
        .chain(files.iter())
        .map(|f| {
            crate::util::churn()
                .args(["read-mail", f, "--data", d.to_str().unwrap(), "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut written = 0;
    let mut duplicate = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        match v["status"].as_str().unwrap() {
            "written" => written += 1,
            "duplicate" => duplicate += 1,
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!((written, duplicate), (10, 10));
    let a = audit(d);
    assert_eq!(a.len(), 10, "{a:?}");
    // Each write blended the one before: the audit chain has no gap and the cell the last value.
    let afters: Vec<f64> = a
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.2).unwrap()["support_mood"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let mut mood = 0.5_f64;
    for got in &afters {
        mood = ((0.6 * mood - 0.4) * 100.0_f64).round() / 100.0;
        assert_eq!(*got, mood, "{afters:?}");
    }
    let csv = std::fs::read_to_string(d.join("customers.csv")).unwrap();
    assert!(
        csv.contains(&format!("BOB@Cust.example,{mood:.2},")),
        "{csv}"
    );
}
