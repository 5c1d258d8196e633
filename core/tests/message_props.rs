//! Message layer: reference-tool test vectors and property tests.
//!
//! Vectors under `tests/vectors/` were made once with the reference tools
//! from the text of [`plain_text`]:
//! `lz4 -9` (v1.9.4, independent blocks, content checksum),
//! `lz4 -9 -B4 -BD -BX --content-size` (64 KiB linked blocks, block and
//! content checksums, content size), `zstd -19` (v1.5.4) and Python's
//! `zlib.compress(data, 5)` (the C zlib, as Java's `Deflater`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use proptest::prelude::*;
use rmq_core::message::batch::{decode_batch, try_encode_batch};
use rmq_core::message::compression::{self, CompressionType};
use rmq_core::message::ext::{decode_messages_with, DecodeOptions, MAGIC_V1, MAGIC_V2};
use rmq_core::message::{decode_messages, sysflag, Message, OffsetMessageId, Properties};

fn plain_text() -> Vec<u8> {
    (0..1500)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect::<String>()
        .into_bytes()
}

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Fields of a stored record built by [`record`].
struct Rec {
    magic: i32,
    sys_flag: i32,
    queue_offset: i64,
    commit_log_offset: i64,
    born: SocketAddr,
    store: SocketAddr,
    body: Vec<u8>,
    topic: String,
    props: Vec<u8>,
}

impl Rec {
    fn new(body: Vec<u8>) -> Rec {
        Rec {
            magic: MAGIC_V1,
            sys_flag: 0,
            queue_offset: 7,
            commit_log_offset: 4096,
            born: "127.0.0.1:40000".parse().unwrap(),
            store: "127.0.0.1:10911".parse().unwrap(),
            body,
            topic: "TopicTest".into(),
            props: b"TAGS\x01TagA\x02".to_vec(),
        }
    }
}

fn put_addr(v: &mut Vec<u8>, a: SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => v.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => v.extend_from_slice(&ip.octets()),
    }
    v.extend_from_slice(&i32::from(a.port()).to_be_bytes());
}

/// Hand-builds one stored-message record (PROTOCOL.md §5.1).
fn record(r: &Rec) -> Vec<u8> {
    let mut flag = r.sys_flag;
    if r.born.is_ipv6() {
        flag |= sysflag::BORNHOST_V6;
    }
    if r.store.is_ipv6() {
        flag |= sysflag::STOREHOST_V6;
    }
    let mut v = vec![0; 4];
    v.extend_from_slice(&r.magic.to_be_bytes());
    v.extend_from_slice(&0i32.to_be_bytes()); // body CRC
    v.extend_from_slice(&1i32.to_be_bytes()); // queue id
    v.extend_from_slice(&0i32.to_be_bytes()); // flag
    v.extend_from_slice(&r.queue_offset.to_be_bytes());
    v.extend_from_slice(&r.commit_log_offset.to_be_bytes());
    v.extend_from_slice(&flag.to_be_bytes());
    v.extend_from_slice(&1i64.to_be_bytes());
    put_addr(&mut v, r.born);
    v.extend_from_slice(&2i64.to_be_bytes());
    put_addr(&mut v, r.store);
    v.extend_from_slice(&0i32.to_be_bytes()); // reconsume times
    v.extend_from_slice(&0i64.to_be_bytes()); // prepared tx offset
    v.extend_from_slice(&(r.body.len() as i32).to_be_bytes());
    v.extend_from_slice(&r.body);
    if r.magic == MAGIC_V2 {
        v.extend_from_slice(&(r.topic.len() as u16).to_be_bytes());
    } else {
        v.push(r.topic.len() as u8);
    }
    v.extend_from_slice(r.topic.as_bytes());
    v.extend_from_slice(&(r.props.len() as u16).to_be_bytes());
    v.extend_from_slice(&r.props);
    let n = v.len() as i32;
    v[..4].copy_from_slice(&n.to_be_bytes());
    v
}

fn decoded_body(vector_name: &str, sys_flag: i32) -> (Bytes, i32) {
    let mut r = Rec::new(vector(vector_name));
    r.sys_flag = sys_flag;
    let msgs = decode_messages(&Bytes::from(record(&r))).unwrap();
    assert_eq!(msgs.len(), 1);
    (msgs[0].message.body.clone(), msgs[0].sys_flag)
}

