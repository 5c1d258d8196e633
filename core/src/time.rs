//! Time as the engine sees it: a monotonic millisecond counter supplied by the
//! host. The core never reads a clock.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the host's monotonic clock, in milliseconds since an arbitrary
/// origin the host chooses (typically the moment it created the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the host's clock.
    pub const ZERO: Instant = Instant(0);

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ms))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_sub(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_duration_moves_forward_in_milliseconds() {
        assert_eq!(
            Instant::from_millis(5) + Duration::from_secs(1),
            Instant::from_millis(1005)
        );
    }

    #[test]
    fn duration_since_a_later_instant_is_zero() {
        let a = Instant::from_millis(10);
        assert_eq!(
            a.saturating_duration_since(Instant::from_millis(20)),
            Duration::ZERO
        );
    }
}
