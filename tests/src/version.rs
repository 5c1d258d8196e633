//! The pinned Apache RocketMQ versions and the two server roles.

use std::fmt;
use std::str::FromStr;

use crate::HarnessError;

/// Which Apache RocketMQ line a cluster runs.
///
/// The exact versions are pinned (see [`BrokerVersion::maven_version`]) and
/// resolved from Maven Central with the poms in `tests/maven/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerVersion {
    /// The 5.x line: 5.5.0, the newest 5.x whose artifacts are all on Maven
    /// Central and that runs on Java 17 (5.5.1's `rocketmq-client` jar is missing).
    V5,
    /// The 4.9.x line: 4.9.7 (4.9.8 was never published to Maven Central).
    V4,
}

impl BrokerVersion {
    /// Both versions, newest first.
    pub const ALL: [BrokerVersion; 2] = [BrokerVersion::V5, BrokerVersion::V4];

    /// The pinned Maven version string.
    pub fn maven_version(self) -> &'static str {
        match self {
            BrokerVersion::V5 => "5.5.0",
            BrokerVersion::V4 => "4.9.7",
        }
    }

    /// The major version as given on the command line (`5` or `4`).
    pub fn major(self) -> u8 {
        match self {
            BrokerVersion::V5 => 5,
            BrokerVersion::V4 => 4,
        }
    }

    /// Default namesrv port: 9876 for 5.x, 9886 for 4.9.x (both can run at once).
    pub fn default_namesrv_port(self) -> u16 {
        match self {
            BrokerVersion::V5 => 9876,
            BrokerVersion::V4 => 9886,
        }
    }

    /// Default broker listen port: 10911 for 5.x, 10921 for 4.9.x. The broker
    /// also binds `port - 2` (fast/VIP channel) and `port + 1` (HA).
    pub fn default_broker_port(self) -> u16 {
        match self {
            BrokerVersion::V5 => 10911,
            BrokerVersion::V4 => 10921,
        }
    }

    /// The environment variable that carries this version's namesrv address
    /// into `cargo test` (`RMQ_TEST_NAMESRV_V5` / `RMQ_TEST_NAMESRV_V4`).
    pub fn env_var(self) -> &'static str {
        match self {
            BrokerVersion::V5 => "RMQ_TEST_NAMESRV_V5",
            BrokerVersion::V4 => "RMQ_TEST_NAMESRV_V4",
        }
    }
}

impl fmt::Display for BrokerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RocketMQ {}", self.maven_version())
    }
}

impl FromStr for BrokerVersion {
    type Err = HarnessError;

    /// Accepts `5`, `v5`, `5.x` or the pinned `5.5.0` (and the same for 4).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        match s {
            "5" | "5.x" => Ok(BrokerVersion::V5),
            "4" | "4.x" | "4.9" | "4.9.x" => Ok(BrokerVersion::V4),
            other if other == BrokerVersion::V5.maven_version() => Ok(BrokerVersion::V5),
            other if other == BrokerVersion::V4.maven_version() => Ok(BrokerVersion::V4),
            other => Err(HarnessError::Invalid(format!(
                "unknown broker version `{other}`: use 5 ({}) or 4 ({})",
                BrokerVersion::V5.maven_version(),
                BrokerVersion::V4.maven_version()
            ))),
        }
    }
}

/// One of the two JVM processes of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `org.apache.rocketmq.namesrv.NamesrvStartup`.
    Namesrv,
    /// `org.apache.rocketmq.broker.BrokerStartup`.
    Broker,
}

impl Role {
    /// `namesrv` or `broker` (also the Maven artifact suffix and file stem).
    pub fn name(self) -> &'static str {
        match self {
            Role::Namesrv => "namesrv",
            Role::Broker => "broker",
        }
    }

    /// The Java main class.
    pub fn main_class(self) -> &'static str {
        match self {
            Role::Namesrv => "org.apache.rocketmq.namesrv.NamesrvStartup",
            Role::Broker => "org.apache.rocketmq.broker.BrokerStartup",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_major_and_pinned_versions() {
        assert_eq!("5".parse::<BrokerVersion>().ok(), Some(BrokerVersion::V5));
        assert_eq!("v4".parse::<BrokerVersion>().ok(), Some(BrokerVersion::V4));
        assert_eq!(
            "4.9.7".parse::<BrokerVersion>().ok(),
            Some(BrokerVersion::V4)
        );
        assert!("3".parse::<BrokerVersion>().is_err());
    }

    #[test]
    fn default_ports_do_not_overlap_between_versions() {
        let v5 = BrokerVersion::V5.default_broker_port();
        let v4 = BrokerVersion::V4.default_broker_port();
        assert!(v5.abs_diff(v4) > 3);
        assert_ne!(
            BrokerVersion::V5.default_namesrv_port(),
            BrokerVersion::V4.default_namesrv_port()
        );
    }
}
