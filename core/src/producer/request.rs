//! Request-reply (Java `DefaultMQProducer.request`): a request is a send
//! whose message carries `CORRELATION_ID`, `REPLY_TO_CLIENT` and `TTL`; a
//! replier answers with [`create_reply`], sent to `<cluster>_REPLY_TOPIC`
//! with SEND_REPLY_MESSAGE_V2; the broker pushes that reply to the
//! requesting client as PUSH_REPLY_MESSAGE_TO_CLIENT (326), which the
//! producer matches by correlation id.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::net::{Ipv4Addr, SocketAddr};
use core::time::Duration;

use bytes::Bytes;

use super::{Payload, Producer, QueueTarget, SendError, SendId, SendRequest, WallClock};
use crate::engine::{Answered, BrokerRequest, Context, MaybeSend};
use crate::message::compression::{decompress, DEFAULT_MAX_DECOMPRESSED_SIZE};
use crate::message::{property, sysflag, Message, MessageExt, Properties};
use crate::protocol::headers::ReplyMessageRequestHeader;
use crate::protocol::{request_code, response_code, RemotingCommand};
use crate::time::Instant;

/// `MSG_TYPE` of a reply (Java `MixAll.REPLY_MESSAGE_FLAG`).
pub const REPLY_MESSAGE_FLAG: &str = "reply";

/// Suffix of the reply topic after `<cluster>_` (Java `MixAll.REPLY_TOPIC_POSTFIX`).
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";

/// Why a request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestReplyError {
    /// The request message could not be sent.
    #[error("request not sent: {0}")]
    Send(SendError),
    /// No reply arrived before the request's deadline.
    #[error("no reply within the request timeout")]
    Timeout,
    /// The client shut down first.
    #[error("producer is not running")]
    NotRunning,
}

/// Why [`create_reply`] could not build a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateReplyError {
    /// The request lacks a property every reply needs (`CLUSTER`, which the
    /// broker adds to stored requests, or `REPLY_TO_CLIENT` /
    /// `CORRELATION_ID`, which the requester sets).
    #[error("the request has no {0} property: not a request message")]
    MissingProperty(&'static str),
}

/// Who waits for a request's reply: completed exactly once, inside the
/// client call that settled it (so it must not call back into the client).
pub trait ReplyWaiter: MaybeSend {
    /// Hands over the reply, or why none came.
    fn complete(self: Box<Self>, result: Result<MessageExt, RequestReplyError>);
}

/// A request waiting for its reply.
pub(super) struct PendingRequest {
    waiter: Box<dyn ReplyWaiter>,
    deadline: Instant,
    send: SendId,
}

impl core::fmt::Debug for PendingRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingRequest")
            .field("deadline", &self.deadline)
            .field("send", &self.send)
            .finish_non_exhaustive()
    }
}

/// The reply to `request` with `body`, as Java's
/// `MessageUtil.createReplyMessage`: topic `<CLUSTER>_REPLY_TOPIC`,
/// `MSG_TYPE=reply`, and the request's `CORRELATION_ID`, `REPLY_TO_CLIENT`
/// and `TTL` copied. A producer sends it with SEND_REPLY_MESSAGE_V2.
pub fn create_reply(
    request: &Message,
    body: impl Into<Bytes>,
) -> Result<Message, CreateReplyError> {
    let cluster = request
        .property(property::CLUSTER)
        .ok_or(CreateReplyError::MissingProperty(property::CLUSTER))?;
    let reply_to = request.property(property::MESSAGE_REPLY_TO_CLIENT).ok_or(
        CreateReplyError::MissingProperty(property::MESSAGE_REPLY_TO_CLIENT),
    )?;
    let correlation = request
        .property(property::CORRELATION_ID)
        .ok_or(CreateReplyError::MissingProperty(property::CORRELATION_ID))?;
    let mut reply = Message::new(reply_topic(cluster), body);
    let p = &mut reply.properties;
    p.insert(property::MESSAGE_TYPE, REPLY_MESSAGE_FLAG);
    p.insert(property::CORRELATION_ID, correlation);
    p.insert(property::MESSAGE_REPLY_TO_CLIENT, reply_to);
    if let Some(ttl) = request.property(property::MESSAGE_TTL) {
        p.insert(property::MESSAGE_TTL, ttl);
    }
    Ok(reply)
}

