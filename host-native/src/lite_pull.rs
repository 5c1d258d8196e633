//! [`LitePullConsumer`]: the seed's "pull consumer" — the application asks
//! for messages with [`LitePullConsumer::poll`]; pulls run ahead in the
//! background within the push consumer's flow-control bounds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_core::client::{Client, ConsumerId, Outcome};
use rmq_core::consumer::{ConsumeResult, ConsumerConfig, DeliveryId};
use rmq_core::engine::ClientConfig;
use rmq_core::message::MessageExt;
use rmq_core::namespace::{unwrap_opt, wrap_opt};
use rmq_core::protocol::headers::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
};
use rmq_core::protocol::{request_code, response_code, CommandHeader, RemotingCommand};
use rmq_core::route::MessageQueue;
use tokio::sync::{mpsc, Mutex as AsyncMutex, Notify};

use crate::client::ClientHandle;
use crate::clock::wall_clock;
use crate::consumer::{ConsumeFrom, MessageModel, Selector};
use crate::driver::ConsumerEvent;
use crate::settings::ClientSettings;
use crate::trace::{TraceConfig, Tracer};
use crate::Error;

/// Builds a [`LitePullConsumer`].
#[derive(Debug, Clone, Default)]
pub struct LitePullConsumerBuilder {
    settings: ClientSettings,
    consumer: ConsumerConfig,
    manual_commit: bool,
    trace: Option<TraceConfig>,
}

impl LitePullConsumerBuilder {
    crate::settings::client_settings_setters!("LitePullConsumer");

    /// The consumer group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.consumer.group = group.into();
        self
    }

    /// Where a group with no committed offset starts (default: last).
    pub fn consume_from(mut self, from: ConsumeFrom) -> Self {
        self.consumer.consume_from = from;
        self
    }

    /// Clustering (default) or broadcasting.
    pub fn model(mut self, model: MessageModel) -> Self {
        self.consumer.model = model;
        self
    }

    /// Commit only with [`LitePullConsumer::commit`] (default: what a poll
    /// returned is committed by the next poll, Java's `autoCommit`).
    pub fn manual_commit(mut self) -> Self {
        self.manual_commit = true;
        self
    }

    /// Every other knob, with Java's defaults.
    pub fn config(mut self, edit: impl FnOnce(&mut ConsumerConfig)) -> Self {
        edit(&mut self.consumer);
        self
    }

    /// Message trace (opt-in, Java `enableMsgTrace`): every message a
    /// poll returns is recorded as consumed (`SubBefore`, then `SubAfter`
    /// with success, as Java's lite pull consumer does at poll) to
    /// `config.topic` in the Java client's format, in the background (see
    /// [`crate::trace`]).
    ///
    /// ```
    /// let builder = rmq::LitePullConsumer::builder()
    ///     .name_server("127.0.0.1:9876")
    ///     .group("traced_group")
    ///     .trace(rmq::TraceConfig::default());
    /// ```
    pub fn trace(mut self, config: TraceConfig) -> Self {
        self.trace = Some(config);
        self
    }

    /// Checks the settings and builds the consumer (not yet started).
    pub fn build(mut self) -> Result<LitePullConsumer, Error> {
        rmq_core::message::validate_group(&self.consumer.group)
            .map_err(|e| Error::Config(format!("consumer group: {e}")))?;
        let connection = self.settings.connect(None)?;
        let tracer = self
            .trace
            .map(|config| Tracer::new(config, &connection, &self.consumer.group, true))
            .transpose()?;
        // Java's lite pull consumer announces itself as a pull consumer.
        self.consumer.consume_type = rmq_core::consumer::ConsumeType::ConsumeActively;
        let namespace = connection.config.namespace.clone();
        Ok(LitePullConsumer {
            inner: Arc::new(Inner {
                setup: Mutex::new(Some(Setup {
                    client: connection.config,
                    consumer: self.consumer,
                    subscriptions: Vec::new(),
                    assigned: None,
                    tls: connection.tls,
                })),
                running: Mutex::new(None),
                buffer: AsyncMutex::new(Buffer::default()),
                manual_commit: self.manual_commit,
                namespace,
                tracer,
                closing: AtomicBool::new(false),
                closed: Notify::new(),
            }),
        })
    }
}

struct Setup {
    client: ClientConfig,
    consumer: ConsumerConfig,
    subscriptions: Vec<(String, Selector)>,
    assigned: Option<Vec<MessageQueue>>,
    /// TLS for every connection, when set.
    tls: Option<Arc<crate::tls::TlsConnector>>,
}

struct Running {
    handle: ClientHandle,
    consumer: ConsumerId,
}

