//! The client layer every host shares: the engine with its roles, the
//! completion table that hands each caller its result, and the setup a
//! host needs (name-server lists, identity, socket policy, the error type).
//!
//! A host is then: sockets, one timer, a monotonic clock, a wall clock, and
//! waking callers. It creates a [`Client`], feeds it inputs, and follows the
//! [engine's drain rule](crate::engine#the-drain-rule): after every input
//! or command, drain [`Client::poll_transmit`] (and, with consumers,
//! [`Client::poll_delivery`] and [`Client::poll_offset_snapshot`]), then
//! re-arm its timer at [`Client::poll_timeout`]. Feeding a transmit's
//! result back (connected, closed, write blocked) from inside the drain
//! loop is allowed. Callers are completed inside the call that settles
//! them, through their [`Caller`]. `core/examples/blocking.rs` is a whole
//! host on `std::net` in a few hundred lines.
//!
//! ```
//! use rmq_core::client::{Caller, Client, Outcome};
//! use rmq_core::engine::{ClientConfig, Transmit};
//! use rmq_core::message::Message;
//! use rmq_core::producer::{ProducerConfig, SendRequest, WallClock};
//! use rmq_core::time::Instant;
//!
//! struct Print;
//! impl Caller for Print {
//!     fn complete(self, outcome: Outcome) { println!("{outcome:?}"); }
//! }
//!
//! let config = ClientConfig { name_servers: vec!["127.0.0.1:9876".into()], ..Default::default() };
//! let mut client: Client<Print> = Client::new(config, Instant::ZERO);
//! let producer = client.add_producer(ProducerConfig::default(), Instant::ZERO);
//! let send = SendRequest::new(Message::new("orders", "paid"), WallClock::from_unix_ms(0));
//! client.send(producer, send, Instant::ZERO, Print);
//! // First the route: connect to the name server.
//! assert!(matches!(client.poll_transmit(), Some(Transmit::Connect { .. })));
//! ```

mod error;
mod pull;
mod requests;
mod setup;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::time::Duration;

pub use error::Error;
pub use pull::{pull_request, PullResult, PullStatus, PULL_SUBSCRIPTION_FLAG};
pub use requests::{RequestId, REQUEST_GUARD};
pub use setup::{identify, name_servers_or_env, parse_name_servers, HostFacts, HostPolicy};

use alloc::boxed::Box;

use crate::consumer::{ConsumeResult, ConsumerConfig, Delivery, DeliveryId, PushConsumer};
use crate::engine::{
    ClientConfig, ConnId, Context, Engine, MaybeSend, RequestError, Role, RoleId, Roles, Transmit,
};
use crate::producer::{Producer, ProducerConfig, SendError, SendId, SendReceipt, SendRequest};
use crate::protocol::RemotingCommand;
use crate::time::Instant;
use requests::RawRequests;

use crate::namespace;
use alloc::string::String;

/// What a caller waited for.
#[derive(Debug)]
pub enum Outcome {
    /// A send finished.
    Sent {
        /// Which send.
        id: SendId,
        /// Its outcome.
        result: Result<SendReceipt, SendError>,
    },
    /// A raw request finished.
    Answered {
        /// Which request.
        id: RequestId,
        /// The response, whatever its code, or why there is none.
        result: Result<RemotingCommand, RequestError>,
    },
    /// The client shut down: every connection is closed.
    ShutDown,
}

/// Whoever waits for an operation: a oneshot sender, a JS promise's
/// resolver, a test's log. Completed exactly once, inside the client call
/// that settled the operation — so `complete` must not call back into the
/// client.
pub trait Caller {
    /// Hands over the outcome.
    fn complete(self, outcome: Outcome);
}

/// A push-consumer group registered with [`Client::add_consumer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerId(RoleId);

/// A producer group registered with [`Client::add_producer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProducerId(RoleId);

/// A role of the caller's own making, held by the client
/// ([`Client::add_role`]); implemented for every [`Role`] that is
/// [`MaybeSend`].
pub trait CustomRole: Role + MaybeSend {
    /// Itself, as a [`Role`].
    fn as_role(&mut self) -> &mut dyn Role;
}

