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
    if let Some(problem) = raw_json_problem(text, MAX_DEPTH) {
        return Err(Error::BadRequest(format!(
            "request body is not valid JSON: {problem}"
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
            // The transport's, set by the handler: mapping knows nothing of the invocation.
            trace_header: None,
        });
    }
    Ok(Mapped {
        delivery_id: delivery.event_id.map(String::from),
        received,
        ignored: received - entries.len(),
        entries,
    })
}

/// What serde_json lets through in raw and skipped values but a consumer of the published detail
/// may refuse: nesting deeper than `limit`, or a `\u` escape of an unpaired UTF-16 surrogate. One
/// pass over JSON the parser has already accepted; string contents, most of an Okta event's
/// bytes, are skipped with memchr rather than read byte by byte (this pass was a quarter of the
/// handler's CPU before).
fn raw_json_problem(json: &str, limit: usize) -> Option<String> {
    let bytes = json.as_bytes();
    let hex = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok())
    };
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match b {
            b'"' => {
                // Inside a string: jump from escape to escape until the closing quote.
                loop {
                    let found = bytes
                        .get(i..)
                        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest));
                    let Some(at) = found else {
                        return None; // unterminated: the parser would not have accepted it
                    };
                    i += at + 1;
                    if bytes[i - 1] == b'"' {
                        break;
                    }
                    if bytes.get(i) != Some(&b'u') {
                        i += 1; // a one-character escape
                        continue;
                    }
                    let unit = hex(i + 1).unwrap_or(0);
                    i += 5;
                    if (0xDC00..0xE000).contains(&unit) {
                        return Some("an unpaired UTF-16 surrogate escape".into());
                    }
                    if (0xD800..0xDC00).contains(&unit) {
                        let low = (bytes.get(i..i + 2) == Some(b"\\u"))
                            .then(|| hex(i + 2))
                            .flatten();
                        if !low.is_some_and(|l| (0xDC00..0xE000).contains(&l)) {
                            return Some("an unpaired UTF-16 surrogate escape".into());
                        }
                        i += 6;
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(format!("nested deeper than {limit} levels"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod raw_json_tests {
    use super::*;

    fn deeper(json: &str, limit: usize) -> bool {
        raw_json_problem(json, limit).is_some_and(|p| p.starts_with("nested"))
    }

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert!(!deeper(r#"{"a":[{"b":"[[[[{{{{"}]}"#, 3));
        assert!(deeper(r#"{"a":[{"b":[]}]}"#, 3));
        assert!(!deeper(r#"{"a":"\\\"[[[["}"#, 1));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(!deeper(&deep, MAX_DEPTH));
        assert!(deeper(&format!("[{deep}]"), MAX_DEPTH));
    }

    /// Found by the `delivery` fuzz target: a lone surrogate in a key the cards skip was published.
    #[test]
    fn unpaired_surrogate_escapes_are_found_anywhere() {
        for bad in [
            r#"{"a":"\ud83d"}"#,
            r#"{"a":"x\ud83d\u1dd1"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"\ud800":1}"#,
            r#"{"a":"\ud83d\\ude00"}"#,
        ] {
            assert_eq!(
                raw_json_problem(bad, MAX_DEPTH).as_deref(),
                Some("an unpaired UTF-16 surrogate escape"),
                "{bad}"
            );
        }
        for good in [
            r#"{"a":"\ud83d\ude00 \u00e9 \\ud800 \"\ud800\udc00"}"#,
            r#"{"a":"\\u0041"}"#,
            "{\"a\":\"\u{1F600}\"}",
        ] {
            assert_eq!(raw_json_problem(good, MAX_DEPTH), None, "{good}");
        }
    }

    /// The first, byte-by-byte version: the oracle the fast one must agree with.
    /// What serde_json lets through in raw and skipped values but a consumer of the published detail
    /// may refuse: nesting deeper than `limit`, or a `\u` escape of an unpaired UTF-16 surrogate. One
    /// pass over the bytes of JSON the parser has already accepted.
    fn byte_by_byte(json: &str, limit: usize) -> Option<String> {
        let bytes = json.as_bytes();
        let hex = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u16::from_str_radix(h, 16).ok())
        };
        let (mut depth, mut in_string, mut i) = (0usize, false, 0usize);
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            if in_string {
                match b {
                    b'"' => in_string = false,
                    b'\\' if bytes.get(i) == Some(&b'u') => {
                        let unit = hex(i + 1).unwrap_or(0);
                        i += 5;
                        if (0xDC00..0xE000).contains(&unit) {
                            return Some("an unpaired UTF-16 surrogate escape".into());
                        }
                        if (0xD800..0xDC00).contains(&unit) {
                            let low = (bytes.get(i..i + 2) == Some(b"\\u"))
                                .then(|| hex(i + 2))
                                .flatten();
                            if !low.is_some_and(|l| (0xDC00..0xE000).contains(&l)) {
                                return Some("an unpaired UTF-16 surrogate escape".into());
                            }
                            i += 6;
                        }
                    }
                    b'\\' => i += 1,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > limit {
                        return Some(format!("nested deeper than {limit} levels"));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        None
    }

    /// The memchr version answers as the byte-by-byte one on the fixtures, on every cut of them
    /// that still parses, and on generated strings of the characters that matter.
    #[test]
    fn fast_scan_agrees_with_the_byte_by_byte_one() {
        let mut texts: Vec<String> = Vec::new();
        for dir in ["fixtures/samples", "fixtures/synthetic"] {
            let dir = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
            for entry in std::fs::read_dir(&dir).expect("fixtures") {
                texts.push(std::fs::read_to_string(entry.expect("entry").path()).expect("fixture"));
            }
        }
        // JSON values whose strings hold escapes, surrogates and brackets, nested 1 to 5 deep.
        fn value(seed: &mut u64, depth: u32, out: &mut String) {
            let mut next = || {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *seed
            };
            const PIECES: [&str; 9] = [
                "a",
                "\\\"",
                "\\\\",
                "\\u0041",
                "\\ud800",
                "\\udc00",
                "\\ud83d\\ude00",
                "[",
                "{",
            ];
            match next() % if depth == 0 { 1 } else { 3 } {
                0 => {
                    out.push('"');
                    for _ in 0..next() % 6 {
                        out.push_str(PIECES[(next() % 9) as usize]);
                    }
                    out.push('"');
                }
                kind => {
                    let (open, close) = if kind == 1 { ('[', ']') } else { ('{', '}') };
                    out.push(open);
                    for n in 0..next() % 4 {
                        if n > 0 {
                            out.push(',');
                        }
                        if kind == 2 {
                            value(seed, 0, out);
                            out.push(':');
                        }
                        value(seed, depth - 1, out);
                    }
                    out.push(close);
                }
            }
        }
        let mut seed = 0x9e37_79b9_u64;
        for _ in 0..20_000 {
            let mut t = String::new();
            value(&mut seed, 5, &mut t);
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(&t).is_ok(),
                "{t}"
            );
            texts.push(t);
        }
        for text in &texts {
            for limit in [1, 3, MAX_DEPTH] {
                assert_eq!(
                    raw_json_problem(text, limit),
                    byte_by_byte(text, limit),
                    "{text}"
                );
            }
        }
    }
}
