//! The Lambda entry: API Gateway events (HTTP API 2.0 and REST 1.0) to the handler and back.
//!
//! `lambda_http::run` would convert the event itself, but two inputs make that conversion panic,
//! and with `panic = "abort"` a panic kills the function:
//! - a body marked base64 that does not decode (`Body::from_maybe_encoded` `expect`s);
//! - a Host, path, stage or query that does not form a URL (`build_request_uri` `unwrap`s, and
//!   the request builder `expect`s). Found by the `apigw` fuzz target.
//!
//! So the event is parsed here (the same parse lambda_http does), the undecodable body is taken
//! out, and the parts that only build the request's URI are made plain before `lambda_http`'s own
//! conversion runs: the handler never reads the URI (one function per card), and the Host header,
//! which the card's Headers field shows, is put back afterwards.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http::header::HOST;
use http_body::{Body, Frame};
use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use lambda_http::request::{LambdaRequest, RequestContext};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::http::{Arrival, Handler, SourceAddress};
use crate::ops::telemetry::{ColdStart, Invocation};
use crate::publish::{FailureQueue, Publisher};

/// The first invocation of this process is its cold start.
static COLD_START: ColdStart = ColdStart::new();

/// Runs the Lambda runtime loop with this handler (what each function's `main` calls).
pub async fn run<P: Publisher, Q: FailureQueue>(
    handler: &Handler<P, Q>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        let invocation = invocation(&event.context, COLD_START.take());
        invoke_with(handler, event.payload, Some(invocation))
    }))
    .await
}

/// The runtime's context of one invocation, as the handler logs it and traces the entries with.
pub fn invocation(context: &lambda_runtime::Context, cold_start: bool) -> Invocation {
    Invocation {
        request_id: context.request_id.clone(),
        xray_trace_id: context.xray_trace_id.clone().filter(|t| !t.is_empty()),
        cold_start,
    }
}

/// One invocation: the API Gateway event's JSON in, the proxy response out. An event that is not
/// an API Gateway event is an invocation error, as with `lambda_http`.
pub async fn invoke<P: Publisher, Q: FailureQueue>(
    handler: &Handler<P, Q>,
    event: Box<RawValue>,
) -> Result<ProxyResponse, lambda_runtime::Error> {
    invoke_with(handler, event, None).await
}

/// [`invoke`] with the runtime's view of the invocation, handed to the handler as an extension.
pub async fn invoke_with<P: Publisher, Q: FailureQueue>(
    handler: &Handler<P, Q>,
    event: Box<RawValue>,
    invocation: Option<Invocation>,
) -> Result<ProxyResponse, lambda_runtime::Error> {
    let mut event: LambdaRequest = serde_json::from_str(event.get())?;
    let undecodable = take_undecodable_body(&mut event);
    let host = take_url_parts(&mut event);
    let mut request = http::Request::from(event);
    if let Some(host) = host {
        request.headers_mut().insert(HOST, host);
    }
    if let Some(invocation) = invocation {
        request.extensions_mut().insert(invocation);
    }
    // The budget counts from when API Gateway received the request.
    if let Some(arrival) = gateway_arrival(request.extensions()) {
        request.extensions_mut().insert(arrival);
    }
    if let Some(source) = gateway_source(request.extensions()) {
        request.extensions_mut().insert(source);
    }
    let response = if undecodable {
        handler.handle(request.map(|_| NotBase64)).await
    } else {
        handler.handle(request).await
    };
    Ok(ProxyResponse::from(response))
}

/// API Gateway's receipt time (HTTP API or REST), as an [`Arrival`] on this clock. A clock that
/// disagrees by more than Okta's time is ignored rather than trusted.
fn gateway_arrival(extensions: &http::Extensions) -> Option<Arrival> {
    let epoch_ms = match extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => context.time_epoch,
        RequestContext::ApiGatewayV1(context) => context.request_time_epoch,
        _ => return None,
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis();
    let age = Duration::from_millis(
        u64::try_from(now_ms.checked_sub(u128::try_from(epoch_ms).ok()?)?).ok()?,
    );
    if age > Duration::from_secs(3) {
        return None;
    }
    tokio::time::Instant::now().checked_sub(age).map(Arrival)
}

