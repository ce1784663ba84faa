//! The five cards as data, and the one mapping from an Okta `LogEvent` to a card's `detail`.
//!
//! Pure: no HTTP, no AWS. The field contract is the README's table of detail keys (The cards).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::okta::{LogEvent, PhoneDebugData, Resource};

/// Who the card calls the person who acted: the key of `event.actor` in the detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonKey {
    Admin,
    Actor,
}

/// The object a card adds beside the Okta user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    None,
    /// `reason`: `outcome.reason`.
    Reason,
    /// `mfaFactor`: the non-User target and its `detailEntry`.
    MfaFactor,
    /// `phone`: the `MobilePhone` target, else built from `debugData.phoneNumber`. The called
    /// user falls back to the actor when no `User` target is present.
    Phone,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Card {
    /// The card's name; the EventBridge `detail-type`.
    pub name: &'static str,
    /// The route (`/okta/<slug>`) and the function crate's name.
    pub slug: &'static str,
    /// The Okta event type this card publishes; every other type is ignored.
    pub event_type: &'static str,
    pub person: PersonKey,
    pub extra: Extra,
}

pub const USER_MFA_FACTOR_DEACTIVATED: Card = Card {
    name: "User MFA Factor Deactivated",
    slug: "user-mfa-factor-deactivated",
    event_type: "user.mfa.factor.deactivate",
    person: PersonKey::Admin,
    extra: Extra::Reason,
};

pub const USER_MFA_FACTOR_ACTIVATED: Card = Card {
    name: "User MFA Factor Activated",
    slug: "user-mfa-factor-activated",
    event_type: "user.mfa.factor.activate",
    person: PersonKey::Admin,
    extra: Extra::Reason,
};

pub const MFA_PREREGISTRATION_INITIATED: Card = Card {
    name: "MFA Preregistration Initiated",
    slug: "mfa-preregistration-initiated",
    event_type: "system.mfa.preregister.initiate",
    person: PersonKey::Actor,
    extra: Extra::MfaFactor,
};

pub const USER_MFA_FACTOR_RESET_ALL: Card = Card {
    name: "User MFA Factor Reset All",
    slug: "user-mfa-factor-reset-all",
    event_type: "user.mfa.factor.reset_all",
    person: PersonKey::Admin,
    extra: Extra::None,
};

pub const PHONE_VERIFICATION_CALL_SENT: Card = Card {
    name: "Phone Verification Call Sent",
    slug: "phone-verification-call-sent",
    event_type: "system.voice.send_phone_verification_call",
    person: PersonKey::Actor,
    extra: Extra::Phone,
};

pub const CARDS: [&Card; 5] = [
    &USER_MFA_FACTOR_DEACTIVATED,
    &USER_MFA_FACTOR_ACTIVATED,
    &MFA_PREREGISTRATION_INITIATED,
    &USER_MFA_FACTOR_RESET_ALL,
    &PHONE_VERIFICATION_CALL_SENT,
];

/// The card that publishes events of this type, if one does.
pub fn card_for(event_type: &str) -> Option<&'static Card> {
    CARDS.into_iter().find(|c| c.event_type == event_type)
}

impl Card {
    pub fn matches(&self, event: &LogEvent) -> bool {
        event.event_type.as_deref() == Some(self.event_type)
    }

    /// The card's `detail` for one event of its type.
    pub fn detail<'e>(
        &self,
        delivery: &DeliveryInfo<'e>,
        event: &'e LogEvent<'e>,
        raw: &'e RawValue,
    ) -> Detail<'e> {
        let actor = Person::from(event.actor.as_ref());
        let user = event
            .targets()
            .find(|t| t.is("User"))
            .or_else(|| match self.extra {
                Extra::Phone => event.actor.as_ref().filter(|a| a.is("User")),
                _ => None,
            });
        let extra = match self.extra {
            Extra::None => None,
            Extra::Reason => Some(ExtraOut::Reason(
                event.outcome.as_ref().and_then(|o| o.reason.as_deref()),
            )),
            Extra::MfaFactor => {
                let factor = event.targets().find(|t| !t.is("User"));
                Some(ExtraOut::MfaFactor(Factor {
                    person: Person::from(factor),
                    detail: factor.and_then(|f| f.detail_entry),
                }))
            }
            Extra::Phone => Some(ExtraOut::Phone(phone(event))),
        };
        Detail {
            date_and_time: event.published.as_deref(),
            message: event.display_message.as_deref(),
            event_id: event.uuid.as_deref(),
            event_type: event.event_type.as_deref(),
            event_time: delivery.event_time,
            version: event.version.as_deref(),
            person: match self.person {
                PersonKey::Admin => PersonOut::Admin(actor),
                PersonKey::Actor => PersonOut::Actor(actor),
            },
            okta_user: Person::from(user),
            extra,
            uuid: delivery.event_id,
            event_details: raw,
            headers: delivery.headers,
            source: delivery.source,
            debug_context: DebugContextOut {
                debug_data: event.debug_data(),
            },
        }
    }
}

