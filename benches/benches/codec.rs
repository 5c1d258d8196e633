//! Codec hot paths of rmq-core against the `rocketmq-protocol` crate (the
//! Rust peer, rocketmq-rust) on the same inputs, in one run:
//!
//! * `send_v2_encode_1k/{json,rocketmq}/…`: one SEND_MESSAGE_V2 request
//!   with a 1 KiB body appended to a reused, cleared `BytesMut`.
//!   - `rmq`: `encode_request` with a prebuilt `SendMessageRequestHeaderV2`.
//!   - `rocketmq-protocol`: a prebuilt `RemotingCommand` (its typed header
//!     and body set once), `try_fast_header_encode` + the body appended —
//!     the peer's cheapest path to the same contiguous frame.
//!   - `rocketmq-protocol+command`: the same, building the command per
//!     message (header clone, `create_request_command_with_defaults`,
//!     `set_body`), which is what its API needs for every send.
//! * `pull_decode_32x1k/…`: a pull response body of 32 stored records
//!   (1 KiB body, KEYS/UNIQ_KEY/WAIT/TAGS) decoded into message values.
//!   - `rmq`: `rmq_core::message::decode_messages`.
//!   - `rocketmq-protocol`: `message_decoder::decodes_batch(body, true,
//!     true)`, the call its pull path makes.
//!
//! * `send_response_decode_v5/…`: the SEND_MESSAGE_V2 response a 5.5.0
//!   broker sent (golden vector `core/tests/vectors/broker/
//!   send_v2_response_v5.bin`, JSON header, six ext fields) appended to a
//!   receive buffer and decoded into a command, as a connection reader does.
//!   - `rmq`: `FrameDecoder::feed` + `decode_next`.
//!   - `rocketmq-protocol`: `BytesMut::extend_from_slice` +
//!     `RemotingCommand::decode`.
//!
//! Throughput is in messages (elements) per second.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cheetah_string::CheetahString;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rmq_benches::{body_1k, pull_body, send_v2_header, BODY_SIZE, PULL_BATCH, SEND_PROPERTIES};
use rmq_core::protocol::codes::request_code;
use rmq_core::protocol::frame::FrameDecoder;
use rmq_core::protocol::{decode_command, encode_request, CommandMeta, SerializeType};
use rocketmq_protocol::common::message::message_decoder;
use rocketmq_protocol::protocol::header::message_operation_header::send_message_request_header_v2::SendMessageRequestHeaderV2 as PeerSendV2;
use rocketmq_protocol::protocol::SerializeType as PeerSerializeType;
use rocketmq_protocol::{RemotingCommand as PeerCommand, RequestCode};

const OPAQUE: i32 = 7;

/// The peer's header with the same values as [`send_v2_header`].
fn peer_header() -> PeerSendV2 {
    let h = send_v2_header();
    PeerSendV2 {
        a: CheetahString::from_string(h.a),
        b: CheetahString::from_string(h.b),
        c: CheetahString::from_string(h.c),
        d: h.d,
        e: h.e,
        f: h.f,
        g: h.g,
        h: h.h,
        i: h.i.map(CheetahString::from_string),
        j: h.j,
        k: h.k,
        l: h.l,
        m: h.m,
        n: h.n.map(CheetahString::from_string),
        topic_request_header: None,
    }
}

fn peer_command(header: PeerSendV2, ser: PeerSerializeType, body: &Bytes) -> PeerCommand {
    PeerCommand::create_request_command_with_defaults(RequestCode::SendMessageV2, header, 501, ser)
        .set_opaque(OPAQUE)
        .set_body(body.clone())
}

/// Appends the peer's frame for `cmd` (header via its fast encoder, then
/// the body) to `out`.
fn peer_encode(cmd: &mut PeerCommand, body: &[u8], out: &mut BytesMut) {
    if cmd.try_fast_header_encode(out).is_err() {
        panic!("rocketmq-protocol failed to encode the send request");
    }
    out.extend_from_slice(body);
}

/// Decodes `frame` with rmq-core and checks it is the benchmark request,
/// so both implementations are measured producing the same content.
fn check_send_frame(who: &str, frame: Bytes) {
    let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(len + 4, frame.len(), "{who}: length prefix");
    let cmd = decode_command(frame.slice(4..)).unwrap();
    assert_eq!(cmd.code, request_code::SEND_MESSAGE_V2, "{who}: code");
    assert_eq!(cmd.ext_fields.get("b"), Some("BenchTopic"), "{who}: topic");
    assert_eq!(
        cmd.ext_fields.get("i"),
        Some(SEND_PROPERTIES),
        "{who}: properties"
    );
    assert_eq!(
        cmd.ext_fields.get("n"),
        Some("broker-a"),
        "{who}: broker name"
    );
    assert_eq!(cmd.body.len(), BODY_SIZE, "{who}: body");
}

