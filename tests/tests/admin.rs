//! `Admin` against the real brokers (5.x and 4.9.x): topics created, listed
//! and deleted; cluster and broker info; a consumer group's progress and
//! members; offsets reset to a time, with and without a consumer online.

mod producer_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use producer_support::{now_ms, producer, unique};
use rmq::{Admin, ConsumeFrom, ConsumeResult, Message, PushConsumer, Selector, TopicConfig};
use rmq_tests::{env_cluster, BrokerVersion};

/// Polls `check` every 200 ms for up to 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not within 20 s");
}

async fn a_created_topic_is_listed_routed_and_gone_once_deleted(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("adm_topic");
    let brokers = admin
        .create_topic(&TopicConfig::new(topic.as_str()).queues(3))
        .await
        .unwrap();
    assert!(!brokers.is_empty());
    eventually("topic listed", || async {
        admin.topics().await.unwrap().contains(&topic)
    })
    .await;
    let route = admin.topic_route(&topic).await.unwrap();
    assert_eq!(route.queue_datas[0].read_queue_nums, 3);
    assert_eq!(route.queue_datas[0].write_queue_nums, 3);
    assert_eq!(route.queue_datas[0].perm, 6);

    admin.delete_topic(&topic, None).await.unwrap();
    eventually("topic unlisted", || async {
        !admin.topics().await.unwrap().contains(&topic)
    })
    .await;
    assert!(
        admin.topic_route(&topic).await.is_err(),
        "route after delete"
    );
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_a_created_topic_is_listed_routed_and_gone_once_deleted() {
    a_created_topic_is_listed_routed_and_gone_once_deleted(
        &env_cluster(BrokerVersion::V5).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn v4_a_created_topic_is_listed_routed_and_gone_once_deleted() {
    a_created_topic_is_listed_routed_and_gone_once_deleted(
        &env_cluster(BrokerVersion::V4).unwrap(),
    )
    .await;
}

async fn cluster_info_names_the_broker_and_its_version(namesrv: &str, version: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let info = admin.cluster_info().await.unwrap();
    let masters = info.master_addrs("DefaultCluster");
    assert_eq!(masters.len(), 1, "{info:?}");
    let stats = admin.broker_runtime_info(masters[0]).await.unwrap();
    assert_eq!(
        stats.get("brokerVersionDesc").map(String::as_str),
        Some(version)
    );
    assert!(stats.contains_key("putTps"), "{stats:?}");
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_cluster_info_names_the_broker_and_its_version() {
    cluster_info_names_the_broker_and_its_version(
        &env_cluster(BrokerVersion::V5).unwrap(),
        "V5_5_0",
    )
    .await;
}

#[tokio::test]
async fn v4_cluster_info_names_the_broker_and_its_version() {
    cluster_info_names_the_broker_and_its_version(
        &env_cluster(BrokerVersion::V4).unwrap(),
        "V4_9_7",
    )
    .await;
}

/// Sends `n` messages to `topic`, then consumes them all in `group`; the
/// consumer stays running.
async fn consumed(
    namesrv: &str,
    topic: &str,
    group: &str,
    n: usize,
) -> (PushConsumer, Arc<AtomicUsize>) {
    let p = producer(namesrv, "adm").await;
    for i in 0..n {
        p.send(Message::new(topic, format!("m{i}"))).await.unwrap();
    }
    p.shutdown().await.unwrap();
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(group)
        .consume_from(ConsumeFrom::First)
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
    while seen.load(Ordering::SeqCst) < n && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.load(Ordering::SeqCst) >= n, "consumed {n} in 30 s");
    (consumer, seen)
}

async fn group_progress_shows_zero_lag_and_the_member_after_consuming(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("adm_lag");
    admin
        .create_topic(&TopicConfig::new(topic.as_str()).queues(2))
        .await
        .unwrap();
    let group = unique("cg_adm_lag");
    let (consumer, _) = consumed(namesrv, &topic, &group, 6).await;
    // Offsets reach the broker with the next commit (every 5 s).
    eventually("lag 0 with 6 consumed", || async {
        let stats = admin.consume_stats(&group, Some(&topic)).await.unwrap();
        let max: i64 = stats.offset_table.values().map(|w| w.broker_offset).sum();
        stats.offset_table.len() == 2 && max == 6 && stats.total_lag() == 0
    })
    .await;
    let members = admin.consumer_connections(&group).await.unwrap();
    assert_eq!(members.connections.len(), 1, "{members:?}");
    assert_eq!(members.connections[0].client_id, consumer.client_id());
    assert!(members.subscriptions.contains_key(&topic), "{members:?}");
    assert_eq!(members.message_model.as_deref(), Some("CLUSTERING"));
    consumer.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_group_progress_shows_zero_lag_and_the_member_after_consuming() {
    group_progress_shows_zero_lag_and_the_member_after_consuming(
        &env_cluster(BrokerVersion::V5).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn v4_group_progress_shows_zero_lag_and_the_member_after_consuming() {
    group_progress_shows_zero_lag_and_the_member_after_consuming(
        &env_cluster(BrokerVersion::V4).unwrap(),
    )
    .await;
}

async fn reset_to_a_past_time_brings_the_lag_back(namesrv: &str, online: bool) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("adm_reset");
    admin
        .create_topic(&TopicConfig::new(topic.as_str()).queues(2))
        .await
        .unwrap();
    let before = now_ms() - 1_000;
    let group = unique("cg_adm_reset");
    let (consumer, seen) = consumed(namesrv, &topic, &group, 4).await;
    eventually("lag 0", || async {
        let s = admin.consume_stats(&group, Some(&topic)).await.unwrap();
        s.offset_table.len() == 2 && s.total_lag() == 0
    })
    .await;
    if !online {
        consumer.shutdown().await.unwrap();
    }
    let offsets = admin.reset_offset(&group, &topic, before).await.unwrap();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    assert!(offsets.values().all(|o| *o == 0), "{offsets:?}");
    if online {
        // The broker told the consumer: it consumes the 4 messages again.
        let start = Instant::now();
        while seen.load(Ordering::SeqCst) < 8 && start.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            seen.load(Ordering::SeqCst),
            8,
            "consumed again after the reset"
        );
        consumer.shutdown().await.unwrap();
    } else {
        let s = admin.consume_stats(&group, Some(&topic)).await.unwrap();
        assert_eq!(s.total_lag(), 4, "{s:?}");
    }
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn v5_reset_with_no_consumer_online_commits_the_offsets_of_the_time() {
    reset_to_a_past_time_brings_the_lag_back(&env_cluster(BrokerVersion::V5).unwrap(), false).await;
}

#[tokio::test]
async fn v4_reset_with_no_consumer_online_commits_the_offsets_of_the_time() {
    reset_to_a_past_time_brings_the_lag_back(&env_cluster(BrokerVersion::V4).unwrap(), false).await;
}

#[tokio::test]
async fn v5_reset_with_a_consumer_online_makes_it_consume_again() {
    reset_to_a_past_time_brings_the_lag_back(&env_cluster(BrokerVersion::V5).unwrap(), true).await;
}

#[tokio::test]
async fn v4_reset_with_a_consumer_online_makes_it_consume_again() {
    reset_to_a_past_time_brings_the_lag_back(&env_cluster(BrokerVersion::V4).unwrap(), true).await;
}
