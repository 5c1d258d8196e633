//! The target allowlist: configured name servers, explicit entries, and
//! broker addresses learned from the name servers' answers.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::config::TargetAddr;

/// Why a target is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A configured name server: its answers are read to learn brokers.
    NameServer,
    /// A configured `host:port`.
    Explicit,
    /// A broker address a name server named in a route or cluster answer.
    Learned,
}

/// Which targets the bridge may connect to. Shared by all connections.
#[derive(Debug)]
pub struct Allowlist {
    name_servers: HashSet<TargetAddr>,
    explicit: HashSet<TargetAddr>,
    learned: Mutex<HashMap<TargetAddr, Instant>>,
    max_learned: usize,
    ttl: Duration,
}

impl Allowlist {
    /// An allowlist of `name_servers` and `explicit` entries, learning at
    /// most `max_learned` brokers, each forgotten `ttl` after it was last
    /// seen.
    pub fn new(
        name_servers: impl IntoIterator<Item = TargetAddr>,
        explicit: impl IntoIterator<Item = TargetAddr>,
        max_learned: usize,
        ttl: Duration,
    ) -> Self {
        Allowlist {
            name_servers: name_servers.into_iter().collect(),
            explicit: explicit.into_iter().collect(),
            learned: Mutex::new(HashMap::new()),
            max_learned,
            ttl,
        }
    }

    /// Whether `target` is allowed now, and why.
    pub fn check(&self, target: &TargetAddr) -> Option<TargetKind> {
        if self.name_servers.contains(target) {
            return Some(TargetKind::NameServer);
        }
        if self.explicit.contains(target) {
            return Some(TargetKind::Explicit);
        }
        let now = Instant::now();
        let mut learned = self.lock();
        match learned.get(target) {
            Some(seen) if now.duration_since(*seen) < self.ttl => Some(TargetKind::Learned),
            Some(_) => {
                learned.remove(target);
                None
            }
            None => None,
        }
    }

    /// Records broker addresses a name server named; returns those that were
    /// not allowed before. Unparsable addresses and configured targets are
    /// skipped; addresses already learned are refreshed. When the table is
    /// full, expired entries go first, then the least recently seen.
    pub fn learn<'a>(&self, addrs: impl IntoIterator<Item = &'a str>) -> Vec<TargetAddr> {
        let now = Instant::now();
        let mut fresh = Vec::new();
        let mut learned = self.lock();
        for addr in addrs {
            let Ok(t) = TargetAddr::parse(addr) else {
                tracing::debug!(addr, "ignoring an unparsable broker address");
                continue;
            };
            if self.name_servers.contains(&t) || self.explicit.contains(&t) {
                continue;
            }
            if let Some(seen) = learned.get_mut(&t) {
                *seen = now;
                continue;
            }
            if self.max_learned == 0 {
                continue;
            }
            if learned.len() >= self.max_learned {
                let ttl = self.ttl;
                learned.retain(|_, seen| now.duration_since(*seen) < ttl);
            }
            if learned.len() >= self.max_learned {
                let oldest = learned
                    .iter()
                    .min_by_key(|(_, seen)| **seen)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    tracing::warn!(evicted = %oldest, "learned-address table full");
                    learned.remove(&oldest);
                }
            }
            learned.insert(t.clone(), now);
            fresh.push(t);
        }
        fresh
    }

    /// The learned addresses still allowed, sorted.
    pub fn learned(&self) -> Vec<TargetAddr> {
        let now = Instant::now();
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .filter(|(_, seen)| now.duration_since(**seen) < self.ttl)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TargetAddr, Instant>> {
        // The map stays consistent whatever panicked while holding it.
        self.learned.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TargetAddr {
        TargetAddr::parse(s).unwrap()
    }

    fn list(max: usize, ttl: Duration) -> Allowlist {
        Allowlist::new([t("10.0.0.1:9876")], [t("10.0.0.2:8081")], max, ttl)
    }

    #[test]
    fn configured_targets_are_allowed_and_others_not() {
        let a = list(8, Duration::from_secs(60));
        assert_eq!(a.check(&t("10.0.0.1:9876")), Some(TargetKind::NameServer));
        assert_eq!(a.check(&t("10.0.0.2:8081")), Some(TargetKind::Explicit));
        assert_eq!(a.check(&t("10.0.0.1:22")), None);
    }

    #[test]
    fn learned_addresses_are_allowed_once() {
        let a = list(8, Duration::from_secs(60));
        let fresh = a.learn(["10.0.0.5:10911", "bad", "10.0.0.1:9876", "10.0.0.5:10911"]);
        assert_eq!(fresh, [t("10.0.0.5:10911")]);
        assert_eq!(a.check(&t("10.0.0.5:10911")), Some(TargetKind::Learned));
        assert_eq!(a.learned(), [t("10.0.0.5:10911")]);
    }

    #[test]
    fn learned_addresses_expire() {
        let a = list(8, Duration::from_millis(1));
        a.learn(["10.0.0.5:10911"]);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(a.check(&t("10.0.0.5:10911")), None);
    }

    #[test]
    fn a_full_table_evicts_the_oldest() {
        let a = list(2, Duration::from_secs(60));
        a.learn(["10.0.0.5:1"]);
        std::thread::sleep(Duration::from_millis(2));
        a.learn(["10.0.0.5:2"]);
        std::thread::sleep(Duration::from_millis(2));
        a.learn(["10.0.0.5:3"]);
        assert_eq!(a.learned(), [t("10.0.0.5:2"), t("10.0.0.5:3")]);
    }
}
