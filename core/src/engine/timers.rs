//! One table of timers, keyed by what each is for (quinn-proto's
//! `TimerTable`): the engine's own periodic work and every role's.
//! [`super::Engine::poll_timeout`] is the minimum of this table and the
//! earliest request deadline.

use super::role::RoleId;
use crate::collections::VecMap;
use crate::time::Instant;

/// What a timer is for. The engine owns the first three; roles arm the
/// rest through [`super::Context::set_timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// Heartbeat to every broker in use (engine).
    Heartbeat,
    /// Re-query every watched route (engine).
    RouteRefresh,
    /// The bound on a shutdown (engine).
    ShutdownDeadline,
    /// The earliest deadline of a role's own operations (a producer's sends,
    /// the client layer's request guard).
    OperationDeadline,
    /// A consumer's next rebalance.
    Rebalance,
    /// A consumer's next offset persist.
    OffsetPersist,
    /// A consumer's next delayed pull.
    PullBackoff,
    /// An orderly consumer's lock renewal.
    LockRenewal,
}

/// Whose timer: the engine's, or one role's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerOwner {
    /// The engine itself.
    Engine,
    /// A registered role.
    Role(RoleId),
}

/// A timer's identity: at most one deadline per owner and kind.
pub type TimerKey = (TimerOwner, TimerKind);

/// Deadlines by [`TimerKey`].
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: VecMap<TimerKey, Instant>,
}

impl TimerTable {
    /// Arms `key` at `at`, or disarms it with `None`.
    pub(crate) fn set(&mut self, key: TimerKey, at: Option<Instant>) {
        match at {
            Some(at) => {
                self.deadlines.insert(key, at);
            }
            None => {
                self.deadlines.remove(&key);
            }
        }
    }

    /// When `key` fires, if armed.
    pub(crate) fn get(&self, key: TimerKey) -> Option<Instant> {
        self.deadlines.get(&key).copied()
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.values().copied().min()
    }

    /// Disarms and returns one timer due at `now`, earliest first.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<TimerKey> {
        let (key, _) = self
            .deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .min_by_key(|(_, at)| **at)?;
        let key = *key;
        self.deadlines.remove(&key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HB: TimerKey = (TimerOwner::Engine, TimerKind::Heartbeat);
    const RR: TimerKey = (TimerOwner::Engine, TimerKind::RouteRefresh);

    #[test]
    fn next_is_the_earliest_armed_deadline() {
        let mut t = TimerTable::default();
        t.set(HB, Some(Instant::from_millis(30)));
        t.set(RR, Some(Instant::from_millis(10)));
        assert_eq!(t.next(), Some(Instant::from_millis(10)));
    }

    #[test]
    fn expired_timers_pop_earliest_first_and_disarm() {
        let mut t = TimerTable::default();
        t.set(HB, Some(Instant::from_millis(20)));
        t.set(RR, Some(Instant::from_millis(10)));
        let now = Instant::from_millis(25);
        assert_eq!(t.pop_expired(now), Some(RR));
        assert_eq!(t.pop_expired(now), Some(HB));
        assert_eq!(t.pop_expired(now), None);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn rearming_a_key_replaces_its_deadline() {
        let mut t = TimerTable::default();
        t.set(HB, Some(Instant::from_millis(20)));
        t.set(HB, Some(Instant::from_millis(50)));
        assert_eq!(t.pop_expired(Instant::from_millis(30)), None);
        assert_eq!(t.get(HB), Some(Instant::from_millis(50)));
    }
}
