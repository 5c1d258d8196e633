//! A tolerant JSON reader and a small allocation-free JSON writer.
//!
//! The Java broker serialises bodies with fastjson, which is not always
//! standard JSON. The reader accepts, besides RFC 8259 JSON:
//!
//! - unquoted integer map keys: `{0:"127.0.0.1:10911"}`;
//! - JSON objects as map keys (maps keyed by `MessageQueue`):
//!   `{{"brokerName":"b","queueId":0,"topic":"t"}:42}`.
//!
//! Object keys are therefore [`JsonValue`]s (a `String`, `Number` or
//! `Object`). Numbers keep their literal text, so 64-bit offsets never pass
//! through `f64`. Parsing is recursive with a depth limit of [`MAX_DEPTH`]
//! and never panics on any input.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::BufMut;

/// Maximum nesting depth of arrays and objects (keys included).
pub const MAX_DEPTH: usize = 128;

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, kept as its literal text.
    Number(JsonNumber),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<JsonValue>),
    /// An object as `(key, value)` pairs in input order. Keys are a
    /// `String`, a bare `Number` (fastjson integer keys) or an `Object`
    /// (fastjson object keys). Duplicate keys are kept.
    Object(Vec<(JsonValue, JsonValue)>),
}

/// A JSON number, kept as the literal text it was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonNumber {
    text: String,
}

impl JsonNumber {
    /// The literal text, e.g. `"-12"` or `"1.5e3"`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value as an `i64`, when the literal is an integer in range
    /// (no fraction, no exponent).
    pub fn as_i64(&self) -> Option<i64> {
        self.text.parse().ok()
    }

    /// The value as an `f64` (nearest representable value).
    pub fn as_f64(&self) -> Option<f64> {
        self.text.parse().ok()
    }

    /// A number from its literal text, when it is a valid JSON number.
    pub fn from_text(text: &str) -> Option<Self> {
        let mut p = Parser {
            input: text.as_bytes(),
            pos: 0,
        };
        let n = p.number().ok()?;
        if p.pos == text.len() {
            Some(n)
        } else {
            None
        }
    }
}

impl From<i64> for JsonNumber {
    fn from(v: i64) -> Self {
        Self {
            text: String::from(itoa::Buffer::new().format(v)),
        }
    }
}

/// Why a JSON document could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonErrorKind {
    /// The input ended inside a value.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A byte that cannot start or continue a value here.
    #[error("unexpected character")]
    UnexpectedChar,
    /// A malformed number literal.
    #[error("invalid number")]
    InvalidNumber,
    /// A malformed escape sequence in a string.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// A string that is not valid UTF-8.
    #[error("invalid UTF-8 in string")]
    InvalidUtf8,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting too deep")]
    TooDeep,
    /// Non-whitespace after the top-level value.
    #[error("trailing characters after the value")]
    TrailingCharacters,
}

/// A JSON parse error: what went wrong and at which byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {kind}")]
pub struct JsonError {
    /// What went wrong.
    pub kind: JsonErrorKind,
    /// Byte offset in the input where it was detected.
    pub offset: usize,
}

/// Parses one JSON document (tolerating fastjson's non-standard keys).
///
/// Leading and trailing whitespace is allowed; anything else after the value
/// is an error. Never panics.
pub fn parse(input: &[u8]) -> Result<JsonValue, JsonError> {
    let mut p = Parser { input, pos: 0 };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(p.err(JsonErrorKind::TrailingCharacters));
    }
    Ok(v)
}

