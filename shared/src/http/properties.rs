//! Properties over generated events, through the real handler: for any LogEvent of a card's type,
//! `eventDetails` is the event byte for byte, the ids land where the README's contract says, and
//! the secret is nowhere in what is published or answered.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::cards::{Card, Extra, PersonKey, CARDS};
use crate::config::Config;
use crate::http::Handler;
use crate::test_support::{detail, raw_event_details, InMemoryPublisher};

/// Any text, escapes and astral characters included.
fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

fn maybe_text() -> impl Strategy<Value = Value> {
    option::of(text()).prop_map(|t| t.map_or(Value::Null, Value::String))
}

fn kind() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("User")),
        Just(json!("user")),
        Just(json!("AuthenticatorEnrollment")),
        Just(json!("MobilePhone")),
        Just(json!("AppInstance")),
        text().prop_map(Value::String),
    ]
}

fn resource() -> impl Strategy<Value = Value> {
    (
        maybe_text(),
        kind(),
        maybe_text(),
        maybe_text(),
        option::of(text()),
    )
        .prop_map(|(id, kind, alternate_id, display_name, detail)| {
            let mut r = json!({"id": id, "type": kind, "alternateId": alternate_id, "displayName": display_name});
            if let Some(d) = detail {
                r["detailEntry"] = json!({ "fulfillmentProvider": d });
            }
            r
        })
}

