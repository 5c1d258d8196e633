//! [`RemotingCommand`], its metadata types and frame encoding.
//!
//! Two encoders share one implementation:
//! - [`RemotingCommand::encode`] for a decoded or hand-built command;
//! - [`encode_request`], the send path: a typed [`CommandHeader`] plus a few
//!   extra fields are written straight into the output buffer, with no map
//!   and no allocation beyond growing `out`.
//!
//! Frame layout (PROTOCOL.md §1.1): `length i32 | headerWord i32 | header |
//! body`, where `headerWord = serializeType << 24 | headerLen`.
//!
//! **Binary header fallback.** The ROCKETMQ binary header stores `code` and
//! `version` as int16 and ext keys with an int16 length. A command that does
//! not fit (e.g. the pop codes ≥ 200050, which Java silently truncates) is
//! encoded with the JSON header instead, regardless of the requested
//! [`SerializeType`]. Peers decode both types on every frame, so this is
//! always safe. Encoding fails only when the header exceeds the 24-bit
//! header length or the frame exceeds `i32::MAX` bytes.

use alloc::string::String;
use bytes::{BufMut, Bytes, BytesMut};

use super::fields::{CommandHeader, ExtFields, FieldSink, FieldValue, HeaderError};
use super::json::JsonError;
use super::{binary_header, json_header};

/// Flag bit 0: the command is a response.
pub const RESPONSE_FLAG: i32 = 1;
/// Flag bit 1: the request is oneway (no response will be sent).
pub const ONEWAY_FLAG: i32 = 2;
/// `version` sent by default: the ordinal of MQVersion V5_3_3.
pub const DEFAULT_VERSION: i32 = 479;
/// Largest header length the 24-bit field of the header word can carry.
pub const MAX_HEADER_LEN: usize = 0x00FF_FFFF;

/// The sender's implementation language (PROTOCOL.md §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LanguageCode {
    /// 0, `JAVA`.
    Java,
    /// 1, `CPP`.
    Cpp,
    /// 2, `DOTNET`.
    Dotnet,
    /// 3, `PYTHON`.
    Python,
    /// 4, `DELPHI`.
    Delphi,
    /// 5, `ERLANG`.
    Erlang,
    /// 6, `RUBY`.
    Ruby,
    /// 7, `OTHER` (use this for brokers older than 4.9.4, which lack `RUST`).
    Other,
    /// 8, `HTTP`.
    Http,
    /// 9, `GO`.
    Go,
    /// 10, `PHP`.
    Php,
    /// 11, `OMS`.
    Oms,
    /// 12, `RUST` (brokers ≥ 4.9.4). The default.
    #[default]
    Rust,
    /// 13, `NODE_JS` (5.x).
    NodeJs,
    /// A code this crate does not know.
    Unknown(u8),
}

const LANGUAGES: [(LanguageCode, &str); 14] = [
    (LanguageCode::Java, "JAVA"),
    (LanguageCode::Cpp, "CPP"),
    (LanguageCode::Dotnet, "DOTNET"),
    (LanguageCode::Python, "PYTHON"),
    (LanguageCode::Delphi, "DELPHI"),
    (LanguageCode::Erlang, "ERLANG"),
    (LanguageCode::Ruby, "RUBY"),
    (LanguageCode::Other, "OTHER"),
    (LanguageCode::Http, "HTTP"),
    (LanguageCode::Go, "GO"),
    (LanguageCode::Php, "PHP"),
    (LanguageCode::Oms, "OMS"),
    (LanguageCode::Rust, "RUST"),
    (LanguageCode::NodeJs, "NODE_JS"),
];

impl LanguageCode {
    /// The wire code (the binary header's int8).
    pub fn code(self) -> u8 {
        match self {
            LanguageCode::Java => 0,
            LanguageCode::Cpp => 1,
            LanguageCode::Dotnet => 2,
            LanguageCode::Python => 3,
            LanguageCode::Delphi => 4,
            LanguageCode::Erlang => 5,
            LanguageCode::Ruby => 6,
            LanguageCode::Other => 7,
            LanguageCode::Http => 8,
            LanguageCode::Go => 9,
            LanguageCode::Php => 10,
            LanguageCode::Oms => 11,
            LanguageCode::Rust => 12,
            LanguageCode::NodeJs => 13,
            LanguageCode::Unknown(c) => c,
        }
    }

