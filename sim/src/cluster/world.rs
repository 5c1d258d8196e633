//! The simulated world: clients, links, brokers, name servers, the event
//! queue and the fault scheduler, stepped on one virtual clock.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use rmq_core::client::{Client, ConsumerId, Outcome, ProducerId, RequestId};
use rmq_core::consumer::{ConsumeFrom, ConsumeResult, ConsumerConfig, DeliveryId, MessageModel};
use rmq_core::engine::{ClientConfig, ConnId, Transmit};
use rmq_core::message::Message;
use rmq_core::producer::{ProducerConfig, SendId, SendReceipt, SendRequest, WallClock};
use rmq_core::protocol::body::ResetOffsetBody;
use rmq_core::protocol::{request_code, FrameDecoder, RemotingCommand, SerializeType};
use rmq_core::time::Instant;

use super::broker::{route_answer, Broker, Effect, LinkId, Location};
use super::check::{Checker, QueueKey};
use super::rng::Rng;
use super::{Bug, Failure, FaultKind, InjectedFault, Invariant, SimConfig, Stats};
use crate::Recorder;

const TOPIC: &str = "orders";
const GROUP: &str = "cg";
const RETRY: &str = "%RETRY%cg";
/// The broadcasting group.
const BGROUP: &str = "bg";
/// Wall clock at virtual time zero (Unix ms).
const EPOCH_MS: i64 = 1_700_000_000_000;
/// Bound on steps per run: a livelock becomes a failure.
const MAX_STEPS: u64 = 2_000_000;
/// Slack on a deadline before a request counts as never ended.
const DEADLINE_SLACK: Duration = Duration::from_millis(5);
/// Memory probes (GET_CONSUMER_RUNNING_INFO) this often.
const PROBE_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Producer,
    /// A member of the clustering group.
    Consumer,
    /// A member of the broadcasting group.
    Broadcast,
}

impl Kind {
    /// The consumer group of a consumer node.
    fn group(self) -> &'static str {
        match self {
            Kind::Broadcast => BGROUP,
            _ => GROUP,
        }
    }
}

/// One client process.
struct Node {
    kind: Kind,
    base: String,
    inc: u32,
    client_id: String,
    client: Option<Client<Recorder>>,
    log: Rc<RefCell<Vec<Outcome>>>,
    seen: usize,
    conns: BTreeMap<ConnId, LinkId>,
    producer: Option<ProducerId>,
    consumer: Option<ConsumerId>,
    sends: BTreeMap<SendId, (Instant, Vec<u8>)>,
    raws: BTreeMap<RequestId, Instant>,
    /// The bug wrapper's frozen routes: topic -> first answer.
    frozen: BTreeMap<String, RemotingCommand>,
    /// Handler time range in ms.
    slow: (u64, u64),
    /// The checker's name for the offsets this node's group moves: the
    /// clustering group, or (broadcasting) this member alone.
    track: String,
    /// Broadcasting: the host's offsets store, the last snapshot the
    /// client asked to persist; it survives the process.
    store: Option<Vec<u8>>,
    /// When the first process of this node started.
    first_start: Instant,
    /// When its current process started.
    started: Instant,
    /// Deliveries handed to this node's handlers (all processes).
    deliveries: u64,
}

/// One simulated connection.
struct Link {
    node: usize,
    conn: ConnId,
    addr: String,
    open: bool,
    decoder: FrameDecoder,
    /// Last scheduled arrival each way (TCP keeps order on a connection).
    up_at: Instant,
    down_at: Instant,
}

enum Target {
    NameServer(usize),
    Broker(usize),
}

enum Ev {
    Connected(LinkId),
    ToServer(LinkId, RemotingCommand),
    ToClient(LinkId, Vec<u8>),
    HandlerDone {
        node: usize,
        inc: u32,
        consumer: ConsumerId,
        id: DeliveryId,
        result: ConsumeResult,
        key: QueueKey,
        done: Vec<(Location, Vec<u8>)>,
    },
    Produce(usize, usize),
    Raw(usize),
    Probe,
    /// Fault `.0` (its index in drawing order) comes due.
    Fault(usize, FaultKind),
    /// The follow-ups of fault `.0`.
    Restart(usize, usize),
    BrokerRestart(usize, usize),
    Resume(usize, usize),
    NameServerBack(usize, usize),
    StormOver(usize),
}

/// A compact trace entry, formatted only on failure.
enum Tr {
    Up(usize, LinkId, i32, i32),
    Down(usize, LinkId, usize),
    Timer(usize),
    Tick(usize),
    /// Node, broker, retry topic, queue, first offset, messages.
    Deliver(usize, String, bool, i32, i64, usize),
    /// Node, broker, retry topic, queue, first offset, messages, success.
    Done(usize, String, bool, i32, i64, usize, bool),
    Sent(usize, usize),
    Fault(String),
    /// A fault the run's mask leaves out.
    Skipped(usize, FaultKind),
}

/// The simulated world. Build with [`World::new`], run with [`World::run`].
pub struct World {
    seed: u64,
    cfg: SimConfig,
    now: Instant,
    end: Instant,
    rng: Rng,
    net: Rng,
    events: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    nodes: Vec<Node>,
    links: BTreeMap<LinkId, Link>,
    next_link: LinkId,
    brokers: Vec<Broker>,
    ns_addrs: Vec<String>,
    ns_down: Vec<bool>,
    storm: bool,
    check: Checker,
    stats: Stats,
    /// The faults drawn: kind and time, in drawing order.
    plan: Vec<(FaultKind, Instant)>,
    /// The faults whose time came, with what they did.
    faults: Vec<InjectedFault>,
    trace: VecDeque<(Instant, Tr)>,
    /// Queue ownership must be exact from then on (membership stable).
    settled_at: Instant,
    next_probe_opaque: i32,
    consumer_cfg: ConsumerConfig,
    failure: Option<Box<Failure>>,
    owner_counts: Vec<u8>,
    /// When each broker last restarted.
    restarted: BTreeMap<String, Instant>,
    /// The broadcasting members' ownership is checked next then.
    next_broadcast_check: Instant,
}

