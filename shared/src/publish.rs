//! Publishing card entries: the trait, an in-memory publisher for tests and a JSON-lines sink for
//! the local gateway. The EventBridge publisher is in [`crate::eventbridge`]; batching, retries and
//! parking, common to all of them, are in [`crate::outbox`].

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// One card event, ready for PutEvents. `Source` and the bus belong to the publisher.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The card's name: EventBridge `DetailType`.
    pub detail_type: &'static str,
    /// The Okta event's `published`, verbatim: EventBridge `Time` when it is RFC 3339.
    pub time: Option<String>,
    /// The Okta event's `uuid`, for logs (ids only, never bodies).
    pub event_uuid: Option<String>,
    /// The card JSON, one object: EventBridge `Detail`.
    pub detail: String,
    /// The invocation's X-Ray trace header: EventBridge `TraceHeader`, so that the trace goes on
    /// to the rules' targets. The same for every entry of a delivery, hence shared.
    pub trace_header: Option<Arc<str>>,
}

/// Why an entry, or a whole call, was not published: the service's error code (ids and codes only,
/// never bodies) and whether sending it again may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub retryable: bool,
}

impl Failure {
    pub fn retryable(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            retryable: true,
        }
    }

    pub fn permanent(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            retryable: false,
        }
    }
}

/// One call's answer: a result per entry, in the order sent (a partial failure is normal), or the
/// failure of the whole call.
pub type BatchResult = Result<Vec<Result<(), Failure>>, Failure>;

/// Where entries go, one PutEvents-shaped call at a time. Batching, retries and parking are the
/// [`crate::outbox::Outbox`]'s, the same for every publisher; a publisher only sends one batch
/// (at most ten entries within the size limit) and reports each entry's result.
pub trait Publisher: Send + Sync {
    /// The EventBridge `Source` of every entry; it counts towards the request size.
    fn source(&self) -> &str;

    fn put(&self, batch: &[&Entry]) -> impl Future<Output = BatchResult> + Send;
}

impl<P: Publisher> Publisher for Arc<P> {
    fn source(&self) -> &str {
        (**self).source()
    }

    fn put(&self, batch: &[&Entry]) -> impl Future<Output = BatchResult> + Send {
        (**self).put(batch)
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

/// Writes each entry as one JSON line, shaped like a PutEvents entry, to stdout and optionally to
/// a file. What the local gateway "publishes".
pub struct JsonLinesPublisher {
    source: String,
    bus: String,
    sink: Mutex<Box<dyn Write + Send>>,
}

/// An entry as PutEvents would receive it, with `Detail` as an object rather than a string: it
/// is written after these keys, as the line's last.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Line<'a> {
    source: &'a str,
    detail_type: &'a str,
    time: Option<&'a str>,
    event_bus_name: &'a str,
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
    fn source(&self) -> &str {
        &self.source
    }

    async fn put(&self, batch: &[&Entry]) -> BatchResult {
        let mut buf = Vec::with_capacity(batch.iter().map(|e| e.detail.as_str().len() + 160).sum());
        for e in batch {
            let line = Line {
                source: &self.source,
                detail_type: e.detail_type,
                time: e.time.as_deref(),
                event_bus_name: &self.bus,
            };
            // Serializing our own types into memory cannot fail but for a bug: not worth retrying.
            serde_json::to_writer(&mut buf, &line)
                .map_err(|_| Failure::permanent("SerializeFailed"))?;
            // `{...}` becomes `{...,"Detail":<detail>}`: the detail is JSON already.
            buf.pop();
            buf.extend_from_slice(b",\"Detail\":");
            buf.extend_from_slice(e.detail.as_bytes());
            buf.extend_from_slice(b"}\n");
        }
        // One write per batch keeps its lines together when deliveries run in parallel.
        let mut sink = self
            .sink
            .lock()
            .map_err(|_| Failure::permanent("SinkPoisoned"))?;
        match sink.write_all(&buf).and_then(|()| sink.flush()) {
            Ok(()) => Ok(vec![Ok(()); batch.len()]),
            Err(err) => {
                tracing::error!(error = %err, "writing the JSON-lines sink");
                Err(Failure::retryable("WriteFailed"))
            }
        }
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
            detail: detail.to_owned(),
            trace_header: None,
        }
    }

    #[tokio::test]
    async fn json_lines_are_put_events_entries_with_detail_as_object() {
        let out = Captured::default();
        let sink = Tee(vec![Box::new(out.clone()), Box::new(std::io::sink())]);
        let p = JsonLinesPublisher::new("okta.event-cards", "default", Box::new(sink));
        let results = p
            .put(&[&entry(r#"{"eventId":"e1"}"#), &entry(r#"{"eventId":"e2"}"#)])
            .await
            .expect("put");
        assert_eq!(results, [Ok(()), Ok(())]);
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
        assert_eq!(ok.put(&[&entry("{}")]).await, Ok(vec![Ok(())]));
        assert_eq!(ok.entries().len(), 1);
        let failing = InMemoryPublisher::failing("AccessDeniedException");
        assert_eq!(
            failing.put(&[&entry("{}")]).await,
            Err(Failure::permanent("AccessDeniedException"))
        );
        assert!(failing.entries().is_empty());
    }
}
