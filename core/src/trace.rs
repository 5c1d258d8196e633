//! Message trace records, in the text format the Java client writes to the
//! trace topic (Java `TraceDataEncoder`), so RocketMQ's own tools (the
//! dashboard, `mqadmin queryMsgTraceById`) read what rmq writes and rmq reads
//! what Java writes.
//!
//! A trace message's body is a run of records, each ended by
//! [`RECORD_SEPARATOR`] (char 2); a record's fields are separated by
//! [`FIELD_SEPARATOR`] (char 1), its first field names its type (`Pub`,
//! `SubBefore`, `SubAfter`, `EndTransaction`, `Recall`). The message's keys
//! are every traced message's id and keys ([`index_keys`]), so a
//! QUERY_MESSAGE on the trace topic by message id finds its records.
//!
//! Java writes an absent tag or key list as the text `null`; the records
//! here hold the text as written.

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

/// The default trace topic (Java `TopicValidator.RMQ_SYS_TRACE_TOPIC`).
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// Separates the fields of a record (Java `TraceConstants.CONTENT_SPLITOR`).
pub const FIELD_SEPARATOR: char = '\u{1}';
/// Ends each record (Java `TraceConstants.FIELD_SPLITOR`).
pub const RECORD_SEPARATOR: char = '\u{2}';
/// The region a send reports when the broker names none (Java
/// `MixAll.DEFAULT_TRACE_REGION_ID`).
pub const DEFAULT_REGION: &str = "DefaultRegion";
/// Prefix of the trace producer's group (Java
/// `TraceConstants.GROUP_NAME_PREFIX`).
pub const TRACE_GROUP_PREFIX: &str = "_INNER_TRACE_PRODUCER";
/// The largest trace message body Java sends before it starts another
/// (Java `AsyncTraceDispatcher.maxMsgSize`).
pub const MAX_TRACE_BODY: usize = 128_000;
/// Most records Java gathers into one dispatch (Java caps `batchNum` at 20).
pub const MAX_BATCH: usize = 20;

/// The send response field (and 5.x stored message property) carrying the
/// broker's trace switch, broker config `traceOn` (Java
/// `MessageConst.PROPERTY_TRACE_SWITCH`).
pub const TRACE_SWITCH: &str = "TRACE_ON";

/// Whether a [`TRACE_SWITCH`] value lets a send or delivery be traced: all
/// but exactly `false` (Java `MQClientAPIImpl.processSendResponse` and
/// `ConsumeMessageTraceHookImpl`).
pub fn trace_switch_on(value: Option<&str>) -> bool {
    value != Some("false")
}

/// Java `MessageType`, written by ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 0: `Normal_Msg`.
    Normal,
    /// 1: `Trans_Msg_Half`: a transactional half message.
    TransHalf,
    /// 2: `Trans_msg_Commit`.
    TransCommit,
    /// 3: `Delay_Msg`: a delay level or a delivery time.
    Delay,
    /// 4: `Order_Msg`.
    Order,
}

impl MessageType {
    /// The Java ordinal.
    pub const fn ordinal(self) -> u8 {
        match self {
            MessageType::Normal => 0,
            MessageType::TransHalf => 1,
            MessageType::TransCommit => 2,
            MessageType::Delay => 3,
            MessageType::Order => 4,
        }
    }

    /// The type of a Java ordinal.
    pub const fn from_ordinal(n: u8) -> Option<Self> {
        Some(match n {
            0 => MessageType::Normal,
            1 => MessageType::TransHalf,
            2 => MessageType::TransCommit,
            3 => MessageType::Delay,
            4 => MessageType::Order,
            _ => return None,
        })
    }
}

/// Java `ConsumeReturnType`: how a consume ended, written by ordinal as a
/// `SubAfter` record's context code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumeReturnType {
    /// 0: the handler returned success.
    Success,
    /// 1: the handler ran past the consume timeout.
    TimeOut,
    /// 2: the handler threw (panicked).
    Exception,
    /// 3: the handler returned null.
    ReturnNull,
    /// 4: the handler asked for a later retry.
    Failed,
}

