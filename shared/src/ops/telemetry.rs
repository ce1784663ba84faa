//! Logs an on-call engineer can query: one JSON object per line with the keys of Powertools for
//! AWS Lambda (`level`, `message`, `timestamp`, `service`, `cold_start`, `function_request_id`,
//! `xray_trace_id`, `correlation_id`), then the fields of the request span and of the event.
//!
//! There is no Powertools for Rust, so this is a small `tracing_subscriber` layer. The
//! per-invocation keys are fields of the handler's `request` span; the layer flattens the fields of
//! this crate's spans onto each line, so every line of a request carries them.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// `service` when `POWERTOOLS_SERVICE_NAME` is unset: one service, five functions (the card is a
/// field of its own).
pub const DEFAULT_SERVICE: &str = "okta-event-cards";
/// The CloudWatch namespace when `POWERTOOLS_METRICS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "OktaEventCards";

/// Logging and metrics settings, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `POWERTOOLS_SERVICE_NAME`.
    pub service: String,
    /// `POWERTOOLS_METRICS_NAMESPACE`.
    pub namespace: String,
    /// An `EnvFilter` directive: `RUST_LOG` if set, else `AWS_LAMBDA_LOG_LEVEL`, else `info`.
    pub filter: String,
}

impl Settings {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let filter = get("RUST_LOG")
            .or_else(|| get("AWS_LAMBDA_LOG_LEVEL").map(|level| lambda_level(&level)))
            .unwrap_or_else(|| "info".to_owned());
        Self {
            service: get("POWERTOOLS_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE.to_owned()),
            namespace: get("POWERTOOLS_METRICS_NAMESPACE")
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            filter,
        }
    }
}

/// Lambda's levels (`TRACE` ... `FATAL`) as a tracing directive; tracing has no FATAL.
fn lambda_level(level: &str) -> String {
    match level.trim().to_ascii_lowercase().as_str() {
        "fatal" => "error".to_owned(),
        other => other.to_owned(),
    }
}

/// Installs the JSON logs on stdout (where Lambda reads them) as the process's subscriber.
pub fn init(settings: &Settings) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (a test, an embedding) keeps the first subscriber: not worth failing for.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(JsonLayer::new(&settings.service, std::io::stdout))
        .try_init();
}

/// What the Lambda runtime says about one invocation; the transport puts it on the request as an
/// extension. `serve` has none, and its lines then lack these keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub request_id: String,
    /// The whole `X-Amzn-Trace-Id` value (`Root=...;Parent=...;Sampled=...`): also what PutEvents'
    /// `TraceHeader` takes.
    pub xray_trace_id: Option<String>,
    pub cold_start: bool,
}

/// True once: for the first invocation of the process (Powertools' `cold_start`).
#[derive(Debug)]
pub struct ColdStart(AtomicBool);

impl ColdStart {
    pub const fn new() -> Self {
        Self(AtomicBool::new(true))
    }

    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

impl Default for ColdStart {
    fn default() -> Self {
        Self::new()
    }
}

/// Only this crate's spans are flattened onto lines: the runtime's own span repeats the request id
/// under another name.
const OWN_TARGET: &str = "okta_event_cards";

/// The Powertools keys in the order they are written; span and event fields follow.
const KEYS: [&str; 4] = [
    "cold_start",
    "function_request_id",
    "xray_trace_id",
    "correlation_id",
];

/// Fields of a span, kept in its extensions as they are recorded.
#[derive(Default)]
struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    fn set(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field.name(), format!("{value:?}").into());
    }
}

/// One JSON object per event, written with one `write_all` so that lines never interleave.
pub struct JsonLayer<W> {
    service: String,
    writer: W,
}

impl<W> JsonLayer<W> {
    pub fn new(service: &str, writer: W) -> Self {
        Self {
            service: service.to_owned(),
            writer,
        }
    }
}

