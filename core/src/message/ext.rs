//! Stored messages as brokers return them (pull, pop, query, view, check
//! bodies): [`MessageExt`] and [`decode_messages`] (PROTOCOL.md §5.1).

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use super::batch::{decode_batch, BatchDecodeError};
use super::compression::{self, CompressionError, DEFAULT_MAX_DECOMPRESSED_SIZE};
use super::id::OffsetMessageId;
use super::{property, sysflag, Message, Properties};

/// Magic code of a V1 record (1-byte topic length).
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic code of a V2 record (2-byte topic length, 5.1+).
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic code of commit-log padding; never valid in a response.
pub const MAGIC_BLANK: i32 = 0xCBD4_3194_u32 as i32;

/// Size of the smallest possible record (IPv4 hosts, V1, empty body,
/// topic and properties).
pub const MIN_RECORD_SIZE: usize = 91;

/// A message read back from a broker: the [`Message`] plus store metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// Topic, flag, properties and (decompressed) body.
    pub message: Message,
    /// Queue ID.
    pub queue_id: i32,
    /// Size of the stored record (TOTALSIZE).
    pub store_size: i32,
    /// Offset in the consume queue.
    pub queue_offset: i64,
    /// System flag (§5.2); bit 0 is cleared once the body is decompressed.
    pub sys_flag: i32,
    /// When the producer created the message (Unix ms).
    pub born_timestamp: i64,
    /// Producer address as the broker saw it.
    pub born_host: SocketAddr,
    /// When the broker stored the message (Unix ms).
    pub store_timestamp: i64,
    /// Address of the broker that stored the message.
    pub store_host: SocketAddr,
    /// Physical offset in the commit log.
    pub commit_log_offset: i64,
    /// CRC32 of the stored body, `& 0x7FFFFFFF`.
    pub body_crc: i32,
    /// How many times the message was consumed again (retries).
    pub reconsume_times: i32,
    /// Offset of the prepared message (transactions).
    pub prepared_transaction_offset: i64,
    /// Offset message ID (store host + commit-log offset, §6).
    pub msg_id: String,
}

impl MessageExt {
    /// A stored-message view of `message` with every store field zero (for
    /// tests and simulated brokers).
    pub fn from_message(message: crate::message::Message) -> Self {
        let zero = core::net::SocketAddr::from(([0, 0, 0, 0], 0));
        MessageExt {
            message,
            queue_id: 0,
            store_size: 0,
            queue_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: zero,
            store_timestamp: 0,
            store_host: zero,
            commit_log_offset: 0,
            body_crc: 0,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            msg_id: String::new(),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.message.topic
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.message.body
    }

    /// The tag, if any.
    pub fn tags(&self) -> Option<&str> {
        self.message.tags()
    }

    /// A property value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.message.properties.get(name)
    }

    /// The client unique ID (`UNIQ_KEY`), if the producer set one.
    pub fn unique_key(&self) -> Option<&str> {
        self.message.unique_key()
    }

    /// The ID consumers show: `UNIQ_KEY` if present, else the offset ID.
    pub fn id(&self) -> &str {
        self.unique_key().unwrap_or(&self.msg_id)
    }

    /// The offset message ID as a value.
    pub fn offset_msg_id(&self) -> OffsetMessageId {
        OffsetMessageId {
            addr: self.store_host,
            commit_log_offset: self.commit_log_offset,
        }
    }

    /// The topic a retried message originally had (`RETRY_TOPIC`), if any.
    pub fn retry_topic(&self) -> Option<&str> {
        self.property(property::RETRY_TOPIC)
    }
}

/// How [`decode_messages_with`] treats bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Largest decompressed body accepted (default 64 MiB).
    pub max_decompressed_size: usize,
    /// Decompress compressed bodies and clear sysflag bit 0 (default true).
    pub decompress: bool,
    /// Check BODYCRC against the stored body (default false, as in Java).
    pub verify_body_crc: bool,
    /// Split inner-batch records (sysflag 0x80 + 0x40) into their messages
    /// (default true).
    pub unwrap_inner_batch: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            decompress: true,
            verify_body_crc: false,
            unwrap_inner_batch: true,
        }
    }
}

