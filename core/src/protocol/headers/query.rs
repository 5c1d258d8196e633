//! QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33).

use super::RpcHeaderExtras;
use alloc::string::String;

command_header! {
    /// QUERY_MESSAGE request header, Java `QueryMessageRequestHeader`, plus
    /// the `_UNIQUE_KEY_QUERY` ext field Java adds beside it.
    pub struct QueryMessageRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// `key`: a KEYS entry, or a UNIQ_KEY with `unique_key_query`.
        key: req String => "key",
        /// `maxNum`: at most this many messages.
        max_num: req i32 => "maxNum",
        /// `beginTimestamp`, ms.
        begin_timestamp: req i64 => "beginTimestamp",
        /// `endTimestamp`, ms.
        end_timestamp: req i64 => "endTimestamp",
        /// `_UNIQUE_KEY_QUERY`: "true" when `key` is a UNIQ_KEY (message ID).
        /// Not a Java header field; Java adds it to the ext fields directly.
        unique_key_query: opt bool => "_UNIQUE_KEY_QUERY",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// QUERY_MESSAGE response header, Java `QueryMessageResponseHeader`.
    pub struct QueryMessageResponseHeader {
        /// `indexLastUpdateTimestamp`.
        index_last_update_timestamp: req i64 => "indexLastUpdateTimestamp",
        /// `indexLastUpdatePhyoffset`.
        index_last_update_phyoffset: req i64 => "indexLastUpdatePhyoffset",
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID request header, Java `ViewMessageRequestHeader`
    /// (no inherited keys). Send it to the address inside the offset msg ID.
    pub struct ViewMessageRequestHeader {
        /// `topic` (5.x, optional).
        topic: opt String => "topic",
        /// `offset`: the commit-log offset from the offset msg ID.
        offset: req i64 => "offset",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::protocol::fields::CommandHeader;

    fn full_query() -> QueryMessageRequestHeader {
        QueryMessageRequestHeader {
            topic: "T".into(),
            key: "order-1".into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: 1_700_000_000_000,
            unique_key_query: Some(true),
            rpc: full_extras(),
        }
    }

    header_spec!(
        query_request,
        full: full_query(),
        minimal: QueryMessageRequestHeader {
            unique_key_query: None,
            rpc: RpcHeaderExtras::default(),
            ..full_query()
        },
        keys: [
            "topic", "key", "maxNum", "beginTimestamp", "endTimestamp", "_UNIQUE_KEY_QUERY",
            "ns", "nsd", "bname", "oway", "lo",
        ],
        required: ["topic", "key", "maxNum", "beginTimestamp", "endTimestamp"],
    );

    header_spec!(
        query_response,
        full: QueryMessageResponseHeader {
            index_last_update_timestamp: 1_700_000_000_000,
            index_last_update_phyoffset: 12_345,
        },
        minimal: QueryMessageResponseHeader {
            index_last_update_timestamp: 1,
            index_last_update_phyoffset: 2,
        },
        keys: ["indexLastUpdateTimestamp", "indexLastUpdatePhyoffset"],
        required: ["indexLastUpdateTimestamp", "indexLastUpdatePhyoffset"],
    );

    header_spec!(
        view_request,
        full: ViewMessageRequestHeader { topic: Some("T".into()), offset: 4096 },
        minimal: ViewMessageRequestHeader { topic: None, offset: 4096 },
        keys: ["topic", "offset"],
        required: ["offset"],
    );

    #[test]
    fn unique_key_query_is_written_as_true() {
        let f = full_query().to_ext_fields();
        assert_eq!(f.get("_UNIQUE_KEY_QUERY"), Some("true"));
    }
}