impl<T: Role + MaybeSend> CustomRole for T {
    fn as_role(&mut self) -> &mut dyn Role {
        self
    }
}

/// Every role of one client, in registration order (index = role id).
enum Slot {
    Raw(RawRequests),
    Producer(Box<Producer>),
    Consumer(Box<PushConsumer>),
    Custom(Box<dyn CustomRole>),
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Slot::Raw(r) => r.fmt(f),
            Slot::Producer(p) => p.fmt(f),
            Slot::Consumer(c) => c.fmt(f),
            Slot::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[derive(Debug, Default)]
struct RoleTable {
    slots: Vec<Slot>,
}

impl Roles for RoleTable {
    fn role_mut(&mut self, id: RoleId) -> Option<&mut dyn Role> {
        match self.slots.get_mut(id.index())? {
            Slot::Raw(r) => Some(r),
            Slot::Producer(p) => Some(p.as_mut()),
            Slot::Consumer(c) => Some(c.as_mut()),
            Slot::Custom(c) => Some(c.as_role()),
        }
    }
}

/// Who waits for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    Send(RoleId, SendId),
    Request(RequestId),
}

/// The engine, its roles and their callers. See the [module docs](self).
#[derive(Debug)]
pub struct Client<C> {
    engine: Engine,
    roles: RoleTable,
    raw: RoleId,
    callers: BTreeMap<Pending, C>,
    shutdown_callers: Vec<C>,
}

