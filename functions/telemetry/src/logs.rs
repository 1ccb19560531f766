//! Log formats and levels.
//!
//! Lambda's advanced logging controls filter a function's JSON lines by their `level` and
//! `timestamp` keys (a line without a valid timestamp is read as INFO), so [`JSON_LINES`] writes
//! one object per line with `timestamp` (RFC 3339), `level` and `message` first, then every
//! field of the event and of the spans it is in, at the top level (the runtime's span brings
//! the AWS `requestId`; the handler's, the route, the connection and the user).
//! [`LogSettings::lambda`] reads `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL` as Lambda
//! sets them, `RUST_LOG` where they are not set. Whatever the level, the dependencies that
//! log headers at `debug` and `trace` stay at `info` ([`streamgate_contract::logging`]).

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// One JSON object per line, or plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON lines ([`JSON_LINES`]).
    Json,
    /// Plain text, never coloured (Lambda's `Text` format).
    Text,
}

/// Which lines a process writes, and how.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// The line format.
    pub format: Format,
    /// The level per target, capped for the dependencies that log secrets.
    pub filter: Targets,
}

/// The `AWS_LAMBDA_LOG_LEVEL` names (`FATAL` is read as `ERROR`, the most severe level here).
fn lambda_level(name: &str) -> Option<Level> {
    match name.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" | "FATAL" => Some(Level::ERROR),
        _ => None,
    }
}

/// The capped dependencies, each with the most verbose level it logs at
/// ([`streamgate_contract::logging`]).
fn caps() -> impl Iterator<Item = (&'static str, Level)> {
    use streamgate_contract::logging::{CAP, CAPPED_TARGETS};
    let cap = CAP.parse().unwrap_or(Level::INFO);
    CAPPED_TARGETS.iter().map(move |t| (*t, cap))
}

/// `filter` (a Lambda function's) with the capped dependencies at most at `info`.
pub fn capped(filter: Targets) -> Targets {
    filter.with_targets(caps())
}

/// A server's filter: `RUST_LOG` (`info` when unset or unreadable) with the capped
/// dependencies at most at `info`, whatever it asks.
pub fn capped_env(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let filter = rust_log
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    caps().fold(filter, |filter, (target, level)| {
        match format!("{target}={level}").parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        }
    })
}

impl LogSettings {
    /// A Lambda function's settings: `AWS_LAMBDA_LOG_FORMAT` (`JSON`, the default, or
    /// `Text`), the level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (`level` or
    /// `target=level,...`), else `INFO`.
    pub fn lambda(lookup: &dyn Fn(&str) -> Option<String>) -> LogSettings {
        let format = match lookup("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f.trim().eq_ignore_ascii_case("text") => Format::Text,
            _ => Format::Json,
        };
        let filter = lookup("AWS_LAMBDA_LOG_LEVEL")
            .and_then(|l| lambda_level(&l))
            .map(|l| Targets::new().with_default(l))
            .or_else(|| lookup("RUST_LOG").and_then(|v| v.parse::<Targets>().ok()))
            .unwrap_or_else(|| Targets::new().with_default(Level::INFO));
        LogSettings {
            format,
            filter: capped(filter),
        }
    }
}

/// Events by the configured levels; spans at `info` whatever the level, so that a `WARN` line
/// still carries the ids of the invocation it belongs to. A layer that only filters (for the
/// whole subscriber), as `Targets` is.
pub struct EventLevels {
    events: Targets,
    spans: Targets,
}

impl EventLevels {
    /// Events filtered by `events`.
    pub fn new(events: Targets) -> EventLevels {
        let spans = events
            .clone()
            .with_default(events.default_level().map_or(Level::INFO, |l| {
                l.into_level().map_or(Level::INFO, |l| l.max(Level::INFO))
            }));
        EventLevels {
            events,
            spans: capped(spans),
        }
    }

    fn allows(&self, meta: &Metadata<'_>) -> bool {
        let filter = if meta.is_span() {
            &self.spans
        } else {
            &self.events
        };
        filter.would_enable(meta.target(), meta.level())
    }
}

impl<S: Subscriber> Layer<S> for EventLevels {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.allows(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.allows(meta)
    }
}

/// A line per event, as [`Format`] says: JSON (`timestamp`, `level`, `message`, then the
/// fields), or Lambda's `Text` format, `LEVEL message key=value ...` (the same fields, no
/// timestamp: CloudWatch stamps each line; never coloured). Spans' fields are stored by
/// [`JsonFields`].
pub struct Lines(pub Format);

/// The JSON line format.
pub const JSON_LINES: Lines = Lines(Format::Json);

/// Collects an event's fields as JSON values.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), value.to_string().into());
    }
}

/// An event as one object: `timestamp`, `level`, `message`, then its spans' fields (outer
/// first: an inner span's field of the same name wins) and its own.
fn line<S, N>(
    ctx: &FmtContext<'_, S, N>,
    event: &Event<'_>,
) -> Result<Map<String, Value>, fmt::Error>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let mut timestamp = String::new();
    SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
    let mut fields = Map::new();
    event.record(&mut Fields(&mut fields));
    let mut line = Map::new();
    line.insert("timestamp".into(), timestamp.into());
    line.insert("level".into(), event.metadata().level().as_str().into());
    line.insert(
        "message".into(),
        fields.remove("message").unwrap_or_else(|| "".into()),
    );
    if let Some(scope) = ctx.event_scope() {
        for span in scope.from_root() {
            let extensions = span.extensions();
            let Some(stored) = extensions.get::<FormattedFields<N>>() else {
                continue;
            };
            if let Ok(Value::Object(span_fields)) = serde_json::from_str(&stored.fields) {
                for (k, v) in span_fields {
                    if !matches!(k.as_str(), "timestamp" | "level" | "message") {
                        line.insert(k, v);
                    }
                }
            }
        }
    }
    for (k, v) in fields {
        if !matches!(k.as_str(), "timestamp" | "level") {
            line.insert(k, v);
        }
    }
    Ok(line)
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let line = line(ctx, event)?;
        if self.0 == Format::Json {
            return writeln!(writer, "{}", Value::Object(line));
        }
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        write!(
            writer,
            "{:<5} {}",
            text(&line["level"]),
            text(&line["message"])
        )?;
        for (k, v) in line.iter().skip(3) {
            write!(writer, " {k}={}", text(v))?;
        }
        writeln!(writer)
    }
}

/// A Lambda function's subscriber: `settings`' format and levels, writing to `writer`.
pub fn lambda_subscriber<W>(settings: LogSettings, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::registry()
        .with(EventLevels::new(settings.filter))
        .with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(Lines(settings.format))
                .with_writer(writer),
        )
}

/// Whether text to an output may be coloured: only a terminal, and never with `NO_COLOR` set
/// to anything but the empty string.
pub fn colour(is_terminal: bool, no_color: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty)
}

/// A Lambda function's logging, to standard output, from its environment
/// ([`LogSettings::lambda`]).
pub fn init_lambda() {
    let settings = LogSettings::lambda(&|name| std::env::var(name).ok());
    // Fails only when a subscriber is set already, which nothing here does.
    let _ = tracing::subscriber::set_global_default(lambda_subscriber(settings, std::io::stdout));
}
