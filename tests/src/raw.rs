//! A small blocking remoting client over `std::net::TcpStream`, built only on
//! `rmq-core`'s sans-IO codec: no runtime, no engine. It proves the codec
//! against the real broker and captures the broker's raw frames as golden
//! vectors.
//!
//! [`RawClient::exchange`] writes one request frame and returns the matching
//! response both decoded (through [`FrameDecoder`]) and as the raw bytes
//! received (length prefix included). The helpers below build the few
//! requests the round-trip tests need: route, cluster info, create topic,
//! SEND_MESSAGE_V2 and PULL_MESSAGE.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;
use rmq_core::message::{decode_messages, Message, MessageDecodeError, MessageExt};
use rmq_core::protocol::body::ClusterInfo;
use rmq_core::protocol::headers::{
    CreateTopicRequestHeader, GetRouteInfoRequestHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
    TopicFilterType,
};
use rmq_core::protocol::{
    encode_request, request_code, response_code, CommandHeader, CommandMeta, EncodeError,
    FrameDecoder, FrameError, HeaderError, RemotingCommand, SerializeType,
};
use rmq_core::route::TopicRouteData;

/// The default per-request timeout (connect, write and read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Pull `sysFlag` bit SUBSCRIPTION (the request carries the expression).
pub const PULL_SYS_FLAG_SUBSCRIPTION: i32 = 0x4;

/// What went wrong in a raw exchange.
#[derive(Debug)]
pub enum RawError {
    /// Socket I/O failed (including a read timeout).
    Io {
        /// What the client was doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The request could not be encoded.
    Encode(EncodeError),
    /// The peer sent an undecodable frame.
    Frame(FrameError),
    /// The peer closed the connection before answering.
    Closed,
    /// A response header lacks or mangles a field.
    Header(HeaderError),
    /// A response body could not be parsed.
    Body(String),
    /// A stored message could not be decoded.
    Messages(MessageDecodeError),
    /// The peer answered with an unexpected code.
    Code {
        /// The request code.
        request: i32,
        /// The response code.
        code: i32,
        /// The remark.
        remark: Option<String>,
    },
}

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawError::Io { context, source } => write!(f, "{context}: {source}"),
            RawError::Encode(e) => write!(f, "encode: {e}"),
            RawError::Frame(e) => write!(f, "frame: {e}"),
            RawError::Closed => write!(f, "the peer closed the connection"),
            RawError::Header(e) => write!(f, "response header: {e}"),
            RawError::Body(e) => write!(f, "response body: {e}"),
            RawError::Messages(e) => write!(f, "messages: {e}"),
            RawError::Code {
                request,
                code,
                remark,
            } => write!(
                f,
                "request {request} answered with code {code}: {}",
                remark.as_deref().unwrap_or("(no remark)")
            ),
        }
    }
}

impl std::error::Error for RawError {}

/// One request/response exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The response, decoded.
    pub response: RemotingCommand,
    /// The response frame exactly as received, length prefix included.
    pub frame: Vec<u8>,
}

impl Exchange {
    /// The response, or [`RawError::Code`] unless its code is `expected`.
    pub fn expect_code(self, request: i32, expected: i32) -> Result<Exchange, RawError> {
        if self.response.code == expected {
            Ok(self)
        } else {
            Err(RawError::Code {
                request,
                code: self.response.code,
                remark: self.response.remark,
            })
        }
    }
}

/// A blocking connection to one namesrv or broker.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    decoder: FrameDecoder,
    addr: String,
    next_opaque: i32,
    serialize: SerializeType,
}

impl RawClient {
    /// Connects to `addr` (`host:port`) with `timeout` for connect, reads and
    /// writes; requests use `serialize` for their header.
    pub fn connect(
        addr: &str,
        serialize: SerializeType,
        timeout: Duration,
    ) -> Result<RawClient, RawError> {
        let io = |context: String| move |source| RawError::Io { context, source };
        let sock = addr
            .to_socket_addrs()
            .map_err(io(format!("resolve {addr}")))?
            .next()
            .ok_or_else(|| RawError::Io {
                context: format!("resolve {addr}"),
                source: io::Error::new(io::ErrorKind::NotFound, "no address"),
            })?;
        let stream =
            TcpStream::connect_timeout(&sock, timeout).map_err(io(format!("connect {addr}")))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(io(format!("configure {addr}")))?;
        Ok(RawClient {
            stream,
            decoder: FrameDecoder::default(),
            addr: addr.to_string(),
            next_opaque: 1,
            serialize,
        })
    }

    /// The address connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The header serialization of this client's requests.
    pub fn serialize_type(&self) -> SerializeType {
        self.serialize
    }

    /// A fresh request id.
    pub fn next_opaque(&mut self) -> i32 {
        let o = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        o
    }