impl ConsumeReturnType {
    /// The Java ordinal.
    pub const fn ordinal(self) -> i32 {
        match self {
            ConsumeReturnType::Success => 0,
            ConsumeReturnType::TimeOut => 1,
            ConsumeReturnType::Exception => 2,
            ConsumeReturnType::ReturnNull => 3,
            ConsumeReturnType::Failed => 4,
        }
    }
}

/// A send (`Pub` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubTrace {
    /// When the send began, Unix ms.
    pub timestamp: i64,
    /// The broker's region (`MSG_REGION` of the send response).
    pub region_id: String,
    /// The producer group.
    pub group: String,
    /// The message's topic.
    pub topic: String,
    /// The client unique id (`UNIQ_KEY`).
    pub msg_id: String,
    /// Tags (`null` when none).
    pub tags: String,
    /// Keys, space-separated (`null` when none).
    pub keys: String,
    /// The broker address the message went to.
    pub store_host: String,
    /// Body length in bytes.
    pub body_length: i32,
    /// How long the send took, ms.
    pub cost_ms: i32,
    /// The kind of message.
    pub msg_type: MessageType,
    /// The broker's offset message id (absent in the oldest format).
    pub offset_msg_id: Option<String>,
    /// Whether the broker answered SEND_OK.
    pub success: bool,
    /// The client's address (older Java clients wrote it; never written).
    pub client_host: Option<String>,
}

/// A delivery about to reach a handler (`SubBefore` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubBeforeTrace {
    /// When the handler was called, Unix ms.
    pub timestamp: i64,
    /// The message's region (`MSG_REGION` property).
    pub region_id: String,
    /// The consumer group.
    pub group: String,
    /// Ties this record to its `SubAfter`.
    pub request_id: String,
    /// The message id consumers show.
    pub msg_id: String,
    /// `reconsumeTimes`.
    pub retry_times: i32,
    /// Keys (`null` when none).
    pub keys: String,
}

/// A handler's result (`SubAfter` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAfterTrace {
    /// The `SubBefore` record's request id.
    pub request_id: String,
    /// The message id.
    pub msg_id: String,
    /// Handler time per message, ms.
    pub cost_ms: i32,
    /// Whether the handler consumed the message.
    pub success: bool,
    /// Keys (`null` when none).
    pub keys: String,
    /// A [`ConsumeReturnType`] ordinal (absent in old records).
    pub context_code: Option<i32>,
    /// When the handler returned, Unix ms (absent in old and cloud records).
    pub timestamp: Option<i64>,
    /// The consumer group (absent in old and cloud records).
    pub group: Option<String>,
}

/// A transaction's end (`EndTransaction` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTransactionTrace {
    /// When, Unix ms.
    pub timestamp: i64,
    /// Region.
    pub region_id: String,
    /// The producer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Message id.
    pub msg_id: String,
    /// Tags.
    pub tags: String,
    /// Keys.
    pub keys: String,
    /// Broker address.
    pub store_host: String,
    /// Message type.
    pub msg_type: MessageType,
    /// Transaction id.
    pub transaction_id: String,
    /// Java `LocalTransactionState` name (`COMMIT_MESSAGE`, …).
    pub transaction_state: String,
    /// Whether a broker check decided it.
    pub from_transaction_check: bool,
}

/// A recalled (cancelled delayed) message (`Recall` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallTrace {
    /// When, Unix ms.
    pub timestamp: i64,
    /// Region.
    pub region_id: String,
    /// The producer group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Message id.
    pub msg_id: String,
    /// Whether the recall succeeded.
    pub success: bool,
}

/// One trace record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceRecord {
    /// A send.
    Pub(PubTrace),
    /// A delivery before its handler.
    SubBefore(SubBeforeTrace),
    /// A handler's result.
    SubAfter(SubAfterTrace),
    /// A transaction's end.
    EndTransaction(EndTransactionTrace),
    /// A recall.
    Recall(RecallTrace),
}

