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
///
/// Storage is two allocations whatever the number of properties: every name
/// and value lives in one `String`, and the entries are byte ranges into it
/// (decoding a valid UTF-8 wire string copies it once and points into the
/// copy). Replaced and removed text stays in the buffer until it exceeds
/// the live text, then the buffer is compacted.
#[derive(Clone, Default)]
pub struct Properties {
    text: String,
    entries: Vec<Entry>,
}

/// One property: `text[name.0..name.1]` and `text[value.0..value.1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    name: (usize, usize),
    value: (usize, usize),
}

impl Properties {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            text: String::new(),
            entries: Vec::new(),
        }
    }

    /// An empty map with room for `n` properties.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            text: String::with_capacity(n * 16),
            entries: Vec::with_capacity(n),
        }
    }

    fn slice(&self, (start, end): (usize, usize)) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn name_of(&self, e: &Entry) -> &str {
        self.slice(e.name)
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| self.name_of(e) == name)
    }

    /// Appends `s` to the text, returning its range.
    fn push_text(&mut self, s: &str) -> (usize, usize) {
        let start = self.text.len();
        self.text.push_str(s);
        (start, self.text.len())
    }

    /// Rebuilds the text from the live entries once dead text outweighs it.
    fn maybe_compact(&mut self) {
        let live: usize = self
            .entries
            .iter()
            .map(|e| e.name.1 - e.name.0 + e.value.1 - e.value.0)
            .sum();
        if self.text.len() <= 2 * live + 64 {
            return;
        }
        let mut text = String::with_capacity(live);
        for e in &mut self.entries {
            for span in [&mut e.name, &mut e.value] {
                let start = text.len();
                text.push_str(self.text.get(span.0..span.1).unwrap_or_default());
                *span = (start, text.len());
            }
        }
        self.text = text;
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| self.name_of(e) == name)
            .map(|e| self.slice(e.value))
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Sets `name` to `value`; an existing value is replaced in place and
    /// returned. No name checks: see `Message::put_user_property` for those.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let name = name.into();
        let value = value.into();
        if let Some(i) = self.position(&name) {
            let span = self.push_text(&value);
            let slot = self.entries.get_mut(i)?;
            let old_span = core::mem::replace(&mut slot.value, span);
            let old = String::from(self.slice(old_span));
            self.maybe_compact();
            Some(old)
        } else {
            let name = self.push_text(&name);
            let value = self.push_text(&value);
            self.entries.push(Entry { name, value });
            None
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.position(name)?;
        let e = self.entries.remove(i);
        let old = String::from(self.slice(e.value));
        if self.entries.is_empty() {
            self.text.clear();
        } else {
            self.maybe_compact();
        }
        Some(old)
    }

    /// `(name, value)` pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries
            .iter()
            .map(|e| (self.slice(e.name), self.slice(e.value)))
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
        self.text.clear();
        self.entries.clear();
    }

    /// Length in bytes of [`Properties::encode_into`]'s output.
    pub fn encoded_len(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.name.1 - e.name.0 + e.value.1 - e.value.0 + 2)
            .sum()
    }

    /// Appends the wire string `name\u0001value\u0002...` (with Java's
    /// trailing `\u0002`) to `out`.
    ///
    /// Names and values are written verbatim: a name or value that contains
    /// `\u0001`/`\u0002` or is empty does not survive a round trip.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        for (k, v) in self.iter() {
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
        match core::str::from_utf8(bytes) {
            Ok(text) => Self::decode_str(text),
            Err(_) => Self::decode_lossy(bytes),
        }
    }

    /// [`Properties::decode`] of valid UTF-8: one copy of the wire string,
    /// entries pointing into it (the separators are ASCII, so every range
    /// falls on a character boundary).
    fn decode_str(text: &str) -> Properties {
        let bytes = text.as_bytes();
        let mut entries = Vec::with_capacity(8);
        // One pass: the start of the current segment and its first `\u0001`.
        let mut seg_start = 0;
        let mut sep = None;
        for (i, &b) in bytes.iter().enumerate() {
            if b == PROPERTY_SEPARATOR {
                if let Some(entry) = segment_entry(seg_start, sep, i) {
                    entries.push(entry);
                }
                seg_start = i + 1;
                sep = None;
            } else if b == NAME_VALUE_SEPARATOR && sep.is_none() {
                sep = Some(i);
            }
        }
        if let Some(entry) = segment_entry(seg_start, sep, bytes.len()) {
            entries.push(entry);
        }
        let mut p = Properties {
            text: String::from(text),
            entries,
        };
        p.dedup_last_wins();
        p
    }

    /// [`Properties::decode`] of a wire string with invalid UTF-8: names and
    /// values are converted one by one.
    fn decode_lossy(bytes: &[u8]) -> Properties {
        let mut p = Properties::new();
        let mut start = 0;
        for segment in bytes.split(|&b| b == PROPERTY_SEPARATOR) {
            let seg_start = start;
            start += segment.len() + 1;
            let Some(e) = split_segment(segment, seg_start) else {
                continue;
            };
            let name = String::from_utf8_lossy(bytes.get(e.name.0..e.name.1).unwrap_or_default());
            let value =
                String::from_utf8_lossy(bytes.get(e.value.0..e.value.1).unwrap_or_default());
            let name = p.push_text(&name);
            let value = p.push_text(&value);
            p.entries.push(Entry { name, value });
        }
        p.dedup_last_wins();
        p
    }

    /// Drops all but the last occurrence of each name, keeping the order of
    /// the survivors. Small maps (the normal case) are scanned pairwise with
    /// no allocation; large ones are sorted, O(n log n), so hostile inputs
    /// with thousands of entries stay cheap.
    fn dedup_last_wins(&mut self) {
        const SMALL: usize = 16;
        let n = self.entries.len();
        if n < 2 {
            return;
        }
        if n <= SMALL {
            let mut keep = [true; SMALL];
            let mut any_dup = false;
            for (i, a) in self.entries.iter().enumerate() {
                let name = self.name_of(a);
                if self
                    .entries
                    .get(i + 1..)
                    .unwrap_or_default()
                    .iter()
                    .any(|b| self.name_of(b) == name)
                {
                    if let Some(k) = keep.get_mut(i) {
                        *k = false;
                    }
                    any_dup = true;
                }
            }
            if any_dup {
                let mut i = 0;
                self.entries.retain(|_| {
                    let k = keep.get(i).copied().unwrap_or(true);
                    i += 1;
                    k
                });
            }
            return;
        }
        let mut order: Vec<usize> = (0..n).collect();
        // Stable sort by name: equal names stay in index order.
        let entries = &self.entries;
        let name = |i: usize| entries.get(i).map_or("", |e| self.name_of(e));
        crate::collections::sort_by(&mut order, |&a, &b| name(a).cmp(name(b)));
        let mut keep = alloc::vec![true; n];
        let mut any_dup = false;
        for pair in order.windows(2) {
            if let [a, b] = *pair {
                if name(a) == name(b) {
                    if let Some(k) = keep.get_mut(a) {
                        *k = false;
                    }
                    any_dup = true;
                }
            }
        }
        if any_dup {
            let mut i = 0;
            self.entries.retain(|_| {
                let k = keep.get(i).copied().unwrap_or(true);
                i += 1;
                k
            });
        }
    }
}

