//! What the engine reports to its host.

use alloc::string::String;

use crate::protocol::RemotingCommand;
use crate::route::MessageQueue;

use super::connections::ConnId;
use super::error::{RequestError, SendError};

/// Identifies a send started with [`super::Engine::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SendId(pub u64);

/// Identifies a raw request started with [`super::Engine::request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

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

/// Something the host must act on or deliver to the user.
#[derive(Debug)]
pub enum Event {
    /// A send finished, successfully or not.
    SendDone {
        /// Which send.
        id: SendId,
        /// Its outcome.
        result: Result<SendReceipt, SendError>,
    },
    /// A raw request finished.
    RequestDone {
        /// Which request.
        id: RequestId,
        /// The response, or why there is none.
        result: Result<RemotingCommand, RequestError>,
    },
    /// A broker sent a request the engine does not handle itself; answer it
    /// with [`super::Engine::respond`] unless it is oneway.
    BrokerRequest {
        /// The connection it came on.
        conn: ConnId,
        /// The request.
        command: RemotingCommand,
    },
    /// `shutdown` finished: every connection is closed.
    ShutdownComplete,
}
