//! Transactional messages against real 5.5.0 and 4.9.7 brokers.
//!
//! Each version gets one private cluster whose broker checks half messages
//! every second (`transactionCheckInterval=1000`, `transactionTimeOut=1000`;
//! the shared clusters keep the 30 s / 6 s defaults, too slow for a test).
//! On it, in order, one step per behaviour:
//! - a committed message is consumed;
//! - a rolled-back message never is;
//! - a message whose local step answered Unknown is committed by the
//!   broker's check-back and then consumed;
//! - a half message whose producer died before ending it is resolved by
//!   another instance of the same producer group.
//!
//! "Consumed" is read back with raw pulls of the topic. The tests of this
//! file run one at a time (one private cluster at a time).

mod producer_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use producer_support::{create_topic, read_topic, unique, wait_for_messages};
use rmq::rmq_core::transaction::mark_half;
use rmq::{
    Admin, Message, MessageExt, Producer, TransactionListener, TransactionProducer,
    TransactionState,
};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};
use tokio::sync::Mutex as AsyncMutex;

/// One private cluster at a time: the machine also runs the shared ones.
static SERIAL: AsyncMutex<()> = AsyncMutex::const_new(());

/// How long a committed message may take to become readable.
const VISIBLE_WITHIN: Duration = Duration::from_secs(20);
/// How long a check-back may take (checks run every second; the first one
/// after `transactionTimeOut`).
const CHECKED_WITHIN: Duration = Duration::from_secs(40);

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Decides by the body's first word: `commit`, `rollback`, or `unknown`
/// (Unknown locally, Commit when checked). A checked `commit-*` or
/// `rollback-*` message is rolled back: only our END_TRANSACTION can make
/// a `commit-*` visible. Records every check.
#[derive(Clone, Default)]
struct ByBody {
    checks: Arc<Mutex<BTreeMap<String, usize>>>,
    executed: Arc<Mutex<Vec<String>>>,
    /// Checks of `slow-*` messages still running (each takes [`SLOW_CHECK`]).
    slow_running: Arc<std::sync::atomic::AtomicUsize>,
}

/// How long the check of a `slow-*` message takes.
const SLOW_CHECK: Duration = Duration::from_secs(8);

impl ByBody {
    fn checks_of(&self, body: &str) -> usize {
        self.checks.lock().unwrap().get(body).copied().unwrap_or(0)
    }
}

fn body_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl TransactionListener for ByBody {
    fn execute_local(&self, message: &Message) -> TransactionState {
        let body = body_of(&message.body);
        assert!(
            message.unique_key().is_some(),
            "the local step sees the transaction id"
        );
        self.executed.lock().unwrap().push(body.clone());
        match body.split('-').next() {
            Some("commit") => TransactionState::Commit,
            Some("rollback") => TransactionState::Rollback,
            _ => TransactionState::Unknown,
        }
    }

    fn check_local(&self, message: &MessageExt) -> TransactionState {
        let body = body_of(message.body());
        *self.checks.lock().unwrap().entry(body.clone()).or_default() += 1;
        match body.split('-').next() {
            Some("rollback" | "commit") => TransactionState::Rollback,
            Some("slow") => {
                use std::sync::atomic::Ordering::SeqCst;
                self.slow_running.fetch_add(1, SeqCst);
                std::thread::sleep(SLOW_CHECK);
                self.slow_running.fetch_sub(1, SeqCst);
                TransactionState::Commit
            }
            _ => TransactionState::Commit,
        }
    }
}

async fn transaction_producer(namesrv: &str, group: &str, listener: ByBody) -> TransactionProducer {
    let p = TransactionProducer::builder()
        .name_server(namesrv)
        .group(group)
        .send_timeout(Duration::from_secs(10))
        .build_transactional(listener)
        .unwrap();
    p.start().await.unwrap();
    p
}

fn bodies(msgs: &[MessageExt]) -> Vec<String> {
    msgs.iter().map(|m| body_of(m.body())).collect()
}

