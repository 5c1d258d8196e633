//! The JSON command header (serialize type 0, PROTOCOL.md §1.3).
//!
//! Written fastjson style: keys alphabetical, nulls omitted, ext values as
//! strings:
//! `{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"RUST","opaque":3,"serializeTypeCurrentRPC":"JSON","version":479}`.
//! `extFields` and `remark` are written only when non-empty, as fastjson does.
//! A [`LanguageCode::Unknown`] is written as its number.
//!
//! Decoding is tolerant: unknown keys are ignored; missing `code`, `version`,
//! `opaque` and `flag` read as 0 and a missing `language` as `JAVA` (Java's
//! own defaults); `language` may be a name or a number, an unknown name
//! reads as `OTHER`; `extFields`/`remark` may be absent or `null`. Non-string
//! ext values are kept as their JSON text, `null` ext values are dropped.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::BytesMut;
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
            // Most numeric fields are single digits (queue ids, flags).
            FieldValue::Int(i @ 0..=9) => self.out.put_u8(b'0' + i as u8),
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

/// Appends the JSON header for `meta` and `fields` (no length prefix), as
/// fastjson writes it: keys in alphabetical order, `extFields` and `remark`
/// omitted when empty.
pub fn write<F: FieldSource + ?Sized>(out: &mut BytesMut, meta: &CommandMeta<'_>, fields: &F) {
    put_int(out, b"{\"code\":", i64::from(meta.code));
    let ext_at = out.len();
    out.put_slice(b",\"extFields\":{");
    let mut sink = JsonFieldSink::new(&mut *out);
    fields.write_to(&mut sink);
    if sink.first {
        out.truncate(ext_at);
    } else {
        out.put_u8(b'}');
    }
    put_int(out, b",\"flag\":", i64::from(meta.flag));
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
///
/// Headers as brokers and clients write them (string keys, no escapes,
/// integer numbers, string ext values) are read in one pass with no
/// intermediate tree; anything else goes through the general JSON parser,
/// with the same result.
pub fn decode(header: &[u8]) -> Result<RemotingCommand, HeaderDecodeError> {
    if let Some(cmd) = canonical::decode(header, None) {
        return Ok(cmd);
    }
    match fast::decode(header, None) {
        Some(cmd) => Ok(cmd),
        None => decode_tree(header),
    }
}

/// [`decode`] of a header held in `Bytes` (a slice of the received frame):
/// on the one-pass path the ext fields point into `header` instead of
/// copying it.
pub fn decode_bytes(header: &Bytes) -> Result<RemotingCommand, HeaderDecodeError> {
    if let Some(cmd) = canonical::decode(header, Some(header)) {
        return Ok(cmd);
    }
    match fast::decode(header, Some(header)) {
        Some(cmd) => Ok(cmd),
        None => decode_tree(header),
    }
}

/// The decoder of headers exactly as fastjson (and [`write`]) lays them
/// out: no whitespace, keys in alphabetical order, `code`, `flag`,
/// `language` (a name), `opaque`, `serializeTypeCurrentRPC` and `version`
/// present, `extFields` (string values) and `remark` optional. Every key
/// is matched as a literal where it must be; anything else returns `None`
/// and the header goes to [`fast`], which decides. UTF-8 is checked only
/// for string contents holding a non-ASCII byte: everything outside
/// strings is matched ASCII, so the header as a whole is then valid.
mod canonical {
    use super::{ExtFields, LanguageCode, RemotingCommand};
    use alloc::string::String;
    use bytes::Bytes;

    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// High bit of every byte equal to `b` in `w` (exact for the lowest
    /// one; bytes above it may be marked spuriously).
    #[inline(always)]
    fn eq_mask(w: u64, b: u8) -> u64 {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH
    }

    /// The index of the first `"` or `\\` in `s`, and whether a byte
    /// before it (or a few after it) is not ASCII.
    #[inline(always)]
    fn quote_or_backslash(s: &[u8]) -> Option<(usize, bool)> {
        let mut rest = s;
        // High bits of the bytes scanned; may include a few after the
        // match, which only costs a needless UTF-8 check.
        let mut high = 0u64;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            let w = u64::from_le_bytes(*word);
            high |= w;
            let m = eq_mask(w, b'"') | eq_mask(w, b'\\');
            if m != 0 {
                let at = s.len() - rest.len() + (m.trailing_zeros() / 8) as usize;
                return Some((at, high & HIGH != 0));
            }
            rest = tail;
        }
        let at = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
        let non_ascii = rest.get(..at)?.iter().any(|b| !b.is_ascii());
        Some((s.len() - rest.len() + at, non_ascii || high & HIGH != 0))
    }

    /// `-?(0|[1-9][0-9]{0,9})` fitting `i32`, and the rest after it.
    #[inline(always)]
    fn int(s: &[u8]) -> Option<(i32, &[u8])> {
        let (negative, s) = match s.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, s),
        };
        let mut magnitude = 0i64;
        let mut rest = s;
        while let [d @ b'0'..=b'9', tail @ ..] = rest {
            // Wrapping: a number of more than 10 digits is rejected below.
            magnitude = magnitude.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
            rest = tail;
        }
        let digits = s.len() - rest.len();
        if digits == 0 || digits > 10 || (digits > 1 && s.first() == Some(&b'0')) {
            return None;
        }
        let v = i32::try_from(if negative { -magnitude } else { magnitude }).ok()?;
        Some((v, rest))
    }

    /// A string's content (after its opening quote) and the rest after
    /// its closing quote; `None` if it holds an escape or invalid UTF-8.
    #[inline(always)]
    fn string(s: &[u8]) -> Option<(&[u8], &[u8])> {
        let (len, non_ascii) = quote_or_backslash(s)?;
        let (content, rest) = s.split_at_checked(len)?;
        let rest = rest.strip_prefix(b"\"")?;
        if non_ascii {
            core::str::from_utf8(content).ok()?;
        }
        Some((content, rest))
    }

    /// `shared`, when given, holds the same bytes as `header`.
    pub(super) fn decode(header: &[u8], shared: Option<&Bytes>) -> Option<RemotingCommand> {
        let at = |rest: &[u8]| header.len() - rest.len();
        let rest = header.strip_prefix(b"{\"code\":")?;
        let (code, mut rest) = int(rest)?;
        let mut ext_fields = ExtFields::new();
        if let Some(r) = rest.strip_prefix(b",\"extFields\":{") {
            ext_fields = match shared {
                Some(bytes) => ExtFields::shared(bytes.clone(), 8),
                None => ExtFields::with_capacity(8, r.len()),
            };
            rest = match r.strip_prefix(b"}") {
                Some(r) => r,
                None => {
                    let mut r = r;
                    loop {
                        let k = r.strip_prefix(b"\"")?;
                        let (key, after) = string(k)?;
                        let v = after.strip_prefix(b":\"")?;
                        let (value, after) = string(v)?;
                        if shared.is_some() {
                            ext_fields.push_shared(
                                (at(k), at(k) + key.len()),
                                (at(v), at(v) + value.len()),
                            );
                        } else {
                            ext_fields.push_str(
                                core::str::from_utf8(key).ok()?,
                                core::str::from_utf8(value).ok()?,
                            );
                        }
                        match after.split_first()? {
                            (b',', next) => r = next,
                            (b'}', next) => break next,
                            _ => return None,
                        }
                    }
                }
            };
        }
        let rest = rest.strip_prefix(b",\"flag\":")?;
        let (flag, rest) = int(rest)?;
        let rest = rest.strip_prefix(b",\"language\":\"")?;
        let (language, rest) = match rest.strip_prefix(b"JAVA\"") {
            Some(r) => (LanguageCode::Java, r),
            None => {
                let (name, r) = string(rest)?;
                let name = core::str::from_utf8(name).ok()?;
                (
                    LanguageCode::from_name(name).unwrap_or(LanguageCode::Other),
                    r,
                )
            }
        };
        let rest = rest.strip_prefix(b",\"opaque\":")?;
        let (opaque, mut rest) = int(rest)?;
        let mut remark = None;
        if let Some(r) = rest.strip_prefix(b",\"remark\":\"") {
            let (text, r) = string(r)?;
            remark = Some(String::from(core::str::from_utf8(text).ok()?));
            rest = r;
        }
        let rest = rest.strip_prefix(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":")?;
        let (version, rest) = int(rest)?;
        (rest == b"}").then_some(RemotingCommand {
            code,
            language,
            version,
            opaque,
            flag,
            remark,
            ext_fields,
            body: Bytes::new(),
        })
    }
}

