//! The EventBridge publisher: one PutEvents call per batch, every entry's result read and classified.
//! Batching, retries and parking are the outbox's ([`crate::publish::Outbox`]).

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use super::call_failure;
use crate::publish::{BatchResult, Entry, Failure, Publisher};

/// The per-entry codes EventBridge documents as retryable; every other code is for good.
const RETRYABLE_ENTRY_CODES: &[&str] = &["ThrottlingException", "InternalFailure"];

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
    source: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            source: source.into(),
        }
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    /// One cheap call at start (`DescribeEventBus`, which the template grants on the bus), so the
    /// first delivery does not pay for the TLS handshake (most of a second on a small function,
    /// of Okta's 3 s). A failure is logged, never fatal: publishing will say more.
    pub async fn warm_up(&self) {
        match self
            .client
            .describe_event_bus()
            .name(&self.bus)
            .send()
            .await
        {
            Ok(_) => tracing::info!(bus = %self.bus, "EventBridge connection warmed"),
            Err(err) => tracing::warn!(
                bus = %self.bus,
                error = %aws_sdk_eventbridge::error::DisplayErrorContext(&err),
                "EventBridge warm-up call failed"
            ),
        }
    }

    fn request_entry(&self, e: &Entry) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(&self.source)
            .detail_type(e.detail_type)
            .detail(e.detail.as_str())
            .event_bus_name(&self.bus)
            // Okta's `published` when it is RFC 3339 (milliseconds or microseconds); otherwise
            // EventBridge stamps the time of the call.
            .set_time(
                e.time
                    .as_deref()
                    .and_then(|t| DateTime::from_str(t, Format::DateTime).ok()),
            )
            // X-Ray continues the invocation's trace through EventBridge to the rules' targets.
            .set_trace_header(e.trace_header.as_deref().map(str::to_owned))
            .build()
    }
}

impl Publisher for EventBridgePublisher {
    fn source(&self) -> &str {
        &self.source
    }

