//! Pop consumption (5.x): POP_MESSAGE (200050), ACK_MESSAGE (200051) and
//! CHANGE_MESSAGE_INVISIBLETIME (200053). Pop codes do not fit the binary
//! header's int16 code: send these with the JSON header.

use super::RpcHeaderExtras;
use alloc::string::String;

command_header! {
    /// POP_MESSAGE request header, Java `PopMessageRequestHeader`.
    pub struct PopMessageRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`: -1 pops from every queue on the broker.
        queue_id: req i32 => "queueId",
        /// `maxMsgNums`.
        max_msg_nums: req i32 => "maxMsgNums",
        /// `invisibleTime`, ms.
        invisible_time: req i64 => "invisibleTime",
        /// `pollTime`: long-poll time, ms (RPC timeout must exceed it).
        poll_time: req i64 => "pollTime",
        /// `bornTime`: the client's now, ms.
        born_time: req i64 => "bornTime",
        /// `initMode`: 0 = start at the queue's min offset, 1 = at its max.
        init_mode: req i32 => "initMode",
        /// `expType`: "TAG" or "SQL92".
        exp_type: opt String => "expType",
        /// `exp`: the filter expression.
        exp: opt String => "exp",
        /// `order`: orderly pop (Java always sends it, default false).
        order: opt bool => "order",
        /// `attemptId`: idempotency id of this pop attempt.
        attempt_id: opt String => "attemptId",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// POP_MESSAGE response header, Java `PopMessageResponseHeader`.
    pub struct PopMessageResponseHeader {
        /// `popTime`: when the broker popped, ms.
        pop_time: req i64 => "popTime",
        /// `invisibleTime`, ms.
        invisible_time: req i64 => "invisibleTime",
        /// `reviveQid`.
        revive_qid: req i32 => "reviveQid",
        /// `restNum`: messages left in the queue(s).
        rest_num: req i64 => "restNum",
        /// `startOffsetInfo`.
        start_offset_info: opt String => "startOffsetInfo",
        /// `msgOffsetInfo`.
        msg_offset_info: opt String => "msgOffsetInfo",
        /// `orderCountInfo`.
        order_count_info: opt String => "orderCountInfo",
    }
}

command_header! {
    /// ACK_MESSAGE request header, Java `AckMessageRequestHeader`.
    pub struct AckMessageRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// `extraInfo`: the message's POP_CK handle.
        extra_info: req String => "extraInfo",
        /// `offset`: the message's queue offset.
        offset: req i64 => "offset",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME request header, Java
    /// `ChangeInvisibleTimeRequestHeader`.
    pub struct ChangeInvisibleTimeRequestHeader {
        /// `consumerGroup`.
        consumer_group: req String => "consumerGroup",
        /// `topic`.
        topic: req String => "topic",
        /// `queueId`.
        queue_id: req i32 => "queueId",
        /// `extraInfo`: the message's POP_CK handle.
        extra_info: req String => "extraInfo",
        /// `offset`: the message's queue offset.
        offset: req i64 => "offset",
        /// `invisibleTime`: the new invisible time, ms.
        invisible_time: req i64 => "invisibleTime",
        /// Inherited keys.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME response header, Java
    /// `ChangeInvisibleTimeResponseHeader`.
    pub struct ChangeInvisibleTimeResponseHeader {
        /// `popTime`, ms.
        pop_time: req i64 => "popTime",
        /// `invisibleTime`, ms.
        invisible_time: req i64 => "invisibleTime",
        /// `reviveQid`.
        revive_qid: req i32 => "reviveQid",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn full_pop() -> PopMessageRequestHeader {
        PopMessageRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: -1,
            max_msg_nums: 32,
            invisible_time: 60_000,
            poll_time: 20_000,
            born_time: 1_700_000_000_000,
            init_mode: 1,
            exp_type: Some("TAG".into()),
            exp: Some("*".into()),
            order: Some(false),
            attempt_id: Some("attempt-1".into()),
            rpc: full_extras(),
        }
    }

    header_spec!(
        pop_request,
        full: full_pop(),
        minimal: PopMessageRequestHeader {
            exp_type: None,
            exp: None,
            order: None,
            attempt_id: None,
            rpc: RpcHeaderExtras::default(),
            ..full_pop()
        },
        keys: [
            "consumerGroup", "topic", "queueId", "maxMsgNums", "invisibleTime", "pollTime",
            "bornTime", "initMode", "expType", "exp", "order", "attemptId",
            "ns", "nsd", "bname", "oway", "lo",
        ],
        required: [
            "consumerGroup", "topic", "queueId", "maxMsgNums", "invisibleTime", "pollTime",
            "bornTime", "initMode",
        ],
    );

    header_spec!(
        pop_response,
        full: PopMessageResponseHeader {
            pop_time: 1_700_000_000_000,
            invisible_time: 60_000,
            revive_qid: 3,
            rest_num: 10,
            start_offset_info: Some("0 5".into()),
            msg_offset_info: Some("0 5".into()),
            order_count_info: Some("0 1".into()),
        },
        minimal: PopMessageResponseHeader {
            pop_time: 1_700_000_000_000,
            invisible_time: 60_000,
            revive_qid: 3,
            rest_num: 0,
            ..Default::default()
        },
        keys: [
            "popTime", "invisibleTime", "reviveQid", "restNum", "startOffsetInfo",
            "msgOffsetInfo", "orderCountInfo",
        ],
        required: ["popTime", "invisibleTime", "reviveQid", "restNum"],
    );

    header_spec!(
        ack_request,
        full: AckMessageRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 0,
            extra_info: "0 1700000000000 60000 0 3 broker-a 0 5".into(),
            offset: 5,
            rpc: full_extras(),
        },
        minimal: AckMessageRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 0,
            extra_info: "0 1700000000000 60000 0 3 broker-a 0 5".into(),
            offset: 5,
            rpc: RpcHeaderExtras::default(),
        },
        keys: ["consumerGroup", "topic", "queueId", "extraInfo", "offset", "ns", "nsd", "bname", "oway", "lo"],
        required: ["consumerGroup", "topic", "queueId", "extraInfo", "offset"],
    );

    header_spec!(
        change_invisible_time_request,
        full: ChangeInvisibleTimeRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 0,
            extra_info: "0 1700000000000 60000 0 3 broker-a 0 5".into(),
            offset: 5,
            invisible_time: 30_000,
            rpc: full_extras(),
        },
        minimal: ChangeInvisibleTimeRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 0,
            extra_info: "0 1700000000000 60000 0 3 broker-a 0 5".into(),
            offset: 5,
            invisible_time: 30_000,
            rpc: RpcHeaderExtras::default(),
        },
        keys: [
            "consumerGroup", "topic", "queueId", "extraInfo", "offset", "invisibleTime",
            "ns", "nsd", "bname", "oway", "lo",
        ],
        required: ["consumerGroup", "topic", "queueId", "extraInfo", "offset", "invisibleTime"],
    );

    header_spec!(
        change_invisible_time_response,
        full: ChangeInvisibleTimeResponseHeader {
            pop_time: 1_700_000_000_000,
            invisible_time: 30_000,
            revive_qid: 3,
        },
        minimal: ChangeInvisibleTimeResponseHeader {
            pop_time: 0,
            invisible_time: 0,
            revive_qid: 0,
        },
        keys: ["popTime", "invisibleTime", "reviveQid"],
        required: ["popTime", "invisibleTime", "reviveQid"],
    );
}
