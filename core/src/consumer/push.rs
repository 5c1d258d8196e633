//! The push consumer role: rebalance, long-poll pulls, process queues,
//! deliveries to the host, acknowledgements, send-back, offset commits, and
//! the broker requests a consumer answers.
//!
//! The host takes [`Delivery`]s out with [`PushConsumer::poll_delivery`],
//! runs the user's handler, and reports with [`PushConsumer::consumed`].
//! Flow control bounds what is cached per queue, so memory is bounded
//! whatever the backlog.

use alloc::collections::VecDeque;

use crate::collections::{IdMap, VecMap, VecSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::config::{ConsumeFrom, ConsumerConfig, MessageModel};
use super::process_queue::ProcessQueue;
use super::rebalance_allocation;
use crate::engine::{
    Answered, BrokerRequest, Context, Delivery as Send, GroupData, PendingAnswer, RequestError,
    RequestKey, Role, RouteOutcome, TimerKind, Token,
};
use crate::message::{decode_messages, MessageExt};
use crate::protocol::body::{
    ConsumeFromWhere, ConsumerData, ConsumerListBody, ExpressionType, ResetOffsetBody,
    SubscriptionData,
};
use crate::protocol::body::{LockBatchRequestBody, LockBatchResponseBody};
use crate::protocol::headers::{
    ConsumeMessageDirectlyResultRequestHeader, ConsumerSendMsgBackRequestHeader,
    GetConsumerListByGroupRequestHeader, GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
    NotifyConsumerIdsChangedRequestHeader, PullMessageRequestHeader, PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader, ResetOffsetRequestHeader,
    SearchOffsetRequestHeader, SearchOffsetResponseHeader, SendMessageRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::RemotingCommand;
use crate::protocol::{request_code, response_code, CommandHeader, FieldSink, FieldSource};
use crate::route::MessageQueue;
use crate::time::Instant;

/// How long an orderly queue yields after `orderly_max_continuous` of
/// back-to-back batches (Java resubmits it 10 ms later).
const ORDERLY_YIELD: core::time::Duration = core::time::Duration::from_millis(10);

/// The producer group Java's consumers send retry messages under.
const INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";
/// How long a CONSUMER_SEND_MSG_BACK may take (Java's fixed 5000 ms, more
/// than the 3 s default request timeout): the broker writes the retry copy
/// synchronously, and a send-back that times out after the broker took it
/// leads to the fallback send, a second copy.
const SEND_BACK_TIMEOUT: core::time::Duration = core::time::Duration::from_secs(5);

/// PullSysFlag bits (Java `PullSysFlag`).
const FLAG_COMMIT_OFFSET: i32 = 1;
const FLAG_SUSPEND: i32 = 2;
const FLAG_SUBSCRIPTION: i32 = 4;

/// The retry topic of a consumer group.
pub fn retry_topic(group: &str) -> String {
    alloc::format!("%RETRY%{group}")
}

/// What the handler made of a delivery (Java `ConsumeConcurrentlyStatus`
/// with the context's ack index and delay level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeResult {
    /// Every message was consumed.
    Success,
    /// Consume the messages after the first `acked` again later, with
    /// `delay_level` (0: the broker picks 3 + reconsume times; negative:
    /// straight to the DLQ).
    RetryLater {
        /// Messages at the front of the batch that did succeed.
        acked: usize,
        /// Delay level of the next try.
        delay_level: i32,
    },
}

impl ConsumeResult {
    /// The whole batch failed: retry it with the broker's delay.
    pub const RETRY: ConsumeResult = ConsumeResult::RetryLater {
        acked: 0,
        delay_level: 0,
    };
}

/// Identifies a delivery handed to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryId(pub u64);

/// Messages for the user's handler.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Report the handler's result under this id.
    pub id: DeliveryId,
    /// The queue they came from (for the retry topic, its queue).
    pub queue: MessageQueue,
    /// The messages, in queue order; a retried message carries its
    /// original topic.
    pub messages: Vec<MessageExt>,
}

/// One subscription: what the broker filters by, and the client-side tag check.
#[derive(Debug, Clone)]
struct Subscription {
    data: SubscriptionData,
}

impl Subscription {
    fn accepts(&self, message: &MessageExt) -> bool {
        self.data.expression_type != ExpressionType::Tag || self.data.accepts_tag(message.tags())
    }
}

/// An owned queue.
#[derive(Debug)]
struct OwnedQueue {
    pq: ProcessQueue,
    /// Where the next pull starts; `None` while the start is being looked up.
    next_offset: Option<i64>,
    /// A pull is in flight (its key, to cancel it at shutdown).
    pulling: Option<Option<RequestKey>>,
    /// Pull again at this instant (backoff).
    pull_at: Option<Instant>,
    last_pull: Instant,
    /// Orderly: when the broker last confirmed our lock.
    locked_at: Option<Instant>,
    /// Orderly: a batch of this queue is with the handler (or being sent back).
    busy: bool,
    /// Orderly: suspended after RetryLater until then.
    suspended_until: Option<Instant>,
    /// Orderly: no longer owned, but a batch is with the handler; the queue
    /// is committed, forgotten and unlocked when it comes back (Java waits
    /// for the queue's consume lock before unlocking it).
    dropping: bool,
    /// Orderly: when this queue's batches began following each other
    /// without a break (for the yield after `orderly_max_continuous`).
    consuming_since: Option<Instant>,
}

/// What a request of this role was for.
#[derive(Debug, Clone)]
enum Op {
    ConsumerList {
        topic: String,
    },
    QueryOffset {
        mq: MessageQueue,
    },
    MaxOffset {
        mq: MessageQueue,
    },
    SearchOffset {
        mq: MessageQueue,
    },
    Pull {
        mq: MessageQueue,
        offset: i64,
    },
    SendBack {
        mq: MessageQueue,
        offset: i64,
    },
    /// The send-back's fallback: the message sent to the retry topic.
    RetrySend {
        mq: MessageQueue,
        offset: i64,
    },
    /// `again`: a shutdown commit, sent once more when answered (see
    /// [`PushConsumer::stop`]).
    PersistOffset {
        mq: MessageQueue,
        offset: i64,
        again: bool,
    },
    Lock {
        mqs: Vec<MessageQueue>,
    },
    Unlock,
}

/// Which send-back step a response answers.
enum OpKind {
    SendBack,
    Other,
}

/// A delivery the host has not reported yet.
#[derive(Debug)]
struct Outstanding {
    mq: MessageQueue,
    offsets: Vec<i64>,
    /// When it went to the handler, for the consume timeout.
    delivered_at: Instant,
    /// CONSUME_MESSAGE_DIRECTLY: the broker waits for the handler's
    /// result; nothing of it touches the queue.
    direct: Option<PendingAnswer>,
}

/// One push-consumer group.
#[derive(Debug)]
pub struct PushConsumer {
    config: ConsumerConfig,
    client_id: String,
    subscriptions: VecMap<String, Subscription>,
    queues: VecMap<MessageQueue, OwnedQueue>,
    ops: IdMap<u64, Op>,
    next_token: u64,
    deliveries: VecDeque<Delivery>,
    outstanding: IdMap<DeliveryId, Outstanding>,
    next_delivery: u64,
    /// Messages whose send-back failed: consumed again locally at the instant.
    local_retries: Vec<(Instant, MessageQueue, i64)>,
    started: bool,
    /// The wall clock at start (Unix ms), for [`ConsumeFrom::HalfHourAgo`].
    started_at_ms: i64,
    /// Messages the handler consumed, and those it failed (running info).
    consumed_ok: u64,
    consumed_failed: u64,
    /// Topics whose member list is being fetched, and whether another
    /// round was asked for meanwhile.
    listing: VecMap<String, bool>,
    /// Rebalance rounds that found this client missing or failed.
    incomplete_topics: VecSet<String>,
    /// Lite pull with `assign`: exactly these queues, no group rebalance.
    assigned: Option<VecSet<MessageQueue>>,
    /// Queues the user paused: owned, not pulled.
    paused: VecSet<MessageQueue>,
    /// Queues unlocked while a LOCK_BATCH_MQ naming them was in flight:
    /// unlocked again once it is answered, since the broker may handle the
    /// two out of order (on its admin thread pool) and keep the lock.
    unlock_when_answered: VecSet<MessageQueue>,
    /// Broadcasting: offsets restored from the local store, and every
    /// queue's offset since (Java's `LocalFileOffsetStore`).
    local_offsets: VecMap<MessageQueue, i64>,
    /// Broadcasting: snapshots of `local_offsets` for the host to store.
    snapshots: VecDeque<Vec<u8>>,
}

impl PushConsumer {
    /// A consumer group on a client with id `client_id`.
    pub fn new(config: ConsumerConfig, client_id: &str) -> Self {
        PushConsumer {
            config,
            client_id: client_id.to_string(),
            subscriptions: VecMap::new(),
            queues: VecMap::new(),
            ops: IdMap::new(),
            next_token: 0,
            deliveries: VecDeque::new(),
            outstanding: IdMap::new(),
            next_delivery: 0,
            local_retries: Vec::new(),
            started: false,
            started_at_ms: 0,
            consumed_ok: 0,
            consumed_failed: 0,
            incomplete_topics: VecSet::new(),
            listing: VecMap::new(),
            local_offsets: VecMap::new(),
            snapshots: VecDeque::new(),
            assigned: None,
            unlock_when_answered: VecSet::new(),
            paused: VecSet::new(),
        }
    }

