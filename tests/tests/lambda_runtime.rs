//! The five function binaries in the real Lambda runtime loop: cargo-lambda's Runtime API emulator
//! (`cargo lambda watch`) runs them, and every API Gateway event in `events/<slug>/` is sent with
//! `cargo lambda invoke --data-file`, as `sam local invoke -e` would without Docker.
//!
//! Peers, all on loopback and started here: moto_server (Secrets Manager holding the hook secret,
//! EventBridge holding the bus), one `cargo lambda watch --only-lambda-apis` (the Runtime API, one
//! route per function name), and the five binaries polling it as Lambda would run them. The
//! functions read the secret through `OKTA_HOOK_SECRET_ARN`, as deployed by template.yaml.
//!
//! The test builds the binaries itself, with `--workspace --tests` so that features resolve as in
//! `cargo test --workspace`: every dependency is then already built and only the five `main.rs`
//! compile. (Letting `cargo lambda watch` compile them would resolve features per package and build
//! tokio, hyper and the AWS SDK a second time.)

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::config::Credentials;
use integration_tests::{free_port, venv_tool, workspace_root};
use okta_event_cards::CARDS;
use serde_json::{json, Value};

/// The secret the `events/` files carry (events/README.md): strong enough for a function to start.
const SECRET: &str = "Basic b2t0YTpsb2NhbC1ldmVudHMtdGVzdC1zZWNyZXQ=";
/// Also accepted (a rotation in progress); the events' wrong secret is neither.
const PREVIOUS: &str = "Basic b2xkOnJvdGF0ZWQtb3V0LWJ5LXRoZS1sYW1iZGEtdGVzdA==";
const BUS: &str = "okta-cards-runtime-test";
const REGION: &str = "us-east-1";

/// Kills its process (and reaps it) when the test ends, passed or not.
struct Peer {
    name: &'static str,
    child: Child,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn start(name: &'static str, command: &mut Command) -> Self {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child }
    }

    /// Waits until the peer accepts connections on `port`; fails loudly if it exits or never does.
    fn wait_for(&mut self, port: u16, within: Duration) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited before listening on {port}: {status}", self.name);
            }
            assert!(
                start.elapsed() < within,
                "{} did not listen on {port} within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// What each file in `events/<slug>/` must get (events/README.md): status, and a check of the body.
fn expect(file: &str, event: &Value, status: u64, body: &str) -> Result<(), String> {
    let want = match file {
        "verification-get.json" => 200,
        "delivery.json" | "delivery-base64.json" => 200,
        "wrong-secret.json" | "missing-secret.json" => 401,
        "not-a-delivery.json" => 400,
        other => {
            return Err(format!(
                "no expectation for events file {other}: add one here"
            ))
        }
    };
    if status != want {
        return Err(format!("status {status}, want {want}; body {body:?}"));
    }
    let ok = match file {
        "verification-get.json" => {
            let challenge = &event["headers"]["x-okta-verification-challenge"];
            serde_json::from_str::<Value>(body).ok() == Some(json!({ "verification": challenge }))
        }
        "delivery.json" | "delivery-base64.json" => body.is_empty(),
        "wrong-secret.json" => body.contains("does not match the hook secret"),
        "missing-secret.json" => body.contains("missing authorization header"),
        _ => serde_json::from_str::<Value>(body).is_ok_and(|b| b["error"].is_string()),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected body {body:?}"))
    }
}

fn run(command: &mut Command, what: &str) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The hook secret in moto's Secrets Manager, the bus in its EventBridge; returns the secret's ARN.
fn seed_moto(endpoint: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let aws = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await;
        aws_sdk_eventbridge::Client::new(&aws)
            .create_event_bus()
            .name(BUS)
            .send()
            .await
            .expect("create the bus in moto");
        let secret = json!({ "current": SECRET, "previous": PREVIOUS }).to_string();
        aws_sdk_secretsmanager::Client::new(&aws)
            .create_secret()
            .name("okta-event-cards/hook")
            .secret_string(secret)
            .send()
            .await
            .expect("create the secret in moto")
            .arn()
            .expect("the secret's ARN")
            .to_owned()
    })
}

fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// `cargo build` of the five binaries; their paths, from cargo's own report.
fn build_functions(root: &Path) -> std::collections::HashMap<String, PathBuf> {
    let out = run(
        Command::new(env!("CARGO"))
            .current_dir(root)
            .args(["build", "--workspace", "--bins", "--tests", "--locked"])
            .args(["--message-format", "json-render-diagnostics"]),
        "cargo build --workspace --bins --tests",
    );
    let mut binaries = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let name = message["target"]["name"].as_str().unwrap_or_default();
        let is_bin = message["target"]["kind"] == json!(["bin"])
            && message["profile"]["test"] == json!(false);
        if let (true, Some(exe)) = (is_bin, message["executable"].as_str()) {
            binaries.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    for card in CARDS {
        assert!(
            binaries.contains_key(card.slug),
            "cargo built no {} binary",
            card.slug
        );
    }
    binaries
}

#[test]
fn every_function_answers_every_event_in_the_lambda_runtime_emulator() {
    let root = workspace_root();
    let cargo_lambda = venv_tool("cargo-lambda");
    let moto_server = venv_tool("moto_server");
    let start = Instant::now();

    // moto: Secrets Manager and EventBridge on one loopback port.
    let moto_port = free_port();
    let mut moto = Peer::start(
        "moto_server",
        Command::new(&moto_server)
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    moto.wait_for(moto_port, Duration::from_secs(60));
    let endpoint = format!("http://127.0.0.1:{moto_port}");
    let secret_arn = seed_moto(&endpoint);

    let build_start = Instant::now();
    let binaries = build_functions(&root);
    let build_time = build_start.elapsed();

    // The Runtime API only: the functions below are started by this test, not compiled by the watch.
    let watch_port = free_port();
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lambda_runtime.log");
    let log = std::fs::File::create(&log_path).expect("create the log");
    let to_log = || Stdio::from(log.try_clone().expect("log"));
    let mut watch = Peer::start(
        "cargo lambda watch",
        Command::new(&cargo_lambda)
            .current_dir(&root)
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
            // An invocation a function never answers fails instead of hanging the test.
            .args(["--timeout", "30"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &watch_port.to_string()])
            .env("NO_COLOR", "1")
            .stdout(to_log())
            .stderr(to_log()),
    );
    let watch_log = || {
        format!(
            "\n--- {} ---\n{}",
            log_path.display(),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    };
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        watch.wait_for(watch_port, Duration::from_secs(60))
    }))
    .is_err()
    {
        panic!("cargo lambda watch did not start{}", watch_log());
    }

    // Each function as Lambda runs it: the variables the runtime reads, the template's, the peers'.
    let mut functions = Vec::new();
    for card in CARDS {
        let mut command = Command::new(&binaries[card.slug]);
        command
            .env_clear()
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{watch_port}/.rt/{}", card.slug),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", card.slug)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("OKTA_HOOK_SECRET_ARN", &secret_arn)
            .env("EVENT_BUS_NAME", BUS)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(to_log())
            .stderr(to_log());
        functions.push(Peer::start("a function", &mut command));
    }

    let invoke_start = Instant::now();
    let mut failures = Vec::new();
    let mut invocations = 0;
    for (card, function) in CARDS.iter().zip(&mut functions) {
        for path in event_files(&root.join("events").join(card.slug)) {
            if let Ok(Some(status)) = function.child.try_wait() {
                panic!("the {} function exited: {status}{}", card.slug, watch_log());
            }
            let file = path.file_name().and_then(|f| f.to_str()).expect("name");
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read the event"))
                    .expect("the event is JSON");
            let out = Command::new(&cargo_lambda)
                .current_dir(&root)
                .args(["lambda", "invoke", card.slug, "--output-format", "json"])
                .args(["--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &watch_port.to_string()])
                .arg("--data-file")
                .arg(&path)
                .output()
                .expect("run cargo lambda invoke");
            assert!(
                out.status.success(),
                "cargo lambda invoke {} {file} failed: {}{}",
                card.slug,
                String::from_utf8_lossy(&out.stderr),
                watch_log()
            );
            invocations += 1;
            let response: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "{}/{file}: the answer is not JSON ({e}): {}",
                    card.slug,
                    String::from_utf8_lossy(&out.stdout)
                )
            });
            let status = response["statusCode"].as_u64().unwrap_or(0);
            let body = response["body"].as_str().unwrap_or_default();
            if let Err(why) = expect(file, &event, status, body) {
                failures.push(format!("{}/{file}: {why}", card.slug));
            }
        }
    }
    eprintln!(
        "lambda_runtime: {invocations} invocations; build {:.1}s, invocations {:.1}s, total {:.1}s",
        build_time.as_secs_f64(),
        invoke_start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{failures:#?}{}", watch_log());
    assert_eq!(invocations, CARDS.len() * 6, "six events per card");
    check_function_lines(&std::fs::read_to_string(&log_path).unwrap_or_default());
}

/// The functions' own lines in the shared log (`RUST_LOG=warn`): one EMF metrics line per request
/// but a verification, and the refusals as Powertools-style JSON, each with its invocation's ids.
fn check_function_lines(log: &str) {
    let objects: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect();
    let metrics: Vec<&Value> = objects.iter().filter(|v| v.get("_aws").is_some()).collect();
    assert_eq!(metrics.len(), CARDS.len() * 5, "metrics lines:\n{log}");
    let rejected: Vec<&Value> = objects
        .iter()
        .filter(|v| v["message"] == "request rejected")
        .collect();
    assert_eq!(rejected.len(), CARDS.len() * 3, "refusal lines:\n{log}");
    for line in metrics.iter().chain(&rejected) {
        assert_eq!(line["service"], "okta-event-cards", "{line}");
        assert!(
            line["function_request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{line}"
        );
    }
    for line in &rejected {
        assert_eq!(line["level"], "WARN", "{line}");
        // Each function's first invocation is a delivery: every refusal comes after it.
        assert_eq!(line["cold_start"], false, "{line}");
    }
    let auth_failures: u64 = metrics
        .iter()
        .filter_map(|m| m["AuthFailures"].as_u64())
        .sum();
    assert_eq!(
        auth_failures,
        CARDS.len() as u64 * 2,
        "wrong and missing secret"
    );
}

/// A function binary with a guessable secret stops at init, naming the variable and the rule,
/// never the value (docs/configuration.md, Weak secrets).
#[test]
fn a_function_with_a_weak_secret_does_not_start_and_says_why() {
    let binaries = build_functions(&workspace_root());
    let card = &CARDS[0];
    for (secret, rule) in [
        // The README's local example: fine for `serve`, refused in Lambda.
        ("Basic b2t0YTpsb2NhbC1vbmx5", "shorter than 32 characters"),
        (
            "Bearer 0000000000000000000000000000000000000000",
            "one character repeated",
        ),
    ] {
        let out = Command::new(&binaries[card.slug])
            .env_clear()
            // Nothing listens here: the function must stop before it asks for an invocation.
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("127.0.0.1:{}", free_port()),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", card.slug)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("OKTA_HOOK_SECRET", secret)
            .env("EVENT_BUS_NAME", BUS)
            .env("AWS_REGION", REGION)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run the function");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "it started with {secret:?}:\n{text}");
        assert!(
            text.contains(&format!("OKTA_HOOK_SECRET is too easy to guess: {rule}")),
            "{text}"
        );
        let credential = &secret[secret.find(' ').expect("a scheme") + 1..];
        assert!(!text.contains(credential), "the secret is shown:\n{text}");
        // The init error line, as CloudWatch shows it.
        assert!(
            text.lines()
                .any(|l| l.contains("\"cannot start\"") && l.contains("\"ERROR\"")),
            "{text}"
        );
    }
}
