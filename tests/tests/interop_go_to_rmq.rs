//! What the seed's Go producer (rocketmq-client-go v2.1.2, `rmq-go-peer
//! produce`) sends, rmq's push consumer receives intact: tags, keys, user
//! properties, a UTF-8 body, a body the Go client compressed, a delayed
//! message, batches (`rmq-go-peer bench-send --batch-size`); on real 5.x
//! and 4.9.x brokers. The Go binary comes from
//! `RMQ_GO_PEER`, which `cargo xtask test` builds; these tests never skip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rmq::{ConsumeFrom, ConsumeResult, MessageExt, PushConsumer, Selector};
use rmq_tests::{env_cluster, BrokerVersion};
use serde_json::Value;

fn go_peer() -> PathBuf {
    std::env::var_os("RMQ_GO_PEER").map(PathBuf::from).expect(
        "RMQ_GO_PEER is not set: run these tests with `cargo xtask test`, which builds rmq-go-peer",
    )
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "go2rmq_{what}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// Runs `rmq-go-peer produce` with `args`; returns its `send` lines.
fn go_produce(namesrv: &str, topic: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new(go_peer())
        .args([
            "produce",
            "--namesrv",
            namesrv,
            "--group",
            &unique("pg"),
            "--topic",
            topic,
        ])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rmq-go-peer produce failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let sends: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "send")
        .collect();
    assert!(sends.iter().all(|s| s["status"] == "SEND_OK"), "{sends:?}");
    sends
}

