//! Init time of each Lambda binary: process start to its first `GET
//! /2018-06-01/runtime/invocation/next`, measured against a local Runtime API (a loopback
//! listener that records the poll and then ends the process). All clients are built by then: the
//! binaries build their `SdkConfig` and clients before `lambda_runtime::run` polls.
//!
//! Usage: `cargo run --release -p churn-lambda --example init_bench -- [--runs N] BIN...`
//! (`scripts/bench-lambda.sh` builds the release binaries and passes them all).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Environment a deployed function would have (names only; nothing here is reached: the runtime
/// API is local and the tasks make no network call before their first poll).
const ENV: &[(&str, &str)] = &[
    ("AWS_LAMBDA_FUNCTION_NAME", "init-bench"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
    ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/init-bench"),
    ("AWS_REGION", "ap-southeast-1"),
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench"),
    ("AWS_SESSION_TOKEN", "bench"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("STATE_TABLE", "cp-state"),
    ("AUDIT_TABLE", "cp-audit"),
    ("RUNS_TABLE", "cp-runs"),
    ("ORDERS_TABLE", "cp-orders"),
    ("MAIL_SEEN_TABLE", "cp-mail-seen"),
    ("SHEET_ID", "bench-sheet"),
    ("RULES_DOC_ID", "bench-rules-doc"),
    ("VOICE_DOC_ID", "bench-voice-doc"),
    ("GOOGLE_SECRET", "cp/keys#google_service_account"),
    ("LIST_BUCKET", "cp-list"),
    ("RULES_BUCKET", "cp-rules"),
    ("RUNS_BUCKET", "cp-runs-bucket"),
    ("INBOUND_BUCKET", "cp-inbound"),
    ("ORDERS_BUCKET", "cp-orders-bucket"),
    ("CONFIG_PATH", "/cp/config/"),
    ("RUST_LOG", "warn"),
];

/// One start: the time from spawn to the first poll of the runtime API.
fn one_start(bin: &str) -> Result<Duration, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let arrived = Instant::now();
            let line = first_line(&stream);
            let _ = tx.send((arrived, line));
            // Hold the connection until the process is killed: the runtime keeps polling.
            std::thread::sleep(Duration::from_secs(5));
            drop(stream);
        }
    });
    let started = Instant::now();
    let mut child = Command::new(bin)
        .envs(ENV.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{bin}: {e}"))?;
    let result = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    match result {
        Ok((arrived, line)) if line.starts_with("GET /2018-06-01/runtime/invocation/next") => {
            Ok(arrived - started)
        }
        Ok((_, line)) => Err(format!("{bin}: unexpected first request {line:?}")),
        Err(_) => Err(format!(
            "{bin}: no poll within 10 s; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

fn first_line(stream: &TcpStream) -> String {
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    line.trim_end().to_string()
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 20;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .expect("--runs N");
        args.drain(i..=i + 1);
    }
    if args.is_empty() {
        eprintln!("usage: init_bench [--runs N] BIN...");
        std::process::exit(2);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<28} {:>9} {:>9} {:>9}",
        "binary", "median", "min", "max"
    )
    .unwrap();
    let mut failed = false;
    for bin in &args {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            match one_start(bin) {
                Ok(t) => times.push(t),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                    break;
                }
            }
        }
        if times.is_empty() {
            continue;
        }
        times.sort();
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let name = std::path::Path::new(bin)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| bin.clone());
        writeln!(
            out,
            "{:<28} {:>9} {:>9} {:>9}",
            name,
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1])
        )
        .unwrap();
    }
    if failed {
        std::process::exit(1);
    }
}