async fn wait_for_body(admin: &Admin, topic: &str, body: &str, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        let found = wait_for_messages(admin, topic, 1, Duration::from_millis(1)).await;
        if bodies(&found).iter().any(|b| b == body) {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn committed_message_is_consumed(
    p: &TransactionProducer,
    listener: &ByBody,
    admin: &Admin,
    topic: &str,
) {
    let r = p
        .send_in_transaction(Message::new(topic, "commit-1"))
        .await
        .unwrap();
    assert_eq!(r.state, TransactionState::Commit);
    assert!(
        wait_for_body(admin, topic, "commit-1", VISIBLE_WITHIN).await,
        "the committed message is readable"
    );
    // A check-back would have rolled it back: the broker accepted our
    // END_TRANSACTION (producerGroup, tranStateTableOffset, commitLogOffset
    // all matched). 5.5.0 may still check it (it records ended
    // transactions in 3 s batches), so the checks are not counted.
    eprintln!(
        "[transactions] committed message checked {} time(s)",
        listener.checks_of("commit-1")
    );
    let stored = read_topic(admin, topic).await;
    let m = stored
        .iter()
        .find(|m| body_of(m.body()) == "commit-1")
        .unwrap();
    assert_eq!(m.unique_key(), Some(r.send.msg_id.as_str()));
}

async fn rolled_back_message_is_never_consumed(
    p: &TransactionProducer,
    listener: &ByBody,
    admin: &Admin,
    topic: &str,
) {
    let r = p
        .send_in_transaction(Message::new(topic, "rollback-1"))
        .await
        .unwrap();
    assert_eq!(r.state, TransactionState::Rollback);
    // A commit sent after it becomes visible; then several check rounds pass.
    let r2 = p
        .send_in_transaction(Message::new(topic, "commit-2"))
        .await
        .unwrap();
    assert_eq!(r2.state, TransactionState::Commit);
    assert!(wait_for_body(admin, topic, "commit-2", VISIBLE_WITHIN).await);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stored = bodies(&read_topic(admin, topic).await);
    assert!(
        !stored.iter().any(|b| b == "rollback-1"),
        "rolled back, yet stored: {stored:?}"
    );
    // 4.9.7 never checks an ended transaction; 5.5.0 may (it writes the
    // rollback's op message in batches, every `transactionOpBatchInterval`
    // = 3 s, and checks in between): the checker then says Rollback again.
    eprintln!(
        "[transactions] rolled-back message checked {} time(s)",
        listener.checks_of("rollback-1")
    );
}

async fn unknown_is_committed_by_the_check_back(
    p: &TransactionProducer,
    listener: &ByBody,
    admin: &Admin,
    topic: &str,
) {
    let r = p
        .send_in_transaction(Message::new(topic, "unknown-1"))
        .await
        .unwrap();
    assert_eq!(r.state, TransactionState::Unknown);
    let visible = bodies(&read_topic(admin, topic).await)
        .iter()
        .any(|b| b == "unknown-1");
    // The read may outlast the broker's first check (1 s here).
    assert!(
        !visible || listener.checks_of("unknown-1") >= 1,
        "not visible before the check"
    );
    assert!(
        wait_for_body(admin, topic, "unknown-1", CHECKED_WITHIN).await,
        "the check-back committed it"
    );
    assert!(listener.checks_of("unknown-1") >= 1);
}

/// A check that takes seconds holds up neither sends nor other checks.
async fn a_slow_checker_blocks_no_send_and_no_other_check(
    p: &TransactionProducer,
    listener: &ByBody,
    admin: &Admin,
    topic: &str,
) {
    use std::sync::atomic::Ordering::SeqCst;
    let r = p
        .send_in_transaction(Message::new(topic, "slow-1"))
        .await
        .unwrap();
    assert_eq!(r.state, TransactionState::Unknown);
    let start = Instant::now();
    while listener.slow_running.load(SeqCst) == 0 {
        assert!(start.elapsed() < CHECKED_WITHIN, "the broker checks slow-1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While a slow check runs: a send completes, another check is answered.
    let t = Instant::now();
    let r = p
        .send_in_transaction(Message::new(topic, "unknown-2"))
        .await
        .unwrap();
    assert_eq!(r.state, TransactionState::Unknown);
    assert!(
        t.elapsed() < SLOW_CHECK / 2,
        "a send during a slow check took {:?} (not queued behind the {SLOW_CHECK:?} check)",
        t.elapsed()
    );
    assert!(
        wait_for_body(admin, topic, "unknown-2", SLOW_CHECK).await,
        "unknown-2's check was answered while slow-1's still ran"
    );
    assert!(
        listener.slow_running.load(SeqCst) > 0 || listener.checks_of("slow-1") > 1,
        "slow-1's check was still running when unknown-2 was committed"
    );
    assert!(
        wait_for_body(admin, topic, "slow-1", CHECKED_WITHIN).await,
        "the slow check committed slow-1 in the end"
    );
}

async fn half_message_of_a_dead_producer_is_resolved_by_another_instance(
    namesrv: &str,
    admin: &Admin,
    topic: &str,
) {
    let group = unique("pg_tx_takeover");
    // The "dead" instance: stores a half message of the group, then is gone
    // without ever ending it.
    let dead = Producer::builder()
        .name_server(namesrv)
        .group(&group)
        .build()
        .unwrap();
    dead.start().await.unwrap();
    let mut half = Message::new(topic, "orphan-1");
    mark_half(&mut half, &group);
    dead.send(half).await.unwrap();
    dead.shutdown().await.unwrap();

    // Another instance of the group: its first transaction makes it known
    // to the broker (heartbeat), which then asks it about the orphan.
    let listener = ByBody::default();
    let survivor = transaction_producer(namesrv, &group, listener.clone()).await;
    let r = survivor
        .send_in_transaction(Message::new(topic, "commit-3"))
        .await
        .unwrap();
    assert_eq!(r.state, TransactionState::Commit);
    assert!(
        wait_for_body(admin, topic, "orphan-1", CHECKED_WITHIN).await,
        "the other instance's check committed the orphan"
    );
    assert!(listener.checks_of("orphan-1") >= 1);
    survivor.shutdown().await.unwrap();
}

async fn transactions_resolve_as_the_listener_says(version: BrokerVersion) {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let cluster = blocking(move || -> Result<Cluster, rmq_tests::HarnessError> {
        Cluster::start(
            ClusterSpec::with_free_ports(version)?
                .broker_config("transactionCheckInterval", "1000")
                .broker_config("transactionTimeOut", "1000"),
        )
    })
    .await
    .unwrap();
    eprintln!(
        "[transactions {version}] cluster up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let namesrv = cluster.namesrv_addr();
    let admin = Admin::connect(&namesrv).await.unwrap();
    let topic = unique("tx");
    create_topic(&admin, &topic, 2).await;

    let listener = ByBody::default();
    let p = transaction_producer(&namesrv, &unique("pg_tx"), listener.clone()).await;

    let t = Instant::now();
    committed_message_is_consumed(&p, &listener, &admin, &topic).await;
    eprintln!("[transactions {version}] commit: {:?}", t.elapsed());
    let t = Instant::now();
    rolled_back_message_is_never_consumed(&p, &listener, &admin, &topic).await;
    eprintln!("[transactions {version}] rollback: {:?}", t.elapsed());
    let t = Instant::now();
    unknown_is_committed_by_the_check_back(&p, &listener, &admin, &topic).await;
    eprintln!(
        "[transactions {version}] unknown + check-back: {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    a_slow_checker_blocks_no_send_and_no_other_check(&p, &listener, &admin, &topic).await;
    eprintln!("[transactions {version}] slow checker: {:?}", t.elapsed());
    p.shutdown().await.unwrap();
    let t = Instant::now();
    half_message_of_a_dead_producer_is_resolved_by_another_instance(&namesrv, &admin, &topic).await;
    eprintln!("[transactions {version}] takeover: {:?}", t.elapsed());

    admin.shutdown().await.unwrap();
    blocking(move || cluster.stop()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_resolve_as_the_listener_says_v5() {
    transactions_resolve_as_the_listener_says(BrokerVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_resolve_as_the_listener_says_v4() {
    transactions_resolve_as_the_listener_says(BrokerVersion::V4).await;
}
