//! The five cards as data, and the one mapping from an Okta `LogEvent` to a card's `detail`.
//!
//! Pure: no HTTP, no AWS. The field contract is PROTOCOL.md section 4.

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

impl Card {
    pub fn from_slug(slug: &str) -> Option<&'static Card> {
        CARDS.into_iter().find(|c| c.slug == slug)
    }

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
    /// The delivery's headers as a JSON object, secret redacted; serialized once per delivery.
    pub headers: &'a RawValue,
}

/// A card's EventBridge `detail`. Every key is always present (null when Okta sent nothing), so
/// rules and consumers see one stable shape.
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
    pub event_details: &'a RawValue,
    pub headers: &'a RawValue,
    pub source: Option<&'a str>,
    pub debug_context: DebugContextOut<'a>,
}

/// The four fields Okta gives for users and other resources.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person<'a> {
    pub id: Option<std::borrow::Cow<'a, str>>,
    pub alternate_id: Option<std::borrow::Cow<'a, str>>,
    pub display_name: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "type")]
    pub kind: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> From<Option<&'a Resource<'a>>> for Person<'a> {
    fn from(r: Option<&'a Resource<'a>>) -> Self {
        let borrow = |t: &'a Option<std::borrow::Cow<'a, str>>| t.as_deref().map(Into::into);
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

#[derive(Debug, Serialize)]
pub enum PersonOut<'a> {
    #[serde(rename = "admin")]
    Admin(Person<'a>),
    #[serde(rename = "actor")]
    Actor(Person<'a>),
}

#[derive(Debug, Serialize)]
pub enum ExtraOut<'a> {
    #[serde(rename = "reason")]
    Reason(Option<&'a str>),
    #[serde(rename = "mfaFactor")]
    MfaFactor(Factor<'a>),
    #[serde(rename = "phone")]
    Phone(Person<'a>),
}

#[derive(Debug, Serialize)]
pub struct Factor<'a> {
    #[serde(flatten)]
    pub person: Person<'a>,
    pub detail: Option<&'a RawValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugContextOut<'a> {
    pub debug_data: Option<&'a RawValue>,
}
