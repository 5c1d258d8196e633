//! Header ext fields: the string map every RocketMQ command carries, and the
//! [`CommandHeader`] trait that maps typed headers onto it.
//!
//! Encoding never builds a map: a typed header writes its fields straight into
//! a [`FieldSink`] (the JSON or binary header writer), so the send path makes
//! no allocation per message beyond the output buffer.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

/// The ext fields of a decoded command, in wire order.
///
/// Lookups are linear: headers hold a handful of fields, and a `Vec` beats a
/// map at that size. A key that occurs twice (the binary header allows it)
/// resolves to its last occurrence.
///
/// Storage is two allocations whatever the number of fields: all keys and
/// values live in one `String` and the entries are byte ranges into it.
/// Replaced and removed text stays until it outweighs the live text, then
/// the buffer is compacted.
///
/// A decoded JSON header's fields are not even copied: the text is then a
/// shared slice of the received frame (which it keeps alive, like the
/// body), and the first change turns it into an owned copy.
#[derive(Clone, Default)]
pub struct ExtFields {
    text: Text,
    entries: Vec<FieldSpan>,
}

/// Where the keys and values live.
#[derive(Clone)]
enum Text {
    /// Built or changed locally.
    Owned(String),
    /// A slice of a received frame; all of it is valid UTF-8 and every
    /// span falls on character boundaries (checked by the decoder).
    Shared(Bytes),
}

impl Default for Text {
    fn default() -> Self {
        Text::Owned(String::new())
    }
}

/// One field: `text[key.0..key.1]` and `text[value.0..value.1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldSpan {
    key: (usize, usize),
    value: (usize, usize),
}

impl ExtFields {
    /// An empty set of fields.
    pub const fn new() -> Self {
        Self {
            text: Text::Owned(String::new()),
            entries: Vec::new(),
        }
    }

    /// Fields whose keys and values are ranges of `text`, which must be
    /// valid UTF-8 as a whole (add them with [`ExtFields::push_shared`]).
    pub(crate) fn shared(text: Bytes, fields: usize) -> Self {
        Self {
            text: Text::Shared(text),
            entries: Vec::with_capacity(fields),
        }
    }

    /// Appends a field given as byte ranges of the shared text; the ranges
    /// must fall on character boundaries (a range that does not reads as
    /// empty).
    pub(crate) fn push_shared(&mut self, key: (usize, usize), value: (usize, usize)) {
        self.entries.push(FieldSpan { key, value });
    }

    fn bytes_of(&self, (start, end): (usize, usize)) -> &[u8] {
        match &self.text {
            Text::Owned(s) => s.as_bytes().get(start..end),
            Text::Shared(b) => b.get(start..end),
        }
        .unwrap_or_default()
    }

    /// An empty set with room for `fields` fields totalling `text_len`
    /// bytes of keys and values.
    pub fn with_capacity(fields: usize, text_len: usize) -> Self {
        Self {
            text: Text::Owned(String::with_capacity(text_len)),
            entries: Vec::with_capacity(fields),
        }
    }

    fn slice(&self, (start, end): (usize, usize)) -> &str {
        match &self.text {
            Text::Owned(s) => s.get(start..end).unwrap_or_default(),
            Text::Shared(b) => b
                .get(start..end)
                .and_then(|v| core::str::from_utf8(v).ok())
                .unwrap_or_default(),
        }
    }

    /// Appends `s` to the text (made owned first: a shared frame is copied
    /// once), returning its range.
    fn push_text(&mut self, s: &str) -> (usize, usize) {
        if let Text::Shared(b) = &self.text {
            self.text = Text::Owned(String::from_utf8_lossy(b).into_owned());
        }
        match &mut self.text {
            Text::Owned(text) => {
                let start = text.len();
                text.push_str(s);
                (start, text.len())
            }
            Text::Shared(_) => (0, 0),
        }
    }