/// A JSON value of any shape, for the keys the cards do not read.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // Decimals serde_json reads back exactly (its default float parse is not round-trip exact
        // for extreme exponents); the raw bytes are compared in eventDetails anyway.
        (any::<i32>(), 0..6i32).prop_map(|(m, e)| Value::from(f64::from(m) / 10f64.powi(e))),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((text(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An Okta LogEvent of this card's type, as text.
fn event(card: &'static Card) -> impl Strategy<Value = Value> {
    (
        (maybe_text(), maybe_text(), maybe_text(), maybe_text()),
        option::of(resource()),
        vec(resource(), 0..4),
        (maybe_text(), maybe_text()),
        option::of(text()),
        any_json(),
    )
        .prop_map(
            move |(
                (uuid, published, version, message),
                actor,
                target,
                (result, reason),
                phone,
                extra,
            )| {
                let mut debug_data = json!({ "requestUri": "/api/v1/authn", "extra": extra });
                if let Some(p) = phone {
                    debug_data["phoneNumber"] = p.into();
                }
                json!({
                    "uuid": uuid, "published": published, "eventType": card.event_type,
                    "version": version, "displayMessage": message, "actor": actor,
                    "target": target, "outcome": {"result": result, "reason": reason},
                    "debugContext": {"debugData": debug_data}, "legacyEventType": extra,
                })
            },
        )
}

fn secret() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![b'A'..=b'Z', b'a'..=b'z', b'0'..=b'9', Just(b'+')],
        16..40,
    )
    .prop_map(|b| format!("Basic {}", String::from_utf8(b).unwrap_or_default()))
}

fn person(resource: Option<&Value>) -> Value {
    let field = |k: &str| resource.map_or(Value::Null, |r| r[k].clone());
    json!({"id": field("id"), "alternateId": field("alternateId"), "displayName": field("displayName"), "type": field("type")})
}

fn is(resource: &Value, kind: &str) -> bool {
    resource["type"]
        .as_str()
        .is_some_and(|k| k.eq_ignore_ascii_case(kind))
}

/// The README's detail contract, computed independently from the generated event.
fn check(card: &Card, envelope: &Value, event: &Value, d: &Value) -> Result<(), TestCaseError> {
    prop_assert_eq!(&d["eventId"], &event["uuid"]);
    prop_assert_eq!(&d["uuid"], &envelope["eventId"]);
    prop_assert_eq!(&d["eventTime"], &envelope["eventTime"]);
    prop_assert_eq!(&d["source"], &envelope["source"]);
    prop_assert_eq!(&d["eventType"], &json!(card.event_type));
    prop_assert_eq!(&d["dateAndTime"], &event["published"]);
    prop_assert_eq!(&d["version"], &event["version"]);
    prop_assert_eq!(&d["message"], &event["displayMessage"]);
    prop_assert_eq!(
        &d["debugContext"]["debugData"],
        &event["debugContext"]["debugData"]
    );
    let actor = event.get("actor").filter(|a| !a.is_null());
    let key = match card.person {
        PersonKey::Admin => "admin",
        PersonKey::Actor => "actor",
    };
    prop_assert_eq!(&d[key], &person(actor));
    let targets = event["target"].as_array().cloned().unwrap_or_default();
    let user = targets.iter().find(|t| is(t, "User")).or(match card.extra {
        Extra::Phone => actor.filter(|a| is(a, "User")),
        _ => None,
    });
    prop_assert_eq!(&d["oktaUser"], &person(user));
    match card.extra {
        Extra::None => prop_assert!(d.get("reason").is_none()),
        Extra::Reason => prop_assert_eq!(&d["reason"], &event["outcome"]["reason"]),
        Extra::MfaFactor => {
            let factor = targets.iter().find(|t| !is(t, "User"));
            prop_assert_eq!(&d["mfaFactor"]["id"], &person(factor)["id"]);
            let entry = factor.and_then(|f| f.get("detailEntry")).cloned();
            prop_assert_eq!(&d["mfaFactor"]["detail"], &entry.unwrap_or(Value::Null));
        }
        Extra::Phone => match targets.iter().find(|t| is(t, "MobilePhone")) {
            Some(phone) => prop_assert_eq!(&d["phone"], &person(Some(phone))),
            None => prop_assert_eq!(
                &d["phone"]["alternateId"],
                &event["debugContext"]["debugData"]["phoneNumber"]
            ),
        },
    }
    Ok(())
}

fn card() -> impl Strategy<Value = &'static Card> {
    (0..CARDS.len()).prop_map(|i| CARDS[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn published_details_follow_the_contract_and_never_carry_the_secret(
        (card, event) in card().prop_flat_map(|c| (Just(c), event(c))),
        others in vec(any_json(), 0..3),
        (delivery_id, event_time, source) in (maybe_text(), maybe_text(), maybe_text()),
        secret in secret(),
    ) {
        let event_text = serde_json::to_string(&event).expect("JSON");
        // Events of other types around it are ignored, whatever their shape.
        let mut events: Vec<String> = others
            .iter()
            .map(|o| serde_json::to_string(&json!({"eventType": "user.session.start", "x": o})).expect("JSON"))
            .collect();
        events.insert(others.len() / 2, event_text.clone());
        let envelope = json!({"eventId": delivery_id, "eventTime": event_time, "source": source});
        let body = format!(
            r#"{{"eventId":{},"eventTime":{},"source":{},"data":{{"events":[{}]}}}}"#,
            envelope["eventId"], envelope["eventTime"], envelope["source"], events.join(",")
        );
        prop_assume!(!body.contains(&secret));
        let config = Config::from_lookup(|name| (name == "OKTA_HOOK_SECRET").then(|| secret.to_owned()))
        .expect("config");
        let published = Arc::new(InMemoryPublisher::new());
        let handler = Handler::new(card, &config, published.clone());
        let request = Request::post(format!("/okta/{}", card.slug))
            .header("authorization", &secret)
            .header("x-forwarded-auth", format!("copy: {secret}"))
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let response = runtime.block_on(handler.handle(request));

        prop_assert_eq!(response.status(), http::StatusCode::OK, "{}", response.body());
        prop_assert!(!response.body().contains(&secret));
        let entries = published.entries();
        prop_assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        prop_assert_eq!(raw_event_details(entry), event_text);
        prop_assert!(!entry.detail.as_str().contains(&secret), "the secret was published");
        let d = detail(entry);
        prop_assert_eq!(&d["headers"]["authorization"], &json!(crate::http::REDACTED));
        prop_assert_eq!(&d["headers"]["x-forwarded-auth"], &json!(crate::http::REDACTED));
        prop_assert_eq!(entry.event_uuid.as_deref(), event["uuid"].as_str());
        prop_assert_eq!(entry.time.as_deref(), event["published"].as_str());
        check(card, &envelope, &event, &d)?;
    }
}
