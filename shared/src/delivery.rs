//! A delivery's body -> the card's entries. Pure: bytes in, entries out.

use crate::card::{Card, DeliveryInfo};
use crate::checked;
use crate::error::describe_json_error;
use crate::json::{quotes_or_backslashes, HIGHS, ONES, WORD};
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
pub fn map_delivery(card: &Card, body: &[u8], headers: &str) -> Result<Mapped, Error> {
    let text = delivery_text(body)?;
    // An ordinary delivery is read in one pass; anything else the two-pass way, which gives the
    // same result (a test and the fuzz target hold them equal) and names what is wrong.
    one_pass(card, text, headers).unwrap_or_else(|| map_delivery_two_pass(card, body, headers))
}

/// The body as text, or why it is not a delivery at all.
fn delivery_text(body: &[u8]) -> Result<&str, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest(
            "request body is empty: expected an Okta event hook delivery".into(),
        ));
    }
    // SIMD first; std's check only to say where a body that fails it goes wrong.
    simdutf8::basic::from_utf8(body).or_else(|_| {
        std::str::from_utf8(body).map_err(|e| {
            Error::BadRequest(format!(
                "request body is not UTF-8 (invalid byte at {})",
                e.valid_up_to()
            ))
        })
    })
}

/// The events read straight into [`LogEvent`]s with the envelope, every byte the models do not
/// read checked on the way, and each event's verbatim text found by where its keys lie: the
/// body is read once. `None` when the body is anything but a plain delivery.
fn one_pass(card: &Card, text: &str, headers: &str) -> Option<Result<Mapped, Error>> {
    let (delivery, spans) = checked::read(text)?;
    let Delivery {
        event_id,
        event_time,
        source,
        data,
    } = delivery;
    let info = DeliveryInfo {
        event_id: event_id.as_deref(),
        event_time: event_time.as_deref(),
        source: source.as_deref(),
        headers,
    };
    let events = spans
        .into_iter()
        .map(|span| &text[span])
        .zip(data.events.into_iter().map(Some));
    Some(mapped(card, &info, events))
}

/// The reference reading: the envelope with each event kept raw, then each event read on its own.
#[doc(hidden)]
pub fn map_delivery_two_pass(card: &Card, body: &[u8], headers: &str) -> Result<Mapped, Error> {
    let text = delivery_text(body)?;
    let delivery: Delivery = serde_json::from_str(text)
        .map_err(|e| Error::BadRequest(describe_json_error(&e, "request body")))?;
    if let Some(problem) = scan(text, MAX_DEPTH) {
        return Err(not_valid_json(&problem));
    }
    let info = DeliveryInfo {
        event_id: delivery.event_id.as_deref(),
        event_time: delivery.event_time.as_deref(),
        source: delivery.source.as_deref(),
        headers,
    };
    let events = delivery.data.events.iter().map(|raw| (raw.get(), None));
    mapped(card, &info, events)
}

/// What a consumer may refuse in a raw value with `depth` containers around it, if anything.
pub(crate) fn problem(raw: &str, depth: usize) -> Option<String> {
    scan(raw, MAX_DEPTH.saturating_sub(depth))
}

fn not_valid_json(problem: &str) -> Error {
    Error::BadRequest(format!("request body is not valid JSON: {problem}"))
}

/// Each event's verbatim text, with the event already read or `None` to read it from that text.
fn mapped<'a>(
    card: &Card,
    info: &DeliveryInfo<'_>,
    events: impl ExactSizeIterator<Item = (&'a str, Option<LogEvent<'a>>)>,
) -> Result<Mapped, Error> {
    let received = events.len();
    let mut entries = Vec::with_capacity(received);
    for (i, (raw, read)) in events.enumerate() {
        // A raw value starts at its first byte: an object starts with '{'.
        if !raw.starts_with('{') {
            return Err(Error::BadRequest(format!(
                "data.events[{i}] is not an object"
            )));
        }
        let event = match read {
            Some(event) => event,
            None => LogEvent::from_json(raw).map_err(|e| {
                Error::BadRequest(describe_json_error(&e, &format!("data.events[{i}]")))
            })?,
        };
        if !card.matches(&event) {
            continue;
        }
        entries.push(Entry {
            detail_type: card.name,
            time: event.published.as_deref().map(String::from),
            event_uuid: event.uuid.as_deref().map(String::from),
            detail: card.detail(info, &event, raw).to_json(),
            // The transport's, set by the handler: mapping knows nothing of the invocation.
            trace_header: None,
        });
    }
    Ok(Mapped {
        delivery_id: info.event_id.map(String::from),
        received,
        ignored: received - entries.len(),
        entries,
    })
}

