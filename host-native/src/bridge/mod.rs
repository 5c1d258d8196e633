//! `rmq-bridge`: a WebSocket-to-TCP bridge so browsers and edge runtimes,
//! which cannot open TCP sockets, can reach RocketMQ name servers and
//! brokers.
//!
//! Each WebSocket connection is one TCP connection to the target named in
//! its path, `ws[s]://bridge/tcp/<host>:<port>` (IPv6 as `[addr]:port`,
//! percent-encoding accepted). Binary messages carry the TCP bytes both
//! ways, in any split: message boundaries mean nothing. A text message
//! closes the connection with 1008.
//!
//! # Security model
//!
//! A bridge turns every browser that can reach it into a TCP client, so it
//! connects only to an allowlist:
//!
//! - the configured name servers;
//! - explicit `host:port` entries;
//! - broker addresses the bridge itself read in those name servers' answers
//!   to GET_ROUTEINFO_BY_TOPIC (105) and GET_BROKER_CLUSTER_INFO (106),
//!   flowing back through the bridge. Requests are matched to answers by
//!   opaque and the RESPONSE flag; a malformed answer stops learning on that
//!   connection while the bytes keep flowing. A learned address is forgotten
//!   when no answer has named it for `learned_ttl`.
//!
//! Because a name server believes whatever a broker registers, clients may
//! not send broker or operator requests (REGISTER_BROKER and the others in
//! [`learn::DENIED_NAMESRV_CODES`]) to a name server through the bridge,
//! and a request stream to a name server that cannot be decoded closes the
//! connection (1008): what it asks for cannot be checked.
//!
//! Before the WebSocket upgrade a request is refused with one log line and
//! an HTTP status: 503 when `max_connections` are open, 429 when its IP has
//! `max_connections_per_ip` open, 401 for a missing or wrong token, 403 for
//! a disallowed `Origin` or target, 404 for another path, 400 for a path
//! that names no `host:port`.
//!
//! # Resources
//!
//! Each direction reads the next unit only after the other side accepted the
//! previous one, so a connection holds at most one client message
//! (`max_message_size`) plus fixed buffers ([`CHUNK`] each way, and on
//! name-server connections the [`learn`] inspector's bounded state). Connections are
//! closed after `idle_timeout` without traffic.
//!
//! ```no_run
//! # async fn run() -> Result<(), rmq::bridge::BridgeError> {
//! use rmq::bridge::{BridgeConfig, Server};
//! let config = BridgeConfig {
//!     name_servers: vec!["127.0.0.1:9876".into()],
//!     ..BridgeConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let server = Server::new(config, listener)?;
//! let stop = server.shutdown_handle();
//! tokio::spawn(async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     stop.shutdown();
//! });
//! server.run().await
//! # }
//! ```

mod allowlist;
mod config;
pub mod learn;
mod policy;
mod relay;
mod server;

pub use allowlist::{Allowlist, TargetKind};
pub use config::{BridgeConfig, TargetAddr, TlsFiles, MIN_MESSAGE_SIZE};
pub use policy::{Refusal, PATH_PREFIX};
pub use relay::{CHUNK, CLOSE_TIMEOUT};
pub use server::{serve_with_shutdown, Server, ShutdownHandle, MAX_REFUSING, SHUTDOWN_GRACE};

/// The bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// A configuration value is invalid.
    #[error("bad configuration: {0}")]
    Config(String),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// A socket operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Runs a bridge on `listener` until the process ends; use [`Server`] for a
/// bridge that can be stopped.
pub async fn serve(
    config: BridgeConfig,
    listener: tokio::net::TcpListener,
) -> Result<(), BridgeError> {
    Server::new(config, listener)?.run().await
}