    /// The consumer configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Subscribes to `topic` with a tag expression (`*`, `TagA || TagB`)
    /// or, with `sql`, an SQL92 expression. `version` orders subscription
    /// changes (Java: the time it was made).
    pub fn subscribe(&mut self, topic: &str, expression: &str, sql: bool, version: i64) {
        let data = if sql {
            SubscriptionData::sql92(topic, expression, version)
        } else {
            SubscriptionData::from_expression(topic, expression, version)
        };
        self.subscriptions
            .insert(topic.to_string(), Subscription { data });
    }

    /// Starts: announces the group with its subscriptions (the retry topic
    /// too, in clustering mode), watches every topic's route, and
    /// rebalances now. `version` is the wall clock now (Unix ms): it
    /// versions the subscriptions and anchors [`ConsumeFrom::HalfHourAgo`].
    pub fn start(&mut self, ctx: &mut Context<'_>, version: i64) {
        if self.config.model == MessageModel::Clustering {
            let retry = retry_topic(&self.config.group);
            self.subscribe(&retry, "*", false, version);
        }
        self.started = true;
        self.started_at_ms = version;
        ctx.set_group_data(GroupData::Consumer(self.consumer_data()));
        let topics: Vec<String> = self.subscriptions.keys().cloned().collect();
        for topic in &topics {
            ctx.watch_route(topic);
        }
        let now = ctx.now();
        ctx.set_timer(TimerKind::Rebalance, Some(now));
        ctx.set_timer(
            TimerKind::OffsetPersist,
            Some(now + self.config.persist_interval),
        );
        if self.locking() {
            ctx.set_timer(
                TimerKind::LockRenewal,
                Some(now + self.config.lock_renew_interval),
            );
        }
    }

    fn consumer_data(&self) -> ConsumerData {
        ConsumerData {
            group_name: self.config.group.clone(),
            consume_type: self.config.consume_type,
            message_model: self.config.model,
            consume_from_where: match self.config.consume_from {
                ConsumeFrom::Last => ConsumeFromWhere::LastOffset,
                ConsumeFrom::First => ConsumeFromWhere::FirstOffset,
                ConsumeFrom::Timestamp(_) | ConsumeFrom::HalfHourAgo => ConsumeFromWhere::Timestamp,
            },
            subscription_data_set: self
                .subscriptions
                .values()
                .map(|s| s.data.clone())
                .collect(),
            unit_mode: false,
        }
    }

    /// Broadcasting: offsets the host read from this group's local store
    /// (the bytes of a previous [`PushConsumer::poll_offset_snapshot`];
    /// Java's `offsets.json` format). Call before `start`; unreadable
    /// bytes restore nothing.
    pub fn restore_offsets(&mut self, stored: &[u8]) -> bool {
        match ResetOffsetBody::parse(stored) {
            Ok(body) => {
                self.local_offsets = body.offset_table;
                true
            }
            Err(_) => false,
        }
    }

    /// Broadcasting: the next snapshot of every queue's offset for the
    /// host to store (atomically: write a temporary file, then rename).
    /// One comes every persist interval while offsets move, and at stop.
    pub fn poll_offset_snapshot(&mut self) -> Option<Vec<u8>> {
        self.snapshots.pop_front()
    }

    fn snapshot_local_offsets(&mut self) {
        let owned: Vec<(MessageQueue, i64)> = self
            .queues
            .iter()
            .filter_map(|(mq, q)| self.commit_point(q).map(|o| (mq.clone(), o)))
            .collect();
        let mut changed = false;
        for (mq, offset) in owned {
            if self.local_offsets.insert(mq, offset) != Some(offset) {
                changed = true;
            }
        }
        if changed || self.snapshots.is_empty() && !self.started {
            self.snapshots.push_back(offsets_json(&self.local_offsets));
        }
    }

    /// Lite pull: consume exactly `queues` (before `start`), without a
    /// group rebalance (Java `DefaultLitePullConsumer.assign`). Their
    /// topics are subscribed to everything.
    pub fn assign(&mut self, queues: Vec<MessageQueue>, version: i64) {
        for q in &queues {
            if !self.subscriptions.contains_key(&q.topic) {
                self.subscribe(&q.topic, "*", false, version);
            }
        }
        self.assigned = Some(queues.into_iter().collect());
    }

    /// Lite pull: the next pull of `mq` starts at `offset`; what was
    /// pulled and not yet delivered is dropped (Java `seek`).
    pub fn seek(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue, offset: i64) -> bool {
        let Some(q) = self.queues.get_mut(mq) else {
            return false;
        };
        if let Some(Some(key)) = q.pulling.take() {
            ctx.cancel(key);
        }
        q.pq = ProcessQueue::default();
        q.next_offset = Some(offset);
        q.pull_at = None;
        self.ops
            .retain(|_, op| !matches!(op, Op::Pull { mq: m, .. } if m == mq));
        self.outstanding.retain(|_, d| d.mq != *mq);
        self.deliveries.retain(|d| d.queue != *mq);
        self.persist_at(ctx, mq, offset, false);
        self.pull(ctx, mq);
        true
    }

    /// Lite pull: stops pulling `queues` until [`PushConsumer::resume`].
    pub fn pause(&mut self, queues: &[MessageQueue]) {
        self.paused.extend(queues.iter().cloned());
    }

    /// Lite pull: pulls `queues` again.
    pub fn resume(&mut self, ctx: &mut Context<'_>, queues: &[MessageQueue]) {
        for mq in queues {
            if self.paused.remove(mq) {
                self.pull(ctx, mq);
            }
        }
    }