impl TraceRecord {
    /// The Java `TraceType` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            TraceRecord::Pub(_) => "Pub",
            TraceRecord::SubBefore(_) => "SubBefore",
            TraceRecord::SubAfter(_) => "SubAfter",
            TraceRecord::EndTransaction(_) => "EndTransaction",
            TraceRecord::Recall(_) => "Recall",
        }
    }

    /// The traced message's id.
    pub fn msg_id(&self) -> &str {
        match self {
            TraceRecord::Pub(r) => &r.msg_id,
            TraceRecord::SubBefore(r) => &r.msg_id,
            TraceRecord::SubAfter(r) => &r.msg_id,
            TraceRecord::EndTransaction(r) => &r.msg_id,
            TraceRecord::Recall(r) => &r.msg_id,
        }
    }

    /// The traced message's keys as written (`null` when none; Recall
    /// records carry none).
    pub fn keys(&self) -> &str {
        match self {
            TraceRecord::Pub(r) => &r.keys,
            TraceRecord::SubBefore(r) => &r.keys,
            TraceRecord::SubAfter(r) => &r.keys,
            TraceRecord::EndTransaction(r) => &r.keys,
            TraceRecord::Recall(_) => "",
        }
    }

    /// When the record was made, Unix ms, if it says.
    pub fn timestamp(&self) -> Option<i64> {
        match self {
            TraceRecord::Pub(r) => Some(r.timestamp),
            TraceRecord::SubBefore(r) => Some(r.timestamp),
            TraceRecord::SubAfter(r) => r.timestamp,
            TraceRecord::EndTransaction(r) => Some(r.timestamp),
            TraceRecord::Recall(r) => Some(r.timestamp),
        }
    }

    /// The producer or consumer group, if the record says.
    pub fn group(&self) -> Option<&str> {
        match self {
            TraceRecord::Pub(r) => Some(&r.group),
            TraceRecord::SubBefore(r) => Some(&r.group),
            TraceRecord::SubAfter(r) => r.group.as_deref(),
            TraceRecord::EndTransaction(r) => Some(&r.group),
            TraceRecord::Recall(r) => Some(&r.group),
        }
    }

    /// Appends the record, its [`RECORD_SEPARATOR`] included, exactly as
    /// Java's `TraceDataEncoder.encoderFromContextBean` writes it.
    pub fn encode_into(&self, out: &mut String) {
        let mut w = Fields { out, first: true };
        match self {
            TraceRecord::Pub(r) => {
                w.put("Pub");
                w.num(r.timestamp);
                w.put(&r.region_id);
                w.put(&r.group);
                w.put(&r.topic);
                w.put(&r.msg_id);
                w.put(&r.tags);
                w.put(&r.keys);
                w.put(&r.store_host);
                w.num(r.body_length.into());
                w.num(r.cost_ms.into());
                w.num(r.msg_type.ordinal().into());
                w.put(r.offset_msg_id.as_deref().unwrap_or(""));
                w.put(bool_text(r.success));
            }
            TraceRecord::SubBefore(r) => {
                w.put("SubBefore");
                w.num(r.timestamp);
                w.put(&r.region_id);
                w.put(&r.group);
                w.put(&r.request_id);
                w.put(&r.msg_id);
                w.num(r.retry_times.into());
                w.put(&r.keys);
            }
            TraceRecord::SubAfter(r) => {
                w.put("SubAfter");
                w.put(&r.request_id);
                w.put(&r.msg_id);
                w.num(r.cost_ms.into());
                w.put(bool_text(r.success));
                w.put(&r.keys);
                w.num(r.context_code.unwrap_or(0).into());
                // Java ends the context code with a separator either way;
                // the local channel then adds the time and the group.
                w.out.push(FIELD_SEPARATOR);
                if let (Some(ts), Some(group)) = (r.timestamp, r.group.as_deref()) {
                    let _ = write!(w.out, "{ts}");
                    w.out.push(FIELD_SEPARATOR);
                    w.out.push_str(group);
                }
            }
            TraceRecord::EndTransaction(r) => {
                w.put("EndTransaction");
                w.num(r.timestamp);
                w.put(&r.region_id);
                w.put(&r.group);
                w.put(&r.topic);
                w.put(&r.msg_id);
                w.put(&r.tags);
                w.put(&r.keys);
                w.put(&r.store_host);
                w.num(r.msg_type.ordinal().into());
                w.put(&r.transaction_id);
                w.put(&r.transaction_state);
                w.put(bool_text(r.from_transaction_check));
            }
            TraceRecord::Recall(r) => {
                w.put("Recall");
                w.num(r.timestamp);
                w.put(&r.region_id);
                w.put(&r.group);
                w.put(&r.topic);
                w.put(&r.msg_id);
                w.put(bool_text(r.success));
            }
        }
        out_push_end(w.out);
    }
}

