//! Every way a request is refused, as one table run through the real handler: each row gets its
//! documented status (docs/hostile-input.md, "What a request gets") and a JSON error, nothing is
//! published, nothing panics, and a refusal made before the body (`401`, `403`, `405`, a declared
//! length over the limit) reads none of it. Bodies marked base64 that do not decode are refused
//! before the handler, in the Lambda entry: see `aws::lambda`'s tests. Then every way a start is
//! refused for a weak secret (the Secrets Manager's values: `aws::secrets`' tests).

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body::{Body, Frame};
use http_body_util::Full;

use crate::cards::{MAX_DEPTH, USER_MFA_FACTOR_ACTIVATED};
use crate::config::Config;
use crate::http::{Handler, SourceAddress, MAX_BODY_BYTES, MAX_CHALLENGE_BYTES};
use crate::test_support::{envelope, fixture, InMemoryPublisher};

const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";
/// The table's handler answers only these networks; every row comes from `INSIDE` unless it says.
const ALLOWED: &str = "203.0.113.0/24, 2001:db8::/32";
const INSIDE: &str = "203.0.113.10";

fn handler() -> (Handler<Arc<InMemoryPublisher>>, Arc<InMemoryPublisher>) {
    let config = Config::from_lookup(|name| match name {
        "OKTA_HOOK_SECRET" => Some(SECRET.to_owned()),
        "ALLOWED_SOURCE_CIDRS" => Some(ALLOWED.to_owned()),
        _ => None,
    })
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
    from(INSIDE, b.body(Full::new(body.into())).expect("request"))
}

/// The request as coming from `source` (what API Gateway's sourceIp or serve's peer says).
fn from(source: &str, mut request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let address: IpAddr = source.parse().expect("an address");
    request.extensions_mut().insert(SourceAddress(address));
    request
}

/// The request with no source address at all.
fn from_nowhere(mut request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    request.extensions_mut().remove::<SourceAddress>();
    request
}

/// A body that notes whether the handler read any of it.
struct Watched {
    inner: Full<Bytes>,
    read: Arc<AtomicBool>,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.read.store(true, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_frame(cx)
    }
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
    /// Refused before the body: not a byte of it may be read.
    unread: bool,
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
        unread: matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED
        ),
    }
}

impl Row {
    /// Refused before the body, whatever the status.
    fn unread(self) -> Row {
        Row {
            unread: true,
            ..self
        }
    }
}

