//! Golden vectors captured from REAL Apache RocketMQ brokers and name servers
//! (5.5.0 and 4.9.7; see `tests/vectors/broker/README.md` for how each file
//! was captured). Each file is one whole frame, length prefix included.
//!
//! What is checked: the frames decode through [`FrameDecoder`] however the
//! bytes are split; the decoded codes, headers, route tables and messages
//! are what was sent; and re-encoding a decoded command reproduces the
//! broker's bytes exactly (an empty `extFields` is omitted, as fastjson does).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use bytes::BytesMut;
use rmq_core::message::id::OffsetMessageId;
use rmq_core::message::{decode_messages, property, Message, MessageExt};
use rmq_core::protocol::body::ClusterInfo;
use rmq_core::protocol::headers::{
    PullMessageResponseHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use rmq_core::protocol::{
    encode_request, request_code, response_code, CommandMeta, FrameDecoder, LanguageCode,
    RemotingCommand, SerializeType,
};
use rmq_core::route::TopicRouteData;

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/broker")
}

fn load(name: &str) -> Vec<u8> {
    let path = vector_dir().join(format!("{name}.bin"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn all_vectors() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(vector_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 20, "vectors missing: {}", out.len());
    out
}

/// The header serialize type written in the frame (top byte of the header
/// length word).
fn wire_serialize_type(frame: &[u8]) -> SerializeType {
    SerializeType::from_code(frame[4]).unwrap()
}

/// Feeds `frame` in chunks of `chunk` bytes; exactly one command comes out,
/// after the last byte.
fn decode_in_chunks(frame: &[u8], chunk: usize) -> RemotingCommand {
    let mut dec = FrameDecoder::default();
    let mut got = None;
    for (i, piece) in frame.chunks(chunk).enumerate() {
        dec.feed(piece);
        let is_last = (i + 1) * chunk >= frame.len();
        match dec.decode_next().unwrap() {
            Some(cmd) => {
                assert!(is_last, "decoded before the last byte (chunk {chunk})");
                assert!(got.replace(cmd).is_none());
            }
            None => assert!(!is_last, "nothing decoded after the last byte"),
        }
    }
    assert_eq!(dec.buffered_len(), 0);
    assert!(dec.decode_next().unwrap().is_none());
    got.unwrap()
}

fn decode(frame: &[u8]) -> RemotingCommand {
    decode_in_chunks(frame, frame.len())
}

fn reencode(cmd: &RemotingCommand, ser: SerializeType) -> Vec<u8> {
    let mut out = BytesMut::new();
    cmd.encode(ser, &mut out).unwrap();
    out.to_vec()
}

fn body_text(cmd: &RemotingCommand) -> String {
    String::from_utf8(cmd.body.to_vec()).unwrap()
}

const V5_BROKER: &str = "127.0.0.1:10951";
const V4_BROKER: &str = "127.0.0.1:10961";

// ---------------------------------------------------------------- framing

#[test]
fn every_vector_decodes_the_same_however_the_bytes_are_split() {
    for (name, frame) in all_vectors() {
        let whole = decode(&frame);
        for chunk in [1, 2, 3, 4, 5, 7, 8, 13, 64, 1000] {
            assert_eq!(
                decode_in_chunks(&frame, chunk),
                whole,
                "{name}, chunk {chunk}"
            );
        }
    }
}

#[test]
fn two_vectors_back_to_back_decode_as_two_commands() {
    let mut stream = load("send_v2_response_v5");
    stream.extend(load("pull_multi_v5bin"));
    let mut dec = FrameDecoder::default();
    dec.feed(&stream[..stream.len() - 1]);
    let first = dec.decode_next().unwrap().unwrap();
    assert!(dec.decode_next().unwrap().is_none());
    dec.feed(&stream[stream.len() - 1..]);
    let second = dec.decode_next().unwrap().unwrap();
    assert_eq!(first.opaque, 42);
    assert_eq!(second.ext_fields.get("nextBeginOffset"), Some("6"));
}

#[test]
fn every_broker_response_is_a_java_response() {
    for (name, frame) in all_vectors() {
        let cmd = decode(&frame);
        if name.starts_with("send_v2_request") {
            continue;
        }
        assert!(cmd.is_response(), "{name}");
        assert!(!cmd.is_oneway(), "{name}");
        assert_eq!(cmd.language, LanguageCode::Java, "{name}");
        let version = if name.ends_with("_v4") { 407 } else { 513 };
        assert_eq!(cmd.version, version, "{name}: V4_9_7 = 407, V5_5_0 = 513");
    }
}

// ------------------------------------------------------- re-encoding

#[test]
fn binary_responses_reencode_byte_identically() {
    let mut seen = 0;
    for (name, frame) in all_vectors() {
        if wire_serialize_type(&frame) != SerializeType::RocketMq || name.contains("request") {
            continue;
        }
        let cmd = decode(&frame);
        assert_eq!(reencode(&cmd, SerializeType::RocketMq), frame, "{name}");
        seen += 1;
    }
    assert_eq!(seen, 6, "binary response vectors");
}

#[test]
fn json_responses_with_ext_fields_reencode_byte_identically() {
    let mut seen = 0;
    for (name, frame) in all_vectors() {
        if wire_serialize_type(&frame) != SerializeType::Json || name.contains("request") {
            continue;
        }
        let cmd = decode(&frame);
        if cmd.ext_fields.is_empty() {
            continue;
        }
        assert_eq!(reencode(&cmd, SerializeType::Json), frame, "{name}");
        seen += 1;
    }
    assert_eq!(seen, 8, "JSON response vectors with ext fields");
}

/// Java (fastjson) omits a null `extFields`; our writer always writes the
/// object. Everything else (key order, remark escaping, body) is identical.
#[test]
fn json_reencoding_without_ext_fields_is_byte_identical() {
    let mut seen = 0;
    for (name, frame) in all_vectors() {
        if wire_serialize_type(&frame) != SerializeType::Json {
            continue;
        }
        let cmd = decode(&frame);
        if !cmd.ext_fields.is_empty() {
            continue;
        }
        let header_len = (u32::from_be_bytes(frame[4..8].try_into().unwrap()) & 0xFF_FFFF) as usize;
        let header = std::str::from_utf8(&frame[8..8 + header_len]).unwrap();
        assert!(!header.contains("extFields"), "{name}: {header}");
        // Like fastjson, we omit an empty `extFields` object.
        assert_eq!(reencode(&cmd, SerializeType::Json), frame, "{name}");
        seen += 1;
    }
    assert_eq!(seen, 9, "JSON vectors without ext fields");
}

// ------------------------------------------------------ our requests

/// The SEND_MESSAGE_V2 request `tests/examples/capture_vectors.rs` sent (and
/// the broker accepted): fixed content, opaque 42.
fn golden_send_request(ser: SerializeType, topic: &str) -> Vec<u8> {
    let mut msg = Message::new(topic, &b"golden request body"[..])
        .with_tags("TagG")
        .with_keys(["gk1", "gk2"]);
    msg.properties.insert("color", "blue");
    msg.properties.insert(
        property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
        "7F00000100002A9F0000000000000001",
    );
    let header = SendMessageRequestHeaderV2 {
        a: "golden_group".into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: 0,
        f: 0,
        g: 1_764_201_600_000,
        h: 0,
        i: Some(String::from_utf8(msg.properties.encode()).unwrap()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(false),
        n: None,
    };
    let mut out = BytesMut::new();
    encode_request(
        &mut out,
        ser,
        &CommandMeta::request(request_code::SEND_MESSAGE_V2, 42),
        &header,
        &[],
        &msg.body,
    )
    .unwrap();
    out.to_vec()
}

#[test]
fn send_v2_request_with_json_header_is_encoded_byte_identically() {
    for v in ["v5", "v4"] {
        let expected = load(&format!("send_v2_request_json_{v}"));
        let ours = golden_send_request(SerializeType::Json, &format!("golden_req_{v}"));
        assert_eq!(ours, expected, "{v}");
    }
}

#[test]
fn send_v2_request_with_binary_header_is_encoded_byte_identically() {
    for v in ["v5", "v4"] {
        let expected = load(&format!("send_v2_request_binary_{v}"));
        let ours = golden_send_request(SerializeType::RocketMq, &format!("golden_req_{v}"));
        assert_eq!(ours, expected, "{v}");
    }
}

#[test]
fn send_v2_request_vectors_round_trip_through_the_decoder() {
    for name in ["send_v2_request_json_v5", "send_v2_request_binary_v5"] {
        let frame = load(name);
        let cmd = decode(&frame);
        assert_eq!(cmd.code, request_code::SEND_MESSAGE_V2);
        assert_eq!(cmd.language, LanguageCode::Rust);
        let h: SendMessageRequestHeaderV2 = cmd.header().unwrap();
        assert_eq!(h.b, "golden_req_v5");
        assert_eq!(&cmd.body[..], b"golden request body");
        assert_eq!(reencode(&cmd, wire_serialize_type(&frame)), frame, "{name}");
    }
}

// ------------------------------------------------------------- routes

fn route(name: &str) -> TopicRouteData {
    let cmd = decode(&load(name));
    assert_eq!(cmd.code, response_code::SUCCESS, "{name}");
    TopicRouteData::parse(&cmd.body).unwrap()
}

fn assert_golden_route(r: &TopicRouteData, broker: &str) {
    assert_eq!(r.queue_datas.len(), 1);
    let q = &r.queue_datas[0];
    assert_eq!(q.broker_name, "broker-a");
    assert_eq!((q.read_queue_nums, q.write_queue_nums, q.perm), (2, 2, 6));
    assert_eq!(q.topic_sys_flag, 0);
    assert_eq!(r.broker_datas.len(), 1);
    let b = &r.broker_datas[0];
    assert_eq!(b.cluster, "DefaultCluster");
    assert_eq!(b.broker_name, "broker-a");
    assert_eq!(b.master_addr(), Some(broker));
    assert_eq!(b.broker_addrs.len(), 1);
    assert_eq!(r.order_topic_conf, None);
}

#[test]
fn route_response_carries_the_created_topic() {
    assert_golden_route(&route("route_v5"), V5_BROKER);
    assert_golden_route(&route("route_v4"), V4_BROKER);
}

#[test]
fn standard_json_route_quotes_the_broker_id_key() {
    for name in ["route_v5", "route_v4"] {
        let body = body_text(&decode(&load(name)));
        assert!(
            body.contains(r#""brokerAddrs":{"0":"127.0.0.1:"#),
            "{name}: {body}"
        );
    }
}

#[test]
fn legacy_route_leaves_the_broker_id_key_unquoted_and_parses_the_same() {
    for (legacy, standard, broker) in [
        ("route_legacy_v5", "route_v5", V5_BROKER),
        ("route_legacy_v4", "route_v4", V4_BROKER),
    ] {
        let body = body_text(&decode(&load(legacy)));
        assert!(
            body.contains(r#""brokerAddrs":{0:"127.0.0.1:"#),
            "{legacy}: {body}"
        );
        assert_eq!(route(legacy), route(standard));
        assert_golden_route(&route(legacy), broker);
    }
}

#[test]
fn route_body_shape_differs_between_versions_only_by_enable_acting_master() {
    let v5 = body_text(&decode(&load("route_v5")));
    let v4 = body_text(&decode(&load("route_v4")));
    assert!(v5.contains(r#""enableActingMaster":false"#));
    assert!(!v4.contains("enableActingMaster"));
    for body in [&v5, &v4] {
        assert!(body.contains(r#""filterServerTable":{}"#));
        assert!(!body.contains("orderTopicConf"));
    }
}

#[test]
fn route_asked_with_a_binary_header_is_answered_in_json_by_5x_and_binary_by_4x() {
    let v5 = load("route_binreq_v5");
    let v4 = load("route_binreq_v4");
    assert_eq!(wire_serialize_type(&v5), SerializeType::Json);
    assert_eq!(wire_serialize_type(&v4), SerializeType::RocketMq);
    assert_golden_route(
        &TopicRouteData::parse(&decode(&v5).body).unwrap(),
        V5_BROKER,
    );
    assert_golden_route(
        &TopicRouteData::parse(&decode(&v4).body).unwrap(),
        V4_BROKER,
    );
}

#[test]
fn route_of_an_unknown_topic_is_topic_not_exist_with_a_remark() {
    for (name, v) in [("route_not_exist_v5", "v5"), ("route_not_exist_v4", "v4")] {
        let cmd = decode(&load(name));
        assert_eq!(cmd.code, response_code::TOPIC_NOT_EXIST);
        assert!(cmd.body.is_empty());
        let remark = cmd.remark.unwrap();
        assert!(
            remark.starts_with(&format!(
                "No topic route info in name server for the topic: golden_missing_{v}\nSee http"
            )),
            "{remark}"
        );
    }
}

#[test]
fn cluster_info_with_unquoted_integer_keys_parses() {
    for (name, broker) in [
        ("cluster_info_v5", V5_BROKER),
        ("cluster_info_v4", V4_BROKER),
    ] {
        let cmd = decode(&load(name));
        let body = body_text(&cmd);
        assert!(body.contains(r#""brokerAddrs":{0:"#), "{body}");
        let info = ClusterInfo::parse(&cmd.body).unwrap();
        assert_eq!(info.master_addrs("DefaultCluster"), vec![broker]);
        assert_eq!(info.cluster_addr_table["DefaultCluster"], vec!["broker-a"]);
    }
}

// --------------------------------------------------------------- send

#[test]
fn send_response_header_names_queue_offset_and_offset_message_id() {
    for (name, port) in [
        ("send_v2_response_v5", 10951),
        ("send_v2_response_binreq_v5", 10951),
        ("send_v2_response_v4", 10961),
        ("send_v2_response_binreq_v4", 10961),
        ("send_v2_response_v5bin", 11041),
    ] {
        let cmd = decode(&load(name));
        assert_eq!(cmd.code, response_code::SUCCESS, "{name}");
        assert_eq!(cmd.opaque, 42, "{name}");
        assert_eq!(cmd.remark, None, "{name}");
        let h: SendMessageResponseHeader = cmd.header().unwrap();
        assert_eq!(h.queue_id, 0, "{name}");
        let id = OffsetMessageId::decode(&h.msg_id).unwrap();
        assert_eq!(
            id.addr,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            "{name}"
        );
        assert_eq!(cmd.ext_fields.get("MSG_REGION"), Some("DefaultRegion"));
        assert_eq!(cmd.ext_fields.get("TRACE_ON"), Some("true"));
    }
}

#[test]
fn send_response_of_5x_echoes_the_unique_key_as_transaction_id() {
    let h = decode(&load("send_v2_response_v5")).ext_fields;
    assert_eq!(
        h.get("transactionId"),
        Some("7F00000100002A9F0000000000000001")
    );
    let v4 = decode(&load("send_v2_response_v4")).ext_fields;
    assert_eq!(v4.get("transactionId"), None);
}

// --------------------------------------------------------------- pull

fn pulled(name: &str) -> (RemotingCommand, PullMessageResponseHeader, Vec<MessageExt>) {
    let cmd = decode(&load(name));
    assert_eq!(cmd.code, response_code::SUCCESS, "{name}");
    assert_eq!(cmd.remark.as_deref(), Some("FOUND"), "{name}");
    let h: PullMessageResponseHeader = cmd.header().unwrap();
    let msgs = decode_messages(&cmd.body).unwrap();
    (cmd, h, msgs)
}

#[test]
fn pull_response_holds_six_messages_with_tags_keys_properties_and_bodies() {
    for (name, topic, port) in [
        ("pull_multi_v5", "golden_multi_v5", 10951),
        ("pull_multi_binreq_v5", "golden_multi_v5", 10951),
        ("pull_multi_v4", "golden_multi_v4", 10961),
        ("pull_multi_binreq_v4", "golden_multi_v4", 10961),
        ("pull_multi_v5bin", "golden_multi_v5bin", 11041),
    ] {
        let (_, h, msgs) = pulled(name);
        assert_eq!(msgs.len(), 6, "{name}");
        assert_eq!(h.next_begin_offset, 6, "{name}");
        assert_eq!((h.min_offset, h.max_offset), (0, 6), "{name}");
        assert_eq!(h.suggest_which_broker_id, 0, "{name}");
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m.topic(), topic, "{name}");
            assert_eq!(m.tags(), Some(format!("Tag{i}").as_str()), "{name}");
            assert_eq!(
                m.property(property::KEYS),
                Some(format!("key-{i} order-{i}").as_str())
            );
            assert_eq!(m.property("idx"), Some(i.to_string().as_str()));
            let uniq = format!("7F00000100002A9F00000000000001{i:02X}");
            assert_eq!(m.unique_key(), Some(uniq.as_str()));
            assert_eq!(
                m.property(property::CLUSTER),
                Some(if port == 11041 {
                    "BinCluster"
                } else {
                    "DefaultCluster"
                })
            );
            assert_eq!(m.body().as_ref(), format!("golden body {i}").as_bytes());
            assert_eq!(m.message.flag, i as i32);
            assert_eq!(m.queue_id, 0);
            assert_eq!(m.queue_offset, i as i64);
            assert_eq!(m.reconsume_times, 0);
            assert_eq!(m.sys_flag, 0);
            assert_eq!(
                m.store_host,
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
            );
            assert_eq!(m.offset_msg_id().encode(), m.msg_id);
            assert!(m.store_timestamp >= m.born_timestamp);
        }
        let offsets: Vec<i64> = msgs.iter().map(|m| m.commit_log_offset).collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{name}");
    }
}

#[test]
fn pull_response_headers_of_5x_add_topic_and_group_sys_flags() {
    let (v5, ..) = pulled("pull_multi_v5");
    let (v4, ..) = pulled("pull_multi_v4");
    assert_eq!(v5.ext_fields.get("topicSysFlag"), Some("0"));
    assert_eq!(v5.ext_fields.get("groupSysFlag"), Some("0"));
    assert_eq!(v4.ext_fields.len(), 4);
    assert_eq!(v4.ext_fields.get("topicSysFlag"), None);
}

#[test]
fn pull_response_with_a_zlib_body_decompresses_to_the_original_8_kib() {
    let line = b"rmq golden vector: a compressible line of text. ";
    let original: Vec<u8> = line.iter().copied().cycle().take(8 * 1024).collect();
    for name in ["pull_compressed_v5", "pull_compressed_v4"] {
        let (cmd, _, msgs) = pulled(name);
        assert!(cmd.body.len() < 1024, "{name}: stored compressed");
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.body().as_ref(), original.as_slice(), "{name}");
        assert_eq!(
            m.sys_flag & 1,
            0,
            "{name}: compressed bit cleared after decompressing"
        );
        assert_eq!(m.tags(), Some("Big"));
        assert_eq!(m.property(property::KEYS), Some("big-key"));
    }
}

#[test]
fn pull_past_the_end_is_offset_moved_with_a_header() {
    let cmd = decode(&load("pull_offset_moved_v5bin"));
    assert_eq!(cmd.code, response_code::PULL_OFFSET_MOVED);
    assert!(cmd.body.is_empty());
    let h: PullMessageResponseHeader = cmd.header().unwrap();
    assert_eq!(h.max_offset, 6);
    assert_eq!(h.next_begin_offset, 6);
}
