//! Offset headers: QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15),
//! SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30), GET_MIN_OFFSET (31)
//! and GET_EARLIEST_MSG_STORETIME (32).

use super::{RpcHeaderExtras, ToField};
use crate::protocol::fields::{FieldValue, FromField};
use alloc::string::String;

/// Which message SEARCH_OFFSET_BY_TIMESTAMP returns when several share the
/// timestamp: Java `BoundaryType`, written by enum name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BoundaryType {
    /// `LOWER`: the first matching message (the broker's default).
    #[default]
    Lower,
    /// `UPPER`: the last matching message.
    Upper,
}

impl BoundaryType {
    /// The wire string: "LOWER" or "UPPER".
    pub const fn as_str(self) -> &'static str {
        match self {
            BoundaryType::Lower => "LOWER",
            BoundaryType::Upper => "UPPER",
        }
    }
}

impl ToField for BoundaryType {
    fn to_field(&self) -> FieldValue<'_> {
        FieldValue::Str(self.as_str())
    }
}

impl FromField for BoundaryType {
    /// Like Java's `BoundaryType.getType`: "upper" in any case is
    /// [`BoundaryType::Upper`], anything else [`BoundaryType::Lower`].
    fn from_field(s: &str) -> Option<Self> {
        Some(if s.trim().eq_ignore_ascii_case("upper") {
            BoundaryType::Upper
        } else {
            BoundaryType::Lower
        })
    }
}

