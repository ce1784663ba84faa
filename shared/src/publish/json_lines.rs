//! The JSON-lines sink: what `serve` "publishes" when no bus is named.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use super::{BatchResult, Entry, Failure, Publisher};

/// Writes each entry as one JSON line, shaped like a PutEvents entry, to stdout and optionally to
/// a file. What `serve` "publishes" when no bus is named.
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

    fn line(&self, entry: &Entry) -> serde_json::Result<Vec<u8>> {
        let line = Line {
            source: &self.source,
            detail_type: entry.detail_type,
            time: entry.time.as_deref(),
            event_bus_name: &self.bus,
        };
        let mut bytes = serde_json::to_vec(&line)?;
        // `{...}` becomes `{...,"Detail":<detail>}`: the detail is JSON already (written by serde).
        bytes.pop();
        bytes.extend_from_slice(b",\"Detail\":");
        let detail = bytes.len();
        bytes.extend_from_slice(entry.detail.as_bytes());
        // The event is kept as Okta sent it, line breaks between its tokens included. Inside a JSON
        // string a line break is always escaped, so each raw one is whitespace between tokens:
        // a space in its place keeps the same JSON and one entry per line.
        if entry.detail.contains(['\n', '\r']) {
            for byte in &mut bytes[detail..] {
                if matches!(*byte, b'\n' | b'\r') {
                    *byte = b' ';
                }
            }
        }
        bytes.extend_from_slice(b"}\n");
        Ok(bytes)
    }
}

impl Publisher for JsonLinesPublisher {
    fn source(&self) -> &str {
        &self.source
    }

    async fn put(&self, batch: &[&Entry]) -> BatchResult {
        let mut buf = Vec::new();
        for entry in batch {
            // Our own detail is JSON: a failure here is a bug, not worth retrying.
            let line = self
                .line(entry)
                .map_err(|_| Failure::permanent("SerializeFailed"))?;
            buf.extend_from_slice(&line);
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

/// Writes to every inner writer: stdout and a file for `serve`.
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
    use crate::test_support::Captured;

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

    /// A pretty-printed event (LF or CRLF) is still one line, with the same JSON in it.
    #[tokio::test]
    async fn an_event_with_line_breaks_is_one_line() {
        for newline in ["\n", "\r\n"] {
            let event = [
                "{",
                r#"  "eventId": "e1","#,
                r#"  "message": "two\nlines""#,
                "}",
            ]
            .join(newline);
            let out = Captured::default();
            let p = JsonLinesPublisher::new("okta.event-cards", "default", Box::new(out.clone()));
            p.put(&[&entry(&format!(r#"{{"eventDetails":{event}}}"#))])
                .await
                .expect("put");
            let text = out.text();
            assert_eq!(text.lines().count(), 1, "{text:?}");
            let line: serde_json::Value = serde_json::from_str(text.trim_end()).expect("JSON");
            let sent: serde_json::Value = serde_json::from_str(&event).expect("JSON");
            assert_eq!(line["Detail"]["eventDetails"], sent);
        }
    }
}
