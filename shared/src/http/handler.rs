//! The request handler, on `http` types: the Lambda entry and `serve` run this same code.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use tracing::field::Empty;
use tracing::Instrument;

use super::auth::Auth;
use super::error::{json_response, Error};
use crate::cards::{card_for, map_delivery, Card};
use crate::config::{Config, SourceAllowlist};
use crate::ops::metrics::{Counts, Ids, Metrics};
use crate::ops::telemetry::Invocation;
use crate::publish::{
    Entry, FailureQueue, NoFailureQueue, Outbox, Outcome, Publisher, Unpublished,
};

/// Lambda's synchronous payload limit; `serve` holds to the same.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// Okta's challenges are about 40 characters; echo nothing absurdly long.
pub const MAX_CHALLENGE_BYTES: usize = 1024;
const CHALLENGE_HEADER: &str = "x-okta-verification-challenge";

pub struct Handler<P, Q = NoFailureQueue> {
    card: &'static Card,
    auth: Auth,
    /// `ALLOWED_SOURCE_CIDRS`, when set.
    allowed_sources: Option<SourceAllowlist>,
    outbox: Outbox<P, Q>,
    /// One EMF line per request, when set (Lambda); `serve` has none.
    metrics: Option<Metrics>,
}

/// What a delivery came to, for its summary line and its metrics.
#[derive(Debug)]
struct Delivered {
    received: usize,
    ignored: usize,
    outcome: Outcome,
    publish_ms: Option<f64>,
}

/// What the handler learnt while answering, whatever the answer.
#[derive(Debug, Default)]
struct Report {
    delivery_id: Option<String>,
    delivered: Option<Delivered>,
}

/// When the request reached the gateway, if the transport knows (an extension on the request):
/// publishing's budget counts from there, so a cold start's init time is not taken twice from
/// Okta's 3 seconds.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(pub tokio::time::Instant);

/// The address the request came from, as the transport saw it (an extension on the request):
/// API Gateway's `sourceIp`, or `serve`'s TCP peer. Never a header a client can set
/// (`X-Forwarded-For`). Checked against `ALLOWED_SOURCE_CIDRS` when that is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceAddress(pub IpAddr);

#[derive(Serialize)]
struct Verification<'a> {
    verification: &'a str,
}

impl<P: Publisher> Handler<P> {
    /// A handler without a failure queue: an entry that cannot be published answers a 5xx.
    pub fn new(card: &'static Card, config: &Config, publisher: P) -> Self {
        Self::with_failure_queue(card, config, publisher, NoFailureQueue)
    }
}

impl<P: Publisher, Q: FailureQueue> Handler<P, Q> {
    pub fn with_failure_queue(
        card: &'static Card,
        config: &Config,
        publisher: P,
        queue: Q,
    ) -> Self {
        Self {
            card,
            auth: Auth::new(config),
            allowed_sources: config.allowed_sources.clone(),
            outbox: Outbox::new(publisher, queue, config.limits),
            metrics: None,
        }
    }

