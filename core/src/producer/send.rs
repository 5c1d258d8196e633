//! The life of one send inside the engine: waiting for a route, choosing a
//! queue, attempts and retries, completion.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use super::prepare::{prepare, Payload, Prepared, WallClock};
use super::select::{hash_queue_index, QueueTarget};
use super::{ProducerConfig, ProducerState, RoundRobin};
use crate::engine::encode_onto;
use crate::engine::routes::RouteOutcome;
use crate::engine::{
    Engine, Event, Purpose, RequestError, SendError, SendId, SendReceipt, SendResult, SendStatus,
};
use crate::message::id::UniqueIdGenerator;
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
pub(crate) struct PendingSend {
    prepared: Prepared,
    target: QueueTarget,
    oneway: bool,
    deadline: Instant,
    attempts: u32,
    max_attempts: u32,
    /// The broker of the last failed attempt, avoided by the next one.
    last_failed: Option<String>,
    /// The broker and queue of the attempt in flight.
    current: Option<MessageQueue>,
    /// The opaque of the attempt in flight.
    opaque: Option<i32>,
}

impl Engine {
    /// Gives this engine the producer role.
    pub fn with_producer(mut self, config: ProducerConfig) -> Self {
        let seed = self.config.seed;
        let ids = UniqueIdGenerator::new(self.config.client_ip, self.config.pid, seed as i32);
        self.producer = Some(ProducerState {
            config,
            sends: Default::default(),
            deadlines: Default::default(),
            waiting: Default::default(),
            round_robin: RoundRobin::new(seed),
            faults: Default::default(),
            ids,
            next_send_id: 0,
        });
        self
    }

    /// The producer configuration, if this engine is a producer.
    pub fn producer_config(&self) -> Option<&ProducerConfig> {
        self.producer.as_ref().map(|p| &p.config)
    }