#[test]
fn lz4_cli_frame_with_independent_blocks_decodes() {
    let (body, flag) = decoded_body("message_plain_default.lz4", 0x101);
    assert_eq!(&body[..], &plain_text()[..]);
    assert_eq!(flag, 0x100);
}

#[test]
fn lz4_cli_frame_with_linked_blocks_and_checksums_decodes() {
    let (body, _) = decoded_body("message_plain_linked_64k.lz4", 0x101);
    assert_eq!(&body[..], &plain_text()[..]);
}

#[test]
fn zstd_cli_frame_decodes() {
    let (body, flag) = decoded_body("message_plain.zst", 0x201);
    assert_eq!(&body[..], &plain_text()[..]);
    assert_eq!(flag, 0x200);
}

#[test]
fn c_zlib_stream_decodes_as_type_zero_and_three() {
    for flag in [0x1, 0x301] {
        let (body, out_flag) = decoded_body("message_plain.zlib", flag);
        assert_eq!(&body[..], &plain_text()[..]);
        assert_eq!(out_flag, flag & !1);
    }
}

#[test]
fn lz4_cli_content_size_above_limit_is_refused_early() {
    let err = compression::decompress(
        CompressionType::Lz4,
        &vector("message_plain_linked_64k.lz4"),
        1000,
    )
    .unwrap_err();
    assert_eq!(
        err,
        compression::CompressionError::LimitExceeded { limit: 1000 }
    );
}

#[test]
fn zstd_cli_frame_over_limit_is_limit_exceeded() {
    let err = compression::decompress(CompressionType::Zstd, &vector("message_plain.zst"), 80_000)
        .unwrap_err();
    assert_eq!(
        err,
        compression::CompressionError::LimitExceeded { limit: 80_000 }
    );
}

#[test]
fn our_zlib_output_is_readable_by_our_decoder_at_java_level() {
    let z = compression::compress_zlib(&plain_text(), compression::JAVA_ZLIB_LEVEL);
    assert_eq!(
        compression::decompress(CompressionType::Zlib, &z, 1 << 20).unwrap(),
        plain_text()
    );
}

// ------------------------------------------------------------ properties

fn prop_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_#.%-]{1,16}"
}

fn prop_value() -> impl Strategy<Value = String> {
    "[^\u{1}\u{2}]{1,24}"
}

fn properties() -> impl Strategy<Value = Properties> {
    prop::collection::btree_map(prop_name(), prop_value(), 0..8)
        .prop_map(|m: BTreeMap<String, String>| m.into_iter().collect())
}

fn message(topic: &'static str) -> impl Strategy<Value = Message> {
    (
        any::<i32>(),
        prop::collection::vec(any::<u8>(), 0..64),
        properties(),
    )
        .prop_map(move |(flag, body, properties)| Message {
            topic: topic.into(),
            flag,
            properties,
            body: Bytes::from(body),
        })
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

/// A valid record, then some bytes overwritten and the tail possibly cut.
fn mutated_record() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
        prop::sample::select(vec![0, 0x1, 0x101, 0x201, 0x301, 0xC0, 0x30]),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(body, v2, flag, edits, cut, do_cut)| {
            let mut r = Rec::new(body);
            r.sys_flag = flag;
            if v2 {
                r.magic = MAGIC_V2;
            }
            let mut v = record(&r);
            for (i, b) in edits {
                let i = i.index(v.len());
                v[i] = b;
            }
            if do_cut {
                v.truncate(cut.index(v.len() + 1));
            }
            v
        })
}