impl World {
    /// A world for `seed` shaped by `cfg`, at time zero.
    pub fn new(seed: u64, cfg: SimConfig) -> Self {
        let mut rng = Rng::new(seed);
        let net = rng.fork();
        let total = cfg.brokers + cfg.spare_brokers;
        let mut brokers: Vec<Broker> = (0..total)
            .map(|i| Broker::new(&format!("broker-{i}"), &format!("10.0.0.{}:10911", i + 1)))
            .collect();
        for b in brokers.iter_mut().take(cfg.brokers) {
            b.up = true;
            b.topics.insert(TOPIC.into(), cfg.queues);
        }
        let ns_addrs: Vec<String> = (0..cfg.name_servers.max(1))
            .map(|i| format!("10.0.1.{}:9876", i + 1))
            .collect();
        let consumer_cfg = ConsumerConfig {
            group: GROUP.into(),
            orderly: cfg.orderly,
            pull_batch_size: 4,
            pull_threshold_for_queue: 6,
            ..Default::default()
        };
        let mut w = World {
            seed,
            end: Instant::ZERO + cfg.run_for,
            now: Instant::ZERO,
            rng,
            net,
            events: BTreeMap::new(),
            seq: 0,
            nodes: Vec::new(),
            links: BTreeMap::new(),
            next_link: 1,
            brokers,
            ns_down: vec![false; ns_addrs.len()],
            ns_addrs,
            storm: false,
            check: Checker::default(),
            stats: Stats::default(),
            plan: Vec::new(),
            faults: Vec::new(),
            trace: VecDeque::new(),
            settled_at: Instant::ZERO,
            next_probe_opaque: 1 << 30,
            consumer_cfg,
            failure: None,
            owner_counts: Vec::new(),
            restarted: BTreeMap::new(),
            next_broadcast_check: Instant::ZERO,
            cfg,
        };
        for i in 0..w.cfg.producers {
            w.add_node(Kind::Producer, format!("10.0.2.{}@p{i}", i + 1));
        }
        for i in 0..w.cfg.consumers {
            w.add_node(Kind::Consumer, format!("10.0.3.{}@c{i}", i + 1));
        }
        for i in 0..w.cfg.broadcasters {
            w.add_node(Kind::Broadcast, format!("10.0.4.{}@b{i}", i + 1));
        }
        // The workload: messages spread over the producers and the window.
        let window = w.cfg.produce_window.as_millis() as u64;
        for k in 0..w.cfg.messages {
            let p = k % w.cfg.producers.max(1);
            let at = Instant::ZERO + Duration::from_millis(w.rng.range(100, window.max(100)));
            w.schedule(at, Ev::Produce(p, k));
        }
        for p in 0..w.cfg.producers {
            let at = Instant::ZERO + Duration::from_millis(w.rng.range(500, 7000));
            w.schedule(at, Ev::Raw(p));
        }
        let fw = w.cfg.fault_window.as_millis() as u64;
        for i in 0..w.cfg.faults {
            if w.cfg.fault_kinds.is_empty() {
                break;
            }
            let kind = w.cfg.fault_kinds[w.rng.below(w.cfg.fault_kinds.len() as u64) as usize];
            let at = Instant::ZERO + Duration::from_millis(w.rng.range(1000, fw.max(1000)));
            w.plan.push((kind, at));
            w.schedule(at, Ev::Fault(i, kind));
        }
        w.schedule(Instant::ZERO + PROBE_EVERY, Ev::Probe);
        w
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.events.insert((at, self.seq), ev);
    }

    /// The faults drawn for this run, in drawing order (index `i` is what
    /// [`super::FaultMask`] calls `#i`): kind and virtual time in ms.
    pub fn fault_plan(&self) -> Vec<(FaultKind, u64)> {
        self.plan
            .iter()
            .map(|(k, at)| (*k, at.as_millis()))
            .collect()
    }

    fn trace(&mut self, tr: Tr) {
        if self.trace.len() >= self.cfg.history.max(self.cfg.trace_len).max(1) {
            self.trace.pop_front();
        }
        self.trace.push_back((self.now, tr));
    }

    fn add_node(&mut self, kind: Kind, base: String) {
        self.nodes.push(Node {
            kind,
            base: base.clone(),
            inc: 0,
            client_id: String::new(),
            client: None,
            log: Rc::new(RefCell::new(Vec::new())),
            seen: 0,
            conns: BTreeMap::new(),
            producer: None,
            consumer: None,
            sends: BTreeMap::new(),
            raws: BTreeMap::new(),
            frozen: BTreeMap::new(),
            slow: if self.rng.chance(300) {
                (50, 400)
            } else {
                (1, 20)
            },
            track: match kind {
                Kind::Broadcast => format!("{BGROUP}/{base}"),
                _ => GROUP.into(),
            },
            store: None,
            first_start: self.now,
            started: self.now,
            deliveries: 0,
        });
        let n = self.nodes.len() - 1;
        self.start_node(n);
    }

    /// Starts (or restarts) node `n`'s process with a fresh client id.
    fn start_node(&mut self, n: usize) {
        let now = self.now;
        let seed = self.rng.next_u64();
        let node = &mut self.nodes[n];
        node.inc += 1;
        node.client_id = if node.inc == 1 {
            node.base.clone()
        } else {
            format!("{}#{}", node.base, node.inc)
        };
        let config = ClientConfig {
            name_servers: self.ns_addrs.clone(),
            client_id: node.client_id.clone(),
            seed,
            ..Default::default()
        };
        if node.inc == 1 {
            node.first_start = now;
        }
        node.started = now;
        node.log = Rc::new(RefCell::new(Vec::new()));
        node.seen = 0;
        node.frozen.clear();
        let mut client = Client::new(config, now);
        match node.kind {
            Kind::Producer => {
                let pc = ProducerConfig {
                    group: "pg".into(),
                    ..Default::default()
                };
                node.producer = Some(client.add_producer(pc, now));
            }
            Kind::Consumer => {
                let version = EPOCH_MS + now.as_millis() as i64;
                let id = client.add_consumer(
                    self.consumer_cfg.clone(),
                    &[(TOPIC, "*", false)],
                    None,
                    version,
                    now,
                );
                node.consumer = Some(id);
            }
            Kind::Broadcast => {
                let version = EPOCH_MS + now.as_millis() as i64;
                let forgets = self.cfg.bug == Some(Bug::ForgetsBroadcastOffsets);
                let config = ConsumerConfig {
                    group: BGROUP.into(),
                    model: MessageModel::Broadcasting,
                    // A queue with no stored offset is read from its start:
                    // no message is missed before a member's first
                    // rebalance, or on queues added later.
                    consume_from: if forgets && node.inc > 1 {
                        ConsumeFrom::Last
                    } else {
                        ConsumeFrom::First
                    },
                    ..self.consumer_cfg.clone()
                };
                let stored = node.store.as_deref().filter(|_| !forgets);
                let id = client.add_consumer(config, &[(TOPIC, "*", false)], stored, version, now);
                node.consumer = Some(id);
            }
        }
        node.client = Some(client);
        self.flush_node(n);
    }

    fn target(&self, addr: &str) -> Option<Target> {
        if let Some(i) = self.ns_addrs.iter().position(|a| a == addr) {
            return Some(Target::NameServer(i));
        }
        self.brokers
            .iter()
            .position(|b| b.addr == addr)
            .map(Target::Broker)
    }

    fn reachable(&self, addr: &str) -> bool {
        match self.target(addr) {
            Some(Target::NameServer(i)) => !self.ns_down[i],
            Some(Target::Broker(i)) => self.brokers[i].up,
            None => false,
        }
    }

    /// One-way latency of a frame: a few ms, sometimes (often in a storm)
    /// hundreds.
    fn latency(&mut self) -> Duration {
        let spike = if self.storm { 250 } else { 15 };
        let ms = if self.net.chance(spike) {
            self.net.range(50, 1000)
        } else {
            self.net.range(0, 3)
        };
        Duration::from_millis(ms) + Duration::from_micros(self.net.below(1000))
    }

    // ----- the host side of each client ---------------------------------------

    /// Follows the drain rule for node `n`: transmits, deliveries, snapshots, outcomes.
    fn flush_node(&mut self, n: usize) {
        loop {
            let Some(client) = self.nodes[n].client.as_mut() else {
                return;
            };
            let Some(t) = client.poll_transmit() else {
                break;
            };
            match t {
                Transmit::Connect { conn, addr } => {
                    let id = self.next_link;
                    self.next_link += 1;
                    self.links.insert(
                        id,
                        Link {
                            node: n,
                            conn,
                            addr,
                            open: true,
                            decoder: FrameDecoder::default(),
                            up_at: self.now,
                            down_at: self.now,
                        },
                    );
                    self.nodes[n].conns.insert(conn, id);
                    let at = self.now + self.latency() * 2;
                    self.schedule(at, Ev::Connected(id));
                }
                Transmit::Write { conn, bytes } => {
                    let Some(&id) = self.nodes[n].conns.get(&conn) else {
                        continue;
                    };
                    let mut frames = Vec::new();
                    if let Some(link) = self.links.get_mut(&id) {
                        link.decoder.feed(&bytes);
                        while let Ok(Some(cmd)) = link.decoder.decode_next() {
                            frames.push(cmd);
                        }
                    }
                    for cmd in frames {
                        let lat = self.latency();
                        let Some(link) = self.links.get_mut(&id) else {
                            break;
                        };
                        let at = (self.now + lat).max(link.up_at);
                        link.up_at = at;
                        self.schedule(at, Ev::ToServer(id, cmd));
                    }
                }
                Transmit::Close { conn } => {
                    if let Some(id) = self.nodes[n].conns.remove(&conn) {
                        self.close_server_side(id);
                    }
                }
            }
        }
        // Deliveries to the handler.
        loop {
            let Some(client) = self.nodes[n].client.as_mut() else {
                return;
            };
            let Some((consumer, d)) = client.poll_delivery() else {
                break;
            };
            self.deliver(n, consumer, d);
        }
        // Broadcasting: offsets snapshots to the host's store.
        loop {
            let Some(client) = self.nodes[n].client.as_mut() else {
                return;
            };
            let Some((_, bytes)) = client.poll_offset_snapshot() else {
                break;
            };
            self.persist(n, bytes);
        }
        self.outcomes(n);
    }

