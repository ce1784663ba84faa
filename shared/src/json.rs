//! Compact JSON written by hand where it is most of the handler's work (a card's detail, the
//! headers): byte for byte what serde_json writes, tested so in `card` and `auth`.

/// Compact JSON written the way serde_json writes it.
pub(crate) struct Json(pub String);

impl Json {
    /// `"name":`, after a comma unless it is the object's first key. `name` needs no escaping:
    /// one of ours, or an HTTP header name (visible ASCII, no quote or backslash).
    pub fn key(&mut self, name: &str) -> &mut Self {
        if !self.0.ends_with('{') {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(name);
        self.0.push_str("\":");
        self
    }

    /// JSON written as it is: punctuation with a key, or a value already JSON.
    pub fn lit(&mut self, json: &str) -> &mut Self {
        self.0.push_str(json);
        self
    }

    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.0.push_str("null"),
            // Okta's ids, times and names rarely hold a character JSON escapes. (A fold with no
            // early exit: the compiler checks many bytes at once.)
            Some(v)
                if v.bytes().fold(true, |plain, b| {
                    plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
                }) =>
            {
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
