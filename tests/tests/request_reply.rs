//! Request-reply through the real 5.5.0 and 4.9.7 brokers (the shared
//! clusters): a requester's `Producer::request` is consumed by a replier's
//! push consumer, whose handler answers with `Producer::send_reply`
//! (`<cluster>_REPLY_TOPIC`, SEND_REPLY_MESSAGE_V2); the broker pushes the
//! reply to the requester (PUSH_REPLY_MESSAGE_TO_CLIENT), which matches it
//! by correlation id.

mod producer_support;

use std::time::{Duration, Instant};

use producer_support::{producer, unique};
use rmq::{ConsumeFrom, ConsumeResult, Error, Message, Producer, PushConsumer, Selector};
use rmq_tests::{env_cluster, BrokerVersion};

/// A push consumer on `topic` answering every request with `reply-<body>`.
async fn replier(namesrv: &str, topic: &str) -> (PushConsumer, Producer) {
    let replies = producer(namesrv, "replier").await;
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(unique("cg_replier"))
        .consume_from(ConsumeFrom::First)
        .config(|c| {
            c.rebalance_interval = Duration::from_secs(2);
            c.pull_suspend = Duration::from_secs(2);
        })
        .build()
        .unwrap();
    let p = replies.clone();
    consumer
        .subscribe(topic, Selector::all(), move |msgs| {
            let p = p.clone();
            async move {
                for m in msgs {
                    let body = format!("reply-{}", String::from_utf8_lossy(m.body()));
                    if p.send_reply(&m, body).await.is_err() {
                        return ConsumeResult::RETRY;
                    }
                }
                ConsumeResult::Success
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    (consumer, replies)
}

async fn request_gets_the_reply_through_the_broker(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("rr");
    let requester = producer(&namesrv, "requester").await;
    // The topic exists before the replier subscribes (auto-created).
    requester.send(Message::new(&topic, "warm")).await.unwrap();
    let (consumer, replies) = replier(&namesrv, &topic).await;

    // The first request may wait for the replier's rebalance; later ones
    // round-trip at once.
    let t = Instant::now();
    let first = requester
        .request(Message::new(&topic, "q0"), Duration::from_secs(30))
        .await
        .unwrap();
    eprintln!(
        "[request-reply {version}] first reply after {:?}",
        t.elapsed()
    );
    assert_eq!(first.body().as_ref(), b"reply-q0");
    assert_eq!(first.property("MSG_TYPE"), Some("reply"));

    let t = Instant::now();
    for i in 1..=10 {
        let reply = requester
            .request(
                Message::new(&topic, format!("q{i}")),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(reply.body().as_ref(), format!("reply-q{i}").as_bytes());
    }
    eprintln!(
        "[request-reply {version}] 10 sequential round trips in {:?}",
        t.elapsed()
    );

    consumer.shutdown().await.unwrap();
    replies.shutdown().await.unwrap();
    requester.shutdown().await.unwrap();
}

async fn request_without_a_replier_times_out(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("rr_nobody");
    let requester = producer(&namesrv, "lonely").await;
    let t = Instant::now();
    let r = requester
        .request(Message::new(&topic, "anyone?"), Duration::from_secs(2))
        .await;
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    requester.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_gets_the_reply_through_the_broker_v5() {
    request_gets_the_reply_through_the_broker(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_gets_the_reply_through_the_broker_v4() {
    request_gets_the_reply_through_the_broker(BrokerVersion::V4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_a_replier_times_out_v5() {
    request_without_a_replier_times_out(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_a_replier_times_out_v4() {
    request_without_a_replier_times_out(BrokerVersion::V4).await;
}
