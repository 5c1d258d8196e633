//! [`SimpleConsumer`]: POP consumption on 5.x brokers. The broker hands out
//! messages ([`SimpleConsumer::receive`]); each stays invisible to the
//! group for its invisible time and is delivered again unless acknowledged
//! ([`SimpleConsumer::ack`]) or given more time
//! ([`SimpleConsumer::change_invisible_time`]). No rebalance, no offsets.
//!
//! The protocol (requests, handles, answers) is [`rmq_core::consumer::pop`];
//! this type carries it over the tokio host's client as raw requests, so
//! they are signed like every other request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmq_core::client::{Client, Outcome};
use rmq_core::consumer::pop::{
    ack_request, ack_result, change_invisible_time_request, changed_handle, pop_request,
    PopRequest, PopResult, PopRole, PopStatus, ReceiptHandle, MAX_POP_BATCH,
};
use rmq_core::message::MessageExt;
use rmq_core::namespace::{unwrap_opt, wrap_opt};
use rmq_core::protocol::RemotingCommand;
use tokio::time::Instant as TokioInstant;

use crate::client::ClientHandle;
use crate::clock::wall_clock;
use crate::consumer::Selector;
use crate::settings::ClientSettings;
use crate::Error;

/// How long [`SimpleConsumer::receive`] waits for a topic's route.
const ROUTE_WAIT: Duration = Duration::from_secs(5);

/// Builds a [`SimpleConsumer`].
#[derive(Debug, Clone)]
pub struct SimpleConsumerBuilder {
    settings: ClientSettings,
    group: String,
    subscriptions: Vec<(String, Selector)>,
    await_duration: Duration,
    fifo: bool,
}

impl Default for SimpleConsumerBuilder {
    fn default() -> Self {
        SimpleConsumerBuilder {
            settings: ClientSettings::default(),
            group: String::new(),
            subscriptions: Vec::new(),
            await_duration: Duration::from_secs(5),
            fifo: false,
        }
    }
}

impl SimpleConsumerBuilder {
    crate::settings::client_settings_setters!("SimpleConsumer");

    /// The consumer group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Subscribes to `topic` with `selector` (several topics may be added).
    pub fn subscribe(mut self, topic: impl Into<String>, selector: Selector) -> Self {
        self.subscriptions.push((topic.into(), selector));
        self
    }

    /// How long one [`SimpleConsumer::receive`] may wait for messages
    /// when there are none (broker long polling; default 5 s).
    pub fn await_duration(mut self, wait: Duration) -> Self {
        self.await_duration = wait;
        self
    }

    /// FIFO: each queue is popped in order, and a queue's next messages
    /// come only after the ones handed out are acknowledged or become
    /// visible again (the broker's orderly pop).
    pub fn fifo(mut self, fifo: bool) -> Self {
        self.fifo = fifo;
        self
    }

    /// Checks the settings and builds the consumer (not yet started).
    pub fn build(mut self) -> Result<SimpleConsumer, Error> {
        rmq_core::message::validate_group(&self.group)
            .map_err(|e| Error::Config(format!("consumer group: {e}")))?;
        if self.subscriptions.is_empty() {
            return Err(Error::Config(
                "a simple consumer needs a subscription".into(),
            ));
        }
        for (topic, _) in &self.subscriptions {
            rmq_core::message::validate_topic(topic)
                .map_err(|e| Error::Config(format!("topic: {e}")))?;
        }
        let connection = self.settings.connect(None)?;
        let (client, tls) = (connection.config, connection.tls);
        let timeout = client.request_timeout;
        // Names as the broker knows them: in the namespace, if any.
        let namespace = client.namespace.clone();
        let ns = namespace.as_deref();
        self.group = wrap_opt(ns, &self.group);
        for (topic, _) in &mut self.subscriptions {
            *topic = wrap_opt(ns, topic);
        }
        let group = self.group.clone();
        let subs: Vec<(String, String, bool)> = self
            .subscriptions
            .iter()
            .map(|(t, s)| (t.clone(), s.expression().to_string(), s.is_sql()))
            .collect();
        let version = wall_clock().now_ms;
        let handle = ClientHandle::with_tls(tls, move |now| {
            let mut client = Client::new(client, now);
            let borrowed: Vec<(&str, &str, bool)> = subs
                .iter()
                .map(|(t, e, s)| (t.as_str(), e.as_str(), *s))
                .collect();
            let role = PopRole::new(&group, &borrowed, version);
            let start = role.clone();
            client.add_role(Box::new(role), now, |ctx| start.start(ctx));
            client
        });
        Ok(SimpleConsumer {
            inner: Arc::new(Inner {
                handle,
                group: self.group,
                subscriptions: self.subscriptions,
                await_duration: self.await_duration,
                fifo: self.fifo,
                namespace,
                timeout,
                next: AtomicUsize::new(0),
            }),
        })
    }
}