/// The phone the call went to: the `MobilePhone` target (Classic, and Identity Engine in 2022),
/// else built from `debugData.phoneNumber` (Identity Engine today), which carries no phone id.
fn phone<'e>(event: &'e LogEvent<'e>) -> Person<'e> {
    if let Some(target) = event.targets().find(|t| t.is("MobilePhone")) {
        return Person::from(Some(target));
    }
    let number = event
        .debug_data()
        .and_then(|raw| serde_json::from_str::<PhoneDebugData>(raw.get()).ok())
        .and_then(|d| d.phone_number);
    match number {
        Some(number) => Person {
            id: None,
            alternate_id: Some(number),
            display_name: None,
            kind: Some("MobilePhone".into()),
        },
        None => Person::default(),
    }
}

/// What a card needs from the delivery around the event.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryInfo<'a> {
    pub event_id: Option<&'a str>,
    pub event_time: Option<&'a str>,
    pub source: Option<&'a str>,
    /// The delivery's headers as a JSON object, secret redacted; written once per delivery.
    pub headers: &'a RawValue,
}

/// A card's EventBridge `detail`. Every key is always present (null when Okta sent nothing), so
/// rules and consumers see one stable shape.
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail<'a> {
    pub date_and_time: Option<&'a str>,
    pub message: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub event_time: Option<&'a str>,
    pub version: Option<&'a str>,
    #[serde(flatten)]
    pub person: PersonOut<'a>,
    pub okta_user: Person<'a>,
    #[serde(flatten)]
    pub extra: Option<ExtraOut<'a>>,
    pub uuid: Option<&'a str>,
    // The event as Okta sent it, byte for byte. Always an object: a delivery with a non-object
    // event is refused.
    #[cfg_attr(test, schemars(with = "serde_json::Map<String, serde_json::Value>"))]
    pub event_details: &'a RawValue,
    #[cfg_attr(test, schemars(with = "serde_json::Map<String, serde_json::Value>"))]
    pub headers: &'a RawValue,
    pub source: Option<&'a str>,
    pub debug_context: DebugContextOut<'a>,
}

/// The four fields Okta gives for users and other resources.
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person<'a> {
    pub id: Option<Cow<'a, str>>,
    pub alternate_id: Option<Cow<'a, str>>,
    pub display_name: Option<Cow<'a, str>>,
    #[serde(rename = "type")]
    pub kind: Option<Cow<'a, str>>,
}

impl<'a> From<Option<&'a Resource<'a>>> for Person<'a> {
    fn from(r: Option<&'a Resource<'a>>) -> Self {
        let borrow = |t: &'a Option<Cow<'a, str>>| t.as_deref().map(Into::into);
        match r {
            Some(r) => Self {
                id: borrow(&r.id),
                alternate_id: borrow(&r.alternate_id),
                display_name: borrow(&r.display_name),
                kind: borrow(&r.kind),
            },
            None => Self::default(),
        }
    }
}

