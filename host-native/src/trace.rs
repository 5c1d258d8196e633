//! Message trace, opt-in: a [`Producer`], [`PushConsumer`] or
//! [`LitePullConsumer`] built with [`TraceConfig`] publishes a record of
//! every acknowledged send (`Pub`; a batch is one record, its ids
//! comma-separated, as Java writes it) and of every delivery before and after
//! its handler (`SubBefore`, `SubAfter`; a lite pull consumer writes both
//! when a poll hands the messages out, as Java's does) to the trace topic,
//! unless the broker turned trace off (`traceOn=false`: its send responses
//! and, on 5.x, its stored messages say `TRACE_ON=false`; Java skips those
//! too),
//! in the Java client's format
//! ([`rmq_core::trace`]), so RocketMQ's tools read them and
//! [`Admin::message_trace`](crate::Admin::message_trace) reads Java's.
//!
//! Records go through a bounded queue to one background task that batches
//! them into trace messages sent by a producer of its own (Java
//! `AsyncTraceDispatcher`): recording never waits and never fails the
//! user's send or handler; when the queue is full a record is dropped and
//! counted ([`Producer::traces_dropped`]). That producer connects as the
//! traced client does: the same name servers, ACL credentials and
//! [`TlsConfig`](crate::TlsConfig), so tracing works against brokers that
//! enforce TLS or ACL.
//!
//! [`Producer`]: crate::Producer
//! [`PushConsumer`]: crate::PushConsumer
//! [`LitePullConsumer`]: crate::LitePullConsumer
//! [`Producer::traces_dropped`]: crate::Producer::traces_dropped

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmq_core::consumer::ConsumeResult;
use rmq_core::message::batch::ENTRY_OVERHEAD;
use rmq_core::message::property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX as UNIQ_KEY;
use rmq_core::message::{
    month_start_unix_ms, Message, MessageExt, OffsetMessageId, UniqueIdGenerator,
};
use rmq_core::producer::{SendResult, SendStatus};
use rmq_core::trace::{
    self as core_trace, ConsumeReturnType, MessageType, PubTrace, SubAfterTrace, SubBeforeTrace,
    TraceRecord,
};
use tokio::sync::{mpsc, Notify};

use crate::clock::host_facts;
use crate::settings::Connection;
use crate::Producer;

/// How message trace is published. [`TraceConfig::default`] is Java's
/// setup, but for the flush interval (Java waits up to 5 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    /// The trace topic (default `RMQ_SYS_TRACE_TOPIC`; the broker creates
    /// it with `traceTopicEnable=true`).
    pub topic: String,
    /// Records gathered before a dispatch (default and most: 20).
    pub batch_size: usize,
    /// Records waiting at most; more are dropped (default 2048, as Java;
    /// above `usize::MAX >> 3` is an [`Error::Config`](crate::Error::Config)).
    pub queue_capacity: usize,
    /// A partial batch is sent after this long (default 1 s).
    pub flush_interval: Duration,
    /// Largest trace message body (default 128,000 bytes, as Java).
    pub max_body: usize,
    /// How long shutdown waits for queued records to be sent (default 5 s).
    pub shutdown_timeout: Duration,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            topic: core_trace::TRACE_TOPIC.to_string(),
            batch_size: core_trace::MAX_BATCH,
            queue_capacity: 2048,
            flush_interval: Duration::from_secs(1),
            max_body: core_trace::MAX_TRACE_BODY,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

impl TraceConfig {
    /// The default setup, publishing to `topic`.
    pub fn with_topic(topic: impl Into<String>) -> Self {
        TraceConfig {
            topic: topic.into(),
            ..TraceConfig::default()
        }
    }
}

/// Numbers the trace producers of this process, as Java does.
static TRACE_PRODUCERS: AtomicU32 = AtomicU32::new(0);

/// A record and the topic of the message it traces (trace messages are
/// grouped by it, as Java does).
struct Entry {
    topic: String,
    record: TraceRecord,
}

