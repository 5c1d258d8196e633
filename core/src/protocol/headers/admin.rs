//! Admin headers: UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215),
//! DELETE_TOPIC_IN_NAMESRV (216), GET_CONSUME_STATS (208) and
//! GET_CONSUMER_CONNECTION_LIST (203). INVOKE_BROKER_TO_RESET_OFFSET (222)
//! takes [`ResetOffsetRequestHeader`](super::ResetOffsetRequestHeader).

use super::{RpcHeaderExtras, ToField};
use crate::protocol::fields::{FieldValue, FromField};
use alloc::string::String;

/// Java `TopicFilterType`, written by enum name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TopicFilterType {
    /// `SINGLE_TAG`: one tag per message (the default).
    #[default]
    SingleTag,
    /// `MULTI_TAG`.
    MultiTag,
}

impl TopicFilterType {
    /// The wire string: "SINGLE_TAG" or "MULTI_TAG".
    pub const fn as_str(self) -> &'static str {
        match self {
            TopicFilterType::SingleTag => "SINGLE_TAG",
            TopicFilterType::MultiTag => "MULTI_TAG",
        }
    }
}

impl ToField for TopicFilterType {
    fn to_field(&self) -> FieldValue<'_> {
        FieldValue::Str(self.as_str())
    }
}

impl FromField for TopicFilterType {
    fn from_field(s: &str) -> Option<Self> {
        match s.trim() {
            "SINGLE_TAG" => Some(TopicFilterType::SingleTag),
            "MULTI_TAG" => Some(TopicFilterType::MultiTag),
            _ => None,
        }
    }
}

command_header! {
    /// UPDATE_AND_CREATE_TOPIC request header, Java `CreateTopicRequestHeader`.
    /// Send it to every master that should serve the topic.
    pub struct CreateTopicRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// `defaultTopic` (Java sends "TBW102").
        default_topic: req String => "defaultTopic",
        /// `readQueueNums`.
        read_queue_nums: req i32 => "readQueueNums",
        /// `writeQueueNums`.
        write_queue_nums: req i32 => "writeQueueNums",
        /// `perm`: permission bits (6 = read + write).
        perm: req i32 => "perm",
        /// `topicFilterType`.
        topic_filter_type: req TopicFilterType => "topicFilterType",
        /// `topicSysFlag`.
        topic_sys_flag: opt i32 => "topicSysFlag",
        /// `order`: an ordered topic.
        order: req bool => "order",
        /// `attributes` (5.x): comma-separated `+key=value`, e.g.
        /// `+message.type=NORMAL`.
        attributes: opt String => "attributes",
        /// `force` (5.x): apply even if attributes conflict.
        force: opt bool => "force",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// DELETE_TOPIC_IN_BROKER request header, Java `DeleteTopicRequestHeader`.
    pub struct DeleteTopicRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// DELETE_TOPIC_IN_NAMESRV request header, Java
    /// `DeleteTopicFromNamesrvRequestHeader`.
    pub struct DeleteTopicFromNamesrvRequestHeader {
        /// `topic`.
        topic: req String => "topic",
        /// `clusterName`: delete only that cluster's route (optional).
        cluster_name: opt String => "clusterName",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// GET_CONSUME_STATS request header, Java `GetConsumeStatsRequestHeader`:
    /// the group's offsets on one broker, for one topic (or every topic the
    /// group consumes when `topic` is absent).
    pub struct GetConsumeStatsRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `topic`.
        topic: opt String => "topic",
        /// `topicList` (5.x): several topics, `;`-separated.
        topic_list: opt String => "topicList",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// GET_CONSUMER_CONNECTION_LIST request header, Java
    /// `GetConsumerConnectionListRequestHeader`.
    pub struct GetConsumerConnectionListRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::protocol::fields::{CommandHeader, ExtFields, HeaderError};

    fn full_create() -> CreateTopicRequestHeader {
        CreateTopicRequestHeader {
            topic: "T".into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: 6,
            topic_filter_type: TopicFilterType::MultiTag,
            topic_sys_flag: Some(0),
            order: false,
            attributes: Some("+message.type=NORMAL".into()),
            force: Some(false),
            rpc: full_extras(),
        }
    }

    header_spec!(
        create_topic_request,
        full: full_create(),
        minimal: CreateTopicRequestHeader {
            topic_sys_flag: None,
            attributes: None,
            force: None,
            rpc: RpcHeaderExtras::default(),
            ..full_create()
        },
        keys: [
            "topic", "defaultTopic", "readQueueNums", "writeQueueNums", "perm",
            "topicFilterType", "topicSysFlag", "order", "attributes", "force",
            "ns", "nsd", "bname", "oway", "lo",
        ],
        required: [
            "topic", "defaultTopic", "readQueueNums", "writeQueueNums", "perm",
            "topicFilterType", "order",
        ],
    );

    header_spec!(
        delete_topic_in_broker_request,
        full: DeleteTopicRequestHeader { topic: "T".into(), rpc: full_extras() },
        minimal: DeleteTopicRequestHeader { topic: "T".into(), ..Default::default() },
        keys: ["topic", "ns", "nsd", "bname", "oway", "lo"],
        required: ["topic"],
    );

    header_spec!(
        delete_topic_in_namesrv_request,
        full: DeleteTopicFromNamesrvRequestHeader {
            topic: "T".into(),
            cluster_name: Some("DefaultCluster".into()),
            rpc: full_extras(),
        },
        minimal: DeleteTopicFromNamesrvRequestHeader { topic: "T".into(), ..Default::default() },
        keys: ["topic", "clusterName", "ns", "nsd", "bname", "oway", "lo"],
        required: ["topic"],
    );

    header_spec!(
        get_consume_stats_request,
        full: GetConsumeStatsRequestHeader {
            consumer_group: "G".into(),
            topic: Some("T".into()),
            topic_list: Some("T;U".into()),
            rpc: full_extras(),
        },
        minimal: GetConsumeStatsRequestHeader { consumer_group: "G".into(), ..Default::default() },
        keys: ["consumerGroup", "topic", "topicList", "ns", "nsd", "bname", "oway", "lo"],
        required: ["consumerGroup"],
    );

    header_spec!(
        get_consumer_connection_list_request,
        full: GetConsumerConnectionListRequestHeader {
            consumer_group: "G".into(),
            rpc: rpc_only_extras(),
        },
        minimal: GetConsumerConnectionListRequestHeader {
            consumer_group: "G".into(),
            ..Default::default()
        },
        keys: ["consumerGroup", "ns", "nsd", "bname", "oway"],
        required: ["consumerGroup"],
    );

    #[test]
    fn topic_filter_type_is_written_by_enum_name() {
        let f = full_create().to_ext_fields();
        assert_eq!(f.get("topicFilterType"), Some("MULTI_TAG"));
        assert_eq!(TopicFilterType::SingleTag.as_str(), "SINGLE_TAG");
    }

    #[test]
    fn unknown_topic_filter_type_is_invalid() {
        let mut f: ExtFields = full_create().to_ext_fields();
        f.insert("topicFilterType", "NO_TAG");
        assert_eq!(
            CreateTopicRequestHeader::from_fields(&f),
            Err(HeaderError::Invalid {
                key: "topicFilterType"
            })
        );
    }
}
