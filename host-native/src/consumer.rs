//! [`PushConsumer`]: consumes messages pushed to a handler, in a consumer
//! group shared with Java and Go consumers.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rmq_core::client::{Client, ConsumerId};
use rmq_core::consumer::{AllocateStrategy, ConsumeResult, ConsumerConfig};
use rmq_core::engine::ClientConfig;
use rmq_core::message::MessageExt;
use rmq_core::route::MessageQueue;
use tokio::sync::{mpsc, Semaphore};

pub use rmq_core::consumer::{ConsumeFrom, MessageModel};

use crate::client::ClientHandle;
use crate::clock::wall_clock;
use crate::driver::ConsumerEvent;
use crate::settings::ClientSettings;
use crate::Error;

/// Which messages of a topic a subscription takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    expression: String,
    sql: bool,
}

impl Selector {
    /// A tag expression: `*`, `TagA`, `TagA || TagB`.
    pub fn tag(expression: impl Into<String>) -> Self {
        Selector {
            expression: expression.into(),
            sql: false,
        }
    }

    /// The expression.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// True for an SQL92 expression.
    pub fn is_sql(&self) -> bool {
        self.sql
    }

    /// Every message.
    pub fn all() -> Self {
        Selector::tag("*")
    }

    /// An SQL92 expression over message properties (the broker must run
    /// with `enablePropertyFilter=true`).
    pub fn sql(expression: impl Into<String>) -> Self {
        Selector {
            expression: expression.into(),
            sql: true,
        }
    }
}

/// The most handlers a push consumer runs at once (Java's
/// `consumeThreadMax` range check).
const MAX_THREADS: usize = 1000;

type BoxFuture = Pin<Box<dyn Future<Output = ConsumeResult> + Send>>;
type Handler = Arc<dyn Fn(Vec<MessageExt>) -> BoxFuture + Send + Sync>;

/// Builds a [`PushConsumer`].
///
/// ```no_run
/// use rmq::{ConsumeResult, PushConsumer, Selector};
/// # async fn demo() -> Result<(), rmq::Error> {
/// let consumer = PushConsumer::builder()
///     .name_server("127.0.0.1:9876")
///     .group("test")
///     .build()?;
/// consumer.subscribe("test", Selector::tag("TagA || TagB"), |msgs| async move {
///     for m in &msgs {
///         println!("{} {:?}", m.id(), m.body());
///     }
///     ConsumeResult::Success
/// })?;
/// consumer.start().await?;
/// consumer.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PushConsumerBuilder {
    settings: ClientSettings,
    consumer: ConsumerConfig,
    threads: usize,
    offset_store_dir: Option<PathBuf>,
    trace: Option<crate::trace::TraceConfig>,
}

impl Default for PushConsumerBuilder {
    fn default() -> Self {
        PushConsumerBuilder {
            settings: ClientSettings::default(),
            consumer: ConsumerConfig::default(),
            threads: 20,
            offset_store_dir: None,
            trace: None,
        }
    }
}

impl PushConsumerBuilder {
    crate::settings::client_settings_setters!("PushConsumer");

