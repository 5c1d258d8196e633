//! POP consumption (5.x brokers): the broker assigns messages, the client
//! acknowledges each one, and a message not acknowledged within its
//! invisible time is delivered again. No rebalance, no offsets.
//!
//! This module is the protocol half of a simple consumer, shared by every
//! host: the POP_MESSAGE (200050), ACK_MESSAGE (200051) and
//! CHANGE_MESSAGE_INVISIBLETIME (200053) requests, the reading of a pop
//! answer into messages with their [`ReceiptHandle`] (Java's `POP_CK`
//! "extraInfo", `ExtraInfoUtil`), and [`PopRole`], the role that puts the
//! group in every heartbeat (consume type `CONSUME_POP`) and keeps the
//! routes of its topics fresh. Hosts send the requests through the client
//! layer's raw requests ([`crate::client::Client::request`]), so they are
//! signed like every other.
//!
//! ```
//! use rmq_core::consumer::pop::ReceiptHandle;
//!
//! let h = ReceiptHandle::parse("10 1700000000000 30000 0 0 broker-a 3 12").unwrap();
//! assert_eq!((h.queue_id, h.queue_offset), (3, 12));
//! assert_eq!(h.to_string(), "10 1700000000000 30000 0 0 broker-a 3 12");
//! assert_eq!(h.real_topic("orders", "g"), "orders");
//! ```

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::client::Error;
use crate::engine::{Context, GroupData, RequestError, Role, Token};
use crate::message::{decode_messages, property, MessageExt};
use crate::protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, SubscriptionData,
};
use crate::protocol::headers::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader, RpcHeaderExtras,
};
use crate::protocol::{request_code, response_code, RemotingCommand};

/// The most messages one POP_MESSAGE may ask for (the broker refuses more).
pub const MAX_POP_BATCH: u32 = 32;

/// Java `KeyBuilder.POP_ORDER_REVIVE_QUEUE`: the revive queue id of
/// orderly (FIFO) pops.
pub const POP_ORDER_REVIVE_QUEUE: i32 = 999;

const RETRY_PREFIX: &str = "%RETRY%";

/// Which topic a popped message was read from: the topic itself, or one
/// of the group's pop retry topics (Java `ExtraInfoUtil.getRetry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RetryFlag {
    /// "0": the topic.
    Normal,
    /// "1": `%RETRY%<group>_<topic>`.
    RetryV1,
    /// "2": `%RETRY%<group>+<topic>`.
    RetryV2,
}

impl RetryFlag {
    /// The flag of a stored message's `topic`.
    pub fn of_topic(topic: &str) -> Self {
        if topic.starts_with(RETRY_PREFIX) && topic.contains('+') {
            RetryFlag::RetryV2
        } else if topic.starts_with(RETRY_PREFIX) {
            RetryFlag::RetryV1
        } else {
            RetryFlag::Normal
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            RetryFlag::Normal => "0",
            RetryFlag::RetryV1 => "1",
            RetryFlag::RetryV2 => "2",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "0" => Some(RetryFlag::Normal),
            "1" => Some(RetryFlag::RetryV1),
            "2" => Some(RetryFlag::RetryV2),
            _ => None,
        }
    }
}

/// A popped message's receipt (Java's `POP_CK` property, "extraInfo"):
/// what ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME need. Its text form is
/// `ckQueueOffset popTime invisibleTime reviveQid retryFlag brokerName
/// queueId queueOffset`, space-separated, sent verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptHandle {
    /// The first offset of the pop's checkpoint.
    pub ck_queue_offset: i64,
    /// When the broker popped the message (ms).
    pub pop_time: i64,
    /// The invisible time granted (ms).
    pub invisible_time: i64,
    /// The broker's revive queue for this checkpoint (999 for FIFO pops).
    pub revive_qid: i32,
    /// Which topic the message was read from.
    pub retry: RetryFlag,
    /// The broker that holds the checkpoint.
    pub broker_name: String,
    /// The queue of the message.
    pub queue_id: i32,
    /// The message's offset in that queue.
    pub queue_offset: i64,
}

