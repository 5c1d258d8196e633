//! [`Producer`]: sends messages to Apache RocketMQ brokers.

use std::time::Duration;

use rmq_core::client::{Client, Outcome, ProducerId};
use rmq_core::message::Message;
use rmq_core::producer::{
    Payload, ProducerConfig, QueueSelector, QueueTarget, SendReceipt, SendRequest,
};
use rmq_core::protocol::SerializeType;
use rmq_core::route::MessageQueue;

use crate::client::ClientHandle;
use crate::clock::wall_clock;
use crate::driver::Reply;
use crate::settings::ClientSettings;
use crate::trace::{TraceConfig, Tracer};
use crate::{Error, SendResult};

/// Builds a [`Producer`].
///
/// ```no_run
/// # async fn demo() -> Result<(), rmq::Error> {
/// let producer = rmq::Producer::builder()
///     .name_server("127.0.0.1:9876")
///     .group("test")
///     .retries(2)
///     .build()?;
/// producer.start().await?;
/// let result = producer.send(rmq::Message::new("test", "hello").with_tags("TagA")).await?;
/// println!("{}", result.msg_id);
/// producer.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProducerBuilder {
    settings: ClientSettings,
    producer: ProducerConfig,
    trace: Option<TraceConfig>,
}

impl ProducerBuilder {
    crate::settings::client_settings_setters!("Producer");

    /// The producer group (Java `producerGroup`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.producer.group = group.into();
        self
    }

    /// Retries of a failed synchronous send (default 2).
    pub fn retries(mut self, retries: u32) -> Self {
        self.producer.retries = retries;
        self
    }

    /// Whole-send deadline, retries included (default 3 s).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.producer.send_timeout = timeout;
        self
    }

    /// Bodies larger than this are compressed (default 4096 bytes).
    pub fn compress_threshold(mut self, bytes: usize) -> Self {
        self.producer.compress_threshold = bytes;
        self
    }

    /// Latency-based fault avoidance (default off, like Java).
    pub fn fault_avoidance(mut self, on: bool) -> Self {
        self.producer.fault_avoidance = on;
        self
    }

    /// Header serialization: binary (default) or JSON.
    pub fn serialize_type(mut self, ser: SerializeType) -> Self {
        self.settings.config_mut().serialize_type = ser;
        self
    }

    /// Message trace (opt-in, Java `enableMsgTrace`): every acknowledged
    /// send is recorded to `config.topic` in the Java client's format, in
    /// the background (see [`crate::trace`]).
    pub fn trace(mut self, config: TraceConfig) -> Self {
        self.trace = Some(config);
        self
    }

    /// Connects with `settings` alone, in place of any set so far (a trace
    /// producer's setup: see [`crate::settings::Connection::trace_settings`]).
    pub(crate) fn connect_like(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Checks the settings and builds the producer (not yet started). Name
    /// servers default to `NAMESRV_ADDR`.
    pub fn build(self) -> Result<Producer, Error> {
        self.build_with(|_, _, _| {})
    }

    /// The producer group set so far.
    pub(crate) fn group_name(&self) -> &str {
        &self.producer.group
    }

    /// [`ProducerBuilder::build`], with `prepare` run on the client's
    /// producer when the client is made (at start).
    pub(crate) fn build_with(
        self,
        prepare: impl FnOnce(&mut Client<Reply>, ProducerId, rmq_core::time::Instant) + Send + 'static,
    ) -> Result<Producer, Error> {
        rmq_core::message::validate_group(&self.producer.group)
            .map_err(|e| Error::Config(format!("producer group: {e}")))?;
        let connection = self.settings.connect(None)?;
        let tracer = match self.trace {
            Some(config) => Some(Tracer::new(
                config,
                &connection,
                &self.producer.group,
                false,
            )?),
            None => None,
        };
        let (client, producer, tls) = (connection.config, self.producer, connection.tls);
        let handle = ClientHandle::with_tls(tls, move |now| {
            let mut client = Client::new(client, now);
            let id = client.add_producer(producer, now);
            prepare(&mut client, id, now);
            client
        });
        Ok(Producer { handle, tracer })
    }
}

/// Sends messages. Cheap to clone; every clone drives the same client, and
/// sends may be awaited concurrently from many tasks.
#[derive(Clone)]
pub struct Producer {
    pub(crate) handle: ClientHandle,
    tracer: Option<std::sync::Arc<Tracer>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

impl Producer {
    /// A builder with Java's defaults.
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    /// Starts the client. Connections open lazily on first use. Starting
    /// again is a no-op; starting after [`Producer::shutdown`] fails with
    /// [`Error::ShutDown`].
    pub async fn start(&self) -> Result<(), Error> {
        self.start_untraced()?;
        if let Some(tracer) = &self.tracer {
            tracer.start()?;
        }
        Ok(())
    }

    /// Starts the client alone (a trace producer's start).
    pub(crate) fn start_untraced(&self) -> Result<(), Error> {
        self.handle.start()
    }

