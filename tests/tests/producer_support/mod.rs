//! Shared helpers of the `producer_*` integration tests: unique names, topic
//! creation on the real broker, reading a topic back with raw pulls, and a
//! message's trace records read back.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rmq::rmq_core::protocol::headers::{
    CreateTopicRequestHeader, QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
    TopicFilterType,
};
use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq::rmq_core::trace::TraceRecord;
use rmq::{Admin, LitePullConsumer, MessageExt, MessageQueue, Producer, PullStatus, RouteTable};
use rmq::{ConsumeFrom, ConsumeResult, PushConsumer, Selector};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};

/// The consumer group used for raw read-back pulls.
pub const READER_GROUP: &str = "rmq_it_producer_reader";

/// A topic/group name unique to this test run: `name`, the time and a counter.
pub fn unique(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{name}_{}_{}_{n}",
        std::process::id(),
        (nanos % 1_000_000_000_000) as u64
    )
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A started producer of a fresh group on `namesrv`.
pub async fn producer(namesrv: &str, test: &str) -> Producer {
    let producer = Producer::builder()
        .name_server(namesrv)
        .group(unique(&format!("pg_{test}")))
        .build()
        .unwrap();
    producer.start().await.unwrap();
    producer
}

/// Java's `String.hashCode` over UTF-16 code units, written independently
/// of the crate under test.
pub fn java_hash_code(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Creates `topic` with `queues` read and write queues on every master that
/// serves the auto-create template topic, and waits until the name server
/// routes it.
pub async fn create_topic(admin: &Admin, topic: &str, queues: i32) -> RouteTable {
    let template = admin.topic_route("TBW102").await.unwrap();
    let masters: Vec<String> = template
        .broker_datas
        .iter()
        .map(|b| b.master_addr().unwrap().to_string())
        .collect();
    create_topic_at(admin, topic, queues, &masters).await;
    // Each broker registers its new topic with the name server on its own:
    // a route naming only some of them is not the whole topic yet.
    let want = template.broker_datas.len();
    wait_for_route_where(admin, topic, Duration::from_secs(15), |table| {
        table.broker_names().count() >= want
    })
    .await
}

/// Creates `topic` with `queues` read and write queues on the broker at
/// each of `addrs` (UPDATE_AND_CREATE_TOPIC from the template TBW102).
pub async fn create_topic_at(admin: &Admin, topic: &str, queues: i32, addrs: &[String]) {
    for addr in addrs {
        let header = CreateTopicRequestHeader {
            topic: topic.to_string(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: None,
            rpc: Default::default(),
        };
        let cmd =
            RemotingCommand::request(request_code::UPDATE_AND_CREATE_TOPIC, 0).with_header(&header);
        let resp = admin
            .request(Some(addr), cmd, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            resp.code,
            response_code::SUCCESS,
            "create {topic} on {addr}: {resp:?}"
        );
    }
}

/// Creates `topic` with `queues` queues on each of `brokers` (name,
/// address) and waits until the name server routes it to exactly those.
pub async fn create_topic_on_each(
    admin: &Admin,
    topic: &str,
    queues: i32,
    brokers: &[(String, String)],
) {
    let addrs: Vec<String> = brokers.iter().map(|(_, a)| a.clone()).collect();
    create_topic_at(admin, topic, queues, &addrs).await;
    let want: std::collections::BTreeSet<&str> = brokers.iter().map(|(n, _)| n.as_str()).collect();
    wait_for_route_where(admin, topic, Duration::from_secs(30), |table| {
        let routed: std::collections::BTreeSet<&str> = table
            .publish_queues()
            .iter()
            .map(|q| q.broker_name.as_str())
            .collect();
        routed == want
    })
    .await;
}

/// Polls the name server until it routes `topic`.
pub async fn wait_for_route(admin: &Admin, topic: &str, limit: Duration) -> RouteTable {
    wait_for_route_where(admin, topic, limit, |table| {
        !table.publish_queues().is_empty()
    })
    .await
}

/// Polls the name server (up to `limit`) until its route of `topic`
/// satisfies `ready`; returns that route.
async fn wait_for_route_where(
    admin: &Admin,
    topic: &str,
    limit: Duration,
    ready: impl Fn(&RouteTable) -> bool,
) -> RouteTable {
    let start = Instant::now();
    loop {
        if let Ok(route) = admin.topic_route(topic).await {
            let table = RouteTable::new(topic, &route);
            if ready(&table) {
                return table;
            }
        }
        assert!(
            start.elapsed() < limit,
            "the name server never routed {topic} as the test needs within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to 10 s) until every broker serving `topic` has indexed for
/// pulls all it had stored when the wait began: a broker acknowledges a
/// send once the message is in its commit log and dispatches it to the
/// consume queue a moment later, so a read right after an acknowledged send
/// could miss it on a busy machine. Read from the broker's runtime info:
/// `commitLogMaxOffset` (taken first) less `dispatchBehindBytes` is where
/// dispatch has got to. Best effort: a broker that will not say (ACL) is
/// read at once.
pub async fn wait_for_dispatch(admin: &Admin, topic: &str) {
    let Ok(route) = admin.topic_route(topic).await else {
        return;
    };
    let start = Instant::now();
    for broker in &route.broker_datas {
        let Some(addr) = broker.master_addr() else {
            continue;
        };
        let mut target = None;
        while start.elapsed() < Duration::from_secs(10) {
            let Some((end, behind)) = dispatch_state(admin, addr).await else {
                break;
            };
            let target = *target.get_or_insert(end);
            if behind <= 0 || end - behind >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A broker's commit log end and how far its dispatch is behind it.
async fn dispatch_state(admin: &Admin, addr: &str) -> Option<(i64, i64)> {
    let info = admin.broker_runtime_info(addr).await.ok()?;
    let number = |key: &str| info.get(key)?.parse::<i64>().ok();
    Some((
        number("commitLogMaxOffset")?,
        number("dispatchBehindBytes")?,
    ))
}

/// Every message stored in `queue`, in queue order (once the broker has
/// indexed what it acknowledged, see [`wait_for_dispatch`]).
pub async fn read_queue(admin: &Admin, queue: &MessageQueue) -> Vec<MessageExt> {
    wait_for_dispatch(admin, &queue.topic).await;
    read_queue_as_indexed(admin, queue).await
}

/// Every message `queue` holds for pulls now.
async fn read_queue_as_indexed(admin: &Admin, queue: &MessageQueue) -> Vec<MessageExt> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let r = pull_retrying(admin, queue, offset).await;
        match r.status {
            PullStatus::Found => {
                out.extend(r.messages);
                offset = r.next_begin_offset;
            }
            PullStatus::OffsetIllegal if r.next_begin_offset > offset => {
                offset = r.next_begin_offset;
            }
            _ => return out,
        }
    }
}

/// One raw pull of up to 32 messages from `offset`, tried up to three
/// times: a busy broker may time a single request out.
async fn pull_retrying(admin: &Admin, queue: &MessageQueue, offset: i64) -> rmq::PullResult {
    let mut attempt = 1;
    loop {
        match admin.pull(READER_GROUP, queue, offset, 32).await {
            Ok(r) => return r,
            Err(e) if attempt == 3 => panic!("pull {queue:?} at {offset}: {e}"),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Polls `queue` until it holds at least `n` messages (brokers index a
/// stored message for pulls shortly after acknowledging it), or 10 s pass;
/// returns what was found last.
pub async fn read_queue_until(admin: &Admin, queue: &MessageQueue, n: usize) -> Vec<MessageExt> {
    let start = Instant::now();
    loop {
        let found = read_queue(admin, queue).await;
        if found.len() >= n || start.elapsed() >= Duration::from_secs(10) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message stored in any readable queue of `topic` (once indexed,
/// see [`wait_for_dispatch`]).
pub async fn read_topic(admin: &Admin, topic: &str) -> Vec<MessageExt> {
    let route = admin.topic_route(topic).await.unwrap();
    let table = RouteTable::new(topic, &route);
    wait_for_dispatch(admin, topic).await;
    let mut out = Vec::new();
    for q in table.subscribe_queues() {
        out.extend(read_queue_as_indexed(admin, q).await);
    }
    out
}

/// Polls `topic` until it holds at least `n` messages, or `limit` passes;
/// returns what was found last.
pub async fn wait_for_messages(
    admin: &Admin,
    topic: &str,
    n: usize,
    limit: Duration,
) -> Vec<MessageExt> {
    let start = Instant::now();
    loop {
        let found = match admin.topic_route(topic).await {
            Ok(_) => read_topic(admin, topic).await,
            Err(_) => Vec::new(),
        };
        if found.len() >= n || start.elapsed() >= limit {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The group's committed offset of `queue` at the broker; `None` when it
/// has none.
pub async fn committed_offset(
    admin: &Admin,
    table: &RouteTable,
    group: &str,
    queue: &MessageQueue,
) -> Option<i64> {
    let addr = table.master_addr(&queue.broker_name).unwrap().to_string();
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        set_zero_if_not_found: Some(false),
        ..Default::default()
    };
    let cmd = RemotingCommand::request(request_code::QUERY_CONSUMER_OFFSET, 0).with_header(&header);
    let resp = admin
        .request(Some(&addr), cmd, Duration::from_secs(10))
        .await
        .unwrap();
    match resp.code {
        response_code::SUCCESS => {
            let offset = resp
                .header::<QueryConsumerOffsetResponseHeader>()
                .unwrap()
                .offset;
            (offset >= 0).then_some(offset)
        }
        response_code::QUERY_NOT_FOUND => None,
        code => panic!("QUERY_CONSUMER_OFFSET answered {code}: {resp:?}"),
    }
}

/// What a [`recording_consumer`] has consumed so far.
pub type Seen = std::sync::Arc<std::sync::Mutex<Vec<MessageExt>>>;

/// A started push consumer of `group` on `topic` with short intervals
/// (route refresh, rebalance and long poll 2 s, pull retry 0.5 s) that
/// records every message it consumes, from the first offset.
pub async fn recording_consumer(namesrv: &str, group: &str, topic: &str) -> (PushConsumer, Seen) {
    let c = PushConsumer::builder()
        .name_server(namesrv)
        .group(group)
        .consume_from(ConsumeFrom::First)
        .client_config(|c| c.route_refresh_interval = Duration::from_secs(2))
        .config(|c| {
            c.rebalance_interval = Duration::from_secs(2);
            c.pull_suspend = Duration::from_secs(2);
            c.pull_backoff_on_error = Duration::from_millis(500);
        })
        .build()
        .unwrap();
    let seen: Seen = Seen::default();
    let log = std::sync::Arc::clone(&seen);
    c.subscribe(topic, Selector::all(), move |msgs| {
        let log = std::sync::Arc::clone(&log);
        async move {
            log.lock().unwrap().extend(msgs);
            ConsumeResult::Success
        }
    })
    .unwrap();
    c.start().await.unwrap();
    (c, seen)
}

/// A private cluster of `version` (free ports) with a second master,
/// `broker-b`, next to the harness's `broker-a`.
pub async fn two_broker_cluster(version: BrokerVersion) -> Cluster {
    tokio::task::spawn_blocking(move || -> Result<Cluster, rmq_tests::HarnessError> {
        let mut c = Cluster::start(ClusterSpec::with_free_ports(version)?)?;
        c.add_broker("broker-b")?;
        Ok(c)
    })
    .await
    .unwrap()
    .unwrap()
}

/// The trace of `msg_id` (read from `trace_topic`, or the default trace
/// topic) once it holds `n` records, polled for up to 30 s; what was found
/// last.
pub async fn trace_of(
    admin: &Admin,
    msg_id: &str,
    trace_topic: Option<&str>,
    n: usize,
) -> Vec<TraceRecord> {
    let start = Instant::now();
    loop {
        let records = admin
            .message_trace(msg_id, trace_topic)
            .await
            .unwrap_or_default();
        if records.len() >= n || start.elapsed() > Duration::from_secs(30) {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Polls `c` until `n` messages came or `limit` passed; what came.
pub async fn poll_until(c: &LitePullConsumer, n: usize, limit: Duration) -> Vec<MessageExt> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < limit {
        out.extend(c.poll(Duration::from_millis(500)).await.unwrap());
    }
    out
}

/// Waits (up to 30 s) until two members of a group own disjoint, non-empty
/// shares that together cover the topic's `queues` queues; `assignments`
/// answers both members' queues now (e.g. their `assigned_queues()` or
/// `assignment()`). Sending before then races the rebalance, which a loaded
/// machine may take longer than any fixed wait to finish.
pub async fn wait_for_split(
    queues: usize,
    assignments: impl AsyncFn() -> (Vec<MessageQueue>, Vec<MessageQueue>),
) {
    let owned = |queues: Vec<MessageQueue>| -> std::collections::BTreeSet<i32> {
        queues.iter().map(|q| q.queue_id).collect()
    };
    let start = Instant::now();
    loop {
        let (a, b) = assignments().await;
        let (a, b) = (owned(a), owned(b));
        if !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && a.len() + b.len() == queues {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the group never split the {queues} queues: {a:?} {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
