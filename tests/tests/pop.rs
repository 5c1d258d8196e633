//! [`rmq::SimpleConsumer`] (POP consumption) against the real brokers: on
//! 5.x a message not acknowledged reappears after its invisible time, an
//! acknowledged one never does, a change of invisible time holds it back
//! longer, a FIFO group gets a queue's next message only after the one
//! before was acknowledged; on 4.9.x POP is a typed `Unsupported` error.

mod producer_support;

use std::time::{Duration, Instant};

use producer_support::{create_topic, producer, unique};
use rmq::{Admin, Error, Message, ReceivedMessage, Selector, SimpleConsumer};
use rmq_tests::{env_cluster, BrokerVersion};

fn ns(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

fn body(m: &ReceivedMessage) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

async fn consumer(namesrv: &str, topic: &str, fifo: bool, wait: Duration) -> SimpleConsumer {
    let c = SimpleConsumer::builder()
        .name_server(namesrv)
        .group(unique("cg_pop"))
        .subscribe(topic, Selector::all())
        .await_duration(wait)
        .fifo(fifo)
        .build()
        .unwrap();
    c.start().await.unwrap();
    c
}

/// A topic of one queue holding `bodies`, in order.
async fn topic_with(namesrv: &str, name: &str, bodies: &[&str]) -> String {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique(name);
    let table = create_topic(&admin, &topic, 1).await;
    let queue = table.subscribe_queues()[0].clone();
    let p = producer(namesrv, name).await;
    for b in bodies {
        p.send_to_queue(Message::new(topic.as_str(), b.to_string()), queue.clone())
            .await
            .unwrap();
    }
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    topic
}

/// Receives until `n` messages came or `limit` passed.
async fn receive_n(
    c: &SimpleConsumer,
    n: usize,
    invisible: Duration,
    limit: Duration,
) -> Vec<ReceivedMessage> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < limit {
        out.extend(c.receive(32, invisible).await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_unacked_message_reappears_after_its_invisible_time_and_an_acked_one_never() {
    let namesrv = ns(BrokerVersion::V5);
    let topic = topic_with(&namesrv, "pop_reappear", &["keep", "drop"]).await;
    let c = consumer(&namesrv, &topic, false, Duration::from_secs(2)).await;
    let invisible = Duration::from_secs(8);
    let first = receive_n(&c, 2, invisible, Duration::from_secs(20)).await;
    let received_at = Instant::now();
    let mut got: Vec<String> = first.iter().map(body).collect();
    got.sort();
    assert_eq!(got, ["drop", "keep"]);
    assert!(first.iter().all(|m| m.message.message.topic == topic));
    let acked = first.iter().find(|m| body(m) == "keep").unwrap();
    c.ack(acked).await.unwrap();

    // Within the invisible time nothing comes back.
    let early = c.receive(32, invisible).await.unwrap();
    assert!(
        early.is_empty(),
        "{:?}",
        early.iter().map(body).collect::<Vec<_>>()
    );

    // After it, only the unacked one does.
    let again = receive_n(&c, 1, Duration::from_secs(60), Duration::from_secs(40)).await;
    assert_eq!(again.iter().map(body).collect::<Vec<_>>(), ["drop"]);
    assert!(received_at.elapsed() >= invisible - Duration::from_secs(1));
    assert!(again[0].message.reconsume_times >= 1, "a redelivery counts");
    c.ack(&again[0]).await.unwrap();

    // Acked twice over: nothing more within two invisible times.
    let later = receive_n(&c, 1, invisible, invisible * 2 + Duration::from_secs(2)).await;
    assert!(
        later.is_empty(),
        "{:?}",
        later.iter().map(body).collect::<Vec<_>>()
    );
    c.shutdown().await.unwrap();
}

#[tokio::test]
async fn change_invisible_time_holds_a_message_back_longer() {
    let namesrv = ns(BrokerVersion::V5);
    let topic = topic_with(&namesrv, "pop_change", &["slow"]).await;
    let c = consumer(&namesrv, &topic, false, Duration::from_secs(2)).await;
    let mut got = receive_n(&c, 1, Duration::from_secs(3), Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1);
    let mut m = got.remove(0);
    let old = m.handle().clone();
    c.change_invisible_time(&mut m, Duration::from_secs(30))
        .await
        .unwrap();
    assert_ne!(m.handle(), &old, "a change hands out a new receipt");

    // Well past the first invisible time it is still held back.
    let during = receive_n(&c, 1, Duration::from_secs(3), Duration::from_secs(10)).await;
    assert!(
        during.is_empty(),
        "{:?}",
        during.iter().map(body).collect::<Vec<_>>()
    );
    c.ack(&m).await.unwrap();
    c.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_fifo_group_gets_a_queues_next_message_only_after_the_ack() {
    let namesrv = ns(BrokerVersion::V5);
    let topic = topic_with(&namesrv, "pop_fifo", &["m0", "m1", "m2"]).await;
    let c = consumer(&namesrv, &topic, true, Duration::from_secs(2)).await;
    let invisible = Duration::from_secs(30);
    let mut seen = Vec::new();
    let start = Instant::now();
    while seen.len() < 3 && start.elapsed() < Duration::from_secs(40) {
        let batch = c.receive(1, invisible).await.unwrap();
        assert!(batch.len() <= 1);
        let Some(m) = batch.into_iter().next() else {
            continue;
        };
        // The queue is held while its message is out: nothing else comes.
        let blocked = c.receive(1, invisible).await.unwrap();
        assert!(
            blocked.is_empty(),
            "{:?} while {} is out",
            blocked.iter().map(body).collect::<Vec<_>>(),
            body(&m)
        );
        seen.push(body(&m));
        c.ack(&m).await.unwrap();
    }
    assert_eq!(seen, ["m0", "m1", "m2"]);
    c.shutdown().await.unwrap();
}

#[tokio::test]
async fn pop_on_a_four_nine_broker_is_unsupported() {
    let namesrv = ns(BrokerVersion::V4);
    let topic = topic_with(&namesrv, "pop_v4", &["x"]).await;
    let c = consumer(&namesrv, &topic, false, Duration::from_secs(1)).await;
    match c.receive(1, Duration::from_secs(10)).await {
        Err(Error::Unsupported { feature, .. }) => assert!(feature.contains("POP"), "{feature}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    c.shutdown().await.unwrap();
}
