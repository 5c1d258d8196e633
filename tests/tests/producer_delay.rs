//! Delayed and timer messages of [`rmq::Producer`] against real brokers:
//! invisible on their topic until due, then delivered once.

mod producer_support;

use std::time::{Duration, Instant};

use producer_support::{create_topic, now_ms, producer, read_topic, unique};
use rmq::{Admin, Message, MessageExt, SendStatus};
use rmq_tests::{env_cluster, BrokerVersion};

/// Polls `topic` every 250 ms until a message appears or `limit` passes;
/// returns the messages and when they were first seen.
async fn first_visible(admin: &Admin, topic: &str, limit: Duration) -> (Vec<MessageExt>, Instant) {
    let start = Instant::now();
    loop {
        let found = read_topic(admin, topic).await;
        if !found.is_empty() || start.elapsed() >= limit {
            return (found, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn delay_level_2_is_delivered_after_five_seconds(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("delay_level");
    create_topic(&admin, &topic, 4).await;
    let p = producer(namesrv, "delay_level").await;

    let sent = Instant::now();
    let r = p
        .send(
            Message::new(topic.as_str(), "later")
                .with_tags("D")
                .with_delay_level(2),
        )
        .await
        .unwrap();
    assert_eq!(r.status, SendStatus::Ok);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        read_topic(&admin, &topic).await.is_empty(),
        "a level-2 message is not visible after 1 s"
    );

    let (found, seen) = first_visible(&admin, &topic, Duration::from_secs(10)).await;
    let after = seen.duration_since(sent);
    assert_eq!(found.len(), 1, "delivered within 11 s");
    assert!(after >= Duration::from_secs(4), "delivered after {after:?}");
    assert!(after <= Duration::from_secs(9), "delivered after {after:?}");
    let m = &found[0];
    assert_eq!(m.body().as_ref(), b"later");
    assert_eq!(m.tags(), Some("D"));
    assert_eq!(m.unique_key(), Some(r.msg_id.as_str()));
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn delay_level_2_is_delivered_after_five_seconds_on_5x() {
    delay_level_2_is_delivered_after_five_seconds(&env_cluster(BrokerVersion::V5).unwrap()).await;
}

#[tokio::test]
async fn delay_level_2_is_delivered_after_five_seconds_on_4x() {
    delay_level_2_is_delivered_after_five_seconds(&env_cluster(BrokerVersion::V4).unwrap()).await;
}

/// 5.x timer messages (`TIMER_DELIVER_MS`); 4.9.x has no timer wheel.
#[tokio::test]
async fn timer_message_is_delivered_at_its_deliver_time_on_5x() {
    let namesrv = env_cluster(BrokerVersion::V5).unwrap();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("delay_timer");
    create_topic(&admin, &topic, 4).await;
    let p = producer(&namesrv, "delay_timer").await;

    let sent = Instant::now();
    let deliver_at = now_ms() + 3_000;
    let r = p
        .send(Message::new(topic.as_str(), "at three seconds").with_deliver_at(deliver_at))
        .await
        .unwrap();
    assert_eq!(r.status, SendStatus::Ok);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        read_topic(&admin, &topic).await.is_empty(),
        "a timer message is not visible before its time"
    );

    let (found, seen) = first_visible(&admin, &topic, Duration::from_secs(8)).await;
    let after = seen.duration_since(sent);
    assert_eq!(found.len(), 1, "delivered within 9 s");
    assert!(
        after >= Duration::from_millis(2_000),
        "delivered after {after:?}"
    );
    assert!(
        now_ms() >= deliver_at - 1_000,
        "not more than the timer precision early"
    );
    assert_eq!(found[0].body().as_ref(), b"at three seconds");
    assert_eq!(found[0].unique_key(), Some(r.msg_id.as_str()));
    p.shutdown().await.unwrap();
}
