//! Finding stored messages on the real brokers (5.x and 4.9.x): by offset
//! message id (VIEW_MESSAGE_BY_ID), by unique id and by key (QUERY_MESSAGE)
//! over a time range, on every broker of the topic.

mod producer_support;

use std::time::{Duration, Instant};

use producer_support::{create_topic, now_ms, producer, unique};
use rmq::{Admin, Message, MessageExt};
use rmq_tests::{env_cluster, BrokerVersion};

/// The index is written asynchronously: retry a query for up to 10 s.
async fn until_found<F, Fut>(mut query: F) -> Vec<MessageExt>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<MessageExt>>,
{
    let start = Instant::now();
    loop {
        let found = query().await;
        if !found.is_empty() || start.elapsed() > Duration::from_secs(10) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_sent_message_is_found_by_offset_id_unique_id_and_key(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("qry");
    create_topic(&admin, &topic, 4).await;
    let key = unique("order");
    let p = producer(namesrv, "qry").await;
    let begin = now_ms() - 1_000;
    let sent = p
        .send(
            Message::new(topic.as_str(), "find me")
                .with_tags("TagQ")
                .with_keys([key.as_str(), "other"]),
        )
        .await
        .unwrap();
    // A second message under the same key, and one under another key.
    let second = p
        .send(Message::new(topic.as_str(), "me too").with_keys([key.as_str()]))
        .await
        .unwrap();
    p.send(Message::new(topic.as_str(), "not me").with_keys(["unrelated"]))
        .await
        .unwrap();
    p.shutdown().await.unwrap();

    let viewed = admin
        .view_message(&sent.offset_msg_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(viewed.topic(), topic);
    assert_eq!(viewed.id(), sent.msg_id);
    assert_eq!(&viewed.body()[..], b"find me");
    assert_eq!(viewed.tags(), Some("TagQ"));

    let by_id = until_found(|| async {
        admin
            .query_by_unique_key(&topic, &sent.msg_id, 0, i64::MAX)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(by_id.len(), 1, "{by_id:?}");
    assert_eq!(by_id[0].msg_id, sent.offset_msg_id);

    let end = now_ms() + 60_000;
    let by_key = until_found(|| async {
        let found = admin
            .query_by_key(&topic, &key, begin, end, 32)
            .await
            .unwrap();
        if found.len() >= 2 {
            found
        } else {
            Vec::new()
        }
    })
    .await;
    let ids: Vec<&str> = by_key.iter().map(MessageExt::id).collect();
    assert_eq!(ids, [sent.msg_id.as_str(), second.msg_id.as_str()]);
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_a_sent_message_is_found_by_offset_id_unique_id_and_key() {
    a_sent_message_is_found_by_offset_id_unique_id_and_key(
        &env_cluster(BrokerVersion::V5).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn v4_a_sent_message_is_found_by_offset_id_unique_id_and_key() {
    a_sent_message_is_found_by_offset_id_unique_id_and_key(
        &env_cluster(BrokerVersion::V4).unwrap(),
    )
    .await;
}

async fn a_time_range_before_the_send_finds_nothing(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("qry_range");
    create_topic(&admin, &topic, 2).await;
    let key = unique("k");
    let p = producer(namesrv, "qry_range").await;
    p.send(Message::new(topic.as_str(), "x").with_keys([key.as_str()]))
        .await
        .unwrap();
    p.shutdown().await.unwrap();
    // Found over all time (the index has it) …
    let found = until_found(|| async {
        admin
            .query_by_key(&topic, &key, 0, i64::MAX, 32)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(found.len(), 1);
    // … but not in an hour that ended before it was sent.
    let hour_ago = now_ms() - 3_600_000;
    let none = admin
        .query_by_key(&topic, &key, hour_ago - 3_600_000, hour_ago, 32)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_a_time_range_before_the_send_finds_nothing() {
    a_time_range_before_the_send_finds_nothing(&env_cluster(BrokerVersion::V5).unwrap()).await;
}

#[tokio::test]
async fn v4_a_time_range_before_the_send_finds_nothing() {
    a_time_range_before_the_send_finds_nothing(&env_cluster(BrokerVersion::V4).unwrap()).await;
}

async fn an_offset_id_past_the_commit_log_finds_no_message(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("qry_none");
    create_topic(&admin, &topic, 1).await;
    let p = producer(namesrv, "qry_none").await;
    let sent = p.send(Message::new(topic.as_str(), "x")).await.unwrap();
    p.shutdown().await.unwrap();
    // The same broker, an offset far past its commit log.
    let mut id = rmq::rmq_core::message::OffsetMessageId::decode(&sent.offset_msg_id).unwrap();
    id.commit_log_offset += 1 << 40;
    assert_eq!(admin.view_message(&id.encode()).await.unwrap(), None);
    assert!(admin.view_message("not-an-id").await.is_err());
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_an_offset_id_past_the_commit_log_finds_no_message() {
    an_offset_id_past_the_commit_log_finds_no_message(&env_cluster(BrokerVersion::V5).unwrap())
        .await;
}

#[tokio::test]
async fn v4_an_offset_id_past_the_commit_log_finds_no_message() {
    an_offset_id_past_the_commit_log_finds_no_message(&env_cluster(BrokerVersion::V4).unwrap())
        .await;
}