impl ReceiptHandle {
    /// Reads a handle's text form; anything malformed is a
    /// [`Error::Protocol`], never a panic.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = text.split(property::KEY_SEPARATOR).collect();
        let bad = || Error::Protocol(alloc::format!("malformed pop receipt handle {text:?}"));
        if parts.len() < 8 {
            return Err(bad());
        }
        Ok(ReceiptHandle {
            ck_queue_offset: parts[0].parse().map_err(|_| bad())?,
            pop_time: parts[1].parse().map_err(|_| bad())?,
            invisible_time: parts[2].parse().map_err(|_| bad())?,
            revive_qid: parts[3].parse().map_err(|_| bad())?,
            retry: RetryFlag::parse(parts[4]).ok_or_else(bad)?,
            broker_name: String::from(parts[5]),
            queue_id: parts[6].parse().map_err(|_| bad())?,
            queue_offset: parts[7].parse().map_err(|_| bad())?,
        })
    }

    /// The topic ACK and CHANGE_INVISIBLE_TIME name for a message of
    /// `topic` popped by `group` (Java `ExtraInfoUtil.getRealTopic`).
    pub fn real_topic(&self, topic: &str, group: &str) -> String {
        match self.retry {
            RetryFlag::Normal => String::from(topic),
            RetryFlag::RetryV1 => alloc::format!("{RETRY_PREFIX}{group}_{topic}"),
            RetryFlag::RetryV2 => alloc::format!("{RETRY_PREFIX}{group}+{topic}"),
        }
    }

    /// True for a FIFO (orderly) pop's message.
    pub fn is_order(&self) -> bool {
        self.revive_qid == POP_ORDER_REVIVE_QUEUE
    }
}

impl fmt::Display for ReceiptHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} {} {}",
            self.ck_queue_offset,
            self.pop_time,
            self.invisible_time,
            self.revive_qid,
            self.retry.as_str(),
            self.broker_name,
            self.queue_id,
            self.queue_offset
        )
    }
}

/// One POP_MESSAGE: what to ask a broker for.
#[derive(Debug, Clone)]
pub struct PopRequest<'a> {
    /// The consumer group (as the broker knows it: namespaced if any).
    pub group: &'a str,
    /// The topic (as the broker knows it).
    pub topic: &'a str,
    /// The broker asked (its name goes in `bname`).
    pub broker_name: &'a str,
    /// The queue, or -1 for every queue of the topic on that broker.
    pub queue_id: i32,
    /// At most this many messages (1..=32).
    pub max: u32,
    /// How long the popped messages stay invisible to other pops.
    pub invisible_time: Duration,
    /// How long the broker may hold the request when nothing is there
    /// (long polling); the RPC timeout must exceed it.
    pub poll_time: Duration,
    /// The client's wall clock now (Unix ms): the broker answers at once
    /// when `now - born - poll > 500 ms`.
    pub born_ms: i64,
    /// `TAG` or `SQL92`.
    pub expression_type: &'a str,
    /// The filter expression (`*` = everything).
    pub expression: &'a str,
    /// FIFO: pop each queue in order, one batch at a time per queue.
    pub order: bool,
    /// The namespace sent as `ns` (5.x namespace v2), if any.
    pub namespace: Option<&'a str>,
}

/// The POP_MESSAGE command for `req` (JSON header: the code does not fit
/// the binary header; the encoder chooses it).
pub fn pop_request(req: &PopRequest<'_>) -> RemotingCommand {
    let header = PopMessageRequestHeader {
        consumer_group: req.group.to_string(),
        topic: req.topic.to_string(),
        queue_id: req.queue_id,
        max_msg_nums: req.max.clamp(1, MAX_POP_BATCH) as i32,
        invisible_time: duration_ms(req.invisible_time),
        poll_time: duration_ms(req.poll_time),
        born_time: req.born_ms,
        init_mode: 0,
        exp_type: Some(req.expression_type.to_string()),
        exp: Some(req.expression.to_string()),
        order: Some(req.order),
        attempt_id: None,
        rpc: extras(req.broker_name, req.namespace),
    };
    RemotingCommand::request(request_code::POP_MESSAGE, 0).with_header(&header)
}

