//! Handler CPU per delivery against the floor: reading the same bytes with
//! `serde_json::from_slice::<IgnoredAny>` (a syntax pass that builds nothing).
//!
//! `cargo bench -p okta-event-cards --bench handler` measures both in the same run and ends with a
//! table of the ratios (target: at most 6x for one event). docs/performance.md says how to read it.

use std::future::Future;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use okta_event_cards::cards::{Card, USER_MFA_FACTOR_ACTIVATED, USER_MFA_FACTOR_RESET_ALL};
use okta_event_cards::publish::{BatchResult, Entry, Publisher};
use okta_event_cards::{Config, Handler};

const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";

/// Keeps nothing: an accumulating store would grow by gigabytes over a run and time the clones.
struct Discard;

impl Publisher for Discard {
    fn source(&self) -> &str {
        "okta.event-cards"
    }

    async fn put(&self, batch: &[&Entry]) -> BatchResult {
        black_box(batch);
        Ok(vec![Ok(()); batch.len()])
    }
}

struct Case {
    /// The criterion group: `<name>/floor` and `<name>/handler`.
    name: &'static str,
    card: &'static Card,
    body: Bytes,
    /// Entries the card publishes from this delivery; checked once before measuring.
    entries: usize,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(path: &str) -> String {
    let full = root().join("shared/fixtures").join(path);
    std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
        .trim()
        .to_owned()
}

/// An Okta envelope around these events, as Okta sends it (same keys as the tests' envelope).
fn envelope(events: &[String]) -> Bytes {
    format!(
        r#"{{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"https://example-org.okta.com/api/v1/eventHooks/who8a7b6c5d4e3f2g1h0","eventId":"0e6ba1f4-4b1f-4f0b-9c3e-6a4c5c0d2a11","data":{{"events":[{}]}},"eventTime":"2026-11-22T13:56:00.512Z","contentType":"application/json"}}"#,
        events.join(",")
    )
    .into()
}

fn cases() -> Vec<Case> {
    let reset_all = fixture("samples/panther-user.mfa.factor.reset_all-1.json");
    let matching = |n: usize| envelope(&vec![reset_all.clone(); n]);
    // One hook subscribed to many types: two of ten events are the card's.
    let mixed = [
        "samples/stix-shifter-user.mfa.factor.activate-1.json",
        "synthetic/ie-user.mfa.factor.deactivate-user-first.json",
        "samples/panther-user.mfa.factor.reset_all-1.json",
        "synthetic/system.voice.send_phone_verification_call-oie2022.json",
        "synthetic/system.mfa.preregister.initiate-yubico.json",
        "synthetic/ie-user.mfa.factor.activate-sms.json",
        "synthetic/unicode-user.mfa.factor.deactivate.json",
        "synthetic/system.voice.send_phone_verification_call-classic.json",
        "synthetic/ie-user.mfa.factor.deactivate-reset-okta-verify-push.json",
        "synthetic/system.voice.send_phone_verification_call-deny.json",
    ]
    .map(fixture);
    vec![
        Case {
            name: "events-0",
            card: &USER_MFA_FACTOR_RESET_ALL,
            body: matching(0),
            entries: 0,
        },
        Case {
            name: "events-1",
            card: &USER_MFA_FACTOR_RESET_ALL,
            body: matching(1),
            entries: 1,
        },
        Case {
            name: "events-10",
            card: &USER_MFA_FACTOR_RESET_ALL,
            body: matching(10),
            entries: 10,
        },
        Case {
            name: "events-100",
            card: &USER_MFA_FACTOR_RESET_ALL,
            body: matching(100),
            entries: 100,
        },
        Case {
            name: "mixed-10",
            card: &USER_MFA_FACTOR_ACTIVATED,
            body: envelope(&mixed),
            entries: 2,
        },
    ]
}

/// The headers API Gateway hands over for an Okta delivery (from events/), content-length set.
fn headers(body_len: usize) -> HeaderMap {
    let path = root().join("events/user-mfa-factor-reset-all/delivery.json");
    let text = std::fs::read_to_string(&path).expect("events/ delivery");
    let event: serde_json::Value = serde_json::from_str(&text).expect("an API Gateway event");
    let mut map = HeaderMap::new();
    for (name, value) in event["headers"].as_object().expect("headers") {
        let value = match name.as_str() {
            "content-length" => body_len.to_string(),
            _ => value.as_str().expect("a header value").to_owned(),
        };
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(&value).expect("a header value"),
        );
    }
    map
}

fn request(headers: &HeaderMap, body: &Bytes) -> Request<Full<Bytes>> {
    let mut request = Request::post("/okta/card")
        .body(Full::new(body.clone()))
        .expect("request");
    *request.headers_mut() = headers.clone();
    request
}

/// Nothing in the handler waits with this publisher and an in-memory body: one poll finishes it,
/// so no runtime is timed.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the handler waited on an in-memory delivery"),
    }
}