/// What serde_json lets through in raw and skipped values but a consumer of the published detail
/// may refuse, in JSON the parser has already accepted: nesting deeper than `limit`, a `\u` escape
/// of an unpaired UTF-16 surrogate, or a number out of range. One pass; string contents, most of
/// an Okta event's bytes, are skipped a word at a time ([`quote_or_backslash`]).
fn scan(json: &str, limit: usize) -> Option<String> {
    let bytes = json.as_bytes();
    let hex = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok())
    };
    let (mut depth, mut i) = (0usize, 0usize);
    // Where the value being read began (just past `[`, `,` or `:`). A number the parser skipped
    // may be one it refuses to read as a value: one with an exponent, or too many digits for a
    // double. Both are rare; serde_json's own f64 reading decides, when the value ends.
    let mut value_at = 0;
    let out_of_range = |value_at: usize, end: usize| {
        end - value_at > MAX_PLAIN_NUMBER && !number_in_range(bytes, value_at)
    };
    let out_of_range_problem = || Some("a number out of range".to_owned());
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        // Whitespace, numbers and literals change nothing: most bytes outside strings end here.
        if !MATTERS[usize::from(b)] {
            if b <= b' ' {
                i += whitespace_run(bytes.get(i..).unwrap_or_default());
            }
            continue;
        }
        match b {
            b'"' => {
                // Inside a string: jump from escape to escape until the closing quote.
                loop {
                    let found = bytes.get(i..).and_then(quote_or_backslash);
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
                value_at = i;
            }
            b']' | b'}' => {
                if out_of_range(value_at, i - 1) {
                    return out_of_range_problem();
                }
                depth = depth.saturating_sub(1);
            }
            b',' => {
                if out_of_range(value_at, i - 1) {
                    return out_of_range_problem();
                }
                value_at = i;
            }
            b':' => value_at = i,
            // An exponent (`e` also ends `true` and `false`, after a letter).
            b'e' | b'E'
                if i >= 2 && bytes[i - 2].is_ascii_digit() && !number_in_range(bytes, i - 1) =>
            {
                return out_of_range_problem();
            }
            _ => {}
        }
    }
    if out_of_range(value_at, i) {
        return out_of_range_problem();
    }
    None
}

/// The bytes [`scan`] looks at outside strings.
const MATTERS: [bool; 256] = {
    let mut table = [false; 256];
    let mut k = 0;
    while k < 9 {
        table[b"\"[]{},:eE"[k] as usize] = true;
        k += 1;
    }
    table
};

/// The first `"` or `\` in `rest`: word by word for the first few words, then memchr. (Eight
/// bytes at once: short runs are what JSON outside strings and Okta's strings are made of, and a
/// call into memchr costs more than the whole search for them.)
fn quote_or_backslash(rest: &[u8]) -> Option<usize> {
    const SHORT: usize = 4 * WORD;
    let head = &rest[..rest.len().min(SHORT)];
    let mut words = head.chunks_exact(WORD);
    for (k, word) in words.by_ref().enumerate() {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let hits = quotes_or_backslashes(w);
        if hits != 0 {
            return Some(k * WORD + (hits.trailing_zeros() / 8) as usize);
        }
    }
    let searched = head.len() - words.remainder().len();
    memchr::memchr2(b'"', b'\\', &rest[searched..]).map(|at| searched + at)
}

/// How many of the bytes at the start of `rest` are whitespace, counted a word at a time, after
/// a whitespace byte outside strings (runs of indentation in pretty-printed JSON).
fn whitespace_run(rest: &[u8]) -> usize {
    let mut run = 0;
    for word in rest.chunks_exact(WORD) {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        // High bit set in each byte above b' ' (0x21 + 0x5F = 0x80). Outside strings JSON is
        // ASCII, so every byte before the first flagged one is whitespace and no carry reaches it.
        let other = w.wrapping_add(ONES * 0x5F) & HIGHS;
        if other != 0 {
            return run + (other.trailing_zeros() / 8) as usize;
        }
        run += WORD;
    }
    run
}

