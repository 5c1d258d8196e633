//! The client engine: one deterministic state machine a host drives.
//!
//! Inputs: bytes received on a connection ([`Engine::handle_input`]),
//! connection outcomes ([`Engine::handle_connected`],
//! [`Engine::handle_closed`]), user commands ([`Engine::send`],
//! [`Engine::request`], [`Engine::shutdown`]) and time
//! ([`Engine::handle_timeout`]). Outputs: [`Engine::poll_transmit`],
//! [`Engine::poll_event`] and [`Engine::poll_timeout`].
//!
//! After every input, drain `poll_transmit` and `poll_event`, then arm one
//! timer at `poll_timeout`.
//!
//! ```
//! use core::time::Duration;
//! use rmq_core::engine::{ClientConfig, Engine, Transmit};
//! use rmq_core::time::Instant;
//!
//! let config = ClientConfig { name_servers: vec!["127.0.0.1:9876".into()], ..Default::default() };
//! let mut engine = Engine::new(config, Instant::ZERO);
//! engine.ensure_route("orders", Instant::ZERO);
//! // The engine asks its host to connect to the name server, then to write the query.
//! assert!(matches!(engine.poll_transmit(), Some(Transmit::Connect { .. })));
//! ```

mod config;
mod connections;
mod error;
mod event;
mod namesrv;
pub(crate) mod routes;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

pub use config::ClientConfig;
pub use connections::{ConnId, Transmit};
pub use error::{RequestError, SendError};
pub use event::{Event, RequestId, SendId, SendReceipt, SendResult, SendStatus};

use crate::producer::ProducerState;
use crate::protocol::fields::{CommandHeader, ExtFields};
use crate::protocol::{
    encode_frame, request_code, response_code, CommandMeta, FieldSink, FieldSource,
    RemotingCommand, ONEWAY_FLAG, RESPONSE_FLAG,
};
use crate::time::Instant;
use namesrv::NameServers;
use routes::Routes;

/// Why a request was made; decides what its response or failure does.
#[derive(Debug)]
pub(crate) enum Purpose {
    /// A route query for `topic`; `via_default` when asking for the
    /// auto-create template topic's route on its behalf.
    Route {
        topic: String,
        via_default: bool,
        attempt: usize,
    },
    /// One attempt of a send.
    Send { id: SendId, broker: String },
    /// A heartbeat or unregistration: the answer does not matter.
    Housekeeping,
    /// A raw user request.
    User { id: RequestId },
}

#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) conn: ConnId,
    pub(crate) deadline: Instant,
    pub(crate) started: Instant,
    pub(crate) purpose: Purpose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Waiting for in-flight sends to settle, then unregistering until the deadline.
    ShuttingDown {
        deadline: Instant,
        unregistered: bool,
    },
    Closed,
}

/// The rmq client state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: ClientConfig,
    pub(crate) conns: connections::Connections,
    pub(crate) inflight: BTreeMap<i32, InFlight>,
    deadlines: BTreeSet<(Instant, i32)>,
    next_opaque: i32,
    pub(crate) namesrv: NameServers,
    pub(crate) routes: Routes,
    pub(crate) producer: Option<ProducerState>,
    pub(crate) events: VecDeque<Event>,
    /// Broker addresses we heartbeat (masters of every route in use).
    pub(crate) brokers: BTreeSet<String>,
    next_heartbeat: Instant,
    next_route_refresh: Instant,
    next_request_id: u64,
    state: State,
}

impl Engine {
    /// A client engine with no role yet; add one with
    /// [`Engine::with_producer`].
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let namesrv = NameServers::new(config.name_servers.clone(), config.seed);
        Engine {
            conns: connections::Connections::new(config.max_frame_len),
            inflight: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            next_opaque: 0,
            namesrv,
            routes: Routes::default(),
            producer: None,
            events: VecDeque::new(),
            brokers: BTreeSet::new(),
            next_heartbeat: now + config.heartbeat_interval,
            next_route_refresh: now + config.route_refresh_interval,
            next_request_id: 0,
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

    // ----- inputs -----------------------------------------------------------

    /// The host opened connection `conn`; buffered requests may now flow.
    pub fn handle_connected(&mut self, conn: ConnId, _now: Instant) {
        self.conns.mark_connected(conn);
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

    /// Time passed: expire requests and run periodic tasks due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, opaque)) = self.deadlines.first() {
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
        self.expire_sends(now);
        if self.state == State::Running {
            if now >= self.next_route_refresh {
                self.next_route_refresh = now + self.config.route_refresh_interval;
                self.refresh_routes(now);
            }
            if now >= self.next_heartbeat {
                self.next_heartbeat = now + self.config.heartbeat_interval;
                self.heartbeat_all(now);
            }
        }
        self.progress_shutdown(now);
    }

    // ----- outputs ----------------------------------------------------------

    /// The next network action for the host.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.conns.poll_transmit()
    }

