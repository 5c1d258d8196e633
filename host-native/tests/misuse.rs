//! API misuse on the tokio host: calls before start or after shutdown,
//! shutting down twice, subscribing twice, dropping a producer or consumer
//! with work in flight. Typed errors, no panic, and no task left behind
//! (counted with tokio's `num_alive_tasks`). The peer is a local name
//! server that accepts connections and never answers, so work stays in
//! flight as long as the test wants. Two cases (a handler that panics
//! before returning its future; a retried message of a topic no handler
//! takes) need a broker: `RMQ_TEST_NAMESRV_V5`.

use std::time::{Duration, Instant};

use rmq::{ConsumeResult, Error, Message, Producer, PushConsumer, Selector};
use tokio::net::TcpListener;

/// A name server that accepts and holds connections, never answering.
async fn silent_name_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits (bounded) until no more than `baseline` tasks are alive.
async fn assert_tasks_return_to(baseline: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let alive = alive_tasks();
        if alive <= baseline {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{alive} tasks alive, {baseline} before: tasks leaked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn producer(ns: &str) -> Producer {
    Producer::builder()
        .name_server(ns)
        .group("misuse_pg")
        .send_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

fn consumer(ns: &str) -> PushConsumer {
    PushConsumer::builder()
        .name_server(ns)
        .group("misuse_cg")
        .build()
        .unwrap()
}

#[tokio::test]
async fn sending_before_start_is_not_started() {
    let p = producer("127.0.0.1:1");
    let r = p.send(Message::new("misuse_t", "x")).await;
    assert!(matches!(r, Err(Error::NotStarted)), "{r:?}");
}

#[tokio::test]
async fn sending_after_shutdown_is_shut_down() {
    let (ns, server) = silent_name_server().await;
    let p = producer(&ns);
    p.start().await.unwrap();
    p.shutdown().await.unwrap();
    let r = p.send(Message::new("misuse_t", "x")).await;
    assert!(matches!(r, Err(Error::ShutDown)), "{r:?}");
    let r = p.send_oneway(Message::new("misuse_t", "x")).await;
    assert!(matches!(r, Err(Error::ShutDown)), "{r:?}");
    server.abort();
}

#[tokio::test]
async fn shutting_a_producer_down_twice_is_ok() {
    let (ns, server) = silent_name_server().await;
    let p = producer(&ns);
    p.start().await.unwrap();
    p.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    server.abort();
}

#[tokio::test]
async fn starting_a_producer_after_shutdown_is_shut_down() {
    let p = producer("127.0.0.1:1");
    p.start().await.unwrap();
    p.start().await.unwrap(); // twice: a no-op
    p.shutdown().await.unwrap();
    assert!(matches!(p.start().await, Err(Error::ShutDown)));
}

#[tokio::test]
async fn shutting_a_producer_down_before_start_is_ok_and_final() {
    let p = producer("127.0.0.1:1");
    p.shutdown().await.unwrap();
    assert!(matches!(p.start().await, Err(Error::ShutDown)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_producer_with_sends_in_flight_settles_them_and_leaks_no_task() {
    let (ns, server) = silent_name_server().await;
    let baseline = alive_tasks();
    let p = producer(&ns);
    p.start().await.unwrap();
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move { p.send(Message::new("misuse_t", format!("m{i}"))).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(p);
    for s in sends {
        let r = s.await.unwrap();
        assert!(
            matches!(
                r,
                Err(Error::Timeout { .. } | Error::NoRoute { .. } | Error::ShutDown)
            ),
            "{r:?}"
        );
    }
    assert_tasks_return_to(baseline, Duration::from_secs(10)).await;
    server.abort();
}

#[tokio::test]
async fn subscribing_after_start_is_a_config_error() {
    let (ns, server) = silent_name_server().await;
    let c = consumer(&ns);
    c.subscribe("misuse_t", Selector::all(), |_| async {
        ConsumeResult::Success
    })
    .unwrap();
    c.start().await.unwrap();
    let r = c.subscribe("misuse_t2", Selector::all(), |_| async {
        ConsumeResult::Success
    });
    assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
    c.shutdown().await.unwrap();
    server.abort();
}

#[tokio::test]
async fn subscribing_twice_to_a_topic_replaces_the_subscription() {
    let (ns, server) = silent_name_server().await;
    let c = consumer(&ns);
    c.subscribe("misuse_t", Selector::tag("A"), |_| async {
        ConsumeResult::Success
    })
    .unwrap();
    c.subscribe("misuse_t", Selector::tag("B"), |_| async {
        ConsumeResult::Success
    })
    .unwrap();
    c.start().await.unwrap();
    c.shutdown().await.unwrap();
    server.abort();
}

#[tokio::test]
async fn starting_a_consumer_without_subscription_is_a_config_error() {
    let c = consumer("127.0.0.1:1");
    assert!(matches!(c.start().await, Err(Error::Config(_))));
}

#[tokio::test]
async fn a_consumer_shut_down_twice_is_ok_and_cannot_start_again() {
    let (ns, server) = silent_name_server().await;
    let c = consumer(&ns);
    c.subscribe("misuse_t", Selector::all(), |_| async {
        ConsumeResult::Success
    })
    .unwrap();
    c.start().await.unwrap();
    c.start().await.unwrap(); // twice: a no-op
    c.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
    assert!(matches!(c.start().await, Err(Error::ShutDown)));
    assert!(matches!(c.assigned_queues().await, Err(Error::NotStarted)));
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_a_consumer_down_leaks_no_task() {
    let (ns, server) = silent_name_server().await;
    let baseline = alive_tasks();
    let c = consumer(&ns);
    c.subscribe("misuse_t", Selector::all(), |_| async {
        ConsumeResult::Success
    })
    .unwrap();
    c.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.shutdown().await.unwrap();
    assert_tasks_return_to(baseline, Duration::from_secs(10)).await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_started_consumer_stops_it_and_leaks_no_task() {
    let (ns, server) = silent_name_server().await;
    let baseline = alive_tasks();
    let c = consumer(&ns);
    c.subscribe("misuse_t", Selector::all(), |_| async {
        ConsumeResult::Success
    })
    .unwrap();
    c.start().await.unwrap();
    let clone = c.clone();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(c);
    drop(clone);
    assert_tasks_return_to(baseline, Duration::from_secs(10)).await;
    server.abort();
}

// ----- the other roles ---------------------------------------------------------

fn lite_pull(ns: &str) -> rmq::LitePullConsumer {
    rmq::LitePullConsumer::builder()
        .name_server(ns)
        .group("misuse_lite_cg")
        .build()
        .unwrap()
}

#[tokio::test]
async fn polling_a_lite_pull_consumer_before_start_is_not_started() {
    let (ns, server) = silent_name_server().await;
    let c = lite_pull(&ns);
    c.subscribe("misuse_t", Selector::all()).unwrap();
    let err = c.poll(Duration::from_millis(10)).await.unwrap_err();
    assert!(matches!(err, Error::NotStarted), "{err:?}");
    server.abort();
}

#[tokio::test]
async fn a_lite_pull_consumer_shut_down_cannot_start_again_and_polls_shut_down() {
    let (ns, server) = silent_name_server().await;
    let c = lite_pull(&ns);
    c.subscribe("misuse_t", Selector::all()).unwrap();
    c.start().await.unwrap();
    c.start().await.unwrap(); // twice: a no-op
    c.shutdown().await.unwrap();
    let r = c.start().await;
    assert!(matches!(r, Err(Error::ShutDown)), "{r:?}");
    let r = c.poll(Duration::from_millis(10)).await;
    assert!(matches!(r, Err(Error::ShutDown)), "{r:?}");

    // Shut down before it ever started: final too.
    let never = lite_pull(&ns);
    never.subscribe("misuse_t", Selector::all()).unwrap();
    never.shutdown().await.unwrap();
    let r = never.start().await;
    assert!(matches!(r, Err(Error::ShutDown)), "{r:?}");
    let r = never.poll(Duration::from_millis(10)).await;
    assert!(matches!(r, Err(Error::ShutDown)), "{r:?}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lite_pull_consumer_shut_down_twice_or_dropped_leaks_no_task() {
    let (ns, server) = silent_name_server().await;
    let baseline = alive_tasks();
    let c = lite_pull(&ns);
    c.subscribe("misuse_t", Selector::all()).unwrap();
    c.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
    assert_tasks_return_to(baseline, Duration::from_secs(10)).await;

    let dropped = lite_pull(&ns);
    dropped.subscribe("misuse_t", Selector::all()).unwrap();
    dropped.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(dropped);
    assert_tasks_return_to(baseline, Duration::from_secs(10)).await;
    server.abort();
}

struct CommitAll;
impl rmq::TransactionListener for CommitAll {
    fn execute_local(&self, _: &Message) -> rmq::TransactionState {
        rmq::TransactionState::Commit
    }
    fn check_local(&self, _: &rmq::MessageExt) -> rmq::TransactionState {
        rmq::TransactionState::Commit
    }
}

#[tokio::test]
async fn a_transaction_producer_used_before_start_or_after_shutdown_says_so_and_leaks_no_task() {
    let (ns, server) = silent_name_server().await;
    let baseline = alive_tasks();
    let p = rmq::TransactionProducer::builder()
        .name_server(&ns)
        .group("misuse_tx")
        .send_timeout(Duration::from_secs(1))
        .build_transactional(CommitAll)
        .unwrap();
    let err = p
        .send_in_transaction(Message::new("misuse_t", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotStarted), "{err:?}");
    p.start().await.unwrap();
    p.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    let err = p
        .send_in_transaction(Message::new("misuse_t", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ShutDown), "{err:?}");
    drop(p);
    assert_tasks_return_to(baseline, Duration::from_secs(10)).await;
    server.abort();
}

#[tokio::test]
async fn a_simple_consumer_used_before_start_or_after_shutdown_says_so() {
    let (ns, server) = silent_name_server().await;
    let c = rmq::SimpleConsumer::builder()
        .name_server(&ns)
        .group("misuse_pop")
        .subscribe("misuse_t", Selector::all())
        .build()
        .unwrap();
    let err = c.receive(1, Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(err, Error::NotStarted), "{err:?}");
    c.start().await.unwrap();
    c.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
    let err = c.receive(1, Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(err, Error::ShutDown), "{err:?}");
    server.abort();
}

// ----- bad settings and misuse that once panicked or hung ----------------------

#[tokio::test]
async fn a_consumer_started_without_subscription_can_subscribe_and_start_after() {
    let (ns, server) = silent_name_server().await;
    let c = consumer(&ns);
    assert!(matches!(c.start().await, Err(Error::Config(_))));
    c.subscribe("misuse_t", Selector::all(), |_| async {
        ConsumeResult::Success
    })
    .unwrap();
    c.start().await.unwrap();
    assert!(c.assigned_queues().await.is_ok(), "it runs");
    c.shutdown().await.unwrap();
    server.abort();
}

#[tokio::test]
async fn a_lite_pull_consumer_started_without_subscription_can_subscribe_and_start_after() {
    let (ns, server) = silent_name_server().await;
    let c = lite_pull(&ns);
    assert!(matches!(c.start().await, Err(Error::Config(_))));
    c.subscribe("misuse_t", Selector::all()).unwrap();
    c.start().await.unwrap();
    assert!(c.poll(Duration::from_millis(10)).await.is_ok(), "it runs");
    c.shutdown().await.unwrap();
    server.abort();
}

#[test]
fn more_handler_threads_than_java_allows_is_a_config_error() {
    for threads in [1001, u32::MAX as usize + 1, usize::MAX] {
        let err = PushConsumer::builder()
            .name_server("127.0.0.1:1")
            .group("misuse_cg")
            .threads(threads)
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{threads}: {err:?}");
    }
    let built = PushConsumer::builder()
        .name_server("127.0.0.1:1")
        .group("misuse_cg")
        .threads(1000)
        .build();
    assert!(built.is_ok());
}

#[tokio::test]
async fn a_simple_consumer_with_an_endless_await_duration_fails_typed_not_panicking() {
    let (ns, server) = silent_name_server().await;
    let c = rmq::SimpleConsumer::builder()
        .name_server(&ns)
        .group("misuse_pop")
        .subscribe("misuse_t", Selector::all())
        .await_duration(Duration::MAX)
        .build()
        .unwrap();
    c.start().await.unwrap();
    // No route ever comes: the bounded route wait ends it.
    let err = tokio::time::timeout(Duration::from_secs(15), c.receive(1, Duration::MAX))
        .await
        .expect("receive is bounded")
        .unwrap_err();
    assert!(matches!(err, Error::NoRoute { .. }), "{err:?}");
    c.shutdown().await.unwrap();
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_a_lite_pull_consumer_down_ends_a_waiting_poll_at_once() {
    let (ns, server) = silent_name_server().await;
    let c = lite_pull(&ns);
    c.subscribe("misuse_t", Selector::all()).unwrap();
    c.start().await.unwrap();
    let poller = c.clone();
    let poll = tokio::spawn(async move { poller.poll(Duration::from_secs(60)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(20), c.shutdown())
        .await
        .expect("shutdown does not wait out the poll's 60 s")
        .unwrap();
    let polled = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the poll ends with the shutdown")
        .unwrap();
    assert!(polled.unwrap().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    server.abort();
}

/// A broker-backed case: a handler that panics before it returns its
/// future (not inside it) still counts as RETRY, so an orderly queue gets
/// the batch again instead of waiting for a result forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_panicking_before_its_future_is_retried() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let ns = rmq_tests::env_cluster(rmq_tests::BrokerVersion::V5).unwrap();
    let topic = unique("misuse_panic_t");
    let group = unique("misuse_panic_cg");
    let p = started_producer(&ns, &group).await;
    p.send_ordered(Message::new(topic.as_str(), "once"), "k")
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let c = PushConsumer::builder()
        .name_server(&ns)
        .group(group.as_str())
        .consume_from(rmq::ConsumeFrom::First)
        .build()
        .unwrap();
    c.subscribe_orderly(&topic, Selector::all(), move |_msgs| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("a handler that panics before returning its future");
        }
        async { ConsumeResult::Success }
    })
    .unwrap();
    c.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    while calls.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "{} handler calls: the panicked batch was never retried",
            calls.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
}

/// A broker-backed case: the group's retry topic brings back a message of
/// a topic this consumer does not subscribe (RETRY_TOPIC names it; the
/// group consumed it before, or another member does). No handler of
/// another topic gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_message_of_an_unsubscribed_topic_reaches_no_other_handler() {
    use std::sync::{Arc, Mutex};
    let ns = rmq_tests::env_cluster(rmq_tests::BrokerVersion::V5).unwrap();
    let subscribed = unique("misuse_sub_t");
    let other = unique("misuse_unsub_t");
    let group = unique("misuse_unsub_cg");
    let p = started_producer(&ns, &group).await;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let start = || {
        let c = PushConsumer::builder()
            .name_server(&ns)
            .group(group.as_str())
            .consume_from(rmq::ConsumeFrom::First)
            .build()
            .unwrap();
        let seen = Arc::clone(&seen);
        c.subscribe(&subscribed, Selector::all(), move |msgs| {
            let mut seen = seen.lock().unwrap();
            seen.extend(msgs.iter().map(|m| m.topic().to_string()));
            async { ConsumeResult::Success }
        })
        .unwrap();
        c
    };
    let wait_for = |n: usize, what: &'static str| {
        let seen = Arc::clone(&seen);
        async move {
            let deadline = Instant::now() + Duration::from_secs(40);
            while seen.lock().unwrap().len() < n {
                assert!(Instant::now() < deadline, "{what}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // A first run makes the group, its retry topic and their routes.
    let c = start();
    c.start().await.unwrap();
    p.send(Message::new(subscribed.as_str(), "first"))
        .await
        .unwrap();
    wait_for(1, "the subscribed topic's first message never came").await;
    c.shutdown().await.unwrap();

    // What the broker's send-back writes: the retry topic, the original
    // topic in RETRY_TOPIC. Then a message of the subscribed topic.
    let retry = format!("%RETRY%{group}");
    let back = Message::new(retry.as_str(), "retried").with_property("RETRY_TOPIC", &other);
    p.send(back).await.unwrap();
    let c = start();
    c.start().await.unwrap();
    p.send(Message::new(subscribed.as_str(), "second"))
        .await
        .unwrap();
    wait_for(2, "the subscribed topic's second message never came").await;
    // The retry topic is pulled alongside; give its message time to come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|t| *t == subscribed),
        "the handler of {subscribed} got {seen:?}"
    );
}

/// A name unique to this run: `prefix`, the process id and the time.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// A started producer of group `<group>_pg` on the name server `ns`.
async fn started_producer(ns: &str, group: &str) -> Producer {
    let p = Producer::builder()
        .name_server(ns)
        .group(format!("{group}_pg"))
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}
