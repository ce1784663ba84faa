//! Test support, built for this crate's tests and, with the `test-util` feature, for the
//! integration tests and fuzz targets: never part of a function or the command. In-memory doubles
//! of the publisher and the failure queue, fixtures from `shared/fixtures/`, and deliveries built
//! around them.

use std::sync::Mutex;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::cards::{map_delivery, Card, CardEvent, Mapped};
use crate::publish::{BatchResult, Entry, Failure, FailureQueue, Parked, Publisher};

pub const DELIVERY_ID: &str = "0e6ba1f4-4b1f-4f0b-9c3e-6a4c5c0d2a11";
pub const EVENT_TIME: &str = "2026-11-22T13:56:00.512Z";
pub const SOURCE: &str = "https://example-org.okta.com/api/v1/eventHooks/who8a7b6c5d4e3f2g1h0";
/// The hook secret the `events/` files (and the REST fixture) carry: long enough for a Lambda
/// function to start with it (events/README.md). Public, so never a real one.
pub const EVENTS_SECRET: &str = "Basic b2t0YTpsb2NhbC1ldmVudHMtdGVzdC1zZWNyZXQ=";

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

pub fn headers_json() -> Box<RawValue> {
    RawValue::from_string(
        r#"{"accept":"application/json","authorization":"[REDACTED]"}"#.to_owned(),
    )
    .expect("JSON")
}

pub fn map(card: &Card, body: &str) -> Mapped {
    map_delivery(card, body.as_bytes(), &headers_json()).expect("a valid delivery")
}

/// The details of one delivery of these fixture events, as JSON values.
pub fn details(card: &Card, fixtures: &[&str]) -> Vec<Value> {
    let events: Vec<String> = fixtures.iter().map(|f| fixture(f)).collect();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    details_of(card, &refs)
}

/// The details of one delivery of these events, as JSON values.
pub fn details_of(card: &Card, events: &[&str]) -> Vec<Value> {
    map(card, &envelope(events))
        .events
        .iter()
        .map(detail)
        .collect()
}

/// Anything that carries a card's detail: a card event, a published entry.
pub trait WithDetail {
    fn detail_json(&self) -> &str;
}

impl WithDetail for CardEvent {
    fn detail_json(&self) -> &str {
        &self.detail
    }
}

impl WithDetail for Entry {
    fn detail_json(&self) -> &str {
        &self.detail
    }
}

pub fn detail(entry: &impl WithDetail) -> Value {
    serde_json::from_str(entry.detail_json()).expect("detail is JSON")
}

/// The `eventDetails` of a detail exactly as serialized: to compare bytes, not values.
pub fn raw_event_details(entry: &impl WithDetail) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Only<'a> {
        #[serde(borrow)]
        event_details: &'a RawValue,
    }
    let only: Only = serde_json::from_str(entry.detail_json()).expect("detail");
    only.event_details.get().to_owned()
}

/// The top-level keys of an entry's detail, in the order they were serialized.
pub fn detail_keys(entry: &impl WithDetail) -> Vec<String> {
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
    serde_json::from_str::<Keys>(entry.detail_json())
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

/// Keeps entries in memory. It can be told to fail, to show what Okta is answered then.
#[derive(Debug, Default)]
pub struct InMemoryPublisher {
    entries: Mutex<Vec<Entry>>,
    failure: Option<String>,
}

impl InMemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call fails for good with this code (so nothing is retried).
    pub fn failing(code: impl Into<String>) -> Self {
        Self {
            entries: Mutex::default(),
            failure: Some(code.into()),
        }
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Publisher for InMemoryPublisher {
    fn source(&self) -> &str {
        crate::config::DEFAULT_EVENT_SOURCE
    }

    async fn put(&self, batch: &[&Entry]) -> BatchResult {
        if let Some(code) = &self.failure {
            return Err(Failure::permanent(code.clone()));
        }
        let mut stored = self
            .entries
            .lock()
            .map_err(|_| Failure::permanent("StorePoisoned"))?;
        stored.extend(batch.iter().map(|e| (*e).clone()));
        Ok(vec![Ok(()); batch.len()])
    }
}

/// What a parked message records, kept in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRecord {
    pub event_uuid: Option<String>,
    pub code: String,
    pub delivery_id: Option<String>,
}

/// Keeps parked entries in memory. It can be told to refuse, like an unreachable queue.
#[derive(Debug, Default)]
pub struct InMemoryFailureQueue {
    parked: Mutex<Vec<ParkedRecord>>,
    refuse: bool,
}

impl InMemoryFailureQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn refusing() -> Self {
        Self {
            parked: Mutex::default(),
            refuse: true,
        }
    }

    pub fn parked(&self) -> Vec<ParkedRecord> {
        self.parked.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl FailureQueue for InMemoryFailureQueue {
    async fn park(&self, parked: &[Parked<'_>]) -> Vec<Result<(), Failure>> {
        if self.refuse {
            return vec![Err(Failure::retryable("QueueUnavailable")); parked.len()];
        }
        let Ok(mut stored) = self.parked.lock() else {
            return vec![Err(Failure::permanent("StorePoisoned")); parked.len()];
        };
        stored.extend(parked.iter().map(|p| ParkedRecord {
            event_uuid: p.entry.event_uuid.clone(),
            code: p.failure.code.clone(),
            delivery_id: p.delivery_id.map(str::to_owned),
        }));
        vec![Ok(()); parked.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            detail_type: "User MFA Factor Activated",
            time: None,
            event_uuid: Some("e1".into()),
            detail: "{}".into(),
            trace_header: None,
        }
    }

    #[tokio::test]
    async fn in_memory_keeps_entries_or_fails_as_told() {
        let ok = InMemoryPublisher::new();
        assert_eq!(ok.put(&[&entry()]).await, Ok(vec![Ok(())]));
        assert_eq!(ok.entries().len(), 1);
        let failing = InMemoryPublisher::failing("AccessDeniedException");
        assert_eq!(
            failing.put(&[&entry()]).await,
            Err(Failure::permanent("AccessDeniedException"))
        );
        assert!(failing.entries().is_empty());
    }
}
