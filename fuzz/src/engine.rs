//! The engine target: a [`Client`] with a producer, a push consumer and raw
//! requests, driven by a script read from the fuzz input. The script
//! answers the requests the client writes (with any code, header fields and
//! body, possibly to the wrong opaque), writes raw bytes, closes
//! connections and moves time. At the end the client shuts down; every
//! caller must have been completed exactly once by then.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use rmq_core::client::{Caller, Client, ConsumerId, Outcome};
use rmq_core::consumer::{ConsumeResult, ConsumerConfig};
use rmq_core::engine::{ClientConfig, ConnId, Transmit};
use rmq_core::message::Message;
use rmq_core::producer::{ProducerConfig, SendRequest, WallClock};
use rmq_core::protocol::{
    request_code, response_code, FrameDecoder, RemotingCommand, SerializeType,
};
use rmq_core::time::Instant;

/// Reads the script.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> u16 {
        u16::from(self.u8().unwrap_or(0)) << 8 | u16::from(self.u8().unwrap_or(0))
    }
    fn i32(&mut self) -> i32 {
        i32::from(self.u16()) << 16 | i32::from(self.u16())
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn text(&mut self) -> String {
        let n = usize::from(self.u8().unwrap_or(0) % 24);
        String::from_utf8_lossy(self.bytes(n)).into_owned()
    }
}

/// Completions, shared with the callers.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<usize>>);

struct Waiter(Log, Rc<RefCell<bool>>);

impl Caller for Waiter {
    fn complete(self, _outcome: Outcome) {
        let mut done = self.1.borrow_mut();
        assert!(!*done, "a caller completed twice");
        *done = true;
        *self.0 .0.borrow_mut() += 1;
    }
}

/// One connection the client opened.
struct Peer {
    addr: String,
    decoder: FrameDecoder,
    /// Requests written and not yet answered: (opaque, code).
    requests: VecDeque<(i32, i32)>,
}

struct Harness {
    client: Client<Waiter>,
    log: Log,
    issued: usize,
    now: Instant,
    peers: BTreeMap<ConnId, Peer>,
    consumer: ConsumerId,
    /// The next write is cut after this many bytes (a full socket).
    block_at: Option<usize>,
    /// Connections whose socket is writable again at the next pump.
    blocked: Vec<ConnId>,
}

const CODES: [i32; 10] = [
    response_code::SUCCESS,
    response_code::SUCCESS,
    response_code::SYSTEM_ERROR,
    response_code::TOPIC_NOT_EXIST,
    response_code::PULL_NOT_FOUND,
    response_code::PULL_RETRY_IMMEDIATELY,
    response_code::PULL_OFFSET_MOVED,
    response_code::SERVICE_NOT_AVAILABLE,
    response_code::FLUSH_DISK_TIMEOUT,
    response_code::QUERY_NOT_FOUND,
];

const KEYS: [&str; 16] = [
    "msgId",
    "queueId",
    "queueOffset",
    "transactionId",
    "nextBeginOffset",
    "minOffset",
    "maxOffset",
    "suggestWhichBrokerId",
    "offset",
    "MSG_REGION",
    "TRACE_ON",
    "batchUniqId",
    "offsetDelta",
    "topicSysFlag",
    "consumerGroup",
    "topic",
];

impl Harness {
    fn new(seed: u64) -> Self {
        let now = Instant::ZERO;
        let config = ClientConfig {
            name_servers: vec!["ns:1".into(), "ns:2".into()],
            request_timeout: Duration::from_secs(3),
            seed,
            max_frame_len: 1 << 20,
            ..Default::default()
        };
        let mut client = Client::new(config, now);
        let producer = ProducerConfig {
            group: "fuzz_pg".into(),
            ..Default::default()
        };
        client.add_producer(producer, now);
        let consumer = ConsumerConfig {
            group: "fuzz_cg".into(),
            ..Default::default()
        };
        let consumer = client.add_consumer(consumer, &[("T", "*", false)], None, 0, now);
        Harness {
            client,
            log: Log::default(),
            issued: 0,
            now,
            peers: BTreeMap::new(),
            consumer,
            block_at: None,
            blocked: Vec::new(),
        }
    }

