//! Every send kind of [`rmq::Producer`] against real 5.x and 4.9.x brokers,
//! each message read back with raw pulls.

mod producer_support;

use std::collections::BTreeSet;
use std::time::Duration;

use producer_support::{
    create_topic, java_hash_code, producer, read_queue, read_queue_until, unique, wait_for_messages,
};
use rmq::{Admin, Message, MessageQueue, SendStatus};
use rmq_tests::{env_cluster, BrokerVersion};

fn ns(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

fn keys_of(m: &rmq::MessageExt) -> Vec<String> {
    m.message.keys().map(String::from).collect()
}

// ----- send ------------------------------------------------------------------

async fn send_stores_body_tags_keys_and_user_properties(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("send_props");
    create_topic(&admin, &topic, 4).await;
    let p = producer(namesrv, "send_props").await;

    let msg = Message::new(topic.as_str(), "hello real broker")
        .with_tags("TagA")
        .with_keys(["order-17", "customer-9"])
        .with_property("color", "blue")
        .with_property("weight", "42");
    let r = p.send(msg).await.unwrap();
    assert_eq!(r.status, SendStatus::Ok);
    assert_eq!(r.queue.topic, topic);
    assert!(!r.msg_id.is_empty() && !r.offset_msg_id.is_empty());

    let stored = read_queue_until(&admin, &r.queue, 1).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let m = &stored[0];
    assert_eq!(m.queue_offset, r.queue_offset);
    assert_eq!(m.body().as_ref(), b"hello real broker");
    assert_eq!(m.tags(), Some("TagA"));
    assert_eq!(keys_of(m), ["order-17", "customer-9"]);
    assert_eq!(m.property("color"), Some("blue"));
    assert_eq!(m.property("weight"), Some("42"));
    assert_eq!(m.unique_key(), Some(r.msg_id.as_str()));
    assert_eq!(m.msg_id, r.offset_msg_id);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn send_stores_body_tags_keys_and_user_properties_on_5x() {
    send_stores_body_tags_keys_and_user_properties(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn send_stores_body_tags_keys_and_user_properties_on_4x() {
    send_stores_body_tags_keys_and_user_properties(&ns(BrokerVersion::V4)).await;
}

// ----- send to an auto-created topic -------------------------------------------

async fn send_to_an_unknown_topic_auto_creates_it(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("send_autocreate");
    let p = producer(namesrv, "send_autocreate").await;
    let r = p.send(Message::new(topic.as_str(), "first")).await.unwrap();
    assert_eq!(r.status, SendStatus::Ok);
    let found = wait_for_messages(&admin, &topic, 1, Duration::from_secs(10)).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].body().as_ref(), b"first");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn send_to_an_unknown_topic_auto_creates_it_on_5x() {
    send_to_an_unknown_topic_auto_creates_it(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn send_to_an_unknown_topic_auto_creates_it_on_4x() {
    send_to_an_unknown_topic_auto_creates_it(&ns(BrokerVersion::V4)).await;
}

// ----- oneway --------------------------------------------------------------------

async fn oneway_message_is_stored(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("send_oneway");
    create_topic(&admin, &topic, 4).await;
    let p = producer(namesrv, "send_oneway").await;
    p.send_oneway(Message::new(topic.as_str(), "fire and forget").with_tags("OW"))
        .await
        .unwrap();
    let found = wait_for_messages(&admin, &topic, 1, Duration::from_secs(10)).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].body().as_ref(), b"fire and forget");
    assert_eq!(found[0].tags(), Some("OW"));
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn oneway_message_is_stored_on_5x() {
    oneway_message_is_stored(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn oneway_message_is_stored_on_4x() {
    oneway_message_is_stored(&ns(BrokerVersion::V4)).await;
}

// ----- batch ---------------------------------------------------------------------

async fn batch_is_stored_in_order_with_each_messages_own_tags_and_keys(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("send_batch");
    create_topic(&admin, &topic, 4).await;
    let p = producer(namesrv, "send_batch").await;
    let batch: Vec<Message> = (0..10)
        .map(|i| {
            Message::new(topic.as_str(), format!("batch-{i}"))
                .with_tags(format!("T{i}"))
                .with_keys([format!("K{i}")])
                .with_property("idx", i.to_string())
        })
        .collect();
    let r = p.send_batch(batch).await.unwrap();
    assert_eq!(r.status, SendStatus::Ok);
    let ids: Vec<&str> = r.msg_id.split(',').collect();
    assert_eq!(ids.len(), 10);

    let stored = read_queue_until(&admin, &r.queue, 10).await;
    assert_eq!(stored.len(), 10, "the whole batch lands on one queue");
    for (i, m) in stored.iter().enumerate() {
        assert_eq!(m.queue_offset, r.queue_offset + i as i64);
        assert_eq!(m.body().as_ref(), format!("batch-{i}").as_bytes());
        assert_eq!(m.tags(), Some(format!("T{i}").as_str()));
        assert_eq!(keys_of(m), [format!("K{i}")]);
        assert_eq!(m.property("idx"), Some(i.to_string().as_str()));
        assert_eq!(m.unique_key(), Some(ids[i]));
    }
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn batch_is_stored_in_order_with_each_messages_own_tags_and_keys_on_5x() {
    batch_is_stored_in_order_with_each_messages_own_tags_and_keys(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn batch_is_stored_in_order_with_each_messages_own_tags_and_keys_on_4x() {
    batch_is_stored_in_order_with_each_messages_own_tags_and_keys(&ns(BrokerVersion::V4)).await;
}

// ----- send_to_queue ----------------------------------------------------------------

async fn send_to_queue_lands_on_that_queue(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("send_to_queue");
    let table = create_topic(&admin, &topic, 4).await;
    let p = producer(namesrv, "send_to_queue").await;
    let target = table.publish_queues()[3].clone();
    for i in 0..3 {
        let r = p
            .send_to_queue(
                Message::new(topic.as_str(), format!("q3-{i}")),
                target.clone(),
            )
            .await
            .unwrap();
        assert_eq!(r.queue, target);
        assert_eq!(r.queue_offset, i);
    }
    let on_target = read_queue_until(&admin, &target, 3).await;
    let bodies: Vec<&[u8]> = on_target.iter().map(|m| m.body().as_ref()).collect();
    assert_eq!(bodies, [b"q3-0".as_ref(), b"q3-1", b"q3-2"]);
    let all = wait_for_messages(&admin, &topic, 3, Duration::from_secs(5)).await;
    assert_eq!(all.len(), 3, "no other queue");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn send_to_queue_lands_on_that_queue_on_5x() {
    send_to_queue_lands_on_that_queue(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn send_to_queue_lands_on_that_queue_on_4x() {
    send_to_queue_lands_on_that_queue(&ns(BrokerVersion::V4)).await;
}

// ----- send_ordered -------------------------------------------------------------------

async fn ordered_send_uses_the_java_hash_queue_for_its_key(namesrv: &str) {
    assert_eq!(java_hash_code("hello"), 99_162_322, "reference hash");
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("send_ordered");
    let table = create_topic(&admin, &topic, 8).await;
    // Java's publish list: sorted by broker name, then queue id.
    let mut queues: Vec<MessageQueue> = table.publish_queues().to_vec();
    queues.sort_by(|a, b| (&a.broker_name, a.queue_id).cmp(&(&b.broker_name, b.queue_id)));
    assert_eq!(queues.len(), 8);
    let p = producer(namesrv, "send_ordered").await;

    let keys = ["order-1", "order-2", "customer-é", "a", "zz-top-99"];
    let mut used = BTreeSet::new();
    for key in keys {
        let expected = &queues[(java_hash_code(key) % 8).unsigned_abs() as usize];
        for seq in 0..3 {
            let msg = Message::new(topic.as_str(), format!("{key}#{seq}"));
            let r = p.send_ordered(msg, key).await.unwrap();
            assert_eq!(&r.queue, expected, "key {key}");
        }
        used.insert(expected.queue_id);
    }
    let all = wait_for_messages(&admin, &topic, 15, Duration::from_secs(10)).await;
    assert_eq!(all.len(), 15);
    for q in &queues {
        let bodies: Vec<String> = read_queue(&admin, q)
            .await
            .iter()
            .map(|m| String::from_utf8(m.body().to_vec()).unwrap())
            .collect();
        for key in keys {
            let of_key: Vec<&String> = bodies
                .iter()
                .filter(|b| b.rsplit_once('#').unwrap().0 == key)
                .collect();
            if of_key.is_empty() {
                continue;
            }
            let want: Vec<String> = (0..3).map(|s| format!("{key}#{s}")).collect();
            assert_eq!(of_key, want.iter().collect::<Vec<_>>(), "in order");
        }
    }
    assert!(used.len() > 1, "keys spread over queues: {used:?}");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn ordered_send_uses_the_java_hash_queue_for_its_key_on_5x() {
    ordered_send_uses_the_java_hash_queue_for_its_key(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn ordered_send_uses_the_java_hash_queue_for_its_key_on_4x() {
    ordered_send_uses_the_java_hash_queue_for_its_key(&ns(BrokerVersion::V4)).await;
}

// ----- send_with_selector ---------------------------------------------------------------

async fn selector_send_lands_on_the_selected_queue(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("send_selector");
    let table = create_topic(&admin, &topic, 4).await;
    let p = producer(namesrv, "send_selector").await;
    let last = table.publish_queues().last().unwrap().clone();
    let r = p
        .send_with_selector(
            Message::new(topic.as_str(), "picked").with_tags("sel"),
            |queues: &[MessageQueue], msg: &Message| {
                assert_eq!(msg.tags(), Some("sel"));
                queues.len() - 1
            },
        )
        .await
        .unwrap();
    assert_eq!(r.queue, last);
    let stored = read_queue_until(&admin, &last, 1).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body().as_ref(), b"picked");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn selector_send_lands_on_the_selected_queue_on_5x() {
    selector_send_lands_on_the_selected_queue(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn selector_send_lands_on_the_selected_queue_on_4x() {
    selector_send_lands_on_the_selected_queue(&ns(BrokerVersion::V4)).await;
}

// ----- compression ------------------------------------------------------------------------

async fn large_compressible_body_is_stored_compressed_and_reads_back_identical(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("send_compressed");
    create_topic(&admin, &topic, 4).await;
    let p = producer(namesrv, "send_compressed").await;
    let body: Vec<u8> = b"rocketmq compresses this line. "
        .iter()
        .copied()
        .cycle()
        .take(8 * 1024)
        .collect();
    let r1 = p
        .send(Message::new(topic.as_str(), body.clone()))
        .await
        .unwrap();
    assert_eq!(r1.status, SendStatus::Ok);
    let stored = read_queue_until(&admin, &r1.queue, 1).await;
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    assert_eq!(m.body().as_ref(), body.as_slice(), "decompressed on read");
    assert!(
        (m.store_size as usize) < 1024,
        "stored record is {} bytes for an 8 KiB body",
        m.store_size
    );
    assert_eq!(m.sys_flag & 1, 0, "the decoder clears the compressed bit");

    // The stored record itself, not decompressed: bit 0 set, small body.
    let raw = raw_pull(&admin, &r1.queue).await;
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].sys_flag & 1, 1, "stored with the compressed flag");
    assert!(raw[0].body().len() < 1024, "{}", raw[0].body().len());
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn large_compressible_body_is_stored_compressed_and_reads_back_identical_on_5x() {
    large_compressible_body_is_stored_compressed_and_reads_back_identical(&ns(BrokerVersion::V5))
        .await;
}

#[tokio::test]
async fn large_compressible_body_is_stored_compressed_and_reads_back_identical_on_4x() {
    large_compressible_body_is_stored_compressed_and_reads_back_identical(&ns(BrokerVersion::V4))
        .await;
}

/// One raw pull of `queue` from offset 0, decoded without decompression.
async fn raw_pull(admin: &Admin, queue: &MessageQueue) -> Vec<rmq::MessageExt> {
    use rmq::rmq_core::message::{decode_messages_with, DecodeOptions};
    use rmq::rmq_core::protocol::headers::PullMessageRequestHeader;
    use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
    let route = admin.topic_route(&queue.topic).await.unwrap();
    let addr = route
        .broker(&queue.broker_name)
        .and_then(|b| b.master_addr())
        .unwrap()
        .to_string();
    let header = PullMessageRequestHeader {
        consumer_group: producer_support::READER_GROUP.to_string(),
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        queue_offset: 0,
        max_msg_nums: 32,
        sys_flag: 4,
        subscription: Some("*".to_string()),
        expression_type: Some("TAG".to_string()),
        ..Default::default()
    };
    let cmd = RemotingCommand::request(request_code::PULL_MESSAGE, 0).with_header(&header);
    let resp = admin
        .request(Some(&addr), cmd, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
    let options = DecodeOptions {
        decompress: false,
        ..Default::default()
    };
    decode_messages_with(&resp.body, &options).unwrap()
}
