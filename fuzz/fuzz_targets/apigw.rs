//! The Lambda entry: any bytes as the API Gateway event the runtime hands the function.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use okta_event_cards::test_support::InMemoryPublisher;
use okta_event_cards::{aws::lambda, cards::USER_MFA_FACTOR_ACTIVATED, Config, Handler};
use serde_json::value::RawValue;

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
    // The runtime refuses an event that is not JSON before the function sees it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = RawValue::from_string(text.to_owned()) else {
        return;
    };
    let config = Config::from_lookup(|name| {
        (name == "OKTA_HOOK_SECRET")
            .then(|| okta_event_cards::test_support::EVENTS_SECRET.to_owned())
    })
    .expect("config");
    let handler = Handler::new(
        &USER_MFA_FACTOR_ACTIVATED,
        &config,
        Arc::new(InMemoryPublisher::new()),
    );
    let _ = runtime().block_on(lambda::invoke(&handler, event));
});
