//! Proof against the real thing, before any runtime: `rmq-core`'s codec over
//! a plain blocking `TcpStream` (tests/src/raw.rs) creates a topic, sends one
//! message with SEND_MESSAGE_V2 and pulls it back from a real 5.x and 4.9.x
//! broker, with JSON and with binary (ROCKETMQ) request headers.

use rmq_core::message::compression::compress_zlib;
use rmq_core::message::{property, sysflag, Message};
use rmq_core::protocol::headers::GetRouteInfoRequestHeader;
use rmq_core::protocol::{encode_request, request_code, response_code, CommandMeta, SerializeType};
use rmq_tests::raw::{self, RawClient, DEFAULT_TIMEOUT};
use rmq_tests::{env_cluster, BrokerVersion};

/// The route of a topic nobody created is TOPIC_NOT_EXIST.
fn unknown_topic_has_no_route(version: BrokerVersion, ser: SerializeType) {
    let ns_addr = env_cluster(version).unwrap();
    let mut ns = RawClient::connect(&ns_addr, ser, DEFAULT_TIMEOUT).unwrap();
    let topic = raw::unique_name("raw_missing");
    let ex = raw::route_exchange(&mut ns, &topic).unwrap();
    assert_eq!(ex.response.code, response_code::TOPIC_NOT_EXIST, "{ex:?}");
    assert!(ex.response.is_response());
}

/// Create topic → route → SEND_MESSAGE_V2 → PULL_MESSAGE → decode, checking
/// every field that went in comes back out.
fn send_then_pull_round_trips_one_message(version: BrokerVersion, ser: SerializeType) {
    let ns_addr = env_cluster(version).unwrap();
    let topic = raw::unique_name("raw_rt");
    let group = raw::unique_name("raw_rt_group");
    let broker_addr = raw::create_topic_and_wait(&ns_addr, ser, &topic, 1).unwrap();

    let mut ns = RawClient::connect(&ns_addr, ser, DEFAULT_TIMEOUT).unwrap();
    let route = raw::topic_route(&mut ns, &topic).unwrap();
    assert_eq!(route.queue_datas.len(), 1, "{route:?}");
    assert_eq!(route.queue_datas[0].write_queue_nums, 1);
    assert_eq!(
        route.broker_datas[0].master_addr(),
        Some(broker_addr.as_str())
    );

    let body = format!("hello from rmq-core over {ser:?} to {version}").into_bytes();
    let mut msg = Message::new(topic.as_str(), body.clone())
        .with_tags("TagA")
        .with_keys(["k1", "k2"]);
    msg.flag = 7;
    msg.properties.insert("user-prop", "v\u{e9}");
    msg.properties.insert(
        property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
        "7F0000010000ABCDEF0123456789",
    );

    let mut broker = RawClient::connect(&broker_addr, ser, DEFAULT_TIMEOUT).unwrap();
    let sent = raw::send(&mut broker, &group, &msg, 0).unwrap();
    assert_eq!(sent.queue_id, 0);
    assert_eq!(sent.queue_offset, 0);

    let (header, msgs, _) = raw::pull_at_least(&mut broker, &group, &topic, 0, 1).unwrap();
    assert_eq!(header.next_begin_offset, 1);
    assert_eq!(header.max_offset, 1);
    assert_eq!(msgs.len(), 1);
    let got = &msgs[0];
    assert_eq!(got.topic(), topic);
    assert_eq!(got.tags(), Some("TagA"));
    assert_eq!(got.property(property::KEYS), Some("k1 k2"));
    assert_eq!(got.property("user-prop"), Some("v\u{e9}"));
    assert_eq!(got.unique_key(), Some("7F0000010000ABCDEF0123456789"));
    assert_eq!(got.id(), "7F0000010000ABCDEF0123456789");
    assert_eq!(got.message.flag, 7);
    assert_eq!(got.body().as_ref(), body.as_slice());
    assert_eq!(got.queue_id, 0);
    assert_eq!(got.queue_offset, 0);
    assert_eq!(
        got.msg_id, sent.msg_id,
        "offset message id matches the send"
    );
}