    /// Rebuilds the text from the live entries once dead text outweighs it.
    fn maybe_compact(&mut self) {
        if self.entries.is_empty() {
            self.text = Text::default();
            return;
        }
        let total = match &self.text {
            Text::Owned(s) => s.len(),
            Text::Shared(b) => b.len(),
        };
        let live: usize = self
            .entries
            .iter()
            .map(|e| e.key.1 - e.key.0 + e.value.1 - e.value.0)
            .sum();
        if total <= 2 * live + 64 {
            return;
        }
        let mut text = String::with_capacity(live);
        let mut entries = core::mem::take(&mut self.entries);
        for e in &mut entries {
            for span in [&mut e.key, &mut e.value] {
                let start = text.len();
                text.push_str(self.slice(*span));
                *span = (start, text.len());
            }
        }
        self.entries = entries;
        self.text = Text::Owned(text);
    }

    /// The value of `key`, if present (the last occurrence wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| self.bytes_of(e.key) == key.as_bytes())
            .map(|e| self.slice(e.value))
    }

    /// Sets `key` to `value`, replacing an existing value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        self.insert_str(&key, &value);
    }

    /// [`ExtFields::insert`] from borrowed strings.
    pub fn insert_str(&mut self, key: &str, value: &str) {
        let found = self
            .entries
            .iter()
            .position(|e| self.bytes_of(e.key) == key.as_bytes());
        match found {
            Some(i) => {
                let span = self.push_text(value);
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.value = span;
                }
                self.maybe_compact();
            }
            None => self.push_str(key, value),
        }
    }

    /// Appends without checking for an existing key (used by decoders, which
    /// must keep wire order; [`ExtFields::get`] resolves duplicates).
    pub fn push(&mut self, key: String, value: String) {
        self.push_str(&key, &value);
    }

    /// [`ExtFields::push`] from borrowed strings (no allocation once the
    /// capacity suffices).
    pub fn push_str(&mut self, key: &str, value: &str) {
        let key = self.push_text(key);
        let value = self.push_text(value);
        self.entries.push(FieldSpan { key, value });
    }

    /// Removes every occurrence of `key`, returning the last value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let last = self
            .entries
            .iter()
            .rev()
            .find(|e| self.bytes_of(e.key) == key.as_bytes())
            .map(|e| String::from(self.slice(e.value)));
        let mut entries = core::mem::take(&mut self.entries);
        entries.retain(|e| self.bytes_of(e.key) != key.as_bytes());
        self.entries = entries;
        let value = last;
        if value.is_some() {
            self.maybe_compact();
        }
        value
    }

    /// Iterates over `(key, value)` pairs in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (self.slice(e.key), self.slice(e.value)))
    }

    /// Number of entries (duplicates counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses a required field with [`FromField`].
    pub fn required<T: FromField>(&self, key: &'static str) -> Result<T, HeaderError> {
        match self.get(key) {
            Some(v) => T::from_field(v).ok_or(HeaderError::Invalid { key }),
            None => Err(HeaderError::Missing { key }),
        }
    }

    /// Parses an optional field with [`FromField`]; a present but malformed
    /// value is an error, an absent one is `None`.
    pub fn optional<T: FromField>(&self, key: &'static str) -> Result<Option<T>, HeaderError> {
        match self.get(key) {
            Some(v) => T::from_field(v)
                .map(Some)
                .ok_or(HeaderError::Invalid { key }),
            None => Ok(None),
        }
    }
}

impl PartialEq for ExtFields {
    /// Equal when both hold the same `(key, value)` pairs in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl core::fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut f = ExtFields::new();
        for (k, v) in iter {
            f.insert(k, v);
        }
        f
    }
}

/// A typed header could not be read from ext fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A required field is absent.
    #[error("header field `{key}` is missing")]
    Missing {
        /// The field name.
        key: &'static str,
    },
    /// A field is present but does not parse as its type.
    #[error("header field `{key}` has an invalid value")]
    Invalid {
        /// The field name.
        key: &'static str,
    },
}

/// A value as a header writes it; the sink stringifies it (RocketMQ sends
/// every ext field as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    /// A string value.
    Str(&'a str),
    /// An integer value (`int` and `long` in Java).
    Int(i64),
    /// A boolean, written `true` / `false`.
    Bool(bool),
}

