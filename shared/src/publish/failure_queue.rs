//! Where entries that could not be published are parked for an operator to replay: the failure
//! queue (SQS in AWS, see [`crate::aws::SqsFailureQueue`]). Parking is what lets a delivery answer 200 although an
//! entry did not reach the bus.

use std::future::Future;
use std::sync::Arc;

use super::{Entry, Failure};

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