    /// Broadcasting: the host writes an offsets snapshot to its store (the
    /// whole store at once, as a temporary file renamed over the old one).
    /// No offset in it may pass a message this member has not finished.
    fn persist(&mut self, n: usize, bytes: Vec<u8>) {
        if self.nodes[n].kind != Kind::Broadcast
            || self.cfg.bug == Some(Bug::ForgetsBroadcastOffsets)
        {
            return;
        }
        if let Ok(body) = ResetOffsetBody::parse(&bytes) {
            let track = &self.nodes[n].track;
            let passed_queue = body.offset_table.iter().find_map(|(mq, &offset)| {
                let done = self
                    .check
                    .done_prefix(track, &mq.broker_name, &mq.topic, mq.queue_id);
                (offset > done)
                    .then(|| (mq.clone(), format!("{mq:?} at {offset}, but offset {done}")))
            });
            let passed = passed_queue.as_ref().map(|(_, what)| what.clone());
            if let Some(what) = passed {
                let detail = format!(
                    "{} persisted {what} is not consumed",
                    self.nodes[n].client_id
                );
                let mut focus = Focus::default().node(n);
                if let Some((mq, _)) = passed_queue {
                    focus = focus.queue(&mq.broker_name, &mq.topic, mq.queue_id);
                }
                return self.fail(Invariant::CommitPassedUnacked, detail, focus);
            }
        }
        self.nodes[n].store = Some(bytes);
    }

    fn deliver(&mut self, n: usize, consumer: ConsumerId, d: rmq_core::consumer::Delivery) {
        self.stats.deliveries += 1;
        self.nodes[n].deliveries += 1;
        let broadcast = self.nodes[n].kind == Kind::Broadcast;
        let q = &d.queue;
        let key: QueueKey = (
            self.nodes[n].track.clone(),
            q.broker_name.clone(),
            q.topic.clone(),
            q.queue_id,
        );
        let first = d.messages.first().map_or(-1, |m| m.queue_offset);
        let last = d.messages.last().map_or(-1, |m| m.queue_offset);
        self.trace(Tr::Deliver(
            n,
            q.broker_name.clone(),
            q.topic == RETRY,
            q.queue_id,
            first,
            d.messages.len(),
        ));
        let inc = self.nodes[n].inc;
        if self.cfg.orderly && q.topic != RETRY {
            // A restarted broker forgot its locks (they live in memory, as
            // in RocketMQ's RebalanceLockManager): until the old owner's
            // local lock expires, a new owner may hold the queue too.
            let forgot = self
                .restarted
                .get(&q.broker_name)
                .is_some_and(|&t| self.now < t + self.consumer_cfg.lock_expiry);
            if let Some((other, id)) = self.check.active.get(&key).filter(|_| !forgot) {
                let detail = format!(
                    "{} got batch {first}..={last} of {key:?} while {} still runs delivery {id}",
                    self.nodes[n].client_id, self.nodes[*other].client_id
                );
                let focus = Focus::default()
                    .node(n)
                    .node(*other)
                    .queue(&key.1, &key.2, key.3);
                return self.fail(Invariant::OrderlyOverlap, detail, focus);
            }
            self.check.active.insert(key.clone(), (n, d.id.0));
            // A batch never starts past the queue's lowest offset not yet
            // finished (consumed, or taken back) by the group: message k+1
            // is never handed out before k is done. Redelivering earlier
            // messages (from a commit point) is allowed.
            let contiguous = d
                .messages
                .windows(2)
                .all(|w| w[0].queue_offset + 1 == w[1].queue_offset);
            let pending = self.check.done_prefix(&key.0, &key.1, &key.2, key.3);
            if !contiguous || first > pending {
                let detail = format!(
                    "{} got batch {first}..={last} of {key:?} while offset {pending} is not consumed",
                    self.nodes[n].client_id
                );
                let focus = Focus::default().node(n).queue(&key.1, &key.2, key.3);
                return self.fail(Invariant::OrderlyOrder, detail, focus);
            }
        }
        let retry = d
            .messages
            .iter()
            .any(|m| m.reconsume_times == 0 && self.rng.chance(self.cfg.retry_per_mille))
            && !broadcast;
        // The bug: the first member's host acknowledges every other
        // delivery without handing it to the handler.
        let dropped = broadcast
            && self.cfg.bug == Some(Bug::DropsEveryOtherDelivery)
            && self.nodes[n].base.ends_with("@b0")
            && self.nodes[n].deliveries % 2 == 0;
        let result = if retry {
            ConsumeResult::RETRY
        } else {
            ConsumeResult::Success
        };
        let done = d
            .messages
            .iter()
            .filter(|_| !dropped)
            .map(|m| {
                let at = (
                    q.broker_name.clone(),
                    q.topic.clone(),
                    q.queue_id,
                    m.queue_offset,
                );
                (at, m.body().to_vec())
            })
            .collect();
        let (lo, hi) = self.nodes[n].slow;
        let took = Duration::from_millis(self.rng.range(lo, hi));
        let at = self.now + took;
        self.schedule(
            at,
            Ev::HandlerDone {
                node: n,
                inc,
                consumer,
                id: d.id,
                result,
                key,
                done,
            },
        );
    }

    fn outcomes(&mut self, n: usize) {
        let new: Vec<Outcome> = {
            let node = &mut self.nodes[n];
            let mut log = node.log.borrow_mut();
            let out = log.drain(node.seen..).collect();
            node.seen = log.len();
            out
        };
        for o in new {
            match o {
                Outcome::Sent { id, result } => {
                    let Some((_, body)) = self.nodes[n].sends.remove(&id) else {
                        continue;
                    };
                    if let Ok(SendReceipt::Acknowledged(r)) = result {
                        let at = (
                            r.queue.broker_name.clone(),
                            r.queue.topic.clone(),
                            r.queue.queue_id,
                            r.queue_offset,
                        );
                        let held = self
                            .brokers
                            .iter()
                            .find(|b| b.name == at.0)
                            .is_some_and(|b| b.holds(&at.1, at.2, at.3, &body));
                        if !held {
                            let detail = format!(
                                "{} acknowledged at {at:?}, not stored there",
                                String::from_utf8_lossy(&body)
                            );
                            let focus = Focus::default().message(&body, Some(&at));
                            return self.fail(Invariant::AckedMessageLost, detail, focus);
                        }
                        self.check.acked_at.insert(body.clone(), self.now);
                        self.check.acked.insert(body, at);
                        self.stats.acked += 1;
                    }
                }
                Outcome::Answered { id, .. } => {
                    self.nodes[n].raws.remove(&id);
                }
                Outcome::ShutDown => {}
            }
        }
    }

    // ----- the server side ---------------------------------------------------

