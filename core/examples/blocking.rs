//! A third host for rmq-core: plain blocking `std::net`, one thread, one
//! loop, no async runtime. It does what the seed does: sends three messages
//! tagged TagA/TagB/TagC, prints the send results, then consumes them with
//! a push consumer (acking each), prints them, and shuts down cleanly.
//!
//! ```text
//! NAMESRV_ADDR=127.0.0.1:9876 cargo run -p rmq-core --features std --example blocking -- \
//!     [--namesrv HOST:PORT[;HOST:PORT]] [--topic test] [--group CONSUMER_GROUP]
//! ```
//!
//! It is the model for driving the core from any I/O you own (an embedded
//! TCP stack, a poll(2) loop): the core never touches a socket or a clock.
//! The whole contract (see `rmq_core::client` and `rmq_core::engine`):
//! 1. feed inputs — connected, closed, bytes read, "the timer fired";
//! 2. after every input or command, drain `poll_transmit` (connect, write,
//!    close) and `poll_delivery` (messages for the handler);
//! 3. keep one timer at `poll_timeout`;
//! 4. callers get their outcome through `Caller::complete`, inside the call
//!    that settled it.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmq_core::client::{identify, name_servers_or_env, parse_name_servers};
use rmq_core::client::{Caller, Client, ConsumerId, HostFacts, HostPolicy, Outcome};
use rmq_core::consumer::{ConsumeFrom, ConsumeResult, ConsumerConfig, Delivery};
use rmq_core::engine::{ClientConfig, ConnId, Transmit};
use rmq_core::message::Message;
use rmq_core::producer::{ProducerConfig, SendReceipt, SendRequest, WallClock};
use rmq_core::time::Instant;

/// Every caller of this host: outcomes land in one shared inbox that the
/// loop's `done` checks read. `complete` must not call back into the
/// client, and here it cannot.
#[derive(Clone, Default)]
struct Inbox(Rc<RefCell<VecDeque<Outcome>>>);

impl Caller for Inbox {
    fn complete(self, outcome: Outcome) {
        self.0.borrow_mut().push_back(outcome);
    }
}

/// The client and the sockets it asked for; nothing here decides protocol.
struct BlockingHost {
    client: Client<Inbox>,
    sockets: HashMap<ConnId, TcpStream>,
    /// Connections whose last write hit a full socket (see `write`).
    blocked: HashSet<ConnId>,
    /// Deliveries waiting for the handler (`poll_delivery`, drained with
    /// the transmits).
    deliveries: VecDeque<(ConsumerId, Delivery)>,
    /// The monotonic clock's origin: `now()` is milliseconds since it.
    origin: std::time::Instant,
    policy: HostPolicy,
    buf: Vec<u8>,
}

impl BlockingHost {
    fn new(mut config: ClientConfig) -> Self {
        // Identity (client id, pid, seed) comes from facts only the host has.
        // std cannot list interfaces: loopback, made unique by pid#nanos.
        let facts = HostFacts {
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            pid: std::process::id(),
            unix_nanos: unix_nanos(),
        };
        identify(&mut config, &facts, None);
        let policy = HostPolicy::default();
        BlockingHost {
            client: Client::new(config, Instant::ZERO),
            sockets: HashMap::new(),
            blocked: HashSet::new(),
            deliveries: VecDeque::new(),
            origin: std::time::Instant::now(),
            policy,
            buf: vec![0; policy.read_chunk],
        }
    }

    /// The engine's clock: monotonic milliseconds, never wall time.
    fn now(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    /// Runs one command (send, add a role, ack, shut down), then drains:
    /// every command may queue transmits.
    fn command<R>(&mut self, f: impl FnOnce(&mut Client<Inbox>, Instant) -> R) -> R {
        let now = self.now();
        let out = f(&mut self.client, now);
        self.drain();
        out
    }

    /// The drain rule: carry out every transmit, feeding each result back
    /// (connected, closed, write blocked) — which may queue more transmits,
    /// drained by the same loop — then collect deliveries. The one timer
    /// needs no re-arming here: the loop reads `poll_timeout` every turn.
    fn drain(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            match t {
                // Blocking connect, bounded by the policy's timeout: simple,
                // and the engine only asks once per broker.
                Transmit::Connect { conn, addr } => match self.connect(&addr) {
                    Ok(stream) => {
                        self.sockets.insert(conn, stream);
                        self.client.handle_connected(conn, self.now());
                    }
                    Err(e) => {
                        let reason = format!("connect to {addr}: {e}");
                        self.client.handle_closed(conn, &reason, self.now());
                    }
                },
                Transmit::Write { conn, bytes } => self.write(conn, &bytes),
                Transmit::Close { conn } => self.forget(conn),
            }
        }
        // (A broadcasting consumer would also drain `poll_offset_snapshot`
        // here and store the bytes; this one is clustering.)
        while let Some(d) = self.client.poll_delivery() {
            self.deliveries.push_back(d);
        }
        if self.client.is_closed() {
            for conn in self.sockets.keys().copied().collect::<Vec<_>>() {
                self.forget(conn);
            }
        }
    }

