//! Load client for `okta-event-cards serve` (run by `scripts/load`): keep-alive HTTP/1.1 over loopback,
//! deliveries of 1..=N events spread over the five routes with a share of bad requests mixed in.
//! It counts every status that is not the one expected, and at the end reads the gateway's
//! `--out` file back: every event of a valid delivery must be there exactly once.
//!
//! A hand-rolled client rather than oha/wrk: those send one fixed body, and this mix needs varied
//! sizes, five routes and requests that must be refused.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use okta_event_cards::CARDS;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";

#[derive(Parser)]
struct Args {
    /// The gateway, HOST:PORT.
    #[arg(long)]
    addr: String,
    /// The gateway's --out file, read back at the end.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 20_000)]
    deliveries: u64,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Each delivery holds 1..=this many events.
    #[arg(long, default_value_t = 50)]
    max_events: u64,
    /// Percent of requests that must be refused (wrong or missing secret, not JSON, bad event).
    #[arg(long, default_value_t = 3)]
    bad_percent: u64,
    /// Percent of events in a valid delivery that are of another type (ignored, not published).
    #[arg(long, default_value_t = 10)]
    other_percent: u64,
    /// Stop sending after this long, whatever is left (the run then fails).
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
}

/// A deterministic stream of numbers per delivery (splitmix64): runs are repeatable.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    unexpected: AtomicU64,
    published_expected: AtomicU64,
    events_sent: AtomicU64,
    bad_sent: AtomicU64,
}

/// One request and the status it must get; `published` events if it is accepted.
struct Planned {
    request: Vec<u8>,
    expect: u16,
    published: u64,
    events: u64,
}