    /// Emits one EMF metrics line per request (see [`crate::ops::metrics`]).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn card(&self) -> &'static Card {
        self.card
    }

    pub fn publisher(&self) -> &P {
        self.outbox.publisher()
    }

    pub fn failure_queue(&self) -> &Q {
        self.outbox.queue()
    }

    /// Answers one request. Every error becomes its status here, and is logged without the body
    /// or the secret. Every line logged meanwhile carries the request's ids (its `request` span);
    /// a delivery ends with one summary line, and every request but a verification with one
    /// metrics line.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<String>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = tokio::time::Instant::now();
        let invocation = request.extensions().get::<Invocation>().cloned();
        let span = self.request_span(invocation.as_ref());
        let mut report = Report::default();
        let result = self
            .respond(request, started, invocation.as_ref(), &mut report)
            .instrument(span.clone())
            .await;
        span.in_scope(|| self.finish(result, &report, started, invocation.as_ref()))
    }

    /// Error level so that the span, and the ids it gives every line, exist at any log level.
    fn request_span(&self, invocation: Option<&Invocation>) -> tracing::Span {
        let span = tracing::error_span!(
            "request",
            card = self.card.slug,
            cold_start = Empty,
            function_request_id = Empty,
            xray_trace_id = Empty,
            correlation_id = Empty,
        );
        if let Some(i) = invocation {
            span.record("cold_start", i.cold_start);
            span.record("function_request_id", i.request_id.as_str());
            if let Some(trace) = &i.xray_trace_id {
                span.record("xray_trace_id", trace.as_str());
            }
        }
        span
    }

    /// The summary line, the error line, the metrics line; then the answer.
    fn finish(
        &self,
        result: Result<Response<String>, Error>,
        report: &Report,
        started: tokio::time::Instant,
        invocation: Option<&Invocation>,
    ) -> Response<String> {
        if let Some(d) = &report.delivered {
            // Ids and counts only: which Okta events went where is in the parked/lost lines.
            tracing::info!(
                received = d.received,
                published = d.outcome.published,
                ignored = d.ignored,
                parked = d.outcome.parked.len(),
                lost = d.outcome.lost.len(),
                calls = d.outcome.calls,
                resent = d.outcome.resent,
                duration_ms = millis(started.elapsed()),
                "delivery handled"
            );
        }
        let (response, counts) = match result {
            Ok(response) => (response, report.counts()),
            Err(err) => {
                let status = err.status();
                if status.is_server_error() {
                    tracing::error!(status = status.as_u16(), error = %err, "request failed");
                } else {
                    tracing::warn!(status = status.as_u16(), error = %err, "request rejected");
                }
                let counts = match report.delivered {
                    Some(_) => report.counts(),
                    None => Counts::refused(status),
                };
                (err.into_response(), counts)
            }
        };
        if let Some(metrics) = self.metrics.as_ref().filter(|_| !counts.is_empty()) {
            let ids = Ids {
                function_request_id: invocation.map(|i| i.request_id.as_str()),
                xray_trace_id: invocation.and_then(|i| i.xray_trace_id.as_deref()),
                correlation_id: report.delivery_id.as_deref(),
            };
            metrics.record(self.card, &counts, ids);
        }
        response
    }

    async fn respond<B>(
        &self,
        request: Request<B>,
        started: tokio::time::Instant,
        invocation: Option<&Invocation>,
        report: &mut Report,
    ) -> Result<Response<String>, Error>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let arrival = parts.extensions.get::<Arrival>().map_or(started, |a| a.0);
        // Before anything else, the verification included: a stranger learns nothing, and no
        // body from outside is read.
        if let Some(allowed) = &self.allowed_sources {
            match parts.extensions.get::<SourceAddress>() {
                Some(source) if allowed.allows(source.0) => {}
                Some(_) => return Err(Error::SourceNotAllowed),
                None => return Err(Error::SourceUnknown),
            }
        }
        match parts.method {
            Method::GET => {
                let answer = verify(&parts.headers)?;
                // Someone pressing Okta's Verify button looks for this (the challenge is not logged).
                tracing::info!("verification answered");
                Ok(answer)
            }
            Method::POST => {
                // The secret first: an unauthenticated body is neither read nor parsed.
                self.auth.check(&parts.headers)?;
                let body = read_body(&parts.headers, body).await?;
                let trace = invocation.and_then(|i| i.xray_trace_id.as_deref());
                self.deliver(&parts.headers, &body, arrival, trace, report)
                    .await?;
                Ok(Response::new(String::new()))
            }
            other => Err(Error::MethodNotAllowed(other)),
        }
    }

    async fn deliver(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        arrival: tokio::time::Instant,
        trace: Option<&str>,
        report: &mut Report,
    ) -> Result<(), Error> {
        let redacted = self.auth.redacted_headers(headers);
        let mapped = map_delivery(self.card, body, &redacted)?;
        if let Some(id) = &mapped.delivery_id {
            tracing::Span::current().record("correlation_id", id.as_str());
        }
        report.delivery_id = mapped.delivery_id;
        if !mapped.ignored_types.is_empty() {
            // Types only (no personal data): a hook pointed at the wrong card's URL shows here.
            tracing::warn!(
                ignored = mapped.ignored,
                ignored_types = %routes(&mapped.ignored_types),
                serves = self.card.event_type,
                "events of other types ignored: this route publishes only its card's type"
            );
        }
        let trace: Option<Arc<str>> = trace.map(Into::into);
        let entries: Vec<Entry> = mapped
            .events
            .into_iter()
            .map(|event| Entry {
                trace_header: trace.clone(),
                ..Entry::from(event)
            })
            .collect();
        let (outcome, publish_ms) = if entries.is_empty() {
            (Outcome::default(), None)
        } else {
            // Timed only for the metrics line, the one place that reports it.
            let started = self.metrics.is_some().then(tokio::time::Instant::now);
            let outcome = self
                .outbox
                .publish(&entries, report.delivery_id.as_deref(), arrival)
                .await;
            (outcome, started.map(|s| millis(s.elapsed())))
        };
        // Ids and codes only: which Okta events went where.
        if !outcome.parked.is_empty() {
            tracing::warn!(
                parked = %ids(&outcome.parked),
                "entries parked in the failure queue"
            );
        }
        let result = if outcome.is_complete() {
            Ok(())
        } else {
            tracing::error!(
                lost = %ids(&outcome.lost),
                "entries neither published nor parked: answering 5xx so that Okta retries"
            );
            Err(Error::Publish(format!(
                "{} of {} entries neither published nor parked",
                outcome.lost.len(),
                entries.len()
            )))
        };
        report.delivered = Some(Delivered {
            received: mapped.received,
            ignored: mapped.ignored,
            outcome,
            publish_ms,
        });
        result
    }
}