    fn close_server_side(&mut self, id: LinkId) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.open = false;
        let addr = link.addr.clone();
        self.links.remove(&id);
        if let Some(Target::Broker(b)) = self.target(&addr) {
            self.brokers[b].link_closed(id);
            self.flush_broker(b);
        }
    }

    /// Resets link `id` on both sides: the client sees it closed.
    fn reset_link(&mut self, id: LinkId, reason: &str) {
        let Some(link) = self.links.get(&id) else {
            return;
        };
        let (n, conn) = (link.node, link.conn);
        self.trace(Tr::Down(n, id, 0));
        self.close_server_side(id);
        self.nodes[n].conns.remove(&conn);
        let now = self.now;
        if let Some(c) = self.nodes[n].client.as_mut() {
            c.handle_closed(conn, reason, now);
        }
        self.flush_node(n);
    }

    fn send_to_client(&mut self, id: LinkId, cmd: &RemotingCommand) {
        let mut out = BytesMut::new();
        if cmd.encode(SerializeType::RocketMq, &mut out).is_err() {
            return;
        }
        let lat = self.latency();
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let at = (self.now + lat).max(link.down_at);
        link.down_at = at;
        self.schedule(at, Ev::ToClient(id, out.to_vec()));
    }

    fn flush_broker(&mut self, b: usize) {
        let out = std::mem::take(&mut self.brokers[b].out);
        for (link, cmd) in out {
            self.send_to_client(link, &cmd);
        }
        let effects = std::mem::take(&mut self.brokers[b].effects);
        for e in effects {
            match e {
                Effect::Stored { at, body } => {
                    self.check.stored.entry(body).or_default().push(at);
                }
                Effect::Committed { group, at } => {
                    let done = self.check.done_prefix(&group, &at.0, &at.1, at.2);
                    if at.3 > done {
                        let detail = format!(
                            "{group} committed {} on {}/{}/{} but offset {done} is not consumed",
                            at.3, at.0, at.1, at.2
                        );
                        let focus = Focus::default().queue(&at.0, &at.1, at.2);
                        return self.fail(Invariant::CommitPassedUnacked, detail, focus);
                    }
                }
                Effect::TakenBack { group, at } => self.check.mark_done(&group, &at),
                Effect::RetrySent { group, body } => {
                    let places = self.check.stored.get(&body).cloned().unwrap_or_default();
                    for at in places {
                        self.check.mark_done(&group, &at);
                    }
                }
                Effect::MembersChanged => self.disturbed(Duration::ZERO),
                Effect::TopicCreated => self.disturbed(Duration::from_secs(30)),
            }
        }
    }

    /// Something changed the group's view: ownership must be exact only a
    /// rebalance interval (plus `extra`: a route refresh) after it.
    fn disturbed(&mut self, extra: Duration) {
        let by = self.now + self.consumer_cfg.rebalance_interval + extra + Duration::from_secs(5);
        self.settled_at = self.settled_at.max(by);
    }

    fn on_server(&mut self, id: LinkId, cmd: RemotingCommand) {
        let Some(link) = self.links.get(&id) else {
            return; // the connection is gone; so is the frame
        };
        let (n, addr) = (link.node, link.addr.clone());
        self.trace(Tr::Up(n, id, cmd.code, cmd.opaque));
        match self.target(&addr) {
            Some(Target::NameServer(i)) => {
                if self.ns_down[i] || cmd.is_response() || cmd.is_oneway() {
                    return;
                }
                let mut r = match cmd.code {
                    request_code::GET_ROUTEINFO_BY_TOPIC => {
                        let topic = cmd.ext_fields.get("topic").unwrap_or_default();
                        let fresh = route_answer(&self.brokers, topic, cmd.opaque);
                        if self.cfg.bug == Some(Bug::FrozenRoutes)
                            && self.nodes[n].kind != Kind::Producer
                        {
                            let frozen = &mut self.nodes[n].frozen;
                            match frozen.get(topic) {
                                Some(first) => first.clone(),
                                None => {
                                    if fresh.code == 0 {
                                        frozen.insert(topic.to_string(), fresh.clone());
                                    }
                                    fresh
                                }
                            }
                        } else {
                            fresh
                        }
                    }
                    _ => RemotingCommand::response(0, cmd.opaque),
                };
                r.opaque = cmd.opaque;
                self.send_to_client(id, &r);
            }
            Some(Target::Broker(b)) => {
                if !self.brokers[b].up {
                    return;
                }
                if let Some(until) = self.brokers[b].paused_until {
                    if until > self.now {
                        // Processed when the broker runs again, in order.
                        self.schedule(until, Ev::ToServer(id, cmd));
                        return;
                    }
                }
                if cmd.is_response() {
                    self.on_probe_answer(n, &cmd);
                    return;
                }
                let now = self.now;
                self.brokers[b].handle(id, &cmd, now);
                self.flush_broker(b);
            }
            None => {}
        }
    }

    /// A consumer's GET_CONSUMER_RUNNING_INFO answer: every queue's cached
    /// messages must stay within the flow-control bound.
    fn on_probe_answer(&mut self, n: usize, cmd: &RemotingCommand) {
        self.stats.probes += 1;
        let bound =
            self.consumer_cfg.pull_threshold_for_queue + self.consumer_cfg.pull_batch_size as usize;
        let text = String::from_utf8_lossy(&cmd.body);
        for part in text.split("\"cachedMsgCount\":").skip(1) {
            let count: usize = part
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0);
            if count > bound {
                let detail = format!(
                    "{} caches {count} messages in one queue (bound {bound})",
                    self.nodes[n].client_id
                );
                let focus = Focus::default().node(n);
                return self.fail(Invariant::MemoryBound, detail, focus);
            }
        }
    }

    // ----- events -------------------------------------------------------------

    fn on_event(&mut self, ev: Ev) {
        match ev {
            Ev::Connected(id) => {
                let Some(link) = self.links.get(&id) else {
                    return;
                };
                let (n, conn, addr) = (link.node, link.conn, link.addr.clone());
                let now = self.now;
                let ok = self.reachable(&addr);
                if !ok {
                    self.links.remove(&id);
                    self.nodes[n].conns.remove(&conn);
                }
                if let Some(c) = self.nodes[n].client.as_mut() {
                    if ok {
                        c.handle_connected(conn, now);
                    } else {
                        c.handle_closed(conn, "connection refused", now);
                    }
                }
                self.flush_node(n);
            }
            Ev::ToServer(id, cmd) => self.on_server(id, cmd),
            Ev::ToClient(id, bytes) => {
                let Some(link) = self.links.get(&id) else {
                    return;
                };
                let (n, conn) = (link.node, link.conn);
                self.trace(Tr::Down(n, id, bytes.len()));
                let now = self.now;
                if let Some(c) = self.nodes[n].client.as_mut() {
                    c.handle_input(conn, &bytes, now);
                }
                self.flush_node(n);
            }
            Ev::HandlerDone {
                node,
                inc,
                consumer,
                id,
                result,
                key,
                done,
            } => {
                if self.nodes[node].inc != inc || self.nodes[node].client.is_none() {
                    return; // the process died with the batch
                }
                let ok = result == ConsumeResult::Success;
                let first = done.first().map_or(-1, |d| d.0 .3);
                self.trace(Tr::Done(
                    node,
                    key.1.clone(),
                    key.2 == RETRY,
                    key.3,
                    first,
                    done.len(),
                    ok,
                ));
                if self.cfg.orderly && key.2 != RETRY {
                    self.check.active.remove(&key);
                }
                if ok {
                    let n = &self.nodes[node];
                    let consumed = match n.kind {
                        Kind::Broadcast => self.check.broadcast.entry(n.base.clone()).or_default(),
                        _ => &mut self.check.consumed,
                    };
                    for (_, body) in &done {
                        consumed.insert(body.clone());
                    }
                    for (at, _) in &done {
                        self.check.mark_done(&n.track, at);
                    }
                }
                let now = self.now;
                if let Some(c) = self.nodes[node].client.as_mut() {
                    c.consumed(consumer, id, result, now);
                }
                self.flush_node(node);
            }
            Ev::Produce(p, k) => {
                let n = p;
                let now = self.now;
                let node = &mut self.nodes[n];
                let (Some(c), Some(pid)) = (node.client.as_mut(), node.producer) else {
                    return; // the producer is down: this message is not sent
                };
                let body = format!("m{k}").into_bytes();
                let clock = WallClock::from_unix_ms(EPOCH_MS + now.as_millis() as i64);
                let req = SendRequest::new(Message::new(TOPIC, body.clone()), clock);
                let recorder = Recorder(Rc::clone(&node.log));
                let id = c.send(pid, req, now, recorder);
                node.sends.insert(id, (now + Duration::from_secs(3), body));
                self.trace(Tr::Sent(n, k));
                self.flush_node(n);
            }
            Ev::Raw(n) => {
                let now = self.now;
                let next = now + Duration::from_secs(7);
                if next < self.end {
                    self.schedule(next, Ev::Raw(n));
                }
                let node = &mut self.nodes[n];
                let Some(c) = node.client.as_mut() else {
                    return;
                };
                let cmd = RemotingCommand::request(request_code::GET_BROKER_CLUSTER_INFO, 0);
                let recorder = Recorder(Rc::clone(&node.log));
                let timeout = Duration::from_secs(3);
                let id = c.request(None, cmd, timeout, now, recorder);
                node.raws.insert(id, now + timeout);
                self.flush_node(n);
            }
            Ev::Probe => {
                let next = self.now + PROBE_EVERY;
                self.schedule(next, Ev::Probe);
                for n in 0..self.nodes.len() {
                    if self.nodes[n].kind == Kind::Producer || self.nodes[n].client.is_none() {
                        continue;
                    }
                    let link = self.nodes[n].conns.values().copied().find(|id| {
                        self.links.get(id).is_some_and(|l| {
                            matches!(self.target(&l.addr), Some(Target::Broker(b)) if self.brokers[b].up)
                        })
                    });
                    if let Some(id) = link {
                        self.next_probe_opaque += 1;
                        let mut cmd = RemotingCommand::request(
                            request_code::GET_CONSUMER_RUNNING_INFO,
                            self.next_probe_opaque,
                        );
                        cmd.ext_fields
                            .insert("consumerGroup", self.nodes[n].kind.group());
                        cmd.ext_fields
                            .insert("clientId", self.nodes[n].client_id.clone());
                        cmd.ext_fields.insert("jstackEnable", "false");
                        self.send_to_client(id, &cmd);
                    }
                }
            }
            Ev::Fault(i, kind) => {
                let skipped = !self.cfg.fault_mask.applies(i);
                self.faults.push(InjectedFault {
                    index: i,
                    kind,
                    at_ms: self.now.as_millis(),
                    skipped,
                    notes: Vec::new(),
                });
                if skipped {
                    self.trace(Tr::Skipped(i, kind));
                } else {
                    self.stats.faults += 1;
                }
                self.inject(i, kind, !skipped);
            }
            Ev::Restart(i, n) => {
                self.fault_note(i, format!("restart {}", self.nodes[n].base));
                self.start_node(n);
            }
            Ev::BrokerRestart(i, b) => {
                self.fault_note(i, format!("restart {}", self.brokers[b].name));
                self.brokers[b].up = true;
                self.brokers[b].paused_until = None;
                let name = self.brokers[b].name.clone();
                self.restarted.insert(name, self.now);
                self.disturbed(Duration::from_secs(30));
            }
            Ev::Resume(f, b) => {
                self.fault_note(f, format!("resume {}", self.brokers[b].name));
                self.disturbed(Duration::from_secs(30));
            }
            Ev::NameServerBack(f, i) => {
                self.fault_note(f, format!("name server {} back", self.ns_addrs[i]));
                self.ns_down[i] = false;
            }
            Ev::StormOver(f) => {
                self.fault_note(f, "delay storm over".into());
                self.storm = false;
                self.disturbed(Duration::ZERO);
            }
        }
    }

    /// Fault `index` did `what` (now).
    fn fault_note(&mut self, index: usize, what: String) {
        let now = self.now.as_millis();
        self.trace(Tr::Fault(format!("#{index} {what}")));
        if let Some(f) = self.faults.iter_mut().rev().find(|f| f.index == index) {
            // A follow-up (a restart) says when.
            f.notes.push(if f.at_ms == now {
                what
            } else {
                format!("{what} at {now} ms")
            });
        }
    }

    // ----- faults ----------------------------------------------------------------

    /// Fault `index` of `kind` comes due. Its random choices (which
    /// node, for how long) are drawn either way, in the same order; only
    /// when `apply` does anything happen, so a skipped fault leaves the
    /// scheduler's stream as it was.
    fn inject(&mut self, index: usize, kind: FaultKind, apply: bool) {
        let now = self.now;
        match kind {
            FaultKind::CrashConsumer | FaultKind::CrashProducer => {
                let want = |k: Kind| (k == Kind::Producer) == (kind == FaultKind::CrashProducer);
                let live: Vec<usize> = (0..self.nodes.len())
                    .filter(|&n| want(self.nodes[n].kind) && self.nodes[n].client.is_some())
                    .collect();
                if live.is_empty() {
                    return;
                }
                let n = live[self.rng.below(live.len() as u64) as usize];
                if apply {
                    self.fault_note(index, format!("crash {}", self.nodes[n].client_id));
                    self.crash_node(n);
                }
                let at = now + Duration::from_millis(self.rng.range(500, 20_000));
                if apply {
                    self.schedule(at, Ev::Restart(index, n));
                }
            }
            FaultKind::CrashBroker => {
                let up: Vec<usize> = (0..self.brokers.len())
                    .filter(|&b| self.brokers[b].up)
                    .collect();
                if up.len() < 2 {
                    return; // keep one broker up: a topic with no route at all is another test
                }
                let b = up[self.rng.below(up.len() as u64) as usize];
                if apply {
                    self.fault_note(index, format!("crash {}", self.brokers[b].name));
                    self.brokers[b].crash();
                    self.close_links_to(&self.brokers[b].addr.clone(), "connection reset by peer");
                }
                let at = now + Duration::from_millis(self.rng.range(1_000, 30_000));
                if apply {
                    self.schedule(at, Ev::BrokerRestart(index, b));
                    self.disturbed(Duration::from_secs(30));
                }
            }
            FaultKind::DropConnection => {
                let ids: Vec<LinkId> = self.links.keys().copied().collect();
                if ids.is_empty() {
                    return;
                }
                let id = ids[self.rng.below(ids.len() as u64) as usize];
                if apply {
                    let addr = self.links[&id].addr.clone();
                    let who = self.nodes[self.links[&id].node].client_id.clone();
                    self.fault_note(index, format!("drop connection {who} -> {addr}"));
                    self.reset_link(id, "connection reset by peer");
                    self.disturbed(Duration::ZERO);
                }
            }
            FaultKind::DelayStorm => {
                if self.storm {
                    return;
                }
                if apply {
                    self.fault_note(index, "delay storm".into());
                    self.storm = true;
                }
                let at = now + Duration::from_millis(self.rng.range(2_000, 15_000));
                if apply {
                    self.schedule(at, Ev::StormOver(index));
                }
            }
            FaultKind::PauseBroker => {
                let up: Vec<usize> = (0..self.brokers.len())
                    .filter(|&b| {
                        self.brokers[b].up && self.brokers[b].paused_until.is_none_or(|u| u <= now)
                    })
                    .collect();
                if up.is_empty() {
                    return;
                }
                let b = up[self.rng.below(up.len() as u64) as usize];
                let until = now + Duration::from_millis(self.rng.range(1_000, 20_000));
                if apply {
                    self.fault_note(
                        index,
                        format!(
                            "pause {} until {} ms",
                            self.brokers[b].name,
                            until.as_millis()
                        ),
                    );
                    self.brokers[b].paused_until = Some(until);
                    self.schedule(until, Ev::Resume(index, b));
                    self.settled_at = self.settled_at.max(until);
                }
            }
            FaultKind::LoseNameServer => {
                if self.ns_down.iter().filter(|d| !**d).count() < 2 {
                    return;
                }
                let i = self.rng.below(self.ns_addrs.len() as u64) as usize;
                if self.ns_down[i] {
                    return;
                }
                if apply {
                    self.fault_note(index, format!("lose name server {}", self.ns_addrs[i]));
                    self.ns_down[i] = true;
                    self.close_links_to(&self.ns_addrs[i].clone(), "connection reset by peer");
                }
                let at = now + Duration::from_millis(self.rng.range(5_000, 60_000));
                if apply {
                    self.schedule(at, Ev::NameServerBack(index, i));
                }
            }
            FaultKind::AddQueues => {
                let up: Vec<usize> = (0..self.brokers.len())
                    .filter(|&b| self.brokers[b].topics.contains_key(TOPIC))
                    .collect();
                if up.is_empty() {
                    return;
                }
                let b = up[self.rng.below(up.len() as u64) as usize];
                let add = self.rng.range(1, 4) as i32;
                if !apply {
                    return;
                }
                let q = self.brokers[b].topics.entry(TOPIC.into()).or_insert(0);
                *q += add;
                let total = *q;
                self.fault_note(
                    index,
                    format!(
                        "add {add} queues to {TOPIC} on {} ({total} now)",
                        self.brokers[b].name
                    ),
                );
                self.disturbed(Duration::from_secs(30));
            }
            FaultKind::AddBroker => {
                let Some(b) = (0..self.brokers.len())
                    .find(|&b| !self.brokers[b].up && !self.brokers[b].topics.contains_key(TOPIC))
                else {
                    return;
                };
                if !apply {
                    return;
                }
                self.fault_note(index, format!("add broker {}", self.brokers[b].name));
                let queues = self.cfg.queues;
                self.brokers[b].topics.insert(TOPIC.into(), queues);
                self.brokers[b].up = true;
                self.disturbed(Duration::from_secs(30));
            }
        }
    }

    fn crash_node(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        node.client = None;
        node.sends.clear();
        node.raws.clear();
        let conns: Vec<LinkId> = std::mem::take(&mut node.conns).into_values().collect();
        self.check.active.retain(|_, (who, _)| *who != n);
        for id in conns {
            self.close_server_side(id);
        }
    }

    fn close_links_to(&mut self, addr: &str, reason: &str) {
        let ids: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| l.addr == addr)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.reset_link(id, reason);
        }
    }

    // ----- the loop and the invariants -----------------------------------------

    /// Runs to the end, or to the first violated invariant, or to
    /// [`SimConfig::stop_at`] (then as if every invariant held).
    pub fn run(mut self) -> Result<Stats, Box<Failure>> {
        let stop = self.cfg.stop_at.map(|d| Instant::ZERO + d);
        let mut stopped = false;
        let mut failure = None;
        while failure.is_none() {
            let client = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| Some((n.client.as_ref()?.poll_timeout()?, i)))
                .min();
            let broker = self
                .brokers
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let due = b.next_due()?;
                    Some((due.max(b.paused_until.unwrap_or(Instant::ZERO)), i))
                })
                .min();
            let event = self.events.keys().next().map(|k| k.0);
            let next = [client.map(|c| c.0), broker.map(|b| b.0), event]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { break };
            if next > self.end {
                break;
            }
            if stop.is_some_and(|s| next > s) {
                stopped = true;
                break;
            }
            self.now = self.now.max(next);
            self.stats.steps += 1;
            if self.stats.steps > MAX_STEPS {
                let detail = format!("over {MAX_STEPS} steps");
                self.fail(Invariant::Livelock, detail, Focus::default());
            } else if let Some((t, n)) = client.filter(|c| c.0 == next) {
                let _ = t;
                self.trace(Tr::Timer(n));
                let now = self.now;
                if let Some(c) = self.nodes[n].client.as_mut() {
                    c.handle_timeout(now);
                }
                self.flush_node(n);
            } else if let Some((_, b)) = broker.filter(|b| b.0 == next) {
                self.trace(Tr::Tick(b));
                let now = self.now;
                self.brokers[b].tick(now);
                self.flush_broker(b);
            } else if let Some((_, ev)) = self.events.pop_first() {
                self.on_event(ev);
            }
            self.check_step();
            failure = self.failure.take();
        }
        if let Some(f) = failure {
            return Err(f);
        }
        if !stopped {
            self.check_end();
        }
        match self.failure.take() {
            Some(f) => Err(f),
            None => {
                let mut all = self.check.consumed.clone();
                for got in self.check.broadcast.values() {
                    self.stats.broadcast_consumed += got.len();
                    all.extend(got.iter().cloned());
                }
                self.stats.consumed = all.len();
                Ok(self.stats)
            }
        }
    }

    /// Records the first violation; the trace shows the events about
    /// what `focus` names (all of them if it names nothing, or nothing
    /// names it).
    fn fail(&mut self, invariant: Invariant, detail: String, focus: Focus) {
        if self.failure.is_some() {
            return;
        }
        let len = self.cfg.trace_len.max(1);
        // The last events about the queues and messages named (and the
        // faults), then, up to `len`, the last about the clients named.
        let (mut strong, mut weak) = (Vec::new(), Vec::new());
        for (i, (_, tr)) in self.trace.iter().enumerate().rev() {
            match focus.rank(tr) {
                Some(Rank::Subject) if strong.len() < len => strong.push(i),
                Some(Rank::Client) if weak.len() < len => weak.push(i),
                _ => {}
            }
            if strong.len() == len {
                break;
            }
        }
        // Faults alone say nothing about the subject: the last events do.
        let focused = strong
            .iter()
            .chain(&weak)
            .any(|&i| !matches!(self.trace[i].1, Tr::Fault(_)));
        let mut picked: Vec<usize> = if focused {
            let room = len - strong.len();
            strong.extend(weak.into_iter().take(room));
            strong
        } else {
            // The last events but timer firings and housekeeping rounds,
            // which say nothing by themselves.
            let quiet = |tr: &Tr| matches!(tr, Tr::Timer(_) | Tr::Tick(_) | Tr::Skipped(..));
            let mut last: Vec<usize> = (0..self.trace.len())
                .rev()
                .filter(|&i| !quiet(&self.trace[i].1))
                .take(len)
                .collect();
            if last.is_empty() {
                last = (self.trace.len().saturating_sub(len)..self.trace.len()).collect();
            }
            last
        };
        picked.sort_unstable();
        let about = if focus.is_empty() {
            String::new()
        } else {
            focus.describe(|n| self.nodes[n].base.as_str())
        };
        let trace = picked
            .into_iter()
            .map(|i| {
                let (at, tr) = &self.trace[i];
                format!("{:>8} ms  {}", at.as_millis(), self.describe(tr))
            })
            .collect();
        self.failure = Some(Box::new(Failure {
            seed: self.seed,
            invariant,
            detail,
            at_ms: self.now.as_millis(),
            steps: self.stats.steps,
            faults: self.faults.clone(),
            about,
            focused,
            trace,
            command: self.cfg.replay_command(self.seed),
        }));
    }

    fn describe(&self, tr: &Tr) -> String {
        let who = |n: &usize| self.nodes[*n].base.as_str();
        match tr {
            Tr::Up(n, l, code, opaque) => {
                let name = rmq_core::protocol::request_code::name(*code).unwrap_or("?");
                format!("{} -> link {l}: {name} ({code}) #{opaque}", who(n))
            }
            Tr::Down(n, l, 0) => format!("link {l} of {} reset", who(n)),
            Tr::Down(n, l, len) => format!("link {l} -> {}: {len} bytes", who(n)),
            Tr::Timer(n) => format!("{} timer", who(n)),
            Tr::Tick(b) => format!("{} housekeeping", self.brokers[*b].name),
            Tr::Deliver(n, b, r, q, first, len) => {
                let t = if *r { RETRY } else { TOPIC };
                format!("{} handler <- {b}/{t}/{q} offsets {first}+{len}", who(n))
            }
            Tr::Done(n, b, r, q, _, 0, _) => {
                let t = if *r { RETRY } else { TOPIC };
                format!(
                    "{} handler -> {b}/{t}/{q}: done, no message handled",
                    who(n)
                )
            }
            Tr::Done(n, b, r, q, first, len, ok) => {
                let t = if *r { RETRY } else { TOPIC };
                format!(
                    "{} handler -> {b}/{t}/{q} offsets {first}+{len}: {}",
                    who(n),
                    if *ok { "ok" } else { "retry" }
                )
            }
            Tr::Sent(n, k) => format!("{} sends m{k}", who(n)),
            Tr::Fault(f) => format!("FAULT {f}"),
            Tr::Skipped(i, kind) => format!("fault #{i} {kind:?} skipped"),
        }
    }

    /// The invariants checked after every step.
    fn check_step(&mut self) {
        if self.failure.is_some() {
            return;
        }
        let now = self.now;
        // Every send and request ends by its deadline.
        for (n, node) in self.nodes.iter().enumerate() {
            let late_send = node
                .sends
                .iter()
                .find(|(_, (d, _))| *d + DEADLINE_SLACK < now);
            if let Some((id, (d, body))) = late_send {
                let detail = format!(
                    "{}'s send {id:?} of {} still open past its deadline {} ms",
                    node.client_id,
                    String::from_utf8_lossy(body),
                    d.as_millis()
                );
                let focus = Focus::default().frames_of(n).message(body, None);
                return self.fail(Invariant::RequestNeverEnded, detail, focus);
            }
            if let Some((id, d)) = node.raws.iter().find(|(_, d)| **d + DEADLINE_SLACK < now) {
                let detail = format!(
                    "{}'s request {id:?} still open past its deadline {} ms",
                    node.client_id,
                    d.as_millis()
                );
                let focus = Focus::default().frames_of(n);
                return self.fail(Invariant::RequestNeverEnded, detail, focus);
            }
        }
        if now >= self.settled_at {
            self.check_ownership();
        }
    }

    /// Once membership is stable, every queue has exactly one owner.
    /// Allocation-free on the common path: it runs after most steps.
    fn check_ownership(&mut self) {
        if self.cfg.broadcasters > 0 && self.now >= self.next_broadcast_check {
            // A stable state, not a transition: once a virtual second is
            // enough, and keeps the run fast.
            self.next_broadcast_check = self.now + Duration::from_secs(1);
            self.check_broadcast_ownership();
        }
        let mut live = 0;
        for n in &self.nodes {
            if n.kind == Kind::Consumer {
                if n.client.is_none() {
                    return; // a member is down: membership is not stable
                }
                live += 1;
            }
        }
        if live == 0 {
            return;
        }
        // Stable: every broker up lists exactly the live members.
        for b in self.brokers.iter().filter(|b| b.up) {
            if b.member_count(GROUP) != live {
                return;
            }
            let all = self
                .nodes
                .iter()
                .filter(|n| n.kind == Kind::Consumer)
                .all(|n| b.is_member(GROUP, &n.client_id));
            if !all {
                return;
            }
        }
        self.stats.ownership_checks += 1;
        // Slot of (broker, topic, queue) in `counts`.
        let mut bases = [[usize::MAX; 2]; 8];
        let mut total = 0;
        for (i, b) in self.brokers.iter().enumerate().take(8) {
            if !b.up {
                continue;
            }
            for (t, topic) in [TOPIC, RETRY].into_iter().enumerate() {
                bases[i][t] = total;
                total += b.topics.get(topic).copied().unwrap_or(0).max(0) as usize;
            }
        }
        let mut counts = std::mem::take(&mut self.owner_counts);
        counts.clear();
        counts.resize(total, 0u8);
        for node in self.nodes.iter().filter(|n| n.kind == Kind::Consumer) {
            let (Some(c), Some(id)) = (node.client.as_ref(), node.consumer) else {
                continue;
            };
            let Some(consumer) = c.consumer(id) else {
                continue;
            };
            for mq in consumer.owned_queues() {
                let Some(i) = self.brokers.iter().position(|b| b.name == mq.broker_name) else {
                    continue;
                };
                let t = if mq.topic == TOPIC {
                    0
                } else if mq.topic == RETRY {
                    1
                } else {
                    continue;
                };
                let Some(&base) = bases.get(i).map(|b| &b[t]) else {
                    continue;
                };
                let n = self.brokers[i].topics.get(&mq.topic).copied().unwrap_or(0);
                if base != usize::MAX && mq.queue_id >= 0 && mq.queue_id < n {
                    let slot = &mut counts[base + mq.queue_id as usize];
                    *slot = slot.saturating_add(1);
                }
            }
        }
        let bad = counts.iter().position(|&c| c != 1);
        self.owner_counts = counts;
        if bad.is_some() {
            self.ownership_failure();
        }
    }

    /// Once the route is stable, every live broadcasting member owns every
    /// queue of the topic on the brokers up, and no other (a member whose
    /// process started less than a rebalance interval and a route refresh
    /// ago may still be finding them).
    fn check_broadcast_ownership(&mut self) {
        let young = self.consumer_cfg.rebalance_interval + Duration::from_secs(35);
        let up = |name: &str| {
            self.brokers
                .iter()
                .find(|b| b.name == name && b.up)
                .and_then(|b| b.topics.get(TOPIC).copied())
        };
        let total: usize = self
            .brokers
            .iter()
            .filter(|b| b.up)
            .map(|b| b.topics.get(TOPIC).copied().unwrap_or(0).max(0) as usize)
            .sum();
        let mut bad = None;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.kind != Kind::Broadcast || self.now < node.started + young {
                continue;
            }
            let (Some(c), Some(id)) = (node.client.as_ref(), node.consumer) else {
                continue;
            };
            let Some(consumer) = c.consumer(id) else {
                continue;
            };
            self.stats.ownership_checks += 1;
            let (mut valid, mut all) = (0, 0);
            for mq in consumer.owned_queues().filter(|mq| mq.topic == TOPIC) {
                all += 1;
                if up(&mq.broker_name).is_some_and(|n| mq.queue_id >= 0 && mq.queue_id < n) {
                    valid += 1;
                }
            }
            if valid != total || all != total {
                bad = Some((i, valid, all));
                break;
            }
        }
        if let Some((i, valid, all)) = bad {
            let detail = format!(
                "route stable since {} ms, yet broadcasting member {} owns {all} queues of {TOPIC} ({valid} on brokers up) of {total}",
                self.settled_at.as_millis(),
                self.nodes[i].client_id
            );
            let focus = Focus::default().frames_of(i);
            self.fail(Invariant::QueueOwnership, detail, focus);
        }
    }

    fn ownership_failure(&mut self) {
        let mut owners: BTreeMap<(String, String, i32), Vec<String>> = BTreeMap::new();
        for b in self.brokers.iter().filter(|b| b.up) {
            for topic in [TOPIC, RETRY] {
                for q in 0..b.topics.get(topic).copied().unwrap_or(0) {
                    owners.insert((b.name.clone(), topic.to_string(), q), Vec::new());
                }
            }
        }
        for node in self.nodes.iter().filter(|n| n.kind == Kind::Consumer) {
            let (Some(c), Some(id)) = (node.client.as_ref(), node.consumer) else {
                continue;
            };
            for mq in c.consumer(id).into_iter().flat_map(|c| c.owned_queues()) {
                let key = (mq.broker_name.clone(), mq.topic.clone(), mq.queue_id);
                if let Some(o) = owners.get_mut(&key) {
                    o.push(node.client_id.clone());
                }
            }
        }
        if let Some((q, o)) = owners.iter().find(|(_, o)| o.len() != 1) {
            let detail = format!(
                "membership stable since {} ms, yet {q:?} is owned by {o:?}",
                self.settled_at.as_millis()
            );
            let mut focus = Focus::default().queue(&q.0, &q.1, q.2);
            for id in o {
                if let Some(n) = self.nodes.iter().position(|n| &n.client_id == id) {
                    focus = focus.node(n);
                }
            }
            self.fail(Invariant::QueueOwnership, detail, focus);
        }
    }

    /// At the end: every acknowledged message was consumed by the
    /// clustering group, and by every broadcasting member up, per the rule
    /// of [`Invariant::BroadcastNotConsumed`].
    fn check_end(&mut self) {
        self.check_broadcast_end();
        if self.cfg.consumers == 0 {
            return;
        }
        let missing: Vec<(&Vec<u8>, &Location)> = self
            .check
            .acked
            .iter()
            .filter(|(body, _)| !self.check.consumed.contains(*body))
            .collect();
        if let Some((body, at)) = missing.first() {
            let detail = format!(
                "{} of {} acknowledged messages never consumed, first {} at {at:?}",
                missing.len(),
                self.check.acked.len(),
                String::from_utf8_lossy(body)
            );
            let focus = Focus::default().message(body, Some(at));
            self.fail(Invariant::MessageNotConsumed, detail, focus);
        }
    }
}