/// The one-pass decoder of common headers. Every `None` means "not the
/// common shape" (or invalid); the caller then runs the general parser,
/// which decides.
mod fast {
    use super::{ExtFields, LanguageCode, RemotingCommand};
    use alloc::string::String;
    use bytes::Bytes;

    struct Cursor<'a> {
        text: &'a str,
        input: &'a [u8],
        pos: usize,
    }

    /// Index of the first `"` or `\\` in `bytes`, eight bytes at a time.
    pub(super) fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let mut i = 0;
        while let Some(&[a, b, c, d, e, f, g, h]) = bytes.get(i..i + 8) {
            let w = u64::from_le_bytes([a, b, c, d, e, f, g, h]);
            let q = w ^ (ONES * u64::from(b'"'));
            let s = w ^ (ONES * u64::from(b'\\'));
            // Exact for the lowest matching byte (borrows only run upwards).
            let m = ((q.wrapping_sub(ONES) & !q) | (s.wrapping_sub(ONES) & !s)) & HIGH;
            if m != 0 {
                return Some(i + (m.trailing_zeros() / 8) as usize);
            }
            i += 8;
        }
        let tail = bytes.get(i..)?;
        tail.iter()
            .position(|&b| b == b'"' || b == b'\\')
            .map(|p| i + p)
    }

    impl<'a> Cursor<'a> {
        fn peek(&self) -> Option<u8> {
            self.input.get(self.pos).copied()
        }

        fn ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.pos += 1;
            }
        }

        /// Skips whitespace, then consumes `b` if it is next.
        fn eat(&mut self, b: u8) -> bool {
            self.ws();
            if self.peek() == Some(b) {
                self.pos += 1;
                true
            } else {
                false
            }
        }

        fn literal(&mut self, lit: &[u8]) -> Option<()> {
            let end = self.pos.checked_add(lit.len())?;
            (self.input.get(self.pos..end)? == lit).then(|| self.pos = end)
        }

        /// The byte range of a string without escapes (after optional
        /// whitespace). The input is valid UTF-8 and quotes are ASCII, so
        /// the range falls on character boundaries.
        fn string_range(&mut self) -> Option<(usize, usize)> {
            self.ws();
            if self.peek() != Some(b'"') {
                return None;
            }
            let start = self.pos + 1;
            let end = start + quote_or_backslash(self.input.get(start..)?)?;
            if self.input.get(end) != Some(&b'"') {
                return None;
            }
            self.pos = end + 1;
            Some((start, end))
        }

        /// A string without escapes (after optional whitespace).
        fn string(&mut self) -> Option<&'a str> {
            let (start, end) = self.string_range()?;
            self.text.get(start..end)
        }

        /// An integer literal that fits `i32` (no fraction or exponent).
        fn int(&mut self) -> Option<i32> {
            self.ws();
            let start = self.pos;
            if self.peek() == Some(b'-') {
                self.pos += 1;
            }
            let digits_start = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            let digits = self.input.get(digits_start..self.pos)?;
            let leading_zero = digits.len() > 1 && digits.first() == Some(&b'0');
            if digits.is_empty() || digits.len() > 10 || leading_zero {
                return None;
            }
            if let Some(b'.' | b'e' | b'E') = self.peek() {
                return None;
            }
            // At most 10 digits: no i64 overflow.
            let magnitude = digits
                .iter()
                .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
            let negative = digits_start != start;
            i32::try_from(if negative { -magnitude } else { magnitude }).ok()
        }

        /// Skips `-?(0|[1-9][0-9]*)` not followed by a fraction or exponent.
        fn skip_integer(&mut self) -> Option<()> {
            if self.peek() == Some(b'-') {
                self.pos += 1;
            }
            let start = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            let digits = self.pos - start;
            let leading_zero = digits > 1 && self.input.get(start) == Some(&b'0');
            let fraction = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
            (digits > 0 && !leading_zero && !fraction).then_some(())
        }

        /// Skips a scalar value: an escape-free string, a number, `true`,
        /// `false` or `null`.
        fn skip_scalar(&mut self) -> Option<()> {
            self.ws();
            match self.peek()? {
                b'"' => self.string().map(|_| ()),
                b'-' | b'0'..=b'9' => self.skip_integer(),
                b't' => self.literal(b"true"),
                b'f' => self.literal(b"false"),
                b'n' => self.literal(b"null"),
                _ => None,
            }
        }

        fn null(&mut self) -> bool {
            self.ws();
            self.literal(b"null").is_some()
        }

        /// `{"k":"v",...}` with string values only; pointing into `shared`
        /// (the whole input) when given.
        fn ext_fields(&mut self, shared: Option<&Bytes>) -> Option<ExtFields> {
            if !self.eat(b'{') {
                return None;
            }
            let mut ext = match shared {
                Some(bytes) => ExtFields::shared(bytes.clone(), 8),
                // Keys and values are shorter than the remaining input.
                None => ExtFields::with_capacity(8, self.input.len() - self.pos),
            };
            if self.eat(b'}') {
                return Some(ext);
            }
            loop {
                let key = self.string_range()?;
                if !self.eat(b':') {
                    return None;
                }
                let value = self.string_range()?;
                if shared.is_some() {
                    ext.push_shared(key, value);
                } else {
                    ext.push_str(
                        self.text.get(key.0..key.1)?,
                        self.text.get(value.0..value.1)?,
                    );
                }
                if self.eat(b',') {
                    continue;
                }
                return self.eat(b'}').then_some(ext);
            }
        }
    }

    /// `shared`, when given, holds the same bytes as `header`.
    pub(super) fn decode(header: &[u8], shared: Option<&Bytes>) -> Option<RemotingCommand> {
        let mut c = Cursor {
            text: core::str::from_utf8(header).ok()?,
            input: header,
            pos: 0,
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
        let mut seen_ext = false;
        if !c.eat(b'{') {
            return None;
        }
        if !c.eat(b'}') {
            loop {
                let key = c.string()?;
                if !c.eat(b':') {
                    return None;
                }
                match key {
                    "code" => cmd.code = c.int()?,
                    "version" => cmd.version = c.int()?,
                    "opaque" => cmd.opaque = c.int()?,
                    "flag" => cmd.flag = c.int()?,
                    "language" => {
                        let name = c.string()?;
                        cmd.language = LanguageCode::from_name(name).unwrap_or(LanguageCode::Other);
                    }
                    "remark" => {
                        cmd.remark = if c.null() {
                            None
                        } else {
                            Some(String::from(c.string()?))
                        };
                    }
                    "extFields" => {
                        if seen_ext {
                            return None;
                        }
                        seen_ext = true;
                        if !c.null() {
                            cmd.ext_fields = c.ext_fields(shared)?;
                        }
                    }
                    _ => c.skip_scalar()?,
                }
                if c.eat(b',') {
                    continue;
                }
                if c.eat(b'}') {
                    break;
                }
                return None;
            }
        }
        c.ws();
        (c.pos == header.len()).then_some(cmd)
    }
}

