//! The engine: one deterministic, role-agnostic state machine a host drives.
//!
//! The engine owns what every role shares — connections, opaque matching,
//! request deadlines, the name-server list, the route cache, heartbeats
//! carrying every group, and the dispatch of broker-initiated requests. It
//! knows no role: producers, consumers and the client layer's raw requests
//! are [`Role`]s registered with [`Engine::register_role`], owned by the
//! caller (the client layer, [`crate::client::Client`], or a test) and
//! reached through [`Engine::dispatch`].
//!
//! # Inputs
//! - [`Engine::handle_connected`] / [`Engine::handle_closed`]: the outcome
//!   of a [`Transmit::Connect`], or a connection that ended;
//! - [`Engine::handle_input`]: bytes read from a connection, in any split;
//! - [`Engine::handle_timeout`]: the clock reached [`Engine::poll_timeout`].
//!
//! # Commands
//! Roles act through a [`Context`] ([`Engine::context`]): requests with a
//! [`Token`], route watches, timers in the one [`TimerKind`] table, their
//! heartbeat data. [`Engine::shutdown`] begins the end.
//!
//! # Outputs
//! - [`Engine::poll_transmit`]: connect, write, close;
//! - [`Engine::dispatch`]: delivers queued outcomes (responses, route
//!   queries, timers, broker requests, the close) to the roles;
//! - [`Engine::poll_timeout`]: when to call `handle_timeout` next;
//! - [`Engine::is_closed`]: shutdown finished, every connection closed.
//!
//! # The drain rule
//! After every input or command: call [`Engine::dispatch`] (roles may issue
//! new requests while handling what it delivers; it loops until nothing is
//! left), then drain [`Engine::poll_transmit`] until `None`, then re-arm
//! the one host timer at [`Engine::poll_timeout`]. Nothing may be called on
//! the engine while a `Transmit` is being carried out except feeding the
//! result back in afterwards; a role called during `dispatch` reaches the
//! engine only through its `Context`.
//!
//! # Time
//! Every `now` is the host's monotonic clock ([`Instant`]), never wall
//! time, and never goes backwards; wall-clock facts (born timestamps) come
//! with the command that needs them. Randomness comes only from
//! [`ClientConfig::seed`]. Equal inputs give equal outputs.
//!
//! # Failure policy
//! Bad input from the network (a malformed frame, an answer to a request
//! that timed out, an unknown request code) is never a panic: a bad frame
//! closes its connection and fails its requests with a typed
//! [`RequestError`]; late answers are dropped; unknown broker requests are
//! answered REQUEST_CODE_NOT_SUPPORTED. Every request settles by its
//! deadline. A broken internal invariant is a `debug_assert`, never a
//! silent return.
//!
//! ```
//! use rmq_core::engine::{ClientConfig, Engine, Transmit};
//! use rmq_core::time::Instant;
//!
//! let config = ClientConfig { name_servers: vec!["127.0.0.1:9876".into()], ..Default::default() };
//! let mut engine = Engine::new(config, Instant::ZERO);
//! let role = engine.register_role();
//! engine.context(role, Instant::ZERO).watch_route("orders");
//! // The engine asks its host to connect to the name server, then to write the query.
//! assert!(matches!(engine.poll_transmit(), Some(Transmit::Connect { .. })));
//! ```

mod config;
mod connections;
mod error;
mod namesrv;
mod role;
mod routes;
mod timers;

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

pub use config::ClientConfig;
pub use connections::{ConnId, Transmit};
pub use error::RequestError;
pub use role::{
    Answered, BrokerRequest, Context, Delivery, GroupData, MaybeSend, PendingAnswer, RequestKey,
    Role, RoleId, Roles, RouteOutcome, Token,
};
pub use timers::{TimerKey, TimerKind, TimerOwner};

use crate::collections::{DeadlineSet, IdMap, VecSet};
use crate::protocol::body::HeartbeatData;
use crate::protocol::fields::{CommandHeader, ExtFields};
use crate::protocol::headers::UnregisterClientRequestHeader;
use crate::protocol::{
    encode_frame, request_code, CommandMeta, FieldSink, FieldSource, RemotingCommand, ONEWAY_FLAG,
    RESPONSE_FLAG,
};
use crate::route::{RouteTable, TopicRouteData};
use crate::time::Instant;
use namesrv::NameServers;
use routes::Routes;
use timers::TimerTable;

/// Who is waiting for a request's answer.
#[derive(Debug)]
enum Owner {
    /// The engine's route query for `topic`, `attempt`-th name server.
    Route { topic: String, attempt: usize },
    /// A heartbeat or unregistration: the answer does not matter.
    Housekeeping,
    /// A role.
    Role { role: RoleId, token: Token },
}