/// Pulling past the end answers PULL_NOT_FOUND (or OFFSET_MOVED) with a
/// decodable header, not an error.
fn pull_of_an_empty_queue_is_not_found(version: BrokerVersion, ser: SerializeType) {
    let ns_addr = env_cluster(version).unwrap();
    let topic = raw::unique_name("raw_empty");
    let broker_addr = raw::create_topic_and_wait(&ns_addr, ser, &topic, 1).unwrap();
    let mut broker = RawClient::connect(&broker_addr, ser, DEFAULT_TIMEOUT).unwrap();
    let ex = raw::pull_exchange(&mut broker, "raw_empty_group", &topic, 0, 0, 32).unwrap();
    assert!(
        [
            response_code::PULL_NOT_FOUND,
            response_code::PULL_OFFSET_MOVED
        ]
        .contains(&ex.response.code),
        "{:?}",
        ex.response
    );
    assert!(ex.response.body.is_empty());
}

/// A zlib body sent with sysFlag COMPRESSED comes back decompressed, with
/// the compressed bit cleared.
fn compressed_send_pulls_back_decompressed(version: BrokerVersion, ser: SerializeType) {
    let ns_addr = env_cluster(version).unwrap();
    let topic = raw::unique_name("raw_zlib");
    let group = raw::unique_name("raw_zlib_group");
    let broker_addr = raw::create_topic_and_wait(&ns_addr, ser, &topic, 1).unwrap();
    let mut broker = RawClient::connect(&broker_addr, ser, DEFAULT_TIMEOUT).unwrap();

    let body: Vec<u8> = b"compress me, compress me again. "
        .iter()
        .copied()
        .cycle()
        .take(16 * 1024)
        .collect();
    let msg = Message::new(topic.as_str(), body.clone()).with_tags("Z");
    let header = raw::send_header(&group, &msg, 0, sysflag::COMPRESSED, raw::now_ms());
    raw::send_exchange(&mut broker, &header, &compress_zlib(&body, 5)).unwrap();

    let (_, msgs, ex) = raw::pull_at_least(&mut broker, &group, &topic, 0, 1).unwrap();
    assert!(ex.response.body.len() < 2048, "stored compressed");
    assert_eq!(msgs[0].body().as_ref(), body.as_slice());
    assert_eq!(msgs[0].sys_flag & sysflag::COMPRESSED, 0);
    assert_eq!(msgs[0].tags(), Some("Z"));
}

/// The route body of an existing topic as asked with request `version` and
/// optionally `acceptStandardJsonOnly=true`.
fn route_body(version: BrokerVersion, request_version: i32, standard_flag: bool) -> String {
    let ns_addr = env_cluster(version).unwrap();
    let topic = raw::unique_name("raw_route_json");
    raw::create_topic_and_wait(&ns_addr, SerializeType::Json, &topic, 1).unwrap();
    let mut ns = RawClient::connect(&ns_addr, SerializeType::Json, DEFAULT_TIMEOUT).unwrap();
    let header = GetRouteInfoRequestHeader {
        topic,
        accept_standard_json_only: standard_flag.then_some(true),
        ..Default::default()
    };
    let opaque = ns.next_opaque();
    let mut meta = CommandMeta::request(request_code::GET_ROUTEINFO_BY_TOPIC, opaque);
    meta.version = request_version;
    let mut frame = bytes::BytesMut::new();
    encode_request(&mut frame, SerializeType::Json, &meta, &header, &[], &[]).unwrap();
    let ex = ns.exchange(&frame, opaque).unwrap();
    assert_eq!(ex.response.code, response_code::SUCCESS);
    String::from_utf8(ex.response.body.to_vec()).unwrap()
}

fn route_is_standard_json_from_version_401_or_with_the_flag(version: BrokerVersion) {
    let quoted = r#""brokerAddrs":{"0":"#;
    let bare = r#""brokerAddrs":{0:"#;
    for (request_version, flag, expected) in [
        (317, false, bare),
        (400, false, bare),
        (401, false, quoted),
        (479, false, quoted),
        (317, true, quoted),
    ] {
        let body = route_body(version, request_version, flag);
        assert!(
            body.contains(expected),
            "version {request_version}, flag {flag}: {body}"
        );
    }
}

