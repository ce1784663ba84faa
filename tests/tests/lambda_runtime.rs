//! The five function binaries in the real Lambda runtime loop: cargo-lambda's Runtime API emulator
//! (`cargo lambda watch`) runs them, and every API Gateway event in `events/<slug>/` is sent with
//! `cargo lambda invoke --data-file`, as `sam local invoke -e` would without Docker.
//!
//! Peers, all on loopback and started here: moto_server (Secrets Manager holding the hook secret,
//! EventBridge holding the bus), and one `cargo lambda watch` serving all five functions. The
//! functions read the secret through `OKTA_HOOK_SECRET_ARN`, as deployed by template.yaml.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::config::Credentials;
use integration_tests::{free_port, venv_tool, workspace_root};
use okta_event_cards::CARDS;
use serde_json::{json, Value};

const SECRET: &str = "Basic b2t0YTpsb2NhbC1vbmx5";
/// Also accepted (a rotation in progress); the events' wrong secret is neither.
const PREVIOUS: &str = "Basic b2xkOnJvdGF0ZWQtb3V0";
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

    // The binaries, built once here (debug, like `cargo test`) so the watch below only runs them.
    let packages: Vec<&str> = CARDS.iter().flat_map(|c| ["-p", c.slug]).collect();
    let build_start = Instant::now();
    run(
        Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["build", "--locked"])
            .args(&packages),
        "cargo build of the five functions",
    );
    let build_time = build_start.elapsed();

    // One emulator for all five: it starts a function's binary on its first invocation.
    let watch_port = free_port();
    let env_vars = [
        format!("OKTA_HOOK_SECRET_ARN={secret_arn}"),
        format!("EVENT_BUS_NAME={BUS}"),
        format!("AWS_ENDPOINT_URL={endpoint}"),
        format!("AWS_REGION={REGION}"),
        "AWS_ACCESS_KEY_ID=testing".into(),
        "AWS_SECRET_ACCESS_KEY=testing".into(),
        "RUST_LOG=warn".into(),
    ];
    let mut watch_command = Command::new(&cargo_lambda);
    watch_command
        .current_dir(&root)
        .args(["lambda", "watch", "--ignore-changes", "--quiet"])
        .args(["--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &watch_port.to_string()]);
    for var in &env_vars {
        watch_command.args(["--env-var", var]);
    }
    // Its log and the functions' go to a file, quoted when the test fails.
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lambda_runtime-watch.log");
    let log = std::fs::File::create(&log_path).expect("create the watch log");
    watch_command
        .env("NO_COLOR", "1")
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    let watch_log = || {
        format!(
            "\n--- {} ---\n{}",
            log_path.display(),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    };
    let mut watch = Peer::start("cargo lambda watch", &mut watch_command);
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        watch.wait_for(watch_port, Duration::from_secs(120))
    }))
    .is_err()
    {
        panic!("cargo lambda watch did not start{}", watch_log());
    }

    let invoke_start = Instant::now();
    let mut failures = Vec::new();
    let mut invocations = 0;
    for card in CARDS {
        for path in event_files(&root.join("events").join(card.slug)) {
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
}
