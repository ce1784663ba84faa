//! The hook secret: checked in constant time, and never let out in a published header.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use http::{HeaderMap, HeaderName, HeaderValue};
use memchr::memmem;
use smallvec::SmallVec;
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::json::{plain, Json};
use crate::Error;

/// What replaces the secret header's value in a card's `headers`.
pub const REDACTED: &str = "[REDACTED]";

#[derive(Debug)]
pub struct Auth {
    header: HeaderName,
    /// Each accepted secret: the hashes are compared in constant time, so timing says nothing
    /// of a secret's bytes or length; a matching hash is then confirmed byte for byte, so
    /// acceptance never rests on the hash alone.
    secrets: Vec<Secret>,
    /// Random per process (SipHash keys), so no one can work out a hash offline.
    keys: RandomState,
    /// Only ever true with no secret: see [`Config::allow_unauthenticated`].
    allow_unauthenticated: bool,
}

impl Auth {
    pub fn new(config: &Config) -> Self {
        let keys = RandomState::new();
        Self {
            header: config.auth_header.clone(),
            secrets: config
                .secrets
                .iter()
                .map(|s| Secret {
                    hash: keys.hash_one(s.expose().as_bytes()),
                    finder: memmem::Finder::new(s.expose()).into_owned(),
                })
                .collect(),
            keys,
            allow_unauthenticated: config.allow_unauthenticated && config.secrets.is_empty(),
        }
    }

    /// Ok when the secret header matches the current or the previous secret (or when running
    /// unauthenticated, which `Config` allows only locally and only with no secret set).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Error> {
        if self.allow_unauthenticated {
            return Ok(());
        }
        // No secret and no explicit switch accepts nothing (Config refuses this at start anyway).
        let Some(presented) = headers
            .get(&self.header)
            .filter(|_| !self.secrets.is_empty())
        else {
            return Err(Error::MissingSecret(self.header.to_string()));
        };
        let presented = presented.as_bytes();
        let hash = self.keys.hash_one(presented);
        // Compare with every secret, without stopping early, so timing says nothing about which.
        let matched = self
            .secrets
            .iter()
            .fold(subtle::Choice::from(0), |acc, s| acc | s.hash.ct_eq(&hash));
        // Only a presented secret gets this far: comparing its bytes tells it nothing new.
        if bool::from(matched) && self.secrets.iter().any(|s| s.finder.needle() == presented) {
            Ok(())
        } else {
            Err(Error::WrongSecret(self.header.to_string()))
        }
    }

    /// The delivery's headers as one JSON object for the card's `headers`: names lowercased,
    /// repeated headers joined with ", ", the secret header's value (and any value containing a
    /// secret) replaced by [`REDACTED`].
    pub fn redacted_headers(&self, headers: &HeaderMap) -> String {
        // One pass over the map (a lookup per name cost more than writing the JSON), sorted by
        // name as a JSON object map (BTreeMap) sorts them; the sort is stable, so a repeated
        // header's values stay in the order they came.
        // Each name as text once (a standard name's text is a table lookup), on the stack: API
        // Gateway hands over about a dozen headers.
        let mut pairs: SmallVec<[(&str, &HeaderValue); 24]> = SmallVec::new();
        // Filled where it lies: `collect` would build it elsewhere and copy its 600 bytes over.
        pairs.extend(headers.iter().map(|(n, v)| (n.as_str(), v)));
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let secret_header = self.header.as_str();
        // Written as bytes and checked as UTF-8 once at the end: a check and a call per value
        // cost more than the writing.
        let mut out: Vec<u8> = Vec::with_capacity(64 * pairs.len() + 2);
        out.push(b'{');
        for same in pairs.chunk_by(|a, b| a.0 == b.0) {
            let [(name, first), more @ ..] = same else {
                continue; // chunk_by yields no empty chunk
            };
            if out.len() > 1 {
                out.push(b',');
            }
            // http's HeaderName is lowercase already, and never needs escaping.
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            let bytes = first.as_bytes();
            if *name == secret_header {
                out.extend_from_slice(QUOTED_REDACTED.as_bytes());
            } else if more.is_empty() && bytes.is_ascii() && plain(bytes) {
                // The usual value: one, ASCII, nothing to escape.
                if self.holds_secret(bytes) {
                    out.extend_from_slice(QUOTED_REDACTED.as_bytes());
                } else {
                    out.push(b'"');
                    out.extend_from_slice(bytes);
                    out.push(b'"');
                }
            } else {
                let mut value = text(first);
                for (_, v) in more {
                    let joined = value.to_mut();
                    joined.push_str(", ");
                    joined.push_str(&text(v));
                }
                if self.holds_secret(value.as_bytes()) {
                    value = Cow::Borrowed(REDACTED);
                }
                let mut quoted = Json(String::with_capacity(value.len() + 2));
                quoted.text(Some(&value));
                out.extend_from_slice(quoted.0.as_bytes());
            }
        }
        out.push(b'}');
        // Only text and checked ASCII were written: this never falls back.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl Auth {
    /// Whether a header value holds an accepted secret anywhere in it.
    fn holds_secret(&self, value: &[u8]) -> bool {
        self.secrets.iter().any(|s| s.find(value).is_some())
    }
}

