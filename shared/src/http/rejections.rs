//! Every way a request is refused, as one table run through the real handler: each row gets its
//! documented status (docs/hostile-input.md, "What a request gets") and a JSON error, nothing is
//! published, and nothing panics. Bodies marked base64 that do not decode are refused before the
//! handler, in the Lambda entry: see `aws::lambda`'s tests.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;

use crate::cards::{MAX_DEPTH, USER_MFA_FACTOR_ACTIVATED};
use crate::config::Config;
use crate::http::{Handler, MAX_BODY_BYTES, MAX_CHALLENGE_BYTES};
use crate::test_support::{envelope, fixture, InMemoryPublisher};

const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";

fn handler() -> (Handler<Arc<InMemoryPublisher>>, Arc<InMemoryPublisher>) {
    let config =
        Config::from_lookup(|name| (name == "OKTA_HOOK_SECRET").then(|| SECRET.to_owned()))
            .expect("config");
    let published = Arc::new(InMemoryPublisher::new());
    let h = Handler::new(&USER_MFA_FACTOR_ACTIVATED, &config, published.clone());
    (h, published)
}

fn request(
    method: &str,
    headers: &[(&str, &[u8])],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri("/okta/user-mfa-factor-activated");
    for (name, value) in headers {
        b = b.header(*name, HeaderValue::from_bytes(value).expect("header value"));
    }
    b.body(Full::new(body.into())).expect("request")
}

/// A POST with the right secret.
fn post(body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    request(
        "POST",
        &[
            ("authorization", SECRET.as_bytes()),
            ("content-type", b"application/json"),
        ],
        body,
    )
}

fn post_with(secret_header: (&str, &[u8])) -> Request<Full<Bytes>> {
    request("POST", &[secret_header], delivery())
}

fn get(challenge: Option<&[u8]>) -> Request<Full<Bytes>> {
    match challenge {
        Some(c) => request("GET", &[("x-okta-verification-challenge", c)], ""),
        None => request("GET", &[], ""),
    }
}

/// A valid delivery: only the secret or the request line makes a row of it a rejection.
fn delivery() -> String {
    envelope(&[&fixture(
        "samples/stix-shifter-user.mfa.factor.activate-1.json",
    )])
}