fn plan(i: u64, args: &Args) -> Planned {
    let r = mix(i);
    let card = CARDS[(r % 5) as usize];
    let bad = (r >> 8) % 100 < args.bad_percent;
    let n = 1 + (r >> 16) % args.max_events;
    let mut published = 0;
    let mut events = String::with_capacity(n as usize * 520);
    for e in 0..n {
        let other = mix(r ^ e) % 100 < args.other_percent;
        let event_type = if other {
            "user.session.start"
        } else {
            published += 1;
            card.event_type
        };
        if e > 0 {
            events.push(',');
        }
        events.push_str(&format!(
            r#"{{"uuid":"load-{i}-{e}","published":"2026-11-22T10:00:00.000Z","eventType":"{event_type}","version":"0","severity":"INFO","displayMessage":"Activate factor for user","actor":{{"id":"00u{i}","type":"User","alternateId":"user{i}@example.com","displayName":"User {i}"}},"outcome":{{"result":"SUCCESS","reason":"User set up OKTA_VERIFY_PUSH factor"}},"target":[{{"id":"00u{i}","type":"User","alternateId":"user{i}@example.com","displayName":"User {i}"}},{{"id":"mbl{e}","type":"MobilePhone","alternateId":"+1 XXX-XXX-1234","displayName":"Phone"}}],"debugContext":{{"debugData":{{"requestId":"r{i}","phoneNumber":"+1 XXX-XXX-1234"}}}}}}"#
        ));
    }
    let body = format!(
        r#"{{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","source":"https://example.okta.com/api/v1/eventHooks/who1","eventId":"delivery-{i}","eventTime":"2026-11-22T10:00:01.000Z","data":{{"events":[{events}]}}}}"#
    );
    let (secret, body, expect) = if !bad {
        (Some(SECRET), body, 200)
    } else {
        match (r >> 24) % 4 {
            0 => (Some("Basic d3Jvbmc6c2VjcmV0"), body, 401),
            1 => (None, body, 401),
            2 => (Some(SECRET), body[..body.len() / 2].to_owned(), 400),
            _ => (
                Some(SECRET),
                body.replacen(r#""events":[{"#, r#""events":[7,{"#, 1),
                400,
            ),
        }
    };
    let mut request = format!(
        "POST /okta/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        card.slug,
        body.len()
    );
    if let Some(s) = secret {
        request.push_str(&format!("Authorization: {s}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    Planned {
        request: request.into_bytes(),
        expect,
        published: if expect == 200 { published } else { 0 },
        events: n,
    }
}

/// Sends one request on a kept-alive connection; the status, and whether the server closes it.
async fn exchange(conn: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<(u16, bool)> {
    conn.get_mut().write_all(request).await?;
    let mut line = String::new();
    let (mut status, mut length, mut close) = (0u16, 0usize, false);
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end().to_ascii_lowercase();
        if status == 0 {
            status = l
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
        } else if l.is_empty() {
            break;
        } else if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        } else if l == "connection: close" {
            close = true;
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await?;
    Ok((status, close))
}

async fn worker(
    args: Arc<Args>,
    next: Arc<AtomicU64>,
    totals: Arc<Totals>,
    deadline: Instant,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    let mut conn: Option<BufReader<TcpStream>> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= args.deliveries || Instant::now() > deadline {
            return latencies;
        }
        let p = plan(i, &args);
        let started = Instant::now();
        if conn.is_none() {
            conn = TcpStream::connect(&args.addr).await.ok().map(|s| {
                let _ = s.set_nodelay(true);
                BufReader::new(s)
            });
        }
        let result = match conn.as_mut() {
            Some(c) => exchange(c, &p.request).await,
            None => Err(std::io::ErrorKind::ConnectionRefused.into()),
        };
        latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
        totals.sent.fetch_add(1, Ordering::Relaxed);
        totals.events_sent.fetch_add(p.events, Ordering::Relaxed);
        if p.expect != 200 {
            totals.bad_sent.fetch_add(1, Ordering::Relaxed);
        }
        match result {
            Ok((status, close)) => {
                if status != p.expect {
                    totals.unexpected.fetch_add(1, Ordering::Relaxed);
                    eprintln!("delivery {i}: status {status}, expected {}", p.expect);
                } else {
                    totals
                        .published_expected
                        .fetch_add(p.published, Ordering::Relaxed);
                }
                // A refusal is answered before the body is read (an unauthenticated body is never
                // read), so the server may close the connection right after it, with or without
                // saying so: a real client opens a new one, and so does this one.
                if close || status != 200 {
                    conn = None;
                }
            }
            Err(err) => {
                totals.unexpected.fetch_add(1, Ordering::Relaxed);
                eprintln!("delivery {i}: {err}");
                conn = None;
            }
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[idx]) / 1000.0
}

/// Every published line's `Detail.eventId`: each event of a valid delivery exactly once.
fn published_ids(out: &PathBuf) -> (usize, usize) {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(rename = "Detail", borrow)]
        detail: Detail<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Detail<'a> {
        #[serde(rename = "eventId", borrow)]
        event_id: &'a str,
    }
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let mut ids = HashSet::new();
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        if let Ok(l) = serde_json::from_str::<Line>(line) {
            ids.insert(l.detail.event_id.to_owned());
        }
    }
    (lines, ids.len())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Arc::new(Args::parse());
    let totals = Arc::new(Totals::default());
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(args.clone(), next.clone(), totals.clone(), deadline)))
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();

    let sent = totals.sent.load(Ordering::Relaxed);
    let unexpected = totals.unexpected.load(Ordering::Relaxed);
    let expected = totals.published_expected.load(Ordering::Relaxed);
    let (lines, distinct) = published_ids(&args.out);
    println!(
        "deliveries: {sent} sent ({} bad, {} events) in {elapsed:.2} s at concurrency {}",
        totals.bad_sent.load(Ordering::Relaxed),
        totals.events_sent.load(Ordering::Relaxed),
        args.concurrency
    );
    println!(
        "throughput: {:.0} deliveries/s, {:.0} published events/s",
        sent as f64 / elapsed,
        expected as f64 / elapsed
    );
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!("unexpected statuses: {unexpected}");
    println!("published: {lines} lines, {distinct} distinct event ids, {expected} expected");
    let ok =
        sent == args.deliveries && unexpected == 0 && lines as u64 == expected && distinct == lines;
    println!("{}", if ok { "OK" } else { "FAILED" });
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
