//! Message trace against the real brokers (5.x and 4.9.x): a traced
//! producer and consumer publish Pub, SubBefore and SubAfter records in the
//! Java client's format, read back from the trace topic; a batch send is
//! one Pub record for the batch (as Java's); a lite pull consumer writes
//! SubBefore and SubAfter at poll; a broker with `traceOn=false` (a private
//! cluster) gets no Pub records, as Java's client writes none; a broker with
//! `traceTopicEnable=true` (a private 5.x cluster) serves the default
//! RMQ_SYS_TRACE_TOPIC; a trace the Java client (`RMQ_JAVA_PEER produce
//! --trace`) writes is read by rmq; a trace topic the broker refuses never
//! fails a send.

mod producer_support;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use producer_support::{create_topic, now_ms, poll_until, trace_of, unique};
use rmq::rmq_core::message::batch::encoded_batch_len;
use rmq::rmq_core::trace::{self as core_trace, MessageType, TraceRecord};
use rmq::{
    Admin, ConsumeFrom, ConsumeResult, LitePullConsumer, Message, Producer, PushConsumer,
    RouteTable, Selector, TopicConfig, TraceConfig,
};
use rmq_tests::{env_cluster, BrokerVersion, Cluster, ClusterSpec};

fn ns(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

/// A private cluster of `version` (free ports) whose broker runs with
/// `setting` (key, value).
async fn private_cluster(version: BrokerVersion, (key, value): (&str, &str)) -> Cluster {
    let spec = ClusterSpec::with_free_ports(version)
        .unwrap()
        .broker_config(key, value);
    tokio::task::spawn_blocking(move || Cluster::start(spec))
        .await
        .unwrap()
        .unwrap()
}

/// A new topic (`name`, unique) of `queues` queues and a trace topic of its
/// own (`name_topic`, one queue), both routed; the topic's route.
async fn traced_topic(admin: &Admin, name: &str, queues: i32) -> (String, String, RouteTable) {
    let topic = unique(name);
    let trace_topic = unique(&format!("{name}_topic"));
    let table = create_topic(admin, &topic, queues).await;
    create_topic(admin, &trace_topic, 1).await;
    (topic, trace_topic, table)
}

/// A started producer of `group` tracing with `trace`.
async fn traced_producer(namesrv: &str, group: &str, trace: TraceConfig) -> Producer {
    let producer = Producer::builder()
        .name_server(namesrv)
        .group(group)
        .trace(trace)
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

/// The kinds of `records` (`Pub`, `SubBefore`, ...), in order.
fn kinds(records: &[TraceRecord]) -> Vec<&'static str> {
    records.iter().map(TraceRecord::type_name).collect()
}

/// Sends one traced message with keys and consumes it with trace; returns
/// (msg id, offset msg id, producer group, consumer group).
async fn traced_round_trip(
    namesrv: &str,
    topic: &str,
    trace: TraceConfig,
) -> (String, String, String, String) {
    let pgroup = unique("pg_trace");
    let producer = traced_producer(namesrv, &pgroup, trace.clone()).await;
    let sent = producer
        .send(
            Message::new(topic, "traced")
                .with_tags("TagT")
                .with_keys(["tk1", "tk2"]),
        )
        .await
        .unwrap();
    producer.shutdown().await.unwrap();
    assert_eq!(producer.traces_dropped(), 0);

    let cgroup = unique("cg_trace");
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(cgroup.as_str())
        .consume_from(ConsumeFrom::First)
        .trace(trace)
        .build()
        .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    consumer
        .subscribe(topic, Selector::all(), move |msgs| {
            count.fetch_add(msgs.len(), Ordering::SeqCst);
            async { ConsumeResult::Success }
        })
        .unwrap();
    consumer.start().await.unwrap();
    let start = Instant::now();
    while seen.load(Ordering::SeqCst) < 1 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen.load(Ordering::SeqCst), 1, "consumed in 30 s");
    consumer.shutdown().await.unwrap();
    (sent.msg_id, sent.offset_msg_id, pgroup, cgroup)
}

