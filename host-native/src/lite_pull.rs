//! [`LitePullConsumer`]: the seed's "pull consumer" — the application asks
//! for messages with [`LitePullConsumer::poll`]; pulls run ahead in the
//! background within the push consumer's flow-control bounds.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_core::client::{
    identify, name_servers_or_env, parse_name_servers, Client, ConsumerId, Outcome,
};
use rmq_core::consumer::{ConsumeResult, ConsumerConfig, DeliveryId};
use rmq_core::engine::ClientConfig;
use rmq_core::message::MessageExt;
use rmq_core::protocol::headers::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
};
use rmq_core::protocol::{request_code, response_code, CommandHeader, RemotingCommand};
use rmq_core::route::MessageQueue;
use tokio::sync::{mpsc, Mutex as AsyncMutex};

use crate::client::ClientHandle;
use crate::clock::{host_facts, wall_clock};
use crate::consumer::{ConsumeFrom, MessageModel, Selector};
use crate::driver::ConsumerEvent;
use crate::Error;

/// Builds a [`LitePullConsumer`].
#[derive(Debug, Clone, Default)]
pub struct LitePullConsumerBuilder {
    client: ClientConfig,
    consumer: ConsumerConfig,
    instance: Option<String>,
    manual_commit: bool,
    tls: Option<crate::TlsConfig>,
}

impl LitePullConsumerBuilder {
    /// Adds name servers (`host:port`, `;`-separated). Default: `NAMESRV_ADDR`.
    pub fn name_server(mut self, addr: impl AsRef<str>) -> Self {
        self.client
            .name_servers
            .extend(parse_name_servers(addr.as_ref()));
        self
    }

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

    /// The instance name in the client id.
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.instance = Some(name.into());
        self
    }

    /// TLS to every name server and broker (see [`crate::TlsConfig`]):
    /// needed for servers started with `tls.server.mode=enforcing`.
    ///
    /// ```no_run
    /// # async fn demo(ca_pem: Vec<u8>) -> Result<(), rmq::Error> {
    /// let consumer = rmq::LitePullConsumer::builder()
    ///     .name_server("127.0.0.1:9876")
    ///     .group("tls_group")
    ///     .tls(rmq::TlsConfig::new().ca_pem(ca_pem))
    ///     .build()?;
    /// consumer.subscribe("tls_topic", rmq::Selector::all())?;
    /// consumer.start().await?;
    /// let messages = consumer.poll(std::time::Duration::from_secs(1)).await?;
    /// # Ok(()) }
    /// ```
    pub fn tls(mut self, tls: crate::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Checks the settings and builds the consumer (not yet started).
    pub fn build(mut self) -> Result<LitePullConsumer, Error> {
        let env = std::env::var("NAMESRV_ADDR").ok();
        self.client.name_servers = name_servers_or_env(self.client.name_servers, env.as_deref())?;
        rmq_core::message::validate_group(&self.consumer.group)
            .map_err(|e| Error::Config(format!("consumer group: {e}")))?;
        identify(&mut self.client, &host_facts(), self.instance.as_deref());
        let tls = crate::tls::connector_of(self.tls.as_ref())?;
        // Java's lite pull consumer announces itself as a pull consumer.
        self.consumer.consume_type = rmq_core::consumer::ConsumeType::ConsumeActively;
        Ok(LitePullConsumer {
            inner: Arc::new(Inner {
                setup: Mutex::new(Some(Setup {
                    client: self.client,
                    consumer: self.consumer,
                    subscriptions: Vec::new(),
                    assigned: None,
                    tls,
                })),
                running: Mutex::new(None),
                buffer: AsyncMutex::new(Buffer::default()),
                manual_commit: self.manual_commit,
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
    pub fn assign(&self, queues: Vec<MessageQueue>) -> Result<(), Error> {
        self.with_setup(|s| s.assigned = Some(queues))
    }

    /// Starts pulling in the background.
    pub async fn start(&self) -> Result<(), Error> {
        let Some(setup) = self.inner.setup.lock().map_err(|_| Error::ShutDown)?.take() else {
            return Ok(());
        };
        if setup.subscriptions.is_empty() && setup.assigned.is_none() {
            return Err(Error::Config("call subscribe() or assign() first".into()));
        }
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
        *self.inner.running.lock().map_err(|_| Error::ShutDown)? =
            Some(Running { handle, consumer });
        Ok(())
    }

    fn running(&self) -> Result<(ClientHandle, ConsumerId), Error> {
        match &*self.inner.running.lock().map_err(|_| Error::ShutDown)? {
            Some(r) => Ok((r.handle.clone(), r.consumer)),
            None => Err(Error::NotStarted),
        }
    }

    /// Messages pulled so far, waiting up to `timeout` for the first. With
    /// auto-commit, what the previous poll returned is committed now.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<MessageExt>, Error> {
        let (handle, consumer) = self.running()?;
        let mut buf = self.inner.buffer.lock().await;
        if !self.inner.manual_commit {
            ack(&handle, consumer, std::mem::take(&mut buf.handed_out))?;
        }
        if buf.ready.is_empty() {
            let Buffer { rx, ready, .. } = &mut *buf;
            if let Some(rx) = rx.as_mut() {
                if let Ok(Some(event)) = tokio::time::timeout(timeout, rx.recv()).await {
                    take(event, ready);
                }
                while let Ok(event) = rx.try_recv() {
                    take(event, ready);
                }
            }
        }
        let mut out = Vec::new();
        while let Some((id, msgs)) = buf.ready.pop_front() {
            buf.handed_out.push(id);
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

    /// The next poll of `queue` starts at `offset`.
    pub async fn seek(&self, queue: &MessageQueue, offset: i64) -> Result<(), Error> {
        let (handle, consumer) = self.running()?;
        let mut buf = self.inner.buffer.lock().await;
        buf.ready.retain(|(_, msgs)| {
            msgs.first()
                .is_none_or(|m| m.queue_id != queue.queue_id || m.topic() != queue.topic)
        });
        let q = queue.clone();
        handle.run(move |client, now| {
            client.with_consumer(consumer, now, |c, ctx| c.seek(ctx, &q, offset));
        })
    }

    /// Seeks `queue` to its first offset.
    pub async fn seek_to_begin(&self, queue: &MessageQueue) -> Result<(), Error> {
        let header = GetMinOffsetRequestHeader {
            topic: queue.topic.clone(),
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
            topic: queue.topic.clone(),
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
            topic: queue.topic.clone(),
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
        let qs = queues.to_vec();
        handle.run(move |client, now| {
            client.with_consumer(consumer, now, |c, _| c.pause(&qs));
        })
    }

    /// Pulls `queues` again.
    pub fn resume(&self, queues: &[MessageQueue]) -> Result<(), Error> {
        let (handle, consumer) = self.running()?;
        let qs = queues.to_vec();
        handle.run(move |client, now| {
            client.with_consumer(consumer, now, |c, ctx| c.resume(ctx, &qs));
        })
    }

    /// Commits (with auto-commit), stops pulling, unregisters, closes.
    pub async fn shutdown(&self) -> Result<(), Error> {
        if !self.inner.manual_commit {
            let _ = self.commit().await;
        }
        let running = self
            .inner
            .running
            .lock()
            .map_err(|_| Error::ShutDown)?
            .take();
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
        let mq = queue.clone();
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
