//! The envelope parse plus card mapping: any bytes as a delivery body, for every card, read the
//! one-pass way and the two-pass way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use okta_event_cards::delivery::{map_delivery, map_delivery_two_pass};
use okta_event_cards::CARDS;

fuzz_target!(|body: &[u8]| {
    let headers = r#"{"authorization":"[REDACTED]"}"#;
    for card in CARDS {
        let read = map_delivery(card, body, headers);
        // The one-pass reading answers exactly as the two-pass reference, error messages included.
        let reference = map_delivery_two_pass(card, body, headers);
        assert_eq!(format!("{read:?}"), format!("{reference:?}"));
        let Ok(mapped) = read else {
            continue;
        };
        assert!(mapped.entries.len() <= mapped.received);
        assert_eq!(mapped.ignored, mapped.received - mapped.entries.len());
        for entry in &mapped.entries {
            // Every detail is one JSON object a consumer can read back.
            let detail: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(entry.detail.as_str()).expect("detail is a JSON object");
            assert_eq!(detail["eventType"], card.event_type);
        }
    }
});
