//! `churn serve [--port P]`: the outcome handler on 127.0.0.1 (for a Slack app in development and
//! the email links of local lists), the same code and paths as behind the Lambda Function URL,
//! over the data folder's `churn.db`: Slack interactivity, the Events API (the owner's Home tab,
//! owners found by the data folder's `rules.txt`) and the email links.
//!
//! Settings (environment):
//! - `SLACK_SIGNING_SECRET` (required) and, during a rotation, `SLACK_SIGNING_SECRET_PREVIOUS`.
//! - `SLACK_BOT_TOKEN` (optional): without it, Won back and Lost (their forms need `views.open`),
//!   `chat.update` and the Home tab (`views.publish`) are off; Reached out and Undo still update
//!   the row through the click's `response_url`, which needs no token.
//! - Email links: `CHURN_LINK_SECRET` if set, else the key `churn weekly` keeps in `churn.db` — the
//!   same key signs and verifies, so links in local emails work here.
//! - `CHURN_SLACK_API_URL` / `CHURN_SLACK_RESPONSE_URL_PREFIX`: another Slack API base URL and an
//!   extra allowed `response_url` prefix (local test servers only).

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use churn_core::notify::home::OwnerDirectory;
use churn_core::notify::links::LinkSigner;
use churn_core::notify::slack::{MAX_BODY_BYTES, SigningSecrets};
use churn_core::ports::PortError;
use churn_core::rules::OwnerLine;
use churn_delivery::SlackNotifier;
use churn_delivery::{RetryPolicy, SlackWeb};
use churn_local::config::Settings;
use churn_local::outcome_store::SqliteOutcomeStore;
use churn_local::store::SqliteStore;
use churn_local::weekly::link_secret;
use churn_outcome::home::Home;
use churn_outcome::{OutcomeHandler, Request, Response, SLACK_RESPONSE_URL_PREFIX};
use clap::Args;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::error::CliError;
use crate::slack_env::env;

/// `churn serve` flags.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The port on 127.0.0.1 (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The data folder (default: the current folder).
    #[arg(long, value_name = "DIR", default_value = ".")]
    data: PathBuf,
}

/// Runs the server until the process is stopped.
pub fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let Some(signing) = env("SLACK_SIGNING_SECRET") else {
        return Err(CliError(
            "churn serve needs SLACK_SIGNING_SECRET (the Slack app's Basic Information → App \
             Credentials → Signing Secret); during a rotation also SLACK_SIGNING_SECRET_PREVIOUS"
                .into(),
        ));
    };
    let signing = SigningSecrets::new(
        signing.trim(),
        env("SLACK_SIGNING_SECRET_PREVIOUS")
            .as_deref()
            .map(str::trim),
    );
    let settings = Settings::load(&args.data)?;
    let mut store = SqliteStore::open(&args.data)?;
    store.use_wal()?;
    let links = LinkSigner::new(&link_secret(&mut store)?);
    let api = match crate::slack_env::notifier_with(RetryPolicy::interactive())? {
        Some(api) => Some(api),
        None => {
            eprintln!(
                "churn serve: no SLACK_BOT_TOKEN: Won back and Lost (their forms need views.open), \
                 chat.update and the Home tab are off; Reached out and Undo still update the row \
                 through Slack's response_url."
            );
            None
        }
    };
    let store = SqliteOutcomeStore::new(store);
    // The Home tab needs views.publish, hence the token; owners come from rules.txt, read on each
    // use so an edited doc counts at once.
    let home = api.clone().map(|api| Home {
        source: store.clone(),
        owners: RulesFile(args.data.join("rules.txt")),
        slack: api,
    });
    let slack = SlackWeb::new(api, Duration::from_secs(2))?;
    let mut prefixes = vec![SLACK_RESPONSE_URL_PREFIX.to_string()];
    prefixes.extend(env("CHURN_SLACK_RESPONSE_URL_PREFIX"));
    let handler = Arc::new(
        OutcomeHandler::new(store, slack, signing, links, settings.tz.clone())
            .with_response_url_prefixes(prefixes)
            .with_home(home),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(handler, args.port))?;
    Ok(ExitCode::SUCCESS)
}

type Handler = OutcomeHandler<
    SqliteOutcomeStore,
    SlackWeb,
    Option<Home<SqliteOutcomeStore, RulesFile, SlackNotifier>>,
>;

/// The data folder's `rules.txt` as the Home tab's owner lines.
struct RulesFile(PathBuf);

impl OwnerDirectory for RulesFile {
    async fn owner_lines(&self) -> Result<Vec<OwnerLine>, PortError> {
        let path = self.0.clone();
        let text = tokio::task::spawn_blocking(move || std::fs::read_to_string(path))
            .await
            .map_err(|e| PortError::new(format!("reading rules.txt failed: {e}"), true))?
            .map_err(|e| PortError::new(format!("rules.txt cannot be read: {e}"), false))?;
        churn_core::rules::parse_rules(&text)
            .map(|r| r.owners)
            .map_err(|errors| {
                PortError::new(
                    format!("rules.txt has {} error(s); run churn check", errors.len()),
                    false,
                )
            })
    }
}