    /// The Java enum name (the JSON header's form); `"UNKNOWN"` for
    /// [`LanguageCode::Unknown`].
    pub fn name(self) -> &'static str {
        LANGUAGES
            .iter()
            .find(|(l, _)| *l == self)
            .map_or("UNKNOWN", |(_, n)| n)
    }

    /// The language with wire code `code`; unknown codes map to
    /// [`LanguageCode::Unknown`].
    pub fn from_code(code: u8) -> Self {
        LANGUAGES
            .iter()
            .find(|(l, _)| l.code() == code)
            .map_or(LanguageCode::Unknown(code), |(l, _)| *l)
    }

    /// The language with Java enum name `name` (exact, upper case).
    pub fn from_name(name: &str) -> Option<Self> {
        LANGUAGES.iter().find(|(_, n)| *n == name).map(|(l, _)| *l)
    }
}

/// How a frame's header is serialised (top byte of the header word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SerializeType {
    /// 0: fastjson-style JSON header.
    #[default]
    Json = 0,
    /// 1: the compact ROCKETMQ binary header.
    RocketMq = 1,
}

impl SerializeType {
    /// The wire code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The type with wire code `code`, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }
}

/// A command header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderDecodeError {
    /// The JSON header is not valid (tolerant) JSON.
    #[error("JSON header: {0}")]
    Json(#[from] JsonError),
    /// The JSON header is valid JSON but not an object.
    #[error("JSON header is not an object")]
    NotAnObject,
    /// A known field has a value of the wrong type or out of range.
    #[error("header field `{0}` has an invalid value")]
    InvalidField(&'static str),
    /// The binary header ends inside `what`.
    #[error("binary header truncated in {what}")]
    Truncated {
        /// The part being read.
        what: &'static str,
    },
    /// A negative length in the binary header.
    #[error("binary header has a negative length for {what}")]
    NegativeLength {
        /// The part being read.
        what: &'static str,
    },
}

/// A command could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The header does not fit the 24-bit header length.
    #[error("header of {len} bytes exceeds the 24-bit header length")]
    HeaderTooLong {
        /// Header length in bytes.
        len: usize,
    },
    /// The frame does not fit the int32 length prefix.
    #[error("frame of {len} bytes exceeds the int32 length")]
    FrameTooLong {
        /// Frame length in bytes (without the prefix).
        len: usize,
    },
}

/// The fixed part of a command, borrowed: what [`encode_request`] needs
/// besides the fields and the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandMeta<'a> {
    /// Request or response code.
    pub code: i32,
    /// Sender language.
    pub language: LanguageCode,
    /// Sender version ordinal.
    pub version: i32,
    /// Request id.
    pub opaque: i32,
    /// Flag bits ([`RESPONSE_FLAG`], [`ONEWAY_FLAG`]).
    pub flag: i32,
    /// Optional remark (error text).
    pub remark: Option<&'a str>,
}

impl CommandMeta<'_> {
    /// A request: language `RUST`, [`DEFAULT_VERSION`], flag 0, no remark.
    pub const fn request(code: i32, opaque: i32) -> Self {
        CommandMeta {
            code,
            language: LanguageCode::Rust,
            version: DEFAULT_VERSION,
            opaque,
            flag: 0,
            remark: None,
        }
    }

    /// A oneway request (flag [`ONEWAY_FLAG`]).
    pub const fn oneway(code: i32, opaque: i32) -> Self {
        let mut m = Self::request(code, opaque);
        m.flag = ONEWAY_FLAG;
        m
    }

    /// A response (flag [`RESPONSE_FLAG`]).
    pub const fn response(code: i32, opaque: i32) -> Self {
        let mut m = Self::request(code, opaque);
        m.flag = RESPONSE_FLAG;
        m
    }
}

/// One remoting command: a request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code, or response code in a response.
    pub code: i32,
    /// Sender language.
    pub language: LanguageCode,
    /// Sender version ordinal (§1.5).
    pub version: i32,
    /// Request id; a response echoes its request's.
    pub opaque: i32,
    /// Flag bits ([`RESPONSE_FLAG`], [`ONEWAY_FLAG`]).
    pub flag: i32,
    /// Optional remark (error text in responses).
    pub remark: Option<String>,
    /// Header fields.
    pub ext_fields: ExtFields,
    /// Body; for decoded commands a zero-copy slice of the frame.
    pub body: Bytes,
}

impl RemotingCommand {
    /// A request with language `RUST`, [`DEFAULT_VERSION`], flag 0, no remark,
    /// fields or body.
    pub fn request(code: i32, opaque: i32) -> Self {
        Self::from_meta(&CommandMeta::request(code, opaque))
    }

    /// A response (flag [`RESPONSE_FLAG`]), otherwise like [`Self::request`].
    pub fn response(code: i32, opaque: i32) -> Self {
        Self::from_meta(&CommandMeta::response(code, opaque))
    }

