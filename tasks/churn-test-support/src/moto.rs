//! Behaves like AWS (S3, DynamoDB, Parameter Store, Secrets Manager, SES) by running moto's
//! server: started once per test binary (or `CHURN_MOTO_ENDPOINT` is used), with clients built
//! against it; run `scripts/moto-venv.sh` first. The server runs under a small shell watchdog
//! that reads our end of a pipe: when this process exits, however it exits, the pipe closes and
//! the watchdog kills moto, so no server outlives the tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use churn_aws::{AwsClients, TableNames};

pub const REGION: &str = "ap-southeast-1";

static ENDPOINT: OnceLock<Result<String, String>> = OnceLock::new();
/// The watchdog child: kept (with its stdin pipe) until the process exits.
static SERVER: Mutex<Option<Child>> = Mutex::new(None);

/// Runs moto's server (what `.venv-test/bin/moto_server` runs) with a long GIL switch interval.
/// moto applies a `TransactWriteItems` (condition checks, writes, rollback) in plain Python with no
/// lock; with the default 5 ms interval two threads of its threaded server can interleave inside
/// one transaction, which real DynamoDB (serializable transactions) never does. Pure-Python work
/// then runs without preemption, while socket I/O still releases the GIL, so requests stay
/// concurrent but each transaction is atomic, as in AWS.
const SERVER_PY: &str = "import sys; sys.setswitchinterval(100.0); \
from moto.server import main; main(sys.argv[1:])";

/// `$0` python, `$1` port, `$2` log file, `$3` the server code. Killing moto when our stdin closes.
const WATCHDOG: &str = r#"
"$0" -c "$3" -H 127.0.0.1 -p "$1" >"$2" 2>&1 </dev/null &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT HUP INT TERM
cat >/dev/null
"#;

/// The moto endpoint, starting the server on first use. Panics (never skips) when moto is not
/// installed.
pub fn endpoint() -> String {
    match ENDPOINT.get_or_init(start) {
        Ok(e) => e.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn start() -> Result<String, String> {
    if let Ok(e) = std::env::var("CHURN_MOTO_ENDPOINT")
        && !e.trim().is_empty()
    {
        return Ok(e.trim().trim_end_matches('/').to_string());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let server = root.join(".venv-test/bin/moto_server");
    let python = root.join(".venv-test/bin/python");
    if !server.exists() || !python.exists() {
        return Err(format!(
            "moto's server is not installed ({} is missing): run scripts/moto-venv.sh first, \
             or set CHURN_MOTO_ENDPOINT to a running moto server",
            server.display()
        ));
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let log = std::env::temp_dir().join(format!("churn-aws-moto-{port}.log"));
    let child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg(&python)
        .arg(port.to_string())
        .arg(&log)
        .arg(SERVER_PY)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start moto_server: {e}"))?;
    *SERVER.lock().unwrap() = Some(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http_get(&format!("127.0.0.1:{port}"), "/moto-api/data.json")
            .is_some_and(|r| r.starts_with("HTTP/1."))
        {
            return Ok(endpoint);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "moto_server did not answer on {endpoint} within 60 s (log: {})",
        log.display()
    ))
}

/// A plain HTTP/1.1 GET to `authority` (`host:port`): the whole response, head and body.
fn http_get(authority: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(authority).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// moto's whole state as JSON (`GET /moto-api/data.json`).
pub async fn moto_data() -> serde_json::Value {
    let endpoint = endpoint();
    let authority = endpoint
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let raw = tokio::task::spawn_blocking(move || http_get(&authority, "/moto-api/data.json"))
        .await
        .unwrap()
        .expect("moto answers data.json");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).expect("data.json is JSON")
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// A short unique suffix for bucket and table names, so tests run in parallel.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    churn_aws::sdk_defaults()
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .endpoint_url(endpoint())
        .load()
        .await
}

pub async fn clients() -> AwsClients {
    AwsClients::with_path_style(&sdk_config().await, true)
}

/// Creates `cp-state`, `cp-audit` and `cp-runs` with unique names, keyed as in
/// docs/aws-design.md.
pub async fn create_tables(clients: &AwsClients) -> TableNames {
    let tables = TableNames {
        state: unique("cp-state"),
        audit: unique("cp-audit"),
        runs: unique("cp-runs"),
    };
    let db = &clients.dynamodb;
    for (name, hash, range) in [
        (&tables.state, "customer_id", None),
        (&tables.audit, "customer_id", Some("ts")),
        (&tables.runs, "week", Some("owner")),
    ] {
        let mut req = db
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(hash))
            .key_schema(key(hash, KeyType::Hash));
        if let Some(range) = range {
            req = req
                .attribute_definitions(attr(range))
                .key_schema(key(range, KeyType::Range));
        }
        req.send().await.expect("create table");
    }
    tables
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap()
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}