/// A stored-message body could not be decoded. `offset` is the position of
/// the failing record in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageDecodeError {
    /// The input ends inside a record.
    #[error("record at offset {offset} is truncated")]
    Truncated {
        /// Record offset.
        offset: usize,
    },
    /// The magic code is neither V1 nor V2.
    #[error("record at offset {offset} has bad magic code {magic:#010x}")]
    BadMagic {
        /// Record offset.
        offset: usize,
        /// The magic code found.
        magic: i32,
    },
    /// TOTALSIZE is smaller than the smallest record.
    #[error("record at offset {offset} has invalid total size {size}")]
    BadTotalSize {
        /// Record offset.
        offset: usize,
        /// The TOTALSIZE found.
        size: i32,
    },
    /// A field is inconsistent with TOTALSIZE (or a length is negative).
    #[error("record at offset {offset} is malformed: {reason}")]
    Malformed {
        /// Record offset.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// BODYCRC does not match the body (only with `verify_body_crc`).
    #[error("record at offset {offset}: body CRC {stored} stored, {computed} computed")]
    BodyCrcMismatch {
        /// Record offset.
        offset: usize,
        /// The CRC in the record.
        stored: i32,
        /// The CRC of the body.
        computed: i32,
    },
    /// The body could not be decompressed.
    #[error("record at offset {offset}: {source}")]
    Decompression {
        /// Record offset.
        offset: usize,
        /// The codec error.
        source: CompressionError,
    },
    /// An inner-batch body is not a valid batch encoding.
    #[error("record at offset {offset}: bad inner batch: {source}")]
    InnerBatch {
        /// Record offset.
        offset: usize,
        /// The batch error.
        source: BatchDecodeError,
    },
}

/// Decodes concatenated stored-message records with default options
/// (decompress up to 64 MiB per body, unwrap inner batches, no CRC check).
///
/// Uncompressed bodies are zero-copy slices of `body`. The first bad record
/// fails the whole call.
pub fn decode_messages(body: &Bytes) -> Result<Vec<MessageExt>, MessageDecodeError> {
    decode_messages_with(body, &DecodeOptions::default())
}

/// Decodes concatenated stored-message records with `options`.
pub fn decode_messages_with(
    body: &Bytes,
    options: &DecodeOptions,
) -> Result<Vec<MessageExt>, MessageDecodeError> {
    let mut out = Vec::with_capacity(count_records(body));
    let mut pos = 0;
    while pos < body.len() {
        let (msg, size) = decode_record(body, pos, options)?;
        if options.unwrap_inner_batch && sysflag::needs_unwrap(msg.sys_flag) {
            unwrap_inner_batch(msg, pos, &mut out)?;
        } else {
            out.push(msg);
        }
        pos += size;
    }
    Ok(out)
}

/// The number of records `body` appears to hold, following TOTALSIZE
/// fields (stops at the first implausible one; only used to size the
/// output, the decoder validates each record itself).
fn count_records(body: &[u8]) -> usize {
    let mut n = 0;
    let mut pos = 0usize;
    while let Some(&[a, b, c, d]) = body.get(pos..pos.saturating_add(4)) {
        match usize::try_from(i32::from_be_bytes([a, b, c, d])) {
            Ok(s) if s >= MIN_RECORD_SIZE => pos = pos.saturating_add(s),
            _ => break,
        }
        n += 1;
    }
    n
}

fn unwrap_inner_batch(
    outer: MessageExt,
    offset: usize,
    out: &mut Vec<MessageExt>,
) -> Result<(), MessageDecodeError> {
    let inner = decode_batch(&outer.message.body, &outer.message.topic)
        .map_err(|source| MessageDecodeError::InnerBatch { offset, source })?;
    out.reserve(inner.len());
    for (i, message) in inner.into_iter().enumerate() {
        out.push(MessageExt {
            message,
            queue_offset: outer.queue_offset.wrapping_add(i as i64),
            body_crc: 0,
            msg_id: outer.msg_id.clone(),
            ..outer.clone_meta()
        });
    }
    Ok(())
}

impl MessageExt {
    fn clone_meta(&self) -> MessageExt {
        MessageExt {
            message: Message::default(),
            queue_id: self.queue_id,
            store_size: self.store_size,
            queue_offset: self.queue_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            commit_log_offset: self.commit_log_offset,
            body_crc: self.body_crc,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            msg_id: String::new(),
        }
    }
}

