//! Publishing card entries: the trait, an in-memory publisher for tests and a JSON-lines sink for
//! the local gateway. The EventBridge publisher is in [`crate::eventbridge`].

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::Error;

/// One card event, ready for PutEvents. `Source` and the bus belong to the publisher.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The card's name: EventBridge `DetailType`.
    pub detail_type: &'static str,
    /// The Okta event's `published`, verbatim: EventBridge `Time` when it is RFC 3339.
    pub time: Option<String>,
    /// The Okta event's `uuid`, for logs (ids only, never bodies).
    pub event_uuid: Option<String>,
    /// The card JSON: EventBridge `Detail`.
    pub detail: Box<RawValue>,
}

/// Where entries go. Publishing is all or nothing for the caller: an error means Okta should retry.
pub trait Publisher: Send + Sync {
    fn publish(&self, entries: &[Entry]) -> impl Future<Output = Result<(), Error>> + Send;
}

impl<P: Publisher> Publisher for Arc<P> {
    fn publish(&self, entries: &[Entry]) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).publish(entries)
    }
}

/// Keeps entries in memory; for tests. It can be told to fail, to show what Okta is answered then.
#[derive(Debug, Default)]
pub struct InMemoryPublisher {
    entries: Mutex<Vec<Entry>>,
    failure: Option<String>,
}

impl InMemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn failing(reason: impl Into<String>) -> Self {
        Self {
            entries: Mutex::default(),
            failure: Some(reason.into()),
        }
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Publisher for InMemoryPublisher {
    async fn publish(&self, entries: &[Entry]) -> Result<(), Error> {
        if let Some(reason) = &self.failure {
            return Err(Error::Publish(reason.clone()));
        }
        let mut stored = self
            .entries
            .lock()
            .map_err(|_| Error::Publish("in-memory store poisoned".into()))?;
        stored.extend_from_slice(entries);
        Ok(())
    }
}

/// Writes each entry as one JSON line, shaped like a PutEvents entry, to stdout and optionally to
/// a file. What the local gateway "publishes".
pub struct JsonLinesPublisher {
    source: String,
    bus: String,
    sink: Mutex<Box<dyn Write + Send>>,
}

/// An entry as PutEvents would receive it, with `Detail` as an object rather than a string.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Line<'a> {
    source: &'a str,
    detail_type: &'a str,
    time: Option<&'a str>,
    event_bus_name: &'a str,
    detail: &'a RawValue,
}

impl JsonLinesPublisher {
    /// `bus` is what the line names: PutEvents sends an entry without `EventBusName` to "default".
    pub fn new(
        source: impl Into<String>,
        bus: impl Into<String>,
        sink: Box<dyn Write + Send>,
    ) -> Self {
        Self {
            source: source.into(),
            bus: bus.into(),
            sink: Mutex::new(sink),
        }
    }
}

impl Publisher for JsonLinesPublisher {
    async fn publish(&self, entries: &[Entry]) -> Result<(), Error> {
        let mut buf = Vec::with_capacity(entries.iter().map(|e| e.detail.get().len() + 160).sum());
        for e in entries {
            let line = Line {
                source: &self.source,
                detail_type: e.detail_type,
                time: e.time.as_deref(),
                event_bus_name: &self.bus,
                detail: &e.detail,
            };
            serde_json::to_writer(&mut buf, &line)
                .map_err(|err| Error::Publish(err.to_string()))?;
            buf.push(b'\n');
        }
        // One write per delivery keeps a delivery's lines together when deliveries run in parallel.
        let mut sink = self
            .sink
            .lock()
            .map_err(|_| Error::Publish("sink poisoned".into()))?;
        sink.write_all(&buf)
            .and_then(|()| sink.flush())
            .map_err(|err| Error::Publish(format!("writing the JSON-lines sink: {err}")))
    }
}

/// Writes to every inner writer: stdout and a file for the local gateway.
pub struct Tee(pub Vec<Box<dyn Write + Send>>);

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for w in &mut self.0 {
            w.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.iter_mut().try_for_each(|w| w.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Captured;

    fn entry(detail: &str) -> Entry {
        Entry {
            detail_type: "User MFA Factor Activated",
            time: Some("2023-01-30T14:18:01.558Z".into()),
            event_uuid: Some("e1".into()),
            detail: RawValue::from_string(detail.to_owned()).expect("json"),
        }
    }

    #[tokio::test]
    async fn json_lines_are_put_events_entries_with_detail_as_object() {
        let out = Captured::default();
        let sink = Tee(vec![Box::new(out.clone()), Box::new(std::io::sink())]);
        let p = JsonLinesPublisher::new("okta.event-cards", "default", Box::new(sink));
        p.publish(&[entry(r#"{"eventId":"e1"}"#), entry(r#"{"eventId":"e2"}"#)])
            .await
            .expect("publish");
        let text = out.text();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            serde_json::json!({
                "Source": "okta.event-cards", "DetailType": "User MFA Factor Activated",
                "Time": "2023-01-30T14:18:01.558Z", "EventBusName": "default", "Detail": {"eventId": "e1"}
            })
        );
        assert_eq!(lines[1]["Detail"]["eventId"], "e2");
    }

    #[tokio::test]
    async fn in_memory_keeps_entries_or_fails_as_told() {
        let ok = InMemoryPublisher::new();
        ok.publish(&[entry("{}")]).await.expect("publish");
        assert_eq!(ok.entries().len(), 1);
        let failing = InMemoryPublisher::failing("throttled");
        assert!(matches!(
            failing.publish(&[entry("{}")]).await,
            Err(Error::Publish(_))
        ));
        assert!(failing.entries().is_empty());
    }
}
