//! Admin answers: GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206), GET_CONSUME_STATS
//! (208), GET_CONSUMER_CONNECTION_LIST (203) and GET_BROKER_RUNTIME_INFO (28)
//! bodies.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::{list, object, present, string_item, BodyError};
use crate::protocol::json::{self, JsonValue};
use crate::route::MessageQueue;

/// Every topic a name server knows (Java `TopicList`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicList {
    /// Topic names, sorted and deduplicated.
    pub topics: Vec<String>,
}

impl TopicList {
    /// Parses `{"topicList":[…],"brokerAddr":…}`; an absent list is empty.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let root = json::parse(body)?;
        object(&root, "TopicList")?;
        let field = "topicList";
        let mut topics: Vec<String> = list(&root, field)?
            .iter()
            .map(|v| string_item(v, field))
            .collect::<Result<_, _>>()?;
        topics.sort();
        topics.dedup();
        Ok(Self { topics })
    }
}

/// One queue's offsets in a [`ConsumeStats`] (Java `OffsetWrapper`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffsetWrapper {
    /// `brokerOffset`: the queue's max offset (the next one written).
    pub broker_offset: i64,
    /// `consumerOffset`: the group's committed offset.
    pub consumer_offset: i64,
    /// `pullOffset` (5.x): how far the group has pulled; 0 when absent.
    pub pull_offset: i64,
    /// `lastTimestamp`: store time of the last consumed message, ms (0: none).
    pub last_timestamp: i64,
}

impl OffsetWrapper {
    /// Messages stored but not yet consumed (never negative).
    pub fn lag(&self) -> i64 {
        (self.broker_offset - self.consumer_offset).max(0)
    }
}

/// A consumer group's progress on one broker (Java `ConsumeStats`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    /// Queue → offsets.
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
    /// `consumeTps`: messages consumed per second, as the broker counts.
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// Parses the body: fastjson writes the queue keys as objects
    /// (`{{"brokerName":…,"queueId":0,"topic":…}:{…}}`); string keys holding
    /// such an object are accepted too.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let root = json::parse(body)?;
        object(&root, "ConsumeStats")?;
        let field = "offsetTable";
        let invalid = BodyError::Invalid { field };
        let mut stats = ConsumeStats::default();
        if let Some(table) = present(&root, field) {
            let members = table.as_object().ok_or(invalid.clone())?;
            for (key, value) in members {
                let mq = queue_key(key).ok_or(invalid.clone())?;
                object(value, field)?;
                let num = |name: &str| present(value, name).and_then(JsonValue::as_i64);
                let wrapper = OffsetWrapper {
                    broker_offset: num("brokerOffset").ok_or(invalid.clone())?,
                    consumer_offset: num("consumerOffset").ok_or(invalid.clone())?,
                    pull_offset: num("pullOffset").unwrap_or(0),
                    last_timestamp: num("lastTimestamp").unwrap_or(0),
                };
                stats.offset_table.insert(mq, wrapper);
            }
        }
        if let Some(tps) = present(&root, "consumeTps") {
            stats.consume_tps = match tps {
                JsonValue::Number(n) => n.as_f64().unwrap_or(0.0),
                _ => {
                    return Err(BodyError::Invalid {
                        field: "consumeTps",
                    })
                }
            };
        }
        Ok(stats)
    }

    /// The sum of every queue's lag.
    pub fn total_lag(&self) -> i64 {
        self.offset_table.values().map(OffsetWrapper::lag).sum()
    }
}

/// A map key naming a queue: a JSON object, or a string holding one.
fn queue_key(key: &JsonValue) -> Option<MessageQueue> {
    match key {
        JsonValue::String(s) => MessageQueue::from_json(&json::parse(s.as_bytes()).ok()?),
        other => MessageQueue::from_json(other),
    }
}

/// One client connected to a broker (Java `Connection`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connection {
    /// `clientId`.
    pub client_id: String,
    /// `clientAddr`: `host:port` as the broker sees it.
    pub client_addr: String,
    /// `language`: `JAVA`, `RUST`, `GO`, …
    pub language: String,
    /// `version`: the client's version code.
    pub version: i64,
}

/// A consumer group's live members on one broker (Java
/// `ConsumerConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerConnection {
    /// `connectionSet`, sorted by client id.
    pub connections: Vec<Connection>,
    /// `subscriptionTable`: topic → subscription expression (`subString`).
    pub subscriptions: BTreeMap<String, String>,
    /// `consumeType` (`CONSUME_PASSIVELY` for push consumers).
    pub consume_type: Option<String>,
    /// `messageModel` (`CLUSTERING` or `BROADCASTING`).
    pub message_model: Option<String>,
    /// `consumeFromWhere`.
    pub consume_from_where: Option<String>,
}

