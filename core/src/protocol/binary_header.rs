//! The ROCKETMQ binary command header (serialize type 1, PROTOCOL.md §1.4).
//!
//! ```text
//! code int16 | language int8 | version int16 | opaque int32 | flag int32 |
//! remarkLen int32 | remark | extLen int32 | entries (extLen bytes):
//!     keyLen int16 | key | valLen int32 | val      (repeated)
//! ```
//!
//! Zero-length strings mean null: an absent remark is written with length 0,
//! an ext entry with an empty key is not written (one with an empty value
//! is, with length 0), and on decoding a zero (or negative, as Java does)
//! remark length means no remark and an entry with an empty value removes
//! the key (as Java's `map.put(key, null)` does). Duplicate keys are kept in wire
//! order; [`ExtFields::get`] resolves them to the last. Strings are decoded
//! as UTF-8 with invalid sequences replaced (like Java's `new String`).

use alloc::borrow::Cow;
use alloc::string::String;
use bytes::{Buf, BufMut, Bytes};

use super::command::{CommandMeta, FieldSource, HeaderDecodeError, LanguageCode, RemotingCommand};
use super::fields::{ExtFields, FieldSink, FieldValue};

/// Size of the fixed part (code .. flag, remarkLen, extLen).
pub const FIXED_LEN: usize = 21;

/// A [`FieldSink`] writing binary ext entries. Records, instead of writing,
/// a key longer than `i16::MAX` bytes (see [`BinaryFieldSink::overflowed`]).
#[derive(Debug)]
pub struct BinaryFieldSink<'a, B: BufMut> {
    out: &'a mut B,
    overflow: bool,
}

impl<'a, B: BufMut> BinaryFieldSink<'a, B> {
    /// A sink appending entries to `out`.
    pub fn new(out: &'a mut B) -> Self {
        Self {
            out,
            overflow: false,
        }
    }

    /// True when a field could not be represented (its key is longer than
    /// `i16::MAX` bytes or its value longer than `i32::MAX`); the output is
    /// then incomplete and must be discarded.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    fn entry(&mut self, key: &str, value: &[u8]) {
        if key.is_empty() {
            return;
        }
        let (Ok(kl), Ok(vl)) = (i16::try_from(key.len()), i32::try_from(value.len())) else {
            self.overflow = true;
            return;
        };
        let [v0, v1, v2, v3] = vl.to_be_bytes();
        match key.as_bytes() {
            // The one-letter keys of SEND_MESSAGE_V2 and friends: key
            // length, key and value length in one fixed-size write.
            &[k] => self.out.put_slice(&[0, 1, k, v0, v1, v2, v3]),
            key => {
                self.out.put_i16(kl);
                put_bytes(self.out, key);
                self.out.put_slice(&[v0, v1, v2, v3]);
            }
        }
        put_bytes(self.out, value);
    }
}

/// `put_slice`, with short slices (one-letter keys, small numbers) written
/// byte by byte instead of through a `memcpy` call.
#[inline]
fn put_bytes<B: BufMut>(out: &mut B, bytes: &[u8]) {
    if bytes.len() <= 4 {
        for &b in bytes {
            out.put_u8(b);
        }
    } else {
        out.put_slice(bytes);
    }
}

impl<B: BufMut> FieldSink for BinaryFieldSink<'_, B> {
    fn field(&mut self, key: &str, value: FieldValue<'_>) {
        match value {
            FieldValue::Str(s) => self.entry(key, s.as_bytes()),
            // Most numeric fields are single digits (queue ids, flags).
            FieldValue::Int(i @ 0..=9) => self.entry(key, &[b'0' + i as u8]),
            FieldValue::Int(i) => {
                let mut buf = itoa::Buffer::new();
                let text = buf.format(i);
                self.entry(key, text.as_bytes());
            }
            FieldValue::Bool(b) => self.entry(key, if b { b"true" } else { b"false" }),
        }
    }
}

