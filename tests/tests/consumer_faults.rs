//! Failures reported against the Go client that rmq's push consumer must
//! never show: a broker restarted under it (rocketmq-client-go #1071,
//! #1085), queues added to its topic (#1056), a broker added to the cluster
//! (#1057). Each test of a restart or a new broker owns a private cluster;
//! those run one at a time.

mod producer_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use producer_support::{create_topic, producer, recording_consumer, unique, Seen};
use rmq::{Admin, RouteTable};
use rmq::{Message, Producer};
use rmq_tests::{env_cluster, BrokerVersion, Cluster, ClusterSpec};

/// One private cluster at a time: the machine also runs the shared ones.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Sends one message to every writable queue of `topic`, bodies tagged
/// with `label`; returns the (broker, queue) pairs written.
async fn one_per_queue(
    p: &Producer,
    admin: &Admin,
    topic: &str,
    label: &str,
) -> BTreeSet<(String, i32)> {
    let table = RouteTable::new(topic, &admin.topic_route(topic).await.unwrap());
    let mut queues = BTreeSet::new();
    for q in table.publish_queues() {
        let msg = Message::new(topic, format!("{label}-{}-{}", q.broker_name, q.queue_id));
        let r = p.send_to_queue(msg, q.clone()).await.unwrap();
        queues.insert((r.queue.broker_name, r.queue.queue_id));
    }
    queues
}

