//! [`rmq::PushConsumer`] against real 5.x and 4.9.x brokers: the seed's
//! pair, filters, group rebalancing, retries and the DLQ, committed offsets.

mod producer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use producer_support::{create_topic, producer, unique, wait_for_messages, wait_for_split};
use rmq::{
    Admin, ConsumeFrom, ConsumeResult, Message, MessageExt, PushConsumer, PushConsumerBuilder,
    Selector,
};
use rmq_tests::{env_cluster, BrokerVersion};

fn ns(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

/// What a consumer's handler saw: every message, in arrival order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<MessageExt>>>);

impl Seen {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn all(&self) -> Vec<MessageExt> {
        self.0.lock().unwrap().clone()
    }

    fn bodies(&self) -> Vec<String> {
        let msgs = self.all();
        msgs.iter()
            .map(|m| String::from_utf8_lossy(m.body()).into_owned())
            .collect()
    }

    /// Waits until at least `n` messages arrived, or `limit` passed.
    async fn wait_for(&self, n: usize, limit: Duration) -> usize {
        let start = Instant::now();
        while self.len() < n && start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.len()
    }
}

/// A consumer builder with the test's short intervals.
fn builder(namesrv: &str, group: &str) -> PushConsumerBuilder {
    PushConsumer::builder()
        .name_server(namesrv)
        .group(group)
        .consume_from(ConsumeFrom::First)
        .config(|c| {
            c.rebalance_interval = Duration::from_secs(2);
            c.persist_interval = Duration::from_millis(500);
            c.pull_suspend = Duration::from_secs(2);
            c.pull_backoff_on_error = Duration::from_millis(500);
        })
}

/// Starts a consumer of `topic` that records every message and succeeds.
async fn recording(
    b: PushConsumerBuilder,
    topic: &str,
    selector: Selector,
) -> (PushConsumer, Seen) {
    let consumer = b.build().unwrap();
    let seen = Seen::default();
    let log = seen.clone();
    consumer
        .subscribe(topic, selector, move |msgs| {
            let log = log.clone();
            async move {
                log.0.lock().unwrap().extend(msgs);
                ConsumeResult::Success
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    (consumer, seen)
}

// ----- the seed's pair -------------------------------------------------------

async fn the_seeds_three_tagged_messages_are_consumed_once_each(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_seed");
    create_topic(&admin, &topic, 4).await;
    let p = producer(namesrv, "push_seed").await;
    for tag in ["TagA", "TagB", "TagC"] {
        let msg = Message::new(topic.as_str(), "Hello RocketMQ").with_tags(tag);
        p.send(msg).await.unwrap();
    }
    let (consumer, seen) = recording(
        builder(namesrv, &unique("cg_seed")),
        &topic,
        Selector::all(),
    )
    .await;
    assert_eq!(seen.wait_for(3, Duration::from_secs(30)).await, 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = seen.all();
    let tags: BTreeSet<&str> = msgs.iter().filter_map(|m| m.tags()).collect();
    assert_eq!(tags, BTreeSet::from(["TagA", "TagB", "TagC"]));
    assert_eq!(msgs.len(), 3, "each exactly once");
    assert!(msgs
        .iter()
        .all(|m| m.topic() == topic && m.body().as_ref() == b"Hello RocketMQ"));
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_seeds_three_tagged_messages_are_consumed_once_each_on_5x() {
    the_seeds_three_tagged_messages_are_consumed_once_each(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn the_seeds_three_tagged_messages_are_consumed_once_each_on_4x() {
    the_seeds_three_tagged_messages_are_consumed_once_each(&ns(BrokerVersion::V4)).await;
}

// ----- filters ---------------------------------------------------------------

async fn a_tag_expression_delivers_only_its_tags(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_tags");
    create_topic(&admin, &topic, 2).await;
    let p = producer(namesrv, "push_tags").await;
    for (i, tag) in ["TagA", "TagB", "TagC", "TagA", "TagD", "TagB"]
        .iter()
        .enumerate()
    {
        let msg = Message::new(topic.as_str(), format!("m{i}")).with_tags(*tag);
        p.send(msg).await.unwrap();
    }
    let b = builder(namesrv, &unique("cg_tags"));
    let (consumer, seen) = recording(b, &topic, Selector::tag("TagA || TagB")).await;
    assert_eq!(seen.wait_for(4, Duration::from_secs(30)).await, 4);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut bodies = seen.bodies();
    bodies.sort();
    assert_eq!(bodies, ["m0", "m1", "m3", "m5"]);
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_tag_expression_delivers_only_its_tags_on_5x() {
    a_tag_expression_delivers_only_its_tags(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn a_tag_expression_delivers_only_its_tags_on_4x() {
    a_tag_expression_delivers_only_its_tags(&ns(BrokerVersion::V4)).await;
}

async fn an_sql92_expression_filters_by_properties(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_sql");
    create_topic(&admin, &topic, 2).await;
    let p = producer(namesrv, "push_sql").await;
    for i in 0..6 {
        let msg = Message::new(topic.as_str(), format!("m{i}")).with_property("n", i.to_string());
        p.send(msg).await.unwrap();
    }
    let b = builder(namesrv, &unique("cg_sql"));
    let (consumer, seen) = recording(b, &topic, Selector::sql("n >= 3")).await;
    assert_eq!(seen.wait_for(3, Duration::from_secs(30)).await, 3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut bodies = seen.bodies();
    bodies.sort();
    assert_eq!(bodies, ["m3", "m4", "m5"]);
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_sql92_expression_filters_by_properties_on_5x() {
    an_sql92_expression_filters_by_properties(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn an_sql92_expression_filters_by_properties_on_4x() {
    an_sql92_expression_filters_by_properties(&ns(BrokerVersion::V4)).await;
}

// ----- a group ---------------------------------------------------------------

async fn two_consumers_of_one_group_split_the_queues_and_each_message_once(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_group");
    create_topic(&admin, &topic, 8).await;
    let group = unique("cg_group");
    let (c1, seen1) = recording(
        builder(namesrv, &group).instance_name("one"),
        &topic,
        Selector::all(),
    )
    .await;
    let (c2, seen2) = recording(
        builder(namesrv, &group).instance_name("two"),
        &topic,
        Selector::all(),
    )
    .await;
    // Let both join and the rebalance settle before sending: every queue
    // owned, by one member only.
    let both = async || {
        (
            c1.assigned_queues().await.unwrap(),
            c2.assigned_queues().await.unwrap(),
        )
    };
    wait_for_split(8, both).await;
    let p = producer(namesrv, "push_group").await;
    for i in 0..200 {
        p.send(Message::new(topic.as_str(), format!("m{i}")))
            .await
            .unwrap();
    }
    let start = Instant::now();
    while seen1.len() + seen2.len() < 200 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let queues = |s: &Seen| -> BTreeSet<i32> { s.all().iter().map(|m| m.queue_id).collect() };
    let (q1, q2) = (queues(&seen1), queues(&seen2));
    assert!(q1.is_disjoint(&q2), "a queue has one owner: {q1:?} {q2:?}");
    assert_eq!(q1.len() + q2.len(), 8, "{q1:?} {q2:?}");
    let mut bodies = seen1.bodies();
    bodies.extend(seen2.bodies());
    let counts: BTreeMap<String, usize> = bodies.iter().fold(BTreeMap::new(), |mut m, b| {
        *m.entry(b.clone()).or_default() += 1;
        m
    });
    assert_eq!(counts.len(), 200, "every message consumed");
    assert!(
        counts.values().all(|&n| n == 1),
        "in steady state, each once"
    );
    c1.shutdown().await.unwrap();
    c2.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_consumers_of_one_group_split_the_queues_and_each_message_once_on_5x() {
    two_consumers_of_one_group_split_the_queues_and_each_message_once(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn two_consumers_of_one_group_split_the_queues_and_each_message_once_on_4x() {
    two_consumers_of_one_group_split_the_queues_and_each_message_once(&ns(BrokerVersion::V4)).await;
}

// ----- offsets -----------------------------------------------------------------

async fn a_restarted_group_resumes_from_its_committed_offset(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_resume");
    create_topic(&admin, &topic, 2).await;
    let group = unique("cg_resume");
    let p = producer(namesrv, "push_resume").await;
    for i in 0..10 {
        p.send(Message::new(topic.as_str(), format!("first{i}")))
            .await
            .unwrap();
    }
    let (c1, seen1) = recording(builder(namesrv, &group), &topic, Selector::all()).await;
    assert_eq!(seen1.wait_for(10, Duration::from_secs(30)).await, 10);
    c1.shutdown().await.unwrap(); // commits
    for i in 0..10 {
        p.send(Message::new(topic.as_str(), format!("second{i}")))
            .await
            .unwrap();
    }
    let b = builder(namesrv, &group).consume_from(ConsumeFrom::Last);
    let (c2, seen2) = recording(b, &topic, Selector::all()).await;
    assert_eq!(seen2.wait_for(10, Duration::from_secs(30)).await, 10);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bodies = seen2.bodies();
    assert_eq!(bodies.len(), 10, "{bodies:?}");
    assert!(bodies.iter().all(|b| b.starts_with("second")), "{bodies:?}");
    c2.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_restarted_group_resumes_from_its_committed_offset_on_5x() {
    a_restarted_group_resumes_from_its_committed_offset(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn a_restarted_group_resumes_from_its_committed_offset_on_4x() {
    a_restarted_group_resumes_from_its_committed_offset(&ns(BrokerVersion::V4)).await;
}

// ----- retries -----------------------------------------------------------------

async fn retry_later_redelivers_with_the_original_topic_then_goes_to_the_dlq(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_retry");
    create_topic(&admin, &topic, 1).await;
    let group = unique("cg_retry");
    let p = producer(namesrv, "push_retry").await;
    p.send(Message::new(topic.as_str(), "fail me").with_tags("T"))
        .await
        .unwrap();
    let consumer = builder(namesrv, &group)
        .max_reconsume_times(2)
        .build()
        .unwrap();
    let seen = Seen::default();
    let log = seen.clone();
    consumer
        .subscribe(&topic, Selector::all(), move |msgs| {
            let log = log.clone();
            async move {
                log.0.lock().unwrap().extend(msgs);
                // Delay level 1 (1 s) keeps the test short.
                ConsumeResult::RetryLater {
                    acked: 0,
                    delay_level: 1,
                }
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    // First delivery and two redeliveries; then the broker moves it to the
    // DLQ. At least once: a send-back the broker took but answered after
    // the client's 5 s is followed by a second copy, of the same count.
    let start = Instant::now();
    while !seen.all().iter().any(|m| m.reconsume_times == 2)
        && start.elapsed() < Duration::from_secs(40)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let msgs = seen.all();
    let mut times: Vec<i32> = msgs.iter().map(|m| m.reconsume_times).collect();
    times.dedup();
    assert_eq!(times, [0, 1, 2]);
    assert!(
        msgs.iter().all(|m| m.topic() == topic),
        "retries carry the original topic"
    );
    assert!(msgs
        .iter()
        .all(|m| m.body().as_ref() == b"fail me" && m.tags() == Some("T")));
    let dlq = format!("%DLQ%{group}");
    let dead = wait_for_messages(&admin, &dlq, 1, Duration::from_secs(20)).await;
    assert!(!dead.is_empty(), "the message reached {dlq}");
    assert!(dead.iter().all(|m| m.body().as_ref() == b"fail me"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        seen.all().iter().all(|m| m.reconsume_times <= 2),
        "no delivery after the DLQ"
    );
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn retry_later_redelivers_with_the_original_topic_then_goes_to_the_dlq_on_5x() {
    retry_later_redelivers_with_the_original_topic_then_goes_to_the_dlq(&ns(BrokerVersion::V5))
        .await;
}

#[tokio::test]
async fn retry_later_redelivers_with_the_original_topic_then_goes_to_the_dlq_on_4x() {
    retry_later_redelivers_with_the_original_topic_then_goes_to_the_dlq(&ns(BrokerVersion::V4))
        .await;
}

// ----- broadcasting --------------------------------------------------------------

async fn broadcasting_consumers_each_get_every_message_and_resume_from_their_file(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_bcast");
    create_topic(&admin, &topic, 4).await;
    let group = unique("cg_bcast");
    let dir = std::env::temp_dir().join(unique("rmq_offsets"));
    let b = |instance: &str| {
        builder(namesrv, &group)
            .model(rmq::MessageModel::Broadcasting)
            .instance_name(instance)
            .offset_store_dir(&dir)
    };
    let (c1, seen1) = recording(b("b1"), &topic, Selector::all()).await;
    let (c2, seen2) = recording(b("b2"), &topic, Selector::all()).await;
    let p = producer(namesrv, "push_bcast").await;
    for i in 0..20 {
        p.send(Message::new(topic.as_str(), format!("m{i}")))
            .await
            .unwrap();
    }
    assert_eq!(seen1.wait_for(20, Duration::from_secs(30)).await, 20);
    assert_eq!(seen2.wait_for(20, Duration::from_secs(30)).await, 20);
    c1.shutdown().await.unwrap();
    c2.shutdown().await.unwrap();
    for i in 0..5 {
        p.send(Message::new(topic.as_str(), format!("late{i}")))
            .await
            .unwrap();
    }
    // From the start unless the file says otherwise: it does.
    let (c1, again) = recording(b("b1"), &topic, Selector::all()).await;
    assert_eq!(again.wait_for(5, Duration::from_secs(30)).await, 5);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bodies = again.bodies();
    assert!(
        bodies.iter().all(|b| b.starts_with("late")),
        "resumed from the file: {bodies:?}"
    );
    assert_eq!(bodies.len(), 5);
    c1.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn broadcasting_consumers_each_get_every_message_and_resume_from_their_file_on_5x() {
    broadcasting_consumers_each_get_every_message_and_resume_from_their_file(&ns(
        BrokerVersion::V5,
    ))
    .await;
}

#[tokio::test]
async fn broadcasting_consumers_each_get_every_message_and_resume_from_their_file_on_4x() {
    broadcasting_consumers_each_get_every_message_and_resume_from_their_file(&ns(
        BrokerVersion::V4,
    ))
    .await;
}

// ----- orderly -------------------------------------------------------------------

async fn orderly_consumption_keeps_each_keys_order_across_a_rebalance(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_orderly");
    create_topic(&admin, &topic, 4).await;
    let group = unique("cg_orderly");
    let start_orderly = |instance: &'static str| {
        let b = builder(namesrv, &group)
            .instance_name(instance)
            .batch_size(3);
        let consumer = b.build().unwrap();
        let seen = Seen::default();
        let log = seen.clone();
        consumer
            .subscribe_orderly(&topic, Selector::all(), move |msgs| {
                let log = log.clone();
                async move {
                    // Slow enough that a rebalance lands mid-stream.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    log.0.lock().unwrap().extend(msgs);
                    ConsumeResult::Success
                }
            })
            .unwrap();
        (consumer, seen)
    };
    let (c1, seen1) = start_orderly("o1");
    c1.start().await.unwrap();
    let p = producer(namesrv, "push_orderly").await;
    let keys = ["k0", "k1", "k2", "k3", "k4", "k5"];
    for i in 0..50 {
        for k in keys {
            let msg = Message::new(topic.as_str(), format!("{k}:{i}"));
            p.send_ordered(msg, k).await.unwrap();
        }
    }
    let (c2, seen2) = start_orderly("o2");
    // The group rebalances while the first consumes; the second half goes
    // out once the second member owns its share.
    c2.start().await.unwrap();
    let both = async || {
        (
            c1.assigned_queues().await.unwrap(),
            c2.assigned_queues().await.unwrap(),
        )
    };
    let t_split = Instant::now();
    wait_for_split(4, both).await;
    eprintln!("orderly {namesrv}: split in {:?}", t_split.elapsed());
    for i in 50..100 {
        for k in keys {
            let msg = Message::new(topic.as_str(), format!("{k}:{i}"));
            p.send_ordered(msg, k).await.unwrap();
        }
    }
    let start = Instant::now();
    let distinct = |s1: &Seen, s2: &Seen| -> usize {
        let mut all: BTreeSet<String> = s1.bodies().into_iter().collect();
        all.extend(s2.bodies());
        all.len()
    };
    // Seconds, not the broker's 60 s lock expiry: a member that dropped a
    // queue must not leave it locked (unlocked again after a lock in flight).
    while distinct(&seen1, &seen2) < 600 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "orderly {namesrv}: {} consumed in {:?} after the split",
        distinct(&seen1, &seen2),
        start.elapsed()
    );
    assert_eq!(distinct(&seen1, &seen2), 600, "every message consumed");
    assert!(
        seen1.len() > 0 && seen2.len() > 0,
        "both members consumed: the group rebalanced"
    );
    for (name, seen) in [("o1", &seen1), ("o2", &seen2)] {
        for k in keys {
            let seq: Vec<u32> = seen
                .bodies()
                .iter()
                .filter_map(|b| b.strip_prefix(&format!("{k}:"))?.parse().ok())
                .collect();
            // Within one consumer a key's messages come in send order; after
            // a queue moves, its new owner may replay from the committed
            // offset, never out of order within a run.
            let runs_ok = seq.windows(2).all(|w| w[1] == w[0] + 1 || w[1] <= w[0]);
            let restarts = seq.windows(2).filter(|w| w[1] <= w[0]).count();
            assert!(runs_ok && restarts <= 1, "{name} {k}: {seq:?}");
        }
    }
    c1.shutdown().await.unwrap();
    c2.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn orderly_consumption_keeps_each_keys_order_across_a_rebalance_on_5x() {
    orderly_consumption_keeps_each_keys_order_across_a_rebalance(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn orderly_consumption_keeps_each_keys_order_across_a_rebalance_on_4x() {
    orderly_consumption_keeps_each_keys_order_across_a_rebalance(&ns(BrokerVersion::V4)).await;
}

// ----- where to start, and backtracking --------------------------------------------

async fn a_new_timestamp_group_on_a_young_queue_reads_from_the_start_as_java_does(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_ts");
    create_topic(&admin, &topic, 2).await;
    let p = producer(namesrv, "push_ts").await;
    for i in 0..5 {
        p.send(Message::new(topic.as_str(), format!("old{i}")))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cut = producer_support::now_ms();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..5 {
        p.send(Message::new(topic.as_str(), format!("new{i}")))
            .await
            .unwrap();
    }
    // The broker answers a new group's QUERY_CONSUMER_OFFSET on a queue
    // whose first message is still in memory with 0 and SUCCESS, not
    // QUERY_NOT_FOUND, so the consume-from rule (and its timestamp search)
    // never runs: Java's consumer reads from the start here too.
    let b = builder(namesrv, &unique("cg_ts")).consume_from(ConsumeFrom::Timestamp(cut));
    let (c, seen) = recording(b, &topic, Selector::all()).await;
    assert_eq!(seen.wait_for(10, Duration::from_secs(30)).await, 10);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bodies = seen.bodies();
    assert_eq!(bodies.len(), 10, "{bodies:?}");
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_new_timestamp_group_on_a_young_queue_reads_from_the_start_as_java_does_on_5x() {
    a_new_timestamp_group_on_a_young_queue_reads_from_the_start_as_java_does(&ns(
        BrokerVersion::V5,
    ))
    .await;
}

#[tokio::test]
async fn a_new_timestamp_group_on_a_young_queue_reads_from_the_start_as_java_does_on_4x() {
    a_new_timestamp_group_on_a_young_queue_reads_from_the_start_as_java_does(&ns(
        BrokerVersion::V4,
    ))
    .await;
}

/// Java `RequestCode.INVOKE_BROKER_TO_RESET_OFFSET`: the admin asks the
/// broker to reset a group's offsets to a time; the broker tells every
/// live consumer of the group (RESET_CONSUMER_CLIENT_OFFSET).
const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;

async fn a_reset_offset_moves_a_running_consumer_back(namesrv: &str) {
    use rmq::rmq_core::protocol::headers::ResetOffsetRequestHeader;
    use rmq::rmq_core::protocol::{response_code, RemotingCommand};
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_reset");
    let table = create_topic(&admin, &topic, 2).await;
    let group = unique("cg_reset");
    let before = producer_support::now_ms() - 1000;
    let p = producer(namesrv, "push_reset").await;
    for i in 0..10 {
        p.send(Message::new(topic.as_str(), format!("m{i}")))
            .await
            .unwrap();
    }
    let (c, seen) = recording(builder(namesrv, &group), &topic, Selector::all()).await;
    assert_eq!(seen.wait_for(10, Duration::from_secs(30)).await, 10);
    // The broker resets only a group with a committed offset on every
    // queue (4.9 answers "consumer group not exist" otherwise, and reports
    // 0 for a queue never committed): wait until all ten are committed.
    let start = Instant::now();
    loop {
        let mut committed = 0;
        for q in table.subscribe_queues() {
            committed += producer_support::committed_offset(&admin, &table, &group, q)
                .await
                .unwrap_or(0);
        }
        if committed == 10 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the group committed {committed} of 10"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let broker = table.broker_names().next().unwrap().to_string();
    let addr = table.master_addr(&broker).unwrap().to_string();
    let header = ResetOffsetRequestHeader {
        group: group.clone(),
        topic: topic.clone(),
        queue_id: Some(-1),
        offset: None,
        timestamp: before,
        is_force: true,
        ..Default::default()
    };
    let cmd = RemotingCommand::request(INVOKE_BROKER_TO_RESET_OFFSET, 0).with_header(&header);
    let resp = admin
        .request(Some(&addr), cmd, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
    assert_eq!(
        seen.wait_for(20, Duration::from_secs(30)).await,
        20,
        "all ten again"
    );
    let mut again = seen.bodies()[10..].to_vec();
    again.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(again, expected);
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reset_offset_moves_a_running_consumer_back_on_5x() {
    a_reset_offset_moves_a_running_consumer_back(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn a_reset_offset_moves_a_running_consumer_back_on_4x() {
    a_reset_offset_moves_a_running_consumer_back(&ns(BrokerVersion::V4)).await;
}

// ----- members joining and leaving --------------------------------------------------

async fn members_joining_and_leaving_lose_no_message(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_churn");
    create_topic(&admin, &topic, 8).await;
    let group = unique("cg_churn");
    let (c1, s1) = recording(
        builder(namesrv, &group).instance_name("m1"),
        &topic,
        Selector::all(),
    )
    .await;
    let (c2, s2) = recording(
        builder(namesrv, &group).instance_name("m2"),
        &topic,
        Selector::all(),
    )
    .await;
    let p = producer(namesrv, "push_churn").await;
    let total = 20_000;
    let sender = {
        let p = p.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            for i in 0..total {
                batch.push(Message::new(topic.as_str(), format!("m{i}")));
                if batch.len() == 50 {
                    p.send_batch(std::mem::take(&mut batch)).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c3, s3) = recording(
        builder(namesrv, &group).instance_name("m3"),
        &topic,
        Selector::all(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c1.shutdown().await.unwrap(); // leaves mid-stream, committing what it did
    sender.await.unwrap();
    let start = Instant::now();
    let distinct = || -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for s in [&s1, &s2, &s3] {
            for b in s.bodies() {
                *counts.entry(b).or_insert(0) += 1;
            }
        }
        counts
    };
    while distinct().len() < total && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let counts = distinct();
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    println!("members joining and leaving: {} distinct of {total}, {duplicates} duplicates (around the rebalances)", counts.len());
    assert_eq!(counts.len(), total, "no message lost");
    assert!(s3.len() > 0, "the member that joined consumed");
    c2.shutdown().await.unwrap();
    c3.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn members_joining_and_leaving_lose_no_message_on_5x() {
    members_joining_and_leaving_lose_no_message(&ns(BrokerVersion::V5)).await;
}

#[tokio::test]
async fn members_joining_and_leaving_lose_no_message_on_4x() {
    members_joining_and_leaving_lose_no_message(&ns(BrokerVersion::V4)).await;
}

// ----- a panicking handler ------------------------------------------------------------

async fn a_handler_that_panics_counts_as_retry_later_and_the_message_comes_again(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("push_panic");
    create_topic(&admin, &topic, 1).await;
    let group = unique("cg_panic");
    let p = producer(namesrv, "push_panic").await;
    p.send(Message::new(topic.as_str(), "panic once").with_tags("P"))
        .await
        .unwrap();
    let consumer = builder(namesrv, &group).build().unwrap();
    let seen = Seen::default();
    let log = seen.clone();
    consumer
        .subscribe(&topic, Selector::all(), move |msgs| {
            let log = log.clone();
            async move {
                let first = msgs
                    .iter()
                    .any(|m| m.reconsume_times == 0 && m.body().as_ref() == b"panic once");
                log.0.lock().unwrap().extend(msgs);
                if first {
                    panic!("this handler panics on a first delivery (on purpose)");
                }
                ConsumeResult::Success
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    // RETRY's delay is the broker's: level 3 + reconsume times, 10 s.
    assert_eq!(seen.wait_for(2, Duration::from_secs(40)).await, 2);
    let msgs = seen.all();
    let times: Vec<i32> = msgs.iter().map(|m| m.reconsume_times).collect();
    assert_eq!(times, [0, 1], "delivered again after the panic");
    assert!(msgs.iter().all(|m| m.topic() == topic
        && m.body().as_ref() == b"panic once"
        && m.tags() == Some("P")));
    assert_eq!(msgs[0].id(), msgs[1].id(), "the same message");

    // The consumer survived the panic: a later message is consumed once.
    p.send(Message::new(topic.as_str(), "after")).await.unwrap();
    assert_eq!(seen.wait_for(3, Duration::from_secs(30)).await, 3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(seen.bodies(), ["panic once", "panic once", "after"]);
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_handler_that_panics_counts_as_retry_later_and_the_message_comes_again_on_5x() {
    a_handler_that_panics_counts_as_retry_later_and_the_message_comes_again(&ns(BrokerVersion::V5))
        .await;
}

#[tokio::test]
async fn a_handler_that_panics_counts_as_retry_later_and_the_message_comes_again_on_4x() {
    a_handler_that_panics_counts_as_retry_later_and_the_message_comes_again(&ns(BrokerVersion::V4))
        .await;
}
