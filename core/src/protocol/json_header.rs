//! The JSON command header (serialize type 0, PROTOCOL.md §1.3).
//!
//! Written fastjson style: keys alphabetical, nulls omitted, ext values as
//! strings:
//! `{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"RUST","opaque":3,"serializeTypeCurrentRPC":"JSON","version":479}`.
//! `extFields` is always written (possibly `{}`); `remark` only when set.
//! A [`LanguageCode::Unknown`] is written as its number.
//!
//! Decoding is tolerant: unknown keys are ignored; missing `code`, `version`,
//! `opaque` and `flag` read as 0 and a missing `language` as `JAVA` (Java's
//! own defaults); `language` may be a name or a number, an unknown name
//! reads as `OTHER`; `extFields`/`remark` may be absent or `null`. Non-string
//! ext values are kept as their JSON text, `null` ext values are dropped.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::{BufMut, Bytes};

use super::command::{CommandMeta, FieldSource, HeaderDecodeError, LanguageCode, RemotingCommand};
use super::fields::{ExtFields, FieldSink, FieldValue};
use super::json::{self, write_escaped, write_string_buf, JsonValue};

/// A [`FieldSink`] writing `"key":"value"` members of a JSON object.
#[derive(Debug)]
pub struct JsonFieldSink<'a, B: BufMut> {
    out: &'a mut B,
    first: bool,
}

impl<'a, B: BufMut> JsonFieldSink<'a, B> {
    /// A sink writing members after an already written `{`.
    pub fn new(out: &'a mut B) -> Self {
        Self { out, first: true }
    }
}

impl<B: BufMut> FieldSink for JsonFieldSink<'_, B> {
    fn field(&mut self, key: &str, value: FieldValue<'_>) {
        // Every ext value is a JSON string: `"key":"value"`.
        self.out
            .put_slice(if self.first { &b"\""[..] } else { &b",\""[..] });
        self.first = false;
        write_escaped(self.out, key.as_bytes());
        self.out.put_slice(b"\":\"");
        match value {
            FieldValue::Str(s) => write_escaped(self.out, s.as_bytes()),
            FieldValue::Int(i) => self.out.put_slice(itoa::Buffer::new().format(i).as_bytes()),
            FieldValue::Bool(true) => self.out.put_slice(b"true"),
            FieldValue::Bool(false) => self.out.put_slice(b"false"),
        }
        self.out.put_u8(b'"');
    }
}

