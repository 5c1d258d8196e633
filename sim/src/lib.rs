//! A simulated network for `rmq-core`: one or more [`Client`]s and
//! scripted peers (name servers, brokers) stepped together on one virtual
//! clock, in the manner of quinn-proto's `Pair::drive` and str0m's
//! `progress()`. No sockets, no threads, no real time: a scenario runs in
//! microseconds and the same script always gives the same run.
//!
//! Peers are a [`Script`]: given the address a request went to and the
//! request, it answers (or stays silent). Addresses in [`Network::dead`]
//! refuse connections. Everything each client writes is logged in
//! [`Network::seen`]; every caller's [`Outcome`] in the client's log.
//!
//! ```
//! use rmq_core::engine::ClientConfig;
//! use rmq_core::protocol::{request_code, response_code, RemotingCommand};
//! use rmq_sim::Network;
//!
//! let mut net = Network::new(Box::new(|_, cmd| {
//!     Some(RemotingCommand::response(response_code::SUCCESS, cmd.opaque))
//! }));
//! let node = net.add_client(ClientConfig { name_servers: vec!["ns:9876".into()], ..Default::default() });
//! let cmd = RemotingCommand::request(request_code::GET_BROKER_CLUSTER_INFO, 0);
//! net.request(node, None, cmd);
//! assert_eq!(net.seen.len(), 1);
//! assert_eq!(net.outcomes(node).len(), 1);
//! ```

pub mod cluster;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use rmq_core::client::{Caller, Client, Outcome, ProducerId, RequestId};
use rmq_core::engine::{ClientConfig, ConnId, Transmit};
use rmq_core::producer::{ProducerConfig, SendError, SendId, SendReceipt, SendRequest};
use rmq_core::protocol::{FrameDecoder, RemotingCommand, SerializeType};
use rmq_core::time::Instant;

/// How the scripted peers answer one request sent to `addr`: `None` is
/// silence.
pub type Script = Box<dyn FnMut(&str, &RemotingCommand) -> Option<RemotingCommand>>;

/// Bound on settle rounds and timer firings per call: a livelock becomes a
/// panic naming itself instead of a hung test.
const MAX_ROUNDS: usize = 100_000;

/// Identifies a client added with [`Network::add_client`].
pub type NodeId = usize;

/// Records a caller's outcome in its client's log.
#[derive(Debug, Clone)]
pub struct Recorder(pub(crate) Rc<RefCell<Vec<Outcome>>>);

impl Caller for Recorder {
    fn complete(self, outcome: Outcome) {
        self.0.borrow_mut().push(outcome);
    }
}

/// One simulated client and its side of each connection.
struct Node {
    client: Client<Recorder>,
    conns: BTreeMap<ConnId, (String, FrameDecoder)>,
    log: Rc<RefCell<Vec<Outcome>>>,
}

/// Clients and scripted peers on one virtual clock.
pub struct Network {
    /// The virtual clock.
    pub now: Instant,
    /// Addresses that refuse connections.
    pub dead: Vec<String>,
    /// Every frame a client wrote, with the address it went to, in order.
    pub seen: Vec<(String, RemotingCommand)>,
    script: Script,
    nodes: Vec<Node>,
}

impl Network {
    /// A network whose peers answer with `script`, at time zero, with no client.
    pub fn new(script: Script) -> Self {
        Network {
            now: Instant::ZERO,
            dead: Vec::new(),
            seen: Vec::new(),
            script,
            nodes: Vec::new(),
        }
    }

    /// Adds a client (no roles yet) created now.
    pub fn add_client(&mut self, config: ClientConfig) -> NodeId {
        let log = Rc::new(RefCell::new(Vec::new()));
        self.nodes.push(Node {
            client: Client::new(config, self.now),
            conns: BTreeMap::new(),
            log,
        });
        self.nodes.len() - 1
    }

    /// Adds a producer group to client `node`.
    pub fn add_producer(&mut self, node: NodeId, config: ProducerConfig) -> ProducerId {
        let now = self.now;
        let id = self.nodes[node].client.add_producer(config, now);
        self.settle();
        id
    }

    /// Client `node`, to feed inputs or commands directly (follow with
    /// [`Network::settle`]).
    pub fn client(&mut self, node: NodeId) -> &mut Client<Recorder> {
        &mut self.nodes[node].client
    }

    /// A caller that records into `node`'s log.
    pub fn recorder(&self, node: NodeId) -> Recorder {
        Recorder(Rc::clone(&self.nodes[node].log))
    }

    /// Starts a send and settles.
    pub fn send(&mut self, node: NodeId, producer: ProducerId, request: SendRequest) -> SendId {
        let (now, caller) = (self.now, self.recorder(node));
        let id = self.nodes[node].client.send(producer, request, now, caller);
        self.settle();
        id
    }

    /// Starts a raw request and settles.
    pub fn request(
        &mut self,
        node: NodeId,
        addr: Option<&str>,
        command: RemotingCommand,
    ) -> RequestId {
        let (now, caller) = (self.now, self.recorder(node));
        let timeout = Duration::from_secs(3);
        let id = self.nodes[node]
            .client
            .request(addr, command, timeout, now, caller);
        self.settle();
        id
    }

    /// Begins `node`'s shutdown and settles.
    pub fn shutdown(&mut self, node: NodeId) {
        let (now, caller) = (self.now, self.recorder(node));
        self.nodes[node].client.shutdown(now, caller);
        self.settle();
    }