/// [`REDACTED`] as a JSON string.
const QUOTED_REDACTED: &str = "\"[REDACTED]\"";

/// A header value as text; bytes that are not UTF-8 become U+FFFD. (`from_utf8` first: for the
/// usual ASCII value it is much cheaper than `from_utf8_lossy`'s chunked walk.)
fn text(value: &HeaderValue) -> Cow<'_, str> {
    match std::str::from_utf8(value.as_bytes()) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(value.as_bytes()),
    }
}

/// One accepted secret: its keyed hash, and a search prepared for it (which holds its bytes), so
/// that a header that merely contains it is redacted too. Its `Debug` shows neither.
struct Secret {
    hash: u64,
    finder: memmem::Finder<'static>,
}

impl Secret {
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        self.finder.find(haystack)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn config(secrets: &[&str], allow_unauthenticated: bool) -> Config {
        Config {
            allow_unauthenticated,
            ..Config::with_secrets(secrets)
        }
    }

    fn auth(secrets: &[&str]) -> Auth {
        Auth::new(&config(secrets, secrets.is_empty()))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn current_and_previous_secret_pass() {
        let a = auth(&["Basic new", "Basic old"]);
        assert!(a.check(&headers(&[("authorization", "Basic new")])).is_ok());
        assert!(a.check(&headers(&[("authorization", "Basic old")])).is_ok());
    }

    #[test]
    fn missing_secret_is_refused() {
        let err = auth(&["s3cret"]).check(&headers(&[])).expect_err("refused");
        assert!(matches!(err, Error::MissingSecret(_)));
    }

    #[test]
    fn wrong_prefix_longer_and_other_case_secrets_are_refused() {
        let a = auth(&["Basic s3cret"]);
        for wrong in [
            "Basic s3cre",
            "Basic s3cret ",
            "basic s3cret",
            "Basic s3cretX",
            "",
        ] {
            let err = a
                .check(&headers(&[("authorization", wrong)]))
                .expect_err(wrong);
            assert!(matches!(err, Error::WrongSecret(_)), "{wrong:?}");
        }
    }

    #[test]
    fn secret_in_another_header_is_refused() {
        let err = auth(&["s3cret"])
            .check(&headers(&[("x-api-key", "s3cret")]))
            .expect_err("refused");
        assert!(matches!(err, Error::MissingSecret(_)));
    }

    #[test]
    fn unauthenticated_mode_accepts_anything() {
        assert!(auth(&[]).check(&headers(&[])).is_ok());
    }

    #[test]
    fn no_secret_without_the_switch_accepts_nothing() {
        let a = Auth::new(&config(&[], false));
        assert!(matches!(
            a.check(&headers(&[("authorization", "")])),
            Err(Error::MissingSecret(_))
        ));
        assert!(a.check(&headers(&[])).is_err());
    }

    #[test]
    fn headers_are_lowercased_joined_and_redacted() {
        let a = auth(&["Basic s3cret"]);
        let mut h = headers(&[
            ("authorization", "Basic s3cret"),
            ("x-copy", "token=Basic s3cret"),
            ("accept", "application/json"),
            ("x-multi", "a"),
        ]);
        h.append("X-Multi", HeaderValue::from_static("b"));
        let json: serde_json::Value = serde_json::from_str(&a.redacted_headers(&h)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "authorization": REDACTED, "x-copy": REDACTED,
                "accept": "application/json", "x-multi": "a, b"
            })
        );
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let shown = format!("{:?}", auth(&["Basic s3cret", "Basic 0ld"]));
        // As text, or as the list of bytes a derived Debug of a byte buffer prints.
        let as_bytes = format!("{:?}", "s3cret".as_bytes());
        let as_bytes = as_bytes.trim_matches(|c| c == '[' || c == ']');
        for secret in ["s3cret", "0ld", as_bytes] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    /// The hand-written object is what serde_json writes for the same map, byte for byte, with
    /// values JSON escapes and bytes that are not UTF-8.
    #[test]
    fn headers_json_is_what_serde_json_writes() {
        let a = auth(&["Basic s3cret"]);
        let mut h = headers(&[
            ("authorization", "Basic s3cret"),
            ("x-quote", r#"say "hi" \ bye"#),
            ("user-agent", "Okta Google-HTTP-Java-Client/1.23.0 (gzip)"),
            ("x-tab", "a\tb"),
            ("x-empty", ""),
        ]);
        h.append("x-quote", HeaderValue::from_static("second"));
        h.insert(
            "x-bytes",
            HeaderValue::from_bytes(b"caf\xe9 \xff").expect("value"),
        );
        let mut expected = std::collections::BTreeMap::new();
        for name in h.keys() {
            let values: Vec<String> = h
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            let value = if name == "authorization" {
                REDACTED.to_owned()
            } else {
                values.join(", ")
            };
            expected.insert(name.as_str(), value);
        }
        assert_eq!(
            a.redacted_headers(&h),
            serde_json::to_string(&expected).expect("json")
        );
        assert_eq!(a.redacted_headers(&HeaderMap::new()), "{}");
    }
}
