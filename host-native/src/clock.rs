//! The host's clocks, turned into what the core takes as arguments.

use std::time::{SystemTime, UNIX_EPOCH};

use rmq_core::client::HostFacts;
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

    /// `at` on tokio's clock; a deadline past its range (the core saturates
    /// at `u64::MAX` ms) is about 30 years away, as tokio's own far future.
    pub(crate) fn to_tokio(self, at: Instant) -> tokio::time::Instant {
        let far = std::time::Duration::from_secs(86_400 * 365 * 30);
        let after = std::time::Duration::from_millis(at.as_millis()).min(far);
        self.origin + after
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The wall clock now.
pub(crate) fn wall_clock() -> WallClock {
    WallClock::from_unix_ms((unix_nanos() / 1_000_000) as i64)
}

/// What this process can say about itself. std cannot list interfaces, so
/// the address is loopback; ids stay unique through the instance name.
pub(crate) fn host_facts() -> HostFacts {
    HostFacts {
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        pid: std::process::id(),
        unix_nanos: unix_nanos(),
    }
}