#[cfg_attr(test, derive(schemars::JsonSchema))]
#[derive(Debug, Serialize)]
pub enum PersonOut<'a> {
    #[serde(rename = "admin")]
    Admin(Person<'a>),
    #[serde(rename = "actor")]
    Actor(Person<'a>),
}

#[cfg_attr(test, derive(schemars::JsonSchema))]
#[derive(Debug, Serialize)]
pub enum ExtraOut<'a> {
    #[serde(rename = "reason")]
    Reason(Option<&'a str>),
    #[serde(rename = "mfaFactor")]
    MfaFactor(Factor<'a>),
    #[serde(rename = "phone")]
    Phone(Person<'a>),
}

/// A factor: the four fields, and `detail`, its `detailEntry` as sent.
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[derive(Debug, Serialize)]
pub struct Factor<'a> {
    #[serde(flatten)]
    pub person: Person<'a>,
    pub detail: Option<&'a RawValue>,
}

#[cfg_attr(test, derive(schemars::JsonSchema))]
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugContextOut<'a> {
    pub debug_data: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{
        details, envelope, fixture, map, raw_event_details, DELIVERY_ID, EVENT_TIME, SOURCE,
    };
    use serde_json::{json, Value};

    fn person(id: &str, kind: &str, alternate_id: &str, display_name: &str) -> Value {
        json!({"id": id, "type": kind, "alternateId": alternate_id, "displayName": display_name})
    }

    const NOBODY: fn() -> Value =
        || json!({"id": null, "type": null, "alternateId": null, "displayName": null});

    #[test]
    fn cards_are_the_five_with_distinct_slugs_and_types() {
        let slugs: Vec<_> = CARDS.iter().map(|c| c.slug).collect();
        assert_eq!(
            slugs,
            [
                "user-mfa-factor-deactivated",
                "user-mfa-factor-activated",
                "mfa-preregistration-initiated",
                "user-mfa-factor-reset-all",
                "phone-verification-call-sent"
            ]
        );
        let types: std::collections::BTreeSet<_> = CARDS.iter().map(|c| c.event_type).collect();
        assert_eq!(types.len(), 5);
    }

    #[test]
    fn every_card_has_the_contract_keys_in_order() {
        let base = |person: &'static str, extra: Option<&'static str>| {
            let mut k = vec![
                "dateAndTime",
                "message",
                "eventId",
                "eventType",
                "eventTime",
                "version",
                person,
                "oktaUser",
            ];
            k.extend(extra);
            k.extend(["uuid", "eventDetails", "headers", "source", "debugContext"]);
            k
        };
        let cases = [
            (
                &USER_MFA_FACTOR_DEACTIVATED,
                "synthetic/preview-user.mfa.factor.deactivate.json",
                base("admin", Some("reason")),
            ),
            (
                &USER_MFA_FACTOR_ACTIVATED,
                "synthetic/preview-user.mfa.factor.activate.json",
                base("admin", Some("reason")),
            ),
            (
                &MFA_PREREGISTRATION_INITIATED,
                "synthetic/preview-system.mfa.preregister.initiate.json",
                base("actor", Some("mfaFactor")),
            ),
            (
                &USER_MFA_FACTOR_RESET_ALL,
                "synthetic/preview-user.mfa.factor.reset_all.json",
                base("admin", None),
            ),
            (
                &PHONE_VERIFICATION_CALL_SENT,
                "synthetic/preview-system.voice.send_phone_verification_call.json",
                base("actor", Some("phone")),
            ),
        ];
        for (card, preview, expected) in cases {
            let mapped = map(card, &envelope(&[&fixture(preview)]));
            assert_eq!(mapped.events.len(), 1, "{}", card.slug);
            assert_eq!(
                crate::test_support::detail_keys(&mapped.events[0]),
                expected,
                "{}",
                card.slug
            );
        }
    }

    #[test]
    fn activated_classic_sample_maps_every_field() {
        let d = &details(
            &USER_MFA_FACTOR_ACTIVATED,
            &["samples/stix-shifter-user.mfa.factor.activate-1.json"],
        )[0];
        let aps = person("00u85ek33bjW0rqu75d7", "User", "aps@google.com", "aps");
        assert_eq!(d["dateAndTime"], "2023-01-30T14:18:01.558Z");
        assert_eq!(d["message"], "Activate factor for user");
        assert_eq!(d["eventId"], "e766d84e-a0a8-11ed-a750-9f5fc296ce63");
        assert_eq!(d["eventType"], "user.mfa.factor.activate");
        assert_eq!(d["eventTime"], EVENT_TIME);
        assert_eq!(d["version"], "0");
        assert_eq!(d["admin"], aps);
        assert_eq!(d["oktaUser"], aps);
        assert_eq!(d["reason"], "User set up EMAIL_FACTOR factor");
        assert_eq!(d["uuid"], DELIVERY_ID);
        assert_eq!(d["source"], SOURCE);
        assert_eq!(
            d["headers"],
            json!({"accept": "application/json", "authorization": "[REDACTED]"})
        );
        assert_eq!(
            d["debugContext"]["debugData"]["requestUri"],
            "/api/v1/users"
        );
        let original: Value = serde_json::from_str(&fixture(
            "samples/stix-shifter-user.mfa.factor.activate-1.json",
        ))
        .expect("json");
        assert_eq!(d["eventDetails"], original);
    }

    #[test]
    fn event_details_are_the_event_byte_for_byte() {
        for f in [
            "samples/stix-shifter-user.mfa.factor.activate-1.json",
            "synthetic/unicode-user.mfa.factor.deactivate.json",
            "synthetic/ie-user.mfa.factor.deactivate-user-first.json",
        ] {
            let event = fixture(f);
            let card = if f.contains("activate-1") {
                &USER_MFA_FACTOR_ACTIVATED
            } else {
                &USER_MFA_FACTOR_DEACTIVATED
            };
            let mapped = map(card, &envelope(&[&event]));
            assert_eq!(raw_event_details(&mapped.events[0]), event.trim(), "{f}");
        }
    }

    #[test]
    fn identity_engine_user_is_found_beside_the_enrollment_in_any_order() {
        let d = &details(
            &USER_MFA_FACTOR_ACTIVATED,
            &["synthetic/ie-user.mfa.factor.activate-enrollment-first.json"],
        )[0];
        let avery = person(
            "00ukgPoYqnCDoYzBK0g7",
            "User",
            "avery.chen@example.com",
            "Avery Chen",
        );
        assert_eq!(d["oktaUser"], avery);
        assert_eq!(d["admin"], avery);
        assert_eq!(d["reason"], "User set up OKTA_VERIFY_PUSH factor");

        let d = &details(
            &USER_MFA_FACTOR_DEACTIVATED,
            &["synthetic/ie-user.mfa.factor.deactivate-user-first.json"],
        )[0];
        assert_eq!(
            d["oktaUser"],
            person(
                "00uzhe6SVI34Zwh8X0g7",
                "User",
                "diego.ramirez@example.com",
                "Diego Ramirez"
            )
        );
        assert_eq!(
            d["admin"],
            person(
                "00ubftfOoXTZhQ8st0g7",
                "User",
                "morgan.lee@example.com",
                "Morgan Lee"
            )
        );
        assert_eq!(d["reason"], "User reset SIGNED_NONCE factor");
    }

    #[test]
    fn identity_engine_phone_enrollment_is_two_events_not_a_duplicate() {
        let d = details(
            &USER_MFA_FACTOR_ACTIVATED,
            &[
                "synthetic/ie-user.mfa.factor.activate-sms.json",
                "synthetic/ie-user.mfa.factor.activate-voice.json",
            ],
        );
        let reasons: Vec<_> = d.iter().map(|d| d["reason"].as_str()).collect();
        assert_eq!(
            reasons,
            [
                Some("User set up SMS_FACTOR factor"),
                Some("User set up CALL_FACTOR factor")
            ]
        );
        assert_ne!(d[0]["eventId"], d[1]["eventId"]);
    }

    #[test]
    fn deactivated_samples_with_and_without_reason() {
        let d = details(
            &USER_MFA_FACTOR_DEACTIVATED,
            &[
                "samples/panther-user.mfa.factor.deactivate-1.json",
                "samples/panther-user.mfa.factor.deactivate-2.json",
            ],
        );
        assert_eq!(d[0]["reason"], "User reset FIDO_WEBAUTHN factor");
        assert_eq!(
            d[0]["admin"],
            person(
                "11111111111",
                "User",
                "homer@springfield.gov",
                "Homer Simpson"
            )
        );
        assert_eq!(
            d[0]["oktaUser"],
            person("1111111", "User", "homer@springfield.gov", "Homer Simpson")
        );
        // Panther's events carry no uuid or published: null, not an error.
        assert_eq!(d[0]["eventId"], Value::Null);
        assert_eq!(d[0]["dateAndTime"], Value::Null);
        assert_eq!(d[1]["reason"], Value::Null);
    }

    #[test]
    fn minimal_envelope_from_a_real_test_fixture() {
        let body = fixture(
            "samples/cisco-idp-hook-updates-envelope-fixture-user.mfa.factor.deactivate-1.json",
        );
        let mapped = map(&USER_MFA_FACTOR_DEACTIVATED, &body);
        assert_eq!(mapped.events.len(), 1);
        let d = crate::test_support::detail(&mapped.events[0]);
        assert_eq!(d["eventId"], "111");
        assert_eq!(d["reason"], "User reset MY_REASON factor");
        assert_eq!(d["oktaUser"]["alternateId"], "<username>");
        assert_eq!(d["admin"], NOBODY());
        for absent in ["uuid", "eventTime", "source"] {
            assert_eq!(d[absent], Value::Null, "{absent}");
        }
    }

    #[test]
    fn reset_all_names_the_admin_and_the_user_reset() {
        let body = envelope(&[&fixture("samples/panther-user.mfa.factor.reset_all-1.json")]);
        let mapped = map(&USER_MFA_FACTOR_RESET_ALL, &body);
        let d = crate::test_support::detail(&mapped.events[0]);
        assert_eq!(
            d["admin"],
            person(
                "00abc123",
                "User",
                "homer.simpson@duff.com",
                "Homer Simpson"
            )
        );
        assert_eq!(
            d["oktaUser"],
            person(
                "0002222AAAA",
                "User",
                "peter.griffin@company.com",
                "Peter Griffin"
            )
        );
        assert_eq!(d["message"], "Reset all factors for user");
        assert_eq!(
            d["debugContext"]["debugData"]["requestUri"],
            "/api/v1/users/AbCdEfG/lifecycle/reset_factors"
        );
        assert!(d.get("reason").is_none());
        // Kept verbatim even though it is not RFC 3339.
        assert_eq!(d["dateAndTime"], "2022-06-22 18:18:29.015");
        assert_eq!(
            mapped.events[0].time.as_deref(),
            Some("2022-06-22 18:18:29.015")
        );
    }

    #[test]
    fn identity_engine_reset_arrives_on_the_deactivated_card_only() {
        let f = "synthetic/ie-user.mfa.factor.deactivate-reset-okta-verify-push.json";
        assert!(details(&USER_MFA_FACTOR_RESET_ALL, &[f]).is_empty());
        assert_eq!(
            details(&USER_MFA_FACTOR_DEACTIVATED, &[f])[0]["reason"],
            "User reset OKTA_VERIFY_PUSH factor"
        );
    }

    #[test]
    fn preregistration_takes_the_non_user_target_as_the_factor() {
        let d = &details(
            &MFA_PREREGISTRATION_INITIATED,
            &["synthetic/system.mfa.preregister.initiate-yubico.json"],
        )[0];
        assert_eq!(
            d["actor"],
            person(
                "00ubftfOoXTZhQ8st0g7",
                "User",
                "morgan.lee@example.com",
                "Morgan Lee"
            )
        );
        assert_eq!(
            d["oktaUser"],
            person(
                "00u2NxmZQqDGcwWdL0g7",
                "User",
                "sam.okafor@example.com",
                "Sam Okafor"
            )
        );
        assert_eq!(
            d["mfaFactor"],
            json!({
                "id": "fwfyu6hbktTwVuWe80g7", "type": "Factor", "alternateId": "YubiKey 5 NFC",
                "displayName": "Security Key or Biometric",
                "detail": {"fulfillmentProvider": "yubico", "yubicoProductId": "2", "yubicoInventoryProductId": "13",
                           "yubicoCustomizationId": "6LBJ23", "factorType": "webauthn"}
            })
        );
    }

    #[test]
    fn phone_classic_uses_the_mobile_phone_target_and_the_actor_as_user() {
        let d = &details(
            &PHONE_VERIFICATION_CALL_SENT,
            &["synthetic/system.voice.send_phone_verification_call-classic.json"],
        )[0];
        let priya = person(
            "00ums9bmOxojRlO8f0g7",
            "User",
            "priya.natarajan@example.com",
            "Priya Natarajan",
        );
        assert_eq!(d["actor"], priya);
        assert_eq!(d["oktaUser"], priya);
        assert_eq!(
            d["phone"],
            json!({"id": "mbl3p075rwLbODqXZ0g7", "type": "MobilePhone", "alternateId": "+14155550123", "displayName": null})
        );
        assert_eq!(d["debugContext"]["debugData"]["callProvider"], "TWILIO");
    }

    #[test]
    fn phone_identity_engine_builds_the_phone_from_debug_data() {
        let d = &details(
            &PHONE_VERIFICATION_CALL_SENT,
            &["synthetic/system.voice.send_phone_verification_call-oie.json"],
        )[0];
        assert_eq!(
            d["phone"],
            json!({"id": null, "type": "MobilePhone", "alternateId": "+14155550123", "displayName": null})
        );
        assert_eq!(d["oktaUser"]["id"], "00ums9bmOxojRlO8f0g7");
        assert_eq!(d["debugContext"]["debugData"]["countryCallingCode"], "1");
    }

    #[test]
    fn phone_identity_engine_2022_target_with_unquoted_numbers() {
        let d = &details(
            &PHONE_VERIFICATION_CALL_SENT,
            &["synthetic/system.voice.send_phone_verification_call-oie2022.json"],
        )[0];
        assert_eq!(
            d["phone"],
            json!({"id": "qFGtyCw3hwhHh55555555z", "type": "MobilePhone", "alternateId": "15555555555", "displayName": "15555555555"})
        );
        assert_eq!(d["oktaUser"]["type"], "User");
    }

    #[test]
    fn phone_call_blocked_by_okta_is_still_a_card_event() {
        let d = &details(
            &PHONE_VERIFICATION_CALL_SENT,
            &["synthetic/system.voice.send_phone_verification_call-deny.json"],
        )[0];
        assert_eq!(d["eventDetails"]["outcome"]["result"], "DENY");
        assert_eq!(d["phone"]["alternateId"], "+447700900123");
    }

    #[test]
    fn admin_console_previews_full_of_nulls_map_to_nulls() {
        let cases = [
            (
                &USER_MFA_FACTOR_DEACTIVATED,
                "user.mfa.factor.deactivate",
                "admin",
            ),
            (
                &USER_MFA_FACTOR_ACTIVATED,
                "user.mfa.factor.activate",
                "admin",
            ),
            (
                &MFA_PREREGISTRATION_INITIATED,
                "system.mfa.preregister.initiate",
                "actor",
            ),
            (
                &USER_MFA_FACTOR_RESET_ALL,
                "user.mfa.factor.reset_all",
                "admin",
            ),
            (
                &PHONE_VERIFICATION_CALL_SENT,
                "system.voice.send_phone_verification_call",
                "actor",
            ),
        ];
        for (card, event_type, person_key) in cases {
            let d = &details(card, &[&format!("synthetic/preview-{event_type}.json")])[0];
            assert_eq!(d["eventType"], event_type);
            assert_eq!(d[person_key], NOBODY(), "{event_type}");
            assert_eq!(d["oktaUser"], NOBODY(), "{event_type}");
            assert_eq!(
                d["debugContext"],
                json!({"debugData": null}),
                "{event_type}"
            );
            match card.extra {
                Extra::Reason => assert_eq!(d["reason"], Value::Null),
                Extra::MfaFactor => assert_eq!(
                    d["mfaFactor"],
                    json!({"id": null, "type": null, "alternateId": null, "displayName": null, "detail": null})
                ),
                Extra::Phone => assert_eq!(d["phone"], NOBODY()),
                Extra::None => {}
            }
        }
    }

    #[test]
    fn unicode_names_raw_and_escaped_come_out_as_text() {
        let d = &details(
            &USER_MFA_FACTOR_DEACTIVATED,
            &["synthetic/unicode-user.mfa.factor.deactivate.json"],
        )[0];
        assert_eq!(d["oktaUser"]["displayName"], "Zoë Ångström 🦊");
        assert_eq!(d["oktaUser"]["alternateId"], "zoë.ångström@example.com");
        assert_eq!(d["admin"]["displayName"], "山田 太郎 🔑");
        assert_eq!(d["admin"]["alternateId"], "山田.太郎@example.com");
    }

    #[test]
    fn microsecond_timestamps_are_kept_verbatim() {
        let d = &details(
            &USER_MFA_FACTOR_ACTIVATED,
            &["synthetic/microseconds-user.mfa.factor.activate.json"],
        )[0];
        assert_eq!(d["dateAndTime"], "2025-04-21T06:24:51.870412Z");
    }

    #[test]
    fn real_envelopes_of_other_types_parse_and_are_ignored() {
        for f in [
            "samples/okta-devdocs-envelope-user.session.start-1.json",
            "samples/okta-devdocs-envelope-user.session.start-2.json",
            "samples/fengyu225-envelope-live-group.user_membership.add-1.json",
            "samples/logzio-envelope-preview-multi-1.json",
            "samples/logzio-envelope-preview-user.behavior.profile.reset-2.json",
        ] {
            let body = fixture(f);
            let expected_events = serde_json::from_str::<Value>(&body).expect("json")["data"]
                ["events"]
                .as_array()
                .expect("events")
                .len();
            for card in CARDS {
                let mapped = map(card, &body);
                assert!(mapped.events.is_empty(), "{f} {}", card.slug);
                assert_eq!(
                    (mapped.received, mapped.ignored),
                    (expected_events, expected_events),
                    "{f}"
                );
                assert!(mapped.delivery_id.is_some(), "{f}");
            }
        }
    }

    #[test]
    fn a_batch_of_several_hundred_events_keeps_every_one_in_order() {
        let templates = [
            fixture("synthetic/ie-user.mfa.factor.activate-enrollment-first.json"),
            fixture("samples/stix-shifter-user.mfa.factor.activate-1.json"),
            fixture("samples/okta-devdocs-envelope-user.session.start-2.json"),
        ];
        let session: Value = serde_json::from_str(&templates[2]).expect("json");
        let session = session["data"]["events"][0].to_string();
        let events: Vec<String> = (0..600)
            .map(|i| {
                let template = if i % 3 == 2 {
                    &session
                } else {
                    &templates[i % 2]
                };
                let mut e: Value = serde_json::from_str(template).expect("json");
                e["uuid"] = json!(format!("event-{i:04}"));
                e.to_string()
            })
            .collect();
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        let mapped = map(&USER_MFA_FACTOR_ACTIVATED, &envelope(&refs));
        assert_eq!(
            (mapped.received, mapped.events.len(), mapped.ignored),
            (600, 400, 200)
        );
        let ids: Vec<String> = mapped
            .events
            .iter()
            .map(|e| e.event_uuid.clone().expect("uuid"))
            .collect();
        let expected: Vec<String> = (0..600)
            .filter(|i| i % 3 != 2)
            .map(|i| format!("event-{i:04}"))
            .collect();
        assert_eq!(ids, expected);
    }

    /// Strings JSON must escape, in every field that holds one, come back as the same text.
    #[test]
    fn strings_json_escapes_come_back_as_sent() {
        let odd = r#"{"uuid":"q\"uote","published":"tab\there","eventType":"user.mfa.factor.activate","version":"back\\slash","displayMessage":"new\nline \u0001 \u00e9 \ud83d\ude00 </script>","actor":{"id":"a\"1","type":"User","alternateId":"\u001f@x","displayName":"Zoë \"Z\""},"outcome":{"reason":"line\r\nbreak"},"target":[{"id":"t\\1","type":"User"}]}"#;
        let d = &crate::test_support::details_of(&USER_MFA_FACTOR_ACTIVATED, &[odd])[0];
        assert_eq!(d["eventId"], "q\"uote");
        assert_eq!(d["dateAndTime"], "tab\there");
        assert_eq!(d["version"], "back\\slash");
        assert_eq!(d["message"], "new\nline \u{1} é 😀 </script>");
        assert_eq!(d["admin"]["id"], "a\"1");
        assert_eq!(d["admin"]["alternateId"], "\u{1f}@x");
        assert_eq!(d["admin"]["displayName"], "Zoë \"Z\"");
        assert_eq!(d["reason"], "line\r\nbreak");
        assert_eq!(d["oktaUser"]["id"], "t\\1");
    }
}