#[derive(Debug)]
struct InFlight {
    conn: ConnId,
    deadline: Instant,
    owner: Owner,
}

/// Something to deliver to a role at the next [`Engine::dispatch`].
#[derive(Debug)]
enum Notice {
    Response {
        role: RoleId,
        token: Token,
        outcome: Result<RemotingCommand, RequestError>,
    },
    Route {
        role: RoleId,
        topic: String,
        outcome: RouteOutcome,
    },
    Timer {
        role: RoleId,
        kind: TimerKind,
    },
    BrokerRequest(BrokerRequest),
    /// A broker whose connection was lost is connected again.
    Reconnected(String),
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Waiting for the roles to settle, then for unregistration, until the deadline.
    ShuttingDown {
        deadline: Instant,
        roles_settled: bool,
        unregistered: bool,
    },
    Closed,
}

const ENGINE_HEARTBEAT: TimerKey = (TimerOwner::Engine, TimerKind::Heartbeat);
const ENGINE_ROUTE_REFRESH: TimerKey = (TimerOwner::Engine, TimerKind::RouteRefresh);
const ENGINE_SHUTDOWN: TimerKey = (TimerOwner::Engine, TimerKind::ShutdownDeadline);

/// The client state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Engine {
    config: ClientConfig,
    conns: connections::Connections,
    inflight: IdMap<i32, InFlight>,
    deadlines: DeadlineSet<i32>,
    next_opaque: i32,
    namesrv: NameServers,
    routes: Routes,
    /// Heartbeat data by role; `None` for roles without a group.
    groups: Vec<Option<GroupData>>,
    /// Broker addresses we heartbeat (masters of the routes in use).
    brokers: VecSet<String>,
    timers: TimerTable,
    notices: VecDeque<Notice>,
    /// Brokers whose connection was lost and not yet opened again.
    lost_brokers: VecSet<String>,
    state: State,
}

