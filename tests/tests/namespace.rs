//! Namespaces against the real brokers: a namespaced producer and push
//! consumer exchange messages and see their names without the namespace,
//! while the broker (and a client without a namespace) sees `ns%topic`,
//! the retry topic `%RETRY%ns%group` and the DLQ `%DLQ%ns%group`; a
//! namespaced simple consumer pops from `ns%topic` (5.x); a namespaced lite
//! pull consumer polls `ns%topic` and seeks by the bare name; namespace v2
//! leaves names alone (5.x).

mod producer_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use producer_support::{
    create_topic, poll_until, read_topic, unique, wait_for_messages, wait_for_route,
};
use rmq::{
    Admin, ConsumeFrom, ConsumeResult, LitePullConsumer, Message, MessageExt, MessageQueue,
    Producer, PushConsumer, Selector, SimpleConsumer,
};
use rmq_tests::{env_cluster, BrokerVersion};

fn ns(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

/// A unique namespace (letters, digits, `_`: valid in names).
fn namespace() -> String {
    unique("ns")
}

async fn namespaced_producer(namesrv: &str, namespace: &str) -> Producer {
    let p = Producer::builder()
        .name_server(namesrv)
        .group(unique("pg_ns"))
        .namespace(namespace)
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<MessageExt>>>);

impl Seen {
    async fn wait_for(&self, n: usize, limit: Duration) -> Vec<MessageExt> {
        let start = Instant::now();
        while self.0.lock().unwrap().len() < n && start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.0.lock().unwrap().clone()
    }
}

async fn a_namespaced_producer_and_consumer_exchange_messages(namesrv: &str) {
    let namespace = namespace();
    let topic = unique("ns_topic");
    let wire_topic = format!("{namespace}%{topic}");
    let admin = Admin::connect(namesrv).await.unwrap();
    create_topic(&admin, &wire_topic, 1).await;

    let p = namespaced_producer(namesrv, &namespace).await;
    let sent = p
        .send(Message::new(topic.as_str(), "hello ns").with_tags("T"))
        .await
        .unwrap();
    assert_eq!(
        sent.queue.topic, topic,
        "the send result shows the bare topic"
    );

    // A client without a namespace sees the namespaced topic.
    let stored = read_topic(&admin, &wire_topic).await;
    assert_eq!(stored.len(), 1, "{wire_topic} holds the one message sent");
    assert_eq!(stored[0].topic(), wire_topic);
    assert!(
        admin.topic_route(&topic).await.is_err(),
        "nothing was sent to the bare topic"
    );

    // The consumer fails the first delivery once: the retry goes through
    // %RETRY%ns%group, the message then lands in %DLQ%ns%group.
    let group = unique("cg_ns");
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(&group)
        .namespace(&namespace)
        .consume_from(ConsumeFrom::First)
        .max_reconsume_times(1)
        .build()
        .unwrap();
    let seen = Seen::default();
    let log = seen.clone();
    consumer
        .subscribe(&topic, Selector::all(), move |msgs| {
            let log = log.clone();
            async move {
                log.0.lock().unwrap().extend(msgs);
                ConsumeResult::RetryLater {
                    acked: 0,
                    delay_level: 1,
                }
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    // At least once: a send-back the broker took but answered late is
    // followed by the client's fallback copy, so more may come.
    let got = seen.wait_for(2, Duration::from_secs(40)).await;
    assert!(got.len() >= 2, "a delivery and a redelivery: {}", got.len());
    assert!(
        got.iter()
            .all(|m| m.topic() == topic && m.body().as_ref() == b"hello ns"),
        "{:?}",
        got.iter()
            .map(|m| m.topic().to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        got[0].reconsume_times, 0,
        "the first delivery is the original"
    );
    assert!(
        got[1..].iter().all(|m| m.reconsume_times >= 1),
        "later deliveries are retries"
    );
    let retry = format!("%RETRY%{namespace}%{group}");
    wait_for_route(&admin, &retry, Duration::from_secs(10)).await;
    let dlq = format!("%DLQ%{namespace}%{group}");
    let dead = wait_for_messages(&admin, &dlq, 1, Duration::from_secs(30)).await;
    assert!(!dead.is_empty(), "the message reached {dlq}");
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_namespaced_producer_and_consumer_exchange_messages_on_5x() {
    a_namespaced_producer_and_consumer_exchange_messages(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn a_namespaced_producer_and_consumer_exchange_messages_on_4x() {
    a_namespaced_producer_and_consumer_exchange_messages(&ns(BrokerVersion::V4)).await;
}

#[tokio::test]
async fn a_namespaced_simple_consumer_pops_and_acks_the_namespaced_topic() {
    let namesrv = ns(BrokerVersion::V5);
    let namespace = namespace();
    let topic = unique("ns_pop");
    let admin = Admin::connect(&namesrv).await.unwrap();
    create_topic(&admin, &format!("{namespace}%{topic}"), 1).await;
    let p = namespaced_producer(&namesrv, &namespace).await;
    p.send(Message::new(topic.as_str(), "pop ns"))
        .await
        .unwrap();
    let c = SimpleConsumer::builder()
        .name_server(&namesrv)
        .group(unique("cg_ns_pop"))
        .namespace(&namespace)
        .subscribe(&topic, Selector::all())
        .await_duration(Duration::from_secs(2))
        .build()
        .unwrap();
    c.start().await.unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() && start.elapsed() < Duration::from_secs(20) {
        got = c.receive(4, Duration::from_secs(20)).await.unwrap();
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message.topic(), topic);
    c.ack(&got[0]).await.unwrap();
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

/// A lite pull consumer with a namespace subscribes to the bare topic name,
/// polls what a namespaced producer stored in `ns%topic` (a consumer that
/// ignored the namespace would poll the empty bare topic), sees the bare
/// name in every message, and seeks the queue by its bare name.
async fn a_lite_pull_consumer_in_a_namespace_sees_bare_topic_names(namesrv: &str) {
    let namespace = namespace();
    let topic = unique("ns_lite");
    let admin = Admin::connect(namesrv).await.unwrap();
    create_topic(&admin, &format!("{namespace}%{topic}"), 1).await;
    let p = namespaced_producer(namesrv, &namespace).await;
    let mut queue = None;
    for i in 0..3 {
        let sent = p
            .send(Message::new(topic.as_str(), format!("lite {i}")))
            .await
            .unwrap();
        queue = Some(sent.queue);
    }
    // The queue as the application sees it: the bare topic.
    let queue: MessageQueue = queue.unwrap();
    assert_eq!(queue.topic, topic);
    let c = LitePullConsumer::builder()
        .name_server(namesrv)
        .group(unique("cg_ns_lite"))
        .namespace(&namespace)
        .consume_from(ConsumeFrom::First)
        .config(|c| c.pull_suspend = Duration::from_secs(2))
        .build()
        .unwrap();
    c.subscribe(&topic, Selector::all()).unwrap();
    c.start().await.unwrap();
    let got = poll_until(&c, 3, Duration::from_secs(30)).await;
    let bodies: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect();
    assert_eq!(bodies, ["lite 0", "lite 1", "lite 2"]);
    assert!(
        got.iter().all(|m| m.topic() == topic),
        "{:?}",
        got.iter()
            .map(|m| m.topic().to_string())
            .collect::<Vec<_>>()
    );

    c.seek(&queue, 1).await.unwrap();
    let again = poll_until(&c, 2, Duration::from_secs(20)).await;
    let offsets: Vec<i64> = again.iter().map(|m| m.queue_offset).collect();
    assert_eq!(offsets, [1, 2], "the seek by the bare name moved the poll");
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_lite_pull_consumer_in_a_namespace_sees_bare_topic_names_on_5x() {
    a_lite_pull_consumer_in_a_namespace_sees_bare_topic_names(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn a_lite_pull_consumer_in_a_namespace_sees_bare_topic_names_on_4x() {
    a_lite_pull_consumer_in_a_namespace_sees_bare_topic_names(&ns(BrokerVersion::V4)).await;
}

#[tokio::test]
async fn namespace_v2_leaves_names_as_they_are() {
    let namesrv = ns(BrokerVersion::V5);
    let topic = unique("ns_v2");
    let admin = Admin::connect(&namesrv).await.unwrap();
    create_topic(&admin, &topic, 1).await;
    let p = Producer::builder()
        .name_server(&namesrv)
        .group(unique("pg_ns_v2"))
        .namespace_v2("tenant_v2")
        .build()
        .unwrap();
    p.start().await.unwrap();
    let sent = p.send(Message::new(topic.as_str(), "v2")).await.unwrap();
    assert_eq!(sent.queue.topic, topic);
    let stored = read_topic(&admin, &topic).await;
    assert_eq!(stored.len(), 1, "stored under the bare topic");
    assert_eq!(stored[0].body().as_ref(), b"v2");
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}