    /// The next batch for the user's handler.
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// The queues this consumer owns now.
    pub fn owned_queues(&self) -> impl Iterator<Item = &MessageQueue> + '_ {
        self.queues.keys()
    }

    /// The offset that would be committed for `mq` now.
    pub fn committed_offset(&self, mq: &MessageQueue) -> Option<i64> {
        self.queues.get(mq).and_then(|q| self.commit_point(q))
    }

    /// The handler finished delivery `id` with `result`.
    pub fn consumed(&mut self, ctx: &mut Context<'_>, id: DeliveryId, result: ConsumeResult) {
        let Some(mut done) = self.outstanding.remove(&id) else {
            return;
        };
        if let Some(pending) = done.direct.take() {
            return self.answer_direct(ctx, pending, done.delivered_at, result);
        }
        if result == ConsumeResult::Success {
            self.consumed_ok += done.offsets.len() as u64;
        } else {
            self.consumed_failed += done.offsets.len() as u64;
        }
        if self.config.orderly {
            return self.consumed_orderly(ctx, done, result);
        }
        let acked = match result {
            ConsumeResult::Success => done.offsets.len(),
            ConsumeResult::RetryLater { acked, .. } => acked.min(done.offsets.len()),
        };
        let delay_level = match result {
            ConsumeResult::RetryLater { delay_level, .. } => delay_level,
            ConsumeResult::Success => 0,
        };
        let Some(queue) = self.queues.get_mut(&done.mq) else {
            return; // dropped by a rebalance meanwhile: its new owner redelivers
        };
        for &offset in &done.offsets[..acked] {
            queue.pq.remove(offset);
        }
        let failed = &done.offsets[acked..];
        if self.config.model == MessageModel::Broadcasting {
            // Java logs and moves on: a broadcast message is not retried.
            for &offset in failed {
                queue.pq.remove(offset);
            }
        } else {
            for &offset in failed {
                self.send_back(ctx, &done.mq, offset, delay_level);
            }
        }
        self.resume_if_paused(ctx, &done.mq);
    }

    /// Sends a failed message back to the broker for a later retry; it
    /// stays in flight (its offset uncommitted) until the broker took it.
    fn send_back(
        &mut self,
        ctx: &mut Context<'_>,
        mq: &MessageQueue,
        offset: i64,
        delay_level: i32,
    ) {
        let Some(msg) = self.queues.get(mq).and_then(|q| q.pq.get(offset)) else {
            return;
        };
        let Some(addr) = master(ctx, mq) else {
            self.retry_locally(ctx, mq.clone(), offset);
            return;
        };
        let header = ConsumerSendMsgBackRequestHeader {
            offset: msg.commit_log_offset,
            group: self.config.group.clone(),
            delay_level,
            origin_msg_id: Some(msg.id().to_string()),
            origin_topic: Some(msg.topic().to_string()),
            unit_mode: Some(false),
            max_reconsume_times: Some(self.config.max_reconsume_times),
            ..Default::default()
        };
        let op = Op::SendBack {
            mq: mq.clone(),
            offset,
        };
        self.request(
            ctx,
            &addr,
            request_code::CONSUMER_SEND_MSG_BACK,
            &header,
            op,
        );
    }

    /// Sends a failed message to `%RETRY%group` as a new message, as Java
    /// does when CONSUMER_SEND_MSG_BACK failed (and, orderly, past the max
    /// reconsume times): the original topic in RETRY_TOPIC, the original
    /// id in ORIGIN_MESSAGE_ID, RECONSUME_TIME = `reconsume_times`,
    /// MAX_RECONSUME_TIMES, delay level 3 + `reconsume_times` − 1. The
    /// broker moves it to the DLQ once `reconsume_times` reaches the max.
    /// It stays in flight until the broker took it.
    fn resend_to_retry_topic(
        &mut self,
        ctx: &mut Context<'_>,
        mq: &MessageQueue,
        offset: i64,
        reconsume_times: i32,
    ) {
        use crate::message::property;
        let Some(msg) = self.queues.get(mq).and_then(|q| q.pq.get(offset)) else {
            return;
        };
        let Some(addr) = master(ctx, mq) else {
            return self.retry_send_failed(ctx, mq.clone(), offset);
        };
        let max = if self.config.orderly {
            self.config.orderly_max_reconsume_times.unwrap_or(i32::MAX)
        } else {
            self.config.max_reconsume_times
        };
        let mut props = msg.message.properties.clone();
        if !props.contains(property::ORIGIN_MESSAGE_ID) {
            props.insert(property::ORIGIN_MESSAGE_ID, msg.id());
        }
        props.insert(property::RETRY_TOPIC, msg.topic());
        props.insert(property::RECONSUME_TIME, reconsume_times.to_string());
        props.insert(property::MAX_RECONSUME_TIMES, max.to_string());
        if reconsume_times < max {
            let level = 2 + reconsume_times;
            props.insert(property::DELAY_TIME_LEVEL, level.to_string());
        } else {
            // Bound for the DLQ. Java sets the delay anyway, and a 4.9
            // broker, which applies the message's properties after its DLQ
            // decision, then parks the dead message in the delay queue
            // first (30 s at level 4); without it the DLQ has it at once.
            props.remove(property::DELAY_TIME_LEVEL);
        }
        props.remove(property::TRANSACTION_PREPARED);
        let header = SendMessageRequestHeader {
            producer_group: INNER_PRODUCER_GROUP.to_string(),
            topic: retry_topic(&self.config.group),
            default_topic: "TBW102".to_string(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: msg.born_timestamp,
            flag: msg.message.flag,
            properties: Some(String::from_utf8_lossy(&props.encode()).into_owned()),
            reconsume_times: Some(reconsume_times),
            unit_mode: Some(false),
            max_reconsume_times: Some(max),
            ..Default::default()
        };
        let body = msg.message.body.clone();
        let op = Op::RetrySend {
            mq: mq.clone(),
            offset,
        };
        self.request_with_body(
            ctx,
            &addr,
            request_code::SEND_MESSAGE,
            &Fields(&header),
            &body,
            op,
        );
    }

    /// The last step of the send-back chain failed too: never drop the
    /// message — consume it again locally (orderly: suspend the queue and
    /// retry the batch).
    fn retry_send_failed(&mut self, ctx: &mut Context<'_>, mq: MessageQueue, offset: i64) {
        if self.config.orderly {
            if let Some(q) = self.queues.get_mut(&mq) {
                q.busy = false;
                q.suspended_until = Some(ctx.now() + self.config.suspend_delay);
            }
            self.arm_pull_timer(ctx);
        } else {
            self.retry_locally(ctx, mq, offset);
        }
    }

    /// The broker took a failed message (sent back, or to the retry
    /// topic): it leaves the queue, whose offset may move past it.
    fn taken_back(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue, offset: i64) {
        if let Some(q) = self.queues.get_mut(mq) {
            q.pq.remove(offset);
            q.busy = false;
        }
        if self.config.orderly {
            self.after_orderly_batch(ctx, mq);
        } else {
            self.resume_if_paused(ctx, mq);
        }
    }

    /// Hands the message to the handler again after the local retry delay,
    /// counted as one more reconsumption (as Java does for a message the
    /// broker would not take back).
    fn retry_locally(&mut self, ctx: &mut Context<'_>, mq: MessageQueue, offset: i64) {
        if let Some(msg) = self.queues.get_mut(&mq).and_then(|q| q.pq.get_mut(offset)) {
            msg.reconsume_times = msg.reconsume_times.saturating_add(1);
        }
        let at = ctx.now() + self.config.local_retry_delay;
        self.local_retries.push((at, mq, offset));
        self.arm_pull_timer(ctx);
    }

    fn request<H: CommandHeader>(
        &mut self,
        ctx: &mut Context<'_>,
        addr: &str,
        code: i32,
        header: &H,
        op: Op,
    ) -> Option<RequestKey> {
        self.request_with_body(ctx, addr, code, &Fields(header), &[], op)
    }

    fn request_with_body<F: FieldSource>(
        &mut self,
        ctx: &mut Context<'_>,
        addr: &str,
        code: i32,
        fields: &F,
        body: &[u8],
        op: Op,
    ) -> Option<RequestKey> {
        self.next_token += 1;
        let token = Token(self.next_token);
        let deadline = match op {
            Op::Pull { .. } => ctx.now() + self.config.pull_timeout,
            Op::SendBack { .. } => ctx.now() + ctx.config().request_timeout.max(SEND_BACK_TIMEOUT),
            _ => ctx.now() + ctx.config().request_timeout,
        };
        self.ops.insert(token.0, op);
        let delivery = Send::Answer { token, deadline };
        ctx.request(addr, code, fields, body, delivery)
    }

    // ----- rebalance ------------------------------------------------------------

    fn rebalance(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        ctx.set_timer(
            TimerKind::Rebalance,
            Some(now + self.config.rebalance_interval),
        );
        let topics: Vec<String> = self.subscriptions.keys().cloned().collect();
        for topic in topics {
            self.rebalance_topic(ctx, &topic);
        }
    }

    fn rebalance_topic(&mut self, ctx: &mut Context<'_>, topic: &str) {
        if let Some(assigned) = &self.assigned {
            let mine: Vec<MessageQueue> = assigned
                .iter()
                .filter(|q| q.topic == topic)
                .cloned()
                .collect();
            if ctx.route(topic).is_none() {
                // A topic created a moment ago may not be routed yet:
                // ask again in a second, not at the next round.
                ctx.watch_route(topic);
                return self.rebalance_incomplete(ctx, topic);
            }
            self.apply_allocation(ctx, topic, mine);
            return;
        }
        let Some(table) = ctx.route(topic) else {
            // No route yet: the retry topic, for one, exists only once the
            // broker had the group's first heartbeat. Ask again soon rather
            // than at the next 20 s round.
            ctx.watch_route(topic);
            return self.rebalance_incomplete(ctx, topic);
        };
        if self.config.model == MessageModel::Broadcasting {
            let all: Vec<MessageQueue> = table.subscribe_queues().to_vec();
            self.apply_allocation(ctx, topic, all);
            return;
        }
        // Any broker of the topic knows the group's members.
        let addr = table
            .broker_names()
            .find_map(|b| table.master_addr(b))
            .map(String::from);
        let Some(addr) = addr else {
            return;
        };
        // One member list in flight per topic, as Java rebalances one
        // topic at a time: two answers could come back out of order (the
        // broker answers on a thread pool) and an older, shorter list
        // would win. A round asked for meanwhile runs when it is back.
        if let Some(again) = self.listing.get_mut(topic) {
            *again = true;
            return;
        }
        self.listing.insert(topic.to_string(), false);
        let header = GetConsumerListByGroupRequestHeader {
            consumer_group: self.config.group.clone(),
            ..Default::default()
        };
        let op = Op::ConsumerList {
            topic: topic.to_string(),
        };
        ctx.use_broker(&addr);
        self.request(
            ctx,
            &addr,
            request_code::GET_CONSUMER_LIST_BY_GROUP,
            &header,
            op,
        );
    }

    fn on_consumer_list(&mut self, ctx: &mut Context<'_>, topic: &str, resp: RemotingCommand) {
        let cids = match (resp.code, ConsumerListBody::parse(&resp.body)) {
            (response_code::SUCCESS, Ok(body)) => body.consumer_id_list,
            _ => return self.rebalance_incomplete(ctx, topic),
        };
        let Some(table) = ctx.route(topic) else {
            return;
        };
        let queues = table.subscribe_queues().to_vec();
        match rebalance_allocation(
            &self.config.allocation,
            &self.config.group,
            &self.client_id,
            &queues,
            &cids,
        ) {
            Ok(mine) => {
                if !cids.contains(&self.client_id) {
                    // The broker has not seen our heartbeat yet.
                    self.rebalance_incomplete(ctx, topic);
                }
                self.apply_allocation(ctx, topic, mine);
            }
            // Java keeps the current assignment when allocation fails.
            Err(_) => self.rebalance_incomplete(ctx, topic),
        }
    }

    fn rebalance_incomplete(&mut self, ctx: &mut Context<'_>, topic: &str) {
        self.incomplete_topics.insert(topic.to_string());
        let soon = ctx.now() + self.config.rebalance_retry;
        if ctx.timer(TimerKind::Rebalance).is_none_or(|t| t > soon) {
            ctx.set_timer(TimerKind::Rebalance, Some(soon));
        }
    }

    /// Drops queues of `topic` no longer owned (committing first) and adds
    /// the new ones.
    fn apply_allocation(&mut self, ctx: &mut Context<'_>, topic: &str, mine: Vec<MessageQueue>) {
        self.incomplete_topics.remove(topic);
        let keep: VecSet<&MessageQueue> = mine.iter().collect();
        let gone: Vec<MessageQueue> = self
            .queues
            .keys()
            .filter(|q| q.topic == topic && !keep.contains(q))
            .cloned()
            .collect();
        for mq in gone {
            self.drop_queue(ctx, &mq);
        }
        // Java's watchdog runs here too, so a queue it drops is taken
        // again just below, in the same round: never left unowned.
        self.watchdog(ctx, topic);
        let now = ctx.now();
        for mq in mine {
            if let Some(q) = self.queues.get_mut(&mq) {
                if q.dropping {
                    // Ours again before its last batch came back.
                    q.dropping = false;
                    self.pull(ctx, &mq);
                }
                continue;
            }
            self.queues.insert(
                mq.clone(),
                OwnedQueue {
                    pq: ProcessQueue::default(),
                    next_offset: None,
                    pulling: None,
                    pull_at: None,
                    last_pull: now,
                    locked_at: None,
                    busy: false,
                    suspended_until: None,
                    dropping: false,
                    consuming_since: None,
                },
            );
            if !self.locking() {
                self.find_start(ctx, &mq);
            }
        }
        if self.locking() {
            self.lock_all(ctx);
        }
    }

    /// The LOCK_BATCH_MQ / UNLOCK_BATCH_MQ body for `mqs`.
    fn lock_body(&self, mqs: Vec<MessageQueue>) -> Vec<u8> {
        LockBatchRequestBody {
            consumer_group: self.config.group.clone(),
            client_id: self.client_id.clone(),
            only_this_broker: false,
            mq_set: mqs,
        }
        .to_json()
    }

    /// Orderly clustering consumers lock their queues on the broker.
    fn locking(&self) -> bool {
        self.config.orderly && self.config.model == MessageModel::Clustering
    }

    /// LOCK_BATCH_MQ for every owned queue, one request per broker: takes
    /// new locks and renews held ones.
    fn lock_all(&mut self, ctx: &mut Context<'_>) {
        let mut by_broker: VecMap<String, Vec<MessageQueue>> = VecMap::new();
        for (mq, q) in &self.queues {
            if q.dropping {
                continue; // its lock lapses; unlocked when its batch is back
            }
            if let Some(addr) = master(ctx, mq) {
                by_broker.get_or_default(addr).push(mq.clone());
            }
        }
        for (addr, mqs) in by_broker {
            let body = self.lock_body(mqs.clone());
            let op = Op::Lock { mqs };
            self.request_with_body(
                ctx,
                &addr,
                request_code::LOCK_BATCH_MQ,
                &NoFields,
                &body,
                op,
            );
        }
    }

    fn on_locked(
        &mut self,
        ctx: &mut Context<'_>,
        requested: &[MessageQueue],
        resp: RemotingCommand,
    ) {
        let Ok(body) = LockBatchResponseBody::parse(&resp.body) else {
            return;
        };
        let now = ctx.now();
        // A queue the broker would not lock for us (another member holds
        // it) is not ours to consume until it does (Java: setLocked(false)).
        let granted: VecSet<&MessageQueue> = body.lock_ok_mq_set.iter().collect();
        for mq in requested {
            if !granted.contains(mq) {
                if let Some(q) = self.queues.get_mut(mq) {
                    q.locked_at = None;
                }
            }
        }
        for mq in body.lock_ok_mq_set {
            let Some(q) = self.queues.get(&mq) else {
                continue;
            };
            let was_held = self.holds_lock(q, now);
            let Some(q) = self.queues.get_mut(&mq) else {
                continue;
            };
            if !was_held {
                // The idle clock starts now, not when the queue was taken
                // or last pulled: Java stamps the pull time every 3 s while
                // it waits for the lock, so its offset lookup and first
                // pull are never mistaken for a lost pull.
                q.last_pull = now;
            }
            let first_lock = q.locked_at.is_none();
            q.locked_at = Some(now);
            if first_lock && q.next_offset.is_none() {
                // Java re-reads the offset from the broker after a new lock.
                self.find_start(ctx, &mq);
            } else {
                self.pull(ctx, &mq);
                self.deliver_orderly(ctx, &mq);
            }
        }
    }

    fn holds_lock(&self, q: &OwnedQueue, now: Instant) -> bool {
        !self.locking()
            || q.locked_at
                .is_some_and(|t| now.saturating_duration_since(t) < self.config.lock_expiry)
    }

    fn unlock(&mut self, ctx: &mut Context<'_>, mqs: Vec<MessageQueue>) {
        let Some(addr) = mqs.first().and_then(|mq| master(ctx, mq)) else {
            return;
        };
        for mq in &mqs {
            if self.lock_in_flight(mq) {
                self.unlock_when_answered.insert(mq.clone());
            }
        }
        let body = self.lock_body(mqs);
        self.request_with_body(
            ctx,
            &addr,
            request_code::UNLOCK_BATCH_MQ,
            &NoFields,
            &body,
            Op::Unlock,
        );
    }

    /// Whether a LOCK_BATCH_MQ naming `mq` is waiting for its answer.
    fn lock_in_flight(&self, mq: &MessageQueue) -> bool {
        self.ops
            .values()
            .any(|op| matches!(op, Op::Lock { mqs } if mqs.contains(mq)))
    }

    /// A LOCK_BATCH_MQ naming `mqs` was answered (or failed): the queues
    /// among them unlocked meanwhile, with no other lock of theirs in
    /// flight, are unlocked again after it unless owned again.
    fn unlock_after_lock_answer(&mut self, ctx: &mut Context<'_>, mqs: &[MessageQueue]) {
        let settled: Vec<MessageQueue> = mqs
            .iter()
            .filter(|mq| self.unlock_when_answered.contains(*mq) && !self.lock_in_flight(mq))
            .cloned()
            .collect();
        for mq in &settled {
            self.unlock_when_answered.remove(mq);
        }
        let again: Vec<MessageQueue> = settled
            .into_iter()
            .filter(|mq| !self.queues.contains_key(mq))
            .collect();
        if !again.is_empty() {
            self.unlock(ctx, again);
        }
    }

    fn drop_queue(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue) {
        if self.locking() {
            if let Some(q) = self.queues.get_mut(mq) {
                if q.busy {
                    // Its batch is with the handler: stop pulling, and
                    // finish the drop when the batch comes back.
                    q.dropping = true;
                    if let Some(Some(key)) = q.pulling.take() {
                        ctx.cancel(key);
                    }
                    self.ops
                        .retain(|_, op| !matches!(op, Op::Pull { mq: m, .. } if m == mq));
                    return;
                }
            }
        }
        self.persist_one(ctx, mq, true);
        let owned = self.forget_queue(ctx, mq);
        if owned && self.locking() {
            // Whether or not the broker's grant came back: a lock still
            // in flight would otherwise hold the queue from its next owner
            // for the broker's lock expiry (60 s). Java unlocks every
            // dropped orderly queue too; the broker ignores an unlock
            // from a client that does not hold the lock.
            self.unlock(ctx, alloc::vec![mq.clone()]);
        }
    }

    /// Forgets an owned queue (true if it was owned): its pull in
    /// flight is cancelled and its lookups, deliveries and local retries
    /// are dropped, so nothing of this incarnation reaches the queue if it
    /// is taken again.
    fn forget_queue(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue) -> bool {
        let Some(q) = self.queues.remove(mq) else {
            return false;
        };
        if let Some(Some(key)) = q.pulling {
            ctx.cancel(key);
        }
        self.ops.retain(|_, op| match op {
            Op::Pull { mq: m, .. }
            | Op::QueryOffset { mq: m }
            | Op::MaxOffset { mq: m }
            | Op::SearchOffset { mq: m } => m != mq,
            _ => true,
        });
        self.outstanding.retain(|_, d| d.mq != *mq);
        self.local_retries.retain(|(_, m, _)| m != mq);
        true
    }

    /// A queue of `topic` with no pull for `pull_max_idle` is dropped, for
    /// its caller to take it again (Java's watchdog against a lost pull,
    /// `isPullExpired` in `updateProcessQueueTableInRebalance`).
    fn watchdog(&mut self, ctx: &mut Context<'_>, topic: &str) {
        let now = ctx.now();
        let idle: Vec<MessageQueue> = self
            .queues
            .iter()
            .filter(|(mq, q)| {
                // A queue the user paused is idle on purpose; an orderly
                // queue waiting for its lock is not idle either (Java
                // re-stamps its pull every 3 s while unlocked; see
                // `on_locked` for when the clock starts again).
                mq.topic == topic
                    && !self.paused.contains(*mq)
                    && self.holds_lock(q, now)
                    && now.saturating_duration_since(q.last_pull) >= self.config.pull_max_idle
            })
            .map(|(mq, _)| mq.clone())
            .collect();
        for mq in idle {
            self.drop_queue(ctx, &mq);
        }
    }

    // ----- start offsets --------------------------------------------------------

    fn find_start(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue) {
        if self.config.model == MessageModel::Broadcasting {
            return match self.local_offsets.get(mq).copied() {
                Some(offset) => self.start_at(ctx, mq, offset),
                None => self.default_start(ctx, mq.clone()),
            };
        }
        let Some(addr) = master(ctx, mq) else {
            return;
        };
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: self.config.group.clone(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            ..Default::default()
        };
        let op = Op::QueryOffset { mq: mq.clone() };
        self.request(ctx, &addr, request_code::QUERY_CONSUMER_OFFSET, &header, op);
    }

    fn on_query_offset(&mut self, ctx: &mut Context<'_>, mq: MessageQueue, resp: RemotingCommand) {
        match resp.code {
            response_code::SUCCESS => match resp.header::<QueryConsumerOffsetResponseHeader>() {
                Ok(h) if h.offset >= 0 => self.start_at(ctx, &mq, h.offset),
                _ => self.default_start(ctx, mq),
            },
            response_code::QUERY_NOT_FOUND => self.default_start(ctx, mq),
            // Any other error skips the queue this round.
            _ => self.skip_queue(ctx, &mq),
        }
    }

    fn default_start(&mut self, ctx: &mut Context<'_>, mq: MessageQueue) {
        let is_retry = mq.topic.starts_with("%RETRY%");
        let Some(addr) = master(ctx, &mq) else {
            return self.skip_queue(ctx, &mq);
        };
        let from = self.config.consume_from;
        match (from.timestamp(self.started_at_ms), is_retry) {
            (None, _) if from == ConsumeFrom::First => self.start_at(ctx, &mq, 0),
            (None, true) => self.start_at(ctx, &mq, 0),
            (None, false) | (Some(_), true) => {
                let header = GetMaxOffsetRequestHeader {
                    topic: mq.topic.clone(),
                    queue_id: mq.queue_id,
                    ..Default::default()
                };
                let op = Op::MaxOffset { mq };
                self.request(ctx, &addr, request_code::GET_MAX_OFFSET, &header, op);
            }
            (Some(ts), false) => {
                let header = SearchOffsetRequestHeader {
                    topic: mq.topic.clone(),
                    queue_id: mq.queue_id,
                    timestamp: ts,
                    ..Default::default()
                };
                let op = Op::SearchOffset { mq };
                self.request(
                    ctx,
                    &addr,
                    request_code::SEARCH_OFFSET_BY_TIMESTAMP,
                    &header,
                    op,
                );
            }
        }
    }

    fn skip_queue(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue) {
        self.forget_queue(ctx, mq);
        self.rebalance_incomplete(ctx, &mq.topic.clone());
    }

    fn start_at(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue, offset: i64) {
        let Some(q) = self.queues.get_mut(mq) else {
            return;
        };
        q.next_offset = Some(offset);
        self.pull(ctx, mq);
    }

    // ----- pulling ----------------------------------------------------------------

    fn pull(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue) {
        if !self.started || !ctx.is_running() {
            return;
        }
        let Some(q) = self.queues.get(mq) else {
            return;
        };
        let Some(offset) = q.next_offset else {
            return;
        };
        if q.pulling.is_some() || q.dropping {
            return;
        }
        // A queue paused by flow control or a lock is not an idle one
        // (Java stamps the pull time before its checks too).
        let Some(q) = self.queues.get_mut(mq) else {
            return;
        };
        q.last_pull = ctx.now();
        let Some(q) = self.queues.get(mq) else {
            return;
        };
        if self.paused.contains(mq) {
            return;
        }
        if !self.holds_lock(q, ctx.now()) {
            return; // pulled again once the lock is (re)taken
        }
        if self.flow_controlled(mq, q) {
            let at = ctx.now() + self.config.pull_backoff_on_flow_control;
            return self.pull_later(ctx, mq, at);
        }
        let Some(addr) = master(ctx, mq) else {
            let at = ctx.now() + self.config.pull_backoff_on_error;
            return self.pull_later(ctx, mq, at);
        };
        let Some(sub) = self.subscriptions.get(&mq.topic) else {
            return;
        };
        let commit = match self.config.model {
            MessageModel::Clustering => self.commit_point(q).unwrap_or(0),
            MessageModel::Broadcasting => 0,
        };
        let mut sys_flag = FLAG_SUSPEND | FLAG_SUBSCRIPTION;
        if commit > 0 {
            sys_flag |= FLAG_COMMIT_OFFSET;
        }
        let header = PullMessageRequestHeader {
            consumer_group: self.config.group.clone(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            queue_offset: offset,
            max_msg_nums: self.config.pull_batch_size,
            sys_flag,
            commit_offset: commit,
            suspend_timeout_millis: self.config.pull_suspend.as_millis() as i64,
            subscription: Some(sub.data.sub_string.clone()),
            sub_version: sub.data.sub_version,
            expression_type: Some(sub.data.expression_type.as_str().to_string()),
            ..Default::default()
        };
        let op = Op::Pull {
            mq: mq.clone(),
            offset,
        };
        let key = self.request(ctx, &addr, request_code::PULL_MESSAGE, &header, op);
        if let Some(q) = self.queues.get_mut(mq) {
            q.pulling = Some(key);
            q.pull_at = None;
            q.last_pull = ctx.now();
        }
    }

    /// Java's flow control: too many cached messages or bytes in the
    /// queue (or, with the per-topic limits, in the queue's share of its
    /// topic's), or — concurrent consumption only — too wide a span of
    /// cached offsets. What is cached is bounded by these, whatever the
    /// backlog.
    fn flow_controlled(&self, mq: &MessageQueue, q: &OwnedQueue) -> bool {
        let (count_limit, size_limit) = self.queue_limits(&mq.topic);
        q.pq.len() > count_limit
            || q.pq.bytes() > size_limit
            || (!self.config.orderly && q.pq.span() > self.config.max_offset_span)
    }

    /// The per-queue cache limits for a queue of `topic`: the queue limits,
    /// lowered to an even share of the topic limits when those are set.
    fn queue_limits(&self, topic: &str) -> (usize, usize) {
        let queue_limits = (
            self.config.pull_threshold_for_queue,
            self.config.pull_threshold_size_for_queue,
        );
        if self.config.pull_threshold_for_topic.is_none()
            && self.config.pull_threshold_size_for_topic.is_none()
        {
            // The default: no per-topic share to count (this runs on every ack).
            return queue_limits;
        }
        let owned = self
            .queues
            .keys()
            .filter(|q| q.topic == topic)
            .count()
            .max(1);
        let share = |topic_limit: Option<usize>| topic_limit.map(|t| (t / owned).max(1));
        let count = share(self.config.pull_threshold_for_topic)
            .map_or(self.config.pull_threshold_for_queue, |s| {
                s.min(self.config.pull_threshold_for_queue)
            });
        let size = share(self.config.pull_threshold_size_for_topic)
            .map_or(self.config.pull_threshold_size_for_queue, |s| {
                s.min(self.config.pull_threshold_size_for_queue)
            });
        (count, size)
    }

    fn pull_later(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue, at: Instant) {
        if let Some(q) = self.queues.get_mut(mq) {
            q.pull_at = Some(at);
        }
        self.arm_pull_timer(ctx);
    }

    /// After an ack, a queue paused by flow control may pull again at once.
    fn resume_if_paused(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue) {
        let paused = self.queues.get(mq).is_some_and(|q| {
            q.pulling.is_none() && q.pull_at.is_some() && !self.flow_controlled(mq, q)
        });
        if paused {
            self.pull(ctx, mq);
        }
    }

    fn arm_pull_timer(&self, ctx: &mut Context<'_>) {
        let queues = self
            .queues
            .values()
            .flat_map(|q| q.pull_at.into_iter().chain(q.suspended_until));
        let retries = self.local_retries.iter().map(|(t, _, _)| *t);
        let next = queues.chain(retries).min();
        if ctx.timer(TimerKind::PullBackoff) != next {
            ctx.set_timer(TimerKind::PullBackoff, next);
        }
    }

    /// Queues whose `at` instant has come.
    fn queues_due(
        &self,
        now: Instant,
        at: impl Fn(&OwnedQueue) -> Option<Instant>,
    ) -> Vec<MessageQueue> {
        self.queues
            .iter()
            .filter(|(_, q)| at(q).is_some_and(|t| t <= now))
            .map(|(mq, _)| mq.clone())
            .collect()
    }

    fn on_pull_timer(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        for mq in self.queues_due(now, |q| q.pull_at) {
            if let Some(q) = self.queues.get_mut(&mq) {
                q.pull_at = None;
            }
            self.pull(ctx, &mq);
        }
        for mq in self.queues_due(now, |q| q.suspended_until) {
            if let Some(q) = self.queues.get_mut(&mq) {
                q.suspended_until = None;
            }
            self.deliver_orderly(ctx, &mq);
        }
        let (ready, later): (Vec<_>, Vec<_>) = core::mem::take(&mut self.local_retries)
            .into_iter()
            .partition(|(t, _, _)| *t <= now);
        self.local_retries = later;
        for (_, mq, offset) in ready {
            self.redeliver(&mq, offset, now);
        }
        self.arm_pull_timer(ctx);
    }

    fn on_pull(
        &mut self,
        ctx: &mut Context<'_>,
        mq: MessageQueue,
        offset: i64,
        outcome: Result<RemotingCommand, RequestError>,
    ) {
        let Some(q) = self.queues.get_mut(&mq) else {
            return;
        };
        q.pulling = None;
        let resp = match outcome {
            Ok(resp) => resp,
            Err(_) => {
                let at = ctx.now() + self.config.pull_backoff_on_error;
                return self.pull_later(ctx, &mq, at);
            }
        };
        let header = resp.header::<PullMessageResponseHeader>();
        match (resp.code, header) {
            (response_code::SUCCESS, Ok(h)) => {
                let messages = decode_messages(&resp.body).unwrap_or_default();
                q.next_offset = Some(h.next_begin_offset);
                self.accept_messages(&mq, messages, ctx.now());
                self.pull(ctx, &mq);
                self.deliver_orderly(ctx, &mq);
            }
            (response_code::PULL_NOT_FOUND | response_code::PULL_RETRY_IMMEDIATELY, Ok(h)) => {
                q.next_offset = Some(h.next_begin_offset);
                self.pull(ctx, &mq);
            }
            (response_code::PULL_OFFSET_MOVED, Ok(h)) => {
                // Java: drop the queue, commit the broker's offset, and let
                // the next rebalance take it again from there.
                let _ = offset;
                q.next_offset = Some(h.next_begin_offset);
                self.persist_at(ctx, &mq, h.next_begin_offset, true);
                self.forget_queue(ctx, &mq);
                self.rebalance_incomplete(ctx, &mq.topic.clone());
            }
            (response_code::FLOW_CONTROL, _) => {
                let at = ctx.now() + self.config.pull_backoff_on_broker_flow_control;
                self.pull_later(ctx, &mq, at);
            }
            _ => {
                let at = ctx.now() + self.config.pull_backoff_on_error;
                self.pull_later(ctx, &mq, at);
            }
        }
    }

    /// Caches pulled messages (those the subscription accepts) and hands
    /// them to the host in batches.
    fn accept_messages(&mut self, mq: &MessageQueue, messages: Vec<MessageExt>, now: Instant) {
        let Some(sub) = self.subscriptions.get(&mq.topic) else {
            return;
        };
        let Some(q) = self.queues.get_mut(mq) else {
            return;
        };
        let mut batch: Vec<MessageExt> = Vec::new();
        for mut message in messages {
            if !sub.accepts(&message) {
                continue;
            }
            if let Some(original) = message.retry_topic().map(String::from) {
                message.message.topic = original;
            }
            if self.config.orderly {
                q.pq.put(message);
            } else {
                q.pq.put(message.clone());
                batch.push(message);
            }
        }
        // Batches of up to the batch size, each of one topic: messages of
        // the retry queue carry their original topics, and a batch goes to
        // one topic's handler.
        let size = self.config.consume_batch_size.max(1);
        let mut chunk: Vec<MessageExt> = Vec::new();
        for message in batch {
            if chunk.len() == size || chunk.first().is_some_and(|f| !same_topic(f, &message)) {
                self.deliver(mq, core::mem::take(&mut chunk), now);
            }
            chunk.push(message);
        }
        if !chunk.is_empty() {
            self.deliver(mq, chunk, now);
        }
    }

    fn deliver(&mut self, mq: &MessageQueue, messages: Vec<MessageExt>, now: Instant) {
        self.next_delivery += 1;
        let id = DeliveryId(self.next_delivery);
        let offsets = messages.iter().map(|m| m.queue_offset).collect();
        self.outstanding.insert(
            id,
            Outstanding {
                mq: mq.clone(),
                offsets,
                delivered_at: now,
                direct: None,
            },
        );
        self.deliveries.push_back(Delivery {
            id,
            queue: mq.clone(),
            messages,
        });
    }

    /// Concurrent consumption: deliveries the handler has held longer than
    /// the consume timeout are sent back with delay level 3 (or, in
    /// broadcasting, given up) and dropped from their queue once the
    /// broker took them; the handler is not interrupted and its late
    /// result is ignored (Java's `cleanExpiredMsg`).
    fn expire_deliveries(&mut self, ctx: &mut Context<'_>) {
        if self.config.orderly {
            return;
        }
        let now = ctx.now();
        let timeout = self.config.consume_timeout;
        let expired: Vec<DeliveryId> = self
            .outstanding
            .iter()
            .filter(|(_, d)| now.saturating_duration_since(d.delivered_at) >= timeout)
            .map(|(id, _)| id)
            .collect();
        for id in expired {
            let Some(done) = self.outstanding.remove(&id) else {
                continue;
            };
            for offset in done.offsets {
                match self.config.model {
                    MessageModel::Clustering => self.send_back(ctx, &done.mq, offset, 3),
                    MessageModel::Broadcasting => {
                        if let Some(q) = self.queues.get_mut(&done.mq) {
                            q.pq.remove(offset);
                        }
                    }
                }
            }
        }
    }

    /// Orderly: hands the next batch of `mq` to the handler, in offset
    /// order, if the queue is locked, idle and not suspended.
    fn deliver_orderly(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue) {
        if !self.config.orderly {
            return;
        }
        let now = ctx.now();
        let Some(q) = self.queues.get(mq) else {
            return;
        };
        if q.pq.is_empty() {
            if let Some(q) = self.queues.get_mut(mq) {
                q.consuming_since = None;
            }
            return;
        }
        if q.busy || q.dropping || !self.holds_lock(q, now) {
            return;
        }
        if q.suspended_until.is_some_and(|t| t > now) {
            return;
        }
        let size = self.config.consume_batch_size.max(1);
        let mut batch: Vec<MessageExt> = Vec::new();
        for message in q.pq.first(size) {
            if batch.first().is_some_and(|f| !same_topic(f, message)) {
                break;
            }
            batch.push(message.clone());
        }
        if let Some(q) = self.queues.get_mut(mq) {
            q.busy = true;
            q.suspended_until = None;
            q.consuming_since.get_or_insert(now);
        }
        self.deliver(mq, batch, now);
    }

    /// Orderly: the handler finished a batch.
    fn consumed_orderly(
        &mut self,
        ctx: &mut Context<'_>,
        done: Outstanding,
        result: ConsumeResult,
    ) {
        let mq = done.mq;
        let Some(q) = self.queues.get_mut(&mq) else {
            return;
        };
        match result {
            ConsumeResult::Success => {
                for offset in &done.offsets {
                    q.pq.remove(*offset);
                }
                q.busy = false;
            }
            ConsumeResult::RetryLater { .. } => {
                let max = self.config.orderly_max_reconsume_times;
                let mut exhausted = Vec::new();
                for offset in &done.offsets {
                    if let Some(m) = q.pq.get_mut(*offset) {
                        m.reconsume_times += 1;
                        if max.is_some_and(|max| m.reconsume_times > max) {
                            exhausted.push((*offset, m.reconsume_times));
                        }
                    }
                }
                if exhausted.is_empty() {
                    // SuspendCurrentQueueAMoment: the same batch, later.
                    q.busy = false;
                    q.suspended_until = Some(ctx.now() + self.config.suspend_delay);
                    self.arm_pull_timer(ctx);
                } else {
                    // Past the limit: a plain message to the retry topic
                    // with its reconsume times past MAX_RECONSUME_TIMES,
                    // which the broker moves to the DLQ (the queue stays
                    // busy until the broker took them, so order holds).
                    for (offset, times) in exhausted {
                        self.resend_to_retry_topic(ctx, &mq, offset, times);
                    }
                }
            }
        }
        self.after_orderly_batch(ctx, &mq);
    }

    /// Orderly, a batch settled: finish a deferred drop, or yield after
    /// `orderly_max_continuous` of back-to-back batches, or go on.
    fn after_orderly_batch(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue) {
        let now = ctx.now();
        let Some(q) = self.queues.get_mut(mq) else {
            return;
        };
        if q.busy {
            return; // a message of it is on its way to the retry topic
        }
        if q.dropping {
            q.dropping = false;
            return self.drop_queue(ctx, mq);
        }
        let continuous = q.consuming_since.is_some_and(|t| {
            now.saturating_duration_since(t) >= self.config.orderly_max_continuous
        });
        if continuous {
            // Java's MAX_TIME_CONSUME_CONTINUOUSLY: let other queues' work go first.
            q.consuming_since = None;
            q.suspended_until = Some(now + ORDERLY_YIELD);
            self.arm_pull_timer(ctx);
            return;
        }
        self.resume_if_paused(ctx, mq);
        self.deliver_orderly(ctx, mq);
    }

    /// CONSUME_MESSAGE_DIRECTLY (an operator's "consume this message
    /// now"): the message goes to the handler outside any queue, and the
    /// handler's result is the answer.
    fn consume_directly(&mut self, ctx: &mut Context<'_>, request: BrokerRequest) -> Answered {
        let cmd = request.command();
        let header = cmd
            .header::<ConsumeMessageDirectlyResultRequestHeader>()
            .ok();
        let messages = decode_messages(&cmd.body).ok().filter(|m| !m.is_empty());
        let (Some(header), Some(mut messages)) = (header, messages) else {
            let mut resp = RemotingCommand::response(response_code::SYSTEM_ERROR, 0);
            resp.remark = Some(String::from("no message in the request"));
            return request.respond(ctx, resp);
        };
        messages.truncate(1);
        if let Some(original) = messages[0].retry_topic().map(String::from) {
            messages[0].message.topic = original;
        }
        let queue = MessageQueue {
            topic: messages[0].topic().to_string(),
            broker_name: header.broker_name.unwrap_or_default(),
            queue_id: messages[0].queue_id,
        };
        let (answered, pending) = request.defer();
        self.next_delivery += 1;
        let id = DeliveryId(self.next_delivery);
        let now = ctx.now();
        self.outstanding.insert(
            id,
            Outstanding {
                mq: queue.clone(),
                offsets: Vec::new(),
                delivered_at: now,
                direct: Some(pending),
            },
        );
        self.deliveries.push_back(Delivery {
            id,
            queue,
            messages,
        });
        answered
    }

    /// Java's `ConsumeMessageDirectlyResult`, in fastjson's key order.
    fn answer_direct(
        &mut self,
        ctx: &mut Context<'_>,
        pending: PendingAnswer,
        since: Instant,
        result: ConsumeResult,
    ) {
        let outcome = match result {
            ConsumeResult::Success => "CR_SUCCESS",
            ConsumeResult::RetryLater { .. } => "CR_LATER",
        };
        let spent = ctx.now().saturating_duration_since(since).as_millis();
        let body = alloc::format!(
            "{{\"autoCommit\":true,\"consumeResult\":\"{outcome}\",\"order\":{},\"remark\":\"\",\"spentTimeMills\":{spent}}}",
            self.config.orderly
        );
        let mut resp = RemotingCommand::response(response_code::SUCCESS, 0);
        resp.body = body.into_bytes().into();
        pending.respond(ctx, resp);
    }

    /// Hands a message still in flight to the handler again.
    fn redeliver(&mut self, mq: &MessageQueue, offset: i64, now: Instant) {
        let Some(message) = self.queues.get(mq).and_then(|q| q.pq.get(offset)).cloned() else {
            return;
        };
        self.deliver(mq, alloc::vec![message], now);
    }

    // ----- offsets ------------------------------------------------------------------

    fn commit_point(&self, q: &OwnedQueue) -> Option<i64> {
        if q.pq.is_empty() {
            // Everything below the next pull was consumed or filtered out.
            core::cmp::max(q.pq.committable(), q.next_offset)
        } else {
            q.pq.committable()
        }
    }

    /// Sends every owned queue's offset, moved or not, as Java's
    /// `persistAll` does (broadcasting: snapshots them for the local
    /// store). Re-sending unchanged offsets is what repairs a commit the
    /// broker lost: a 4.9 broker's offset table can drop one of two first
    /// commits of a new group that arrive at once (its `commitOffset`
    /// checks for the group's map and then puts a new one, unsynchronized).
    fn persist_all(&mut self, ctx: &mut Context<'_>, again: bool) {
        if self.config.model == MessageModel::Broadcasting {
            self.snapshot_local_offsets();
            return;
        }
        let queues: Vec<MessageQueue> = self.queues.keys().cloned().collect();
        for mq in queues {
            self.persist_one(ctx, &mq, again);
        }
    }

    fn persist_one(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue, again: bool) {
        if self.config.model == MessageModel::Broadcasting {
            self.snapshot_local_offsets();
            return;
        }
        let Some(offset) = self.queues.get(mq).and_then(|q| self.commit_point(q)) else {
            return;
        };
        self.persist_at(ctx, mq, offset, again);
    }

    fn persist_at(&mut self, ctx: &mut Context<'_>, mq: &MessageQueue, offset: i64, again: bool) {
        let Some(addr) = master(ctx, mq) else {
            return;
        };
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: self.config.group.clone(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            commit_offset: offset,
            ..Default::default()
        };
        let op = Op::PersistOffset {
            mq: mq.clone(),
            offset,
            again,
        };
        self.request(
            ctx,
            &addr,
            request_code::UPDATE_CONSUMER_OFFSET,
            &header,
            op,
        );
    }

    /// Shutdown: stop pulling and commit every offset.
    pub fn stop(&mut self, ctx: &mut Context<'_>) {
        self.started = false;
        // Long polls would hold the shutdown for their suspend time.
        for q in self.queues.values_mut() {
            if let Some(Some(key)) = q.pulling.take() {
                ctx.cancel(key);
            }
        }
        self.ops.retain(|_, op| !matches!(op, Op::Pull { .. }));
        self.persist_all(ctx, true);
        if self.locking() {
            let mut by_broker: VecMap<String, Vec<MessageQueue>> = VecMap::new();
            // Every owned queue, its lock granted or still in flight
            // (Java's unlockAll).
            for mq in self.queues.keys() {
                if let Some(addr) = master(ctx, mq) {
                    by_broker.get_or_default(addr).push(mq.clone());
                }
            }
            for (_, mqs) in by_broker {
                self.unlock(ctx, mqs);
            }
            ctx.set_timer(TimerKind::LockRenewal, None);
        }
        ctx.set_timer(TimerKind::Rebalance, None);
        ctx.set_timer(TimerKind::OffsetPersist, None);
        ctx.set_timer(TimerKind::PullBackoff, None);
    }

    fn reset_offsets(&mut self, ctx: &mut Context<'_>, table: VecMap<MessageQueue, i64>) {
        for (mq, offset) in table {
            if !self.queues.contains_key(&mq) {
                continue;
            }
            // Java drops the process queue, writes the new offset and lets
            // the next rebalance take the queue again from there.
            self.persist_at(ctx, &mq, offset, true);
            self.forget_queue(ctx, &mq);
        }
        ctx.set_timer(TimerKind::Rebalance, Some(ctx.now()));
    }
}

/// The master address of `mq`'s broker.
fn master(ctx: &Context<'_>, mq: &MessageQueue) -> Option<String> {
    ctx.route(&mq.topic)?
        .master_addr(&mq.broker_name)
        .map(String::from)
}

impl Role for PushConsumer {
    fn on_response(
        &mut self,
        ctx: &mut Context<'_>,
        token: Token,
        outcome: Result<RemotingCommand, RequestError>,
    ) {
        let Some(op) = self.ops.remove(&token.0) else {
            return;
        };
        let op_kind = match op {
            Op::SendBack { .. } => OpKind::SendBack,
            _ => OpKind::Other,
        };
        match op {
            Op::Pull { mq, offset } => self.on_pull(ctx, mq, offset, outcome),
            Op::ConsumerList { topic } => {
                let again = self.listing.remove(&topic).unwrap_or(false);
                match outcome {
                    Ok(resp) => self.on_consumer_list(ctx, &topic, resp),
                    Err(_) => self.rebalance_incomplete(ctx, &topic),
                }
                if again && self.started {
                    self.rebalance_topic(ctx, &topic);
                }
            }
            Op::QueryOffset { mq } => match outcome {
                Ok(resp) => self.on_query_offset(ctx, mq, resp),
                Err(_) => self.skip_queue(ctx, &mq),
            },
            Op::MaxOffset { mq } => match outcome.ok().filter(|r| r.code == response_code::SUCCESS)
            {
                Some(resp) => match resp.header::<GetMaxOffsetResponseHeader>() {
                    Ok(h) => self.start_at(ctx, &mq, h.offset),
                    Err(_) => self.skip_queue(ctx, &mq),
                },
                None => self.skip_queue(ctx, &mq),
            },
            Op::SearchOffset { mq } => {
                match outcome.ok().filter(|r| r.code == response_code::SUCCESS) {
                    Some(resp) => match resp.header::<SearchOffsetResponseHeader>() {
                        Ok(h) => self.start_at(ctx, &mq, h.offset),
                        Err(_) => self.skip_queue(ctx, &mq),
                    },
                    None => self.skip_queue(ctx, &mq),
                }
            }
            Op::SendBack { mq, offset } | Op::RetrySend { mq, offset } => {
                let ok = outcome.is_ok_and(|r| r.code == response_code::SUCCESS);
                if ok {
                    self.taken_back(ctx, &mq, offset);
                } else if matches!(op_kind, OpKind::SendBack) {
                    // Java's fallback: the message itself to the retry topic.
                    let times = self
                        .queues
                        .get(&mq)
                        .and_then(|q| q.pq.get(offset))
                        .map_or(1, |m| m.reconsume_times + 1);
                    self.resend_to_retry_topic(ctx, &mq, offset, times);
                } else {
                    self.retry_send_failed(ctx, mq, offset);
                }
            }
            // A queue's last commit (dropped, reset, shutdown) is not
            // repeated by the periodic persist, so it goes twice: the
            // second lands after the first created the group's offsets
            // on the broker, safe from the 4.9 race `persist_all` notes.
            Op::PersistOffset {
                mq,
                offset,
                again: true,
            } => self.persist_at(ctx, &mq, offset, false),
            Op::PersistOffset { .. } | Op::Unlock => {}
            Op::Lock { mqs } => {
                if let Ok(resp) = outcome {
                    if resp.code == response_code::SUCCESS {
                        self.on_locked(ctx, &mqs, resp);
                    }
                }
                self.unlock_after_lock_answer(ctx, &mqs);
            }
        }
    }

    fn on_route(&mut self, ctx: &mut Context<'_>, topic: &str, outcome: &RouteOutcome) {
        // Sooner than Java: rebalance a topic as soon as its route changes.
        if self.started
            && matches!(outcome, RouteOutcome::Ready { changed: true })
            && self.subscriptions.contains_key(topic)
        {
            self.rebalance_topic(ctx, topic);
        }
    }

    fn on_broker_reconnected(&mut self, ctx: &mut Context<'_>, _addr: &str) {
        // A restarted broker may have lost the group's members, locks or
        // queues: look again now (Java's rebalance after a reconnect).
        if self.started {
            ctx.set_timer(TimerKind::Rebalance, Some(ctx.now()));
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, kind: TimerKind) {
        if !self.started {
            return;
        }
        match kind {
            TimerKind::Rebalance => self.rebalance(ctx),
            TimerKind::OffsetPersist => {
                let next = ctx.now() + self.config.persist_interval;
                ctx.set_timer(TimerKind::OffsetPersist, Some(next));
                self.expire_deliveries(ctx);
                self.persist_all(ctx, false);
            }
            TimerKind::PullBackoff => self.on_pull_timer(ctx),
            TimerKind::LockRenewal => {
                let next = ctx.now() + self.config.lock_renew_interval;
                ctx.set_timer(TimerKind::LockRenewal, Some(next));
                self.lock_all(ctx);
            }
            _ => {}
        }
    }

    fn on_broker_request(
        &mut self,
        ctx: &mut Context<'_>,
        request: BrokerRequest,
    ) -> Result<Answered, BrokerRequest> {
        let cmd = request.command();
        match request.code() {
            request_code::NOTIFY_CONSUMER_IDS_CHANGED => {
                let mine = cmd
                    .header::<NotifyConsumerIdsChangedRequestHeader>()
                    .is_ok_and(|h| h.consumer_group == self.config.group);
                if !mine {
                    return Err(request);
                }
                if self.started {
                    ctx.set_timer(TimerKind::Rebalance, Some(ctx.now()));
                }
                Ok(request.accept_oneway(ctx))
            }
            request_code::RESET_CONSUMER_CLIENT_OFFSET => {
                let mine = cmd
                    .header::<ResetOffsetRequestHeader>()
                    .is_ok_and(|h| h.group == self.config.group);
                if !mine {
                    return Err(request);
                }
                if let Ok(body) = ResetOffsetBody::parse(&cmd.body) {
                    self.reset_offsets(ctx, body.offset_table);
                }
                Ok(request.accept_oneway(ctx))
            }
            request_code::CONSUME_MESSAGE_DIRECTLY => {
                let group = cmd.ext_fields.get("consumerGroup").unwrap_or_default();
                if group != self.config.group {
                    return Err(request);
                }
                Ok(self.consume_directly(ctx, request))
            }
            request_code::GET_CONSUMER_STATUS_FROM_CLIENT => {
                let group = cmd.ext_fields.get("group").unwrap_or_default();
                if group != self.config.group {
                    return Err(request);
                }
                let topic = cmd.ext_fields.get("topic").unwrap_or_default();
                let table: VecMap<MessageQueue, i64> = self
                    .queues
                    .iter()
                    .filter(|(mq, _)| mq.topic == topic)
                    .filter_map(|(mq, q)| self.commit_point(q).map(|o| (mq.clone(), o)))
                    .collect();
                let mut body = String::from("{\"consumerTable\":{},\"messageQueueTable\":");
                body.push_str(&queue_map_json(&table));
                body.push('}');
                let mut resp = RemotingCommand::response(response_code::SUCCESS, 0);
                resp.body = body.into_bytes().into();
                Ok(request.respond(ctx, resp))
            }
            request_code::GET_CONSUMER_RUNNING_INFO => {
                let group = cmd.ext_fields.get("consumerGroup").unwrap_or_default();
                if group != self.config.group {
                    return Err(request);
                }
                let body = self.running_info(ctx);
                let mut resp = RemotingCommand::response(response_code::SUCCESS, 0);
                resp.body = body.into();
                Ok(request.respond(ctx, resp))
            }
            _ => Err(request),
        }
    }

    fn is_settled(&self) -> bool {
        !self
            .ops
            .values()
            .any(|op| matches!(op, Op::PersistOffset { .. } | Op::SendBack { .. }))
    }
}

impl PushConsumer {
    /// The GET_CONSUMER_RUNNING_INFO body: the properties Java's admin
    /// tools read, the subscriptions and the owned queues with their
    /// offsets (fastjson's object-keyed maps).
    fn running_info(&self, ctx: &Context<'_>) -> Vec<u8> {
        let now = ctx.now();
        let mut out = String::from("{\"mqTable\":{");
        for (i, (mq, q)) in self.queues.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let offset = self.commit_point(q).unwrap_or(-1);
            let min = q.pq.first(1).next().map_or(0, |m| m.queue_offset);
            let max = min + q.pq.span();
            let locked = q.locked_at.is_some() && self.holds_lock(q, now);
            out.push_str(&mq_key_json(mq));
            out.push_str(&alloc::format!(
                ":{{\"cachedMsgCount\":{},\"cachedMsgMaxOffset\":{max},\"cachedMsgMinOffset\":{min},\"cachedMsgSizeInMiB\":{},\"commitOffset\":{offset},\"droped\":{},\"locked\":{locked}}}",
                q.pq.len(),
                q.pq.bytes() / (1024 * 1024),
                q.dropping,
            ));
        }
        let consume_type = self.config.consume_type.as_str();
        let orderly = self.config.orderly;
        let namesrv = ctx.name_server().unwrap_or_default();
        let threads = self.config.handler_threads;
        let start = self.started_at_ms;
        let version = concat!("rmq-", env!("CARGO_PKG_VERSION"));
        out.push_str(&alloc::format!(
            "}},\"properties\":{{\"PROP_CLIENT_VERSION\":\"{version}\",\"PROP_CONSUMEORDERLY\":\"{orderly}\",\"PROP_CONSUMER_START_TIMESTAMP\":\"{start}\",\"PROP_CONSUME_TYPE\":\"{consume_type}\",\"PROP_NAMESERVER_ADDR\":\"{}\",\"PROP_THREADPOOL_CORE_SIZE\":\"{threads}\"}}",
            json_escape(namesrv),
        ));
        out.push_str(",\"statusTable\":{");
        for (i, topic) in self.subscriptions.keys().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Totals since start: rmq keeps no per-minute statistics.
            out.push_str(&alloc::format!(
                "\"{}\":{{\"consumeFailedMsgs\":{},\"consumeFailedTPS\":0.0,\"consumeOKTPS\":0.0,\"consumeRT\":0.0,\"pullRT\":0.0,\"pullTPS\":0.0}}",
                json_escape(topic),
                self.consumed_failed,
            ));
        }
        out.push_str("},\"subscriptionSet\":[");
        for (i, s) in self.subscriptions.values().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&alloc::format!(
                "{{\"expressionType\":\"{}\",\"subString\":\"{}\",\"subVersion\":{},\"topic\":\"{}\"}}",
                s.data.expression_type.as_str(),
                json_escape(&s.data.sub_string),
                s.data.sub_version,
                json_escape(&s.data.topic),
            ));
        }
        out.push_str("]}");
        out.into_bytes()
    }
}