/// Decodes the record at `start`, returning it and its TOTALSIZE.
fn decode_record(
    input: &Bytes,
    start: usize,
    options: &DecodeOptions,
) -> Result<(MessageExt, usize), MessageDecodeError> {
    let offset = start;
    let truncated = MessageDecodeError::Truncated { offset };
    let remaining = input.get(start..).unwrap_or_default();
    let mut head = Reader::new(remaining);
    let store_size = head.i32().ok_or(truncated.clone())?;
    let size = usize::try_from(store_size)
        .ok()
        .filter(|&s| s >= MIN_RECORD_SIZE)
        .ok_or(MessageDecodeError::BadTotalSize {
            offset,
            size: store_size,
        })?;
    let magic = head.i32().ok_or(truncated.clone())?;
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return Err(MessageDecodeError::BadMagic { offset, magic });
    }
    let record = remaining.get(..size).ok_or(truncated)?;

    let malformed = |reason| MessageDecodeError::Malformed { offset, reason };
    let short = || malformed("fields exceed total size");
    let mut r = Reader::new(record);
    r.skip(8).ok_or_else(short)?;
    let body_crc = r.i32().ok_or_else(short)?;
    let queue_id = r.i32().ok_or_else(short)?;
    let flag = r.i32().ok_or_else(short)?;
    let queue_offset = r.i64().ok_or_else(short)?;
    let commit_log_offset = r.i64().ok_or_else(short)?;
    let mut sys_flag = r.i32().ok_or_else(short)?;
    let born_timestamp = r.i64().ok_or_else(short)?;
    let born_host = r
        .socket_addr(sys_flag & sysflag::BORNHOST_V6 != 0)
        .ok_or_else(short)?;
    let store_timestamp = r.i64().ok_or_else(short)?;
    let store_host = r
        .socket_addr(sys_flag & sysflag::STOREHOST_V6 != 0)
        .ok_or_else(short)?;
    let reconsume_times = r.i32().ok_or_else(short)?;
    let prepared_transaction_offset = r.i64().ok_or_else(short)?;
    let body_len = r.i32().ok_or_else(short)?;
    let body_len = usize::try_from(body_len).map_err(|_| malformed("negative body length"))?;
    let body_start = start + r.pos;
    r.skip(body_len).ok_or_else(short)?;
    let stored_body = record.get(body_start - start..r.pos).ok_or_else(short)?;
    let topic_len = if magic == MAGIC_V2 {
        r.u16().map(usize::from)
    } else {
        r.u8().map(usize::from)
    }
    .ok_or_else(short)?;
    let topic = r.take(topic_len).ok_or_else(short)?;
    let topic = match core::str::from_utf8(topic) {
        Ok(t) => String::from(t),
        Err(_) => String::from_utf8_lossy(topic).into_owned(),
    };
    let props_len = r.u16().ok_or_else(short)?;
    let props = r.take(usize::from(props_len)).ok_or_else(short)?;
    let properties = Properties::decode(props);

    if options.verify_body_crc {
        let computed = (crc32fast::hash(stored_body) & 0x7FFF_FFFF) as i32;
        if computed != body_crc {
            return Err(MessageDecodeError::BodyCrcMismatch {
                offset,
                stored: body_crc,
                computed,
            });
        }
    }

    let body = if options.decompress && sysflag::is_compressed(sys_flag) {
        let value = sysflag::compression_type_value(sys_flag);
        let kind = compression::CompressionType::from_value(value).ok_or(
            MessageDecodeError::Decompression {
                offset,
                source: CompressionError::UnknownType(value),
            },
        )?;
        let plain = compression::decompress(kind, stored_body, options.max_decompressed_size)
            .map_err(|source| MessageDecodeError::Decompression { offset, source })?;
        sys_flag = sysflag::clear_compressed(sys_flag);
        Bytes::from(plain)
    } else {
        input.slice(body_start..body_start + body_len)
    };

    let msg_id = OffsetMessageId {
        addr: store_host,
        commit_log_offset,
    }
    .encode();

    let ext = MessageExt {
        message: Message {
            topic,
            flag,
            properties,
            body,
        },
        queue_id,
        store_size,
        queue_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        commit_log_offset,
        body_crc,
        reconsume_times,
        prepared_transaction_offset,
        msg_id,
    };
    Ok((ext, size))
}

