//! Fault tests on a real cluster: two name servers and two brokers
//! (RocketMQ 5.x, SYNC_FLUSH, so an acknowledged message is on disk), each
//! process killed (SIGKILL) or frozen (SIGSTOP) under a running producer and
//! consumer group. Every test prints sent / acknowledged / consumed / lost /
//! duplicated counts and fails on a lost acknowledged message, a send that
//! outlives its deadline, or a queue left unconsumed after recovery.
//!
//! One cluster serves the whole binary (started on first use, stopped at
//! process exit); the tests take turns on it and each leaves every process
//! running. A slow consumer with a growing backlog is `consumer_backlog.rs`.
//! The same cluster serves the one query that needs two brokers (a key
//! looked up on every broker of a topic).

mod cli_support;
mod producer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cli_support::rmq_cli;
use producer_support::{create_topic, recording_consumer, unique, Seen};
use rmq::{Admin, Message, Producer, RouteTable};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};

/// The second broker's name (the first is the harness's `broker-a`).
const BROKER_B: &str = "broker-b";
/// Queues per broker of every topic.
const QUEUES: i32 = 4;
/// The producer's deadline per send (all attempts).
const SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the consumer may take to catch up after a fault.
const CATCH_UP: Duration = Duration::from_secs(90);

// ----- the shared cluster -----------------------------------------------------------

/// The cluster, once started; tests hold the lock for their whole run.
static CLUSTER: tokio::sync::Mutex<Option<Cluster>> = tokio::sync::Mutex::const_new(None);

extern "C" {
    fn atexit(callback: extern "C" fn()) -> i32;
}

/// Stops the shared cluster's JVMs when the test binary exits (statics are
/// never dropped).
extern "C" fn kill_clusters_at_exit() {
    rmq_tests::kill_all_started();
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// The shared cluster, started on first use, with every process running.
async fn cluster() -> tokio::sync::MutexGuard<'static, Option<Cluster>> {
    let mut guard = CLUSTER.lock().await;
    let cluster = guard.take();
    let cluster = blocking(move || -> Result<Cluster, rmq_tests::HarnessError> {
        let mut cluster = match cluster {
            Some(c) => c,
            None => {
                // SAFETY: registers a plain function with the C runtime.
                unsafe { atexit(kill_clusters_at_exit) };
                let spec = ClusterSpec::with_free_ports(BrokerVersion::V5)?
                    .with_second_namesrv()?
                    .broker_config("flushDiskType", "SYNC_FLUSH")
                    // A name server started again learns the brokers at
                    // their next registration: every 10 s (the least a
                    // broker accepts) instead of 30 s.
                    .broker_config("registerNameServerPeriod", "10000");
                let mut c = Cluster::start(spec)?;
                c.add_broker(BROKER_B)?;
                c
            }
        };
        for i in 0..2 {
            if !cluster.namesrv_running(i) {
                cluster.start_namesrv(i)?;
            }
        }
        for name in ["broker-a", BROKER_B] {
            if !cluster.broker_running_named(name) {
                cluster.start_broker_named(name)?;
            }
        }
        // A test may have left a name server that was started again but
        // has not heard from every broker yet.
        cluster.wait_for_registrations(Duration::from_secs(45))?;
        Ok(cluster)
    })
    .await
    .expect("the two-name-server, two-broker 5.x cluster starts");
    *guard = Some(cluster);
    guard
}

/// Runs `f` on the cluster off the async runtime (JVMs take seconds).
async fn with_cluster<T: Send + 'static>(
    guard: &mut tokio::sync::MutexGuard<'static, Option<Cluster>>,
    f: impl FnOnce(&mut Cluster) -> T + Send + 'static,
) -> T {
    let mut cluster = guard.take().expect("the cluster");
    let (cluster, out) = blocking(move || {
        let out = f(&mut cluster);
        (cluster, out)
    })
    .await;
    **guard = Some(cluster);
    out
}

fn namesrv_list(cluster: &Cluster) -> String {
    cluster.namesrv_addrs().join(";")
}

// ----- clients ------------------------------------------------------------------------