impl World {
    /// [`Invariant::BroadcastNotConsumed`]: each broadcasting member up at
    /// the end consumed every message acknowledged since its first start.
    fn check_broadcast_end(&mut self) {
        let empty = std::collections::BTreeSet::new();
        let mut bad = None;
        for (n, node) in self.nodes.iter().enumerate() {
            if node.kind != Kind::Broadcast || node.client.is_none() {
                continue;
            }
            let got = self.check.broadcast.get(&node.base).unwrap_or(&empty);
            let owed = self
                .check
                .acked_at
                .iter()
                .filter(|(_, &at)| at >= node.first_start);
            let (mut count, mut missing, mut first) = (0, 0, None);
            for (body, _) in owed {
                count += 1;
                if !got.contains(body) {
                    missing += 1;
                    first.get_or_insert(body);
                }
            }
            if let Some(body) = first {
                let at = self.check.acked.get(body);
                let focus = Focus::default().node(n).message(body, at);
                bad = Some((focus, format!(
                    "broadcasting member {} (first started at {} ms, {} deliveries) missed {missing} of {count} messages acknowledged since, first {} at {at:?}",
                    node.client_id,
                    node.first_start.as_millis(),
                    node.deliveries,
                    String::from_utf8_lossy(body)
                )));
                break;
            }
        }
        if let Some((focus, detail)) = bad {
            self.fail(Invariant::BroadcastNotConsumed, detail, focus);
        }
    }
}