impl ConsumerConnection {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let root = json::parse(body)?;
        object(&root, "ConsumerConnection")?;
        let field = "connectionSet";
        let invalid = BodyError::Invalid { field };
        let mut connections = Vec::new();
        for item in list(&root, field)? {
            object(item, field)?;
            let text = |name: &str| {
                present(item, name)
                    .and_then(JsonValue::as_str)
                    .map(String::from)
            };
            connections.push(Connection {
                client_id: text("clientId").ok_or(invalid.clone())?,
                client_addr: text("clientAddr").unwrap_or_default(),
                language: text("language").unwrap_or_default(),
                version: present(item, "version")
                    .and_then(JsonValue::as_i64)
                    .unwrap_or(0),
            });
        }
        connections.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        let mut subscriptions = BTreeMap::new();
        if let Some(table) = present(&root, "subscriptionTable") {
            let field = "subscriptionTable";
            let members = table.as_object().ok_or(BodyError::Invalid { field })?;
            for (topic, data) in members {
                let topic = topic.key_text().ok_or(BodyError::Invalid { field })?;
                let expression = present(data, "subString")
                    .and_then(JsonValue::as_str)
                    .unwrap_or("*");
                subscriptions.insert(String::from(topic), String::from(expression));
            }
        }
        let text = |name: &str| {
            present(&root, name)
                .and_then(JsonValue::as_str)
                .map(String::from)
        };
        Ok(Self {
            connections,
            subscriptions,
            consume_type: text("consumeType"),
            message_model: text("messageModel"),
            consume_from_where: text("consumeFromWhere"),
        })
    }
}

/// A string table (Java `KVTable`, GET_BROKER_RUNTIME_INFO's body).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KvTable {
    /// Name → value.
    pub table: BTreeMap<String, String>,
}

impl KvTable {
    /// Parses `{"table":{"k":"v",…}}`; values that are not strings are kept
    /// as their JSON text.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let root = json::parse(body)?;
        object(&root, "KVTable")?;
        let field = "table";
        let mut table = BTreeMap::new();
        if let Some(members) = present(&root, field) {
            let members = members.as_object().ok_or(BodyError::Invalid { field })?;
            for (k, v) in members {
                let k = k.key_text().ok_or(BodyError::Invalid { field })?;
                let v = match v.as_str() {
                    Some(s) => String::from(s),
                    None => {
                        let mut out = Vec::new();
                        v.write_to(&mut out);
                        String::from_utf8(out).map_err(|_| BodyError::Invalid { field })?
                    }
                };
                table.insert(String::from(k), v);
            }
        }
        Ok(Self { table })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_list_is_sorted_and_deduplicated() {
        let body = br#"{"topicList":["b","a","b"],"brokerAddr":null}"#;
        assert_eq!(TopicList::parse(body).unwrap().topics, ["a", "b"]);
        assert!(TopicList::parse(b"{}").unwrap().topics.is_empty());
    }

    #[test]
    fn topic_list_rejects_non_string_topics() {
        assert_eq!(
            TopicList::parse(br#"{"topicList":[1]}"#),
            Err(BodyError::Invalid { field: "topicList" })
        );
    }

    #[test]
    fn consume_stats_reads_fastjson_queue_keys() {
        let body = br#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":1700000000000,"pullOffset":6},{"brokerName":"b","queueId":1,"topic":"T"}:{"brokerOffset":3,"consumerOffset":5,"lastTimestamp":0}}}"#;
        let s = ConsumeStats::parse(body).unwrap();
        let q0 = s.offset_table[&MessageQueue::new("T", "b", 0)];
        assert_eq!(
            q0,
            OffsetWrapper {
                broker_offset: 10,
                consumer_offset: 4,
                pull_offset: 6,
                last_timestamp: 1_700_000_000_000
            }
        );
        assert_eq!(q0.lag(), 6);
        assert_eq!(s.offset_table[&MessageQueue::new("T", "b", 1)].lag(), 0);
        assert_eq!(s.total_lag(), 6);
        assert!((s.consume_tps - 1.5).abs() < 1e-9);
    }

    #[test]
    fn consume_stats_rejects_an_entry_without_offsets() {
        let body =
            br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"lastTimestamp":0}}}"#;
        assert_eq!(
            ConsumeStats::parse(body),
            Err(BodyError::Invalid {
                field: "offsetTable"
            })
        );
    }

    #[test]
    fn consumer_connection_lists_members_and_subscriptions() {
        let body = br#"{"connectionSet":[{"clientAddr":"127.0.0.1:5000","clientId":"z@1","language":"JAVA","version":475},{"clientAddr":"127.0.0.1:5001","clientId":"a@2","language":"RUST","version":1}],"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","subscriptionTable":{"T":{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"TagA","subVersion":1,"tagsSet":["TagA"],"topic":"T"}}}"#;
        let c = ConsumerConnection::parse(body).unwrap();
        assert_eq!(c.connections.len(), 2);
        assert_eq!(c.connections[0].client_id, "a@2");
        assert_eq!(c.connections[1].language, "JAVA");
        assert_eq!(c.connections[1].version, 475);
        assert_eq!(c.subscriptions["T"], "TagA");
        assert_eq!(c.message_model.as_deref(), Some("CLUSTERING"));
    }

    #[test]
    fn consumer_connection_requires_client_ids() {
        let body = br#"{"connectionSet":[{"clientAddr":"x"}]}"#;
        assert!(ConsumerConnection::parse(body).is_err());
    }

    #[test]
    fn kv_table_keeps_strings_and_number_text() {
        let body = br#"{"table":{"brokerVersionDesc":"V5_5_0","n":12}}"#;
        let t = KvTable::parse(body).unwrap();
        assert_eq!(t.table["brokerVersionDesc"], "V5_5_0");
        assert_eq!(t.table["n"], "12");
    }
}
