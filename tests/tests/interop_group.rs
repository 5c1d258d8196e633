//! One clustering group of three clients — rmq, the Go client
//! (rocketmq-client-go v2, `RMQ_GO_PEER`) and the Java client
//! (rocketmq-client 5.5.0, `RMQ_JAVA_PEER`), both built by `cargo xtask
//! test` — on one 8-queue topic: every queue has exactly one owner, the
//! three agree on who owns what, and 10 000 messages are each consumed
//! once in steady state. Rebalance identical to Java's is what makes the
//! three agree; these tests never skip.

mod producer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use producer_support::{create_topic, producer, unique};
use rmq::{Admin, ConsumeFrom, ConsumeResult, Message, PushConsumer, Selector};
use rmq_tests::{env_cluster, BrokerVersion};
use serde_json::Value;

const QUEUES: i32 = 8;
const MESSAGES: usize = 10_000;

fn peer(var: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run these tests with `cargo xtask test`, which builds the peers")
    })
}

/// A (broker, queue) pair.
type Queue = (String, i32);

/// A peer consumer process and what it printed so far.
struct PeerConsumer {
    name: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl PeerConsumer {
    fn start(
        name: &'static str,
        program: PathBuf,
        namesrv: &str,
        group: &str,
        topic: &str,
    ) -> Self {
        let mut child = Command::new(&program)
            .args([
                "consume",
                "--namesrv",
                namesrv,
                "--group",
                group,
                "--topic",
                topic,
            ])
            .args(["--from-first", "--report-allocation", "--instance", name])
            .args([
                "--expect",
                &(10 * MESSAGES).to_string(),
                "--timeout-sec",
                "600",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = Arc::clone(&lines);
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => sink.lock().unwrap().push(v),
                    Err(_) => eprintln!("{name}: not JSON on stdout: {line}"),
                }
            }
        });
        PeerConsumer { name, child, lines }
    }

    /// The queues of its latest allocation line.
    fn allocation(&self) -> Option<BTreeSet<Queue>> {
        let lines = self.lines.lock().unwrap();
        let last = lines.iter().rev().find(|v| v["type"] == "allocation")?;
        Some(
            last["queues"]
                .as_array()?
                .iter()
                .map(|q| {
                    let broker = q["brokerName"].as_str().unwrap_or_default().to_string();
                    (broker, q["queueId"].as_i64().unwrap_or(-1) as i32)
                })
                .collect(),
        )
    }

    /// (body, queue) of every message line.
    fn messages(&self) -> Vec<(String, Queue)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "message")
            .map(|v| {
                let body = v["body"].as_str().unwrap_or_default().to_string();
                let broker = v["brokerName"].as_str().unwrap_or_default().to_string();
                (body, (broker, v["queueId"].as_i64().unwrap_or(-1) as i32))
            })
            .collect()
    }

    fn errors(&self) -> Vec<Value> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|v| v["type"] == "error")
            .cloned()
            .collect()
    }

    /// SIGTERM (a clean shutdown), then SIGKILL if it lingers.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PeerConsumer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn rmq_assignment(consumer: &PushConsumer) -> BTreeSet<Queue> {
    consumer
        .assigned_queues()
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.broker_name.clone(), q.queue_id))
        .collect()
}

/// True when the three assignments are disjoint and cover every queue.
fn one_owner_each(parts: &[&BTreeSet<Queue>], all: &BTreeSet<Queue>) -> bool {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let union: BTreeSet<&Queue> = parts.iter().flat_map(|p| p.iter()).collect();
    total == all.len() && union.len() == all.len() && union.into_iter().eq(all.iter())
}

