//! LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42) bodies (PROTOCOL.md §4.3).

use alloc::string::String;
use alloc::vec::Vec;

use super::{list, object, BodyError};
use crate::protocol::json::{self, JsonWriter};
use crate::route::MessageQueue;

/// Request body of LOCK_BATCH_MQ (Java `LockBatchRequestBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockBatchRequestBody {
    /// Consumer group.
    pub consumer_group: String,
    /// Client ID of the locking consumer.
    pub client_id: String,
    /// 5.x: lock only on this broker (no replication to other masters).
    pub only_this_broker: bool,
    /// Queues to lock (all on the broker the request goes to).
    pub mq_set: Vec<MessageQueue>,
}

/// Request body of UNLOCK_BATCH_MQ: the same fields as a lock request.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

impl LockBatchRequestBody {
    /// The body bytes, as fastjson writes them (keys alphabetical).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out);
        w.begin_object()
            .field_str("clientId", &self.client_id)
            .field_str("consumerGroup", &self.consumer_group);
        w.key("mqSet").begin_array();
        for mq in &self.mq_set {
            mq.write_json(&mut w);
        }
        w.end_array();
        w.field_bool("onlyThisBroker", self.only_this_broker)
            .end_object();
        out
    }
}

/// Response body of LOCK_BATCH_MQ: the queues actually locked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockBatchResponseBody {
    /// Queues locked for the requester (`lockOKMQSet`).
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

impl LockBatchResponseBody {
    /// Parses the body; an absent set is empty.
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        let root = json::parse(body)?;
        object(&root, "LockBatchResponseBody")?;
        let field = "lockOKMQSet";
        let lock_ok_mq_set = list(&root, field)?
            .iter()
            .map(|v| MessageQueue::from_json(v).ok_or(BodyError::Invalid { field }))
            .collect::<Result<_, _>>()?;
        Ok(Self { lock_ok_mq_set })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn lock_request_matches_fastjson_bytes() {
        let body = LockBatchRequestBody {
            consumer_group: "cg".into(),
            client_id: "10.0.0.1@1#2".into(),
            only_this_broker: false,
            mq_set: vec![
                MessageQueue::new("T", "b", 0),
                MessageQueue::new("T", "b", 1),
            ],
        };
        assert_eq!(
            core::str::from_utf8(&body.to_json()).unwrap(),
            concat!(
                r#"{"clientId":"10.0.0.1@1#2","consumerGroup":"cg","mqSet":["#,
                r#"{"brokerName":"b","queueId":0,"topic":"T"},{"brokerName":"b","queueId":1,"topic":"T"}],"#,
                r#""onlyThisBroker":false}"#
            )
        );
    }

    #[test]
    fn parses_lock_response() {
        let body = br#"{"lockOKMQSet":[{"brokerName":"b","queueId":3,"topic":"T"}]}"#;
        assert_eq!(
            LockBatchResponseBody::parse(body).unwrap().lock_ok_mq_set,
            [MessageQueue::new("T", "b", 3)]
        );
    }

    #[test]
    fn empty_lock_response_locks_nothing() {
        assert!(LockBatchResponseBody::parse(b"{}")
            .unwrap()
            .lock_ok_mq_set
            .is_empty());
    }

    #[test]
    fn lock_response_rejects_malformed_queue() {
        let body = br#"{"lockOKMQSet":[{"brokerName":"b","topic":"T"}]}"#;
        assert_eq!(
            LockBatchResponseBody::parse(body),
            Err(BodyError::Invalid {
                field: "lockOKMQSet"
            })
        );
    }
}
