//! Reading the remoting traffic of a name-server connection: which broker
//! addresses its answers name, and which requests must not pass.
//!
//! Frames are split here rather than with [`rmq_core::protocol::FrameDecoder`],
//! which keeps each whole frame (up to 16 MiB) in memory: the bridge only
//! needs the headers of most frames and the bodies of a few answers, so it
//! decodes each header with [`rmq_core::protocol::frame::decode_command`]
//! and skips uninteresting bodies without buffering them. The framing rules
//! (length below 4, above 16 MiB, header longer than the frame, unknown
//! serialize type, undecodable header) are rmq-core's.

use std::collections::HashMap;

use bytes::Bytes;
use rmq_core::protocol::body::ClusterInfo;
use rmq_core::protocol::frame::{decode_command, FrameError, DEFAULT_MAX_FRAME_LEN};
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::route::TopicRouteData;

/// Longest header the inspector decodes (requests and answers of a name
/// server carry a few short fields).
pub const MAX_HEADER_LEN: usize = 64 * 1024;
/// Longest route or cluster answer body read for learning; a longer one is
/// forwarded without learning from it.
pub const MAX_LEARN_BODY: usize = 4 << 20;
/// Requests awaiting an answer that are tracked per connection; a client
/// with more outstanding stops learning on that connection.
pub const MAX_PENDING: usize = 1024;

/// Requests a client may not send to a name server through the bridge: the
/// ones a broker or an operator sends. REGISTER_BROKER in particular would
/// let a client plant any address in the name server's answers, and so in
/// the allowlist.
pub const DENIED_NAMESRV_CODES: &[(i32, &str)] = &[
    (100, "PUT_KV_CONFIG"),
    (102, "DELETE_KV_CONFIG"),
    (103, "REGISTER_BROKER"),
    (104, "UNREGISTER_BROKER"),
    (205, "WIPE_WRITE_PERM_OF_BROKER"),
    (217, "REGISTER_TOPIC_IN_NAMESRV"),
    (318, "UPDATE_NAMESRV_CONFIG"),
    (327, "ADD_WRITE_PERM_OF_BROKER"),
    (904, "BROKER_HEARTBEAT"),
];

/// A frame on the stream could not be split or its header decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// rmq-core's framing rules refused it.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The header is longer than [`MAX_HEADER_LEN`].
    #[error("header of {0} bytes is longer than the inspector reads")]
    HeaderTooLong(usize),
}

/// One step of a [`FrameSplitter`].
#[derive(Debug)]
pub enum Item {
    /// A frame's header (its `body` empty) and the body length that follows.
    Header(RemotingCommand, usize),
    /// A body kept with [`FrameSplitter::keep_body`], with its tag.
    Body(i32, Bytes),
}

#[derive(Debug)]
enum State {
    /// Collecting the length field and the header word.
    Prefix { buf: [u8; 8], have: usize },
    /// Collecting the header; `buf` holds the header word then the header.
    Header {
        body_len: usize,
        header_len: usize,
        buf: Vec<u8>,
    },
    /// Passing over (or keeping) the body.
    Body {
        remaining: usize,
        keep: Option<(i32, Vec<u8>)>,
    },
    /// An error happened; nothing more is read.
    Broken,
}

/// Splits a remoting byte stream into headers and (on request) bodies, with
/// memory bounded by [`MAX_HEADER_LEN`] plus the kept body.
#[derive(Debug)]
pub struct FrameSplitter {
    state: State,
}

impl Default for FrameSplitter {
    fn default() -> Self {
        FrameSplitter {
            state: State::Prefix {
                buf: [0; 8],
                have: 0,
            },
        }
    }
}

