//! What a host knows and the core turns into configuration: name-server
//! lists, the client's identity, and the host-side policies (connect
//! timeout, read size) as data; the write backlog's bound is the engine's
//! ([`crate::engine::ClientConfig::max_write_backlog`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;
use core::time::Duration;

use super::Error;
use crate::engine::ClientConfig;

/// Splits a `;`-separated name-server list (Java's `namesrvAddr` and
/// `NAMESRV_ADDR` format), dropping blanks.
///
/// ```
/// use rmq_core::client::parse_name_servers;
/// assert_eq!(parse_name_servers(" a:9876; b:9876 ;"), ["a:9876", "b:9876"]);
/// ```
pub fn parse_name_servers(list: &str) -> Vec<String> {
    list.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The configured name servers, or else those of `NAMESRV_ADDR` (the
/// host passes the variable's value, if set); an error when neither has one.
pub fn name_servers_or_env(
    configured: Vec<String>,
    env: Option<&str>,
) -> Result<Vec<String>, Error> {
    if !configured.is_empty() {
        return Ok(configured);
    }
    let from_env = env.map(parse_name_servers).unwrap_or_default();
    if from_env.is_empty() {
        return Err(Error::Config(String::from(
            "no name server: call name_server() or set NAMESRV_ADDR",
        )));
    }
    Ok(from_env)
}

/// Facts about the process only the host can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// The address put in client ids and unique message ids. Java: the
    /// first non-loopback IPv4; a host that cannot list interfaces passes
    /// loopback (uniqueness then comes from the instance name).
    pub ip: IpAddr,
    /// The process id.
    pub pid: u32,
    /// Wall-clock nanoseconds since the Unix epoch at start.
    pub unix_nanos: u128,
}

/// Fills the identity of `config` from `facts`: address, pid, the client id
/// `ip@instance` (instance default `pid#nanos`, unique per process like
/// Java's) and the seed of everything random.
pub fn identify(config: &mut ClientConfig, facts: &HostFacts, instance: Option<&str>) {
    let instance = match instance {
        Some(name) => String::from(name),
        None => alloc::format!("{}#{}", facts.pid, facts.unix_nanos),
    };
    config.client_ip = facts.ip;
    config.pid = facts.pid;
    config.client_id = alloc::format!("{}@{}", facts.ip, instance);
    config.seed = (facts.unix_nanos as u64) ^ (u64::from(facts.pid) << 32);
}

/// How a host treats its sockets: data, so every host applies the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPolicy {
    /// How long a TCP (or bridged) connect may take before the host
    /// reports it closed. Java: `connectTimeoutMillis` = 3 s.
    pub connect_timeout: Duration,
    /// Read buffer size per connection.
    pub read_chunk: usize,
}

impl Default for HostPolicy {
    fn default() -> Self {
        HostPolicy {
            connect_timeout: Duration::from_secs(3),
            read_chunk: 64 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn env_name_servers_are_used_only_when_none_are_configured() {
        let configured = alloc::vec![String::from("a:1")];
        assert_eq!(
            name_servers_or_env(configured, Some("b:2")).unwrap(),
            ["a:1"]
        );
        assert_eq!(
            name_servers_or_env(Vec::new(), Some("b:2;c:3")).unwrap(),
            ["b:2", "c:3"]
        );
    }

    #[test]
    fn no_name_server_anywhere_is_a_config_error() {
        assert!(matches!(
            name_servers_or_env(Vec::new(), Some(" ; ")),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            name_servers_or_env(Vec::new(), None),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn the_client_id_is_ip_at_instance() {
        let facts = HostFacts {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
            pid: 42,
            unix_nanos: 99,
        };
        let mut config = ClientConfig::default();
        identify(&mut config, &facts, None);
        assert_eq!(config.client_id, "10.0.0.7@42#99");
        identify(&mut config, &facts, Some("orders"));
        assert_eq!(config.client_id, "10.0.0.7@orders");
        assert_eq!(config.pid, 42);
    }
}