    /// The consumer group (Java `consumerGroup`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.consumer.group = group.into();
        self
    }

    /// Clustering (default) or broadcasting.
    pub fn model(mut self, model: MessageModel) -> Self {
        self.consumer.model = model;
        self
    }

    /// Where a group with no committed offset starts (default: last).
    pub fn consume_from(mut self, from: ConsumeFrom) -> Self {
        self.consumer.consume_from = from;
        self
    }

    /// The queue allocation strategy (default: averagely, as Java).
    pub fn allocation(mut self, strategy: AllocateStrategy) -> Self {
        self.consumer.allocation = strategy;
        self
    }

    /// Handlers running at once (Java `consumeThreadMax`; default 20; at
    /// most 1000, as Java checks, or `build` fails with [`Error::Config`]).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Messages per handler call (default 1).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.consumer.consume_batch_size = size.max(1);
        self
    }

    /// Deliveries before a failing message goes to the DLQ (default 16).
    pub fn max_reconsume_times(mut self, times: i32) -> Self {
        self.consumer.max_reconsume_times = times;
        self
    }

    /// Every other knob (intervals, flow control), with Java's defaults.
    pub fn config(mut self, edit: impl FnOnce(&mut ConsumerConfig)) -> Self {
        edit(&mut self.consumer);
        self
    }

    /// Client-wide knobs (route refresh and heartbeat intervals, request
    /// timeout, serialization), with Java's defaults.
    pub fn client_config(mut self, edit: impl FnOnce(&mut ClientConfig)) -> Self {
        edit(self.settings.config_mut());
        self
    }

    /// Broadcasting: where offsets are kept, as `<dir>/<client id>/<group>/offsets.json`
    /// (Java: `rocketmq.client.localOffsetStoreDir`, default `~/.rocketmq_offsets`).
    pub fn offset_store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.offset_store_dir = Some(dir.into());
        self
    }

    /// Message trace (opt-in, Java `enableMsgTrace`): every delivery is
    /// recorded before (`SubBefore`) and after (`SubAfter`) its handler to
    /// `config.topic` in the Java client's format, in the background (see
    /// [`crate::trace`]).
    pub fn trace(mut self, config: crate::trace::TraceConfig) -> Self {
        self.trace = Some(config);
        self
    }

    /// Checks the settings and builds the consumer (not yet started).
    pub fn build(mut self) -> Result<PushConsumer, Error> {
        rmq_core::message::validate_group(&self.consumer.group)
            .map_err(|e| Error::Config(format!("consumer group: {e}")))?;
        if self.threads > MAX_THREADS {
            return Err(Error::Config(format!(
                "threads {} out of range [1, {MAX_THREADS}] (Java consumeThreadMax)",
                self.threads
            )));
        }
        // Java keeps the DEFAULT instance (a stable client id, so a stable
        // offsets file) for broadcasting and makes it unique for clustering.
        let broadcasting = self.consumer.model == MessageModel::Broadcasting;
        let connection = self.settings.connect(broadcasting.then_some("DEFAULT"))?;
        self.consumer.handler_threads = self.threads;
        let offsets_file = broadcasting.then(|| {
            let dir = self.offset_store_dir.unwrap_or_else(|| {
                let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
                PathBuf::from(home).join(".rocketmq_offsets")
            });
            dir.join(&connection.config.client_id)
                .join(&self.consumer.group)
                .join("offsets.json")
        });
        let client_id = connection.config.client_id.clone();
        let tracer = self
            .trace
            .map(|config| {
                crate::trace::Tracer::new(config, &connection, &self.consumer.group, true)
            })
            .transpose()?;
        let tls = connection.tls;
        let inner = Arc::new(Inner {
            setup: Mutex::new(Some((connection.config, self.consumer))),
            subscriptions: Mutex::new(Vec::new()),
            handlers: Mutex::new(HashMap::new()),
            handle: Mutex::new(None),
            consumer: Mutex::new(None),
            client_id,
            dispatcher: Mutex::new(None),
            permits: Arc::new(Semaphore::new(self.threads)),
            stopping: AtomicBool::new(false),
            threads: self.threads,
            offsets_file,
            tracer,
            tls,
        });
        Ok(PushConsumer {
            owner: Arc::new(Owner(Arc::clone(&inner))),
            inner,
        })
    }
}

struct Inner {
    setup: Mutex<Option<(ClientConfig, ConsumerConfig)>>,
    subscriptions: Mutex<Vec<(String, Selector)>>,
    handlers: Mutex<HashMap<String, Handler>>,
    handle: Mutex<Option<ClientHandle>>,
    consumer: Mutex<Option<ConsumerId>>,
    client_id: String,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    permits: Arc<Semaphore>,
    /// Set by shutdown: queued deliveries no longer reach a handler.
    stopping: AtomicBool,
    threads: usize,
    offsets_file: Option<PathBuf>,
    tls: Option<Arc<crate::tls::TlsConnector>>,
    tracer: Option<Arc<crate::trace::Tracer>>,
}