impl FrameSplitter {
    /// The next item from `input`, consuming what it used; `Ok(None)` when
    /// `input` is used up. After an error the splitter stays broken.
    pub fn next(&mut self, input: &mut &[u8]) -> Result<Option<Item>, SplitError> {
        loop {
            match &mut self.state {
                State::Broken => return Err(FrameError::Poisoned.into()),
                State::Prefix { buf, have } => {
                    if *have == 8 {
                        let prefix = *buf;
                        let r = self.start_frame(prefix);
                        if let Err(e) = r {
                            self.state = State::Broken;
                            return Err(e);
                        }
                        continue;
                    }
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = (8 - *have).min(input.len());
                    buf[*have..*have + n].copy_from_slice(&input[..n]);
                    *have += n;
                    *input = &input[n..];
                }
                State::Header {
                    body_len,
                    header_len,
                    buf,
                } => {
                    let want = 4 + *header_len - buf.len();
                    if want > 0 {
                        if input.is_empty() {
                            return Ok(None);
                        }
                        let n = want.min(input.len());
                        buf.extend_from_slice(&input[..n]);
                        *input = &input[n..];
                        continue;
                    }
                    let body_len = *body_len;
                    let frame = Bytes::from(std::mem::take(buf));
                    return match decode_command(frame) {
                        Ok(cmd) => {
                            self.state = State::Body {
                                remaining: body_len,
                                keep: None,
                            };
                            Ok(Some(Item::Header(cmd, body_len)))
                        }
                        Err(e) => {
                            self.state = State::Broken;
                            Err(e.into())
                        }
                    };
                }
                State::Body { remaining, keep } => {
                    if *remaining == 0 {
                        let kept = keep.take();
                        self.state = State::Prefix {
                            buf: [0; 8],
                            have: 0,
                        };
                        if let Some((tag, body)) = kept {
                            return Ok(Some(Item::Body(tag, Bytes::from(body))));
                        }
                        continue;
                    }
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = (*remaining).min(input.len());
                    if let Some((_, body)) = keep {
                        body.extend_from_slice(&input[..n]);
                    }
                    *remaining -= n;
                    *input = &input[n..];
                }
            }
        }
    }

    /// Keeps the body of the frame whose header was just returned, to be
    /// returned as [`Item::Body`] with `tag`.
    pub fn keep_body(&mut self, tag: i32) {
        if let State::Body { remaining, keep } = &mut self.state {
            *keep = Some((tag, Vec::with_capacity(*remaining)));
        }
    }

    fn start_frame(&mut self, prefix: [u8; 8]) -> Result<(), SplitError> {
        let length = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let length =
            usize::try_from(length)
                .ok()
                .filter(|l| *l >= 4)
                .ok_or(FrameError::LengthTooSmall {
                    length: i64::from(length),
                })?;
        if length > DEFAULT_MAX_FRAME_LEN {
            return Err(FrameError::FrameTooLong {
                length,
                max: DEFAULT_MAX_FRAME_LEN,
            }
            .into());
        }
        let header_len = (u32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]])
            & 0x00FF_FFFF) as usize;
        if header_len > length - 4 {
            return Err(FrameError::HeaderTooLong {
                header_len,
                available: length - 4,
            }
            .into());
        }
        if header_len > MAX_HEADER_LEN {
            return Err(SplitError::HeaderTooLong(header_len));
        }
        let mut buf = Vec::with_capacity(4 + header_len);
        buf.extend_from_slice(&prefix[4..]);
        self.state = State::Header {
            body_len: length - 4 - header_len,
            header_len,
            buf,
        };
        Ok(())
    }
}

/// A request the bridge refuses to pass to a name server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A request code from [`DENIED_NAMESRV_CODES`].
    #[error("request {name} ({code}) is not allowed to a name server through the bridge")]
    Denied {
        /// The code.
        code: i32,
        /// Its name.
        name: &'static str,
    },
    /// The client's bytes are not remoting frames, so what they ask for is
    /// unknown.
    #[error("undecodable request stream: {0}")]
    Malformed(SplitError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// A route (105) or cluster (106) request: its answer is read.
    Learn(i32),
    /// Another request, or two requests with one opaque: its answer is not.
    Other,
}

/// The per-connection inspector of traffic to and from one name server.
#[derive(Debug, Default)]
pub struct NamesrvInspector {
    requests: FrameSplitter,
    answers: FrameSplitter,
    pending: HashMap<i32, Pending>,
    stopped: bool,
}

impl NamesrvInspector {
    /// A fresh inspector.
    pub fn new() -> Self {
        Self::default()
    }

    /// False once learning stopped on this connection (a malformed answer,
    /// or too many requests awaiting answers).
    pub fn is_learning(&self) -> bool {
        !self.stopped
    }

