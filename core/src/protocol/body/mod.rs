//! JSON command bodies (PROTOCOL.md §4): heartbeat, cluster info, consumer
//! lists, queue locks and offset resets.
//!
//! Bodies the client sends are written exactly as fastjson writes them
//! (field names quoted and alphabetical, nulls omitted, enums by name, sets
//! as arrays). Bodies the client reads go through the tolerant
//! [`crate::protocol::json`] reader, so fastjson's unquoted integer keys and
//! object keys are accepted.

mod admin;
mod cluster;
mod heartbeat;
mod lock;
mod reset_offset;

pub use admin::{Connection, ConsumeStats, ConsumerConnection, KvTable, OffsetWrapper, TopicList};
pub use cluster::{ClusterInfo, ConsumerListBody};
pub use heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, ExpressionType, HeartbeatData, MessageModel,
    ProducerData, SubscriptionData, SUB_ALL,
};
pub use lock::{LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody};
pub use reset_offset::ResetOffsetBody;

use alloc::string::String;

use crate::protocol::json::{JsonError, JsonValue};
use crate::route::RouteError;

/// A JSON body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is not JSON (even by fastjson's rules).
    #[error(transparent)]
    Json(#[from] JsonError),
    /// A required field is absent (or `null`).
    #[error("body field `{field}` is missing")]
    Missing {
        /// The JSON field name.
        field: &'static str,
    },
    /// A field is present with the wrong type or an out-of-range value.
    #[error("body field `{field}` has an invalid value")]
    Invalid {
        /// The JSON field name.
        field: &'static str,
    },
}

impl From<RouteError> for BodyError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::Json(e) => BodyError::Json(e),
            RouteError::Missing { field } => BodyError::Missing { field },
            RouteError::Invalid { field } => BodyError::Invalid { field },
        }
    }
}

/// The member `key`, treating `null` as absent.
fn present<'a>(v: &'a JsonValue, key: &str) -> Option<&'a JsonValue> {
    v.get(key).filter(|x| !x.is_null())
}

/// Checks that `v` is an object, naming `what` otherwise.
fn object(v: &JsonValue, what: &'static str) -> Result<(), BodyError> {
    match v.as_object() {
        Some(_) => Ok(()),
        None => Err(BodyError::Invalid { field: what }),
    }
}

/// The array `field` of `v`; absent or `null` is empty.
fn list<'a>(v: &'a JsonValue, field: &'static str) -> Result<&'a [JsonValue], BodyError> {
    match present(v, field) {
        None => Ok(&[]),
        Some(x) => x.as_array().ok_or(BodyError::Invalid { field }),
    }
}

/// A JSON string element, as an owned `String`.
fn string_item(v: &JsonValue, field: &'static str) -> Result<String, BodyError> {
    v.as_str()
        .map(String::from)
        .ok_or(BodyError::Invalid { field })
}