impl Engine {
    /// An engine with no role yet; the first heartbeat and route refresh
    /// are due one interval after `now`.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let namesrv = NameServers::new(config.name_servers.clone(), config.seed);
        let mut timers = TimerTable::default();
        timers.set(ENGINE_HEARTBEAT, Some(now + config.heartbeat_interval));
        timers.set(
            ENGINE_ROUTE_REFRESH,
            Some(now + config.route_refresh_interval),
        );
        Engine {
            conns: connections::Connections::new(config.max_frame_len, config.max_write_backlog),
            inflight: IdMap::new(),
            deadlines: DeadlineSet::new(),
            next_opaque: 0,
            namesrv,
            routes: Routes::default(),
            groups: Vec::new(),
            brokers: VecSet::new(),
            timers,
            notices: VecDeque::new(),
            lost_brokers: VecSet::new(),
            state: State::Running,
            config,
        }
    }

    /// The client configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// True until [`Engine::shutdown`] is called.
    pub fn is_running(&self) -> bool {
        self.state == State::Running
    }

    /// True once shutdown finished: every connection is closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Registers a role; the caller keeps it and hands it back through
    /// [`Roles`] at every [`Engine::dispatch`].
    pub fn register_role(&mut self) -> RoleId {
        let id = RoleId(self.groups.len() as u32);
        self.groups.push(None);
        id
    }

    /// A role's view of the engine at `now`, to issue commands outside a
    /// callback (a user's send, subscribe, commit).
    pub fn context(&mut self, role: RoleId, now: Instant) -> Context<'_> {
        debug_assert!(role.index() < self.groups.len(), "unregistered role");
        Context {
            engine: self,
            role,
            now,
        }
    }

    // ----- inputs -----------------------------------------------------------

    /// The host opened connection `conn`; buffered requests may now flow.
    pub fn handle_connected(&mut self, conn: ConnId, _now: Instant) {
        self.conns.mark_connected(conn);
        if let Some(addr) = self.conns.get(conn).map(|c| c.addr.clone()) {
            if self.lost_brokers.remove(&addr) {
                self.notices.push_back(Notice::Reconnected(addr));
            }
        }
    }

    /// Connection `conn` failed to open, or closed. Its requests fail.
    pub fn handle_closed(&mut self, conn: ConnId, reason: &str, now: Instant) {
        if let Some(c) = self.conns.remove(conn) {
            self.fail_connection(c, reason, now);
        }
        self.progress_shutdown(now);
    }

    /// Bytes read from connection `conn`, in any split.
    pub fn handle_input(&mut self, conn: ConnId, bytes: &[u8], now: Instant) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.decoder.feed(bytes);
        loop {
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            match c.decoder.decode_next() {
                Ok(Some(cmd)) => self.handle_command(conn, cmd, now),
                Ok(None) => break,
                Err(e) => {
                    let reason = alloc::format!("bad frame from peer: {e}");
                    if let Some(c) = self.conns.close(conn) {
                        self.fail_connection(c, &reason, now);
                    }
                    break;
                }
            }
        }
        self.progress_shutdown(now);
    }

    /// The host could write only the first part of a [`Transmit::Write`]
    /// to `conn`: `unwritten` is the rest. Nothing more is handed out for
    /// `conn` until [`Engine::handle_writable`]; bytes queued meanwhile are
    /// bounded by [`ClientConfig::max_write_backlog`].
    pub fn handle_write_blocked(&mut self, conn: ConnId, unwritten: &[u8], now: Instant) {
        self.conns.blocked(conn, unwritten);
        self.close_overflowed(now);
    }

    /// The host's socket for `conn` takes bytes again.
    pub fn handle_writable(&mut self, conn: ConnId, _now: Instant) {
        self.conns.writable(conn);
    }

    /// Time passed: expire requests and fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((deadline, opaque)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(req) = self.inflight.remove(&opaque) {
                if let Some(c) = self.conns.get_mut(req.conn) {
                    c.inflight.remove(&opaque);
                }
                let addr = self.addr_of(req.conn);
                self.fail_request(req, RequestError::Timeout { addr }, now);
            }
        }
        while let Some(key) = self.timers.pop_expired(now) {
            match key {
                (TimerOwner::Role(role), kind) => {
                    self.notices.push_back(Notice::Timer { role, kind });
                }
                (TimerOwner::Engine, TimerKind::RouteRefresh) => {
                    self.timers
                        .set(key, Some(now + self.config.route_refresh_interval));
                    self.refresh_routes(now);
                }
                (TimerOwner::Engine, TimerKind::Heartbeat) => {
                    self.timers
                        .set(key, Some(now + self.config.heartbeat_interval));
                    self.heartbeat_all(now);
                }
                (TimerOwner::Engine, _) => {} // the shutdown deadline: progress below
            }
        }
        self.progress_shutdown(now);
    }

    // ----- outputs ----------------------------------------------------------

    /// The next network action for the host.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.conns.poll_transmit()
    }

    /// When [`Engine::handle_timeout`] must next be called: the earliest
    /// request deadline or armed timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let request = self.deadlines.first().map(|(t, _)| t);
        match (request, self.timers.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Delivers everything queued for the roles, in order, until nothing is
    /// left (a role's reaction may queue more). Roles `roles` does not hold
    /// miss their notices.
    pub fn dispatch(&mut self, roles: &mut dyn Roles, now: Instant) {
        loop {
            self.close_overflowed(now);
            let Some(notice) = self.notices.pop_front() else {
                // Quiet: maybe the roles settled, which may end a shutdown
                // and queue the close for them.
                self.check_roles_settled(roles, now);
                if self.notices.is_empty() {
                    return;
                }
                continue;
            };
            self.deliver(roles, notice, now);
        }
    }

    fn deliver(&mut self, roles: &mut dyn Roles, notice: Notice, now: Instant) {
        match notice {
            Notice::Response {
                role,
                token,
                outcome,
            } => {
                if let Some(r) = roles.role_mut(role) {
                    r.on_response(&mut self.context(role, now), token, outcome);
                }
            }
            Notice::Route {
                role,
                topic,
                outcome,
            } => {
                if let Some(r) = roles.role_mut(role) {
                    r.on_route(&mut self.context(role, now), &topic, &outcome);
                }
            }
            Notice::Timer { role, kind } => {
                if let Some(r) = roles.role_mut(role) {
                    r.on_timer(&mut self.context(role, now), kind);
                }
            }
            Notice::BrokerRequest(request) => self.offer_broker_request(roles, request, now),
            Notice::Reconnected(addr) => {
                for index in 0..self.groups.len() {
                    let role = RoleId(index as u32);
                    if let Some(r) = roles.role_mut(role) {
                        r.on_broker_reconnected(&mut self.context(role, now), &addr);
                    }
                }
            }
            Notice::Closed => {
                for index in 0..self.groups.len() {
                    let role = RoleId(index as u32);
                    if let Some(r) = roles.role_mut(role) {
                        r.on_closed(&mut self.context(role, now));
                    }
                }
            }
        }
    }

    // ----- commands -----------------------------------------------------------

    /// Stops new work, lets the roles settle (bounded by `settle_by`),
    /// unregisters every group from every connected broker, then closes
    /// every connection; [`Engine::is_closed`] turns true and every role
    /// gets [`Role::on_closed`]. The whole shutdown is bounded by
    /// `settle_by` plus the request timeout.
    pub fn shutdown(&mut self, settle_by: Instant, now: Instant) {
        if self.state != State::Running {
            return;
        }
        let deadline = settle_by.max(now) + self.config.request_timeout;
        self.state = State::ShuttingDown {
            deadline,
            roles_settled: false,
            unregistered: false,
        };
        self.timers.set(ENGINE_SHUTDOWN, Some(deadline));
        self.timers.set(ENGINE_HEARTBEAT, None);
        self.timers.set(ENGINE_ROUTE_REFRESH, None);
        self.progress_shutdown(now);
    }

    /// The cached route of `topic`, if known.
    pub fn route(&self, topic: &str) -> Option<&RouteTable> {
        self.routes.table(topic)
    }

    /// The cached route of `topic` as the name server sent it.
    pub fn route_data(&self, topic: &str) -> Option<&TopicRouteData> {
        self.routes.data(topic)
    }

    /// The group data every heartbeat carries, one entry per role that set one.
    pub fn groups(&self) -> impl Iterator<Item = &GroupData> + '_ {
        self.groups.iter().flatten()
    }

    // ----- what roles reach through their Context ------------------------------

    fn is_querying_route(&self, topic: &str) -> bool {
        self.routes.is_querying(topic)
    }

    fn current_name_server(&self) -> Option<&str> {
        self.namesrv.current()
    }

    /// A role's heartbeat data. New or changed data while brokers are in
    /// use is announced at once (the heartbeat timer fires now), as Java
    /// heartbeats when a consumer starts: the group's members would not
    /// see it until the next interval otherwise.
    fn set_group_data(&mut self, role: RoleId, data: GroupData, now: Instant) {
        let Some(slot) = self.groups.get_mut(role.index()) else {
            debug_assert!(false, "group data for an unregistered role");
            return;
        };
        if slot.as_ref() == Some(&data) {
            return;
        }
        *slot = Some(data);
        if self.state == State::Running && !self.brokers.is_empty() {
            self.timers.set(ENGINE_HEARTBEAT, Some(now));
        }
    }

    fn use_broker(&mut self, addr: &str, now: Instant) {
        if self.state != State::Closed && !self.brokers.contains(addr) {
            self.brokers.insert(String::from(addr));
            self.heartbeat(addr, now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_role_request<F: FieldSource + ?Sized>(
        &mut self,
        role: RoleId,
        addr: &str,
        code: i32,
        fields: &F,
        body: &[u8],
        delivery: Delivery,
        now: Instant,
    ) -> Option<RequestKey> {
        if self.state == State::Closed {
            self.refuse(role, delivery);
            return None;
        }
        let conn = self.conns.get_or_open(addr);
        let opaque = self.alloc_opaque();
        let oneway = delivery == Delivery::Oneway;
        encode_onto(
            &self.config,
            &mut self.conns,
            conn,
            opaque,
            code,
            fields,
            body,
            oneway,
        );
        let Delivery::Answer { token, deadline } = delivery else {
            return None;
        };
        self.track(opaque, conn, deadline, Owner::Role { role, token });
        let _ = now;
        Some(RequestKey(opaque))
    }

    fn write_role_command(
        &mut self,
        role: RoleId,
        addr: &str,
        command: RemotingCommand,
        delivery: Delivery,
        _now: Instant,
    ) -> Result<Option<RequestKey>, RequestError> {
        if self.state == State::Closed {
            return Err(RequestError::ShutDown);
        }
        let conn = self.conns.get_or_open(addr);
        let opaque = self.alloc_opaque();
        let oneway = delivery == Delivery::Oneway || command.is_oneway();
        let flag = command.flag & !RESPONSE_FLAG;
        let meta = CommandMeta {
            code: command.code,
            language: self.config.language,
            version: self.config.version,
            opaque,
            flag: if oneway { flag | ONEWAY_FLAG } else { flag },
            remark: command.remark.as_deref(),
        };
        let fields = WithoutAuth(&command.ext_fields);
        encode_signed(
            &self.config,
            &mut self.conns,
            conn,
            &meta,
            &fields,
            &command.body,
        )
        .map_err(|reason| RequestError::Unencodable { reason })?;
        let Delivery::Answer { token, deadline } = delivery else {
            return Ok(None);
        };
        if oneway {
            // Flagged oneway by the caller: no answer will come.
            self.notices.push_back(Notice::Response {
                role,
                token,
                outcome: Ok(RemotingCommand::response(
                    crate::protocol::response_code::SUCCESS,
                    opaque,
                )),
            });
            return Ok(None);
        }
        self.track(opaque, conn, deadline, Owner::Role { role, token });
        Ok(Some(RequestKey(opaque)))
    }

    /// Fails a request made after the close, through the usual path.
    fn refuse(&mut self, role: RoleId, delivery: Delivery) {
        if let Delivery::Answer { token, .. } = delivery {
            self.notices.push_back(Notice::Response {
                role,
                token,
                outcome: Err(RequestError::ShutDown),
            });
        }
    }

    /// Stops tracking request `opaque`; a late response is ignored.
    fn forget_request(&mut self, opaque: i32) {
        if let Some(req) = self.inflight.remove(&opaque) {
            self.deadlines.remove(&(req.deadline, opaque));
            if let Some(c) = self.conns.get_mut(req.conn) {
                c.inflight.remove(&opaque);
            }
        }
    }

    // ----- internals ------------------------------------------------------------

    fn alloc_opaque(&mut self) -> i32 {
        loop {
            self.next_opaque = self.next_opaque.wrapping_add(1);
            if !self.inflight.contains_key(&self.next_opaque) {
                return self.next_opaque;
            }
        }
    }

    fn track(&mut self, opaque: i32, conn: ConnId, deadline: Instant, owner: Owner) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.inflight.insert(opaque);
        }
        self.deadlines.insert((deadline, opaque));
        self.inflight.insert(
            opaque,
            InFlight {
                conn,
                deadline,
                owner,
            },
        );
    }

    /// Writes an engine request (route query, heartbeat, unregistration)
    /// with a typed header and tracks it.
    fn write_engine_request<H: CommandHeader>(
        &mut self,
        addr: &str,
        code: i32,
        header: &H,
        body: &[u8],
        owner: Owner,
        now: Instant,
    ) {
        let conn = self.conns.get_or_open(addr);
        let opaque = self.alloc_opaque();
        encode_onto(
            &self.config,
            &mut self.conns,
            conn,
            opaque,
            code,
            &HeaderFields(header),
            body,
            false,
        );
        let deadline = now + self.config.request_timeout;
        self.track(opaque, conn, deadline, owner);
    }

    /// Answers a broker-initiated request received on `conn`.
    fn respond(&mut self, conn: ConnId, mut response: RemotingCommand) {
        response.flag |= RESPONSE_FLAG;
        response.language = self.config.language;
        response.version = self.config.version;
        let ser = self.config.serialize_type;
        if let Some(out) = self.conns.out(conn) {
            // Only a header over 16 MiB fails to encode; such a response
            // is dropped and the broker times out, as with any lost answer.
            let _ = response.encode(ser, out);
        }
    }

    fn addr_of(&self, conn: ConnId) -> String {
        self.conns
            .get(conn)
            .map(|c| c.addr.clone())
            .unwrap_or_else(|| String::from("-"))
    }

    fn fail_connection(&mut self, conn: connections::Connection, reason: &str, now: Instant) {
        if !self.config.name_servers.contains(&conn.addr) && self.state == State::Running {
            self.lost_brokers.insert(conn.addr.clone());
        }
        for opaque in conn.inflight {
            if let Some(req) = self.inflight.remove(&opaque) {
                self.deadlines.remove(&(req.deadline, opaque));
                let err = RequestError::Connection {
                    addr: conn.addr.clone(),
                    reason: reason.to_string(),
                };
                self.fail_request(req, err, now);
            }
        }
    }

    fn handle_command(&mut self, conn: ConnId, cmd: RemotingCommand, now: Instant) {
        if !cmd.is_response() {
            self.notices
                .push_back(Notice::BrokerRequest(BrokerRequest::new(conn, cmd)));
            return;
        }
        // A late answer to a request that already timed out is dropped; so
        // is an answer on another connection than its request's: a peer
        // cannot settle what it was not asked.
        if self
            .inflight
            .get(&cmd.opaque)
            .is_none_or(|r| r.conn != conn)
        {
            return;
        }
        let Some(req) = self.inflight.remove(&cmd.opaque) else {
            return;
        };
        self.deadlines.remove(&(req.deadline, cmd.opaque));
        if let Some(c) = self.conns.get_mut(req.conn) {
            c.inflight.remove(&cmd.opaque);
        }
        match req.owner {
            Owner::Route { topic, attempt } => {
                self.on_route_response(conn, topic, attempt, cmd, now)
            }
            Owner::Housekeeping => {}
            Owner::Role { role, token } => self.notices.push_back(Notice::Response {
                role,
                token,
                outcome: Ok(cmd),
            }),
        }
    }

    fn fail_request(&mut self, req: InFlight, err: RequestError, now: Instant) {
        match req.owner {
            Owner::Route { topic, attempt } => self.on_route_failure(topic, attempt, err, now),
            Owner::Housekeeping => {}
            Owner::Role { role, token } => self.notices.push_back(Notice::Response {
                role,
                token,
                outcome: Err(err),
            }),
        }
    }

    /// Offers a broker request to each role in turn; answers it
    /// REQUEST_CODE_NOT_SUPPORTED when none takes it.
    fn offer_broker_request(
        &mut self,
        roles: &mut dyn Roles,
        request: BrokerRequest,
        now: Instant,
    ) {
        let mut request = request;
        for index in 0..self.groups.len() {
            let role = RoleId(index as u32);
            let Some(r) = roles.role_mut(role) else {
                continue;
            };
            match r.on_broker_request(&mut self.context(role, now), request) {
                Ok(_answered) => return,
                Err(back) => request = back,
            }
        }
        request.reject_unsupported(self);
    }

    /// Closes every connection whose peer stopped reading.
    fn close_overflowed(&mut self, now: Instant) {
        while let Some(id) = self.conns.pop_overflowed() {
            let max = self.conns.max_backlog();
            let reason = alloc::format!("peer is not reading: over {max} bytes queued");
            if let Some(c) = self.conns.close(id) {
                self.fail_connection(c, &reason, now);
            }
        }
    }

    fn heartbeat_all(&mut self, now: Instant) {
        // Brokers that left every route (scaled in, replaced) are forgotten.
        let current = self.routes.master_addrs();
        self.brokers.retain(|addr| current.contains(addr));
        let addrs: Vec<String> = self.brokers.iter().cloned().collect();
        for addr in addrs {
            self.heartbeat(&addr, now);
        }
    }

    /// The heartbeat body: this client's id and every role's group data.
    pub fn heartbeat_data(&self) -> HeartbeatData {
        let mut data = HeartbeatData {
            client_id: self.config.client_id.clone(),
            ..Default::default()
        };
        for group in self.groups() {
            match group {
                GroupData::Producer(p) => data.producer_data_set.push(p.clone()),
                GroupData::Consumer(c) => data.consumer_data_set.push(c.clone()),
            }
        }
        data
    }

    /// Sends one heartbeat with every role's data to `addr`.
    fn heartbeat(&mut self, addr: &str, now: Instant) {
        let body = self.heartbeat_data().to_json();
        self.write_engine_request(
            addr,
            request_code::HEART_BEAT,
            &NoHeader,
            &body,
            Owner::Housekeeping,
            now,
        );
    }

    /// Starts heartbeating every address of `addrs` not yet known.
    fn adopt_brokers(&mut self, addrs: Vec<String>, now: Instant) {
        for addr in addrs {
            self.use_broker(&addr, now);
        }
    }

    fn check_roles_settled(&mut self, roles: &mut dyn Roles, now: Instant) {
        let State::ShuttingDown {
            roles_settled: false,
            ..
        } = self.state
        else {
            return;
        };
        let settled = (0..self.groups.len()).all(|i| {
            roles
                .role_mut(RoleId(i as u32))
                .is_none_or(|r| r.is_settled())
        });
        if settled {
            if let State::ShuttingDown { roles_settled, .. } = &mut self.state {
                *roles_settled = true;
            }
            self.progress_shutdown(now);
        }
    }

    fn progress_shutdown(&mut self, now: Instant) {
        let State::ShuttingDown {
            deadline,
            roles_settled,
            unregistered,
        } = self.state
        else {
            return;
        };
        if !unregistered && (roles_settled || now >= deadline) {
            self.unregister_all(now);
            self.state = State::ShuttingDown {
                deadline,
                roles_settled,
                unregistered: true,
            };
        }
        let State::ShuttingDown { unregistered, .. } = self.state else {
            return;
        };
        if unregistered && (self.inflight.is_empty() || now >= deadline) {
            let ids: Vec<ConnId> = self.conns.ids().collect();
            for id in ids {
                if let Some(c) = self.conns.close(id) {
                    self.fail_connection(c, "client shut down", now);
                }
            }
            self.timers.set(ENGINE_SHUTDOWN, None);
            self.state = State::Closed;
            self.notices.push_back(Notice::Closed);
        }
    }

    /// One UNREGISTER_CLIENT per group per connected broker, as Java does.
    fn unregister_all(&mut self, now: Instant) {
        let headers: Vec<UnregisterClientRequestHeader> = self
            .groups()
            .map(|g| {
                let (producer_group, consumer_group) = match g {
                    GroupData::Producer(p) => (Some(p.group_name.clone()), None),
                    GroupData::Consumer(c) => (None, Some(c.group_name.clone())),
                };
                UnregisterClientRequestHeader {
                    client_id: self.config.client_id.clone(),
                    producer_group,
                    consumer_group,
                    ..Default::default()
                }
            })
            .collect();
        // Only brokers we are still connected to: a dead broker has
        // forgotten us already and must not delay shutdown.
        let addrs: Vec<String> = self
            .brokers
            .iter()
            .filter(|a| self.conns.find(a).is_some())
            .cloned()
            .collect();
        for addr in &addrs {
            for header in &headers {
                self.write_engine_request(
                    addr,
                    request_code::UNREGISTER_CLIENT,
                    header,
                    &[],
                    Owner::Housekeeping,
                    now,
                );
            }
        }
    }
}