/// How closely a trace entry is about what a violation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rank {
    /// A queue or message it names, or a fault: always shown (the last
    /// [`SimConfig::trace_len`]).
    Subject,
    /// Only the client it names: shown as room allows.
    Client,
}

/// What a violation names: the failure's trace shows the events about it.
#[derive(Debug, Default)]
struct Focus {
    /// Clients (nodes): their deliveries and sends.
    nodes: Vec<usize>,
    /// Clients whose frames are shown too.
    frames: Vec<usize>,
    /// Queues: (broker, retry topic, queue id).
    queues: Vec<(String, bool, i32)>,
    /// Messages by number (body `m<k>`).
    messages: Vec<usize>,
    /// Messages by place: (broker, retry topic, queue id, offset).
    places: Vec<(String, bool, i32, i64)>,
}

impl Focus {
    fn node(mut self, n: usize) -> Self {
        if !self.nodes.contains(&n) {
            self.nodes.push(n);
        }
        self
    }

    fn frames_of(mut self, n: usize) -> Self {
        self.frames.push(n);
        self.node(n)
    }

    fn queue(mut self, broker: &str, topic: &str, queue: i32) -> Self {
        self.queues
            .push((broker.to_string(), topic == RETRY, queue));
        self
    }

    fn message(mut self, body: &[u8], at: Option<&Location>) -> Self {
        let k = std::str::from_utf8(body)
            .ok()
            .and_then(|b| b.strip_prefix('m'))
            .and_then(|k| k.parse().ok());
        if let Some(k) = k {
            self.messages.push(k);
        }
        if let Some((broker, topic, queue, offset)) = at {
            self.places
                .push((broker.clone(), topic == RETRY, *queue, *offset));
        }
        self
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
            && self.queues.is_empty()
            && self.messages.is_empty()
            && self.places.is_empty()
    }

