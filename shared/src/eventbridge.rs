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
}
