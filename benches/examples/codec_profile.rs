//! A deterministic driver for `valgrind --tool=callgrind`: runs one codec
//! case of `benches/codec.rs` N times, so instruction counts can be
//! compared before and after a change (criterion timings on a shared
//! machine are too noisy for that).
//!
//! ```sh
//! cargo build --release -p rmq-benches --example codec_profile
//! valgrind --tool=callgrind target/release/examples/codec_profile pull 1000
//! ```
//!
//! Cases: `json` / `binary` (SEND_MESSAGE_V2 encode), `pull` (32×1 KiB
//! pull body decode), `send-response` (decode of the 5.x send response
//! golden vector); `peer-…` runs the same case with rocketmq-protocol.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use rmq_benches::{body_1k, pull_body, send_v2_header, PULL_BATCH};
use rmq_core::protocol::codes::request_code;
use rmq_core::protocol::frame::FrameDecoder;
use rmq_core::protocol::{encode_request, CommandMeta, SerializeType};
use rocketmq_protocol::common::message::message_decoder;
use rocketmq_protocol::RemotingCommand as PeerCommand;

/// The 5.x broker's answer to SEND_MESSAGE_V2 (JSON header), whole frame.
const SEND_RESPONSE_V5: &[u8] =
    include_bytes!("../../core/tests/vectors/broker/send_v2_response_v5.bin");

fn encode(ser: SerializeType, n: usize) {
    let header = send_v2_header();
    let body = body_1k();
    let meta = CommandMeta::request(request_code::SEND_MESSAGE_V2, 7);
    let mut out = BytesMut::with_capacity(4096);
    for _ in 0..n {
        out.clear();
        encode_request(&mut out, ser, &meta, black_box(&header), &[], &body).unwrap();
        black_box(out.len());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map_or("pull", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    match case {
        "json" => encode(SerializeType::Json, n),
        "binary" => encode(SerializeType::RocketMq, n),
        "pull" => {
            let body = Bytes::from(pull_body(PULL_BATCH));
            for _ in 0..n {
                black_box(rmq_core::message::decode_messages(black_box(&body)).unwrap());
            }
        }
        "peer-pull" => {
            let body = Bytes::from(pull_body(PULL_BATCH));
            for _ in 0..n {
                black_box(message_decoder::decodes_batch(
                    &mut black_box(&body).clone(),
                    true,
                    true,
                ));
            }
        }
        "send-response" => {
            let mut dec = FrameDecoder::default();
            for _ in 0..n {
                dec.feed(black_box(SEND_RESPONSE_V5));
                black_box(dec.decode_next().unwrap().unwrap());
            }
        }
        "peer-send-response" => {
            let mut buf = BytesMut::new();
            for _ in 0..n {
                buf.extend_from_slice(black_box(SEND_RESPONSE_V5));
                black_box(PeerCommand::decode(&mut buf).unwrap().unwrap());
            }
        }
        other => panic!("unknown case {other}"),
    }
}