/// Counts what one delivery published, to check a case before timing it.
struct Count(AtomicUsize);

impl Publisher for Count {
    fn source(&self) -> &str {
        "okta.event-cards"
    }

    async fn put(&self, batch: &[&Entry]) -> BatchResult {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
        Ok(vec![Ok(()); batch.len()])
    }
}

fn config() -> Config {
    Config::from_lookup(|name| (name == "OKTA_HOOK_SECRET").then(|| SECRET.to_owned()))
        .expect("config")
}

fn check(case: &Case, headers: &HeaderMap) {
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let handler = Handler::new(case.card, &config(), Arc::clone(&count));
    let response = ready(handler.handle(request(headers, &case.body)));
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}: {}",
        case.name,
        response.body()
    );
    let published = count.0.load(Ordering::Relaxed);
    assert_eq!(published, case.entries, "{}: entries published", case.name);
}

fn output_directory() -> PathBuf {
    match (
        std::env::var_os("CRITERION_HOME"),
        std::env::var_os("CARGO_TARGET_DIR"),
    ) {
        (Some(home), _) => home.into(),
        (None, Some(target)) => PathBuf::from(target).join("criterion"),
        (None, None) => root().join("target/criterion"),
    }
}

/// The median of one benchmark of this run, in ns; None when it did not run (filtered, or
/// `cargo test` mode, which runs each routine once and writes nothing).
fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(function).join("new/estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let estimates: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn main() {
    // The outbox's deadline needs tokio's timer in scope; an in-memory delivery never waits on it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _context = runtime.enter();
    let started = SystemTime::now();
    let dir = output_directory();
    let mut criterion = Criterion::default()
        .output_directory(&dir)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let cases = cases();
    for case in &cases {
        let headers = headers(case.body.len());
        check(case, &headers);
        let handler = Handler::new(case.card, &config(), Discard);
        let mut group = criterion.benchmark_group(case.name);
        group.throughput(Throughput::Bytes(case.body.len() as u64));
        group.bench_function("floor", |b| {
            b.iter(|| {
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&case.body))
                    .expect("JSON")
            })
        });
        group.bench_function("handler", |b| {
            b.iter_batched(
                || request(&headers, &case.body),
                |request| ready(handler.handle(request)),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
    criterion.final_summary();

    let rows: Vec<_> = cases
        .iter()
        .filter_map(|case| {
            let floor = median_ns(&dir, case.name, "floor", started)?;
            let handler = median_ns(&dir, case.name, "handler", started)?;
            Some((case, floor, handler))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!("\nHandler CPU per delivery vs the floor (IgnoredAny over the same bytes):");
    println!("criterion medians of this run, and the median of {ROUNDS} interleaved rounds");
    println!(
        "{:<12} {:>8} {:>8} {:>12} {:>12} {:>7} {:>12}",
        "delivery", "bytes", "entries", "floor", "handler", "ratio", "interleaved"
    );
    for (case, floor, handler) in rows {
        let interleaved = interleaved(case, handler);
        println!(
            "{:<12} {:>8} {:>8} {:>9.2} us {:>9.2} us {:>6.2}x {:>11.2}x",
            case.name,
            case.body.len(),
            case.entries,
            floor / 1e3,
            handler / 1e3,
            handler / floor,
            interleaved
        );
    }
    println!("Target: at most 6x for events-1.");
}

/// Rounds of the interleaved ratio.
const ROUNDS: usize = 61;

/// The handler/floor ratio as the median over rounds that each time a batch of floor passes
/// right next to a batch of handler calls (the order alternating): on a shared machine, whose
/// speed drifts over seconds, the two sides of one round see the same machine, so the ratio
/// holds still where criterion's two medians, taken seconds apart, need not.
fn interleaved(case: &Case, handler_ns: f64) -> f64 {
    let headers = headers(case.body.len());
    let handler = Handler::new(case.card, &config(), Discard);
    // About a millisecond of handler calls per batch.
    let n = ((1e6 / handler_ns) as usize).max(1);
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            let requests: Vec<_> = (0..n).map(|_| request(&headers, &case.body)).collect();
            let floor = || {
                let start = Instant::now();
                for _ in 0..n {
                    black_box(
                        serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&case.body))
                            .expect("JSON"),
                    );
                }
                start.elapsed()
            };
            let mut responses = Vec::with_capacity(n);
            let handle = || {
                let start = Instant::now();
                for request in requests {
                    responses.push(ready(handler.handle(request)));
                }
                start.elapsed()
            };
            let (floor, handled) = if round % 2 == 0 {
                let f = floor();
                (f, handle())
            } else {
                let h = handle();
                (floor(), h)
            };
            drop(responses); // outside the timing, as criterion's iter_batched drops outputs
            handled.as_secs_f64() / floor.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}
