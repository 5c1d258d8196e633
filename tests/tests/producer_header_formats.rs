//! The producer works with both header serializations against real 5.x and
//! 4.9.x brokers: ROCKETMQ binary (rmq's default) and JSON (Java's default).

mod producer_support;

use producer_support::{create_topic, read_queue_until, unique};
use rmq::{Admin, Message, Producer, SerializeType};
use rmq_tests::{env_cluster, BrokerVersion};

async fn send_and_read_back_with(namesrv: &str, ser: SerializeType) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("header_format");
    create_topic(&admin, &topic, 2).await;
    let p = Producer::builder()
        .name_server(namesrv)
        .group(unique("header_format_pg"))
        .serialize_type(ser)
        .build()
        .unwrap();
    p.start().await.unwrap();
    let msg = Message::new(topic.as_str(), "über 🚀")
        .with_tags("TagJ")
        .with_property("k", "v");
    let r = p.send(msg).await.unwrap();
    let stored = read_queue_until(&admin, &r.queue, 1).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body().as_ref(), "über 🚀".as_bytes());
    assert_eq!(stored[0].tags(), Some("TagJ"));
    assert_eq!(stored[0].property("k"), Some("v"));
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn json_headers_work_on_5x() {
    send_and_read_back_with(
        &env_cluster(BrokerVersion::V5).unwrap(),
        SerializeType::Json,
    )
    .await;
}

#[tokio::test]
async fn json_headers_work_on_4x() {
    send_and_read_back_with(
        &env_cluster(BrokerVersion::V4).unwrap(),
        SerializeType::Json,
    )
    .await;
}

#[tokio::test]
async fn binary_headers_work_on_5x() {
    send_and_read_back_with(
        &env_cluster(BrokerVersion::V5).unwrap(),
        SerializeType::RocketMq,
    )
    .await;
}

#[tokio::test]
async fn binary_headers_work_on_4x() {
    send_and_read_back_with(
        &env_cluster(BrokerVersion::V4).unwrap(),
        SerializeType::RocketMq,
    )
    .await;
}
