//! A delivery's body -> the card's events. Pure: bytes in, card events out.
//!
//! Three readings, each the library's own: the whole body is checked once as strict JSON (what
//! serde_json refuses when it reads a value: a lone surrogate escape, a number out of range,
//! nesting past its limit), because every event is published verbatim and a consumer must be able
//! to read it. Then the envelope is read with the events as raw text, and each event with the
//! lenient model. A field the models read, given twice in one object, is refused there (which of
//! the two would the card show?); keys no card reads are not looked at, and go out as Okta sent
//! them.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::card::{Card, DeliveryInfo, Detail};
use crate::okta::{Delivery, LogEvent};

/// serde_json's nesting limit, counted from the body: a deeper body is refused.
pub const MAX_DEPTH: usize = 127;

/// One card event: what becomes one EventBridge entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardEvent {
    /// The card's name: EventBridge `DetailType`.
    pub detail_type: &'static str,
    /// The Okta event's `published`, verbatim: EventBridge `Time` when it is RFC 3339.
    pub time: Option<String>,
    /// The Okta event's `uuid`, the key it is known by (logs, dedupe).
    pub event_uuid: Option<String>,
    /// The card's detail, one JSON object: EventBridge `Detail`.
    pub detail: String,
}

/// What one delivery holds for one card.
#[derive(Debug)]
pub struct Mapped {
    /// The envelope's `eventId`, one per delivery: the id to log.
    pub delivery_id: Option<String>,
    pub received: usize,
    /// Events of other types: counted, never an error (one hook may subscribe to many types).
    pub ignored: usize,
    /// The types of the ignored events, each once, in the order first seen: what a hook sent to
    /// the wrong route carries. At most [`MAX_IGNORED_TYPES`]; a type that is not a plain event
    /// type name (letters, digits, `.`, `_`) is shown as `?`, since it could be anything.
    pub ignored_types: Vec<String>,
    pub events: Vec<CardEvent>,
}

/// How many distinct ignored types a delivery reports.
pub const MAX_IGNORED_TYPES: usize = 10;

/// An event type as a log line may show it.
fn shown_type(event_type: Option<&str>) -> String {
    match event_type {
        None => "(none)".to_owned(),
        Some(t)
            if t.len() <= 100
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') =>
        {
            t.to_owned()
        }
        Some(_) => "?".to_owned(),
    }
}

/// Why a body is not a delivery this card can take. The text is ours, or serde_json's message
/// with a position: never the body's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// Validates the whole delivery before anything is published: a body that is not a delivery, or
/// holds an event that is not an object, is refused as a whole.
pub fn map_delivery(
    card: &Card,
    body: &[u8],
    headers: &serde_json::value::RawValue,
) -> Result<Mapped, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError(
            "request body is empty: expected an Okta event hook delivery".into(),
        ));
    }
    if body.starts_with(b"\xEF\xBB\xBF") {
        // RFC 8259 forbids it, serde_json would only say "expected value at line 1 column 1".
        return Err(BodyError(
            "request body starts with a UTF-8 byte order mark (EF BB BF): send the JSON without it"
                .into(),
        ));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        BodyError(format!(
            "request body is not UTF-8 (invalid byte at {})",
            e.valid_up_to()
        ))
    })?;
    check(text)?;
    let delivery: Delivery = serde_json::from_str(text).map_err(|e| not_a_delivery(&e))?;
    let info = DeliveryInfo {
        event_id: delivery.event_id.as_deref(),
        event_time: delivery.event_time.as_deref(),
        source: delivery.source.as_deref(),
        headers,
    };
    let received = delivery.data.events.len();
    let mut events = Vec::new();
    let mut ignored_types: Vec<String> = Vec::new();
    for (i, raw) in delivery.data.events.iter().enumerate() {
        // A raw value starts at its first byte: an object starts with '{'.
        if !raw.get().starts_with('{') {
            return Err(BodyError(format!("data.events[{i}] is not an object")));
        }
        let event: LogEvent = serde_json::from_str(raw.get()).map_err(|e| {
            BodyError(match duplicate(&e) {
                Some(field) => format!("data.events[{i}] has a {field}"),
                None => format!(
                    "data.events[{i}] is not a System Log event ({})",
                    position(&e)
                ),
            })
        })?;
        if !card.matches(&event) {
            let shown = shown_type(event.event_type.as_deref());
            if ignored_types.len() < MAX_IGNORED_TYPES && !ignored_types.contains(&shown) {
                ignored_types.push(shown);
            }
            continue;
        }
        let detail = write_detail(&card.detail(&info, &event, raw))
            .map_err(|e| BodyError(format!("data.events[{i}]: the card's detail: {e}")))?;
        events.push(CardEvent {
            detail_type: card.name,
            time: event.published.as_deref().map(String::from),
            event_uuid: event.uuid.as_deref().map(String::from),
            detail,
        });
    }
    Ok(Mapped {
        delivery_id: delivery.event_id.as_deref().map(String::from),
        received,
        ignored: received - events.len(),
        ignored_types,
        events,
    })
}

