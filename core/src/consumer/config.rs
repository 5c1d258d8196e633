//! Push-consumer configuration, defaults as in the Java `DefaultMQPushConsumer`.

use alloc::string::String;
use core::time::Duration;

pub use crate::protocol::body::{ConsumeType, MessageModel};

use super::AllocateStrategy;

/// Where a group with no committed offset starts on a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeFrom {
    /// The queue's end (Java default `CONSUME_FROM_LAST_OFFSET`). Mind the
    /// broker: on a young queue (min offset 0, still in memory) it answers
    /// a new group's offset query with 0, so the group reads from the start,
    /// exactly as Java's does.
    Last,
    /// The queue's start (`CONSUME_FROM_FIRST_OFFSET`).
    First,
    /// The first message stored at or after this wall-clock time, in Unix
    /// ms (`CONSUME_FROM_TIMESTAMP`).
    Timestamp(i64),
    /// `CONSUME_FROM_TIMESTAMP` with Java's default `consumeTimestamp`:
    /// half an hour before the consumer starts.
    HalfHourAgo,
}

impl ConsumeFrom {
    /// Java's default look-back for `CONSUME_FROM_TIMESTAMP`: 30 minutes.
    pub const DEFAULT_LOOKBACK_MS: i64 = 30 * 60 * 1000;

    /// The time a timestamp start searches for, given the wall clock at
    /// start (Unix ms); `None` for [`ConsumeFrom::First`] and [`ConsumeFrom::Last`].
    pub fn timestamp(self, start_ms: i64) -> Option<i64> {
        match self {
            ConsumeFrom::Timestamp(ms) => Some(ms),
            ConsumeFrom::HalfHourAgo => Some(start_ms - Self::DEFAULT_LOOKBACK_MS),
            ConsumeFrom::First | ConsumeFrom::Last => None,
        }
    }
}

