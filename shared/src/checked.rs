//! A delivery read in one pass, with every byte either parsed or checked, and each event's
//! verbatim text located without a second look at it.
//!
//! serde_json validates the syntax of a value it skips (an unknown field, a `RawValue`), but not
//! what a consumer of the published `eventDetails` may refuse in it: nesting past the limit, a lone
//! UTF-16 surrogate escape, a number out of range. [`Checked`] wraps the parser, passing every call
//! through unchanged except two: a skipped value is walked with [`Walk`] (serde_json's own string
//! and number reading and recursion limit then check it), and a raw value is scanned. Derived
//! models read through it exactly as they read serde_json directly, so any result it gives is the
//! result of the two-pass reading; anything it refuses is left to that reading.
//!
//! Events are found by the keys they borrow from the body: an event starts at the `{` before its
//! first key and ends at the `}` before the next event, or before the first key read after the
//! events array (or the end of the body). Whatever makes that uncertain (an event without keys, an
//! escaped key) gives up, and the two passes decide.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Range;

use serde::de::value::{BorrowedStrDeserializer, MapDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::okta::{Delivery, LogEvent};

/// serde_json's name for the newtype that asks for a value's raw text.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// Where the envelope, `data`, the events array and an event sit: the number of containers
/// around a value.
const EVENT_DEPTH: usize = 4;

/// The delivery with each event's span in `text`, or `None` when the two passes must decide.
pub(crate) fn read(text: &str) -> Option<(Delivery<'_, LogEvent<'_>>, Vec<Range<usize>>)> {
    let state = State::new(text);
    let mut parser = serde_json::Deserializer::from_str(text);
    let delivery = Delivery::deserialize(Checked {
        inner: &mut parser,
        state: &state,
        depth: 0,
    })
    .ok()?;
    parser.end().ok()?;
    let spans = state.into_spans()?;
    (spans.len() == delivery.data.events.len()).then_some((delivery, spans))
}

/// What the reading has learned of where the events are.
struct State<'t> {
    text: &'t str,
    /// Where each event's first key opens (its `"`), as `quote..quote`: the same `Vec` then
    /// holds the spans, one allocation per delivery rather than two.
    starts: RefCell<Vec<Range<usize>>>,
    /// An event began and its first key is still to come.
    awaiting_first_key: Cell<bool>,
    /// The events array has been read to its end.
    events_read: Cell<bool>,
    /// The first key read after the events array, with the depth of its map.
    next_key: Cell<Option<(usize, usize)>>,
    /// A key that had to be found was escaped, or an event had none.
    lost: Cell<bool>,
}

impl<'t> State<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            starts: RefCell::new(Vec::new()),
            awaiting_first_key: Cell::new(false),
            events_read: Cell::new(false),
            next_key: Cell::new(None),
            lost: Cell::new(false),
        }
    }

    fn map_begins(&self, depth: usize) {
        if depth == EVENT_DEPTH {
            self.awaiting_first_key.set(true);
        }
    }

    fn map_ends(&self, depth: usize) {
        if depth == EVENT_DEPTH && self.awaiting_first_key.replace(false) {
            self.lost.set(true); // `{}`: no key to find it by
        }
    }

    fn seq_ends(&self, depth: usize) {
        if depth == EVENT_DEPTH - 1 {
            self.events_read.set(true);
        }
    }

    /// A string read at `depth` (a key, or a value the reading does not look at), borrowed from
    /// the body (`Some(text)`) or decoded (`None`). Only two keys matter: an event's first, and
    /// the first after the events array, which is always the next string read at its depth.
    #[inline]
    fn key(&self, depth: usize, borrowed: Option<&str>) {
        if self.awaiting_first_key.get() || self.events_read.get() && self.next_key.get().is_none()
        {
            self.found(depth, borrowed);
        }
    }

    fn found(&self, depth: usize, borrowed: Option<&str>) {
        let wanted = if depth == EVENT_DEPTH {
            self.awaiting_first_key.replace(false)
        } else {
            depth <= 2 && self.events_read.get() && self.next_key.get().is_none()
        };
        if !wanted {
            return;
        }
        let Some(at) = borrowed.and_then(|key| self.offset(key)) else {
            self.lost.set(true);
            return;
        };
        let quote = at - 1;
        if depth == EVENT_DEPTH {
            self.starts.borrow_mut().push(quote..quote);
        } else {
            self.next_key.set(Some((quote, depth)));
        }
    }

    /// Where a string borrowed from the body starts in it.
    fn offset(&self, s: &str) -> Option<usize> {
        let at = (s.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        (at >= 1 && at + s.len() <= self.text.len()).then_some(at)
    }

    /// Each event's text: from the `{` before its first key to the `}` that closes it.
    fn into_spans(self) -> Option<Vec<Range<usize>>> {
        if self.lost.get() || !self.events_read.get() {
            return None;
        }
        let bytes = self.text.as_bytes();
        // What lies between the last event and what follows it, read backwards.
        let (after, closers): (usize, &[u8]) = match self.next_key.get() {
            Some((quote, 2)) => (before(bytes, quote, b',')?, b"]"),
            Some((quote, _)) => (before(bytes, quote, b',')?, b"}]"),
            None => (bytes.len(), b"}}]"),
        };
        let mut last_end = after;
        for &closer in closers {
            last_end = before(bytes, last_end, closer)?;
        }
        let mut spans = self.starts.into_inner();
        // Each in place: the next event's first key is read before its own entry is replaced.
        for k in 0..spans.len() {
            let start = before(bytes, spans[k].start, b'{')?;
            // An event ends at the `}` before the `,` before the next one's `{`.
            let end = match spans.get(k + 1) {
                Some(next) => before(
                    bytes,
                    before(bytes, before(bytes, next.start, b'{')?, b',')?,
                    b'}',
                )?,
                None => before(bytes, last_end, b'}')?,
            };
            spans[k] = start..end + 1;
        }
        Some(spans)
    }
}