/// The reply topic of cluster `cluster` (Java `MixAll.getReplyTopic`).
pub fn reply_topic(cluster: &str) -> String {
    alloc::format!("{cluster}_{REPLY_TOPIC_POSTFIX}")
}

/// True for a reply message (`MSG_TYPE=reply`): sent with SEND_REPLY_MESSAGE_V2.
pub fn is_reply(message: &Message) -> bool {
    message.property(property::MESSAGE_TYPE) == Some(REPLY_MESSAGE_FLAG)
}

impl Producer {
    /// Sends `message` as a request and waits for its reply, at most
    /// `timeout` (which also bounds the send): `waiter` gets the reply, a
    /// timeout, or the send's failure. Returns the id of the send carrying
    /// the request; its own outcome also comes out of
    /// [`Producer::poll_done`] (the client layer drops it: the waiter has
    /// what matters).
    pub fn request(
        &mut self,
        ctx: &mut Context<'_>,
        mut message: Message,
        timeout: Duration,
        clock: WallClock,
        waiter: Box<dyn ReplyWaiter>,
    ) -> SendId {
        let correlation = self.ids.next(clock.now_ms, clock.month_start_ms);
        let mut ms = itoa::Buffer::new();
        let ttl = ms.format(timeout.as_millis() as u64);
        let p = &mut message.properties;
        p.insert(property::CORRELATION_ID, correlation.clone());
        p.insert(
            property::MESSAGE_REPLY_TO_CLIENT,
            ctx.config().client_id.clone(),
        );
        p.insert(property::MESSAGE_TTL, ttl);
        self.takes_replies = true;
        let deadline = ctx.now() + timeout;
        // Registered before the send starts: an invalid message fails the
        // send at once, and finish_send hands that failure to the waiter.
        let send = SendId(self.next_send_id + 1);
        self.requests.insert(
            correlation.clone(),
            PendingRequest {
                waiter,
                deadline,
                send,
            },
        );
        self.request_deadlines.insert((deadline, correlation));
        let id = self.send(
            ctx,
            SendRequest {
                payload: Payload::Single(message),
                target: QueueTarget::Any,
                oneway: false,
                timeout: Some(timeout),
                clock,
            },
        );
        debug_assert_eq!(id, send);
        self.arm_deadline(ctx);
        id
    }

    /// The request carried by send `id`, which failed, gets that failure.
    pub(super) fn fail_request_of(&mut self, id: SendId, err: &SendError) {
        let key = self
            .requests
            .iter()
            .find(|(_, r)| r.send == id)
            .map(|(k, _)| k.clone());
        if let Some(r) = key.as_ref().and_then(|k| self.requests.remove(k)) {
            if let Some(k) = key {
                self.request_deadlines.remove(&(r.deadline, k));
            }
            r.waiter.complete(Err(RequestReplyError::Send(err.clone())));
        }
    }

    /// The earliest deadline of the requests waiting for a reply.
    pub(super) fn next_request_deadline(&self) -> Option<Instant> {
        self.request_deadlines.first().map(|(t, _)| *t)
    }

    /// Fails every request whose deadline passed.
    pub(super) fn expire_requests(&mut self, now: Instant) {
        while let Some((deadline, _)) = self.request_deadlines.first() {
            if *deadline > now {
                break;
            }
            let Some((_, key)) = self.request_deadlines.pop_first() else {
                break;
            };
            if let Some(r) = self.requests.remove(&key) {
                r.waiter.complete(Err(RequestReplyError::Timeout));
            }
        }
    }

    /// Fails every request (the client closed).
    pub(super) fn abort_requests(&mut self) {
        self.request_deadlines.clear();
        while let Some((_, r)) = self.requests.pop_first() {
            r.waiter.complete(Err(RequestReplyError::NotRunning));
        }
    }