async fn rmq_go_and_java_consumers_share_one_group(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("group3");
    let table = create_topic(&admin, &topic, QUEUES).await;
    let all: BTreeSet<Queue> = table
        .subscribe_queues()
        .iter()
        .map(|q| (q.broker_name.clone(), q.queue_id))
        .collect();
    assert_eq!(all.len(), QUEUES as usize);
    let group = unique("cg_group3");
    // One broker in the harness cluster: a message's queue is (it, queue id).
    let broker = table.broker_names().next().unwrap().to_string();

    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(&group)
        .instance_name("rmq")
        .consume_from(ConsumeFrom::First)
        .build()
        .unwrap();
    let rmq_seen: Arc<Mutex<Vec<(String, Queue)>>> = Arc::default();
    let log = Arc::clone(&rmq_seen);
    let broker_of_all = broker.clone();
    consumer
        .subscribe(&topic, Selector::all(), move |msgs| {
            let log = Arc::clone(&log);
            let broker = broker_of_all.clone();
            async move {
                let mut log = log.lock().unwrap();
                for m in msgs {
                    let body = String::from_utf8_lossy(m.body()).into_owned();
                    log.push((body, (broker.clone(), m.queue_id)));
                }
                ConsumeResult::Success
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    let mut go = PeerConsumer::start("go", peer("RMQ_GO_PEER"), namesrv, &group, &topic);
    let mut java = PeerConsumer::start("java", peer("RMQ_JAVA_PEER"), namesrv, &group, &topic);

    // Steady state: the three assignments partition the topic, and stay so.
    let start = Instant::now();
    let mut stable_since: Option<(Instant, Vec<BTreeSet<Queue>>)> = None;
    let parts = loop {
        let mine = rmq_assignment(&consumer).await;
        let theirs = (go.allocation(), java.allocation());
        if let (Some(g), Some(j)) = theirs {
            let now = vec![mine.clone(), g.clone(), j.clone()];
            let mut sizes = [mine.len(), g.len(), j.len()];
            sizes.sort_unstable();
            // 8 queues over 3 clients, averagely: 3, 3, 2.
            if one_owner_each(&[&mine, &g, &j], &all) && sizes == [2, 3, 3] {
                match &stable_since {
                    Some((since, parts)) if *parts == now => {
                        if since.elapsed() >= Duration::from_secs(3) {
                            break now;
                        }
                    }
                    _ => stable_since = Some((Instant::now(), now)),
                }
            } else {
                stable_since = None;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no steady partition in 90 s: rmq {mine:?}, go {:?}, java {:?}; errors go {:?} java {:?}",
            go.allocation(),
            java.allocation(),
            go.errors(),
            java.errors()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "steady state after {:.1} s: rmq {:?}, go {:?}, java {:?}",
        start.elapsed().as_secs_f64(),
        parts[0],
        parts[1],
        parts[2]
    );

    let p = producer(namesrv, "group3").await;
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(50) {
        let batch = chunk
            .iter()
            .map(|i| Message::new(topic.as_str(), format!("m{i}")))
            .collect();
        p.send_batch(batch).await.unwrap();
    }

    let consumed = |go: &PeerConsumer, java: &PeerConsumer| {
        let mut by_client = vec![("rmq", rmq_seen.lock().unwrap().clone())];
        by_client.push((go.name, go.messages()));
        by_client.push((java.name, java.messages()));
        by_client
    };
    let start = Instant::now();
    loop {
        let distinct: BTreeSet<String> = consumed(&go, &java)
            .into_iter()
            .flat_map(|(_, m)| m.into_iter().map(|(b, _)| b))
            .collect();
        if distinct.len() >= MESSAGES {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} of {MESSAGES} consumed in 120 s",
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // late duplicates would show
    let final_parts = [
        rmq_assignment(&consumer).await,
        go.allocation().unwrap(),
        java.allocation().unwrap(),
    ];
    go.stop();
    java.stop();
    consumer.shutdown().await.unwrap();
    p.shutdown().await.unwrap();

    assert_eq!(final_parts.to_vec(), parts, "no rebalance during the run");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (client, messages)) in consumed(&go, &java).into_iter().enumerate() {
        println!("{client}: {} messages", messages.len());
        assert!(!messages.is_empty(), "{client} consumed nothing");
        for (body, queue) in messages {
            assert!(
                parts[i].contains(&queue),
                "{client} consumed from {queue:?}, not one of its queues {:?}",
                parts[i]
            );
            *counts.entry(body).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), MESSAGES, "every message consumed");
    let twice: Vec<&String> = counts
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(b, _)| b)
        .collect();
    assert!(twice.is_empty(), "consumed more than once: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmq_go_and_java_consumers_share_one_group_on_5x() {
    rmq_go_and_java_consumers_share_one_group(&env_cluster(BrokerVersion::V5).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmq_go_and_java_consumers_share_one_group_on_4x() {
    rmq_go_and_java_consumers_share_one_group(&env_cluster(BrokerVersion::V4).unwrap()).await;
}
