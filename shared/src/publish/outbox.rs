//! Publishing that loses nothing: every entry reaches the bus, or is parked in the failure queue,
//! or the caller learns in time to answer a 5xx so that Okta retries. One implementation for every
//! publisher (EventBridge, the local JSON-lines sink, tests).
//!
//! Okta waits 3 seconds and retries a delivery at most once, so everything here runs against a
//! deadline: entries are packed into calls by count and size, sent concurrently, and only the
//! entries that failed with a retryable code are sent again, after a jittered backoff, while the
//! budget lasts. Entries that failed for good are parked at once; retryable ones still unpublished
//! when the budget ends are parked then.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use super::{BatchResult, Entry, Failure, FailureQueue, Parked, Publisher};

/// PutEvents takes at most ten entries a call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// EventBridge's PutEvents request limit, as its entry-size rules count it.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Okta waits this long for an answer, then counts the delivery failed.
pub const OKTA_TIMEOUT: Duration = Duration::from_secs(3);
/// By default publishing ends here, so that parking and the answer fit in the rest of Okta's time.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(2500);
/// Kept for the answer to reach Okta after parking.
const ANSWER_MARGIN: Duration = Duration::from_millis(100);
/// Parking always gets at least this long, even when the budget leaves Okta's time no room.
pub const MIN_PARK_WINDOW: Duration = Duration::from_millis(200);
/// The code an entry too large for any call is parked with (ours, not EventBridge's).
pub const ENTRY_TOO_LARGE: &str = "EntryTooLarge";
/// `Time` counts 14 bytes, whatever its text.
const TIME_BYTES: usize = 14;
/// Calls in flight at once for one delivery: a 10,000-event delivery must not open 1,000.
const MAX_CONCURRENT_CALLS: usize = 16;
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_millis(800);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `MAX_BATCH_BYTES`: the request size limit each call keeps within.
    pub max_request_bytes: usize,
    /// `PUBLISH_BUDGET_MS`: publishing ends this long after the request arrived.
    pub budget: Duration,
    /// Okta's timeout ([`OKTA_TIMEOUT`]): parking ends before it. Only tests change it, to run the
    /// same timeline slower against peers slower than AWS.
    pub okta_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: MAX_REQUEST_BYTES,
            budget: DEFAULT_BUDGET,
            okta_timeout: OKTA_TIMEOUT,
        }
    }
}

/// An entry that was not published, by Okta event uuid and error code (never its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublished {
    pub event_uuid: Option<String>,
    pub code: String,
}

/// What became of a delivery's entries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub published: usize,
    /// Not published, but parked in the failure queue: the delivery can still answer 200.
    pub parked: Vec<Unpublished>,
    /// Neither published nor parked: the delivery must answer a 5xx so that Okta retries.
    pub lost: Vec<Unpublished>,
    /// Calls made, and entries sent again after a retryable failure.
    pub calls: usize,
    pub resent: usize,
}

impl Outcome {
    pub fn is_complete(&self) -> bool {
        self.lost.is_empty()
    }
}

/// The entry's size as EventBridge counts it towards the request limit: 14 bytes for `Time`, and the
/// UTF-8 bytes of `Source`, `DetailType` and `Detail` (we send no `Resources`). `Time` is counted
/// whenever the entry has one, which over-counts by 14 when EventBridge is left to stamp it.
/// EventBridge's documented count leaves out `TraceHeader`; its bytes are counted anyway (about 80
/// an entry), so that a call stays within the limit should the service count them.
pub fn entry_size(source: &str, entry: &Entry) -> usize {
    entry.time.as_ref().map_or(0, |_| TIME_BYTES)
        + source.len()
        + entry.detail_type.len()
        + entry.detail.as_str().len()
        + entry.trace_header.as_deref().map_or(0, str::len)
}

/// Packs the entries at `pending` (indices into `sizes`), in order, into calls of at most ten
/// entries and `max_bytes`, each call a list of indices. Every entry must fit on its own (larger
/// ones are parked before).
pub fn pack(sizes: &[usize], pending: &[usize], max_bytes: usize) -> Vec<Vec<usize>> {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    for &i in pending {
        match calls.last_mut() {
            Some(call) if call.len() < MAX_ENTRIES_PER_CALL && bytes + sizes[i] <= max_bytes => {
                call.push(i);
                bytes += sizes[i];
            }
            _ => {
                calls.push(vec![i]);
                bytes = sizes[i];
            }
        }
    }
    calls
}