/// The ACK_MESSAGE command acknowledging the message of `topic` (the
/// subscribed topic, as the broker knows it) with `handle`.
pub fn ack_request(
    group: &str,
    topic: &str,
    handle: &ReceiptHandle,
    namespace: Option<&str>,
) -> RemotingCommand {
    let header = AckMessageRequestHeader {
        consumer_group: group.to_string(),
        topic: handle.real_topic(topic, group),
        queue_id: handle.queue_id,
        extra_info: handle.to_string(),
        offset: handle.queue_offset,
        rpc: extras(&handle.broker_name, namespace),
    };
    RemotingCommand::request(request_code::ACK_MESSAGE, 0).with_header(&header)
}

/// The CHANGE_MESSAGE_INVISIBLETIME command: the message of `topic` with
/// `handle` becomes visible again `invisible_time` from now.
pub fn change_invisible_time_request(
    group: &str,
    topic: &str,
    handle: &ReceiptHandle,
    invisible_time: Duration,
    namespace: Option<&str>,
) -> RemotingCommand {
    let header = ChangeInvisibleTimeRequestHeader {
        consumer_group: group.to_string(),
        topic: handle.real_topic(topic, group),
        queue_id: handle.queue_id,
        extra_info: handle.to_string(),
        offset: handle.queue_offset,
        invisible_time: duration_ms(invisible_time),
        rpc: extras(&handle.broker_name, namespace),
    };
    RemotingCommand::request(request_code::CHANGE_MESSAGE_INVISIBLETIME, 0).with_header(&header)
}

fn extras(broker_name: &str, namespace: Option<&str>) -> RpcHeaderExtras {
    let mut rpc = RpcHeaderExtras::with_broker_name(broker_name);
    if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
        rpc.namespace = Some(ns.to_string());
        rpc.namespaced = Some(false);
    }
    rpc
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Reads the answer to an ACK_MESSAGE sent to `broker`: SUCCESS, else a
/// [`Error::Broker`] (Java: `AckStatus.NO_EXIST`; the handle expired or
/// the message was acknowledged already).
pub fn ack_result(response: &RemotingCommand, broker: &str) -> Result<(), Error> {
    match response.code {
        response_code::SUCCESS => Ok(()),
        code => Err(broker_error(response, broker, code)),
    }
}

/// Reads the answer to a CHANGE_MESSAGE_INVISIBLETIME for `old` sent to
/// `broker`: the message's new handle (the old one is void from now on).
pub fn changed_handle(
    response: &RemotingCommand,
    broker: &str,
    old: &ReceiptHandle,
) -> Result<ReceiptHandle, Error> {
    if response.code != response_code::SUCCESS {
        return Err(broker_error(response, broker, response.code));
    }
    let h: ChangeInvisibleTimeResponseHeader = response
        .header()
        .map_err(|e| Error::Protocol(alloc::format!("change invisible time header: {e}")))?;
    // Java: buildExtraInfo(requestOffset, popTime, invisibleTime, reviveQid,
    // topic, brokerName, queueId) + " " + requestOffset.
    Ok(ReceiptHandle {
        ck_queue_offset: old.queue_offset,
        pop_time: h.pop_time,
        invisible_time: h.invisible_time,
        revive_qid: h.revive_qid,
        ..old.clone()
    })
}

fn broker_error(response: &RemotingCommand, broker: &str, code: i32) -> Error {
    let remark = response.remark.clone().unwrap_or_default();
    if code == response_code::REQUEST_CODE_NOT_SUPPORTED {
        return Error::Unsupported {
            broker: broker.to_string(),
            feature: String::from("POP consumption (a 5.x broker is needed)"),
        };
    }
    Error::from_broker_code(broker, code, remark)
}

