//! Bridge configuration and target addresses.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::BridgeError;

/// What the bridge accepts and where it may connect.
///
/// Build one with [`BridgeConfig::default`] and set fields; [`super::Server::new`]
/// validates it. Every limit has a default suitable for a small deployment.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Name servers (`host:port`). Always allowed as targets; the bridge
    /// reads their GET_ROUTEINFO_BY_TOPIC (105) and GET_BROKER_CLUSTER_INFO
    /// (106) answers and allows the broker addresses in them.
    pub name_servers: Vec<String>,
    /// Further allowed targets (`host:port`), e.g. a 5.x proxy.
    pub allow: Vec<String>,
    /// Bearer token every request must carry (`Authorization: Bearer …` or
    /// the `token` query parameter). `None`: no token needed.
    pub token: Option<String>,
    /// Allowed `Origin` header values (`scheme://host[:port]`). Empty: any
    /// origin, or none, is accepted.
    pub allowed_origins: Vec<String>,
    /// Open connections in all (handshakes included). Default 1024.
    pub max_connections: usize,
    /// Open connections per client IP address (handshakes included).
    /// Default 64.
    pub max_connections_per_ip: usize,
    /// A connection with no traffic in either direction for this long is
    /// closed. Default 120 s (brokers close idle connections after 120 s).
    pub idle_timeout: Duration,
    /// Largest WebSocket message (and frame) accepted from a client, in
    /// bytes; a larger one closes the connection with 1009. Default 8 MiB
    /// (a 4 MiB message body plus its header fits).
    pub max_message_size: usize,
    /// Time allowed to connect to a target. Default 5 s.
    pub connect_timeout: Duration,
    /// Time allowed for the TLS and WebSocket handshakes. Default 10 s.
    pub handshake_timeout: Duration,
    /// Learned broker addresses kept at most. Default 4096.
    pub max_learned: usize,
    /// A learned broker address not seen again in a name-server answer for
    /// this long is forgotten. Default 1 h.
    pub learned_ttl: Duration,
    /// Serve `wss` with this certificate chain and key. `None`: plain `ws`.
    pub tls: Option<TlsFiles>,
}

/// PEM files for `wss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            name_servers: Vec::new(),
            allow: Vec::new(),
            token: None,
            allowed_origins: Vec::new(),
            max_connections: 1024,
            max_connections_per_ip: 64,
            idle_timeout: Duration::from_secs(120),
            max_message_size: 8 << 20,
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            max_learned: 4096,
            learned_ttl: Duration::from_secs(3600),
            tls: None,
        }
    }
}

/// Smallest accepted [`BridgeConfig::max_message_size`].
pub const MIN_MESSAGE_SIZE: usize = 1024;

impl BridgeConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), BridgeError> {
        let bad = |m: String| Err(BridgeError::Config(m));
        if self.name_servers.is_empty() && self.allow.is_empty() {
            return bad("no targets: configure a name server or an allowed host:port".into());
        }
        for a in self.name_servers.iter().chain(&self.allow) {
            TargetAddr::parse(a).map_err(|e| BridgeError::Config(format!("target `{a}`: {e}")))?;
        }
        if let Some(t) = &self.token {
            if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return bad(
                    "the token must be non-empty, without spaces or control characters".into(),
                );
            }
        }
        for o in &self.allowed_origins {
            if normalize_origin(o).is_none() {
                return bad(format!("origin `{o}`: expected scheme://host[:port]"));
            }
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return bad("connection limits must be at least 1".into());
        }
        if self.max_message_size < MIN_MESSAGE_SIZE {
            return bad(format!(
                "max message size must be at least {MIN_MESSAGE_SIZE} bytes"
            ));
        }
        for (name, d) in [
            ("idle timeout", self.idle_timeout),
            ("connect timeout", self.connect_timeout),
            ("handshake timeout", self.handshake_timeout),
            ("learned-address TTL", self.learned_ttl),
        ] {
            if d.is_zero() {
                return bad(format!("{name} must be above zero"));
            }
        }
        Ok(())
    }
}

/// `scheme://host[:port]`, lower-cased, without a trailing slash; `None`
/// when it does not look like an origin.
pub(crate) fn normalize_origin(origin: &str) -> Option<String> {
    let o = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = o.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let rest_ok = !rest.is_empty() && !rest.contains(['/', '?', '#', ' ', '@']);
    (scheme_ok && rest_ok).then_some(o)
}

/// A TCP target in canonical form: an IP address as the standard library
/// prints it, or a lower-case host name, and a port.
///
/// Two spellings of one IP address compare equal (`[0:0::1]:9876` and
/// `[::1]:9876`); a host name and an IP address never do, even when one
/// resolves to the other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetAddr {
    host: String,
    port: u16,
}

impl TargetAddr {
    /// Parses `host:port`, `a.b.c.d:port` or `[ipv6]:port`.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (ip, port) = rest.split_once("]:").ok_or("expected [ipv6]:port")?;
            let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| "bad IPv6 address")?;
            (ip.to_string(), port)
        } else {
            let (host, port) = s.rsplit_once(':').ok_or("expected host:port")?;
            if host.contains(':') {
                return Err("an IPv6 address needs brackets: [addr]:port");
            }
            let host = match host.parse::<IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => {
                    if !valid_host_name(host) {
                        return Err("bad host name");
                    }
                    host.to_ascii_lowercase()
                }
            };
            (host, port)
        };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err("bad port");
        }
        let port: u16 = port.parse().map_err(|_| "bad port")?;
        if port == 0 {
            return Err("port 0");
        }
        Ok(TargetAddr { host, port })
    }

    /// The host (an IP address without brackets, or a host name).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn valid_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_canonical() {
        let t = TargetAddr::parse("127.0.0.1:9876").unwrap();
        assert_eq!(t.to_string(), "127.0.0.1:9876");
        assert_eq!(
            TargetAddr::parse("[0:0::1]:10911").unwrap(),
            TargetAddr::parse("[::1]:10911").unwrap()
        );
        assert_eq!(
            TargetAddr::parse("[::1]:10911").unwrap().to_string(),
            "[::1]:10911"
        );
        assert_eq!(
            TargetAddr::parse("NameSrv.Local:9876").unwrap().host(),
            "namesrv.local"
        );
    }

    #[test]
    fn bad_targets_are_rejected() {
        for s in [
            "",
            "host",
            "host:",
            "host:0",
            "host:65536",
            "host:+1",
            "::1:9876",
            "[::1]9876",
            "a b:1",
            "a/b:1",
            "-a:1",
            "h@x:1",
        ] {
            assert!(TargetAddr::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn origins_are_normalized() {
        assert_eq!(
            normalize_origin("HTTPS://App.Example:8443/").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(normalize_origin("app.example"), None);
        assert_eq!(normalize_origin("https://a/b"), None);
    }

    #[test]
    fn config_needs_a_target() {
        assert!(BridgeConfig::default().validate().is_err());
        let c = BridgeConfig {
            name_servers: vec!["127.0.0.1:9876".into()],
            ..BridgeConfig::default()
        };
        c.validate().unwrap();
    }
}
