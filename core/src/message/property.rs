//! Message property names (PROTOCOL.md §5.5), spelled exactly as Java's
//! `MessageConst` spells them, and the set Java reserves for the system.

/// Business keys, space separated.
pub const KEYS: &str = "KEYS";
/// Message tag (one tag; the broker filters on its Java hash code).
pub const TAGS: &str = "TAGS";
/// Whether the broker waits for the store before answering (default `true`).
pub const WAIT_STORE_MSG_OK: &str = "WAIT";
/// Delay level 1..=18 (§7.5).
pub const DELAY_TIME_LEVEL: &str = "DELAY";
/// Short alias of [`DELAY_TIME_LEVEL`].
pub const DELAY: &str = DELAY_TIME_LEVEL;
/// Client-generated unique message ID (UNIQ_KEY, §6).
pub const UNIQ_CLIENT_MESSAGE_ID_KEYIDX: &str = "UNIQ_KEY";
/// Instance ID (namespaces in commercial deployments).
pub const INSTANCE_ID: &str = "INSTANCE_ID";
/// Sharding key of an ordered message (user-settable).
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// Buyer ID (legacy).
pub const BUYER_ID: &str = "BUYER_ID";
/// Region of the message.
pub const MSG_REGION: &str = "MSG_REGION";
/// Trace switch.
pub const TRACE_SWITCH: &str = "TRACE_ON";
/// Trace context.
pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
/// Cluster the message was stored in (set by the broker).
pub const CLUSTER: &str = "CLUSTER";
/// Born host, written by some brokers/proxies.
pub const BORN_HOST: &str = "__BORNHOST";
/// Born timestamp, written by some brokers/proxies.
pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
/// Property CRC added by brokers with `enabledAppendPropCRC`.
pub const CRC32: &str = "__CRC32#";
/// Extended unique info.
pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
/// Duplicate info.
pub const DUP_INFO: &str = "DUP_INFO";

/// Original topic of a retried message.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Real topic of a message parked in a schedule/timer/half topic.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Real queue ID of a message parked in a schedule/timer/half topic.
pub const REAL_QUEUE_ID: &str = "REAL_QID";
/// Reconsume count carried by client-side retries.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Maximum reconsume count carried by client-side retries.
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Message ID of the original message of a retry.
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Consume start timestamp (client-side bookkeeping).
pub const CONSUME_START_TIMESTAMP: &str = "CONSUME_START_TIME";
/// Queue minimum offset at pull time (Java copies it into pulled messages).
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Queue maximum offset at pull time (Java copies it into pulled messages).
pub const MAX_OFFSET: &str = "MAX_OFFSET";
/// Original topic of a dead-lettered message.
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
/// Original message ID of a dead-lettered message.
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";

/// Marks a transactional half message (`"true"`).
pub const TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// Producer group of a transactional message.
pub const PRODUCER_GROUP: &str = "PGROUP";
/// Transaction ID (user-settable).
pub const TRANSACTION_ID: &str = "__transactionId__";
/// How many times the broker checked a half message.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Seconds during which the broker does not check a half message (user-settable).
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Queue offset of the prepared message.
pub const TRANSACTION_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";

/// Relative delay in seconds (5.x timer).
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// Relative delay in milliseconds (5.x timer).
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// Absolute delivery time, Unix milliseconds (5.x timer).
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// Broker-internal timer bookkeeping.
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
/// Broker-internal timer bookkeeping.
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
/// Broker-internal timer bookkeeping.
pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
/// Broker-internal timer bookkeeping.
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// Broker-internal timer bookkeeping.
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
/// Broker-internal timer bookkeeping.
pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
/// Commercial absolute delivery time; ignored by open-source brokers.
pub const START_DELIVER_TIME: &str = "__STARTDELIVERTIME";

/// Correlation ID of a request/reply message.
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// Client ID a reply must be pushed to.
pub const MESSAGE_REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Time to live of a request message.
pub const MESSAGE_TTL: &str = "TTL";
/// Reply arrival time.
pub const REPLY_MESSAGE_ARRIVE_TIME: &str = "ARRIVE_TIME";
/// Reply push time.
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// Message type (`"reply"` for replies).
pub const MESSAGE_TYPE: &str = "MSG_TYPE";