fn put_int<B: BufMut>(out: &mut B, key: &[u8], v: i64) {
    out.put_slice(key);
    out.put_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends the JSON header for `meta` and `fields` (no length prefix).
pub fn write<B: BufMut, F: FieldSource + ?Sized>(out: &mut B, meta: &CommandMeta<'_>, fields: &F) {
    put_int(out, b"{\"code\":", i64::from(meta.code));
    out.put_slice(b",\"extFields\":{");
    fields.write_to(&mut JsonFieldSink::new(out));
    put_int(out, b"},\"flag\":", i64::from(meta.flag));
    out.put_slice(b",\"language\":");
    match meta.language {
        LanguageCode::Unknown(c) => out.put_slice(itoa::Buffer::new().format(c).as_bytes()),
        l => {
            out.put_u8(b'"');
            out.put_slice(l.name().as_bytes());
            out.put_u8(b'"');
        }
    }
    put_int(out, b",\"opaque\":", i64::from(meta.opaque));
    if let Some(r) = meta.remark {
        out.put_slice(b",\"remark\":");
        write_string_buf(out, r);
    }
    put_int(
        out,
        b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":",
        i64::from(meta.version),
    );
    out.put_u8(b'}');
}

fn int_field(v: &JsonValue, key: &'static str) -> Result<i32, HeaderDecodeError> {
    v.as_i64()
        .and_then(|i| i32::try_from(i).ok())
        .ok_or(HeaderDecodeError::InvalidField(key))
}

fn ext_key_text(k: JsonValue) -> Option<String> {
    match k {
        JsonValue::String(s) => Some(s),
        JsonValue::Number(n) => Some(String::from(n.as_str())),
        _ => None,
    }
}

fn ext_value_text(v: JsonValue) -> Option<String> {
    match v {
        JsonValue::Null => None,
        JsonValue::String(s) => Some(s),
        JsonValue::Number(n) => Some(String::from(n.as_str())),
        JsonValue::Bool(b) => Some(String::from(if b { "true" } else { "false" })),
        other => {
            let mut buf = Vec::new();
            other.write_to(&mut buf);
            Some(String::from_utf8_lossy(&buf).into_owned())
        }
    }
}

/// Decodes a JSON header into a command with an empty body.
pub fn decode(header: &[u8]) -> Result<RemotingCommand, HeaderDecodeError> {
    let JsonValue::Object(members) = json::parse(header)? else {
        return Err(HeaderDecodeError::NotAnObject);
    };
    let mut cmd = RemotingCommand {
        code: 0,
        language: LanguageCode::Java,
        version: 0,
        opaque: 0,
        flag: 0,
        remark: None,
        ext_fields: ExtFields::new(),
        body: Bytes::new(),
    };
    for (k, v) in members {
        match k.key_text() {
            Some("code") => cmd.code = int_field(&v, "code")?,
            Some("version") => cmd.version = int_field(&v, "version")?,
            Some("opaque") => cmd.opaque = int_field(&v, "opaque")?,
            Some("flag") => cmd.flag = int_field(&v, "flag")?,
            Some("language") => {
                cmd.language = match v {
                    JsonValue::String(name) => {
                        LanguageCode::from_name(&name).unwrap_or(LanguageCode::Other)
                    }
                    JsonValue::Number(n) => n
                        .as_i64()
                        .and_then(|c| u8::try_from(c).ok())
                        .map(LanguageCode::from_code)
                        .ok_or(HeaderDecodeError::InvalidField("language"))?,
                    JsonValue::Null => LanguageCode::Java,
                    _ => return Err(HeaderDecodeError::InvalidField("language")),
                }
            }
            Some("remark") => {
                cmd.remark = match v {
                    JsonValue::String(s) => Some(s),
                    JsonValue::Null => None,
                    _ => return Err(HeaderDecodeError::InvalidField("remark")),
                }
            }
            Some("extFields") => {
                let mut ext = ExtFields::new();
                match v {
                    JsonValue::Object(entries) => {
                        for (ek, ev) in entries {
                            let Some(key) = ext_key_text(ek) else {
                                return Err(HeaderDecodeError::InvalidField("extFields"));
                            };
                            match ext_value_text(ev) {
                                Some(text) => ext.push(key, text),
                                None => {
                                    ext.remove(&key);
                                }
                            }
                        }
                    }
                    JsonValue::Null => {}
                    _ => return Err(HeaderDecodeError::InvalidField("extFields")),
                }
                cmd.ext_fields = ext;
            }
            _ => {}
        }
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_java_response_header() {
        let h = br#"{"code":0,"extFields":{"queueId":"2","msgId":"AC"},"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        let c = decode(h).unwrap();
        assert_eq!(c.code, 0);
        assert_eq!(c.language, LanguageCode::Java);
        assert_eq!(c.flag, 1);
        assert_eq!(c.opaque, 3);
        assert_eq!(c.version, 479);
        assert_eq!(c.ext_fields.get("queueId"), Some("2"));
        assert_eq!(c.remark, None);
    }

    #[test]
    fn missing_ext_fields_and_remark_decode_as_empty() {
        let c =
            decode(br#"{"code":17,"flag":1,"language":"GO","opaque":1,"version":317}"#).unwrap();
        assert!(c.ext_fields.is_empty());
        assert_eq!(c.remark, None);
        assert_eq!(c.language, LanguageCode::Go);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let c = decode(br#"{"code":1,"future":{"x":[1,2]},"opaque":5}"#).unwrap();
        assert_eq!((c.code, c.opaque), (1, 5));
    }

    #[test]
    fn language_may_be_a_number_or_an_unknown_name() {
        assert_eq!(
            decode(br#"{"language":9}"#).unwrap().language,
            LanguageCode::Go
        );
        assert_eq!(
            decode(br#"{"language":"COBOL"}"#).unwrap().language,
            LanguageCode::Other
        );
        assert!(decode(br#"{"language":300}"#).is_err());
    }

    #[test]
    fn non_string_ext_values_keep_their_json_text() {
        let c = decode(br#"{"extFields":{"a":4,"b":true,"c":null,"d":{"x":1},0:"z"}}"#).unwrap();
        assert_eq!(c.ext_fields.get("a"), Some("4"));
        assert_eq!(c.ext_fields.get("b"), Some("true"));
        assert_eq!(c.ext_fields.get("c"), None);
        assert_eq!(c.ext_fields.get("d"), Some(r#"{"x":1}"#));
        assert_eq!(c.ext_fields.get("0"), Some("z"));
    }

    #[test]
    fn wrongly_typed_fields_are_errors() {
        assert_eq!(
            decode(br#"{"code":"x"}"#),
            Err(HeaderDecodeError::InvalidField("code"))
        );
        assert_eq!(
            decode(br#"{"opaque":4294967296}"#),
            Err(HeaderDecodeError::InvalidField("opaque"))
        );
        assert_eq!(decode(b"[1]"), Err(HeaderDecodeError::NotAnObject));
        assert!(matches!(decode(b"{"), Err(HeaderDecodeError::Json(_))));
    }

    #[test]
    fn ext_field_ints_and_bools_are_written_as_strings() {
        let mut out = Vec::new();
        out.push(b'{');
        {
            let mut s = JsonFieldSink::new(&mut out);
            s.field("n", FieldValue::Int(-4));
            s.field("b", FieldValue::Bool(true));
            s.field("s", FieldValue::Str("a\"b"));
        }
        out.push(b'}');
        assert_eq!(out, br#"{"n":"-4","b":"true","s":"a\"b"}"#);
    }
}
