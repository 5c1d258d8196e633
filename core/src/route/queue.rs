//! [`MessageQueue`]: one queue of a topic on one broker.

use alloc::string::String;
use core::cmp::Ordering;
use core::fmt;

use crate::acl::java_string_cmp;
use crate::protocol::json::{JsonValue, JsonWriter};

/// One queue of a topic on one broker (Java `MessageQueue`).
///
/// Ordered like Java's `compareTo`: topic, then broker name (both in Java
/// `String` order, UTF-16 code units), then queue id numerically. Rebalancing
/// sorts with this order, so it must agree with Java peers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MessageQueue {
    /// Topic name.
    pub topic: String,
    /// Broker (group) name.
    pub broker_name: String,
    /// Queue id on that broker.
    pub queue_id: i32,
}

impl MessageQueue {
    /// A queue of `topic` on `broker_name`.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        Self {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }

    /// Reads a fastjson `MessageQueue` object
    /// (`{"brokerName":"b","queueId":0,"topic":"t"}`); `None` when a field
    /// is missing or has the wrong type.
    pub fn from_json(value: &JsonValue) -> Option<Self> {
        let topic = value.get("topic")?.as_str()?;
        let broker_name = value.get("brokerName")?.as_str()?;
        let queue_id = i32::try_from(value.get("queueId")?.as_i64()?).ok()?;
        Some(Self::new(topic, broker_name, queue_id))
    }

    /// Writes the queue as fastjson does: keys in alphabetical order.
    pub fn write_json(&self, w: &mut JsonWriter<'_>) {
        w.begin_object()
            .field_str("brokerName", &self.broker_name)
            .field_i64("queueId", i64::from(self.queue_id))
            .field_str("topic", &self.topic)
            .end_object();
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> Ordering {
        java_string_cmp(&self.topic, &other.topic)
            .then_with(|| java_string_cmp(&self.broker_name, &other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MessageQueue {
    /// `MessageQueue [topic=T, brokerName=b, queueId=0]`, Java's `toString`
    /// (also the consistent-hash key of the Java allocator).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MessageQueue [topic={}, brokerName={}, queueId={}]",
            self.topic, self.broker_name, self.queue_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::json;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    #[test]
    fn displays_like_java_to_string() {
        let mq = MessageQueue::new("T", "broker-a", 3);
        assert_eq!(
            mq.to_string(),
            "MessageQueue [topic=T, brokerName=broker-a, queueId=3]"
        );
    }

    #[test]
    fn orders_by_topic_then_broker_then_numeric_queue_id() {
        let mut v = [
            MessageQueue::new("b", "a", 0),
            MessageQueue::new("a", "b", 0),
            MessageQueue::new("a", "a", 10),
            MessageQueue::new("a", "a", 2),
        ];
        v.sort();
        let ids: Vec<(&str, &str, i32)> = v
            .iter()
            .map(|q| (q.topic.as_str(), q.broker_name.as_str(), q.queue_id))
            .collect();
        assert_eq!(
            ids,
            [("a", "a", 2), ("a", "a", 10), ("a", "b", 0), ("b", "a", 0)]
        );
    }

    #[test]
    fn broker_names_order_by_utf16_code_units() {
        let astral = MessageQueue::new("T", "\u{1f600}", 0);
        let bmp = MessageQueue::new("T", "\u{ffff}", 0);
        assert!(astral < bmp);
    }

    #[test]
    fn json_round_trips_with_alphabetical_keys() {
        let mq = MessageQueue::new("T", "b", 7);
        let mut out = Vec::new();
        mq.write_json(&mut JsonWriter::new(&mut out));
        assert_eq!(out, br#"{"brokerName":"b","queueId":7,"topic":"T"}"#);
        let parsed = json::parse(&out).unwrap();
        assert_eq!(MessageQueue::from_json(&parsed), Some(mq));
    }

    #[test]
    fn from_json_rejects_missing_queue_id() {
        let v = json::parse(br#"{"brokerName":"b","topic":"T"}"#).unwrap();
        assert_eq!(MessageQueue::from_json(&v), None);
    }
}
