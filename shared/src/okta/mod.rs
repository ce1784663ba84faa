//! Okta Event Hook models: the delivery envelope and the System Log `LogEvent`.
//!
//! Okta sends nulls in Admin Console previews and omits them in live deliveries, adds keys over
//! time, and documents few types strictly. So every field is optional, unknown keys are ignored,
//! a scalar of an unexpected type is kept as text, and a structure of an unexpected shape reads as
//! absent. Strings borrow from the request body whenever they carry no JSON escapes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Text as Okta sends it; numbers and booleans become their JSON text, null and structures `None`.
pub type Text<'a> = Option<Cow<'a, str>>;

/// The envelope of one Event Hook delivery (`com.okta.event_hook`), its events kept as their raw
/// text: each is then read on its own, and published verbatim.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery<'a> {
    /// One id per delivery; the card's `uuid`.
    #[serde(default, borrow, deserialize_with = "text")]
    pub event_id: Text<'a>,
    /// When Okta sent the delivery; the card's `eventTime`.
    #[serde(default, borrow, deserialize_with = "text")]
    pub event_time: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub source: Text<'a>,
    /// Required: a body without `data.events[]` is not a delivery.
    #[serde(borrow)]
    pub data: Data<'a>,
}

#[derive(Debug, Deserialize)]
pub struct Data<'a> {
    #[serde(borrow)]
    pub events: Vec<&'a RawValue>,
}

/// The System Log event, reduced to what the cards read. The rest stays in the raw event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub uuid: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub published: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub event_type: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub version: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub display_message: Text<'a>,
    #[serde(default, borrow)]
    pub actor: Lenient<Resource<'a>>,
    #[serde(default, borrow)]
    pub outcome: Lenient<Outcome<'a>>,
    #[serde(default, borrow)]
    pub target: LenientList<Resource<'a>>,
    #[serde(default, borrow)]
    pub debug_context: Lenient<DebugContext<'a>>,
}

/// An actor or a target: a user, an authenticator enrollment, a phone, a factor...
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub id: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text", rename = "type")]
    pub kind: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub alternate_id: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub display_name: Text<'a>,
    #[serde(default, borrow)]
    pub detail_entry: Option<&'a RawValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Outcome<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub result: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub reason: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebugContext<'a> {
    /// Its keys are not a stable contract: passed through as sent.
    #[serde(default, borrow)]
    pub debug_data: Option<&'a RawValue>,
}

/// The few `debugData` keys a card reads (the phone number on Identity Engine).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneDebugData<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub phone_number: Text<'a>,
}

impl<'a> LogEvent<'a> {
    pub fn targets(&self) -> impl Iterator<Item = &Resource<'a>> {
        self.target.0.iter().flatten().filter_map(|t| t.0.as_ref())
    }

    pub fn debug_data(&self) -> Option<&'a RawValue> {
        self.debug_context.0.as_ref().and_then(|d| d.debug_data)
    }
}

impl Resource<'_> {
    pub fn is(&self, kind: &str) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    }
}

/// A lenient visitor's methods for every scalar (and null): none is the structure wanted, so each
/// reads as absent.
macro_rules! absent_for_scalars {
    ($absent:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($absent)
        }
    };
}

/// A structure that reads as `None` when Okta sends something of another shape (a string, a
/// number, an array where an object belongs), so that one odd field never costs the whole delivery.
///
/// Read in place: every model read this way takes any JSON object (each field optional and read
/// leniently itself, unknown keys ignored), so only the value's own shape can be wrong, and that
/// is known before reading it. A test holds every such model to this.
#[derive(Debug)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> Lenient<T> {
    pub fn as_ref(&self) -> Option<&T> {
        self.0.as_ref()
    }

    pub fn iter(&self) -> std::option::Iter<'_, T> {
        self.0.iter()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor(PhantomData))
    }
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Lenient(Some(t)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Lenient(None))
    }

    absent_for_scalars!(Lenient(None));
}

/// A list of structures (the targets): `None` when it is not an array, and each element that is
/// not an object skipped.
#[derive(Debug, Default)]
pub struct LenientList<T>(pub Option<Vec<Lenient<T>>>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LenientList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = LenientList<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Lenient<T>>()? {
                    items.push(item);
                }
                Ok(LenientList(Some(items)))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientList(None))
            }

            absent_for_scalars!(LenientList(None));
        }

        deserializer.deserialize_any(ListVisitor(PhantomData))
    }
}

