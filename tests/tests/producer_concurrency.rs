//! Many concurrent sends through clones of one [`rmq::Producer`]: each is
//! acknowledged and stored exactly once.

mod producer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use producer_support::{create_topic, producer, read_queue, unique, wait_for_messages};
use rmq::{Admin, Message, SendStatus};
use rmq_tests::{env_cluster, BrokerVersion};

const TASKS: usize = 16;
const TOTAL: usize = 10_000;

async fn ten_thousand_sends_from_sixteen_tasks_are_each_stored_once(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("conc_10k");
    let table = create_topic(&admin, &topic, 8).await;
    let p = producer(namesrv, "conc_10k").await;

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let p = p.clone();
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in (t..TOTAL).step_by(TASKS) {
                let r = p
                    .send(Message::new(topic.as_str(), format!("m-{i:05}")))
                    .await
                    .unwrap_or_else(|e| panic!("send {i} failed: {e}"));
                assert_eq!(r.status, SendStatus::Ok);
                acked.push((r.msg_id, i));
            }
            acked
        }));
    }
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for (id, i) in task.await.unwrap() {
            assert!(sent.insert(id, i).is_none(), "unique ids are unique");
        }
    }
    assert_eq!(sent.len(), TOTAL, "every send acknowledged");

    // Brokers index a message for pulls shortly after acknowledging it.
    let all = wait_for_messages(&admin, &topic, TOTAL, Duration::from_secs(10)).await;
    assert_eq!(all.len(), TOTAL);
    drop(all);
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let mut bodies = BTreeSet::new();
    let mut queues_used = 0;
    for q in table.subscribe_queues() {
        let msgs = read_queue(&admin, q).await;
        queues_used += usize::from(!msgs.is_empty());
        for m in msgs {
            let body = String::from_utf8(m.body().to_vec()).unwrap();
            let id = m.unique_key().unwrap().to_string();
            assert!(bodies.insert(body.clone()), "{body} stored twice");
            assert!(stored.insert(id, 0).is_none(), "{body}: id stored twice");
            let i: usize = body.trim_start_matches("m-").parse().unwrap();
            assert_eq!(sent.get(m.unique_key().unwrap()), Some(&i), "{body}");
        }
    }
    assert_eq!(stored.len(), TOTAL, "every message stored exactly once");
    assert_eq!(queues_used, 8, "round robin used every queue");
    tokio::time::timeout(Duration::from_secs(10), p.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sends_from_sixteen_tasks_are_each_stored_once_on_5x() {
    ten_thousand_sends_from_sixteen_tasks_are_each_stored_once(
        &env_cluster(BrokerVersion::V5).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sends_from_sixteen_tasks_are_each_stored_once_on_4x() {
    ten_thousand_sends_from_sixteen_tasks_are_each_stored_once(
        &env_cluster(BrokerVersion::V4).unwrap(),
    )
    .await;
}