/// "Full jitter" backoff: a random wait up to an exponentially growing cap, so that the callers a
/// throttle hit together do not come back together.
fn backoff(round: u32) -> Duration {
    let cap = BACKOFF_BASE
        .saturating_mul(1 << round.min(10))
        .min(BACKOFF_CAP);
    cap.mul_f64(fastrand::f64())
}

pub struct Outbox<P, Q> {
    publisher: P,
    queue: Q,
    limits: Limits,
}

impl<P: Publisher, Q: FailureQueue> Outbox<P, Q> {
    pub fn new(publisher: P, queue: Q, limits: Limits) -> Self {
        Self {
            publisher,
            queue,
            limits,
        }
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// When publishing and parking must end for a request that arrived at `arrival`: publishing at
    /// the budget; parking in the rest of Okta's 3 s, less a margin for the answer.
    pub fn deadlines(&self, arrival: Instant) -> (Instant, Instant) {
        let publish = arrival + self.limits.budget;
        let okta = arrival + self.limits.okta_timeout;
        let park = (okta - ANSWER_MARGIN).max(publish + MIN_PARK_WINDOW);
        (publish, park)
    }

    /// Publishes `entries` of a request that arrived at `arrival`, within the budget; what could
    /// not be published is parked.
    pub async fn publish(
        &self,
        entries: &[Entry],
        delivery_id: Option<&str>,
        arrival: Instant,
    ) -> Outcome {
        let (deadline, park_deadline) = self.deadlines(arrival);
        let mut outcome = Outcome::default();
        let source = self.publisher.source();
        let sizes: Vec<usize> = entries.iter().map(|e| entry_size(source, e)).collect();
        let (mut pending, too_large): (Vec<usize>, Vec<usize>) =
            (0..entries.len()).partition(|&i| sizes[i] <= self.limits.max_request_bytes);
        let mut for_good: Vec<(usize, Failure)> = too_large
            .into_iter()
            .map(|i| (i, Failure::permanent(ENTRY_TOO_LARGE)))
            .collect();
        let mut round = 0;
        loop {
            let calls = pack(&sizes, &pending, self.limits.max_request_bytes);
            let answers: Vec<(Vec<usize>, BatchResult)> = stream::iter(calls)
                .map(|call| async move {
                    let batch: Vec<&Entry> = call.iter().map(|&i| &entries[i]).collect();
                    let answer = self.put(&batch, deadline).await;
                    (call, answer)
                })
                .buffer_unordered(MAX_CONCURRENT_CALLS)
                .collect()
                .await;
            let mut retry: Vec<(usize, Failure)> = Vec::new();
            for (call, answer) in answers {
                outcome.calls += 1;
                let results = match answer {
                    Ok(results) if results.len() == call.len() => results,
                    // Results that do not line up with the entries cannot say which were
                    // published: send them all again (EventBridge consumers dedupe on eventId).
                    Ok(_) => vec![Err(Failure::retryable("ResultCountMismatch")); call.len()],
                    Err(failure) => vec![Err(failure); call.len()],
                };
                for (i, result) in call.into_iter().zip(results) {
                    match result {
                        Ok(()) => outcome.published += 1,
                        Err(failure) if failure.retryable => retry.push((i, failure)),
                        Err(failure) => for_good.push((i, failure)),
                    }
                }
            }
            // Entries rejected for good will not get better: park them now, not after the budget.
            if !for_good.is_empty() {
                let failed = std::mem::take(&mut for_good);
                self.park(entries, failed, delivery_id, park_deadline, &mut outcome)
                    .await;
            }
            if retry.is_empty() {
                break;
            }
            round += 1;
            let wait = backoff(round);
            if Instant::now() + wait >= deadline {
                self.park(entries, retry, delivery_id, park_deadline, &mut outcome)
                    .await;
                break;
            }
            tokio::time::sleep(wait).await;
            outcome.resent += retry.len();
            pending = retry.into_iter().map(|(i, _)| i).collect();
        }
        outcome
    }

    /// One call, ended at `deadline`: a call still unanswered then counts as a retryable failure.
    async fn put(&self, batch: &[&Entry], deadline: Instant) -> BatchResult {
        match tokio::time::timeout_at(deadline, self.publisher.put(batch)).await {
            Ok(answer) => answer,
            Err(_) => Err(Failure::retryable("Timeout")),
        }
    }

    async fn park(
        &self,
        entries: &[Entry],
        failed: Vec<(usize, Failure)>,
        delivery_id: Option<&str>,
        deadline: Instant,
        outcome: &mut Outcome,
    ) {
        let parked: Vec<Parked<'_>> = failed
            .iter()
            .map(|(i, failure)| Parked {
                entry: &entries[*i],
                failure,
                delivery_id,
            })
            .collect();
        let results = match tokio::time::timeout_at(deadline, self.queue.park(&parked)).await {
            Ok(results) if results.len() == parked.len() => results,
            Ok(_) => vec![Err(Failure::permanent("ResultCountMismatch")); parked.len()],
            Err(_) => vec![Err(Failure::retryable("Timeout")); parked.len()],
        };
        for (p, result) in parked.iter().zip(results) {
            let unpublished = Unpublished {
                event_uuid: p.entry.event_uuid.clone(),
                code: p.failure.code.clone(),
            };
            match result {
                Ok(()) => outcome.parked.push(unpublished),
                Err(_) => outcome.lost.push(unpublished),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::NoFailureQueue;
    use crate::test_support::{InMemoryFailureQueue, InMemoryPublisher};
    use std::collections::HashMap;
    use std::sync::Mutex;

    const SOURCE: &str = "okta.event-cards";

    fn entry(uuid: &str, detail_bytes: usize) -> Entry {
        let filler = "x".repeat(detail_bytes.saturating_sub(8));
        Entry {
            detail_type: "User MFA Factor Reset All",
            time: Some("2023-01-30T14:18:01.558Z".into()),
            event_uuid: Some(uuid.into()),
            detail: format!(r#"{{"f":"{filler}"}}"#),
            trace_header: None,
        }
    }

    fn entries(n: usize) -> Vec<Entry> {
        (0..n).map(|i| entry(&format!("e{i}"), 100)).collect()
    }

    fn soon() -> Instant {
        Instant::now()
    }

    /// A publisher that answers from a script: per entry uuid, the failures to give before it is
    /// accepted. Records every put, so tests can count calls and see what was sent when.
    #[derive(Default)]
    struct Scripted {
        failures: Mutex<HashMap<String, Vec<Failure>>>,
        whole_call: Mutex<Vec<Failure>>,
        delay: Option<Duration>,
        calls: Mutex<Vec<Vec<String>>>,
        published: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn failing(self, uuid: &str, failures: &[Failure]) -> Self {
            self.failures
                .lock()
                .expect("lock")
                .insert(uuid.into(), failures.to_vec());
            self
        }

        fn published(&self) -> Vec<String> {
            self.published.lock().expect("lock").clone()
        }
    }

    impl Publisher for Scripted {
        fn source(&self) -> &str {
            SOURCE
        }

        async fn put(&self, batch: &[&Entry]) -> BatchResult {
            let uuids: Vec<String> = batch
                .iter()
                .map(|e| e.event_uuid.clone().expect("uuid"))
                .collect();
            self.calls.lock().expect("lock").push(uuids.clone());
            if let Some(delay) = self.delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(failure) = self.whole_call.lock().expect("lock").pop() {
                return Err(failure);
            }
            let mut script = self.failures.lock().expect("lock");
            Ok(uuids
                .into_iter()
                .map(|uuid| match script.get_mut(&uuid).and_then(|f| f.pop()) {
                    Some(failure) => Err(failure),
                    None => {
                        self.published.lock().expect("lock").push(uuid);
                        Ok(())
                    }
                })
                .collect())
        }
    }

    #[test]
    fn entry_size_counts_as_aws_documents() {
        let e = entry("e", 100);
        assert_eq!(e.detail.as_str().len(), 100);
        // 14 (Time) + 16 (Source) + 25 (DetailType) + 100 (Detail)
        assert_eq!(entry_size(SOURCE, &e), 14 + 16 + 25 + 100);
        let untimed = Entry { time: None, ..e };
        assert_eq!(entry_size(SOURCE, &untimed), 16 + 25 + 100);
        // UTF-8 bytes, not characters.
        let unicode = Entry {
            detail: r#"{"n":"Zoë"}"#.into(),
            ..untimed
        };
        assert_eq!(entry_size(SOURCE, &unicode), 16 + 25 + 12);
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let traced = Entry {
            trace_header: Some(header.into()),
            ..unicode
        };
        assert_eq!(entry_size(SOURCE, &traced), 16 + 25 + 12 + header.len());
    }

    #[test]
    fn packs_ten_entries_a_call_within_the_byte_limit_in_order() {
        let packed = |sizes: &[usize], pending: &[usize], max: usize| -> Vec<Vec<usize>> {
            pack(sizes, pending, max)
                .iter()
                .map(|c| c.to_vec())
                .collect()
        };
        let all: Vec<usize> = (0..23).collect();
        let calls = packed(&[100; 23], &all, MAX_REQUEST_BYTES);
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);
        assert_eq!(calls.concat(), all);
        // 100 KiB entries: two fit in 256 KiB, a third does not.
        let calls = packed(&[100 * 1024; 5], &[0, 1, 2, 3, 4], MAX_REQUEST_BYTES);
        assert_eq!(calls, [vec![0, 1], vec![2, 3], vec![4]]);
        // Exactly at the limit is within it.
        let calls = packed(&[128 * 1024; 2], &[0, 1], MAX_REQUEST_BYTES);
        assert_eq!(calls, [vec![0, 1]]);
        // A configured smaller limit applies.
        let calls = packed(&[400, 400, 400], &[0, 1, 2], 1000);
        assert_eq!(calls, [vec![0, 1], vec![2]]);
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let waits: Vec<Duration> = (0..50).map(|_| backoff(1)).collect();
        assert!(waits.iter().all(|w| *w <= BACKOFF_BASE * 2));
        assert!(
            waits.windows(2).any(|w| w[0] != w[1]),
            "waits must differ: {waits:?}"
        );
        assert!((0..50).map(|_| backoff(30)).all(|w| w <= BACKOFF_CAP));
    }

    #[tokio::test]
    async fn everything_published_in_as_few_calls_as_the_limits_allow() {
        let outbox = Outbox::new(Scripted::default(), NoFailureQueue, Limits::default());
        let outcome = outbox.publish(&entries(23), Some("d1"), soon()).await;
        assert_eq!(outcome.published, 23);
        assert!(outcome.is_complete());
        assert_eq!((outcome.calls, outcome.resent), (3, 0));
        assert_eq!(outbox.publisher().published().len(), 23);
    }

    #[tokio::test]
    async fn only_the_failed_entries_are_sent_again() {
        let publisher = Scripted::default()
            .failing("e3", &[Failure::retryable("ThrottlingException")])
            .failing(
                "e7",
                &[
                    Failure::retryable("InternalFailure"),
                    Failure::retryable("ThrottlingException"),
                ],
            );
        let outbox = Outbox::new(publisher, NoFailureQueue, Limits::default());
        let outcome = outbox.publish(&entries(12), None, soon()).await;
        assert_eq!(outcome.published, 12);
        assert!(outcome.is_complete());
        let calls = outbox.publisher().calls.lock().expect("lock").clone();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(calls[2..], [vec!["e3", "e7"], vec!["e7"]]);
        let mut published = outbox.publisher().published();
        published.sort();
        published.dedup();
        assert_eq!(published.len(), 12, "each entry published exactly once");
    }

    #[tokio::test]
    async fn a_few_entries_go_in_one_call_and_only_a_failed_one_is_sent_again() {
        let outbox = Outbox::new(Scripted::default(), NoFailureQueue, Limits::default());
        let outcome = outbox.publish(&entries(3), Some("d1"), soon()).await;
        assert_eq!(
            (outcome.published, outcome.calls, outcome.resent),
            (3, 1, 0)
        );
        let calls = outbox.publisher().calls.lock().expect("lock").clone();
        assert_eq!(calls, [vec!["e0", "e1", "e2"]]);

        // The one call's answer carries on into the rounds: e1 alone is sent again.
        let publisher =
            Scripted::default().failing("e1", &[Failure::retryable("ThrottlingException")]);
        let outbox = Outbox::new(publisher, NoFailureQueue, Limits::default());
        let outcome = outbox.publish(&entries(3), None, soon()).await;
        assert_eq!(
            (outcome.published, outcome.calls, outcome.resent),
            (3, 2, 1)
        );
        assert!(outcome.is_complete());
        let calls = outbox.publisher().calls.lock().expect("lock").clone();
        assert_eq!(calls, [vec!["e0", "e1", "e2"], vec!["e1"]]);
    }

    #[tokio::test]
    async fn entries_rejected_for_good_are_parked_at_once() {
        let publisher = Scripted::default().failing("e1", &[Failure::permanent("MalformedDetail")]);
        let outbox = Outbox::new(publisher, InMemoryFailureQueue::new(), Limits::default());
        let outcome = outbox.publish(&entries(3), Some("d1"), soon()).await;
        assert_eq!(outcome.published, 2);
        assert_eq!(
            outcome.parked,
            [Unpublished {
                event_uuid: Some("e1".into()),
                code: "MalformedDetail".into()
            }]
        );
        assert!(outcome.is_complete());
        assert_eq!(outcome.calls, 1, "never sent again");
        let parked = outbox.queue().parked();
        assert_eq!(parked[0].delivery_id.as_deref(), Some("d1"));
    }

    #[tokio::test]
    async fn an_entry_too_large_for_any_call_is_parked_unsent() {
        let limits = Limits {
            max_request_bytes: 1000,
            ..Limits::default()
        };
        let big = entry("big", 2000);
        let small = entry("small", 100);
        let outbox = Outbox::new(Scripted::default(), InMemoryFailureQueue::new(), limits);
        let outcome = outbox.publish(&[big, small], None, soon()).await;
        assert_eq!(outcome.published, 1);
        assert_eq!(outcome.parked[0].code, ENTRY_TOO_LARGE);
        assert_eq!(outbox.publisher().published(), ["small"]);
    }

    #[tokio::test]
    async fn without_a_failure_queue_unpublished_entries_are_lost_so_okta_must_retry() {
        let outbox = Outbox::new(
            InMemoryPublisher::failing("AccessDeniedException"),
            NoFailureQueue,
            Limits::default(),
        );
        let outcome = outbox.publish(&entries(2), None, soon()).await;
        assert!(!outcome.is_complete());
        assert_eq!(outcome.lost.len(), 2);
        assert_eq!(outcome.lost[0].code, "AccessDeniedException");
    }

    #[tokio::test]
    async fn a_queue_that_refuses_loses_the_entries() {
        let outbox = Outbox::new(
            InMemoryPublisher::failing("AccessDeniedException"),
            InMemoryFailureQueue::refusing(),
            Limits::default(),
        );
        let outcome = outbox.publish(&entries(1), None, soon()).await;
        assert_eq!(outcome.lost.len(), 1);
        assert!(outcome.parked.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn retrying_stops_at_the_deadline_and_parks_what_is_left() {
        // Every call throttled, forever: the outbox must give up at the deadline, not spin.
        let throttled: Vec<Failure> = vec![Failure::retryable("ThrottlingException"); 1000];
        let publisher = Scripted::default().failing("e0", &throttled);
        let outbox = Outbox::new(publisher, InMemoryFailureQueue::new(), Limits::default());
        let started = Instant::now();
        let outcome = outbox.publish(&entries(2), Some("d1"), started).await;
        assert!(Instant::now() <= started + OKTA_TIMEOUT);
        assert_eq!(outcome.published, 1);
        assert_eq!(outcome.parked[0].code, "ThrottlingException");
        assert!(outcome.resent >= 3, "retried while the budget lasted");
        assert!(outcome.is_complete());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_hangs_is_cut_at_the_deadline() {
        let publisher = Scripted {
            delay: Some(Duration::from_secs(30)),
            ..Scripted::default()
        };
        let outbox = Outbox::new(publisher, InMemoryFailureQueue::new(), Limits::default());
        let started = Instant::now();
        let outcome = outbox.publish(&entries(1), None, started).await;
        assert!(Instant::now() < started + OKTA_TIMEOUT);
        assert_eq!(outcome.parked[0].code, "Timeout");
    }

    #[test]
    fn parking_gets_the_rest_of_oktas_time_and_never_nothing() {
        let arrival = Instant::now();
        let deadlines = |budget_ms| {
            let limits = Limits {
                budget: Duration::from_millis(budget_ms),
                ..Limits::default()
            };
            let (publish, park) =
                Outbox::new(Scripted::default(), NoFailureQueue, limits).deadlines(arrival);
            (publish - arrival, park - arrival)
        };
        let ms = Duration::from_millis;
        assert_eq!(deadlines(2500), (ms(2500), ms(2900)));
        assert_eq!(deadlines(1500), (ms(1500), ms(2900)));
        assert_eq!(deadlines(2900), (ms(2900), ms(3100)));
    }

    #[tokio::test]
    async fn a_whole_call_failure_fails_each_of_its_entries() {
        let publisher = Scripted::default();
        publisher
            .whole_call
            .lock()
            .expect("lock")
            .push(Failure::retryable("ServiceUnavailable"));
        let outbox = Outbox::new(publisher, NoFailureQueue, Limits::default());
        let outcome = outbox.publish(&entries(5), None, soon()).await;
        assert_eq!(outcome.published, 5);
        assert_eq!(outcome.resent, 5);
    }
}
