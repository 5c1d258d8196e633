//! The life of one send: choosing a queue, attempts and retries, completion.

use alloc::string::{String, ToString};
use core::time::Duration;

use super::prepare::{prepare, Payload, Prepared, WallClock};
use super::routing::usable;
use super::select::{hash_queue_index, QueueTarget};
use super::{Producer, SendError, SendId, SendReceipt, SendResult, SendStatus};
use crate::engine::{Context, Delivery, RequestError, RequestKey, TimerKind, Token};
use crate::protocol::headers::SendMessageResponseHeader;
use crate::protocol::{request_code, response_code, RemotingCommand};
use crate::protocol::{FieldSink, FieldSource, FieldValue};
use crate::route::MessageQueue;
use crate::time::Instant;

/// A send as the user asked for it.
#[derive(Debug)]
pub struct SendRequest {
    /// One message or a batch.
    pub payload: Payload,
    /// Which queue.
    pub target: QueueTarget,
    /// Oneway: written without waiting for an acknowledgement, never retried.
    pub oneway: bool,
    /// Whole-send deadline; `None` takes the producer's `send_timeout`.
    pub timeout: Option<Duration>,
    /// Wall-clock time, for the born timestamp and the unique id.
    pub clock: WallClock,
}

impl SendRequest {
    /// A synchronous send of one message to any queue.
    pub fn new(message: crate::message::Message, clock: WallClock) -> Self {
        SendRequest {
            payload: Payload::Single(message),
            target: QueueTarget::Any,
            oneway: false,
            timeout: None,
            clock,
        }
    }
}

/// Response codes after which the Java producer tries another broker.
const RETRY_CODES: [i32; 8] = [
    response_code::TOPIC_NOT_EXIST,
    response_code::SERVICE_NOT_AVAILABLE,
    response_code::SYSTEM_ERROR,
    response_code::SYSTEM_BUSY,
    response_code::NO_PERMISSION,
    response_code::NO_BUYER_ID,
    response_code::NOT_IN_CURRENT_UNIT,
    response_code::GO_AWAY,
];

#[derive(Debug)]
pub(super) struct PendingSend {
    prepared: Prepared,
    target: QueueTarget,
    oneway: bool,
    deadline: Instant,
    attempts: u32,
    max_attempts: u32,
    /// The broker of the last failed attempt, avoided by the next one.
    last_failed: Option<String>,
    /// The queue of the attempt in flight.
    current: Option<MessageQueue>,
    /// The attempt in flight and when it started.
    attempt: Option<(RequestKey, Instant)>,
}

impl PendingSend {
    /// The attempt in flight ended: its broker name and latency in ms.
    fn attempt_ended(&mut self, now: Instant) -> (String, u64) {
        let started = self.attempt.take().map_or(now, |(_, t)| t);
        let broker = self
            .current
            .as_ref()
            .map_or_else(|| String::from("-"), |q| q.broker_name.clone());
        let latency = now.saturating_duration_since(started).as_millis() as u64;
        (broker, latency)
    }
}

impl Producer {
    /// Starts a send; its outcome comes out of [`Producer::poll_done`].
    /// Invalid messages fail at once, before any I/O.
    pub fn send(&mut self, ctx: &mut Context<'_>, request: SendRequest) -> SendId {
        self.next_send_id += 1;
        let id = SendId(self.next_send_id);
        if !ctx.is_running() {
            self.done.push_back((id, Err(SendError::NotRunning)));
            return id;
        }
        let prepared = match prepare(request.payload, &self.config, &mut self.ids, request.clock) {
            Ok(prepared) => prepared,
            Err(e) => {
                self.done.push_back((id, Err(SendError::Invalid(e))));
                return id;
            }
        };
        let max_attempts = match (&request.target, request.oneway) {
            (QueueTarget::Any, false) => 1 + self.config.retries,
            _ => 1,
        };
        let now = ctx.now();
        let deadline = now + request.timeout.unwrap_or(self.config.send_timeout);
        let topic = prepared.topic.clone();
        self.sends.insert(
            id,
            PendingSend {
                prepared,
                target: request.target,
                oneway: request.oneway,
                deadline,
                attempts: 0,
                max_attempts,
                last_failed: None,
                current: None,
                attempt: None,
            },
        );
        self.deadlines.insert((deadline, id));
        self.arm_deadline(ctx);
        if usable(ctx, &self.templated, &topic).is_some() {
            self.attempt_send(ctx, id);
        } else {
            self.wait_for_route(ctx, id, &topic);
        }
        id
    }