/// A message handed out by [`SimpleConsumer::receive`], with the receipt
/// that acknowledges it.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The message (topic = the subscribed topic, without the namespace;
    /// `reconsume_times` counts earlier deliveries).
    pub message: MessageExt,
    handle: ReceiptHandle,
    /// The topic as the broker knows it.
    topic: String,
    addr: String,
}

impl ReceivedMessage {
    /// The receipt handle (Java's `POP_CK` / gRPC receipt handle); it
    /// changes with every [`SimpleConsumer::change_invisible_time`].
    pub fn handle(&self) -> &ReceiptHandle {
        &self.handle
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.message.message.body
    }
}

struct Inner {
    handle: ClientHandle,
    group: String,
    subscriptions: Vec<(String, Selector)>,
    await_duration: Duration,
    fifo: bool,
    namespace: Option<String>,
    timeout: Duration,
    next: AtomicUsize,
}

/// A POP consumer (5.x brokers). Cheap to clone; clones share one client.
#[derive(Clone)]
pub struct SimpleConsumer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimpleConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleConsumer")
            .field("group", &self.inner.group)
            .finish_non_exhaustive()
    }
}

/// One place to pop from: a subscription on one broker.
struct Target {
    sub: usize,
    broker_name: String,
    addr: String,
}

impl SimpleConsumer {
    /// A builder with the defaults.
    pub fn builder() -> SimpleConsumerBuilder {
        SimpleConsumerBuilder::default()
    }

    /// Starts the client: the group joins the heartbeats, routes are fetched.
    pub async fn start(&self) -> Result<(), Error> {
        self.inner.handle.start()
    }

    /// Up to `max` (at most 32) messages, each invisible to the group for
    /// `invisible_time`; empty when none came within the await duration.
    /// A 4.x broker (no POP) gives [`Error::Unsupported`].
    pub async fn receive(
        &self,
        max: u32,
        invisible_time: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        let inner = &self.inner;
        // A far-off await duration (Duration::MAX) must not overflow.
        let now = TokioInstant::now();
        let deadline = now
            .checked_add(inner.await_duration)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        let max = max.clamp(1, MAX_POP_BATCH);
        loop {
            let targets = self.targets().await?;
            let start = inner.next.fetch_add(1, Ordering::Relaxed);
            // A quick pass over every target, then a long poll on one.
            for i in 0..targets.len() {
                let t = &targets[(start + i) % targets.len()];
                let found = self.pop(t, max, invisible_time, Duration::ZERO).await?;
                if !found.is_empty() {
                    return Ok(found);
                }
            }
            let left = deadline.saturating_duration_since(TokioInstant::now());
            if left < Duration::from_millis(50) {
                return Ok(Vec::new());
            }
            let t = &targets[start % targets.len()];
            let found = self.pop(t, max, invisible_time, left).await?;
            if !found.is_empty() || TokioInstant::now() >= deadline {
                return Ok(found);
            }
        }
    }

    /// Acknowledges `msg`: it is never delivered to the group again. Fails
    /// with [`Error::Broker`] when its handle expired (the invisible time
    /// passed, or its invisible time was changed since it was received).
    pub async fn ack(&self, msg: &ReceivedMessage) -> Result<(), Error> {
        let topic = &msg.topic;
        let cmd = ack_request(&self.inner.group, topic, &msg.handle, None);
        let resp = self.request(&msg.addr, cmd, self.inner.timeout).await?;
        ack_result(&resp, &msg.addr)
    }

