//! A delivery's body -> the card's entries. Pure: bytes in, entries out.

use serde_json::value::RawValue;

use crate::card::{Card, DeliveryInfo};
use crate::error::describe_json_error;
use crate::okta::{Delivery, LogEvent};
use crate::publish::Entry;
use crate::Error;

/// serde_json's own limit when it builds values; raw and skipped values escape it, and a
/// consumer of the published `eventDetails` may have a lower one. Okta's events nest about 7 deep.
pub const MAX_DEPTH: usize = 128;

/// What one delivery holds for one card.
#[derive(Debug)]
pub struct Mapped {
    /// The envelope's `eventId`, one per delivery: the id to log.
    pub delivery_id: Option<String>,
    pub received: usize,
    /// Events of other types: counted, never an error (one hook may subscribe to many types).
    pub ignored: usize,
    pub entries: Vec<Entry>,
}

/// Validates the whole delivery before anything is published: a body that is not a delivery, or
/// holds an event that is not an object, is refused as a whole.
pub fn map_delivery(card: &Card, body: &[u8], headers: &RawValue) -> Result<Mapped, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest(
            "request body is empty: expected an Okta event hook delivery".into(),
        ));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::BadRequest(format!(
            "request body is not UTF-8 (invalid byte at {})",
            e.valid_up_to()
        ))
    })?;
    let delivery: Delivery = serde_json::from_str(text)
        .map_err(|e| Error::BadRequest(describe_json_error(&e, "request body")))?;
    if nested_deeper_than(text, MAX_DEPTH) {
        return Err(Error::BadRequest(format!(
            "request body is not valid JSON: nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let info = DeliveryInfo {
        event_id: delivery.event_id.as_deref(),
        event_time: delivery.event_time.as_deref(),
        source: delivery.source.as_deref(),
        headers,
    };

    let received = delivery.data.events.len();
    let mut entries = Vec::with_capacity(received);
    for (i, raw) in delivery.data.events.iter().enumerate() {
        // A raw value starts at its first byte: an object starts with '{'.
        if !raw.get().starts_with('{') {
            return Err(Error::BadRequest(format!(
                "data.events[{i}] is not an object"
            )));
        }
        let event: LogEvent = serde_json::from_str(raw.get()).map_err(|e| {
            Error::BadRequest(describe_json_error(&e, &format!("data.events[{i}]")))
        })?;
        if !card.matches(&event) {
            continue;
        }
        let detail = serde_json::value::to_raw_value(&card.detail(&info, &event, raw))
            .map_err(|e| Error::BadRequest(format!("data.events[{i}] could not be mapped: {e}")))?;
        entries.push(Entry {
            detail_type: card.name,
            time: event.published.map(String::from),
            event_uuid: event.uuid.map(String::from),
            detail,
        });
    }
    Ok(Mapped {
        delivery_id: delivery.event_id.map(String::from),
        received,
        ignored: received - entries.len(),
        entries,
    })
}

/// True when arrays and objects in this (valid) JSON nest deeper than `limit`. One pass over the
/// bytes: brackets inside strings do not count.
fn nested_deeper_than(json: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert!(!nested_deeper_than(r#"{"a":[{"b":"[[[[{{{{"}]}"#, 3));
        assert!(nested_deeper_than(r#"{"a":[{"b":[]}]}"#, 3));
        assert!(!nested_deeper_than(r#"{"a":"\\\"[[[["}"#, 1));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(!nested_deeper_than(&deep, MAX_DEPTH));
        assert!(nested_deeper_than(&format!("[{deep}]"), MAX_DEPTH));
    }
}
