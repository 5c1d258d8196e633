//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361): both use the same request
//! and response headers.

use super::RpcHeaderExtras;
use alloc::string::String;

command_header! {
    /// PULL_MESSAGE / LITE_PULL_MESSAGE request header, Java
    /// `PullMessageRequestHeader`.
    pub struct PullMessageRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// `queueOffset`: where to start reading.
        queue_offset: req i64 => "queueOffset",
        /// `maxMsgNums`: at most this many messages (Java 32).
        max_msg_nums: req i32 => "maxMsgNums",
        /// `sysFlag`: `PullSysFlag` bits.
        sys_flag: req i32 => "sysFlag",
        /// `commitOffset`: the consumer offset to commit along (0 if none).
        commit_offset: req i64 => "commitOffset",
        /// `suspendTimeoutMillis`: long-poll suspend time (Java 15000).
        suspend_timeout_millis: req i64 => "suspendTimeoutMillis",
        /// `subscription`: the expression, sent with the subscription flag.
        subscription: opt String => "subscription",
        /// `subVersion`: the subscription version (never newer than the
        /// last heartbeat's).
        sub_version: req i64 => "subVersion",
        /// `expressionType`: "TAG" or "SQL92".
        expression_type: opt String => "expressionType",
        /// `maxMsgBytes` (5.x).
        max_msg_bytes: opt i32 => "maxMsgBytes",
        /// `requestSource` (5.x proxy).
        request_source: opt i32 => "requestSource",
        /// The key `proxyFrowardClientId` (Java's spelling, typo included).
        proxy_forward_client_id: opt String => "proxyFrowardClientId",
        /// Inherited keys; `rpc.broker_name` is `bname`.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// PULL_MESSAGE / LITE_PULL_MESSAGE response header, Java
    /// `PullMessageResponseHeader`.
    pub struct PullMessageResponseHeader {
        /// `suggestWhichBrokerId`: the broker id to pull from next (0 = master).
        suggest_which_broker_id: req i64 => "suggestWhichBrokerId",
        /// `nextBeginOffset`: the offset to pull from next.
        next_begin_offset: req i64 => "nextBeginOffset",
        /// `minOffset` of the queue.
        min_offset: req i64 => "minOffset",
        /// `maxOffset` of the queue.
        max_offset: req i64 => "maxOffset",
        /// `offsetDelta`: static topics add it to each message's queue offset.
        offset_delta: opt i64 => "offsetDelta",
        /// `topicSysFlag`.
        topic_sys_flag: opt i32 => "topicSysFlag",
        /// `groupSysFlag`.
        group_sys_flag: opt i32 => "groupSysFlag",
        /// `forbiddenType`.
        forbidden_type: opt i32 => "forbiddenType",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn full_request() -> PullMessageRequestHeader {
        PullMessageRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 2,
            queue_offset: 100,
            max_msg_nums: 32,
            sys_flag: 3,
            commit_offset: 90,
            suspend_timeout_millis: 15_000,
            subscription: Some("a || b".into()),
            sub_version: 1_700_000_000_000,
            expression_type: Some("TAG".into()),
            max_msg_bytes: Some(1 << 20),
            request_source: Some(1),
            proxy_forward_client_id: Some("client-1".into()),
            rpc: full_extras(),
        }
    }

    header_spec!(
        pull_request,
        full: full_request(),
        minimal: PullMessageRequestHeader {
            subscription: None,
            expression_type: None,
            max_msg_bytes: None,
            request_source: None,
            proxy_forward_client_id: None,
            rpc: RpcHeaderExtras::default(),
            ..full_request()
        },
        keys: [
            "consumerGroup", "topic", "queueId", "queueOffset", "maxMsgNums", "sysFlag",
            "commitOffset", "suspendTimeoutMillis", "subscription", "subVersion",
            "expressionType", "maxMsgBytes", "requestSource", "proxyFrowardClientId",
            "ns", "nsd", "bname", "oway", "lo",
        ],
        required: [
            "consumerGroup", "topic", "queueId", "queueOffset", "maxMsgNums", "sysFlag",
            "commitOffset", "suspendTimeoutMillis", "subVersion",
        ],
    );

    header_spec!(
        pull_response,
        full: PullMessageResponseHeader {
            suggest_which_broker_id: 1,
            next_begin_offset: 132,
            min_offset: 0,
            max_offset: 500,
            offset_delta: Some(-7),
            topic_sys_flag: Some(0),
            group_sys_flag: Some(1),
            forbidden_type: Some(2),
        },
        minimal: PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 132,
            min_offset: 0,
            max_offset: 500,
            ..Default::default()
        },
        keys: [
            "suggestWhichBrokerId", "nextBeginOffset", "minOffset", "maxOffset",
            "offsetDelta", "topicSysFlag", "groupSysFlag", "forbiddenType",
        ],
        required: ["suggestWhichBrokerId", "nextBeginOffset", "minOffset", "maxOffset"],
    );
}