/// Pop check-point info ("extraInfo", §7.7).
pub const POP_CK: &str = "POP_CK";
/// Pop check-point offset.
pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
/// First pop time.
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
/// LMQ multi-dispatch target queues (user-settable).
pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
/// LMQ multi-dispatch queue offsets.
pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
/// Number of messages in an inner batch.
pub const INNER_NUM: &str = "INNER_NUM";
/// Base offset of an inner batch.
pub const INNER_BASE: &str = "INNER_BASE";
/// Forward queue ID.
pub const FORWARD_QUEUE_ID: &str = "PROPERTY_FORWARD_QUEUE_ID";
/// Redirect marker.
pub const REDIRECT: &str = "REDIRECT";
/// Legacy transfer flag.
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
/// Legacy correction flag.
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
/// Legacy MQ2 flag.
pub const MQ2_FLAG: &str = "MQ2_FLAG";

/// Properties whose name starts with this prefix are not persisted by brokers.
pub const TRANSIENT_PREFIX: &str = "__RMQ.TRANSIENT.";

/// Separator between keys in [`KEYS`].
pub const KEY_SEPARATOR: char = ' ';

/// Names a user may not set through `put_user_property`: Java's
/// `MessageConst.STRING_HASH_SET` (5.x), sorted for binary search.
pub const RESERVED: &[&str] = &[
    "1ST_POP_TIME",
    "ARRIVE_TIME",
    "BORN_TIMESTAMP",
    "BUYER_ID",
    "CLUSTER",
    "CONSUME_START_TIME",
    "CORRECTION_FLAG",
    "CORRELATION_ID",
    "DELAY",
    "DLQ_ORIGIN_MESSAGE_ID",
    "DLQ_ORIGIN_TOPIC",
    "DUP_INFO",
    "EXTEND_UNIQ_INFO",
    "INNER_MULTI_QUEUE_OFFSET",
    "INSTANCE_ID",
    "KEYS",
    "MAX_OFFSET",
    "MAX_RECONSUME_TIMES",
    "MIN_OFFSET",
    "MQ2_FLAG",
    "MSG_REGION",
    "MSG_TYPE",
    "ORIGIN_MESSAGE_ID",
    "PGROUP",
    "POP_CK",
    "POP_CK_OFFSET",
    "PUSH_REPLY_TIME",
    "REAL_QID",
    "REAL_TOPIC",
    "RECONSUME_TIME",
    "REPLY_TO_CLIENT",
    "RETRY_TOPIC",
    "TAGS",
    "TIMER_DELAY_LEVEL",
    "TIMER_DELAY_MS",
    "TIMER_DELAY_SEC",
    "TIMER_DELIVER_MS",
    "TIMER_DEL_UNIQKEY",
    "TIMER_DEQUEUE_MS",
    "TIMER_ENQUEUE_MS",
    "TIMER_OUT_MS",
    "TIMER_ROLL_TIMES",
    "TRACE_ON",
    "TRANSFER_FLAG",
    "TRAN_MSG",
    "TRAN_PREPARED_QUEUE_OFFSET",
    "TTL",
    "UNIQ_KEY",
    "WAIT",
    "__BORNHOST",
    "__CRC32#",
];

/// Whether `name` is reserved for the system (see [`RESERVED`]).
pub fn is_reserved(name: &str) -> bool {
    RESERVED.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_list_is_sorted_and_unique() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(RESERVED.len(), 51);
    }

    #[test]
    fn system_names_are_reserved() {
        for name in [
            TAGS,
            KEYS,
            UNIQ_CLIENT_MESSAGE_ID_KEYIDX,
            DELAY_TIME_LEVEL,
            CRC32,
        ] {
            assert!(is_reserved(name), "{name}");
        }
    }

    #[test]
    fn user_settable_names_are_not_reserved() {
        for name in [
            SHARDING_KEY,
            CHECK_IMMUNITY_TIME_IN_SECONDS,
            TRANSACTION_ID,
            INNER_MULTI_DISPATCH,
            TRACE_CONTEXT,
            "my-key",
        ] {
            assert!(!is_reserved(name), "{name}");
        }
    }
}
