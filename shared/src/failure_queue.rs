//! Where entries that could not be published are parked for an operator to replay: the failure
//! queue (SQS in AWS, see [`crate::sqs`]). Parking is what lets a delivery answer 200 although an
//! entry did not reach the bus.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::publish::{Entry, Failure};

/// One entry to park, with why it was not published and which delivery brought it.
#[derive(Debug, Clone, Copy)]
pub struct Parked<'a> {
    pub entry: &'a Entry,
    pub failure: &'a Failure,
    pub delivery_id: Option<&'a str>,
}

pub trait FailureQueue: Send + Sync {
    /// Parks each entry; one result per entry, in order. An entry not parked is lost unless Okta
    /// retries, so the caller answers a 5xx for it.
    fn park(&self, parked: &[Parked<'_>]) -> impl Future<Output = Vec<Result<(), Failure>>> + Send;
}

/// No failure queue configured: nothing can be parked, so every unpublished entry means a 5xx.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFailureQueue;

impl FailureQueue for NoFailureQueue {
    async fn park(&self, parked: &[Parked<'_>]) -> Vec<Result<(), Failure>> {
        vec![Err(Failure::permanent("NoFailureQueue")); parked.len()]
    }
}

impl<Q: FailureQueue> FailureQueue for Option<Q> {
    async fn park(&self, parked: &[Parked<'_>]) -> Vec<Result<(), Failure>> {
        match self {
            Some(queue) => queue.park(parked).await,
            None => NoFailureQueue.park(parked).await,
        }
    }
}

impl<Q: FailureQueue> FailureQueue for Arc<Q> {
    fn park(&self, parked: &[Parked<'_>]) -> impl Future<Output = Vec<Result<(), Failure>>> + Send {
        (**self).park(parked)
    }
}

/// What a parked message records, kept in memory; for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRecord {
    pub event_uuid: Option<String>,
    pub code: String,
    pub delivery_id: Option<String>,
}

/// Keeps parked entries in memory; for tests. It can be told to refuse, like an unreachable queue.
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