/// Big-endian reader over a slice; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Some(a)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_be_bytes)
    }

    /// An address: 4 or 16 address bytes then an int32 port (a port outside
    /// 0..=65535 reads as 0).
    fn socket_addr(&mut self, v6: bool) -> Option<SocketAddr> {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))
        };
        let port = u16::try_from(self.i32()?).unwrap_or(0);
        Some(SocketAddr::new(ip, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::batch::encode_batch;
    use crate::message::compression::{compress, CompressionType};
    use alloc::vec;

    /// Field values of a record built by [`record`].
    #[derive(Clone)]
    struct Rec {
        magic: i32,
        queue_id: i32,
        flag: i32,
        queue_offset: i64,
        commit_log_offset: i64,
        sys_flag: i32,
        born: SocketAddr,
        store: SocketAddr,
        reconsume: i32,
        body: Vec<u8>,
        body_crc: Option<i32>,
        topic: Vec<u8>,
        props: Vec<u8>,
    }

    impl Default for Rec {
        fn default() -> Self {
            Rec {
                magic: MAGIC_V1,
                queue_id: 3,
                flag: 9,
                queue_offset: 100,
                commit_log_offset: 0x1234,
                sys_flag: 0,
                born: "10.0.0.1:50000".parse().unwrap(),
                store: "192.168.1.2:10911".parse().unwrap(),
                reconsume: 1,
                body: b"hello".to_vec(),
                body_crc: None,
                topic: b"TopicTest".to_vec(),
                props: b"TAGS\x01TagA\x02UNIQ_KEY\x01ABC\x02".to_vec(),
            }
        }
    }

    fn put_addr(out: &mut Vec<u8>, a: SocketAddr) {
        match a.ip() {
            IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
        }
        out.extend_from_slice(&(a.port() as i32).to_be_bytes());
    }

    /// Hand-builds one stored-message record (§5.1).
    fn record(r: &Rec) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&r.magic.to_be_bytes());
        let crc = r
            .body_crc
            .unwrap_or((crc32fast::hash(&r.body) & 0x7FFF_FFFF) as i32);
        v.extend_from_slice(&crc.to_be_bytes());
        v.extend_from_slice(&r.queue_id.to_be_bytes());
        v.extend_from_slice(&r.flag.to_be_bytes());
        v.extend_from_slice(&r.queue_offset.to_be_bytes());
        v.extend_from_slice(&r.commit_log_offset.to_be_bytes());
        v.extend_from_slice(&r.sys_flag.to_be_bytes());
        v.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        put_addr(&mut v, r.born);
        v.extend_from_slice(&1_700_000_000_005i64.to_be_bytes());
        put_addr(&mut v, r.store);
        v.extend_from_slice(&r.reconsume.to_be_bytes());
        v.extend_from_slice(&77i64.to_be_bytes());
        v.extend_from_slice(&(r.body.len() as i32).to_be_bytes());
        v.extend_from_slice(&r.body);
        if r.magic == MAGIC_V2 {
            v.extend_from_slice(&(r.topic.len() as u16).to_be_bytes());
        } else {
            v.push(r.topic.len() as u8);
        }
        v.extend_from_slice(&r.topic);
        v.extend_from_slice(&(r.props.len() as u16).to_be_bytes());
        v.extend_from_slice(&r.props);
        let n = v.len() as i32;
        v[..4].copy_from_slice(&n.to_be_bytes());
        v
    }

    fn decode(bytes: Vec<u8>) -> Result<Vec<MessageExt>, MessageDecodeError> {
        decode_messages(&Bytes::from(bytes))
    }

    #[test]
    fn decodes_every_field_of_a_v1_ipv4_record() {
        let m = decode(record(&Rec::default())).unwrap();
        assert_eq!(m.len(), 1);
        let m = &m[0];
        assert_eq!(m.topic(), "TopicTest");
        assert_eq!(m.message.flag, 9);
        assert_eq!(&m.body()[..], b"hello");
        assert_eq!(m.tags(), Some("TagA"));
        assert_eq!(m.queue_id, 3);
        assert_eq!(m.queue_offset, 100);
        assert_eq!(m.commit_log_offset, 0x1234);
        assert_eq!(m.born_timestamp, 1_700_000_000_000);
        assert_eq!(m.store_timestamp, 1_700_000_000_005);
        assert_eq!(m.born_host, "10.0.0.1:50000".parse().unwrap());
        assert_eq!(m.store_host, "192.168.1.2:10911".parse().unwrap());
        assert_eq!(m.reconsume_times, 1);
        assert_eq!(m.prepared_transaction_offset, 77);
        assert_eq!(m.store_size as usize, record(&Rec::default()).len());
        assert_eq!(m.msg_id, "C0A8010200002A9F0000000000001234");
        assert_eq!(m.id(), "ABC");
    }

    #[test]
    fn ipv4_record_field_offsets_match_the_spec() {
        let v = record(&Rec {
            sys_flag: 0x0102_0304,
            body: vec![0xEE; 3],
            ..Rec::default()
        });
        assert_eq!(&v[36..40], &0x0102_0304i32.to_be_bytes());
        assert_eq!(&v[56..64], &1_700_000_000_005i64.to_be_bytes());
        assert_eq!(&v[84..88], &3i32.to_be_bytes());
    }

    #[test]
    fn decodes_ipv6_hosts() {
        let r = Rec {
            sys_flag: sysflag::BORNHOST_V6 | sysflag::STOREHOST_V6,
            born: "[2001:db8::1]:40000".parse().unwrap(),
            store: "[2001:db8::2]:10911".parse().unwrap(),
            ..Rec::default()
        };
        let m = &decode(record(&r)).unwrap()[0];
        assert_eq!(m.born_host, r.born);
        assert_eq!(m.store_host, r.store);
        assert_eq!(m.msg_id.len(), 56);
        assert_eq!(&m.body()[..], b"hello");
    }

    #[test]
    fn decodes_v2_magic_with_two_byte_topic_length() {
        let topic = vec![b'a'; 300];
        let r = Rec {
            magic: MAGIC_V2,
            topic: topic.clone(),
            ..Rec::default()
        };
        let m = &decode(record(&r)).unwrap()[0];
        assert_eq!(m.topic().as_bytes(), &topic[..]);
        assert_eq!(m.tags(), Some("TagA"));
    }

    #[test]
    fn decodes_concatenated_records_in_order() {
        let mut v = record(&Rec::default());
        v.extend(record(&Rec {
            queue_offset: 101,
            body: b"second".to_vec(),
            ..Rec::default()
        }));
        let m = decode(v).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].queue_offset, 101);
        assert_eq!(&m[1].body()[..], b"second");
    }

    #[test]
    fn empty_input_decodes_to_no_messages() {
        assert_eq!(decode(vec![]).unwrap(), vec![]);
    }

    #[test]
    fn uncompressed_body_is_a_zero_copy_slice() {
        let input = Bytes::from(record(&Rec::default()));
        let m = decode_messages(&input).unwrap();
        let body = m[0].body();
        let base = input.as_ptr() as usize;
        let p = body.as_ptr() as usize;
        assert!(p >= base && p + body.len() <= base + input.len());
    }

    #[test]
    fn bad_magic_is_a_typed_error() {
        let r = Rec {
            magic: MAGIC_BLANK,
            ..Rec::default()
        };
        assert_eq!(
            decode(record(&r)),
            Err(MessageDecodeError::BadMagic {
                offset: 0,
                magic: MAGIC_BLANK
            })
        );
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let v = record(&Rec::default());
        for cut in 1..v.len() {
            assert!(decode(v[..cut].to_vec()).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn error_reports_offset_of_failing_record() {
        let mut v = record(&Rec::default());
        let first = v.len();
        v.extend_from_slice(&[0, 0, 0, 200, 1, 2]);
        assert_eq!(
            decode(v),
            Err(MessageDecodeError::Truncated { offset: first })
        );
    }

    #[test]
    fn total_size_below_minimum_is_rejected() {
        let mut v = record(&Rec::default());
        v[..4].copy_from_slice(&12i32.to_be_bytes());
        assert_eq!(
            decode(v),
            Err(MessageDecodeError::BadTotalSize {
                offset: 0,
                size: 12
            })
        );
    }

    #[test]
    fn body_length_past_total_size_is_malformed() {
        let mut v = record(&Rec::default());
        v[84..88].copy_from_slice(&1000i32.to_be_bytes());
        assert!(matches!(
            decode(v),
            Err(MessageDecodeError::Malformed { offset: 0, .. })
        ));
    }

    #[test]
    fn negative_body_length_is_malformed() {
        let mut v = record(&Rec::default());
        v[84..88].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            decode(v),
            Err(MessageDecodeError::Malformed {
                offset: 0,
                reason: "negative body length"
            })
        );
    }

    fn compressed(kind: CompressionType, flag_bits: i32) -> Rec {
        let plain = b"compressed body ".repeat(500);
        Rec {
            sys_flag: flag_bits,
            body: compress(kind, &plain, 5),
            ..Rec::default()
        }
    }

    fn assert_decompressed(r: Rec, expected_flag: i32) {
        let m = &decode(record(&r)).unwrap()[0];
        assert_eq!(&m.body()[..], &b"compressed body ".repeat(500)[..]);
        assert_eq!(m.sys_flag, expected_flag);
    }

    #[test]
    fn zlib_type_zero_body_is_decompressed_and_flag_cleared() {
        assert_decompressed(compressed(CompressionType::Zlib, 0x1), 0x0);
    }

    #[test]
    fn zlib_type_three_body_is_decompressed() {
        assert_decompressed(compressed(CompressionType::Zlib, 0x301), 0x300);
    }

    #[test]
    fn lz4_body_is_decompressed() {
        assert_decompressed(compressed(CompressionType::Lz4, 0x101), 0x100);
    }

    #[test]
    fn zstd_body_is_decompressed() {
        assert_decompressed(compressed(CompressionType::Zstd, 0x201), 0x200);
    }

    #[test]
    fn unknown_compression_type_is_an_error() {
        let r = Rec {
            sys_flag: 0x501,
            ..Rec::default()
        };
        assert_eq!(
            decode(record(&r)),
            Err(MessageDecodeError::Decompression {
                offset: 0,
                source: CompressionError::UnknownType(5)
            })
        );
    }

    #[test]
    fn decompression_limit_is_enforced() {
        let r = compressed(CompressionType::Zlib, 0x301);
        let opts = DecodeOptions {
            max_decompressed_size: 100,
            ..DecodeOptions::default()
        };
        assert_eq!(
            decode_messages_with(&Bytes::from(record(&r)), &opts),
            Err(MessageDecodeError::Decompression {
                offset: 0,
                source: CompressionError::LimitExceeded { limit: 100 }
            })
        );
    }

    #[test]
    fn decompression_can_be_disabled() {
        let r = compressed(CompressionType::Zlib, 0x301);
        let opts = DecodeOptions {
            decompress: false,
            ..DecodeOptions::default()
        };
        let m = &decode_messages_with(&Bytes::from(record(&r)), &opts).unwrap()[0];
        assert_eq!(&m.body()[..], &r.body[..]);
        assert_eq!(m.sys_flag, 0x301);
    }

    #[test]
    fn crc_is_checked_only_on_request() {
        let r = Rec {
            body_crc: Some(42),
            ..Rec::default()
        };
        assert!(decode(record(&r)).is_ok());
        let opts = DecodeOptions {
            verify_body_crc: true,
            ..DecodeOptions::default()
        };
        assert!(matches!(
            decode_messages_with(&Bytes::from(record(&r)), &opts),
            Err(MessageDecodeError::BodyCrcMismatch { stored: 42, .. })
        ));
        let good = Rec::default();
        assert!(decode_messages_with(&Bytes::from(record(&good)), &opts).is_ok());
    }

    #[test]
    fn inner_batch_is_unwrapped_with_consecutive_queue_offsets() {
        let inner = [
            Message::new("T", "one").with_tags("A"),
            Message::new("T", "two").with_flag(5),
            Message::new("T", "three"),
        ];
        let mut body = Vec::new();
        encode_batch(&inner, &mut body);
        let flags = sysflag::INNER_BATCH | sysflag::NEED_UNWRAP;
        let r = Rec {
            sys_flag: flags,
            body,
            ..Rec::default()
        };
        let m = decode(record(&r)).unwrap();
        assert_eq!(m.len(), 3);
        for (i, ext) in m.iter().enumerate() {
            assert_eq!(ext.queue_offset, 100 + i as i64);
            assert_eq!(ext.topic(), "TopicTest");
            assert_eq!(ext.sys_flag, flags);
            assert_eq!(ext.store_host, r.store);
            assert_eq!(ext.commit_log_offset, 0x1234);
        }
        assert_eq!(&m[0].body()[..], b"one");
        assert_eq!(m[0].tags(), Some("A"));
        assert_eq!(m[1].message.flag, 5);
        assert_eq!(&m[2].body()[..], b"three");
    }

    #[test]
    fn inner_batch_flag_alone_is_not_unwrapped() {
        let r = Rec {
            sys_flag: sysflag::INNER_BATCH,
            ..Rec::default()
        };
        assert_eq!(decode(record(&r)).unwrap().len(), 1);
    }

    #[test]
    fn corrupt_inner_batch_is_an_error() {
        let r = Rec {
            sys_flag: sysflag::INNER_BATCH | sysflag::NEED_UNWRAP,
            body: vec![0, 0, 0, 30, 0, 0],
            ..Rec::default()
        };
        assert!(matches!(
            decode(record(&r)),
            Err(MessageDecodeError::InnerBatch { offset: 0, .. })
        ));
    }
}