#[test]
fn v5_route_is_standard_json_from_version_401_or_with_the_flag() {
    route_is_standard_json_from_version_401_or_with_the_flag(BrokerVersion::V5);
}

#[test]
fn v4_route_is_standard_json_from_version_401_or_with_the_flag() {
    route_is_standard_json_from_version_401_or_with_the_flag(BrokerVersion::V4);
}

/// The header serialization the namesrv and broker answer a request in.
fn answered_serialization(version: BrokerVersion, request: SerializeType) -> [SerializeType; 2] {
    let ns_addr = env_cluster(version).unwrap();
    let topic = raw::unique_name("raw_ser");
    let broker_addr = raw::create_topic_and_wait(&ns_addr, request, &topic, 1).unwrap();
    let mut ns = RawClient::connect(&ns_addr, request, DEFAULT_TIMEOUT).unwrap();
    let route = raw::route_exchange(&mut ns, &topic).unwrap();
    let mut broker = RawClient::connect(&broker_addr, request, DEFAULT_TIMEOUT).unwrap();
    let pull = raw::pull_exchange(&mut broker, "raw_ser_group", &topic, 0, 0, 1).unwrap();
    [route.frame[4], pull.frame[4]].map(|b| SerializeType::from_code(b).unwrap())
}

#[test]
fn v5_answers_json_whatever_the_request_header() {
    for request in [SerializeType::Json, SerializeType::RocketMq] {
        assert_eq!(
            answered_serialization(BrokerVersion::V5, request),
            [SerializeType::Json; 2],
            "{request:?}"
        );
    }
}

#[test]
fn v4_answers_in_the_request_header_serialization() {
    for request in [SerializeType::Json, SerializeType::RocketMq] {
        assert_eq!(
            answered_serialization(BrokerVersion::V4, request),
            [request; 2]
        );
    }
}

#[test]
fn v5_json_compressed_send_pulls_back_decompressed() {
    compressed_send_pulls_back_decompressed(BrokerVersion::V5, SerializeType::Json);
}

#[test]
fn v4_binary_compressed_send_pulls_back_decompressed() {
    compressed_send_pulls_back_decompressed(BrokerVersion::V4, SerializeType::RocketMq);
}

#[test]
fn v5_json_unknown_topic_has_no_route() {
    unknown_topic_has_no_route(BrokerVersion::V5, SerializeType::Json);
}

#[test]
fn v5_binary_unknown_topic_has_no_route() {
    unknown_topic_has_no_route(BrokerVersion::V5, SerializeType::RocketMq);
}

#[test]
fn v4_json_unknown_topic_has_no_route() {
    unknown_topic_has_no_route(BrokerVersion::V4, SerializeType::Json);
}

#[test]
fn v4_binary_unknown_topic_has_no_route() {
    unknown_topic_has_no_route(BrokerVersion::V4, SerializeType::RocketMq);
}

#[test]
fn v5_json_send_then_pull_round_trips_one_message() {
    send_then_pull_round_trips_one_message(BrokerVersion::V5, SerializeType::Json);
}

#[test]
fn v5_binary_send_then_pull_round_trips_one_message() {
    send_then_pull_round_trips_one_message(BrokerVersion::V5, SerializeType::RocketMq);
}

#[test]
fn v4_json_send_then_pull_round_trips_one_message() {
    send_then_pull_round_trips_one_message(BrokerVersion::V4, SerializeType::Json);
}

#[test]
fn v4_binary_send_then_pull_round_trips_one_message() {
    send_then_pull_round_trips_one_message(BrokerVersion::V4, SerializeType::RocketMq);
}

#[test]
fn v5_json_pull_of_an_empty_queue_is_not_found() {
    pull_of_an_empty_queue_is_not_found(BrokerVersion::V5, SerializeType::Json);
}

#[test]
fn v4_binary_pull_of_an_empty_queue_is_not_found() {
    pull_of_an_empty_queue_is_not_found(BrokerVersion::V4, SerializeType::RocketMq);
}
