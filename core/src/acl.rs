//! ACL 1.0 request signing (HMAC-SHA1 over sorted ext-field values and the body).
//!
//! Java's `AclClientRPCHook` signs every request, right before it is sent:
//!
//! 1. ext field `AccessKey` = access key, and `SecurityToken` = token if any;
//! 2. all ext fields as sent, sorted by key in Java `String` order, `Signature`
//!    skipped, **values only** concatenated as UTF-8;
//! 3. the raw body bytes appended;
//! 4. ext field `Signature` = Base64(HmacSHA1(key = UTF-8 secret key, data)).
//!
//! ACL 2.0 (5.3+) uses the same signature with `AccessKey` = user name and
//! the password as secret key.
//!
//! Two ways in:
//! - [`AclSigner`] is a [`FieldSink`]: write a typed header (and any extra
//!   fields) into it, then [`AclSigner::signature`]. No [`ExtFields`] map is
//!   built; [`write_auth_fields`] then appends the three ACL fields to the
//!   real header writer.
//! - [`sign_ext_fields`] signs a decoded-style [`ExtFields`] in place.

use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

use base64::Engine as _;
use hmac::digest::Digest as _;
use hmac::{Hmac, Mac as _};
use sha1::Sha1;

use crate::protocol::fields::{ExtFields, FieldSink, FieldValue};

/// Ext-field key carrying the access key.
pub const ACCESS_KEY: &str = "AccessKey";
/// Ext-field key carrying the (optional) security token.
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Ext-field key carrying the signature; never part of the signed content.
pub const SIGNATURE: &str = "Signature";

type HmacSha1 = Hmac<Sha1>;

/// ACL credentials (Java `SessionCredentials`).
#[derive(Clone, PartialEq, Eq)]
pub struct AclCredentials {
    /// Access key (ACL 2.0: user name), sent as `AccessKey`.
    pub access_key: String,
    /// Secret key (ACL 2.0: password); the HMAC key, never sent.
    pub secret_key: String,
    /// Optional security token, sent as `SecurityToken` when present.
    pub security_token: Option<String>,
}

impl AclCredentials {
    /// Credentials without a security token.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
        }
    }

    /// Sets the security token.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(token.into());
        self
    }
}

impl core::fmt::Debug for AclCredentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The secret never appears in logs.
        f.debug_struct("AclCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Java `String.compareTo`: lexicographic over UTF-16 code units (equal to
/// bytewise order for ASCII, different from UTF-8 order above U+FFFF).
pub fn java_string_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// Collects the ext fields of one request and computes its ACL signature.
///
/// Behaves like Java's `TreeMap` of ext fields: a key written twice keeps its
/// last value; `Signature` is ignored; `AccessKey` and `SecurityToken` are
/// taken from the credentials, whatever was written for them.
#[derive(Debug, Clone, Default)]
pub struct AclSigner {
    entries: Vec<(String, String)>,
}

impl AclSigner {
    /// An empty signer.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn put(&mut self, key: &str, value: String) {
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        } else {
            self.entries.push((String::from(key), value));
        }
    }

    /// Base64(HmacSHA1(secret, sorted values ‖ body)) over the fields written
    /// so far plus `AccessKey` and `SecurityToken` from `creds`.
    pub fn signature(&self, body: &[u8], creds: &AclCredentials) -> String {
        let mut fields: Vec<(&str, &str)> = self
            .entries
            .iter()
            .filter(|(k, _)| k != SIGNATURE && k != ACCESS_KEY && k != SECURITY_TOKEN)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fields.push((ACCESS_KEY, creds.access_key.as_str()));
        if let Some(token) = &creds.security_token {
            fields.push((SECURITY_TOKEN, token.as_str()));
        }
        crate::collections::sort_by(&mut fields, |a, b| java_string_cmp(a.0, b.0));
        let mut mac = keyed_mac(creds.secret_key.as_bytes());
        for (_, v) in &fields {
            mac.update(v.as_bytes());
        }
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

impl FieldSink for AclSigner {
    fn field(&mut self, key: &str, value: FieldValue<'_>) {
        let mut s = String::new();
        value.write_to(&mut s);
        self.put(key, s);
    }
}

/// The signature of a request whose fields come from `fields`: the one
/// signing path every request the engine writes goes through.
pub fn sign_fields<F: crate::protocol::FieldSource + ?Sized>(
    fields: &F,
    body: &[u8],
    creds: &AclCredentials,
) -> String {
    let mut signer = AclSigner::new();
    fields.write_to(&mut signer);
    signer.signature(body, creds)
}

/// The fields that carry a request's credentials and `signature`:
/// `AccessKey`, `SecurityToken` (if any), `Signature`, in that order.
pub fn auth_fields<'a>(creds: &'a AclCredentials, signature: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut auth: Vec<(&str, &str)> = Vec::with_capacity(3);
    auth.push((ACCESS_KEY, creds.access_key.as_str()));
    if let Some(token) = &creds.security_token {
        auth.push((SECURITY_TOKEN, token.as_str()));
    }
    auth.push((SIGNATURE, signature));
    auth
}

