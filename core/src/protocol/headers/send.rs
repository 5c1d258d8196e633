//! Send headers: SEND_MESSAGE (10, long keys), SEND_MESSAGE_V2 (310),
//! SEND_BATCH_MESSAGE (320) and SEND_REPLY_MESSAGE_V2 (325) (short keys
//! `a`..`n`), and the send response.
//!
//! [`SendMessageRequestHeader`] is the logical form the producer builds;
//! convert it with `From` into [`SendMessageRequestHeaderV2`] for the wire
//! (Java's default) and back when decoding.

use super::RpcHeaderExtras;
use alloc::string::String;

command_header! {
    /// SEND_MESSAGE (10) request header, Java `SendMessageRequestHeader`;
    /// every key is the Java field name.
    pub struct SendMessageRequestHeader {
        /// `producerGroup`.
        producer_group: req String => "producerGroup",
        /// `topic`.
        topic: req String => "topic",
        /// `defaultTopic`: the auto-create template topic, normally "TBW102".
        default_topic: req String => "defaultTopic",
        /// `defaultTopicQueueNums`: queues of an auto-created topic (Java 4).
        default_topic_queue_nums: req i32 => "defaultTopicQueueNums",
        /// `queueId`: negative lets the broker pick a random queue.
        queue_id: req i32 => "queueId",
        /// `sysFlag`: `MessageSysFlag` bits.
        sys_flag: req i32 => "sysFlag",
        /// `bornTimestamp`, ms since the epoch.
        born_timestamp: req i64 => "bornTimestamp",
        /// `flag`: the user flag of the message.
        flag: req i32 => "flag",
        /// `properties`: the encoded properties string.
        properties: opt String => "properties",
        /// `reconsumeTimes`.
        reconsume_times: opt i32 => "reconsumeTimes",
        /// `unitMode`.
        unit_mode: opt bool => "unitMode",
        /// `batch`: must be true for a batch body.
        batch: opt bool => "batch",
        /// `maxReconsumeTimes` (retry topics).
        max_reconsume_times: opt i32 => "maxReconsumeTimes",
        /// Inherited keys; `rpc.broker_name` (`bname`) is the target broker.
        rpc: flat RpcHeaderExtras,
    }
}

