//! What the real brokers do with consumer offsets, the facts the push
//! consumer's commit policy rests on.
//!
//! A broker's offset table is not safe for the first commits of a new
//! group: 4.9's `ConsumerOffsetManager.commitOffset` looks up the group's
//! map and, finding none, puts a new one — unsynchronized, so two first
//! commits (say queue 0 and queue 1, handled on two broker threads) can each
//! put a map and one of them is lost although both were answered SUCCESS.
//! 5.5.0 lost first commits the same way in one run here. rmq
//! therefore re-sends every owned queue's offset each persist interval, as
//! Java's `persistAll` does, and sends a queue's last commit twice.

mod producer_support;

use std::time::Duration;

use producer_support::{create_topic, unique};
use rmq::rmq_core::protocol::headers::{
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq::Admin;
use rmq_tests::{env_cluster, BrokerVersion};

const QUEUES: i32 = 4;
const GROUPS: usize = 150;

async fn commit(admin: &Admin, addr: &str, group: &str, topic: &str, queue: i32, offset: i64) {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: topic.to_string(),
        queue_id: queue,
        commit_offset: offset,
        ..Default::default()
    };
    let cmd =
        RemotingCommand::request(request_code::UPDATE_CONSUMER_OFFSET, 0).with_header(&header);
    let resp = admin
        .request(Some(addr), cmd, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
}

/// Java `RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP`.
const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;

/// Creates `group` on the broker, as a consumer's first heartbeat does: a
/// 5.x broker refuses offsets of a group it does not know
/// (SUBSCRIPTION_GROUP_NOT_EXIST), where 4.9 stores them.
async fn create_group(admin: &Admin, addr: &str, group: &str) {
    let mut cmd = RemotingCommand::request(UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0);
    cmd.body = format!("{{\"groupName\":\"{group}\"}}").into_bytes().into();
    let resp = admin
        .request(Some(addr), cmd, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(resp.code, response_code::SUCCESS, "{resp:?}");
}

/// The stored offset, or `None` when the broker has none for the queue.
async fn stored(admin: &Admin, addr: &str, group: &str, topic: &str, queue: i32) -> Option<i64> {
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: topic.to_string(),
        queue_id: queue,
        set_zero_if_not_found: Some(false),
        ..Default::default()
    };
    let cmd = RemotingCommand::request(request_code::QUERY_CONSUMER_OFFSET, 0).with_header(&header);
    let resp = admin
        .request(Some(addr), cmd, Duration::from_secs(10))
        .await
        .unwrap();
    (resp.code == response_code::SUCCESS).then(|| {
        resp.header::<QueryConsumerOffsetResponseHeader>()
            .unwrap()
            .offset
    })
}

/// For `GROUPS` new groups, commits `QUEUES` offsets at once (every request
/// in flight together) and counts the commits the broker answered SUCCESS
/// but did not keep; then commits everything a second time (what rmq's
/// repeat does) and counts again.
async fn first_commits_of_new_groups(namesrv: &str) -> (usize, usize) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("offsets_race");
    let table = create_topic(&admin, &topic, QUEUES).await;
    let broker = table.broker_names().next().unwrap().to_string();
    let addr = table.master_addr(&broker).unwrap().to_string();
    let groups: Vec<String> = (0..GROUPS).map(|_| unique("cg_race")).collect();
    for g in &groups {
        create_group(&admin, &addr, g).await;
    }
    let offset = |round: i64, q: i32| 10 * round + i64::from(q) + 1;
    let mut lost = [0; 2];
    for round in 1..=2 {
        let mut tasks = tokio::task::JoinSet::new();
        for g in &groups {
            for q in 0..QUEUES {
                let (admin, addr, topic, g) =
                    (admin.clone(), addr.clone(), topic.clone(), g.clone());
                tasks.spawn(async move {
                    commit(&admin, &addr, &g, &topic, q, offset(round, q)).await;
                });
            }
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        for g in &groups {
            for q in 0..QUEUES {
                if stored(&admin, &addr, g, &topic, q).await != Some(offset(round, q)) {
                    lost[round as usize - 1] += 1;
                }
            }
        }
    }
    println!(
        "{GROUPS} new groups x {QUEUES} queues committed at once: {} commits lost; \
         after committing again: {} lost",
        lost[0], lost[1]
    );
    (lost[0], lost[1])
}

#[tokio::test]
async fn a_repeated_commit_is_always_kept_on_5x() {
    // 5.5.0 lost first commits too in one run here (2 of 600, on a fresh
    // broker); the race is timing-dependent, so only the repair is asserted.
    let (_, second) = first_commits_of_new_groups(&env_cluster(BrokerVersion::V5).unwrap()).await;
    assert_eq!(second, 0, "the second commit finds the group's map");
}

#[tokio::test]
async fn a_repeated_commit_is_always_kept_on_4x() {
    // The first round may lose a commit or two (1 or 2 of 600 in runs
    // here); the race is timing-dependent, so only the repair is asserted.
    let (_, second) = first_commits_of_new_groups(&env_cluster(BrokerVersion::V4).unwrap()).await;
    assert_eq!(second, 0, "the second commit finds the group's map");
}