    fn connect(&self, addr: &str) -> std::io::Result<TcpStream> {
        let mut last = None;
        for sa in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, self.policy.connect_timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_nonblocking(true)?;
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ErrorKind::AddrNotAvailable.into()))
    }

    /// Writes what the socket takes now, never waiting. What a full socket
    /// refuses goes back to the core (`handle_write_blocked`), which keeps
    /// it with everything queued after it, bounded by
    /// `ClientConfig::max_write_backlog`, until we say `handle_writable`.
    /// Blocking on the write instead would be simpler, but a peer that stops
    /// reading would then freeze the whole loop (reads and timers too).
    fn write(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(socket) = self.sockets.get_mut(&conn) else {
            return; // already closed; the core knows
        };
        let mut written = 0;
        while written < bytes.len() {
            match socket.write(&bytes[written..]) {
                Ok(0) => return self.fail(conn, "write: socket closed"),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.client
                        .handle_write_blocked(conn, &bytes[written..], self.now());
                    self.blocked.insert(conn);
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.fail(conn, &format!("write: {e}")),
            }
        }
    }

    /// A socket failed under us: drop it and tell the core (its requests fail).
    fn fail(&mut self, conn: ConnId, reason: &str) {
        self.forget(conn);
        self.client.handle_closed(conn, reason, self.now());
    }

    fn forget(&mut self, conn: ConnId) {
        self.blocked.remove(&conn);
        if let Some(s) = self.sockets.remove(&conn) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// One turn of the loop: retry blocked writes, read every socket, fire
    /// the timer if due. True if anything happened.
    fn turn(&mut self) -> bool {
        let mut busy = false;
        // std cannot ask "is this socket writable?" without poll(2), so a
        // blocked connection is simply offered the socket again each turn;
        // an embedded stack would check its send window (`can_send`).
        for conn in self.blocked.drain().collect::<Vec<_>>() {
            self.client.handle_writable(conn, self.now());
            self.drain();
        }
        for conn in self.sockets.keys().copied().collect::<Vec<_>>() {
            // Until the socket is empty (or was closed while draining).
            while let Some(socket) = self.sockets.get_mut(&conn) {
                match socket.read(&mut self.buf) {
                    Ok(0) => {
                        self.fail(conn, "closed by peer");
                        self.drain();
                        break;
                    }
                    Ok(n) => {
                        busy = true;
                        // Bytes in any split; the core reassembles frames.
                        self.client.handle_input(conn, &self.buf[..n], self.now());
                        self.drain();
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.fail(conn, &format!("read: {e}"));
                        self.drain();
                        break;
                    }
                }
            }
        }
        // The one timer: due when the clock reaches `poll_timeout`.
        let now = self.now();
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            busy = true;
            self.client.handle_timeout(now);
            self.drain();
        }
        busy
    }

    /// Runs the loop until `done(self)` or `limit` passes; true if done.
    /// Idle turns sleep 1 ms (a real loop would wait in poll(2) on the
    /// sockets until the next `poll_timeout`).
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if done(self) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            if !self.turn() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn unix_nanos() -> u128 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map(|d| d.as_nanos()).unwrap_or(0)
}

/// The wall clock, for born timestamps and subscription versions only.
fn unix_ms() -> i64 {
    (unix_nanos() / 1_000_000) as i64
}

/// `--namesrv`, `--topic`, `--group`; else `NAMESRV_ADDR`, `RMQ_DEMO_TOPIC`.
fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