    /// Shuts the client down alone (a trace producer's shutdown).
    pub(crate) async fn shutdown_untraced(&self) -> Result<(), Error> {
        self.handle.shutdown().await
    }

    /// Trace records dropped because the trace queue was full (0 without
    /// trace).
    pub fn traces_dropped(&self) -> u64 {
        self.tracer.as_ref().map_or(0, |t| t.dropped())
    }

    /// Sends one message and waits for the broker's acknowledgement,
    /// retrying on another broker as configured.
    ///
    /// Every send fails with [`Error::NotStarted`] before
    /// [`Producer::start`] and with [`Error::ShutDown`] after
    /// [`Producer::shutdown`]; a send in flight when the producer shuts
    /// down settles with a typed error by its deadline.
    pub async fn send(&self, message: Message) -> Result<SendResult, Error> {
        self.submit(Payload::Single(message), QueueTarget::Any, false)
            .await
            .and_then(acknowledged)
    }

    /// Writes one message without waiting for an acknowledgement.
    pub async fn send_oneway(&self, message: Message) -> Result<(), Error> {
        self.submit(Payload::Single(message), QueueTarget::Any, true)
            .await
            .map(|_| ())
    }

    /// Sends messages of one topic as one request; they are stored in order.
    /// With trace, the batch is one `Pub` record naming every id, as Java
    /// writes it.
    pub async fn send_batch(&self, messages: Vec<Message>) -> Result<SendResult, Error> {
        self.submit(Payload::Batch(messages), QueueTarget::Any, false)
            .await
            .and_then(acknowledged)
    }

    /// Sends to exactly this queue (no retry elsewhere).
    pub async fn send_to_queue(
        &self,
        message: Message,
        queue: MessageQueue,
    ) -> Result<SendResult, Error> {
        self.submit(Payload::Single(message), QueueTarget::Queue(queue), false)
            .await
            .and_then(acknowledged)
    }

    /// Sends to the queue the sharding key hashes to — the same queue the
    /// Java client's `SelectMessageQueueByHash` picks — so messages of one
    /// key stay in order.
    pub async fn send_ordered(
        &self,
        message: Message,
        sharding_key: impl Into<String>,
    ) -> Result<SendResult, Error> {
        let target = QueueTarget::ShardingKey(sharding_key.into());
        self.submit(Payload::Single(message), target, false)
            .await
            .and_then(acknowledged)
    }

    /// Sends to the queue `selector` picks among the topic's writable queues.
    pub async fn send_with_selector(
        &self,
        message: Message,
        selector: impl QueueSelector + Send + 'static,
    ) -> Result<SendResult, Error> {
        let target = QueueTarget::Selector(Box::new(selector));
        self.submit(Payload::Single(message), target, false)
            .await
            .and_then(acknowledged)
    }

    /// Unregisters from every broker and closes every connection (bounded:
    /// sends in flight get until their deadline). Shutting down again, or
    /// before `start`, is a no-op returning `Ok`. Dropping the last clone
    /// without it shuts down in the background, without waiting.
    pub async fn shutdown(&self) -> Result<(), Error> {
        if let Some(tracer) = &self.tracer {
            tracer.shutdown().await;
        }
        self.handle.shutdown().await
    }

    async fn submit(
        &self,
        payload: Payload,
        target: QueueTarget,
        oneway: bool,
    ) -> Result<SendReceipt, Error> {
        let traced = match (&self.tracer, &payload) {
            (Some(tracer), Payload::Single(m)) if !oneway => {
                tracer.before_send(m).map(|p| (tracer, p))
            }
            (Some(tracer), Payload::Batch(ms)) if !oneway => {
                tracer.before_send_batch(ms).map(|p| (tracer, p))
            }
            _ => None,
        };
        let receipt = self.submit_untraced(payload, target, oneway).await;
        if let (Some((tracer, pending)), Ok(SendReceipt::Acknowledged(r))) = (traced, &receipt) {
            tracer.after_send(pending, r);
        }
        receipt
    }

    async fn submit_untraced(
        &self,
        payload: Payload,
        target: QueueTarget,
        oneway: bool,
    ) -> Result<SendReceipt, Error> {
        let request = SendRequest {
            payload,
            target,
            oneway,
            timeout: None,
            clock: wall_clock(),
        };
        // The one producer of this client. The core settles every send by
        // its deadline (tested in the engine scenarios): no host timer.
        let outcome = self
            .handle
            .call(move |client, now, reply| {
                let producer = client.producers().next();
                match producer {
                    Some(p) => {
                        client.send(p, request, now, reply);
                    }
                    None => rmq_core::client::Caller::complete(reply, Outcome::ShutDown),
                }
            })
            .await?;
        match outcome {
            Outcome::Sent { result, .. } => result.map_err(Error::from),
            _ => Err(Error::ShutDown),
        }
    }
}

fn acknowledged(receipt: SendReceipt) -> Result<SendResult, Error> {
    match receipt {
        SendReceipt::Acknowledged(r) => Ok(r),
        SendReceipt::Written { .. } => Err(Error::Protocol(
            "oneway receipt for a synchronous send".into(),
        )),
    }
}