impl JsonValue {
    /// The value of the first member whose key is the string `key`, or a bare
    /// number whose literal text equals `key`. `None` for non-objects.
    pub fn get(&self, key: &str) -> Option<&JsonValue> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k.key_text() == Some(key))
            .map(|(_, v)| v)
    }

    /// The string, for a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsonValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer: a `Number` with an integer literal, or a `String` holding
    /// one (fastjson and Java headers stringify numbers).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            JsonValue::Number(n) => n.as_i64(),
            JsonValue::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean: `Bool`, or a `String` equal to `true`/`false` (any case).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            JsonValue::Bool(b) => Some(*b),
            JsonValue::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            JsonValue::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// The elements, for an `Array`.
    pub fn as_array(&self) -> Option<&[JsonValue]> {
        match self {
            JsonValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The members, for an `Object`.
    pub fn as_object(&self) -> Option<&[(JsonValue, JsonValue)]> {
        match self {
            JsonValue::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The text of a key: the string of a `String`, the literal of a
    /// `Number`; `None` for other values (e.g. object keys).
    pub fn key_text(&self) -> Option<&str> {
        match self {
            JsonValue::String(s) => Some(s),
            JsonValue::Number(n) => Some(n.as_str()),
            _ => None,
        }
    }

    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, JsonValue::Null)
    }

    /// Serialises the value as compact JSON. Number keys are written bare and
    /// object keys as objects, as fastjson does, so `parse(write(v)) == v`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_buf(out);
    }

    fn write_buf<B: BufMut>(&self, out: &mut B) {
        match self {
            JsonValue::Null => out.put_slice(b"null"),
            JsonValue::Bool(true) => out.put_slice(b"true"),
            JsonValue::Bool(false) => out.put_slice(b"false"),
            JsonValue::Number(n) => out.put_slice(n.text.as_bytes()),
            JsonValue::String(s) => write_string_buf(out, s),
            JsonValue::Array(a) => {
                out.put_u8(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.put_u8(b',');
                    }
                    v.write_buf(out);
                }
                out.put_u8(b']');
            }
            JsonValue::Object(o) => {
                out.put_u8(b'{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.put_u8(b',');
                    }
                    k.write_buf(out);
                    out.put_u8(b':');
                    v.write_buf(out);
                }
                out.put_u8(b'}');
            }
        }
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, kind: JsonErrorKind) -> JsonError {
        JsonError {
            kind,
            offset: self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, lit: &[u8]) -> Result<(), JsonError> {
        let end = self.pos.saturating_add(lit.len());
        match self.input.get(self.pos..end) {
            Some(s) if s == lit => {
                self.pos = end;
                Ok(())
            }
            Some(_) => Err(self.err(JsonErrorKind::UnexpectedChar)),
            None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
        }
    }

    fn value(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        match self.peek() {
            None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(JsonValue::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(JsonValue::Number),
            Some(b't') => self.expect_literal(b"true").map(|_| JsonValue::Bool(true)),
            Some(b'f') => self
                .expect_literal(b"false")
                .map(|_| JsonValue::Bool(false)),
            Some(b'n') => self.expect_literal(b"null").map(|_| JsonValue::Null),
            Some(_) => Err(self.err(JsonErrorKind::UnexpectedChar)),
        }
    }

    fn key(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        match self.peek() {
            None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
            Some(b'"') => self.string().map(JsonValue::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(JsonValue::Number),
            Some(b'{') => self.object(depth + 1),
            Some(_) => Err(self.err(JsonErrorKind::UnexpectedChar)),
        }
    }

    fn object(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err(JsonErrorKind::TooDeep));
        }
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(JsonValue::Object(members));
        }
        loop {
            self.skip_ws();
            let k = self.key(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b':') => self.pos += 1,
                Some(_) => return Err(self.err(JsonErrorKind::UnexpectedChar)),
                None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
            }
            self.skip_ws();
            let v = self.value(depth)?;
            members.push((k, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(JsonValue::Object(members));
                }
                Some(_) => return Err(self.err(JsonErrorKind::UnexpectedChar)),
                None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err(JsonErrorKind::TooDeep));
        }
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(JsonValue::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(JsonValue::Array(items));
                }
                Some(_) => return Err(self.err(JsonErrorKind::UnexpectedChar)),
                None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<JsonNumber, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.digits() == 0 {
            return Err(self.err(JsonErrorKind::InvalidNumber));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err(JsonErrorKind::InvalidNumber));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err(JsonErrorKind::InvalidNumber));
            }
        }
        let text = self
            .input
            .get(start..self.pos)
            .and_then(|s| core::str::from_utf8(s).ok())
            .ok_or(JsonError {
                kind: JsonErrorKind::InvalidNumber,
                offset: start,
            })?;
        Ok(JsonNumber {
            text: String::from(text),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let end = self.pos.saturating_add(4);
        let Some(digits) = self.input.get(self.pos..end) else {
            return Err(self.err(JsonErrorKind::UnexpectedEnd));
        };
        let mut v = 0u32;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.err(JsonErrorKind::InvalidEscape)),
            };
            v = (v << 4) | u32::from(n);
        }
        self.pos = end;
        Ok(v)
    }

    /// Parses a string starting at its opening quote. Raw control characters
    /// are tolerated; lone surrogates become U+FFFD.
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // '"'
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' {
                    break;
                }
                self.pos += 1;
            }
            if let Some(run) = self.input.get(run_start..self.pos) {
                buf.extend_from_slice(run);
            }
            match self.peek() {
                None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(buf).map_err(|_| JsonError {
                        kind: JsonErrorKind::InvalidUtf8,
                        offset: run_start,
                    });
                }
                Some(_) => {
                    // backslash
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err(JsonErrorKind::UnexpectedEnd));
                    };
                    self.pos += 1;
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => {
                            self.pos -= 1;
                            return Err(self.err(JsonErrorKind::InvalidEscape));
                        }
                    };
                    let ch = match simple {
                        Some(b) => char::from(b),
                        None => self.unicode_escape()?,
                    };
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
            }
        }
    }

    /// After `\u`: one escape, or a surrogate pair of two escapes.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) {
            let rest = self.input.get(self.pos..self.pos.saturating_add(2));
            if rest == Some(b"\\u") {
                let save = self.pos;
                self.pos += 2;
                let lo = self.hex4()?;
                if (0xDC00..0xE000).contains(&lo) {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return Ok(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                // Not a low surrogate: leave it to be read as its own escape.
                self.pos = save;
            }
            return Ok(char::REPLACEMENT_CHARACTER);
        }
        Ok(char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER))
    }
}