/// Offsets in Java's `offsets.json` shape: fastjson's map keyed by
/// MessageQueue objects, `{"offsetTable":{{"brokerName":…,"queueId":…,"topic":…}:42}}`.
fn offsets_json(table: &VecMap<MessageQueue, i64>) -> Vec<u8> {
    alloc::format!("{{\"offsetTable\":{}}}", queue_map_json(table)).into_bytes()
}

/// A fastjson map keyed by MessageQueue objects:
/// `{{"brokerName":…,"queueId":…,"topic":…}:42,…}`.
fn queue_map_json(table: &VecMap<MessageQueue, i64>) -> String {
    let mut out = String::from("{");
    for (i, (mq, offset)) in table.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&mq_key_json(mq));
        out.push_str(&alloc::format!(":{offset}"));
    }
    out.push('}');
    out
}

/// A MessageQueue as fastjson writes it (keys sorted).
fn mq_key_json(mq: &MessageQueue) -> String {
    alloc::format!(
        "{{\"brokerName\":\"{}\",\"queueId\":{},\"topic\":\"{}\"}}",
        json_escape(&mq.broker_name),
        mq.queue_id,
        json_escape(&mq.topic),
    )
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&alloc::format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// No header fields (LOCK_BATCH_MQ, UNLOCK_BATCH_MQ).
struct NoFields;

impl FieldSource for NoFields {
    fn write_to<S: FieldSink + ?Sized>(&self, _sink: &mut S) {}
}

/// A typed header seen as fields.
struct Fields<'a, H>(&'a H);

impl<H: CommandHeader> FieldSource for Fields<'_, H> {
    fn write_to<S: FieldSink + ?Sized>(&self, sink: &mut S) {
        self.0.write_fields(sink);
    }
}

/// Whether two messages belong to one topic (a batch goes to one handler).
fn same_topic(a: &MessageExt, b: &MessageExt) -> bool {
    a.message.topic == b.message.topic
}