/// The address API Gateway received the request from (`requestContext.http.sourceIp`, or
/// `requestContext.identity.sourceIp` for REST): the TCP peer it saw, not a header a client can
/// set. None when missing or not an address, which `ALLOWED_SOURCE_CIDRS` then refuses.
fn gateway_source(extensions: &http::Extensions) -> Option<SourceAddress> {
    let source = match extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
        _ => None,
    };
    source?.parse().ok().map(SourceAddress)
}

/// When the body is marked base64 and does not decode, removes it and says so.
fn take_undecodable_body(event: &mut LambdaRequest) -> bool {
    let (encoded, body) = match event {
        LambdaRequest::ApiGatewayV1(r) => (&mut r.is_base64_encoded, &mut r.body),
        LambdaRequest::ApiGatewayV2(r) => (&mut r.is_base64_encoded, &mut r.body),
        _ => return false,
    };
    let undecodable = *encoded
        && body.as_deref().is_some_and(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .is_err()
        });
    if undecodable {
        *encoded = false;
        *body = None;
    }
    undecodable
}

/// Leaves lambda_http a URI it cannot fail on: no host (so a relative URI), and a path, stage and
/// raw query kept only when made of characters any URI takes. Returns the Host header to restore.
/// REST 1.0 query parameters need nothing: lambda_http form-encodes them.
fn take_url_parts(event: &mut LambdaRequest) -> Option<http::HeaderValue> {
    fn plain(text: &str, extra: &[u8]) -> bool {
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b) || extra.contains(&b))
    }
    fn path(path: &mut Option<String>) {
        // A path that does not start with "/" would be read as part of the host.
        if !path
            .as_deref()
            .is_none_or(|p| p.starts_with('/') && plain(p, b""))
        {
            *path = Some("/".into());
        }
    }
    fn stage(stage: &mut Option<String>) {
        if !stage.as_deref().is_none_or(|s| plain(s, b"$")) {
            *stage = None;
        }
    }
    match event {
        LambdaRequest::ApiGatewayV1(r) => {
            r.request_context.domain_name = None;
            path(&mut r.path);
            stage(&mut r.request_context.stage);
            let single = r.headers.remove(HOST);
            let multi = r.multi_value_headers.remove(HOST);
            single.or(multi)
        }
        LambdaRequest::ApiGatewayV2(r) => {
            r.request_context.domain_name = None;
            path(&mut r.raw_path);
            stage(&mut r.request_context.stage);
            if !r
                .raw_query_string
                .as_deref()
                .is_none_or(|q| plain(q, b"=&%+,"))
            {
                r.raw_query_string = None;
            }
            r.headers.remove(HOST)
        }
        _ => None,
    }
}

/// A body whose only frame is an error: what the handler reads for an undecodable base64 body.
struct NotBase64;

#[derive(Debug, thiserror::Error)]
#[error("it is marked base64-encoded but is not valid base64")]
struct NotBase64Error;

impl Body for NotBase64 {
    type Data = Bytes;
    type Error = NotBase64Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, NotBase64Error>>> {
        Poll::Ready(Some(Err(NotBase64Error)))
    }
}

/// The response both API Gateway payload versions accept. Ours carry at most two single-valued
/// headers and a UTF-8 body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
}

