//! `okta-event-cards serve`, run for real on loopback: deliveries in over HTTP, JSON lines out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";

struct Gateway {
    child: Child,
    addr: String,
    out: PathBuf,
    stdout: Arc<Mutex<Vec<u8>>>,
    /// Everything `serve` wrote to stderr: the banner, then the logs.
    stderr: Arc<Mutex<Vec<u8>>>,
    /// What serve wrote to stderr before its banner.
    startup: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    fn start(name: &str) -> Gateway {
        Self::start_with(name, &[("OKTA_HOOK_SECRET", SECRET)])
    }

    /// `serve` with this environment (nothing else of the test's own is passed on that it reads).
    fn start_with(name: &str, env: &[(&str, &str)]) -> Gateway {
        let out = std::env::temp_dir().join(format!(
            "okta-event-cards-{name}-{}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&out);
        let mut command = serve_command();
        command
            .args(["--addr", "127.0.0.1:0", "--out"])
            .arg(&out)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("okta-event-cards serve starts");
        // Drain both pipes so a large batch never blocks the gateway on a full pipe.
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (sink, mut pipe) = (stdout.clone(), child.stdout.take().expect("stdout"));
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        let mut pipe = BufReader::new(child.stderr.take().expect("stderr"));
        // Warnings (a weak secret's) come before the banner.
        let mut startup = String::new();
        let (addr, first) = loop {
            let mut line = String::new();
            pipe.read_line(&mut line).expect("stderr");
            assert!(
                !line.is_empty(),
                "serve exited before its banner:\n{startup}"
            );
            if let Some(rest) = line.split("http://").nth(1) {
                break (rest.split(',').next().expect("an address").to_owned(), line);
            }
            startup.push_str(&line);
        };
        let stderr = Arc::new(Mutex::new(first.into_bytes()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        Gateway {
            child,
            addr,
            out,
            stdout,
            stderr,
            startup,
        }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("lock")).into_owned()
    }

    /// One HTTP/1.1 request; returns the status and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .expect("send");
        read_response(stream)
    }

    /// One HTTP/1.1 POST whose body goes in chunks of 64 KiB, no length declared up front.
    fn post_chunked(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n",
            self.addr
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("send the head");
        for chunk in body.chunks(64 * 1024) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| stream.write_all(chunk))
                .and_then(|()| stream.write_all(b"\r\n"))
                .expect("send a chunk");
        }
        stream.write_all(b"0\r\n\r\n").expect("send the last chunk");
        read_response(stream)
    }

    fn post(&self, slug: &str, secret: &str, body: &str) -> (u16, String) {
        let headers = [
            ("Authorization", secret),
            ("Content-Type", "application/json"),
        ];
        self.request("POST", &format!("/okta/{slug}"), &headers, body.as_bytes())
    }

    fn published(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }
}