    fn from_meta(m: &CommandMeta<'_>) -> Self {
        RemotingCommand {
            code: m.code,
            language: m.language,
            version: m.version,
            opaque: m.opaque,
            flag: m.flag,
            remark: m.remark.map(String::from),
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
        }
    }

    /// Adds the fields of a typed header (replacing equal keys).
    pub fn with_header<H: CommandHeader>(mut self, header: &H) -> Self {
        header.write_fields(&mut self.ext_fields);
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Sets the [`ONEWAY_FLAG`] bit.
    pub fn into_oneway(mut self) -> Self {
        self.flag |= ONEWAY_FLAG;
        self
    }

    /// True when the [`RESPONSE_FLAG`] bit is set.
    pub fn is_response(&self) -> bool {
        self.flag & RESPONSE_FLAG != 0
    }

    /// True when the [`ONEWAY_FLAG`] bit is set.
    pub fn is_oneway(&self) -> bool {
        self.flag & ONEWAY_FLAG != 0
    }

    /// Reads a typed header from the ext fields.
    pub fn header<H: CommandHeader>(&self) -> Result<H, HeaderError> {
        H::from_fields(&self.ext_fields)
    }

    /// The fixed part, borrowed.
    pub fn meta(&self) -> CommandMeta<'_> {
        CommandMeta {
            code: self.code,
            language: self.language,
            version: self.version,
            opaque: self.opaque,
            flag: self.flag,
            remark: self.remark.as_deref(),
        }
    }

    /// Appends the whole frame (length prefix included) to `out`.
    ///
    /// With [`SerializeType::RocketMq`], a command whose code, version or an
    /// ext key does not fit the binary header is written with the JSON
    /// header instead (see the module docs). On error `out` is unchanged.
    pub fn encode(&self, ser: SerializeType, out: &mut BytesMut) -> Result<(), EncodeError> {
        encode_frame(out, ser, &self.meta(), &self.ext_fields, &self.body)
    }
}

/// Something that writes ext fields into a [`FieldSink`]; it may be asked
/// more than once (the binary → JSON fallback rewrites the header).
pub trait FieldSource {
    /// Writes every field, in order.
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S);
}

impl FieldSource for ExtFields {
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        for (k, v) in self.iter() {
            sink.field(k, FieldValue::Str(v));
        }
    }
}

impl FieldSource for [(&str, &str)] {
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        for (k, v) in self {
            sink.field(k, FieldValue::Str(v));
        }
    }
}

struct HeaderAndExtra<'a, H> {
    header: &'a H,
    extra: &'a [(&'a str, &'a str)],
}

impl<H: CommandHeader> FieldSource for HeaderAndExtra<'_, H> {
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        self.header.write_fields(sink);
        self.extra.write_to(sink);
    }
}