    /// Bytes from the client to the name server. An error means the bytes
    /// must not be forwarded and the connection must be closed.
    pub fn client_bytes(&mut self, mut data: &[u8]) -> Result<(), Violation> {
        loop {
            let item = self
                .requests
                .next(&mut data)
                .map_err(Violation::Malformed)?;
            match item {
                None => return Ok(()),
                Some(Item::Body(..)) => {}
                Some(Item::Header(cmd, _)) => {
                    if cmd.is_response() {
                        continue;
                    }
                    if let Some(&(code, name)) =
                        DENIED_NAMESRV_CODES.iter().find(|(c, _)| *c == cmd.code)
                    {
                        return Err(Violation::Denied { code, name });
                    }
                    if !cmd.is_oneway() {
                        self.track(&cmd);
                    }
                }
            }
        }
    }

    fn track(&mut self, cmd: &RemotingCommand) {
        if self.stopped {
            return;
        }
        let kind = match cmd.code {
            request_code::GET_ROUTEINFO_BY_TOPIC | request_code::GET_BROKER_CLUSTER_INFO => {
                Pending::Learn(cmd.code)
            }
            _ => Pending::Other,
        };
        if let Some(p) = self.pending.get_mut(&cmd.opaque) {
            // Two requests share an opaque: neither answer can be told apart.
            *p = Pending::Other;
        } else if self.pending.len() >= MAX_PENDING {
            tracing::debug!("too many requests awaiting answers; learning stops");
            self.stop();
        } else {
            self.pending.insert(cmd.opaque, kind);
        }
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.pending = HashMap::new();
        self.answers = FrameSplitter::default();
    }

    /// Bytes from the name server to the client; returns the broker
    /// addresses its route and cluster answers named. Never fails: a
    /// malformed stream stops learning and the bytes still flow.
    pub fn server_bytes(&mut self, mut data: &[u8]) -> Vec<String> {
        let mut found = Vec::new();
        while !self.stopped {
            match self.answers.next(&mut data) {
                Ok(None) => break,
                Ok(Some(Item::Header(cmd, body_len))) => {
                    if !cmd.is_response() {
                        continue;
                    }
                    if let Some(Pending::Learn(code)) = self.pending.remove(&cmd.opaque) {
                        if cmd.code == response_code::SUCCESS && body_len <= MAX_LEARN_BODY {
                            self.answers.keep_body(code);
                        }
                    }
                }
                Ok(Some(Item::Body(code, body))) => broker_addrs(code, &body, &mut found),
                Err(e) => {
                    tracing::warn!(error = %e, "malformed name-server answer; learning stops on this connection");
                    self.stop();
                }
            }
        }
        found
    }
}

