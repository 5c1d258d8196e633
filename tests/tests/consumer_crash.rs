//! A consumer killed without a shutdown loses nothing, on real 5.x and
//! 4.9.x brokers: what it consumed after its last commit (at-least-once)
//! goes to the next member of the group, which starts exactly at the
//! committed offsets.
//!
//! The consumer is the `rmq consume` command line in a child process, so
//! the test can SIGKILL it: no shutdown, no final commit, its connections
//! dropped by the kernel. The test reads its output slowly, so when it dies
//! it has pulled far more than it consumed, consumed more than it committed,
//! and its last commit is seconds old. (A build that committed what it
//! pulled rather than what it consumed failed here: "queue 0: offset 128
//! committed (250) but never consumed".)

mod cli_support;
mod producer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use cli_support::{drain, rmq_cli};
use producer_support::{committed_offset, create_topic, producer, unique};
use rmq::{Admin, Message, MessageQueue};
use rmq_tests::{env_cluster, BrokerVersion};
use serde_json::Value;

/// Queues of the topic.
const QUEUES: i32 = 4;
/// Messages sent, all at once: flow control lets the consumer pull them
/// all (250 a queue, under its 1000), far ahead of what it consumes.
const MESSAGES: usize = 1000;
/// Lines per second the test reads from the first consumer. The CLI prints
/// a message and flushes before its handler returns, so this is the rate
/// it consumes at (plus the ~100 lines a pipe buffers).
const READ_RATE: u64 = 50;
/// The CLI commits every 5 s (Java's `persistConsumerOffsetInterval`;
/// pulls carry a commit too, but with everything pulled it only long-polls).
/// Killed 7.5 s after its start, it has consumed for about 2.5 s since its
/// last commit, about 125 messages.
const KILL_AFTER: Duration = Duration::from_millis(7500);
/// How long a consumer may take to print what the test waits for.
const LIMIT: Duration = Duration::from_secs(60);

fn ns(version: BrokerVersion) -> String {
    env_cluster(version).unwrap()
}

// ----- the rmq binary ----------------------------------------------------------

/// Waits (without blocking the runtime) until `child` exits, at most `limit`.
async fn exited_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----- consumers ------------------------------------------------------------------

/// One message a consumer printed: queue id, queue offset, body.
type Printed = (i32, i64, String);

