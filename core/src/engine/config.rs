//! Client-wide configuration, every default documented with its Java
//! equivalent.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::acl::AclCredentials;
use crate::protocol::{LanguageCode, SerializeType};

/// Settings shared by every role of one client instance.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Name-server addresses, `host:port`. Java: `namesrvAddr` / `NAMESRV_ADDR`.
    pub name_servers: Vec<String>,
    /// This client's id, `ip@instance`. Java: `MQClientInstance.clientId`.
    pub client_id: String,
    /// This host's address, for unique message ids. Java: the first public IPv4.
    pub client_ip: core::net::IpAddr,
    /// This process's id, for unique message ids.
    pub pid: u32,
    /// Deadline of an ordinary request. Java: 3 s (`sendMsgTimeout`,
    /// `mqClientApiTimeout`).
    pub request_timeout: Duration,
    /// Heartbeat period to every broker in use. Java: `heartbeatBrokerInterval` = 30 s.
    pub heartbeat_interval: Duration,
    /// Route refresh period. Java: `pollNameServerInterval` = 30 s.
    pub route_refresh_interval: Duration,
    /// Header serialization of requests. Java default: JSON; rmq: the
    /// ROCKETMQ binary header, which every broker since 4.0 decodes.
    pub serialize_type: SerializeType,
    /// Language code announced in every request. Java: `JAVA`.
    pub language: LanguageCode,
    /// Version ordinal announced in every request (>= 401 asks the name
    /// server for standard JSON routes). Java: its `MQVersion.CURRENT_VERSION`.
    pub version: i32,
    /// ACL 1.0 credentials; every request is signed when set.
    pub credentials: Option<AclCredentials>,
    /// Largest frame accepted from a peer. Java: 16 MiB.
    pub max_frame_len: usize,
    /// Seed for everything random (start index of name servers and queues).
    pub seed: u64,
    /// Bytes a connection may hold queued behind a full socket (see
    /// [`super::Engine::handle_write_blocked`]) before the engine gives up
    /// on the peer — it is not reading — closes the connection and fails
    /// its requests, instead of memory growing without bound.
    pub max_write_backlog: usize,
    /// Namespace applied to every topic and group name (`ns%name`, Java
    /// `ClientConfig.namespace` and [`crate::namespace`]): the client layer
    /// wraps what goes out and unwraps what the user sees.
    pub namespace: Option<String>,
    /// 5.x namespace v2 (Java `namespaceV2`): names stay as they are and
    /// every request carries ext fields `ns` = this and `nsd` = `true`.
    pub namespace_v2: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            name_servers: Vec::new(),
            client_id: String::from("127.0.0.1@DEFAULT"),
            client_ip: core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST),
            pid: 0,
            request_timeout: Duration::from_secs(3),
            heartbeat_interval: Duration::from_secs(30),
            route_refresh_interval: Duration::from_secs(30),
            serialize_type: SerializeType::RocketMq,
            language: LanguageCode::Rust,
            version: crate::protocol::DEFAULT_VERSION,
            credentials: None,
            max_frame_len: 16 * 1024 * 1024,
            seed: 0x5eed,
            max_write_backlog: 128 * 1024 * 1024,
            namespace: None,
            namespace_v2: None,
        }
    }
}
