//! Helpers shared by the integration tests in `tests/tests/`: where the workspace and its tools are,
//! and real peers (moto's EventBridge and SQS) that a test starts itself and that fail loudly: a test
//! that needs a peer never skips.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_eventbridge::config::Credentials;
use serde_json::{json, Value};

/// The workspace root (the checkout).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// A tool that `scripts/venv` installs into `./.venv/bin`; panics with the fix when it is missing.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = workspace_root().join(".venv/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run ./scripts/venv (or ./scripts/test, which runs it) to install the test tools",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

pub const REGION: &str = "us-east-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

/// moto's server (`moto_server` from `./.venv`) on a free loopback port: a real EventBridge and SQS
/// over HTTP, with rules that deliver to queues. Stopped when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let mut child = Command::new(venv_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("moto_server did not start: {err}"));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!("moto_server exited ({status}) before listening:\n{stderr}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not listen on 127.0.0.1:{port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its log goes nowhere; a full pipe would block it.
        drop(child.stderr.take());
        Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// AWS configuration for a loopback endpoint, test credentials, and the SDK's retries off (the
    /// product's outbox does its own).
    pub async fn aws(endpoint: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                "AKIDTEST",
                "test-only",
                None,
                None,
                "test",
            ))
            .endpoint_url(endpoint)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }

    pub async fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&Self::aws(&self.url).await)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&Self::aws(&self.url).await)
    }

    /// A bus and a queue that receives every event matching `pattern` on it; returns the queue URL.
    pub async fn rule_to_queue(&self, bus: &str, name: &str, pattern: Value) -> String {
        let events = self.eventbridge().await;
        let url = self.queue(name).await;
        let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
        events
            .put_rule()
            .name(name)
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("PutRule");
        events
            .put_targets()
            .rule(name)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id(name)
                    .arn(arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("PutTargets");
        url
    }

    pub async fn bus(&self, bus: &str) {
        self.eventbridge()
            .await
            .create_event_bus()
            .name(bus)
            .send()
            .await
            .expect("CreateEventBus");
    }

    pub async fn queue(&self, name: &str) -> String {
        self.sqs()
            .await
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .expect("queue URL")
            .to_owned()
    }

    /// Every message body in the queue, read until `expected` arrived or the queue stays empty.
    pub async fn drain(&self, queue_url: &str, expected: usize) -> Vec<Value> {
        let sqs = self.sqs().await;
        let mut bodies = Vec::new();
        let started = Instant::now();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = out.messages();
            for m in messages {
                let body = m.body().expect("a body");
                bodies.push(serde_json::from_str(body).expect("a JSON message"));
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().expect("handle"))
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
            let waited = started.elapsed();
            if messages.is_empty() && (bodies.len() >= expected || waited > Duration::from_secs(10))
            {
                return bodies;
            }
            if messages.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pattern matching one card's events.
pub fn card_pattern(source: &str, detail_type: &str) -> Value {
    json!({"source": [source], "detail-type": [detail_type]})
}