fn main() {
    let configured = arg("--namesrv").map(|s| parse_name_servers(&s));
    let env = std::env::var("NAMESRV_ADDR").ok();
    let name_servers = match name_servers_or_env(configured.unwrap_or_default(), env.as_deref()) {
        Ok(list) => list,
        Err(e) => return fail(&format!("{e} (or pass --namesrv)")),
    };
    let topic = arg("--topic")
        .or_else(|| std::env::var("RMQ_DEMO_TOPIC").ok())
        .unwrap_or_else(|| "test".into());
    let group = arg("--group").unwrap_or_else(|| format!("blocking_{}", unix_ms()));
    let config = ClientConfig {
        name_servers,
        ..Default::default()
    };
    let mut host = BlockingHost::new(config);
    let inbox = Inbox::default();

    // One client, two roles, both added before any traffic: the core
    // announces the groups in the heartbeat it sends to each broker it
    // starts using. (For now, a group added to a client already talking to
    // its brokers waits for the next periodic heartbeat, 30 s, before the
    // broker lets it rebalance.)
    let producer_config = ProducerConfig {
        group: "test".into(),
        retries: 2,
        ..Default::default()
    };
    let producer = host.command(|c, now| c.add_producer(producer_config, now));
    // The push consumer joins its group, rebalances and pulls on its own.
    let consumer_config = ConsumerConfig {
        group: group.clone(),
        consume_from: ConsumeFrom::First,
        ..Default::default()
    };
    let subscription = [(topic.as_str(), "*", false)];
    host.command(|c, now| {
        c.add_consumer(consumer_config, &subscription, None, unix_ms(), now);
    });
    let mut sent = BTreeSet::new();
    for (i, tag) in ["TagA", "TagB", "TagC"].into_iter().enumerate() {
        let msg = Message::new(topic.as_str(), "Hello RocketMQ Rust Client!").with_tags(tag);
        let request = SendRequest::new(msg, WallClock::from_unix_ms(unix_ms()));
        let caller = inbox.clone();
        host.command(|c, now| c.send(producer, request, now, caller));
        // The core settles every send by its deadline: this cannot hang.
        host.run_until(Duration::from_secs(30), |_| !inbox.0.borrow().is_empty());
        match inbox.0.borrow_mut().pop_front() {
            Some(Outcome::Sent {
                result: Ok(SendReceipt::Acknowledged(r)),
                ..
            }) => {
                println!(
                    "send message {i} success: status={:?} msgId={} offsetMsgId={} queue={}:{} queueOffset={}",
                    r.status, r.msg_id, r.offset_msg_id, r.queue.broker_name, r.queue.queue_id, r.queue_offset
                );
                sent.insert(r.msg_id);
            }
            Some(Outcome::Sent { result, .. }) => println!("send message {i} error: {result:?}"),
            other => println!("send message {i} error: {other:?}"),
        }
    }

    // Now run the handler: batches came out of `poll_delivery` (they
    // waited in `host.deliveries` while we sent) and go back acked through
    // `consumed`, which lets the consumer commit their offsets.
    let mut consumed = BTreeSet::new();
    let all_back = host.run_until(Duration::from_secs(60), |host| {
        while let Some((id, delivery)) = host.deliveries.pop_front() {
            for m in &delivery.messages {
                println!(
                    "consumed: topic={} tags={} msgId={} queue={}@{} body={}",
                    m.topic(),
                    m.tags().unwrap_or("-"),
                    m.id(),
                    m.queue_id,
                    m.queue_offset,
                    String::from_utf8_lossy(m.body())
                );
                consumed.insert(m.id().to_string());
            }
            host.command(|c, now| c.consumed(id, delivery.id, ConsumeResult::Success, now));
        }
        sent.is_subset(&consumed)
    });

    // Shutdown: commit offsets, unregister both groups, close every socket;
    // bounded by the core, so the loop ends.
    host.command(|c, now| c.shutdown(now, inbox.clone()));
    let closed = host.run_until(Duration::from_secs(20), |h| h.client.is_closed());
    let got = sent.intersection(&consumed).count();
    println!(
        "done: sent {} consumed {got} of them, group {group}, shutdown {}",
        sent.len(),
        if closed { "clean" } else { "timed out" }
    );
    if sent.len() != 3 || !all_back || !closed {
        fail("not every message was sent, consumed and shut down in time");
    }
}

fn fail(why: &str) {
    eprintln!("blocking: {why}");
    std::process::exit(1);
}