/// The whole answer to a `Connection: close` request: its status and body.
fn read_response(mut stream: TcpStream) -> (u16, String) {
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("response");
    let text = String::from_utf8(response).expect("utf8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a full response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

/// `okta-event-cards serve` with none of the variables it reads inherited from the test's
/// environment, so a developer's own settings never change what a test sees.
fn serve_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_okta-event-cards"));
    command.arg("serve");
    for (name, _) in std::env::vars() {
        if name.starts_with("OKTA_") || name.starts_with("AWS_") || name.starts_with("EVENT_") {
            command.env_remove(name);
        }
    }
    for name in [
        "FAILED_EVENTS_QUEUE_URL",
        "PUBLISH_BUDGET_MS",
        "MAX_BATCH_BYTES",
        "ALLOWED_SOURCE_CIDRS",
    ] {
        command.env_remove(name);
    }
    command.env("RUST_LOG", "info");
    command
}

/// The delivery body carried by an API Gateway event in `events/`.
fn delivery_of(slug: &str) -> String {
    let path = format!(
        "{}/../events/{slug}/delivery.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("event")).expect("json");
    event["body"].as_str().expect("body").to_owned()
}

#[test]
fn every_card_publishes_its_events_as_json_lines_and_refuses_bad_requests() {
    let gw = Gateway::start("cards");
    // The README's example secret works here, with a warning that never shows it.
    assert!(
        gw.startup.contains("OKTA_HOOK_SECRET is too easy to guess")
            && gw.startup.contains("a Lambda function refuses it")
            && !gw.startup.contains("b2t0YTpsb2NhbC1vbmx5"),
        "{}",
        gw.startup
    );
    let expected = [
        (
            "user-mfa-factor-deactivated",
            "User MFA Factor Deactivated",
            2,
        ),
        ("user-mfa-factor-activated", "User MFA Factor Activated", 2),
        (
            "mfa-preregistration-initiated",
            "MFA Preregistration Initiated",
            1,
        ),
        ("user-mfa-factor-reset-all", "User MFA Factor Reset All", 1),
        (
            "phone-verification-call-sent",
            "Phone Verification Call Sent",
            2,
        ),
    ];
    let mut total = 0;
    for (slug, name, count) in expected {
        let (status, body) = gw.request(
            "GET",
            &format!("/okta/{slug}"),
            &[("X-Okta-Verification-Challenge", "abc-123")],
            b"",
        );
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"verification":"abc-123"}"#),
            "{slug}"
        );

        let delivery = delivery_of(slug);
        assert_eq!(
            gw.post(slug, SECRET, &delivery),
            (200, String::new()),
            "{slug}"
        );
        total += count;
        let lines = gw.published();
        assert_eq!(lines.len(), total, "{slug}");
        let delivery: Value = serde_json::from_str(&delivery).expect("json");
        for line in &lines[total - count..] {
            assert_eq!(line["Source"], "okta.event-cards");
            assert_eq!(line["DetailType"], name);
            assert_eq!(line["EventBusName"], "default");
            assert_eq!(line["Detail"]["uuid"], delivery["eventId"]);
            assert_eq!(line["Detail"]["eventTime"], delivery["eventTime"]);
            assert_eq!(line["Time"], line["Detail"]["dateAndTime"]);
            assert_eq!(line["Detail"]["headers"]["authorization"], "[REDACTED]");
            // eventDetails is one of the delivery's events, unchanged.
            let events = delivery["data"]["events"].as_array().expect("events");
            assert!(events.contains(&line["Detail"]["eventDetails"]), "{slug}");
        }

        // Bad requests: their statuses, and nothing more published.
        assert_eq!(
            gw.post(
                slug,
                "Basic d3Jvbmc6c2VjcmV0",
                &serde_json::to_string(&delivery).expect("json")
            )
            .0,
            401
        );
        assert_eq!(
            gw.request(
                "POST",
                &format!("/okta/{slug}"),
                &[],
                delivery_of(slug).as_bytes()
            )
            .0,
            401
        );
        assert_eq!(gw.post(slug, SECRET, "{not json").0, 400);
        assert_eq!(gw.post(slug, SECRET, r#"{"data":{"events":[1]}}"#).0, 400);
        assert_eq!(gw.post(slug, SECRET, "").0, 400);
        assert_eq!(
            gw.request(
                "PUT",
                &format!("/okta/{slug}"),
                &[("Authorization", SECRET)],
                b"{}"
            )
            .0,
            405
        );
        assert_eq!(gw.request("GET", &format!("/okta/{slug}"), &[], b"").0, 400);
        assert_eq!(
            gw.published().len(),
            total,
            "{slug}: nothing published for a bad request"
        );
    }
    assert_eq!(gw.post("no-such-card", SECRET, "{}").0, 404);

    // stdout carries the same lines as the file (give the drain thread a moment).
    std::thread::sleep(Duration::from_millis(200));
    let stdout = String::from_utf8(gw.stdout.lock().expect("lock").clone()).expect("utf8");
    let stdout: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(stdout, gw.published());
}

#[test]
fn a_batch_well_over_100_events_with_unicode_names_arrives_whole() {
    let gw = Gateway::start("batch");
    let names = [
        "Zoë Ångström 🦊",
        "山田 太郎",
        "Jörg Müller",
        "O'Brien \"Quote\" \\ Slash",
    ];
    let events: Vec<Value> = (0..350)
        .map(|i| {
            let name = names[i % names.len()];
            json!({
                "uuid": format!("batch-{i:04}"),
                "published": format!("2026-11-22T10:{:02}:{:02}.{:03}Z", i / 60 % 60, i % 60, i % 1000),
                "eventType": if i % 7 == 0 { "user.session.start" } else { "user.mfa.factor.deactivate" },
                "version": "0",
                "displayMessage": "Reset factor for user",
                "actor": {"id": "00uadmin", "type": "User", "alternateId": "admin@example.com", "displayName": "Admin"},
                "target": [
                    {"id": format!("pfd{i}"), "type": "AuthenticatorEnrollment", "alternateId": "unknown", "displayName": "Okta Verify"},
                    {"id": format!("00u{i}"), "type": "User", "alternateId": format!("user{i}@example.com"), "displayName": name}
                ],
                "outcome": {"result": "SUCCESS", "reason": "User reset OKTA_VERIFY_PUSH factor"}
            })
        })
        .collect();
    let body = json!({"eventType": "com.okta.event_hook", "eventId": "batch-delivery", "eventTime": "2026-11-22T11:00:00.000Z",
                      "source": "https://example-org.okta.com/api/v1/eventHooks/who1", "data": {"events": events}});
    assert_eq!(
        gw.post("user-mfa-factor-deactivated", SECRET, &body.to_string())
            .0,
        200
    );
    let lines = gw.published();
    let expected: Vec<usize> = (0..350).filter(|i| i % 7 != 0).collect();
    assert_eq!(lines.len(), expected.len());
    for (line, i) in lines.iter().zip(expected) {
        assert_eq!(line["Detail"]["eventId"], format!("batch-{i:04}"));
        assert_eq!(
            line["Detail"]["oktaUser"]["displayName"],
            names[i % names.len()]
        );
        assert_eq!(line["Detail"]["oktaUser"]["id"], format!("00u{i}"));
        assert_eq!(line["Detail"]["admin"]["id"], "00uadmin");
        assert_eq!(
            line["Detail"]["reason"],
            "User reset OKTA_VERIFY_PUSH factor"
        );
    }
}

/// The README's "Try it" delivery: the multi-line body of its curl `-d '...'`.
fn readme_delivery() -> String {
    let readme = std::fs::read_to_string(format!("{}/../README.md", env!("CARGO_MANIFEST_DIR")))
        .expect("README.md");
    let try_it = &readme[readme.find("## Try it").expect("Try it")..];
    let start = try_it.find("-d '").expect("a curl -d") + 4;
    let end = start + try_it[start..].find('\'').expect("the body's end");
    try_it[start..end].to_owned()
}

#[test]
fn a_pretty_printed_or_crlf_delivery_is_still_one_line_per_entry() {
    let gw = Gateway::start("lines");
    let readme = readme_delivery();
    assert!(readme.contains('\n'), "the README's example spans lines");
    for body in [readme.clone(), readme.replace('\n', "\r\n")] {
        assert_eq!(gw.post("user-mfa-factor-activated", SECRET, &body).0, 200);
    }
    let text = std::fs::read_to_string(&gw.out).expect("the --out file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let sent: Value = serde_json::from_str(&readme).expect("the README's body is JSON");
    for line in &lines {
        assert_eq!(line["Detail"]["eventDetails"], sent["data"]["events"][0]);
        assert_eq!(line["Detail"]["eventId"], "demo-event");
    }
}

#[test]
fn the_banner_curl_lines_work_pasted_into_another_shell() {
    let gw = Gateway::start("banner");
    // The banner's commands, continuation lines joined as a shell would (the whole banner is in
    // once its last line, the second curl's body, is).
    let started = std::time::Instant::now();
    while !gw.stderr().contains("\"displayName\":\"Ada\"") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let banner = gw.stderr();
    let mut commands: Vec<String> = Vec::new();
    for line in banner.lines() {
        let line = line.trim();
        match commands.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push_str(line);
            }
            _ if line.starts_with("curl ") => commands.push(line.to_owned()),
            _ => {}
        }
    }
    assert_eq!(commands.len(), 2, "{banner}");
    for command in &commands {
        let output = Command::new("bash")
            .args(["-c", command])
            .env("OKTA_HOOK_SECRET", SECRET)
            .output()
            .expect("bash runs curl");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.starts_with("HTTP/1.1 200"), "{command}\n{text}");
    }
    assert_eq!(gw.published().len(), 1);
}