/// What a pop found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopStatus {
    /// Messages were returned.
    Found,
    /// Nothing to pop before the poll time ran out.
    NoNewMessages,
    /// The broker holds too many long polls; try again later.
    PollingFull,
}

/// A popped message and its receipt.
#[derive(Debug, Clone)]
pub struct PoppedMessage {
    /// The message; its topic is the subscribed topic (not a retry topic).
    pub message: MessageExt,
    /// What acknowledges it.
    pub handle: ReceiptHandle,
}

/// The answer to one POP_MESSAGE.
#[derive(Debug, Clone)]
pub struct PopResult {
    /// What the broker found.
    pub status: PopStatus,
    /// Messages left to pop, as the broker counted them.
    pub rest_num: i64,
    /// The messages, in the broker's order.
    pub messages: Vec<PoppedMessage>,
}

impl PopResult {
    /// Reads the broker's answer to `request` sent to broker `broker_name`
    /// at `addr` (Java `MQClientAPIImpl.processPopResponse`): each message
    /// gets its handle, its topic set back to the requested one, and — for
    /// FIFO pops — its delivery count in `reconsume_times`.
    pub fn from_response(
        response: &RemotingCommand,
        addr: &str,
        request: &PopRequest<'_>,
    ) -> Result<Self, Error> {
        let status = match response.code {
            response_code::SUCCESS => PopStatus::Found,
            response_code::POLLING_FULL => PopStatus::PollingFull,
            response_code::POLLING_TIMEOUT | response_code::PULL_NOT_FOUND => {
                PopStatus::NoNewMessages
            }
            code => return Err(broker_error(response, addr, code)),
        };
        let h: PopMessageResponseHeader = response
            .header()
            .map_err(|e| Error::Protocol(alloc::format!("pop response header: {e}")))?;
        let mut result = PopResult {
            status,
            rest_num: h.rest_num,
            messages: Vec::new(),
        };
        if status != PopStatus::Found {
            return Ok(result);
        }
        let stored = decode_messages(&response.body)
            .map_err(|e| Error::Protocol(alloc::format!("pop body: {e}")))?;
        let start_offsets = parse_info(h.start_offset_info.as_deref())?;
        let order_counts = parse_info(h.order_count_info.as_deref())?;
        for mut m in stored {
            let retry = RetryFlag::of_topic(&m.message.topic);
            let queue_key = alloc::format!("{}@{}", retry.as_str(), m.queue_id);
            let handle = match m.message.property(property::POP_CK) {
                Some(ck) => ReceiptHandle::parse(ck)?,
                None => ReceiptHandle {
                    // Without startOffsetInfo (older brokers) Java uses the
                    // message's own offset as the checkpoint offset.
                    ck_queue_offset: start_offsets
                        .get(&queue_key)
                        .copied()
                        .unwrap_or(m.queue_offset),
                    pop_time: h.pop_time,
                    invisible_time: h.invisible_time,
                    revive_qid: h.revive_qid,
                    retry,
                    broker_name: request.broker_name.to_string(),
                    queue_id: m.queue_id,
                    queue_offset: m.queue_offset,
                },
            };
            if request.order {
                let offset_key =
                    alloc::format!("{}@qo{}%{}", retry.as_str(), m.queue_id, m.queue_offset);
                let count = order_counts
                    .get(&offset_key)
                    .or_else(|| order_counts.get(&queue_key))
                    .copied()
                    .unwrap_or(0);
                if count > 0 {
                    m.reconsume_times = i32::try_from(count).unwrap_or(i32::MAX);
                }
            }
            m.message
                .properties
                .insert(property::POP_CK, handle.to_string());
            if !m.message.properties.contains(property::FIRST_POP_TIME) {
                m.message
                    .properties
                    .insert(property::FIRST_POP_TIME, h.pop_time.to_string());
            }
            m.message.topic = request.topic.to_string();
            result.messages.push(PoppedMessage { message: m, handle });
        }
        Ok(result)
    }
}

