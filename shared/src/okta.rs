//! Okta Event Hook models: the delivery envelope and the System Log `LogEvent`.
//!
//! Okta sends nulls in Admin Console previews and omits them in live deliveries, adds keys over
//! time, and documents few types strictly. So every field is optional, unknown keys are ignored,
//! a scalar of an unexpected type is kept as text, and a structure of an unexpected shape reads as
//! absent. Strings borrow from the request body whenever they carry no JSON escapes.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Text as Okta sends it; numbers and booleans become their JSON text, null and structures `None`.
pub type Text<'a> = Option<Cow<'a, str>>;

/// The envelope of one Event Hook delivery (`com.okta.event_hook`), its events read as `E`: raw
/// (`&RawValue`, each then read on its own) or straight into [`LogEvent`]s in the same pass.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery<'a, E = &'a RawValue> {
    /// One id per delivery; the card's `uuid`.
    #[serde(default, borrow, deserialize_with = "text")]
    pub event_id: Text<'a>,
    /// When Okta sent the delivery; the card's `eventTime`.
    #[serde(default, borrow, deserialize_with = "text")]
    pub event_time: Text<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub source: Text<'a>,
    /// Required: a body without `data.events[]` is not a delivery.
    pub data: Data<E>,
}

#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "E: Deserialize<'de>"))]
pub struct Data<E> {
    #[serde(deserialize_with = "events")]
    pub events: Vec<E>,
}

/// The events array into a `Vec` that starts with room for one. An MFA event often comes alone,
/// and serde's `Vec` starts at four: four `LogEvent`s (1.3 KB) take the allocator's slow path
/// for large blocks, one does not.
fn events<'de, D: Deserializer<'de>, E: Deserialize<'de>>(d: D) -> Result<Vec<E>, D::Error> {
    struct Events<E>(PhantomData<E>);

    impl<'de, E: Deserialize<'de>> Visitor<'de> for Events<E> {
        type Value = Vec<E>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut events = Vec::with_capacity(1);
            while let Some(event) = seq.next_element()? {
                events.push(event);
            }
            Ok(events)
        }
    }

    d.deserialize_seq(Events(PhantomData))
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
    pub target: Lenient<Vec<Lenient<Resource<'a>>>>,
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
        self.target.iter().flatten().filter_map(|t| t.0.as_ref())
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

/// A structure that reads as `None` when Okta sends something of another shape, so that one odd
/// field never costs the whole delivery.
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
        if EXACT.get() {
            // Capture the value's text first (syntax is still checked), then try the expected shape.
            let raw = <&'de RawValue>::deserialize(deserializer)?;
            return Ok(Self(serde_json::from_str(raw.get()).ok()));
        }
        deserializer.deserialize_any(LenientVisitor(PhantomData))
    }
}

thread_local! {
    /// Set while [`LogEvent::from_json`] re-reads an event the single pass could not settle.
    static EXACT: Cell<bool> = const { Cell::new(false) };
}

impl<'a> LogEvent<'a> {
    /// Reads one event in a single pass. A [`Lenient`] field of the wrong shape is skipped in
    /// that pass; only an oddity inside one (a number out of range, a lone surrogate) makes the
    /// event be re-read the exact two-pass way, so the result and any error are always the same.
    pub fn from_json(text: &'a str) -> serde_json::Result<Self> {
        serde_json::from_str(text).or_else(|_| {
            EXACT.set(true);
            let exact = serde_json::from_str(text);
            EXACT.set(false);
            exact
        })
    }
}

/// The single pass of [`Lenient`]: a structure is read as `T` in place; when `T` refuses it at a
/// point where the rest can still be skipped safely, the rest is skipped and the field is `None`.
struct LenientVisitor<T>(PhantomData<T>);

/// Where a wrong-shape structure's reading stopped: only the first two can be skipped on from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Between entries (or before the first).
    Between,
    /// A key was read, its value was not.
    AfterKey,
    /// Inside a key or a value: the input position is unknown.
    Inside,
}

