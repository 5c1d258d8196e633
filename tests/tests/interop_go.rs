//! What rmq sends, the Apache RocketMQ Go client (rocketmq-client-go v2.1.2,
//! `rmq-go-peer consume`) receives intact: topic, tags, keys, properties,
//! body bytes, msgId (our UNIQ_KEY) and offsetMsgId; on real 5.x and 4.9.x
//! brokers.
//!
//! The Go binary comes from `RMQ_GO_PEER`, which `cargo xtask test` builds and
//! exports; these tests never skip.

mod producer_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use producer_support::wait_for_route;
use rmq::{Admin, Message, Producer, SendResult, SendStatus};
use rmq_tests::{env_cluster, BrokerVersion};
use serde_json::Value;

/// Properties the broker (`MSG_REGION`, `TRACE_ON`, `CLUSTER`, and for a
/// delayed message `DELAY`, `REAL_TOPIC`, `REAL_QID`) or the Go consumer
/// (`MIN_OFFSET`, `MAX_OFFSET`, `CONSUME_START_TIME`) add; see
/// tests/interop/go/README.md.
const ADDED_BY_BROKER_OR_CONSUMER: &[&str] = &[
    "MSG_REGION",
    "TRACE_ON",
    "CLUSTER",
    "REAL_TOPIC",
    "REAL_QID",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "CONSUME_START_TIME",
];

fn go_peer() -> PathBuf {
    match std::env::var_os("RMQ_GO_PEER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "RMQ_GO_PEER is not set. The Go interop tests need the rmq-go-peer binary: run them \
             through `cargo xtask test` (which builds it), or build it yourself \
             (cd tests/interop/go && go build -o /var/tmp/rmq-go/rmq-go-peer .) and export \
             RMQ_GO_PEER=/var/tmp/rmq-go/rmq-go-peer"
        ),
    }
}

fn unique(what: &str, version: BrokerVersion) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "interop_go_{what}_{}_{}_{nanos}",
        version.major(),
        std::process::id()
    )
}

async fn producer(namesrv: &str, version: BrokerVersion) -> Producer {
    let p = Producer::builder()
        .name_server(namesrv)
        .group(unique("pg", version))
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

/// Waits until the name server routes `topic`, which a send created on the
/// broker a moment ago: rocketmq-client-go's push consumer fails its start
/// at once ("route info not found") when the name server has no route yet.
async fn wait_until_routed(namesrv: &str, topic: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    wait_for_route(&admin, topic, Duration::from_secs(15)).await;
    admin.shutdown().await.unwrap();
}

/// Runs the Go push consumer (fresh group, from the first offset) until it
/// has seen `expect` distinct messages; returns its `message` lines.
fn go_consume(namesrv: &str, topic: &str, version: BrokerVersion, expect: usize) -> Vec<Value> {
    let group = unique("cg", version);
    let out = Command::new(go_peer())
        .args(["consume", "--namesrv", namesrv, "--group", &group])
        .args(["--topic", topic, "--from-first", "--timeout-sec", "90"])
        .args(["--expect", &expect.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rmq-go-peer consume failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "message" && v["duplicate"] == false)
        .collect()
}

/// The message the Go consumer delivered with this msgId.
fn by_msg_id<'a>(received: &'a [Value], msg_id: &str) -> &'a Value {
    received
        .iter()
        .find(|m| m["msgId"] == msg_id)
        .unwrap_or_else(|| panic!("msgId {msg_id} not among {received:#?}"))
}