/// Deliveries pulled ahead, and those handed out but not yet committed.
#[derive(Default)]
struct Buffer {
    rx: Option<mpsc::UnboundedReceiver<ConsumerEvent>>,
    ready: VecDeque<(DeliveryId, Vec<MessageExt>)>,
    handed_out: Vec<DeliveryId>,
}

struct Inner {
    setup: Mutex<Option<Setup>>,
    running: Mutex<Option<Running>>,
    buffer: AsyncMutex<Buffer>,
    manual_commit: bool,
    /// The namespace of topics and groups, if any: queues the user names
    /// are wrapped into it on the way to the client.
    namespace: Option<String>,
    tracer: Option<Arc<Tracer>>,
    /// Set by shutdown: a poll waiting for messages returns at once (it
    /// holds the buffer shutdown's commit needs).
    closing: AtomicBool,
    /// Wakes a waiting poll when `closing` is set.
    closed: Notify,
}

/// A lite pull consumer. Cheap to clone; clones share one consumer.
#[derive(Clone)]
pub struct LitePullConsumer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LitePullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LitePullConsumer").finish_non_exhaustive()
    }
}

impl LitePullConsumer {
    /// A builder with Java's defaults.
    pub fn builder() -> LitePullConsumerBuilder {
        LitePullConsumerBuilder::default()
    }

    fn with_setup<R>(&self, f: impl FnOnce(&mut Setup) -> R) -> Result<R, Error> {
        let mut setup = self.inner.setup.lock().map_err(|_| Error::ShutDown)?;
        let setup = setup
            .as_mut()
            .ok_or_else(|| Error::Config("already started".into()))?;
        Ok(f(setup))
    }

    /// Subscribes to `topic` with the group's rebalance (before `start`).
    pub fn subscribe(&self, topic: &str, selector: Selector) -> Result<(), Error> {
        rmq_core::message::validate_topic(topic)
            .map_err(|e| Error::Config(format!("topic: {e}")))?;
        self.with_setup(|s| s.subscriptions.push((topic.to_string(), selector)))
    }

    /// Consumes exactly `queues`, without a group rebalance (before `start`).
    /// Their topics are named as the application sees them (without the
    /// namespace, if any).
    pub fn assign(&self, queues: Vec<MessageQueue>) -> Result<(), Error> {
        let queues = queues.iter().map(|q| self.wire(q)).collect();
        self.with_setup(|s| s.assigned = Some(queues))
    }

    /// `queue` as the broker knows it: its topic in the namespace, if any
    /// (Java's `queueWithNamespace`).
    fn wire(&self, queue: &MessageQueue) -> MessageQueue {
        let mut queue = queue.clone();
        queue.topic = wrap_opt(self.inner.namespace.as_deref(), &queue.topic);
        queue
    }