    /// Encodes a request with `code`, a typed `header` and `body` in this
    /// client's serialization, sends it and waits for the response.
    pub fn request<H: CommandHeader>(
        &mut self,
        code: i32,
        header: &H,
        body: &[u8],
    ) -> Result<Exchange, RawError> {
        let opaque = self.next_opaque();
        let mut out = BytesMut::new();
        encode_request(
            &mut out,
            self.serialize,
            &CommandMeta::request(code, opaque),
            header,
            &[],
            body,
        )
        .map_err(RawError::Encode)?;
        self.exchange(&out, opaque)
    }

    /// Sends `cmd` (its opaque is replaced by a fresh one) and waits.
    pub fn send_command(&mut self, mut cmd: RemotingCommand) -> Result<Exchange, RawError> {
        cmd.opaque = self.next_opaque();
        let mut out = BytesMut::new();
        cmd.encode(self.serialize, &mut out)
            .map_err(RawError::Encode)?;
        self.exchange(&out, cmd.opaque)
    }

    /// Writes an already encoded request `frame` and returns the response
    /// whose opaque is `opaque`; frames for other opaques (and requests from
    /// the peer) are skipped.
    pub fn exchange(&mut self, frame: &[u8], opaque: i32) -> Result<Exchange, RawError> {
        let addr = self.addr.clone();
        self.stream
            .write_all(frame)
            .map_err(|source| RawError::Io {
                context: format!("write to {addr}"),
                source,
            })?;
        loop {
            let raw = self.read_frame()?;
            self.decoder.feed(&raw);
            let cmd = self
                .decoder
                .decode_next()
                .map_err(RawError::Frame)?
                .ok_or(RawError::Frame(FrameError::Poisoned))?;
            if cmd.is_response() && cmd.opaque == opaque {
                return Ok(Exchange {
                    response: cmd,
                    frame: raw,
                });
            }
        }
    }

    /// Reads one whole frame (length prefix included) off the socket.
    fn read_frame(&mut self) -> Result<Vec<u8>, RawError> {
        let addr = self.addr.clone();
        let io = |source: io::Error| {
            if source.kind() == io::ErrorKind::UnexpectedEof {
                RawError::Closed
            } else {
                RawError::Io {
                    context: format!("read from {addr}"),
                    source,
                }
            }
        };
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).map_err(io)?;
        let len = i32::from_be_bytes(prefix);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (4..=16 * 1024 * 1024).contains(l))
            .ok_or(RawError::Frame(FrameError::LengthTooSmall {
                length: i64::from(len),
            }))?;
        let mut raw = vec![0u8; 4 + len];
        raw[..4].copy_from_slice(&prefix);
        self.stream.read_exact(&mut raw[4..]).map_err(io)?;
        Ok(raw)
    }
}

/// GET_ROUTEINFO_BY_TOPIC for `topic` (asking for standard JSON); any code
/// (SUCCESS or TOPIC_NOT_EXIST) is returned.
pub fn route_exchange(ns: &mut RawClient, topic: &str) -> Result<Exchange, RawError> {
    ns.request(
        request_code::GET_ROUTEINFO_BY_TOPIC,
        &GetRouteInfoRequestHeader::new(topic),
        &[],
    )
}

/// The route of `topic`, parsed; [`RawError::Code`] unless SUCCESS.
pub fn topic_route(ns: &mut RawClient, topic: &str) -> Result<TopicRouteData, RawError> {
    let ex = route_exchange(ns, topic)?
        .expect_code(request_code::GET_ROUTEINFO_BY_TOPIC, response_code::SUCCESS)?;
    TopicRouteData::parse(&ex.response.body).map_err(|e| RawError::Body(e.to_string()))
}

/// GET_BROKER_CLUSTER_INFO (no header).
pub fn cluster_info_exchange(ns: &mut RawClient) -> Result<Exchange, RawError> {
    ns.send_command(RemotingCommand::request(
        request_code::GET_BROKER_CLUSTER_INFO,
        0,
    ))?
    .expect_code(
        request_code::GET_BROKER_CLUSTER_INFO,
        response_code::SUCCESS,
    )
}

/// The cluster info, parsed.
pub fn cluster_info(ns: &mut RawClient) -> Result<ClusterInfo, RawError> {
    let ex = cluster_info_exchange(ns)?;
    ClusterInfo::parse(&ex.response.body).map_err(|e| RawError::Body(e.to_string()))
}

/// The master address of the first broker of the first cluster the namesrv
/// knows.
pub fn first_master_addr(ns: &mut RawClient) -> Result<String, RawError> {
    let info = cluster_info(ns)?;
    info.broker_addr_table
        .values()
        .find_map(|b| b.master_addr().map(str::to_string))
        .ok_or_else(|| RawError::Body("the cluster info lists no master".into()))
}