/// Connections open at once; past it (or when the process runs out of file descriptors) the
/// connection idle the longest is closed to make room.
const MAX_CONNECTIONS: usize = 512;
/// A client has this long to send a request's headers (and between requests on a kept-alive
/// connection): a half-sent request cannot hold its connection for ever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections not in the middle of a request, oldest first: the ones to close when room is
/// needed. A connection leaves while its request is answered and comes back (as the newest)
/// after.
#[derive(Default)]
struct Idle {
    next: u64,
    conns: std::collections::BTreeMap<u64, tokio::task::AbortHandle>,
    open: usize,
}

impl Idle {
    fn park(&mut self, handle: tokio::task::AbortHandle) -> u64 {
        self.next += 1;
        self.conns.insert(self.next, handle);
        self.next
    }

    /// Closes the connection idle the longest; `false` when none is idle.
    fn shed_oldest(&mut self) -> bool {
        match self.conns.pop_first() {
            Some((_, handle)) => {
                handle.abort();
                true
            }
            None => false,
        }
    }
}

type IdleConns = Arc<std::sync::Mutex<Idle>>;

fn lock(idle: &IdleConns) -> std::sync::MutexGuard<'_, Idle> {
    idle.lock().unwrap_or_else(|p| p.into_inner())
}

async fn serve(handler: Arc<Handler>, port: u16) -> std::io::Result<()> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    // Not the default backlog of 128: a burst of clicks beyond it waits a 1 s SYN retransmit.
    let listener = socket.listen(1024)?;
    let addr = listener.local_addr()?;
    println!(
        "churn serve: listening on http://{addr} (Slack interactivity: /slack/interactions, Slack events: /slack/events, email links: /o/<token>)"
    );
    std::io::stdout().flush()?;
    let idle: IdleConns = Arc::default();
    let mut backoff = Duration::ZERO;
    // Accept failures are logged at most every 10 s, with how many were not.
    let mut last_logged: Option<std::time::Instant> = None;
    let mut unlogged = 0u64;
    loop {
        if lock(&idle).open >= MAX_CONNECTIONS && !lock(&idle).shed_oldest() {
            // Every connection is mid-request: wait for one to finish.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                stream
            }
            Err(e) => {
                // Out of file descriptors (EMFILE/ENFILE) or another accept failure: make room
                // by closing the oldest idle connection, and never retry in a tight loop.
                let shed = lock(&idle).shed_oldest();
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                if last_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(error = %e, shed, unlogged, "accept failed; closing the oldest idle connection and backing off");
                    last_logged = Some(std::time::Instant::now());
                    unlogged = 0;
                } else {
                    unlogged += 1;
                }
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        spawn_connection(stream, handler.clone(), idle.clone());
    }
}

/// Serves one connection, parked in `idle` whenever it is not answering a request.
fn spawn_connection(stream: tokio::net::TcpStream, handler: Arc<Handler>, idle: IdleConns) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<u64>();
    let task_idle = idle.clone();
    let task = tokio::spawn(async move {
        let Ok(mut parked) = ready_rx.await else {
            return;
        };
        let slot = Arc::new(std::sync::Mutex::new(Some(parked)));
        let service_slot = slot.clone();
        let service_idle = task_idle.clone();
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let (handler, slot, idle) =
                (handler.clone(), service_slot.clone(), service_idle.clone());
            async move {
                // Busy: not a candidate for shedding while the request is answered.
                let handle = {
                    let mut id = slot.lock().unwrap_or_else(|p| p.into_inner());
                    id.take().and_then(|id| lock(&idle).conns.remove(&id))
                };
                let response = answer(&handler, req).await;
                if let Some(handle) = handle {
                    let id = lock(&idle).park(handle);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
                }
                Ok::<_, Infallible>(response)
            }
        });
        let _ = http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service)
            .await;
        parked = slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or(0);
        let mut idle = lock(&task_idle);
        idle.conns.remove(&parked);
        idle.open = idle.open.saturating_sub(1);
    });
    let mut guard = lock(&idle);
    guard.open += 1;
    let id = guard.park(task.abort_handle());
    drop(guard);
    let _ = ready_tx.send(id);
    let counter = idle;
    tokio::spawn(async move {
        if let Err(e) = task.await
            && e.is_cancelled()
        {
            let mut idle = lock(&counter);
            idle.open = idle.open.saturating_sub(1);
        }
    });
}

async fn answer(handler: &Handler, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    // The body is capped while it is read: a larger one is never held in memory.
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return to_hyper(&Response {
                status: 413,
                headers: vec![],
                body: String::new(),
            });
        }
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let request = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        headers,
        body,
        is_base64: false,
    };
    to_hyper(&handler.handle(request).await)
}

fn to_hyper(r: &Response) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(r.body.clone())))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}