/// Waits until `seen` holds a message with body prefix `label` from every
/// queue of `queues`; returns the queues still missing.
async fn wait_for_queues(
    seen: &Seen,
    label: &str,
    queues: &BTreeSet<(String, i32)>,
    limit: Duration,
) -> BTreeSet<(String, i32)> {
    let start = Instant::now();
    loop {
        let got: BTreeSet<(String, i32)> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                let body = String::from_utf8_lossy(m.body()).into_owned();
                let rest = body.strip_prefix(&format!("{label}-"))?.to_string();
                let (broker, q) = rest.rsplit_once('-')?;
                Some((broker.to_string(), q.parse().ok()?))
            })
            .collect();
        let missing: BTreeSet<_> = queues.difference(&got).cloned().collect();
        if missing.is_empty() || start.elapsed() > limit {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- #1071 / #1085 -----------------------------------------------------------

async fn a_broker_restarted_under_a_consumer_is_consumed_from_again_on_every_queue(
    version: BrokerVersion,
) {
    let _serial = SERIAL.lock().await;
    let mut cluster = blocking(move || Cluster::start(ClusterSpec::with_free_ports(version)?))
        .await
        .unwrap();
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("fault_restart");
    create_topic(&admin, &topic, 4).await;
    let (c, seen) = recording_consumer(&namesrv, &unique("cg_faults"), &topic).await;
    let p = producer(&namesrv, "fault_restart").await;
    let before = one_per_queue(&p, &admin, &topic, "before").await;
    assert!(
        wait_for_queues(&seen, "before", &before, Duration::from_secs(30))
            .await
            .is_empty()
    );

    let cluster = blocking(move || {
        cluster.stop_broker()?;
        cluster.start_broker()?;
        Ok::<_, rmq_tests::HarnessError>(cluster)
    })
    .await
    .unwrap();
    let after = one_per_queue(&p, &admin, &topic, "after").await;
    let missing = wait_for_queues(&seen, "after", &after, Duration::from_secs(60)).await;
    assert!(
        missing.is_empty(),
        "queues not consumed after the restart: {missing:?}"
    );
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    blocking(move || cluster.stop()).await.unwrap();
}

#[tokio::test]
async fn a_broker_restarted_under_a_consumer_is_consumed_from_again_on_every_queue_on_5x() {
    a_broker_restarted_under_a_consumer_is_consumed_from_again_on_every_queue(BrokerVersion::V5)
        .await;
}

#[tokio::test]
async fn a_broker_restarted_under_a_consumer_is_consumed_from_again_on_every_queue_on_4x() {
    a_broker_restarted_under_a_consumer_is_consumed_from_again_on_every_queue(BrokerVersion::V4)
        .await;
}

// ----- #1056 ----------------------------------------------------------------------

async fn queues_added_to_a_topic_while_consuming_are_consumed_without_a_restart(
    version: BrokerVersion,
) {
    let namesrv = env_cluster(version).unwrap();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("fault_queues");
    create_topic(&admin, &topic, 2).await;
    let (c, seen) = recording_consumer(&namesrv, &unique("cg_faults"), &topic).await;
    let p = producer(&namesrv, "fault_queues").await;
    let first = one_per_queue(&p, &admin, &topic, "two").await;
    assert_eq!(first.len(), 2);
    assert!(
        wait_for_queues(&seen, "two", &first, Duration::from_secs(30))
            .await
            .is_empty()
    );

    create_topic(&admin, &topic, 6).await; // 2 -> 6 queues
    let start = Instant::now();
    let all = loop {
        let table = RouteTable::new(&topic, &admin.topic_route(&topic).await.unwrap());
        if table.publish_queues().len() == 6 || start.elapsed() > Duration::from_secs(20) {
            break one_per_queue(&p, &admin, &topic, "six").await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(all.len(), 6);
    let missing = wait_for_queues(&seen, "six", &all, Duration::from_secs(30)).await;
    assert!(missing.is_empty(), "new queues not consumed: {missing:?}");
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn queues_added_to_a_topic_while_consuming_are_consumed_without_a_restart_on_5x() {
    queues_added_to_a_topic_while_consuming_are_consumed_without_a_restart(BrokerVersion::V5).await;
}

#[tokio::test]
async fn queues_added_to_a_topic_while_consuming_are_consumed_without_a_restart_on_4x() {
    queues_added_to_a_topic_while_consuming_are_consumed_without_a_restart(BrokerVersion::V4).await;
}

// ----- #1057 ----------------------------------------------------------------------

async fn a_second_broker_added_while_consuming_is_consumed_from(version: BrokerVersion) {
    let _serial = SERIAL.lock().await;
    let cluster = blocking(move || Cluster::start(ClusterSpec::with_free_ports(version)?))
        .await
        .unwrap();
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("fault_broker");
    create_topic(&admin, &topic, 2).await;
    let (c, seen) = recording_consumer(&namesrv, &unique("cg_faults"), &topic).await;
    let p = producer(&namesrv, "fault_broker").await;
    let first = one_per_queue(&p, &admin, &topic, "one").await;
    assert!(
        wait_for_queues(&seen, "one", &first, Duration::from_secs(30))
            .await
            .is_empty()
    );

    let mut cluster = cluster;
    let cluster = blocking(move || {
        cluster.add_broker("broker-b")?;
        Ok::<_, rmq_tests::HarnessError>(cluster)
    })
    .await
    .unwrap();
    create_topic(&admin, &topic, 2).await; // now on broker-b too
    let start = Instant::now();
    let all = loop {
        let table = RouteTable::new(&topic, &admin.topic_route(&topic).await.unwrap());
        if table.broker_names().count() == 2 || start.elapsed() > Duration::from_secs(30) {
            // A fresh producer: the first one's route is up to 30 s old.
            let p2 = producer(&namesrv, "fault_broker_2").await;
            let sent = one_per_queue(&p2, &admin, &topic, "two").await;
            p2.shutdown().await.unwrap();
            break sent;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(all.iter().any(|(b, _)| b == "broker-b"), "{all:?}");
    let missing = wait_for_queues(&seen, "two", &all, Duration::from_secs(40)).await;
    assert!(
        missing.is_empty(),
        "queues not consumed after the broker joined: {missing:?}"
    );
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    blocking(move || cluster.stop()).await.unwrap();
}

#[tokio::test]
async fn a_second_broker_added_while_consuming_is_consumed_from_on_5x() {
    a_second_broker_added_while_consuming_is_consumed_from(BrokerVersion::V5).await;
}

#[tokio::test]
async fn a_second_broker_added_while_consuming_is_consumed_from_on_4x() {
    a_second_broker_added_while_consuming_is_consumed_from(BrokerVersion::V4).await;
}