/// Digits a number may have and still be a double whatever they are (f64 reaches 1.8e308);
/// a longer run of skipped bytes is checked.
const MAX_PLAIN_NUMBER: usize = 300;

/// Whether the number around `at` (any byte of it, or whitespace before it) reads as an f64.
/// Anything else there (whitespace, a literal) is in range.
fn number_in_range(bytes: &[u8], at: usize) -> bool {
    let is_number = |b: &u8| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E');
    let mut start = at;
    while start > 0 && is_number(&bytes[start - 1]) {
        start -= 1;
    }
    while start < bytes.len() && matches!(bytes[start], b' ' | b'\t' | b'\n' | b'\r') {
        start += 1;
    }
    let len = bytes[start..].iter().take_while(|b| is_number(b)).count();
    match std::str::from_utf8(&bytes[start..start + len]) {
        Ok(token) if token.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
            serde_json::from_str::<f64>(token).is_ok()
        }
        _ => true,
    }
}

#[cfg(test)]
mod raw_json_tests {
    use super::*;

    fn deeper(json: &str, limit: usize) -> bool {
        scan(json, limit).is_some_and(|p| p.starts_with("nested"))
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
                scan(bad, MAX_DEPTH).as_deref(),
                Some("an unpaired UTF-16 surrogate escape"),
                "{bad}"
            );
        }
        for good in [
            r#"{"a":"\ud83d\ude00 \u00e9 \\ud800 \"\ud800\udc00"}"#,
            r#"{"a":"\\u0041"}"#,
            "{\"a\":\"\u{1F600}\"}",
        ] {
            assert_eq!(scan(good, MAX_DEPTH), None, "{good}");
        }
    }

    /// Found by the `delivery` fuzz target: a number serde_json refuses to read, in a key the
    /// cards skip, was published, and a consumer reading the detail with serde_json failed.
    #[test]
    fn numbers_out_of_range_are_found_anywhere() {
        let digits = "9".repeat(400);
        for bad in [
            r#"{"a":{"lat":47.621111111111111111111e11112305}}"#.to_owned(),
            r#"{"a":[1,-1E+400]}"#.to_owned(),
            r#"{"a":1e999}"#.to_owned(),
            format!(r#"{{"a":{digits}}}"#),
            format!(r#"{{"a":[true,-{digits}.5 ]}}"#),
            format!(r#"{{"a":1e{digits}}}"#),
        ] {
            assert_eq!(
                scan(&bad, MAX_DEPTH).as_deref(),
                Some("a number out of range"),
                "{bad}"
            );
        }
        let spaces = " ".repeat(400);
        for good in [
            r#"{"a":[1e308,-1.5E+10,0e99999,1e-99999,true,false,null,"1e999"]}"#.to_owned(),
            format!(r#"{{"a":{}}}"#, "9".repeat(300)),
            format!(r#"{{"a":{spaces}1e5{spaces},"b":{spaces}true{spaces}}}"#),
            format!(r#"{{"a":"{digits}"}}"#),
        ] {
            assert_eq!(scan(&good, MAX_DEPTH), None, "{good}");
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

    #[test]
    fn word_searches_agree_with_a_byte_loop() {
        let text = "  \n\t x\"ab\\cdefgh é😀 \r\n        ijklmnopqrstuvwxyz\"0123456789abcdefghijklmnop\\ ";
        let bytes = text.as_bytes();
        for from in 0..bytes.len() {
            for to in from..=bytes.len() {
                let rest = &bytes[from..to];
                assert_eq!(
                    quote_or_backslash(rest),
                    rest.iter().position(|b| matches!(b, b'"' | b'\\')),
                    "{from}..{to}"
                );
                // Counted only where JSON outside strings can be: from a whitespace byte to an
                // ASCII one.
                let outside = rest.iter().find(|b| **b > b' ').is_none_or(u8::is_ascii);
                if outside && rest.first().is_some_and(|b| *b <= b' ') {
                    let run = rest.iter().take_while(|b| **b <= b' ').count();
                    let counted = whitespace_run(rest);
                    // Whole words at least as far as the run goes, never past its end.
                    assert!(counted <= run, "{from}..{to}");
                    assert!(
                        counted == run || run - counted < WORD && rest.len() - counted < WORD,
                        "{from}..{to}"
                    );
                }
            }
        }
    }

    /// The word-at-a-time version answers as the byte-by-byte one on the fixtures and on
    /// generated JSON: strings of the characters that matter, short and long, whitespace runs.
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
            const PIECES: [&str; 10] = [
                "a",
                "a string longer than four words, with é and 😀 in it",
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
                        out.push_str(PIECES[(next() % 10) as usize]);
                    }
                    out.push('"');
                }
                kind => {
                    let (open, close) = if kind == 1 { ('[', ']') } else { ('{', '}') };
                    out.push(open);
                    for n in 0..next() % 4 {
                        // Whitespace runs of 0 to 19 bytes around the tokens.
                        let space = &"\n    \t    \r        "[..out.len() % 20];
                        if n > 0 {
                            out.push(',');
                        }
                        out.push_str(space);
                        if kind == 2 {
                            value(seed, 0, out);
                            out.push(':');
                            out.push_str(space);
                        }
                        value(seed, depth - 1, out);
                        out.push_str(space);
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
                assert_eq!(scan(text, limit), byte_by_byte(text, limit), "{text}");
            }
        }
    }
}

#[cfg(test)]
mod one_pass_tests {
    use super::*;
    use crate::card::CARDS;
    use crate::testing::{envelope, fixture, fixture_events, headers_json};

    /// Bodies of every shape: ordinary deliveries and everything around them that the one pass
    /// must either read exactly as the two passes do or leave to them.
    fn bodies() -> Vec<String> {
        let events = fixture_events();
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        let one = &refs[0];
        let mut bodies: Vec<String> = refs.iter().map(|e| envelope(&[e])).collect();
        bodies.push(envelope(&refs));
        bodies.push(envelope(&[]));
        let samples = format!("{}/fixtures/samples", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(&samples).expect("fixtures") {
            let name = entry.expect("entry").file_name();
            let path = format!("samples/{}", name.to_string_lossy());
            if path.contains("envelope") {
                bodies.push(fixture(&path));
            } else if path.contains("fragment") {
                bodies.push(envelope(&[&fixture(&path)]));
            }
        }
        // Whitespace everywhere JSON allows it, pretty-printed, escaped keys, other orders, other
        // shapes, duplicates, events that are not objects, and keys named like the path deeper in.
        let pretty: serde_json::Value = serde_json::from_str(&envelope(&refs[..3])).expect("json");
        bodies.push(serde_json::to_string_pretty(&pretty).expect("json"));
        bodies.extend([
            format!(" {{ \"data\" : {{ \"events\" : [ {one} ,\n\t{one} \r\n] }} }} "),
            format!(r#"{{"data":{{"events":[{one}]}},"eventId":"x"}}"#),
            format!(r#"{{"d\u0061ta":{{"events":[{one}]}}}}"#),
            format!(r#"{{"data":{{"ev\u0065nts":[{one}]}}}}"#),
            format!(r#"{{"data":{{"events":[{one}],"events":[]}}}}"#),
            format!(r#"{{"data":{{"events":[]}},"data":{{"events":[{one}]}}}}"#),
            format!(r#"{{"x":{{"data":{{"events":[1]}}}},"data":{{"x":{{"events":[2]}},"events":[{one},{one}]}}}}"#),
            format!(r#"{{"data":{{"events":[{one},[null,"x"],{one}]}}}}"#),
            format!(r#"{{"data":{{"events":[{one},"text",{one}]}}}}"#),
            format!(r#"{{"data":{{"events":[{one},12.5e3]}}}}"#),
            format!(r#"{{"data":{{"events":[{one},null]}}}}"#),
            format!(r#"{{"data":[[{one}]]}}"#),
            format!(r#"[null,null,null,{{"events":[{one}]}}]"#),
            r#"{"data":{"events":[{},{"eventType":"user.mfa.factor.activate"}]}}"#.to_owned(),
            r#"{"data":{"events":[{"uuid":"\ud800"}]}}"#.to_owned(),
            r#"{"data":{"events":[{"outcome":{"reason":1e999}}]}}"#.to_owned(),
            r#"{"data":{"events":[{"eventType":"user.mfa.factor.activate","client":{"lat":4.7e11112305}}]}}"#.to_owned(),
            r#"{"data":{"events":[{"target":[{"id":"\ud83d"}],"eventType":"user.mfa.factor.activate"}]}}"#.to_owned(),
            r#"{"data":{"events":{}}}"#.to_owned(),
            r#"{"data":{}}"#.to_owned(),
            "[]".to_owned(),
            "{".to_owned(),
        ]);
        bodies
    }

    #[test]
    fn one_pass_reads_every_body_as_the_two_passes_do() {
        let headers = headers_json();
        for body in bodies() {
            for card in CARDS {
                let one = map_delivery(card, body.as_bytes(), &headers);
                let two = map_delivery_two_pass(card, body.as_bytes(), &headers);
                assert_eq!(
                    format!("{one:?}"),
                    format!("{two:?}"),
                    "{} {body}",
                    card.slug
                );
            }
        }
    }

    #[test]
    fn ordinary_deliveries_take_the_one_pass() {
        let headers = headers_json();
        let events = fixture_events();
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        let pretty: serde_json::Value = serde_json::from_str(&envelope(&refs)).expect("json");
        for body in [
            envelope(&refs),
            envelope(&[]),
            serde_json::to_string_pretty(&pretty).expect("json"),
        ] {
            let read = one_pass(CARDS[0], &body, &headers);
            assert!(matches!(read, Some(Ok(_))), "{body}");
        }
        // Anything that could hide an event's bounds or a problem is left to the two passes.
        for body in [
            r#"{"data":{"events":[{"\u0075uid":"x"}]}}"#,
            r#"{"data":{"events":[{}]}}"#,
            r#"{"data":{"events":[{"uuid":"x"}]},"\u0065ventId":"y"}"#,
            r#"{"data":{"events":[{"uuid":"\ud800"}]}}"#,
            r#"{"data":{"events":[{"client":{"x":["\udc00"]}}]}}"#,
            r#"{"data":{"events":[{"client":{"n":-1e400}}]}}"#,
            r#"{"data":{"events":[{"debugContext":{"debugData":{"x":"\ud83d"}}}]}}"#,
            r#"{"data":{"events":[{"actor":{"detailEntry":[1e309]}}]}}"#,
            r#"{"data":[[]]}"#,
        ] {
            assert!(one_pass(CARDS[0], body, &headers).is_none(), "{body}");
        }
    }

    /// Nesting is checked in skipped and raw values alike, to the level: the one pass reads
    /// what is within the limit, leaves the rest to the two passes, and never accepts more.
    #[test]
    fn nesting_is_checked_to_the_level() {
        let headers = headers_json();
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        // Four containers around an event's fields; five around debugData's value (a raw value).
        let skipped = |n| format!(r#"{{"data":{{"events":[{{"x":{}}}]}}}}"#, nested(n));
        let raw = |n| {
            let value = nested(n);
            format!(r#"{{"data":{{"events":[{{"debugContext":{{"debugData":{value}}}}}]}}}}"#)
        };
        let read = |body: &str| one_pass(CARDS[0], body, &headers).is_some();
        let two = |body: &str| map_delivery_two_pass(CARDS[0], body.as_bytes(), &headers);
        // serde_json walks skipped values to one level short of the limit; the scan of a raw
        // value goes to the limit.
        assert!(read(&skipped(MAX_DEPTH - 5)));
        assert!(!read(&skipped(MAX_DEPTH - 4)) && two(&skipped(MAX_DEPTH - 4)).is_ok());
        assert!(read(&raw(MAX_DEPTH - 5)));
        for deeper in [skipped(MAX_DEPTH - 3), raw(MAX_DEPTH - 4)] {
            assert!(!read(&deeper));
            let refused = map_delivery(CARDS[0], deeper.as_bytes(), &headers);
            assert!(
                matches!(&refused, Err(Error::BadRequest(m)) if m.contains("nested deeper than 128")),
                "{refused:?}"
            );
        }
    }

    /// Each span is exactly the text serde_json captures as the element's raw value.
    #[test]
    fn spans_are_the_raw_values() {
        let mut read = 0;
        for body in bodies() {
            let Some((_, spans)) = checked::read(&body) else {
                continue;
            };
            read += 1;
            let delivery: Delivery = serde_json::from_str(&body).expect("a delivery");
            let texts: Vec<&str> = spans.into_iter().map(|s| &body[s]).collect();
            let raws: Vec<&str> = delivery.data.events.iter().map(|r| r.get()).collect();
            assert_eq!(texts, raws, "{body}");
        }
        assert!(read > 10, "only {read} bodies read in one pass");
    }
}