/// The detail's JSON, in a buffer sized for what it copies verbatim (the event, the headers) so
/// that it is written without growing.
fn write_detail(detail: &Detail) -> Result<String, serde_json::Error> {
    let verbatim = detail.event_details.get().len() + detail.headers.get().len();
    let mut json = Vec::with_capacity(verbatim + 1024);
    serde_json::to_writer(&mut json, detail)?;
    // serde_json writes UTF-8 only.
    String::from_utf8(json).map_err(serde::ser::Error::custom)
}

/// The whole body as strict JSON, or what is wrong with it and where.
fn check(text: &str) -> Result<(), BodyError> {
    let mut parser = serde_json::Deserializer::from_str(text);
    Strict::deserialize(&mut parser)
        .and_then(|_| parser.end())
        .map_err(|e| BodyError(not_strict_json(&e)))
}

/// serde_json's syntax errors in words a user can act on, with the position.
fn not_strict_json(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let problem = if text.contains("surrogate") || text.contains("hex escape") {
        "an unpaired UTF-16 surrogate escape".to_owned()
    } else if text.starts_with("number out of range") {
        "a number out of range".to_owned()
    } else if text.starts_with("recursion limit exceeded") {
        format!("nested deeper than {MAX_DEPTH} levels")
    } else {
        return format!("request body is not valid JSON: {text}");
    };
    format!(
        "request body is not valid JSON: {problem} at {}",
        position(err)
    )
}

/// The envelope's shape is wrong. serde_json's "invalid type" messages quote the offending value,
/// which could be personal data: only the position is kept.
fn not_a_delivery(err: &serde_json::Error) -> BodyError {
    let text = err.to_string();
    BodyError(if let Some(field) = duplicate(err) {
        format!("request body has a {field}")
    } else if text.starts_with("missing field") {
        format!("request body is not an Okta event hook delivery: {text}")
    } else {
        format!(
            "request body is not an Okta event hook delivery (expected an object with data.events[] at {})",
            position(err)
        )
    })
}

/// serde's "duplicate field `x` at line .. column .." (it names a field of ours, never a value).
fn duplicate(err: &serde_json::Error) -> Option<String> {
    let text = err.to_string();
    text.starts_with("duplicate field").then_some(text)
}

fn position(err: &serde_json::Error) -> String {
    format!("line {} column {}", err.line(), err.column())
}