/// A request without header fields (HEART_BEAT, GET_BROKER_CLUSTER_INFO, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoHeader;

impl CommandHeader for NoHeader {
    fn write_fields<S: crate::protocol::fields::FieldSink + ?Sized>(&self, _sink: &mut S) {}
    fn from_fields(_fields: &ExtFields) -> Result<Self, crate::protocol::fields::HeaderError> {
        Ok(NoHeader)
    }
}

/// Appends one request frame to `conn`'s output, signed when the client
/// has credentials. A free function over disjoint borrows, so fields
/// borrowed from a role's state are encoded without copying them.
#[allow(clippy::too_many_arguments)]
fn encode_onto<F: FieldSource + ?Sized>(
    config: &ClientConfig,
    conns: &mut connections::Connections,
    conn: ConnId,
    opaque: i32,
    code: i32,
    fields: &F,
    body: &[u8],
    oneway: bool,
) {
    let meta = CommandMeta {
        code,
        language: config.language,
        version: config.version,
        opaque,
        flag: if oneway { ONEWAY_FLAG } else { 0 },
        remark: None,
    };
    // Encoding fails only for a header over 16 MiB, which no request the
    // engine or a role builds from typed fields can reach; such a request
    // would then time out.
    let encoded = encode_signed(config, conns, conn, &meta, fields, body);
    debug_assert!(encoded.is_ok(), "typed request unencodable: {encoded:?}");
}

