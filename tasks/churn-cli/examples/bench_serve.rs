//! Benchmark: `churn serve` answering 200 concurrent signed Slack clicks.
//!
//! `cargo build --release -p churn-cli && cargo run --release -p churn-cli --example bench_serve`
//!
//! Starts the release `churn serve` on a fresh data folder, then two rounds of 200 clicks, all sent
//! at once from 200 threads (one connection each): Reached out on 200 different customers (200
//! writes expected), then on one customer (1 write expected: the rest are told it was already
//! recorded). Prints p50/p99/max latency per round and checks the audit table: writes neither lost
//! nor duplicated.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use churn_core::notify::slack::sign;

const SECRET: &str = "bench-signing-secret";
const N: usize = 200;

fn body(customer: &str) -> String {
    let value = serde_json::json!({"c": customer, "w": "2026-W48", "v": "r1"}).to_string();
    let p = serde_json::json!({
        "type": "block_actions", "user": {"id": "U1", "username": "bench"}, "trigger_id": "t",
        "container": {"channel_id": "D1", "message_ts": "1.2"},
        "message": {"blocks": [{"type": "actions", "block_id": "c:x", "elements": [
            {"type": "button", "action_id": "reached_out", "value": value}]}]},
        "actions": [{"action_id": "reached_out", "value": value}]
    });
    let enc: String = p
        .to_string()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("payload={enc}")
}

fn post(addr: &str, body: &str) -> (u16, Duration) {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let req = format!(
        "POST /slack/interactions HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nX-Slack-Request-Timestamp: {ts}\r\n\
         X-Slack-Signature: {}\r\nContent-Length: {}\r\n\r\n{body}",
        sign(SECRET.as_bytes(), ts, body.as_bytes()),
        body.len()
    );
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let elapsed = start.elapsed();
    (
        out.split_whitespace().nth(1).unwrap().parse().unwrap(),
        elapsed,
    )
}

fn round(addr: &str, bodies: Vec<String>) -> Vec<Duration> {
    let barrier = Arc::new(Barrier::new(bodies.len()));
    let threads: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let (addr, barrier) = (addr.to_string(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                post(&addr, &b)
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in threads {
        let (status, d) = t.join().unwrap();
        assert_eq!(status, 200);
        times.push(d);
    }
    times.sort();
    times
}

fn pct(times: &[Duration], p: f64) -> f64 {
    let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
    times[i].as_secs_f64() * 1000.0
}

fn main() {
    let exe = std::env::current_exe().unwrap();
    let churn = exe.parent().unwrap().parent().unwrap().join("churn");
    assert!(
        churn.exists(),
        "build it first: cargo build --release -p churn-cli"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(&churn)
        .args([
            "serve",
            "--port",
            "0",
            "--data",
            dir.path().to_str().unwrap(),
        ])
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env_remove("SLACK_BOT_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Warm up (first connection, the database's first write).
    post(&addr, &body("warmup"));

    let distinct = round(&addr, (0..N).map(|i| body(&format!("C{i:04}"))).collect());
    let same = round(&addr, (0..N).map(|_| body("SAME")).collect());
    let _ = child.kill();
    let _ = child.wait();

    let db = rusqlite::Connection::open(dir.path().join("churn.db")).unwrap();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let distinct_rows =
        count("SELECT COUNT(*) FROM audit WHERE customer_id LIKE 'C%' AND action = 'reached_out'");
    let distinct_customers =
        count("SELECT COUNT(DISTINCT customer_id) FROM audit WHERE customer_id LIKE 'C%'");
    let same_rows = count("SELECT COUNT(*) FROM audit WHERE customer_id = 'SAME'");
    for (name, t) in [("200 customers", &distinct), ("one customer", &same)] {
        println!(
            "{name:>14}: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            pct(t, 0.50),
            pct(t, 0.99),
            pct(t, 1.0)
        );
    }
    println!(
        "writes: {distinct_rows} rows for 200 customers ({distinct_customers} distinct), {same_rows} for one customer clicked 200 times"
    );
    assert_eq!(
        (distinct_rows, distinct_customers, same_rows),
        (N as i64, N as i64, 1)
    );
    println!("ok: no write lost or duplicated");
}
