//! Orderly consumption past its max reconsume times, on real 5.x and
//! 4.9.x brokers: the message goes as a plain message to `%RETRY%group`
//! with its reconsume times past MAX_RECONSUME_TIMES, the broker moves it
//! to `%DLQ%group`, and the queue goes on with the next message in order.
//! (4.9.7 creates that DLQ write-only on its send path, so it is counted,
//! not read, there.)

mod producer_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use producer_support::{create_topic, producer, unique, wait_for_messages};
use rmq::rmq_core::protocol::headers::{GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader};
use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq::{
    Admin, ConsumeFrom, ConsumeResult, Message, MessageExt, PushConsumer, RouteTable, Selector,
};
use rmq_tests::{env_cluster, BrokerVersion};

async fn a_message_failing_past_the_orderly_max_goes_to_the_dlq_and_the_queue_goes_on(
    namesrv: &str,
) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("orderly_dlq");
    create_topic(&admin, &topic, 1).await;
    let group = unique("cg_orderly_dlq");
    let p = producer(namesrv, "orderly_dlq").await;
    for body in ["poison", "next"] {
        p.send_ordered(Message::new(topic.as_str(), body), "k")
            .await
            .unwrap();
    }
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(&group)
        .consume_from(ConsumeFrom::First)
        .config(|c| {
            c.orderly_max_reconsume_times = Some(1);
            c.suspend_delay = Duration::from_millis(200);
        })
        .build()
        .unwrap();
    let seen: Arc<Mutex<Vec<MessageExt>>> = Arc::default();
    let log = Arc::clone(&seen);
    consumer
        .subscribe_orderly(&topic, Selector::all(), move |msgs| {
            let log = Arc::clone(&log);
            async move {
                let poison = msgs.iter().any(|m| m.body().as_ref() == b"poison");
                log.lock().unwrap().extend(msgs);
                if poison {
                    ConsumeResult::RETRY
                } else {
                    ConsumeResult::Success
                }
            }
        })
        .unwrap();
    consumer.start().await.unwrap();

    // The DLQ holds it. A 4.9 broker creates a DLQ topic on its send path
    // write-only (perm 2: it cannot be pulled), so count it by its max
    // offset on both versions, and read it back where it is readable.
    let dlq = format!("%DLQ%{group}");
    let start = Instant::now();
    let mut in_dlq = 0;
    while in_dlq < 1 && start.elapsed() < Duration::from_secs(30) {
        in_dlq = max_offset(&admin, &dlq).await.unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(in_dlq, 1, "one message in {dlq}");
    if readable(&admin, &dlq).await {
        let dead = wait_for_messages(&admin, &dlq, 1, Duration::from_secs(10)).await;
        assert_eq!(dead[0].body().as_ref(), b"poison");
    }
    let start = Instant::now();
    while !seen
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.body().as_ref() == b"next")
        && start.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bodies: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect();
    assert_eq!(
        bodies,
        ["poison", "poison", "next"],
        "tried once, retried once, then the queue went on in order"
    );
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

/// GET_MAX_OFFSET of queue 0 of `topic` on its broker, once it is routed.
async fn max_offset(admin: &Admin, topic: &str) -> Option<i64> {
    let route = admin.topic_route(topic).await.ok()?;
    let table = RouteTable::new(topic, &route);
    let broker = table.broker_names().next()?.to_string();
    let addr = table.master_addr(&broker)?.to_string();
    let header = GetMaxOffsetRequestHeader {
        topic: topic.to_string(),
        queue_id: 0,
        ..Default::default()
    };
    let cmd = RemotingCommand::request(request_code::GET_MAX_OFFSET, 0).with_header(&header);
    let resp = admin
        .request(Some(&addr), cmd, Duration::from_secs(5))
        .await
        .ok()?;
    (resp.code == response_code::SUCCESS)
        .then(|| resp.header::<GetMaxOffsetResponseHeader>().ok())
        .flatten()
        .map(|h| h.offset)
}

/// True when `topic`'s queues may be read (perm has the read bit, 4).
async fn readable(admin: &Admin, topic: &str) -> bool {
    let route = admin.topic_route(topic).await.unwrap();
    route.queue_datas.iter().all(|q| q.perm & 4 != 0)
}

#[tokio::test]
async fn a_message_failing_past_the_orderly_max_goes_to_the_dlq_and_the_queue_goes_on_on_5x() {
    a_message_failing_past_the_orderly_max_goes_to_the_dlq_and_the_queue_goes_on(
        &env_cluster(BrokerVersion::V5).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn a_message_failing_past_the_orderly_max_goes_to_the_dlq_and_the_queue_goes_on_on_4x() {
    a_message_failing_past_the_orderly_max_goes_to_the_dlq_and_the_queue_goes_on(
        &env_cluster(BrokerVersion::V4).unwrap(),
    )
    .await;
}