/// The one signing and encoding path of every request: straight into the
/// connection's buffer, with `AccessKey`/`Signature` appended when the
/// client has credentials.
fn encode_signed<F: FieldSource + ?Sized>(
    config: &ClientConfig,
    conns: &mut connections::Connections,
    conn: ConnId,
    meta: &CommandMeta<'_>,
    fields: &F,
    body: &[u8],
) -> Result<(), String> {
    let ser = config.serialize_type;
    let Some(out) = conns.out(conn) else {
        return Err(String::from("no such connection"));
    };
    // Namespace v2 (Java NamespaceRpcHook): `nsd`/`ns` on every request,
    // signed with the rest.
    let ns = config
        .namespace_v2
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .map(|ns| [("nsd", "true"), ("ns", ns)]);
    let ns_fields: &[(&str, &str)] = ns.as_ref().map_or(&[], |f| f.as_slice());
    let fields = &Chained(fields, ns_fields);
    let result = match &config.credentials {
        None => encode_frame(out, ser, meta, fields, body),
        Some(creds) => {
            let signature = crate::acl::sign_fields(fields, body, creds);
            let auth = crate::acl::auth_fields(creds, &signature);
            encode_frame(out, ser, meta, &Chained(fields, auth.as_slice()), body)
        }
    };
    result.map_err(|e| e.to_string())
}

