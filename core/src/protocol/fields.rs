//! Header ext fields: the string map every RocketMQ command carries, and the
//! [`CommandHeader`] trait that maps typed headers onto it.
//!
//! Encoding never builds a map: a typed header writes its fields straight into
//! a [`FieldSink`] (the JSON or binary header writer), so the send path makes
//! no allocation per message beyond the output buffer.

use alloc::string::String;
use alloc::vec::Vec;

/// The ext fields of a decoded command, in wire order.
///
/// Lookups are linear: headers hold a handful of fields, and a `Vec` beats a
/// map at that size. A key that occurs twice (the binary header allows it)
/// resolves to its last occurrence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtFields {
    entries: Vec<(String, String)>,
}

impl ExtFields {
    /// An empty set of fields.
    pub const fn new() -> Self {
        Self { entries: Vec::new() }
    }

    /// The value of `key`, if present (the last occurrence wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, replacing an existing value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }

    /// Appends without checking for an existing key (used by decoders, which
    /// must keep wire order; [`ExtFields::get`] resolves duplicates).
    pub fn push(&mut self, key: String, value: String) {
        self.entries.push((key, value));
    }

    /// Removes every occurrence of `key`, returning the last value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let mut last = None;
        self.entries.retain_mut(|(k, v)| {
            if k == key {
                last = Some(core::mem::take(v));
                false
            } else {
                true
            }
        });
        last
    }

    /// Iterates over `(key, value)` pairs in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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
        let mut s = String::new();
        value.write_to(&mut s);
        self.insert(key, s);
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
        assert_eq!(f.required::<i32>("m"), Err(HeaderError::Missing { key: "m" }));
        assert_eq!(f.required::<i32>("n"), Err(HeaderError::Invalid { key: "n" }));
    }
}
