//! The contract between the engine and the roles it carries.
//!
//! A role (producer, push consumer, lite pull consumer, transaction
//! producer, the client layer's raw requests) is a state machine of its own.
//! It never reads engine fields and the engine never reads its fields: the
//! role acts through a [`Context`] — a borrowed, narrow view of the engine
//! (quinn-proto's `SendStream<'_>` style) — and the engine answers through
//! the [`Role`] callbacks, each handed a fresh `Context`. Responses come
//! back as (role id, [`Token`]); the token is the role's own business.

use alloc::boxed::Box;
use alloc::string::String;

use super::error::RequestError;
use super::timers::{TimerKind, TimerOwner};
use super::{ConnId, Engine};
use crate::protocol::body::{ConsumerData, ProducerData};
use crate::protocol::FieldSource;
use crate::protocol::{response_code, RemotingCommand};
use crate::route::{RouteTable, TopicRouteData};
use crate::time::Instant;

/// `Send` when the `send` feature is on (hosts whose clients move between
/// threads, like the tokio host), nothing otherwise (a WASM host, whose
/// callbacks may be JavaScript functions). User callbacks and custom roles
/// the core holds are bounded by it.
#[cfg(feature = "send")]
pub trait MaybeSend: Send {}
#[cfg(feature = "send")]
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Send` when the `send` feature is on, nothing otherwise.
#[cfg(not(feature = "send"))]
pub trait MaybeSend {}
#[cfg(not(feature = "send"))]
impl<T: ?Sized> MaybeSend for T {}

/// Identifies a role registered with [`Engine::register_role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleId(pub(crate) u32);

impl RoleId {
    /// The index of this role in registration order (0 for the first).
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of the `index`-th registered role.
    pub fn from_index(index: usize) -> Self {
        RoleId(index as u32)
    }
}

/// A role's own label for one request; handed back with its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub u64);

/// A request in flight, for [`Context::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey(pub(crate) i32);

/// What a role puts in every heartbeat (Java's `ProducerData` /
/// `ConsumerData`); a client's heartbeat carries every role's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupData {
    /// A producer group.
    Producer(ProducerData),
    /// A consumer group with its subscriptions.
    Consumer(ConsumerData),
}

impl GroupData {
    /// The group name.
    pub fn group(&self) -> &str {
        match self {
            GroupData::Producer(p) => &p.group_name,
            GroupData::Consumer(c) => &c.group_name,
        }
    }
}

/// How a route query for a watched topic ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The route is cached; `changed` when it differs from the one before.
    Ready {
        /// The route differs from the previously cached one (or is new).
        changed: bool,
    },
    /// The name server knows no such topic (TOPIC_NOT_EXIST).
    NotExist {
        /// The name server's words.
        reason: String,
    },
    /// No name server answered usefully; any cached route is kept.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

/// A request a broker sent to this client, on its way to the role that
/// answers it. Answering consumes it, so it is answered at most once; a
/// request no role takes is answered by the engine.
#[derive(Debug)]
pub struct BrokerRequest {
    conn: ConnId,
    command: Box<RemotingCommand>,
}

/// Proof that a [`BrokerRequest`] was dealt with (answered, or oneway and
/// acted on). Only [`BrokerRequest::respond`] and
/// [`BrokerRequest::accept_oneway`] make one.
#[derive(Debug)]
#[must_use]
pub struct Answered(());

impl BrokerRequest {
    pub(crate) fn new(conn: ConnId, command: RemotingCommand) -> Self {
        BrokerRequest {
            conn,
            command: Box::new(command),
        }
    }

    /// The request.
    pub fn command(&self) -> &RemotingCommand {
        &self.command
    }

    /// The request code.
    pub fn code(&self) -> i32 {
        self.command.code
    }

    /// The connection it arrived on.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Answers it with `response` (its opaque is set here). A oneway
    /// request expects nothing: the response is dropped.
    pub fn respond(self, ctx: &mut Context<'_>, mut response: RemotingCommand) -> Answered {
        if !self.command.is_oneway() {
            response.opaque = self.command.opaque;
            ctx.engine.respond(self.conn, response);
        }
        Answered(())
    }