async fn a_traced_send_and_consume_write_java_records(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let (topic, trace_topic, table) = traced_topic(&admin, "trc", 2).await;
    let broker_addr = table.master_addr("broker-a").unwrap().to_string();
    let before = now_ms();
    let (msg_id, offset_id, pgroup, cgroup) = traced_round_trip(
        namesrv,
        &topic,
        TraceConfig::with_topic(trace_topic.as_str()),
    )
    .await;

    let records = trace_of(&admin, &msg_id, Some(&trace_topic), 3).await;
    assert_eq!(
        kinds(&records),
        ["Pub", "SubBefore", "SubAfter"],
        "{records:?}"
    );
    let TraceRecord::Pub(p) = &records[0] else {
        unreachable!()
    };
    assert!(p.timestamp >= before && p.timestamp <= now_ms());
    assert_eq!(p.region_id, "DefaultRegion");
    assert_eq!(p.group, pgroup);
    assert_eq!(p.topic, topic);
    assert_eq!(p.tags, "TagT");
    assert_eq!(p.keys, "tk1 tk2");
    assert_eq!(p.store_host, broker_addr);
    assert_eq!(p.body_length, 6);
    assert_eq!(p.msg_type, MessageType::Normal);
    assert_eq!(p.offset_msg_id.as_deref(), Some(offset_id.as_str()));
    assert!(p.success);
    let TraceRecord::SubBefore(b) = &records[1] else {
        unreachable!()
    };
    assert_eq!(b.group, cgroup);
    assert_eq!(b.region_id, "DefaultRegion");
    assert_eq!(b.retry_times, 0);
    assert_eq!(b.keys, "tk1 tk2");
    let TraceRecord::SubAfter(a) = &records[2] else {
        unreachable!()
    };
    assert_eq!(a.request_id, b.request_id);
    assert!(a.success);
    assert_eq!(a.context_code, Some(0));
    assert_eq!(a.group.as_deref(), Some(cgroup.as_str()));

    // The trace messages themselves: keyed by the message id and its keys,
    // bodies in Java's separators.
    let stored = admin
        .query_by_key(&trace_topic, &msg_id, 0, i64::MAX, 32)
        .await
        .unwrap();
    assert!(!stored.is_empty());
    for m in &stored {
        let keys: Vec<&str> = m.message.keys().collect();
        assert!(
            keys.contains(&msg_id.as_str()) && keys.contains(&"tk1"),
            "{keys:?}"
        );
        let body = std::str::from_utf8(m.body()).unwrap();
        assert!(body.ends_with(core_trace::RECORD_SEPARATOR), "{body:?}");
        assert!(body.contains(core_trace::FIELD_SEPARATOR));
    }
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_a_traced_send_and_consume_write_java_records() {
    a_traced_send_and_consume_write_java_records(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn v4_a_traced_send_and_consume_write_java_records() {
    a_traced_send_and_consume_write_java_records(&ns(BrokerVersion::V4)).await;
}

async fn a_trace_topic_the_broker_refuses_never_fails_a_send(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("trc_refused");
    create_topic(&admin, &topic, 1).await;
    // A read-only trace topic: the broker refuses every trace message.
    let trace_topic = unique("trc_readonly");
    let mut config = TopicConfig::new(trace_topic.as_str()).queues(1);
    config.perm = 4;
    admin.create_topic(&config).await.unwrap();
    let trace = TraceConfig::with_topic(trace_topic.as_str());
    let producer = traced_producer(namesrv, &unique("pg_trc_refused"), trace).await;
    for i in 0..30 {
        producer
            .send(Message::new(topic.as_str(), format!("m{i}")))
            .await
            .unwrap();
    }
    let start = Instant::now();
    producer.shutdown().await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "shutdown bounded"
    );
    assert!(admin
        .query_by_key(&trace_topic, &topic, 0, i64::MAX, 32)
        .await
        .map(|found| found.is_empty())
        .unwrap_or(true));
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_a_trace_topic_the_broker_refuses_never_fails_a_send() {
    a_trace_topic_the_broker_refuses_never_fails_a_send(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn v4_a_trace_topic_the_broker_refuses_never_fails_a_send() {
    a_trace_topic_the_broker_refuses_never_fails_a_send(&ns(BrokerVersion::V4)).await;
}

/// A trace queue of one record, 400 sends in flight at once: records are
/// dropped and counted and every send succeeds (a full queue never makes a
/// send wait or fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_trace_queue_drops_records_and_never_holds_a_send() {
    let namesrv = ns(BrokerVersion::V5);
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("trc_full");
    create_topic(&admin, &topic, 4).await;
    let mut config = TraceConfig::with_topic(unique("trc_full_traces").as_str());
    config.queue_capacity = 1;
    let producer = traced_producer(&namesrv, &unique("pg_trc_full"), config).await;
    producer
        .send(Message::new(topic.as_str(), "warm-up"))
        .await
        .unwrap();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..400 {
        let (p, topic) = (producer.clone(), topic.clone());
        sends.spawn(async move { p.send(Message::new(topic.as_str(), format!("m{i}"))).await });
    }
    while let Some(result) = sends.join_next().await {
        result.unwrap().expect("every traced send succeeds");
    }
    let dropped = producer.traces_dropped();
    println!("400 traced sends with a queue of one record: {dropped} records dropped");
    assert!(dropped > 0, "a queue of one record overflowed");
    producer.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_broker_with_trace_topic_enabled_serves_the_default_trace_topic() {
    let cluster = private_cluster(BrokerVersion::V5, ("traceTopicEnable", "true")).await;
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    // The broker made the trace topic itself.
    let route = admin.topic_route(core_trace::TRACE_TOPIC).await.unwrap();
    assert!(!route.queue_datas.is_empty());
    let topic = unique("trc_default");
    create_topic(&admin, &topic, 1).await;
    let (msg_id, _, pgroup, cgroup) =
        traced_round_trip(&namesrv, &topic, TraceConfig::default()).await;
    let records = trace_of(&admin, &msg_id, None, 3).await;
    let groups: Vec<Option<&str>> = records.iter().map(TraceRecord::group).collect();
    assert_eq!(
        groups,
        [
            Some(pgroup.as_str()),
            Some(cgroup.as_str()),
            Some(cgroup.as_str())
        ],
        "{records:?}"
    );
    admin.shutdown().await.unwrap();
    drop(cluster);
}

/// `RMQ_JAVA_PEER produce --trace` sends one message; rmq reads its Pub.
async fn a_java_trace_is_read_by_rmq(namesrv: &str) {
    let peer = std::env::var("RMQ_JAVA_PEER").expect("RMQ_JAVA_PEER (cargo xtask test sets it)");
    let admin = Admin::connect(namesrv).await.unwrap();
    let (topic, trace_topic, _) = traced_topic(&admin, "trc_java", 1).await;
    let group = unique("pg_java_trace");
    let (t, tt, g, ns) = (
        topic.clone(),
        trace_topic.clone(),
        group.clone(),
        namesrv.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(peer)
            .args(["produce", "--namesrv", &ns, "--topic", &t, "--group", &g])
            .args([
                "--count", "1", "--tag", "JT", "--keys", "jk1,jk2", "--trace",
            ])
            .args(["--trace-topic", &tt])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sent: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "send")
        .unwrap_or_else(|| panic!("no send line in {stdout}"));
    let msg_id = sent["msgId"].as_str().unwrap().to_string();
    let records = trace_of(&admin, &msg_id, Some(&trace_topic), 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let TraceRecord::Pub(p) = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(p.group, group);
    assert_eq!(p.topic, topic);
    assert_eq!(p.tags, "JT");
    assert_eq!(p.keys, "jk1 jk2");
    assert_eq!(p.offset_msg_id.as_deref(), sent["offsetMsgId"].as_str());
    assert_eq!(p.msg_type, MessageType::Normal);
    assert!(p.success);
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_a_java_trace_is_read_by_rmq() {
    a_java_trace_is_read_by_rmq(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn v4_a_java_trace_is_read_by_rmq() {
    a_java_trace_is_read_by_rmq(&ns(BrokerVersion::V4)).await;
}

#[test]
fn a_trace_topic_no_client_may_send_to_is_a_config_error() {
    let built = Producer::builder()
        .name_server("127.0.0.1:1")
        .group("pg_trace_config")
        .trace(TraceConfig::with_topic("SCHEDULE_TOPIC_XXXX"))
        .build();
    assert!(matches!(built, Err(rmq::Error::Config(_))), "{built:?}");
}

/// Java traces a batch as the one message it sends (`MessageBatch`): one
/// Pub record whose message id and offset id are the batch's
/// comma-separated ones, tags and keys `null`, the encoded batch body's
/// length; the trace message is keyed by that joined id.
async fn a_traced_batch_send_writes_one_pub_record_for_the_batch(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let (topic, trace_topic, table) = traced_topic(&admin, "trc_batch", 1).await;
    let broker_addr = table.master_addr("broker-a").unwrap().to_string();
    let pgroup = unique("pg_trc_batch");
    let trace = TraceConfig::with_topic(trace_topic.as_str());
    let producer = traced_producer(namesrv, &pgroup, trace).await;
    let messages: Vec<Message> = (0..3)
        .map(|i| {
            Message::new(topic.as_str(), format!("batch-{i}"))
                .with_tags("TagB")
                .with_keys([format!("bk{i}")])
        })
        .collect();
    let sent = producer.send_batch(messages.clone()).await.unwrap();
    producer.shutdown().await.unwrap();
    assert_eq!(producer.traces_dropped(), 0);
    let ids: Vec<&str> = sent.msg_id.split(',').collect();
    assert_eq!(ids.len(), 3, "{sent:?}");
    // The body the broker got: each message with its unique id.
    let stored: Vec<Message> = messages
        .iter()
        .zip(&ids)
        .map(|(m, id)| m.clone().with_property("UNIQ_KEY", *id))
        .collect();

    let records = trace_of(&admin, &sent.msg_id, Some(&trace_topic), 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let TraceRecord::Pub(p) = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(p.msg_id, sent.msg_id);
    assert_eq!(
        p.offset_msg_id.as_deref(),
        Some(sent.offset_msg_id.as_str())
    );
    assert_eq!(p.group, pgroup);
    assert_eq!(p.topic, topic);
    assert_eq!(p.tags, "null");
    assert_eq!(p.keys, "null");
    assert_eq!(p.store_host, broker_addr);
    assert_eq!(p.body_length as usize, encoded_batch_len(&stored));
    assert_eq!(p.msg_type, MessageType::Normal);
    assert!(p.success);
    // No record names one message of the batch alone (nor does Java's).
    for id in &ids {
        assert!(trace_of(&admin, id, Some(&trace_topic), 0).await.is_empty());
    }
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_a_traced_batch_send_writes_one_pub_record_for_the_batch() {
    a_traced_batch_send_writes_one_pub_record_for_the_batch(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn v4_a_traced_batch_send_writes_one_pub_record_for_the_batch() {
    a_traced_batch_send_writes_one_pub_record_for_the_batch(&ns(BrokerVersion::V4)).await;
}

/// A traced lite pull consumer writes, for every message a poll hands out,
/// a SubBefore and a SubAfter (success, context code 0) sharing a request
/// id, as Java's `DefaultLitePullConsumerImpl.poll` does.
async fn a_lite_pull_consume_writes_sub_before_and_sub_after_records(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let (topic, trace_topic, _) = traced_topic(&admin, "trc_lite", 2).await;
    let producer = Producer::builder()
        .name_server(namesrv)
        .group(unique("pg_trc_lite"))
        .build()
        .unwrap();
    producer.start().await.unwrap();
    let mut sent = Vec::new();
    for i in 0..3 {
        let m = Message::new(topic.as_str(), format!("lite-{i}")).with_keys([format!("lk{i}")]);
        sent.push(producer.send(m).await.unwrap().msg_id);
    }
    producer.shutdown().await.unwrap();

    let cgroup = unique("cg_trc_lite");
    let consumer = LitePullConsumer::builder()
        .name_server(namesrv)
        .group(cgroup.as_str())
        .consume_from(ConsumeFrom::First)
        .config(|c| c.pull_suspend = Duration::from_secs(2))
        .trace(TraceConfig::with_topic(trace_topic.as_str()))
        .build()
        .unwrap();
    consumer.subscribe(&topic, Selector::all()).unwrap();
    consumer.start().await.unwrap();
    let before = now_ms();
    let polled = poll_until(&consumer, sent.len(), Duration::from_secs(30)).await;
    assert_eq!(polled.len(), sent.len(), "polled in 30 s");
    consumer.shutdown().await.unwrap();

    for (i, msg_id) in sent.iter().enumerate() {
        let records = trace_of(&admin, msg_id, Some(&trace_topic), 2).await;
        assert_eq!(kinds(&records), ["SubBefore", "SubAfter"], "{records:?}");
        let (TraceRecord::SubBefore(b), TraceRecord::SubAfter(a)) = (&records[0], &records[1])
        else {
            unreachable!()
        };
        assert_eq!(b.group, cgroup);
        assert!(b.timestamp >= before && b.timestamp <= now_ms());
        assert_eq!(b.retry_times, 0);
        assert_eq!(b.keys, format!("lk{i}"));
        assert_eq!(a.request_id, b.request_id);
        assert_eq!(a.keys, b.keys);
        assert!(a.success);
        assert_eq!(a.context_code, Some(0));
        assert_eq!(a.group.as_deref(), Some(cgroup.as_str()));
    }
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_a_lite_pull_consume_writes_sub_before_and_sub_after_records() {
    a_lite_pull_consume_writes_sub_before_and_sub_after_records(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn v4_a_lite_pull_consume_writes_sub_before_and_sub_after_records() {
    a_lite_pull_consume_writes_sub_before_and_sub_after_records(&ns(BrokerVersion::V4)).await;
}

/// A broker with `traceOn=false` answers every send `TRACE_ON=false`, and
/// Java's client then writes no Pub record (`SendMessageTraceHookImpl`
/// skips a result whose `isTraceOn` is false): neither does rmq, for a
/// message or a batch. A 5.x broker also stamps `TRACE_ON=false` into each
/// message it stores (not into a batch's messages), and consumers skip
/// those; 4.9.x stamps nothing. The consume records that are written show
/// the trace topic works, so the missing Pub records are not a lost flush.
async fn a_broker_with_trace_off_gets_no_pub_records(version: BrokerVersion) {
    let cluster = private_cluster(version, ("traceOn", "false")).await;
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let (topic, trace_topic, _) = traced_topic(&admin, "trc_off", 1).await;
    let trace = TraceConfig::with_topic(trace_topic.as_str());
    let producer = traced_producer(&namesrv, &unique("pg_trc_off"), trace.clone()).await;
    let one = producer
        .send(Message::new(topic.as_str(), "one"))
        .await
        .unwrap();
    let batch = producer
        .send_batch(vec![
            Message::new(topic.as_str(), "b0"),
            Message::new(topic.as_str(), "b1"),
        ])
        .await
        .unwrap();
    assert!(!one.trace_on && !batch.trace_on, "{one:?} {batch:?}");
    // Shutdown sends every queued record before the consumer starts.
    producer.shutdown().await.unwrap();

    let consumer = PushConsumer::builder()
        .name_server(namesrv.as_str())
        .group(unique("cg_trc_off"))
        .consume_from(ConsumeFrom::First)
        .trace(trace)
        .build()
        .unwrap();
    let switches = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&switches);
    consumer
        .subscribe(&topic, Selector::all(), move |msgs| {
            let mut seen = seen.lock().unwrap();
            for m in &msgs {
                let switch = m.property(core_trace::TRACE_SWITCH).map(String::from);
                seen.push((m.id().to_string(), switch));
            }
            async { ConsumeResult::Success }
        })
        .unwrap();
    consumer.start().await.unwrap();
    let start = Instant::now();
    while switches.lock().unwrap().len() < 3 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.shutdown().await.unwrap();
    let switches = switches.lock().unwrap().clone();
    assert_eq!(switches.len(), 3, "consumed in 30 s: {switches:?}");

    let batch_ids: Vec<&str> = batch.msg_id.split(',').collect();
    for id in &batch_ids {
        let records = trace_of(&admin, id, Some(&trace_topic), 2).await;
        assert_eq!(kinds(&records), ["SubBefore", "SubAfter"], "{records:?}");
    }
    let records = admin
        .message_trace(&batch.msg_id, Some(&trace_topic))
        .await
        .unwrap();
    assert!(records.is_empty(), "no batch Pub: {records:?}");
    let stamped = switches
        .iter()
        .find(|(id, _)| *id == one.msg_id)
        .and_then(|(_, s)| s.clone());
    let records = match version {
        BrokerVersion::V5 => admin
            .message_trace(&one.msg_id, Some(&trace_topic))
            .await
            .unwrap(),
        // The consumer's two records, once the broker has indexed them.
        _ => trace_of(&admin, &one.msg_id, Some(&trace_topic), 2).await,
    };
    let kinds = kinds(&records);
    match version {
        BrokerVersion::V5 => {
            assert_eq!(stamped.as_deref(), Some("false"));
            assert!(kinds.is_empty(), "{records:?}");
        }
        _ => {
            assert_eq!(stamped, None);
            assert_eq!(kinds, ["SubBefore", "SubAfter"], "no Pub: {records:?}");
        }
    }
    admin.shutdown().await.unwrap();
    drop(cluster);
}

#[tokio::test]
async fn v5_a_broker_with_trace_off_gets_no_pub_records() {
    a_broker_with_trace_off_gets_no_pub_records(BrokerVersion::V5).await;
}

#[tokio::test]
async fn v4_a_broker_with_trace_off_gets_no_pub_records() {
    a_broker_with_trace_off_gets_no_pub_records(BrokerVersion::V4).await;
}