    /// A batch of `len` messages from `first` on queue `q` of `b` (of the
    /// retry topic if `r`), handled by node `n`.
    fn batch(&self, n: usize, b: &str, r: bool, q: i32, first: i64, len: usize) -> Option<Rank> {
        let queue = self
            .queues
            .iter()
            .any(|(qb, qr, qq)| qb == b && *qr == r && *qq == q);
        let place = self.places.iter().any(|(pb, pr, pq, off)| {
            pb == b && *pr == r && *pq == q && (first..first + len.max(1) as i64).contains(off)
        });
        if queue || place {
            Some(Rank::Subject)
        } else {
            self.client(n)
        }
    }

    fn client(&self, n: usize) -> Option<Rank> {
        self.nodes.contains(&n).then_some(Rank::Client)
    }

    /// Whether `tr` is about what this focus names, and how closely.
    fn rank(&self, tr: &Tr) -> Option<Rank> {
        match tr {
            Tr::Fault(_) => Some(Rank::Subject),
            Tr::Up(n, ..) | Tr::Down(n, ..) => self.frames.contains(n).then_some(Rank::Client),
            Tr::Timer(_) | Tr::Tick(_) | Tr::Skipped(..) => None,
            Tr::Deliver(n, b, r, q, first, len) => self.batch(*n, b, *r, *q, *first, *len),
            Tr::Done(n, b, r, q, first, len, _) => self.batch(*n, b, *r, *q, *first, *len),
            Tr::Sent(n, k) if self.messages.contains(k) => Some(Rank::Subject),
            Tr::Sent(n, _) => self.client(*n),
        }
    }

    /// `client 10.0.3.1@c0, queue broker-1/orders/5, message m17,
    /// broker-0/orders/2 offset 4`.
    fn describe<'a>(&self, base: impl Fn(usize) -> &'a str) -> String {
        let mut parts: Vec<String> = Vec::new();
        for &n in &self.nodes {
            let frames = if self.frames.contains(&n) {
                " (with its frames)"
            } else {
                ""
            };
            parts.push(format!("client {}{frames}", base(n)));
        }
        let topic = |r: &bool| if *r { RETRY } else { TOPIC };
        for (b, r, q) in &self.queues {
            parts.push(format!("queue {b}/{}/{q}", topic(r)));
        }
        for k in &self.messages {
            parts.push(format!("message m{k}"));
        }
        for (b, r, q, off) in &self.places {
            parts.push(format!("{b}/{}/{q} offset {off}", topic(r)));
        }
        parts.join(", ")
    }
}
