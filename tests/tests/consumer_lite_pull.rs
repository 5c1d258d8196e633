//! [`rmq::LitePullConsumer`] (the seed's pull consumer) against real 5.x and
//! 4.9.x brokers: assign + seek + poll + commit, and subscribe with two
//! members of one group.

mod producer_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use producer_support::{create_topic, producer, unique};
use rmq::{Admin, ConsumeFrom, LitePullConsumer, Message, MessageExt, Selector};
use rmq_tests::{env_cluster, BrokerVersion};

fn ns(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

fn bodies(msgs: &[MessageExt]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect()
}

/// Polls until `n` messages came or `limit` passed.
async fn poll_until(c: &LitePullConsumer, n: usize, limit: Duration) -> Vec<MessageExt> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < limit {
        out.extend(c.poll(Duration::from_millis(500)).await.unwrap());
    }
    out
}

async fn assign_seek_poll_and_commit(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("lite_assign");
    let table = create_topic(&admin, &topic, 1).await;
    let queue = table.subscribe_queues()[0].clone();
    let p = producer(namesrv, "lite_assign").await;
    for i in 0..10 {
        p.send_to_queue(Message::new(topic.as_str(), format!("m{i}")), queue.clone())
            .await
            .unwrap();
    }
    let group = unique("cg_lite");
    let c = LitePullConsumer::builder()
        .name_server(namesrv)
        .group(&group)
        .consume_from(ConsumeFrom::First)
        .manual_commit()
        .config(|c| c.pull_suspend = Duration::from_secs(2))
        .build()
        .unwrap();
    c.assign(vec![queue.clone()]).unwrap();
    c.start().await.unwrap();
    let first = poll_until(&c, 10, Duration::from_secs(20)).await;
    assert_eq!(
        bodies(&first),
        (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );

    c.seek(&queue, 7).await.unwrap();
    let again = poll_until(&c, 3, Duration::from_secs(20)).await;
    assert_eq!(
        bodies(&again),
        ["m7", "m8", "m9"],
        "seek moved the next poll"
    );
    c.commit().await.unwrap();

    let end = c.offset_for_timestamp(&queue, i64::MAX / 4).await.unwrap();
    assert!(end <= 10, "{end}");
    c.seek_to_begin(&queue).await.unwrap();
    let from_begin = poll_until(&c, 10, Duration::from_secs(20)).await;
    assert_eq!(from_begin.len(), 10);
    assert_eq!(from_begin[0].queue_offset, 0);
    c.seek_to_end(&queue).await.unwrap();
    assert!(
        c.poll(Duration::from_millis(800)).await.unwrap().is_empty(),
        "nothing after the end"
    );
    c.commit().await.unwrap();
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn assign_seek_poll_and_commit_on_5x() {
    assign_seek_poll_and_commit(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn assign_seek_poll_and_commit_on_4x() {
    assign_seek_poll_and_commit(&ns(BrokerVersion::V4)).await;
}

async fn two_subscribed_members_share_the_topic(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("lite_sub");
    create_topic(&admin, &topic, 4).await;
    let group = unique("cg_lite_sub");
    let member = |name: &str| {
        let c = LitePullConsumer::builder()
            .name_server(namesrv)
            .group(&group)
            .instance_name(name)
            .consume_from(ConsumeFrom::First)
            .config(|c| {
                c.pull_suspend = Duration::from_secs(2);
                c.rebalance_interval = Duration::from_secs(2);
            })
            .build()
            .unwrap();
        c.subscribe(&topic, Selector::all()).unwrap();
        c
    };
    let (a, b) = (member("la"), member("lb"));
    a.start().await.unwrap();
    b.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let p = producer(namesrv, "lite_sub").await;
    for i in 0..100 {
        p.send(Message::new(topic.as_str(), format!("m{i}")))
            .await
            .unwrap();
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while got_a.len() + got_b.len() < 100 && start.elapsed() < Duration::from_secs(30) {
        got_a.extend(a.poll(Duration::from_millis(200)).await.unwrap());
        got_b.extend(b.poll(Duration::from_millis(200)).await.unwrap());
    }
    let qa: BTreeSet<i32> = got_a.iter().map(|m| m.queue_id).collect();
    let qb: BTreeSet<i32> = got_b.iter().map(|m| m.queue_id).collect();
    assert!(
        !qa.is_empty() && !qb.is_empty(),
        "both members pull: {qa:?} {qb:?}"
    );
    assert!(qa.is_disjoint(&qb), "{qa:?} {qb:?}");
    let mut all: Vec<String> = bodies(&got_a);
    all.extend(bodies(&got_b));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 100);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_subscribed_members_share_the_topic_on_5x() {
    two_subscribed_members_share_the_topic(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn two_subscribed_members_share_the_topic_on_4x() {
    two_subscribed_members_share_the_topic(&ns(BrokerVersion::V4)).await;
}