struct Line<'a> {
    level: &'a str,
    message: Option<&'a Value>,
    timestamp: String,
    service: &'a str,
    fields: Vec<(&'static str, Value)>,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("level", self.level)?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("service", self.service)?;
        for key in KEYS {
            if let Some((_, v)) = self.fields.iter().find(|(k, _)| *k == key) {
                map.serialize_entry(key, v)?;
            }
        }
        for (k, v) in &self.fields {
            if !KEYS.contains(k) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// RFC 3339 UTC with three-digit milliseconds (`2026-11-22T13:56:01.734Z`): Lambda's log-level
/// filtering takes the timestamp only in RFC 3339.
fn rfc3339_millis(time: SystemTime) -> String {
    let time = DateTime::from(time);
    let seconds = DateTime::from_secs(time.secs())
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned());
    let millis = time.subsec_nanos() / 1_000_000;
    format!("{}.{millis:03}Z", seconds.trim_end_matches('Z'))
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if !attrs.metadata().target().starts_with(OWN_TARGET) {
            return;
        }
        if let Some(span) = ctx.span(id) {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        // Root span first, so that an inner span's field, then the event's, wins.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(own) = span.extensions().get::<Fields>() {
                    for (k, v) in &own.0 {
                        // An empty field (declared, not yet recorded) is absent, not null.
                        fields.set(k, v.clone());
                    }
                }
            }
        }
        let mut event_fields = Fields::default();
        event.record(&mut event_fields);
        let message = event_fields
            .0
            .iter()
            .position(|(k, _)| *k == "message")
            .map(|i| event_fields.0.remove(i).1);
        for (k, v) in event_fields.0 {
            fields.set(k, v);
        }
        let line = Line {
            level: event.metadata().level().as_str(),
            message: message.as_ref(),
            timestamp: rfc3339_millis(SystemTime::now()),
            service: &self.service,
            fields: fields.0,
        };
        let mut buf = Vec::with_capacity(256);
        if serde_json::to_writer(&mut buf, &line).is_ok() {
            buf.push(b'\n');
            // A log line that cannot be written is dropped: logging never fails a request.
            let _ = self.writer.make_writer().write_all(&buf);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_support::Captured;
    use tracing_subscriber::layer::SubscriberExt;

    /// A JSON-logging subscriber writing into `out`, for tests (`set_default`).
    pub(crate) fn json_logs(out: &Captured) -> impl Subscriber + Send + Sync {
        crate::test_support::every_callsite_asked();
        let writer = out.clone();
        tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("trace"))
            .with(JsonLayer::new(DEFAULT_SERVICE, move || writer.clone()))
    }

    /// Every line of `out` as a JSON object (a line that is not one fails the test).
    pub(crate) fn lines(out: &Captured) -> Vec<serde_json::Map<String, Value>> {
        out.text()
            .lines()
            .map(|l| match serde_json::from_str(l) {
                Ok(Value::Object(map)) => map,
                _ => panic!("not a JSON object: {l}"),
            })
            .collect()
    }

    #[test]
    fn a_line_has_the_powertools_keys_first_then_span_and_event_fields() {
        let out = Captured::default();
        tracing::subscriber::with_default(json_logs(&out), || {
            let span = tracing::info_span!(
                "request",
                card = "user-mfa-factor-activated",
                function_request_id = "req-1",
                xray_trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
                cold_start = true,
                correlation_id = tracing::field::Empty,
            );
            let _in = span.enter();
            tracing::info!(received = 2, "before parsing");
            span.record("correlation_id", "delivery-1");
            tracing::warn!(published = 1u64, ratio = 0.5, "after");
        });
        let text = out.text();
        let lines = lines(&out);
        assert_eq!(lines.len(), 2, "{text}");
        let keys: Vec<&str> = lines[1].keys().map(String::as_str).collect();
        // serde_json's map sorts keys: check the written order on the text itself.
        let second = text.lines().nth(1).expect("a second line");
        let order: Vec<usize> = [
            "\"level\"",
            "\"message\"",
            "\"timestamp\"",
            "\"service\"",
            "\"cold_start\"",
            "\"function_request_id\"",
            "\"xray_trace_id\"",
            "\"correlation_id\"",
            "\"card\"",
            "\"published\"",
        ]
        .iter()
        .map(|k| second.find(k).unwrap_or_else(|| panic!("{k} in {second}")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{second}");
        assert_eq!(keys.len(), 11, "{keys:?}");

        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "before parsing");
        assert_eq!(lines[0]["service"], "okta-event-cards");
        assert_eq!(lines[0]["cold_start"], true);
        assert_eq!(lines[0]["function_request_id"], "req-1");
        assert_eq!(lines[0]["received"], 2);
        assert!(
            !lines[0].contains_key("correlation_id"),
            "absent until recorded"
        );
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["correlation_id"], "delivery-1");
        assert_eq!(lines[1]["ratio"], 0.5);
        let ts = lines[1]["timestamp"].as_str().expect("timestamp");
        assert!(
            DateTime::from_str(ts, Format::DateTime).is_ok() && ts.ends_with('Z'),
            "{ts}"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_three_digit_milliseconds() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |ms: u64| rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(1_795_355_761_734), "2026-11-22T13:56:01.734Z");
        assert_eq!(at(1_795_355_761_030), "2026-11-22T13:56:01.030Z");
        assert_eq!(at(1_795_355_761_000), "2026-11-22T13:56:01.000Z");
    }

    #[test]
    fn other_crates_spans_are_not_flattened() {
        let out = Captured::default();
        tracing::subscriber::with_default(json_logs(&out), || {
            let runtime = tracing::info_span!(target: "lambda_runtime", "invoke", requestId = "r");
            let _in = runtime.enter();
            tracing::info!("inside");
        });
        let lines = lines(&out);
        assert!(!lines[0].contains_key("requestId"), "{:?}", lines[0]);
    }

    #[test]
    fn level_from_rust_log_then_lambda_then_info_and_names_from_powertools_variables() {
        let settings = |vars: &[(&str, &str)]| {
            Settings::from_lookup(|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let default = settings(&[]);
        assert_eq!(
            default,
            Settings {
                service: "okta-event-cards".into(),
                namespace: "OktaEventCards".into(),
                filter: "info".into()
            }
        );
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")]).filter,
            "debug"
        );
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).filter,
            "error"
        );
        assert_eq!(
            settings(&[
                ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
                ("RUST_LOG", "okta_event_cards=trace")
            ])
            .filter,
            "okta_event_cards=trace"
        );
        let named = settings(&[
            ("POWERTOOLS_SERVICE_NAME", "okta-hooks"),
            ("POWERTOOLS_METRICS_NAMESPACE", "Security"),
            ("RUST_LOG", " "),
        ]);
        assert_eq!(
            (named.service.as_str(), named.namespace.as_str()),
            ("okta-hooks", "Security")
        );
        assert_eq!(named.filter, "info", "an empty RUST_LOG is unset");
    }

    #[test]
    fn cold_start_is_true_for_the_first_invocation_only() {
        let cold = ColdStart::new();
        assert!(cold.take());
        assert!(!cold.take());
        assert!(!cold.take());
    }
}