proptest! {
    #[test]
    fn decode_messages_never_panics_on_arbitrary_bytes(
        data in prop::collection::vec(any::<u8>(), 0..300)
    ) {
        let _ = decode_messages(&Bytes::from(data));
    }

    #[test]
    fn decode_messages_never_panics_on_mutated_records(data in mutated_record()) {
        let opts = DecodeOptions {
            max_decompressed_size: 4096,
            verify_body_crc: true,
            ..DecodeOptions::default()
        };
        let bytes = Bytes::from(data);
        let _ = decode_messages(&bytes);
        let _ = decode_messages_with(&bytes, &opts);
    }

    #[test]
    fn properties_decode_never_panics(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Properties::decode(&data);
    }

    #[test]
    fn decompressors_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..200),
        kind in prop::sample::select(vec![
            CompressionType::Zlib, CompressionType::Lz4, CompressionType::Zstd,
        ]),
        with_magic in any::<bool>(),
    ) {
        let mut input = Vec::new();
        if with_magic {
            let magic: &[u8] = match kind {
                CompressionType::Lz4 => &[0x04, 0x22, 0x4D, 0x18],
                CompressionType::Zstd => &[0x28, 0xB5, 0x2F, 0xFD],
                CompressionType::Zlib => &[0x78, 0x9C],
            };
            input.extend_from_slice(magic);
        }
        input.extend_from_slice(&data);
        let _ = compression::decompress(kind, &input, 1 << 16);
    }

    #[test]
    fn decompressors_never_panic_on_mutated_streams(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let (kind, name) = [
            (CompressionType::Lz4, "message_plain_default.lz4"),
            (CompressionType::Lz4, "message_plain_linked_64k.lz4"),
            (CompressionType::Zstd, "message_plain.zst"),
            (CompressionType::Zlib, "message_plain.zlib"),
        ][which];
        let mut input = vector(name);
        for (i, b) in edits {
            let i = i.index(input.len());
            input[i] = b;
        }
        if do_cut {
            input.truncate(cut.index(input.len() + 1));
        }
        let _ = compression::decompress(kind, &input, 100_000);
    }

    #[test]
    fn properties_encode_decode_is_identity(p in properties()) {
        let mut wire = Vec::new();
        p.encode_into(&mut wire);
        prop_assert_eq!(wire.len(), p.encoded_len());
        prop_assert_eq!(Properties::decode(&wire), p);
    }

    #[test]
    fn batch_encode_decode_is_identity(msgs in prop::collection::vec(message("T"), 0..6)) {
        let mut wire = Vec::new();
        try_encode_batch(&msgs, &mut wire).unwrap();
        prop_assert_eq!(decode_batch(&Bytes::from(wire), "T").unwrap(), msgs);
    }

    #[test]
    fn compression_round_trips(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        kind in prop::sample::select(vec![
            CompressionType::Zlib, CompressionType::Lz4, CompressionType::Zstd,
        ]),
    ) {
        let c = compression::compress(kind, &data, 5);
        prop_assert_eq!(compression::decompress(kind, &c, data.len()).unwrap(), data);
    }

    #[test]
    fn offset_message_id_round_trips(addr in socket_addr(), offset in any::<i64>()) {
        let id = OffsetMessageId { addr, commit_log_offset: offset };
        let s = id.encode();
        prop_assert_eq!(s.len(), if addr.is_ipv4() { 32 } else { 56 });
        prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        prop_assert_eq!(OffsetMessageId::decode(&s), Ok(id));
    }

    #[test]
    fn stored_record_fields_survive_decoding(
        body in prop::collection::vec(any::<u8>(), 0..100),
        born in socket_addr(),
        store in socket_addr(),
        queue_offset in any::<i64>(),
        commit_log_offset in any::<i64>(),
        props in properties(),
        v2 in any::<bool>(),
    ) {
        let mut r = Rec::new(body.clone());
        r.born = born;
        r.store = store;
        r.queue_offset = queue_offset;
        r.commit_log_offset = commit_log_offset;
        r.props = props.encode();
        if v2 {
            r.magic = MAGIC_V2;
        }
        let m = decode_messages(&Bytes::from(record(&r))).unwrap();
        prop_assert_eq!(m.len(), 1);
        let m = &m[0];
        prop_assert_eq!(&m.message.body[..], &body[..]);
        prop_assert_eq!(m.born_host, born);
        prop_assert_eq!(m.store_host, store);
        prop_assert_eq!(m.queue_offset, queue_offset);
        prop_assert_eq!(&m.message.properties, &props);
        prop_assert_eq!(
            m.msg_id.clone(),
            OffsetMessageId { addr: store, commit_log_offset }.encode()
        );
    }
}