#[test]
fn a_verification_logs_a_line_in_serve() {
    let gw = Gateway::start("verify");
    let challenge = [("X-Okta-Verification-Challenge", "hello")];
    assert_eq!(
        gw.request("GET", "/okta/user-mfa-factor-activated", &challenge, b"")
            .0,
        200
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        gw.stderr().contains("verification answered"),
        "{}",
        gw.stderr()
    );
}

/// Runs `serve` expecting it to stop at start; returns its stderr.
fn refused_start(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = serve_command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("okta-event-cards runs");
    assert!(!output.status.success(), "serve started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_busy_port_names_the_address_and_the_flag() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = busy.local_addr().expect("addr").port().to_string();
    let error = refused_start(&["--addr", &port], &[("OKTA_HOOK_SECRET", SECRET)]);
    assert!(
        error.contains(&format!("127.0.0.1:{port}")) && error.contains("--addr"),
        "{error}"
    );
}

#[test]
fn a_bus_without_a_region_stops_at_start_naming_the_region_variables() {
    let error = refused_start(
        &[],
        &[
            ("OKTA_HOOK_SECRET", SECRET),
            ("EVENT_BUS_NAME", "okta-cards"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert!(
        error.contains("AWS_REGION") && error.contains("AWS_DEFAULT_REGION"),
        "{error}"
    );
}

#[test]
fn help_and_version_say_what_serve_reads_and_serves() {
    let help = serve_command().arg("--help").output().expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("OKTA_HOOK_SECRET") && help.contains("OKTA_HOOK_SECRET_ARN"),
        "{help}"
    );
    assert!(
        help.contains("/okta/phone-verification-call-sent"),
        "{help}"
    );
    assert!(help.contains("Example:"), "{help}");
    let version = Command::new(env!("CARGO_BIN_EXE_okta-event-cards"))
        .arg("--version")
        .output()
        .expect("version");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("okta-event-cards {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve_reads_the_secret_from_secrets_manager_like_the_functions() {
    let moto = integration_tests::Moto::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let arn = runtime.block_on(async {
        let aws = integration_tests::Moto::aws(&moto.url).await;
        aws_sdk_secretsmanager::Client::new(&aws)
            .create_secret()
            .name("okta-event-cards/hook-secret")
            .secret_string(format!("{SECRET}\n"))
            .send()
            .await
            .expect("create the secret")
            .arn()
            .expect("an ARN")
            .to_owned()
    });
    let gw = Gateway::start_with(
        "secret-arn",
        &[
            ("OKTA_HOOK_SECRET_ARN", arn.as_str()),
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "test-only"),
        ],
    );
    let delivery = delivery_of("user-mfa-factor-activated");
    assert_eq!(
        gw.post("user-mfa-factor-activated", SECRET, &delivery).0,
        200
    );
    assert_eq!(
        gw.post("user-mfa-factor-activated", "Basic d3Jvbmc=", &delivery)
            .0,
        401
    );
    assert_eq!(gw.published().len(), 2);
}

/// Python's urllib and many webhook test tools write the whole body before they read the answer:
/// an early refusal reaches them whole (not a broken pipe), because `serve` reads and discards
/// what is left of the request before it closes.
#[test]
fn a_client_that_writes_the_whole_body_first_reads_the_refusal() {
    let gw = Gateway::start("lingering");
    let path = "/okta/user-mfa-factor-activated";
    let big = vec![b' '; 7 * 1024 * 1024];
    let secret = [("Authorization", SECRET)];
    // A declared length over 6 MB: refused before a byte of the body is read.
    let (status, body) = gw.request("POST", path, &secret, &big);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("larger than 6291456 bytes"), "{body}");
    // No length declared: refused once 6 MB have been read, the rest unread.
    assert_eq!(gw.post_chunked(path, &secret, &big).0, 413);
    // The secret is checked first: the whole body is left unread.
    let wrong = [("Authorization", "Basic d3Jvbmc6c2VjcmV0")];
    assert_eq!(gw.request("POST", path, &wrong, &big).0, 401);
    assert_eq!(gw.request("POST", path, &[], &big).0, 401);
    assert!(gw.published().is_empty());
}

/// Lingering happens only when a connection ends: a keep-alive client's requests go one after
/// another on one connection, as before.
#[test]
fn a_keep_alive_client_sends_several_requests_on_one_connection() {
    let gw = Gateway::start("keep-alive");
    let mut stream = TcpStream::connect(&gw.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let slug = "user-mfa-factor-activated";
    let delivery = delivery_of(slug);
    for round in 0..3 {
        let requests = [
            format!(
                "GET /okta/{slug} HTTP/1.1\r\nHost: {}\r\nX-Okta-Verification-Challenge: c{round}\r\n\r\n",
                gw.addr
            ),
            format!(
                "POST /okta/{slug} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic d3Jvbmc6c2VjcmV0\r\nContent-Length: {}\r\n\r\n{delivery}",
                gw.addr,
                delivery.len()
            ),
            format!(
                "POST /okta/{slug} HTTP/1.1\r\nHost: {}\r\nAuthorization: {SECRET}\r\nContent-Length: {}\r\n\r\n{delivery}",
                gw.addr,
                delivery.len()
            ),
        ];
        let mut answers = Vec::new();
        for request in &requests {
            stream.write_all(request.as_bytes()).expect("send");
            answers.push(read_one_response(&mut reader));
        }
        assert_eq!(
            answers,
            [
                (200, format!(r#"{{"verification":"c{round}"}}"#)),
                (
                    401,
                    r#"{"error":"authorization header does not match the hook secret"}"#.into()
                ),
                (200, String::new())
            ],
            "round {round}"
        );
    }
    assert_eq!(gw.published().len(), 3 * 2);
}

/// One answer on a kept-alive connection: the head, then `Content-Length` bytes of body.
fn read_one_response(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a length");
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    let status = status
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, String::from_utf8(body).expect("utf8"))
}

/// With ALLOWED_SOURCE_CIDRS set, a client outside gets 403 for anything, its body unread and
/// nothing published, whatever X-Forwarded-For says; a client inside is served as usual.
#[test]
fn with_an_allowlist_outside_clients_get_403_and_inside_clients_are_served() {
    let slug = "user-mfa-factor-activated";
    let path = format!("/okta/{slug}");
    let delivery = delivery_of(slug);
    let outside = Gateway::start_with(
        "outside",
        &[
            ("OKTA_HOOK_SECRET", SECRET),
            ("ALLOWED_SOURCE_CIDRS", "192.0.2.0/24, 2001:db8::/32"),
        ],
    );
    assert!(
        outside.startup.contains("ALLOWED_SOURCE_CIDRS is set"),
        "{}",
        outside.startup
    );
    let forbidden = r#"{"error":"the request's source address is not in ALLOWED_SOURCE_CIDRS"}"#;
    let challenge = [("X-Okta-Verification-Challenge", "hello")];
    assert_eq!(
        outside.request("GET", &path, &challenge, b""),
        (403, forbidden.to_owned())
    );
    assert_eq!(
        outside.post(slug, SECRET, &delivery),
        (403, forbidden.to_owned())
    );
    let spoofed = [("Authorization", SECRET), ("X-Forwarded-For", "192.0.2.1")];
    assert_eq!(
        outside
            .request("POST", &path, &spoofed, delivery.as_bytes())
            .0,
        403
    );
    // Refused before the body: the answer comes although the declared body never does.
    let mut stream = TcpStream::connect(&outside.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {SECRET}\r\nContent-Length: 100000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    assert_eq!(read_response(stream).0, 403);
    // A whole oversized body, written before reading: the 403 is read.
    let big = vec![b' '; 7 * 1024 * 1024];
    assert_eq!(
        outside
            .request("POST", &path, &[("Authorization", SECRET)], &big)
            .0,
        403
    );
    assert!(outside.published().is_empty());

    let inside = Gateway::start_with(
        "inside",
        &[
            ("OKTA_HOOK_SECRET", SECRET),
            ("ALLOWED_SOURCE_CIDRS", "192.0.2.0/24, 127.0.0.0/8, ::1/128"),
        ],
    );
    assert_eq!(
        inside.request("GET", &path, &challenge, b""),
        (200, r#"{"verification":"hello"}"#.to_owned())
    );
    assert_eq!(inside.post(slug, SECRET, &delivery), (200, String::new()));
    assert_eq!(inside.published().len(), 2);
}
