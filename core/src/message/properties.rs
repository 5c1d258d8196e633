//! The message properties map and its wire string (PROTOCOL.md §5.4).

use alloc::string::String;
use alloc::vec::Vec;

/// Separates a property name from its value on the wire (`\u0001`).
pub const NAME_VALUE_SEPARATOR: u8 = 0x01;
/// Terminates each property on the wire (`\u0002`).
pub const PROPERTY_SEPARATOR: u8 = 0x02;
/// Largest encoded properties string brokers accept (int16 length).
pub const MAX_ENCODED_LEN: usize = i16::MAX as usize;

/// Message properties: a small map that keeps insertion order.
///
/// Lookups are linear; messages carry a handful of properties and a `Vec`
/// beats a hash map at that size. Names are unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Properties {
    entries: Vec<(String, String)>,
}

impl Properties {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// An empty map with room for `n` properties.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == name)
    }

    /// Sets `name` to `value`; an existing value is replaced in place and
    /// returned. No name checks: see `Message::put_user_property` for those.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let name = name.into();
        let value = value.into();
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some(core::mem::replace(&mut slot.1, value))
        } else {
            self.entries.push((name, value));
            None
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.entries.iter().position(|(k, _)| k == name)?;
        Some(self.entries.remove(i).1)
    }

    /// `(name, value)` pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every property.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Length in bytes of [`Properties::encode_into`]'s output.
    pub fn encoded_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum()
    }

    /// Appends the wire string `name\u0001value\u0002...` (with Java's
    /// trailing `\u0002`) to `out`.
    ///
    /// Names and values are written verbatim: a name or value that contains
    /// `\u0001`/`\u0002` or is empty does not survive a round trip.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        for (k, v) in &self.entries {
            out.extend_from_slice(k.as_bytes());
            out.push(NAME_VALUE_SEPARATOR);
            out.extend_from_slice(v.as_bytes());
            out.push(PROPERTY_SEPARATOR);
        }
    }

    /// The wire string as a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Parses a wire string the way Java does: split on `\u0002`, skip
    /// segments shorter than 3 bytes, split at the first `\u0001`, keep the
    /// pair only if name and value are both non-empty. Invalid UTF-8 is
    /// replaced (U+FFFD); a repeated name keeps its last value. Never fails.
    pub fn decode(bytes: &[u8]) -> Properties {
        let mut entries: Vec<(String, String)> = Vec::new();
        for segment in bytes.split(|&b| b == PROPERTY_SEPARATOR) {
            if segment.len() < 3 {
                continue;
            }
            let Some(sep) = segment.iter().position(|&b| b == NAME_VALUE_SEPARATOR) else {
                continue;
            };
            let (name, rest) = segment.split_at(sep);
            let value = rest.get(1..).unwrap_or_default();
            if name.is_empty() || value.is_empty() {
                continue;
            }
            entries.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
        dedup_last_wins(&mut entries);
        Properties { entries }
    }
}

/// Drops all but the last occurrence of each name, keeping the order of the
/// survivors. O(n log n), so hostile inputs with thousands of entries stay
/// cheap.
fn dedup_last_wins(entries: &mut Vec<(String, String)>) {
    if entries.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    // Stable sort by name: equal names stay in index order.
    order.sort_by(|&a, &b| entries[a].0.cmp(&entries[b].0));
    let mut keep = alloc::vec![true; entries.len()];
    let mut any_dup = false;
    for pair in order.windows(2) {
        if let [a, b] = *pair {
            if entries[a].0 == entries[b].0 {
                keep[a] = false;
                any_dup = true;
            }
        }
    }
    if any_dup {
        let mut i = 0;
        entries.retain(|_| {
            let k = keep.get(i).copied().unwrap_or(true);
            i += 1;
            k
        });
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut p = Properties::new();
        for (k, v) in iter {
            p.insert(k, v);
        }
        p
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Properties {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs.iter().copied().collect()
    }

    #[test]
    fn encode_writes_java_wire_string_with_trailing_separator() {
        let p = props(&[("TAGS", "TagA"), ("KEYS", "k1 k2")]);
        assert_eq!(p.encode(), b"TAGS\x01TagA\x02KEYS\x01k1 k2\x02".to_vec());
        assert_eq!(p.encoded_len(), p.encode().len());
    }

    #[test]
    fn decode_accepts_missing_trailing_separator() {
        let p = Properties::decode(b"TAGS\x01TagA\x02KEYS\x01k1");
        assert_eq!(p.get("TAGS"), Some("TagA"));
        assert_eq!(p.get("KEYS"), Some("k1"));
    }

    #[test]
    fn decode_skips_empty_names_values_and_short_segments() {
        let p =
            Properties::decode(b"\x01abc\x02abc\x01\x02a\x01\x02\x02\x02x\x01y\x02noseparator\x02");
        assert_eq!(p.len(), 1);
        assert_eq!(p.get("x"), Some("y"));
    }

    #[test]
    fn decode_splits_at_first_name_value_separator() {
        let p = Properties::decode(b"a\x01b\x01c\x02");
        assert_eq!(p.get("a"), Some("b\x01c"));
    }

    #[test]
    fn decode_keeps_last_value_of_repeated_name() {
        let p = Properties::decode(b"a\x011\x02b\x012\x02a\x013\x02");
        assert_eq!(p.len(), 2);
        assert_eq!(p.get("a"), Some("3"));
        assert_eq!(p.get("b"), Some("2"));
    }

    #[test]
    fn decode_replaces_invalid_utf8() {
        let p = Properties::decode(b"k\x01\xff\x02");
        assert_eq!(p.get("k"), Some("\u{fffd}"));
    }

    #[test]
    fn insert_replaces_in_place_and_returns_old_value() {
        let mut p = props(&[("a", "1"), ("b", "2")]);
        assert_eq!(p.insert("a", "9"), Some("1".into()));
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![("a", "9"), ("b", "2")]);
    }

    #[test]
    fn remove_returns_value_and_forgets_name() {
        let mut p = props(&[("a", "1"), ("b", "2")]);
        assert_eq!(p.remove("a"), Some("1".into()));
        assert_eq!(p.remove("a"), None);
        assert!(!p.contains("a"));
        assert_eq!(p.len(), 1);
    }
}