    /// Takes a oneway request (the role acted on it; nothing is sent back).
    /// A request that expects an answer is answered SYSTEM_ERROR instead,
    /// so the broker never waits for an answer nobody will write.
    pub fn accept_oneway(self, ctx: &mut Context<'_>) -> Answered {
        if self.command.is_oneway() {
            return Answered(());
        }
        let mut resp = RemotingCommand::response(response_code::SYSTEM_ERROR, 0);
        resp.remark = Some(String::from("request accepted without an answer"));
        self.respond(ctx, resp)
    }

    /// Takes it now and answers later, when the role has what the answer
    /// needs (CONSUME_MESSAGE_DIRECTLY waits for the handler). The
    /// [`PendingAnswer`] must be answered once; dropping it leaves the
    /// broker to time out, as with any lost answer.
    pub fn defer(self) -> (Answered, PendingAnswer) {
        let pending = PendingAnswer {
            conn: self.conn,
            opaque: self.command.opaque,
            oneway: self.command.is_oneway(),
        };
        (Answered(()), pending)
    }

    /// Answers REQUEST_CODE_NOT_SUPPORTED (nothing for a oneway request).
    pub(crate) fn reject_unsupported(self, engine: &mut Engine) {
        if self.command.is_oneway() {
            return;
        }
        let mut resp = RemotingCommand::response(
            response_code::REQUEST_CODE_NOT_SUPPORTED,
            self.command.opaque,
        );
        resp.remark = Some(alloc::format!(
            "request code {} not supported",
            self.command.code
        ));
        engine.respond(self.conn, resp);
    }
}

/// The answer a role owes to a broker request it took with
/// [`BrokerRequest::defer`].
#[derive(Debug)]
#[must_use]
pub struct PendingAnswer {
    conn: ConnId,
    opaque: i32,
    oneway: bool,
}

impl PendingAnswer {
    /// Answers with `response` on the connection the request came on (if it
    /// is still open; nothing for a oneway request).
    pub fn respond(self, ctx: &mut Context<'_>, mut response: RemotingCommand) {
        if !self.oneway {
            response.opaque = self.opaque;
            ctx.engine.respond(self.conn, response);
        }
    }
}

/// A state machine the engine carries. Every callback gets a [`Context`] on
/// the engine at the instant of the input that caused it; the defaults do
/// nothing, so a role implements only what it uses.
pub trait Role {
    /// The outcome of a request this role made with `token`.
    fn on_response(
        &mut self,
        ctx: &mut Context<'_>,
        token: Token,
        outcome: Result<RemotingCommand, RequestError>,
    );