/// Parses `startOffsetInfo` / `orderCountInfo`: `;`-separated entries of
/// three space-separated fields, keyed `field0@field1`.
fn parse_info(info: Option<&str>) -> Result<BTreeMap<String, i64>, Error> {
    let mut map = BTreeMap::new();
    let Some(info) = info.filter(|i| !i.is_empty()) else {
        return Ok(map);
    };
    for entry in info.split(';') {
        let parts: Vec<&str> = entry.split(property::KEY_SEPARATOR).collect();
        let bad = || Error::Protocol(alloc::format!("malformed pop offset info {info:?}"));
        if parts.len() != 3 {
            return Err(bad());
        }
        let value: i64 = parts[2].parse().map_err(|_| bad())?;
        map.insert(alloc::format!("{}@{}", parts[0], parts[1]), value);
    }
    Ok(map)
}

/// The role of a simple (POP) consumer group: it announces the group in
/// every heartbeat as `CONSUME_POP` / clustering with its subscriptions,
/// and watches its topics' routes (the engine heartbeats their brokers and
/// refreshes them). It sends nothing itself: pops, acks and changes go out
/// as the client layer's raw requests.
#[derive(Debug, Clone)]
pub struct PopRole {
    data: ConsumerData,
}

impl PopRole {
    /// The role of `group` subscribed to `subscriptions` (topic,
    /// expression, SQL92?), all names as the broker knows them; `version`
    /// is the subscription version (ms).
    pub fn new(group: &str, subscriptions: &[(&str, &str, bool)], version: i64) -> Self {
        let subscription_data_set = subscriptions
            .iter()
            .map(|(topic, expression, sql)| {
                if *sql {
                    SubscriptionData::sql92(*topic, *expression, version)
                } else {
                    SubscriptionData::from_expression(*topic, expression, version)
                }
            })
            .collect();
        PopRole {
            data: ConsumerData {
                group_name: group.to_string(),
                consume_type: ConsumeType::ConsumePop,
                message_model: MessageModel::Clustering,
                consume_from_where: ConsumeFromWhere::LastOffset,
                subscription_data_set,
                unit_mode: false,
            },
        }
    }

    /// Puts the group in the heartbeats and watches every topic's route.
    pub fn start(&self, ctx: &mut Context<'_>) {
        ctx.set_group_data(GroupData::Consumer(self.data.clone()));
        for s in &self.data.subscription_data_set {
            ctx.watch_route(&s.topic);
        }
    }
}