/// One producer's or consumer's trace publisher.
pub(crate) struct Tracer {
    config: TraceConfig,
    group: String,
    tx: mpsc::Sender<Entry>,
    rx: Mutex<Option<mpsc::Receiver<Entry>>>,
    producer: Producer,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stop: Arc<Notify>,
    dropped: AtomicU64,
    ids: Mutex<UniqueIdGenerator>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("topic", &self.config.topic)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// A tracer for `group` (a consumer's with `consume`) of the client
    /// connected by `client`: its trace producer uses that client's name
    /// servers, ACL credentials and TLS
    /// ([`Connection::trace_settings`]), so it reaches the brokers the
    /// traced client reaches (an enforcing TLS or ACL broker refuses it
    /// otherwise).
    pub(crate) fn new(
        config: TraceConfig,
        client: &Connection,
        group: &str,
        consume: bool,
    ) -> Result<Arc<Tracer>, crate::Error> {
        rmq_core::message::validate_topic(&config.topic)
            .map_err(|e| crate::Error::Config(format!("trace topic: {e}")))?;
        if config.queue_capacity > tokio::sync::Semaphore::MAX_PERMITS {
            // tokio's channel panics past this.
            return Err(crate::Error::Config(format!(
                "trace queue_capacity {} is above {}",
                config.queue_capacity,
                tokio::sync::Semaphore::MAX_PERMITS
            )));
        }
        let n = TRACE_PRODUCERS.fetch_add(1, Ordering::Relaxed) + 1;
        let producer = Producer::builder()
            .connect_like(client.trace_settings())
            .group(core_trace::trace_producer_group(group, consume, n))
            .send_timeout(Duration::from_secs(5))
            .build()?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let facts = host_facts();
        let seed = (facts.unix_nanos as i32) ^ (n as i32);
        Ok(Arc::new(Tracer {
            config,
            group: group.to_string(),
            tx,
            rx: Mutex::new(Some(rx)),
            producer,
            task: Mutex::new(None),
            stop: Arc::new(Notify::new()),
            dropped: AtomicU64::new(0),
            ids: Mutex::new(UniqueIdGenerator::new(facts.ip, facts.pid, seed)),
        }))
    }

    /// Starts the trace producer and the dispatch task (once; inside a
    /// tokio runtime).
    pub(crate) fn start(&self) -> Result<(), crate::Error> {
        let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(rx) = rx else {
            return Ok(());
        };
        self.producer.start_untraced()?;
        let task = tokio::spawn(dispatch(
            rx,
            self.producer.clone(),
            self.config.clone(),
            Arc::clone(&self.stop),
        ));
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(())
    }

