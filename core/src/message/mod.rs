//! Messages: the [`Message`] a producer sends, the [`MessageExt`] a consumer
//! receives, their property map, the stored-message and batch encodings,
//! body compression, message IDs and client-side validation
//! (PROTOCOL.md §5, §6, §7.3, §10).

use alloc::string::String;
use bytes::Bytes;

pub mod batch;
pub mod compression;
pub mod ext;
pub mod id;
pub mod properties;
pub mod property;
pub mod small_zlib;
pub mod sysflag;
pub mod validation;

pub use batch::{decode_batch, encode_batch, try_encode_batch, validate_batch};
pub use compression::CompressionType;
pub use ext::{
    decode_messages, decode_messages_with, DecodeOptions, MessageDecodeError, MessageExt,
};
pub use id::{month_start_unix_ms, OffsetMessageId, UniqueId, UniqueIdGenerator};
pub use properties::Properties;
pub use validation::{validate_group, validate_message, validate_topic, ValidationError};

/// A message as a producer builds it: topic, user flag, properties, body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Destination topic.
    pub topic: String,
    /// User flag, stored and returned verbatim by the broker.
    pub flag: i32,
    /// Properties (tags, keys, user properties, system properties).
    pub properties: Properties,
    /// Body bytes (uncompressed).
    pub body: Bytes,
}

/// A user property could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The property name is empty or blank.
    #[error("property name is empty")]
    EmptyName,
    /// The property value is empty or blank.
    #[error("value of property `{0}` is empty")]
    EmptyValue(String),
    /// The name is reserved for the system (Java's `STRING_HASH_SET`).
    #[error("property name `{0}` is reserved for the system")]
    ReservedName(String),
    /// The name or value contains `\u0001` or `\u0002`, which would corrupt
    /// the properties string.
    #[error("property `{0}` contains a separator character (\\u0001 or \\u0002)")]
    SeparatorCharacter(String),
}

