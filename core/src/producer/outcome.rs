//! What a send reports: its id, its acknowledgement, or why it failed.

use alloc::string::String;

use crate::message::ValidationError;
use crate::route::MessageQueue;

/// Identifies a send started with [`super::Producer::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SendId(pub u64);

/// How the broker stored an acknowledged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Stored (and flushed/replicated as configured).
    Ok,
    /// Stored, but the synchronous disk flush timed out (code 10).
    FlushDiskTimeout,
    /// Stored, but the slave did not confirm in time (code 12).
    FlushSlaveTimeout,
    /// Stored, but no slave is available (code 11).
    SlaveNotAvailable,
}

/// The broker's acknowledgement of a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// How the message was stored.
    pub status: SendStatus,
    /// The client-generated unique id (UNIQ_KEY); comma-separated for a batch.
    pub msg_id: String,
    /// The broker's offset message id (store host + commit-log offset);
    /// comma-separated for a batch.
    pub offset_msg_id: String,
    /// The queue the message went to.
    pub queue: MessageQueue,
    /// Offset of the (first) message in its queue.
    pub queue_offset: i64,
    /// Transaction id, when the broker returned one.
    pub transaction_id: Option<String>,
    /// The broker's region (`MSG_REGION`), when sent.
    pub region_id: Option<String>,
    /// Whether the broker lets the send be traced: false only when it
    /// answered `TRACE_ON=false` (broker config `traceOn`; Java
    /// `SendResult.isTraceOn`).
    pub trace_on: bool,
}

/// The outcome of a successful send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendReceipt {
    /// A synchronous send the broker acknowledged.
    Acknowledged(SendResult),
    /// A oneway send whose bytes were handed to the host for writing; no
    /// acknowledgement exists.
    Written {
        /// The client-generated unique id.
        msg_id: String,
        /// The queue it was written to.
        queue: MessageQueue,
    },
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
    /// The request could not be encoded (a header over 16 MiB).
    #[error("send cannot be encoded: {reason}")]
    Unencodable {
        /// Why.
        reason: String,
    },
    /// The client is shutting down or shut down.
    #[error("producer is not running")]
    NotRunning,
}