/// A command's ext fields without credentials it may carry already (they
/// are replaced by fresh ones when the request is signed).
struct WithoutAuth<'a>(&'a ExtFields);

impl FieldSource for WithoutAuth<'_> {
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        for (k, v) in self.0.iter() {
            if !crate::acl::is_auth_key(k) {
                sink.field(k, crate::protocol::FieldValue::Str(v));
            }
        }
    }
}

/// A typed header seen as a [`FieldSource`].
struct HeaderFields<'a, H>(&'a H);

impl<H: CommandHeader> FieldSource for HeaderFields<'_, H> {
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        self.0.write_fields(sink);
    }
}

/// Two field sources, one after the other.
struct Chained<'a, A: ?Sized, B: ?Sized>(&'a A, &'a B);

impl<A: FieldSource + ?Sized, B: FieldSource + ?Sized> FieldSource for Chained<'_, A, B> {
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        self.0.write_to(sink);
        self.1.write_to(sink);
    }
}

#[cfg(test)]
mod bad_input_tests {
    use alloc::rc::Rc;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;
    use core::cell::RefCell;
    use core::time::Duration;

    use bytes::BytesMut;

    use crate::client::{Caller, Client, Outcome};
    use crate::engine::{ClientConfig, ConnId, Transmit};
    use crate::protocol::{response_code, FrameDecoder, RemotingCommand, SerializeType};
    use crate::time::Instant;