    /// Chooses a queue and writes one attempt of send `id`.
    pub(super) fn attempt_send(&mut self, ctx: &mut Context<'_>, id: SendId) {
        let Some(send) = self.sends.get_mut(&id) else {
            return;
        };
        let Some(table) = usable(ctx, &self.templated, &send.prepared.topic) else {
            // The route lost its writable queues since the last attempt
            // (a refresh made the topic read-only): wait for a usable one,
            // or the send's deadline.
            let topic = send.prepared.topic.clone();
            self.wait_for_route(ctx, id, &topic);
            return;
        };
        let now = ctx.now();
        let queues = table.publish_queues();
        let chosen: Option<MessageQueue> = match &mut send.target {
            QueueTarget::Any => {
                let faults = self.config.fault_avoidance.then_some((&self.faults, now));
                self.round_robin
                    .pick(queues, send.last_failed.as_deref(), faults)
                    .cloned()
            }
            QueueTarget::Queue(q) => Some(q.clone()),
            QueueTarget::ShardingKey(key) => {
                queues.get(hash_queue_index(key, queues.len())).cloned()
            }
            QueueTarget::Selector(selector) => match &send.prepared.message {
                Some(msg) if !queues.is_empty() => queues
                    .get(selector.select(queues, msg) % queues.len())
                    .cloned(),
                _ => None,
            },
        };
        let Some(queue) = chosen else {
            let topic = send.prepared.topic.clone();
            let reason = String::from("no writable queue");
            self.finish_send(ctx, id, Err(SendError::NoRoute { topic, reason }));
            return;
        };
        let Some(addr) = table.master_addr(&queue.broker_name).map(String::from) else {
            let topic = send.prepared.topic.clone();
            let reason = alloc::format!("broker {} has no master address", queue.broker_name);
            self.finish_send(ctx, id, Err(SendError::NoRoute { topic, reason }));
            return;
        };
        send.attempts += 1;
        ctx.use_broker(&addr);
        let code = if send.prepared.batch {
            request_code::SEND_BATCH_MESSAGE
        } else if send.prepared.reply {
            request_code::SEND_REPLY_MESSAGE_V2
        } else {
            request_code::SEND_MESSAGE_V2
        };
        let delivery = if send.oneway {
            Delivery::Oneway
        } else {
            Delivery::Answer {
                token: Token(id.0),
                deadline: send.deadline,
            }
        };
        let fields = SendFields {
            group: &self.config.group,
            default_topic: &self.config.create_topic_key,
            default_topic_queue_nums: self.config.default_topic_queue_nums,
            prepared: &send.prepared,
            queue: &queue,
        };
        let key = ctx.request(&addr, code, &fields, &send.prepared.body, delivery);
        match key {
            Some(key) => {
                send.attempt = Some((key, now));
                send.current = Some(queue);
            }
            None => {
                let msg_id = send.prepared.msg_id.clone();
                self.finish_send(ctx, id, Ok(SendReceipt::Written { msg_id, queue }));
            }
        }
    }

    pub(super) fn on_send_response(
        &mut self,
        ctx: &mut Context<'_>,
        id: SendId,
        cmd: RemotingCommand,
    ) {
        let Some(send) = self.sends.get_mut(&id) else {
            return;
        };
        let (broker, latency) = send.attempt_ended(ctx.now());
        let status = match cmd.code {
            response_code::SUCCESS => Some(SendStatus::Ok),
            response_code::FLUSH_DISK_TIMEOUT => Some(SendStatus::FlushDiskTimeout),
            response_code::FLUSH_SLAVE_TIMEOUT => Some(SendStatus::FlushSlaveTimeout),
            response_code::SLAVE_NOT_AVAILABLE => Some(SendStatus::SlaveNotAvailable),
            _ => None,
        };
        self.faults
            .record(&broker, latency, status.is_none(), ctx.now());
        if let Some(status) = status {
            let result = acknowledgement(send, status, &broker, &cmd);
            self.finish_send(ctx, id, result);
            return;
        }
        let err = SendError::Broker {
            broker: broker.clone(),
            code: cmd.code,
            remark: cmd.remark.unwrap_or_default(),
        };
        if RETRY_CODES.contains(&cmd.code) {
            if cmd.code == response_code::TOPIC_NOT_EXIST {
                let topic = send.prepared.topic.clone();
                ctx.refresh_route(&topic);
            }
            self.retry_or_fail(ctx, id, &broker, err);
        } else {
            self.finish_send(ctx, id, Err(err));
        }
    }

    pub(super) fn on_send_failure(&mut self, ctx: &mut Context<'_>, id: SendId, err: RequestError) {
        let Some(send) = self.sends.get_mut(&id) else {
            return;
        };
        let (broker, latency) = send.attempt_ended(ctx.now());
        self.faults.record(&broker, latency, true, ctx.now());
        let err = match err {
            RequestError::Timeout { .. } => SendError::Timeout {
                broker: broker.clone(),
            },
            RequestError::Connection { addr, reason } => {
                let topic = send.prepared.topic.clone();
                ctx.refresh_route(&topic);
                SendError::Connection { addr, reason }
            }
            RequestError::Unencodable { reason } => SendError::Unencodable { reason },
            RequestError::ShutDown | RequestError::NoNameServer => SendError::NotRunning,
        };
        self.retry_or_fail(ctx, id, &broker, err);
    }