/// Where a typed header writes its fields: the JSON writer, the binary writer,
/// an [`ExtFields`] map, or the ACL signer.
pub trait FieldSink {
    /// Writes one field.
    fn field(&mut self, key: &str, value: FieldValue<'_>);
}

impl FieldSink for ExtFields {
    fn field(&mut self, key: &str, value: FieldValue<'_>) {
        match value {
            FieldValue::Str(s) => self.insert_str(key, s),
            FieldValue::Int(i) => self.insert_str(key, itoa::Buffer::new().format(i)),
            FieldValue::Bool(b) => self.insert_str(key, if b { "true" } else { "false" }),
        }
    }
}

impl FieldValue<'_> {
    /// Appends the wire string form of the value to `out`.
    pub fn write_to(&self, out: &mut String) {
        match *self {
            FieldValue::Str(s) => out.push_str(s),
            FieldValue::Int(i) => out.push_str(itoa::Buffer::new().format(i)),
            FieldValue::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        }
    }
}

/// A typed request or response header: written field by field, read back
/// from [`ExtFields`]. `decode(encode(h)) == h` for every header.
pub trait CommandHeader: Sized {
    /// Writes every non-null field, with the exact key the broker expects.
    fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S);
    /// Reads the header back from decoded ext fields.
    fn from_fields(fields: &ExtFields) -> Result<Self, HeaderError>;

    /// Collects the fields into an [`ExtFields`] map (allocates; the encode
    /// path does not use this).
    fn to_ext_fields(&self) -> ExtFields {
        let mut f = ExtFields::new();
        self.write_fields(&mut f);
        f
    }
}

/// Parses one ext-field string into a typed value.
pub trait FromField: Sized {
    /// `None` when the string is not a valid value of the type.
    fn from_field(s: &str) -> Option<Self>;
}

macro_rules! from_field_int {
    ($($t:ty),*) => {$(
        impl FromField for $t {
            fn from_field(s: &str) -> Option<Self> { s.trim().parse().ok() }
        }
    )*};
}
from_field_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl FromField for bool {
    fn from_field(s: &str) -> Option<Self> {
        // Java's Boolean.parseBoolean: "true" ignoring case, anything else false.
        Some(s.trim().eq_ignore_ascii_case("true"))
    }
}

impl FromField for String {
    fn from_field(s: &str) -> Option<Self> {
        Some(String::from(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_duplicate_key_wins() {
        let mut f = ExtFields::new();
        f.push("a".into(), "1".into());
        f.push("a".into(), "2".into());
        assert_eq!(f.get("a"), Some("2"));
    }

    fn shared_fields() -> ExtFields {
        let text = Bytes::from_static("a:1,bé:2,a:3".as_bytes());
        let mut f = ExtFields::shared(text, 3);
        f.push_shared((0, 1), (2, 3));
        f.push_shared((4, 7), (8, 9));
        f.push_shared((10, 11), (12, 13));
        f
    }

    #[test]
    fn fields_sharing_a_frame_read_like_owned_ones() {
        let f = shared_fields();
        assert_eq!(f.get("a"), Some("3"));
        assert_eq!(f.get("bé"), Some("2"));
        let owned: ExtFields = [("a", "1"), ("bé", "2")].into_iter().collect();
        assert_eq!(f.iter().count(), 3);
        assert_ne!(f, owned);
    }

    #[test]
    fn fields_sharing_a_frame_can_be_changed() {
        let mut f = shared_fields();
        f.insert("bé", "two");
        f.push("c".into(), "4".into());
        assert_eq!(f.remove("a"), Some("3".into()));
        assert_eq!(f.iter().collect::<Vec<_>>(), [("bé", "two"), ("c", "4")]);
    }

    #[test]
    fn ranges_off_character_boundaries_read_as_empty() {
        let mut f = ExtFields::shared(Bytes::from_static("é".as_bytes()), 1);
        f.push_shared((0, 1), (1, 2));
        assert_eq!(f.iter().next(), Some(("", "")));
    }

    #[test]
    fn insert_replaces_existing_value() {
        let mut f = ExtFields::new();
        f.insert("k", "v1");
        f.insert("k", "v2");
        assert_eq!(f.len(), 1);
        assert_eq!(f.get("k"), Some("v2"));
    }

    #[test]
    fn required_reports_missing_and_invalid() {
        let f: ExtFields = [("n", "x")].into_iter().collect();
        assert_eq!(
            f.required::<i32>("m"),
            Err(HeaderError::Missing { key: "m" })
        );
        assert_eq!(
            f.required::<i32>("n"),
            Err(HeaderError::Invalid { key: "n" })
        );
    }
}