/// Appends the binary header for `meta` and `fields` to `out` (no length
/// prefix). Returns `false`, leaving partial output the caller must
/// truncate, when the command does not fit the format: `code` or `version`
/// outside int16, a key longer than `i16::MAX` bytes, or more than
/// `i32::MAX` bytes of remark or entries.
pub fn write<F: FieldSource + ?Sized>(
    out: &mut bytes::BytesMut,
    meta: &CommandMeta<'_>,
    fields: &F,
) -> bool {
    let (Ok(code), Ok(version)) = (i16::try_from(meta.code), i16::try_from(meta.version)) else {
        return false;
    };
    let remark = meta.remark.unwrap_or("");
    let Ok(remark_len) = i32::try_from(remark.len()) else {
        return false;
    };
    out.put_i16(code);
    out.put_u8(meta.language.code());
    out.put_i16(version);
    out.put_i32(meta.opaque);
    out.put_i32(meta.flag);
    out.put_i32(remark_len);
    out.put_slice(remark.as_bytes());
    let ext_len_at = out.len();
    out.put_i32(0);
    let mut sink = BinaryFieldSink::new(out);
    fields.write_to(&mut sink);
    if sink.overflowed() {
        return false;
    }
    let Ok(ext_len) = i32::try_from(out.len() - ext_len_at - 4) else {
        return false;
    };
    if let Some(slot) = out.get_mut(ext_len_at..ext_len_at + 4) {
        slot.copy_from_slice(&ext_len.to_be_bytes());
    }
    true
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn need(&self, n: usize, what: &'static str) -> Result<(), HeaderDecodeError> {
        if self.buf.len() < n {
            Err(HeaderDecodeError::Truncated { what })
        } else {
            Ok(())
        }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HeaderDecodeError> {
        self.need(1, what)?;
        Ok(self.buf.get_u8())
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, HeaderDecodeError> {
        self.need(2, what)?;
        Ok(self.buf.get_i16())
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, HeaderDecodeError> {
        self.need(4, what)?;
        Ok(self.buf.get_i32())
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HeaderDecodeError> {
        let Some((head, tail)) = self.buf.split_at_checked(n) else {
            return Err(HeaderDecodeError::Truncated { what });
        };
        self.buf = tail;
        Ok(head)
    }

    /// Text of length `len`, borrowed unless invalid UTF-8 was replaced.
    fn text(&mut self, len: usize, what: &'static str) -> Result<Cow<'a, str>, HeaderDecodeError> {
        Ok(String::from_utf8_lossy(self.bytes(len, what)?))
    }

    /// A string of length `len`; `None` when empty.
    fn string(
        &mut self,
        len: usize,
        what: &'static str,
    ) -> Result<Option<String>, HeaderDecodeError> {
        let b = self.bytes(len, what)?;
        Ok(if b.is_empty() {
            None
        } else {
            Some(String::from_utf8_lossy(b).into_owned())
        })
    }
}

fn non_negative(len: i32, what: &'static str) -> Result<usize, HeaderDecodeError> {
    usize::try_from(len).map_err(|_| HeaderDecodeError::NegativeLength { what })
}

/// Decodes a binary header into a command with an empty body. Bytes after
/// the ext entries are ignored.
pub fn decode(header: &[u8]) -> Result<RemotingCommand, HeaderDecodeError> {
    let mut r = Reader { buf: header };
    let code = i32::from(r.i16("code")?);
    let language = LanguageCode::from_code(r.u8("language")?);
    let version = i32::from(r.i16("version")?);
    let opaque = r.i32("opaque")?;
    let flag = r.i32("flag")?;
    // Java reads a remark only when its length is > 0.
    let remark_len = usize::try_from(r.i32("remark length")?).unwrap_or(0);
    let remark = r.string(remark_len, "remark")?;
    let ext_len = usize::try_from(r.i32("ext length")?).unwrap_or(0);
    let mut ext = Reader {
        buf: r.bytes(ext_len, "ext fields")?,
    };
    // Keys and values take fewer bytes than the entries holding them.
    let mut ext_fields = ExtFields::with_capacity(ext_len / 16, ext_len);
    while !ext.buf.is_empty() {
        let kl = ext.i16("ext key length")?;
        let key = ext.text(non_negative(i32::from(kl), "ext key")?, "ext key")?;
        let vl = ext.i32("ext value length")?;
        let val = ext.text(non_negative(vl, "ext value")?, "ext value")?;
        if key.is_empty() {
            continue;
        }
        if val.is_empty() {
            ext_fields.remove(&key);
        } else {
            ext_fields.push_str(&key, &val);
        }
    }
    Ok(RemotingCommand {
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn header(ext: &[u8], remark: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&[0x00, 0x69, 0x0C, 0x01, 0xDF, 0, 0, 0, 1, 0, 0, 0, 0]);
        h.extend_from_slice(&(remark.len() as i32).to_be_bytes());
        h.extend_from_slice(remark);
        h.extend_from_slice(&(ext.len() as i32).to_be_bytes());
        h.extend_from_slice(ext);
        h
    }

    fn entry(k: &str, v: &str) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(&(k.len() as i16).to_be_bytes());
        e.extend_from_slice(k.as_bytes());
        e.extend_from_slice(&(v.len() as i32).to_be_bytes());
        e.extend_from_slice(v.as_bytes());
        e
    }

    #[test]
    fn decodes_the_protocol_example_header() {
        let c = decode(&header(&entry("topic", "T"), b"")).unwrap();
        assert_eq!(c.code, 105);
        assert_eq!(c.language, LanguageCode::Rust);
        assert_eq!(c.version, 479);
        assert_eq!(c.opaque, 1);
        assert_eq!(c.flag, 0);
        assert_eq!(c.remark, None);
        assert_eq!(c.ext_fields.get("topic"), Some("T"));
    }

    #[test]
    fn duplicate_keys_resolve_to_the_last() {
        let ext = [entry("a", "1"), entry("b", "x"), entry("a", "2")].concat();
        let c = decode(&header(&ext, b"")).unwrap();
        assert_eq!(c.ext_fields.get("a"), Some("2"));
    }

    #[test]
    fn zero_length_values_decode_as_absent() {
        let ext = [entry("a", "1"), entry("a", ""), entry("", "v")].concat();
        let c = decode(&header(&ext, b"")).unwrap();
        assert_eq!(c.ext_fields.get("a"), None);
        assert!(c.ext_fields.is_empty());
    }

    #[test]
    fn remark_is_decoded_and_empty_remark_is_absent() {
        assert_eq!(
            decode(&header(b"", b"oops")).unwrap().remark.as_deref(),
            Some("oops")
        );
        assert_eq!(decode(&header(b"", b"")).unwrap().remark, None);
    }

    #[test]
    fn negative_remark_length_means_no_remark() {
        let mut h = header(b"", b"");
        h[13..17].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(decode(&h).unwrap().remark, None);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let c = decode(&header(b"", b"a\xffb")).unwrap();
        assert_eq!(c.remark.as_deref(), Some("a\u{FFFD}b"));
    }

    #[test]
    fn truncated_headers_are_errors() {
        let full = header(&entry("topic", "T"), b"rm");
        for cut in 0..full.len() {
            assert!(decode(&full[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn negative_entry_lengths_are_errors() {
        let mut ext = entry("k", "v");
        ext[0..2].copy_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(
            decode(&header(&ext, b"")),
            Err(HeaderDecodeError::NegativeLength { what: "ext key" })
        );
    }

    #[test]
    fn int_values_are_written_as_decimal_text() {
        let mut out = Vec::new();
        let mut s = BinaryFieldSink::new(&mut out);
        for (k, v) in [("a", 0), ("b", 9), ("c", 10), ("d", -1), ("queueId", 7)] {
            s.field(k, FieldValue::Int(v));
        }
        let expected = [
            entry("a", "0"),
            entry("b", "9"),
            entry("c", "10"),
            entry("d", "-1"),
            entry("queueId", "7"),
        ];
        assert_eq!(out, expected.concat());
    }

    #[test]
    fn entries_are_not_written_for_empty_keys() {
        let mut out = Vec::new();
        let mut s = BinaryFieldSink::new(&mut out);
        s.field("", FieldValue::Str("v"));
        s.field("k", FieldValue::Str(""));
        s.field("n", FieldValue::Int(12));
        s.field("b", FieldValue::Bool(false));
        assert!(!s.overflowed());
        assert_eq!(
            out,
            [entry("k", ""), entry("n", "12"), entry("b", "false")].concat()
        );
    }
}
