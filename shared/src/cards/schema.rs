//! The JSON Schema of each card's `detail` (`schemas/<slug>.json`), generated from [`Detail`] and
//! checked here: a test fails when a committed file is stale, and tells how to regenerate it.

use std::collections::BTreeSet;

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::card::{Card, Detail, Extra, PersonKey, CARDS};

const UPDATE: &str = "UPDATE_SCHEMAS";

fn person_key(card: &Card) -> &'static str {
    match card.person {
        PersonKey::Admin => "admin",
        PersonKey::Actor => "actor",
    }
}

fn extra_key(card: &Card) -> Option<&'static str> {
    match card.extra {
        Extra::None => None,
        Extra::Reason => Some("reason"),
        Extra::MfaFactor => Some("mfaFactor"),
        Extra::Phone => Some("phone"),
    }
}

/// Single-key alternatives (`{"properties": {key: schema}}`) found under `oneOf`/`anyOf`, nested.
fn alternatives(schema: &Value, found: &mut Map<String, Value>) {
    for list in ["oneOf", "anyOf"] {
        for alt in schema[list].as_array().into_iter().flatten() {
            if let Some(props) = alt["properties"].as_object() {
                found.extend(props.clone());
            }
            alternatives(alt, found);
        }
    }
}

/// The card's schema. Serialization contract: a key serde always writes is `required`, and an
/// `Option` is `[..., "null"]`. The flattened person and extra enums come out as alternatives; a
/// card has exactly one of each, so its own are merged into the object, in the detail's key order.
fn card_schema(card: &Card) -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut schema =
        serde_json::to_value(generator.into_root_schema_for::<Detail>()).expect("schema");
    let mut alts = Map::new();
    alternatives(&schema, &mut alts);
    let obj = schema.as_object_mut().expect("an object schema");
    obj.remove("oneOf");
    obj.remove("anyOf");

    let own: Vec<&str> = [Some(person_key(card)), extra_key(card)]
        .into_iter()
        .flatten()
        .collect();
    let props = obj["properties"].as_object_mut().expect("properties");
    for key in &own {
        props.insert(key.to_string(), alts[*key].clone());
    }
    let mut required: Vec<Value> = Vec::new();
    for key in obj["required"].as_array().expect("required") {
        required.push(key.clone());
        // The person follows `version`; the extra follows `oktaUser` (card.rs, Detail).
        if key == "version" {
            required.push(json!(person_key(card)));
        }
        if key == "oktaUser" {
            required.extend(extra_key(card).map(Value::from));
        }
    }
    obj.insert("required".into(), Value::Array(required));
    // Keep only the definitions this card refers to (the phone card has no Factor).
    let body = Value::Object(
        obj.iter()
            .filter(|(k, _)| *k != "$defs")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
    .to_string();
    if let Some(defs) = obj.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.retain(|name, _| body.contains(&format!("\"#/$defs/{name}\"")));
    }
    obj.insert("additionalProperties".into(), json!(false));
    obj.insert("title".into(), json!(card.name));
    obj.insert(
        "description".into(),
        json!(format!(
            "The `detail` of the EventBridge events with detail-type \"{}\", one per Okta event of type \
             {}. Every key is always present, null when Okta sent nothing.",
            card.name, card.event_type
        )),
    );
    schema
}

fn path(card: &Card) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(format!("{}.json", card.slug))
}

#[test]
fn committed_schemas_match_the_rust_types() {
    let update = std::env::var(UPDATE).is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for card in CARDS {
        let text = serde_json::to_string_pretty(&card_schema(card)).expect("json") + "\n";
        let path = path(card);
        if update {
            std::fs::create_dir_all(path.parent().expect("dir")).expect("schemas/");
            std::fs::write(&path, &text).expect("write schema");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing: {stale:?}; regenerate with `{UPDATE}=1 cargo test -p okta-event-cards schema` \
         and commit schemas/"
    );
}

/// A small check of a value against the generated schema: enough to show it is truthful about keys,
/// types and nulls for real details (`$ref`s are followed).
fn check(schema: &Value, defs: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        return check(&defs[name], defs, value, at, errors);
    }
    if let Some(types) = schema.get("type") {
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let allowed: Vec<&str> = match types {
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        if !allowed.contains(&kind) {
            errors.push(format!("{at}: {kind} is not one of {allowed:?}"));
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if keys != required {
            errors.push(format!("{at}: keys {keys:?}, schema requires {required:?}"));
        }
        for (key, sub) in obj {
            match props.get(key) {
                Some(prop) => check(prop, defs, sub, &format!("{at}.{key}"), errors),
                None if schema["additionalProperties"] == json!(false) => {
                    errors.push(format!("{at}.{key}: not in the schema"))
                }
                None => {}
            }
        }
    }
}

#[test]
fn every_card_detail_fits_its_schema_with_its_nulls() {
    // Each card with a full event and an Admin Console preview (actor, target, debugContext null).
    let cases: [(&Card, &[&str]); 5] = [
        (
            &crate::cards::USER_MFA_FACTOR_DEACTIVATED,
            &[
                "samples/panther-user.mfa.factor.deactivate-1.json",
                "synthetic/preview-user.mfa.factor.deactivate.json",
            ],
        ),
        (
            &crate::cards::USER_MFA_FACTOR_ACTIVATED,
            &[
                "samples/stix-shifter-user.mfa.factor.activate-1.json",
                "synthetic/preview-user.mfa.factor.activate.json",
            ],
        ),
        (
            &crate::cards::MFA_PREREGISTRATION_INITIATED,
            &[
                "synthetic/system.mfa.preregister.initiate-yubico.json",
                "synthetic/preview-system.mfa.preregister.initiate.json",
            ],
        ),
        (
            &crate::cards::USER_MFA_FACTOR_RESET_ALL,
            &[
                "samples/panther-user.mfa.factor.reset_all-1.json",
                "synthetic/preview-user.mfa.factor.reset_all.json",
            ],
        ),
        (
            &crate::cards::PHONE_VERIFICATION_CALL_SENT,
            &[
                "synthetic/system.voice.send_phone_verification_call-classic.json",
                "synthetic/system.voice.send_phone_verification_call-oie.json",
                "synthetic/preview-system.voice.send_phone_verification_call.json",
            ],
        ),
    ];
    for (card, fixtures) in cases {
        let schema = card_schema(card);
        let details = crate::test_support::details(card, fixtures);
        assert_eq!(details.len(), fixtures.len(), "{}", card.slug);
        let mut errors = Vec::new();
        for (i, detail) in details.iter().enumerate() {
            check(
                &schema,
                &schema["$defs"],
                detail,
                &format!("{}[{i}]", card.slug),
                &mut errors,
            );
        }
        assert!(errors.is_empty(), "{errors:#?}");
    }
    // The check can fail: a detail of another card does not fit.
    let mut errors = Vec::new();
    let activated = &crate::test_support::details(
        &crate::cards::USER_MFA_FACTOR_ACTIVATED,
        &["samples/stix-shifter-user.mfa.factor.activate-1.json"],
    )[0];
    let phone = card_schema(&crate::cards::PHONE_VERIFICATION_CALL_SENT);
    check(&phone, &phone["$defs"], activated, "activated", &mut errors);
    assert!(!errors.is_empty());
}