/// The send path: appends one frame built from `meta`, a typed `header`,
/// `extra` fields (e.g. `AccessKey`, `Signature`, `bname`; written after the
/// header's, so an equal key overrides it at the peer) and `body`.
///
/// Builds no map and allocates nothing beyond growing `out`. Falls back to
/// the JSON header like [`RemotingCommand::encode`]; on error `out` is
/// unchanged.
pub fn encode_request<H: CommandHeader>(
    out: &mut BytesMut,
    ser: SerializeType,
    meta: &CommandMeta<'_>,
    header: &H,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Result<(), EncodeError> {
    encode_frame(out, ser, meta, &HeaderAndExtra { header, extra }, body)
}

/// Appends one frame whose ext fields come from any [`FieldSource`].
pub fn encode_frame<F: FieldSource + ?Sized>(
    out: &mut BytesMut,
    ser: SerializeType,
    meta: &CommandMeta<'_>,
    fields: &F,
    body: &[u8],
) -> Result<(), EncodeError> {
    let start = out.len();
    let remark_len = meta.remark.map_or(0, str::len);
    out.reserve(8 + 256 + remark_len + body.len());
    out.put_u64(0); // length and header word, patched below
    let header_start = out.len();

    let mut used = SerializeType::Json;
    if ser == SerializeType::RocketMq {
        if binary_header::write(out, meta, fields) {
            used = SerializeType::RocketMq;
        } else {
            out.truncate(header_start);
        }
    }
    if used == SerializeType::Json {
        json_header::write(out, meta, fields);
    }

    let header_len = out.len() - header_start;
    if header_len > MAX_HEADER_LEN {
        out.truncate(start);
        return Err(EncodeError::HeaderTooLong { len: header_len });
    }
    let frame_len = 4 + header_len + body.len();
    let Ok(frame_len_i32) = i32::try_from(frame_len) else {
        out.truncate(start);
        return Err(EncodeError::FrameTooLong { len: frame_len });
    };
    out.put_slice(body);

    // header_len <= 0xFFFFFF, so the word cannot overflow.
    let word = (u32::from(used.code()) << 24) | (header_len as u32);
    if let Some(prefix) = out.get_mut(start..header_start) {
        prefix[..4].copy_from_slice(&frame_len_i32.to_be_bytes());
        prefix[4..].copy_from_slice(&word.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codes::request_code;
    use crate::protocol::frame::decode_command;

    struct TopicHeader<'a> {
        topic: &'a str,
        queue_id: i32,
    }

    #[derive(Debug, PartialEq)]
    struct OwnedTopicHeader {
        topic: String,
        queue_id: i32,
    }

    impl CommandHeader for TopicHeader<'_> {
        fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
            sink.field("topic", FieldValue::Str(self.topic));
            sink.field("queueId", FieldValue::Int(i64::from(self.queue_id)));
        }
        fn from_fields(_: &ExtFields) -> Result<Self, HeaderError> {
            Err(HeaderError::Missing { key: "unused" })
        }
    }

    impl CommandHeader for OwnedTopicHeader {
        fn write_fields<S: FieldSink + ?Sized>(&self, sink: &mut S) {
            sink.field("topic", FieldValue::Str(&self.topic));
            sink.field("queueId", FieldValue::Int(i64::from(self.queue_id)));
        }
        fn from_fields(f: &ExtFields) -> Result<Self, HeaderError> {
            Ok(OwnedTopicHeader {
                topic: f.required("topic")?,
                queue_id: f.required("queueId")?,
            })
        }
    }

    fn hex(b: &[u8]) -> String {
        use core::fmt::Write;
        let mut s = String::new();
        for x in b {
            let _ = write!(s, "{x:02X}");
        }
        s
    }

    #[test]
    fn binary_encoding_matches_the_protocol_example() {
        let mut cmd = RemotingCommand::request(105, 1);
        cmd.ext_fields.insert("topic", "T");
        let mut out = BytesMut::new();
        cmd.encode(SerializeType::RocketMq, &mut out).unwrap();
        let expected = concat!(
            "00000025",
            "01000021",
            "0069",
            "0C",
            "01DF",
            "00000001",
            "00000000",
            "00000000",
            "0000000C",
            "0005",
            "746F706963",
            "00000001",
            "54"
        );
        assert_eq!(hex(&out), expected);
    }

    #[test]
    fn json_encoding_is_fastjson_style() {
        let mut cmd = RemotingCommand::request(105, 3).with_remark("r\"x");
        cmd.ext_fields.insert("topic", "T");
        let mut out = BytesMut::new();
        cmd.encode(SerializeType::Json, &mut out).unwrap();
        let header = &out[8..];
        assert_eq!(
            core::str::from_utf8(header).unwrap(),
            r#"{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"RUST","opaque":3,"remark":"r\"x","serializeTypeCurrentRPC":"JSON","version":479}"#
        );
        assert_eq!(&out[4..8], &(header.len() as u32).to_be_bytes());
        assert_eq!(&out[..4], &(4 + header.len() as u32).to_be_bytes());
    }

    #[test]
    fn defaults_are_rust_and_version_479() {
        let c = RemotingCommand::request(10, 7);
        assert_eq!(c.language, LanguageCode::Rust);
        assert_eq!(c.language.code(), 12);
        assert_eq!(c.language.name(), "RUST");
        assert_eq!(c.version, DEFAULT_VERSION);
        assert_eq!(c.flag, 0);
        assert!(!c.is_response() && !c.is_oneway());
    }

    #[test]
    fn flags_mark_responses_and_oneway_requests() {
        assert!(RemotingCommand::response(0, 1).is_response());
        let ow = RemotingCommand::request(39, 1).into_oneway();
        assert!(ow.is_oneway() && !ow.is_response());
        assert_eq!(ow.flag, ONEWAY_FLAG);
    }

    #[test]
    fn language_codes_round_trip_by_code_and_name() {
        for c in 0..=255u8 {
            let l = LanguageCode::from_code(c);
            assert_eq!(l.code(), c);
            if c <= 13 {
                assert_eq!(LanguageCode::from_name(l.name()), Some(l));
            } else {
                assert_eq!(l, LanguageCode::Unknown(c));
            }
        }
        assert_eq!(
            LanguageCode::from_name("NODE_JS"),
            Some(LanguageCode::NodeJs)
        );
        assert_eq!(LanguageCode::from_name("java"), None);
    }

    #[test]
    fn serialize_type_codes() {
        assert_eq!(SerializeType::from_code(0), Some(SerializeType::Json));
        assert_eq!(SerializeType::from_code(1), Some(SerializeType::RocketMq));
        assert_eq!(SerializeType::from_code(2), None);
    }

    #[test]
    fn typed_headers_round_trip_through_ext_fields() {
        let h = OwnedTopicHeader {
            topic: "T".into(),
            queue_id: 3,
        };
        let cmd = RemotingCommand::request(10, 1).with_header(&h);
        assert_eq!(cmd.ext_fields.get("queueId"), Some("3"));
        assert_eq!(cmd.header::<OwnedTopicHeader>().unwrap(), h);
    }

    #[test]
    fn encode_request_equals_encode_of_the_same_command() {
        let h = TopicHeader {
            topic: "TopicA",
            queue_id: -1,
        };
        let extra = [("AccessKey", "ak"), ("bname", "broker-a")];
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let mut fast = BytesMut::new();
            let meta = CommandMeta::request(request_code::SEND_MESSAGE_V2, 9);
            encode_request(&mut fast, ser, &meta, &h, &extra, b"body").unwrap();

            let mut cmd =
                RemotingCommand::request(request_code::SEND_MESSAGE_V2, 9).with_body(&b"body"[..]);
            for (k, v) in [("topic", "TopicA"), ("queueId", "-1")]
                .into_iter()
                .chain(extra)
            {
                cmd.ext_fields.insert(k, v);
            }
            let mut slow = BytesMut::new();
            cmd.encode(ser, &mut slow).unwrap();
            assert_eq!(fast, slow);
            let back = decode_command(fast.freeze().slice(4..)).unwrap();
            assert_eq!(back, cmd);
        }
    }

    #[test]
    fn encoding_appends_after_existing_bytes() {
        let mut out = BytesMut::from(&b"xyz"[..]);
        RemotingCommand::request(1, 1)
            .encode(SerializeType::RocketMq, &mut out)
            .unwrap();
        assert_eq!(&out[..3], b"xyz");
        let back = decode_command(out.freeze().slice(7..)).unwrap();
        assert_eq!(back.code, 1);
    }

    #[test]
    fn pop_codes_fall_back_to_the_json_header() {
        let cmd = RemotingCommand::request(request_code::POP_MESSAGE, 1);
        let mut out = BytesMut::new();
        cmd.encode(SerializeType::RocketMq, &mut out).unwrap();
        assert_eq!(out[4], SerializeType::Json.code());
        let back = decode_command(out.freeze().slice(4..)).unwrap();
        assert_eq!(back.code, 200050);
    }

    #[test]
    fn versions_beyond_int16_fall_back_to_the_json_header() {
        let mut cmd = RemotingCommand::request(10, 1);
        cmd.version = 40_000;
        let mut out = BytesMut::new();
        cmd.encode(SerializeType::RocketMq, &mut out).unwrap();
        assert_eq!(out[4], SerializeType::Json.code());
    }

    #[test]
    fn ext_keys_beyond_int16_length_fall_back_to_the_json_header() {
        let mut cmd = RemotingCommand::request(10, 1);
        cmd.ext_fields.insert("k".repeat(40_000), "v");
        let mut out = BytesMut::new();
        cmd.encode(SerializeType::RocketMq, &mut out).unwrap();
        assert_eq!(out[4], SerializeType::Json.code());
        let back = decode_command(out.freeze().slice(4..)).unwrap();
        assert_eq!(back, cmd);
    }

    #[test]
    fn headers_beyond_24_bits_are_rejected_and_leave_out_unchanged() {
        let cmd = RemotingCommand::request(10, 1).with_remark("x".repeat(MAX_HEADER_LEN));
        let mut out = BytesMut::from(&b"ab"[..]);
        let err = cmd.encode(SerializeType::RocketMq, &mut out).unwrap_err();
        assert!(matches!(err, EncodeError::HeaderTooLong { .. }));
        assert_eq!(&out[..], b"ab");
    }

    #[test]
    fn unknown_languages_are_written_as_numbers_in_json() {
        let mut cmd = RemotingCommand::request(10, 1);
        cmd.language = LanguageCode::Unknown(77);
        let mut out = BytesMut::new();
        cmd.encode(SerializeType::Json, &mut out).unwrap();
        assert!(out.windows(13).any(|w| w == b"\"language\":77"));
        let back = decode_command(out.freeze().slice(4..)).unwrap();
        assert_eq!(back.language, LanguageCode::Unknown(77));
    }
}