impl Role for PopRole {
    fn on_response(
        &mut self,
        _ctx: &mut Context<'_>,
        _token: Token,
        _outcome: Result<RemotingCommand, RequestError>,
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_handle_reads_back_to_the_same_text() {
        let text = "5 1700000000123 60000 2 1 broker-b 1 7";
        let h = ReceiptHandle::parse(text).unwrap();
        assert_eq!(h.retry, RetryFlag::RetryV1);
        assert_eq!(h.to_string(), text);
    }

    #[test]
    fn a_short_or_bad_handle_is_a_protocol_error() {
        for bad in ["", "1 2 3", "x 2 3 4 0 b 1 2", "1 2 3 4 9 b 1 2"] {
            assert!(matches!(ReceiptHandle::parse(bad), Err(Error::Protocol(_))));
        }
    }

    #[test]
    fn retry_flags_follow_the_topic_form() {
        assert_eq!(RetryFlag::of_topic("t"), RetryFlag::Normal);
        assert_eq!(RetryFlag::of_topic("%RETRY%g_t"), RetryFlag::RetryV1);
        assert_eq!(RetryFlag::of_topic("%RETRY%g+t"), RetryFlag::RetryV2);
        let mut h = ReceiptHandle::parse("0 0 0 0 2 b 0 0").unwrap();
        assert_eq!(h.real_topic("t", "g"), "%RETRY%g+t");
        h.retry = RetryFlag::RetryV1;
        assert_eq!(h.real_topic("t", "g"), "%RETRY%g_t");
    }

    #[test]
    fn an_ack_carries_the_handle_verbatim_and_the_real_topic() {
        let h = ReceiptHandle::parse("3 10 20 1 2 bk 2 4").unwrap();
        let cmd = ack_request("g", "t", &h, None);
        assert_eq!(cmd.code, request_code::ACK_MESSAGE);
        assert_eq!(cmd.ext_fields.get("extraInfo"), Some("3 10 20 1 2 bk 2 4"));
        assert_eq!(cmd.ext_fields.get("topic"), Some("%RETRY%g+t"));
        assert_eq!(cmd.ext_fields.get("offset"), Some("4"));
        assert_eq!(cmd.ext_fields.get("queueId"), Some("2"));
        assert_eq!(cmd.ext_fields.get("bname"), Some("bk"));
    }

    #[test]
    fn a_change_of_invisible_time_yields_a_new_handle() {
        let old = ReceiptHandle::parse("3 10 20 1 0 bk 2 4").unwrap();
        let mut resp = RemotingCommand::response(response_code::SUCCESS, 1);
        for (k, v) in [
            ("popTime", "99"),
            ("invisibleTime", "5000"),
            ("reviveQid", "6"),
        ] {
            resp.ext_fields.insert(k, v);
        }
        let new = changed_handle(&resp, "b:1", &old).unwrap();
        assert_eq!(new.to_string(), "4 99 5000 6 0 bk 2 4");
    }

    #[test]
    fn a_four_nine_broker_refusing_pop_is_unsupported() {
        let resp = RemotingCommand::response(response_code::REQUEST_CODE_NOT_SUPPORTED, 1);
        let req = sample_request();
        assert!(matches!(
            PopResult::from_response(&resp, "b:1", &req),
            Err(Error::Unsupported { .. })
        ));
    }

    fn sample_request() -> PopRequest<'static> {
        PopRequest {
            group: "g",
            topic: "t",
            broker_name: "bk",
            queue_id: -1,
            max: 64,
            invisible_time: Duration::from_secs(30),
            poll_time: Duration::from_secs(5),
            born_ms: 1,
            expression_type: "TAG",
            expression: "*",
            order: true,
            namespace: None,
        }
    }

    #[test]
    fn a_pop_request_is_capped_at_thirty_two() {
        let cmd = pop_request(&sample_request());
        assert_eq!(cmd.ext_fields.get("maxMsgNums"), Some("32"));
        assert_eq!(cmd.ext_fields.get("queueId"), Some("-1"));
        assert_eq!(cmd.ext_fields.get("order"), Some("true"));
        assert_eq!(cmd.ext_fields.get("invisibleTime"), Some("30000"));
    }

    #[test]
    fn nothing_found_has_no_messages() {
        let mut resp = RemotingCommand::response(response_code::POLLING_TIMEOUT, 1);
        for (k, v) in [
            ("popTime", "1"),
            ("invisibleTime", "2"),
            ("reviveQid", "0"),
            ("restNum", "0"),
        ] {
            resp.ext_fields.insert(k, v);
        }
        resp.body = Bytes::new();
        let r = PopResult::from_response(&resp, "b:1", &sample_request()).unwrap();
        assert_eq!(r.status, PopStatus::NoNewMessages);
        assert!(r.messages.is_empty());
    }

    #[test]
    fn offset_info_entries_are_keyed_by_flag_and_queue() {
        let m = parse_info(Some("0 1 10;1 2 20")).unwrap();
        assert_eq!(m.get("0@1"), Some(&10));
        assert_eq!(m.get("1@2"), Some(&20));
        assert!(parse_info(Some("0 1")).is_err());
    }
}
