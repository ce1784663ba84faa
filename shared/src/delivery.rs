//! A delivery's body -> the card's entries. Pure: bytes in, entries out.

use serde_json::value::RawValue;

use crate::card::{Card, DeliveryInfo};
use crate::error::describe_json_error;
use crate::okta::{Delivery, LogEvent};
use crate::publish::Entry;
use crate::Error;

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
        let event = LogEvent::from_json(raw.get()).map_err(|e| {
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