    /// The next event for the host or the user.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.deadlines.first().map(|(t, _)| *t);
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if let Some(t) = self.next_send_deadline() {
            consider(t);
        }
        match self.state {
            State::Running => {
                consider(self.next_heartbeat);
                consider(self.next_route_refresh);
            }
            State::ShuttingDown { deadline, .. } => consider(deadline),
            State::Closed => {}
        }
        next
    }

    // ----- commands -----------------------------------------------------------

    /// Sends a raw request to `addr` and reports the response as
    /// [`Event::RequestDone`]. The engine assigns the opaque and signs the
    /// request when the client has credentials. Long-poll pulls pass a
    /// `timeout` longer than their suspend time. A oneway request (flag
    /// `ONEWAY_FLAG`) completes at once with a synthesized SUCCESS response,
    /// since no answer will come.
    pub fn request(
        &mut self,
        addr: &str,
        mut command: RemotingCommand,
        timeout: Duration,
        now: Instant,
    ) -> RequestId {
        self.next_request_id += 1;
        let id = RequestId(self.next_request_id);
        if self.state != State::Running {
            self.events.push_back(Event::RequestDone {
                id,
                result: Err(RequestError::ShutDown),
            });
            return id;
        }
        let conn = self.conns.get_or_open(addr);
        let oneway = command.is_oneway();
        let opaque = self.alloc_opaque();
        command.opaque = opaque;
        command.language = self.config.language;
        command.version = self.config.version;
        self.sign_command(&mut command);
        let ser = self.config.serialize_type;
        if let Some(Err(e)) = self.conns.out(conn).map(|out| command.encode(ser, out)) {
            self.events.push_back(Event::RequestDone {
                id,
                result: Err(RequestError::Unencodable {
                    reason: e.to_string(),
                }),
            });
            return id;
        }
        if oneway {
            self.events.push_back(Event::RequestDone {
                id,
                result: Ok(RemotingCommand::response(response_code::SUCCESS, opaque)),
            });
        } else {
            self.track(opaque, conn, now + timeout, now, Purpose::User { id });
        }
        id
    }

    /// Sends a raw request to the current name server.
    pub fn request_name_server(
        &mut self,
        command: RemotingCommand,
        timeout: Duration,
        now: Instant,
    ) -> RequestId {
        match self.namesrv.current().map(String::from) {
            Some(addr) => self.request(&addr, command, timeout, now),
            None => {
                self.next_request_id += 1;
                let id = RequestId(self.next_request_id);
                self.events.push_back(Event::RequestDone {
                    id,
                    result: Err(RequestError::NoNameServer),
                });
                id
            }
        }
    }

    /// Answers a broker-initiated request received on `conn`.
    pub fn respond(&mut self, conn: ConnId, mut response: RemotingCommand) {
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

    /// The cached route of `topic`, if known.
    pub fn route(&self, topic: &str) -> Option<&crate::route::RouteTable> {
        self.routes.table(topic)
    }

    /// Makes sure the route of `topic` is known or being fetched.
    pub fn ensure_route(&mut self, topic: &str, now: Instant) {
        if self.routes.table(topic).is_none() && !self.routes.is_querying(topic) {
            self.query_route(topic, false, 0, now);
        }
    }

    /// Stops accepting commands, lets in-flight sends settle, unregisters
    /// from every broker, closes every connection and reports
    /// [`Event::ShutdownComplete`]. Bounded by the request timeout.
    pub fn shutdown(&mut self, now: Instant) {
        if self.state != State::Running {
            return;
        }
        let settle = self.next_send_deadline().unwrap_or(now).max(now);
        self.state = State::ShuttingDown {
            deadline: settle + self.config.request_timeout,
            unregistered: false,
        };
        self.progress_shutdown(now);
    }

    // ----- internals ------------------------------------------------------------

    pub(crate) fn alloc_opaque(&mut self) -> i32 {
        loop {
            self.next_opaque = self.next_opaque.wrapping_add(1);
            if !self.inflight.contains_key(&self.next_opaque) {
                return self.next_opaque;
            }
        }
    }

    pub(crate) fn track(
        &mut self,
        opaque: i32,
        conn: ConnId,
        deadline: Instant,
        now: Instant,
        purpose: Purpose,
    ) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.inflight.insert(opaque);
        }
        self.deadlines.insert((deadline, opaque));
        self.inflight.insert(
            opaque,
            InFlight {
                conn,
                deadline,
                started: now,
                purpose,
            },
        );
    }

    /// Encodes a typed request onto `conn`; returns the opaque (the caller
    /// tracks it unless oneway).
    pub(crate) fn write_request<H: CommandHeader>(
        &mut self,
        conn: ConnId,
        code: i32,
        header: &H,
        body: &[u8],
        oneway: bool,
    ) -> i32 {
        self.write_fields(conn, code, &HeaderFields(header), body, oneway)
    }

    /// Encodes a request whose fields come from any [`FieldSource`];
    /// returns the opaque.
    pub(crate) fn write_fields<F: FieldSource + ?Sized>(
        &mut self,
        conn: ConnId,
        code: i32,
        fields: &F,
        body: &[u8],
        oneway: bool,
    ) -> i32 {
        let opaque = self.alloc_opaque();
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
        opaque
    }

    /// Stops tracking request `opaque`; a late response is ignored.
    pub(crate) fn forget_request(&mut self, opaque: i32) {
        if let Some(req) = self.inflight.remove(&opaque) {
            self.deadlines.remove(&(req.deadline, opaque));
            if let Some(c) = self.conns.get_mut(req.conn) {
                c.inflight.remove(&opaque);
            }
        }
    }

    fn sign_command(&self, command: &mut RemotingCommand) {
        if let Some(creds) = &self.config.credentials {
            crate::acl::sign_ext_fields(&mut command.ext_fields, &command.body, creds);
        }
    }

    fn addr_of(&self, conn: ConnId) -> String {
        self.conns
            .get(conn)
            .map(|c| c.addr.clone())
            .unwrap_or_else(|| String::from("-"))
    }

    fn fail_connection(&mut self, conn: connections::Connection, reason: &str, now: Instant) {
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
            self.handle_broker_request(conn, cmd);
            return;
        }
        let Some(req) = self.inflight.remove(&cmd.opaque) else {
            return; // late answer to a request that already timed out
        };
        self.deadlines.remove(&(req.deadline, cmd.opaque));
        if let Some(c) = self.conns.get_mut(req.conn) {
            c.inflight.remove(&cmd.opaque);
        }
        match req.purpose {
            Purpose::Route {
                topic,
                via_default,
                attempt,
            } => self.on_route_response(conn, topic, via_default, attempt, cmd, now),
            Purpose::Send { id, broker } => {
                self.on_send_response(id, &broker, req.started, cmd, now)
            }
            Purpose::Housekeeping => {}
            Purpose::User { id } => self.events.push_back(Event::RequestDone {
                id,
                result: Ok(cmd),
            }),
        }
    }

    fn handle_broker_request(&mut self, conn: ConnId, cmd: RemotingCommand) {
        if cmd.is_oneway() {
            self.events
                .push_back(Event::BrokerRequest { conn, command: cmd });
            return;
        }
        // No role of this engine serves broker requests that expect an
        // answer yet: say so, as the Java client does for unknown codes.
        let mut resp =
            RemotingCommand::response(response_code::REQUEST_CODE_NOT_SUPPORTED, cmd.opaque);
        resp.remark = Some(alloc::format!("request code {} not supported", cmd.code));
        self.respond(conn, resp);
        self.events
            .push_back(Event::BrokerRequest { conn, command: cmd });
    }

    fn fail_request(&mut self, req: InFlight, err: RequestError, now: Instant) {
        match req.purpose {
            Purpose::Route {
                topic,
                via_default,
                attempt,
            } => self.on_route_failure(topic, via_default, attempt, err, now),
            Purpose::Send { id, broker } => {
                self.on_send_failure(id, &broker, req.started, err, now)
            }
            Purpose::Housekeeping => {}
            Purpose::User { id } => self.events.push_back(Event::RequestDone {
                id,
                result: Err(err),
            }),
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

    /// Sends one heartbeat with every role's data to `addr`.
    pub(crate) fn heartbeat(&mut self, addr: &str, now: Instant) {
        let mut data = crate::protocol::body::HeartbeatData {
            client_id: self.config.client_id.clone(),
            ..Default::default()
        };
        if let Some(p) = &self.producer {
            data.producer_data_set
                .push(crate::protocol::body::ProducerData {
                    group_name: p.config.group.clone(),
                });
        }
        let body = data.to_json();
        let conn = self.conns.get_or_open(addr);
        let opaque = self.write_request(conn, request_code::HEART_BEAT, &NoHeader, &body, false);
        let deadline = now + self.config.request_timeout;
        self.track(opaque, conn, deadline, now, Purpose::Housekeeping);
    }

    /// Starts heartbeating every master address of `table` not yet known.
    pub(crate) fn adopt_brokers(&mut self, addrs: Vec<String>, now: Instant) {
        for addr in addrs {
            if self.brokers.insert(addr.clone()) {
                self.heartbeat(&addr, now);
            }
        }
    }

    fn progress_shutdown(&mut self, now: Instant) {
        let State::ShuttingDown {
            deadline,
            unregistered,
        } = self.state
        else {
            return;
        };
        let sends_settled = self.producer.as_ref().is_none_or(|p| p.sends.is_empty());
        if !unregistered && (sends_settled || now >= deadline) {
            self.unregister_all(now);
            self.state = State::ShuttingDown {
                deadline,
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
            self.abort_all_sends();
            self.state = State::Closed;
            self.events.push_back(Event::ShutdownComplete);
        }
    }

    fn unregister_all(&mut self, now: Instant) {
        let Some(group) = self.producer.as_ref().map(|p| p.config.group.clone()) else {
            return;
        };
        let header = crate::protocol::headers::UnregisterClientRequestHeader {
            client_id: self.config.client_id.clone(),
            producer_group: Some(group),
            consumer_group: None,
            ..Default::default()
        };
        let addrs: Vec<String> = self.brokers.iter().cloned().collect();
        for addr in addrs {
            // Only brokers we are still connected to: a dead broker has
            // forgotten us already and must not delay shutdown.
            let Some(conn) = self.conns.find(&addr) else {
                continue;
            };
            let opaque =
                self.write_request(conn, request_code::UNREGISTER_CLIENT, &header, &[], false);
            let deadline = now + self.config.request_timeout;
            self.track(opaque, conn, deadline, now, Purpose::Housekeeping);
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
/// has credentials. A free function over disjoint borrows, so the send path
/// can encode fields borrowed from the producer state without copying them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_onto<F: FieldSource + ?Sized>(
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
    let ser = config.serialize_type;
    let Some(out) = conns.out(conn) else {
        return;
    };
    // Encoding fails only for a header over 16 MiB, which no request the
    // engine builds can reach; such a request would then time out.
    match &config.credentials {
        None => {
            // The common path: straight into the connection's buffer.
            let _ = encode_frame(out, ser, &meta, fields, body);
        }
        Some(creds) => {
            let mut signer = crate::acl::AclSigner::new();
            fields.write_to(&mut signer);
            let signature = signer.signature(body, creds);
            let mut auth: Vec<(&str, &str)> = Vec::with_capacity(3);
            auth.push((crate::acl::ACCESS_KEY, creds.access_key.as_str()));
            if let Some(token) = &creds.security_token {
                auth.push((crate::acl::SECURITY_TOKEN, token.as_str()));
            }
            auth.push((crate::acl::SIGNATURE, signature.as_str()));
            let _ = encode_frame(out, ser, &meta, &Chained(fields, auth.as_slice()), body);
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