/// Appends `s` as a quoted JSON string. `"`, `\` and control characters are
/// escaped; everything else is copied as UTF-8.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    write_string_buf(out, s);
}

/// For each byte: 0 when it is copied as is, else the character after the
/// backslash of its escape (`u` for `\u00XX`).
static ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// True when some byte of the 8-byte word needs escaping (a control
/// character, `"` or `\\`). Exact as an existence test.
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * b'"' as u64);
    let quote = q.wrapping_sub(ONES) & !q;
    let b = w ^ (ONES * b'\\' as u64);
    let backslash = b.wrapping_sub(ONES) & !b;
    (control | quote | backslash) & HIGH != 0
}

/// Length of the longest prefix of `bytes` that needs no escaping.
#[inline]
pub(crate) fn plain_prefix_len(bytes: &[u8]) -> usize {
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        if word_needs_escape(u64::from_le_bytes(w)) {
            break;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if ESCAPES[usize::from(b)] != 0 {
            break;
        }
        i += 1;
    }
    i
}

/// [`write_string`] into any [`BufMut`] (e.g. `BytesMut`).
pub fn write_string_buf<B: BufMut + ?Sized>(out: &mut B, s: &str) {
    out.put_u8(b'"');
    write_escaped(out, s.as_bytes());
    out.put_u8(b'"');
}

/// Writes the escaped contents of a string, without quotes.
pub(crate) fn write_escaped<B: BufMut + ?Sized>(out: &mut B, mut bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    loop {
        let n = plain_prefix_len(bytes);
        let Some((plain, rest)) = bytes.split_at_checked(n) else {
            return;
        };
        out.put_slice(plain);
        let Some((&b, rest)) = rest.split_first() else {
            return;
        };
        let esc = ESCAPES[usize::from(b)];
        if esc == b'u' {
            out.put_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.put_slice(&[b'\\', esc]);
        }
        bytes = rest;
    }
}

