//! Compact JSON written by hand where it is most of the handler's work (a card's detail, the
//! headers): byte for byte what serde_json writes, tested so in `card` and `auth`.

/// Compact JSON written the way serde_json writes it.
pub(crate) struct Json(pub String);

impl Json {
    /// JSON written as it is: punctuation with a key, or a value already JSON.
    pub fn lit(&mut self, json: &str) -> &mut Self {
        self.0.push_str(json);
        self
    }

    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.0.push_str("null"),
            // Okta's ids, times and names rarely hold a character JSON escapes.
            Some(v) if plain(v.as_bytes()) => {
                self.0.push('"');
                self.0.push_str(v);
                self.0.push('"');
            }
            Some(v) => match serde_json::to_string(v) {
                Ok(quoted) => self.0.push_str(&quoted),
                // Serializing a str cannot fail; null never publishes a wrong value.
                Err(_) => self.0.push_str("null"),
            },
        }
        self
    }
}

/// Bytes in a word, for the checks that read eight bytes at a time.
pub(crate) const WORD: usize = 8;
pub(crate) const ONES: u64 = u64::from_ne_bytes([0x01; WORD]);
pub(crate) const HIGHS: u64 = u64::from_ne_bytes([0x80; WORD]);

/// The high bit of each byte of `w` (little-endian) that is `"` or `\`; the lowest flagged byte
/// is exact (a borrow only flags bytes above a match).
pub(crate) fn quotes_or_backslashes(w: u64) -> u64 {
    let (q, b) = (w ^ (ONES * u64::from(b'"')), w ^ (ONES * u64::from(b'\\')));
    ((q.wrapping_sub(ONES) & !q) | (b.wrapping_sub(ONES) & !b)) & HIGHS
}

/// Whether JSON takes `s` between quotes as it is: no control character, `"` or `\`. Eight bytes
/// at a time, the last word overlapping the one before (a byte loop cost a third of writing these
/// short values).
pub(crate) fn plain(s: &[u8]) -> bool {
    let Some(last) = s.len().checked_sub(WORD) else {
        return s.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
    };
    let word = |at: usize| {
        s.get(at..at + WORD)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    // A byte below 0x20 flags its high bit too: exact as to whether one exists (bytes from 0x80
    // up are masked by `!w`, and only a flagged byte can borrow).
    let flagged =
        |w: u64| (w.wrapping_sub(ONES * 0x20) & !w & HIGHS) | quotes_or_backslashes(w) != 0;
    // A plain loop: an iterator chain here was not inlined, and cost more than the check.
    let mut at = 0;
    while at < last {
        if flagged(word(at)) {
            return false;
        }
        at += WORD;
    }
    !flagged(word(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time check agrees with the byte-by-byte rule for every length up to three
    /// words, and every byte JSON treats differently at every position, among ASCII and among
    /// the bytes of multi-byte characters.
    #[test]
    fn plain_is_the_byte_rule_at_every_length_and_position() {
        let by_byte = |s: &[u8]| s.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
        let odd = [
            0x00, 0x01, 0x09, 0x0A, 0x1F, 0x20, 0x21, b'"', 0x23, b'\\', 0x5B, 0x5D, 0x7F, 0x80,
            0xA2, 0xC3, 0xFF,
        ];
        for len in 0..=24 {
            for fill in [b'a', 0xC3, 0xA2, 0x20] {
                assert!(plain(&vec![fill; len]), "{len} x {fill:#04x}");
                for at in 0..len {
                    for &b in &odd {
                        let mut s = vec![fill; len];
                        s[at] = b;
                        assert_eq!(
                            plain(&s),
                            by_byte(&s),
                            "{b:#04x} at {at} of {len} x {fill:#04x}"
                        );
                    }
                }
            }
        }
    }
}
