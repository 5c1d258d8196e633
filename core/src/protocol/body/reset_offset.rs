//! RESET_CONSUMER_CLIENT_OFFSET (220) body (PROTOCOL.md §4.4).

use super::{object, present, BodyError};
use crate::collections::VecMap;
use crate::protocol::json::{self, JsonValue};
use crate::route::MessageQueue;

/// Offsets a broker tells a consumer to jump to (Java `ResetOffsetBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetOffsetBody {
    /// Queue → new offset.
    pub offset_table: VecMap<MessageQueue, i64>,
}

impl ResetOffsetBody {
    /// Parses the body. Accepts fastjson's object-keyed map
    /// (`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:42}}`)
    /// and the list form brokers send C++ clients (`ResetOffsetBodyForC`:
    /// `{"offsetTable":[{"brokerName":…,"offset":42,"queueId":0,"topic":…}]}`).
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let root = json::parse(body)?;
        object(&root, "ResetOffsetBody")?;
        let field = "offsetTable";
        let invalid = BodyError::Invalid { field };
        let mut offset_table = VecMap::new();
        match present(&root, field) {
            None => {}
            Some(JsonValue::Object(members)) => {
                for (key, offset) in members {
                    let mq = queue_key(key).ok_or(invalid.clone())?;
                    let offset = offset.as_i64().ok_or(invalid.clone())?;
                    offset_table.insert(mq, offset);
                }
            }
            Some(JsonValue::Array(items)) => {
                for item in items {
                    let mq = MessageQueue::from_json(item).ok_or(invalid.clone())?;
                    let offset = present(item, "offset")
                        .and_then(JsonValue::as_i64)
                        .ok_or(invalid.clone())?;
                    offset_table.insert(mq, offset);
                }
            }
            Some(_) => return Err(invalid),
        }
        Ok(Self { offset_table })
    }
}

/// A map key naming a queue: a JSON object, or a string holding one (as a
/// standard-JSON writer would stringify an object key).
fn queue_key(key: &JsonValue) -> Option<MessageQueue> {
    match key {
        JsonValue::String(s) => MessageQueue::from_json(&json::parse(s.as_bytes()).ok()?),
        other => MessageQueue::from_json(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fastjson_object_keys() {
        let body = br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:42,{"brokerName":"b","queueId":1,"topic":"T"}:-1}}"#;
        let r = ResetOffsetBody::parse(body).unwrap();
        assert_eq!(
            r.offset_table.get(&MessageQueue::new("T", "b", 0)),
            Some(&42)
        );
        assert_eq!(
            r.offset_table.get(&MessageQueue::new("T", "b", 1)),
            Some(&-1)
        );
    }

    #[test]
    fn parses_stringified_object_keys() {
        let body = br#"{"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":2,\"topic\":\"T\"}":7}}"#;
        let r = ResetOffsetBody::parse(body).unwrap();
        assert_eq!(
            r.offset_table.get(&MessageQueue::new("T", "b", 2)),
            Some(&7)
        );
    }

    #[test]
    fn parses_c_client_list_form() {
        let body = br#"{"offsetTable":[{"brokerName":"b","offset":9,"queueId":3,"topic":"T"}]}"#;
        let r = ResetOffsetBody::parse(body).unwrap();
        assert_eq!(
            r.offset_table.get(&MessageQueue::new("T", "b", 3)),
            Some(&9)
        );
    }

    #[test]
    fn rejects_non_queue_keys() {
        let body = br#"{"offsetTable":{0:42}}"#;
        assert_eq!(
            ResetOffsetBody::parse(body),
            Err(BodyError::Invalid {
                field: "offsetTable"
            })
        );
    }
}
