//! The real handler, the real `aws-sdk-eventbridge` client and moto's EventBridge and SQS: every
//! card's delivery goes through a rule to a queue, and the test reads it back.

use http_body_util::Full;
use integration_tests::{card_pattern, workspace_root, Moto};
use okta_event_cards::aws::{clients_from, lambda};
use okta_event_cards::cards::PersonKey;
use okta_event_cards::{Card, Config, Handler, CARDS};
use serde_json::{json, Value};

/// The secret the `events/` files carry (events/README.md).
const SECRET: &str = "Basic b2t0YTpsb2NhbC1ldmVudHMtdGVzdC1zZWNyZXQ=";
const SOURCE: &str = "okta.event-cards";

fn config(bus: &str) -> Config {
    Config {
        event_bus_name: Some(bus.to_owned()),
        ..Config::with_secrets(&[SECRET])
    }
}

/// An API Gateway event from `events/`, its delivery body, and that body's events of the card's type.
fn delivery_event(card: &Card) -> (String, Value, Vec<Value>) {
    let path = workspace_root().join(format!("events/{}/delivery.json", card.slug));
    let text = std::fs::read_to_string(&path).expect("the events/ file");
    let event: Value = serde_json::from_str(&text).expect("JSON");
    let body: Value = serde_json::from_str(event["body"].as_str().expect("a body")).expect("JSON");
    let expected = body["data"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["eventType"] == card.event_type)
        .cloned()
        .collect();
    (text, body, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_card_event_reaches_its_queue_through_a_rule() {
    let moto = Moto::start();
    let bus = "okta-cards";
    moto.bus(bus).await;
    let mut queues = Vec::new();
    for card in CARDS {
        queues.push(
            moto.rule_to_queue(bus, card.slug, card_pattern(SOURCE, card.name))
                .await,
        );
    }
    let config = config(bus);
    // The timeouts the functions run with.
    let aws = Moto::aws(&moto.url).await;
    let (publisher, queue) = clients_from(&aws, &config).expect("clients");

    for (card, queue_url) in CARDS.iter().zip(&queues) {
        let handler = Handler::with_failure_queue(card, &config, publisher.clone(), queue.clone());
        let (text, body, expected) = delivery_event(card);
        // The Lambda path: the API Gateway event through the Lambda entry, then the handler.
        let event = serde_json::value::RawValue::from_string(text).expect("JSON");
        let response = lambda::invoke(&handler, event)
            .await
            .expect("an API Gateway event");
        assert_eq!(
            response.status_code, 200,
            "{}: {}",
            card.slug, response.body
        );

        let received = moto.drain(queue_url, expected.len()).await;
        assert_eq!(received.len(), expected.len(), "{}", card.slug);
        for okta_event in &expected {
            let event = received
                .iter()
                .find(|e| e["detail"]["eventDetails"] == *okta_event)
                .unwrap_or_else(|| panic!("{}: {} not received", card.slug, okta_event["uuid"]));
            assert_eq!(event["source"], SOURCE);
            assert_eq!(event["detail-type"], card.name);
            let detail = &event["detail"];
            assert_eq!(detail["eventId"], okta_event["uuid"]);
            assert_eq!(detail["eventType"], card.event_type);
            assert_eq!(detail["dateAndTime"], okta_event["published"]);
            assert_eq!(detail["message"], okta_event["displayMessage"]);
            assert_eq!(detail["uuid"], body["eventId"], "the delivery's eventId");
            assert_eq!(detail["eventTime"], body["eventTime"]);
            assert_eq!(detail["source"], body["source"]);
            let person = match card.person {
                PersonKey::Admin => &detail["admin"],
                PersonKey::Actor => &detail["actor"],
            };
            assert_eq!(person["id"], okta_event["actor"]["id"], "{}", card.slug);
            assert_eq!(person["alternateId"], okta_event["actor"]["alternateId"]);
            assert_eq!(detail["headers"]["authorization"], "[REDACTED]");
            assert!(!event.to_string().contains(&SECRET[6..]));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_on_a_card_field_routes_only_its_events() {
    let moto = Moto::start();
    let bus = "okta-cards";
    moto.bus(bus).await;
    let card = &okta_event_cards::cards::USER_MFA_FACTOR_DEACTIVATED;
    let all = moto
        .rule_to_queue(bus, "deactivated", card_pattern(SOURCE, card.name))
        .await;
    let resets = moto
        .rule_to_queue(
            bus,
            "okta-verify-resets",
            json!({
                "source": [SOURCE],
                "detail-type": [card.name],
                "detail": {"reason": [{"prefix": "User reset OKTA_VERIFY"}]}
            }),
        )
        .await;
    let config = config(bus);
    let (publisher, queue) = clients_from(&Moto::aws(&moto.url).await, &config).expect("clients");
    let handler = Handler::with_failure_queue(card, &config, publisher, queue);

    // The events/ delivery (FIDO and SIGNED_NONCE resets) plus an Okta Verify reset.
    let (_, mut body, _) = delivery_event(card);
    let okta_verify: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join(
            "shared/fixtures/synthetic/ie-user.mfa.factor.deactivate-reset-okta-verify-push.json",
        ))
        .expect("fixture"),
    )
    .expect("JSON");
    body["data"]["events"]
        .as_array_mut()
        .expect("events")
        .push(okta_verify.clone());
    let request = http::Request::post(format!("/okta/{}", card.slug))
        .header("authorization", SECRET)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .expect("request");
    assert_eq!(handler.handle(request).await.status(), 200);

    let routed = moto.drain(&resets, 1).await;
    assert_eq!(routed.len(), 1, "only the Okta Verify reset: {routed:?}");
    assert_eq!(routed[0]["detail"]["eventId"], okta_verify["uuid"]);
    assert_eq!(
        routed[0]["detail"]["reason"],
        "User reset OKTA_VERIFY_PUSH factor"
    );
    assert_eq!(
        moto.drain(&all, 3).await.len(),
        3,
        "every reset on the card rule"
    );
}
