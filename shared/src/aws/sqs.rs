//! The failure queue on SQS: one message per entry that could not be published, holding the
//! PutEvents entry as it would have been sent (ready to replay), the error code, the Okta event
//! `uuid` and the delivery `eventId`.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::call_failure;
use crate::publish::{pack, Failure, FailureQueue, Parked};

/// SQS's default (and, for older queues, largest) message size. An entry too large to fit is
/// parked without its `Detail`: its `oktaEventUuid` finds the event in Okta's System Log.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
const MAX_CONCURRENT_SENDS: usize = 16;

#[derive(Debug, Clone)]
pub struct SqsFailureQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    bus: String,
    source: String,
}

/// A parked entry, as the failure queue's message body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    /// Exactly what PutEvents takes: `jq -c '[.entry]'` is a replayable `--entries` list.
    entry: PutEntry<'a>,
    error_code: &'a str,
    okta_event_uuid: Option<&'a str>,
    okta_delivery_event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail_omitted: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutEntry<'a> {
    source: &'a str,
    detail_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<&'a str>,
    event_bus_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

impl SqsFailureQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        bus: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            bus: bus.into(),
            source: source.into(),
        }
    }

    /// The message body for one parked entry.
    pub fn message(&self, parked: &Parked<'_>) -> String {
        let entry = parked.entry;
        let mut message = Message {
            entry: PutEntry {
                source: &self.source,
                detail_type: entry.detail_type,
                // Only a time PutEvents accepts; otherwise EventBridge stamps it on replay.
                time: entry
                    .time
                    .as_deref()
                    .filter(|t| DateTime::from_str(t, Format::DateTime).is_ok()),
                event_bus_name: &self.bus,
                detail: Some(entry.detail.as_str()),
            },
            error_code: &parked.failure.code,
            okta_event_uuid: entry.event_uuid.as_deref(),
            okta_delivery_event_id: parked.delivery_id,
            detail_omitted: None,
        };
        let body = serde_json::to_string(&message).unwrap_or_default();
        if body.len() <= MAX_MESSAGE_BYTES {
            return body;
        }
        message.entry.detail = None;
        message.detail_omitted = Some(
            "the entry is larger than an SQS message; find the event in Okta's System Log by oktaEventUuid",
        );
        serde_json::to_string(&message).unwrap_or_default()
    }
}

impl FailureQueue for SqsFailureQueue {
    async fn park(&self, parked: &[Parked<'_>]) -> Vec<Result<(), Failure>> {
        let bodies: Vec<String> = parked.iter().map(|p| self.message(p)).collect();
        let sizes: Vec<usize> = bodies.iter().map(String::len).collect();
        let all: Vec<usize> = (0..bodies.len()).collect();
        // SendMessageBatch: ten messages a call within the message size limit, like PutEvents.
        let sends: Vec<_> = pack(&sizes, &all, MAX_MESSAGE_BYTES)
            .into_iter()
            .map(|call| {
                let entries = call
                    .iter()
                    .map(|&i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(&bodies[i])
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>();
                let request = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(entries.ok());
                async move { (call, request.send().await) }
            })
            .collect();
        let mut results = vec![Err(Failure::permanent("NotSent")); bodies.len()];
        let answers: Vec<_> = stream::iter(sends)
            .buffer_unordered(MAX_CONCURRENT_SENDS)
            .collect()
            .await;
        for (call, answer) in answers {
            match answer {
                Ok(out) => {
                    let answered = out.successful().iter().map(|ok| (ok.id(), Ok(()))).chain(
                        out.failed().iter().map(|failed| {
                            let failure = Failure {
                                code: failed.code().to_owned(),
                                retryable: !failed.sender_fault(),
                            };
                            (failed.id(), Err(failure))
                        }),
                    );
                    for (id, result) in answered {
                        // Ids are our indices; one SQS did not send us is ignored.
                        if let Some(slot) =
                            id.parse::<usize>().ok().and_then(|i| results.get_mut(i))
                        {
                            *slot = result;
                        }
                    }
                }
                Err(err) => {
                    let failure = call_failure(err);
                    for i in call {
                        results[i] = Err(failure.clone());
                    }
                }
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::Entry;
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    use serde_json::{json, Value};

    fn queue() -> SqsFailureQueue {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIDTEST",
                "test-only",
                None,
                None,
                "test",
            ))
            .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
            .build();
        SqsFailureQueue::new(
            aws_sdk_sqs::Client::from_conf(config),
            "http://127.0.0.1:9/000000000000/failed",
            "okta-cards",
            "okta.event-cards",
        )
    }

    fn entry(time: &str, detail: String) -> Entry {
        Entry {
            detail_type: "User MFA Factor Activated",
            time: Some(time.into()),
            event_uuid: Some("uuid-1".into()),
            detail,
            trace_header: None,
        }
    }

    #[test]
    fn a_message_holds_the_replayable_entry_and_the_ids() {
        let entry = entry("2023-01-30T14:18:01.558Z", r#"{"eventId":"uuid-1"}"#.into());
        let failure = Failure::retryable("ThrottlingException");
        let parked = Parked {
            entry: &entry,
            failure: &failure,
            delivery_id: Some("delivery-1"),
        };
        let message: Value = serde_json::from_str(&queue().message(&parked)).expect("json");
        assert_eq!(
            message,
            json!({
                "entry": {
                    "Source": "okta.event-cards",
                    "DetailType": "User MFA Factor Activated",
                    "Time": "2023-01-30T14:18:01.558Z",
                    "EventBusName": "okta-cards",
                    "Detail": "{\"eventId\":\"uuid-1\"}"
                },
                "errorCode": "ThrottlingException",
                "oktaEventUuid": "uuid-1",
                "oktaDeliveryEventId": "delivery-1"
            })
        );
    }

    #[test]
    fn a_time_putevents_would_refuse_is_left_out() {
        let entry = entry("2022-06-22 18:18:29.015", "{}".into());
        let failure = Failure::permanent("MalformedDetail");
        let parked = Parked {
            entry: &entry,
            failure: &failure,
            delivery_id: None,
        };
        let message: Value = serde_json::from_str(&queue().message(&parked)).expect("json");
        assert!(message["entry"].get("Time").is_none());
        assert_eq!(message["oktaDeliveryEventId"], Value::Null);
    }

    #[test]
    fn an_entry_too_large_for_sqs_keeps_its_ids_without_the_detail() {
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_MESSAGE_BYTES));
        let entry = entry("2023-01-30T14:18:01.558Z", big);
        let failure = Failure::permanent("EntryTooLarge");
        let parked = Parked {
            entry: &entry,
            failure: &failure,
            delivery_id: Some("d"),
        };
        let body = queue().message(&parked);
        assert!(body.len() < 1024);
        let message: Value = serde_json::from_str(&body).expect("json");
        assert!(message["entry"].get("Detail").is_none());
        assert_eq!(message["oktaEventUuid"], "uuid-1");
        assert_eq!(message["errorCode"], "EntryTooLarge");
    }

    #[tokio::test]
    async fn an_unreachable_queue_parks_nothing() {
        let entry = entry("2023-01-30T14:18:01.558Z", "{}".into());
        let failure = Failure::retryable("ThrottlingException");
        let parked = Parked {
            entry: &entry,
            failure: &failure,
            delivery_id: None,
        };
        let results = queue().park(&[parked, parked]).await;
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(Result::is_err), "{results:?}");
    }
}
