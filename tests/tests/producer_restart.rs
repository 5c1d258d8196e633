//! A broker stopped under a running [`rmq::Producer`]: sends fail with typed
//! errors within the send timeout, and succeed again after the broker comes
//! back, without rebuilding the producer. Each test owns a private cluster;
//! the tests of this file run one at a time.

mod producer_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use producer_support::{create_topic, unique, wait_for_messages};
use rmq::{Admin, Error, Message, Producer};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};
use tokio::sync::Mutex;

/// One private cluster at a time: the machine also runs the shared ones.
static SERIAL: Mutex<()> = Mutex::const_new(());

const SEND_TIMEOUT: Duration = Duration::from_secs(3);
const SENDERS: usize = 4;

/// One send as a sender task saw it.
struct Outcome {
    started: Instant,
    took: Duration,
    result: Result<String, Error>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

async fn sends_fail_typed_while_the_broker_is_down_and_recover_after_restart(
    version: BrokerVersion,
) {
    let _serial = SERIAL.lock().await;
    let cluster = blocking(move || Cluster::start(ClusterSpec::with_free_ports(version)?))
        .await
        .unwrap();
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("restart");
    create_topic(&admin, &topic, 4).await;

    let producer = Producer::builder()
        .name_server(&namesrv)
        .group(unique("pg_restart"))
        .send_timeout(SEND_TIMEOUT)
        .build()
        .unwrap();
    producer.start().await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let ok_count = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for t in 0..SENDERS {
        let (p, topic, stop, ok_count) = (
            producer.clone(),
            topic.clone(),
            stop.clone(),
            ok_count.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = p
                    .send(Message::new(topic.as_str(), format!("s{t}-{i}")))
                    .await
                    .map(|r| r.msg_id);
                if result.is_ok() {
                    ok_count.fetch_add(1, Ordering::Relaxed);
                } else {
                    // Failures can be immediate: don't spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                out.push(Outcome {
                    started,
                    took: started.elapsed(),
                    result,
                });
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            out
        }));
    }
    let wait_ok = |n: usize, limit: Duration| {
        let ok_count = ok_count.clone();
        async move {
            let start = Instant::now();
            while ok_count.load(Ordering::Relaxed) < n && start.elapsed() < limit {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ok_count.load(Ordering::Relaxed)
        }
    };
    assert!(
        wait_ok(40, Duration::from_secs(20)).await >= 40,
        "warm-up sends succeed"
    );

    // Stop the broker under load; keep sending while it is down.
    let stopped_at = Instant::now();
    let mut cluster = blocking(move || {
        let mut cluster = cluster;
        cluster.stop_broker().unwrap();
        cluster
    })
    .await;
    // The JVM has exited: nothing sent from now on can be acknowledged.
    let down_from = Instant::now();
    tokio::time::sleep(SEND_TIMEOUT + Duration::from_secs(1)).await;
    let restarted_from = Instant::now();
    let ok_before_restart = ok_count.load(Ordering::Relaxed);
    cluster = blocking(move || {
        cluster.start_broker().unwrap();
        cluster
    })
    .await;

    // The same producer recovers once the route and connection come back.
    let recovered = wait_ok(ok_before_restart + 40, Duration::from_secs(60)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for s in senders {
        outcomes.extend(s.await.unwrap());
    }
    assert!(
        recovered >= ok_before_restart + 40,
        "sends succeed again within 60 s of the restart ({recovered} ok, {ok_before_restart} before)"
    );

    let mut failures = 0;
    for o in &outcomes {
        assert!(
            o.took <= SEND_TIMEOUT + Duration::from_secs(1),
            "a send took {:?}: {:?}",
            o.took,
            o.result
        );
        if let Err(e) = &o.result {
            failures += 1;
            assert!(
                matches!(
                    e,
                    Error::Timeout { .. }
                        | Error::Connection { .. }
                        | Error::Broker { .. }
                        | Error::NoRoute { .. }
                ),
                "typed failure: {e:?}"
            );
            assert!(
                o.started + o.took >= stopped_at,
                "no failure before the broker stopped: {e:?}"
            );
        }
    }
    assert!(failures > 0, "sends failed while the broker was down");
    let down_ok = outcomes
        .iter()
        .filter(|o| o.result.is_ok() && o.started > down_from)
        .filter(|o| o.started + o.took < restarted_from)
        .count();
    assert_eq!(
        down_ok, 0,
        "nothing was acknowledged while the broker was down"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.started >= restarted_from && o.result.is_ok()),
        "sends started after the restart succeed"
    );
    let again = producer
        .send(Message::new(topic.as_str(), "after the restart"))
        .await;
    assert!(again.is_ok(), "the same producer sends again: {again:?}");

    // Everything acknowledged survived the graceful stop.
    let acked: BTreeSet<String> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok().cloned())
        .collect();
    let stored: BTreeSet<String> =
        wait_for_messages(&admin, &topic, acked.len() + 1, Duration::from_secs(5))
            .await
            .iter()
            .filter_map(|m| m.unique_key().map(String::from))
            .collect();
    let missing: Vec<&String> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );

    producer.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    blocking(move || cluster.stop()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_fail_typed_while_the_broker_is_down_and_recover_after_restart_on_5x() {
    sends_fail_typed_while_the_broker_is_down_and_recover_after_restart(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_fail_typed_while_the_broker_is_down_and_recover_after_restart_on_4x() {
    sends_fail_typed_while_the_broker_is_down_and_recover_after_restart(BrokerVersion::V4).await;
}
