//! Choosing the queue a message goes to.

use alloc::boxed::Box;
use alloc::string::String;

use crate::engine::MaybeSend;
use crate::message::{tag_hash_code, Message};
use crate::route::MessageQueue;
use crate::time::Instant;

use super::fault::FaultTracker;

/// A user-supplied queue choice over the topic's writable queues, like the
/// Java client's `MessageQueueSelector`.
pub trait QueueSelector: MaybeSend {
    /// Returns an index into `queues` (taken modulo its length).
    fn select(&mut self, queues: &[MessageQueue], message: &Message) -> usize;
}

impl<F: FnMut(&[MessageQueue], &Message) -> usize + MaybeSend> QueueSelector for F {
    fn select(&mut self, queues: &[MessageQueue], message: &Message) -> usize {
        self(queues, message)
    }
}

/// Where a send should go.
pub enum QueueTarget {
    /// Round robin over writable queues (with fault avoidance when enabled).
    Any,
    /// Exactly this queue; no retry on another broker.
    Queue(MessageQueue),
    /// The queue the Java client's `SelectMessageQueueByHash` picks for this
    /// key, so ordered messages of one key land together whichever client sent them.
    ShardingKey(String),
    /// A user selector.
    Selector(Box<dyn QueueSelector>),
}

impl core::fmt::Debug for QueueTarget {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            QueueTarget::Any => f.write_str("Any"),
            QueueTarget::Queue(q) => f.debug_tuple("Queue").field(q).finish(),
            QueueTarget::ShardingKey(k) => f.debug_tuple("ShardingKey").field(k).finish(),
            QueueTarget::Selector(_) => f.write_str("Selector(..)"),
        }
    }
}

/// The index `SelectMessageQueueByHash` picks: `abs(key.hashCode() % n)`.
pub fn hash_queue_index(key: &str, queue_count: usize) -> usize {
    if queue_count == 0 {
        return 0;
    }
    let n = i32::try_from(queue_count).unwrap_or(i32::MAX);
    (tag_hash_code(key) % n).unsigned_abs() as usize
}

/// Round-robin choice of a queue, skipping the broker that just failed and,
/// with fault avoidance, brokers still paused by [`FaultTracker`].
#[derive(Debug, Clone)]
pub struct RoundRobin {
    counter: u32,
}

impl RoundRobin {
    /// Starts at a position derived from `seed` (Java starts at random).
    pub fn new(seed: u64) -> Self {
        RoundRobin {
            counter: (seed ^ (seed >> 32)) as u32 & 0x7fff_ffff,
        }
    }

    /// Picks a queue; `None` only when `queues` is empty.
    pub fn pick<'q>(
        &mut self,
        queues: &'q [MessageQueue],
        avoid_broker: Option<&str>,
        faults: Option<(&FaultTracker, Instant)>,
    ) -> Option<&'q MessageQueue> {
        let n = queues.len();
        if n == 0 {
            return None;
        }
        let start = self.counter as usize;
        self.counter = self.counter.wrapping_add(1) & 0x7fff_ffff;
        let at = |i: usize| &queues[(start + i) % n];
        let usable = |q: &MessageQueue| avoid_broker != Some(q.broker_name.as_str());
        if let Some((tracker, now)) = faults {
            if let Some(q) = (0..n)
                .map(at)
                .find(|q| usable(q) && tracker.is_available(&q.broker_name, now))
            {
                return Some(q);
            }
        }
        Some((0..n).map(at).find(|q| usable(q)).unwrap_or_else(|| at(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn queues(brokers: &[(&str, i32)]) -> Vec<MessageQueue> {
        brokers
            .iter()
            .flat_map(|(b, n)| {
                (0..*n).map(move |q| MessageQueue {
                    topic: "T".into(),
                    broker_name: (*b).into(),
                    queue_id: q,
                })
            })
            .collect()
    }

    #[test]
    fn round_robin_visits_every_queue_in_turn() {
        let qs = queues(&[("a", 2), ("b", 2)]);
        let mut rr = RoundRobin::new(0);
        let picked: Vec<i32> = (0..4)
            .map(|_| rr.pick(&qs, None, None).unwrap().queue_id)
            .collect();
        assert_eq!(picked, [0, 1, 0, 1]);
    }

    #[test]
    fn retry_skips_the_broker_that_failed() {
        let qs = queues(&[("a", 2), ("b", 2)]);
        let mut rr = RoundRobin::new(0);
        for _ in 0..8 {
            assert_eq!(rr.pick(&qs, Some("a"), None).unwrap().broker_name, "b");
        }
    }

    #[test]
    fn a_single_broker_is_used_even_after_it_failed() {
        let qs = queues(&[("a", 2)]);
        let mut rr = RoundRobin::new(0);
        assert_eq!(rr.pick(&qs, Some("a"), None).unwrap().broker_name, "a");
    }

    #[test]
    fn fault_avoidance_skips_a_paused_broker() {
        let qs = queues(&[("a", 2), ("b", 2)]);
        let mut faults = FaultTracker::default();
        let now = Instant::from_millis(0);
        faults.record("b", 0, true, now);
        let mut rr = RoundRobin::new(2);
        for _ in 0..8 {
            let q = rr.pick(&qs, None, Some((&faults, now))).unwrap();
            assert_eq!(q.broker_name, "a");
        }
    }

    #[test]
    fn sharding_key_index_matches_java_hash_selector() {
        // Java: Math.abs("order-1".hashCode() % 8)
        let h = tag_hash_code("order-1");
        assert_eq!(
            hash_queue_index("order-1", 8),
            (h % 8).unsigned_abs() as usize
        );
        assert!(hash_queue_index("anything", 8) < 8);
        assert_eq!(hash_queue_index("x", 0), 0);
    }
}
