//! What operators' tools ask a running consumer through the real broker
//! (5.x and 4.9.x): the broker forwards GET_CONSUMER_RUNNING_INFO and
//! CONSUME_MESSAGE_DIRECTLY (`mqadmin consumerStatus`, `mqadmin
//! consumeMessage`) to the client and hands its answer back.

mod producer_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use producer_support::{create_topic, producer, unique};
use rmq::rmq_core::protocol::headers::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerRunningInfoRequestHeader,
};
use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq::{Admin, ConsumeFrom, ConsumeResult, Message, MessageExt, PushConsumer, Selector};
use rmq_tests::{env_cluster, BrokerVersion};

type Seen = Arc<Mutex<Vec<MessageExt>>>;

async fn running_consumer(namesrv: &str, topic: &str, group: &str) -> (PushConsumer, Seen) {
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(group)
        .consume_from(ConsumeFrom::First)
        .threads(4)
        .build()
        .unwrap();
    let seen: Seen = Arc::default();
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
    (consumer, seen)
}

async fn wait_for(seen: &Seen, n: usize) {
    let start = Instant::now();
    while seen.lock().unwrap().len() < n && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.lock().unwrap().len() >= n, "consumed {n} in 30 s");
}

async fn running_info_through_the_broker_describes_the_consumer(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("admin_info");
    let table = create_topic(&admin, &topic, 2).await;
    let addr = table.master_addr("broker-a").unwrap().to_string();
    let group = unique("cg_admin_info");
    let p = producer(namesrv, "admin_info").await;
    p.send(Message::new(topic.as_str(), "one")).await.unwrap();
    let (consumer, seen) = running_consumer(namesrv, &topic, &group).await;
    wait_for(&seen, 1).await;

    let header = GetConsumerRunningInfoRequestHeader {
        consumer_group: group.clone(),
        client_id: consumer.client_id().to_string(),
        jstack_enable: Some(false),
        ..Default::default()
    };
    let cmd =
        RemotingCommand::request(request_code::GET_CONSUMER_RUNNING_INFO, 0).with_header(&header);
    let resp = admin
        .request(Some(&addr), cmd, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
    let info = String::from_utf8_lossy(&resp.body).into_owned();
    for expected in [
        r#""PROP_CONSUME_TYPE":"CONSUME_PASSIVELY""#,
        r#""PROP_THREADPOOL_CORE_SIZE":"4""#,
        r#""mqTable":{"#,
        &format!(r#""topic":"{topic}""#),
        r#""statusTable":{"#,
    ] {
        assert!(info.contains(expected), "{expected} in {info}");
    }
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

async fn consume_message_directly_through_the_broker_runs_the_handler(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("admin_direct");
    let table = create_topic(&admin, &topic, 2).await;
    let addr = table.master_addr("broker-a").unwrap().to_string();
    let group = unique("cg_admin_direct");
    let p = producer(namesrv, "admin_direct").await;
    let sent = p
        .send(Message::new(topic.as_str(), "again, directly"))
        .await
        .unwrap();
    let (consumer, seen) = running_consumer(namesrv, &topic, &group).await;
    wait_for(&seen, 1).await;

    let header = ConsumeMessageDirectlyResultRequestHeader {
        consumer_group: group.clone(),
        client_id: Some(consumer.client_id().to_string()),
        msg_id: Some(sent.offset_msg_id.clone()),
        broker_name: Some("broker-a".into()),
        topic: Some(topic.clone()),
        ..Default::default()
    };
    let cmd =
        RemotingCommand::request(request_code::CONSUME_MESSAGE_DIRECTLY, 0).with_header(&header);
    let resp = admin
        .request(Some(&addr), cmd, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
    let result = String::from_utf8_lossy(&resp.body).into_owned();
    assert!(
        result.contains(r#""consumeResult":"CR_SUCCESS""#),
        "{result}"
    );
    let bodies: Vec<Vec<u8>> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.body().to_vec())
        .collect();
    assert_eq!(
        bodies,
        [b"again, directly".to_vec(), b"again, directly".to_vec()],
        "once pulled, once directly"
    );
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn running_info_through_the_broker_describes_the_consumer_on_5x() {
    running_info_through_the_broker_describes_the_consumer(
        &env_cluster(BrokerVersion::V5).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn running_info_through_the_broker_describes_the_consumer_on_4x() {
    running_info_through_the_broker_describes_the_consumer(
        &env_cluster(BrokerVersion::V4).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn consume_message_directly_through_the_broker_runs_the_handler_on_5x() {
    consume_message_directly_through_the_broker_runs_the_handler(
        &env_cluster(BrokerVersion::V5).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn consume_message_directly_through_the_broker_runs_the_handler_on_4x() {
    consume_message_directly_through_the_broker_runs_the_handler(
        &env_cluster(BrokerVersion::V4).unwrap(),
    )
    .await;
}