/// Where `expected` is, skipping only whitespace back from `at` (exclusive).
fn before(bytes: &[u8], mut at: usize, expected: u8) -> Option<usize> {
    while at > 0 && matches!(bytes[at - 1], b' ' | b'\t' | b'\n' | b'\r') {
        at -= 1;
    }
    (at > 0 && bytes[at - 1] == expected).then_some(at - 1)
}

/// The parser, or one of its parts, at `depth` containers into the body.
struct Checked<'s, 't, D> {
    inner: D,
    state: &'s State<'t>,
    depth: usize,
}

impl<'s, 't, D> Checked<'s, 't, D> {
    fn visitor<V>(&self, inner: V) -> CheckedVisitor<'s, 't, V> {
        CheckedVisitor {
            inner,
            state: self.state,
            depth: self.depth,
        }
    }
}

macro_rules! forward {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let visitor = self.visitor(visitor);
            self.inner.$method(visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Checked<'_, '_, D> {
    type Error = D::Error;

    forward! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map deserialize_identifier
    }

    /// An unknown field, or a structure read as absent: walked rather than skipped.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(Walk)?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if name != RAW_VALUE {
            let visitor = self.visitor(visitor);
            return self.inner.deserialize_newtype_struct(name, visitor);
        }
        // Skipped by the parser: scanned here, then handed over as serde_json hands it.
        let raw = <&'de RawValue>::deserialize(self.inner)?;
        if let Some(problem) = crate::delivery::problem(raw.get(), self.depth) {
            return Err(de::Error::custom(problem));
        }
        // As serde_json hands a raw value over: a map of its one private key to the text.
        visitor.visit_map(MapDeserializer::new(std::iter::once((
            BorrowedStrDeserializer::new(RAW_VALUE),
            BorrowedStrDeserializer::new(raw.get()),
        ))))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor);
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor of the models, handed what the parser found with the parts it reads next wrapped.
struct CheckedVisitor<'s, 't, V> {
    inner: V,
    state: &'s State<'t>,
    depth: usize,
}

impl<'s, 't, V> CheckedVisitor<'s, 't, V> {
    fn wrap<A>(&self, inner: A, depth: usize) -> Checked<'s, 't, A> {
        Checked {
            inner,
            state: self.state,
            depth,
        }
    }
}

macro_rules! pass {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for CheckedVisitor<'_, '_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    pass! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char) visit_string(String)
        visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    /// A key or a value decoded from escapes: not found in the body.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.state.key(self.depth, None);
        self.inner.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.state.key(self.depth, Some(v));
        self.inner.visit_borrowed_str(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let d = self.wrap(d, self.depth);
        self.inner.visit_some(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let d = self.wrap(d, self.depth);
        self.inner.visit_newtype_struct(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let seq = self.wrap(seq, self.depth + 1);
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let depth = self.depth + 1;
        self.state.map_begins(depth);
        let map = self.wrap(map, depth);
        self.inner.visit_map(map)
    }

    /// No model reads an enum: refusing one leaves the body to the two passes.
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom("an enum where none is read"))
    }
}

/// The keys are read at the map's depth (that is how an event's first key is told from others),
/// the values one level in.
impl<'de, A: MapAccess<'de>> MapAccess<'de> for Checked<'_, '_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.seed(seed);
        let key = self.inner.next_key_seed(seed)?;
        // Its end is told here, so the value read need not be held and moved on its way out.
        if key.is_none() {
            self.state.map_ends(self.depth);
        }
        Ok(key)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Checked<'_, '_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let seed = self.seed(seed);
        let element = self.inner.next_element_seed(seed)?;
        if element.is_none() {
            self.state.seq_ends(self.depth);
        }
        Ok(element)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'s, 't, A> Checked<'s, 't, A> {
    fn seed<S>(&self, inner: S) -> Checked<'s, 't, S> {
        Checked {
            inner,
            state: self.state,
            depth: self.depth,
        }
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Checked<'_, '_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Checked {
            inner: d,
            state: self.state,
            depth: self.depth,
        })
    }
}

/// Reads a value to its end, building nothing: serde_json refuses a lone surrogate escape in a
/// string it decodes, a number out of range it reads, and nesting past its recursion limit.
struct Walk;

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Walk)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Walk)?.is_some() {
            map.next_value_seed(Walk)?;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}