    /// Starts a send; its outcome arrives as [`Event::SendDone`]. Invalid
    /// messages fail at once, before any I/O.
    pub fn send(&mut self, request: SendRequest, now: Instant) -> SendId {
        let running = self.is_running();
        let Some(p) = self.producer.as_mut() else {
            let id = SendId(u64::MAX);
            self.events.push_back(Event::SendDone {
                id,
                result: Err(SendError::NotRunning),
            });
            return id;
        };
        p.next_send_id += 1;
        let id = SendId(p.next_send_id);
        if !running {
            self.events.push_back(Event::SendDone {
                id,
                result: Err(SendError::NotRunning),
            });
            return id;
        }
        let prepared = match prepare(request.payload, &p.config, &mut p.ids, request.clock) {
            Ok(prepared) => prepared,
            Err(e) => {
                self.events.push_back(Event::SendDone {
                    id,
                    result: Err(SendError::Invalid(e)),
                });
                return id;
            }
        };
        let max_attempts = match (&request.target, request.oneway) {
            (QueueTarget::Any, false) => 1 + p.config.retries,
            _ => 1,
        };
        let deadline = now + request.timeout.unwrap_or(p.config.send_timeout);
        let topic = prepared.topic.clone();
        p.sends.insert(
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
                opaque: None,
            },
        );
        p.deadlines.insert((deadline, id));
        if self.routes.table(&topic).is_some() {
            self.attempt_send(id, now);
        } else {
            if let Some(p) = self.producer.as_mut() {
                p.waiting.entry(topic.clone()).or_default().push(id);
            }
            self.ensure_route(&topic, now);
        }
        id
    }

    /// A route query for `topic` finished: wake the sends waiting for it.
    pub(crate) fn route_settled(&mut self, topic: &str, outcome: RouteOutcome, now: Instant) {
        let Some(waiting) = self.producer.as_mut().and_then(|p| p.waiting.remove(topic)) else {
            return;
        };
        let have_table = self.routes.table(topic).is_some();
        for id in waiting {
            match (&outcome, have_table) {
                (_, true) => self.attempt_send(id, now),
                (RouteOutcome::Failed(reason), false) => self.finish_send(
                    id,
                    Err(SendError::NoRoute {
                        topic: topic.to_string(),
                        reason: reason.clone(),
                    }),
                ),
                (RouteOutcome::Ready, false) => self.finish_send(
                    id,
                    Err(SendError::NoRoute {
                        topic: topic.to_string(),
                        reason: "empty route".to_string(),
                    }),
                ),
            }
        }
    }

    /// Chooses a queue and writes one attempt of send `id`.
    fn attempt_send(&mut self, id: SendId, now: Instant) {
        let Some(p) = self.producer.as_mut() else {
            return;
        };
        let Some(send) = p.sends.get_mut(&id) else {
            return;
        };
        let Some(table) = self.routes.table(&send.prepared.topic) else {
            return;
        };
        let queues = table.publish_queues();
        let chosen: Option<MessageQueue> = match &mut send.target {
            QueueTarget::Any => {
                let faults = p.config.fault_avoidance.then_some((&p.faults, now));
                p.round_robin
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
            self.finish_send(
                id,
                Err(SendError::NoRoute {
                    topic,
                    reason: "no writable queue".into(),
                }),
            );
            return;
        };
        let Some(addr) = table.master_addr(&queue.broker_name).map(String::from) else {
            let topic = send.prepared.topic.clone();
            let reason = alloc::format!("broker {} has no master address", queue.broker_name);
            self.finish_send(id, Err(SendError::NoRoute { topic, reason }));
            return;
        };
        send.attempts += 1;
        let code = if send.prepared.batch {
            request_code::SEND_BATCH_MESSAGE
        } else {
            request_code::SEND_MESSAGE_V2
        };
        let oneway = send.oneway;
        let deadline = send.deadline;
        let conn = self.conns.get_or_open(&addr);
        if !self.brokers.contains(&addr) {
            self.adopt_brokers(alloc::vec![addr.clone()], now);
        }
        let opaque = self.alloc_opaque();
        let Some(p) = self.producer.as_mut() else {
            return;
        };
        let Some(send) = p.sends.get_mut(&id) else {
            return;
        };
        send.current = Some(queue.clone());
        let msg_id = if oneway {
            send.prepared.msg_id.clone()
        } else {
            String::new()
        };
        let header = SendFields {
            group: &p.config.group,
            default_topic: &p.config.create_topic_key,
            default_topic_queue_nums: p.config.default_topic_queue_nums,
            prepared: &send.prepared,
            queue: &queue,
        };
        let body = &send.prepared.body;
        encode_onto(
            &self.config,
            &mut self.conns,
            conn,
            opaque,
            code,
            &header,
            body,
            oneway,
        );
        if oneway {
            self.finish_send(id, Ok(SendReceipt::Written { msg_id, queue }));
            return;
        }
        if let Some(send) = self.producer.as_mut().and_then(|p| p.sends.get_mut(&id)) {
            send.opaque = Some(opaque);
        }
        let broker = queue.broker_name;
        self.track(opaque, conn, deadline, now, Purpose::Send { id, broker });
    }

    pub(crate) fn on_send_response(
        &mut self,
        id: SendId,
        broker: &str,
        started: Instant,
        cmd: RemotingCommand,
        now: Instant,
    ) {
        let latency = now.saturating_duration_since(started).as_millis() as u64;
        let status = match cmd.code {
            response_code::SUCCESS => Some(SendStatus::Ok),
            response_code::FLUSH_DISK_TIMEOUT => Some(SendStatus::FlushDiskTimeout),
            response_code::FLUSH_SLAVE_TIMEOUT => Some(SendStatus::FlushSlaveTimeout),
            response_code::SLAVE_NOT_AVAILABLE => Some(SendStatus::SlaveNotAvailable),
            _ => None,
        };
        let Some(p) = self.producer.as_mut() else {
            return;
        };
        p.faults.record(broker, latency, status.is_none(), now);
        let Some(send) = p.sends.get_mut(&id) else {
            return;
        };
        send.opaque = None;
        if let Some(status) = status {
            let queue = send.current.clone().unwrap_or_else(|| MessageQueue {
                topic: send.prepared.topic.clone(),
                broker_name: broker.to_string(),
                queue_id: -1,
            });
            let result = match cmd.header::<SendMessageResponseHeader>() {
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
                })),
                Err(e) => Err(SendError::Broker {
                    broker: broker.to_string(),
                    code: cmd.code,
                    remark: alloc::format!("stored, but the response header is unreadable: {e}"),
                }),
            };
            self.finish_send(id, result);
            return;
        }
        let err = SendError::Broker {
            broker: broker.to_string(),
            code: cmd.code,
            remark: cmd.remark.unwrap_or_default(),
        };
        if RETRY_CODES.contains(&cmd.code) {
            if cmd.code == response_code::TOPIC_NOT_EXIST {
                let topic = send.prepared.topic.clone();
                self.invalidate_route(&topic, now);
            }
            self.retry_or_fail(id, broker, err, now);
        } else {
            self.finish_send(id, Err(err));
        }
    }

    pub(crate) fn on_send_failure(
        &mut self,
        id: SendId,
        broker: &str,
        started: Instant,
        err: RequestError,
        now: Instant,
    ) {
        let latency = now.saturating_duration_since(started).as_millis() as u64;
        if let Some(p) = self.producer.as_mut() {
            p.faults.record(broker, latency, true, now);
            if let Some(send) = p.sends.get_mut(&id) {
                send.opaque = None;
            }
        }
        let err = match err {
            RequestError::Timeout { .. } => SendError::Timeout {
                broker: broker.to_string(),
            },
            RequestError::Connection { addr, reason } => SendError::Connection { addr, reason },
            RequestError::ShutDown
            | RequestError::NoNameServer
            | RequestError::Unencodable { .. } => SendError::NotRunning,
        };
        if matches!(err, SendError::Connection { .. }) {
            let topic = self
                .producer
                .as_ref()
                .and_then(|p| p.sends.get(&id))
                .map(|s| s.prepared.topic.clone());
            if let Some(topic) = topic {
                self.invalidate_route(&topic, now);
            }
        }
        self.retry_or_fail(id, broker, err, now);
    }

    fn retry_or_fail(&mut self, id: SendId, broker: &str, err: SendError, now: Instant) {
        let retry = self
            .producer
            .as_mut()
            .and_then(|p| p.sends.get_mut(&id))
            .map(|s| {
                s.last_failed = Some(broker.to_string());
                s.attempts < s.max_attempts && now < s.deadline
            })
            .unwrap_or(false);
        if retry && self.is_running() {
            self.attempt_send(id, now);
        } else {
            self.finish_send(id, Err(err));
        }
    }

    fn finish_send(&mut self, id: SendId, result: Result<SendReceipt, SendError>) {
        if let Some(p) = self.producer.as_mut() {
            if let Some(send) = p.sends.remove(&id) {
                p.deadlines.remove(&(send.deadline, id));
            }
        }
        self.events.push_back(Event::SendDone { id, result });
    }

    /// Fails every send whose deadline passed.
    pub(crate) fn expire_sends(&mut self, now: Instant) {
        loop {
            let Some(p) = self.producer.as_mut() else {
                return;
            };
            let Some(&(deadline, id)) = p.deadlines.first() else {
                return;
            };
            if deadline > now {
                return;
            }
            p.deadlines.pop_first();
            let Some(send) = p.sends.remove(&id) else {
                continue;
            };
            for ids in p.waiting.values_mut() {
                ids.retain(|w| *w != id);
            }
            let broker = send
                .current
                .as_ref()
                .map_or_else(|| String::from("-"), |q| q.broker_name.clone());
            if let Some(opaque) = send.opaque {
                self.forget_request(opaque);
            }
            self.events.push_back(Event::SendDone {
                id,
                result: Err(SendError::Timeout { broker }),
            });
        }
    }

    pub(crate) fn next_send_deadline(&self) -> Option<Instant> {
        self.producer
            .as_ref()
            .and_then(|p| p.deadlines.first().map(|(t, _)| *t))
    }

    /// Fails every pending send (the client is closing).
    pub(crate) fn abort_all_sends(&mut self) {
        let Some(p) = self.producer.as_mut() else {
            return;
        };
        let ids: Vec<SendId> = p.sends.keys().copied().collect();
        p.waiting.clear();
        for id in ids {
            self.finish_send(id, Err(SendError::NotRunning));
        }
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