/// UPDATE_AND_CREATE_TOPIC of a read-write topic with `queues` read and
/// write queues on the broker behind `broker`.
pub fn create_topic(broker: &mut RawClient, topic: &str, queues: i32) -> Result<(), RawError> {
    let header = CreateTopicRequestHeader {
        topic: topic.to_string(),
        default_topic: "TBW102".to_string(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: TopicFilterType::SingleTag,
        topic_sys_flag: Some(0),
        order: false,
        ..Default::default()
    };
    broker
        .request(request_code::UPDATE_AND_CREATE_TOPIC, &header, &[])?
        .expect_code(
            request_code::UPDATE_AND_CREATE_TOPIC,
            response_code::SUCCESS,
        )?;
    Ok(())
}

/// Creates `topic` on the first master the namesrv `ns_addr` knows and waits
/// (up to ~10 s) until the namesrv serves its route; returns the broker
/// address.
pub fn create_topic_and_wait(
    ns_addr: &str,
    serialize: SerializeType,
    topic: &str,
    queues: i32,
) -> Result<String, RawError> {
    let mut ns = RawClient::connect(ns_addr, serialize, DEFAULT_TIMEOUT)?;
    let broker_addr = first_master_addr(&mut ns)?;
    let mut broker = RawClient::connect(&broker_addr, serialize, DEFAULT_TIMEOUT)?;
    create_topic(&mut broker, topic, queues)?;
    let mut last = None;
    for _ in 0..100 {
        match topic_route(&mut ns, topic) {
            Ok(_) => return Ok(broker_addr),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last.unwrap_or(RawError::Closed))
}

/// The SEND_MESSAGE_V2 header Java would build for `msg` to `queue_id`
/// (flag, properties, TBW102 with 4 default queues, sysFlag `sys_flag`).
pub fn send_header(
    group: &str,
    msg: &Message,
    queue_id: i32,
    sys_flag: i32,
    born_timestamp: i64,
) -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        a: group.to_string(),
        b: msg.topic.clone(),
        c: "TBW102".to_string(),
        d: 4,
        e: queue_id,
        f: sys_flag,
        g: born_timestamp,
        h: msg.flag,
        i: Some(String::from_utf8_lossy(&msg.properties.encode()).into_owned()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(false),
        n: None,
    }
}

/// Sends `body` (already compressed if `sys_flag` says so) with `header`.
pub fn send_exchange(
    broker: &mut RawClient,
    header: &SendMessageRequestHeaderV2,
    body: &[u8],
) -> Result<Exchange, RawError> {
    broker
        .request(request_code::SEND_MESSAGE_V2, header, body)?
        .expect_code(request_code::SEND_MESSAGE_V2, response_code::SUCCESS)
}

/// Sends `msg` uncompressed to `queue_id`; returns the response header.
pub fn send(
    broker: &mut RawClient,
    group: &str,
    msg: &Message,
    queue_id: i32,
) -> Result<SendMessageResponseHeader, RawError> {
    let header = send_header(group, msg, queue_id, 0, now_ms());
    let ex = send_exchange(broker, &header, &msg.body)?;
    ex.response.header().map_err(RawError::Header)
}

/// The PULL_MESSAGE header for a `*` TAG subscription, no suspend.
pub fn pull_header(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max: i32,
) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: group.to_string(),
        topic: topic.to_string(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: max,
        sys_flag: PULL_SYS_FLAG_SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".to_string()),
        sub_version: 0,
        expression_type: Some("TAG".to_string()),
        ..Default::default()
    }
}

/// PULL_MESSAGE; any code is returned.
pub fn pull_exchange(
    broker: &mut RawClient,
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max: i32,
) -> Result<Exchange, RawError> {
    broker.request(
        request_code::PULL_MESSAGE,
        &pull_header(group, topic, queue_id, offset, max),
        &[],
    )
}

/// Pulls until at least `want` messages arrived from `offset` or ~10 s
/// passed (the store may dispatch to the consume queue a little late).
/// Returns the last successful exchange's header and all messages.
pub fn pull_at_least(
    broker: &mut RawClient,
    group: &str,
    topic: &str,
    queue_id: i32,
    want: usize,
) -> Result<(PullMessageResponseHeader, Vec<MessageExt>, Exchange), RawError> {
    let mut last = None;
    for _ in 0..100 {
        let ex = pull_exchange(broker, group, topic, queue_id, 0, 32)?;
        if ex.response.code == response_code::SUCCESS {
            let header: PullMessageResponseHeader =
                ex.response.header().map_err(RawError::Header)?;
            let msgs = decode_messages(&ex.response.body).map_err(RawError::Messages)?;
            if msgs.len() >= want {
                return Ok((header, msgs, ex));
            }
        }
        last = Some(ex);
        std::thread::sleep(Duration::from_millis(100));
    }
    let ex = last.ok_or(RawError::Closed)?;
    Err(RawError::Code {
        request: request_code::PULL_MESSAGE,
        code: ex.response.code,
        remark: ex.response.remark,
    })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A topic/group name unique to this process and call: `prefix` + pid +
/// nanoseconds + a counter.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