/// A push consumer. Cheap to clone; clones share one consumer.
///
/// Dropping the last clone without [`PushConsumer::shutdown`] stops it in
/// the background: no handler starts after the drop, the group is
/// unregistered and every connection and task ends (bounded by the request
/// timeout), but offsets of handlers still running are not committed and
/// nobody waits. Call `shutdown` to wait for a clean stop.
#[derive(Clone)]
pub struct PushConsumer {
    inner: Arc<Inner>,
    /// Held by user clones only (the dispatcher task holds `inner`): its
    /// drop means nobody can shut the consumer down any more.
    #[allow(dead_code)]
    owner: Arc<Owner>,
}

/// Stops the consumer when the last user clone is dropped.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.stopping.store(true, Ordering::SeqCst);
        let handle = self.0.handle.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            // The client closes; its delivery channel with it, which ends
            // the dispatcher task and its result reporter.
            handle.begin_shutdown();
        }
    }
}

impl std::fmt::Debug for PushConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumer").finish_non_exhaustive()
    }
}

impl PushConsumer {
    /// A builder with Java's defaults.
    pub fn builder() -> PushConsumerBuilder {
        PushConsumerBuilder::default()
    }

    /// Subscribes `handler` to `topic` (before `start`). The handler gets a
    /// batch and says what became of it; an error or a panic in it counts
    /// as [`ConsumeResult::RETRY`].
    ///
    /// Subscribing to the same topic again replaces its selector and
    /// handler. After `start` (or `shutdown`) it fails with
    /// [`Error::Config`]; an invalid topic name too.
    pub fn subscribe<F, Fut>(
        &self,
        topic: &str,
        selector: Selector,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(Vec<MessageExt>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ConsumeResult> + Send + 'static,
    {
        rmq_core::message::validate_topic(topic)
            .map_err(|e| Error::Config(format!("topic: {e}")))?;
        if self
            .inner
            .setup
            .lock()
            .map_err(|_| Error::ShutDown)?
            .is_none()
        {
            return Err(Error::Config("subscribe before start()".into()));
        }
        let handler: Handler = match self.inner.tracer.clone() {
            None => Arc::new(move |msgs| Box::pin(handler(msgs))),
            Some(tracer) => Arc::new(move |msgs: Vec<MessageExt>| {
                let before = tracer.before_consume(&msgs);
                let run = handler(msgs);
                let tracer = Arc::clone(&tracer);
                Box::pin(async move {
                    let result = run.await;
                    if let Some(before) = before {
                        tracer.after_consume(before, &result);
                    }
                    result
                })
            }),
        };
        self.inner
            .handlers
            .lock()
            .map_err(|_| Error::ShutDown)?
            .insert(topic.to_string(), handler);
        let mut subscriptions = self
            .inner
            .subscriptions
            .lock()
            .map_err(|_| Error::ShutDown)?;
        // Subscribing to a topic again replaces its selector (and handler).
        subscriptions.retain(|(t, _)| t != topic);
        subscriptions.push((topic.to_string(), selector));
        Ok(())
    }

    /// Subscribes `handler` to `topic` for orderly consumption (before
    /// `start`): each queue is locked on its broker and its messages reach
    /// the handler one batch at a time, in queue order, so messages sent
    /// with one sharding key are consumed in the order they were sent.
    /// [`ConsumeResult::RETRY`] suspends the queue for a moment and retries
    /// the same batch (Java's `SUSPEND_CURRENT_QUEUE_A_MOMENT`). A consumer
    /// is orderly or concurrent for all its subscriptions, as in Java.
    pub fn subscribe_orderly<F, Fut>(
        &self,
        topic: &str,
        selector: Selector,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(Vec<MessageExt>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ConsumeResult> + Send + 'static,
    {
        if let Some((_, consumer)) = self
            .inner
            .setup
            .lock()
            .map_err(|_| Error::ShutDown)?
            .as_mut()
        {
            consumer.orderly = true;
        }
        self.subscribe(topic, selector, handler)
    }

    /// Starts: joins the group, rebalances, pulls and calls the handlers.
    ///
    /// Starting again is a no-op; starting after [`PushConsumer::shutdown`]
    /// fails with [`Error::ShutDown`]; starting without a subscription
    /// fails with [`Error::Config`].
    pub async fn start(&self) -> Result<(), Error> {
        let subscriptions = self
            .inner
            .subscriptions
            .lock()
            .map_err(|_| Error::ShutDown)?
            .clone();
        let setup = {
            let mut setup = self.inner.setup.lock().map_err(|_| Error::ShutDown)?;
            if setup.is_some() && subscriptions.is_empty() {
                // The setup stays: subscribe(), then start() again.
                return Err(Error::Config(
                    "no subscription: call subscribe() first".into(),
                ));
            }
            setup.take()
        };
        let Some((client_config, consumer_config)) = setup else {
            // Started already (a no-op), or shut down (for good).
            if self.inner.stopping.load(Ordering::SeqCst) {
                return Err(Error::ShutDown);
            }
            return Ok(());
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let version = wall_clock().now_ms;
        let stored = self
            .inner
            .offsets_file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok());
        let made: Arc<Mutex<Option<ConsumerId>>> = Arc::default();
        let made_in = Arc::clone(&made);
        let tls = self.inner.tls.clone();
        let handle = ClientHandle::with_tls(tls, move |now| {
            let mut client = Client::new(client_config, now);
            let subs: Vec<(&str, &str, bool)> = subscriptions
                .iter()
                .map(|(t, s)| (t.as_str(), s.expression.as_str(), s.sql))
                .collect();
            let id = client.add_consumer(consumer_config, &subs, stored.as_deref(), version, now);
            if let Ok(mut slot) = made_in.lock() {
                *slot = Some(id);
            }
            client
        });
        handle.set_delivery_sink(tx)?;
        handle.start()?;
        // The client is made (and the consumer added) by start().
        *self.inner.consumer.lock().map_err(|_| Error::ShutDown)? =
            made.lock().ok().and_then(|c| *c);
        *self.inner.handle.lock().map_err(|_| Error::ShutDown)? = Some(handle.clone());
        if let Some(tracer) = &self.inner.tracer {
            tracer.start()?;
        }
        let task = tokio::spawn(dispatch(Arc::clone(&self.inner), handle, rx));
        *self.inner.dispatcher.lock().map_err(|_| Error::ShutDown)? = Some(task);
        Ok(())
    }

    /// This consumer's client id (`ip@instance`), as the broker lists the
    /// group's members and as admin tools address it.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The queues this consumer owns now, by the group's last rebalance
    /// (sorted; empty before the first rebalance and after shutdown).
    pub async fn assigned_queues(&self) -> Result<Vec<MessageQueue>, Error> {
        let handle = self
            .inner
            .handle
            .lock()
            .map_err(|_| Error::ShutDown)?
            .clone()
            .ok_or(Error::NotStarted)?;
        let id =
            (*self.inner.consumer.lock().map_err(|_| Error::ShutDown)?).ok_or(Error::NotStarted)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        handle.run(move |client, _now| {
            let queues = client
                .consumer(id)
                .map(|c| c.owned_queues().cloned().collect())
                .unwrap_or_default();
            let _ = tx.send(queues);
        })?;
        rx.await.map_err(|_| Error::ShutDown)
    }

    /// Stops pulling, waits (bounded) for handlers in flight, commits
    /// offsets, unregisters and closes every connection. Shutting down
    /// again, or before `start`, is a no-op returning `Ok`.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let handle = self
            .inner
            .handle
            .lock()
            .map_err(|_| Error::ShutDown)?
            .take();
        let Some(handle) = handle else {
            // Never started (or shut down already): nothing runs, and a
            // later start() fails with `ShutDown`.
            self.inner.stopping.store(true, Ordering::SeqCst);
            if let Ok(mut setup) = self.inner.setup.lock() {
                setup.take();
            }
            return Ok(());
        };
        let all = self.inner.threads as u32;
        // Held through the shutdown: no queued delivery starts a handler
        // after the final commit.
        let _permits = tokio::time::timeout(
            Duration::from_secs(10),
            self.inner.permits.acquire_many(all),
        )
        .await;
        // Deliveries still queued were never handled: they stay
        // uncommitted and go to the group's next owner. None may start
        // once the permits are released.
        self.inner.stopping.store(true, Ordering::SeqCst);
        let shut = handle.shutdown().await;
        if let Some(tracer) = &self.inner.tracer {
            tracer.shutdown().await;
        }
        shut
    }
}

/// Runs each delivery's handler on its own task, at most `threads` at once,
/// reports the result to the core, and stores broadcasting offsets.
async fn dispatch(
    inner: Arc<Inner>,
    handle: ClientHandle,
    mut rx: mpsc::UnboundedReceiver<ConsumerEvent>,
) {
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    tokio::spawn(report_results(handle, ack_rx));
    while let Some(event) = rx.recv().await {
        let (consumer, delivery) = match event {
            ConsumerEvent::Deliver(c, d) => (c, d),
            ConsumerEvent::StoreOffsets(bytes) => {
                if let Some(file) = inner.offsets_file.clone() {
                    let stored =
                        tokio::task::spawn_blocking(move || store_atomically(&file, &bytes)).await;
                    if let Ok(Err(e)) = stored {
                        tracing::warn!(error = %e, "cannot store local offsets");
                    }
                }
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&inner.permits).acquire_owned().await else {
            return;
        };
        if inner.stopping.load(Ordering::SeqCst) {
            continue; // shut down: broadcast offsets are still stored
        }
        let topic = delivery
            .messages
            .first()
            .map(|m| m.topic().to_string())
            .unwrap_or_default();
        let handler = {
            let handlers = inner.handlers.lock().unwrap_or_else(|e| e.into_inner());
            handlers.get(&topic).cloned()
        };
        let acks = ack_tx.clone();
        let Some(handler) = handler else {
            // The group's retry topic brings back messages of every topic
            // the group consumed (RETRY_TOPIC names it): one this consumer
            // does not subscribe (any more, or another member does) is no
            // other handler's. Sent back: another member may take it, or
            // it ends in the DLQ.
            tracing::warn!(%topic, "no handler for this topic: the delivery is retried");
            let _ = acks.send(Ack {
                consumer,
                id: delivery.id,
                result: ConsumeResult::RETRY,
                _permit: permit,
            });
            continue;
        };
        tokio::spawn(async move {
            let id = delivery.id;
            // A handler that panics before it returns its future counts as
            // RETRY too: the delivery must still reach the core.
            let made = std::panic::catch_unwind(AssertUnwindSafe(|| handler(delivery.messages)));
            let result = match made {
                Ok(run) => CatchUnwind(run).await,
                Err(_) => ConsumeResult::RETRY,
            };
            let _ = acks.send(Ack {
                consumer,
                id,
                result,
                _permit: permit,
            });
        });
    }
}

/// A handler's result on its way to the core, with the permit it holds.
struct Ack {
    consumer: ConsumerId,
    id: rmq_core::consumer::DeliveryId,
    result: ConsumeResult,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Hands handlers' results to the core, as many at once as have arrived
/// (one lock and one drain for a burst), then releases their permits —
/// only then: shutdown waits for every permit, so each result it waited
/// for has reached the core before offsets are committed.
async fn report_results(handle: ClientHandle, mut acks: mpsc::UnboundedReceiver<Ack>) {
    let mut batch = Vec::new();
    while acks.recv_many(&mut batch, 256).await > 0 {
        let results: Vec<_> = batch.iter().map(|a| (a.consumer, a.id, a.result)).collect();
        let _ = handle.run(move |client, now| {
            for (consumer, id, result) in results {
                client.consumed(consumer, id, result, now);
            }
        });
        batch.clear();
    }
}

/// A handler's future whose panic counts as [`ConsumeResult::RETRY`]
/// (cheaper than a task of its own per delivery just to catch it).
struct CatchUnwind(BoxFuture);

impl Future for CatchUnwind {
    type Output = ConsumeResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConsumeResult> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(move || fut.poll(cx))) {
            Ok(poll) => poll,
            // Never polled again: Ready ends it.
            Err(_) => Poll::Ready(ConsumeResult::RETRY),
        }
    }
}

/// Writes `bytes` to `file` through a temporary file and a rename, so a
/// crash leaves the old offsets or the new ones, never half of either.
fn store_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}
