//! The EventBridge rule patterns docs/rules.md documents (`rules/*.json`) match the card events they
//! promise, and only those: real card details, mapped by the library from Okta fixtures, are put on a
//! bus in moto's EventBridge, each rule sends what it matches to its own moto SQS queue, and the
//! queues are read back.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::config::Credentials;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use integration_tests::{free_port, venv_tool, workspace_root};
use okta_event_cards::cards::{self as card, map_delivery, Card};
use serde_json::Value;

const BUS: &str = "okta-cards-rules-test";
const SOURCE: &str = "okta.event-cards";

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> (Moto, String) {
    let port = free_port();
    let mut child = Command::new(venv_tool("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("moto_server exited before listening: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "moto_server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Moto(child), format!("http://127.0.0.1:{port}"))
}

/// The card details of these fixture events, as the functions publish them: (detail-type, detail).
fn details(card: &Card, fixtures: &[&str]) -> Vec<(&'static str, String)> {
    let dir = workspace_root().join("shared/fixtures");
    let events: Vec<String> = fixtures
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    let body = format!(
        r#"{{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","source":"https://example.okta.com/api/v1/eventHooks/who1","eventId":"rules-test","eventTime":"2026-11-22T10:00:05.000Z","data":{{"events":[{}]}}}}"#,
        events.join(",")
    );
    let headers =
        serde_json::value::RawValue::from_string(r#"{"authorization":"[REDACTED]"}"#.into())
            .expect("JSON");
    let mapped = map_delivery(card, body.as_bytes(), &headers).expect("a delivery");
    assert_eq!(mapped.events.len(), fixtures.len(), "{}", card.slug);
    mapped
        .events
        .iter()
        .map(|e| (e.detail_type, e.detail.clone()))
        .collect()
}

/// How a matched event is named in the expectations: its card and `detail.eventId` (the Okta uuid;
/// `-` for the one sample that has none).
fn label(event: &Value) -> String {
    format!(
        "{} {}",
        event["detail-type"].as_str().unwrap_or("?"),
        event["detail"]["eventId"].as_str().unwrap_or("-")
    )
}

#[test]
fn documented_rules_match_exactly_the_promised_card_events() {
    let (_moto, endpoint) = start_moto();
    let published = [
        details(
            &card::USER_MFA_FACTOR_DEACTIVATED,
            &[
                "samples/panther-user.mfa.factor.deactivate-1.json", // FIDO_WEBAUTHN, by an admin
                "synthetic/ie-user.mfa.factor.deactivate-user-first.json", // SIGNED_NONCE
                "synthetic/ie-user.mfa.factor.deactivate-reset-okta-verify-push.json",
                "synthetic/unicode-user.mfa.factor.deactivate.json", // EMAIL_FACTOR
            ],
        ),
        details(
            &card::USER_MFA_FACTOR_ACTIVATED,
            &[
                "samples/stix-shifter-user.mfa.factor.activate-1.json",
                // An Admin Console preview: actor, target and debugContext null.
                "synthetic/preview-user.mfa.factor.activate.json",
            ],
        ),
        details(
            &card::MFA_PREREGISTRATION_INITIATED,
            &["synthetic/system.mfa.preregister.initiate-yubico.json"],
        ),
        details(
            &card::USER_MFA_FACTOR_RESET_ALL,
            &["samples/panther-user.mfa.factor.reset_all-1.json"],
        ),
        details(
            &card::PHONE_VERIFICATION_CALL_SENT,
            &[
                "synthetic/system.voice.send_phone_verification_call-classic.json",
                "synthetic/system.voice.send_phone_verification_call-oie.json",
                "synthetic/system.voice.send_phone_verification_call-deny.json",
                "synthetic/preview-system.voice.send_phone_verification_call.json",
            ],
        ),
    ]
    .concat();

    let deactivated = [
        "User MFA Factor Deactivated -",
        "User MFA Factor Deactivated 7058a6bc-e67c-11f1-8595-a3a51c7661b9",
        "User MFA Factor Deactivated 6faf7ce8-e67c-11f1-8a21-b5efbc4e04db",
        "User MFA Factor Deactivated 32a72302-e42a-11f1-9a77-452e86b0c911",
    ];
    let phone = [
        "Phone Verification Call Sent 6fcc117b-e67c-11f1-adeb-57c7a2b15779",
        "Phone Verification Call Sent 716c586a-e67c-11f1-aa10-01b73b88912f",
        "Phone Verification Call Sent 6be49cdc-e559-11f1-bbeb-55ae5f76d0ac",
    ];
    let activated = "User MFA Factor Activated e766d84e-a0a8-11ed-a750-9f5fc296ce63";
    let previews = [
        "User MFA Factor Activated 44b7aa71-3ad4-4dfe-aed8-84e872927f2b",
        "Phone Verification Call Sent 5fbec211-d1be-422c-b70a-003b9ee3a370",
    ];
    let preregistration = "MFA Preregistration Initiated 71c14dbe-e67c-11f1-bf69-19ef805b50f9";
    let reset_all = "User MFA Factor Reset All AbC-123-XyZ";
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("user-mfa-factor-deactivated", deactivated.to_vec()),
        ("user-mfa-factor-activated", vec![activated, previews[0]]),
        ("mfa-preregistration-initiated", vec![preregistration]),
        ("user-mfa-factor-reset-all", vec![reset_all]),
        (
            "phone-verification-call-sent",
            [phone.as_slice(), &previews[1..]].concat(),
        ),
        // Every card event but the Admin Console's previews (docs/rules.md).
        (
            "no-previews",
            [
                deactivated.as_slice(),
                &[activated, preregistration, reset_all],
                phone.as_slice(),
            ]
            .concat(),
        ),
        // docs/rules.md's two: strong factors only (not Okta Verify push, not email), and DENY only.
        ("strong-factor-removed", deactivated[..2].to_vec()),
        ("phone-call-blocked", phone[2..].to_vec()),
    ]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let matched = runtime.block_on(async {
        let aws = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await;
        let events = aws_sdk_eventbridge::Client::new(&aws);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        events
            .create_event_bus()
            .name(BUS)
            .send()
            .await
            .expect("create the bus");

        let mut queues = BTreeMap::new();
        for name in expected.keys() {
            let path = workspace_root().join("rules").join(format!("{name}.json"));
            let pattern = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let url = sqs
                .create_queue()
                .queue_name(*name)
                .send()
                .await
                .expect("create a queue")
                .queue_url()
                .expect("queue url")
                .to_owned();
            let arn = format!("arn:aws:sqs:us-east-1:123456789012:{name}");
            events
                .put_rule()
                .event_bus_name(BUS)
                .name(*name)
                .event_pattern(pattern)
                .send()
                .await
                .unwrap_or_else(|e| panic!("rule {name}: {e:?}"));
            events
                .put_targets()
                .event_bus_name(BUS)
                .rule(*name)
                .targets(Target::builder().id("q").arn(arn).build().expect("target"))
                .send()
                .await
                .expect("put the queue target");
            queues.insert(*name, url);
        }

        for (detail_type, detail) in &published {
            let out = events
                .put_events()
                .entries(
                    PutEventsRequestEntry::builder()
                        .event_bus_name(BUS)
                        .source(SOURCE)
                        .detail_type(*detail_type)
                        .detail(detail)
                        .build(),
                )
                .send()
                .await
                .expect("PutEvents");
            assert_eq!(out.failed_entry_count(), 0);
        }

        let mut matched: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (name, url) in &queues {
            let got = matched.entry(*name).or_default();
            loop {
                let out = sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .expect("ReceiveMessage");
                if out.messages().is_empty() {
                    break;
                }
                for m in out.messages() {
                    let event: Value =
                        serde_json::from_str(m.body().unwrap_or_default()).expect("event JSON");
                    got.push(label(&event));
                    sqs.delete_message()
                        .queue_url(url)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .send()
                        .await
                        .expect("DeleteMessage");
                }
            }
            got.sort();
        }
        matched
    });

    for (name, want) in &expected {
        let mut want: Vec<&str> = want.clone();
        want.sort();
        assert_eq!(matched[name], want, "rule {name}");
    }
}