command_header! {
    /// QUERY_CONSUMER_OFFSET request header, Java
    /// `QueryConsumerOffsetRequestHeader`.
    pub struct QueryConsumerOffsetRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// `setZeroIfNotFound` (5.x): false makes the broker answer
        /// QUERY_NOT_FOUND instead of offset 0 for a fresh queue.
        set_zero_if_not_found: opt bool => "setZeroIfNotFound",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// QUERY_CONSUMER_OFFSET response header, Java
    /// `QueryConsumerOffsetResponseHeader`.
    pub struct QueryConsumerOffsetResponseHeader {
        /// `offset`: the stored consumer offset.
        offset: req i64 => "offset",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET request header, Java
    /// `UpdateConsumerOffsetRequestHeader` (Java sends it one-way).
    pub struct UpdateConsumerOffsetRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// `commitOffset`: the offset to store.
        commit_offset: req i64 => "commitOffset",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// GET_MAX_OFFSET request header, Java `GetMaxOffsetRequestHeader`.
    pub struct GetMaxOffsetRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// `committed` (5.x): true for the max committed (dispatched) offset,
        /// false for the in-flight one. Java always sends it (default true).
        committed: opt bool => "committed",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// GET_MAX_OFFSET response header, Java `GetMaxOffsetResponseHeader`.
    pub struct GetMaxOffsetResponseHeader {
        /// `offset`: the next offset the queue will write.
        offset: req i64 => "offset",
    }
}

command_header! {
    /// GET_MIN_OFFSET request header, Java `GetMinOffsetRequestHeader`.
    pub struct GetMinOffsetRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// GET_MIN_OFFSET response header, Java `GetMinOffsetResponseHeader`.
    pub struct GetMinOffsetResponseHeader {
        /// `offset`: the smallest offset still stored.
        offset: req i64 => "offset",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP request header, Java
    /// `SearchOffsetRequestHeader`.
    pub struct SearchOffsetRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// `timestamp`, ms.
        timestamp: req i64 => "timestamp",
        /// `boundaryType` (5.x): "LOWER" or "UPPER".
        boundary_type: opt BoundaryType => "boundaryType",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP response header, Java
    /// `SearchOffsetResponseHeader`.
    pub struct SearchOffsetResponseHeader {
        /// `offset`: the queue offset found.
        offset: req i64 => "offset",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME request header, Java
    /// `GetEarliestMsgStoretimeRequestHeader`.
    pub struct GetEarliestMsgStoretimeRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME response header, Java
    /// `GetEarliestMsgStoretimeResponseHeader`.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// `timestamp`: store time of the earliest message, ms.
        timestamp: req i64 => "timestamp",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::protocol::fields::{CommandHeader, ExtFields};

    header_spec!(
        query_consumer_offset_request,
        full: QueryConsumerOffsetRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 1,
            set_zero_if_not_found: Some(false),
            rpc: full_extras(),
        },
        minimal: QueryConsumerOffsetRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 1,
            ..Default::default()
        },
        keys: ["consumerGroup", "topic", "queueId", "setZeroIfNotFound", "ns", "nsd", "bname", "oway", "lo"],
        required: ["consumerGroup", "topic", "queueId"],
    );

    header_spec!(
        query_consumer_offset_response,
        full: QueryConsumerOffsetResponseHeader { offset: 77 },
        minimal: QueryConsumerOffsetResponseHeader { offset: 0 },
        keys: ["offset"],
        required: ["offset"],
    );

    header_spec!(
        update_consumer_offset_request,
        full: UpdateConsumerOffsetRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 1,
            commit_offset: 99,
            rpc: full_extras(),
        },
        minimal: UpdateConsumerOffsetRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 1,
            commit_offset: 99,
            rpc: RpcHeaderExtras::default(),
        },
        keys: ["consumerGroup", "topic", "queueId", "commitOffset", "ns", "nsd", "bname", "oway", "lo"],
        required: ["consumerGroup", "topic", "queueId", "commitOffset"],
    );

    header_spec!(
        get_max_offset_request,
        full: GetMaxOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 0,
            committed: Some(true),
            rpc: full_extras(),
        },
        minimal: GetMaxOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 0,
            ..Default::default()
        },
        keys: ["topic", "queueId", "committed", "ns", "nsd", "bname", "oway", "lo"],
        required: ["topic", "queueId"],
    );

    header_spec!(
        get_max_offset_response,
        full: GetMaxOffsetResponseHeader { offset: 1000 },
        minimal: GetMaxOffsetResponseHeader { offset: 0 },
        keys: ["offset"],
        required: ["offset"],
    );

    header_spec!(
        get_min_offset_request,
        full: GetMinOffsetRequestHeader { topic: "T".into(), queue_id: 3, rpc: full_extras() },
        minimal: GetMinOffsetRequestHeader { topic: "T".into(), queue_id: 3, ..Default::default() },
        keys: ["topic", "queueId", "ns", "nsd", "bname", "oway", "lo"],
        required: ["topic", "queueId"],
    );

    header_spec!(
        get_min_offset_response,
        full: GetMinOffsetResponseHeader { offset: 5 },
        minimal: GetMinOffsetResponseHeader { offset: 0 },
        keys: ["offset"],
        required: ["offset"],
    );

    header_spec!(
        search_offset_request,
        full: SearchOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 2,
            timestamp: 1_700_000_000_000,
            boundary_type: Some(BoundaryType::Upper),
            rpc: full_extras(),
        },
        minimal: SearchOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 2,
            timestamp: 1_700_000_000_000,
            ..Default::default()
        },
        keys: ["topic", "queueId", "timestamp", "boundaryType", "ns", "nsd", "bname", "oway", "lo"],
        required: ["topic", "queueId", "timestamp"],
    );

    header_spec!(
        search_offset_response,
        full: SearchOffsetResponseHeader { offset: 12 },
        minimal: SearchOffsetResponseHeader { offset: 0 },
        keys: ["offset"],
        required: ["offset"],
    );

    header_spec!(
        earliest_msg_storetime_request,
        full: GetEarliestMsgStoretimeRequestHeader { topic: "T".into(), queue_id: 0, rpc: full_extras() },
        minimal: GetEarliestMsgStoretimeRequestHeader { topic: "T".into(), queue_id: 0, ..Default::default() },
        keys: ["topic", "queueId", "ns", "nsd", "bname", "oway", "lo"],
        required: ["topic", "queueId"],
    );

    header_spec!(
        earliest_msg_storetime_response,
        full: GetEarliestMsgStoretimeResponseHeader { timestamp: 1_700_000_000_000 },
        minimal: GetEarliestMsgStoretimeResponseHeader { timestamp: 0 },
        keys: ["timestamp"],
        required: ["timestamp"],
    );

    #[test]
    fn boundary_type_is_written_by_enum_name() {
        let h = SearchOffsetRequestHeader {
            boundary_type: Some(BoundaryType::Upper),
            ..Default::default()
        };
        assert_eq!(h.to_ext_fields().get("boundaryType"), Some("UPPER"));
        assert_eq!(BoundaryType::Lower.as_str(), "LOWER");
    }

    #[test]
    fn boundary_type_parses_like_java_get_type() {
        assert_eq!(BoundaryType::from_field("upper"), Some(BoundaryType::Upper));
        assert_eq!(BoundaryType::from_field("UPPER"), Some(BoundaryType::Upper));
        assert_eq!(BoundaryType::from_field("lower"), Some(BoundaryType::Lower));
        assert_eq!(
            BoundaryType::from_field("sideways"),
            Some(BoundaryType::Lower)
        );
    }

    #[test]
    fn get_max_offset_writes_committed_as_true() {
        let h = GetMaxOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 0,
            committed: Some(true),
            rpc: RpcHeaderExtras::default(),
        };
        let f: ExtFields = h.to_ext_fields();
        assert_eq!(f.get("committed"), Some("true"));
    }
}