impl Report {
    fn counts(&self) -> Counts {
        match &self.delivered {
            Some(d) => Counts {
                deliveries: 1,
                published: d.outcome.published,
                ignored: d.ignored,
                parked: d.outcome.parked.len(),
                publish_latency_ms: d.publish_ms,
                ..Counts::default()
            },
            None => Counts::default(),
        }
    }
}

/// Each ignored type with the route that serves it: `user.mfa.factor.deactivate (served by
/// /okta/user-mfa-factor-deactivated), user.session.start (no card)`.
fn routes(types: &[String]) -> String {
    types
        .iter()
        .map(|t| match card_for(t) {
            Some(card) => format!("{t} (served by /okta/{})", card.slug),
            None => format!("{t} (no card)"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milliseconds to the microsecond, for log and metric lines.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// `uuid:code` pairs, for logs.
fn ids(unpublished: &[Unpublished]) -> String {
    unpublished
        .iter()
        .map(|u| format!("{}:{}", u.event_uuid.as_deref().unwrap_or("-"), u.code))
        .collect::<Vec<_>>()
        .join(",")
}

/// The one-time verification: echo the challenge. No secret is required (Okta sends none).
fn verify(headers: &HeaderMap) -> Result<Response<String>, Error> {
    let challenge = headers
        .get(CHALLENGE_HEADER)
        .ok_or(Error::MissingChallenge)?;
    if challenge.is_empty() {
        return Err(Error::InvalidChallenge("empty"));
    }
    if challenge.len() > MAX_CHALLENGE_BYTES {
        return Err(Error::InvalidChallenge("longer than 1024 bytes"));
    }
    let challenge = challenge
        .to_str()
        .map_err(|_| Error::InvalidChallenge("not visible ASCII"))?;
    Ok(json_response(
        StatusCode::OK,
        &Verification {
            verification: challenge,
        },
    ))
}

/// Reads at most [`MAX_BODY_BYTES`]; a declared or actual larger body is refused without reading on.
async fn read_body<B>(headers: &HeaderMap, body: B) -> Result<Bytes, Error>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(Error::PayloadTooLarge(MAX_BODY_BYTES)),
        // The reason is ours or the transport's, never body content.
        Err(err) => Err(Error::Unreadable(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::{CARDS, USER_MFA_FACTOR_ACTIVATED};
    use crate::ops::metrics::Metrics;
    use crate::test_support::{
        envelope, fixture, Captured, InMemoryFailureQueue, InMemoryPublisher,
    };
    use http_body_util::Full;

    const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";

    fn config(secrets: &[&str]) -> Config {
        Config::with_secrets(secrets)
    }

    fn handler(card: &'static Card) -> Handler<InMemoryPublisher> {
        Handler::new(card, &config(&[SECRET]), InMemoryPublisher::new())
    }

    /// A handler with the secret the `events/` files carry.
    fn events_handler(card: &'static Card) -> Handler<InMemoryPublisher> {
        let secret = crate::test_support::EVENTS_SECRET;
        Handler::new(card, &config(&[secret]), InMemoryPublisher::new())
    }

    fn post(secret: Option<&str>, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method("POST")
            .uri("/okta/user-mfa-factor-activated");
        b = b.header("content-type", "application/json");
        if let Some(s) = secret {
            b = b.header("Authorization", s);
        }
        b.body(Full::new(body.into())).expect("request")
    }

    fn get(challenge: Option<&[u8]>) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method("GET")
            .uri("/okta/user-mfa-factor-activated");
        if let Some(c) = challenge {
            b = b.header(
                "X-Okta-Verification-Challenge",
                http::HeaderValue::from_bytes(c).expect("value"),
            );
        }
        b.body(Full::new(Bytes::new())).expect("request")
    }

    fn activated_delivery() -> String {
        envelope(&[
            &fixture("samples/stix-shifter-user.mfa.factor.activate-1.json"),
            &fixture("synthetic/ie-user.mfa.factor.activate-enrollment-first.json"),
        ])
    }

    fn error_of(response: &Response<String>) -> String {
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
        let v: serde_json::Value = serde_json::from_str(response.body()).expect("a JSON error");
        v["error"].as_str().expect("an error message").to_owned()
    }

    /// Sends one request and checks it was refused with this status, a JSON error, and nothing published.
    async fn refused(request: Request<Full<Bytes>>, status: StatusCode) -> String {
        let h = handler(&USER_MFA_FACTOR_ACTIVATED);
        let response = h.handle(request).await;
        assert_eq!(response.status(), status);
        assert!(
            h.publisher().entries().is_empty(),
            "nothing is published for a refused request"
        );
        error_of(&response)
    }

    #[tokio::test]
    async fn verification_echoes_the_challenge_whatever_the_header_case() {
        let response = handler(&USER_MFA_FACTOR_ACTIVATED)
            .handle(get(Some(b"c-1sXXEbjnfT72NzDA3Xc89C3RWVycRXfBG2lyxT")))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
        assert_eq!(
            response.body(),
            r#"{"verification":"c-1sXXEbjnfT72NzDA3Xc89C3RWVycRXfBG2lyxT"}"#
        );
    }

    #[tokio::test]
    async fn a_verification_logs_one_info_line_without_the_challenge() {
        let logs = Captured::default();
        let _guard =
            tracing::subscriber::set_default(crate::ops::telemetry::tests::json_logs(&logs));
        let h = handler(&USER_MFA_FACTOR_ACTIVATED);
        let response = h
            .handle(get(Some(b"c-1sXXEbjnfT72NzDA3Xc89C3RWVycRXfBG2lyxT")))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let lines = crate::ops::telemetry::tests::lines(&logs);
        assert_eq!(lines.len(), 1, "{}", logs.text());
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "verification answered");
        assert_eq!(lines[0]["card"], "user-mfa-factor-activated");
        assert!(!logs
            .text()
            .contains("c-1sXXEbjnfT72NzDA3Xc89C3RWVycRXfBG2lyxT"));
    }

    #[tokio::test]
    async fn a_delivery_to_the_wrong_route_warns_with_the_types_and_their_routes() {
        let logs = Captured::default();
        let _guard =
            tracing::subscriber::set_default(crate::ops::telemetry::tests::json_logs(&logs));
        let h = handler(&USER_MFA_FACTOR_ACTIVATED);
        let session: serde_json::Value = serde_json::from_str(&fixture(
            "samples/okta-devdocs-envelope-user.session.start-2.json",
        ))
        .expect("JSON");
        let body = envelope(&[
            &fixture("samples/panther-user.mfa.factor.deactivate-1.json"),
            &session["data"]["events"][0].to_string(),
        ]);
        let response = h.handle(post(Some(SECRET), body)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(h.publisher().entries().is_empty());
        let lines = crate::ops::telemetry::tests::lines(&logs);
        let warn = lines
            .iter()
            .find(|l| l["level"] == "WARN")
            .unwrap_or_else(|| panic!("no WARN line: {}", logs.text()));
        assert_eq!(
            warn["ignored_types"],
            "user.mfa.factor.deactivate (served by /okta/user-mfa-factor-deactivated), \
             user.session.start (no card)"
        );
        assert_eq!(warn["ignored"], 2);
        assert_eq!(warn["serves"], "user.mfa.factor.activate");
        assert_eq!(lines.iter().filter(|l| l["level"] == "WARN").count(), 1);
        // Types only: nothing of the events themselves.
        assert!(!logs.text().contains("homer"), "{}", logs.text());
    }

    #[tokio::test]
    async fn verification_without_challenge_is_400() {
        assert!(refused(get(None), StatusCode::BAD_REQUEST)
            .await
            .contains("x-okta-verification-challenge"));
    }

    #[tokio::test]
    async fn verification_with_empty_challenge_is_400() {
        assert!(refused(get(Some(b"")), StatusCode::BAD_REQUEST)
            .await
            .contains("empty"));
    }

    #[tokio::test]
    async fn verification_with_huge_challenge_is_400() {
        let huge = vec![b'a'; MAX_CHALLENGE_BYTES + 1];
        assert!(refused(get(Some(&huge)), StatusCode::BAD_REQUEST)
            .await
            .contains("longer"));
    }

    #[tokio::test]
    async fn verification_with_non_ascii_challenge_is_400() {
        assert!(
            refused(get(Some("défi".as_bytes())), StatusCode::BAD_REQUEST)
                .await
                .contains("ASCII")
        );
    }

    #[tokio::test]
    async fn a_delivery_publishes_one_entry_per_card_event_and_answers_200_empty() {
        let h = handler(&USER_MFA_FACTOR_ACTIVATED);
        let response = h.handle(post(Some(SECRET), activated_delivery())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "");
        let entries = h.publisher().entries();
        assert_eq!(entries.len(), 2);
        assert!(entries
            .iter()
            .all(|e| e.detail_type == "User MFA Factor Activated"));
        assert_eq!(entries[0].time.as_deref(), Some("2023-01-30T14:18:01.558Z"));
        let d = crate::test_support::detail(&entries[0]);
        assert_eq!(d["headers"]["authorization"], crate::http::REDACTED);
        assert_eq!(d["headers"]["content-type"], "application/json");
    }

    #[tokio::test]
    async fn the_previous_secret_still_works_during_rotation() {
        let h = Handler::new(
            &USER_MFA_FACTOR_ACTIVATED,
            &config(&["Basic new", SECRET]),
            InMemoryPublisher::new(),
        );
        assert_eq!(
            h.handle(post(Some(SECRET), activated_delivery()))
                .await
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            h.handle(post(Some("Basic new"), activated_delivery()))
                .await
                .status(),
            StatusCode::OK
        );
        assert_eq!(h.publisher().entries().len(), 4);
    }

    #[tokio::test]
    async fn unauthenticated_mode_accepts_a_delivery_without_secret() {
        let h = Handler::new(
            &USER_MFA_FACTOR_ACTIVATED,
            &config(&[]),
            InMemoryPublisher::new(),
        );
        assert_eq!(
            h.handle(post(None, activated_delivery())).await.status(),
            StatusCode::OK
        );
        assert_eq!(h.publisher().entries().len(), 2);
    }

    #[tokio::test]
    async fn missing_secret_is_401_and_the_body_is_not_parsed() {
        // An invalid body would be a 400 if it were read: 401 shows the secret is checked first.
        assert!(refused(post(None, "not json"), StatusCode::UNAUTHORIZED)
            .await
            .contains("missing authorization"));
    }

    #[tokio::test]
    async fn wrong_secret_is_401() {
        let err = refused(
            post(Some("Basic d3Jvbmc6c2VjcmV0"), activated_delivery()),
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert!(err.contains("does not match"));
    }

    #[tokio::test]
    async fn secret_prefix_is_401() {
        refused(
            post(Some(&SECRET[..SECRET.len() - 1]), activated_delivery()),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }

    #[tokio::test]
    async fn empty_body_is_400() {
        assert!(refused(post(Some(SECRET), ""), StatusCode::BAD_REQUEST)
            .await
            .contains("empty"));
    }

    #[tokio::test]
    async fn malformed_json_is_400() {
        let err = refused(
            post(Some(SECRET), r#"{"data":{"events":[{"#),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[tokio::test]
    async fn json_of_another_shape_is_400() {
        for body in [
            r#"{"hello":"world"}"#,
            "[]",
            r#""a string""#,
            r#"{"data":{}}"#,
            r#"{"data":{"events":{}}}"#,
        ] {
            let err = refused(post(Some(SECRET), body), StatusCode::BAD_REQUEST).await;
            assert!(
                err.contains("not an Okta event hook delivery"),
                "{body}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn an_error_never_echoes_body_content() {
        let err = refused(
            post(Some(SECRET), r#"{"data":"ada.lovelace@example.com"}"#),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(!err.contains("ada.lovelace"), "{err}");
    }

    #[tokio::test]
    async fn an_event_that_is_not_an_object_refuses_the_whole_delivery() {
        let body = envelope(&[
            &fixture("samples/stix-shifter-user.mfa.factor.activate-1.json"),
            "42",
        ]);
        let err = refused(post(Some(SECRET), body), StatusCode::BAD_REQUEST).await;
        assert!(err.contains("data.events[1] is not an object"), "{err}");
    }

    #[tokio::test]
    async fn an_event_with_a_duplicate_key_is_400() {
        let body = envelope(&[r#"{"eventType":"user.mfa.factor.activate","uuid":"a","uuid":"b"}"#]);
        let err = refused(post(Some(SECRET), body), StatusCode::BAD_REQUEST).await;
        assert!(err.contains("duplicate field"), "{err}");
    }

    #[tokio::test]
    async fn invalid_utf8_is_400() {
        let mut body = activated_delivery().into_bytes();
        body.splice(10..10, [0xff, 0xfe]);
        let err = refused(post(Some(SECRET), body), StatusCode::BAD_REQUEST).await;
        assert!(err.contains("not UTF-8 (invalid byte at 10)"), "{err}");
    }

    #[tokio::test]
    async fn a_body_over_6_mb_is_413() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(
            refused(post(Some(SECRET), big), StatusCode::PAYLOAD_TOO_LARGE)
                .await
                .contains("larger")
        );
    }

    /// A POST whose body arrives in frames of `size` bytes (a streaming transport's).
    fn post_in_frames(
        body: &[u8],
        size: usize,
    ) -> Request<http_body_util::StreamBody<impl futures_util::Stream<Item = FrameResult>>> {
        let frames: Vec<FrameResult> = body
            .chunks(size)
            .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let (parts, _) = post(Some(SECRET), Bytes::new()).into_parts();
        Request::from_parts(
            parts,
            http_body_util::StreamBody::new(futures_util::stream::iter(frames)),
        )
    }

    type FrameResult = Result<http_body::Frame<Bytes>, std::convert::Infallible>;

    #[tokio::test]
    async fn a_body_in_many_frames_publishes_what_one_frame_does() {
        let body = activated_delivery();
        let whole = handler(&USER_MFA_FACTOR_ACTIVATED);
        assert_eq!(
            whole
                .handle(post(Some(SECRET), body.clone()))
                .await
                .status(),
            StatusCode::OK
        );
        let framed = handler(&USER_MFA_FACTOR_ACTIVATED);
        let response = framed.handle(post_in_frames(body.as_bytes(), 1000)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let details = |h: &Handler<InMemoryPublisher>| {
            h.publisher()
                .entries()
                .into_iter()
                .map(|e| e.detail)
                .collect::<Vec<_>>()
        };
        assert_eq!(details(&framed).len(), 2);
        assert_eq!(details(&framed), details(&whole));
    }

    #[tokio::test]
    async fn a_body_over_6_mb_in_frames_is_413() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        let h = handler(&USER_MFA_FACTOR_ACTIVATED);
        let response = h.handle(post_in_frames(&big, MAX_BODY_BYTES / 2)).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(error_of(&response).contains("larger"));
    }

    #[tokio::test]
    async fn a_declared_length_over_6_mb_is_413_before_reading() {
        let mut request = post(Some(SECRET), activated_delivery());
        request
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, (MAX_BODY_BYTES + 1).into());
        refused(request, StatusCode::PAYLOAD_TOO_LARGE).await;
    }

    #[tokio::test]
    async fn other_methods_are_405_with_allow() {
        for method in ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
            let mut request = post(Some(SECRET), activated_delivery());
            *request.method_mut() = method.parse().expect("method");
            let h = handler(&USER_MFA_FACTOR_ACTIVATED);
            let response = h.handle(request).await;
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method}"
            );
            assert_eq!(response.headers()[http::header::ALLOW], "GET, POST");
            assert!(h.publisher().entries().is_empty());
        }
    }

    #[tokio::test]
    async fn publishing_failure_is_a_5xx_so_okta_retries() {
        let h = Handler::new(
            &USER_MFA_FACTOR_ACTIVATED,
            &config(&[SECRET]),
            InMemoryPublisher::failing("ThrottlingException"),
        );
        let response = h.handle(post(Some(SECRET), activated_delivery())).await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert!(error_of(&response).contains("retry"));
    }

    #[tokio::test]
    async fn entries_parked_in_the_failure_queue_still_answer_200_and_the_logs_name_them() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let h = Handler::with_failure_queue(
            &USER_MFA_FACTOR_ACTIVATED,
            &config(&[SECRET]),
            InMemoryPublisher::failing("AccessDeniedException"),
            InMemoryFailureQueue::new(),
        );
        let response = h.handle(post(Some(SECRET), activated_delivery())).await;
        assert_eq!(response.status(), StatusCode::OK);
        let parked = h.failure_queue().parked();
        assert_eq!(parked.len(), 2);
        assert!(parked.iter().all(|p| p.code == "AccessDeniedException"));
        let logs = logs.text();
        for p in &parked {
            let uuid = p.event_uuid.as_deref().expect("uuid");
            assert!(
                logs.contains(&format!("{uuid}:AccessDeniedException")),
                "{logs}"
            );
        }
        assert!(
            !logs.contains("aps@google.com"),
            "body in the logs:\n{logs}"
        );
    }

    #[tokio::test]
    async fn entries_neither_published_nor_parked_answer_502_so_okta_retries() {
        let h = Handler::with_failure_queue(
            &USER_MFA_FACTOR_ACTIVATED,
            &config(&[SECRET]),
            InMemoryPublisher::failing("AccessDeniedException"),
            InMemoryFailureQueue::refusing(),
        );
        let response = h.handle(post(Some(SECRET), activated_delivery())).await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert!(error_of(&response).contains("retry"));
    }

    #[tokio::test]
    async fn a_delivery_with_no_card_event_publishes_nothing_and_is_200() {
        let h = Handler::new(
            &USER_MFA_FACTOR_ACTIVATED,
            &config(&[SECRET]),
            InMemoryPublisher::failing("must not be called"),
        );
        let body = fixture("samples/okta-devdocs-envelope-user.session.start-1.json");
        assert_eq!(
            h.handle(post(Some(SECRET), body)).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn the_secret_is_in_no_published_entry_and_no_log_line() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let h = handler(&USER_MFA_FACTOR_ACTIVATED);
        let mut with_copy = post(Some(SECRET), activated_delivery());
        // A misconfigured hook could repeat the secret in a custom header: it is redacted there too.
        with_copy
            .headers_mut()
            .insert("x-custom-auth", SECRET.parse().expect("value"));
        assert_eq!(h.handle(with_copy).await.status(), StatusCode::OK);
        h.handle(post(Some(&format!("{SECRET}x")), activated_delivery()))
            .await;
        h.handle(post(Some(SECRET), "not json")).await;

        let entries = h.publisher().entries();
        assert_eq!(entries.len(), 2);
        for e in &entries {
            assert!(
                !e.detail.as_str().contains("b2t0YTpsb2NhbC1vbmx5"),
                "secret in a published entry"
            );
            let d = crate::test_support::detail(e);
            assert_eq!(d["headers"]["x-custom-auth"], crate::http::REDACTED);
        }
        let logs = logs.text();
        assert_eq!(logs.lines().count(), 3, "one line per request:\n{logs}");
        assert!(
            logs.contains("delivery handled") && logs.contains("request rejected"),
            "{logs}"
        );
        assert!(
            !logs.contains("b2t0YTpsb2NhbC1vbmx5"),
            "secret in the logs:\n{logs}"
        );
        // Nor a body: no personal field of the events reaches a log line.
        assert!(
            !logs.contains("aps@google.com") && !logs.contains("avery.chen"),
            "body in the logs:\n{logs}"
        );
    }

    #[tokio::test]
    async fn without_a_lambda_invocation_its_keys_are_absent_and_entries_untraced() {
        let logs = Captured::default();
        let _guard =
            tracing::subscriber::set_default(crate::ops::telemetry::tests::json_logs(&logs));
        let h = handler(&USER_MFA_FACTOR_ACTIVATED);
        let response = h.handle(post(Some(SECRET), activated_delivery())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(h
            .publisher()
            .entries()
            .iter()
            .all(|e| e.trace_header.is_none()));
        let lines = crate::ops::telemetry::tests::lines(&logs);
        assert_eq!(lines.len(), 1, "{}", logs.text());
        let line = &lines[0];
        assert_eq!(line["message"], "delivery handled");
        assert_eq!(line["correlation_id"], crate::test_support::DELIVERY_ID);
        assert_eq!(line["card"], "user-mfa-factor-activated");
        for absent in ["cold_start", "function_request_id", "xray_trace_id"] {
            assert!(!line.contains_key(absent), "{absent}: {line:?}");
        }
    }

    #[tokio::test]
    async fn parked_entries_count_in_the_summary_and_the_metrics() {
        let metrics = Captured::default();
        let settings = crate::ops::telemetry::Settings::from_lookup(|name| {
            (name == "POWERTOOLS_METRICS_NAMESPACE").then(|| "Security".to_owned())
        });
        let h = Handler::with_failure_queue(
            &USER_MFA_FACTOR_ACTIVATED,
            &config(&[SECRET]),
            InMemoryPublisher::failing("AccessDeniedException"),
            InMemoryFailureQueue::new(),
        )
        .with_metrics(Metrics::new(
            &settings,
            crate::ops::emf::Sink::new(Box::new(metrics.clone())),
        ));
        let body = envelope(&[
            &fixture("samples/stix-shifter-user.mfa.factor.activate-1.json"),
            &fixture("synthetic/ie-user.mfa.factor.activate-enrollment-first.json"),
            &fixture("samples/panther-user.mfa.factor.reset_all-1.json"),
        ]);
        assert_eq!(
            h.handle(post(Some(SECRET), body)).await.status(),
            StatusCode::OK
        );
        let text = metrics.text();
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Security"
        );
        let n = |k: &str| line[k].as_u64().unwrap_or_else(|| panic!("{k}: {text}"));
        assert_eq!(
            [
                n("DeliveriesReceived"),
                n("EventsPublished"),
                n("EventsIgnored"),
                n("EventsParked")
            ],
            [1, 0, 1, 2]
        );
        assert!(line["PublishLatencyMs"].as_f64().is_some());
    }

    /// Expected answers for the files in `events/<slug>/`, and the card entries a delivery yields.
    fn expected(file: &str, card: &Card) -> (StatusCode, usize) {
        let entries = match card.slug {
            "mfa-preregistration-initiated" | "user-mfa-factor-reset-all" => 1,
            _ => 2,
        };
        match file {
            "verification-get.json" => (StatusCode::OK, 0),
            "delivery.json" | "delivery-base64.json" => (StatusCode::OK, entries),
            "wrong-secret.json" | "missing-secret.json" => (StatusCode::UNAUTHORIZED, 0),
            "not-a-delivery.json" => (StatusCode::BAD_REQUEST, 0),
            other => panic!(
                "events/{}/{other} has no expected answer: add it to this table",
                card.slug
            ),
        }
    }

    #[tokio::test]
    async fn every_api_gateway_event_in_events_gets_its_answer() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
        let mut checked = 0;
        for card in CARDS {
            let dir = format!("{root}/{}", card.slug);
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .expect(&dir)
                .map(|e| e.expect("entry").path())
                .collect();
            files.sort();
            assert_eq!(files.len(), 6, "{dir}");
            for path in files {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .expect("name")
                    .to_owned();
                let text = std::fs::read_to_string(&path).expect("event file");
                let request = lambda_http::request::from_str(&text)
                    .expect("an API Gateway event lambda_http accepts");
                let h = events_handler(card);
                let response = h.handle(request).await;
                let (status, entries) = expected(&name, card);
                assert_eq!(
                    response.status(),
                    status,
                    "{}/{name}: {}",
                    card.slug,
                    response.body()
                );
                assert_eq!(
                    h.publisher().entries().len(),
                    entries,
                    "{}/{name}",
                    card.slug
                );
                if name == "verification-get.json" {
                    assert_eq!(
                        response.body(),
                        r#"{"verification":"c-1sXXEbjnfT72NzDA3Xc89C3RWVycRXfBG2lyxT"}"#
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 30);
    }

    #[tokio::test]
    async fn a_rest_api_event_is_handled_the_same() {
        let text = fixture("apigw/rest-v1-user-mfa-factor-activated-delivery.json");
        let request = lambda_http::request::from_str(&text).expect("REST event");
        let h = events_handler(&USER_MFA_FACTOR_ACTIVATED);
        assert_eq!(h.handle(request).await.status(), StatusCode::OK);
        assert_eq!(h.publisher().entries().len(), 2);
    }
}
