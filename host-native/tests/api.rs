//! The `rmq` API contract that needs no broker.

use std::time::{Duration, Instant};

use rmq::{Error, Message, Producer};

fn assert_shareable<T: Clone + Send + Sync + 'static>() {}

#[test]
fn producer_is_clone_send_and_sync() {
    assert_shareable::<Producer>();
    assert_shareable::<rmq::Admin>();
}

#[test]
fn a_producer_without_name_server_is_a_config_error() {
    std::env::remove_var("NAMESRV_ADDR");
    let err = Producer::builder().group("g").build().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[test]
fn an_invalid_group_is_a_config_error() {
    let err = Producer::builder()
        .name_server("127.0.0.1:1")
        .group("bad group!")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test]
async fn sending_before_start_is_not_started() {
    let p = Producer::builder()
        .name_server("127.0.0.1:1")
        .group("g")
        .build()
        .unwrap();
    let err = p.send(Message::new("t", "x")).await.unwrap_err();
    assert_eq!(err, Error::NotStarted);
}

#[tokio::test]
async fn sending_after_shutdown_is_shut_down() {
    let p = Producer::builder()
        .name_server("127.0.0.1:1")
        .group("g")
        .build()
        .unwrap();
    p.start().await.unwrap();
    p.shutdown().await.unwrap();
    let err = p.send(Message::new("t", "x")).await.unwrap_err();
    assert_eq!(err, Error::ShutDown);
}

#[tokio::test]
async fn an_invalid_topic_is_rejected_without_any_io() {
    // 127.0.0.1:1 refuses connections: a send that needed I/O would fail
    // with NoRoute/Connection instead.
    let p = Producer::builder()
        .name_server("127.0.0.1:1")
        .group("g")
        .build()
        .unwrap();
    p.start().await.unwrap();
    let err = p.send(Message::new("bad topic", "x")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_name_server_fails_fast_with_a_typed_error() {
    let p = Producer::builder()
        .name_server("127.0.0.1:1")
        .group("g")
        .send_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    p.start().await.unwrap();
    let started = Instant::now();
    let err = p.send(Message::new("t", "x")).await.unwrap_err();
    assert!(matches!(err, Error::NoRoute { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(4));
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn name_servers_may_be_host_names() {
    // "localhost" resolves; port 1 refuses: the error names the address,
    // proving the host name was accepted and dialled.
    let p = Producer::builder()
        .name_server("localhost:1")
        .group("g")
        .build()
        .unwrap();
    p.start().await.unwrap();
    let err = p.send(Message::new("t", "x")).await.unwrap_err();
    assert!(err.to_string().contains("localhost:1"), "{err}");
    p.shutdown().await.unwrap();
}
