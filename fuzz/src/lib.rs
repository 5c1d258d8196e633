//! The bodies of the fuzz targets, as plain functions so the corpus can
//! also be replayed by `cargo test` without libFuzzer.
//!
//! Each function must never panic on any input: bad input is a typed error
//! in rmq-core. A panic (or an abort from an absurd allocation) is a bug.

pub mod engine;

use bytes::Bytes;
use rmq_core::client::PullResult;
use rmq_core::message::compression::{decompress_lz4_frame, decompress_zlib, decompress_zstd};
use rmq_core::message::ext::{decode_messages_with, DecodeOptions};
use rmq_core::message::{decode_batch, OffsetMessageId, Properties};
use rmq_core::protocol::body::{
    ClusterInfo, ConsumerListBody, LockBatchResponseBody, ResetOffsetBody,
};
use rmq_core::protocol::headers::*;
use rmq_core::protocol::{decode_command, json, RemotingCommand, SerializeType};
use rmq_core::route::{RouteTable, TopicRouteData};

/// Decompression limit in the targets: small, so limit paths are reached.
const LIMIT: usize = 1 << 20;

/// Decodes `data` as a frame without its length prefix, then every header
/// and body the client reads from it, then re-encodes it.
pub fn command_decoders(data: &[u8]) {
    let Ok(cmd) = decode_command(Bytes::copy_from_slice(data)) else {
        return;
    };
    read_every_header(&cmd);
    let _ = PullResult::from_response(&cmd, "fuzz:1");
    let _ = ClusterInfo::parse(&cmd.body);
    let _ = ConsumerListBody::parse(&cmd.body);
    let _ = LockBatchResponseBody::parse(&cmd.body);
    let _ = ResetOffsetBody::parse(&cmd.body);
    let _ = TopicRouteData::parse(&cmd.body);
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let mut out = bytes::BytesMut::new();
        if cmd.encode(ser, &mut out).is_ok() {
            // What we encode, we decode.
            let frame = out.freeze().slice(4..);
            decode_command(frame).expect("a re-encoded command decodes");
        }
    }
}

fn read_every_header(cmd: &RemotingCommand) {
    let _ = cmd.header::<SendMessageResponseHeader>();
    let _ = cmd.header::<PullMessageResponseHeader>();
    let _ = cmd.header::<QueryConsumerOffsetResponseHeader>();
    let _ = cmd.header::<GetMaxOffsetResponseHeader>();
    let _ = cmd.header::<GetMinOffsetResponseHeader>();
    let _ = cmd.header::<SearchOffsetResponseHeader>();
    let _ = cmd.header::<GetEarliestMsgStoretimeResponseHeader>();
    let _ = cmd.header::<PopMessageResponseHeader>();
    let _ = cmd.header::<ChangeInvisibleTimeResponseHeader>();
    let _ = cmd.header::<QueryMessageResponseHeader>();
    let _ = cmd.header::<NotifyConsumerIdsChangedRequestHeader>();
    let _ = cmd.header::<ResetOffsetRequestHeader>();
    let _ = cmd.header::<GetConsumerRunningInfoRequestHeader>();
    let _ = cmd.header::<ConsumeMessageDirectlyResultRequestHeader>();
    let _ = cmd.header::<CheckTransactionStateRequestHeader>();
    let _ = cmd.header::<SendMessageRequestHeaderV2>();
    let _ = cmd.header::<SendMessageRequestHeader>();
    let _ = cmd.header::<PullMessageRequestHeader>();
}

/// Decodes `data` as stored-message records (every option combination),
/// as a batch body, as properties and as a message id, and decompresses it
/// with each codec.
pub fn message_decoders(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    for (decompress, verify_body_crc, unwrap_inner_batch) in [
        (true, false, true),
        (false, true, false),
        (true, true, true),
    ] {
        let options = DecodeOptions {
            max_decompressed_size: LIMIT,
            decompress,
            verify_body_crc,
            unwrap_inner_batch,
        };
        if let Ok(messages) = decode_messages_with(&body, &options) {
            for m in &messages {
                let _ = (m.id(), m.tags(), m.unique_key(), m.retry_topic());
                let _ = m.offset_msg_id();
            }
        }
    }
    let _ = decode_batch(&body, "fuzz_topic");
    let props = Properties::decode(data);
    let _ = props.encode();
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = OffsetMessageId::decode(text);
    }
    for result in [
        decompress_zlib(data, LIMIT),
        decompress_lz4_frame(data, LIMIT),
        decompress_zstd(data, LIMIT),
    ] {
        if let Ok(out) = result {
            assert!(out.len() <= LIMIT, "decompressed past the limit");
        }
    }
}

/// Parses `data` as JSON and as a route, builds the route table, and writes
/// the parsed JSON back (which must parse again).
pub fn route_json(data: &[u8]) {
    if let Ok(value) = json::parse(data) {
        let mut out = Vec::new();
        value.write_to(&mut out);
        json::parse(&out).expect("written JSON parses");
        if let Ok(route) = TopicRouteData::from_json(&value) {
            let table = RouteTable::new("fuzz_topic", &route);
            let _ = table.publish_queues().len() + table.subscribe_queues().len();
            let _ = RouteTable::from_default_topic("fuzz_topic", &route, 8);
        }
    }
}
