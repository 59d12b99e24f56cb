//! The thin entry point every task shares: logs as Lambda's logging controls say, then either the
//! Lambda runtime loop or, with `--invoke`, one event from stdin to stdout (how the tests' Step Functions harness runs tasks,
//! and `cargo lambda invoke`-free local runs).

use std::future::Future;
use std::io::Read;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Instrument, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use crate::error::TaskError;

/// Logs as Lambda's logging controls say (docs/SPEC.md §4): the level from
/// `AWS_LAMBDA_LOG_LEVEL` (the template's `ApplicationLogLevel`, or the console's setting; default
/// INFO), with `RUST_LOG` directives, when set, taking precedence; JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON`, plain text otherwise — as the runtime's own
/// `lambda_runtime::tracing::init_default_subscriber` decides. Every line of an invocation carries
/// `request_id` and `cold_start` as top-level fields (see [`invocation_span`]).
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let format = std::env::var("AWS_LAMBDA_LOG_FORMAT").ok();
    let _ = tracing::subscriber::set_global_default(subscriber(
        level.as_deref(),
        rust_log.as_deref(),
        format.as_deref(),
        std::io::stderr,
    ));
}

/// The log filter: `RUST_LOG`'s directives (`level` or `target=level`, comma-separated; invalid
/// ones are ignored) over a default level from `AWS_LAMBDA_LOG_LEVEL`. Lambda's levels are TRACE,
/// DEBUG, INFO, WARN, ERROR and FATAL (read as ERROR); anything else is INFO.
/// `Targets` rather than `EnvFilter`: the latter's span and field matching links a regex engine
/// into every function (about 0.3 MB of each zip) for directives no one sets here.
pub fn log_filter(aws_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let level = match aws_level.map(|l| l.trim().to_ascii_uppercase()).as_deref() {
        Some("TRACE") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("WARN") => LevelFilter::WARN,
        Some("ERROR") | Some("FATAL") => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    };
    let mut filter = Targets::new().with_default(level);
    let directives = rust_log.unwrap_or_default().split(',').map(str::trim);
    for directive in directives.filter(|d| !d.is_empty()) {
        // One directive at a time, so one bad directive does not drop the others.
        let Ok(parsed) = directive.parse::<Targets>() else {
            continue;
        };
        if let Some(default) = parsed.default_level() {
            filter = filter.with_default(default);
        }
        filter = filter.with_targets(parsed);
    }
    filter
}

/// The subscriber [`init_tracing`] installs, writing to `writer` (tests capture it).
pub fn subscriber<W>(
    aws_level: Option<&str>,
    rust_log: Option<&str>,
    aws_format: Option<&str>,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = log_filter(aws_level, rust_log);
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer)
        .with_ansi(false);
    if aws_format.is_some_and(|f| f.trim().eq_ignore_ascii_case("json")) {
        Box::new(
            builder
                .fmt_fields(JsonFields::new())
                .event_format(JsonLine)
                .finish()
                .with(filter),
        )
    } else {
        // Lambda stamps text lines with the time and the request id itself.
        Box::new(builder.without_time().finish().with(filter))
    }
}

/// Whether the process has not served an invocation yet.
static COLD: AtomicBool = AtomicBool::new(true);

/// The span an invocation runs in: its fields are top-level fields of every JSON line logged
/// inside it. `cold_start` is true for the first invocation of the process only.
pub fn invocation_span(request_id: &str) -> tracing::Span {
    let cold_start = COLD.swap(false, Ordering::Relaxed);
    tracing::info_span!("invocation", request_id = %request_id, cold_start)
}