/// Decodes a JSON header through the general parser (any valid input).
fn decode_tree(header: &[u8]) -> Result<RemotingCommand, HeaderDecodeError> {
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

    /// Headers the one-pass decoder reads and headers it hands to the
    /// general parser decode alike.
    #[test]
    fn the_fast_path_agrees_with_the_general_parser() {
        let cases: [&[u8]; 14] = [
            br#"{"code":0,"extFields":{"queueId":"2","msgId":"AC"},"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":479}"#,
            br#" { "code" : -12 , "extFields" : { } , "remark" : "FOUND" } "#,
            br#"{"code":1,"code":2,"remark":null,"extFields":null}"#,
            br#"{"a":true,"b":false,"c":null,"d":-7,"e":"x","code":3}"#,
            br#"{"extFields":{"k":"1","k":"2"},"language":"COBOL"}"#,
            br#"{}"#,
            br#"{"remark":"line
break","code":4}"#,
            br#"{"extFields":{"k":"a"b"}}"#,
            br#"{"code":1.5}"#,
            br#"{"code":01}"#,
            br#"{"x":-}"#,
            br#"{"x":1e5,"code":2}"#,
            br#"{"code":1,}"#,
            br#"{"code":1} x"#,
        ];
        for h in cases {
            let tree = decode_tree(h);
            if let Some(fast) = fast::decode(h, None) {
                let shared = Bytes::copy_from_slice(h);
                assert_eq!(decode_bytes(&shared).as_ref(), Ok(&fast));
                assert_eq!(Ok(fast), tree, "{}", String::from_utf8_lossy(h));
            }
            assert_eq!(decode(h), tree, "{}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn the_word_scan_finds_the_first_quote_or_backslash() {
        let alphabet = [b'a', b'"', b'\\', b'!', b'[', 0, 0x80, 0xFF, b'#'];
        let mut seed = 7u32;
        for len in 0..40 {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        let r = (seed >> 16) as usize;
                        // Mostly plain bytes, so matches land anywhere.
                        alphabet[if r % 4 == 0 { r % alphabet.len() } else { 0 }]
                    })
                    .collect();
                let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\');
                assert_eq!(fast::quote_or_backslash(&bytes), naive, "{bytes:?}");
            }
        }
    }

    #[test]
    fn common_headers_take_the_fast_path() {
        let h = br#"{"code":0,"extFields":{"queueId":"2"},"flag":1,"language":"JAVA","opaque":3,"remark":"FOUND","serializeTypeCurrentRPC":"JSON","version":513}"#;
        let c = fast::decode(h, None).unwrap();
        assert_eq!(c.ext_fields.get("queueId"), Some("2"));
        assert_eq!(c.remark.as_deref(), Some("FOUND"));
        assert_eq!(c.version, 513);
    }

    /// Headers laid out as fastjson writes them take the literal-matching
    /// path, and it reads them as the one-pass decoder does.
    #[test]
    fn the_canonical_path_agrees_with_the_one_pass_decoder() {
        let cases: [(&[u8], bool); 12] = [
            (br#"{"code":0,"extFields":{"queueId":"2","msgId":"AC"},"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":479}"#, true),
            (br#"{"code":-17,"extFields":{},"flag":0,"language":"GO","opaque":-2147483648,"remark":"caf\u00e9 ok","serializeTypeCurrentRPC":"JSON","version":2147483647}"#, false),
            ("{\"code\":1,\"flag\":0,\"language\":\"RUST\",\"opaque\":9,\"remark\":\"caf\u{e9} \u{1F600} long enough to span words\",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":1}".as_bytes(), true),
            (br#"{"code":1,"extFields":{"k":"v","k":"w"},"flag":0,"language":"COBOL","opaque":9,"serializeTypeCurrentRPC":"JSON","version":1}"#, true),
            (br#"{"code":1,"extFields":{"k":"v"},"flag":0,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":1} "#, false),
            (br#"{"code":01,"flag":0,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":1}"#, false),
            (br#"{"code":12345678901,"flag":0,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":1}"#, false),
            (br#"{"code":1.5,"flag":0,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":1}"#, false),
            (br#"{"code":1,"extFields":{"a\"b":"v"},"flag":0,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":1}"#, false),
            (br#"{"code":1,"extFields":{"k":"v"},"flag":0,"language":"JAVA","opaque":9,"remark":null,"serializeTypeCurrentRPC":"JSON","version":1}"#, false),
            (br#"{"code":1,"flag":0,"language":9,"opaque":9,"serializeTypeCurrentRPC":"JSON","version":1}"#, false),
            (b"{\"code\":1,\"extFields\":{\"k\":\"a\xffb\"},\"flag\":0,\"language\":\"JAVA\",\"opaque\":9,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":1}", false),
        ];
        for (h, canonical) in cases {
            let text = String::from_utf8_lossy(h);
            let got = canonical::decode(h, None);
            assert_eq!(got.is_some(), canonical, "{text}");
            if let Some(cmd) = got {
                assert_eq!(Some(&cmd), fast::decode(h, None).as_ref(), "{text}");
                let shared = Bytes::copy_from_slice(h);
                assert_eq!(
                    canonical::decode(&shared, Some(&shared)),
                    Some(cmd),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn headers_this_crate_writes_take_the_canonical_path() {
        let mut fields = ExtFields::new();
        fields.insert("topic", "T");
        fields.insert("queueId", "3");
        let mut out = BytesMut::new();
        let meta = CommandMeta {
            remark: Some("r\u{e9}mark"),
            ..CommandMeta::request(310, 42)
        };
        write(&mut out, &meta, &fields);
        let cmd = canonical::decode(&out, None).unwrap();
        assert_eq!(Ok(&cmd), decode_tree(&out).as_ref());
        assert_eq!(cmd.ext_fields.get("queueId"), Some("3"));
        assert_eq!(cmd.remark.as_deref(), Some("r\u{e9}mark"));
    }

    #[test]
    fn unusual_headers_leave_the_fast_path() {
        for h in [
            &br#"{"extFields":{"a":4}}"#[..],
            br#"{"extFields":{0:"z"}}"#,
            br#"{"language":9}"#,
            br#"{"future":{"x":[1,2]}}"#,
            br#"{"remark":"a"b"}"#,
        ] {
            assert!(
                fast::decode(h, None).is_none(),
                "{}",
                String::from_utf8_lossy(h)
            );
        }
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
            s.field("z", FieldValue::Int(0));
            s.field("t", FieldValue::Int(10));
            s.field("b", FieldValue::Bool(true));
            s.field("s", FieldValue::Str("a\"b"));
        }
        out.push(b'}');
        assert_eq!(out, br#"{"n":"-4","z":"0","t":"10","b":"true","s":"a\"b"}"#);
    }
}