fn out_push_end(out: &mut String) {
    out.push(RECORD_SEPARATOR);
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// Writes fields separated by [`FIELD_SEPARATOR`].
struct Fields<'a> {
    out: &'a mut String,
    first: bool,
}

impl Fields<'_> {
    fn put(&mut self, s: &str) {
        if !self.first {
            self.out.push(FIELD_SEPARATOR);
        }
        self.first = false;
        self.out.push_str(s);
    }

    fn num(&mut self, n: i64) {
        let mut buf = itoa::Buffer::new();
        let text = buf.format(n);
        self.put(text);
    }
}

/// Encodes `records` into one trace message body.
pub fn encode(records: &[TraceRecord]) -> String {
    let mut out = String::with_capacity(256 * records.len());
    for r in records {
        r.encode_into(&mut out);
    }
    out
}

/// The keys a trace message carries for `records`: every message id, and
/// every key of their key lists (Java `TraceTransferBean.transKey`), sorted
/// and deduplicated. A key list written `null` (a message without keys) adds
/// nothing: Java's `TraceDataEncoder` indexes only a non-null `getKeys()`.
pub fn index_keys(records: &[TraceRecord]) -> Vec<String> {
    let mut keys = BTreeSet::new();
    for r in records {
        keys.insert(r.msg_id().to_string());
        if r.keys() == "null" {
            continue;
        }
        for k in r.keys().split(' ').filter(|k| !k.is_empty()) {
            keys.insert(k.to_string());
        }
    }
    keys.into_iter().collect()
}

/// A trace body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// A record has fewer fields than its type needs.
    #[error("{kind} trace record {index} has {fields} fields, needs {needed}")]
    TooFewFields {
        /// The record's type.
        kind: &'static str,
        /// Its position in the body, from 0.
        index: usize,
        /// Fields present.
        fields: usize,
        /// Fields needed.
        needed: usize,
    },
    /// A field is not what its type needs (a number, a message type).
    #[error("{kind} trace record {index}: field {field} ({value:?}) is invalid")]
    Invalid {
        /// The record's type.
        kind: &'static str,
        /// Its position in the body, from 0.
        index: usize,
        /// The field's position in the record, from 0.
        field: usize,
        /// The field's text (cut to 64 chars).
        value: String,
    },
}

/// Reads every record of a trace message body, as Java's
/// `TraceDataEncoder.decoderFromTraceDataString` does: records of an unknown
/// type are skipped, trailing empty fields are dropped (Java's
/// `String.split`), and the shorter layouts older clients wrote are
/// accepted.
pub fn decode(data: &str) -> Result<Vec<TraceRecord>, TraceError> {
    let mut records = Vec::new();
    for (index, record) in data.split(RECORD_SEPARATOR).enumerate() {
        if record.is_empty() {
            continue;
        }
        let mut fields: Vec<&str> = record.split(FIELD_SEPARATOR).collect();
        while fields.last().is_some_and(|f| f.is_empty()) {
            fields.pop();
        }
        let Some(kind) = fields.first().copied() else {
            continue;
        };
        let r = Reader {
            kind: match kind {
                "Pub" => "Pub",
                "SubBefore" => "SubBefore",
                "SubAfter" => "SubAfter",
                "EndTransaction" => "EndTransaction",
                "Recall" => "Recall",
                _ => continue,
            },
            index,
            fields: &fields,
        };
        records.push(r.record()?);
    }
    Ok(records)
}

struct Reader<'a> {
    kind: &'static str,
    index: usize,
    fields: &'a [&'a str],
}