impl Message {
    /// A message for `topic` with `body` and no properties.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            flag: 0,
            properties: Properties::new(),
            body: body.into(),
        }
    }

    /// Sets the tag (`TAGS`).
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.properties.insert(property::TAGS, tags);
        self
    }

    /// Sets the keys (`KEYS`), joined by a space; empty keys are skipped and
    /// no property is written if none remain.
    pub fn with_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut joined = String::new();
        for key in keys {
            let key = key.as_ref();
            if key.is_empty() {
                continue;
            }
            if !joined.is_empty() {
                joined.push(property::KEY_SEPARATOR);
            }
            joined.push_str(key);
        }
        if joined.is_empty() {
            self.properties.remove(property::KEYS);
        } else {
            self.properties.insert(property::KEYS, joined);
        }
        self
    }

    /// Sets any property, without the checks of
    /// [`Message::put_user_property`] (system properties go through here).
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name, value);
        self
    }

    /// Sets the user flag.
    pub fn with_flag(mut self, flag: i32) -> Self {
        self.flag = flag;
        self
    }

    /// Sets the delay level (`DELAY`, §7.5: 1 = 1 s ... 18 = 2 h; brokers
    /// cap higher levels at 18). Level 0 removes the property.
    pub fn with_delay_level(mut self, level: u8) -> Self {
        if level == 0 {
            self.properties.remove(property::DELAY_TIME_LEVEL);
        } else {
            let mut buf = itoa::Buffer::new();
            self.properties
                .insert(property::DELAY_TIME_LEVEL, buf.format(level));
        }
        self
    }

    /// Sets an absolute delivery time in Unix milliseconds
    /// (`TIMER_DELIVER_MS`, 5.x timer messages, at most 3 days ahead).
    pub fn with_deliver_at(mut self, unix_ms: i64) -> Self {
        let mut buf = itoa::Buffer::new();
        self.properties
            .insert(property::TIMER_DELIVER_MS, buf.format(unix_ms));
        self
    }

    /// Sets whether the broker waits for the store before answering
    /// (`WAIT`; absent means `true`).
    pub fn with_wait_store_msg_ok(mut self, wait: bool) -> Self {
        self.set_wait_store_msg_ok(wait);
        self
    }

    /// The tag, if any.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(property::TAGS)
    }

    /// The keys (the `KEYS` property split on spaces, empty parts skipped).
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.properties
            .get(property::KEYS)
            .unwrap_or_default()
            .split(property::KEY_SEPARATOR)
            .filter(|k| !k.is_empty())
    }

    /// A property value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)
    }

    /// The delay level, 0 if absent or unparsable.
    pub fn delay_level(&self) -> i32 {
        self.properties
            .get(property::DELAY_TIME_LEVEL)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether the broker waits for the store (`WAIT`, default `true`;
    /// only the exact string `false` means false, as in Java).
    pub fn wait_store_msg_ok(&self) -> bool {
        self.properties.get(property::WAIT_STORE_MSG_OK) != Some("false")
    }

    /// Sets `WAIT`.
    pub fn set_wait_store_msg_ok(&mut self, wait: bool) {
        self.properties.insert(
            property::WAIT_STORE_MSG_OK,
            if wait { "true" } else { "false" },
        );
    }

    /// The client unique ID (`UNIQ_KEY`), if set.
    pub fn unique_key(&self) -> Option<&str> {
        self.properties.get(property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
    }

    /// Sets the client unique ID (`UNIQ_KEY`).
    pub fn set_unique_key(&mut self, key: impl Into<String>) {
        self.properties
            .insert(property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX, key);
    }

    /// Sets a user property, rejecting what Java's `putUserProperty` rejects
    /// (blank names or values, system names of [`property::RESERVED`]) and
    /// names or values containing the wire separators.
    pub fn put_user_property(&mut self, name: &str, value: &str) -> Result<(), MessageError> {
        if name.trim().is_empty() {
            return Err(MessageError::EmptyName);
        }
        if value.trim().is_empty() {
            return Err(MessageError::EmptyValue(name.into()));
        }
        if property::is_reserved(name) {
            return Err(MessageError::ReservedName(name.into()));
        }
        let has_separator = |s: &str| s.bytes().any(|b| b == 0x01 || b == 0x02);
        if has_separator(name) || has_separator(value) {
            return Err(MessageError::SeparatorCharacter(name.into()));
        }
        self.properties.insert(name, value);
        Ok(())
    }
}

/// The tag code brokers filter on: Java `String.hashCode` over the UTF-16
/// code units of `tag` (`h = 31 * h + c`, wrapping). `"TagA"` → 2598919.
pub fn tag_hash_code(tag: &str) -> i32 {
    tag.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn tag_hash_matches_java_string_hash_code() {
        assert_eq!(tag_hash_code("TagA"), 2_598_919);
        assert_eq!(tag_hash_code(""), 0);
        // "hello world".hashCode() in Java.
        assert_eq!(tag_hash_code("hello world"), 1_794_106_052);
    }

    #[test]
    fn tag_hash_wraps_and_uses_utf16_code_units() {
        // A non-BMP character counts as two UTF-16 code units.
        let manual = |units: &[u16]| {
            units
                .iter()
                .fold(0i32, |h, &c| h.wrapping_mul(31).wrapping_add(c as i32))
        };
        let s = "tag-\u{1F600}-\u{e9}";
        let units: Vec<u16> = s.encode_utf16().collect();
        assert_eq!(units.len(), 8);
        assert_eq!(tag_hash_code(s), manual(&units));
        assert!(tag_hash_code("a long tag that overflows i32 several times") != 0);
    }

    #[test]
    fn builder_sets_tags_keys_and_flag() {
        let m = Message::new("T", "body")
            .with_tags("TagA")
            .with_keys(["k1", "", "k2"])
            .with_flag(7);
        assert_eq!(m.tags(), Some("TagA"));
        assert_eq!(m.property(property::KEYS), Some("k1 k2"));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(m.flag, 7);
        assert_eq!(&m.body[..], b"body");
    }

    #[test]
    fn keys_accepts_owned_strings_and_empty_input_removes_property() {
        let m = Message::new("T", "b").with_keys(alloc::vec![String::from("a")]);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a"]);
        let m = m.with_keys(core::iter::empty::<&str>());
        assert_eq!(m.property(property::KEYS), None);
        assert_eq!(m.keys().count(), 0);
    }

    #[test]
    fn delay_level_is_written_as_decimal_and_zero_clears_it() {
        let m = Message::new("T", "b").with_delay_level(3);
        assert_eq!(m.property("DELAY"), Some("3"));
        assert_eq!(m.delay_level(), 3);
        let m = m.with_delay_level(0);
        assert_eq!(m.property("DELAY"), None);
        assert_eq!(m.delay_level(), 0);
    }

    #[test]
    fn deliver_at_sets_timer_deliver_ms() {
        let m = Message::new("T", "b").with_deliver_at(1_700_000_000_123);
        assert_eq!(m.property("TIMER_DELIVER_MS"), Some("1700000000123"));
    }

    #[test]
    fn wait_store_msg_ok_defaults_to_true() {
        let m = Message::new("T", "b");
        assert!(m.wait_store_msg_ok());
        let m = m.with_wait_store_msg_ok(false);
        assert!(!m.wait_store_msg_ok());
        assert_eq!(m.property("WAIT"), Some("false"));
    }

    #[test]
    fn put_user_property_accepts_ordinary_names() {
        let mut m = Message::new("T", "b");
        m.put_user_property("color", "red").unwrap();
        m.put_user_property(property::SHARDING_KEY, "order-1")
            .unwrap();
        assert_eq!(m.property("color"), Some("red"));
    }

    #[test]
    fn put_user_property_rejects_reserved_names() {
        let mut m = Message::new("T", "b");
        assert_eq!(
            m.put_user_property("TAGS", "x"),
            Err(MessageError::ReservedName("TAGS".into()))
        );
        assert_eq!(
            m.put_user_property("UNIQ_KEY", "x"),
            Err(MessageError::ReservedName("UNIQ_KEY".into()))
        );
        assert!(m.properties.is_empty());
    }

    #[test]
    fn put_user_property_rejects_blank_names_and_values() {
        let mut m = Message::new("T", "b");
        assert_eq!(m.put_user_property("", "x"), Err(MessageError::EmptyName));
        assert_eq!(m.put_user_property("  ", "x"), Err(MessageError::EmptyName));
        assert_eq!(
            m.put_user_property("k", " "),
            Err(MessageError::EmptyValue("k".into()))
        );
    }

    #[test]
    fn put_user_property_rejects_separator_characters() {
        let mut m = Message::new("T", "b");
        assert!(matches!(
            m.put_user_property("k", "a\u{1}b"),
            Err(MessageError::SeparatorCharacter(_))
        ));
        assert!(matches!(
            m.put_user_property("k\u{2}", "v"),
            Err(MessageError::SeparatorCharacter(_))
        ));
    }
}