/// Reads a JSON scalar as text: strings as they are, numbers and booleans as their JSON text
/// (Okta has shown phone numbers unquoted), null and structures as `None`.
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Text<'de>, D::Error> {
    struct TextVisitor<'de>(PhantomData<&'de ()>);

    impl<'de> Visitor<'de> for TextVisitor<'de> {
        type Value = Text<'de>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }

    deserializer.deserialize_any(TextVisitor(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> LogEvent<'_> {
        serde_json::from_str(json).expect("a LogEvent")
    }

    #[test]
    fn nulls_and_omitted_fields_read_alike() {
        let with_nulls = event(
            r#"{"uuid":null,"actor":null,"target":null,"outcome":{"result":"Success","reason":null},
                "debugContext":null,"displayMessage":null}"#,
        );
        let omitted = event("{}");
        for e in [&with_nulls, &omitted] {
            assert_eq!(e.uuid, None);
            assert!(e.actor.as_ref().is_none());
            assert_eq!(e.targets().count(), 0);
            assert_eq!(e.outcome.as_ref().and_then(|o| o.reason.as_deref()), None);
            assert!(e.debug_data().is_none());
        }
    }

    #[test]
    fn scalars_of_another_type_are_kept_as_text() {
        let e = event(
            r#"{"target":[{"id":"mbl1","type":"MobilePhone","alternateId":15555555555,"displayName":true}]}"#,
        );
        let phone = e.targets().next().expect("a target");
        assert_eq!(phone.alternate_id.as_deref(), Some("15555555555"));
        assert_eq!(phone.display_name.as_deref(), Some("true"));
    }

    #[test]
    fn structures_of_another_shape_read_as_absent() {
        let e = event(r#"{"actor":"someone","target":{"id":"x"},"outcome":1,"uuid":{"a":1}}"#);
        assert!(e.actor.as_ref().is_none());
        assert_eq!(e.targets().count(), 0);
        assert!(e.outcome.as_ref().is_none());
        assert_eq!(e.uuid, None);
    }

    #[test]
    fn odd_targets_are_skipped_not_fatal() {
        let e = event(r#"{"target":[null,7,{"id":"00u1","type":"User"}]}"#);
        let ids: Vec<_> = e.targets().map(|t| t.id.as_deref()).collect();
        assert_eq!(ids, [Some("00u1")]);
    }

    #[test]
    fn unknown_fields_are_ignored_and_escapes_decoded() {
        let e = event(r#"{"brandNew":{"x":[1,2]},"displayMessage":"J\u00f6rg \"quoted\""}"#);
        assert_eq!(e.display_message.as_deref(), Some("Jörg \"quoted\""));
    }

    #[test]
    fn envelope_without_data_events_is_not_a_delivery() {
        assert!(
            serde_json::from_str::<Delivery>(r#"{"eventType":"com.okta.event_hook"}"#).is_err()
        );
        assert!(serde_json::from_str::<Delivery>(r#"{"data":{}}"#).is_err());
        assert!(serde_json::from_str::<Delivery>(r#"{"data":{"events":{}}}"#).is_err());
        let d: Delivery = serde_json::from_str(r#"{"data":{"events":[]}}"#).expect("minimal");
        assert!(d.data.events.is_empty());
    }

    /// What `Lenient` relies on: each model read through it takes any JSON object, whatever
    /// its fields hold, so only the value's own shape can be wrong.
    #[test]
    fn every_lenient_model_takes_any_object() {
        let values = [
            "null",
            "true",
            "-1.5e3",
            "\"text\"",
            "[1,{\"a\":[]}]",
            "{\"b\":{}}",
        ];
        let fields = [
            "id",
            "type",
            "alternateId",
            "displayName",
            "detailEntry",
            "result",
            "reason",
            "debugData",
            "unknown",
        ];
        for value in values {
            let object = format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|f| format!("\"{f}\":{value}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            assert!(
                serde_json::from_str::<Resource>(&object).is_ok(),
                "{object}"
            );
            assert!(serde_json::from_str::<Outcome>(&object).is_ok(), "{object}");
            assert!(
                serde_json::from_str::<DebugContext>(&object).is_ok(),
                "{object}"
            );
            let event = format!(
                r#"{{"actor":{object},"outcome":{object},"target":[{object},{value}],"debugContext":{object}}}"#
            );
            assert!(serde_json::from_str::<LogEvent>(&event).is_ok(), "{event}");
        }
    }
}