impl Reader<'_> {
    fn need(&self, needed: usize) -> Result<(), TraceError> {
        if self.fields.len() < needed {
            return Err(TraceError::TooFewFields {
                kind: self.kind,
                index: self.index,
                fields: self.fields.len(),
                needed,
            });
        }
        Ok(())
    }

    fn invalid(&self, field: usize) -> TraceError {
        TraceError::Invalid {
            kind: self.kind,
            index: self.index,
            field,
            value: self
                .fields
                .get(field)
                .unwrap_or(&"")
                .chars()
                .take(64)
                .collect(),
        }
    }

    fn s(&self, i: usize) -> String {
        self.fields.get(i).copied().unwrap_or("").to_string()
    }

    fn i64(&self, i: usize) -> Result<i64, TraceError> {
        self.fields
            .get(i)
            .and_then(|f| f.trim().parse().ok())
            .ok_or_else(|| self.invalid(i))
    }

    fn i32(&self, i: usize) -> Result<i32, TraceError> {
        self.fields
            .get(i)
            .and_then(|f| f.trim().parse().ok())
            .ok_or_else(|| self.invalid(i))
    }

    /// Java `Boolean.parseBoolean`: "true" in any case is true, all else false.
    fn bool(&self, i: usize) -> bool {
        self.fields
            .get(i)
            .is_some_and(|f| f.eq_ignore_ascii_case("true"))
    }

    fn msg_type(&self, i: usize) -> Result<MessageType, TraceError> {
        self.fields
            .get(i)
            .and_then(|f| f.trim().parse::<u8>().ok())
            .and_then(MessageType::from_ordinal)
            .ok_or_else(|| self.invalid(i))
    }

    fn record(&self) -> Result<TraceRecord, TraceError> {
        let n = self.fields.len();
        Ok(match self.kind {
            "Pub" => {
                self.need(13)?;
                let (offset_msg_id, success) = if n == 13 {
                    (None, self.bool(12))
                } else {
                    (Some(self.s(12)), self.bool(13))
                };
                TraceRecord::Pub(PubTrace {
                    timestamp: self.i64(1)?,
                    region_id: self.s(2),
                    group: self.s(3),
                    topic: self.s(4),
                    msg_id: self.s(5),
                    tags: self.s(6),
                    keys: self.s(7),
                    store_host: self.s(8),
                    body_length: self.i32(9)?,
                    cost_ms: self.i32(10)?,
                    msg_type: self.msg_type(11)?,
                    offset_msg_id,
                    success,
                    client_host: (n >= 15).then(|| self.s(14)),
                })
            }
            "SubBefore" => {
                self.need(8)?;
                TraceRecord::SubBefore(SubBeforeTrace {
                    timestamp: self.i64(1)?,
                    region_id: self.s(2),
                    group: self.s(3),
                    request_id: self.s(4),
                    msg_id: self.s(5),
                    retry_times: self.i32(6)?,
                    keys: self.s(7),
                })
            }
            "SubAfter" => {
                self.need(6)?;
                TraceRecord::SubAfter(SubAfterTrace {
                    request_id: self.s(1),
                    msg_id: self.s(2),
                    cost_ms: self.i32(3)?,
                    success: self.bool(4),
                    keys: self.s(5),
                    context_code: if n >= 7 { Some(self.i32(6)?) } else { None },
                    timestamp: if n >= 9 { Some(self.i64(7)?) } else { None },
                    group: (n >= 9).then(|| self.s(8)),
                })
            }
            "EndTransaction" => {
                self.need(13)?;
                TraceRecord::EndTransaction(EndTransactionTrace {
                    timestamp: self.i64(1)?,
                    region_id: self.s(2),
                    group: self.s(3),
                    topic: self.s(4),
                    msg_id: self.s(5),
                    tags: self.s(6),
                    keys: self.s(7),
                    store_host: self.s(8),
                    msg_type: self.msg_type(9)?,
                    transaction_id: self.s(10),
                    transaction_state: self.s(11),
                    from_transaction_check: self.bool(12),
                })
            }
            _ => {
                self.need(7)?;
                TraceRecord::Recall(RecallTrace {
                    timestamp: self.i64(1)?,
                    region_id: self.s(2),
                    group: self.s(3),
                    topic: self.s(4),
                    msg_id: self.s(5),
                    success: self.bool(6),
                })
            }
        })
    }
}