/// A minimal streaming JSON writer that inserts commas by itself.
///
/// A comma is written before a value or key unless the previous byte written
/// by this writer is `{`, `[` or `:` (or nothing was written yet). The caller
/// is responsible for balancing `begin_*`/`end_*` and for pairing keys with
/// values. To write a fastjson object key (e.g. a `MessageQueue`), write the
/// object with `begin_object`/`end_object` and then call [`JsonWriter::colon`].
#[derive(Debug)]
pub struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> JsonWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        let start = out.len();
        Self { out, start }
    }

    fn sep(&mut self) {
        if self.out.len() > self.start {
            if let Some(b'{' | b'[' | b':') = self.out.last() {
            } else {
                self.out.push(b',');
            }
        }
    }

    /// Writes `{`.
    pub fn begin_object(&mut self) -> &mut Self {
        self.sep();
        self.out.push(b'{');
        self
    }

    /// Writes `}`.
    pub fn end_object(&mut self) -> &mut Self {
        self.out.push(b'}');
        self
    }

    /// Writes `[`.
    pub fn begin_array(&mut self) -> &mut Self {
        self.sep();
        self.out.push(b'[');
        self
    }

    /// Writes `]`.
    pub fn end_array(&mut self) -> &mut Self {
        self.out.push(b']');
        self
    }

    /// Writes a quoted key and `:`.
    pub fn key(&mut self, k: &str) -> &mut Self {
        self.sep();
        write_string(self.out, k);
        self.out.push(b':');
        self
    }

    /// Writes `:` after a key written as a value (an object key).
    pub fn colon(&mut self) -> &mut Self {
        self.out.push(b':');
        self
    }

    /// Writes a string value.
    pub fn string(&mut self, v: &str) -> &mut Self {
        self.sep();
        write_string(self.out, v);
        self
    }

    /// Writes an integer value.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.sep();
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self
    }

    /// Writes an unsigned integer value.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.sep();
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self
    }

    /// Writes `true` or `false`.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// Writes `null`.
    pub fn null(&mut self) -> &mut Self {
        self.sep();
        self.out.extend_from_slice(b"null");
        self
    }

    /// Writes a [`JsonValue`].
    pub fn value(&mut self, v: &JsonValue) -> &mut Self {
        self.sep();
        v.write_to(self.out);
        self
    }

    /// Writes pre-serialised JSON verbatim.
    pub fn raw(&mut self, json: &[u8]) -> &mut Self {
        self.sep();
        self.out.extend_from_slice(json);
        self
    }

    /// Writes `"k":"v"`.
    pub fn field_str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k).string(v)
    }

    /// Writes `"k":v` for an integer.
    pub fn field_i64(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k).i64(v)
    }

    /// Writes `"k":true|false`.
    pub fn field_bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k).bool(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn s(v: &str) -> JsonValue {
        JsonValue::String(String::from(v))
    }

    #[test]
    fn parses_standard_json() {
        let v = parse(br#" {"a": [1, -2.5e3, true, false, null, "x"], "b": {}} "#).unwrap();
        let a = v.get("a").unwrap().as_array().unwrap();
        assert_eq!(a.len(), 6);
        assert_eq!(a[0].as_i64(), Some(1));
        assert_eq!(a[1].as_i64(), None);
        assert_eq!(a[1].as_str(), None);
        assert_eq!(a[2].as_bool(), Some(true));
        assert!(a[4].is_null());
        assert_eq!(a[5].as_str(), Some("x"));
        assert_eq!(v.get("b").unwrap().as_object().unwrap().len(), 0);
    }

    #[test]
    fn accepts_unquoted_integer_keys() {
        let v = parse(br#"{0:"127.0.0.1:10911",1:"127.0.0.2:10911"}"#).unwrap();
        assert_eq!(
            v.get("0").and_then(JsonValue::as_str),
            Some("127.0.0.1:10911")
        );
        assert_eq!(
            v.get("1").and_then(JsonValue::as_str),
            Some("127.0.0.2:10911")
        );
        let o = v.as_object().unwrap();
        assert!(matches!(o[0].0, JsonValue::Number(_)));
        assert_eq!(o[0].0.key_text(), Some("0"));
    }

    #[test]
    fn accepts_object_keys() {
        let v = parse(br#"{{"brokerName":"b","queueId":0,"topic":"t"}:42}"#).unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(o.len(), 1);
        let (k, val) = &o[0];
        assert_eq!(k.get("brokerName").and_then(JsonValue::as_str), Some("b"));
        assert_eq!(k.get("queueId").and_then(JsonValue::as_i64), Some(0));
        assert_eq!(k.key_text(), None);
        assert_eq!(val.as_i64(), Some(42));
    }

    #[test]
    fn numbers_keep_their_literal_text() {
        let v = parse(b"[9223372036854775807, 1.50, -0]").unwrap();
        let a = v.as_array().unwrap();
        let JsonValue::Number(n) = &a[0] else {
            panic!()
        };
        assert_eq!(n.as_i64(), Some(i64::MAX));
        let JsonValue::Number(f) = &a[1] else {
            panic!()
        };
        assert_eq!(f.as_str(), "1.50");
        assert_eq!(f.as_f64(), Some(1.5));
        assert_eq!(a[2].as_i64(), Some(0));
    }

    #[test]
    fn as_i64_reads_integer_strings() {
        assert_eq!(s("42").as_i64(), Some(42));
        assert_eq!(s("4x").as_i64(), None);
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        let v = parse(br#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(v.as_str(), Some("a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}"));
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let v = parse(br#""\ud83dx\ude00\ud83d\u0041""#).unwrap();
        assert_eq!(v.as_str(), Some("\u{FFFD}x\u{FFFD}\u{FFFD}A"));
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\" 1}",
            b"{a:1}",
            b"01x",
            b"-",
            b"1.",
            b"1e",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"tru",
            b"nul",
            b"[1] 2",
            b"\"\xff\"",
        ] {
            assert!(parse(bad).is_err(), "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn reports_error_kind_and_offset() {
        let e = parse(b"[1,]").unwrap_err();
        assert_eq!(e.kind, JsonErrorKind::UnexpectedChar);
        assert_eq!(e.offset, 3);
        assert_eq!(parse(b"[1").unwrap_err().kind, JsonErrorKind::UnexpectedEnd);
    }

    #[test]
    fn enforces_the_depth_limit() {
        let ok: Vec<u8> = [vec![b'['; MAX_DEPTH], vec![b']'; MAX_DEPTH]].concat();
        assert!(parse(&ok).is_ok());
        let deep: Vec<u8> = [vec![b'['; MAX_DEPTH + 1], vec![b']'; MAX_DEPTH + 1]].concat();
        assert_eq!(parse(&deep).unwrap_err().kind, JsonErrorKind::TooDeep);
        let deep_keys: Vec<u8> = vec![b'{'; 100_000];
        assert_eq!(parse(&deep_keys).unwrap_err().kind, JsonErrorKind::TooDeep);
    }

    #[test]
    fn get_returns_the_first_matching_member() {
        let v = parse(br#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(v.get("a").and_then(JsonValue::as_i64), Some(1));
        assert_eq!(s("x").get("a"), None);
    }

    #[test]
    fn write_string_escapes_quotes_backslashes_and_controls() {
        let mut out = Vec::new();
        write_string(&mut out, "a\"b\\c\nd\u{1}é😀");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é😀\"".as_bytes());
        assert_eq!(parse(&out).unwrap().as_str(), Some("a\"b\\c\nd\u{1}é😀"));
    }

    #[test]
    fn write_string_escapes_at_every_position() {
        for special in ["\"", "\\", "\u{0}", "\u{1f}", "\n"] {
            for pos in 0..20 {
                let mut src = String::from("abcdefghijklmnopqrs");
                src.insert_str(pos, special);
                let mut out = Vec::new();
                write_string(&mut out, &src);
                assert_eq!(parse(&out).unwrap().as_str(), Some(src.as_str()));
                assert_eq!(
                    out.len(),
                    src.len()
                        + 2
                        + if special.len() == 1 && special.as_bytes()[0] < 0x20 && special != "\n" {
                            5
                        } else {
                            1
                        }
                );
            }
        }
        let mut out = Vec::new();
        write_string(&mut out, "\u{7f}\u{80}ÿ\u{ffff}");
        assert_eq!(out, "\"\u{7f}\u{80}ÿ\u{ffff}\"".as_bytes());
    }

    #[test]
    fn written_values_parse_back_identically() {
        let src = br#"{{"brokerName":"b","queueId":0}:42,0:"x","k":[null,true,-1.5e-3,{}]}"#;
        let v = parse(src).unwrap();
        let mut out = Vec::new();
        v.write_to(&mut out);
        assert_eq!(out, &src[..]);
    }

    #[test]
    fn json_writer_places_commas() {
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out);
        w.begin_object()
            .field_str("a", "x")
            .field_i64("b", -3)
            .key("c")
            .begin_array()
            .bool(true)
            .null()
            .u64(7)
            .end_array()
            .key("d")
            .begin_object()
            .begin_object()
            .field_i64("q", 1)
            .end_object()
            .colon()
            .i64(5)
            .end_object()
            .field_bool("e", false)
            .end_object();
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            r#"{"a":"x","b":-3,"c":[true,null,7],"d":{{"q":1}:5},"e":false}"#
        );
        assert!(parse(&out).is_ok());
    }

    #[test]
    fn json_number_from_text_validates() {
        assert_eq!(JsonNumber::from_text("12").unwrap().as_i64(), Some(12));
        assert!(JsonNumber::from_text("12a").is_none());
        assert_eq!(JsonNumber::from(-5).as_str(), "-5");
    }
}
