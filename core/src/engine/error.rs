//! Typed errors the engine reports.

use alloc::string::String;

use crate::message::ValidationError;

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

/// Why a send failed. Nothing was stored unless the variant says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The message broke a rule; nothing was sent.
    #[error("invalid message: {0}")]
    Invalid(#[from] ValidationError),
    /// The name servers know no route for the topic (and none to create it).
    #[error("no route for topic {topic}: {reason}")]
    NoRoute {
        /// The topic.
        topic: String,
        /// What the name server said.
        reason: String,
    },
    /// No acknowledgement before the send deadline. The message may or may
    /// not have been stored.
    #[error("send timed out (last broker: {broker})")]
    Timeout {
        /// The broker of the last attempt, or `-` if none was reached.
        broker: String,
    },
    /// The broker refused the message.
    #[error("broker {broker} answered code {code}: {remark}")]
    Broker {
        /// The broker.
        broker: String,
        /// Response code (see `response_code`).
        code: i32,
        /// The broker's remark.
        remark: String,
    },
    /// The connection failed before an acknowledgement arrived.
    #[error("connection to {addr} failed: {reason}")]
    Connection {
        /// The broker address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The client is shut down, or was never given a producer role.
    #[error("producer is not running")]
    NotRunning,
}