/// True for the keys [`auth_fields`] writes (a request's own copies of
/// them are replaced when it is signed).
pub fn is_auth_key(key: &str) -> bool {
    key == ACCESS_KEY || key == SECURITY_TOKEN || key == SIGNATURE
}

/// Writes `AccessKey`, `SecurityToken` (if any) and `Signature` into `sink`
/// (the header writer that already received the signed fields).
pub fn write_auth_fields<S: FieldSink + ?Sized>(
    sink: &mut S,
    creds: &AclCredentials,
    signature: &str,
) {
    sink.field(ACCESS_KEY, FieldValue::Str(&creds.access_key));
    if let Some(token) = &creds.security_token {
        sink.field(SECURITY_TOKEN, FieldValue::Str(token));
    }
    sink.field(SIGNATURE, FieldValue::Str(signature));
}

/// Signs `fields` in place: sets `AccessKey`, sets (or removes a stale)
/// `SecurityToken`, then sets `Signature` over every field and `body`.
/// Call it again after changing any field.
pub fn sign_ext_fields(fields: &mut ExtFields, body: &[u8], creds: &AclCredentials) {
    fields.remove(SIGNATURE);
    fields.insert(ACCESS_KEY, creds.access_key.as_str());
    match &creds.security_token {
        Some(token) => fields.insert(SECURITY_TOKEN, token.as_str()),
        None => {
            fields.remove(SECURITY_TOKEN);
        }
    }
    let mut signer = AclSigner::new();
    for (k, v) in fields.iter() {
        signer.put(k, String::from(v));
    }
    let signature = signer.signature(body, creds);
    fields.insert(SIGNATURE, signature);
}