/// An rmq consumer of `topic` (fresh group, from the first offset) until
/// it has `n` messages or 60 s pass.
async fn rmq_consume(namesrv: &str, topic: &str, n: usize) -> Vec<MessageExt> {
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(unique("cg"))
        .consume_from(ConsumeFrom::First)
        .config(|c| c.pull_suspend = Duration::from_secs(2))
        .build()
        .unwrap();
    let seen: Arc<Mutex<Vec<MessageExt>>> = Arc::default();
    let log = Arc::clone(&seen);
    consumer
        .subscribe(topic, Selector::all(), move |msgs| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().extend(msgs);
                ConsumeResult::Success
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    let start = Instant::now();
    while seen.lock().unwrap().len() < n && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.shutdown().await.unwrap();
    let got = seen.lock().unwrap().clone();
    got
}

async fn rmq_receives_what_go_sent_with_tags_keys_properties_and_a_utf8_body(
    version: BrokerVersion,
) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("props");
    let body = "héllo 世界 {i}";
    let sends = go_produce(
        &namesrv,
        &topic,
        &[
            "--count",
            "3",
            "--tag",
            "TagGo",
            "--keys",
            "k1,k2",
            "--prop",
            "color=blue",
            "--prop",
            "städt=köln",
            "--body",
            body,
        ],
    );
    let got = rmq_consume(&namesrv, &topic, 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    for (i, send) in sends.iter().enumerate() {
        let m = got
            .iter()
            .find(|m| m.id() == send["msgId"].as_str().unwrap())
            .expect("every Go message, by its msgId");
        assert_eq!(m.topic(), topic);
        assert_eq!(m.tags(), Some("TagGo"));
        assert_eq!(m.message.keys().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(m.property("color"), Some("blue"));
        assert_eq!(m.property("städt"), Some("köln"));
        assert_eq!(
            String::from_utf8_lossy(m.body()),
            body.replace("{i}", &i.to_string())
        );
        assert_eq!(m.msg_id, send["offsetMsgId"].as_str().unwrap());
    }
}

#[tokio::test]
async fn rmq_receives_what_go_sent_with_tags_keys_properties_and_a_utf8_body_on_5x() {
    rmq_receives_what_go_sent_with_tags_keys_properties_and_a_utf8_body(BrokerVersion::V5).await;
}

#[tokio::test]
async fn rmq_receives_what_go_sent_with_tags_keys_properties_and_a_utf8_body_on_4x() {
    rmq_receives_what_go_sent_with_tags_keys_properties_and_a_utf8_body(BrokerVersion::V4).await;
}

async fn rmq_decompresses_a_body_go_compressed(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("zip");
    go_produce(&namesrv, &topic, &["--count", "1", "--body-size", "8192"]);
    let got = rmq_consume(&namesrv, &topic, 1).await;
    assert_eq!(got.len(), 1);
    let expected: Vec<u8> = (0..8192).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(got[0].body().as_ref(), expected.as_slice());
}

#[tokio::test]
async fn rmq_decompresses_a_body_go_compressed_on_5x() {
    rmq_decompresses_a_body_go_compressed(BrokerVersion::V5).await;
}

#[tokio::test]
async fn rmq_decompresses_a_body_go_compressed_on_4x() {
    rmq_decompresses_a_body_go_compressed(BrokerVersion::V4).await;
}

async fn rmq_receives_a_message_go_delayed_after_its_delay(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("delay");
    let sent_at = Instant::now();
    go_produce(
        &namesrv,
        &topic,
        &["--count", "1", "--delay-level", "1", "--body", "later"],
    );
    let got = rmq_consume(&namesrv, &topic, 1).await;
    assert_eq!(got.len(), 1, "the delayed message arrives");
    assert_eq!(got[0].body().as_ref(), b"later");
    assert_eq!(got[0].topic(), topic, "delivered on its real topic");
    assert!(
        sent_at.elapsed() >= Duration::from_millis(900),
        "not before its 1 s delay"
    );
}

#[tokio::test]
async fn rmq_receives_a_message_go_delayed_after_its_delay_on_5x() {
    rmq_receives_a_message_go_delayed_after_its_delay(BrokerVersion::V5).await;
}

#[tokio::test]
async fn rmq_receives_a_message_go_delayed_after_its_delay_on_4x() {
    rmq_receives_a_message_go_delayed_after_its_delay(BrokerVersion::V4).await;
}

/// Runs `rmq-go-peer bench-send` with `args`; returns its summary line.
fn go_bench_send(namesrv: &str, topic: &str, args: &[&str]) -> Value {
    let out = Command::new(go_peer())
        .args([
            "bench-send",
            "--namesrv",
            namesrv,
            "--group",
            &unique("pg"),
            "--topic",
            topic,
        ])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rmq-go-peer bench-send failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {stdout}"))
}

async fn rmq_receives_every_message_of_batches_go_sent_intact(version: BrokerVersion) {
    const COUNT: usize = 100;
    const BATCH: usize = 10;
    const BODY: usize = 1024;
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("batch");
    // No warm-up message: only batches reach the topic.
    let summary = go_bench_send(
        &namesrv,
        &topic,
        &[
            "--count",
            &COUNT.to_string(),
            "--batch-size",
            &BATCH.to_string(),
            "--body-size",
            &BODY.to_string(),
            "--tag",
            "TagBatch",
            "--warmup",
            "0",
        ],
    );
    assert_eq!(summary["sent"], COUNT, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["batch_size"], BATCH, "{summary}");

    let got = rmq_consume(&namesrv, &topic, COUNT).await;
    assert_eq!(got.len(), COUNT, "every message of every batch");
    // Go's body: BODY bytes a..z cycling, the same in every message.
    let body: Vec<u8> = (0..BODY).map(|i| b'a' + (i % 26) as u8).collect();
    for m in &got {
        assert_eq!(m.topic(), topic);
        assert_eq!(m.tags(), Some("TagBatch"));
        assert_eq!(
            m.body().as_ref(),
            body.as_slice(),
            "offset {}",
            m.queue_offset
        );
        assert_eq!(m.reconsume_times, 0);
    }
    let ids: BTreeSet<&str> = got.iter().map(|m| m.id()).collect();
    assert_eq!(ids.len(), COUNT, "each message keeps its own UNIQ_KEY");
    // A batch is stored whole in one queue: every queue holds whole
    // batches, at consecutive offsets from 0 (single sends spread over
    // four queues would leave 25 in each).
    let mut queues: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for m in &got {
        queues.entry(m.queue_id).or_default().push(m.queue_offset);
    }
    let layout: BTreeMap<i32, usize> = queues.iter().map(|(q, o)| (*q, o.len())).collect();
    println!("{COUNT} messages in batches of {BATCH} from Go, per queue: {layout:?}");
    for (queue, offsets) in &mut queues {
        offsets.sort();
        assert_eq!(offsets.len() % BATCH, 0, "queue {queue}: {offsets:?}");
        assert_eq!(
            *offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "queue {queue}"
        );
    }
}

#[tokio::test]
async fn rmq_receives_every_message_of_batches_go_sent_intact_on_5x() {
    rmq_receives_every_message_of_batches_go_sent_intact(BrokerVersion::V5).await;
}

#[tokio::test]
async fn rmq_receives_every_message_of_batches_go_sent_intact_on_4x() {
    rmq_receives_every_message_of_batches_go_sent_intact(BrokerVersion::V4).await;
}