    /// Sends what is queued (bounded by the shutdown timeout) and stops.
    pub(crate) async fn shutdown(&self) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut task) = task {
            self.stop.notify_one();
            let wait = tokio::time::timeout(self.config.shutdown_timeout, &mut task).await;
            if wait.is_err() {
                task.abort();
            }
        }
        let _ = self.producer.shutdown_untraced().await;
    }

    /// Records dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn push(&self, topic: &str, record: TraceRecord) {
        let entry = Entry {
            topic: topic.to_string(),
            record,
        };
        if self.tx.try_send(entry).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(dropped = n, "trace queue full: record dropped");
        }
    }

    /// Before a send: what the `Pub` record needs of the message, or `None`
    /// for a message that is not traced (one to the trace topic itself).
    pub(crate) fn before_send(&self, message: &Message) -> Option<PendingPub> {
        if message.topic.starts_with(self.config.topic.as_str()) {
            return None;
        }
        let delay =
            message.property("__STARTDELIVERTIME").is_some() || message.property("DELAY").is_some();
        let half = message.property("TRAN_MSG") == Some("true");
        let msg_type = if half {
            MessageType::TransHalf
        } else if delay {
            MessageType::Delay
        } else {
            MessageType::Normal
        };
        Some(PendingPub {
            timestamp: unix_ms(),
            started: Instant::now(),
            topic: message.topic.clone(),
            tags: message.tags().unwrap_or("null").to_string(),
            keys: message.property("KEYS").unwrap_or("null").to_string(),
            body_length: message.body.len(),
            batch: false,
            msg_type,
        })
    }

    /// Before a batch send: what its one `Pub` record needs, or `None` for
    /// a batch to the trace topic. Java traces a batch as one message (its
    /// `MessageBatch`): the first message's topic, no tags or keys (written
    /// `null`), the encoded batch body's length, a normal message.
    pub(crate) fn before_send_batch(&self, messages: &[Message]) -> Option<PendingPub> {
        let topic = &messages.first()?.topic;
        if topic.starts_with(self.config.topic.as_str()) {
            return None;
        }
        // The encoded body, but for each message's unique id: the send
        // gives every message a new one, added in `after_send`.
        let body_length = messages
            .iter()
            .map(|m| {
                let id = m.property(UNIQ_KEY).map_or(0, uniq_key_len);
                (ENTRY_OVERHEAD + m.body.len() + m.properties.encoded_len()).saturating_sub(id)
            })
            .sum();
        Some(PendingPub {
            timestamp: unix_ms(),
            started: Instant::now(),
            topic: topic.clone(),
            tags: "null".to_string(),
            keys: "null".to_string(),
            body_length,
            batch: true,
            msg_type: MessageType::Normal,
        })
    }

    /// After an acknowledged send: records its `Pub`, unless the broker
    /// answered `TRACE_ON=false` (Java `SendMessageTraceHookImpl` skips
    /// it).
    pub(crate) fn after_send(&self, pending: PendingPub, result: &SendResult) {
        if !result.trace_on {
            return;
        }
        let cost = pending.started.elapsed().as_millis();
        // A batch's offset ids are comma-separated; all name one broker.
        let first_offset_id = result.offset_msg_id.split(',').next().unwrap_or("");
        let store_host = OffsetMessageId::decode(first_offset_id)
            .map(|id| id.addr.to_string())
            .unwrap_or_default();
        let mut body_length = pending.body_length;
        if pending.batch {
            body_length += result.msg_id.split(',').map(uniq_key_len).sum::<usize>();
        }
        let record = PubTrace {
            timestamp: pending.timestamp,
            region_id: result
                .region_id
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| core_trace::DEFAULT_REGION.to_string()),
            group: self.group.clone(),
            topic: pending.topic.clone(),
            msg_id: result.msg_id.clone(),
            tags: pending.tags,
            keys: pending.keys,
            store_host,
            body_length: i32::try_from(body_length).unwrap_or(i32::MAX),
            cost_ms: i32::try_from(cost).unwrap_or(i32::MAX),
            msg_type: pending.msg_type,
            offset_msg_id: Some(result.offset_msg_id.clone()),
            success: result.status == SendStatus::Ok,
            client_host: None,
        };
        self.push(&pending.topic, TraceRecord::Pub(record));
    }

    /// Before a handler: records `SubBefore` for every traced message of
    /// the delivery (all but those with `TRACE_ON=false`).
    pub(crate) fn before_consume(&self, msgs: &[MessageExt]) -> Option<PendingSub> {
        let now = unix_ms();
        let request_id = {
            let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
            ids.next(now, month_start_unix_ms(now, 0))
        };
        let mut traced = Vec::new();
        for m in msgs {
            if !core_trace::trace_switch_on(m.property(core_trace::TRACE_SWITCH)) {
                continue;
            }
            // 5.x brokers store the region in every message, 4.9 brokers
            // in none. The Java 5.x client then publishes no consume record
            // at all (the 4.9 client writes `null`); rmq names the default
            // region, so consumes from 4.9 brokers are traced too.
            let region = m
                .property("MSG_REGION")
                .unwrap_or(core_trace::DEFAULT_REGION);
            let keys = m.property("KEYS").unwrap_or("null").to_string();
            let record = SubBeforeTrace {
                timestamp: now,
                region_id: region.to_string(),
                group: self.group.clone(),
                request_id: request_id.clone(),
                msg_id: m.id().to_string(),
                retry_times: m.reconsume_times,
                keys: keys.clone(),
            };
            self.push(m.topic(), TraceRecord::SubBefore(record));
            traced.push((m.topic().to_string(), m.id().to_string(), keys));
        }
        if traced.is_empty() {
            return None;
        }
        Some(PendingSub {
            request_id,
            started: Instant::now(),
            batch: msgs.len().max(1),
            traced,
        })
    }

    /// After a handler: records `SubAfter` for every message `before`
    /// recorded.
    pub(crate) fn after_consume(&self, pending: PendingSub, result: &ConsumeResult) {
        let per_message = pending.started.elapsed().as_millis() / pending.batch as u128;
        let (success, code) = match result {
            ConsumeResult::Success => (true, ConsumeReturnType::Success),
            ConsumeResult::RetryLater { .. } => (false, ConsumeReturnType::Failed),
        };
        let now = unix_ms();
        for (topic, msg_id, keys) in pending.traced {
            let record = SubAfterTrace {
                request_id: pending.request_id.clone(),
                msg_id,
                cost_ms: i32::try_from(per_message).unwrap_or(i32::MAX),
                success,
                keys,
                context_code: Some(code.ordinal()),
                timestamp: Some(now),
                group: Some(self.group.clone()),
            };
            self.push(&topic, TraceRecord::SubAfter(record));
        }
    }
}