/// The trace producer's group for a host group (Java
/// `_INNER_TRACE_PRODUCER-<group>-<PRODUCE|CONSUME>-<n>`).
pub fn trace_producer_group(group: &str, consume: bool, n: u32) -> String {
    let role = if consume { "CONSUME" } else { "PRODUCE" };
    let mut out = String::new();
    let _ = write!(out, "{TRACE_GROUP_PREFIX}-{group}-{role}-{n}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pub_record() -> PubTrace {
        PubTrace {
            timestamp: 1_700_000_000_000,
            region_id: "DefaultRegion".into(),
            group: "PG".into(),
            topic: "T".into(),
            msg_id: "7F0000010001".into(),
            tags: "TagA".into(),
            keys: "k1 k2".into(),
            store_host: "127.0.0.1:10911".into(),
            body_length: 5,
            cost_ms: 3,
            msg_type: MessageType::Normal,
            offset_msg_id: Some("7F00000100002A9F0000000000000000".into()),
            success: true,
            client_host: None,
        }
    }

    #[test]
    fn pub_is_written_field_for_field_like_java() {
        let text = encode(&[TraceRecord::Pub(pub_record())]);
        assert_eq!(
            text,
            "Pub\u{1}1700000000000\u{1}DefaultRegion\u{1}PG\u{1}T\u{1}7F0000010001\u{1}TagA\u{1}\
             k1 k2\u{1}127.0.0.1:10911\u{1}5\u{1}3\u{1}0\u{1}7F00000100002A9F0000000000000000\u{1}\
             true\u{2}"
        );
    }

    #[test]
    fn sub_after_ends_its_context_code_with_a_separator_then_time_and_group() {
        let r = TraceRecord::SubAfter(SubAfterTrace {
            request_id: "R".into(),
            msg_id: "M".into(),
            cost_ms: 2,
            success: false,
            keys: "null".into(),
            context_code: Some(4),
            timestamp: Some(17),
            group: Some("CG".into()),
        });
        assert_eq!(
            encode(&[r]),
            "SubAfter\u{1}R\u{1}M\u{1}2\u{1}false\u{1}null\u{1}4\u{1}17\u{1}CG\u{2}"
        );
    }

    #[test]
    fn every_record_type_round_trips() {
        let records = [
            TraceRecord::Pub(pub_record()),
            TraceRecord::SubBefore(SubBeforeTrace {
                timestamp: 1,
                region_id: "DefaultRegion".into(),
                group: "CG".into(),
                request_id: "R".into(),
                msg_id: "M".into(),
                retry_times: 2,
                keys: "null".into(),
            }),
            TraceRecord::SubAfter(SubAfterTrace {
                request_id: "R".into(),
                msg_id: "M".into(),
                cost_ms: 9,
                success: true,
                keys: "null".into(),
                context_code: Some(0),
                timestamp: Some(5),
                group: Some("CG".into()),
            }),
            TraceRecord::EndTransaction(EndTransactionTrace {
                timestamp: 3,
                region_id: "R1".into(),
                group: "PG".into(),
                topic: "T".into(),
                msg_id: "M".into(),
                tags: "null".into(),
                keys: "null".into(),
                store_host: "h:1".into(),
                msg_type: MessageType::TransHalf,
                transaction_id: "X".into(),
                transaction_state: "COMMIT_MESSAGE".into(),
                from_transaction_check: true,
            }),
            TraceRecord::Recall(RecallTrace {
                timestamp: 4,
                region_id: "R1".into(),
                group: "PG".into(),
                topic: "T".into(),
                msg_id: "M".into(),
                success: false,
            }),
        ];
        assert_eq!(decode(&encode(&records)).unwrap(), records);
    }

    #[test]
    fn older_pub_layouts_are_read() {
        // 13 fields: no offset msg id.
        let old =
            "Pub\u{1}1\u{1}R\u{1}G\u{1}T\u{1}M\u{1}t\u{1}k\u{1}h\u{1}1\u{1}2\u{1}3\u{1}true\u{2}";
        let TraceRecord::Pub(p) = &decode(old).unwrap()[0] else {
            panic!("not a Pub");
        };
        assert_eq!(p.offset_msg_id, None);
        assert!(p.success);
        assert_eq!(p.msg_type, MessageType::Delay);
        // 15 fields: a client host at the end.
        let newer = "Pub\u{1}1\u{1}R\u{1}G\u{1}T\u{1}M\u{1}t\u{1}k\u{1}h\u{1}1\u{1}2\u{1}0\u{1}O\u{1}false\u{1}10.0.0.1\u{2}";
        let TraceRecord::Pub(p) = &decode(newer).unwrap()[0] else {
            panic!("not a Pub");
        };
        assert_eq!(p.offset_msg_id.as_deref(), Some("O"));
        assert!(!p.success);
        assert_eq!(p.client_host.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn cloud_sub_after_without_time_and_group_is_read() {
        let cloud = "SubAfter\u{1}R\u{1}M\u{1}2\u{1}true\u{1}k\u{1}0\u{1}\u{2}";
        let TraceRecord::SubAfter(a) = &decode(cloud).unwrap()[0] else {
            panic!("not a SubAfter");
        };
        assert_eq!(a.context_code, Some(0));
        assert_eq!(a.timestamp, None);
        assert_eq!(a.group, None);
    }

    #[test]
    fn unknown_types_and_empty_records_are_skipped() {
        let data = "Mystery\u{1}x\u{2}\u{2}Recall\u{1}1\u{1}R\u{1}G\u{1}T\u{1}M\u{1}true\u{2}";
        let records = decode(data).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].type_name(), "Recall");
    }

    #[test]
    fn malformed_records_are_typed_errors() {
        assert!(matches!(
            decode("Pub\u{1}1\u{2}"),
            Err(TraceError::TooFewFields { needed: 13, .. })
        ));
        let bad_time = "SubBefore\u{1}soon\u{1}R\u{1}G\u{1}Q\u{1}M\u{1}0\u{1}k\u{2}";
        assert!(matches!(
            decode(bad_time),
            Err(TraceError::Invalid { field: 1, .. })
        ));
        let bad_type = "Pub\u{1}1\u{1}R\u{1}G\u{1}T\u{1}M\u{1}t\u{1}k\u{1}h\u{1}1\u{1}2\u{1}9\u{1}O\u{1}true\u{2}";
        assert!(matches!(
            decode(bad_type),
            Err(TraceError::Invalid { field: 11, .. })
        ));
    }

    #[test]
    fn index_keys_are_ids_and_every_key() {
        let mut a = pub_record();
        a.msg_id = "B".into();
        let mut b = pub_record();
        b.msg_id = "A".into();
        b.keys = "k2 k3".into();
        let keys = index_keys(&[TraceRecord::Pub(a), TraceRecord::Pub(b)]);
        assert_eq!(keys, ["A", "B", "k1", "k2", "k3"]);
    }

    #[test]
    fn a_key_list_written_null_is_not_indexed() {
        let mut r = pub_record();
        r.keys = "null".into();
        assert_eq!(index_keys(&[TraceRecord::Pub(r)]), ["7F0000010001"]);
    }

    /// A 5.5.0 broker's captured SEND_MESSAGE_V2 response says
    /// `TRACE_ON=true`; the same response with `TRACE_ON=false` (a broker
    /// with `traceOn=false`) is not traced; one without the field is.
    #[test]
    fn a_send_response_is_traced_unless_its_trace_on_field_is_false() {
        use crate::protocol::FrameDecoder;
        let mut dec = FrameDecoder::default();
        dec.feed(include_bytes!(
            "../tests/vectors/broker/send_v2_response_v5.bin"
        ));
        let mut cmd = dec.decode_next().unwrap().unwrap();
        assert_eq!(cmd.ext_fields.get(TRACE_SWITCH), Some("true"));
        assert!(trace_switch_on(cmd.ext_fields.get(TRACE_SWITCH)));
        cmd.ext_fields.insert(TRACE_SWITCH, "false");
        assert!(!trace_switch_on(cmd.ext_fields.get(TRACE_SWITCH)));
        // Java compares with "false" exactly: anything else traces.
        assert!(trace_switch_on(Some("FALSE")));
        assert!(trace_switch_on(None));
    }

    #[test]
    fn trace_producer_group_names_role_and_counter() {
        assert_eq!(
            trace_producer_group("PG", false, 1),
            "_INNER_TRACE_PRODUCER-PG-PRODUCE-1"
        );
        assert_eq!(
            trace_producer_group("CG", true, 2),
            "_INNER_TRACE_PRODUCER-CG-CONSUME-2"
        );
    }
}
