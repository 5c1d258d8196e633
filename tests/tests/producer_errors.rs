//! How [`rmq::Producer`] fails: bad input is refused before any I/O, an
//! unreachable name server is a typed error within the send timeout, and a
//! dead name-server address next to a live one is skipped.

mod producer_support;

use std::time::{Duration, Instant};

use producer_support::{create_topic, unique, wait_for_messages};
use rmq::{Admin, Error, Message, Producer, SendStatus};
use rmq_tests::{env_cluster, BrokerVersion};

/// Nothing listens on port 1 of the loopback address: connections are refused.
const REFUSING: &str = "127.0.0.1:1";

async fn started(namesrv: &str, timeout: Duration) -> Producer {
    let p = Producer::builder()
        .name_server(namesrv)
        .group(unique("pg_errors"))
        .send_timeout(timeout)
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

/// Asserts `result` is `InvalidMessage` and came back without waiting on
/// the (unreachable) network.
fn assert_refused_at_once<T: std::fmt::Debug>(result: Result<T, Error>, took: Duration) {
    assert!(
        matches!(result, Err(Error::InvalidMessage(_))),
        "expected InvalidMessage, got {result:?}"
    );
    assert!(took < Duration::from_millis(500), "took {took:?}");
}

#[tokio::test]
async fn an_invalid_topic_is_refused_before_any_io() {
    let p = started(REFUSING, Duration::from_secs(3)).await;
    let start = Instant::now();
    let r = p.send(Message::new("bad topic!", "x")).await;
    assert_refused_at_once(r, start.elapsed());
}

#[tokio::test]
async fn a_five_mib_body_is_refused_before_any_io() {
    let p = started(REFUSING, Duration::from_secs(3)).await;
    let start = Instant::now();
    let r = p
        .send(Message::new("big_body", vec![b'x'; 5 * 1024 * 1024]))
        .await;
    assert_refused_at_once(r, start.elapsed());
}

#[tokio::test]
async fn an_empty_batch_is_refused_before_any_io() {
    let p = started(REFUSING, Duration::from_secs(3)).await;
    let start = Instant::now();
    let r = p.send_batch(Vec::new()).await;
    assert_refused_at_once(r, start.elapsed());
}

#[tokio::test]
async fn a_mixed_topic_batch_is_refused_before_any_io() {
    let p = started(REFUSING, Duration::from_secs(3)).await;
    let start = Instant::now();
    let r = p
        .send_batch(vec![
            Message::new("topic_a", "1"),
            Message::new("topic_b", "2"),
        ])
        .await;
    assert_refused_at_once(r, start.elapsed());
}

#[tokio::test]
async fn a_refusing_name_server_is_a_typed_error_within_the_timeout() {
    let timeout = Duration::from_secs(2);
    let p = started(REFUSING, timeout).await;
    let start = Instant::now();
    let r = p.send(Message::new("nowhere", "x")).await;
    let took = start.elapsed();
    assert!(
        matches!(r, Err(Error::NoRoute { .. } | Error::Connection { .. })),
        "{r:?}"
    );
    assert!(took <= timeout + Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn a_silent_name_server_is_a_typed_error_within_the_timeout() {
    // A non-routable address: the connection neither opens nor is refused
    // (or fails at once where the sandbox has no route at all).
    let timeout = Duration::from_secs(2);
    let p = started("10.255.255.1:9876", timeout).await;
    let start = Instant::now();
    let r = p.send(Message::new("nowhere", "x")).await;
    let took = start.elapsed();
    assert!(
        matches!(
            r,
            Err(Error::Timeout { .. } | Error::NoRoute { .. } | Error::Connection { .. })
        ),
        "{r:?}"
    );
    assert!(took <= timeout + Duration::from_secs(1), "took {took:?}");
}

async fn a_dead_name_server_in_the_list_is_skipped(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("errors_dead_ns");
    create_topic(&admin, &topic, 4).await;
    // The starting name server is chosen at random: several producers make
    // it near certain that some start on a dead one.
    let list = format!("{REFUSING};127.0.0.1:2;{namesrv}");
    for i in 0..6 {
        let p = started(&list, Duration::from_secs(3)).await;
        let start = Instant::now();
        let r = p
            .send(Message::new(topic.as_str(), format!("via-{i}")))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::Ok);
        assert!(start.elapsed() < Duration::from_secs(3));
        p.shutdown().await.unwrap();
    }
    let stored = wait_for_messages(&admin, &topic, 6, Duration::from_secs(5)).await;
    assert_eq!(stored.len(), 6);
}

#[tokio::test]
async fn a_dead_name_server_in_the_list_is_skipped_on_5x() {
    a_dead_name_server_in_the_list_is_skipped(&env_cluster(BrokerVersion::V5).unwrap()).await;
}

#[tokio::test]
async fn a_dead_name_server_in_the_list_is_skipped_on_4x() {
    a_dead_name_server_in_the_list_is_skipped(&env_cluster(BrokerVersion::V4).unwrap()).await;
}