/// A delivery whose event holds `depth` nested arrays: the envelope adds 4 levels around them.
fn nested(depth: usize) -> String {
    format!(
        r#"{{"data":{{"events":[{{"uuid":"e1","eventType":"user.mfa.factor.activate","deep":{}1{}}}]}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

struct Row {
    name: &'static str,
    request: Request<Full<Bytes>>,
    status: StatusCode,
    /// A phrase the error must contain: the reason a user would look for.
    says: &'static str,
}

fn row(
    name: &'static str,
    request: Request<Full<Bytes>>,
    status: StatusCode,
    says: &'static str,
) -> Row {
    Row {
        name,
        request,
        status,
        says,
    }
}

/// One row per rejection: its name, the request, the documented status, what the error says.
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use StatusCode as S;
    let secret = SECRET.as_bytes();
    let mut invalid_utf8 = delivery().into_bytes();
    invalid_utf8.splice(20..20, [0xc3, 0x28]);
    vec![
        // The secret
        row("secret missing", request("POST", &[], delivery()), S::UNAUTHORIZED, "missing authorization"),
        row("secret wrong", post_with(("authorization", b"Basic d3Jvbmc6c2VjcmV0")), S::UNAUTHORIZED, "does not match"),
        row("secret a prefix of the right one", post_with(("authorization", &secret[..secret.len() - 1])), S::UNAUTHORIZED, "does not match"),
        row("secret empty", post_with(("authorization", b"")), S::UNAUTHORIZED, "does not match"),
        row("secret longer than the right one", post_with(("authorization", format!("{SECRET}=").as_bytes())), S::UNAUTHORIZED, "does not match"),
        row("secret with a non-ASCII byte", post_with(("authorization", b"Basic b2t0YTpsb2NhbC1vbmx\xe9")), S::UNAUTHORIZED, "does not match"),
        row("secret in another header", post_with(("x-okta-secret", secret)), S::UNAUTHORIZED, "missing authorization"),
        row("secret as a second value after a wrong one", request("POST", &[("authorization", b"Basic d3Jvbmc="), ("authorization", secret)], delivery()), S::UNAUTHORIZED, "does not match"),
        // The verification
        row("challenge missing", get(None), S::BAD_REQUEST, "missing x-okta-verification-challenge"),
        row("challenge empty", get(Some(b"")), S::BAD_REQUEST, "empty"),
        row("challenge huge", get(Some(&[b'a'; MAX_CHALLENGE_BYTES + 1])), S::BAD_REQUEST, "longer than 1024"),
        row("challenge not ASCII", get(Some("défi".as_bytes())), S::BAD_REQUEST, "not visible ASCII"),
        // The body
        row("empty body", post(""), S::BAD_REQUEST, "empty"),
        row("whitespace body", post(" \r\n\t"), S::BAD_REQUEST, "empty"),
        row("not JSON", post("eventType=com.okta.event_hook"), S::BAD_REQUEST, "not valid JSON"),
        row("truncated JSON", post(delivery()[..200].to_owned()), S::BAD_REQUEST, "not valid JSON"),
        row("JSON then garbage", post(format!("{} x", delivery())), S::BAD_REQUEST, "not valid JSON"),
        row("base64 text, not decoded", post("eyJkYXRhIjp7ImV2ZW50cyI6W119fQ=="), S::BAD_REQUEST, "not valid JSON"),
        row("JSON array", post(r#"[{"data":{"events":[]}}]"#), S::BAD_REQUEST, "not an Okta event hook delivery"),
        row("JSON string", post(r#""data""#), S::BAD_REQUEST, "not an Okta event hook delivery"),
        row("JSON number", post("42"), S::BAD_REQUEST, "not an Okta event hook delivery"),
        row("JSON null", post("null"), S::BAD_REQUEST, "not an Okta event hook delivery"),
        row("data missing", post(r#"{"eventType":"com.okta.event_hook","eventId":"d1"}"#), S::BAD_REQUEST, "missing field `data`"),
        row("data null", post(r#"{"data":null}"#), S::BAD_REQUEST, "not an Okta event hook delivery"),
        row("events missing", post(r#"{"data":{}}"#), S::BAD_REQUEST, "missing field `events`"),
        row("events an object", post(r#"{"data":{"events":{"uuid":"e1"}}}"#), S::BAD_REQUEST, "not an Okta event hook delivery"),
        row("events a string", post(r#"{"data":{"events":"[]"}}"#), S::BAD_REQUEST, "not an Okta event hook delivery"),
        row("an event a number", post(envelope(&[&fixture("samples/stix-shifter-user.mfa.factor.activate-1.json"), "7"])), S::BAD_REQUEST, "data.events[1] is not an object"),
        row("an event a string", post(envelope(&[r#""{\"uuid\":\"e1\"}""#])), S::BAD_REQUEST, "data.events[0] is not an object"),
        row("an event an array", post(envelope(&["[]"])), S::BAD_REQUEST, "data.events[0] is not an object"),
        row("an event null", post(envelope(&["null"])), S::BAD_REQUEST, "data.events[0] is not an object"),
        row("invalid UTF-8", post(invalid_utf8), S::BAD_REQUEST, "not UTF-8"),
        row("a UTF-8 byte order mark before the JSON", post([b"\xEF\xBB\xBF".as_slice(), delivery().as_bytes()].concat()), S::BAD_REQUEST, "byte order mark"),
        row("a lone surrogate escape", post(envelope(&[r#"{"uuid":"\ud800","eventType":"user.mfa.factor.activate"}"#])), S::BAD_REQUEST, "not valid JSON"),
        // Found by fuzzing: serde_json does not check escapes in values it skips or keeps raw.
        row("a lone surrogate in a key the cards skip", post(envelope(&[r#"{"eventType":"user.mfa.factor.activate","actor":{"displayNage":"\ud83d\u1dd1"}}"#])), S::BAD_REQUEST, "unpaired UTF-16 surrogate"),
        row("nesting deeper than the parser allows", post(nested(100_000)), S::BAD_REQUEST, "nested deeper than 127 levels"),
        row("nesting one level too deep", post(nested(MAX_DEPTH - 3)), S::BAD_REQUEST, "nested deeper than 127 levels"),
        row("duplicate key in the envelope", post(r#"{"data":{"events":[]},"data":{"events":[]}}"#), S::BAD_REQUEST, "request body has a duplicate field `data`"),
        row("duplicate key in an event", post(envelope(&[r#"{"eventType":"user.mfa.factor.activate","uuid":"a","uuid":"b"}"#])), S::BAD_REQUEST, "data.events[0] has a duplicate field `uuid`"),
        row("duplicate key inside an event's actor", post(envelope(&[r#"{"eventType":"user.mfa.factor.activate","actor":{"id":"a","id":"b"}}"#])), S::BAD_REQUEST, "data.events[0] has a duplicate field `id`"),
        row("number out of range in an event", post(envelope(&[r#"{"eventType":"user.mfa.factor.activate","version":1e400}"#])), S::BAD_REQUEST, "number out of range"),
        row("number out of range in a key no card reads (found by fuzzing)", post(envelope(&[r#"{"eventType":"user.mfa.factor.activate","client":{"geolocation":{"lat":47.6e11112305}}}"#])), S::BAD_REQUEST, "number out of range"),
        row("number out of range in the envelope", post(r#"{"eventId":-1e999,"data":{"events":[]}}"#), S::BAD_REQUEST, "number out of range"),
        row("body over the size limit", post(vec![b' '; MAX_BODY_BYTES + 1]), S::PAYLOAD_TOO_LARGE, "larger than 6291456 bytes"),
        // The method
        row("PUT", request("PUT", &[("authorization", secret)], delivery()), S::METHOD_NOT_ALLOWED, "use GET to verify and POST"),
        row("DELETE", request("DELETE", &[], ""), S::METHOD_NOT_ALLOWED, "use GET to verify and POST"),
    ]
}

#[tokio::test]
async fn every_rejection_gets_its_status_and_a_json_error_and_publishes_nothing() {
    let rows = rows();
    let mut failures = Vec::new();
    for Row {
        name,
        request,
        status,
        says,
    } in rows
    {
        let (h, published) = handler();
        let response = h.handle(request).await;
        let json: Option<serde_json::Value> = serde_json::from_str(response.body()).ok();
        let error = json
            .as_ref()
            .and_then(|j| j["error"].as_str())
            .unwrap_or_default();
        let content_type = response.headers().get(http::header::CONTENT_TYPE);
        if response.status() != status
            || content_type.is_none_or(|c| c != "application/json")
            || !error.contains(says)
            || !published.entries().is_empty()
        {
            failures.push(format!(
                "{name}: got {} {:?} {:?}, {} published; expected {status} with an error saying {says:?}",
                response.status(),
                content_type,
                response.body(),
                published.entries().len()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn a_delivery_of_10000_events_under_the_limit_publishes_them_all() {
    let events: Vec<String> = (0..10_000)
        .map(|i| {
            format!(
                r#"{{"uuid":"e-{i:05}","eventType":"user.mfa.factor.activate","published":"2026-11-22T10:00:00.000Z","actor":{{"id":"00u{i}","type":"User"}},"target":[{{"id":"00u{i}","type":"User"}}]}}"#
            )
        })
        .collect();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let body = envelope(&refs);
    assert!(body.len() < MAX_BODY_BYTES, "{} bytes", body.len());
    let (h, published) = handler();
    let response = h.handle(post(body)).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
    let entries = published.entries();
    assert_eq!(entries.len(), 10_000);
    assert_eq!(entries[9_999].event_uuid.as_deref(), Some("e-09999"));
}

#[tokio::test]
async fn nesting_up_to_the_limit_is_accepted() {
    let (h, published) = handler();
    let response = h.handle(post(nested(MAX_DEPTH - 4))).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
    assert_eq!(published.entries().len(), 1);
}
