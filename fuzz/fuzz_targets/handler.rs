//! The whole request handler: bytes to request to response. The first byte picks the method and
//! how the secret is sent; the rest is the body (or, for GET, the challenge).
#![no_main]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use okta_event_cards::test_support::InMemoryPublisher;
use okta_event_cards::{cards::USER_MFA_FACTOR_ACTIVATED, Config, Handler};

const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let method = ["POST", "POST", "GET", "PUT"][usize::from(control & 3)];
    let secret = [
        Some(SECRET),
        Some(SECRET),
        Some(&SECRET[..SECRET.len() - 1]),
        None,
    ][usize::from((control >> 2) & 3)];
    let mut builder = http::Request::builder()
        .method(method)
        .uri("/okta/user-mfa-factor-activated");
    if let Some(s) = secret {
        builder = builder.header("authorization", s);
    }
    if method == "GET" {
        let Ok(challenge) = http::HeaderValue::from_bytes(rest) else {
            return;
        };
        builder = builder.header("x-okta-verification-challenge", challenge);
    }
    let Ok(request) = builder.body(Full::new(Bytes::copy_from_slice(rest))) else {
        return;
    };

    let config =
        Config::from_lookup(|name| (name == "OKTA_HOOK_SECRET").then(|| SECRET.to_owned()))
            .expect("config");
    let published = Arc::new(InMemoryPublisher::new());
    let handler = Handler::new(&USER_MFA_FACTOR_ACTIVATED, &config, published.clone());
    let response = runtime().block_on(handler.handle(request));

    let status = response.status();
    if status.is_success() {
        return;
    }
    // Every refusal: a JSON error, nothing published, and never the secret.
    assert!(published.entries().is_empty(), "published for a {status}");
    let body: serde_json::Value = serde_json::from_str(response.body()).expect("JSON error");
    assert!(body["error"].is_string());
    assert!(!response.body().contains("b2t0YTpsb2NhbC1vbmx5"));
});