fn send_v2_encode(c: &mut Criterion) {
    let header = send_v2_header();
    let body = body_1k();
    let body_bytes = Bytes::from(body.clone());
    let meta = CommandMeta::request(request_code::SEND_MESSAGE_V2, OPAQUE);

    let mut group = c.benchmark_group("send_v2_encode_1k");
    group.throughput(Throughput::Elements(1));
    for (name, ser, peer_ser) in [
        ("json", SerializeType::Json, PeerSerializeType::JSON),
        (
            "rocketmq",
            SerializeType::RocketMq,
            PeerSerializeType::ROCKETMQ,
        ),
    ] {
        let mut out = BytesMut::with_capacity(4096);
        encode_request(&mut out, ser, &meta, &header, &[], &body).unwrap();
        check_send_frame("rmq", out.split().freeze());
        group.bench_function(format!("{name}/rmq"), |b| {
            b.iter(|| {
                out.clear();
                encode_request(
                    &mut out,
                    ser,
                    &meta,
                    black_box(&header),
                    &[],
                    black_box(&body),
                )
                .unwrap();
                black_box(out.len())
            })
        });

        let mut cmd = peer_command(peer_header(), peer_ser, &body_bytes);
        let mut out = BytesMut::with_capacity(4096);
        peer_encode(&mut cmd, &body, &mut out);
        check_send_frame("rocketmq-protocol", out.split().freeze());
        group.bench_function(format!("{name}/rocketmq-protocol"), |b| {
            b.iter(|| {
                out.clear();
                peer_encode(black_box(&mut cmd), black_box(&body), &mut out);
                black_box(out.len())
            })
        });

        let peer_hdr = peer_header();
        group.bench_function(format!("{name}/rocketmq-protocol+command"), |b| {
            b.iter(|| {
                out.clear();
                let mut cmd = peer_command(black_box(&peer_hdr).clone(), peer_ser, &body_bytes);
                peer_encode(&mut cmd, &body, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn pull_decode(c: &mut Criterion) {
    let body = Bytes::from(pull_body(PULL_BATCH));

    let ours = rmq_core::message::decode_messages(&body).unwrap();
    assert_eq!(ours.len(), PULL_BATCH);
    let theirs = message_decoder::decodes_batch(&mut body.clone(), true, true);
    assert_eq!(theirs.len(), PULL_BATCH, "rocketmq-protocol decoded count");
    for (m, p) in ours.iter().zip(&theirs) {
        assert_eq!(m.queue_offset, p.queue_offset);
        assert_eq!(p.body().map(|b| b.len()), Some(BODY_SIZE));
        assert_eq!(p.get_tags().as_deref(), m.tags());
        assert_eq!(p.msg_id.as_str(), m.msg_id);
    }

    let mut group = c.benchmark_group("pull_decode_32x1k");
    group.throughput(Throughput::Elements(PULL_BATCH as u64));
    group.bench_function("rmq", |b| {
        b.iter(|| rmq_core::message::decode_messages(black_box(&body)).unwrap())
    });
    group.bench_function("rocketmq-protocol", |b| {
        b.iter(|| message_decoder::decodes_batch(&mut black_box(&body).clone(), true, true))
    });
    group.finish();
}

/// The 5.x broker's answer to SEND_MESSAGE_V2 (JSON header), whole frame.
const SEND_RESPONSE_V5: &[u8] =
    include_bytes!("../../core/tests/vectors/broker/send_v2_response_v5.bin");

fn send_response_decode(c: &mut Criterion) {
    let mut ours = FrameDecoder::default();
    ours.feed(SEND_RESPONSE_V5);
    let cmd = ours.decode_next().unwrap().unwrap();
    assert_eq!(cmd.opaque, 42);
    assert_eq!(cmd.ext_fields.get("queueOffset"), Some("0"));
    let mut theirs = BytesMut::new();
    theirs.extend_from_slice(SEND_RESPONSE_V5);
    let peer = PeerCommand::decode(&mut theirs).unwrap().unwrap();
    assert_eq!(peer.opaque(), 42);
    assert_eq!(
        peer.ext_fields()
            .and_then(|f| f.get("queueOffset"))
            .map(|v| v.as_str()),
        Some("0")
    );

    let mut group = c.benchmark_group("send_response_decode_v5");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rmq", |b| {
        b.iter(|| {
            ours.feed(black_box(SEND_RESPONSE_V5));
            ours.decode_next().unwrap().unwrap()
        })
    });
    group.bench_function("rocketmq-protocol", |b| {
        b.iter(|| {
            theirs.extend_from_slice(black_box(SEND_RESPONSE_V5));
            PeerCommand::decode(&mut theirs).unwrap().unwrap()
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = codec;
    config = config();
    targets = send_v2_encode, pull_decode, send_response_decode
}
criterion_main!(codec);