    async fn put(&self, batch: &[&Entry]) -> BatchResult {
        let output = self
            .client
            .put_events()
            .set_entries(Some(batch.iter().map(|e| self.request_entry(e)).collect()))
            .send()
            .await
            .map_err(call_failure)?;
        Ok(output
            .entries()
            .iter()
            .map(|result| match result.error_code() {
                None => Ok(()),
                Some(code) => Err(Failure {
                    code: code.to_owned(),
                    retryable: RETRYABLE_ENTRY_CODES.contains(&code),
                }),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::{Limits, NoFailureQueue, Outbox};
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
    use serde_json::{json, Value};
    use std::sync::{Arc, Mutex};

    #[test]
    fn okta_timestamps_become_eventbridge_times() {
        for (published, seconds) in [
            ("2023-01-30T14:18:01.558Z", 1_675_088_281),
            ("2025-04-21T06:19:19.251976Z", 1_745_216_359),
        ] {
            let t = DateTime::from_str(published, Format::DateTime).expect(published);
            assert_eq!(t.secs(), seconds, "{published}");
        }
        // Panther's form is not RFC 3339: left to EventBridge rather than guessed.
        assert!(DateTime::from_str("2022-06-22 18:18:29.015", Format::DateTime).is_err());
    }

    /// How the stand-in answers each call.
    #[derive(Clone, Copy)]
    enum Answer {
        /// Per entry position: an error code, or accepted.
        Entries(&'static [Option<&'static str>]),
        /// The whole call fails with this HTTP status and awsJson error type.
        Status(u16, &'static str),
    }

    /// A loopback stand-in for the PutEvents API (awsJson 1.1): records each call's entries and
    /// answers as told. The fault tests against moto live in `tests/`; these check what the real
    /// SDK client sends and how its answers are read.
    async fn put_events_stand_in(answer: Answer) -> (String, Arc<Mutex<Vec<Value>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: http::HeaderMap, body: bytes::Bytes| {
                let seen = seen.clone();
                async move {
                    assert_eq!(headers["x-amz-target"], "AWSEvents.PutEvents");
                    let request: Value = serde_json::from_slice(&body).expect("PutEvents JSON");
                    let n = request["Entries"].as_array().expect("Entries").len();
                    seen.lock().expect("lock").push(request);
                    let (status, answer) = match answer {
                        Answer::Entries(codes) => {
                            let entries: Vec<Value> = (0..n)
                                .map(|i| match codes.get(i).copied().flatten() {
                                    Some(code) => {
                                        json!({"ErrorCode": code, "ErrorMessage": "as told"})
                                    }
                                    None => json!({"EventId": format!("id-{i}")}),
                                })
                                .collect();
                            let failed = entries
                                .iter()
                                .filter(|e| e.get("ErrorCode").is_some())
                                .count();
                            (200, json!({"FailedEntryCount": failed, "Entries": entries}))
                        }
                        Answer::Status(status, kind) => {
                            (status, json!({"__type": kind, "message": "as told"}))
                        }
                    };
                    (
                        http::StatusCode::from_u16(status).expect("status"),
                        [(http::header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                        answer.to_string(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, calls)
    }

    fn publisher(endpoint: &str) -> EventBridgePublisher {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIDTEST",
                "test-only",
                None,
                None,
                "test",
            ))
            .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
            .endpoint_url(endpoint)
            .build();
        EventBridgePublisher::new(Client::from_conf(config), "okta-cards", "okta.event-cards")
    }

    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                detail_type: "User MFA Factor Reset All",
                time: Some(if i == 0 {
                    "2022-06-22 18:18:29.015".into()
                } else {
                    "2023-01-30T14:18:01.558Z".into()
                }),
                event_uuid: Some(format!("e{i}")),
                detail: json!({"eventId": format!("e{i}")}).to_string(),
                trace_header: None,
            })
            .collect()
    }

    #[tokio::test]
    async fn puts_ten_entries_a_call_with_the_card_fields() {
        let (url, calls) = put_events_stand_in(Answer::Entries(&[])).await;
        let outbox = Outbox::new(publisher(&url), NoFailureQueue, Limits::default());
        let arrival = tokio::time::Instant::now();
        let outcome = outbox.publish(&entries(23), Some("d1"), arrival).await;
        assert_eq!((outcome.published, outcome.calls), (23, 3));
        assert!(outcome.is_complete());
        let calls = calls.lock().expect("lock").clone();
        let mut sizes: Vec<usize> = calls
            .iter()
            .map(|c| c["Entries"].as_array().expect("entries").len())
            .collect();
        sizes.sort();
        assert_eq!(sizes, [3, 10, 10]);
        let all: Vec<&Value> = calls
            .iter()
            .flat_map(|c| c["Entries"].as_array().expect("entries"))
            .collect();
        let mut ids: Vec<String> = all
            .iter()
            .map(|e| {
                serde_json::from_str::<Value>(e["Detail"].as_str().expect("Detail is a string"))
                    .expect("json")["eventId"]
                    .as_str()
                    .expect("id")
                    .to_owned()
            })
            .collect();
        ids.sort_by_key(|id| id[1..].parse::<usize>().expect("n"));
        assert_eq!(ids, (0..23).map(|i| format!("e{i}")).collect::<Vec<_>>());
        for e in &all {
            assert_eq!(e["Source"], "okta.event-cards");
            assert_eq!(e["DetailType"], "User MFA Factor Reset All");
            assert_eq!(e["EventBusName"], "okta-cards");
        }
        let first = all
            .iter()
            .find(|e| e["Detail"].as_str().is_some_and(|d| d.contains(r#""e0""#)))
            .expect("e0");
        assert!(
            first.get("Time").is_none(),
            "a non-RFC 3339 time is left to EventBridge"
        );
        let other = all
            .iter()
            .find(|e| e["Detail"].as_str().is_some_and(|d| d.contains(r#""e1""#)))
            .expect("e1");
        assert_eq!(other["Time"].as_f64(), Some(1_675_088_281.558));
    }

    #[tokio::test]
    async fn the_trace_header_reaches_put_events_and_only_when_there_is_one() {
        let (url, calls) = put_events_stand_in(Answer::Entries(&[])).await;
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let mut entries = entries(2);
        entries[1].trace_header = Some(header.into());
        let batch: Vec<&Entry> = entries.iter().collect();
        let results = publisher(&url)
            .put(&batch)
            .await
            .expect("the call answered");
        assert_eq!(results, [Ok(()), Ok(())]);
        let calls = calls.lock().expect("lock").clone();
        let sent = calls[0]["Entries"].as_array().expect("entries");
        assert!(sent[0].get("TraceHeader").is_none(), "{}", sent[0]);
        assert_eq!(sent[1]["TraceHeader"], header);
    }

    #[tokio::test]
    async fn each_entry_result_is_read_and_classified() {
        let (url, _) = put_events_stand_in(Answer::Entries(&[
            Some("ThrottlingException"),
            Some("MalformedDetail"),
            None,
            Some("InternalFailure"),
        ]))
        .await;
        let entries = entries(4);
        let batch: Vec<&Entry> = entries.iter().collect();
        let results = publisher(&url)
            .put(&batch)
            .await
            .expect("the call answered");
        assert_eq!(
            results,
            [
                Err(Failure::retryable("ThrottlingException")),
                Err(Failure::permanent("MalformedDetail")),
                Ok(()),
                Err(Failure::retryable("InternalFailure")),
            ]
        );
    }

    #[tokio::test]
    async fn whole_call_failures_are_classified() {
        let entries = entries(1);
        let batch: Vec<&Entry> = entries.iter().collect();
        for (status, kind, expected) in [
            (
                500,
                "InternalException",
                Failure::retryable("InternalException"),
            ),
            (
                400,
                "ThrottlingException",
                Failure::retryable("ThrottlingException"),
            ),
            (
                400,
                "AccessDeniedException",
                Failure::permanent("AccessDeniedException"),
            ),
            (
                400,
                "ResourceNotFoundException",
                Failure::permanent("ResourceNotFoundException"),
            ),
        ] {
            let (url, _) = put_events_stand_in(Answer::Status(status, kind)).await;
            let failure = publisher(&url)
                .put(&batch)
                .await
                .expect_err("the call failed");
            assert_eq!(failure, expected, "{status} {kind}");
        }
        // Nothing listens on port 9 of loopback.
        let failure = publisher("http://127.0.0.1:9")
            .put(&batch)
            .await
            .expect_err("unreachable");
        assert_eq!(failure, Failure::retryable("ConnectionFailed"));
    }
}