    /// Starts pulling in the background.
    ///
    /// Starting again is a no-op; starting after
    /// [`LitePullConsumer::shutdown`] fails with [`Error::ShutDown`];
    /// starting without a subscription or assignment fails with
    /// [`Error::Config`].
    pub async fn start(&self) -> Result<(), Error> {
        if self.inner.closing.load(Ordering::SeqCst) {
            return Err(Error::ShutDown);
        }
        let setup = {
            let mut slot = self.inner.setup.lock().map_err(|_| Error::ShutDown)?;
            if slot
                .as_ref()
                .is_some_and(|s| s.subscriptions.is_empty() && s.assigned.is_none())
            {
                // The setup stays: subscribe() or assign(), then start() again.
                return Err(Error::Config("call subscribe() or assign() first".into()));
            }
            slot.take()
        };
        let Some(setup) = setup else {
            return Ok(());
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let version = wall_clock().now_ms;
        let made: Arc<Mutex<Option<ConsumerId>>> = Arc::default();
        let made_in = Arc::clone(&made);
        let tls = setup.tls.clone();
        let handle = ClientHandle::with_tls(tls, move |now| {
            let mut client = Client::new(setup.client, now);
            let subs: Vec<(&str, &str, bool)> = setup
                .subscriptions
                .iter()
                .map(|(t, s)| (t.as_str(), s.expression(), s.is_sql()))
                .collect();
            let assigned = setup.assigned;
            let id = client.add_consumer_with(setup.consumer, &subs, None, version, now, |c| {
                if let Some(queues) = assigned {
                    c.assign(queues, version);
                }
            });
            if let Ok(mut slot) = made_in.lock() {
                *slot = Some(id);
            }
            client
        });
        handle.set_delivery_sink(tx)?;
        handle.start()?;
        let consumer = made.lock().ok().and_then(|c| *c).ok_or(Error::ShutDown)?;
        self.inner.buffer.lock().await.rx = Some(rx);
        {
            let mut running = self.inner.running.lock().map_err(|_| Error::ShutDown)?;
            // A shutdown that came while this start ran found nothing to
            // stop: what started stops here.
            if !self.inner.closing.load(Ordering::SeqCst) {
                *running = Some(Running { handle, consumer });
                drop(running);
                if let Some(tracer) = &self.inner.tracer {
                    tracer.start()?;
                }
                return Ok(());
            }
        }
        let _ = handle.shutdown().await;
        Err(Error::ShutDown)
    }

    fn running(&self) -> Result<(ClientHandle, ConsumerId), Error> {
        match &*self.inner.running.lock().map_err(|_| Error::ShutDown)? {
            Some(r) => Ok((r.handle.clone(), r.consumer)),
            None if self.inner.closing.load(Ordering::SeqCst) => Err(Error::ShutDown),
            None => Err(Error::NotStarted),
        }
    }

    /// Messages pulled so far, waiting up to `timeout` for the first (a
    /// [`LitePullConsumer::shutdown`] ends the wait). With auto-commit,
    /// what the previous poll returned is committed now.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<MessageExt>, Error> {
        let (handle, consumer) = self.running()?;
        let mut buf = self.inner.buffer.lock().await;
        if !self.inner.manual_commit {
            ack(&handle, consumer, std::mem::take(&mut buf.handed_out))?;
        }
        if buf.ready.is_empty() {
            let Buffer { rx, ready, .. } = &mut *buf;
            if let Some(rx) = rx.as_mut() {
                let closed = self.inner.closed.notified();
                tokio::pin!(closed);
                closed.as_mut().enable();
                if !self.inner.closing.load(Ordering::SeqCst) {
                    tokio::select! {
                        waited = tokio::time::timeout(timeout, rx.recv()) => {
                            if let Ok(Some(event)) = waited {
                                take(event, ready);
                            }
                        }
                        () = closed => {}
                    }
                }
                while let Ok(event) = rx.try_recv() {
                    take(event, ready);
                }
            }
        }
        let mut out = Vec::new();
        while let Some((id, msgs)) = buf.ready.pop_front() {
            buf.handed_out.push(id);
            if let Some(tracer) = &self.inner.tracer {
                // Java's lite pull consumer traces a batch as consumed
                // when poll hands it out.
                if let Some(pending) = tracer.before_consume(&msgs) {
                    tracer.after_consume(pending, &ConsumeResult::Success);
                }
            }
            out.extend(msgs);
        }
        Ok(out)
    }

    /// Commits everything polls returned so far.
    pub async fn commit(&self) -> Result<(), Error> {
        let (handle, consumer) = self.running()?;
        let mut buf = self.inner.buffer.lock().await;
        ack(&handle, consumer, std::mem::take(&mut buf.handed_out))
    }

    /// The queues this consumer pulls from now (Java `assignment()`): its
    /// share by the group's last rebalance, or the assigned queues once
    /// their topic's route is known. Sorted; empty before the first
    /// rebalance.
    pub async fn assignment(&self) -> Result<Vec<MessageQueue>, Error> {
        let (handle, consumer) = self.running()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        handle.run(move |client, _now| {
            let queues: Vec<MessageQueue> = client
                .consumer(consumer)
                .map(|c| c.owned_queues().cloned().collect())
                .unwrap_or_default();
            let _ = tx.send(queues);
        })?;
        let namespace = self.inner.namespace.as_deref();
        let mut queues = rx.await.map_err(|_| Error::ShutDown)?;
        for q in &mut queues {
            q.topic = unwrap_opt(namespace, &q.topic);
        }
        Ok(queues)
    }

    /// The next poll of `queue` starts at `offset`.
    pub async fn seek(&self, queue: &MessageQueue, offset: i64) -> Result<(), Error> {
        let (handle, consumer) = self.running()?;
        let mut buf = self.inner.buffer.lock().await;
        buf.ready.retain(|(_, msgs)| {
            msgs.first()
                .is_none_or(|m| m.queue_id != queue.queue_id || m.topic() != queue.topic)
        });
        let q = self.wire(queue);
        handle.run(move |client, now| {
            client.with_consumer(consumer, now, |c, ctx| c.seek(ctx, &q, offset));
        })
    }

    /// Seeks `queue` to its first offset.
    pub async fn seek_to_begin(&self, queue: &MessageQueue) -> Result<(), Error> {
        let header = GetMinOffsetRequestHeader {
            topic: self.wire(queue).topic,
            queue_id: queue.queue_id,
            ..Default::default()
        };
        let resp = self
            .ask(queue, request_code::GET_MIN_OFFSET, &header)
            .await?;
        let h: GetMinOffsetResponseHeader =
            resp.header().map_err(|e| Error::Protocol(e.to_string()))?;
        self.seek(queue, h.offset).await
    }

