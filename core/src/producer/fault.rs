//! Latency-based fault avoidance, after the Java client's `MQFaultStrategy`:
//! a broker that answered slowly, or failed, is avoided for a while.

use alloc::string::String;

use crate::collections::VecMap;
use crate::time::Instant;

/// Latency thresholds (ms) and how long a broker at or above each is avoided
/// (ms); the Java client's `latencyMax` / `notAvailableDuration`.
const LATENCY_MAX: [u64; 7] = [50, 100, 550, 1000, 2000, 3000, 15000];
const NOT_AVAILABLE_FOR: [u64; 7] = [0, 0, 30000, 60000, 120000, 180000, 600000];
/// A failure counts as this latency (Java: 30 s on isolation).
const ISOLATION_LATENCY: u64 = 30000;

/// Per-broker availability.
#[derive(Debug, Default, Clone)]
pub struct FaultTracker {
    available_from: VecMap<String, Instant>,
}

impl FaultTracker {
    /// Records the outcome of a send to `broker`: its latency, or a failure.
    pub fn record(&mut self, broker: &str, latency_ms: u64, failed: bool, now: Instant) {
        let latency = if failed {
            ISOLATION_LATENCY
        } else {
            latency_ms
        };
        let pause = LATENCY_MAX
            .iter()
            .zip(NOT_AVAILABLE_FOR.iter())
            .rev()
            .find(|(max, _)| latency >= **max)
            .map(|(_, pause)| *pause)
            .unwrap_or(0);
        let until = Instant::from_millis(now.as_millis().saturating_add(pause));
        match self.available_from.get_mut(broker) {
            Some(slot) => *slot = until,
            None => {
                self.available_from.insert(String::from(broker), until);
            }
        }
    }

    /// True unless `broker` is still being avoided at `now`.
    pub fn is_available(&self, broker: &str, now: Instant) -> bool {
        self.available_from.get(broker).is_none_or(|t| *t <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_broker_stays_available() {
        let mut f = FaultTracker::default();
        f.record("b", 20, false, Instant::from_millis(0));
        assert!(f.is_available("b", Instant::from_millis(0)));
    }

    #[test]
    fn a_failed_broker_is_avoided_for_ten_minutes() {
        let mut f = FaultTracker::default();
        f.record("b", 5, true, Instant::from_millis(1000));
        assert!(!f.is_available("b", Instant::from_millis(1000 + 599_999)));
        assert!(f.is_available("b", Instant::from_millis(1000 + 600_000)));
    }

    #[test]
    fn a_slow_broker_is_avoided_for_thirty_seconds() {
        let mut f = FaultTracker::default();
        f.record("b", 600, false, Instant::from_millis(0));
        assert!(!f.is_available("b", Instant::from_millis(29_999)));
        assert!(f.is_available("b", Instant::from_millis(30_000)));
    }
}
