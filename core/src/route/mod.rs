//! Routes: the name server's `TopicRouteData`, message queues and the
//! publish/subscribe queue tables the Java client derives from them.
//!
//! - [`TopicRouteData::parse`] reads a GET_ROUTEINFO_BY_TOPIC body, standard
//!   JSON or fastjson's unquoted integer keys, `topicSysFlag` or the ≤ 4.8
//!   spelling `topicSynFlag`.
//! - [`RouteTable`] applies the Java client's rules: publish queues from
//!   writable brokers that have a master, in broker-name order (or exactly
//!   `orderTopicConf`); subscribe queues from readable brokers.
//! - [`MessageQueue`] orders and prints like Java's `MessageQueue`.

mod data;
mod queue;
mod table;

pub use data::{BrokerData, QueueData, TopicRouteData, MASTER_ID, MAX_ROUTE_QUEUES};
pub use queue::MessageQueue;
pub use table::{RouteTable, DEFAULT_TOPIC_QUEUE_NUMS};

use crate::protocol::json::JsonError;

/// Topic permission bits (Java `PermName`).
pub mod perm {
    /// Priority flag.
    pub const PRIORITY: i32 = 8;
    /// Readable: consumers may pull.
    pub const READ: i32 = 4;
    /// Writable: producers may send.
    pub const WRITE: i32 = 2;
    /// Inherit flag (template topics such as `TBW102`).
    pub const INHERIT: i32 = 1;

    /// True when `perm` has the [`READ`] bit.
    pub const fn is_readable(perm: i32) -> bool {
        perm & READ == READ
    }

    /// True when `perm` has the [`WRITE`] bit.
    pub const fn is_writeable(perm: i32) -> bool {
        perm & WRITE == WRITE
    }

    /// True when `perm` has the [`INHERIT`] bit.
    pub const fn is_inherited(perm: i32) -> bool {
        perm & INHERIT == INHERIT
    }

    /// True when `perm` has the [`PRIORITY`] bit.
    pub const fn is_priority(perm: i32) -> bool {
        perm & PRIORITY == PRIORITY
    }
}

/// A route body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The body is not JSON (even by fastjson's rules).
    #[error(transparent)]
    Json(#[from] JsonError),
    /// A required field is absent (or `null`).
    #[error("route field `{field}` is missing")]
    Missing {
        /// The JSON field name.
        field: &'static str,
    },
    /// A field is present with the wrong type or an out-of-range value.
    #[error("route field `{field}` has an invalid value")]
    Invalid {
        /// The JSON field name.
        field: &'static str,
    },
}