    /// Every outcome `node`'s callers got so far, in order.
    pub fn outcomes(&self, node: NodeId) -> std::cell::Ref<'_, Vec<Outcome>> {
        self.nodes[node].log.borrow()
    }

    /// The outcome of send `id` of `node`, once finished.
    pub fn send_outcome(&self, node: NodeId, id: SendId) -> Option<Result<SendReceipt, SendError>> {
        self.outcomes(node).iter().find_map(|o| match o {
            Outcome::Sent { id: i, result } if *i == id => Some(result.clone()),
            _ => None,
        })
    }

    /// True once `node` completed a shutdown caller.
    pub fn is_shut_down(&self, node: NodeId) -> bool {
        self.outcomes(node)
            .iter()
            .any(|o| matches!(o, Outcome::ShutDown))
    }

    /// `node`'s open connections: id and remote address.
    pub fn connections(&self, node: NodeId) -> Vec<(ConnId, String)> {
        let conns = &self.nodes[node].conns;
        conns
            .iter()
            .map(|(id, (addr, _))| (*id, addr.clone()))
            .collect()
    }

    /// The connection of `node` to `addr`, if open.
    pub fn connection_to(&self, node: NodeId, addr: &str) -> Option<ConnId> {
        let conns = &self.nodes[node].conns;
        conns
            .iter()
            .find(|(_, (a, _))| a == addr)
            .map(|(id, _)| *id)
    }

    /// The peer at `addr` sends `command` (a request of its own) to `node`
    /// over their open connection; returns false when there is none.
    pub fn peer_sends(&mut self, node: NodeId, addr: &str, command: &RemotingCommand) -> bool {
        let Some(conn) = self.connection_to(node, addr) else {
            return false;
        };
        let mut out = BytesMut::new();
        if command.encode(SerializeType::Json, &mut out).is_err() {
            return false;
        }
        let now = self.now;
        self.nodes[node].client.handle_input(conn, &out, now);
        self.settle();
        true
    }

    /// The peer at `addr` drops its connection with a client (a broker
    /// restarting): the client sees it closed.
    pub fn drop_connection(&mut self, node: NodeId, addr: &str) -> bool {
        let Some(conn) = self.connection_to(node, addr) else {
            return false;
        };
        let now = self.now;
        let n = &mut self.nodes[node];
        n.conns.remove(&conn);
        n.client
            .handle_closed(conn, "connection reset by peer", now);
        self.settle();
        true
    }

    /// Moves bytes between every client and the peers until nothing more
    /// happens at this instant.
    pub fn settle(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut progressed = false;
            for node in 0..self.nodes.len() {
                progressed |= self.step(node);
            }
            if !progressed {
                return;
            }
        }
        panic!("the network did not settle in {MAX_ROUNDS} rounds: a livelock");
    }

    /// Carries out one client's transmits; true if there were any.
    fn step(&mut self, node: NodeId) -> bool {
        let mut progressed = false;
        let now = self.now;
        while let Some(t) = self.nodes[node].client.poll_transmit() {
            progressed = true;
            match t {
                Transmit::Connect { conn, addr } => {
                    let n = &mut self.nodes[node];
                    if self.dead.contains(&addr) {
                        n.client.handle_closed(conn, "connection refused", now);
                    } else {
                        n.conns.insert(conn, (addr, FrameDecoder::default()));
                        n.client.handle_connected(conn, now);
                    }
                }
                Transmit::Write { conn, bytes } => self.deliver(node, conn, &bytes),
                Transmit::Close { conn } => {
                    self.nodes[node].conns.remove(&conn);
                }
            }
        }
        progressed
    }

    /// Hands what a client wrote to the script and its answers back.
    fn deliver(&mut self, node: NodeId, conn: ConnId, bytes: &[u8]) {
        let now = self.now;
        let n = &mut self.nodes[node];
        let Some((addr, decoder)) = n.conns.get_mut(&conn) else {
            return;
        };
        let addr = addr.clone();
        decoder.feed(bytes);
        let mut frames = Vec::new();
        while let Ok(Some(cmd)) = decoder.decode_next() {
            frames.push(cmd);
        }
        for cmd in frames {
            self.seen.push((addr.clone(), cmd.clone()));
            if cmd.is_oneway() || cmd.is_response() {
                continue;
            }
            if let Some(mut resp) = (self.script)(&addr, &cmd) {
                resp.opaque = cmd.opaque;
                let mut out = BytesMut::new();
                if resp.encode(SerializeType::Json, &mut out).is_ok() {
                    self.nodes[node].client.handle_input(conn, &out, now);
                }
            }
        }
    }

    /// Advances the clock by `by`, firing every timer due on the way, and
    /// settling after each.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        for _ in 0..MAX_ROUNDS {
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.client.poll_timeout())
                .min();
            match next {
                Some(t) if t <= target => {
                    self.now = t.max(self.now);
                    self.fire_timers();
                }
                _ => {
                    self.now = target;
                    self.fire_timers();
                    return;
                }
            }
        }
        panic!("timers kept firing at or before {target:?}: a livelock");
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for n in &mut self.nodes {
            if n.client.poll_timeout().is_some_and(|t| t <= now) {
                n.client.handle_timeout(now);
            }
        }
        self.settle();
    }
}