    /// Takes a PUSH_REPLY_MESSAGE_TO_CLIENT whose correlation id is one of
    /// this producer's requests, or any reply once this producer made
    /// requests (a late one is answered SUCCESS and dropped, as Java does).
    pub(super) fn take_reply(
        &mut self,
        ctx: &mut Context<'_>,
        request: BrokerRequest,
    ) -> Result<Answered, BrokerRequest> {
        if request.code() != request_code::PUSH_REPLY_MESSAGE_TO_CLIENT {
            return Err(request);
        }
        let reply = decode_reply(request.command());
        let key = match &reply {
            Ok(m) => m.property(property::CORRELATION_ID).map(String::from),
            Err(_) => None,
        };
        let pending = key.as_ref().and_then(|k| self.requests.remove(k));
        if pending.is_none() && !self.takes_replies {
            return Err(request);
        }
        let response = match reply {
            Ok(msg) => {
                if let (Some(r), Some(k)) = (pending, key) {
                    self.request_deadlines.remove(&(r.deadline, k));
                    r.waiter.complete(Ok(msg));
                    self.arm_deadline(ctx);
                }
                RemotingCommand::response(response_code::SUCCESS, 0)
            }
            Err(reason) => {
                RemotingCommand::response(response_code::SYSTEM_ERROR, 0).with_remark(reason)
            }
        };
        Ok(request.respond(ctx, response))
    }
}

/// The reply a PUSH_REPLY_MESSAGE_TO_CLIENT carries, as Java's
/// `ClientRemotingProcessor.receiveReplyMessage` builds it.
fn decode_reply(cmd: &RemotingCommand) -> Result<MessageExt, String> {
    let h: ReplyMessageRequestHeader = cmd.header().map_err(|e| e.to_string())?;
    let mut body = cmd.body.clone();
    let mut sys_flag = h.sys_flag;
    if sysflag::is_compressed(sys_flag) {
        let kind = sysflag::compression_type(sys_flag)
            .ok_or_else(|| String::from("unknown compression type"))?;
        let plain = decompress(kind, &body, DEFAULT_MAX_DECOMPRESSED_SIZE)
            .map_err(|e| alloc::format!("reply body: {e}"))?;
        body = Bytes::from(plain);
        sys_flag = sysflag::clear_compressed(sys_flag);
    }
    let properties = h
        .properties
        .as_deref()
        .map(|p| Properties::decode(p.as_bytes()))
        .unwrap_or_default();
    let message = Message {
        topic: h.topic,
        flag: h.flag,
        properties,
        body,
    };
    let mut ext = MessageExt::from_message(message);
    ext.queue_id = h.queue_id;
    ext.sys_flag = sys_flag;
    ext.born_timestamp = h.born_timestamp;
    ext.store_timestamp = h.store_timestamp;
    ext.reconsume_times = h.reconsume_times.unwrap_or(0);
    ext.born_host = parse_host(&h.born_host);
    ext.store_host = parse_host(&h.store_host);
    Ok(ext)
}

/// `ip:port` as the broker writes hosts; unspecified when unreadable.
fn parse_host(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_message() -> Message {
        Message::new("T", "q")
            .with_property("CLUSTER", "DefaultCluster")
            .with_property("REPLY_TO_CLIENT", "127.0.0.1@1")
            .with_property("CORRELATION_ID", "C1")
            .with_property("TTL", "3000")
    }

    #[test]
    fn reply_goes_to_the_cluster_reply_topic_with_the_correlation_copied() {
        let reply = create_reply(&request_message(), "a").unwrap();
        assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
        assert_eq!(reply.property("MSG_TYPE"), Some("reply"));
        assert_eq!(reply.property("CORRELATION_ID"), Some("C1"));
        assert_eq!(reply.property("REPLY_TO_CLIENT"), Some("127.0.0.1@1"));
        assert_eq!(reply.property("TTL"), Some("3000"));
        assert!(is_reply(&reply));
    }

    #[test]
    fn reply_to_a_message_without_cluster_is_an_error() {
        let mut m = request_message();
        m.properties.remove("CLUSTER");
        assert_eq!(
            create_reply(&m, "a"),
            Err(CreateReplyError::MissingProperty("CLUSTER"))
        );
    }
}
