//! CloudWatch Embedded Metric Format: one JSON line per request, printed to stdout, which Lambda
//! ships to CloudWatch Logs, where the metrics are extracted. No API call, nothing to flush.
//!
//! Written here rather than with `metrics_cloudwatch_embedded`: that crate records through the
//! `metrics` facade's process-wide recorder and aggregates until a flush, while each line here is
//! one request's handful of counts, known when the request ends, carrying that request's ids as
//! properties (which a process-wide aggregate cannot). It is one serde type; the serializer is
//! checked against the specification's own example.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::Serialize as DeriveSerialize;
use serde_json::Value;

/// The CloudWatch units these documents use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DeriveSerialize)]
pub enum Unit {
    Count,
    Milliseconds,
}

/// A root member of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    /// A dimension's value (dimension values are strings).
    Dimension(String),
    /// A metric's value, its unit and, when not the standard 60 s, its storage resolution.
    Metric {
        value: serde_json::Number,
        unit: Unit,
        resolution: Option<u8>,
    },
    /// Any other member: searchable in Logs Insights, not a metric.
    Property(Value),
}

impl Member {
    pub fn count(n: usize) -> Self {
        Self::Metric {
            value: (n as u64).into(),
            unit: Unit::Count,
            resolution: None,
        }
    }

    pub fn milliseconds(ms: f64) -> Self {
        Self::Metric {
            value: serde_json::Number::from_f64(ms).unwrap_or_else(|| 0.into()),
            unit: Unit::Milliseconds,
            resolution: None,
        }
    }
}

/// One EMF document with one metric directive: every `Metric` member is declared in it, so the
/// directive never references a member the root lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub timestamp_ms: u64,
    pub namespace: String,
    /// Each set names `Dimension` members.
    pub dimension_sets: Vec<Vec<&'static str>>,
    pub members: Vec<(&'static str, Member)>,
}

#[derive(DeriveSerialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata<'a> {
    timestamp: u64,
    cloud_watch_metrics: [Directive<'a>; 1],
}

#[derive(DeriveSerialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    namespace: &'a str,
    dimensions: &'a [Vec<&'static str>],
    metrics: Vec<Definition<'a>>,
}

#[derive(DeriveSerialize)]
#[serde(rename_all = "PascalCase")]
struct Definition<'a> {
    name: &'a str,
    unit: Unit,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_resolution: Option<u8>,
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let metrics = self
            .members
            .iter()
            .filter_map(|(name, m)| match m {
                Member::Metric {
                    unit, resolution, ..
                } => Some(Definition {
                    name,
                    unit: *unit,
                    storage_resolution: *resolution,
                }),
                _ => None,
            })
            .collect();
        let mut map = serializer.serialize_map(Some(self.members.len() + 1))?;
        map.serialize_entry(
            "_aws",
            &Metadata {
                timestamp: self.timestamp_ms,
                cloud_watch_metrics: [Directive {
                    namespace: &self.namespace,
                    dimensions: &self.dimension_sets,
                    metrics,
                }],
            },
        )?;
        for (name, member) in &self.members {
            match member {
                Member::Dimension(v) => map.serialize_entry(name, v)?,
                Member::Metric { value, .. } => map.serialize_entry(name, value)?,
                Member::Property(v) => map.serialize_entry(name, v)?,
            }
        }
        map.end()
    }
}

/// Milliseconds since the epoch: EMF's `Timestamp`.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where documents go: stdout in Lambda, a buffer in tests. One line, one `write_all`.
pub struct Sink(Mutex<Box<dyn Write + Send>>);

impl Sink {
    pub fn new(writer: Box<dyn Write + Send>) -> Self {
        Self(Mutex::new(writer))
    }

    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }

    pub fn emit(&self, document: &Document) {
        let Ok(mut line) = serde_json::to_vec(document) else {
            return;
        };
        line.push(b'\n');
        // Metrics are never worth failing a request for: a line that cannot be written is dropped.
        if let Ok(mut writer) = self.0.lock() {
            if writer
                .write_all(&line)
                .and_then(|()| writer.flush())
                .is_err()
            {
                tracing::warn!("an EMF metrics line could not be written");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example document of CloudWatch's "Specification: Embedded metric format" page, as
    /// published there.
    const SPEC_EXAMPLE: &str = r#"{
      "_aws": {
        "Timestamp": 1574109732004,
        "CloudWatchMetrics": [
          {
            "Namespace": "lambda-function-metrics",
            "Dimensions": [["functionVersion"]],
            "Metrics": [
              {
                "Name": "time",
                "Unit": "Milliseconds",
                "StorageResolution": 60
              }
            ]
          }
        ]
      },
      "functionVersion": "$LATEST",
      "time": 100,
      "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
    }"#;

    #[test]
    fn the_specification_example_is_reproduced_exactly() {
        let document = Document {
            timestamp_ms: 1_574_109_732_004,
            namespace: "lambda-function-metrics".into(),
            dimension_sets: vec![vec!["functionVersion"]],
            members: vec![
                ("functionVersion", Member::Dimension("$LATEST".into())),
                (
                    "time",
                    Member::Metric {
                        value: 100.into(),
                        unit: Unit::Milliseconds,
                        resolution: Some(60),
                    },
                ),
                (
                    "requestId",
                    Member::Property("989ffbf8-9ace-4817-a57c-e4dd734019ee".into()),
                ),
            ],
        };
        let ours = serde_json::to_value(&document).expect("serializes");
        let spec: Value = serde_json::from_str(SPEC_EXAMPLE).expect("the example is JSON");
        assert_eq!(ours, spec);
    }

    #[test]
    fn the_sink_writes_one_line_per_document() {
        let out = crate::test_support::Captured::default();
        let sink = Sink::new(Box::new(out.clone()));
        let document = Document {
            timestamp_ms: 1,
            namespace: "N".into(),
            dimension_sets: vec![vec![]],
            members: vec![("A", Member::count(3)), ("B", Member::milliseconds(1.5))],
        };
        sink.emit(&document);
        sink.emit(&document);
        let text = out.text();
        assert_eq!(text.lines().count(), 2, "{text}");
        let line: Value = serde_json::from_str(text.lines().next().expect("line")).expect("JSON");
        assert_eq!(line["A"], 3);
        assert_eq!(line["B"], 1.5);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "A", "Unit": "Count"}, {"Name": "B", "Unit": "Milliseconds"}])
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