    fn retry_or_fail(&mut self, ctx: &mut Context<'_>, id: SendId, broker: &str, err: SendError) {
        let now = ctx.now();
        let retry = self.sends.get_mut(&id).is_some_and(|s| {
            s.last_failed = Some(broker.to_string());
            s.attempts < s.max_attempts && now < s.deadline
        });
        if retry && ctx.is_running() {
            self.attempt_send(ctx, id);
        } else {
            self.finish_send(ctx, id, Err(err));
        }
    }

    pub(super) fn finish_send(
        &mut self,
        ctx: &mut Context<'_>,
        id: SendId,
        result: Result<SendReceipt, SendError>,
    ) {
        if let Some(send) = self.sends.remove(&id) {
            self.deadlines.remove(&(send.deadline, id));
            self.arm_deadline(ctx);
        }
        self.done.push_back((id, result));
    }

    /// Arms the role's deadline timer at the earliest send deadline.
    pub(super) fn arm_deadline(&self, ctx: &mut Context<'_>) {
        let next = self.next_deadline();
        if ctx.timer(TimerKind::OperationDeadline) != next {
            ctx.set_timer(TimerKind::OperationDeadline, next);
        }
    }

    /// Fails every send whose deadline passed.
    pub(super) fn expire_sends(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        while let Some((deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(send) = self.sends.remove(&id) else {
                continue;
            };
            for ids in self.waiting.values_mut() {
                ids.retain(|w| *w != id);
            }
            let broker = send
                .current
                .as_ref()
                .map_or_else(|| String::from("-"), |q| q.broker_name.clone());
            if let Some((key, _)) = send.attempt {
                ctx.cancel(key);
            }
            self.done
                .push_back((id, Err(SendError::Timeout { broker })));
        }
        self.arm_deadline(ctx);
    }

    /// Fails every pending send (the client is closing).
    pub(super) fn abort_all_sends(&mut self, ctx: &mut Context<'_>) {
        self.waiting.clear();
        self.awaiting_template.clear();
        while let Some(id) = self.sends.first_key() {
            self.finish_send(ctx, id, Err(SendError::NotRunning));
        }
    }
}

/// The result of an attempt the broker stored.
fn acknowledgement(
    send: &PendingSend,
    status: SendStatus,
    broker: &str,
    cmd: &RemotingCommand,
) -> Result<SendReceipt, SendError> {
    let queue = send.current.clone().unwrap_or_else(|| MessageQueue {
        topic: send.prepared.topic.clone(),
        broker_name: broker.to_string(),
        queue_id: -1,
    });
    match cmd.header::<SendMessageResponseHeader>() {
        Ok(h) => Ok(SendReceipt::Acknowledged(SendResult {
            status,
            msg_id: send.prepared.msg_id.clone(),
            offset_msg_id: h.msg_id,
            queue: MessageQueue {
                queue_id: h.queue_id,
                ..queue
            },
            queue_offset: h.queue_offset,
            transaction_id: h.transaction_id,
            region_id: cmd.ext_fields.get("MSG_REGION").map(String::from),
            trace_on: crate::trace::trace_switch_on(cmd.ext_fields.get(crate::trace::TRACE_SWITCH)),
        })),
        Err(e) => Err(SendError::Broker {
            broker: broker.to_string(),
            code: cmd.code,
            remark: alloc::format!("stored, but the response header is unreadable: {e}"),
        }),
    }
}

/// The SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE fields (short keys `a`..`n`,
/// as `SendMessageRequestHeaderV2` writes them) borrowed from the producer
/// state, so an attempt copies nothing but bytes into the output buffer.
struct SendFields<'a> {
    group: &'a str,
    default_topic: &'a str,
    default_topic_queue_nums: i32,
    prepared: &'a Prepared,
    queue: &'a MessageQueue,
}

impl FieldSource for SendFields<'_> {
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        let p = self.prepared;
        sink.field("a", FieldValue::Str(self.group));
        sink.field("b", FieldValue::Str(&p.topic));
        sink.field("c", FieldValue::Str(self.default_topic));
        sink.field(
            "d",
            FieldValue::Int(i64::from(self.default_topic_queue_nums)),
        );
        sink.field("e", FieldValue::Int(i64::from(self.queue.queue_id)));
        sink.field("f", FieldValue::Int(i64::from(p.sys_flag)));
        sink.field("g", FieldValue::Int(p.born_ms));
        sink.field("h", FieldValue::Int(i64::from(p.flag)));
        sink.field("i", FieldValue::Str(&p.properties));
        sink.field("j", FieldValue::Int(0));
        sink.field("k", FieldValue::Bool(false));
        sink.field("m", FieldValue::Bool(p.batch));
        sink.field("n", FieldValue::Str(&self.queue.broker_name));
    }
}
