//! [`rmq::LitePullConsumer`] (the seed's pull consumer) against real 5.x and
//! 4.9.x brokers: assign + seek + poll + commit, subscribe with two members
//! of one group, pause and resume, a manual commit as the broker sees it.

mod producer_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use producer_support::{
    committed_offset, create_topic, poll_until, producer, unique, wait_for_split,
};
use rmq::{Admin, ConsumeFrom, LitePullConsumer, Message, MessageExt, MessageQueue, Selector};
use rmq_tests::{env_cluster, BrokerVersion};

fn ns(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

fn bodies(msgs: &[MessageExt]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect()
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
    // Send once the members own disjoint shares covering the 4 queues.
    wait_for_split(4, async || {
        (a.assignment().await.unwrap(), b.assignment().await.unwrap())
    })
    .await;
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

// ----- pause and resume --------------------------------------------------------

fn of_queue(msgs: &[MessageExt], queue: &MessageQueue) -> Vec<String> {
    let mine: Vec<MessageExt> = msgs
        .iter()
        .filter(|m| m.queue_id == queue.queue_id)
        .cloned()
        .collect();
    let mut b = bodies(&mine);
    b.sort();
    b
}

/// Polls for `period`, whatever comes.
async fn poll_for(c: &LitePullConsumer, period: Duration) -> Vec<MessageExt> {
    let start = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < period {
        out.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

async fn pause_stops_delivery_from_those_queues_and_resume_restarts_it(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("lite_pause");
    let table = create_topic(&admin, &topic, 2).await;
    let (q0, q1) = (
        table.subscribe_queues()[0].clone(),
        table.subscribe_queues()[1].clone(),
    );
    let p = producer(namesrv, "lite_pause").await;
    let send = |round: &'static str| {
        let (p, topic, q0, q1) = (p.clone(), topic.clone(), q0.clone(), q1.clone());
        async move {
            for i in 0..5 {
                for q in [&q0, &q1] {
                    let body = format!("{round}{}-{i}", q.queue_id);
                    p.send_to_queue(Message::new(topic.as_str(), body), q.clone())
                        .await
                        .unwrap();
                }
            }
        }
    };
    let expected = |round: &str, q: &MessageQueue| -> Vec<String> {
        (0..5)
            .map(|i| format!("{round}{}-{i}", q.queue_id))
            .collect()
    };
    let suspend = Duration::from_secs(1);
    let c = LitePullConsumer::builder()
        .name_server(namesrv)
        .group(unique("cg_lite_pause"))
        .consume_from(ConsumeFrom::First)
        .config(|c| c.pull_suspend = suspend)
        .build()
        .unwrap();
    c.assign(vec![q0.clone(), q1.clone()]).unwrap();
    c.start().await.unwrap();
    send("a").await;
    let first = poll_until(&c, 10, Duration::from_secs(20)).await;
    assert_eq!(of_queue(&first, &q0), expected("a", &q0));
    assert_eq!(of_queue(&first, &q1), expected("a", &q1));

    c.pause(std::slice::from_ref(&q0)).unwrap();
    // A long poll of the queue may be held at the broker still (up to
    // its 5 s check interval past the suspend); it answers, as Java's
    // does, with what arrives first: one message ends it.
    p.send_to_queue(Message::new(topic.as_str(), "flush"), q0.clone())
        .await
        .unwrap();
    // Wait for that answer as long as a held pull can take (the suspend,
    // the broker's 5 s hold check, a margin), not a fixed moment.
    let window = suspend + Duration::from_secs(7);
    let start = Instant::now();
    let mut settled = Vec::new();
    while of_queue(&settled, &q0).is_empty() && start.elapsed() < window {
        settled.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    let flushed = of_queue(&settled, &q0) == ["flush"];
    println!("pause: a pull in flight when the queue was paused answered: {flushed}");
    assert!(
        flushed || settled.is_empty(),
        "at most the in-flight pull's message: {:?}",
        bodies(&settled)
    );
    send("b").await;
    let paused = poll_for(&c, Duration::from_secs(3)).await;
    assert_eq!(
        of_queue(&paused, &q1),
        expected("b", &q1),
        "the other queue goes on"
    );
    assert!(
        of_queue(&paused, &q0).is_empty(),
        "nothing from the paused queue: {:?}",
        bodies(&paused)
    );

    c.resume(std::slice::from_ref(&q0)).unwrap();
    let mut rest = expected("b", &q0);
    if !flushed {
        rest.push("flush".to_string());
        rest.sort();
    }
    let resumed = poll_until(&c, rest.len(), Duration::from_secs(20)).await;
    assert_eq!(of_queue(&resumed, &q0), rest, "resumed");
    assert!(of_queue(&resumed, &q1).is_empty(), "{:?}", bodies(&resumed));
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn pause_stops_delivery_from_those_queues_and_resume_restarts_it_on_5x() {
    pause_stops_delivery_from_those_queues_and_resume_restarts_it(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn pause_stops_delivery_from_those_queues_and_resume_restarts_it_on_4x() {
    pause_stops_delivery_from_those_queues_and_resume_restarts_it(&ns(BrokerVersion::V4)).await;
}

// ----- manual commit -------------------------------------------------------------

async fn a_manual_commit_reaches_the_broker_and_nothing_before_it_does(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("lite_commit");
    let table = create_topic(&admin, &topic, 1).await;
    let queue = table.subscribe_queues()[0].clone();
    let p = producer(namesrv, "lite_commit").await;
    for i in 0..10 {
        p.send_to_queue(Message::new(topic.as_str(), format!("m{i}")), queue.clone())
            .await
            .unwrap();
    }
    let group = unique("cg_lite_commit");
    let persist = Duration::from_millis(500);
    let c = LitePullConsumer::builder()
        .name_server(namesrv)
        .group(&group)
        .consume_from(ConsumeFrom::First)
        .manual_commit()
        .config(|c| {
            c.pull_suspend = Duration::from_secs(1);
            c.persist_interval = persist;
        })
        .build()
        .unwrap();
    c.assign(vec![queue.clone()]).unwrap();
    c.start().await.unwrap();
    assert_eq!(poll_until(&c, 10, Duration::from_secs(20)).await.len(), 10);

    // Polled is not committed: several persist intervals go by.
    tokio::time::sleep(persist * 4).await;
    let before = committed_offset(&admin, &table, &group, &queue).await;
    assert!(
        matches!(before, None | Some(0)),
        "nothing committed before commit(): {before:?}"
    );

    let committed_at = Instant::now();
    c.commit().await.unwrap();
    let limit = Duration::from_secs(15);
    let mut after = None;
    while committed_at.elapsed() < limit {
        after = committed_offset(&admin, &table, &group, &queue).await;
        if after == Some(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "manual commit: broker had {before:?} before commit(), {after:?} {:?} after",
        committed_at.elapsed()
    );
    assert_eq!(
        after,
        Some(10),
        "commit() reached the broker within {limit:?}"
    );
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_manual_commit_reaches_the_broker_and_nothing_before_it_does_on_5x() {
    a_manual_commit_reaches_the_broker_and_nothing_before_it_does(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn a_manual_commit_reaches_the_broker_and_nothing_before_it_does_on_4x() {
    a_manual_commit_reaches_the_broker_and_nothing_before_it_does(&ns(BrokerVersion::V4)).await;
}