/// The entry of the segment `start..end` whose first `\u0001` is at `sep`,
/// if Java would keep it (see [`split_segment`]).
fn segment_entry(start: usize, sep: Option<usize>, end: usize) -> Option<Entry> {
    let sep = sep?;
    if end - start < 3 || sep == start || sep + 1 >= end {
        return None;
    }
    Some(Entry {
        name: (start, sep),
        value: (sep + 1, end),
    })
}

/// The entry of one `\u0002`-separated segment starting at byte `start`
/// of the wire string, if Java would keep it (at least 3 bytes, a
/// `\u0001`, non-empty name and value).
fn split_segment(segment: &[u8], start: usize) -> Option<Entry> {
    if segment.len() < 3 {
        return None;
    }
    let sep = segment.iter().position(|&b| b == NAME_VALUE_SEPARATOR)?;
    if sep == 0 || sep + 1 >= segment.len() {
        return None;
    }
    Some(Entry {
        name: (start, start + sep),
        value: (start + sep + 1, start + segment.len()),
    })
}

impl PartialEq for Properties {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Properties {}

impl core::hash::Hash for Properties {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (k, v) in self.iter() {
            k.hash(state);
            v.hash(state);
        }
    }
}

impl core::fmt::Debug for Properties {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
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
    use alloc::format;
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
    fn decode_keeps_last_value_of_repeated_name_in_large_maps() {
        let mut wire = Vec::new();
        for i in 0..40 {
            wire.extend_from_slice(format!("k{}\x01v{i}\x02", i % 20).as_bytes());
        }
        let p = Properties::decode(&wire);
        assert_eq!(p.len(), 20);
        assert_eq!(p.get("k3"), Some("v23"));
        assert_eq!(p.iter().next(), Some(("k0", "v20")));
    }

    #[test]
    fn repeated_replacement_keeps_every_other_property_intact() {
        let mut p = Properties::decode(b"a\x011\x02b\x012\x02");
        for i in 0..1000 {
            p.insert("a", format!("value-{i}"));
        }
        p.remove("zzz");
        assert_eq!(p.get("a"), Some("value-999"));
        assert_eq!(p.get("b"), Some("2"));
        assert_eq!(p.encode(), b"a\x01value-999\x02b\x012\x02".to_vec());
    }

    #[test]
    fn equality_ignores_how_the_map_was_built() {
        let mut built = props(&[("a", "0"), ("b", "2")]);
        built.insert("a", "1");
        assert_eq!(built, Properties::decode(b"a\x011\x02b\x012\x02"));
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