/// Any JSON value, read through serde_json's own value reading (which checks escapes, numbers and
/// depth) and kept nowhere.
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Strict)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        while map.next_entry::<Strict, Strict>()?.is_some() {}
        Ok(Strict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::CARDS;
    use crate::test_support::{envelope, fixture, fixture_events, headers_json};

    fn refused(body: &str) -> String {
        map_delivery(CARDS[1], body.as_bytes(), &headers_json())
            .expect_err(body)
            .0
    }

    #[test]
    fn every_fixture_event_reads_and_maps_under_every_card() {
        let events = fixture_events();
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        let body = envelope(&refs);
        for card in CARDS {
            let mapped = map_delivery(card, body.as_bytes(), &headers_json()).expect("a delivery");
            assert_eq!(mapped.received, events.len());
            assert_eq!(mapped.received, mapped.ignored + mapped.events.len());
            for event in &mapped.events {
                let detail: serde_json::Value =
                    serde_json::from_str(&event.detail).expect("detail is JSON");
                assert_eq!(detail["eventType"], card.event_type);
            }
        }
    }

    #[test]
    fn pretty_printed_and_spaced_bodies_read_like_compact_ones() {
        let one = fixture("samples/stix-shifter-user.mfa.factor.activate-1.json");
        let compact = envelope(&[&one]);
        let value: serde_json::Value = serde_json::from_str(&compact).expect("json");
        let pretty = serde_json::to_string_pretty(&value).expect("json");
        let spaced = format!(" {{ \"data\" : {{ \"events\" : [ {one} ,\n\t{one} \r\n] }} }} ");
        let count = |body: &str| {
            map_delivery(CARDS[1], body.as_bytes(), &headers_json())
                .expect(body)
                .events
                .len()
        };
        assert_eq!(count(&compact), 1);
        assert_eq!(count(&pretty), 1);
        assert_eq!(count(&spaced), 2);
    }

    #[test]
    fn a_field_the_cards_read_twice_is_refused_and_the_event_named() {
        for (body, says) in [
            (
                r#"{"data":{"events":[]},"data":{"events":[]}}"#,
                "request body has a duplicate field `data`",
            ),
            (
                r#"{"data":{"events":[{"uuid":"a","uuid":"b"}]}}"#,
                "data.events[0] has a duplicate field `uuid`",
            ),
            (
                r#"{"data":{"events":[{},{"actor":{"id":"a","id":"b"}}]}}"#,
                "data.events[1] has a duplicate field `id`",
            ),
            (
                r#"{"data":{"events":[{"target":[{},{"type":"User","type":"X"}]}]}}"#,
                "data.events[0] has a duplicate field `type`",
            ),
            // Escaped and plain spellings of one key are the same key.
            (
                r#"{"data":{"events":[{"uuid":"a","\u0075uid":"b"}]}}"#,
                "data.events[0] has a duplicate field `uuid`",
            ),
        ] {
            let error = refused(body);
            assert!(error.starts_with(says), "{body}: {error}");
            assert!(error.contains("line 1 column"), "{error}");
        }
    }

    #[test]
    fn keys_no_card_reads_go_out_as_sent_even_twice() {
        let event =
            r#"{"uuid":"e1","eventType":"user.mfa.factor.activate","client":{"x":1,"x":2}}"#;
        let body = envelope(&[event]);
        let mapped = map_delivery(CARDS[1], body.as_bytes(), &headers_json()).expect("a delivery");
        assert_eq!(
            crate::test_support::raw_event_details(&mapped.events[0]),
            event
        );
    }

    #[test]
    fn what_a_strict_reader_refuses_is_refused_anywhere_in_the_body() {
        for (body, says) in [
            (
                r#"{"data":{"events":[{"client":{"x":["\udc00"]}}]}}"#,
                "an unpaired UTF-16 surrogate escape",
            ),
            (
                r#"{"data":{"events":[{"debugContext":{"debugData":{"x":"\ud83d"}}}]}}"#,
                "an unpaired UTF-16 surrogate escape",
            ),
            (
                r#"{"\ud800":1,"data":{"events":[]}}"#,
                "an unpaired UTF-16 surrogate escape",
            ),
            (
                r#"{"data":{"events":[{"actor":{"detailEntry":[1e309]}}]}}"#,
                "a number out of range",
            ),
            (
                r#"{"x":-1e400,"data":{"events":[]}}"#,
                "a number out of range",
            ),
        ] {
            let error = refused(body);
            assert!(error.contains(says), "{body}: {error}");
            assert!(error.contains("line 1 column"), "{error}");
        }
        // Paired surrogates, escaped escapes and large numbers in range are fine.
        let fine =
            r#"{"data":{"events":[{"x":"\ud83d\ude00 \\ud800","n":[1e308,-1.5E+10,0e99999]}]}}"#;
        assert!(map_delivery(CARDS[1], fine.as_bytes(), &headers_json()).is_ok());
    }

    #[test]
    fn nesting_is_counted_over_the_whole_body() {
        let nested = |n: usize| {
            format!(
                r#"{{"data":{{"events":[{{"x":{}1{}}}]}}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        // Four containers around an event's fields.
        let within = nested(MAX_DEPTH - 4);
        assert!(map_delivery(CARDS[1], within.as_bytes(), &headers_json()).is_ok());
        let error = refused(&nested(MAX_DEPTH - 3));
        assert!(error.contains("nested deeper than 127 levels"), "{error}");
    }

    #[test]
    fn envelope_errors_never_quote_the_body() {
        let error = refused(r#"{"data":{"events":"ada@example.com"}}"#);
        assert!(!error.contains("ada@"), "{error}");
        assert!(
            error.contains("expected an object with data.events[]"),
            "{error}"
        );
    }

    #[test]
    fn ignored_types_are_listed_once_each_and_never_as_sent_when_odd() {
        let event = |t: &str| format!(r#"{{"uuid":"u","eventType":{t}}}"#);
        let body = envelope(&[
            &event(r#""user.mfa.factor.deactivate""#),
            &event(r#""user.mfa.factor.activate""#),
            &event(r#""user.session.start""#),
            &event(r#""user.mfa.factor.deactivate""#),
            &event(r#""ada@example.com""#),
            r#"{"uuid":"no-type"}"#,
        ]);
        let mapped = map_delivery(CARDS[1], body.as_bytes(), &headers_json()).expect("a delivery");
        assert_eq!((mapped.events.len(), mapped.ignored), (1, 5));
        assert_eq!(
            mapped.ignored_types,
            [
                "user.mfa.factor.deactivate",
                "user.session.start",
                "?",
                "(none)"
            ]
        );
        let many: Vec<String> = (0..30).map(|i| event(&format!(r#""t{i}""#))).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let mapped = map_delivery(CARDS[1], envelope(&refs).as_bytes(), &headers_json())
            .expect("a delivery");
        assert_eq!(mapped.ignored_types.len(), MAX_IGNORED_TYPES);
    }
}