/// What a `Pub` record needs from before the send.
pub(crate) struct PendingPub {
    timestamp: i64,
    started: Instant,
    topic: String,
    tags: String,
    keys: String,
    /// Body bytes; a batch's encoded body without its unique ids.
    body_length: usize,
    /// Whether this is a batch (its ids are known after the send).
    batch: bool,
    msg_type: MessageType,
}

/// Encoded length of a `UNIQ_KEY` property holding `id`.
fn uniq_key_len(id: &str) -> usize {
    UNIQ_KEY.len() + id.len() + 2
}

/// What `SubAfter` records need from before the handler.
pub(crate) struct PendingSub {
    request_id: String,
    started: Instant,
    batch: usize,
    /// (topic, message id, keys) of each traced message.
    traced: Vec<(String, String, String)>,
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Gathers records into batches and sends them, until stopped; then sends
/// what is left.
async fn dispatch(
    mut rx: mpsc::Receiver<Entry>,
    producer: Producer,
    config: TraceConfig,
    stop: Arc<Notify>,
) {
    let batch = config.batch_size.clamp(1, core_trace::MAX_BATCH);
    let mut pending: Vec<Entry> = Vec::with_capacity(batch);
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let flush_at = deadline;
        tokio::select! {
            entry = rx.recv() => match entry {
                Some(entry) => {
                    pending.push(entry);
                    if pending.len() >= batch {
                        send_batch(&producer, &config, &mut pending).await;
                        deadline = None;
                    } else if deadline.is_none() {
                        // None past the clock's range (Duration::MAX): a
                        // partial batch waits for more, or for shutdown.
                        deadline = tokio::time::Instant::now().checked_add(config.flush_interval);
                    }
                }
                None => break,
            },
            () = async {
                match flush_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                send_batch(&producer, &config, &mut pending).await;
                deadline = None;
            }
            () = stop.notified() => break,
        }
    }
    // Stopping: what is queued now goes out too, in batches.
    while let Ok(entry) = rx.try_recv() {
        pending.push(entry);
        if pending.len() >= batch {
            send_batch(&producer, &config, &mut pending).await;
        }
    }
    send_batch(&producer, &config, &mut pending).await;
}

/// Sends `pending` as trace messages: one per traced topic, cut where a body
/// would pass `max_body`.
async fn send_batch(producer: &Producer, config: &TraceConfig, pending: &mut Vec<Entry>) {
    let mut by_topic: Vec<(String, Vec<TraceRecord>)> = Vec::new();
    for entry in pending.drain(..) {
        match by_topic.iter_mut().find(|(t, _)| *t == entry.topic) {
            Some((_, records)) => records.push(entry.record),
            None => by_topic.push((entry.topic, vec![entry.record])),
        }
    }
    for (_, records) in by_topic {
        let mut body = String::new();
        let mut chunk: Vec<TraceRecord> = Vec::new();
        for record in records {
            let mut one = String::new();
            record.encode_into(&mut one);
            if !chunk.is_empty() && body.len() + one.len() > config.max_body {
                send_one(producer, config, std::mem::take(&mut body), &chunk).await;
                chunk.clear();
            }
            body.push_str(&one);
            chunk.push(record);
        }
        if !chunk.is_empty() {
            send_one(producer, config, body, &chunk).await;
        }
    }
}

