//! Retries of pipelined sends against real brokers: many sends awaited
//! together from ONE task retry like a single synchronous send (Java's
//! `retryTimesWhenSendFailed`, another broker on each retry) — unlike the
//! seed's Go client, whose async sends never retry.
//!
//! How the first broker refuses: a private 5.5.0 or 4.9.7 cluster of two
//! masters (broker-a, broker-b) serves the topic; two producers learn its
//! route, then broker-b is stopped. Their routes still name broker-b (until
//! a refresh), so about half of a burst's first attempts go to a broker
//! that is gone. (Removing the topic's write permission on one broker does
//! not work for this: brokers do not check topic permission on send, only
//! the name server's route drops the broker.) A burst of pipelined sends
//! without retries shows the refusals; the same burst with the default 2
//! retries is stored whole, on broker-a. The tests of this file run one at
//! a time.

mod producer_support;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use producer_support::{create_topic_on_each, two_broker_cluster, unique};
use rmq::{Admin, Message, Producer, SendResult};
use rmq_tests::BrokerVersion;
use tokio::sync::Mutex;

/// One private cluster at a time: the machine also runs the shared ones.
static SERIAL: Mutex<()> = Mutex::const_new(());

const BROKER_A: &str = "broker-a";
const BROKER_B: &str = "broker-b";
/// Sends awaited together.
const BURST: usize = 64;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

type SendFuture = Pin<Box<dyn Future<Output = Result<SendResult, rmq::Error>> + Send>>;

/// Polls every future from the calling task until all are ready (no
/// spawned tasks): the sends are in flight together.
async fn join_all(mut futures: Vec<SendFuture>) -> Vec<Result<SendResult, rmq::Error>> {
    let mut out: Vec<Option<Result<SendResult, rmq::Error>>> =
        futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(r) => out[i] = Some(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|r| r.unwrap()).collect()
}

/// [`BURST`] sends of `producer`, awaited together.
async fn burst(producer: &Producer, topic: &str, tag: &str) -> Vec<Result<SendResult, rmq::Error>> {
    let futures: Vec<SendFuture> = (0..BURST)
        .map(|i| {
            let p = producer.clone();
            let m = Message::new(topic, format!("{tag}-{i}"));
            Box::pin(async move { p.send(m).await }) as SendFuture
        })
        .collect();
    join_all(futures).await
}

async fn producer(namesrv: &str, tag: &str, retries: u32) -> Producer {
    let p = Producer::builder()
        .name_server(namesrv)
        .group(unique(&format!("pg_retries_{tag}")))
        .send_timeout(Duration::from_secs(10))
        .retries(retries)
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

async fn pipelined_sends_retry_on_the_other_broker(version: BrokerVersion) {
    let _serial = SERIAL.lock().await;
    let mut cluster = two_broker_cluster(version).await;
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("retries");
    create_topic_on_each(&admin, &topic, 2, &cluster.broker_addrs()).await;

    let retrying = producer(&namesrv, "retry", 2).await;
    let plain = producer(&namesrv, "plain", 0).await;
    // Both learn the two-broker route (and connect to both brokers).
    for p in [&retrying, &plain] {
        let warm = burst(p, &topic, "warm").await;
        let brokers: std::collections::BTreeSet<String> = warm
            .iter()
            .map(|r| r.as_ref().unwrap().queue.broker_name.clone())
            .collect();
        assert_eq!(brokers.len(), 2, "the warm-up reached both brokers");
    }

    cluster = blocking(move || {
        cluster.stop_broker_named(BROKER_B).unwrap();
        cluster
    })
    .await;

    // Each producer's route still names broker-b (a failure makes it ask
    // again, so the retrying producer goes first). With the default
    // retries, every pipelined send is stored, on broker-a.
    let t = Instant::now();
    let results = burst(&retrying, &topic, "retry").await;
    let elapsed = t.elapsed();
    for r in &results {
        let r = r
            .as_ref()
            .unwrap_or_else(|e| panic!("a pipelined send failed: {e}"));
        assert_eq!(r.queue.broker_name, BROKER_A);
    }
    eprintln!("[retries {version}] with retries: {BURST} of {BURST} stored in {elapsed:?}");

    // Without retries, the first attempts that picked broker-b fail: they
    // were refused, and the burst above retried the same refusals.
    let t = Instant::now();
    let refused = burst(&plain, &topic, "plain")
        .await
        .iter()
        .filter(|r| r.is_err())
        .count();
    eprintln!(
        "[retries {version}] without retries: {refused} of {BURST} pipelined sends failed ({:?})",
        t.elapsed()
    );
    assert!(
        refused > 0,
        "some first attempts went to the stopped broker"
    );

    retrying.shutdown().await.unwrap();
    plain.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    blocking(move || cluster.stop()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_sends_retry_on_the_other_broker_v5() {
    pipelined_sends_retry_on_the_other_broker(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_sends_retry_on_the_other_broker_v4() {
    pipelined_sends_retry_on_the_other_broker(BrokerVersion::V4).await;
}