/// Counts where a `MapAccess`/`SeqAccess` is, so an error can be told safe to skip past or not.
struct Tracked<A> {
    inner: A,
    stop: Stop,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Tracked<A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        self.stop = Stop::Inside;
        let key = self.inner.next_key_seed(seed)?;
        self.stop = if key.is_some() {
            Stop::AfterKey
        } else {
            Stop::Between
        };
        Ok(key)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.stop = Stop::Inside;
        let value = self.inner.next_value_seed(seed)?;
        self.stop = Stop::Between;
        Ok(value)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Tracked<A> {
    type Error = A::Error;

    fn next_element_seed<E: de::DeserializeSeed<'de>>(
        &mut self,
        seed: E,
    ) -> Result<Option<E::Value>, Self::Error> {
        self.stop = Stop::Inside;
        let element = self.inner.next_element_seed(seed)?;
        self.stop = Stop::Between;
        Ok(element)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Lenient<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut map = Tracked {
            inner: map,
            stop: Stop::Between,
        };
        match T::deserialize(de::value::MapAccessDeserializer::new(&mut map)) {
            // T reads a map to its end: nothing is left.
            Ok(value) => Ok(Lenient(Some(value))),
            Err(err) => {
                match map.stop {
                    Stop::Inside => return Err(err),
                    Stop::AfterKey => {
                        map.inner.next_value::<IgnoredAny>()?;
                    }
                    Stop::Between => {}
                }
                while map.inner.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let mut seq = Tracked {
            inner: seq,
            stop: Stop::Between,
        };
        let value = match T::deserialize(de::value::SeqAccessDeserializer::new(&mut seq)) {
            Ok(value) => Some(value),
            Err(_) if seq.stop == Stop::Between => None,
            Err(err) => return Err(err),
        };
        // A struct read from an array takes only as many elements as it has fields; more than
        // that is the wrong shape, as it is for the exact read.
        let mut rest = 0;
        while seq.inner.next_element::<IgnoredAny>()?.is_some() {
            rest += 1;
        }
        Ok(Lenient(value.filter(|_| rest == 0)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Lenient(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Lenient(None))
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

    /// The event as the exact two-pass read sees it (what `Lenient` did before the single pass).
    fn exact_read(json: &str) -> Result<String, String> {
        EXACT.set(true);
        let exact = serde_json::from_str::<LogEvent>(json);
        EXACT.set(false);
        exact.map(|e| format!("{e:?}")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_single_pass_reads_every_odd_shape_as_the_exact_read_does() {
        let cases = [
            r#"{"actor":{"id":"a","type":"User"},"target":[{"id":"t"}],"outcome":{"reason":"r"}}"#,
            r#"{"actor":"someone","target":{"id":"x"},"outcome":1,"debugContext":[]}"#,
            r#"{"actor":null,"target":[null,7,"x",[],{"id":"u"},true],"debugContext":false}"#,
            // A struct may be read from an array, field by field; longer arrays are the wrong shape.
            r#"{"actor":["id1","User"],"outcome":["SUCCESS","why","extra"],"target":[["t1"]]}"#,
            // A duplicate key makes the structure the wrong shape, not the event.
            r#"{"actor":{"id":"a","id":"b"},"target":[{"type":"User","type":"X"},{"id":"ok"}]}"#,
            r#"{"outcome":{"result":"x","result":"y","reason":{"a":[1,{"b":2}]}},"uuid":"u"}"#,
            r#"{"target":{"a":[1,2],"b":{"c":null}},"debugContext":{"debugData":{"x":1},"debugData":2}}"#,
            // Oddities inside a value: the single pass gives up and the exact read decides.
            r#"{"actor":{"id":1e999,"type":"User"},"uuid":"u"}"#,
            r#"{"target":[{"displayName":"\ud800 lone"},{"id":"after"}]}"#,
            r#"{"actor":{"displayName":"\u00e9t\u00e9","id":12345678901234567890123}}"#,
            // Errors of the event itself stay errors, with the same message.
            r#"{"uuid":"a","uuid":"b"}"#,
            r#"{"published":1e999}"#,
            r#"{"actor":{"id":"a"},"actor":{"id":"b"}}"#,
        ];
        for json in cases {
            let single = LogEvent::from_json(json)
                .map(|e| format!("{e:?}"))
                .map_err(|e| e.to_string());
            assert_eq!(single, exact_read(json), "{json}");
        }
    }

    #[test]
    fn odd_shapes_need_no_second_read() {
        // The wrong shapes Okta has sent are settled in the single pass (no fallback).
        for json in [
            r#"{"actor":"someone","target":{"id":"x"},"outcome":1,"debugContext":[]}"#,
            r#"{"actor":{"id":"a","id":"b"},"target":[null,7,["t1"],{"id":"u"}]}"#,
        ] {
            assert!(serde_json::from_str::<LogEvent>(json).is_ok(), "{json}");
        }
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
}
