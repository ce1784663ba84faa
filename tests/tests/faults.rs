//! Faults moto does not inject: a loopback proxy in front of its EventBridge answers some PutEvents
//! calls with throttling, 500s, slow answers and per-entry internal failures. The guarantee: every
//! entry is published exactly once or parked in the failure queue; none is lost; and when
//! EventBridge is unreachable the handler answers in time for Okta to retry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use integration_tests::{card_pattern, workspace_root, Moto};
use okta_event_cards::aws::{clients_from, EventBridgePublisher, SqsFailureQueue};
use okta_event_cards::cards::USER_MFA_FACTOR_ACTIVATED;
use okta_event_cards::publish::{Limits, NoFailureQueue, DEFAULT_BUDGET, OKTA_TIMEOUT};
use okta_event_cards::{Config, Handler};
use serde_json::{json, Value};
use tokio::time::Instant;

const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";
const SOURCE: &str = "okta.event-cards";
const BUS: &str = "okta-cards";
const DELIVERY_ID: &str = "fault-delivery-1";

/// What the proxy did, so a test can show the faults really happened.
#[derive(Default, Debug)]
struct Injected {
    calls: AtomicUsize,
    throttled: AtomicUsize,
    server_errors: AtomicUsize,
    slow: AtomicUsize,
    failed_entries: AtomicUsize,
}