/// The received property map without what the broker and the consumer add.
fn sender_properties(received: &Value) -> BTreeMap<String, String> {
    received["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !ADDED_BY_BROKER_OR_CONSUMER.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// The properties rmq put on the wire: the message's own plus UNIQ_KEY.
fn sent_properties(message: &Message, result_msg_id: &str) -> BTreeMap<String, String> {
    let mut props: BTreeMap<String, String> = message
        .properties
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    props.insert("UNIQ_KEY".into(), result_msg_id.to_string());
    props
}

fn body_bytes(received: &Value) -> Vec<u8> {
    decode_base64(received["body_base64"].as_str().unwrap())
}

fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= u32::from(*d) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Asserts one delivered message carries exactly what was sent.
fn assert_intact(received: &Value, sent: &Message, result: &SendResult, check_offset_id: bool) {
    assert_eq!(received["topic"], sent.topic.as_str(), "{received:#}");
    assert_eq!(received["tags"], sent.tags().unwrap_or(""), "{received:#}");
    let keys: Vec<&str> = sent.keys().collect();
    assert_eq!(received["keys"], keys.join(" "), "{received:#}");
    assert_eq!(
        sender_properties(received),
        sent_properties(sent, &result.msg_id),
        "{received:#}"
    );
    assert_eq!(body_bytes(received), sent.body.as_ref(), "{received:#}");
    assert_eq!(received["msgId"], result.msg_id.as_str());
    if check_offset_id {
        assert_eq!(received["offsetMsgId"], result.offset_msg_id.as_str());
        assert_eq!(received["queueId"], result.queue.queue_id);
        assert_eq!(received["queueOffset"], result.queue_offset);
    }
}

// ----- tags, keys, user properties, UTF-8 body ---------------------------------

async fn go_receives_tags_keys_properties_and_a_utf8_body(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("props", version);
    let p = producer(&namesrv, version).await;
    let message = Message::new(topic.as_str(), "héllo wörld, こんにちは, 🚀 — rmq → Go")
        .with_tags("TagA")
        .with_keys(["order-17", "customer-9"])
        .with_property("color", "blue")
        .with_property("größe", "42 €");
    let result = p.send(message.clone()).await.unwrap();
    assert_eq!(result.status, SendStatus::Ok);
    p.shutdown().await.unwrap();

    wait_until_routed(&namesrv, &topic).await;
    let received = go_consume(&namesrv, &topic, version, 1);
    let m = by_msg_id(&received, &result.msg_id);
    assert_intact(m, &message, &result, true);
    assert_eq!(m["body"], "héllo wörld, こんにちは, 🚀 — rmq → Go");
    assert_eq!(m["compressed"], false);
}

#[tokio::test]
async fn go_receives_tags_keys_properties_and_a_utf8_body_on_5x() {
    go_receives_tags_keys_properties_and_a_utf8_body(BrokerVersion::V5).await;
}

#[tokio::test]
async fn go_receives_tags_keys_properties_and_a_utf8_body_on_4x() {
    go_receives_tags_keys_properties_and_a_utf8_body(BrokerVersion::V4).await;
}

// ----- 8 KiB body, compressed by rmq ------------------------------------------

async fn go_decompresses_an_8_kib_body_rmq_compressed(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("zip", version);
    let p = producer(&namesrv, version).await;
    let body: String = "Ärger über 8 KiB komprimierbaren Text. "
        .repeat(256)
        .chars()
        .take(8192)
        .collect();
    assert!(body.len() >= 8192);
    let message = Message::new(topic.as_str(), body.clone().into_bytes())
        .with_tags("Big")
        .with_keys(["big-1"]);
    let result = p.send(message.clone()).await.unwrap();
    assert_eq!(result.status, SendStatus::Ok);
    p.shutdown().await.unwrap();

    wait_until_routed(&namesrv, &topic).await;
    let received = go_consume(&namesrv, &topic, version, 1);
    let m = by_msg_id(&received, &result.msg_id);
    assert_intact(m, &message, &result, true);
    assert_eq!(m["compressed"], true, "stored with the compressed flag");
    assert_eq!(m["sysFlag"].as_i64().unwrap() & 1, 1);
    assert!(
        m["storeSize"].as_i64().unwrap() < 4096,
        "stored compressed: {m:#}"
    );
}

#[tokio::test]
async fn go_decompresses_an_8_kib_body_rmq_compressed_on_5x() {
    go_decompresses_an_8_kib_body_rmq_compressed(BrokerVersion::V5).await;
}

#[tokio::test]
async fn go_decompresses_an_8_kib_body_rmq_compressed_on_4x() {
    go_decompresses_an_8_kib_body_rmq_compressed(BrokerVersion::V4).await;
}

// ----- batch ------------------------------------------------------------------

async fn go_receives_every_message_of_a_batch(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("batch", version);
    let p = producer(&namesrv, version).await;
    let messages: Vec<Message> = (0..5)
        .map(|i| {
            Message::new(topic.as_str(), format!("batch-{i}-ünïcödé"))
                .with_tags("Batch")
                .with_keys([format!("batch-key-{i}")])
                .with_property("index", i.to_string())
        })
        .collect();
    let result = p.send_batch(messages.clone()).await.unwrap();
    assert_eq!(result.status, SendStatus::Ok);
    p.shutdown().await.unwrap();

    let ids: Vec<&str> = result.msg_id.split(',').collect();
    let offset_ids: Vec<&str> = result.offset_msg_id.split(',').collect();
    assert_eq!(ids.len(), 5, "{result:?}");
    assert_eq!(offset_ids.len(), 5, "{result:?}");

    wait_until_routed(&namesrv, &topic).await;
    let received = go_consume(&namesrv, &topic, version, 5);
    for (i, sent) in messages.iter().enumerate() {
        let one = SendResult {
            msg_id: ids[i].to_string(),
            offset_msg_id: offset_ids[i].to_string(),
            queue_offset: result.queue_offset + i as i64,
            ..result.clone()
        };
        let m = by_msg_id(&received, ids[i]);
        // A 4.9.x broker copies the batch request's own properties (WAIT=true)
        // into every message of the batch; 5.x does not.
        let mut m = m.clone();
        if version == BrokerVersion::V4 {
            let props = m["properties"].as_object_mut().unwrap();
            assert_eq!(props.remove("WAIT"), Some(Value::from("true")), "{m:#}");
        }
        assert_intact(&m, sent, &one, true);
    }
}

#[tokio::test]
async fn go_receives_every_message_of_a_batch_on_5x() {
    go_receives_every_message_of_a_batch(BrokerVersion::V5).await;
}

#[tokio::test]
async fn go_receives_every_message_of_a_batch_on_4x() {
    go_receives_every_message_of_a_batch(BrokerVersion::V4).await;
}

// ----- delayed message ----------------------------------------------------------

async fn go_receives_a_level_1_delayed_message_after_its_delay(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("delay", version);
    let p = producer(&namesrv, version).await;
    let message = Message::new(topic.as_str(), "later, ça va")
        .with_tags("Delayed")
        .with_keys(["delayed-1"])
        .with_property("kind", "delayed")
        .with_delay_level(1);
    let result = p.send(message.clone()).await.unwrap();
    assert_eq!(result.status, SendStatus::Ok);
    p.shutdown().await.unwrap();

    wait_until_routed(&namesrv, &topic).await;
    let received = go_consume(&namesrv, &topic, version, 1);
    let m = by_msg_id(&received, &result.msg_id);
    // The broker re-stores the message in the real topic when the delay
    // ends: a new commit-log offset, so offsetMsgId and queue differ from the
    // send result's (which name the schedule topic).
    assert_intact(m, &message, &result, false);
    let born = m["bornTimestamp"].as_i64().unwrap();
    let stored = m["storeTimestamp"].as_i64().unwrap();
    assert!(
        stored - born >= 900,
        "level 1 is 1 s: born {born}, re-stored {stored}"
    );
}

#[tokio::test]
async fn go_receives_a_level_1_delayed_message_after_its_delay_on_5x() {
    go_receives_a_level_1_delayed_message_after_its_delay(BrokerVersion::V5).await;
}

#[tokio::test]
async fn go_receives_a_level_1_delayed_message_after_its_delay_on_4x() {
    go_receives_a_level_1_delayed_message_after_its_delay(BrokerVersion::V4).await;
}