    #[derive(Clone, Default)]
    struct Done(Rc<RefCell<Vec<bool>>>);

    struct Slot(Done, usize);

    impl Caller for Slot {
        fn complete(self, _outcome: Outcome) {
            self.0 .0.borrow_mut()[self.1] = true;
        }
    }

    /// Opens every connection the client asks for; returns (conn, addr, opaque) of each request written.
    fn pump(client: &mut Client<Slot>, now: Instant) -> Vec<(ConnId, String, i32)> {
        let mut addrs = alloc::collections::BTreeMap::new();
        let mut written = Vec::new();
        while let Some(t) = client.poll_transmit() {
            match t {
                Transmit::Connect { conn, addr } => {
                    addrs.insert(conn, addr);
                    client.handle_connected(conn, now);
                }
                Transmit::Write { conn, bytes } => {
                    let mut dec = FrameDecoder::default();
                    dec.feed(&bytes);
                    while let Ok(Some(cmd)) = dec.decode_next() {
                        written.push((
                            conn,
                            addrs.get(&conn).cloned().unwrap_or_default(),
                            cmd.opaque,
                        ));
                    }
                }
                Transmit::Close { .. } => {}
            }
        }
        written
    }

    fn answer(opaque: i32) -> Vec<u8> {
        let mut out = BytesMut::new();
        RemotingCommand::response(response_code::SUCCESS, opaque)
            .encode(SerializeType::Json, &mut out)
            .unwrap();
        out.to_vec()
    }