async fn send_one(
    producer: &Producer,
    config: &TraceConfig,
    body: String,
    records: &[TraceRecord],
) {
    let message =
        Message::new(config.topic.as_str(), body).with_keys(core_trace::index_keys(records));
    if let Err(e) = producer.send(message).await {
        tracing::warn!(topic = %config.topic, records = records.len(), "sending trace data failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_core::protocol::FrameDecoder;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// The first request a client sends to a name server listening here
    /// (which never answers), within 10 s.
    async fn first_request(listener: TcpListener) -> rmq_core::protocol::RemotingCommand {
        let read = async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut dec = FrameDecoder::default();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = sock.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed before a whole request");
                dec.feed(&buf[..n]);
                if let Some(cmd) = dec.decode_next().unwrap() {
                    return cmd;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("the trace producer asked the name server within 10 s")
    }

    /// A client's resolved settings with the name server at `addr`.
    fn connection(addr: &str) -> crate::settings::Connection {
        let mut settings = crate::settings::ClientSettings::default();
        settings.add_name_servers(addr);
        settings.connect(None).unwrap()
    }

    fn record() -> TraceRecord {
        TraceRecord::SubAfter(SubAfterTrace {
            request_id: "r".into(),
            msg_id: "m".into(),
            cost_ms: 1,
            success: true,
            keys: "null".into(),
            context_code: None,
            timestamp: None,
            group: None,
        })
    }

    #[tokio::test]
    async fn an_unbounded_queue_capacity_is_a_config_error() {
        let client = connection("127.0.0.1:1");
        let config = TraceConfig {
            queue_capacity: usize::MAX,
            ..TraceConfig::default()
        };
        let r = Tracer::new(config, &client, "pg_huge_queue", false);
        assert!(matches!(r, Err(crate::Error::Config(_))), "{r:?}");
    }

    #[tokio::test]
    async fn an_endless_flush_interval_does_not_end_the_dispatch_task() {
        let client = connection("127.0.0.1:1");
        let config = TraceConfig {
            flush_interval: Duration::MAX,
            shutdown_timeout: Duration::from_millis(100),
            ..TraceConfig::with_topic("trace_topic")
        };
        let tracer = Tracer::new(config, &client, "pg_endless_flush", false).unwrap();
        tracer.start().unwrap();
        tracer.push("traced_topic", record());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let task = tracer.task.lock().unwrap().take().unwrap();
        assert!(!task.is_finished(), "the dispatch task ended (panicked)");
        *tracer.task.lock().unwrap() = Some(task);
        tracer.shutdown().await;
    }

    #[tokio::test]
    async fn the_trace_producer_signs_with_the_traced_clients_credentials() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut settings = crate::settings::ClientSettings::default();
        settings.add_name_servers(&listener.local_addr().unwrap().to_string());
        settings.set_credentials(
            rmq_core::acl::AclCredentials::new("traced_ak", "traced_sk")
                .with_security_token("traced_token"),
        );
        let client = settings.connect(None).unwrap();
        let config = TraceConfig {
            flush_interval: Duration::from_millis(10),
            shutdown_timeout: Duration::from_millis(100),
            ..TraceConfig::with_topic("trace_topic")
        };
        let tracer = Tracer::new(config, &client, "pg_traced", false).unwrap();
        tracer.start().unwrap();
        tracer.push("traced_topic", record());
        let request = first_request(listener).await;
        let ext = &request.ext_fields;
        assert_eq!(ext.get(rmq_core::acl::ACCESS_KEY), Some("traced_ak"));
        assert_eq!(ext.get(rmq_core::acl::SECURITY_TOKEN), Some("traced_token"));
        assert!(ext.get(rmq_core::acl::SIGNATURE).is_some(), "{ext:?}");
        tracer.shutdown().await;
    }
}
