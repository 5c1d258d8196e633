//! The host's clocks, turned into what the core takes as arguments.

use std::time::{SystemTime, UNIX_EPOCH};

use rmq_core::producer::WallClock;
use rmq_core::time::Instant;

/// Maps tokio's monotonic clock onto the engine's millisecond [`Instant`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct MonotonicClock {
    origin: tokio::time::Instant,
}

impl MonotonicClock {
    pub(crate) fn new() -> Self {
        MonotonicClock {
            origin: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    pub(crate) fn to_tokio(self, at: Instant) -> tokio::time::Instant {
        self.origin + std::time::Duration::from_millis(at.as_millis())
    }
}

/// The wall clock now: the born timestamp and the unique-id month origin
/// (UTC; brokers never parse the id's time, so the time zone does not matter).
pub(crate) fn wall_clock() -> WallClock {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    WallClock {
        now_ms,
        month_start_ms: month_start_utc_ms(now_ms),
    }
}

/// Milliseconds since the epoch of 00:00 UTC on the first of `unix_ms`'s month.
pub(crate) fn month_start_utc_ms(unix_ms: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    let days = unix_ms.div_euclid(DAY_MS);
    let (_, _, day) = civil_from_days(days);
    (days - (day as i64 - 1)) * DAY_MS
}

/// Howard Hinnant's days-to-civil algorithm: (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_start_of_a_mid_month_instant_is_the_first_at_midnight() {
        // 2026-11-27T04:08:54Z → 2026-11-01T00:00:00Z
        assert_eq!(month_start_utc_ms(1_795_752_534_000), 1_793_491_200_000);
    }

    #[test]
    fn month_start_of_the_first_millisecond_is_itself() {
        assert_eq!(month_start_utc_ms(1_793_491_200_000), 1_793_491_200_000);
    }
}
