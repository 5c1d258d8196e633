//! The invariant checker: what must hold after every step, and at the end.

use std::collections::{BTreeMap, BTreeSet};

use rmq_core::time::Instant;

use super::broker::Location;

/// Queue identity for the checker: (group, broker, topic, queue). For a
/// broadcasting member the "group" is the member itself (`bg/<host>`):
/// each member consumes every queue on its own.
pub type QueueKey = (String, String, String, i32);

/// What the checker tracks between steps.
#[derive(Debug, Default)]
pub struct Checker {
    /// Acknowledged sends: body -> where the receipt says it is.
    pub acked: BTreeMap<Vec<u8>, Location>,
    /// When each acknowledged send was acknowledged.
    pub acked_at: BTreeMap<Vec<u8>, Instant>,
    /// Bodies a handler of the clustering group consumed successfully.
    pub consumed: BTreeSet<Vec<u8>>,
    /// Bodies each broadcasting member (by its host's name, across its
    /// process restarts) consumed successfully.
    pub broadcast: BTreeMap<String, BTreeSet<Vec<u8>>>,
    /// Offsets of each queue a group is done with (consumed or taken back),
    /// and the lowest offset not yet done.
    done: BTreeMap<QueueKey, (BTreeSet<i64>, i64)>,
    /// Where each body is stored (main topic and retry copies).
    pub stored: BTreeMap<Vec<u8>, Vec<Location>>,
    /// Orderly: the batch of each queue with a handler: (node, delivery id).
    pub active: BTreeMap<QueueKey, (usize, u64)>,
}

impl Checker {
    /// `group` is done with offset `at` of a queue.
    pub fn mark_done(&mut self, group: &str, at: &Location) {
        let (broker, topic, queue, offset) = at;
        let key = (group.to_string(), broker.clone(), topic.clone(), *queue);
        let (set, prefix) = self.done.entry(key).or_default();
        if *offset < *prefix {
            return;
        }
        set.insert(*offset);
        while set.remove(prefix) {
            *prefix += 1;
        }
    }

    /// The lowest offset of a queue `group` is not done with.
    pub fn done_prefix(&self, group: &str, broker: &str, topic: &str, queue: i32) -> i64 {
        let key = (
            group.to_string(),
            broker.to_string(),
            topic.to_string(),
            queue,
        );
        self.done.get(&key).map_or(0, |(_, p)| *p)
    }
}