/// Settings of one push-consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Consumer group. Java: `consumerGroup` (required).
    pub group: String,
    /// Clustering (queues shared by the group) or broadcasting. Java: `messageModel`.
    pub model: MessageModel,
    /// Java: `consumeFromWhere` (+ `consumeTimestamp`).
    pub consume_from: ConsumeFrom,
    /// Java: `allocateMessageQueueStrategy` = averagely.
    pub allocation: AllocateStrategy,
    /// Messages handed to the handler at once. Java: `consumeMessageBatchMaxSize` = 1.
    pub consume_batch_size: usize,
    /// Messages per pull. Java: `pullBatchSize` = 32.
    pub pull_batch_size: i32,
    /// Cached messages per queue before pulls pause. Java: `pullThresholdForQueue` = 1000.
    pub pull_threshold_for_queue: usize,
    /// Cached body bytes per queue before pulls pause. Java: `pullThresholdSizeForQueue` = 100 MiB.
    pub pull_threshold_size_for_queue: usize,
    /// Cached messages per topic before pulls pause, shared evenly by the
    /// topic's owned queues (and never above the queue limit). Java:
    /// `pullThresholdForTopic` = -1, off.
    pub pull_threshold_for_topic: Option<usize>,
    /// Cached body bytes per topic, shared like `pull_threshold_for_topic`.
    /// Java: `pullThresholdSizeForTopic` = -1, off.
    pub pull_threshold_size_for_topic: Option<usize>,
    /// Widest span of cached offsets per queue before pulls pause
    /// (concurrent consumption). Java: `consumeConcurrentlyMaxSpan` = 2000.
    pub max_offset_span: i64,
    /// How long the broker holds a pull with nothing to return. Java: 15 s.
    pub pull_suspend: Duration,
    /// The deadline of a pull request (longer than the suspend). Java: 30 s.
    pub pull_timeout: Duration,
    /// Pause after a pull failed. Java: `pullTimeDelayMillsWhenException` = 3 s.
    pub pull_backoff_on_error: Duration,
    /// Pause while the queue's cache is full. Java: 50 ms.
    pub pull_backoff_on_flow_control: Duration,
    /// Pause after the broker's FLOW_CONTROL answer. Java: 20 ms.
    pub pull_backoff_on_broker_flow_control: Duration,
    /// Rebalance period. Java: `rebalanceInterval` (20 s).
    pub rebalance_interval: Duration,
    /// A rebalance that did not complete is tried again after this. Java: 1 s.
    pub rebalance_retry: Duration,
    /// Committed offsets go to the broker this often. Java:
    /// `persistConsumerOffsetInterval` = 5 s.
    pub persist_interval: Duration,
    /// Deliveries before a message goes to the DLQ. Java: `maxReconsumeTimes` = 16.
    pub max_reconsume_times: i32,
    /// Delay before a message whose send-back failed is consumed again locally. Java: 5 s.
    pub local_retry_delay: Duration,
    /// Concurrent consumption: a delivery the handler holds longer than
    /// this is sent back (delay level 3) and its late result ignored.
    /// Java: `consumeTimeout` = 15 min. Checked every persist interval.
    pub consume_timeout: Duration,
    /// A queue not pulled for this long is dropped and taken again. Java:
    /// `pullMaxIdleTime` = 120 s.
    pub pull_max_idle: Duration,
    /// Orderly consumption: each queue locked on its broker, one batch at
    /// a time in offset order (Java: a `MessageListenerOrderly`).
    pub orderly: bool,
    /// Orderly: lock renewal period. Java: `rebalanceLockInterval` = 20 s.
    pub lock_renew_interval: Duration,
    /// Orderly: a lock not renewed for this long counts as lost on the
    /// client (the broker keeps it 60 s). Java: `REBALANCE_LOCK_MAX_LIVE_TIME` = 30 s.
    pub lock_expiry: Duration,
    /// Orderly: how long RetryLater suspends the queue before the batch is
    /// tried again. Java: `suspendCurrentQueueTimeMillis` = 1 s.
    pub suspend_delay: Duration,
    /// Orderly: deliveries before a message goes to the DLQ; `None` (Java's
    /// default for orderly) retries forever.
    pub orderly_max_reconsume_times: Option<i32>,
    /// Orderly: after consuming one queue this long without a break, the
    /// queue yields for a moment (10 ms). Java: `MAX_TIME_CONSUME_CONTINUOUSLY` = 60 s.
    pub orderly_max_continuous: Duration,
    /// How many handler calls the host runs at once (reported in the
    /// running info; the host enforces it). Java: `consumeThreadMin` = 20.
    pub handler_threads: usize,
    /// What the heartbeat says this consumer is: a push consumer
    /// (`CONSUME_PASSIVELY`) or a lite pull consumer (`CONSUME_ACTIVELY`).
    pub consume_type: ConsumeType,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group: String::from("DEFAULT_CONSUMER"),
            model: MessageModel::Clustering,
            consume_from: ConsumeFrom::Last,
            allocation: AllocateStrategy::Averagely,
            consume_batch_size: 1,
            pull_batch_size: 32,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            pull_threshold_for_topic: None,
            pull_threshold_size_for_topic: None,
            max_offset_span: 2000,
            pull_suspend: Duration::from_secs(15),
            pull_timeout: Duration::from_secs(30),
            pull_backoff_on_error: Duration::from_secs(3),
            pull_backoff_on_flow_control: Duration::from_millis(50),
            pull_backoff_on_broker_flow_control: Duration::from_millis(20),
            rebalance_interval: Duration::from_secs(20),
            rebalance_retry: Duration::from_secs(1),
            persist_interval: Duration::from_secs(5),
            max_reconsume_times: 16,
            local_retry_delay: Duration::from_secs(5),
            consume_timeout: Duration::from_secs(15 * 60),
            pull_max_idle: Duration::from_secs(120),
            orderly: false,
            lock_renew_interval: Duration::from_secs(20),
            lock_expiry: Duration::from_secs(30),
            suspend_delay: Duration::from_secs(1),
            orderly_max_reconsume_times: None,
            orderly_max_continuous: Duration::from_secs(60),
            handler_threads: 20,
            consume_type: ConsumeType::ConsumePassively,
        }
    }
}