/// The fault proxy: PutEvents calls are faulted as below, everything else passes to moto unchanged.
/// - every 4th call: the whole call is throttled (400 ThrottlingException);
/// - every 7th call: a 500;
/// - the 2nd and 3rd calls: answered 400 ms late (early, so no slow call straddles the deadline);
/// - otherwise 30% of the entries get InternalFailure and only the rest go on to moto.
async fn fault_proxy(moto: String, seed: u64) -> (String, Arc<Injected>) {
    let injected = Arc::new(Injected::default());
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let state = Arc::new(Proxy {
        moto,
        injected: injected.clone(),
        rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        client,
    });
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let state = state.clone();
        async move { fault(&state, headers, body).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, injected)
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Proxy {
    moto: String,
    injected: Arc<Injected>,
    rng: Mutex<fastrand::Rng>,
    client: HttpClient,
}

async fn fault(
    proxy: &Proxy,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(http::HeaderName, &'static str); 1], Bytes) {
    let Proxy {
        moto,
        injected,
        rng,
        client,
    } = proxy;
    let json_type = (http::header::CONTENT_TYPE, "application/x-amz-json-1.1");
    if headers.get("x-amz-target").and_then(|v| v.to_str().ok()) != Some("AWSEvents.PutEvents") {
        let (status, body) = forward(moto, client, &headers, body).await;
        return (status, [json_type], body);
    }
    let n = injected.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if n % 4 == 0 {
        injected.throttled.fetch_add(1, Ordering::SeqCst);
        let answer = json!({"__type": "ThrottlingException", "message": "Rate exceeded"});
        return (
            StatusCode::BAD_REQUEST,
            [json_type],
            answer.to_string().into(),
        );
    }
    if n % 7 == 0 {
        injected.server_errors.fetch_add(1, Ordering::SeqCst);
        let answer = json!({"__type": "InternalException", "message": "injected"});
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [json_type],
            answer.to_string().into(),
        );
    }
    if n == 2 || n == 3 {
        injected.slow.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let mut request: Value = serde_json::from_slice(&body).expect("PutEvents JSON");
    let entries = request["Entries"].as_array().cloned().expect("Entries");
    let failing: Vec<bool> = {
        let mut rng = rng.lock().expect("lock");
        entries.iter().map(|_| rng.f64() < 0.3).collect()
    };
    let passed: Vec<Value> = entries
        .iter()
        .zip(&failing)
        .filter(|(_, fail)| !**fail)
        .map(|(e, _)| e.clone())
        .collect();
    let mut moto_results = Vec::new().into_iter();
    if !passed.is_empty() {
        request["Entries"] = Value::Array(passed);
        let (status, answer) = forward(moto, client, &headers, request.to_string().into()).await;
        assert_eq!(status, StatusCode::OK, "moto refused PutEvents: {answer:?}");
        let answer: Value = serde_json::from_slice(&answer).expect("moto's answer");
        moto_results = answer["Entries"]
            .as_array()
            .cloned()
            .expect("Entries")
            .into_iter();
    }
    let results: Vec<Value> = failing
        .iter()
        .map(|fail| match fail {
            true => {
                injected.failed_entries.fetch_add(1, Ordering::SeqCst);
                json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"})
            }
            false => moto_results.next().expect("a result per forwarded entry"),
        })
        .collect();
    let failed = results
        .iter()
        .filter(|r| r.get("ErrorCode").is_some())
        .count();
    let answer = json!({"FailedEntryCount": failed, "Entries": results});
    (StatusCode::OK, [json_type], answer.to_string().into())
}

async fn forward(
    moto: &str,
    client: &HttpClient,
    headers: &HeaderMap,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let mut request = http::Request::post(format!("{moto}/"));
    for (name, value) in headers {
        // The body may have changed, and the host is moto's.
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let request = request.body(Full::new(body)).expect("request");
    let response = client.request(request).await.expect("moto answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("moto's body")
        .to_bytes();
    (status, body)
}

/// The handler's logs, shown when a test fails (ids and codes only).
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info,aws=warn,hyper=warn")
        .try_init();
}

fn config() -> Config {
    Config {
        event_bus_name: Some(BUS.to_owned()),
        ..Config::with_secrets(&[SECRET])
    }
}

/// A delivery of `n` card events: the events/ activated delivery's first event, a fresh uuid each.
fn delivery(n: usize) -> (String, Vec<String>) {
    let path = workspace_root().join("events/user-mfa-factor-activated/delivery.json");
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("events/ file")).expect("JSON");
    let body: Value = serde_json::from_str(event["body"].as_str().expect("body")).expect("JSON");
    let sample = &body["data"]["events"][0];
    assert_eq!(sample["eventType"], "user.mfa.factor.activate");
    let uuids: Vec<String> = (0..n).map(|i| format!("fault-{i:04}")).collect();
    let events: Vec<Value> = uuids
        .iter()
        .map(|uuid| {
            let mut e = sample.clone();
            e["uuid"] = json!(uuid);
            e
        })
        .collect();
    let body = json!({
        "eventType": "com.okta.event_hook",
        "eventId": DELIVERY_ID,
        "eventTime": "2026-11-22T10:00:01.000Z",
        "source": "https://example.okta.com/api/v1/eventHooks/who7tv1ltdKSHvJl71d7",
        "data": {"events": events}
    });
    (body.to_string(), uuids)
}

fn post(body: String) -> http::Request<Full<Bytes>> {
    http::Request::post("/okta/user-mfa-factor-activated")
        .header("authorization", SECRET)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

/// The publisher (and the failure queue, when the config names one) as the functions build them:
/// the same publishing settings (no SDK retries, timeouts inside the budget), EventBridge at
/// `endpoint` and SQS at moto.
async fn clients(
    config: &Config,
    eventbridge: &str,
    sqs: &str,
) -> (EventBridgePublisher, Option<SqsFailureQueue>) {
    let (publisher, _) = clients_from(&Moto::aws(eventbridge).await, config).expect("clients");
    let (_, queue) = clients_from(&Moto::aws(sqs).await, config).expect("clients");
    (publisher, queue)
}

/// A failure queue on moto, in the config.
async fn with_failure_queue(moto: &Moto, config: Config) -> (Config, String) {
    let url = moto.queue("okta-cards-failed").await;
    let config = Config {
        failed_events_queue_url: Some(url.clone()),
        ..config
    };
    (config, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_throttling_and_failing_entries_every_entry_is_published_once_or_parked() {
    logs();
    let moto = Moto::start();
    moto.bus(BUS).await;
    let card = &USER_MFA_FACTOR_ACTIVATED;
    let card_queue = moto
        .rule_to_queue(BUS, card.slug, card_pattern(SOURCE, card.name))
        .await;
    let (proxy, injected) = fault_proxy(moto.url.clone(), 7).await;
    // moto on a 2-core test machine answers in tens to hundreds of milliseconds where EventBridge
    // and SQS answer in a few: the same timeline, three times slower (a 7.5 s budget within 9 s),
    // the SDK timeouts scaled with it by the functions' own wiring.
    let (config, failed_url) = with_failure_queue(
        &moto,
        Config {
            limits: Limits {
                budget: DEFAULT_BUDGET * 3,
                okta_timeout: OKTA_TIMEOUT * 3,
                ..Default::default()
            },
            ..config()
        },
    )
    .await;
    let (publisher, queue) = clients(&config, &proxy, &moto.url).await;
    let handler = Handler::with_failure_queue(card, &config, publisher, queue);

    let (body, uuids) = delivery(200);
    let response = handler.handle(post(body)).await;
    assert_eq!(response.status(), 200, "{}", response.body());

    let published: Vec<String> = moto
        .drain(&card_queue, uuids.len())
        .await
        .iter()
        .map(|e| e["detail"]["eventId"].as_str().expect("eventId").to_owned())
        .collect();
    let parked: Vec<String> = moto
        .drain(&failed_url, 0)
        .await
        .iter()
        .map(|m| m["oktaEventUuid"].as_str().expect("uuid").to_owned())
        .collect();
    let mut seen: Vec<&String> = published.iter().chain(&parked).collect();
    seen.sort();
    let total = seen.len();
    seen.dedup();
    assert_eq!(
        total,
        seen.len(),
        "an entry published twice, or both published and parked"
    );
    assert_eq!(
        seen,
        uuids.iter().collect::<Vec<_>>(),
        "every entry published or parked"
    );
    // The faults really happened: a run without them would prove nothing.
    assert!(
        injected.throttled.load(Ordering::SeqCst) > 0,
        "{injected:?}"
    );
    assert!(
        injected.server_errors.load(Ordering::SeqCst) > 0,
        "{injected:?}"
    );
    assert!(injected.slow.load(Ordering::SeqCst) > 0, "{injected:?}");
    assert!(
        injected.failed_entries.load(Ordering::SeqCst) >= 40,
        "{injected:?}"
    );
    assert!(
        published.len() > parked.len(),
        "resending must publish most: {} published, {} parked",
        published.len(),
        parked.len()
    );
    eprintln!(
        "{} published, {} parked; {injected:?}",
        published.len(),
        parked.len()
    );
}

/// Accepts connections and never answers: an EventBridge that hangs.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_unreachable_answers_5xx_before_the_budget_ends() {
    let budget = config().limits.budget;
    // Nothing listens on port 9; a black hole accepts and never answers.
    for endpoint in ["http://127.0.0.1:9".to_owned(), black_hole().await] {
        let (publisher, _) = clients(&config(), &endpoint, &endpoint).await;
        let handler = Handler::with_failure_queue(
            &USER_MFA_FACTOR_ACTIVATED,
            &config(),
            publisher,
            NoFailureQueue,
        );
        let (body, _) = delivery(20);
        let started = Instant::now();
        let response = handler.handle(post(body)).await;
        let took = started.elapsed();
        assert_eq!(response.status(), 502, "{endpoint}: {}", response.body());
        eprintln!("{endpoint}: 502 after {took:?}");
        // The budget (2.5 s) leaves Okta's 3 s room for the answer; a little slack for the test
        // machine's scheduling.
        assert!(
            took <= budget + Duration::from_millis(250),
            "{endpoint}: answered after {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_hanging_with_a_failure_queue_parks_every_entry_and_the_parked_entry_replays() {
    let moto = Moto::start();
    moto.bus(BUS).await;
    let card = &USER_MFA_FACTOR_ACTIVATED;
    let card_queue = moto
        .rule_to_queue(BUS, card.slug, card_pattern(SOURCE, card.name))
        .await;
    let (config, failed_url) = with_failure_queue(&moto, config()).await;
    let (publisher, queue) = clients(&config, &black_hole().await, &moto.url).await;
    let handler = Handler::with_failure_queue(card, &config, publisher, queue);
    let (body, uuids) = delivery(12);
    let started = Instant::now();
    let response = handler.handle(post(body)).await;
    assert_eq!(
        response.status(),
        200,
        "every entry parked: {}",
        response.body()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "inside Okta's 3 s"
    );

    let messages = moto.drain(&failed_url, uuids.len()).await;
    let mut parked: Vec<&str> = messages
        .iter()
        .map(|m| m["oktaEventUuid"].as_str().expect("uuid"))
        .collect();
    parked.sort();
    assert_eq!(parked, uuids.iter().map(String::as_str).collect::<Vec<_>>());
    for m in &messages {
        assert_eq!(m["errorCode"], "Timeout");
        assert_eq!(m["oktaDeliveryEventId"], DELIVERY_ID);
        assert_eq!(m["entry"]["Source"], SOURCE);
        assert_eq!(m["entry"]["DetailType"], card.name);
        assert_eq!(m["entry"]["EventBusName"], BUS);
    }

    // docs/operations.md's replay: each message's `entry`, as is, through PutEvents.
    let entry = &messages[0]["entry"];
    let replay = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source(entry["Source"].as_str().expect("Source"))
        .detail_type(entry["DetailType"].as_str().expect("DetailType"))
        .event_bus_name(entry["EventBusName"].as_str().expect("bus"))
        .detail(entry["Detail"].as_str().expect("Detail is a string"))
        .build();
    let out = moto
        .eventbridge()
        .await
        .put_events()
        .entries(replay)
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(out.failed_entry_count(), 0);
    let replayed = moto.drain(&card_queue, 1).await;
    assert_eq!(replayed.len(), 1);
    assert_eq!(
        replayed[0]["detail"]["eventId"],
        messages[0]["oktaEventUuid"]
    );
}