    #[test]
    fn an_answer_on_another_connection_than_its_request_is_dropped() {
        let now = Instant::ZERO;
        let config = ClientConfig {
            name_servers: vec!["ns:1".into()],
            ..Default::default()
        };
        let mut client = Client::new(config, now);
        let done = Done::default();
        done.0.borrow_mut().extend([false, false]);
        for (i, addr) in ["a:1", "b:1"].into_iter().enumerate() {
            let cmd = RemotingCommand::request(crate::protocol::request_code::HEART_BEAT, 0);
            client.request(
                Some(addr),
                cmd,
                Duration::from_secs(3),
                now,
                Slot(done.clone(), i),
            );
        }
        let written = pump(&mut client, now);
        let a = written.iter().find(|w| w.1 == "a:1").unwrap().clone();
        let b = written.iter().find(|w| w.1 == "b:1").unwrap().clone();
        // b answers a's request: a's caller keeps waiting, b's connection stays usable.
        client.handle_input(b.0, &answer(a.2), now);
        pump(&mut client, now);
        assert_eq!(*done.0.borrow(), [false, false]);
        client.handle_input(b.0, &answer(b.2), now);
        client.handle_input(a.0, &answer(a.2), now);
        pump(&mut client, now);
        assert_eq!(*done.0.borrow(), [true, true]);
    }

    #[test]
    fn an_answer_with_an_unknown_opaque_is_dropped_and_the_connection_kept() {
        let now = Instant::ZERO;
        let mut client = Client::new(ClientConfig::default(), now);
        let done = Done::default();
        done.0.borrow_mut().push(false);
        let cmd = RemotingCommand::request(crate::protocol::request_code::HEART_BEAT, 0);
        client.request(
            Some("a:1"),
            cmd,
            Duration::from_secs(3),
            now,
            Slot(done.clone(), 0),
        );
        let (conn, _, opaque) = pump(&mut client, now).pop().unwrap();
        client.handle_input(conn, &answer(opaque.wrapping_add(1000)), now);
        assert!(pump(&mut client, now).is_empty());
        assert_eq!(*done.0.borrow(), [false]);
        client.handle_input(conn, &answer(opaque), now);
        assert_eq!(*done.0.borrow(), [true]);
    }
}