/// One row per rejection: its name, the request, the documented status, what the error says.
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use StatusCode as S;
    let secret = SECRET.as_bytes();
    let mut invalid_utf8 = delivery().into_bytes();
    invalid_utf8.splice(20..20, [0xc3, 0x28]);
    let mut declared_too_large = post(delivery());
    declared_too_large.headers_mut().insert(http::header::CONTENT_LENGTH, (MAX_BODY_BYTES + 1).into());
    let not_allowed = "the request's source address is not in ALLOWED_SOURCE_CIDRS";
    vec![
        // The source address (ALLOWED_SOURCE_CIDRS), checked first
        row("source outside the allowlist", from("198.51.100.7", post(delivery())), S::FORBIDDEN, not_allowed),
        row("source outside, IPv6", from("2001:db9::1", post(delivery())), S::FORBIDDEN, not_allowed),
        row("source outside, verification", from("198.51.100.7", get(Some(b"hello"))), S::FORBIDDEN, not_allowed),
        row("source outside, without the secret", from("198.51.100.7", request("POST", &[], delivery())), S::FORBIDDEN, not_allowed),
        row("source outside, body over the size limit", from("198.51.100.7", post(vec![b' '; MAX_BODY_BYTES + 1])), S::FORBIDDEN, not_allowed),
        row("source outside, other method", from("198.51.100.7", request("DELETE", &[], "")), S::FORBIDDEN, not_allowed),
        row("source outside, X-Forwarded-For inside", from("198.51.100.7", request("POST", &[("authorization", secret), ("x-forwarded-for", INSIDE.as_bytes())], delivery())), S::FORBIDDEN, not_allowed),
        row("source unknown", from_nowhere(post(delivery())), S::FORBIDDEN, "source address is unknown"),
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
        row("declared length over the size limit", declared_too_large, S::PAYLOAD_TOO_LARGE, "larger than 6291456 bytes").unread(),
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
        unread,
    } in rows
    {
        let (h, published) = handler();
        let read = Arc::new(AtomicBool::new(false));
        let watched = |inner| Watched {
            inner,
            read: read.clone(),
        };
        let response = h.handle(request.map(watched)).await;
        let json: Option<serde_json::Value> = serde_json::from_str(response.body()).ok();
        let error = json
            .as_ref()
            .and_then(|j| j["error"].as_str())
            .unwrap_or_default();
        let content_type = response.headers().get(http::header::CONTENT_TYPE);
        let read = read.load(Ordering::SeqCst);
        if response.status() != status
            || content_type.is_none_or(|c| c != "application/json")
            || !error.contains(says)
            || !published.entries().is_empty()
            || (unread && read)
        {
            failures.push(format!(
                "{name}: got {} {:?} {:?}, {} published, body read: {read}; expected {status} with an \
                 error saying {says:?}{}",
                response.status(),
                content_type,
                response.body(),
                published.entries().len(),
                if unread { ", the body unread" } else { "" }
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

#[tokio::test]
async fn from_inside_the_allowlist_a_delivery_is_published_whatever_the_address_form() {
    for source in [INSIDE, "2001:db8::7", "::ffff:203.0.113.200"] {
        let (h, published) = handler();
        let response = h.handle(from(source, post(delivery()))).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{source}: {}",
            response.body()
        );
        assert_eq!(published.entries().len(), 1, "{source}");
    }
}

/// Every weak secret a Lambda function refuses to start with (docs/configuration.md, "Weak
/// secrets"): the error names the variable and the rule, never the value, and `serve` (no
/// `AWS_LAMBDA_FUNCTION_NAME`) starts with the same settings. The rule itself, case by case:
/// `config::secret_weakness`'s tests.
#[test]
fn every_weak_secret_stops_a_lambda_function_and_serve_starts_with_it() {
    const STRONG: &str = "Bearer 3f9c0d6a1b2e4f5a6b7c8d9e0f1a2b3c";
    let short = "is too easy to guess: shorter than 32 characters";
    let repeated = "is too easy to guess: one character repeated";
    let zs = format!("Bearer {}", "z".repeat(40));
    let xs = "x".repeat(48);
    // (row, OKTA_HOOK_SECRET, OKTA_HOOK_SECRET_PREVIOUS, the variable named, the rule)
    #[rustfmt::skip]
    let rows: [(&str, &str, Option<&str>, &str, &str); 7] = [
        ("the README's local example", SECRET, None, "OKTA_HOOK_SECRET", short),
        ("31 characters after the scheme", &STRONG[..STRONG.len() - 1], None, "OKTA_HOOK_SECRET", short),
        ("31 characters, no scheme", &STRONG[8..], None, "OKTA_HOOK_SECRET", short),
        ("a scheme alone", "Token", None, "OKTA_HOOK_SECRET", short),
        ("one character repeated after the scheme", &zs, None, "OKTA_HOOK_SECRET", repeated),
        ("one character repeated, no scheme", &xs, None, "OKTA_HOOK_SECRET", repeated),
        ("a weak previous secret", STRONG, Some(SECRET), "OKTA_HOOK_SECRET_PREVIOUS", short),
    ];
    let mut failures = Vec::new();
    for (name, secret, previous, variable, rule) in rows {
        let lookup = |in_lambda: bool| {
            move |var: &str| match var {
                "OKTA_HOOK_SECRET" => Some(secret.to_owned()),
                "OKTA_HOOK_SECRET_PREVIOUS" => previous.map(str::to_owned),
                "AWS_LAMBDA_FUNCTION_NAME" if in_lambda => Some("f".to_owned()),
                _ => None,
            }
        };
        let weak = previous.unwrap_or(secret);
        let credential = weak.rsplit(' ').next().unwrap_or(weak);
        match Config::from_lookup(lookup(true)) {
            Ok(_) => failures.push(format!("{name}: a Lambda function started")),
            Err(err) => {
                let err = err.to_string();
                if !err.contains(&format!("{variable} {rule}")) || err.contains(credential) {
                    failures.push(format!("{name}: {err}"));
                }
            }
        }
        if let Err(err) = Config::from_lookup(lookup(false)) {
            failures.push(format!("{name}: serve did not start: {err}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    let strong = Config::from_lookup(|var| match var {
        "OKTA_HOOK_SECRET" => Some(STRONG.to_owned()),
        "AWS_LAMBDA_FUNCTION_NAME" => Some("f".to_owned()),
        _ => None,
    });
    assert!(strong.is_ok(), "a strong secret starts");
}
