//! The Lambda entry: API Gateway events (HTTP API 2.0 and REST 1.0) to the handler and back.
//!
//! `lambda_http::run` would convert the event itself, but it decodes a base64 body with `expect`
//! (`aws_lambda_events::encodings::Body::from_maybe_encoded`): a body marked base64 that does not
//! decode panics, and with `panic = "abort"` the function dies. So the event is looked at first:
//! such a body reaches the handler as a body that cannot be read, which after the secret check
//! is a `400` with a JSON error. Everything else goes through `lambda_http`'s own conversion.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine;
use bytes::Bytes;
use http_body::{Body, Frame};
use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::handler::Handler;
use crate::publish::Publisher;

/// Runs the Lambda runtime loop with this handler (what each function's `main` calls).
pub async fn run<P: Publisher>(handler: &Handler<P>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        invoke(handler, event.payload)
    }))
    .await
}

/// One invocation: the API Gateway event's JSON in, the proxy response out. An event that is not
/// an API Gateway event is an invocation error, as with `lambda_http`.
pub async fn invoke<P: Publisher>(
    handler: &Handler<P>,
    event: Box<RawValue>,
) -> Result<ProxyResponse, lambda_runtime::Error> {
    let response = if undecodable_body(event.get()) {
        let mut event: serde_json::Value = serde_json::from_str(event.get())?;
        if let Some(fields) = event.as_object_mut() {
            fields.insert("body".into(), serde_json::Value::Null);
            fields.insert("isBase64Encoded".into(), false.into());
        }
        let request = lambda_http::request::from_str(&event.to_string())?;
        handler.handle(request.map(|_| NotBase64)).await
    } else {
        handler
            .handle(lambda_http::request::from_str(event.get())?)
            .await
    };
    Ok(ProxyResponse::from(response))
}

/// True when the event marks its body base64 and it does not decode.
fn undecodable_body(event: &str) -> bool {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe<'a> {
        #[serde(default)]
        is_base64_encoded: bool,
        #[serde(default, borrow)]
        body: Option<Cow<'a, str>>,
    }
    // A body that is not an object is left to lambda_http, which refuses it without panicking.
    serde_json::from_str::<Probe>(event).is_ok_and(|p| {
        p.is_base64_encoded
            && p.body.is_some_and(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .is_err()
            })
    })
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
    use crate::card::{Card, CARDS, USER_MFA_FACTOR_ACTIVATED};
    use crate::config::Config;
    use crate::publish::InMemoryPublisher;
    use std::sync::Arc;

    const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";

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
                        .map(|e| e.detail.get().to_owned())
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
}