    /// A query of a topic this role watches ([`Context::watch_route`]) ended.
    fn on_route(&mut self, _ctx: &mut Context<'_>, _topic: &str, _outcome: &RouteOutcome) {}

    /// A broker whose connection was lost (closed, failed, or broken by a
    /// bad frame) is connected again: it may have restarted.
    fn on_broker_reconnected(&mut self, _ctx: &mut Context<'_>, _addr: &str) {}

    /// A timer this role armed fired (it is disarmed now).
    fn on_timer(&mut self, _ctx: &mut Context<'_>, _kind: TimerKind) {}

    /// A broker request, offered to each role in registration order: take
    /// it and return `Ok(answered)`, or hand it back with `Err` to let the
    /// next role look. One nobody takes is answered
    /// REQUEST_CODE_NOT_SUPPORTED (nothing, if oneway).
    fn on_broker_request(
        &mut self,
        _ctx: &mut Context<'_>,
        request: BrokerRequest,
    ) -> Result<Answered, BrokerRequest> {
        Err(request)
    }

    /// During shutdown: true once this role has no work it wants to finish
    /// (in-flight sends settled, offsets persisted). The engine unregisters
    /// when every role is settled, or at the shutdown deadline.
    fn is_settled(&self) -> bool {
        true
    }

    /// The engine closed: fail whatever is still pending.
    fn on_closed(&mut self, _ctx: &mut Context<'_>) {}
}

/// Where the engine finds the roles it dispatches to: the client layer (or
/// a test) owns them.
pub trait Roles {
    /// The role registered as `id`, if it is here.
    fn role_mut(&mut self, id: RoleId) -> Option<&mut dyn Role>;
}

/// How a request is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Written and forgotten: no answer is expected (ONEWAY flag).
    Oneway,
    /// The answer (or a failure) comes back to the role with `token`, by
    /// `deadline` at the latest.
    Answer {
        /// The role's label.
        token: Token,
        /// When the request fails with [`RequestError::Timeout`].
        deadline: Instant,
    },
}

/// A role's narrow view of the engine, valid for one callback or command.
#[derive(Debug)]
pub struct Context<'a> {
    pub(super) engine: &'a mut Engine,
    pub(super) role: RoleId,
    pub(super) now: Instant,
}

impl Context<'_> {
    /// The instant of the input being handled.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// This role's id.
    pub fn role(&self) -> RoleId {
        self.role
    }

    /// The client configuration.
    pub fn config(&self) -> &super::ClientConfig {
        self.engine.config()
    }

    /// False once shutdown began: roles start no new work.
    pub fn is_running(&self) -> bool {
        self.engine.is_running()
    }

    /// The cached route table of `topic`.
    pub fn route(&self, topic: &str) -> Option<&RouteTable> {
        self.engine.route(topic)
    }

    /// The cached route of `topic` as the name server sent it.
    pub fn route_data(&self, topic: &str) -> Option<&TopicRouteData> {
        self.engine.route_data(topic)
    }

    /// True while a query of `topic`'s route is in flight.
    pub fn is_querying_route(&self, topic: &str) -> bool {
        self.engine.is_querying_route(topic)
    }

    /// Watches `topic`: it is refreshed with every route refresh, fetched
    /// now if unknown, and every query's end is reported with
    /// [`Role::on_route`].
    pub fn watch_route(&mut self, topic: &str) {
        let (role, now) = (self.role, self.now);
        self.engine.watch_route(role, topic, now);
    }

    /// Fetches `topic`'s route again now (after a send found it stale),
    /// unless a query is already in flight; the cached route stays until
    /// the answer replaces it.
    pub fn refresh_route(&mut self, topic: &str) {
        let now = self.now;
        self.engine.refresh_route(topic, now);
    }

    /// Heartbeats `addr` now if it is not yet heartbeated (Java sends a
    /// heartbeat before the first request to a broker).
    pub fn use_broker(&mut self, addr: &str) {
        let now = self.now;
        self.engine.use_broker(addr, now);
    }

    /// Sets what this role puts in every heartbeat (replacing what it set
    /// before). Brokers in use learn of new or changed data at once.
    pub fn set_group_data(&mut self, data: GroupData) {
        let (role, now) = (self.role, self.now);
        self.engine.set_group_data(role, data, now);
    }

    /// Arms this role's timer `kind` at `at`, or disarms it with `None`.
    pub fn set_timer(&mut self, kind: TimerKind, at: Option<Instant>) {
        let owner = TimerOwner::Role(self.role);
        self.engine.timers.set((owner, kind), at);
    }

    /// When this role's timer `kind` fires, if armed.
    pub fn timer(&self, kind: TimerKind) -> Option<Instant> {
        self.engine.timers.get((TimerOwner::Role(self.role), kind))
    }

    /// Writes a request whose header fields come from `fields` to `addr`
    /// (connecting if needed), signed when the client has credentials.
    /// Returns its key unless oneway.
    pub fn request<F: FieldSource + ?Sized>(
        &mut self,
        addr: &str,
        code: i32,
        fields: &F,
        body: &[u8],
        delivery: Delivery,
    ) -> Option<RequestKey> {
        let (role, now) = (self.role, self.now);
        self.engine
            .write_role_request(role, addr, code, fields, body, delivery, now)
    }

    /// Writes a ready-made command to `addr` (the engine sets its opaque,
    /// language and version, and signs it). Returns its key unless oneway.
    pub fn request_command(
        &mut self,
        addr: &str,
        command: RemotingCommand,
        delivery: Delivery,
    ) -> Result<Option<RequestKey>, RequestError> {
        let (role, now) = (self.role, self.now);
        self.engine
            .write_role_command(role, addr, command, delivery, now)
    }

    /// The address of connection `conn` (the broker a request came from),
    /// while it is open.
    pub fn peer_addr(&self, conn: ConnId) -> Option<&str> {
        self.engine.conns.get(conn).map(|c| c.addr.as_str())
    }

    /// The name server requests go to now.
    pub fn name_server(&self) -> Option<&str> {
        self.engine.current_name_server()
    }

    /// Stops waiting for `key`; a late answer is ignored.
    pub fn cancel(&mut self, key: RequestKey) {
        self.engine.forget_request(key.0);
    }
}
