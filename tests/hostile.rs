//! What an attacker or a careless admin does: idle, half-sent connections past `churn serve`'s
//! file limit (a genuine click must still be answered, and the server must not spin logging
//! accept errors), output piped into `head`, blank secrets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use churn_core::notify::links::{LinkAction, LinkClaims, LinkSigner};

use crate::util::*;

#[test]
fn a_genuine_click_is_answered_within_a_second_while_200_idle_connections_are_open() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let churn_bin = churn().get_program().to_owned();
    // A low file limit, as on a small box: 200 idle connections are more than it allows.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 96 && exec \"$0\" serve --port 0 --data \"$1\"")
        .arg(&churn_bin)
        .arg(dir.path())
        .env("SLACK_SIGNING_SECRET", "limits-secret")
        .env_remove("SLACK_BOT_TOKEN")
        .env("CHURN_LINK_SECRET", "limits-link-key")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = serve_address(&mut child);

    let idle: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /slack/interactions HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let token = LinkSigner::new(b"limits-link-key").sign(&LinkClaims {
        customer_id: "C1".into(),
        action: LinkAction::ReachedOut,
        owner: "alex@shop.example".into(),
        expires: jiff::Timestamp::now().as_second() + 3600,
    });
    let started = Instant::now();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /o/{token} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let took = started.elapsed();
    assert!(out.starts_with("HTTP/1.1 200"), "{out:.200}");
    assert!(took < Duration::from_secs(1), "answered after {took:?}");
    drop(idle);

    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log_lines = String::from_utf8_lossy(&out.stderr).lines().count();
    assert!(
        log_lines < 50,
        "{log_lines} log lines: the accept loop must back off"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `churn score … | head -1`: the reader leaves after one line.
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let mut child = churn()
        .args([
            "demo-data",
            "--customers",
            "6000",
            "--owners",
            "6",
            "--seed",
            "1",
            "--out",
        ])
        .arg(dir.path().join("big"))
        .output()
        .unwrap();
    assert!(child.status.success(), "{}", stderr(&child));
    let big = dir.path().join("big");
    let mut score = churn()
        .args(["score", "--customers"])
        .arg(big.join("customers.csv"))
        .arg("--rules")
        .arg(big.join("rules.txt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(score.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The pipe's reader is gone now.
    child = score.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&child.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert!(!first.is_empty());

    // The same for text printed line by line (`churn weekly | head -1`), with more output than
    // a pipe holds.
    let rules = std::fs::read_to_string(big.join("rules.txt")).unwrap();
    let rules: String = rules
        .lines()
        .map(|l| {
            if l.starts_with("weekly cap") {
                "weekly cap: 50"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(big.join("rules.txt"), rules).unwrap();
    let mut demo = churn()
        .args(["weekly", "--dry-run", "--as-of", "2026-11-23", "--data"])
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(demo.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let out = demo.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(
        out.status.code(),
        Some(141),
        "ended as a closed pipe ends a Unix tool"
    );
}

#[test]
fn a_blank_link_key_or_signing_secret_is_refused_at_start() {
    let dir = folder(SMALL_LIST, SMALL_RULES, None);
    let d = dir.path().to_str().unwrap();
    let out = churn()
        .args(["weekly", "--data", d, "--as-of", "2026-11-23"])
        .env("CHURN_LINK_SECRET", "  \n")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("CHURN_LINK_SECRET is empty (or only whitespace)"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("outbox").exists(), "nothing sent");

    let out = churn()
        .args(["serve", "--port", "0", "--data", d])
        .env("SLACK_SIGNING_SECRET", " \t ")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SLACK_SIGNING_SECRET"),
        "{}",
        stderr(&out)
    );

    // A key pasted with a newline signs and checks as the same key.
    let out = churn()
        .args(["weekly", "--data", d, "--as-of", "2026-11-23"])
        .env("CHURN_LINK_SECRET", "limits-link-key\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mail = std::fs::read_to_string(
        dir.path()
            .join("outbox/2026-W48/sam@shop.example.email.txt"),
    )
    .unwrap();
    let token = mail
        .split("/o/")
        .nth(1)
        .and_then(|t| t.split(|c: char| c.is_whitespace() || c == ')').next())
        .unwrap_or_else(|| panic!("no link in {mail}"));
    LinkSigner::new(b"limits-link-key")
        .verify(token, jiff::Timestamp::now().as_second())
        .expect("the link checks with the trimmed key");
}
