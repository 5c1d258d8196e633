//! A process queue: the messages of one owned queue that were pulled and
//! are not yet acknowledged. The committable offset is the lowest offset
//! not yet acknowledged, so a crash redelivers and never skips.

use crate::collections::IdMap;
use crate::message::MessageExt;

/// Messages in flight for one queue, by queue offset.
#[derive(Debug, Default)]
pub struct ProcessQueue {
    messages: IdMap<i64, MessageExt>,
    bytes: usize,
    /// The highest offset ever put here, if any.
    max_offset: Option<i64>,
}

impl ProcessQueue {
    /// Caches a pulled message.
    pub fn put(&mut self, message: MessageExt) {
        let offset = message.queue_offset;
        self.max_offset = Some(self.max_offset.map_or(offset, |m| m.max(offset)));
        self.bytes += message.body().len();
        if let Some(old) = self.messages.insert(offset, message) {
            self.bytes -= old.body().len();
        }
    }

    /// Acknowledges `offset`; returns the message if it was in flight.
    pub fn remove(&mut self, offset: i64) -> Option<MessageExt> {
        let message = self.messages.remove(&offset)?;
        self.bytes -= message.body().len();
        Some(message)
    }

    /// The first `n` messages in offset order (an orderly batch).
    pub fn first(&self, n: usize) -> impl Iterator<Item = &MessageExt> + '_ {
        self.messages.values().take(n)
    }

    /// The message at `offset`, to count a local redelivery.
    pub fn get_mut(&mut self, offset: i64) -> Option<&mut MessageExt> {
        self.messages.get_mut(&offset)
    }

    /// The message at `offset`, if in flight.
    pub fn get(&self, offset: i64) -> Option<&MessageExt> {
        self.messages.get(&offset)
    }

    /// The offset to commit: the lowest one in flight, or one past the
    /// highest ever put when nothing is; `None` before the first message.
    pub fn committable(&self) -> Option<i64> {
        match self.messages.keys().next() {
            Some(lowest) => Some(lowest),
            None => self.max_offset.map(|m| m + 1),
        }
    }

    /// Messages in flight.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Body bytes in flight.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Highest minus lowest offset in flight (0 when empty).
    pub fn span(&self) -> i64 {
        match (
            self.messages.keys().next(),
            self.messages.keys().next_back(),
        ) {
            (Some(lo), Some(hi)) => hi - lo,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn msg(offset: i64) -> MessageExt {
        let mut m = MessageExt::from_message(Message::new("T", "body"));
        m.queue_offset = offset;
        m
    }

    #[test]
    fn the_committable_offset_never_passes_an_unacknowledged_message() {
        let mut pq = ProcessQueue::default();
        for o in 10..15 {
            pq.put(msg(o));
        }
        pq.remove(11);
        pq.remove(12);
        assert_eq!(pq.committable(), Some(10));
        pq.remove(10);
        assert_eq!(pq.committable(), Some(13));
    }

    #[test]
    fn an_empty_queue_commits_one_past_the_highest_offset_seen() {
        let mut pq = ProcessQueue::default();
        assert_eq!(pq.committable(), None);
        pq.put(msg(7));
        pq.remove(7);
        assert_eq!(pq.committable(), Some(8));
    }

    #[test]
    fn bytes_and_span_follow_what_is_in_flight() {
        let mut pq = ProcessQueue::default();
        pq.put(msg(1));
        pq.put(msg(5));
        assert_eq!(pq.bytes(), 8);
        assert_eq!(pq.span(), 4);
        pq.remove(1);
        assert_eq!(pq.bytes(), 4);
        assert_eq!(pq.span(), 0);
    }
}