command_header! {
    /// SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE / SEND_REPLY_MESSAGE_V2 request
    /// header, Java `SendMessageRequestHeaderV2`: the same fields under
    /// one-letter keys. Java's codec for it reads and writes only `a`..`n`,
    /// so it has no inherited keys; `n` is the broker name.
    pub struct SendMessageRequestHeaderV2 {
        /// `a`: producerGroup.
        a: req String => "a",
        /// `b`: topic.
        b: req String => "b",
        /// `c`: defaultTopic.
        c: req String => "c",
        /// `d`: defaultTopicQueueNums.
        d: req i32 => "d",
        /// `e`: queueId.
        e: req i32 => "e",
        /// `f`: sysFlag.
        f: req i32 => "f",
        /// `g`: bornTimestamp (ms).
        g: req i64 => "g",
        /// `h`: flag.
        h: req i32 => "h",
        /// `i`: properties.
        i: opt String => "i",
        /// `j`: reconsumeTimes.
        j: opt i32 => "j",
        /// `k`: unitMode.
        k: opt bool => "k",
        /// `l`: maxReconsumeTimes.
        l: opt i32 => "l",
        /// `m`: batch; brokers treat the body as a batch only when "true".
        m: opt bool => "m",
        /// `n`: brokerName.
        n: opt String => "n",
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    /// Renames every field; `rpc.broker_name` becomes `n`. The other
    /// inherited keys (`ns`, `nsd`, `oway`, `lo`) have no V2 key and are
    /// dropped, as in Java.
    fn from(h: SendMessageRequestHeader) -> Self {
        Self {
            a: h.producer_group,
            b: h.topic,
            c: h.default_topic,
            d: h.default_topic_queue_nums,
            e: h.queue_id,
            f: h.sys_flag,
            g: h.born_timestamp,
            h: h.flag,
            i: h.properties,
            j: h.reconsume_times,
            k: h.unit_mode,
            l: h.max_reconsume_times,
            m: h.batch,
            n: h.rpc.broker_name,
        }
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    /// Renames every field; `n` becomes `rpc.broker_name`.
    fn from(v: SendMessageRequestHeaderV2) -> Self {
        Self {
            producer_group: v.a,
            topic: v.b,
            default_topic: v.c,
            default_topic_queue_nums: v.d,
            queue_id: v.e,
            sys_flag: v.f,
            born_timestamp: v.g,
            flag: v.h,
            properties: v.i,
            reconsume_times: v.j,
            unit_mode: v.k,
            max_reconsume_times: v.l,
            batch: v.m,
            rpc: RpcHeaderExtras {
                broker_name: v.n,
                ..RpcHeaderExtras::default()
            },
        }
    }
}

command_header! {
    /// Response header of every send code, Java `SendMessageResponseHeader`.
    pub struct SendMessageResponseHeader {
        /// `msgId`: the offset message ID (comma-separated for batches).
        msg_id: req String => "msgId",
        /// `queueId`: the queue the broker stored into.
        queue_id: req i32 => "queueId",
        /// `queueOffset`: queue offset of the (first) message.
        queue_offset: req i64 => "queueOffset",
        /// `transactionId`: the UNIQ_KEY of the message.
        transaction_id: opt String => "transactionId",
        /// `batchUniqId` (5.x inner batch).
        batch_uniq_id: opt String => "batchUniqId",
        /// `recallHandle` (5.3+).
        recall_handle: opt String => "recallHandle",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::protocol::fields::CommandHeader;

    fn full_v1() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "PG".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 3,
            sys_flag: 4,
            born_timestamp: 1_700_000_000_123,
            flag: 7,
            properties: Some("UNIQ_KEY\u{1}abc\u{2}".into()),
            reconsume_times: Some(2),
            unit_mode: Some(false),
            batch: Some(true),
            max_reconsume_times: Some(16),
            rpc: full_extras(),
        }
    }

    fn minimal_v1() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            properties: None,
            reconsume_times: None,
            unit_mode: None,
            batch: None,
            max_reconsume_times: None,
            rpc: RpcHeaderExtras::default(),
            ..full_v1()
        }
    }

    fn full_v2() -> SendMessageRequestHeaderV2 {
        SendMessageRequestHeaderV2 {
            a: "PG".into(),
            b: "T".into(),
            c: "TBW102".into(),
            d: 4,
            e: 3,
            f: 4,
            g: 1_700_000_000_123,
            h: 7,
            i: Some("UNIQ_KEY\u{1}abc\u{2}".into()),
            j: Some(2),
            k: Some(false),
            l: Some(16),
            m: Some(true),
            n: Some("broker-a".into()),
        }
    }

    fn minimal_v2() -> SendMessageRequestHeaderV2 {
        SendMessageRequestHeaderV2 {
            i: None,
            j: None,
            k: None,
            l: None,
            m: None,
            n: None,
            ..full_v2()
        }
    }

    header_spec!(
        send_v1,
        full: full_v1(),
        minimal: minimal_v1(),
        keys: [
            "producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId",
            "sysFlag", "bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode",
            "batch", "maxReconsumeTimes", "ns", "nsd", "bname", "oway", "lo",
        ],
        required: [
            "producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId",
            "sysFlag", "bornTimestamp", "flag",
        ],
    );

    header_spec!(
        send_v2,
        full: full_v2(),
        minimal: minimal_v2(),
        keys: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"],
        required: ["a", "b", "c", "d", "e", "f", "g", "h"],
    );

    header_spec!(
        send_response,
        full: SendMessageResponseHeader {
            msg_id: "0A00000500002A9F0000000000000010".into(),
            queue_id: 1,
            queue_offset: 42,
            transaction_id: Some("7F0000010001".into()),
            batch_uniq_id: Some("B1".into()),
            recall_handle: Some("RH".into()),
        },
        minimal: SendMessageResponseHeader {
            msg_id: "0A00000500002A9F0000000000000010".into(),
            queue_id: 1,
            queue_offset: 42,
            ..Default::default()
        },
        keys: ["msgId", "queueId", "queueOffset", "transactionId", "batchUniqId", "recallHandle"],
        required: ["msgId", "queueId", "queueOffset"],
    );

    #[test]
    fn v2_marks_a_batch_with_m_true() {
        let f = full_v2().to_ext_fields();
        assert_eq!(f.get("m"), Some("true"));
    }

    #[test]
    fn v2_writes_values_as_java_strings() {
        let f = full_v2().to_ext_fields();
        assert_eq!(f.get("a"), Some("PG"));
        assert_eq!(f.get("d"), Some("4"));
        assert_eq!(f.get("g"), Some("1700000000123"));
        assert_eq!(f.get("k"), Some("false"));
        assert_eq!(f.get("n"), Some("broker-a"));
    }

    #[test]
    fn v2_writes_no_long_keys() {
        let f = full_v2().to_ext_fields();
        for long in ["producerGroup", "topic", "batch", "bname", "brokerName"] {
            assert_eq!(f.get(long), None, "{long}");
        }
    }

    #[test]
    fn v1_converts_to_v2_field_by_field() {
        assert_eq!(SendMessageRequestHeaderV2::from(full_v1()), full_v2());
    }

    #[test]
    fn v2_converts_to_v1_with_broker_name_as_bname() {
        let v1 = SendMessageRequestHeader::from(full_v2());
        assert_eq!(v1.rpc, RpcHeaderExtras::with_broker_name("broker-a"));
        assert_eq!(
            v1,
            SendMessageRequestHeader {
                rpc: RpcHeaderExtras::with_broker_name("broker-a"),
                ..full_v1()
            }
        );
    }

    #[test]
    fn v1_to_v2_and_back_keeps_everything_but_extras_other_than_bname() {
        let mut v1 = full_v1();
        v1.rpc = RpcHeaderExtras::with_broker_name("broker-a");
        let back = SendMessageRequestHeader::from(SendMessageRequestHeaderV2::from(v1.clone()));
        assert_eq!(back, v1);
    }

    #[test]
    fn v1_writes_broker_name_as_bname() {
        let f = full_v1().to_ext_fields();
        assert_eq!(f.get("bname"), Some("broker-a"));
    }
}
