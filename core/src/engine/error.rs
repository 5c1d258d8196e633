//! Typed errors the engine reports.

use alloc::string::String;

/// Why a raw request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No response before the deadline.
    #[error("request to {addr} timed out")]
    Timeout {
        /// The peer.
        addr: String,
    },
    /// The connection failed or closed before the response arrived.
    #[error("connection to {addr} failed: {reason}")]
    Connection {
        /// The peer.
        addr: String,
        /// What the host or decoder reported.
        reason: String,
    },
    /// The engine is shutting down or shut down.
    #[error("client is shut down")]
    ShutDown,
    /// The request cannot be encoded (a header over 16 MiB).
    #[error("request cannot be encoded: {reason}")]
    Unencodable {
        /// Why.
        reason: String,
    },
    /// No name server is configured.
    #[error("no name server address configured")]
    NoNameServer,
}
