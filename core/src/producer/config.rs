//! Producer configuration.

use alloc::string::String;
use core::time::Duration;

/// Settings of a producer group, defaults as in the Java `DefaultMQProducer`.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Producer group. Java: `producerGroup` (required).
    pub group: String,
    /// Extra attempts of a failed synchronous send, each on another broker
    /// where one exists. Java: `retryTimesWhenSendFailed` = 2.
    pub retries: u32,
    /// Whole-send deadline, retries included. Java: `sendMsgTimeout` = 3 s.
    pub send_timeout: Duration,
    /// Bodies larger than this are zlib-compressed. Java:
    /// `compressMsgBodyOverHowmuch` = 4096.
    pub compress_threshold: usize,
    /// zlib level. Java: `compressLevel` = 5.
    pub compress_level: u8,
    /// Largest body (or batch) accepted. Java: `maxMessageSize` = 4 MiB.
    pub max_message_size: usize,
    /// Latency-based fault avoidance. Java: `sendLatencyFaultEnable` = false.
    pub fault_avoidance: bool,
    /// Queues per broker when a topic is created from the default topic.
    /// Java: `defaultTopicQueueNums` = 4.
    pub default_topic_queue_nums: i32,
    /// Template topic for auto-creation. Java: `createTopicKey` = "TBW102".
    pub create_topic_key: String,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            group: String::from("DEFAULT_PRODUCER"),
            retries: 2,
            send_timeout: Duration::from_secs(3),
            compress_threshold: 4096,
            compress_level: 5,
            max_message_size: 4 * 1024 * 1024,
            fault_avoidance: false,
            default_topic_queue_nums: 4,
            create_topic_key: String::from("TBW102"),
        }
    }
}