    /// Makes `msg` visible again `invisible_time` from now (extends or
    /// shortens its invisibility); `msg` gets the new handle, which the
    /// next ack must use.
    pub async fn change_invisible_time(
        &self,
        msg: &mut ReceivedMessage,
        invisible_time: Duration,
    ) -> Result<(), Error> {
        let topic = &msg.topic;
        let cmd = change_invisible_time_request(
            &self.inner.group,
            topic,
            &msg.handle,
            invisible_time,
            None,
        );
        let resp = self.request(&msg.addr, cmd, self.inner.timeout).await?;
        let handle = changed_handle(&resp, &msg.addr, &msg.handle)?;
        msg.message
            .message
            .properties
            .insert(rmq_core::message::property::POP_CK, handle.to_string());
        msg.handle = handle;
        Ok(())
    }

    /// Leaves the group and closes every connection.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.handle.shutdown().await
    }

    async fn pop(
        &self,
        target: &Target,
        max: u32,
        invisible_time: Duration,
        poll_time: Duration,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        let inner = &self.inner;
        let (topic, selector) = &inner.subscriptions[target.sub];
        let req = PopRequest {
            group: &inner.group,
            topic,
            broker_name: &target.broker_name,
            queue_id: -1,
            max,
            invisible_time,
            poll_time,
            born_ms: wall_clock().now_ms,
            expression_type: if selector.is_sql() { "SQL92" } else { "TAG" },
            expression: selector.expression(),
            order: inner.fifo,
            namespace: None,
        };
        let cmd = pop_request(&req);
        let resp = self
            .request(&target.addr, cmd, poll_time.saturating_add(inner.timeout))
            .await?;
        let result = PopResult::from_response(&resp, &target.addr, &req)?;
        if result.status != PopStatus::Found {
            return Ok(Vec::new());
        }
        Ok(result
            .messages
            .into_iter()
            .map(|mut m| {
                let wire = std::mem::take(&mut m.message.message.topic);
                m.message.message.topic = unwrap_opt(inner.namespace.as_deref(), &wire);
                ReceivedMessage {
                    message: m.message,
                    handle: m.handle,
                    topic: wire,
                    addr: target.addr.clone(),
                }
            })
            .collect())
    }

    /// Every (subscription, broker) with readable queues, waiting a bounded
    /// time for routes not yet known.
    async fn targets(&self) -> Result<Vec<Target>, Error> {
        let deadline = TokioInstant::now() + ROUTE_WAIT;
        loop {
            let mut targets = Vec::new();
            self.inner.handle.run(|client, _| {
                for (sub, (topic, _)) in self.inner.subscriptions.iter().enumerate() {
                    let Some(table) = client.engine().route(topic) else {
                        continue;
                    };
                    let mut names: Vec<&str> = table
                        .subscribe_queues()
                        .iter()
                        .map(|q| q.broker_name.as_str())
                        .collect();
                    names.dedup();
                    for name in names {
                        if let Some(addr) = table.master_addr(name) {
                            targets.push(Target {
                                sub,
                                broker_name: name.to_string(),
                                addr: addr.to_string(),
                            });
                        }
                    }
                }
            })?;
            if !targets.is_empty() {
                return Ok(targets);
            }
            if TokioInstant::now() >= deadline {
                return Err(Error::NoRoute {
                    topic: self.inner.subscriptions[0].0.clone(),
                    reason: "no readable queue with a master broker".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn request(
        &self,
        addr: &str,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, Error> {
        let outcome = self
            .inner
            .handle
            .call(|client, now, reply| {
                client.request(Some(addr), command, timeout, now, reply);
            })
            .await?;
        match outcome {
            Outcome::Answered { result, .. } => result.map_err(Error::from),
            _ => Err(Error::ShutDown),
        }
    }
}