/// Base64(HmacSHA1(key = `secret`, `data`)), Java `AclSigner.calSignature`.
pub fn hmac_sha1_base64(secret: &[u8], data: &[u8]) -> String {
    let mut mac = keyed_mac(secret);
    mac.update(data);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// HMAC-SHA1 keyed with `secret`. The key is prepared as RFC 2104 defines
/// (hashed when longer than a block, zero-padded), so construction is
/// infallible for any key length.
fn keyed_mac(secret: &[u8]) -> HmacSha1 {
    let mut block = hmac::digest::Key::<HmacSha1>::default();
    if secret.len() > block.len() {
        let digest = Sha1::digest(secret);
        for (dst, src) in block.iter_mut().zip(digest.iter()) {
            *dst = *src;
        }
    } else {
        for (dst, src) in block.iter_mut().zip(secret.iter()) {
            *dst = *src;
        }
    }
    <HmacSha1 as hmac::digest::KeyInit>::new(&block)
}

#[cfg(test)]
mod tests {
    //! Expected signatures were computed independently with Python 3:
    //! `base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha1).digest())`
    //! where `data` = values of the sorted keys concatenated, plus the body.

    use super::*;

    fn creds_with_token() -> AclCredentials {
        AclCredentials::new("rocketmq2", "12345678").with_security_token("tok")
    }

    #[test]
    fn hmac_matches_java_acl_signer_test_vector() {
        // Apache RocketMQ AclSignerTest: calSignature("RocketMQ", "12345678").
        assert_eq!(
            hmac_sha1_base64(b"12345678", b"RocketMQ"),
            "IUc8rrO/0gDch8CjObLQsW2rsiA="
        );
    }

    #[test]
    fn secret_longer_than_a_block_is_hashed_first() {
        // python: sig("s" * 100, b"akT")
        let secret = "s".repeat(100);
        assert_eq!(
            hmac_sha1_base64(secret.as_bytes(), b"akT"),
            "da8qm5YZC/6eRUw5E8/2hpE5jFo="
        );
    }

    #[test]
    fn signer_sorts_keys_uppercase_first_and_appends_body() {
        // Sorted keys: AccessKey, SecurityToken, a, b, bname →
        // data = "rocketmq2" "tok" "grp" "TopicTest" "broker-a" "Hello RocketMQ".
        let mut signer = AclSigner::new();
        signer.field("b", FieldValue::Str("TopicTest"));
        signer.field("bname", FieldValue::Str("broker-a"));
        signer.field("a", FieldValue::Str("grp"));
        assert_eq!(
            signer.signature(b"Hello RocketMQ", &creds_with_token()),
            "EN7GNwOeCJ5HQzDBAYoRw/CZfJ4="
        );
    }

    #[test]
    fn signer_ignores_a_signature_field() {
        // python: sig("sk", b"akT")
        let mut signer = AclSigner::new();
        signer.field("topic", FieldValue::Str("T"));
        signer.field(SIGNATURE, FieldValue::Str("old"));
        let creds = AclCredentials::new("ak", "sk");
        assert_eq!(
            signer.signature(b"", &creds),
            "vX6jW2Q9g11lvMjNC+gReuZ8fTQ="
        );
    }

    #[test]
    fn signer_stringifies_integer_and_bool_fields() {
        let mut typed = AclSigner::new();
        typed.field("n", FieldValue::Int(-5));
        typed.field("f", FieldValue::Bool(true));
        let mut strings = AclSigner::new();
        strings.field("n", FieldValue::Str("-5"));
        strings.field("f", FieldValue::Str("true"));
        let creds = AclCredentials::new("ak", "sk");
        assert_eq!(
            typed.signature(b"x", &creds),
            strings.signature(b"x", &creds)
        );
    }

    #[test]
    fn keys_order_by_utf16_code_units_not_utf8_bytes() {
        // U+1F600 is D83D DE00 in UTF-16, which sorts before U+FFFF.
        // python: sig("sk", b"akYX")
        let mut signer = AclSigner::new();
        signer.field("\u{ffff}", FieldValue::Str("X"));
        signer.field("\u{1f600}", FieldValue::Str("Y"));
        let creds = AclCredentials::new("ak", "sk");
        assert_eq!(
            signer.signature(b"", &creds),
            "7J7Wt4ScbAANQuDap8n6EP8pxgE="
        );
    }

    #[test]
    fn sign_ext_fields_adds_access_key_token_and_signature() {
        let mut fields: ExtFields = [("a", "grp"), ("b", "TopicTest"), ("bname", "broker-a")]
            .into_iter()
            .collect();
        sign_ext_fields(&mut fields, b"Hello RocketMQ", &creds_with_token());
        assert_eq!(fields.get(ACCESS_KEY), Some("rocketmq2"));
        assert_eq!(fields.get(SECURITY_TOKEN), Some("tok"));
        assert_eq!(fields.get(SIGNATURE), Some("EN7GNwOeCJ5HQzDBAYoRw/CZfJ4="));
    }

    #[test]
    fn resigning_replaces_signature_and_drops_stale_token() {
        let mut fields: ExtFields = [("topic", "T")].into_iter().collect();
        sign_ext_fields(&mut fields, b"", &creds_with_token());
        sign_ext_fields(&mut fields, b"", &AclCredentials::new("ak", "sk"));
        assert_eq!(fields.get(SECURITY_TOKEN), None);
        assert_eq!(fields.get(SIGNATURE), Some("vX6jW2Q9g11lvMjNC+gReuZ8fTQ="));
        assert_eq!(fields.len(), 3);
    }

    #[test]
    fn auth_fields_written_to_sink_match_sign_ext_fields() {
        let creds = creds_with_token();
        let mut signer = AclSigner::new();
        signer.field("a", FieldValue::Str("grp"));
        let sig = signer.signature(b"body", &creds);
        let mut written: ExtFields = [("a", "grp")].into_iter().collect();
        write_auth_fields(&mut written, &creds, &sig);
        let mut signed: ExtFields = [("a", "grp")].into_iter().collect();
        sign_ext_fields(&mut signed, b"body", &creds);
        assert_eq!(written, signed);
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let text = alloc::format!("{:?}", creds_with_token());
        assert!(!text.contains("12345678"));
        assert!(!text.contains("tok\""));
        assert!(text.contains("rocketmq2"));
    }
}
