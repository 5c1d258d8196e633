//! Request-reply through the real 5.5.0 and 4.9.7 brokers (the shared
//! clusters): a requester's `Producer::request` is consumed by a replier's
//! push consumer, whose handler answers with `Producer::send_reply`
//! (`<cluster>_REPLY_TOPIC`, SEND_REPLY_MESSAGE_V2); the broker pushes the
//! reply to the requester (PUSH_REPLY_MESSAGE_TO_CLIENT), which matches it
//! by correlation id. The same round trips with the Java client
//! (`RMQ_JAVA_PEER`) as requester against an rmq replier, and as replier to
//! an rmq requester.

mod producer_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use producer_support::{create_topic, producer, unique};
use rmq::{Admin, ConsumeFrom, ConsumeResult, Error, Message, Producer, PushConsumer, Selector};
use rmq_tests::{env_cluster, BrokerVersion};
use serde_json::Value;

/// A push consumer on `topic` answering every request with `reply-<body>`.
async fn replier(namesrv: &str, topic: &str) -> (PushConsumer, Producer) {
    let replies = producer(namesrv, "replier").await;
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(unique("cg_replier"))
        .consume_from(ConsumeFrom::First)
        .config(|c| {
            c.rebalance_interval = Duration::from_secs(2);
            c.pull_suspend = Duration::from_secs(2);
        })
        .build()
        .unwrap();
    let p = replies.clone();
    consumer
        .subscribe(topic, Selector::all(), move |msgs| {
            let p = p.clone();
            async move {
                for m in msgs {
                    let body = format!("reply-{}", String::from_utf8_lossy(m.body()));
                    if p.send_reply(&m, body).await.is_err() {
                        return ConsumeResult::RETRY;
                    }
                }
                ConsumeResult::Success
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    (consumer, replies)
}

async fn request_gets_the_reply_through_the_broker(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("rr");
    let requester = producer(&namesrv, "requester").await;
    // The topic exists before the replier subscribes (auto-created).
    requester.send(Message::new(&topic, "warm")).await.unwrap();
    let (consumer, replies) = replier(&namesrv, &topic).await;

    // The first request may wait for the replier's rebalance; later ones
    // round-trip at once.
    let t = Instant::now();
    let first = requester
        .request(Message::new(&topic, "q0"), Duration::from_secs(30))
        .await
        .unwrap();
    eprintln!(
        "[request-reply {version}] first reply after {:?}",
        t.elapsed()
    );
    assert_eq!(first.body().as_ref(), b"reply-q0");
    assert_eq!(first.property("MSG_TYPE"), Some("reply"));

    let t = Instant::now();
    for i in 1..=10 {
        let reply = requester
            .request(
                Message::new(&topic, format!("q{i}")),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(reply.body().as_ref(), format!("reply-q{i}").as_bytes());
    }
    eprintln!(
        "[request-reply {version}] 10 sequential round trips in {:?}",
        t.elapsed()
    );

    consumer.shutdown().await.unwrap();
    replies.shutdown().await.unwrap();
    requester.shutdown().await.unwrap();
}

async fn request_without_a_replier_times_out(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = unique("rr_nobody");
    let requester = producer(&namesrv, "lonely").await;
    let t = Instant::now();
    let r = requester
        .request(Message::new(&topic, "anyone?"), Duration::from_secs(2))
        .await;
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    requester.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_gets_the_reply_through_the_broker_v5() {
    request_gets_the_reply_through_the_broker(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_gets_the_reply_through_the_broker_v4() {
    request_gets_the_reply_through_the_broker(BrokerVersion::V4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_a_replier_times_out_v5() {
    request_without_a_replier_times_out(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_a_replier_times_out_v4() {
    request_without_a_replier_times_out(BrokerVersion::V4).await;
}

// ---------------------------------------------------------------- Java interop
//
// The Java client (rocketmq-client 5.5.0) as requester and as replier:
// `RMQ_JAVA_PEER` (tests/interop/java, built by `cargo xtask test`) in its
// `request` and `reply` modes. These tests never skip.

/// The Java peer's launcher; panics when `RMQ_JAVA_PEER` is unset.
fn java_peer() -> PathBuf {
    std::env::var_os("RMQ_JAVA_PEER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!("RMQ_JAVA_PEER is not set: run these tests with `cargo xtask test`, which builds the peer")
        })
}

/// A running Java peer whose stdout JSON lines are collected; killed when
/// dropped, so a failing test leaves no JVM behind.
struct JavaRun {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    /// The stdout reader; it ends at the peer's EOF.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl JavaRun {
    fn start(args: &[&str]) -> Self {
        let program = java_peer();
        let mut child = Command::new(&program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = Arc::clone(&lines);
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => sink.lock().unwrap().push(v),
                    Err(_) => eprintln!("java peer: not JSON on stdout: {line}"),
                }
            }
        });
        JavaRun {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Waits (at most `limit`) for the peer to exit; its exit status and
    /// every line it printed.
    async fn finish(mut self, limit: Duration) -> (ExitStatus, Vec<Value>) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the Java peer did not exit within {limit:?}; it printed {:?}",
                self.lines.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // The reader thread sees EOF right after the exit (a grandchild
        // holding stdout open is bounded by the same deadline).
        if let Some(reader) = self.reader.take() {
            while !reader.is_finished() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        let lines = self.lines.lock().unwrap().clone();
        (status, lines)
    }
}

impl Drop for JavaRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The lines of `kind` (`"type"`), in order.
fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

/// A fresh topic with 4 queues, routed by the name server before any
/// client starts (so neither side depends on auto-creation timing).
async fn fresh_topic(namesrv: &str, name: &str) -> String {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique(name);
    create_topic(&admin, &topic, 4).await;
    admin.shutdown().await.unwrap();
    topic
}

const JAVA_REQUESTS: usize = 5;

async fn java_requester_gets_the_rmq_reply(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = fresh_topic(&namesrv, "rr_java_req").await;
    let (consumer, replies) = replier(&namesrv, &topic).await;

    let group = unique("pg_java_requester");
    let count = JAVA_REQUESTS.to_string();
    // The first request may wait for the replier's rebalance: 30 s each.
    let java = JavaRun::start(&[
        "request",
        "--namesrv",
        &namesrv,
        "--group",
        &group,
        "--topic",
        &topic,
        "--count",
        &count,
        "--body",
        "java-q{i}",
        "--timeout-ms",
        "30000",
    ]);
    let (status, lines) = java.finish(Duration::from_secs(120)).await;
    consumer.shutdown().await.unwrap();
    replies.shutdown().await.unwrap();

    assert!(status.success(), "java request exited {status}: {lines:?}");
    let got = of_type(&lines, "reply");
    assert_eq!(got.len(), JAVA_REQUESTS, "{lines:?}");
    for (i, reply) in got.iter().enumerate() {
        assert_eq!(reply["index"], i);
        assert_eq!(reply["body"], format!("reply-java-q{i}"), "{reply}");
        let correlation = reply["requestCorrelationId"].as_str().unwrap();
        assert!(!correlation.is_empty(), "{reply}");
        assert_eq!(
            reply["properties"]["CORRELATION_ID"], correlation,
            "{reply}"
        );
        assert_eq!(reply["properties"]["MSG_TYPE"], "reply", "{reply}");
    }
    eprintln!(
        "[request-reply {version}] Java requester: {JAVA_REQUESTS} replies from rmq, round trips (ms) {:?}",
        got.iter()
            .map(|r| r["elapsed_ms"].as_f64().unwrap_or(0.0).round())
            .collect::<Vec<_>>()
    );
}

async fn rmq_requester_gets_the_java_reply(version: BrokerVersion) {
    let namesrv = env_cluster(version).unwrap();
    let topic = fresh_topic(&namesrv, "rr_java_rep").await;
    let group = unique("cg_java_replier");
    let count = JAVA_REQUESTS.to_string();
    let java = JavaRun::start(&[
        "reply",
        "--namesrv",
        &namesrv,
        "--group",
        &group,
        "--topic",
        &topic,
        "--expect",
        &count,
        "--timeout-sec",
        "90",
        "--reply-body",
        "java-reply-{body}",
        "--from-first",
    ]);
    let requester = producer(&namesrv, "rmq_requester").await;

    // The first request waits for the JVM's start and the replier's
    // rebalance; later ones round-trip at once.
    let mut replies = Vec::new();
    let t = Instant::now();
    for i in 0..JAVA_REQUESTS {
        let timeout = Duration::from_secs(if i == 0 { 60 } else { 10 });
        let reply = requester
            .request(Message::new(&topic, format!("rmq-q{i}")), timeout)
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e:?}"));
        if i == 0 {
            eprintln!(
                "[request-reply {version}] first Java reply after {:?}",
                t.elapsed()
            );
        }
        replies.push(reply);
    }
    eprintln!(
        "[request-reply {version}] {JAVA_REQUESTS} requests answered by Java in {:?}",
        t.elapsed()
    );
    let (status, lines) = java.finish(Duration::from_secs(30)).await;
    requester.shutdown().await.unwrap();

    assert!(status.success(), "java reply exited {status}: {lines:?}");
    let answered = of_type(&lines, "reply");
    assert_eq!(answered.len(), JAVA_REQUESTS, "{lines:?}");
    for (i, reply) in replies.iter().enumerate() {
        let body = format!("rmq-q{i}");
        assert_eq!(
            reply.body().as_ref(),
            format!("java-reply-{body}").as_bytes()
        );
        assert_eq!(reply.property("MSG_TYPE"), Some("reply"));
        // The correlation id rmq put on request i, as the Java replier saw
        // it, is the one on the reply rmq matched.
        let seen = answered
            .iter()
            .find(|l| l["request_body"] == body.as_str())
            .unwrap_or_else(|| panic!("the Java replier never answered {body}: {lines:?}"));
        assert_eq!(seen["status"], "SEND_OK", "{seen}");
        let correlation = seen["correlationId"].as_str().unwrap();
        assert!(!correlation.is_empty(), "{seen}");
        assert_eq!(reply.property("CORRELATION_ID"), Some(correlation));
        assert_eq!(seen["reply_properties"]["CORRELATION_ID"], correlation);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_requester_gets_the_rmq_reply_v5() {
    java_requester_gets_the_rmq_reply(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_requester_gets_the_rmq_reply_v4() {
    java_requester_gets_the_rmq_reply(BrokerVersion::V4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmq_requester_gets_the_java_reply_v5() {
    rmq_requester_gets_the_java_reply(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmq_requester_gets_the_java_reply_v4() {
    rmq_requester_gets_the_java_reply(BrokerVersion::V4).await;
}