/// Appends the broker addresses of a route (105) or cluster (106) answer.
fn broker_addrs(code: i32, body: &[u8], out: &mut Vec<String>) {
    match code {
        request_code::GET_ROUTEINFO_BY_TOPIC => match TopicRouteData::parse(body) {
            Ok(route) => out.extend(
                route
                    .broker_datas
                    .into_iter()
                    .flat_map(|b| b.broker_addrs.into_values()),
            ),
            Err(e) => tracing::debug!(error = %e, "unreadable route answer"),
        },
        request_code::GET_BROKER_CLUSTER_INFO => match ClusterInfo::parse(body) {
            Ok(info) => out.extend(
                info.broker_addr_table
                    .into_values()
                    .flat_map(|b| b.broker_addrs.into_values()),
            ),
            Err(e) => tracing::debug!(error = %e, "unreadable cluster answer"),
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rmq_core::protocol::SerializeType;

    fn frame(cmd: &RemotingCommand, ser: SerializeType) -> Vec<u8> {
        let mut out = BytesMut::new();
        cmd.encode(ser, &mut out).unwrap();
        out.to_vec()
    }

    fn route_request(opaque: i32) -> Vec<u8> {
        let mut c = RemotingCommand::request(request_code::GET_ROUTEINFO_BY_TOPIC, opaque);
        c.ext_fields.insert("topic", "T");
        frame(&c, SerializeType::RocketMq)
    }

    const ROUTE: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"b","cluster":"c"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
    const CLUSTER: &str = r#"{"brokerAddrTable":{"b":{"brokerAddrs":{0:"10.0.0.7:10911"},"brokerName":"b","cluster":"c"}},"clusterAddrTable":{"c":["b"]}}"#;

    fn answer(opaque: i32, code: i32, body: &'static str) -> Vec<u8> {
        frame(
            &RemotingCommand::response(code, opaque).with_body(body.as_bytes()),
            SerializeType::Json,
        )
    }

    #[test]
    fn learns_from_a_route_answer_fed_byte_by_byte() {
        let mut i = NamesrvInspector::new();
        i.client_bytes(&route_request(7)).unwrap();
        let mut found = Vec::new();
        for b in answer(7, 0, ROUTE) {
            found.extend(i.server_bytes(&[b]));
        }
        assert_eq!(found, ["10.0.0.5:10911", "10.0.0.6:10911"]);
    }

    #[test]
    fn learns_from_a_cluster_answer() {
        let mut i = NamesrvInspector::new();
        let c = RemotingCommand::request(request_code::GET_BROKER_CLUSTER_INFO, 1);
        i.client_bytes(&frame(&c, SerializeType::Json)).unwrap();
        assert_eq!(i.server_bytes(&answer(1, 0, CLUSTER)), ["10.0.0.7:10911"]);
    }

    #[test]
    fn answers_to_other_requests_teach_nothing() {
        let mut i = NamesrvInspector::new();
        let other = RemotingCommand::request(request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 3);
        i.client_bytes(&frame(&other, SerializeType::Json)).unwrap();
        // Unrequested, other, and failed answers.
        let mut bytes = answer(3, 0, ROUTE);
        bytes.extend(answer(4, 0, ROUTE));
        i.client_bytes(&route_request(5)).unwrap();
        bytes.extend(answer(5, 17, ROUTE));
        assert!(i.server_bytes(&bytes).is_empty());
        assert!(i.is_learning());
    }

    #[test]
    fn a_reused_opaque_is_not_learned_from() {
        let mut i = NamesrvInspector::new();
        let other = RemotingCommand::request(request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 9);
        i.client_bytes(&frame(&other, SerializeType::Json)).unwrap();
        i.client_bytes(&route_request(9)).unwrap();
        assert!(i.server_bytes(&answer(9, 0, ROUTE)).is_empty());
    }

    #[test]
    fn registration_requests_are_refused() {
        let mut i = NamesrvInspector::new();
        let reg = RemotingCommand::request(103, 1).with_body(&b"{}"[..]);
        assert_eq!(
            i.client_bytes(&frame(&reg, SerializeType::RocketMq)),
            Err(Violation::Denied {
                code: 103,
                name: "REGISTER_BROKER"
            })
        );
    }

    #[test]
    fn a_malformed_request_stream_is_refused() {
        let mut i = NamesrvInspector::new();
        assert!(matches!(
            i.client_bytes(b"GET / HTTP/1.1\r\n\r\n"),
            Err(Violation::Malformed(_))
        ));
    }

    #[test]
    fn a_malformed_answer_stops_learning_without_panicking() {
        let mut i = NamesrvInspector::new();
        i.client_bytes(&route_request(1)).unwrap();
        assert!(i.server_bytes(&[0, 0, 0, 2, 1, 2, 3, 4]).is_empty());
        assert!(!i.is_learning());
        assert!(i.server_bytes(&answer(1, 0, ROUTE)).is_empty());
    }

    #[test]
    fn too_many_pending_requests_stop_learning() {
        let mut i = NamesrvInspector::new();
        for opaque in 0..=MAX_PENDING as i32 {
            i.client_bytes(&route_request(opaque)).unwrap();
        }
        assert!(!i.is_learning());
        assert!(i.server_bytes(&answer(0, 0, ROUTE)).is_empty());
    }

    #[test]
    fn skipped_bodies_are_not_buffered() {
        let mut s = FrameSplitter::default();
        let big = RemotingCommand::response(0, 1).with_body(vec![7u8; 1 << 20]);
        let bytes = frame(&big, SerializeType::Json);
        let mut input = &bytes[..];
        assert!(matches!(s.next(&mut input), Ok(Some(Item::Header(_, n))) if n == 1 << 20));
        assert!(matches!(s.next(&mut input), Ok(None)));
        assert!(input.is_empty());
        match &s.state {
            State::Prefix { have: 0, .. } => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_headers_are_errors() {
        let mut s = FrameSplitter::default();
        let len = (MAX_HEADER_LEN + 8) as u32;
        let mut bytes = (len + 4).to_be_bytes().to_vec();
        bytes.extend(len.to_be_bytes());
        let mut input = &bytes[..];
        assert!(matches!(
            s.next(&mut input),
            Err(SplitError::HeaderTooLong(_))
        ));
    }
}