async fn producer(namesrv: &str) -> Producer {
    let p = Producer::builder()
        .name_server(namesrv)
        .group(unique("pg_cluster_faults"))
        .send_timeout(SEND_TIMEOUT)
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

fn bodies(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect()
}

/// What a run of sends did.
#[derive(Default)]
struct Ledger {
    sent: usize,
    acked: BTreeSet<String>,
    errors: Vec<String>,
    /// The slowest send, from call to result.
    slowest: Duration,
}

impl Ledger {
    /// Sends `body` once, recording the outcome; a send that outlives its
    /// deadline by more than 2 s is a hang and fails the test.
    async fn send(&mut self, p: &Producer, topic: &str, body: String) {
        self.sent += 1;
        let start = Instant::now();
        let limit = SEND_TIMEOUT + Duration::from_secs(2);
        let result = tokio::time::timeout(limit, p.send(Message::new(topic, body.clone())))
            .await
            .unwrap_or_else(|_| panic!("a send outlived its {SEND_TIMEOUT:?} deadline by 2 s"));
        self.slowest = self.slowest.max(start.elapsed());
        match result {
            Ok(_) => {
                self.acked.insert(body);
            }
            Err(e) => self.errors.push(e.to_string()),
        }
    }
}

/// Waits until `seen` holds every acknowledged body; prints the counts;
/// returns the acknowledged bodies never consumed.
async fn settle(what: &str, ledger: &Ledger, seen: &Seen, also: &[String]) -> BTreeSet<String> {
    let start = Instant::now();
    loop {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for b in bodies(seen).into_iter().chain(also.iter().cloned()) {
            *counts.entry(b).or_default() += 1;
        }
        let lost: BTreeSet<String> = ledger
            .acked
            .iter()
            .filter(|b| !counts.contains_key(*b))
            .cloned()
            .collect();
        if lost.is_empty() || start.elapsed() > CATCH_UP {
            let duplicated = counts.values().filter(|&&n| n > 1).count();
            println!(
                "{what}: sent {} / acknowledged {} / send errors {} / consumed {} distinct / \
                 lost {} / duplicated {} / slowest send {:?}",
                ledger.sent,
                ledger.acked.len(),
                ledger.errors.len(),
                counts.len(),
                lost.len(),
                duplicated,
                ledger.slowest
            );
            if let Some(e) = ledger.errors.first() {
                println!("{what}: first send error: {e}");
            }
            return lost;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends one message to every writable queue of `topic` through a fresh
/// producer (current routes) and waits until `seen` has each; returns the
/// queues whose message never arrived.
async fn every_queue_consumed(
    namesrv: &str,
    admin: &Admin,
    topic: &str,
    label: &str,
    seen: &Seen,
) -> BTreeSet<(String, i32)> {
    let p = producer(namesrv).await;
    let table = RouteTable::new(topic, &admin.topic_route(topic).await.unwrap());
    let mut wanted = BTreeMap::new();
    for q in table.publish_queues() {
        let body = format!("{label}-{}-{}", q.broker_name, q.queue_id);
        p.send_to_queue(Message::new(topic, body.clone()), q.clone())
            .await
            .unwrap_or_else(|e| panic!("send to {q:?} after recovery: {e}"));
        wanted.insert(body, (q.broker_name.clone(), q.queue_id));
    }
    p.shutdown().await.unwrap();
    let start = Instant::now();
    loop {
        let got: BTreeSet<String> = bodies(seen).into_iter().collect();
        let missing: BTreeSet<(String, i32)> = wanted
            .iter()
            .filter(|(b, _)| !got.contains(*b))
            .map(|(_, q)| q.clone())
            .collect();
        if missing.is_empty() || start.elapsed() > CATCH_UP {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A topic with [`QUEUES`] queues on both brokers, routed by every name server.
async fn two_broker_topic(admin: &Admin, name: &str) -> String {
    let topic = unique(name);
    let table = create_topic(admin, &topic, QUEUES).await;
    assert_eq!(
        table.broker_names().count(),
        2,
        "{topic} is on both brokers"
    );
    topic
}

// ----- the tests ------------------------------------------------------------------------

#[tokio::test]
async fn a_broker_killed_under_steady_traffic_loses_no_acknowledged_message() {
    let mut guard = cluster().await;
    let namesrv = namesrv_list(guard.as_ref().unwrap());
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = two_broker_topic(&admin, "fault_kill").await;
    let (c, seen) = recording_consumer(&namesrv, &unique("cg_fault_kill"), &topic).await;
    let p = producer(&namesrv).await;

    let mut ledger = Ledger::default();
    let mut n = 0;
    // Steady traffic, then broker-a SIGKILLed mid-stream, then restarted.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        n += 1;
        ledger.send(&p, &topic, format!("kill-{n}")).await;
    }
    let acked_before = ledger.acked.len();
    with_cluster(&mut guard, |c| c.kill_broker_named("broker-a"))
        .await
        .unwrap();
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        n += 1;
        ledger.send(&p, &topic, format!("kill-{n}")).await;
    }
    let acked_while_down = ledger.acked.len() - acked_before;
    with_cluster(&mut guard, |c| c.start_broker_named("broker-a"))
        .await
        .unwrap();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        n += 1;
        ledger.send(&p, &topic, format!("kill-{n}")).await;
    }

    let lost = settle("broker-a killed and restarted", &ledger, &seen, &[]).await;
    assert!(lost.is_empty(), "acknowledged but never consumed: {lost:?}");
    assert!(
        acked_while_down > 0,
        "sends kept succeeding on broker-b while broker-a was down"
    );
    let missing = every_queue_consumed(&namesrv, &admin, &topic, "after-kill", &seen).await;
    assert!(
        missing.is_empty(),
        "queues not consumed after the restart: {missing:?}"
    );
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn cached_routes_outlive_both_name_servers_and_new_topics_fail_clearly_until_one_returns() {
    let mut guard = cluster().await;
    let namesrv = namesrv_list(guard.as_ref().unwrap());
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = two_broker_topic(&admin, "fault_ns").await;
    let (c, seen) = recording_consumer(&namesrv, &unique("cg_fault_ns"), &topic).await;
    let p = producer(&namesrv).await;
    let mut ledger = Ledger::default();
    for i in 0..20 {
        ledger.send(&p, &topic, format!("ns-both-{i}")).await;
    }

    with_cluster(&mut guard, |c| c.kill_namesrv(0))
        .await
        .unwrap();
    for i in 0..20 {
        ledger.send(&p, &topic, format!("ns-one-{i}")).await;
    }
    with_cluster(&mut guard, |c| c.kill_namesrv(1))
        .await
        .unwrap();
    for i in 0..20 {
        ledger.send(&p, &topic, format!("ns-none-{i}")).await;
    }
    assert!(
        ledger.errors.is_empty(),
        "sends on a cached route failed: {:?}",
        ledger.errors
    );
    let lost = settle("name servers lost one, then both", &ledger, &seen, &[]).await;
    assert!(lost.is_empty(), "acknowledged but never consumed: {lost:?}");

    // A topic no one has a route for: a clear, typed error in bounded time.
    let fresh = unique("fault_ns_new");
    let start = Instant::now();
    let err = tokio::time::timeout(
        SEND_TIMEOUT + Duration::from_secs(10),
        p.send(Message::new(&fresh, "no name server")),
    )
    .await
    .expect("a send to a new topic ends while no name server is up")
    .expect_err("no name server can route a new topic");
    println!(
        "new topic without name servers: {err} (after {:?})",
        start.elapsed()
    );
    assert!(matches!(err, rmq::Error::NoRoute { .. }), "{err:?}");
    assert!(
        start.elapsed() < SEND_TIMEOUT,
        "a refused connection fails at once, not at the deadline"
    );

    // One name server back: brokers re-register (10 s period here), new topics work.
    with_cluster(&mut guard, |c| c.start_namesrv(0))
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        match p.send(Message::new(&fresh, "a name server is back")).await {
            Ok(_) => break,
            Err(e) if start.elapsed() < Duration::from_secs(75) => {
                let _ = e;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => panic!("a new topic still fails 75 s after a name server returned: {e}"),
        }
    }
    println!(
        "new topic routable {:?} after a name server returned",
        start.elapsed()
    );
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

/// `rmq consume --json` in a child process, its printed bodies collected.
struct ChildConsumer {
    child: Child,
    bodies: mpsc::Receiver<String>,
}

impl ChildConsumer {
    fn start(namesrv: &str, group: &str, topic: &str) -> ChildConsumer {
        let mut child = Command::new(rmq_cli())
            .args(["--namesrv", namesrv, "consume", "--group", group])
            .args(["--topic", topic, "--from", "first", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the rmq binary runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, bodies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                let body = v["body"].as_str().unwrap_or_default().to_string();
                if tx.send(body).is_err() {
                    return;
                }
            }
        });
        ChildConsumer { child, bodies }
    }
}

impl Drop for ChildConsumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_consumer_process_killed_in_a_group_of_two_is_taken_over_by_the_survivor() {
    let guard = cluster().await;
    let namesrv = namesrv_list(guard.as_ref().unwrap());
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = two_broker_topic(&admin, "fault_member").await;
    let group = unique("cg_fault_member");
    let mut victim = ChildConsumer::start(&namesrv, &group, &topic);
    let (survivor, seen) = recording_consumer(&namesrv, &group, &topic).await;
    let p = producer(&namesrv).await;
    let mut ledger = Ledger::default();
    for i in 0..400 {
        ledger.send(&p, &topic, format!("member-{i}")).await;
    }
    // Both members consume before the kill.
    let mut victim_bodies = Vec::new();
    let start = Instant::now();
    while victim_bodies.is_empty() || bodies(&seen).is_empty() {
        victim_bodies.extend(victim.bodies.try_iter());
        assert!(
            start.elapsed() < CATCH_UP,
            "both members consume: victim {} survivor {}",
            victim_bodies.len(),
            bodies(&seen).len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    victim.child.kill().expect("SIGKILL the consumer process");
    let _ = victim.child.wait();
    victim_bodies.extend(victim.bodies.try_iter());
    for i in 400..600 {
        ledger.send(&p, &topic, format!("member-{i}")).await;
    }
    // Everything is consumed by someone, and everything sent after the kill
    // by the survivor, which now owns every queue.
    let lost = settle(
        "a member SIGKILLed in a group of two",
        &ledger,
        &seen,
        &victim_bodies,
    )
    .await;
    assert!(lost.is_empty(), "acknowledged but never consumed: {lost:?}");
    let survivor_has: BTreeSet<String> = bodies(&seen).into_iter().collect();
    let after_kill: Vec<String> = (400..600)
        .map(|i| format!("member-{i}"))
        .filter(|b| !survivor_has.contains(b))
        .collect();
    assert!(
        after_kill.is_empty(),
        "sent after the kill but not consumed by the survivor: {} (first {:?})",
        after_kill.len(),
        after_kill.first()
    );
    println!(
        "victim printed {} before the kill; survivor consumed {}",
        victim_bodies.len(),
        survivor_has.len()
    );
    survivor.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_frozen_broker_times_requests_out_within_their_deadline_and_recovers_after_sigcont() {
    let mut guard = cluster().await;
    let namesrv = namesrv_list(guard.as_ref().unwrap());
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = two_broker_topic(&admin, "fault_pause").await;
    let (c, seen) = recording_consumer(&namesrv, &unique("cg_fault_pause"), &topic).await;
    let p = producer(&namesrv).await;
    let mut ledger = Ledger::default();
    for i in 0..20 {
        ledger.send(&p, &topic, format!("pause-before-{i}")).await;
    }
    with_cluster(&mut guard, |c| c.pause_broker_named("broker-a"))
        .await
        .unwrap();
    let frozen_at = Instant::now();
    let mut i = 0;
    // Round robin may start on broker-a's first queue: its QUEUES queues
    // then take a timed-out send each before one goes to broker-b, so the
    // window is longer than QUEUES send timeouts.
    let window = SEND_TIMEOUT * QUEUES.unsigned_abs() + Duration::from_secs(4);
    while frozen_at.elapsed() < window {
        i += 1;
        ledger.send(&p, &topic, format!("pause-during-{i}")).await;
    }
    let acked_during = ledger
        .acked
        .iter()
        .filter(|b| b.starts_with("pause-during-"))
        .count();
    with_cluster(&mut guard, |c| c.resume_broker_named("broker-a"))
        .await
        .unwrap();
    for i in 0..20 {
        ledger.send(&p, &topic, format!("pause-after-{i}")).await;
    }
    println!(
        "while broker-a was frozen: {i} sends, {acked_during} acknowledged, slowest {:?}",
        ledger.slowest
    );
    assert!(
        acked_during > 0,
        "sends moved to broker-b while broker-a was frozen"
    );
    let lost = settle("broker-a frozen, then continued", &ledger, &seen, &[]).await;
    assert!(lost.is_empty(), "acknowledged but never consumed: {lost:?}");
    let missing = every_queue_consumed(&namesrv, &admin, &topic, "after-pause", &seen).await;
    assert!(
        missing.is_empty(),
        "queues not consumed after SIGCONT: {missing:?}"
    );
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

// ----- the one query that needs two brokers ---------------------------------------

#[tokio::test]
async fn a_key_query_searches_every_broker_of_the_topic() {
    let guard = cluster().await;
    let namesrv = namesrv_list(guard.as_ref().unwrap());
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = two_broker_topic(&admin, "query_two_brokers").await;
    let key = unique("order");
    let p = producer(&namesrv).await;
    let table = RouteTable::new(&topic, &admin.topic_route(&topic).await.unwrap());
    let begin = producer_support::now_ms() - 60_000;
    let mut brokers_written = BTreeSet::new();
    for q in table.publish_queues().iter().filter(|q| q.queue_id == 0) {
        let msg = Message::new(&topic, format!("on {}", q.broker_name)).with_keys([key.as_str()]);
        let r = p.send_to_queue(msg, q.clone()).await.unwrap();
        brokers_written.insert(r.queue.broker_name);
    }
    assert_eq!(brokers_written.len(), 2, "one message on each broker");
    // The brokers index keys asynchronously: ask until both answered.
    let start = Instant::now();
    let found = loop {
        let end = producer_support::now_ms() + 60_000;
        let found = admin
            .query_by_key(&topic, &key, begin, end, 32)
            .await
            .unwrap();
        let brokers: BTreeSet<String> = found
            .iter()
            .map(|m| String::from_utf8_lossy(m.body()).into_owned())
            .collect();
        if brokers.len() == 2 || start.elapsed() > Duration::from_secs(20) {
            break brokers;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        found,
        brokers_written
            .iter()
            .map(|b| format!("on {b}"))
            .collect::<BTreeSet<_>>(),
        "the key query returned the message of each broker"
    );
    p.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}
