//! Test support: fixtures from `shared/fixtures/` and deliveries built around them.

use serde_json::value::RawValue;
use serde_json::Value;

use crate::card::Card;
use crate::delivery::{map_delivery, Mapped};
use crate::publish::Entry;

pub const DELIVERY_ID: &str = "0e6ba1f4-4b1f-4f0b-9c3e-6a4c5c0d2a11";
pub const EVENT_TIME: &str = "2026-11-22T13:56:00.512Z";
pub const SOURCE: &str = "https://example-org.okta.com/api/v1/eventHooks/who8a7b6c5d4e3f2g1h0";

/// A fixture file, as committed (path relative to `shared/fixtures/`).
pub fn fixture(path: &str) -> String {
    let full = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

/// Every whole System Log event among the fixtures, trimmed (envelopes are bodies; fragments are
/// parts of events).
pub fn fixture_events() -> Vec<String> {
    let mut events = Vec::new();
    for dir in ["samples", "synthetic"] {
        let full = format!("{}/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(&full).expect("fixtures") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            if !name.contains("envelope") && !name.contains("fragment") {
                events.push(fixture(&format!("{dir}/{name}")).trim().to_owned());
            }
        }
    }
    events
}

/// An Okta envelope holding these events verbatim.
pub fn envelope(events: &[&str]) -> String {
    format!(
        r#"{{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"{SOURCE}","eventId":"{DELIVERY_ID}","data":{{"events":[{}]}},"eventTime":"{EVENT_TIME}","contentType":"application/json"}}"#,
        events
            .iter()
            .map(|e| e.trim())
            .collect::<Vec<_>>()
            .join(",")
    )
}

pub fn headers_json() -> String {
    r#"{"accept":"application/json","authorization":"[REDACTED]"}"#.to_owned()
}

pub fn map(card: &Card, body: &str) -> Mapped {
    map_delivery(card, body.as_bytes(), &headers_json()).expect("a valid delivery")
}

/// The details of one delivery of these fixture events, as JSON values.
pub fn details(card: &Card, fixtures: &[&str]) -> Vec<Value> {
    let events: Vec<String> = fixtures.iter().map(|f| fixture(f)).collect();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    map(card, &envelope(&refs))
        .entries
        .iter()
        .map(detail)
        .collect()
}

pub fn detail(entry: &Entry) -> Value {
    serde_json::from_str(entry.detail.as_str()).expect("detail is JSON")
}

/// The `eventDetails` of a detail exactly as serialized: to compare bytes, not values.
pub fn raw_event_details(entry: &Entry) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Only<'a> {
        #[serde(borrow)]
        event_details: &'a RawValue,
    }
    let only: Only = serde_json::from_str(entry.detail.as_str()).expect("detail");
    only.event_details.get().to_owned()
}

/// The top-level keys of an entry's detail, in the order they were serialized.
pub fn detail_keys(entry: &Entry) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Keys>(entry.detail.as_str())
        .expect("detail")
        .0
}

/// A writer the test reads back: for log lines and the JSON-lines sink.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("UTF-8 output")
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Makes a test's own subscriber (`tracing::subscriber::set_default`) see every span and event.
///
/// Tests run in parallel, each with its own scoped subscriber. A callsite first reached while no
/// subscriber is registered anywhere is cached as "never enabled", even for a subscriber set a
/// moment later on another thread (tracing computes a callsite's interest before publishing it).
/// A process-wide subscriber that is interested in everything but enables nothing keeps every
/// callsite's interest at "sometimes", so each thread's subscriber is asked on every call.
pub fn every_callsite_asked() {
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata};
    struct AskEachTime;
    impl tracing::Subscriber for AskEachTime {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if a global subscriber exists already, which then plays the same part.
        let _ = tracing::subscriber::set_global_default(AskEachTime);
    });
}
