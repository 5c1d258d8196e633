//! Client bookkeeping headers: UNREGISTER_CLIENT (35),
//! CONSUMER_SEND_MSG_BACK (36) and GET_CONSUMER_LIST_BY_GROUP (38).
//! Their Java classes extend `RpcRequestHeader` only, so `rpc.lo` stays `None`.

use super::RpcHeaderExtras;
use alloc::string::String;

command_header! {
    /// UNREGISTER_CLIENT request header, Java `UnregisterClientRequestHeader`.
    pub struct UnregisterClientRequestHeader {
        /// `clientID` (capital ID on the wire).
        client_id: req String => "clientID",
        /// `producerGroup`, when unregistering a producer.
        producer_group: opt String => "producerGroup",
        /// `consumerGroup`, when unregistering a consumer.
        consumer_group: opt String => "consumerGroup",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK request header, Java
    /// `ConsumerSendMsgBackRequestHeader`.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// `offset`: the message's commit-log offset.
        offset: req i64 => "offset",
        /// `group`: the consumer group.
        group: req String => "group",
        /// `delayLevel`: 0 = broker decides, -1 = straight to the DLQ.
        delay_level: req i32 => "delayLevel",
        /// `originMsgId`: the UNIQ_KEY, else the offset msg ID.
        origin_msg_id: opt String => "originMsgId",
        /// `originTopic`.
        origin_topic: opt String => "originTopic",
        /// `unitMode` (Java always sends it, default false).
        unit_mode: opt bool => "unitMode",
        /// `maxReconsumeTimes` (Java 16).
        max_reconsume_times: opt i32 => "maxReconsumeTimes",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP request header, Java
    /// `GetConsumerListByGroupRequestHeader`.
    pub struct GetConsumerListByGroupRequestHeader {
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

    header_spec!(
        unregister_client_request,
        full: UnregisterClientRequestHeader {
            client_id: "10.0.0.1@123".into(),
            producer_group: Some("PG".into()),
            consumer_group: Some("CG".into()),
            rpc: rpc_only_extras(),
        },
        minimal: UnregisterClientRequestHeader {
            client_id: "10.0.0.1@123".into(),
            ..Default::default()
        },
        keys: ["clientID", "producerGroup", "consumerGroup", "ns", "nsd", "bname", "oway"],
        required: ["clientID"],
    );

    header_spec!(
        consumer_send_msg_back_request,
        full: ConsumerSendMsgBackRequestHeader {
            offset: 4096,
            group: "CG".into(),
            delay_level: -1,
            origin_msg_id: Some("7F000001000118B4AAC2".into()),
            origin_topic: Some("T".into()),
            unit_mode: Some(false),
            max_reconsume_times: Some(16),
            rpc: rpc_only_extras(),
        },
        minimal: ConsumerSendMsgBackRequestHeader {
            offset: 4096,
            group: "CG".into(),
            delay_level: 0,
            ..Default::default()
        },
        keys: [
            "offset", "group", "delayLevel", "originMsgId", "originTopic", "unitMode",
            "maxReconsumeTimes", "ns", "nsd", "bname", "oway",
        ],
        required: ["offset", "group", "delayLevel"],
    );

    header_spec!(
        get_consumer_list_by_group_request,
        full: GetConsumerListByGroupRequestHeader {
            consumer_group: "CG".into(),
            rpc: rpc_only_extras(),
        },
        minimal: GetConsumerListByGroupRequestHeader {
            consumer_group: "CG".into(),
            ..Default::default()
        },
        keys: ["consumerGroup", "ns", "nsd", "bname", "oway"],
        required: ["consumerGroup"],
    );
}
