//! Producer failover across two real master brokers of one cluster
//! (broker-a and broker-b, one namesrv): sends spread over both, keep
//! succeeding on broker-a after broker-b dies (retry on another broker),
//! with fault avoidance skip the dead broker without failing first, and
//! reach broker-b again after it restarts. Each test owns its cluster; the
//! tests of this file run one at a time.

mod producer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use producer_support::{create_topic_on_each, read_topic, two_broker_cluster, unique};
use rmq::{Admin, Message, Producer, SendResult};
use rmq_tests::BrokerVersion;
use tokio::sync::Mutex;

/// One private cluster at a time: the machine also runs the shared ones.
static SERIAL: Mutex<()> = Mutex::const_new(());

const BROKER_A: &str = "broker-a";
const BROKER_B: &str = "broker-b";
const QUEUES_PER_BROKER: i32 = 2;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn message(topic: &str, tag: &str, i: usize) -> Message {
    Message::new(topic, format!("{tag}-{i}"))
}

/// A send and how long it took.
async fn timed_send(p: &Producer, m: Message) -> (Result<SendResult, rmq::Error>, Duration) {
    let t = Instant::now();
    let r = p.send(m).await;
    (r, t.elapsed())
}

async fn producer(namesrv: &str, tag: &str, fault_avoidance: bool, retries: u32) -> Producer {
    let p = Producer::builder()
        .name_server(namesrv)
        .group(unique(&format!("pg_failover_{tag}")))
        .send_timeout(Duration::from_secs(3))
        .retries(retries)
        .fault_avoidance(fault_avoidance)
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

async fn sends_fail_over_to_the_live_broker_and_return_after_restart(version: BrokerVersion) {
    let _serial = SERIAL.lock().await;
    let t_start = Instant::now();
    let mut cluster = two_broker_cluster(version).await;
    eprintln!(
        "[failover {version}] two brokers up in {:.1} s: {:?}",
        t_start.elapsed().as_secs_f64(),
        cluster.broker_addrs()
    );
    assert_eq!(cluster.broker_name(), BROKER_A);
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("failover");
    create_topic_on_each(&admin, &topic, QUEUES_PER_BROKER, &cluster.broker_addrs()).await;

    // Default retries (2); and fault avoidance without retries, so that a
    // send that picks the dead broker fails visibly.
    let retrying = producer(&namesrv, "retry", false, 2).await;
    let avoiding = producer(&namesrv, "avoid", true, 0).await;
    // Neither: shows that the producers' routes still hold the dead broker
    // (its own never refreshes on a timer during the test).
    let plain = Producer::builder()
        .name_server(&namesrv)
        .group(unique("pg_failover_plain"))
        .send_timeout(Duration::from_secs(3))
        .retries(0)
        .fault_avoidance(false)
        .poll_name_server_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    plain.start().await.unwrap();
    let mut acked: BTreeSet<String> = BTreeSet::new();

    // 1. Round robin spreads sends over both brokers.
    let mut per_broker: BTreeMap<String, usize> = BTreeMap::new();
    let all = [&retrying, &avoiding, &plain];
    for (i, p) in (0..60).map(|i| (i, all[i % 3])) {
        let r = p.send(message(&topic, "spread", i)).await.unwrap();
        *per_broker.entry(r.queue.broker_name.clone()).or_default() += 1;
        acked.insert(r.msg_id);
    }
    eprintln!("[failover {version}] 60 sends before the kill: {per_broker:?}");
    for b in [BROKER_A, BROKER_B] {
        assert!(
            per_broker.get(b).copied().unwrap_or(0) >= 10,
            "round robin must reach {b}: {per_broker:?}"
        );
    }

    // 2. broker-b goes away (4.9: graceful stop, 5.x: SIGKILL); the
    // producers still route to it until their next route refresh (30 s).
    let t_kill = Instant::now();
    cluster = blocking(move || {
        match version {
            BrokerVersion::V4 => cluster.stop_broker_named(BROKER_B).unwrap(),
            BrokerVersion::V5 => cluster.kill_broker_named(BROKER_B).unwrap(),
        }
        cluster
    })
    .await;
    eprintln!(
        "[failover {version}] broker-b stopped, namesrv dropped it after {:.1} s",
        t_kill.elapsed().as_secs_f64()
    );

    // 2.0 Without retries and fault avoidance, round robin still picks the
    // dead broker: the retrying producer below has something to retry.
    let mut plain_failures = 0;
    for i in 0..8 {
        match plain.send(message(&topic, "plain", i)).await {
            Ok(r) => {
                assert_eq!(r.queue.broker_name, BROKER_A);
                acked.insert(r.msg_id);
            }
            Err(_) => plain_failures += 1,
        }
    }
    eprintln!("[failover {version}] no retries, no avoidance: {plain_failures} of 8 sends failed");
    assert!(
        plain_failures > 0,
        "the stale route should still hold {BROKER_B}"
    );

    // 2a. With retries: every send succeeds, on broker-a.
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut consecutive = 0;
    let mut sends = 0;
    while consecutive < 50 {
        assert!(
            t_kill.elapsed() < Duration::from_secs(60),
            "no 50 consecutive successes on {BROKER_A} within 60 s; failures {failures:?}"
        );
        let (r, took) = timed_send(&retrying, message(&topic, "retry", sends)).await;
        sends += 1;
        slowest = slowest.max(took);
        match r {
            Ok(r) if r.queue.broker_name == BROKER_A => {
                consecutive += 1;
                acked.insert(r.msg_id);
            }
            Ok(r) => panic!("a send landed on the dead broker: {r:?}"),
            Err(e) => {
                consecutive = 0;
                failures.push(e.to_string());
            }
        }
    }
    eprintln!(
        "[failover {version}] retrying producer: {sends} sends, failures {failures:?}, \
         slowest {} ms",
        slowest.as_millis()
    );
    assert!(
        failures.is_empty(),
        "a send with 2 retries failed although broker-a was up: {failures:?}"
    );
    assert!(
        slowest < Duration::from_secs(3),
        "retrying on broker-a must stay within the send timeout"
    );

    // 2b. Fault avoidance, no retries: once broker-b failed a send, the
    // next ones go straight to broker-a.
    let mut first_failure = None;
    for i in 0..8 {
        match avoiding.send(message(&topic, "avoid-probe", i)).await {
            Ok(r) => {
                assert_eq!(r.queue.broker_name, BROKER_A);
                acked.insert(r.msg_id);
            }
            Err(e) => {
                first_failure = Some(e.to_string());
                break;
            }
        }
    }
    eprintln!("[failover {version}] fault-avoiding producer first failure: {first_failure:?}");
    let mut after_failure = Vec::new();
    for i in 0..20 {
        let (r, took) = timed_send(&avoiding, message(&topic, "avoid", i)).await;
        match r {
            Ok(r) => {
                assert_eq!(r.queue.broker_name, BROKER_A, "{r:?}");
                acked.insert(r.msg_id);
            }
            Err(e) => after_failure.push(format!("{e} after {} ms", took.as_millis())),
        }
    }
    assert!(
        after_failure.is_empty(),
        "fault avoidance sent to the dead broker again: {after_failure:?}"
    );

    // 3. broker-b comes back (same store): sends reach it again.
    let t_restart = Instant::now();
    cluster = blocking(move || {
        cluster.start_broker_named(BROKER_B).unwrap();
        cluster
    })
    .await;
    let restarted_in = t_restart.elapsed();
    let mut i = 0;
    let back_on_b = loop {
        assert!(
            t_restart.elapsed() < restarted_in + Duration::from_secs(60),
            "no send reached {BROKER_B} within 60 s of its restart"
        );
        match retrying.send(message(&topic, "back", i)).await {
            Ok(r) => {
                acked.insert(r.msg_id);
                if r.queue.broker_name == BROKER_B {
                    break t_restart.elapsed();
                }
            }
            Err(e) => panic!("a send failed with both brokers up: {e}"),
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "[failover {version}] broker-b restarted in {:.1} s; first send on it {:.1} s after \
         the restart began ({i} sends on broker-a before)",
        restarted_in.as_secs_f64(),
        back_on_b.as_secs_f64()
    );

    // Every acknowledged message is stored (read back from both brokers).
    let start = Instant::now();
    let stored: BTreeSet<String> = loop {
        let stored: BTreeSet<String> = read_topic(&admin, &topic)
            .await
            .into_iter()
            .filter_map(|m| m.unique_key().map(str::to_string))
            .collect();
        if acked.is_subset(&stored) || start.elapsed() > Duration::from_secs(15) {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );

    retrying.shutdown().await.unwrap();
    avoiding.shutdown().await.unwrap();
    plain.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    blocking(move || cluster.stop()).await.unwrap();
    eprintln!(
        "[failover {version}] total {:.1} s",
        t_start.elapsed().as_secs_f64()
    );
}

async fn fault_avoidance_skips_an_unresponsive_broker_the_namesrv_still_lists(
    version: BrokerVersion,
) {
    let _serial = SERIAL.lock().await;
    let t_start = Instant::now();
    let mut cluster = two_broker_cluster(version).await;
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("frozen");
    create_topic_on_each(&admin, &topic, QUEUES_PER_BROKER, &cluster.broker_addrs()).await;
    let avoiding = producer(&namesrv, "frozen_avoid", true, 2).await;
    let control = producer(&namesrv, "frozen_control", false, 2).await;
    for i in 0..8 {
        for p in [&avoiding, &control] {
            p.send(message(&topic, "warm", i)).await.unwrap();
        }
    }

    // broker-b freezes: connections open, nothing answers, still routed.
    cluster.pause_broker_named(BROKER_B).unwrap();
    let t_pause = Instant::now();

    // With fault avoidance: at most one send fails (the one that found
    // broker-b unresponsive); the next 20 all go to broker-a, fast.
    let mut first_failure = None;
    for i in 0..4 {
        let (r, took) = timed_send(&avoiding, message(&topic, "probe", i)).await;
        match r {
            Ok(r) => assert_eq!(r.queue.broker_name, BROKER_A, "{r:?}"),
            Err(e) => {
                first_failure = Some(format!("{e} after {} ms", took.as_millis()));
                break;
            }
        }
    }
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let (r, took) = timed_send(&avoiding, message(&topic, "avoid", i)).await;
        slowest = slowest.max(took);
        match r {
            Ok(r) => assert_eq!(r.queue.broker_name, BROKER_A, "{r:?}"),
            Err(e) => failures.push(format!("{e} after {} ms", took.as_millis())),
        }
    }
    eprintln!(
        "[frozen {version}] fault avoidance: first failure {first_failure:?}; then 20 sends, \
         failures {failures:?}, slowest {} ms",
        slowest.as_millis()
    );
    assert!(
        first_failure.is_some(),
        "round robin over 4 queues must have tried the frozen broker once"
    );
    assert!(
        failures.is_empty(),
        "fault avoidance went back to the frozen broker"
    );
    assert!(
        slowest < Duration::from_secs(2),
        "sends after the failure must not wait for the frozen broker's 3 s timeout"
    );

    // Without it, round robin keeps trying the frozen broker.
    let mut control_failures = 0;
    for i in 0..4 {
        if control.send(message(&topic, "control", i)).await.is_err() {
            control_failures += 1;
        }
    }
    eprintln!(
        "[frozen {version}] without fault avoidance: {control_failures} of 4 sends failed; \
         {:.1} s since the freeze",
        t_pause.elapsed().as_secs_f64()
    );
    assert!(
        control_failures > 0,
        "the frozen broker should still be routed"
    );

    cluster.resume_broker_named(BROKER_B).unwrap();
    avoiding.shutdown().await.unwrap();
    control.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    blocking(move || cluster.stop()).await.unwrap();
    eprintln!(
        "[frozen {version}] total {:.1} s",
        t_start.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_fault_avoidance_skips_an_unresponsive_broker_the_namesrv_still_lists() {
    fault_avoidance_skips_an_unresponsive_broker_the_namesrv_still_lists(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_fault_avoidance_skips_an_unresponsive_broker_the_namesrv_still_lists() {
    fault_avoidance_skips_an_unresponsive_broker_the_namesrv_still_lists(BrokerVersion::V4).await;
}

async fn sends_in_flight_when_a_broker_dies_are_retried_on_the_live_one(version: BrokerVersion) {
    let _serial = SERIAL.lock().await;
    let mut cluster = two_broker_cluster(version).await;
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("inflight");
    create_topic_on_each(&admin, &topic, QUEUES_PER_BROKER, &cluster.broker_addrs()).await;
    let producer = producer(&namesrv, "inflight", false, 2).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for t in 0..4 {
        let (p, topic, stop) = (producer.clone(), topic.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let (r, took) = timed_send(&p, message(&topic, &format!("s{t}"), i)).await;
                out.push((Instant::now(), r.map(|r| r.queue.broker_name), took));
                i += 1;
            }
            out
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = Instant::now();
    cluster = blocking(move || {
        cluster.kill_broker_named(BROKER_B).unwrap();
        cluster
    })
    .await;
    let dropped_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for s in senders {
        outcomes.extend(s.await.unwrap());
    }

    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|(_, r, took)| {
            r.as_ref()
                .err()
                .map(|e| format!("{e} after {} ms", took.as_millis()))
        })
        .collect();
    let before: BTreeSet<&str> = outcomes
        .iter()
        .filter(|(at, _, _)| *at < killed_at)
        .filter_map(|(_, r, _)| r.as_deref().ok())
        .collect();
    let late_on_b = outcomes
        .iter()
        .filter(|(at, r, _)| {
            *at > dropped_at + Duration::from_millis(100) && r.as_deref().ok() == Some(BROKER_B)
        })
        .count();
    let slowest = outcomes
        .iter()
        .map(|(_, _, t)| *t)
        .max()
        .unwrap_or_default();
    eprintln!(
        "[inflight {version}] {} sends by 4 tasks, broker-b killed after 2 s (namesrv dropped it \
         in {} ms); failures {failures:?}; slowest {} ms",
        outcomes.len(),
        (dropped_at - killed_at).as_millis(),
        slowest.as_millis()
    );
    assert_eq!(before, BTreeSet::from([BROKER_A, BROKER_B]));
    assert!(failures.is_empty(), "sends failed although broker-a was up");
    assert_eq!(late_on_b, 0, "acknowledged by a dead broker");

    producer.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    blocking(move || cluster.stop()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_sends_in_flight_when_a_broker_dies_are_retried_on_the_live_one() {
    sends_in_flight_when_a_broker_dies_are_retried_on_the_live_one(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_sends_in_flight_when_a_broker_dies_are_retried_on_the_live_one() {
    sends_in_flight_when_a_broker_dies_are_retried_on_the_live_one(BrokerVersion::V4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_sends_fail_over_to_the_live_broker_and_return_after_restart() {
    sends_fail_over_to_the_live_broker_and_return_after_restart(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_sends_fail_over_to_the_live_broker_and_return_after_restart() {
    sends_fail_over_to_the_live_broker_and_return_after_restart(BrokerVersion::V4).await;
}