/// One JSON object a line: `timestamp`, `level`, `target`, then the fields of the spans the event
/// is in (outermost first) and of the event itself, all at the top level (`message` included).
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            jiff::Timestamp::now().to_string().into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                // Span fields are formatted by `JsonFields`: a JSON object.
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str(&fields.fields)
                {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| std::fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Records an event's fields into the line's object.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// Runs `handler` for every event (Lambda), or once for the event on stdin (`--invoke`).
pub async fn run<F, Fut, R>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<R, TaskError>>,
    R: Serialize,
{
    if std::env::args().any(|a| a == "--invoke") {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        let event: Value = if input.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(&input)?
        };
        // One event, one process: always a cold start; no Lambda request id to carry.
        match handler(event).instrument(invocation_span("local")).await {
            Ok(out) => {
                println!("{}", serde_json::to_string(&out)?);
                Ok(())
            }
            Err(e) => {
                println!(
                    "{}",
                    serde_json::json!({"errorType": e.kind, "errorMessage": e.message})
                );
                std::process::exit(1);
            }
        }
    } else {
        lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
            let span = invocation_span(&event.context.request_id);
            handler(event.payload).instrument(span)
        }))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer the tests read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    /// Logs one line at each level inside invocations, as `subscriber(level, rust_log, format)`.
    fn logged(level: Option<&str>, rust_log: Option<&str>, format: Option<&str>) -> String {
        let out = Captured::default();
        let sub = subscriber(level, rust_log, format, out.clone());
        tracing::subscriber::with_default(sub, || {
            for id in ["req-1", "req-2"] {
                let _in = tracing::info_span!(
                    "invocation",
                    request_id = %id,
                    cold_start = id == "req-1"
                )
                .entered();
                tracing::debug!(owners = 3, "debug line");
                tracing::info!(owners = 3, "info line");
                tracing::warn!("warn line");
                tracing::error!("error line");
            }
        });
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn the_level_comes_from_aws_lambda_log_level() {
        let warn = logged(Some("WARN"), None, Some("JSON"));
        assert!(
            !warn.contains("info line") && !warn.contains("debug line"),
            "{warn}"
        );
        assert!(
            warn.contains("warn line") && warn.contains("error line"),
            "{warn}"
        );
        let debug = logged(Some("debug"), None, Some("JSON"));
        assert!(debug.contains("debug line"), "{debug}");
        let fatal = logged(Some("FATAL"), None, Some("JSON"));
        assert!(
            !fatal.contains("warn line") && fatal.contains("error line"),
            "{fatal}"
        );
        let default = logged(None, None, Some("JSON"));
        assert!(
            !default.contains("debug line") && default.contains("info line"),
            "{default}"
        );
    }

    #[test]
    fn rust_log_overrides_the_lambda_level() {
        let out = logged(Some("ERROR"), Some("debug"), Some("JSON"));
        assert!(out.contains("debug line"), "{out}");
        let out = logged(Some("DEBUG"), Some("error"), Some("JSON"));
        assert!(
            !out.contains("warn line") && out.contains("error line"),
            "{out}"
        );
    }

    #[test]
    fn rust_log_directives_name_targets_and_a_bad_one_is_ignored() {
        let here = module_path!();
        let out = logged(
            Some("ERROR"),
            Some(&format!("x=y=z,{here}=warn")),
            Some("JSON"),
        );
        assert!(
            out.contains("warn line") && !out.contains("info line"),
            "{out}"
        );
        let out = logged(Some("INFO"), Some("other_crate=trace"), Some("JSON"));
        assert!(
            !out.contains("debug line") && out.contains("info line"),
            "{out}"
        );
    }

    #[test]
    fn json_lines_carry_the_request_id_and_cold_start_at_the_top_level() {
        let out = logged(Some("INFO"), None, Some("JSON"));
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        assert_eq!(lines.len(), 6, "{out}");
        for line in &lines[..3] {
            assert_eq!(line["request_id"], "req-1", "{line}");
            assert_eq!(line["cold_start"], true, "{line}");
        }
        for line in &lines[3..] {
            assert_eq!(line["request_id"], "req-2", "{line}");
            assert_eq!(line["cold_start"], false, "{line}");
        }
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "info line");
        assert_eq!(lines[0]["owners"], 3);
        assert!(lines[0].get("fields").is_none() && lines[0].get("span").is_none());
    }

    #[test]
    fn text_unless_the_format_is_json() {
        for format in [None, Some("Text"), Some("TEXT")] {
            let out = logged(None, None, format);
            assert!(out.lines().count() == 6, "{out}");
            for line in out.lines() {
                assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");
                assert!(line.contains("request_id=req-"), "{line}");
                assert!(line.contains("cold_start="), "{line}");
            }
        }
        let json = logged(None, None, Some("json"));
        assert!(
            json.lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok())
        );
    }

    #[test]
    fn only_the_first_invocation_is_a_cold_start() {
        let out = Captured::default();
        let sub = subscriber(None, None, Some("JSON"), out.clone());
        tracing::subscriber::with_default(sub, || {
            for id in ["a", "b", "c"] {
                let _in = invocation_span(id).entered();
                tracing::info!("handled");
            }
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let cold: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["cold_start"].clone())
            .collect();
        assert_eq!(cold, [true, false, false], "{text}");
    }
}