/// A running `rmq consume --json`: its lines, parsed, as they come.
struct Cli {
    child: Child,
    lines: mpsc::Receiver<Printed>,
    /// Lines per second the reader takes; 0: as fast as they come.
    rate: Arc<AtomicU64>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

impl Cli {
    /// `rmq consume --from first --json` plus `extra`, its standard output
    /// read at `rate` lines per second (0: unpaced).
    fn start(namesrv: &str, group: &str, topic: &str, extra: &[&str], rate: u64) -> Cli {
        let mut child = Command::new(rmq_cli())
            .args(["--namesrv", namesrv, "consume", "--group", group])
            .args(["--topic", topic, "--from", "first", "--json"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the rmq binary runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let (tx, lines) = mpsc::channel();
        let rate = Arc::new(AtomicU64::new(rate));
        let pace = Arc::clone(&rate);
        std::thread::spawn(move || {
            let start = Instant::now();
            for (n, line) in BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .enumerate()
            {
                // Line n is read no earlier than n / rate s.
                let due = (n as u64 * 1_000_000).checked_div(pace.load(Ordering::Relaxed));
                if let Some(wait) =
                    due.and_then(|us| Duration::from_micros(us).checked_sub(start.elapsed()))
                {
                    std::thread::sleep(wait);
                }
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                let printed = (
                    v["queue"]["queueId"].as_i64().expect("queueId") as i32,
                    v["offset"].as_i64().expect("offset"),
                    v["body"].as_str().expect("a text body").to_string(),
                );
                if tx.send(printed).is_err() {
                    return;
                }
            }
        });
        Cli {
            child,
            lines,
            rate,
            stderr,
        }
    }

    /// Everything printed so far.
    fn take(&self, into: &mut Vec<Printed>) {
        into.extend(self.lines.try_iter());
    }

    /// Everything it printed, once it has exited: the rest of the pipe,
    /// read as fast as it comes.
    async fn take_to_end(&self, into: &mut Vec<Printed>) {
        self.rate.store(0, Ordering::Relaxed);
        let start = Instant::now();
        loop {
            match self.lines.try_recv() {
                Ok(printed) => into.push(printed),
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => {
                    assert!(start.elapsed() < LIMIT, "its output never ended");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn stderr(self) -> String {
        String::from_utf8_lossy(&self.stderr.join().unwrap_or_default()).into_owned()
    }
}

// ----- the test -------------------------------------------------------------------

async fn a_consumer_killed_without_shutdown_redelivers_from_the_last_commit(namesrv: &str) {
    let admin = Admin::connect(namesrv).await.unwrap();
    let topic = unique("crash");
    let table = create_topic(&admin, &topic, QUEUES).await;
    let queues: Vec<MessageQueue> = table.subscribe_queues().to_vec();
    let group = unique("cg_crash");

    // The first member pulls everything at once and consumes slowly.
    let mut first = Cli::start(namesrv, &group, &topic, &[], READ_RATE);
    let started = Instant::now();
    let p = producer(namesrv, "crash").await;
    let mut stored = BTreeMap::new();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..MESSAGES {
        let (p, topic) = (p.clone(), topic.clone());
        sends.spawn(async move {
            let r = p
                .send(Message::new(topic.as_str(), format!("m{i}")))
                .await
                .unwrap();
            ((r.queue.queue_id, r.queue_offset), format!("m{i}"))
        });
    }
    while let Some(sent) = sends.join_next().await {
        let (at, body) = sent.unwrap();
        stored.insert(at, body);
    }
    assert_eq!(stored.len(), MESSAGES);
    p.shutdown().await.unwrap();

    // Killed mid-stream, after its first commit.
    let mut by_first = Vec::new();
    while started.elapsed() < KILL_AFTER || by_first.is_empty() {
        assert!(
            started.elapsed() < LIMIT,
            "the first consumer printed nothing in {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.take(&mut by_first);
    }
    first.child.kill().expect("SIGKILL");
    let status = first.child.wait().expect("the killed rmq is reaped");
    assert_eq!(status.code(), None, "killed by a signal, not exited");
    // What it wrote before it died counts as consumed.
    first.take_to_end(&mut by_first).await;
    let _ = first.stderr();

    // What the broker kept of its commits: a commit the process wrote just
    // before it died may still be on its way in, so read until two reads
    // half a second apart agree (up to 5 s).
    let read_commits = || async {
        let mut commits: BTreeMap<i32, Option<i64>> = BTreeMap::new();
        for q in &queues {
            commits.insert(
                q.queue_id,
                committed_offset(&admin, &table, &group, q).await,
            );
        }
        commits
    };
    let settled_from = Instant::now();
    let mut commits = read_commits().await;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let again = read_commits().await;
        if again == commits || settled_from.elapsed() > Duration::from_secs(5) {
            commits = again;
            break;
        }
        commits = again;
    }
    let max = |queue: i32| stored.keys().filter(|(q, _)| *q == queue).count() as i64;
    let first_set: BTreeSet<(i32, i64)> = by_first.iter().map(|(q, o, _)| (*q, *o)).collect();
    for (&queue, &c) in &commits {
        let c = c.unwrap_or(0);
        assert!(
            c <= max(queue),
            "queue {queue}: committed {c} > max {}",
            max(queue)
        );
        for offset in 0..c {
            assert!(
                first_set.contains(&(queue, offset)),
                "queue {queue}: offset {offset} committed ({c}) but never consumed"
            );
        }
    }
    let committed_total: i64 = commits.values().map(|c| c.unwrap_or(0)).sum();
    assert!(
        committed_total > 0,
        "the first consumer committed before it was killed: {commits:?}"
    );

    // The next member starts exactly at the committed offsets and gets
    // everything from there: what the first consumed after its last
    // commit again, and what it never saw.
    let expected: BTreeSet<(i32, i64)> = stored
        .keys()
        .filter(|(q, o)| *o >= commits[q].unwrap_or(0))
        .copied()
        .collect();
    let count = expected.len().to_string();
    let mut second = Cli::start(namesrv, &group, &topic, &["--count", &count], 0);
    let status = exited_within(&mut second.child, LIMIT).await;
    if status.is_none() {
        let _ = second.child.kill();
        let _ = second.child.wait();
    }
    let mut by_second = Vec::new();
    second.take_to_end(&mut by_second).await;
    let err = second.stderr();
    let status = status.unwrap_or_else(|| {
        panic!(
            "the second consumer printed {} of {count} in {LIMIT:?}; stderr: {err}",
            by_second.len()
        )
    });
    assert_eq!(status.code(), Some(0), "stderr: {err}");

    let second_set: BTreeSet<(i32, i64)> = by_second.iter().map(|(q, o, _)| (*q, *o)).collect();
    assert_eq!(
        second_set.len(),
        by_second.len(),
        "each once in the second run"
    );
    for queue in commits.keys() {
        let start = by_second
            .iter()
            .filter(|(q, _, _)| q == queue)
            .map(|(_, o, _)| *o)
            .min();
        if let Some(start) = start {
            assert_eq!(
                start,
                commits[queue].unwrap_or(0),
                "queue {queue}: the second run starts at the committed offset"
            );
        }
    }
    assert_eq!(
        second_set, expected,
        "from the committed offsets on, everything"
    );
    for (q, o, body) in by_first.iter().chain(&by_second) {
        assert_eq!(Some(body), stored.get(&(*q, *o)), "queue {q} offset {o}");
    }
    let consumed: BTreeSet<&(i32, i64)> = first_set.iter().chain(&second_set).collect();
    assert_eq!(
        consumed.len(),
        MESSAGES,
        "every message consumed at least once"
    );

    let redelivered = first_set.intersection(&second_set).count();
    println!(
        "killed consumer: {} consumed by the first run, {committed_total} committed \
         ({commits:?}), {redelivered} redelivered, {} consumed by the second run, of {MESSAGES}",
        first_set.len(),
        second_set.len()
    );
    assert_eq!(
        redelivered as i64,
        first_set.len() as i64 - committed_total,
        "exactly what the first consumed after its last commit comes again"
    );

    // The second run stopped cleanly: it committed everything.
    let mut after = BTreeMap::new();
    for q in &queues {
        after.insert(
            q.queue_id,
            committed_offset(&admin, &table, &group, q).await,
        );
    }
    let all: BTreeMap<i32, Option<i64>> = queues
        .iter()
        .map(|q| (q.queue_id, Some(max(q.queue_id))))
        .collect();
    if after != all {
        // Say whether the commit is late or lost.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut later = BTreeMap::new();
        for q in &queues {
            later.insert(
                q.queue_id,
                committed_offset(&admin, &table, &group, q).await,
            );
        }
        panic!(
            "after the second run's clean stop the broker has {after:?} \
             (3 s later {later:?}), expected {all:?}"
        );
    }
    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_consumer_killed_without_shutdown_redelivers_from_the_last_commit_on_5x() {
    a_consumer_killed_without_shutdown_redelivers_from_the_last_commit(&ns(BrokerVersion::V5))
        .await;
}

#[tokio::test]
async fn a_consumer_killed_without_shutdown_redelivers_from_the_last_commit_on_4x() {
    a_consumer_killed_without_shutdown_redelivers_from_the_last_commit(&ns(BrokerVersion::V4))
        .await;
}