    fn waiter(&mut self) -> Waiter {
        self.issued += 1;
        Waiter(self.log.clone(), Rc::new(RefCell::new(false)))
    }

    fn send(&mut self, topic: &str, body: &[u8]) {
        let request = SendRequest::new(
            Message::new(topic, body.to_vec()),
            WallClock::from_unix_ms(1_700_000_000_000),
        );
        let producer = self.client.producers().next().expect("one producer");
        let w = self.waiter();
        self.client.send(producer, request, self.now, w);
    }

    /// Carries out every transmit: connections open at once; written
    /// frames are decoded to learn what to answer.
    fn pump(&mut self, consume: ConsumeResult) {
        for _ in 0..1000 {
            let mut progressed = false;
            while let Some(t) = self.client.poll_transmit() {
                progressed = true;
                match t {
                    Transmit::Connect { conn, addr } => {
                        self.peers.insert(
                            conn,
                            Peer {
                                addr,
                                decoder: FrameDecoder::default(),
                                requests: VecDeque::new(),
                            },
                        );
                        self.client.handle_connected(conn, self.now);
                    }
                    Transmit::Write { conn, bytes } => {
                        let peer = self.peers.get_mut(&conn).expect("write to an open conn");
                        // A full socket: only the first `k` bytes go out now.
                        let written = match self.block_at.take() {
                            Some(k) if k < bytes.len() => {
                                peer.decoder.feed(&bytes[..k]);
                                self.client
                                    .handle_write_blocked(conn, &bytes[k..], self.now);
                                self.blocked.push(conn);
                                continue;
                            }
                            _ => &bytes[..],
                        };
                        let peer = self.peers.get_mut(&conn).expect("write to an open conn");
                        peer.decoder.feed(written);
                        while let Some(cmd) = peer.decoder.decode_next().expect("we write frames") {
                            if !cmd.is_oneway() {
                                peer.requests.push_back((cmd.opaque, cmd.code));
                            }
                        }
                    }
                    Transmit::Close { conn } => {
                        self.peers.remove(&conn);
                    }
                }
            }
            for conn in core::mem::take(&mut self.blocked) {
                progressed = true;
                self.client.handle_writable(conn, self.now);
            }
            while let Some((id, d)) = self.client.poll_delivery() {
                progressed = true;
                assert_eq!(id, self.consumer);
                self.client.consumed(id, d.id, consume, self.now);
            }
            while self.client.poll_offset_snapshot().is_some() {}
            if !progressed {
                return;
            }
        }
    }

    fn conn(&self, pick: u8) -> Option<ConnId> {
        let n = self.peers.len();
        (n > 0).then(|| {
            *self
                .peers
                .keys()
                .nth(usize::from(pick) % n)
                .expect("in range")
        })
    }

    fn answer(&mut self, s: &mut Script<'_>) {
        let Some(conn) = self.conn(s.u8().unwrap_or(0)) else {
            return;
        };
        let flags = s.u8().unwrap_or(0);
        let peer = self.peers.get_mut(&conn).expect("picked");
        let (opaque, req_code) = if flags & 1 == 0 {
            peer.requests.pop_front().unwrap_or((0, 0))
        } else {
            (s.i32(), 0) // an unknown (or another connection's) opaque
        };
        let addr = peer.addr.clone();
        let code = match s.u8().unwrap_or(0) {
            b if usize::from(b) < CODES.len() * 20 => CODES[usize::from(b) % CODES.len()],
            _ => i32::from(s.u16() as i16),
        };
        let mut resp = RemotingCommand::response(code, opaque);
        for _ in 0..s.u8().unwrap_or(0) % 8 {
            let key = KEYS[usize::from(s.u8().unwrap_or(0)) % KEYS.len()];
            let value = if flags & 2 == 0 {
                i64::from(s.i32()).to_string()
            } else {
                s.text()
            };
            resp.ext_fields.insert(key, value);
        }
        if flags & 4 != 0 {
            resp.remark = Some(s.text());
        }
        resp.body = if req_code == request_code::GET_ROUTEINFO_BY_TOPIC && flags & 8 != 0 {
            route_body(s, &addr).into()
        } else {
            let n = usize::from(s.u16());
            s.bytes(n).to_vec().into()
        };
        let ser = if flags & 16 == 0 {
            SerializeType::Json
        } else {
            SerializeType::RocketMq
        };
        let mut out = BytesMut::new();
        if resp.encode(ser, &mut out).is_ok() {
            self.client.handle_input(conn, &out, self.now);
        }
    }