impl From<http::Response<String>> for ProxyResponse {
    fn from(response: http::Response<String>) -> Self {
        let (parts, body) = response.into_parts();
        Self {
            status_code: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            body,
            is_base64_encoded: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::{Card, CARDS, USER_MFA_FACTOR_ACTIVATED};
    use crate::config::Config;
    use crate::test_support::InMemoryPublisher;
    use std::sync::Arc;

    /// The `events/` files carry it.
    const SECRET: &str = crate::test_support::EVENTS_SECRET;

    type Published = Arc<InMemoryPublisher>;

    fn handler(card: &'static Card) -> (Handler<Published>, Published) {
        let config =
            Config::from_lookup(|name| (name == "OKTA_HOOK_SECRET").then(|| SECRET.to_owned()))
                .expect("config");
        let published = Arc::new(InMemoryPublisher::new());
        (Handler::new(card, &config, published.clone()), published)
    }

    fn events_file(slug: &str, name: &str) -> String {
        let path = format!("{}/../events/{slug}/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// An `events/` file with its body replaced, still marked base64.
    fn with_body(event: &str, body: &str) -> Box<RawValue> {
        let mut v: serde_json::Value = serde_json::from_str(event).expect("event JSON");
        v["body"] = body.into();
        RawValue::from_string(v.to_string()).expect("JSON")
    }

    async fn invoked(h: &Handler<Published>, event: Box<RawValue>) -> (u16, serde_json::Value) {
        let r = invoke(h, event).await.expect("an API Gateway event");
        assert_eq!(r.headers["content-type"], "application/json");
        (
            r.status_code,
            serde_json::from_str(&r.body).expect("JSON body"),
        )
    }

    async fn invoked_raw(h: &Handler<Published>, event: Box<RawValue>) -> (u16, String) {
        let r = invoke(h, event).await.expect("an API Gateway event");
        (r.status_code, r.body)
    }

    #[tokio::test]
    async fn a_base64_body_that_does_not_decode_is_400_not_a_crash() {
        let event = events_file("user-mfa-factor-activated", "delivery-base64.json");
        for body in ["not base64!", "eyJ", "=====", "e30=\n", "ZXlK*"] {
            let (h, published) = handler(&USER_MFA_FACTOR_ACTIVATED);
            let (status, json) = invoked(&h, with_body(&event, body)).await;
            assert_eq!(status, 400, "{body:?}");
            let error = json["error"].as_str().expect("error");
            assert!(error.contains("not valid base64"), "{error}");
            assert!(published.entries().is_empty());
        }
    }

    /// Why this module exists: if lambda_http stops panicking here, the probe can go.
    #[test]
    fn lambda_http_alone_panics_on_such_a_body() {
        let event = events_file("user-mfa-factor-activated", "delivery-base64.json");
        let event = with_body(&event, "not base64!");
        let converted = std::panic::catch_unwind(|| lambda_http::request::from_str(event.get()));
        assert!(converted.is_err(), "lambda_http no longer panics");
    }

    #[tokio::test]
    async fn a_rest_api_event_with_an_undecodable_body_is_400() {
        let path = format!(
            "{}/fixtures/apigw/rest-v1-user-mfa-factor-activated-delivery.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
        v["isBase64Encoded"] = true.into();
        v["body"] = "%%%".into();
        let (h, _) = handler(&USER_MFA_FACTOR_ACTIVATED);
        let (status, _) = invoked(&h, RawValue::from_string(v.to_string()).expect("JSON")).await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn the_secret_is_still_checked_before_the_body() {
        let event = events_file("user-mfa-factor-activated", "wrong-secret.json");
        let mut v: serde_json::Value = serde_json::from_str(&event).expect("JSON");
        v["isBase64Encoded"] = true.into();
        v["body"] = "not base64!".into();
        let (h, _) = handler(&USER_MFA_FACTOR_ACTIVATED);
        let (status, _) = invoked(&h, RawValue::from_string(v.to_string()).expect("JSON")).await;
        assert_eq!(status, 401);
    }

    #[tokio::test]
    async fn not_an_api_gateway_event_is_an_invocation_error() {
        let (h, _) = handler(&USER_MFA_FACTOR_ACTIVATED);
        let event = RawValue::from_string(r#"{"hello":"world"}"#.into()).expect("JSON");
        assert!(invoke(&h, event).await.is_err());
    }

    /// `events/` delivery with one field changed (a JSON pointer and its new value).
    fn delivery_with(card: &Card, changes: &[(&str, serde_json::Value)]) -> Box<RawValue> {
        let mut v: serde_json::Value =
            serde_json::from_str(&events_file(card.slug, "delivery.json")).expect("JSON");
        for (pointer, value) in changes {
            *v.pointer_mut(pointer).expect(pointer) = value.clone();
        }
        RawValue::from_string(v.to_string()).expect("JSON")
    }

    /// Inputs that make lambda_http's URI building panic (the first found by the `apigw` fuzz
    /// target): each is an ordinary delivery here, published with its Host header intact.
    #[tokio::test]
    async fn hosts_paths_stages_and_queries_that_make_no_url_are_still_delivered() {
        let card = &USER_MFA_FACTOR_ACTIVATED;
        // (field, value, whether lambda_http alone panics on it)
        let cases: [(&str, serde_json::Value, bool); 8] = [
            ("/headers/host", "example.com:99999".into(), true),
            ("/headers/host", "1.2.3.999".into(), true),
            ("/rawPath", ":99999".into(), true),
            ("/rawPath", "/okta/a#b".into(), false),
            ("/rawPath", "/okta/a b".into(), false),
            ("/requestContext/stage", "a#b".into(), false),
            ("/requestContext/stage", "a b".into(), false),
            ("/rawQueryString", "a=\"b c\"#".into(), true),
        ];
        let (h, baseline) = handler(card);
        let (status, _) = invoked_raw(&h, delivery_with(card, &[])).await;
        assert_eq!(status, 200);
        let expected = baseline.entries().len();
        assert!(expected > 0);
        for (pointer, value, panics_alone) in cases {
            let event = delivery_with(card, &[(pointer, value.clone())]);
            let text = event.get().to_owned();
            let alone = std::panic::catch_unwind(|| lambda_http::request::from_str(&text));
            // The table keeps itself honest: a case lambda_http stops panicking on says so.
            assert_eq!(
                alone.is_err(),
                panics_alone,
                "lambda_http alone: {pointer} {value}"
            );
            let (h, published) = handler(card);
            let (status, _) = invoked_raw(&h, event).await;
            assert_eq!(status, 200, "{pointer} {value}");
            let entries = published.entries();
            assert_eq!(entries.len(), expected, "{pointer} {value}");
            let detail: serde_json::Value =
                serde_json::from_str(entries[0].detail.as_str()).expect("detail");
            let host = detail["headers"]["host"].as_str().expect("the Host header");
            if pointer == "/headers/host" {
                assert_eq!(host, value.as_str().expect("text"));
            } else {
                assert_eq!(host, "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com");
            }
        }
    }

    /// A REST API event's Host in its multi-value headers comes back too.
    #[tokio::test]
    async fn a_rest_api_host_that_makes_no_url_is_delivered() {
        let path = format!(
            "{}/fixtures/apigw/rest-v1-user-mfa-factor-activated-delivery.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
        v["headers"]["Host"] = "bad host:1".into();
        v["multiValueHeaders"]["Host"] = serde_json::json!(["bad host:1"]);
        v["path"] = ":99999".into();
        let (h, published) = handler(&USER_MFA_FACTOR_ACTIVATED);
        let (status, _) =
            invoked_raw(&h, RawValue::from_string(v.to_string()).expect("JSON")).await;
        assert_eq!(status, 200);
        let detail: serde_json::Value =
            serde_json::from_str(published.entries()[0].detail.as_str()).expect("detail");
        assert_eq!(detail["headers"]["host"], "bad host:1");
    }

    const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
    const TRACE: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn lambda_invocation(cold_start: bool) -> Invocation {
        let mut context = lambda_runtime::Context::default();
        context.request_id = REQUEST_ID.into();
        context.xray_trace_id = Some(TRACE.into());
        invocation(&context, cold_start)
    }

    /// A handler with JSON logs and metrics captured, as the functions run it.
    struct Observed {
        handler: Handler<Published>,
        published: Published,
        logs: crate::test_support::Captured,
        metrics: crate::test_support::Captured,
    }

    fn observed(card: &'static Card) -> Observed {
        let (handler, published) = handler(card);
        let metrics = crate::test_support::Captured::default();
        let settings = crate::ops::telemetry::Settings::from_lookup(|_| None);
        let sink = crate::ops::emf::Sink::new(Box::new(metrics.clone()));
        Observed {
            handler: handler.with_metrics(crate::ops::metrics::Metrics::new(&settings, sink)),
            published,
            logs: crate::test_support::Captured::default(),
            metrics,
        }
    }

    type Object = serde_json::Map<String, serde_json::Value>;

    fn json_lines(text: &str) -> Vec<Object> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// What must never be in a log or metrics line: the secret, body content, personal fields of
    /// the events (alternateId, displayName, IP addresses) and the caller's IP.
    fn assert_nothing_private(text: &str) {
        for private in [
            &SECRET[6..],
            "Activate factor for user",
            "EMAIL_FACTOR",
            "aps@google.com",
            "avery.chen@example.com",
            "Avery Chen",
            "Okta Verify",
            "54.71.214.179",
            "192.0.2.44",
            "1.1.1.1",
            "2.2.2.2",
        ] {
            assert!(!text.contains(private), "{private:?} in:\n{text}");
        }
    }

    /// `events/<card>/delivery.json` through the Lambda entry with JSON logs and metrics captured:
    /// the log text, the metrics text, and the published entries.
    async fn observed_delivery(
        card: &'static Card,
    ) -> (String, String, Vec<crate::publish::Entry>) {
        let o = observed(card);
        let event = RawValue::from_string(events_file(card.slug, "delivery.json")).expect("JSON");
        let response = {
            let _logging =
                tracing::subscriber::set_default(crate::ops::telemetry::tests::json_logs(&o.logs));
            invoke_with(&o.handler, event, Some(lambda_invocation(true)))
                .await
                .expect("an API Gateway event")
        };
        assert_eq!(response.status_code, 200);
        (o.logs.text(), o.metrics.text(), o.published.entries())
    }

    #[tokio::test]
    async fn a_delivery_yields_the_documented_log_and_metric_lines() {
        let (logs, metrics, entries) = observed_delivery(&USER_MFA_FACTOR_ACTIVATED).await;

        // Every entry carries the invocation's trace header, for PutEvents' TraceHeader.
        assert_eq!(entries.len(), 2);
        assert!(entries
            .iter()
            .all(|e| e.trace_header.as_deref() == Some(TRACE)));

        let lines = json_lines(&logs);
        // The events/ delivery holds a user.session.start on purpose: one WARN names it, then the
        // summary line.
        assert_eq!(lines.len(), 2, "a WARN and one summary line:\n{logs}");
        let warn = &lines[0];
        assert_eq!(warn["level"], "WARN");
        assert_eq!(warn["ignored_types"], "user.session.start (no card)");
        assert_eq!(
            warn["correlation_id"],
            "a5886327-98d2-4431-baa6-5893674d19e4"
        );
        let summary = &lines[1];
        let keys: Vec<&str> = summary.keys().map(String::as_str).collect();
        let mut expected = vec![
            "level",
            "message",
            "timestamp",
            "service",
            "cold_start",
            "function_request_id",
            "xray_trace_id",
            "correlation_id",
            "card",
            "received",
            "published",
            "ignored",
            "parked",
            "lost",
            "calls",
            "resent",
            "duration_ms",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected, "{logs}");
        assert_eq!(summary["level"], "INFO");
        assert_eq!(summary["message"], "delivery handled");
        assert_eq!(summary["service"], "okta-event-cards");
        assert_eq!(summary["cold_start"], true);
        assert_eq!(summary["function_request_id"], REQUEST_ID);
        assert_eq!(summary["xray_trace_id"], TRACE);
        assert_eq!(
            summary["correlation_id"],
            "a5886327-98d2-4431-baa6-5893674d19e4"
        );
        assert_eq!(summary["card"], "user-mfa-factor-activated");
        for (key, n) in [
            ("received", 3),
            ("published", 2),
            ("ignored", 1),
            ("parked", 0),
            ("lost", 0),
        ] {
            assert_eq!(summary[key], n, "{key}");
        }
        assert!(summary["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));

        let lines = json_lines(&metrics);
        assert_eq!(lines.len(), 1, "one metrics line:\n{metrics}");
        let emf = &lines[0];
        let directive = &emf["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "OktaEventCards");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["service", "card"], ["service"]])
        );
        let declared: Vec<&str> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["Name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            declared,
            [
                "DeliveriesReceived",
                "EventsPublished",
                "EventsIgnored",
                "EventsParked",
                "AuthFailures",
                "BadRequests",
                "ForbiddenRequests",
                "PublishLatencyMs"
            ]
        );
        for name in &declared {
            assert!(emf[*name].is_number(), "{name} has a value");
        }
        assert_eq!(emf["card"], "user-mfa-factor-activated");
        assert_eq!(emf["service"], "okta-event-cards");
        let n = |k: &str| emf[k].as_u64().unwrap_or_else(|| panic!("{k}: {metrics}"));
        assert_eq!(
            [
                n("DeliveriesReceived"),
                n("EventsPublished"),
                n("EventsIgnored"),
                n("EventsParked"),
                n("AuthFailures"),
                n("BadRequests"),
                n("ForbiddenRequests")
            ],
            [1, 2, 1, 0, 0, 0, 0]
        );
        assert_eq!(
            emf["correlation_id"],
            "a5886327-98d2-4431-baa6-5893674d19e4"
        );
        assert_eq!(emf["function_request_id"], REQUEST_ID);
        assert!(emf["_aws"]["Timestamp"].is_u64());

        assert_nothing_private(&logs);
        assert_nothing_private(&metrics);
    }

    /// The first ```json block after `heading` in docs/operations.md (where the README's Operations
    /// section links to), as one JSON object.
    fn readme_example(heading: &str) -> Object {
        let path = format!("{}/../docs/operations.md", env!("CARGO_MANIFEST_DIR"));
        let readme = std::fs::read_to_string(&path).expect("docs/operations.md");
        let after = &readme[readme.find(heading).unwrap_or_else(|| panic!("{heading}"))..];
        let block = &after[after.find("```json\n").expect("a json block") + 8..];
        let block = &block[..block.find("```").expect("the block's end")];
        serde_json::from_str(block).unwrap_or_else(|e| panic!("{heading}: {e}"))
    }

    /// docs/operations.md shows the lines a delivery yields: the same keys, and the
    /// same values but for times.
    #[tokio::test]
    async fn the_readme_shows_the_lines_a_delivery_yields() {
        let (logs, metrics, _) = observed_delivery(&USER_MFA_FACTOR_ACTIVATED).await;
        let timed = ["timestamp", "duration_ms", "PublishLatencyMs"];
        for (heading, ours) in [("### Log lines", &logs), ("### Metrics", &metrics)] {
            // The summary line (the last; a WARN about the ignored event type comes first).
            let mut ours = json_lines(ours).pop().expect("a line");
            let mut shown = readme_example(heading);
            for key in timed {
                assert_eq!(
                    ours.remove(key).is_some(),
                    shown.remove(key).is_some(),
                    "{key}"
                );
            }
            if let Some(aws) = ours.get_mut("_aws").and_then(|a| a.as_object_mut()) {
                aws.remove("Timestamp");
            }
            if let Some(aws) = shown.get_mut("_aws").and_then(|a| a.as_object_mut()) {
                aws.remove("Timestamp");
            }
            assert_eq!(shown, ours, "{heading}");
        }
    }

    #[tokio::test]
    async fn refusals_log_without_a_correlation_id_and_count_as_auth_failures_or_bad_requests() {
        let card = &USER_MFA_FACTOR_ACTIVATED;
        let o = observed(card);
        {
            let _logging =
                tracing::subscriber::set_default(crate::ops::telemetry::tests::json_logs(&o.logs));
            for (name, status) in [
                ("wrong-secret.json", 401),
                ("missing-secret.json", 401),
                ("not-a-delivery.json", 400),
                ("verification-get.json", 200),
            ] {
                let event = RawValue::from_string(events_file(card.slug, name)).expect("JSON");
                let response = invoke_with(&o.handler, event, Some(lambda_invocation(false)))
                    .await
                    .expect("an API Gateway event");
                assert_eq!(response.status_code, status, "{name}");
            }
        }
        let logs = o.logs.text();
        let mut lines = json_lines(&logs);
        assert_eq!(
            lines.len(),
            4,
            "one line per refusal, one INFO for the verification:\n{logs}"
        );
        let verification = lines.pop().expect("the verification's line");
        assert_eq!(verification["level"], "INFO");
        assert_eq!(verification["message"], "verification answered");
        for line in &lines {
            assert_eq!(line["level"], "WARN");
            assert_eq!(line["message"], "request rejected");
            assert_eq!(line["cold_start"], false);
            assert_eq!(line["function_request_id"], REQUEST_ID);
            assert!(
                !line.contains_key("correlation_id"),
                "no delivery was read: {line:?}"
            );
        }
        assert_eq!(lines[0]["status"], 401);
        assert_eq!(lines[2]["status"], 400);

        let metrics = o.metrics.text();
        let lines = json_lines(&metrics);
        assert_eq!(lines.len(), 3, "{metrics}");
        let counts: Vec<(u64, u64, u64)> = lines
            .iter()
            .map(|l| {
                let n = |k: &str| l[k].as_u64().expect(k);
                (n("AuthFailures"), n("BadRequests"), n("DeliveriesReceived"))
            })
            .collect();
        assert_eq!(counts, [(1, 0, 0), (1, 0, 0), (0, 1, 0)]);
        assert!(lines.iter().all(|l| !l.contains_key("PublishLatencyMs")));
        assert_nothing_private(&logs);
        assert_nothing_private(&metrics);
    }

    /// A handler answering only `cidrs` (ALLOWED_SOURCE_CIDRS), with metrics captured.
    fn allowlisted(cidrs: &str) -> Observed {
        let config = Config::from_lookup(|name| match name {
            "OKTA_HOOK_SECRET" => Some(SECRET.to_owned()),
            "ALLOWED_SOURCE_CIDRS" => Some(cidrs.to_owned()),
            _ => None,
        })
        .expect("config");
        let published = Arc::new(InMemoryPublisher::new());
        let metrics = crate::test_support::Captured::default();
        let settings = crate::ops::telemetry::Settings::from_lookup(|_| None);
        let sink = crate::ops::emf::Sink::new(Box::new(metrics.clone()));
        Observed {
            handler: Handler::new(&USER_MFA_FACTOR_ACTIVATED, &config, published.clone())
                .with_metrics(crate::ops::metrics::Metrics::new(&settings, sink)),
            published,
            logs: crate::test_support::Captured::default(),
            metrics,
        }
    }

    /// An `events/` file (or the REST fixture) with fields changed (JSON pointers, new values).
    fn changed(text: &str, changes: &[(&str, serde_json::Value)]) -> Box<RawValue> {
        let mut v: serde_json::Value = serde_json::from_str(text).expect("JSON");
        for (pointer, value) in changes {
            match v.pointer_mut(pointer) {
                Some(field) => *field = value.clone(),
                None => panic!("{pointer}"),
            }
        }
        RawValue::from_string(v.to_string()).expect("JSON")
    }

    /// The events' HTTP API `requestContext.http.sourceIp` is 54.71.214.179 (the REST fixture's
    /// `requestContext.identity.sourceIp` too): that, and never `X-Forwarded-For`, decides.
    #[tokio::test]
    async fn with_an_allowlist_api_gateways_source_ip_decides_never_x_forwarded_for() {
        let slug = USER_MFA_FACTOR_ACTIVATED.slug;
        let delivery = events_file(slug, "delivery.json");
        let verification = events_file(slug, "verification-get.json");
        let rest = std::fs::read_to_string(format!(
            "{}/fixtures/apigw/rest-v1-user-mfa-factor-activated-delivery.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        let outside = serde_json::json!("192.0.2.44");
        let inside = serde_json::json!("54.71.214.179");
        // (case, allowed networks, event, status, entries published)
        let cases: [(&str, &str, Box<RawValue>, u16, usize); 9] = [
            ("inside", "54.71.0.0/16", changed(&delivery, &[]), 200, 2),
            (
                "inside, the verification",
                "54.71.214.179, 2001:db8::/32",
                changed(&verification, &[]),
                200,
                0,
            ),
            (
                "inside, REST",
                "54.71.214.0/24",
                changed(&rest, &[]),
                200,
                2,
            ),
            (
                "outside",
                "192.0.2.0/25, 2001:db8::/32",
                changed(
                    &delivery,
                    &[("/requestContext/http/sourceIp", "192.0.2.200".into())],
                ),
                403,
                0,
            ),
            (
                "outside, the verification",
                "192.0.2.0/24",
                changed(&verification, &[]),
                403,
                0,
            ),
            ("outside, REST", "192.0.2.0/24", changed(&rest, &[]), 403, 0),
            (
                "outside, X-Forwarded-For inside",
                "54.71.0.0/16",
                changed(
                    &delivery,
                    &[
                        ("/requestContext/http/sourceIp", outside.clone()),
                        ("/headers/x-forwarded-for", inside.clone()),
                    ],
                ),
                403,
                0,
            ),
            (
                "outside, REST, X-Forwarded-For inside",
                "54.71.0.0/16",
                changed(
                    &rest,
                    &[
                        ("/requestContext/identity/sourceIp", outside),
                        ("/headers/X-Forwarded-For", inside),
                    ],
                ),
                403,
                0,
            ),
            (
                "no sourceIp",
                "54.71.0.0/16",
                changed(
                    &delivery,
                    &[("/requestContext/http/sourceIp", serde_json::Value::Null)],
                ),
                403,
                0,
            ),
        ];
        for (case, cidrs, event, status, entries) in cases {
            let o = allowlisted(cidrs);
            let response = {
                let _logging = tracing::subscriber::set_default(
                    crate::ops::telemetry::tests::json_logs(&o.logs),
                );
                invoke(&o.handler, event)
                    .await
                    .expect("an API Gateway event")
            };
            assert_eq!(response.status_code, status, "{case}: {}", response.body);
            assert_eq!(o.published.entries().len(), entries, "{case}");
            if status == 403 {
                assert!(
                    response.body.contains("ALLOWED_SOURCE_CIDRS"),
                    "{case}: {}",
                    response.body
                );
                let metrics = o.metrics.text();
                let line = json_lines(&metrics).remove(0);
                assert_eq!(line["ForbiddenRequests"], 1, "{case}: {metrics}");
                assert_eq!(line["AuthFailures"], 0, "{case}: {metrics}");
                // The caller's address is in API Gateway's access log, not in ours.
                assert_nothing_private(&o.logs.text());
                assert_nothing_private(&metrics);
            }
        }
    }

    #[test]
    fn the_invocation_comes_from_the_runtime_context() {
        let i = lambda_invocation(true);
        assert_eq!(
            i,
            Invocation {
                request_id: REQUEST_ID.into(),
                xray_trace_id: Some(TRACE.into()),
                cold_start: true
            }
        );
        let mut context = lambda_runtime::Context::default();
        context.xray_trace_id = Some(String::new());
        assert_eq!(invocation(&context, false).xray_trace_id, None);
    }

    /// The entry answers every `events/` file as lambda_http's own conversion does.
    #[tokio::test]
    async fn every_events_file_gets_the_same_answer_as_through_lambda_http() {
        let mut checked = 0;
        for card in CARDS {
            for name in [
                "verification-get.json",
                "delivery.json",
                "delivery-base64.json",
                "wrong-secret.json",
                "missing-secret.json",
                "not-a-delivery.json",
            ] {
                let text = events_file(card.slug, name);
                let (ours, ours_published) = handler(card);
                let response = invoke(&ours, RawValue::from_string(text.clone()).expect("JSON"))
                    .await
                    .expect("an API Gateway event");
                let (theirs, theirs_published) = handler(card);
                let expected = theirs
                    .handle(lambda_http::request::from_str(&text).expect("event"))
                    .await;
                assert_eq!(response.status_code, expected.status().as_u16(), "{name}");
                assert_eq!(&response.body, expected.body(), "{name}");
                let published = |p: &Published| {
                    p.entries()
                        .iter()
                        .map(|e| e.detail.as_str().to_owned())
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    published(&ours_published),
                    published(&theirs_published),
                    "{name}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 30);
    }

    #[test]
    fn the_budget_counts_from_when_api_gateway_received_the_request() {
        use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        let context = |epoch_ms: i64| {
            let mut extensions = http::Extensions::new();
            let mut gateway = ApiGatewayV2httpRequestContext::default();
            gateway.time_epoch = epoch_ms;
            extensions.insert(RequestContext::ApiGatewayV2(gateway));
            extensions
        };
        let arrival = gateway_arrival(&context(now_ms - 800)).expect("a recent receipt time");
        let age = arrival.0.elapsed();
        assert!(age >= Duration::from_millis(800), "{age:?}");
        assert!(age < Duration::from_millis(1800), "{age:?}");
        // A clock far off (or an old test event) is not trusted: the budget counts from now.
        assert!(gateway_arrival(&context(now_ms - 60_000)).is_none());
        assert!(gateway_arrival(&context(now_ms + 60_000)).is_none());
        assert!(gateway_arrival(&http::Extensions::new()).is_none());
    }
}
