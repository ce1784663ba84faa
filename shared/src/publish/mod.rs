//! Publishing card events: the entry, the `Publisher` trait, the outbox every publisher goes
//! through (batching, retries within Okta's time, parking), the failure queue, and the JSON-lines
//! sink of `serve`. The AWS publishers are in [`crate::aws`].

mod failure_queue;
mod json_lines;
mod outbox;

use std::future::Future;
use std::sync::Arc;

use crate::cards::CardEvent;

pub use failure_queue::{FailureQueue, NoFailureQueue, Parked};
pub use json_lines::{JsonLinesPublisher, Tee};
pub use outbox::{
    entry_size, pack, Limits, Outbox, Outcome, Unpublished, DEFAULT_BUDGET, ENTRY_TOO_LARGE,
    MAX_ENTRIES_PER_CALL, MAX_REQUEST_BYTES, MIN_PARK_WINDOW, OKTA_TIMEOUT,
};

/// One card event, ready for PutEvents. `Source` and the bus belong to the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl From<CardEvent> for Entry {
    fn from(event: CardEvent) -> Self {
        Self {
            detail_type: event.detail_type,
            time: event.time,
            event_uuid: event.event_uuid,
            detail: event.detail,
            trace_header: None,
        }
    }
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
/// [`Outbox`]'s, the same for every publisher; a publisher only sends one batch (at most ten
/// entries within the size limit) and reports each entry's result.
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