    /// Seeks `queue` to its end.
    pub async fn seek_to_end(&self, queue: &MessageQueue) -> Result<(), Error> {
        let header = GetMaxOffsetRequestHeader {
            topic: self.wire(queue).topic,
            queue_id: queue.queue_id,
            ..Default::default()
        };
        let resp = self
            .ask(queue, request_code::GET_MAX_OFFSET, &header)
            .await?;
        let h: GetMaxOffsetResponseHeader =
            resp.header().map_err(|e| Error::Protocol(e.to_string()))?;
        self.seek(queue, h.offset).await
    }

    /// The offset of the first message of `queue` stored at or after
    /// `timestamp_ms` (SEARCH_OFFSET_BY_TIMESTAMP).
    pub async fn offset_for_timestamp(
        &self,
        queue: &MessageQueue,
        timestamp_ms: i64,
    ) -> Result<i64, Error> {
        let header = SearchOffsetRequestHeader {
            topic: self.wire(queue).topic,
            queue_id: queue.queue_id,
            timestamp: timestamp_ms,
            ..Default::default()
        };
        let resp = self
            .ask(queue, request_code::SEARCH_OFFSET_BY_TIMESTAMP, &header)
            .await?;
        let h: SearchOffsetResponseHeader =
            resp.header().map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(h.offset)
    }

    /// Stops pulling `queues`.
    pub fn pause(&self, queues: &[MessageQueue]) -> Result<(), Error> {
        let (handle, consumer) = self.running()?;
        let qs: Vec<MessageQueue> = queues.iter().map(|q| self.wire(q)).collect();
        handle.run(move |client, now| {
            client.with_consumer(consumer, now, |c, _| c.pause(&qs));
        })
    }

    /// Pulls `queues` again.
    pub fn resume(&self, queues: &[MessageQueue]) -> Result<(), Error> {
        let (handle, consumer) = self.running()?;
        let qs: Vec<MessageQueue> = queues.iter().map(|q| self.wire(q)).collect();
        handle.run(move |client, now| {
            client.with_consumer(consumer, now, |c, ctx| c.resume(ctx, &qs));
        })
    }

    /// Commits (with auto-commit), stops pulling, unregisters, closes.
    pub async fn shutdown(&self) -> Result<(), Error> {
        // A poll waiting for messages gives the buffer up now.
        self.inner.closing.store(true, Ordering::SeqCst);
        self.inner.closed.notify_waiters();
        if !self.inner.manual_commit {
            let _ = self.commit().await;
        }
        let running = self
            .inner
            .running
            .lock()
            .map_err(|_| Error::ShutDown)?
            .take();
        if let Some(tracer) = &self.inner.tracer {
            tracer.shutdown().await;
        }
        match running {
            Some(r) => r.handle.shutdown().await,
            None => Ok(()),
        }
    }

    /// A request about `queue` to its master broker, answered SUCCESS.
    async fn ask<H: CommandHeader>(
        &self,
        queue: &MessageQueue,
        code: i32,
        header: &H,
    ) -> Result<RemotingCommand, Error> {
        let (handle, _) = self.running()?;
        let cmd = RemotingCommand::request(code, 0).with_header(header);
        let mq = self.wire(queue);
        let outcome = handle
            .call(move |client, now, reply| {
                let addr = client
                    .engine()
                    .route(&mq.topic)
                    .and_then(|t| t.master_addr(&mq.broker_name))
                    .map(String::from);
                let timeout = client.config().request_timeout;
                match addr {
                    Some(addr) => {
                        client.request(Some(&addr), cmd, timeout, now, reply);
                    }
                    None => rmq_core::client::Caller::complete(reply, Outcome::ShutDown),
                }
            })
            .await?;
        match outcome {
            Outcome::Answered { result, .. } => {
                let resp = result.map_err(Error::from)?;
                if resp.code != response_code::SUCCESS {
                    return Err(Error::Broker {
                        broker: queue.broker_name.clone(),
                        code: resp.code,
                        remark: resp.remark.unwrap_or_default(),
                    });
                }
                Ok(resp)
            }
            _ => Err(Error::NoRoute {
                topic: queue.topic.clone(),
                reason: format!("broker {} is not routed yet", queue.broker_name),
            }),
        }
    }
}

fn take(event: ConsumerEvent, ready: &mut VecDeque<(DeliveryId, Vec<MessageExt>)>) {
    if let ConsumerEvent::Deliver(_, d) = event {
        ready.push_back((d.id, d.messages));
    }
}

fn ack(handle: &ClientHandle, consumer: ConsumerId, ids: Vec<DeliveryId>) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    handle.run(move |client, now| {
        for id in ids {
            client.consumed(consumer, id, ConsumeResult::Success, now);
        }
    })
}
