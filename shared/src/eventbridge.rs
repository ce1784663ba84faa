//! The EventBridge publisher: PutEvents, ten entries a call, every entry's result checked.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use tokio::task::JoinSet;

use crate::publish::{Entry, Publisher};
use crate::Error;

/// PutEvents takes at most ten entries a call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

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

    fn request_entry(&self, e: &Entry) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(&self.source)
            .detail_type(e.detail_type)
            .detail(e.detail.get())
            .event_bus_name(&self.bus)
            // Okta's `published` when it is RFC 3339 (milliseconds or microseconds); otherwise
            // EventBridge stamps the time of the call.
            .set_time(
                e.time
                    .as_deref()
                    .and_then(|t| DateTime::from_str(t, Format::DateTime).ok()),
            )
            .build()
    }
}

impl Publisher for EventBridgePublisher {
    async fn publish(&self, entries: &[Entry]) -> Result<(), Error> {
        // Calls run concurrently: a batch of hundreds must finish inside Okta's 3 seconds.
        let mut calls = JoinSet::new();
        for chunk in entries.chunks(MAX_ENTRIES_PER_CALL) {
            let request = self
                .client
                .put_events()
                .set_entries(Some(chunk.iter().map(|e| self.request_entry(e)).collect()));
            calls.spawn(async move { request.send().await });
        }
        let mut failures = Vec::new();
        while let Some(joined) = calls.join_next().await {
            match joined {
                Err(join) => failures.push(format!("task failed: {join}")),
                Ok(Err(sdk)) => failures.push(format!(
                    "PutEvents failed: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(sdk)
                )),
                // A partial failure is a failure: the failed entries were not published.
                Ok(Ok(out)) if out.failed_entry_count() > 0 => {
                    let codes: Vec<&str> = out
                        .entries()
                        .iter()
                        .filter_map(|r| r.error_code())
                        .collect();
                    failures.push(format!(
                        "{} entries failed: {}",
                        out.failed_entry_count(),
                        codes.join(", ")
                    ));
                }
                Ok(Ok(_)) => {}
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::Publish(failures.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// A loopback stand-in for the PutEvents API (awsJson 1.1): records each call's entries and
    /// answers with the given number of failed entries per call. Real fault tests live with the
    /// integration tests; this one checks what the real SDK client sends.
    async fn put_events_stand_in(failed_per_call: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
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
                    let entries: Vec<Value> = (0..n)
                        .map(|i| match i < failed_per_call {
                            true => json!({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}),
                            false => json!({"EventId": format!("id-{i}")}),
                        })
                        .collect();
                    let answer = json!({"FailedEntryCount": failed_per_call.min(n), "Entries": entries});
                    ([(http::header::CONTENT_TYPE, "application/x-amz-json-1.1")], answer.to_string())
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
                detail: serde_json::value::to_raw_value(&json!({"eventId": format!("e{i}")}))
                    .expect("json"),
            })
            .collect()
    }

    #[tokio::test]
    async fn puts_ten_entries_a_call_with_the_card_fields() {
        let (url, calls) = put_events_stand_in(0).await;
        publisher(&url)
            .publish(&entries(23))
            .await
            .expect("published");
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
    async fn a_partial_failure_is_a_failure() {
        let (url, _) = put_events_stand_in(1).await;
        let err = publisher(&url)
            .publish(&entries(12))
            .await
            .expect_err("one entry per call failed");
        let Error::Publish(message) = err else {
            panic!("a publish error")
        };
        assert!(message.contains("ThrottlingException"), "{message}");
    }
}
