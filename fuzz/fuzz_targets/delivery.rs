//! The envelope parse plus card mapping: any bytes as a delivery body, for every card.
#![no_main]

use libfuzzer_sys::fuzz_target;
use okta_event_cards::cards::map_delivery;
use okta_event_cards::CARDS;
use serde_json::value::RawValue;

fuzz_target!(|body: &[u8]| {
    let headers = RawValue::from_string(r#"{"authorization":"[REDACTED]"}"#.to_owned())
        .expect("JSON");
    for card in CARDS {
        let Ok(mapped) = map_delivery(card, body, &headers) else {
            continue;
        };
        assert!(mapped.events.len() <= mapped.received);
        assert_eq!(mapped.ignored, mapped.received - mapped.events.len());
        for event in &mapped.events {
            // Every detail is one JSON object a strict consumer can read back.
            let detail: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&event.detail).expect("detail is a JSON object");
            assert_eq!(detail["eventType"], card.event_type);
        }
    }
});