    fn step(&mut self, s: &mut Script<'_>) -> bool {
        let Some(op) = s.u8() else {
            return false;
        };
        let consume = if op & 0x80 == 0 {
            ConsumeResult::Success
        } else {
            ConsumeResult::RETRY
        };
        match op % 8 {
            0 | 1 => self.answer(s),
            2 => {
                if let Some(conn) = self.conn(s.u8().unwrap_or(0)) {
                    let n = usize::from(s.u8().unwrap_or(0));
                    let bytes = s.bytes(n).to_vec();
                    self.client.handle_input(conn, &bytes, self.now);
                }
            }
            3 => {
                let ms = u64::from(s.u16()) * 4;
                self.now = self.now + Duration::from_millis(ms);
                self.client.handle_timeout(self.now);
            }
            4 => {
                if let Some(conn) = self.conn(s.u8().unwrap_or(0)) {
                    self.peers.remove(&conn);
                    self.client.handle_closed(conn, "fuzz close", self.now);
                }
            }
            5 => {
                let topic = if op & 0x40 == 0 {
                    "T".to_string()
                } else {
                    s.text()
                };
                let n = usize::from(s.u8().unwrap_or(0));
                let body = s.bytes(n).to_vec();
                self.send(&topic, &body);
            }
            6 => {
                let code = i32::from(s.u16() as i16);
                let w = self.waiter();
                let cmd = RemotingCommand::request(code, 0);
                self.client
                    .request(None, cmd, Duration::from_secs(2), self.now, w);
            }
            _ => self.block_at = Some(usize::from(s.u8().unwrap_or(0))),
        }
        self.pump(consume);
        true
    }

    /// Shuts down and lets time pass until the client is closed; every
    /// caller must be complete by then.
    fn finish(mut self) {
        let w = self.waiter();
        self.client.shutdown(self.now, w);
        self.pump(ConsumeResult::Success);
        for _ in 0..200 {
            if self.client.is_closed() {
                break;
            }
            self.now = self.now + Duration::from_secs(1);
            self.client.handle_timeout(self.now);
            self.pump(ConsumeResult::Success);
        }
        assert!(self.client.is_closed(), "shutdown is bounded");
        assert_eq!(*self.log.0.borrow(), self.issued, "every caller completed");
    }
}

/// A route naming the peer itself as the broker, with queue counts, perm
/// and broker ids from the script (absurd ones included).
fn route_body(s: &mut Script<'_>, addr: &str) -> Vec<u8> {
    let read = s.i32();
    let write = s.i32();
    let perm = s.u8().unwrap_or(6);
    let id = i64::from(s.u8().unwrap_or(0) % 3);
    let order = if s.u8().unwrap_or(0) & 1 == 1 {
        format!(r#","orderTopicConf":"b:{}""#, s.i32())
    } else {
        String::new()
    };
    format!(
        r#"{{"brokerDatas":[{{"brokerAddrs":{{"{id}":"{addr}"}},"brokerName":"b","cluster":"c"}}],"queueDatas":[{{"brokerName":"b","perm":{perm},"readQueueNums":{read},"writeQueueNums":{write},"topicSysFlag":0}}]{order}}}"#
    )
    .into_bytes()
}

/// Runs one script.
pub fn run(data: &[u8]) {
    let mut s = Script(data);
    let seed = u64::from(s.u16());
    let mut h = Harness::new(seed);
    h.send("T", b"first");
    h.pump(ConsumeResult::Success);
    let mut steps = 0;
    while steps < 256 && h.step(&mut s) {
        steps += 1;
    }
    h.finish();
}