impl<C: Caller> Client<C> {
    /// A client with no producer or consumer yet.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let mut engine = Engine::new(config, now);
        let raw = engine.register_role();
        let mut roles = RoleTable::default();
        roles.slots.push(Slot::Raw(RawRequests::default()));
        Client {
            engine,
            roles,
            raw,
            callers: BTreeMap::new(),
            shutdown_callers: Vec::new(),
        }
    }

    /// The engine (read-only: its configuration, routes, heartbeat data).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The client configuration.
    pub fn config(&self) -> &ClientConfig {
        self.engine.config()
    }

    /// `name` in the client's namespace, if it has one
    /// ([`crate::namespace::wrap`]).
    pub fn wrap(&self, name: &str) -> String {
        namespace::wrap_opt(self.engine.config().namespace.as_deref(), name)
    }

    /// `name` out of the client's namespace, if it has one
    /// ([`crate::namespace::unwrap`]).
    pub fn unwrap(&self, name: &str) -> String {
        namespace::unwrap_opt(self.engine.config().namespace.as_deref(), name)
    }

    /// Adds a producer group; every heartbeat carries it from now on.
    pub fn add_producer(&mut self, mut config: ProducerConfig, now: Instant) -> ProducerId {
        config.group = self.wrap(&config.group);
        let role = self.engine.register_role();
        let mut producer = Producer::new(config, self.engine.config());
        producer.start(&mut self.engine.context(role, now));
        debug_assert_eq!(role.index(), self.roles.slots.len());
        self.roles.slots.push(Slot::Producer(Box::new(producer)));
        ProducerId(role)
    }

    /// Adds a push-consumer group subscribed to `subscriptions` (topic,
    /// expression, SQL92 or tags) and starts it: it joins the group with
    /// the next heartbeat, rebalances and pulls. `version` orders
    /// subscription changes (Java: the wall-clock time, in ms). A
    /// broadcasting consumer starts from `stored_offsets`, the bytes its
    /// host kept from an earlier [`Client::poll_offset_snapshot`].
    pub fn add_consumer(
        &mut self,
        config: ConsumerConfig,
        subscriptions: &[(&str, &str, bool)],
        stored_offsets: Option<&[u8]>,
        version: i64,
        now: Instant,
    ) -> ConsumerId {
        self.add_consumer_with(config, subscriptions, stored_offsets, version, now, |_| {})
    }

    /// [`Client::add_consumer`], with `prepare` run on the consumer before
    /// it starts (lite pull's [`PushConsumer::assign`]).
    pub fn add_consumer_with(
        &mut self,
        config: ConsumerConfig,
        subscriptions: &[(&str, &str, bool)],
        stored_offsets: Option<&[u8]>,
        version: i64,
        now: Instant,
        prepare: impl FnOnce(&mut PushConsumer),
    ) -> ConsumerId {
        let mut config = config;
        config.group = self.wrap(&config.group);
        let wrapped: Vec<(String, &str, bool)> = subscriptions
            .iter()
            .map(|(t, e, sql)| (self.wrap(t), *e, *sql))
            .collect();
        let subscriptions: Vec<(&str, &str, bool)> = wrapped
            .iter()
            .map(|(t, e, sql)| (t.as_str(), *e, *sql))
            .collect();
        let subscriptions = subscriptions.as_slice();
        let role = self.engine.register_role();
        let mut consumer = PushConsumer::new(config, &self.engine.config().client_id);
        prepare(&mut consumer);
        if let Some(stored) = stored_offsets {
            consumer.restore_offsets(stored);
        }
        for (topic, expression, sql) in subscriptions {
            consumer.subscribe(topic, expression, *sql, version);
        }
        consumer.start(&mut self.engine.context(role, now), version);
        debug_assert_eq!(role.index(), self.roles.slots.len());
        self.roles.slots.push(Slot::Consumer(Box::new(consumer)));
        self.settle(now);
        ConsumerId(role)
    }

    /// Runs `f` on consumer `id` with its context (lite pull's seek,
    /// pause and resume), then settles.
    pub fn with_consumer<R>(
        &mut self,
        id: ConsumerId,
        now: Instant,
        f: impl FnOnce(&mut PushConsumer, &mut Context<'_>) -> R,
    ) -> Option<R> {
        let role = id.0;
        let out = match self.roles.slots.get_mut(role.index()) {
            Some(Slot::Consumer(c)) => Some(f(c, &mut self.engine.context(role, now))),
            _ => None,
        };
        self.settle(now);
        out
    }

    /// The consumer registered as `id`.
    pub fn consumer(&self, id: ConsumerId) -> Option<&PushConsumer> {
        match self.roles.slots.get(id.0.index())? {
            Slot::Consumer(c) => Some(c),
            _ => None,
        }
    }

    /// The next batch of messages for a consumer's handler. Drain it after
    /// every input, with the transmits.
    pub fn poll_delivery(&mut self) -> Option<(ConsumerId, Delivery)> {
        for (index, slot) in self.roles.slots.iter_mut().enumerate() {
            if let Slot::Consumer(c) = slot {
                if let Some(mut d) = c.poll_delivery() {
                    if let Some(ns) = self.engine.config().namespace.as_deref() {
                        d.queue.topic = namespace::unwrap(ns, &d.queue.topic);
                        for m in &mut d.messages {
                            m.message.topic = namespace::unwrap(ns, &m.message.topic);
                        }
                    }
                    return Some((ConsumerId(RoleId::from_index(index)), d));
                }
            }
        }
        None
    }

    /// Broadcasting: the next offset snapshot a consumer wants stored.
    pub fn poll_offset_snapshot(&mut self) -> Option<(ConsumerId, Vec<u8>)> {
        for (index, slot) in self.roles.slots.iter_mut().enumerate() {
            if let Slot::Consumer(c) = slot {
                if let Some(bytes) = c.poll_offset_snapshot() {
                    return Some((ConsumerId(RoleId::from_index(index)), bytes));
                }
            }
        }
        None
    }

    /// A consumer's handler finished delivery `id`.
    pub fn consumed(
        &mut self,
        consumer: ConsumerId,
        id: DeliveryId,
        result: ConsumeResult,
        now: Instant,
    ) {
        let role = consumer.0;
        if let Some(Slot::Consumer(c)) = self.roles.slots.get_mut(role.index()) {
            c.consumed(&mut self.engine.context(role, now), id, result);
        }
        self.settle(now);
    }

    /// Every producer group of this client, in registration order.
    pub fn producers(&self) -> impl Iterator<Item = ProducerId> + '_ {
        self.roles
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Producer(_) => Some(ProducerId(RoleId::from_index(i))),
                _ => None,
            })
    }

    /// The producer registered as `id`.
    pub fn producer(&self, id: ProducerId) -> Option<&Producer> {
        match self.roles.slots.get(id.0.index())? {
            Slot::Producer(p) => Some(p),
            _ => None,
        }
    }

    /// Runs `f` on producer `id` with its context (make it transactional,
    /// end a transaction, start a request), then settles.
    pub fn with_producer<R>(
        &mut self,
        id: ProducerId,
        now: Instant,
        f: impl FnOnce(&mut Producer, &mut Context<'_>) -> R,
    ) -> Option<R> {
        let role = id.0;
        let out = match self.roles.slots.get_mut(role.index()) {
            Some(Slot::Producer(p)) => Some(f(p, &mut self.engine.context(role, now))),
            _ => None,
        };
        self.settle(now);
        out
    }

    /// Adds a role of the caller's own making (an extension, a test's
    /// scripted role); `start` runs at once with the role's context, to
    /// set its group data, watch routes, arm timers.
    pub fn add_role(
        &mut self,
        role: Box<dyn CustomRole>,
        now: Instant,
        start: impl FnOnce(&mut Context<'_>),
    ) -> RoleId {
        let id = self.engine.register_role();
        debug_assert_eq!(id.index(), self.roles.slots.len());
        self.roles.slots.push(Slot::Custom(role));
        start(&mut self.engine.context(id, now));
        self.settle(now);
        id
    }

    /// Starts a send with `producer`; `caller` gets [`Outcome::Sent`].
    pub fn send(
        &mut self,
        producer: ProducerId,
        request: SendRequest,
        now: Instant,
        caller: C,
    ) -> SendId {
        let mut request = request;
        if let Some(ns) = self.engine.config().namespace.as_deref() {
            wrap_request(ns, &mut request);
        }
        let role = producer.0;
        let id = match self.roles.slots.get_mut(role.index()) {
            Some(Slot::Producer(p)) => p.send(&mut self.engine.context(role, now), request),
            _ => {
                debug_assert!(false, "send on a role that is not a producer");
                caller.complete(Outcome::Sent {
                    id: SendId(0),
                    result: Err(SendError::NotRunning),
                });
                return SendId(0);
            }
        };
        self.callers.insert(Pending::Send(role, id), caller);
        self.settle(now);
        id
    }

    /// Sends a raw request to `addr`, or to the current name server with
    /// `None`; `caller` gets [`Outcome::Answered`] with the response
    /// whatever its code. The engine signs it when the client has
    /// credentials. Long-poll pulls pass a `timeout` longer than their
    /// suspend time; a oneway command completes at once with SUCCESS.
    pub fn request(
        &mut self,
        addr: Option<&str>,
        command: RemotingCommand,
        timeout: Duration,
        now: Instant,
        caller: C,
    ) -> RequestId {
        let role = self.raw;
        let id = match self.roles.slots.get_mut(role.index()) {
            Some(Slot::Raw(r)) => {
                r.request(&mut self.engine.context(role, now), addr, command, timeout)
            }
            _ => {
                debug_assert!(false, "the raw-request role is missing");
                return RequestId(0);
            }
        };
        self.callers.insert(Pending::Request(id), caller);
        self.settle(now);
        id
    }

    /// Begins shutdown: new work is refused, sends in flight settle
    /// (bounded), every group unregisters, every connection closes; then
    /// `caller` gets [`Outcome::ShutDown`], as does every caller still
    /// waiting (with a failure).
    pub fn shutdown(&mut self, now: Instant, caller: C) {
        if self.engine.is_closed() {
            caller.complete(Outcome::ShutDown);
            return;
        }
        self.shutdown_callers.push(caller);
        if self.engine.is_running() {
            for (index, slot) in self.roles.slots.iter_mut().enumerate() {
                if let Slot::Consumer(c) = slot {
                    let role = RoleId::from_index(index);
                    c.stop(&mut self.engine.context(role, now));
                }
            }
        }
        let settle_by = self
            .roles
            .slots
            .iter()
            .filter_map(|s| match s {
                Slot::Producer(p) => p.next_deadline(),
                _ => None,
            })
            .min()
            .unwrap_or(now);
        self.engine.shutdown(settle_by, now);
        self.settle(now);
    }

    /// True once shutdown finished.
    pub fn is_closed(&self) -> bool {
        self.engine.is_closed()
    }

    // ----- inputs, delegated to the engine, each followed by a settle --------

    /// See [`Engine::handle_connected`].
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        self.engine.handle_connected(conn, now);
        self.settle(now);
    }

    /// See [`Engine::handle_closed`].
    pub fn handle_closed(&mut self, conn: ConnId, reason: &str, now: Instant) {
        self.engine.handle_closed(conn, reason, now);
        self.settle(now);
    }

    /// See [`Engine::handle_input`].
    pub fn handle_input(&mut self, conn: ConnId, bytes: &[u8], now: Instant) {
        self.engine.handle_input(conn, bytes, now);
        self.settle(now);
    }

    /// See [`Engine::handle_write_blocked`].
    pub fn handle_write_blocked(&mut self, conn: ConnId, unwritten: &[u8], now: Instant) {
        self.engine.handle_write_blocked(conn, unwritten, now);
        self.settle(now);
    }

    /// See [`Engine::handle_writable`].
    pub fn handle_writable(&mut self, conn: ConnId, now: Instant) {
        self.engine.handle_writable(conn, now);
        self.settle(now);
    }

    /// See [`Engine::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        self.settle(now);
    }

    // ----- outputs --------------------------------------------------------------

    /// The next network action for the host.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.engine.poll_transmit()
    }

    /// When [`Client::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Dispatches the engine's notices to the roles, then hands every
    /// finished operation to its caller.
    fn settle(&mut self, now: Instant) {
        self.engine.dispatch(&mut self.roles, now);
        for (index, slot) in self.roles.slots.iter_mut().enumerate() {
            let role = RoleId::from_index(index);
            match slot {
                Slot::Producer(p) => {
                    while let Some((id, mut result)) = p.poll_done() {
                        if let Some(ns) = self.engine.config().namespace.as_deref() {
                            unwrap_receipt(ns, &mut result);
                        }
                        if let Some(c) = self.callers.remove(&Pending::Send(role, id)) {
                            c.complete(Outcome::Sent { id, result });
                        }
                    }
                }
                Slot::Raw(r) => {
                    while let Some((id, result)) = r.poll_done() {
                        if let Some(c) = self.callers.remove(&Pending::Request(id)) {
                            c.complete(Outcome::Answered { id, result });
                        }
                    }
                }
                Slot::Consumer(_) | Slot::Custom(_) => {}
            }
        }
        if self.engine.is_closed() {
            for c in self.shutdown_callers.drain(..) {
                c.complete(Outcome::ShutDown);
            }
        }
    }
}

/// Puts a send's topics (and its explicit queue's) in namespace `ns`.
fn wrap_request(ns: &str, request: &mut SendRequest) {
    match &mut request.payload {
        crate::producer::Payload::Single(m) => m.topic = namespace::wrap(ns, &m.topic),
        crate::producer::Payload::Batch(ms) => {
            for m in ms {
                m.topic = namespace::wrap(ns, &m.topic);
            }
        }
    }
    if let crate::producer::QueueTarget::Queue(q) = &mut request.target {
        q.topic = namespace::wrap(ns, &q.topic);
    }
}

/// Takes a send result's queue out of namespace `ns`.
fn unwrap_receipt(ns: &str, result: &mut Result<SendReceipt, SendError>) {
    match result {
        Ok(SendReceipt::Acknowledged(r)) => r.queue.topic = namespace::unwrap(ns, &r.queue.topic),
        Ok(SendReceipt::Written { queue, .. }) => queue.topic = namespace::unwrap(ns, &queue.topic),
        Err(_) => {}
    }
}
