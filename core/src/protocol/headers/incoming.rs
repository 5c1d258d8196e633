//! Requests a broker sends to a client: NOTIFY_CONSUMER_IDS_CHANGED (40),
//! RESET_CONSUMER_CLIENT_OFFSET (220), GET_CONSUMER_RUNNING_INFO (307),
//! CONSUME_MESSAGE_DIRECTLY (309) and PUSH_REPLY_MESSAGE_TO_CLIENT (326).
//! CHECK_TRANSACTION_STATE (39) lives in
//! [`transaction`](super::transaction).

use super::RpcHeaderExtras;
use alloc::string::String;

command_header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED request header, Java
    /// `NotifyConsumerIdsChangedRequestHeader`: rebalance the group now.
    pub struct NotifyConsumerIdsChangedRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// RESET_CONSUMER_CLIENT_OFFSET request header, Java
    /// `ResetOffsetRequestHeader`; the body is a ResetOffsetBody.
    pub struct ResetOffsetRequestHeader {
        /// `group`: the consumer group.
        group: req String => "group",
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`: -1 (Java's default, always sent) means every queue.
        queue_id: opt i32 => "queueId",
        /// `offset`: the target offset, when resetting one queue.
        offset: opt i64 => "offset",
        /// `timestamp`: the target time, ms.
        timestamp: req i64 => "timestamp",
        /// The key `isForce` (Java field `isForce`).
        is_force: req bool => "isForce",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO request header, Java
    /// `GetConsumerRunningInfoRequestHeader`.
    pub struct GetConsumerRunningInfoRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `clientId`.
        client_id: req String => "clientId",
        /// `jstackEnable`: include thread stacks (Java always sends it).
        jstack_enable: opt bool => "jstackEnable",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// CONSUME_MESSAGE_DIRECTLY request header, Java
    /// `ConsumeMessageDirectlyResultRequestHeader`; the body is one stored
    /// message.
    pub struct ConsumeMessageDirectlyResultRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `clientId`.
        client_id: opt String => "clientId",
        /// `msgId`.
        msg_id: opt String => "msgId",
        /// `brokerName` (a field of its own, distinct from `bname`).
        broker_name: opt String => "brokerName",
        /// `topic`.
        topic: opt String => "topic",
        /// `topicSysFlag`.
        topic_sys_flag: opt i32 => "topicSysFlag",
        /// `groupSysFlag`.
        group_sys_flag: opt i32 => "groupSysFlag",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// PUSH_REPLY_MESSAGE_TO_CLIENT request header (326), Java
    /// `ReplyMessageRequestHeader`: a reply the broker pushes to the client
    /// named by the request's `REPLY_TO_CLIENT`; the body is the reply's
    /// body (compressed when `sysFlag` says so). The broker waits for an
    /// answer.
    pub struct ReplyMessageRequestHeader {
        /// `producerGroup`: the replier's group.
        producer_group: req String => "producerGroup",
        /// `topic`: the reply topic.
        topic: req String => "topic",
        /// `defaultTopic`.
        default_topic: req String => "defaultTopic",
        /// `defaultTopicQueueNums`.
        default_topic_queue_nums: req i32 => "defaultTopicQueueNums",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// `sysFlag` (bit 0: compressed body).
        sys_flag: req i32 => "sysFlag",
        /// `bornTimestamp`, ms.
        born_timestamp: req i64 => "bornTimestamp",
        /// `flag`: the user flag.
        flag: req i32 => "flag",
        /// `properties`: the reply's properties string.
        properties: opt String => "properties",
        /// `reconsumeTimes`.
        reconsume_times: opt i32 => "reconsumeTimes",
        /// `unitMode`.
        unit_mode: opt bool => "unitMode",
        /// `bornHost`: `ip:port` of the replier.
        born_host: req String => "bornHost",
        /// `storeHost`: `ip:port` of the broker.
        store_host: req String => "storeHost",
        /// `storeTimestamp`, ms.
        store_timestamp: req i64 => "storeTimestamp",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    header_spec!(
        notify_consumer_ids_changed_request,
        full: NotifyConsumerIdsChangedRequestHeader {
            consumer_group: "CG".into(),
            rpc: rpc_only_extras(),
        },
        minimal: NotifyConsumerIdsChangedRequestHeader {
            consumer_group: "CG".into(),
            ..Default::default()
        },
        keys: ["consumerGroup", "ns", "nsd", "bname", "oway"],
        required: ["consumerGroup"],
    );

    header_spec!(
        reset_offset_request,
        full: ResetOffsetRequestHeader {
            group: "CG".into(),
            topic: "T".into(),
            queue_id: Some(-1),
            offset: Some(10),
            timestamp: 1_700_000_000_000,
            is_force: true,
            rpc: full_extras(),
        },
        minimal: ResetOffsetRequestHeader {
            group: "CG".into(),
            topic: "T".into(),
            timestamp: 1_700_000_000_000,
            is_force: false,
            ..Default::default()
        },
        keys: ["group", "topic", "queueId", "offset", "timestamp", "isForce", "ns", "nsd", "bname", "oway", "lo"],
        required: ["group", "topic", "timestamp", "isForce"],
    );

    header_spec!(
        get_consumer_running_info_request,
        full: GetConsumerRunningInfoRequestHeader {
            consumer_group: "CG".into(),
            client_id: "10.0.0.1@123".into(),
            jstack_enable: Some(false),
            rpc: rpc_only_extras(),
        },
        minimal: GetConsumerRunningInfoRequestHeader {
            consumer_group: "CG".into(),
            client_id: "10.0.0.1@123".into(),
            ..Default::default()
        },
        keys: ["consumerGroup", "clientId", "jstackEnable", "ns", "nsd", "bname", "oway"],
        required: ["consumerGroup", "clientId"],
    );

    header_spec!(
        consume_message_directly_request,
        full: ConsumeMessageDirectlyResultRequestHeader {
            consumer_group: "CG".into(),
            client_id: Some("10.0.0.1@123".into()),
            msg_id: Some("0A00000500002A9F0000000000001000".into()),
            broker_name: Some("broker-a".into()),
            topic: Some("T".into()),
            topic_sys_flag: Some(0),
            group_sys_flag: Some(0),
            rpc: full_extras(),
        },
        minimal: ConsumeMessageDirectlyResultRequestHeader {
            consumer_group: "CG".into(),
            ..Default::default()
        },
        keys: [
            "consumerGroup", "clientId", "msgId", "brokerName", "topic", "topicSysFlag",
            "groupSysFlag", "ns", "nsd", "bname", "oway", "lo",
        ],
        required: ["consumerGroup"],
    );
}
